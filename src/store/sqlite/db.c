/*
 * db.c - the SQLite adapter's core: opening the database (each connection, its pragmas and
 * statement cache: conn.c; the file's own checks, before the open and while the daemon runs:
 * dbfile.c), per-thread read connections, the writer's transactions and savepoints, the
 * integrity check, and the ops table that the facade dispatches through (store_int.h). Schema
 * migrations are migrate.c's.
 *
 * Pragmas: journal_mode=WAL (readers never block the writer), synchronous=FULL on
 * every connection (a committed group is on disk before any 2xx; group commit keeps
 * the fsync cost per request small; the WAL-write shim walbuf.c relies on it: every
 * connection opens through it), a busy handler that retries every 2 ms for 5 s (another
 * process, e.g. `bunsen keys create` or `bunsen compact`, may hold the write lock briefly;
 * sqlite_int.h SQLITE_BUSY_MS; the writer's BEGIN counts them from when the lock was first
 * found taken: sqlite_tx_begin), foreign_keys=ON.
 */
#include "sqlite_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "bunsen/log.h"
#include "bunsen/migrations.h"
#include "bunsen/metrics.h"
#include "bunsen/util.h"
#include "bunsen/walbuf.h"

/* Set once any statement of this process met a corrupt page: from then on /readyz says not
 * ready (a corrupt database does not heal; the operator restores a backup). */
static atomic_bool corrupt_seen;

/* Writes refused for a full disk, for /readyz: the probe's own one-row write reuses space the
 * WAL already has and kept succeeding while every ingestion answered 503 "disk full". A
 * failure counts until a later commit succeeds or FULL_READY_MS pass without another (the
 * load balancer that took the daemon out sends it no writes to succeed with). */
#define FULL_READY_MS 10000
static _Atomic uint64_t write_seq, full_seq, committed_seq;
static _Atomic int64_t full_ms;

static bool sqlite_is_corrupt(struct store *s)
{
    (void)s;
    return atomic_load(&corrupt_seen);
}

int store_sqlite_err(sqlite3 *db, int rc, const char *what, struct err *err)
{
    int primary = rc & 0xff;
    const char *detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (primary) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        atomic_store(&corrupt_seen, true);
        return err_set(err, ERR_UNAVAILABLE, NULL,
                       "%s: the database is corrupt (%s): restore it from a backup", what, detail);
    case SQLITE_FULL:
        atomic_store(&full_ms, time_now_ms());
        atomic_store(&full_seq, atomic_fetch_add(&write_seq, 1) + 1);
        return err_set(err, ERR_UNAVAILABLE, NULL, "%s: disk full (%s)", what, detail);
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
        return err_set(err, ERR_UNAVAILABLE, NULL, "%s: database unavailable (%s)", what, detail);
    case SQLITE_CONSTRAINT:
        return err_set(err, ERR_CONFLICT, NULL, "%s: %s", what, detail);
    default:
        return err_set(err, ERR_INTERNAL, NULL, "%s: %s", what, detail);
    }
}

static void reader_forget(void *p)
{
    /* Thread exit: the connection stays registered in store->readers and is closed by
     * store_close (closing here would race with store_close on the same pointer). */
    (void)p;
}

/* A read connection opens on a request's thread, so its error reaches the reply, which may go
 * to anyone (an sdk key in the path, no key at all): the path of the database and SQLite's
 * text go to the log (at most every 10 s: an outage fails every request), the reply says what
 * happened only (docs/SECURITY.md "What public replies say"). */
static void reader_open_failed(struct err *err)
{
    static _Atomic int64_t last_ms;
    int64_t now = time_now_ms(), last = atomic_load(&last_ms);
    if (now - last >= 10000 && atomic_compare_exchange_strong(&last_ms, &last, now)) {
        log_json(LOG_ERROR, "cannot open a read connection to the database",
                 json_pack("{s:s}", "error", err->msg));
    }
    enum err_code code = err->code;
    err_set(err, code, NULL, "cannot open the database (the daemon's log has the reason)");
}

