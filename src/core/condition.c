/*
 * condition.c - GrowthBook's targeting condition language over json_t trees.
 *
 * Owns the table of operators (cond_ops, cond_int.h: each "$operator" once, with the shape of
 * its operand), which the compiler and the checks (condcompile.c) read too, and nothing beyond
 * one evaluation otherwise: the reference is the GrowthBook JavaScript
 * SDK's mongrule.ts, and every rule below mirrors a line of it, JavaScript's loose
 * semantics included (`value + "" === cond`, `value * 1 === cond`, `<` on mixed
 * types, JSON.stringify equality). jansson is used purely as the in-memory value
 * tree; nothing is parsed or written here. Entered concurrently by request threads:
 * there are no globals. With a compiled condition (condcompile.c) the $in-style lists
 * are probed as hash sets and each $regex is compiled once; without one (condition_eval)
 * lists are scanned and a $regex is compiled by PCRE2 per evaluation. Every step is
 * charged to the request's budget; when it runs out the evaluation stops (-1). A regex
 * answer is remembered in the budget for the rest of the request (regex_op), so identical
 * targeting in several experiments pays once.
 *
 * Where JavaScript would throw (a null or string where a condition object belongs)
 * the evaluation is "poisoned" and the whole condition fails; so does nesting deeper
 * than CONDITION_MAX_DEPTH, so hostile input cannot overflow the stack.
 * JavaScript's value semantics (ToString, ToNumber, ===, <, JSON.stringify equality)
 * live in jsval.c (private header jsval_int.h) to keep each file short.
 * The insensitive operators compare toLowerCase() of both sides (jslower.c; lists folded
 * once when compiled, attributes once per operation). $regex / $regexi patterns are
 * JavaScript's, rewritten for PCRE2 over UTF-16 code units (jsregex.c; the few differences
 * left are listed there and in docs/API.md).
 */
#include "bunsen/condition.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "cond_int.h"
#include "jsval_int.h"

#define SCRATCH_CAP (1u << 20) /* cap on one padded version string */

struct ctx {
    const struct condition *comp;  /* side tables, or NULL (condition_eval) */
    const json_t *groups;          /* saved groups, may be NULL */
    const struct condition *sets;  /* groups compiled (condition_match), or NULL: scanned */
    int depth;                     /* current condition nesting */
    bool poisoned;                 /* JS would throw, too deep or out of budget: fails */
    bool exhausted;                /* the budget ran out */
    bool unlimited;                /* no budget */
    long left;                     /* steps left */
    struct cond_regex_scratch rx;  /* PCRE2 match data and context, made on the first regex */
    struct condition_budget *memo; /* the request's remembered regex answers, or NULL */
};

/* Charge n steps; running out poisons the evaluation. */
static void charge(struct ctx *c, long n)
{
    if (c->unlimited) {
        return;
    }
    c->left -= n;
    if (c->left < 0) {
        c->exhausted = true;
        c->poisoned = true;
    }
}

static bool eval_cond(struct ctx *c, struct jsval obj, const json_t *cond);
static bool eval_value(struct ctx *c, const json_t *cond, struct jsval value);

static void buf_add(struct ctx *c, struct buf *b, const char *s, size_t n)
{
    if (buf_append(b, s, n) < 0) {
        c->poisoned = true;
    }
}

/* $regex / $regexi on subj: the compiled pattern when there is one, else compiled here (100
 * steps). The work is bounded by the budget left and charged as it is done (condregex.c);
 * a budget that cannot pay for the answer is spent, and the evaluation fails. */
