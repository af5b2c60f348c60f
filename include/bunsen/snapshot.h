/*
 * snapshot.h - the immutable in-memory set of experiments that assignment reads, and the
 * cell through which a new set is published without ever blocking readers.
 *
 * DESIGN
 * A snapshot is built off to the side (snapshot_new/add/seal), then published into the
 * cell with one atomic pointer exchange. Readers bracket their use with
 * snapshot_read_begin/end, which only increment/decrement one of two reader counters
 * (chosen by the cell's epoch parity): no lock, no waiting. The publisher flips the
 * epoch after the exchange and waits until the old parity's counter drains to zero
 * before freeing the old snapshot (a two-counter grace period, as in userspace RCU).
 * Publishers are serialised by a mutex; only they ever wait.
 *
 * Pure data structure (src/core/snapshot.c): no I/O. Thread-safety as described.
 */
#ifndef BUNSEN_SNAPSHOT_H
#define BUNSEN_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "bunsen/assign.h"
#include "bunsen/model.h"

struct snapshot_entry {
    struct experiment x;        /* the full definition (owned) */
    struct assign_experiment a; /* hot-path view into x */
    const char *keys[ASSIGN_MAX_VARIANTS];
    double weights[ASSIGN_MAX_VARIANTS];
    void *user; /* set by the builder (the experiment's metrics counters), not owned */
};

struct snapshot {
    size_t n;
    struct snapshot_entry *entries; /* sorted by key after seal */
    size_t alloc;
    uint64_t generation;         /* set by snapshot_publish, increasing */
    void *ext;                   /* data the builder attaches (attribution rules) */
    void (*ext_free)(void *ext); /* frees ext with the snapshot; NULL = nothing to free */
    json_t *saved_groups;        /* saved group key -> document (owned), NULL = none */
    json_t *group_values;        /* saved group key -> values (owned): what $inGroup reads */
};

struct snapshot *snapshot_new(void);
/* Add an experiment; takes ownership of *x's contents (x is zeroed). Before seal only. */
void snapshot_add(struct snapshot *s, struct experiment *x);
/* Sort and build the assignment views. After this the snapshot is read-only. */
void snapshot_seal(struct snapshot *s);
/* Entry by experiment key (binary search), or NULL. */
const struct snapshot_entry *snapshot_find(const struct snapshot *s, const char *key);
void snapshot_free(struct snapshot *s);

struct snapshot_cell;

/* A cell holding an empty sealed snapshot. */
struct snapshot_cell *snapshot_cell_new(void);
/* Free the cell and its current snapshot (no reader may be active). NULL ok. */
void snapshot_cell_free(struct snapshot_cell *c);
/* Publish s (sealed; the cell takes ownership) and free the previous snapshot once no
 * reader can still see it. Blocks only the caller. */
void snapshot_publish(struct snapshot_cell *c, struct snapshot *s);
/* Borrow the current snapshot until snapshot_read_end(c, token). Never blocks. */
const struct snapshot *snapshot_read_begin(struct snapshot_cell *c, unsigned *token);
void snapshot_read_end(struct snapshot_cell *c, unsigned token);

#endif
