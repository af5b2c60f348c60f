/*
 * experiment_int.h - private to the experiment files of src/core/ (experiment.c: model and
 * rendering; experiment_read.c: reading and validating the JSON form): what both use.
 * Constant data only; any thread.
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

#endif
