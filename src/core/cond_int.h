/*
 * cond_int.h - private to src/core/: the table of targeting operators (condition.c cond_ops),
 * and the compiled form of a targeting condition (condcompile.c) as the evaluator (condition.c)
 * reads it.
 *
 * The operator table names each "$operator" once, with the shape of its operand: the evaluator
 * dispatches on it, the compiler finds the operands it precompiles in it, and
 * condition_unknown_operator / condition_check_operands (condcompile.c) accept exactly its
 * operators and refuse an operand of the wrong shape for its kind. A new operator is a row there
 * (and a case in the evaluator's switches, which the compiler insists on).
 *
 * A compiled condition keeps the condition's json_t tree (borrowed) and adds side
 * tables keyed by the address of a node of that tree: a hash set for the array of every
 * $in/$nin/$ini/$nini, a compiled (interpreted, counted) PCRE2 code for the string of every
 * $regex/$regexi (its JavaScript pattern rewritten by jsregex.c for PCRE2's 16-bit library). The
 * evaluator walks the same tree as before and asks for the side entry of the node it is at; no
 * entry (or no compiled condition) means "do it the slow way", which keeps one set of semantics for
 * both.
 */
#ifndef BUNSEN_CORE_COND_INT_H
#define BUNSEN_CORE_COND_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bunsen/condition.h"

#define PCRE2_CODE_UNIT_WIDTH 16
#include <pcre2.h>

/* ---- the operators ---- */

/* The shape of operand an operator is evaluated with (condition_check_operands refuses any
 * other shape, as the SDK would never match it, or always would). */
enum cond_operand {
    COND_OPERAND_NONE,       /* not an operator where it stands: a condition's key is then a field
                                path; in an operator object, the SDK never matches it (and the
                                check lets it be, as it always has) */
    COND_OPERAND_ANY,        /* any value, compared as it is ($eq, $gt, $veq, $exists, $inGroup) */
    COND_OPERAND_LIST,       /* a list of literals ($in) */
    COND_OPERAND_VALUE_LIST, /* a list of condition values, each checked ($all) */
    COND_OPERAND_VALUE,      /* a condition value: a literal, or an operator object checked */
    COND_OPERAND_COND,       /* a condition object ($not as a condition's key) */
    COND_OPERAND_COND_LIST,  /* a list of condition objects ($or) */
    COND_OPERAND_MATCH,      /* an object: an operator object, else a condition ($elemMatch) */
    COND_OPERAND_SIZE,       /* a number, string, boolean or operator object ($size) */
    COND_OPERAND_TYPE,       /* a type name other than "undefined" ($type) */
    COND_OPERAND_PATTERN,    /* a JavaScript pattern that compiles ($regex) */
};

/* What the evaluator does (condition.c eval_op, eval_logical); the insensitive forms share
 * their sensitive form's id. */
enum cond_op_id {
    COND_OP_EQ,
    COND_OP_NE,
    COND_OP_LT,
    COND_OP_LTE,
    COND_OP_GT,
    COND_OP_GTE,
    COND_OP_EXISTS,
    COND_OP_VEQ,
    COND_OP_VNE,
    COND_OP_VGT,
    COND_OP_VGTE,
    COND_OP_VLT,
    COND_OP_VLTE,
    COND_OP_IN,
    COND_OP_NIN,
    COND_OP_IN_GROUP,
    COND_OP_NOT_IN_GROUP,
    COND_OP_NOT,
    COND_OP_SIZE,
    COND_OP_ELEM_MATCH,
    COND_OP_ALL,
    COND_OP_REGEX,
    COND_OP_TYPE,
    COND_OP_OR,
    COND_OP_AND,
    COND_OP_NOR,
};

/* One operator: its operand in an operator object (a field's value) and as a key of a condition
 * object; COND_OPERAND_NONE where it is not one. */
struct cond_op {
    const char *name; /* "$in" */
    size_t len;       /* strlen(name) */
    enum cond_op_id id;
    enum cond_operand value; /* in an operator object */
    enum cond_operand cond;  /* as a condition object's key */
    bool insensitive;        /* compares toLowerCase() of strings ($ini, $nini, $alli, $regexi) */
};

