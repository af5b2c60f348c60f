/* Unit tests for stats/exactsum.c (exactsum.h): the exact sum rounded once into canonical
 * parts, checked against an independent exact reference (Shewchuk's expansions of ddouble.h:
 * each part is the rounding to nearest, ties to even, of what the parts before it leave of the
 * exact sum); the same parts whatever the order of the values; and exactsum_parts_add, value
 * by value, giving the accumulator's parts bit for bit (values of at most 15 decimal places in
 * [-1e15, 1e15], the range events may carry). */
#include "unit.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/ddouble.h"
#include "bunsen/exactsum.h"

#define NMAX 14

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static struct exactsum_parts sum_of(const double *v, size_t n)
{
    struct exactsum s;
    exactsum_init(&s);
    for (size_t i = 0; i < n; i++) {
        exactsum_add(&s, v[i]);
    }
    return exactsum_parts(&s);
}

static struct exactsum_parts added(const double *v, size_t n)
{
    struct exactsum_parts p = {{0, 0, 0}};
    for (size_t i = 0; i < n; i++) {
        exactsum_parts_add(&p, v[i]);
    }
    return p;
}

/* The sign of an expansion's value: that of its largest component (zeros are dropped). */
static int sign_of(const struct dd_expansion *e)
{
    return e->n == 0 ? 0 : e->c[e->n - 1] > 0 ? 1 : -1;
}

/* x is rest (exact, an expansion) rounded to nearest, ties to even. */
static void check_rounded(const struct dd_expansion *rest, double x, const char *what)
{
    if (x == 0) {
        if (sign_of(rest) != 0) {
            fail_msg("%s: 0 for a non-zero rest", what);
        }
        return;
    }
    /* the halves of the gaps to x's neighbours (powers of two: exact), and rest - x */
    double a = fabs(x);
    double up = (nextafter(a, INFINITY) - a) / 2, down = (a - nextafter(a, 0)) / 2;
    struct dd_expansion e = *rest;
    dd_expansion_add(&e, -x);
    if (nextafter(a, INFINITY) - a == 5e-324) {
        /* the gap is the unit every sum is a multiple of: x is the sum exactly */
        if (sign_of(&e) != 0) {
            fail_msg("%s: %.17g is not the exact value", what, x);
        }
        return;
    }
    if (x < 0) {
        for (int i = 0; i < e.n; i++) {
            e.c[i] = -e.c[i]; /* |rest| - |x| */
        }
    }
    struct dd_expansion over = e, under = e;
    dd_expansion_add(&over, -up);   /* |rest| - (|x| + up) */
    dd_expansion_add(&under, down); /* |rest| - (|x| - down) */
    uint64_t bits;
    memcpy(&bits, &a, sizeof(bits));
    bool even = (bits & 1) == 0;
    int so = sign_of(&over), su = sign_of(&under);
    if (so > 0 || su < 0 || (!even && (so == 0 || su == 0))) {
        fail_msg("%s: %.17g is not the rounding of the exact value", what, x);
    }
}

/* The parts of values v[0..n) are the canonical ones of their exact sum. */
static void check_parts(const double *v, size_t n, struct exactsum_parts p, const char *what)
{
    struct dd_expansion rest = {.n = 0};
    for (size_t i = 0; i < n; i++) {
        dd_expansion_add(&rest, v[i]);
    }
    for (int k = 0; k < EXACTSUM_PARTS; k++) {
        char label[96];
        snprintf(label, sizeof(label), "%s, part %d", what, k);
        check_rounded(&rest, p.p[k], label);
        if (p.p[k] == 0) {
            for (int j = k + 1; j < EXACTSUM_PARTS; j++) {
                assert_true(p.p[j] == 0);
            }
            return;
        }
        dd_expansion_add(&rest, -p.p[k]);
    }
}

static void expect(const double *v, size_t n, double p0, double p1, double p2)
{
    struct exactsum_parts p = sum_of(v, n);
    if (!same_bits(p.p[0], p0) || !same_bits(p.p[1], p1) || !same_bits(p.p[2], p2)) {
        fail_msg("sum of %zu values: {%.17g, %.17g, %.17g}, expected {%.17g, %.17g, %.17g}", n,
                 p.p[0], p.p[1], p.p[2], p0, p1, p2);
    }
    check_parts(v, n, p, "known case");
    struct exactsum_parts q = added(v, n);
    for (int k = 0; k < EXACTSUM_PARTS; k++) {
        if (!same_bits(q.p[k], p.p[k])) {
            fail_msg("added one by one: part %d %.17g, the accumulator's %.17g", k, q.p[k], p.p[k]);
        }
    }
}

