/*
 * rules.c - attribution rules from the catalogue (api_int.h): which events count toward
 * which experiment's metrics, with window, cap, CUPED lookback and stop time. Built with
 * every snapshot (so the writer always attributes with the definitions /assign uses) and
 * for rebuilds after a definition change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/model.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"

#define HOUR_MS 3600000LL

static void rule_fill(struct store_rule *r, const struct experiment *x, const struct metric *m)
{
    memset(r, 0, sizeof(*r));
    str_copy(r->experiment, sizeof(r->experiment), x->key);
    str_copy(r->metric, sizeof(r->metric), m->key);
    str_copy(r->event, sizeof(r->event), m->event);
    r->type = m->type == STATS_METRIC_BINOMIAL ? RULE_BINOMIAL
              : m->type == STATS_METRIC_COUNT  ? RULE_COUNT
                                               : RULE_SUM;
    r->window_ms = m->has_window ? m->window_hours * HOUR_MS : 0;
    r->has_cap = m->has_cap;
    r->cap = m->cap;
    r->lookback_ms = m->cuped_lookback_hours * HOUR_MS;
    /* as the time series places its first day (results_series.c) */
    r->start_ts = x->started_at > 0 ? x->started_at : x->created_at;
    r->stop_ts = x->stopped_at;
    r->dims = x->ndimensions > 0;
}

static bool has_rules(const struct experiment *x)
{
    return x->status != ASSIGN_STATUS_DRAFT;
}

/* Whether ingestion attributes events to x: not to an archived experiment, whose results are
 * frozen (its exposures are ignored too, ingest.c; and `bunsen compact` may have removed its
 * users' values, so a late event counted before a compaction and not after). A rebuild that
 * was running when it was archived still ends with its rules (has_rules). */
static bool attributes_events(const struct experiment *x)
{
    return has_rules(x) && x->status != ASSIGN_STATUS_ARCHIVED;
}

/* The metric keys of x: metrics then guardrails (a key in both counts once). */
static size_t metric_keys(const struct experiment *x, const char **out)
{
    size_t n = 0;
    for (size_t i = 0; i < x->nmetrics; i++) {
        out[n++] = x->metrics[i];
    }
    for (size_t i = 0; i < x->nguardrails; i++) {
        bool dup = false;
        for (size_t j = 0; j < x->nmetrics; j++) {
            dup = dup || strcmp(x->metrics[j], x->guardrails[i]) == 0;
        }
        if (!dup) {
            out[n++] = x->guardrails[i];
        }
    }
    return n;
}

struct metric_set {
    struct metric *m;
    size_t n, alloc;
};

static void metric_emit(void *ctx, const char *doc)
{
    struct metric_set *ms = ctx;
    json_t *j = json_loads(doc, 0, NULL);
    struct metric m;
    struct err err;
    if (j != NULL && metric_from_json(j, MODEL_LOAD, NULL, &m, &err) == 0) {
        if (ms->n == ms->alloc) {
            ms->alloc = ms->alloc ? ms->alloc * 2 : 32;
            ms->m = xrealloc(ms->m, ms->alloc * sizeof(*ms->m));
        }
        ms->m[ms->n++] = m;
    }
    json_decref(j);
}

static int metric_cmp(const void *a, const void *b)
{
    return strcmp(((const struct metric *)a)->key, ((const struct metric *)b)->key);
}

/* The metric of key in ms (sorted by key: metric_sort), or NULL. */
static const struct metric *find_metric(const struct metric_set *ms, const char *key)
{
    size_t lo = 0, hi = ms->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, ms->m[mid].key);
        if (c == 0) {
            return &ms->m[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

static void metric_sort(struct metric_set *ms)
{
    if (ms->n > 1) {
        qsort(ms->m, ms->n, sizeof(*ms->m), metric_cmp);
    }
}

/* Sort the rules of one experiment by metric (a few: insertion). */
static void rules_by_metric(struct store_rule *r, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(r[j - 1].metric, r[j].metric) > 0; j--) {
            struct store_rule t = r[j];
            r[j] = r[j - 1];
            r[j - 1] = t;
        }
    }
}

/* Room for every metric and guardrail plus two parts per ratio. */
#define RULES_KEYS_MAX (3 * (MODEL_MAX_METRICS + MODEL_MAX_GUARDRAILS))

/* Append the numerator and denominator of every ratio among keys[0..n) that are not
 * there yet (keys borrowed from ms); returns the new count. */
static size_t ratio_parts(const struct metric_set *ms, const char **keys, size_t n)
{
    size_t total = n;
    for (size_t k = 0; k < n; k++) {
        const struct metric *m = find_metric(ms, keys[k]);
        if (m == NULL || m->type != STATS_METRIC_RATIO) {
            continue;
        }
        const char *parts[] = {m->numerator, m->denominator};
        for (int i = 0; i < 2; i++) {
            bool have = false;
            for (size_t j = 0; j < total && !have; j++) {
                have = strcmp(keys[j], parts[i]) == 0;
            }
            if (!have && total < RULES_KEYS_MAX) {
                keys[total++] = parts[i];
            }
        }
    }
    return total;
}

static void rules_free(void *p)
{
    store_rules_free(p);
}

