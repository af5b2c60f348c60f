/*
 * ecosystem.c - speaking other tools' protocols so services need no Bunsen SDK:
 *
 *   GET  /api/features/{sdk_key}          GrowthBook SDK payload {"features": {...}}
 *   POST /ofrep/v1/evaluate/flags/{key}   OpenFeature Remote Evaluation Protocol, one flag
 *   POST /ofrep/v1/evaluate/flags         OFREP bulk evaluation
 *   OPTIONS on those paths                CORS preflight for browser SDKs
 *
 * Both read the same snapshot as /assign, so a GrowthBook SDK evaluating the payload
 * locally and an OFREP provider get the answers /assign gives. OFREP evaluations log
 * exposures as /assign does, but the answer never waits for the commit: the exposures are
 * queued beside it ("OFREP" below). The GrowthBook payload is rendered and cached by
 * payload.c; this file holds its handler and the strong ETag both use (api_strong_etag,
 * SHA-256 of the body; If-None-Match with the same tag gets 304).
 */
#include <sodium.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/auth.h"
#include "bunsen/jsonw.h"
#include "bunsen/saved_group.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"

void api_strong_etag(const char *scope, const char *text, size_t len, char out[40])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    if (scope != NULL) {
        crypto_hash_sha256_update(&st, (const unsigned char *)scope, strlen(scope) + 1);
    }
    crypto_hash_sha256_update(&st, (const unsigned char *)text, len);
    crypto_hash_sha256_final(&st, h);
    out[0] = '"';
    sodium_bin2hex(out + 1, 33, h, 16);
    out[33] = '"';
    out[34] = '\0';
}

static void payload_release(void *p)
{
    api_payload_release(p);
}

/* Reply 304 when If-None-Match carries the payload's tag, else 200 with its text (not
 * copied: the reply holds the reference taken from p). */
static void reply_payload(struct http_req *r, const struct api_payload *p)
{
    const char *inm = http_req_header(r, "If-None-Match");
    if (inm != NULL && (strstr(inm, p->tag) != NULL || strcmp(inm, "*") == 0)) {
        http_reply_not_modified(r, p->len);
        http_reply_header(r, "ETag", p->tag);
        api_payload_release(p);
    } else {
        char tag[sizeof(p->tag)];
        memcpy(tag, p->tag, sizeof(tag)); /* p may be gone once the reply holds it */
        http_reply_shared(r, 200, "application/json; charset=utf-8", p->text, p->len,
                          payload_release, (void *)(uintptr_t)p);
        http_reply_header(r, "ETag", tag);
    }
    http_reply_revalidate(r);
}

void api_cors_preflight(struct http_req *r)
{
    http_reply_empty(r, 204);
    /* the methods the route table has for this path (rev-diff27b 6, rev-diff27c 2: OFREP's
     * bulk route takes only POST, the payload only GET) */
    const char *path = http_req_path(r);
    char *scratch = xmalloc(strlen(path) + 1);
    struct http_param params[HTTP_MAX_PARAMS];
    int nparams = 0;
    bool matched = false;
    unsigned allowed = 0;
    http_route_match(http_routes, http_routes_count, 0, path, scratch, params, &nparams, &matched,
                     &allowed);
    free(scratch);
    char methods[32];
    snprintf(methods, sizeof(methods), "%s%sOPTIONS", (allowed & HTTP_GET) ? "GET, " : "",
             (allowed & HTTP_POST) ? "POST, " : "");
    http_reply_header(r, "Access-Control-Allow-Methods", methods);
    http_reply_header(r, "Access-Control-Allow-Headers",
                      "Authorization, Content-Type, If-None-Match, X-API-Key");
    http_reply_header(r, "Access-Control-Max-Age", "86400");
}

/* ---- GrowthBook SDK payload ---- */

