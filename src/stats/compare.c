/*
 * compare.c - one comparison of a treatment arm B against the control arm A for one
 * metric (STATS.md "Frequentist", "Bayesian", "Sequential", "CUPED", "Degenerate
 * inputs"): Welch absolute lift, delta-method relative lift, the pooled z-test, CUPED
 * adjustment, the Gaussian Bayesian model, and the dispatch to the exact beta-binomial
 * (bayesian.c) and the confidence sequence (sequential.c).
 *
 * Every number that can be undefined goes through stats_opt_of(), so NaN and Infinity
 * never leave this file; each deliberate absence adds a reason to out->warning.
 * Pure; any thread may enter.
 */
#include "bunsen/stats.h"

#include <math.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>

#include "bunsen/ddouble.h"

#define W_NO_USERS      "an arm has no users: no estimate or test"
#define W_FEW_USERS     "an arm has fewer than 2 users: no test"
#define W_ZERO_CONTROL  "control mean is 0: relative lift undefined"
#define W_ABS_SE_ZERO   "absolute lift has zero standard error: no interval or p-value"
#define W_REL_SE_ZERO   "relative lift has zero standard error: no interval or p-value"
#define W_ZTEST         "pooled z-test undefined: pooled variance is 0"
#define W_NO_PRE        "no pre-period variance: CUPED not applied (theta = 0)"
#define W_CUPED_VR      "variance reduction undefined: unadjusted standard error is 0"
#define W_BAYES_SE_ZERO "zero standard error: no chance to beat control or expected loss"
#define W_NUMERIC       "numerical evaluation failed"
#define W_ZERO_DENOM    "a ratio's denominator mean is 0: ratio undefined"
#define W_RATIO_CUPED   "CUPED is not applied to ratio metrics"
#define W_BAYES_CUPED                                                                              \
    "chance to beat control and expected loss are from the unadjusted conversions; the "           \
    "CUPED-adjusted lift points the other way"

/* A CUPED sum (the pooled pre-period variance, an adjusted variance) at or below this
 * fraction (2^-98, ~3e-30) of the magnitude of the terms it is formed from is 0: the
 * rounding of the double-double arithmetic (~2^-106 of the terms per operation, a few dozen
 * operations) stays below it; anything the sums can tell from 0 is above. */
#define CUPED_DD_EPS 0x1p-98

/* One arm's moments as the tests use them. */
struct arm_moments {
    double n;  /* users */
    double m;  /* raw mean */
    double v;  /* raw variance (Bernoulli or sample) */
    double va; /* CUPED-adjusted variance (= v without CUPED) */
    double ta; /* CUPED: the control arm's variance part of the relative SE (STATS.md), the
                * variance of (mB/mA) y - theta x; unused otherwise */
};

/* One arm's CUPED sums in double-double, about the arm's own means: the corrected sums
 * syy = sum (y - my)^2, sxx = sum (x - mx)^2, sxy = sum (x - mx)(y - my), so that the
 * adjusted variance, a small remainder of them when y is close to x, is formed without
 * cancellation in double (STATS.md "CUPED"; docs/STATISTICS.md). */
struct arm_cuped {
    double n;                      /* users */
    double ddof;                   /* the variances' divisor: n (binomial), n - 1 */
    struct dd my, mx;              /* means of y and x */
    struct dd syy, sxx, sxy;       /* corrected sums */
    double mag_yy, mag_xx, mag_xy; /* size of the terms each was formed from (rounding) */
};

void stats_config_default(struct stats_config *cfg)
{
    cfg->type = STATS_METRIC_BINOMIAL;
    cfg->goal = STATS_GOAL_INCREASE;
    cfg->method = STATS_METHOD_FREQUENTIST;
    cfg->alpha = STATS_ALPHA_DEFAULT;
    cfg->cuped = false;
    cfg->sequential_tuning = STATS_SEQUENTIAL_TUNING_DEFAULT;
    cfg->lifts_only = false;
}

