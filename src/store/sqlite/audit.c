/*
 * audit.c - the SQLite adapter's audit_log table: append inside the caller's write transaction,
 * list newest first with keyset paging (store.h).
 */
#include <stdint.h>

#include "sqlite_int.h"

#include "bunsen/util.h"

static const char SQL_APPEND[] =
    "INSERT INTO audit_log (ts, actor_id, actor_name, action, target_type, target, "
    "before_json, after_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_LIST[] =
    "SELECT id, ts, actor_id, actor_name, action, target_type, target, before_json, after_json "
    "FROM audit_log WHERE id < ?1 AND (?2 IS NULL OR target_type = ?2) "
    "AND (?3 IS NULL OR target = ?3) ORDER BY id DESC LIMIT ?4";

int sqlite_audit_append(struct store_tx *tx, const struct store_audit *e, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, SQL_APPEND, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, time_now_ms());
    sqlite_bind_str(st, 2, e->actor_id);
    sqlite_bind_str(st, 3, e->actor_name);
    sqlite_bind_str(st, 4, e->action);
    sqlite_bind_str(st, 5, e->target_type);
    sqlite_bind_str(st, 6, e->target);
    sqlite_bind_str(st, 7, e->before_json);
    sqlite_bind_str(st, 8, e->after_json);
    if (sqlite_conn_step_done(tx->conn, st, "append audit entry", err) != 0) {
        return -1;
    }
    return 0;
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int sqlite_audit_list(struct store *s, int64_t before_id, const char *target_type,
                      const char *target, int limit, size_t max_bytes,
                      void (*emit)(void *ctx, const struct store_audit *e), void *ctx,
                      struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_LIST, &c, err);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, before_id > 0 ? before_id : INT64_MAX); /* a seek, not a filter */
    sqlite_bind_str(st, 2, target_type);
    sqlite_bind_str(st, 3, target);
    sqlite3_bind_int(st, 4, limit);
    int rc;
    size_t bytes = 0;
    bool full = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* a document is read when asked for: stop at the first that would pass the bound */
        size_t b = (size_t)sqlite3_column_bytes(st, 7) + (size_t)sqlite3_column_bytes(st, 8);
        if (bytes > 0 && (bytes >= max_bytes || b > max_bytes - bytes)) {
            full = true;
            rc = SQLITE_DONE;
            break;
        }
        bytes += b > 0 ? b : 1;
        struct store_audit e = {
            .id = sqlite3_column_int64(st, 0),
            .ts = sqlite3_column_int64(st, 1),
            .actor_id = col(st, 2),
            .actor_name = col(st, 3),
            .action = col(st, 4),
            .target_type = col(st, 5),
            .target = col(st, 6),
            .before_json = col(st, 7),
            .after_json = col(st, 8),
        };
        emit(ctx, &e);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return store_sqlite_err(c->db, rc, "list audit log", err);
    }
    return full ? 1 : 0;
}
