/*
 * jsonw.h - writing JSON text straight into a struct buf, for the replies and log lines
 * on hot paths (/assign, the access log), where building a jansson tree only to dump it
 * cost more allocations than the rest of the request.
 *
 * The output is byte for byte what json_dumps() gives for the same values with
 * JSON_COMPACT (and JSON_REAL_PRECISION(digits) for reals), so a reply does not change
 * when it moves from a tree to this writer. Pure functions (src/jsonw.c), thread-safe.
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

/* Append a finite real as jansson prints it with JSON_REAL_PRECISION(digits) (1..17;
 * "%.<digits>g", with ".0" added to integral values and the exponent without '+' or
 * leading zeros). Returns -1 for NaN and infinities (jansson refuses them too). */
int jsonw_append_real(struct buf *b, double v, int digits);

/* Append an integer. 0 or -1. */
int jsonw_append_int(struct buf *b, long long v);

/* Append any jansson value (borrowed) as json_dumps(v, flags) would print it. 0 or -1. */
int jsonw_append_value(struct buf *b, const json_t *v, size_t flags);

#endif