/* The review's cases, ties, subnormals, the largest doubles. */
static void test_known_sums(void **state)
{
    (void)state;
    expect(NULL, 0, 0, 0, 0);
    expect((double[]){0.1, 1e15, -1e15}, 3, 0.1, 0, 0);
    expect((double[]){1e15, -1e15, 0.1}, 3, 0.1, 0, 0);
    expect((double[]){1e12, 0.07, -1e12}, 3, 0.07, 0, 0);
    /* the doubles 0.1 + 0.2 exactly: 0.30000000000000004 (rounded) and what it misses */
    expect((double[]){0.1, 0.2}, 2, 0.30000000000000004, -2.7755575615628914e-17, 0);
    /* 1e15 + 0.1: its ulp is 0.125 */
    expect((double[]){1e15, 0.1}, 2, 1000000000000000.125, 0.1 - 0.125, 0);
    /* 1e15 + 0.06 + 0.01 needs three parts: its rest after 1e15 + 0.125 spans 55 bits */
    double c3[] = {1e15, 0.06, 0.01};
    struct exactsum_parts p = sum_of(c3, 3);
    assert_true(p.p[2] != 0);
    check_parts(c3, 3, p, "1e15 + 0.06 + 0.01");
    expect((double[]){1e15, 0.06, 0.01, -1e15}, 4, 0.06 + 0.01, 0.06 - (0.06 + 0.01) + 0.01, 0);
    /* ties to even: 2^53 + 1 -> 2^53; 2^53 + 3 -> 2^53 + 4; a sticky bit breaks the tie */
    double t53 = 9007199254740992.0;
    expect((double[]){t53, 1}, 2, t53, 1, 0);
    expect((double[]){t53, 3}, 2, t53 + 4, -1, 0);
    expect((double[]){t53, 1, 0x1p-60}, 3, t53 + 2, -1, 0x1p-60);
    expect((double[]){-t53, -1, -0x1p-60}, 3, -t53 - 2, 1, -0x1p-60);
    /* subnormals, and a normal result of subnormals */
    expect((double[]){5e-324, 5e-324}, 2, 1e-323, 0, 0);
    expect((double[]){DBL_MIN / 2, DBL_MIN / 2}, 2, DBL_MIN, 0, 0);
    expect((double[]){DBL_MIN, -5e-324}, 2, DBL_MIN - 5e-324, 0, 0);
    /* cancellation to 0, negative sums, signed zeros */
    expect((double[]){1e15, 0.07, -0.07, -1e15}, 4, 0, 0, 0);
    expect((double[]){-0.0, -0.0}, 2, 0, 0, 0);
    expect((double[]){-3.5, 1.25}, 2, -2.25, 0, 0);
    /* far apart: 1e300 + 1e-300 keeps both */
    expect((double[]){1e300, 1e-300}, 2, 1e300, 1e-300, 0);
    expect((double[]){1e300, 1e-300, -1e300}, 3, 1e-300, 0, 0);
    /* beyond the doubles */
    struct exactsum_parts big = sum_of((double[]){DBL_MAX, DBL_MAX}, 2);
    assert_true(isinf(big.p[0]) && big.p[0] > 0 && big.p[1] == 0);
    struct exactsum s;
    exactsum_init(&s);
    exactsum_add(&s, 1);
    exactsum_add(&s, NAN);
    assert_true(isnan(exactsum_parts(&s).p[0]));
}

/* A value of at most 15 decimal places in [-1e15, 1e15], as a client sends it: m * 10^-places,
 * m of 1 to 16 digits, read as JSON numbers are (strtod). */
static double decimal_value(void)
{
    int places = (int)(rng() % 16), digits = 1 + (int)(rng() % 16);
    uint64_t lim = 1;
    for (int i = 0; i < digits; i++) {
        lim *= 10;
    }
    char text[64];
    snprintf(text, sizeof(text), "%s%llue-%d", rng() & 1 ? "-" : "",
             (unsigned long long)(rng() % lim), places);
    double v = strtod(text, NULL);
    return v < -1e15 ? -1e15 : v > 1e15 ? 1e15 : v;
}

