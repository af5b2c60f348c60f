/*
 * stats.h - the statistics engine: pure math on per-variant sufficient statistics.
 *
 * Implements /work/shared/STATS.md exactly (GrowthBook conventions): Welch and
 * delta-method frequentist tests, the pooled z-test for binomials, exact beta-binomial
 * and Gaussian Bayesian summaries, always-valid sequential confidence sequences,
 * CUPED, the sample-ratio-mismatch test, Holm / Benjamini-Hochberg adjustments and
 * sample-size (power) calculations.
 *
 * Inputs are plain structs of sums (n, S = sum y, Q = sum y^2, and for CUPED Sx, Qx,
 * P = sum x*y) that store/ produces; outputs are plain structs. No I/O, no JSON, no
 * globals: every function is thread-safe and reentrant. GSL is the only dependency;
 * the process must call gsl_set_error_handler_off() once (main does), and every GSL
 * status is checked here.
 *
 * Undefined numbers never leak as NaN or Infinity: every output number is a
 * struct stats_opt (value + present flag); a number that cannot be computed is
 * absent and the result's `warning` says why (render absent as JSON null).
 *
 * Source files: src/stats/summary.c (opts, warnings, names, arms, moments),
 * compare.c (one comparison: Welch, delta method, z-test, CUPED, Gaussian Bayesian),
 * bayesian.c (exact beta-binomial), sequential.c, srm.c, corrections.c, power.c.
 */
#ifndef BUNSEN_STATS_H
#define BUNSEN_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bunsen/err.h"

/* Default significance level and sequential tuning N* (STATS.md). */
#define STATS_ALPHA_DEFAULT             0.05
#define STATS_SEQUENTIAL_TUNING_DEFAULT 5000.0
/* SRM: mismatch when the chi-square p-value is below this. */
#define STATS_SRM_THRESHOLD 0.001
/* Capacity of a result's warning text (several reasons joined with "; "). */
#define STATS_WARNING_MAX 384

/* ---- optional numbers ------------------------------------------------------------ */

/* A number that may be undefined. When present is false, value is 0 and must not be
 * shown (render JSON null). present is never true for a NaN or infinite value. */
struct stats_opt {
    double value;
    bool present;
};

/* An optional holding v when v is finite, else absent. Thread-safe, pure. */
struct stats_opt stats_opt_of(double v);

/* The absent optional. Thread-safe, pure. */
struct stats_opt stats_opt_none(void);

/* Append msg to the warning text w (capacity STATS_WARNING_MAX, NUL-terminated),
 * separated by "; ", unless w already contains msg; truncates silently when full.
 * Thread-safe (touches only w). */
void stats_warning_add(char *w, const char *msg);

/* ---- enums and their API names ------------------------------------------------------ */

enum stats_metric_type {
    STATS_METRIC_BINOMIAL, /* per-user 0/1; variance p(1-p) */
    STATS_METRIC_COUNT,    /* per-user event count; sample variance */
    STATS_METRIC_SUM,      /* per-user sum of values; sample variance */
    STATS_METRIC_RATIO,    /* sum(numerator) / sum(denominator), delta method: the ratio
                              functions only (stats_compare refuses it) */
};

enum stats_goal {
    STATS_GOAL_INCREASE, /* higher is better (default) */
    STATS_GOAL_DECREASE, /* lower is better: Bayesian "beat" means lower */
};

enum stats_method {
    STATS_METHOD_FREQUENTIST, /* default */
    STATS_METHOD_BAYESIAN,
    STATS_METHOD_SEQUENTIAL,
};

enum stats_correction {
    STATS_CORRECTION_NONE,
    STATS_CORRECTION_HOLM,
    STATS_CORRECTION_BH,
};

/* API spelling of each enum value ("binomial", "decrease", "sequential", "bh", ...).
 * Return a static string; thread-safe. */
const char *stats_metric_type_name(enum stats_metric_type t);
const char *stats_goal_name(enum stats_goal g);
const char *stats_method_name(enum stats_method m);
const char *stats_correction_name(enum stats_correction c);

/* Parse an API name (exact, case-sensitive) into *out. Return 0, or -1 for an unknown
 * or NULL name (*out untouched). Thread-safe. */
int stats_metric_type_parse(const char *name, enum stats_metric_type *out);
int stats_goal_parse(const char *name, enum stats_goal *out);
int stats_method_parse(const char *name, enum stats_method *out);
int stats_correction_parse(const char *name, enum stats_correction *out);

