/*
 * results_render.c - a results document as CSV (RFC 4180, for spreadsheets) and as an
 * aligned text table (for `bunsen results` on a terminal) (results.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/jsonw.h"
#include "bunsen/results.h"
#include "bunsen/util.h"

#define RENDER_CAP (64u << 20)

static void csv_field(struct buf *b, const char *s)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    if (!quote) {
        buf_append(b, s, strlen(s));
        return;
    }
    buf_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"') {
            buf_append(b, "\"\"", 2);
        } else {
            buf_append(b, p, 1);
        }
    }
    buf_append(b, "\"", 1);
}

bool results_csv_formula_start(const char *text)
{
    /* a spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV
     * injection"): user ids and dimension values come from any sdk key. A plain number
     * ("-7", "+1.5e3": nothing a formula could do) keeps its text */
    if (text[0] == '\0' || strchr("=+-@\t\r", text[0]) == NULL) {
        return false;
    }
    char *end = NULL;
    double v = strtod(text, &end);
    bool number = end != text && *end == '\0' && isfinite(v) && text[1] >= '.' && text[1] <= '9';
    return !number;
}

void results_csv_text_cell(const char *text, char *out, size_t n)
{
    snprintf(out, n, "%s%s", results_csv_formula_start(text) ? "'" : "", text);
}

