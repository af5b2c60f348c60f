/*
 * store_int.h - the seam between the store facade (the files of src/store/ itself: writer,
 * attribution, dispatch) and its backends (src/store/sqlite/, src/store/pg/): the ops table an
 * adapter implements and the batch-shaped primitives attribution is written against.
 *
 * Every primitive takes whole arrays so that a networked backend answers a request in a
 * few round trips (PostgreSQL: unnest() of array parameters), never one per event; an
 * embedded backend may simply loop. Strings in the row structs are borrowed for the call.
 */
#ifndef BUNSEN_STORE_INT_H
#define BUNSEN_STORE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bunsen/ddouble.h"
#include "bunsen/exactsum.h"
#include "bunsen/store.h"

struct writer;
struct store_ops;

struct store {
    const struct store_ops *ops; /* the backend, chosen once by store_open */
    void *be;                    /* the backend's state (connections, pool) */
    struct writer *writer;       /* NULL until store_writer_start; a stopped one stays until
                                    store_writer_release (store_close, the next start) */
    int (*catalog_hook)(void *ctx, int64_t version, struct err *err); /* may be NULL */
    void *catalog_ctx;
    size_t rebuild_chunk;              /* users per rebuild chunk (store_rebuild_configure) */
    int rebuild_pause_ms;              /* pause after each chunk */
    size_t rebuild_users;              /* users the next chunk takes (adapted, writer thread) */
    struct exposed *exposed;           /* known first exposures (exposed.c); NULL = off */
    struct store_refresher *refresher; /* store_catalog_refresh_within's thread (refresh.c) */
    _Atomic int schema_ahead; /* a newer schema the poll found (store_schema_seen); 0: none */
    bool readonly;            /* store_open_readonly: the backend neither writes nor creates */
    /* Tests only (tests/unit/test_store_queue.c): the clock a job's wait in the writer's queue
     * is measured by (store_job.queued_ns, STORE_BULK_WAIT_MS) in monotonic-style ns, so that
     * a test moves time past the wait instead of sleeping through it; NULL (store_open): the
     * monotonic clock. Set before store_writer_start; read under the writer's mu. */
    uint64_t (*queue_clock_ns)(void);
};

/* refresh.c: set up at store_open; stopped (its thread joined) and freed by store_close. */
void store_refresh_init(struct store *s);
void store_refresh_stop(struct store *s);

/* Stop the writer (store_writer_stop) and free it: no thread may submit any more (store_close,
 * after the HTTP server stopped; store_writer_start). */
void store_writer_release(struct store *s);

/* For backends: the applied schema version, as the one-second catalogue poll read it
 * (serve.c). Newer than this binary's (another process migrated the database under this
 * daemon, which would write rows without the new columns): from then on every write
 * transaction is refused (store_schema_refuse), /readyz included, and it is logged once.
 * Any thread. */
void store_schema_seen(struct store *s, int version);
/* For backends' tx_begin: 0, or -1 with ERR_UNAVAILABLE (503, Retry-After) while the schema
 * the poll found is newer than this binary's. Any thread. */
int store_schema_refuse(struct store *s, struct err *err);

/* For backends: run the catalogue hook (store_set_catalog_hook); 0 when none is set. */
int store_catalog_check(struct store *s, int64_t version, struct err *err);

/* An open write transaction: the backend's writer connection lent for its duration. */
struct store_tx {
    struct store *store;
    void *conn;
    struct exposed_batch *exposed; /* the group's notes (exposed.c); NULL: none kept */
    /* The users the writer locked for the whole group before its first job (store_job.users,
     * backends with lock_users only): sorted (strcmp), distinct, owned by the writer for the
     * transaction. Attribution's lock_users asks the backend only for the others. */
    const char **users_locked;
    size_t nusers_locked;
};

/* ---- known first exposures (exposed.c; store.h "Known first exposures") ---- */

struct exposed_note {
    uint64_t k0, k1, vh; /* the pair's SipHash-128, the variant's hash */
    int64_t ts;
};
#define EXPOSED_INLINE 16
/* The (experiment, user) states a group's transaction left, published after its commit: the
 * first EXPOSED_INLINE in the batch itself, the rest in notes. */
struct exposed_batch {
    struct exposed_note inline_notes[EXPOSED_INLINE];
    struct exposed_note *notes;
    size_t n, cap;
};
struct exposed *exposed_new(size_t pairs); /* NULL when pairs is 0 */
void exposed_free(struct exposed *x);
bool exposed_known(struct exposed *x, const char *experiment, const char *user_id,
                   const char *variant, int64_t ts);
