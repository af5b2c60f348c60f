/*
 * attribution_int.h - private to the attribution files of src/store/ (attribution.c and its
 * attribution_*.c helpers): the request-local structures one ingest call builds (key map,
 * per-user values, dimension values, rebuild cursors, roll-up accumulator) and the functions
 * the files share. Nothing here is thread-safe or needs to be: one ingest call runs on the
 * writer thread, inside the caller's transaction, and owns every structure it builds.
 *
 * Memory: every structure of a call allocates from the call's arena (bunsen/arena.h), which
 * the call starts in a block on its stack and frees all at once when it returns; a structure
 * names the arena in its .arena (its map's for those built on a kmap). Nothing here frees:
 * pointers into any of these structures stay valid until the call's arena_free.
 *
 *   attribution.c          store_ingest_events / store_ingest_exposures: the phases of a call
 *   attribution_rules.c    the rules index (store.h), per-user value, metric window
 *   attribution_kmap.c     string-tuple -> index map
 *   attribution_values.c   per-user raw values of a call (user_metrics rows)
 *   attribution_dims.c     recorded dimension values of a call's (user, experiment) pairs
 *   attribution_agg.c      rebuild cursors and the roll-up accumulator (main and slice deltas)
 */
#ifndef BUNSEN_ATTRIBUTION_INT_H
#define BUNSEN_ATTRIBUTION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bunsen/arena.h"
#include "store_int.h"

/* ---- rules (attribution_rules.c) ---- */

/* First rule for event name, and how many share it (*count; 0 and NULL when none). */
const struct store_rule *rules_for_event(const struct store_rules *r, const char *event,
                                         size_t *count);
/* End (exclusive) of the metric window for a user first exposed at t0. */
int64_t rule_window_end(const struct store_rule *r, int64_t t0);

/* ---- a string-tuple -> index map (attribution_kmap.c; keys of this request: users,
 * exposures, user values). Zero-initialised with .arena set = empty. */

struct kmap {
    struct arena *arena; /* the call's: tables and keys */
    size_t *buckets;     /* index + 1 of the first entry, 0 = empty */
    size_t nbuckets;
    struct kmap_entry {
        size_t off; /* the key in text: the parts, each NUL-terminated, back to back */
        size_t len;
        uint64_t hash; /* of the key: kept, so that growing rehashes nothing */
        size_t next;   /* index + 1 */
    } * e;
    size_t n, alloc;
    char *text; /* every key, back to back (no allocation per key) */
    size_t text_len, text_alloc;
};

/* Index of the tuple (a, b, c) (b, c may be NULL; the parts are copied); *added (may be
 * NULL) true when it is new. Indexes are dense: 0 .. m->n - 1 in order of insertion. */
size_t kmap_put(struct kmap *m, const char *a, const char *b, const char *c, bool *added);

/* ---- per-user metric values of this request (attribution_values.c; user_metrics rows).
 * Zero-initialised with .map.arena set = empty. */

struct umset {
    struct kmap map;          /* (user, experiment, metric) -> row */
    struct store_umrow *rows; /* parallel to map entries; strings borrowed from the request */
    bool *dirty;              /* to be written */
    size_t alloc;
};

/* The index of the (user, rule's experiment, rule's metric) row, added absent and clean
 * when new. user and the rule's strings are borrowed for the call. */
size_t um_key(struct umset *u, const char *user, const struct store_rule *r);
/* Read the stored values of every key collected so far (before the replay changes any). */
int um_load(struct store_tx *tx, struct umset *u, struct err *err);
/* Write the dirty rows in one batch. */
int um_store(struct store_tx *tx, struct umset *u, struct err *err);

/* ---- the dimension values of the (user, experiment) pairs of one call
 * (attribution_dims.c) ---- */

struct dims_entry {
    size_t n;
    char name[STORE_DIMS_MAX][65];
    char value[STORE_DIMS_MAX][STORE_DIM_VALUE_MAX + 1];
};

