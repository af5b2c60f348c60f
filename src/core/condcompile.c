/*
 * condcompile.c - the compiled form of a targeting condition (condition.h, cond_int.h), the
 * checks of a condition before it is stored (condition_unknown_operator, condition_check_operands:
 * both read the operator table of condition.c, as the compiler does) and the caps on the
 * attributes a request may bring.
 *
 * Owns the side tables of one compiled condition: a hash set per $in/$nin/$ini/$nini
 * array (so a 7,000-id targeting list is one probe per attribute value, not 7,000
 * comparisons; $ini/$nini strings keyed lower-cased), each $alli string lower-cased, and one
 * PCRE2 code per $regex/$regexi pattern (condregex.c: bounded by the budget; interpreted,
 * as the JIT does not count every step), compiled once per experiment definition instead of
 * per evaluation. Built by the snapshot builder, immutable afterwards: request threads read it
 * concurrently without locks.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/condition.h"
#include "bunsen/err.h"
#include "bunsen/util.h"
#include "cond_int.h"
#include "jsval_int.h"

#define WALK_MAX_DEPTH 64 /* as CONDITION_MAX_DEPTH: deeper parts are never evaluated */

struct cond_set_slot {
    uint64_t h; /* 0 = free (hashes are forced odd) */
    size_t off; /* key bytes in the arena */
    size_t len;
};

enum aux_kind { AUX_SET, AUX_SET_CI, AUX_REGEX, AUX_REGEX_CI, AUX_LOWER };

struct aux {
    const json_t *node; /* NULL = free slot */
    enum aux_kind kind;
    struct cond_set *set;
    struct cond_regex re; /* a regex kind: re.code NULL when the pattern is invalid */
    char *lower;          /* AUX_LOWER: the string lower-cased (owned) */
    size_t lower_n;
};

struct condition {
    const json_t *tree; /* borrowed */
    struct aux *aux;    /* open addressing by node address, NULL when none */
    size_t cap;         /* power of two, or 0 */
    size_t n;
};

/* ---- hash sets ---- */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    }
    return h | 1;
}

static bool is_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] >= 0x80) {
            return false;
        }
    }
    return true;
}

/* The key of a value: a type tag, then the bytes that decide `===`. Numbers: the bits of
 * the double with -0 as 0 (NaN never reaches here). Returns the length, at most cap. */
static size_t key_of_number(double d, char *out)
{
    if (d == 0) {
        d = 0; /* -0 === 0 */
    }
    out[0] = 'n';
    memcpy(out + 1, &d, sizeof(d));
    return 1 + sizeof(d);
}

static bool set_find(const struct cond_set *s, const char *k, size_t n)
{
    if (s->cap == 0) {
        return false;
    }
    uint64_t h = hash_bytes(k, n);
    for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        const struct cond_set_slot *sl = &s->slots[i];
        if (sl->h == 0) {
            return false;
        }
        if (sl->h == h && sl->len == n && memcmp(s->arena + sl->off, k, n) == 0) {
            return true;
        }
    }
}

static void set_grow(struct cond_set *s);

static void set_add(struct cond_set *s, const char *k, size_t n)
{
    if ((s->used + 1) * 2 > s->cap) {
        set_grow(s);
    }
    if (set_find(s, k, n)) {
        return;
    }
    uint64_t h = hash_bytes(k, n);
    size_t i = h & (s->cap - 1);
    while (s->slots[i].h != 0) {
        i = (i + 1) & (s->cap - 1);
    }
    if (s->arena_len + n > s->arena_cap) {
        s->arena_cap = (s->arena_cap + n) * 2;
        s->arena = xrealloc(s->arena, s->arena_cap);
    }
    memcpy(s->arena + s->arena_len, k, n);
    s->slots[i] = (struct cond_set_slot){h, s->arena_len, n};
    s->arena_len += n;
    s->used++;
}

static void set_grow(struct cond_set *s)
{
    size_t old_cap = s->cap;
    struct cond_set_slot *old = s->slots;
    s->cap = old_cap ? old_cap * 2 : 16;
    s->slots = xcalloc(s->cap, sizeof(*s->slots));
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].h != 0) {
            size_t j = old[i].h & (s->cap - 1);
            while (s->slots[j].h != 0) {
                j = (j + 1) & (s->cap - 1);
            }
            s->slots[j] = old[i];
        }
    }
    free(old);
}

