/*
 * listen.c - the PostgreSQL adapter's listener: a thread of its own (started by
 * store_listen in a daemon, never in the CLI) on a connection of its own, which
 *   - LISTENs on bunsen_catalog and wakes the catalogue hook (store_catalog_check) when
 *     another daemon commits a definition change (catalog.c pg_catalog_bump NOTIFYs it);
 *     the daemon's one-second catalogue poll (catalog.c pg_catalog_version, which also
 *     reads the applied schema version) is the safety net and does not depend on it;
 *   - refreshes the user-lock budget (this daemon's share of the server's lock table,
 *     pg_lock_budget) and warns when it falls below any value warned about before (small
 *     for large batches);
 *   - ANALYZEs young tables that have grown, so that the writer's cached generic plans
 *     use their indexes.
 * It owns the budget's arithmetic (the writer's claim of its roll-up slot, db.c, sets the
 * first value with it) and the listener's thread and connection (pg_listen, stopped by
 * pg_listen_stop from pg_close). Threads: the listener; pg_listen and pg_listen_stop from
 * the thread that opens and closes the store.
 */
#include "pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>

#include "bunsen/log.h"
#include "bunsen/util.h"

/* ---- the user-lock budget ---- */

/*
 * The user-lock budget (ingest.c pg_lock_users): advisory locks live in one table that every
 * session of the server shares, of max_locks_per_transaction x (max_connections +
 * max_prepared_transactions) entries. Half of it is shared out between the live writers
 * (the roll-up slots held), a quarter at most each: however many daemons, all of them at
 * their budget fill half the table. Read on every new writer connection and refreshed by
 * the listener every BUDGET_EVERY_MS (daemons come and go; reading pg_locks briefly holds
 * the server's lock-table partitions, so not more often). Before the first read: the
 * defaults' (PG_USER_LOCK_BUDGET_DEF).
 */
#define USER_LOCK_BUDGET_MIN 64
#define BUDGET_EVERY_MS      10000

size_t pg_lock_budget(long long table, long long writers)
{
    long long b = table / (2 * (writers > 2 ? writers : 2));
    return b > USER_LOCK_BUDGET_MIN ? (size_t)b : USER_LOCK_BUDGET_MIN;
}

/* A request carries up to 10,000 items (API.md "Ingestion"); one with more distinct users than
 * the budget locks all users, which holds every daemon's writes while it runs. Said by the
 * listener (a daemon's: the CLI's output stays its own), with how far to raise the setting the
 * budget follows, when the budget falls below the lowest one said so far: said once per
 * value, the line came back every time the budget moved between two (a writer session
 * abandoned for a lock still holds its slot until the server ends it, and the listener
 * reconnected every 5 s: review chaos36 F6). */
#define REQUEST_ITEMS_MAX 10000

static void budget_set(struct pg_store *p, size_t b)
{
    p->user_lock_budget = b;
    size_t low = atomic_load(&p->budget_warned);
    if (b >= REQUEST_ITEMS_MAX || (low != 0 && b >= low) ||
        !atomic_compare_exchange_strong(&p->budget_warned, &low, b)) {
        return;
    }
    log_json(LOG_WARN,
             "PostgreSQL's lock table is small for large batches: a request with more distinct "
             "users than the user-lock budget locks all users, holding every daemon's writes "
             "while it runs (docs/SCALING.md \"Bounded locks, whatever the batch\")",
             json_pack("{s:I, s:I, s:I}", "user_lock_budget", (json_int_t)b, "request_items_max",
                       (json_int_t)REQUEST_ITEMS_MAX, "max_locks_per_transaction_factor",
                       (json_int_t)((REQUEST_ITEMS_MAX + b - 1) / b)));
}

/* The listener's refresh of the budget (a failure is the next statement's to report). */
static void refresh_budget(struct pg_store *p, struct pg_conn *c)
{
    PGresult *r = pg_exec_result(c, "SELECT " PG_SQL_LOCK_TABLE ", (" PG_SQL_SLOTS_HELD ")");
    if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        budget_set(p, pg_lock_budget(pg_i64(r, 0, 0), pg_i64(r, 0, 1)));
    }
    PQclear(r);
}

/* ---- young tables' statistics ---- */

/*
 * Statistics for young tables. The writer's statements are prepared, and after five runs
 * PostgreSQL keeps a generic plan, costed with the table's size when it was made. Made
 * while a table is small (a new database's first minute), the lookups that join an
 * unnest() of the request's keys to it plan a sequential scan, and keep it while the table
 * grows, until an ANALYZE (autovacuum's comes after a minute or more) invalidates the plan:
 * measured on a fresh database, logged /assign did 7,000 requests/s with every exposure
 * lookup scanning the whole table, and 22,000 with index lookups (docs/PERFORMANCE.md
 * "Ninth pass"). So the listener, every ANALYZE_EVERY_MS, analyzes each table of these
 * lookups that has more than doubled (in pages) since its statistics were taken, while it
 * is young (up to 128 MiB: its sample then reads cached pages for milliseconds, and
 * autovacuum has had its turn by the time a table is larger): a few times in a table's
 * life, never on the writer's connection. Definition changes meanwhile wait in the
 * connection; the daemon's one-second catalogue poll does not depend on this thread.
 */
