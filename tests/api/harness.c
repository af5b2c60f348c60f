/*
 * harness.c - daemon process control and a tiny HTTP/1.1 client for the API tests
 * (harness.h).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *bin(void)
{
    const char *b = getenv("BUNSEN_BIN");
    return b && *b ? b : "build/bunsen";
}

const char *fmt(const char *f, ...)
{
    static _Thread_local char buf[4][2048];
    static _Thread_local int i;
    i = (i + 1) % 4;
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf[i], sizeof(buf[i]), f, ap);
    va_end(ap);
    return buf[i];
}

void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the backend under test ---- */

bool harness_on_postgres(void)
{
    const char *u = getenv("BUNSEN_TEST_DATABASE");
    return u != NULL &&
           (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0);
}

const char *harness_pg_dir(void)
{
    const char *d = getenv("BUNSEN_TEST_PGDIR");
    return d != NULL && *d ? d : NULL;
}

/* dir -> database URL of every daemon of this process (bunsen_run finds the database of the
 * --data-dir it is given). */
#define REG_MAX 32
static struct {
    char dir[256];
    char url[512];
} reg[REG_MAX];

static const char *url_of_dir(const char *dir)
{
    for (int i = 0; i < REG_MAX; i++) {
        if (reg[i].dir[0] != '\0' && strcmp(reg[i].dir, dir) == 0) {
            return reg[i].url;
        }
    }
    return NULL;
}

