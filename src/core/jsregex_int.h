/*
 * jsregex_int.h - what the two files of the JavaScript-pattern rewrite share (src/core/jsregex.c:
 * groups, names, quantifiers and the entry points of cond_int.h; src/core/jsregex_class.c:
 * classes, escapes and single units): the output buffer of code units, the class bitmap and
 * the parser's state. Private to those two files; pure, any thread (a parser is one call's).
 */
#ifndef BUNSEN_CORE_JSREGEX_INT_H
#define BUNSEN_CORE_JSREGEX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable string of code units. */
struct units {
    uint16_t *p;
    size_t n, cap;
};

/* A set of code units: 65,536 bits, and the words that may hold one. */
struct set {
    uint64_t w[1024];
    size_t lo, hi; /* words [lo, hi) may be non-zero */
};

struct name {
    size_t at, len; /* in parser.names */
    uint32_t group;
};

struct parser {
    const uint16_t *s; /* the pattern's code units */
    size_t n, at;
    bool icase;
    uint32_t groups;    /* capturing groups of the whole pattern */
    struct name *named; /* the named ones, in order */
    size_t nnamed;
    struct units names; /* their names' code units */
    struct set *set;    /* scratch for a class */
    struct units out;
    const char *why; /* the error, NULL while none */
    size_t why_at;
};

/* What the last piece parsed was, for a quantifier after it. */
enum last { LAST_NONE, LAST_ATOM, LAST_ASSERTION };

/* ---- jsregex.c ---- */

/* Append the code unit u to o (grown as needed; aborts on OOM). */
void jsregex_put(struct units *o, uint16_t u);
/* Append the ASCII text s, one unit per byte. */
void jsregex_put_ascii(struct units *o, const char *s);
/* Append v in decimal. */
void jsregex_put_number(struct units *o, uint32_t v);
/* Whether u is an ASCII letter or digit. */
bool jsregex_is_alnum(uint32_t u);
/* Record the parse error why at p->at (the first one wins). Always returns false. */
bool jsregex_fail(struct parser *p, const char *why);
/* k hex digits at p->s[at]: their value, or -1. */
long jsregex_hex_at(const struct parser *p, size_t at, size_t k);
/* "\k<name>" at p->at (past the "k"): the group it names, or 0 with the error recorded. */
uint32_t jsregex_parse_reference(struct parser *p);

/* ---- jsregex_class.c ---- */

/* Empty the set s (only the words that may hold a unit are cleared). */
void jsregex_set_clear(struct set *s);
/* [...] at p->at, written to p->out as the set of units it matches (closed under "i"); false
 * with the error recorded. Uses p->set as scratch. */
bool jsregex_parse_class(struct parser *p);
/* One unit outside a class, written to p->out: itself, or under "i" (but for ASCII, left to
 * PCRE2_CASELESS) the set of units it matches when that is more than itself. */
void jsregex_put_char(struct parser *p, uint16_t u);
/* "." written to o: any unit but a line terminator ("[^\n\r\x{2028}\x{2029}]"). */
void jsregex_put_dot(struct units *o);
/* An escape outside a class at p->at (the backslash), written to p->out; *last set to what
 * it was. False with the error recorded. */
bool jsregex_parse_escape(struct parser *p, enum last *last);

#endif
