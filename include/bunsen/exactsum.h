/*
 * exactsum.h - exact sums of doubles, rounded once: a user's raw value (user_metrics), so that
 * it depends neither on the order its events are added in nor on which path adds them (an
 * event as it arrives, a first exposure over the stored events, a rebuild), on either
 * backend (STATS.md "Numerics"; docs/STATISTICS.md "Numerics").
 *
 * Two pieces:
 * - struct exactsum, a fixed-point accumulator (Kulisch's long accumulator): every finite
 *   double is an integer multiple of 2^-1074 below 2^1024, so the sum is kept exactly as an
 *   integer in units of 2^-1074, in 32-bit digits of int64_t that absorb carries (propagated
 *   every 2^30 additions and when read). An addition touches three digits; under 600 bytes,
 *   no allocation. For sums over many values (a first exposure, a rebuild).
 * - struct exactsum_parts, a sum kept in EXACTSUM_PARTS doubles in one canonical form: p[0]
 *   the sum rounded to nearest (ties to even), p[1] what p[0] misses, rounded likewise, p[2]
 *   what both miss, rounded. The form is a function of the sum's value alone, so the same
 *   values added one by one in any order (exactsum_parts_add) or summed at once
 *   (exactsum_parts of an accumulator) give the same three doubles, bit for bit, as long as
 *   every partial sum is exactly three doubles: any values of at most 15 decimal places in
 *   [-1e15, 1e15] (whose sums span less than 2^56 .. 2^-103). Beyond that the sum is kept
 *   to ~2^-159 of its size. The stored form of user_metrics (y_raw and its low parts).
 *
 * Pure; thread-safe (each thread with its own structures).
 */
#ifndef BUNSEN_EXACTSUM_H
#define BUNSEN_EXACTSUM_H

#include <stdint.h>

/* 70 digits of 32 bits, 2^-1074 up to 2^1166: room for 2^63 additions of the largest double
 * and a digit for the sign. */
#define EXACTSUM_DIGITS 70

struct exactsum {
    int64_t d[EXACTSUM_DIGITS]; /* digit i weighs 2^(32 i - 1074), carries pending; 0 above hi */
    int lo, hi;                 /* digits that may be non-zero: d[lo..hi]; none when lo > hi */
    uint32_t pending;           /* additions since the carries were last propagated */
    double special;             /* IEEE sum of the non-finite values added (0: none) */
};

#define EXACTSUM_PARTS 3

/* A sum as EXACTSUM_PARTS doubles, p[0] its value rounded (see above). {0, 0, 0} is 0. */
struct exactsum_parts {
    double p[EXACTSUM_PARTS];
};

/* An empty sum (0). */
void exactsum_init(struct exactsum *s);

/* s += v exactly. A non-finite v (which validated values never are) makes the result the
 * IEEE sum of the non-finite values added (inf, -inf or NaN) in p[0]. */
void exactsum_add(struct exactsum *s, double v);

/* s's sum in the canonical parts (a sum beyond the doubles: {+-inf, 0, 0}). s is not changed:
 * more may be added after. */
struct exactsum_parts exactsum_parts(const struct exactsum *s);

/* v += b, v in canonical form (as every writer leaves it; {x, 0, 0} is, for any double x), and
 * left so. A few dozen instructions while the sum fits two doubles (every partial sum of
 * values with cents below ~1e14, say); else through an accumulator (~2,000). */
void exactsum_parts_add(struct exactsum_parts *v, double b);

#endif
