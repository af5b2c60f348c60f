/*
 * jsval_int.h - JavaScript value semantics over json_t, private to src/core/
 * (used by condition.c). A struct jsval is a JavaScript value as the GrowthBook SDK
 * sees it: a borrowed json_t, or a synthesized number (an array's length). All
 * functions are pure and thread-safe; `failed` (never NULL) is set to true, and never
 * cleared, when a value nests deeper than CONDITION_MAX_DEPTH or a joined array
 * exceeds its 1 MiB scratch cap: the caller then treats the condition as no match.
 */
#ifndef BUNSEN_CORE_JSVAL_INT_H
#define BUNSEN_CORE_JSVAL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "bunsen/util.h"

enum jsval_type { JSVAL_NULL, JSVAL_BOOL, JSVAL_NUM, JSVAL_STR, JSVAL_ARR, JSVAL_OBJ };

struct jsval {
    enum jsval_type t;
    bool b;          /* JSVAL_BOOL */
    double num;      /* JSVAL_NUM */
    const json_t *j; /* borrowed; NULL for null and synthesized numbers */
};

/* ToString() of a value: borrowed (strings), in num[] or in scratch (arrays). */
struct jsval_str {
    const char *s;
    size_t n;
    char num[32];
    struct buf scratch;
};

/* jansson's iterator API takes json_t * although it only reads: the one cast. */
json_t *jsval_unconst(const json_t *j);

/* The value of j (NULL is null); borrows j. */
struct jsval jsval_of(const json_t *j);

/* A synthesized number. */
struct jsval jsval_number(double d);

/* Number.prototype.toString(): writes NUL-terminated text, returns its length. */
size_t jsval_number_to_string(double d, char out[32]);

/* ToString(ToPrimitive(v)) into out (arrays join with ","; objects are
 * "[object Object]"); release with jsval_str_free(). */
void jsval_to_string(struct jsval v, struct jsval_str *out, bool *failed);
void jsval_str_free(struct jsval_str *s);

/* !!v */
bool jsval_truthy(struct jsval v);

/* ToNumber(v) (NaN for objects and non-numeric strings). */
double jsval_to_number(struct jsval v, bool *failed);

/* Compare valid UTF-8 strings in UTF-16 code unit order: <0, 0, >0. */
int jsval_utf16_cmp(const char *a, size_t an, const char *b, size_t bn);

/* a === b (objects and arrays by reference). */
bool jsval_strict_equal(struct jsval a, struct jsval b);

/* a < b: 1 true, 0 false, -1 undefined (a NaN took part). */
int jsval_less(struct jsval a, struct jsval b, bool *failed);

/* True for a canonical array index ("0", "17", not "01"), which JS orders first. */
bool jsval_is_index_key(const char *k, size_t n);

/* JSON.stringify(a) === JSON.stringify(b), without building either string. */
bool jsval_stringify_equal(struct jsval a, const json_t *b, bool *failed);

/* Room jsval_lower needs for n bytes of text (a code point at most grows from 2 bytes to 3). */
#define JSVAL_LOWER_MAX(n) ((n) + (n) / 2 + 4)

/* JavaScript's text.toLowerCase() of UTF-8 text[0..n) into out (at least JSVAL_LOWER_MAX(n)
 * bytes; not NUL-terminated); returns its length. Bytes that are not UTF-8 are copied.
 * jslower.c. */
size_t jsval_lower(const char *text, size_t n, char *out);

#endif
