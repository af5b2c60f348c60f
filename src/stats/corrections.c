/*
 * corrections.c - multiple-comparison adjustments over one response's family of
 * p-values (STATS.md "Multiple comparisons"): Holm step-down and Benjamini-Hochberg
 * step-up; absent p-values are skipped and do not count in the family size. And the
 * intervals that go with the adjusted p-values, so that a verdict from an adjusted p-value
 * is never shown beside an interval that says otherwise.
 * Pure (one temporary allocation); any thread may enter.
 */
#include "bunsen/stats.h"

#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_cdf.h>

#include "bunsen/util.h"

struct ranked {
    double p;
    size_t idx;
};

static int ranked_cmp(const void *x, const void *y)
{
    const struct ranked *a = x;
    const struct ranked *b = y;
    if (a->p < b->p) {
        return -1;
    }
    if (a->p > b->p) {
        return 1;
    }
    return a->idx < b->idx ? -1 : (a->idx > b->idx ? 1 : 0);
}

int stats_adjust_pvalues(enum stats_correction method, const struct stats_opt *p,
                         struct stats_opt *adj, size_t m, struct err *err)
{
    if (method != STATS_CORRECTION_NONE && method != STATS_CORRECTION_HOLM &&
        method != STATS_CORRECTION_BH) {
        return err_set(err, ERR_INVALID, "correction", "unknown correction method");
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (p[i].present) {
            if (!(p[i].value >= 0 && p[i].value <= 1)) {
                return err_set(err, ERR_INVALID, "p_value", "p-value outside [0, 1]");
            }
            k++;
        }
    }
    if (method == STATS_CORRECTION_NONE || k == 0) {
        for (size_t i = 0; i < m; i++) {
            adj[i] = p[i];
        }
        return 0;
    }
    struct ranked *r = xmalloc(k * sizeof(*r));
    k = 0;
    for (size_t i = 0; i < m; i++) {
        if (p[i].present) {
            r[k].p = p[i].value;
            r[k].idx = i;
            k++;
        }
    }
    qsort(r, k, sizeof(*r), ranked_cmp);
    for (size_t i = 0; i < m; i++) {
        if (!p[i].present) {
            adj[i] = stats_opt_none(); /* adj may alias p: only absent entries change here */
        }
    }
    double kk = (double)k;
    if (method == STATS_CORRECTION_HOLM) {
        double run = 0;
        for (size_t j = 0; j < k; j++) {
            double v = (kk - (double)j) * r[j].p; /* (m - j + 1) p(j), j 1-based */
            v = v > 1 ? 1 : v;
            run = v > run ? v : run;
            adj[r[j].idx] = stats_opt_of(run);
        }
    } else {
        double run = 1;
        for (size_t j = k; j-- > 0;) {
            double v = kk * r[j].p / (double)(j + 1);
            v = v > 1 ? 1 : v;
            run = v < run ? v : run;
            adj[r[j].idx] = stats_opt_of(run);
        }
    }
    free(r);
    return 0;
}

/* The adjusted half-width under the t test with df degrees of freedom: |est| t(1 - alpha/2) /
 * t(1 - p/2), i.e. t(1 - alpha/2) SE_adj. INFINITY when p = 1 (t(1/2) = 0: no finite SE gives
 * a p-value of 1 unless est = 0), 0 when p = 0; NAN when the quantiles fail. */
static double t_halfwidth(double est, double df, double alpha, double p)
{
    if (p >= 1) {
        return INFINITY;
    }
    if (p <= 0) {
        return 0.0;
    }
    double qp = gsl_cdf_tdist_Qinv(p / 2.0, df); /* t(1 - p/2), > 0 for p < 1 */
    double qa = gsl_cdf_tdist_Qinv(alpha / 2.0, df);
    if (isnan(qp) && p < alpha) {
        return 0.0; /* a p-value too small for the quantile: the raw interval stands */
    }
    if (!(qp > 0) || !(qa > 0) || !isfinite(qa)) {
        return NAN;
    }
    return isinf(qp) ? 0.0 : fabs(est) * (qa / qp);
}

void stats_adjusted_interval(const struct stats_config *cfg, const struct stats_lift *l, double n,
                             struct stats_opt p_adj, struct stats_adjusted_ci *out)
{
    out->lo = stats_opt_none();
    out->hi = stats_opt_none();
    out->unbounded = false;
    if (cfg == NULL || l == NULL || cfg->method == STATS_METHOD_BAYESIAN ||
        !(cfg->alpha > 0 && cfg->alpha < 1) || !l->estimate.present || !l->ci_lo.present ||
        !l->ci_hi.present || !p_adj.present || !(p_adj.value >= 0 && p_adj.value <= 1)) {
        return;
    }
    double est = l->estimate.value, p = p_adj.value, alpha = cfg->alpha;
    double hw = NAN;
    if (cfg->method == STATS_METHOD_FREQUENTIST) {
        if (l->df.present && l->df.value > 0) {
            hw = t_halfwidth(est, l->df.value, alpha, p);
        }
    } else if (stats_sequential_halfwidth_for_p(est, n, alpha, cfg->sequential_tuning, p, &hw) !=
               0) {
        hw = NAN;
    }
    if (isnan(hw)) {
        return;
    }
    /* never narrower than the unadjusted interval: a correction never lowers a p-value, so
     * this only acts where the sequential p-value is capped at 1, at p_adj = 0, or by ulps */
    double raw = 0.5 * (l->ci_hi.value - l->ci_lo.value);
    if (isfinite(raw) && raw > hw) {
        hw = raw;
    }
    /* the threshold to the last bit: the interval holds 0 exactly when p_adj >= alpha */
    double a = fabs(est);
    if (p < alpha && !(hw < a) && a > 0) {
        hw = nextafter(a, 0.0);
    } else if (!(p < alpha) && hw < a) {
        hw = a;
    }
    double lo = est - hw, hi = est + hw;
    if (!isfinite(lo) || !isfinite(hi)) {
        out->unbounded = true; /* p_adj = 1 under the t test, or beyond the doubles */
        return;
    }
    out->lo = stats_opt_of(lo);
    out->hi = stats_opt_of(hi);
}
