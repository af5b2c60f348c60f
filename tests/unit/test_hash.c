/* Unit tests for core/hash.c: FNV-1a over UTF-16, GrowthBook buckets, namespaces,
 * bucket ranges and chooseVariation, against the shared conformance cases and
 * values computed independently with node (String.charCodeAt). */
#include "unit.h"

#include <math.h>
#include <string.h>

#include <jansson.h>

#include "bunsen/err.h"
#include "bunsen/hash.h"

#define EPS 1e-9

/* cmocka 1.1.5 has no double assert: compare within eps and print both on failure */
#define assert_near(a, b, eps)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps))) {                                                           \
            fail_msg("%.17g is not %.17g", a_, b_);                                                \
        }                                                                                          \
    } while (0)

static double bucket_of(const char *seed, const char *value, int version)
{
    double b = 0;
    struct err e;
    assert_int_equal(hash_bucket(seed, strlen(seed), value, strlen(value), version, &b, &e), 0);
    return b;
}

/* Load one section of the conformance file (vendored: always there). */
static json_t *load_section(const char *section, json_t **root)
{
    json_error_t jerr;
    *root = json_load_file(CONFORMANCE_CASES, 0, &jerr);
    if (*root == NULL) {
        fail_msg("conformance cases not found at %s (vendored: run the tests from the "
                 "repository root)",
                 CONFORMANCE_CASES);
    }
    json_t *cases = json_object_get(*root, section);
    assert_non_null(cases);
    assert_true(json_array_size(cases) > 0);
    return cases;
}

