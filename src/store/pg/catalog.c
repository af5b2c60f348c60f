/*
 * catalog.c - the PostgreSQL adapter's keys, audit log, metrics, experiments and
 * catalogue version (store.h), and the reads and writes of a catalogue document by key
 * (pg_doc_get, pg_doc_list, pg_write_one), which saved_groups.c uses too. A
 * definition change takes the catalogue advisory lock exclusively (ingestion holds it
 * shared: see db.c) and NOTIFYs the other daemons.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/auth.h"
#include "bunsen/util.h"
#include "pg_int.h"

#define I64(buf, v) (snprintf((buf), sizeof(buf), "%" PRId64, (int64_t)(v)), (const char *)(buf))

/* ---- keys ---- */

static void row_to_key(const PGresult *r, int row, struct store_key *k)
{
    snprintf(k->id, sizeof(k->id), "%s", PQgetvalue(r, row, 0));
    snprintf(k->name, sizeof(k->name), "%s", PQgetvalue(r, row, 1));
    snprintf(k->role, sizeof(k->role), "%s", PQgetvalue(r, row, 2));
    snprintf(k->prefix, sizeof(k->prefix), "%s", PQgetvalue(r, row, 3));
    k->created_at = pg_i64(r, row, 4);
    k->revoked_at = pg_i64(r, row, 5);
    k->encrypted = pg_i64(r, row, 6) != 0;
}

/* Key changes that depend on the count of admin keys, one at a time across daemons: a
 * revocation (the last admin may not go: two daemons revoking the last two at once left none)
 * and the count inside a transaction (two daemons starting on an empty database each created
 * a bootstrap admin key). Its own statement: under READ COMMITTED the count that follows
 * takes its snapshot after the lock is granted, so it sees every change that held it. */
static int lock_keys(struct store_tx *tx, struct err *err)
{
    static const char SQL[] = "SELECT pg_advisory_xact_lock(" PG_LOCK_CATALOG ", 2)";
    PGresult *r = pg_run(tx->conn, SQL, 0, NULL, NULL, 0, err);
    PQclear(r);
    return r ? 0 : -1;
}

int pg_key_insert(struct store_tx *tx, const struct store_key *k, const uint8_t hash[32],
                  struct err *err)
{
    static const char SQL[] = "INSERT INTO api_keys (id, name, role, hash, prefix, created_at) "
                              "VALUES ($1, $2, $3, $4::bytea, $5, $6::bigint)";
    char ts[32];
    const char *v[] = {
        k->id, k->name, k->role, (const char *)hash, k->prefix, I64(ts, k->created_at)};
    int len[] = {0, 0, 0, 32, 0, 0};
    PGresult *r = pg_run(tx->conn, SQL, 6, v, len, 1u << 3, err);
    PQclear(r);
    return r ? 0 : -1;
}

int pg_key_revoke(struct store_tx *tx, const char *id, int64_t now, struct store_key *before,
                  struct err *err)
{
    static const char SQL_GET[] =
        "SELECT id, name, role, prefix, created_at, COALESCE(revoked_at, 0), "
        "(COALESCE(encryption_key, '') <> '')::int FROM api_keys "
        "WHERE id = $1 FOR UPDATE";
    static const char SQL_REVOKE[] = "UPDATE api_keys SET revoked_at = $1::bigint WHERE id = $2";
    if (lock_keys(tx, err) != 0) {
        return -1;
    }
    const char *v[] = {id};
    PGresult *r = pg_run(tx->conn, SQL_GET, 1, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        return err_set(err, ERR_NOT_FOUND, "id", "no key with id '%s'", id);
    }
    row_to_key(r, 0, before);
    PQclear(r);
    if (before->revoked_at != 0) {
        return err_set(err, ERR_CONFLICT, "id", "key '%s' is already revoked", id);
    }
    char ts[32];
    const char *v2[] = {I64(ts, now), id};
    r = pg_run(tx->conn, SQL_REVOKE, 2, v2, NULL, 0, err);
    PQclear(r);
    return r ? 0 : -1;
}

