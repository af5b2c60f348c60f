/*
 * sums.c - per-user values and their sums for the rebuilds of both adapters (store_int.h): one
 * group's n and double-double sums of y, y^2, x, x^2, xy (and their metric_stats delta), the
 * per-variant and per-slice sums of one rule over a rebuild range, and its per-day
 * (metric_daily) changes, with their conversion to deltas; and the users' raw values of a
 * rule from its raw rows (store_rule_users), so that each adapter's slices.c and
 * rollup/rebuild code keeps only its SQL. Pure: no I/O; runs on the thread of the
 * rebuild that owns the structures (the writer, or a rebuild chunk).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/ddouble.h"
#include "bunsen/exactsum.h"
#include "bunsen/util.h"
#include "store_int.h"

void store_sums_add(struct store_sums *a, double y, double x)
{
    a->n++;
    a->s = dd_add(a->s, dd_of(y));
    a->q = dd_add(a->q, dd_two_prod(y, y));
    a->sx = dd_add(a->sx, dd_of(x));
    a->qx = dd_add(a->qx, dd_two_prod(x, x));
    a->p = dd_add(a->p, dd_two_prod(x, y));
}

struct store_delta store_sums_delta(const struct store_sums *a, const char *experiment,
                                    const char *metric, const char *variant)
{
    return (struct store_delta){.kind = DELTA_METRIC_STATS,
                                .experiment = experiment,
                                .metric = metric,
                                .variant = variant,
                                .dn = a->n,
                                .ds = a->s.hi,
                                .dq = a->q.hi,
                                .dsx = a->sx.hi,
                                .dqx = a->qx.hi,
                                .dp = a->p.hi,
                                .ds_lo = a->s.lo,
                                .dq_lo = a->q.lo,
                                .dsx_lo = a->sx.lo,
                                .dqx_lo = a->qx.lo,
                                .dp_lo = a->p.lo,
                                .hwm = fmax(fabs(a->q.hi), fmax(fabs(a->qx.hi), fabs(a->p.hi)))};
}

void store_variant_sums_add(struct store_variant_sums *vs, const char *variant, double y, double x)
{
    struct store_variant_sum *a = vs->n > 0 ? &vs->e[vs->n - 1] : NULL;
    if (a == NULL || strcmp(a->variant, variant) != 0) {
        if (vs->n == vs->alloc) {
            vs->alloc = vs->alloc ? vs->alloc * 2 : 4;
            vs->e = xrealloc(vs->e, vs->alloc * sizeof(*vs->e));
        }
        a = &vs->e[vs->n++];
        memset(a, 0, sizeof(*a));
        snprintf(a->variant, sizeof(a->variant), "%s", variant);
    }
    store_sums_add(&a->sums, y, x);
}

struct store_delta *store_variant_sums_deltas(const struct store_variant_sums *vs,
                                              const char *experiment, const char *metric)
{
    struct store_delta *d = xcalloc(vs->n ? vs->n : 1, sizeof(*d));
    for (size_t i = 0; i < vs->n; i++) {
        d[i] = store_sums_delta(&vs->e[i].sums, experiment, metric, vs->e[i].variant);
    }
    return d;
}

void store_variant_sums_free(struct store_variant_sums *vs)
{
    free(vs->e);
    memset(vs, 0, sizeof(*vs));
}

void store_slice_sums_add(struct store_slice_sums *ss, const char *dimension, const char *value,
                          const char *variant, double y, double x)
{
    struct store_slice_sum *a = ss->n > 0 ? &ss->e[ss->n - 1] : NULL;
    if (a == NULL || strcmp(a->dimension, dimension) != 0 || strcmp(a->value, value) != 0 ||
        strcmp(a->variant, variant) != 0) {
        if (ss->n == ss->alloc) {
            ss->alloc = ss->alloc ? ss->alloc * 2 : 16;
            ss->e = xrealloc(ss->e, ss->alloc * sizeof(*ss->e));
        }
        a = &ss->e[ss->n++];
        memset(a, 0, sizeof(*a));
        snprintf(a->dimension, sizeof(a->dimension), "%s", dimension);
        snprintf(a->value, sizeof(a->value), "%s", value);
        snprintf(a->variant, sizeof(a->variant), "%s", variant);
    }
    store_sums_add(&a->sums, y, x);
}

struct store_delta *store_slice_sums_deltas(const struct store_slice_sums *ss,
                                            const char *experiment, const char *metric)
{
    struct store_delta *d = xcalloc(ss->n ? ss->n : 1, sizeof(*d));
    for (size_t i = 0; i < ss->n; i++) {
        const struct store_slice_sum *a = &ss->e[i];
        d[i] = store_sums_delta(&a->sums, experiment, metric, a->variant);
        d[i].kind = DELTA_SLICE_STATS;
        d[i].dimension = a->dimension;
        d[i].value = a->value;
    }
    return d;
}

void store_slice_sums_free(struct store_slice_sums *ss)
{
    free(ss->e);
    memset(ss, 0, sizeof(*ss));
}

void store_daily_sums_add(struct store_daily_sums *ds, const char *variant, int64_t day, int64_t dn,
                          double y0, double y1, double x0, double x1)
{
    day = day < ds->first_day ? ds->first_day : day;
    struct store_daily_sum *a = ds->n > 0 ? &ds->e[ds->n - 1] : NULL;
    if (a == NULL || a->day != day || strcmp(a->variant, variant) != 0) {
        if (ds->n == ds->alloc) {
            ds->alloc = ds->alloc ? ds->alloc * 2 : 16;
            ds->e = xrealloc(ds->e, ds->alloc * sizeof(*ds->e));
        }
        a = &ds->e[ds->n++];
        memset(a, 0, sizeof(*a));
        snprintf(a->variant, sizeof(a->variant), "%s", variant);
        a->day = day;
    }
    a->dn += dn;
    a->ds = dd_add(a->ds, dd_two_sum(y1, -y0));
    a->dq = dd_add(a->dq, dd_add(dd_two_prod(y1, y1), dd_neg(dd_two_prod(y0, y0))));
    a->dsx = dd_add(a->dsx, dd_two_sum(x1, -x0));
    a->dqx = dd_add(a->dqx, dd_add(dd_two_prod(x1, x1), dd_neg(dd_two_prod(x0, x0))));
    a->dp = dd_add(a->dp, dd_add(dd_two_prod(x1, y1), dd_neg(dd_two_prod(x0, y0))));
    double h = fmax(fmax(y0 * y0, y1 * y1), fmax(x0 * x0, x1 * x1));
    a->hwm = fmax(fmax(a->hwm, h), fmax(fabs(a->dq.hi), fmax(fabs(a->dqx.hi), fabs(a->dp.hi))));
}

struct store_delta *store_daily_sums_deltas(const struct store_daily_sums *ds,
                                            const char *experiment, const char *metric)
{
    struct store_delta *d = xcalloc(ds->n ? ds->n : 1, sizeof(*d));
    for (size_t i = 0; i < ds->n; i++) {
        const struct store_daily_sum *a = &ds->e[i];
        d[i] = (struct store_delta){.kind = DELTA_METRIC_DAILY,
                                    .experiment = experiment,
                                    .metric = metric,
                                    .variant = a->variant,
                                    .day = a->day,
                                    .dn = a->dn,
                                    .ds = a->ds.hi,
                                    .dq = a->dq.hi,
                                    .dsx = a->dsx.hi,
                                    .dqx = a->dqx.hi,
                                    .dp = a->dp.hi,
                                    .ds_lo = a->ds.lo,
                                    .dq_lo = a->dq.lo,
                                    .dsx_lo = a->dsx.lo,
                                    .dqx_lo = a->dqx.lo,
                                    .dp_lo = a->dp.lo,
                                    .hwm = a->hwm};
    }
    return d;
}

void store_daily_sums_free(struct store_daily_sums *ds)
{
    free(ds->e);
    memset(ds, 0, sizeof(*ds));
}

/* ---- one rule's per-user values over a rebuild range ---- */

