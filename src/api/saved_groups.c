/*
 * saved_groups.c - saved groups (API.md v1.1 "Variant values and hashing attribute"):
 *
 *   POST   /api/v1/saved-groups          create   {"key", "attribute", "values", "name"?}
 *   GET    /api/v1/saved-groups          list
 *   GET    /api/v1/saved-groups/{key}    one (strong ETag)
 *   PATCH  /api/v1/saved-groups/{key}    change name, attribute, values (If-Match honoured)
 *   DELETE /api/v1/saved-groups/{key}    409 while a running or paused experiment uses it
 *
 * Writes are built on an offload thread (the routes are ROUTE_OFFLOAD: a group of 100,000
 * values is ~1.7 MB to parse, check and dump), stored in the writer's transaction, audited
 * (without the values: their count and hash), bump the catalogue version (so other daemons
 * reload) and reload the snapshot, which carries the groups for $inGroup / $notInGroup and
 * for the GrowthBook payload's savedGroups. Threads: MHD's and the offload threads (handlers),
 * the writer (apply), the thread that reloads (api_saved_groups_attach; the hint under
 * hint_mu).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/jsonw.h"
#include "bunsen/saved_group.h"
#include "bunsen/util.h"

/* ---- the snapshot's copy ----
 * A reload after any definition change lists the groups' (key, version) pairs (no text), and
 * a group whose version is the one the previous snapshot loaded is taken from it as it is,
 * parsed values and compiled set included: the stored text of a group of 100,000 values
 * (~1.7 MB) is read, parsed and compiled only when the group changes. Every write takes a
 * version never used before (store.h store_saved_group_versions), so an equal pair means the
 * same stored text. (Before, every reload read and hashed every group's text: 8 groups of
 * 100,000 values cost each 1-value edit of any group ~14 MB read and hashed.) */

static _Atomic uint64_t group_loads; /* bunsen_saved_group_loads_total */

uint64_t api_saved_group_loads(void)
{
    return atomic_load(&group_loads);
}

struct attach {
    json_t *groups, *versions;   /* this snapshot's */
    const struct snapshot *prev; /* the published one, or NULL */
    json_t *changed;             /* keys whose version moved (or new) */
};

/* The group a write has just stored, parsed (the request thread built it): the reload after
 * the write takes it instead of parsing the stored text again (~1.7 MB at 100,000 values),
 * while the writer waits for that reload (a barrier). Keyed by the keyed hash of the stored
 * text, so a hint of a write that did not commit is never taken; one at a time (the last
 * write's), under hint_mu. */
static pthread_mutex_t hint_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *hint_doc;
static uint64_t hint_hash;

static void hint_set(uint64_t h, json_t *doc)
{
    pthread_mutex_lock(&hint_mu);
    json_decref(hint_doc);
    hint_doc = json_incref(doc);
    hint_hash = h;
    pthread_mutex_unlock(&hint_mu);
}

/* The hinted document of the text that hashes to h (a new reference, the hint cleared), or
 * NULL. */
static json_t *hint_take(uint64_t h)
{
    pthread_mutex_lock(&hint_mu);
    json_t *d = NULL;
    if (hint_doc != NULL && hint_hash == h) {
        d = hint_doc;
        hint_doc = NULL;
    }
    pthread_mutex_unlock(&hint_mu);
    return d;
}

static void attach_version(void *ctx, const char *key, int64_t version)
{
    struct attach *at = ctx;
    json_t *was = at->prev ? json_object_get(at->prev->group_versions, key) : NULL;
    json_t *d = at->prev ? json_object_get(at->prev->saved_groups, key) : NULL;
    if (was != NULL && d != NULL && json_integer_value(was) == version) {
        json_object_set(at->groups, key, d);
        json_object_set_new(at->versions, key, json_integer(version));
    } else {
        json_array_append_new(at->changed, json_string(key));
    }
}

/* Read, parse and add the changed group key (a version moved, or a new key): 0, or -1 with
 * err. A group deleted since the list is left out (its delete bumped the catalogue version:
 * another reload follows). */
