/*
 * pipeline.c - statements on one of the PostgreSQL adapter's connections: the per-connection
 * cache of prepared statements (named by slot, keyed by the address of their static SQL
 * text), running a statement now (pg_run, pg_exec), and the writer's statement pipeline:
 * writes and locks whose results nobody reads deferred in libpq's pipeline mode (pg_defer,
 * pg_defer_try, pg_defer_exec), reads that ride along with them (pg_prefetch), and the end
 * of a transaction behind whatever is pending (pg_commit). It owns the pending queue and the
 * prefetch slots of struct pg_conn. Opening, reopening and abandoning connections, the wait
 * for the server's answer within the answer timeout (pg_next_result, pg_last_result) and the
 * mapping of a failure to an err code (pg_fail) are conn.c's.
 *
 * Threads: a connection is used by one thread at a time (the writer's, or a reader's between
 * pg_reader_get and pg_reader_put); only the writer's connection ever defers (c->defer).
 */
#include "pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bunsen/log.h"
#include "bunsen/util.h"

/*
 * Pipelining. On the writer's connection in a savepoint-free group (c->defer), writes and locks
 * whose results nobody reads are sent in libpq's pipeline mode and left pending; the next
 * statement that needs a result is sent behind them with a Sync, and one round trip brings
 * every result back; a read that must follow a deferred lock can ride along too (pg_prefetch).
 * A logged /assign group of two attribution calls went from ~16 round trips (BEGIN, the
 * catalogue lock, its version, six per call, COMMIT) to 4: the version read, the exposures read
 * of each call (with the user locks, the rebuild cursors and which users have events), the
 * COMMIT; one more per call when a user has events (docs/PERFORMANCE.md "Tenth pass"). The
 * results come back in order; the first failure is the one reported, and PostgreSQL skips
 * everything after it up to the Sync (each such result is PGRES_PIPELINE_ABORTED). The server
 * may answer while libpq is still writing a large batch behind: on a blocking connection libpq
 * reads and buffers input whenever it cannot write (pqSendSome), so neither side waits on the
 * other's full socket.
 */

/* the most parameters of one statement (pg_rollup_add has 36) */
#define STMT_PARAMS_MAX 40

static int stmt_formats(int n, unsigned binary, int *formats, struct err *err)
{
    if (n > STMT_PARAMS_MAX) {
        return err_set(err, ERR_INTERNAL, NULL, "too many parameters");
    }
    for (int i = 0; i < n; i++) {
        formats[i] = i < 16 ? (int)((binary >> i) & 1u) : 0;
    }
    return 0;
}

static void pending_push(struct pg_conn *c, const char *what, const char *sql, int prepare_slot,
                         long long expect)
{
    c->pending[c->npending++] = (struct pg_pending){
        .what = what, .sql = sql, .prepare_slot = prepare_slot, .expect = expect};
}

/* The failure of a pg_defer_try that refused locks (rows of it). */
static int refused(struct pg_conn *c, long long rows, struct err *err)
{
    c->retry = true;
    if (c->owner != NULL) {
        c->owner->lock_refusals++;
    }
    return err_set(err, ERR_UNAVAILABLE, NULL,
                   "%lld locks of this write are held by another write: it runs again", rows);
}

/* A failed statement's error names it by what alone ("query", "prepare"): replies carry the
 * error (an sdk key's write, /readyz), and no SQL goes to callers. An unexpected failure
 * (ERR_INTERNAL) is logged with the statement's first words ("UPDATE user_metrics um SET
 * ..."), so that the log says which statement of a group it was. A cause that fails every
 * write (a renamed table, a trigger raising) wrote ~150 lines a second per daemon: at most 10
 * per 10 s, the rest counted (log.h; review chaos36 F7). Returns rc. */
