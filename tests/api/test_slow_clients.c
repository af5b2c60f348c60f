/*
 * API tests of slow and crowding clients (review rev-api finding 1): a request's headers, and
 * its body, must arrive within --request-timeout (the body may take 1 s more per 8 KiB),
 * however they are trickled, so that tricklers filling --max-connections free their slots and
 * a fresh client is served; what must not be cut is not (an SSE stream, an idle kept-alive
 * connection, a slow but steady upload); and one client address holds at most
 * --per-ip-connections connections (256 by default). Clients that do not read their replies
 * hold at most --max-reply-memory of them before slow reads are refused (review hostile30 F1).
 * The daemon runs with --request-timeout 2, --max-connections 16 and 2 threads; a second one
 * with the defaults; test_reply_memory_budget starts its own with --max-reply-memory 1.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define T_S   2  /* --request-timeout */
#define CONNS 16 /* --max-connections */

static struct daemon D;
static struct daemon BIG; /* the defaults (--per-ip-connections 256): test_per_ip_cap */

static int setup(void **state)
{
    (void)state;
    const char *const extra[] = {
        "--request-timeout", "2", "--max-connections", "16", "--threads", "2", NULL};
    return daemon_start(&D, extra) == 0 && daemon_start(&BIG, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    daemon_cleanup(&D);
    daemon_cleanup(&BIG);
    return 0;
}

/* A TCP connection to port from the loopback address src ("127.0.0.1", "127.0.0.2", ...), or
 * -1. */
static int open_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_text(int fd, const char *s)
{
    size_t n = strlen(s);
    return send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* Read what fd has within ms into buf (appending at *len, NUL-terminated); -1 when the peer
 * has closed (end of file or reset), else 0. */
static int read_some(int fd, char *buf, size_t cap, size_t *len, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, ms) > 0) {
        ssize_t n = recv(fd, buf + *len, cap - 1 - *len, MSG_DONTWAIT);
        if (n <= 0) {
            buf[*len] = '\0';
            return -1;
        }
        *len += (size_t)n;
        buf[*len] = '\0';
        ms = 0;
    }
    return 0;
}

/* Tricklers on every connection slot: each sends a request line, then a header line every
 * 250 ms, never the blank line. Without a deadline over the whole request (the idle timeout
 * restarts at every line) they held the server for as long as they went on, and a fresh
 * client was never served. Each is answered 408 and closed once T has passed; the fresh
 * client waiting meanwhile is served right after. */
