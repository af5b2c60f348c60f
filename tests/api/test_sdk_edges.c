/*
 * API tests for the SDK-surfaces review (rev-sdk27): the edges of the browser and OFREP
 * integrations.
 * - a browser on another origin sends exposures and events and calls /assign: the preflight
 *   and the POST carry the CORS headers;
 * - a numeric user_id (a safe integer) is its decimal text on /exposures, /events and
 *   /assign; a real or a larger integer is a 400 naming the field, for the whole batch;
 * - OFREP paths answer every error in OFREP's shape (errorCode, errorDetails; key on the
 *   single-flag route): conflicting key headers, a wrong Content-Type, an empty flag key,
 *   401, 403; a context or body over a cap is a 400 INVALID_CONTEXT, never a 413 (Bunsen's
 *   own routes keep their 413); FLAG_NOT_FOUND always names the key, even one that is not
 *   UTF-8;
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
        assert_null(strstr(v, "GET")); /* POST-only routes (rev-diff27b 6) */
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
        /* a server's POST (no Origin): no CORS headers (rev-diff27b 2: ~2,200 instructions and
         * 97 bytes on every /assign reply) */
        assert_int_equal(http_req(D.port, "POST", paths[i], SDK, bodies[i], &r), 0);
        assert_int_equal(r.status, 200);
        if (resp_header(&r, "Access-Control-Allow-Origin", v, sizeof(v))) {
            fail_msg("POST %s without Origin: Access-Control-Allow-Origin %s", paths[i], v);
        }
        resp_free(&r);
    }
}

/* Each preflight lists the methods its path has (rev-diff27c 2: OFREP's bulk route said GET, the
 * payload POST). */
