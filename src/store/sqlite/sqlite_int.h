/*
 * sqlite_int.h - private structures shared by the files of the SQLite adapter
 * (src/store/sqlite/): a connection with its prepared-statement cache, the adapter's
 * state behind struct store, SQLite error mapping, and the adapter's implementations of
 * the ops of src/store/store_int.h (the table itself is in db.c).
 */
#ifndef BUNSEN_SQLITE_INT_H
#define BUNSEN_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "../store_int.h"

/* A power of two, at least twice the distinct statements (~100): an open-addressing table
 * keyed by address stays short to probe. */
#define STMT_CACHE_SLOTS 256

/* A SQLite connection owned by one thread, with prepared statements cached by the
 * address of their (static) SQL text (a hash table: slot = hash of the address, linear
 * probing; entries are never removed). */
struct sqlite_conn {
    sqlite3 *db;
    /* the busy handler (db.c): how long a lock is waited for (SQLITE_BUSY_MS unless a test
     * shortens it), and since when the current wait lasts */
    int busy_ms;
    uint64_t busy_since_ns;
    /* BUNSEN_TEST_BUSY_CLOCK (tests only; conn.c busy_now), or NULL: the monotonic clock */
    const char *busy_clock;
    /* when not 0, the current wait ends by then too (monotonic ns): the writer's BEGIN counts
     * the busy timeout from when the lock was first found taken (sqlite_tx_begin) */
    uint64_t wait_deadline_ns;
    /* the store's shutdown flag (sqlite_store.closing; NULL: none, e.g. the checkpointer's):
     * once set, a wait for a lock ends at its next try */
    const atomic_bool *closing;
    /* bytes of its page cache, as last sampled by the thread that owns it (sqlite_conn_sample):
     * main.c turns SQLite's global memory statistics off (a mutex per allocation) */
    _Atomic long long cache_bytes;
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } cache[STMT_CACHE_SLOTS];
};

/* The adapter's state (store->be). */
struct sqlite_store {
    char *path;
    struct sqlite_conn *main; /* the writer's connection (also used by CLI commands) */
    pthread_key_t reader_key; /* per-thread read connection */
    pthread_mutex_t readers_mu;
    struct sqlite_conn **readers; /* every reader opened, closed by store_close */
    size_t nreaders, areaders;
    struct sqlite_ckpt *ckpt;     /* the WAL checkpointer (checkpoint.c) */
    dev_t dev;                    /* the database file's identity when opened: a file deleted */
    ino_t ino;                    /* or replaced under the daemon is found (sqlite_file_check) */
    atomic_bool file_lost;        /* the file was found gone or replaced (logged once per loss) */
    atomic_bool file_overwritten; /* a copy was written over it in place (sqlite_tx_begin) */
    atomic_bool wal_disowned;     /* the log was emptied into the lost file (sqlite_wal_disown) */
    atomic_bool closing;          /* store_shutdown_begin was called (sqlite_shutdown_begin) */
    /* when the writer's BEGIN first found another process holding the write lock, while it
     * still does (0: not); the writer thread's alone (sqlite_tx_begin) */
    uint64_t lock_busy_since_ns;
    /* PRAGMA data_version at the writer's last BEGIN (-1: none yet): it moves only when another
     * process committed, and then the schema version is read again (sqlite_tx_begin) */
    int64_t data_version;
    bool readonly; /* store_open_readonly: every connection SQLITE_CONN_FILE_RO */
};

static inline struct sqlite_store *sqlite_be(struct store *s)
{
    return s->be;
}

static inline sqlite3 *sqlite_tx_db(struct store_tx *tx)
{
    return ((struct sqlite_conn *)tx->conn)->db;
}

/* Record c's page cache size in c->cache_bytes (for /metrics). The thread using c only. */
void sqlite_conn_sample(struct sqlite_conn *c);

