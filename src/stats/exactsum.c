/*
 * exactsum.c - exact sums of doubles, rounded once (exactsum.h): a fixed-point accumulator of
 * 32-bit digits in units of 2^-1074, its rounding into canonical parts, and the addition of
 * one double to a sum kept in parts. Pure; any thread may enter (each with its own sums).
 */
#include "bunsen/exactsum.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "bunsen/ddouble.h"

#define RADIX       4294967296LL /* 2^32: the weight of one digit over the one below */
#define DIGIT_MASK  0xffffffffULL
#define PENDING_MAX (1u << 30) /* |digit| < 2^32 + 2^30 * 2^32 < 2^63 until the next carry */

void exactsum_init(struct exactsum *s)
{
    memset(s, 0, sizeof(*s));
    s->lo = EXACTSUM_DIGITS;
    s->hi = -1;
}

/* floor(v / 2^32), without relying on how >> treats negative numbers. */
static int64_t floor_radix(int64_t v)
{
    return v >= 0 ? v / RADIX : -((-v + RADIX - 1) / RADIX);
}

/* Propagate the carries of d[lo..hi] (the digits above hi are 0), keeping the value:
 * d[lo..hi-1] end in [0, 2^32), and so does d[hi], or it is -1 for a negative sum (the digits
 * below then add a positive part to -2^(32 hi)); hi moves up as far as carries reach. */
static void carry(int64_t *d, int lo, int *hi)
{
    int64_t c = 0;
    int i = lo;
    for (; i < EXACTSUM_DIGITS && (i <= *hi || (c != 0 && c != -1)); i++) {
        int64_t v = d[i] + c;
        c = floor_radix(v);
        d[i] = v - c * RADIX;
    }
    /* the sum is below 2^(32 EXACTSUM_DIGITS - 1074 - 32): the carries end below the top, and
     * a negative sum's sign digit fits */
    assert(c == 0 || (c == -1 && i < EXACTSUM_DIGITS));
    if (c == -1) {
        d[i] = -1;
        *hi = i;
    } else {
        *hi = i - 1;
    }
}

void exactsum_add(struct exactsum *s, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    int exp = (int)((bits >> 52) & 0x7ff);
    uint64_t m = bits & ((1ULL << 52) - 1);
    if (exp == 0x7ff) {
        s->special += v;
        return;
    }
    if (exp == 0 && m == 0) {
        return; /* +-0 */
    }
    /* v = +-m * 2^(pos - 1074): a subnormal at position 0, a normal one with its hidden bit */
    int pos = 0;
    if (exp > 0) {
        m |= 1ULL << 52;
        pos = exp - 1;
    }
    int k = pos / 32, sh = pos % 32;
    uint64_t rest = m >> (32 - sh); /* bits 32.. of m * 2^sh (sh = 0: m >> 32) */
    int64_t p[3] = {(int64_t)((m << sh) & DIGIT_MASK), (int64_t)(rest & DIGIT_MASK),
                    (int64_t)(rest >> 32)};
    bool neg = bits >> 63;
    for (int j = 0; j < 3; j++) {
        s->d[k + j] += neg ? -p[j] : p[j];
    }
    s->lo = k < s->lo ? k : s->lo;
    s->hi = k + 2 > s->hi ? k + 2 : s->hi;
    if (++s->pending == PENDING_MAX) {
        carry(s->d, s->lo, &s->hi);
        s->pending = 0;
    }
}

/* The number of significant bits of x > 0. */
static int bit_length(uint64_t x)
{
    int n = 0;
    while (x != 0) {
        n++;
        x >>= 1;
    }
    return n;
}

