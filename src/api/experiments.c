/*
 * experiments.c - experiment definitions and their lifecycle (API.md "Experiments"),
 * and the reload of the assignment snapshot after every change (which parses again only
 * the experiments whose stored text changed).
 *
 * Every write is one writer job whose apply() reads the stored experiment, applies the
 * change with the rules of core/experiment.c, checks the catalogue (metrics exist), saves
 * and audits, all in one transaction. After the commit the snapshot is rebuilt before
 * the reply, so a 2xx means /assign already sees the change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/condition.h"
#include "bunsen/jsonw.h"
#include "bunsen/log.h"
#include "bunsen/model.h"
#include "bunsen/util.h"

/* ---- snapshot reload ----
 * A reload after any definition change reads every stored experiment's text. One whose
 * text is the one the published snapshot read (the same keyed hash) is taken from it as it
 * is, definition, views and compiled targeting included (snapshot_add_from): a change costs
 * the parse and compile of what changed, not of the catalogue. What depends on more than one
 * experiment's own text is built again for every snapshot: the attribution rules (metric
 * definitions: api_rules_attach) and the saved groups the targeting reads
 * (api_saved_groups_attach). */

struct reload {
    struct snapshot *s;          /* being built */
    const struct snapshot *prev; /* the published one (a reader reference), its entries reused */
    struct prom *prom;
};

static void reload_emit(void *ctx, const char *doc)
{
    struct reload *rl = ctx;
    uint64_t h = hash_keyed(doc, strlen(doc));
    h += h == 0; /* 0 means "no text" */
    if (snapshot_add_from(rl->s, rl->prev, h)) {
        return;
    }
    json_t *j = json_loads(doc, 0, NULL);
    struct experiment x;
    struct err err;
    err_clear(&err);
    if (j != NULL && experiment_from_json(j, MODEL_LOAD, NULL, &x, &err) == 0) {
        struct snapshot_entry *e = snapshot_add(rl->s, &x, h);
        e->user = prom_experiment(rl->prom, e->x.key);
    } else {
        log_json(LOG_ERROR, "skipping an unreadable stored experiment",
                 json_pack("{s:s}", "error", err.msg));
    }
    json_decref(j);
}

/* app->reload_mu held */
static int reload_locked(struct app *app, struct err *err)
{
    /* definitions changed (here, in another daemon or process): what was known of stored
     * first exposures may not hold (an experiment deleted, archived and compacted) */
    store_exposed_clear(app->store);
    /* the version first: the definitions read next are at least that new. So is the change
     * time read with it: a payload may carry an older dateUpdated than its definitions for
     * one reload (the version then differs and the next reload stamps it), never a newer one
     * over older definitions, which an SDK that cached that date would never replace */
    int64_t version = -1;
    struct snapshot *s = snapshot_new();
    /* held to the end: the entries taken from it stay alive meanwhile, and the saved groups
     * compiled for it share their sets */
    const struct snapshot *prev = snapshot_read_begin(app->experiments);
    struct reload rl = {.s = s, .prev = prev, .prom = app->prom};
    int rc = store_catalog_stamp(app->store, &version, &s->changed_at, err);
    if (rc == 0) {
        rc = store_experiment_list(app->store, NULL, NULL, reload_emit, &rl, err);
    }
    if (rc == 0) {
        snapshot_seal(s);
        rc = api_rules_attach(s, app->store, err);
    }
    if (rc == 0) {
        rc = api_saved_groups_attach(s, prev, app->store, err);
    }
    snapshot_read_end(app->experiments, prev);
    if (rc == 0) {
        snapshot_publish(app->experiments, s);
        app->catalog_loaded = version;
        api_sdk_streams_publish(app); /* GET /sub subscribers get the new payload */
    } else {
        snapshot_free(s);
    }
    return rc;
}

int api_experiments_reload(struct app *app, struct err *err)
{
    pthread_mutex_lock(&app->reload_mu);
    int rc = reload_locked(app, err);
    pthread_mutex_unlock(&app->reload_mu);
    return rc;
}

