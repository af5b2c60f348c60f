/*
 * power.c - sample size per variant for a two-sided test (STATS.md "Power"): binomial
 * rates by R's power.prop.test closed form; means by the two-sample t-test (noncentral t,
 * R's power.t.test); and for the always-valid confidence sequence of method=sequential
 * (stats_power_sequential: the results' decision under that method).
 * Pure; any thread may enter.
 */
#include "bunsen/stats.h"

#include <float.h>
#include <math.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_sf_gamma.h>

/* ceil(x) as users, or -1 with err when x is not a usable count (inf: too many). */
static int users_of(double x, int64_t *n, struct err *err)
{
    if (isnan(x) || x <= 0) {
        return err_set(err, ERR_INVALID, NULL, "sample size is not computable");
    }
    double c = ceil(x);
    if (!(c < 9.0e18)) {
        return err_set(err, ERR_INVALID, "mde", "effect too small: sample size overflows");
    }
    *n = (int64_t)c;
    return 0;
}

static int levels_check(double alpha, double power, struct err *err)
{
    if (!(alpha > 0 && alpha < 1)) {
        return err_set(err, ERR_INVALID, "alpha", "alpha must be in (0, 1)");
    }
    if (!(power > 0 && power < 1)) {
        return err_set(err, ERR_INVALID, "power", "power must be in (0, 1)");
    }
    return 0;
}

int stats_power_binomial(double p1, double p2, double alpha, double power, int64_t *n,
                         struct err *err)
{
    if (levels_check(alpha, power, err) != 0) {
        return -1;
    }
    /* a rate of 0 or 1 is a plan too (a control that always converts, planned down to
     * 0.95: p1 q1 = 0 and pbar is inside (0, 1) whenever the two differ), as R's
     * power.prop.test takes it */
    if (!(p1 >= 0 && p1 <= 1)) {
        return err_set(err, ERR_INVALID, "baseline", "baseline rate must be in [0, 1]");
    }
    if (!(p2 >= 0 && p2 <= 1) || p2 == p1) {
        return err_set(err, ERR_INVALID, "mde",
                       "target rate must be in [0, 1] and differ from the baseline");
    }
    double za = gsl_cdf_ugaussian_Qinv(alpha / 2.0);
    double zb = gsl_cdf_ugaussian_Pinv(power);
    double pbar = (p1 + p2) / 2.0;
    double num = za * sqrt(2.0 * pbar * (1.0 - pbar)) + zb * sqrt(p1 * (1 - p1) + p2 * (1 - p2));
    double dd = p2 - p1;
    if (!(num > 0)) {
        /* a target power below about alpha / 2 (zb < -za): the formula's power,
         * Phi((sqrt(n) |dd| - za sqrt(2 pbar qbar)) / sqrt(p1 q1 + p2 q2)), exceeds it at
         * any n, so the least n is the least there is; squaring num would answer a larger n
         * the lower the target (2,400 users for power 0.001, 0 for 0.025) */
        *n = 1;
        return 0;
    }
    /* (num / dd)^2: dd^2 is 0 below |dd| 1e-154 (a size of inf, "not computable" with no
     * field, for what is an effect too small); a square that is 0 is a size below one user */
    double ratio = num / dd, x = ratio * ratio;
    if (!(x > 0)) {
        *n = 1;
        return 0;
    }
    return users_of(x, n, err);
}

/* Integrand of the noncentral t upper tail: Phi(ncp - t sqrt(u/df)) times the chi-square
 * density of u, unnormalised about its mode m = df - 2 (g(u) = (u/m)^(k-1) e^-(u-m)/2,
 * k = df/2, in logs with log1p so that a large df loses nothing); the normalising integral
 * of g is taken alongside (weight = false). */
struct nct_ctx {
    double t, df, ncp, mode;
    bool weight; /* true: Phi(...) g(u); false: g(u) */
};

static double nct_integrand(double u, void *p)
{
    const struct nct_ctx *c = p;
    if (!(u > 0)) {
        return 0;
    }
    double k = c->df / 2.0;
    double lg = (k - 1.0) * log1p((u - c->mode) / c->mode) - (u - c->mode) / 2.0;
    double g = exp(lg);
    return c->weight ? gsl_cdf_ugaussian_P(c->ncp - c->t * sqrt(u / c->df)) * g : g;
}