/* Run one statement on the server of BUNSEN_TEST_DATABASE (its maintenance database). */
static int admin_exec(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("BUNSEN_TEST_DATABASE"));
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc != 0) {
            fprintf(stderr, "harness: %s: %s", sql, PQresultErrorMessage(r));
        }
        PQclear(r);
    } else {
        fprintf(stderr, "harness: cannot reach %s: %s", getenv("BUNSEN_TEST_DATABASE"),
                PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

/* A fresh database for d on the test server: d->db_url. */
static int create_database(struct daemon *d)
{
    static int seq;
    const char *base = getenv("BUNSEN_TEST_DATABASE");
    char name[64];
    snprintf(name, sizeof(name), "bt_%d_%d_%ld", (int)getpid(), ++seq, (long)time(NULL) % 100000);
    if (admin_exec(fmt("CREATE DATABASE %s", name)) != 0) {
        return -1;
    }
    const char *slash = strrchr(base, '/');
    const char *q = strchr(slash ? slash : base, '?');
    int keep = slash && slash > base + 13 ? (int)(slash - base) : (int)strlen(base);
    snprintf(d->db_url, sizeof(d->db_url), "%.*s/%s%s", keep, base, name, q ? q : "");
    d->db_owned = true;
    for (int i = 0; i < REG_MAX; i++) {
        if (reg[i].dir[0] == '\0') {
            snprintf(reg[i].dir, sizeof(reg[i].dir), "%s", d->dir);
            snprintf(reg[i].url, sizeof(reg[i].url), "%s", d->db_url);
            break;
        }
    }
    return 0;
}

static void drop_database(struct daemon *d)
{
    const char *name = strrchr(d->db_url, '/');
    if (name == NULL) {
        return;
    }
    char db[128];
    snprintf(db, sizeof(db), "%.*s", (int)strcspn(name + 1, "?"), name + 1);
    admin_exec(fmt("DROP DATABASE IF EXISTS %s WITH (FORCE)", db));
    for (int i = 0; i < REG_MAX; i++) {
        if (strcmp(reg[i].dir, d->dir) == 0) {
            reg[i].dir[0] = '\0';
        }
    }
    d->db_url[0] = '\0';
}

/* Daemons this process started and has not stopped: killed at exit, so that a test whose
 * assertion failed before its daemon_stop (cmocka goes on with the next test) leaves no
 * daemon running after the binary ends. */
#define LIVE_MAX 64
static pid_t live[LIVE_MAX];
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;

static void live_kill_all(void)
{
    pthread_mutex_lock(&live_mu);
    for (int i = 0; i < LIVE_MAX; i++) {
        /* only a child still running: a pid reaped elsewhere (ECHILD) may be reused */
        if (live[i] > 0 && waitpid(live[i], NULL, WNOHANG) == 0) {
            fprintf(stderr, "harness: killing daemon %d left running\n", (int)live[i]);
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
        }
        live[i] = 0;
    }
    pthread_mutex_unlock(&live_mu);
}

static void live_set(pid_t old, pid_t pid)
{
    static bool hooked;
    pthread_mutex_lock(&live_mu);
    if (!hooked) {
        atexit(live_kill_all);
        hooked = true;
    }
    for (int i = 0; i < LIVE_MAX; i++) {
        if (live[i] == old) {
            live[i] = pid;
            break;
        }
    }
    pthread_mutex_unlock(&live_mu);
}

static int spawn(struct daemon *d, const char *const *extra)
{
    int pfd[2];
    if (pipe(pfd) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], STDOUT_FILENO);
        char logpath[300];
        snprintf(logpath, sizeof(logpath), "%s/stderr.log", d->dir);
        int lf = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (lf >= 0) {
            dup2(lf, STDERR_FILENO);
        }
        if (d->db_url[0] != '\0') {
            setenv("BUNSEN_DATABASE", d->db_url, 1);
        }
        /* Rate limits off by default so that tests can write as fast as they like; a
         * test of the limits passes its own --rate-limit-* (later flags win). */
        const char *argv[64] = {bin(),
                                "serve",
                                "--listen",
                                "127.0.0.1",
                                "--port",
                                "0",
                                "--data-dir",
                                d->dir,
                                "--log-level",
                                "warn",
                                "--threads",
                                "4",
                                "--rate-limit-ingest",
                                "0",
                                "--rate-limit-manage",
                                "0"};
        int n = 16;
        for (int i = 0; extra != NULL && extra[i] != NULL && n < 62; i++) {
            argv[n++] = extra[i];
        }
        argv[n] = NULL;
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(pfd[1]);
    live_set(0, pid);
    if (d->out_fd > 0) {
        close(d->out_fd);
    }
    d->out_fd = pfd[0];
    d->pid = pid;
    d->port = 0;
    /* read the first stdout line: "bunsen X listening on http://127.0.0.1:PORT/" */
    char line[512];
    size_t used = 0;
    struct pollfd p = {.fd = pfd[0], .events = POLLIN};
    while (used < sizeof(line) - 1) {
        if (poll(&p, 1, 15000) <= 0) {
            break;
        }
        ssize_t got = read(pfd[0], line + used, 1);
        if (got <= 0) {
            break;
        }
        if (line[used] == '\n') {
            break;
        }
        used++;
    }
    line[used] = '\0';
    /* Keep the pipe open in a detached reader so the daemon never gets SIGPIPE on
     * stdout: simplest is to leave it open in this process. */
    const char *colon = strrchr(line, ':');
    if (colon != NULL) {
        d->port = atoi(colon + 1);
    }
    if (d->port <= 0) {
        fprintf(stderr, "harness: daemon did not print its port (got '%s')\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        live_set(pid, 0);
        d->pid = 0;
        return -1;
    }
    char keypath[300];
    snprintf(keypath, sizeof(keypath), "%s/admin.key", d->dir);
    FILE *f = fopen(keypath, "r");
    if (f != NULL) {
        if (fgets(d->admin_key, sizeof(d->admin_key), f) != NULL) {
            d->admin_key[strcspn(d->admin_key, "\n")] = '\0';
        }
        fclose(f);
    }
    harness_warm(d, d->admin_key);
    return 0;
}

/* PostgreSQL: a key the new process has not cached is looked up within 200 ms, else 503 +
 * Retry-After (the answer is cached for the retry: docs/SCALING.md). A just-started daemon's
 * first lookup opens a read connection, which on a loaded machine (ASan) can take longer: a
 * test's first admin call then failed. Warm the key as a client would, by retrying. */
void harness_warm(struct daemon *d, const char *key)
{
    for (int i = 0; i < 50 && harness_on_postgres() && key != NULL && key[0] != '\0'; i++) {
        struct resp r;
        int st = http_req(d->port, "GET", "/api/v1/me", key, NULL, &r) == 0 ? r.status : 0;
        if (st != 0) {
            resp_free(&r);
        }
        if (st != 503) {
            break;
        }
        sleep_ms(100);
    }
}

int daemon_start(struct daemon *d, const char *const *extra)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "/tmp/bunsen-test-XXXXXX");
    if (mkdtemp(d->dir) == NULL) {
        return -1;
    }
    if (harness_on_postgres() && create_database(d) != 0) {
        return -1;
    }
    return spawn(d, extra);
}

