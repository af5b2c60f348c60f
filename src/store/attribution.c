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
 *
 * This file holds the events' half and the user locks; the exposures' half is
 * attribution_expo.c. The pieces both are built from (rules index, key map, per-user values,
 * dimension values, roll-up accumulator) live in attribution_*.c, declared in
 * attribution_int.h.
 *
 * Memory: each call owns one arena (bunsen/arena.h) that every structure of the call
 * allocates from, started in a block of ATTRIBUTION_STACK_BLOCK bytes on the call's stack
 * and freed when the call returns. A call of a few /assign exposures fits in that block and
 * makes no allocation at all (a malloc/free pair per array, map, roll-up entry and cursor
 * copy, with glibc's fastbin consolidation, cost ~5,600 of the ~43,000 instructions of a
 * one-exposure call in callgrind); a batch of events spills into 64 KiB chunks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "attribution_int.h"

/* Sorted distinct users of a request, for attribution_lock_users. */
static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lock the users of a call (store_int.h lock_users): users[0..*nusers) sorted and made
 * distinct in place (*nusers updated), then the backend asked for those the writer did not
 * lock for the whole group already (tx->users_locked: the users every job of the group
 * declared, taken in one statement before the first job; the backend takes the others only
 * where free, so that no transaction waits for a user while it holds others). */
int attribution_lock_users(struct store_tx *tx, const char **users, size_t *nusers, struct err *err)
{
    size_t n = *nusers;
    if (n == 0 || tx->store->ops->lock_users == NULL) {
        return 0; /* a single writer: nothing to lock, nothing to sort (~420 instructions per
                   * event on SQLite) */
    }
    qsort(users, n, sizeof(*users), str_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || strcmp(users[k - 1], users[i]) != 0) {
            users[k++] = users[i];
        }
    }
    *nusers = k; /* users[0..k) now holds each once */
    if (tx->nusers_locked == 0) {
        return tx->store->ops->lock_users(tx, users, k, err);
    }
    /* both sorted: one merge finds the users not locked yet */
    const char **rest = xcalloc(k, sizeof(*rest));
    size_t m = 0, j = 0;
    for (size_t i = 0; i < k; i++) {
        int c = -1;
        while (j < tx->nusers_locked && (c = strcmp(tx->users_locked[j], users[i])) < 0) {
            j++;
        }
        if (j == tx->nusers_locked || c != 0) {
            rest[m++] = users[i];
        }
    }
    int rc = tx->store->ops->lock_users(tx, rest, m, err);
    free(rest);
    return rc;
}

/* ---- events ---- */

struct user_exposure {
    char experiment[65];
    char variant[65];
    int64_t t0;
};

/* The exposures of the users of a request: per user index, a run in xs. Zero-initialised
 * with .users.arena set = empty. */
struct user_exposures {
    struct kmap users;  /* user -> index; its arena is the call's */
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
    arena_grow_array(u->users.arena, &u->xs, &a, u->nxs + 1, sizeof(*u->xs));
    a = u->axs;
    arena_grow_array(u->users.arena, &u->user_of, &a, u->nxs + 1, sizeof(*u->user_of));
    u->axs = a;
    struct user_exposure *x = &u->xs[u->nxs];
    str_copy(x->experiment, sizeof(x->experiment), experiment);
    str_copy(x->variant, sizeof(x->variant), variant);
    x->t0 = ts;
    u->user_of[u->nxs++] = i;
}

/* Group the rows of xs by user (stable: a user's rows keep their order). */
static void ux_index(struct user_exposures *u)
{
    struct arena *a = u->users.arena;
    size_t n = u->users.n;
    u->first = arena_calloc(a, n, sizeof(*u->first));
    u->count = arena_calloc(a, n, sizeof(*u->count));
    for (size_t r = 0; r < u->nxs; r++) {
        u->count[u->user_of[r]]++;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        u->first[i] = at;
        at += u->count[i];
    }
    struct user_exposure *sorted = arena_calloc(a, u->nxs, sizeof(*sorted));
    size_t *fill = arena_calloc(a, n, sizeof(*fill));
    for (size_t r = 0; r < u->nxs; r++) {
        size_t i = u->user_of[r];
        sorted[u->first[i] + fill[i]++] = u->xs[r];
    }
    /* each user's run in experiment order, which events_walk merges with the rules' (the
     * backends return them so: then this only checks) */
    for (size_t i = 0; i < n; i++) {
        struct user_exposure *run = sorted + u->first[i];
        for (size_t k = 1; k < u->count[i]; k++) {
            for (size_t j = k; j > 0 && strcmp(run[j - 1].experiment, run[j].experiment) > 0; j--) {
                struct user_exposure t = run[j];
                run[j] = run[j - 1];
                run[j - 1] = t;
            }
        }
    }
    u->xs = sorted;
}