int api_experiments_reload_unless(struct app *app, int64_t version, struct err *err)
{
    pthread_mutex_lock(&app->reload_mu);
    int rc = 0;
    if (version < 0) {
        rc = store_catalog_version(app->store, &version, err);
    }
    if (rc == 0 && version != app->catalog_loaded) {
        rc = reload_locked(app, err);
    }
    pthread_mutex_unlock(&app->reload_mu);
    return rc;
}

/* ---- writes ---- */

enum exp_op { OP_CREATE, OP_PATCH, OP_DELETE, OP_LIFECYCLE };

struct exp_write {
    struct api_doc_write dw; /* key "" for a create */
    enum exp_op op;
    const char *action; /* lifecycle: "start", ... (static) */
};

/* The stored experiment inside the transaction, after checking If-Match (NULL =
 * unconditional) against the ETag of the stored document (api_doc_load); *before: the
 * document. */
static int load(struct store_tx *tx, const char *key, const char *if_match, struct experiment *x,
                json_t **before, struct err *err)
{
    if (api_doc_load(tx, "experiment", store_experiment_get, key, if_match, before, err) != 0) {
        return -1;
    }
    if (experiment_from_json(*before, MODEL_LOAD, NULL, x, err) != 0) {
        json_decref(*before);
        *before = NULL;
        return -1;
    }
    return 0;
}

/* Every metric and guardrail must be in the catalogue. */
static int check_metrics(struct store_tx *tx, const struct experiment *x, struct err *err)
{
    for (int list = 0; list < 2; list++) {
        size_t n = list ? x->nguardrails : x->nmetrics;
        for (size_t i = 0; i < n; i++) {
            const char *k = list ? x->guardrails[i] : x->metrics[i];
            char *doc = NULL;
            struct err e2;
            if (store_metric_get(NULL, tx, k, &doc, &e2) != 0) {
                char field[64];
                snprintf(field, sizeof(field), "%s[%zu]", list ? "guardrails" : "metrics", i);
                if (e2.code != ERR_NOT_FOUND) {
                    *err = e2;
                    return -1;
                }
                return err_set(err, ERR_INVALID, field,
                               "'%s' is not in the metrics catalogue (POST /api/v1/metrics)", k);
            }
            free(doc);
        }
    }
    return 0;
}

static int save(struct store_tx *tx, struct exp_write *ew, const struct experiment *x, bool create,
                const char *action, const json_t *before, struct err *err)
{
    const char *mkeys[MODEL_MAX_METRICS + MODEL_MAX_GUARDRAILS];
    size_t nm = 0;
    for (size_t i = 0; i < x->nmetrics; i++) {
        mkeys[nm++] = x->metrics[i];
    }
    for (size_t i = 0; i < x->nguardrails; i++) {
        mkeys[nm++] = x->guardrails[i];
    }
    json_t *doc = experiment_to_json(x);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc = store_experiment_put(tx, x->key, assign_status_name(x->status), text, mkeys, nm,
                                  x->created_at, x->updated_at, create, err);
    if (rc == 0) {
        api_etag(text, ew->dw.etag);
    }
    free(text);
    if (rc == 0) {
        rc = api_audit(tx, ew->dw.w.req, action, "experiment", x->key, before, doc, err);
    }
    if (rc == 0) {
        ew->dw.result = doc;
    } else {
        json_decref(doc);
    }
    return rc;
}

static int apply_create(struct store_tx *tx, struct exp_write *ew, struct err *err)
{
    struct experiment x;
    if (experiment_from_json(ew->dw.body, MODEL_CREATE, NULL, &x, err) != 0) {
        return -1;
    }
    x.created_at = x.updated_at = time_now_ms();
    int rc = check_metrics(tx, &x, err);
    if (rc == 0) {
        rc = save(tx, ew, &x, true, "experiment.create", NULL, err);
    }
    experiment_clear(&x);
    return rc;
}

