/*
 * migrate.c - the SQLite adapter's schema: the schema_migrations table, the applied version
 * (read at open, and by the daemon's once-a-second poll: a newer schema than this binary's
 * refuses writes, store.c), and applying the migrations of migrations/sqlite/ in order, each
 * in a transaction of its own that records it. Only a migration not recorded yet takes the
 * write lock. Split from db.c.
 */
#include "sqlite_int.h"

#include <string.h>

#include "bunsen/migrations.h"
#include "bunsen/util.h"

static const char SQL_CREATE_MIGRATIONS[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)";
static const char SQL_MAX_VERSION[] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";

static const char SQL_HAS_MIGRATIONS[] =
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'";

int sqlite_schema_version_on(struct sqlite_conn *c, int *version, struct err *err)
{
    /* a read-only store creates no table: none is version 0 (no Bunsen database) */
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_HAS_MIGRATIONS, err);
    if (st == NULL) {
        return -1;
    }
    int has = sqlite3_step(st);
    sqlite3_reset(st);
    if (has == SQLITE_DONE) {
        *version = 0;
        return 0;
    }
    if (has != SQLITE_ROW) {
        return store_sqlite_err(c->db, has, "read schema version", err);
    }
    st = sqlite_conn_prepare(c, SQL_MAX_VERSION, err);
    if (st == NULL) {
        return -1;
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        store_sqlite_err(c->db, rc, "read schema version", err);
        sqlite3_reset(st);
        return -1;
    }
    *version = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return 0;
}

int sqlite_schema_version(struct store *s, int *version, struct err *err)
{
    return sqlite_schema_version_on(sqlite_be(s)->main, version, err);
}

int sqlite_migrations_table(struct sqlite_conn *c, struct err *err)
{
    return sqlite_conn_exec(c, SQL_CREATE_MIGRATIONS, err);
}

static const char SQL_HAS_VERSION[] = "SELECT 1 FROM schema_migrations WHERE version = ?";
static const char SQL_RECORD_VERSION[] =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)";

static int migrate_one(struct sqlite_conn *c, const struct migration *m, bool *applied,
                       struct err *err)
{
    *applied = false;
    if (sqlite_conn_exec(c, "BEGIN IMMEDIATE", err) != 0) {
        return -1;
    }
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_HAS_VERSION, err);
    if (st == NULL) {
        goto out_rollback;
    }
    sqlite3_bind_int(st, 1, m->version);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) {
        return sqlite_conn_exec(c, "COMMIT", err); /* another process applied it meanwhile */
    }
    if (rc != SQLITE_DONE) {
        store_sqlite_err(c->db, rc, m->name, err);
        goto out_rollback;
    }
    char *msg = NULL;
    rc = sqlite3_exec(c->db, m->sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, NULL, "migration %s failed: %s", m->name,
                msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        goto out_rollback;
    }
    st = sqlite_conn_prepare(c, SQL_RECORD_VERSION, err);
    if (st == NULL) {
        goto out_rollback;
    }
    sqlite3_bind_int(st, 1, m->version);
    sqlite_bind_str(st, 2, m->name);
    sqlite3_bind_int64(st, 3, time_now_ms());
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        store_sqlite_err(c->db, rc, m->name, err);
        goto out_rollback;
    }
    if (sqlite_conn_exec(c, "COMMIT", err) != 0) {
        goto out_rollback;
    }
    *applied = true;
    return 0;
out_rollback:
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Whether migration version is recorded: 1, 0, or -1 with err. A read, outside any
 * transaction: in WAL mode it needs no lock another process's write transaction holds. */
static int migration_recorded(struct sqlite_conn *c, int version, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_HAS_VERSION, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int(st, 1, version);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return store_sqlite_err(c->db, rc, "read schema migrations", err);
    }
    return rc == SQLITE_ROW ? 1 : 0;
}

/* Only a migration not recorded yet takes the write lock (migrate_one, which looks again
 * under it: another process may apply it meanwhile). Each one, applied or not, used to open
 * BEGIN IMMEDIATE: with another process holding the lock for over the busy timeout (the
 * sqlite3 CLI, a long `bunsen compact` chunk), `bunsen migrate` and every start failed after
 * 5 s with "database is locked" though there was nothing to migrate (rev-dur finding 4). */
int sqlite_migrate(struct store *s, int *applied, struct err *err)
{
    int n = 0;
    struct sqlite_conn *c = sqlite_be(s)->main;
    for (int i = 0; i < bunsen_migrations_count; i++) {
        int recorded = migration_recorded(c, bunsen_migrations[i].version, err);
        if (recorded < 0) {
            return -1;
        }
        if (recorded > 0) {
            continue;
        }
        bool did = false;
        if (migrate_one(c, &bunsen_migrations[i], &did, err) != 0) {
            if (err != NULL && strncmp(err->msg, "migration ", 10) != 0) {
                /* which one could not be applied (a full disk, a lock held too long) */
                char msg[sizeof(err->msg)];
                str_copy(msg, sizeof(msg), err->msg);
                err_set(err, err->code, NULL, "migration %s not applied: %s",
                        bunsen_migrations[i].name, msg);
            }
            return -1;
        }
        n += did ? 1 : 0;
    }
    *applied = n;
    return 0;
}
