/*
 * Roll-up rebuilds beside ingestion (issue 12, store.h "Rebuilds beside ingestion").
 *
 * A small population with a forced tiny chunk (--rebuild-chunk 2) and a pause after each
 * chunk, so that a rebuild lasts long enough to write into:
 * - a metric edit answers at once; results then carry "rebuilding": {"progress"} and the
 *   last complete numbers; events and exposures keep committing (every one a 2xx), for users
 *   on both sides of the cursor and for new users; when the rebuild is over, the results
 *   equal a recompute from every raw row sent (users exact, sums 1e-9); /metrics showed
 *   the rebuild;
 * - kill -9 in the middle of a rebuild: after the restart it continues from the committed
 *   cursor (users_done does not go back) and ends with the same exact equality.
 */
#include "calls.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;
static char sdk[64];

#define HOUR   3600000LL
#define MINUTE 60000LL
#define MAXU   100
#define MAXE   16

static const char *const ARGS[] = {"--rebuild-chunk", "2", "--rebuild-pause-ms", "40", NULL};

/* What the test sent: the raw rows a full recompute starts from. */
static struct {
    int64_t x_ts;
    int variant; /* 0 control, 1 green */
    int nev;
    int64_t ev[MAXE];
} U[MAXU];
static int nusers;
static int64_t t_base;

static void expose(int u)
{
    json_decref(call_as(sdk, "POST", "/api/v1/exposures",
                        fmt("{\"exposures\":[{\"experiment\":\"rb\",\"user_id\":\"u%03d\","
                            "\"variant\":\"%s\",\"ts\":%lld}]}",
                            u, U[u].variant ? "green" : "control", (long long)U[u].x_ts),
                        200));
}

static void event(int u, int64_t offset)
{
    int64_t ts = U[u].x_ts + offset;
    json_decref(call_as(sdk, "POST", "/api/v1/events",
                        fmt("{\"events\":[{\"user_id\":\"u%03d\",\"event\":\"buy\",\"ts\":%lld}]}",
                            u, (long long)ts),
                        200));
    U[u].ev[U[u].nev++] = ts;
}

static void add_user(int u)
{
    U[u].x_ts = t_base + u * MINUTE;
    U[u].variant = u % 2;
    U[u].nev = 0;
    expose(u);
    if (u >= nusers) {
        nusers = u + 1;
    }
}

static json_t *results(void)
{
    return call("GET", "/api/v1/experiments/rb/results", NULL, 200);
}

/* -1 when not rebuilding, else the progress; *done the users rebuilt. */
static double rebuilding(long long *done)
{
    json_t *r = results();
    const json_t *rb = json_object_get(r, "rebuilding");
    double p = rb ? json_number_value(json_object_get(rb, "progress")) : -1;
    if (done != NULL) {
        *done = rb ? json_integer_value(json_object_get(rb, "users_done")) : -1;
    }
    json_decref(r);
    return p;
}

/* The results of metric "m" (count) equal a recompute from the rows sent: window_h 0 = no
 * window. Users exact, sums 1e-9, standard deviations 1e-9 relative. */
static void check_exact(int64_t window_h)
{
    double n[2] = {0, 0}, s[2] = {0, 0}, q[2] = {0, 0};
    for (int u = 0; u < nusers; u++) {
        double y = 0;
        for (int k = 0; k < U[u].nev; k++) {
            int64_t t = U[u].ev[k];
            if (t >= U[u].x_ts && (window_h == 0 || t < U[u].x_ts + window_h * HOUR)) {
                y += 1;
            }
        }
        n[U[u].variant] += 1;
        s[U[u].variant] += y;
        q[U[u].variant] += y * y;
    }
    json_t *r = results();
    assert_null(json_object_get(r, "rebuilding"));
    const json_t *vars =
        json_object_get(json_array_get(json_object_get(r, "metrics"), 0), "variants");
    assert_int_equal(json_array_size(vars), 2);
    for (int v = 0; v < 2; v++) {
        const json_t *o = json_array_get(vars, (size_t)v);
        long long users = json_integer_value(json_object_get(o, "users"));
        double sum = json_number_value(json_object_get(o, "sum"));
        double sd = json_number_value(json_object_get(o, "stddev"));
        double want_sd = sqrt((q[v] - s[v] * s[v] / n[v]) / (n[v] - 1));
        if (users != (long long)n[v] || fabs(sum - s[v]) > 1e-9 ||
            fabs(sd - want_sd) > 1e-9 * (want_sd > 1 ? want_sd : 1)) {
            fail_msg("variant %d: users %lld sum %.17g sd %.17g; recompute: %g %.17g %.17g", v,
                     users, sum, sd, n[v], s[v], want_sd);
        }
    }
    /* exposure counts (SRM) too */
    const json_t *ev = json_object_get(r, "variants");
    long long total = 0;
    for (size_t i = 0; i < json_array_size(ev); i++) {
        total += json_integer_value(json_object_get(json_array_get(ev, i), "users"));
    }
    assert_int_equal(total, nusers);
    json_decref(r);
}

