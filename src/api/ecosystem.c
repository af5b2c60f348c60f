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
 * exposures like /assign (reply after commit). Payloads carry a strong ETag (SHA-256 of
 * the body); If-None-Match with the same tag gets 304.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/auth.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"

#define OFREP_MAX_FLAGS 1000

/* ETag of text: a quoted hex prefix of the SHA-256 of scope (NULL: none; hashed with its
 * terminating NUL) followed by text. */
static void etag_of(const char *scope, const char *text, size_t len, char out[40])
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

/* Reply 304 when If-None-Match carries this body's tag, else 200 with the body and tag. */
static void reply_tagged(struct http_req *r, json_t *body, int digits)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(digits));
    json_decref(body);
    if (text == NULL) {
        http_reply_error(r, ERR_INTERNAL, NULL, "cannot encode the response");
        return;
    }
    char tag[40];
    etag_of(NULL, text, strlen(text), tag);
    const char *inm = http_req_header(r, "If-None-Match");
    if (inm != NULL && (strstr(inm, tag) != NULL || strcmp(inm, "*") == 0)) {
        http_reply_bytes(r, 304, "application/json; charset=utf-8", "", 0);
    } else {
        http_reply_bytes(r, 200, "application/json; charset=utf-8", text, strlen(text));
    }
    http_reply_revalidate(r);
    http_reply_header(r, "ETag", tag);
    free(text);
}

void api_cors_preflight(struct http_req *r)
{
    http_reply_empty(r, 204);
    http_reply_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
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
        json_array_append_new(rules, json_pack("{s:s, s:{s:{s:o}}, s:s}", "id", "bunsen-forced",
                                               "condition", "id", "$in", ids, "force",
                                               x->variants[v].key));
    }
}

static json_t *feature_of(const struct experiment *x)
{
    json_t *rules = json_array();
    add_forced_rules(rules, x);
    if (x->status == ASSIGN_STATUS_STOPPED && x->released >= 0) {
        return json_pack("{s:s, s:o}", "defaultValue", x->variants[x->released].key, "rules",
                         rules);
    }
    if (x->status == ASSIGN_STATUS_RUNNING) {
        json_t *variations = json_array(), *weights = json_array(), *meta = json_array();
        for (size_t i = 0; i < x->nvariants; i++) {
            json_array_append_new(variations, json_string(x->variants[i].key));
            json_array_append_new(weights, json_real(x->variants[i].weight));
            json_array_append_new(meta, json_pack("{s:s, s:s}", "key", x->variants[i].key, "name",
                                                  x->variants[i].name));
        }
        json_t *rule = json_pack("{s:s, s:s, s:s, s:i, s:s, s:o, s:o, s:f, s:o}", "key", x->key,
                                 "name", x->name, "seed", x->seed, "hashVersion", x->hash_version,
                                 "hashAttribute", "id", "variations", variations, "weights",
                                 weights, "coverage", x->coverage, "meta", meta);
        if (x->has_namespace) {
            json_object_set_new(rule, "namespace",
                                json_pack("[s, f, f]", x->ns_name, x->ns_start, x->ns_end));
        }
        if (x->targeting != NULL) {
            json_object_set_new(rule, "condition", json_deep_copy(x->targeting));
        }
        json_array_append_new(rules, rule);
    }
    /* paused: everyone gets the control (forced users their variant), as /assign */
    return json_pack("{s:s, s:o}", "defaultValue", x->variants[0].key, "rules", rules);
}

void api_features(struct http_req *r)
{
    const char *key = http_req_param(r, "sdk_key");
    uint8_t hash[AUTH_HASH_LEN];
    struct store_key k;
    struct err err;
    err_clear(&err);
    size_t len = key ? strlen(key) : 0;
    auth_key_hash(key ? key : "", len > 256 ? 256 : len, hash);
    if (key == NULL || len > 256 ||
        store_key_find_by_hash(http_req_app(r)->store, hash, &k, &err) != 0) {
        if (err.code == ERR_UNAVAILABLE || err.code == ERR_INTERNAL) {
            http_reply_err(r, &err);
        } else {
            http_reply_error(r, ERR_UNAUTH, NULL, "unknown or revoked SDK key");
        }
        return;
    }
    enum role role = auth_role_parse(k.role);
    if ((role & ROLES_SDK) == 0) {
        http_reply_error(r, ERR_DENIED, NULL, "the features payload needs an sdk (or admin) key");
        return;
    }
    struct snapshot_cell *cell = http_req_app(r)->experiments;
    const struct snapshot *snap = snapshot_read_begin(cell);
    json_t *features = json_object();
    for (size_t i = 0; i < snap->n; i++) {
        const struct experiment *x = &snap->entries[i].x;
        if (api_experiment_is_live(&snap->entries[i]) || x->status == ASSIGN_STATUS_PAUSED) {
            json_object_set_new(features, x->key, feature_of(x));
        }
    }
    snapshot_read_end(cell, snap);
    /* 17 digits: the SDK must see exactly the weights the daemon hashes with */
    reply_tagged(r, json_pack("{s:o}", "features", features), 17);
}