/* A connection that finds the database locked by another (another process: the CLI beside
 * the daemon, or the daemon beside `bunsen compact`) tries again every SQLITE_BUSY_POLL_MS
 * for up to SQLITE_BUSY_MS, then fails with SQLITE_BUSY (ERR_UNAVAILABLE, a 503 for a
 * request). SQLite's own handler (sqlite3_busy_timeout) backs off to 100 ms between tries and
 * missed every gap between another process's transactions shorter than that: a daemon's
 * writer waited 2-5 s, once past the limit, behind compaction's back-to-back chunks. A
 * process that takes the write lock repeatedly leaves it free for more than
 * SQLITE_BUSY_POLL_MS between transactions (compact.c), so a waiting writer gets it then. */
#define SQLITE_BUSY_MS      5000
#define SQLITE_BUSY_POLL_MS 2

/* The writer checkpoints in its own commit past this many WAL frames (checkpoint.c): the
 * log's bound under load. A log that was started over is cut back to this size
 * (journal_size_limit, every connection that writes): SQLite otherwise keeps the file at its
 * largest, and one that compaction under load left at 292 MB stayed so until the daemon
 * stopped. */
#define SQLITE_CKPT_WRITER_FRAMES 20000
#define SQLITE_WAL_LIMIT_BYTES    (SQLITE_CKPT_WRITER_FRAMES * (4096LL + 24))

/* Rows compaction deletes per transaction at most (compact.c). */
#define SQLITE_COMPACT_CHUNK 2000

/* Open a connection with the standard pragmas. kind: the writer's, a reader's (query_only=1),
 * or one of a read-only store (store_open_readonly: the file opened SQLITE_OPEN_READONLY,
 * its journal mode left as it is). */
enum sqlite_conn_kind { SQLITE_CONN_WRITER, SQLITE_CONN_READER, SQLITE_CONN_FILE_RO };
struct sqlite_conn *sqlite_conn_open(const char *path, enum sqlite_conn_kind kind, struct err *err);
void sqlite_conn_close(struct sqlite_conn *c);

/* A cached prepared statement for the static string sql, reset and with bindings
 * cleared. Borrowed: valid until the connection closes. NULL on error (err filled). */
sqlite3_stmt *sqlite_conn_prepare(struct sqlite_conn *c, const char *sql, struct err *err);

/* Step a statement that returns no rows and reset it: 0, or -1 with err (what = context). */
int sqlite_conn_step_done(struct sqlite_conn *c, sqlite3_stmt *st, const char *what,
                          struct err *err);

/* Execute SQL with no results. */
int sqlite_conn_exec(struct sqlite_conn *c, const char *sql, struct err *err);

/* WAL checkpoints off the writer's thread (checkpoint.c): attach installs the hook on
 * s->main once it is open; detach stops the checkpointer and removes the hook, before
 * s->main closes. */
void sqlite_ckpt_attach(struct sqlite_store *s);
void sqlite_ckpt_detach(struct sqlite_store *s);
void sqlite_ckpt_write_metrics(struct sqlite_store *s, struct buf *b);
/* Before a consistent read begins (sqlite_read_begin): while the log is past its bound with
 * frames the readers pin, wait until a checkpoint copied it whole (at most 3 s; after a wait
 * that long the gate stays open until the log grows by another bound). Any thread but the
 * writer's. */
void sqlite_ckpt_read_gate(struct sqlite_store *s);

/* The database file itself (dbfile.c). Before SQLite opens path for use: 0, or -1 with err
 * naming the file and what to do when it is not a SQLite database (ERR_INVALID, field
 * "database": a usage error), a write-ahead log from another database sits beside it, or
 * (not readonly) its -wal or -shm is not writable by this user. sqlite_disk_full: -1 with err
 * when the disk holding path (or its directory) has less than 1 MiB free. */
int sqlite_file_usable(const char *path, bool readonly, struct err *err);
int sqlite_disk_full(const char *path, struct err *err);
/* A copy written over the file in place under the daemon (its header no longer in WAL
 * mode): -1 with err, sticky, one error line when first seen. Writer thread, per write
 * transaction (one 20-byte read through the writer's own file handle). */
