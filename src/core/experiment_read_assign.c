/*
 * experiment_read_assign.c - the fields of an experiment's JSON form that decide who is in
 * and what each user gets (API.md "Experiments"): the variants (keys, names, weights), the
 * variants' and the experiment's values, the namespace, the targeting condition, the forced
 * users and the hashing attributes. Each reader checks one field and writes it into the
 * experiment; experiment_read.c calls them in the document's order and applies the rules
 * across fields. Pure: no I/O, no globals; any thread.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/condition.h"
#include "bunsen/model.h"
#include "bunsen/util.h"
#include "experiment_int.h"

static const char *const variant_fields[] = {"key", "name", "weight", "value", NULL};
static const char *const namespace_fields[] = {"name", "range", NULL};

/* A variant's or the experiment's value: any JSON value within the size and depth caps
 * (null = none), its reals as sent. *dst (owned) is replaced. */
int experiment_read_value(const json_t *v, enum model_mode mode, const char *field, json_t **dst,
                          struct err *err)
{
    json_decref(*dst);
    *dst = NULL;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (validate_json_depth(v, MODEL_MAX_CONDITION_DEPTH) > MODEL_MAX_CONDITION_DEPTH) {
        return err_set(err, ERR_INVALID, field, "%s is nested more than %d levels", field,
                       MODEL_MAX_CONDITION_DEPTH);
    }
    size_t size = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (size == 0 || size > MODEL_VALUE_MAX_BYTES) {
        return err_set(err, ERR_INVALID, field, "%s must be a JSON value of at most %d bytes",
                       field, MODEL_VALUE_MAX_BYTES);
    }
    if (json_is_real(v) && !isfinite(json_real_value(v))) {
        return err_set(err, ERR_INVALID, field, "%s must be a finite number", field);
    }
    (void)mode;
    *dst = json_deep_copy(v);
    return 0;
}

/* hash_attribute / fallback_attribute: 1..MODEL_ATTRIBUTE_MAX bytes of text; null resets
 * (hash_attribute to "id", fallback_attribute to none). */
int experiment_read_attribute_name(const json_t *v, enum model_mode mode, const char *field,
                                   const char *def, char *out, size_t n, struct err *err)
{
    if (json_is_null(v)) {
        snprintf(out, n, "%s", def);
        return 0;
    }
    return validate_text(v, mode, field, 1, MODEL_ATTRIBUTE_MAX, false, out, n, err);
}

int experiment_read_variants(const json_t *v, enum model_mode mode, struct experiment *x,
                             struct err *err)
{
    if (!json_is_array(v)) {
        return err_set(err, ERR_INVALID, "variants", "variants must be an array");
    }
    size_t n = json_array_size(v);
    if (n < 2 || n > ASSIGN_MAX_VARIANTS) {
        return err_set(err, ERR_INVALID, "variants", "an experiment has 2 to %d variants",
                       ASSIGN_MAX_VARIANTS);
    }
    /* the new list replaces the old one (a PATCH starts from a copy of the stored one) */
    for (size_t i = 0; i < x->nvariants; i++) {
        json_decref(x->variants[i].value);
        x->variants[i].value = NULL;
    }
    x->nvariants = 0;
    size_t with_weight = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(v, i);
        char field[64];
        snprintf(field, sizeof(field), "variants[%zu]", i);
        if (!json_is_object(o)) {
            return err_set(err, ERR_INVALID, field, "%s must be an object", field);
        }
        if (validate_known_fields(o, variant_fields, field, err) != 0) {
            return -1;
        }
        struct variant *var = &x->variants[i];
        var->value = NULL;
        x->nvariants = i + 1; /* from here on experiment_clear frees var->value */
        snprintf(field, sizeof(field), "variants[%zu].value", i);
        if (experiment_read_value(json_object_get(o, "value"), mode, field, &var->value, err) !=
            0) {
            return -1;
        }
        snprintf(field, sizeof(field), "variants[%zu].key", i);
        const json_t *k = json_object_get(o, "key");
        if (k == NULL) {
            return err_set(err, ERR_INVALID, field, "%s is required", field);
        }
        if (validate_key(k, field, var->key, err) != 0) {
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(x->variants[j].key, var->key) == 0) {
                return err_set(err, ERR_INVALID, field, "variant key '%s' is used twice", var->key);
            }
        }
        const json_t *name = json_object_get(o, "name");
        snprintf(field, sizeof(field), "variants[%zu].name", i);
        if (name != NULL && !json_is_null(name)) {
            if (validate_text(name, mode, field, 1, MODEL_NAME_MAX, false, var->name,
                              sizeof(var->name), err) != 0) {
                return -1;
            }
        } else {
            snprintf(var->name, sizeof(var->name), "%s", var->key);
        }
        const json_t *w = json_object_get(o, "weight");
        snprintf(field, sizeof(field), "variants[%zu].weight", i);
        if (w != NULL) {
            if (validate_number(w, field, 0, 1, &var->weight, err) != 0) {
                return -1;
            }
            with_weight++;
        }
    }
    x->nvariants = n;
    if (with_weight == 0) {
        double eq[ASSIGN_MAX_VARIANTS];
        hash_equal_weights((int)n, eq);
        for (size_t i = 0; i < n; i++) {
            x->variants[i].weight = eq[i];
        }
        return 0;
    }
    if (with_weight != n) {
        return err_set(err, ERR_INVALID, "variants",
                       "give a weight to every variant, or to none (equal split)");
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += x->variants[i].weight;
    }
    if (fabs(sum - 1.0) > 1e-6) {
        char field[64];
        snprintf(field, sizeof(field), "variants[%zu].weight", n - 1);
        return err_set(err, ERR_INVALID, field, "variant weights must sum to 1 (they sum to %.9g)",
                       sum);
    }
    return 0;
}

