/*
 * assign.h - the assignment decision for one experiment and one user.
 *
 * Pure: no I/O, no globals, no allocation beyond transient condition scratch;
 * thread-safe and reentrant. An assign_experiment is the hot-path, immutable form
 * of an experiment (built once per snapshot by whoever owns the snapshot) and only
 * borrows its strings and json_t trees: the snapshot must outlive every call.
 *
 * Lifecycle of the experiment status (transitions performed by the experiments
 * API, not here; assign_decide() only reads the status):
 *
 *   draft --start--> running --pause--> paused --resume--> running
 *                    running|paused --stop [release]--> stopped
 *   draft|stopped --archive--> archived
 *
 * Order of checks (API.md "Hashing", as GrowthBook's SDK):
 *   forced user -> released variant / not running -> namespace -> targeting
 *   -> hash (coverage and weights).
 * Before them, archived: not running for everyone (forced users and a released variant
 * included), as it is absent from the SDK payload and OFREP's flags. A forced user of a
 * draft, paused or stopped experiment gets the forced variant (QA before the start).
 */
#ifndef BUNSEN_ASSIGN_H
#define BUNSEN_ASSIGN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "bunsen/condition.h"
#include "bunsen/err.h"
#include "bunsen/hash.h"

/* API.md allows 2 to 20 variants. */
#define ASSIGN_MAX_VARIANTS 20

enum assign_status {
    ASSIGN_STATUS_DRAFT,
    ASSIGN_STATUS_RUNNING,
    ASSIGN_STATUS_PAUSED,
    ASSIGN_STATUS_STOPPED,
    ASSIGN_STATUS_ARCHIVED,
};

enum assign_reason {
    ASSIGN_REASON_HASHED,       /* in the experiment: the bucket fell in a variant range */
    ASSIGN_REASON_FORCED,       /* user listed in `forced` (QA): not in the experiment */
    ASSIGN_REASON_RELEASED,     /* stopped with a released variant: everyone gets it */
    ASSIGN_REASON_NOT_RUNNING,  /* draft, paused, stopped without a release, or archived
                                 * (or < 2 variants) */
    ASSIGN_REASON_NOT_TARGETED, /* the targeting condition is false */
    ASSIGN_REASON_NAMESPACE,    /* outside the experiment's namespace range */
    ASSIGN_REASON_COVERAGE,     /* the bucket fell outside every variant range */
};

/* Optional namespace: the user takes part iff its namespace bucket is in [start, end). */
struct assign_namespace {
    const char *name; /* NULL: no namespace */
    double start;
    double end;
};

struct assign_experiment {
    const char *key;  /* experiment key */
    const char *seed; /* hash seed; NULL means key */
    int hash_version; /* 1 or 2 */
    enum assign_status status;
    size_t nvariants;                /* 1..ASSIGN_MAX_VARIANTS, [0] is the control */
    const char *const *variant_keys; /* nvariants keys; may be NULL when forced is NULL */
    const double *weights;           /* nvariants weights, or NULL for equal weights; weights
                                      * off 1 by more than 0.01 fall back to equal (SDK) */
    double coverage;                 /* share of the namespace that enters, [0, 1] */
    struct assign_namespace ns;
    const json_t *condition;          /* targeting condition (borrowed), NULL: everyone */
    const struct condition *compiled; /* condition compiled (borrowed), or NULL: evaluate
                                       * `condition` as it is */
    const json_t *forced;             /* object user_id -> variant key (borrowed), or NULL */
    int released;                     /* released variant index, or -1 */
    /* the attribute whose value is hashed (GrowthBook's hashAttribute), NULL: user_id; and the
     * one used when it is absent (fallbackAttribute), NULL: none; "id" as the fallback is the
     * user id too. A user with neither is not in the experiment (reason not_targeted), as the
     * SDK skips a missing hash attribute. */
    const char *hash_attribute;
    const char *fallback_attribute;
};

/* How the decision was reached, for explain output and debugging. */
struct assign_explain {
    const char *seed; /* the seed used (borrowed from the experiment) */
    int hash_version; /* 1 or 2 */
    /* the attribute whose value was hashed (borrowed from the experiment): its
     * hash_attribute, or its fallback_attribute when the first is missing; NULL: user_id */
    const char *hash_attribute;
    bool has_namespace_bucket;
    double namespace_bucket; /* hash("__" + ns.name, user_id, 1) when computed */
    size_t nranges;          /* ranges[] filled when the bucket was computed */
    struct hash_range ranges[ASSIGN_MAX_VARIANTS];
    const char *rule; /* static text naming the rule that decided */
};

struct assign_result {
    int variant;        /* index into the experiment's variants; 0 unless decided */
    bool in_experiment; /* true only for ASSIGN_REASON_HASHED */
    enum assign_reason reason;
    bool has_bucket; /* a hash was computed: hashed or coverage (the SDK's hashUsed
                      * is true for hashed only) */
    double bucket;   /* in [0, 1) when has_bucket, else -1 */
    struct assign_explain explain;
    bool id_missing; /* not_targeted because the user id it was to hash on (the hash
                      * attribute "id", or the fallback "id") was missing: only
                      * assign_decide_sdk without an id */
};

/* Fill x with defaults: hash_version 2, status draft, coverage 1, no namespace,
 * no condition, no forced users, released -1; the caller sets key and variants. */
