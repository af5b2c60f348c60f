/*
 * attribution.c - events and exposures into the store with incremental attribution
 * (store.h "Ingestion and attribution"), written once for every backend against the batch
 * primitives of store_int.h.
 *
 * For each stored event, the user's exposures decide, for every rule of those experiments
 * that counts the event, how the user's raw value (user_metrics) moves and how the change
 * of the user's per-user value y (or covariate x) moves the experiment's sufficient
 * statistics: deltas of n, S, Q, Sx, Qx, P, plus metric_daily. A new first exposure
 * computes the user's values from the events already stored (events may arrive before
 * exposures); an exposure that replaces the kept one (earlier timestamp arriving late)
 * removes the user's contribution and adds it again.
 *
 * A request is handled in phases so that a networked backend sees a few round trips per
 * request, never one per row: read everything the request needs (stored exposures, raw
 * values, events in windows) in batches, replay the request in order on an in-memory copy
 * (so each row sees the effect of the rows before it, exactly as row-at-a-time processing
 * would), then write the final rows and the summed roll-up deltas in batches.
 * Runs on the writer thread, inside the caller's transaction.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/ddouble.h"
#include "bunsen/util.h"
#include "store_int.h"

#define DAY_MS 86400000
#define NO_END INT64_MAX

/* ---- rules ---- */

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

struct store_rules *store_rules_new(struct store_rule *rules, size_t n)
{
    struct store_rules *r = xcalloc(1, sizeof(*r));
    r->n = n;
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
        free(r);
    }
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
static const struct store_rule *rules_for_event(const struct store_rules *r, const char *event,
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
static double rule_value(const struct store_rule *r, double raw)
{
    double y = r->type == RULE_BINOMIAL ? (raw > 0 ? 1.0 : 0.0) : raw;
    return r->has_cap && y > r->cap ? r->cap : y;
}

/* End (exclusive) of the metric window for a user first exposed at t0. */
static int64_t window_end(const struct store_rule *r, int64_t t0)
{
    int64_t end = r->window_ms > 0 && t0 <= NO_END - r->window_ms ? t0 + r->window_ms : NO_END;
    return r->stop_ts > 0 && r->stop_ts < end ? r->stop_ts : end;
}

/* ---- a string-tuple -> index map (keys of this request: users, exposures, user values) */

struct kmap {
    size_t *buckets; /* index + 1 of the first entry, 0 = empty */
    size_t nbuckets;
    struct kmap_entry {
        char *key; /* the parts, each NUL-terminated, back to back */
        size_t len;
        size_t next; /* index + 1 */
    } * e;
    size_t n, alloc;
};

static void kmap_free(struct kmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].key);
    }
    free(m->e);
    free(m->buckets);
    memset(m, 0, sizeof(*m));
}

static uint64_t kmap_hash(const char *k, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    }
    return h;
}