static int attach_load(struct attach *at, struct store *store, const char *key, struct err *err)
{
    char *doc = NULL;
    int64_t version = 0;
    if (store_saved_group_read(store, key, &doc, &version, err) != 0) {
        if (err->code == ERR_NOT_FOUND) {
            err_clear(err);
            return 0;
        }
        return -1;
    }
    atomic_fetch_add(&group_loads, 1);
    json_t *d = hint_take(hash_keyed(doc, strlen(doc)));
    if (d == NULL) {
        d = json_loads(doc, 0, NULL);
    }
    free(doc);
    const char *k = json_string_value(json_object_get(d, "key"));
    if (k == NULL || strcmp(k, key) != 0) {
        log_json(LOG_ERROR, "skipping an unreadable stored saved group",
                 json_pack("{s:s}", "key", key));
        json_decref(d);
        return 0;
    }
    if (at->prev != NULL) {
        /* changed, but not its values (a rename): the previous list, whose compiled set
         * condition_compile_groups then keeps */
        json_t *old = json_object_get(json_object_get(at->prev->saved_groups, key), "values");
        json_t *now = json_object_get(d, "values");
        if (old != NULL && now != old && json_equal(old, now)) {
            json_object_set(d, "values", old);
        }
    }
    json_object_set(at->groups, key, d);
    json_object_set_new(at->versions, key, json_integer(version));
    json_decref(d);
    return 0;
}

int api_saved_groups_attach(struct snapshot *snap, const struct snapshot *prev, struct store *store,
                            struct err *err)
{
    struct attach at = {
        .groups = json_object(), .versions = json_object(), .prev = prev, .changed = json_array()};
    int rc = store_saved_group_versions(store, attach_version, &at, err);
    size_t i;
    json_t *k;
    json_array_foreach(at.changed, i, k)
    {
        if (rc == 0) {
            rc = attach_load(&at, store, json_string_value(k), err);
        }
    }
    json_decref(at.changed);
    if (rc != 0) {
        json_decref(at.groups);
        json_decref(at.versions);
        return -1;
    }
    json_t *values = json_object();
    const char *key;
    json_t *d;
    json_object_foreach(at.groups, key, d)
    {
        json_object_set(values, key, json_object_get(d, "values"));
    }
    snap->saved_groups = at.groups;
    snap->group_versions = at.versions;
    snap->group_values = values;
    /* groups of 100,000 values: sets, shared with prev for the lists kept. Every entry's
     * targeting is evaluated with them (assign_decide_budget): not bound into the entries,
     * which other snapshots, with other groups, share */
    snap->group_sets = condition_compile_groups(values, prev ? prev->group_sets : NULL);
    return 0;
}

/* The stored groups by key, parsed (the check below reads them in the writer's tx). */
static void check_emit(void *ctx, const char *doc)
{
    json_t *d = json_loads(doc, 0, NULL);
    const char *key = json_string_value(json_object_get(d, "key"));
    if (key != NULL) {
        json_object_set((json_t *)ctx, key, d);
    }
    json_decref(d);
}

int api_saved_groups_check(struct store_tx *tx, const json_t *condition, struct err *err)
{
    json_t *groups = json_object();
    if (store_saved_group_list(NULL, tx, check_emit, groups, err) != 0) {
        json_decref(groups);
        return -1;
    }
    const char *missing = saved_group_missing(condition, groups);
    int rc = 0;
    if (missing != NULL && missing[0] == '\0') {
        rc = err_set(err, ERR_INVALID, "targeting",
                     "$inGroup / $notInGroup take the key of a saved group (a string)");
    } else if (missing != NULL) {
        rc = err_set(err, ERR_INVALID, "targeting",
                     "targeting uses saved group '%.64s', which does not exist: create it with "
                     "POST /api/v1/saved-groups first",
                     missing);
    }
    json_decref(groups);
    return rc;
}

