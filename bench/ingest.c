/*
 * bench/ingest.c - the driver of bench/ingest.sh: ingestion throughput over HTTP beside
 * the raw SQLite ceiling, with the same rows.
 *
 *   ingest http PORT KEY EXPERIMENT CLIENTS BATCHES BATCH USERS TAG BASE_MS
 *       exposes USERS users ("<TAG>u<N>") to EXPERIMENT (variants "control"/"treatment"),
 *       then CLIENTS threads each POST BATCHES batches of BATCH events to /api/v1/events
 *       (one request per connection, raw sockets) and prints "http <events> <seconds>
 *       <events/s>".
 *   ingest expose PORT KEY EXPERIMENT USERS TAG BASE_MS
 *   ingest events PORT KEY EXPERIMENT CLIENTS BATCHES BATCH USERS TAG BASE_MS
 *       the two halves of `http` (bench/callgrind.sh counts the second alone).
 *   ingest sqlite DBFILE CLIENTS BATCHES BATCH USERS TAG BASE_MS [TX_ROWS]
 *       inserts the same rows into a new database with the events table and indexes of
 *       migrations/0003_ingestion.sql (WAL, synchronous=FULL, one prepared INSERT OR
 *       IGNORE as the server uses, TX_ROWS-row transactions, default 10,000) and prints
 *       "sqlite <rows> <seconds> <rows/s> <CPU seconds> <bytes read> <bytes written>"
 *       (the last two from /proc/self/io).
 *
 * Rows are a pure function of (client, batch, i): 50% "purchase" with a value, 30%
 * "click", 20% "view" (counted by no metric), a user drawn from USERS, a timestamp in the
 * hour before BASE_MS, a unique id. Exit status 1 on any failed request.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct row {
    char user[48];
    const char *event;
    double value;
    long long ts;
    char id[64];
};

static int port, nclients, nbatches, batch, nusers;
static const char *key, *experiment, *tag;
static long long t_base;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void make_row(int client, int b, int i, struct row *r)
{
    uint64_t h = mix(((uint64_t)client << 48) ^ ((uint64_t)b << 20) ^ (uint64_t)i);
    int kind = (int)(h % 10);
    snprintf(r->user, sizeof(r->user), "%su%d", tag, (int)((h >> 8) % (uint64_t)nusers));
    r->event = kind < 5 ? "purchase" : kind < 8 ? "click" : "view";
    r->value = kind < 5 ? (double)((h >> 32) % 10000) / 100 : 1;
    r->ts = t_base - (long long)((h >> 40) % 3600000);
    snprintf(r->id, sizeof(r->id), "%s-%d-%d-%d", tag, client, b, i);
}

/* ---- HTTP ---- */

/* POST body to path; returns the status (0 on I/O error); the reply body goes to out. */
static int post(const char *path, const char *body, size_t len, char *out, size_t outn)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return 0;
    }
    char head[512];
    int hn = snprintf(head, sizeof(head),
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      path, key, len);
    const char *parts[2] = {head, body};
    size_t sizes[2] = {(size_t)hn, len};
    for (int k = 0; k < 2; k++) {
        size_t off = 0;
        while (off < sizes[k]) {
            ssize_t w = send(fd, parts[k] + off, sizes[k] - off, MSG_NOSIGNAL);
            if (w <= 0) {
                close(fd);
                return 0;
            }
            off += (size_t)w;
        }
    }
    size_t used = 0;
    ssize_t got;
    while (used < outn - 1 && (got = recv(fd, out + used, outn - 1 - used, 0)) > 0) {
        used += (size_t)got;
    }
    out[used] = '\0';
    close(fd);
    return strncmp(out, "HTTP/1.", 7) == 0 ? atoi(out + 9) : 0;
}

static char *events_body(int client, int b, size_t *len)
{
    size_t cap = (size_t)batch * 200 + 32;
    char *p = malloc(cap);
    size_t n = (size_t)snprintf(p, cap, "{\"events\":[");
    for (int i = 0; i < batch; i++) {
        struct row r;
        make_row(client, b, i, &r);
        n += (size_t)snprintf(p + n, cap - n,
                              "%s{\"user_id\":\"%s\",\"event\":\"%s\",\"value\":%.2f,\"ts\":%lld,"
                              "\"id\":\"%s\"}",
                              i ? "," : "", r.user, r.event, r.value, r.ts, r.id);
    }
    n += (size_t)snprintf(p + n, cap - n, "]}");
    *len = n;
    return p;
}

static int failures;
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;

static void *client_main(void *arg)
{
    int client = (int)(intptr_t)arg;
    char reply[4096];
    for (int b = 0; b < nbatches; b++) {
        size_t len;
        char *body = events_body(client, b, &len);
        int st = post("/api/v1/events", body, len, reply, sizeof(reply));
        free(body);
        if (st != 200) {
            pthread_mutex_lock(&fail_mu);
            if (failures++ < 3) {
                fprintf(stderr, "ingest: batch %d of client %d: status %d: %.300s\n", b, client, st,
                        reply);
            }
            pthread_mutex_unlock(&fail_mu);
        }
    }
    return NULL;
}

static int expose_all(void)
{
    size_t cap = 1000 * 160 + 32;
    char *p = malloc(cap);
    char reply[4096];
    for (int at = 0; at < nusers; at += 1000) {
        size_t n = (size_t)snprintf(p, cap, "{\"exposures\":[");
        for (int u = at; u < nusers && u < at + 1000; u++) {
            n += (size_t)snprintf(p + n, cap - n,
                                  "%s{\"experiment\":\"%s\",\"user_id\":\"%su%d\",\"variant\":"
                                  "\"%s\",\"ts\":%lld}",
                                  u > at ? "," : "", experiment, tag, u,
                                  u % 2 ? "treatment" : "control", t_base - 2 * 3600000LL);
        }
        n += (size_t)snprintf(p + n, cap - n, "]}");
        if (post("/api/v1/exposures", p, n, reply, sizeof(reply)) != 200) {
            fprintf(stderr, "ingest: exposures failed: %.300s\n", reply);
            free(p);
            return -1;
        }
    }
    free(p);
    return 0;
}

