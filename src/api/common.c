/*
 * common.c - the asynchronous write pattern, the catalogue documents' shared write, read
 * and If-Match checked load, small parsing helpers and the storing of answers' exposures
 * shared by the handlers (api_int.h).
 */
#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/jsonw.h"
#include "bunsen/log.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"

static int write_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct api_write *w = arg;
    return w->apply(tx, w, err);
}

static void write_users(void *arg, void (*emit)(void *ctx, const char *user_id), void *ctx)
{
    struct api_write *w = arg;
    w->users(w, emit, ctx);
}

static void write_done(void *arg, int rc, const struct err *err)
{
    struct api_write *w = arg;
    struct http_req *r = w->req;
    if (rc != 0) {
        http_reply_err(r, err);
    } else {
        w->render(w);
    }
    w->cleanup(w);
    http_req_resume(r);
}

void api_write_submit(struct http_req *r, struct api_write *w)
{
    w->req = r;
    w->job.apply = write_apply;
    w->job.done = write_done;
    w->job.arg = w;
    w->job.retryable = w->retryable;
    w->job.items = w->items;
    w->job.urgent = w->urgent;
    w->job.users = w->users != NULL ? write_users : NULL;
    w->job.apply_batch = w->retryable ? w->apply_batch : NULL;
    struct err err;
    err_clear(&err);
    http_req_suspend(r);
    if (store_submit(http_req_app(r)->store, &w->job, &err) != 0) {
        http_reply_err(r, &err); /* 503 + Retry-After */
        w->cleanup(w);
        http_req_resume(r);
    }
}

int api_audit(struct store_tx *tx, struct http_req *r, const char *action, const char *target_type,
              const char *target, const json_t *before, const json_t *after, struct err *err)
{
    char *b = before ? json_dumps(before, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char *a = after ? json_dumps(after, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    int rc = api_audit_text(tx, r, action, target_type, target, b, a, err);
    free(b);
    free(a);
    return rc;
}

int api_audit_text(struct store_tx *tx, struct http_req *r, const char *action,
                   const char *target_type, const char *target, const char *b, const char *a,
                   struct err *err)
{
    struct store_audit e = {
        .actor_id = http_req_key_id(r),
        .actor_name = http_req_key_name(r),
        .action = action,
        .target_type = target_type,
        .target = target,
        .before_json = b,
        .after_json = a,
    };
    return store_audit_append(tx, &e, err);
}

int api_query_int(struct http_req *r, const char *name, long lo, long hi, long def, long *out)
{
    const char *v = http_req_query(r, name);
    if (v == NULL || *v == '\0') {
        *out = def;
        return 0;
    }
    /* decimal digits only (strtol alone also takes white space and a "+") */
    bool digits = strspn(v + (v[0] == '-'), "0123456789") == strlen(v + (v[0] == '-')) &&
                  v[v[0] == '-'] != '\0';
    char *end = NULL;
    errno = 0;
    long x = digits ? strtol(v, &end, 10) : 0;
    if (!digits || errno != 0 || x < lo || x > hi) {
        http_reply_error(r, ERR_INVALID, name, "'%s' must be an integer in [%ld, %ld]", name, lo,
                         hi);
        return -1;
    }
    *out = x;
    return 0;
}

int api_query_bool(struct http_req *r, const char *name, bool def, bool *out)
{
    const char *v = http_req_query(r, name);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = false;
        return 0;
    }
    http_reply_error(r, ERR_INVALID, name, "%s must be true or false", name);
    return -1;
}

int api_experiment_load(struct store *s, struct store_tx *tx, const char *key, struct experiment *x,
                        struct err *err)
{
    char *doc = NULL;
    if (store_experiment_get(s, tx, key, &doc, err) != 0) {
        return -1;
    }
    json_t *j = json_loads(doc, 0, NULL);
    free(doc);
    int rc = j ? experiment_from_json(j, MODEL_LOAD, NULL, x, err)
               : err_set(err, ERR_INTERNAL, NULL, "stored experiment is not JSON");
    json_decref(j);
    return rc;
}

void api_etag(const char *doc, char out[API_ETAG_LEN])
{
    unsigned char h[16];
    crypto_generichash(h, sizeof(h), (const unsigned char *)doc, strlen(doc), NULL, 0);
    out[0] = '"';
    for (size_t i = 0; i < sizeof(h); i++) {
        snprintf(out + 1 + 2 * i, 3, "%02x", h[i]);
    }
    out[API_ETAG_LEN - 2] = '"';
    out[API_ETAG_LEN - 1] = '\0';
}

/* Does the comma-separated list name "*" or etag (weak tags W/".." too when weak_ok)? */
static bool tag_list_any(const char *header, const char *etag, bool weak_ok)
{
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        const char *start = p;
        while (*p != '\0' && *p != ',') {
            p++;
        }
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        size_t len = (size_t)(end - start);
        if (len == 1 && start[0] == '*') {
            return true;
        }
        if (len > 2 && start[0] == 'W' && start[1] == '/') {
            if (!weak_ok) {
                continue;
            }
            start += 2;
            len -= 2;
        }
        if (len == elen && memcmp(start, etag, len) == 0) {
            return true;
        }
    }
    return false;
}