static void kmap_grow(struct kmap *m)
{
    size_t nb = m->nbuckets ? m->nbuckets * 2 : 256;
    size_t *b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < m->n; i++) {
        size_t h = (size_t)(kmap_hash(m->e[i].key, m->e[i].len) % nb);
        m->e[i].next = b[h];
        b[h] = i + 1;
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

/* Index of the tuple (a, b, c) (b, c may be NULL); *added true when it is new. */
static size_t kmap_put(struct kmap *m, const char *a, const char *b, const char *c, bool *added)
{
    /* the key is "a\0b\0c" (no snprintf: this runs for every row of a batch) */
    const char *parts[3] = {a, b ? b : "", c ? c : ""};
    size_t plen[3] = {strlen(parts[0]), strlen(parts[1]), strlen(parts[2])};
    size_t klen = plen[0] + plen[1] + plen[2] + 2;
    char buf[512];
    char *heap = klen >= sizeof(buf) ? xmalloc(klen + 1) : NULL;
    char *key = heap != NULL ? heap : buf;
    size_t at = 0;
    for (int k = 0; k < 3; k++) {
        memcpy(key + at, parts[k], plen[k]);
        at += plen[k];
        key[at++] = '\0';
    }
    if (m->n * 2 >= m->nbuckets) {
        kmap_grow(m);
    }
    size_t h = (size_t)(kmap_hash(key, klen) % m->nbuckets);
    for (size_t i = m->buckets[h]; i != 0; i = m->e[i - 1].next) {
        if (m->e[i - 1].len == klen && memcmp(m->e[i - 1].key, key, klen) == 0) {
            free(heap);
            if (added != NULL) {
                *added = false;
            }
            return i - 1;
        }
    }
    if (m->n == m->alloc) {
        m->alloc = m->alloc ? m->alloc * 2 : 64;
        m->e = xrealloc(m->e, m->alloc * sizeof(*m->e));
    }
    struct kmap_entry *e = &m->e[m->n];
    e->key = heap != NULL ? heap : xmalloc(klen + 1);
    if (heap == NULL) {
        memcpy(e->key, key, klen + 1);
    }
    e->len = klen;
    e->next = m->buckets[h];
    m->buckets[h] = m->n + 1;
    if (added != NULL) {
        *added = true;
    }
    return m->n++;
}

/* Grow an array *p of *alloc elements of size sz to hold at least need. */
static void grow(void *p, size_t *alloc, size_t need, size_t sz)
{
    if (need <= *alloc) {
        return;
    }
    size_t a = *alloc ? *alloc : 16;
    while (a < need) {
        a *= 2;
    }
    *(void **)p = xrealloc(*(void **)p, a * sz);
    *alloc = a;
}

/* ---- batched roll-up deltas ----
 * Within one ingest call, changes to metric_stats, metric_daily and exposure_stats are
 * summed in memory per key and written once at the end (flush): a 10,000-row batch
 * touches a few dozen roll-up rows instead of tens of thousands. */

#define AGG_BUCKETS_MIN 16 /* doubled while entries outnumber buckets */

struct agg_entry {
    struct agg_entry *next;  /* in its hash bucket */
    struct agg_entry *after; /* the next entry made (flush order) */
    uint32_t hash;           /* agg_hash of the key */
    enum store_delta_kind kind;
    const char *experiment, *metric; /* borrowed from rules / exposures of this call */
    char variant[65];
    int64_t day;
    int64_t dn, dconf;
    struct dd ds, dq, dsx, dqx, dp; /* double-doubles: exact whatever the magnitude */
    const char *dimension, *value;  /* DELTA_SLICE_*: borrowed from the dims cache */
};

/* ---- the dimension values of the (user, experiment) pairs of one call ---- */

struct dims_entry {
    size_t n;
    char name[STORE_DIMS_MAX][65];
    char value[STORE_DIMS_MAX][STORE_DIM_VALUE_MAX + 1];
};

/* (user, experiment) -> values; entries are allocated one by one, so the strings that the
 * roll-up deltas borrow stay put until the cache is freed (after the flush). */
struct dims_cache {
    struct kmap map;
    struct dims_entry **e; /* per map entry */
    size_t alloc;
};

static struct dims_entry *dims_entry_of(struct dims_cache *c, const char *user,
                                        const char *experiment)
{
    bool added = false;
    size_t i = kmap_put(&c->map, user, experiment, NULL, &added);
    if (added) {
        grow(&c->e, &c->alloc, c->map.n, sizeof(*c->e));
        c->e[i] = xcalloc(1, sizeof(**c->e));
    }
    return c->e[i];
}

static void dims_entry_add(struct dims_entry *d, const char *name, const char *value)
{
    for (size_t k = 0; k < d->n; k++) {
        if (strcmp(d->name[k], name) == 0) {
            return;
        }
    }
    if (d->n < STORE_DIMS_MAX) {
        snprintf(d->name[d->n], sizeof(d->name[d->n]), "%s", name);
        snprintf(d->value[d->n], sizeof(d->value[d->n]), "%s", value);
        d->n++;
    }
}

static void dims_cache_free(struct dims_cache *c)
{
    for (size_t i = 0; i < c->map.n; i++) {
        free(c->e[i]);
    }
    free(c->e);
    kmap_free(&c->map);
    memset(c, 0, sizeof(*c));
}

struct dims_load {
    struct dims_cache *c;
    const struct store_xrow *keys;
};

static void dims_found(void *ctx, size_t i, const char *dimension, const char *value)
{
    struct dims_load *l = ctx;
    dims_entry_add(dims_entry_of(l->c, l->keys[i].user_id, l->keys[i].experiment), dimension,
                   value);
}

/* Read the recorded values of keys[0..n) into the cache (no-op without slice ops). */
static int dims_load(struct store_tx *tx, struct dims_cache *c, const struct store_xrow *keys,
                     size_t n, struct err *err)
{
    if (n == 0 || tx->store->ops->dims_get == NULL) {
        return 0;
    }
    struct dims_load l = {.c = c, .keys = keys};
    return tx->store->ops->dims_get(tx, keys, n, dims_found, &l, err);
}

/* The cursors of the running rebuilds (rebuild.c): a rebuilding experiment's roll-ups take
 * deltas only for users at or below its cursor. */
struct rb_cursors {
    size_t n;
    char **experiment;
    char **cursor;
};

/* Zero-initialised = empty. The bucket array is allocated with the first entry and grows
 * with the entries, which are also chained in the order they were made: a call with little
 * to aggregate (one /assign exposure) neither zeroes nor scans a large table. */
struct agg {
    struct agg_entry **buckets; /* nbuckets heads, NULL until the first entry */
    size_t nbuckets, n;
    struct agg_entry *first, *last;
    const struct rb_cursors *rb; /* NULL or empty: no rebuild runs */
    struct dims_cache *dims;     /* NULL: no slices (the backend has none) */
};

static void rb_emit(void *ctx, const char *experiment, const char *cursor)
{
    struct rb_cursors *rb = ctx;
    rb->experiment = xrealloc(rb->experiment, (rb->n + 1) * sizeof(*rb->experiment));
    rb->cursor = xrealloc(rb->cursor, (rb->n + 1) * sizeof(*rb->cursor));
    rb->experiment[rb->n] = xstrdup(experiment);
    rb->cursor[rb->n] = xstrdup(cursor);
    rb->n++;
}

/* Read the cursors in this transaction: after lock_users, so that a chunk of another writer
 * holding one of our users has either committed (its cursor is visible) or not started. */
static int rb_load(struct store_tx *tx, struct rb_cursors *rb, struct err *err)
{
    return tx->store->ops->rebuild_cursors(tx, rb_emit, rb, err);
}

static void rb_free(struct rb_cursors *rb)
{
    for (size_t i = 0; i < rb->n; i++) {
        free(rb->experiment[i]);
        free(rb->cursor[i]);
    }
    free(rb->experiment);
    free(rb->cursor);
    memset(rb, 0, sizeof(*rb));
}

/* True when user's change must stay out of experiment's roll-ups: a rebuild runs and has
 * not reached the user (the chunk will read the user's raw rows). */
static bool rb_skip(const struct agg *g, const char *experiment, const char *user_id)
{
    for (size_t i = 0; g->rb != NULL && i < g->rb->n; i++) {
        if (strcmp(g->rb->experiment[i], experiment) == 0) {
            return strcmp(user_id, g->rb->cursor[i]) > 0;
        }
    }
    return false;
}

static uint32_t agg_hash(int kind, const char *a, const char *b, const char *v, int64_t day,
                         const char *dim, const char *val)
{
    uint32_t h = 2166136261u ^ (uint32_t)kind;
    const char *parts[] = {a, b ? b : "", v, dim ? dim : "", val ? val : ""};
    for (int i = 0; i < 5; i++) {
        for (const char *p = parts[i]; *p; p++) {
            h = (h ^ (unsigned char)*p) * 16777619u;
        }
        h = (h ^ 0xff) * 16777619u;
    }
    return h ^ (uint32_t)day ^ (uint32_t)(day >> 32);
}

/* Rehash every entry into twice the buckets (or the first AGG_BUCKETS_MIN). */
static void agg_grow(struct agg *g)
{
    size_t nb = g->nbuckets ? g->nbuckets * 2 : AGG_BUCKETS_MIN;
    free(g->buckets);
    g->buckets = xcalloc(nb, sizeof(*g->buckets));
    g->nbuckets = nb;
    for (struct agg_entry *e = g->first; e != NULL; e = e->after) {
        size_t b = e->hash % nb;
        e->next = g->buckets[b];
        g->buckets[b] = e;
    }
}

static struct agg_entry *agg_get_slice(struct agg *g, enum store_delta_kind kind, const char *exp,
                                       const char *metric, const char *variant, int64_t day,
                                       const char *dim, const char *val)
{
    uint32_t hash = agg_hash((int)kind, exp, metric, variant, day, dim, val);
    if (g->n >= g->nbuckets) {
        agg_grow(g);
    }
    size_t h = hash % g->nbuckets;
    for (struct agg_entry *e = g->buckets[h]; e != NULL; e = e->next) {
        if (e->kind == kind && e->day == day && strcmp(e->experiment, exp) == 0 &&
            (metric == NULL || strcmp(e->metric, metric) == 0) &&
            strcmp(e->variant, variant) == 0 &&
            (dim == NULL || (strcmp(e->dimension, dim) == 0 && strcmp(e->value, val) == 0))) {
            return e;
        }
    }
    struct agg_entry *e = xcalloc(1, sizeof(*e));
    e->kind = kind;
    e->experiment = exp;
    e->metric = metric;
    snprintf(e->variant, sizeof(e->variant), "%s", variant);
    e->day = day;
    e->dimension = dim;
    e->value = val;
    e->hash = hash;
    e->next = g->buckets[h];
    g->buckets[h] = e;
    g->n++;
    if (g->last != NULL) {
        g->last->after = e;
    } else {
        g->first = e;
    }
    g->last = e;
    return e;
}

static struct agg_entry *agg_get(struct agg *g, enum store_delta_kind kind, const char *exp,
                                 const char *metric, const char *variant, int64_t day)
{
    return agg_get_slice(g, kind, exp, metric, variant, day, NULL, NULL);
}

/* The recorded dimension values of (user, experiment) in this call, or NULL. */
static const struct dims_entry *dims_of(const struct agg *g, const char *user_id,
                                        const char *experiment)
{
    if (g->dims == NULL || g->dims->map.n == 0) {
        return NULL;
    }
    struct dims_entry *d = dims_entry_of(g->dims, user_id, experiment);
    return d->n > 0 ? d : NULL;
}

/* Record the change of one user's (y, x) from old to new (dn = users added: -1, 0, 1). */
static void stats_change(struct agg *g, const struct store_rule *r, const char *user_id,
                         const char *variant, int64_t day, int dn, double y0, double y1, double x0,
                         double x1)
{
    if (rb_skip(g, r->experiment, user_id)) {
        return;
    }
    struct agg_entry *e = agg_get(g, DELTA_METRIC_STATS, r->experiment, r->metric, variant, 0);
    struct dd ds = dd_two_sum(y1, -y0);
    struct dd dq = dd_add(dd_two_prod(y1, y1), dd_neg(dd_two_prod(y0, y0)));
    e->dn += dn;
    e->ds = dd_add(e->ds, ds);
    e->dq = dd_add(e->dq, dq);
    e->dsx = dd_add(e->dsx, dd_two_sum(x1, -x0));
    e->dqx = dd_add(e->dqx, dd_add(dd_two_prod(x1, x1), dd_neg(dd_two_prod(x0, x0))));
    struct dd dsx = dd_two_sum(x1, -x0);
    struct dd dqx = dd_add(dd_two_prod(x1, x1), dd_neg(dd_two_prod(x0, x0)));
    struct dd dp = dd_add(dd_two_prod(x1, y1), dd_neg(dd_two_prod(x0, y0)));
    e->dp = dd_add(e->dp, dp);
    const struct dims_entry *dims = dims_of(g, user_id, r->experiment);
    for (size_t k = 0; dims != NULL && k < dims->n; k++) {
        struct agg_entry *se = agg_get_slice(g, DELTA_SLICE_STATS, r->experiment, r->metric,
                                             variant, 0, dims->name[k], dims->value[k]);
        se->dn += dn;
        se->ds = dd_add(se->ds, ds);
        se->dq = dd_add(se->dq, dq);
        se->dsx = dd_add(se->dsx, dsx);
        se->dqx = dd_add(se->dqx, dqx);
        se->dp = dd_add(se->dp, dp);
    }
    if (dn != 0 || y0 != y1) {
        e = agg_get(g, DELTA_METRIC_DAILY, r->experiment, r->metric, variant, day);
        e->dn += dn;
        e->ds = dd_add(e->ds, ds);
        e->dq = dd_add(e->dq, dq);
    }
}

static void expostat(struct agg *g, const char *exp, const char *user_id, const char *variant,
                     int users, int conflicts)
{
    if (rb_skip(g, exp, user_id)) {
        return;
    }
    struct agg_entry *e = agg_get(g, DELTA_EXPOSURE_STATS, exp, NULL, variant, 0);
    e->dn += users;
    e->dconf += conflicts;
}

/* The user joins (sign +1) or leaves (-1) variant's exposed users in each slice. */
static void slice_users(struct agg *g, const char *exp, const char *user_id, const char *variant,
                        int sign)
{
    if (rb_skip(g, exp, user_id)) {
        return;
    }
    const struct dims_entry *dims = dims_of(g, user_id, exp);
    for (size_t k = 0; dims != NULL && k < dims->n; k++) {
        struct agg_entry *e = agg_get_slice(g, DELTA_SLICE_EXPOSURES, exp, NULL, variant, 0,
                                            dims->name[k], dims->value[k]);
        e->dn += sign;
    }
}

/* Write every accumulated delta in one batch (when rc == 0) and free the accumulator. */
static int agg_flush(struct store_tx *tx, struct agg *g, int rc, struct err *err)
{
    size_t n = 0, alloc = 0, nslice = 0, aslice = 0;
    struct store_delta *d = NULL, *sd = NULL;
    for (struct agg_entry *e = g->first; e != NULL; e = e->after) {
        bool slice = e->kind == DELTA_SLICE_STATS || e->kind == DELTA_SLICE_EXPOSURES;
        if (slice && e->dn == 0 && e->ds.hi == 0 && e->dq.hi == 0 && e->dsx.hi == 0 &&
            e->dqx.hi == 0 && e->dp.hi == 0 && e->ds.lo == 0 && e->dq.lo == 0 && e->dsx.lo == 0 &&
            e->dqx.lo == 0 && e->dp.lo == 0) {
            continue; /* e.g. a user who left and joined the same slice */
        }
        struct store_delta **to = slice ? &sd : &d;
        size_t *tn = slice ? &nslice : &n;
        grow(to, slice ? &aslice : &alloc, *tn + 1, sizeof(**to));
        (*to)[(*tn)++] = (struct store_delta){.kind = e->kind,
                                              .experiment = e->experiment,
                                              .metric = e->metric,
                                              .variant = e->variant,
                                              .day = e->day,
                                              .dn = e->dn,
                                              .dconf = e->dconf,
                                              .ds = e->ds.hi,
                                              .dq = e->dq.hi,
                                              .dsx = e->dsx.hi,
                                              .dqx = e->dqx.hi,
                                              .dp = e->dp.hi,
                                              .ds_lo = e->ds.lo,
                                              .dq_lo = e->dq.lo,
                                              .dsx_lo = e->dsx.lo,
                                              .dqx_lo = e->dqx.lo,
                                              .dp_lo = e->dp.lo,
                                              .dimension = e->dimension,
                                              .value = e->value};
    }
    if (rc == 0 && n > 0) {
        rc = tx->store->ops->rollup_add(tx, d, n, err);
    }
    if (rc == 0 && nslice > 0 && tx->store->ops->slice_add != NULL) {
        rc = tx->store->ops->slice_add(tx, sd, nslice, err);
    }
    free(d);
    free(sd);
    for (struct agg_entry *e = g->first; e != NULL;) {
        struct agg_entry *after = e->after;
        free(e);
        e = after;
    }
    free(g->buckets);
    *g = (struct agg){0};
    return rc;
}

/* ---- per-user metric values of this request (user_metrics rows) ---- */

struct umset {
    struct kmap map;
    struct store_umrow *rows; /* parallel to map entries; strings borrowed from the request */
    bool *dirty;              /* to be written */
    size_t alloc;
};

static size_t um_key(struct umset *u, const char *user, const struct store_rule *r)
{
    bool added = false;
    size_t i = kmap_put(&u->map, user, r->experiment, r->metric, &added);
    if (added) {
        size_t a = u->alloc;
        grow(&u->rows, &a, u->map.n, sizeof(*u->rows));
        a = u->alloc;
        grow(&u->dirty, &a, u->map.n, sizeof(*u->dirty));
        u->alloc = a;
        u->rows[i] =
            (struct store_umrow){.user_id = user, .experiment = r->experiment, .metric = r->metric};
        u->dirty[i] = false;
    }
    return i;
}

static void um_found(void *ctx, size_t i, double y, double x)
{
    struct store_umrow *row = ctx;
    row[i].y = y;
    row[i].x = x;
    row[i].present = true;
}

/* Read the stored values of every key collected so far (before the replay changes any). */
static int um_load(struct store_tx *tx, struct umset *u, struct err *err)
{
    if (u->map.n == 0) {
        return 0;
    }
    return tx->store->ops->user_metrics_get(tx, u->rows, u->map.n, um_found, u->rows, err);
}

static int um_store(struct store_tx *tx, struct umset *u, struct err *err)
{
    size_t n = 0;
    struct store_umrow *w = xcalloc(u->map.n ? u->map.n : 1, sizeof(*w));
    for (size_t i = 0; i < u->map.n; i++) {
        if (u->dirty[i]) {
            w[n++] = u->rows[i];
        }
    }
    int rc = n > 0 ? tx->store->ops->user_metrics_put(tx, w, n, err) : 0;
    free(w);
    return rc;
}

static void um_free(struct umset *u)
{
    kmap_free(&u->map);
    free(u->rows);
    free(u->dirty);
}

/* Sorted distinct users of a request, for lock_users (a fixed order avoids deadlocks
 * between writers that lock overlapping sets). */
static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int lock_users(struct store_tx *tx, const char **users, size_t n, struct err *err)
{
    if (n == 0) {
        return 0;
    }
    qsort(users, n, sizeof(*users), str_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || strcmp(users[k - 1], users[i]) != 0) {
            users[k++] = users[i];
        }
    }
    return tx->store->ops->lock_users(tx, users, k, err);
}