/* "s" + the string, lower-cased (JavaScript's toLowerCase()) for insensitive sets, into stack
 * (of KEY_STACK bytes) when it fits, else into a buffer the caller frees (free(k) when
 * k != stack). */
#define KEY_STACK 256
static char *string_key(const char *p, size_t n, bool lower, size_t *len, char *stack)
{
    size_t room = 1 + (lower ? JSVAL_LOWER_MAX(n) : n);
    char *k = room <= KEY_STACK ? stack : xmalloc(room);
    k[0] = 's';
    if (lower) {
        *len = 1 + jsval_lower(p, n, k + 1);
    } else {
        memcpy(k + 1, p, n);
        *len = n + 1;
    }
    return k;
}

long cond_fold_steps(const char *s, size_t n)
{
    return (long)(is_ascii(s, n) ? n / 64 : n / 16);
}

static struct cond_set *set_build(const json_t *arr, bool insensitive)
{
    struct cond_set *s = xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->insensitive = insensitive;
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        struct jsval x = jsval_of(v);
        char nk[16];
        switch (x.t) {
        case JSVAL_NULL:
            s->has_null = true;
            break;
        case JSVAL_BOOL:
            if (x.b) {
                s->has_true = true;
            } else {
                s->has_false = true;
            }
            break;
        case JSVAL_NUM:
            if (!isnan(x.num)) {
                set_add(s, nk, key_of_number(x.num, nk));
            }
            break;
        case JSVAL_STR: {
            size_t kn;
            char stack[KEY_STACK];
            char *k =
                string_key(json_string_value(v), json_string_length(v), insensitive, &kn, stack);
            set_add(s, k, kn);
            if (k != stack) {
                free(k);
            }
            break;
        }
        default:
            break; /* objects and arrays are === only to themselves: never an attribute */
        }
    }
    return s;
}

static void set_free(struct cond_set *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) > 1) {
        return;
    }
    free(s->slots);
    free(s->arena);
    free(s);
}

bool cond_set_has(const struct cond_set *s, struct jsval el, long *steps)
{
    switch (el.t) {
    case JSVAL_NULL:
        return s->has_null;
    case JSVAL_BOOL:
        return el.b ? s->has_true : s->has_false;
    case JSVAL_NUM: {
        if (isnan(el.num)) {
            return false;
        }
        char nk[16];
        return set_find(s, nk, key_of_number(el.num, nk));
    }
    case JSVAL_STR: {
        const char *p = json_string_value(el.j);
        size_t pn = json_string_length(el.j);
        *steps += (long)(pn / 64) + (s->insensitive ? cond_fold_steps(p, pn) : 0);
        size_t kn;
        char stack[KEY_STACK];
        char *k = string_key(p, pn, s->insensitive, &kn, stack);
        bool hit = set_find(s, k, kn);
        if (k != stack) {
            free(k);
        }
        return hit;
    }
    default:
        return false;
    }
}

/* ---- side table ---- */

static size_t aux_slot(const struct condition *c, const json_t *node, enum aux_kind kind)
{
    uintptr_t h = ((uintptr_t)node >> 4) * 2654435761u + (uintptr_t)kind;
    return (size_t)h & (c->cap - 1);
}

static const struct aux *aux_find(const struct condition *c, const json_t *node, enum aux_kind kind)
{
    if (c == NULL || c->cap == 0 || node == NULL) {
        return NULL;
    }
    for (size_t i = aux_slot(c, node, kind);; i = (i + 1) & (c->cap - 1)) {
        const struct aux *a = &c->aux[i];
        if (a->node == NULL) {
            return NULL;
        }
        if (a->node == node && a->kind == kind) {
            return a;
        }
    }
}

static void aux_put(struct condition *c, struct aux a);

static void aux_grow(struct condition *c)
{
    struct aux *old = c->aux;
    size_t old_cap = c->cap;
    c->cap = old_cap ? old_cap * 2 : 16;
    c->aux = xcalloc(c->cap, sizeof(*c->aux));
    c->n = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].node != NULL) {
            aux_put(c, old[i]);
        }
    }
    free(old);
}