/* Whether event e counts toward rule r for a user exposed as ux: in the metric window (y)
 * or the CUPED lookback (x). */
static bool event_counts(const struct store_rule *r, const struct user_exposure *ux,
                         const struct store_event *e, bool *in_y)
{
    /* a first exposure at or after the stop is in no result (the stop's rebuild left it
     * out): its events move nothing (a pre-period event once moved the CUPED sums) */
    if (r->stop_ts > 0 && ux->t0 >= r->stop_ts) {
        *in_y = false;
        return false;
    }
    *in_y = e->ts >= ux->t0 && e->ts < rule_window_end(r, ux->t0);
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
        /* the user's exposures and the event's rules, both in experiment order, merged: each
         * exposure meets its experiment's rules (a user has one exposure per experiment), in
         * linear time however many experiments count the event */
        const struct user_exposure *xs = &ux->xs[ux->first[u]];
        size_t nx = ux->count[u], x = 0, k = 0;
        while (x < nx && k < nr) {
            int c = strcmp(xs[x].experiment, rs[k].experiment);
            if (c != 0) {
                x += c < 0 ? 1 : 0;
                k += c > 0 ? 1 : 0;
                continue;
            }
            const struct user_exposure *xp = &xs[x++];
            for (size_t kk = k; kk < nr && strcmp(rs[kk].experiment, xp->experiment) == 0; kk++) {
                const struct store_rule *r = &rs[kk];
                bool in_y = false;
                if (!event_counts(r, xp, e, &in_y)) {
                    continue;
                }
                size_t m = um_key(um, e->user_id, r);
                if (!replay) {
                    continue;
                }
                struct store_umrow *row = &um->rows[m];
                if (!row->present) {
                    /* no row: 0 (one this request deleted may hold its old values) */
                    row->y = row->x = (struct exactsum_parts){{0, 0, 0}};
                }
                /* the raw value is the exact sum of the event values, rounded once
                 * (exactsum.h): its rounded value p[0] does not depend on the order events
                 * arrive in, and is what a first exposure or a rebuild computes. The roll-ups
                 * move by the change of the per-user value made of p[0], so they stay the
                 * sums of the stored values (the deltas telescope to the last one). */
                double inc = r->type == RULE_SUM ? e->value : 1.0;
                double y0 = store_rule_value(r, row->y.p[0]), x0 = store_rule_value(r, row->x.p[0]);
                exactsum_parts_add(in_y ? &row->y : &row->x, inc);
                row->present = true;
                um->dirty[m] = true;
                double y1 = in_y ? store_rule_value(r, row->y.p[0]) : y0;
                double x1 = in_y ? x0 : store_rule_value(r, row->x.p[0]);
                /* on the day of the user's first exposure, as everything of the user: the
                 * series is by exposure day (a day holds the users exposed by its end, with
                 * their values), so the order events arrive in and a moved exposure change
                 * no day but the exposure's, as a rebuild books them (booked on the event's
                 * day, a late earlier event or a moved exposure left the days differing from
                 * a rebuild's, and a day's binomial count could go to -1: 400) */
                agg_change_stats(g, r, e->user_id, xp->variant, store_rule_day(r, xp->t0), 0, y0,
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
    _Alignas(max_align_t) char block[ATTRIBUTION_STACK_BLOCK];
    struct arena a;
    arena_init(&a, block, sizeof(block));
    struct agg g = {.arena = &a};
    struct umset um = {.map.arena = &a};
    struct user_exposures ux = {.users.arena = &a};
    bool *inserted = arena_calloc(&a, n, sizeof(*inserted));
    const char **users = arena_calloc(&a, n, sizeof(*users));
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        users[i] = events[i].user_id;
    }
    struct rb_cursors rb = {.arena = &a};
    struct dims_cache dims = {.map.arena = &a};
    g.rb = &rb;
    g.dims = &dims;
    size_t nusers = n;
    if (attribution_lock_users(tx, users, &nusers, err) != 0 || rb_load(tx, &rb, err) != 0 ||
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
                arena_grow_array(&a, &ux.names, &ux.anames, ux.users.n, sizeof(*ux.names));
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
    arena_free(&a);
    return rc;
}
