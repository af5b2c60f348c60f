/*
 * results_ratio.c - a ratio metric's sums (results_int.h): n, the parts' sums, sums of
 * squares and cross product per variant (and per dimension value), read from the users'
 * stored values one page at a time, or, while a rebuild rewrites those values, from the
 * sums the rebuilder kept before its first chunk (results_ratio_keep, migration 0009); an
 * archived experiment's whose per-user values an older `bunsen compact` removed are
 * reported as such (ratio_compacted).
 * Threads: the results threads, the CLI and the rebuilder, each on its own store reader;
 * the keep's one write goes through the writer (store_write_sync).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/ddouble.h"
#include "bunsen/log.h"
#include "bunsen/util.h"
#include "results_int.h"

int results_metric_recorded(struct store *s, const struct experiment *x, const char *key,
                            struct err *err)
{
    if (experiment_uses_metric(x, key)) {
        return 1;
    }
    for (size_t i = 0; i < x->nmetrics + x->nguardrails; i++) {
        const char *k = i < x->nmetrics ? x->metrics[i] : x->guardrails[i - x->nmetrics];
        struct metric m;
        if (results_load_metric(s, x->key, k, &m, err) != 0) {
            return -1;
        }
        if (m.type == STATS_METRIC_RATIO &&
            (strcmp(m.numerator, key) == 0 || strcmp(m.denominator, key) == 0)) {
            return 1;
        }
    }
    return 0;
}

void results_ratio_add(struct store_suff *st, const struct metric *num, const struct metric *den,
                       double num_raw, double den_raw)
{
    double y = results_user_value(num, num_raw), z = results_user_value(den, den_raw);
    st->n++;
    results_dd_acc(&st->s, &st->s_lo, dd_of(y));
    results_dd_acc(&st->q, &st->q_lo, dd_two_prod(y, y));
    results_dd_acc(&st->sx, &st->sx_lo, dd_of(z));
    results_dd_acc(&st->qx, &st->qx_lo, dd_two_prod(z, z));
    results_dd_acc(&st->p, &st->p_lo, dd_two_prod(y, z));
}

#define RATIO_PAGE 5000

int results_ratio_scan(struct store *s, const struct experiment *x, const struct metric *num,
                       const struct metric *den, const char *dimension,
                       void (*emit)(void *ctx, const struct store_user_row *row), void *ctx,
                       struct err *err)
{
    struct store_users_cursor cur;
    memset(&cur, 0, sizeof(cur));
    int count = RATIO_PAGE;
    while (count == RATIO_PAGE) {
        if (store_users_page(s, x->key, x->stopped_at, num->key, den->key, dimension, &cur,
                             RATIO_PAGE, emit, ctx, &count, err) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- a ratio metric's sums, live or kept through a rebuild ---- */

void results_ratio_sums_free(struct results_ratio_sums *r)
{
    free(r->v);
    memset(r, 0, sizeof(*r));
}

/* The sums of value (created with every variant's name). */
static struct store_suff *sums_of(struct results_ratio_sums *r, const char *value)
{
    if (r->n > 0 && strcmp(r->v[r->last].value, value) == 0) {
        return r->v[r->last].st;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->v[i].value, value) == 0) {
            r->last = i;
            return r->v[i].st;
        }
    }
    if (r->n == r->alloc) {
        r->alloc = r->alloc ? r->alloc * 2 : 4;
        r->v = xrealloc(r->v, r->alloc * sizeof(*r->v));
    }
    struct results_ratio_value *v = &r->v[r->n];
    memset(v, 0, sizeof(*v));
    snprintf(v->value, sizeof(v->value), "%s", value);
    for (size_t i = 0; i < r->x->nvariants; i++) {
        snprintf(v->st[i].variant, sizeof(v->st[i].variant), "%s", r->x->variants[i].key);
    }
    r->last = r->n++;
    return v->st;
}