static void test_fnv(void **state)
{
    (void)state;
    uint32_t h = 0;
    assert_int_equal(hash_fnv1a32("a", 1, &h), 0);
    assert_int_equal(h, 3826002220u);
    assert_int_equal(hash_fnv1a32("", 0, &h), 0);
    assert_int_equal(h, HASH_FNV1A32_BASIS);
    /* node: fnv over charCodeAt */
    assert_int_equal(hash_fnv1a32("\xc3\xa9", 2, &h), 0); /* e-acute */
    assert_int_equal(h, 1812687940u);
    assert_int_equal(hash_fnv1a32("\xc3\xa9t\xc3\xa9", 5, &h), 0);
    assert_int_equal(h, 2745047931u);
    assert_int_equal(hash_fnv1a32("\xf0\x9f\x98\x80", 4, &h), 0); /* emoji: surrogate pair */
    assert_int_equal(h, 3409036472u);
    assert_int_equal(hash_fnv1a32("u-\xf0\x9f\x98\x80-\xc3\xa9", 9, &h), 0);
    assert_int_equal(h, 2451168676u);
    assert_int_equal(hash_fnv1a32("\xe6\x97\xa5\xe6\x9c\xac", 6, &h), 0);
    assert_int_equal(h, 1610399396u);
    assert_int_equal(hash_fnv1a32("\xee\x80\x80", 3, &h), 0); /* U+E000 */
    assert_int_equal(h, 81394975u);
    /* chaining equals concatenation */
    uint32_t a = HASH_FNV1A32_BASIS, b = 0;
    assert_int_equal(hash_fnv1a32_update(&a, "u-\xf0\x9f", 4), -1); /* split char: invalid */
    assert_int_equal(hash_fnv1a32_update(&a, "u-", 2), 0);
    assert_int_equal(hash_fnv1a32_update(&a, "\xf0\x9f\x98\x80-\xc3\xa9", 7), 0);
    assert_int_equal(hash_fnv1a32("u-\xf0\x9f\x98\x80-\xc3\xa9", 9, &b), 0);
    assert_int_equal(a, b);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    uint32_t h = 7;
    const char *bad[] = {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                         "\xc3",     "\xff",         "a\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(hash_fnv1a32(bad[i], strlen(bad[i]), &h), -1);
        assert_int_equal(h, 7);
    }
    double b = 0.5;
    struct err e;
    assert_int_equal(hash_bucket("s", 1, "\xc3", 1, 2, &b, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_string_equal(e.field, "value");
    assert_true(b == -1.0);
    assert_int_equal(hash_bucket("\xff", 1, "u", 1, 1, &b, &e), -1);
    assert_string_equal(e.field, "seed");
    assert_false(hash_in_namespace("\xc3", 1, "ns", 0, 1));
    assert_false(hash_in_namespace("u", 1, "\xc3", 0, 1));
}

static void test_vectors(void **state)
{
    (void)state;
    assert_near(bucket_of("", "a", 1), 0.22, EPS);
    assert_near(bucket_of("", "b", 1), 0.077, EPS);
    assert_near(bucket_of("b", "a", 1), 0.946, EPS);
    assert_near(bucket_of("ef", "d", 1), 0.652, EPS);
    assert_near(bucket_of("asdf", "8952klfjas09ujk", 1), 0.549, EPS);
    assert_near(bucket_of("", "123", 1), 0.011, EPS);
    assert_near(bucket_of("seed", "a", 2), 0.0505, EPS);
    assert_near(bucket_of("seed", "b", 2), 0.2696, EPS);
    assert_near(bucket_of("foo", "ab", 2), 0.2575, EPS);
    assert_near(bucket_of("foo", "def", 2), 0.2019, EPS);
    assert_near(bucket_of("89123klj", "8952klfjas09ujkasdf", 2), 0.124, EPS);
    assert_near(bucket_of("90850943850283058242805", "123", 2), 0.7516, EPS);
    /* exactly the JS doubles, not merely close */
    assert_true(bucket_of("seed", "a", 2) == 505.0 / 10000.0);
    assert_true(bucket_of("", "a", 1) == 220.0 / 1000.0);

    double b = 0.5;
    struct err e;
    assert_int_equal(hash_bucket("abc", 3, "def", 3, 99, &b, &e), -1);
    assert_true(b == -1.0);
    assert_string_equal(e.field, "hash_version");
    assert_int_equal(hash_bucket("abc", 3, "def", 3, 0, &b, NULL), -1);
    assert_true(hash_version_known(1) && hash_version_known(2) && !hash_version_known(3));
}

static void test_non_ascii(void **state)
{
    (void)state;
    /* node: hash(seed, value, 1), hash(seed, value, 2), inNamespace bucket "checkout" */
    struct {
        const char *seed, *value;
        double v1, v2, ns;
    } cases[] = {
        {"checkout-button", "\xc3\xa9", 0.599, 0.4864, 0.894},
        {"checkout-button", "\xf0\x9f\x98\x80", 0.395, 0.3787, 0.97},
        {"exp", "\xe7\x94\xa8\xe6\x88\xb7-42", 0.156, 0.0814, 0.211},
        {"seed\xf0\x9f\x98\x80", "\xc3\xbc", 0.531, 0.4358, 0.877},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_near(bucket_of(cases[i].seed, cases[i].value, 1), cases[i].v1, EPS);
        assert_near(bucket_of(cases[i].seed, cases[i].value, 2), cases[i].v2, EPS);
        double nb = 0;
        assert_int_equal(
            hash_namespace_bucket(cases[i].value, strlen(cases[i].value), "checkout", 8, &nb, NULL),
            0);
        assert_near(nb, cases[i].ns, EPS);
    }
}

static void test_my_test_ids(void **state)
{
    (void)state;
    const int expected[] = {1, 0, 0, 1, 1, 1, 0, 1, 0};
    struct hash_range r[2];
    assert_int_equal(hash_bucket_ranges(2, 1, NULL, 0, r), 2);
    for (int i = 0; i < 9; i++) {
        char id[2] = {(char)('1' + i), '\0'};
        double b = bucket_of("my-test", id, 1);
        assert_int_equal(hash_choose_variation(b, r, 2), expected[i]);
    }
}

static void test_edges(void **state)
{
    (void)state;
    struct hash_range r[10];
    /* node: getBucketRanges(3, 1, [0.1, 0.2, 0.7]) */
    assert_int_equal(hash_bucket_ranges(3, 1, (const double[]){0.1, 0.2, 0.7}, 3, r), 3);
    assert_true(r[1].end == 0.30000000000000004 && r[2].start == 0.30000000000000004);
    assert_true(r[2].end == 1);
    /* node: hash("edge", "u2705", 2) === 0.3, so variant 1 rather than 2 */
    assert_true(bucket_of("edge", "u2705", 2) == 0.3);
    assert_int_equal(hash_choose_variation(0.3, r, 3), 1);
    assert_true(bucket_of("edge", "u9823", 2) == 0.1);
    assert_int_equal(hash_choose_variation(0.1, r, 3), 1); /* start is inclusive */
    assert_true(bucket_of("edge", "u2683", 2) == 0);
    assert_int_equal(hash_choose_variation(0, r, 3), 0);
    /* node: getBucketRanges(3, 0.7, [0.1, 0.2, 0.7]): 0.3 falls in no range */
    hash_bucket_ranges(3, 0.7, (const double[]){0.1, 0.2, 0.7}, 3, r);
    assert_true(r[0].end == 0.06999999999999999 && r[1].end == 0.24 && r[2].end == 0.79);
    assert_int_equal(hash_choose_variation(0.3, r, 3), -1);
    assert_int_equal(hash_choose_variation(0.24, r, 3), -1); /* end is exclusive */
    assert_int_equal(hash_choose_variation(0.2399, r, 3), 1);
    /* node: getBucketRanges(10, 0.3) */
    hash_bucket_ranges(10, 0.3, NULL, 0, r);
    assert_true(r[3].start == 0.30000000000000004 && r[3].end == 0.33000000000000007);
    assert_true(r[8].start == 0.7999999999999999 && r[9].end == 0.9299999999999999);
    /* node: getBucketRanges(3) */
    hash_bucket_ranges(3, 1, NULL, 0, r);
    assert_true(r[0].end == 0.3333333333333333 && r[1].end == 0.6666666666666666);
    assert_true(r[2].end == 1);
    assert_int_equal(hash_choose_variation(0.9999, r, 3), 2);
    /* coverage 0: nothing is ever chosen, not even bucket 0 */
    hash_bucket_ranges(2, 0, NULL, 0, r);
    assert_int_equal(hash_choose_variation(0, r, 2), -1);
    assert_int_equal(hash_choose_variation(0.5, r, 2), -1);
    /* n <= 0 */
    assert_int_equal(hash_bucket_ranges(0, 1, NULL, 0, r), 0);
    assert_int_equal(hash_choose_variation(0.5, r, 0), -1);
    /* namespace bounds: [start, end) */
    double nb = 0;
    assert_int_equal(hash_namespace_bucket("1", 1, "namespace1", 10, &nb, NULL), 0);
    assert_true(hash_in_namespace("1", 1, "namespace1", nb, nb + 0.001));
    assert_false(hash_in_namespace("1", 1, "namespace1", 0, nb));
}

static void test_conformance_hash(void **state)
{
    (void)state;
    json_t *root;
    json_t *cases = load_section("hash", &root);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *seed = json_string_value(json_array_get(c, 0));
        const char *value = json_string_value(json_array_get(c, 1));
        int version = (int)json_integer_value(json_array_get(c, 2));
        json_t *want = json_array_get(c, 3);
        double b = 0.5;
        int rc = hash_bucket(seed, strlen(seed), value, strlen(value), version, &b, NULL);
        if (json_is_null(want)) {
            assert_int_equal(rc, -1);
            assert_true(b == -1.0);
        } else {
            assert_int_equal(rc, 0);
            assert_near(b, json_number_value(want), EPS);
        }
    }
    json_decref(root);
}

static void test_conformance_ranges(void **state)
{
    (void)state;
    json_t *root;
    json_t *cases = load_section("getBucketRange", &root);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        json_t *args = json_array_get(c, 1);
        json_t *want = json_array_get(c, 2);
        int n = (int)json_integer_value(json_array_get(args, 0));
        double coverage = json_number_value(json_array_get(args, 1));
        json_t *jw = json_array_get(args, 2);
        double w[16];
        size_t nw = json_array_size(jw);
        assert_true(nw <= 16);
        for (size_t k = 0; k < nw; k++) {
            w[k] = json_number_value(json_array_get(jw, k));
        }
        struct hash_range r[16];
        assert_true(n <= 16);
        size_t got = hash_bucket_ranges(n, coverage, json_is_null(jw) ? NULL : w, nw, r);
        if (got != json_array_size(want)) {
            fail_msg("%s: %zu ranges", json_string_value(json_array_get(c, 0)), got);
        }
        for (size_t k = 0; k < got; k++) {
            json_t *wr = json_array_get(want, k);
            if (fabs(r[k].start - json_number_value(json_array_get(wr, 0))) > EPS ||
                fabs(r[k].end - json_number_value(json_array_get(wr, 1))) > EPS) {
                fail_msg("%s: range %zu is [%.17g, %.17g)", json_string_value(json_array_get(c, 0)),
                         k, r[k].start, r[k].end);
            }
        }
    }
    json_decref(root);
}

