/*
 * results_exact.c - the roll-ups as results read them (results_int.h): the stored sums of a
 * metric per variant, per day and per value of a dimension, unless a value that came and
 * went took the precision the results need from them; then the same sums from the users'
 * stored values, and a rebuild of the experiment's roll-ups is asked for.
 *
 * DESIGN
 * The writer keeps Q = sum y^2 (and Qx, P) as double-doubles moved by deltas, y1^2 - y0^2.
 * A double-double keeps ~2^-106 of the largest magnitude it has held: once a user's value
 * passed 1e15 and came back, Q carries an error of ~1e30 * 2^-106 (~0.01), as large as the
 * variance part of users whose values are ~0.1 (docs/STATISTICS.md "Numerics"). Each row
 * keeps that magnitude (hwm, migration 0015). Reading, a row is trusted when hwm is within
 * TRUST_MARGIN of its sums now (no value came and went: the rounding is that of any sum of
 * these values), or when even an error of hwm * 2^-(106 - 26) would be below 2^-40 of each
 * centred sum (Syy, and Sxx when the row has a covariate): the standard deviations then agree
 * with the users' values to ~1e-12 whatever the row went through. Otherwise every row of the
 * read (the metric's variants, its days, or the dimension's values) is summed from the users'
 * stored values (store_users_page, as ratio metrics are: O(users), on the results thread) -
 * exactly the sums a rebuild would store - and the experiment's roll-ups are rebuilt (a
 * barrier writer job starts the chunked rebuild of store.h, unless one runs), after which
 * its rows are trusted again. An archived experiment's rows are read as stored whatever
 * their marks: compaction may have removed its users' values (stored_rows_serve). A rebuilt
 * row's hwm is its own sums'. While that rebuild runs, results
 * read the kept roll-ups, which carry the same marks: they too are summed from the users'
 * values (each user's as now).
 * Threads: the results threads and the CLI, each on its own store reader; the rebuild's start
 * runs on the writer.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/ddouble.h"
#include "bunsen/log.h"
#include "bunsen/util.h"
#include "results_int.h"

#define TRUST_MARGIN 16.0 /* hwm within this of the sums now: nothing came and went */
#define TRUST_BITS   40   /* else each centred sum must exceed hwm * 2^-TRUST_BITS */
#define USERS_PAGE   5000

bool results_sums_trusted(const struct store_suff *st)
{
    if (!(st->hwm > TRUST_MARGIN * fmax(fabs(st->q), fabs(st->qx)))) {
        return true;
    }
    /* an error of ~hwm * 2^-106 per addition at that magnitude, 2^26 of them, must stay below
     * 2^-40 of the centred sums */
    struct stats_arm a;
    results_arm_from_suff(st, false, &a);
    double need = ldexp(st->hwm, -TRUST_BITS);
    bool has_x = st->sx != 0 || st->sx_lo != 0 || st->qx != 0 || st->qx_lo != 0 || st->p != 0 ||
                 st->p_lo != 0;
    return a.q + a.q_lo >= need && (!has_x || a.qx + a.qx_lo >= need);
}

/* Add one user's value y and covariate x to st, as a rebuild sums them (store_sums_add). */
static void suff_add(struct store_suff *st, double y, double x)
{
    st->n++;
    results_dd_acc(&st->s, &st->s_lo, dd_of(y));
    results_dd_acc(&st->q, &st->q_lo, dd_two_prod(y, y));
    results_dd_acc(&st->sx, &st->sx_lo, dd_of(x));
    results_dd_acc(&st->qx, &st->qx_lo, dd_two_prod(x, x));
    results_dd_acc(&st->p, &st->p_lo, dd_two_prod(x, y));
}

void results_suff_merge(struct store_suff *a, const struct store_suff *b)
{
    a->n += b->n;
    results_dd_acc(&a->s, &a->s_lo, (struct dd){b->s, b->s_lo});
    results_dd_acc(&a->q, &a->q_lo, (struct dd){b->q, b->q_lo});
    results_dd_acc(&a->sx, &a->sx_lo, (struct dd){b->sx, b->sx_lo});
    results_dd_acc(&a->qx, &a->qx_lo, (struct dd){b->qx, b->qx_lo});
    results_dd_acc(&a->p, &a->p_lo, (struct dd){b->p, b->p_lo});
    a->hwm = fmax(a->hwm, b->hwm);
}

/* ---- the stored rows of one read, before they are trusted ---- */

struct row {
    struct store_suff st;
    int64_t day;
    char value[STORE_DIM_VALUE_MAX + 1];
};

struct rows {
    struct row *v;
    size_t n, alloc;
    bool trusted; /* every row so far */
};