static void aux_put(struct condition *c, struct aux a)
{
    if ((c->n + 1) * 2 > c->cap) {
        aux_grow(c);
    }
    size_t i = aux_slot(c, a.node, a.kind);
    while (c->aux[i].node != NULL) {
        i = (i + 1) & (c->cap - 1);
    }
    c->aux[i] = a;
    c->n++;
}

const json_t *cond_tree(const struct condition *c)
{
    return c != NULL ? c->tree : NULL;
}

const struct cond_set *cond_aux_set(const struct condition *c, const struct condition *groups,
                                    const json_t *j, bool insensitive)
{
    const struct aux *a = aux_find(c, j, insensitive ? AUX_SET_CI : AUX_SET);
    if (a == NULL) {
        a = aux_find(groups, j, insensitive ? AUX_SET_CI : AUX_SET); /* a saved group */
    }
    return a != NULL ? a->set : NULL;
}

struct condition *condition_compile_groups(const json_t *saved_groups, const struct condition *prev)
{
    struct condition *c = xcalloc(1, sizeof(*c));
    c->tree = saved_groups;
    const char *key;
    const json_t *values;
    json_object_foreach((json_t *)(uintptr_t)saved_groups, key, values)
    {
        if (!json_is_array(values) || aux_find(c, values, AUX_SET) != NULL) {
            continue;
        }
        const struct aux *was = aux_find(prev, values, AUX_SET); /* the same list kept */
        if (was != NULL) {
            atomic_fetch_add_explicit(&was->set->refs, 1, memory_order_relaxed);
        }
        aux_put(c, (struct aux){
                       values, AUX_SET, was ? was->set : set_build(values, false), {0}, NULL, 0});
    }
    return c;
}

const json_t *condition_groups_object(const struct condition *groups)
{
    return groups != NULL ? groups->tree : NULL;
}

const struct cond_regex *cond_aux_regex(const struct condition *c, const json_t *j,
                                        bool insensitive, bool *invalid)
{
    const struct aux *a = aux_find(c, j, insensitive ? AUX_REGEX_CI : AUX_REGEX);
    *invalid = a != NULL && a->re.code == NULL;
    return a != NULL && a->re.code != NULL ? &a->re : NULL;
}

const char *cond_aux_lower(const struct condition *c, const json_t *j, size_t *n)
{
    const struct aux *a = aux_find(c, j, AUX_LOWER);
    *n = a != NULL ? a->lower_n : 0;
    return a != NULL ? a->lower : NULL;
}

/* ---- compile ---- */

static void compile_op(struct condition *c, const char *k, size_t kn, const json_t *v)
{
    const struct cond_op *op = cond_op_find(k, kn); /* the operands to precompile */
    if (op == NULL) {
        return;
    }
    bool ci = op->insensitive;
    if (op->value == COND_OPERAND_LIST && json_is_array(v)) {
        if (aux_find(c, v, ci ? AUX_SET_CI : AUX_SET) == NULL) {
            aux_put(c, (struct aux){v, ci ? AUX_SET_CI : AUX_SET, set_build(v, ci), {0}, NULL, 0});
        }
    } else if (op->value == COND_OPERAND_PATTERN && json_is_string(v)) {
        if (aux_find(c, v, ci ? AUX_REGEX_CI : AUX_REGEX) != NULL) {
            return;
        }
        struct aux a = {v, ci ? AUX_REGEX_CI : AUX_REGEX, NULL, {0}, NULL, 0};
        (void)cond_regex_compile(json_string_value(v), json_string_length(v), ci, &a.re, NULL);
        aux_put(c, a); /* re.code NULL: invalid, the operator does not match */
    } else if (op->value == COND_OPERAND_VALUE_LIST && ci && json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *e = json_array_get(v, i);
            if (!json_is_string(e) || aux_find(c, e, AUX_LOWER) != NULL) {
                continue;
            }
            size_t n = json_string_length(e);
            struct aux a = {e, AUX_LOWER, NULL, {0}, xmalloc(JSVAL_LOWER_MAX(n)), 0};
            a.lower_n = jsval_lower(json_string_value(e), n, a.lower);
            aux_put(c, a);
        }
    }
}