static bool regex_op(struct ctx *c, const json_t *pattern, bool insensitive, const char *subj,
                     size_t sn)
{
    charge(c, 1);
    if (c->poisoned) {
        return false;
    }
    bool invalid = false;
    const struct cond_regex *re = cond_aux_regex(c->comp, pattern, insensitive, &invalid);
    struct cond_regex own = {0};
    if (invalid) {
        return false;
    }
    if (re == NULL) {
        charge(c, 100); /* a compilation */
        if (c->poisoned ||
            cond_regex_compile(json_string_value(pattern), json_string_length(pattern), insensitive,
                               &own, NULL) != 0) {
            return false;
        }
        re = &own;
    }
    /* a pattern compiled with the condition is shared by every condition with that pattern
     * (condregex.c's cache), so its code names it for the rest of the request; the subject
     * is named by its address and length, confirmed by its keyed hash (a buffer of jsval.c
     * may hold another text at the same address) */
    struct condition_regex_memo *slot = NULL;
    if (re != &own && c->memo != NULL) {
        unsigned used =
            c->memo->memo_next < CONDITION_REGEX_MEMO ? c->memo->memo_next : CONDITION_REGEX_MEMO;
        for (size_t i = 0; i < used && slot == NULL; i++) {
            struct condition_regex_memo *m = &c->memo->memo[i];
            if (m->code == (const void *)re->code && m->subj == subj && m->n == sn) {
                if (m->hash == hash_keyed(subj, sn)) {
                    return m->match;
                }
                slot = m; /* another text since: replaced */
            }
        }
        if (slot == NULL) {
            slot = &c->memo->memo[c->memo->memo_next % CONDITION_REGEX_MEMO];
        }
    }
    long cost = 0;
    int rc = cond_regex_match(re, &c->rx, subj, sn, c->unlimited, c->left, &cost);
    cond_regex_clear(&own);
    charge(c, cost);
    if (rc < 0) {
        c->exhausted = true;
        c->poisoned = true;
    } else if (slot != NULL && cost >= (long)(sn / 64)) {
        /* kept only when the match cost at least what hashing the subject does (~1 step
         * per 64 bytes, not charged): the memo never costs more than it saves, and an
         * anchored pattern on a long subject (a few steps) is not hashed at all */
        if (slot == &c->memo->memo[c->memo->memo_next % CONDITION_REGEX_MEMO]) {
            c->memo->memo_next++;
        }
        *slot = (struct condition_regex_memo){.code = re->code,
                                              .subj = subj,
                                              .n = sn,
                                              .hash = hash_keyed(subj, sn),
                                              .match = rc == 1};
    }
    return rc == 1 && !c->poisoned;
}

/* A string lower-cased for the insensitive operators (JavaScript's toLowerCase(), jslower.c):
 * in `stack` when it fits, else in `heap`, or borrowed from the compiled condition. Not to be
 * copied once filled (s may point into stack). */
struct folded {
    const char *s; /* NULL until folded */
    size_t n;
    char *heap; /* owned, or NULL */
    char stack[128];
};

/* Fold text[0..n) into f, charging the bytes folded. */
static void fold(struct ctx *c, struct folded *f, const char *text, size_t n)
{
    charge(c, cond_fold_steps(text, n));
    size_t room = JSVAL_LOWER_MAX(n);
    char *w = room <= sizeof(f->stack) ? f->stack : xmalloc(room);
    f->heap = w != f->stack ? w : NULL;
    f->n = jsval_lower(text, n, w);
    f->s = w;
}

static void fold_free(struct folded *f)
{
    free(f->heap);
    f->heap = NULL;
    f->s = NULL;
}

/* The lower-cased string node ex: compiled once ($alli lists) or folded now into f. */
static void fold_node(struct ctx *c, struct folded *f, const json_t *ex)
{
    f->heap = NULL;
    f->s = cond_aux_lower(c->comp, ex, &f->n);
    if (f->s == NULL) {
        fold(c, f, json_string_value(ex), json_string_length(ex));
    }
}

static bool folded_equal(struct ctx *c, const struct folded *a, const struct folded *b)
{
    charge(c, (long)(a->n / 64));
    return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
}

/* GrowthBook paddedVersionString() into out: drop a leading "v" and "+build",
 * split on "-" and ".", add "~" to a plain x.y.z, left-pad numeric parts to 5. */
