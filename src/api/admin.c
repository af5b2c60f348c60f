/*
 * admin.c - API keys (create, list, revoke), the caller's identity (/me) and the audit
 * log. Contract: API.md "Auth" and "Operations". Admin role only, except /me.
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/auth.h"
#include "bunsen/util.h"

json_t *api_key_json(const struct store_key *k)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", k->id, "name", k->name, "role",
                          k->role, "prefix", k->prefix, "created_at", (json_int_t)k->created_at);
    if (o != NULL) {
        json_object_set_new(o, "revoked_at",
                            k->revoked_at ? json_integer(k->revoked_at) : json_null());
        if (strcmp(k->role, "sdk") == 0) {
            /* whether its payload (saved groups, forced ids, targeting) is served encrypted;
             * never the encryption key itself */
            json_object_set_new(o, "encrypt", json_boolean(k->encrypted));
        }
    }
    return o;
}

/* ---- POST /api/v1/keys ---- */

/* The bytes of a white space character at s[i] (ASCII blanks, NBSP U+00A0, U+1680,
 * U+2000..200A, U+2028/9, U+202F, U+205F, U+3000), 0 when there is none. */
static size_t space_len(const unsigned char *s, size_t n, size_t i)
{
    unsigned char a = s[i];
    if (a == ' ' || (a >= '\t' && a <= '\r')) {
        return 1;
    }
    if (a == 0xc2 && i + 1 < n && s[i + 1] == 0xa0) {
        return 2;
    }
    if (i + 2 >= n) {
        return 0;
    }
    unsigned char b = s[i + 1], c = s[i + 2];
    bool ws = (a == 0xe1 && b == 0x9a && c == 0x80) ||                /* U+1680 */
              (a == 0xe2 && b == 0x80 && c >= 0x80 && c <= 0x8a) ||   /* U+2000..A */
              (a == 0xe2 && b == 0x80 && (c == 0xa8 || c == 0xa9)) || /* U+2028/9 */
              (a == 0xe2 && b == 0x80 && c == 0xaf) ||                /* U+202F */
              (a == 0xe2 && b == 0x81 && c == 0x9f) ||                /* U+205F */
              (a == 0xe3 && b == 0x80 && c == 0x80);                  /* U+3000 */
    return ws ? 3 : 0;
}

int api_key_name_check(const char *name, struct err *err)
{
    if (text_invisible_at(name, strlen(name)) >= 0) {
        return err_set(err, ERR_INVALID, "name",
                       "name contains an invisible formatting character (a bidi control such "
                       "as U+202E, or a zero-width one such as U+200B)");
    }
    /* "bootstrap-admin\u00a0", " e1", "e1\u3000": the audit log shows such an actor as if it
     * were the daemon's own or another key's (UTF-8 continuation bytes never start a blank, so
     * stepping a byte at a time past the rest is safe) */
    const unsigned char *s = (const unsigned char *)name;
    size_t n = strlen(name), blanks = 0;
    bool trailing = false;
    for (size_t i = 0; i < n;) {
        size_t l = space_len(s, n, i);
        blanks += l;
        trailing = l > 0 && i + l == n;
        i += l > 0 ? l : 1;
    }
    if (n > 0 && blanks == n) {
        return err_set(err, ERR_INVALID, "name", "name is blank: give the key a visible name");
    }
    if (space_len(s, n, 0) > 0 || trailing) {
        return err_set(err, ERR_INVALID, "name",
                       "name starts or ends with white space (a space, U+00A0, U+3000, ...): "
                       "trim it");
    }
    return 0;
}

int api_key_name_free(struct store_tx *tx, const char *name, bool bootstrap, struct err *err)
{
    static const char *const reserved[] = {"cli", "system", "bootstrap-admin"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcasecmp(name, reserved[i]) == 0 && !(bootstrap && i == 2)) {
            return err_set(err, ERR_CONFLICT, "name",
                           "the name '%s' is reserved: the audit log names the daemon's own "
                           "actions so; choose another name",
                           reserved[i]);
        }
    }
    int n = 0;
    if (store_key_count_named(tx, name, &n, err) != 0) {
        return -1;
    }
    if (n > 0) {
        return err_set(err, ERR_CONFLICT, "name",
                       "an active key is already named '%.128s': give each key its own name "
                       "(the audit log tells actors apart by it)",
                       name);
    }
    return 0;
}