int daemon_start_db(struct daemon *d, const char *database, const char *const *extra)
{
    return daemon_prepare_db(d, database) == 0 ? spawn(d, extra) : -1;
}

int daemon_prepare_db(struct daemon *d, const char *database)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "/tmp/bunsen-test-XXXXXX");
    if (mkdtemp(d->dir) == NULL) {
        return -1;
    }
    if (strcmp(database, "fresh") == 0) {
        if (create_database(d) != 0) {
            return -1;
        }
    } else if (strcmp(database, "sqlite") != 0) {
        snprintf(d->db_url, sizeof(d->db_url), "%s", database);
        for (int i = 0; i < REG_MAX; i++) {
            if (reg[i].dir[0] == '\0') {
                snprintf(reg[i].dir, sizeof(reg[i].dir), "%s", d->dir);
                snprintf(reg[i].url, sizeof(reg[i].url), "%s", d->db_url);
                break;
            }
        }
    }
    return 0;
}

int daemon_restart(struct daemon *d, const char *const *extra)
{
    return spawn(d, extra);
}

int daemon_stop(struct daemon *d)
{
    if (d->pid <= 0) {
        return -1;
    }
    kill(d->pid, SIGTERM);
    int st = 0;
    /* a hang detector: a daemon that does not exit within HARNESS_HANG_S of SIGTERM is killed
     * and the stop fails (a drain that waited for ever hung the whole suite) */
    pid_t got = 0;
    for (int i = 0; i < HARNESS_HANG_S * 100 && (got = waitpid(d->pid, &st, WNOHANG)) == 0; i++) {
        sleep_ms(10);
    }
    if (got == 0) {
        fprintf(stderr, "# daemon %d did not exit within %d s of SIGTERM: killed\n", (int)d->pid,
                HARNESS_HANG_S);
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &st, 0);
        st = -1;
    }
    live_set(d->pid, 0);
    d->pid = 0;
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void daemon_kill9(struct daemon *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        live_set(d->pid, 0);
        d->pid = 0;
    }
}

void daemon_cleanup(struct daemon *d)
{
    if (d->pid > 0) {
        daemon_stop(d);
    }
    if (d->out_fd > 0) {
        close(d->out_fd);
        d->out_fd = 0;
    }
    if (d->db_url[0] != '\0' && d->db_owned && getenv("BUNSEN_KEEP_TEST_DIRS") == NULL) {
        drop_database(d);
    }
    for (int i = 0; i < REG_MAX; i++) {
        if (d->dir[0] != '\0' && strcmp(reg[i].dir, d->dir) == 0) {
            reg[i].dir[0] = '\0';
        }
    }
    if (d->dir[0] != '\0' && getenv("BUNSEN_KEEP_TEST_DIRS") == NULL) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "harness: could not remove %s\n", d->dir);
        }
    }
}