int sqlite_header_check(struct sqlite_store *s, struct err *err);
/* 0 while s->path still names the file opened at start; otherwise -1 with err
 * (ERR_UNAVAILABLE: the file was deleted or replaced, so this process writes to a file no
 * one will find again and new readers would not see its writes), logging one error line
 * (with the path) when the loss is first found. Any thread. */
int sqlite_file_check(struct sqlite_store *s, struct err *err);
/* Once the database file is gone from its path or replaced (sqlite_file_check): copy the
 * write-ahead log's frames into the daemon's old file and empty the log, which the file now at
 * the path shares, waiting at most wait_ms (0: the busy handler's own bound) for readers.
 * Writer thread or store_close. */
void sqlite_wal_disown(struct sqlite_store *s, int wait_ms);

/* This thread's read connection, opened on first use. */
struct sqlite_conn *sqlite_reader(struct store *s, struct err *err);
/* sql prepared (sqlite_conn_prepare) on tx's connection (inside apply(): reads see its
 * writes) or (tx NULL) this thread's reader, *c that connection (NULL when there was none):
 * the read functions' start. NULL on error
 * (err filled). */
sqlite3_stmt *sqlite_read_prepare(struct store *s, struct store_tx *tx, const char *sql,
                                  struct sqlite_conn **c, struct err *err);

/* Map a SQLite result code to an err (disk full, read-only, I/O, busy -> ERR_UNAVAILABLE;
 * constraint -> ERR_CONFLICT; others ERR_INTERNAL). Always returns -1. */
int store_sqlite_err(sqlite3 *db, int rc, const char *what, struct err *err);

/* Bind a NUL-terminated text or NULL. */
int sqlite_bind_str(sqlite3_stmt *st, int idx, const char *s);

/* sqlite_bind_str without SQLite's copy (SQLITE_STATIC): s is borrowed and must stay valid
 * until the statement is reset. For cached statements (sqlite_conn_prepare clears their
 * bindings before each use, so the pointer left behind is never read again) stepped to the
 * end within the caller's scope: the writer's batch primitives, where the copy and its
 * malloc/free showed in profiles. */
int sqlite_bind_borrowed(sqlite3_stmt *st, int idx, const char *s);

/* Copy column text into dst (size n), "" when NULL. */
void sqlite_column_copy(sqlite3_stmt *st, int col, char *dst, size_t n);

/* The online backup (backup.c). */
int sqlite_backup(struct store *s, const char *dest, struct store_backup_stats *out,
                  struct err *err);

/* ---- the ops (store_int.h) implemented in keys.c, audit.c, catalog.c, rollup.c,
 * compact.c and ingest.c ---- */
int sqlite_key_insert(struct store_tx *tx, const struct store_key *k, const uint8_t hash[32],
                      struct err *err);
int sqlite_key_revoke(struct store_tx *tx, const char *id, int64_t now, struct store_key *before,
                      struct err *err);
int sqlite_key_find_by_hash(struct store *s, const uint8_t hash[32], struct store_key *out,
                            struct err *err);
int sqlite_key_list(struct store *s, bool include_revoked, struct store_key **out, size_t *n,
                    struct err *err);
int sqlite_key_count_admins(struct store *s, struct store_tx *tx, int *n, struct err *err);
int sqlite_key_count_named(struct store_tx *tx, const char *name, int *n, struct err *err);
int sqlite_audit_append(struct store_tx *tx, const struct store_audit *e, struct err *err);
int sqlite_audit_list(struct store *s, int64_t before_id, const char *target_type,
                      const char *target, int limit, size_t max_bytes,
                      void (*emit)(void *ctx, const struct store_audit *e), void *ctx,
                      struct err *err);
int sqlite_metric_put(struct store_tx *tx, const char *key, const char *doc, int64_t created_at,
                      int64_t updated_at, bool create, struct err *err);
