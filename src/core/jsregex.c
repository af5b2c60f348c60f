/*
 * jsregex.c - a $regex / $regexi pattern read as JavaScript reads it, rewritten as a PCRE2
 * pattern that matches the same strings. The GrowthBook SDK runs `new RegExp(pattern)` and
 * `new RegExp(pattern, "i")` (mongrule.ts getRegex; its escaping of "/" changes nothing), so
 * the pattern is ECMAScript's without the "u" flag, with the web-compatibility syntax of
 * Annex B, and it matches UTF-16 code units. The rewrite is compiled by PCRE2's 16-bit
 * library without PCRE2_UTF and run over the subject's UTF-16 code units (condregex.c), so
 * ".", classes and quantifiers see one code unit where JavaScript does ("^.$" does not match
 * an emoji, "^..$" does).
 *
 * What the rewrite spells out, because PCRE2 reads it otherwise:
 *   .            [^\n\r\x{2028}\x{2029}]
 *   \s \S        JavaScript's white space and line terminators (U+00A0, U+FEFF, ...)
 *   \d \w \b     ASCII only, as PCRE2 without UCP already has them (spelled out but \b)
 *   $            \z (end of subject; no multiline flag)
 *   \Z \A \e ... identity escapes: the letter itself (only \b \B \d \D \s \S \w \W \f \n \r
 *                \t \v \cX \0 \xHH \uHHHH \k<name> and back-references mean more)
 *   \1 \2 ...   a back-reference when the pattern has that many groups, else an octal
 *                escape (\1 .. \377) or the digit (\8, \9): \g{n}
 *   (?<name>x)   a numbered group; \k<name> becomes \g{n}
 *   (?=x)        (?:(?=x)), so that it can be quantified as JavaScript allows
 *   {, }, ]      literal where they do not make a quantifier or close a class
 * and what JavaScript refuses (new RegExp throws, so the SDK's evalCondition answers false):
 * (?i) and every other "(?" but (?: (?= (?! (?<= (?<! (?<name>, (*VERB), possessive or
 * doubled quantifiers, a quantifier with nothing to repeat, {n,m} with n > m, a range out of
 * order, an unterminated group or class, a trailing backslash, \k<name> of an unknown or
 * malformed name when the pattern names a group, a duplicate group name.
 *
 * Case-insensitive ("i" without "u"): two code units match when their Canonicalize() is equal:
 * toUpperCase() of the unit when that is one unit and does not turn a non-ASCII unit into an
 * ASCII one (jscanon_table.h, measured with node). So ß, the Kelvin sign and ſ match only
 * themselves. A literal or a class is rewritten as the set of units it matches under that
 * rule; ASCII letters and back-references are left to PCRE2_CASELESS, which folds ASCII only
 * in this mode (a back-reference to non-ASCII text compares it exactly, JavaScript folds it).
 *
 * Left as PCRE2 does it (docs/API.md): a lookbehind must have a fixed length per branch, a
 * back-reference to a group inside a repeat keeps the group's text from an earlier iteration
 * (JavaScript resets it), a repeat count above 65,535 is refused and a bound above it is
 * unbounded, groups nest at most JSREGEX_MAX_NEST deep, the rewrite must fit PCRE2's size
 * limit (64K code units compiled). Group names take any non-ASCII letter (JavaScript:
 * ID_Start / ID_Continue only).
 *
 * Pure; any thread. The class bitmap is allocated per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/err.h"
#include "bunsen/util.h"
#include "cond_int.h"
#include "jscanon_table.h"

#define JSREGEX_MAX_NEST 120 /* emitted groups nest at most 2 x this + 2 (PCRE2: 250) */
#define REPEAT_MAX       65535u
#define UNBOUNDED        UINT32_MAX

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

/* A growable string of code units. */
struct units {
    uint16_t *p;
    size_t n, cap;
};

static void put(struct units *o, uint16_t u)
{
    if (o->n == o->cap) {
        o->cap = o->cap < 64 ? 64 : o->cap * 2;
        uint16_t *np = xmalloc(o->cap * sizeof(*np));
        if (o->n > 0) {
            memcpy(np, o->p, o->n * sizeof(*np));
        }
        free(o->p);
        o->p = np;
    }
    o->p[o->n++] = u;
}

static void put_ascii(struct units *o, const char *s)
{
    for (; *s != '\0'; s++) {
        put(o, (uint16_t)(unsigned char)*s);
    }
}

static void put_number(struct units *o, uint32_t v)
{
    char num[16];
    snprintf(num, sizeof(num), "%u", v);
    put_ascii(o, num);
}