void exposed_clear(struct exposed *x);
/* In a transaction: the first exposure of (experiment, user) is to variant at ts, as this
 * transaction leaves it (attribution, after its writes succeeded). No-op without a batch. */
void exposed_note(struct store_tx *tx, const char *experiment, const char *user_id,
                  const char *variant, int64_t ts);
/* Publish a committed group's notes, unless exposed_clear ran since epoch was read
 * (exposed_epoch, before the group's transaction began): a definition change or compaction
 * since may have made them stale. */
void exposed_publish(struct exposed *x, const struct exposed_batch *b, uint64_t epoch);
uint64_t exposed_epoch(struct exposed *x); /* 0 when x is NULL */
void exposed_batch_free(struct exposed_batch *b);
void exposed_write_metrics(struct exposed *x, struct buf *b);

/* ---- rows of the batch primitives ---- */

/* conflict_ts of a user never exposed to another variant than the first (NULL in the
 * database) */
#define STORE_NO_CONFLICT INT64_MAX

/* The first exposure of a user to an experiment as attribution leaves it. */
struct store_xrow {
    const char *user_id;
    const char *experiment;
    const char *variant;
    int64_t ts;
    int64_t conflicts_add; /* added to the stored conflicts (the initial value when is_new) */
    /* the earliest time the user was exposed to another variant than `variant`, or
     * STORE_NO_CONFLICT (migration 0012): set, not added. A user counts as conflicting in
     * the roll-ups while conflict_ts < the experiment's stop. */
    int64_t conflict_ts;
    bool is_new; /* insert (no row yet) rather than update */
};

/* A per-user metric key and, for writes, its raw values (present false = delete the row).
 * A raw value is the exact sum of the counted events' values (or their count) in canonical
 * parts (exactsum.h; user_metrics y_raw, x_raw and the low parts, migration 0014): y.p[0] is the
 * value, the sum rounded once, whatever the order the events came in and whichever path
 * summed them (an event as it arrives, a first exposure, a rebuild). */
struct store_umrow {
    const char *user_id;
    const char *experiment;
    const char *metric;
    struct exactsum_parts y, x;
    bool present; /* the row should exist after the request (a raw value is not zero) */
    bool stored;  /* it exists now: user_metrics_get found it (under the user's lock) */
    int64_t loc;  /* where: the backend's address of the stored row (PostgreSQL: its ctid),
                   * valid while the user's lock is held, 0 when the backend has none */
};

/* Count and sum (exactsum.h, canonical parts) of one user's events named event with
 * from <= ts < to. */
struct store_rawq {
    const char *user_id;
    const char *event;
    int64_t from, to;
};

enum store_delta_kind {
    DELTA_METRIC_STATS,
    DELTA_METRIC_DAILY,
    DELTA_EXPOSURE_STATS,
    DELTA_SLICE_STATS,    /* slice_stats: metric_stats per (dimension, value); ops->slice_add */
    DELTA_SLICE_EXPOSURES /* slice_exposure_stats: dn users per (dimension, value, variant) */
};

/* A change of one roll-up row, added to what is stored (created at zero when absent). The
 * sums are double-doubles (value = x + x_lo, ddouble.h): an adapter adds the hi parts with
 * their rounding errors (TwoSum) to the stored lo parts, so that the stored sums do not
 * lose precision whatever the values' magnitude (STATS.md "Numerics"). */
struct store_delta {
    enum store_delta_kind kind;
    const char *experiment;
    const char *metric; /* NULL for exposure_stats */
    const char *variant;
    int64_t day; /* metric_daily only */
    int64_t dn, dconf;
    double ds, dq, dsx, dqx, dp;
    double ds_lo, dq_lo, dsx_lo, dqx_lo, dp_lo;
    /* DELTA_METRIC_STATS, _DAILY, DELTA_SLICE_STATS: the largest magnitude of the terms
     * summed into dq, dqx, dp and of those sums along the way (at least |dq|, |dqx|, |dp|).
     * The adapter keeps the row's hwm (migration 0015) the largest of it, its own and the
     * row's new |q|, |qx|, |p|: how far the row's double-doubles may have lost precision
     * (src/api/results_exact.c). */
    double hwm;
    const char *dimension, *value; /* DELTA_SLICE_* only */
};