static int nct_integral(struct nct_ctx *c, double lo, double mid, double hi,
                        gsl_integration_workspace *w, double *out)
{
    gsl_function f = {nct_integrand, c};
    double r1 = 0, r2 = 0, e;
    int st = gsl_integration_qag(&f, lo, mid, 0, 1e-13, 200, GSL_INTEG_GAUSS41, w, &r1, &e);
    if (st == GSL_SUCCESS) {
        st = gsl_integration_qag(&f, mid, hi, 0, 1e-13, 200, GSL_INTEG_GAUSS41, w, &r2, &e);
    }
    *out = r1 + r2;
    return st == GSL_SUCCESS && isfinite(*out) ? 0 : -1;
}

int stats_nct_sf(double t, double df, double ncp, double *out)
{
    if (!isfinite(t) || !isfinite(df) || !(df > 0) || !isfinite(ncp)) {
        return -1;
    }
    if (df > 1e9) {
        /* chi-square / df is 1 +- 5e-5 here: the normal approximation of T' is exact to
         * ~1e-10, below what any sample-size search can resolve */
        *out = gsl_cdf_ugaussian_Q((t - ncp) / sqrt(1.0 + t * t / (2.0 * df)));
        return 0;
    }
    double lo, hi;
    if (df > 200) {
        /* near normal (skewness sqrt(8/df) < 0.2): 12 and 16 sd hold 1e-15 of each tail;
         * GSL's quantiles fail to converge for large df */
        double sd = sqrt(2.0 * df);
        lo = fmax(0.0, df - 12.0 * sd);
        hi = df + 16.0 * sd;
    } else {
        lo = gsl_cdf_chisq_Pinv(1e-15, df);
        hi = gsl_cdf_chisq_Qinv(1e-15, df);
    }
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo)) {
        return -1;
    }
    /* the density's mode (df > 2), else a point inside the range */
    double mode = df > 2 ? df - 2.0 : 0.5 * (lo + hi);
    struct nct_ctx c = {t, df, ncp, df > 2 ? df - 2.0 : 1.0, true};
    if (df <= 2) {
        /* no interior mode: g(u) = u^(k-1) e^(-u/2) about u = 1 */
        c.mode = 1.0;
    }
    gsl_integration_workspace *w = gsl_integration_workspace_alloc(200);
    if (w == NULL) {
        return -1;
    }
    double num = 0, den = 0;
    double mid = mode > lo && mode < hi ? mode : 0.5 * (lo + hi);
    int rc = nct_integral(&c, lo, mid, hi, w, &num);
    c.weight = false;
    if (rc == 0) {
        rc = nct_integral(&c, lo, mid, hi, w, &den);
    }
    gsl_integration_workspace_free(w);
    if (rc != 0 || !(den > 0)) {
        return -1;
    }
    double r = num / den;
    *out = r < 0 ? 0 : (r > 1 ? 1 : r);
    return 0;
}

/*
 * Student's t quantile of upper tail q with df degrees of freedom. GSL's inverse answers
 * inf where the quantile is large but finite (q 5e-301: df 4 to 12, df 4 1.565e75, df 10
 * 2.749e30; q 5e-311: df 12 and 16, 8.568e19), while its tail function Q holds there
 * (c t^-df, down to the least doubles): then the root of Q(t) = q by bisection of log t
 * (about 60 halvings of [1, DBL_MAX] to 1e-15 relative; the values above agree with
 * mpmath's at 40 digits to 8). Such a critical value is no reason to take the power as 0:
 * an effect of 5.3e19 at alpha 1e-310 has power 0.96 at df 16. Infinite only when
 * Q(DBL_MAX) is still above q.
 */