/* ---- OFREP ---- */

static const char *ofrep_reason(enum assign_reason reason)
{
    switch (reason) {
    case ASSIGN_REASON_HASHED:
        return "SPLIT";
    case ASSIGN_REASON_FORCED:
        return "TARGETING_MATCH";
    case ASSIGN_REASON_RELEASED:
        return "STATIC";
    case ASSIGN_REASON_NOT_RUNNING:
        return "DISABLED";
    default:
        return "DEFAULT";
    }
}

static void ofrep_error(struct http_req *r, int status, const char *key, const char *code,
                        const char *details)
{
    json_t *o = json_pack("{s:s, s:s}", "errorCode", code, "errorDetails", details);
    if (key != NULL) {
        json_object_set_new(o, "key", json_string(key));
    }
    http_reply_json(r, status, o);
}

/* Parse {"context": {"targetingKey", ...}}: the attributes (new reference) and the key, or
 * NULL after replying with the protocol's 400. */
static json_t *ofrep_context(struct http_req *r, const char *flag, const char **user_id)
{
    size_t len = 0;
    const char *body = http_req_body(r, &len);
    json_t *root = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : json_object();
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        ofrep_error(r, 400, flag, "PARSE_ERROR", "the body must be a JSON object");
        return NULL;
    }
    json_t *ctx = json_object_get(root, "context");
    if (ctx != NULL && !json_is_object(ctx)) {
        json_decref(root);
        ofrep_error(r, 400, flag, "INVALID_CONTEXT", "context must be an object");
        return NULL;
    }
    const json_t *tk = ctx ? json_object_get(ctx, "targetingKey") : NULL;
    if (tk == NULL || json_is_null(tk)) {
        json_decref(root);
        ofrep_error(r, 400, flag, "TARGETING_KEY_MISSING",
                    "context.targetingKey (the user id) is required");
        return NULL;
    }
    if (!json_is_string(tk) || !text_id_valid(json_string_value(tk), json_string_length(tk), 256)) {
        json_decref(root);
        ofrep_error(r, 400, flag, "INVALID_CONTEXT",
                    "context.targetingKey must be 1 to 256 bytes of text");
        return NULL;
    }
    struct err err;
    err_clear(&err);
    if (api_attributes_check(http_req_app(r), ctx, "context", &err) != 0) {
        json_decref(root);
        ofrep_error(r, err_code_status(err.code), flag, "INVALID_CONTEXT", err.msg);
        return NULL;
    }
    json_t *attrs = json_copy(ctx);
    json_decref(root);
    *user_id = json_string_value(json_object_get(attrs, "targetingKey"));
    if (json_object_get(attrs, "id") == NULL) {
        json_object_set(attrs, "id", json_object_get(attrs, "targetingKey"));
    }
    return attrs;
}