/* One recorded dimension value: exposure_dims (user_id, experiment, dimension, value), or a
 * registered distinct value (dimension_values: user_id unused). */
struct store_dimrow {
    const char *user_id;
    const char *experiment;
    const char *dimension;
    const char *value;
};

/* ---- the ops table: one per backend, every function required unless said ---- */

struct store_ops {
    const char *name;

    /* lifecycle (store.h semantics; open fills s->be from the backend's target string) */
    int (*open)(struct store *s, const char *target, struct err *err);
    void (*close)(struct store *s);
    int (*listen)(struct store *s, struct err *err);     /* NULL: no change notifications */
    void (*set_db_timeout)(struct store *s, int ms);     /* NULL: no server to wait for */
    int (*read_begin)(struct store *s, struct err *err); /* store.h "A consistent read" */
    void (*read_end)(struct store *s);
    int (*migrate)(struct store *s, int *applied, struct err *err);
    int (*schema_version)(struct store *s, int *version, struct err *err);

    /* the writer's transaction on its connection: begin fills tx->conn; exclusive: the group
     * changes definitions (a barrier job), shared otherwise (ingestion, keys, audit) */
    int (*tx_begin)(struct store *s, struct store_tx *tx, bool exclusive, struct err *err);
    int (*tx_savepoint)(struct store_tx *tx, struct err *err);
    int (*tx_rollback_to)(struct store_tx *tx, struct err *err);
    int (*tx_release)(struct store_tx *tx, struct err *err);
    /* the most jobs the writer runs in one transaction with a savepoint each, 0 = no bound */
    int savepoint_jobs_max;
    /* 0 committed; -1 failed (whether it committed is unknown when the connection was
     * lost); 1 known not committed (a write the backend deferred failed, the transaction
     * had failed before, or the COMMIT failed): the caller rolls back and runs the group
     * again with savepoints */
    int (*tx_commit)(struct store_tx *tx, struct err *err);
    /* optional: the most items (store_job.items) one group may hold, 0 = no bound; asked by
     * the writer thread before each group (a reconnect may change it) */
    size_t (*group_items_max)(struct store *s);
    void (*tx_rollback)(struct store_tx *tx);
    /* whether the last failure in tx was a deadlock or serialization failure (cleared) */
    bool (*tx_retryable)(struct store_tx *tx);
    /* optional: whether the last failure in tx left the transaction as the failing job found
     * it (a lock another transaction holds, refused before the job wrote anything: lock_users),
     * so that the writer goes on with the group without it (cleared) */
    bool (*tx_intact)(struct store_tx *tx);
    /* optional: whether the last failure in tx, an ERR_UNAVAILABLE, would come back for every
     * job of the group run again now: the database held it to a bound (a statement not
     * answered within --db-timeout, a lock past lock_timeout, the server's statement_timeout)
     * or is out of a resource. The writer then fails the group at once instead of running it
     * again with savepoints, which waited as long again (review chaos36 F1). Absent: every
     * ERR_UNAVAILABLE comes back (a local file: full, read-only, busy past the busy timeout).
     * A connection that broke (the server restarted, the session was ended) is not such a
     * failure: a new session may well succeed. Cleared. */
    bool (*tx_unavailable_recurs)(struct store_tx *tx);
    int (*ready_check)(struct store_tx *tx, struct err *err);
    /* backend gauges for /metrics (sizes, memory) */
    void (*write_metrics)(struct store *s, struct buf *b);
    /* optional: the latest reason the database could not be reached, for the log
     * (store_err_log_fields); false when none */
    bool (*unavailable_reason)(struct store *s, char *out, size_t n);
    /* optional: which database this is, as fields of a JSON object (store_describe) */
    void (*describe)(struct store *s, struct json_t *fields);

