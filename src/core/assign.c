/*
 * assign.c - the assignment decision: one experiment, one user, one variant.
 *
 * Owns nothing: it reads an immutable assign_experiment (borrowed from the running
 * snapshot) and fills a caller-owned result. Entered concurrently by every request
 * thread; no globals, no I/O. The order of checks is API.md's (GrowthBook's SDK):
 * forced, not running / released, namespace, targeting, then the hash against the
 * variant ranges (coverage and weights); an archived experiment is decided before all of
 * them (not running, for everyone). Buckets and ranges come from hash.c, so a
 * GrowthBook SDK given the same definition computes the same variant.
 */
#include "bunsen/assign.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/condition.h"
#include "bunsen/util.h"
#include "jsval_int.h"

void assign_experiment_init(struct assign_experiment *x)
{
    memset(x, 0, sizeof(*x));
    x->hash_version = 2;
    x->status = ASSIGN_STATUS_DRAFT;
    x->coverage = 1.0;
    x->released = -1;
}

const char *assign_reason_name(enum assign_reason reason)
{
    switch (reason) {
    case ASSIGN_REASON_HASHED:
        return "hashed";
    case ASSIGN_REASON_FORCED:
        return "forced";
    case ASSIGN_REASON_RELEASED:
        return "released";
    case ASSIGN_REASON_NOT_RUNNING:
        return "not_running";
    case ASSIGN_REASON_NOT_TARGETED:
        return "not_targeted";
    case ASSIGN_REASON_NAMESPACE:
        return "namespace";
    case ASSIGN_REASON_COVERAGE:
        return "coverage";
    }
    return "unknown";
}

static const char *const status_names[] = {"draft", "running", "paused", "stopped", "archived"};

const char *assign_status_name(enum assign_status status)
{
    if ((unsigned)status >= sizeof(status_names) / sizeof(status_names[0])) {
        return "unknown";
    }
    return status_names[status];
}

int assign_status_parse(const char *name, enum assign_status *out, struct err *err)
{
    for (size_t i = 0; name != NULL && i < sizeof(status_names) / sizeof(status_names[0]); i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (enum assign_status)i;
            return 0;
        }
    }
    return err_set(err, ERR_INVALID, "status", "unknown status");
}

/* Set the decision; the variant index is the control unless given. */
static int decide(struct assign_result *out, enum assign_reason reason, int variant,
                  const char *rule)
{
    out->reason = reason;
    out->variant = variant;
    out->in_experiment = reason == ASSIGN_REASON_HASHED;
    out->explain.rule = rule;
    return 0;
}