static int setup(void **state)
{
    (void)state;
    if (harness_start_with_key(&D, ARGS, sdk, sizeof(sdk)) != 0) {
        return -1;
    }
    calls_use(&D);
    harness_metric(D.port, D.admin_key,
                   "{\"key\":\"m\",\"event\":\"buy\",\"type\":\"count\","
                   "\"cuped_lookback_hours\":0}");
    harness_started_experiment(
        D.port, D.admin_key, "rb",
        "{\"key\":\"rb\",\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}],"
        "\"metrics\":[\"m\"]}");
    t_base = harness_wall_ms() - 48 * HOUR;
    for (int u = 0; u < 60; u++) {
        add_user(u);
        for (int j = 0; j <= u % 5; j++) {
            event(u, j * 37 * MINUTE);
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static void test_rows_during_rebuild(void **state)
{
    (void)state;
    check_exact(0);
    json_t *before = results();
    json_decref(call("PATCH", "/api/v1/metrics/m", "{\"window_hours\":2}", 200));
    /* answered at once; the results are the last complete ones, marked */
    json_t *during = results();
    const json_t *rb = json_object_get(during, "rebuilding");
    assert_non_null(rb);
    double p0 = json_number_value(json_object_get(rb, "progress"));
    assert_true(p0 >= 0 && p0 < 1);
    assert_true(json_equal(json_array_get(json_object_get(before, "metrics"), 0),
                           json_array_get(json_object_get(during, "metrics"), 0)));
    json_decref(before);
    json_decref(during);
    struct resp m;
    assert_int_equal(http_req(D.port, "GET", "/metrics", D.admin_key, NULL, &m), 0);
    assert_non_null(strstr(m.body, "bunsen_rollup_rebuild_progress{experiment=\"rb\"}"));
    assert_non_null(strstr(m.body, "bunsen_rollup_rebuilds 1"));
    resp_free(&m);
    /* rows arriving mid-rebuild: every user (on both sides of the cursor), new users; start
     * once a few chunks are done */
    long long done = 0;
    for (int i = 0; i < 300 && done < 6; i++) {
        assert_true(rebuilding(&done) >= 0);
        sleep_ms(10);
    }
    int mid = 0;
    for (int u = 0; u < 60; u++) {
        event(u, 10 * MINUTE);
        if (u % 3 == 0) {
            event(u, 5 * HOUR); /* outside the new window */
        }
        if (u % 10 == 0) {
            double p = rebuilding(NULL);
            print_message("# progress %.2f at user %d\n", p, u);
            mid += p > 0 && p < 1;
            add_user(60 + u / 10);
            event(60 + u / 10, 30 * MINUTE);
        }
    }
    print_message("# %d of 6 progress probes saw the rebuild under way\n", mid);
    assert_true(mid >= 1);
    wait_rebuilt("rb");
    check_exact(2);
}

/* A display-only edit (the metric's name) rebuilds nothing: the results are never marked
 * rebuilding (every experiment using the metric was rebuilt for a new name). */
static void test_rename_rebuilds_nothing(void **state)
{
    (void)state;
    wait_rebuilt("rb");
    json_decref(call("PATCH", "/api/v1/metrics/m", "{\"name\":\"Renamed\"}", 200));
    json_t *after = results();
    assert_null(json_object_get(after, "rebuilding"));
    json_decref(after);
    struct resp m;
    assert_int_equal(http_req(D.port, "GET", "/metrics", D.admin_key, NULL, &m), 0);
    assert_non_null(strstr(m.body, "bunsen_rollup_rebuilds 0"));
    resp_free(&m);
}

static void test_kill9_mid_rebuild(void **state)
{
    (void)state;
    json_decref(call("PATCH", "/api/v1/metrics/m", "{\"window_hours\":null}", 200));
    long long done = -1;
    for (int i = 0; i < 400 && done < 10; i++) {
        if (rebuilding(&done) < 0) {
            fail_msg("the rebuild ended before the kill");
        }
        sleep_ms(10);
    }
    daemon_kill9(&D);
    assert_int_equal(daemon_restart(&D, ARGS), 0);
    long long after = -1;
    double p = rebuilding(&after);
    print_message("# killed with %lld users rebuilt; after the restart: %lld (progress %.2f)\n",
                  done, after, p);
    if (p >= 0) {
        assert_true(after >= done); /* continued from the committed cursor */
    }
    for (int u = 0; u < nusers; u += 7) {
        event(u, 90 * MINUTE);
    }
    wait_rebuilt("rb");
    check_exact(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_during_rebuild),
        cmocka_unit_test(test_rename_rebuilds_nothing),
        cmocka_unit_test(test_kill9_mid_rebuild),
    };
    return cmocka_run_group_tests_name("rebuild", tests, setup, teardown);
}
