/*
 * API tests for the GrowthBook SDK extras (issue 15): GET /sub/{sdk_key} (Server-Sent
 * Events: the payload at connection, a `features` event within 1 s of a change, the cap on
 * open streams -> 503, a clean and quick shutdown with streams open, stalled subscribers
 * that hold no copy of the payload and get the latest one once they read), keys created with
 * "encrypt": true (GET /api/features answers encryptedFeatures / encryptedSavedGroups that
 * decrypt, with the key's decryption_key, to the plain payload's parts; GET /keys and the
 * audit say "encrypt" without the key), and remote
 * evaluation POST /api/eval/{sdk_key} (the value /assign gives).
 * The daemon runs with --max-connections 16 (so at most 8 streams).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct daemon D;

static int setup(void **state)
{
    (void)state;
    const char *const extra[] = {"--max-connections", "16", NULL};
    return daemon_start(&D, extra);
}

static int teardown(void **state)
{
    (void)state;
    daemon_cleanup(&D);
    return 0;
}

static json_t *call(const char *method, const char *path, const char *key, const char *body,
                    int want)
{
    return harness_call(D.port, method, path, key, body, want);
}

static char *new_key(bool encrypt, char *dec, size_t n)
{
    static int made; /* key names are unique among active keys */
    json_t *k = call("POST", "/api/v1/keys", D.admin_key,
                     fmt("{\"name\":\"%s-%d\",\"role\":\"sdk\"%s}", encrypt ? "e" : "p", ++made,
                         encrypt ? ",\"encrypt\":true" : ""),
                     201);
    char *key = strdup(json_string_value(json_object_get(k, "key")));
    if (dec != NULL) {
        snprintf(dec, n, "%s", json_string_value(json_object_get(k, "decryption_key")));
    }
    json_decref(k);
    return key;
}

/* ---- a raw SSE client ---- */

struct sse {
    int fd;
    char buf[1 << 16];
    size_t len;
};

/* Connect and send GET path; returns 0 (the status line is checked by sse_status). */
static int sse_open(struct sse *s, const char *path)
{
    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)D.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", path);
    return write(s->fd, req, (size_t)n) == n ? 0 : -1;
}

/* The bound of every wait for a stream's bytes: a hang detector (HARNESS_HANG_S), not a
 * latency; a change's delay is printed, never asserted (docs/TESTING.md). */
#define SSE_HANG_MS (HARNESS_HANG_S * 1000)

/* Read until needle appears in the buffer (after offset from) or ms pass. */
static const char *sse_wait(struct sse *s, size_t from, const char *needle, int ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        s->buf[s->len] = '\0';
        const char *hit = strstr(s->buf + from, needle);
        if (hit != NULL) {
            return hit;
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0 || s->len + 1 >= sizeof(s->buf)) {
            return NULL;
        }
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0) {
            return NULL;
        }
        ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
        if (n <= 0) {
            s->buf[s->len] = '\0';
            return strstr(s->buf + from, needle);
        }
        s->len += (size_t)n;
    }
}

