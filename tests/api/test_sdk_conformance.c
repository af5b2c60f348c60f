/*
 * API tests for the SDK-conformance review (rev-sdk): what SDK clients see.
 * - identical regex targeting in several experiments (six with \d+x on a long value, ten with
 *   one URL pattern): /assign, OFREP bulk and remote evaluation answer every one as the
 *   GrowthBook SDK does (targeted), not "not targeted" from the third on or a 400;
 * - the headers SDKs read on another origin are exposed to it (CORS Expose-Headers):
 *   x-sse-support (the GrowthBook SDK streams only when it reads it), ETag, Retry-After;
 * - an experiment's values are one JSON type (the flag's type): mixed ones are a 400 naming
 *   the variants, on create and on a PATCH of the values; an array is a type of its own, and
 *   OFREP refuses an experiment of arrays alike for every user;
 * - OFREP without a targetingKey evaluates what needs none (hashed on another attribute, a
 *   targeting miss) and is TARGETING_KEY_MISSING only for a user the id alone keeps out;
 * - parse failures in plain words (no jansson flag), OFREP's PARSE_ERROR with the reason;
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
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

/* The flag named key in an OFREP bulk answer, or NULL. */
static const json_t *bulk_flag(const json_t *bulk, const char *key)
{
    const json_t *flags = json_object_get(bulk, "flags");
    for (size_t i = 0; i < json_array_size(flags); i++) {
        if (strcmp(str(json_array_get(flags, i), "key"), key) == 0) {
            return json_array_get(flags, i);
        }
    }
    return NULL;
}

/* n running experiments prefix-1..n with targeting {attr: {"$regex": pattern}} (JSON text),
 * then attr = value (JSON text) for user u1 in /assign (every experiment), OFREP bulk and
 * remote evaluation: every one answered 200, with reason want ("hashed" or "not_targeted")
 * everywhere, as the GrowthBook SDK decides it. */
static void same_regex_everywhere(const char *prefix, int n, const char *attr, const char *pattern,
                                  const char *value, const char *want)
{
    bool in = strcmp(want, "hashed") == 0;
    char val[1024]; /* value may come from fmt(), whose buffers the calls below reuse */
    snprintf(val, sizeof(val), "%s", value);
    for (int i = 1; i <= n; i++) {
        harness_started_experiment(
            D.port, D.admin_key, fmt("%s-%d", prefix, i),
            fmt("{\"key\":\"%s-%d\",\"variants\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\","
                "\"value\":2}],\"default_value\":0,\"targeting\":{\"%s\":{\"$regex\":%s}}}",
                prefix, i, attr, pattern));
    }
    json_t *as = harness_call(
        D.port, "POST", "/api/v1/assign", SDK,
        fmt("{\"user_id\":\"u1\",\"attributes\":{\"%s\":%s},\"log_exposure\":false}", attr, val),
        200);
    json_t *bulk =
        harness_call(D.port, "POST", "/ofrep/v1/evaluate/flags", SDK,
                     fmt("{\"context\":{\"targetingKey\":\"u1\",\"%s\":%s}}", attr, val), 200);
    json_t *remote =
        harness_call(D.port, "POST", fmt("/api/eval/%s", SDK), NULL,
                     fmt("{\"attributes\":{\"id\":\"u1\",\"%s\":%s}}", attr, val), 200);
    for (int i = 1; i <= n; i++) {
        const char *key = fmt("%s-%d", prefix, i);
        const json_t *a = json_object_get(json_object_get(as, "assignments"), key);
        if (strcmp(str(a, "reason"), want) != 0) {
            fail_msg("/assign %s: reason %s, want %s", key, str(a, "reason"), want);
        }
        const json_t *f = bulk_flag(bulk, key);
        const char *r = f ? str(json_object_get(f, "metadata"), "assignment_reason") : "-";
        if (strcmp(r, want) != 0) {
            fail_msg("OFREP bulk %s: assignment_reason %s, want %s", key, r, want);
        }
        const json_t *rf = json_object_get(json_object_get(remote, "features"), key);
        const json_t *v = json_object_get(rf, "defaultValue");
        if (!json_is_integer(v) || (json_integer_value(v) != 0) != in) {
            fail_msg("remote evaluation %s: %s the experiment's value", key, in ? "not" : "");
        }
    }
    json_decref(remote);
    json_decref(bulk);
    json_decref(as);
}

/* rev-sdk findings 1 and 2: each identical regex condition spent the request's budget again
 * (six experiments on \d+x over 200 digits: /assign and OFREP bulk "not targeted" from the
 * third on while OFREP single and the SDK matched; ten experiments with .*\/checkout.* over a
 * 178-byte URL: OFREP bulk, remote evaluation and /assign a 400). */
