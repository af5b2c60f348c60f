/*
 * condition.c - GrowthBook's targeting condition language over json_t trees.
 *
 * Owns nothing beyond one evaluation: the reference is the GrowthBook JavaScript
 * SDK's mongrule.ts, and every rule below mirrors a line of it, JavaScript's loose
 * semantics included (`value + "" === cond`, `value * 1 === cond`, `<` on mixed
 * types, JSON.stringify equality). jansson is used purely as the in-memory value
 * tree; nothing is parsed or written here. Entered concurrently by request threads:
 * there are no globals and no caches; a $regex is compiled by PCRE2 per evaluation.
 *
 * Where JavaScript would throw (a null or string where a condition object belongs)
 * the evaluation is "poisoned" and the whole condition fails; so does nesting deeper
 * than CONDITION_MAX_DEPTH, so hostile input cannot overflow the stack.
 * Known gaps, all outside the conformance cases: case-insensitive string equality of
 * non-ASCII text uses Unicode simple case folding (PCRE2) rather than toLowerCase(),
 * and PCRE2 stands in for the JavaScript regex engine.
 */
#include "bunsen/condition.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "bunsen/util.h"

#define SCRATCH_CAP       (1u << 20) /* cap on one stringified array (join) */
#define REGEX_MATCH_LIMIT 1000000u

/* A JavaScript value as seen by the SDK: a json_t, or a synthesized number
 * (an array's length). j is NULL for null and for synthesized values. */
enum jv_type { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };
struct jv {
    enum jv_type t;
    bool b;
    double num;
    const json_t *j;
};

struct ctx {
    const json_t *groups; /* saved groups, may be NULL */
    int depth;            /* current condition nesting */
    bool poisoned;        /* JS would throw, or too deep: the condition fails */
};

/* A string view of a value: ToString() of it, borrowed or in scratch. */
struct sview {
    const char *s;
    size_t n;
    char num[32];
    struct buf scratch;
};

static bool eval_cond(struct ctx *c, struct jv obj, const json_t *cond);
static bool eval_value(struct ctx *c, const json_t *cond, struct jv value, bool insensitive);

/* jansson's iterator API takes json_t * although it only reads; we never write. */
static json_t *unconst(const json_t *j)
{
    return (json_t *)(uintptr_t)j;
}

static struct jv jv_of(const json_t *j)
{
    struct jv v = {JV_NULL, false, 0, NULL};
    if (j == NULL) {
        return v;
    }
    v.j = j;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        v.t = JV_OBJ;
        break;
    case JSON_ARRAY:
        v.t = JV_ARR;
        break;
    case JSON_STRING:
        v.t = JV_STR;
        break;
    case JSON_INTEGER:
        v.t = JV_NUM;
        v.num = (double)json_integer_value(j);
        break;
    case JSON_REAL:
        v.t = JV_NUM;
        v.num = json_real_value(j);
        break;
    case JSON_TRUE:
        v.t = JV_BOOL;
        v.b = true;
        break;
    case JSON_FALSE:
        v.t = JV_BOOL;
        break;
    case JSON_NULL:
        v.j = NULL;
        break;
    }
    return v;
}

static struct jv jv_number(double d)
{
    struct jv v = {JV_NUM, false, d, NULL};
    return v;
}

static bool is_number(const json_t *j)
{
    return json_is_integer(j) || json_is_real(j);
}