struct key_create {
    struct api_write w;
    struct store_key key;
    uint8_t hash[AUTH_HASH_LEN];
    char secret[AUTH_SECRET_LEN + 1];
    char enc[API_ENC_KEY_LEN]; /* "encrypt": true - the payload's AES key (base64), else "" */
};

static int key_create_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct key_create *kc = (struct key_create *)w;
    if (api_key_name_free(tx, kc->key.name, false, err) != 0 ||
        store_key_insert(tx, &kc->key, kc->hash, err) != 0) {
        return -1;
    }
    if (kc->enc[0] != '\0' && store_key_set_encryption(tx, kc->key.id, kc->enc, err) != 0) {
        return -1;
    }
    json_t *after = api_key_json(&kc->key);
    int rc = api_audit(tx, w->req, "key.create", "key", kc->key.id, NULL, after, err);
    json_decref(after);
    return rc;
}

static void key_create_render(struct api_write *w)
{
    struct key_create *kc = (struct key_create *)w;
    json_t *o = api_key_json(&kc->key);
    json_object_set_new(o, "key", json_string(kc->secret));
    if (kc->enc[0] != '\0') {
        /* the GrowthBook SDK's decryptionKey for this key's payloads */
        json_object_set_new(o, "encrypt", json_true());
        json_object_set_new(o, "decryption_key", json_string(kc->enc));
    }
    http_reply_json(w->req, 201, o);
}

static void key_create_cleanup(struct api_write *w)
{
    struct key_create *kc = (struct key_create *)w;
    memset(kc->secret, 0, sizeof(kc->secret));
    free(kc);
}

/* Validate {"name", "role"} into k. Shared with `bunsen keys create` through the same
 * rules: name 1..128 bytes of text, role one of the four. */
static int key_fields(json_t *body, struct store_key *k, bool *encrypt, struct err *err)
{
    const char *key; /* unknown fields first: a misspelt "name" is named as such */
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "role") != 0 && strcmp(key, "encrypt") != 0) {
            return err_set(err, ERR_INVALID, key, "unknown field '%.60s'", key);
        }
    }
    json_t *name = json_object_get(body, "name");
    json_t *role = json_object_get(body, "role");
    if (!json_is_string(name) ||
        !text_id_valid(json_string_value(name), json_string_length(name), 128)) {
        return err_set(err, ERR_INVALID, "name",
                       "name must be a string of 1 to 128 characters without control characters");
    }
    if (api_key_name_check(json_string_value(name), err) != 0) {
        return -1;
    }
    if (!json_is_string(role) || auth_role_parse(json_string_value(role)) == ROLE_NONE) {
        return err_set(err, ERR_INVALID, "role", "role must be one of admin, editor, viewer, sdk");
    }
    json_t *enc = json_object_get(body, "encrypt");
    if (enc != NULL && !json_is_boolean(enc) && !json_is_null(enc)) {
        return err_set(err, ERR_INVALID, "encrypt", "encrypt must be true or false");
    }
    *encrypt = json_is_true(enc);
    if (*encrypt && strcmp(json_string_value(role), "sdk") != 0) {
        return err_set(err, ERR_INVALID, "encrypt",
                       "encrypt applies to sdk keys (their GrowthBook payload is encrypted)");
    }
    snprintf(k->name, sizeof(k->name), "%s", json_string_value(name));
    snprintf(k->role, sizeof(k->role), "%s", json_string_value(role));
    return 0;
}

