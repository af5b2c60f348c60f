/*
 * results_slices.c - the results broken down by one of the experiment's dimensions
 * (results.h results_breakdown, API.md "Results, v1.1"): the slices read from the slice
 * roll-ups, the most frequent values kept and the rest folded into STORE_DIM_OTHER, then
 * one results document per slice (results_compute_doc) and one multiple-comparison family
 * over all of them. Threads: the MHD workers and the CLI, each on its own store reader.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/log.h"
#include "bunsen/ddouble.h"
#include "bunsen/results.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"
#include "results_int.h"

/* ---- dimension breakdowns ---- */

/* The stored values of a dimension while they are read: every value (at most
 * STORE_DIM_VALUES_MAX + 2) and the slice each one is reported in. */
struct breakdown {
    const struct experiment *x;
    struct slice *all; /* every stored value */
    size_t nall, aall;
    size_t *slice_of; /* per stored value: index in slices */
    struct slice *slices;
    size_t nslices;
    size_t metric;                  /* the metric k being read */
    const char **ratio_unavailable; /* per metric k (struct slice) */
};

static struct slice *value_find(struct breakdown *b, const char *value, size_t *at)
{
    for (size_t i = 0; i < b->nall; i++) {
        if (strcmp(b->all[i].value, value) == 0) {
            *at = i;
            return &b->all[i];
        }
    }
    return NULL;
}

static void slice_users_emit(void *ctx, const char *value, const char *variant, int64_t users)
{
    struct breakdown *b = ctx;
    int i = experiment_variant_index(b->x, variant);
    if (i < 0) {
        return;
    }
    size_t at;
    struct slice *sl = value_find(b, value, &at);
    if (sl == NULL) {
        if (b->nall == b->aall) {
            b->aall = b->aall ? b->aall * 2 : 16;
            b->all = xrealloc(b->all, b->aall * sizeof(*b->all));
        }
        sl = &b->all[b->nall++];
        memset(sl, 0, sizeof(*sl));
        snprintf(sl->value, sizeof(sl->value), "%s", value);
    }
    sl->users[i] += users;
    sl->total += users;
}

static void slice_stats_emit(void *ctx, const char *value, const struct store_suff *st)
{
    struct breakdown *b = ctx;
    int i = experiment_variant_index(b->x, st->variant);
    size_t at;
    if (i < 0 || value_find(b, value, &at) == NULL) {
        return;
    }
    struct store_suff *d =
        &b->slices[b->slice_of[at]].suff[b->metric * b->x->nvariants + (size_t)i];
    d->n += st->n;
    results_dd_acc(&d->s, &d->s_lo, (struct dd){st->s, st->s_lo});
    results_dd_acc(&d->q, &d->q_lo, (struct dd){st->q, st->q_lo});
    results_dd_acc(&d->sx, &d->sx_lo, (struct dd){st->sx, st->sx_lo});
    results_dd_acc(&d->qx, &d->qx_lo, (struct dd){st->qx, st->qx_lo});
    results_dd_acc(&d->p, &d->p_lo, (struct dd){st->p, st->p_lo});
}

/* A ratio metric per slice: its parts' sums per value of the dimension (results_ratio_sums:
 * from the users' stored values, every exposed user with a value of the dimension, or the
 * sums kept through a rebuild), added into the slice each value is reported in. */
static int slice_ratio(struct store *s, struct breakdown *b, const char *dimension,
                       const struct metric *m, struct err *err)
{
    struct results_ratio_sums r;
    const char *unavailable = NULL;
    if (results_ratio_sums(s, b->x, m, dimension, &r, &unavailable, err) != 0) {
        return -1;
    }
    b->ratio_unavailable[b->metric] = unavailable;
    for (size_t k = 0; k < r.n; k++) {
        for (size_t i = 0; i < b->x->nvariants; i++) {
            slice_stats_emit(b, r.v[k].value, &r.v[k].st[i]);
        }
    }
    results_ratio_sums_free(&r);
    return 0;
}

/* The rank of a value among the special ones: named values 0, then STORE_DIM_OTHER, then
 * STORE_DIM_NONE (docs/API.md: the top values, "(other)", "(none)"; a client taking the
 * first slices as the top values found "(none)" among them when it was frequent). */
static int special_rank(const char *value)
{
    return strcmp(value, STORE_DIM_OTHER) == 0 ? 1 : strcmp(value, STORE_DIM_NONE) == 0 ? 2 : 0;
}

