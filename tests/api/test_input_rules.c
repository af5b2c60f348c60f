/*
 * API tests for input rules found by the API review (docs/API.md):
 * - a ratio metric refuses an event, window_hours, cap or CUPED look-back of its own (its
 *   parts carry theirs), on create and PATCH, while a ratio stored with them by an earlier
 *   version still loads, reads and takes PATCHes that do not name them;
 * - a stopped experiment's analysis (analysis.method/alpha/cuped/correction), mde and
 *   sequential_tuning are frozen with its results (409 naming the field), and
 *   sequential_tuning is fixed once the experiment has started;
 * - query parameters: GET /audit's target must be a key (a key id with target_type=key), a
 *   parameter given twice is a 400 naming it on every route, and numbers in query parameters
 *   are plain decimals (no hexadecimal floats, inf, nan, white space).
 * One daemon is shared by every test (group setup).
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;

#define VARS "\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]"

static int setup(void **state)
{
    (void)state;
    calls_use(&D);
    return daemon_start(&D, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static void call_ok(const char *method, const char *path, const char *body, int want)
{
    json_decref(call(method, path, body, want));
}

/* Expect an error reply with this status and `field` ("" = none). */
static void call_err(const char *method, const char *path, const char *body, int want,
                     const char *field)
{
    json_t *j = call(method, path, body, want);
    json_t *e = json_object_get(j, "error");
    if (e == NULL || json_string_value(json_object_get(e, "message")) == NULL) {
        fail_msg("%s %s: no API error body", method, path);
    }
    const char *f = json_string_value(json_object_get(e, "field"));
    if (strcmp(f ? f : "", field) != 0) {
        fail_msg("%s %s %s: field '%s', expected '%s' (%s)", method, path, body ? body : "",
                 f ? f : "", field, json_string_value(json_object_get(e, "message")));
    }
    json_decref(j);
}

/* The GET body of path with its server-managed fields dropped, as JSON text (malloc'd): what a
 * client edits and sends back. */
static char *get_body(const char *path)
{
    json_t *j = call("GET", path, NULL, 200);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

/* ---- ratio metrics take no event, window, cap or look-back of their own ---- */

static void test_ratio_own_fields(void **state)
{
    (void)state;
    call_ok("POST", "/api/v1/metrics", "{\"key\":\"r-rev\",\"event\":\"buy\",\"type\":\"sum\"}",
            201);
    call_ok("POST", "/api/v1/metrics", "{\"key\":\"r-clk\",\"event\":\"clk\",\"type\":\"count\"}",
            201);
#define RATIO "\"type\":\"ratio\",\"numerator\":\"r-rev\",\"denominator\":\"r-clk\""
    /* the review's reproduction: 201 with every one of them stored and ignored */
    call_err("POST", "/api/v1/metrics",
             "{\"key\":\"r9\"," RATIO ",\"cap\":0.001,\"window_hours\":1,"
             "\"cuped_lookback_hours\":0,\"event\":\"nothing\"}",
             400, "event");
    call_err("POST", "/api/v1/metrics", "{\"key\":\"r9\"," RATIO ",\"cap\":0.001}", 400, "cap");
    call_err("POST", "/api/v1/metrics", "{\"key\":\"r9\"," RATIO ",\"window_hours\":1}", 400,
             "window_hours");
    call_err("POST", "/api/v1/metrics", "{\"key\":\"r9\"," RATIO ",\"cuped_lookback_hours\":0}",
             400, "cuped_lookback_hours");
    call_err("POST", "/api/v1/metrics", "{\"key\":\"r9\"," RATIO ",\"event\":\"x\"}", 400, "event");
    /* null, and the default look-back, are what a GET shows: accepted */
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"r9\"," RATIO ",\"cap\":null,\"window_hours\":null,"
            "\"cuped_lookback_hours\":336,\"event\":null}",
            201);
    char *back = get_body("/api/v1/metrics/r9");
    call_ok("PATCH", "/api/v1/metrics/r9", back, 200); /* a GET body sent back */
    free(back);
    call_ok("PATCH", "/api/v1/metrics/r9", "{\"cuped_lookback_hours\":null,\"name\":\"R9\"}", 200);
    call_err("PATCH", "/api/v1/metrics/r9", "{\"cap\":5}", 400, "cap");
    call_err("PATCH", "/api/v1/metrics/r9", "{\"window_hours\":24}", 400, "window_hours");
    call_err("PATCH", "/api/v1/metrics/r9", "{\"cuped_lookback_hours\":24}", 400,
             "cuped_lookback_hours");
    call_err("PATCH", "/api/v1/metrics/r9", "{\"event\":\"buy\"}", 400, "event");

    /* a metric made a ratio: what it had would be ignored, so it is nulled in the same PATCH */
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"r-conv\",\"event\":\"buy\",\"type\":\"sum\",\"cap\":10,\"window_hours\":"
            "24}",
            201);
    call_err("PATCH", "/api/v1/metrics/r-conv", "{" RATIO ",\"event\":null}", 400, "window_hours");
    call_err("PATCH", "/api/v1/metrics/r-conv", "{" RATIO ",\"event\":null,\"window_hours\":null}",
             400, "cap");
    json_t *m = call("PATCH", "/api/v1/metrics/r-conv",
                     "{" RATIO ",\"event\":null,\"window_hours\":null,\"cap\":null}", 200);
    assert_string_equal(json_string_value(json_object_get(m, "type")), "ratio");
    assert_true(json_is_null(json_object_get(m, "event")));
    json_decref(m);
}