static bool same_metrics(const struct experiment *a, const struct experiment *b)
{
    if (a->nmetrics != b->nmetrics || a->nguardrails != b->nguardrails) {
        return false;
    }
    for (size_t i = 0; i < a->nmetrics; i++) {
        if (strcmp(a->metrics[i], b->metrics[i]) != 0) {
            return false;
        }
    }
    for (size_t i = 0; i < a->nguardrails; i++) {
        if (strcmp(a->guardrails[i], b->guardrails[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* The dimensions kept per value: a change rebuilds the slices (events move an experiment's
 * slices only while it lists dimensions, store_rule.dims). */
static bool same_dimensions(const struct experiment *a, const struct experiment *b)
{
    if (a->ndimensions != b->ndimensions) {
        return false;
    }
    for (size_t i = 0; i < a->ndimensions; i++) {
        if (strcmp(a->dimensions[i], b->dimensions[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* A stopped experiment's results are frozen: what would change them (who got which variant,
 * the control, the metrics analysed, and how they are analysed: the analysis defaults the
 * results are read with, the sequential tuning, the mde of the decision block) may not
 * change. Names, descriptions, owner may; another analysis is a query away (?method=,
 * ?alpha=, ?cuped=, ?correction= on the results), without touching the frozen one. */
static const char *results_change(const struct experiment *cur, const struct experiment *next)
{
    const char *field = experiment_reassigning_change(cur, next);
    if (field != NULL && strcmp(field, "coverage") != 0) {
        return field; /* coverage decides nothing once stopped: it may change */
    }
    if (!same_metrics(cur, next)) {
        return "metrics"; /* or guardrails: both are analysed in the results */
    }
    if (strcmp(cur->primary_metric, next->primary_metric) != 0) {
        return "primary_metric";
    }
    const struct analysis_defaults *a = &cur->analysis, *b = &next->analysis;
    return a->method != b->method                              ? "analysis.method"
           : a->alpha != b->alpha                              ? "analysis.alpha"
           : a->cuped != b->cuped                              ? "analysis.cuped"
           : a->correction != b->correction                    ? "analysis.correction"
           : cur->sequential_tuning != next->sequential_tuning ? "sequential_tuning"
           : cur->mde != next->mde                             ? "mde"
                                                               : NULL;
}

/* Sequential p-values and intervals are always valid for a mixture fixed before the first
 * look (STATS.md "Sequential"): a tuning changed once users are exposed could be picked after
 * seeing the data, so it is fixed at the start. */
static bool tuning_change(const struct experiment *cur, const struct experiment *next)
{
    return cur->status != ASSIGN_STATUS_DRAFT && cur->sequential_tuning != next->sequential_tuning;
}

static int apply_patch(struct store_tx *tx, struct exp_write *ew, const struct experiment *cur,
                       const json_t *before, struct err *err)
{
    if (cur->status == ASSIGN_STATUS_ARCHIVED) {
        return err_set(err, ERR_CONFLICT, "status", "archived experiments cannot be edited");
    }
    struct experiment next;
    if (experiment_from_json(ew->dw.body, MODEL_PATCH, cur, &next, err) != 0) {
        return -1;
    }
    int rc = 0;
    const char *field = NULL;
    if ((cur->status == ASSIGN_STATUS_RUNNING || cur->status == ASSIGN_STATUS_PAUSED) &&
        (field = experiment_reassigning_change(cur, &next)) != NULL &&
        strcmp(field, "coverage") == 0) {
        rc = err_set(err, ERR_CONFLICT, field,
                     "lowering coverage while the experiment is %s moves exposed users out of "
                     "their variant while results still count them there; %s, or start a new "
                     "experiment (raising is allowed)",
                     assign_status_name(cur->status),
                     cur->status == ASSIGN_STATUS_PAUSED ? "stop it" : "pause or stop it");
    } else if (field != NULL) {
        rc = err_set(err, ERR_CONFLICT, field,
                     "changing %s while the experiment is %s would reassign users; stop it and "
                     "start a new experiment instead",
                     field, assign_status_name(cur->status));
    } else if (cur->status == ASSIGN_STATUS_STOPPED &&
               (field = results_change(cur, &next)) != NULL) {
        rc = err_set(err, ERR_CONFLICT, field,
                     "changing %s of a stopped experiment would rewrite its frozen results; %s",
                     field,
                     strncmp(field, "analysis.", 9) == 0
                         ? "read another analysis with ?method=, ?alpha=, ?cuped= or "
                           "?correction= on its results instead"
                         : "start a new experiment instead");
    } else if (tuning_change(cur, &next)) {
        rc = err_set(err, ERR_CONFLICT, "sequential_tuning",
                     "changing sequential_tuning once the experiment has started would void the "
                     "always-valid guarantee of its sequential results (the tuning must be fixed "
                     "before the first look); start a new experiment instead");
    }
    if (rc == 0) {
        rc = check_metrics(tx, &next, err);
    }
    if (rc == 0) {
        next.updated_at = time_now_ms();
        rc = save(tx, ew, &next, false, "experiment.update", before, err);
    }
    if (rc == 0 && (!same_metrics(cur, &next) ||
                    (cur->status != ASSIGN_STATUS_DRAFT && !same_dimensions(cur, &next)))) {
        rc = api_rollup_rebuild(tx, &next, err);
    }
    experiment_clear(&next);
    return rc;
}

static int apply_delete(struct store_tx *tx, struct exp_write *ew, const struct experiment *cur,
                        const json_t *before, struct err *err)
{
    if (cur->status != ASSIGN_STATUS_DRAFT) {
        return err_set(err, ERR_CONFLICT, "status",
                       "only draft experiments can be deleted (this one is %s%s)",
                       assign_status_name(cur->status),
                       cur->status == ASSIGN_STATUS_ARCHIVED ? "" : "; archive it");
    }
    if (store_experiment_delete(tx, ew->dw.key, err) != 0 ||
        api_audit(tx, ew->dw.w.req, "experiment.delete", "experiment", ew->dw.key, before, NULL,
                  err) != 0) {
        return -1;
    }
    ew->dw.result = json_pack("{s:s, s:b}", "key", ew->dw.key, "deleted", 1);
    return 0;
}

/* Finding a running or paused experiment whose namespace range overlaps x's. */
struct ns_scan {
    const struct experiment *x;
    char key[MODEL_KEY_MAX + 1]; /* the first found, "" when none */
    char status[16];
    double start, end;
};

static void ns_scan_emit(void *ctx, const char *doc)
{
    struct ns_scan *scan = ctx;
    if (scan->key[0] != '\0') {
        return;
    }
    json_t *j = json_loads(doc, 0, NULL);
    struct experiment other;
    struct err err;
    err_clear(&err);
    if (j == NULL || experiment_from_json(j, MODEL_LOAD, NULL, &other, &err) != 0) {
        json_decref(j); /* unreadable: the snapshot skips it too (reload_emit), it serves no one */
        return;
    }
    if (strcmp(other.key, scan->x->key) != 0 && experiment_namespaces_overlap(scan->x, &other)) {
        str_copy(scan->key, sizeof(scan->key), other.key);
        str_copy(scan->status, sizeof(scan->status), assign_status_name(other.status));
        scan->start = other.ns_start;
        scan->end = other.ns_end;
    }
    experiment_clear(&other);
    json_decref(j);
}

/* Starting or resuming x: no running or paused experiment of its namespace may hold a range
 * overlapping x's, or a user in both ranges would be in both experiments (a namespace's
 * whole point is mutual exclusion). Drafts may overlap (they hash no one in). Read in the
 * transaction, which holds the catalogue (store_experiment_list): two daemons starting two
 * overlapping experiments at once cannot both pass. */
static int check_namespace(struct store *s, struct store_tx *tx, const struct experiment *x,
                           struct err *err)
{
    if (!x->has_namespace) {
        return 0;
    }
    struct ns_scan scan = {.x = x};
    static const char *const live[] = {"running", "paused"};
    for (size_t i = 0; i < 2 && scan.key[0] == '\0'; i++) {
        if (store_experiment_list(s, tx, live[i], ns_scan_emit, &scan, err) != 0) {
            return -1;
        }
    }
    if (scan.key[0] == '\0') {
        return 0;
    }
    /* the ends as a GET shows them: with 6 digits, [0, 0.3333333) and [0.333333, 1) read as
     * touching ranges */
    char ends[4][32];
    const double at[4] = {scan.start, scan.end, x->ns_start, x->ns_end};
    for (size_t i = 0; i < 4; i++) {
        if (jsonw_real_text(ends[i], sizeof(ends[i]), at[i]) < 0) {
            ends[i][0] = '\0';
        }
    }
    return err_set(err, ERR_CONFLICT, "namespace",
                   "'%s' (%s) holds [%s, %s) of namespace '%s', which overlaps [%s, %s): a user "
                   "could be in both; stop it first or use a disjoint range",
                   scan.key, scan.status, ends[0], ends[1], x->ns_name, ends[2], ends[3]);
}

static int apply_lifecycle(struct store_tx *tx, struct exp_write *ew, const struct experiment *cur,
                           const json_t *before, struct err *err)
{
    enum assign_status to;
    if (experiment_transition(cur->status, ew->action, &to, err) != 0) {
        return -1;
    }
    struct experiment next;
    experiment_copy(&next, cur);
    int64_t now = time_now_ms();
    next.status = to;
    next.updated_at = now;
    if (to == ASSIGN_STATUS_PAUSED) {
        next.paused_at = now;
    } else if (cur->status == ASSIGN_STATUS_PAUSED) {
        /* resume or stop: the pause ends (one begun before pauses were recorded, or under
         * a clock that stepped back, adds nothing) */
        next.paused_ms += cur->paused_at > 0 && now > cur->paused_at ? now - cur->paused_at : 0;
        next.paused_at = 0;
    }
    if (strcmp(ew->action, "start") == 0) {
        next.started_at = now;
        /* an operator that cannot be evaluated is a 400 at start (API.md v1.1): a missing
         * saved group, or a $regex stored before patterns were checked when written */
        if (condition_check_operands(next.targeting, err) != 0 ||
            api_saved_groups_check(tx, next.targeting, err) != 0) {
            experiment_clear(&next);
            return -1;
        }
    }
    if (to == ASSIGN_STATUS_RUNNING &&
        check_namespace(http_req_app(ew->dw.w.req)->store, tx, &next, err) != 0) {
        experiment_clear(&next); /* start and resume */
        return -1;
    }
    if (strcmp(ew->action, "stop") == 0) {
        next.stopped_at = now;
        const json_t *rel = ew->dw.body ? json_object_get(ew->dw.body, "release") : NULL;
        if (rel != NULL && !json_is_null(rel)) {
            int idx =
                json_is_string(rel) ? experiment_variant_index(&next, json_string_value(rel)) : -1;
            if (idx < 0) {
                experiment_clear(&next);
                return err_set(err, ERR_INVALID, "release",
                               "release must be one of the experiment's variant keys");
            }
            next.released = idx;
        }
        const json_t *con = ew->dw.body ? json_object_get(ew->dw.body, "conclusion") : NULL;
        if (con != NULL && experiment_read_conclusion(con, MODEL_PATCH, &next, now, err) != 0) {
            experiment_clear(&next);
            return -1;
        }
        /* "won" with no "winner" given (null is given: no winner) and a release: the released
         * variant won */
        if (next.outcome == OUTCOME_WON && json_object_get(con, "winner") == NULL &&
            next.released >= 0 && rel != NULL && !json_is_null(rel)) {
            snprintf(next.winner, sizeof(next.winner), "%s", next.variants[next.released].key);
        }
    }
    char action[32];
    snprintf(action, sizeof(action), "experiment.%s", ew->action);
    int rc = save(tx, ew, &next, false, action, before, err);
    if (rc == 0 && to == ASSIGN_STATUS_STOPPED) {
        /* freeze the results at the stop time: nothing after it may count */
        rc = api_rollup_rebuild(tx, &next, err);
    }
    experiment_clear(&next);
    return rc;
}

static int exp_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct exp_write *ew = (struct exp_write *)w;
    if (ew->op == OP_CREATE) {
        return apply_create(tx, ew, err);
    }
    struct experiment cur;
    json_t *before = NULL;
    if (load(tx, ew->dw.key, ew->dw.if_match, &cur, &before, err) != 0) {
        return -1;
    }
    int rc;
    switch (ew->op) {
    case OP_PATCH:
        rc = apply_patch(tx, ew, &cur, before, err);
        break;
    case OP_DELETE:
        rc = apply_delete(tx, ew, &cur, before, err);
        break;
    default:
        rc = apply_lifecycle(tx, ew, &cur, before, err);
        break;
    }
    experiment_clear(&cur);
    json_decref(before);
    return rc;
}

static void submit(struct http_req *r, enum exp_op op, const char *key, const char *action,
                   json_t *body, int status)
{
    struct exp_write *ew =
        (struct exp_write *)api_doc_write_new(r, sizeof(*ew), key, exp_apply, status);
    ew->op = op;
    ew->action = action;
    ew->dw.body = body;
    api_write_submit(r, &ew->dw.w);
}

void api_experiments_create(struct http_req *r)
{
    json_t *body = http_req_json_body(r);
    if (body == NULL) {
        return;
    }
    struct experiment x;
    struct err err;
    err_clear(&err);
    if (experiment_from_json(body, MODEL_CREATE, NULL, &x, &err) != 0) { /* 400 early */
        json_decref(body);
        http_reply_err(r, &err);
        return;
    }
    experiment_clear(&x);
    submit(r, OP_CREATE, NULL, NULL, body, 201);
}

void api_experiments_patch(struct http_req *r)
{
    const char *key = api_key_param(r, "experiment");
    json_t *body = key ? http_req_json_body(r) : NULL;
    if (body != NULL) {
        submit(r, OP_PATCH, key, NULL, body, 200);
    }
}

void api_experiments_delete(struct http_req *r)
{
    const char *key = api_key_param(r, "experiment");
    if (key != NULL) {
        submit(r, OP_DELETE, key, NULL, NULL, 200);
    }
}

static void lifecycle(struct http_req *r, const char *action)
{
    const char *key = api_key_param(r, "experiment");
    if (key == NULL) {
        return;
    }
    json_t *body = NULL;
    size_t len = 0;
    http_req_body(r, &len);
    if (len > 0) {
        body = http_req_json_body(r);
        if (body == NULL) {
            return;
        }
        const char *name;
        json_t *v;
        json_object_foreach(body, name, v)
        {
            if (strcmp(action, "stop") != 0 ||
                (strcmp(name, "release") != 0 && strcmp(name, "conclusion") != 0)) {
                http_reply_error(r, ERR_INVALID, name, "unknown field '%.60s' for %s", name,
                                 action);
                json_decref(body);
                return;
            }
        }
    }
    submit(r, OP_LIFECYCLE, key, action, body, 200);
}

void api_experiments_start(struct http_req *r)
{
    lifecycle(r, "start");
}

void api_experiments_pause(struct http_req *r)
{
    lifecycle(r, "pause");
}

void api_experiments_resume(struct http_req *r)
{
    lifecycle(r, "resume");
}

void api_experiments_stop(struct http_req *r)
{
    lifecycle(r, "stop");
}

void api_experiments_archive(struct http_req *r)
{
    lifecycle(r, "archive");
}

/* ---- reads ---- */

void api_experiments_list(struct http_req *r)
{
    const char *status = http_req_query(r, "status");
    enum assign_status st;
    struct err err;
    err_clear(&err);
    if (status != NULL && assign_status_parse(status, &st, &err) != 0) {
        http_reply_error(r, ERR_INVALID, "status",
                         "status must be draft, running, paused, stopped or archived");
        return;
    }
    json_t *arr = json_array();
    if (store_experiment_list(http_req_app(r)->store, NULL, status, api_doc_list_append, arr,
                              &err) != 0) {
        json_decref(arr);
        http_reply_err(r, &err);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "experiments", arr));
}

void api_experiments_get(struct http_req *r)
{
    api_doc_get(r, "experiment", store_experiment_get);
}