static void compile_walk(struct condition *c, const json_t *j, int depth)
{
    if (depth > WALK_MAX_DEPTH) {
        return;
    }
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            compile_walk(c, json_array_get(j, i), depth + 1);
        }
    } else if (json_is_object(j)) {
        for (void *it = json_object_iter(jsval_unconst(j)); it;
             it = json_object_iter_next(jsval_unconst(j), it)) {
            const json_t *v = json_object_iter_value(it);
            compile_op(c, json_object_iter_key(it), json_object_iter_key_len(it), v);
            compile_walk(c, v, depth + 1);
        }
    }
}

struct condition *condition_compile(const json_t *condition)
{
    struct condition *c = xcalloc(1, sizeof(*c));
    c->tree = condition;
    compile_walk(c, condition, 0);
    return c;
}

void condition_free(struct condition *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->cap; i++) {
        set_free(c->aux[i].set);
        cond_regex_clear(&c->aux[i].re);
        free(c->aux[i].lower);
    }
    free(c->aux);
    free(c);
}

/* ---- validation ---- */

/* Every operator of a condition with an operand it can be evaluated with (review journey33
 * F2: `{"$in": "NL"}` matched nobody and `{"$or": {...}}` everybody, both stored as written).
 * The walk follows the evaluator, both reading the operator table (cond_ops): a condition
 * object's keys are the operators whose `cond` operand is not NONE ($or/$and/$nor, $not) or
 * field paths, whose values are literals (compared as they are, never walked) or operator
 * objects (every key a "$operator", its operand of the operator's `value` kind). path: where
 * v is, NUL-terminated in CHECK_PATH bytes. */
#define CHECK_PATH 128
static int check_operand_cond(const json_t *cond, char *path, int depth, struct err *err);
static int check_operand_value(const json_t *v, char *path, int depth, struct err *err);
static int check_operand_list(const json_t *v, char *path, int depth, struct err *err);

static void path_add(char *path, size_t plen, const char *k, size_t kn)
{
    snprintf(path + plen, CHECK_PATH - plen, ".%.*s", (int)(kn < 40 ? kn : 40), k);
}

/* val, the operand of op (at path), of the shape kind asks for. */
static int check_operand(const struct cond_op *op, enum cond_operand kind, const json_t *val,
                         char *path, int depth, struct err *err)
{
    switch (kind) {
    case COND_OPERAND_NONE: /* not evaluated there: never matches, as it never has */
    case COND_OPERAND_ANY:
        return 0;
    case COND_OPERAND_PATTERN: {
        struct cond_regex re;
        struct err why;
        err_clear(&why);
        if (!json_is_string(val)) {
            return err_set(err, ERR_INVALID, "targeting",
                           "%s takes a pattern string (it cannot be evaluated)", path);
        }
        if (cond_regex_compile(json_string_value(val), json_string_length(val), op->insensitive,
                               &re, &why) != 0) {
            return err_set(err, ERR_INVALID, "targeting",
                           "%s: pattern \"%.40s\" cannot be evaluated: %s", path,
                           json_string_value(val), why.msg);
        }
        cond_regex_clear(&re);
        return 0;
    }
    case COND_OPERAND_LIST:
    case COND_OPERAND_VALUE_LIST: {
        if (!json_is_array(val)) {
            return err_set(err, ERR_INVALID, "targeting",
                           "%s takes a list of values, such as [\"NL\", \"BE\"] (the SDK "
                           "never finds a value in anything else)",
                           path);
        }
        /* $all's elements are condition values ({"$regex": ...} is evaluated: review diff33
         * 5); $in's are literals */
        size_t plen = strlen(path);
        for (size_t i = 0; kind == COND_OPERAND_VALUE_LIST && i < json_array_size(val); i++) {
            snprintf(path + plen, CHECK_PATH - plen, "[%zu]", i);
            if (check_operand_value(json_array_get(val, i), path, depth + 1, err) != 0) {
                return -1;
            }
            path[plen] = '\0';
        }
        return 0;
    }
    case COND_OPERAND_MATCH:
        if (!json_is_object(val)) {
            return err_set(err, ERR_INVALID, "targeting",
                           "%s takes a condition or an operator object (the SDK matches no "
                           "element with anything else)",
                           path);
        }
        return cond_is_operator_object(val) ? check_operand_value(val, path, depth + 1, err)
                                            : check_operand_cond(val, path, depth + 1, err);
    case COND_OPERAND_SIZE:
        /* a number, or what the SDK compares a length with as it compares any value: a
         * string ("3"), a boolean (true: not empty), an operator object */
        if (!json_is_number(val) && !json_is_string(val) && !json_is_boolean(val) &&
            !cond_is_operator_object(val)) {
            return err_set(err, ERR_INVALID, "targeting",
                           "%s takes a number or an operator object such as {\"$gt\": 1} "
                           "(no length equals anything else)",
                           path);
        }
        return check_operand_value(val, path, depth + 1, err);
    case COND_OPERAND_TYPE: {
        /* a missing attribute is null to the SDK as here: no type "undefined" */
        static const char *const types[] = {"string", "number", "boolean",
                                            "array",  "object", "null"};
        bool known = false;
        for (size_t t = 0; json_is_string(val) && t < sizeof(types) / sizeof(types[0]); t++) {
            known = known || strcmp(json_string_value(val), types[t]) == 0;
        }
        if (!known) {
            return err_set(err, ERR_INVALID, "targeting",
                           "%s takes one of \"string\", \"number\", \"boolean\", \"array\", "
                           "\"object\", \"null\" (no value has another type)",
                           path);
        }
        return 0;
    }
    case COND_OPERAND_VALUE:
        return check_operand_value(val, path, depth + 1, err);
    case COND_OPERAND_COND:
        return json_is_object(val)
                   ? check_operand_cond(val, path, depth + 1, err)
                   : err_set(err, ERR_INVALID, "targeting", "%s takes a condition object", path);
    case COND_OPERAND_COND_LIST:
        return check_operand_list(val, path, depth + 1, err);
    }
    return 0;
}