static bool is_alnum(uint32_t u)
{
    return (u >= '0' && u <= '9') || (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z');
}

/* One code unit as a PCRE2 literal, the same inside a class and out. */
static void put_literal(struct units *o, uint16_t u)
{
    if (u >= 0x80 || is_alnum(u)) {
        put(o, u);
    } else if (u < 0x20 || u == 0x7f) {
        char esc[12];
        snprintf(esc, sizeof(esc), "\\x{%x}", (unsigned)u);
        put_ascii(o, esc);
    } else {
        put(o, '\\'); /* a backslash before ASCII punctuation is that character */
        put(o, u);
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

/* A set of code units: 65,536 bits, and the words that may hold one. */
struct set {
    uint64_t w[1024];
    size_t lo, hi; /* words [lo, hi) may be non-zero */
};

static void set_clear(struct set *s)
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
        put_ascii(o, "(?:[])");
        return;
    }
    put_ascii(o, negated ? "[^" : "[");
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
                put(o, '-');
            }
            put_literal(o, (uint16_t)(u - 1));
        }
    }
    put(o, ']');
}

/* ---- the parser ---- */

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

static bool fail(struct parser *p, const char *why)
{
    if (p->why == NULL) {
        p->why = why;
        p->why_at = p->at;
    }
    return false;
}

static int hex_value(uint16_t u)
{
    return u >= '0' && u <= '9'   ? u - '0'
           : u >= 'a' && u <= 'f' ? u - 'a' + 10
           : u >= 'A' && u <= 'F' ? u - 'A' + 10
                                  : -1;
}

