/*
 * sums.c - sums of per-user values for the rebuilds of both adapters (store_int.h): one
 * group's n and double-double sums of y, y^2, x, x^2, xy (and their metric_stats delta), the
 * per-variant and per-slice sums of one rule over a rebuild range, and its per-day
 * (metric_daily) changes, with their conversion to deltas, so that each adapter's slices.c
 * and rollup/rebuild code keeps only its SQL. Pure: no I/O; runs on the thread of the
 * rebuild that owns the structures (the writer, or a rebuild chunk).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/ddouble.h"
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
                                .dp_lo = a->p.lo};
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
                          double y0, double y1)
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
                                    .ds_lo = a->ds.lo,
                                    .dq_lo = a->dq.lo};
    }
    return d;
}

void store_daily_sums_free(struct store_daily_sums *ds)
{
    free(ds->e);
    memset(ds, 0, sizeof(*ds));
}
