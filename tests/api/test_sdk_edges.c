/*
 * API tests for the SDK-surfaces review (rev-sdk27): the edges of the browser and OFREP
 * integrations.
 * - a browser on another origin sends exposures and events and calls /assign: the preflight
 *   and the POST carry the CORS headers;
 * - a numeric user_id (a safe integer) is its decimal text on /exposures, /events and
 *   /assign; a real or a larger integer is a 400 naming the field, for the whole batch;
 * One daemon for every test.
 */
#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct daemon D;
static char SDK[128];

static int setup(void **state)
{
    (void)state;
    if (harness_start_with_key(&D, NULL, SDK, sizeof(SDK)) != 0) {
        return -1;
    }
    harness_started_experiment(D.port, D.admin_key, "edge",
                               "{\"key\":\"edge\",\"variants\":[{\"key\":\"control\"},{\"key\":"
                               "\"green\"}]}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

/* rev-sdk27 finding 1: a page on another origin following INTEGRATIONS.md's recipe had its
 * POST /api/v1/exposures blocked by the browser (no Access-Control-Allow-Origin, OPTIONS a
 * 405): every browser-side exposure and event was lost. */
static void test_cors_ingest(void **state)
{
    (void)state;
    const char *origin = "Origin: https://shop.example.com\r\n"
                         "Access-Control-Request-Method: POST\r\n"
                         "Access-Control-Request-Headers: authorization, content-type\r\n";
    const char *paths[] = {"/api/v1/exposures", "/api/v1/events", "/api/v1/assign"};
    const char *bodies[] = {
        "{\"exposures\":[{\"experiment\":\"edge\",\"user_id\":\"c1\",\"variant\":\"green\"}]}",
        "{\"events\":[{\"user_id\":\"c1\",\"event\":\"buy\"}]}",
        "{\"user_id\":\"c1\",\"experiments\":[\"edge\"]}"};
    for (size_t i = 0; i < 3; i++) {
        struct resp r;
        char v[256] = "";
        assert_int_equal(http_req_hdr(D.port, "OPTIONS", paths[i], NULL, origin, NULL, NULL, 0, &r),
                         0);
        if (r.status != 204 || !resp_header(&r, "Access-Control-Allow-Origin", v, sizeof(v)) ||
            strcmp(v, "*") != 0) {
            fail_msg("OPTIONS %s: %d, Allow-Origin %s", paths[i], r.status, v);
        }
        assert_true(resp_header(&r, "Access-Control-Allow-Methods", v, sizeof(v)));
        assert_non_null(strstr(v, "POST"));
        assert_true(resp_header(&r, "Access-Control-Allow-Headers", v, sizeof(v)));
        assert_non_null(strstr(v, "Authorization"));
        assert_non_null(strstr(v, "X-API-Key"));
        assert_non_null(strstr(v, "Content-Type"));
        resp_free(&r);
        /* the cross-origin POST: answered with the header, and an error too */
        for (int bad = 0; bad < 2; bad++) {
            const char *body = bad ? "{}" : bodies[i];
            assert_int_equal(http_req_hdr(D.port, "POST", paths[i], SDK,
                                          "Origin: https://shop.example.com\r\n",
                                          "application/json", body, strlen(body), &r),
                             0);
            v[0] = '\0';
            if (r.status != (bad ? 400 : 200) ||
                !resp_header(&r, "Access-Control-Allow-Origin", v, sizeof(v)) ||
                strcmp(v, "*") != 0) {
                fail_msg("POST %s %s: %d, Allow-Origin %s", paths[i], body, r.status, v);
            }
            resp_free(&r);
        }
    }
}

/* A 400 naming field. */
static void refused_field(const char *path, const char *body, const char *field)
{
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", path, SDK, body, &r), 0);
    if (r.status != 400 || strcmp(resp_error_field(&r), field) != 0) {
        fail_msg("POST %s %s: %d %s, want 400 naming %s", path, body, r.status,
                 resp_error_field(&r), field);
    }
    resp_free(&r);
}

/* rev-sdk27 finding 2: INTEGRATIONS.md's recipe sent the GrowthBook SDK's attributes.id,
 * a number for apps with database ids: every batch was a 400 and dropped. */
static void test_numeric_user_id(void **state)
{
    (void)state;
    harness_metric(D.port, D.admin_key, "{\"key\":\"nbuy\",\"event\":\"buy\",\"type\":\"count\"}");
    harness_started_experiment(D.port, D.admin_key, "numid",
                               "{\"key\":\"numid\",\"metrics\":[\"nbuy\"],\"variants\":[{"
                               "\"key\":\"control\"},{\"key\":\"green\"}]}");
    json_t *a = harness_call(D.port, "POST", "/api/v1/assign", SDK,
                             "{\"user_id\":\"424242\",\"experiments\":[\"numid\"],"
                             "\"log_exposure\":false}",
                             200);
    json_t *b = harness_call(D.port, "POST", "/api/v1/assign", SDK,
                             "{\"user_id\":424242,\"experiments\":[\"numid\"],"
                             "\"log_exposure\":false}",
                             200);
    assert_string_equal(str(b, "user_id"), "424242");
    const json_t *xa = json_object_get(json_object_get(a, "assignments"), "numid");
    const json_t *xb = json_object_get(json_object_get(b, "assignments"), "numid");
    assert_true(json_equal(xa, xb));
    const char *variant = str(xa, "variant");
    json_t *e = harness_call(
        D.port, "POST", "/api/v1/exposures", SDK,
        fmt("{\"exposures\":[{\"experiment\":\"numid\",\"user_id\":424242,\"variant\":\"%s\"},"
            "{\"experiment\":\"numid\",\"user_id\":-9007199254740991,\"variant\":\"control\"}]}",
            variant),
        200);
    assert_int_equal(json_integer_value(json_object_get(e, "accepted")), 2);
    json_decref(e);
    /* the same user as text: a duplicate, not a second user */
    e = harness_call(D.port, "POST", "/api/v1/exposures", SDK,
                     fmt("{\"exposures\":[{\"experiment\":\"numid\",\"user_id\":\"424242\","
                         "\"variant\":\"%s\"}]}",
                         variant),
                     200);
    assert_int_equal(json_integer_value(json_object_get(e, "duplicates")), 1);
    json_decref(e);
    e = harness_call(D.port, "POST", "/api/v1/events", SDK,
                     "{\"events\":[{\"user_id\":424242,\"event\":\"buy\",\"id\":\"n1\"}]}", 200);
    assert_int_equal(json_integer_value(json_object_get(e, "accepted")), 1);
    json_decref(e);
    e = harness_call(D.port, "POST", "/api/v1/events", SDK,
                     "{\"events\":[{\"user_id\":\"424242\",\"event\":\"buy\",\"id\":\"n1\"}]}",
                     200);
    assert_int_equal(json_integer_value(json_object_get(e, "duplicates")), 1);
    json_decref(e);
    /* read back: stored as the text */
    struct resp r;
    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/numid/users?metric=nbuy&format=ndjson",
                              D.admin_key, NULL, &r),
                     0);
    if (r.status != 200) {
        fail_msg("users: %d %s", r.status, r.body);
    }
    if (strstr(r.body, "\"user_id\":\"424242\"") == NULL ||
        strstr(r.body, "\"user_id\":\"-9007199254740991\"") == NULL) {
        fail_msg("users: %s", r.body);
    }
    resp_free(&r);
    json_decref(a);
    json_decref(b);

    /* anything else non-string: a 400 naming the field, and nothing of the batch stored */
    const char *bad[] = {"1.5", "9007199254740992", "-9007199254740992", "true", "{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        refused_field("/api/v1/exposures",
                      fmt("{\"exposures\":[{\"experiment\":\"numid\",\"user_id\":\"nb1\","
                          "\"variant\":\"control\"},{\"experiment\":\"numid\",\"user_id\":%s,"
                          "\"variant\":\"control\"}]}",
                          bad[i]),
                      "exposures[1].user_id");
        refused_field("/api/v1/events",
                      fmt("{\"events\":[{\"user_id\":\"nb1\",\"event\":\"buy\"},{\"user_id\":%s,"
                          "\"event\":\"buy\"}]}",
                          bad[i]),
                      "events[1].user_id");
        refused_field("/api/v1/assign", fmt("{\"user_id\":%s}", bad[i]), "user_id");
    }
    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/numid/users?metric=nbuy&format=ndjson",
                              D.admin_key, NULL, &r),
                     0);
    assert_null(strstr(r.body, "nb1"));
    resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cors_ingest),
        cmocka_unit_test(test_numeric_user_id),
    };
    return cmocka_run_group_tests_name("api_sdk_edges", tests, setup, teardown);
}
