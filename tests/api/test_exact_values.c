/*
 * A user's raw value is the exact sum of its events' values rounded once, whatever the order
 * they arrive in and whichever path sums them (docs/STATISTICS.md "Numerics"; both backends:
 * tests/pg/api.sh runs it on PostgreSQL).
 *
 * One user per variant of a sum metric with a CUPED look-back, so that each variant's sum is
 * that user's value, events sent one per request:
 *   a: 0.1, 1e15, -1e15 after the exposure (each event moves the stored value)
 *   b: -1e15, 1e15, 0.1 (the other order)
 *   c: 1e12, 0.07, -1e12
 *   d: 0.1, 1e15, -1e15 before the exposure arrives (the first exposure sums them), and
 *      -1e15, 0.1, 1e15 in its look-back (its pre-period value x)
 *   e: 1e15, 0.06, 0.01, -1e15 (a sum three doubles hold: 1e15 + 0.07 has 55 bits below
 *      1e15's last one) and 1e12, 0.07, -1e12 in its look-back
 * Each value must be the double nearest the exact sum (0.1, 0.07, 0.06 + 0.01) in the
 * results (JSON and CSV), the time series and the per-user export (value and pre_value,
 * printed with 17 digits), before and after a metric edit that rebuilds the roll-ups from
 * the raw rows without changing which events count (a wider window): 0.1, 1e15, -1e15 gave
 * 0.125 as sent and 0.1 once rebuilt, and 1e12 + 0.07 - 1e12 gave 0.06995.
 */
#include "calls.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;
static char sdk[64];
static int64_t t0;

#define HOUR   3600000LL
#define MINUTE 60000LL
#define NV     5

/* --rebuild-chunk 2: the rebuild runs in chunks (the users in ranges), beside the request */
static const char *const ARGS[] = {"--rebuild-chunk", "2", NULL};

static const char *const VARIANTS[NV] = {"a", "b", "c", "d", "e"};
static double want_y[NV], want_x[NV];

static void expose(const char *variant)
{
    json_decref(call_as(sdk, "POST", "/api/v1/exposures",
                        fmt("{\"exposures\":[{\"experiment\":\"xv\",\"user_id\":\"u%s\","
                            "\"variant\":\"%s\",\"ts\":%lld}]}",
                            variant, variant, (long long)t0),
                        200));
}

/* One request per event: value at t0 + offset (negative: the look-back). */
static void events(const char *variant, int64_t offset, const double *values, int n)
{
    for (int i = 0; i < n; i++) {
        json_decref(call_as(sdk, "POST", "/api/v1/events",
                            fmt("{\"events\":[{\"user_id\":\"u%s\",\"event\":\"pay\",\"ts\":%lld,"
                                "\"value\":%.17g}]}",
                                variant, (long long)(t0 + offset + i * MINUTE), values[i]),
                            200));
    }
}