int sqlite_metric_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                      struct err *err);
int sqlite_metric_delete(struct store_tx *tx, const char *key, struct err *err);
int sqlite_metric_list(struct store *s, void (*emit)(void *ctx, const char *doc), void *ctx,
                       struct err *err);
int sqlite_metric_users(struct store_tx *tx, const char *metric, bool include_archived,
                        char ***keys, size_t *n, struct err *err);
int sqlite_experiment_put(struct store_tx *tx, const char *key, const char *status, const char *doc,
                          const char *const *metrics, size_t nmetrics, int64_t created_at,
                          int64_t updated_at, bool create, struct err *err);
int sqlite_experiment_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                          struct err *err);
int sqlite_experiment_delete(struct store_tx *tx, const char *key, struct err *err);
int sqlite_experiment_list(struct store *s, struct store_tx *tx, const char *status,
                           void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err);
/* Catalogue documents (catalog.c; metrics, experiments, saved groups): JSON text by key. what
 * names the kind in messages ("metric", "saved group"); a database failure is worded by
 * store_sqlite_err with op (get, list) or "save <what>" / "delete <what>". Insert (create) or
 * update with sql, whose ?1..?4 are key, doc, created_at, updated_at: ERR_CONFLICT "<what>
 * '<key>' already exists" for an insert of a stored key, ERR_NOT_FOUND "no <what> '<key>'"
 * for an update of none. */
int sqlite_doc_put(struct store_tx *tx, const char *sql, const char *what, const char *key,
                   const char *doc, int64_t created_at, int64_t updated_at, bool create,
                   struct err *err);
/* The document sql (?1 = key) selects, on tx's connection or (tx NULL) this thread's reader:
 * *doc malloc'd and, unless version is NULL, *version the integer sql selects second; or
 * ERR_NOT_FOUND "no <what> '<key>'". */
int sqlite_doc_get(struct store *s, struct store_tx *tx, const char *sql, const char *what,
                   const char *op, const char *key, char **doc, int64_t *version, struct err *err);
/* Delete with sql (?1 = key): ERR_NOT_FOUND "no <what> '<key>'" when no row went. */
int sqlite_doc_delete(struct store_tx *tx, const char *sql, const char *what, const char *key,
                      struct err *err);
/* emit every document sql selects (?1 = arg unless NULL), on tx's connection or this
 * thread's reader. */
int sqlite_doc_list(struct store *s, struct store_tx *tx, const char *sql, const char *arg,
                    const char *op, void (*emit)(void *ctx, const char *doc), void *ctx,
                    struct err *err);
int sqlite_catalog_bump(struct store_tx *tx, struct err *err);
int sqlite_catalog_version(struct store *s, int64_t *version, int64_t *changed_at, struct err *err);
int sqlite_rollup_rebuild(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                          const struct store_rule *const *rules, size_t n, struct err *err);
int sqlite_rollup_read(struct store *s, const char *experiment, const char *metric,
                       void (*emit)(void *ctx, const struct store_suff *st), void *ctx,
                       struct err *err);
int sqlite_rollup_daily(struct store *s, const char *experiment, const char *metric,
                        void (*emit)(void *ctx, int64_t day, const struct store_suff *st),
                        void *ctx, struct err *err);
int sqlite_exposure_by_variant(struct store *s, const char *experiment,
                               void (*emit)(void *ctx, const char *variant, int64_t users),
                               void *ctx, int64_t *conflicts, struct err *err);
int sqlite_compact(struct store *s, int64_t horizon_ms, struct store_compact_stats *out,
                   struct err *err);
int sqlite_events_insert(struct store_tx *tx, const struct store_event *events, size_t n,
                         bool *inserted, struct err *err);
int sqlite_users_with_events(struct store_tx *tx, const char *const *users, size_t n, bool *has,
                             struct err *err);
int sqlite_events_raw(struct store_tx *tx, const struct store_rawq *q, size_t n, int64_t *count,
                      struct exactsum_parts *sum, struct err *err);
