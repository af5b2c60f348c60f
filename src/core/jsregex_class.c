/*
 * jsregex_class.c - the character classes, escapes and single code units of a JavaScript
 * pattern rewritten for PCRE2 (jsregex.c has the whole rewrite and what it spells out): "."
 * and \d \s \w \D \S \W as JavaScript's sets, [...] with its Annex B ranges ([\d-z]), the
 * escapes that name one unit (\n \cX \xHH \uHHHH, legacy octal, identity escapes), numbered
 * and named back-references, and each unit as a PCRE2 literal. It owns the class bitmap's
 * operations (struct set) and the case-insensitive closure of units and classes.
 *
 * Case-insensitive ("i" without "u"): two code units match when their Canonicalize() is equal:
 * toUpperCase() of the unit when that is one unit and does not turn a non-ASCII unit into an
 * ASCII one (jscanon_table.h, measured with node). So ß, the Kelvin sign and ſ match only
 * themselves. A literal or a class is rewritten as the set of units it matches under that
 * rule; ASCII letters and back-references are left to PCRE2_CASELESS, which folds ASCII only
 * in this mode (a back-reference to non-ASCII text compares it exactly, JavaScript folds it).
 *
 * Pure; any thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jscanon_table.h"
#include "jsregex_int.h"

struct range {
    uint16_t lo, hi;
};

/* The sets of the class escapes, sorted; each its ranges until a {0, 0} end. */
static const struct range digit_set[] = {{0x30, 0x39}, {0, 0}};
static const struct range word_set[] = {
    {0x30, 0x39}, {0x41, 0x5a}, {0x5f, 0x5f}, {0x61, 0x7a}, {0, 0}};
static const struct range space_set[] = {{0x09, 0x0d},
                                         {0x20, 0x20},
                                         {0xa0, 0xa0},
                                         {0x1680, 0x1680},
                                         {0x2000, 0x200a},
                                         {0x2028, 0x2029},
                                         {0x202f, 0x202f},
                                         {0x205f, 0x205f},
                                         {0x3000, 0x3000},
                                         {0xfeff, 0xfeff},
                                         {0, 0}};
static const struct range line_set[] = {{0x0a, 0x0a}, {0x0d, 0x0d}, {0x2028, 0x2029}, {0, 0}};

/* One code unit as a PCRE2 literal, the same inside a class and out. */
static void put_literal(struct units *o, uint16_t u)
{
    if (u >= 0x80 || jsregex_is_alnum(u)) {
        jsregex_put(o, u);
    } else if (u < 0x20 || u == 0x7f) {
        char esc[12];
        snprintf(esc, sizeof(esc), "\\x{%x}", (unsigned)u);
        jsregex_put_ascii(o, esc);
    } else {
        jsregex_put(o, '\\'); /* a backslash before ASCII punctuation is that character */
        jsregex_put(o, u);
    }
}

/* The first pair (by_to: the first position in canon_by_to) whose unit (by_to: canonical
 * unit) is >= u; JSCANON_N when none. */
