/*
 * results.c - the results of an experiment (results.h, results_compute) and its HTTP handler
 * (GET .../results): parameters, arms from the roll-ups (ratio metrics from per-user rows),
 * SRM, each metric's comparisons; the decision block is results_power.c, the
 * multiple-comparison family results_family.c. The per-dimension breakdown (results_slices.c), the
 * time series (results_series.c), power (results_power.c) and the per-user export
 * (results_export.c) share its pieces through results_int.h. Threads: the offload threads
 * (http/offload.c: the results and time-series routes are ROUTE_OFFLOAD), the MHD workers
 * (the per-user export, which shares its helpers) and the CLI (`bunsen results`).
 *
 * Results are computed from the roll-ups the writer maintains (store_rollup_read): a
 * handful of rows per metric whatever the number of users, then stats/ on each
 * (control, treatment) pair, one multiple-comparison adjustment over every
 * (metric, treatment) p-value of the response, and SRM from the exposure counts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/log.h"
#include "bunsen/ddouble.h"
#include "bunsen/results.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"
#include "results_int.h"

void results_params_default(const struct experiment *x, struct results_params *p)
{
    p->method = x->analysis.method;
    p->alpha = x->analysis.alpha;
    p->cuped = x->analysis.cuped;
    p->correction = x->analysis.correction;
}

int results_params_parse(struct results_params *p, const char *method, const char *alpha,
                         const char *cuped, const char *correction, struct err *err)
{
    if (method != NULL && stats_method_parse(method, &p->method) != 0) {
        return err_set(err, ERR_INVALID, "method",
                       "method must be frequentist, bayesian or sequential");
    }
    if (alpha != NULL) {
        double a = 0;
        /* the stored analysis.alpha's range: 1e-320 made the sequential intervals fail, and
         * 0.9999999999999999 called p = 0.23 significant */
        if (real_parse_decimal(alpha, strlen(alpha), &a) != 0 ||
            !(a >= ANALYSIS_ALPHA_MIN && a <= ANALYSIS_ALPHA_MAX)) {
            return err_set(err, ERR_INVALID, "alpha",
                           "alpha must be a decimal number from 1e-06 to 0.5, such as 0.05");
        }
        p->alpha = a;
    }
    if (cuped != NULL) {
        if (strcmp(cuped, "true") == 0 || strcmp(cuped, "1") == 0) {
            p->cuped = true;
        } else if (strcmp(cuped, "false") == 0 || strcmp(cuped, "0") == 0) {
            p->cuped = false;
        } else {
            return err_set(err, ERR_INVALID, "cuped", "cuped must be true or false");
        }
    }
    if (correction != NULL && stats_correction_parse(correction, &p->correction) != 0) {
        return err_set(err, ERR_INVALID, "correction", "correction must be none, holm or bh");
    }
    return 0;
}

json_t *results_json_opt(struct stats_opt o)
{
    return o.present ? json_real(o.value) : json_null();
}

json_t *results_json_lift(const struct stats_lift *l, bool with_p)
{
    json_t *o = json_object();
    json_object_set_new(o, "estimate", results_json_opt(l->estimate));
    json_object_set_new(o, "se", results_json_opt(l->se));
    json_object_set_new(o, "ci",
                        l->ci_lo.present && l->ci_hi.present
                            ? json_pack("[f, f]", l->ci_lo.value, l->ci_hi.value)
                            : json_null());
    if (with_p) {
        json_object_set_new(o, "p_value", results_json_opt(l->p_value));
    }
    return o;
}

static int metric_parse(const char *doc, struct metric *m, struct err *err)
{
    json_t *j = json_loads(doc, 0, NULL);
    int rc = j ? metric_from_json(j, MODEL_LOAD, NULL, m, err)
               : err_set(err, ERR_INTERNAL, NULL, "stored metric is not JSON");
    json_decref(j);
    return rc;
}