/* ---- writes ----
 * A group of 100,000 values is ~1.7 MB of JSON: parsing, checking and dumping it, and two
 * copies of it in the audit, held the writer ~0.4 s per edit, and every write behind it
 * waited. So the request thread builds everything (the document to store, its reply, the
 * audit's summaries) and the writer's transaction only checks and stores: for a PATCH,
 * If-Match against the stored document and that the stored document is still the one the
 * edit was built on (else it builds the edit again there, from the stored one). */

struct group_write {
    struct api_doc_write dw; /* dw.key: the group's key (a create's too) */
    char *text;              /* the document to store (owned) */
    char *audit_before;      /* its audit summaries (owned); NULL for a create */
    char *audit_after;
    json_t *doc;        /* text parsed (owned), for the reload after the write (hint_set) */
    uint64_t text_hash; /* hash_keyed of text */
    int64_t created_at, updated_at;
    char base[API_ETAG_LEN]; /* PATCH: ETag of the stored document it was built on, "" none */
};

static void group_write_cleanup(struct api_write *w)
{
    struct group_write *gw = (struct group_write *)w;
    free(gw->text);
    free(gw->audit_before);
    free(gw->audit_after);
    json_decref(gw->doc);
    api_doc_write_cleanup(w);
}

/* The audit's copy of a group: the document with values_count and values_hash (the hex
 * BLAKE2b-128 of the values' compact JSON, as an ETag's) in place of its values. malloc'd
 * JSON text, or NULL. */
static char *audit_summary(json_t *doc)
{
    json_t *s = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        if (strcmp(k, "values") != 0) {
            json_object_set(s, k, v);
            continue;
        }
        char *vt = jsonw_dumps(v, NULL); /* the text a GET shows */
        char tag[API_ETAG_LEN];
        api_etag(vt ? vt : "", tag);
        free(vt);
        tag[API_ETAG_LEN - 2] = '\0'; /* without the quotes */
        json_object_set_new(s, "values_count", json_integer((json_int_t)json_array_size(v)));
        json_object_set_new(s, "values_hash", json_string(tag + 1));
    }
    char *text = json_dumps(s, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(s);
    return text;
}

/* gw's texts from doc (the group to store) and before (the stored one, NULL for a create),
 * replacing any earlier ones. 0, or -1 with err when jansson cannot encode them. */
static int group_write_fill(struct group_write *gw, json_t *doc, json_t *before, struct err *err)
{
    free(gw->text);
    free(gw->audit_before);
    free(gw->audit_after);
    free(gw->dw.result_text);
    json_decref(gw->doc);
    gw->doc = json_incref(doc);
    gw->text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    gw->text_hash = gw->text != NULL ? hash_keyed(gw->text, strlen(gw->text)) : 0;
    /* what http_reply_json would send */
    gw->dw.result_text = jsonw_dumps(doc, NULL);
    gw->audit_after = audit_summary(doc);
    gw->audit_before = before != NULL ? audit_summary(before) : NULL;
    gw->created_at = json_integer_value(json_object_get(doc, "created_at"));
    gw->updated_at = json_integer_value(json_object_get(doc, "updated_at"));
    if (gw->text == NULL || gw->dw.result_text == NULL || gw->audit_after == NULL ||
        (before != NULL && gw->audit_before == NULL)) {
        return err_set(err, ERR_INTERNAL, NULL, "cannot encode the saved group");
    }
    return 0;
}

/* Inside the transaction: store gw's document, audit it, bump the catalogue version. */
static int group_store(struct store_tx *tx, struct group_write *gw, bool create, struct err *err)
{
    int rc = store_saved_group_put(tx, gw->dw.key, gw->text, gw->created_at, gw->updated_at, create,
                                   err);
    if (rc == 0) {
        api_etag(gw->text, gw->dw.etag);
        rc = api_audit_text(tx, gw->dw.w.req, create ? "saved_group.create" : "saved_group.update",
                            "saved_group", gw->dw.key, gw->audit_before, gw->audit_after, err);
    }
    if (rc == 0) {
        rc = store_catalog_bump(tx, err);
    }
    if (rc == 0) {
        hint_set(gw->text_hash, gw->doc);
    }
    return rc;
}

