/*
 * assign.c - the hot path: which variant does a user get (API.md "Assignment").
 *
 * Reads only the in-memory snapshot (no disk). In-experiment assignments with
 * log_exposure (the default) become one writer job per request; the reply is sent after
 * that job's commit, so an acknowledged assignment always has its exposure stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/assign.h"
#include "bunsen/jsonw.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"

/* No practical cap on a rendered reply (json_dumps had none): its size is bounded by the
 * request (100 named experiments) or by the experiments defined. */
#define REPLY_CAP ((size_t)1 << 40)
/* experiments a request may meet before its per-request arrays leave the stack */
#define ASSIGN_LOCAL_ITEMS 8

struct assign_write {
    struct api_write w;
    char *reply; /* rendered on the request thread: the writer thread only sends it */
    size_t reply_len;
    char *user_id;
    int64_t ts;
    /* what the last apply stored (a batch's totals on its first request, zero on the others),
     * counted in /metrics by assign_render, after the commit */
    struct store_ingest_counts counts;
    size_t n;
    struct api_exposure items[];
};

static int assign_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct assign_write *aw = (struct assign_write *)w;
    struct api_exposure_set set = {aw->user_id, aw->ts, aw->items, aw->n};
    return api_exposures_ingest(tx, http_req_app(w->req)->experiments, &set, 1, &aw->counts, err);
}

/* The exposures of several /assign requests of one group in one attribution call
 * (store_job.apply_batch): one set of round trips for all of them on PostgreSQL, one pass
 * over the primitives on SQLite. The same rows as assign_apply per request: attribution of
 * a batch equals attribution request by request (first exposure wins whatever the order). */
static int assign_apply_batch(struct store_tx *tx, void *const *args, size_t n, struct err *err)
{
    struct api_exposure_set *sets = xcalloc(n, sizeof(*sets));
    for (size_t i = 0; i < n; i++) {
        struct assign_write *aw = args[i];
        sets[i] = (struct api_exposure_set){aw->user_id, aw->ts, aw->items, aw->n};
        aw->counts = (struct store_ingest_counts){0};
    }
    struct assign_write *first = args[0];
    int rc = api_exposures_ingest(tx, http_req_app(first->w.req)->experiments, sets, n,
                                  &first->counts, err);
    free(sets);
    return rc;
}

/* store_job.users: the one user */
static void assign_users(struct api_write *w, void (*emit)(void *ctx, const char *user_id),
                         void *ctx)
{
    emit(ctx, ((const struct assign_write *)w)->user_id);
}

static void assign_render(struct api_write *w)
{
    struct assign_write *aw = (struct assign_write *)w;
    prom_count_ingest(http_req_app(w->req)->prom, true, &aw->counts);
    http_reply_json_text(w->req, 200, aw->reply, aw->reply_len);
    aw->reply = NULL; /* the response owns it now */
}

static void assign_cleanup(struct api_write *w)
{
    struct assign_write *aw = (struct assign_write *)w;
    free(aw->reply);
    free(aw->user_id);
    api_exposures_clear(aw->items, aw->n);
    free(aw);
}

static json_t *explain_json(const struct assign_result *res)
{
    const struct assign_explain *ex = &res->explain;
    json_t *ranges = json_array();
    for (size_t i = 0; i < ex->nranges; i++) {
        json_array_append_new(ranges, json_pack("[f, f]", ex->ranges[i].start, ex->ranges[i].end));
    }
    /* what was hashed, in the order it was: "seed + user_id" (version 2) or
     * "attributes.company + seed" (version 1 with hash_attribute company) */
    const char *name = ex->hash_attribute;
    char what[MODEL_ATTRIBUTE_MAX + 16];
    char input[sizeof(what) + 16];
    if (name != NULL) {
        snprintf(what, sizeof(what), "attributes.%s", name);
    } else {
        snprintf(what, sizeof(what), "user_id");
    }
    snprintf(input, sizeof(input), ex->hash_version == 1 ? "%s + seed" : "seed + %s", what);
    json_t *o =
        json_pack("{s:s, s:i, s:s, s:s, s:o, s:o, s:o, s:s}", "seed", ex->seed ? ex->seed : "",
                  "hash_version", ex->hash_version, "hash_attribute", name != NULL ? name : "id",
                  "hash_input", input, "bucket",
                  res->has_bucket ? json_real(res->bucket) : json_null(), "namespace_bucket",
                  ex->has_namespace_bucket ? json_real(ex->namespace_bucket) : json_null(),
                  "ranges", ranges, "rule", ex->rule ? ex->rule : "");
    return o;
}