static int run_events(void)
{
    pthread_t th[64];
    double t0 = now_s();
    for (int c = 0; c < nclients; c++) {
        pthread_create(&th[c], NULL, client_main, (void *)(intptr_t)c);
    }
    for (int c = 0; c < nclients; c++) {
        pthread_join(th[c], NULL);
    }
    double dt = now_s() - t0;
    long long rows = (long long)nclients * nbatches * batch;
    printf("http %lld %.3f %.0f\n", rows, dt, (double)rows / dt);
    return failures ? 1 : 0;
}

static int run_http(void)
{
    return expose_all() != 0 ? 1 : run_events();
}

/* ---- the SQLite ceiling ---- */

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "ingest: %s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* rchar and wchar of /proc/self/io (0 when unavailable). */
static void io_bytes(long long *rchar, long long *wchar)
{
    *rchar = *wchar = 0;
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        sscanf(line, "rchar: %lld", rchar);
        sscanf(line, "wchar: %lld", wchar);
    }
    if (f != NULL) {
        fclose(f);
    }
}

static int run_sqlite(const char *path, int tx_rows)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    /* as the daemon runs SQLite (src/main.c): no global memory statistics */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                 "CREATE TABLE events (user_id TEXT NOT NULL, event TEXT NOT NULL,"
                 " ts INTEGER NOT NULL, value REAL NOT NULL, id TEXT);"
                 "CREATE INDEX events_user ON events (user_id, event, ts);"
                 "CREATE UNIQUE INDEX events_idempotency ON events (user_id, id)"
                 " WHERE id IS NOT NULL;") != 0 ||
        sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO events (user_id, event, ts, value, id) "
                           "VALUES (?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "ingest: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    long long rows = 0;
    double t0 = now_s();
    int rc = exec(db, "BEGIN");
    for (int c = 0; c < nclients && rc == 0; c++) {
        for (int b = 0; b < nbatches && rc == 0; b++) {
            for (int i = 0; i < batch && rc == 0; i++) {
                struct row r;
                make_row(c, b, i, &r);
                sqlite3_bind_text(st, 1, r.user, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 2, r.event, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 3, r.ts);
                sqlite3_bind_double(st, 4, r.value);
                sqlite3_bind_text(st, 5, r.id, -1, SQLITE_TRANSIENT);
                if (sqlite3_step(st) != SQLITE_DONE) {
                    fprintf(stderr, "ingest: insert: %s\n", sqlite3_errmsg(db));
                    rc = -1;
                }
                sqlite3_reset(st);
                if (++rows % tx_rows == 0 && rc == 0) {
                    rc = exec(db, "COMMIT; BEGIN");
                }
            }
        }
    }
    if (rc == 0) {
        rc = exec(db, "COMMIT");
    }
    double dt = now_s() - t0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    long long rchar, wchar;
    io_bytes(&rchar, &wchar);
    printf("sqlite %lld %.3f %.0f %.3f %lld %lld\n", rows, dt, (double)rows / dt, cpu, rchar,
           wchar);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 11 && strcmp(argv[1], "http") == 0) {
        port = atoi(argv[2]);
        key = argv[3];
        experiment = argv[4];
        nclients = atoi(argv[5]);
        nbatches = atoi(argv[6]);
        batch = atoi(argv[7]);
        nusers = atoi(argv[8]);
        tag = argv[9];
        t_base = atoll(argv[10]);
        return nclients > 0 && nclients <= 64 ? run_http() : 2;
    }
    if (argc == 8 && strcmp(argv[1], "expose") == 0) {
        port = atoi(argv[2]);
        key = argv[3];
        experiment = argv[4];
        nusers = atoi(argv[5]);
        tag = argv[6];
        t_base = atoll(argv[7]);
        return expose_all() == 0 ? 0 : 1;
    }
    if (argc == 11 && strcmp(argv[1], "events") == 0) {
        port = atoi(argv[2]);
        key = argv[3];
        experiment = argv[4];
        nclients = atoi(argv[5]);
        nbatches = atoi(argv[6]);
        batch = atoi(argv[7]);
        nusers = atoi(argv[8]);
        tag = argv[9];
        t_base = atoll(argv[10]);
        return nclients > 0 && nclients <= 64 ? run_events() : 2;
    }
    if ((argc == 9 || argc == 10) && strcmp(argv[1], "sqlite") == 0) {
        nclients = atoi(argv[3]);
        nbatches = atoi(argv[4]);
        batch = atoi(argv[5]);
        nusers = atoi(argv[6]);
        tag = argv[7];
        t_base = atoll(argv[8]);
        int tx_rows = argc == 10 ? atoi(argv[9]) : 10000;
        return run_sqlite(argv[2], tx_rows > 0 ? tx_rows : 10000);
    }
    fprintf(stderr,
            "usage: ingest http PORT KEY EXPERIMENT CLIENTS BATCHES BATCH USERS TAG BASE_MS\n"
            "       ingest expose PORT KEY EXPERIMENT USERS TAG BASE_MS\n"
            "       ingest events PORT KEY EXPERIMENT CLIENTS BATCHES BATCH USERS TAG BASE_MS\n"
            "       ingest sqlite DBFILE CLIENTS BATCHES BATCH USERS TAG BASE_MS [TX_ROWS]\n");
    return 2;
}