static struct group_write *
group_write_new(struct http_req *r, const char *key,
                int (*apply)(struct store_tx *tx, struct api_write *w, struct err *err), int status)
{
    struct group_write *gw =
        (struct group_write *)api_doc_write_new(r, sizeof(*gw), key, apply, status);
    gw->dw.w.cleanup = group_write_cleanup;
    return gw;
}

static int create_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    return group_store(tx, (struct group_write *)w, true, err);
}

/* The values cap, before jansson builds the body: an 8 MiB array of 4 million numbers took
 * 845 MB by the time saved_group_from_json could count it. false after replying with its
 * 400. */
static bool values_within_cap(struct http_req *r)
{
    size_t len = 0;
    const char *text = http_req_body(r, &len);
    if (api_json_count_items(text, len, "values", SAVED_GROUP_MAX_VALUES) <=
        SAVED_GROUP_MAX_VALUES) {
        return true;
    }
    http_reply_error(r, ERR_INVALID, "values", "a saved group has at most %d values",
                     SAVED_GROUP_MAX_VALUES);
    return false;
}

void api_saved_groups_create(struct http_req *r)
{
    if (!values_within_cap(r)) {
        return;
    }
    json_t *body = http_req_json_body(r);
    if (body == NULL) {
        return;
    }
    json_t *doc;
    struct err err;
    err_clear(&err);
    int rc = saved_group_from_json(body, MODEL_CREATE, NULL, &doc, &err); /* 400 at once */
    json_decref(body);
    if (rc != 0) {
        http_reply_err(r, &err);
        return;
    }
    int64_t now = time_now_ms();
    json_object_set_new(doc, "created_at", json_integer(now));
    json_object_set_new(doc, "updated_at", json_integer(now));
    struct group_write *gw =
        group_write_new(r, json_string_value(json_object_get(doc, "key")), create_apply, 201);
    rc = group_write_fill(gw, doc, NULL, &err);
    json_decref(doc);
    if (rc != 0) {
        group_write_cleanup(&gw->dw.w);
        http_reply_err(r, &err);
        return;
    }
    api_write_submit(r, &gw->dw.w);
}

struct list_ctx {
    json_t *arr;
    bool values; /* false: values_count instead of the values (?values=false) */
};

static void list_emit(void *ctx, const char *doc)
{
    struct list_ctx *lc = ctx;
    json_t *v = json_loads(doc, 0, NULL);
    if (v == NULL) {
        return;
    }
    if (!lc->values) {
        size_t n = json_array_size(json_object_get(v, "values"));
        json_object_del(v, "values");
        json_object_set_new(v, "values_count", json_integer((json_int_t)n));
    }
    json_array_append_new(lc->arr, v);
}

/* ?values=false lists each group with values_count instead of its values: ten groups at the
 * cap were ~10 MB for a table of names. */
void api_saved_groups_list(struct http_req *r)
{
    bool values;
    if (api_query_bool(r, "values", true, &values) != 0) {
        return;
    }
    json_t *arr = json_array();
    struct list_ctx lc = {.arr = arr, .values = values};
    struct err err;
    err_clear(&err);
    if (store_saved_group_list(http_req_app(r)->store, NULL, list_emit, &lc, &err) != 0) {
        json_decref(arr);
        http_reply_err(r, &err);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "saved_groups", arr));
}

void api_saved_groups_get(struct http_req *r)
{
    api_doc_get(r, "saved group", store_saved_group_get);
}

/* The edit of body on the stored document text into gw (its texts). */
static int patch_build(struct group_write *gw, const char *stored, struct err *err)
{
    json_t *before = json_loads(stored, 0, NULL), *next = NULL;
    if (before == NULL) {
        return err_set(err, ERR_INTERNAL, NULL, "stored saved group is not JSON");
    }
    int rc = saved_group_from_json(gw->dw.body, MODEL_PATCH, before, &next, err);
    if (rc == 0) {
        json_object_set_new(next, "updated_at", json_integer(time_now_ms()));
        rc = group_write_fill(gw, next, before, err);
    }
    json_decref(next);
    json_decref(before);
    return rc;
}