/* bunsen_run, and bunsen_run_unprivileged when unprivileged (harness.h). */
static int run_bunsen(char **out, const char *const *args, bool unprivileged)
{
    int pfd[2];
    if (pipe(pfd) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], STDOUT_FILENO);
        dup2(pfd[1], STDERR_FILENO);
        if (unprivileged) {
            if (geteuid() == 0 &&
                (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
                _exit(126);
            }
            alarm(30); /* a serve that started after all: killed */
        }
        const char *argv[64] = {bin()};
        int n = 1;
        for (int i = 0; args[i] != NULL && n < 62; i++) {
            argv[n++] = args[i];
            const char *url = NULL;
            if (strcmp(args[i], "--data-dir") == 0 && args[i + 1] != NULL &&
                (url = url_of_dir(args[i + 1])) != NULL) {
                setenv("BUNSEN_DATABASE", url, 1);
            }
        }
        argv[n] = NULL;
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = read(pfd[0], buf + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    buf[len] = '\0';
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (out != NULL) {
        *out = buf;
    } else {
        free(buf);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int bunsen_run(char **out, const char *const *args)
{
    return run_bunsen(out, args, false);
}

int bunsen_run_unprivileged(char **out, const char *const *args)
{
    return run_bunsen(out, args, true);
}

void resp_free(struct resp *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

bool resp_header(const struct resp *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    const char *p = r->headers;
    while (p != NULL && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') {
                v++;
            }
            snprintf(out, n, "%.*s", (int)(len - (size_t)(v - p)), v);
            return true;
        }
        p = eol ? eol + 2 : NULL;
    }
    return false;
}

json_t *resp_json(const struct resp *r)
{
    if (r->body == NULL) {
        return NULL;
    }
    return json_loadb(r->body, r->body_len, 0, NULL);
}

/* The member name of a JSON error body's error object copied into out ("" when none). */
static const char *error_member(const struct resp *r, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    json_t *j = resp_json(r);
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), name));
    if (c != NULL) {
        snprintf(out, cap, "%s", c);
    }
    json_decref(j);
    return out;
}

const char *resp_error_code(const struct resp *r)
{
    static _Thread_local char code[64];
    return error_member(r, "code", code, sizeof(code));
}

const char *resp_error_field(const struct resp *r)
{
    static _Thread_local char field[128];
    return error_member(r, "field", field, sizeof(field));
}

