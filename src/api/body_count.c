/*
 * body_count.c - a cheap pass over a JSON body before jansson builds a tree of it: how many
 * elements the array that is one top-level member holds ({"exposures": [...]}), counting
 * no further than the caller's cap. An 8 MiB body of `{}` items is 2.8 million jansson
 * objects (~660 MB) before the item cap is checked on the tree (security review,
 * 2026-12); this pass refuses it with the same 400 after reading the bytes once, allocating
 * nothing.
 *
 * It skips strings (escapes included) and nested values without validating them: on
 * well-formed JSON its count is json_array_size() of the member (tests/unit/
 * test_body_count.c checks that on tricky texts); on anything else it may count something
 * or say -1, and jansson then gives its usual answer. Pure; thread-safe.
 */
#include <stdbool.h>
#include <string.h>

#include "api_int.h"

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }
    return p;
}

/* p at an opening quote: just past the closing one, or NULL when the text ends first. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++; /* whatever is escaped, it does not end the string */
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Whether the key [k, kend) (between its quotes) decodes to name, an ASCII string: jansson
 * reads "\u0065xposures" as "exposures", so escapes are decoded; any escape that yields a
 * non-ASCII character cannot match. */
static bool key_is(const char *k, const char *kend, const char *name)
{
    static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    const char *n = name;
    while (k < kend) {
        char c = *k++;
        if (c == '\\') {
            if (k >= kend) {
                return false;
            }
            char e = *k++;
            if (e == 'u') {
                if (kend - k < 4) {
                    return false;
                }
                int v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hex_value(k[i]);
                    if (h < 0) {
                        return false;
                    }
                    v = v * 16 + h;
                }
                k += 4;
                if (v == 0 || v > 0x7f) {
                    return false;
                }
                c = (char)v;
            } else {
                const char *s = strchr(simple, e);
                if (e == '\0' || s == NULL || (s - simple) % 2 != 0) {
                    return false;
                }
                c = s[1];
            }
        }
        if (*n == '\0' || *n != c) {
            return false;
        }
        n++;
    }
    return *n == '\0';
}

/* p at '[' or '{': just past its matching close (by depth alone), or NULL. When count is
 * not NULL, p is at '[' and *count gets its elements, the scan stopping (NULL, *count =
 * stop + 1) as soon as they pass stop. */
static const char *skip_container(const char *p, const char *end, size_t *count, size_t stop)
{
    size_t depth = 0, commas = 0;
    bool any = false; /* something other than blanks at depth 1 */
    while (p < end) {
        char c = *p;
        if (c == '"') {
            any = true;
            p = skip_string(p, end);
            if (p == NULL) {
                return NULL;
            }
            continue;
        }
        if (c == '[' || c == '{') {
            any = any || depth > 0;
            depth++;
        } else if (c == ']' || c == '}') {
            if (--depth == 0) {
                if (count != NULL) {
                    *count = any ? commas + 1 : 0;
                }
                return p + 1;
            }
        } else if (c == ',' && depth == 1) {
            commas++;
            if (count != NULL && commas + 1 > stop) {
                *count = stop + 1;
                return NULL;
            }
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            any = true;
        }
        p++;
    }
    return NULL;
}

/* A scalar: up to the next delimiter. */
static const char *skip_scalar(const char *p, const char *end)
{
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r') {
        p++;
    }
    return p;
}

long api_json_count_items(const char *text, size_t len, const char *name, size_t stop)
{
    const char *p = text, *end = text + len;
    long found = -1;
    p = skip_ws(p, end);
    if (p >= end || *p != '{') {
        return -1;
    }
    p++;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end || *p != '"') {
            return found; /* '}' (the end), or not JSON: jansson words it */
        }
        const char *key = p + 1;
        p = skip_string(p, end);
        if (p == NULL) {
            return found;
        }
        bool wanted = key_is(key, p - 1, name);
        p = skip_ws(p, end);
        if (p >= end || *p != ':') {
            return found;
        }
        p = skip_ws(p + 1, end);
        if (p >= end) {
            return found;
        }
        if (*p == '"') {
            p = skip_string(p, end);
        } else if (*p == '[' || *p == '{') {
            size_t n = 0;
            bool counted = wanted && *p == '[';
            p = skip_container(p, end, counted ? &n : NULL, stop);
            if (counted && n > stop) {
                return (long)n;
            }
            if (counted && p != NULL && (long)n > found) {
                found = (long)n; /* a repeated member: jansson refuses it anyway */
            }
        } else {
            p = skip_scalar(p, end);
        }
        if (p == NULL) {
            return found;
        }
        p = skip_ws(p, end);
        if (p >= end || *p != ',') {
            return found;
        }
        p++;
    }
}