    /* keys, audit, catalogue, roll-up reads, compaction: store.h semantics */
    int (*key_insert)(struct store_tx *tx, const struct store_key *k, const uint8_t hash[32],
                      struct err *err);
    int (*key_revoke)(struct store_tx *tx, const char *id, int64_t now, struct store_key *before,
                      struct err *err);
    int (*key_find_by_hash)(struct store *s, const uint8_t hash[32], struct store_key *out,
                            struct err *err);
    int (*key_list)(struct store *s, bool include_revoked, struct store_key **out, size_t *n,
                    struct err *err);
    int (*key_count_admins)(struct store *s, struct store_tx *tx, int *n, struct err *err);
    int (*key_count_named)(struct store_tx *tx, const char *name, int *n, struct err *err);
    int (*audit_append)(struct store_tx *tx, const struct store_audit *e, struct err *err);
    int (*audit_list)(struct store *s, int64_t before_id, const char *target_type,
                      const char *target, int limit, size_t max_bytes,
                      void (*emit)(void *ctx, const struct store_audit *e), void *ctx,
                      struct err *err);
    int (*metric_put)(struct store_tx *tx, const char *key, const char *doc, int64_t created_at,
                      int64_t updated_at, bool create, struct err *err);
    int (*metric_get)(struct store *s, struct store_tx *tx, const char *key, char **doc,
                      struct err *err);
    int (*metric_delete)(struct store_tx *tx, const char *key, struct err *err);
    int (*metric_list)(struct store *s, void (*emit)(void *ctx, const char *doc), void *ctx,
                       struct err *err);
    int (*metric_users)(struct store_tx *tx, const char *metric, bool include_archived,
                        char ***keys, size_t *n, struct err *err);
    int (*experiment_put)(struct store_tx *tx, const char *key, const char *status, const char *doc,
                          const char *const *metrics, size_t nmetrics, int64_t created_at,
                          int64_t updated_at, bool create, struct err *err);
    int (*experiment_get)(struct store *s, struct store_tx *tx, const char *key, char **doc,
                          struct err *err);
    int (*experiment_delete)(struct store_tx *tx, const char *key, struct err *err);
    int (*experiment_list)(struct store *s, struct store_tx *tx, const char *status,
                           void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err);
    int (*catalog_bump)(struct store_tx *tx, struct err *err);
    int (*catalog_version)(struct store *s, int64_t *version, int64_t *changed_at, struct err *err);
    /* store_rollup_rebuild: the tests' and bench/'s reference, not called by the daemon */
    int (*rollup_rebuild)(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                          const struct store_rule *const *rules, size_t n, struct err *err);
    /* store_users_page (optional: NULL = not supported by this backend) */
    int (*users_page)(struct store *s, const char *experiment, int64_t stop_ts, const char *metric,
                      const char *metric2, const char *dimension, struct store_users_cursor *cur,
                      int limit, void (*emit)(void *ctx, const struct store_user_row *row),
                      void *ctx, int *count, struct err *err);
    int (*rollup_read)(struct store *s, const char *experiment, const char *metric,
                       void (*emit)(void *ctx, const struct store_suff *st), void *ctx,
                       struct err *err);
    int (*rollup_daily)(struct store *s, const char *experiment, const char *metric,
                        void (*emit)(void *ctx, int64_t day, const struct store_suff *st),
                        void *ctx, struct err *err);
    int (*exposure_by_variant)(struct store *s, const char *experiment,
                               void (*emit)(void *ctx, const char *variant, int64_t users),
                               void *ctx, int64_t *conflicts, struct err *err);
    int (*compact)(struct store *s, int64_t horizon_ms, struct store_compact_stats *out,
                   struct err *err);

    /* ---- batch primitives of attribution (src/store/attribution*.c), inside apply() ---- */

    /* Serialize per-user work with other writers of the same database (several daemons):
     * users[0..n) sorted and distinct, none of them in tx->users_locked (n may then be 0: the
     * call still marks where the reads under the locks begin). NULL in a backend with a
     * single writer. Lock order: a transaction waits for user locks only in its first call
     * (the writer's, for the whole group), which takes them in one global order; in a later
     * call it takes only users no other transaction holds, and otherwise the call, or the
     * read after it, fails as retryable with the transaction intact (tx_intact): the job ran
     * no write, and runs again first in a later group. */
    int (*lock_users)(struct store_tx *tx, const char *const *users, size_t n, struct err *err);