/* JavaScript Number.prototype.toString(): shortest round-trip digits, JS layout. */
static size_t js_number_to_string(double d, char out[32])
{
    if (isnan(d)) {
        return (size_t)snprintf(out, 32, "NaN");
    }
    if (d == 0) {
        return (size_t)snprintf(out, 32, "0");
    }
    if (isinf(d)) {
        return (size_t)snprintf(out, 32, "%s", d < 0 ? "-Infinity" : "Infinity");
    }
    size_t o = 0;
    if (d < 0) {
        out[o++] = '-';
        d = -d;
    }
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d) {
            break;
        }
    }
    char digits[20];
    int k = 0;
    const char *q = tmp;
    for (; *q != '\0' && *q != 'e'; q++) {
        if (*q >= '0' && *q <= '9' && k < 18) {
            digits[k++] = *q;
        }
    }
    while (k > 1 && digits[k - 1] == '0') {
        k--;
    }
    int n = atoi(q + 1) + 1; /* decimal point position */
    if (k <= n && n <= 21) {
        memcpy(out + o, digits, (size_t)k);
        o += (size_t)k;
        for (int i = k; i < n; i++) {
            out[o++] = '0';
        }
    } else if (n > 0 && n <= 21) {
        memcpy(out + o, digits, (size_t)n);
        o += (size_t)n;
        out[o++] = '.';
        memcpy(out + o, digits + n, (size_t)(k - n));
        o += (size_t)(k - n);
    } else if (n > -6 && n <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -n; i++) {
            out[o++] = '0';
        }
        memcpy(out + o, digits, (size_t)k);
        o += (size_t)k;
    } else {
        out[o++] = digits[0];
        if (k > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, (size_t)(k - 1));
            o += (size_t)(k - 1);
        }
        o += (size_t)snprintf(out + o, 32 - o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
    out[o] = '\0';
    return o;
}

/* Byte length of the JS white space / line terminator at s[i], or 0. */
static size_t js_space_len(const unsigned char *s, size_t n, size_t i)
{
    unsigned char c = s[i];
    if (c == ' ' || (c >= 0x09 && c <= 0x0d)) {
        return 1;
    }
    if (c == 0xc2 && i + 1 < n && s[i + 1] == 0xa0) {
        return 2;
    }
    if (i + 2 >= n) {
        return 0;
    }
    unsigned c1 = s[i + 1], c2 = s[i + 2];
    bool hit = (c == 0xe1 && c1 == 0x9a && c2 == 0x80) || /* U+1680 */
               (c == 0xe2 && c1 == 0x80 &&
                (c2 <= 0x8a || c2 == 0xa8 || c2 == 0xa9 || c2 == 0xaf)) || /* U+2000.. */
               (c == 0xe2 && c1 == 0x81 && c2 == 0x9f) ||                  /* U+205F */
               (c == 0xe3 && c1 == 0x80 && c2 == 0x80) ||                  /* U+3000 */
               (c == 0xef && c1 == 0xbb && c2 == 0xbf);                    /* U+FEFF */
    return hit ? 3 : 0;
}

static int digit_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A' + 10;
    }
    return 99;
}

/* JavaScript StringToNumber: trimmed decimal, 0x/0o/0b, Infinity; "" is 0; else NaN. */
static double js_string_to_number(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, sp;
    while (i < n && (sp = js_space_len(s, n, i)) > 0) {
        i += sp;
    }
    size_t start = i, end = i;
    while (i < n) {
        if ((sp = js_space_len(s, n, i)) > 0) {
            i += sp;
        } else {
            end = ++i;
        }
    }
    const char *b = str + start;
    size_t len = end - start;
    if (len == 0) {
        return 0;
    }
    if ((len == 8 && memcmp(b, "Infinity", 8) == 0) ||
        (len == 9 && memcmp(b, "+Infinity", 9) == 0)) {
        return INFINITY;
    }
    if (len == 9 && memcmp(b, "-Infinity", 9) == 0) {
        return -INFINITY;
    }
    if (len > 2 && b[0] == '0' && strchr("xXoObB", b[1]) != NULL) {
        int radix = (b[1] == 'x' || b[1] == 'X') ? 16 : (b[1] == 'o' || b[1] == 'O') ? 8 : 2;
        double v = 0;
        for (size_t k = 2; k < len; k++) {
            int d = digit_value(b[k]);
            if (d >= radix) {
                return NAN;
            }
            v = v * radix + d;
        }
        return v;
    }
    size_t k = 0, ndig = 0;
    if (b[k] == '+' || b[k] == '-') {
        k++;
    }
    for (; k < len && b[k] >= '0' && b[k] <= '9'; k++) {
        ndig++;
    }
    if (k < len && b[k] == '.') {
        for (k++; k < len && b[k] >= '0' && b[k] <= '9'; k++) {
            ndig++;
        }
    }
    if (ndig == 0) {
        return NAN;
    }
    if (k < len && (b[k] == 'e' || b[k] == 'E')) {
        size_t e0 = ++k;
        if (k < len && (b[k] == '+' || b[k] == '-')) {
            e0 = ++k;
        }
        for (; k < len && b[k] >= '0' && b[k] <= '9'; k++) {
        }
        if (k == e0) {
            return NAN;
        }
    }
    if (k != len) {
        return NAN;
    }
    char *copy = xstrndup(b, len);
    double v = strtod(copy, NULL);
    free(copy);
    return v;
}