static int config_check(const struct stats_config *cfg, struct err *err)
{
    if (cfg == NULL) {
        return err_set(err, ERR_INVALID, NULL, "missing stats configuration");
    }
    if (!(cfg->alpha > 0 && cfg->alpha < 1)) {
        return err_set(err, ERR_INVALID, "alpha", "alpha must be in (0, 1)");
    }
    if (!isfinite(cfg->sequential_tuning) || !(cfg->sequential_tuning > 0)) {
        return err_set(err, ERR_INVALID, "sequential_tuning", "sequential_tuning must be > 0");
    }
    if ((unsigned)cfg->type > STATS_METRIC_SUM) {
        return err_set(err, ERR_INVALID, "type", "unknown metric type");
    }
    if ((unsigned)cfg->goal > STATS_GOAL_DECREASE) {
        return err_set(err, ERR_INVALID, "goal", "unknown goal");
    }
    if ((unsigned)cfg->method > STATS_METHOD_SEQUENTIAL) {
        return err_set(err, ERR_INVALID, "method", "unknown method");
    }
    return 0;
}

static void lift_clear(struct stats_lift *l)
{
    l->estimate = stats_opt_none();
    l->se = stats_opt_none();
    l->ci_lo = stats_opt_none();
    l->ci_hi = stats_opt_none();
    l->p_value = stats_opt_none();
    l->df = stats_opt_none();
}

static void comparison_clear(struct stats_comparison *out)
{
    lift_clear(&out->absolute);
    lift_clear(&out->relative);
    out->df = stats_opt_none();
    out->z = stats_opt_none();
    out->z_p_value = stats_opt_none();
    out->chance_to_beat_control = stats_opt_none();
    out->expected_loss = stats_opt_none();
    out->cuped_theta = stats_opt_none();
    out->cuped_variance_reduction = stats_opt_none();
    out->always_valid = false;
    out->warning[0] = '\0';
}

/* Raw moments of one arm with n >= 2 (checked by the caller), from sums about the arm's
 * shifts. */
static void arm_moments_fill(enum stats_metric_type type, const struct stats_arm *a,
                             struct arm_moments *am)
{
    double n = (double)a->n;
    double cy = a->s / n; /* centred mean */
    am->n = n;
    am->m = a->shift_y + cy;
    if (type == STATS_METRIC_BINOMIAL) {
        am->v = am->m * (1.0 - am->m);
    } else {
        am->v = (a->q - a->s * cy) / (n - 1.0);
    }
    am->v = am->v < 0 ? 0 : am->v;
    am->va = am->v;
    am->ta = 0;
}

/* A sum's double-double value (hi + lo need not be normalised). */
static struct dd arm_dd(double hi, double lo)
{
    return dd_two_sum(hi, lo);
}

/* The CUPED sums of one arm with n >= 2. Binomial metrics use population moments (divisor
 * n), as GrowthBook's stats engine; count and sum sample moments (n - 1). */
static void arm_cuped_fill(enum stats_metric_type type, const struct stats_arm *a,
                           struct arm_cuped *c)
{
    double n = (double)a->n;
    struct dd s = arm_dd(a->s, a->s_lo), sx = arm_dd(a->sx, a->sx_lo);
    struct dd q = type == STATS_METRIC_BINOMIAL ? s : arm_dd(a->q, a->q_lo); /* 0/1: y^2 = y */
    struct dd qx = arm_dd(a->qx, a->qx_lo), p = arm_dd(a->p, a->p_lo);
    struct dd cy = dd_div(s, dd_of(n)), cx = dd_div(sx, dd_of(n)); /* means about the shifts */
    c->n = n;
    c->ddof = type == STATS_METRIC_BINOMIAL ? n : n - 1.0;
    c->my = dd_add(dd_of(a->shift_y), cy);
    c->mx = dd_add(dd_of(a->shift_x), cx);
    c->syy = dd_sub(q, dd_mul(s, cy));
    c->sxx = dd_sub(qx, dd_mul(sx, cx));
    c->sxy = dd_sub(p, dd_mul(sx, cy));
    c->mag_yy = fabs(q.hi) + fabs(s.hi * cy.hi);
    c->mag_xx = fabs(qx.hi) + fabs(sx.hi * cx.hi);
    c->mag_xy = fabs(p.hi) + fabs(sx.hi * cy.hi);
}