/* The recorded dimension values of the (user, experiment) pairs whose values this call
 * changes (the keys of um), for the experiments that list dimensions (store_rule.dims): the
 * others cost no read. Their slices are rebuilt when their dimensions change. */
static int dims_load_um(struct store_tx *tx, struct dims_cache *c, const struct umset *um,
                        const struct store_rules *rules, struct err *err)
{
    if (um->map.n == 0 || tx->store->ops->dims_get == NULL) {
        return 0;
    }
    struct kmap seen = {0};
    struct store_xrow *keys = xcalloc(um->map.n, sizeof(*keys));
    size_t n = 0;
    for (size_t i = 0; i < um->map.n; i++) {
        size_t nr = 0;
        const struct store_rule *const *rs =
            store_rules_for_experiment(rules, um->rows[i].experiment, &nr);
        if (nr == 0 || !rs[0]->dims) {
            continue;
        }
        bool added = false;
        kmap_put(&seen, um->rows[i].user_id, um->rows[i].experiment, NULL, &added);
        if (added) {
            keys[n].user_id = um->rows[i].user_id;
            keys[n++].experiment = um->rows[i].experiment;
        }
    }
    int rc = dims_load(tx, c, keys, n, err);
    kmap_free(&seen);
    free(keys);
    return rc;
}