/* Most users first; the special values after the others. */
static int slice_cmp(const void *a, const void *b)
{
    const struct slice *x = a, *y = b;
    int sx = special_rank(x->value), sy = special_rank(y->value);
    if (sx != sy) {
        return sx > sy ? 1 : -1;
    }
    if (x->total != y->total) {
        return x->total > y->total ? -1 : 1;
    }
    return strcmp(x->value, y->value);
}

/* Exposed users per variant of the whole experiment (store_exposure_by_variant). */
struct main_users {
    const struct experiment *x;
    int64_t users[ASSIGN_MAX_VARIANTS];
};

static void main_users_emit(void *ctx, const char *variant, int64_t users)
{
    struct main_users *u = ctx;
    int i = experiment_variant_index(u->x, variant);
    if (i >= 0) {
        u->users[i] = users;
    }
}

/* Per variant its users in no slice (its exposed users less those of every stored value):
 * exposed before the dimension was listed, so no value was recorded for them (not "(none)",
 * which is a recorded absence of the attribute). */
static json_t *variants_json(const struct experiment *x, const struct main_users *u,
                             const struct breakdown *b)
{
    json_t *a = json_array();
    for (size_t v = 0; v < x->nvariants; v++) {
        int64_t in_slices = 0;
        for (size_t i = 0; i < b->nall; i++) {
            in_slices += b->all[i].users[v];
        }
        int64_t left = u->users[v] > in_slices ? u->users[v] - in_slices : 0;
        json_array_append_new(a, json_pack("{s:s, s:s, s:I}", "key", x->variants[v].key, "name",
                                           x->variants[v].name, "users_not_recorded",
                                           (json_int_t)left));
    }
    return a;
}

/* Whether dimension is one of x's "dimensions". */
static bool has_dimension(const struct experiment *x, const char *dimension)
{
    for (size_t i = 0; i < x->ndimensions; i++) {
        if (strcmp(x->dimensions[i], dimension) == 0) {
            return true;
        }
    }
    return false;
}

/* The 400 of a dimension the experiment does not list, naming those it does: as many as fit
 * the message whole ("(country, plan)"), then "and N more" (3 of 64 bytes would not fit). */
static int dimension_err(const struct experiment *x, struct err *err)
{
    if (x->ndimensions == 0) {
        return err_set(err, ERR_INVALID, "dimension",
                       "dimension must be one of the experiment's dimensions (it lists none)");
    }
    char names[112] = "";
    size_t len = 0, shown = 0;
    for (; shown < x->ndimensions; shown++) {
        const char *d = x->dimensions[shown];
        size_t need = strlen(d) + (shown > 0 ? 2 : 0);
        /* room for this one and, when others follow, for ", and N more" */
        size_t tail = shown + 1 < x->ndimensions ? 16 : 0;
        if (len + need + tail >= sizeof(names)) {
            break;
        }
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", shown > 0 ? ", " : "", d);
    }
    if (shown < x->ndimensions) {
        snprintf(names + len, sizeof(names) - len, "%sand %zu more", shown > 0 ? ", " : "",
                 x->ndimensions - shown);
    }
    return err_set(err, ERR_INVALID, "dimension",
                   "dimension must be one of the experiment's dimensions (%s)", names);
}