int sqlite_exposures_of_users(struct store_tx *tx, const char *const *users, size_t n,
                              void (*emit)(void *ctx, size_t i, const char *experiment,
                                           const char *variant, int64_t ts),
                              void *ctx, struct err *err);
int sqlite_exposures_get(struct store_tx *tx, const struct store_xrow *keys, size_t n,
                         void (*emit)(void *ctx, size_t i, const char *variant, int64_t ts,
                                      int64_t conflict_ts),
                         void *ctx, struct err *err);
int sqlite_exposures_put(struct store_tx *tx, const struct store_xrow *rows, size_t n,
                         struct err *err);
int sqlite_user_metrics_get(struct store_tx *tx, const struct store_umrow *keys, size_t n,
                            void (*emit)(void *ctx, size_t i, const struct exactsum_parts *y,
                                         const struct exactsum_parts *x, int64_t loc),
                            void *ctx, struct err *err);
int sqlite_user_metrics_put(struct store_tx *tx, const struct store_umrow *rows, size_t n,
                            struct err *err);
int sqlite_users_page(struct store *s, const char *experiment, int64_t stop_ts, const char *metric,
                      const char *metric2, const char *dimension, struct store_users_cursor *cur,
                      int limit, void (*emit)(void *ctx, const struct store_user_row *row),
                      void *ctx, int *count, struct err *err);
int sqlite_rollup_add(struct store_tx *tx, const struct store_delta *d, size_t n, struct err *err);
/* Step st, whose rows are (user_id, variant, t0, event ts or NULL, value) of one rule over a
 * rebuild range, ordered by (variant, t0, user_id) (store_rule_users), and write the users'
 * raw values (user_metrics rows, the range's were deleted before) and add their sums to
 * metric_stats and metric_daily (rollup.c; the rebuilds). */
int sqlite_rule_users(struct store_tx *tx, sqlite3_stmt *st, const char *experiment,
                      const struct store_rule *r, struct err *err);
/* sql prepared on tx's connection with one rule's rows bound: ?1 experiment, ?2 r's event,
 * ?3 its window and ?4 its stop (FAR_FUTURE for none), ?5 its lookback; NULL on error. The
 * statement of sqlite_rule_users (rollup.c, rebuild.c bind the range after). */
sqlite3_stmt *sqlite_rule_prepare(struct store_tx *tx, const char *sql, const char *experiment,
                                  const struct store_rule *r, struct err *err);

/* issue 15 (saved_groups.c): saved groups and the encryption key of sdk keys */
int sqlite_saved_group_put(struct store_tx *tx, const char *key, const char *doc,
                           int64_t created_at, int64_t updated_at, bool create, struct err *err);
int sqlite_saved_group_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                           struct err *err);
int sqlite_saved_group_delete(struct store_tx *tx, const char *key, struct err *err);
int sqlite_saved_group_list(struct store *s, struct store_tx *tx,
                            void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err);
int sqlite_saved_group_versions(struct store *s,
                                void (*emit)(void *ctx, const char *key, int64_t version),
                                void *ctx, struct err *err);
int sqlite_saved_group_read(struct store *s, const char *key, char **doc, int64_t *version,
                            struct err *err);
int sqlite_key_set_encryption(struct store_tx *tx, const char *id, const char *secret,
                              struct err *err);
int sqlite_key_encryption(struct store *s, const char *id, char *out, size_t n, struct err *err);
/* rebuild.c */
int sqlite_rebuild_begin(struct store_tx *tx, const char *experiment, int64_t now,
                         int64_t *users_total, struct err *err);
int sqlite_rebuild_get(struct store *s, struct store_tx *tx, const char *experiment,
                       struct store_rebuild *out, struct err *err);
int sqlite_rebuild_list(struct store *s, void (*emit)(void *ctx, const struct store_rebuild *r),
                        void *ctx, struct err *err);
