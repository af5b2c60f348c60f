/*
 * condition.h - GrowthBook's targeting condition language (a MongoDB-like query).
 *
 * Conditions and attributes are jansson json_t trees: jansson is used here purely
 * as the in-memory value tree (no parsing or I/O happens in this module). The
 * semantics are those of the GrowthBook JavaScript SDK's evalCondition
 * (packages/sdk-js/src/mongrule.ts), including JavaScript's loose comparisons
 * between mismatched types; see shared/conformance/README.md.
 *
 * Two forms: condition_eval() evaluates a json_t condition as it is (tests, validation);
 * condition_compile() builds, once per experiment definition (snapshot build), a compiled
 * form with $in/$nin lists as hash sets and regexes compiled once (JavaScript patterns
 * rewritten for PCRE2, interpreted), and condition_match() evaluates it under a per-request
 * step budget. Both
 * give the same answers (the conformance tests run both).
 *
 * Pure and reentrant: no globals; a compiled condition is immutable after
 * condition_compile, so any number of threads may evaluate it concurrently.
 */
#ifndef BUNSEN_CONDITION_H
#define BUNSEN_CONDITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* The first "$operator" key in condition (borrowed; any JSON) that the evaluator does not
 * know, or NULL. An unknown one would silently match nobody (GrowthBook's rule), which is
 * never what an editor meant: experiment targeting refuses it. Thread-safe. */
const char *condition_unknown_operator(const json_t *condition);

/* Check that every operator of condition (borrowed; NULL ok) has an operand it can be
 * evaluated with: "$regex" / "$regexi" a pattern string JavaScript's RegExp accepts and PCRE2
 * can run (core/jsregex.c, core/condregex.c); "$in" "$nin" "$ini" "$nini" "$all" "$alli" a
 * list; "$or" "$and" "$nor" a list of condition objects; "$not" of a condition an object;
 * "$elemMatch" an object; "$size" a number, string, boolean or operator object; "$type" a
 * type name; each element of "$all" / "$alli" a value whose operators are checked too. Returns 0,
 * or -1 with err (ERR_INVALID, field "targeting") naming the first that cannot: where it is (e.g.
 * targeting.$or[1].ua.$regex) and why. Such an operator never matches, or (a "$or" given an object)
 * always does, as GrowthBook's SDK evaluates it: never what an editor meant. Literals (a field's
 * value that is not an operator object, the operand of "$eq") are not looked into. Thread-safe. */
struct err;
int condition_check_operands(const json_t *condition, struct err *err);

/* A compiled condition (cond_int.h). */
struct condition;

/* Compile `condition` (borrowed: it must outlive the result; NULL allowed, meaning
 * "everyone"). Never fails: what cannot be precompiled is evaluated as condition_eval does
 * (an invalid regex still simply does not match). Free with condition_free. */
struct condition *condition_compile(const json_t *condition);
void condition_free(struct condition *c);

/* Saved groups (an object of key -> array of values; borrowed: it must outlive the result)
 * compiled for $inGroup / $notInGroup: each array becomes a set, probed in ~2 budget steps
 * instead of one per value. An array that prev (the groups compiled before, or NULL) has
 * too, the same node, shares its set. The result is what condition_match is given; it is
 * not bound to any condition, so one compiled condition can be evaluated against different
 * groups (the snapshots that share an experiment's definition each have their own). Free
 * with condition_free, after the last evaluation given it. */
struct condition *condition_compile_groups(const json_t *saved_groups,
                                           const struct condition *prev);
/* The saved groups object compiled groups were made from (borrowed), or NULL for NULL. */
const json_t *condition_groups_object(const struct condition *groups);

/* A regex answer remembered for the rest of one request (condition.c): the compiled code
 * (shared by every condition with the same pattern), the subject's address, length and keyed
 * hash. */
struct condition_regex_memo {
    const void *code;
    const char *subj;
    size_t n;
    uint64_t hash;
    bool match;
};

#define CONDITION_REGEX_MEMO 16 /* answers remembered per request, the oldest replaced */

/* A per-request evaluation budget in steps (one step ~ 50 ns: one operator, half a set
 * probe, one comparison of a list scan; a regex pays for the PCRE2 backtracking steps it
 * takes over its whole subject, 4 to a step interpreted, more for wide patterns, for
 * patterns with many groups or a group under a counted repeat, and for patterns that can
 * read the subject between counted steps: core/condregex.c; measured 30-75 ns a step on a
 * 4 KB near miss, tests/unit/test_regex_cost.c). Shared by
 * every condition evaluated for one request, and so is its memo: a $regex / $regexi that
 * was answered in this request for the same compiled pattern and the same attribute value
 * (six experiments targeting one pattern) answers again for one step, so the budget bounds
 * distinct work only and an answer does not depend on what was evaluated before it.
 * Set up with condition_budget_init (or zero-initialise all but left / unlimited); one
 * request (one thread) at a time. */
struct condition_budget {
    long left;      /* steps left; < 0 once exhausted */
    bool unlimited; /* never exhausted (tests, tools) */
    /* answers stored so far: slots [0, min(memo_next, CONDITION_REGEX_MEMO)) are filled, the
     * next goes to memo_next % CONDITION_REGEX_MEMO; the others are never read, so the array
     * need not be initialised (zeroing its ~680 bytes for every /assign showed in callgrind) */
    unsigned memo_next;
    struct condition_regex_memo memo[CONDITION_REGEX_MEMO];
};

/* A budget of steps (the memo left uninitialised: see memo_next). */
static inline void condition_budget_init(struct condition_budget *b, long steps, bool unlimited)
{
    b->left = steps;
    b->unlimited = unlimited;
    b->memo_next = 0;
}

/* Default steps per request (--eval-budget): a few ms of the worst operators on one core
 * (2.3 ms for 30 experiments of 20 x (?:a|a){1,12}c on 4 KB subjects; 11.5 ms before group
 * copies were charged), ~50 x what 1,000 running experiments with simple targeting take. */
#define CONDITION_BUDGET_DEFAULT 50000

/* Evaluate compiled c against attributes (borrowed, NULL as {}) and the saved groups
 * compiled by condition_compile_groups (borrowed; NULL: none, $inGroup sees no group),
 * charging budget (NULL = unlimited). Returns 1 (holds), 0 (does not) or -1 when the budget
 * ran out (the answer is unknown: the caller refuses the request). Thread-safe. */
int condition_match(const struct condition *c, const json_t *attributes,
                    const struct condition *groups, struct condition_budget *budget);

/* Caps on the attributes a caller may send (API.md "Evaluation limits"). */
struct condition_limits {
    size_t max_bytes;  /* total: key and string bytes + 8 per other value */
    size_t max_depth;  /* nesting of objects and arrays; the attributes object is 1 */
    size_t max_array;  /* elements of one array */
    size_t max_string; /* bytes of one string value or key */
};

#define CONDITION_ATTR_MAX_BYTES  65536
#define CONDITION_ATTR_MAX_DEPTH  8
#define CONDITION_ATTR_MAX_ARRAY  1000
#define CONDITION_ATTR_MAX_STRING 4096

/* Check attributes (borrowed, NULL ok) against lim. Returns 0, or -1 with err naming the
 * offending field under `prefix` (e.g. "attributes.tags[3]"): ERR_TOO_LARGE for the total
 * size, ERR_INVALID for depth, array length and string length. */
struct err;
int condition_check_attributes(const json_t *attributes, const struct condition_limits *lim,
                               const char *prefix, struct err *err);

#endif