/* ---- events ---- */

struct user_exposure {
    char experiment[65];
    char variant[65];
    int64_t t0;
};

/* The exposures of the users of a request: per user index, a run in xs. */
struct user_exposures {
    struct kmap users;
    const char **names; /* per user */
    size_t anames;
    size_t *first, *count; /* per user: run in xs */
    struct user_exposure *xs;
    size_t nxs, axs;
    size_t *user_of; /* per row of xs: its user, in arrival order */
};

static void ux_emit(void *ctx, size_t i, const char *experiment, const char *variant, int64_t ts)
{
    struct user_exposures *u = ctx;
    size_t a = u->axs;
    grow(&u->xs, &a, u->nxs + 1, sizeof(*u->xs));
    a = u->axs;
    grow(&u->user_of, &a, u->nxs + 1, sizeof(*u->user_of));
    u->axs = a;
    struct user_exposure *x = &u->xs[u->nxs];
    snprintf(x->experiment, sizeof(x->experiment), "%s", experiment);
    snprintf(x->variant, sizeof(x->variant), "%s", variant);
    x->t0 = ts;
    u->user_of[u->nxs++] = i;
}

/* Group the rows of xs by user (stable: a user's rows keep their order). */
static void ux_index(struct user_exposures *u)
{
    size_t n = u->users.n;
    u->first = xcalloc(n ? n : 1, sizeof(*u->first));
    u->count = xcalloc(n ? n : 1, sizeof(*u->count));
    for (size_t r = 0; r < u->nxs; r++) {
        u->count[u->user_of[r]]++;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        u->first[i] = at;
        at += u->count[i];
    }
    struct user_exposure *sorted = xcalloc(u->nxs ? u->nxs : 1, sizeof(*sorted));
    size_t *fill = xcalloc(n ? n : 1, sizeof(*fill));
    for (size_t r = 0; r < u->nxs; r++) {
        size_t i = u->user_of[r];
        sorted[u->first[i] + fill[i]++] = u->xs[r];
    }
    free(fill);
    free(u->xs);
    u->xs = sorted;
}

