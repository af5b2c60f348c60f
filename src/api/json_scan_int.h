/*
 * json_scan_int.h - the token readers of the hand-written body readers (assign_body.c,
 * events_body.c): each reads one JSON token of a restricted, common shape from [p, end)
 * and says false, leaving the caller to fall back to jansson, for anything else. They
 * never accept a token jansson (json_loadb, JSON_REJECT_DUPLICATES) would read otherwise:
 * tests/fuzz/fuzz_assign_body.c and fuzz_events_body.c check that differentially.
 * Static inline: they sit on the /assign and /events hot paths. Pure; thread-safe.
 */
#ifndef BUNSEN_API_JSON_SCAN_INT_H
#define BUNSEN_API_JSON_SCAN_INT_H

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"

struct reader {
    const char *p, *end;
};

static inline bool scan_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline void skip_ws(struct reader *rd)
{
    while (rd->p < rd->end && scan_is_ws(*rd->p)) {
        rd->p++;
    }
}

/* The end of a scalar inside an object or array: a delimiter, whitespace or the end. */
static inline bool scan_at_delimiter(const struct reader *rd, const char *p)
{
    return p >= rd->end || *p == ',' || *p == '}' || *p == ']' || scan_is_ws(*p);
}

/* A string without escapes or control characters, valid UTF-8: *s, *n point into the
 * body. false for anything else (the jansson path decodes escapes). */
static inline bool read_plain_string(struct reader *rd, const char **s, size_t *n)
{
    if (rd->p >= rd->end || *rd->p != '"') {
        return false;
    }
    const char *start = ++rd->p;
    while (rd->p < rd->end && *rd->p != '"') {
        unsigned char c = (unsigned char)*rd->p;
        if (c < 0x20 || c == '\\') {
            return false;
        }
        rd->p++;
    }
    if (rd->p >= rd->end) {
        return false;
    }
    *s = start;
    *n = (size_t)(rd->p - start);
    rd->p++;
    return utf8_valid(*s, *n);
}

/* true, false or null (as *is_null); the literal must end at a delimiter. */
static inline bool read_literal(struct reader *rd, bool *value, bool *is_null)
{
    static const struct {
        const char *text;
        size_t n;
        bool value, null;
    } lits[] = {{"true", 4, true, false}, {"false", 5, false, false}, {"null", 4, false, true}};
    for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
        size_t n = lits[i].n;
        if ((size_t)(rd->end - rd->p) >= n && memcmp(rd->p, lits[i].text, n) == 0) {
            const char *after = rd->p + n;
            if (!scan_at_delimiter(rd, after)) {
                return false;
            }
            rd->p = after;
            *value = lits[i].value;
            *is_null = lits[i].null;
            return true;
        }
    }
    return false;
}

/* A small integer as jansson reads it: -?(0|[1-9][0-9]*), at most 18 digits (no overflow
 * to check), ending at a delimiter other than ']'. false for anything else (reals,
 * exponents, leading zeros, longer numbers: left to jansson). */
static inline bool read_small_int(struct reader *rd, json_int_t *v)
{
    const char *p = rd->p;
    bool neg = p < rd->end && *p == '-';
    p += neg ? 1 : 0;
    const char *digits = p;
    json_int_t x = 0;
    while (p < rd->end && *p >= '0' && *p <= '9' && p - digits < 18) {
        x = x * 10 + (*p - '0');
        p++;
    }
    size_t nd = (size_t)(p - digits);
    if (nd == 0 || (p < rd->end && *p >= '0' && *p <= '9') || (nd > 1 && digits[0] == '0')) {
        return false;
    }
    if (!scan_at_delimiter(rd, p) || (p < rd->end && *p == ']')) {
        return false;
    }
    *v = neg ? -x : x;
    rd->p = p;
    return true;
}

/* Any JSON number as jansson reads it and json_number_value() returns it: a small integer
 * (read_small_int) converted to double, or a real -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?
 * [0-9]+)? through strtod, as jansson's lexer does (finite results only: jansson refuses
 * an overflow). *is_int says which. false for anything else, or a token over 63 bytes. */
static inline bool read_number(struct reader *rd, double *v, bool *is_int, json_int_t *iv)
{
    struct reader at = *rd;
    if (read_small_int(&at, iv)) {
        *v = (double)*iv;
        *is_int = true;
        *rd = at;
        return true;
    }
    const char *p = rd->p;
    p += p < rd->end && *p == '-' ? 1 : 0;
    if (p >= rd->end || *p < '0' || *p > '9') {
        return false;
    }
    if (*p == '0') {
        p++;
    } else {
        while (p < rd->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    bool real = false;
    if (p < rd->end && *p == '.') {
        const char *d = ++p;
        while (p < rd->end && *p >= '0' && *p <= '9') {
            p++;
        }
        if (p == d) {
            return false;
        }
        real = true;
    }
    if (p < rd->end && (*p == 'e' || *p == 'E')) {
        p++;
        p += p < rd->end && (*p == '+' || *p == '-') ? 1 : 0;
        const char *d = p;
        while (p < rd->end && *p >= '0' && *p <= '9') {
            p++;
        }
        if (p == d) {
            return false;
        }
        real = true;
    }
    /* an integer read_small_int left (19+ digits) is jansson's: it may overflow */
    size_t n = (size_t)(p - rd->p);
    if (!real || n >= 64 || !scan_at_delimiter(rd, p) || (p < rd->end && *p == ']')) {
        return false;
    }
    char tok[64];
    memcpy(tok, rd->p, n);
    tok[n] = '\0';
    char *e = NULL;
    double x = strtod(tok, &e);
    if (e != tok + n || !isfinite(x)) {
        return false;
    }
    *v = x;
    *is_int = false;
    rd->p = p;
    return true;
}

#endif