void api_keys_create(struct http_req *r)
{
    json_t *body = http_req_json_body(r);
    if (body == NULL) {
        return;
    }
    struct key_create *kc = xcalloc(1, sizeof(*kc));
    struct err err;
    err_clear(&err);
    bool encrypt = false;
    if (key_fields(body, &kc->key, &encrypt, &err) != 0 ||
        auth_key_generate(kc->secret, kc->hash, kc->key.id, &err) != 0 ||
        (encrypt && api_new_encryption_key(kc->enc, &err) != 0)) {
        json_decref(body);
        free(kc);
        http_reply_err(r, &err);
        return;
    }
    json_decref(body);
    snprintf(kc->key.prefix, sizeof(kc->key.prefix), "%.8s", kc->secret);
    kc->key.created_at = time_now_ms();
    kc->key.encrypted = encrypt;
    kc->w.apply = key_create_apply;
    kc->w.render = key_create_render;
    kc->w.cleanup = key_create_cleanup;
    api_write_submit(r, &kc->w);
}

/* ---- GET /api/v1/keys ---- */

void api_keys_list(struct http_req *r)
{
    bool include_revoked;
    if (api_query_bool(r, "include_revoked", false, &include_revoked) != 0) {
        return; /* "1", "yes" or "TRUE" listed the active keys only, silently */
    }
    struct store_key *keys = NULL;
    size_t n = 0;
    struct err err;
    err_clear(&err);
    if (store_key_list(http_req_app(r)->store, include_revoked, &keys, &n, &err) != 0) {
        http_reply_err(r, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, api_key_json(&keys[i]));
    }
    free(keys);
    http_reply_json(r, 200, json_pack("{s:o}", "keys", arr));
}

/* ---- DELETE /api/v1/keys/{id} ---- */

struct key_revoke {
    struct api_write w;
    char id[64];
    struct store_key before;
    int64_t now;
};

static int key_revoke_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct key_revoke *kr = (struct key_revoke *)w;
    if (store_key_revoke(tx, kr->id, kr->now, &kr->before, err) != 0) {
        return -1;
    }
    if (strcmp(kr->before.role, "admin") == 0) {
        int admins = 0;
        if (store_key_count_admins(NULL, tx, &admins, err) != 0) {
            return -1;
        }
        if (admins == 0) {
            return err_set(err, ERR_CONFLICT, "id",
                           "'%s' is the last active admin key; create another admin key first",
                           kr->id);
        }
    }
    json_t *before = api_key_json(&kr->before);
    struct store_key after = kr->before;
    after.revoked_at = kr->now;
    json_t *after_j = api_key_json(&after);
    int rc = api_audit(tx, w->req, "key.revoke", "key", kr->id, before, after_j, err);
    json_decref(before);
    json_decref(after_j);
    return rc;
}

static void key_revoke_render(struct api_write *w)
{
    struct key_revoke *kr = (struct key_revoke *)w;
    /* 401 from the next request on (503 while the database is unreachable: not from the
     * cache); the other keys are confirmed at their next use */
    http_server_recheck_keys(http_req_app(w->req)->http, kr->before.id);
    api_sdk_streams_keys_changed(http_req_app(w->req)); /* and its streams end */
    struct store_key after = kr->before;
    after.revoked_at = kr->now;
    http_reply_json(w->req, 200, api_key_json(&after));
}

static void free_write(struct api_write *w)
{
    free(w);
}

void api_keys_revoke(struct http_req *r)
{
    const char *id = http_req_param(r, "id");
    if (id == NULL || strlen(id) >= sizeof(((struct key_revoke *)0)->id)) {
        http_reply_error(r, ERR_NOT_FOUND, "id", "no such key");
        return;
    }
    struct key_revoke *kr = xcalloc(1, sizeof(*kr));
    snprintf(kr->id, sizeof(kr->id), "%s", id);
    kr->now = time_now_ms();
    kr->w.apply = key_revoke_apply;
    kr->w.render = key_revoke_render;
    kr->w.cleanup = free_write;
    api_write_submit(r, &kr->w);
}

/* ---- GET /api/v1/me ---- */