int experiment_read_namespace(const json_t *v, enum model_mode mode, struct experiment *x,
                              struct err *err)
{
    if (json_is_null(v)) {
        x->has_namespace = false;
        x->ns_name[0] = '\0';
        return 0;
    }
    if (!json_is_object(v)) {
        return err_set(err, ERR_INVALID, "namespace",
                       "namespace must be an object {\"name\", \"range\": [start, end]} or null");
    }
    if (validate_known_fields(v, namespace_fields, "namespace", err) != 0) {
        return -1;
    }
    const json_t *name = json_object_get(v, "name");
    if (name == NULL) {
        return err_set(err, ERR_INVALID, "namespace.name", "namespace.name is required");
    }
    if (validate_key(name, "namespace.name", x->ns_name, err) != 0) {
        return -1;
    }
    const json_t *range = json_object_get(v, "range");
    if (!json_is_array(range) || json_array_size(range) != 2) {
        return err_set(err, ERR_INVALID, "namespace.range",
                       "namespace.range must be [start, end] with 0 <= start < end <= 1");
    }
    if (validate_real(json_array_get(range, 0), mode, "namespace.range[0]", 0, 1, &x->ns_start,
                      err) != 0 ||
        validate_real(json_array_get(range, 1), mode, "namespace.range[1]", 0, 1, &x->ns_end,
                      err) != 0) {
        return -1;
    }
    if (!(x->ns_start < x->ns_end)) {
        return err_set(err, ERR_INVALID, "namespace.range",
                       "namespace.range must have start < end");
    }
    x->has_namespace = true;
    return 0;
}

/* targeting: checked when written (create, PATCH), not when a stored one is loaded: one
 * stored before a check existed (an invalid $regex) still loads, matches nobody, and is
 * refused at start (experiments.c). */
int experiment_read_targeting(const json_t *v, enum model_mode mode, struct experiment *x,
                              struct err *err)
{
    json_decref(x->targeting);
    x->targeting = NULL;
    if (json_is_null(v)) {
        return 0;
    }
    if (!json_is_object(v)) {
        return err_set(err, ERR_INVALID, "targeting",
                       "targeting must be a condition object (GrowthBook syntax) or null");
    }
    if (validate_json_depth(v, MODEL_MAX_CONDITION_DEPTH) > MODEL_MAX_CONDITION_DEPTH) {
        return err_set(err, ERR_INVALID, "targeting", "targeting is nested more than %d levels",
                       MODEL_MAX_CONDITION_DEPTH);
    }
    const char *bad = condition_unknown_operator(v);
    if (bad != NULL) {
        return err_set(err, ERR_INVALID, "targeting",
                       "unknown operator '%.40s' in targeting (see the condition language in "
                       "docs/API.md)",
                       bad);
    }
    char *text = json_dumps(v, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0;
    free(text);
    if (len > MODEL_MAX_CONDITION_BYTES) {
        return err_set(err, ERR_INVALID, "targeting", "targeting is larger than %d bytes",
                       MODEL_MAX_CONDITION_BYTES);
    }
    if (mode != MODEL_LOAD && condition_check_operands(v, err) != 0) {
        return -1; /* an operator that cannot be evaluated (API.md v1.1) */
    }
    /* reals as sent: replies and the SDK payload print the shortest text that reads back
     * as each, so a GET and the SDKs see the thresholds that are evaluated (until s24 they
     * were rounded to 15 digits when written) */
    json_t *copy = json_deep_copy(v);
    if (json_object_size(copy) > 0) {
        x->targeting = copy;
    } else {
        json_decref(copy);
    }
    return 0;
}

/* forced is checked against the variants after everything else is read. */
int experiment_read_forced(const json_t *v, struct experiment *x, struct err *err)
{
    json_decref(x->forced);
    x->forced = NULL;
    if (json_is_null(v)) {
        return 0;
    }
    if (!json_is_object(v)) {
        return err_set(err, ERR_INVALID, "forced",
                       "forced must be an object {\"user id\": \"variant key\"} or null");
    }
    if (json_object_size(v) > MODEL_MAX_FORCED) {
        return err_set(err, ERR_INVALID, "forced", "at most %d forced users", MODEL_MAX_FORCED);
    }
    const char *user;
    json_t *val;
    json_object_foreach((json_t *)(uintptr_t)v, user, val)
    {
        char field[64];
        snprintf(field, sizeof(field), "forced.%.40s", user);
        if (!text_id_valid(user, strlen(user), 256)) {
            return err_set(err, ERR_INVALID, "forced",
                           "forced user ids must be 1 to 256 bytes of text");
        }
        if (!json_is_string(val)) {
            return err_set(err, ERR_INVALID, field, "%s must be a variant key", field);
        }
    }
    if (json_object_size(v) > 0) {
        x->forced = json_deep_copy(v);
    }
    return 0;
}