static void test_sub_stream(void **state)
{
    (void)state;
    json_decref(call("POST", "/api/v1/experiments", D.admin_key,
                     "{\"key\":\"live\",\"variants\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\","
                     "\"value\":2}],\"default_value\":0}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/live/start", D.admin_key, NULL, 200));
    char *key = new_key(false, NULL, 0);
    /* the payload advertises SSE as the GrowthBook Proxy does */
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", fmt("/api/features/%s", key), NULL, NULL, &r), 0);
    char v[32];
    assert_true(resp_header(&r, "x-sse-support", v, sizeof(v)));
    assert_string_equal(v, "enabled");
    resp_free(&r);

    struct sse s;
    assert_int_equal(sse_open(&s, fmt("/sub/%s", key)), 0);
    assert_non_null(sse_wait(&s, 0, "\r\n\r\n", SSE_HANG_MS));
    assert_non_null(strstr(s.buf, "200 OK"));
    assert_non_null(strstr(s.buf, "text/event-stream"));
    const char *first = sse_wait(&s, 0, "event: features\ndata: {", SSE_HANG_MS);
    assert_non_null(first);
    assert_non_null(sse_wait(&s, 0, "\"defaultValue\":0", SSE_HANG_MS));
    size_t mark = s.len;
    /* a change reaches the stream (its delay printed, not bounded) */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    json_decref(
        call("PATCH", "/api/v1/experiments/live", D.admin_key, "{\"default_value\":7}", 200));
    const char *ev = sse_wait(&s, mark, "\"defaultValue\":7", SSE_HANG_MS);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_non_null(ev);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "# SSE: a change reached the stream %.1f ms after the PATCH was sent\n", ms);
    /* an unknown key: 401, no stream */
    assert_int_equal(http_req(D.port, "GET", "/sub/bsn_nope", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    resp_free(&r);

    /* the cap: --max-connections 16 -> 8 streams; the 9th gets the current payload and a
     * retry interval, and its body ends: an EventSource polls through /sub until a slot
     * frees (a 503 made the GrowthBook SDK back off for minutes without fetching: sdk30 F1) */
    struct sse more[7];
    for (int i = 0; i < 7; i++) {
        assert_int_equal(sse_open(&more[i], fmt("/sub/%s", key)), 0);
        assert_non_null(sse_wait(&more[i], 0, "event: features", SSE_HANG_MS));
    }
    struct sse extra;
    assert_int_equal(sse_open(&extra, fmt("/sub/%s", key)), 0);
    assert_non_null(sse_wait(&extra, 0, "event: features", SSE_HANG_MS));
    assert_non_null(strstr(extra.buf, "HTTP/1.1 200 "));
    assert_non_null(strstr(extra.buf, "text/event-stream"));
    assert_non_null(strstr(extra.buf, "\r\n\r\nretry: 30000\n\nevent: features\n"));
    /* the whole payload, then the server closes */
    char *end = NULL;
    for (int i = 0; i < SSE_HANG_MS / 10 && end == NULL; i++) {
        struct pollfd pf = {.fd = extra.fd, .events = POLLIN};
        if (poll(&pf, 1, 10) == 1) {
            size_t room = sizeof(extra.buf) - 1 - extra.len;
            ssize_t got = room > 0 ? read(extra.fd, extra.buf + extra.len, room) : 0;
            if (got <= 0) {
                end = extra.buf; /* EOF: closed */
                break;
            }
            extra.len += (size_t)got;
            extra.buf[extra.len] = '\0';
        }
    }
    assert_non_null(end);
    assert_non_null(strstr(extra.buf, "\"features\""));
    close(extra.fd);
    assert_true(harness_metric_value(D.port, NULL, "bunsen_sdk_streams_full_total") == 1);
    /* requests are still answered while 8 streams are open */
    json_decref(call("GET", "/api/v1/experiments/live", D.admin_key, NULL, 200));
    for (int i = 0; i < 7; i++) {
        close(more[i].fd);
    }

    /* shutdown with a stream open: the stream ends cleanly and the daemon exits 0 (a stream
     * left suspended would hold MHD_stop_daemon for ever: the wait below is a hang detector,
     * HARNESS_HANG_S, not a latency bound) */
    pid_t pid = D.pid;
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st = 0;
    pid_t gone = 0;
    for (int i = 0; i < HARNESS_HANG_S * 50 && (gone = waitpid(pid, &st, WNOHANG)) == 0; i++) {
        sleep_ms(20);
    }
    if (gone != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        D.pid = 0;
        fail_msg("the daemon did not exit with a stream open");
    }
    D.pid = 0;
    fprintf(stderr, "# shutdown with an open stream: exit %d\n",
            WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the chunked body was terminated (last chunk "0\r\n\r\n") before the socket closed */
    assert_non_null(sse_wait(&s, mark, "\r\n0\r\n\r\n", SSE_HANG_MS));
    close(s.fd);
    free(key);
    assert_int_equal(daemon_restart(&D, NULL), 0);
}

/* bunsen_sdk_payload_renders_total from /metrics. */
static long renders(void)
{
    long n = (long)harness_metric_value(D.port, D.admin_key, "bunsen_sdk_payload_renders_total");
    assert_true(n >= 0);
    return n;
}

/* The payload is rendered once per definitions snapshot and key, whatever the requests: a
 * 200, another 200, a 304 and a new stream share one render; a change renders again. The
 * replies are byte for byte the same. */
static void test_payload_rendered_once(void **state)
{
    (void)state;
    char *key = new_key(false, NULL, 0);
    json_decref(
        call("PATCH", "/api/v1/experiments/live", D.admin_key, "{\"default_value\":3}", 200));
    long before = renders();
    struct resp a, b, c;
    assert_int_equal(http_req(D.port, "GET", fmt("/api/features/%s", key), NULL, NULL, &a), 0);
    assert_int_equal(http_req(D.port, "GET", fmt("/api/features/%s", key), NULL, NULL, &b), 0);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 200);
    assert_true(a.body_len == b.body_len && memcmp(a.body, b.body, a.body_len) == 0);
    char tag[64];
    assert_true(resp_header(&a, "ETag", tag, sizeof(tag)));
    assert_int_equal(http_req_hdr(D.port, "GET", fmt("/api/features/%s", key), NULL,
                                  fmt("If-None-Match: %s\r\n", tag), NULL, NULL, 0, &c),
                     0);
    assert_int_equal(c.status, 304);
    struct sse s;
    assert_int_equal(sse_open(&s, fmt("/sub/%s", key)), 0);
    assert_non_null(sse_wait(&s, 0, "\"defaultValue\":3", SSE_HANG_MS));
    close(s.fd);
    assert_int_equal(renders() - before, 1);
    json_decref(
        call("PATCH", "/api/v1/experiments/live", D.admin_key, "{\"default_value\":4}", 200));
    resp_free(&c);
    assert_int_equal(http_req(D.port, "GET", fmt("/api/features/%s", key), NULL, NULL, &c), 0);
    assert_non_null(strstr(c.body, "\"defaultValue\":4"));
    assert_int_equal(renders() - before, 2);
    resp_free(&a);
    resp_free(&b);
    resp_free(&c);
    free(key);
}

/* A payload larger than 4 MiB (saved groups) reaches a new subscriber whole (it was once
 * never sent, when a stream refused more than 4 MiB unsent). */
static void test_large_payload_streamed(void **state)
{
    (void)state;
    size_t cap = 80000 * 10 + 128;
    char *body = malloc(cap);
    for (int g = 0; g < 7; g++) {
        size_t len =
            (size_t)snprintf(body, cap, "{\"key\":\"big%d\",\"attribute\":\"id\",\"values\":[", g);
        for (int i = 0; i < 80000; i++) {
            len += (size_t)snprintf(body + len, cap - len, "%s\"v%05d\"", i ? "," : "", i);
        }
        snprintf(body + len, cap - len, "]}");
        json_decref(call("POST", "/api/v1/saved-groups", D.admin_key, body, 201));
    }
    free(body);
    /* the payload carries only the groups its features target with */
    json_decref(
        call("POST", "/api/v1/experiments", D.admin_key,
             "{\"key\":\"bigx\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
             "\"targeting\":{\"$or\":[{\"id\":{\"$inGroup\":\"big0\"}},{\"id\":{\"$inGroup\":"
             "\"big1\"}},{\"id\":{\"$inGroup\":\"big2\"}},{\"id\":{\"$inGroup\":\"big3\"}},"
             "{\"id\":{\"$inGroup\":\"big4\"}},{\"id\":{\"$inGroup\":\"big5\"}},{\"id\":"
             "{\"$inGroup\":\"big6\"}}]}}",
             201));
    json_decref(call("POST", "/api/v1/experiments/bigx/start", D.admin_key, NULL, 200));
    char *key = new_key(false, NULL, 0);
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", fmt("/api/features/%s", key), NULL, NULL, &r), 0);
    size_t want = r.body_len;
    assert_true(want > (4u << 20));
    resp_free(&r);
    struct sse s;
    assert_int_equal(sse_open(&s, fmt("/sub/%s", key)), 0);
    size_t got = 0;
    for (int i = 0; i < 2000 && got < want; i++) {
        struct pollfd p = {.fd = s.fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        ssize_t n = read(s.fd, s.buf, sizeof(s.buf));
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(s.fd);
    assert_true(got > want); /* headers, the event's framing and the payload */
    free(key);
    json_decref(call("POST", "/api/v1/experiments/bigx/stop", D.admin_key, NULL, 200));
    for (int g = 0; g < 7; g++) {
        json_decref(call("DELETE", fmt("/api/v1/saved-groups/big%d", g), D.admin_key, NULL, 200));
    }
}

/* The daemon's resident memory in KiB (VmRSS). */
static long daemon_rss_kb(void)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)D.pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
        }
    }
    fclose(f);
    assert_true(kb > 0);
    return kb;
}