    /* Insert events in order; inserted[i] false when events[i] repeats a stored idempotency
     * key (user_id, id), including one earlier in the same array. */
    int (*events_insert)(struct store_tx *tx, const struct store_event *events, size_t n,
                         bool *inserted, struct err *err);
    /* has[i]: users[i] has at least one stored event (true may over-approximate: events_raw
     * then reads nothing). */
    int (*users_with_events)(struct store_tx *tx, const char *const *users, size_t n, bool *has,
                             struct err *err);
    /* Optional: users_with_events will be asked about users[0..n) (or some of them) later in
     * this attribution call, after lock_users: the backend may send that read along with its
     * next one (PostgreSQL: one round trip fewer). */
    void (*users_with_events_ahead)(struct store_tx *tx, const char *const *users, size_t n);
    /* count[i], sum[i] of the events matching q[i]: the sum exact, rounded once into its
     * canonical parts (exactsum.h), so that it does not depend on the order of the rows. */
    int (*events_raw)(struct store_tx *tx, const struct store_rawq *q, size_t n, int64_t *count,
                      struct exactsum_parts *sum, struct err *err);
    /* The exposures of users[0..n): emit(ctx, i, experiment, variant, ts) per row, a user's
     * rows ordered by experiment; strings valid during the call. */
    int (*exposures_of_users)(struct store_tx *tx, const char *const *users, size_t n,
                              void (*emit)(void *ctx, size_t i, const char *experiment,
                                           const char *variant, int64_t ts),
                              void *ctx, struct err *err);
    /* The stored exposure of each key (user_id, experiment, the other fields ignored):
     * emit(ctx, i, variant, ts, conflict_ts) for the keys that have one. */
    int (*exposures_get)(struct store_tx *tx, const struct store_xrow *keys, size_t n,
                         void (*emit)(void *ctx, size_t i, const char *variant, int64_t ts,
                                      int64_t conflict_ts),
                         void *ctx, struct err *err);
    int (*exposures_put)(struct store_tx *tx, const struct store_xrow *rows, size_t n,
                         struct err *err);
    /* The stored raw values of each key: emit(ctx, i, y, x, loc) for the keys that have a
     * row (y, x borrowed for the call; loc: see store_umrow). */
    int (*user_metrics_get)(struct store_tx *tx, const struct store_umrow *keys, size_t n,
                            void (*emit)(void *ctx, size_t i, const struct exactsum_parts *y,
                                         const struct exactsum_parts *x, int64_t loc),
                            void *ctx, struct err *err);
    /* Set (present) or delete (!present) each row; stored says whether it exists (a row
     * neither present nor stored is left alone). A row !stored is absent as of this
     * transaction: user_metrics_get did not find it under the user's lock, or (a first
     * exposure) the user had no exposure to the experiment, and per-user rows exist only
     * for exposed users. So a backend may INSERT it without a conflict check. */
    int (*user_metrics_put)(struct store_tx *tx, const struct store_umrow *rows, size_t n,
                            struct err *err);
    /* Add each delta to its roll-up row. */
    int (*rollup_add)(struct store_tx *tx, const struct store_delta *d, size_t n, struct err *err);

    /* ---- issue 15: saved groups, encrypted sdk payloads (store.h semantics). A backend
     * without them leaves them NULL: the facade answers ERR_UNAVAILABLE. ---- */
    int (*saved_group_put)(struct store_tx *tx, const char *key, const char *doc,
                           int64_t created_at, int64_t updated_at, bool create, struct err *err);
    int (*saved_group_get)(struct store *s, struct store_tx *tx, const char *key, char **doc,
                           struct err *err);
    int (*saved_group_delete)(struct store_tx *tx, const char *key, struct err *err);
    int (*saved_group_list)(struct store *s, struct store_tx *tx,
                            void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err);
    int (*saved_group_versions)(struct store *s,
                                void (*emit)(void *ctx, const char *key, int64_t version),
                                void *ctx, struct err *err);
    int (*saved_group_read)(struct store *s, const char *key, char **doc, int64_t *version,
                            struct err *err);
    int (*key_set_encryption)(struct store_tx *tx, const char *id, const char *secret,
                              struct err *err);
    int (*key_encryption)(struct store *s, const char *id, char *out, size_t n, struct err *err);
    /* ---- operations (store.h semantics); these three may be NULL: the facade then answers
     * "nothing known" (check 0, not corrupt) or, for backup, points to the backend's tools */
    int (*check)(struct store *s, int budget_ms, struct err *err);
    bool (*is_corrupt)(struct store *s);
    /* May be NULL: the database always answers (SQLite: a local file; store_remote false) */
    bool (*answering)(struct store *s);
    /* May be NULL: nothing to bound. SQLite: a wait for another process's lock ends at once */
    void (*shutdown_begin)(struct store *s);
    int (*backup)(struct store *s, const char *dest, struct store_backup_stats *out,
                  struct err *err);
    /* ---- rebuild primitives (src/store/rebuild.c), inside apply() unless said ---- */