int api_rules_attach(struct snapshot *snap, struct store *store, struct err *err)
{
    struct metric_set ms = {0};
    if (store_metric_list(store, metric_emit, &ms, err) != 0) {
        free(ms.m);
        return -1;
    }
    metric_sort(&ms);
    /* the experiments in key order (snap is sealed), each one's rules by metric: the order
     * store_rules_new indexes in linear time */
    size_t alloc = 16 + 2 * snap->n, n = 0;
    struct store_rule *rules = xmalloc(alloc * sizeof(*rules));
    for (size_t i = 0; i < snap->n; i++) {
        const struct experiment *x = &snap->entries[i]->x;
        if (!attributes_events(x)) {
            continue;
        }
        const char *keys[RULES_KEYS_MAX];
        size_t nk = metric_keys(x, keys);
        nk = ratio_parts(&ms, keys, nk);
        size_t from = n;
        for (size_t k = 0; k < nk; k++) {
            const struct metric *m = find_metric(&ms, keys[k]);
            if (m == NULL || m->type == STATS_METRIC_RATIO) {
                continue; /* a ratio is computed from its parts' rules */
            }
            if (n == alloc) {
                alloc *= 2;
                rules = xrealloc(rules, alloc * sizeof(*rules));
            }
            rule_fill(&rules[n++], x, m);
        }
        rules_by_metric(rules + from, n - from);
    }
    free(ms.m);
    struct store_rules *set = store_rules_new(rules, n);
    /* every stopped experiment's stop, those without metrics too (exposures after it) */
    size_t nstops = 0;
    struct store_stop *stops = xcalloc(snap->n ? snap->n : 1, sizeof(*stops));
    for (size_t i = 0; i < snap->n; i++) {
        const struct experiment *x = &snap->entries[i]->x;
        if (has_rules(x) && x->stopped_at > 0) {
            str_copy(stops[nstops].experiment, sizeof(stops[nstops].experiment), x->key);
            stops[nstops++].stop_ts = x->stopped_at;
        }
    }
    store_rules_set_stops(set, stops, nstops);
    snap->ext = set;
    snap->ext_free = rules_free;
    return 0;
}

const struct store_rules *api_rules_of(const struct snapshot *snap)
{
    return snap->ext;
}

static int load_metric_tx(struct store_tx *tx, const char *key, struct metric *m, struct err *err)
{
    char *doc = NULL;
    if (store_metric_get(NULL, tx, key, &doc, err) != 0) {
        return -1;
    }
    json_t *j = json_loads(doc, 0, NULL);
    free(doc);
    int rc = j ? metric_from_json(j, MODEL_LOAD, NULL, m, err)
               : err_set(err, ERR_INTERNAL, NULL, "stored metric is not JSON");
    json_decref(j);
    return rc;
}

/* Add m's rule unless its metric already has one (a ratio's part may also be listed). */
static void rule_add_unique(struct store_rule *rules, const struct store_rule **ptrs, size_t *n,
                            const struct experiment *x, const struct metric *m)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(rules[i].metric, m->key) == 0) {
            return;
        }
    }
    if (*n < RULES_KEYS_MAX) {
        rule_fill(&rules[*n], x, m);
        ptrs[*n] = &rules[*n];
        (*n)++;
    }
}

/* The rules of x from the metrics as stored in tx, each ratio replaced by its two parts:
 * *n rules (pointers in ptrs; both arrays hold RULES_KEYS_MAX). */
static int rules_load(struct store_tx *tx, const struct experiment *x, struct store_rule *rules,
                      const struct store_rule **ptrs, size_t *n, struct err *err)
{
    *n = 0;
    if (!has_rules(x)) {
        return 0;
    }
    const char *keys[MODEL_MAX_METRICS + MODEL_MAX_GUARDRAILS];
    size_t nk = metric_keys(x, keys);
    for (size_t k = 0; k < nk; k++) {
        struct metric m;
        if (load_metric_tx(tx, keys[k], &m, err) != 0) {
            return -1;
        }
        if (m.type != STATS_METRIC_RATIO) {
            rule_add_unique(rules, ptrs, n, x, &m);
            continue;
        }
        struct metric part;
        if (load_metric_tx(tx, m.numerator, &part, err) != 0) {
            return -1;
        }
        rule_add_unique(rules, ptrs, n, x, &part);
        if (load_metric_tx(tx, m.denominator, &part, err) != 0) {
            return -1;
        }
        rule_add_unique(rules, ptrs, n, x, &part);
    }
    return 0;
}

int api_rollup_rebuild(struct store_tx *tx, const struct experiment *x, struct err *err)
{
    if (!has_rules(x)) {
        return 0;
    }
    struct store_rule rules[RULES_KEYS_MAX];
    const struct store_rule *ptrs[RULES_KEYS_MAX];
    size_t nk = 0;
    if (rules_load(tx, x, rules, ptrs, &nk, err) != 0) {
        return -1;
    }
    return store_rebuild_start(tx, x->key, x->stopped_at, ptrs, nk, err);
}

int api_rollup_rebuild_step(struct store_tx *tx, const char *key, bool *finished, struct err *err)
{
    struct experiment x;
    struct err e2;
    err_clear(&e2);
    if (api_experiment_load(NULL, tx, key, &x, &e2) != 0) {
        if (e2.code != ERR_NOT_FOUND) {
            *err = e2;
            return -1;
        }
        /* the experiment is gone (a draft deleted): only its state remains to clear */
        return store_rebuild_step(tx, key, 0, NULL, 0, finished, err);
    }
    struct store_rule rules[RULES_KEYS_MAX];
    const struct store_rule *ptrs[RULES_KEYS_MAX];
    size_t nk = 0;
    int rc = rules_load(tx, &x, rules, ptrs, &nk, err);
    if (rc == 0) {
        rc = store_rebuild_step(tx, key, x.stopped_at, ptrs, nk, finished, err);
    }
    experiment_clear(&x);
    return rc;
}
