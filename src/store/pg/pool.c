/*
 * pool.c - the PostgreSQL adapter's read connections: a pool of at most PG_POOL_MAX open
 * connections shared by the threads that read (pg_reader_get / pg_reader_put, or
 * pg_read_conn / pg_read_done, which use the writer's transaction when there is one), and
 * the consistent reads of store.h (pg_read_begin / pg_read_end: a REPEATABLE READ, READ ONLY
 * transaction on a connection the thread holds until the end, which pg_reader_get then gives
 * to every read of that thread).
 * Idle connections form a stack, the most recently used on top (the fewest sessions the
 * server keeps warm); one whose session is gone (or could not be reopened) sits at the
 * bottom, and a read takes the topmost that still works before trying to reopen one.
 * pg_pool_counts reports the pool's connections by state for /metrics.
 *
 * Threads: the pool is guarded by its mutex; a held connection belongs to its thread
 * (pg_store.pinned_key).
 */
#include "pg_int.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bunsen/util.h"

/* Whether an idle connection's server session is known to be gone, without a round trip:
 * a backend that was terminated (pg_terminate_backend, a restart, a connection-count cut)
 * sends its FATAL and closes the socket, which reads as input on an idle connection. */
static bool idle_conn_lost(struct pg_conn *c)
{
    if (c->broken || c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        return true;
    }
    for (int i = 0; i < 4; i++) {
        struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
        if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0) {
            break;
        }
        /* the message is parsed (a FATAL while idle reaches the notice receiver, conn.c) and
         * an end of file makes the connection bad */
        if (!PQconsumeInput(c->pg) || PQisBusy(c->pg) || PQstatus(c->pg) != CONNECTION_OK) {
            break;
        }
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        c->broken = true;
    }
    return c->broken;
}

/*
 * Take an idle connection (pool_mu held, nidle > 0): the most recently used one whose
 * session is not known to be lost, else the top one (to be reopened). Connections that
 * failed go to the bottom of the stack (pg_reader_put): one that cannot be reopened (the
 * server refusing new connections: max_connections reached, ALLOW_CONNECTIONS false, a
 * pg_hba or password change) was put back on top and taken again by every read, which all
 * answered 503 while connections that worked sat idle below it.
 */
static struct pg_conn *take_idle(struct pg_store *p)
{
    int pick = p->nidle - 1;
    for (int i = p->nidle - 1; i >= 0; i--) {
        if (!idle_conn_lost(p->idle[i])) {
            pick = i;
            break;
        }
    }
    struct pg_conn *c = p->idle[pick];
    memmove(&p->idle[pick], &p->idle[pick + 1], (size_t)(p->nidle - 1 - pick) * sizeof(c));
    p->nidle--;
    return c;
}

static struct pg_conn *take_working_idle(struct pg_store *p, uint64_t start);