bool api_if_match(const char *header, const char *etag)
{
    return header == NULL || tag_list_any(header, etag, false);
}

/* Does If-None-Match (NULL = absent) match etag (weak comparison)? Then a GET answers 304. */
static bool if_none_match(const char *header, const char *etag)
{
    return header != NULL && tag_list_any(header, etag, true);
}

void api_reply_document(struct http_req *r, const char *doc)
{
    char etag[API_ETAG_LEN];
    api_etag(doc, etag);
    if (if_none_match(http_req_header(r, "If-None-Match"), etag)) {
        /* the 200's length, which a 304's Content-Length must equal (it said 0) */
        json_t *j = json_loads(doc, 0, NULL);
        char *text = j ? jsonw_dumps(j, NULL) : NULL;
        json_decref(j);
        if (text == NULL) {
            http_reply_error(r, ERR_INTERNAL, NULL, "cannot encode the document");
            return;
        }
        http_reply_not_modified(r, strlen(text));
        free(text);
    } else {
        http_reply_json(r, 200, json_loads(doc, 0, NULL));
    }
    http_reply_header(r, "ETag", etag);
}

/* ---- catalogue documents ---- */

static void doc_write_render(struct api_write *w)
{
    struct api_doc_write *dw = (struct api_doc_write *)w;
    struct err err;
    err_clear(&err);
    if (api_experiments_reload_unless(http_req_app(w->req), -1, &err) != 0) {
        log_json(LOG_ERROR, "snapshot reload failed", json_pack("{s:s}", "error", err.msg));
    }
    if (dw->result_text != NULL) {
        http_reply_json_text(w->req, dw->status, dw->result_text, strlen(dw->result_text));
        dw->result_text = NULL; /* the reply's now */
    } else {
        http_reply_json(w->req, dw->status, json_incref(dw->result));
    }
    if (dw->etag[0] != '\0') {
        http_reply_header(w->req, "ETag", dw->etag);
    }
}

void api_doc_write_cleanup(struct api_write *w)
{
    struct api_doc_write *dw = (struct api_doc_write *)w;
    json_decref(dw->body);
    json_decref(dw->result);
    free(dw->result_text);
    free(dw->if_match);
    free(dw);
}

struct api_doc_write *api_doc_write_new(struct http_req *r, size_t size, const char *key,
                                        int (*apply)(struct store_tx *tx, struct api_write *w,
                                                     struct err *err),
                                        int status)
{
    assert(size >= sizeof(struct api_doc_write));
    struct api_doc_write *dw = xcalloc(1, size);
    if (key != NULL) {
        snprintf(dw->key, sizeof(dw->key), "%s", key);
    }
    const char *if_match = http_req_header(r, "If-Match");
    dw->if_match = if_match != NULL ? xstrdup(if_match) : NULL;
    dw->w.apply = apply;
    dw->w.render = doc_write_render;
    dw->w.cleanup = api_doc_write_cleanup;
    dw->status = status;
    dw->w.job.barrier = true; /* later writes see the reloaded snapshot, rules and groups */
    return dw;
}

int api_doc_precondition(const char *kind, const char *key, const char *text, const char *if_match,
                         char etag[API_ETAG_LEN], struct err *err)
{
    api_etag(text, etag);
    if (!api_if_match(if_match, etag)) {
        return err_set(err, ERR_PRECONDITION, NULL,
                       "%s '%s' changed since it was read (If-Match does not match its ETag): "
                       "reload it and apply the change again",
                       kind, key);
    }
    return 0;
}

int api_doc_load(struct store_tx *tx, const char *kind,
                 int (*get)(struct store *s, struct store_tx *tx, const char *key, char **doc,
                            struct err *err),
                 const char *key, const char *if_match, json_t **doc, struct err *err)
{
    char *text = NULL;
    if (get(NULL, tx, key, &text, err) != 0) {
        return -1;
    }
    char etag[API_ETAG_LEN];
    if (api_doc_precondition(kind, key, text, if_match, etag, err) != 0) {
        free(text);
        return -1;
    }
    *doc = json_loads(text, 0, NULL);
    free(text);
    return *doc ? 0 : err_set(err, ERR_INTERNAL, NULL, "stored %s is not JSON", kind);
}

const char *api_key_param(struct http_req *r, const char *kind)
{
    const char *key = http_req_param(r, "key");
    if (key == NULL || !key_valid(key)) {
        http_reply_error(r, ERR_NOT_FOUND, NULL, "no %s '%.64s'", kind, key ? key : "");
        return NULL;
    }
    return key;
}

