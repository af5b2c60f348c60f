/*
 * API tests for concurrency control and frozen results (API.md "Concurrency control"):
 * strong ETags on GET of experiments and metrics (and 304 on If-None-Match), If-Match on
 * PATCH, DELETE and every lifecycle call (a stale tag gets 412 precondition_failed and
 * changes nothing; the current tag or "*" goes through; the reply carries the new tag), a
 * stale dashboard form that can no longer undo a concurrent change, stopped experiments
 * whose results-changing fields are frozen (409), and a metric used by an archived
 * experiment that cannot be deleted (409). One daemon for the whole group.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;

#define VARS "\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]"

static int setup(void **state)
{
    (void)state;
    static const char *const args[] = {"--rate-limit-manage", "0", NULL};
    return daemon_start(&D, args);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

/* A request as admin with extra header lines; fails unless the status is want. The ETag of
 * the reply goes to etag (n bytes, "" when none) when etag is not NULL. */
static json_t *req(const char *method, const char *path, const char *headers, const char *body,
                   int want, char *etag, size_t n)
{
    struct resp r;
    assert_int_equal(http_req_hdr(D.port, method, path, D.admin_key, headers,
                                  body ? "application/json" : NULL, body, body ? strlen(body) : 0,
                                  &r),
                     0);
    if (r.status != want) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s %s [%s] %s: status %d, expected %d: %.300s", method, path,
                 headers ? headers : "", body ? body : "", r.status, want, r.body ? r.body : "");
        resp_free(&r); /* fail_msg does not return */
        fail_msg("%s", msg);
    }
    if (etag != NULL && !resp_header(&r, "ETag", etag, n)) {
        etag[0] = '\0';
    }
    json_t *j = resp_json(&r);
    resp_free(&r);
    return j;
}

static void req_ok(const char *method, const char *path, const char *headers, const char *body,
                   int want)
{
    json_decref(req(method, path, headers, body, want, NULL, 0));
}

static const char *if_match(const char *etag)
{
    static char h[128];
    snprintf(h, sizeof(h), "If-Match: %s\r\n", etag);
    return h;
}

static void expect_error(json_t *j, const char *code, const char *field)
{
    json_t *e = json_object_get(j, "error");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    const char *f = json_string_value(json_object_get(e, "field"));
    if (field != NULL) {
        assert_non_null(f);
        assert_string_equal(f, field);
    }
    json_decref(j);
}

static void test_experiment_etags(void **state)
{
    (void)state;
    char t0[80], t1[80], t2[80], t3[80];
    req_ok("POST", "/api/v1/experiments", NULL, "{\"key\":\"etag-x\"," VARS "}", 201);
    json_decref(req("GET", "/api/v1/experiments/etag-x", NULL, NULL, 200, t0, sizeof(t0)));
    /* strong: quoted, no W/ */
    assert_true(strlen(t0) > 2 && t0[0] == '"' && t0[strlen(t0) - 1] == '"');
    /* the same document gives the same tag; If-None-Match with it: 304 */
    json_decref(req("GET", "/api/v1/experiments/etag-x", NULL, NULL, 200, t1, sizeof(t1)));
    assert_string_equal(t0, t1);
    char inm[128];
    snprintf(inm, sizeof(inm), "If-None-Match: %s\r\n", t0);
    req_ok("GET", "/api/v1/experiments/etag-x", inm, NULL, 304);

    /* Two editors read t0. The first saves (new tag), the second's stale form gets 412. */
    json_t *j = req("PATCH", "/api/v1/experiments/etag-x", if_match(t0), "{\"name\":\"First\"}",
                    200, t1, sizeof(t1));
    assert_string_equal(str(j, "name"), "First");
    json_decref(j);
    assert_string_not_equal(t0, t1);
    json_decref(req("GET", "/api/v1/experiments/etag-x", NULL, NULL, 200, t2, sizeof(t2)));
    assert_string_equal(t1, t2); /* the PATCH reply's tag is the GET's */
    expect_error(req("PATCH", "/api/v1/experiments/etag-x", if_match(t0),
                     "{\"name\":\"Stale\",\"owner\":\"b\"}", 412, NULL, 0),
                 "precondition_failed", NULL);
    j = req("GET", "/api/v1/experiments/etag-x", NULL, NULL, 200, t2, sizeof(t2));
    assert_string_equal(str(j, "name"), "First"); /* the stale form undid nothing */
    json_decref(j);
    assert_string_equal(t1, t2);
    /* a list of tags, one current; a weak form of the current tag does not match */
    char h[256];
    snprintf(h, sizeof(h), "If-Match: \"nope\", %s\r\n", t1);
    req_ok("PATCH", "/api/v1/experiments/etag-x", h, "{\"owner\":\"pm\"}", 200);
    json_decref(req("GET", "/api/v1/experiments/etag-x", NULL, NULL, 200, t2, sizeof(t2)));
    snprintf(h, sizeof(h), "If-Match: W/%s\r\n", t2);
    req_ok("PATCH", "/api/v1/experiments/etag-x", h, "{\"owner\":\"x\"}", 412);
    req_ok("PATCH", "/api/v1/experiments/etag-x", "If-Match: *\r\n", "{\"owner\":\"y\"}", 200);
    /* no If-Match: unconditional, as v1 */
    req_ok("PATCH", "/api/v1/experiments/etag-x", NULL, "{\"owner\":\"z\"}", 200);

    /* lifecycle calls honour If-Match */
    json_decref(req("GET", "/api/v1/experiments/etag-x", NULL, NULL, 200, t2, sizeof(t2)));
    req_ok("POST", "/api/v1/experiments/etag-x/start", if_match(t0), NULL, 412);
    j = req("GET", "/api/v1/experiments/etag-x", NULL, NULL, 200, NULL, 0);
    assert_string_equal(str(j, "status"), "draft");
    json_decref(j);
    req_ok("POST", "/api/v1/experiments/etag-x/start", if_match(t2), NULL, 200);
    req_ok("POST", "/api/v1/experiments/etag-x/pause", if_match(t2), NULL, 412);
    json_decref(req("GET", "/api/v1/experiments/etag-x", NULL, NULL, 200, t3, sizeof(t3)));
    json_decref(
        req("POST", "/api/v1/experiments/etag-x/stop", if_match(t3), "{}", 200, t2, sizeof(t2)));
    assert_true(t2[0] == '"');

    /* DELETE honours If-Match (a draft) */
    req_ok("POST", "/api/v1/experiments", NULL, "{\"key\":\"etag-d\"," VARS "}", 201);
    json_decref(req("GET", "/api/v1/experiments/etag-d", NULL, NULL, 200, t0, sizeof(t0)));
    req_ok("PATCH", "/api/v1/experiments/etag-d", NULL, "{\"name\":\"moved\"}", 200);
    req_ok("DELETE", "/api/v1/experiments/etag-d", if_match(t0), NULL, 412);
    json_decref(req("GET", "/api/v1/experiments/etag-d", NULL, NULL, 200, t1, sizeof(t1)));
    req_ok("DELETE", "/api/v1/experiments/etag-d", if_match(t1), NULL, 200);
    req_ok("GET", "/api/v1/experiments/etag-d", NULL, NULL, 404);
}