/* A ratio stored with a cap, window and event by an earlier version still loads and reads; a
 * PATCH that does not name them, or sends them unchanged (its GET body), keeps them; one that
 * changes them must clear them. */
static void test_ratio_stored_before(void **state)
{
    (void)state;
    call_ok("POST", "/api/v1/metrics", "{\"key\":\"o-rev\",\"event\":\"buy\",\"type\":\"sum\"}",
            201);
    call_ok("POST", "/api/v1/metrics", "{\"key\":\"o-clk\",\"event\":\"clk\",\"type\":\"count\"}",
            201);
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"o-ratio\",\"type\":\"ratio\",\"numerator\":\"o-rev\",\"denominator\":"
            "\"o-clk\"}",
            201);
    call_ok("POST", "/api/v1/experiments", "{\"key\":\"o-exp\"," VARS ",\"metrics\":[\"o-ratio\"]}",
            201);
    call_ok("POST", "/api/v1/experiments/o-exp/start", NULL, 200);
    assert_int_equal(daemon_stop(&D), 0);
    daemon_db_exec(&D,
                   "UPDATE metrics SET doc = replace(replace(replace(doc, '\"cap\":null', "
                   "'\"cap\":0.001'), '\"window_hours\":null', '\"window_hours\":1'), "
                   "'\"event\":null', '\"event\":\"nothing\"') WHERE key = 'o-ratio'",
                   0);
    assert_int_equal(daemon_restart(&D, NULL), 0);
    json_t *m = call("GET", "/api/v1/metrics/o-ratio", NULL, 200);
    assert_true(json_real_value(json_object_get(m, "cap")) == 0.001);
    json_decref(m);
    json_t *res = call("GET", "/api/v1/experiments/o-exp/results", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(res, "metrics"), 0), "key")),
                        "o-ratio");
    json_decref(res);
    call_ok("PATCH", "/api/v1/metrics/o-ratio", "{\"name\":\"Old ratio\"}", 200);
    /* its GET body sent back with one change: what it keeps is not a change */
    m = call("GET", "/api/v1/metrics/o-ratio", NULL, 200);
    json_object_set_new(m, "description", json_string("edited elsewhere"));
    char *back = json_dumps(m, 0);
    json_decref(m);
    call_ok("PATCH", "/api/v1/metrics/o-ratio", back, 200);
    free(back);
    call_err("PATCH", "/api/v1/metrics/o-ratio", "{\"cap\":0.002}", 400, "cap");
    call_ok("PATCH", "/api/v1/metrics/o-ratio",
            "{\"cap\":null,\"window_hours\":null,\"event\":null}", 200);
    m = call("GET", "/api/v1/metrics/o-ratio", NULL, 200);
    assert_true(json_is_null(json_object_get(m, "cap")));
    json_decref(m);
}

