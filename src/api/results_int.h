/*
 * results_int.h - private to the results files of src/api/ (results.c and results_*.c): the
 * pieces that the normal results, the dimension breakdown, the time series, power and the
 * per-user export share. Thread-safety: as results.h (any thread, its own store reader);
 * nothing here keeps state between calls.
 */
#ifndef BUNSEN_RESULTS_INT_H
#define BUNSEN_RESULTS_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_int.h"
#include "bunsen/ddouble.h"
#include "bunsen/results.h"

#define DAY_MS 86400000LL

/* An optional statistic as JSON: its value, or null (new reference). */
json_t *results_json_opt(struct stats_opt o);
/* A lift object {estimate, se, ci[, p_value]} (new reference). */
json_t *results_json_lift(const struct stats_lift *l, bool with_p);
/* Load a metric definition (reader connection) as experiment's results read it (results.c;
 * experiment NULL: today's). *unknown: experiment's rebuild kept its roll-ups with
 * definitions nobody recorded (store_rebuild_metric_get 2): m is today's definition, which
 * its kept roll-ups must not be read with. Returns 0 or -1 with err. */
int results_load_metric_kept(struct store *s, const char *experiment, const char *key,
                             struct metric *m, bool *unknown, struct err *err);
/* results_load_metric_kept, failing with ERR_UNAVAILABLE (503) when the definitions are
 * unknown (the time series: no statistics to show until the rebuild ends). */
int results_load_metric(struct store *s, const char *experiment, const char *key, struct metric *m,
                        struct err *err);
/* Whether key has per-user values and daily roll-ups for experiment x: one of its metrics or
 * guardrails, or the numerator or denominator of a ratio among them (the export and the
 * time series of a ratio's data). 1 yes, 0 no, -1 with err. */
int results_metric_recorded(struct store *s, const struct experiment *x, const char *key,
                            struct err *err);
/* The per-user value as STATS.md defines it from the raw value (binomial 0/1, cap). */
double results_user_value(const struct metric *m, double raw);
/* Add one user's ratio parts (num_raw, den_raw: the numerator's and denominator's stored
 * values, transformed here as results_user_value) to st: n, s/q the numerator's sum and sum
 * of squares, sx/qx the denominator's, p their cross product, all double-doubles. */
void results_ratio_add(struct store_suff *st, const struct metric *num, const struct metric *den,
                       double num_raw, double den_raw);
/* Every exposed user of x (first exposure before its stop) with the stored values of the
 * ratio's parts num and den, one store_users_page page at a time; with dimension, only the
 * users with a recorded value of it (row->dim_value). 0, or -1 with err. */
int results_ratio_scan(struct store *s, const struct experiment *x, const struct metric *num,
                       const struct metric *den, const char *dimension,
                       void (*emit)(void *ctx, const struct store_user_row *row), void *ctx,
                       struct err *err);
/* A ratio metric's sums per (value, variant): v[k].st[i] for x's variant i (its name in
 * st[i].variant); one value "" for the whole experiment. */
struct results_ratio_value {
    char value[STORE_DIM_VALUE_MAX + 1];
    struct store_suff st[ASSIGN_MAX_VARIANTS];
};
struct results_ratio_sums {
    const struct experiment *x;
    const struct metric *num, *den;
    bool by_value;
    struct results_ratio_value *v;
    size_t n, alloc, last;
};
void results_ratio_sums_free(struct results_ratio_sums *r);
/* The sums from the users' stored values as they are now (results_ratio_scan): for the whole
 * experiment (dimension NULL; every variant present) or per value of dimension. */
int results_ratio_live(struct store *s, const struct experiment *x, const struct metric *num,
                       const struct metric *den, const char *dimension,
                       struct results_ratio_sums *out, struct err *err);
/* The last complete sums of ratio metric m (its parts loaded here): live, or kept through a
 * rebuild (store_rebuild_ratio_read). *unavailable NULL, or why they cannot be read (the
 * metric's warning, its statistics null): neither source holds them
 * (RESULTS_RATIO_REBUILDING), or an archived experiment's per-user values were removed by a
 * `bunsen compact` before it kept them for ratios (RESULTS_RATIO_COMPACTED). Free out
 * after 0. */
int results_ratio_sums(struct store *s, const struct experiment *x, const struct metric *m,
                       const char *dimension, struct results_ratio_sums *out,
                       const char **unavailable, struct err *err);
#define RESULTS_RATIO_COMPACTED                                                                    \
    "this archived experiment's per-user values were removed by `bunsen compact` of an "           \
    "earlier version, and a ratio metric is computed from them (it has no roll-up): its "          \
    "statistics cannot be shown"
