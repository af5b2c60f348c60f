/*
 * results_csv.c - the results CSV against the results JSON (results_csv.h): an RFC 4180
 * reader, a walk over every leaf field of the JSON and the column each field is in.
 */
#include "results_csv.h"

#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The column of each field of the JSON, by its path with array indices left out ("[]"):
 * the fields of a results document (also of each slice of a breakdown, whose own path
 * starts "slices[].") and of a breakdown's top level. "" marks a field the CSV leaves out
 * on purpose. A "ci[]" column is two: name "low" for ci[0] and name "high" for ci[1].
 * A field of the JSON missing here fails the check: give it a column in results_render.c
 * and its line here.
 */
static const struct {
    const char *path, *column;
} FIELDS[] = {
    {"experiment", "experiment"},
    {"status", "status"},
    {"computed_at", ""}, /* the request's clock, not a result (results_render.c) */
    {"method", "method"},
    {"alpha", "alpha"},
    {"cuped", "cuped"},
    {"correction", "correction"},
    {"always_valid", "always_valid"},
    {"frozen_at", "frozen_at"},
    {"dimension", "dimension"},
    {"dimension_value", "dimension_value"},
    {"values_total", "values_total"},
    {"srm.p_value", "srm_p_value"},
    {"srm.chi2", "srm_chi2"},
    {"srm.observed[]", "srm_observed"},
    {"srm.expected[]", "srm_expected"},
    {"srm.mismatch", "srm_mismatch"},
    {"srm.warning", "srm_warning"},
    {"data_quality.conflicting_exposures", "conflicting_exposures"},
    {"variants[].key", "variant"},
    {"variants[].name", "variant_name"},
    {"variants[].users", "srm_observed"},                    /* the same exposure counts */
    {"variants[].users_not_recorded", "users_not_recorded"}, /* a breakdown's top level */
    {"metrics[].key", "metric"},
    {"metrics[].name", "metric_name"},
    {"metrics[].type", "type"},
    {"metrics[].goal", "goal"},
    {"metrics[].guardrail", "guardrail"},
    {"metrics[].numerator", "numerator"},
    {"metrics[].denominator", "denominator"},
    {"metrics[].warning", "metric_warning"},
    {"metrics[].variants[].key", "variant"},
    {"metrics[].variants[].users", "users"},
    {"metrics[].variants[].mean", "mean"},
    {"metrics[].variants[].stddev", "stddev"},
    {"metrics[].variants[].sum", "sum"},
    {"metrics[].variants[].denominator_sum", "denominator_sum"},
    {"metrics[].variants[].absolute_lift.estimate", "absolute_lift"},
    {"metrics[].variants[].absolute_lift.se", "absolute_se"},
    {"metrics[].variants[].absolute_lift.ci[]", "absolute_ci_"},
    {"metrics[].variants[].relative_lift.estimate", "relative_lift"},
    {"metrics[].variants[].relative_lift.se", "relative_se"},
    {"metrics[].variants[].relative_lift.ci[]", "relative_ci_"},
    {"metrics[].variants[].absolute_lift.ci_adjusted[]", "absolute_ci_adjusted_"},
    {"metrics[].variants[].relative_lift.ci_adjusted[]", "relative_ci_adjusted_"},
    {"metrics[].variants[].relative_lift.p_value", "relative_p_value"},
    {"metrics[].variants[].relative_lift.p_value_adjusted", "relative_p_value_adjusted"},
    {"metrics[].variants[].relative_lift.significant", "relative_significant"},
    {"metrics[].variants[].df", "df"},
    {"metrics[].variants[].p_value", "p_value"},
    {"metrics[].variants[].p_value_adjusted", "p_value_adjusted"},
    {"metrics[].variants[].significant", "significant"},
    {"metrics[].variants[].verdict", "verdict"},
    {"metrics[].variants[].warning", "warning"},
    {"metrics[].variants[].chance_to_beat_control", "chance_to_beat_control"},
    {"metrics[].variants[].expected_loss", "expected_loss"},
    {"metrics[].variants[].z_test.z", "z"},
    {"metrics[].variants[].z_test.p_value", "z_p_value"},
    {"metrics[].variants[].cuped.theta", "cuped_theta"},
    {"metrics[].variants[].cuped.variance_reduction", "cuped_variance_reduction"},
    {"decision", "decision_mde"},  /* null (no metric): every decision column empty */
    {"decision.metric", "metric"}, /* the rows the decision columns are filled on */
    {"decision.mde", "decision_mde"},
    {"decision.alpha", "decision_alpha"},
    {"decision.power", "decision_power"},
    {"decision.users_needed_per_variant", "decision_users_needed_per_variant"},
    {"decision.users_so_far", "decision_users_so_far"},
    {"decision.users_smallest_variant", "decision_users_smallest_variant"},
    {"decision.progress", "decision_progress"},
    {"decision.days_running", "decision_days_running"},
    {"decision.users_per_day", "decision_users_per_day"},
    {"decision.days_left", "decision_days_left"},
    {"decision.warning", "decision_warning"},
    {"decision.mde_relative", "decision_mde_relative"},
    {"decision.planned_for", "decision_planned_for"},
    {"rebuilding.progress", "rebuilding_progress"},
    {"rebuilding.users_done", "rebuilding_users_done"},
    {"rebuilding.users_total", "rebuilding_users_total"},
};