/* ---- sufficient statistics ----------------------------------------------------------- */

/* One variant's sums for one metric. y is the per-user metric value (STATS.md
 * "Per-user values"), x the CUPED pre-period covariate. Users without events count
 * with 0, so they add to n only. Leave sx, qx, p at 0 when CUPED is not used.
 * Sums are kept about shifts (cy, cx) so that precision does not depend on the values'
 * magnitude: s = sum (y - cy), q = sum (y - cy)^2, sx = sum (x - cx), qx = sum (x - cx)^2,
 * p = sum (x - cx)(y - cy). A shift near the values' mean keeps Q - S^2/n exact; shift 0
 * (the zero-initialised default) means raw sums. Binomial arms need shift_y = 0 (s counts
 * conversions). Arms compared with each other may have different shifts.
 * The *_lo fields are what the doubles miss when the sums are double-double (hi + lo, as
 * the roll-ups keep them; results_arm_from_suff fills them): CUPED's adjusted variance is
 * a small remainder of q, qx and p (y close to x) and needs them; 0 for plain doubles. */
struct stats_arm {
    int64_t n;      /* exposed users, >= 0 */
    double s;       /* sum (y - cy) (binomial: conversions, an integer in [0, n]) */
    double q;       /* sum (y - cy)^2 (ignored for binomial, where it equals s) */
    double sx;      /* sum (x - cx) */
    double qx;      /* sum (x - cx)^2 */
    double p;       /* sum (x - cx)(y - cy) */
    double shift_y; /* cy; 0 = raw sums */
    double shift_x; /* cx; 0 = raw sums */
    double s_lo;    /* s's low part (double-double s + s_lo), 0 = none */
    double q_lo;    /* q's low part */
    double sx_lo;   /* sx's low part */
    double qx_lo;   /* qx's low part */
    double p_lo;    /* p's low part */
};

/* The raw sum of y, n cy + s (what API.md's "sum" reports). Thread-safe, pure. */
double stats_arm_sum(const struct stats_arm *arm);

/* Mean and variance of one arm per STATS.md: mean = cy + S/n; variance p(1-p)
 * (binomial) or (Q - S^2/n)/(n-1) on the shifted sums (count, sum); stddev = sqrt. */
struct stats_moments {
    struct stats_opt mean;     /* absent when n = 0 */
    struct stats_opt variance; /* absent when n = 0, or n < 2 for count/sum */
    struct stats_opt stddev;
};

/* Check that arm is usable for type: n >= 0, all sums finite, for binomial s an
 * integer in [0, n]. Return 0, or -1 with err (ERR_INVALID, field "arm"). Thread-safe. */
int stats_arm_check(enum stats_metric_type type, const struct stats_arm *arm, struct err *err);

/* Fill *out with the moments of arm. Return 0, or -1 with err when stats_arm_check
 * fails. Borrows arm. Thread-safe. */
int stats_arm_moments(enum stats_metric_type type, const struct stats_arm *arm,
                      struct stats_moments *out, struct err *err);

/* ---- one comparison (control A vs treatment B) ----------------------------------------- */

/* How to compare. Start from stats_config_default() and override fields. */
struct stats_config {
    enum stats_metric_type type;
    enum stats_goal goal;
    enum stats_method method;
    double alpha;             /* in (0, 1); intervals are (1 - alpha) */
    bool cuped;               /* apply CUPED using the arms' sx, qx, p */
    double sequential_tuning; /* N* > 0, used by STATS_METHOD_SEQUENTIAL */
    bool lifts_only;          /* the lifts and their intervals only: no chance to beat control or
                               * expected loss under bayesian (a time series shows no more) */
};

/* Binomial, increase, frequentist, alpha 0.05, no CUPED, N* = 5000. Thread-safe. */
void stats_config_default(struct stats_config *cfg);

/* One lift (absolute B - A, or relative (B - A)/|A|). */
struct stats_lift {
    struct stats_opt estimate;
    struct stats_opt se;
    struct stats_opt ci_lo; /* interval per method: Welch t, Bayesian z, or sequential CS */
    struct stats_opt ci_hi;
    struct stats_opt p_value; /* two-sided; absent under bayesian (not applicable) */
    struct stats_opt df;      /* frequentist: the t distribution's df of ci and p_value (the
                                 comparison's Welch df, or the relative lift's own when that is
                                 undefined); absent under the other methods */
};

