/*
 * keys.c - the SQLite adapter's api_keys table: insert, revoke, look up by hash, list (store.h).
 * Secrets never reach this file, only their SHA-256.
 */
#include "sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/auth.h"
#include "bunsen/util.h"

static const char SQL_INSERT[] =
    "INSERT INTO api_keys (id, name, role, hash, prefix, created_at) VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_GET[] = "SELECT id, name, role, prefix, created_at, COALESCE(revoked_at, 0), "
                              "COALESCE(encryption_key, '') <> '' FROM api_keys "
                              "WHERE id = ?";
static const char SQL_REVOKE[] = "UPDATE api_keys SET revoked_at = ? WHERE id = ?";
static const char SQL_FIND[] =
    "SELECT id, name, role, prefix, created_at, COALESCE(revoked_at, 0), "
    "COALESCE(encryption_key, '') <> '', hash FROM api_keys "
    "WHERE hash = ? AND revoked_at IS NULL";
static const char SQL_LIST_ALL[] =
    "SELECT id, name, role, prefix, created_at, COALESCE(revoked_at, 0), "
    "COALESCE(encryption_key, '') <> '' FROM api_keys "
    "ORDER BY created_at DESC, id";
static const char SQL_LIST_ACTIVE[] =
    "SELECT id, name, role, prefix, created_at, COALESCE(revoked_at, 0), "
    "COALESCE(encryption_key, '') <> '' FROM api_keys "
    "WHERE revoked_at IS NULL ORDER BY created_at DESC, id";
static const char SQL_COUNT_ADMINS[] =
    "SELECT COUNT(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL";

static void row_to_key(sqlite3_stmt *st, struct store_key *k)
{
    sqlite_column_copy(st, 0, k->id, sizeof(k->id));
    sqlite_column_copy(st, 1, k->name, sizeof(k->name));
    sqlite_column_copy(st, 2, k->role, sizeof(k->role));
    sqlite_column_copy(st, 3, k->prefix, sizeof(k->prefix));
    k->created_at = sqlite3_column_int64(st, 4);
    k->revoked_at = sqlite3_column_int64(st, 5);
    k->encrypted = sqlite3_column_int(st, 6) != 0;
}

int sqlite_key_insert(struct store_tx *tx, const struct store_key *k, const uint8_t hash[32],
                      struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, SQL_INSERT, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, k->id);
    sqlite_bind_str(st, 2, k->name);
    sqlite_bind_str(st, 3, k->role);
    sqlite3_bind_blob(st, 4, hash, 32, SQLITE_TRANSIENT);
    sqlite_bind_str(st, 5, k->prefix);
    sqlite3_bind_int64(st, 6, k->created_at);
    if (sqlite_conn_step_done(tx->conn, st, "insert key", err) != 0) {
        return -1;
    }
    return 0;
}

int sqlite_key_revoke(struct store_tx *tx, const char *id, int64_t now, struct store_key *before,
                      struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, SQL_GET, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return err_set(err, ERR_NOT_FOUND, "id", "no key with id '%s'", id);
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return store_sqlite_err(sqlite_tx_db(tx), rc, "read key", err);
    }
    row_to_key(st, before);
    sqlite3_reset(st);
    if (before->revoked_at != 0) {
        return err_set(err, ERR_CONFLICT, "id", "key '%s' is already revoked", id);
    }
    st = sqlite_conn_prepare(tx->conn, SQL_REVOKE, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite_bind_str(st, 2, id);
    if (sqlite_conn_step_done(tx->conn, st, "revoke key", err) != 0) {
        return -1;
    }
    return 0;
}

int sqlite_key_find_by_hash(struct store *s, const uint8_t hash[32], struct store_key *out,
                            struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_FIND, &c, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    int result = -1;
    if (rc == SQLITE_ROW) {
        const void *stored = sqlite3_column_blob(st, 7);
        if (stored != NULL && sqlite3_column_bytes(st, 7) == 32 && auth_hash_equal(stored, hash)) {
            row_to_key(st, out);
            result = 0;
        } else {
            err_set(err, ERR_NOT_FOUND, NULL, "unknown key");
        }
    } else if (rc == SQLITE_DONE) {
        err_set(err, ERR_NOT_FOUND, NULL, "unknown key");
    } else {
        store_sqlite_err(c->db, rc, "find key", err);
    }
    sqlite3_reset(st);
    return result;
}

int sqlite_key_list(struct store *s, bool include_revoked, struct store_key **out, size_t *n,
                    struct err *err)
{
    *out = NULL;
    *n = 0;
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st =
        sqlite_read_prepare(s, NULL, include_revoked ? SQL_LIST_ALL : SQL_LIST_ACTIVE, &c, err);
    if (st == NULL) {
        return -1;
    }
    size_t alloc = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == alloc) {
            alloc = alloc ? alloc * 2 : 16;
            *out = xrealloc(*out, alloc * sizeof(**out));
        }
        row_to_key(st, &(*out)[(*n)++]);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return store_sqlite_err(c->db, rc, "list keys", err);
    }
    return 0;
}

/* *n, the COUNT(*) that st (prepared on c, parameters bound) selects. */
static int step_count(struct sqlite_conn *c, sqlite3_stmt *st, int *n, struct err *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return store_sqlite_err(c->db, rc, "count keys", err);
    }
    *n = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return 0;
}

int sqlite_key_count_admins(struct store *s, struct store_tx *tx, int *n, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, tx, SQL_COUNT_ADMINS, &c, err);
    return st == NULL ? -1 : step_count(c, st, n, err);
}

int sqlite_key_count_named(struct store_tx *tx, const char *name, int *n, struct err *err)
{
    static const char SQL[] =
        "SELECT COUNT(*) FROM api_keys WHERE name = ?1 COLLATE NOCASE AND revoked_at IS NULL";
    struct sqlite_conn *c = tx->conn;
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    return step_count(c, st, n, err);
}
