/*
 * metrics.c - the metrics catalogue: create, list, get, patch, delete (API.md "Metrics").
 * Writes run inside the writer's transaction: the read-modify-write of a PATCH and the
 * "still used by an experiment?" check of a DELETE see a consistent database.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/model.h"
#include "bunsen/util.h"

static int save(struct store_tx *tx, struct api_doc_write *mw, struct metric *m, bool create,
                const json_t *before, struct err *err)
{
    json_t *doc = metric_to_json(m);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc = store_metric_put(tx, m->key, text, m->created_at, m->updated_at, create, err);
    if (rc == 0) {
        api_etag(text, mw->etag);
    }
    free(text);
    if (rc == 0) {
        rc = api_audit(tx, mw->w.req, create ? "metric.create" : "metric.update", "metric", m->key,
                       before, doc, err);
    }
    if (rc == 0) {
        mw->result = doc;
    } else {
        json_decref(doc);
    }
    return rc;
}

/* ---- ratios: a metric may be the numerator or denominator of ratio metrics ---- */

struct ratio_scan {
    const char *part;
    char **keys;
    size_t n;
};

static void ratio_scan_one(void *ctx, const char *doc)
{
    struct ratio_scan *rs = ctx;
    json_t *j = json_loads(doc, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *num = json_string_value(json_object_get(j, "numerator"));
    const char *den = json_string_value(json_object_get(j, "denominator"));
    const char *key = json_string_value(json_object_get(j, "key"));
    if (type != NULL && strcmp(type, "ratio") == 0 && key != NULL &&
        ((num != NULL && strcmp(num, rs->part) == 0) ||
         (den != NULL && strcmp(den, rs->part) == 0))) {
        rs->keys = xrealloc(rs->keys, (rs->n + 1) * sizeof(*rs->keys));
        rs->keys[rs->n++] = xstrdup(key);
    }
    json_decref(j);
}

/* Keys of the ratio metrics that use metric as a part (*keys NULL when none; free with
 * store_keys_free). Read through the store's readers: catalogue writes are barriers that
 * commit alone in their group, so every earlier metric write is visible. */
static int ratios_using(struct api_write *w, const char *metric, char ***keys, size_t *n,
                        struct err *err)
{
    struct ratio_scan rs = {.part = metric};
    int rc = store_metric_list(http_req_app(w->req)->store, ratio_scan_one, &rs, err);
    if (rc != 0) {
        store_keys_free(rs.keys, rs.n);
        rs.keys = NULL;
        rs.n = 0;
    }
    *keys = rs.keys;
    *n = rs.n;
    return rc;
}

/* The experiments that analyse metric directly or through a ratio that uses it: a new
 * array without duplicates (store_keys_free). */
static int metric_users_all(struct store_tx *tx, struct api_write *w, const char *metric,
                            bool include_archived, char ***keys, size_t *n, struct err *err)
{
    char **users = NULL, **ratios = NULL;
    size_t nu = 0, nr = 0;
    if (store_metric_users(tx, metric, include_archived, &users, &nu, err) != 0 ||
        ratios_using(w, metric, &ratios, &nr, err) != 0) {
        store_keys_free(users, nu);
        return -1;
    }
    for (size_t r = 0; r < nr; r++) {
        char **more = NULL;
        size_t nm = 0;
        if (store_metric_users(tx, ratios[r], include_archived, &more, &nm, err) != 0) {
            store_keys_free(users, nu);
            store_keys_free(ratios, nr);
            return -1;
        }
        for (size_t i = 0; i < nm; i++) {
            bool seen = false;
            for (size_t k = 0; k < nu && !seen; k++) {
                seen = strcmp(users[k], more[i]) == 0;
            }
            if (seen) {
                free(more[i]);
            } else {
                users = xrealloc(users, (nu + 1) * sizeof(*users));
                users[nu++] = more[i];
            }
        }
        free(more);
    }
    store_keys_free(ratios, nr);
    *keys = users;
    *n = nu;
    return 0;
}

/* A ratio's numerator and denominator: existing metrics that are not ratios themselves. */
static int ratio_parts_check(struct store_tx *tx, const struct metric *m, struct err *err)
{
    if (m->type != STATS_METRIC_RATIO) {
        return 0;
    }
    const char *keys[] = {m->numerator, m->denominator};
    const char *fields[] = {"numerator", "denominator"};
    if (strcmp(m->numerator, m->denominator) == 0) {
        return err_set(err, ERR_INVALID, "denominator",
                       "the denominator must differ from the numerator ('%s')", m->numerator);
    }
    for (int i = 0; i < 2; i++) {
        char *doc = NULL;
        struct err e2;
        err_clear(&e2);
        if (store_metric_get(NULL, tx, keys[i], &doc, &e2) != 0) {
            return err_set(err, ERR_INVALID, fields[i], "no metric '%s'", keys[i]);
        }
        json_t *j = json_loads(doc, 0, NULL);
        free(doc);
        const char *type = json_string_value(json_object_get(j, "type"));
        bool ratio = type != NULL && strcmp(type, "ratio") == 0;
        json_decref(j);
        if (ratio) {
            return err_set(err, ERR_INVALID, fields[i], "'%s' is itself a ratio", keys[i]);
        }
    }
    return 0;
}

static int create_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct api_doc_write *mw = (struct api_doc_write *)w;
    struct metric m;
    if (metric_from_json(mw->body, MODEL_CREATE, NULL, &m, err) != 0 ||
        ratio_parts_check(tx, &m, err) != 0) {
        return -1;
    }
    m.created_at = m.updated_at = time_now_ms();
    return save(tx, mw, &m, true, NULL, err);
}