static void test_metric_etags(void **state)
{
    (void)state;
    char t0[80], t1[80];
    json_decref(req("POST", "/api/v1/metrics", NULL,
                    "{\"key\":\"etag-m\",\"event\":\"buy\",\"type\":\"count\"}", 201, t0,
                    sizeof(t0)));
    assert_true(t0[0] == '"'); /* the create reply carries the tag too */
    json_decref(req("GET", "/api/v1/metrics/etag-m", NULL, NULL, 200, t1, sizeof(t1)));
    assert_string_equal(t0, t1);
    req_ok("PATCH", "/api/v1/metrics/etag-m", if_match(t0), "{\"name\":\"Buys\"}", 200);
    expect_error(
        req("PATCH", "/api/v1/metrics/etag-m", if_match(t0), "{\"name\":\"Old\"}", 412, NULL, 0),
        "precondition_failed", NULL);
    json_t *j = req("GET", "/api/v1/metrics/etag-m", NULL, NULL, 200, t1, sizeof(t1));
    assert_string_equal(str(j, "name"), "Buys");
    json_decref(j);
    req_ok("DELETE", "/api/v1/metrics/etag-m", if_match(t0), NULL, 412);
    req_ok("DELETE", "/api/v1/metrics/etag-m", if_match(t1), NULL, 200);
}

