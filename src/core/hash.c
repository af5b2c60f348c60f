/*
 * hash.c - GrowthBook-compatible FNV-1a hashing, buckets and bucket ranges.
 *
 * Owns nothing: every function is pure (no I/O, no globals, no allocation) and is
 * entered concurrently by every request thread. The reference is the GrowthBook
 * JavaScript SDK (packages/sdk-js/src/util.ts), whose strings are UTF-16: we decode
 * UTF-8 on the fly and feed the same code units, so buckets match bit for bit.
 */
#include "bunsen/hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define FNV1A32_PRIME 0x01000193u

/* Decode one code point from s[*i..n), advancing *i. Returns the code point, or -1
 * for invalid UTF-8 (the same rules as utf8_valid() in util.c). */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
    unsigned char c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    size_t len;
    uint32_t cp;
    uint32_t min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1fu;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0fu;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07u;
        min = 0x10000;
    } else {
        return -1;
    }
    if (n - *i < len) {
        return -1;
    }
    for (size_t k = 1; k < len; k++) {
        unsigned char cc = s[*i + k];
        if ((cc & 0xc0) != 0x80) {
            return -1;
        }
        cp = (cp << 6) | (cc & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return -1;
    }
    *i += len;
    return (int32_t)cp;
}

static uint32_t fnv_unit(uint32_t h, uint32_t unit)
{
    h ^= unit;
    return h * FNV1A32_PRIME; /* unsigned: wraps mod 2^32 */
}

int hash_fnv1a32_update(uint32_t *h, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t v = *h;
    size_t i = 0;
    while (i < n) {
        int32_t cp = utf8_next(u, n, &i);
        if (cp < 0) {
            return -1;
        }
        if (cp >= 0x10000) {
            uint32_t c = (uint32_t)cp - 0x10000u;
            v = fnv_unit(v, 0xd800u + (c >> 10));
            v = fnv_unit(v, 0xdc00u + (c & 0x3ffu));
        } else {
            v = fnv_unit(v, (uint32_t)cp);
        }
    }
    *h = v;
    return 0;
}

int hash_fnv1a32(const char *s, size_t n, uint32_t *out)
{
    uint32_t h = HASH_FNV1A32_BASIS;
    if (hash_fnv1a32_update(&h, s, n) < 0) {
        return -1;
    }
    *out = h;
    return 0;
}

bool hash_version_known(int version)
{
    return version == 1 || version == 2;
}

int hash_bucket(const char *seed, size_t seed_len, const char *value, size_t value_len, int version,
                double *bucket, struct err *err)
{
    uint32_t h = HASH_FNV1A32_BASIS;
    *bucket = -1.0;
    if (!hash_version_known(version)) {
        return err_set(err, ERR_INVALID, "hash_version", "unknown hash version %d", version);
    }
    /* version 2 hashes seed + value, version 1 value + seed */
    const char *first = version == 2 ? seed : value;
    size_t first_len = version == 2 ? seed_len : value_len;
    const char *second = version == 2 ? value : seed;
    size_t second_len = version == 2 ? value_len : seed_len;
    if (hash_fnv1a32_update(&h, first, first_len) < 0) {
        return err_set(err, ERR_INVALID, version == 2 ? "seed" : "value", "not valid UTF-8");
    }
    if (hash_fnv1a32_update(&h, second, second_len) < 0) {
        return err_set(err, ERR_INVALID, version == 2 ? "value" : "seed", "not valid UTF-8");
    }
    if (version == 1) {
        *bucket = (double)(h % 1000u) / 1000.0;
        return 0;
    }
    char dec[16]; /* h in decimal, written from the end (snprintf cost more than the hashes) */
    size_t at = sizeof(dec);
    do {
        dec[--at] = (char)('0' + h % 10u);
        h /= 10u;
    } while (h != 0);
    uint32_t h2 = HASH_FNV1A32_BASIS;
    (void)hash_fnv1a32_update(&h2, dec + at, sizeof(dec) - at); /* ASCII digits: cannot fail */
    *bucket = (double)(h2 % 10000u) / 10000.0;
    return 0;
}

int hash_namespace_bucket(const char *value, size_t value_len, const char *name, size_t name_len,
                          double *bucket, struct err *err)
{
    /* hash("__" + name, value, 1) = fnv(value + "__" + name) % 1000 / 1000 */
    uint32_t h = HASH_FNV1A32_BASIS;
    *bucket = -1.0;
    if (hash_fnv1a32_update(&h, value, value_len) < 0) {
        return err_set(err, ERR_INVALID, "value", "not valid UTF-8");
    }
    (void)hash_fnv1a32_update(&h, "__", 2);
    if (hash_fnv1a32_update(&h, name, name_len) < 0) {
        return err_set(err, ERR_INVALID, "namespace", "not valid UTF-8");
    }
    *bucket = (double)(h % 1000u) / 1000.0;
    return 0;
}

bool hash_in_namespace(const char *value, size_t value_len, const char *name, double start,
                       double end)
{
    double b;
    if (hash_namespace_bucket(value, value_len, name, strlen(name), &b, NULL) < 0) {
        return false;
    }
    return b >= start && b < end;
}

size_t hash_equal_weights(int n, double *out)
{
    if (n <= 0) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        out[i] = 1.0 / (double)n;
    }
    return (size_t)n;
}

size_t hash_bucket_ranges(int n, double coverage, const double *weights, size_t nweights,
                          struct hash_range *ranges)
{
    if (n <= 0) {
        return 0;
    }
    if (coverage < 0) {
        coverage = 0;
    } else if (coverage > 1) {
        coverage = 1;
    }
    bool equal = weights == NULL || nweights != (size_t)n;
    if (!equal) {
        double total = 0;
        for (size_t i = 0; i < nweights; i++) {
            total += weights[i];
        }
        /* as the SDK: NaN passes this test and poisons the ranges */
        if (total < 0.99 || total > 1.01) {
            equal = true;
        }
    }
    double cumulative = 0;
    for (int i = 0; i < n; i++) {
        double w = equal ? 1.0 / (double)n : weights[i];
        double start = cumulative;
        cumulative += w;
        ranges[i].start = start;
        ranges[i].end = start + coverage * w;
    }
    return (size_t)n;
}

bool hash_in_range(double bucket, const struct hash_range *range)
{
    return bucket >= range->start && bucket < range->end;
}

int hash_choose_variation(double bucket, const struct hash_range *ranges, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (hash_in_range(bucket, &ranges[i])) {
            return (int)i;
        }
    }
    return -1;
}
