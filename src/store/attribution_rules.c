/*
 * attribution_rules.c - the attribution rules as attribution reads them (attribution_int.h):
 * the two indexes of store_rules (store.h: by event, by experiment) and its stop times, the
 * per-user value of a raw count or sum, the end of a user's metric window, the roll-up day
 * of a change. Pure: no I/O. store_rules_new runs where the snapshot is built
 * (src/api/rules.c); the lookups run on the writer thread against an immutable set (any
 * thread may read one).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "attribution_int.h"

#define NO_END INT64_MAX
#define DAY_MS 86400000

static int rule_cmp_event(const void *a, const void *b)
{
    const struct store_rule *x = a, *y = b;
    int c = strcmp(x->event, y->event);
    if (c == 0) {
        c = strcmp(x->experiment, y->experiment);
    }
    return c != 0 ? c : strcmp(x->metric, y->metric);
}

static int rule_cmp_exp(const void *a, const void *b)
{
    const struct store_rule *x = *(const struct store_rule *const *)a;
    const struct store_rule *y = *(const struct store_rule *const *)b;
    int c = strcmp(x->experiment, y->experiment);
    return c != 0 ? c : strcmp(x->metric, y->metric);
}

/* Whether rules[0..n) are in (experiment, metric) order, each pair once. */
static bool sorted_by_exp(const struct store_rule *rules, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int c = strcmp(rules[i - 1].experiment, rules[i].experiment);
        if (c > 0 || (c == 0 && strcmp(rules[i - 1].metric, rules[i].metric) >= 0)) {
            return false;
        }
    }
    return true;
}

static uint64_t event_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: event names come from definitions */
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return h;
}

struct event_slot {
    const char *event; /* NULL = free */
    uint64_t h;
    size_t id; /* the event's distinct number, in order of first appearance */
};

struct distinct_event {
    const char *event;
    size_t id;
};

static int event_cmp(const void *a, const void *b)
{
    return strcmp(((const struct distinct_event *)a)->event,
                  ((const struct distinct_event *)b)->event);
}

/* rules[0..n) in (experiment, metric) order: by_event is then a stable sort by event alone,
 * which is the (event, experiment, metric) order of rule_cmp_event, made in linear time (the
 * distinct events numbered through a hash table and ranked; the rules placed by counting).
 * Thread-safe (no shared state).
 * A reload builds rules for every experiment of the catalogue: two qsorts of 4,000 rules by
 * strings were a third of a reload of 2,000 experiments. Fills r->by_event and r->by_exp. */
static void index_sorted(struct store_rules *r, struct store_rule *rules, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) {
        cap *= 2;
    }
    struct event_slot *slots = xcalloc(cap, sizeof(*slots));
    size_t *id = xmalloc(n * sizeof(*id));
    struct distinct_event *order = xmalloc(n * sizeof(*order)); /* ranked below */
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = event_hash(rules[i].event);
        size_t k = (size_t)h & (cap - 1);
        while (slots[k].event != NULL &&
               (slots[k].h != h || strcmp(slots[k].event, rules[i].event) != 0)) {
            k = (k + 1) & (cap - 1);
        }
        if (slots[k].event == NULL) {
            slots[k] = (struct event_slot){rules[i].event, h, nd};
            order[nd] = (struct distinct_event){rules[i].event, nd};
            nd++;
        }
        id[i] = slots[k].id;
    }
    free(slots);
    qsort(order, nd, sizeof(*order), event_cmp);
    size_t *count = xcalloc(nd, sizeof(*count));
    size_t *start = xmalloc(nd * sizeof(*start)); /* distinct id -> its next place */
    for (size_t i = 0; i < n; i++) {
        count[id[i]]++;
    }
    size_t at = 0;
    for (size_t k = 0; k < nd; k++) {
        start[order[k].id] = at;
        at += count[order[k].id];
    }
    r->by_event = xmalloc(n * sizeof(*r->by_event));
    r->by_exp = xmalloc(n * sizeof(*r->by_exp));
    for (size_t i = 0; i < n; i++) {
        size_t pos = start[id[i]]++;
        r->by_event[pos] = rules[i];
        r->by_exp[i] = &r->by_event[pos];
    }
    free(start);
    free(count);
    free(order);
    free(id);
    free(rules);
}

