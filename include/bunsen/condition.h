/*
 * condition.h - GrowthBook's targeting condition language (a MongoDB-like query).
 *
 * Conditions and attributes are jansson json_t trees: jansson is used here purely
 * as the in-memory value tree (no parsing or I/O happens in this module). The
 * semantics are those of the GrowthBook JavaScript SDK's evalCondition
 * (packages/sdk-js/src/mongrule.ts), including JavaScript's loose comparisons
 * between mismatched types; see shared/conformance/README.md.
 *
 * Pure and reentrant: no globals, no caches (a $regex is compiled per evaluation);
 * any number of threads may evaluate the same borrowed trees concurrently.
 */
#ifndef BUNSEN_CONDITION_H
#define BUNSEN_CONDITION_H

#include <stdbool.h>

#include <jansson.h>

/* Nesting deeper than this (conditions inside conditions, or values inside values
 * being compared) makes the whole condition fail instead of growing the stack. */
#define CONDITION_MAX_DEPTH 64

/* Evaluate `condition` against `attributes` as GrowthBook's evalCondition does.
 * condition: borrowed; normally an object whose keys are dotted attribute paths or
 *   $or/$nor/$and/$not, and whose values are literals or operator objects
 *   ($eq $ne $lt $lte $gt $gte $in $nin $ini $nini $all $alli $elemMatch $size
 *   $exists $type $not $regex $regexi $veq $vne $vgt $vgte $vlt $vlte $inGroup
 *   $notInGroup). An unknown operator or an invalid regex does not match.
 * attributes: borrowed; the user's attributes (NULL behaves as {}).
 * saved_groups: borrowed; object of group id -> array of values for $inGroup and
 *   $notInGroup, or NULL for none.
 * Returns true when the condition holds. Returns false (no match) where JavaScript
 * would throw (e.g. a null condition) and when CONDITION_MAX_DEPTH is exceeded.
 * Thread-safe; allocates only transient memory (aborts only on OOM, as xmalloc). */
bool condition_eval(const json_t *condition, const json_t *attributes, const json_t *saved_groups);

#endif