static int stmt_failed(const char *sql, const struct err *err, int rc)
{
    static struct log_limit limit;
    long gone = 0;
    if (sql == NULL || err->code != ERR_INTERNAL ||
        !log_limit_take(&limit, "PostgreSQL statement failed", LOG_ERROR,
                        (int64_t)(time_mono_ns() / 1000000), 10, 10000, &gone)) {
        return rc;
    }
    size_t n = strcspn(sql, "\n");
    const size_t max = 40;
    bool cut = n > max;
    if (cut) {
        n = max;
        while (n > 0 && sql[n] != ' ') {
            n--;
        }
        n = n > 0 ? n : max;
    }
    char first[64];
    snprintf(first, sizeof(first), "%.*s%s", (int)n, sql, cut ? " ..." : "");
    json_t *f = json_pack("{s:s, s:s}", "statement", first, "error", err->msg);
    if (f != NULL && gone > 0) {
        json_object_set_new(f, "not_logged_before", json_integer(gone));
    }
    log_json(LOG_ERROR, "PostgreSQL statement failed", f);
    return rc;
}

static void prefetch_reset(struct pg_prefetch *f)
{
    PQclear(f->result);
    free(f->arg);
    *f = (struct pg_prefetch){0};
}

void pg_prefetch(struct pg_conn *c, const char *sql, const char *arg, int len)
{
    struct pg_prefetch *f = NULL;
    for (int i = 0; i < PG_PREFETCH_MAX && f == NULL; i++) {
        f = c->pre[i].sql == sql || c->pre[i].sql == NULL ? &c->pre[i] : NULL;
    }
    if (f == NULL) {
        return; /* every slot taken: the caller reads it itself */
    }
    prefetch_reset(f);
    f->sql = sql;
    if (arg != NULL) {
        f->arg = xmalloc(len > 0 ? (size_t)len : 1);
        memcpy(f->arg, arg, (size_t)len);
        f->len = len;
    }
}

PGresult *pg_prefetched(struct pg_conn *c, const char *sql)
{
    for (int i = 0; i < PG_PREFETCH_MAX; i++) {
        struct pg_prefetch *f = &c->pre[i];
        if (f->sql == sql) {
            PGresult *r = f->result;
            f->result = NULL;
            prefetch_reset(f);
            return r;
        }
    }
    return NULL;
}

void pg_prefetch_clear(struct pg_conn *c)
{
    for (int i = 0; i < PG_PREFETCH_MAX; i++) {
        prefetch_reset(&c->pre[i]);
    }
}

/* The slot of sql's prepared statement on c, prepared now if it is new: synchronously, or
 * sent into the pipeline when one is open. -1 with err filled. */
static int stmt_slot(struct pg_conn *c, const char *sql, int n, struct err *err)
{
    int free_slot = -1;
    for (int i = 0; i < PG_STMT_SLOTS; i++) {
        if (c->prepared[i] == sql) {
            return i;
        }
        if (c->prepared[i] == NULL && free_slot < 0) {
            free_slot = i;
        }
    }
    /* more distinct statements than slots is a programming error: raise PG_STMT_SLOTS */
    if (free_slot < 0) {
        return err_set(err, ERR_INTERNAL, NULL, "statement cache full");
    }
    char name[16];
    snprintf(name, sizeof(name), "s%d", free_slot);
    if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF) {
        if (PQsendPrepare(c->pg, name, sql, n, NULL) != 1) {
            return pg_fail(c, NULL, "prepare", err);
        }
        pending_push(c, "prepare", sql, free_slot, -1);
    } else {
        PGresult *p = PQsendPrepare(c->pg, name, sql, n, NULL) == 1 ? pg_last_result(c) : NULL;
        if (p == NULL || PQresultStatus(p) != PGRES_COMMAND_OK) {
            pg_fail(c, p, "prepare", err);
            PQclear(p);
            return -1;
        }
        PQclear(p);
    }
    c->prepared[free_slot] = sql;
    return free_slot;
}

/* Enter pipeline mode (a no-op when in it). */
static int pipe_open(struct pg_conn *c, struct err *err)
{
    if (PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && PQenterPipelineMode(c->pg) != 1) {
        return pg_fail(c, NULL, "pipeline", err);
    }
    return 0;
}

