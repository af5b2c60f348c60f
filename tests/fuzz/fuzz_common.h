/*
 * fuzz_common.h - shared by the libFuzzer targets in tests/fuzz/ (built by fuzz.mk with
 * -fsanitize=fuzzer,address,undefined).
 *
 * Holds the libFuzzer entry-point prototypes, FUZZ_CHECK (an invariant that must hold for
 * every input: it prints what broke and aborts, which libFuzzer records as a crash with the
 * input saved), and small reference implementations written independently of src/ from
 * the specifications (Unicode Table 3-7 for UTF-8, API.md for keys and text ids), so that
 * the targets can compare src/ against them (differential checks) instead of only
 * looking for memory errors. Everything here is static inline: each target is one
 * translation unit, and a libFuzzer process runs inputs on one thread.
 */
#ifndef BUNSEN_FUZZ_COMMON_H
#define BUNSEN_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The libFuzzer entry points (defined by each target). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test: on failure print the condition and a message
 * (printf format, at least one argument) and abort, so that libFuzzer saves the input. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* True when FUZZ_IGNORE_KNOWN=1 is in the environment: FUZZ_CHECK_KNOWN then skips the
 * checks of bugs already reported (each names its regression test), so that a long run
 * can look for other ones. `make fuzz` does not set it: a known bug fails until fixed. */
static inline bool fuzz_ignore_known(void)
{
    static int cached = -1;
    if (cached < 0) {
        const char *v = getenv("FUZZ_IGNORE_KNOWN");
        cached = v != NULL && strcmp(v, "1") == 0;
    }
    return cached == 1;
}

/* FUZZ_CHECK for an invariant that a reported, not yet fixed bug breaks. */
#define FUZZ_CHECK_KNOWN(cond, ...)                                                                \
    do {                                                                                           \
        if (!fuzz_ignore_known()) {                                                                \
            FUZZ_CHECK(cond, __VA_ARGS__);                                                         \
        }                                                                                          \
    } while (0)

/* The bytes as a NUL-terminated string (truncated at the first NUL, as a C string from
 * MHD would be). Free with free(). */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL) {
        abort();
    }
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Parse a request body as the HTTP layer does (http_req_json_body: duplicate keys refused,
 * no NUL inside strings); extra flags are or-ed in. NULL when it is not JSON. */
static inline json_t *fuzz_json(const uint8_t *data, size_t size, size_t flags)
{
    return json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | flags, NULL);
}

/* ---- reference UTF-8 (Unicode 15, Table 3-7 "Well-Formed UTF-8 Byte Sequences") ---- */

/* Decode one well-formed sequence at s[*i..n): true with *cp and *i advanced, else false. */
static inline bool ref_utf8_next(const uint8_t *s, size_t n, size_t *i, uint32_t *cp)
{
    uint8_t b0 = s[*i];
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    size_t len;
    if (b0 <= 0x7f) {
        *cp = b0;
        (*i)++;
        return true;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2;
    } else if (b0 == 0xe0) {
        len = 3;
        lo = 0xa0;
    } else if ((b0 >= 0xe1 && b0 <= 0xec) || b0 == 0xee || b0 == 0xef) {
        len = 3;
    } else if (b0 == 0xed) {
        len = 3;
        hi = 0x9f;
    } else if (b0 == 0xf0) {
        len = 4;
        lo = 0x90;
    } else if (b0 >= 0xf1 && b0 <= 0xf3) {
        len = 4;
    } else if (b0 == 0xf4) {
        len = 4;
        hi = 0x8f;
    } else {
        return false;
    }
    if (n - *i < len) {
        return false;
    }
    if (s[*i + 1] < lo || s[*i + 1] > hi) {
        return false;
    }
    for (size_t k = 2; k < len; k++) {
        if (s[*i + k] < 0x80 || s[*i + k] > 0xbf) {
            return false;
        }
    }
    uint32_t v = b0 & (len == 2 ? 0x1fu : len == 3 ? 0x0fu : 0x07u);
    for (size_t k = 1; k < len; k++) {
        v = (v << 6) | (s[*i + k] & 0x3fu);
    }
    *cp = v;
    *i += len;
    return true;
}

static inline bool ref_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        if (!ref_utf8_next(s, n, &i, &cp)) {
            return false;
        }
    }
    return true;
}

/* API.md: 1..max bytes of valid UTF-8 with no control character (C0, DEL, C1); with
 * multiline, tab, LF and CR are allowed and min may be 0. */
static inline bool ref_text_valid(const uint8_t *s, size_t n, size_t min, size_t max,
                                  bool multiline)
{
    if (n < min || n > max) {
        return false;
    }
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        if (!ref_utf8_next(s, n, &i, &cp)) {
            return false;
        }
        bool ws = multiline && (cp == '\t' || cp == '\n' || cp == '\r');
        if ((cp < 0x20 && !ws) || (cp >= 0x7f && cp <= 0x9f)) {
            return false;
        }
    }
    return true;
}

/* Names and texts a client writes (validate_text but for MODEL_LOAD; not ids) also refuse
 * the invisible formatting characters (API.md "Keys and identity"): U+00AD, U+061C, U+180E,
 * U+200B..U+200F, U+202A..U+202E, U+2060..U+2064, U+2066..U+206F, U+FEFF, U+FFF9..U+FFFB,
 * U+E0001, U+E0020..U+E007F. s is valid UTF-8 (ref_text_valid holds). By code point, not by
 * bytes as the daemon does. */
static inline bool ref_text_visible(const uint8_t *s, size_t n)
{
    size_t i = 0;
    uint32_t cp;
    while (i < n && ref_utf8_next(s, n, &i, &cp)) {
        if (cp == 0xad || cp == 0x61c || cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) ||
            (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2064) ||
            (cp >= 0x2066 && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
            cp == 0xe0001 || (cp >= 0xe0020 && cp <= 0xe007f) || cp == 0x34f || cp == 0x115f ||
            cp == 0x1160 || cp == 0x3164 || cp == 0xffa0 || cp == 0x2800) {
            return false;
        }
    }
    return true;
}

/* API.md keys: ^[a-z0-9][a-z0-9_.-]{0,63}$ on a C string. */
static inline bool ref_key_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bool alnum = strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[i]) != NULL;
        bool punct = i > 0 && strchr("_.-", s[i]) != NULL;
        if (s[i] == '\0' || (!alnum && !punct)) {
            return false;
        }
    }
    return true;
}

/* FNV-1a 32 over the UTF-16 code units of UTF-8 text (API.md "Hashing"); false on
 * malformed UTF-8. */
static inline bool ref_fnv1a32(uint32_t *h, const uint8_t *s, size_t n)
{
    size_t i = 0;
    uint32_t cp, v = *h;
    while (i < n) {
        if (!ref_utf8_next(s, n, &i, &cp)) {
            return false;
        }
        uint32_t units[2] = {cp, 0};
        size_t nu = 1;
        if (cp > 0xffff) {
            units[0] = 0xd800 + ((cp - 0x10000) >> 10);
            units[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
            nu = 2;
        }
        for (size_t k = 0; k < nu; k++) {
            v = (v ^ units[k]) * 0x01000193u;
        }
    }
    *h = v;
    return true;
}

#endif