/*
 * Load a metric definition (reader connection) as experiment's results read it: while a
 * rebuild of experiment runs, results read the roll-ups kept when it began, so the fields
 * that made them (event, type, window, cap, CUPED look-back, parts) are those recorded with
 * them (store_rebuild_metric_get), and the others (name, description, unit, goal) today's.
 * experiment NULL: today's definition. A rebuild begun by a version that recorded none
 * (migration 0013): today's, *unknown set; read with it, a count metric made binomial
 * answered 400 "binomial conversions ... not an integer" for the whole results.
 */
int results_load_metric_kept(struct store *s, const char *experiment, const char *key,
                             struct metric *m, bool *unknown, struct err *err)
{
    *unknown = false;
    char *doc = NULL;
    if (store_metric_get(s, NULL, key, &doc, err) != 0) {
        return -1;
    }
    int rc = metric_parse(doc, m, err);
    free(doc);
    doc = NULL;
    int kept =
        rc == 0 && experiment != NULL ? store_rebuild_metric_get(s, experiment, key, &doc, err) : 0;
    struct metric then;
    if (kept == 1 && metric_parse(doc, &then, err) == 0) {
        snprintf(m->event, sizeof(m->event), "%s", then.event);
        m->type = then.type;
        m->has_window = then.has_window;
        m->window_hours = then.window_hours;
        m->has_cap = then.has_cap;
        m->cap = then.cap;
        m->cuped_lookback_hours = then.cuped_lookback_hours;
        memcpy(m->numerator, then.numerator, sizeof(m->numerator));
        memcpy(m->denominator, then.denominator, sizeof(m->denominator));
    } else if (kept == 2) {
        *unknown = true;
    } else if (kept != 0) {
        rc = -1;
    }
    free(doc);
    return rc;
}

int results_load_metric(struct store *s, const char *experiment, const char *key, struct metric *m,
                        struct err *err)
{
    bool unknown = false;
    if (results_load_metric_kept(s, experiment, key, m, &unknown, err) != 0) {
        return -1;
    }
    if (unknown) {
        return err_set(err, ERR_UNAVAILABLE, NULL,
                       "experiment '%.64s' is being rebuilt from a definition change begun by "
                       "an earlier version of Bunsen, which did not record the definition of "
                       "metric '%.64s' its kept statistics were computed with: they return when "
                       "the rebuild ends",
                       experiment, key);
    }
    return 0;
}

/* sum (u - cu)(v - cv) = Puv - cv Su - cu Sv + n cu cv from the raw double-double sums,
 * exactly until the final rounding to double-double: its terms are the size of the raw sums
 * (1e26 for values of 1e12) and cancel to the centred one (1e5), whose double-double must be
 * precise relative to itself (CUPED's adjusted variance is a small remainder of it). */
static struct dd centred_product(struct dd puv, struct dd su, double cu, struct dd sv, double cv,
                                 double n)
{
    struct dd_expansion e = {.n = 0};
    dd_expansion_add(&e, puv.lo);
    dd_expansion_add(&e, puv.hi);
    dd_expansion_add_prod(&e, -cv, su.lo);
    dd_expansion_add_prod(&e, -cv, su.hi);
    dd_expansion_add_prod(&e, -cu, sv.lo);
    dd_expansion_add_prod(&e, -cu, sv.hi);
    struct dd c2 = dd_two_prod(cu, cv);
    dd_expansion_add_prod(&e, n, c2.lo);
    dd_expansion_add_prod(&e, n, c2.hi);
    return dd_expansion_value(&e);
}

/* sum (u - cu) = Su - n cu, exactly until the final rounding. */
static struct dd centred_sum(struct dd su, double cu, double n)
{
    struct dd_expansion e = {.n = 0};
    dd_expansion_add(&e, su.lo);
    dd_expansion_add(&e, su.hi);
    dd_expansion_add_prod(&e, -n, cu);
    return dd_expansion_value(&e);
}