static void padded_version(struct ctx *c, struct jsval v, struct buf *out)
{
    struct jsval_str sv;
    bool str = v.t == JSVAL_STR || v.t == JSVAL_NUM;
    jsval_to_string(v, &sv, &c->poisoned);
    const char *s = sv.s;
    size_t n = sv.n;
    if (!str || n == 0) {
        s = "0";
        n = 1;
    }
    /* "+.*$": "." stops at line terminators, so the first "+" after the last one */
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n' || s[i] == '\r' ||
            (i + 2 < n && memcmp(s + i, "\xe2\x80", 2) == 0 &&
             (s[i + 2] == '\xa8' || s[i + 2] == '\xa9'))) {
            from = i + 1;
        }
    }
    const char *plus = memchr(s + from, '+', n - from);
    size_t end = plus ? (size_t)(plus - s) : n;
    size_t i = (n > 0 && s[0] == 'v') ? 1 : 0;
    size_t parts = 1;
    for (size_t k = i; k < end; k++) {
        parts += s[k] == '-' || s[k] == '.';
    }
    for (size_t p = 0; p < parts; p++) {
        size_t k = i;
        bool digits = true;
        while (k < end && s[k] != '-' && s[k] != '.') {
            digits = digits && s[k] >= '0' && s[k] <= '9';
            k++;
        }
        if (p > 0) {
            buf_add(c, out, "-", 1);
        }
        if (digits && k > i && k - i < 5) {
            buf_add(c, out, "    ", 5 - (k - i));
        }
        buf_add(c, out, s + i, k - i);
        i = k + 1;
    }
    if (parts == 3) {
        buf_add(c, out, "-~", 2);
    }
    jsval_str_free(&sv);
}

static int version_cmp(struct ctx *c, struct jsval a, const json_t *b)
{
    struct buf x, y;
    buf_init(&x, SCRATCH_CAP);
    buf_init(&y, SCRATCH_CAP);
    padded_version(c, a, &x);
    padded_version(c, jsval_of(b), &y);
    charge(c, (long)((x.len + y.len) / 16)); /* both padded, then compared */
    int r = jsval_utf16_cmp(x.data ? x.data : "", x.len, y.data ? y.data : "", y.len);
    buf_free(&x);
    buf_free(&y);
    return r;
}

/* isIn(): actual (or any element of an actual array) is in expected. A compiled list is
 * probed as a set; otherwise every pair is compared, one step each. */
static bool is_in(struct ctx *c, struct jsval actual, const json_t *expected, bool insensitive)
{
    const struct cond_set *set = cond_aux_set(c->comp, c->sets, expected, insensitive);
    size_t n = actual.t == JSVAL_ARR ? json_array_size(actual.j) : 1;
    for (size_t i = 0; i < n && !c->poisoned; i++) {
        struct jsval el = actual.t == JSVAL_ARR ? jsval_of(json_array_get(actual.j, i)) : actual;
        if (set != NULL) {
            long steps = 2;
            bool hit = cond_set_has(set, el, &steps);
            charge(c, steps);
            if (hit) {
                return true;
            }
            continue;
        }
        charge(c, 1 + (long)json_array_size(expected));
        bool fold_el = insensitive && el.t == JSVAL_STR;
        struct folded fe = {0};
        if (fold_el) {
            fold(c, &fe, json_string_value(el.j), json_string_length(el.j)); /* once */
        }
        bool hit = false;
        for (size_t k = 0; k < json_array_size(expected) && !c->poisoned && !hit; k++) {
            struct jsval ex = jsval_of(json_array_get(expected, k));
            if (fold_el && ex.t == JSVAL_STR) {
                struct folded fx;
                fold(c, &fx, json_string_value(ex.j), json_string_length(ex.j));
                hit = folded_equal(c, &fe, &fx);
                fold_free(&fx);
            } else {
                hit = jsval_strict_equal(el, ex);
            }
        }
        if (fold_el) {
            fold_free(&fe);
        }
        if (hit && !c->poisoned) {
            return true;
        }
    }
    return false;
}

/* savedGroups[expected] || [] ; a group that is not an array counts as []. */
static const json_t *saved_group(struct ctx *c, const json_t *expected)
{
    if (c->groups == NULL || !json_is_object(c->groups)) {
        return NULL;
    }
    struct jsval_str key;
    jsval_to_string(jsval_of(expected), &key, &c->poisoned);
    const json_t *g = json_object_getn(c->groups, key.s, key.n);
    jsval_str_free(&key);
    return json_is_array(g) ? g : NULL;
}

bool cond_is_operator_object(const json_t *o)
{
    if (!json_is_object(o) || json_object_size(o) == 0) {
        return false;
    }
    for (void *it = json_object_iter(jsval_unconst(o)); it;
         it = json_object_iter_next(jsval_unconst(o), it)) {
        if (json_object_iter_key_len(it) == 0 || json_object_iter_key(it)[0] != '$') {
            return false;
        }
    }
    return true;
}