/* Every operator, cond_ops_count rows, each name once (condition.c). */
extern const struct cond_op cond_ops[];
extern const size_t cond_ops_count;

/* The row of operator k[0..kn), or NULL when k is no operator (not "$"-prefixed, or unknown).
 * Thread-safe. */
const struct cond_op *cond_op_find(const char *k, size_t kn);

/* PCRE2 options for a pattern jsregex_translate() wrote: UTF-16 code units one at a time (no
 * UTF, no Unicode properties: \b and case folding are ASCII, the rest is spelled out), unset
 * backreferences match empty, "[]" matches nothing and "[^]" any unit, as in JavaScript. */
#define COND_JS_REGEX_OPTS                                                                         \
    (PCRE2_NEVER_UTF | PCRE2_NEVER_UCP | PCRE2_MATCH_UNSET_BACKREF | PCRE2_ALLOW_EMPTY_CLASS |     \
     PCRE2_NEVER_BACKSLASH_C)

/* Backtracking steps (PCRE2's match limit) one $regex operation may take over its whole
 * subject, every start position together: this many plus COND_REGEX_LIMIT_PER_BYTE per subject
 * byte (a plain scan takes one or two a byte). Beyond it the operator does not match. */
#define COND_REGEX_MATCH_LIMIT    10000u
#define COND_REGEX_LIMIT_PER_BYTE 4u
/* ... plus 4 n^2 for a subject of n code units (a greedy run giving its characters back from
 * every start position), at most this many, and with a budget no more than half of what it
 * has left pays for; the runs of one operation together (condregex.c cond_regex_match) */
#define COND_REGEX_GIVEBACK_MAX 400000u

/* The heap one $regex match may take for its backtracking frames (PCRE2's heap limit, KiB;
 * its default is 20 GB): beyond it the evaluation is over budget. */
#define COND_REGEX_HEAP_KIB 8192u

/* A $regex / $regexi pattern compiled for bounded matching (condregex.c). */
struct cond_regex {
    pcre2_code *code; /* anchored: the pattern itself when PCRE2 anchors it, else
                         "(?s:.*?)(?:pattern)", so the match limit covers every start */
    /* budget weight of one PCRE2 step: 1 + (the pattern's width + the bytes of a
     * backtracking frame) / 256 + its group copies / 3, where the width is len * (1 + its
     * repeat counts, each no more than the subject's length) and the group copies are its
     * groups plus the counts of the repeats of a group (PCRE2 compiles (?:a|b){1,12} as
     * twelve copies, entered and left without a counted step), no more than the subject's
     * length; computed per subject (cond_regex_match) */
    uint32_t len;          /* the longer of the pattern and its rewrite */
    uint32_t nrepeats;     /* counted repeats {n}, {n,}, {n,m} */
    uint64_t counts;       /* the sum of their counts (each at most 65,535) */
    uint32_t groups;       /* groups, "(" of any kind */
    uint64_t group_counts; /* the sum of the counts of the repeats that follow a ")" */
    uint32_t frame_bytes;  /* 16 per capture group: PCRE2 copies a frame at each step */
    bool scans;            /* can read the subject without counted steps: weight + subject / 32 */
    bool wrapped;          /* code is the prefixed form (a scan takes a step or two a byte) */
    struct regex_entry *shared; /* the cache entry that owns code (condregex.c), or NULL */
};

/* Per-evaluation scratch for cond_regex_match (made on first use, cond_regex_scratch_free). */
struct cond_regex_scratch {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    uint16_t *text; /* the subject in UTF-16 */
    size_t cap;     /* units text holds */
};

/* Compile pattern pat[0..n) ($regexi: insensitive), a JavaScript pattern, into out (never
 * JIT-compiled: see condregex.c). Returns 0, or -1 with err (may be NULL; field "targeting")
 * saying why JavaScript or PCRE2 refuses it; out then holds nothing. Free with
 * cond_regex_clear (accepts a cleared or failed one). A pattern compiled while another
 * compiled copy of it is alive shares that copy's code (a process-wide cache of the live
 * patterns): a reload of the definitions compiles only the patterns that are new. */