static void test_trickled_headers(void **state)
{
    (void)state;
    int fds[CONNS];
    char got[CONNS][512];
    size_t glen[CONNS] = {0};
    double cut[CONNS];
    double t0 = harness_clock_s();
    for (int i = 0; i < CONNS; i++) {
        fds[i] = open_from("127.0.0.1", D.port);
        assert_true(fds[i] >= 0);
        assert_true(send_text(fds[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n"));
        cut[i] = 0;
        got[i][0] = '\0';
    }
    /* The probe connects after the tricklers: the kernel queues the connections in order and
     * the daemon takes them in that order, so they hold the slots first (the sleep only spaces
     * them; a probe served earlier would check less, never fail). The loop's bound is a hang
     * detector: without the deadline they were held for as long as they went on. */
    sleep_ms(200);
    int probe = -1;
    int probes = 0;
    char pbuf[2048];
    size_t plen = 0;
    double served = 0;
    while (harness_clock_s() - t0 < HARNESS_HANG_S && (served == 0 || probe >= 0)) {
        for (int i = 0; i < CONNS; i++) {
            if (cut[i] > 0) {
                continue;
            }
            (void)send_text(fds[i], "X-Slow: 1\r\n");
            if (read_some(fds[i], got[i], sizeof(got[i]), &glen[i], 0) < 0) {
                cut[i] = harness_clock_s() - t0;
            }
        }
        if (probe < 0 && served == 0) {
            probes++;
            probe = open_from("127.0.0.1", D.port);
            assert_true(probe >= 0);
            plen = 0;
            (void)send_text(probe, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        }
        if (probe >= 0 && read_some(probe, pbuf, sizeof(pbuf), &plen, 0) < 0) {
            /* served, or closed (asserted below: never at the cap) */
            if (strncmp(pbuf, "HTTP/1.1 200", 12) == 0) {
                served = harness_clock_s() - t0;
            }
            close(probe);
            probe = -1;
        }
        sleep_ms(250);
    }
    fprintf(stderr, "# tricklers cut at %.2f..%.2f s, the probe served at %.2f s\n", cut[0],
            cut[CONNS - 1], served);
    assert_true(served > 0);
    /* at the cap the probe waits in the backlog until a slot frees, it is not closed at once
     * (listener.c stops accepting at --max-connections, as MHD's own accepting did) */
    assert_int_equal(probes, 1);
    for (int i = 0; i < CONNS; i++) {
        /* not before T (the daemon's deadline starts after t0); how long after: printed */
        assert_true(cut[i] >= T_S - 0.3);
        /* a request that had begun hears why */
        assert_non_null(strstr(got[i], "HTTP/1.1 408 Request Timeout"));
        assert_non_null(strstr(got[i], "\"code\":\"request_timeout\""));
        close(fds[i]);
    }
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_non_null(strstr(r.body, "bunsen_http_request_timeouts_total{phase=\"headers\"} 16"));
    resp_free(&r);
    /* the time at the cap is counted and said (the daemon was quiet while every slot was
     * held: review hostile30 F2) */
    assert_true(harness_metric_value(D.port, NULL, "bunsen_http_connections_full_seconds_total") >
                0);
    assert_true(harness_wait_text(fmt("%s/stderr.log", D.dir),
                                  "at --max-connections: not accepting", 1) >= 1);
}

/* A body trickled slower than 8 KiB/s after the T allowance is cut with a 408; one that keeps
 * up is read however long it takes (4 s here, twice T). */
static void test_slow_body(void **state)
{
    (void)state;
    int slow = open_from("127.0.0.1", D.port);
    assert_true(slow >= 0);
    char head[512];
    snprintf(head, sizeof(head),
             "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"events\":[",
             D.admin_key);
    assert_true(send_text(slow, head));
    char buf[1024];
    size_t len = 0;
    double t0 = harness_clock_s(), cut = 0;
    while (harness_clock_s() - t0 < HARNESS_HANG_S && cut == 0) { /* a hang detector */
        (void)send_text(slow, "                ");
        if (read_some(slow, buf, sizeof(buf), &len, 250) < 0) {
            cut = harness_clock_s() - t0;
        }
    }
    close(slow);
    fprintf(stderr, "# a body at 64 bytes/s cut at %.2f s\n", cut);
    assert_true(cut >= T_S - 0.3); /* not before T; how long after: printed */
    assert_non_null(strstr(buf, "HTTP/1.1 408 Request Timeout"));
    assert_non_null(strstr(buf, "request body arrived slower than"));

    /* 96 KiB at 24 KiB/s: its deadline stays ahead of it */
    enum { PIECE = 8192, PIECES = 12 };
    int steady = open_from("127.0.0.1", D.port);
    assert_true(steady >= 0);
    snprintf(head, sizeof(head),
             "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
             D.admin_key, PIECE * PIECES);
    assert_true(send_text(steady, head));
    char *piece = malloc(PIECE + 1);
    t0 = harness_clock_s();
    for (int i = 0; i < PIECES; i++) {
        memset(piece, ' ', PIECE);
        if (i == 0) {
            static const char first[] = "{\"events\":[{\"user_id\":\"u\",\"event\":\"e\"}";
            memcpy(piece, first, sizeof(first) - 1);
        }
        if (i == PIECES - 1) {
            memcpy(piece + PIECE - 2, "]}", 2);
        }
        piece[PIECE] = '\0';
        assert_true(send_text(steady, piece));
        sleep_ms(1000 * 4 / PIECES);
    }
    free(piece);
    len = 0;
    read_some(steady, buf, sizeof(buf), &len, HARNESS_HANG_S * 1000); /* a hang detector */
    close(steady);
    fprintf(stderr, "# a body at 24 KiB/s over %.2f s answered: %.12s\n", harness_clock_s() - t0,
            buf);
    assert_true(harness_clock_s() - t0 > T_S + 1);
    assert_true(strncmp(buf, "HTTP/1.1 200", 12) == 0);
}

/* What has no deadline is not cut: an SSE stream (a complete request, whose reply lasts), an
 * idle kept-alive connection (--conn-timeout, 30 s, as before). A connection that never sent a
 * byte is closed after T, silently (no 408 to a request that may be crossing it). */
static void test_not_cut(void **state)
{
    (void)state;
    json_decref(harness_call(D.port, "POST", "/api/v1/experiments", D.admin_key,
                             "{\"key\":\"nc\",\"variants\":[{\"key\":\"a\",\"value\":1},{\"key\":"
                             "\"b\",\"value\":2}],\"default_value\":0}",
                             201));
    json_decref(
        harness_call(D.port, "POST", "/api/v1/experiments/nc/start", D.admin_key, NULL, 200));
    char key[128];
    harness_sdk_key_named(D.port, D.admin_key, "nc", key, sizeof(key), NULL, 0);

    int sse = open_from("127.0.0.1", D.port);
    assert_true(sse >= 0);
    char req[256];
    snprintf(req, sizeof(req),
             "GET /sub/%s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", key);
    assert_true(send_text(sse, req));
    int kept = open_from("127.0.0.1", D.port);
    assert_true(kept >= 0);
    assert_true(send_text(kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    int silent = open_from("127.0.0.1", D.port);
    assert_true(silent >= 0);

    static char sbuf[1 << 16];
    char kbuf[2048], qbuf[256];
    size_t slen = 0, klen = 0, qlen = 0;
    assert_int_equal(read_some(kept, kbuf, sizeof(kbuf), &klen, 2000), 0);
    assert_true(strncmp(kbuf, "HTTP/1.1 200", 12) == 0);
    /* the stream and the kept-alive connection outlive T + 2 s (a minimum), and the silent
     * one is closed (the bound: a hang detector) */
    double t0 = harness_clock_s(), silent_cut = 0;
    while ((harness_clock_s() - t0 < T_S + 2 || silent_cut == 0) &&
           harness_clock_s() - t0 < HARNESS_HANG_S) {
        assert_int_equal(read_some(sse, sbuf, sizeof(sbuf), &slen, 100), 0);
        if (silent_cut == 0 && read_some(silent, qbuf, sizeof(qbuf), &qlen, 0) < 0) {
            silent_cut = harness_clock_s() - t0;
        }
    }
    assert_non_null(strstr(sbuf, "event: features"));
    /* the stream still carries a change */
    json_decref(harness_call(D.port, "PATCH", "/api/v1/experiments/nc", D.admin_key,
                             "{\"default_value\":7}", 200));
    size_t mark = slen;
    double t1 = harness_clock_s();
    while (strstr(sbuf + mark, "\"defaultValue\":7") == NULL &&
           harness_clock_s() - t1 < HARNESS_HANG_S) { /* a hang detector */
        assert_int_equal(read_some(sse, sbuf, sizeof(sbuf), &slen, 100), 0);
    }
    assert_non_null(strstr(sbuf + mark, "\"defaultValue\":7"));
    /* the kept-alive connection answers its next request */
    klen = 0;
    assert_true(send_text(kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_int_equal(read_some(kept, kbuf, sizeof(kbuf), &klen, 2000), 0);
    assert_true(strncmp(kbuf, "HTTP/1.1 200", 12) == 0);
    /* the silent one was closed without a word */
    fprintf(stderr, "# a connection that sent nothing closed at %.2f s\n", silent_cut);
    assert_true(silent_cut > 0);
    assert_int_equal(qlen, 0);
    close(sse);
    close(kept);
    close(silent);
}

/* 100 connections at once against --max-connections 16: every one is served in turn and the
 * daemon still answers after. Handed to MHD faster than its workers took them, the
 * connections over MHD's own per-worker cap hit a libmicrohttpd 0.9.75 defect that left the
 * worker's mutex locked, and both workers hung for good (review diff30 F1); the listener now
 * holds the cap itself, below MHD's. */
static void test_burst_at_cap(void **state)
{
    (void)state;
    enum { N = 100 };
    int fds[N];
    char got[N][64];
    size_t glen[N];
    bool done[N];
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < N; i++) {
        fds[i] = open_from("127.0.0.1", D.port);
        assert_true(fds[i] >= 0);
        assert_true(send_text(fds[i], req));
        glen[i] = 0;
        got[i][0] = '\0';
        done[i] = false;
    }
    int served = 0, closed = 0;
    for (double t0 = harness_clock_s();
         served + closed < N && harness_clock_s() - t0 < HARNESS_HANG_S; sleep_ms(20)) {
        for (int i = 0; i < N; i++) {
            if (!done[i] && read_some(fds[i], got[i], sizeof(got[i]), &glen[i], 0) < 0) {
                done[i] = true; /* the server closed it: after its reply, or without one */
                if (strncmp(got[i], "HTTP/1.1 200", 12) == 0) {
                    served++;
                } else {
                    closed++;
                }
            }
        }
    }
    fprintf(stderr, "# of %d connections at once: %d served, %d closed without a reply\n", N,
            served, closed);
    assert_int_equal(served, N); /* the cap makes them wait, it refuses none */
    for (int i = 0; i < N; i++) {
        close(fds[i]);
    }
    int st;
    json_decref(http_json(D.port, "GET", "/healthz", NULL, NULL, &st));
    assert_int_equal(st, 200);
}

/* Every slot held by kept-alive connections that each had a reply and now wait (a few
 * addresses repeating a request every 20 s held all 4,096: review hostile30 F2): at the cap
 * the daemon closes those idle for a second or more, and a new client is served long before
 * the idle timeout (30 s) would have freed a slot. */
static void test_idle_kept_alive_shed(void **state)
{
    (void)state;
    int fds[CONNS];
    char buf[CONNS][512];
    size_t len[CONNS];
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    /* read while slots are free (a /metrics request at the cap would wait for, and see, the
     * shedding) */
    double before = harness_metric_value(D.port, NULL, "bunsen_http_idle_connections_shed_total");
    for (int i = 0; i < CONNS; i++) {
        fds[i] = open_from("127.0.0.1", D.port);
        assert_true(fds[i] >= 0);
        assert_true(send_text(fds[i], req));
        len[i] = 0;
        buf[i][0] = '\0';
        /* answered and kept: the connection stays open */
        for (double t0 = harness_clock_s();
             strstr(buf[i], "\r\n\r\n") == NULL && harness_clock_s() - t0 < HARNESS_HANG_S;) {
            assert_int_equal(read_some(fds[i], buf[i], sizeof(buf[i]), &len[i], 100), 0);
        }
        assert_memory_equal(buf[i], "HTTP/1.1 200", 12);
    }
    sleep_ms(1200); /* idle for more than a second */
    int probe = open_from("127.0.0.1", D.port);
    assert_true(probe >= 0);
    assert_true(send_text(probe, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    char pbuf[512];
    size_t plen = 0;
    /* served once a slot is freed; the bound is a hang detector (without shedding: the
     * 30 s idle timeout, and no connection would have been shed) */
    (void)read_some(probe, pbuf, sizeof(pbuf), &plen, HARNESS_HANG_S * 1000);
    assert_memory_equal(pbuf, "HTTP/1.1 200", 12);
    close(probe);
    int shut = 0;
    for (int i = 0; i < CONNS; i++) {
        size_t n = len[i];
        shut += read_some(fds[i], buf[i], sizeof(buf[i]), &n, 0) < 0;
        close(fds[i]);
    }
    fprintf(stderr, "# %d of %d idle kept-alive connections closed for room\n", shut, CONNS);
    assert_true(shut >= 1);
    assert_true(harness_metric_value(D.port, NULL, "bunsen_http_idle_connections_shed_total") >=
                before + 1);
}

/* At the cap, connections that have sent nothing for a second are closed for room too (review
 * hostile31 F6: 200 silent connections held a 200-slot daemon, and a new client waited the
 * whole --request-timeout; reconnecting every few seconds held every slot at no cost). 16
 * silent connections on a 16-slot daemon, 1.2 s: a new client is served and the shed
 * counter rose (without: the client waited until the request timeout closed them, counted as
 * timeouts, and the counter stayed). The daemon's --request-timeout is 30 s, not D's 2 s: with
 * 2 s the probe had to come within [1 s, 2 s], which a stalled test process could miss
 * (review flaky34 F4). Then every connection closed, the open-connection gauge is back where it
 * was (none of the 17 left counted). */
static void test_silent_new_shed(void **state)
{
    (void)state;
    struct daemon S;
    const char *const extra[] = {
        "--request-timeout", "30", "--max-connections", "16", "--threads", "2", NULL};
    assert_int_equal(daemon_start(&S, extra), 0);
    int fds[CONNS];
    double before = harness_metric_value(S.port, NULL, "bunsen_http_idle_connections_shed_total");
    /* what is open already (the request reading it; connections of the tests before that the
     * daemon has not closed yet) */
    double base = harness_metric_value(S.port, NULL, "bunsen_http_connections_open");
    for (int i = 0; i < CONNS; i++) {
        fds[i] = open_from("127.0.0.1", S.port);
        assert_true(fds[i] >= 0);
    }
    sleep_ms(1200); /* silent for more than a second */
    int probe = open_from("127.0.0.1", S.port);
    assert_true(probe >= 0);
    assert_true(send_text(probe, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    char pbuf[512];
    size_t plen = 0;
    (void)read_some(probe, pbuf, sizeof(pbuf), &plen, HARNESS_HANG_S * 1000); /* hang detector */
    assert_memory_equal(pbuf, "HTTP/1.1 200", 12);
    close(probe);
    for (int i = 0; i < CONNS; i++) {
        close(fds[i]);
    }
    assert_true(harness_metric_value(S.port, NULL, "bunsen_http_idle_connections_shed_total") >=
                before + 1);
    double open = -1;
    for (int i = 0; i < 200 && !(open >= 1 && open <= base); i++) { /* the closes arrive */
        open = harness_metric_value(S.port, NULL, "bunsen_http_connections_open");
        if (!(open >= 1 && open <= base)) {
            sleep_ms(50);
        }
    }
    fprintf(stderr, "# connections open before: %.0f, once the clients closed: %.0f\n", base, open);
    assert_true(open >= 1 && open <= base); /* none left counted */
    /* every connection handed to MHD was started (its started notification ended the
     * hand-over, review diff31 F3): none is left pending to be taken for dropped */
    assert_true(harness_metric_value(S.port, NULL, "bunsen_http_connections_pending") == 0);
    assert_int_equal(harness_stop(&S), 0);
}

/* The default per-IP cap of 256 (it was off, and 4,200 trickling connections from one address
 * delayed others' new connections by up to 9.6 s; behind a load balancer it is raised): 300
 * half-open requests from one address leave 44 closed at once, while another address is
 * served (and that one gets nothing more); /metrics counts the refusals. */
static void test_per_ip_cap(void **state)
{
    (void)state;
    enum { N = 300, CAP = 256 };
    static int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = open_from("127.0.0.2", BIG.port);
        assert_true(fds[i] >= 0);
        (void)send_text(fds[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    }
    /* the daemon closes the 44 over the cap as it takes them: wait until it has (a hang
     * detector bounds it), then none more is closed (the others wait for their headers up to
     * the default --request-timeout, 10 s) */
    static bool gone[N];
    int closed = 0;
    for (double t0 = harness_clock_s(); closed < N - CAP && harness_clock_s() - t0 < HARNESS_HANG_S;
         sleep_ms(20)) {
        for (int i = 0; i < N; i++) {
            char b[64];
            size_t n = 0;
            if (!gone[i] && read_some(fds[i], b, sizeof(b), &n, 0) < 0) {
                gone[i] = true;
                closed++;
            }
        }
    }
    fprintf(stderr, "# %d of %d connections from one address closed at once\n", closed, N);
    assert_int_equal(closed, N - CAP);
    for (int i = 0; i < 5; i++) {
        int st;
        json_decref(http_json(BIG.port, "GET", "/healthz", NULL, NULL, &st));
        assert_int_equal(st, 200); /* from 127.0.0.1 */
    }
    int more = open_from("127.0.0.2", BIG.port);
    assert_true(more >= 0);
    (void)send_text(more, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    char b[64];
    size_t n = 0;
    assert_int_equal(read_some(more, b, sizeof(b), &n, HARNESS_HANG_S * 1000), -1); /* closed */
    assert_int_equal(n, 0);
    close(more);
    /* each closed at acceptance is counted (listener.c), beside every connection accepted */
    assert_true(harness_metric_value(BIG.port, NULL, "bunsen_http_connections_refused_total") ==
                N - CAP + 1);
    assert_true(harness_metric_value(BIG.port, NULL, "bunsen_http_connections_accepted_total") >=
                N + 1 + 5);
    for (int i = 0; i < N; i++) {
        close(fds[i]);
    }
    assert_int_equal(daemon_stop(&BIG), 0);
}

/* On a dual-stack socket (--listen ::) an IPv4 client arrives as ::ffff:a.b.c.d: it counts as
 * its IPv4 address, not in one /64 with every other IPv4 client (listener.c counts IPv6
 * clients per /64). 4 allowed: the fifth from 127.0.0.2 is closed at once, 127.0.0.3's four
 * are served meanwhile. */
static void test_per_ip_cap_dual_stack(void **state)
{
    (void)state;
    struct daemon v6 = {0};
    const char *const extra[] = {"--listen", "::", "--per-ip-connections", "4", NULL};
    if (daemon_start(&v6, extra) != 0) { /* a kernel without IPv6 */
        daemon_cleanup(&v6);
        skip();
    }
    int a[5], b[4];
    for (int i = 0; i < 4; i++) {
        a[i] = open_from("127.0.0.2", v6.port);
        assert_true(a[i] >= 0);
        (void)send_text(a[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    }
    a[4] = open_from("127.0.0.2", v6.port);
    assert_true(a[4] >= 0);
    (void)send_text(a[4], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    char buf[512];
    size_t n = 0;
    assert_int_equal(read_some(a[4], buf, sizeof(buf), &n, HARNESS_HANG_S * 1000), -1);
    assert_int_equal(n, 0); /* closed without a reply */
    for (int i = 0; i < 4; i++) {
        b[i] = open_from("127.0.0.3", v6.port);
        assert_true(b[i] >= 0);
        (void)send_text(b[i], "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    }
    for (int i = 0; i < 4; i++) {
        n = 0;
        (void)read_some(b[i], buf, sizeof(buf), &n, HARNESS_HANG_S * 1000);
        if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
            fail_msg("127.0.0.3's connection %d: '%.40s'", i, buf);
        }
        close(b[i]);
    }
    assert_true(harness_metric_value(v6.port, NULL, "bunsen_http_connections_refused_total") == 1);
    for (int i = 0; i < 5; i++) {
        close(a[i]);
    }
    daemon_cleanup(&v6);
}

/* A connection from 127.0.0.1 whose receive buffer is as small as the kernel allows (set
 * before connect: the window it offers), or -1. */
static int open_small_window(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int rcv = 1024;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) != 0 ||
        connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Wait (at most 10 s) until the gauge of unsent replies is over (above) or at most (!above)
 * the bytes given: its last value. */
static double wait_reply_bytes(int port, bool above, double bytes)
{
    double v = -1;
    for (int i = 0; i < 200; i++) {
        v = harness_metric_value(port, NULL, "bunsen_http_reply_bytes");
        if (above ? v > bytes : (v >= 0 && v <= bytes)) {
            break;
        }
        sleep_ms(50);
    }
    return v;
}

enum { NV = 100000 }; /* values of the saved group "big": a reply of ~6.1 MB */

/* The saved group "big" on d, whose reply is a slow read of ~6.1 MB. */
static void make_big_group(struct daemon *d)
{
    size_t cap = (size_t)NV * 64 + 128, len = 0;
    char *body = malloc(cap);
    assert_non_null(body);
    len += (size_t)snprintf(body + len, cap - len,
                            "{\"key\":\"big\",\"attribute\":\"id\",\"values\":[");
    for (int i = 0; i < NV; i++) {
        len += (size_t)snprintf(body + len, cap - len, "%s\"%058d\"", i ? "," : "", i);
    }
    snprintf(body + len, cap - len, "]}");
    json_decref(harness_call(d->port, "POST", "/api/v1/saved-groups", d->admin_key, body, 201));
    free(body);
}

/* n connections that ask for "big" with key and never read (their fds in fds). */
static void open_non_readers(struct daemon *d, const char *key, int *fds, int n)
{
    const char *req = fmt("GET /api/v1/saved-groups/big HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: Bearer %s\r\n\r\n",
                          key);
    for (int i = 0; i < n; i++) {
        fds[i] = open_small_window(d->port);
        assert_true(fds[i] >= 0);
        assert_true(send_text(fds[i], req));
    }
}

/* Unsent replies have a memory budget (review hostile30 F1, RELIABILITY.md AR): clients that
 * ask for a 6 MB saved group and do not read hold its whole rendered reply; over
 * --max-reply-memory 1 (MiB) the same read is refused 503 + Retry-After, while /healthz, reads
 * that are not slow reads and writes answer; once the readers have gone the gauge falls back
 * and the read answers 200. Without the budget the read answered 200 and the memory grew
 * with every reader. */
static void test_reply_memory_budget(void **state)
{
    (void)state;
    struct daemon R;
    const char *const extra[] = {"--max-reply-memory", "1", "--threads", "2", NULL};
    assert_int_equal(daemon_start(&R, extra), 0);
    enum { SLOW = 3 };
    make_big_group(&R);
    assert_true(harness_metric_value(R.port, NULL, "bunsen_http_reply_bytes") == 0);
    double refused0 = harness_metric_value(R.port, NULL, "bunsen_http_reply_memory_refused_total");
    assert_true(refused0 == 0);

    /* readers that ask and never read */
    int slow[SLOW];
    open_non_readers(&R, R.admin_key, slow, SLOW);
    double held = wait_reply_bytes(R.port, true, 1024.0 * 1024);
    fprintf(stderr, "# %d readers not reading hold %.1f MiB of replies\n", SLOW,
            held / (1024.0 * 1024));
    assert_true(held > 1024.0 * 1024);

    /* the same read on a fresh connection: refused, with a wait and a reason */
    struct resp r;
    assert_int_equal(http_req(R.port, "GET", "/api/v1/saved-groups/big", R.admin_key, NULL, &r), 0);
    assert_int_equal(r.status, 503);
    char ra[16];
    assert_true(resp_header(&r, "Retry-After", ra, sizeof(ra)));
    assert_string_equal(ra, "2");
    assert_string_equal(resp_error_code(&r), "unavailable");
    assert_non_null(strstr(r.body, "--max-reply-memory 1 MiB"));
    resp_free(&r);
    assert_true(harness_metric_value(R.port, NULL, "bunsen_http_reply_memory_refused_total") >
                refused0);
    /* what is not a slow read answers, and a write (its reply must go out) */
    assert_int_equal(http_status(R.port, "GET", "/healthz", NULL, NULL), 200);
    assert_int_equal(http_status(R.port, "GET", "/api/v1/me", R.admin_key, NULL), 200);
    assert_int_equal(http_status(R.port, "POST", "/api/v1/saved-groups", R.admin_key,
                                 "{\"key\":\"small\",\"attribute\":\"id\",\"values\":[\"a\"]}"),
                     201);

    /* the readers go: their replies are freed, and the read answers again */
    for (int i = 0; i < SLOW; i++) {
        close(slow[i]);
    }
    assert_true(wait_reply_bytes(R.port, false, 0) == 0);
    assert_int_equal(http_req(R.port, "GET", "/api/v1/saved-groups/big", R.admin_key, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.body_len > (size_t)NV * 58);
    resp_free(&r);
    assert_true(harness_metric_value(R.port, NULL, "bunsen_http_reply_bytes") == 0);
    assert_int_equal(harness_stop(&R), 0);
}

/* One key's non-reading clients may hold at most a quarter of the budget (review diff31 F8):
 * with --max-reply-memory 64, three readers of "big" with the admin key hold ~18 MB, over
 * the key's 16 MiB, and the admin's next read is refused (naming the key's share) while a
 * viewer key's read of the same group answers; without the share both answered until the
 * one key held all 64 MiB. */
static void test_reply_memory_key_share(void **state)
{
    (void)state;
    struct daemon R;
    const char *const extra[] = {"--max-reply-memory", "64", "--threads", "2", NULL};
    assert_int_equal(daemon_start(&R, extra), 0);
    make_big_group(&R);
    json_t *k = harness_call(R.port, "POST", "/api/v1/keys", R.admin_key,
                             "{\"name\":\"reader\",\"role\":\"viewer\"}", 201);
    char viewer[128];
    snprintf(viewer, sizeof(viewer), "%s", json_string_value(json_object_get(k, "key")));
    json_decref(k);
    enum { SLOW = 3 };
    int slow[SLOW];
    open_non_readers(&R, R.admin_key, slow, SLOW);
    double held = wait_reply_bytes(R.port, true, 16.0 * 1024 * 1024);
    fprintf(stderr, "# one key's %d readers not reading hold %.1f MiB\n", SLOW,
            held / (1024.0 * 1024));
    assert_true(held > 16.0 * 1024 * 1024 && held < 64.0 * 1024 * 1024);
    struct resp r;
    assert_int_equal(http_req(R.port, "GET", "/api/v1/saved-groups/big", R.admin_key, NULL, &r), 0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "this key's replies"));
    resp_free(&r);
    assert_int_equal(http_req(R.port, "GET", "/api/v1/saved-groups/big", viewer, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    for (int i = 0; i < SLOW; i++) {
        close(slow[i]);
    }
    assert_true(wait_reply_bytes(R.port, false, 0) == 0);
    assert_int_equal(http_status(R.port, "GET", "/api/v1/saved-groups/big", R.admin_key, NULL),
                     200);
    assert_int_equal(harness_stop(&R), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trickled_headers),
        cmocka_unit_test(test_slow_body),
        cmocka_unit_test(test_not_cut),
        cmocka_unit_test(test_burst_at_cap),
        cmocka_unit_test(test_idle_kept_alive_shed),
        cmocka_unit_test(test_silent_new_shed),
        cmocka_unit_test(test_per_ip_cap),
        cmocka_unit_test(test_per_ip_cap_dual_stack),
        cmocka_unit_test(test_reply_memory_budget),
        cmocka_unit_test(test_reply_memory_key_share),
    };
    return cmocka_run_group_tests_name("api_slow_clients", tests, setup, teardown);
}