static bool buf_add(struct ctx *c, struct buf *b, const char *s, size_t n)
{
    if (buf_append(b, s, n) < 0) {
        c->poisoned = true;
        return false;
    }
    return true;
}

/* Append Array.prototype.join(",") of array a (null elements become ""). */
static void join_array(struct ctx *c, const json_t *a, struct buf *b, int depth)
{
    if (depth > CONDITION_MAX_DEPTH) {
        c->poisoned = true;
        return;
    }
    for (size_t i = 0; i < json_array_size(a) && !c->poisoned; i++) {
        const json_t *e = json_array_get(a, i);
        char num[32];
        if (i > 0 && !buf_add(c, b, ",", 1)) {
            return;
        }
        switch (json_typeof(e)) {
        case JSON_STRING:
            buf_add(c, b, json_string_value(e), json_string_length(e));
            break;
        case JSON_INTEGER:
        case JSON_REAL:
            buf_add(c, b, num, js_number_to_string(jv_of(e).num, num));
            break;
        case JSON_TRUE:
            buf_add(c, b, "true", 4);
            break;
        case JSON_FALSE:
            buf_add(c, b, "false", 5);
            break;
        case JSON_OBJECT:
            buf_add(c, b, "[object Object]", 15);
            break;
        case JSON_ARRAY:
            join_array(c, e, b, depth + 1);
            break;
        case JSON_NULL:
            break;
        }
    }
}

/* v's ToString() (ToPrimitive first: arrays join, objects "[object Object]").
 * Release with sview_done(). */
static void sview_of(struct ctx *c, struct jv v, struct sview *out)
{
    buf_init(&out->scratch, SCRATCH_CAP);
    switch (v.t) {
    case JV_NULL:
        out->s = "null";
        out->n = 4;
        break;
    case JV_BOOL:
        out->s = v.b ? "true" : "false";
        out->n = v.b ? 4 : 5;
        break;
    case JV_NUM:
        out->n = js_number_to_string(v.num, out->num);
        out->s = out->num;
        break;
    case JV_STR:
        out->s = json_string_value(v.j);
        out->n = json_string_length(v.j);
        break;
    case JV_OBJ:
        out->s = "[object Object]";
        out->n = 15;
        break;
    case JV_ARR:
        join_array(c, v.j, &out->scratch, 0);
        out->s = out->scratch.data ? out->scratch.data : "";
        out->n = out->scratch.len;
        break;
    }
}

static void sview_done(struct sview *v)
{
    buf_free(&v->scratch);
}

static bool truthy(struct jv v)
{
    switch (v.t) {
    case JV_NULL:
        return false;
    case JV_BOOL:
        return v.b;
    case JV_NUM:
        return v.num != 0 && !isnan(v.num);
    case JV_STR:
        return json_string_length(v.j) > 0;
    default:
        return true;
    }
}

