/*
 * validate.c - small typed readers for JSON documents that produce API.md errors with
 * the field path (model.h). Used by metric.c and experiment_read*.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/model.h"
#include "bunsen/util.h"

int validate_known_fields(const json_t *obj, const char *const *allowed, const char *prefix,
                          struct err *err)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)obj, name, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++) {
            if (strcmp(name, allowed[i]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            char field[64];
            snprintf(field, sizeof(field), "%s%s%.40s", prefix, prefix[0] ? "." : "", name);
            return err_set(err, ERR_INVALID, field, "unknown field '%.60s'", name);
        }
    }
    return 0;
}

long text_invisible_at(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (utf8_invisible_len((const unsigned char *)s, n, i) > 0) {
            return (long)i;
        }
    }
    return -1;
}

int validate_text(const json_t *v, enum model_mode mode, const char *field, size_t min, size_t max,
                  bool multiline, char *out, size_t outn, struct err *err)
{
    if (!json_is_string(v)) {
        return err_set(err, ERR_INVALID, field, "%s must be a string", field);
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n < min || n > max) {
        return err_set(err, ERR_INVALID, field, "%s must be %zu to %zu bytes long", field, min,
                       max);
    }
    if (!utf8_valid(s, n)) {
        return err_set(err, ERR_INVALID, field, "%s is not valid UTF-8", field);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool allowed_ws = multiline && (c == '\n' || c == '\t' || c == '\r');
        /* C1 controls U+0080..U+009F are C2 80..C2 9F, as in text_id_valid() */
        bool c1 = c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f;
        if ((c < 0x20 && !allowed_ws) || c == 0x7f || c1) {
            return err_set(err, ERR_INVALID, field, "%s contains a control character", field);
        }
    }
    /* a stored text may predate the rule: it loads as it is (model.h) */
    if (mode != MODEL_LOAD && text_invisible_at(s, n) >= 0) {
        return err_set(err, ERR_INVALID, field,
                       "%s contains an invisible formatting character (a bidi control such as "
                       "U+202E, or a zero-width one such as U+200B)",
                       field);
    }
    if (out != NULL) {
        snprintf(out, outn, "%s", s);
    }
    return 0;
}

int validate_key(const json_t *v, const char *field, char *out, struct err *err)
{
    if (!json_is_string(v) || !key_valid(json_string_value(v)) ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        return err_set(err, ERR_INVALID, field,
                       "%s must match ^[a-z0-9][a-z0-9_.-]{0,63}$ (lower-case letters, digits, "
                       "'_', '.', '-')",
                       field);
    }
    snprintf(out, MODEL_KEY_MAX + 1, "%s", json_string_value(v));
    return 0;
}

int validate_number(const json_t *v, const char *field, double lo, double hi, double *out,
                    struct err *err)
{
    if (!json_is_number(v)) {
        return err_set(err, ERR_INVALID, field, "%s must be a number", field);
    }
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi) {
        return err_set(err, ERR_INVALID, field, "%s must be a number in [%g, %g]", field, lo, hi);
    }
    *out = x;
    return 0;
}

int validate_real(const json_t *v, enum model_mode mode, const char *field, double lo, double hi,
                  double *out, struct err *err)
{
    /* kept as sent (replies print the shortest text that reads back as it, so a GET shows
     * the number used); until s24 a written one was rounded to MODEL_REAL_DIGITS */
    (void)mode;
    return validate_number(v, field, lo, hi, out, err);
}

int validate_integer(const json_t *v, const char *field, int64_t lo, int64_t hi, int64_t *out,
                     struct err *err)
{
    double x;
    if (json_is_integer(v)) {
        x = (double)json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v))) {
        x = json_real_value(v);
    } else {
        return err_set(err, ERR_INVALID, field, "%s must be an integer", field);
    }
    /* compare integers exactly: as doubles, 2^53 + 1 would pass a bound of 2^53 */
    if (!(x >= (double)lo && x <= (double)hi) ||
        (json_is_integer(v) && (json_integer_value(v) < lo || json_integer_value(v) > hi))) {
        return err_set(err, ERR_INVALID, field, "%s must be an integer in [%lld, %lld]", field,
                       (long long)lo, (long long)hi);
    }
    *out = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)x;
    return 0;
}

int validate_json_depth(const json_t *v, int limit)
{
    if (limit < 0) {
        return 1;
    }
    int deepest = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)(uintptr_t)v, k, c)
        {
            int d = 1 + validate_json_depth(c, limit - 1);
            deepest = d > deepest ? d : deepest;
            if (deepest > limit) {
                break;
            }
        }
        return deepest > 0 ? deepest : 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            int d = 1 + validate_json_depth(c, limit - 1);
            deepest = d > deepest ? d : deepest;
            if (deepest > limit) {
                break;
            }
        }
        return deepest > 0 ? deepest : 1;
    }
    return 0;
}

bool validate_round_real(double x, int digits, double *out)
{
    char text[40];
    snprintf(text, sizeof(text), "%.*g", digits, x);
    double r = strtod(text, NULL);
    if (!isfinite(r)) {
        return false; /* 1.7976931348623157e308 prints as 1.79769313486232e308: inf */
    }
    *out = r;
    return true;
}