/* A double of any bits between 2^-20 and 2^50 (sums of them span less than three doubles). */
static double binary_value(void)
{
    uint64_t bits = rng();
    uint64_t exp = 1023 - 20 + rng() % 70;
    bits = (bits & 0x800fffffffffffffULL) | (exp << 52);
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

/* Any double of any exponent (subnormals included), up to about 1e300. */
static double wild_value(void)
{
    uint64_t bits = rng();
    uint64_t exp = rng() % 2020; /* below 0x7ff - 26: sums stay finite */
    bits = (bits & 0x800fffffffffffffULL) | (exp << 52);
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

static void shuffle(double *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng() % i);
        double t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* Random sums: the canonical parts of the exact sum, in every order, and value by value. */
static void test_random_sums(void **state)
{
    (void)state;
    int three = 0;
    static const char *const kinds[] = {"decimal", "decimal", "binary", "wild"};
    for (int c = 0; c < 20000; c++) {
        int kind = c % 4;
        bool wild = kind == 3;
        size_t n = 1 + (size_t)(rng() % NMAX);
        double v[NMAX];
        for (size_t i = 0; i < n; i++) {
            v[i] = kind < 2 ? decimal_value() : kind == 2 ? binary_value() : wild_value();
            /* cancellation: a value repeated with the opposite sign */
            if (i > 0 && rng() % 4 == 0) {
                v[i] = -v[rng() % i];
            }
        }
        struct exactsum_parts p = sum_of(v, n);
        char what[64];
        snprintf(what, sizeof(what), "case %d (%s, %zu values)", c, kinds[kind], n);
        check_parts(v, n, p, what);
        three += p.p[2] != 0;
        for (int round = 0; round < 3; round++) {
            shuffle(v, n);
            struct exactsum_parts q = sum_of(v, n);
            struct exactsum_parts a = added(v, n);
            for (int k = 0; k < EXACTSUM_PARTS; k++) {
                if (!same_bits(q.p[k], p.p[k])) {
                    fail_msg("%s: part %d depends on the order", what, k);
                }
                /* value by value: the same parts while every partial sum is three doubles
                 * (wild values, 1e300 beside 1e-300, are not: what three doubles of 1e300
                 * cannot hold is lost when 1e300 cancels) */
                if (!wild && !same_bits(a.p[k], p.p[k])) {
                    fail_msg("%s: added one by one, part %d is %.17g, not %.17g", what, k, a.p[k],
                             p.p[k]);
                }
            }
        }
    }
    /* the generator reaches sums of three parts */
    assert_true(three > 100);
}

/* Many additions, far apart and cancelling: the same parts as the values left. */
static void test_long_sums(void **state)
{
    (void)state;
    struct exactsum s, t;
    exactsum_init(&s);
    exactsum_init(&t);
    double v[] = {0.1, -1e15, 3e-300, 1e15, -0.1};
    for (long i = 0; i < 3000000; i++) {
        exactsum_add(&s, v[i % 5]);
    }
    for (long i = 0; i < 600000; i++) {
        exactsum_add(&t, 3e-300);
    }
    struct exactsum_parts p = exactsum_parts(&s), r = exactsum_parts(&t);
    for (int k = 0; k < EXACTSUM_PARTS; k++) {
        assert_true(same_bits(p.p[k], r.p[k]));
    }
    assert_true(p.p[0] > 1.79e-294 && p.p[0] < 1.81e-294);
    /* value by value over 100,000 values: the accumulator's parts */
    struct exactsum_parts q = {{0, 0, 0}};
    struct exactsum a;
    exactsum_init(&a);
    for (long i = 0; i < 100000; i++) {
        double x = i % 2 ? 0.07 : (i % 4 ? -1e12 : 1e12);
        exactsum_parts_add(&q, x);
        exactsum_add(&a, x);
    }
    r = exactsum_parts(&a);
    for (int k = 0; k < EXACTSUM_PARTS; k++) {
        assert_true(same_bits(q.p[k], r.p[k]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_sums),
        cmocka_unit_test(test_random_sums),
        cmocka_unit_test(test_long_sums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
