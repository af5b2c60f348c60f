/*
 * catalog.c - the SQLite adapter's metrics and experiments tables, the catalogue version
 * (store.h), and the reads and writes of a catalogue document by key (sqlite_doc_*), which
 * saved_groups.c uses for the saved groups too. Documents are opaque JSON text here; their
 * meaning lives in src/core/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "sqlite_int.h"

/* ---- metrics ---- */

static const char SQL_METRIC_INSERT[] =
    "INSERT INTO metrics (key, doc, created_at, updated_at) VALUES (?, ?, ?, ?)";
static const char SQL_METRIC_UPDATE[] =
    "UPDATE metrics SET doc = ?2, updated_at = ?4 WHERE key = ?1";
static const char SQL_METRIC_GET[] = "SELECT doc FROM metrics WHERE key = ?";
static const char SQL_METRIC_DELETE[] = "DELETE FROM metrics WHERE key = ?";
static const char SQL_METRIC_LIST[] = "SELECT doc FROM metrics ORDER BY key";
static const char SQL_METRIC_USERS[] =
    "SELECT e.key FROM experiment_metrics m JOIN experiments e ON e.key = m.experiment "
    "WHERE m.metric = ?1 AND (?2 OR e.status <> 'archived') ORDER BY e.key";

/* Step st, a bound insert (create) or update of the row of key, and say what it did. */
static int step_put(struct store_tx *tx, sqlite3_stmt *st, const char *what, const char *key,
                    bool create, struct err *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        return err_set(err, ERR_CONFLICT, "key", "%s '%s' already exists", what, key);
    }
    if (rc != SQLITE_DONE) {
        char op[64];
        snprintf(op, sizeof(op), "save %s", what);
        return store_sqlite_err(sqlite_tx_db(tx), rc, op, err);
    }
    if (!create && sqlite3_changes(sqlite_tx_db(tx)) == 0) {
        return err_set(err, ERR_NOT_FOUND, NULL, "no %s '%s'", what, key);
    }
    return 0;
}

int sqlite_doc_put(struct store_tx *tx, const char *sql, const char *what, const char *key,
                   const char *doc, int64_t created_at, int64_t updated_at, bool create,
                   struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, sql, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, key);
    sqlite_bind_str(st, 2, doc);
    sqlite3_bind_int64(st, 3, created_at);
    sqlite3_bind_int64(st, 4, updated_at);
    return step_put(tx, st, what, key, create, err);
}

int sqlite_metric_put(struct store_tx *tx, const char *key, const char *doc, int64_t created_at,
                      int64_t updated_at, bool create, struct err *err)
{
    return sqlite_doc_put(tx, create ? SQL_METRIC_INSERT : SQL_METRIC_UPDATE, "metric", key, doc,
                          created_at, updated_at, create, err);
}

int sqlite_doc_get(struct store *s, struct store_tx *tx, const char *sql, const char *what,
                   const char *op, const char *key, char **doc, int64_t *version, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, tx, sql, &c, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *doc = xstrdup((const char *)sqlite3_column_text(st, 0));
        if (version != NULL) {
            *version = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        return err_set(err, ERR_NOT_FOUND, NULL, "no %s '%s'", what, key);
    }
    return store_sqlite_err(c->db, rc, op, err);
}

int sqlite_metric_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                      struct err *err)
{
    return sqlite_doc_get(s, tx, SQL_METRIC_GET, "metric", "metric", key, doc, NULL, err);
}

int sqlite_doc_delete(struct store_tx *tx, const char *sql, const char *what, const char *key,
                      struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, sql, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, key);
    char op[64];
    snprintf(op, sizeof(op), "delete %s", what);
    if (sqlite_conn_step_done(tx->conn, st, op, err) != 0) {
        return -1;
    }
    if (sqlite3_changes(sqlite_tx_db(tx)) == 0) {
        return err_set(err, ERR_NOT_FOUND, NULL, "no %s '%s'", what, key);
    }
    return 0;
}

int sqlite_metric_delete(struct store_tx *tx, const char *key, struct err *err)
{
    return sqlite_doc_delete(tx, SQL_METRIC_DELETE, "metric", key, err);
}

int sqlite_doc_list(struct store *s, struct store_tx *tx, const char *sql, const char *arg,
                    const char *op, void (*emit)(void *ctx, const char *doc), void *ctx,
                    struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, tx, sql, &c, err);
    if (st == NULL) {
        return -1;
    }
    if (arg != NULL) {
        sqlite_bind_str(st, 1, arg);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        emit(ctx, (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return store_sqlite_err(c->db, rc, op, err);
    }
    return 0;
}

int sqlite_metric_list(struct store *s, void (*emit)(void *ctx, const char *doc), void *ctx,
                       struct err *err)
{
    return sqlite_doc_list(s, NULL, SQL_METRIC_LIST, NULL, "list", emit, ctx, err);
}

int sqlite_metric_users(struct store_tx *tx, const char *metric, bool include_archived,
                        char ***keys, size_t *n, struct err *err)
{
    *keys = NULL;
    *n = 0;
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, SQL_METRIC_USERS, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, metric);
    sqlite3_bind_int(st, 2, include_archived);
    int rc;
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *keys = xrealloc(*keys, cap * sizeof(**keys));
        }
        (*keys)[(*n)++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        store_keys_free(*keys, *n);
        *keys = NULL;
        *n = 0;
        return store_sqlite_err(sqlite_tx_db(tx), rc, "metric users", err);
    }
    return 0;
}