/* JavaScript ToNumber(). */
static double to_number(struct ctx *c, struct jv v)
{
    switch (v.t) {
    case JV_NULL:
        return 0;
    case JV_BOOL:
        return v.b ? 1 : 0;
    case JV_NUM:
        return v.num;
    case JV_OBJ:
        return NAN;
    default: {
        struct sview s;
        sview_of(c, v, &s);
        double d = js_string_to_number(s.s, s.n);
        sview_done(&s);
        return d;
    }
    }
}

/* Compare valid UTF-8 strings in UTF-16 code unit order (JavaScript's `<`). Byte
 * order equals code point order; UTF-16 differs only in putting supplementary
 * characters (lead F0-F4) before U+E000..U+FFFF (lead EE, EF). */
static int utf16_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    size_t i = 0;
    while (i < n && a[i] == b[i]) {
        i++;
    }
    if (i == n) {
        return an < bn ? -1 : an > bn ? 1 : 0;
    }
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if ((x & 0xc0) != 0x80) { /* both are lead bytes of differing code points */
        if (x >= 0xf0 && (y == 0xee || y == 0xef)) {
            return -1;
        }
        if (y >= 0xf0 && (x == 0xee || x == 0xef)) {
            return 1;
        }
    }
    return x < y ? -1 : 1;
}

/* JavaScript `===` (SameValueZero for includes(); NaN cannot come from JSON). */
static bool strict_equal(struct jv a, struct jv b)
{
    if (a.t != b.t) {
        return false;
    }
    switch (a.t) {
    case JV_NULL:
        return true;
    case JV_BOOL:
        return a.b == b.b;
    case JV_NUM:
        return a.num == b.num;
    case JV_STR:
        return json_string_length(a.j) == json_string_length(b.j) &&
               memcmp(json_string_value(a.j), json_string_value(b.j), json_string_length(a.j)) == 0;
    default:
        return a.j == b.j && a.j != NULL; /* objects compare by reference */
    }
}

/* JavaScript `a < b`: 1 true, 0 false, -1 undefined (a NaN was involved). */
static int js_less(struct ctx *c, struct jv a, struct jv b)
{
    bool as = a.t == JV_STR || a.t == JV_ARR || a.t == JV_OBJ;
    bool bs = b.t == JV_STR || b.t == JV_ARR || b.t == JV_OBJ;
    if (as && bs) {
        struct sview x, y;
        sview_of(c, a, &x);
        sview_of(c, b, &y);
        int r = utf16_cmp(x.s, x.n, y.s, y.n) < 0;
        sview_done(&x);
        sview_done(&y);
        return r;
    }
    double x = to_number(c, a), y = to_number(c, b);
    if (isnan(x) || isnan(y)) {
        return -1;
    }
    return x < y;
}

/* Canonical array index key ("0", "17"; not "01"), as JS orders object keys. */
static bool is_index_key(const char *k, size_t n)
{
    if (n == 0 || n > 10 || (n > 1 && k[0] == '0')) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(k[i] - '0');
    }
    return v < 4294967295u;
}

static bool stringify_equal(struct ctx *c, struct jv a, const json_t *b, int depth);