void api_metrics_create(struct http_req *r)
{
    json_t *body = http_req_json_body(r);
    if (body == NULL) {
        return;
    }
    struct metric m;
    struct err err;
    err_clear(&err);
    if (metric_from_json(body, MODEL_CREATE, NULL, &m, &err) != 0) { /* 400 before queueing */
        json_decref(body);
        http_reply_err(r, &err);
        return;
    }
    struct api_doc_write *mw = api_doc_write_new(r, sizeof(*mw), NULL, create_apply, 201);
    mw->body = body;
    api_write_submit(r, &mw->w);
}

void api_metrics_list(struct http_req *r)
{
    json_t *arr = json_array();
    struct err err;
    err_clear(&err);
    if (store_metric_list(http_req_app(r)->store, api_doc_list_append, arr, &err) != 0) {
        json_decref(arr);
        http_reply_err(r, &err);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "metrics", arr));
}

void api_metrics_get(struct http_req *r)
{
    api_doc_get(r, "metric", store_metric_get);
}

/* The stored metric inside the transaction, after checking If-Match (NULL = unconditional)
 * against the ETag of the stored document (api_doc_load); *before: the document. */
static int load(struct store_tx *tx, const char *key, const char *if_match, struct metric *m,
                json_t **before, struct err *err)
{
    if (api_doc_load(tx, "metric", store_metric_get, key, if_match, before, err) != 0) {
        return -1;
    }
    if (metric_from_json(*before, MODEL_LOAD, NULL, m, err) != 0) {
        json_decref(*before);
        *before = NULL;
        return -1;
    }
    return 0;
}

/* The metric's definition changed: every experiment using it recomputes its roll-ups, and
 * the catalogue version moves so that every daemon rebuilds its attribution rules. Where
 * the recompute runs beside ingestion, the definition before the change (`before`) is
 * recorded with the kept roll-ups: results read them with it until the rebuild ends. */
static int rebuild_users(struct store_tx *tx, struct api_write *w, const char *metric,
                         const json_t *before, struct err *err)
{
    char **users = NULL;
    size_t n = 0;
    /* archived experiments are not rebuilt: compaction may have removed their raw rows */
    if (metric_users_all(tx, w, metric, false, &users, &n, err) != 0) {
        return -1;
    }
    char *doc = n > 0 ? json_dumps(before, JSON_COMPACT) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct experiment x;
        int rc = api_experiment_load(NULL, tx, users[i], &x, err);
        if (rc == 0) {
            rc = api_rollup_rebuild(tx, &x, err);
            experiment_clear(&x);
        }
        if (rc == 0) {
            rc = store_rebuild_keep_metric(tx, users[i], metric, doc, err);
        }
        if (rc != 0) {
            free(doc);
            store_keys_free(users, n);
            return -1;
        }
    }
    free(doc);
    store_keys_free(users, n);
    return store_catalog_bump(tx, err);
}

/* The first field whose change could change a result (anything but the display fields), or
 * NULL. New fields of the metric document count as results-changing by default. */
static const char *results_change(const json_t *before, const json_t *after)
{
    static const char *const display[] = {"name",     "description", "unit",
                                          "currency", "created_at",  "updated_at"};
    const json_t *docs[2] = {after, before};
    for (int d = 0; d < 2; d++) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)(uintptr_t)docs[d], k, v)
        {
            bool shown_only = false;
            for (size_t i = 0; i < sizeof(display) / sizeof(display[0]); i++) {
                shown_only = shown_only || strcmp(k, display[i]) == 0;
            }
            if (!shown_only && !json_equal(v, json_object_get(docs[1 - d], k))) {
                return k;
            }
        }
    }
    return NULL;
}

/* A stopped or archived experiment analyses the metric: its results are frozen (API.md
 * "Concurrency control"), so the metric's results-changing fields are too. */