/* A field's value: an operator object's operators; a literal is compared as it is. */
static int check_operand_value(const json_t *v, char *path, int depth, struct err *err)
{
    if (depth > WALK_MAX_DEPTH || !cond_is_operator_object(v)) {
        return 0; /* deeper parts are never evaluated (and refused by the reader's depth) */
    }
    size_t plen = strlen(path);
    for (void *it = json_object_iter(jsval_unconst(v)); it;
         it = json_object_iter_next(jsval_unconst(v), it)) {
        const char *k = json_object_iter_key(it);
        size_t kn = json_object_iter_key_len(it);
        const struct cond_op *op = cond_op_find(k, kn);
        path_add(path, plen, k, kn);
        if (op != NULL &&
            check_operand(op, op->value, json_object_iter_value(it), path, depth, err) != 0) {
            return -1;
        }
        path[plen] = '\0';
    }
    return 0;
}

/* The operand of $or/$and/$nor: a list of condition objects. */
static int check_operand_list(const json_t *v, char *path, int depth, struct err *err)
{
    if (!json_is_array(v)) {
        return err_set(err, ERR_INVALID, "targeting",
                       "%s takes a list of conditions, such as [{\"country\": \"NL\"}] (the "
                       "SDK reads anything else as no condition at all)",
                       path);
    }
    size_t plen = strlen(path);
    for (size_t i = 0; i < json_array_size(v); i++) {
        snprintf(path + plen, CHECK_PATH - plen, "[%zu]", i);
        const json_t *e = json_array_get(v, i);
        if (!json_is_object(e)) {
            return err_set(err, ERR_INVALID, "targeting", "%s must be a condition object", path);
        }
        if (check_operand_cond(e, path, depth + 1, err) != 0) {
            return -1;
        }
        path[plen] = '\0';
    }
    return 0;
}

static int check_operand_cond(const json_t *cond, char *path, int depth, struct err *err)
{
    if (depth > WALK_MAX_DEPTH) {
        return 0;
    }
    size_t plen = strlen(path);
    for (void *it = json_is_object(cond) ? json_object_iter(jsval_unconst(cond)) : NULL; it;
         it = json_object_iter_next(jsval_unconst(cond), it)) {
        const char *k = json_object_iter_key(it);
        size_t kn = json_object_iter_key_len(it);
        const json_t *val = json_object_iter_value(it);
        const struct cond_op *op = cond_op_find(k, kn);
        path_add(path, plen, k, kn);
        int rc = op != NULL && op->cond != COND_OPERAND_NONE
                     ? check_operand(op, op->cond, val, path, depth, err)
                     : check_operand_value(val, path, depth + 1, err); /* a field path */
        if (rc != 0) {
            return -1;
        }
        path[plen] = '\0';
    }
    return 0;
}