int harness_connect(int port, int timeout_s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = timeout_s, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int harness_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Parse a full response from buf (status line, headers, body by Content-Length or to
 * the end; chunked bodies are decoded). */
static int parse_response(char *buf, size_t len, struct resp *out)
{
    memset(out, 0, sizeof(*out));
    char *hdr_end = strstr(buf, "\r\n\r\n");
    if (hdr_end == NULL || len < 12 || strncmp(buf, "HTTP/1.", 7) != 0) {
        return -1;
    }
    out->status = atoi(buf + 9);
    size_t hlen = (size_t)(hdr_end - buf);
    out->headers = strndup(buf, hlen + 2);
    const char *body = hdr_end + 4;
    size_t blen = len - (size_t)(body - buf);
    char te[64];
    if (resp_header(out, "Transfer-Encoding", te, sizeof(te)) && strcasecmp(te, "chunked") == 0) {
        char *dec = malloc(blen + 1);
        size_t dl = 0;
        const char *p = body;
        while (p < body + blen) {
            unsigned long n = strtoul(p, NULL, 16);
            const char *crlf = strstr(p, "\r\n");
            if (crlf == NULL || n == 0) {
                break;
            }
            p = crlf + 2;
            if (p + n > body + blen) {
                n = (unsigned long)(body + blen - p);
            }
            memcpy(dec + dl, p, n);
            dl += n;
            p += n + 2;
        }
        dec[dl] = '\0';
        out->body = dec;
        out->body_len = dl;
        return 0;
    }
    char cl[32];
    if (resp_header(out, "Content-Length", cl, sizeof(cl))) {
        size_t want = strtoul(cl, NULL, 10);
        if (want < blen) {
            blen = want;
        }
    }
    out->body = malloc(blen + 1);
    memcpy(out->body, body, blen);
    out->body[blen] = '\0';
    out->body_len = blen;
    return 0;
}

char *harness_recv_all(int fd, size_t *len)
{
    size_t cap = 65536, used = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (cap - used < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t got = recv(fd, buf + used, cap - used - 1, 0);
        if (got <= 0) {
            break; /* closed, or the receive timeout (a hang detector) */
        }
        used += (size_t)got;
    }
    close(fd);
    buf[used] = '\0';
    *len = used;
    return buf;
}

/* Send raw and read the reply until the server closes. half_close: shut our side down after
 * sending (raw requests that may be incomplete need it so that the server sees the end).
 * A complete request must not half-close: libmicrohttpd may take the EOF, read while the
 * handler is suspended (a write waiting for its commit), for an aborted request and close
 * the socket without the reply (test_sdk_stream's PATCH under load). */
static int http_send_mode(int port, const char *raw, size_t len, bool half_close, bool strict,
                          struct resp *out)
{
    memset(out, 0, sizeof(*out));
    int fd = harness_connect(port, HARNESS_HANG_S); /* a hang detector, not a latency */
    if (fd < 0) {
        return -1;
    }
    /* The server may answer (413) and close before we finish sending: ignore send errors
     * and read whatever came back, unless strict (a client that fails on them) */
    if (harness_send_all(fd, raw, len) != 0 && strict) {
        close(fd);
        return -1;
    }
    if (half_close) {
        shutdown(fd, SHUT_WR);
    }
    size_t used = 0;
    char *buf = harness_recv_all(fd, &used);
    int rc = parse_response(buf, used, out);
    free(buf);
    return rc;
}

static int http_send(int port, const char *raw, size_t len, bool half_close, struct resp *out)
{
    return http_send_mode(port, raw, len, half_close, false, out);
}

int http_raw(int port, const char *raw, size_t len, struct resp *out)
{
    return http_send(port, raw, len, true, out);
}

int http_raw_strict(int port, const char *raw, size_t len, struct resp *out)
{
    return http_send_mode(port, raw, len, false, true, out);
}

int http_req_ct(int port, const char *method, const char *path, const char *key,
                const char *content_type, const char *body, size_t body_len, struct resp *out)
{
    return http_req_hdr(port, method, path, key, NULL, content_type, body, body_len, out);
}

int http_req_hdr(int port, const char *method, const char *path, const char *key,
                 const char *headers, const char *content_type, const char *body, size_t body_len,
                 struct resp *out)
{
    size_t cap = 1024 + strlen(path) + body_len + (headers ? strlen(headers) : 0);
    char *req = malloc(cap);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method,
                     path);
    if (key != NULL) {
        n += snprintf(req + n, cap - (size_t)n, "Authorization: Bearer %s\r\n", key);
    }
    if (headers != NULL) {
        n += snprintf(req + n, cap - (size_t)n, "%s", headers);
    }
    if (body != NULL) {
        if (content_type != NULL) {
            n += snprintf(req + n, cap - (size_t)n, "Content-Type: %s\r\n", content_type);
        }
        n += snprintf(req + n, cap - (size_t)n, "Content-Length: %zu\r\n", body_len);
    }
    n += snprintf(req + n, cap - (size_t)n, "\r\n");
    if (body != NULL) {
        memcpy(req + n, body, body_len);
        n += (int)body_len;
    }
    int rc = http_send(port, req, (size_t)n, false, out);
    free(req);
    return rc;
}

int http_req(int port, const char *method, const char *path, const char *key, const char *body,
             struct resp *out)
{
    return http_req_ct(port, method, path, key, "application/json", body, body ? strlen(body) : 0,
                       out);
}

json_t *http_json(int port, const char *method, const char *path, const char *key, const char *body,
                  int *status)
{
    struct resp r;
    if (http_req(port, method, path, key, body, &r) != 0) {
        *status = -1;
        return NULL;
    }
    *status = r.status;
    json_t *j = resp_json(&r);
    resp_free(&r);
    return j;
}

json_t *harness_call(int port, const char *method, const char *path, const char *key,
                     const char *body, int want)
{
    struct resp r;
    assert_int_equal(
        http_req_ct(port, method, path, key, "application/json", body, body ? strlen(body) : 0, &r),
        0);
    if (r.status != want) {
        fail_msg("%s %s %.300s: status %d, expected %d: %.300s", method, path, body ? body : "",
                 r.status, want, r.body ? r.body : "");
    }
    json_t *j = resp_json(&r);
    resp_free(&r);
    return j;
}
