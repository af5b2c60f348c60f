/* Unit tests for jsonw.c: every value it writes must read exactly as json_dumps() prints
 * the same value (JSON_COMPACT, JSON_REAL_PRECISION), since /assign replies moved from
 * jansson trees to this writer and clients compare bytes (ETags, golden files). */
#include "unit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/jsonw.h"

/* json_dumps of v (stolen) with flags, as a malloc'd string. */
static char *dumped(json_t *v, size_t flags)
{
    json_t *a = json_array();
    json_array_append_new(a, v);
    char *t = json_dumps(a, flags | JSON_COMPACT);
    json_decref(a);
    size_t n = strlen(t);
    memmove(t, t + 1, n - 2); /* strip the array's brackets */
    t[n - 2] = '\0';
    return t;
}

static void check_real(double v, int digits)
{
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(jsonw_append_real(&b, v, digits), 0);
    char *want = dumped(json_real(v), JSON_REAL_PRECISION(digits));
    if (strcmp(b.data, want) != 0) {
        fail_msg("real %.17g digits %d: wrote %s, jansson %s", v, digits, b.data, want);
    }
    free(want);
    buf_free(&b);
}

static void test_reals_match_jansson(void **state)
{
    (void)state;
    static const double fixed[] = {0,      -0.0,   1,     -1,     0.5,        0.0001,   0.9999,
                                   0.1234, 0.5567, 1e-5,  1e-7,   1.5e-10,    123456.0, 1e15,
                                   1e16,   1e21,   1e100, 1e-100, 2.5e-308,   1.0 / 3,  2.0 / 3,
                                   0.1,    0.2,    0.3,   1e300,  -123.456e7, 4096,     0.05};
    static const int digits[] = {1, 4, 6, 10, 15, 16, 17};
    for (size_t d = 0; d < sizeof(digits) / sizeof(digits[0]); d++) {
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
            check_real(fixed[i], digits[d]);
        }
        for (int k = 0; k < 10000; k++) {
            check_real((double)k / 10000, digits[d]); /* every assignment bucket */
        }
        srand(7);
        for (int k = 0; k < 2000; k++) {
            double v = ((double)rand() / RAND_MAX - 0.5) * pow(10, rand() % 40 - 20);
            check_real(v, digits[d]);
        }
    }
}

static void test_reals_refuse_nan_and_inf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(jsonw_append_real(&b, NAN, 10), -1);
    assert_int_equal(jsonw_append_real(&b, INFINITY, 10), -1);
    buf_free(&b);
}

static void test_strings_match_jansson(void **state)
{
    (void)state;
    static const char *cases[] = {"",
                                  "plain",
                                  "quote \" backslash \\ slash /",
                                  "tab\tnl\ncr\rbs\bff\f",
                                  "\x01\x02\x1f\x7f end",
                                  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                                  "b0-1-1000000"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b;
        buf_init(&b, 1024);
        assert_int_equal(jsonw_append_string(&b, cases[i], strlen(cases[i])), 0);
        char *want = dumped(json_string(cases[i]), 0);
        assert_string_equal(b.data, want);
        free(want);
        buf_free(&b);
    }
    /* an embedded NUL (json_stringn) */
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(jsonw_append_string(&b, "a\0b", 3), 0);
    char *want = dumped(json_stringn("a\0b", 3), 0);
    assert_string_equal(b.data, want);
    free(want);
    buf_free(&b);
}

static void test_ints_values_and_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    jsonw_append_int(&b, 0);
    jsonw_append_raw(&b, ",");
    jsonw_append_int(&b, -9223372036854775807LL - 1);
    jsonw_append_raw(&b, ",");
    jsonw_append_int(&b, 1234567890123LL);
    jsonw_append_raw(&b, ",");
    json_t *v = json_pack("{s:[i, f, s, n, b]}", "k", 1, 0.25, "x", 1);
    assert_int_equal(jsonw_append_value(&b, v, JSON_COMPACT | JSON_PRESERVE_ORDER), 0);
    json_decref(v);
    assert_string_equal(b.data,
                        "0,-9223372036854775808,1234567890123,{\"k\":[1,0.25,\"x\",null,true]}");
    buf_free(&b);
    buf_init(&b, 4);
    assert_int_equal(jsonw_append_string(&b, "toolong", 7), -1);
    buf_free(&b);
}

/* Scalars take jsonw_append_value's own path with JSON_ENCODE_ANY: the same bytes as
 * jansson's dump of them with the same flags */
static void test_scalar_values_match_jansson(void **state)
{
    (void)state;
    json_t *vals[] = {json_string("control"),
                      json_string("quote \" slash / tab\t \x01 caf\xc3\xa9"),
                      json_stringn("a\0b", 3),
                      json_integer(0),
                      json_integer(-9223372036854775807LL - 1),
                      json_integer(42),
                      json_real(0.1),
                      json_real(1e300),
                      json_real(-2.5),
                      json_real(100000.0),
                      json_true(),
                      json_false(),
                      json_null()};
    size_t flagsets[] = {
        JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15),
        JSON_COMPACT | JSON_ENCODE_ANY, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ESCAPE_SLASH,
        JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10)};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        for (size_t f = 0; f < sizeof(flagsets) / sizeof(flagsets[0]); f++) {
            struct buf b;
            buf_init(&b, 1024);
            assert_int_equal(jsonw_append_value(&b, vals[i], flagsets[f]), 0);
            char *want = json_dumps(vals[i], flagsets[f]);
            assert_non_null(want);
            assert_string_equal(b.data, want);
            free(want);
            buf_free(&b);
        }
        json_decref(vals[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reals_match_jansson),
        cmocka_unit_test(test_reals_refuse_nan_and_inf),
        cmocka_unit_test(test_strings_match_jansson),
        cmocka_unit_test(test_ints_values_and_cap),
        cmocka_unit_test(test_scalar_values_match_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