static void ux_free(struct user_exposures *u)
{
    kmap_free(&u->users);
    free(u->names);
    free(u->first);
    free(u->count);
    free(u->xs);
    free(u->user_of);
}

/* Whether event e counts toward rule r for a user exposed as ux: in the metric window (y)
 * or the CUPED lookback (x). */
static bool event_counts(const struct store_rule *r, const struct user_exposure *ux,
                         const struct store_event *e, bool *in_y)
{
    *in_y = e->ts >= ux->t0 && e->ts < window_end(r, ux->t0);
    bool in_x = r->lookback_ms > 0 && e->ts < ux->t0 && e->ts >= ux->t0 - r->lookback_ms;
    return *in_y || in_x;
}

/* Visit every (event, rule, exposure) that moves a user value, in request order. replay
 * false: only collect the keys; true: apply them to the loaded values and the roll-ups. */
static void events_walk(const struct store_rules *rules, const struct store_event *events, size_t n,
                        const bool *inserted, struct user_exposures *ux, struct umset *um,
                        struct agg *g, bool replay)
{
    for (size_t i = 0; i < n; i++) {
        if (!inserted[i]) {
            continue;
        }
        const struct store_event *e = &events[i];
        size_t nr = 0;
        const struct store_rule *rs = rules_for_event(rules, e->event, &nr);
        if (nr == 0) {
            continue;
        }
        size_t u = kmap_put(&ux->users, e->user_id, NULL, NULL, NULL);
        for (size_t x = ux->first[u]; x < ux->first[u] + ux->count[u]; x++) {
            const struct user_exposure *xp = &ux->xs[x];
            for (size_t k = 0; k < nr; k++) {
                const struct store_rule *r = &rs[k];
                bool in_y = false;
                if (strcmp(r->experiment, xp->experiment) != 0 || !event_counts(r, xp, e, &in_y)) {
                    continue;
                }
                size_t m = um_key(um, e->user_id, r);
                if (!replay) {
                    continue;
                }
                struct store_umrow *row = &um->rows[m];
                double yraw = row->present ? row->y : 0, xraw = row->present ? row->x : 0;
                double inc = r->type == RULE_SUM ? e->value : 1.0;
                row->y = yraw + (in_y ? inc : 0.0);
                row->x = xraw + (in_y ? 0.0 : inc);
                row->present = true;
                um->dirty[m] = true;
                double y0 = rule_value(r, yraw), x0 = rule_value(r, xraw);
                double y1 = in_y ? rule_value(r, yraw + inc) : y0;
                double x1 = in_y ? x0 : rule_value(r, xraw + inc);
                stats_change(g, r, e->user_id, xp->variant, (in_y ? e->ts : xp->t0) / DAY_MS, 0, y0,
                             y1, x0, x1);
            }
        }
    }
}

int store_ingest_events(struct store_tx *tx, const struct store_rules *rules,
                        const struct store_event *events, size_t n,
                        struct store_ingest_counts *counts, struct err *err)
{
    const struct store_ops *ops = tx->store->ops;
    struct agg g = {0};
    struct umset um = {0};
    struct user_exposures ux = {0};
    bool *inserted = xcalloc(n ? n : 1, sizeof(*inserted));
    const char **users = xcalloc(n ? n : 1, sizeof(*users));
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        users[i] = events[i].user_id;
    }
    struct rb_cursors rb = {0};
    struct dims_cache dims = {0};
    g.rb = &rb;
    g.dims = &dims;
    if (lock_users(tx, users, n, err) != 0 || rb_load(tx, &rb, err) != 0 ||
        ops->events_insert(tx, events, n, inserted, err) != 0) {
        rc = -1;
        goto out;
    }
    /* the users whose new events some rule counts: their exposures decide attribution */
    for (size_t i = 0; i < n; i++) {
        size_t nr = 0;
        counts->accepted += inserted[i] ? 1 : 0;
        counts->duplicates += inserted[i] ? 0 : 1;
        if (inserted[i] && rules_for_event(rules, events[i].event, &nr) != NULL && nr > 0) {
            bool added = false;
            kmap_put(&ux.users, events[i].user_id, NULL, NULL, &added);
            if (added) {
                grow(&ux.names, &ux.anames, ux.users.n, sizeof(*ux.names));
                ux.names[ux.users.n - 1] = events[i].user_id;
            }
        }
    }
    if (ux.users.n == 0) {
        goto out;
    }
    if (ops->exposures_of_users(tx, ux.names, ux.users.n, ux_emit, &ux, err) != 0) {
        rc = -1;
        goto out;
    }
    ux_index(&ux);
    events_walk(rules, events, n, inserted, &ux, &um, &g, false);
    if (um_load(tx, &um, err) != 0 || dims_load_um(tx, &dims, &um, rules, err) != 0) {
        rc = -1;
        goto out;
    }
    events_walk(rules, events, n, inserted, &ux, &um, &g, true);
    rc = um_store(tx, &um, err);