/*
 * A centred sum of squares at or below 2^-SUMS_NOISE_BITS of the raw sum it is formed from is
 * what the stored sums' rounding leaves: each change the writer adds rounds at ~2^-106 of the
 * sum's magnitude, so 2^-90 is 2^16 of them all rounding one way (far more as they fall, a
 * random walk). The cut is a standard deviation below 2^-45 (~2.8e-14) of the values' root
 * mean square: 1e13 +- 0.5 keeps its variance, 1e14 +- 0.5 reads as 0 (the sums of 1e15
 * +- 0.5 hold nothing but rounding). Users whose values are all equal (everyone at a metric's
 * cap, reached through values that moved 7.3 -> 16.1 -> 30) had a standard deviation of
 * ~3e-15 or 0 by arrival order and backend, and with it a p-value of 1 in the correction
 * family or none; an all-capped covariate a CUPED theta of -2.0 instead of "no pre-period
 * variance" (review pg27 finding 1). The row's hwm plays no part: a row whose value came and
 * went is read from the users' values unless its sums are far above this (results_exact.c),
 * and rows written before migration 0016 carry an infinite one.
 */
#define SUMS_NOISE_BITS 90

/*
 * The stored raw double-double sums as sums about the arm's own means (STATS.md
 * "Numerics"): with cy = S/n and cx = Sx/n rounded, s = S - n cy, q = Q - 2 cy S + n cy^2,
 * and likewise sx, qx, p, each exact until rounded to double-double (hi and lo both kept),
 * so that q keeps full precision even when Q ~ 1e27 and the variance part ~ 1e7, and CUPED's
 * remainder of q, qx and p (~1 for values of 1e12 with y close to x) all of its own.
 * Binomial y stays unshifted (s counts conversions).
 */
void results_arm_from_suff(const struct store_suff *st, bool binomial, struct stats_arm *out)
{
    memset(out, 0, sizeof(*out));
    out->n = st->n;
    struct dd S = {st->s, st->s_lo}, Q = {st->q, st->q_lo};
    struct dd SX = {st->sx, st->sx_lo}, QX = {st->qx, st->qx_lo}, P = {st->p, st->p_lo};
    double n = (double)st->n;
    double cy = 0, cx = 0;
    if (st->n > 0) {
        cy = binomial ? 0 : dd_value(S) / n;
        cx = dd_value(SX) / n;
    }
    if (!isfinite(cy) || !isfinite(cx)) {
        cy = cx = 0;
    }
    struct dd s = binomial ? dd_two_sum(S.hi, S.lo) /* exact integer */ : centred_sum(S, cy, n);
    struct dd q = centred_product(Q, S, cy, S, cy, n);
    struct dd sx = centred_sum(SX, cx, n);
    struct dd qx = centred_product(QX, SX, cx, SX, cx, n);
    struct dd p = centred_product(P, S, cy, SX, cx, n);
    /* the rounding the stored sums carry: a centred sum of squares this small against the
     * raw one (or the largest it held) is 0, and with it the cross sum */
    if (!binomial && fabs(q.hi) <= ldexp(fabs(Q.hi), -SUMS_NOISE_BITS)) {
        q = p = dd_of(0.0);
    }
    if (fabs(qx.hi) <= ldexp(fabs(QX.hi), -SUMS_NOISE_BITS)) {
        qx = p = dd_of(0.0);
    }
    out->s = s.hi;
    out->s_lo = s.lo;
    out->q = q.hi;
    out->q_lo = q.lo;
    out->sx = sx.hi;
    out->sx_lo = sx.lo;
    out->qx = qx.hi;
    out->qx_lo = qx.lo;
    out->p = p.hi;
    out->p_lo = p.lo;
    out->shift_y = cy;
    out->shift_x = cx;
}

/* The per-user value as STATS.md defines it from the raw value (binomial 0/1, cap). */
double results_user_value(const struct metric *m, double raw)
{
    double v = m->type == STATS_METRIC_BINOMIAL ? (raw > 0 ? 1.0 : 0.0) : raw;
    return m->has_cap && v > m->cap ? m->cap : v;
}

void results_dd_acc(double *hi, double *lo, struct dd add)
{
    struct dd v = dd_add((struct dd){*hi, *lo}, add);
    *hi = v.hi;
    *lo = v.lo;
}

