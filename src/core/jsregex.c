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
 * Case-insensitive ("i" without "u"): a literal or a class is rewritten as the set of units it
 * matches under JavaScript's Canonicalize() (jsregex_class.c says how).
 *
 * Left as PCRE2 does it (docs/API.md): a lookbehind must have a fixed length per branch, a
 * back-reference to a group inside a repeat keeps the group's text from an earlier iteration
 * (JavaScript resets it), a repeat count above 65,535 is refused and a bound above it is
 * unbounded, groups nest at most JSREGEX_MAX_NEST deep, the rewrite must fit PCRE2's size
 * limit (64K code units compiled). Group names take any non-ASCII letter (JavaScript:
 * ID_Start / ID_Continue only).
 *
 * This file reads the pattern's structure: groups and their names, back-references by name,
 * quantifiers, alternatives and anchors; jsregex_class.c translates the character classes, the
 * escapes and single units (jsregex_int.h is what the two share).
 *
 * Pure; any thread. The class bitmap is allocated per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/err.h"
#include "bunsen/util.h"
#include "cond_int.h"
#include "jsregex_int.h"

#define JSREGEX_MAX_NEST 120 /* emitted groups nest at most 2 x this + 2 (PCRE2: 250) */
#define REPEAT_MAX       65535u
#define UNBOUNDED        UINT32_MAX

void jsregex_put(struct units *o, uint16_t u)
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

void jsregex_put_ascii(struct units *o, const char *s)
{
    for (; *s != '\0'; s++) {
        jsregex_put(o, (uint16_t)(unsigned char)*s);
    }
}

void jsregex_put_number(struct units *o, uint32_t v)
{
    char num[16];
    snprintf(num, sizeof(num), "%u", v);
    jsregex_put_ascii(o, num);
}