static void test_stopped_is_frozen(void **state)
{
    (void)state;
    req_ok("POST", "/api/v1/metrics", NULL,
           "{\"key\":\"fz-m\",\"event\":\"buy\",\"type\":\"count\"}", 201);
    req_ok("POST", "/api/v1/metrics", NULL,
           "{\"key\":\"fz-m2\",\"event\":\"buy\",\"type\":\"count\"}", 201);
    req_ok("POST", "/api/v1/experiments", NULL,
           "{\"key\":\"fz\"," VARS ",\"metrics\":[\"fz-m\"],\"primary_metric\":\"fz-m\"}", 201);
    req_ok("POST", "/api/v1/experiments/fz/start", NULL, NULL, 200);
    req_ok("POST", "/api/v1/experiments/fz/stop", NULL, NULL, 200);
    static const struct {
        const char *body;
        const char *field;
    } frozen[] = {
        {"{\"variants\":[{\"key\":\"green\"},{\"key\":\"control\"}]}", "variants"},
        {"{\"variants\":[{\"key\":\"control\",\"weight\":0.9},{\"key\":\"green\",\"weight\":0.1}]}",
         "variants"},
        {"{\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"},{\"key\":\"blue\"}]}",
         "variants"},
        {"{\"metrics\":[\"fz-m2\"],\"primary_metric\":\"fz-m2\"}", "metrics"},
        {"{\"guardrails\":[\"fz-m2\"]}", "metrics"},
        {"{\"seed\":\"other\"}", "seed"},
        {"{\"targeting\":{\"country\":\"NL\"}}", "targeting"},
    };
    for (size_t i = 0; i < sizeof(frozen) / sizeof(frozen[0]); i++) {
        expect_error(req("PATCH", "/api/v1/experiments/fz", NULL, frozen[i].body, 409, NULL, 0),
                     "conflict", frozen[i].field);
    }
    json_t *j = req("GET", "/api/v1/experiments/fz", NULL, NULL, 200, NULL, 0);
    json_t *v = json_object_get(j, "variants");
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(str(json_array_get(v, 0), "key"), "control");
    json_decref(j);
    /* what does not touch the results may still change */
    req_ok("PATCH", "/api/v1/experiments/fz", NULL, "{\"name\":\"Renamed\",\"description\":\"d\"}",
           200);
    /* nor may the definition of a metric it analyses (its display fields may) */
    expect_error(req("PATCH", "/api/v1/metrics/fz-m", NULL, "{\"event\":\"other\"}", 409, NULL, 0),
                 "conflict", "event");
    expect_error(
        req("PATCH", "/api/v1/metrics/fz-m", NULL, "{\"type\":\"binomial\"}", 409, NULL, 0),
        "conflict", "type");
    req_ok("PATCH", "/api/v1/metrics/fz-m", NULL, "{\"name\":\"Frozen M\",\"description\":\"x\"}",
           200);
    json_t *m = req("GET", "/api/v1/metrics/fz-m", NULL, NULL, 200, NULL, 0);
    assert_string_equal(str(m, "event"), "buy");
    json_decref(m);
    /* archived: no edit at all; its metric cannot be deleted */
    req_ok("POST", "/api/v1/experiments/fz/archive", NULL, NULL, 200);
    req_ok("PATCH", "/api/v1/experiments/fz", NULL, "{\"name\":\"x\"}", 409);
    json_t *del = req("DELETE", "/api/v1/metrics/fz-m", NULL, NULL, 409, NULL, 0);
    /* not "remove it from them first": an archived experiment's metrics cannot change */
    const char *why = json_string_value(json_object_get(json_object_get(del, "error"), "message"));
    assert_non_null(why);
    assert_non_null(strstr(why, "stopped and archived ones keep it"));
    assert_null(strstr(why, "remove it from them"));
    expect_error(del, "conflict", "key");
    json_decref(req("GET", "/api/v1/experiments/fz/results", NULL, NULL, 200, NULL, 0));
    req_ok("DELETE", "/api/v1/metrics/fz-m2", NULL, NULL, 200); /* unused: goes */
}

/* A metric shared by more running experiments than the old fixed 16 KiB list of keys held
 * (~250 keys this long): an edit of the metric rebuilds every one of them, the last too. */
static void test_many_users_of_a_metric(void **state)
{
    (void)state;
    req_ok("POST", "/api/v1/metrics", NULL,
           "{\"key\":\"shared\",\"event\":\"buy\",\"type\":\"count\"}", 201);
    enum { N = 300 };
    char key[128];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "shared-user-with-a-rather-long-key-%04d-padding-padding", i);
        req_ok("POST", "/api/v1/experiments", NULL,
               fmt("{\"key\":\"%s\"," VARS ",\"metrics\":[\"shared\"]}", key), 201);
        req_ok("POST", fmt("/api/v1/experiments/%s/start", key), NULL, NULL, 200);
    }
    /* key is the last experiment (in key order): one exposed user with one "buy2" event */
    req_ok("POST", "/api/v1/exposures", NULL,
           fmt("{\"exposures\":[{\"experiment\":\"%s\",\"user_id\":\"u1\","
               "\"variant\":\"green\"}]}",
               key),
           200);
    req_ok("POST", "/api/v1/events", NULL, "{\"events\":[{\"user_id\":\"u1\",\"event\":\"buy2\"}]}",
           200);
    req_ok("PATCH", "/api/v1/metrics/shared", NULL, "{\"event\":\"buy2\"}", 200);
    json_t *j = req("GET", fmt("/api/v1/experiments/%s/results", key), NULL, NULL, 200, NULL, 0);
    json_t *vs = json_object_get(json_array_get(json_object_get(j, "metrics"), 0), "variants");
    double sum = -1;
    for (size_t i = 0; i < json_array_size(vs); i++) {
        json_t *v = json_array_get(vs, i);
        if (strcmp(str(v, "key"), "green") == 0) {
            sum = json_number_value(json_object_get(v, "sum"));
        }
    }
    json_decref(j);
    assert_true(sum == 1.0); /* rebuilt with the new event name */
    j = req("DELETE", "/api/v1/metrics/shared", NULL, NULL, 409, NULL, 0);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "300 experiments"));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_experiment_etags),
        cmocka_unit_test(test_metric_etags),
        cmocka_unit_test(test_stopped_is_frozen),
        cmocka_unit_test(test_many_users_of_a_metric),
    };
    return cmocka_run_group_tests_name("api_concurrency", tests, setup, teardown);
}
