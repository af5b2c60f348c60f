/*
 * experiment_int.h - private to the experiment files of src/core/ (experiment.c: model and
 * rendering; experiment_read.c: reading and validating the JSON form, with its field
 * readers in experiment_read_assign.c and experiment_read_analysis.c;
 * experiment_values.c: the values' one JSON type): what they share. Pure functions and
 * constant data only; any thread.
 */
#ifndef BUNSEN_CORE_EXPERIMENT_INT_H
#define BUNSEN_CORE_EXPERIMENT_INT_H

#include "bunsen/model.h"

/* The JSON names of enum experiment_outcome, indexed by it ("" for OUTCOME_NONE). */
#define EXPERIMENT_OUTCOMES 4
extern const char *const experiment_outcome_names[EXPERIMENT_OUTCOMES];

/* 0 when the variants' values and default_value are all of one JSON type (string, number,
 * boolean, object or array; a variant without a value counts as its key, a string;
 * default_value null takes no part); else -1 with err (ERR_INVALID, the field, the variants
 * named) (experiment_values.c). */
struct err;
int experiment_check_value_types(const struct experiment *x, struct err *err);

/* ---- field readers of experiment_from_json (experiment_read.c) ----
 * Each checks one field v of the JSON form (never NULL: the caller reads only fields
 * present) and writes it into x, replacing what was there (a PATCH starts from a copy of
 * the stored experiment); mode MODEL_LOAD accepts what was stored before a check existed.
 * 0, or -1 with err (ERR_INVALID, the field); on -1 x is left for experiment_clear. */

/* experiment_read_assign.c: who is in and what each user gets. */
/* A variant's or the experiment's value: any JSON value within the size and depth caps
 * (v NULL or null = none), its reals rounded to MODEL_REAL_DIGITS. *dst (owned) is replaced
 * by a copy; field names it in errors. */
int experiment_read_value(const json_t *v, enum model_mode mode, const char *field, json_t **dst,
                          struct err *err);
/* hash_attribute / fallback_attribute into out (n bytes): 1..MODEL_ATTRIBUTE_MAX bytes of
 * text; null writes def. */
int experiment_read_attribute_name(const json_t *v, enum model_mode mode, const char *field,
                                   const char *def, char *out, size_t n, struct err *err);
/* "variants": 2..ASSIGN_MAX_VARIANTS objects {key, name, weight, value}, distinct keys;
 * weights on all (summing to 1) or on none (an equal split). */
int experiment_read_variants(const json_t *v, enum model_mode mode, struct experiment *x,
                             struct err *err);
/* "namespace": {name, range: [start, end]} with 0 <= start < end <= 1, or null. */
int experiment_read_namespace(const json_t *v, enum model_mode mode, struct experiment *x,
                              struct err *err);
/* "targeting": a condition object or null; its operators, depth, size and (when written)
 * regexes checked and its reals rounded. */
int experiment_read_targeting(const json_t *v, enum model_mode mode, struct experiment *x,
                              struct err *err);
/* "forced": {"user id": "variant key"} or null; the keys are checked against the variants
 * by the caller once every field is read. */
int experiment_read_forced(const json_t *v, struct experiment *x, struct err *err);

/* experiment_read_analysis.c: how it is analysed. */
/* "metrics" / "guardrails" (name): null or an array of at most max distinct metric keys,
 * into out[0..*n). */
int experiment_read_key_list(const json_t *v, const char *name, size_t max,
                             char (*out)[MODEL_KEY_MAX + 1], size_t *n, struct err *err);
/* "dimensions": distinct attribute names, at most MODEL_MAX_DIMENSIONS; null = none. */
int experiment_read_dimensions(const json_t *v, struct experiment *x, struct err *err);
/* "analysis": {method, alpha, cuped, correction}, each optional, into a. */
int experiment_read_analysis(const json_t *v, enum model_mode mode, struct analysis_defaults *a,
                             struct err *err);

#endif