/* Pooled CUPED theta over both arms (STATS.md), with the pooled corrected sums merged
 * Chan-style, sxx = sxxA + sxxB + nA nB / N (mxB - mxA)^2 and sxy likewise, so that the arms'
 * shifts need not agree. 0 (with a warning) without pre-period variance. Population or
 * sample moments give the same theta (the n or n - 1 cancels). */
static struct dd cuped_theta(const struct arm_cuped *A, const struct arm_cuped *B, char *warning)
{
    struct dd w = dd_div(dd_two_prod(A->n, B->n), dd_of(A->n + B->n));
    struct dd dmx = dd_sub(B->mx, A->mx), dmy = dd_sub(B->my, A->my);
    struct dd between = dd_mul(w, dd_mul(dmx, dmx));
    struct dd sxx = dd_add(dd_add(A->sxx, B->sxx), between);
    struct dd sxy = dd_add(dd_add(A->sxy, B->sxy), dd_mul(w, dd_mul(dmx, dmy)));
    if (!(sxx.hi > CUPED_DD_EPS * (A->mag_xx + B->mag_xx + between.hi))) {
        stats_warning_add(warning, W_NO_PRE);
        return dd_of(0.0);
    }
    struct dd theta = dd_div(sxy, sxx);
    if (!isfinite(theta.hi) || !isfinite(theta.lo)) {
        stats_warning_add(warning, W_NO_PRE);
        return dd_of(0.0);
    }
    return theta;
}

/*
 * The variance of k y - t x in one arm, (k^2 syy - 2 k t sxy + t^2 sxx) / ddof: with k = 1
 * the adjusted variance v + theta^2 vx - 2 theta cxy, with k = mB/mA the control arm's part
 * of the relative SE. A sum that is rounding noise (pre = post) is exactly 0.
 */
static double cuped_variance(const struct arm_cuped *c, struct dd k, struct dd t)
{
    struct dd r = dd_sub(dd_mul(dd_mul(k, k), c->syy), dd_mul_d(dd_mul(dd_mul(k, t), c->sxy), 2.0));
    r = dd_add(r, dd_mul(dd_mul(t, t), c->sxx));
    double ak = fabs(k.hi), at = fabs(t.hi);
    double mag = ak * ak * c->mag_yy + 2.0 * ak * at * c->mag_xy + at * at * c->mag_xx;
    return r.hi > CUPED_DD_EPS * mag ? r.hi / c->ddof : 0.0;
}

/*
 * Interval and p-value of one estimate with standard error se per method: Welch t (df),
 * Bayesian z (no p-value), or the confidence sequence over n users. se must be > 0.
 */
static void lift_interval(const struct stats_config *cfg, struct stats_lift *l, double est,
                          double se, struct stats_opt df, double n, char *warning)
{
    double half = NAN;
    double p = NAN;
    switch (cfg->method) {
    case STATS_METHOD_FREQUENTIST:
        if (df.present && df.value > 0) {
            double tq = gsl_cdf_tdist_Qinv(cfg->alpha / 2.0, df.value);
            half = tq * se;
            p = 2.0 * gsl_cdf_tdist_P(-fabs(est / se), df.value);
            l->df = df; /* what an adjusted interval inverts (stats_adjusted_interval) */
        }
        break;
    case STATS_METHOD_BAYESIAN:
        half = gsl_cdf_ugaussian_Qinv(cfg->alpha / 2.0) * se;
        break;
    case STATS_METHOD_SEQUENTIAL:
        if (stats_sequential_interval(est, se, n, cfg->alpha, cfg->sequential_tuning, &half, &p) !=
            0) {
            half = NAN;
            p = NAN;
        }
        break;
    }
    if (isfinite(half)) {
        l->ci_lo = stats_opt_of(est - half);
        l->ci_hi = stats_opt_of(est + half);
    } else {
        stats_warning_add(warning, W_NUMERIC);
    }
    if (cfg->method != STATS_METHOD_BAYESIAN) {
        if (isfinite(p) && p >= 0 && p <= 1) {
            l->p_value = stats_opt_of(p);
        } else {
            stats_warning_add(warning, W_NUMERIC);
        }
    }
}

