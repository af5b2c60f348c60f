/*
 * results_family.c - the multiple-comparison family of one results response (results_int.h,
 * STATS.md "Multiple comparisons"): every (metric, treatment) p-value of the document, or of
 * every slice of a breakdown, adjusted together (holm, bh; the absolute and the relative
 * p-values as two families), then each member's p_value_adjusted, significant, verdict and,
 * under a correction, its lifts' ci_adjusted. Threads: whoever computes the response.
 */
#include <stdio.h>
#include <stdlib.h>

#include "api_int.h"
#include "bunsen/util.h"
#include "results_int.h"

/*
 * The verdict shown beside the headline (STATS.md "Multiple comparisons"): the relative
 * lift's own significance in the goal's direction: "win", "loss", "flat" (not significant)
 * or "none" (no relative test: no estimate, or no interval or p-value for it, e.g. a
 * standard error of 0 or a single user in an arm; "flat" would say it was tested). That
 * significance is the one of the interval shown beside it: its adjusted p-value under a
 * correction, whose interval is ci_adjusted (which excludes 0 exactly then), else its
 * p-value (its ci), or under bayesian (no p-value) its ci excluding 0. The absolute lift's
 * `significant` stays beside it.
 */
static const char *verdict_of(const json_t *v, bool decrease, bool bayesian)
{
    const json_t *rel = json_object_get(v, "relative_lift");
    const json_t *est = json_object_get(rel, "estimate");
    if (!json_is_number(est) || !json_is_array(json_object_get(rel, "ci")) ||
        (!bayesian && !json_is_number(json_object_get(rel, "p_value")))) {
        return "none";
    }
    if (!json_is_true(json_object_get(rel, "significant")) || json_number_value(est) == 0) {
        return "flat";
    }
    return (json_number_value(est) > 0) != decrease ? "win" : "loss";
}

void results_family_init(struct family *f, size_t cap)
{
    f->cap = cap + 1;
    f->n = 0;
    f->p = xcalloc(2 * f->cap, sizeof(*f->p));
    f->refs = xcalloc(f->cap, sizeof(*f->refs));
    f->decrease = xcalloc(f->cap, sizeof(*f->decrease));
    f->member = xcalloc(f->cap, sizeof(*f->member));
}

void results_family_add_pvalues(struct family *f, struct stats_opt abs, struct stats_opt rel)
{
    size_t k = f->n++;
    f->p[k] = abs;
    f->p[f->cap + k] = rel;
    f->refs[k] = NULL;
}

void results_family_free(struct family *f)
{
    free(f->p);
    free(f->refs);
    free(f->decrease);
    free(f->member);
}

/*
 * Under a correction, lift (the variant v's absolute_lift or relative_lift object) gets
 * ci_adjusted: the interval that goes with its adjusted p-value (stats_adjusted_interval),
 * so that the verdict from that p-value never sits beside an interval that says otherwise.
 * [low, high]; [null, null] when unbounded (the adjusted p-value is 1 under the t test:
 * v's warning says so); null when undefined (bayesian, no adjusted p-value).
 */
static void ci_adjusted_set(json_t *v, json_t *lift, const struct results_params *p,
                            const struct family_member *fm, const struct stats_lift *l,
                            struct stats_opt p_adj)
{
    struct stats_config cfg;
    stats_config_default(&cfg);
    cfg.method = p->method;
    cfg.alpha = p->alpha;
    cfg.sequential_tuning = fm->tuning;
    struct stats_adjusted_ci ci;
    stats_adjusted_interval(&cfg, l, fm->users, p_adj, &ci);
    if (ci.lo.present && ci.hi.present) {
        json_object_set_new(lift, "ci_adjusted", json_pack("[f, f]", ci.lo.value, ci.hi.value));
        return;
    }
    json_object_set_new(lift, "ci_adjusted", ci.unbounded ? json_pack("[n, n]") : json_null());
    if (ci.unbounded) {
        const char *had = json_string_value(json_object_get(v, "warning"));
        char w[STATS_WARNING_MAX];
        snprintf(w, sizeof(w), "%s", had != NULL ? had : "");
        stats_warning_add(w, "an adjusted p-value is 1: its adjusted interval is unbounded");
        json_object_set_new(v, "warning", json_string(w));
    }
}

/* Adjust both families and fill p_value_adjusted, significant, verdict and, under a
 * correction, each lift's ci_adjusted. */
int results_family_finish(struct family *f, const struct results_params *p, struct err *err)
{
    /* The absolute and the relative p-values are two families, each adjusted alike. */
    if (stats_adjust_pvalues(p->correction, f->p, f->p, f->n, err) != 0 ||
        stats_adjust_pvalues(p->correction, f->p + f->cap, f->p + f->cap, f->n, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (f->refs[i] == NULL) {
            continue; /* counted toward the correction only (results_family_add_pvalues) */
        }
        json_t *rel = json_object_get(f->refs[i], "relative_lift");
        json_object_set_new(f->refs[i], "p_value_adjusted", results_json_opt(f->p[i]));
        json_object_set_new(rel, "p_value_adjusted", results_json_opt(f->p[f->cap + i]));
        if (p->method != STATS_METHOD_BAYESIAN) {
            const struct stats_opt *pr = &f->p[f->cap + i];
            json_object_set_new(f->refs[i], "significant",
                                json_boolean(f->p[i].present && f->p[i].value < p->alpha));
            json_object_set_new(rel, "significant",
                                json_boolean(pr->present && pr->value < p->alpha));
        }
        if (p->correction != STATS_CORRECTION_NONE) {
            const struct family_member *fm = &f->member[i];
            ci_adjusted_set(f->refs[i], json_object_get(f->refs[i], "absolute_lift"), p, fm,
                            &fm->abs, f->p[i]);
            ci_adjusted_set(f->refs[i], rel, p, fm, &fm->rel, f->p[f->cap + i]);
        }
        json_object_set_new(f->refs[i], "verdict",
                            json_string(verdict_of(f->refs[i], f->decrease[i],
                                                   p->method == STATS_METHOD_BAYESIAN)));
    }
    return 0;
}