out:
    rc = agg_flush(tx, &g, rc, err);
    dims_cache_free(&dims);
    rb_free(&rb);
    um_free(&um);
    ux_free(&ux);
    free(users);
    free(inserted);
    return rc;
}

/* ---- exposures ---- */

/* The state of one (user, experiment) during a request. */
struct xstate {
    struct store_xrow row; /* user_id, experiment borrowed from the request */
    char variant[65];
    bool exists; /* stored, or first seen in this request */
    bool dirty;
    bool moved;       /* a stored exposure that this request replaces (its values are read) */
    const char *dims; /* a new first exposure: its encoded dimension values (request's) */
};

/* One change of attribution: add (+1) or remove (-1) the user, exposed at t0 to variant,
 * from every rule of the experiment. */
struct xop {
    int sign;
    const char *user_id, *experiment;
    char variant[65];
    int64_t t0;
    size_t q;   /* +1: first of its raw queries (two per rule: y, then x) */
    size_t has; /* +1: index of the user in the has-events set */
};

struct xreq {
    struct kmap keys; /* (user, experiment) -> states */
    struct xstate *st;
    size_t ast;
    struct xop *ops;
    size_t nops, aops;
};

static void x_found(void *ctx, size_t i, const char *variant, int64_t ts)
{
    struct xstate *st = ctx;
    snprintf(st[i].variant, sizeof(st[i].variant), "%s", variant);
    st[i].row.ts = ts;
    st[i].exists = true;
}

static void xop_add(struct xreq *q, int sign, const struct store_exposure *x, const char *variant,
                    int64_t t0)
{
    grow(&q->ops, &q->aops, q->nops + 1, sizeof(*q->ops));
    struct xop *o = &q->ops[q->nops++];
    memset(o, 0, sizeof(*o));
    o->sign = sign;
    o->user_id = x->user_id;
    o->experiment = x->experiment;
    snprintf(o->variant, sizeof(o->variant), "%s", variant);
    o->t0 = t0;
}

/* Phase A: the request in order against the exposure states; attribution changes become
 * ops, exposure-count changes go to the roll-ups. */
static void exposures_plan(struct xreq *q, const struct store_exposure *xs, size_t n, struct agg *g,
                           struct store_ingest_counts *counts)
{
    for (size_t i = 0; i < n; i++) {
        const struct store_exposure *x = &xs[i];
        struct xstate *s = &q->st[kmap_put(&q->keys, x->user_id, x->experiment, NULL, NULL)];
        if (!s->exists) {
            s->exists = true;
            s->row.is_new = true;
            s->dirty = true;
            snprintf(s->variant, sizeof(s->variant), "%s", x->variant);
            s->row.ts = x->ts;
            s->dims = x->dims;
            counts->accepted++;
            expostat(g, x->experiment, x->user_id, x->variant, 1, 0);
            xop_add(q, 1, x, x->variant, x->ts);
            continue;
        }
        char kept[65];
        memcpy(kept, s->variant, sizeof(kept));
        int64_t kept_ts = s->row.ts;
        bool same = strcmp(kept, x->variant) == 0;
        if (same) {
            counts->duplicates++;
        } else {
            counts->conflicts++;
        }
        if (x->ts >= kept_ts) {
            /* the kept exposure stays first; a different variant is a conflict */
            if (!same) {
                expostat(g, x->experiment, x->user_id, kept, 0, 1);
                s->row.conflicts_add++;
                s->dirty = true;
            }
            continue;
        }
        /* An earlier exposure arrived late: it becomes the first one (the recorded dimension
         * values stay those of the exposure recorded first). */
        s->moved = !s->row.is_new;
        xop_add(q, -1, x, kept, kept_ts);
        snprintf(s->variant, sizeof(s->variant), "%s", x->variant);
        s->row.ts = x->ts;
        s->row.conflicts_add += same ? 0 : 1;
        s->dirty = true;
        if (!same) {
            expostat(g, x->experiment, x->user_id, kept, -1, 1);
            expostat(g, x->experiment, x->user_id, x->variant, 1, 0);
        }
        xop_add(q, 1, x, x->variant, x->ts);
    }
}

static bool dim_special(const char *v)
{
    return strcmp(v, STORE_DIM_OTHER) == 0 || strcmp(v, STORE_DIM_NONE) == 0;
}

/* Parse an encoded dims string (store.h) into d. */
static void dims_parse(struct dims_entry *d, const char *enc)
{
    while (enc != NULL && *enc != '\0') {
        const char *sep = strchr(enc, STORE_DIM_SEP);
        if (sep == NULL) {
            return;
        }
        const char *end = strchr(sep + 1, STORE_DIM_PAIR_SEP);
        size_t nl = (size_t)(sep - enc), vl = end ? (size_t)(end - sep - 1) : strlen(sep + 1);
        char name[65], value[STORE_DIM_VALUE_MAX + 1];
        if (nl > 0 && nl < sizeof(name)) {
            memcpy(name, enc, nl);
            name[nl] = '\0';
            vl = vl < STORE_DIM_VALUE_MAX ? vl : STORE_DIM_VALUE_MAX;
            memcpy(value, sep + 1, vl);
            value[vl] = '\0';
            dims_entry_add(d, name, value[0] ? value : STORE_DIM_NONE);
        }
        enc = end ? end + 1 : NULL;
    }
}

/*
 * The dimension values of the request's new first exposures: parsed into the cache, each
 * value not yet registered for its (experiment, dimension) registered while fewer than
 * STORE_DIM_VALUES_MAX are, else recorded as STORE_DIM_OTHER (in request order), and the
 * exposure_dims rows written. Also reads the recorded values of replaced exposures.
 */
