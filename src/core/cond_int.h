/*
 * cond_int.h - private to src/core/: the compiled form of a targeting condition
 * (condcompile.c) as the evaluator (condition.c) reads it.
 *
 * A compiled condition keeps the condition's json_t tree (borrowed) and adds side
 * tables keyed by the address of a node of that tree: a hash set for the array of every
 * $in/$nin/$ini/$nini, a compiled (JIT where available) PCRE2 code for the string of every
 * $regex/$regexi. The evaluator walks the same tree as before and asks for the side
 * entry of the node it is at; no entry (or no compiled condition) means "do it the slow
 * way", which keeps one set of semantics for both.
 */
#ifndef BUNSEN_CORE_COND_INT_H
#define BUNSEN_CORE_COND_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bunsen/condition.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* PCRE2 options closest to a JavaScript RegExp without flags: backslash-u escapes, "$"
 * only at the very end, unset backreferences match empty, "[^]" is any character. */
#define COND_JS_REGEX_OPTS                                                                         \
    (PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY | PCRE2_MATCH_UNSET_BACKREF |               \
     PCRE2_ALLOW_EMPTY_CLASS | PCRE2_NEVER_BACKSLASH_C)

/* Backtracking steps one regex match may take (PCRE2 match limit). */
#define COND_REGEX_MATCH_LIMIT 10000u /* ~50 us with the JIT */

/* The values of one $in-style array, as JavaScript `===` (or, for the insensitive
 * operators, as toLowerCase() equality) sees them. */
struct cond_set {
    _Atomic size_t refs; /* a saved group's set is shared by the snapshots that keep it */
    bool insensitive;    /* keys of ASCII strings are lower-cased */
    bool has_null, has_true, has_false;
    size_t cap; /* slots, a power of two */
    size_t used;
    struct cond_set_slot *slots; /* open addressing, linear probing */
    char *arena;                 /* key bytes */
    size_t arena_len, arena_cap;
    const json_t **strings; /* insensitive only: every string, for non-ASCII probes */
    size_t nstrings;
    const json_t **nonascii; /* insensitive only: the non-ASCII strings */
    size_t nnonascii;
};

/* The condition tree a compiled condition was built from (NULL: no targeting). */
const json_t *cond_tree(const struct condition *c);

/* Set for the $in-style array node j (insensitive: of $ini/$nini), or NULL. c may be NULL. */
const struct cond_set *cond_aux_set(const struct condition *c, const json_t *j, bool insensitive);
/* Compiled regex for the string node j, or NULL when there is none; *invalid is set when the
 * pattern was compiled and found invalid (the operator then does not match). */
const pcre2_code *cond_aux_regex(const struct condition *c, const json_t *j, bool insensitive,
                                 bool *invalid);

/* The compiled condition's match context (match limit set; read-only while matching, so
 * shared by threads), or NULL when c is NULL. */
pcre2_match_context *cond_match_context(const struct condition *c);

/* True when the set holds a value === el (toLowerCase-equal for insensitive sets); *steps
 * is increased by the comparisons made beyond the one probe. */
struct jsval;
bool cond_set_has(const struct cond_set *s, struct jsval el, long *steps);

/* a.toLowerCase() === b.toLowerCase() (see condition.c on non-ASCII). */
bool cond_ci_equal(const char *a, size_t an, const char *b, size_t bn);

#endif
