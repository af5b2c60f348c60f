/*
 * rebuild.c - roll-up rebuilds beside ingestion (store.h "Rebuilds beside ingestion"),
 * written once for every backend against the rebuild primitives of store_int.h.
 *
 * DESIGN
 * A definition change used to recompute an experiment's roll-ups inside its own writer
 * transaction: linear in exposed users (10 s at 300,000), and every other write waited.
 * Now the change only records a rebuild (store_rebuild_start): the backend keeps a copy of
 * the last complete roll-ups for results, empties the live ones and sets the cursor to "".
 * Then chunks (store_rebuild_step, one short writer job each, driven by the api layer)
 * take the next exposed users after the cursor in binary user_id order, lock them like any
 * ingestion request, recompute their per-user rows from the raw rows with the new rules,
 * add their contributions to the live roll-ups and move the cursor, all in the chunk's
 * transaction.
 *
 *     users:   a ... c | d ... z          cursor = c
 *              rebuilt | not yet
 *     ingestion for a user <= cursor: updates the live roll-ups (rows already new)
 *     ingestion for a user >  cursor: stores the raw rows only; the chunk reads them later
 *
 * So every row arriving during a rebuild counts exactly once under the new definition, and
 * the final roll-ups equal a full recompute. Ingestion learns the cursors in its own
 * transaction after locking its users (store_rebuild_cursors_load), so with several writers
 * (PostgreSQL) a chunk and an ingestion request touching the same user are serialized by
 * the user locks. The cursor is committed with each chunk: after a crash the next chunk
 * starts where the last committed one ended.
 * Runs on the writer thread (inside apply()), except the read functions.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "store_int.h"

#define DEFAULT_CHUNK 500
#define TARGET_NS     5000000 /* a chunk should hold the writer about this long */
#define MIN_CHUNK     16      /* below this the per-chunk cost (a commit) dominates */

void store_rebuild_configure(struct store *s, size_t chunk_users, int pause_ms)
{
    s->rebuild_chunk = chunk_users;
    s->rebuild_pause_ms = pause_ms;
}

void store_rebuild_settings(const struct store *s, size_t *chunk_users, int *pause_ms)
{
    *chunk_users = s->rebuild_chunk ? s->rebuild_chunk : DEFAULT_CHUNK;
    *pause_ms = s->rebuild_pause_ms;
}

double store_rebuild_progress(const struct store_rebuild *r)
{
    if (r->users_total <= 0) {
        return 0;
    }
    double p = (double)r->users_done / (double)r->users_total;
    return p > 0.99 ? 0.99 : p; /* users exposed meanwhile: 1 only when it is over */
}

struct users {
    char **v;
    size_t n, alloc;
};

static void users_emit(void *ctx, const char *user_id)
{
    struct users *u = ctx;
    if (u->n == u->alloc) {
        u->alloc = u->alloc ? u->alloc * 2 : 64;
        u->v = xrealloc(u->v, u->alloc * sizeof(*u->v));
    }
    u->v[u->n++] = xstrdup(user_id);
}

static void users_free(struct users *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->v[i]);
    }
    free(u->v);
}