static void test_same_regex_many_experiments(void **state)
{
    (void)state;
    char digits[256];
    memset(digits, '1', 200);
    snprintf(digits + 200, sizeof(digits) - 200, " 1x");
    same_regex_everywhere("rg", 6, "s", "\"\\\\d+x\"", fmt("\"%s\"", digits), "hashed");
    same_regex_everywhere(
        "checkout", 10, "url", "\".*/checkout.*\"",
        "\"https://shop.example.com/product/123?utm_source=newsletter&utm_medium=email&"
        "utm_campaign=spring-sale-2026&utm_content=hero-banner&fbclid=IwAR0abcdefghijklmnopqrstu"
        "vwxyz0123456789\"",
        "not_targeted");
}

/* Does the comma-separated header value list hold name (case-insensitive)? */
static bool list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p != '\0';) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t k = strcspn(p, ", ");
        if (k == n && strncasecmp(p, name, n) == 0) {
            return true;
        }
        p += k;
    }
    return false;
}

/* rev-sdk finding 3: the payload said x-sse-support: enabled but exposed only ETag, so a
 * GrowthBook SDK on another origin read null and never opened /sub (the normal browser
 * deployment); the OFREP providers read Retry-After after a 429. Every CORS route, the
 * preflight and an error reply included. */
static void test_cors_exposes_sdk_headers(void **state)
{
    (void)state;
    const char *origin = "Origin: https://shop.example.com\r\n";
    struct {
        const char *method, *path, *key, *body;
        int status;
    } calls[] = {
        {"GET", fmt("/api/features/%s", SDK), NULL, NULL, 200},
        {"OPTIONS", fmt("/sub/%s", SDK), NULL, NULL, 204},
        {"POST", "/ofrep/v1/evaluate/flags", SDK, "{\"context\":{\"targetingKey\":\"u1\"}}", 200},
        {"GET", "/api/features/bsn_nope", NULL, NULL, 401},
    };
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        struct resp r;
        const char *body = calls[i].body;
        assert_int_equal(http_req_hdr(D.port, calls[i].method, calls[i].path, calls[i].key, origin,
                                      body ? "application/json" : NULL, body,
                                      body ? strlen(body) : 0, &r),
                         0);
        char expose[256] = "";
        resp_header(&r, "Access-Control-Expose-Headers", expose, sizeof(expose));
        if (r.status != calls[i].status || !list_has(expose, "x-sse-support") ||
            !list_has(expose, "ETag") || !list_has(expose, "Retry-After")) {
            fail_msg("%s %s: %d, Access-Control-Expose-Headers: %s", calls[i].method, calls[i].path,
                     r.status, expose);
        }
        if (i == 0) {
            char sse[32] = "";
            assert_true(resp_header(&r, "x-sse-support", sse, sizeof(sse)));
            assert_string_equal(sse, "enabled");
        }
        resp_free(&r);
    }
}

/* A 400 naming field, its message holding text. */
static void refused(const char *method, const char *path, const char *body, const char *field,
                    const char *text)
{
    json_t *j = harness_call(D.port, method, path, D.admin_key, body, 400);
    const json_t *e = json_object_get(j, "error");
    if (strcmp(str(e, "code"), "invalid_argument") != 0 || strcmp(str(e, "field"), field) != 0 ||
        strstr(str(e, "message"), text) == NULL) {
        fail_msg("%s %s %s: %s %s \"%s\", want %s and \"%s\"", method, path, body, str(e, "code"),
                 str(e, "field"), str(e, "message"), field, text);
    }
    json_decref(j);
}

/* rev-sdk finding 4: variants false and "yes" (default 3) were accepted and started; OFREP's
 * getBooleanValue then answered TYPE_MISMATCH (the code default) to the users of "yes", whose
 * exposures were logged; null with 1 made one variant the string "a". */