/* Values that may move between the JSON request and the CSV one: present or not only. */
static const char *const MOVING[] = {"rebuilding.progress", "rebuilding.users_done",
                                     "decision.users_per_day", "decision.days_left"};

#define MAX_ROWS 4096

/* The CSV as read: header[0..ncols), cells[r * ncols + c] for row r. */
struct csv {
    char **cells;
    size_t ncols, nrows, alloc;
    char **header;
};

/* One field at *p (quoted or not), malloc'd into *out; *p past it. 1 when the field ended its
 * record (CRLF), 0 when a comma follows; fails on anything else. */
static int csv_field_read(const char **p, char **out)
{
    size_t cap = 64, n = 0;
    char *f = malloc(cap);
    assert_non_null(f);
    const char *s = *p;
    if (*s == '"') {
        s++;
        for (;;) {
            if (*s == '\0') {
                fail_msg("CSV: an unterminated quoted field");
            }
            if (*s == '"' && s[1] == '"') {
                s++;
            } else if (*s == '"') {
                s++;
                break;
            }
            if (n + 2 > cap) {
                f = realloc(f, cap *= 2);
                assert_non_null(f);
            }
            f[n++] = *s++;
        }
    } else {
        while (*s != '\0' && *s != ',' && *s != '\r' && *s != '\n' && *s != '"') {
            if (n + 2 > cap) {
                f = realloc(f, cap *= 2);
                assert_non_null(f);
            }
            f[n++] = *s++;
        }
    }
    f[n] = '\0';
    *out = f;
    if (*s == ',') {
        *p = s + 1;
        return 0;
    }
    if (s[0] == '\r' && s[1] == '\n') {
        *p = s + 2;
        return 1;
    }
    fail_msg("CSV: a field followed by 0x%02x, not a comma or CRLF (\"%.60s\")", (unsigned char)*s,
             s);
    return -1;
}

static void csv_read(const char *text, struct csv *c)
{
    memset(c, 0, sizeof(*c));
    const char *p = text;
    char *row[512];
    size_t first = 1;
    while (*p != '\0') {
        size_t n = 0;
        for (int end = 0; !end;) {
            assert_true(n < sizeof(row) / sizeof(row[0]));
            end = csv_field_read(&p, &row[n++]);
        }
        if (first) {
            c->ncols = n;
            c->header = calloc(n, sizeof(*c->header));
            assert_non_null(c->header);
            memcpy(c->header, row, n * sizeof(*row));
            first = 0;
            continue;
        }
        if (n != c->ncols) {
            fail_msg("CSV row %zu has %zu fields, the header %zu (\"%s\"...)", c->nrows + 1, n,
                     c->ncols, row[0]);
        }
        assert_true(c->nrows < MAX_ROWS);
        if ((c->nrows + 1) * n > c->alloc) {
            c->alloc = c->alloc ? c->alloc * 2 : 64 * n;
            c->cells = realloc(c->cells, c->alloc * sizeof(*c->cells));
            assert_non_null(c->cells);
        }
        memcpy(&c->cells[c->nrows * n], row, n * sizeof(*row));
        c->nrows++;
    }
    assert_true(c->ncols > 0);
}

static void csv_free(struct csv *c)
{
    for (size_t i = 0; i < c->nrows * c->ncols; i++) {
        free(c->cells[i]);
    }
    for (size_t i = 0; i < c->ncols; i++) {
        free(c->header[i]);
    }
    free(c->cells);
    free(c->header);
}