/* Force rules for forced users, grouped by variant, evaluated before the experiment. */
static void add_forced_rules(json_t *rules, const struct experiment *x)
{
    if (x->forced == NULL) {
        return;
    }
    for (size_t v = 0; v < x->nvariants; v++) {
        json_t *ids = json_array();
        const char *user;
        json_t *val;
        json_object_foreach(x->forced, user, val)
        {
            if (strcmp(json_string_value(val), x->variants[v].key) == 0) {
                json_array_append_new(ids, json_string(user));
            }
        }
        if (json_array_size(ids) == 0) {
            json_decref(ids);
            continue;
        }
        json_array_append_new(rules, json_pack("{s:s, s:{s:{s:o}}, s:o}", "id", "bunsen-forced",
                                               "condition", "id", "$in", ids, "force",
                                               experiment_value_new(x, (int)v)));
    }
}

/* x's targeting (NULL: none) and cond, as one condition (new reference). */
static json_t *targeting_and(const struct experiment *x, json_t *cond)
{
    if (x->targeting == NULL) {
        return cond;
    }
    return json_pack("{s:[o, o]}", "$and", json_deep_copy(x->targeting), cond);
}

/* An experiment with a fallback_attribute as two experiment rules of one key and seed: the
 * GrowthBook SDK reads a rule's fallbackAttribute only with a sticky-bucket service (and then
 * sticks users to their first variant), so without one a user who lacks the hash attribute
 * was out of the experiment locally while /assign, OFREP and remote evaluation hashed the
 * fallback. The first rule is hashed on the hash attribute when it is usable, the second on
 * the fallback when it is not. "Usable" is assign_hash_text's: any truthy value (arrays and
 * objects, even empty, included; "", 0, false, null and absent not), which is exactly what
 * the SDK's condition {attr: true} matches (value !== null && !!value === true), so the
 * second rule's condition is its $not. Takes ownership of rule (the first, without a
 * condition). */
static void add_fallback_rules(json_t *rules, const struct experiment *x, json_t *rule,
                               const char *hash)
{
    json_t *second = json_deep_copy(rule);
    json_object_set_new(second, "hashAttribute", json_string(x->fallback_attribute));
    json_object_set_new(rule, "condition", targeting_and(x, json_pack("{s:b}", hash, 1)));
    json_object_set_new(second, "condition",
                        targeting_and(x, json_pack("{s:{s:b}}", "$not", hash, 1)));
    json_array_append_new(rules, rule);
    json_array_append_new(rules, second);
}

/* The value users out of the experiment get: default_value, else the control's value. */
static json_t *default_of(const struct experiment *x)
{
    return experiment_assigned_value(x, 0, false);
}

static json_t *feature_of(const struct experiment *x)
{
    json_t *rules = json_array();
    add_forced_rules(rules, x);
    if (x->status == ASSIGN_STATUS_STOPPED && x->released >= 0) {
        return json_pack("{s:o, s:o}", "defaultValue", experiment_value_new(x, x->released),
                         "rules", rules);
    }
    if (x->status == ASSIGN_STATUS_RUNNING) {
        json_t *variations = json_array(), *weights = json_array(), *meta = json_array();
        for (size_t i = 0; i < x->nvariants; i++) {
            json_array_append_new(variations, experiment_value_new(x, (int)i));
            json_array_append_new(weights, json_real(x->variants[i].weight));
            json_array_append_new(meta, json_pack("{s:s, s:s}", "key", x->variants[i].key, "name",
                                                  x->variants[i].name));
        }
        const char *hash = x->hash_attribute[0] ? x->hash_attribute : "id";
        json_t *rule = json_pack("{s:s, s:s, s:s, s:i, s:s, s:o, s:o, s:f, s:o}", "key", x->key,
                                 "name", x->name, "seed", x->seed, "hashVersion", x->hash_version,
                                 "hashAttribute", hash, "variations", variations, "weights",
                                 weights, "coverage", x->coverage, "meta", meta);
        if (x->has_namespace) {
            json_object_set_new(rule, "namespace",
                                json_pack("[s, f, f]", x->ns_name, x->ns_start, x->ns_end));
        }
        if (x->fallback_attribute[0] == '\0') {
            if (x->targeting != NULL) {
                json_object_set_new(rule, "condition", json_deep_copy(x->targeting));
            }
            json_array_append_new(rules, rule);
        } else {
            add_fallback_rules(rules, x, rule, hash);
        }
    }
    if (x->status == ASSIGN_STATUS_DRAFT || x->status == ASSIGN_STATUS_STOPPED) {
        /* a draft or one stopped without a release, listed for its forced users only (QA):
         * everyone else gets null, the SDK's fallback, as OFREP's DISABLED code default */
        return json_pack("{s:n, s:o}", "defaultValue", "rules", rules);
    }
    /* running (users out of it) and paused (everyone): the default, forced users their
     * variant, as /assign */
    return json_pack("{s:o, s:o}", "defaultValue", default_of(x), "rules", rules);
}