int store_rebuild_step(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                       const struct store_rule *const *rules, size_t n, bool *finished,
                       struct err *err)
{
    const struct store_ops *ops = tx->store->ops;
    *finished = false;
    struct store_rebuild r;
    int found = ops->rebuild_get(tx->store, tx, experiment, &r, err);
    if (found <= 0) {
        *finished = found == 0;
        return found;
    }
    /* chunks adapt to the data: halve after one that held the writer longer than TARGET_NS,
     * double after one that took less than half of it, between MIN_CHUNK and --rebuild-chunk
     * users */
    size_t chunk;
    int pause_ms;
    store_rebuild_settings(tx->store, &chunk, &pause_ms);
    size_t take = tx->store->rebuild_users;
    take = take == 0 || take > chunk ? (chunk < 64 ? chunk : 64) : take;
    uint64_t t0 = time_mono_ns();
    struct users u = {0};
    int rc = ops->rebuild_users_after(tx, experiment, r.cursor, take, users_emit, &u, err);
    if (rc == 0 && u.n == 0) {
        *finished = true;
        rc = ops->rebuild_end(tx, experiment, err);
    } else if (rc == 0) {
        /* in binary order already: the lock order every writer uses */
        const char *last = u.v[u.n - 1];
        rc = ops->lock_users != NULL ? ops->lock_users(tx, (const char *const *)u.v, u.n, err) : 0;
        if (rc == 0) {
            rc = ops->rebuild_range(tx, experiment, stop_ts, rules, n, r.cursor, last,
                                    (const char *const *)u.v, u.n, err);
        }
        if (rc == 0) {
            rc = ops->rebuild_advance(tx, experiment, last, (int64_t)u.n, err);
        }
    }
    uint64_t took = time_mono_ns() - t0;
    size_t floor_users = chunk < MIN_CHUNK ? chunk : MIN_CHUNK;
    if (took > TARGET_NS && take > floor_users) {
        take = take / 2 > floor_users ? take / 2 : floor_users;
    } else if (took < TARGET_NS / 2 && take < chunk) {
        take = take * 2 < chunk ? take * 2 : chunk;
    }
    tx->store->rebuild_users = take;
    users_free(&u);
    return rc;
}

int store_rebuild_start(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                        const struct store_rule *const *rules, size_t n, struct err *err)
{
    int64_t total = 0;
    if (tx->store->ops->rebuild_begin(tx, experiment, time_now_ms(), &total, err) != 0) {
        return -1;
    }
    size_t chunk;
    int pause_ms;
    store_rebuild_settings(tx->store, &chunk, &pause_ms);
    if (total > (int64_t)chunk) {
        return 0; /* the daemon's rebuilder takes it from here */
    }
    /* small: finish now (users exposed in this transaction are included by the chunks) */
    for (int guard = 0; guard < 1000; guard++) {
        bool finished = false;
        if (store_rebuild_step(tx, experiment, stop_ts, rules, n, &finished, err) != 0) {
            return -1;
        }
        if (finished) {
            return 0;
        }
    }
    return 0; /* grew meanwhile: the rebuilder finishes it */
}

int store_rebuild_keep_ratios(struct store_tx *tx, const char *experiment, int64_t generation,
                              const struct store_ratio_sums *rows, size_t n, bool *kept,
                              struct err *err)
{
    *kept = false;
    return tx->store->ops->rebuild_keep_ratios(tx, experiment, generation, rows, n, kept, err);
}

int store_rebuild_keep_metric(struct store_tx *tx, const char *experiment, const char *metric,
                              const char *doc, struct err *err)
{
    return tx->store->ops->rebuild_keep_metric(tx, experiment, metric, doc, err);
}

int store_rebuild_metric_get(struct store *s, const char *experiment, const char *metric,
                             char **doc, struct err *err)
{
    *doc = NULL;
    return s->ops->rebuild_metric_get(s, experiment, metric, doc, err);
}

int store_rebuild_ratio_read(struct store *s, const char *experiment, const char *metric,
                             const char *numerator, const char *denominator, const char *dimension,
                             void (*emit)(void *ctx, const char *value,
                                          const struct store_suff *st),
                             void *ctx, struct err *err)
{
    return s->ops->rebuild_ratio_read(s, experiment, metric, numerator, denominator, dimension,
                                      emit, ctx, err);
}

int store_rebuild_list(struct store *s, void (*emit)(void *ctx, const struct store_rebuild *r),
                       void *ctx, struct err *err)
{
    return s->ops->rebuild_list(s, emit, ctx, err);
}

int store_rebuild_get(struct store *s, const char *experiment, struct store_rebuild *out,
                      struct err *err)
{
    return s->ops->rebuild_get(s, NULL, experiment, out, err);
}

int store_rebuild_get_tx(struct store_tx *tx, const char *experiment, struct store_rebuild *out,
                         struct err *err)
{
    return tx->store->ops->rebuild_get(tx->store, tx, experiment, out, err);
}
