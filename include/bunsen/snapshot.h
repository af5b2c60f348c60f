/*
 * snapshot.h - the immutable in-memory set of experiments that assignment reads, and the
 * cell through which a new set is published without ever blocking readers.
 *
 * DESIGN
 * A snapshot is built off to the side (snapshot_new/add/seal), then published into the
 * cell with one atomic pointer exchange. Every snapshot carries a reference count: one
 * for the cell while it is current, one per reader. snapshot_read_begin takes a
 * reference (lock-free) and snapshot_read_end drops it; whoever drops the last one
 * frees the snapshot. So a reader that keeps a snapshot for seconds only keeps that
 * snapshot alive: it never delays a publish.
 * The one race is "load the current pointer, then take a reference": a publish could
 * retire the snapshot between the two. Readers therefore register in one of two window
 * counters (chosen by the cell's epoch parity) for those few instructions only, and the
 * cell's reference to a retired snapshot is dropped by the cell's reclaimer thread after
 * a grace period (flip the epoch, wait for the old parity's window counter to drain, as
 * in userspace RCU). The publisher exchanges the pointer, queues the old snapshot for the
 * reclaimer and returns: it never waits for any reader.
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
    struct condition *cond;     /* x.targeting compiled by seal (owned), a.compiled */
    const char *keys[ASSIGN_MAX_VARIANTS];
    double weights[ASSIGN_MAX_VARIANTS];
    void *user; /* set by the builder (the experiment's metrics counters), not owned */
};

struct snapshot {
    size_t n;
    struct snapshot_entry *entries; /* sorted by key after seal */
    size_t alloc;
    uint64_t generation;          /* set by snapshot_publish, increasing */
    int64_t changed_at;           /* catalogue change time it was loaded at (ms, set by the
                                   * builder; 0 unknown): the payload's dateUpdated */
    _Atomic(size_t) refs;         /* the cell's + readers' references (snapshot.c only) */
    struct snapshot *retired;     /* next in the cell's reclaim list (snapshot.c only) */
    void *ext;                    /* data the builder attaches (attribution rules) */
    void (*ext_free)(void *ext);  /* frees ext with the snapshot; NULL = nothing to free */
    json_t *saved_groups;         /* saved group key -> document (owned), NULL = none */
    json_t *group_values;         /* saved group key -> values (owned): what $inGroup reads */
    struct condition *group_sets; /* group_values compiled, bound to every entry's cond */
    json_t *group_hashes;         /* keyed hash of a group's stored text (hex) -> its key (owned) */
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

/* A cell holding an empty sealed snapshot, with its reclaimer thread. */
struct snapshot_cell *snapshot_cell_new(void);
/* Stop the reclaimer, free the cell, its current and its retired snapshots (no reader may
 * be active). NULL ok. */
void snapshot_cell_free(struct snapshot_cell *c);
/* Publish s (sealed; the cell takes ownership). The previous snapshot is freed by its last
 * reader, or by the reclaimer when it has none. Never waits for readers: publishers only
 * wait for each other (a mutex held for a pointer exchange). */
void snapshot_publish(struct snapshot_cell *c, struct snapshot *s);
/* Borrow the current snapshot until snapshot_read_end(c, s). Lock-free, never blocks on a
 * publisher; a reader may keep it as long as it likes (it only delays that snapshot's
 * free). Any thread. */
const struct snapshot *snapshot_read_begin(struct snapshot_cell *c);
/* Give back s from snapshot_read_begin; frees it when it was retired and this was its
 * last reader. */
void snapshot_read_end(struct snapshot_cell *c, const struct snapshot *s);
/* Snapshots retired but not yet freed (held by readers or awaiting the reclaimer), for
 * tests and metrics. */
size_t snapshot_cell_retired(struct snapshot_cell *c);

#endif
