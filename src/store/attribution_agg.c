/*
 * attribution_agg.c - the roll-up accumulator of one ingest call (attribution_int.h): the
 * deltas of metric_stats, metric_daily, exposure_stats and, for users with recorded
 * dimension values, of the slice roll-ups, summed per key in memory and written in one
 * batch per kind at the end (agg_flush); and the cursors of running rebuilds that keep a
 * not-yet-rebuilt user's changes out of a rebuilding experiment's roll-ups. Both in the
 * call's arena. Runs on the writer thread, inside the caller's transaction.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/ddouble.h"
#include "bunsen/util.h"
#include "attribution_int.h"

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
    double hwm; /* the largest square added to dq, dqx, dp and of them since (store_delta) */
    const char *dimension, *value; /* DELTA_SLICE_*: borrowed from the dims cache */
};

static void rb_emit(void *ctx, const char *experiment, const char *cursor)
{
    struct rb_cursors *rb = ctx;
    size_t a = rb->alloc;
    arena_grow_array(rb->arena, &rb->experiment, &a, rb->n + 1, sizeof(*rb->experiment));
    a = rb->alloc;
    arena_grow_array(rb->arena, &rb->cursor, &a, rb->n + 1, sizeof(*rb->cursor));
    rb->alloc = a;
    rb->experiment[rb->n] = arena_strdup(rb->arena, experiment);
    rb->cursor[rb->n] = arena_strdup(rb->arena, cursor);
    rb->n++;
}

/* Read the cursors in this transaction: after lock_users, so that a chunk of another writer
 * holding one of our users has either committed (its cursor is visible) or not started. */
int rb_load(struct store_tx *tx, struct rb_cursors *rb, struct err *err)
{
    return tx->store->ops->rebuild_cursors(tx, rb_emit, rb, err);
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
    g->buckets = arena_calloc(g->arena, nb, sizeof(*g->buckets));
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
    struct agg_entry *e = arena_calloc(g->arena, 1, sizeof(*e));
    e->kind = kind;
    e->experiment = exp;
    e->metric = metric;
    str_copy(e->variant, sizeof(e->variant), variant);
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

/* One user's change of the sums (agg_change_stats), added alike to each entry it moves. */
struct stats_change {
    int dn;                         /* users added: -1, 0, 1 */
    struct dd ds, dq, dsx, dqx, dp; /* of y, y^2, x, x^2, x y */
    double h;                       /* the largest term, for the entry's high-water mark */
};

static void entry_add_change(struct agg_entry *e, const struct stats_change *c)
{
    e->dn += c->dn;
    e->ds = dd_add(e->ds, c->ds);
    e->dq = dd_add(e->dq, c->dq);
    e->dsx = dd_add(e->dsx, c->dsx);
    e->dqx = dd_add(e->dqx, c->dqx);
    e->dp = dd_add(e->dp, c->dp);
    e->hwm = fmax(fmax(e->hwm, c->h), fmax(fabs(e->dq.hi), fmax(fabs(e->dqx.hi), fabs(e->dp.hi))));
}

/* Record the change of one user's (y, x) from old to new (dn = users added: -1, 0, 1). */
void agg_change_stats(struct agg *g, const struct store_rule *r, const char *user_id,
                      const char *variant, int64_t day, int dn, double y0, double y1, double x0,
                      double x1)
{
    if (rb_skip(g, r->experiment, user_id)) {
        return;
    }
    struct dd sy1 = dd_two_prod(y1, y1), sy0 = dd_two_prod(y0, y0);
    struct dd sx1 = dd_two_prod(x1, x1), sx0 = dd_two_prod(x0, x0);
    const struct stats_change c = {
        .dn = dn,
        .ds = dd_two_sum(y1, -y0),
        .dq = dd_add(sy1, dd_neg(sy0)),
        .dsx = dd_two_sum(x1, -x0),
        .dqx = dd_add(sx1, dd_neg(sx0)),
        .dp = dd_add(dd_two_prod(x1, y1), dd_neg(dd_two_prod(x0, y0))),
        /* the largest term (|x y| is at most the larger square) */
        .h = fmax(fmax(sy1.hi, sy0.hi), fmax(sx1.hi, sx0.hi)),
    };
    const struct dims_entry *dims = dims_of(g, user_id, r->experiment);
    for (size_t k = 0; k <= (dims != NULL ? dims->n : 0); k++) {
        struct agg_entry *e =
            k == 0 ? agg_get(g, DELTA_METRIC_STATS, r->experiment, r->metric, variant, 0)
                   : agg_get_slice(g, DELTA_SLICE_STATS, r->experiment, r->metric, variant, 0,
                                   dims->name[k - 1], dims->value[k - 1]);
        entry_add_change(e, &c);
    }
    /* the day of the user's first exposure: metric_daily partitions metric_stats by it, the
     * covariate sums included (migration 0016: CUPED per day of the time series) */
    if (dn != 0 || y0 != y1 || x0 != x1) {
        struct agg_entry *e =
            agg_get(g, DELTA_METRIC_DAILY, r->experiment, r->metric, variant, day);
        entry_add_change(e, &c);
    }
}

void agg_change_exposures(struct agg *g, const char *exp, const char *user_id, const char *variant,
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
void agg_change_slice_users(struct agg *g, const char *exp, const char *user_id,
                            const char *variant, int sign)
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

/* Write every accumulated delta in one batch (when rc == 0); g is empty afterwards. */
int agg_flush(struct store_tx *tx, struct agg *g, int rc, struct err *err)
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
        arena_grow_array(g->arena, to, slice ? &aslice : &alloc, *tn + 1, sizeof(**to));
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
                                              .hwm = e->hwm,
                                              .dimension = e->dimension,
                                              .value = e->value};
    }
    if (rc == 0 && n > 0) {
        rc = tx->store->ops->rollup_add(tx, d, n, err);
    }
    if (rc == 0 && nslice > 0 && tx->store->ops->slice_add != NULL) {
        rc = tx->store->ops->slice_add(tx, sd, nslice, err);
    }
    *g = (struct agg){.arena = g->arena};
    return rc;
}