struct sqlite_conn *sqlite_reader(struct store *store, struct err *err)
{
    struct sqlite_store *s = sqlite_be(store);
    struct sqlite_conn *c = pthread_getspecific(s->reader_key);
    if (c != NULL) {
        sqlite_conn_sample(c); /* its size after the last use */
        return c;
    }
    /* a new connection opens by path: on a replacement it would read the daemon's log as if
     * it were the new file's */
    if (!s->readonly && sqlite_file_check(s, err) != 0) {
        reader_open_failed(err);
        return NULL;
    }
    c = sqlite_conn_open(s->path, s->readonly ? SQLITE_CONN_FILE_RO : SQLITE_CONN_READER, err);
    if (c == NULL) {
        reader_open_failed(err);
        return NULL;
    }
    c->closing = &s->closing;
    pthread_mutex_lock(&s->readers_mu);
    if (s->nreaders == s->areaders) {
        s->areaders = s->areaders ? s->areaders * 2 : 16;
        s->readers = xrealloc(s->readers, s->areaders * sizeof(*s->readers));
    }
    s->readers[s->nreaders++] = c;
    pthread_mutex_unlock(&s->readers_mu);
    pthread_setspecific(s->reader_key, c);
    return c;
}

sqlite3_stmt *sqlite_read_prepare(struct store *s, struct store_tx *tx, const char *sql,
                                  struct sqlite_conn **c, struct err *err)
{
    *c = tx != NULL ? tx->conn : sqlite_reader(s, err);
    return *c != NULL ? sqlite_conn_prepare(*c, sql, err) : NULL;
}

static void sqlite_close(struct store *store)
{
    struct sqlite_store *s = sqlite_be(store);
    if (s == NULL) {
        return;
    }
    sqlite_ckpt_detach(s);
    for (size_t i = 0; i < s->nreaders; i++) {
        sqlite_conn_close(s->readers[i]);
    }
    free(s->readers);
    struct err lost;
    if (s->main != NULL && !s->readonly && sqlite_file_check(s, &lost) != 0) {
        sqlite_wal_disown(s, 0); /* SQLite's close would leave the log to the new file */
    }
    sqlite_conn_close(s->main);
    pthread_key_delete(s->reader_key);
    pthread_mutex_destroy(&s->readers_mu);
    free(s->path);
    free(s);
    store->be = NULL;
}

/* Progress handler: abort the check once its deadline (monotonic ns) has passed. */
static int check_deadline(void *arg)
{
    return time_mono_ns() > *(const uint64_t *)arg;
}

static int sqlite_check(struct store *store, int budget_ms, struct err *err)
{
    struct sqlite_store *s = sqlite_be(store);
    if (sqlite3_db_readonly(s->main->db, "main") == 1) {
        return err_set(err, ERR_UNAVAILABLE, NULL,
                       "database %s is read-only for this process (check the owner and mode of "
                       "the file and its directory)",
                       s->path);
    }
    /* serve's ready check asks too; compact asked nothing and filled the last MiB */
    if (sqlite_disk_full(s->path, err) != 0) {
        return -1;
    }
    uint64_t deadline = time_mono_ns() + (uint64_t)budget_ms * 1000000u;
    sqlite3_progress_handler(s->main->db, 10000, check_deadline, &deadline);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->main->db, "PRAGMA quick_check(1)", -1, &st, NULL);
    char first[160] = "";
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite_column_copy(st, 0, first, sizeof(first));
    }
    sqlite3_finalize(st);
    sqlite3_progress_handler(s->main->db, 0, NULL, NULL);
    if (rc == SQLITE_INTERRUPT) {
        return 1; /* too large to check within the budget */
    }
    if (rc != SQLITE_ROW) {
        return store_sqlite_err(s->main->db, rc, "integrity check", err);
    }
    if (strcmp(first, "ok") != 0) {
        atomic_store(&corrupt_seen, true);
        return err_set(err, ERR_UNAVAILABLE, NULL,
                       "database %s is corrupt (%s): restore it from a backup", s->path, first);
    }
    return 0;
}