int pg_key_find_by_hash(struct store *s, const uint8_t hash[32], struct store_key *out,
                        struct err *err)
{
    static const char SQL[] = "SELECT id, name, role, prefix, created_at, "
                              "COALESCE(revoked_at, 0), (COALESCE(encryption_key, '') <> '')::int, "
                              "hash FROM api_keys "
                              "WHERE hash = $1::bytea AND revoked_at IS NULL";
    const char *v[] = {(const char *)hash};
    int len[] = {32};
    PGresult *r = pg_read(s, NULL, SQL, 1, v, len, 1u, err);
    if (r == NULL) {
        return -1;
    }
    int rc = -1;
    if (PQntuples(r) > 0) {
        size_t blen = 0;
        unsigned char *stored = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 7), &blen);
        if (stored != NULL && blen == 32 && auth_hash_equal(stored, hash)) {
            row_to_key(r, 0, out);
            rc = 0;
        } else {
            err_set(err, ERR_NOT_FOUND, NULL, "unknown key");
        }
        PQfreemem(stored);
    } else {
        err_set(err, ERR_NOT_FOUND, NULL, "unknown key");
    }
    PQclear(r);
    return rc;
}

int pg_key_list(struct store *s, bool include_revoked, struct store_key **out, size_t *n,
                struct err *err)
{
    static const char SQL_ALL[] =
        "SELECT id, name, role, prefix, created_at, COALESCE(revoked_at, 0), "
        "(COALESCE(encryption_key, '') <> '')::int FROM api_keys "
        "ORDER BY created_at DESC, id COLLATE \"C\"";
    static const char SQL_ACTIVE[] =
        "SELECT id, name, role, prefix, created_at, COALESCE(revoked_at, 0), "
        "(COALESCE(encryption_key, '') <> '')::int FROM api_keys "
        "WHERE revoked_at IS NULL ORDER BY created_at DESC, id COLLATE \"C\"";
    *out = NULL;
    *n = 0;
    PGresult *r = pg_read(s, NULL, include_revoked ? SQL_ALL : SQL_ACTIVE, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    int rows = PQntuples(r);
    *out = xcalloc(rows ? (size_t)rows : 1, sizeof(**out));
    for (int i = 0; i < rows; i++) {
        row_to_key(r, i, &(*out)[i]);
    }
    *n = (size_t)rows;
    PQclear(r);
    return 0;
}

int pg_key_count_admins(struct store *s, struct store_tx *tx, int *n, struct err *err)
{
    static const char SQL[] =
        "SELECT COUNT(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL";
    if (tx != NULL && lock_keys(tx, err) != 0) {
        return -1;
    }
    PGresult *r = pg_read(s, tx, SQL, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    *n = (int)pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int pg_key_count_named(struct store_tx *tx, const char *name, int *n, struct err *err)
{
    static const char SQL[] =
        "SELECT COUNT(*) FROM api_keys WHERE lower(name COLLATE \"C\") = lower($1 COLLATE \"C\") "
        "AND revoked_at IS NULL";
    /* the keys' lock: two daemons creating keys of one name take turns, the second sees the
     * first's */
    if (lock_keys(tx, err) != 0) {
        return -1;
    }
    const char *v[] = {name};
    PGresult *r = pg_run(tx->conn, SQL, 1, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    *n = (int)pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

/* ---- audit ---- */

int pg_audit_append(struct store_tx *tx, const struct store_audit *e, struct err *err)
{
    static const char SQL[] =
        "INSERT INTO audit_log (ts, actor_id, actor_name, action, target_type, target, "
        "before_json, after_json) VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, $8)";
    /* Appends one at a time across daemons, each holding the lock until its commit: ids are
     * then allocated in commit order, and a reader paging down with before= never passes an
     * id that commits later (two daemons' admin writes committed out of id order, and an
     * entry could be skipped by a reader paging at that moment). The last lock its
     * transaction takes, and audited writes run alone: nothing waits behind it but another
     * audited write. */
    static const char SQL_LOCK[] = "SELECT pg_advisory_xact_lock(" PG_LOCK_CATALOG ", 3)";
    PGresult *l = pg_run(tx->conn, SQL_LOCK, 0, NULL, NULL, 0, err);
    if (l == NULL) {
        return -1;
    }
    PQclear(l);
    char ts[32];
    const char *v[] = {I64(ts, time_now_ms()), e->actor_id, e->actor_name,  e->action,
                       e->target_type,         e->target,   e->before_json, e->after_json};
    PGresult *r = pg_run(tx->conn, SQL, 8, v, NULL, 0, err);
    PQclear(r);
    return r ? 0 : -1;
}

int pg_audit_list(struct store *s, int64_t before_id, const char *target_type, const char *target,
                  int limit, size_t max_bytes, void (*emit)(void *ctx, const struct store_audit *e),
                  void *ctx, struct err *err)
{
    /* the page's entries, then the running size of their documents (octet_length reads a
     * stored document's size, not the document), then only the entries within $5 bytes
     * (the first always): the documents left out are never fetched. The last column says
     * whether an entry was left out for the bound. */
    static const char SQL[] =
        "SELECT id, ts, actor_id, actor_name, action, target_type, target, before_json, "
        "after_json, (SELECT count(*) FROM (SELECT 1 FROM audit_log WHERE id < $1::bigint "
        "AND ($2::text IS NULL OR target_type = $2::text) AND ($3::text IS NULL OR target = "
        "$3::text) ORDER BY id DESC LIMIT $4::int) n) FROM (SELECT *, sum(sz) OVER (ORDER BY id "
        "DESC) AS run FROM (SELECT *, COALESCE(octet_length(before_json), 0) + "
        "COALESCE(octet_length(after_json), 0) AS sz FROM audit_log WHERE id < $1::bigint "
        "AND ($2::text IS NULL OR target_type = $2::text) AND ($3::text IS NULL OR target = "
        "$3::text) ORDER BY id DESC LIMIT $4::int) l) w WHERE run - sz = 0 OR run <= $5::bigint "
        "ORDER BY id DESC";
    char b[32], l[32], m[32];
    /* the first page is "before INT64_MAX": the keyset is an index condition, never a filter */
    const char *v[] = {I64(b, before_id > 0 ? before_id : INT64_MAX), target_type, target,
                       I64(l, limit),
                       I64(m, max_bytes < INT64_MAX ? (int64_t)max_bytes : INT64_MAX)};
    PGresult *r = pg_read(s, NULL, SQL, 5, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_audit e = {
            .id = pg_i64(r, i, 0),
            .ts = pg_i64(r, i, 1),
            .actor_id = pg_str(r, i, 2),
            .actor_name = pg_str(r, i, 3),
            .action = pg_str(r, i, 4),
            .target_type = pg_str(r, i, 5),
            .target = pg_str(r, i, 6),
            .before_json = pg_str(r, i, 7),
            .after_json = pg_str(r, i, 8),
        };
        emit(ctx, &e);
    }
    bool full = PQntuples(r) > 0 && pg_i64(r, 0, 9) > PQntuples(r);
    PQclear(r);
    return full ? 1 : 0;
}

/* ---- metrics and experiments ---- */

/* A definition change: serialize with every daemon's ingestion (see db.c). */
static int lock_catalog(struct store_tx *tx, struct err *err)
{
    static const char SQL[] = "SELECT pg_advisory_xact_lock(" PG_LOCK_CATALOG ", 1)";
    PGresult *r = pg_run(tx->conn, SQL, 0, NULL, NULL, 0, err);
    PQclear(r);
    return r ? 0 : -1;
}

int pg_write_one(struct store_tx *tx, const char *sql, int n, const char *const *v,
                 const char *what, const char *key, bool insert, struct err *err)
{
    PGresult *r = pg_run(tx->conn, sql, n, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    bool none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (!none) {
        return 0;
    }
    return insert ? err_set(err, ERR_CONFLICT, "key", "%s '%s' already exists", what, key)
                  : err_set(err, ERR_NOT_FOUND, NULL, "no %s '%s'", what, key);
}

int pg_metric_put(struct store_tx *tx, const char *key, const char *doc, int64_t created_at,
                  int64_t updated_at, bool create, struct err *err)
{
    static const char SQL_INSERT[] =
        "INSERT INTO metrics (key, doc, created_at, updated_at) VALUES ($1, $2, $3::bigint, "
        "$4::bigint) ON CONFLICT (key) DO NOTHING";
    static const char SQL_UPDATE[] =
        "UPDATE metrics SET doc = $2, updated_at = $4::bigint WHERE key = $1 AND $3::bigint "
        "IS NOT NULL";
    if (lock_catalog(tx, err) != 0) {
        return -1;
    }
    char c[32], u[32];
    const char *v[] = {key, doc, I64(c, created_at), I64(u, updated_at)};
    return pg_write_one(tx, create ? SQL_INSERT : SQL_UPDATE, 4, v, "metric", key, create, err);
}

int pg_doc_get(struct store *s, struct store_tx *tx, const char *sql, const char *what,
               const char *key, char **doc, int64_t *version, struct err *err)
{
    const char *v[] = {key};
    PGresult *r = pg_read(s, tx, sql, 1, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    int rc = 0;
    if (PQntuples(r) == 0) {
        rc = err_set(err, ERR_NOT_FOUND, NULL, "no %s '%s'", what, key);
    } else {
        *doc = xstrdup(PQgetvalue(r, 0, 0));
        if (version != NULL) {
            *version = pg_i64(r, 0, 1);
        }
    }
    PQclear(r);
    return rc;
}

int pg_metric_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                  struct err *err)
{
    static const char SQL[] = "SELECT doc FROM metrics WHERE key = $1";
    return pg_doc_get(s, tx, SQL, "metric", key, doc, NULL, err);
}

int pg_metric_delete(struct store_tx *tx, const char *key, struct err *err)
{
    static const char SQL[] = "DELETE FROM metrics WHERE key = $1";
    if (lock_catalog(tx, err) != 0) {
        return -1;
    }
    const char *v[] = {key};
    return pg_write_one(tx, SQL, 1, v, "metric", key, false, err);
}

int pg_emit_column0(PGresult *r, void (*emit)(void *ctx, const char *text), void *ctx)
{
    if (r == NULL) {
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        emit(ctx, PQgetvalue(r, i, 0));
    }
    PQclear(r);
    return 0;
}

int pg_doc_list(struct store *s, struct store_tx *tx, const char *sql, const char *arg,
                void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err)
{
    const char *v[] = {arg};
    return pg_emit_column0(pg_read(s, tx, sql, arg ? 1 : 0, v, NULL, 0, err), emit, ctx);
}

int pg_metric_list(struct store *s, void (*emit)(void *ctx, const char *doc), void *ctx,
                   struct err *err)
{
    static const char SQL[] = "SELECT doc FROM metrics ORDER BY key COLLATE \"C\"";
    return pg_doc_list(s, NULL, SQL, NULL, emit, ctx, err);
}

int pg_metric_users(struct store_tx *tx, const char *metric, bool include_archived, char ***keys,
                    size_t *n, struct err *err)
{
    static const char SQL[] =
        "SELECT e.key FROM experiment_metrics m JOIN experiments e ON e.key = m.experiment "
        "WHERE m.metric = $1 AND ($2::bool OR e.status <> 'archived') ORDER BY e.key COLLATE "
        "\"C\"";
    *keys = NULL;
    *n = 0;
    const char *v[] = {metric, include_archived ? "true" : "false"};
    PGresult *r = pg_run(tx->conn, SQL, 2, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    int rows = PQntuples(r);
    if (rows > 0) {
        *keys = xcalloc((size_t)rows, sizeof(**keys));
        for (int i = 0; i < rows; i++) {
            (*keys)[i] = xstrdup(PQgetvalue(r, i, 0));
        }
    }
    *n = (size_t)rows;
    PQclear(r);
    return 0;
}

int pg_experiment_put(struct store_tx *tx, const char *key, const char *status, const char *doc,
                      const char *const *metrics, size_t nmetrics, int64_t created_at,
                      int64_t updated_at, bool create, struct err *err)
{
    static const char SQL_INSERT[] =
        "INSERT INTO experiments (key, status, doc, created_at, updated_at) VALUES ($1, $2, $3, "
        "$4::bigint, $5::bigint) ON CONFLICT (key) DO NOTHING";
    static const char SQL_UPDATE[] =
        "UPDATE experiments SET status = $2, doc = $3, updated_at = $5::bigint WHERE key = $1 "
        "AND $4::bigint IS NOT NULL";
    if (lock_catalog(tx, err) != 0) {
        return -1;
    }
    char c[32], u[32];
    const char *v[] = {key, status, doc, I64(c, created_at), I64(u, updated_at)};
    if (pg_write_one(tx, create ? SQL_INSERT : SQL_UPDATE, 5, v, "experiment", key, create, err) !=
            0 ||
        pg_catalog_bump(tx, err) != 0) {
        return -1;
    }
    static const char SQL_CLEAR[] = "DELETE FROM experiment_metrics WHERE experiment = $1";
    const char *v1[] = {key};
    PGresult *r = pg_run(tx->conn, SQL_CLEAR, 1, v1, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    PQclear(r);
    if (nmetrics == 0) {
        return 0;
    }
    static const char SQL_ADD[] = "INSERT INTO experiment_metrics (metric, experiment) "
                                  "SELECT DISTINCT m, $1 FROM unnest($2::text[]) m";
    struct pg_text t = {0};
    pg_array_strv(&t, metrics, nmetrics);
    const char *v2[] = {key, t.p};
    r = pg_run(tx->conn, SQL_ADD, 2, v2, NULL, 0, err);
    pg_text_free(&t);
    PQclear(r);
    return r ? 0 : -1;
}

int pg_experiment_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                      struct err *err)
{
    static const char SQL[] = "SELECT doc FROM experiments WHERE key = $1";
    return pg_doc_get(s, tx, SQL, "experiment", key, doc, NULL, err);
}

int pg_experiment_delete(struct store_tx *tx, const char *key, struct err *err)
{
    static const char SQL[] = "DELETE FROM experiments WHERE key = $1";
    if (lock_catalog(tx, err) != 0) {
        return -1;
    }
    const char *v[] = {key};
    if (pg_write_one(tx, SQL, 1, v, "experiment", key, false, err) != 0) {
        return -1;
    }
    return pg_catalog_bump(tx, err);
}

int pg_experiment_list(struct store *s, struct store_tx *tx, const char *status,
                       void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err)
{
    static const char SQL_ALL[] = "SELECT doc FROM experiments ORDER BY key COLLATE \"C\"";
    static const char SQL_STATUS[] =
        "SELECT doc FROM experiments WHERE status = $1 ORDER BY key COLLATE \"C\"";
    return pg_doc_list(s, tx, status ? SQL_STATUS : SQL_ALL, status, emit, ctx, err);
}

int pg_catalog_bump(struct store_tx *tx, struct err *err)
{
    /* catalog_changed_at: the last change's time (ms), strictly increasing whatever the
     * daemons' clocks (one more than the last when a clock is behind), the GrowthBook
     * payload's dateUpdated (deletes move it too, which no row's updated_at can say) */
    static const char SQL[] =
        "INSERT INTO meta (key, value) VALUES ('catalog_version', '1'), ('catalog_changed_at', $1) "
        "ON CONFLICT (key) DO UPDATE SET value = CASE meta.key WHEN 'catalog_version' THEN "
        "(meta.value::bigint + 1)::text ELSE GREATEST(meta.value::bigint + 1, "
        "excluded.value::bigint)::text END";
    if (lock_catalog(tx, err) != 0) {
        return -1;
    }
    char now[32];
    const char *v[] = {I64(now, time_now_ms())};
    PGresult *r = pg_run(tx->conn, SQL, 1, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    PQclear(r);
    /* delivered to the other daemons' listeners at COMMIT (never on the ingestion path) */
    static const char SQL_NOTIFY[] = "NOTIFY bunsen_catalog";
    r = pg_run(tx->conn, SQL_NOTIFY, 0, NULL, NULL, 0, err);
    PQclear(r);
    return r ? 0 : -1;
}

int pg_catalog_version(struct store *s, int64_t *version, int64_t *changed_at, struct err *err)
{
    /* one statement: the pair one transaction committed */
    static const char SQL[] =
        "SELECT COALESCE((SELECT value::bigint FROM meta WHERE key = 'catalog_version'), 0), "
        "COALESCE((SELECT value::bigint FROM meta WHERE key = 'catalog_changed_at'), 0), "
        "(SELECT COALESCE(MAX(version), 0) FROM schema_migrations)";
    PGresult *r = pg_read(s, NULL, SQL, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    *version = pg_i64(r, 0, 0);
    if (changed_at != NULL) {
        *changed_at = pg_i64(r, 0, 1);
    }
    /* the first new daemon of a rolling upgrade migrated the database: the old ones refuse
     * writes from their next poll on (store_schema_seen; docs/SCALING.md) */
    store_schema_seen(s, (int)pg_i64(r, 0, 2));
    PQclear(r);
    return 0;
}
