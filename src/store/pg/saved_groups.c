/*
 * saved_groups.c - the PostgreSQL adapter's part of issue 15 (migrations/postgres/0004): the
 * saved_groups table (store.h "Saved groups"; documents are opaque JSON text here, read by
 * src/core/saved_group.c, with the version of their last write: migration 0017) and the
 * encryption key of sdk keys (api_keys.encryption_key).
 * The groups are catalogue documents read and written with catalog.c's helpers, as the
 * metrics. Writes run inside the writer's transaction (the api layer bumps the catalogue
 * version in the same one, so every daemon reloads its snapshot); reads use a pooled
 * connection, or the transaction's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "pg_int.h"

#define I64(buf, v) (snprintf((buf), sizeof(buf), "%" PRId64, (int64_t)(v)), (const char *)(buf))

int pg_saved_group_put(struct store_tx *tx, const char *key, const char *doc, int64_t created_at,
                       int64_t updated_at, bool create, struct err *err)
{
    /* every write takes a version never used before (migration 0017): the counter first */
    static const char SQL_BUMP[] =
        "INSERT INTO meta (key, value) VALUES ('saved_group_version', '1') ON CONFLICT (key) DO "
        "UPDATE SET value = (meta.value::bigint + 1)::text";
#define GROUP_VERSION "(SELECT value::bigint FROM meta WHERE key = 'saved_group_version')"
    static const char SQL_INSERT[] =
        "INSERT INTO saved_groups (key, doc, created_at, updated_at, version) VALUES ($1, $2, "
        "$3::bigint, $4::bigint, " GROUP_VERSION ") ON CONFLICT (key) DO NOTHING";
    static const char SQL_UPDATE[] =
        "UPDATE saved_groups SET doc = $2, updated_at = $4::bigint, version = " GROUP_VERSION
        " WHERE key = $1 AND $3::bigint IS NOT NULL";
#undef GROUP_VERSION
    PGresult *r = pg_run(tx->conn, SQL_BUMP, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    PQclear(r);
    char c[32], u[32];
    const char *v[] = {key, doc, I64(c, created_at), I64(u, updated_at)};
    return pg_write_one(tx, create ? SQL_INSERT : SQL_UPDATE, 4, v, "saved group", key, create,
                        err);
}

int pg_saved_group_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                       struct err *err)
{
    static const char SQL[] = "SELECT doc FROM saved_groups WHERE key = $1";
    return pg_doc_get(s, tx, SQL, "saved group", key, doc, NULL, err);
}

int pg_saved_group_delete(struct store_tx *tx, const char *key, struct err *err)
{
    static const char SQL[] = "DELETE FROM saved_groups WHERE key = $1";
    const char *v[] = {key};
    return pg_write_one(tx, SQL, 1, v, "saved group", key, false, err);
}

int pg_saved_group_list(struct store *s, struct store_tx *tx,
                        void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err)
{
    static const char SQL[] = "SELECT doc FROM saved_groups ORDER BY key COLLATE \"C\"";
    return pg_doc_list(s, tx, SQL, NULL, emit, ctx, err);
}

int pg_saved_group_versions(struct store *s,
                            void (*emit)(void *ctx, const char *key, int64_t version), void *ctx,
                            struct err *err)
{
    static const char SQL[] = "SELECT key, version FROM saved_groups ORDER BY key COLLATE \"C\"";
    PGresult *r = pg_read(s, NULL, SQL, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        emit(ctx, PQgetvalue(r, i, 0), pg_i64(r, i, 1));
    }
    PQclear(r);
    return 0;
}

int pg_saved_group_read(struct store *s, const char *key, char **doc, int64_t *version,
                        struct err *err)
{
    static const char SQL[] = "SELECT doc, version FROM saved_groups WHERE key = $1";
    return pg_doc_get(s, NULL, SQL, "saved group", key, doc, version, err);
}

int pg_key_set_encryption(struct store_tx *tx, const char *id, const char *secret, struct err *err)
{
    static const char SQL[] = "UPDATE api_keys SET encryption_key = $2 WHERE id = $1";
    const char *v[] = {id, secret};
    return pg_write_one(tx, SQL, 2, v, "key", id, false, err);
}

int pg_key_encryption(struct store *s, const char *id, char *out, size_t n, struct err *err)
{
    static const char SQL[] =
        "SELECT encryption_key FROM api_keys WHERE id = $1 AND revoked_at IS NULL";
    out[0] = '\0';
    const char *v[] = {id};
    PGresult *r = pg_read(s, NULL, SQL, 1, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    int rc = 0;
    if (PQntuples(r) == 0) {
        rc = err_set(err, ERR_NOT_FOUND, NULL, "no active key '%s'", id);
    } else if (!PQgetisnull(r, 0, 0)) {
        snprintf(out, n, "%s", PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return rc;
}