static void test_conformance_choose(void **state)
{
    (void)state;
    json_t *root;
    json_t *cases = load_section("chooseVariation", &root);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        double b = json_number_value(json_array_get(c, 1));
        json_t *jr = json_array_get(c, 2);
        struct hash_range r[16];
        size_t n = json_array_size(jr);
        assert_true(n <= 16);
        for (size_t k = 0; k < n; k++) {
            r[k].start = json_number_value(json_array_get(json_array_get(jr, k), 0));
            r[k].end = json_number_value(json_array_get(json_array_get(jr, k), 1));
        }
        int want = (int)json_integer_value(json_array_get(c, 3));
        if (hash_choose_variation(b, r, n) != want) {
            fail_msg("%s: got %d", json_string_value(json_array_get(c, 0)),
                     hash_choose_variation(b, r, n));
        }
    }
    json_decref(root);
}

static void test_conformance_namespace(void **state)
{
    (void)state;
    json_t *root;
    json_t *cases = load_section("inNamespace", &root);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *id = json_string_value(json_array_get(c, 1));
        json_t *ns = json_array_get(c, 2);
        bool got = hash_in_namespace(id, strlen(id), json_string_value(json_array_get(ns, 0)),
                                     json_number_value(json_array_get(ns, 1)),
                                     json_number_value(json_array_get(ns, 2)));
        if (got != json_is_true(json_array_get(c, 3))) {
            fail_msg("%s: got %d", json_string_value(json_array_get(c, 0)), got);
        }
    }
    json_decref(root);
}

static void test_conformance_equal_weights(void **state)
{
    (void)state;
    json_t *root;
    json_t *cases = load_section("getEqualWeights", &root);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        int n = (int)json_integer_value(json_array_get(c, 0));
        json_t *want = json_array_get(c, 1);
        double w[16];
        assert_true(n <= 16);
        size_t got = hash_equal_weights(n, w);
        assert_int_equal(got, json_array_size(want));
        for (size_t k = 0; k < got; k++) {
            /* the file rounds 1/3 to 8 decimals */
            assert_near(w[k], json_number_value(json_array_get(want, k)), 1e-8);
        }
    }
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_non_ascii),
        cmocka_unit_test(test_my_test_ids),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_conformance_hash),
        cmocka_unit_test(test_conformance_ranges),
        cmocka_unit_test(test_conformance_choose),
        cmocka_unit_test(test_conformance_namespace),
        cmocka_unit_test(test_conformance_equal_weights),
    };
    return cmocka_run_group_tests_name("hash", tests, NULL, NULL);
}