static void test_values_of_one_type(void **state)
{
    (void)state;
    const char *x = "/api/v1/experiments";
    refused("POST", x,
            "{\"key\":\"rb-mixed\",\"variants\":[{\"key\":\"a\",\"value\":false},{\"key\":"
            "\"b\",\"value\":\"yes\"}],\"default_value\":3}",
            "variants[1].value", "variant 'a' is a boolean, variant 'b' is a string");
    refused("POST", x,
            "{\"key\":\"rb-null\",\"variants\":[{\"key\":\"a\",\"value\":null},{\"key\":"
            "\"b\",\"value\":1}]}",
            "variants[1].value", "variant 'a' is a string (no value: its key)");
    refused("POST", x,
            "{\"key\":\"rb-def\",\"variants\":[{\"key\":\"a\",\"value\":false},{\"key\":"
            "\"b\",\"value\":true}],\"default_value\":3}",
            "default_value", "it is a number");
    /* an object and an array (h-flags 1): OFREP refused the array's users only, unlogged */
    refused("POST", x,
            "{\"key\":\"farr\",\"variants\":[{\"key\":\"obj\",\"weight\":0.5,\"value\":{"
            "\"items\":[\"a\"]}},{\"key\":\"arr\",\"weight\":0.5,\"value\":[\"a\"]}]}",
            "variants[1].value", "variant 'obj' is an object, variant 'arr' is an array");
    refused("POST", x,
            "{\"key\":\"farr\",\"variants\":[{\"key\":\"a\",\"value\":{}},{\"key\":\"b\","
            "\"value\":{}}],\"default_value\":[]}",
            "default_value", "it is an array");
    json_decref(harness_call(D.port, "GET", fmt("%s/rb-mixed", x), D.admin_key, NULL, 404));
    /* arrays alone stay a flag type (/assign, the payload); OFREP refuses every user alike */
    harness_started_experiment(D.port, D.admin_key, "farr-only",
                               "{\"key\":\"farr-only\",\"variants\":[{\"key\":\"a\",\"value\":["
                               "1]},{\"key\":\"b\",\"value\":[2]}]}");
    for (int u = 0; u < 20; u++) {
        json_t *o = harness_call(D.port, "POST", "/ofrep/v1/evaluate/flags/farr-only", SDK,
                                 fmt("{\"context\":{\"targetingKey\":\"u%d\"}}", u), 400);
        assert_string_equal(str(o, "errorCode"), "GENERAL");
        json_decref(o);
    }
    /* one type: accepted; a PATCH that mixes is refused, the experiment as it was */
    json_decref(harness_call(D.port, "POST", x, D.admin_key,
                             "{\"key\":\"rb-bool\",\"variants\":[{\"key\":\"a\",\"value\":"
                             "false},{\"key\":\"b\",\"value\":true}],\"default_value\":false}",
                             201));
    refused("PATCH", fmt("%s/rb-bool", x), "{\"default_value\":\"no\"}", "default_value",
            "it is a string");
    refused("PATCH", fmt("%s/rb-bool", x),
            "{\"variants\":[{\"key\":\"a\",\"value\":false},{\"key\":\"b\",\"value\":1}]}",
            "variants[1].value", "variant 'b' is a number");
    json_t *got = harness_call(D.port, "GET", fmt("%s/rb-bool", x), D.admin_key, NULL, 200);
    assert_true(json_is_false(json_object_get(got, "default_value")));
    json_decref(got);
    json_decref(harness_call(D.port, "PATCH", fmt("%s/rb-bool", x), D.admin_key,
                             "{\"default_value\":true}", 200));
}

/* h-flags 4: valid JSON (or a JSON object) refused with jansson's words, which named its
 * JSON_ALLOW_NUL flag; OFREP answered every parse failure "the body must be a JSON object".
 * Each body: the message /assign gives and OFREP's errorDetails. */
static void test_json_errors_plain(void **state)
{
    (void)state;
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"{\"user_id\":\"u1\",\"context\":{\"targetingKey\":\"u1\",\"s\":\"a\\u0000b\"}}",
         "strings may not contain \\u0000"},
        {"{\"user_id\":\"u1\",\"context\":{\"targetingKey\":\"u1\",\"n\":1e400}}",
         "a number is too large: 1e400"},
        {"{\"user_id\":\"u1\",\"context\":{\"targetingKey\":\"u1\",\"s\":\"\xff\"}}",
         "invalid UTF-8 at byte"},
        {"{\"user_id\":\"u1\",\"context\":{\"targetingKey\":\"u1\",\"targetingKey\":\"u2\"}}",
         "duplicate key 'targetingKey'"},
        {"{\"user_id\":\"u1\",\"context\":{", "the body is not valid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *a = harness_call(D.port, "POST", "/api/v1/assign", SDK, cases[i].body, 400);
        const char *m = str(json_object_get(a, "error"), "message");
        if (strstr(m, cases[i].want) == NULL || strstr(m, "JSON_") != NULL) {
            fail_msg("/assign %s: \"%s\", want \"%s\"", cases[i].body, m, cases[i].want);
        }
        json_decref(a);
        json_t *o =
            harness_call(D.port, "POST", "/ofrep/v1/evaluate/flags", SDK, cases[i].body, 400);
        if (strcmp(str(o, "errorCode"), "PARSE_ERROR") != 0 ||
            strstr(str(o, "errorDetails"), cases[i].want) == NULL) {
            fail_msg("OFREP %s: %s \"%s\", want PARSE_ERROR \"%s\"", cases[i].body,
                     str(o, "errorCode"), str(o, "errorDetails"), cases[i].want);
        }
        json_decref(o);
    }
}