/* ---- a stopped experiment's analysis is frozen; the tuning from the start ---- */

static void test_stopped_analysis_frozen(void **state)
{
    (void)state;
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"f-buy\",\"event\":\"buy\",\"type\":\"binomial\"}", 201);
    call_ok("POST", "/api/v1/experiments",
            "{\"key\":\"f-exp\"," VARS ",\"metrics\":[\"f-buy\"],\"sequential_tuning\":5000}", 201);
    /* a draft: everything may change */
    call_ok("PATCH", "/api/v1/experiments/f-exp", "{\"sequential_tuning\":4000}", 200);
    call_ok("POST", "/api/v1/experiments/f-exp/start", NULL, 200);
    /* running: the analysis defaults and mde may change, the tuning may not */
    call_err("PATCH", "/api/v1/experiments/f-exp", "{\"sequential_tuning\":10}", 409,
             "sequential_tuning");
    call_ok("PATCH", "/api/v1/experiments/f-exp",
            "{\"mde\":0.1,\"analysis\":{\"method\":\"sequential\",\"alpha\":0.1,\"cuped\":false,"
            "\"correction\":\"holm\"}}",
            200);
    call_ok("PATCH", "/api/v1/experiments/f-exp", "{\"sequential_tuning\":4000}", 200); /* same */
    call_ok("POST", "/api/v1/experiments/f-exp/pause", NULL, 200);
    call_err("PATCH", "/api/v1/experiments/f-exp", "{\"sequential_tuning\":10}", 409,
             "sequential_tuning");
    call_ok("POST", "/api/v1/experiments/f-exp/stop", NULL, 200);

    /* stopped: each of them would rewrite the frozen results */
    call_err("PATCH", "/api/v1/experiments/f-exp", "{\"sequential_tuning\":10}", 409,
             "sequential_tuning");
    call_err("PATCH", "/api/v1/experiments/f-exp", "{\"mde\":0.2}", 409, "mde");
    call_err("PATCH", "/api/v1/experiments/f-exp",
             "{\"analysis\":{\"method\":\"frequentist\",\"alpha\":0.1,\"cuped\":false,"
             "\"correction\":\"holm\"}}",
             409, "analysis.method");
    call_err("PATCH", "/api/v1/experiments/f-exp",
             "{\"analysis\":{\"method\":\"sequential\",\"alpha\":0.05,\"cuped\":false,"
             "\"correction\":\"holm\"}}",
             409, "analysis.alpha");
    call_err("PATCH", "/api/v1/experiments/f-exp",
             "{\"analysis\":{\"method\":\"sequential\",\"alpha\":0.1,\"cuped\":true,"
             "\"correction\":\"holm\"}}",
             409, "analysis.cuped");
    call_err("PATCH", "/api/v1/experiments/f-exp",
             "{\"analysis\":{\"method\":\"sequential\",\"alpha\":0.1,\"cuped\":false,"
             "\"correction\":\"none\"}}",
             409, "analysis.correction");
    /* unchanged values (a GET body sent back) and display fields still may */
    char *back = get_body("/api/v1/experiments/f-exp");
    call_ok("PATCH", "/api/v1/experiments/f-exp", back, 200);
    free(back);
    call_ok("PATCH", "/api/v1/experiments/f-exp", "{\"name\":\"Frozen\",\"owner\":\"pm@x\"}", 200);
    json_t *x = call("GET", "/api/v1/experiments/f-exp", NULL, 200);
    assert_true(json_number_value(json_object_get(x, "sequential_tuning")) == 4000);
    assert_true(json_number_value(json_object_get(x, "mde")) == 0.1);
    json_decref(x);
}

/* ---- query parameters ---- */