static bool elem_match(struct ctx *c, struct jsval actual, const json_t *expected)
{
    if (actual.t != JSVAL_ARR) {
        return false;
    }
    if (expected == NULL || json_is_null(expected)) {
        c->poisoned = true; /* Object.keys(null) throws */
        return false;
    }
    bool op = cond_is_operator_object(expected);
    for (size_t i = 0; i < json_array_size(actual.j); i++) {
        struct jsval el = jsval_of(json_array_get(actual.j, i));
        /* only null elements are skipped (SDK 1.8.0: `(actual[i] ?? null) !== null`); 0, ""
         * and false are tested (they were skipped as falsy, as older SDKs did) */
        if (el.t != JSVAL_NULL && (op ? eval_value(c, expected, el) : eval_cond(c, el, expected))) {
            return true;
        }
    }
    return false;
}

/* $alli: a string condition compares String(element).toLowerCase() with the condition's
 * (folded once when compiled); each element is folded once per operation, when first needed. */
static bool is_in_all_ci(struct ctx *c, const json_t *actual, const json_t *expected)
{
    size_t na = json_array_size(actual);
    struct folded *fa = xcalloc(na ? na : 1, sizeof(*fa));
    bool all = true;
    for (size_t i = 0; i < json_array_size(expected) && all && !c->poisoned; i++) {
        const json_t *e = json_array_get(expected, i);
        bool passed = false;
        if (!json_is_string(e)) { /* insensitivity only changes string conditions */
            for (size_t j = 0; j < na && !passed; j++) {
                passed = eval_value(c, e, jsval_of(json_array_get(actual, j)));
            }
            all = passed;
            continue;
        }
        struct folded fe;
        fold_node(c, &fe, e);
        for (size_t j = 0; j < na && !passed && !c->poisoned; j++) {
            charge(c, 1);
            if (fa[j].s == NULL) {
                struct jsval_str sv;
                jsval_to_string(jsval_of(json_array_get(actual, j)), &sv, &c->poisoned);
                fold(c, &fa[j], sv.s, sv.n);
                jsval_str_free(&sv);
            }
            passed = folded_equal(c, &fa[j], &fe);
        }
        fold_free(&fe);
        all = passed;
    }
    for (size_t j = 0; j < na; j++) {
        if (fa[j].s != NULL) {
            fold_free(&fa[j]);
        }
    }
    free(fa);
    return all && !c->poisoned;
}

static bool is_in_all(struct ctx *c, struct jsval actual, const json_t *expected, bool insensitive)
{
    if (actual.t != JSVAL_ARR) {
        return false;
    }
    if (insensitive) {
        return is_in_all_ci(c, actual.j, expected);
    }
    for (size_t i = 0; i < json_array_size(expected); i++) {
        bool passed = false;
        for (size_t j = 0; j < json_array_size(actual.j) && !passed; j++) {
            passed =
                eval_value(c, json_array_get(expected, i), jsval_of(json_array_get(actual.j, j)));
        }
        if (!passed) {
            return false;
        }
    }
    return true;
}

static const char *type_name(struct jsval v)
{
    static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
    return names[v.t];
}

/* The operators, each once (cond_int.h): what the evaluator dispatches on below, what the
 * compiler precompiles and what condition_unknown_operator / condition_check_operands accept. */
#define OP(name, id, value, cond, ci)                                                              \
    {                                                                                              \
        name, sizeof(name) - 1, COND_OP_##id, COND_OPERAND_##value, COND_OPERAND_##cond, ci        \
    }
