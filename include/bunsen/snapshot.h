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
 * Experiments are shared between snapshots (struct snapshot_entry): a snapshot holds a
 * reference on each of its entries, and the entries of a snapshot a builder takes into the
 * next one stay alive as long as either holds them. Taking one happens while the builder
 * holds the previous snapshot (a reference: its entries' counts are at least one), so a
 * count never rises from zero; entries are never written after their first seal, and the
 * publish's pointer exchange orders their building before any reader's load.
 *
 * Pure data structure (src/core/snapshot.c): no I/O. Thread-safety as described.
 */
#ifndef BUNSEN_SNAPSHOT_H
#define BUNSEN_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bunsen/assign.h"
#include "bunsen/model.h"

/* One experiment's definition as assignment reads it. An entry is a function of the stored
 * text it was read from (doc_hash) and is shared, by reference count, by every snapshot built
 * while that text stays the same: a reload parses and compiles only the experiments whose
 * stored text changed. So an entry holds nothing that belongs to one snapshot: the saved
 * groups its targeting reads are the snapshot's (group_sets, passed to assign_decide_budget),
 * and the attribution rules are the snapshot's (ext). Immutable once sealed (readers of
 * several snapshots read it concurrently without locks); before its first seal only its
 * builder touches it. */
struct snapshot_entry {
    struct experiment x;        /* the full definition (owned) */
    struct assign_experiment a; /* hot-path view into x */
    struct condition *cond;     /* x.targeting compiled by seal (owned), a.compiled */
    const char *keys[ASSIGN_MAX_VARIANTS];
    double weights[ASSIGN_MAX_VARIANTS];
    void *user;           /* set by the builder before seal (the experiment's metrics counters: one
                           * per key, the same for every entry of that key), not owned */
    uint64_t doc_hash;    /* hash_keyed of the stored text x was read from; 0: none (never
                           * taken into another snapshot) */
    bool sealed;          /* views and cond built (snapshot.c only) */
    _Atomic(size_t) refs; /* the snapshots holding it (snapshot.c only) */
};

struct snapshot {
    size_t n;
    struct snapshot_entry **entries; /* sorted by key after seal; each may be shared */
    size_t alloc;
    struct snapshot_doc {
        uint64_t hash; /* the entry's doc_hash (here: a probe reads no entry), 0 = free */
        struct snapshot_entry *e;
    } * by_doc; /* entries with a doc_hash by it (open addressing, built by seal;
                 * by_doc_cap a power of two, 0: none) */
    size_t by_doc_cap;
    uint64_t generation;          /* set by snapshot_publish, increasing */
    int64_t changed_at;           /* catalogue change time it was loaded at (ms, set by the
                                   * builder; 0 unknown): the payload's dateUpdated */
    _Atomic(size_t) refs;         /* the cell's + readers' references (snapshot.c only) */
    struct snapshot *retired;     /* next in the cell's reclaim list (snapshot.c only) */
    void *ext;                    /* data the builder attaches (attribution rules) */
    void (*ext_free)(void *ext);  /* frees ext with the snapshot; NULL = nothing to free */
    json_t *saved_groups;         /* saved group key -> document (owned), NULL = none */
    json_t *group_values;         /* saved group key -> values (owned): what $inGroup reads */
    struct condition *group_sets; /* group_values compiled (owned), NULL = none: what every
                                   * entry's targeting is evaluated with (assign_decide_budget) */
    json_t *group_versions;       /* saved group key -> version it was loaded at (owned) */
};

struct snapshot *snapshot_new(void);
/* Add an experiment read from a stored text whose hash_keyed is doc_hash (0: unknown, the
 * entry is never taken into another snapshot); takes ownership of *x's contents (x is
 * zeroed). Before seal only. Returns the new entry: the builder may set its user until seal. */
struct snapshot_entry *snapshot_add(struct snapshot *s, struct experiment *x, uint64_t doc_hash);
/* Add prev's entry read from the stored text of hash doc_hash (not 0), shared as it is (no
 * parse, no compile): it is a function of that text. prev is sealed and held by the caller
 * (a reader reference, or ownership) for the call; NULL ok. Before seal only. Returns false,
 * adding nothing, when prev has no such entry. */
bool snapshot_add_from(struct snapshot *s, const struct snapshot *prev, uint64_t doc_hash);
/* Sort and build the assignment views of the entries added new (those taken from another
 * snapshot have theirs). After this the snapshot is read-only. */
void snapshot_seal(struct snapshot *s);
/* Entry by experiment key (binary search), or NULL. */
const struct snapshot_entry *snapshot_find(const struct snapshot *s, const char *key);
/* Free s and every entry no other snapshot holds. Any thread. */
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
/* Snapshots retired but not yet freed (held by readers or awaiting the reclaimer). A test
 * hook (test_snapshot): the daemon does not call it. */
size_t snapshot_cell_retired(struct snapshot_cell *c);

#endif