/* The ratio arms of a from per-variant sums st[0..nvariants) (results_ratio_add's). */
void results_ratio_arms_from_suff(const struct store_suff *st, struct arms *a)
{
    a->ratio = true;
    for (size_t i = 0; i < a->x->nvariants; i++) {
        struct stats_arm m;
        results_arm_from_suff(&st[i], false, &m);
        a->rarm[i] = (struct stats_ratio_arm){.n = m.n,
                                              .sn = m.s,
                                              .qn = m.q,
                                              .sd = m.sx,
                                              .qd = m.qx,
                                              .pnd = m.p,
                                              .shift_n = m.shift_y,
                                              .shift_d = m.shift_x,
                                              .sn_lo = m.s_lo,
                                              .qn_lo = m.q_lo,
                                              .sd_lo = m.sx_lo,
                                              .qd_lo = m.qx_lo,
                                              .pnd_lo = m.p_lo};
        a->num_sum[i] = st[i].s + st[i].s_lo;
        a->den_sum[i] = st[i].sx + st[i].sx_lo;
    }
}

/*
 * A ratio metric's arms from its parts' per-user values (numerator y, denominator z):
 * n, sum y, sum y^2, sum z, sum z^2, sum yz per variant in double-double, then about the
 * means as stats_ratio_arm (the delta method needs the per-user cross product, which no
 * per-metric roll-up holds).
 */
static int ratio_arms(struct store *s, const struct experiment *x, const struct metric *m,
                      struct arms *a, struct err *err)
{
    struct results_ratio_sums r;
    const char *unavailable = NULL;
    if (results_ratio_sums(s, x, m, NULL, &r, &unavailable, err) != 0) {
        return -1;
    }
    struct store_suff zero[ASSIGN_MAX_VARIANTS];
    memset(zero, 0, sizeof(zero));
    results_ratio_arms_from_suff(unavailable == NULL && r.n > 0 ? r.v[0].st : zero, a);
    a->unavailable = unavailable;
    results_ratio_sums_free(&r);
    return 0;
}

static void arms_emit(void *ctx, const struct store_suff *st)
{
    struct arms *a = ctx;
    int i = experiment_variant_index(a->x, st->variant);
    if (i >= 0) {
        results_arm_from_suff(st, a->binomial, &a->arm[i]);
    }
}

struct exposed {
    const struct experiment *x;
    int64_t users[ASSIGN_MAX_VARIANTS];
};

static void exposed_emit(void *ctx, const char *variant, int64_t users)
{
    struct exposed *e = ctx;
    int i = experiment_variant_index(e->x, variant);
    if (i >= 0) {
        e->users[i] = users;
    }
}

static json_t *srm_json(const struct experiment *x, const int64_t *users, struct err *err)
{
    double w[ASSIGN_MAX_VARIANTS];
    for (size_t i = 0; i < x->nvariants; i++) {
        w[i] = x->variants[i].weight;
    }
    struct stats_srm srm;
    if (stats_srm_test(users, w, x->nvariants, &srm, err) != 0) {
        return NULL;
    }
    json_t *obs = json_array(), *exp = json_array();
    for (size_t i = 0; i < x->nvariants; i++) {
        json_array_append_new(obs, json_integer(users[i]));
        json_array_append_new(exp, json_real(w[i]));
    }
    json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:b}", "p_value", results_json_opt(srm.p_value),
                          "chi2", results_json_opt(srm.chi2), "observed", obs, "expected", exp,
                          "mismatch", srm.mismatch);
    if (srm.warning[0] != '\0') {
        json_object_set_new(o, "warning", json_string(srm.warning));
    }
    return o;
}

/* Stored sums that m's definition cannot hold (kept roll-ups read with a definition they
 * were not built with, a damaged row) are the server's fault, not the request's: the metric
 * is reported without statistics and a warning (it answered 400 "binomial conversions ...
 * not an integer" for the whole results), the details logged. */
void results_arms_fit(const struct experiment *x, const struct metric *m, const struct slice *sl,
                      struct arms *a)
{
    for (size_t i = 0; !a->ratio && a->unavailable == NULL && i < x->nvariants; i++) {
        struct err why;
        err_clear(&why);
        if (stats_arm_check(m->type, &a->arm[i], &why) != 0) {
            log_json(LOG_ERROR, "results: stored statistics do not fit the metric's definition",
                     json_pack("{s:s, s:s, s:s, s:s, s:s}", "experiment", x->key, "metric", m->key,
                               "variant", x->variants[i].key, "slice", sl != NULL ? sl->value : "",
                               "error", why.msg));
            memset(a->arm, 0, sizeof(a->arm));
            a->unavailable = RESULTS_SUMS_MISFIT;
        }
    }
}

