/*
 * API tests for /metrics (issue 16; split from test_ops.c): the exposition carries the
 * process_* gauges and bunsen_build_info with the schema, hides per-experiment series from
 * anonymous scrapers and, with --metrics-auth key, needs a reader key; each experiment keeps
 * its own assignment series across reloads and the series index's growth. test_prom.c: the
 * process gauges' values. The other operations tests: test_ops_backup.c, test_ops_signals.c,
 * test_ops_files.c, test_ops_guard.c, test_ops_disk.c.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *scrape(int port, const char *key, int *status)
{
    struct resp r;
    assert_int_equal(http_req(port, "GET", "/metrics", key, NULL, &r), 0);
    *status = r.status;
    char *body = strdup(r.body ? r.body : "");
    resp_free(&r);
    return body;
}

static void test_metrics(void **state)
{
    (void)state;
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    int st = 0;
    json_decref(http_json(
        d.port, "POST", "/api/v1/experiments", d.admin_key,
        "{\"key\":\"secret-launch\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}", &st));
    json_decref(http_json(d.port, "POST", "/api/v1/experiments/secret-launch/start", d.admin_key,
                          NULL, &st));
    json_decref(
        http_json(d.port, "POST", "/api/v1/assign", d.admin_key, "{\"user_id\":\"u1\"}", &st));
    /* requests no route took: labelled as sent, not as static GETs */
    assert_int_equal(http_status(d.port, "POST", "/healthz", NULL, NULL), 405);
    assert_int_equal(http_status(d.port, "PROPFIND", "/", NULL, NULL), 405);
    assert_int_equal(http_status(d.port, "GET", "/api/v1/nope", NULL, NULL), 404);
    char viewer[80], sdk[80];
    harness_key(&d, "viewer", viewer, sizeof(viewer), NULL, 0);
    harness_key(&d, "sdk", sdk, sizeof(sdk), NULL, 0);
    char *pub = scrape(d.port, NULL, &st);
    assert_int_equal(st, 200);
    static const char *const families[] = {"\nprocess_cpu_seconds_total ",
                                           "\nprocess_resident_memory_bytes ",
                                           "\nprocess_virtual_memory_bytes ",
                                           "\nprocess_open_fds ",
                                           "\nprocess_max_fds ",
                                           "\nprocess_start_time_seconds "};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        if (strstr(pub, families[i]) == NULL) {
            fail_msg("/metrics lacks%s", families[i]);
        }
    }
    /* bunsen_build_info names the newest schema the binary has for its backend: builds of
     * one version differ by it (rev-ops28 2) */
    const char *build = strstr(pub, "\nbunsen_build_info{version=\"");
    assert_non_null(build);
    const char *eol = strchr(build + 1, '\n');
    const char *schema = strstr(build, fmt(",schema=\"%d\"} 1\n", harness_schema_newest()));
    if (schema == NULL || eol == NULL || schema + 1 > eol) {
        fail_msg("bunsen_build_info without schema=\"%d\": %.*s", harness_schema_newest(),
                 eol != NULL ? (int)(eol - build - 1) : 80, build + 1);
    }
    double rss = atof(strstr(pub, "\nprocess_resident_memory_bytes ") + 31);
    assert_true(rss > 1e6);
    double start = atof(strstr(pub, "\nprocess_start_time_seconds ") + 28);
    double now = (double)time(NULL);
    assert_true(start > now - 120 && start <= now + 1); /* this daemon started just now */
    /* the same value in every scrape (computed per scrape from two clocks, it jittered) */
    const char *line = strstr(pub, "\nprocess_start_time_seconds ");
    char first[80];
    snprintf(first, sizeof(first), "%.*s", (int)strcspn(line + 1, "\n"), line + 1);
    for (int i = 0; i < 10; i++) {
        char *again = scrape(d.port, NULL, &st);
        const char *l = strstr(again, "\nprocess_start_time_seconds ");
        assert_non_null(l);
        if (strncmp(l + 1, first, strlen(first)) != 0 || l[1 + strlen(first)] != '\n') {
            fail_msg("scrape %d: '%.*s', first '%s'", i, (int)strcspn(l + 1, "\n"), l + 1, first);
        }
        free(again);
    }
    static const char *const unmatched[] = {
        "route=\"unmatched\",method=\"POST\",code=\"405\"} 1",
        "route=\"unmatched\",method=\"other\",code=\"405\"} 1",
        "route=\"unmatched\",method=\"GET\",code=\"404\"} 1",
        "bunsen_http_request_duration_seconds_count{route=\"unmatched\",method=\"POST\"} 1"};
    for (size_t i = 0; i < sizeof(unmatched) / sizeof(unmatched[0]); i++) {
        if (strstr(pub, unmatched[i]) == NULL) {
            fail_msg("/metrics lacks %s", unmatched[i]);
        }
    }
    assert_null(strstr(pub, "route=\"static\",method=\"GET\",code=\"405\""));
    /* anonymous: no experiment keys; an sdk key is not a reader either */
    assert_null(strstr(pub, "secret-launch"));
    assert_non_null(strstr(pub, "bunsen_assignments_total{reason=\"hashed\"} 1"));
    free(pub);
    char *s = scrape(d.port, sdk, &st);
    assert_int_equal(st, 200);
    assert_null(strstr(s, "secret-launch"));
    free(s);
    char *v = scrape(d.port, viewer, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(v, "experiment=\"secret-launch\""));
    free(v);
    /* a bad key is refused, not treated as anonymous */
    free(scrape(d.port, "bsn_not_a_key", &st));
    assert_int_equal(st, 401);
    assert_int_equal(daemon_stop(&d), 0);
    /* --metrics-auth key: a reader key is required */
    const char *const args[] = {"--metrics-auth", "key", NULL};
    assert_int_equal(daemon_restart(&d, args), 0);
    free(scrape(d.port, NULL, &st));
    assert_int_equal(st, 401);
    struct resp r;
    char challenge[64] = "";
    assert_int_equal(http_req(d.port, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_true(resp_header(&r, "WWW-Authenticate", challenge, sizeof(challenge)));
    assert_string_equal(challenge, "Bearer realm=\"bunsen\"");
    resp_free(&r);
    free(scrape(d.port, sdk, &st));
    assert_int_equal(st, 403);
    v = scrape(d.port, viewer, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(v, "process_open_fds"));
    free(v);
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

/* The per-experiment assignment counters are found by key at every reload (prom.c's index,
 * which grows past 32 experiments): each experiment keeps its own series, across reloads and
 * across the index's growth, and no series is doubled. */
static void test_metrics_per_experiment(void **state)
{
    (void)state;
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    enum { NEXP = 70 };
    int st = 0;
    for (int i = 0; i < NEXP; i++) {
        json_decref(http_json(d.port, "POST", "/api/v1/experiments", d.admin_key,
                              fmt("{\"key\":\"pe-%02d\",\"variants\":[{\"key\":\"a\"},{"
                                  "\"key\":\"b\"}]}",
                                  i),
                              &st));
        assert_int_equal(st, 201);
        json_decref(http_json(d.port, "POST", fmt("/api/v1/experiments/pe-%02d/start", i),
                              d.admin_key, NULL, &st));
        assert_int_equal(st, 200);
        /* experiment i is decided i % 5 + 1 times before all of them exist, once after */
        for (int k = 0; k <= i % 5; k++) {
            json_decref(http_json(d.port, "POST", "/api/v1/assign", d.admin_key,
                                  fmt("{\"user_id\":\"u%d\",\"experiments\":[\"pe-%02d\"]}", k, i),
                                  &st));
            assert_int_equal(st, 200);
        }
    }
    json_decref(
        http_json(d.port, "POST", "/api/v1/assign", d.admin_key, "{\"user_id\":\"z\"}", &st));
    assert_int_equal(st, 200);
    char *m = scrape(d.port, d.admin_key, &st);
    assert_int_equal(st, 200);
    for (int i = 0; i < NEXP; i++) {
        char prefix[120];
        snprintf(prefix, sizeof(prefix), "bunsen_assignments_total{experiment=\"pe-%02d\",", i);
        double total = 0;
        int lines = 0;
        for (const char *p = strstr(m, prefix); p != NULL; p = strstr(p + 1, prefix)) {
            const char *reason = p + strlen(prefix);
            total += atof(strchr(reason, ' ') + 1);
            lines++;
            if (strncmp(reason, "reason=\"hashed\"}", 16) != 0 &&
                strncmp(reason, "reason=\"coverage\"}", 18) != 0) {
                fail_msg("pe-%02d: %.*s", i, (int)strcspn(p, "\n"), p);
            }
        }
        if (total != i % 5 + 2 || lines < 1 || lines > 2) {
            fail_msg("pe-%02d: %g decisions in %d series, want %d", i, total, lines, i % 5 + 2);
        }
    }
    free(m);
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

/* Requests framing refuses before routing (431, 400 for two Host headers): counted and logged
 * under the route and method sent. They were a static GET whatever was sent (ops26 finding 1):
 * a POST to /api/v1/events hid among dashboard files. */
static void test_metrics_framing_refusals(void **state)
{
    (void)state;
    struct daemon d;
    const char *const extra[] = {"--log-level", "info", NULL};
    assert_int_equal(daemon_start(&d, extra), 0);
    static char raw[32768];
    int n = snprintf(raw, sizeof(raw),
                     "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 2\r\n");
    for (int i = 0; i < 5; i++) {
        n += snprintf(raw + n, sizeof(raw) - (size_t)n, "X-%d: ", i);
        memset(raw + n, 'b', 4000);
        n += 4000;
        n += snprintf(raw + n, sizeof(raw) - (size_t)n, "\r\n");
    }
    snprintf(raw + n, sizeof(raw) - (size_t)n, "\r\n{}");
    struct resp r;
    assert_int_equal(http_raw(d.port, raw, strlen(raw), &r), 0);
    assert_int_equal(r.status, 431);
    resp_free(&r);
    const char *dup = "DELETE /api/v1/nope HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n";
    assert_int_equal(http_raw(d.port, dup, strlen(dup), &r), 0);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    int st = 0;
    char *pub = scrape(d.port, NULL, &st);
    assert_int_equal(st, 200);
    static const char *const want[] = {"route=\"/api/v1/events\",method=\"POST\",code=\"431\"} 1",
                                       "route=\"unmatched\",method=\"DELETE\",code=\"400\"} 1"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(pub, want[i]) == NULL) {
            fail_msg("/metrics lacks %s", want[i]);
        }
    }
    assert_null(strstr(pub, "route=\"static\",method=\"GET\",code=\"431\""));
    assert_null(strstr(pub, "route=\"static\",method=\"GET\",code=\"400\""));
    free(pub);
    assert_int_equal(daemon_stop(&d), 0);
    char *log = slurp(fmt("%s/stderr.log", d.dir));
    assert_non_null(log);
    if (strstr(log, "\"method\":\"POST\",\"route\":\"/api/v1/events\",\"status\":431") == NULL ||
        strstr(log, "\"method\":\"DELETE\",\"route\":\"unmatched\",\"status\":400") == NULL) {
        fail_msg("the access log does not label the refusals as sent: %.4000s", log);
    }
    free(log);
    daemon_cleanup(&d);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_metrics_per_experiment),
        cmocka_unit_test(test_metrics_framing_refusals),
    };
    return cmocka_run_group_tests_name("api_ops_metrics", tests, NULL, NULL);
}