/* Index of the variant forced for this user, or -1. */
static int forced_variant(const struct assign_experiment *x, const char *user_id, size_t len)
{
    if (x->forced == NULL || !json_is_object(x->forced)) {
        return -1;
    }
    const json_t *v = json_object_getn(x->forced, user_id, len);
    if (!json_is_string(v)) {
        return -1;
    }
    for (size_t i = 0; i < x->nvariants; i++) {
        if (x->variant_keys[i] != NULL && strcmp(x->variant_keys[i], json_string_value(v)) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int check_experiment(const struct assign_experiment *x, struct err *err)
{
    if (x->nvariants == 0 || x->nvariants > ASSIGN_MAX_VARIANTS) {
        return err_set(err, ERR_INVALID, "variants", "an experiment needs 1 to %d variants",
                       ASSIGN_MAX_VARIANTS);
    }
    if (x->forced != NULL && x->variant_keys == NULL) {
        return err_set(err, ERR_INVALID, "variants", "forced users need variant keys");
    }
    if (!hash_version_known(x->hash_version)) {
        return err_set(err, ERR_INVALID, "hash_version", "unknown hash version %d",
                       x->hash_version);
    }
    if (x->released < -1 || x->released >= (int)x->nvariants) {
        return err_set(err, ERR_INVALID, "released_variant", "no variant %d", x->released);
    }
    if (x->seed == NULL && x->key == NULL) {
        return err_set(err, ERR_INVALID, "seed", "an experiment needs a key or a seed");
    }
    return 0;
}

size_t assign_number_text(double d, char out[32])
{
    return jsval_number_to_string(d, out);
}

/* String(v) of a scalar JavaScript prints as text (a number is first the double JavaScript
 * holds: an integer past 2^53 rounds, 9007199254740993 is 9007199254740992; then
 * Number#toString: shortest digits, an exponent below 1e-6 and from 1e21, "1e-7", "1e+21"),
 * into out; its length. null is "" (as Array#join prints it). */
static size_t scalar_text(const json_t *v, char out[32])
{
    if (json_is_integer(v)) {
        /* nearest double, ties to even: as JSON.parse reads it */
        return jsval_number_to_string((double)json_integer_value(v), out);
    }
    if (json_is_real(v)) {
        return jsval_number_to_string(json_real_value(v), out);
    }
    str_copy(out, 32, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "");
    return strlen(out);
}

/* Append String(v) as Array#join prints an element: nested arrays joined the same way,
 * objects "[object Object]". Recursion as deep as v's nesting (attributes are capped). */
static void join_text(struct buf *b, const json_t *v)
{
    if (json_is_string(v)) {
        buf_append(b, json_string_value(v), json_string_length(v));
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0) {
                buf_append(b, ",", 1);
            }
            join_text(b, json_array_get(v, i));
        }
    } else if (json_is_object(v)) {
        buf_append(b, "[object Object]", 15);
    } else {
        char num[32];
        buf_append(b, num, scalar_text(v, num));
    }
}

const char *assign_hash_text(const json_t *v, struct assign_text *t, size_t *len)
{
    if (json_is_string(v)) {
        *len = json_string_length(v);
        return *len > 0 ? json_string_value(v) : NULL;
    }
    if (json_is_object(v)) {
        *len = 15;
        return "[object Object]";
    }
    if (json_is_array(v)) {
        struct buf b;
        buf_init(&b, SIZE_MAX - 1);
        buf_append(&b, "", 0); /* data for [] too */
        join_text(&b, v);
        free(t->heap);
        t->heap = b.data;
        *len = b.len;
        return t->heap;
    }
    if (!json_is_true(v) && !(json_is_number(v) && json_number_value(v) != 0)) {
        return NULL; /* falsy: false, 0, null, absent */
    }
    *len = scalar_text(v, t->buf);
    return t->buf;
}

void assign_text_free(struct assign_text *t)
{
    free(t->heap);
    t->heap = NULL;
}

int assign_decide(const struct assign_experiment *x, const char *user_id, size_t len,
                  const json_t *attributes, struct assign_result *out, struct err *err)
{
    return assign_decide_budget(x, NULL, user_id, len, attributes, NULL, out, err);
}

/* The targeting condition: 1 holds, 0 not, -1 out of budget. */
static int targeted(const struct assign_experiment *x, const struct condition *groups,
                    const json_t *attributes, struct condition_budget *budget);

int assign_targeting_holds(const struct assign_experiment *x, const struct condition *groups,
                           const json_t *attributes, struct condition_budget *budget)
{
    return targeted(x, groups, attributes, budget);
}

static int targeted(const struct assign_experiment *x, const struct condition *groups,
                    const json_t *attributes, struct condition_budget *budget)
{
    if (x->compiled != NULL) {
        return condition_match(x->compiled, attributes, groups, budget);
    }
    if (x->condition == NULL) {
        return 1;
    }
    return condition_eval(x->condition, attributes, condition_groups_object(groups)) ? 1 : 0;
}

/* The decision after the hash value is known (hv[0..hlen)): namespace, targeting, then the
 * bucket against the variant ranges. */
static int decide_hashed(const struct assign_experiment *x, const struct condition *groups,
                         const char *seed, const char *hv, size_t hlen, const json_t *attributes,
                         struct condition_budget *budget, struct assign_result *out,
                         struct err *err)
{
    if (x->ns.name != NULL) {
        double nb;
        if (hash_namespace_bucket(hv, hlen, x->ns.name, strlen(x->ns.name), &nb, err) < 0) {
            return -1;
        }
        out->explain.has_namespace_bucket = true;
        out->explain.namespace_bucket = nb;
        if (!(nb >= x->ns.start && nb < x->ns.end)) {
            return decide(out, ASSIGN_REASON_NAMESPACE, 0,
                          "namespace: namespace bucket outside [start, end)");
        }
    }
    int t = targeted(x, groups, attributes, budget);
    if (t < 0) {
        return err_set(err, ERR_INVALID, "attributes",
                       "evaluating the targeting conditions for these attributes exceeds the "
                       "per-request evaluation budget");
    }
    if (t == 0) {
        return decide(out, ASSIGN_REASON_NOT_TARGETED, 0,
                      "not_targeted: targeting condition is false");
    }
    double b;
    if (hash_bucket(seed, strlen(seed), hv, hlen, x->hash_version, &b, err) < 0) {
        return -1;
    }
    out->has_bucket = true;
    out->bucket = b;
    out->explain.nranges = hash_bucket_ranges((int)x->nvariants, x->coverage, x->weights,
                                              x->weights ? x->nvariants : 0, out->explain.ranges);
    int v = hash_choose_variation(b, out->explain.ranges, out->explain.nranges);
    if (v < 0) {
        return decide(out, ASSIGN_REASON_COVERAGE, 0,
                      "coverage: bucket outside every variant range");
    }
    return decide(out, ASSIGN_REASON_HASHED, v, "hashed: bucket inside the variant's range");
}

/* The decision: forced[0..flen) the forced-list key to look up (NULL: none), id[0..len)
 * the user id's text to hash (NULL: missing, and hashing on it skips the user); groups the
 * saved groups $inGroup reads (assign_decide_budget). */
static int decide_user(const struct assign_experiment *x, const struct condition *groups,
                       const char *forced, size_t flen, const char *id, size_t len,
                       const json_t *attributes, struct condition_budget *budget,
                       struct assign_result *out, struct err *err)
{
    if (check_experiment(x, err) < 0) {
        return -1;
    }
    const char *seed = x->seed != NULL ? x->seed : x->key;
    out->explain.seed = seed;
    out->explain.hash_version = x->hash_version;

    /* an archived experiment serves nothing, to anyone: it is gone from the SDK payload and
     * from OFREP (FLAG_NOT_FOUND), so /assign answers as for one not running, even for the
     * forced users and the released variant a stopped one served */
    if (x->status == ASSIGN_STATUS_ARCHIVED) {
        return decide(out, ASSIGN_REASON_NOT_RUNNING, 0, "not_running: archived");
    }
    int f = forced != NULL ? forced_variant(x, forced, flen) : -1;
    if (f >= 0) {
        return decide(out, ASSIGN_REASON_FORCED, f, "forced: user_id is listed in forced");
    }
    if (x->released >= 0) {
        return decide(out, ASSIGN_REASON_RELEASED, x->released,
                      "released: every user gets the released variant");
    }
    if (x->status != ASSIGN_STATUS_RUNNING) {
        return decide(out, ASSIGN_REASON_NOT_RUNNING, 0, "not_running: status is not running");
    }
    if (x->nvariants < 2) {
        return decide(out, ASSIGN_REASON_NOT_RUNNING, 0, "not_running: fewer than 2 variants");
    }
    /* GrowthBook hashes attributes[hashAttribute] and skips the experiment when it is
     * missing, before the namespace and the condition (its step 6) */
    const char *hv = id;
    size_t hlen = len;
    struct assign_text text = {0};
    if (x->hash_attribute != NULL) {
        hv = assign_hash_text(json_object_get(attributes, x->hash_attribute), &text, &hlen);
        out->explain.hash_attribute = x->hash_attribute;
        if (hv == NULL && x->fallback_attribute != NULL &&
            strcmp(x->fallback_attribute, "id") == 0) {
            /* "id" is the user id, as for hash_attribute (experiment_to_assign) */
            hv = id;
            hlen = len;
            out->explain.hash_attribute = NULL;
        } else if (hv == NULL && x->fallback_attribute != NULL) {
            hv = assign_hash_text(json_object_get(attributes, x->fallback_attribute), &text, &hlen);
            /* explain names the attribute hashed; with neither present, the first */
            out->explain.hash_attribute = hv != NULL ? x->fallback_attribute : x->hash_attribute;
        }
        if (hv == NULL) {
            if (out->explain.hash_attribute == NULL) { /* fell back to a missing id */
                out->explain.hash_attribute = x->hash_attribute;
                out->id_missing = true;
            }
            return decide(out, ASSIGN_REASON_NOT_TARGETED, 0,
                          "not_targeted: the hash attribute is missing");
        }
        if (!utf8_valid(hv, hlen)) {
            assign_text_free(&text);
            return err_set(err, ERR_INVALID, x->hash_attribute,
                           "the hash attribute must be valid UTF-8");
        }
    } else if (hv == NULL) {
        out->id_missing = true;
        return decide(out, ASSIGN_REASON_NOT_TARGETED, 0, "not_targeted: the user id is missing");
    }
    int rc = decide_hashed(x, groups, seed, hv, hlen, attributes, budget, out, err);
    assign_text_free(&text);
    return rc;
}

int assign_decide_budget(const struct assign_experiment *x, const struct condition *groups,
                         const char *user_id, size_t len, const json_t *attributes,
                         struct condition_budget *budget, struct assign_result *out,
                         struct err *err)
{
    memset(out, 0, sizeof(*out));
    out->bucket = -1;
    if (len == 0 || !utf8_valid(user_id, len)) {
        return err_set(err, ERR_INVALID, "user_id", "user_id must be non-empty valid UTF-8");
    }
    return decide_user(x, groups, user_id, len, user_id, len, attributes, budget, out, err);
}

int assign_decide_sdk(const struct assign_experiment *x, const struct condition *groups,
                      const char *forced, const char *id, size_t len, const json_t *attributes,
                      struct condition_budget *budget, struct assign_result *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    out->bucket = -1;
    if (id != NULL && !utf8_valid(id, len)) {
        return err_set(err, ERR_INVALID, "attributes", "attributes.id must be valid UTF-8");
    }
    return decide_user(x, groups, forced, forced != NULL ? strlen(forced) : 0, id, len, attributes,
                       budget, out, err);
}
