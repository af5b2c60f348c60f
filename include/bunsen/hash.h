/*
 * hash.h - GrowthBook-compatible hashing and bucket ranges (API.md "Hashing").
 *
 * Pure functions: no I/O, no globals, no allocation; thread-safe and reentrant.
 * Strings are UTF-8 with an explicit length; they are hashed as the UTF-16 code
 * units JavaScript would see (code points above U+FFFF become surrogate pairs),
 * so that every bucket equals the GrowthBook JavaScript SDK's for the same input.
 * Invalid UTF-8 is refused (-1 / false), never hashed.
 *
 * Floating point: ranges are computed in plain IEEE double arithmetic in the
 * SDK's order; the build uses -ffp-contract=off so no FMA changes an edge.
 */
#ifndef BUNSEN_HASH_H
#define BUNSEN_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bunsen/err.h"

/* FNV-1a 32-bit offset basis, the starting value of every hash. */
#define HASH_FNV1A32_BASIS 0x811c9dc5u

/* A half-open bucket range [start, end). */
struct hash_range {
    double start;
    double end;
};

/* Continue an FNV-1a 32 hash over the UTF-16 code units of s[0..n).
 * h: running hash, HASH_FNV1A32_BASIS for a fresh one; updated only on success.
 * Feeding "ab" then "cd" equals feeding "abcd" (the JS `seed + value` concatenation).
 * Returns 0, or -1 when s is not valid UTF-8 (overlong, surrogate, > U+10FFFF,
 * truncated). Thread-safe. */
int hash_fnv1a32_update(uint32_t *h, const char *s, size_t n);

/* FNV-1a 32 of s[0..n) as UTF-16 code units into *out. 0, or -1 on invalid UTF-8. A test
 * hook (test_hash, fuzz_assign): the daemon hashes through hash_fnv1a32_update. */
int hash_fnv1a32(const char *s, size_t n, uint32_t *out);

/* True for the hash versions this module implements (1 and 2). */
bool hash_version_known(int version);

/* GrowthBook hash(seed, value, version): a bucket in [0, 1).
 *   version 2: (fnv1a32(decimal(fnv1a32(seed + value))) % 10000) / 10000
 *   version 1: (fnv1a32(value + seed) % 1000) / 1000
 * On success returns 0 and sets *bucket. On error sets *bucket to -1 (never NaN),
 * fills err (may be NULL) with ERR_INVALID and field "hash_version" (unknown version),
 * "seed" or "value" (invalid UTF-8), and returns -1. Thread-safe. */
int hash_bucket(const char *seed, size_t seed_len, const char *value, size_t value_len, int version,
                double *bucket, struct err *err);

/* Namespace bucket of value for namespace `name`: hash("__" + name, value, 1).
 * Same returns and errors as hash_bucket (field "namespace" for a bad name). */
int hash_namespace_bucket(const char *value, size_t value_len, const char *name, size_t name_len,
                          double *bucket, struct err *err);

/* GrowthBook inNamespace: true when the namespace bucket of value lies in
 * [start, end). False on invalid UTF-8 in value or name (NUL-terminated). A test hook
 * (test_hash, against GrowthBook's cases): the daemon does not call it. */
bool hash_in_namespace(const char *value, size_t value_len, const char *name, double start,
                       double end);

/* GrowthBook getEqualWeights: writes n weights of 1/n into out (room for n) and
 * returns n; returns 0 and writes nothing when n <= 0. */
size_t hash_equal_weights(int n, double *out);

/* GrowthBook getBucketRanges: the range of each of n variations.
 * coverage: clamped to [0, 1] (NaN is passed through as JavaScript would).
 * weights: nweights entries, or NULL; when NULL, when nweights != n, or when they do
 *   not sum to 1 within 0.01, equal weights are used instead (the SDK's fallbacks).
 * ranges: room for n entries; variation i gets [W_i, W_i + coverage * w_i) where
 *   W_i = w_0 + ... + w_{i-1}, summed left to right in double precision.
 * Returns the number of ranges written (n, or 0 when n <= 0). Thread-safe. */
size_t hash_bucket_ranges(int n, double coverage, const double *weights, size_t nweights,
                          struct hash_range *ranges);

/* True when start <= bucket < end. */
bool hash_in_range(double bucket, const struct hash_range *range);

/* GrowthBook chooseVariation: index of the first of the n ranges that holds bucket
 * (half-open), or -1 when none does. */
int hash_choose_variation(double bucket, const struct hash_range *ranges, size_t n);

#endif
