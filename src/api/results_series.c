/*
 * results_series.c - the cumulative daily series of one metric (results.h
 * results_timeseries, from metric_daily) and its HTTP handler (GET .../timeseries).
 * Threads: the MHD workers, each on its own store reader.
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

/* ---- time series ----
 * Each day is computed as the results are (docs/STATISTICS.md "Time series"): every metric of
 * the results' family (metrics, then guardrails, each once) has its cumulative sums through
 * the day (metric_daily partitions metric_stats by the day of the users' first exposure, the
 * CUPED sums included: migration 0016; a ratio metric's from its users' values by that day),
 * each is compared under the request's method, alpha and CUPED, and the correction adjusts
 * that day's family. The last day's sums are the results' (its users exposed by the end), so
 * the last day equals the results for every method and setting. */

/* One metric of the family: its cumulative sums per (day, variant). */
struct fam_metric {
    struct metric m;
    bool guardrail;
    const char *unavailable;       /* every day without statistics (results' reasons) */
    const char *early_unavailable; /* the days before the last (a ratio during a rebuild) */
    struct store_suff *grid;       /* ndays x nvariants: running totals (row = day) */
    bool *set;
};

struct series {
    const struct experiment *x;
    int64_t first_day, last_day;
    size_t ndays;
    struct fam_metric *fm;          /* the one being read */
    const struct metric *num, *den; /* a ratio's parts (ratio_day_emit) */
};

static size_t day_row(const struct series *se, int64_t day)
{
    /* days before the start (exposures timestamped earlier) fold into the first row, days
     * after the end into the last */
    int64_t d = day < se->first_day ? se->first_day : day > se->last_day ? se->last_day : day;
    return (size_t)(d - se->first_day);
}

static void daily_emit(void *ctx, int64_t day, const struct store_suff *st)
{
    struct series *se = ctx;
    int i = experiment_variant_index(se->x, st->variant);
    if (i < 0) {
        return;
    }
    size_t at = day_row(se, day) * se->x->nvariants + (size_t)i;
    se->fm->grid[at] = *st; /* running totals in day order: the day's last one */
    se->fm->set[at] = true;
}

/* A ratio's user: its parts' values on the day of its first exposure (summed up after). */
static void ratio_day_emit(void *ctx, const struct store_user_row *row)
{
    struct series *se = ctx;
    int i = experiment_variant_index(se->x, row->variant);
    if (i < 0) {
        return;
    }
    size_t at = day_row(se, row->first_exposure / DAY_MS) * se->x->nvariants + (size_t)i;
    results_ratio_add(&se->fm->grid[at], se->num, se->den, row->y, row->y2);
}

static void suff_acc(struct store_suff *a, const struct store_suff *b)
{
    a->n += b->n;
    results_dd_acc(&a->s, &a->s_lo, (struct dd){b->s, b->s_lo});
    results_dd_acc(&a->q, &a->q_lo, (struct dd){b->q, b->q_lo});
    results_dd_acc(&a->sx, &a->sx_lo, (struct dd){b->sx, b->sx_lo});
    results_dd_acc(&a->qx, &a->qx_lo, (struct dd){b->qx, b->qx_lo});
    results_dd_acc(&a->p, &a->p_lo, (struct dd){b->p, b->p_lo});
}

/* A ratio metric's days: the live per-user sums by exposure day, the last day the results'
 * (results_ratio_sums: live, or kept through a rebuild, when the earlier days, which no rebuild
 * keeps, have none). */
static int ratio_days(struct store *s, struct series *se, struct err *err)
{
    struct fam_metric *fm = se->fm;
    const struct experiment *x = se->x;
    struct results_ratio_sums r;
    bool available = false;
    if (results_ratio_sums(s, x, &fm->m, NULL, &r, &available, err) != 0) {
        return -1;
    }
    size_t last = (se->ndays - 1) * x->nvariants;
    if (!available) {
        fm->unavailable = RESULTS_RATIO_REBUILDING;
    }
    for (size_t i = 0; available && r.n > 0 && i < x->nvariants; i++) {
        fm->grid[last + i] = r.v[0].st[i];
    }
    results_ratio_sums_free(&r);
    struct store_rebuild rb;
    int rebuilding = store_rebuild_get(s, x->key, &rb, err);
    if (rebuilding < 0) {
        return -1;
    }
    if (!available || se->ndays == 1) {
        return 0;
    }
    if (rebuilding > 0) {
        fm->early_unavailable = RESULTS_RATIO_REBUILDING;
        return 0;
    }
    struct metric num, den;
    bool unknown = false;
    if (results_load_metric_kept(s, x->key, fm->m.numerator, &num, &unknown, err) != 0 ||
        results_load_metric_kept(s, x->key, fm->m.denominator, &den, &unknown, err) != 0) {
        return -1;
    }
    struct store_suff keep[ASSIGN_MAX_VARIANTS];
    memcpy(keep, &fm->grid[last], x->nvariants * sizeof(*keep));
    memset(&fm->grid[last], 0, x->nvariants * sizeof(*keep));
    se->num = &num;
    se->den = &den;
    int rc = results_ratio_scan(s, x, &num, &den, NULL, ratio_day_emit, se, err);
    se->num = se->den = NULL;
    for (size_t d = 1; rc == 0 && d + 1 < se->ndays; d++) {
        for (size_t i = 0; i < x->nvariants; i++) {
            suff_acc(&fm->grid[d * x->nvariants + i], &fm->grid[(d - 1) * x->nvariants + i]);
        }
    }
    memcpy(&fm->grid[last], keep, x->nvariants * sizeof(*keep));
    return rc;
}

