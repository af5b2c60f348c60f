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

/* ---- time series ---- */

struct series {
    const struct experiment *x;
    int64_t first_day, last_day;
    size_t ndays;
    bool binomial;          /* conversions stay unshifted counts */
    struct stats_arm *grid; /* ndays x nvariants running totals (row = day) */
    bool *set;
};

static void daily_emit(void *ctx, int64_t day, const struct store_suff *st)
{
    struct series *se = ctx;
    int i = experiment_variant_index(se->x, st->variant);
    if (i < 0) {
        return;
    }
    /* Totals arrive in day order; days before the start (exposures timestamped earlier)
     * fold into the first row, days after the end into the last. */
    int64_t d = day < se->first_day ? se->first_day : day > se->last_day ? se->last_day : day;
    size_t row = (size_t)(d - se->first_day);
    /* about the running mean, as the results do (STATS.md numerics) */
    results_arm_from_suff(st, se->binomial, &se->grid[row * se->x->nvariants + (size_t)i]);
    se->set[row * se->x->nvariants + (size_t)i] = true;
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
    struct series se = {.x = x,
                        .binomial = m.type == STATS_METRIC_BINOMIAL,
                        .first_day = start / DAY_MS,
                        .last_day = end / DAY_MS};
    if (se.last_day < se.first_day) {
        se.last_day = se.first_day;
    }
    if (se.last_day - se.first_day > 3660) {
        se.first_day = se.last_day - 3660; /* ten years of days is plenty */
    }
    se.ndays = (size_t)(se.last_day - se.first_day + 1);
    se.grid = xcalloc(se.ndays * x->nvariants, sizeof(*se.grid));
    se.set = xcalloc(se.ndays * x->nvariants, sizeof(*se.set));
    json_t *days = NULL;
    if (results_rollup_daily(s, x, &m, daily_emit, &se, err) != 0) {
        goto out;
    }
    struct stats_config cfg;
    stats_config_default(&cfg);
    cfg.type = m.type;
    cfg.goal = m.goal;
    cfg.method = p->method;
    cfg.alpha = p->alpha;
    cfg.sequential_tuning = x->sequential_tuning;
    cfg.lifts_only = true; /* a day shows its lifts: no posterior comparison per day */
    days = json_array();
    for (size_t d = 0; d < se.ndays; d++) {
        json_t *vars = json_array();
        for (size_t i = 0; i < x->nvariants; i++) {
            size_t at = d * x->nvariants + i;
            if (!se.set[at] && d > 0) {
                se.grid[at] = se.grid[at - x->nvariants]; /* carry the running total forward */
            }
            const struct stats_arm *arm = &se.grid[at];
            struct stats_moments mo;
            if (stats_arm_moments(m.type, arm, &mo, err) != 0) {
                json_decref(vars);
                json_decref(days);
                days = NULL;
                goto out;
            }
            json_t *v = json_pack("{s:s, s:I, s:o}", "key", x->variants[i].key, "users",
                                  (json_int_t)arm->n, "mean", results_json_opt(mo.mean));
            if (i > 0) {
                struct stats_comparison c;
                if (stats_compare(&cfg, &se.grid[d * x->nvariants], arm, &c, err) != 0) {
                    json_decref(v);
                    json_decref(vars);
                    json_decref(days);
                    days = NULL;
                    goto out;
                }
                json_object_set_new(v, "absolute_lift", results_json_lift(&c.absolute, false));
                json_object_set_new(v, "relative_lift", results_json_lift(&c.relative, false));
                if (c.warning[0] != '\0') { /* each null says why (STATS.md) */
                    json_object_set_new(v, "warning", json_string(c.warning));
                }
            }
            json_array_append_new(vars, v);
        }
        char date[48];
        day_name(se.first_day + (int64_t)d, date, sizeof(date));
        json_array_append_new(days, json_pack("{s:s, s:o}", "date", date, "variants", vars));
    }
out:
    free(se.grid);
    free(se.set);
    if (days == NULL) {
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:f, s:o}", "experiment", x->key, "metric", metric, "method",
                     stats_method_name(p->method), "alpha", p->alpha, "days", days);
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
    if (results_params_parse(&p, http_req_query(r, "method"), http_req_query(r, "alpha"), NULL,
                             NULL, &err) != 0 ||
        (res = results_timeseries(http_req_app(r)->store, &x, http_req_query(r, "metric"), &p,
                                  &err)) == NULL) {
        http_reply_err(r, &err);
    } else {
        results_reply_doc(r, &x, res, results_timeseries_to_csv, "timeseries");
    }
    experiment_clear(&x);
}