static double t_quantile_upper(double q, double df)
{
    double t = gsl_cdf_tdist_Qinv(q, df);
    if (isfinite(t) || !(q > 0) || !(gsl_cdf_tdist_Q(1.0, df) >= q)) {
        return t;
    }
    if (!(gsl_cdf_tdist_Q(DBL_MAX, df) < q)) {
        return INFINITY;
    }
    double lo = 1.0, hi = DBL_MAX; /* Q(lo) >= q > Q(hi) */
    for (int i = 0; i < 200 && hi > lo * (1.0 + 4.0 * DBL_EPSILON); i++) {
        double mid = sqrt(lo) * sqrt(hi);
        if (gsl_cdf_tdist_Q(mid, df) >= q) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return hi;
}

/* The power of a plan at n users per variant, for least_reaching: 0, or -1 when it cannot
 * be computed. */
typedef int (*power_at_fn)(double n, const void *args, double *out);

/* The least whole n in (lo, hi] whose power reaches target, by bisection, given
 * power(lo) < target <= power(hi) and a power that rises with n (both searches below bound
 * the bracket first: about 53 halvings at most). */
static int least_reaching(power_at_fn power_at, const void *args, double lo, double hi,
                          double target, int64_t *n)
{
    while (hi - lo > 1.0) {
        double mid = floor(lo + (hi - lo) / 2.0), pw;
        if (power_at(mid, args, &pw) != 0) {
            return -1;
        }
        if (pw >= target) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    *n = (int64_t)hi;
    return 0;
}

/* R's power.t.test body (strict = FALSE): the upper tail beyond the two-sided critical
 * value, df = 2(n - 1), ncp = sqrt(n/2) delta/sigma. A critical value beyond every double
 * has power 0: the search goes on to larger n. */
static int t_power(double n, double effect, double alpha, double *out)
{
    double df = 2.0 * (n - 1.0);
    double crit = t_quantile_upper(alpha / 2.0, df);
    if (crit == INFINITY) {
        *out = 0;
        return 0;
    }
    if (!isfinite(crit)) {
        return -1;
    }
    return stats_nct_sf(crit, df, sqrt(n / 2.0) * effect, out);
}

struct t_args {
    double effect, alpha;
};

static int t_power_at(double n, const void *args, double *out)
{
    const struct t_args *a = args;
    return t_power(n, a->effect, a->alpha, out);
}

int stats_power_mean(double sigma, double delta, double alpha, double power, int64_t *n,
                     struct err *err)
{
    if (levels_check(alpha, power, err) != 0) {
        return -1;
    }
    if (!isfinite(sigma) || !(sigma > 0)) {
        return err_set(err, ERR_INVALID, "stddev", "stddev must be > 0");
    }
    if (!isfinite(delta) || delta == 0) {
        return err_set(err, ERR_INVALID, "mde", "effect must be non-zero");
    }
    /* start from the normal answer; the t answer is at most a few users above it */
    double effect = fabs(delta) / sigma;
    double z = gsl_cdf_ugaussian_Qinv(alpha / 2.0) + gsl_cdf_ugaussian_Pinv(power);
    if (!(z > 0) || effect == INFINITY) {
        /* a target at or below alpha / 2: the test of level alpha has that power with the
         * least sample there is (the normal answer is 0 users, which is not a guess); an
         * effect beyond every double (stddev 1e-300) is found by it too (ncp inf) */
        *n = 2;
        return 0;
    }
    /* (z / effect)^2, not z^2 / effect^2: an effect of 1e200 squared is inf (a guess of 0
     * users, "not computable"), one of 1e-200 squared is 0 (inf users) */
    double ratio = z / effect, normal = 2.0 * ratio * ratio;
    if (!(normal <= 0x1p52)) {
        return err_set(err, ERR_INVALID, "mde", "effect too small: sample size overflows");
    }
    int64_t guess = (int64_t)ceil(normal);
    /* power rises with n: the least n reaching the target, by bisection between a size
     * that falls short and one that reaches it, found by steps doubling away from the
     * normal answer (a few users off it when power > alpha / 2; far off otherwise, where
     * the doubling still bounds the search to ~2 x 53 evaluations) */
    double pw;
    if (t_power(2.0, effect, alpha, &pw) != 0) {
        return err_set(err, ERR_INTERNAL, NULL, "power computation failed");
    }
    if (pw >= power) {
        *n = 2;
        return 0;
    }
    double g = guess > 2 ? (double)guess : 3.0, lo, hi;
    if (t_power(g, effect, alpha, &pw) != 0) {
        return err_set(err, ERR_INTERNAL, NULL, "power computation failed");
    }
    if (pw >= power) { /* down from the guess: t_power(2) falls short */
        hi = g;
        for (double step = 1.0;; step *= 2.0) {
            lo = hi - step > 2.0 ? hi - step : 2.0;
            if (lo == 2.0) {
                break;
            }
            if (t_power(lo, effect, alpha, &pw) != 0) {
                return err_set(err, ERR_INTERNAL, NULL, "power computation failed");
            }
            if (pw < power) {
                break;
            }
            hi = lo;
        }
    } else { /* up from it */
        lo = g;
        for (double step = 1.0;; step *= 2.0) {
            hi = lo + step;
            if (hi > 0x1p53) {
                return err_set(err, ERR_INVALID, "mde", "effect too small: sample size overflows");
            }
            if (t_power(hi, effect, alpha, &pw) != 0) {
                return err_set(err, ERR_INTERNAL, NULL, "power computation failed");
            }
            if (pw >= power) {
                break;
            }
            lo = hi;
        }
    }
    struct t_args ta = {effect, alpha};
    if (least_reaching(t_power_at, &ta, lo, hi, power, n) != 0) {
        return err_set(err, ERR_INTERNAL, NULL, "power computation failed");
    }
    return 0;
}

/* The power of the confidence sequence (sequential.c) after nv users per variant: the
 * chance that the estimate of a true difference delta, normal with standard error
 * sqrt(var_sum / nv), lies outside the half-width at n = 2 nv users, on either side. */
static int seq_power(double nv, double var_sum, double delta, double alpha, double tuning,
                     double *out)
{
    double se = sqrt(var_sum / nv), hw;
    if (stats_sequential_interval(0.0, se, 2.0 * nv, alpha, tuning, &hw, NULL) != 0) {
        return -1;
    }
    *out = gsl_cdf_ugaussian_P((fabs(delta) - hw) / se) +
           gsl_cdf_ugaussian_P((-fabs(delta) - hw) / se);
    return 0;
}

struct seq_args {
    double var_sum, delta, alpha, tuning;
};

static int seq_power_at(double n, const void *args, double *out)
{
    const struct seq_args *a = args;
    return seq_power(n, a->var_sum, a->delta, a->alpha, a->tuning, out);
}

int stats_power_sequential(double var_sum, double delta, double alpha, double tuning, double power,
                           int64_t *n, struct err *err)
{
    if (levels_check(alpha, power, err) != 0) {
        return -1;
    }
    if (!isfinite(var_sum) || !(var_sum > 0)) {
        return err_set(err, ERR_INVALID, "stddev", "the variance must be > 0");
    }
    if (!isfinite(delta) || delta == 0) {
        return err_set(err, ERR_INVALID, "mde", "effect must be non-zero");
    }
    if (!isfinite(tuning) || !(tuning > 0)) {
        return err_set(err, ERR_INVALID, "sequential_tuning", "sequential_tuning must be > 0");
    }
    /* the half-width shrinks and the power rises with n (the half-width's square is
     * s^2 2 (n rho^2 + 1) / (n^2 rho^2) ln(sqrt(n rho^2 + 1) / alpha), decreasing in n for
     * alpha < e^-0.5): the least n reaching the target, by doubling then bisection */
    double pw, lo = 2.0, hi;
    if (seq_power(lo, var_sum, delta, alpha, tuning, &pw) != 0) {
        return err_set(err, ERR_INTERNAL, NULL, "power computation failed");
    }
    if (pw >= power) {
        *n = 2;
        return 0;
    }
    for (hi = 4.0;; hi *= 2.0) {
        if (hi > 0x1p53) {
            return err_set(err, ERR_INVALID, "mde", "effect too small: sample size overflows");
        }
        if (seq_power(hi, var_sum, delta, alpha, tuning, &pw) != 0) {
            return err_set(err, ERR_INTERNAL, NULL, "power computation failed");
        }
        if (pw >= power) {
            break;
        }
        lo = hi;
    }
    struct seq_args sa = {var_sum, delta, alpha, tuning};
    if (least_reaching(seq_power_at, &sa, lo, hi, power, n) != 0) {
        return err_set(err, ERR_INTERNAL, NULL, "power computation failed");
    }
    return 0;
}