/* Append api_assigned_value(x, res). A variant without a value of its own is worth its key
 * (experiment_assigned_value): that common case is written without making a jansson string
 * for it; the bytes are the same (jsonw.h). */
static void append_assigned_value(struct buf *out, const struct experiment *x,
                                  const struct assign_result *res)
{
    bool of_variant = res->reason == ASSIGN_REASON_HASHED || res->reason == ASSIGN_REASON_FORCED ||
                      res->reason == ASSIGN_REASON_RELEASED;
    const struct variant *v = &x->variants[of_variant ? res->variant : 0];
    if ((of_variant || x->default_value == NULL) && v->value == NULL) {
        jsonw_append_string(out, v->key, strlen(v->key));
        return;
    }
    json_t *value = api_assigned_value(x, res);
    jsonw_append_json(out, value);
    json_decref(value);
}

/* Decide for one experiment and append its assignment object to out, without the closing
 * brace (api_assign_one adds members): {"variant":..,"in_experiment":..,"reason":..,
 * "bucket":..,"value":..[,"explain":{..}]. The members and their order are those the jansson tree
 * had. 0, or -1 after err. */
static int decide(const struct snapshot *snap, const struct snapshot_entry *e, const char *user_id,
                  size_t len, const json_t *attrs, struct condition_budget *budget, bool explain,
                  struct buf *out, struct assign_result *res, struct err *err)
{
    if (assign_decide_budget(&e->a, snap->group_sets, user_id, len, attrs, budget, res, err) != 0) {
        return -1;
    }
    prom_count_assign(e->user, res->reason);
    const char *variant = e->x.variants[res->variant].key;
    jsonw_append_raw(out, "{\"variant\":");
    jsonw_append_string(out, variant, strlen(variant));
    jsonw_append_raw(out, res->in_experiment ? ",\"in_experiment\":true,\"reason\":\""
                                             : ",\"in_experiment\":false,\"reason\":\"");
    jsonw_append_raw(out, assign_reason_name(res->reason)); /* fixed lowercase words */
    jsonw_append_raw(out, "\",\"bucket\":");
    if (res->has_bucket) {
        jsonw_append_real(out, res->bucket, 0);
    } else {
        jsonw_append_raw(out, "null");
    }
    jsonw_append_raw(out, ",\"value\":");
    append_assigned_value(out, &e->x, res);
    if (explain) {
        json_t *ex = explain_json(res);
        jsonw_append_raw(out, ",\"explain\":");
        jsonw_append_json(out, ex);
        json_decref(ex);
    }
    return 0;
}

/* The rendered reply as a malloc'd string for the response (out is emptied). */
static char *reply_take(struct buf *out, size_t *len)
{
    char *text = out->data;
    *len = out->len;
    buf_init(out, out->cap);
    return text;
}

void api_reply_text_after_exposures(struct http_req *r, char *text, size_t len, const char *user_id,
                                    const struct api_exposure *items, size_t n)
{
    struct assign_write *aw = xcalloc(1, sizeof(*aw) + n * sizeof(aw->items[0]));
    aw->ts = time_now_ms();
    aw->n = api_exposures_unknown(http_req_app(r)->store, user_id, aw->ts, items, n, aw->items);
    if (aw->n == 0) { /* nothing to log, or only repeats: nothing to write */
        free(aw);
        http_reply_json_text(r, 200, text, len);
        return;
    }
    aw->w.apply = assign_apply;
    aw->w.render = assign_render;
    aw->w.cleanup = assign_cleanup;
    aw->w.retryable = true; /* assign_apply only inserts through the transaction */
    aw->w.items = 1;        /* one user */
    aw->w.users = assign_users;
    aw->w.apply_batch = assign_apply_batch;
    aw->reply = text;
    aw->reply_len = len;
    aw->user_id = xstrdup(user_id);
    api_write_submit(r, &aw->w);
}

json_t *api_assigned_value(const struct experiment *x, const struct assign_result *res)
{
    bool of_variant = res->reason == ASSIGN_REASON_HASHED || res->reason == ASSIGN_REASON_FORCED ||
                      res->reason == ASSIGN_REASON_RELEASED;
    return experiment_assigned_value(x, res->variant, of_variant);
}

bool api_experiment_is_live(const struct snapshot_entry *e)
{
    return e->x.status == ASSIGN_STATUS_RUNNING ||
           (e->x.status == ASSIGN_STATUS_STOPPED && e->x.released >= 0);
}