const struct cond_op cond_ops[] = {
    OP("$eq", EQ, ANY, NONE, false),
    OP("$ne", NE, ANY, NONE, false),
    OP("$lt", LT, ANY, NONE, false),
    OP("$lte", LTE, ANY, NONE, false),
    OP("$gt", GT, ANY, NONE, false),
    OP("$gte", GTE, ANY, NONE, false),
    OP("$exists", EXISTS, ANY, NONE, false),
    OP("$veq", VEQ, ANY, NONE, false),
    OP("$vne", VNE, ANY, NONE, false),
    OP("$vgt", VGT, ANY, NONE, false),
    OP("$vgte", VGTE, ANY, NONE, false),
    OP("$vlt", VLT, ANY, NONE, false),
    OP("$vlte", VLTE, ANY, NONE, false),
    OP("$in", IN, LIST, NONE, false),
    OP("$ini", IN, LIST, NONE, true),
    OP("$nin", NIN, LIST, NONE, false),
    OP("$nini", NIN, LIST, NONE, true),
    OP("$inGroup", IN_GROUP, ANY, NONE, false),
    OP("$notInGroup", NOT_IN_GROUP, ANY, NONE, false),
    OP("$not", NOT, VALUE, COND, false),
    OP("$size", SIZE, SIZE, NONE, false),
    OP("$elemMatch", ELEM_MATCH, MATCH, NONE, false),
    OP("$all", ALL, VALUE_LIST, NONE, false),
    OP("$alli", ALL, VALUE_LIST, NONE, true),
    OP("$regex", REGEX, PATTERN, NONE, false),
    OP("$regexi", REGEX, PATTERN, NONE, true),
    OP("$type", TYPE, TYPE, NONE, false),
    /* a condition's keys only: in an operator object the SDK does not know them (no match) */
    OP("$or", OR, NONE, COND_LIST, false),
    OP("$and", AND, NONE, COND_LIST, false),
    OP("$nor", NOR, NONE, COND_LIST, false),
};
#undef OP
const size_t cond_ops_count = sizeof(cond_ops) / sizeof(cond_ops[0]);

const struct cond_op *cond_op_find(const char *k, size_t kn)
{
    if (kn < 2 || k[0] != '$') {
        return NULL; /* a field path */
    }
    for (size_t i = 0; i < cond_ops_count; i++) {
        if (cond_ops[i].len == kn && memcmp(cond_ops[i].name, k, kn) == 0) {
            return &cond_ops[i];
        }
    }
    return NULL;
}

/* evalOperatorCondition(): one operator of an operator object (op: NULL when unknown). */
static bool eval_op(struct ctx *c, const struct cond_op *op, struct jsval actual,
                    const json_t *expected)
{
    if (op == NULL || op->value == COND_OPERAND_NONE) {
        return false; /* unknown operator */
    }
    struct jsval ex = jsval_of(expected);
    switch (op->id) {
    case COND_OP_VEQ:
        return version_cmp(c, actual, expected) == 0;
    case COND_OP_VNE:
        return version_cmp(c, actual, expected) != 0;
    case COND_OP_VGT:
        return version_cmp(c, actual, expected) > 0;
    case COND_OP_VGTE:
        return version_cmp(c, actual, expected) >= 0;
    case COND_OP_VLT:
        return version_cmp(c, actual, expected) < 0;
    case COND_OP_VLTE:
        return version_cmp(c, actual, expected) <= 0;
    case COND_OP_EQ:
        return jsval_strict_equal(actual, ex);
    case COND_OP_NE:
        return !jsval_strict_equal(actual, ex);
    case COND_OP_LT:
        return jsval_less(actual, ex, &c->poisoned) == 1;
    case COND_OP_LTE:
        return jsval_less(ex, actual, &c->poisoned) == 0; /* a <= b is !(b < a), false on NaN */
    case COND_OP_GT:
        return jsval_less(ex, actual, &c->poisoned) == 1;
    case COND_OP_GTE:
        return jsval_less(actual, ex, &c->poisoned) == 0;
    case COND_OP_EXISTS:
        return jsval_truthy(ex) ? actual.t != JSVAL_NULL : actual.t == JSVAL_NULL;
    case COND_OP_IN:
        return json_is_array(expected) && is_in(c, actual, expected, op->insensitive);
    case COND_OP_NIN:
        return json_is_array(expected) && !is_in(c, actual, expected, op->insensitive);
    case COND_OP_IN_GROUP:
        return is_in(c, actual, saved_group(c, expected), false);
    case COND_OP_NOT_IN_GROUP:
        return !is_in(c, actual, saved_group(c, expected), false);
    case COND_OP_NOT:
        return !eval_value(c, expected, actual);
    case COND_OP_SIZE:
        return actual.t == JSVAL_ARR &&
               eval_value(c, expected, jsval_number((double)json_array_size(actual.j)));
    case COND_OP_ELEM_MATCH:
        return elem_match(c, actual, expected);
    case COND_OP_ALL:
        return json_is_array(expected) && is_in_all(c, actual, expected, op->insensitive);
    case COND_OP_REGEX: {
        if (!json_is_string(expected)) {
            return false; /* JS: regex.replace() throws inside try -> false */
        }
        struct jsval_str s;
        jsval_to_string(actual, &s, &c->poisoned);
        bool hit = !c->poisoned && regex_op(c, expected, op->insensitive, s.s, s.n);
        jsval_str_free(&s);
        return hit;
    }
    case COND_OP_TYPE:
        return json_is_string(expected) &&
               strcmp(json_string_value(expected), type_name(actual)) == 0;
    case COND_OP_OR:
    case COND_OP_AND:
    case COND_OP_NOR:
        break; /* a condition's keys (op->value NONE): not reached */
    }
    return false;
}