bool jsregex_is_alnum(uint32_t u)
{
    return (u >= '0' && u <= '9') || (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z');
}

/* ---- the parser ---- */

bool jsregex_fail(struct parser *p, const char *why)
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
long jsregex_hex_at(const struct parser *p, size_t at, size_t k)
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
            return jsregex_fail(p, "invalid capture group name");
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
                        return jsregex_fail(p, "invalid capture group name");
                    }
                    p->at = k + 1;
                } else {
                    v = jsregex_hex_at(p, p->at + 2, 4);
                    p->at += 6;
                    if (v >= 0xd800 && v <= 0xdbff && p->at + 1 < p->n && p->s[p->at] == '\\' &&
                        p->s[p->at + 1] == 'u') {
                        long lowv = jsregex_hex_at(p, p->at + 2, 4);
                        if (lowv >= 0xdc00 && lowv <= 0xdfff) {
                            v = 0x10000 + ((v - 0xd800) << 10) + (lowv - 0xdc00);
                            p->at += 6;
                        }
                    }
                }
            }
            if (v < 0) {
                return jsregex_fail(p, "invalid capture group name");
            }
            c = (uint32_t)v;
        } else {
            p->at++;
        }
        bool first = out->n == start;
        bool ok =
            c >= 0x80 || c == '$' || c == '_' || (jsregex_is_alnum(c) && !(first && c <= '9'));
        if (!ok) {
            return jsregex_fail(p, "invalid capture group name");
        }
        if (c >= 0x10000) {
            jsregex_put(out, (uint16_t)(0xd800 + ((c - 0x10000) >> 10)));
            jsregex_put(out, (uint16_t)(0xdc00 + (c & 0x3ff)));
        } else {
            jsregex_put(out, (uint16_t)c);
        }
    }
    return out->n > start ? true : jsregex_fail(p, "invalid capture group name");
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
                    return jsregex_fail(p, "duplicate capture group name");
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
uint32_t jsregex_parse_reference(struct parser *p)
{
    if (p->at >= p->n || p->s[p->at] != '<') {
        jsregex_fail(p, "invalid named reference");
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
            jsregex_fail(p, "invalid named capture referenced");
        }
    }
    free(name.p);
    return group;
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
        return jsregex_fail(p, "nothing to repeat");
    }
    if (c != '{') {
        jsregex_put(&p->out, c);
    } else if (max < min) {
        p->at = at;
        return jsregex_fail(p, "numbers out of order in {} quantifier");
    } else if (min > REPEAT_MAX) {
        p->at = at;
        return jsregex_fail(p, "a repeat count above 65535 is not supported");
    } else {
        jsregex_put(&p->out, '{');
        jsregex_put_number(&p->out, min);
        if (max != min) {
            jsregex_put(&p->out, ',');
            if (max <= REPEAT_MAX) {
                jsregex_put_number(&p->out, max); /* above it: unbounded */
            }
        }
        jsregex_put(&p->out, '}');
    }
    if (p->at < p->n && p->s[p->at] == '?') {
        jsregex_put(&p->out, '?');
        p->at++;
    }
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
        jsregex_put(&p->out, '(');
        p->at++;
        return true;
    }
    if (left >= 3 && (s[2] == ':' || s[2] == '=' || s[2] == '!')) {
        jsregex_put_ascii(&p->out, s[2] == ':' ? "(?:" : s[2] == '=' ? "(?:(?=" : "(?:(?!");
        *kind = s[2] == ':' ? GROUP_PLAIN : GROUP_LOOKAHEAD;
        p->at += 3;
        return true;
    }
    if (left >= 4 && s[2] == '<' && (s[3] == '=' || s[3] == '!')) {
        jsregex_put_ascii(&p->out, s[3] == '=' ? "(?<=" : "(?<!");
        *kind = GROUP_LOOKBEHIND;
        p->at += 4;
        return true;
    }
    if (left >= 3 && s[2] == '<') {
        p->at += 3;
        struct units name = {0};
        bool ok = parse_name(p, &name); /* checked again: recorded by scan_groups */
        free(name.p);
        jsregex_put(&p->out, '(');
        return ok;
    }
    p->at++;
    return jsregex_fail(p, "invalid group");
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
            jsregex_put(&p->out, '|');
            p->at++;
            last = LAST_NONE;
        } else if (c == '(') {
            if (depth == JSREGEX_MAX_NEST) {
                return jsregex_fail(p, "parentheses are too deeply nested");
            }
            ok = parse_open(p, &stack[depth++]);
            last = LAST_NONE;
        } else if (c == ')') {
            if (depth == 0) {
                return jsregex_fail(p, "unmatched closing parenthesis");
            }
            enum group g = stack[--depth];
            jsregex_put_ascii(&p->out, g == GROUP_LOOKAHEAD ? "))" : ")");
            p->at++;
            last = g == GROUP_LOOKBEHIND ? LAST_ASSERTION : LAST_ATOM;
        } else if (c == '^' || c == '$') {
            jsregex_put_ascii(&p->out, c == '^' ? "^" : "\\z");
            p->at++;
            last = LAST_ASSERTION;
        } else if (c == '*' || c == '+' || c == '?') {
            ok = parse_quantifier(p, last);
            last = LAST_NONE;
        } else if (c == '{' && is_braces(p)) {
            ok = parse_quantifier(p, last);
            last = LAST_NONE;
        } else if (c == '.') {
            jsregex_put_dot(&p->out);
            p->at++;
            last = LAST_ATOM;
        } else if (c == '[') {
            ok = jsregex_parse_class(p);
            last = LAST_ATOM;
        } else if (c == '\\') {
            ok = jsregex_parse_escape(p, &last);
        } else {
            jsregex_put_char(p, c);
            p->at++;
            last = LAST_ATOM;
        }
        if (!ok) {
            return false;
        }
    }
    return depth == 0 ? true : jsregex_fail(p, "missing closing parenthesis");
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
    jsregex_set_clear(p.set);
    if (!scan_groups(&p) || !parse_pattern(&p)) {
        err_set(err, ERR_INVALID, "targeting", "%s at offset %zu", p.why, p.why_at);
        goto out_free;
    }
    if (p.out.p == NULL) {
        jsregex_put(&p.out, 0); /* PCRE2 takes no NULL pattern, even an empty one */
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
