/*
 * power.c - sample size per variant for a two-sided test (STATS.md "Power"): binomial
 * rates by R's power.prop.test closed form, means with a known stddev.
 * Pure; any thread may enter.
 */
#include "bunsen/stats.h"

#include <math.h>

#include <gsl/gsl_cdf.h>

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
    double z = gsl_cdf_ugaussian_Pinv(1.0 - alpha / 2.0) + gsl_cdf_ugaussian_Pinv(power);
    return users_of(2.0 * z * z * sigma * sigma / (delta * delta), n, err);
}