void store_rule_users_begin(struct store_rule_users *u, const struct store_rule *r)
{
    memset(u, 0, sizeof(*u));
    u->rule = r;
    u->days.first_day = store_rule_day(r, 0);
}

/* The user read so far: its row (when a value is not 0) and its share of the roll-ups. */
static void rule_user_close(struct store_rule_users *u)
{
    if (u->user == NULL) {
        return;
    }
    const struct store_rule *r = u->rule;
    struct exactsum_parts y = {{0, 0, 0}}, x = {{0, 0, 0}};
    if (r->type == RULE_SUM) {
        y = exactsum_parts(&u->y);
        x = exactsum_parts(&u->x);
    } else {
        y.p[0] = (double)u->ny;
        x.p[0] = (double)u->nx;
    }
    if (y.p[0] != 0 || x.p[0] != 0) {
        if (u->nrows == u->arows) {
            u->arows = u->arows ? u->arows * 2 : 64;
            u->rows = xrealloc(u->rows, u->arows * sizeof(*u->rows));
            u->user_ids = xrealloc(u->user_ids, u->arows * sizeof(*u->user_ids));
        }
        u->user_ids[u->nrows] = u->user;
        u->rows[u->nrows++] = (struct store_umrow){.user_id = u->user,
                                                   .experiment = r->experiment,
                                                   .metric = r->metric,
                                                   .y = y,
                                                   .x = x,
                                                   .present = true};
    } else {
        free(u->user);
    }
    u->user = NULL;
    double yv = store_rule_value(r, y.p[0]), xv = store_rule_value(r, x.p[0]);
    store_variant_sums_add(&u->stats, u->variant, yv, xv);
    /* the user's whole value on the day of its first exposure, where the incremental path
     * books each of its changes (they add up to the same value) */
    store_daily_sums_add(&u->days, u->variant, store_rule_day(r, u->t0), 1, 0, yv, 0, xv);
}

void store_rule_users_add(struct store_rule_users *u, const char *user_id, const char *variant,
                          int64_t t0, bool has_event, int64_t ts, double value)
{
    if (u->user == NULL || strcmp(u->user, user_id) != 0) {
        rule_user_close(u);
        u->user = xstrdup(user_id);
        snprintf(u->variant, sizeof(u->variant), "%s", variant);
        u->t0 = t0;
        exactsum_init(&u->y);
        exactsum_init(&u->x);
        u->ny = u->nx = 0;
    }
    if (!has_event) {
        return;
    }
    /* the query gave the events in [t0 - lookback, window end): before t0, the lookback */
    bool in_y = ts >= t0;
    exactsum_add(in_y ? &u->y : &u->x, value);
    *(in_y ? &u->ny : &u->nx) += 1;
}

void store_rule_users_end(struct store_rule_users *u)
{
    rule_user_close(u);
}

void store_rule_users_free(struct store_rule_users *u)
{
    for (size_t i = 0; i < u->nrows; i++) {
        free(u->user_ids[i]);
    }
    free(u->user_ids);
    free(u->rows);
    free(u->user);
    store_variant_sums_free(&u->stats);
    store_daily_sums_free(&u->days);
    memset(u, 0, sizeof(*u));
}
