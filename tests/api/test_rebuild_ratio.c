/*
 * Ratio metrics while a rebuild runs (migration 0009, store.h store_rebuild_keep_ratios).
 *
 * A ratio metric is computed from its parts' per-user values, which a rebuild's chunks
 * rewrite user range by user range. With a tiny chunk and a pause (the rebuild lasts a few
 * seconds), a metric edit that changes the numerator's window:
 * - during the rebuild, the ratio's results (the whole experiment and each slice of the
 *   dimension "plan") are exactly those before the edit, also after more events arrive, and
 *   carry no warning; the other metric's results stay those before the edit too;
 * - when it is over, the ratio equals a recompute from every row sent under the new window
 *   (users exact, sums 1e-9), per variant and per plan;
 * - the per-user export carries Bunsen-Rebuilding while the rebuild runs, not after;
 * - the CSV of the results mid-rebuild carries every field of their JSON (results_csv.h):
 *   the rebuild's progress, the ratio's parts and denominator sums, a ratio's warning;
 * - a ratio added by a change made mid-rebuild (which restarts it) has no kept sums: a
 *   warning and no statistics until the end, while the ratio kept before keeps its numbers;
 * - the kept sums are read with the definitions they were built with (a part's new cap, a
 *   count metric made binomial), also across a restarted rebuild.
 * Runs on both backends (the PostgreSQL pass runs every API test).
 */
#include "calls.h"
#include "harness.h"
#include "results_csv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;
static char sdk[64];

#define HOUR   3600000LL
#define MINUTE 60000LL
#define NUSERS 40
#define MAXE   16
#define NPLANS 3

/* 20 chunks of 2 users, 150 ms apart: ~3 s per rebuild, room to read one mid-way even on a
 * loaded machine or under ASan */
static const char *const ARGS[] = {"--rebuild-chunk", "2", "--rebuild-pause-ms", "150", NULL};
static const char *const PLANS[NPLANS] = {"free", "pro", "team"};

/* What the test sent: the raw rows a recompute starts from. */
static struct {
    int64_t x_ts;
    int variant; /* 0 control, 1 green */
    int plan;
    int nbuy, nview;
    int64_t buy[MAXE], view[MAXE];
} U[NUSERS];

static void event(int u, const char *name, int64_t offset)
{
    int64_t ts = U[u].x_ts + offset;
    json_decref(call_as(sdk, "POST", "/api/v1/events",
                        fmt("{\"events\":[{\"user_id\":\"u%03d\",\"event\":\"%s\",\"ts\":%lld}]}",
                            u, name, (long long)ts),
                        200));
    if (strcmp(name, "buy") == 0) {
        U[u].buy[U[u].nbuy++] = ts;
    } else {
        U[u].view[U[u].nview++] = ts;
    }
}

static json_t *results(const char *query)
{
    return call("GET", fmt("/api/v1/experiments/rr/results%s", query), NULL, 200);
}

/* The users rebuilt so far, or -1 when no rebuild runs. */
static long long rebuilt_users(void)
{
    json_t *r = results("");
    const json_t *rb = json_object_get(r, "rebuilding");
    long long done = rb ? (long long)json_integer_value(json_object_get(rb, "users_done")) : -1;
    json_decref(r);
    return done;
}

/* metrics[k] of a results document (new reference). */
static json_t *metric_of(const json_t *doc, size_t k)
{
    return json_incref(json_array_get(json_object_get(doc, "metrics"), k));
}

/* The ratio block of the whole experiment and of each slice of "plan", in one array. */
static json_t *ratio_blocks(void)
{
    json_t *out = json_array();
    json_t *r = results("");
    json_array_append_new(out, metric_of(r, 0));
    json_array_append_new(out, metric_of(r, 1));
    json_decref(r);
    json_t *b = results("?dimension=plan");
    const json_t *slices = json_object_get(b, "slices");
    assert_int_equal(json_array_size(slices), NPLANS);
    for (size_t i = 0; i < json_array_size(slices); i++) {
        json_array_append_new(out, metric_of(json_array_get(slices, i), 0));
    }
    json_decref(b);
    return out;
}