static void ztest(const struct stats_arm *a, const struct stats_arm *b,
                  struct stats_comparison *out)
{
    double na = (double)a->n;
    double nb = (double)b->n;
    double ps = (a->s + b->s) / (na + nb);
    double se0 = sqrt(ps * (1.0 - ps) * (1.0 / na + 1.0 / nb));
    if (!(se0 > 0)) {
        stats_warning_add(out->warning, W_ZTEST);
        return;
    }
    double z = (b->s / nb - a->s / na) / se0;
    out->z = stats_opt_of(z);
    out->z_p_value = stats_opt_of(2.0 * gsl_cdf_ugaussian_P(-fabs(z)));
    if (!out->z.present || !out->z_p_value.present) {
        stats_warning_add(out->warning, W_NUMERIC);
    }
}

/* Flat-prior Gaussian model on the absolute lift d with standard error se > 0. */
static void bayes_gaussian(enum stats_goal goal, double d, double se, struct stats_comparison *out)
{
    double x = d / se;
    double chance, loss;
    if (goal == STATS_GOAL_DECREASE) {
        chance = gsl_cdf_ugaussian_P(-x);
        loss = se * gsl_ran_ugaussian_pdf(x) + d * gsl_cdf_ugaussian_P(x);
    } else {
        chance = gsl_cdf_ugaussian_P(x);
        loss = se * gsl_ran_ugaussian_pdf(x) - d * gsl_cdf_ugaussian_P(-x);
    }
    out->chance_to_beat_control = stats_opt_of(chance);
    out->expected_loss = stats_opt_of(loss < 0 ? 0 : loss);
    if (!out->chance_to_beat_control.present || !out->expected_loss.present) {
        stats_warning_add(out->warning, W_NUMERIC);
    }
}

/* Exact beta-binomial model (prior Beta(1, 1)); decrease swaps the arms' roles. */
static void bayes_beta(enum stats_goal goal, const struct stats_arm *a, const struct stats_arm *b,
                       struct stats_comparison *out)
{
    double aa = 1.0 + a->s, ba = 1.0 + (double)a->n - a->s;
    double ab = 1.0 + b->s, bb = 1.0 + (double)b->n - b->s;
    double chance, loss;
    int rc = goal == STATS_GOAL_DECREASE ? stats_beta_compare(ab, bb, aa, ba, &chance, &loss)
                                         : stats_beta_compare(aa, ba, ab, bb, &chance, &loss);
    if (rc != 0) {
        stats_warning_add(out->warning, W_NUMERIC);
        return;
    }
    out->chance_to_beat_control = stats_opt_of(chance);
    if (isfinite(loss)) {
        out->expected_loss = stats_opt_of(loss);
    } else {
        stats_warning_add(out->warning, W_NUMERIC); /* the loss could not be had to 1e-6 */
    }
}

/* Welch-Satterthwaite df of a variance made of two per-arm parts; absent when both are 0. */
static struct stats_opt welch_df(double ua, double na, double ub, double nb)
{
    /* as 1 / (fa^2/(nA-1) + fb^2/(nB-1)) with fa = ua/(ua+ub): free of the scale, whose
     * squares underflowed for values ~1e-90 (df, intervals and p-values were null) */
    double sum = ua + ub;
    if (!(sum > 0) || !isfinite(sum)) {
        return stats_opt_none();
    }
    double fa = ua / sum, fb = ub / sum;
    double den = fa * fa / (na - 1.0) + fb * fb / (nb - 1.0);
    return den > 0 ? stats_opt_of(1.0 / den) : stats_opt_none();
}

/*
 * Relative lift: estimate, SE (raw or CUPED formula) and interval. Requires mA != 0.
 * df is the absolute lift's Welch df; when that is undefined because both adjusted
 * variances are 0 (CUPED with pre = post) while the relative SE is not, the relative
 * interval uses the Welch-Satterthwaite df of its own two per-arm variance parts.
 */
