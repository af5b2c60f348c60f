/*
 * ddouble.h - double-double numbers (an unevaluated sum hi + lo, ~106 bits) for the roll-up
 * sums, so that precision does not depend on the values' magnitude (STATS.md "Numerics"):
 * with values of 1e12 +- 100, sum y^2 is ~1e27 and its variance part ~1e7; a plain double
 * loses all of it, a double-double keeps ~1e-32 relative, i.e. the variance to ~1e-12.
 *
 * Error-free transformations (Knuth's TwoSum, TwoProduct with fma()), double-double +, -, *,
 * / (~1e-32 relative), and exact sums of a few terms (Shewchuk's expansions) for sums that
 * cancel beyond what a double-double keeps. Header-only and pure.
 * Needs IEEE double arithmetic without extended precision or contraction
 * (-ffp-contract=off, as the Makefile builds). Thread-safe.
 */
#ifndef BUNSEN_DDOUBLE_H
#define BUNSEN_DDOUBLE_H

#include <assert.h>
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

/* a - b */
static inline struct dd dd_sub(struct dd a, struct dd b)
{
    return dd_add(a, dd_neg(b));
}

/* a * b, b a double */
static inline struct dd dd_mul_d(struct dd a, double b)
{
    struct dd p = dd_two_prod(a.hi, b);
    p.lo += a.lo * b;
    return dd_two_sum(p.hi, p.lo);
}

/* a * b */
static inline struct dd dd_mul(struct dd a, struct dd b)
{
    struct dd p = dd_two_prod(a.hi, b.hi);
    p.lo += a.hi * b.lo + a.lo * b.hi;
    return dd_two_sum(p.hi, p.lo);
}

/* a / b: a first quotient, then the quotient of what it leaves (a - q1 b, nearly exact).
 * Not finite when b is 0. */
static inline struct dd dd_div(struct dd a, struct dd b)
{
    double q1 = a.hi / b.hi;
    struct dd r = dd_sub(a, dd_mul_d(b, q1));
    return dd_two_sum(q1, (r.hi + r.lo) / b.hi);
}

/*
 * An exact sum of a few doubles and exact products (Shewchuk's floating-point expansion:
 * nonoverlapping components of increasing magnitude, zeros dropped), rounded to a
 * double-double only at the end: for sums whose terms nearly cancel, e.g. Q - 2 c S + n c^2
 * with Q ~ 1e26 and a result ~1e5, where double-double terms would leave 1e-32 of 1e26.
 * Start from {0}; at most DD_EXPANSION_MAX - 1 additions (each adds at most one component).
 */
#define DD_EXPANSION_MAX 32
struct dd_expansion {
    double c[DD_EXPANSION_MAX]; /* components, increasing magnitude */
    int n;                      /* components in use */
};

/* e += b exactly (Shewchuk's Grow-Expansion with zero elimination). */
static inline void dd_expansion_add(struct dd_expansion *e, double b)
{
    int k = 0;
    double q = b;
    for (int i = 0; i < e->n; i++) {
        struct dd t = dd_two_sum(q, e->c[i]);
        q = t.hi;
        if (t.lo != 0) {
            e->c[k++] = t.lo;
        }
    }
    if (q != 0) {
        assert(k < DD_EXPANSION_MAX);
        e->c[k++] = q;
    }
    e->n = k;
}

/* e += a * b exactly. */
static inline void dd_expansion_add_prod(struct dd_expansion *e, double a, double b)
{
    struct dd p = dd_two_prod(a, b);
    dd_expansion_add(e, p.lo);
    dd_expansion_add(e, p.hi);
}

/* e's value as a double-double (the components summed from the smallest up). */
static inline struct dd dd_expansion_value(const struct dd_expansion *e)
{
    struct dd r = dd_of(0.0);
    for (int i = 0; i < e->n; i++) {
        r = dd_add(r, dd_of(e->c[i]));
    }
    return r;
}

/* The nearest double. */
static inline double dd_value(struct dd a)
{
    return a.hi + a.lo;
}

#endif