bool api_experiment_in_payload(const struct snapshot_entry *e)
{
    const struct experiment *x = &e->x;
    if (api_experiment_is_live(e) || x->status == ASSIGN_STATUS_PAUSED) {
        return true;
    }
    /* forced users get their variant from /assign and OFREP in any status but archived
     * (API.md: forced is checked before "not running"), so from the SDK too */
    return x->status != ASSIGN_STATUS_ARCHIVED && x->forced != NULL &&
           json_object_size(x->forced) > 0;
}

/* The sdk (or admin) key named by the {sdk_key} path parameter: 0 with *k, or -1 after
 * replying 401 (or the store's error). A valid key of another role is the same 401 as an
 * unknown string: a 403 confirmed to anyone that a leaked viewer or editor key is valid. */
int api_sdk_key_of(struct http_req *r, struct store_key *k)
{
    const char *key = http_req_param(r, "sdk_key");
    struct err err;
    err_clear(&err);
    /* through the key cache, as the Authorization header, and confirmed with the database
     * when it answers within 200 ms: a key revoked elsewhere gets no payload in the cache's
     * second; in an outage, or while the database does not answer, a key verified in the
     * last 10 minutes still gets the payload held in memory */
    bool known = key != NULL && http_req_key_confirm(r, key, k, &err) == 0;
    if (!known && (err.code == ERR_UNAVAILABLE || err.code == ERR_INTERNAL)) {
        http_reply_err(r, &err);
        return -1;
    }
    if (!known || (auth_role_parse(k->role) & ROLES_SDK) == 0) {
        http_reply_error(r, ERR_UNAUTH, NULL, "unknown or revoked SDK key");
        return -1;
    }
    return 0;
}

/* ISO 8601 UTC text of ms since the epoch, as GrowthBook's dateUpdated. */
static json_t *iso_date(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[96];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(buf);
}

json_t *api_growthbook_payload_of(const struct snapshot *snap)
{
    json_t *features = json_object();
    int64_t updated = 0;
    for (size_t i = 0; i < snap->n; i++) {
        const struct experiment *x = &snap->entries[i]->x;
        if (api_experiment_in_payload(snap->entries[i])) {
            json_object_set_new(features, x->key, feature_of(x));
        }
        updated = x->updated_at > updated ? x->updated_at : updated;
    }
    /* Only the groups that a feature of the payload targets with: the payload is public (an
     * sdk key is in every browser), and groups hold ids and emails that sdk keys may not list
     * (GET /saved-groups is 403 to them). The value arrays are shared, read-only (jansson's
     * reference counts are atomic): no copy of large groups. */
    json_t *groups = json_object();
    const char *gk;
    json_t *gv;
    json_object_foreach(snap->group_values, gk, gv)
    {
        bool used = false;
        for (size_t i = 0; !used && i < snap->n; i++) {
            /* only a running experiment's rule carries its targeting (feature_of) */
            const struct snapshot_entry *e = snap->entries[i];
            used = api_experiment_in_payload(e) && e->x.status == ASSIGN_STATUS_RUNNING &&
                   e->x.targeting != NULL && saved_group_is_used(e->x.targeting, gk);
        }
        if (!used) {
            continue;
        }
        json_object_set(groups, gk, gv);
        int64_t t = json_integer_value(
            json_object_get(json_object_get(snap->saved_groups, gk), "updated_at"));
        updated = t > updated ? t : updated;
    }
    /* the catalogue's change time moves on every change, deletes too (the SDK ignores a
     * payload whose dateUpdated it has cached); the rows' latest only until the first
     * change stamps one */
    if (snap->changed_at > 0) {
        updated = snap->changed_at;
    }
    return json_pack("{s:o, s:o, s:o}", "features", features, "savedGroups", groups, "dateUpdated",
                     iso_date(updated));
}

