/*
 * results_render.c - a results document as CSV (RFC 4180, for spreadsheets) and as an
 * aligned text table (for `bunsen results` on a terminal) (results.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A JSON scalar as CSV/table text: null -> "". */
static void scalar_text(const json_t *v, char *out, size_t n)
{
    if (json_is_string(v)) {
        snprintf(out, n, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(out, n, "%.10g", json_real_value(v));
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

static const char *const columns[] = {"experiment",
                                      "metric",
                                      "type",
                                      "goal",
                                      "variant",
                                      "users",
                                      "mean",
                                      "stddev",
                                      "sum",
                                      "absolute_lift",
                                      "absolute_ci_low",
                                      "absolute_ci_high",
                                      "relative_lift",
                                      "relative_ci_low",
                                      "relative_ci_high",
                                      "p_value",
                                      "p_value_adjusted",
                                      "significant",
                                      "chance_to_beat_control",
                                      "expected_loss",
                                      "warning"};
#define NCOLS (sizeof(columns) / sizeof(columns[0]))

/* Fill row[NCOLS] (each 64 chars... warning longer) for one metric x variant. */
static void row_values(const json_t *res, const json_t *m, const json_t *v, char row[][400])
{
    const json_t *abs = json_object_get(v, "absolute_lift");
    const json_t *rel = json_object_get(v, "relative_lift");
    const json_t *vals[NCOLS] = {json_object_get(res, "experiment"),
                                 json_object_get(m, "key"),
                                 json_object_get(m, "type"),
                                 json_object_get(m, "goal"),
                                 json_object_get(v, "key"),
                                 json_object_get(v, "users"),
                                 json_object_get(v, "mean"),
                                 json_object_get(v, "stddev"),
                                 json_object_get(v, "sum"),
                                 path(v, "absolute_lift", "estimate"),
                                 ci_part(abs, 0),
                                 ci_part(abs, 1),
                                 path(v, "relative_lift", "estimate"),
                                 ci_part(rel, 0),
                                 ci_part(rel, 1),
                                 json_object_get(v, "p_value"),
                                 json_object_get(v, "p_value_adjusted"),
                                 json_object_get(v, "significant"),
                                 json_object_get(v, "chance_to_beat_control"),
                                 json_object_get(v, "expected_loss"),
                                 json_object_get(v, "warning")};
    for (size_t c = 0; c < NCOLS; c++) {
        scalar_text(vals[c], row[c], sizeof(row[c]));
    }
}

char *results_to_csv(const json_t *res)
{
    struct buf b;
    buf_init(&b, RENDER_CAP);
    for (size_t c = 0; c < NCOLS; c++) {
        buf_printf(&b, "%s%s", c ? "," : "", columns[c]);
    }
    buf_append(&b, "\r\n", 2);
    size_t i, j;
    const json_t *m, *v;
    json_array_foreach(json_object_get(res, "metrics"), i, m)
    {
        json_array_foreach(json_object_get(m, "variants"), j, v)
        {
            char row[NCOLS][400];
            row_values(res, m, v, row);
            for (size_t c = 0; c < NCOLS; c++) {
                if (c) {
                    buf_append(&b, ",", 1);
                }
                csv_field(&b, row[c]);
            }
            buf_append(&b, "\r\n", 2);
        }
    }
    if (b.data == NULL) {
        return xstrdup("");
    }
    return b.data;
}

char *results_to_table(const json_t *res)
{
    struct buf b;
    buf_init(&b, RENDER_CAP);
    char srm_p[64];
    scalar_text(path(res, "srm", "p_value"), srm_p, sizeof(srm_p));
    buf_printf(&b, "experiment %s (%s)  method %s  alpha %g  cuped %s  correction %s\n",
               json_string_value(json_object_get(res, "experiment")),
               json_string_value(json_object_get(res, "status")),
               json_string_value(json_object_get(res, "method")),
               json_real_value(json_object_get(res, "alpha")),
               json_is_true(json_object_get(res, "cuped")) ? "on" : "off",
               json_string_value(json_object_get(res, "correction")));
    buf_printf(&b, "SRM p-value %s%s\n\n", srm_p[0] ? srm_p : "n/a",
               json_is_true(path(res, "srm", "mismatch")) ? "  ** SAMPLE RATIO MISMATCH **" : "");
    /* columns shown in the table: a readable subset */
    static const size_t shown[] = {1, 4, 5, 6, 12, 13, 14, 15, 16, 18};
    static const char *const heads[] = {"metric", "variant", "users", "mean",  "rel.lift",
                                        "ci.low", "ci.high", "p",     "p.adj", "P(beat)"};
    const size_t ns = sizeof(shown) / sizeof(shown[0]);
    static const int widths[] = {16, 12, 9, 11, 10, 10, 10, 10, 10, 8};
    for (size_t c = 0; c < ns; c++) {
        buf_printf(&b, "%-*s ", widths[c], heads[c]);
    }
    buf_append(&b, "\n", 1);
    size_t i, j;
    const json_t *m, *v;
    json_array_foreach(json_object_get(res, "metrics"), i, m)
    {
        json_array_foreach(json_object_get(m, "variants"), j, v)
        {
            char row[NCOLS][400];
            row_values(res, m, v, row);
            for (size_t c = 0; c < ns; c++) {
                buf_printf(&b, "%-*.*s ", widths[c], widths[c], row[shown[c]]);
            }
            buf_append(&b, "\n", 1);
            if (row[20][0] != '\0') {
                buf_printf(&b, "    note: %s\n", row[20]);
            }
        }
    }
    if (b.data == NULL) {
        return xstrdup("");
    }
    return b.data;
}