static int patch_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct group_write *gw = (struct group_write *)w;
    char *stored = NULL;
    if (store_saved_group_get(NULL, tx, gw->dw.key, &stored, err) != 0) {
        return -1;
    }
    char etag[API_ETAG_LEN];
    int rc = api_doc_precondition("saved group", gw->dw.key, stored, gw->dw.if_match, etag, err);
    if (rc == 0 && strcmp(etag, gw->base) != 0) {
        /* another write since the request thread read it (or it did not build the edit):
         * the edit again, of the stored document */
        gw->base[0] = '\0';
        rc = patch_build(gw, stored, err);
        if (rc == 0) {
            snprintf(gw->base, sizeof(gw->base), "%s", etag);
        }
    }
    free(stored);
    return rc == 0 ? group_store(tx, gw, false, err) : -1;
}

/* The edit is built here, on the stored document as read now; the writer stores it when that
 * is still the stored one. Built here only when If-Match (if any) admits that document: a 412
 * still comes from the transaction, before the body's 400, as for other documents. */
void api_saved_groups_patch(struct http_req *r)
{
    if (!values_within_cap(r)) {
        return;
    }
    const char *key = api_key_param(r, "saved group");
    if (key == NULL) {
        return;
    }
    json_t *body = http_req_json_body(r);
    if (body == NULL) {
        return;
    }
    struct group_write *gw = group_write_new(r, key, patch_apply, 200);
    gw->dw.body = body;
    struct err err;
    err_clear(&err);
    char *stored = NULL;
    char etag[API_ETAG_LEN];
    int rc = store_saved_group_get(http_req_app(r)->store, NULL, key, &stored, &err);
    if (rc == 0) {
        api_etag(stored, etag);
    }
    if (rc == 0 && api_if_match(gw->dw.if_match, etag)) {
        rc = patch_build(gw, stored, &err);
        if (rc == 0) {
            snprintf(gw->base, sizeof(gw->base), "%s", etag);
        }
    }
    free(stored);
    if (rc != 0) {
        group_write_cleanup(&gw->dw.w);
        http_reply_err(r, &err);
        return;
    }
    api_write_submit(r, &gw->dw.w);
}

static int delete_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct api_doc_write *gw = (struct api_doc_write *)w;
    json_t *before = NULL;
    if (api_doc_load(tx, "saved group", store_saved_group_get, gw->key, gw->if_match, &before,
                     err) != 0) {
        return -1;
    }
    /* experiment writes are barriers that reload the snapshot before the next job: it
     * holds every committed experiment */
    struct snapshot_cell *cell = http_req_app(w->req)->experiments;
    const struct snapshot *snap = snapshot_read_begin(cell);
    const char *user = NULL;
    for (size_t i = 0; i < snap->n && user == NULL; i++) {
        const struct experiment *x = &snap->entries[i]->x;
        if ((x->status == ASSIGN_STATUS_RUNNING || x->status == ASSIGN_STATUS_PAUSED) &&
            saved_group_is_used(x->targeting, gw->key)) {
            user = x->key;
        }
    }
    int rc = 0;
    if (user != NULL) {
        rc = err_set(err, ERR_CONFLICT, "key",
                     "saved group '%s' is used by the targeting of '%s', which is %s: stop it "
                     "first",
                     gw->key, user, "running or paused");
    }
    snapshot_read_end(cell, snap);
    if (rc == 0) {
        rc = store_saved_group_delete(tx, gw->key, err);
    }
    if (rc == 0) {
        char *summary = audit_summary(before);
        rc = api_audit_text(tx, w->req, "saved_group.delete", "saved_group", gw->key, summary, NULL,
                            err);
        free(summary);
    }
    if (rc == 0) {
        rc = store_catalog_bump(tx, err);
    }
    if (rc == 0) {
        gw->result = json_pack("{s:s, s:b}", "key", gw->key, "deleted", 1);
    }
    json_decref(before);
    return rc;
}

void api_saved_groups_delete(struct http_req *r)
{
    api_doc_submit(r, "saved group", false, delete_apply);
}