/*
 * Result of one comparison. Which fields are filled:
 *   absolute, relative   estimate and se always (when defined); ci per method;
 *                        p_value under frequentist (Welch t) and sequential (CS).
 *                        absolute.p_value IS the comparison's `p_value` of API.md.
 *   df                   Welch df, every method.
 *   z, z_p_value         binomial metrics, every method (pooled z-test).
 *   chance_to_beat_control, expected_loss   bayesian only.
 *   cuped_theta, cuped_variance_reduction   only when cfg->cuped.
 *   always_valid         true under sequential.
 * Absent values under a method that does not define them carry no warning; absent values
 * that the method does define always have a reason in `warning` ("" when none).
 */
struct stats_comparison {
    struct stats_lift absolute;
    struct stats_lift relative;
    struct stats_opt df;
    struct stats_opt z;
    struct stats_opt z_p_value;
    struct stats_opt chance_to_beat_control;
    struct stats_opt expected_loss;
    struct stats_opt cuped_theta;
    struct stats_opt cuped_variance_reduction;
    bool always_valid;
    char warning[STATS_WARNING_MAX];
};

/*
 * Compare treatment b against control a for one metric per STATS.md.
 * Degenerate inputs are not errors: an arm with n < 2 leaves every test field absent
 * (the estimates stay when both means exist); an estimate whose SE is 0 has no interval
 * or p-value; a control mean of 0 leaves all relative fields absent; CUPED with zero
 * pooled pre-period variance uses theta = 0. Each case sets `warning`.
 * Bayesian binomial uses the exact Beta(1 + S, 1 + n - S) posteriors, except when
 * CUPED applies a non-zero theta: then the Gaussian model on the adjusted lift is used
 * (the beta posteriors know nothing of the covariate).
 * Return 0 and fill *out, or -1 with err (ERR_INVALID) for bad input: invalid cfg
 * (alpha, sequential_tuning, enum values) or an arm failing stats_arm_check; or
 * ERR_INTERNAL when a GSL routine fails. Borrows all pointers. Thread-safe.
 */
int stats_compare(const struct stats_config *cfg, const struct stats_arm *a,
                  const struct stats_arm *b, struct stats_comparison *out, struct err *err);

/* ---- building blocks (also used by stats_compare) ---------------------------------------- */

/*
 * Exact Bayesian comparison of two Beta posteriors, pA ~ Beta(alpha_a, beta_a) and
 * pB ~ Beta(alpha_b, beta_b), alpha_b an integer >= 1, all parameters >= 1:
 * *chance = P(pB > pA) and *loss = E[max(pA - pB, 0)], by Evan Miller's closed-form
 * sum (log-beta, windowed around its mode, so cost ~ sqrt of the counts), accurate to
 * ~1e-12. The loss is one integral of a positive integrand (no difference of near-equal
 * terms), so it keeps ~1e-9 relative accuracy however small it is (1e-30 and below).
 * Return 0, or -1 for invalid parameters or a non-finite result. Thread-safe.
 */
int stats_beta_compare(double alpha_a, double beta_a, double alpha_b, double beta_b, double *chance,
                       double *loss);

/*
 * Half-width of GrowthBook's asymptotic confidence sequence for an estimate with
 * standard error se after n = nA + nB users, with N* = tuning (STATS.md "Sequential"),
 * and the matching always-valid p-value for estimate est. Either output may be NULL.
 * Return 0, or -1 when an input is out of range (se <= 0, n < 1, alpha outside (0, 1),
 * tuning <= 0) or a result is not finite. Thread-safe.
 */
int stats_sequential_interval(double est, double se, double n, double alpha, double tuning,
                              double *halfwidth, double *p_value);

/*
 * The confidence sequence's half-width for estimate est after n users whose always-valid
 * p-value (stats_sequential_interval) would be p: with L(a) = ln(sqrt(n rho^2 + 1) / a),
 * |est| sqrt(L(alpha) / L(p)) (0 when p = 0). p = 1 gives the narrowest standard error
 * whose p-value is 1 (the formula caps it there). Return 0, or -1 when an input is out of
 * range (p outside [0, 1], n < 1, alpha outside (0, 1), tuning <= 0, est not finite) or the
 * result is not finite. Thread-safe.
 */
int stats_sequential_halfwidth_for_p(double est, double n, double alpha, double tuning, double p,
                                     double *halfwidth);

/* ---- sample ratio mismatch ---------------------------------------------------------------- */

struct stats_srm {
    struct stats_opt chi2;
    struct stats_opt p_value; /* upper tail of chi-square with k - 1 df */
    int df;
    bool mismatch; /* p_value present and < STATS_SRM_THRESHOLD */
    char warning[STATS_WARNING_MAX];
};

