/*
 * saved_group.h - saved groups (API.md "Variant values and hashing attribute"): a named
 * list of values of one attribute, used by targeting conditions through GrowthBook's
 * `{"attr": {"$inGroup": "group-key"}}` and `$notInGroup` operators, and shipped to SDKs
 * as the payload's `savedGroups` (key -> values).
 *
 * Pure (src/core/saved_group.c): no I/O, no globals. Documents are jansson trees, as in
 * model.h. Thread-safety: none needed (values owned by one caller).
 */
#ifndef BUNSEN_SAVED_GROUP_H
#define BUNSEN_SAVED_GROUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bunsen/err.h"
#include "bunsen/model.h"

/* At most this many values in one group (each a string of at most 256 bytes or a
 * number): large groups are what saved groups are for, the condition evaluator scans them
 * linearly per $inGroup. */
#define SAVED_GROUP_MAX_VALUES 100000

/* Read doc ({"key", "name"?, "attribute", "values", "description"?}) into a new normalised
 * document *out (the caller decrefs) with every field present. MODEL_CREATE: key,
 * attribute and values are required; MODEL_PATCH: base (the stored document) supplies
 * what doc omits, and the key cannot change; MODEL_LOAD: a stored document, read-only
 * fields (created_at, updated_at) kept. Read-only fields in CREATE/PATCH are ignored.
 * Returns 0, or -1 with ERR_INVALID and the field. */
int saved_group_from_json(const json_t *doc, enum model_mode mode, const json_t *base, json_t **out,
                          struct err *err);

/* The first saved group key that condition (borrowed, may be NULL) names through $inGroup
 * or $notInGroup and that groups (object key -> anything, borrowed, may be NULL) lacks, or
 * NULL when every one exists. Also reports a $inGroup whose argument is not a string (as
 * "" - such an operator can never be evaluated). */
const char *saved_group_missing(const json_t *condition, const json_t *groups);

/* Does condition (may be NULL) name group key through $inGroup or $notInGroup? */
bool saved_group_is_used(const json_t *condition, const char *key);

#endif
