/*
 * attribution_dims.c - the recorded dimension values of the (user, experiment) pairs of one
 * ingest call (attribution_int.h): the cache the slice deltas borrow their strings from (in
 * the call's arena), its batched reads from the backend, and the parsing of an exposure's
 * encoded values (store.h). Runs on the writer thread, inside the caller's transaction.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "attribution_int.h"

struct dims_entry *dims_entry_of(struct dims_cache *c, const char *user, const char *experiment)
{
    bool added = false;
    size_t i = kmap_put(&c->map, user, experiment, NULL, &added);
    if (added) {
        arena_grow_array(c->map.arena, &c->e, &c->alloc, c->map.n, sizeof(*c->e));
        c->e[i] = arena_calloc(c->map.arena, 1, sizeof(**c->e));
    }
    return c->e[i];
}

static void dims_entry_add(struct dims_entry *d, const char *name, const char *value)
{
    for (size_t k = 0; k < d->n; k++) {
        if (strcmp(d->name[k], name) == 0) {
            return;
        }
    }
    if (d->n < STORE_DIMS_MAX) {
        str_copy(d->name[d->n], sizeof(d->name[d->n]), name);
        str_copy(d->value[d->n], sizeof(d->value[d->n]), value);
        d->n++;
    }
}

struct dims_load {
    struct dims_cache *c;
    const struct store_xrow *keys;
};

static void dims_found(void *ctx, size_t i, const char *dimension, const char *value)
{
    struct dims_load *l = ctx;
    dims_entry_add(dims_entry_of(l->c, l->keys[i].user_id, l->keys[i].experiment), dimension,
                   value);
}

/* Read the recorded values of keys[0..n) into the cache (no-op without slice ops). */
int dims_load(struct store_tx *tx, struct dims_cache *c, const struct store_xrow *keys, size_t n,
              struct err *err)
{
    if (n == 0 || tx->store->ops->dims_get == NULL) {
        return 0;
    }
    struct dims_load l = {.c = c, .keys = keys};
    return tx->store->ops->dims_get(tx, keys, n, dims_found, &l, err);
}

/* The recorded dimension values of the (user, experiment) pairs whose values this call
 * changes (the keys of um), for the experiments that list dimensions (store_rule.dims): the
 * others cost no read. Their slices are rebuilt when their dimensions change. */
int dims_load_um(struct store_tx *tx, struct dims_cache *c, const struct umset *um,
                 const struct store_rules *rules, struct err *err)
{
    if (um->map.n == 0 || tx->store->ops->dims_get == NULL) {
        return 0;
    }
    struct kmap seen = {.arena = c->map.arena};
    struct store_xrow *keys = arena_calloc(c->map.arena, um->map.n, sizeof(*keys));
    size_t n = 0;
    for (size_t i = 0; i < um->map.n; i++) {
        size_t nr = 0;
        const struct store_rule *const *rs =
            store_rules_for_experiment(rules, um->rows[i].experiment, &nr);
        if (nr == 0 || !rs[0]->dims) {
            continue;
        }
        bool added = false;
        kmap_put(&seen, um->rows[i].user_id, um->rows[i].experiment, NULL, &added);
        if (added) {
            keys[n].user_id = um->rows[i].user_id;
            keys[n++].experiment = um->rows[i].experiment;
        }
    }
    return dims_load(tx, c, keys, n, err);
}

bool dims_is_special(const char *v)
{
    return strcmp(v, STORE_DIM_OTHER) == 0 || strcmp(v, STORE_DIM_NONE) == 0;
}

/* Parse an encoded dims string (store.h) into d. */
void dims_parse(struct dims_entry *d, const char *enc)
{
    while (enc != NULL && *enc != '\0') {
        const char *sep = strchr(enc, STORE_DIM_SEP);
        if (sep == NULL) {
            return;
        }
        const char *end = strchr(sep + 1, STORE_DIM_PAIR_SEP);
        size_t nl = (size_t)(sep - enc), vl = end ? (size_t)(end - sep - 1) : strlen(sep + 1);
        char name[65], value[STORE_DIM_VALUE_MAX + 1];
        if (nl > 0 && nl < sizeof(name)) {
            memcpy(name, enc, nl);
            name[nl] = '\0';
            vl = vl < STORE_DIM_VALUE_MAX ? vl : STORE_DIM_VALUE_MAX;
            memcpy(value, sep + 1, vl);
            value[vl] = '\0';
            dims_entry_add(d, name, value[0] ? value : STORE_DIM_NONE);
        }
        enc = end ? end + 1 : NULL;
    }
}