#define RESULTS_RATIO_REBUILDING                                                                   \
    "a definition change is being applied and this ratio's last complete sums were not kept: "     \
    "its statistics return when the rebuild ends"
/* A metric of a rebuild begun by a version that did not record the definitions its kept
 * roll-ups were built with (store_rebuild_metric_get 2). */
#define RESULTS_KEPT_UNKNOWN                                                                       \
    "a definition change begun by an earlier version of Bunsen is being applied, which did "       \
    "not record the definition this metric's last complete statistics were computed with: its "    \
    "statistics return when the rebuild ends"
/* Stored sums that the metric's definition cannot hold (a count above the users for a
 * binomial metric): reported without statistics, the details in the log. */
#define RESULTS_SUMS_MISFIT                                                                        \
    "the statistics stored for this metric do not fit its definition (the server log says "        \
    "why): none are shown"

/* Add a double-double to the double-double (*hi, *lo). */
void results_dd_acc(double *hi, double *lo, struct dd add);
/* Add the stored sums b to a (n, the double-double sums, hwm the larger): a PostgreSQL key's
 * rows (one per daemon slot), or a series' running totals (results_exact.c). */
void results_suff_merge(struct store_suff *a, const struct store_suff *b);

/* ---- the roll-ups as results read them (results_exact.c) ----
 * store_rollup_read, store_rollup_daily and store_slice_read of metric m of x, unless a stored
 * row's sums lost the precision results need to a value that came and went (its hwm,
 * results_sums_trusted): then every row of the read is summed from the users' stored values
 * instead (each user's value, transformed as results_user_value), exactly as a rebuild would
 * store it, and a rebuild of x's roll-ups is asked for (a writer job; none without a writer).
 * The emits are those of the store's reads (the slices' rows one per (value, variant)).
 * An archived experiment's rows are served as stored (compaction may have removed its users'
 * values), but its daily rows written before migration 0016, which have no covariate sums, are
 * summed from its users' values while those are all there; else they are served and
 * results_rollup_daily's *no_covariate is set (CUPED cannot be applied to them).
 * 0, or -1 with err. */
int results_rollup_read(struct store *s, const struct experiment *x, const struct metric *m,
                        void (*emit)(void *ctx, const struct store_suff *st), void *ctx,
                        struct err *err);
int results_rollup_daily(struct store *s, const struct experiment *x, const struct metric *m,
                         void (*emit)(void *ctx, int64_t day, const struct store_suff *st),
                         void *ctx, bool *no_covariate, struct err *err);
int results_slice_read(struct store *s, const struct experiment *x, const struct metric *m,
                       const char *dimension,
                       void (*emit)(void *ctx, const char *value, const struct store_suff *st),
                       void *ctx, struct err *err);
/* Whether stored sums st hold the users' sums to the precision results need: their hwm is
 * within a small factor of their sums now, or far enough below their centred sums
 * (docs/STATISTICS.md "Numerics"). */
bool results_sums_trusted(const struct store_suff *st);

/* What one member's adjusted intervals are computed from (results_family_finish). */
struct family_member {
    struct stats_lift abs, rel; /* the comparison's lifts: estimates, intervals, df */
    double users;               /* nA + nB, the sequential interval's n */
    double tuning;              /* the experiment's sequential N* */
};

/* The multiple-comparison family of one response (STATS.md "Multiple comparisons"): every
 * (metric, treatment) p-value of it (under a breakdown: of every slice), absolute p-values
 * in p[0..cap), relative ones in p[cap..2 cap); refs: the variant objects to fill; member:
 * each one's lifts, for the adjusted intervals. */
struct family {
    struct stats_opt *p;
    json_t **refs;
    bool *decrease;
    struct family_member *member;
    size_t cap, n;
};

/* Room for cap p-values (of each kind); free with results_family_free. */
void results_family_init(struct family *f, size_t cap);
void results_family_free(struct family *f);
/* Adjust both families and fill p_value_adjusted, significant, verdict and, under a
 * correction, each lift's ci_adjusted (the interval shown beside the verdict). */
int results_family_finish(struct family *f, const struct results_params *p, struct err *err);

/* One value of a dimension breakdown: its exposed users and, per metric k (metrics, then
 * guardrails) and variant i, its statistics suff[k * nvariants + i]. */
struct slice {
    char value[STORE_DIM_VALUE_MAX + 1];
    int64_t users[ASSIGN_MAX_VARIANTS];
    int64_t total;
    struct store_suff *suff;
    const char *const *ratio_unavailable; /* per metric k: why a ratio is not available */
};

/* The statistics inputs of one metric, one per variant (results.c fills them from the
 * roll-ups or, for a ratio metric, the per-user sums). */
