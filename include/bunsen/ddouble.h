/*
 * ddouble.h - double-double numbers (an unevaluated sum hi + lo, ~106 bits) for the roll-up
 * sums, so that precision does not depend on the values' magnitude (STATS.md "Numerics"):
 * with values of 1e12 +- 100, sum y^2 is ~1e27 and its variance part ~1e7; a plain double
 * loses all of it, a double-double keeps ~1e-32 relative, i.e. the variance to ~1e-12.
 *
 * Error-free transformations (Knuth's TwoSum, TwoProduct with fma()), header-only and pure.
 * Needs IEEE double arithmetic without extended precision or contraction
 * (-ffp-contract=off, as the Makefile builds). Thread-safe.
 */
#ifndef BUNSEN_DDOUBLE_H
#define BUNSEN_DDOUBLE_H

#include <math.h>

struct dd {
    double hi; /* the value rounded to double */
    double lo; /* what hi misses (|lo| <= ulp(hi) / 2 once normalised) */
};

/* a + b exactly, as hi + lo. */
static inline struct dd dd_two_sum(double a, double b)
{
    double s = a + b;
    double bb = s - a;
    struct dd r = {s, (a - (s - bb)) + (b - bb)};
    return r;
}

/* a * b exactly, as hi + lo (fma gives the rounding error of the product). */
static inline struct dd dd_two_prod(double a, double b)
{
    double p = a * b;
    struct dd r = {p, fma(a, b, -p)};
    return r;
}

static inline struct dd dd_of(double a)
{
    struct dd r = {a, 0.0};
    return r;
}

/* a + b */
static inline struct dd dd_add(struct dd a, struct dd b)
{
    struct dd s = dd_two_sum(a.hi, b.hi);
    struct dd t = dd_two_sum(a.lo, b.lo);
    s.lo += t.hi;
    s = dd_two_sum(s.hi, s.lo);
    s.lo += t.lo;
    return dd_two_sum(s.hi, s.lo);
}

static inline struct dd dd_neg(struct dd a)
{
    struct dd r = {-a.hi, -a.lo};
    return r;
}

/* a * b, b a double */
static inline struct dd dd_mul_d(struct dd a, double b)
{
    struct dd p = dd_two_prod(a.hi, b);
    p.lo += a.lo * b;
    return dd_two_sum(p.hi, p.lo);
}

/* The nearest double. */
static inline double dd_value(struct dd a)
{
    return a.hi + a.lo;
}

#endif