/* The family's metrics (as results_compute_doc lists them) and their days; the requested
 * metric is fms[*target] (appended when it is only a ratio's part: a family of its own). */
static int family_days(struct store *s, struct series *se, const char *metric,
                       struct fam_metric *fms, size_t *nfms, size_t *target, bool *alone,
                       struct err *err)
{
    const struct experiment *x = se->x;
    size_t nm = x->nmetrics + x->nguardrails;
    *nfms = 0;
    *target = (size_t)-1;
    for (size_t k = 0; k <= nm; k++) {
        bool guardrail = k >= x->nmetrics;
        const char *key = k == nm     ? metric
                          : guardrail ? x->guardrails[k - x->nmetrics]
                                      : x->metrics[k];
        bool listed = false; /* a guardrail that is also a metric is reported once */
        for (size_t j = 0; j < *nfms; j++) {
            listed = listed || strcmp(fms[j].m.key, key) == 0;
        }
        if (listed) {
            continue;
        }
        struct fam_metric *fm = &fms[(*nfms)++];
        memset(fm, 0, sizeof(*fm));
        fm->guardrail = guardrail && k < nm;
        fm->grid = xcalloc(se->ndays * x->nvariants, sizeof(*fm->grid));
        fm->set = xcalloc(se->ndays * x->nvariants, sizeof(*fm->set));
        se->fm = fm;
        bool unknown = false;
        if (results_load_metric_kept(s, x->key, key, &fm->m, &unknown, err) != 0) {
            return -1;
        }
        if (strcmp(key, metric) == 0) {
            *target = *nfms - 1;
            *alone = k == nm;
        }
        if (unknown) {
            fm->unavailable = RESULTS_KEPT_UNKNOWN;
        } else if (fm->m.type == STATS_METRIC_RATIO) {
            if (ratio_days(s, se, err) != 0) {
                return -1;
            }
        } else if (results_rollup_daily(s, x, &fm->m, daily_emit, se, err) != 0) {
            return -1;
        }
        for (size_t at = x->nvariants;
             fm->m.type != STATS_METRIC_RATIO && at < se->ndays * x->nvariants; at++) {
            if (!fm->set[at]) {
                fm->grid[at] = fm->grid[at - x->nvariants]; /* carry the running total forward */
            }
        }
    }
    return 0;
}

/* The arms of fm on day d, as results_compute_doc makes them. */
static void day_arms(const struct series *se, const struct fam_metric *fm, size_t d, struct arms *a)
{
    const struct experiment *x = se->x;
    memset(a, 0, sizeof(*a));
    a->x = x;
    a->binomial = fm->m.type == STATS_METRIC_BINOMIAL;
    const char *why = fm->unavailable != NULL ? fm->unavailable
                      : d + 1 < se->ndays     ? fm->early_unavailable
                                              : NULL;
    static const struct store_suff zero[ASSIGN_MAX_VARIANTS];
    const struct store_suff *st = why != NULL ? zero : &fm->grid[d * x->nvariants];
    if (fm->m.type == STATS_METRIC_RATIO) {
        results_ratio_arms_from_suff(st, a);
    } else {
        for (size_t i = 0; i < x->nvariants; i++) {
            results_arm_from_suff(&st[i], a->binomial, &a->arm[i]);
        }
    }
    a->unavailable = why;
    results_arms_fit(x, &fm->m, NULL, a);
}

/* What a day shows of each variant of the results' metric object. */
static json_t *day_variant(const json_t *v)
{
    /* not "significant": a day has no posterior comparison (bayesian) */
    static const char *const keep[] = {"key",
                                       "users",
                                       "mean",
                                       "absolute_lift",
                                       "relative_lift",
                                       "p_value",
                                       "p_value_adjusted",
                                       "verdict",
                                       "cuped",
                                       "warning"};
    json_t *o = json_object();
    for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
        json_t *f = json_object_get(v, keep[k]);
        if (f != NULL) {
            json_object_set(o, keep[k], f);
        }
    }
    return o;
}