static void live_row(void *ctx, const struct store_user_row *row)
{
    struct results_ratio_sums *r = ctx;
    int i = experiment_variant_index(r->x, row->variant);
    if (i < 0 || (r->by_value && row->dim_value == NULL)) {
        return;
    }
    results_ratio_add(&sums_of(r, r->by_value ? row->dim_value : "")[i], r->num, r->den, row->y,
                      row->y2);
}

int results_ratio_live(struct store *s, const struct experiment *x, const struct metric *num,
                       const struct metric *den, const char *dimension,
                       struct results_ratio_sums *out, struct err *err)
{
    *out =
        (struct results_ratio_sums){.x = x, .num = num, .den = den, .by_value = dimension != NULL};
    if (dimension == NULL) {
        sums_of(out, ""); /* every variant, even without users */
    }
    return results_ratio_scan(s, x, num, den, dimension, live_row, out, err);
}

static void kept_row(void *ctx, const char *value, const struct store_suff *st)
{
    struct results_ratio_sums *r = ctx;
    int i = experiment_variant_index(r->x, st->variant);
    if (i >= 0) {
        sums_of(r, value)[i] = *st;
    }
}

/* What decides where a ratio's last complete sums are: the experiment's rebuild, if any,
 * and the catalogue version (a rebuild that started and ended meanwhile moves it). */
struct ratio_state {
    int found;
    struct store_rebuild rb;
    int64_t version;
};

static int ratio_state_read(struct store *s, const char *experiment, struct ratio_state *st,
                            struct err *err)
{
    memset(st, 0, sizeof(*st));
    st->found = store_rebuild_get(s, experiment, &st->rb, err);
    if (st->found < 0 || store_catalog_version(s, &st->version, err) != 0) {
        return -1;
    }
    return 0;
}

static bool ratio_state_same(const struct ratio_state *a, const struct ratio_state *b)
{
    return a->found == b->found && a->version == b->version &&
           (!a->found ||
            (a->rb.generation == b->rb.generation && a->rb.ratios_kept == b->rb.ratios_kept &&
             strcmp(a->rb.cursor, b->rb.cursor) == 0));
}

#define RATIO_ATTEMPTS 3

/*
 * The last complete sums of ratio metric m (parts num, den) per variant, for the whole
 * experiment (dimension NULL: value "") or per value of dimension. Without a rebuild, or
 * while no chunk has run, they are the users' stored values; while chunks rewrite those,
 * the sums kept when the rebuild began (store_rebuild_keep_ratios). The state is read
 * before and after: when it moved meanwhile (a chunk, the end of the rebuild), it reads
 * again. *available false: neither source holds them (kept for other parts, or not kept).
 */
static int ratio_sums(struct store *s, const struct experiment *x, const struct metric *m,
                      const struct metric *num, const struct metric *den, const char *dimension,
                      struct results_ratio_sums *out, bool *available, struct err *err)
{
    memset(out, 0, sizeof(*out));
    *available = false;
    for (int attempt = 0; attempt < RATIO_ATTEMPTS; attempt++) {
        struct ratio_state before, after;
        if (ratio_state_read(s, x->key, &before, err) != 0) {
            return -1;
        }
        bool have = true;
        if (before.found && before.rb.ratios_kept) {
            *out = (struct results_ratio_sums){.x = x, .num = num, .den = den};
            if (dimension == NULL) {
                sums_of(out, "");
            }
            int rc = store_rebuild_ratio_read(s, x->key, m->key, num->key, den->key,
                                              dimension ? dimension : "", kept_row, out, err);
            if (rc < 0) {
                results_ratio_sums_free(out);
                return -1;
            }
            have = rc == 1;
        } else if (before.found && before.rb.cursor[0] != '\0') {
            have = false; /* chunks ran and nothing was kept */
            *out = (struct results_ratio_sums){.x = x, .num = num, .den = den};
        } else if (results_ratio_live(s, x, num, den, dimension, out, err) != 0) {
            results_ratio_sums_free(out);
            return -1;
        }
        if (ratio_state_read(s, x->key, &after, err) != 0) {
            results_ratio_sums_free(out);
            return -1;
        }
        if (ratio_state_same(&before, &after)) {
            *available = have;
            if (!have) {
                results_ratio_sums_free(out);
                *out = (struct results_ratio_sums){.x = x, .num = num, .den = den};
            }
            return 0;
        }
        results_ratio_sums_free(out);
    }
    *out = (struct results_ratio_sums){.x = x, .num = num, .den = den};
    return 0; /* moved under every read: reported as not available */
}