/* The ratio's sums per variant (plan -1: all) against a recompute with the buy window. */
static void check_ratio(const json_t *metric, int plan, int64_t window_h)
{
    double n[2] = {0, 0}, num[2] = {0, 0}, den[2] = {0, 0};
    for (int u = 0; u < NUSERS; u++) {
        if (plan >= 0 && U[u].plan != plan) {
            continue;
        }
        n[U[u].variant] += 1;
        for (int k = 0; k < U[u].nbuy; k++) {
            int64_t t = U[u].buy[k];
            num[U[u].variant] +=
                t >= U[u].x_ts && (window_h == 0 || t < U[u].x_ts + window_h * HOUR);
        }
        for (int k = 0; k < U[u].nview; k++) {
            den[U[u].variant] += U[u].view[k] >= U[u].x_ts;
        }
    }
    assert_string_equal(json_string_value(json_object_get(metric, "key")), "r");
    assert_null(json_object_get(metric, "warning"));
    const json_t *vars = json_object_get(metric, "variants");
    assert_int_equal(json_array_size(vars), 2);
    for (int v = 0; v < 2; v++) {
        const json_t *o = json_array_get(vars, (size_t)v);
        long long users = json_integer_value(json_object_get(o, "users"));
        double s = json_number_value(json_object_get(o, "sum"));
        double d = json_number_value(json_object_get(o, "denominator_sum"));
        if (users != (long long)n[v] || fabs(s - num[v]) > 1e-9 || fabs(d - den[v]) > 1e-9) {
            fail_msg("plan %d variant %d: users %lld sums %.17g / %.17g; recompute %g %g / %g",
                     plan, v, users, s, d, n[v], num[v], den[v]);
        }
    }
}