static bool object_stringify_equal(struct ctx *c, const json_t *a, const json_t *b, int depth)
{
    if (json_object_size(a) != json_object_size(b)) {
        return false;
    }
    /* index keys come first in ascending order in both: equal sets suffice */
    size_t na = 0, nb = 0;
    void *it;
    for (it = json_object_iter(unconst(b)); it; it = json_object_iter_next(unconst(b), it)) {
        const char *k = json_object_iter_key(it);
        size_t kn = json_object_iter_key_len(it);
        if (is_index_key(k, kn)) {
            nb++;
            const json_t *av = json_object_getn(a, k, kn);
            if (av == NULL ||
                !stringify_equal(c, jv_of(av), json_object_iter_value(it), depth + 1)) {
                return false;
            }
        }
    }
    for (it = json_object_iter(unconst(a)); it; it = json_object_iter_next(unconst(a), it)) {
        na += is_index_key(json_object_iter_key(it), json_object_iter_key_len(it));
    }
    if (na != nb) {
        return false;
    }
    /* other keys in insertion order, pairwise */
    void *ia = json_object_iter(unconst(a));
    void *ib = json_object_iter(unconst(b));
    for (;;) {
        while (ia && is_index_key(json_object_iter_key(ia), json_object_iter_key_len(ia))) {
            ia = json_object_iter_next(unconst(a), ia);
        }
        while (ib && is_index_key(json_object_iter_key(ib), json_object_iter_key_len(ib))) {
            ib = json_object_iter_next(unconst(b), ib);
        }
        if (ia == NULL || ib == NULL) {
            return ia == ib;
        }
        size_t ka = json_object_iter_key_len(ia), kb = json_object_iter_key_len(ib);
        if (ka != kb || memcmp(json_object_iter_key(ia), json_object_iter_key(ib), ka) != 0 ||
            !stringify_equal(c, jv_of(json_object_iter_value(ia)), json_object_iter_value(ib),
                             depth + 1)) {
            return false;
        }
        ia = json_object_iter_next(unconst(a), ia);
        ib = json_object_iter_next(unconst(b), ib);
    }
}

/* JSON.stringify(a) === JSON.stringify(b), without building either string. */
static bool stringify_equal(struct ctx *c, struct jv a, const json_t *b, int depth)
{
    if (depth > CONDITION_MAX_DEPTH) {
        c->poisoned = true;
        return false;
    }
    struct jv bv = jv_of(b);
    if (a.t != bv.t) {
        return false;
    }
    switch (a.t) {
    case JV_ARR:
        if (json_array_size(a.j) != json_array_size(b)) {
            return false;
        }
        for (size_t i = 0; i < json_array_size(b); i++) {
            if (!stringify_equal(c, jv_of(json_array_get(a.j, i)), json_array_get(b, i),
                                 depth + 1)) {
                return false;
            }
        }
        return true;
    case JV_OBJ:
        return object_stringify_equal(c, a.j, b, depth);
    default:
        return strict_equal(a, bv);
    }
}

/* Compile and run a JavaScript-like regex; false on any error or limit. */
static bool regex_test(const char *pat, size_t pn, uint32_t extra, const char *subj, size_t sn)
{
    int ec;
    PCRE2_SIZE eo;
    uint32_t opts = PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY | PCRE2_MATCH_UNSET_BACKREF |
                    PCRE2_ALLOW_EMPTY_CLASS | PCRE2_NEVER_BACKSLASH_C | extra;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, pn, opts, &ec, &eo, NULL);
    if (re == NULL) {
        return false;
    }
    bool hit = false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (md != NULL && mc != NULL) {
        pcre2_set_match_limit(mc, REGEX_MATCH_LIMIT);
        hit = pcre2_match(re, (PCRE2_SPTR)subj, sn, 0, 0, md, mc) >= 0;
    }
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return hit;
}

/* a.toLowerCase() === b.toLowerCase() (see the file-top note on non-ASCII). */
static bool ci_equal(const char *a, size_t an, const char *b, size_t bn)
{
    bool ascii = true;
    for (size_t i = 0; i < an && ascii; i++) {
        ascii = (unsigned char)a[i] < 0x80;
    }
    for (size_t i = 0; i < bn && ascii; i++) {
        ascii = (unsigned char)b[i] < 0x80;
    }
    if (!ascii) {
        return regex_test(
            a, an, PCRE2_LITERAL | PCRE2_CASELESS | PCRE2_ANCHORED | PCRE2_ENDANCHORED, b, bn);
    }
    if (an != bn) {
        return false;
    }
    for (size_t i = 0; i < an; i++) {
        char x = a[i], y = b[i];
        x = (char)(x >= 'A' && x <= 'Z' ? x + 32 : x);
        y = (char)(y >= 'A' && y <= 'Z' ? y + 32 : y);
        if (x != y) {
            return false;
        }
    }
    return true;
}

