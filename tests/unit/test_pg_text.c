/* Unit tests for the PostgreSQL adapter's parameter encodings (src/store/pg/text.c): array
 * literals (pg_arr_*: quoting, NULL, numbers) and binary arrays (pg_bin_*: the array_recv
 * layout, byte for byte). The server's side is exercised by the API suites on PostgreSQL. */
#include "unit.h"

#include <string.h>

#include "../../src/store/pg/pg_int.h"

static void test_literals(void **state)
{
    (void)state;
    struct pg_text t = {0};
    pg_arr_begin(&t);
    pg_arr_str(&t, "a\"b\\c");
    pg_arr_str(&t, NULL);
    pg_arr_i64(&t, -42);
    pg_arr_f64(&t, 0.1);
    assert_string_equal(pg_arr_end(&t), "{\"a\\\"b\\\\c\",NULL,-42,0.10000000000000001}");
    pg_arr_begin(&t);
    assert_string_equal(pg_arr_end(&t), "{}");
    pg_text_free(&t);
}

static void test_binary_layout(void **state)
{
    (void)state;
    struct pg_bin b = {0};
    int len = 0;
    pg_bin_begin(&b, PG_OID_TEXT);
    pg_bin_str(&b, "ab");
    pg_bin_str(&b, NULL);
    const unsigned char want_text[] = {
        0,    0,    0,    1,              /* ndim */
        0,    0,    0,    1,              /* has nulls */
        0,    0,    0,    25,             /* text */
        0,    0,    0,    2,              /* length */
        0,    0,    0,    1,              /* lower bound */
        0,    0,    0,    2,    'a', 'b', /* "ab" */
        0xff, 0xff, 0xff, 0xff,           /* NULL */
    };
    const char *p = pg_bin_end(&b, &len);
    assert_int_equal(len, sizeof(want_text));
    assert_memory_equal(p, want_text, sizeof(want_text));

    pg_bin_begin(&b, PG_OID_INT8);
    pg_bin_i64(&b, -2);
    p = pg_bin_end(&b, &len);
    const unsigned char want_i64[] = {0,  0, 0,    1,    0,    0,    0,    0,    0,    0,   0,
                                      20, 0, 0,    0,    1,    0,    0,    0,    1,    0,   0,
                                      0,  8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    assert_int_equal(len, sizeof(want_i64));
    assert_memory_equal(p, want_i64, sizeof(want_i64));

    pg_bin_begin(&b, PG_OID_FLOAT8);
    pg_bin_f64(&b, 1.0); /* 0x3ff0000000000000 */
    p = pg_bin_end(&b, &len);
    const unsigned char want_f64[] = {0, 0, 0, 1, 0, 0, 0, 0, 0,    0,    2, 189, 0, 0, 0, 1,
                                      0, 0, 0, 1, 0, 0, 0, 8, 0x3f, 0xf0, 0, 0,   0, 0, 0, 0};
    assert_int_equal(len, sizeof(want_f64));
    assert_memory_equal(p, want_f64, sizeof(want_f64));

    pg_bin_begin(&b, PG_OID_TID);
    pg_bin_tid(&b, 70000, 3);
    p = pg_bin_end(&b, &len);
    const unsigned char want_tid[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 27,   0,    0, 0,
                                      1, 0, 0, 0, 1, 0, 0, 0, 6, 0, 1, 0x11, 0x70, 0, 3};
    assert_int_equal(len, sizeof(want_tid));
    assert_memory_equal(p, want_tid, sizeof(want_tid));

    /* empty: no dimensions, the element type still given (array_recv checks it) */
    pg_bin_begin(&b, PG_OID_TEXT);
    p = pg_bin_end(&b, &len);
    const unsigned char want_empty[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25};
    assert_int_equal(len, sizeof(want_empty));
    assert_memory_equal(p, want_empty, sizeof(want_empty));
    pg_bin_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_binary_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