/* A subscriber that reads nothing: a 4 KiB receive buffer, set before connecting. */
static int sse_open_stalled(struct sse *s, const char *path)
{
    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)D.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    return write(s->fd, req, (size_t)n) == n ? 0 : -1;
}

/* Read a stream (discarding what it reads) until needle has passed or ms pass; true when it
 * did. The last bytes are kept across reads so that a needle split between two is found. */
static bool sse_drain_until(struct sse *s, const char *needle, int ms)
{
    size_t nl = strlen(needle), keep = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            return false;
        }
        ssize_t n = read(s->fd, s->buf + keep, sizeof(s->buf) - 1 - keep);
        if (n <= 0) {
            return false;
        }
        size_t len = keep + (size_t)n;
        s->buf[len] = '\0';
        if (strstr(s->buf, needle) != NULL) {
            return true;
        }
        keep = len < nl ? len : nl;
        memmove(s->buf, s->buf + len - keep, keep);
    }
}

/* Subscribers that stop reading: the payload's text is shared, not copied into each
 * stream (six stalled subscribers of a 5 MB payload took 6 copies, 300 took 780 MB), and
 * once one drains it gets the latest payload (the changes made while it was stalled were
 * refused for good past 4 MiB unsent: it stayed on an old payload). */
static void test_stalled_subscribers(void **state)
{
    (void)state;
    enum { NVAL = 100000, NSUB = 6 };
    size_t cap = (size_t)NVAL * 56 + 128;
    char *body = malloc(cap);
    size_t len =
        (size_t)snprintf(body, cap, "{\"key\":\"slowg\",\"attribute\":\"id\",\"values\":[");
    for (int i = 0; i < NVAL; i++) {
        len += (size_t)snprintf(body + len, cap - len, "%s\"subscriber-%040d\"", i ? "," : "", i);
    }
    snprintf(body + len, cap - len, "]}");
    json_decref(call("POST", "/api/v1/saved-groups", D.admin_key, body, 201));
    free(body);
    json_decref(call("POST", "/api/v1/experiments", D.admin_key,
                     "{\"key\":\"slowx\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                     "\"targeting\":{\"id\":{\"$inGroup\":\"slowg\"}},\"default_value\":\"v0\"}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/slowx/start", D.admin_key, NULL, 200));
    char *key = new_key(false, NULL, 0);
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", fmt("/api/features/%s", key), NULL, NULL, &r), 0);
    size_t payload = r.body_len;
    assert_true(payload > (5u << 20));
    resp_free(&r);
    sleep_ms(200);
    long before = daemon_rss_kb();
    struct sse s[NSUB];
    for (int i = 0; i < NSUB; i++) {
        assert_int_equal(sse_open_stalled(&s[i], fmt("/sub/%s", key)), 0);
    }
    sleep_ms(1000);
    long after = daemon_rss_kb();
    fprintf(stderr,
            "# %d stalled subscribers of a %zu-byte payload: daemon RSS %ld -> %ld KiB (+%ld)\n",
            NSUB, payload, before, after, after - before);
    /* a copy per stream (what the kernel and MHD's buffer did not take): +14 MB before */
    assert_true(after - before < 4 * 1024);
    /* changes while they read nothing; then each reads, and ends on the latest payload */
    for (int v = 1; v <= 4; v++) {
        json_decref(call("PATCH", "/api/v1/experiments/slowx", D.admin_key,
                         fmt("{\"default_value\":\"v%d\"}", v), 200));
        sleep_ms(300);
    }
    for (int i = 0; i < NSUB; i++) {
        assert_true(sse_drain_until(&s[i], "\"defaultValue\":\"v4\"", SSE_HANG_MS));
        close(s[i].fd);
    }
    free(key);
    json_decref(call("POST", "/api/v1/experiments/slowx/stop", D.admin_key, NULL, 200));
    json_decref(call("POST", "/api/v1/experiments/slowx/archive", D.admin_key, NULL, 200));
    json_decref(call("DELETE", "/api/v1/saved-groups/slowg", D.admin_key, NULL, 200));
}