static json_t *breakdown_read(struct store *s, const struct experiment *x, const char *dimension,
                              const struct results_params *p, struct err *err)
{
    if (dimension == NULL || !has_dimension(x, dimension)) {
        return dimension_err(x, err), NULL;
    }
    size_t nm = x->nmetrics + x->nguardrails, nv = x->nvariants;
    struct breakdown b = {.x = x};
    json_t *result = NULL, *slices = NULL, *left_out = NULL;
    struct family fam = {0};
    struct main_users mu = {.x = x};
    int64_t conflicts = 0;
    if (store_slice_exposures(s, x->key, dimension, slice_users_emit, &b, err) != 0 ||
        store_exposure_by_variant(s, x->key, main_users_emit, &mu, &conflicts, err) != 0) {
        goto out;
    }
    if (b.nall > 1) {
        qsort(b.all, b.nall, sizeof(*b.all), slice_cmp);
    }
    /* the RESULTS_SLICES_MAX most frequent values, the rest together as STORE_DIM_OTHER;
     * the users without the attribute always as STORE_DIM_NONE (it took one of the slots,
     * and when rarer than the last value its users went into (other) unsaid) */
    b.slice_of = xcalloc(b.nall ? b.nall : 1, sizeof(*b.slice_of));
    b.slices = xcalloc(RESULTS_SLICES_MAX + 2, sizeof(*b.slices));
    b.ratio_unavailable = xcalloc(nm + 1, sizeof(*b.ratio_unavailable));
    size_t other = (size_t)-1, named = 0;
    for (size_t i = 0; i < b.nall; i++) {
        bool none = strcmp(b.all[i].value, STORE_DIM_NONE) == 0;
        bool fold =
            !none && (named >= RESULTS_SLICES_MAX || strcmp(b.all[i].value, STORE_DIM_OTHER) == 0);
        named += !none && !fold;
        size_t to = fold ? other : b.nslices;
        if (to == (size_t)-1 || !fold) {
            to = b.nslices++;
            b.slices[to] = (struct slice){.total = 0};
            snprintf(b.slices[to].value, sizeof(b.slices[to].value), "%s",
                     fold ? STORE_DIM_OTHER : b.all[i].value);
            b.slices[to].suff = xcalloc(nm * nv + 1, sizeof(struct store_suff));
            b.slices[to].ratio_unavailable = b.ratio_unavailable;
            other = fold ? to : other;
        }
        b.slice_of[i] = to;
        for (size_t v = 0; v < nv; v++) {
            b.slices[to].users[v] += b.all[i].users[v];
        }
        b.slices[to].total += b.all[i].total;
    }
    left_out = json_array();
    for (size_t k = 0; k < nm; k++) {
        bool guardrail = k >= x->nmetrics;
        const char *key = guardrail ? x->guardrails[k - x->nmetrics] : x->metrics[k];
        struct metric m;
        bool unknown = false;
        if (results_load_metric_kept(s, x->key, key, &m, &unknown, err) != 0) {
            goto out;
        }
        if (unknown) {
            continue; /* no statistics until the rebuild ends (results_compute_doc) */
        }
        b.metric = k;
        if (m.type == STATS_METRIC_RATIO
                ? slice_ratio(s, &b, dimension, &m, err) != 0
                : results_slice_read(s, x, &m, dimension, slice_stats_emit, &b, err) != 0) {
            goto out;
        }
    }
    results_family_init(&fam, b.nslices * nm * nv);
    slices = json_array();
    for (size_t i = 0; i < b.nslices; i++) {
        json_t *doc = results_compute_doc(s, x, p, &b.slices[i], &fam, err);
        if (doc == NULL) {
            goto out;
        }
        json_object_set_new(doc, "dimension", json_string(dimension));
        json_object_set_new(doc, "dimension_value", json_string(b.slices[i].value));
        json_array_append_new(slices, doc);
    }
    if (results_family_finish(&fam, p, err) != 0) {
        goto out;
    }
    result = json_pack("{s:s, s:s, s:s, s:I, s:s, s:f, s:b, s:s, s:I, s:o, s:O, s:O}", "experiment",
                       x->key, "status", assign_status_name(x->status), "dimension", dimension,
                       "computed_at", (json_int_t)time_now_ms(), "method",
                       stats_method_name(p->method), "alpha", p->alpha, "cuped", p->cuped,
                       "correction", stats_correction_name(p->correction), "values_total",
                       (json_int_t)b.nall, "variants", variants_json(x, &mu, &b), "slices", slices,
                       "metrics_not_broken_down", left_out);
    if (result != NULL && p->method == STATS_METHOD_SEQUENTIAL) {
        json_object_set_new(result, "always_valid", json_true());
    }
    results_add_rebuilding(s, x, result);
out:
    for (size_t i = 0; i < b.nslices; i++) {
        free(b.slices[i].suff);
    }
    free(b.slices);
    free(b.ratio_unavailable);
    free(b.slice_of);
    free(b.all);
    results_family_free(&fam);
    json_decref(slices);
    json_decref(left_out);
    return result;
}

/* One consistent state for every slice (store.h "A consistent read"). */
json_t *results_breakdown(struct store *s, const struct experiment *x, const char *dimension,
                          const struct results_params *p, struct err *err)
{
    if (store_read_begin(s, err) != 0) {
        return NULL;
    }
    json_t *result = breakdown_read(s, x, dimension, p, err);
    store_read_end(s);
    return result;
}
