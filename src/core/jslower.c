/*
 * jslower.c - JavaScript's String.prototype.toLowerCase() over UTF-8 text, for the
 * case-insensitive operators: GrowthBook's $ini / $nini / $alli compare
 * `a.toLowerCase() === b.toLowerCase()` (mongrule.ts), so both sides are lower-cased here once
 * and compared byte for byte (UTF-8 and UTF-16 order code points alike).
 *
 * The mapping is the engine's (tools/gen_jslower.mjs measures it through toLowerCase() and
 * writes jslower_table.h): one code point to one, except U+0130 (to "i" + U+0307), and the
 * one context rule of the root locale, Final_Sigma: U+03A3 becomes U+03C2 when a cased letter
 * precedes it (case-ignorable characters skipped) and none follows it. Bytes that are not
 * UTF-8 are copied as they are. Pure: constant tables only; any thread.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "jslower_table.h"
#include "jsval_int.h"

#define BAD UINT32_MAX /* a byte that does not start a UTF-8 sequence here */

/* The code point at s[*i] (advancing *i), or BAD for a byte that is not well-formed UTF-8
 * (advancing one byte). */
static uint32_t decode(const unsigned char *s, size_t n, size_t *i)
{
    unsigned char c = s[*i];
    size_t len = c < 0x80                 ? 1
                 : c >= 0xc2 && c <= 0xdf ? 2
                 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4
                                          : 0;
    if (len == 0 || *i + len > n) {
        (*i)++;
        return BAD;
    }
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (size_t k = 1; k < len; k++) {
        if ((s[*i + k] & 0xc0) != 0x80) {
            (*i)++;
            return BAD;
        }
        cp = (cp << 6) | (s[*i + k] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        (*i)++;
        return BAD;
    }
    *i += len;
    return cp;
}

static size_t encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static enum sigma_class sigma_class_of(uint32_t cp)
{
    size_t lo = 0, hi = sizeof(sigma_ranges) / sizeof(sigma_ranges[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < sigma_ranges[mid].first) {
            hi = mid;
        } else if (cp > sigma_ranges[mid].last) {
            lo = mid + 1;
        } else {
            return (enum sigma_class)sigma_ranges[mid].cls;
        }
    }
    return SIGMA_OTHER;
}

/* The code point ending just before s[end] (moving *end back), or BAD. */
static uint32_t decode_back(const unsigned char *s, size_t *end)
{
    size_t start = *end - 1;
    while (start > 0 && *end - start < 4 && (s[start] & 0xc0) == 0x80) {
        start--;
    }
    size_t i = start;
    uint32_t cp = decode(s, *end, &i);
    if (i != *end) { /* not one sequence ending here: a stray byte */
        cp = BAD;
        start = *end - 1;
    }
    *end = start;
    return cp;
}

/* Final_Sigma for the U+03A3 at s[at..next). */
static bool final_sigma(const unsigned char *s, size_t n, size_t at, size_t next)
{
    enum sigma_class k = SIGMA_IGNORABLE;
    size_t i = at;
    while (i > 0 && k == SIGMA_IGNORABLE) {
        uint32_t cp = decode_back(s, &i);
        k = cp == BAD ? SIGMA_OTHER : sigma_class_of(cp);
    }
    if (k != SIGMA_CASED) {
        return false;
    }
    k = SIGMA_IGNORABLE;
    i = next;
    while (i < n && k == SIGMA_IGNORABLE) {
        uint32_t cp = decode(s, n, &i);
        k = cp == BAD ? SIGMA_OTHER : sigma_class_of(cp);
    }
    return k != SIGMA_CASED;
}

size_t jsval_lower(const char *text, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            i++;
            continue;
        }
        size_t at = i;
        uint32_t cp = decode(s, n, &i);
        if (cp == BAD) {
            out[o++] = (char)c;
        } else if (cp == 0x130) {
            o += encode(0x69, out + o);
            o += encode(0x307, out + o);
        } else if (cp == 0x3a3) {
            o += encode(final_sigma(s, n, at, i) ? 0x3c2 : 0x3c3, out + o);
        } else {
            o += encode((uint32_t)((int32_t)cp + lower_delta[lower_block[cp >> 8]][cp & 0xff]),
                        out + o);
        }
    }
    return o;
}
