/*
 * API tests for the SDK-surfaces review (rev-sdk27): the edges of the browser and OFREP
 * integrations.
 * - a browser on another origin sends exposures and events and calls /assign: the preflight
 *   and the POST carry the CORS headers;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cors_ingest),
    };
    return cmocka_run_group_tests_name("api_sdk_edges", tests, setup, teardown);
}
