/*
 * fuzz_assign.c - libFuzzer target for the hashing and assignment core (hash.h,
 * assign.h): assign_decide() with fuzzed user ids (any bytes: invalid UTF-8, overlongs,
 * surrogates, NULs) and fuzzed experiment shapes, plus hash_bucket() and
 * hash_namespace_bucket() against a reference FNV-1a over UTF-16 written from API.md.
 *
 * Input layout (short inputs fall back to zeros):
 *   [0] flags: bits 0-1 hash version (1, 2, 2, 3 = unknown), bits 2-4 status (mod 5),
 *       bit 5 namespace, bit 6 targeting, bit 7 forced (the user id itself is forced)
 *   [1] number of variants, mod 22 (0 and 21 are invalid)
 *   [2] coverage: n / 250 (up to 1.02), 0xfe = -0.5, 0xff = NaN
 *   [3] released variant: (n mod (variants + 2)) - 1, so -1 .. variants (invalid)
 *   [4] weights: 0 none (equal), 1 = from the next 8 * variants bytes as raw doubles
 *       (NaN and infinities included), 2 = valid ragged weights, other = equal
 *   [5] seed length (bytes of the rest)
 *   then the seed, then the user id (all remaining bytes).
 * Checked: the result is in range and self-consistent (reason vs in_experiment, the
 * bucket lies in the chosen variant's range, forced/released variants), the bucket equals
 * hash_bucket() and the reference, refusals name the documented field, and user ids are
 * refused exactly when empty or not well-formed UTF-8.
 */
#include <math.h>

#include "bunsen/assign.h"
#include "bunsen/hash.h"
#include "bunsen/util.h"
#include "fuzz_common.h"

static json_t *condition, *attrs_match;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1);
    condition =
        json_loads("{\"country\":{\"$in\":[\"NL\",\"BE\"]},\"age\":{\"$gte\":18}}", 0, NULL);
    attrs_match = json_loads("{\"country\":\"NL\",\"age\":30}", 0, NULL);
    FUZZ_CHECK(condition != NULL && attrs_match != NULL, "fixtures");
    return 0;
}

struct reader {
    const uint8_t *p;
    size_t n;
};

static uint8_t take_byte(struct reader *r)
{
    if (r->n == 0) {
        return 0;
    }
    r->n--;
    return *r->p++;
}

/* Reference GrowthBook hash (API.md "Hashing"); false on malformed UTF-8. */
static bool ref_bucket(const uint8_t *seed, size_t sn, const uint8_t *v, size_t vn, int version,
                       double *out)
{
    uint32_t h = 0x811c9dc5u;
    if (version == 2) {
        if (!ref_fnv1a32(&h, seed, sn) || !ref_fnv1a32(&h, v, vn)) {
            return false;
        }
        char dec[16];
        int len = snprintf(dec, sizeof(dec), "%u", (unsigned)h);
        uint32_t h2 = 0x811c9dc5u;
        FUZZ_CHECK(ref_fnv1a32(&h2, (const uint8_t *)dec, (size_t)len), "digits");
        *out = (double)(h2 % 10000u) / 10000.0;
        return true;
    }
    if (!ref_fnv1a32(&h, v, vn) || !ref_fnv1a32(&h, seed, sn)) {
        return false;
    }
    *out = (double)(h % 1000u) / 1000.0;
    return true;
}