static int sqlite_open(struct store *store, const char *path, struct err *err)
{
    struct sqlite_store *s = xcalloc(1, sizeof(*s));
    store->be = s;
    s->path = xstrdup(path);
    pthread_mutex_init(&s->readers_mu, NULL);
    pthread_key_create(&s->reader_key, reader_forget);
    s->readonly = store->readonly;
    s->data_version = -1;
    if (sqlite_file_usable(path, s->readonly, err) != 0) {
        goto out_free;
    }
    s->main = sqlite_conn_open(path, s->readonly ? SQLITE_CONN_FILE_RO : SQLITE_CONN_WRITER, err);
    if (s->main == NULL) {
        /* on a full disk the open's WAL set-up (the -shm) failed "disk I/O error": say why */
        if (!s->readonly) {
            (void)sqlite_disk_full(path, err);
        }
        goto out_free;
    }
    s->main->closing = &s->closing;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        err_set(err, ERR_UNAVAILABLE, NULL, "cannot stat database %s: %s", path, strerror(errno));
        goto out_free;
    }
    s->dev = sb.st_dev;
    s->ino = sb.st_ino;
    if (!s->readonly && sqlite_migrations_table(s->main, err) != 0) {
        goto out_free;
    }
    int version = 0;
    if (sqlite_schema_version_on(s->main, &version, err) != 0) {
        goto out_free;
    }
    int newest =
        bunsen_migrations_count > 0 ? bunsen_migrations[bunsen_migrations_count - 1].version : 0;
    if (version > newest) {
        err_set(err, ERR_CONFLICT, NULL,
                "database %s has schema version %d, newer than this bunsen (%d): upgrade bunsen",
                path, version, newest);
        goto out_free;
    }
    if (!s->readonly) {
        sqlite_ckpt_attach(s); /* a read-only store commits nothing */
    }
    return 0;
out_free:;
    /* a SQLite file found corrupt by the open's first statements: named, without the
     * statement's internal prefix ("exec: the database is corrupt (...)") */
    const char *corrupt = strstr(err->msg, "the database is corrupt");
    if (corrupt != NULL && corrupt != err->msg) {
        char tail[sizeof(err->msg)];
        snprintf(tail, sizeof(tail), "%s", corrupt + strlen("the database "));
        err_set(err, ERR_UNAVAILABLE, NULL, "database %s %s", path, tail);
    }
    sqlite_close(store);
    return -1;
}

/* ---- the writer's transactions ---- */

/* Per-job savepoints, and the group's BEGIN and COMMIT, prepared once (parsing them per job
 * or per group showed in profiles: ~4,500 instructions per group for BEGIN + COMMIT). */
static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_SAVEPOINT[] = "SAVEPOINT job";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO job";
static const char SQL_RELEASE[] = "RELEASE job";

static int run_cached(struct sqlite_conn *c, const char *sql, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(c, sql, err);
    return st != NULL ? sqlite_conn_step_done(c, st, sql, err) : -1;
}

/* Inside the writer's transaction (its lock taken): has another process committed since the
 * last one (PRAGMA data_version moved; one step of a cached statement, ~no I/O)? Then read the
 * schema version again: a database migrated to a newer schema refuses this write at once,
 * not only after the one-second poll saw it (a write in that second went through without
 * the new columns). */
static const char SQL_DATA_VERSION[] = "PRAGMA data_version";
static void sqlite_tx_rollback(struct store_tx *tx);

static int sqlite_schema_recheck(struct store *s, struct sqlite_conn *c, struct err *err)
{
    struct sqlite_store *ss = sqlite_be(s);
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_DATA_VERSION, err);
    if (st == NULL) {
        return -1;
    }
    int rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        return store_sqlite_err(c->db, rc, "read data_version", err);
    }
    if (v != ss->data_version) {
        int version = 0;
        if (sqlite_schema_version_on(c, &version, err) != 0) {
            return -1;
        }
        store_schema_seen(s, version);
        ss->data_version = v;
    }
    return store_schema_refuse(s, err);
}

/* While another process holds the write lock, the busy timeout counts from when the lock was
 * first found taken (lock_busy_since_ns: the first BEGIN of this outage that met it), not from
 * each BEGIN: every group queued behind the first used to wait a full timeout of its own after
 * the one before (a review's five queued admin writes answered 503 at 5, 10, 15, 20 and 25 s).
 * A BEGIN past that bound still tries once; the first that gets the lock ends the outage. (The
 * age of the queue is not the measure: a backlog of the daemon's own writes is not a locked
 * file, and counting it made a 10 ms lock of `bunsen keys create` fail every write queued for
 * over 5 s.) Statements inside the transaction keep the handler's own bound (the lock is
 * ours: only WAL recovery could make them wait). Writer thread only. */