static int dims_record(struct store_tx *tx, struct xreq *q, struct dims_cache *c, struct err *err)
{
    const struct store_ops *ops = tx->store->ops;
    if (ops->dims_put == NULL) {
        return 0;
    }
    int rc = -1;
    struct kmap chk = {0}, cnt = {0};
    struct store_dimrow *rows = NULL, *vals = NULL, *reg = NULL;
    size_t nrows = 0, arows = 0, avals = 0, nreg = 0, areg = 0;
    bool *known = NULL, *added = NULL;
    int64_t *distinct = NULL, *extra = NULL;
    size_t nmoved = 0;
    struct store_xrow *moved = xcalloc(q->keys.n ? q->keys.n : 1, sizeof(*moved));
    for (size_t k = 0; k < q->keys.n; k++) {
        struct xstate *st = &q->st[k];
        if (st->moved) {
            moved[nmoved++] = st->row;
        }
        if (!st->row.is_new || st->dims == NULL || st->dims[0] == '\0') {
            continue;
        }
        struct dims_entry *d = dims_entry_of(c, st->row.user_id, st->row.experiment);
        dims_parse(d, st->dims);
        for (size_t j = 0; j < d->n; j++) {
            if (dim_special(d->value[j])) {
                continue;
            }
            bool isnew = false;
            kmap_put(&chk, st->row.experiment, d->name[j], d->value[j], &isnew);
            if (isnew) {
                grow(&vals, &avals, chk.n, sizeof(*vals));
                vals[chk.n - 1] = (struct store_dimrow){.experiment = st->row.experiment,
                                                        .dimension = d->name[j],
                                                        .value = d->value[j]};
            }
        }
    }
    if (dims_load(tx, c, moved, nmoved, err) != 0) {
        goto out;
    }
    known = xcalloc(chk.n ? chk.n : 1, sizeof(*known));
    added = xcalloc(chk.n ? chk.n : 1, sizeof(*added));
    distinct = xcalloc(chk.n ? chk.n : 1, sizeof(*distinct));
    if (chk.n > 0 && ops->dim_values_known(tx, vals, chk.n, known, distinct, err) != 0) {
        goto out;
    }
    for (size_t k = 0; k < q->keys.n; k++) {
        struct xstate *st = &q->st[k];
        if (!st->row.is_new || st->dims == NULL || st->dims[0] == '\0') {
            continue;
        }
        struct dims_entry *d = dims_entry_of(c, st->row.user_id, st->row.experiment);
        for (size_t j = 0; j < d->n; j++) {
            if (!dim_special(d->value[j])) {
                size_t i = kmap_put(&chk, st->row.experiment, d->name[j], d->value[j], NULL);
                if (!known[i] && !added[i]) {
                    bool isnew = false;
                    size_t e = kmap_put(&cnt, st->row.experiment, d->name[j], NULL, &isnew);
                    if (isnew) {
                        extra = xrealloc(extra, cnt.n * sizeof(*extra));
                        extra[e] = 0;
                    }
                    if (distinct[i] + extra[e] < STORE_DIM_VALUES_MAX) {
                        added[i] = true;
                        extra[e]++;
                        grow(&reg, &areg, nreg + 1, sizeof(*reg));
                        reg[nreg++] = vals[i];
                    } else {
                        snprintf(d->value[j], sizeof(d->value[j]), "%s", STORE_DIM_OTHER);
                    }
                }
            }
            grow(&rows, &arows, nrows + 1, sizeof(*rows));
            rows[nrows++] = (struct store_dimrow){.user_id = st->row.user_id,
                                                  .experiment = st->row.experiment,
                                                  .dimension = d->name[j],
                                                  .value = d->value[j]};
        }
    }
    if ((nreg > 0 && ops->dim_values_put(tx, reg, nreg, err) != 0) ||
        (nrows > 0 && ops->dims_put(tx, rows, nrows, err) != 0)) {
        goto out;
    }
    rc = 0;
out:
    kmap_free(&chk);
    kmap_free(&cnt);
    free(rows);
    free(vals);
    free(reg);
    free(known);
    free(added);
    free(distinct);
    free(extra);
    free(moved);
    return rc;
}

