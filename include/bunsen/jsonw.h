/*
 * jsonw.h - writing JSON text straight into a struct buf: every JSON reply (jsonw_dumps of
 * a jansson tree) and the replies and log lines on hot paths (/assign, the access log),
 * where building a jansson tree only to dump it cost more allocations than the rest of the
 * request.
 *
 * Reals are written in the shortest form that reads back as the same double (digits 0,
 * what replies use: 0.1 is "0.1", 1/3 is "0.3333333333333333"), as JavaScript and Python
 * print them, or to a fixed number of significant digits. Otherwise the output is byte for
 * byte what json_dumps() gives with JSON_COMPACT: strings escaped alike, ".0" on integral
 * reals, members in insertion order. Pure functions (src/jsonw.c), thread-safe.
 * The buf's cap applies: on overflow a function returns -1 and the buffer keeps what fit
 * (callers size the cap far above any reply they write, and check once at the end).
 */
#ifndef BUNSEN_JSONW_H
#define BUNSEN_JSONW_H

#include <jansson.h>
#include <stddef.h>

#include "bunsen/util.h"

/* Append s (0..n bytes, valid UTF-8) as a quoted JSON string: '"' and '\' escaped, control
 * characters as \b \f \n \r \t or \u00XX, everything else as is. 0 or -1. */
int jsonw_append_string(struct buf *b, const char *s, size_t n);

/* Append NUL-terminated s as is (JSON punctuation, literals, keys known to need no
 * escaping). 0 or -1. */
int jsonw_append_raw(struct buf *b, const char *s);

/* Append a finite real: digits 0 in the shortest of 15, 16 or 17 significant digits that
 * reads back as v; digits 1..17 as jansson prints it with JSON_REAL_PRECISION(digits)
 * ("%.<digits>g"). Either way with ".0" added to integral values and the exponent without
 * '+' or leading zeros. Returns -1 for NaN and infinities (jansson refuses them too). */
int jsonw_append_real(struct buf *b, double v, int digits);

/* v as "%.<d>g" with the fewest d in 15..17 that reads back as v ("0.1", "1e+20", "1"):
 * the text CSV cells use. Returns the length, or -1 if out (n >= 32 suffices) is short. */
int jsonw_real_text(char *out, size_t n, double v);

/* Append an integer. 0 or -1. */
int jsonw_append_int(struct buf *b, long long v);

/* Append any jansson value (borrowed) as json_dumps(v, flags) would print it. 0 or -1. A
 * test hook (test_jsonw): the daemon does not call it. */
int jsonw_append_value(struct buf *b, const json_t *v, size_t flags);

/* Append any jansson value (borrowed), compact, reals shortest (digits 0). -1 on overflow,
 * NaN/infinity or nesting deeper than 2048 (jansson's parser limit). */
int jsonw_append_json(struct buf *b, const json_t *v);

/* jsonw_append_json into a malloc'd NUL-terminated string (*len its length when len is not
 * NULL); NULL on failure. What every JSON reply sends. */
char *jsonw_dumps(const json_t *v, size_t *len);

/* jsonw_dumps laid out as json_dumps(v, JSON_INDENT(indent) | JSON_PRESERVE_ORDER) lays it
 * out (indent 1..31; 0 is jsonw_dumps), reals the shortest all the same: what the CLI
 * prints (`bunsen results --format json`), the same numbers as the API's replies. */
char *jsonw_dumps_indent(const json_t *v, int indent, size_t *len);

#endif
