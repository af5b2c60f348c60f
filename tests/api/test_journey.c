/*
 * API tests of what a new user meets first (a reviewer's walk through Bunsen, s26):
 * - a metric listed in both `metrics` and `guardrails` is reported once, with
 *   `guardrail: true` (results JSON and CSV);
 * - a single event or exposure object posted without the {"events": [...]} wrapper is
 *   refused with a message that says to wrap it;
 * - unknown body fields are refused before the known ones are checked (`{"user": ...}` on
 *   /assign names `user`, not a missing user_id);
 * - an unlisted ?dimension= names the experiment's dimensions (the first ones when they would
 *   not fit);
 * - unknown query parameters on /api/v1 routes are refused, naming the parameter, while the
 *   SDK, OFREP, health and metrics routes and GET /api/v1/me still ignore them (cache
 *   busting).
 * One daemon is shared by every test (group setup).
 */
#include "harness.h"
#include "results_csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;
static char SDK[128];

#define VARS "\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]"

static json_t *call(const char *method, const char *path, const char *body, int want)
{
    return harness_call(D.port, method, path, D.admin_key, body, want);
}

static void call_ok(const char *method, const char *path, const char *body, int want)
{
    json_decref(call(method, path, body, want));
}

/* method path (admin key) answers 400 with field and a message holding msg (when not NULL). */
static void expect_400(const char *method, const char *path, const char *key, const char *body,
                       const char *field, const char *msg)
{
    struct resp r;
    assert_int_equal(http_req(D.port, method, path, key, body, &r), 0);
    if (r.status != 400) {
        fail_msg("%s %s answered %d, expected 400: %s", method, path, r.status,
                 r.body ? r.body : "");
    }
    json_t *j = resp_json(&r);
    assert_non_null(j);
    const char *f = json_string_value(json_object_get(json_object_get(j, "error"), "field"));
    const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    if (field != NULL && (f == NULL || strcmp(f, field) != 0)) {
        fail_msg("%s %s: field %s, expected %s (%s)", method, path, f ? f : "(none)", field,
                 r.body);
    }
    if (msg != NULL && (m == NULL || strstr(m, msg) == NULL)) {
        fail_msg("%s %s: message '%s' lacks '%s'", method, path, m ? m : "(none)", msg);
    }
    json_decref(j);
    resp_free(&r);
}

static int setup(void **state)
{
    (void)state;
    if (harness_start_with_key(&D, NULL, SDK, sizeof(SDK)) != 0) {
        return -1;
    }
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"j-buy\",\"event\":\"j-buy\",\"type\":\"binomial\"}", 201);
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"j-err\",\"event\":\"j-err\",\"type\":\"binomial\"}", 201);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

/* The guardrail flag of metric key in a results (or series) document's metrics. */
static bool metric_guardrail(const json_t *doc, const char *key)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(doc, "metrics"), i, m)
    {
        if (strcmp(str(m, "key"), key) == 0) {
            return json_is_true(json_object_get(m, "guardrail"));
        }
    }
    fail_msg("metric %s not in the document", key);
    return false;
}

static void test_guardrail_also_metric(void **state)
{
    (void)state;
    call_ok("POST", "/api/v1/experiments",
            "{\"key\":\"j-guard\"," VARS ",\"metrics\":[\"j-buy\",\"j-err\"],"
            "\"guardrails\":[\"j-err\"]}",
            201);
    call_ok("POST", "/api/v1/experiments/j-guard/start", NULL, 200);
    call_ok(
        "POST", "/api/v1/exposures",
        "{\"exposures\":[{\"experiment\":\"j-guard\",\"user_id\":\"g1\",\"variant\":\"control\"},"
        "{\"experiment\":\"j-guard\",\"user_id\":\"g2\",\"variant\":\"green\"}]}",
        200);
    /* JSON and CSV (every field of one in the other) */
    json_t *doc = results_csv_check(D.port, D.admin_key, "/api/v1/experiments/j-guard/results");
    assert_int_equal(json_array_size(json_object_get(doc, "metrics")), 2);
    assert_false(metric_guardrail(doc, "j-buy"));
    assert_true(metric_guardrail(doc, "j-err"));
    json_decref(doc);
}