static struct row *rows_push(struct rows *r)
{
    if (r->n == r->alloc) {
        r->alloc = r->alloc ? r->alloc * 2 : 8;
        r->v = xrealloc(r->v, r->alloc * sizeof(*r->v));
    }
    struct row *w = &r->v[r->n++];
    memset(w, 0, sizeof(*w));
    return w;
}

static void stats_row(void *ctx, const struct store_suff *st)
{
    struct rows *r = ctx;
    rows_push(r)->st = *st;
    r->trusted = r->trusted && results_sums_trusted(st);
}

static void daily_row(void *ctx, int64_t day, const struct store_suff *st)
{
    struct rows *r = ctx;
    struct row *w = rows_push(r);
    w->st = *st;
    w->day = day;
    r->trusted = r->trusted && results_sums_trusted(st);
}

/* Rows come ordered by (value, variant), a key's slots one after the other: merged here, each
 * key checked once complete (at the next key, and at the end: rows_end_slices). */
static void slice_row(void *ctx, const char *value, const struct store_suff *st)
{
    struct rows *r = ctx;
    struct row *last = r->n > 0 ? &r->v[r->n - 1] : NULL;
    if (last != NULL && strcmp(last->value, value) == 0 &&
        strcmp(last->st.variant, st->variant) == 0) {
        results_suff_merge(&last->st, st);
        return;
    }
    if (last != NULL) {
        r->trusted = r->trusted && results_sums_trusted(&last->st);
    }
    struct row *w = rows_push(r);
    w->st = *st;
    snprintf(w->value, sizeof(w->value), "%s", value);
}

static void rows_end_slices(struct rows *r)
{
    if (r->n > 0) {
        r->trusted = r->trusted && results_sums_trusted(&r->v[r->n - 1].st);
    }
}

/* ---- the same sums from the users' stored values ---- */

enum by { BY_VARIANT, BY_DAY, BY_VALUE };

struct users_sums {
    const struct experiment *x;
    const struct metric *m;
    enum by by;
    struct store_suff st[ASSIGN_MAX_VARIANTS]; /* BY_VARIANT, BY_DAY: per variant (running) */
    /* BY_DAY: the (variant, day) being summed, emitted when the next one begins */
    int cur, have;
    int64_t day;
    void (*emit_day)(void *ctx, int64_t day, const struct store_suff *st);
    void *ctx;
    /* BY_VALUE: per value (at most STORE_DIM_VALUES_MAX + 2), per variant */
    struct results_ratio_value *values;
    size_t nvalues, avalues, last;
};

/* The sums of value, per variant (created with every variant's name). */
static struct store_suff *value_sums(struct users_sums *u, const char *value)
{
    if (u->nvalues > 0 && strcmp(u->values[u->last].value, value) == 0) {
        return u->values[u->last].st;
    }
    for (size_t i = 0; i < u->nvalues; i++) {
        if (strcmp(u->values[i].value, value) == 0) {
            u->last = i;
            return u->values[i].st;
        }
    }
    if (u->nvalues == u->avalues) {
        u->avalues = u->avalues ? u->avalues * 2 : 8;
        u->values = xrealloc(u->values, u->avalues * sizeof(*u->values));
    }
    struct results_ratio_value *v = &u->values[u->nvalues];
    memset(v, 0, sizeof(*v));
    snprintf(v->value, sizeof(v->value), "%s", value);
    for (size_t i = 0; i < u->x->nvariants; i++) {
        snprintf(v->st[i].variant, sizeof(v->st[i].variant), "%s", u->x->variants[i].key);
    }
    u->last = u->nvalues++;
    return v->st;
}

static void user_row(void *ctx, const struct store_user_row *row)
{
    struct users_sums *u = ctx;
    int i = experiment_variant_index(u->x, row->variant);
    if (i < 0) {
        return;
    }
    double y = results_user_value(u->m, row->y), x = results_user_value(u->m, row->x);
    if (u->by == BY_VALUE) {
        if (row->dim_value != NULL) {
            suff_add(&value_sums(u, row->dim_value)[i], y, x);
        }
        return;
    }
    if (u->by == BY_DAY) {
        /* the page's order is (variant, first exposure, user): a variant's days ascend */
        int64_t day = row->first_exposure / DAY_MS;
        if (u->have && (u->cur != i || u->day != day)) {
            u->emit_day(u->ctx, u->day, &u->st[u->cur]);
        }
        u->cur = i;
        u->day = day;
        u->have = 1;
    }
    suff_add(&u->st[i], y, x);
}