static void metric_config(const struct experiment *x, const struct metric *m,
                          const struct results_params *p, bool lifts_only, struct stats_config *cfg)
{
    stats_config_default(cfg);
    cfg->lifts_only = lifts_only;
    cfg->type = m->type;
    cfg->goal = m->goal;
    cfg->method = p->method;
    cfg->alpha = p->alpha;
    cfg->cuped = p->cuped; /* a ratio is compared without it, with a warning saying so */
    cfg->sequential_tuning = x->sequential_tuning;
}

int results_metric_pvalues(const struct experiment *x, const struct metric *m, const struct arms *a,
                           const struct results_params *p, struct stats_opt *out, struct err *err)
{
    struct stats_config cfg;
    metric_config(x, m, p, true, &cfg);
    for (size_t i = 1; i < x->nvariants; i++) {
        struct stats_comparison c;
        int rc = a->ratio ? stats_compare_ratio(&cfg, &a->rarm[0], &a->rarm[i], &c, err)
                          : stats_compare(&cfg, &a->arm[0], &a->arm[i], &c, err);
        if (rc != 0) {
            return -1;
        }
        out[2 * (i - 1)] = c.absolute.p_value;
        out[2 * (i - 1) + 1] = c.relative.p_value;
    }
    return 0;
}

json_t *results_metric_json(const struct experiment *x, const struct metric *m, bool guardrail,
                            const struct arms *a, const struct results_params *p, bool lifts_only,
                            struct family *fam, struct err *err)
{
    struct stats_config cfg;
    metric_config(x, m, p, lifts_only, &cfg);
    json_t *vars = json_array();
    for (size_t i = 0; i < x->nvariants; i++) {
        const struct stats_arm *arm = &a->arm[i];
        struct stats_moments mo;
        int rc = a->ratio ? stats_ratio_moments(&a->rarm[i], &mo, err)
                          : stats_arm_moments(m->type, arm, &mo, err);
        if (rc != 0) {
            json_decref(vars);
            return NULL;
        }
        json_t *v = json_pack("{s:s, s:I, s:o, s:o, s:f}", "key", x->variants[i].key, "users",
                              (json_int_t)(a->ratio ? a->rarm[i].n : arm->n), "mean",
                              results_json_opt(mo.mean), "stddev", results_json_opt(mo.stddev),
                              "sum", a->ratio ? a->num_sum[i] : stats_arm_sum(arm));
        if (a->ratio) {
            json_object_set_new(v, "denominator_sum", json_real(a->den_sum[i]));
        }
        json_array_append_new(vars, v);
        if (i == 0) {
            continue;
        }
        struct stats_comparison c;
        rc = a->ratio ? stats_compare_ratio(&cfg, &a->rarm[0], &a->rarm[i], &c, err)
                      : stats_compare(&cfg, &a->arm[0], arm, &c, err);
        if (rc != 0) {
            json_decref(vars);
            return NULL;
        }
        json_object_set_new(v, "absolute_lift", results_json_lift(&c.absolute, false));
        json_object_set_new(v, "relative_lift", results_json_lift(&c.relative, true));
        json_object_set_new(v, "df", results_json_opt(c.df));
        json_object_set_new(v, "p_value", results_json_opt(c.absolute.p_value));
        json_object_set_new(v, "p_value_adjusted", json_null()); /* filled after the family */
        json_object_set_new(v, "significant", json_false());
        if (m->type == STATS_METRIC_BINOMIAL) {
            json_object_set_new(v, "z_test",
                                json_pack("{s:o, s:o}", "z", results_json_opt(c.z), "p_value",
                                          results_json_opt(c.z_p_value)));
        }
        if (p->method == STATS_METHOD_BAYESIAN) {
            json_object_set_new(v, "chance_to_beat_control",
                                results_json_opt(c.chance_to_beat_control));
            json_object_set_new(v, "expected_loss", results_json_opt(c.expected_loss));
            bool decisive = c.chance_to_beat_control.present &&
                            (c.chance_to_beat_control.value > 1 - p->alpha ||
                             c.chance_to_beat_control.value < p->alpha);
            json_object_set_new(v, "significant", json_boolean(decisive));
            /* the verdict is the one of the interval shown beside it (STATS.md): a chance
             * above 1 - alpha is a one-sided alpha, the interval a two-sided one, so with
             * d/SE between z(1 - alpha) and z(1 - alpha/2) the chance was decisive while the
             * interval held 0, and the verdict said "win" beside it */
            const struct stats_lift *rl = &c.relative;
            bool excludes_zero = rl->ci_lo.present && rl->ci_hi.present &&
                                 (rl->ci_lo.value > 0 || rl->ci_hi.value < 0);
            json_object_set_new(json_object_get(v, "relative_lift"), "significant",
                                json_boolean(excludes_zero));
        }
        if (cfg.cuped && !a->ratio) {
            json_object_set_new(v, "cuped",
                                json_pack("{s:o, s:o}", "theta", results_json_opt(c.cuped_theta),
                                          "variance_reduction",
                                          results_json_opt(c.cuped_variance_reduction)));
        }
        if (c.warning[0] != '\0') {
            json_object_set_new(v, "warning", json_string(c.warning));
        }
        size_t k = fam->n++;
        fam->p[k] = c.absolute.p_value;
        fam->p[fam->cap + k] = c.relative.p_value;
        fam->refs[k] = v;
        fam->decrease[k] = m->goal == STATS_GOAL_DECREASE;
        fam->member[k] =
            (struct family_member){.abs = c.absolute,
                                   .rel = c.relative,
                                   .users = a->ratio ? (double)a->rarm[0].n + (double)a->rarm[i].n
                                                     : (double)a->arm[0].n + (double)arm->n,
                                   .tuning = x->sequential_tuning};
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o}", "key", m->key, "name", m->name, "type",
                          stats_metric_type_name(m->type), "goal", stats_goal_name(m->goal),
                          "guardrail", guardrail, "variants", vars);
    if (a->ratio) {
        json_object_set_new(o, "numerator", json_string(m->numerator));
        json_object_set_new(o, "denominator", json_string(m->denominator));
    }
    if (a->unavailable != NULL) {
        json_object_set_new(o, "warning", json_string(a->unavailable));
    }
    return o;
}