static void test_bare_item(void **state)
{
    (void)state;
    expect_400("POST", "/api/v1/events", SDK, "{\"user_id\":\"u-1\",\"event\":\"purchase\"}", NULL,
               "{\"events\": [...]}");
    expect_400("POST", "/api/v1/exposures", SDK,
               "{\"experiment\":\"j-guard\",\"user_id\":\"u-1\",\"variant\":\"green\"}", NULL,
               "{\"exposures\": [...]}");
    /* a wrapped batch with a stray field keeps the plain message */
    expect_400("POST", "/api/v1/events", SDK,
               "{\"events\":[{\"user_id\":\"u-1\",\"event\":\"b\"}],\"x\":1}", "x",
               "unknown field 'x'");
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", "/api/v1/events", SDK,
                              "{\"events\":[{\"user_id\":\"u-1\",\"event\":\"b\"}],\"x\":1}", &r),
                     0);
    assert_null(strstr(r.body, "[...]"));
    resp_free(&r);
}

static void test_unknown_field_first(void **state)
{
    (void)state;
    expect_400("POST", "/api/v1/assign", SDK, "{\"user\":\"u-1\"}", "user", "unknown field 'user'");
    expect_400("POST", "/api/v1/assign", SDK, "{\"user_id\":\"u-1\",\"attrs\":{}}", "attrs",
               "unknown field 'attrs'");
    expect_400("POST", "/api/v1/keys", D.admin_key, "{\"nam\":\"k\",\"role\":\"sdk\"}", "nam",
               "unknown field 'nam'");
}

static void test_dimension_named(void **state)
{
    (void)state;
    call_ok("POST", "/api/v1/experiments",
            "{\"key\":\"j-dims\"," VARS ",\"dimensions\":[\"country\",\"plan\"]}", 201);
    expect_400("GET", "/api/v1/experiments/j-dims/results?dimension=city", D.admin_key, NULL,
               "dimension", "dimension must be one of the experiment's dimensions (country, plan)");
    /* three of 64 bytes do not fit the message whole: the first ones, then "and N more" */
    char a[65], b[65], c[65];
    memset(a, 'a', 64), memset(b, 'b', 64), memset(c, 'c', 64);
    a[64] = b[64] = c[64] = '\0';
    call_ok("POST", "/api/v1/experiments",
            fmt("{\"key\":\"j-dims3\"," VARS ",\"dimensions\":[\"%s\",\"%s\",\"%s\"]}", a, b, c),
            201);
    expect_400("GET", "/api/v1/experiments/j-dims3/results?dimension=city", D.admin_key, NULL,
               "dimension", fmt("dimensions (%s, and 2 more)", a));
    call_ok("POST", "/api/v1/experiments", "{\"key\":\"j-dims0\"," VARS "}", 201);
    expect_400("GET", "/api/v1/experiments/j-dims0/results?dimension=city", D.admin_key, NULL,
               "dimension", "(it lists none)");
}

/* GET path with key answers want (the body is not looked at). */
static void status_is(const char *method, const char *path, const char *key, const char *body,
                      int want)
{
    struct resp r;
    assert_int_equal(http_req(D.port, method, path, key, body, &r), 0);
    if (r.status != want) {
        fail_msg("%s %s answered %d, expected %d: %.300s", method, path, r.status, want,
                 r.body ? r.body : "");
    }
    resp_free(&r);
}