#define ANALYZE_EVERY_MS 1000
static const char SQL_GROWN[] =
    "SELECT t FROM unnest(ARRAY['exposures', 'events', 'user_metrics', 'exposure_dims']) t "
    "JOIN pg_class c ON c.oid = to_regclass(t) "
    "WHERE pg_relation_size(c.oid) / current_setting('block_size')::bigint > "
    "2 * GREATEST(c.relpages, 8) AND pg_relation_size(c.oid) <= 134217728";

/* 0, or -1 when a statement failed (logged; the caller waits longer before the next try) */
static int analyze_grown(struct pg_conn *c)
{
    struct err err;
    PGresult *r = pg_exec_result(c, SQL_GROWN);
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_fail(c, r, "table sizes", &err); /* a lost connection: the loop reconnects */
        PQclear(r);
        log_json(LOG_WARN, "cannot read table sizes", json_pack("{s:s}", "error", err.msg));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        char sql[64];
        /* one of the four names above, from the query's own literal; SKIP_LOCKED: another
         * daemon analyzing it now does the work for both */
        snprintf(sql, sizeof(sql), "ANALYZE (SKIP_LOCKED) %s", PQgetvalue(r, i, 0));
        rc = pg_exec(c, sql, &err);
        if (rc != 0) {
            log_json(LOG_WARN, "analyze failed", json_pack("{s:s}", "error", err.msg));
        }
    }
    PQclear(r);
    return rc;
}

/* ---- the listener thread ---- */

static void *listener_main(void *arg)
{
    struct store *s = arg;
    struct pg_store *p = pg_be(s);
    struct pg_conn *c = xcalloc(1, sizeof(*c));
    c->broken = true;
    c->timeout_ms = &p->timeout_ms;
    pg_conn_watch(c, p, -1); /* its waits are not watched (ANALYZE), its shutdown is */
    while (!atomic_load(&p->stop_listener)) {
        struct err err;
        if (pg_conn_ensure(c, p->conninfo, &err) != 0 ||
            pg_exec(c, "LISTEN bunsen_catalog", &err) != 0) {
            c->broken = true;
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 500000000};
            nanosleep(&ts, NULL);
            continue;
        }
        uint64_t next_analyze = 0; /* when analyze_grown is due (monotonic ns) */
        uint64_t next_budget = 0;  /* when refresh_budget is */
        while (!atomic_load(&p->stop_listener) && !c->broken) {
            uint64_t now = time_mono_ns();
            if (now >= next_budget) {
                refresh_budget(p, c);
                next_budget = now + BUDGET_EVERY_MS * 1000000ull;
            }
            if (now >= next_analyze) { /* then again in a second, or a minute after a failure */
                next_analyze =
                    now + (analyze_grown(c) == 0 ? ANALYZE_EVERY_MS : 60000) * 1000000ull;
                continue;
            }
            /* poll, not select: the descriptor may be past FD_SETSIZE (1024) in a daemon with
             * thousands of connections (the listener renumbers descriptors up to the open-file
             * limit), where FD_SET wrote past its set on the stack (review hostile31 F5) */
            struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
            if (poll(&pfd, 1, 200) < 0) {
                continue;
            }
            if (!PQconsumeInput(c->pg)) {
                c->broken = true;
                break;
            }
            PGnotify *n;
            bool changed = false;
            while ((n = PQnotifies(c->pg)) != NULL) {
                changed = true;
                PQfreemem(n);
            }
            static struct log_streak reload_streak; /* as serve.c's ticker */
            if (changed && store_catalog_check(s, -1, &err) != 0) {
                log_streak_fail(&reload_streak, "experiment reload failed",
                                store_err_log_fields(s, &err));
            } else if (changed) {
                log_streak_ok(&reload_streak, "experiment reload recovered");
            }
        }
    }
    pg_conn_close(c);
    return NULL;
}

int pg_listen(struct store *s, struct err *err)
{
    struct pg_store *p = pg_be(s);
    if (p->listening) {
        return 0;
    }
    if (thread_start(&p->listener, listener_main, s) != 0) {
        return err_set(err, ERR_INTERNAL, NULL, "cannot start the listener thread");
    }
    p->listening = true;
    return 0;
}

void pg_listen_stop(struct pg_store *p)
{
    if (p->listening) {
        atomic_store(&p->stop_listener, true);
        pthread_join(p->listener, NULL);
    }
}