static int sqlite_tx_begin(struct store *s, struct store_tx *tx, bool exclusive, struct err *err)
{
    (void)exclusive; /* one writer per file: every write transaction is exclusive */
    if (store_schema_refuse(s, err) != 0) {
        return -1;
    }
    /* a file deleted or replaced under the daemon: this write would go to the old file and
     * the log the new one shares (a stat per group; the one-second poll was too late) */
    if (sqlite_file_check(sqlite_be(s), err) != 0) {
        sqlite_wal_disown(sqlite_be(s), 100);
        return -1;
    }
    if (sqlite_header_check(sqlite_be(s), err) != 0) {
        return -1;
    }
    struct sqlite_conn *c = sqlite_be(s)->main;
    tx->conn = c;
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_BEGIN, err);
    if (st == NULL) {
        return -1;
    }
    struct sqlite_store *ss = sqlite_be(s);
    c->wait_deadline_ns =
        ss->lock_busy_since_ns != 0 ? ss->lock_busy_since_ns + (uint64_t)c->busy_ms * 1000000u : 0;
    int rc = sqlite_conn_step_done(c, st, "exec", err);
    c->wait_deadline_ns = 0;
    if (rc == 0) {
        ss->lock_busy_since_ns = 0;
        if (sqlite_schema_recheck(s, c, err) != 0) {
            sqlite_tx_rollback(tx);
            return -1;
        }
    } else if ((sqlite3_errcode(c->db) & 0xff) == SQLITE_BUSY && ss->lock_busy_since_ns == 0) {
        ss->lock_busy_since_ns = c->busy_since_ns; /* set by busy_wait's first call */
    }
    if (rc != 0 && err != NULL && err->code == ERR_UNAVAILABLE &&
        atomic_load(&sqlite_be(s)->closing) && (sqlite3_errcode(c->db) & 0xff) == SQLITE_BUSY) {
        err_set(err, ERR_UNAVAILABLE, NULL,
                "the server is shutting down and another process holds the database's write "
                "lock");
    }
    return rc;
}

static int sqlite_tx_savepoint(struct store_tx *tx, struct err *err)
{
    return run_cached(tx->conn, SQL_SAVEPOINT, err);
}

static int sqlite_tx_rollback_to(struct store_tx *tx, struct err *err)
{
    return run_cached(tx->conn, SQL_ROLLBACK_TO, err);
}

static int sqlite_tx_release(struct store_tx *tx, struct err *err)
{
    return run_cached(tx->conn, SQL_RELEASE, err);
}

static int sqlite_tx_commit(struct store_tx *tx, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, SQL_COMMIT, err);
    int rc = st != NULL ? sqlite_conn_step_done(tx->conn, st, "exec", err) : -1;
    sqlite_conn_sample(tx->conn);
    if (rc == 0) {
        atomic_store(&committed_seq, atomic_fetch_add(&write_seq, 1) + 1);
    }
    return rc;
}

static void sqlite_tx_rollback(struct store_tx *tx)
{
    if (tx->conn != NULL && !sqlite3_get_autocommit(sqlite_tx_db(tx))) {
        sqlite3_exec(sqlite_tx_db(tx), "ROLLBACK", NULL, NULL, NULL);
    }
}

/* The items (events, exposures) one group may hold: two requests at the 10,000-item cap. One
 * writer locks nothing, but a group's memory (its attribution arenas, the notes of known
 * first exposures) and the work a savepoint rerun repeats grow with it: without a bound a
 * backlog of 4,096 such requests would make one transaction of 41 million items. And a small
 * write that arrives while a group runs waits for it whole (writer_queue.c queues it ahead of the
 * larger jobs still queued, not of the group running): ten 10,000-event batches made groups
 * of seconds; the commit's own cost (~1 ms) is small beside 20,000 items' work. */
static size_t sqlite_group_items_max(struct store *s)
{
    (void)s;
    return 20000;
}

static bool sqlite_tx_retryable(struct store_tx *tx)
{
    (void)tx; /* BEGIN IMMEDIATE: no deadlock can reach a job */
    return false;
}