/* t's value rounded to nearest, ties to even (t's carries are propagated, its value kept). */
static double round_digits(struct exactsum *t)
{
    if (t->lo > t->hi) {
        return 0.0;
    }
    carry(t->d, t->lo, &t->hi);
    t->pending = 0;
    int lo = t->lo, hi = t->hi;
    /* the magnitude, in [0, 2^32) digits */
    int64_t mag[EXACTSUM_DIGITS];
    bool neg = t->d[hi] < 0;
    for (int i = lo; i <= hi; i++) {
        mag[i] = neg ? -t->d[i] : t->d[i];
    }
    if (neg) {
        carry(mag, lo, &hi); /* below 2^(32 hi): no carry beyond hi */
    }
    while (hi >= lo && mag[hi] == 0) {
        hi--;
    }
    if (hi < lo) {
        return 0.0;
    }
#define DIGIT(i) ((i) >= lo ? (uint64_t)mag[(i)] : 0ULL) /* digits below lo are 0 */
    int nb = bit_length((uint64_t)mag[hi]);
    int total = 32 * hi + nb; /* 2^(total - 1) <= the magnitude < 2^total, units of 2^-1074 */
    double r;
    if (total <= 53) {
        /* at most two digits (hi <= 1), below 2^53: exact, also as a subnormal */
        uint64_t mant = hi >= 1 ? (DIGIT(hi) << 32) | DIGIT(hi - 1) : DIGIT(hi);
        r = ldexp((double)mant, (hi >= 1 ? 32 * (hi - 1) : 0) - 1074);
    } else {
        /* the top 64 bits w (hi >= 1 here); the bits below them only as a sticky bit */
        uint64_t top = (DIGIT(hi) << 32) | DIGIT(hi - 1); /* 32 + nb bits */
        uint64_t next = (DIGIT(hi - 2) << 32) | DIGIT(hi - 3);
        int sh = 32 - nb;
        uint64_t w = sh > 0 ? (top << sh) | (next >> (64 - sh)) : top;
        bool sticky = (w & 0x3ff) != 0 || (sh > 0 ? next << sh : next) != 0;
        for (int i = lo; i <= hi - 4 && !sticky; i++) {
            sticky = mag[i] != 0;
        }
        uint64_t mant = w >> 11; /* 53 bits */
        if (((w >> 10) & 1) != 0 && (sticky || (mant & 1) != 0)) {
            mant++; /* 2^53 at most: still a double, and ldexp below is exact */
        }
        /* a normal double (above 2^-1022): 53 bits are its precision; beyond 2^1024, inf */
        r = ldexp((double)mant, total - 53 - 1074);
    }
#undef DIGIT
    return neg ? -r : r;
}

struct exactsum_parts exactsum_parts(const struct exactsum *s)
{
    struct exactsum_parts v = {{0.0, 0.0, 0.0}};
    if (s->special != 0 || isnan(s->special)) {
        v.p[0] = s->special;
        return v;
    }
    struct exactsum t = *s;
    for (int k = 0; k < EXACTSUM_PARTS; k++) {
        double r = round_digits(&t);
        v.p[k] = r;
        if (r == 0 || isinf(r)) {
            break;
        }
        exactsum_add(&t, -r);
    }
    return v;
}

void exactsum_parts_add(struct exactsum_parts *v, double b)
{
    /* v = p0 + p1 (p2 = 0) and p1 + the error of p0 + b is a double: the new sum is exactly
     * f.hi + f.lo, which TwoSum rounds into the canonical parts (f.hi = the sum rounded, f.lo
     * = the rest, exact) */
    if (v->p[2] == 0) {
        struct dd s = dd_two_sum(v->p[0], b);
        struct dd e = dd_two_sum(v->p[1], s.lo);
        if (e.lo == 0) {
            struct dd f = dd_two_sum(s.hi, e.hi);
            v->p[0] = f.hi;
            v->p[1] = f.lo;
            return;
        }
    }
    struct exactsum t;
    exactsum_init(&t);
    for (int k = 0; k < EXACTSUM_PARTS; k++) {
        exactsum_add(&t, v->p[k]);
    }
    exactsum_add(&t, b);
    *v = exactsum_parts(&t);
}