/* (user, experiment) -> values; entries are allocated one by one, so the strings that the
 * roll-up deltas borrow stay put until the call's arena is freed (after the flush).
 * Zero-initialised with .map.arena set = empty. */
struct dims_cache {
    struct kmap map;
    struct dims_entry **e; /* per map entry */
    size_t alloc;
};

/* The entry of (user, experiment), created empty; valid for the call. */
struct dims_entry *dims_entry_of(struct dims_cache *c, const char *user, const char *experiment);
/* Read the recorded values of keys[0..n) into the cache (no-op without slice ops). */
int dims_load(struct store_tx *tx, struct dims_cache *c, const struct store_xrow *keys, size_t n,
              struct err *err);
/* Read the recorded values of the (user, experiment) pairs of um's keys whose experiment
 * lists dimensions. */
int dims_load_um(struct store_tx *tx, struct dims_cache *c, const struct umset *um,
                 const struct store_rules *rules, struct err *err);
/* Parse an encoded dims string (store.h) into d. */
void dims_parse(struct dims_entry *d, const char *enc);
/* True for the values STORE_DIM_OTHER and STORE_DIM_NONE (never registered). */
bool dims_is_special(const char *v);

/* ---- rebuild cursors and the roll-up accumulator (attribution_agg.c) ---- */

/* The cursors of the running rebuilds (rebuild.c): a rebuilding experiment's roll-ups take
 * deltas only for users at or below its cursor. Zero-initialised with .arena set = empty. */
struct rb_cursors {
    struct arena *arena; /* the call's: the arrays and the copies of the strings */
    size_t n, alloc;
    char **experiment;
    char **cursor;
};

struct agg_entry;

/* Zero-initialised with .arena set = empty. The bucket array is allocated with the first
 * entry and grows with the entries, which are also chained in the order they were made: a
 * call with little to aggregate (one /assign exposure) neither zeroes nor scans a large
 * table. */
struct agg {
    struct arena *arena;        /* the call's: buckets, entries, the flush's batches */
    struct agg_entry **buckets; /* nbuckets heads, NULL until the first entry */
    size_t nbuckets, n;
    struct agg_entry *first, *last;
    const struct rb_cursors *rb; /* NULL or empty: no rebuild runs */
    struct dims_cache *dims;     /* NULL: no slices (the backend has none) */
};

/* Read the cursors in this transaction: after lock_users, so that a chunk of another writer
 * holding one of our users has either committed (its cursor is visible) or not started. */
int rb_load(struct store_tx *tx, struct rb_cursors *rb, struct err *err);

/* Record the change of one user's (y, x) from old to new (dn = users added: -1, 0, 1) in
 * the rule's metric_stats, its slices (the user's recorded dimension values) and
 * metric_daily of day. */
void agg_change_stats(struct agg *g, const struct store_rule *r, const char *user_id,
                      const char *variant, int64_t day, int dn, double y0, double y1, double x0,
                      double x1);
/* Add users and conflicts to exposure_stats of (exp, variant). */
void agg_change_exposures(struct agg *g, const char *exp, const char *user_id, const char *variant,
                          int users, int conflicts);
/* The user joins (sign +1) or leaves (-1) variant's exposed users in each slice. */
void agg_change_slice_users(struct agg *g, const char *exp, const char *user_id,
                            const char *variant, int sign);
/* Write every accumulated delta in one batch (when rc == 0); returns rc, or -1 when the
 * write fails. g is empty afterwards (its memory stays the call's arena's). */
int agg_flush(struct store_tx *tx, struct agg *g, int rc, struct err *err);

/* The arena's first block, on the stack of store_ingest_* (the writer thread's stack is
 * the default 8 MiB): enough for an /assign group of a few exposures with dimensions. */
#define ATTRIBUTION_STACK_BLOCK (32 * 1024)

/* Lock the users of a call (store_int.h lock_users): users[0..*nusers) sorted and made
 * distinct in place (*nusers updated), then those not locked by the group already are asked
 * of the backend (attribution.c). */
int attribution_lock_users(struct store_tx *tx, const char **users, size_t *nusers,
                           struct err *err);

#endif