struct arms {
    const struct experiment *x;
    bool binomial; /* conversions stay unshifted counts */
    struct stats_arm arm[ASSIGN_MAX_VARIANTS];
    bool ratio; /* a ratio metric: rarm instead of arm */
    /* why the metric has no statistics (a warning), or NULL: a ratio whose last complete
     * sums cannot be read (a rebuild), kept roll-ups of unknown definitions, a misfit */
    const char *unavailable;
    struct stats_ratio_arm rarm[ASSIGN_MAX_VARIANTS];
    double num_sum[ASSIGN_MAX_VARIANTS], den_sum[ASSIGN_MAX_VARIANTS];
};

/* A ratio metric's arms from st[i], x's variant i: results_ratio_add's sums (a->x set). */
void results_ratio_arms_from_suff(const struct store_suff *st, struct arms *a);
/* Stored sums that m's definition cannot hold (kept roll-ups read with a definition they were
 * not built with, a damaged row): a's arms zeroed and a->unavailable RESULTS_SUMS_MISFIT,
 * the details logged (sl: the slice, or NULL). */
void results_arms_fit(const struct experiment *x, const struct metric *m, const struct slice *sl,
                      struct arms *a);
/* One metric's block of the results (its variants, lifts, p-values, CUPED) from arms a under
 * p; appends each treatment (its p-values, lifts, variant object) to the family fam, whose
 * results_family_finish fills the rest. lifts_only: no posterior comparison (the time series'
 * days). New reference, or NULL with err. */
json_t *results_metric_json(const struct experiment *x, const struct metric *m, bool guardrail,
                            const struct arms *a, const struct results_params *p, bool lifts_only,
                            struct family *fam, struct err *err);

/* The p-values results_metric_json would give m's treatments under p with lifts_only (the
 * time series' other family members: no JSON): out[2 (i - 1)] the absolute, out[2 (i - 1) + 1]
 * the relative one of x's variant i >= 1. 0, or -1 with err. */
int results_metric_pvalues(const struct experiment *x, const struct metric *m, const struct arms *a,
                           const struct results_params *p, struct stats_opt *out, struct err *err);
/* Append to fam a member that only counts toward the correction (its refs NULL: nothing to
 * fill): a treatment's absolute and relative p-values. */
void results_family_add_pvalues(struct family *fam, struct stats_opt abs, struct stats_opt rel);

/* "decision" (API.md "Results, v1.1") for metric m with arms a and the exposed users per
 * variant: the users needed at the experiment's mde, alpha and power 0.8 for the reply's
 * method (sequential needs more users; the others share the fixed-sample plan), the
 * progress and the days left. New reference. */
json_t *results_decision_json(const struct experiment *x, const struct metric *m,
                              const struct arms *a, const int64_t *users, enum stats_method method);

/* One results document: of the whole experiment (sl NULL) or of one slice (a ratio metric's
 * suff holding results_ratio_add's sums). The treatments' p-values join fam; the caller finishes
 * the family. New reference, or NULL with err. */
json_t *results_compute_doc(struct store *s, const struct experiment *x,
                            const struct results_params *p, const struct slice *sl,
                            struct family *fam, struct err *err);
/* While a definition change is being applied, add "rebuilding" (progress) to result (may
 * be NULL: nothing). */
void results_add_rebuilding(struct store *s, const struct experiment *x, json_t *result);

/* Copy of the experiment {key} from the snapshot (the definition /assign uses) into x, or
 * a 404 reply and -1. The caller clears x (experiment_clear) after 0. */
int results_experiment_of(struct http_req *r, struct experiment *x);
/* Whether the reply should be CSV: ?format=csv, else an Accept that prefers text/csv to
 * application/json (http_req_accept_pick: q-values, then the more specific range). */
bool results_wants_csv(struct http_req *r);
/* The start of the results handlers (results, timeseries): ?format must be json or csv
 * (else a 400 reply), the experiment {key} into x (results_experiment_of: else a 404 reply),
 * p set to its defaults and then to ?method, ?alpha, ?cuped and ?correction
 * (results_params_parse: else its error's reply). 0, or -1 after replying. After 0 the caller
 * clears x. */
int results_request_begin(struct http_req *r, struct experiment *x, struct results_params *p);
/* Reply 200 with doc (takes it): CSV rendered by to_csv, as the attachment
 * "<experiment>-<name>.csv", when results_wants_csv, else the JSON document; with
 * "Vary: Accept" when no ?format chose. */
void results_reply_doc(struct http_req *r, const struct experiment *x, json_t *doc,
                       char *(*to_csv)(const json_t *), const char *name);

#endif
