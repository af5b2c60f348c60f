/*
 * db.c - the PostgreSQL adapter's core: opening and closing the adapter, schema migrations
 * (migrations/postgres/), the writer's roll-up slot, transactions and savepoints, and the
 * ops table the facade dispatches through. The definition-change listener (LISTEN/NOTIFY,
 * the user-lock budget's refresh, young tables' ANALYZE) is in listen.c; the libpq
 * connections (reconnection, the answer timeout) in conn.c, the statements on them
 * (prepared statements, the writer's pipeline) in pipeline.c, the read pool in pool.c;
 * parameter and result encoding in text.c.
 *
 * Several daemons share one database. The writer's transaction begins by taking the
 * catalogue advisory lock in shared mode and reading the committed catalogue version:
 * when it is newer than the rules this daemon attributes with, the catalogue hook reloads
 * them before any job runs (definition changes take the same lock exclusively, so no
 * definition can commit while ingestion holds it: no ingestion applies stale rules).
 * Definition changes also NOTIFY bunsen_catalog at commit; a listener thread (listen.c)
 * wakes the hook within milliseconds (the daemon's one-second version poll is the safety
 * net). Each daemon's writer session owns a roll-up slot (session advisory lock), so daemons
 * add roll-up deltas to different rows and never wait on each other there.
 *
 * Failover: a connection that fails is reopened before its next use, on the current
 * primary (conn.c).
 */
#include "pg_int.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bunsen/log.h"
#include "bunsen/metrics.h"
#include "bunsen/migrations.h"
#include "bunsen/util.h"

/* ---- migrations ---- */

#define SQL_CREATE_MIGRATIONS                                                                      \
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "                  \
    "name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
static const char SQL_MAX_VERSION[] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";

/* Nothing the operator's role or database sets cancels a migration (or the wait for
 * another's): a statement_timeout of theirs (a common safety setting) failed `bunsen migrate`
 * with "canceling statement due to statement timeout", and would cancel an index built on
 * a large table; lock_timeout the wait for running daemons' transactions. For the
 * migration's transaction only (SET LOCAL): the daemon's own statements after it keep the
 * operator's settings. */
#define SQL_NO_LIMITS "SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0"

/* The migrations' table, created if missing. Under the lock of the migrations (migrate_one):
 * two sessions running CREATE TABLE IF NOT EXISTS at once both find no table, and the second
 * fails on the catalogue's unique index (pg_type_typname_nsp_index), so of several daemons
 * started at once on an empty database some exited. Looked up first without the lock, so
 * that opening a migrated database does not wait for another process's migration. */