static size_t first_pair(uint32_t u, bool by_to)
{
    size_t lo = 0, hi = JSCANON_N;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((by_to ? canon_to[canon_by_to[mid]] : canon_from[mid]) < u) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Canonicalize(u) under "i" (without "u"). */
static uint16_t canon(uint16_t u)
{
    size_t i = first_pair(u, false);
    return i < JSCANON_N && canon_from[i] == u ? canon_to[i] : u;
}

void jsregex_set_clear(struct set *s)
{
    if (s->hi > s->lo) {
        memset(s->w + s->lo, 0, (s->hi - s->lo) * sizeof(s->w[0]));
    }
    s->lo = 1024;
    s->hi = 0;
}

static void set_touch(struct set *s, uint16_t u)
{
    size_t w = u >> 6;
    s->lo = w < s->lo ? w : s->lo;
    s->hi = w + 1 > s->hi ? w + 1 : s->hi;
}

static bool set_has(const struct set *s, uint16_t u)
{
    return (s->w[u >> 6] >> (u & 63)) & 1;
}

static void set_add(struct set *s, uint16_t u)
{
    set_touch(s, u);
    s->w[u >> 6] |= (uint64_t)1 << (u & 63);
}

static void set_add_range(struct set *s, uint32_t lo, uint32_t hi)
{
    for (uint32_t u = lo; u <= hi;) {
        if ((u & 63) == 0 && u + 63 <= hi) {
            set_touch(s, (uint16_t)u);
            s->w[u >> 6] = UINT64_MAX;
            u += 64;
        } else {
            set_add(s, (uint16_t)u);
            u++;
        }
    }
}

/* Adds the ranges r, or every unit outside them. */
static void set_add_list(struct set *s, const struct range *r, bool negated)
{
    uint32_t next = 0;
    for (; r->hi != 0; r++) {
        if (!negated) {
            set_add_range(s, r->lo, r->hi);
        } else if (r->lo > next) {
            set_add_range(s, next, r->lo - 1u);
        }
        next = r->hi + 1u;
    }
    if (negated && next <= 0xffff) {
        set_add_range(s, next, 0xffff);
    }
}

/* Every unit whose canonical unit is that of a member (the class's matches under "i"):
 * canonical units of the members first (a canonical unit is never a table entry), then
 * every table entry whose canonical unit is among them. */
static void set_close(struct set *s)
{
    size_t end = first_pair((uint32_t)s->hi * 64, false);
    for (size_t i = first_pair((uint32_t)s->lo * 64, false); i < end; i++) {
        if (set_has(s, canon_from[i])) {
            s->w[canon_from[i] >> 6] &= ~((uint64_t)1 << (canon_from[i] & 63));
            set_add(s, canon_to[i]);
        }
    }
    end = first_pair((uint32_t)s->hi * 64, true);
    for (size_t k = first_pair((uint32_t)s->lo * 64, true); k < end; k++) {
        if (set_has(s, canon_to[canon_by_to[k]])) {
            set_add(s, canon_from[canon_by_to[k]]);
        }
    }
}

/* "[ranges]" or "[^ranges]" ("[^]" under PCRE2_ALLOW_EMPTY_CLASS; "(?:[])", as PCRE2 10.42
 * fails a quantified "[]" even when it may repeat zero times). */
static void put_set(struct units *o, const struct set *s, bool negated)
{
    bool empty = true;
    for (size_t i = s->lo; i < s->hi && empty; i++) {
        empty = s->w[i] == 0;
    }
    if (empty && !negated) {
        jsregex_put_ascii(o, "(?:[])");
        return;
    }
    jsregex_put_ascii(o, negated ? "[^" : "[");
    uint32_t u = (uint32_t)s->lo * 64, end = (uint32_t)s->hi * 64;
    while (u < end) {
        if (s->w[u >> 6] == 0 && (u & 63) == 0) {
            u += 64;
            continue;
        }
        if (!set_has(s, (uint16_t)u)) {
            u++;
            continue;
        }
        uint32_t first = u;
        while (u < end && set_has(s, (uint16_t)u)) {
            u++;
        }
        put_literal(o, (uint16_t)first);
        if (u - 1 > first) {
            if (u - 1 > first + 1) {
                jsregex_put(o, '-');
            }
            put_literal(o, (uint16_t)(u - 1));
        }
    }
    jsregex_put(o, ']');
}

/* ---- escapes and classes ---- */

/* A legacy octal escape at p->at (the first digit, 0-7): \0 .. \377. */
static uint16_t parse_octal(struct parser *p)
{
    uint16_t first = p->s[p->at++], v = first - '0';
    size_t most = first <= '3' ? 2 : 1;
    for (size_t k = 0; k < most && p->at < p->n && p->s[p->at] >= '0' && p->s[p->at] <= '7'; k++) {
        v = (uint16_t)(v * 8 + (p->s[p->at++] - '0'));
    }
    return v;
}

/* The escapes that name one unit, the same in a class and out (p->at at the letter after
 * the backslash): sets *u and returns true, advancing past the escape. \c without a control
 * letter is a backslash (p->at then stays on the "c"). */
static bool parse_char_escape(struct parser *p, bool in_class, uint16_t *u)
{
    uint16_t e = p->s[p->at];
    static const char controls[] = "f\fn\nr\rt\tv\v";
    for (size_t i = 0; controls[i] != '\0'; i += 2) {
        if (e == (uint16_t)controls[i]) {
            *u = (uint16_t)controls[i + 1];
            p->at++;
            return true;
        }
    }
    if (e == 'c') {
        uint16_t l = p->at + 1 < p->n ? p->s[p->at + 1] : 0;
        bool letter = (l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z');
        if (letter || (in_class && ((l >= '0' && l <= '9') || l == '_'))) {
            *u = l % 32;
            p->at += 2;
        } else {
            *u = '\\';
        }
        return true;
    }
    if (e == 'x' || e == 'u') {
        size_t k = e == 'x' ? 2 : 4;
        long v = jsregex_hex_at(p, p->at + 1, k);
        *u = v >= 0 ? (uint16_t)v : e;
        p->at += v >= 0 ? k + 1 : 1;
        return true;
    }
    if (e >= '0' && e <= '7') {
        *u = parse_octal(p);
        return true;
    }
    if (e == 'k' && p->nnamed > 0) {
        return jsregex_fail(p, "invalid escape");
    }
    *u = e; /* an identity escape: \Z is Z, \8 is 8, \/ is / */
    p->at++;
    return true;
}

static const struct range *class_escape(uint16_t e, bool *negated)
{
    *negated = e == 'D' || e == 'S' || e == 'W';
    switch (e) {
    case 'd':
    case 'D':
        return digit_set;
    case 's':
    case 'S':
        return space_set;
    case 'w':
    case 'W':
        return word_set;
    default:
        return NULL;
    }
}

/* A class escape or a unit inside [...]: *list set for \d and the like, else *u. */
static bool parse_class_atom(struct parser *p, const struct range **list, bool *negated,
                             uint16_t *u)
{
    *list = NULL;
    if (p->s[p->at] != '\\') {
        *u = p->s[p->at++];
        return true;
    }
    if (++p->at >= p->n) {
        return jsregex_fail(p, "missing terminating ] for character class");
    }
    uint16_t e = p->s[p->at];
    *list = class_escape(e, negated);
    if (*list != NULL || e == 'b' || e == '-') {
        *u = e == 'b' ? 0x08 : e;
        p->at++;
        return true;
    }
    return parse_char_escape(p, true, u);
}

/* [...] at p->at. */
bool jsregex_parse_class(struct parser *p)
{
    p->at++;
    bool negated = p->at < p->n && p->s[p->at] == '^';
    p->at += negated;
    jsregex_set_clear(p->set);
    for (;;) {
        if (p->at >= p->n) {
            return jsregex_fail(p, "missing terminating ] for character class");
        }
        if (p->s[p->at] == ']') {
            p->at++;
            break;
        }
        const struct range *la, *lb;
        bool na, nb;
        uint16_t a, b;
        if (!parse_class_atom(p, &la, &na, &a)) {
            return false;
        }
        if (p->at + 1 < p->n && p->s[p->at] == '-' && p->s[p->at + 1] != ']') {
            p->at++;
            size_t at_b = p->at;
            if (!parse_class_atom(p, &lb, &nb, &b)) {
                return false;
            }
            if (la == NULL && lb == NULL) {
                if (a > b) {
                    p->at = at_b;
                    return jsregex_fail(p, "range out of order in character class");
                }
                set_add_range(p->set, a, b);
                continue;
            }
            set_add(p->set, '-'); /* Annex B: [\d-z] is \d, "-" and "z" */
            if (lb != NULL) {
                set_add_list(p->set, lb, nb);
            } else {
                set_add(p->set, b);
            }
        }
        if (la != NULL) {
            set_add_list(p->set, la, na);
        } else {
            set_add(p->set, a);
        }
    }
    if (p->icase && p->set->hi > 2) {
        set_close(p->set); /* an ASCII set is left to PCRE2_CASELESS: ASCII folds to ASCII */
    }
    put_set(&p->out, p->set, negated);
    return true;
}

/* One unit outside a class: itself, or under "i" (but for ASCII, left to PCRE2_CASELESS)
 * the set of units it matches when that is more than itself. */
void jsregex_put_char(struct parser *p, uint16_t u)
{
    uint16_t k = canon(u);
    size_t first = first_pair(k, true), last = first_pair(k + 1u, true);
    if (!p->icase || u < 0x80 || first == last) {
        put_literal(&p->out, u); /* first == last: no other unit has u's canonical unit */
        return;
    }
    jsregex_put(&p->out, '[');
    put_literal(&p->out, k);
    for (size_t i = first; i < last; i++) {
        put_literal(&p->out, canon_from[canon_by_to[i]]);
    }
    jsregex_put(&p->out, ']');
}

/* A class of sorted ranges (those of \d \s \w and "."), closed under "i" as they are. */
static void put_list(struct units *o, const struct range *r, bool negated)
{
    jsregex_put_ascii(o, negated ? "[^" : "[");
    for (; r->hi != 0; r++) {
        put_literal(o, r->lo);
        if (r->hi > r->lo + 1) {
            jsregex_put(o, '-');
        }
        if (r->hi > r->lo) {
            put_literal(o, r->hi);
        }
    }
    jsregex_put(o, ']');
}

void jsregex_put_dot(struct units *o)
{
    put_list(o, line_set, true);
}

/* An escape outside a class at p->at (the backslash); *last set to what it was. */
bool jsregex_parse_escape(struct parser *p, enum last *last)
{
    if (++p->at >= p->n) {
        return jsregex_fail(p, "\\ at end of pattern");
    }
    uint16_t e = p->s[p->at];
    bool negated;
    const struct range *list = class_escape(e, &negated);
    *last = LAST_ATOM;
    if (e == 'b' || e == 'B') {
        jsregex_put_ascii(&p->out,
                          e == 'b' ? "\\b" : "\\B"); /* ASCII word characters without UCP */
        p->at++;
        *last = LAST_ASSERTION;
        return true;
    }
    if (list != NULL) {
        put_list(&p->out, list, negated);
        p->at++;
        return true;
    }
    if (e >= '1' && e <= '9') {
        uint64_t v = 0; /* every digit, as JavaScript reads a back-reference */
        size_t k = p->at;
        for (; k < p->n && p->s[k] >= '0' && p->s[k] <= '9'; k++) {
            v = v > UINT32_MAX ? v : v * 10 + (p->s[k] - '0');
        }
        if (v <= p->groups) {
            jsregex_put_ascii(&p->out, "\\g{");
            jsregex_put_number(&p->out, (uint32_t)v);
            jsregex_put(&p->out, '}');
            p->at = k;
            return true;
        }
    }
    if (e == 'k' && p->nnamed > 0) {
        p->at++;
        uint32_t group = jsregex_parse_reference(p);
        if (group == 0) {
            return false;
        }
        jsregex_put_ascii(&p->out, "\\g{");
        jsregex_put_number(&p->out, group);
        jsregex_put(&p->out, '}');
        return true;
    }
    uint16_t u;
    if (!parse_char_escape(p, false, &u)) {
        return false;
    }
    jsregex_put_char(p, u);
    return true;
}