void api_features(struct http_req *r)
{
    struct store_key k;
    if (api_sdk_key_of(r, &k) != 0) {
        return;
    }
    struct app *app = http_req_app(r);
    char enc[API_ENC_KEY_LEN];
    struct err err;
    err_clear(&err);
    const struct api_payload *p = NULL;
    if (api_key_encryption(app, k.id, enc, sizeof(enc), &err) != 0 ||
        (p = api_payload_get(app, enc, &err)) == NULL) {
        http_reply_err(r, &err);
        return;
    }
    reply_payload(r, p);
    /* as the GrowthBook Proxy: the SDK opens GET /sub/{key} when it sees this */
    http_reply_header(r, "x-sse-support", "enabled");
}

/* ---- OFREP ----
 *
 * Reasons (the protocol's enum: STATIC, TARGETING_MATCH, SPLIT, DISABLED, UNKNOWN):
 *   hashed      SPLIT; TARGETING_MATCH (with targeting) or STATIC (without) when the hash
 *               cannot matter: one variant holds the whole range (weight 1, coverage 1,
 *               no namespace)
 *   forced      TARGETING_MATCH (a user rule matched)
 *   released    STATIC
 *   not_running DISABLED, with no value: the provider uses the code default
 *   not_targeted STATIC (the flag's default value; OFREP has no DEFAULT)
 *   namespace, coverage  SPLIT (the hash put the user outside the ranges)
 * Exposures are logged without holding the answer: one writer job per request, queued
 * after the reply is built; it commits, or (queue full, database failing) is counted in
 * bunsen_ofrep_exposures_total{result="dropped"}. */

/* Does the hash decide nothing (the chosen range is all of [0, 1))? */
static bool ofrep_single_outcome(const struct experiment *x)
{
    if (x->has_namespace || x->coverage < 1.0) {
        return false;
    }
    size_t live = 0;
    for (size_t i = 0; i < x->nvariants; i++) {
        live += x->variants[i].weight > 0;
    }
    return live == 1;
}

static const char *ofrep_reason(const struct experiment *x, enum assign_reason reason)
{
    switch (reason) {
    case ASSIGN_REASON_HASHED:
        if (ofrep_single_outcome(x)) {
            return x->targeting != NULL ? "TARGETING_MATCH" : "STATIC";
        }
        return "SPLIT";
    case ASSIGN_REASON_FORCED:
        return "TARGETING_MATCH";
    case ASSIGN_REASON_RELEASED:
    case ASSIGN_REASON_NOT_TARGETED:
        return "STATIC";
    case ASSIGN_REASON_NOT_RUNNING:
        return "DISABLED";
    case ASSIGN_REASON_NAMESPACE:
    case ASSIGN_REASON_COVERAGE:
        return "SPLIT";
    }
    return "UNKNOWN";
}

/* Parse {"context": {"targetingKey", ...}}: the attributes (new reference) and the key
 * (NULL when the context has none: ofrep_eval answers what needs none), or NULL after
 * replying with the protocol's 400. */