static bool enter(struct ctx *c)
{
    charge(c, 1);
    if (c->poisoned || ++c->depth > CONDITION_MAX_DEPTH) {
        c->poisoned = true;
        return false;
    }
    return true;
}

/* evalConditionValue(): a literal or an operator object against one value (its insensitive
 * form, for $alli's strings, is is_in_all_ci). */
static bool eval_value(struct ctx *c, const json_t *cond, struct jsval value)
{
    if (!enter(c)) {
        return false;
    }
    bool ok = true;
    if (json_is_string(cond)) {
        struct jsval_str s;
        jsval_to_string(value, &s, &c->poisoned);
        const char *cs = json_string_value(cond);
        size_t cn = json_string_length(cond);
        charge(c, (long)(s.n / 64));
        ok = s.n == cn && memcmp(s.s, cs, cn) == 0;
        jsval_str_free(&s);
    } else if (json_is_number(cond)) {
        ok = jsval_to_number(value, &c->poisoned) == jsval_of(cond).num;
    } else if (json_is_boolean(cond)) {
        ok = value.t != JSVAL_NULL && jsval_truthy(value) == json_is_true(cond);
    } else if (json_is_null(cond)) {
        ok = value.t == JSVAL_NULL;
    } else if (!cond_is_operator_object(cond)) {
        ok = jsval_stringify_equal(value, cond, &c->poisoned);
    } else {
        for (void *it = json_object_iter(jsval_unconst(cond)); it && ok;
             it = json_object_iter_next(jsval_unconst(cond), it)) {
            ok = eval_op(c, cond_op_find(json_object_iter_key(it), json_object_iter_key_len(it)),
                         value, json_object_iter_value(it));
        }
    }
    c->depth--;
    return ok && !c->poisoned;
}

/* getPath(): follow a dotted path; anything missing is null. */
static struct jsval get_path(struct jsval obj, const char *path, size_t n)
{
    struct jsval cur = obj;
    size_t i = 0;
    for (;;) {
        const char *dot = memchr(path + i, '.', n - i);
        size_t pn = dot ? (size_t)(dot - (path + i)) : n - i;
        const char *part = path + i;
        if (cur.t == JSVAL_OBJ) {
            const json_t *child = json_object_getn(cur.j, part, pn);
            if (child == NULL) {
                return jsval_of(NULL);
            }
            cur = jsval_of(child);
        } else if (cur.t == JSVAL_ARR && jsval_is_index_key(part, pn) &&
                   strtoul(part, NULL, 10) < json_array_size(cur.j)) {
            cur = jsval_of(json_array_get(cur.j, strtoul(part, NULL, 10)));
        } else if (cur.t == JSVAL_ARR && pn == 6 && memcmp(part, "length", 6) == 0) {
            cur = jsval_number((double)json_array_size(cur.j));
        } else {
            return jsval_of(NULL);
        }
        if (dot == NULL) {
            return cur;
        }
        i += pn + 1;
    }
}

/* A list of conditions for $or/$and/$nor: NULL when JS would throw, else the
 * array (non-arrays without a length act as an empty list). */
static bool cond_list(struct ctx *c, const json_t *v, const json_t **arr)
{
    if (json_is_null(v) || json_is_string(v)) {
        c->poisoned = true;
        return false;
    }
    *arr = json_is_array(v) ? v : NULL;
    return true;
}

static bool eval_or(struct ctx *c, struct jsval obj, const json_t *v)
{
    const json_t *list;
    if (!cond_list(c, v, &list)) {
        return false;
    }
    if (list == NULL || json_array_size(list) == 0) {
        return true;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (eval_cond(c, obj, json_array_get(list, i))) {
            return true;
        }
    }
    return false;
}

