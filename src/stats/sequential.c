/*
 * sequential.c - GrowthBook's asymptotic confidence sequence (normal-mixture mSPRT,
 * STATS.md "Sequential"): an always-valid interval and p-value that stay correct however
 * often the results are looked at.
 *   rho = sqrt((-2 ln(alpha) + ln(1 - 2 ln(alpha))) / N*),  s^2 = SE^2 * n,
 *   halfwidth = s sqrt(2 (n rho^2 + 1) / (n^2 rho^2) * ln(sqrt(n rho^2 + 1) / alpha)),
 *   p = min(1, sqrt(n rho^2 + 1) exp(-rho^2 n^2 est^2 / (2 s^2 (n rho^2 + 1)))).
 * Also its inverse, the half-width whose p-value is a given one (multiplicity-adjusted
 * intervals, corrections.c).
 * Pure; any thread may enter.
 */
#include "bunsen/stats.h"

#include <math.h>

/* rho^2 of the mixture: (-2 ln(alpha) + ln(1 - 2 ln(alpha))) / N*. */
static double rho2_of(double alpha, double tuning)
{
    double la = log(alpha);
    return (-2.0 * la + log(1.0 - 2.0 * la)) / tuning;
}

int stats_sequential_interval(double est, double se, double n, double alpha, double tuning,
                              double *halfwidth, double *p_value)
{
    if (!isfinite(est) || !isfinite(se) || !(se > 0) || !isfinite(n) || !(n >= 1) ||
        !(alpha > 0 && alpha < 1) || !isfinite(tuning) || !(tuning > 0)) {
        return -1;
    }
    double rho2 = rho2_of(alpha, tuning);
    double s2 = se * se * n;
    double nr = n * rho2 + 1.0;
    double hw = sqrt(s2) * sqrt(2.0 * nr / (n * n * rho2) * log(sqrt(nr) / alpha));
    double p = sqrt(nr) * exp(-rho2 * n * n * est * est / (2.0 * s2 * nr));
    if (p > 1) {
        p = 1;
    }
    if (!isfinite(hw) || !isfinite(p)) {
        return -1;
    }
    if (halfwidth != NULL) {
        *halfwidth = hw;
    }
    if (p_value != NULL) {
        *p_value = p;
    }
    return 0;
}

/*
 * The inverse of the p-value above: p = sqrt(nr) exp(-rho^2 n^2 est^2 / (2 s^2 nr)) gives
 * s^2 = rho^2 n^2 est^2 / (2 nr L(p)), and the half-width with that s is
 * s sqrt(2 nr / (n^2 rho^2) L(alpha)) = |est| sqrt(L(alpha) / L(p)), L(a) = ln(sqrt(nr) / a).
 * L(p) > 0 for every p <= 1 (nr > 1), so the ratio is finite; L(0) is infinite: 0.
 */
int stats_sequential_halfwidth_for_p(double est, double n, double alpha, double tuning, double p,
                                     double *halfwidth)
{
    if (!isfinite(est) || !isfinite(n) || !(n >= 1) || !(alpha > 0 && alpha < 1) ||
        !isfinite(tuning) || !(tuning > 0) || !(p >= 0 && p <= 1)) {
        return -1;
    }
    double half_log_nr = 0.5 * log1p(n * rho2_of(alpha, tuning));
    double la = half_log_nr - log(alpha);
    double hw = p > 0 ? fabs(est) * sqrt(la / (half_log_nr - log(p))) : 0.0;
    if (!isfinite(hw) || !(half_log_nr > 0)) {
        return -1;
    }
    *halfwidth = hw;
    return 0;
}
