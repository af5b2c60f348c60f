/*
 * srm.c - sample ratio mismatch (STATS.md "Sample ratio mismatch"): Pearson chi-square
 * of the observed users per variant against the intended weights, upper tail with
 * k - 1 degrees of freedom via gsl_cdf_chisq_Q (k: the variants of weight > 0; users in a
 * variant of weight 0 are a mismatch by themselves); mismatch when p < 0.001.
 * Pure; any thread may enter.
 */
#include "bunsen/stats.h"

#include <math.h>

#include <gsl/gsl_cdf.h>

int stats_srm_test(const int64_t *observed, const double *weights, size_t k, struct stats_srm *out,
                   struct err *err)
{
    out->chi2 = stats_opt_none();
    out->p_value = stats_opt_none();
    out->df = 0;
    out->mismatch = false;
    out->warning[0] = '\0';
    if (k == 0 || observed == NULL || weights == NULL) {
        return err_set(err, ERR_INVALID, "variants", "no variants");
    }
    double total = 0;
    double wsum = 0;
    for (size_t i = 0; i < k; i++) {
        if (observed[i] < 0) {
            return err_set(err, ERR_INVALID, "observed", "negative user count");
        }
        if (!isfinite(weights[i]) || weights[i] < 0) {
            return err_set(err, ERR_INVALID, "weights", "weights must be finite and >= 0");
        }
        total += (double)observed[i];
        wsum += weights[i];
    }
    if (!(wsum > 0)) {
        return err_set(err, ERR_INVALID, "weights", "weights sum to 0");
    }
    /* a variant of weight 0 expects no user: it is no cell of the test (a degree of
     * freedom for it diluted real mismatches), unless users reach it (below) */
    size_t cells = 0;
    for (size_t i = 0; i < k; i++) {
        cells += weights[i] > 0 ? 1 : 0;
    }
    out->df = (int)cells - 1;
    if (k < 2) {
        stats_warning_add(out->warning, "a single variant: no sample ratio test");
        return 0;
    }
    if (total <= 0) {
        stats_warning_add(out->warning, "no exposed users: no sample ratio test");
        return 0;
    }
    double chi2 = 0;
    for (size_t i = 0; i < k; i++) {
        double e = total * weights[i] / wsum;
        double o = (double)observed[i];
        if (e > 0) {
            chi2 += (o - e) * (o - e) / e;
        } else if (o > 0) {
            /* users in a variant that should receive none: an infinite statistic */
            out->p_value = stats_opt_of(0.0);
            out->mismatch = true;
            stats_warning_add(out->warning, "users in a variant of weight 0");
            return 0;
        }
    }
    if (cells < 2) {
        stats_warning_add(out->warning, "a single variant of weight > 0: no sample ratio test");
        return 0;
    }
    double p = gsl_cdf_chisq_Q(chi2, (double)(cells - 1));
    out->chi2 = stats_opt_of(chi2);
    if (!isfinite(p) || p < 0 || p > 1) {
        stats_warning_add(out->warning, "numerical evaluation failed");
        return 0;
    }
    out->p_value = stats_opt_of(p);
    out->mismatch = p < STATS_SRM_THRESHOLD;
    return 0;
}