/*
 * Pearson chi-square of observed users per variant (k entries) against the intended
 * weights (normalised to sum 1). Degenerate (not errors): no users at all, or k < 2,
 * leave chi2/p_value absent with a warning; users in a variant of weight 0 give
 * p_value 0 and mismatch. Return 0, or -1 with err (ERR_INVALID) for k == 0, a negative
 * count, a negative/non-finite weight or weights summing to 0. Borrows arrays.
 * Thread-safe.
 */
int stats_srm_test(const int64_t *observed, const double *weights, size_t k, struct stats_srm *out,
                   struct err *err);

/* ---- multiple comparisons ------------------------------------------------------------------ */

/*
 * Adjust the family p[0..m) into adj[0..m) (may alias p) with Holm (step-down) or
 * Benjamini-Hochberg (step-up) per STATS.md; NONE copies. Absent p-values are skipped:
 * they stay absent and do not count in the family size. Return 0, or -1 with err
 * (ERR_INVALID) for an unknown method or a present p outside [0, 1]. Allocates a
 * temporary index (aborts on OOM). Thread-safe.
 */
int stats_adjust_pvalues(enum stats_correction method, const struct stats_opt *p,
                         struct stats_opt *adj, size_t m, struct err *err);

/* The multiplicity-adjusted interval of one lift (stats_adjusted_interval). */
struct stats_adjusted_ci {
    struct stats_opt lo; /* the ends when bounded; both absent when unbounded or undefined */
    struct stats_opt hi;
    bool unbounded; /* the whole line: the adjusted p-value is 1 (frequentist) */
};

/*
 * The interval of lift l adjusted for multiplicity as its p-value is (STATS.md "Multiple
 * comparisons"), as GrowthBook reports adjusted intervals: the standard error that gives the
 * adjusted p-value p_adj under the test's own distribution, then the method's interval with
 * it, so that the interval excludes 0 exactly when p_adj < alpha.
 *   frequentist  SE_adj = |est| / t(1 - p_adj/2, df), est +- t(1 - alpha/2, df) SE_adj
 *                (df: l->df); p_adj = 1 (also est = 0) needs an infinite SE: unbounded.
 *   sequential   the SE whose always-valid p-value is p_adj, then the confidence sequence
 *                with it: est +- |est| sqrt(ln(sqrt(n rho^2 + 1)/alpha) /
 *                ln(sqrt(n rho^2 + 1)/p_adj)), n = nA + nB users (the formula's p is capped
 *                at 1: for p_adj = 1 this is the narrowest such SE).
 * The result is never narrower than l's own interval (a correction never lowers a p-value,
 * so that only matters where the sequential p-value is capped at 1, or p_adj = 0). To the
 * last bit at the threshold, p_adj decides: an end is moved by the least amount so that
 * the interval holds 0 exactly when p_adj >= alpha.
 * Undefined (both ends absent, unbounded false) under bayesian (no p-values), without an
 * estimate, an interval of l, or p_adj, or when p_adj is outside [0, 1]. Never NaN or
 * infinite ends. cfg gives method, alpha and sequential_tuning. Thread-safe, pure.
 */
void stats_adjusted_interval(const struct stats_config *cfg, const struct stats_lift *l, double n,
                             struct stats_opt p_adj, struct stats_adjusted_ci *out);

/* ---- power / sample size ------------------------------------------------------------------- */

/*
 * Users per variant to detect a change of a binomial rate from p1 to p2 with a two-sided
 * level-alpha test of the given power (R's power.prop.test closed form, STATS.md):
 * ceil((z(1-alpha/2) sqrt(2 pbar qbar) + z(power) sqrt(p1 q1 + p2 q2))^2 / (p2 - p1)^2).
 * Example: 0.10 -> 0.11, alpha 0.05, power 0.8 -> 14751. Return 0 and set *n, or -1 with
 * err (ERR_INVALID) unless p1, p2 in [0, 1], p1 != p2, alpha and power in (0, 1), and the
 * result fits in int64. Thread-safe.
 */
int stats_power_binomial(double p1, double p2, double alpha, double power, int64_t *n,
                         struct err *err);

