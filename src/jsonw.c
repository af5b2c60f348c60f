/*
 * jsonw.c - JSON text written straight into a buffer (jsonw.h). Owns nothing; the rules
 * for strings, containers and fixed-digit reals are jansson 2.14's compact output (tests
 * compare them), and reals in replies are the shortest text that reads back as the double.
 */
#include "bunsen/jsonw.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int jsonw_append_raw(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int jsonw_append_string(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (buf_append(b, "\"", 1) != 0) {
        return -1;
    }
    size_t run = 0; /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        if (buf_append(b, s + run, i - run) != 0) {
            return -1;
        }
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t en = 2;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            en = 6;
        }
        if (buf_append(b, esc, en) != 0) {
            return -1;
        }
    }
    if (buf_append(b, s + run, n - run) != 0) {
        return -1;
    }
    return buf_append(b, "\"", 1);
}

int jsonw_append_int(struct buf *b, long long v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        *--p = '-';
    }
    return buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* A multiple of 1/10000 in [0, 1), such as every assignment bucket, printed without
 * printf: "%.<digits>g" gives the 4-decimal text for any digits in 4..15. */
static int append_ten_thousandths(struct buf *b, double v, int digits)
{
    if (!(v >= 0 && v < 1) || signbit(v) || digits < 4 || digits > 15) {
        return 1;
    }
    double scaled = v * 10000;
    long k = lround(scaled);
    if ((double)k / 10000 != v) {
        return 1;
    }
    if (k == 0) {
        return buf_append(b, "0.0", 3);
    }
    char out[6] = {'0',
                   '.',
                   (char)('0' + k / 1000),
                   (char)('0' + k / 100 % 10),
                   (char)('0' + k / 10 % 10),
                   (char)('0' + k % 10)};
    size_t n = sizeof(out);
    while (out[n - 1] == '0') {
        n--;
    }
    return buf_append(b, out, n);
}

/* "%.<d>g" for the fewest d in 15..17 that strtod reads back as v: a decimal of at most 15
 * digits survives the trip to a double and back (DBL_DIG), so when one names v, "%.15g"
 * prints it without trailing zeros; 17 digits always name v. */
int jsonw_real_text(char *out, size_t n, double v)
{
    int len = -1;
    for (int d = 15; d <= 17; d++) {
        len = snprintf(out, n, "%.*g", d, v);
        if (len < 0 || (size_t)len >= n) {
            return -1;
        }
        if (d == 17 || strtod(out, NULL) == v) {
            break;
        }
    }
    return len;
}

int jsonw_append_real(struct buf *b, double v, int digits)
{
    if (!isfinite(v)) {
        return -1;
    }
    if (digits < 0 || digits > 17) {
        digits = 17;
    }
    /* the 4-decimal text of a bucket is its shortest too ("%.15g" prints it) */
    int fast = append_ten_thousandths(b, v, digits == 0 ? 15 : digits);
    if (fast <= 0) {
        return fast;
    }
    char text[48];
    int n = digits == 0 ? jsonw_real_text(text, sizeof(text), v)
                        : snprintf(text, sizeof(text), "%.*g", digits, v);
    if (n < 0 || (size_t)n >= sizeof(text) - 3) {
        return -1;
    }
    size_t len = (size_t)n;
    if (strchr(text, '.') == NULL && strchr(text, 'e') == NULL) {
        memcpy(text + len, ".0", 3); /* stays a real when read back */
        len += 2;
    }
    char *e = strchr(text, 'e');
    if (e != NULL) {
        /* "1e+05" -> "1e5", "1e-05" -> "1e-5" */
        char *from = e + 1, *to = e + 1;
        if (*from == '-') {
            from++;
            to++;
        } else if (*from == '+') {
            from++;
        }
        while (*from == '0' && from[1] != '\0') {
            from++;
        }
        memmove(to, from, strlen(from) + 1);
        len = strlen(text);
    }
    return buf_append(b, text, len);
}

/* v, a string, number, true, false or null, as jansson prints it (a real with
 * jsonw_append_real's digits); -1 for an object or array. */