static json_t *ofrep_context(struct http_req *r, const char **user_id)
{
    size_t len = 0;
    const char *body = http_req_body(r, &len);
    json_t *root = NULL;
    const char *nul = len > 0 ? memchr(body, '\0', len) : NULL;
    char why[200];
    json_error_t jerr;
    if (len == 0) {
        root = json_object();
    } else if (nul != NULL) {
        /* a raw NUL byte is refused before jansson, which would skip one after a number or a
         * literal (see http_req_json_body) */
        snprintf(why, sizeof(why), "invalid JSON at byte %zu: a NUL byte", (size_t)(nul - body));
    } else if ((root = http_json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
        /* the reason, as every other route gives it: a JSON object with a duplicate key or
         * a number past the double range was answered "the body must be a JSON object" */
        http_json_error_text(&jerr, why, sizeof(why));
    } else if (!json_is_object(root)) {
        snprintf(why, sizeof(why), "the body must be a JSON object");
    }
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        http_reply_ofrep(r, 400, "PARSE_ERROR", why);
        return NULL;
    }
    json_t *ctx = json_object_get(root, "context");
    if (ctx != NULL && !json_is_null(ctx) && !json_is_object(ctx)) {
        json_decref(root);
        http_reply_ofrep(r, 400, "INVALID_CONTEXT", "context must be an object");
        return NULL;
    }
    /* "" is no key: a web app's context before sign-in ({targetingKey: user?.id ?? ""}) is
     * evaluated as one without it, as remote evaluation takes a falsy id (review journey35
     * F5: it was a 400 for the whole request, released flags included) */
    const json_t *tk = json_is_object(ctx) ? json_object_get(ctx, "targetingKey") : NULL;
    bool empty_key = json_is_string(tk) && json_string_length(tk) == 0;
    if (tk != NULL && !json_is_null(tk) && !empty_key &&
        (!json_is_string(tk) ||
         !text_id_valid(json_string_value(tk), json_string_length(tk), 256))) {
        json_decref(root);
        http_reply_ofrep(r, 400, "INVALID_CONTEXT",
                         "context.targetingKey must be up to 256 bytes of text");
        return NULL;
    }
    struct err err;
    err_clear(&err);
    if (json_is_object(ctx) && api_attributes_check(http_req_app(r), ctx, "context", &err) != 0) {
        json_decref(root);
        /* over the attribute caps too: OFREP has no 413 (providers read one as GENERAL) */
        http_reply_ofrep(r, 400, "INVALID_CONTEXT", err.msg);
        return NULL;
    }
    json_t *attrs = json_is_object(ctx) ? json_copy(ctx) : json_object();
    json_decref(root);
    if (empty_key) {
        json_object_del(attrs, "targetingKey");
    }
    tk = json_object_get(attrs, "targetingKey");
    *user_id = json_is_string(tk) ? json_string_value(tk) : NULL;
    if (*user_id != NULL && json_object_get(attrs, "id") == NULL) {
        json_object_set(attrs, "id", json_object_get(attrs, "targetingKey"));
    }
    return attrs;
}

/* Is any value of x (a variant's, default_value) a JSON array? */
static bool ofrep_has_array_value(const struct experiment *x)
{
    for (size_t i = 0; i < x->nvariants; i++) {
        if (json_is_array(x->variants[i].value)) {
            return true;
        }
    }
    return json_is_array(x->default_value);
}

/* Evaluate one flag into an OFREP evaluation object (success, code default or failure);
 * records an exposure item when the user is in the experiment. *status: the HTTP status a
 * single-flag answer has. user_id NULL: the context has no targetingKey. */