/* Send sql's prepared statement into the open pipeline (its prepare first if it is new). */
static int pipe_send(struct pg_conn *c, const char *sql, int n, const char *const *values,
                     const int *lengths, unsigned binary, struct err *err)
{
    if (c->npending + 2 > PG_PENDING_MAX) { /* its prepare and itself; see pipe_room */
        return err_set(err, ERR_INTERNAL, NULL, "too many statements pending");
    }
    int formats[STMT_PARAMS_MAX];
    int slot = stmt_formats(n, binary, formats, err) == 0 ? stmt_slot(c, sql, n, err) : -1;
    if (slot < 0) {
        return -1;
    }
    char name[16];
    snprintf(name, sizeof(name), "s%d", slot);
    if (PQsendQueryPrepared(c->pg, name, n, values, lengths, formats, 0) != 1) {
        return stmt_failed(sql, err, pg_fail(c, NULL, "query", err));
    }
    return 0;
}

/* The first result of the next pending statement (the rest of its results dropped), or
 * NULL when the connection gave none. */
static PGresult *pipe_result(struct pg_conn *c)
{
    PGresult *first = NULL, *r;
    while ((r = pg_next_result(c)) != NULL) {
        bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        if (first == NULL) {
            first = r;
        } else {
            PQclear(r);
        }
        if (sync) {
            break; /* out of step with the queue: never followed by a NULL */
        }
    }
    if (c->timed_out) {
        PQclear(first);
        return NULL;
    }
    return first;
}

/*
 * Send a Sync and read the result of every pending statement, in order. want (may be NULL)
 * receives the last one's result when all succeeded. 0, or -1 with err set from the first
 * failure (c->broken set when the connection was lost or out of step).
 */
static int pipe_flush(struct pg_conn *c, PGresult **want, struct err *err)
{
    int rc = 0, n = c->npending;
    bool refusal = false, other = false; /* which failures: c->intact */
    c->npending = 0;
    c->intact = false;
    if (PQpipelineSync(c->pg) != 1) {
        return pg_fail(c, NULL, "pipeline", err);
    }
    for (int i = 0; i < n; i++) {
        const struct pg_pending *p = &c->pending[i];
        PGresult *r = pipe_result(c);
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
        c->committed = c->committed || pg_result_committed(r); /* see pg_commit */
        if (!ok && p->prepare_slot >= 0) {
            c->prepared[p->prepare_slot] = NULL;
        }
        bool off =
            ok && !p->refusals && p->expect >= 0 && strtoll(PQcmdTuples(r), NULL, 10) != p->expect;
        other = other || !ok || off;
        if (ok && p->refusals && PQntuples(r) > 0) {
            /* no server error: what followed ran, reads only (pg_defer reads this first) */
            refusal = true;
            rc = rc == 0 ? refused(c, PQntuples(r), err) : rc;
        } else if (rc == 0 && off) {
            err_set(err, ERR_INTERNAL, NULL, "%s: %s rows changed, %lld expected", p->what,
                    PQcmdTuples(r), p->expect);
            rc = stmt_failed(p->sql, err, -1);
        } else if (rc == 0 && !ok && st == PGRES_PIPELINE_ABORTED) {
            rc = stmt_failed(
                p->sql, err,
                err_set(err, ERR_INTERNAL, NULL, "%s: skipped after a failure", p->what));
        } else if (rc == 0 && !ok) {
            pg_fail(c, r, p->what, err);
            rc = stmt_failed(p->sql, err, -1);
        }
        if (want != NULL && i == n - 1 && rc == 0) {
            *want = r;
        } else if (p->keep != NULL && ok && rc == 0) {
            *p->keep = r;
        } else {
            PQclear(r);
        }
        if (r == NULL || PQstatus(c->pg) != CONNECTION_OK || st == PGRES_PIPELINE_SYNC) {
            c->broken = true; /* lost, or out of step: a fresh connection next time */
            if (want != NULL && *want != NULL) {
                PQclear(*want);
                *want = NULL;
            }
            return rc == 0 ? pg_fail(c, NULL, "pipeline", err) : -1;
        }
    }
    PGresult *sync = pg_next_result(c);
    bool synced = sync != NULL && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    if (!synced || PQexitPipelineMode(c->pg) != 1) {
        c->broken = true;
        if (want != NULL && *want != NULL) {
            PQclear(*want);
            *want = NULL;
        }
        return rc == 0 ? pg_fail(c, NULL, "pipeline", err) : -1;
    }
    c->intact = refusal && !other;
    return rc;
}