static int read_bool(struct http_req *r, const json_t *body, const char *name, bool def, bool *out)
{
    const json_t *v = json_object_get(body, name);
    if (v == NULL || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) {
        http_reply_error(r, ERR_INVALID, name, "%s must be true or false", name);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* The /assign body through jansson (bodies the fast reader leaves): q borrows from the
 * returned tree (release with json_decref), or NULL after replying 400. */
static json_t *assign_body_parse(struct http_req *r, struct assign_query *q)
{
    json_t *body = http_req_json_body(r);
    if (body == NULL) {
        return NULL;
    }
    memset(q, 0, sizeof(*q));
    /* unknown fields first: {"user": "u-1"} is a misspelt user_id, and saying so beats
     * "user_id must be 1 to 256 bytes" */
    const char *const known[] = {"user_id",      "attributes", "experiments",
                                 "log_exposure", "explain",    NULL};
    struct err err;
    err_clear(&err);
    if (validate_known_fields(body, known, "", &err) != 0) {
        http_reply_err(r, &err);
        goto fail;
    }
    api_user_id_as_text(body); /* a numeric id: its text, which body then owns */
    const json_t *uid = json_object_get(body, "user_id");
    json_t *attrs = json_object_get(body, "attributes");
    const json_t *names = json_object_get(body, "experiments");
    if (!json_is_string(uid) ||
        !text_id_valid(json_string_value(uid), json_string_length(uid), 256)) {
        http_reply_error(r, ERR_INVALID, "user_id",
                         "user_id must be 1 to 256 bytes of UTF-8 text without control "
                         "characters, or an integer of at most 2^53 - 1 in magnitude (read as "
                         "its decimal text)");
        goto fail;
    }
    if (attrs != NULL && !json_is_null(attrs) && !json_is_object(attrs)) {
        http_reply_error(r, ERR_INVALID, "attributes", "attributes must be an object");
        goto fail;
    }
    if (names != NULL && !json_is_null(names) &&
        (!json_is_array(names) || json_array_size(names) > ASSIGN_MAX_NAMED)) {
        http_reply_error(r, ERR_INVALID, "experiments",
                         "experiments must be an array of at most %d experiment keys",
                         ASSIGN_MAX_NAMED);
        goto fail;
    }
    for (size_t i = 0; json_is_array(names) && i < json_array_size(names); i++) {
        const json_t *name = json_array_get(names, i);
        if (!json_is_string(name)) {
            char field[48];
            snprintf(field, sizeof(field), "experiments[%zu]", i);
            http_reply_error(r, ERR_INVALID, field, "%s must be a string", field);
            goto fail;
        }
        q->names[i] = json_string_value(name);
        q->name_lens[i] = json_string_length(name);
        q->nnames++;
    }
    q->named = json_is_array(names);
    if (read_bool(r, body, "log_exposure", true, &q->log_exposure) != 0 ||
        read_bool(r, body, "explain", false, &q->explain) != 0) {
        goto fail;
    }
    q->user_id = json_string_value(uid);
    q->len = json_string_length(uid);
    q->attrs = json_is_null(attrs) ? NULL : attrs;
    return body;
fail:
    json_decref(body);
    return NULL;
}

/* The attributes an /assign decides with, built on first use: the request's own object (or
 * {}), with "id" set to the user id when absent (GrowthBook's default hash attribute). Most
 * experiments read none, and then the tree is never made. */
struct assign_attrs {
    const struct assign_query *q;
    const char *user_id;
    json_t *eff; /* NULL until attrs_of */
};

static const json_t *attrs_of(struct assign_attrs *v)
{
    if (v->eff == NULL) {
        json_t *a = v->q->attrs != NULL        ? json_incref(v->q->attrs)
                    : v->q->attrs_text != NULL ? api_assign_attrs_build(v->q)
                                               : json_object();
        /* "id" goes into the request's own tree (no copy: nothing else holds it) */
        if (json_object_get(a, "id") == NULL) {
            json_object_set_new(a, "id", json_string(v->user_id));
        }
        v->eff = a;
    }
    return v->eff;
}

/* Whether deciding e, and logging its exposure, reads the attributes: a targeting condition
 * with members (saved groups are inside it; a.compiled is made for every experiment, from
 * the same tree, and an empty condition matches without looking), a hash attribute (the
 * fallback is read only with one), or dimensions recorded with a logged exposure. The core
 * (assign_decide_budget) reads them for nothing else: whatever comes to read them (in the
 * core or here) must be added to this test, or it would be given NULL. */
static bool reads_attributes(const struct snapshot_entry *e, bool log)
{
    const json_t *c = e->a.condition;
    return (c != NULL && !(json_is_object(c) && json_object_size(c) == 0)) ||
           e->a.hash_attribute != NULL || (log && e->x.ndimensions > 0);
}

void api_assign(struct http_req *r)
{
    struct assign_query q;
    char *store = NULL;
    json_t *fast_attrs = NULL;
    json_t *body = NULL;
    size_t body_len = 0;
    const char *body_text = http_req_body(r, &body_len);
    if (api_assign_body_read(body_text, body_len, &q, &store, &fast_attrs) != 0) {
        body = assign_body_parse(r, &q);
        if (body == NULL) {
            return;
        }
    }
    const char *user_id = q.user_id;
    size_t len = q.len;
    struct err err;
    err_clear(&err);
    struct app *app = http_req_app(r);
    /* both parsers (the fast reader and jansson) end here: the caps apply to either. An
     * object the reader left unbuilt was counted as the check counts: within the caps it
     * needs no tree; outside, the tree is built so that the check words the error. */
    const struct config *cfg = &app->cfg;
    if (q.attrs == NULL && q.attrs_text != NULL &&
        (q.attrs_bytes > cfg->attr_max_bytes || q.attrs_longest > (size_t)cfg->attr_max_string ||
         (size_t)cfg->attr_max_depth < 1)) {
        q.attrs = fast_attrs = api_assign_attrs_build(&q);
    }
    if (api_attributes_check(app, q.attrs, "attributes", &err) != 0) {
        http_reply_err(r, &err);
        json_decref(fast_attrs);
        free(store);
        json_decref(body);
        return;
    }
    struct assign_attrs attrs = {.q = &q, .user_id = user_id, .eff = NULL};
    struct condition_budget budget;
    api_eval_budget(app, &budget);
    const struct snapshot *snap = snapshot_read_begin(app->experiments);
    /* The reply is written as it is decided: {"user_id":..,"assignments":{..},"unknown":[..]} */
    struct buf out, unknown;
    buf_init(&out, REPLY_CAP);
    buf_init(&unknown, REPLY_CAP);
    jsonw_append_raw(&out, "{\"user_id\":");
    jsonw_append_string(&out, user_id, len);
    jsonw_append_raw(&out, ",\"assignments\":{");
    size_t cap = q.named ? q.nnames : snap->n;
    /* a request usually names or meets a few experiments: then its arrays are on the stack */
    struct api_exposure items_local[ASSIGN_LOCAL_ITEMS];
    const struct snapshot_entry *decided_local[ASSIGN_LOCAL_ITEMS];
    bool local = cap <= ASSIGN_LOCAL_ITEMS;
    struct api_exposure *items = local ? items_local : xcalloc(cap, sizeof(*items));
    const struct snapshot_entry **decided = local ? decided_local : xcalloc(cap, sizeof(*decided));
    size_t nitems = 0, ndecided = 0;
    int rc = 0;
    size_t count = q.named ? q.nnames : snap->n;
    for (size_t i = 0; i < count && rc == 0; i++) {
        const struct snapshot_entry *e;
        if (q.named) {
            const char *k = q.names[i];
            e = snapshot_find(snap, k);
            if (e == NULL) {
                jsonw_append_raw(&unknown, unknown.len ? "," : "");
                jsonw_append_string(&unknown, k, q.name_lens[i]);
                continue;
            }
            bool twice = false;
            for (size_t d = 0; d < ndecided && !twice; d++) {
                twice = decided[d] == e;
            }
            if (twice) {
                continue; /* named twice */
            }
        } else {
            e = snap->entries[i];
            if (!api_experiment_is_live(e)) {
                continue;
            }
        }
        struct assign_result res;
        jsonw_append_raw(&out, ndecided ? "," : "");
        jsonw_append_string(&out, e->x.key, strlen(e->x.key));
        jsonw_append_raw(&out, ":");
        const json_t *a = reads_attributes(e, q.log_exposure) ? attrs_of(&attrs) : NULL;
        if (decide(snap, e, user_id, len, a, &budget, q.explain, &out, &res, &err) != 0) {
            rc = -1;
            break;
        }
        jsonw_append_raw(&out, "}");
        decided[ndecided++] = e;
        if (res.in_experiment && q.log_exposure) {
            str_copy(items[nitems].experiment, sizeof(items[0].experiment), e->x.key);
            str_copy(items[nitems].variant, sizeof(items[0].variant),
                     e->x.variants[res.variant].key);
            items[nitems].dims = api_dims_encode(&e->x, a);
            nitems++;
        }
    }
    snapshot_read_end(app->experiments, snap);
    api_eval_charge(r, app, &budget);
    json_decref(attrs.eff);
    jsonw_append_raw(&out, "},\"unknown\":[");
    buf_append(&out, unknown.data ? unknown.data : "", unknown.len);
    jsonw_append_raw(&out, "]}");
    buf_free(&unknown);
    size_t text_len = 0;
    char *text = rc == 0 ? reply_take(&out, &text_len) : NULL;
    buf_free(&out);
    if (rc != 0) {
        http_reply_err(r, &err);
    } else {
        api_reply_text_after_exposures(r, text, text_len, user_id, items, nitems);
    }
    api_exposures_clear(items, nitems);
    if (!local) {
        free(decided);
        free(items);
    }
    json_decref(fast_attrs);
    free(store);
    json_decref(body);
}

struct attr_ctx {
    json_t *attrs;
    const char *bad; /* the first attr.* parameter that is not UTF-8 (its name or value) */
};

static void collect_attr(void *ctx, const char *key, const char *value)
{
    struct attr_ctx *ac = ctx;
    if (strncmp(key, "attr.", 5) == 0 && key[5] != '\0') {
        /* json_string refuses invalid UTF-8, as the POST body's JSON parser does: 400 */
        json_t *v = json_string(value);
        if (v == NULL || !utf8_valid(key, strlen(key))) {
            json_decref(v);
            ac->bad = ac->bad ? ac->bad : key;
            return;
        }
        json_object_set_new(ac->attrs, key + 5, v);
    }
}

void api_assign_one(struct http_req *r)
{
    const char *key = http_req_param(r, "key");
    const char *user_id = http_req_query(r, "user_id");
    bool log_exposure, explain;
    if (user_id == NULL || !text_id_valid(user_id, strlen(user_id), 256)) {
        http_reply_error(r, ERR_INVALID, "user_id",
                         "the user_id query parameter must be 1 to 256 bytes of UTF-8 text "
                         "without control characters");
        return;
    }
    if (api_query_bool(r, "log_exposure", true, &log_exposure) != 0 ||
        api_query_bool(r, "explain", false, &explain) != 0) {
        return;
    }
    log_exposure = log_exposure && http_req_method(r) != HTTP_HEAD; /* HEAD must be safe */
    struct attr_ctx ac = {.attrs = json_object()};
    http_req_each_query(r, collect_attr, &ac);
    if (ac.bad != NULL) {
        http_reply_error(r, ERR_INVALID, "attr",
                         "attr.* query parameters (names and values) must be UTF-8 text");
        json_decref(ac.attrs);
        return;
    }
    if (json_object_get(ac.attrs, "id") == NULL) {
        json_object_set_new(ac.attrs, "id", json_string(user_id));
    }
    struct app *app = http_req_app(r);
    struct err err;
    err_clear(&err);
    if (api_attributes_check(app, ac.attrs, "attr", &err) != 0) {
        json_decref(ac.attrs);
        http_reply_err(r, &err);
        return;
    }
    struct condition_budget budget;
    api_eval_budget(app, &budget);
    const struct snapshot *snap = snapshot_read_begin(app->experiments);
    const struct snapshot_entry *e = key ? snapshot_find(snap, key) : NULL;
    if (e == NULL) {
        snapshot_read_end(app->experiments, snap);
        json_decref(ac.attrs);
        http_reply_error(r, ERR_NOT_FOUND, NULL, "no experiment '%.64s'", key ? key : "");
        return;
    }
    struct assign_result res;
    struct buf out;
    buf_init(&out, REPLY_CAP);
    int rc =
        decide(snap, e, user_id, strlen(user_id), ac.attrs, &budget, explain, &out, &res, &err);
    struct api_exposure item = {.dims = NULL};
    size_t n = 0;
    if (rc == 0) {
        jsonw_append_raw(&out, ",\"experiment\":");
        jsonw_append_string(&out, e->x.key, strlen(e->x.key));
        jsonw_append_raw(&out, ",\"user_id\":");
        jsonw_append_string(&out, user_id, strlen(user_id));
        jsonw_append_raw(&out, "}");
        if (res.in_experiment && log_exposure) {
            str_copy(item.experiment, sizeof(item.experiment), e->x.key);
            str_copy(item.variant, sizeof(item.variant), e->x.variants[res.variant].key);
            item.dims = api_dims_encode(&e->x, ac.attrs);
            n = 1;
        }
    }
    snapshot_read_end(app->experiments, snap);
    api_eval_charge(r, app, &budget);
    json_decref(ac.attrs);
    size_t text_len = 0;
    char *text = rc == 0 ? reply_take(&out, &text_len) : NULL;
    buf_free(&out);
    if (rc != 0) {
        http_reply_err(r, &err);
        free(item.dims);
        return;
    }
    api_reply_text_after_exposures(r, text, text_len, user_id, &item, n);
    free(item.dims);
}