struct store_rules *store_rules_new(struct store_rule *rules, size_t n)
{
    struct store_rules *r = xcalloc(1, sizeof(*r));
    r->n = n;
    if (n > 1 && sorted_by_exp(rules, n)) {
        index_sorted(r, rules, n);
        return r;
    }
    r->by_event = rules;
    if (n > 1) {
        qsort(rules, n, sizeof(*rules), rule_cmp_event);
    }
    r->by_exp = xcalloc(n ? n : 1, sizeof(*r->by_exp));
    for (size_t i = 0; i < n; i++) {
        r->by_exp[i] = &rules[i];
    }
    if (n > 1) {
        qsort(r->by_exp, n, sizeof(*r->by_exp), rule_cmp_exp);
    }
    return r;
}

void store_rules_free(struct store_rules *r)
{
    if (r != NULL) {
        free(r->by_event);
        free(r->by_exp);
        free(r->stops);
        free(r);
    }
}

static int stop_cmp(const void *a, const void *b)
{
    return strcmp(((const struct store_stop *)a)->experiment,
                  ((const struct store_stop *)b)->experiment);
}

/* Whether stops[0..n) are in experiment order already (a reload lists them so). */
static bool stops_sorted(const struct store_stop *stops, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (stop_cmp(&stops[i - 1], &stops[i]) > 0) {
            return false;
        }
    }
    return true;
}

void store_rules_set_stops(struct store_rules *r, struct store_stop *stops, size_t n)
{
    free(r->stops);
    if (n > 1 && !stops_sorted(stops, n)) {
        qsort(stops, n, sizeof(*stops), stop_cmp);
    }
    r->stops = stops;
    r->nstops = n;
}

int64_t store_rules_stopped_at(const struct store_rules *r, const char *experiment)
{
    if (r == NULL || r->nstops == 0) {
        return 0;
    }
    struct store_stop key;
    str_copy(key.experiment, sizeof(key.experiment), experiment);
    const struct store_stop *s = bsearch(&key, r->stops, r->nstops, sizeof(key), stop_cmp);
    return s != NULL ? s->stop_ts : 0;
}

const struct store_rule *const *store_rules_for_experiment(const struct store_rules *r,
                                                           const char *experiment, size_t *count)
{
    *count = 0;
    if (r == NULL) {
        return NULL;
    }
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(r->by_exp[mid]->experiment, experiment) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    size_t end = lo;
    while (end < r->n && strcmp(r->by_exp[end]->experiment, experiment) == 0) {
        end++;
    }
    *count = end - lo;
    return r->by_exp + lo;
}

/* First rule for event name, and how many share it. */
const struct store_rule *rules_for_event(const struct store_rules *r, const char *event,
                                         size_t *count)
{
    *count = 0;
    if (r == NULL || r->n == 0) {
        return NULL;
    }
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(r->by_event[mid].event, event) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    size_t end = lo;
    while (end < r->n && strcmp(r->by_event[end].event, event) == 0) {
        end++;
    }
    *count = end - lo;
    return r->by_event + lo;
}

/* The per-user value of STATS.md from a raw count or sum: binomial -> 0/1, then the cap. */
double store_rule_value(const struct store_rule *r, double raw)
{
    double y = r->type == RULE_BINOMIAL ? (raw > 0 ? 1.0 : 0.0) : raw;
    return r->has_cap && y > r->cap ? r->cap : y;
}

/* End (exclusive) of the metric window for a user first exposed at t0. */
int64_t rule_window_end(const struct store_rule *r, int64_t t0)
{
    int64_t end = r->window_ms > 0 && t0 <= NO_END - r->window_ms ? t0 + r->window_ms : NO_END;
    return r->stop_ts > 0 && r->stop_ts < end ? r->stop_ts : end;
}

int64_t store_rule_day(const struct store_rule *r, int64_t ts)
{
    return (ts > r->start_ts ? ts : r->start_ts) / DAY_MS;
}