static bool eval_and(struct ctx *c, struct jsval obj, const json_t *v)
{
    const json_t *list;
    if (!cond_list(c, v, &list)) {
        return false;
    }
    for (size_t i = 0; list && i < json_array_size(list); i++) {
        if (!eval_cond(c, obj, json_array_get(list, i))) {
            return false;
        }
    }
    return true;
}

/* A logical key of a condition object (op->cond is not NONE) on obj. */
static bool eval_logical(struct ctx *c, const struct cond_op *op, struct jsval obj, const json_t *v)
{
    switch (op->id) {
    case COND_OP_OR:
        return eval_or(c, obj, v);
    case COND_OP_NOR:
        return !eval_or(c, obj, v);
    case COND_OP_AND:
        return eval_and(c, obj, v);
    case COND_OP_NOT:
        return !eval_cond(c, obj, v);
    case COND_OP_EQ:
    case COND_OP_NE:
    case COND_OP_LT:
    case COND_OP_LTE:
    case COND_OP_GT:
    case COND_OP_GTE:
    case COND_OP_EXISTS:
    case COND_OP_VEQ:
    case COND_OP_VNE:
    case COND_OP_VGT:
    case COND_OP_VGTE:
    case COND_OP_VLT:
    case COND_OP_VLTE:
    case COND_OP_IN:
    case COND_OP_NIN:
    case COND_OP_IN_GROUP:
    case COND_OP_NOT_IN_GROUP:
    case COND_OP_SIZE:
    case COND_OP_ELEM_MATCH:
    case COND_OP_ALL:
    case COND_OP_REGEX:
    case COND_OP_TYPE:
        break; /* field paths there (op->cond NONE): not reached */
    }
    return false;
}

/* evalCondition(): every entry of a condition object must hold. */
static bool eval_cond(struct ctx *c, struct jsval obj, const json_t *cond)
{
    if (!enter(c)) {
        return false;
    }
    bool ok = true;
    if (cond == NULL || json_is_null(cond) || json_is_string(cond)) {
        c->poisoned = true; /* JS: `in` on a primitive throws; strings unsupported */
        ok = false;
    } else if (json_is_array(cond)) { /* Object.entries(array): keys "0", "1", ... */
        for (size_t i = 0; i < json_array_size(cond) && ok; i++) {
            char k[24];
            int kn = snprintf(k, sizeof(k), "%zu", i);
            ok = eval_value(c, json_array_get(cond, i), get_path(obj, k, (size_t)kn));
        }
    } else if (json_is_object(cond)) {
        for (void *it = json_object_iter(jsval_unconst(cond)); it && ok;
             it = json_object_iter_next(jsval_unconst(cond), it)) {
            const char *k = json_object_iter_key(it);
            size_t kn = json_object_iter_key_len(it);
            const json_t *v = json_object_iter_value(it);
            const struct cond_op *op = cond_op_find(k, kn);
            if (op != NULL && op->cond != COND_OPERAND_NONE) {
                ok = eval_logical(c, op, obj, v);
            } else {
                ok = eval_value(c, v, get_path(obj, k, kn));
            }
        }
    } /* numbers and booleans have no entries: true */
    c->depth--;
    return ok && !c->poisoned;
}

bool condition_eval(const json_t *condition, const json_t *attributes, const json_t *saved_groups)
{
    struct ctx c = {.comp = NULL, .groups = saved_groups, .unlimited = true};
    bool ok = eval_cond(&c, jsval_of(attributes), condition);
    cond_regex_scratch_free(&c.rx);
    return ok && !c.poisoned;
}

int condition_match(const struct condition *comp, const json_t *attributes,
                    const struct condition *groups, struct condition_budget *budget)
{
    const json_t *condition = cond_tree(comp);
    if (condition == NULL) {
        return 1; /* no targeting: everyone */
    }
    struct ctx c = {.comp = comp, .groups = condition_groups_object(groups), .sets = groups};
    c.unlimited = budget == NULL || budget->unlimited;
    c.left = budget != NULL ? budget->left : 0;
    c.memo = budget;
    bool ok = eval_cond(&c, jsval_of(attributes), condition);
    cond_regex_scratch_free(&c.rx);
    if (budget != NULL && !budget->unlimited) {
        budget->left = c.left;
    }
    if (c.exhausted) {
        return -1;
    }
    return ok && !c.poisoned ? 1 : 0;
}
