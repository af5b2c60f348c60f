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

#endif