static void test_cors_preflight_methods(void **state)
{
    (void)state;
    const char *origin = "Origin: https://shop.example.com\r\n"
                         "Access-Control-Request-Method: POST\r\n";
    const struct {
        const char *path, *want;
    } cases[] = {
        {"/ofrep/v1/evaluate/flags", "POST, OPTIONS"},
        {"/api/v1/assign", "POST, OPTIONS"},
        {"/api/features/whatever", "GET, OPTIONS"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct resp r;
        char v[128] = "";
        assert_int_equal(
            http_req_hdr(D.port, "OPTIONS", cases[i].path, NULL, origin, NULL, NULL, 0, &r), 0);
        if (r.status != 204 || !resp_header(&r, "Access-Control-Allow-Methods", v, sizeof(v)) ||
            strcmp(v, cases[i].want) != 0) {
            fail_msg("OPTIONS %s: %d, Allow-Methods '%s', want '%s'", cases[i].path, r.status, v,
                     cases[i].want);
        }
        resp_free(&r);
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

/* An OFREP error body: status, errorCode code, errorDetails holding text, and key (NULL: no
 * "key" member). */
static void ofrep_refused(const struct resp *r, const char *what, int status, const char *code,
                          const char *text, const char *key)
{
    json_t *o = resp_json(r);
    const json_t *k = json_object_get(o, "key");
    if (r->status != status || o == NULL || strcmp(str(o, "errorCode"), code) != 0 ||
        strstr(str(o, "errorDetails"), text) == NULL ||
        (key == NULL ? k != NULL : !json_is_string(k) || strcmp(json_string_value(k), key) != 0) ||
        json_object_get(o, "error") != NULL) {
        fail_msg("%s: %d %s, want %d %s \"%s\" key %s", what, r->status, r->body, status, code,
                 text, key ? key : "(none)");
    }
    json_decref(o);
}

/* rev-sdk27 finding 5: errors made before the OFREP handler (key headers, Content-Type,
 * routing, authentication) were Bunsen's {"error": {...}}: providers read no errorCode and
 * reported GENERAL with an empty message. */
static void test_ofrep_error_shape(void **state)
{
    (void)state;
    const char *one = "/ofrep/v1/evaluate/flags/edge", *bulk = "/ofrep/v1/evaluate/flags";
    const char *ctx = "{\"context\":{\"targetingKey\":\"u1\"}}";
    struct resp r;
    const char *paths[] = {one, bulk};
    const char *keys[] = {"edge", NULL};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(http_req_hdr(D.port, "POST", paths[i], SDK, "X-API-Key: bsn_bogus\r\n",
                                      "application/json", ctx, strlen(ctx), &r),
                         0);
        ofrep_refused(&r, "two keys", 400, "GENERAL", "different keys", keys[i]);
        resp_free(&r);
        assert_int_equal(
            http_req_ct(D.port, "POST", paths[i], SDK, "text/plain", ctx, strlen(ctx), &r), 0);
        ofrep_refused(&r, "text/plain", 400, "PARSE_ERROR", "application/json", keys[i]);
        resp_free(&r);
        assert_int_equal(http_req(D.port, "POST", paths[i], "bsn_nope", ctx, &r), 0);
        ofrep_refused(&r, "unknown key", 401, "GENERAL", "API key", keys[i]);
        char www[128];
        assert_true(resp_header(&r, "WWW-Authenticate", www, sizeof(www)));
        resp_free(&r);
    }
    /* a viewer key: 403 */
    json_t *k = harness_call(D.port, "POST", "/api/v1/keys", D.admin_key,
                             "{\"name\":\"v\",\"role\":\"viewer\"}", 201);
    assert_int_equal(http_req(D.port, "POST", one, str(k, "key"), ctx, &r), 0);
    ofrep_refused(&r, "viewer", 403, "GENERAL", "role", "edge");
    resp_free(&r);
    json_decref(k);
    /* the empty key: no flag of that key */
    assert_int_equal(http_req(D.port, "POST", "/ofrep/v1/evaluate/flags/", SDK, ctx, &r), 0);
    ofrep_refused(&r, "empty key", 404, "FLAG_NOT_FOUND", "", "");
    resp_free(&r);
    /* Bunsen's routes keep Bunsen's shape */
    const char *assign = "{\"user_id\":\"u1\"}";
    assert_int_equal(http_req_hdr(D.port, "POST", "/api/v1/assign", SDK, "X-API-Key: bsn_bogus\r\n",
                                  "application/json", assign, strlen(assign), &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_string_equal(resp_error_code(&r), "invalid_argument");
    assert_non_null(strstr(r.body, "X-API-Key")); /* the two keys, not the body (rev-diff27b 4) */
    resp_free(&r);
}

/* A context of n attributes of len bytes each (malloc'd JSON text). */
static char *wide_context(int n, size_t len)
{
    size_t cap = (size_t)n * (len + 32) + 64;
    char *b = malloc(cap);
    size_t at = (size_t)snprintf(b, cap, "{\"context\":{\"targetingKey\":\"u1\"");
    for (int i = 0; i < n; i++) {
        at += (size_t)snprintf(b + at, cap - at, ",\"a%d\":\"", i);
        memset(b + at, 'x', len);
        at += len;
        b[at++] = '"';
    }
    snprintf(b + at, cap - at, "}}");
    return b;
}

/* rev-sdk27 finding 3: a context over the 64 KiB attribute cap was a 413, which OFREP does
 * not define: providers answered GENERAL "response does not match" instead of the reason. */
static void test_ofrep_too_large_is_400(void **state)
{
    (void)state;
    char *mid = wide_context(20, 4000);  /* ~80 KB: over the attributes, under the body */
    char *huge = wide_context(80, 4000); /* ~320 KB: over the assignment body cap */
    struct resp r;
    const char *paths[] = {"/ofrep/v1/evaluate/flags/edge", "/ofrep/v1/evaluate/flags"};
    const char *keys[] = {"edge", NULL};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(http_req(D.port, "POST", paths[i], SDK, mid, &r), 0);
        ofrep_refused(&r, "80 KB context", 400, "INVALID_CONTEXT", "65536", keys[i]);
        resp_free(&r);
        assert_int_equal(http_req(D.port, "POST", paths[i], SDK, huge, &r), 0);
        ofrep_refused(&r, "320 KB body", 400, "INVALID_CONTEXT", "exceeds the limit", keys[i]);
        resp_free(&r);
    }
    /* /assign keeps its 413 */
    /* mid is {"context":{...}}: its object as the attributes */
    size_t cap = strlen(mid) + 64;
    char *assign = malloc(cap);
    snprintf(assign, cap, "{\"user_id\":\"u1\",\"attributes\":%s", strchr(mid, ':') + 1);
    assert_int_equal(http_req(D.port, "POST", "/api/v1/assign", SDK, assign, &r), 0);
    if (r.status != 413 || strcmp(resp_error_code(&r), "payload_too_large") != 0) {
        fail_msg("/assign: %d %s", r.status, r.body);
    }
    resp_free(&r);
    free(assign);
    free(mid);
    free(huge);
}

/* rev-sdk27 finding 4: FLAG_NOT_FOUND for a key that is not UTF-8 (%ff) had no "key", which
 * the OFREP schema requires. */
static void test_ofrep_not_found_names_key(void **state)
{
    (void)state;
    const char *ctx = "{\"context\":{\"targetingKey\":\"u1\"}}";
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", "/ofrep/v1/evaluate/flags/nope", SDK, ctx, &r), 0);
    ofrep_refused(&r, "nope", 404, "FLAG_NOT_FOUND", "no experiment", "nope");
    resp_free(&r);
    assert_int_equal(http_req(D.port, "POST", "/ofrep/v1/evaluate/flags/a%ffb", SDK, ctx, &r), 0);
    ofrep_refused(&r, "%ff", 404, "FLAG_NOT_FOUND", "no experiment", "a?b");
    resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cors_ingest),
        cmocka_unit_test(test_cors_preflight_methods),
        cmocka_unit_test(test_numeric_user_id),
        cmocka_unit_test(test_ofrep_error_shape),
        cmocka_unit_test(test_ofrep_too_large_is_400),
        cmocka_unit_test(test_ofrep_not_found_names_key),
    };
    return cmocka_run_group_tests_name("api_sdk_edges", tests, setup, teardown);
}