static int setup(void **state)
{
    (void)state;
    if (harness_start_with_key(&D, ARGS, sdk, sizeof(sdk)) != 0) {
        return -1;
    }
    calls_use(&D);
    harness_metric(D.port, D.admin_key,
                   "{\"key\":\"rev\",\"event\":\"pay\",\"type\":\"sum\",\"window_hours\":48,"
                   "\"cuped_lookback_hours\":24}");
    harness_started_experiment(
        D.port, D.admin_key, "xv",
        "{\"key\":\"xv\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"},{\"key\":\"c\"},"
        "{\"key\":\"d\"},{\"key\":\"e\"}],\"metrics\":[\"rev\"]}");
    t0 = harness_wall_ms() - 24 * HOUR;

    expose("a");
    events("a", HOUR, (double[]){0.1, 1e15, -1e15}, 3);
    expose("b");
    events("b", HOUR, (double[]){-1e15, 1e15, 0.1}, 3);
    expose("c");
    events("c", HOUR, (double[]){1e12, 0.07, -1e12}, 3);
    events("d", HOUR, (double[]){0.1, 1e15, -1e15}, 3);
    events("d", -3 * HOUR, (double[]){-1e15, 0.1, 1e15}, 3);
    expose("d");
    expose("e");
    events("e", HOUR, (double[]){1e15, 0.06, 0.01, -1e15}, 4);
    events("e", -3 * HOUR, (double[]){1e12, 0.07, -1e12}, 3);

    double y[NV] = {0.1, 0.1, 0.07, 0.1, 0.06 + 0.01}, x[NV] = {0, 0, 0, 0.1, 0.07};
    memcpy(want_y, y, sizeof(y));
    memcpy(want_x, x, sizeof(x));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static int variant_index(const char *key)
{
    for (int v = 0; v < NV; v++) {
        if (strcmp(VARIANTS[v], key) == 0) {
            return v;
        }
    }
    fail_msg("unknown variant %s", key);
    return -1;
}

/* Every reader of the values: results (JSON, CSV), time series, per-user export. */
static void check_values(const char *when)
{
    /* results JSON (every double exactly since s24: an ulp is seen): the variant's sum is its
     * one user's value */
    json_t *r = call("GET", "/api/v1/experiments/xv/results?cuped=false", NULL, 200);
    const json_t *vars =
        json_object_get(json_array_get(json_object_get(r, "metrics"), 0), "variants");
    assert_int_equal(json_array_size(vars), NV);
    for (size_t i = 0; i < NV; i++) {
        const json_t *o = json_array_get(vars, i);
        int v = variant_index(json_string_value(json_object_get(o, "key")));
        double sum = json_number_value(json_object_get(o, "sum"));
        if (json_integer_value(json_object_get(o, "users")) != 1 || sum != want_y[v]) {
            fail_msg("%s: results, variant %s: sum %.17g, expected %.17g", when, VARIANTS[v], sum,
                     want_y[v]);
        }
    }
    json_decref(r);

    /* results CSV (the shortest digits that read back as the same double): the 9th column is
     * the sum, after fields without commas */
    struct resp c;
    assert_int_equal(
        http_req(D.port, "GET", "/api/v1/experiments/xv/results?format=csv", D.admin_key, NULL, &c),
        0);
    assert_int_equal(c.status, 200);
    assert_int_equal(
        strncmp(c.body, "experiment,metric,type,goal,variant,users,mean,stddev,sum,", 58), 0);
    int rows = 0;
    for (const char *p = strstr(c.body, "\r\n") + 2; *p != '\0'; rows++) {
        const char *f[9];
        f[0] = p;
        for (int k = 1; k < 9; k++) {
            f[k] = strchr(f[k - 1], ',') + 1;
        }
        char key[16];
        snprintf(key, sizeof(key), "%.*s", (int)(strchr(f[4], ',') - f[4]), f[4]);
        int v = variant_index(key);
        double sum = strtod(f[8], NULL);
        if (sum != want_y[v]) {
            fail_msg("%s: results CSV, variant %s: sum %.17g, expected %.17g", when, key, sum,
                     want_y[v]);
        }
        p = strstr(p, "\r\n") + 2;
    }
    assert_int_equal(rows, NV);
    resp_free(&c);

    /* the time series: its last day holds every user, with its value (the mean of one) */
    json_t *ts = call("GET", "/api/v1/experiments/xv/timeseries?metric=rev", NULL, 200);
    const json_t *days = json_object_get(ts, "days");
    const json_t *last = json_array_get(days, json_array_size(days) - 1);
    const json_t *tv = json_object_get(last, "variants");
    assert_int_equal(json_array_size(tv), NV);
    for (size_t i = 0; i < NV; i++) {
        const json_t *o = json_array_get(tv, i);
        int v = variant_index(json_string_value(json_object_get(o, "key")));
        double mean = json_number_value(json_object_get(o, "mean"));
        if (mean != want_y[v]) {
            fail_msg("%s: time series, variant %s: mean %.17g, expected %.17g", when, VARIANTS[v],
                     mean, want_y[v]);
        }
    }
    json_decref(ts);

    /* the per-user export (17 digits): value and pre_value bit for bit */
    struct resp u;
    assert_int_equal(
        http_req(D.port, "GET", "/api/v1/experiments/xv/users?metric=rev", D.admin_key, NULL, &u),
        0);
    assert_int_equal(u.status, 200);
    rows = 0;
    for (const char *p = strstr(u.body, "\r\n") + 2; *p != '\0'; rows++) {
        char user[16], variant[16];
        long long first = 0;
        double y = -1, x = -1;
        if (sscanf(p, "%15[^,],%15[^,],%lld,%lf,%lf", user, variant, &first, &y, &x) != 5) {
            fail_msg("%s: export row %.60s", when, p);
        }
        int v = variant_index(variant);
        if (y != want_y[v] || x != want_x[v]) {
            fail_msg("%s: export, user %s: value %.17g pre_value %.17g, expected %.17g %.17g", when,
                     user, y, x, want_y[v], want_x[v]);
        }
        p = strstr(p, "\r\n") + 2;
    }
    assert_int_equal(rows, NV);
    resp_free(&u);
}

static void test_values_exact_through_rebuild(void **state)
{
    (void)state;
    wait_rebuilt("xv");
    check_values("as sent");
    /* a rebuild that counts the same events: the values must not move */
    json_decref(call("PATCH", "/api/v1/metrics/rev", "{\"window_hours\":100}", 200));
    wait_rebuilt("xv");
    check_values("after the rebuild");
    /* and events after it add to the rebuilt values as to the incremental ones */
    events("a", 2 * HOUR, (double[]){1e15, -1e15}, 2);
    events("c", 2 * HOUR, (double[]){-1e12, 1e12}, 2);
    check_values("after more events");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_exact_through_rebuild),
    };
    return cmocka_run_group_tests_name("exact_values", tests, setup, teardown);
}