static void relative_lift(const struct stats_config *cfg, const struct arm_moments *A,
                          const struct arm_moments *B, double d, double theta, struct stats_opt df,
                          struct stats_comparison *out)
{
    /* each moment over mA^2 before anything is multiplied: mA^4 underflowed for values
     * ~1e-80 (a wrong SE, then none), and overflows likewise at the other end */
    double ma2 = A->m * A->m;
    double r = d / fabs(A->m);
    double ratio = B->m / A->m;
    double part_b = B->va / ma2 / B->n;
    double part_a;
    if (theta != 0) {
        part_a = A->ta / ma2 / A->n;
    } else {
        part_b = B->v / ma2 / B->n;
        part_a = A->v / ma2 * ratio * ratio / A->n;
    }
    part_a = part_a < 0 ? 0 : part_a;
    double se_r = sqrt(part_a + part_b);
    out->relative.estimate = stats_opt_of(r);
    out->relative.se = stats_opt_of(se_r);
    if (!out->relative.estimate.present || !out->relative.se.present) {
        out->relative.se = stats_opt_none(); /* a finite estimate stays */
        stats_warning_add(out->warning, W_NUMERIC);
        return;
    }
    if (!(se_r > 0)) {
        stats_warning_add(out->warning, W_REL_SE_ZERO);
        return;
    }
    if (!df.present) {
        df = welch_df(part_a, A->n, part_b, B->n);
    }
    lift_interval(cfg, &out->relative, r, se_r, df, A->n + B->n, out->warning);
}

/* Absolute lift (Welch), CUPED variance reduction and relative lift from the arms'
 * (adjusted) moments; returns the absolute SE. */
static double compare_moments(const struct stats_config *cfg, const struct arm_moments *A,
                              const struct arm_moments *B, double d, double theta,
                              struct stats_comparison *out)
{
    double ua = A->va / A->n, ub = B->va / B->n;
    double se = sqrt(ua + ub);
    struct stats_opt df = welch_df(ua, A->n, ub, B->n);
    out->df = df;
    out->absolute.estimate = stats_opt_of(d);
    out->absolute.se = stats_opt_of(se);
    if (se > 0) {
        lift_interval(cfg, &out->absolute, d, se, df, A->n + B->n, out->warning);
    } else {
        stats_warning_add(out->warning, W_ABS_SE_ZERO);
    }

    if (cfg->cuped) {
        double se_raw2 = A->v / A->n + B->v / B->n;
        if (theta == 0) {
            out->cuped_variance_reduction = stats_opt_of(0.0);
        } else if (se_raw2 > 0) {
            out->cuped_variance_reduction = stats_opt_of(1.0 - (ua + ub) / se_raw2);
        } else {
            stats_warning_add(out->warning, W_CUPED_VR);
        }
    }

    if (A->m != 0) {
        relative_lift(cfg, A, B, d, theta, df, out);
    } else {
        stats_warning_add(out->warning, W_ZERO_CONTROL);
    }
    return se;
}

/* Estimates only (an arm with fewer than 2 users). */
static void estimates_only(double ma, double d, struct stats_comparison *out)
{
    out->absolute.estimate = stats_opt_of(d);
    if (ma != 0) {
        out->relative.estimate = stats_opt_of(d / fabs(ma));
    } else {
        stats_warning_add(out->warning, W_ZERO_CONTROL);
    }
    stats_warning_add(out->warning, W_FEW_USERS);
}

/* The binomial chance and loss come from the raw conversions (STATS.md: the exact Beta
 * posteriors), the intervals and verdicts from the CUPED-adjusted lift d: when the
 * pre-period moves d to the other side of 0 the two disagree (a chance to beat control of
 * 1.0 beside a "loss"), and a warning says which field is which (review stats27 2). */
static void bayes_cuped_direction(const struct stats_config *cfg, double theta, double d,
                                  struct stats_comparison *out)
{
    if (!cfg->cuped || theta == 0 || d == 0 || !out->chance_to_beat_control.present) {
        return;
    }
    double chance = out->chance_to_beat_control.value;
    bool adjusted_beats = cfg->goal == STATS_GOAL_DECREASE ? d < 0 : d > 0;
    if (chance != 0.5 && (chance > 0.5) != adjusted_beats) {
        stats_warning_add(out->warning, W_BAYES_CUPED);
    }
}