void api_doc_submit(struct http_req *r, const char *kind, bool with_body,
                    int (*apply)(struct store_tx *tx, struct api_write *w, struct err *err))
{
    const char *key = api_key_param(r, kind);
    if (key == NULL) {
        return;
    }
    json_t *body = NULL;
    if (with_body && (body = http_req_json_body(r)) == NULL) {
        return;
    }
    struct api_doc_write *dw = api_doc_write_new(r, sizeof(*dw), key, apply, 200);
    dw->body = body;
    api_write_submit(r, &dw->w);
}

void api_doc_get(struct http_req *r, const char *kind,
                 int (*get)(struct store *s, struct store_tx *tx, const char *key, char **doc,
                            struct err *err))
{
    const char *key = api_key_param(r, kind);
    if (key == NULL) {
        return;
    }
    char *doc = NULL;
    struct err err;
    err_clear(&err);
    if (get(http_req_app(r)->store, NULL, key, &doc, &err) != 0) {
        http_reply_err(r, &err);
        return;
    }
    api_reply_document(r, doc);
    free(doc);
}

void api_doc_list_append(void *ctx, const char *doc)
{
    json_t *v = json_loads(doc, 0, NULL);
    if (v != NULL) {
        json_array_append_new(ctx, v);
    }
}

int api_attributes_check(const struct app *app, const json_t *attrs, const char *prefix,
                         struct err *err)
{
    struct condition_limits lim = {app->cfg.attr_max_bytes, (size_t)app->cfg.attr_max_depth,
                                   (size_t)app->cfg.attr_max_array,
                                   (size_t)app->cfg.attr_max_string};
    return condition_check_attributes(attrs, &lim, prefix, err);
}

void api_eval_budget(const struct app *app, struct condition_budget *b)
{
    condition_budget_init(b, app->cfg.eval_budget, false);
}

void api_eval_charge(struct http_req *r, const struct app *app, const struct condition_budget *b)
{
    http_req_charge_steps(r, (long)app->cfg.eval_budget - b->left);
}

char *api_dims_encode(const struct experiment *x, const json_t *attrs)
{
    char *buf = NULL;
    for (size_t i = 0; i < x->ndimensions; i++) {
        const json_t *v = attrs != NULL ? json_object_get(attrs, x->dimensions[i]) : NULL;
        char text[64];
        const char *value = NULL;
        if (json_is_string(v)) {
            value = json_string_value(v);
        } else if (json_is_number(v)) {
            /* JavaScript's String(number), as hashing and targeting read it: one text per
             * number on every path (1e-7 is "1e-7" as the GET form's attr.x=1e-7 is, -0 is
             * "0", an integer past 2^53 the double JavaScript holds) */
            assign_number_text(json_number_value(v), text);
            value = text;
        } else if (json_is_boolean(v)) {
            value = json_is_true(v) ? "true" : "false";
        }
        store_dims_append(&buf, x->dimensions[i], value);
    }
    return buf;
}

void api_user_id_as_text(json_t *o)
{
    const json_t *v = json_object_get(o, "user_id");
    if (!json_is_integer(v)) {
        return;
    }
    json_int_t n = json_integer_value(v);
    if (n < -API_USER_ID_INT_MAX || n > API_USER_ID_INT_MAX) {
        return;
    }
    char text[24];
    snprintf(text, sizeof(text), "%lld", (long long)n);
    json_object_set_new(o, "user_id", json_string(text));
}

void api_exposures_clear(struct api_exposure *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i].dims);
        items[i].dims = NULL;
    }
}

size_t api_exposures_unknown(struct store *s, const char *user_id, int64_t now,
                             const struct api_exposure *items, size_t n, struct api_exposure *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!store_exposed_known(s, items[i].experiment, user_id, items[i].variant, now)) {
            out[k] = items[i];
            out[k++].dims = items[i].dims ? xstrdup(items[i].dims) : NULL; /* the caller's stay */
        }
    }
    return k;
}

int api_exposures_ingest(struct store_tx *tx, struct snapshot_cell *cell,
                         const struct api_exposure_set *sets, size_t n,
                         struct store_ingest_counts *counts_out, struct err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += sets[i].n;
    }
    struct store_exposure *x = xcalloc(total ? total : 1, sizeof(*x));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct api_exposure_set *e = &sets[i];
        for (size_t j = 0; j < e->n; j++) {
            x[k++] = (struct store_exposure){e->items[j].experiment, e->user_id,
                                             e->items[j].variant, e->ts, e->items[j].dims};
        }
    }
    const struct snapshot *snap = snapshot_read_begin(cell);
    struct store_ingest_counts counts = {0};
    int rc = store_ingest_exposures(tx, api_rules_of(snap), x, k, &counts, err);
    snapshot_read_end(cell, snap);
    free(x);
    if (counts_out != NULL) {
        *counts_out = rc == 0 ? counts : (struct store_ingest_counts){0};
    }
    return rc;
}