/* The operators of the table condition.c evaluates (cond_ops). */
const char *condition_unknown_operator(const json_t *v)
{
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            const char *bad = condition_unknown_operator(e);
            if (bad != NULL) {
                return bad;
            }
        }
        return NULL;
    }
    if (!json_is_object(v)) {
        return NULL;
    }
    const char *k;
    json_t *c;
    json_object_foreach((json_t *)(uintptr_t)v, k, c)
    {
        if (k[0] == '$' && cond_op_find(k, strlen(k)) == NULL) {
            return k;
        }
        const char *bad = condition_unknown_operator(c);
        if (bad != NULL) {
            return bad;
        }
    }
    return NULL;
}

int condition_check_operands(const json_t *condition, struct err *err)
{
    char path[CHECK_PATH] = "targeting";
    return condition == NULL ? 0 : check_operand_cond(condition, path, 0, err);
}

/* ---- attribute caps ---- */

struct check {
    const struct condition_limits *lim;
    size_t bytes;
    struct err *err;
};

/* path: the field name so far (for the error), NUL-terminated in a 64-byte buffer. */
static int check_value(struct check *ck, const json_t *v, size_t depth, char *path)
{
    size_t plen = strlen(path);
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        ck->bytes += n + 2;
        if (n > ck->lim->max_string) {
            return err_set(ck->err, ERR_INVALID, path, "%s is longer than %zu bytes", path,
                           ck->lim->max_string);
        }
    } else if (json_is_array(v) || json_is_object(v)) {
        if (depth > ck->lim->max_depth) {
            return err_set(ck->err, ERR_INVALID, path, "%s nests deeper than %zu levels", path,
                           ck->lim->max_depth);
        }
        ck->bytes += 2;
        if (json_is_array(v)) {
            if (json_array_size(v) > ck->lim->max_array) {
                return err_set(ck->err, ERR_INVALID, path, "%s has more than %zu elements", path,
                               ck->lim->max_array);
            }
            for (size_t i = 0; i < json_array_size(v); i++) {
                snprintf(path + plen, 64 - plen, "[%zu]", i);
                if (check_value(ck, json_array_get(v, i), depth + 1, path) != 0) {
                    return -1;
                }
                path[plen] = '\0';
            }
        } else {
            for (void *it = json_object_iter(jsval_unconst(v)); it;
                 it = json_object_iter_next(jsval_unconst(v), it)) {
                size_t kn = json_object_iter_key_len(it);
                ck->bytes += kn + 3;
                if (plen < 63) { /* as snprintf(".%s") gave: cut to the 64 bytes of path */
                    path[plen] = '.';
                    str_copy(path + plen + 1, 64 - plen - 1, json_object_iter_key(it));
                }
                if (kn > ck->lim->max_string) {
                    return err_set(ck->err, ERR_INVALID, path,
                                   "an attribute name is longer than %zu bytes",
                                   ck->lim->max_string);
                }
                if (check_value(ck, json_object_iter_value(it), depth + 1, path) != 0) {
                    return -1;
                }
                path[plen] = '\0';
            }
        }
    } else {
        ck->bytes += 8;
    }
    if (ck->bytes > ck->lim->max_bytes) {
        path[plen] = '\0';
        return err_set(ck->err, ERR_TOO_LARGE, path, "the attributes exceed %zu bytes",
                       ck->lim->max_bytes);
    }
    return 0;
}

int condition_check_attributes(const json_t *attributes, const struct condition_limits *lim,
                               const char *prefix, struct err *err)
{
    if (attributes == NULL) {
        return 0;
    }
    struct check ck = {lim, 0, err};
    char path[64];
    str_copy(path, sizeof(path), prefix);
    int rc = check_value(&ck, attributes, 1, path);
    if (rc != 0 && err != NULL && err->code == ERR_TOO_LARGE) {
        str_copy(err->field, sizeof(err->field), prefix);
    }
    return rc;
}
