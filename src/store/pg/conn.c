/*
 * conn.c - the PostgreSQL adapter's libpq connections: opening one, reopening a broken one,
 * the per-connection cache of prepared statements (pg_run), the mapping of a failed result
 * to an err code (pg_fail), and the pool of read connections (at most PG_POOL_MAX open).
 *
 * Failover: the conninfo may name several hosts with target_session_attrs=read-write.
 * A connection that fails (lost, admin shutdown, read-only after a demotion) is marked
 * broken and reopened before its next use, which lands on the current primary; until one
 * is reachable, writes fail with ERR_UNAVAILABLE (503 + Retry-After), never a 2xx.
 *
 * Threads: a connection is used by one thread at a time (the writer's, or a reader's between
 * pg_reader_get and pg_reader_put); the pool is guarded by its mutex.
 */
#include "pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"

/* ---- connections ---- */

struct pg_conn *pg_conn_open(const char *conninfo, struct err *err)
{
    struct pg_conn *c = xcalloc(1, sizeof(*c));
    c->pg = PQconnectdb(conninfo);
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        err_set(err, ERR_UNAVAILABLE, NULL, "cannot connect to PostgreSQL: %s",
                c->pg ? PQerrorMessage(c->pg) : "out of memory");
        pg_conn_close(c);
        return NULL;
    }
    /* ms timestamps and doubles travel as text: every digit of a double round-trips */
    PGresult *r = PQexec(c->pg, "SET extra_float_digits = 3; SET client_min_messages = warning");
    PQclear(r);
    return c;
}

void pg_conn_close(struct pg_conn *c)
{
    if (c == NULL) {
        return;
    }
    PQfinish(c->pg);
    free(c);
}

int pg_conn_ensure(struct pg_conn *c, const char *conninfo, struct err *err)
{
    if (!c->broken && PQstatus(c->pg) == CONNECTION_OK) {
        return 0;
    }
    PQfinish(c->pg);
    memset(c->prepared, 0, sizeof(c->prepared));
    c->release_pending = false;
    c->pg = PQconnectdb(conninfo);
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        c->broken = true;
        return err_set(err, ERR_UNAVAILABLE, NULL, "no writable PostgreSQL reachable: %s",
                       c->pg ? PQerrorMessage(c->pg) : "out of memory");
    }
    PGresult *r = PQexec(c->pg, "SET extra_float_digits = 3; SET client_min_messages = warning");
    PQclear(r);
    c->broken = false;
    return 0;
}

static bool sqlstate_is(const PGresult *res, const char *prefix)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return st != NULL && strncmp(st, prefix, strlen(prefix)) == 0;
}

bool pg_err_is_retry(const PGresult *res)
{
    return sqlstate_is(res, "40001") || sqlstate_is(res, "40P01");
}

int pg_fail(struct pg_conn *c, PGresult *res, const char *what, struct err *err)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (msg == NULL || *msg == '\0') {
        msg = PQerrorMessage(c->pg);
    }
    char clean[160];
    snprintf(clean, sizeof(clean), "%s", msg);
    clean[strcspn(clean, "\n")] = '\0';
    if (PQstatus(c->pg) != CONNECTION_OK || sqlstate_is(res, "08") || sqlstate_is(res, "57P") ||
        sqlstate_is(res, "25006") || res == NULL) {
        c->broken = true;
        return err_set(err, ERR_UNAVAILABLE, NULL, "%s: database unavailable (%s)", what, clean);
    }
    if (pg_err_is_retry(res)) {
        c->retry = true;
        return err_set(err, ERR_UNAVAILABLE, NULL, "%s: %s", what, clean);
    }
    if (sqlstate_is(res, "53") || sqlstate_is(res, "55P03")) {
        return err_set(err, ERR_UNAVAILABLE, NULL, "%s: %s", what, clean);
    }
    if (sqlstate_is(res, "22021")) { /* invalid UTF-8 in a parameter: matches nothing stored */
        return err_set(err, ERR_NOT_FOUND, NULL, "%s: not valid UTF-8", what);
    }
    if (sqlstate_is(res, "23")) {
        return err_set(err, ERR_CONFLICT, NULL, "%s: %s", what, clean);
    }
    return err_set(err, ERR_INTERNAL, NULL, "%s: %s", what, clean);
}

PGresult *pg_run(struct pg_conn *c, const char *sql, int n, const char *const *values,
                 const int *lengths, unsigned binary, struct err *err)
{
    int slot = -1, free_slot = -1;
    for (int i = 0; i < PG_STMT_SLOTS; i++) {
        if (c->prepared[i] == sql) {
            slot = i;
            break;
        }
        if (c->prepared[i] == NULL && free_slot < 0) {
            free_slot = i;
        }
    }
    char name[16];
    if (slot < 0) {
        /* more distinct statements than slots is a programming error: raise PG_STMT_SLOTS */
        if (free_slot < 0) {
            err_set(err, ERR_INTERNAL, NULL, "statement cache full");
            return NULL;
        }
        slot = free_slot;
        snprintf(name, sizeof(name), "s%d", slot);
        PGresult *p = PQprepare(c->pg, name, sql, n, NULL);
        if (p == NULL || PQresultStatus(p) != PGRES_COMMAND_OK) {
            pg_fail(c, p, "prepare", err);
            PQclear(p);
            return NULL;
        }
        PQclear(p);
        c->prepared[slot] = sql;
    }
    snprintf(name, sizeof(name), "s%d", slot);
    int formats[32] = {0};
    if (n > 32) {
        err_set(err, ERR_INTERNAL, NULL, "too many parameters");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        formats[i] = i < 16 ? (int)((binary >> i) & 1u) : 0;
    }
    PGresult *r = PQexecPrepared(c->pg, name, n, values, lengths, formats, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_fail(c, r, "query", err);
        PQclear(r);
        return NULL;
    }
    return r;
}

int pg_exec(struct pg_conn *c, const char *sql, struct err *err)
{
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_fail(c, r, "exec", err);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

/* ---- the read pool ---- */

struct pg_conn *pg_reader_get(struct store *s, struct err *err)
{
    struct pg_store *p = pg_be(s);
    pthread_mutex_lock(&p->pool_mu);
    while (p->nidle == 0 && p->nopen >= PG_POOL_MAX) {
        pthread_cond_wait(&p->pool_cv, &p->pool_mu);
    }
    struct pg_conn *c = NULL;
    if (p->nidle > 0) {
        c = p->idle[--p->nidle];
    } else {
        p->nopen++;
    }
    pthread_mutex_unlock(&p->pool_mu);
    if (c == NULL) {
        c = xcalloc(1, sizeof(*c));
        c->broken = true; /* opened by pg_conn_ensure below */
    }
    if (pg_conn_ensure(c, p->conninfo, err) != 0) {
        pg_reader_put(s, c);
        return NULL;
    }
    return c;
}

void pg_reader_put(struct store *s, struct pg_conn *c)
{
    struct pg_store *p = pg_be(s);
    pthread_mutex_lock(&p->pool_mu);
    p->idle[p->nidle++] = c;
    pthread_cond_signal(&p->pool_cv);
    pthread_mutex_unlock(&p->pool_mu);
}

struct pg_conn *pg_read_conn(struct store *s, struct store_tx *tx, struct err *err)
{
    return tx != NULL ? tx->conn : pg_reader_get(s, err);
}

void pg_read_done(struct store *s, struct store_tx *tx, struct pg_conn *c)
{
    if (tx == NULL && c != NULL) {
        pg_reader_put(s, c);
    }
}