static int append_scalar(struct buf *b, const json_t *v, int real_digits)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return jsonw_append_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return jsonw_append_int(b, (long long)json_integer_value(v));
    case JSON_REAL:
        return jsonw_append_real(b, json_real_value(v), real_digits);
    case JSON_TRUE:
        return jsonw_append_raw(b, "true");
    case JSON_FALSE:
        return jsonw_append_raw(b, "false");
    case JSON_NULL:
        return jsonw_append_raw(b, "null");
    default:
        return -1;
    }
}

static int dump_cb(const char *text, size_t size, void *data)
{
    return buf_append(data, text, size);
}

int jsonw_append_value(struct buf *b, const json_t *v, size_t flags)
{
    /* A scalar (an assigned value is most often a string) without jansson's dump machinery
     * (~1,200 instructions): the same bytes, since each writer above prints as jansson does
     * with these flags. json_dump_callback refuses scalars without JSON_ENCODE_ANY. */
    if (v != NULL && (flags & JSON_ENCODE_ANY) &&
        !(flags & (JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH)) && !json_is_object(v) &&
        !json_is_array(v)) {
        int digits = (int)((flags >> 11) & 0x1F); /* JSON_REAL_PRECISION's */
        return append_scalar(b, v, digits == 0 ? 17 : digits);
    }
    return json_dump_callback(v, dump_cb, b, flags);
}

/* Nesting beyond this is refused (jansson's parser stops at 2048 too). */
#define JSONW_MAX_DEPTH 2048

/* A newline and depth * indent spaces before a member, as jansson's JSON_INDENT(indent) puts
 * them; nothing when compact (indent 0). */
static int append_indent(struct buf *b, int indent, int depth)
{
    if (indent <= 0) {
        return 0;
    }
    if (buf_append(b, "\n", 1) != 0) {
        return -1;
    }
    for (int i = 0; i < indent * depth; i++) {
        if (buf_append(b, " ", 1) != 0) {
            return -1;
        }
    }
    return 0;
}

/* v compact (indent 0), or laid out as json_dumps(v, JSON_INDENT(indent)) lays it out: each
 * member on a line of its own, "key": value, an empty container as {} or []. */
static int append_json(struct buf *b, const json_t *v, int depth, int indent)
{
    if (v == NULL || depth > JSONW_MAX_DEPTH) {
        return -1;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (buf_append(b, "{", 1) != 0) {
            return -1;
        }
        bool first = true;
        /* insertion order, as json_dumps without JSON_SORT_KEYS */
        for (void *it = json_object_iter((json_t *)(uintptr_t)v); it != NULL;
             it = json_object_iter_next((json_t *)(uintptr_t)v, it)) {
            if ((!first && buf_append(b, ",", 1) != 0) ||
                append_indent(b, indent, depth + 1) != 0 ||
                jsonw_append_string(b, json_object_iter_key(it), json_object_iter_key_len(it)) !=
                    0 ||
                buf_append(b, ": ", indent > 0 ? 2 : 1) != 0 ||
                append_json(b, json_object_iter_value(it), depth + 1, indent) != 0) {
                return -1;
            }
            first = false;
        }
        if (!first && append_indent(b, indent, depth) != 0) {
            return -1;
        }
        return buf_append(b, "}", 1);
    }
    case JSON_ARRAY: {
        if (buf_append(b, "[", 1) != 0) {
            return -1;
        }
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if ((i > 0 && buf_append(b, ",", 1) != 0) || append_indent(b, indent, depth + 1) != 0 ||
                append_json(b, json_array_get(v, i), depth + 1, indent) != 0) {
                return -1;
            }
        }
        if (n > 0 && append_indent(b, indent, depth) != 0) {
            return -1;
        }
        return buf_append(b, "]", 1);
    }
    default:
        return append_scalar(b, v, 0);
    }
}

int jsonw_append_json(struct buf *b, const json_t *v)
{
    return append_json(b, v, 0, 0);
}

char *jsonw_dumps(const json_t *v, size_t *len)
{
    return jsonw_dumps_indent(v, 0, len);
}

char *jsonw_dumps_indent(const json_t *v, int indent, size_t *len)
{
    struct buf b;
    buf_init(&b, SIZE_MAX / 2);
    if (indent < 0 || indent > 31 || append_json(&b, v, 0, indent) != 0 || b.data == NULL) {
        buf_free(&b);
        return NULL;
    }
    if (len != NULL) {
        *len = b.len;
    }
    return b.data; /* NUL-terminated; ownership passes to the caller */
}
