/* Unit tests for jsonw.c: every value it writes must read exactly as json_dumps() prints
 * the same value (JSON_COMPACT, JSON_REAL_PRECISION), since /assign replies moved from
 * jansson trees to this writer and clients compare bytes (ETags, golden files). */
#include "unit.h"

#include <math.h>
#include <stdint.h>
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

/* Shortest reals: the text reads back as the same double, in the fewest of 15, 16 or 17
 * digits that do, and a number of at most 15 digits prints as typed. */
static void check_shortest(double v, const char *want)
{
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(jsonw_append_real(&b, v, 0), 0);
    if (want != NULL && strcmp(b.data, want) != 0) {
        fail_msg("shortest of %.17g: wrote %s, want %s", v, b.data, want);
    }
    if (strtod(b.data, NULL) != v || signbit(strtod(b.data, NULL)) != signbit(v)) {
        fail_msg("shortest of %.17g: %s does not read back", v, b.data);
    }
    /* as few digits as reads back: 16 when 15 do not, 17 when 16 do not */
    char t15[32], t16[32];
    snprintf(t15, sizeof(t15), "%.15g", v);
    snprintf(t16, sizeof(t16), "%.16g", v);
    int want_digits = strtod(t15, NULL) == v ? 15 : strtod(t16, NULL) == v ? 16 : 17;
    char *jd = dumped(json_real(v), JSON_REAL_PRECISION(want_digits));
    if (strcmp(b.data, jd) != 0) {
        fail_msg("shortest of %.17g: %s, not %s", v, b.data, jd);
    }
    free(jd);
    buf_free(&b);
}

static void test_reals_shortest_round_trip(void **state)
{
    (void)state;
    check_shortest(0.1, "0.1");
    check_shortest(0.05, "0.05");
    check_shortest(1.0 / 3, "0.3333333333333333");
    check_shortest(123456789.123456789, "123456789.12345679");
    check_shortest(0.1 + 0.2, "0.30000000000000004");
    check_shortest(100, "100.0");
    check_shortest(-0.0, "-0.0");
    check_shortest(1e20, "1e20");
    check_shortest(1e-7, "1e-7");
    check_shortest(1.7976931348623157e308, "1.7976931348623157e308");
    check_shortest(5e-324, "4.94065645841247e-324"); /* 15 digits read back */
    check_shortest(0.4821, "0.4821");
    srand(11);
    for (int k = 0; k < 20000; k++) {
        uint64_t bits = 0;
        for (int i = 0; i < 4; i++) {
            bits = bits << 16 | (uint64_t)(rand() & 0xffff);
        }
        double v;
        memcpy(&v, &bits, sizeof(v));
        if (isfinite(v)) {
            check_shortest(v, NULL);
        }
        /* a number typed with 15 digits prints as jansson prints it with 15 */
        double typed = strtod("0", NULL);
        char text[32];
        snprintf(text, sizeof(text), "%.14e", ((double)rand() / RAND_MAX - 0.5) * 1e6);
        typed = strtod(text, NULL);
        struct buf b;
        buf_init(&b, 64);
        jsonw_append_real(&b, typed, 0);
        char *want = dumped(json_real(typed), JSON_REAL_PRECISION(15));
        assert_string_equal(b.data, want);
        free(want);
        buf_free(&b);
    }
    char cell[32];
    assert_int_equal(jsonw_real_text(cell, sizeof(cell), 1), 1);
    assert_string_equal(cell, "1");
    assert_true(jsonw_real_text(cell, sizeof(cell), 1.0 / 3) > 0);
    assert_string_equal(cell, "0.3333333333333333");
    assert_int_equal(jsonw_real_text(cell, 4, 1.0 / 3), -1);
}

/* Trees: byte for byte json_dumps(JSON_COMPACT) for everything but reals (members in
 * insertion order, strings and keys escaped alike), reals shortest. */
static void test_trees_match_jansson(void **state)
{
    (void)state;
    json_error_t e;
    json_t *v = json_loads("{\"b\":[1,-2,true,false,null,\"x\\u0001\\\"\\\\/\",{}],\"a\":{},"
                           "\"caf\\u00e9\":[[],[[]]],\"\\n\":\"\\u20ac\",\"z\":9223372036854775807,"
                           "\"r\":[0.25,1e20,100.0,-0.5]}",
                           0, &e);
    assert_non_null(v);
    char *want = json_dumps(v, JSON_COMPACT);
    size_t len = 0;
    char *got = jsonw_dumps(v, &len);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(want);
    free(got);
    json_decref(v);
    /* reals: what jansson prints with 17 digits, shortest here */
    v = json_pack("{s:f, s:[f, f]}", "third", 1.0 / 3, "l", 0.1, 123456789.123456789);
    got = jsonw_dumps(v, NULL);
    assert_string_equal(got, "{\"third\":0.3333333333333333,\"l\":[0.1,123456789.12345679]}");
    free(got);
    json_decref(v);
    /* a key with a NUL byte in it is written whole */
    v = json_object();
    json_object_setn_new(v, "a\0b", 3, json_integer(1));
    got = jsonw_dumps(v, NULL);
    assert_string_equal(got, "{\"a\\u0000b\":1}");
    free(got);
    json_decref(v);
    /* nesting past jansson's parser limit is refused, not a deep recursion */
    json_t *deep = json_array();
    for (int i = 0; i < 3000; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, deep);
        deep = outer;
    }
    assert_null(jsonw_dumps(deep, NULL));
    json_decref(deep);
    json_t *nan_in = json_array();
    json_array_append_new(nan_in, json_real(0.5));
    got = jsonw_dumps(nan_in, NULL);
    assert_string_equal(got, "[0.5]");
    free(got);
    json_decref(nan_in);
}

/* Indented (the CLI's JSON): laid out byte for byte as json_dumps(JSON_INDENT(n)), empty
 * containers and nesting alike, reals shortest. */
static void test_indented_matches_jansson(void **state)
{
    (void)state;
    json_error_t e;
    json_t *v = json_loads("{\"b\":[1,-2,true,null,\"x\\n\",{},[]],\"a\":{},\"c\":{\"d\":[[],"
                           "[[{\"e\":1}]]],\"f\":\"g\"},\"r\":[0.25,1e20,100.0,-0.5]}",
                           0, &e);
    assert_non_null(v);
    for (int indent = 1; indent <= 4; indent++) {
        char *want = json_dumps(v, JSON_INDENT(indent) | JSON_PRESERVE_ORDER);
        char *got = jsonw_dumps_indent(v, indent, NULL);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(want);
        free(got);
    }
    char *compact = jsonw_dumps_indent(v, 0, NULL), *plain = jsonw_dumps(v, NULL);
    assert_string_equal(compact, plain);
    free(compact);
    free(plain);
    json_decref(v);
    v = json_pack("{s:[f]}", "sum", 0.1 + 0.2);
    char *got = jsonw_dumps_indent(v, 2, NULL);
    assert_string_equal(got, "{\n  \"sum\": [\n    0.30000000000000004\n  ]\n}");
    free(got);
    assert_null(jsonw_dumps_indent(v, -1, NULL));
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reals_match_jansson),
        cmocka_unit_test(test_reals_refuse_nan_and_inf),
        cmocka_unit_test(test_strings_match_jansson),
        cmocka_unit_test(test_ints_values_and_cap),
        cmocka_unit_test(test_scalar_values_match_jansson),
        cmocka_unit_test(test_reals_shortest_round_trip),
        cmocka_unit_test(test_trees_match_jansson),
        cmocka_unit_test(test_indented_matches_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