/* h-flags 2: OFREP demanded a targetingKey the answer did not depend on: an experiment hashed
 * on "company" with the company in the context, an empty context (or one with a null
 * attribute) that the targeting leaves out - both 400 TARGETING_KEY_MISSING where remote
 * evaluation answers the value. */
static void test_ofrep_without_targeting_key(void **state)
{
    (void)state;
    harness_started_experiment(D.port, D.admin_key, "fha",
                               "{\"key\":\"fha\",\"hash_attribute\":\"company\",\"variants\":["
                               "{\"key\":\"a\",\"value\":\"va\"},{\"key\":\"b\",\"value\":"
                               "\"vb\"}]}");
    harness_started_experiment(D.port, D.admin_key, "ftg",
                               "{\"key\":\"ftg\",\"targeting\":{\"email\":{\"$regex\":"
                               "\"@acme\"}},\"variants\":[{\"key\":\"a\",\"value\":1},{\"key\":"
                               "\"b\",\"value\":2}],\"default_value\":0}");
    /* hashed on the company: its variant, the one /assign gives any user of that company */
    const char *companies[] = {"acme", "globex", "initech", "umbrella"};
    for (size_t i = 0; i < 4; i++) {
        json_t *o = harness_call(D.port, "POST", "/ofrep/v1/evaluate/flags/fha", SDK,
                                 fmt("{\"context\":{\"company\":\"%s\"}}", companies[i]), 200);
        json_t *a = harness_call(D.port, "POST", "/api/v1/assign", SDK,
                                 fmt("{\"user_id\":\"someone\",\"attributes\":{\"company\":\"%s\"},"
                                     "\"experiments\":[\"fha\"],\"log_exposure\":false}",
                                     companies[i]),
                                 200);
        const json_t *x = json_object_get(json_object_get(a, "assignments"), "fha");
        assert_string_equal(str(o, "variant"), str(x, "variant"));
        assert_string_equal(str(o, "reason"), "SPLIT");
        json_decref(a);
        json_decref(o);
    }
    /* without the company: the default (not targeted), as for every user without it */
    json_t *o =
        harness_call(D.port, "POST", "/ofrep/v1/evaluate/flags/fha", SDK, "{\"context\":{}}", 200);
    assert_string_equal(str(o, "reason"), "STATIC");
    assert_string_equal(str(json_object_get(o, "metadata"), "assignment_reason"), "not_targeted");
    json_decref(o);
    /* a targeting miss: the default, empty context or a null attribute, single and bulk */
    const char *misses[] = {"{}", "{\"context\":{}}", "{\"context\":{\"email\":null}}"};
    for (size_t i = 0; i < 3; i++) {
        o = harness_call(D.port, "POST", "/ofrep/v1/evaluate/flags/ftg", SDK, misses[i], 200);
        assert_string_equal(str(o, "reason"), "STATIC");
        assert_int_equal(json_integer_value(json_object_get(o, "value")), 0);
        json_decref(o);
        json_t *bulk =
            harness_call(D.port, "POST", "/ofrep/v1/evaluate/flags", SDK, misses[i], 200);
        const json_t *f = bulk_flag(bulk, "ftg");
        assert_non_null(f);
        assert_int_equal(json_integer_value(json_object_get(f, "value")), 0);
        json_decref(bulk);
    }
    /* in the targeted population and hashed on the id: the key is needed */
    o = harness_call(D.port, "POST", "/ofrep/v1/evaluate/flags/ftg", SDK,
                     "{\"context\":{\"email\":\"x@acme.com\"}}", 400);
    assert_string_equal(str(o, "errorCode"), "TARGETING_KEY_MISSING");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_regex_many_experiments),
        cmocka_unit_test(test_cors_exposes_sdk_headers),
        cmocka_unit_test(test_values_of_one_type),
        cmocka_unit_test(test_json_errors_plain),
        cmocka_unit_test(test_ofrep_without_targeting_key),
    };
    return cmocka_run_group_tests_name("api_sdk_conformance", tests, setup, teardown);
}
