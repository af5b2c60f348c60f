/* Regression tests for the bugs found by the libFuzzer targets in tests/fuzz/: each saved
 * reproducer (tests/fuzz/regressions/<target>/<name>, also runnable as
 * `build/fuzz/fuzz_<target> FILE`) is fed to the same functions the target calls, and the
 * invariant it broke is asserted. Until a bug is fixed its test fails here.
 *
 *   validate/integer-above-2p53      validate_integer() compares a JSON integer as a
 *                                    double: 2^53 + 1 passes the [0, 2^53] check (ingest
 *                                    ts) and comes out above the bound.
 *   experiment/unknown-field-cut-utf8
 *                                    an error's field and message quote input with "%.40s"
 *                                    and "%.60s", which cut a multi-byte character in two;
 *                                    jansson refuses the invalid UTF-8 and the HTTP reply
 *                                    becomes 500 "cannot encode the response" (or loses
 *                                    its field). Also reached through forced user ids and
 *                                    forced variants and unknown targeting operators
 *                                    (tests/api/test_hostile.c covers the HTTP side,
 *                                    including invalid UTF-8 from %FF in paths). */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bunsen/model.h"
#include "bunsen/util.h"

/* Parse as http_req_json_body() does. */
static json_t *body(const char *text, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        fail_msg("reproducer is not JSON: %s", je.text);
    }
    return j;
}

/* The API.md error body needs both strings to be valid UTF-8. */
static void assert_err_utf8(const struct err *err)
{
    if (!utf8_valid(err->field, strlen(err->field))) {
        fail_msg("err.field is not UTF-8: '%s'", err->field);
    }
    if (!utf8_valid(err->msg, strlen(err->msg))) {
        fail_msg("err.msg is not UTF-8: '%s'", err->msg);
    }
}

/* tests/fuzz/regressions/validate/integer-above-2p53 */
static void test_validate_integer_above_2p53(void **state)
{
    (void)state;
    static const char repro[] = "[9007199254740993]";
    json_t *doc = body(repro, sizeof(repro) - 1);
    int64_t out = 0;
    struct err err;
    err_clear(&err);
    int rc =
        validate_integer(json_array_get(doc, 0), "events[0].ts", 0, (int64_t)1 << 53, &out, &err);
    if (rc == 0) {
        fail_msg("9007199254740993 accepted in [0, 2^53] as %lld", (long long)out);
    }
    assert_int_equal(err.code, ERR_INVALID);
    assert_string_equal(err.field, "events[0].ts");
    json_decref(doc);
    /* the bounds themselves stay accepted, exactly; the same edge elsewhere */
    static const struct {
        const char *json;
        int64_t lo, hi;
        bool ok;
        int64_t want;
    } cases[] = {
        {"[9007199254740992]", 0, (int64_t)1 << 53, true, (int64_t)1 << 53},
        {"[9007199254740992.0]", 0, (int64_t)1 << 53, true, (int64_t)1 << 53},
        {"[0]", 0, (int64_t)1 << 53, true, 0},
        {"[-1]", 0, (int64_t)1 << 53, false, 0},
        {"[9007199254740994]", 0, (int64_t)1 << 53, false, 0},
        {"[9223372036854775807]", 0, (int64_t)1 << 53, false, 0},
        {"[-9007199254740993]", -((int64_t)1 << 53), 0, false, 0},
        {"[3]", 1, 2, false, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        doc = body(cases[i].json, strlen(cases[i].json));
        out = -7;
        err_clear(&err);
        rc = validate_integer(json_array_get(doc, 0), "f", cases[i].lo, cases[i].hi, &out, &err);
        if ((rc == 0) != cases[i].ok || (rc == 0 && out != cases[i].want)) {
            fail_msg("validate_integer(%s, [%lld, %lld]) = %d, %lld", cases[i].json,
                     (long long)cases[i].lo, (long long)cases[i].hi, rc, (long long)out);
        }
        json_decref(doc);
    }
}

/* tests/fuzz/regressions/experiment/unknown-field-cut-utf8, as the fuzzer saved it: an
 * unknown field whose 60th byte is the first of a three-byte character. */
static void test_unknown_field_cut_utf8(void **state)
{
    (void)state;
    static const char repro[] =
        "{\"kawwwwwww[wwwwwwWwtwwwwwwwwwwwwmwwwwwwwwwwwwwwwwwwwwraname\xe4\x8a\x8as\": \"xp\"}";
    json_t *doc = body(repro, sizeof(repro) - 1);
    struct experiment x;
    struct metric m;
    struct err err;
    err_clear(&err);
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &err), -1);
    assert_int_equal(err.code, ERR_INVALID);
    assert_err_utf8(&err);
    err_clear(&err);
    assert_int_equal(metric_from_json(doc, MODEL_CREATE, NULL, &m, &err), -1);
    assert_err_utf8(&err);
    json_decref(doc);
    /* the same through validate_known_fields() with a prefix (ingestion items), where
     * "%.40s" cuts the field: 39 ASCII bytes, then a two-byte character */
    char key[64];
    snprintf(key, sizeof(key), "%s\xc3\xa9", "012345678901234567890123456789012345678");
    json_t *item = json_pack("{s:i}", key, 1);
    static const char *const allowed[] = {"user_id", "event", NULL};
    err_clear(&err);
    assert_int_equal(validate_known_fields(item, allowed, "events[0]", &err), -1);
    assert_err_utf8(&err);
    json_decref(item);
}

/* Same bug through the forced map: "forced.%.40s" (the field) and "'%.60s' is not a
 * variant key" (the message); and through "unknown operator '%.40s'" in targeting. */
static void test_forced_cut_utf8(void **state)
{
    (void)state;
    char user[128], doc_text[512];
    snprintf(user, sizeof(user), "a");
    for (int i = 0; i < 30; i++) {
        strcat(user, "\xc3\xa9"); /* 'a' + 60 bytes: field "forced." + 40 bytes cuts */
    }
    snprintf(doc_text, sizeof(doc_text),
             "{\"key\":\"x\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"forced\":{\"%s\":"
             "\"zz\"}}",
             user);
    json_t *doc = body(doc_text, strlen(doc_text));
    struct experiment x;
    struct err err;
    err_clear(&err);
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &err), -1);
    assert_err_utf8(&err);
    json_decref(doc);
    snprintf(doc_text, sizeof(doc_text),
             "{\"key\":\"x\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"forced\":{\"u\":"
             "\"%s\"}}",
             user);
    doc = body(doc_text, strlen(doc_text));
    err_clear(&err);
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &err), -1);
    assert_err_utf8(&err);
    json_decref(doc);
    snprintf(doc_text, sizeof(doc_text),
             "{\"key\":\"x\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"targeting\":{"
             "\"c\":{\"$%s\":1}}}",
             user + 1);
    doc = body(doc_text, strlen(doc_text));
    err_clear(&err);
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &err), -1);
    assert_string_equal(err.field, "targeting");
    assert_err_utf8(&err);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_integer_above_2p53),
        cmocka_unit_test(test_unknown_field_cut_utf8),
        cmocka_unit_test(test_forced_cut_utf8),
    };
    return cmocka_run_group_tests_name("fuzz_regressions", tests, NULL, NULL);
}