static void test_unknown_query(void **state)
{
    (void)state;
    const char *res = "/api/v1/experiments/j-guard/results";
    expect_400("GET", fmt("%s?metod=bayesian", res), D.admin_key, NULL, "metod",
               "unknown query parameter 'metod' (this route takes method, alpha, cuped, "
               "correction, dimension, format)");
    expect_400("GET", "/api/v1/experiments?state=running", D.admin_key, NULL, "state",
               "unknown query parameter 'state' (this route takes status)");
    expect_400("GET", "/api/v1/experiments/j-guard/assign?user_id=u&country=NL", SDK, NULL,
               "country", "; an attribute is attr.country");
    expect_400("GET", "/api/v1/experiments/j-guard/assign?user_id=u&attr.=NL", SDK, NULL, "attr.",
               NULL);
    expect_400("GET", "/api/v1/metrics?_=1", D.admin_key, NULL, "_", "(this route takes none)");
    expect_400("POST", "/api/v1/events?debug=1", SDK,
               "{\"events\":[{\"user_id\":\"u\",\"event\":\"b\"}]}", "debug", NULL);
    expect_400("GET", fmt("%s/users?metric=j-buy&fromat=csv", "/api/v1/experiments/j-guard"),
               D.admin_key, NULL, "fromat", NULL);
    /* a bare name is read as name= (it read as absent: ?log_exposure logged, ?explain did
     * nothing); a value without a name is unknown */
    expect_400("GET", "/api/v1/experiments/j-guard/assign?user_id=u&log_exposure", SDK, NULL,
               "log_exposure", "true or false");
    expect_400("GET", "/api/v1/experiments/j-guard/assign?user_id=u&explain", SDK, NULL, "explain",
               NULL);
    expect_400("GET", fmt("%s?method", res), D.admin_key, NULL, "method", NULL);
    expect_400("GET", fmt("%s?format", res), D.admin_key, NULL, "format", NULL);
    expect_400("GET", fmt("%s?dimension", res), D.admin_key, NULL, "dimension", NULL);
    expect_400("GET", "/api/v1/experiments?status", D.admin_key, NULL, "status", NULL);
    expect_400("GET", fmt("%s?=x", res), D.admin_key, NULL, NULL, "a value but no name");
    status_is("GET", fmt("%s?method=bayesian&&alpha=0.1", res), D.admin_key, NULL, 200);
    /* the key first: no key is a 401, not a 400 about the query */
    status_is("GET", fmt("%s?metod=bayesian", res), NULL, NULL, 401);
    /* the names each route takes still pass */
    status_is("GET",
              fmt("%s?method=bayesian&alpha=0.1&cuped=false&correction=none&format=json", res),
              D.admin_key, NULL, 200);
    status_is("GET", "/api/v1/experiments/j-guard/timeseries?metric=j-buy&method=frequentist",
              D.admin_key, NULL, 200);
    status_is("GET", "/api/v1/experiments?status=running", D.admin_key, NULL, 200);
    status_is("GET",
              "/api/v1/experiments/j-guard/assign?user_id=u&attr.country=NL&explain=true&"
              "log_exposure=false",
              SDK, NULL, 200);
    status_is("GET", "/api/v1/saved-groups?values=false", D.admin_key, NULL, 200);
    status_is("GET", "/api/v1/keys?include_revoked=true", D.admin_key, NULL, 200);
    status_is("GET", "/api/v1/audit?limit=5&target_type=experiment&target=j-guard", D.admin_key,
              NULL, 200);
    /* not checked: SDK, OFREP, health, metrics, the OpenAPI document, static files (cache
     * busters) */
    status_is("GET", fmt("/api/features/%s?_=123", SDK), NULL, NULL, 200);
    status_is("POST", "/ofrep/v1/evaluate/flags?_=1", SDK, "{\"context\":{\"targetingKey\":\"u\"}}",
              200);
    status_is("GET", "/healthz?_=1", NULL, NULL, 200);
    status_is("GET", "/readyz?_=1", NULL, NULL, 200);
    status_is("GET", "/metrics?_=1", NULL, NULL, 200);
    status_is("GET", "/api/v1/openapi.yaml?v=2", NULL, NULL, 200);
}

/* GET /api/v1/me, which SDKs and browsers call to check a key, ignores unknown query
 * parameters as the SDK routes do (a cache buster), and still wants a valid key. */
static void test_me_ignores_query(void **state)
{
    (void)state;
    status_is("GET", "/api/v1/me?_=1700000000", SDK, NULL, 200);
    status_is("GET", "/api/v1/me?_=1700000000&v=2", D.admin_key, NULL, 200);
    json_t *me = call("GET", "/api/v1/me?_=1", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(me, "role")), "admin");
    json_decref(me);
    status_is("GET", "/api/v1/me?_=1700000000", NULL, NULL, 401);
    /* a repeated name is still a 400, on every route */
    expect_400("GET", "/api/v1/me?_=1&_=2", SDK, NULL, "_", "more than once");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guardrail_also_metric), cmocka_unit_test(test_bare_item),
        cmocka_unit_test(test_unknown_field_first),   cmocka_unit_test(test_dimension_named),
        cmocka_unit_test(test_unknown_query),         cmocka_unit_test(test_me_ignores_query),
    };
    return cmocka_run_group_tests_name("journey", tests, setup, teardown);
}