/* GrowthBook paddedVersionString() into out: drop a leading "v" and "+build",
 * split on "-" and ".", add "~" to a plain x.y.z, left-pad numeric parts to 5. */
static void padded_version(struct ctx *c, struct jv v, struct buf *out)
{
    struct sview sv;
    bool str = v.t == JV_STR || v.t == JV_NUM;
    sview_of(c, v, &sv);
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
        for (size_t pad = k - i; digits && k > i && pad < 5; pad++) {
            buf_add(c, out, " ", 1);
        }
        buf_add(c, out, s + i, k - i);
        i = k + 1;
    }
    if (parts == 3) {
        buf_add(c, out, "-~", 2);
    }
    sview_done(&sv);
}

static int version_cmp(struct ctx *c, struct jv a, const json_t *b)
{
    struct buf x, y;
    buf_init(&x, SCRATCH_CAP);
    buf_init(&y, SCRATCH_CAP);
    padded_version(c, a, &x);
    padded_version(c, jv_of(b), &y);
    int r = utf16_cmp(x.data ? x.data : "", x.len, y.data ? y.data : "", y.len);
    buf_free(&x);
    buf_free(&y);
    return r;
}

/* isIn(): actual (or any element of an actual array) is in expected. */
static bool is_in(struct jv actual, const json_t *expected, bool insensitive)
{
    size_t n = actual.t == JV_ARR ? json_array_size(actual.j) : 1;
    for (size_t i = 0; i < n; i++) {
        struct jv el = actual.t == JV_ARR ? jv_of(json_array_get(actual.j, i)) : actual;
        for (size_t k = 0; k < json_array_size(expected); k++) {
            struct jv ex = jv_of(json_array_get(expected, k));
            if (insensitive && el.t == JV_STR && ex.t == JV_STR) {
                if (ci_equal(json_string_value(el.j), json_string_length(el.j),
                             json_string_value(ex.j), json_string_length(ex.j))) {
                    return true;
                }
            } else if (strict_equal(el, ex)) {
                return true;
            }
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
    struct sview key;
    sview_of(c, jv_of(expected), &key);
    const json_t *g = json_object_getn(c->groups, key.s, key.n);
    sview_done(&key);
    return json_is_array(g) ? g : NULL;
}

static bool is_operator_object(const json_t *o)
{
    if (!json_is_object(o) || json_object_size(o) == 0) {
        return false;
    }
    for (void *it = json_object_iter(unconst(o)); it; it = json_object_iter_next(unconst(o), it)) {
        if (json_object_iter_key_len(it) == 0 || json_object_iter_key(it)[0] != '$') {
            return false;
        }
    }
    return true;
}

static bool elem_match(struct ctx *c, struct jv actual, const json_t *expected)
{
    if (actual.t != JV_ARR) {
        return false;
    }
    if (expected == NULL || json_is_null(expected)) {
        c->poisoned = true; /* Object.keys(null) throws */
        return false;
    }
    bool op = is_operator_object(expected);
    for (size_t i = 0; i < json_array_size(actual.j); i++) {
        struct jv el = jv_of(json_array_get(actual.j, i));
        if (truthy(el) && (op ? eval_value(c, expected, el, false) : eval_cond(c, el, expected))) {
            return true;
        }
    }
    return false;
}

static bool is_in_all(struct ctx *c, struct jv actual, const json_t *expected, bool insensitive)
{
    if (actual.t != JV_ARR) {
        return false;
    }
    for (size_t i = 0; i < json_array_size(expected); i++) {
        bool passed = false;
        for (size_t j = 0; j < json_array_size(actual.j) && !passed; j++) {
            passed = eval_value(c, json_array_get(expected, i), jv_of(json_array_get(actual.j, j)),
                                insensitive);
        }
        if (!passed) {
            return false;
        }
    }
    return true;
}

static const char *type_name(struct jv v)
{
    static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
    return names[v.t];
}

#define OP_IS(name) (on == sizeof(name) - 1 && memcmp(op, name, on) == 0)

/* evalOperatorCondition(): one operator of an operator object. */
static bool eval_op(struct ctx *c, const char *op, size_t on, struct jv actual,
                    const json_t *expected)
{
    struct jv ex = jv_of(expected);
    if (OP_IS("$veq")) {
        return version_cmp(c, actual, expected) == 0;
    } else if (OP_IS("$vne")) {
        return version_cmp(c, actual, expected) != 0;
    } else if (OP_IS("$vgt")) {
        return version_cmp(c, actual, expected) > 0;
    } else if (OP_IS("$vgte")) {
        return version_cmp(c, actual, expected) >= 0;
    } else if (OP_IS("$vlt")) {
        return version_cmp(c, actual, expected) < 0;
    } else if (OP_IS("$vlte")) {
        return version_cmp(c, actual, expected) <= 0;
    } else if (OP_IS("$eq")) {
        return strict_equal(actual, ex);
    } else if (OP_IS("$ne")) {
        return !strict_equal(actual, ex);
    } else if (OP_IS("$lt")) {
        return js_less(c, actual, ex) == 1;
    } else if (OP_IS("$lte")) {
        return js_less(c, ex, actual) == 0; /* a <= b is !(b < a), false on NaN */
    } else if (OP_IS("$gt")) {
        return js_less(c, ex, actual) == 1;
    } else if (OP_IS("$gte")) {
        return js_less(c, actual, ex) == 0;
    } else if (OP_IS("$exists")) {
        return truthy(ex) ? actual.t != JV_NULL : actual.t == JV_NULL;
    } else if (OP_IS("$in") || OP_IS("$ini")) {
        return json_is_array(expected) && is_in(actual, expected, OP_IS("$ini"));
    } else if (OP_IS("$nin") || OP_IS("$nini")) {
        return json_is_array(expected) && !is_in(actual, expected, OP_IS("$nini"));
    } else if (OP_IS("$inGroup")) {
        return is_in(actual, saved_group(c, expected), false);
    } else if (OP_IS("$notInGroup")) {
        return !is_in(actual, saved_group(c, expected), false);
    } else if (OP_IS("$not")) {
        return !eval_value(c, expected, actual, false);
    } else if (OP_IS("$size")) {
        return actual.t == JV_ARR &&
               eval_value(c, expected, jv_number((double)json_array_size(actual.j)), false);
    } else if (OP_IS("$elemMatch")) {
        return elem_match(c, actual, expected);
    } else if (OP_IS("$all") || OP_IS("$alli")) {
        return json_is_array(expected) && is_in_all(c, actual, expected, OP_IS("$alli"));
    } else if (OP_IS("$regex") || OP_IS("$regexi")) {
        if (!json_is_string(expected)) {
            return false; /* JS: regex.replace() throws inside try -> false */
        }
        struct sview s;
        sview_of(c, actual, &s);
        bool hit = regex_test(json_string_value(expected), json_string_length(expected),
                              OP_IS("$regexi") ? PCRE2_CASELESS : 0, s.s, s.n);
        sview_done(&s);
        return hit;
    } else if (OP_IS("$type")) {
        return json_is_string(expected) &&
               strcmp(json_string_value(expected), type_name(actual)) == 0;
    }
    return false; /* unknown operator */
}

static bool enter(struct ctx *c)
{
    if (c->poisoned || ++c->depth > CONDITION_MAX_DEPTH) {
        c->poisoned = true;
        return false;
    }
    return true;
}

/* evalConditionValue(): a literal or an operator object against one value. */
static bool eval_value(struct ctx *c, const json_t *cond, struct jv value, bool insensitive)
{
    if (!enter(c)) {
        return false;
    }
    bool ok = true;
    if (json_is_string(cond)) {
        struct sview s;
        sview_of(c, value, &s);
        const char *cs = json_string_value(cond);
        size_t cn = json_string_length(cond);
        ok = insensitive ? ci_equal(s.s, s.n, cs, cn) : (s.n == cn && memcmp(s.s, cs, cn) == 0);
        sview_done(&s);
    } else if (is_number(cond)) {
        ok = to_number(c, value) == jv_of(cond).num;
    } else if (json_is_boolean(cond)) {
        ok = value.t != JV_NULL && truthy(value) == json_is_true(cond);
    } else if (json_is_null(cond)) {
        ok = value.t == JV_NULL;
    } else if (!is_operator_object(cond)) {
        ok = stringify_equal(c, value, cond, 0);
    } else {
        for (void *it = json_object_iter(unconst(cond)); it && ok;
             it = json_object_iter_next(unconst(cond), it)) {
            ok = eval_op(c, json_object_iter_key(it), json_object_iter_key_len(it), value,
                         json_object_iter_value(it));
        }
    }
    c->depth--;
    return ok && !c->poisoned;
}

/* getPath(): follow a dotted path; anything missing is null. */
static struct jv get_path(struct jv obj, const char *path, size_t n)
{
    struct jv cur = obj;
    size_t i = 0;
    for (;;) {
        const char *dot = memchr(path + i, '.', n - i);
        size_t pn = dot ? (size_t)(dot - (path + i)) : n - i;
        const char *part = path + i;
        if (cur.t == JV_OBJ) {
            const json_t *child = json_object_getn(cur.j, part, pn);
            if (child == NULL) {
                return jv_of(NULL);
            }
            cur = jv_of(child);
        } else if (cur.t == JV_ARR && is_index_key(part, pn) &&
                   strtoul(part, NULL, 10) < json_array_size(cur.j)) {
            cur = jv_of(json_array_get(cur.j, strtoul(part, NULL, 10)));
        } else if (cur.t == JV_ARR && pn == 6 && memcmp(part, "length", 6) == 0) {
            cur = jv_number((double)json_array_size(cur.j));
        } else {
            return jv_of(NULL);
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

static bool eval_or(struct ctx *c, struct jv obj, const json_t *v)
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

static bool eval_and(struct ctx *c, struct jv obj, const json_t *v)
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

#define KEY_IS(name) (kn == sizeof(name) - 1 && memcmp(k, name, kn) == 0)

/* evalCondition(): every entry of a condition object must hold. */
static bool eval_cond(struct ctx *c, struct jv obj, const json_t *cond)
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
            ok = eval_value(c, json_array_get(cond, i), get_path(obj, k, (size_t)kn), false);
        }
    } else if (json_is_object(cond)) {
        for (void *it = json_object_iter(unconst(cond)); it && ok;
             it = json_object_iter_next(unconst(cond), it)) {
            const char *k = json_object_iter_key(it);
            size_t kn = json_object_iter_key_len(it);
            const json_t *v = json_object_iter_value(it);
            if (KEY_IS("$or")) {
                ok = eval_or(c, obj, v);
            } else if (KEY_IS("$nor")) {
                ok = !eval_or(c, obj, v);
            } else if (KEY_IS("$and")) {
                ok = eval_and(c, obj, v);
            } else if (KEY_IS("$not")) {
                ok = !eval_cond(c, obj, v);
            } else {
                ok = eval_value(c, v, get_path(obj, k, kn), false);
            }
        }
    } /* numbers and booleans have no entries: true */
    c->depth--;
    return ok && !c->poisoned;
}

bool condition_eval(const json_t *condition, const json_t *attributes, const json_t *saved_groups)
{
    struct ctx c = {saved_groups, 0, false};
    bool ok = eval_cond(&c, jv_of(attributes), condition);
    return ok && !c.poisoned;
}