void assign_experiment_init(struct assign_experiment *x);

/* Decide the variant of user_id[0..len) in experiment x.
 * x: borrowed, unchanged. attributes: borrowed object for targeting (NULL as {}).
 * out: filled on success. When not in the experiment the variant is the control
 * (0), or the forced or released variant. A forced entry that is not a string naming
 * one of the variant keys is ignored.
 * Returns 0, or -1 with err (may be NULL) set to ERR_INVALID and field "user_id"
 * (empty or invalid UTF-8), "variants" (nvariants 0 or above ASSIGN_MAX_VARIANTS,
 * or variant_keys missing while forced is set), "hash_version", "released_variant",
 * "seed" or "namespace" (invalid UTF-8). Thread-safe. */
/* Where assign_hash_text puts a text that is not v's own string: a scalar's in buf, an
 * array's in heap (malloc'd, of any length). Zero it before use ({0}); assign_text_free
 * gives heap back. */
struct assign_text {
    char buf[32]; /* a number's or true's text */
    char *heap;   /* an array's text (malloc'd), NULL when none */
};

/* The text GrowthBook's JavaScript SDK hashes for an attribute value (`seed + value`, so
 * JavaScript's String(value)); NULL when the SDK treats it as missing (falsy: "", 0, false,
 * null, absent). Numbers as String() of the double the value is: integers past 2^53 rounded
 * to it, shortest digits, the exponent form below 1e-6 and from 1e21. Arrays and objects are
 * truthy, even empty: an object is "[object Object]", an array its elements' texts joined
 * with "," (Array#join: null as "", false "false", 0 "0", a nested array the same way), so []
 * and [null] are "". A string is returned as it is (borrowed from v), a scalar's text in
 * t->buf, an array's in t->heap (its length bounded only by v's). *len receives the length.
 * Thread-safe. */
const char *assign_hash_text(const json_t *v, struct assign_text *t, size_t *len);
/* Free t->heap (and set it NULL). */
void assign_text_free(struct assign_text *t);
/* JavaScript's Number#toString of d (String(d)): the shortest digits that read back as d,
 * the exponent form below 1e-6 and from 1e21 ("1e-7", "1e+21"), -0 as "0". Into out (NUL
 * ended); its length. The one text of a number wherever Bunsen turns one into text that a
 * JavaScript SDK would compare (hashing, dimension values). Thread-safe. */
size_t assign_number_text(double d, char out[32]);

/* assign_decide_budget without saved groups or budget. A test hook (unit and fuzz tests): the
 * daemon decides through assign_decide_budget and assign_decide_sdk. */
int assign_decide(const struct assign_experiment *x, const char *user_id, size_t len,
                  const json_t *attributes, struct assign_result *out, struct err *err);

/* assign_decide, with the saved groups that $inGroup / $notInGroup read (compiled by
 * condition_compile_groups, borrowed; NULL: none) and charging the targeting evaluation to
 * budget (NULL = unlimited; shared by every experiment decided for one request). The groups
 * are not part of x: the snapshots that share an experiment's definition each pass their own
 * (snapshot.h). When the budget runs out: -1 with ERR_INVALID, field "attributes". */
struct condition_budget;
int assign_decide_budget(const struct assign_experiment *x, const struct condition *groups,
                         const char *user_id, size_t len, const json_t *attributes,
                         struct condition_budget *budget, struct assign_result *out,
                         struct err *err);
/* As assign_decide_budget for a user known by its attributes alone, as GrowthBook's SDK
 * evaluates the payload locally (remote evaluation, POST /api/eval): id[0..len) is the text
 * the SDK hashes for attributes.id (assign_hash_text: "" for an empty array, which is
 * hashed), NULL when that is missing or falsy (then an experiment hashed on the id, or on a
 * missing hash attribute with the fallback "id", leaves the user out: not_targeted).
 * forced, when not NULL, is the key of x->forced the payload's force rules match for the
 * user (NUL-terminated; the caller finds it: the SDK compares strictly and intersects
 * arrays). -1 with err as assign_decide_budget, "attributes" for an id that is not UTF-8. */
int assign_decide_sdk(const struct assign_experiment *x, const struct condition *groups,
                      const char *forced, const char *id, size_t len, const json_t *attributes,
                      struct condition_budget *budget, struct assign_result *out, struct err *err);

/* Does x's targeting condition hold for attributes (saved groups and budget as
 * assign_decide_budget)? 1 holds (also without targeting), 0 not, -1 out of budget. Lets a
 * caller without a user id tell a user outside the targeted population (who needs none) from
 * one whom only the missing id keeps out. Thread-safe. */
int assign_targeting_holds(const struct assign_experiment *x, const struct condition *groups,
                           const json_t *attributes, struct condition_budget *budget);

/* API.md reason string: "hashed", "forced", "released", "not_running",
 * "not_targeted", "namespace", "coverage"; "unknown" out of range. */
const char *assign_reason_name(enum assign_reason reason);

/* API.md status string: "draft", "running", "paused", "stopped", "archived". */
const char *assign_status_name(enum assign_status status);

/* Parse an API.md status string into *out. 0, or -1 (err field "status"). */
int assign_status_parse(const char *name, enum assign_status *out, struct err *err);

#endif
