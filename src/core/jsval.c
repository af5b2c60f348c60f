/*
 * jsval.c - JavaScript value semantics over json_t trees, for condition.c.
 *
 * Owns nothing: pure functions that reproduce what the GrowthBook JavaScript SDK gets
 * from the language itself - ToString (Number#toString, Array#join), ToNumber
 * (StringToNumber), truthiness, `===`, `<` between mixed types, string order by UTF-16
 * code units and JSON.stringify equality. Split from condition.c to keep both short.
 * jansson is only the in-memory value tree. Thread-safe: no globals; the only memory
 * is a transient scratch buffer for joined arrays.
 */
#include "jsval_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/condition.h"

#define SCRATCH_CAP (1u << 20) /* cap on one stringified array (join) */

/* jansson's iterator API takes json_t * although it only reads; we never write. */
json_t *jsval_unconst(const json_t *j)
{
    return (json_t *)(uintptr_t)j;
}

struct jsval jsval_of(const json_t *j)
{
    struct jsval v = {JSVAL_NULL, false, 0, NULL};
    if (j == NULL) {
        return v;
    }
    v.j = j;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        v.t = JSVAL_OBJ;
        break;
    case JSON_ARRAY:
        v.t = JSVAL_ARR;
        break;
    case JSON_STRING:
        v.t = JSVAL_STR;
        break;
    case JSON_INTEGER:
        v.t = JSVAL_NUM;
        v.num = (double)json_integer_value(j);
        break;
    case JSON_REAL:
        v.t = JSVAL_NUM;
        v.num = json_real_value(j);
        break;
    case JSON_TRUE:
        v.t = JSVAL_BOOL;
        v.b = true;
        break;
    case JSON_FALSE:
        v.t = JSVAL_BOOL;
        break;
    case JSON_NULL:
        v.j = NULL;
        break;
    }
    return v;
}

struct jsval jsval_number(double d)
{
    struct jsval v = {JSVAL_NUM, false, d, NULL};
    return v;
}

/* The decimal one unit above tmp's last digit ("%.*e" text of positive digits), into up:
 * 1.29e+05 -> 1.30e+05, 9.99e+05 -> 1.00e+06. */
static void decimal_next_up(const char *tmp, char *up, size_t n)
{
    char digits[20];
    int k = 0;
    const char *q = tmp;
    for (; *q != '\0' && *q != 'e'; q++) {
        if (*q >= '0' && *q <= '9' && k < 18) {
            digits[k++] = *q;
        }
    }
    int exp10 = atoi(q + 1);
    int i = k - 1;
    while (i >= 0 && digits[i] == '9') {
        digits[i--] = '0';
    }
    if (i >= 0) {
        digits[i]++;
    } else {
        digits[0] = '1'; /* 9.99 -> 10.0: one digit more before the point */
        exp10++;
    }
    snprintf(up, n, "%c%s%.*se%d", digits[0], k > 1 ? "." : "", k - 1, digits + 1, exp10);
}

/* JavaScript Number.prototype.toString(): shortest round-trip digits, JS layout.
 * At each length the digits nearest to d are tried, and when they fall below d and miss
 * it, the next ones up: at a power of two the doubles below are twice as dense as those
 * above, so the digits above may read back as d while the nearer ones below do not (2^-1016
 * is 7.120236347223045e-307 in JavaScript, not the 17 digits of the nearest-only search). */