static int ensure_migrations_table(struct pg_conn *c, struct err *err)
{
    static const char SQL_EXISTS[] = "SELECT to_regclass('schema_migrations') IS NOT NULL";
    PGresult *r = pg_run(c, SQL_EXISTS, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    bool exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (exists) {
        return 0;
    }
    c->no_deadline = true; /* the lock waits for another process's migration, however long */
    int rc = pg_exec(c,
                     "BEGIN; " SQL_NO_LIMITS "; SELECT pg_advisory_xact_lock(" PG_LOCK_CATALOG
                     ", 0); " SQL_CREATE_MIGRATIONS "; COMMIT",
                     err);
    c->no_deadline = false;
    if (rc != 0) {
        pg_exec(c, "ROLLBACK", NULL);
        if (err != NULL) {
            char was[sizeof(err->msg)];
            snprintf(was, sizeof(was), "%s", err->msg);
            err_set(err, err->code, NULL, "migrations table schema_migrations not created: %s",
                    was);
        }
    }
    return rc;
}

/* err's message prefixed with the migration's name (-1): "exec: ..." named none. */
static int migration_failed(const struct migration *m, struct err *err)
{
    if (err != NULL) {
        char was[sizeof(err->msg)];
        snprintf(was, sizeof(was), "%s", err->msg);
        err_set(err, err->code != ERR_OK ? err->code : ERR_INTERNAL, NULL,
                "migration %s not applied: %s", m->name, was);
    }
    return -1;
}

static int version_on(struct pg_conn *c, int *version, struct err *err)
{
    PGresult *r = pg_run(c, SQL_MAX_VERSION, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    *version = (int)pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

static int pg_schema_version(struct store *s, int *version, struct err *err)
{
    struct pg_store *p = pg_be(s);
    if (pg_conn_ensure(p->writer, p->conninfo, err) != 0) {
        return -1;
    }
    return version_on(p->writer, version, err);
}

static const char SQL_APPLIED[] = "SELECT 1 FROM schema_migrations WHERE version = $1::int";

static int migration_applied(struct pg_conn *c, const char *ver, bool *done, struct err *err)
{
    const char *v1[] = {ver};
    PGresult *r = pg_run(c, SQL_APPLIED, 1, v1, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    *done = PQntuples(r) > 0;
    PQclear(r);
    return 0;
}

/* The operator's statement_timeout cancelled the statements around the migrations too (the
 * "applied already?" reads, the BEGIN, the migrations table's look-up: a short one failed
 * `bunsen migrate` under load, seen in test_pg_conn): off for the session while they run
 * (limits_off), then back to the role's or database's setting (limits_back: RESET). The SET
 * can be cancelled itself: tried thrice. */
static int limits_off(struct pg_conn *c, struct err *err)
{
    int rc = -1;
    for (int i = 0; i < 3 && rc != 0; i++) {
        rc = pg_exec(c, "SET statement_timeout = 0; SET lock_timeout = 0", err);
    }
    return rc;
}

static void limits_back(struct pg_conn *c)
{
    struct err err;
    err_clear(&err);
    if (pg_exec(c, "RESET statement_timeout; RESET lock_timeout", &err) != 0) {
        /* a connection lost: the next use reconnects with the operator's settings */
        log_json(LOG_WARN, "PostgreSQL: the session's limits were not reset after migrating",
                 json_pack("{s:s}", "error", err.msg));
    }
}

static int migrate_one(struct pg_conn *c, const struct migration *m, bool *applied, struct err *err)
{
    *applied = false;
    char ver[16];
    snprintf(ver, sizeof(ver), "%d", m->version);
    bool done = false;
    /* applied already (every start beside running daemons): no lock taken */
    if (migration_applied(c, ver, &done, err) != 0 || done) {
        return done ? 0 : migration_failed(m, err);
    }
    /* one migration at a time across processes: a transaction-scoped advisory lock; and the
     * catalogue lock exclusively, as a definition change takes it: running daemons' write
     * transactions (which hold it shared and read the schema version under it) end first,
     * and those begun after the migration see its version (pg_tx_begin) */
    if (pg_exec(c,
                "BEGIN; " SQL_NO_LIMITS "; SELECT pg_advisory_xact_lock(" PG_LOCK_CATALOG ", 0); "
                "SELECT pg_advisory_xact_lock(" PG_LOCK_CATALOG ", 1)",
                err) != 0) {
        pg_exec(c, "ROLLBACK", NULL);
        return migration_failed(m, err);
    }
    if (migration_applied(c, ver, &done, err) != 0) {
        goto out_rollback;
    }
    if (done) {
        return pg_exec(c, "COMMIT", err) == 0 ? 0 : migration_failed(m, err);
    }
    PGresult *r = PQexec(c->pg, m->sql);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        err_set(err, ERR_INTERNAL, NULL, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
        PQclear(r);
        goto out_rollback;
    }
    PQclear(r);
    char now[32];
    snprintf(now, sizeof(now), "%" PRId64, time_now_ms());
    const char *v3[] = {ver, m->name, now};
    r = pg_run(c,
               "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1::int, $2, "
               "$3::bigint)",
               3, v3, NULL, 0, err);
    if (r == NULL) {
        goto out_rollback;
    }
    PQclear(r);
    if (pg_exec(c, "COMMIT", err) != 0) {
        goto out_rollback;
    }
    *applied = true;
    return 0;
out_rollback:
    pg_exec(c, "ROLLBACK", NULL);
    return migration_failed(m, err);
}

/* The sessions of other clients on this database that do not name themselves as a bunsen
 * that refuses writes under a newer schema (conn.c: application_name "bunsen/..."): a daemon
 * built before 190a1bf (2026-12-06; schema 14 and lower, early 15) names itself nothing and
 * goes on writing with its old schema after the migration (rev-ops28 1: stale saved groups,
 * event values stored otherwise). Logged as a warning before migrating, never refused: psql,
 * a dashboard or a pooler are sessions too, and the operator knows which they are. A session
 * holding a roll-up slot (advisory lock) is a bunsen writer. At most 20 named. */
static void warn_foreign_sessions(struct pg_conn *c)
{
    static const char SQL[] =
        "SELECT a.pid, COALESCE(a.application_name, ''), CASE WHEN a.client_port = -1 THEN "
        "'local' ELSE COALESCE(host(a.client_addr), '') END, EXISTS (SELECT 1 FROM pg_locks l "
        "WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.classid = " PG_LOCK_SLOT
        " AND l.objsubid = 2 AND l.granted), count(*) OVER () FROM pg_stat_activity a WHERE "
        "a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_type = "
        "'client backend' AND left(COALESCE(a.application_name, ''), length('" PG_APP_NAME_PREFIX
        "')) <> '" PG_APP_NAME_PREFIX "' ORDER BY a.pid LIMIT 20";
    struct err err;
    err_clear(&err);
    PGresult *r = pg_run(c, SQL, 0, NULL, NULL, 0, &err);
    if (r == NULL) {
        log_json(LOG_WARN, "PostgreSQL: the other sessions were not listed before migrating",
                 json_pack("{s:s}", "error", err.msg));
        return;
    }
    int rows = PQntuples(r);
    json_t *list = rows > 0 ? json_array() : NULL;
    for (int i = 0; i < rows && list != NULL; i++) {
        json_array_append_new(
            list, json_pack("{s:I, s:s, s:s, s:b}", "pid", (json_int_t)pg_i64(r, i, 0),
                            "application_name", PQgetvalue(r, i, 1), "client", PQgetvalue(r, i, 2),
                            "rollup_slot", strcmp(PQgetvalue(r, i, 3), "t") == 0));
    }
    if (list != NULL) {
        log_json(LOG_WARN,
                 "other clients are connected to the database being migrated: a bunsen daemon "
                 "built before 2026-12-06 (190a1bf) among them keeps writing under the new "
                 "schema",
                 json_pack("{s:o, s:I, s:s}", "sessions", list, "count",
                           (json_int_t)pg_i64(r, 0, 4), "action",
                           "stop every bunsen daemon of such a build (a session with "
                           "rollup_slot true is a bunsen writer); a daemon of this build or a "
                           "newer one names itself bunsen/... (docs/UPGRADING.md)"));
    }
    PQclear(r);
}

static int pg_migrate(struct store *s, int *applied, struct err *err)
{
    struct pg_store *p = pg_be(s);
    if (pg_conn_ensure(p->writer, p->conninfo, err) != 0) {
        return -1;
    }
    /* a migration (an index built on a large table) or the wait for another process's takes
     * as long as it takes: no answer timeout */
    int n = 0, rc = 0, version = 0;
    p->writer->no_deadline = true;
    rc = limits_off(p->writer, err);
    struct err unread; /* the version not read: the migrations say why, if it matters */
    err_clear(&unread);
    if (rc == 0 && version_on(p->writer, &version, &unread) == 0 &&
        version < store_schema_newest(s)) {
        warn_foreign_sessions(p->writer); /* before the first migration takes the lock */
    }
    for (int i = 0; i < bunsen_migrations_pg_count && rc == 0; i++) {
        bool did = false;
        rc = migrate_one(p->writer, &bunsen_migrations_pg[i], &did, err);
        n += did ? 1 : 0;
    }
    limits_back(p->writer);
    p->writer->no_deadline = false;
    *applied = n;
    return rc;
}

/* ---- the roll-up slot ---- */

/* Claim a slot no other live session holds (session lock, released when the connection
 * closes), and set the user-lock budget (listen.c pg_lock_budget). Called on every new writer
 * connection (a failover target may be configured otherwise). */
static int claim_slot(struct pg_store *p, struct err *err)
{
    static const char SQL_CLAIM[] =
        "SELECT (SELECT s FROM generate_series(0, 63) s WHERE pg_try_advisory_lock(" PG_LOCK_SLOT
        ", "
        "s) LIMIT 1), " PG_SQL_LOCK_TABLE ", (" PG_SQL_SLOTS_HELD
        " AND pid <> pg_backend_pid()) + 1";
    PGresult *r = pg_run(p->writer, SQL_CLAIM, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    /* every slot taken (more than 64 writers): share slot 0; correct, only slower */
    p->slot = PQgetisnull(r, 0, 0) ? 0 : (int)pg_i64(r, 0, 0);
    /* a small budget is said by the listener (listen.c budget_set) */
    p->user_lock_budget = pg_lock_budget(pg_i64(r, 0, 1), pg_i64(r, 0, 2));
    PQclear(r);
    return 0;
}

static size_t pg_group_items_max(struct store *s)
{
    return pg_be(s)->user_lock_budget;
}

/* The writer's connection, reopened (with a fresh slot) after a failure. */
static int writer_ready(struct store *s, struct err *err)
{
    struct pg_store *p = pg_be(s);
    bool fresh = p->writer->broken || PQstatus(p->writer->pg) != CONNECTION_OK;
    if (pg_conn_ensure(p->writer, p->conninfo, err) != 0) {
        return -1;
    }
    return fresh ? claim_slot(p, err) : 0;
}

/* ---- lifecycle ---- */

static void pg_set_db_timeout(struct store *s, int ms)
{
    pg_be(s)->timeout_ms = ms > 0 ? ms : 0;
}

static void pg_close(struct store *s)
{
    struct pg_store *p = pg_be(s);
    if (p == NULL) {
        return;
    }
    pg_listen_stop(p);
    for (int i = 0; i < p->nidle; i++) {
        pg_conn_close(p->idle[i]);
    }
    pg_conn_close(p->writer);
    pthread_mutex_destroy(&p->pool_mu);
    pthread_cond_destroy(&p->pool_cv);
    pthread_key_delete(p->pinned_key);
    free(p->conninfo);
    free(p);
    s->be = NULL;
}

static int pg_open(struct store *s, const char *conninfo, struct err *err)
{
    struct pg_store *p = xcalloc(1, sizeof(*p));
    p->user_lock_budget = PG_USER_LOCK_BUDGET_DEF;
    s->be = p;
    p->conninfo = xstrdup(conninfo);
    pthread_mutex_init(&p->pool_mu, NULL);
    cond_init_monotonic(&p->pool_cv); /* pg_reader_get's deadline */
    pthread_key_create(&p->pinned_key, NULL);
    p->timeout_ms = PG_TIMEOUT_MS_DEF;
    p->writer = pg_conn_open(conninfo, &p->timeout_ms, err);
    if (p->writer == NULL) {
        goto out_free;
    }
    p->writer->owner = p;
    const char *end = getenv("BUNSEN_TEST_PG_END_AFTER_COMMIT"); /* tests only: pg_commit */
    p->writer->end_after_commit = end != NULL && end[0] != '\0' ? xstrdup(end) : NULL;
    pg_conn_watch(p->writer, p, PG_WAIT_WRITER);
    snprintf(p->at_host, sizeof(p->at_host), "%s", PQhost(p->writer->pg));
    snprintf(p->at_port, sizeof(p->at_port), "%s", PQport(p->writer->pg));
    snprintf(p->at_dbname, sizeof(p->at_dbname), "%s", PQdb(p->writer->pg));
    snprintf(p->at_user, sizeof(p->at_user), "%s", PQuser(p->writer->pg));
    int version = 0;
    int rc = limits_off(p->writer, err) == 0 && ensure_migrations_table(p->writer, err) == 0
                 ? version_on(p->writer, &version, err)
                 : -1;
    limits_back(p->writer);
    if (rc != 0) {
        goto out_free;
    }
    int newest = bunsen_migrations_pg_count > 0
                     ? bunsen_migrations_pg[bunsen_migrations_pg_count - 1].version
                     : 0;
    if (version > newest) {
        err_set(err, ERR_CONFLICT, NULL,
                "database has schema version %d, newer than this bunsen (%d): upgrade bunsen",
                version, newest);
        goto out_free;
    }
    if (claim_slot(p, err) != 0) {
        goto out_free;
    }
    return 0;
out_free:
    pg_close(s);
    return -1;
}

/* ---- the writer's transactions ---- */

static void pg_tx_rollback(struct store_tx *tx);

/* The lock and the version in two statements: under READ COMMITTED a statement's snapshot is
 * taken when it starts, so a version read in the statement that waited for the lock could
 * predate the definition change that held it. */
static const char SQL_LOCK_SHARED[] = "SELECT pg_advisory_xact_lock_shared(" PG_LOCK_CATALOG ", 1)";
static const char SQL_LOCK_EXCLUSIVE[] = "SELECT pg_advisory_xact_lock(" PG_LOCK_CATALOG ", 1)";
/* A definition change waits at most 5 s for the catalogue: while an exclusive request
 * waits, PostgreSQL queues every later shared request (every daemon's writes) behind it, so
 * behind a holder that stopped answering (a frozen daemon, until the server ends its idle
 * transaction: conn.c SQL_SESSION) every writer stalled as long. After 5 s the change
 * answers 503 (lock_not_available) and the others go on. For the change's transaction. */
static const char SQL_LOCK_WAIT[] = "SELECT set_config('lock_timeout', '5s', true)";
/* Any other write transaction waits for a lock at most the answer timeout (--db-timeout)
 * and a second, told to the server: a write held by a lock another session took on
 * Bunsen's tables (LOCK TABLE, VACUUM FULL, an operator's long transaction) was awaited
 * without a deadline when it travelled with the COMMIT (pipeline.c pg_commit), however long
 * the lock was held. Now the server ends it with lock_not_available, the pipeline skips the
 * COMMIT, and the group answers 503 with nothing stored. The second more lets the client's
 * deadline end the other round trips first, as before (a job's statement ended by the
 * server instead would fail that job alone, and each job after it would wait as long). */
static const char SQL_LOCK_BOUND[] = "SELECT set_config('lock_timeout', $1, true)";
/* The catalogue version and the schema version, read once the catalogue lock is granted: a
 * migration holds that lock exclusively (migrate_one), so a database migrated to a newer
 * schema refuses this write at once, not only after the listener's poll saw it. */
static const char SQL_VERSION[] =
    "SELECT COALESCE((SELECT value::bigint FROM meta WHERE key = 'catalog_version'), 0), "
    "(SELECT COALESCE(MAX(version), 0) FROM schema_migrations)";

static int pg_tx_begin(struct store *s, struct store_tx *tx, bool exclusive, struct err *err)
{
    struct pg_store *p = pg_be(s);
    PGresult *r = NULL;
    if (store_schema_refuse(s, err) != 0) {
        return -1; /* a newer bunsen migrated the database (store_schema_seen) */
    }
    for (int attempt = 0;; attempt++) {
        if (writer_ready(s, err) != 0) {
            return -1;
        }
        struct pg_conn *c = p->writer;
        tx->conn = c;
        /* BEGIN and the lock sent with the version read: one round trip (the lock is still
         * granted before the version's statement starts). Writes are deferred until the
         * group takes a savepoint (pipeline.c "Pipelining"). */
        c->defer = true;
        c->retry = false; /* a deadlock of an earlier attempt says nothing of this one */
        c->recurs = false;
        c->full_seen = false;
        /* a definition change holds the catalogue exclusively: no other write transaction
         * of any daemon runs meanwhile, so its own (rebuild steps) need no user locks */
        c->user_locks = exclusive ? PG_ULOCK_ALL : PG_ULOCK_NONE;
        c->rebuild_locks = exclusive;
        c->dim_locks = false;
        c->intact = false;
        pg_prefetch_clear(c);
        int limit = atomic_load(&p->timeout_ms);
        char ms[24];
        snprintf(ms, sizeof(ms), "%lld", (long long)limit + 1000);
        const char *bound[] = {ms};
        if (pg_defer_exec(c, "BEGIN", err) == 0 &&
            (exclusive   ? pg_defer(c, SQL_LOCK_WAIT, 0, NULL, NULL, 0, -1, err) == 0
             : limit > 0 ? pg_defer(c, SQL_LOCK_BOUND, 1, bound, NULL, 0, -1, err) == 0
                         : true) &&
            pg_defer(c, exclusive ? SQL_LOCK_EXCLUSIVE : SQL_LOCK_SHARED, 0, NULL, NULL, 0, -1,
                     err) == 0 &&
            (r = pg_run(c, SQL_VERSION, 0, NULL, NULL, 0, err)) != NULL) {
            break;
        }
        /* a connection found dead (reset, closed): nothing was done, reconnect once. Not one
         * that timed out: the server is up and silent, a new connection would wait
         * connect_timeout more, and the write answers 503 at --db-timeout as documented (it
         * waited twice as long: review ops31 F9); the next statement reconnects */
        bool broken = c->broken && !c->timed_out;
        pg_tx_rollback(tx);
        if (attempt > 0 || !broken) {
            return -1;
        }
    }
    int64_t version = pg_i64(r, 0, 0);
    int64_t schema = pg_i64(r, 0, 1);
    PQclear(r);
    store_schema_seen(s, schema > INT_MAX ? INT_MAX : (int)schema);
    if (store_schema_refuse(s, err) != 0) {
        pg_tx_rollback(tx);
        return -1;
    }
    /* rules older than the committed definitions never attribute: reload them first */
    if (store_catalog_check(s, version, err) != 0) {
        pg_tx_rollback(tx);
        return -1;
    }
    return 0;
}

/* A job's RELEASE travels with the next job's SAVEPOINT, or with the COMMIT: one round trip
 * per job for its savepoint instead of two. */
static int pg_tx_savepoint(struct store_tx *tx, struct err *err)
{
    struct pg_conn *c = tx->conn;
    c->defer = false; /* a job's failure is then reported by its own statement */
    bool release = c->release_pending;
    c->release_pending = false;
    c->savepoint_user_locks = c->user_locks;
    c->savepoint_rebuild_locks = c->rebuild_locks;
    c->savepoint_dim_locks = c->dim_locks;
    return pg_exec(c, release ? "RELEASE SAVEPOINT job; SAVEPOINT job" : "SAVEPOINT job", err);
}

static int pg_tx_rollback_to(struct store_tx *tx, struct err *err)
{
    struct pg_conn *c = tx->conn;
    c->user_locks = c->savepoint_user_locks; /* the locks taken since are released */
    c->rebuild_locks = c->savepoint_rebuild_locks;
    c->dim_locks = c->savepoint_dim_locks;
    return pg_exec(c, "ROLLBACK TO SAVEPOINT job", err);
}

static int pg_tx_release(struct store_tx *tx, struct err *err)
{
    (void)err;
    ((struct pg_conn *)tx->conn)->release_pending = true;
    return 0;
}

static int pg_tx_commit(struct store_tx *tx, struct err *err)
{
    /* synchronous_commit as configured on the server (on: durable; with a synchronous
     * standby: replicated) when COMMIT returns */
    struct pg_conn *c = tx->conn;
    bool release = c->release_pending;
    c->release_pending = false;
    c->defer = false;
    pg_prefetch_clear(c);
    /* 1: nothing committed (a deferred write failed, so the group runs again with
     * savepoints, store_int.h); -1: failed, perhaps unknown */
    int rc = pg_commit(c, release ? "RELEASE SAVEPOINT job; COMMIT" : "COMMIT", err);
    if (rc == 0 && c->owner != NULL && !c->full_seen) {
        atomic_store(&c->owner->full_ms, 0); /* the disk has room again */
    }
    return rc;
}

static void pg_tx_rollback(struct store_tx *tx)
{
    struct pg_conn *c = tx->conn;
    if (c == NULL) {
        return;
    }
    c->release_pending = false;
    c->defer = false;
    pg_prefetch_clear(c);
    if (!c->broken && c->npending > 0) {
        pg_exec(c, "ROLLBACK", NULL); /* skipped if a pending statement failed: see below */
    }
    if (!c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        pg_exec(c, "ROLLBACK", NULL);
    }
}

static bool pg_tx_intact(struct store_tx *tx)
{
    struct pg_conn *c = tx->conn;
    bool intact = c != NULL && c->intact && !c->broken;
    if (c != NULL && intact) {
        c->intact = false;
        c->retry = false;
        c->recurs = false; /* a lock refused at once (55P03): that job's alone */
    }
    return intact;
}

static bool pg_tx_unavailable_recurs(struct store_tx *tx)
{
    struct pg_conn *c = tx->conn;
    bool recurs = c != NULL && c->recurs;
    if (c != NULL) {
        c->recurs = false;
    }
    return recurs;
}

static bool pg_tx_retryable(struct store_tx *tx)
{
    struct pg_conn *c = tx->conn;
    bool retry = c != NULL && c->retry;
    if (c != NULL) {
        c->retry = false;
    }
    return retry;
}

/* As SQLite's (sqlite/db.c FULL_READY_MS): a full disk counts until a commit succeeds or this
 * long passes without another failure (a load balancer that took the daemon out sends it no
 * writes to succeed with). */
#define PG_FULL_READY_MS 10000

/* A write that commits (the writer's group then commits it): so a server in recovery, a
 * read-only transaction or a full disk answers 503 (a full disk also while the tables' writes
 * fail for it: this row's update needs no new page and commits all the same). Each daemon writes a
 * row of its own, by its roll-up slot (at most 64 rows): all of them once wrote one row
 * 'ready_check', and a daemon frozen between its write and its COMMIT (SIGSTOP, a paused VM) held
 * that row's lock until the server ended its session (idle_in_transaction_session_timeout, 10 s),
 * so every other daemon's /readyz waited as long. Only the daemons sharing slot 0 (beyond 64) share
 * a row. */
static int pg_ready_check(struct store_tx *tx, struct err *err)
{
    int64_t full = atomic_load(&pg_be(tx->store)->full_ms);
    if (full != 0 && (int64_t)(time_mono_ns() / 1000000) - full < PG_FULL_READY_MS) {
        struct pg_conn *c = tx->conn;
        if (c != NULL) {
            c->full_seen = true; /* the group's COMMIT proves nothing of the disk */
        }
        return err_set(err, ERR_UNAVAILABLE, NULL, "writes are failing for a full disk");
    }
    static const char SQL[] =
        "INSERT INTO meta (key, value) VALUES ('ready_check.' || $1, '1') ON CONFLICT (key) DO "
        "UPDATE SET value = (meta.value::bigint + 1)::text";
    char slot[16];
    snprintf(slot, sizeof(slot), "%d", pg_be(tx->store)->slot);
    const char *v[] = {slot};
    PGresult *r = pg_run(tx->conn, SQL, 1, v, NULL, 0, err);
    PQclear(r);
    return r != NULL ? 0 : -1;
}

/* The database URL as given (hosts, port, dbname, user, options) with its passwords masked,
 * and where the writer connected at open (one of several hosts, or libpq's defaults). */
static void pg_describe(struct store *s, json_t *fields)
{
    struct pg_store *p = pg_be(s);
    char url[2048];
    url_redact(p->conninfo, url, sizeof(url));
    json_object_set_new(fields, "database", json_string(url));
    json_t *at = json_pack("{s:s, s:s, s:s, s:s}", "host", p->at_host, "port", p->at_port, "dbname",
                           p->at_dbname, "user", p->at_user);
    if (at != NULL) {
        json_object_set_new(fields, "connected_to", at);
    }
}

static bool pg_unavailable_reason(struct store *s, char *out, size_t n)
{
    (void)s; /* the process's latest: one per process in a daemon */
    return pg_last_connection_failure(out, n);
}

static void pg_write_metrics(struct store *s, struct buf *b)
{
    struct pg_store *p = pg_be(s);
    int open = 0, idle = 0, broken = 0;
    pg_pool_counts(s, &open, &idle, &broken);
    metrics_write_help(b, "bunsen_pg_pool_connections", "gauge",
                       "PostgreSQL read connections of this daemon, by state (broken: idle "
                       "ones whose session is gone, reopened by the next read that takes one).");
    metrics_write_value(b, "bunsen_pg_pool_connections", "state=\"open\"", open);
    metrics_write_value(b, "bunsen_pg_pool_connections", "state=\"idle\"", idle);
    metrics_write_value(b, "bunsen_pg_pool_connections", "state=\"broken\"", broken);
    metrics_write_help(b, "bunsen_pg_rollup_slot", "gauge",
                       "The roll-up slot this daemon's writer owns.");
    metrics_write_value(b, "bunsen_pg_rollup_slot", "", p->slot);
    metrics_write_help(b, "bunsen_pg_user_lock_budget", "gauge",
                       "Users one write transaction of this daemon locks one by one at most.");
    metrics_write_value(b, "bunsen_pg_user_lock_budget", "", (double)p->user_lock_budget);
    metrics_write_help(b, "bunsen_pg_all_users_locks_total", "counter",
                       "Writes over the user-lock budget, which locked all users at once.");
    metrics_write_value(b, "bunsen_pg_all_users_locks_total", "", (double)p->user_locks_all);
    metrics_write_help(b, "bunsen_pg_deadlocks_total", "counter",
                       "Deadlocks PostgreSQL reported to this daemon's writer (its "
                       "transaction rolled back and run again).");
    metrics_write_value(b, "bunsen_pg_deadlocks_total", "", (double)p->deadlocks);
    metrics_write_help(b, "bunsen_pg_lock_refusals_total", "counter",
                       "Writes put off to a later group because another transaction held a "
                       "user or dimension lock they would have waited for out of order.");
    metrics_write_value(b, "bunsen_pg_lock_refusals_total", "", (double)p->lock_refusals);
}

/* ---- operations (store.h) ---- */

/* The start-up check: the server answers and takes writes (not a standby). PostgreSQL checks
 * its own pages (checksums, WAL); there is no quick_check to run from here. */
static int pg_check(struct store *s, int budget_ms, struct err *err)
{
    (void)budget_ms;
    struct pg_store *p = pg_be(s);
    if (pg_conn_ensure(p->writer, p->conninfo, err) != 0) {
        return -1;
    }
    static const char SQL[] = "SELECT pg_is_in_recovery()";
    PGresult *r = pg_run(p->writer, SQL, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    bool standby = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return standby ? err_set(err, ERR_UNAVAILABLE, NULL,
                             "the PostgreSQL server is a read-only standby (use "
                             "target_session_attrs=read-write with every host)")
                   : 0;
}

/* Corruption shows as query errors (500s) and in the server's log; the server, not this
 * process, decides a page is bad. */
static bool pg_is_corrupt(struct store *s)
{
    (void)s;
    return false;
}

static int pg_backup(struct store *s, const char *dest, struct store_backup_stats *out,
                     struct err *err)
{
    (void)s;
    (void)dest;
    memset(out, 0, sizeof(*out));
    return err_set(err, ERR_UNAVAILABLE, NULL,
                   "bunsen backup copies SQLite databases; back PostgreSQL up with pg_dump "
                   "(logical) or pg_basebackup plus WAL archiving (physical): see README "
                   "\"Back up\" and docs/SCALING.md");
}

const struct store_ops store_pg_ops = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .listen = pg_listen,
    .set_db_timeout = pg_set_db_timeout,
    .read_begin = pg_read_begin,
    .read_end = pg_read_end,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
    .tx_begin = pg_tx_begin,
    .tx_savepoint = pg_tx_savepoint,
    .tx_rollback_to = pg_tx_rollback_to,
    .tx_release = pg_tx_release,
    /* a backend caches the ids of 64 subtransactions (PGPROC_MAX_CACHED_SUBXIDS); past that,
     * while the transaction runs, every snapshot on the server consults pg_subtrans */
    .savepoint_jobs_max = 64,
    .tx_commit = pg_tx_commit,
    .tx_rollback = pg_tx_rollback,
    .tx_retryable = pg_tx_retryable,
    .tx_unavailable_recurs = pg_tx_unavailable_recurs,
    .tx_intact = pg_tx_intact,
    .group_items_max = pg_group_items_max,
    .ready_check = pg_ready_check,
    .write_metrics = pg_write_metrics,
    .unavailable_reason = pg_unavailable_reason,
    .describe = pg_describe,
    .key_insert = pg_key_insert,
    .key_revoke = pg_key_revoke,
    .key_find_by_hash = pg_key_find_by_hash,
    .key_list = pg_key_list,
    .key_count_admins = pg_key_count_admins,
    .key_count_named = pg_key_count_named,
    .audit_append = pg_audit_append,
    .audit_list = pg_audit_list,
    .metric_put = pg_metric_put,
    .metric_get = pg_metric_get,
    .metric_delete = pg_metric_delete,
    .metric_list = pg_metric_list,
    .metric_users = pg_metric_users,
    .experiment_put = pg_experiment_put,
    .experiment_get = pg_experiment_get,
    .experiment_delete = pg_experiment_delete,
    .experiment_list = pg_experiment_list,
    .catalog_bump = pg_catalog_bump,
    .catalog_version = pg_catalog_version,
    .rollup_rebuild = pg_rollup_rebuild,
    .rollup_read = pg_rollup_read,
    .rollup_daily = pg_rollup_daily,
    .exposure_by_variant = pg_exposure_by_variant,
    .compact = pg_compact,
    .lock_users = pg_lock_users,
    .events_insert = pg_events_insert,
    .users_with_events = pg_users_with_events,
    .users_with_events_ahead = pg_users_with_events_ahead,
    .events_raw = pg_events_raw,
    .exposures_of_users = pg_exposures_of_users,
    .exposures_get = pg_exposures_get,
    .exposures_put = pg_exposures_put,
    .user_metrics_get = pg_user_metrics_get,
    .user_metrics_put = pg_user_metrics_put,
    .rollup_add = pg_rollup_add,
    .users_page = pg_users_page,
    .saved_group_put = pg_saved_group_put,
    .saved_group_get = pg_saved_group_get,
    .saved_group_delete = pg_saved_group_delete,
    .saved_group_list = pg_saved_group_list,
    .saved_group_versions = pg_saved_group_versions,
    .saved_group_read = pg_saved_group_read,
    .key_set_encryption = pg_key_set_encryption,
    .key_encryption = pg_key_encryption,
    .check = pg_check,
    .is_corrupt = pg_is_corrupt,
    .answering = pg_answering,
    .shutdown_begin = pg_shutdown_begin,
    .backup = pg_backup,
    .rebuild_begin = pg_rebuild_begin,
    .rebuild_get = pg_rebuild_get,
    .rebuild_list = pg_rebuild_list,
    .rebuild_users_after = pg_rebuild_users_after,
    .rebuild_range = pg_rebuild_range,
    .rebuild_advance = pg_rebuild_advance,
    .rebuild_end = pg_rebuild_end,
    .rebuild_keep_ratios = pg_rebuild_keep_ratios,
    .rebuild_ratio_read = pg_rebuild_ratio_read,
    .rebuild_keep_metric = pg_rebuild_keep_metric,
    .rebuild_metric_get = pg_rebuild_metric_get,
    .rebuild_cursors = pg_rebuild_cursors,
    .dims_get = pg_dims_get,
    .dims_put = pg_dims_put,
    .dim_values_known = pg_dim_values_known,
    .dim_values_put = pg_dim_values_put,
    .dim_values_lock = pg_dim_values_lock,
    .slice_add = pg_slice_add,
    .slice_read = pg_slice_read,
    .slice_exposures = pg_slice_exposures,
};