void api_me(struct http_req *r)
{
    http_reply_json(r, 200,
                    json_pack("{s:s, s:s, s:s}", "id", http_req_key_id(r), "name",
                              http_req_key_name(r), "role", auth_role_name(http_req_role(r))));
}

/* ---- GET /api/v1/audit ---- */

static json_t *parse_or_null(const char *text)
{
    if (text == NULL) {
        return json_null();
    }
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(text);
}

/* A page ends before the entry whose documents would pass this many bytes (saved groups
 * keep up to ~1 MB before and after each change; the store does not read the documents
 * past it): next_before then continues after the last entry shown. */
#define AUDIT_PAGE_BYTES (8u << 20)

static void audit_emit(void *ctx, const struct store_audit *e)
{
    json_t *arr = ctx;
    json_t *o = json_pack("{s:I, s:I, s:{s:s, s:s}, s:s, s:s, s:s}", "id", (json_int_t)e->id, "ts",
                          (json_int_t)e->ts, "actor", "id", e->actor_id, "name", e->actor_name,
                          "action", e->action, "target_type", e->target_type, "target", e->target);
    if (o == NULL) {
        return;
    }
    json_object_set_new(o, "before", parse_or_null(e->before_json));
    json_object_set_new(o, "after", parse_or_null(e->after_json));
    json_array_append_new(arr, o);
}

/* An audit entry's target is the key of what changed (experiment, metric, saved group) or an
 * API key's id ("key_" and 16 hex digits, auth.c), which is a key by the same pattern: a target
 * that is neither finds nothing, so it is a 400 naming `target` (a control character or 5,000
 * bytes of text was a 200 with no entries). */
static bool audit_target_valid(const char *type, const char *target)
{
    if (type == NULL || strcmp(type, "key") != 0) {
        return key_valid(target);
    }
    return strlen(target) == AUTH_ID_LEN && strncmp(target, "key_", 4) == 0 &&
           strspn(target + 4, "0123456789abcdef") == AUTH_ID_LEN - 4;
}

void api_audit_list(struct http_req *r)
{
    long limit, before;
    if (api_query_int(r, "limit", 1, 1000, 100, &limit) != 0 ||
        api_query_int(r, "before", 0, (long)(~0UL >> 1), 0, &before) != 0) {
        return;
    }
    const char *type = http_req_query(r, "target_type");
    static const char *const types[] = {"key", "metric", "experiment", "saved_group"};
    bool known = type == NULL;
    for (size_t i = 0; !known && i < sizeof(types) / sizeof(types[0]); i++) {
        known = strcmp(type, types[i]) == 0;
    }
    if (!known) {
        http_reply_error(r, ERR_INVALID, "target_type",
                         "target_type must be key, metric, experiment or saved_group");
        return;
    }
    const char *target = http_req_query(r, "target");
    if (target != NULL && !audit_target_valid(type, target)) {
        http_reply_error(r, ERR_INVALID, "target",
                         type != NULL && strcmp(type, "key") == 0
                             ? "target must be a key id (key_ and 16 hexadecimal digits) when "
                               "target_type is key"
                             : "target must be an experiment, metric or saved group key (or a "
                               "key id): 1-64 characters of a-z 0-9 _ . - starting with a letter "
                               "or digit");
        return;
    }
    json_t *arr = json_array();
    struct err err;
    err_clear(&err);
    int rc = store_audit_list(http_req_app(r)->store, before, type, target, (int)limit,
                              AUDIT_PAGE_BYTES, audit_emit, arr, &err);
    if (rc < 0) {
        json_decref(arr);
        http_reply_err(r, &err);
        return;
    }
    size_t n = json_array_size(arr);
    json_t *next = json_null();
    if (n > 0 && (n == (size_t)limit || rc == 1)) {
        next = json_integer(json_integer_value(json_object_get(json_array_get(arr, n - 1), "id")));
    }
    http_reply_json(r, 200, json_pack("{s:o, s:o}", "entries", arr, "next_before", next));
}