/* Sum m's users of x (with a recorded value of dimension, for BY_VALUE). */
static int users_scan(struct store *s, struct users_sums *u, const char *dimension, struct err *err)
{
    for (size_t i = 0; i < u->x->nvariants; i++) {
        snprintf(u->st[i].variant, sizeof(u->st[i].variant), "%s", u->x->variants[i].key);
    }
    struct store_users_cursor cur;
    memset(&cur, 0, sizeof(cur));
    int count = USERS_PAGE;
    while (count == USERS_PAGE) {
        if (store_users_page(s, u->x->key, u->x->stopped_at, u->m->key, NULL, dimension, &cur,
                             USERS_PAGE, user_row, u, &count, err) != 0) {
            return -1;
        }
    }
    if (u->by == BY_DAY && u->have) {
        u->emit_day(u->ctx, u->day, &u->st[u->cur]);
    }
    return 0;
}

/* ---- asking for the rebuild ---- */

/* Experiments whose rebuild was asked for and not yet answered (at most HEAL_PENDING_MAX:
 * beyond, a later read asks again). */
#define HEAL_PENDING_MAX 16
static pthread_mutex_t heal_mu = PTHREAD_MUTEX_INITIALIZER;
static char heal_pending[HEAL_PENDING_MAX][MODEL_KEY_MAX + 1];

struct heal {
    struct store_job job;
    char key[MODEL_KEY_MAX + 1];
    bool started;
};

static bool heal_claim(const char *key, bool claim)
{
    pthread_mutex_lock(&heal_mu);
    int free_at = -1;
    bool found = false;
    for (int i = 0; i < HEAL_PENDING_MAX; i++) {
        if (strcmp(heal_pending[i], key) == 0) {
            found = true;
            if (!claim) {
                heal_pending[i][0] = '\0';
            }
        } else if (heal_pending[i][0] == '\0' && free_at < 0) {
            free_at = i;
        }
    }
    bool claimed = claim && !found && free_at >= 0;
    if (claimed) {
        snprintf(heal_pending[free_at], sizeof(heal_pending[free_at]), "%s", key);
    }
    pthread_mutex_unlock(&heal_mu);
    return claimed;
}

static int heal_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct heal *h = arg;
    struct experiment x;
    struct err e2;
    err_clear(&e2);
    if (api_experiment_load(NULL, tx, h->key, &x, &e2) != 0) {
        if (e2.code == ERR_NOT_FOUND) {
            return 0; /* deleted meanwhile */
        }
        *err = e2;
        return -1;
    }
    int rc = 0;
    if (x.status != ASSIGN_STATUS_DRAFT && x.status != ASSIGN_STATUS_ARCHIVED) {
        struct store_rebuild rb;
        int found = store_rebuild_get_tx(tx, h->key, &rb, err);
        rc = found < 0 ? -1 : found > 0 ? 0 : api_rollup_rebuild(tx, &x, err);
        h->started = rc == 0 && found == 0;
    }
    experiment_clear(&x);
    return rc;
}

static void heal_done(void *arg, int rc, const struct err *err)
{
    struct heal *h = arg;
    heal_claim(h->key, false);
    if (rc != 0) {
        log_json(LOG_WARN, "results: the roll-ups' rebuild did not start",
                 json_pack("{s:s, s:s}", "experiment", h->key, "error", err->msg));
    } else if (h->started) {
        log_json(LOG_INFO, "results: roll-ups that lost precision are being rebuilt",
                 json_pack("{s:s}", "experiment", h->key));
    }
    free(h);
}

/* Ask the writer to rebuild x's roll-ups, unless a rebuild runs or one was asked for. Nothing
 * without a writer (the CLI). */
static void heal(struct store *s, const struct experiment *x)
{
    struct store_rebuild rb;
    struct err err;
    err_clear(&err);
    if (x->status == ASSIGN_STATUS_ARCHIVED || store_rebuild_get(s, x->key, &rb, &err) != 0 ||
        !heal_claim(x->key, true)) {
        return;
    }
    struct heal *h = xcalloc(1, sizeof(*h));
    snprintf(h->key, sizeof(h->key), "%s", x->key);
    /* a barrier, as every rebuild's start: on a shared database no other daemon ingests
     * between the kept copy and the emptied live roll-ups */
    h->job = (struct store_job){.apply = heal_apply, .done = heal_done, .arg = h, .barrier = true};
    if (store_submit(s, &h->job, &err) != 0) {
        heal_claim(h->key, false);
        free(h);
    }
}

/* ---- the reads ---- */

/* Whether the stored rows answer: trusted ones, and an archived experiment's whatever their
 * marks: `bunsen compact` removes the users' values of archived experiments, so a sum of them
 * would show an experiment without users (a row marked by late events after the stop's
 * rebuild keeps its precision-limited sums, as before migration 0015). */
static bool stored_rows_serve(const struct rows *r, const struct experiment *x)
{
    return r->trusted || x->status == ASSIGN_STATUS_ARCHIVED;
}

