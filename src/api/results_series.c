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
 * the last day equals the results for every method and setting.
 *
 * Cost (docs/PERFORMANCE.md "Time series"): only the requested metric's days are built as
 * JSON. The other members matter only under a correction, and only through their p-values:
 * they are read one at a time (one grid of days x variants alive) and each day keeps just
 * their p-values (SERIES_WORK_MAX bounds days x members x variants). Without a correction, or
 * for a metric that is a family of its own (a ratio's part), nothing else is read. */

/* days x family members x variants a corrected series computes at most (413 beyond) */
#define SERIES_WORK_MAX 1000000u

/* One metric of the family: its cumulative sums per (day, variant). */
struct fam_metric {
    struct metric m;
    bool guardrail;
    const char *unavailable;       /* every day without statistics (results' reasons) */
    const char *early_unavailable; /* the days before the last (a ratio during a rebuild) */
    bool no_covariate;             /* daily rows without covariate sums (results_rollup_daily) */
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

/* The other family members' p-values per day, in the family's order: pv[d * nslot + j], the
 * target's own ones going in at slot `before`. */
struct others {
    size_t nslot, before;
    struct stats_opt *pv;
    const char *gap; /* a member without statistics on the days before the last: why */
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

/* A ratio metric's days: the live per-user sums by exposure day, the last day the results'
 * (results_ratio_sums: live, or kept through a rebuild, when the earlier days, which no rebuild
 * keeps, have none). */
static int ratio_days(struct store *s, struct series *se, struct err *err)
{
    struct fam_metric *fm = se->fm;
    const struct experiment *x = se->x;
    struct results_ratio_sums r;
    const char *unavailable = NULL;
    if (results_ratio_sums(s, x, &fm->m, NULL, &r, &unavailable, err) != 0) {
        return -1;
    }
    size_t last = (se->ndays - 1) * x->nvariants;
    bool available = unavailable == NULL;
    if (!available) {
        fm->unavailable = unavailable;
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
            results_suff_merge(&fm->grid[d * x->nvariants + i],
                               &fm->grid[(d - 1) * x->nvariants + i]);
        }
    }
    memcpy(&fm->grid[last], keep, x->nvariants * sizeof(*keep));
    return rc;
}

static void metric_days_free(struct fam_metric *fm)
{
    free(fm->grid);
    free(fm->set);
    fm->grid = NULL;
    fm->set = NULL;
}

/* Metric `key`'s days into fm (its grid: free with metric_days_free). */
static int metric_days(struct store *s, struct series *se, const char *key, bool guardrail,
                       struct fam_metric *fm, struct err *err)
{
    const struct experiment *x = se->x;
    memset(fm, 0, sizeof(*fm));
    fm->guardrail = guardrail;
    fm->grid = xcalloc(se->ndays * x->nvariants, sizeof(*fm->grid));
    fm->set = xcalloc(se->ndays * x->nvariants, sizeof(*fm->set));
    se->fm = fm;
    bool unknown = false;
    if (results_load_metric_kept(s, x->key, key, &fm->m, &unknown, err) != 0) {
        return -1;
    }
    if (unknown) {
        fm->unavailable = RESULTS_KEPT_UNKNOWN;
        return 0;
    }
    if (fm->m.type == STATS_METRIC_RATIO) {
        return ratio_days(s, se, err);
    }
    if (results_rollup_daily(s, x, &fm->m, daily_emit, se, &fm->no_covariate, err) != 0) {
        return -1;
    }
    for (size_t at = x->nvariants; at < se->ndays * x->nvariants; at++) {
        if (!fm->set[at]) {
            fm->grid[at] = fm->grid[at - x->nvariants]; /* carry the running total forward */
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

/* CUPED needs covariate sums: without them (fm->no_covariate) fm is compared without it. */
static struct results_params metric_params(const struct fam_metric *fm,
                                           const struct results_params *p)
{
    struct results_params q = *p;
    q.cuped = p->cuped && !fm->no_covariate;
    return q;
}

/* The members of x's family as results_compute_doc lists them (metrics, then guardrails, each
 * once), then metric when it is none of them (only a ratio's part: a family of its own,
 * *alone). The keys are x's or metric (borrowed); returns how many; *target: metric's index. */
static size_t family_list(const struct experiment *x, const char *metric, const char **keys,
                          bool *guardrail, size_t *target, bool *alone)
{
    size_t nm = x->nmetrics + x->nguardrails, n = 0;
    *target = (size_t)-1;
    *alone = false;
    for (size_t k = 0; k <= nm; k++) {
        const char *key = k == nm            ? metric
                          : k >= x->nmetrics ? x->guardrails[k - x->nmetrics]
                                             : x->metrics[k];
        bool listed = false; /* a guardrail that is also a metric is reported once */
        for (size_t j = 0; j < n; j++) {
            listed = listed || strcmp(keys[j], key) == 0;
        }
        if (listed) {
            continue;
        }
        keys[n] = key;
        guardrail[n] = k < nm && experiment_is_guardrail(x, key);
        if (strcmp(key, metric) == 0) {
            *target = n;
            *alone = k == nm;
        }
        n++;
    }
    return n;
}

/* The p-values of every member of the family but the target, per day (o->pv), one member's
 * days read at a time. */
static int others_read(struct store *s, struct series *se, const char **keys, const bool *guardrail,
                       size_t n, size_t target, const struct results_params *p, struct others *o,
                       struct err *err)
{
    const struct experiment *x = se->x;
    size_t per = 2 * (x->nvariants - 1);
    o->nslot = per * (n - 1);
    o->before = per * target;
    o->pv = xcalloc(se->ndays * o->nslot + 1, sizeof(*o->pv));
    for (size_t k = 0, slot = 0; k < n; k++) {
        if (k == target) {
            continue;
        }
        struct fam_metric fm;
        int rc = metric_days(s, se, keys[k], guardrail[k], &fm, err);
        struct results_params q = metric_params(&fm, p);
        for (size_t d = 0; rc == 0 && d < se->ndays; d++) {
            struct arms a;
            day_arms(se, &fm, d, &a);
            rc = results_metric_pvalues(x, &fm.m, &a, &q, &o->pv[d * o->nslot + slot], err);
        }
        if (fm.unavailable == NULL && fm.early_unavailable != NULL) {
            o->gap = fm.early_unavailable;
        }
        metric_days_free(&fm);
        if (rc != 0) {
            return -1;
        }
        slot += per;
    }
    return 0;
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

static void warning_add(json_t *v, const char *why)
{
    const char *had = json_string_value(json_object_get(v, "warning"));
    char w[STATS_WARNING_MAX];
    snprintf(w, sizeof(w), "%s", had != NULL ? had : "");
    stats_warning_add(w, why);
    json_object_set_new(v, "warning", json_string(w));
}

/* A day on which a member of the family has no statistics that the last day has (a ratio
 * while a rebuild runs): adjusting over the smaller family would give values that change once
 * the rebuild ends, so the treatment v's adjusted values are null, with why. */
static void adjusted_withheld(json_t *v, const char *why)
{
    json_t *abs = json_object_get(v, "absolute_lift"), *rel = json_object_get(v, "relative_lift");
    json_object_set_new(v, "p_value_adjusted", json_null());
    json_object_set_new(v, "verdict", json_string("none"));
    json_object_set_new(rel, "p_value_adjusted", json_null());
    json_object_set_new(rel, "significant", json_null());
    json_object_set_new(abs, "ci_adjusted", json_null());
    json_object_set_new(rel, "ci_adjusted", json_null());
    char w[STATS_WARNING_MAX];
    snprintf(w, sizeof(w), "no adjusted values for this day: %s (a member of the family)", why);
    warning_add(v, w);
}

#define NO_COVARIATE_WARNING                                                                       \
    "CUPED not applied: this archived experiment's daily sums were stored before they kept the "   \
    "covariate (migration 0016) and its users' values were compacted"

/* Day d: the target compared, its family (the others' p-values) adjusted; its variants. */
static json_t *day_json(const struct series *se, const struct fam_metric *fm,
                        const struct others *o, size_t d, const struct results_params *p,
                        struct err *err)
{
    const struct experiment *x = se->x;
    struct family fam;
    results_family_init(&fam, o->nslot / 2 + x->nvariants);
    const struct stats_opt *pv = &o->pv[d * o->nslot];
    for (size_t j = 0; j < o->before; j += 2) {
        results_family_add_pvalues(&fam, pv[j], pv[j + 1]);
    }
    struct arms a;
    day_arms(se, fm, d, &a);
    struct results_params q = metric_params(fm, p);
    json_t *mj = results_metric_json(x, &fm->m, fm->guardrail, &a, &q, true, &fam, err);
    json_t *vars = NULL;
    if (mj == NULL) {
        goto out;
    }
    for (size_t j = o->before; j < o->nslot; j += 2) {
        results_family_add_pvalues(&fam, pv[j], pv[j + 1]);
    }
    bool gap = o->gap != NULL && d + 1 < se->ndays && p->correction != STATS_CORRECTION_NONE;
    if (results_family_finish(&fam, p, err) != 0) {
        goto out;
    }
    vars = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(mj, "variants"), i, v)
    {
        if (i > 0 && gap) {
            adjusted_withheld(v, o->gap);
        }
        if (i > 0 && fm->no_covariate && p->cuped) {
            warning_add(v, NO_COVARIATE_WARNING);
        }
        json_array_append_new(vars, day_variant(v));
    }
out:
    json_decref(mj);
    results_family_free(&fam);
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
    size_t cap = x->nmetrics + x->nguardrails + 1;
    const char **keys = xcalloc(cap, sizeof(*keys));
    bool *guardrail = xcalloc(cap, sizeof(*guardrail));
    size_t target;
    bool alone; /* the metric is only a ratio's part: a family of its own */
    size_t n = family_list(x, metric, keys, guardrail, &target, &alone);
    struct fam_metric fm = {0};
    struct others o = {0};
    json_t *days = NULL;
    if (p->correction != STATS_CORRECTION_NONE && !alone && n > 1) {
        if ((double)se.ndays * (double)n * (double)x->nvariants > SERIES_WORK_MAX) {
            err_set(err, ERR_TOO_LARGE, "correction",
                    "a corrected time series of this experiment is too large (days x metrics "
                    "and guardrails x variants over 1,000,000): use correction=none, or the "
                    "results");
            goto out;
        }
        if (others_read(s, &se, keys, guardrail, n, target, p, &o, err) != 0) {
            goto out;
        }
    }
    if (metric_days(s, &se, metric, guardrail[target], &fm, err) != 0) {
        goto out;
    }
    days = json_array();
    for (size_t d = 0; d < se.ndays; d++) {
        json_t *vars = day_json(&se, &fm, &o, d, p, err);
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
    metric_days_free(&fm);
    free(o.pv);
    free(keys);
    free(guardrail);
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
    json_t *res =
        results_timeseries(http_req_app(r)->store, &x, http_req_query(r, "metric"), &p, &err);
    if (res == NULL) {
        http_reply_err(r, &err);
    } else {
        results_reply_doc(r, &x, res, results_timeseries_to_csv, "timeseries");
    }
    experiment_clear(&x);
}