    /* Record a rebuild of experiment (restart it when one runs): keep its last complete
     * roll-ups (unless a rebuild already kept them), empty the live ones, cursor "".
     * *users_total: exposed users of the kept roll-ups. */
    int (*rebuild_begin)(struct store_tx *tx, const char *experiment, int64_t now,
                         int64_t *users_total, struct err *err);
    /* The state of experiment's rebuild: 1 (filled), 0 none. tx NULL: s's read connection. */
    int (*rebuild_get)(struct store *s, struct store_tx *tx, const char *experiment,
                       struct store_rebuild *out, struct err *err);
    /* Every rebuild, oldest first (s's read connection). */
    int (*rebuild_list)(struct store *s, void (*emit)(void *ctx, const struct store_rebuild *r),
                        void *ctx, struct err *err);
    /* The next at most limit exposed users of experiment after `after` in binary order:
     * emit(ctx, user_id) in order. */
    int (*rebuild_users_after)(struct store_tx *tx, const char *experiment, const char *after,
                               size_t limit, void (*emit)(void *ctx, const char *user_id),
                               void *ctx, struct err *err);
    /* Recompute the per-user rows of the users in (after, last] from the raw rows with the
     * rules, and add their contributions to the live roll-ups (stats, daily, exposures).
     * users[0..nusers) are those users, in binary order, as rebuild_users_after listed them
     * (locked): an adapter may look them up by key instead of reading the range. */
    int (*rebuild_range)(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                         const struct store_rule *const *rules, size_t n, const char *after,
                         const char *last, const char *const *users, size_t nusers,
                         struct err *err);
    /* Move the cursor to last, users_done += users. */
    int (*rebuild_advance)(struct store_tx *tx, const char *experiment, const char *last,
                           int64_t users, struct err *err);
    /* The rebuild is complete: drop the kept roll-ups and the state. */
    int (*rebuild_end)(struct store_tx *tx, const char *experiment, struct err *err);
    /* store_rebuild_keep_ratios: the check and the rows, in tx. */
    int (*rebuild_keep_ratios)(struct store_tx *tx, const char *experiment, int64_t generation,
                               const struct store_ratio_sums *rows, size_t n, bool *kept,
                               struct err *err);
    /* store_rebuild_ratio_read, on s's read connection. */
    int (*rebuild_ratio_read)(struct store *s, const char *experiment, const char *metric,
                              const char *numerator, const char *denominator, const char *dimension,
                              void (*emit)(void *ctx, const char *value,
                                           const struct store_suff *st),
                              void *ctx, struct err *err);
    /* store_rebuild_keep_metric in tx; store_rebuild_metric_get on s's read connection. */
    int (*rebuild_keep_metric)(struct store_tx *tx, const char *experiment, const char *metric,
                               const char *doc, struct err *err);
    int (*rebuild_metric_get)(struct store *s, const char *experiment, const char *metric,
                              char **doc, struct err *err);
    /* The cursor of every running rebuild: emit(ctx, experiment, cursor). */
    int (*rebuild_cursors)(struct store_tx *tx,
                           void (*emit)(void *ctx, const char *experiment, const char *cursor),
                           void *ctx, struct err *err);
    /* rebuild_begin, rebuild_range, rebuild_end and rollup_rebuild treat the slice roll-ups
     * (slice_stats, slice_exposure_stats) as they treat the main ones. */

    /* ---- dimension breakdowns (issue 13, migration 0007): all NULL in a backend without
     * them (attribution then keeps no slices and results answer ERR_UNAVAILABLE) ---- */
    /* The recorded values of each key (user_id, experiment; other fields ignored):
     * emit(ctx, i, dimension, value) per row. Inside apply(). */
    int (*dims_get)(struct store_tx *tx, const struct store_xrow *keys, size_t n,
                    void (*emit)(void *ctx, size_t i, const char *dimension, const char *value),
                    void *ctx, struct err *err);
    /* Record values (exposure_dims rows; an existing row is kept). */
    int (*dims_put)(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                    struct err *err);
    /* For each (experiment, dimension, value): known[i] = registered; distinct[i] = values
     * registered for (experiment, dimension). */
    int (*dim_values_known)(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                            bool *known, int64_t *distinct, struct err *err);
    /* Register (experiment, dimension, value) rows (existing ones kept). */
    int (*dim_values_put)(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                          struct err *err);
    /* Optional (several writers): lock the registration of new values for the (experiment,
     * dimension) of each row until the transaction ends, so that a dim_values_known after it
     * counts every other transaction's registrations (the cap holds for the database). */
    int (*dim_values_lock)(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                           struct err *err);
    /* Add DELTA_SLICE_* deltas to their rows. */
    int (*slice_add)(struct store_tx *tx, const struct store_delta *d, size_t n, struct err *err);
    int (*slice_read)(struct store *s, const char *experiment, const char *metric,
                      const char *dimension,
                      void (*emit)(void *ctx, const char *value, const struct store_suff *st),
                      void *ctx, struct err *err);
    int (*slice_exposures)(struct store *s, const char *experiment, const char *dimension,
                           void (*emit)(void *ctx, const char *value, const char *variant,
                                        int64_t users),
                           void *ctx, struct err *err);
};