int stats_compare(const struct stats_config *cfg, const struct stats_arm *a,
                  const struct stats_arm *b, struct stats_comparison *out, struct err *err)
{
    if (config_check(cfg, err) != 0 || stats_arm_check(cfg->type, a, err) != 0 ||
        stats_arm_check(cfg->type, b, err) != 0) {
        return -1;
    }
    comparison_clear(out);
    out->always_valid = cfg->method == STATS_METHOD_SEQUENTIAL;

    if (a->n < 1 || b->n < 1) {
        stats_warning_add(out->warning, W_NO_USERS);
        return 0;
    }
    double na = (double)a->n, nb = (double)b->n;
    double ma = a->shift_y + a->s / na;
    /* The differences of the means from the shifts and the centred sums: mB - mA rounded
     * each mean to an ulp of its size first (1e-4 at 1e12: the lift of 1e12 + 2 against
     * 1e12 was off by 1e-5 relative, more with a small lift). The shifts' difference is
     * exact when they are within a factor of 2 (Sterbenz); the centred parts are small. */
    double dy = (b->shift_y - a->shift_y) + (b->s / nb - a->s / na);
    if (a->n < 2 || b->n < 2) {
        estimates_only(ma, dy, out);
        return 0;
    }

    struct arm_moments A, B;
    arm_moments_fill(cfg->type, a, &A);
    arm_moments_fill(cfg->type, b, &B);
    double theta = 0.0;
    double d = dy; /* m~B - m~A */
    if (cfg->cuped) {
        /* in double-double from the arms' double-double sums: the adjusted variance is
         * what is left of v + theta^2 vx - 2 theta cxy, 1e-13 of its terms when y is close
         * to x (in double, for x up to 1e6 and y = x +- 5 for one user in 20, the SE was
         * off by up to 6e-4, and 0 with a warning for y = x +- 0.5) */
        struct arm_cuped ca, cb;
        arm_cuped_fill(cfg->type, a, &ca);
        arm_cuped_fill(cfg->type, b, &cb);
        struct dd th = cuped_theta(&ca, &cb, out->warning);
        theta = th.hi;
        if (theta != 0) {
            struct dd one = dd_of(1.0);
            A.va = cuped_variance(&ca, one, th);
            B.va = cuped_variance(&cb, one, th);
            if (A.m != 0) { /* else no relative lift */
                A.ta = cuped_variance(&ca, dd_div(cb.my, ca.my), th);
            }
            /* (myB - myA) - theta (mxB - mxA): from theta and the differences each rounded
             * to double it was off by 5e-8 relative, the lift being 4e-9 of the means'
             * difference there */
            d = dd_sub(dd_sub(cb.my, ca.my), dd_mul(th, dd_sub(cb.mx, ca.mx))).hi;
        }
        out->cuped_theta = stats_opt_of(theta);
    }
    double se = compare_moments(cfg, &A, &B, d, theta, out);

    if (cfg->type == STATS_METRIC_BINOMIAL) {
        ztest(a, b, out);
    }

    if (cfg->method == STATS_METHOD_BAYESIAN && !cfg->lifts_only) {
        /* binomial: the exact Beta posteriors of the conversions (STATS.md), with CUPED on
         * too (it used the normal model on the adjusted lift then: 0.942 against the exact
         * 0.958 with a theta of 0.0008); CUPED narrows the intervals beside them */
        if (cfg->type == STATS_METRIC_BINOMIAL) {
            bayes_beta(cfg->goal, a, b, out);
            bayes_cuped_direction(cfg, theta, d, out);
        } else if (se > 0) {
            bayes_gaussian(cfg->goal, d, se, out);
        } else {
            stats_warning_add(out->warning, W_BAYES_SE_ZERO);
        }
    }
    return 0;
}

/* ---- ratio metrics ---- */

static int ratio_check(const struct stats_ratio_arm *r, struct err *err)
{
    if (r == NULL) {
        return err_set(err, ERR_INVALID, "arm", "missing arm statistics");
    }
    if (r->n < 0) {
        return err_set(err, ERR_INVALID, "arm", "negative user count %lld", (long long)r->n);
    }
    if (!isfinite(r->sn) || !isfinite(r->qn) || !isfinite(r->sd) || !isfinite(r->qd) ||
        !isfinite(r->pnd) || !isfinite(r->shift_n) || !isfinite(r->shift_d)) {
        return err_set(err, ERR_INVALID, "arm", "non-finite sum in ratio statistics");
    }
    return 0;
}