/*
 * Users per variant to detect a mean difference delta with per-user stddev sigma under the
 * two-sample t-test (STATS.md "Power"): the smallest n whose power
 * P(T' > t(1 - alpha/2, df)), T' noncentral t with df = 2(n - 1) and noncentrality
 * |delta| / (sigma sqrt(2/n)), reaches `power`, i.e. ceil(R's power.t.test(...)$n).
 * Example: sigma 1, delta 2, alpha 0.05, power 0.8 -> 6. Return 0 and set *n (>= 2), or -1
 * with err (ERR_INVALID) unless sigma > 0, delta != 0, alpha and power in (0, 1), and the
 * result fits in int64. Thread-safe.
 */
int stats_power_mean(double sigma, double delta, double alpha, double power, int64_t *n,
                     struct err *err);

/*
 * Users per variant for the always-valid confidence sequence (method=sequential, STATS.md
 * "Sequential") to find a difference delta with the given power at that sample size: the
 * smallest n with P(|estimate| > halfwidth(2n)) >= power, the estimate normal around delta
 * with standard error sqrt(var_sum / n), var_sum the two arms' per-user variances summed
 * (binomial: p1 q1 + p2 q2; means: 2 sigma^2), the half-width that of stats_sequential_
 * interval at 2n users with the experiment's tuning N*. The sequence is wider than the fixed
 * test's interval, so it needs more users than stats_power_binomial / stats_power_mean (and
 * stopping early when it is crossed sooner only adds power). Return 0 and set *n (>= 2), or
 * -1 with err (ERR_INVALID) unless var_sum > 0, delta != 0, alpha and power in (0, 1),
 * tuning > 0 and the result fits in 2^53. Thread-safe.
 */
int stats_power_sequential(double var_sum, double delta, double alpha, double tuning, double power,
                           int64_t *n, struct err *err);

/*
 * Upper tail P(T > t) of the noncentral t distribution with df > 0 degrees of freedom and
 * noncentrality ncp, by quadrature over the chi-square mixing distribution (absolute error
 * ~1e-12). Return 0 and set *out, or -1 for invalid input or a failed integration.
 * Thread-safe.
 */
int stats_nct_sf(double t, double df, double ncp, double *out);

/* ---- ratio metrics ------------------------------------------------------------------------ */

/* One variant's sums for a ratio metric (numerator metric y, denominator metric z per
 * user), about shifts as struct stats_arm: sn = sum (y - cn), qn = sum (y - cn)^2,
 * sd = sum (z - cd), qd = sum (z - cd)^2, pnd = sum (y - cn)(z - cd). */
struct stats_ratio_arm {
    int64_t n;      /* exposed users, >= 0 */
    double sn;      /* sum (numerator - cn) */
    double qn;      /* sum (numerator - cn)^2 */
    double sd;      /* sum (denominator - cd) */
    double qd;      /* sum (denominator - cd)^2 */
    double pnd;     /* sum (numerator - cn)(denominator - cd) */
    double shift_n; /* cn; 0 = raw sums */
    double shift_d; /* cd; 0 = raw sums */
    double sn_lo;   /* the low parts of double-double sums (as stats_arm's), 0 = none */
    double qn_lo;
    double sd_lo;
    double qd_lo;
    double pnd_lo;
};

/*
 * Moments of a ratio arm by the delta method (as GrowthBook's ratio metrics): with
 * per-user means mn, md and sample (co)variances vn, vd, cnd (n - 1),
 * mean = mn / md (= sum num / sum den) and per-user variance
 * v = vn/md^2 - 2 mn cnd/md^3 + mn^2 vd/md^4, so that SE(mean) = sqrt(v / n).
 * v is formed as the variance of num - R den (R = mn/md) over md^2, in double-double from
 * the corrected sums, and is 0 when that is rounding noise (num proportional to den).
 * Mean absent when n = 0 or md = 0; variance absent when n < 2 or md = 0.
 * Return 0, or -1 with err (ERR_INVALID) for negative n or non-finite sums. Thread-safe.
 */
int stats_ratio_moments(const struct stats_ratio_arm *arm, struct stats_moments *out,
                        struct err *err);

/*
 * Compare ratio arm b against control a: as stats_compare on the delta-method means and
 * variances (Welch absolute lift, delta-method relative lift, Gaussian Bayesian, sequential).
 * cfg->type is ignored; cfg->cuped is not applied to ratios (a warning says so); no z-test.
 * A denominator mean of 0 in either arm leaves every field absent with a warning.
 * Return 0 and fill *out, or -1 with err for bad input. Borrows all pointers. Thread-safe.
 */
int stats_compare_ratio(const struct stats_config *cfg, const struct stats_ratio_arm *a,
                        const struct stats_ratio_arm *b, struct stats_comparison *out,
                        struct err *err);

#endif