int store_ingest_exposures(struct store_tx *tx, const struct store_rules *rules,
                           const struct store_exposure *exposures, size_t n,
                           struct store_ingest_counts *counts, struct err *err)
{
    const struct store_ops *ops = tx->store->ops;
    struct agg g = {0};
    struct rb_cursors rb = {0};
    struct dims_cache dims = {0};
    struct umset um = {0};
    struct xreq q = {0};
    struct kmap hasmap = {0};
    const char **husers = NULL;
    bool *has = NULL;
    struct store_rawq *raw = NULL;
    int64_t *cnt = NULL;
    double *sum = NULL;
    struct store_xrow *rows = NULL;
    size_t nraw = 0, araw = 0, ahusers = 0;
    const char **users = xcalloc(n ? n : 1, sizeof(*users));
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        users[i] = exposures[i].user_id;
    }
    g.rb = &rb;
    g.dims = &dims;
    if (lock_users(tx, users, n, err) != 0 || rb_load(tx, &rb, err) != 0) {
        goto out;
    }
    /* the stored state of every (user, experiment) of the request */
    for (size_t i = 0; i < n; i++) {
        bool added = false;
        size_t k = kmap_put(&q.keys, exposures[i].user_id, exposures[i].experiment, NULL, &added);
        if (added) {
            grow(&q.st, &q.ast, q.keys.n, sizeof(*q.st));
            memset(&q.st[k], 0, sizeof(q.st[k]));
            q.st[k].row.user_id = exposures[i].user_id;
            q.st[k].row.experiment = exposures[i].experiment;
        }
    }
    struct store_xrow *keys = xcalloc(q.keys.n ? q.keys.n : 1, sizeof(*keys));
    for (size_t k = 0; k < q.keys.n; k++) {
        keys[k] = q.st[k].row;
    }
    int grc = q.keys.n > 0 ? ops->exposures_get(tx, keys, q.keys.n, x_found, q.st, err) : 0;
    free(keys);
    if (grc != 0) {
        goto out;
    }
    exposures_plan(&q, exposures, n, &g, counts);
    if (dims_record(tx, &q, &dims, err) != 0) {
        goto out;
    }
    /* Phase B: what the additions read (events are not changed by this request) and the
     * user values the removals read (as stored before the request). */
    for (size_t o = 0; o < q.nops; o++) {
        struct xop *op = &q.ops[o];
        size_t nr = 0;
        const struct store_rule *const *rs = store_rules_for_experiment(rules, op->experiment, &nr);
        if (op->sign < 0) {
            for (size_t i = 0; i < nr; i++) {
                um_key(&um, op->user_id, rs[i]);
            }
            continue;
        }
        if (nr == 0) {
            continue;
        }
        bool added = false;
        op->has = kmap_put(&hasmap, op->user_id, NULL, NULL, &added);
        if (added) {
            grow(&husers, &ahusers, hasmap.n, sizeof(*husers));
            husers[hasmap.n - 1] = op->user_id;
        }
    }
    has = xcalloc(hasmap.n ? hasmap.n : 1, sizeof(*has));
    if (hasmap.n > 0 && ops->users_with_events(tx, husers, hasmap.n, has, err) != 0) {
        goto out;
    }
    for (size_t o = 0; o < q.nops; o++) {
        struct xop *op = &q.ops[o];
        size_t nr = 0;
        const struct store_rule *const *rs = store_rules_for_experiment(rules, op->experiment, &nr);
        op->q = nraw;
        if (op->sign < 0 || nr == 0 || !has[op->has]) {
            continue;
        }
        grow(&raw, &araw, nraw + 2 * nr, sizeof(*raw));
        for (size_t i = 0; i < nr; i++) {
            const struct store_rule *r = rs[i];
            raw[nraw++] = (struct store_rawq){.user_id = op->user_id,
                                              .event = r->event,
                                              .from = op->t0,
                                              .to = window_end(r, op->t0)};
            raw[nraw++] =
                (struct store_rawq){.user_id = op->user_id,
                                    .event = r->event,
                                    .from = r->lookback_ms > 0 ? op->t0 - r->lookback_ms : op->t0,
                                    .to = op->t0};
        }
    }
    /* an empty range reads nothing: leave it out of the batch */
    struct store_rawq *live = xcalloc(nraw ? nraw : 1, sizeof(*live));
    size_t *live_of = xcalloc(nraw ? nraw : 1, sizeof(*live_of));
    size_t nlive = 0;
    for (size_t i = 0; i < nraw; i++) {
        if (raw[i].from < raw[i].to) {
            live_of[nlive] = i;
            live[nlive++] = raw[i];
        }
    }
    cnt = xcalloc(nraw ? nraw : 1, sizeof(*cnt));
    sum = xcalloc(nraw ? nraw : 1, sizeof(*sum));
    int64_t *lcnt = xcalloc(nlive ? nlive : 1, sizeof(*lcnt));
    double *lsum = xcalloc(nlive ? nlive : 1, sizeof(*lsum));
    int qrc = nlive > 0 ? ops->events_raw(tx, live, nlive, lcnt, lsum, err) : 0;
    for (size_t i = 0; i < nlive; i++) {
        cnt[live_of[i]] = lcnt[i];
        sum[live_of[i]] = lsum[i];
    }
    free(live);
    free(live_of);
    free(lcnt);
    free(lsum);
    if (qrc != 0 || um_load(tx, &um, err) != 0) {
        goto out;
    }
    /* Phase C: replay the ops in order on the loaded values. user_metrics holds a row only
     * for users with a non-zero raw value: no row means 0. */
    for (size_t o = 0; o < q.nops; o++) {
        const struct xop *op = &q.ops[o];
        size_t nr = 0;
        const struct store_rule *const *rs = store_rules_for_experiment(rules, op->experiment, &nr);
        int64_t day = op->t0 / DAY_MS;
        slice_users(&g, op->experiment, op->user_id, op->variant, op->sign);
        for (size_t i = 0; i < nr; i++) {
            const struct store_rule *r = rs[i];
            double yraw = 0, xraw = 0;
            if (op->sign > 0) {
                if (has[op->has]) {
                    size_t y = op->q + 2 * i, x = y + 1;
                    yraw = r->type == RULE_SUM ? sum[y] : (double)cnt[y];
                    xraw = r->lookback_ms > 0 ? (r->type == RULE_SUM ? sum[x] : (double)cnt[x]) : 0;
                }
                if (yraw != 0 || xraw != 0) {
                    size_t m = um_key(&um, op->user_id, r);
                    um.rows[m].y = yraw;
                    um.rows[m].x = xraw;
                    um.rows[m].present = true;
                    um.dirty[m] = true;
                }
                stats_change(&g, r, op->user_id, op->variant, day, 1, 0, rule_value(r, yraw), 0,
                             rule_value(r, xraw));
            } else {
                size_t m = um_key(&um, op->user_id, r);
                if (um.rows[m].present) {
                    yraw = um.rows[m].y;
                    xraw = um.rows[m].x;
                    um.rows[m].present = false;
                    um.dirty[m] = true;
                }
                stats_change(&g, r, op->user_id, op->variant, day, -1, rule_value(r, yraw), 0,
                             rule_value(r, xraw), 0);
            }
        }
    }
    /* Phase D: the final rows */
    rows = xcalloc(q.keys.n ? q.keys.n : 1, sizeof(*rows));
    size_t nrows = 0;
    for (size_t k = 0; k < q.keys.n; k++) {
        if (q.st[k].dirty) {
            rows[nrows] = q.st[k].row;
            rows[nrows++].variant = q.st[k].variant;
        }
    }
    if ((nrows > 0 && ops->exposures_put(tx, rows, nrows, err) != 0) ||
        um_store(tx, &um, err) != 0) {
        goto out;
    }
    rc = 0;
out:
    rc = agg_flush(tx, &g, rc, err);
    dims_cache_free(&dims);
    rb_free(&rb);
    kmap_free(&q.keys);
    free(q.st);
    free(q.ops);
    kmap_free(&hasmap);
    free(husers);
    free(has);
    free(raw);
    free(cnt);
    free(sum);
    free(rows);
    um_free(&um);
    free(users);
    return rc;
}