static void test_audit_target(void **state)
{
    (void)state;
    call_ok("POST", "/api/v1/experiments", "{\"key\":\"aud-exp\"," VARS "}", 201);
    json_t *k = call("POST", "/api/v1/keys", "{\"name\":\"aud\",\"role\":\"viewer\"}", 201);
    char id[64];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(k, "id")));
    json_decref(k);

    call_err("GET", "/api/v1/audit?target=%01", NULL, 400, "target");
    call_err("GET", "/api/v1/audit?target=a%00b", NULL, 400, "target");
    call_err("GET", "/api/v1/audit?target=", NULL, 400, "target");
    call_err("GET", "/api/v1/audit?target=Aud-Exp", NULL, 400, "target");
    char *longp = malloc(5100);
    assert_non_null(longp);
    int n = sprintf(longp, "/api/v1/audit?target=");
    memset(longp + n, 'a', 5000);
    longp[n + 5000] = '\0';
    call_err("GET", longp, NULL, 400, "target");
    free(longp);
    /* with target_type=key: a key id */
    call_err("GET", "/api/v1/audit?target_type=key&target=aud-exp", NULL, 400, "target");
    call_err("GET", "/api/v1/audit?target_type=key&target=key_0123", NULL, 400, "target");

    json_t *j = call("GET", fmt("/api/v1/audit?target_type=key&target=%s", id), NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "entries")), 1);
    json_decref(j);
    j = call("GET", fmt("/api/v1/audit?target=%s", id), NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "entries")), 1);
    json_decref(j);
    j = call("GET", "/api/v1/audit?target_type=experiment&target=aud-exp", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "entries")), 1);
    json_decref(j);
}

/* A name given twice: 400 naming it, whichever route and whether it reads it or not. */
static void test_repeated_parameters(void **state)
{
    (void)state;
    call_ok("POST", "/api/v1/experiments", "{\"key\":\"rp-exp\"," VARS "}", 201);
    call_ok("POST", "/api/v1/experiments/rp-exp/start", NULL, 200);
    /* named parameters took the first, attr.* the last */
    call_err("GET", "/api/v1/experiments/rp-exp/results?alpha=0.05&alpha=0.1", NULL, 400, "alpha");
    call_err("GET", "/api/v1/experiments/rp-exp/assign?user_id=u&attr.country=DE&attr.country=NL",
             NULL, 400, "attr.country");
    call_err("GET", "/api/v1/experiments/rp-exp/assign?user_id=u&user_id=v", NULL, 400, "user_id");
    call_err("GET", "/api/v1/audit?limit=1&limit=2", NULL, 400, "limit");
    call_err("GET", "/api/v1/experiments?status=running&status=draft", NULL, 400, "status");
    call_err("GET", "/api/v1/experiments/rp-exp/results?x=1&x=2", NULL, 400, "x");
    call_err("GET", "/healthz?x=1&x=", NULL, 400, "x");
    /* the same value twice too; different names and one name once are fine */
    call_err("GET", "/api/v1/experiments/rp-exp/results?cuped=true&cuped=true", NULL, 400, "cuped");
    call_ok("GET", "/api/v1/experiments/rp-exp/results?alpha=0.05&cuped=true", NULL, 200);
    /* empty segments name nothing, however many */
    call_ok("GET", "/api/v1/experiments?status=running&&&", NULL, 200);
    call_ok("GET", "/api/v1/experiments/rp-exp/results?&&alpha=0.05&&&cuped=true&&", NULL, 200);
    json_t *a =
        call("GET", "/api/v1/experiments/rp-exp/assign?user_id=u&attr.country=DE&attr.Country=NL",
             NULL, 200);
    json_decref(a);
}

/* Query parameter names are case-sensitive: the repeated-name check compared them exactly but
 * the handlers looked them up ignoring case, so `?ALPHA=0.9&alpha=0.05` passed as two names and
 * was read as alpha 0.9. Now `ALPHA` is a name of its own (unknown on /api/v1), never `alpha`. */
