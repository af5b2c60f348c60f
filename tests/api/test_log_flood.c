/*
 * test_log_flood.c - one unauthenticated client cannot make the log grow with its requests
 * (rev-sec2 4): libmicrohttpd's warnings (two ~440-byte lines for a 50-byte request with
 * "Content-Length: 1x") are written once per kind per 10 s, and the access-log lines of
 * 429s once per rate-limit class per 10 s, the next one carrying the count not logged, or
 * a line of its own at the window's end or at exit (the metrics still count every request). A
 * daemon with --rate-limit-ip 5, its stderr read.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;

static int setup(void **state)
{
    (void)state;
    const char *const args[] = {"--rate-limit-ip", "5", "--log-level", "info", NULL};
    return daemon_start(&D, args);
}

static int teardown(void **state)
{
    (void)state;
    if (D.pid > 0) {
        return harness_stop(&D);
    }
    daemon_cleanup(&D); /* stopped by the test */
    return 0;
}

/* Lines of the daemon's log holding every one of the (NULL-ended) needles. */
static int log_lines_with(const char *a, const char *b)
{
    char *log = slurp(fmt("%s/stderr.log", D.dir));
    int n = 0;
    for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        n += strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL);
    }
    free(log);
    return n;
}

static void test_mhd_warnings_limited(void **state)
{
    (void)state;
    const char raw[] = "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n";
    for (int i = 0; i < 40; i++) {
        struct resp r;
        assert_int_equal(http_raw(D.port, raw, sizeof(raw) - 1, &r), 0);
        assert_int_equal(r.status, 400);
        resp_free(&r);
    }
    sleep_ms(200);
    int lines = log_lines_with("\"msg\":\"libmicrohttpd\"", NULL);
    if (lines < 1 || lines > 4) {
        fail_msg("%d libmicrohttpd lines for 40 bad requests (want 1 to 4: one per kind)", lines);
    }
}

/* Requests until `want` 429s came back; returns the 429s. */
static int refuse(int want)
{
    int refused = 0;
    for (int i = 0; i < 200 && refused < want; i++) {
        struct resp r;
        assert_int_equal(http_req(D.port, "GET", "/healthz", NULL, NULL, &r), 0);
        refused += r.status == 429;
        resp_free(&r);
    }
    assert_int_equal(refused, want);
    return refused;
}

static void test_429_lines_limited(void **state)
{
    (void)state;
    int before = log_lines_with("\"status\":429", NULL);
    refuse(50);
    sleep_ms(200);
    int lines = log_lines_with("\"status\":429", NULL) - before;
    if (lines != 1) {
        char *log = slurp(fmt("%s/stderr.log", D.dir));
        fail_msg("%d access-log lines for 50 429s (want 1 per class and 10 s): %.3000s", lines,
                 log);
    }
    /* the metrics counted every one */
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", "/metrics", D.admin_key, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    const char *line = strstr(r.body, "route=\"/healthz\",method=\"GET\",code=\"429\"}");
    assert_non_null(line);
    assert_int_equal(atoi(strchr(line, '}') + 1), 50);
    resp_free(&r);
    /* No 429 follows to carry the count of the 49 not logged: the daemon writes it when the
     * window is over (once a second) or, as here, at exit. (That the next window's line
     * carries it instead is tests/unit/test_log.c's, with its clock.) */
    assert_int_equal(daemon_stop(&D), 0);
    assert_int_equal(log_lines_with("\"msg\":\"log lines not written\"",
                                    "\"kind\":\"access log: 429 (address)\",\"not_logged\":49"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mhd_warnings_limited),
        cmocka_unit_test(test_429_lines_limited),
    };
    return cmocka_run_group_tests_name("api_log_flood", tests, setup, teardown);
}
