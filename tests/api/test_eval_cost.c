/* API tests: the targeting work a request did is charged to the rate limits it took a token
 * from (http_req_charge_steps): a client whose every request spends the evaluation budget
 * is refused (429 + Retry-After) far sooner than one whose requests are cheap, per client IP
 * and per sdk key on /api/eval, per key on /assign (iso review, finding 4: at the default
 * 1,000 requests/s per IP such requests were ~12.7 CPU-seconds a second). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;
static char sdk_key[64];

#define VARS "\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]"
#define NSTR 12

static int setup(void **state)
{
    (void)state;
    /* 50 requests/s per IP and per key (bursts of 100): well over 40 cheap requests */
    const char *const args[] = {"--rate-limit-ip", "50", "--rate-limit-assign", "50", NULL};
    if (harness_start_with_key(&D, args, sdk_key, sizeof(sdk_key)) != 0) {
        return -1;
    }
    char body[4096];
    size_t n = (size_t)snprintf(body, sizeof(body),
                                "{\"key\":\"costly\"," VARS ",\"targeting\":{\"$or\":[");
    for (int i = 0; i < NSTR; i++) {
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "%s{\"s%d\":{\"$regex\":\"(?:a|a){1,12}c\"}}", i ? "," : "", i);
    }
    snprintf(body + n, sizeof(body) - n, "]}}");
    harness_started_experiment(D.port, D.admin_key, "costly", body);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

/* {"user_id": "u1", "attributes": {"id": "u1", "s0": "aaa...ab", ...}} with 4 KB near misses
 * (costly) or none; ofrep: {"context": {"targetingKey": "u1", ...}} */
static char *attrs_body(bool ofrep, bool costly)
{
    size_t cap = NSTR * 4100 + 256;
    char *b = malloc(cap);
    size_t n = (size_t)snprintf(b, cap, "%s",
                                ofrep ? "{\"context\":{\"targetingKey\":\"u1\""
                                      : "{\"user_id\":\"u1\",\"attributes\":{\"id\":\"u1\"");
    for (int i = 0; costly && i < NSTR; i++) {
        n += (size_t)snprintf(b + n, cap - n, ",\"s%d\":\"", i);
        memset(b + n, 'a', 4000);
        n += 4000;
        n += (size_t)snprintf(b + n, cap - n, "b\"");
    }
    snprintf(b + n, cap - n, "}}");
    return b;
}

/* 40 requests one after another: how many were refused (429 with Retry-After). */
static int refused_of(const char *path, const char *key, const char *body, int *other)
{
    int refused = 0;
    *other = 0;
    for (int i = 0; i < 40; i++) {
        struct resp r;
        assert_int_equal(http_req(D.port, "POST", path, key, body, &r), 0);
        if (r.status == 429) {
            char ra[16];
            assert_true(resp_header(&r, "Retry-After", ra, sizeof(ra)));
            refused++;
        } else if (*other == 0) {
            *other = r.status;
        }
        resp_free(&r);
    }
    return refused;
}

static void test_costly_eval_is_charged(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "/api/eval/%s", sdk_key);
    char *cheap = attrs_body(false, false);
    char *costly = attrs_body(false, true);
    int other = 0;
    int cheap_refused = refused_of(path, NULL, cheap, &other);
    print_message("# /api/eval: 40 cheap requests, %d refused (first other status %d)\n",
                  cheap_refused, other);
    assert_int_equal(cheap_refused, 0);
    assert_int_equal(other, 200);
    int costly_refused = refused_of(path, NULL, costly, &other);
    print_message("# /api/eval: 40 requests spending the budget, %d refused (other status %d)\n",
                  costly_refused, other);
    /* each counts as ~21 requests: the 100-token burst pays for about 5, the refill for ~2
     * a second */
    assert_true(costly_refused >= 20);
    free(cheap);
    free(costly);
}

/* 40 cheap requests (attrs_body) to path with key pass; of 40 costly ones 20 or more are
 * refused. what names them in the output. */
static void costly_is_charged(const char *what, const char *path, const char *key, bool ofrep)
{
    char *cheap = attrs_body(ofrep, false);
    char *costly = attrs_body(ofrep, true);
    int other = 0;
    int cheap_refused = refused_of(path, key, cheap, &other);
    print_message("# %s: 40 cheap requests, %d refused (other status %d)\n", what, cheap_refused,
                  other);
    assert_int_equal(cheap_refused, 0);
    int costly_refused = refused_of(path, key, costly, &other);
    print_message("# %s: 40 costly requests, %d refused (other status %d)\n", what, costly_refused,
                  other);
    assert_true(costly_refused >= 20);
    free(cheap);
    free(costly);
}

static void test_costly_assign_is_charged(void **state)
{
    (void)state;
    costly_is_charged("/assign", "/api/v1/assign", sdk_key, false);
}

/* OFREP (bulk) with a key of its own: per key as /assign */
static void test_costly_ofrep_is_charged(void **state)
{
    (void)state;
    char key[64];
    harness_sdk_key_named(D.port, D.admin_key, "ofrep", key, sizeof(key), NULL, 0);
    costly_is_charged("OFREP", "/ofrep/v1/evaluate/flags", key, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_costly_eval_is_charged),
        cmocka_unit_test(test_costly_assign_is_charged),
        cmocka_unit_test(test_costly_ofrep_is_charged),
    };
    return cmocka_run_group_tests_name("api_eval_cost", tests, setup, teardown);
}