size_t jsval_number_to_string(double d, char out[32])
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
        double near = strtod(tmp, NULL);
        if (near == d) {
            break;
        }
        char up[40];
        decimal_next_up(tmp, up, sizeof(up));
        if (near < d && strtod(up, NULL) == d) {
            memcpy(tmp, up, sizeof(tmp));
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
static double string_to_number(const char *str, size_t n)
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

static bool buf_add(bool *failed, struct buf *b, const char *s, size_t n)
{
    if (buf_append(b, s, n) < 0) {
        *failed = true;
        return false;
    }
    return true;
}

/* Append Array.prototype.join(",") of array a (null elements become ""). */
static void join_array(bool *failed, const json_t *a, struct buf *b, int depth)
{
    if (depth > CONDITION_MAX_DEPTH) {
        *failed = true;
        return;
    }
    for (size_t i = 0; i < json_array_size(a) && !*failed; i++) {
        const json_t *e = json_array_get(a, i);
        char num[32];
        if (i > 0 && !buf_add(failed, b, ",", 1)) {
            return;
        }
        switch (json_typeof(e)) {
        case JSON_STRING:
            buf_add(failed, b, json_string_value(e), json_string_length(e));
            break;
        case JSON_INTEGER:
        case JSON_REAL:
            buf_add(failed, b, num, jsval_number_to_string(jsval_of(e).num, num));
            break;
        case JSON_TRUE:
            buf_add(failed, b, "true", 4);
            break;
        case JSON_FALSE:
            buf_add(failed, b, "false", 5);
            break;
        case JSON_OBJECT:
            buf_add(failed, b, "[object Object]", 15);
            break;
        case JSON_ARRAY:
            join_array(failed, e, b, depth + 1);
            break;
        case JSON_NULL:
            break;
        }
    }
}

/* v's ToString() (ToPrimitive first: arrays join, objects "[object Object]").
 * Release with jsval_str_free(). */
void jsval_to_string(struct jsval v, struct jsval_str *out, bool *failed)
{
    buf_init(&out->scratch, SCRATCH_CAP);
    switch (v.t) {
    case JSVAL_NULL:
        out->s = "null";
        out->n = 4;
        break;
    case JSVAL_BOOL:
        out->s = v.b ? "true" : "false";
        out->n = v.b ? 4 : 5;
        break;
    case JSVAL_NUM:
        out->n = jsval_number_to_string(v.num, out->num);
        out->s = out->num;
        break;
    case JSVAL_STR:
        out->s = json_string_value(v.j);
        out->n = json_string_length(v.j);
        break;
    case JSVAL_OBJ:
        out->s = "[object Object]";
        out->n = 15;
        break;
    case JSVAL_ARR:
        join_array(failed, v.j, &out->scratch, 0);
        out->s = out->scratch.data ? out->scratch.data : "";
        out->n = out->scratch.len;
        break;
    }
}

void jsval_str_free(struct jsval_str *v)
{
    buf_free(&v->scratch);
}

bool jsval_truthy(struct jsval v)
{
    switch (v.t) {
    case JSVAL_NULL:
        return false;
    case JSVAL_BOOL:
        return v.b;
    case JSVAL_NUM:
        return v.num != 0 && !isnan(v.num);
    case JSVAL_STR:
        return json_string_length(v.j) > 0;
    default:
        return true;
    }
}

/* JavaScript ToNumber(). */
double jsval_to_number(struct jsval v, bool *failed)
{
    switch (v.t) {
    case JSVAL_NULL:
        return 0;
    case JSVAL_BOOL:
        return v.b ? 1 : 0;
    case JSVAL_NUM:
        return v.num;
    case JSVAL_OBJ:
        return NAN;
    default: {
        struct jsval_str s;
        jsval_to_string(v, &s, failed);
        double d = string_to_number(s.s, s.n);
        jsval_str_free(&s);
        return d;
    }
    }
}

/* Compare valid UTF-8 strings in UTF-16 code unit order (JavaScript's `<`). Byte
 * order equals code point order; UTF-16 differs only in putting supplementary
 * characters (lead F0-F4) before U+E000..U+FFFF (lead EE, EF). */
int jsval_utf16_cmp(const char *a, size_t an, const char *b, size_t bn)
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
bool jsval_strict_equal(struct jsval a, struct jsval b)
{
    if (a.t != b.t) {
        return false;
    }
    switch (a.t) {
    case JSVAL_NULL:
        return true;
    case JSVAL_BOOL:
        return a.b == b.b;
    case JSVAL_NUM:
        return a.num == b.num;
    case JSVAL_STR:
        return json_string_length(a.j) == json_string_length(b.j) &&
               memcmp(json_string_value(a.j), json_string_value(b.j), json_string_length(a.j)) == 0;
    default:
        return a.j == b.j && a.j != NULL; /* objects compare by reference */
    }
}

/* JavaScript `a < b`: 1 true, 0 false, -1 undefined (a NaN was involved). */
int jsval_less(struct jsval a, struct jsval b, bool *failed)
{
    bool as = a.t == JSVAL_STR || a.t == JSVAL_ARR || a.t == JSVAL_OBJ;
    bool bs = b.t == JSVAL_STR || b.t == JSVAL_ARR || b.t == JSVAL_OBJ;
    if (as && bs) {
        struct jsval_str x, y;
        jsval_to_string(a, &x, failed);
        jsval_to_string(b, &y, failed);
        int r = jsval_utf16_cmp(x.s, x.n, y.s, y.n) < 0;
        jsval_str_free(&x);
        jsval_str_free(&y);
        return r;
    }
    double x = jsval_to_number(a, failed), y = jsval_to_number(b, failed);
    if (isnan(x) || isnan(y)) {
        return -1;
    }
    return x < y;
}

/* Canonical array index key ("0", "17"; not "01"), as JS orders object keys. */
bool jsval_is_index_key(const char *k, size_t n)
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

static bool stringify_equal(bool *failed, struct jsval a, const json_t *b, int depth);

static bool object_stringify_equal(bool *failed, const json_t *a, const json_t *b, int depth)
{
    if (json_object_size(a) != json_object_size(b)) {
        return false;
    }
    /* index keys come first in ascending order in both: equal sets suffice */
    size_t na = 0, nb = 0;
    void *it;
    for (it = json_object_iter(jsval_unconst(b)); it;
         it = json_object_iter_next(jsval_unconst(b), it)) {
        const char *k = json_object_iter_key(it);
        size_t kn = json_object_iter_key_len(it);
        if (jsval_is_index_key(k, kn)) {
            nb++;
            const json_t *av = json_object_getn(a, k, kn);
            if (av == NULL ||
                !stringify_equal(failed, jsval_of(av), json_object_iter_value(it), depth + 1)) {
                return false;
            }
        }
    }
    for (it = json_object_iter(jsval_unconst(a)); it;
         it = json_object_iter_next(jsval_unconst(a), it)) {
        na += jsval_is_index_key(json_object_iter_key(it), json_object_iter_key_len(it));
    }
    if (na != nb) {
        return false;
    }
    /* other keys in insertion order, pairwise */
    void *ia = json_object_iter(jsval_unconst(a));
    void *ib = json_object_iter(jsval_unconst(b));
    for (;;) {
        while (ia && jsval_is_index_key(json_object_iter_key(ia), json_object_iter_key_len(ia))) {
            ia = json_object_iter_next(jsval_unconst(a), ia);
        }
        while (ib && jsval_is_index_key(json_object_iter_key(ib), json_object_iter_key_len(ib))) {
            ib = json_object_iter_next(jsval_unconst(b), ib);
        }
        if (ia == NULL || ib == NULL) {
            return ia == ib;
        }
        size_t ka = json_object_iter_key_len(ia), kb = json_object_iter_key_len(ib);
        if (ka != kb || memcmp(json_object_iter_key(ia), json_object_iter_key(ib), ka) != 0 ||
            !stringify_equal(failed, jsval_of(json_object_iter_value(ia)),
                             json_object_iter_value(ib), depth + 1)) {
            return false;
        }
        ia = json_object_iter_next(jsval_unconst(a), ia);
        ib = json_object_iter_next(jsval_unconst(b), ib);
    }
}

/* JSON.stringify(a) === JSON.stringify(b), without building either string. */
static bool stringify_equal(bool *failed, struct jsval a, const json_t *b, int depth)
{
    if (depth > CONDITION_MAX_DEPTH) {
        *failed = true;
        return false;
    }
    struct jsval bv = jsval_of(b);
    if (a.t != bv.t) {
        return false;
    }
    switch (a.t) {
    case JSVAL_ARR:
        if (json_array_size(a.j) != json_array_size(b)) {
            return false;
        }
        for (size_t i = 0; i < json_array_size(b); i++) {
            if (!stringify_equal(failed, jsval_of(json_array_get(a.j, i)), json_array_get(b, i),
                                 depth + 1)) {
                return false;
            }
        }
        return true;
    case JSVAL_OBJ:
        return object_stringify_equal(failed, a.j, b, depth);
    default:
        return jsval_strict_equal(a, bv);
    }
}

bool jsval_stringify_equal(struct jsval a, const json_t *b, bool *failed)
{
    return stringify_equal(failed, a, b, 0);
}