struct err;
int cond_regex_compile(const char *pat, size_t n, bool insensitive, struct cond_regex *out,
                       struct err *err);
void cond_regex_clear(struct cond_regex *r);
/* Live patterns in the cache, and patterns compiled since the process started (tests). */
size_t cond_regex_cache_live(void);
uint64_t cond_regex_cache_compiles(void);
void cond_regex_scratch_free(struct cond_regex_scratch *s);

/* Does r match subj[0..sn)? left: budget steps left (ignored when unlimited). Adds the steps
 * it took to *cost (the caller charges them). Returns 1 match, 0 no match (also at the
 * operation's limit, and for a subject that is not UTF-8), -1 when `left` could not pay for
 * the work the answer needs (the caller's budget is then spent). Thread-safe for distinct s. */
int cond_regex_match(const struct cond_regex *r, struct cond_regex_scratch *s, const char *subj,
                     size_t sn, bool unlimited, long left, long *cost);

/* The JavaScript pattern pat[0..n) (UTF-8) as new RegExp(pat) reads it (insensitive:
 * new RegExp(pat, "i")), rewritten as a PCRE2 pattern for the 16-bit library with
 * COND_JS_REGEX_OPTS (plus PCRE2_CASELESS when insensitive) over UTF-16 code units (jsregex.c).
 * Returns 0 and *out (malloc'd, the caller frees), *out_n units; or -1 with err (may be NULL,
 * field "targeting": JavaScript's reason and the code unit offset) when JavaScript throws. */
int jsregex_translate(const char *pat, size_t n, bool insensitive, uint16_t **out, size_t *out_n,
                      struct err *err);

/* UTF-8 s[0..n) as UTF-16 into *buf (grown to n + 1 units when *cap is smaller; the caller
 * frees it), *len units. Returns 0, or -1 when s is not well-formed UTF-8. */
int jsregex_utf16(const char *s, size_t n, uint16_t **buf, size_t *cap, size_t *len);

/* The values of one $in-style array, as JavaScript `===` (or, for the insensitive
 * operators, as toLowerCase() equality) sees them. */
struct cond_set {
    _Atomic size_t refs; /* a saved group's set is shared by the snapshots that keep it */
    bool insensitive;    /* string keys are lower-cased (JavaScript's toLowerCase()) */
    bool has_null, has_true, has_false;
    size_t cap; /* slots, a power of two */
    size_t used;
    struct cond_set_slot *slots; /* open addressing, linear probing */
    char *arena;                 /* key bytes */
    size_t arena_len, arena_cap;
};

/* The condition tree a compiled condition was built from (NULL: no targeting). */
const json_t *cond_tree(const struct condition *c);

/* Set for the $in-style array node j (insensitive: of $ini/$nini): c's own, else the one
 * groups (saved groups compiled by condition_compile_groups) has for a group's array; or NULL.
 * c and groups may be NULL. */
const struct cond_set *cond_aux_set(const struct condition *c, const struct condition *groups,
                                    const json_t *j, bool insensitive);
/* Compiled regex for the string node j, or NULL when there is none; *invalid is set when the
 * pattern was compiled and found invalid (the operator then does not match). */
const struct cond_regex *cond_aux_regex(const struct condition *c, const json_t *j,
                                        bool insensitive, bool *invalid);

/* True when the set holds a value === el (toLowerCase-equal for insensitive sets); *steps
 * is increased by the bytes hashed and folded beyond the one probe. */
struct jsval;
bool cond_set_has(const struct cond_set *s, struct jsval el, long *steps);

/* Budget steps to lower-case n bytes of s (jsval_lower): 1 per 64 ASCII bytes, 1 per 16
 * otherwise (~20 ns a non-ASCII code point). */
long cond_fold_steps(const char *s, size_t n);

/* The lower-cased text of the string node j of an $alli list (compiled once), or NULL. */
const char *cond_aux_lower(const struct condition *c, const json_t *j, size_t *n);

/* GrowthBook's isOperatorObject: a non-empty object whose every key begins with '$' (its
 * operators apply to a field's value; any other object is a literal to compare). */
bool cond_is_operator_object(const json_t *o);

#endif