static void count_row(void *ctx, const struct store_user_row *row)
{
    (void)row;
    ++*(int64_t *)ctx;
}

static void add_users(void *ctx, const char *variant, int64_t users)
{
    (void)variant;
    *(int64_t *)ctx += users;
}

/* Whether sums without a user are those of an archived experiment whose per-user rows a
 * `bunsen compact` before 2026-12-06 removed (it removed them whatever the metrics; now it
 * keeps them for ratios): no per-user row at all (one row looked for) while its exposure
 * roll-ups count users. Otherwise a ratio of no users would be shown as 0 users beside
 * variants that have them. */
static int ratio_compacted(struct store *s, const struct experiment *x,
                           const struct results_ratio_sums *r, bool *compacted, struct err *err)
{
    *compacted = false;
    int64_t n = 0;
    for (size_t k = 0; k < r->n; k++) {
        for (size_t i = 0; i < x->nvariants; i++) {
            n += r->v[k].st[i].n;
        }
    }
    if (x->status != ASSIGN_STATUS_ARCHIVED || n > 0) {
        return 0;
    }
    struct store_users_cursor cur;
    memset(&cur, 0, sizeof(cur));
    int64_t rows = 0, exposed = 0, conflicts = 0;
    int count = 0;
    if (store_users_page(s, x->key, x->stopped_at, r->num->key, r->den->key, NULL, &cur, 1,
                         count_row, &rows, &count, err) != 0 ||
        store_exposure_by_variant(s, x->key, add_users, &exposed, &conflicts, err) != 0) {
        return -1;
    }
    *compacted = rows == 0 && exposed > 0;
    return 0;
}

int results_ratio_sums(struct store *s, const struct experiment *x, const struct metric *m,
                       const char *dimension, struct results_ratio_sums *out,
                       const char **unavailable, struct err *err)
{
    memset(out, 0, sizeof(*out));
    *unavailable = RESULTS_RATIO_REBUILDING;
    struct metric num, den;
    bool unknown = false; /* the ratio's kept sums hold values, read without the parts' types */
    if (results_load_metric_kept(s, x->key, m->numerator, &num, &unknown, err) != 0 ||
        results_load_metric_kept(s, x->key, m->denominator, &den, &unknown, err) != 0) {
        return -1;
    }
    bool available = false, compacted = false;
    int rc = ratio_sums(s, x, m, &num, &den, dimension, out, &available, err);
    if (rc == 0 && available) {
        rc = ratio_compacted(s, x, out, &compacted, err);
    }
    if (rc == 0 && available) {
        *unavailable = compacted ? RESULTS_RATIO_COMPACTED : NULL;
    }
    out->num = out->den = NULL; /* the parts were this call's */
    if (rc != 0) {
        /* callers free out only after a 0: the sums read before a failed check (rev-diff5 1) */
        results_ratio_sums_free(out);
    }
    return rc;
}

/* ---- keeping the ratio sums through a rebuild (results_ratio_keep) ---- */

struct keep {
    const char *experiment;
    int64_t generation;
    struct store_ratio_sums *v;
    char **values; /* v[i].value, owned */
    size_t n, alloc;
    bool kept;
};

static void keep_add(struct keep *k, const struct metric *m, const char *dimension,
                     const char *value, const struct store_suff *st)
{
    if (k->n == k->alloc) {
        k->alloc = k->alloc ? k->alloc * 2 : 16;
        k->v = xrealloc(k->v, k->alloc * sizeof(*k->v));
        k->values = xrealloc(k->values, k->alloc * sizeof(*k->values));
    }
    k->values[k->n] = xstrdup(value);
    k->v[k->n] = (struct store_ratio_sums){.metric = m->key,
                                           .numerator = m->numerator,
                                           .denominator = m->denominator,
                                           .dimension = dimension,
                                           .value = k->values[k->n],
                                           .st = *st};
    k->n++;
}