static void test_parameter_case(void **state)
{
    (void)state;
    call_ok("POST", "/api/v1/experiments", "{\"key\":\"pc-exp\"," VARS "}", 201);
    call_ok("POST", "/api/v1/experiments/pc-exp/start", NULL, 200);
    call_err("GET", "/api/v1/experiments/pc-exp/results?ALPHA=0.9&alpha=0.05", NULL, 400, "ALPHA");
    call_err("GET", "/api/v1/experiments/pc-exp/results?alpha=0.05&Alpha=0.9", NULL, 400, "Alpha");
    call_err("GET", "/api/v1/experiments/pc-exp/results?Method=bayesian", NULL, 400, "Method");
    call_err("GET", "/api/v1/experiments/pc-exp/assign?USER_ID=b&user_id=a", NULL, 400, "USER_ID");
    json_t *r = call("GET", "/api/v1/experiments/pc-exp/results?alpha=0.1", NULL, 200);
    assert_true(json_real_value(json_object_get(r, "alpha")) == 0.1);
    json_decref(r);
    r = call("GET", "/api/v1/experiments/pc-exp/assign?user_id=a", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(r, "user_id")), "a");
    json_decref(r);
}

static void test_numeric_parameters(void **state)
{
    (void)state;
    call_ok("POST", "/api/v1/experiments", "{\"key\":\"np-exp\"," VARS "}", 201);
    call_ok("POST", "/api/v1/experiments/np-exp/start", NULL, 200);
    static const char *const bad_alpha[] = {
        "0x1p-4", "0X.1P0", "inf", "nan", "-nan", "infinity", "%200.05", "0.05%20", "0.05%09",
        "1e",     "e-2",    ".",   "-",   "0,05", "5%25",     "",        "0x0.1",
    };
    for (size_t i = 0; i < sizeof(bad_alpha) / sizeof(bad_alpha[0]); i++) {
        call_err("GET", fmt("/api/v1/experiments/np-exp/results?alpha=%s", bad_alpha[i]), NULL, 400,
                 "alpha");
    }
    call_err("GET", "/api/v1/experiments/np-exp/timeseries?metric=x&alpha=0x1p-4", NULL, 400,
             "alpha");
    static const char *const good_alpha[] = {"0.05", ".05", "5e-2", "5E-2", "0.0500", "1e-3"};
    for (size_t i = 0; i < sizeof(good_alpha) / sizeof(good_alpha[0]); i++) {
        json_t *r = call("GET", fmt("/api/v1/experiments/np-exp/results?alpha=%s", good_alpha[i]),
                         NULL, 200);
        assert_true(json_real_value(json_object_get(r, "alpha")) > 0);
        json_decref(r);
    }
    static const char *const bad_int[] = {"0x10", "%2010", "10%20", "1e1", "1.0", "-", "%2B5"};
    for (size_t i = 0; i < sizeof(bad_int) / sizeof(bad_int[0]); i++) {
        call_err("GET", fmt("/api/v1/audit?limit=%s", bad_int[i]), NULL, 400, "limit");
    }
    call_ok("GET", "/api/v1/audit?limit=10&before=0", NULL, 200);
    /* the stored analysis.alpha's range, [1e-06, 0.5]: 1e-320 failed the sequential intervals,
     * 0.9999999999999999 called p = 0.23 significant */
    static const char *const out_of_range[] = {
        "1e-320", "0.9999999999999999", "0.51", "9e-7", "0.99", "1"};
    for (size_t i = 0; i < sizeof(out_of_range) / sizeof(out_of_range[0]); i++) {
        call_err("GET", fmt("/api/v1/experiments/np-exp/results?alpha=%s", out_of_range[i]), NULL,
                 400, "alpha");
        call_err("GET",
                 fmt("/api/v1/experiments/np-exp/timeseries?metric=x&alpha=%s", out_of_range[i]),
                 NULL, 400, "alpha");
    }
    static const char *const edges[] = {"0.5", "1e-6", "0.000001"};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        json_t *r =
            call("GET", fmt("/api/v1/experiments/np-exp/results?alpha=%s", edges[i]), NULL, 200);
        assert_true(json_real_value(json_object_get(r, "alpha")) == strtod(edges[i], NULL));
        json_decref(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratio_own_fields),        cmocka_unit_test(test_ratio_stored_before),
        cmocka_unit_test(test_stopped_analysis_frozen), cmocka_unit_test(test_audit_target),
        cmocka_unit_test(test_repeated_parameters),     cmocka_unit_test(test_numeric_parameters),
        cmocka_unit_test(test_parameter_case),
    };
    return cmocka_run_group_tests_name("input_rules", tests, setup, teardown);
}
