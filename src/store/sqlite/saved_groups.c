/*
 * saved_groups.c - the SQLite adapter's part of issue 15: the saved_groups table (store.h
 * "Saved groups"; documents are opaque JSON text here, read by src/core/saved_group.c, with
 * the version of their last write, migration 0017) and the encryption key of sdk keys
 * (api_keys.encryption_key). The groups are catalogue documents read and written by catalog.c's
 * sqlite_doc_* like the metrics. Writes run inside a writer transaction; reads use the calling
 * thread's read connection, or the transaction's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "sqlite_int.h"

/* every write takes a version never used before (migration 0017): the counter first, then the
 * row with it */
static const char SQL_GROUP_VERSION_BUMP[] =
    "INSERT INTO meta (key, value) VALUES ('saved_group_version', '1') ON CONFLICT (key) DO "
    "UPDATE SET value = CAST(value AS INTEGER) + 1";
#define GROUP_VERSION "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'saved_group_version')"
static const char SQL_GROUP_INSERT[] =
    "INSERT INTO saved_groups (key, doc, created_at, updated_at, version) VALUES (?1, ?2, ?3, "
    "?4, " GROUP_VERSION ")";
static const char SQL_GROUP_UPDATE[] =
    "UPDATE saved_groups SET doc = ?2, updated_at = ?4, version = " GROUP_VERSION " WHERE key = ?1";
static const char SQL_GROUP_VERSIONS[] = "SELECT key, version FROM saved_groups ORDER BY key";
static const char SQL_GROUP_READ[] = "SELECT doc, version FROM saved_groups WHERE key = ?";
static const char SQL_GROUP_GET[] = "SELECT doc FROM saved_groups WHERE key = ?";
static const char SQL_GROUP_DELETE[] = "DELETE FROM saved_groups WHERE key = ?";
static const char SQL_GROUP_LIST[] = "SELECT doc FROM saved_groups ORDER BY key";

int sqlite_saved_group_put(struct store_tx *tx, const char *key, const char *doc,
                           int64_t created_at, int64_t updated_at, bool create, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, SQL_GROUP_VERSION_BUMP, err);
    if (st == NULL || sqlite_conn_step_done(tx->conn, st, "saved group version", err) != 0) {
        return -1;
    }
    return sqlite_doc_put(tx, create ? SQL_GROUP_INSERT : SQL_GROUP_UPDATE, "saved group", key, doc,
                          created_at, updated_at, create, err);
}

int sqlite_saved_group_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                           struct err *err)
{
    return sqlite_doc_get(s, tx, SQL_GROUP_GET, "saved group", "read saved group", key, doc, NULL,
                          err);
}

int sqlite_saved_group_delete(struct store_tx *tx, const char *key, struct err *err)
{
    return sqlite_doc_delete(tx, SQL_GROUP_DELETE, "saved group", key, err);
}

int sqlite_saved_group_list(struct store *s, struct store_tx *tx,
                            void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err)
{
    return sqlite_doc_list(s, tx, SQL_GROUP_LIST, NULL, "list saved groups", emit, ctx, err);
}

int sqlite_saved_group_versions(struct store *s,
                                void (*emit)(void *ctx, const char *key, int64_t version),
                                void *ctx, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_GROUP_VERSIONS, &c, err);
    if (st == NULL) {
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        emit(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "list saved group versions", err);
}

int sqlite_saved_group_read(struct store *s, const char *key, char **doc, int64_t *version,
                            struct err *err)
{
    return sqlite_doc_get(s, NULL, SQL_GROUP_READ, "saved group", "read saved group", key, doc,
                          version, err);
}

static const char SQL_KEY_SET_ENC[] = "UPDATE api_keys SET encryption_key = ?2 WHERE id = ?1";
static const char SQL_KEY_GET_ENC[] =
    "SELECT encryption_key FROM api_keys WHERE id = ? AND revoked_at IS NULL";

int sqlite_key_set_encryption(struct store_tx *tx, const char *id, const char *secret,
                              struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, SQL_KEY_SET_ENC, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, id);
    sqlite_bind_str(st, 2, secret);
    if (sqlite_conn_step_done(tx->conn, st, "set encryption key", err) != 0) {
        return -1;
    }
    if (sqlite3_changes(sqlite_tx_db(tx)) == 0) {
        return err_set(err, ERR_NOT_FOUND, NULL, "no key '%s'", id);
    }
    return 0;
}

int sqlite_key_encryption(struct store *s, const char *id, char *out, size_t n, struct err *err)
{
    out[0] = '\0';
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_KEY_GET_ENC, &c, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) == SQLITE_TEXT) {
            sqlite_column_copy(st, 0, out, n);
        }
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        return err_set(err, ERR_NOT_FOUND, NULL, "no active key '%s'", id);
    }
    return store_sqlite_err(c->db, rc, "read encryption key", err);
}