/* A JSON scalar as CSV/table text: null -> "". */
static void scalar_text(const json_t *v, char *out, size_t n)
{
    if (json_is_string(v)) {
        snprintf(out, n, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        /* the shortest text that reads back as the same double, as in the JSON */
        if (jsonw_real_text(out, n, json_real_value(v)) < 0) {
            out[0] = '\0';
        }
    } else if (json_is_boolean(v)) {
        snprintf(out, n, "%s", json_is_true(v) ? "true" : "false");
    } else {
        out[0] = '\0';
    }
}

static const json_t *path(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    return b ? json_object_get(v, b) : v;
}

static const json_t *ci_part(const json_t *lift, size_t i)
{
    return json_array_get(json_object_get(lift, "ci"), i);
}

/* An end of a lift's ci_adjusted that is unbounded (the array is there, the end null) reads
 * "-inf" / "inf" (as strtod and spreadsheets' importers read them): true and out filled. */
static bool ci_adjusted_unbounded(const json_t *lift, size_t i, char *out, size_t n)
{
    const json_t *ci = json_object_get(lift, "ci_adjusted");
    if (!json_is_array(ci) || !json_is_null(json_array_get(ci, i))) {
        return false;
    }
    snprintf(out, n, "%s", i == 0 ? "-inf" : "inf");
    return true;
}

/* Where a column's value lives. */
enum scope {
    SC_RESULT,   /* top-level field of the results document (a, b = nested) */
    SC_TOP,      /* top-level field of the response: a breakdown's, not its slice's */
    SC_METRIC,   /* the metric block */
    SC_VARIANT,  /* the metric's variant entry */
    SC_ARM,      /* variants[variant index].a: the document's list of variants */
    SC_TOP_ARM,  /* the response's variants[variant index].a (a breakdown's) */
    SC_CI,       /* variant.a.ci[idx] */
    SC_CI_ADJ,   /* variant.a.ci_adjusted[idx] (an unbounded end: -inf, inf) */
    SC_SRM,      /* srm.a[variant index] (idx 1) or srm.a (idx 0) */
    SC_DECISION, /* decision.a, on the decision metric's rows only */
};

struct column {
    const char *name;
    enum scope scope;
    const char *a, *b;
    size_t idx;
};

/*
 * Every field of the results JSON, one row per metric x variant. The first 21 columns keep
 * the order of the first CSV release (spreadsheets address them by position); the rest were
 * appended, and new ones are appended after them. Top-level, SRM, decision and rebuild
 * fields repeat on each row so a row stands alone. Carried by another column:
 * decision.metric (the decision columns are filled on that metric's rows only),
 * variants[].key and variants[].users (variant, srm_observed). Left out: computed_at (the
 * request's clock, not a result: the same results give the same CSV bytes) and a
 * breakdown's metrics_not_broken_down (always empty). tests/api/results_csv.c checks every
 * field of real documents against these columns.
 */
static const struct column columns[] = {
    {"experiment", SC_RESULT, "experiment", NULL, 0},
    {"metric", SC_METRIC, "key", NULL, 0},
    {"type", SC_METRIC, "type", NULL, 0},
    {"goal", SC_METRIC, "goal", NULL, 0},
    {"variant", SC_VARIANT, "key", NULL, 0},
    {"users", SC_VARIANT, "users", NULL, 0},
    {"mean", SC_VARIANT, "mean", NULL, 0},
    {"stddev", SC_VARIANT, "stddev", NULL, 0},
    {"sum", SC_VARIANT, "sum", NULL, 0},
    {"absolute_lift", SC_VARIANT, "absolute_lift", "estimate", 0},
    {"absolute_ci_low", SC_CI, "absolute_lift", NULL, 0},
    {"absolute_ci_high", SC_CI, "absolute_lift", NULL, 1},
    {"relative_lift", SC_VARIANT, "relative_lift", "estimate", 0},
    {"relative_ci_low", SC_CI, "relative_lift", NULL, 0},
    {"relative_ci_high", SC_CI, "relative_lift", NULL, 1},
    {"p_value", SC_VARIANT, "p_value", NULL, 0},
    {"p_value_adjusted", SC_VARIANT, "p_value_adjusted", NULL, 0},
    {"significant", SC_VARIANT, "significant", NULL, 0},
    {"chance_to_beat_control", SC_VARIANT, "chance_to_beat_control", NULL, 0},
    {"expected_loss", SC_VARIANT, "expected_loss", NULL, 0},
    {"warning", SC_VARIANT, "warning", NULL, 0},
    /* appended in v1.1 */
    {"metric_name", SC_METRIC, "name", NULL, 0},
    {"guardrail", SC_METRIC, "guardrail", NULL, 0},
    {"absolute_se", SC_VARIANT, "absolute_lift", "se", 0},
    {"relative_se", SC_VARIANT, "relative_lift", "se", 0},
    {"relative_p_value", SC_VARIANT, "relative_lift", "p_value", 0},
    {"relative_p_value_adjusted", SC_VARIANT, "relative_lift", "p_value_adjusted", 0},
    {"relative_significant", SC_VARIANT, "relative_lift", "significant", 0},
    {"verdict", SC_VARIANT, "verdict", NULL, 0},
    {"df", SC_VARIANT, "df", NULL, 0},
    {"z", SC_VARIANT, "z_test", "z", 0},
    {"z_p_value", SC_VARIANT, "z_test", "p_value", 0},
    {"cuped_theta", SC_VARIANT, "cuped", "theta", 0},
    {"cuped_variance_reduction", SC_VARIANT, "cuped", "variance_reduction", 0},
    {"status", SC_RESULT, "status", NULL, 0},
    {"method", SC_RESULT, "method", NULL, 0},
    {"alpha", SC_RESULT, "alpha", NULL, 0},
    {"cuped", SC_RESULT, "cuped", NULL, 0},
    {"correction", SC_RESULT, "correction", NULL, 0},
    {"always_valid", SC_RESULT, "always_valid", NULL, 0},
    {"frozen_at", SC_RESULT, "frozen_at", NULL, 0},
    {"dimension", SC_RESULT, "dimension", NULL, 0},
    {"dimension_value", SC_RESULT, "dimension_value", NULL, 0},
    {"conflicting_exposures", SC_RESULT, "data_quality", "conflicting_exposures", 0},
    {"srm_chi2", SC_SRM, "chi2", NULL, 0},
    {"srm_p_value", SC_SRM, "p_value", NULL, 0},
    {"srm_mismatch", SC_SRM, "mismatch", NULL, 0},
    {"srm_observed", SC_SRM, "observed", NULL, 1},
    {"srm_expected", SC_SRM, "expected", NULL, 1},
    {"srm_warning", SC_SRM, "warning", NULL, 0},
    {"decision_mde", SC_DECISION, "mde", NULL, 0},
    {"decision_power", SC_DECISION, "power", NULL, 0},
    {"decision_users_needed_per_variant", SC_DECISION, "users_needed_per_variant", NULL, 0},
    {"decision_users_so_far", SC_DECISION, "users_so_far", NULL, 0},
    {"decision_progress", SC_DECISION, "progress", NULL, 0},
    {"decision_days_running", SC_DECISION, "days_running", NULL, 0},
    {"decision_users_per_day", SC_DECISION, "users_per_day", NULL, 0},
    {"decision_days_left", SC_DECISION, "days_left", NULL, 0},
    {"decision_warning", SC_DECISION, "warning", NULL, 0},
    {"metric_warning", SC_METRIC, "warning", NULL, 0}, /* a ratio during a rebuild */
    /* appended later: fields of the JSON the columns above had left out */
    {"variant_name", SC_ARM, "name", NULL, 0},
    {"numerator", SC_METRIC, "numerator", NULL, 0}, /* ratio metrics */
    {"denominator", SC_METRIC, "denominator", NULL, 0},
    {"denominator_sum", SC_VARIANT, "denominator_sum", NULL, 0},
    {"decision_alpha", SC_DECISION, "alpha", NULL, 0}, /* the experiment's, not ?alpha */
    {"decision_users_smallest_variant", SC_DECISION, "users_smallest_variant", NULL, 0},
    {"values_total", SC_TOP, "values_total", NULL, 0}, /* a breakdown */
    {"rebuilding_progress", SC_TOP, "rebuilding", "progress", 0},
    {"rebuilding_users_done", SC_TOP, "rebuilding", "users_done", 0},
    {"rebuilding_users_total", SC_TOP, "rebuilding", "users_total", 0},
    /* under a correction, the intervals of the adjusted p-values (empty without one) */
    {"absolute_ci_adjusted_low", SC_CI_ADJ, "absolute_lift", NULL, 0},
    {"absolute_ci_adjusted_high", SC_CI_ADJ, "absolute_lift", NULL, 1},
    {"relative_ci_adjusted_low", SC_CI_ADJ, "relative_lift", NULL, 0},
    {"relative_ci_adjusted_high", SC_CI_ADJ, "relative_lift", NULL, 1},
    /* a breakdown: the variant's users exposed before the dimension was listed */
    {"users_not_recorded", SC_TOP_ARM, "users_not_recorded", NULL, 0},
    {"decision_mde_relative", SC_DECISION, "mde_relative", NULL, 0}, /* always true */
    {"decision_planned_for", SC_DECISION, "planned_for", NULL, 0},   /* fixed_sample|sequential */
};
#define NCOLS    (sizeof(columns) / sizeof(columns[0]))
#define CELL_MAX 400

/* The JSON value of column c for variant v (index vi) of metric m of results document res
 * (a slice of the response top, or top itself), or NULL. */
static const json_t *column_value(const struct column *c, const json_t *top, const json_t *res,
                                  const json_t *m, const json_t *v, size_t vi)
{
    switch (c->scope) {
    case SC_RESULT:
        return path(res, c->a, c->b);
    case SC_TOP:
        return path(top, c->a, c->b);
    case SC_METRIC:
        return path(m, c->a, c->b);
    case SC_VARIANT:
        return path(v, c->a, c->b);
    case SC_ARM:
        return path(json_array_get(json_object_get(res, "variants"), vi), c->a, c->b);
    case SC_TOP_ARM:
        return path(json_array_get(json_object_get(top, "variants"), vi), c->a, c->b);
    case SC_CI:
        return ci_part(json_object_get(v, c->a), c->idx);
    case SC_CI_ADJ:
        return json_array_get(path(v, c->a, "ci_adjusted"), c->idx);
    case SC_SRM: {
        const json_t *x = path(res, "srm", c->a);
        return c->idx ? json_array_get(x, vi) : x;
    }
    case SC_DECISION: {
        const json_t *d = json_object_get(res, "decision");
        const json_t *dm = json_object_get(d, "metric");
        if (!json_is_string(dm) || !json_is_string(json_object_get(m, "key")) ||
            strcmp(json_string_value(dm), json_string_value(json_object_get(m, "key"))) != 0) {
            return NULL;
        }
        return json_object_get(d, c->a);
    }
    }
    return NULL;
}

/* Fill row[NCOLS] for one metric x variant. Text cells pass results_csv_text_cell (names
 * and dimension values come from users). */
static void row_values(const json_t *top, const json_t *res, const json_t *m, const json_t *v,
                       size_t vi, char row[][CELL_MAX])
{
    for (size_t c = 0; c < NCOLS; c++) {
        const json_t *x = column_value(&columns[c], top, res, m, v, vi);
        if (columns[c].scope == SC_CI_ADJ &&
            ci_adjusted_unbounded(json_object_get(v, columns[c].a), columns[c].idx, row[c],
                                  sizeof(row[c]))) {
            continue;
        }
        if (json_is_string(x)) {
            results_csv_text_cell(json_string_value(x), row[c], sizeof(row[c]));
        } else {
            scalar_text(x, row[c], sizeof(row[c]));
        }
    }
}

static void csv_row(struct buf *b, char row[][CELL_MAX], size_t n)
{
    for (size_t c = 0; c < n; c++) {
        if (c) {
            buf_append(b, ",", 1);
        }
        csv_field(b, row[c]);
    }
    buf_append(b, "\r\n", 2);
}

static void csv_one_row(struct buf *b, const json_t *top, const json_t *res, const json_t *m,
                        const json_t *v, size_t vi)
{
    char(*row)[CELL_MAX] = xcalloc(NCOLS, sizeof(*row));
    row_values(top, res, m, v, vi, row);
    csv_row(b, row, NCOLS);
    free(row);
}

/* Rows of one results document res of the response top (no header). Nothing but rows: a
 * metric's warning is its metric_warning column (a line of text among the rows was a row of
 * one field to a CSV reader). Without metrics, one row per variant with the metric columns
 * empty: the variants, the sample-ratio check and the data quality are results too. */
static void csv_rows(struct buf *b, const json_t *top, const json_t *res)
{
    size_t i, j;
    const json_t *m, *v;
    const json_t *metrics = json_object_get(res, "metrics");
    json_array_foreach(metrics, i, m)
    {
        json_array_foreach(json_object_get(m, "variants"), j, v)
        {
            csv_one_row(b, top, res, m, v, j);
        }
    }
    if (json_array_size(metrics) > 0) {
        return;
    }
    json_array_foreach(json_object_get(res, "variants"), j, v)
    {
        /* the variant column is the variant's key; every other metric column stays empty */
        json_t *only_key = json_pack("{s:O}", "key", json_object_get(v, "key"));
        json_t *no_metric = json_object();
        csv_one_row(b, top, res, no_metric, only_key, j);
        json_decref(only_key);
        json_decref(no_metric);
    }
}

char *results_to_csv(const json_t *res)
{
    struct buf b;
    buf_init(&b, RENDER_CAP);
    for (size_t c = 0; c < NCOLS; c++) {
        buf_printf(&b, "%s%s", c ? "," : "", columns[c].name);
    }
    buf_append(&b, "\r\n", 2);
    const json_t *slices = json_object_get(res, "slices");
    if (json_is_array(slices)) {
        /* a dimension breakdown: one results document per value */
        size_t i;
        const json_t *s;
        json_array_foreach(slices, i, s)
        {
            csv_rows(&b, res, s);
        }
        if (json_array_size(slices) == 0) {
            /* no slice yet: one row per variant (of the breakdown's variants) with the
             * breakdown's own fields, dimension_value empty, as a document without metrics */
            csv_rows(&b, res, res);
        }
    } else {
        csv_rows(&b, res, res);
    }
    if (b.data == NULL) {
        return xstrdup("");
    }
    return b.data;
}

/* A number for the terminal: 4 significant digits, exponent form when small or large
 * (a p-value of 5.77e-06 must not read 5.76740927). */
static void cell_text(const json_t *v, char *out, size_t n)
{
    if (json_is_real(v)) {
        double x = json_real_value(v);
        snprintf(out, n, "%.4g", x);
    } else {
        scalar_text(v, out, n);
    }
}

/* One results document (results_compute's, or one slice of a breakdown) as a table. */
static void table_one(struct buf *b, const json_t *res)
{
    char srm_p[64], alpha[CELL_MAX];
    cell_text(path(res, "srm", "p_value"), srm_p, sizeof(srm_p));
    /* the settings as given (all their digits); the computed numbers below to 4 */
    scalar_text(json_object_get(res, "alpha"), alpha, sizeof(alpha));
    buf_printf(b, "experiment %s (%s)  method %s  alpha %s  cuped %s  correction %s\n",
               json_string_value(json_object_get(res, "experiment")),
               json_string_value(json_object_get(res, "status")),
               json_string_value(json_object_get(res, "method")), alpha,
               json_is_true(json_object_get(res, "cuped")) ? "on" : "off",
               json_string_value(json_object_get(res, "correction")));
    buf_printf(b, "SRM p-value %s%s\n", srm_p[0] ? srm_p : "n/a",
               json_is_true(path(res, "srm", "mismatch")) ? "  ** SAMPLE RATIO MISMATCH **" : "");
    const json_t *d = json_object_get(res, "decision");
    if (json_is_object(d)) {
        char need[64], prog[64], left[64];
        cell_text(json_object_get(d, "users_needed_per_variant"), need, sizeof(need));
        cell_text(json_object_get(d, "progress"), prog, sizeof(prog));
        cell_text(json_object_get(d, "days_left"), left, sizeof(left));
        /* the mde is relative (a share of the control's mean), which /power's is only with
         * "relative": true: said in words, as the dashboard does */
        const json_t *plan = json_object_get(d, "planned_for");
        bool seq = json_is_string(plan) && strcmp(json_string_value(plan), "sequential") == 0;
        buf_printf(b,
                   "decision (%s, mde %.15g%% relative%s): %s users per variant needed, "
                   "progress %s, days left %s\n",
                   json_string_value(json_object_get(d, "metric")),
                   json_number_value(json_object_get(d, "mde")) * 100.0,
                   seq ? ", sequential plan" : "", need[0] ? need : "n/a", prog[0] ? prog : "n/a",
                   left[0] ? left : "n/a");
    }
    buf_append(b, "\n", 1);
    /* the headline is the relative lift: its p-value and verdict beside it (STATS.md); under
     * a correction its interval is the adjusted one, the interval of the adjusted p-value
     * that the verdict comes from, and says so */
    const json_t *corr = json_object_get(res, "correction");
    bool adjusted = json_is_string(corr) && strcmp(json_string_value(corr), "none") != 0 &&
                    !(json_is_string(json_object_get(res, "method")) &&
                      strcmp(json_string_value(json_object_get(res, "method")), "bayesian") == 0);
    static const struct column shown[] = {
        {"metric", SC_METRIC, "key", NULL, 0},
        {"variant", SC_VARIANT, "key", NULL, 0},
        {"users", SC_VARIANT, "users", NULL, 0},
        {"mean", SC_VARIANT, "mean", NULL, 0},
        {"rel.lift", SC_VARIANT, "relative_lift", "estimate", 0},
        {"ci.low", SC_CI, "relative_lift", NULL, 0},
        {"ci.high", SC_CI, "relative_lift", NULL, 1},
        {"rel.p", SC_VARIANT, "relative_lift", "p_value", 0},
        {"rel.p.adj", SC_VARIANT, "relative_lift", "p_value_adjusted", 0},
        {"P(beat)", SC_VARIANT, "chance_to_beat_control", NULL, 0},
        {"verdict", SC_VARIANT, "verdict", NULL, 0},
    };
    static const struct column adj_low = {"adj.ci.low", SC_CI_ADJ, "relative_lift", NULL, 0};
    static const struct column adj_high = {"adj.ci.high", SC_CI_ADJ, "relative_lift", NULL, 1};
    static const int widths[] = {16, 12, 9, 11, 10, 11, 11, 10, 10, 8, 8};
    const size_t ns = sizeof(shown) / sizeof(shown[0]);
    const struct column *cols[sizeof(shown) / sizeof(shown[0])];
    if (adjusted) {
        buf_printf(b,
                   "adj.ci: the relative lift's interval adjusted for the %s correction, "
                   "as its p-value; the verdict follows it\n",
                   json_string_value(corr));
    }
    for (size_t c = 0; c < ns; c++) {
        cols[c] =
            adjusted && shown[c].scope == SC_CI ? (shown[c].idx ? &adj_high : &adj_low) : &shown[c];
        buf_printf(b, "%-*s ", widths[c], cols[c]->name);
    }
    buf_append(b, "\n", 1);
    size_t i, j;
    const json_t *m, *v;
    json_array_foreach(json_object_get(res, "metrics"), i, m)
    {
        const json_t *mw = json_object_get(m, "warning");
        if (json_is_string(mw)) {
            buf_printf(b, "note (%s): %s\n", json_string_value(json_object_get(m, "key")),
                       json_string_value(mw));
        }
        json_array_foreach(json_object_get(m, "variants"), j, v)
        {
            for (size_t c = 0; c < ns; c++) {
                char cell[CELL_MAX];
                if (cols[c]->scope != SC_CI_ADJ ||
                    !ci_adjusted_unbounded(json_object_get(v, cols[c]->a), cols[c]->idx, cell,
                                           sizeof(cell))) {
                    cell_text(column_value(cols[c], res, res, m, v, j), cell, sizeof(cell));
                }
                buf_printf(b, "%-*s ", widths[c], cell);
            }
            buf_append(b, "\n", 1);
            const json_t *w = json_object_get(v, "warning");
            if (json_is_string(w)) {
                buf_printf(b, "    note: %s\n", json_string_value(w));
            }
        }
    }
}

char *results_to_table(const json_t *res)
{
    struct buf b;
    buf_init(&b, RENDER_CAP);
    const json_t *slices = json_object_get(res, "slices");
    if (!json_is_array(slices)) {
        table_one(&b, res);
    } else {
        /* a breakdown: each slice's table under a heading (one correction family for all) */
        const char *dim = json_string_value(json_object_get(res, "dimension"));
        buf_printf(&b, "experiment %s by %s: %zu slices of %lld recorded values\n",
                   json_string_value(json_object_get(res, "experiment")), dim ? dim : "?",
                   json_array_size(slices),
                   (long long)json_integer_value(json_object_get(res, "values_total")));
        /* users exposed before the dimension was listed are in no slice (rev-diff5 3) */
        long long unrecorded = 0;
        size_t i;
        const json_t *e;
        json_array_foreach(json_object_get(res, "variants"), i, e)
        {
            unrecorded += json_integer_value(json_object_get(e, "users_not_recorded"));
        }
        if (unrecorded > 0) {
            buf_printf(&b, "%lld users exposed before %s was listed are in no slice:", unrecorded,
                       dim ? dim : "?");
            json_array_foreach(json_object_get(res, "variants"), i, e)
            {
                buf_printf(&b, "%s %s %lld", i > 0 ? "," : "",
                           json_string_value(json_object_get(e, "key")),
                           (long long)json_integer_value(json_object_get(e, "users_not_recorded")));
            }
            buf_printf(&b, "\n");
        }
        json_array_foreach(slices, i, e)
        {
            buf_printf(&b, "\n== %s = %s\n", dim ? dim : "?",
                       json_string_value(json_object_get(e, "dimension_value")));
            table_one(&b, e);
        }
    }
    if (b.data == NULL) {
        return xstrdup("");
    }
    return b.data;
}

char *results_timeseries_to_csv(const json_t *ts)
{
    static const char *const heads[] = {
        "experiment", "metric", "method", "alpha", "date", "variant", "users", "mean",
        "absolute_lift", "absolute_se", "absolute_ci_low", "absolute_ci_high", "relative_lift",
        "relative_se", "relative_ci_low", "relative_ci_high", "warning",
        /* since the series took cuped and correction (named as the results CSV's) */
        "cuped", "correction", "always_valid", "p_value", "p_value_adjusted", "relative_p_value",
        "relative_p_value_adjusted", "verdict", "cuped_theta", "cuped_variance_reduction",
        "absolute_ci_adjusted_low", "absolute_ci_adjusted_high", "relative_ci_adjusted_low",
        "relative_ci_adjusted_high",
        /* appended: relative_lift.significant (the results CSV's relative_significant) */
        "relative_significant"};
    const size_t nh = sizeof(heads) / sizeof(heads[0]);
    const size_t first_adj = nh - 5; /* the ci_adjusted ends: unbounded reads -inf, inf */
    struct buf b;
    buf_init(&b, RENDER_CAP);
    for (size_t c = 0; c < nh; c++) {
        buf_printf(&b, "%s%s", c ? "," : "", heads[c]);
    }
    buf_append(&b, "\r\n", 2);
    size_t i, j;
    const json_t *day, *v;
    json_array_foreach(json_object_get(ts, "days"), i, day)
    {
        json_array_foreach(json_object_get(day, "variants"), j, v)
        {
            const json_t *abs = json_object_get(v, "absolute_lift");
            const json_t *rel = json_object_get(v, "relative_lift");
            const json_t *vals[] = {
                json_object_get(ts, "experiment"),
                json_object_get(ts, "metric"),
                json_object_get(ts, "method"),
                json_object_get(ts, "alpha"),
                json_object_get(day, "date"),
                json_object_get(v, "key"),
                json_object_get(v, "users"),
                json_object_get(v, "mean"),
                json_object_get(abs, "estimate"),
                json_object_get(abs, "se"),
                ci_part(abs, 0),
                ci_part(abs, 1),
                json_object_get(rel, "estimate"),
                json_object_get(rel, "se"),
                ci_part(rel, 0),
                ci_part(rel, 1),
                json_object_get(v, "warning"),
                json_object_get(ts, "cuped"),
                json_object_get(ts, "correction"),
                json_object_get(ts, "always_valid"),
                json_object_get(v, "p_value"),
                json_object_get(v, "p_value_adjusted"),
                json_object_get(rel, "p_value"),
                json_object_get(rel, "p_value_adjusted"),
                json_object_get(v, "verdict"),
                json_object_get(json_object_get(v, "cuped"), "theta"),
                json_object_get(json_object_get(v, "cuped"), "variance_reduction"),
                json_array_get(json_object_get(abs, "ci_adjusted"), 0),
                json_array_get(json_object_get(abs, "ci_adjusted"), 1),
                json_array_get(json_object_get(rel, "ci_adjusted"), 0),
                json_array_get(json_object_get(rel, "ci_adjusted"), 1),
                json_object_get(rel, "significant")};
            char row[sizeof(vals) / sizeof(vals[0])][CELL_MAX];
            for (size_t c = 0; c < nh; c++) {
                if (c >= first_adj && c < first_adj + 4 &&
                    ci_adjusted_unbounded(c < first_adj + 2 ? abs : rel, (c - first_adj) % 2,
                                          row[c], sizeof(row[c]))) {
                    continue;
                }
                if (json_is_string(vals[c])) { /* keys and names come from users */
                    results_csv_text_cell(json_string_value(vals[c]), row[c], sizeof(row[c]));
                } else {
                    scalar_text(vals[c], row[c], sizeof(row[c]));
                }
            }
            csv_row(&b, row, nh);
        }
    }
    if (b.data == NULL) {
        return xstrdup("");
    }
    return b.data;
}