static int column_index(const struct csv *c, const char *name)
{
    for (size_t i = 0; i < c->ncols; i++) {
        if (strcmp(c->header[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Where each CSV row comes from: its slice (0 without a breakdown), metric and variant. */
struct row_of {
    int slice, metric, variant;
    const char *metric_key;
};

/* Where a leaf is: the rows it belongs to are those matching each index >= 0. */
struct place {
    int slice, metric, variant, ci;
    bool decision; /* under "decision": the rows of its metric */
};

struct walk {
    const struct csv *csv;
    const struct row_of *rows;
    const json_t *decisions[MAX_ROWS]; /* per slice: its decision.metric (or NULL) */
    size_t leaves;
};

static const char *column_of(const char *path)
{
    for (size_t i = 0; i < sizeof(FIELDS) / sizeof(FIELDS[0]); i++) {
        if (strcmp(FIELDS[i].path, path) == 0) {
            return FIELDS[i].column;
        }
    }
    return NULL;
}

static bool moving(const char *path)
{
    for (size_t i = 0; i < sizeof(MOVING) / sizeof(MOVING[0]); i++) {
        if (strcmp(MOVING[i], path) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether cell is the CSV text of JSON value v (results_csv.h). */
static bool cell_is(const char *cell, const json_t *v, bool presence_only)
{
    if (json_is_null(v)) {
        return cell[0] == '\0';
    }
    if (presence_only) {
        return cell[0] != '\0';
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        return strcmp(cell, s) == 0 || (cell[0] == '\'' && strcmp(cell + 1, s) == 0);
    }
    if (json_is_boolean(v)) {
        return strcmp(cell, json_is_true(v) ? "true" : "false") == 0;
    }
    char *end = NULL;
    if (json_is_integer(v)) {
        long long x = strtoll(cell, &end, 10);
        return end != cell && *end == '\0' && x == (long long)json_integer_value(v);
    }
    double x = strtod(cell, &end), want = json_real_value(v);
    return end != cell && *end == '\0' && fabs(x - want) <= 1e-14 * fabs(want);
}

static void check_leaf(struct walk *w, const char *path, const struct place *pl, const json_t *v)
{
    size_t len = strlen(path);
    if (json_is_null(v) && len > 3 && strcmp(path + len - 3, ".ci") == 0) {
        /* no interval: both of its columns empty */
        char both[256];
        snprintf(both, sizeof(both), "%s[]", path);
        for (int i = 0; i < 2; i++) {
            struct place p2 = *pl;
            p2.ci = i;
            check_leaf(w, both, &p2, v);
        }
        return;
    }
    const char *col = column_of(path);
    if (col == NULL) {
        fail_msg("the results JSON field %s has no CSV column (API.md \"Results, v1.1\": CSV "
                 "carries every field of the JSON)",
                 path);
    }
    w->leaves++;
    if (col[0] == '\0') {
        return;
    }
    char name[128];
    snprintf(name, sizeof(name), "%s%s", col,
             pl->ci < 0 ? "" : (pl->ci == 0 ? "low" : (pl->ci == 1 ? "high" : "?")));
    int c = column_index(w->csv, name);
    if (c < 0) {
        fail_msg("the CSV header lacks %s (the JSON field %s)", name, path);
    }
    const json_t *dm = pl->slice >= 0 ? w->decisions[pl->slice] : NULL;
    for (size_t r = 0; r < w->csv->nrows; r++) {
        const struct row_of *ro = &w->rows[r];
        if ((pl->slice >= 0 && ro->slice != pl->slice) ||
            (pl->metric >= 0 && ro->metric != pl->metric) ||
            (pl->variant >= 0 && ro->variant != pl->variant) ||
            (pl->decision && (!json_is_string(dm) || ro->metric_key == NULL ||
                              strcmp(json_string_value(dm), ro->metric_key) != 0))) {
            continue;
        }
        const char *cell = w->csv->cells[r * w->csv->ncols + (size_t)c];
        if (!cell_is(cell, v, moving(path))) {
            char *j = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
            fail_msg("CSV row %zu column %s is \"%s\"; the JSON field %s is %s", r + 1, name, cell,
                     path, j ? j : "?");
        }
    }
}

/* Every leaf under v at path (indices left out) and place pl. */
static void walk_value(struct walk *w, json_t *v, const char *path, struct place pl)
{
    char sub[256];
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", k);
            struct place p2 = pl;
            p2.decision = pl.decision || strcmp(sub, "decision") == 0;
            walk_value(w, x, sub, p2);
        }
        return;
    }
    if (json_is_array(v)) {
        snprintf(sub, sizeof(sub), "%s[]", path);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            struct place p2 = pl;
            if (strcmp(sub, "metrics[]") == 0) {
                p2.metric = (int)i;
            } else if (strcmp(sub, "metrics[].variants[]") == 0 || strcmp(sub, "variants[]") == 0 ||
                       strcmp(sub, "srm.observed[]") == 0 || strcmp(sub, "srm.expected[]") == 0) {
                p2.variant = (int)i;
            } else if ((strlen(sub) > 5 && strcmp(sub + strlen(sub) - 5, ".ci[]") == 0) ||
                       (strlen(sub) > 14 &&
                        strcmp(sub + strlen(sub) - 14, ".ci_adjusted[]") == 0)) {
                p2.ci = (int)i;
            }
            walk_value(w, x, sub, p2);
        }
        return;
    }
    check_leaf(w, path, &pl, v);
}

/* The rows the CSV should have, in its order: slice x metric x variant; a document without
 * metrics has one row per variant (metric columns empty: no leaf of the JSON fills them). */
static size_t rows_expected(const json_t *doc, int slice, struct row_of *rows, size_t n)
{
    size_t i, j;
    const json_t *m, *v;
    const json_t *metrics = json_object_get(doc, "metrics");
    json_array_foreach(metrics, i, m)
    {
        json_array_foreach(json_object_get(m, "variants"), j, v)
        {
            assert_true(n < MAX_ROWS);
            rows[n++] = (struct row_of){slice, (int)i, (int)j,
                                        json_string_value(json_object_get(m, "key"))};
        }
    }
    if (json_array_size(metrics) == 0) {
        json_array_foreach(json_object_get(doc, "variants"), j, v)
        {
            assert_true(n < MAX_ROWS);
            rows[n++] = (struct row_of){slice, -1, (int)j, NULL};
        }
    }
    return n;
}

static json_t *get_json(int port, const char *key, const char *path)
{
    int st = 0;
    json_t *j = http_json(port, "GET", path, key, NULL, &st);
    if (st != 200 || j == NULL) {
        fail_msg("GET %s: %d", path, st);
    }
    return j;
}

json_t *results_csv_check(int port, const char *key, const char *path)
{
    char csv_path[1024];
    snprintf(csv_path, sizeof(csv_path), "%s%sformat=csv", path, strchr(path, '?') ? "&" : "?");
    json_t *doc = NULL;
    struct resp r = {0};
    for (int attempt = 0; attempt < 5 && doc == NULL; attempt++) {
        json_t *before = get_json(port, key, path);
        resp_free(&r);
        assert_int_equal(http_req(port, "GET", csv_path, key, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        json_t *after = get_json(port, key, path);
        /* a rebuild that began or ended between the requests moved the numbers */
        if ((json_object_get(before, "rebuilding") == NULL) ==
            (json_object_get(after, "rebuilding") == NULL)) {
            doc = json_incref(before);
        }
        json_decref(before);
        json_decref(after);
    }
    if (doc == NULL) {
        fail_msg("GET %s: a rebuild began or ended between every JSON and CSV read", path);
    }
    struct csv c;
    csv_read(r.body, &c);
    struct walk *w = calloc(1, sizeof(*w));
    struct row_of *rows = calloc(MAX_ROWS, sizeof(*rows));
    assert_non_null(w);
    assert_non_null(rows);
    w->csv = &c;
    w->rows = rows;
    json_t *slices = json_object_get(doc, "slices");
    size_t n = 0;
    struct place top = {.slice = -1, .metric = -1, .variant = -1, .ci = -1};
    if (json_is_array(slices)) {
        /* a breakdown: its top level's fields on every row, each slice's on its own rows */
        size_t i;
        json_t *s;
        json_array_foreach(slices, i, s)
        {
            assert_true(i < MAX_ROWS);
            n = rows_expected(s, (int)i, rows, n);
            w->decisions[i] = json_object_get(json_object_get(s, "decision"), "metric");
        }
        if (json_array_size(slices) == 0) {
            /* no slice yet: one row per variant with the breakdown's fields */
            n = rows_expected(doc, 0, rows, 0);
        }
        const char *k;
        json_t *x;
        json_object_foreach(doc, k, x)
        {
            if (strcmp(k, "slices") != 0) {
                walk_value(w, x, k, top);
            }
        }
        json_array_foreach(slices, i, s)
        {
            struct place pl = top;
            pl.slice = (int)i;
            walk_value(w, s, "", pl);
        }
    } else {
        n = rows_expected(doc, 0, rows, 0);
        w->decisions[0] = json_object_get(json_object_get(doc, "decision"), "metric");
        top.slice = 0;
        walk_value(w, doc, "", top);
    }
    if (n != c.nrows) {
        fail_msg("GET %s: %zu CSV rows, %zu (slice, metric, variant) in the JSON", csv_path,
                 c.nrows, n);
    }
    assert_true(w->leaves > 0);
    free(rows);
    free(w);
    csv_free(&c);
    resp_free(&r);
    return doc;
}