static int keep_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct keep *k = arg;
    return store_rebuild_keep_ratios(tx, k->experiment, k->generation, k->v, k->n, &k->kept, err);
}

/* The sums of ratio metric m for the whole experiment and per value of each dimension. */
static int keep_metric(struct store *s, const struct experiment *x, const struct metric *m,
                       struct keep *k, struct err *err)
{
    struct metric num, den;
    bool unknown = false; /* the ratio's kept sums hold values, read without the parts' types */
    if (results_load_metric_kept(s, x->key, m->numerator, &num, &unknown, err) != 0 ||
        results_load_metric_kept(s, x->key, m->denominator, &den, &unknown, err) != 0) {
        return -1;
    }
    for (size_t d = 0; d <= x->ndimensions; d++) {
        const char *dim = d == 0 ? NULL : x->dimensions[d - 1];
        struct results_ratio_sums r;
        if (results_ratio_live(s, x, &num, &den, dim, &r, err) != 0) {
            results_ratio_sums_free(&r);
            return -1;
        }
        if (dim != NULL) {
            struct store_suff marker;
            memset(&marker, 0, sizeof(marker));
            keep_add(k, m, dim, "", &marker);
        }
        for (size_t v = 0; v < r.n; v++) {
            for (size_t i = 0; i < x->nvariants; i++) {
                keep_add(k, m, dim ? dim : "", r.v[v].value, &r.v[v].st[i]);
            }
        }
        results_ratio_sums_free(&r);
    }
    return 0;
}

int results_ratio_keep(struct store *s, const struct store_rebuild *rb, struct err *err)
{
    struct experiment x;
    struct err e2;
    err_clear(&e2);
    if (api_experiment_load(s, NULL, rb->experiment, &x, &e2) != 0) {
        if (e2.code == ERR_NOT_FOUND) {
            return 0; /* gone: its next chunk clears the state */
        }
        *err = e2;
        return -1;
    }
    int rc = 0;
    uint64_t t0 = time_mono_ns();
    size_t nm = x.nmetrics + x.nguardrails;
    struct metric *ms = xcalloc(nm + 1, sizeof(*ms));
    struct keep k = {.experiment = rb->experiment, .generation = rb->generation};
    for (size_t i = 0; rc == 0 && i < nm; i++) {
        const char *key = i < x.nmetrics ? x.metrics[i] : x.guardrails[i - x.nmetrics];
        bool seen = false; /* a guardrail that is also a metric: kept once */
        for (size_t j2 = 0; j2 < i; j2++) {
            seen = seen || strcmp(ms[j2].key, key) == 0;
        }
        if (seen) {
            continue;
        }
        bool unknown = false; /* today's definitions: the values are still those before */
        rc = results_load_metric_kept(s, x.key, key, &ms[i], &unknown, err);
        if (rc == 0 && ms[i].type == STATS_METRIC_RATIO) {
            rc = keep_metric(s, &x, &ms[i], &k, err);
        }
    }
    uint64_t t1 = time_mono_ns();
    if (rc == 0) {
        rc = store_write_sync(s, keep_apply, &k, err);
    }
    if (rc == 0) {
        log_json(LOG_INFO, "rebuild: ratio sums kept",
                 json_pack("{s:s, s:I, s:b, s:f, s:f}", "experiment", rb->experiment, "rows",
                           (json_int_t)k.n, "kept", k.kept, "scan_ms", (double)(t1 - t0) / 1e6,
                           "write_ms", (double)(time_mono_ns() - t1) / 1e6));
    }
    for (size_t i = 0; i < k.n; i++) {
        free(k.values[i]);
    }
    free(k.values);
    free(k.v);
    free(ms);
    experiment_clear(&x);
    return rc;
}