int sqlite_rebuild_users_after(struct store_tx *tx, const char *experiment, const char *after,
                               size_t limit, void (*emit)(void *ctx, const char *user_id),
                               void *ctx, struct err *err);
int sqlite_rebuild_range(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                         const struct store_rule *const *rules, size_t n, const char *after,
                         const char *last, const char *const *users, size_t nusers,
                         struct err *err);
int sqlite_rebuild_advance(struct store_tx *tx, const char *experiment, const char *last,
                           int64_t users, struct err *err);
int sqlite_rebuild_end(struct store_tx *tx, const char *experiment, struct err *err);
int sqlite_rebuild_keep_ratios(struct store_tx *tx, const char *experiment, int64_t generation,
                               const struct store_ratio_sums *rows, size_t n, bool *kept,
                               struct err *err);
int sqlite_rebuild_keep_metric(struct store_tx *tx, const char *experiment, const char *metric,
                               const char *doc, struct err *err);
int sqlite_rebuild_metric_get(struct store *s, const char *experiment, const char *metric,
                              char **doc, struct err *err);
int sqlite_rebuild_ratio_read(struct store *s, const char *experiment, const char *metric,
                              const char *numerator, const char *denominator, const char *dimension,
                              void (*emit)(void *ctx, const char *value,
                                           const struct store_suff *st),
                              void *ctx, struct err *err);
int sqlite_rebuild_cursors(struct store_tx *tx,
                           void (*emit)(void *ctx, const char *experiment, const char *cursor),
                           void *ctx, struct err *err);

/* Double-double sums (ddouble.h): col += hi with its TwoSum rounding error, and the delta's
 * lo, added to col_lo. SQLite evaluates in IEEE doubles, and every SET expression sees the
 * row as it was, so this is Knuth's TwoSum of (col, hi). */
#define DD_ADD(col, hi, lo)                                                                        \
    col " = " col " + " hi ", " col "_lo = " col "_lo + " lo " + ((" col " - ((" col " + " hi      \
        ") - ((" col " + " hi ") - " col "))) + (" hi " - ((" col " + " hi ") - " col ")))"

/* dimension breakdowns (slices.c) */
int sqlite_dims_get(struct store_tx *tx, const struct store_xrow *keys, size_t n,
                    void (*emit)(void *ctx, size_t i, const char *dimension, const char *value),
                    void *ctx, struct err *err);
int sqlite_dims_put(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                    struct err *err);
int sqlite_dim_values_known(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                            bool *known, int64_t *distinct, struct err *err);
int sqlite_dim_values_put(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                          struct err *err);
int sqlite_slice_add(struct store_tx *tx, const struct store_delta *d, size_t n, struct err *err);
int sqlite_slice_read(struct store *s, const char *experiment, const char *metric,
                      const char *dimension,
                      void (*emit)(void *ctx, const char *value, const struct store_suff *st),
                      void *ctx, struct err *err);
int sqlite_slice_exposures(struct store *s, const char *experiment, const char *dimension,
                           void (*emit)(void *ctx, const char *value, const char *variant,
                                        int64_t users),
                           void *ctx, struct err *err);
/* The slice roll-ups of the users in (after, last] (all when both are NULL) recomputed and
 * added to the live ones, for the rebuilds (rebuild.c, rollup.c). */
int sqlite_slices_range(struct sqlite_conn *c, const char *experiment, int64_t stop_ts,
                        const struct store_rule *const *rules, size_t n, const char *after,
                        const char *last, struct err *err);

/* ---- schema (migrate.c) ---- */

/* Create the schema_migrations table if missing. */
int sqlite_migrations_table(struct sqlite_conn *c, struct err *err);
/* The highest applied migration on c (0: no Bunsen database, e.g. read-only and empty). */
int sqlite_schema_version_on(struct sqlite_conn *c, int *version, struct err *err);
/* store_ops.schema_version and .migrate */
int sqlite_schema_version(struct store *s, int *version, struct err *err);
int sqlite_migrate(struct store *s, int *applied, struct err *err);

#endif