/* Day d: every family metric compared, the family adjusted; the target's variants. */
static json_t *day_json(const struct series *se, const struct fam_metric *fms, size_t nfms,
                        size_t target, bool target_alone, size_t d, const struct results_params *p,
                        struct err *err)
{
    const struct experiment *x = se->x;
    json_t **mj = xcalloc(nfms, sizeof(*mj));
    struct family fam, alone;
    results_family_init(&fam, nfms * x->nvariants);
    results_family_init(&alone, x->nvariants);
    json_t *vars = NULL;
    for (size_t k = 0; k < nfms; k++) {
        struct arms a;
        day_arms(se, &fms[k], d, &a);
        bool own = target_alone && k == target;
        mj[k] = results_metric_json(x, &fms[k].m, fms[k].guardrail, &a, p, true,
                                    own ? &alone : &fam, err);
        if (mj[k] == NULL) {
            goto out;
        }
    }
    if (results_family_finish(&fam, p, err) != 0 || results_family_finish(&alone, p, err) != 0) {
        goto out;
    }
    vars = json_array();
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(mj[target], "variants"), i, v)
    {
        json_array_append_new(vars, day_variant(v));
    }
out:
    for (size_t k = 0; k < nfms; k++) {
        json_decref(mj[k]);
    }
    free(mj);
    results_family_free(&fam);
    results_family_free(&alone);
    return vars;
}

static void day_name(int64_t day, char *out, size_t n)
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static json_t *timeseries_read(struct store *s, const struct experiment *x, const char *metric,
                               const struct results_params *p, struct err *err)
{
    int recorded = metric != NULL ? results_metric_recorded(s, x, metric, err) : 0;
    if (recorded < 0) {
        return NULL;
    }
    if (recorded == 0) {
        return err_set(err, ERR_INVALID, "metric",
                       "metric must be one of the experiment's metrics or a part of its ratios"),
               NULL;
    }
    struct metric m;
    if (results_load_metric(s, x->key, metric, &m, err) != 0) {
        return NULL;
    }
    if (m.type == STATS_METRIC_RATIO) {
        return err_set(err, ERR_INVALID, "metric",
                       "no daily series for a ratio metric: ask for its numerator or "
                       "denominator"),
               NULL;
    }
    int64_t start = x->started_at > 0 ? x->started_at : x->created_at;
    int64_t end = x->stopped_at > 0 ? x->stopped_at : time_now_ms();
    struct series se = {.x = x, .first_day = start / DAY_MS, .last_day = end / DAY_MS};
    if (se.last_day < se.first_day) {
        se.last_day = se.first_day;
    }
    if (se.last_day - se.first_day > 3660) {
        se.first_day = se.last_day - 3660; /* ten years of days is plenty */
    }
    se.ndays = (size_t)(se.last_day - se.first_day + 1);
    struct fam_metric *fms = xcalloc(x->nmetrics + x->nguardrails + 1, sizeof(*fms));
    size_t nfms = 0, target = 0;
    bool alone = false; /* the metric is only a ratio's part: a family of its own */
    json_t *days = NULL;
    if (family_days(s, &se, metric, fms, &nfms, &target, &alone, err) != 0) {
        goto out;
    }
    days = json_array();
    for (size_t d = 0; d < se.ndays; d++) {
        json_t *vars = day_json(&se, fms, nfms, target, alone, d, p, err);
        if (vars == NULL) {
            json_decref(days);
            days = NULL;
            goto out;
        }
        char date[48];
        day_name(se.first_day + (int64_t)d, date, sizeof(date));
        json_array_append_new(days, json_pack("{s:s, s:o}", "date", date, "variants", vars));
    }
out:
    for (size_t k = 0; k < nfms; k++) {
        free(fms[k].grid);
        free(fms[k].set);
    }
    free(fms);
    if (days == NULL) {
        return NULL;
    }
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:f, s:b, s:s, s:o}", "experiment", x->key, "metric", metric,
                  "method", stats_method_name(p->method), "alpha", p->alpha, "cuped", p->cuped,
                  "correction", stats_correction_name(p->correction), "days", days);
    if (doc != NULL && p->method == STATS_METHOD_SEQUENTIAL) {
        json_object_set_new(doc, "always_valid", json_true());
    }
    return doc;
}

/* Every day and variant from one consistent state (store.h "A consistent read"). */
json_t *results_timeseries(struct store *s, const struct experiment *x, const char *metric,
                           const struct results_params *p, struct err *err)
{
    if (store_read_begin(s, err) != 0) {
        return NULL;
    }
    json_t *result = timeseries_read(s, x, metric, p, err);
    store_read_end(s);
    return result;
}

/* ---- HTTP ---- */

void api_timeseries(struct http_req *r)
{
    struct experiment x;
    struct results_params p;
    if (results_request_begin(r, &x, &p) != 0) {
        return;
    }
    struct err err;
    err_clear(&err);
    json_t *res = NULL;
    if (results_params_parse(&p, http_req_query(r, "method"), http_req_query(r, "alpha"),
                             http_req_query(r, "cuped"), http_req_query(r, "correction"),
                             &err) != 0 ||
        (res = results_timeseries(http_req_app(r)->store, &x, http_req_query(r, "metric"), &p,
                                  &err)) == NULL) {
        http_reply_err(r, &err);
    } else {
        results_reply_doc(r, &x, res, results_timeseries_to_csv, "timeseries");
    }
    experiment_clear(&x);
}