/* Send the prefetches not sent yet into the open pipeline, their results to be kept. */
static int prefetch_send(struct pg_conn *c, struct err *err)
{
    for (int i = 0; i < PG_PREFETCH_MAX; i++) {
        struct pg_prefetch *f = &c->pre[i];
        if (f->sql == NULL || f->sent) {
            continue;
        }
        const char *v[1] = {f->arg};
        int n = f->arg != NULL ? 1 : 0;
        if (pipe_send(c, f->sql, n, v, &f->len, n ? 1u : 0u, err) != 0) {
            return -1;
        }
        pending_push(c, "prefetch", f->sql, -1, -1);
        c->pending[c->npending - 1].keep = &f->result;
        f->sent = true;
    }
    return 0;
}

/* Leave pipeline mode when nothing is pending (a send that failed after pipe_open), so that
 * the synchronous calls below are allowed. */
static void pipe_idle(struct pg_conn *c)
{
    if (c->npending == 0 && PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF) {
        PQexitPipelineMode(c->pg);
    }
}

/* PQexecPrepared for a query sent with PQsendQueryPrepared, within the answer timeout. */
static PGresult *exec_prepared(struct pg_conn *c, const char *name, int n,
                               const char *const *values, const int *lengths, const int *formats)
{
    return PQsendQueryPrepared(c->pg, name, n, values, lengths, formats, 0) == 1 ? pg_last_result(c)
                                                                                 : NULL;
}

