/*
 * saved_groups.c - saved groups (API.md v1.1 "Variant values and hashing attribute"):
 *
 *   POST   /api/v1/saved-groups          create   {"key", "attribute", "values", "name"?}
 *   GET    /api/v1/saved-groups          list
 *   GET    /api/v1/saved-groups/{key}    one (strong ETag)
 *   PATCH  /api/v1/saved-groups/{key}    change name, attribute, values (If-Match honoured)
 *   DELETE /api/v1/saved-groups/{key}    409 while a running or paused experiment uses it
 *
 * Writes run in the writer's transaction, are audited, bump the catalogue version (so other
 * daemons reload) and reload the snapshot, which carries the groups for $inGroup /
 * $notInGroup and for the GrowthBook payload's savedGroups. Request threads only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/saved_group.h"
#include "bunsen/util.h"

/* ---- the snapshot's copy ----
 * A reload after any definition change reads every group again. A group whose stored
 * document is the one the previous snapshot parsed (the same keyed hash of its text) is
 * taken from it as it is, parsed values and compiled set included: a group of 100,000
 * values costs its parse and its set only when it changes. */

struct attach {
    json_t *groups, *hashes;     /* this snapshot's */
    const struct snapshot *prev; /* the published one, or NULL */
};

static void attach_emit(void *ctx, const char *doc)
{
    struct attach *at = ctx;
    char h[17];
    snprintf(h, sizeof(h), "%016llx", (unsigned long long)hash_keyed(doc, strlen(doc)));
    const char *was =
        at->prev ? json_string_value(json_object_get(at->prev->group_hashes, h)) : NULL;
    json_t *d = was != NULL ? json_incref(json_object_get(at->prev->saved_groups, was))
                            : json_loads(doc, 0, NULL);
    const char *key = json_string_value(json_object_get(d, "key"));
    if (key != NULL) {
        json_object_set(at->groups, key, d);
        json_object_set_new(at->hashes, h, json_string(key));
    }
    json_decref(d);
}

int api_saved_groups_attach(struct snapshot *snap, const struct snapshot *prev, struct store *store,
                            struct err *err)
{
    struct attach at = {.groups = json_object(), .hashes = json_object(), .prev = prev};
    if (store_saved_group_list(store, NULL, attach_emit, &at, err) != 0) {
        json_decref(at.groups);
        json_decref(at.hashes);
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
    snap->group_hashes = at.hashes;
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

/* ---- writes ---- */

static int save(struct store_tx *tx, struct api_doc_write *gw, json_t *doc, bool create,
                const json_t *before, struct err *err)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    const char *key = json_string_value(json_object_get(doc, "key"));
    int rc =
        store_saved_group_put(tx, key, text, json_integer_value(json_object_get(doc, "created_at")),
                              json_integer_value(json_object_get(doc, "updated_at")), create, err);
    if (rc == 0) {
        api_etag(text, gw->etag);
        rc = api_audit(tx, gw->w.req, create ? "saved_group.create" : "saved_group.update",
                       "saved_group", key, before, doc, err);
    }
    free(text);
    if (rc == 0) {
        rc = store_catalog_bump(tx, err);
    }
    if (rc == 0) {
        gw->result = json_incref(doc);
    }
    return rc;
}

static int create_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct api_doc_write *gw = (struct api_doc_write *)w;
    json_t *doc;
    if (saved_group_from_json(gw->body, MODEL_CREATE, NULL, &doc, err) != 0) {
        return -1;
    }
    int64_t now = time_now_ms();
    json_object_set_new(doc, "created_at", json_integer(now));
    json_object_set_new(doc, "updated_at", json_integer(now));
    int rc = save(tx, gw, doc, true, NULL, err);
    json_decref(doc);
    return rc;
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
    if (saved_group_from_json(body, MODEL_CREATE, NULL, &doc, &err) != 0) { /* 400 at once */
        json_decref(body);
        http_reply_err(r, &err);
        return;
    }
    json_decref(doc);
    struct api_doc_write *gw = api_doc_write_new(r, sizeof(*gw), NULL, create_apply, 201);
    gw->body = body;
    api_write_submit(r, &gw->w);
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

static int patch_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct api_doc_write *gw = (struct api_doc_write *)w;
    json_t *before = NULL, *next = NULL;
    if (api_doc_load(tx, "saved group", store_saved_group_get, gw->key, gw->if_match, &before,
                     err) != 0) {
        return -1;
    }
    int rc = saved_group_from_json(gw->body, MODEL_PATCH, before, &next, err);
    if (rc == 0) {
        json_object_set_new(next, "updated_at", json_integer(time_now_ms()));
        rc = save(tx, gw, next, false, before, err);
    }
    json_decref(next);
    json_decref(before);
    return rc;
}

void api_saved_groups_patch(struct http_req *r)
{
    if (!values_within_cap(r)) {
        return;
    }
    api_doc_submit(r, "saved group", true, patch_apply);
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
        rc = api_audit(tx, w->req, "saved_group.delete", "saved_group", gw->key, before, NULL, err);
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
