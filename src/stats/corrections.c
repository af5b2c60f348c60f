/*
 * corrections.c - multiple-comparison adjustments over one response's family of
 * p-values (STATS.md "Multiple comparisons"): Holm step-down and Benjamini-Hochberg
 * step-up; absent p-values are skipped and do not count in the family size.
 * Pure (one temporary allocation); any thread may enter.
 */
#include "bunsen/stats.h"

#include <stdlib.h>

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
