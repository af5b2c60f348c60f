/*
 * A rebuild under way across an upgrade (migrations 0011 and 0013).
 *
 * While a rebuild runs, results read the roll-ups kept when it began, with the metric
 * definitions recorded with them (migration 0011). A rebuild begun by a version before
 * 0011 recorded none: the new binary read its kept roll-ups with today's definitions, and a
 * count metric made binomial answered 400 "binomial conversions 396 not an integer in
 * [0, 196]" (field "arm") for every results read of the experiment until the rebuild ended.
 * With a rebuild paused between chunks (--rebuild-pause-ms 60000):
 * - kept sums that the definition cannot hold (the recorded definition deleted) answer 200:
 *   that metric without statistics and a warning, the others as they were;
 * - the state an older version leaves (its rebuild, no recorded definition, migration 0013
 *   not yet applied): after the upgrade, results and breakdowns answer 200 with every
 *   metric of the experiment without statistics and a warning saying why, the time series
 *   503 with the reason (not 400 blaming the request);
 * - once the rebuild ends, the new definitions hold: the binomial metric counts each buyer
 *   once, no warnings.
 * Runs on both backends (the PostgreSQL pass runs every API test).
 */
#include "calls.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;
static char sdk[64];

#define HOUR   3600000LL
#define MINUTE 60000LL
#define NUSERS 20

/* 10 chunks of 2 users, a minute apart: the rebuild stays under way for the test */
static const char *const PAUSED[] = {"--rebuild-chunk", "2", "--rebuild-pause-ms", "60000", NULL};
static const char *const QUICK[] = {"--rebuild-chunk", "2", "--rebuild-pause-ms", "0", NULL};

static json_t *results(const char *query)
{
    return call("GET", fmt("/api/v1/experiments/up/results%s", query), NULL, 200);
}

/* The block of metric key in a results document (borrowed). */
static const json_t *block(const json_t *doc, const char *key)
{
    const json_t *ms = json_object_get(doc, "metrics");
    for (size_t i = 0; i < json_array_size(ms); i++) {
        const json_t *m = json_array_get(ms, i);
        if (strcmp(json_string_value(json_object_get(m, "key")), key) == 0) {
            return m;
        }
    }
    fail_msg("no metric %s in the results", key);
    return NULL;
}

/* Metric key has no statistics and a warning containing why; users 0, mean null. */
static void assert_withheld(const json_t *doc, const char *key, const char *why)
{
    const json_t *m = block(doc, key);
    const char *w = json_string_value(json_object_get(m, "warning"));
    if (w == NULL || strstr(w, why) == NULL) {
        fail_msg("metric %s: warning %s, expected one with \"%s\"", key, w ? w : "(none)", why);
    }
    const json_t *vars = json_object_get(m, "variants");
    assert_int_equal(json_array_size(vars), 2);
    for (size_t v = 0; v < 2; v++) {
        const json_t *o = json_array_get(vars, v);
        assert_int_equal(json_integer_value(json_object_get(o, "users")), 0);
        assert_true(json_is_null(json_object_get(o, "mean")));
    }
}

static bool rebuilding(void)
{
    json_t *r = results("");
    bool on = json_object_get(r, "rebuilding") != NULL;
    json_decref(r);
    return on;
}