/* The adapters. */
extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;
/* pg/conn.c: whether libpq can parse conninfo (a URL or key=value pairs), without
 * connecting: 0, or -1 with err (ERR_INVALID, libpq's reason: an unknown option, a
 * malformed URL). A value libpq checks only when it connects (sslmode=bogus) passes here
 * and fails pg_conn_open, with ERR_INVALID too. */
int pg_conninfo_check(const char *conninfo, struct err *err);

/* A time (ms) after every stored one: what the adapters' SQL compares with when a rule has
 * no window or an experiment no stop time (0 = none). */
#define FAR_FUTURE ((int64_t)1 << 62)

/* ---- sums of per-user values for the rebuilds of both adapters (src/store/sums.c) ----
 * A rebuild computes each user's raw values (y, x) of a rule in C, exactly (store_rule_users:
 * neither SQLite's TOTAL nor PostgreSQL's float8 sum is exact, nor is float8::numeric),
 * and sums the per-user values in C as double-doubles (a SQL SUM in doubles cannot keep
 * sum y^2 exact at 1e12). Pure; the caller owns the structures (any thread, one at a time). */

/* The per-user value of STATS.md from a raw count or sum (its rounded value, p[0]):
 * binomial -> 0/1, then the cap (attribution_rules.c). */
double store_rule_value(const struct store_rule *r, double raw);

/* n, sum y, sum y^2, sum x, sum x^2, sum xy of a group of users; zero-initialised = empty. */
struct store_sums {
    int64_t n;
    struct dd s, q, sx, qx, p;
};

/* Add one user's value y and covariate x. */
void store_sums_add(struct store_sums *a, double y, double x);

/* The sums as the DELTA_METRIC_STATS delta of (experiment, metric, variant), whose strings
 * are borrowed. Its hwm is max(|q|, |qx|, |p|): sums of squares only grow as users are added,
 * and |p| never exceeds (q + qx) / 2 along the way. */
struct store_delta store_sums_delta(const struct store_sums *a, const char *experiment,
                                    const char *metric, const char *variant);

/* The sums of each variant of one rule over a rebuild range, fed rows ordered by variant: a
 * row of the last variant adds to it, another starts a new one. Zero-initialised = empty;
 * free with store_variant_sums_free. */
struct store_variant_sums {
    struct store_variant_sum {
        char variant[65];
        struct store_sums sums;
    } * e;
    size_t n, alloc;
};

/* Add one user's (y, x) to variant (copied). */
void store_variant_sums_add(struct store_variant_sums *vs, const char *variant, double y, double x);

/* The variants' sums as vs->n DELTA_METRIC_STATS deltas of (experiment, metric): a malloc'd
 * array (at least one element) whose strings are borrowed from vs, experiment and metric. */
struct store_delta *store_variant_sums_deltas(const struct store_variant_sums *vs,
                                              const char *experiment, const char *metric);

void store_variant_sums_free(struct store_variant_sums *vs);

/* The sums of each slice (dimension, value, variant) of one rule over a rebuild range, fed
 * rows ordered by slice: a row of the last slice adds to it, another starts a new one.
 * Zero-initialised = empty; free with store_slice_sums_free. */
struct store_slice_sums {
    struct store_slice_sum {
        char dimension[65], value[STORE_DIM_VALUE_MAX + 1], variant[65];
        struct store_sums sums;
    } * e;
    size_t n, alloc;
};

/* Add one user's (y, x) to the slice (dimension, value, variant) (the strings are copied). */
void store_slice_sums_add(struct store_slice_sums *ss, const char *dimension, const char *value,
                          const char *variant, double y, double x);