struct pg_conn *pg_reader_get(struct store *s, struct err *err)
{
    struct pg_store *p = pg_be(s);
    struct pg_conn *pinned = pthread_getspecific(p->pinned_key);
    if (pinned != NULL) { /* inside store_read_begin: its transaction, or nothing */
        if (pinned->broken) {
            err_set(err, ERR_UNAVAILABLE, NULL, PG_UNREACHABLE);
            return NULL;
        }
        return pinned;
    }
    pthread_mutex_lock(&p->pool_mu);
    /* every connection in use: wait for one at most the answer timeout (--db-timeout), as
     * long as a statement would wait, so that a database that does not answer (the pool's
     * connections all waiting for it) gives the caller a 503, not a wait without end */
    int limit = atomic_load(&p->timeout_ms);
    uint64_t start = time_mono_ns();
    while (p->nidle == 0 && p->nopen >= PG_POOL_MAX) {
        uint64_t deadline = pg_wait_deadline(start, limit, &p->closing_ns, limit);
        if (deadline == UINT64_MAX) {
            pthread_cond_wait(&p->pool_cv, &p->pool_mu);
            continue;
        }
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
                              .tv_nsec = (long)(deadline % 1000000000u)};
        if (pthread_cond_timedwait(&p->pool_cv, &p->pool_mu, &ts) != 0 &&
            time_mono_ns() >= deadline && p->nidle == 0 && p->nopen >= PG_POOL_MAX) {
            pthread_mutex_unlock(&p->pool_mu);
            err_set(err, ERR_UNAVAILABLE, NULL,
                    "database unavailable: every read connection waited on it for longer than "
                    "--db-timeout");
            return NULL;
        }
    }
    struct pg_conn *c = NULL;
    int slot = -1;
    if (p->nidle > 0) {
        c = take_idle(p);
    } else {
        slot = PG_WAIT_POOL + p->nopen++;
    }
    pthread_mutex_unlock(&p->pool_mu);
    if (c == NULL) {
        c = xcalloc(1, sizeof(*c));
        pg_conn_watch(c, p, slot);
        c->broken = true; /* opened by pg_conn_ensure below */
        c->pooled = true;
        c->conninfo = p->conninfo;
        c->timeout_ms = &p->timeout_ms;
    }
    if (pg_conn_ensure(c, p->conninfo, err) != 0) {
        pg_reader_put(s, c);
        /* the server refusing a new session while one that works is idle or in use */
        if ((c = take_working_idle(p, start)) == NULL) {
            return NULL;
        }
        err_clear(err);
    }
    return c;
}

void pg_reader_put(struct store *s, struct pg_conn *c)
{
    struct pg_store *p = pg_be(s);
    if (c == pthread_getspecific(p->pinned_key)) {
        return; /* held until pg_read_end */
    }
    pthread_mutex_lock(&p->pool_mu);
    if (c->broken) { /* below the ones that work: tried last (take_idle) */
        memmove(&p->idle[1], &p->idle[0], (size_t)p->nidle * sizeof(c));
        p->idle[0] = c;
        p->nidle++;
    } else {
        p->idle[p->nidle++] = c;
    }
    /* both waits share it: one for any connection (pg_reader_get), one for a working one
     * (take_working_idle, rare); a signal could wake only the one this connection does not
     * serve, so every waiter is woken while one of the second kind waits, and only one
     * otherwise (a full pool under load: review diff35 F2) */
    if (p->working_waiters > 0) {
        pthread_cond_broadcast(&p->pool_cv);
    } else {
        pthread_cond_signal(&p->pool_cv);
    }
    pthread_mutex_unlock(&p->pool_mu);
}

/* How long a read whose own connection could not be reopened waits for one in use to come
 * back (at most --db-timeout too): a background read's few milliseconds, not an outage's. */
#define PG_REUSE_WAIT_MS 1000

/*
 * Another idle connection whose session is not known to be lost, or NULL. A read whose
 * connection was found lost and could not be reopened (the server refusing new sessions)
 * tries it before failing: a session terminated just before the read took it passed
 * take_idle's check when its end had not reached the client yet, and the read answered
 * 503 while a connection that worked sat idle. When no idle one works but others are in
 * use (the daemon's own background reads: the key check, the catalogue poll), it waits for
 * one to come back, up to PG_REUSE_WAIT_MS after start (the read's beginning): the one
 * working session held for a few milliseconds by the key check answered a results read 503
 * (test_pg_conn). Nothing in use (every connection idle and lost: an outage) fails at once.
 */
static struct pg_conn *take_working_idle(struct pg_store *p, uint64_t start)
{
    int limit = atomic_load(&p->timeout_ms);
    int wait_ms = limit > 0 && limit < PG_REUSE_WAIT_MS ? limit : PG_REUSE_WAIT_MS;
    uint64_t deadline = start + (uint64_t)wait_ms * 1000000u;
    pthread_mutex_lock(&p->pool_mu);
    struct pg_conn *c = NULL;
    for (;;) {
        for (int i = p->nidle - 1; i >= 0; i--) {
            if (!idle_conn_lost(p->idle[i])) {
                c = p->idle[i];
                memmove(&p->idle[i], &p->idle[i + 1], (size_t)(p->nidle - 1 - i) * sizeof(c));
                p->nidle--;
                break;
            }
        }
        if (c != NULL || p->nidle >= p->nopen || atomic_load(&p->closing_ns) != 0 ||
            time_mono_ns() >= deadline) {
            break;
        }
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
                              .tv_nsec = (long)(deadline % 1000000000u)};
        p->working_waiters++;
        pthread_cond_timedwait(&p->pool_cv, &p->pool_mu, &ts);
        p->working_waiters--;
    }
    pthread_mutex_unlock(&p->pool_mu);
    return c;
}

