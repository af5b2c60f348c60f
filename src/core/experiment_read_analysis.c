/*
 * experiment_read_analysis.c - the fields of an experiment's JSON form that say how it is
 * analysed (API.md "Experiments"): the metric lists (metrics, guardrails), the dimensions
 * its results break down by, and the analysis defaults (method, alpha, CUPED, correction).
 * Each reader checks one field and writes it into the experiment; experiment_read.c calls
 * them and checks primary_metric against the metrics. Pure: no I/O, no globals; any thread.
 */
#include <stdio.h>
#include <string.h>

#include "bunsen/model.h"
#include "experiment_int.h"

static const char *const analysis_fields[] = {"method", "alpha", "cuped", "correction", NULL};

int experiment_read_key_list(const json_t *v, const char *name, size_t max,
                             char (*out)[MODEL_KEY_MAX + 1], size_t *n, struct err *err)
{
    if (json_is_null(v)) {
        *n = 0;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) > max) {
        return err_set(err, ERR_INVALID, name, "%s must be an array of at most %zu metric keys",
                       name, max);
    }
    size_t count = json_array_size(v);
    for (size_t i = 0; i < count; i++) {
        char field[64];
        snprintf(field, sizeof(field), "%s[%zu]", name, i);
        if (validate_key(json_array_get(v, i), field, out[i], err) != 0) {
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(out[i], out[j]) == 0) {
                return err_set(err, ERR_INVALID, field, "metric '%s' is listed twice", out[i]);
            }
        }
    }
    *n = count;
    return 0;
}

/* "dimensions": attribute names (1..MODEL_DIMENSION_NAME_MAX bytes of [A-Za-z0-9_.-]),
 * distinct, at most MODEL_MAX_DIMENSIONS; null = none. */
int experiment_read_dimensions(const json_t *v, struct experiment *x, struct err *err)
{
    if (json_is_null(v)) {
        x->ndimensions = 0;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) > MODEL_MAX_DIMENSIONS) {
        return err_set(err, ERR_INVALID, "dimensions",
                       "dimensions must be an array of at most %d attribute names",
                       MODEL_MAX_DIMENSIONS);
    }
    char names[MODEL_MAX_DIMENSIONS][MODEL_DIMENSION_NAME_MAX + 1];
    size_t count = json_array_size(v);
    for (size_t i = 0; i < count; i++) {
        char field[64];
        snprintf(field, sizeof(field), "dimensions[%zu]", i);
        const json_t *e = json_array_get(v, i);
        const char *t = json_is_string(e) ? json_string_value(e) : NULL;
        size_t len = t ? json_string_length(e) : 0;
        bool ok = t != NULL && len >= 1 && len <= MODEL_DIMENSION_NAME_MAX;
        for (size_t k = 0; ok && k < len; k++) {
            char c = t[k];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        }
        if (!ok) {
            return err_set(err, ERR_INVALID, field,
                           "%s must be an attribute name of 1 to %d characters A-Z a-z 0-9 _ . -",
                           field, MODEL_DIMENSION_NAME_MAX);
        }
        memcpy(names[i], t, len + 1);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                return err_set(err, ERR_INVALID, field, "dimension '%s' is listed twice", names[i]);
            }
        }
    }
    memcpy(x->dimensions, names, sizeof(names));
    x->ndimensions = count;
    return 0;
}

int experiment_read_analysis(const json_t *v, enum model_mode mode, struct analysis_defaults *a,
                             struct err *err)
{
    if (!json_is_object(v)) {
        return err_set(err, ERR_INVALID, "analysis",
                       "analysis must be an object {method, alpha, cuped, correction}");
    }
    if (validate_known_fields(v, analysis_fields, "analysis", err) != 0) {
        return -1;
    }
    const json_t *f;
    if ((f = json_object_get(v, "method")) != NULL &&
        (!json_is_string(f) || stats_method_parse(json_string_value(f), &a->method) != 0)) {
        return err_set(err, ERR_INVALID, "analysis.method",
                       "analysis.method must be frequentist, bayesian or sequential");
    }
    if ((f = json_object_get(v, "alpha")) != NULL &&
        validate_real(f, mode, "analysis.alpha", ANALYSIS_ALPHA_MIN, ANALYSIS_ALPHA_MAX, &a->alpha,
                      err) != 0) {
        return -1;
    }
    if ((f = json_object_get(v, "cuped")) != NULL) {
        if (!json_is_boolean(f)) {
            return err_set(err, ERR_INVALID, "analysis.cuped", "analysis.cuped must be a boolean");
        }
        a->cuped = json_is_true(f);
    }
    if ((f = json_object_get(v, "correction")) != NULL &&
        (!json_is_string(f) || stats_correction_parse(json_string_value(f), &a->correction) != 0)) {
        return err_set(err, ERR_INVALID, "analysis.correction",
                       "analysis.correction must be none, holm or bh");
    }
    return 0;
}