/* The slices' sums as ss->n DELTA_SLICE_STATS deltas of (experiment, metric): a malloc'd
 * array (at least one element) whose strings are borrowed from ss, experiment and metric. */
struct store_delta *store_slice_sums_deltas(const struct store_slice_sums *ss,
                                            const char *experiment, const char *metric);

void store_slice_sums_free(struct store_slice_sums *ss);

/* The per-day changes of one rule over a rebuild range (metric_daily: users newly exposed
 * that day, and each change of a user's value from y0 to y1 (covariate x0 to x1), ds += y1 - y0,
 * dq += y1^2 - y0^2, dsx, dqx and dp likewise as double-doubles, as attribution's incremental path
 * adds them; a rebuild adds each user's value once, from 0, on the day of the first exposure, where
 * the incremental path books every change of the user), fed rows ordered by (variant, day): a row
 * of the last (variant, day) adds to it, another starts a new one. Days before first_day add
 * to it (set it to store_rule_day(r, 0)).
 * Zero-initialised = empty; free with store_daily_sums_free. */
struct store_daily_sums {
    int64_t first_day;
    struct store_daily_sum {
        char variant[65];
        int64_t day, dn;
        struct dd ds, dq, dsx, dqx, dp; /* and the covariate's (migration 0016) */
        double hwm; /* the largest y0^2, y1^2, x0^2, x1^2, |dq|, |dqx|, |dp| (store_delta.hwm) */
    } * e;
    size_t n, alloc;
};

/* The metric_daily day of a change at ts (ms) under rule r: changes before the experiment's
 * start count on its first day, as the time series shows them, so that a request's timestamps
 * cannot spread one experiment's roll-up over more days than it has run (attribution_rules.c). */
int64_t store_rule_day(const struct store_rule *r, int64_t ts);

void store_daily_sums_add(struct store_daily_sums *ds, const char *variant, int64_t day, int64_t dn,
                          double y0, double y1, double x0, double x1);

/* The days' sums as ds->n DELTA_METRIC_DAILY deltas of (experiment, metric): a malloc'd array
 * (at least one element) whose strings are borrowed from ds, experiment and metric. */
struct store_delta *store_daily_sums_deltas(const struct store_daily_sums *ds,
                                            const char *experiment, const char *metric);

void store_daily_sums_free(struct store_daily_sums *ds);

/*
 * One rule's per-user raw values over a rebuild range, from the raw rows, as attribution
 * keeps them (exact sums in canonical parts: the same parts as events added one by one in
 * any order), and what the range adds to the roll-ups. Fed the rows of the range's exposures
 * (first exposure before the stop), each joined with its user's events of the rule's event in
 * [t0 - lookback, window end) or with none, ordered by (variant, t0, user): a user's rows
 * then follow each other, and so do a variant's and a day's. Both adapters' rebuilds, full
 * and chunked, go through it, so the values do not depend on the backend either.
 * Start with store_rule_users_begin, end with store_rule_users_end, free with
 * store_rule_users_free.
 */
struct store_rule_users {
    const struct store_rule *rule; /* borrowed */
    /* the user being read */
    char *user;           /* malloc'd; NULL before the first row */
    char variant[65];     /* the user's */
    int64_t t0;           /* the user's first exposure */
    struct exactsum y, x; /* sums of the values in the window and the lookback */
    int64_t ny, nx;       /* counts of events in them */
    /* the result */
    struct store_umrow *rows; /* the non-zero users' rows to insert (present, !stored; user_id
                               * user_ids[i], experiment and metric the rule's) */
    char **user_ids;          /* malloc'd */
    size_t nrows, arows;
    struct store_variant_sums stats; /* per variant: the users' (y, x) values */
    struct store_daily_sums days;    /* per (variant, day of t0): users and their y values */
};

void store_rule_users_begin(struct store_rule_users *u, const struct store_rule *r);

/* One row: user_id exposed to variant at t0; has_event false for a user without events in
 * the windows (LEFT JOIN), else the event's ts and value. Strings are copied. */
void store_rule_users_add(struct store_rule_users *u, const char *user_id, const char *variant,
                          int64_t t0, bool has_event, int64_t ts, double value);

/* After the last row: the last user's values. */
void store_rule_users_end(struct store_rule_users *u);

void store_rule_users_free(struct store_rule_users *u);

#endif