static json_t *ofrep_eval(const struct snapshot *snap, const struct snapshot_entry *e,
                          const char *user_id, const json_t *attrs, struct condition_budget *budget,
                          struct api_exposure *items, size_t *nitems, int *status)
{
    const struct experiment *x = &e->x;
    struct assign_result res;
    struct err err;
    err_clear(&err);
    *status = 200;
    if (user_id == NULL) {
        /* No targetingKey: evaluated as remote evaluation evaluates a visitor without an id
         * (no forced user, nothing hashed on the id), so a released or disabled flag, a
         * targeting miss (the default) and an experiment hashed on another attribute that
         * the context has answer without one. Only a user whom the missing id alone keeps
         * out (hashed on the id, the targeting holds) is TARGETING_KEY_MISSING: the answer
         * and the exposure depend on it. */
        if (assign_decide_sdk(&e->a, snap->group_sets, NULL, NULL, 0, attrs, budget, &res, &err) !=
            0) {
            *status = 400;
            return json_pack("{s:s, s:s, s:s}", "key", x->key, "errorCode", "INVALID_CONTEXT",
                             "errorDetails", err.msg);
        }
        int t = res.id_missing ? assign_targeting_holds(&e->a, snap->group_sets, attrs, budget) : 0;
        if (t < 0) {
            *status = 400;
            return json_pack("{s:s, s:s, s:s}", "key", x->key, "errorCode", "INVALID_CONTEXT",
                             "errorDetails",
                             "evaluating the targeting conditions for these attributes exceeds "
                             "the per-request evaluation budget");
        }
        if (t > 0) {
            *status = 400;
            return json_pack("{s:s, s:s, s:s}", "key", x->key, "errorCode", "TARGETING_KEY_MISSING",
                             "errorDetails",
                             "this user is in the experiment's population, which is hashed on "
                             "the user id: it needs context.targetingKey");
        }
    } else if (assign_decide_budget(&e->a, snap->group_sets, user_id, strlen(user_id), attrs,
                                    budget, &res, &err) != 0) {
        *status = 400;
        return json_pack("{s:s, s:s, s:s}", "key", x->key, "errorCode", "INVALID_CONTEXT",
                         "errorDetails", err.msg);
    }
    prom_count_assign(e->user, res.reason);
    json_t *meta =
        json_pack("{s:s, s:b, s:s}", "experiment", x->key, "in_experiment", res.in_experiment,
                  "assignment_reason", assign_reason_name(res.reason));
    if (res.has_bucket) {
        json_object_set_new(meta, "bucket", json_real(res.bucket));
    }
    if (res.reason == ASSIGN_REASON_NOT_RUNNING) {
        /* the protocol's codeDefaultFlag: no value, the provider answers its code default */
        return json_pack("{s:s, s:s, s:o}", "key", x->key, "reason", "DISABLED", "metadata", meta);
    }
    if (ofrep_has_array_value(x)) {
        /* OFREP types a value as boolean, string, integer, float or object: not an array.
         * Refused for every user of the experiment, whatever value theirs is (one stored
         * before arrays became a type of their own may mix them with objects): a failure for
         * the users of one variant only, unlogged, was a false sample-ratio mismatch */
        json_decref(meta);
        *status = 400;
        return json_pack("{s:s, s:s, s:s}", "key", x->key, "errorCode", "GENERAL", "errorDetails",
                         "the flag's values are JSON arrays, which OFREP cannot carry (wrap "
                         "them in an object)");
    }
    json_t *value = api_assigned_value(x, &res);
    const char *variant = x->variants[res.variant].key;
    /* a user outside the experiment gets its default_value when it has one: that is no
     * variant's value, so no variant is named (the control's key went to the provider's
     * hooks and telemetry as if the user were in it) */
    bool of_variant = res.reason == ASSIGN_REASON_HASHED || res.reason == ASSIGN_REASON_FORCED ||
                      res.reason == ASSIGN_REASON_RELEASED;
    if (!of_variant && x->default_value != NULL) {
        return json_pack("{s:s, s:s, s:o, s:o}", "key", x->key, "reason",
                         ofrep_reason(x, res.reason), "value", value, "metadata", meta);
    }
    if (res.in_experiment && user_id != NULL) {
        /* exposures are keyed by the user id (as /assign's, which needs one): a user known
         * only by another hashed attribute gets the value, no exposure (none of their
         * events could be attributed either) */
        snprintf(items[*nitems].experiment, sizeof(items[0].experiment), "%s", x->key);
        snprintf(items[*nitems].variant, sizeof(items[0].variant), "%s", variant);
        items[*nitems].dims = api_dims_encode(x, attrs);
        (*nitems)++;
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:o}", "key", x->key, "reason",
                     ofrep_reason(x, res.reason), "variant", variant, "value", value, "metadata",
                     meta);
}

/* A flag OFREP knows: every experiment but archived ones (drafts, paused and stopped ones
 * answer DISABLED, but to their forced users), the same set for single and bulk evaluation. */