static int check_frozen_users(struct store_tx *tx, struct api_write *w, const char *metric,
                              const char *field, struct err *err)
{
    char **users = NULL;
    size_t n = 0;
    if (metric_users_all(tx, w, metric, true, &users, &n, err) != 0) {
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *doc = NULL;
        rc = store_experiment_get(NULL, tx, users[i], &doc, err);
        json_t *j = rc == 0 ? json_loads(doc, 0, NULL) : NULL;
        free(doc);
        const char *st = json_string_value(json_object_get(j, "status"));
        if (st != NULL && (strcmp(st, "stopped") == 0 || strcmp(st, "archived") == 0)) {
            rc = err_set(err, ERR_CONFLICT, field,
                         "changing %s of metric '%s' would rewrite the frozen results of %s "
                         "experiment '%s': create a new metric instead",
                         field, metric, st, users[i]);
        }
        json_decref(j);
    }
    store_keys_free(users, n);
    return rc;
}

static int patch_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct api_doc_write *mw = (struct api_doc_write *)w;
    struct metric cur, next;
    json_t *before = NULL;
    if (load(tx, mw->key, mw->if_match, &cur, &before, err) != 0) {
        return -1;
    }
    int rc = metric_from_json(mw->body, MODEL_PATCH, &cur, &next, err);
    if (rc == 0) {
        rc = ratio_parts_check(tx, &next, err);
    }
    if (rc == 0 && next.type == STATS_METRIC_RATIO && cur.type != STATS_METRIC_RATIO) {
        char **ratios = NULL;
        size_t nr = 0;
        rc = ratios_using(w, mw->key, &ratios, &nr, err);
        if (rc == 0 && nr > 0) {
            rc = err_set(err, ERR_INVALID, "type",
                         "metric '%s' is a part of ratio metric '%s': a ratio cannot be made "
                         "of ratios",
                         mw->key, ratios[0]);
        }
        store_keys_free(ratios, nr);
    }
    if (rc == 0) {
        next.updated_at = time_now_ms();
        rc = save(tx, mw, &next, false, before, err);
    }
    const char *field = rc == 0 ? results_change(before, mw->result) : NULL;
    if (field != NULL) {
        rc = check_frozen_users(tx, w, mw->key, field, err);
    }
    /* a display-only edit (name, description, unit) changes no result: no rebuild (every
     * experiment using the metric, stopped ones included, was rebuilt for a new name) */
    if (rc == 0) {
        rc = field != NULL ? rebuild_users(tx, w, mw->key, before, err)
                           : store_catalog_bump(tx, err);
    }
    json_decref(before);
    return rc;
}

void api_metrics_patch(struct http_req *r)
{
    api_doc_submit(r, "metric", true, patch_apply);
}

static int delete_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct api_doc_write *mw = (struct api_doc_write *)w;
    struct metric cur;
    json_t *before = NULL;
    if (load(tx, mw->key, mw->if_match, &cur, &before, err) != 0) {
        return -1;
    }
    char **users = NULL;
    size_t n = 0;
    int rc = store_metric_users(tx, mw->key, true, &users, &n, err);
    if (rc == 0 && n > 0) {
        /* archived experiments count: their results still read the metric's definition.
         * Stopped and archived ones can no longer drop a metric, so "remove it from them"
         * would send the caller to an edit that is refused. */
        rc = err_set(err, ERR_CONFLICT, "key",
                     "metric '%s' is used by %zu experiment%s (%s%s): drafts, running and "
                     "paused ones can drop it; stopped and archived ones keep it (make a new "
                     "metric instead)",
                     mw->key, n, n == 1 ? "" : "s", users[0], n > 1 ? ", ..." : "");
    }
    store_keys_free(users, n);
    if (rc == 0) {
        char **ratios = NULL;
        size_t nr = 0;
        rc = ratios_using(w, mw->key, &ratios, &nr, err);
        if (rc == 0 && nr > 0) {
            rc = err_set(err, ERR_CONFLICT, "key",
                         "metric '%s' is a part of ratio metric%s %s%s: delete or change %s "
                         "first",
                         mw->key, nr == 1 ? "" : "s", ratios[0], nr > 1 ? ", ..." : "",
                         nr == 1 ? "it" : "them");
        }
        store_keys_free(ratios, nr);
    }
    if (rc == 0) {
        rc = store_metric_delete(tx, mw->key, err);
    }
    if (rc == 0) {
        rc = api_audit(tx, w->req, "metric.delete", "metric", mw->key, before, NULL, err);
    }
    if (rc == 0) {
        mw->result = json_pack("{s:s, s:b}", "key", mw->key, "deleted", 1);
    }
    json_decref(before);
    return rc;
}

void api_metrics_delete(struct http_req *r)
{
    api_doc_submit(r, "metric", false, delete_apply);
}