/* Read fd at most 64 KiB every 50 ms (about 1.3 MB/s) for up to ms: the index of the first of
 * needles (n of them) seen, -1 when the connection ended before any, -2 after ms. The last
 * bytes of each read are kept so that a needle split between two reads is found. */
static int trickle(int fd, int ms, const char *const *needles, int n)
{
    static char buf[(64 << 10) + 64];
    size_t keep = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= ms) {
            return -2;
        }
        sleep_ms(50);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0) {
            continue;
        }
        ssize_t got = read(fd, buf + keep, 64 << 10);
        if (got <= 0) {
            return -1;
        }
        size_t len = keep + (size_t)got;
        buf[len] = '\0';
        for (int i = 0; i < n; i++) {
            if (strstr(buf, needles[i]) != NULL) {
                return i;
            }
        }
        keep = len < 63 ? len : 63;
        memmove(buf, buf + len - keep, keep);
    }
}

/* A subscriber still reading a payload that a newer one replaced is ended once it has been
 * at it for SLOW_READER_MS (here 1.5 s): the old text stayed in memory for that stream alone
 * for as long as its client took (13 MB with large saved groups; a client reading a little
 * now and then is never cut by the idle timeout). Reading the current payload as slowly ends
 * nothing: that text is shared. */
static void test_slow_reader_of_replaced_payload(void **state)
{
    (void)state;
    struct daemon S;
    setenv("BUNSEN_TEST_STREAM_SLOW_MS", "1500", 1);
    int rc = daemon_start(&S, NULL);
    unsetenv("BUNSEN_TEST_STREAM_SLOW_MS");
    assert_int_equal(rc, 0);
    enum { NVAL = 100000 };
    size_t cap = (size_t)NVAL * 60 + 128;
    char *body = malloc(cap);
    for (int g = 0; g < 2; g++) {
        size_t len =
            (size_t)snprintf(body, cap, "{\"key\":\"slow%d\",\"attribute\":\"id\",\"values\":[", g);
        for (int i = 0; i < NVAL; i++) {
            len += (size_t)snprintf(body + len, cap - len, "%s\"reader-%d-%040d\"", i ? "," : "", g,
                                    i);
        }
        snprintf(body + len, cap - len, "]}");
        json_decref(harness_call(S.port, "POST", "/api/v1/saved-groups", S.admin_key, body, 201));
    }
    free(body);
    json_decref(harness_call(S.port, "POST", "/api/v1/experiments", S.admin_key,
                             "{\"key\":\"slowr\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                             "\"targeting\":{\"$or\":[{\"id\":{\"$inGroup\":\"slow0\"}},"
                             "{\"id\":{\"$inGroup\":\"slow1\"}}]},\"default_value\":\"v0\"}",
                             201));
    json_decref(
        harness_call(S.port, "POST", "/api/v1/experiments/slowr/start", S.admin_key, NULL, 200));
    json_t *k = harness_call(S.port, "POST", "/api/v1/keys", S.admin_key,
                             "{\"name\":\"slow-reader\",\"role\":\"sdk\"}", 201);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    const char *req = fmt("GET /sub/%s HTTP/1.1\r\nHost: x\r\n\r\n", str(k, "key"));
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    json_decref(k);
    /* the payload is ~11.6 MB: 3 s at ~1.3 MB/s read part of it, and the stream stays */
    const char *const ends[] = {"\r\n0\r\n\r\n", "\"defaultValue\":\"v1\""};
    assert_int_equal(trickle(fd, 3000, ends, 2), -2);
    assert_true(harness_metric_value(S.port, NULL, "bunsen_sdk_streams_slow_ended_total") == 0);
    /* replaced while it is read: the stream ends (the chunked body's last chunk) before the
     * new payload, which the client gets when it reconnects */
    json_decref(harness_call(S.port, "PATCH", "/api/v1/experiments/slowr", S.admin_key,
                             "{\"default_value\":\"v1\"}", 200));
    assert_int_equal(trickle(fd, SSE_HANG_MS, ends, 2), 0);
    assert_true(harness_metric_value(S.port, NULL, "bunsen_sdk_streams_slow_ended_total") == 1);
    close(fd);
    daemon_cleanup(&S);
}