PGresult *pg_run(struct pg_conn *c, const char *sql, int n, const char *const *values,
                 const int *lengths, unsigned binary, struct err *err)
{
    pipe_idle(c);
    if (c->npending > 0) { /* behind deferred statements: one round trip for all */
        PGresult *r = NULL;
        if (prefetch_send(c, err) != 0 || pipe_send(c, sql, n, values, lengths, binary, err) != 0) {
            return NULL;
        }
        pending_push(c, "query", sql, -1, -1);
        return pipe_flush(c, &r, err) == 0 ? r : NULL;
    }
    int formats[STMT_PARAMS_MAX];
    int slot = stmt_formats(n, binary, formats, err) == 0 ? stmt_slot(c, sql, n, err) : -1;
    if (slot < 0) {
        return NULL;
    }
    char name[16];
    snprintf(name, sizeof(name), "s%d", slot);
    /* A pooled connection idle between reads can have lost its server session (a failover
     * or restart, idle_session_timeout, a firewall's idle drop, pg_terminate_backend), which
     * libpq learns only from the next statement. A read outside a transaction is run again
     * once on a new connection: taken for an outage, it answered 503, and authentication
     * then fell back to keys verified in the last 10 minutes, revoked ones included. */
    bool again = c->pooled && c->conninfo != NULL && PQtransactionStatus(c->pg) == PQTRANS_IDLE;
    PGresult *r = exec_prepared(c, name, n, values, lengths, formats);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && again &&
        PQstatus(c->pg) != CONNECTION_OK) {
        PQclear(r);
        c->broken = true;
        if (pg_conn_ensure(c, c->conninfo, err) != 0) {
            return NULL;
        }
        slot = stmt_slot(c, sql, n, err);
        if (slot < 0) {
            return NULL;
        }
        snprintf(name, sizeof(name), "s%d", slot);
        r = exec_prepared(c, name, n, values, lengths, formats);
        st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        stmt_failed(sql, err, pg_fail(c, r, "query", err));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Send the statements of sql ("; "-separated, no parameters) into the open pipeline. */
static int pipe_send_text(struct pg_conn *c, const char *sql, struct err *err)
{
    while (*sql != '\0') {
        size_t len = strcspn(sql, ";");
        char one[64];
        if (len >= sizeof(one)) {
            return err_set(err, ERR_INTERNAL, NULL, "statement too long to pipeline");
        }
        memcpy(one, sql, len);
        one[len] = '\0';
        if (c->npending >= PG_PENDING_MAX) {
            return err_set(err, ERR_INTERNAL, NULL, "too many statements pending");
        }
        if (PQsendQueryParams(c->pg, one, 0, NULL, NULL, NULL, NULL, 0) != 1) {
            return pg_fail(c, NULL, "exec", err);
        }
        pending_push(c, "exec", NULL, -1, -1);
        sql += len;
        sql += strspn(sql, "; ");
    }
    return 0;
}

int pg_exec(struct pg_conn *c, const char *sql, struct err *err)
{
    pipe_idle(c);
    if (c->npending > 0) {
        return pipe_send_text(c, sql, err) == 0 ? pipe_flush(c, NULL, err) : -1;
    }
    PGresult *r = pg_exec_result(c, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_fail(c, r, "exec", err);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

/* Room for one more statement and its prepare, and after them for a pg_run with every
 * prefetch (two entries each: the prepare and the statement): flush (one round trip) when
 * the queue is nearly full. */
static int pipe_room(struct pg_conn *c, struct err *err)
{
    return c->npending + 2 + 2 * (PG_PREFETCH_MAX + 1) < PG_PENDING_MAX ? 0
                                                                        : pipe_flush(c, NULL, err);
}

/* Whether a pg_defer_try is pending: its result is read before any other statement is
 * deferred behind it. */
static bool try_pending(const struct pg_conn *c)
{
    for (int i = 0; i < c->npending; i++) {
        if (c->pending[i].refusals) {
            return true;
        }
    }
    return false;
}

int pg_defer(struct pg_conn *c, const char *sql, int n, const char *const *values,
             const int *lengths, unsigned binary, long long expect, struct err *err)
{
    if (c->defer && try_pending(c) && pipe_flush(c, NULL, err) != 0) {
        return -1;
    }
    if (!c->defer) {
        PGresult *r = pg_run(c, sql, n, values, lengths, binary, err);
        if (r == NULL) {
            return -1;
        }
        int rc = 0;
        if (expect >= 0 && strtoll(PQcmdTuples(r), NULL, 10) != expect) {
            rc = stmt_failed(sql, err,
                             err_set(err, ERR_INTERNAL, NULL,
                                     "query: %s rows changed, %lld expected", PQcmdTuples(r),
                                     expect));
        }
        PQclear(r);
        return rc;
    }
    if (pipe_room(c, err) != 0 || pipe_open(c, err) != 0 ||
        pipe_send(c, sql, n, values, lengths, binary, err) != 0) {
        return -1;
    }
    pending_push(c, "query", sql, -1, expect);
    return 0;
}

int pg_defer_try(struct pg_conn *c, const char *sql, int n, const char *const *values,
                 const int *lengths, unsigned binary, struct err *err)
{
    if (!c->defer) {
        PGresult *r = pg_run(c, sql, n, values, lengths, binary, err);
        if (r == NULL) {
            return -1;
        }
        int rows = PQntuples(r);
        PQclear(r);
        c->intact = rows > 0;
        return rows > 0 ? refused(c, rows, err) : 0;
    }
    if (pipe_room(c, err) != 0 || pipe_open(c, err) != 0 ||
        pipe_send(c, sql, n, values, lengths, binary, err) != 0) {
        return -1;
    }
    pending_push(c, "lock", sql, -1, 0); /* an expectation: pg_commit reads it first */
    c->pending[c->npending - 1].refusals = true;
    return 0;
}

/*
 * The COMMIT's answer came ("COMMIT"), and then the connection ended or went out of step:
 * the server ran the COMMIT and sent its CommandComplete, and only then ended the session
 * (pg_terminate_backend, an operator's or a monitoring script's; a pooler or proxy recycling
 * server connections), whose FATAL came instead of the Sync's ReadyForQuery. The transaction
 * committed: the group answered 503 all the same, and clients sent again what was stored
 * (events without an id counted twice; review pg29 F1). So it is committed, and the
 * connection is reopened before the next transaction. Returns 0.
 */
static int committed_then_lost(struct pg_conn *c, struct err *err)
{
    c->broken = true;
    err_clear(err);
    log_json(LOG_WARN, "PostgreSQL session ended right after a COMMIT it answered: committed",
             json_pack("{s:s}", "next", "a new connection for the next transaction"));
    return 0;
}

/* The test hook (BUNSEN_TEST_PG_END_AFTER_COMMIT, tests only): sql and, while the file
 * exists, a statement after it that ends the session (its own pg_terminate_backend: the
 * server's FATAL comes after the COMMIT's answer, as when another session ends it there),
 * into buf. Returns the text to send. */
static const char *end_after_commit(const struct pg_conn *c, const char *sql, char *buf, size_t n)
{
    if (c->end_after_commit == NULL || access(c->end_after_commit, F_OK) != 0) {
        return sql;
    }
    snprintf(buf, n, "%s; SELECT pg_terminate_backend(pg_backend_pid())", sql);
    return buf;
}

int pg_commit(struct pg_conn *c, const char *sql, struct err *err)
{
    pipe_idle(c);
    c->committed = false;
    /* A row count is checked here, not by the server: a mismatch found in the COMMIT's own
     * round trip would be found after the transaction committed. So statements with an
     * expectation are read first (one more round trip, for the groups that have them). */
    bool expects = false;
    for (int i = 0; i < c->npending && !expects; i++) {
        expects = c->pending[i].expect >= 0;
    }
    if (expects && pipe_flush(c, NULL, err) != 0) {
        return c->broken ? -1 : 1; /* COMMIT not sent: the caller rolls back */
    }
    /* From here a failure the server answered means the COMMIT did not happen: a statement
     * before it failed (PostgreSQL skips the rest of a pipeline, or of a multi-statement
     * text, the COMMIT too) or the COMMIT itself failed (and rolled back). Only a lost
     * connection leaves the outcome unknown. */
    /* The COMMIT's answer is awaited however long it takes (no --db-timeout): a COMMIT cut
     * off after it was sent may commit all the same (a synchronous standby gone: committed
     * locally, waiting for it), and a 503 would have the client send again what was stored,
     * counted twice for events without an id. A lost connection still ends the wait (the
     * outcome then unknown, as docs/SCALING.md says). The writes pipelined with it are
     * awaited alike: the server sends their answers only with the COMMIT's (at the Sync),
     * so a deadline on them would cut the COMMIT's wait too (a review measured it: 503,
     * stored). So a write held by a lock taken elsewhere (LOCK TABLE, VACUUM FULL) waits as
     * long as that lock; the round trips before this one keep the deadline, which finds a
     * server that stopped answering before the group's last round trip. */
    PGresult *last = NULL;
    char hooked[128];
    sql = end_after_commit(c, sql, hooked, sizeof(hooked));
    c->no_deadline = true;
    if (c->npending > 0) {
        if (pipe_send_text(c, sql, err) != 0 || pipe_flush(c, &last, err) != 0) {
            c->no_deadline = false;
            if (c->committed) {
                return committed_then_lost(c, err);
            }
            /* nothing committed; a write that failed is run again with savepoints to find
             * it, unless the database ended it for want of a lock or of resources (the
             * writer's lock_timeout, db.c SQL_LOCK_BOUND): every job then waited alike, and
             * each would again, one after the other. The group answers 503. A 503 of one
             * job's own (a privilege its table lacks) runs again: the others may commit. */
            bool unavailable = err != NULL && err->code == ERR_UNAVAILABLE && c->recurs;
            return c->broken || unavailable ? -1 : 1;
        }
    } else {
        last = pg_exec_result(c, sql);
        ExecStatusType st = last ? PQresultStatus(last) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK) {
            c->no_deadline = false;
            if (c->committed) { /* the last result is what followed the COMMIT's */
                PQclear(last);
                return committed_then_lost(c, err);
            }
            pg_fail(c, last, "commit", err);
            PQclear(last);
            return c->broken ? -1 : 1;
        }
    }
    c->no_deadline = false;
    PQclear(last);
    /* COMMIT of a transaction that had failed (a statement's error the caller did not stop
     * at) succeeds as a ROLLBACK: never report that as committed */
    if (!c->committed) {
        err_set(err, ERR_INTERNAL, NULL, "commit: the transaction had failed and was rolled back");
        return 1;
    }
    return 0;
}

int pg_defer_exec(struct pg_conn *c, const char *sql, struct err *err)
{
    if (!c->defer) {
        return pg_exec(c, sql, err);
    }
    if (pipe_room(c, err) != 0 || pipe_open(c, err) != 0) {
        return -1;
    }
    return pipe_send_text(c, sql, err);
}
