/*
 * results.h - experiment results from the stored sufficient statistics: the JSON of API.md
 * "Results", its CSV form, the daily time series and sample-size planning. Shared by the
 * HTTP handlers (src/api/results*.c) and `bunsen results` (src/cli.c).
 * Thread-safety: any thread (reads through the calling thread's store connection).
 */
#ifndef BUNSEN_RESULTS_H
#define BUNSEN_RESULTS_H

#include <jansson.h>

#include "bunsen/err.h"
#include "bunsen/model.h"
#include "bunsen/stats.h"
#include "bunsen/store.h"

struct results_params {
    enum stats_method method;
    double alpha;
    bool cuped;
    enum stats_correction correction;
};

/* The experiment's stored analysis defaults. */
void results_params_default(const struct experiment *x, struct results_params *p);

/* Parse method/alpha/cuped/correction strings (NULL = keep the value in p). Returns 0, or
 * -1 with ERR_INVALID naming the parameter. */
int results_params_parse(struct results_params *p, const char *method, const char *alpha,
                         const char *cuped, const char *correction, struct err *err);

/* One variant's stored double-double sums (store_suff) as a stats arm about its own
 * means (shifted sums, STATS.md "Numerics"); binomial keeps y unshifted. Pure. */
void results_arm_from_suff(const struct store_suff *st, bool binomial, struct stats_arm *out);

/* The results document of API.md for experiment x (new reference), or NULL with err. */
json_t *results_compute(struct store *s, const struct experiment *x, const struct results_params *p,
                        struct err *err);

/* Slices of a dimension breakdown: the most frequent values, the rest as STORE_DIM_OTHER. */
#define RESULTS_SLICES_MAX 20

/* The results broken down by one of x's dimensions (API.md "Results, v1.1"): per value (the
 * RESULTS_SLICES_MAX with most exposed users; the others and the values past the recording cap
 * together as STORE_DIM_OTHER) a results document as results_compute's, with its own SRM, in
 * "slices"; one multiple-comparison family over every slice's (metric, treatment) p-values.
 * Ratio metrics from their parts' per-user values (store_users_page with the dimension);
 * "metrics_not_broken_down" stays, empty. ERR_INVALID (field "dimension") for a dimension x
 * does not list. New reference or NULL with err. */
json_t *results_breakdown(struct store *s, const struct experiment *x, const char *dimension,
                          const struct results_params *p, struct err *err);

/* A text cell of a CSV export into out: prefixed with ' when it starts with = + - @ tab or
 * CR, which spreadsheets run as a formula (user ids, dimension values and names come from
 * outside). Numbers are never passed through it. */
void results_csv_text_cell(const char *text, char *out, size_t n);
/* Whether a text cell starts like a formula (= + - @ tab CR): the test of both exports. */
bool results_csv_formula_start(const char *text);

/* CSV of a results document: header row, then one row per metric x variant (per slice
 * under a dimension breakdown) carrying every field of the JSON, RFC 4180 quoting, CRLF
 * line ends. Returns a malloc'd string. */
char *results_to_csv(const json_t *results);

/* CSV of a time series document (results_timeseries): one row per day x variant. malloc'd. */
char *results_timeseries_to_csv(const json_t *timeseries);

/* A human-readable aligned table of a results document (for terminals); of a breakdown
 * (results_breakdown), each slice's table under a "== DIMENSION = VALUE" heading. malloc'd. */
char *results_to_table(const json_t *results);

/* Cumulative daily series for one metric (API "timeseries"), or NULL with err
 * (ERR_INVALID field "metric" when the experiment does not use it). */
json_t *results_timeseries(struct store *s, const struct experiment *x, const char *metric,
                           const struct results_params *p, struct err *err);

/* POST /power: the request object -> {"users_per_variant", "total_users", "days"}. */
json_t *results_power(const json_t *req, struct err *err);

#endif