/* Index (in metrics, then guardrails) of the decision metric: the primary metric, else the
 * first metric; nm when there is none. */
static size_t primary_index(const struct experiment *x)
{
    for (size_t i = 0; i < x->nmetrics; i++) {
        if (strcmp(x->metrics[i], x->primary_metric) == 0) {
            return i;
        }
    }
    return x->nmetrics > 0 ? 0 : (size_t)-1;
}

/*
 * One results document: of the whole experiment (sl NULL: the main roll-ups, conflicts and
 * ratio metrics included) or of one slice (its users and statistics, a ratio metric's from
 * the sums results_breakdown gathered). The treatments' p-values join fam; the caller
 * finishes the family.
 */
json_t *results_compute_doc(struct store *s, const struct experiment *x,
                            const struct results_params *p, const struct slice *sl,
                            struct family *fam, struct err *err)
{
    struct exposed ex = {.x = x};
    int64_t conflicts = 0;
    if (sl != NULL) {
        memcpy(ex.users, sl->users, sizeof(ex.users));
    } else if (store_exposure_by_variant(s, x->key, exposed_emit, &ex, &conflicts, err) != 0) {
        return NULL;
    }
    json_t *srm = srm_json(x, ex.users, err);
    if (srm == NULL) {
        return NULL;
    }
    json_t *variants = json_array();
    for (size_t i = 0; i < x->nvariants; i++) {
        json_array_append_new(variants,
                              json_pack("{s:s, s:s, s:I}", "key", x->variants[i].key, "name",
                                        x->variants[i].name, "users", (json_int_t)ex.users[i]));
    }
    size_t nm = x->nmetrics + x->nguardrails;
    json_t *metrics = json_array();
    json_t *result = NULL;
    json_t *decision = NULL;
    size_t primary = primary_index(x);
    for (size_t k = 0; k < nm; k++) {
        const char *key = k >= x->nmetrics ? x->guardrails[k - x->nmetrics] : x->metrics[k];
        bool listed = false; /* a guardrail that is also a metric is reported once, flagged */
        for (size_t j = 0; k >= x->nmetrics && j < x->nmetrics; j++) {
            listed = listed || strcmp(x->metrics[j], key) == 0;
        }
        if (listed) {
            continue;
        }
        bool guardrail = experiment_is_guardrail(x, key);
        struct metric m;
        struct arms a = {.x = x};
        bool unknown = false;
        if (results_load_metric_kept(s, x->key, key, &m, &unknown, err) != 0) {
            goto out;
        }
        a.binomial = m.type == STATS_METRIC_BINOMIAL;
        if (unknown) {
            struct store_suff zero[ASSIGN_MAX_VARIANTS];
            memset(zero, 0, sizeof(zero));
            if (m.type == STATS_METRIC_RATIO) {
                results_ratio_arms_from_suff(zero, &a);
            }
            a.unavailable = RESULTS_KEPT_UNKNOWN;
        } else if (sl != NULL && m.type == STATS_METRIC_RATIO) {
            results_ratio_arms_from_suff(&sl->suff[k * x->nvariants], &a);
            a.unavailable = sl->ratio_unavailable != NULL ? sl->ratio_unavailable[k] : NULL;
        } else if (sl != NULL) {
            for (size_t i = 0; i < x->nvariants; i++) {
                results_arm_from_suff(&sl->suff[k * x->nvariants + i], a.binomial, &a.arm[i]);
            }
        } else if (m.type == STATS_METRIC_RATIO) {
            if (ratio_arms(s, x, &m, &a, err) != 0) {
                goto out;
            }
        } else if (results_rollup_read(s, x, &m, arms_emit, &a, err) != 0) {
            goto out;
        }
        results_arms_fit(x, &m, sl, &a);
        json_t *mj = results_metric_json(x, &m, guardrail, &a, p, false, fam, err);
        if (mj == NULL) {
            goto out;
        }
        json_array_append_new(metrics, mj);
        if (k == primary) {
            decision = results_decision_json(x, &m, &a, ex.users, p->method);
        }
    }
    result = json_pack(
        "{s:s, s:s, s:I, s:s, s:f, s:b, s:s, s:O, s:O, s:O}", "experiment", x->key, "status",
        assign_status_name(x->status), "computed_at", (json_int_t)time_now_ms(), "method",
        stats_method_name(p->method), "alpha", p->alpha, "cuped", p->cuped, "correction",
        stats_correction_name(p->correction), "srm", srm, "variants", variants, "metrics", metrics);
    if (result != NULL && sl == NULL) {
        json_object_set_new(result, "data_quality",
                            json_pack("{s:I}", "conflicting_exposures", (json_int_t)conflicts));
    }
    if (result != NULL && p->method == STATS_METHOD_SEQUENTIAL) {
        json_object_set_new(result, "always_valid", json_true());
    }
    if (result != NULL && x->stopped_at > 0) {
        json_object_set_new(result, "frozen_at", json_integer(x->stopped_at));
    }
    if (result != NULL) {
        json_object_set_new(result, "decision", decision ? json_incref(decision) : json_null());
    }
out:
    json_decref(decision);
    json_decref(srm);
    json_decref(variants);
    json_decref(metrics);
    return result;
}

