/*
 * harness_db.c - the API tests' direct reads and writes of a daemon's database
 * (harness.h: daemon_db_*): its SQLite file in the data dir, or its PostgreSQL database,
 * with the same SQL (?N placeholders rewritten as $N for PostgreSQL), and of any SQLite file
 * (harness_file_*: backups, copies). Split from harness.c,
 * which starts daemons and speaks HTTP to them.
 */
#include "harness.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sql with ?N (and bare ?) rewritten as $N for PostgreSQL. */
static const char *pg_sql(const char *sql)
{
    static _Thread_local char out[2048];
    size_t o = 0;
    int next = 1;
    for (const char *p = sql; *p && o < sizeof(out) - 8; p++) {
        if (*p != '?') {
            out[o++] = *p;
            continue;
        }
        if (p[1] >= '0' && p[1] <= '9') {
            out[o++] = '$';
            continue;
        }
        o += (size_t)snprintf(out + o, sizeof(out) - o, "$%d", next++);
    }
    out[o] = '\0';
    return out;
}

/* Run sql on d's PostgreSQL database with n text parameters. */
/* Run sql with text parameters v[0..n); fails the test unless its status is want. */
static PGresult *pg_run_want(const struct daemon *d, const char *sql, int n, const char *const *v,
                             ExecStatusType want)
{
    PGconn *c = PQconnectdb(d->db_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    /* as many parameters as the statement names (the callers pass spare NULLs) */
    const char *q = pg_sql(sql);
    int used = 0;
    for (const char *p = strchr(q, '$'); p != NULL; p = strchr(p + 1, '$')) {
        int k = atoi(p + 1);
        used = k > used ? k : used;
    }
    n = used < n ? used : n;
    Oid types[16];
    for (int i = 0; i < n && i < 16; i++) {
        types[i] = 25; /* text */
    }
    PGresult *r = PQexecParams(c, q, n, types, v, NULL, NULL, 0);
    if (PQresultStatus(r) != want) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    PQfinish(c);
    return r;
}

static PGresult *pg_query(const struct daemon *d, const char *sql, int n, const char *const *v)
{
    return pg_run_want(d, sql, n, v, PGRES_TUPLES_OK);
}

/* sql prepared on the daemon's SQLite file (opened with flags) with text parameters bound. */
static sqlite3_stmt *sqlite_prepare(const struct daemon *d, sqlite3 **db, int flags,
                                    const char *sql, int n, const char *const *v)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/bunsen.db", d->dir);
    assert_int_equal(sqlite3_open_v2(path, db, flags, NULL), SQLITE_OK);
    sqlite3_busy_timeout(*db, 5000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(*db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(*db));
    }
    for (int i = 0; i < n; i++) {
        if (v[i] != NULL) {
            sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_TRANSIENT);
        }
    }
    return st;
}

static sqlite3_stmt *sqlite_query(const struct daemon *d, sqlite3 **db, const char *sql, int n,
                                  const char *const *v)
{
    return sqlite_prepare(d, db, SQLITE_OPEN_READONLY, sql, n, v);
}

void daemon_db_doubles(const struct daemon *d, const char *sql, double *out, int ncols, int n, ...)
{
    const char *v[16] = {0};
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && i < 16; i++) {
        v[i] = va_arg(ap, const char *);
    }
    va_end(ap);
    for (int i = 0; i < ncols; i++) {
        out[i] = 0;
    }
    if (d->db_url[0] != '\0') {
        PGresult *r = pg_query(d, sql, n, v);
        for (int i = 0; PQntuples(r) > 0 && i < ncols; i++) {
            out[i] = PQgetisnull(r, 0, i) ? 0 : strtod(PQgetvalue(r, 0, i), NULL);
        }
        PQclear(r);
        return;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = sqlite_query(d, &db, sql, n, v);
    if (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < ncols; i++) {
            out[i] = sqlite3_column_double(st, i);
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

long long daemon_db_int(const struct daemon *d, const char *sql, int n, ...)
{
    const char *v[16] = {0};
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && i < 16; i++) {
        v[i] = va_arg(ap, const char *);
    }
    va_end(ap);
    if (d->db_url[0] != '\0') {
        PGresult *r = pg_query(d, sql, n, v);
        assert_true(PQntuples(r) > 0);
        const char *t = PQgetvalue(r, 0, 0); /* a boolean is 't' / 'f' */
        long long x = strcmp(t, "t") == 0 ? 1 : strtoll(t, NULL, 10);
        PQclear(r);
        return x;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = sqlite_query(d, &db, sql, n, v);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long x = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return x;
}

void daemon_db_exec(const struct daemon *d, const char *sql, int n, ...)
{
    const char *v[16] = {0};
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && i < 16; i++) {
        v[i] = va_arg(ap, const char *);
    }
    va_end(ap);
    if (d->db_url[0] != '\0') {
        PQclear(pg_run_want(d, sql, n, v, PGRES_COMMAND_OK));
        return;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = sqlite_prepare(d, &db, SQLITE_OPEN_READWRITE, sql, n, v);
    if (sqlite3_step(st) != SQLITE_DONE) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

void daemon_db_rows(const struct daemon *d, const char *sql,
                    void (*row)(void *ctx, const char *const *cols, int ncols), void *ctx)
{
    const char *cols[16];
    if (d->db_url[0] != '\0') {
        PGresult *r = pg_query(d, sql, 0, NULL);
        int nc = PQnfields(r) < 16 ? PQnfields(r) : 16;
        for (int i = 0; i < PQntuples(r); i++) {
            for (int k = 0; k < nc; k++) {
                cols[k] = PQgetvalue(r, i, k);
            }
            row(ctx, cols, nc);
        }
        PQclear(r);
        return;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = sqlite_query(d, &db, sql, 0, NULL);
    int nc = sqlite3_column_count(st) < 16 ? sqlite3_column_count(st) : 16;
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int k = 0; k < nc; k++) {
            const unsigned char *t = sqlite3_column_text(st, k);
            cols[k] = t ? (const char *)t : "";
        }
        row(ctx, cols, nc);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The first row of sql on the SQLite file at path opened with flags: *h and the statement,
 * stepped onto that row. */
static sqlite3_stmt *file_row(const char *path, int flags, const char *sql, sqlite3 **h)
{
    assert_int_equal(sqlite3_open_v2(path, h, flags, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(*h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    return st;
}

long long harness_file_int(const char *path, int flags, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = file_row(path, flags, sql, &h);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

char *harness_file_text(const char *path, int flags, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = file_row(path, flags, sql, &h);
    char *v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}