/* Evaluate one flag into an OFREP evaluation object; records an exposure item. */
static json_t *ofrep_eval(const struct snapshot_entry *e, const char *user_id, const json_t *attrs,
                          struct condition_budget *budget, struct api_exposure *items,
                          size_t *nitems)
{
    struct assign_result res;
    struct err err;
    if (assign_decide_budget(&e->a, user_id, strlen(user_id), attrs, budget, &res, &err) != 0) {
        return json_pack("{s:s, s:s, s:s}", "key", e->x.key, "errorCode", "INVALID_CONTEXT",
                         "errorDetails", err.msg);
    }
    prom_count_assign(e->user, res.reason);
    const char *variant = e->x.variants[res.variant].key;
    json_t *meta =
        json_pack("{s:s, s:b, s:s}", "experiment", e->x.key, "in_experiment", res.in_experiment,
                  "assignment_reason", assign_reason_name(res.reason));
    if (res.has_bucket) {
        json_object_set_new(meta, "bucket", json_real(res.bucket));
    }
    if (res.in_experiment) {
        snprintf(items[*nitems].experiment, sizeof(items[0].experiment), "%s", e->x.key);
        snprintf(items[*nitems].variant, sizeof(items[0].variant), "%s", variant);
        (*nitems)++;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "key", e->x.key, "reason",
                     ofrep_reason(res.reason), "variant", variant, "value", variant, "metadata",
                     meta);
}

void api_ofrep_flag(struct http_req *r)
{
    const char *flag = http_req_param(r, "key");
    const char *user_id = NULL;
    json_t *attrs = ofrep_context(r, flag, &user_id);
    if (attrs == NULL) {
        return;
    }
    struct snapshot_cell *cell = http_req_app(r)->experiments;
    struct condition_budget budget = api_eval_budget(http_req_app(r));
    const struct snapshot *snap = snapshot_read_begin(cell);
    const struct snapshot_entry *e = flag ? snapshot_find(snap, flag) : NULL;
    struct api_exposure item;
    size_t n = 0;
    json_t *o = e ? ofrep_eval(e, user_id, attrs, &budget, &item, &n) : NULL;
    snapshot_read_end(cell, snap);
    char uid[257];
    snprintf(uid, sizeof(uid), "%s", user_id);
    json_decref(attrs);
    if (o == NULL) {
        ofrep_error(r, 404, flag, "FLAG_NOT_FOUND", "no experiment with this key");
        return;
    }
    if (json_object_get(o, "errorCode") != NULL) {
        http_reply_json(r, 400, o);
        return;
    }
    api_reply_after_exposures(r, o, uid, &item, n, 10, NULL);
}

void api_ofrep_bulk(struct http_req *r)
{
    const char *user_id = NULL;
    json_t *attrs = ofrep_context(r, NULL, &user_id);
    if (attrs == NULL) {
        return;
    }
    struct snapshot_cell *cell = http_req_app(r)->experiments;
    struct condition_budget budget = api_eval_budget(http_req_app(r));
    const struct snapshot *snap = snapshot_read_begin(cell);
    size_t cap = snap->n ? snap->n : 1;
    struct api_exposure *items = xcalloc(cap, sizeof(*items));
    size_t n = 0;
    json_t *flags = json_array();
    for (size_t i = 0; i < snap->n && json_array_size(flags) < OFREP_MAX_FLAGS; i++) {
        if (api_experiment_is_live(&snap->entries[i])) {
            json_array_append_new(
                flags, ofrep_eval(&snap->entries[i], user_id, attrs, &budget, items, &n));
        }
        if (budget.left < 0) {
            break;
        }
    }
    snapshot_read_end(cell, snap);
    if (budget.left < 0) {
        free(items);
        json_decref(flags);
        json_decref(attrs);
        ofrep_error(r, 400, NULL, "INVALID_CONTEXT",
                    "evaluating the flags for this context exceeds the per-request evaluation "
                    "budget");
        return;
    }
    char uid[257];
    snprintf(uid, sizeof(uid), "%s", user_id);
    json_decref(attrs);
    json_t *body = json_pack("{s:o}", "flags", flags);
    /* The ETag covers the user and the evaluations: an unchanged answer is a 304 and logs
     * nothing new (its exposures were committed when it was first served to this user).
     * The user is in the tag because the body does not name them: another user with the
     * same evaluations (same variants and buckets) must not revalidate with it and so
     * skip their own first exposures. */
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    char tag[40];
    etag_of(uid, text ? text : "", text ? strlen(text) : 0, tag);
    free(text);
    const char *inm = http_req_header(r, "If-None-Match");
    if (inm != NULL && strstr(inm, tag) != NULL) {
        json_decref(body);
        free(items);
        http_reply_bytes(r, 304, "application/json; charset=utf-8", "", 0);
        http_reply_revalidate(r);
        http_reply_header(r, "ETag", tag);
        return;
    }
    api_reply_after_exposures(r, body, uid, items, n, 10, tag);
    free(items);
}