/* k hex digits at s[at]: their value, or -1. */
static long hex_at(const struct parser *p, size_t at, size_t k)
{
    if (at + k > p->n) {
        return -1;
    }
    long v = 0;
    for (size_t i = 0; i < k; i++) {
        int h = hex_value(p->s[at + i]);
        if (h < 0) {
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

/* A group name after "<" up to ">" (p->at past the ">"), appended to out as code units;
 * \uHHHH, a surrogate pair of them and \u{H...} are read as the unit(s) they name. Letters,
 * digits (not first), "$", "_" and any non-ASCII unit. */
static bool parse_name(struct parser *p, struct units *out)
{
    size_t start = out->n;
    for (;;) {
        if (p->at >= p->n) {
            return fail(p, "invalid capture group name");
        }
        uint32_t c = p->s[p->at];
        if (c == '>') {
            p->at++;
            break;
        }
        if (c == '\\') {
            long v = -1;
            if (p->at + 1 < p->n && p->s[p->at + 1] == 'u') {
                if (p->at + 2 < p->n && p->s[p->at + 2] == '{') {
                    size_t k = p->at + 3;
                    v = 0;
                    while (k < p->n && hex_value(p->s[k]) >= 0 && v <= 0x10ffff) {
                        v = v * 16 + hex_value(p->s[k++]);
                    }
                    if (k == p->at + 3 || k >= p->n || p->s[k] != '}' || v > 0x10ffff) {
                        return fail(p, "invalid capture group name");
                    }
                    p->at = k + 1;
                } else {
                    v = hex_at(p, p->at + 2, 4);
                    p->at += 6;
                    if (v >= 0xd800 && v <= 0xdbff && p->at + 1 < p->n && p->s[p->at] == '\\' &&
                        p->s[p->at + 1] == 'u') {
                        long lowv = hex_at(p, p->at + 2, 4);
                        if (lowv >= 0xdc00 && lowv <= 0xdfff) {
                            v = 0x10000 + ((v - 0xd800) << 10) + (lowv - 0xdc00);
                            p->at += 6;
                        }
                    }
                }
            }
            if (v < 0) {
                return fail(p, "invalid capture group name");
            }
            c = (uint32_t)v;
        } else {
            p->at++;
        }
        bool first = out->n == start;
        bool ok = c >= 0x80 || c == '$' || c == '_' || (is_alnum(c) && !(first && c <= '9'));
        if (!ok) {
            return fail(p, "invalid capture group name");
        }
        if (c >= 0x10000) {
            put(out, (uint16_t)(0xd800 + ((c - 0x10000) >> 10)));
            put(out, (uint16_t)(0xdc00 + (c & 0x3ff)));
        } else {
            put(out, (uint16_t)c);
        }
    }
    return out->n > start ? true : fail(p, "invalid capture group name");
}

/* Counts the capturing groups and records the names, as JavaScript does before parsing. */
static bool scan_groups(struct parser *p)
{
    bool in_class = false;
    for (size_t i = 0; i < p->n; i++) {
        uint16_t c = p->s[i];
        if (c == '\\') {
            i++;
        } else if (in_class) {
            in_class = c != ']';
        } else if (c == '[') {
            in_class = true;
        } else if (c == '(' && (i + 1 >= p->n || p->s[i + 1] != '?')) {
            p->groups++;
        } else if (c == '(' && i + 3 < p->n && p->s[i + 2] == '<' && p->s[i + 3] != '=' &&
                   p->s[i + 3] != '!') {
            p->groups++;
            p->at = i + 3;
            size_t from = p->names.n;
            if (!parse_name(p, &p->names)) {
                return false;
            }
            for (size_t k = 0; k < p->nnamed; k++) {
                const struct name *o = &p->named[k];
                if (o->len == p->names.n - from &&
                    memcmp(p->names.p + o->at, p->names.p + from, o->len * 2) == 0) {
                    return fail(p, "duplicate capture group name");
                }
            }
            p->named = xrealloc(p->named, (p->nnamed + 1) * sizeof(*p->named));
            p->named[p->nnamed++] = (struct name){from, p->names.n - from, p->groups};
            i = p->at - 1;
        }
    }
    p->at = 0;
    return true;
}

/* "\k<name>" at p->at (past the "k"): the group it names, or 0. */
static uint32_t parse_reference(struct parser *p)
{
    if (p->at >= p->n || p->s[p->at] != '<') {
        fail(p, "invalid named reference");
        return 0;
    }
    p->at++;
    struct units name = {0};
    uint32_t group = 0;
    if (parse_name(p, &name)) {
        for (size_t k = 0; k < p->nnamed && group == 0; k++) {
            const struct name *o = &p->named[k];
            if (o->len == name.n && memcmp(p->names.p + o->at, name.p, name.n * 2) == 0) {
                group = o->group;
            }
        }
        if (group == 0) {
            fail(p, "invalid named capture referenced");
        }
    }
    free(name.p);
    return group;
}

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
        long v = hex_at(p, p->at + 1, k);
        *u = v >= 0 ? (uint16_t)v : e;
        p->at += v >= 0 ? k + 1 : 1;
        return true;
    }
    if (e >= '0' && e <= '7') {
        *u = parse_octal(p);
        return true;
    }
    if (e == 'k' && p->nnamed > 0) {
        return fail(p, "invalid escape");
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
        return fail(p, "missing terminating ] for character class");
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
static bool parse_class(struct parser *p)
{
    p->at++;
    bool negated = p->at < p->n && p->s[p->at] == '^';
    p->at += negated;
    set_clear(p->set);
    for (;;) {
        if (p->at >= p->n) {
            return fail(p, "missing terminating ] for character class");
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
                    return fail(p, "range out of order in character class");
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
static void put_char(struct parser *p, uint16_t u)
{
    uint16_t k = canon(u);
    size_t first = first_pair(k, true), last = first_pair(k + 1u, true);
    if (!p->icase || u < 0x80 || first == last) {
        put_literal(&p->out, u); /* first == last: no other unit has u's canonical unit */
        return;
    }
    put(&p->out, '[');
    put_literal(&p->out, k);
    for (size_t i = first; i < last; i++) {
        put_literal(&p->out, canon_from[canon_by_to[i]]);
    }
    put(&p->out, ']');
}

/* A class of sorted ranges (those of \d \s \w and "."), closed under "i" as they are. */
static void put_list(struct units *o, const struct range *r, bool negated)
{
    put_ascii(o, negated ? "[^" : "[");
    for (; r->hi != 0; r++) {
        put_literal(o, r->lo);
        if (r->hi > r->lo + 1) {
            put(o, '-');
        }
        if (r->hi > r->lo) {
            put_literal(o, r->hi);
        }
    }
    put(o, ']');
}

/* "{n}", "{n,}" or "{n,m}" at p->at: its bounds (m UNBOUNDED), advancing past it; false
 * (p->at unchanged) when the brace does not start one (then it is a literal "{"). */
static bool parse_braces(struct parser *p, uint32_t *min, uint32_t *max)
{
    size_t k = p->at + 1;
    uint64_t v[2] = {0, 0};
    size_t digits[2] = {0, 0};
    int part = 0;
    for (; k < p->n; k++) {
        uint16_t c = p->s[k];
        if (c >= '0' && c <= '9') {
            v[part] = v[part] * 10 + (c - '0');
            v[part] = v[part] > UINT32_MAX - 1 ? UINT32_MAX - 1 : v[part];
            digits[part]++;
        } else if (c == ',' && part == 0 && digits[0] > 0) {
            part = 1;
        } else {
            break;
        }
    }
    if (k >= p->n || p->s[k] != '}' || digits[0] == 0) {
        return false;
    }
    *min = (uint32_t)v[0];
    *max = part == 0 ? *min : digits[1] == 0 ? UNBOUNDED : (uint32_t)v[1];
    p->at = k + 1;
    return true;
}

/* Does a quantifier in braces start at p->at? (Else the brace is a literal.) */
static bool is_braces(struct parser *p)
{
    size_t at = p->at;
    uint32_t min, max;
    bool yes = parse_braces(p, &min, &max);
    p->at = at;
    return yes;
}

enum last { LAST_NONE, LAST_ATOM, LAST_ASSERTION };

/* A quantifier at p->at after `last`. */
static bool parse_quantifier(struct parser *p, enum last last)
{
    uint16_t c = p->s[p->at];
    uint32_t min = 0, max = UNBOUNDED;
    size_t at = p->at;
    if (c == '{') {
        (void)parse_braces(p, &min, &max);
    } else {
        p->at++;
    }
    if (last != LAST_ATOM) {
        p->at = at;
        return fail(p, "nothing to repeat");
    }
    if (c != '{') {
        put(&p->out, c);
    } else if (max < min) {
        p->at = at;
        return fail(p, "numbers out of order in {} quantifier");
    } else if (min > REPEAT_MAX) {
        p->at = at;
        return fail(p, "a repeat count above 65535 is not supported");
    } else {
        put(&p->out, '{');
        put_number(&p->out, min);
        if (max != min) {
            put(&p->out, ',');
            if (max <= REPEAT_MAX) {
                put_number(&p->out, max); /* above it: unbounded */
            }
        }
        put(&p->out, '}');
    }
    if (p->at < p->n && p->s[p->at] == '?') {
        put(&p->out, '?');
        p->at++;
    }
    return true;
}

/* An escape outside a class at p->at (the backslash); *last set to what it was. */
static bool parse_escape(struct parser *p, enum last *last)
{
    if (++p->at >= p->n) {
        return fail(p, "\\ at end of pattern");
    }
    uint16_t e = p->s[p->at];
    bool negated;
    const struct range *list = class_escape(e, &negated);
    *last = LAST_ATOM;
    if (e == 'b' || e == 'B') {
        put_ascii(&p->out, e == 'b' ? "\\b" : "\\B"); /* ASCII word characters without UCP */
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
            put_ascii(&p->out, "\\g{");
            put_number(&p->out, (uint32_t)v);
            put(&p->out, '}');
            p->at = k;
            return true;
        }
    }
    if (e == 'k' && p->nnamed > 0) {
        p->at++;
        uint32_t group = parse_reference(p);
        if (group == 0) {
            return false;
        }
        put_ascii(&p->out, "\\g{");
        put_number(&p->out, group);
        put(&p->out, '}');
        return true;
    }
    uint16_t u;
    if (!parse_char_escape(p, false, &u)) {
        return false;
    }
    put_char(p, u);
    return true;
}

enum group { GROUP_PLAIN, GROUP_LOOKAHEAD, GROUP_LOOKBEHIND };

/* "(" at p->at: pushes the group's kind. */
static bool parse_open(struct parser *p, enum group *kind)
{
    const uint16_t *s = p->s + p->at;
    size_t left = p->n - p->at;
    *kind = GROUP_PLAIN;
    if (left < 2 || s[1] != '?') {
        put(&p->out, '(');
        p->at++;
        return true;
    }
    if (left >= 3 && (s[2] == ':' || s[2] == '=' || s[2] == '!')) {
        put_ascii(&p->out, s[2] == ':' ? "(?:" : s[2] == '=' ? "(?:(?=" : "(?:(?!");
        *kind = s[2] == ':' ? GROUP_PLAIN : GROUP_LOOKAHEAD;
        p->at += 3;
        return true;
    }
    if (left >= 4 && s[2] == '<' && (s[3] == '=' || s[3] == '!')) {
        put_ascii(&p->out, s[3] == '=' ? "(?<=" : "(?<!");
        *kind = GROUP_LOOKBEHIND;
        p->at += 4;
        return true;
    }
    if (left >= 3 && s[2] == '<') {
        p->at += 3;
        struct units name = {0};
        bool ok = parse_name(p, &name); /* checked again: recorded by scan_groups */
        free(name.p);
        put(&p->out, '(');
        return ok;
    }
    p->at++;
    return fail(p, "invalid group");
}

static bool parse_pattern(struct parser *p)
{
    enum group stack[JSREGEX_MAX_NEST];
    size_t depth = 0;
    enum last last = LAST_NONE;
    while (p->at < p->n) {
        uint16_t c = p->s[p->at];
        bool ok = true;
        if (c == '|') {
            put(&p->out, '|');
            p->at++;
            last = LAST_NONE;
        } else if (c == '(') {
            if (depth == JSREGEX_MAX_NEST) {
                return fail(p, "parentheses are too deeply nested");
            }
            ok = parse_open(p, &stack[depth++]);
            last = LAST_NONE;
        } else if (c == ')') {
            if (depth == 0) {
                return fail(p, "unmatched closing parenthesis");
            }
            enum group g = stack[--depth];
            put_ascii(&p->out, g == GROUP_LOOKAHEAD ? "))" : ")");
            p->at++;
            last = g == GROUP_LOOKBEHIND ? LAST_ASSERTION : LAST_ATOM;
        } else if (c == '^' || c == '$') {
            put_ascii(&p->out, c == '^' ? "^" : "\\z");
            p->at++;
            last = LAST_ASSERTION;
        } else if (c == '*' || c == '+' || c == '?') {
            ok = parse_quantifier(p, last);
            last = LAST_NONE;
        } else if (c == '{' && is_braces(p)) {
            ok = parse_quantifier(p, last);
            last = LAST_NONE;
        } else if (c == '.') {
            put_list(&p->out, line_set, true);
            p->at++;
            last = LAST_ATOM;
        } else if (c == '[') {
            ok = parse_class(p);
            last = LAST_ATOM;
        } else if (c == '\\') {
            ok = parse_escape(p, &last);
        } else {
            put_char(p, c);
            p->at++;
            last = LAST_ATOM;
        }
        if (!ok) {
            return false;
        }
    }
    return depth == 0 ? true : fail(p, "missing closing parenthesis");
}

int jsregex_utf16(const char *s, size_t n, uint16_t **buf, size_t *cap, size_t *len)
{
    if (*cap < n + 1) {
        free(*buf);
        *cap = n + 1;
        *buf = xmalloc(*cap * sizeof(**buf));
    }
    const unsigned char *b = (const unsigned char *)s;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c = b[i];
        size_t more = c < 0x80                 ? 0
                      : c >= 0xc2 && c <= 0xdf ? 1
                      : c >= 0xe0 && c <= 0xef ? 2
                      : c >= 0xf0 && c <= 0xf4 ? 3
                                               : 4; /* continuation bytes; 4: not a lead */
        if (more == 4 || n - i <= more) {
            return -1;
        }
        c = more == 0 ? c : c & (0x3f >> more);
        for (size_t j = 1; j <= more; j++) {
            if ((b[i + j] & 0xc0) != 0x80) {
                return -1;
            }
            c = (c << 6) | (b[i + j] & 0x3f);
        }
        static const uint32_t least[] = {0, 0x80, 0x800, 0x10000};
        if (c < least[more] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return -1;
        }
        if (c >= 0x10000) {
            (*buf)[k++] = (uint16_t)(0xd800 + ((c - 0x10000) >> 10));
            (*buf)[k++] = (uint16_t)(0xdc00 + (c & 0x3ff));
        } else {
            (*buf)[k++] = (uint16_t)c;
        }
        i += more + 1;
    }
    *len = k;
    return 0;
}

int jsregex_translate(const char *pat, size_t n, bool icase, uint16_t **out, size_t *out_n,
                      struct err *err)
{
    struct parser p = {.icase = icase};
    uint16_t *units = NULL;
    size_t cap = 0;
    int rc = -1;
    *out = NULL;
    *out_n = 0;
    if (jsregex_utf16(pat, n, &units, &cap, &p.n) != 0) {
        err_set(err, ERR_INVALID, "targeting", "the pattern is not UTF-8");
        goto out_free;
    }
    p.s = units;
    p.set = xmalloc(sizeof(*p.set));
    memset(p.set, 0, sizeof(*p.set));
    set_clear(p.set);
    if (!scan_groups(&p) || !parse_pattern(&p)) {
        err_set(err, ERR_INVALID, "targeting", "%s at offset %zu", p.why, p.why_at);
        goto out_free;
    }
    if (p.out.p == NULL) {
        put(&p.out, 0); /* PCRE2 takes no NULL pattern, even an empty one */
        p.out.n = 0;
    }
    *out = p.out.p;
    *out_n = p.out.n;
    p.out.p = NULL;
    rc = 0;
out_free:
    free(p.out.p);
    free(p.set);
    free(p.named);
    free(p.names.p);
    free(units);
    return rc;
}