/* A definition change is being applied: these are the last complete roll-ups. */
void results_add_rebuilding(struct store *s, const struct experiment *x, json_t *result)
{
    struct store_rebuild rb;
    struct err rerr;
    if (result != NULL && store_rebuild_get(s, x->key, &rb, &rerr) == 1) {
        json_object_set_new(result, "rebuilding",
                            json_pack("{s:f, s:I, s:I}", "progress", store_rebuild_progress(&rb),
                                      "users_done", (json_int_t)rb.users_done, "users_total",
                                      (json_int_t)rb.users_total));
    }
}

json_t *results_compute(struct store *s, const struct experiment *x, const struct results_params *p,
                        struct err *err)
{
    /* the exposed users, every metric's roll-ups, a ratio's users and the rebuild's
     * progress from one committed state (store.h "A consistent read"): read one after the
     * other during ingestion, they disagreed (users [0, 0] at the top, [25, 25] in the
     * metrics below) */
    if (store_read_begin(s, err) != 0) {
        return NULL;
    }
    struct family fam;
    results_family_init(&fam, (x->nmetrics + x->nguardrails) * x->nvariants);
    json_t *result = results_compute_doc(s, x, p, NULL, &fam, err);
    results_add_rebuilding(s, x, result);
    store_read_end(s);
    if (result != NULL && results_family_finish(&fam, p, err) != 0) {
        json_decref(result);
        result = NULL;
    }
    results_family_free(&fam);
    return result;
}