/* Decrypt GrowthBook's "iv.ciphertext" with key_b64 into a new string. */
static char *decrypt(const char *enc, const char *key_b64)
{
    unsigned char key[16], iv[16], ct[1 << 16], pt[1 << 16];
    size_t kl = 0, il = 0, cl = 0;
    const char *dot = strchr(enc, '.');
    assert_non_null(dot);
    assert_int_equal(sodium_base642bin(key, sizeof(key), key_b64, strlen(key_b64), NULL, &kl, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(sodium_base642bin(iv, sizeof(iv), enc, (size_t)(dot - enc), NULL, &il, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(sodium_base642bin(ct, sizeof(ct), dot + 1, strlen(dot + 1), NULL, &cl, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(kl, 16);
    assert_int_equal(il, 16);
    int n1 = 0, n2 = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_128_cbc(), NULL, key, iv), 1);
    assert_int_equal(EVP_DecryptUpdate(c, pt, &n1, ct, (int)cl), 1);
    assert_int_equal(EVP_DecryptFinal_ex(c, pt + n1, &n2), 1);
    EVP_CIPHER_CTX_free(c);
    pt[n1 + n2] = '\0';
    return strdup((const char *)pt);
}

static void test_encrypted_payload(void **state)
{
    (void)state;
    char dec[64];
    char *ekey = new_key(true, dec, sizeof(dec));
    char *pkey = new_key(false, NULL, 0);
    assert_int_equal(strlen(dec), 24); /* base64 of 16 bytes */
    json_decref(call("POST", "/api/v1/saved-groups", D.admin_key,
                     "{\"key\":\"vip\",\"attribute\":\"id\",\"values\":[\"u1\"]}", 201));
    json_t *e = call("GET", fmt("/api/features/%s", ekey), NULL, NULL, 200);
    json_t *p = call("GET", fmt("/api/features/%s", pkey), NULL, NULL, 200);
    assert_null(json_object_get(e, "features"));
    const char *parts[][2] = {{"encryptedFeatures", "features"},
                              {"encryptedSavedGroups", "savedGroups"}};
    for (int i = 0; i < 2; i++) {
        const char *enc = json_string_value(json_object_get(e, parts[i][0]));
        assert_non_null(enc);
        char *plain = decrypt(enc, dec);
        json_t *got = json_loads(plain, 0, NULL);
        assert_non_null(got);
        assert_true(json_equal(got, json_object_get(p, parts[i][1])));
        json_decref(got);
        free(plain);
    }
    assert_true(json_equal(json_object_get(e, "dateUpdated"), json_object_get(p, "dateUpdated")));
    /* the same payload encrypts the same way: ETag and 304 work for encrypted keys too */
    json_t *e2 = call("GET", fmt("/api/features/%s", ekey), NULL, NULL, 200);
    assert_true(json_equal(e, e2));
    json_decref(e2);
    json_decref(e);
    json_decref(p);
    /* encrypt is for sdk keys, and a boolean */
    json_decref(call("POST", "/api/v1/keys", D.admin_key,
                     "{\"name\":\"x\",\"role\":\"viewer\",\"encrypt\":true}", 400));
    json_decref(call("POST", "/api/v1/keys", D.admin_key,
                     "{\"name\":\"x\",\"role\":\"sdk\",\"encrypt\":1}", 400));
    free(ekey);
    free(pkey);
}

/* The key documents (GET /keys, the key.create audit entry) say whether an sdk key serves
 * its payload encrypted (rev-sec 4), never with the encryption key itself. */
static json_t *listed_key(json_t *list, const char *id)
{
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(list, "keys"), i, k)
    {
        if (strcmp(json_string_value(json_object_get(k, "id")), id) == 0) {
            return k;
        }
    }
    fail_msg("key %s not listed", id);
    return NULL;
}

static void test_key_documents_show_encrypt(void **state)
{
    (void)state;
    const char *bodies[] = {"{\"name\":\"le\",\"role\":\"sdk\",\"encrypt\":true}",
                            "{\"name\":\"lp\",\"role\":\"sdk\"}",
                            "{\"name\":\"lv\",\"role\":\"viewer\"}"};
    char ids[3][32], dec[64];
    for (int i = 0; i < 3; i++) {
        json_t *k = call("POST", "/api/v1/keys", D.admin_key, bodies[i], 201);
        snprintf(ids[i], sizeof(ids[i]), "%s", json_string_value(json_object_get(k, "id")));
        if (i == 0) {
            snprintf(dec, sizeof(dec), "%s",
                     json_string_value(json_object_get(k, "decryption_key")));
        }
        json_decref(k);
    }
    json_t *list = call("GET", "/api/v1/keys", D.admin_key, NULL, 200);
    assert_true(json_is_true(json_object_get(listed_key(list, ids[0]), "encrypt")));
    assert_true(json_is_false(json_object_get(listed_key(list, ids[1]), "encrypt")));
    assert_null(json_object_get(listed_key(list, ids[2]), "encrypt")); /* sdk keys only */
    char *text = json_dumps(list, 0);
    assert_null(strstr(text, dec));
    free(text);
    json_decref(list);
    for (int i = 0; i < 3; i++) {
        json_t *a = call("GET", fmt("/api/v1/audit?target_type=key&target=%s", ids[i]), D.admin_key,
                         NULL, 200);
        json_t *after = json_object_get(json_array_get(json_object_get(a, "entries"), 0), "after");
        json_t *enc = json_object_get(after, "encrypt");
        assert_true(i == 0 ? json_is_true(enc) : i == 1 ? json_is_false(enc) : enc == NULL);
        text = json_dumps(a, 0);
        assert_null(strstr(text, dec));
        free(text);
        json_decref(a);
    }
    /* revoked: the revocation's documents and the full list keep it */
    json_decref(call("DELETE", fmt("/api/v1/keys/%s", ids[0]), D.admin_key, NULL, 200));
    list = call("GET", "/api/v1/keys?include_revoked=true", D.admin_key, NULL, 200);
    assert_true(json_is_true(json_object_get(listed_key(list, ids[0]), "encrypt")));
    json_decref(list);
}

static void test_remote_eval(void **state)
{
    (void)state;
    char *key = new_key(false, NULL, 0);
    json_decref(call("POST", "/api/v1/experiments", D.admin_key,
                     "{\"key\":\"rem\",\"variants\":[{\"key\":\"a\",\"value\":{\"x\":1}},{\"key\":"
                     "\"b\",\"value\":{\"x\":2}}],\"targeting\":{\"id\":{\"$inGroup\":\"vip2\"}},"
                     "\"default_value\":{\"x\":0}}",
                     201));
    json_decref(call("POST", "/api/v1/saved-groups", D.admin_key,
                     "{\"key\":\"vip2\",\"attribute\":\"id\",\"values\":[\"u1\",\"u2\"]}", 201));
    json_decref(call("POST", "/api/v1/experiments/rem/start", D.admin_key, NULL, 200));
    const char *const ids[] = {"u1", "u2", "u3"};
    for (int i = 0; i < 3; i++) {
        json_t *a = call(
            "POST", "/api/v1/assign", key,
            fmt("{\"user_id\":\"%s\",\"experiments\":[\"rem\"],\"log_exposure\":false}", ids[i]),
            200);
        const json_t *want =
            json_object_get(json_object_get(json_object_get(a, "assignments"), "rem"), "value");
        json_t *ev = call("POST", fmt("/api/eval/%s", key), NULL,
                          fmt("{\"attributes\":{\"id\":\"%s\"},\"forcedVariations\":{},"
                              "\"forcedFeatures\":[],\"url\":\"\"}",
                              ids[i]),
                          200);
        const json_t *f = json_object_get(json_object_get(ev, "features"), "rem");
        assert_true(json_equal(json_object_get(f, "defaultValue"), (json_t *)(uintptr_t)want));
        /* in the experiment: a force rule that tracks the exposure (trackingCallback) */
        bool in = json_is_true(json_object_get(
            json_object_get(json_object_get(a, "assignments"), "rem"), "in_experiment"));
        assert_int_equal(json_object_get(f, "rules") != NULL, in);
        assert_int_equal(in, i < 2);
        json_decref(ev);
        json_decref(a);
    }
    json_decref(call("POST", fmt("/api/eval/%s", key), NULL, "{\"attributes\":[]}", 400));
    json_decref(call("POST", "/api/eval/bsn_nope", NULL, "{\"attributes\":{}}", 401));
    /* an id that is no short string is hashed as the SDK hashes it locally (1.5, true, 300
     * bytes: they fell back to the default); only a string id is forced (the payload's force
     * rule compares strictly: the number 42 is not "42") */
    json_decref(call("POST", "/api/v1/experiments", D.admin_key,
                     "{\"key\":\"ids\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"},{\"key\":"
                     "\"c\"}],\"default_value\":\"DEF\",\"forced\":{\"42\":\"c\"}}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/ids/start", D.admin_key, NULL, 200));
    char long_id[301];
    memset(long_id, 'L', 300);
    long_id[300] = '\0';
    char quoted[304];
    snprintf(quoted, sizeof(quoted), "\"%s\"", long_id);
    const char *const texts[] = {"1.5", "true", long_id, "42"};
    const char *const attrs[] = {"1.5", "true", quoted, "42"};
    for (int i = 0; i < 4; i++) {
        /* /assign takes user ids of at most 256 bytes: the long one is checked as bucketed */
        json_t *a = i == 2
                        ? NULL
                        : call("GET",
                               fmt("/api/v1/experiments/ids/assign?user_id=%s&log_exposure=false",
                                   texts[i]),
                               key, NULL, 200);
        json_t *ev = call("POST", fmt("/api/eval/%s", key), NULL,
                          fmt("{\"attributes\":{\"id\":%s}}", attrs[i]), 200);
        const json_t *f = json_object_get(json_object_get(ev, "features"), "ids");
        const char *got = json_string_value(json_object_get(f, "defaultValue"));
        if (i == 2) {
            assert_string_not_equal(got, "DEF");
        } else if (i < 3) { /* hashed: /assign's variant for the same text */
            assert_string_equal(json_string_value(json_object_get(a, "reason")), "hashed");
            assert_string_equal(got, json_string_value(json_object_get(a, "value")));
        } else { /* /assign forces "42"; the number 42 is hashed */
            assert_string_equal(json_string_value(json_object_get(a, "reason")), "forced");
            assert_string_not_equal(got, "DEF");
            json_t *s = call("POST", fmt("/api/eval/%s", key), NULL,
                             "{\"attributes\":{\"id\":\"42\"}}", 200);
            assert_string_equal(
                json_string_value(json_object_get(
                    json_object_get(json_object_get(s, "features"), "ids"), "defaultValue")),
                "c");
            json_decref(s);
        }
        json_decref(ev);
        json_decref(a);
    }
    free(key);
}

/* A visitor without the hash attribute nor attributes.id is out of an experiment whose
 * fallback_attribute is "id", as the SDK evaluates it locally (remote evaluation hashed a
 * placeholder id: every anonymous visitor got one variant, tracked with hashValue ""). */
static void test_remote_eval_anonymous(void **state)
{
    (void)state;
    char *key = new_key(false, NULL, 0);
    json_decref(call("POST", "/api/v1/experiments", D.admin_key,
                     "{\"key\":\"anon\",\"variants\":[{\"key\":\"a\",\"value\":\"A\"},{\"key\":"
                     "\"b\",\"value\":\"B\"}],\"hash_attribute\":\"company\","
                     "\"fallback_attribute\":\"id\",\"default_value\":\"OUT\"}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/anon/start", D.admin_key, NULL, 200));
    const char *const out[] = {"{}", "{\"attributes\":{}}", "{\"attributes\":{\"country\":\"NL\"}}",
                               "{\"attributes\":{\"company\":\"\"}}",
                               "{\"attributes\":{\"company\":null,\"id\":\"\"}}"};
    for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
        json_t *ev = call("POST", fmt("/api/eval/%s", key), NULL, out[i], 200);
        const json_t *f = json_object_get(json_object_get(ev, "features"), "anon");
        const char *v = json_string_value(json_object_get(f, "defaultValue"));
        if (v == NULL || strcmp(v, "OUT") != 0 || json_object_get(f, "rules") != NULL) {
            fail_msg("%s: %s, expected OUT and no rule", out[i], json_dumps(f, JSON_COMPACT));
        }
        json_decref(ev);
    }
    /* the hash attribute, or the id as its fallback: in the experiment, tracked with it */
    const char *const in[][2] = {{"{\"attributes\":{\"company\":\"acme\"}}", "company"},
                                 {"{\"attributes\":{\"id\":\"u1\"}}", "id"},
                                 {"{\"attributes\":{\"company\":\"\",\"id\":\"u1\"}}", "id"}};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        json_t *ev = call("POST", fmt("/api/eval/%s", key), NULL, in[i][0], 200);
        const json_t *f = json_object_get(json_object_get(ev, "features"), "anon");
        const json_t *rule = json_array_get(json_object_get(f, "rules"), 0);
        const json_t *track = json_array_get(json_object_get(rule, "tracks"), 0);
        const json_t *res = json_object_get(json_object_get(track, "result"), "hashAttribute");
        assert_string_not_equal(json_string_value(json_object_get(f, "defaultValue")), "OUT");
        assert_string_equal(json_string_value(res), in[i][1]);
        json_decref(ev);
    }
    json_decref(call("POST", "/api/v1/experiments/anon/stop", D.admin_key, NULL, 200));
    free(key);
}

/* The value of feature fk in a remote evaluation of attrs (JSON text), as JSON text, and
 * whether it carries a tracked rule. */
static char *remote_value(const char *key, const char *fk, const char *attrs, bool *tracked)
{
    json_t *ev =
        call("POST", fmt("/api/eval/%s", key), NULL, fmt("{\"attributes\":%s}", attrs), 200);
    const json_t *f = json_object_get(json_object_get(ev, "features"), fk);
    assert_non_null(f);
    char *v = json_dumps(json_object_get(f, "defaultValue"), JSON_COMPACT | JSON_ENCODE_ANY);
    *tracked = json_object_get(f, "rules") != NULL;
    json_decref(ev);
    return v;
}

/* An array id as the SDK evaluates the payload locally: the force rule's $in intersects it
 * (["qa-1"] is forced as "qa-1"; only a string id was), and [] is hashed as "" (it was an
 * empty user id: every feature fell back to its default, even those hashed on another
 * attribute). */
static void test_remote_eval_array_ids(void **state)
{
    (void)state;
    char *key = new_key(false, NULL, 0);
    json_decref(call("POST", "/api/v1/experiments", D.admin_key,
                     "{\"key\":\"arrf\",\"variants\":[{\"key\":\"a\",\"value\":\"A\"},{\"key\":"
                     "\"b\",\"value\":\"B\"},{\"key\":\"c\",\"value\":\"C\"}],"
                     "\"default_value\":\"DEF\",\"forced\":{\"qa-1\":\"c\",\"qa-2\":\"b\"}}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/arrf/start", D.admin_key, NULL, 200));
    /* the same seed hashed on another attribute: the bucket of "" for [] */
    json_decref(call("POST", "/api/v1/experiments", D.admin_key,
                     "{\"key\":\"arrh\",\"seed\":\"arrf\",\"hash_attribute\":\"h\",\"variants\":"
                     "[{\"key\":\"a\",\"value\":\"A\"},{\"key\":\"b\",\"value\":\"B\"},{\"key\":"
                     "\"c\",\"value\":\"C\"}],\"default_value\":\"DEF\"}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/arrh/start", D.admin_key, NULL, 200));
    bool tracked = false;
    static const struct {
        const char *attrs, *want;
    } forced[] = {
        {"{\"id\":[\"qa-1\"]}", "\"C\""},
        {"{\"id\":[\"x\",\"qa-1\"]}", "\"C\""},
        {"{\"id\":[\"qa-1\",\"qa-2\"]}", "\"B\""}, /* b's rule comes first in the payload */
        {"{\"id\":\"qa-2\"}", "\"B\""},
    };
    for (size_t i = 0; i < sizeof(forced) / sizeof(forced[0]); i++) {
        char *v = remote_value(key, "arrf", forced[i].attrs, &tracked);
        if (strcmp(v, forced[i].want) != 0 || tracked) {
            fail_msg("%s: %s (tracked %d), expected %s forced", forced[i].attrs, v, tracked,
                     forced[i].want);
        }
        free(v);
    }
    /* [] hashes "" (in the experiment: full coverage), with either attribute, as [""] does */
    char *a = remote_value(key, "arrf", "{\"id\":[]}", &tracked);
    assert_true(tracked);
    assert_string_not_equal(a, "\"DEF\"");
    bool tracked_h = false;
    char *b = remote_value(key, "arrh", "{\"id\":[],\"h\":[]}", &tracked_h);
    char *c = remote_value(key, "arrh", "{\"h\":[\"\"]}", &tracked_h);
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    free(a);
    free(b);
    free(c);
    /* features hashed on another attribute are decided whatever the id */
    int in = 0;
    for (int i = 0; i < 20; i++) {
        char *h = remote_value(key, "arrh", fmt("{\"id\":[],\"h\":\"user-%d\"}", i), &tracked_h);
        char *want =
            remote_value(key, "arrh", fmt("{\"id\":\"x\",\"h\":\"user-%d\"}", i), &tracked);
        assert_string_equal(h, want);
        assert_int_equal(tracked_h, tracked);
        in += tracked;
        free(h);
        free(want);
    }
    assert_true(in > 0);
    json_decref(call("POST", "/api/v1/experiments/arrf/stop", D.admin_key, NULL, 200));
    json_decref(call("POST", "/api/v1/experiments/arrh/stop", D.admin_key, NULL, 200));
    free(key);
}

/* Revoking a key ends its open streams (they got every later payload before); the streams
 * of other keys go on. */
/* The hashed attribute's value, echoed in every experiment's tracking result (hashValue), is
 * charged to the evaluation budget (rev-sec 2): an id of 1,000 strings of 60 bytes over 402
 * experiments was a 25 MB reply to a 64 KB request. Ordinary ids are echoed exactly. */
static void test_remote_eval_echo_charged(void **state)
{
    (void)state;
    char *key = new_key(false, NULL, 0);
    for (int i = 0; i < 30; i++) {
        json_decref(call("POST", "/api/v1/experiments", D.admin_key,
                         fmt("{\"key\":\"echo-%d\",\"variants\":[{\"key\":\"a\"},{\"key\":"
                             "\"b\"}],\"default_value\":\"d\"}",
                             i),
                         201));
        json_decref(
            call("POST", fmt("/api/v1/experiments/echo-%d/start", i), D.admin_key, NULL, 200));
    }
    /* 60,000 bytes of id: ~1,900 steps an echo, past the 50,000 of the budget in 30 */
    size_t cap = 1000 * 64 + 64;
    char *body = malloc(cap);
    assert_non_null(body);
    int n = snprintf(body, cap, "{\"attributes\":{\"id\":[");
    for (int i = 0; i < 1000; i++) {
        n += snprintf(body + n, cap - (size_t)n, "%s\"%060d\"", i ? "," : "", i);
    }
    snprintf(body + n, cap - (size_t)n, "]}}");
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", fmt("/api/eval/%s", key), NULL, body, &r), 0);
    if (r.status != 400 || r.body == NULL || strstr(r.body, "evaluation budget") == NULL ||
        strstr(r.body, "\"field\":\"attributes\"") == NULL) {
        fail_msg("status %d, %zu bytes: %.200s", r.status, r.body ? strlen(r.body) : 0,
                 r.body ? r.body : "");
    }
    resp_free(&r);
    free(body);
    /* a 36-byte id and a 4,096-byte one: every echo exact */
    char big[4097];
    memset(big, 'i', 4096);
    big[4096] = '\0';
    const char *const ids[] = {"6f1c9a8e-3b2d-4c5e-9f70-1a2b3c4d5e6f", big};
    for (int k = 0; k < 2; k++) {
        char req[4200];
        snprintf(req, sizeof(req), "{\"attributes\":{\"id\":\"%s\"}}", ids[k]);
        json_t *ev = call("POST", fmt("/api/eval/%s", key), NULL, req, 200);
        for (int i = 0; i < 30; i++) {
            json_t *f = json_object_get(json_object_get(ev, "features"), fmt("echo-%d", i));
            json_t *track = json_object_get(
                json_array_get(
                    json_object_get(json_array_get(json_object_get(f, "rules"), 0), "tracks"), 0),
                "result");
            const char *hv = json_string_value(json_object_get(track, "hashValue"));
            assert_non_null(hv);
            assert_string_equal(hv, ids[k]);
        }
        json_decref(ev);
    }
    free(key);
}

static void test_revoked_key_stream_ends(void **state)
{
    (void)state;
    json_t *k =
        call("POST", "/api/v1/keys", D.admin_key, "{\"name\":\"gone\",\"role\":\"sdk\"}", 201);
    char *key = strdup(json_string_value(json_object_get(k, "key")));
    char *id = strdup(json_string_value(json_object_get(k, "id")));
    json_decref(k);
    char *other = new_key(false, NULL, 0);
    struct sse s, o;
    assert_int_equal(sse_open(&s, fmt("/sub/%s", key)), 0);
    assert_int_equal(sse_open(&o, fmt("/sub/%s", other)), 0);
    assert_non_null(sse_wait(&s, 0, "event: features", SSE_HANG_MS));
    assert_non_null(sse_wait(&o, 0, "event: features", SSE_HANG_MS));
    size_t mark = s.len, omark = o.len;
    json_decref(call("DELETE", fmt("/api/v1/keys/%s", id), D.admin_key, NULL, 200));
    /* the chunked body ends (last chunk) and the connection closes */
    assert_non_null(sse_wait(&s, mark - 2, "\r\n0\r\n\r\n", SSE_HANG_MS));
    json_decref(
        call("PATCH", "/api/v1/experiments/live", D.admin_key, "{\"default_value\":11}", 200));
    assert_non_null(sse_wait(&o, omark, "\"defaultValue\":11", SSE_HANG_MS));
    assert_null(strstr(s.buf + mark, "\"defaultValue\":11"));
    close(s.fd);
    close(o.fd);
    free(key);
    free(id);
    free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sub_stream),
        cmocka_unit_test(test_payload_rendered_once),
        cmocka_unit_test(test_large_payload_streamed),
        cmocka_unit_test(test_stalled_subscribers),
        cmocka_unit_test(test_slow_reader_of_replaced_payload),
        cmocka_unit_test(test_encrypted_payload),
        cmocka_unit_test(test_key_documents_show_encrypt),
        cmocka_unit_test(test_remote_eval),
        cmocka_unit_test(test_remote_eval_anonymous),
        cmocka_unit_test(test_remote_eval_array_ids),
        cmocka_unit_test(test_remote_eval_echo_charged),
        cmocka_unit_test(test_revoked_key_stream_ends),
    };
    return cmocka_run_group_tests_name("api_sdk_stream", tests, setup, teardown);
}