static void check_hashes(const uint8_t *seed, size_t sn, const uint8_t *uid, size_t un)
{
    for (int version = 0; version <= 3; version++) {
        double b = 0, ref = 0;
        struct err err;
        err_clear(&err);
        int rc = hash_bucket((const char *)seed, sn, (const char *)uid, un, version, &b, &err);
        bool ok = (version == 1 || version == 2) && ref_bucket(seed, sn, uid, un, version, &ref);
        FUZZ_CHECK((rc == 0) == ok, "hash_bucket v%d rc %d, reference %d", version, rc, ok);
        if (rc == 0) {
            FUZZ_CHECK(b == ref && b >= 0 && b < 1, "hash_bucket v%d %.17g, reference %.17g",
                       version, b, ref);
        } else {
            FUZZ_CHECK(b == -1 && err.code == ERR_INVALID, "hash_bucket error");
        }
    }
    uint32_t h = 0, rh = HASH_FNV1A32_BASIS;
    int rc = hash_fnv1a32((const char *)uid, un, &h);
    bool ok = ref_fnv1a32(&rh, uid, un);
    FUZZ_CHECK((rc == 0) == ok && (rc != 0 || h == rh), "hash_fnv1a32 %08x, reference %08x", h, rh);
    FUZZ_CHECK(utf8_valid((const char *)uid, un) == ok, "utf8_valid disagrees with reference");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader in = {data, size};
    uint8_t flags = take_byte(&in);
    size_t nvariants = take_byte(&in) % 22;
    uint8_t cov = take_byte(&in);
    uint8_t rel = take_byte(&in);
    uint8_t wmode = take_byte(&in);
    static const char *const keys[21] = {"v0",  "v1",  "v2",  "v3",  "v4",  "v5",  "v6",
                                         "v7",  "v8",  "v9",  "v10", "v11", "v12", "v13",
                                         "v14", "v15", "v16", "v17", "v18", "v19", "v20"};
    double weights[21];
    const double *wp = NULL;
    if (wmode == 1) {
        for (size_t i = 0; i < nvariants; i++) {
            uint8_t raw[8] = {0};
            for (size_t k = 0; k < 8; k++) {
                raw[k] = take_byte(&in);
            }
            memcpy(&weights[i], raw, sizeof(double));
        }
        wp = weights;
    } else if (wmode == 2 && nvariants > 0) {
        double left = 1.0;
        for (size_t i = 0; i + 1 < nvariants; i++) {
            weights[i] = left * (double)(take_byte(&in) % 100) / 100.0;
            left -= weights[i];
        }
        weights[nvariants - 1] = left;
        wp = weights;
    }
    size_t seed_len = take_byte(&in);
    seed_len = seed_len < in.n ? seed_len : in.n;
    char *seed = fuzz_cstring(in.p, seed_len); /* assign_decide takes seeds as C strings */
    in.p += seed_len;
    in.n -= seed_len;
    const char *uid = (const char *)in.p;
    size_t ulen = in.n;

    check_hashes(in.p - seed_len, seed_len, in.p, ulen);

    struct assign_experiment x;
    assign_experiment_init(&x);
    static const int versions[4] = {1, 2, 2, 3};
    x.key = "fuzz-exp";
    x.seed = (flags & 0x18) == 0x18 ? NULL : seed; /* sometimes the key is the seed */
    x.hash_version = versions[flags & 3];
    x.status = (enum assign_status)(((flags >> 2) & 7) % 5);
    x.nvariants = nvariants;
    x.variant_keys = keys;
    x.weights = wp;
    x.coverage = cov == 0xff ? NAN : cov == 0xfe ? -0.5 : (double)cov / 250.0;
    x.released = (int)(rel % (nvariants + 2)) - 1;
    static const char *const namespaces[4] = {"checkout", "", "\xc3\x28", "ns-\xc3\xa9"};
    if (flags & 0x20) {
        x.ns.name = namespaces[rel & 3];
        x.ns.start = (double)(cov % 10) / 10.0;
        x.ns.end = x.ns.start + 0.5;
    }
    json_t *forced = NULL;
    if (flags & 0x40) {
        x.condition = condition;
    }
    if ((flags & 0x80) && nvariants > 0) {
        forced = json_object();
        /* refused by jansson when the id is not UTF-8: then nobody is forced */
        (void)json_object_setn_new(forced, uid, ulen, json_string(keys[rel % nvariants]));
        x.forced = forced;
    }
    const json_t *attrs = (cov & 1) ? attrs_match : NULL;

    struct assign_result r;
    struct err err;
    err_clear(&err);
    int rc = assign_decide(&x, uid, ulen, attrs, &r, &err);
    bool uid_ok = ulen > 0 && ref_utf8_valid(in.p, ulen);
    if (!uid_ok) {
        FUZZ_CHECK(rc != 0 && strcmp(err.field, "user_id") == 0, "bad user id accepted");
    } else if (rc != 0) {
        static const char *const fields[] = {"variants", "hash_version", "released_variant", "seed",
                                             "namespace"};
        bool known = false;
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            known = known || strcmp(err.field, fields[i]) == 0;
        }
        FUZZ_CHECK(known && err.code == ERR_INVALID, "undocumented refusal '%s'", err.field);
        FUZZ_CHECK(nvariants == 0 || nvariants > ASSIGN_MAX_VARIANTS || x.hash_version == 3 ||
                       x.released >= (int)nvariants ||
                       (x.seed != NULL && !ref_utf8_valid((uint8_t *)seed, strlen(seed))) ||
                       (x.ns.name != NULL && !utf8_valid(x.ns.name, strlen(x.ns.name))),
                   "valid experiment refused: %s: %s", err.field, err.msg);
    } else {
        FUZZ_CHECK(nvariants >= 1 && nvariants <= ASSIGN_MAX_VARIANTS, "nvariants accepted");
        FUZZ_CHECK(r.variant >= 0 && r.variant < (int)nvariants, "variant %d", r.variant);
        FUZZ_CHECK(r.in_experiment == (r.reason == ASSIGN_REASON_HASHED), "in_experiment");
        FUZZ_CHECK(r.explain.rule != NULL, "no rule");
        FUZZ_CHECK(strcmp(assign_reason_name(r.reason), "unknown") != 0, "reason %d",
                   (int)r.reason);
        if (r.reason == ASSIGN_REASON_RELEASED) {
            FUZZ_CHECK(r.variant == x.released, "released variant");
        }
        if (r.reason == ASSIGN_REASON_FORCED) {
            FUZZ_CHECK(forced != NULL && json_object_getn(forced, uid, ulen) != NULL,
                       "forced without an entry");
        }
        if (r.has_bucket) {
            const char *s = x.seed ? x.seed : x.key;
            double b;
            FUZZ_CHECK(hash_bucket(s, strlen(s), uid, ulen, x.hash_version, &b, NULL) == 0 &&
                           b == r.bucket && b >= 0 && b < 1,
                       "bucket %.17g", r.bucket);
            FUZZ_CHECK(r.explain.nranges == nvariants, "ranges");
        } else {
            FUZZ_CHECK(r.bucket == -1, "bucket without a hash");
        }
        if (r.reason == ASSIGN_REASON_HASHED) {
            FUZZ_CHECK(hash_in_range(r.bucket, &r.explain.ranges[r.variant]),
                       "bucket %.17g outside its range [%.17g, %.17g)", r.bucket,
                       r.explain.ranges[r.variant].start, r.explain.ranges[r.variant].end);
            FUZZ_CHECK(x.status == ASSIGN_STATUS_RUNNING, "hashed while not running");
        }
        if (r.reason == ASSIGN_REASON_NAMESPACE) {
            FUZZ_CHECK(r.explain.has_namespace_bucket &&
                           !(r.explain.namespace_bucket >= x.ns.start &&
                             r.explain.namespace_bucket < x.ns.end),
                       "namespace");
        }
    }
    json_decref(forced);
    free(seed);
    return 0;
}