/* ---- HTTP ---- */

/* Copy of the experiment from the snapshot (the definition /assign uses), or 404. */
int results_experiment_of(struct http_req *r, struct experiment *x)
{
    const char *key = http_req_param(r, "key");
    struct snapshot_cell *cell = http_req_app(r)->experiments;
    const struct snapshot *snap = snapshot_read_begin(cell);
    const struct snapshot_entry *e = key ? snapshot_find(snap, key) : NULL;
    if (e != NULL) {
        experiment_copy(x, &e->x);
    }
    snapshot_read_end(cell, snap);
    if (e == NULL) {
        http_reply_error(r, ERR_NOT_FOUND, NULL, "no experiment '%.64s'", key ? key : "");
        return -1;
    }
    return 0;
}

bool results_wants_csv(struct http_req *r)
{
    static const char *const types[] = {"application/json", "text/csv"};
    const char *f = http_req_query(r, "format");
    if (f != NULL) {
        return strcmp(f, "csv") == 0;
    }
    return http_req_accept_pick(r, types, 2) == 1;
}

int results_request_begin(struct http_req *r, struct experiment *x, struct results_params *p)
{
    const char *format = http_req_query(r, "format");
    if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        http_reply_error(r, ERR_INVALID, "format", "format must be json or csv");
        return -1;
    }
    if (results_experiment_of(r, x) != 0) {
        return -1;
    }
    results_params_default(x, p);
    struct err err;
    err_clear(&err);
    if (results_params_parse(p, http_req_query(r, "method"), http_req_query(r, "alpha"),
                             http_req_query(r, "cuped"), http_req_query(r, "correction"),
                             &err) != 0) {
        http_reply_err(r, &err);
        experiment_clear(x);
        return -1;
    }
    return 0;
}

void results_reply_doc(struct http_req *r, const struct experiment *x, json_t *doc,
                       char *(*to_csv)(const json_t *), const char *name)
{
    /* without ?format the reply depends on Accept: a cache must keep one per Accept */
    bool negotiated = http_req_query(r, "format") == NULL;
    if (!results_wants_csv(r)) {
        http_reply_json(r, 200, doc);
    } else {
        char *csv = to_csv(doc);
        http_reply_bytes(r, 200, "text/csv; charset=utf-8", csv, strlen(csv));
        char disp[160];
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s-%s.csv\"", x->key, name);
        http_reply_header(r, "Content-Disposition", disp);
        free(csv);
        json_decref(doc);
    }
    if (negotiated) {
        http_reply_header(r, "Vary", "Accept");
    }
}

void api_results(struct http_req *r)
{
    struct experiment x;
    struct results_params p;
    if (results_request_begin(r, &x, &p) != 0) {
        return;
    }
    struct err err;
    err_clear(&err);
    const char *dimension = http_req_query(r, "dimension");
    json_t *res = dimension != NULL
                      ? results_breakdown(http_req_app(r)->store, &x, dimension, &p, &err)
                      : results_compute(http_req_app(r)->store, &x, &p, &err);
    if (res == NULL) {
        http_reply_err(r, &err);
    } else {
        results_reply_doc(r, &x, res, results_to_csv, "results");
    }
    experiment_clear(&x);
}