int results_rollup_read(struct store *s, const struct experiment *x, const struct metric *m,
                        void (*emit)(void *ctx, const struct store_suff *st), void *ctx,
                        struct err *err)
{
    struct rows r = {.trusted = true};
    int rc = store_rollup_read(s, x->key, m->key, stats_row, &r, err);
    if (rc == 0 && stored_rows_serve(&r, x)) {
        for (size_t i = 0; i < r.n; i++) {
            emit(ctx, &r.v[i].st);
        }
    } else if (rc == 0) {
        struct users_sums u = {.x = x, .m = m, .by = BY_VARIANT};
        rc = users_scan(s, &u, NULL, err);
        for (size_t i = 0; rc == 0 && i < x->nvariants; i++) {
            emit(ctx, &u.st[i]);
        }
        heal(s, x);
    }
    free(r.v);
    return rc;
}

/* The users a variant's running totals end with, summed over the variants (rows ordered by
 * variant, then day). */
static int64_t rows_users(const struct rows *r)
{
    int64_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (i + 1 == r->n || strcmp(r->v[i].st.variant, r->v[i + 1].st.variant) != 0) {
            n += r->v[i].st.n;
        }
    }
    return n;
}

/* An archived experiment's daily rows written before migration 0016 (no covariate sums: the
 * store marks them with an infinite hwm): summed from its users' stored values when they are
 * all still there (not compacted: as many users as the rows count), else served as stored
 * with *no_covariate set. 0, or -1 with err. */
static int archived_daily(struct store *s, const struct experiment *x, const struct metric *m,
                          const struct rows *stored, struct rows *out, bool *no_covariate,
                          struct err *err)
{
    struct users_sums u = {.x = x, .m = m, .by = BY_DAY, .emit_day = daily_row, .ctx = out};
    if (users_scan(s, &u, NULL, err) != 0) {
        return -1;
    }
    if (rows_users(out) != rows_users(stored) || rows_users(stored) == 0) {
        free(out->v);
        *out = *stored;
        out->v = xmalloc((stored->n + 1) * sizeof(*out->v));
        memcpy(out->v, stored->v, stored->n * sizeof(*out->v));
        *no_covariate = rows_users(stored) > 0;
    }
    return 0;
}

int results_rollup_daily(struct store *s, const struct experiment *x, const struct metric *m,
                         void (*emit)(void *ctx, int64_t day, const struct store_suff *st),
                         void *ctx, bool *no_covariate, struct err *err)
{
    struct rows r = {.trusted = true};
    *no_covariate = false;
    int rc = store_rollup_daily(s, x->key, m->key, daily_row, &r, err);
    bool pre_0016 = false;
    for (size_t i = 0; i < r.n; i++) {
        pre_0016 = pre_0016 || isinf(r.v[i].st.hwm);
    }
    if (rc == 0 && x->status == ASSIGN_STATUS_ARCHIVED && pre_0016) {
        struct rows a = {.trusted = true};
        rc = archived_daily(s, x, m, &r, &a, no_covariate, err);
        for (size_t i = 0; rc == 0 && i < a.n; i++) {
            emit(ctx, a.v[i].day, &a.v[i].st);
        }
        free(a.v);
    } else if (rc == 0 && stored_rows_serve(&r, x)) {
        for (size_t i = 0; i < r.n; i++) {
            emit(ctx, r.v[i].day, &r.v[i].st);
        }
    } else if (rc == 0) {
        struct users_sums u = {.x = x, .m = m, .by = BY_DAY, .emit_day = emit, .ctx = ctx};
        rc = users_scan(s, &u, NULL, err);
        heal(s, x);
    }
    free(r.v);
    return rc;
}

int results_slice_read(struct store *s, const struct experiment *x, const struct metric *m,
                       const char *dimension,
                       void (*emit)(void *ctx, const char *value, const struct store_suff *st),
                       void *ctx, struct err *err)
{
    struct rows r = {.trusted = true};
    int rc = store_slice_read(s, x->key, m->key, dimension, slice_row, &r, err);
    rows_end_slices(&r);
    if (rc == 0 && stored_rows_serve(&r, x)) {
        for (size_t i = 0; i < r.n; i++) {
            emit(ctx, r.v[i].value, &r.v[i].st);
        }
    } else if (rc == 0) {
        struct users_sums u = {.x = x, .m = m, .by = BY_VALUE};
        rc = users_scan(s, &u, dimension, err);
        for (size_t k = 0; rc == 0 && k < u.nvalues; k++) {
            for (size_t i = 0; i < x->nvariants; i++) {
                emit(ctx, u.values[k].value, &u.values[k].st[i]);
            }
        }
        free(u.values);
        heal(s, x);
    }
    free(r.v);
    return rc;
}