/* Whether a read that failed on c, a pooled connection taken for it alone, may be tried
 * once more on another: its session was lost (not a statement's error, not a deadline:
 * the database not answering would be waited on twice). */
static bool retry_elsewhere(struct pg_store *p, struct pg_conn *c)
{
    return c->broken && !c->timed_out && c != pthread_getspecific(p->pinned_key);
}

void pg_pool_counts(struct store *s, int *open, int *idle, int *broken)
{
    struct pg_store *p = pg_be(s);
    pthread_mutex_lock(&p->pool_mu);
    *open = p->nopen;
    *idle = p->nidle;
    *broken = 0;
    for (int i = 0; i < p->nidle; i++) {
        *broken += idle_conn_lost(p->idle[i]);
    }
    pthread_mutex_unlock(&p->pool_mu);
}

/* store.h "A consistent read". A pooled connection whose session was lost while idle (a
 * restart, a failover) fails its BEGIN: it is reopened and asked once more, as pg_run does
 * for a read outside a transaction. */
static const char SQL_BEGIN_READ[] = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

int pg_read_begin(struct store *s, struct err *err)
{
    struct pg_store *p = pg_be(s);
    uint64_t start = time_mono_ns();
    struct pg_conn *c = pg_reader_get(s, err);
    if (c == NULL) {
        return -1;
    }
    if (pg_exec(c, SQL_BEGIN_READ, err) != 0 &&
        (!c->broken || c->timed_out || pg_conn_ensure(c, p->conninfo, err) != 0 ||
         pg_exec(c, SQL_BEGIN_READ, err) != 0)) {
        bool again = retry_elsewhere(p, c);
        pg_reader_put(s, c);
        if (!again || (c = take_working_idle(p, start)) == NULL) {
            return -1;
        }
        if (pg_exec(c, SQL_BEGIN_READ, err) != 0) {
            pg_reader_put(s, c);
            return -1;
        }
    }
    pthread_setspecific(p->pinned_key, c);
    return 0;
}

void pg_read_end(struct store *s)
{
    struct pg_store *p = pg_be(s);
    struct pg_conn *c = pthread_getspecific(p->pinned_key);
    if (c == NULL) {
        return;
    }
    pthread_setspecific(p->pinned_key, NULL);
    /* read only: COMMIT and ROLLBACK end it alike; a failed read left it aborted, which
     * COMMIT ends too */
    if (!c->broken &&
        (pg_exec(c, "COMMIT", NULL) != 0 || PQtransactionStatus(c->pg) != PQTRANS_IDLE)) {
        c->broken = true;
    }
    pg_reader_put(s, c);
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

PGresult *pg_read(struct store *s, struct store_tx *tx, const char *sql, int n,
                  const char *const *values, const int *lengths, unsigned binary, struct err *err)
{
    uint64_t start = time_mono_ns();
    struct pg_conn *c = pg_read_conn(s, tx, err);
    if (c == NULL) {
        return NULL;
    }
    PGresult *r = pg_run(c, sql, n, values, lengths, binary, err);
    if (r == NULL && tx == NULL && retry_elsewhere(pg_be(s), c)) {
        pg_reader_put(s, c);
        if ((c = take_working_idle(pg_be(s), start)) == NULL) {
            return NULL;
        }
        r = pg_run(c, sql, n, values, lengths, binary, err);
    }
    pg_read_done(s, tx, c);
    return r;
}