/*
 * Delta-method moments: 0, or -1 when undefined (n < 1 or a zero denominator mean).
 * The per-user variance vn/md^2 - 2 mn cnd/md^3 + mn^2 vd/md^4 is Var(num - R den)/md^2
 * with R = mn/md: formed in double-double from the corrected sums as CUPED's adjusted
 * variance is (cuped_variance with y the numerator, x the denominator, theta = R), since
 * it is a small remainder of its terms when the numerator is close to proportional to the
 * denominator. In double its three terms cancelled: a price per item (num = 9.99 den
 * for every user) gave a standard deviation of 1.7e-7 and "win" at p = 0 instead of
 * none, and num = 1e9 den +- 0.5 a variance of 0 (review stats27 finding 1).
 */
static int ratio_fill(const struct stats_ratio_arm *r, double *mean, double *var)
{
    if (r->n < 1) {
        return -1;
    }
    struct stats_arm as_arm = {.n = r->n,
                               .s = r->sn,
                               .q = r->qn,
                               .sx = r->sd,
                               .qx = r->qd,
                               .p = r->pnd,
                               .shift_y = r->shift_n,
                               .shift_x = r->shift_d,
                               .s_lo = r->sn_lo,
                               .q_lo = r->qn_lo,
                               .sx_lo = r->sd_lo,
                               .qx_lo = r->qd_lo,
                               .p_lo = r->pnd_lo};
    struct arm_cuped c;
    arm_cuped_fill(STATS_METRIC_SUM, &as_arm, &c);
    double md = c.mx.hi + c.mx.lo;
    if (md == 0) {
        return -1;
    }
    struct dd ratio = dd_div(c.my, c.mx);
    *mean = ratio.hi + ratio.lo;
    if (r->n < 2) {
        *var = NAN;
        return 0;
    }
    *var = cuped_variance(&c, dd_of(1.0), ratio) / (md * md);
    return 0;
}

int stats_ratio_moments(const struct stats_ratio_arm *arm, struct stats_moments *out,
                        struct err *err)
{
    out->mean = stats_opt_none();
    out->variance = stats_opt_none();
    out->stddev = stats_opt_none();
    if (ratio_check(arm, err) != 0) {
        return -1;
    }
    double m, v;
    if (ratio_fill(arm, &m, &v) != 0) {
        return 0;
    }
    out->mean = stats_opt_of(m);
    if (isfinite(v)) {
        out->variance = stats_opt_of(v);
        out->stddev = stats_opt_of(sqrt(v));
    }
    return 0;
}

int stats_compare_ratio(const struct stats_config *cfg, const struct stats_ratio_arm *a,
                        const struct stats_ratio_arm *b, struct stats_comparison *out,
                        struct err *err)
{
    struct stats_config checked = *cfg;
    checked.type = STATS_METRIC_SUM; /* any type: the ratio is the type here */
    if (config_check(&checked, err) != 0 || ratio_check(a, err) != 0 || ratio_check(b, err) != 0) {
        return -1;
    }
    comparison_clear(out);
    out->always_valid = cfg->method == STATS_METHOD_SEQUENTIAL;
    if (a->n < 1 || b->n < 1) {
        stats_warning_add(out->warning, W_NO_USERS);
        return 0;
    }
    double ma, va, mb, vb;
    if (ratio_fill(a, &ma, &va) != 0 || ratio_fill(b, &mb, &vb) != 0) {
        stats_warning_add(out->warning, W_ZERO_DENOM);
        return 0;
    }
    if (cfg->cuped) {
        stats_warning_add(out->warning, W_RATIO_CUPED);
    }
    if (a->n < 2 || b->n < 2) {
        estimates_only(ma, mb - ma, out);
        return 0;
    }
    struct arm_moments A = {.n = (double)a->n, .m = ma, .v = va, .va = va};
    struct arm_moments B = {.n = (double)b->n, .m = mb, .v = vb, .va = vb};
    struct stats_config c = *cfg;
    c.cuped = false;
    double se = compare_moments(&c, &A, &B, mb - ma, 0.0, out);
    if (cfg->method == STATS_METHOD_BAYESIAN) {
        if (se > 0) {
            bayes_gaussian(cfg->goal, mb - ma, se, out);
        } else {
            stats_warning_add(out->warning, W_BAYES_SE_ZERO);
        }
    }
    return 0;
}