static bool ofrep_flag_exists(const struct snapshot_entry *e)
{
    return e->x.status != ASSIGN_STATUS_ARCHIVED;
}

/* ---- exposures logged beside the answer ---- */

struct ofrep_log {
    struct store_job job;
    struct app *app;
    char *user_id;
    int64_t ts;
    /* what the last apply stored (a batch's totals on its first answer, zero on the others),
     * counted in /metrics by ofrep_log_done once committed */
    struct store_ingest_counts counts;
    size_t n;
    struct api_exposure items[];
};

static int ofrep_log_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct ofrep_log *l = arg;
    struct api_exposure_set set = {l->user_id, l->ts, l->items, l->n};
    return api_exposures_ingest(tx, l->app->experiments, &set, 1, &l->counts, err);
}

/* The exposures of several answers in one attribution call (store_job.apply_batch), as
 * /assign's groups are: the same rows as ofrep_log_apply per answer (first exposure wins
 * whatever the order). */
static int ofrep_log_apply_batch(struct store_tx *tx, void *const *args, size_t n, struct err *err)
{
    struct api_exposure_set *sets = xcalloc(n, sizeof(*sets));
    for (size_t i = 0; i < n; i++) {
        struct ofrep_log *l = args[i];
        sets[i] = (struct api_exposure_set){l->user_id, l->ts, l->items, l->n};
        l->counts = (struct store_ingest_counts){0};
    }
    struct ofrep_log *first = args[0];
    int rc = api_exposures_ingest(tx, first->app->experiments, sets, n, &first->counts, err);
    free(sets);
    return rc;
}

/* store_job.users: the one user */
static void ofrep_log_users(void *arg, void (*emit)(void *ctx, const char *user_id), void *ctx)
{
    emit(ctx, ((const struct ofrep_log *)arg)->user_id);
}

static void ofrep_log_free(struct ofrep_log *l)
{
    free(l->user_id);
    api_exposures_clear(l->items, l->n);
    free(l);
}

static void ofrep_log_done(void *arg, int rc, const struct err *err)
{
    (void)err;
    struct ofrep_log *l = arg;
    prom_count_async_exposures(l->app->prom, rc != 0, l->n);
    if (rc == 0) {
        prom_count_ingest(l->app->prom, true, &l->counts);
    }
    ofrep_log_free(l);
}

/* Queue the exposures of one answer; never waits. */
static void ofrep_log_exposures(struct http_req *r, const char *user_id,
                                const struct api_exposure *items, size_t n)
{
    if (n == 0) {
        return;
    }
    struct app *app = http_req_app(r);
    int64_t now = time_now_ms();
    struct ofrep_log *l = xcalloc(1, sizeof(*l) + n * sizeof(l->items[0]));
    l->job.apply = ofrep_log_apply;
    l->job.apply_batch = ofrep_log_apply_batch;
    l->job.retryable = true; /* ofrep_log_apply only inserts through the transaction */
    l->job.items = 1;        /* one user */
    l->job.users = ofrep_log_users;
    l->job.done = ofrep_log_done;
    l->job.arg = l;
    l->app = app;
    l->user_id = xstrdup(user_id);
    l->ts = now;
    /* a repeat of a committed first exposure stores nothing: counted as committed, not queued */
    l->n = api_exposures_unknown(app->store, user_id, now, items, n, l->items);
    if (l->n < n) {
        prom_count_async_exposures(app->prom, false, n - l->n);
    }
    if (l->n == 0) {
        ofrep_log_free(l);
        return;
    }
    struct err err;
    err_clear(&err);
    if (store_submit(app->store, &l->job, &err) != 0) {
        prom_count_async_exposures(app->prom, true, l->n);
        ofrep_log_free(l);
    }
}