static int setup(void **state)
{
    (void)state;
    if (harness_start_with_key(&D, PAUSED, sdk, sizeof(sdk)) != 0) {
        return -1;
    }
    calls_use(&D);
    harness_ratio_metrics(D.port, D.admin_key);
    harness_started_experiment(
        D.port, D.admin_key, "up",
        "{\"key\":\"up\",\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}],"
        "\"metrics\":[\"m\",\"v\",\"r\"],\"dimensions\":[\"plan\"]}");
    int64_t t0 = harness_wall_ms() - 48 * HOUR;
    for (int u = 0; u < NUSERS; u++) {
        int64_t ts = t0 + u * MINUTE;
        json_decref(
            call_as(sdk, "POST", "/api/v1/exposures",
                    fmt("{\"exposures\":[{\"experiment\":\"up\",\"user_id\":\"u%03d\","
                        "\"variant\":\"%s\",\"ts\":%lld,\"attributes\":{\"plan\":\"%s\"}}]}",
                        u, u % 2 ? "green" : "control", (long long)ts, u % 3 ? "free" : "pro"),
                    200));
        /* three buys each: a count sum of 3 per user, which no binomial sum can be */
        for (int j = 0; j < 3; j++) {
            json_decref(call_as(sdk, "POST", "/api/v1/events",
                                fmt("{\"events\":[{\"user_id\":\"u%03d\",\"event\":\"buy\","
                                    "\"ts\":%lld},{\"user_id\":\"u%03d\",\"event\":\"view\","
                                    "\"ts\":%lld}]}",
                                    u, (long long)(ts + (j + 1) * MINUTE), u,
                                    (long long)(ts + (j + 1) * MINUTE)),
                                200));
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static void test_rebuild_across_upgrade(void **state)
{
    (void)state;
    json_decref(call("PATCH", "/api/v1/metrics/m", "{\"type\":\"binomial\"}", 200));
    assert_true(rebuilding());
    json_t *r = results("");
    assert_null(json_object_get(block(r, "m"), "warning")); /* read as the count it was kept */
    json_decref(r);

    /* kept sums the definition cannot hold: the definition they were kept with is gone */
    assert_int_equal(daemon_stop(&D), 0);
    daemon_db_exec(&D, "DELETE FROM rebuild_metric_defs", 0);
    assert_int_equal(daemon_restart(&D, PAUSED), 0);
    assert_true(rebuilding());
    r = results(""); /* was 400 "binomial conversions 30 not an integer in [0, 10]" */
    assert_withheld(r, "m", "do not fit its definition");
    assert_null(json_object_get(block(r, "v"), "warning"));
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(block(r, "v"), "variants"), 0), "users")),
                     NUSERS / 2);
    json_decref(r);
    r = results("?dimension=plan");
    const json_t *slices = json_object_get(r, "slices");
    assert_int_equal(json_array_size(slices), 2);
    for (size_t i = 0; i < json_array_size(slices); i++) {
        assert_withheld(json_array_get(slices, i), "m", "do not fit its definition");
    }
    json_decref(r);

    /* the state an older version leaves: its rebuild, no definition recorded, before 0013
     * (0014, the exact values, stays: it changes nothing of this) */
    assert_int_equal(daemon_stop(&D), 0);
    daemon_db_exec(&D, "ALTER TABLE rollup_rebuilds DROP COLUMN defs_unknown", 0);
    daemon_db_exec(&D, "DELETE FROM schema_migrations WHERE version = 13", 0);
    assert_int_equal(daemon_restart(&D, PAUSED), 0); /* migrates */
    assert_true(rebuilding());
    r = results("");
    static const char *const keys[] = {"m", "v", "r"};
    for (size_t k = 0; k < 3; k++) {
        assert_withheld(r, keys[k], "did not record the definition");
    }
    assert_non_null(json_object_get(r, "rebuilding"));
    json_decref(r);
    r = results("?dimension=plan");
    slices = json_object_get(r, "slices");
    for (size_t i = 0; i < json_array_size(slices); i++) {
        for (size_t k = 0; k < 3; k++) {
            assert_withheld(json_array_get(slices, i), keys[k], "did not record the definition");
        }
    }
    json_decref(r);
    struct resp ts;
    assert_int_equal(http_req(D.port, "GET", "/api/v1/experiments/up/timeseries?metric=m",
                              D.admin_key, NULL, &ts),
                     0);
    assert_int_equal(ts.status, 503);
    assert_non_null(strstr(ts.body, "did not record the definition"));
    resp_free(&ts);

    /* the rebuild ends: the new definitions hold */
    assert_int_equal(daemon_stop(&D), 0);
    assert_int_equal(daemon_restart(&D, QUICK), 0);
    for (int i = 0; i < 600 && rebuilding(); i++) {
        sleep_ms(50);
    }
    assert_false(rebuilding());
    r = results("");
    const json_t *m = block(r, "m");
    assert_null(json_object_get(m, "warning"));
    assert_string_equal(json_string_value(json_object_get(m, "type")), "binomial");
    for (size_t v = 0; v < 2; v++) {
        const json_t *o = json_array_get(json_object_get(m, "variants"), v);
        assert_int_equal(json_integer_value(json_object_get(o, "users")), NUSERS / 2);
        assert_true(json_number_value(json_object_get(o, "sum")) == NUSERS / 2);
    }
    for (size_t k = 1; k < 3; k++) {
        assert_null(json_object_get(block(r, keys[k]), "warning"));
    }
    json_decref(r);
    json_decref(call("GET", "/api/v1/experiments/up/timeseries?metric=m", NULL, 200));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rebuild_across_upgrade),
    };
    return cmocka_run_group_tests_name("rebuild_upgrade", tests, setup, teardown);
}