/* ---- experiments ---- */

static const char SQL_EXP_INSERT[] = "INSERT INTO experiments (key, status, doc, created_at, "
                                     "updated_at) VALUES (?, ?, ?, ?, ?)";
static const char SQL_EXP_UPDATE[] =
    "UPDATE experiments SET status = ?2, doc = ?3, updated_at = ?5 WHERE key = ?1";
static const char SQL_EXP_GET[] = "SELECT doc FROM experiments WHERE key = ?";
static const char SQL_EXP_DELETE[] = "DELETE FROM experiments WHERE key = ?";
static const char SQL_EXP_LIST_ALL[] = "SELECT doc FROM experiments ORDER BY key";
static const char SQL_EXP_LIST_STATUS[] =
    "SELECT doc FROM experiments WHERE status = ? ORDER BY key";
static const char SQL_EXP_METRICS_CLEAR[] = "DELETE FROM experiment_metrics WHERE experiment = ?";
static const char SQL_EXP_METRICS_ADD[] =
    "INSERT OR IGNORE INTO experiment_metrics (metric, experiment) VALUES (?, ?)";

int sqlite_experiment_put(struct store_tx *tx, const char *key, const char *status, const char *doc,
                          const char *const *metrics, size_t nmetrics, int64_t created_at,
                          int64_t updated_at, bool create, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, create ? SQL_EXP_INSERT : SQL_EXP_UPDATE, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, key);
    sqlite_bind_str(st, 2, status);
    sqlite_bind_str(st, 3, doc);
    sqlite3_bind_int64(st, 4, created_at);
    sqlite3_bind_int64(st, 5, updated_at);
    if (step_put(tx, st, "experiment", key, create, err) != 0 ||
        sqlite_catalog_bump(tx, err) != 0) {
        return -1;
    }
    st = sqlite_conn_prepare(tx->conn, SQL_EXP_METRICS_CLEAR, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, key);
    if (sqlite_conn_step_done(tx->conn, st, "experiment metrics", err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < nmetrics; i++) {
        st = sqlite_conn_prepare(tx->conn, SQL_EXP_METRICS_ADD, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_str(st, 1, metrics[i]);
        sqlite_bind_str(st, 2, key);
        if (sqlite_conn_step_done(tx->conn, st, "experiment metrics", err) != 0) {
            return -1;
        }
    }
    return 0;
}

int sqlite_experiment_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                          struct err *err)
{
    return sqlite_doc_get(s, tx, SQL_EXP_GET, "experiment", "experiment", key, doc, NULL, err);
}

int sqlite_experiment_delete(struct store_tx *tx, const char *key, struct err *err)
{
    if (sqlite_doc_delete(tx, SQL_EXP_DELETE, "experiment", key, err) != 0) {
        return -1;
    }
    return sqlite_catalog_bump(tx, err);
}

int sqlite_experiment_list(struct store *s, struct store_tx *tx, const char *status,
                           void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err)
{
    return sqlite_doc_list(s, tx, status ? SQL_EXP_LIST_STATUS : SQL_EXP_LIST_ALL, status, "list",
                           emit, ctx, err);
}

/* catalog_changed_at: the last change's time (ms), strictly increasing whatever the
 * processes' clocks (one more than the last when a clock is behind), the GrowthBook
 * payload's dateUpdated (deletes move it too, which no row's updated_at can say) */
static const char SQL_CATALOG_BUMP[] =
    "INSERT INTO meta (key, value) VALUES ('catalog_version', '1'), ('catalog_changed_at', ?1) "
    "ON CONFLICT (key) DO UPDATE SET value = CASE key WHEN 'catalog_version' THEN "
    "CAST(value AS INTEGER) + 1 ELSE MAX(CAST(value AS INTEGER) + 1, CAST(excluded.value AS "
    "INTEGER)) END";
static const char SQL_CATALOG_VERSION[] =
    "SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'catalog_version'), 0), "
    "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'catalog_changed_at'), 0), "
    "(SELECT COALESCE(MAX(version), 0) FROM schema_migrations)";

int sqlite_catalog_bump(struct store_tx *tx, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, SQL_CATALOG_BUMP, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, time_now_ms());
    return sqlite_conn_step_done(tx->conn, st, "catalog version", err);
}

int sqlite_catalog_version(struct store *s, int64_t *version, int64_t *changed_at, struct err *err)
{
    /* serve.c's one-second poll comes here: a database file deleted or replaced under the
     * daemon is logged within a second, even when nothing probes /readyz (which reports it),
     * and so is a schema migrated under it */
    struct err lost;
    (void)sqlite_file_check(sqlite_be(s), &lost);
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_CATALOG_VERSION, &c, err);
    if (st == NULL) {
        return -1;
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return store_sqlite_err(c->db, rc, "catalog version", err);
    }
    *version = sqlite3_column_int64(st, 0);
    if (changed_at != NULL) {
        *changed_at = sqlite3_column_int64(st, 1);
    }
    /* a schema migrated under the daemon (store_schema_seen): read with the catalogue, so the
     * one-second poll finds it */
    store_schema_seen(s, sqlite3_column_int(st, 2));
    sqlite3_reset(st);
    return 0;
}
