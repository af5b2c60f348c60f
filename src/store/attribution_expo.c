/*
 * attribution_expo.c - exposures into the store with incremental attribution (store.h
 * "Ingestion and attribution"; the design is in attribution.c's top comment, which also
 * holds the events' half): a new first exposure computes the user's values from the
 * events already stored, an exposure that replaces the kept one (an earlier timestamp
 * arriving late) removes the user's contribution and adds it again, a repeat to another
 * variant is a conflict; the dimension values of first exposures are recorded
 * (attribution_dims.c). Runs on the writer thread, inside the caller's transaction, with
 * the call's arena (bunsen/arena.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "attribution_int.h"

/* ---- exposures ---- */

/* The state of one (user, experiment) during a request. */
struct xstate {
    struct store_xrow row; /* user_id, experiment borrowed from the request */
    char variant[65];
    bool exists; /* stored, or first seen in this request */
    bool dirty;
    bool moved;       /* a stored exposure that this request replaces (its values are read) */
    const char *dims; /* a new first exposure: its encoded dimension values (request's) */
    size_t plus;      /* 1 + the index of this request's +1 op of the pair, 0 when none */
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

/* Zero-initialised with .keys.arena set = empty. */
struct xreq {
    struct kmap keys; /* (user, experiment) -> states; its arena is the call's */
    struct xstate *st;
    size_t ast;
    struct xop *ops;
    size_t nops, aops;
};

static void x_found(void *ctx, size_t i, const char *variant, int64_t ts, int64_t conflict_ts)
{
    struct xstate *st = ctx;
    str_copy(st[i].variant, sizeof(st[i].variant), variant);
    st[i].row.ts = ts;
    st[i].row.conflict_ts = conflict_ts;
    st[i].exists = true;
}

/* Does the user of s count as conflicting in the roll-ups: exposed to another variant than
 * the counted first one before the stop (stop 0: not stopped)? */
static bool x_conflicting(const struct xstate *s, int64_t stop)
{
    return s->exists && s->row.conflict_ts != STORE_NO_CONFLICT &&
           (stop == 0 || (s->row.ts < stop && s->row.conflict_ts < stop));
}

static void xop_add(struct xreq *q, int sign, const struct store_exposure *x, const char *variant,
                    int64_t t0)
{
    arena_grow_array(q->keys.arena, &q->ops, &q->aops, q->nops + 1, sizeof(*q->ops));
    struct xop *o = &q->ops[q->nops++];
    memset(o, 0, sizeof(*o));
    o->sign = sign;
    o->user_id = x->user_id;
    o->experiment = x->experiment;
    str_copy(o->variant, sizeof(o->variant), variant);
    o->t0 = t0;
}

/* Phase A: the request in order against the exposure states; attribution changes become
 * ops, exposure-count changes go to the roll-ups.
 *
 * What is stored per (user, experiment) does not depend on the order exposures arrive in:
 * the first exposure is the earliest (on a tie, the least variant key), and conflict_ts is
 * the earliest time of an exposure to another variant than the first. A user counts in the
 * roll-ups' conflicts (data_quality.conflicting_exposures) while conflict_ts < the stop, in
 * the first exposure's variant. The request's own counts (duplicates, conflicts) say what
 * each item was as it arrived. */
static void exposures_plan(struct xreq *q, const struct store_rules *rules,
                           const struct store_exposure *xs, size_t n, struct agg *g,
                           struct store_ingest_counts *counts)
{
    for (size_t i = 0; i < n; i++) {
        const struct store_exposure *x = &xs[i];
        struct xstate *s = &q->st[kmap_put(&q->keys, x->user_id, x->experiment, NULL, NULL)];
        int64_t stop = store_rules_stopped_at(rules, x->experiment);
        /* the user's conflict as the roll-ups count it before this item (in the kept
         * variant), moved below when the item changes it or the variant */
        bool was_conflicting = x_conflicting(s, stop);
        if (s->exists && stop > 0 && s->row.ts >= stop) {
            /* The stored first exposure is at or after the stop: the stop's rebuild left it
             * out of every result, so this earlier one (exposures at or after the stop never
             * get here) is the user's first counted exposure. Treated as a replacement it
             * removed a user the roll-ups never had (-1 users: results answered 400). Its
             * recorded dimension values are read as for a replacement (moved). The stored
             * one, at or after the stop, is a conflict that never counts (conflict_ts >=
             * stop), as it would have been ignored had it arrived after this one. */
            s->moved = true;
            bool same = strcmp(s->variant, x->variant) == 0;
            int64_t later = same ? s->row.conflict_ts : s->row.ts;
            str_copy(s->variant, sizeof(s->variant), x->variant);
            s->row.ts = x->ts;
            s->row.conflict_ts = later;
            s->dirty = true;
            counts->accepted++;
            agg_change_exposures(g, x->experiment, x->user_id, x->variant, 1, 0);
            s->plus = q->nops + 1;
            xop_add(q, 1, x, x->variant, x->ts);
            continue;
        }
        if (!s->exists) {
            s->exists = true;
            s->row.is_new = true;
            s->dirty = true;
            str_copy(s->variant, sizeof(s->variant), x->variant);
            s->row.ts = x->ts;
            s->row.conflict_ts = STORE_NO_CONFLICT;
            s->dims = x->dims;
            counts->accepted++;
            agg_change_exposures(g, x->experiment, x->user_id, x->variant, 1, 0);
            s->plus = q->nops + 1;
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
        if (x->ts > kept_ts || (x->ts == kept_ts && strcmp(x->variant, kept) >= 0)) {
            /* the kept exposure stays first; a different variant is a conflict */
            if (!same) {
                s->row.conflicts_add++;
                if (x->ts < s->row.conflict_ts) {
                    s->row.conflict_ts = x->ts;
                }
                s->dirty = true;
                bool now_conflicting = x_conflicting(s, stop);
                if (now_conflicting && !was_conflicting) {
                    agg_change_exposures(g, x->experiment, x->user_id, kept, 0, 1);
                }
            }
            continue;
        }
        /* An earlier exposure arrived late: it becomes the first one. The recorded dimension
         * values stay those of the exposure recorded first when one was stored before; a
         * pair first seen in this request has recorded nothing yet, so the earlier item's
         * values are the ones recorded (within one request the order of the items does not
         * matter). Every other exposure of the user is at or after the kept one, so the
         * kept one is the earliest to another variant when the variants differ. */
        s->moved = !s->row.is_new;
        if (s->row.is_new) {
            s->dims = x->dims;
        }
        str_copy(s->variant, sizeof(s->variant), x->variant);
        s->row.ts = x->ts;
        s->row.conflicts_add += same ? 0 : 1;
        if (!same) {
            s->row.conflict_ts = kept_ts;
        }
        s->dirty = true;
        bool now_conflicting = x_conflicting(s, stop);
        if (!same) { /* the user moves to x's variant, with its conflict */
            agg_change_exposures(g, x->experiment, x->user_id, kept, -1, was_conflicting ? -1 : 0);
            agg_change_exposures(g, x->experiment, x->user_id, x->variant, 1,
                                 now_conflicting ? 1 : 0);
        } /* else the same variant earlier: the conflict and its time are as they were */
        if (s->plus != 0) {
            /* it replaces a first exposure of this request: removing the user then adding
             * it again would cancel out, so its +1 moves instead (one read of the user's
             * events per pair, however many earlier items a request brings) */
            struct xop *o = &q->ops[s->plus - 1];
            str_copy(o->variant, sizeof(o->variant), x->variant);
            o->t0 = x->ts;
            continue;
        }
        xop_add(q, -1, x, kept, kept_ts);
        s->plus = q->nops + 1;
        xop_add(q, 1, x, x->variant, x->ts);
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
    /* nothing to record or read (no dimension values, no replaced exposure): return before
     * the work below, as most /assign groups do */
    bool work = false;
    for (size_t k = 0; k < q->keys.n && !work; k++) {
        const struct xstate *st = &q->st[k];
        work = st->moved || (st->row.is_new && st->dims != NULL && st->dims[0] != '\0');
    }
    if (!work) {
        return 0;
    }
    struct arena *a = q->keys.arena;
    struct kmap chk = {.arena = a}, cnt = {.arena = a};
    struct store_dimrow *rows = NULL, *vals = NULL, *reg = NULL;
    size_t nrows = 0, arows = 0, avals = 0, nreg = 0, areg = 0;
    int64_t *extra = NULL;
    size_t aextra = 0;
    size_t nmoved = 0;
    struct store_xrow *moved = arena_calloc(a, q->keys.n, sizeof(*moved));
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
            if (dims_is_special(d->value[j])) {
                continue;
            }
            bool isnew = false;
            kmap_put(&chk, st->row.experiment, d->name[j], d->value[j], &isnew);
            if (isnew) {
                arena_grow_array(a, &vals, &avals, chk.n, sizeof(*vals));
                vals[chk.n - 1] = (struct store_dimrow){.experiment = st->row.experiment,
                                                        .dimension = d->name[j],
                                                        .value = d->value[j]};
            }
        }
    }
    if (dims_load(tx, c, moved, nmoved, err) != 0) {
        return -1;
    }
    bool *known = arena_calloc(a, chk.n, sizeof(*known));
    bool *added = arena_calloc(a, chk.n, sizeof(*added));
    int64_t *distinct = arena_calloc(a, chk.n, sizeof(*distinct));
    if (chk.n > 0 && ops->dim_values_known(tx, vals, chk.n, known, distinct, err) != 0) {
        return -1;
    }
    /* with several writers, a value to register is counted again under the lock of its
     * (experiment, dimension): only while it still has room, so a warm cap takes no lock */
    if (ops->dim_values_lock != NULL) {
        struct store_dimrow *lock = arena_calloc(a, chk.n ? chk.n : 1, sizeof(*lock));
        size_t nlock = 0;
        for (size_t i = 0; i < chk.n; i++) {
            if (!known[i] && distinct[i] < STORE_DIM_VALUES_MAX) {
                lock[nlock++] = vals[i];
            }
        }
        if (nlock > 0 && (ops->dim_values_lock(tx, lock, nlock, err) != 0 ||
                          ops->dim_values_known(tx, vals, chk.n, known, distinct, err) != 0)) {
            return -1;
        }
    }
    for (size_t k = 0; k < q->keys.n; k++) {
        struct xstate *st = &q->st[k];
        if (!st->row.is_new || st->dims == NULL || st->dims[0] == '\0') {
            continue;
        }
        struct dims_entry *d = dims_entry_of(c, st->row.user_id, st->row.experiment);
        for (size_t j = 0; j < d->n; j++) {
            if (!dims_is_special(d->value[j])) {
                size_t i = kmap_put(&chk, st->row.experiment, d->name[j], d->value[j], NULL);
                if (!known[i] && !added[i]) {
                    bool isnew = false;
                    size_t e = kmap_put(&cnt, st->row.experiment, d->name[j], NULL, &isnew);
                    if (isnew) {
                        arena_grow_array(a, &extra, &aextra, cnt.n, sizeof(*extra));
                        extra[e] = 0;
                    }
                    if (distinct[i] + extra[e] < STORE_DIM_VALUES_MAX) {
                        added[i] = true;
                        extra[e]++;
                        arena_grow_array(a, &reg, &areg, nreg + 1, sizeof(*reg));
                        reg[nreg++] = vals[i];
                    } else {
                        str_copy(d->value[j], sizeof(d->value[j]), STORE_DIM_OTHER);
                    }
                }
            }
            arena_grow_array(a, &rows, &arows, nrows + 1, sizeof(*rows));
            rows[nrows++] = (struct store_dimrow){.user_id = st->row.user_id,
                                                  .experiment = st->row.experiment,
                                                  .dimension = d->name[j],
                                                  .value = d->value[j]};
        }
    }
    if ((nreg > 0 && ops->dim_values_put(tx, reg, nreg, err) != 0) ||
        (nrows > 0 && ops->dims_put(tx, rows, nrows, err) != 0)) {
        return -1;
    }
    return 0;
}

/* What phase C replays on: per addition, whether its user has events at all (has) and the
 * raw values of its rules' windows (cnt, sum: two per rule, the window then the lookback, from
 * op->q); the arena owns them. */
struct expo_reads {
    bool *has;
    int64_t *cnt;
    struct exactsum_parts *sum;
};

/* Phase B of store_ingest_exposures: what the additions read (events are not changed by this
 * request) and the user values the removals read (as stored before the request), into rd and
 * um. 0, or -1 with err. */
static int expo_read(struct store_tx *tx, struct arena *a, struct xreq *q,
                     const struct store_rules *rules, struct umset *um, struct expo_reads *rd,
                     struct err *err)
{
    const struct store_ops *ops = tx->store->ops;
    struct kmap hasmap = {.arena = a};
    const char **husers = NULL;
    struct store_rawq *raw = NULL;
    size_t nraw = 0, araw = 0, ahusers = 0;
    for (size_t o = 0; o < q->nops; o++) {
        struct xop *op = &q->ops[o];
        size_t nr = 0;
        const struct store_rule *const *rs = store_rules_for_experiment(rules, op->experiment, &nr);
        if (op->sign < 0) {
            for (size_t i = 0; i < nr; i++) {
                um_key(um, op->user_id, rs[i]);
            }
            continue;
        }
        if (nr == 0) {
            continue;
        }
        bool added = false;
        op->has = kmap_put(&hasmap, op->user_id, NULL, NULL, &added);
        if (added) {
            arena_grow_array(a, &husers, &ahusers, hasmap.n, sizeof(*husers));
            husers[hasmap.n - 1] = op->user_id;
        }
    }
    rd->has = arena_calloc(a, hasmap.n, sizeof(*rd->has));
    if (hasmap.n > 0 && ops->users_with_events(tx, husers, hasmap.n, rd->has, err) != 0) {
        return -1;
    }
    for (size_t o = 0; o < q->nops; o++) {
        struct xop *op = &q->ops[o];
        size_t nr = 0;
        const struct store_rule *const *rs = store_rules_for_experiment(rules, op->experiment, &nr);
        op->q = nraw;
        if (op->sign < 0 || nr == 0 || !rd->has[op->has]) {
            continue;
        }
        arena_grow_array(a, &raw, &araw, nraw + 2 * nr, sizeof(*raw));
        for (size_t i = 0; i < nr; i++) {
            const struct store_rule *r = rs[i];
            raw[nraw++] = (struct store_rawq){.user_id = op->user_id,
                                              .event = r->event,
                                              .from = op->t0,
                                              .to = rule_window_end(r, op->t0)};
            raw[nraw++] =
                (struct store_rawq){.user_id = op->user_id,
                                    .event = r->event,
                                    .from = r->lookback_ms > 0 ? op->t0 - r->lookback_ms : op->t0,
                                    .to = op->t0};
        }
    }
    /* an empty range reads nothing: leave it out of the batch (and with no reads at all,
     * typical of /assign exposures to experiments without metrics or of users without
     * events, allocate nothing for them) */
    int qrc = 0;
    if (nraw > 0) {
        struct store_rawq *live = arena_calloc(a, nraw, sizeof(*live));
        size_t *live_of = arena_calloc(a, nraw, sizeof(*live_of));
        size_t nlive = 0;
        for (size_t i = 0; i < nraw; i++) {
            if (raw[i].from < raw[i].to) {
                live_of[nlive] = i;
                live[nlive++] = raw[i];
            }
        }
        rd->cnt = arena_calloc(a, nraw, sizeof(*rd->cnt));
        rd->sum = arena_calloc(a, nraw, sizeof(*rd->sum));
        int64_t *lcnt = arena_calloc(a, nlive, sizeof(*lcnt));
        struct exactsum_parts *lsum = arena_calloc(a, nlive, sizeof(*lsum));
        qrc = nlive > 0 ? ops->events_raw(tx, live, nlive, lcnt, lsum, err) : 0;
        for (size_t i = 0; i < nlive; i++) {
            rd->cnt[live_of[i]] = lcnt[i];
            rd->sum[live_of[i]] = lsum[i];
        }
    }
    return qrc != 0 || um_load(tx, um, err) != 0 ? -1 : 0;
}

/* Phase C of store_ingest_exposures: replay the ops in order on the values phase B loaded.
 * user_metrics holds a row only for users with a non-zero raw value: no row means 0. */
static void expo_replay(const struct xreq *q, const struct store_rules *rules, struct agg *g,
                        struct umset *um, const struct expo_reads *rd)
{
    for (size_t o = 0; o < q->nops; o++) {
        const struct xop *op = &q->ops[o];
        size_t nr = 0;
        const struct store_rule *const *rs = store_rules_for_experiment(rules, op->experiment, &nr);
        agg_change_slice_users(g, op->experiment, op->user_id, op->variant, op->sign);
        for (size_t i = 0; i < nr; i++) {
            const struct store_rule *r = rs[i];
            /* the raw values: exact sums in canonical parts (events_raw), as the events path
             * would have left them whatever their order; counts are exact doubles */
            struct exactsum_parts yraw = {{0, 0, 0}}, xraw = {{0, 0, 0}};
            if (op->sign > 0) {
                if (rd->has[op->has]) {
                    size_t y = op->q + 2 * i, x = y + 1;
                    if (r->type == RULE_SUM) {
                        yraw = rd->sum[y];
                    } else {
                        yraw.p[0] = (double)rd->cnt[y];
                    }
                    if (r->lookback_ms > 0 && r->type == RULE_SUM) {
                        xraw = rd->sum[x];
                    } else if (r->lookback_ms > 0) {
                        xraw.p[0] = (double)rd->cnt[x];
                    }
                }
                if (yraw.p[0] != 0 || xraw.p[0] != 0) {
                    size_t m = um_key(um, op->user_id, r);
                    um->rows[m].y = yraw;
                    um->rows[m].x = xraw;
                    um->rows[m].present = true;
                    um->dirty[m] = true;
                }
                agg_change_stats(g, r, op->user_id, op->variant, store_rule_day(r, op->t0), 1, 0,
                                 store_rule_value(r, yraw.p[0]), 0, store_rule_value(r, xraw.p[0]));
            } else {
                size_t m = um_key(um, op->user_id, r);
                if (um->rows[m].present) {
                    yraw = um->rows[m].y;
                    xraw = um->rows[m].x;
                    um->rows[m].present = false;
                    um->dirty[m] = true;
                }
                agg_change_stats(g, r, op->user_id, op->variant, store_rule_day(r, op->t0), -1,
                                 store_rule_value(r, yraw.p[0]), 0, store_rule_value(r, xraw.p[0]),
                                 0);
            }
        }
    }
}

int store_ingest_exposures(struct store_tx *tx, const struct store_rules *rules,
                           const struct store_exposure *exposures, size_t n,
                           struct store_ingest_counts *counts, struct err *err)
{
    const struct store_ops *ops = tx->store->ops;
    _Alignas(max_align_t) char block[ATTRIBUTION_STACK_BLOCK];
    struct arena a;
    arena_init(&a, block, sizeof(block));
    struct agg g = {.arena = &a};
    struct rb_cursors rb = {.arena = &a};
    struct dims_cache dims = {.map.arena = &a};
    struct umset um = {.map.arena = &a};
    struct xreq q = {.keys.arena = &a};
    int rc = -1;
    /* the rules are those of the committed definitions (reloaded as the transaction began):
     * what the request's snapshot did not know stopped is ignored here */
    size_t late = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t stop = store_rules_stopped_at(rules, exposures[i].experiment);
        late += stop > 0 && exposures[i].ts >= stop;
    }
    if (late > 0) {
        struct store_exposure *kept = arena_calloc(&a, n - late ? n - late : 1, sizeof(*kept));
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t stop = store_rules_stopped_at(rules, exposures[i].experiment);
            if (stop == 0 || exposures[i].ts < stop) {
                kept[k++] = exposures[i];
            }
        }
        counts->ignored += (int64_t)late;
        exposures = kept;
        n = k;
    }
    const char **users = arena_calloc(&a, n ? n : 1, sizeof(*users));
    for (size_t i = 0; i < n; i++) {
        users[i] = exposures[i].user_id;
    }
    g.rb = &rb;
    g.dims = &dims;
    size_t nusers = n;
    if (attribution_lock_users(tx, users, &nusers, err) != 0) {
        goto out;
    }
    /* phase B asks it of the users exposed to an experiment with metrics */
    bool any_rules = false;
    for (size_t i = 0; i < n && !any_rules && ops->users_with_events_ahead != NULL; i++) {
        size_t nr = 0;
        store_rules_for_experiment(rules, exposures[i].experiment, &nr);
        any_rules = nr > 0;
    }
    if (any_rules) {
        ops->users_with_events_ahead(tx, users, nusers);
    }
    /* the stored state of every (user, experiment) of the request */
    for (size_t i = 0; i < n; i++) {
        bool added = false;
        size_t k = kmap_put(&q.keys, exposures[i].user_id, exposures[i].experiment, NULL, &added);
        if (added) {
            arena_grow_array(&a, &q.st, &q.ast, q.keys.n, sizeof(*q.st));
            memset(&q.st[k], 0, sizeof(q.st[k]));
            q.st[k].row.user_id = exposures[i].user_id;
            q.st[k].row.experiment = exposures[i].experiment;
        }
    }
    struct store_xrow *keys = arena_calloc(&a, q.keys.n, sizeof(*keys));
    for (size_t k = 0; k < q.keys.n; k++) {
        keys[k] = q.st[k].row;
    }
    /* the rebuild cursors after the locks, before the plan reads them (rb_skip); after the
     * exposures read, which on PostgreSQL brings them in its round trip (pg_lock_users) */
    if ((q.keys.n > 0 && ops->exposures_get(tx, keys, q.keys.n, x_found, q.st, err) != 0) ||
        rb_load(tx, &rb, err) != 0) {
        goto out;
    }
    exposures_plan(&q, rules, exposures, n, &g, counts);
    if (dims_record(tx, &q, &dims, err) != 0) {
        goto out;
    }
    struct expo_reads rd = {0};
    if (expo_read(tx, &a, &q, rules, &um, &rd, err) != 0) {
        goto out;
    }
    expo_replay(&q, rules, &g, &um, &rd);
    /* Phase D: the final rows */
    struct store_xrow *rows = arena_calloc(&a, q.keys.n, sizeof(*rows));
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
    /* every pair of the request as it now stands, for the known-exposure cache (exposed.c) */
    for (size_t k = 0; rc == 0 && tx->exposed != NULL && k < q.keys.n; k++) {
        if (q.st[k].exists) {
            exposed_note(tx, q.st[k].row.experiment, q.st[k].row.user_id, q.st[k].variant,
                         q.st[k].row.ts);
        }
    }
    arena_free(&a);
    return rc;
}