static int sqlite_ready_check(struct store_tx *tx, struct err *err)
{
    /* the writer keeps writing to a deleted or replaced file without an error */
    if (sqlite_file_check(sqlite_be(tx->store), err) != 0) {
        return -1;
    }
    if (atomic_load(&full_seq) > atomic_load(&committed_seq) &&
        time_now_ms() - atomic_load(&full_ms) < FULL_READY_MS) {
        return err_set(err, ERR_UNAVAILABLE, NULL, "writes are failing for a full disk");
    }
    /* A daemon started on a full disk said ready until a real write failed: the probe's
     * one-row commit fits in WAL frames the log already has, and the flag above starts out
     * clear. Space on the file system is asked too; at start this refuses to serve (serve.c
     * check_store), as for a read-only file. */
    if (sqlite_disk_full(sqlite_be(tx->store)->path, err) != 0) {
        return -1;
    }
    return sqlite_conn_exec(tx->conn,
                            "INSERT INTO meta (key, value) VALUES ('ready_check', '1') "
                            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
                            err);
}

static void sqlite_write_metrics(struct store *store, struct buf *b)
{
    struct sqlite_store *s = sqlite_be(store);
    struct stat sb;
    double bytes = 0;
    if (stat(s->path, &sb) == 0) {
        bytes += (double)sb.st_size;
    }
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", s->path);
    double wal_bytes = stat(wal, &sb) == 0 ? (double)sb.st_size : 0;
    /* SQLite's own total (sqlite3_memory_used) needs its memory statistics, which main.c
     * turns off: the page caches, sampled by each connection's thread, are most of it */
    double cache = 0;
    if (s->main != NULL) {
        cache += (double)atomic_load_explicit(&s->main->cache_bytes, memory_order_relaxed);
    }
    pthread_mutex_lock(&s->readers_mu);
    for (size_t i = 0; i < s->nreaders; i++) {
        cache += (double)atomic_load_explicit(&s->readers[i]->cache_bytes, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->readers_mu);
    metrics_write_help(b, "bunsen_sqlite_memory_bytes", "gauge",
                       "Memory of SQLite's page caches (at most 64 MiB for the writer, 16 MiB per "
                       "reader), as last sampled by each connection's thread.");
    metrics_write_value(b, "bunsen_sqlite_memory_bytes", "", cache);
    metrics_write_help(b, "bunsen_database_size_bytes", "gauge",
                       "Size of the SQLite database file and of its write-ahead log.");
    metrics_write_value(b, "bunsen_database_size_bytes", "file=\"db\"", bytes);
    metrics_write_value(b, "bunsen_database_size_bytes", "file=\"wal\"", wal_bytes);
    struct statvfs vfs;
    if (statvfs(s->path, &vfs) == 0) {
        metrics_write_help(b, "bunsen_database_disk_free_bytes", "gauge",
                           "Bytes free for this process on the file system holding the SQLite "
                           "database (below 1 MiB /readyz answers 503).");
        metrics_write_value(b, "bunsen_database_disk_free_bytes", "",
                            (double)vfs.f_bavail * (double)vfs.f_frsize);
    }
    sqlite_ckpt_write_metrics(s, b);
}

/* store.h "A consistent read": a read transaction on the thread's connection (WAL: its
 * snapshot is taken by the first read and kept until COMMIT) */
static int sqlite_read_begin(struct store *store, struct err *err)
{
    sqlite_ckpt_read_gate(sqlite_be(store)); /* a log past its bound is copied first */
    struct sqlite_conn *c = sqlite_reader(store, err);
    return c != NULL ? sqlite_conn_exec(c, "BEGIN", err) : -1;
}

static void sqlite_read_end(struct store *store)
{
    struct err err;
    struct sqlite_conn *c = sqlite_reader(store, &err);
    if (c != NULL && !sqlite3_get_autocommit(c->db) && sqlite_conn_exec(c, "COMMIT", &err) != 0) {
        sqlite_conn_exec(c, "ROLLBACK", &err);
    }
}

/* store.h store_shutdown_begin: from now on a wait for another process's write lock ends at
 * its next try (busy_wait, every 2 ms), so the wait under way and each write still queued
 * answer 503 at once and the drain does not wait for the lock. It used to go on: each
 * queued job waited its 5 s in turn (a review's eight queued writes: exit after 38.6 s; 20
 * admin writes would outlast systemd's 90 s stop timeout). Within the daemon only another
 * process makes the writer wait: checkpoints here are PASSIVE. */
static void sqlite_shutdown_begin(struct store *store)
{
    atomic_store(&sqlite_be(store)->closing, true);
}

/* The database file's path (store_describe). */
static void sqlite_describe(struct store *store, json_t *fields)
{
    json_object_set_new(fields, "database", json_string(sqlite_be(store)->path));
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .read_begin = sqlite_read_begin,
    .read_end = sqlite_read_end,
    .open = sqlite_open,
    .close = sqlite_close,
    .migrate = sqlite_migrate,
    .schema_version = sqlite_schema_version,
    .tx_begin = sqlite_tx_begin,
    .tx_savepoint = sqlite_tx_savepoint,
    .tx_rollback_to = sqlite_tx_rollback_to,
    .tx_release = sqlite_tx_release,
    .tx_commit = sqlite_tx_commit,
    .tx_rollback = sqlite_tx_rollback,
    .tx_retryable = sqlite_tx_retryable,
    .group_items_max = sqlite_group_items_max,
    .ready_check = sqlite_ready_check,
    .write_metrics = sqlite_write_metrics,
    .describe = sqlite_describe,
    .key_insert = sqlite_key_insert,
    .key_revoke = sqlite_key_revoke,
    .key_find_by_hash = sqlite_key_find_by_hash,
    .key_list = sqlite_key_list,
    .key_count_admins = sqlite_key_count_admins,
    .key_count_named = sqlite_key_count_named,
    .audit_append = sqlite_audit_append,
    .audit_list = sqlite_audit_list,
    .metric_put = sqlite_metric_put,
    .metric_get = sqlite_metric_get,
    .metric_delete = sqlite_metric_delete,
    .metric_list = sqlite_metric_list,
    .metric_users = sqlite_metric_users,
    .experiment_put = sqlite_experiment_put,
    .experiment_get = sqlite_experiment_get,
    .experiment_delete = sqlite_experiment_delete,
    .experiment_list = sqlite_experiment_list,
    .catalog_bump = sqlite_catalog_bump,
    .catalog_version = sqlite_catalog_version,
    .rollup_rebuild = sqlite_rollup_rebuild,
    .rollup_read = sqlite_rollup_read,
    .users_page = sqlite_users_page,
    .rollup_daily = sqlite_rollup_daily,
    .exposure_by_variant = sqlite_exposure_by_variant,
    .compact = sqlite_compact,
    .events_insert = sqlite_events_insert,
    .users_with_events = sqlite_users_with_events,
    .events_raw = sqlite_events_raw,
    .exposures_of_users = sqlite_exposures_of_users,
    .exposures_get = sqlite_exposures_get,
    .exposures_put = sqlite_exposures_put,
    .user_metrics_get = sqlite_user_metrics_get,
    .user_metrics_put = sqlite_user_metrics_put,
    .rollup_add = sqlite_rollup_add,
    .saved_group_put = sqlite_saved_group_put,
    .saved_group_get = sqlite_saved_group_get,
    .saved_group_delete = sqlite_saved_group_delete,
    .saved_group_list = sqlite_saved_group_list,
    .saved_group_versions = sqlite_saved_group_versions,
    .saved_group_read = sqlite_saved_group_read,
    .key_set_encryption = sqlite_key_set_encryption,
    .key_encryption = sqlite_key_encryption,
    .check = sqlite_check,
    .is_corrupt = sqlite_is_corrupt,
    .shutdown_begin = sqlite_shutdown_begin,
    .backup = sqlite_backup,
    .rebuild_begin = sqlite_rebuild_begin,
    .rebuild_get = sqlite_rebuild_get,
    .rebuild_list = sqlite_rebuild_list,
    .rebuild_users_after = sqlite_rebuild_users_after,
    .rebuild_range = sqlite_rebuild_range,
    .rebuild_advance = sqlite_rebuild_advance,
    .rebuild_end = sqlite_rebuild_end,
    .rebuild_keep_ratios = sqlite_rebuild_keep_ratios,
    .rebuild_ratio_read = sqlite_rebuild_ratio_read,
    .rebuild_keep_metric = sqlite_rebuild_keep_metric,
    .rebuild_metric_get = sqlite_rebuild_metric_get,
    .rebuild_cursors = sqlite_rebuild_cursors,
    .dims_get = sqlite_dims_get,
    .dims_put = sqlite_dims_put,
    .dim_values_known = sqlite_dim_values_known,
    .dim_values_put = sqlite_dim_values_put,
    .slice_add = sqlite_slice_add,
    .slice_read = sqlite_slice_read,
    .slice_exposures = sqlite_slice_exposures,
};
