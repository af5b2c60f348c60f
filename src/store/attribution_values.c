/*
 * attribution_values.c - the per-user raw metric values (user_metrics rows: exact sums in
 * canonical parts, exactsum.h) one ingest call reads, changes and writes back in batches
 * (attribution_int.h), in the call's arena. Runs
 * on the writer thread, inside the caller's transaction.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "attribution_int.h"

size_t um_key(struct umset *u, const char *user, const struct store_rule *r)
{
    bool added = false;
    size_t i = kmap_put(&u->map, user, r->experiment, r->metric, &added);
    if (added) {
        size_t a = u->alloc;
        arena_grow_array(u->map.arena, &u->rows, &a, u->map.n, sizeof(*u->rows));
        a = u->alloc;
        arena_grow_array(u->map.arena, &u->dirty, &a, u->map.n, sizeof(*u->dirty));
        u->alloc = a;
        u->rows[i] =
            (struct store_umrow){.user_id = user, .experiment = r->experiment, .metric = r->metric};
        u->dirty[i] = false;
    }
    return i;
}

static void um_found(void *ctx, size_t i, const struct exactsum_parts *y,
                     const struct exactsum_parts *x, int64_t loc)
{
    struct store_umrow *row = ctx;
    row[i].y = *y;
    row[i].x = *x;
    row[i].present = true;
    row[i].stored = true;
    row[i].loc = loc;
}

/* Read the stored values of every key collected so far (before the replay changes any). */
int um_load(struct store_tx *tx, struct umset *u, struct err *err)
{
    if (u->map.n == 0) {
        return 0;
    }
    return tx->store->ops->user_metrics_get(tx, u->rows, u->map.n, um_found, u->rows, err);
}

int um_store(struct store_tx *tx, struct umset *u, struct err *err)
{
    size_t n = 0;
    struct store_umrow *w = arena_calloc(u->map.arena, u->map.n, sizeof(*w));
    for (size_t i = 0; i < u->map.n; i++) {
        if (u->dirty[i]) {
            w[n++] = u->rows[i];
        }
    }
    return n > 0 ? tx->store->ops->user_metrics_put(tx, w, n, err) : 0;
}