void api_ofrep_flag(struct http_req *r)
{
    const char *flag = http_req_param(r, "key");
    const char *user_id = NULL;
    json_t *attrs = ofrep_context(r, &user_id);
    if (attrs == NULL) {
        return;
    }
    struct snapshot_cell *cell = http_req_app(r)->experiments;
    struct condition_budget budget;
    api_eval_budget(http_req_app(r), &budget);
    const struct snapshot *snap = snapshot_read_begin(cell);
    const struct snapshot_entry *e = flag ? snapshot_find(snap, flag) : NULL;
    struct api_exposure item = {.dims = NULL};
    size_t n = 0;
    int status = 200;
    json_t *o = e && ofrep_flag_exists(e)
                    ? ofrep_eval(snap, e, user_id, attrs, &budget, &item, &n, &status)
                    : NULL;
    snapshot_read_end(cell, snap);
    api_eval_charge(r, http_req_app(r), &budget);
    if (o == NULL) {
        json_decref(attrs);
        http_reply_ofrep(r, 404, "FLAG_NOT_FOUND", "no experiment with this key");
        return;
    }
    http_reply_json(r, status, o);
    if (n > 0) {
        ofrep_log_exposures(r, user_id, &item, n);
    }
    free(item.dims);
    json_decref(attrs);
}

void api_ofrep_bulk(struct http_req *r)
{
    const char *user_id = NULL;
    json_t *attrs = ofrep_context(r, &user_id);
    if (attrs == NULL) {
        return;
    }
    struct snapshot_cell *cell = http_req_app(r)->experiments;
    const struct snapshot *snap = snapshot_read_begin(cell);
    size_t cap = snap->n ? snap->n : 1;
    struct api_exposure *items = xcalloc(cap, sizeof(*items));
    size_t n = 0;
    json_t *flags = json_array();
    /* every flag, as the single-flag route knows them: no cap on their number (it silently
     * ended the list at 1,000). The work is one hash per flag, linear in the catalogue as
     * /assign without names and the payload are, plus targeting charged to the request's
     * budget: a request that exceeds it is a 400, never a partial list */
    struct condition_budget budget;
    api_eval_budget(http_req_app(r), &budget);
    for (size_t i = 0; i < snap->n; i++) {
        if (ofrep_flag_exists(snap->entries[i])) {
            int status;
            json_array_append_new(flags, ofrep_eval(snap, snap->entries[i], user_id, attrs, &budget,
                                                    items, &n, &status));
        }
        if (budget.left < 0) {
            break;
        }
    }
    snapshot_read_end(cell, snap);
    api_eval_charge(r, http_req_app(r), &budget);
    if (budget.left < 0) {
        api_exposures_clear(items, n);
        free(items);
        json_decref(flags);
        json_decref(attrs);
        http_reply_ofrep(r, 400, "INVALID_CONTEXT",
                         "evaluating the flags for this context exceeds the per-request evaluation "
                         "budget");
        return;
    }
    json_t *body = json_pack("{s:o}", "flags", flags);
    /* The ETag covers the user and the evaluations: an unchanged answer is a 304 and logs
     * nothing new (its exposures were queued when it was first served to this user).
     * The user is in the tag because the body does not name them: another user with the
     * same evaluations (same variants and buckets) must not revalidate with it and so
     * skip their own first exposures. */
    char *text = jsonw_dumps(body, NULL);
    json_decref(body);
    char tag[40];
    api_strong_etag(user_id ? user_id : "", text ? text : "", text ? strlen(text) : 0, tag);
    const char *inm = http_req_header(r, "If-None-Match");
    if (text == NULL) {
        http_reply_json(r, 500, json_pack("{s:s}", "errorDetails", "cannot encode the answer"));
    } else if (inm != NULL && strstr(inm, tag) != NULL) {
        http_reply_not_modified(r, strlen(text));
    } else {
        http_reply_bytes(r, 200, "application/json; charset=utf-8", text, strlen(text));
        if (user_id != NULL) {
            ofrep_log_exposures(r, user_id, items, n);
        }
    }
    if (text != NULL) {
        http_reply_revalidate(r);
        http_reply_header(r, "ETag", tag);
    }
    free(text);
    api_exposures_clear(items, n);
    free(items);
    json_decref(attrs);
}