static int setup(void **state)
{
    (void)state;
    if (harness_start_with_key(&D, ARGS, sdk, sizeof(sdk)) != 0) {
        return -1;
    }
    calls_use(&D);
    harness_ratio_metrics(D.port, D.admin_key);
    harness_started_experiment(
        D.port, D.admin_key, "rr",
        "{\"key\":\"rr\",\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}],"
        "\"metrics\":[\"r\",\"m\"],\"dimensions\":[\"plan\"]}");
    int64_t t_base = harness_wall_ms() - 48 * HOUR;
    for (int u = 0; u < NUSERS; u++) {
        U[u].x_ts = t_base + u * MINUTE;
        U[u].variant = u % 2;
        U[u].plan = (u / 2) % NPLANS;
        json_decref(call_as(
            sdk, "POST", "/api/v1/exposures",
            fmt("{\"exposures\":[{\"experiment\":\"rr\",\"user_id\":\"u%03d\","
                "\"variant\":\"%s\",\"ts\":%lld,\"attributes\":{\"plan\":\"%s\"}}]}",
                u, U[u].variant ? "green" : "control", (long long)U[u].x_ts, PLANS[U[u].plan]),
            200));
        for (int j = 0; j <= u % 5; j++) {
            event(u, "buy", j * 37 * MINUTE); /* past 2 h for u % 5 == 4 */
        }
        for (int j = 0; j <= u % 4; j++) {
            event(u, "view", j * 20 * MINUTE);
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static void test_ratio_through_rebuild(void **state)
{
    (void)state;
    json_t *before = ratio_blocks();
    check_ratio(json_array_get(before, 0), -1, 0);
    json_decref(call("PATCH", "/api/v1/metrics/m", "{\"window_hours\":2}", 200));
    /* wait until chunks have rewritten some users' values */
    long long done = 0;
    for (int i = 0; i < 400 && done < 8; i++) {
        done = rebuilt_users();
        if (done < 0) {
            fail_msg("the rebuild ended before it could be read mid-way");
        }
        sleep_ms(10);
    }
    json_t *during = ratio_blocks();
    /* the CSV carries the rebuild (progress, users) and the ratio's fields, whole and per plan */
    json_t *csv_doc = results_csv_check(D.port, D.admin_key, "/api/v1/experiments/rr/results");
    bool csv_mid = json_object_get(csv_doc, "rebuilding") != NULL;
    json_decref(csv_doc);
    json_decref(
        results_csv_check(D.port, D.admin_key, "/api/v1/experiments/rr/results?dimension=plan"));
    long long after = rebuilt_users();
    print_message("# read mid-rebuild between %lld and %lld users rebuilt\n", done, after);
    if (after < 0 || !csv_mid) {
        fail_msg("the rebuild ended during the read: the machine is too slow for this test's "
                 "pace (--rebuild-pause-ms)");
    }
    for (size_t i = 0; i < json_array_size(before); i++) {
        if (!json_equal(json_array_get(before, i), json_array_get(during, i))) {
            char *a = json_dumps(json_array_get(before, i), JSON_COMPACT);
            char *b = json_dumps(json_array_get(during, i), JSON_COMPACT);
            fail_msg("block %zu moved during the rebuild:\nbefore %s\nduring %s", i, a, b);
        }
    }
    json_decref(during);
    /* the per-user export says that it reads values a rebuild is rewriting */
    struct resp e;
    char hv[64];
    assert_int_equal(
        http_req(D.port, "GET", "/api/v1/experiments/rr/users?metric=m", D.admin_key, NULL, &e), 0);
    assert_int_equal(e.status, 200);
    assert_true(resp_header(&e, "Bunsen-Rebuilding", hv, sizeof(hv)));
    assert_non_null(strstr(hv, "/40"));
    resp_free(&e);
    /* rows arriving mid-rebuild do not move the kept sums; they count once at the end */
    for (int u = 0; u < NUSERS; u += 3) {
        event(u, "buy", 10 * MINUTE);
        event(u, "view", 30 * MINUTE);
    }
    during = ratio_blocks();
    if (rebuilt_users() >= 0) {
        assert_true(json_equal(json_array_get(before, 0), json_array_get(during, 0)));
    }
    json_decref(during);
    json_decref(before);
    for (int i = 0; i < 600 && rebuilt_users() >= 0; i++) {
        sleep_ms(50);
    }
    assert_true(rebuilt_users() < 0);
    json_t *end = ratio_blocks();
    check_ratio(json_array_get(end, 0), -1, 2);
    json_decref(end);
    assert_int_equal(
        http_req(D.port, "GET", "/api/v1/experiments/rr/users?metric=m", D.admin_key, NULL, &e), 0);
    assert_false(resp_header(&e, "Bunsen-Rebuilding", hv, sizeof(hv)));
    resp_free(&e);
    /* per plan: the breakdown's slices by their dimension_value */
    json_t *b = results("?dimension=plan");
    const json_t *slices = json_object_get(b, "slices");
    for (size_t i = 0; i < json_array_size(slices); i++) {
        const json_t *sl = json_array_get(slices, i);
        const char *value = json_string_value(json_object_get(sl, "dimension_value"));
        int plan = -1;
        for (int p = 0; p < NPLANS; p++) {
            plan = strcmp(PLANS[p], value) == 0 ? p : plan;
        }
        assert_true(plan >= 0);
        check_ratio(json_array_get(json_object_get(sl, "metrics"), 0), plan, 2);
    }
    json_decref(b);
}

/* A ratio added by a change made while a rebuild runs has no kept sums: it says so (a
 * warning, no statistics) until the rebuild ends; the ratio kept before stays as it was. */
static void test_ratio_added_mid_rebuild(void **state)
{
    (void)state;
    json_decref(call("POST", "/api/v1/metrics",
                     "{\"key\":\"r2\",\"type\":\"ratio\",\"numerator\":\"v\","
                     "\"denominator\":\"m\"}",
                     201));
    json_t *r0 = results("");
    json_t *before = metric_of(r0, 0);
    json_decref(r0);
    json_decref(call("PATCH", "/api/v1/metrics/m", "{\"window_hours\":null}", 200));
    long long done = 0;
    for (int i = 0; i < 400 && done < 4; i++) {
        done = rebuilt_users();
        assert_true(done >= 0);
        sleep_ms(10);
    }
    json_decref(call("PATCH", "/api/v1/experiments/rr", "{\"metrics\":[\"r\",\"m\",\"r2\"]}", 200));
    json_t *r = results("");
    if (json_object_get(r, "rebuilding") != NULL) {
        json_t *r1 = metric_of(r, 0), *r2 = metric_of(r, 2);
        assert_true(json_equal(before, r1));
        assert_string_equal(json_string_value(json_object_get(r2, "key")), "r2");
        assert_non_null(json_string_value(json_object_get(r2, "warning")));
        const json_t *v1 = json_array_get(json_object_get(r2, "variants"), 1);
        assert_true(json_is_null(json_object_get(v1, "p_value")));
        json_decref(r1);
        json_decref(r2);
        /* the breakdown says it too */
        json_t *b = results("?dimension=plan");
        const json_t *sl = json_array_get(json_object_get(b, "slices"), 0);
        assert_non_null(
            json_object_get(json_array_get(json_object_get(sl, "metrics"), 2), "warning"));
        json_decref(b);
        /* and the CSV, in its metric_warning column (a line of its own among the rows was a
         * row of one field) */
        json_decref(results_csv_check(D.port, D.admin_key, "/api/v1/experiments/rr/results"));
        json_decref(results_csv_check(D.port, D.admin_key,
                                      "/api/v1/experiments/rr/results?dimension=plan"));
    } else {
        print_message("# the rebuild ended before the read: nothing to check mid-way\n");
    }
    json_decref(r);
    json_decref(before);
    for (int i = 0; i < 600 && rebuilt_users() >= 0; i++) {
        sleep_ms(50);
    }
    r = results("");
    json_t *r2 = metric_of(r, 2);
    assert_null(json_object_get(r2, "warning"));
    json_t *r1 = metric_of(r, 0);
    check_ratio(r1, -1, 0);
    json_decref(r1);
    json_decref(r2);
    json_decref(r);
}

/* block with "name" set to name (new reference) */
static json_t *renamed(const json_t *block, const char *name)
{
    json_t *o = json_deep_copy(block);
    json_object_set_new(o, "name", json_string(name));
    return o;
}

static void assert_same_block(const json_t *want, const json_t *got, const char *what)
{
    if (!json_equal(want, got)) {
        char *a = json_dumps(want, JSON_COMPACT);
        char *b = json_dumps(got, JSON_COMPACT);
        fail_msg("%s moved during the rebuild:\nbefore %s\nduring %s", what, a, b);
    }
}

/* While a rebuild runs, results read the kept roll-ups with the definitions they were built
 * with (migration 0011): a part's new cap does not reach the ratio's kept sums, a count
 * metric made binomial still reads as the count it was kept as (it used to answer 400 for
 * the whole results), across a restarted rebuild; a new name shows at once. At the end,
 * the new definitions hold. */
static void test_definitions_kept_through_rebuild(void **state)
{
    (void)state;
    json_t *r0 = results("");
    json_t *ratio = metric_of(r0, 0), *count = metric_of(r0, 1);
    json_decref(r0);
    assert_string_equal(json_string_value(json_object_get(count, "type")), "count");
    json_decref(call("PATCH", "/api/v1/metrics/m", "{\"cap\":1}", 200));
    long long done = 0;
    for (int i = 0; i < 400 && done < 4; i++) {
        done = rebuilt_users();
        assert_true(done >= 0);
        sleep_ms(10);
    }
    json_decref(call("PATCH", "/api/v1/metrics/m", "{\"name\":\"Buys\"}", 200));
    json_t *r = results("");
    bool mid = json_object_get(r, "rebuilding") != NULL;
    if (mid) {
        json_t *a = metric_of(r, 0), *b = metric_of(r, 1), *want = renamed(count, "Buys");
        assert_same_block(ratio, a, "the ratio (a part's new cap)");
        assert_same_block(want, b, "the count metric");
        json_decref(a);
        json_decref(b);
        json_decref(want);
    }
    json_decref(r);
    /* a second change restarts the rebuild: the kept roll-ups are still the first's */
    json_decref(call("PATCH", "/api/v1/metrics/m", "{\"type\":\"binomial\",\"cap\":null}", 200));
    r = results("");
    if (json_object_get(r, "rebuilding") != NULL) {
        mid = true;
        json_t *a = metric_of(r, 0), *b = metric_of(r, 1), *want = renamed(count, "Buys");
        assert_same_block(ratio, a, "the ratio (a part made binomial)");
        assert_same_block(want, b, "the metric made binomial");
        json_decref(a);
        json_decref(b);
        json_decref(want);
        json_decref(call("GET", "/api/v1/experiments/rr/results?dimension=plan", NULL, 200));
        json_decref(call("GET", "/api/v1/experiments/rr/timeseries?metric=m", NULL, 200));
    }
    json_decref(r);
    if (!mid) {
        print_message("# the rebuilds ended before the reads: nothing to check mid-way\n");
    }
    json_decref(ratio);
    json_decref(count);
    for (int i = 0; i < 600 && rebuilt_users() >= 0; i++) {
        sleep_ms(50);
    }
    assert_true(rebuilt_users() < 0);
    /* every user bought after exposure: 1 per user once binomial, in both metrics */
    r = results("");
    json_t *b = metric_of(r, 1), *a = metric_of(r, 0);
    assert_string_equal(json_string_value(json_object_get(b, "type")), "binomial");
    assert_string_equal(json_string_value(json_object_get(b, "name")), "Buys");
    for (size_t v = 0; v < 2; v++) {
        const json_t *bv = json_array_get(json_object_get(b, "variants"), v);
        const json_t *av = json_array_get(json_object_get(a, "variants"), v);
        assert_true(json_number_value(json_object_get(bv, "sum")) == NUSERS / 2);
        assert_true(json_number_value(json_object_get(av, "sum")) == NUSERS / 2);
    }
    json_decref(a);
    json_decref(b);
    json_decref(r);
    /* nothing is left kept: the kept definitions went with the kept roll-ups */
    json_decref(call("PATCH", "/api/v1/metrics/m", "{\"type\":\"count\",\"name\":\"m\"}", 200));
    for (int i = 0; i < 600 && rebuilt_users() >= 0; i++) {
        sleep_ms(50);
    }
    r = results("");
    b = metric_of(r, 1);
    assert_string_equal(json_string_value(json_object_get(b, "type")), "count");
    json_decref(b);
    json_decref(r);
}

/* Two edits in a row, the second before the rebuilder's first chunk: the restart keeps the
 * rebuild in its first generation, so the ratio's sums are still kept from the values of
 * before the first edit (the restart moved the generation, and the ratio had no statistics
 * until the rebuild ended). Either interleaving (sums kept before or after the second edit)
 * must answer the last complete sums. */
static void test_two_quick_edits(void **state)
{
    (void)state;
    for (int i = 0; i < 600 && rebuilt_users() >= 0; i++) {
        sleep_ms(50);
    }
    json_t *r0 = results("");
    json_t *before = metric_of(r0, 0);
    json_decref(r0);
    assert_null(json_object_get(before, "warning"));
    json_decref(call("PATCH", "/api/v1/metrics/v", "{\"window_hours\":5}", 200));
    json_decref(call("PATCH", "/api/v1/metrics/m", "{\"window_hours\":3}", 200));
    /* once chunks have rewritten some users' values (before the first, the values read are
     * still all those of before the edits) */
    for (int i = 0; i < 400 && rebuilt_users() >= 0 && rebuilt_users() < 6; i++) {
        sleep_ms(10);
    }
    r0 = results("");
    json_t *during = metric_of(r0, 0);
    bool rebuilding = json_object_get(r0, "rebuilding") != NULL;
    json_decref(r0);
    if (!rebuilding) {
        print_message("# the rebuild ended before it could be read: nothing to check\n");
    } else if (!json_equal(before, during)) {
        char *a = json_dumps(before, JSON_COMPACT), *b = json_dumps(during, JSON_COMPACT);
        fail_msg("the ratio moved during the rebuild of two edits:\nbefore %s\nduring %s", a, b);
    }
    json_decref(during);
    json_decref(before);
    for (int i = 0; i < 600 && rebuilt_users() >= 0; i++) {
        sleep_ms(50);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratio_through_rebuild),
        cmocka_unit_test(test_ratio_added_mid_rebuild),
        cmocka_unit_test(test_definitions_kept_through_rebuild),
        cmocka_unit_test(test_two_quick_edits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
