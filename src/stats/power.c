/*
 * power.c - sample size per variant for a two-sided test (STATS.md "Power"): binomial
 * rates by R's power.prop.test closed form; means by the two-sample t-test (noncentral t,
 * R's power.t.test).
 * Pure; any thread may enter.
 */
#include "bunsen/stats.h"

#include <math.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_sf_gamma.h>

/* ceil(x) as users, or -1 with err when x is not a usable count. */
static int users_of(double x, int64_t *n, struct err *err)
{
    if (!isfinite(x) || x <= 0) {
        return err_set(err, ERR_INVALID, NULL, "sample size is not computable");
    }
    double c = ceil(x);
    if (c >= 9.0e18) {
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
    if (!(p1 > 0 && p1 < 1)) {
        return err_set(err, ERR_INVALID, "baseline", "baseline rate must be in (0, 1)");
    }
    if (!(p2 > 0 && p2 < 1) || p2 == p1) {
        return err_set(err, ERR_INVALID, "mde", "target rate must be in (0, 1) and differ");
    }
    double za = gsl_cdf_ugaussian_Pinv(1.0 - alpha / 2.0);
    double zb = gsl_cdf_ugaussian_Pinv(power);
    double pbar = (p1 + p2) / 2.0;
    double num = za * sqrt(2.0 * pbar * (1.0 - pbar)) + zb * sqrt(p1 * (1 - p1) + p2 * (1 - p2));
    double dd = p2 - p1;
    return users_of(num * num / (dd * dd), n, err);
}

/* Integrand of the noncentral t upper tail: Phi(ncp - t sqrt(u/df)) times the chi-square
 * density of u, in logs so that large df stays finite. */
struct nct_ctx {
    double t, df, ncp, lognorm;
};

static double nct_integrand(double u, void *p)
{
    const struct nct_ctx *c = p;
    if (!(u > 0)) {
        return 0;
    }
    double k = c->df / 2.0;
    double logpdf = (k - 1.0) * log(u) - u / 2.0 - c->lognorm;
    return gsl_cdf_ugaussian_P(c->ncp - c->t * sqrt(u / c->df)) * exp(logpdf);
}

int stats_nct_sf(double t, double df, double ncp, double *out)
{
    if (!isfinite(t) || !isfinite(df) || !(df > 0) || !isfinite(ncp)) {
        return -1;
    }
    if (df > 1e7) {
        /* chi-square / df is 1 +- 1e-3.5 here: the normal approximation of T' is exact to
         * ~1e-8, below what any sample-size search can resolve */
        *out = gsl_cdf_ugaussian_Q((t - ncp) / sqrt(1.0 + t * t / (2.0 * df)));
        return 0;
    }
    struct nct_ctx c = {t, df, ncp, 0};
    gsl_sf_result lg;
    if (gsl_sf_lngamma_e(df / 2.0, &lg) != GSL_SUCCESS) {
        return -1;
    }
    c.lognorm = lg.val + (df / 2.0) * M_LN2;
    /* the chi-square mass lies within these quantiles up to 1e-15 */
    double lo = gsl_cdf_chisq_Pinv(1e-15, df);
    double hi = gsl_cdf_chisq_Qinv(1e-15, df);
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo)) {
        return -1;
    }
    gsl_integration_workspace *w = gsl_integration_workspace_alloc(200);
    if (w == NULL) {
        return -1;
    }
    gsl_function f = {nct_integrand, &c};
    double mid = df > 2 ? df - 2.0 : lo; /* the density's mode */
    double pts[3] = {lo, mid, hi};
    double r1 = 0, r2 = 0, e1, e2;
    int st;
    if (mid > lo && mid < hi) {
        st = gsl_integration_qag(&f, pts[0], pts[1], 1e-14, 1e-12, 200, GSL_INTEG_GAUSS41, w, &r1,
                                 &e1);
        if (st == GSL_SUCCESS) {
            st = gsl_integration_qag(&f, pts[1], pts[2], 1e-14, 1e-12, 200, GSL_INTEG_GAUSS41, w,
                                     &r2, &e2);
        }
    } else {
        st = gsl_integration_qag(&f, lo, hi, 1e-14, 1e-12, 200, GSL_INTEG_GAUSS41, w, &r1, &e1);
    }
    gsl_integration_workspace_free(w);
    double r = r1 + r2;
    if (st != GSL_SUCCESS || !isfinite(r)) {
        return -1;
    }
    *out = r < 0 ? 0 : (r > 1 ? 1 : r);
    return 0;
}

/* R's power.t.test body (strict = FALSE): the upper tail beyond the two-sided critical
 * value, df = 2(n - 1), ncp = sqrt(n/2) delta/sigma. */
static int t_power(double n, double effect, double alpha, double *out)
{
    double df = 2.0 * (n - 1.0);
    double crit = gsl_cdf_tdist_Qinv(alpha / 2.0, df);
    if (!isfinite(crit)) {
        return -1;
    }
    return stats_nct_sf(crit, df, sqrt(n / 2.0) * effect, out);
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
    double z = gsl_cdf_ugaussian_Pinv(1.0 - alpha / 2.0) + gsl_cdf_ugaussian_Pinv(power);
    int64_t guess = 0;
    if (users_of(2.0 * z * z / (effect * effect), &guess, err) != 0) {
        return -1;
    }
    if (guess > (int64_t)1 << 52) {
        return err_set(err, ERR_INVALID, "mde", "effect too small: sample size overflows");
    }
    double m = guess < 2 ? 2.0 : (double)guess;
    double pw;
    /* power rises with n: walk up while short of the target, then down while n - 1
     * still reaches it (a handful of steps from the normal guess) */
    for (int steps = 0;; steps++) {
        if (steps > 100000 || t_power(m, effect, alpha, &pw) != 0) {
            return err_set(err, ERR_INTERNAL, NULL, "power computation failed");
        }
        if (pw >= power) {
            break;
        }
        m += 1.0;
    }
    while (m > 2.0) {
        if (t_power(m - 1.0, effect, alpha, &pw) != 0) {
            return err_set(err, ERR_INTERNAL, NULL, "power computation failed");
        }
        if (pw < power) {
            break;
        }
        m -= 1.0;
    }
    *n = (int64_t)m;
    return 0;
}
