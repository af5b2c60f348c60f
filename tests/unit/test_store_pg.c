/* Store unit tests of the PostgreSQL adapter itself (each skips on SQLite): the statement
 * pipeline, users-with-events read ahead, the user-lock budget, a group's items and
 * savepoints within the server's limits, connection and session defaults, the answer
 * timeout, a pooled reader whose session ended, and the catalogue refresher's signal mask.
 *
 * PostgreSQL only: tests/pg/api.sh runs them on a fresh database of a throwaway cluster
 * (BUNSEN_TEST_DATABASE, store_fixture.h); on SQLite each test skips. */
#include "store_fixture.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bunsen/auth.h"
#include "bunsen/store.h"
#include "bunsen/util.h"
#include "../../src/store/pg/pg_int.h"

/* The log (stderr) into a temporary file until log_capture_end, which returns what was
 * written (malloc'd). Around one call: cmocka reports a failure on stderr. */
static int log_capture(char path[64])
{
    snprintf(path, 64, "/tmp/bunsen-unit-log-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
    return saved;
}

static char *log_capture_end(int saved, const char *path)
{
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = calloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    return text;
}

/* The pipeline itself (PostgreSQL): a failing deferred statement is reported by the next
 * one; a statement first prepared inside the pipeline that fails
 * to prepare is prepared again next time; a row count off its expectation fails; the
 * connection stays usable after each. */

static void test_pg_pipeline(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    char log_path[64];
    struct store *s = open_migrated();
    struct err err;
    struct pg_conn *c = pg_be(s)->writer;
    static const char BAD[] = "SELECT 1 / $1::int";
    static const char ONE[] = "SELECT $1::int + 1";
    static const char TYPO[] = "SELEC 1";
    static const char UPD[] = "UPDATE meta SET value = value WHERE key = $1";
    const char *zero[] = {"0"}, *two[] = {"2"}, *key[] = {"pipeline_test"};
    assert_int_equal(
        pg_exec(c, "INSERT INTO meta (key, value) VALUES ('pipeline_test', '1')", &err), 0);
    c->defer = true;
    assert_int_equal(pg_exec(c, "BEGIN", &err), 0);
    /* one round trip for three statements; the read sees the deferred ones' effects */
    assert_int_equal(pg_defer(c, ONE, 1, two, NULL, 0, -1, &err), 0);
    assert_int_equal(pg_defer(c, UPD, 1, key, NULL, 0, 1, &err), 0);
    assert_true(c->npending >= 2);
    PGresult *r = pg_run(c, ONE, 1, two, NULL, 0, &err);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "3");
    PQclear(r);
    assert_int_equal(c->npending, 0);
    /* a prefetch rides along with the next read after deferred statements, once */
    assert_int_equal(pg_defer(c, UPD, 1, key, NULL, 0, 1, &err), 0);
    pg_prefetch(c, PG_SQL_CURSORS, NULL, 0);
    assert_null(pg_prefetched(c, PG_SQL_CURSORS)); /* not read yet: dropped */
    pg_prefetch(c, PG_SQL_CURSORS, NULL, 0);
    r = pg_run(c, ONE, 1, two, NULL, 0, &err);
    assert_non_null(r);
    PQclear(r);
    assert_int_equal(c->npending, 0);
    assert_null(pg_prefetched(c, ONE)); /* another statement's: not this one */
    pg_prefetch(c, PG_SQL_CURSORS, NULL, 0);
    assert_int_equal(pg_defer(c, UPD, 1, key, NULL, 0, 1, &err), 0);
    r = pg_run(c, ONE, 1, two, NULL, 0, &err);
    PQclear(r);
    r = pg_prefetched(c, PG_SQL_CURSORS);
    assert_non_null(r);
    assert_int_equal(PQnfields(r), 2); /* experiment, cursor */
    PQclear(r);
    assert_null(pg_prefetched(c, PG_SQL_CURSORS)); /* handed over once */
    /* a division by zero, deferred: the next statement reports it and did not run */
    assert_int_equal(pg_defer(c, BAD, 1, zero, NULL, 0, -1, &err), 0);
    int log_saved = log_capture(log_path);
    r = pg_run(c, ONE, 1, two, NULL, 0, &err);
    char *log = log_capture_end(log_saved, log_path);
    assert_null(r);
    /* the error says what failed, no SQL (replies carry it); the log names the statement */
    assert_non_null(strstr(err.msg, "query: "));
    assert_null(strstr(err.msg, "SELECT"));
    assert_non_null(strstr(log, "\"statement\":\"SELECT 1 / $1::int\""));
    free(log);
    assert_false(c->broken);
    assert_int_equal(c->npending, 0);
    assert_int_equal(pg_exec(c, "ROLLBACK", &err), 0);
    /* a failing prepare inside the pipeline: not cached, prepared (and failing) again */
    assert_int_equal(pg_exec(c, "BEGIN", &err), 0);
    assert_int_equal(pg_defer(c, TYPO, 0, NULL, NULL, 0, -1, &err), 0);
    log_saved = log_capture(log_path);
    int committed = pg_exec(c, "COMMIT", &err);
    log = log_capture_end(log_saved, log_path);
    assert_int_equal(committed, -1);
    assert_non_null(strstr(err.msg, "prepare: ")); /* the prepare failed */
    assert_null(strstr(err.msg, "SELEC 1"));       /* the server's own text quotes "SELEC" */
    assert_non_null(strstr(log, "\"statement\":\"SELEC 1\""));
    free(log);
    for (int i = 0; i < PG_STMT_SLOTS; i++) {
        assert_true(c->prepared[i] != TYPO);
    }
    assert_int_equal(pg_exec(c, "ROLLBACK", &err), 0);
    /* the same in the COMMIT's round trip: known not committed (the group runs again with
     * savepoints), not "unknown" */
    assert_int_equal(pg_exec(c, "BEGIN", &err), 0);
    assert_int_equal(pg_defer(c, TYPO, 0, NULL, NULL, 0, -1, &err), 0);
    assert_int_equal(pg_commit(c, "COMMIT", &err), 1);
    assert_false(c->broken);
    assert_int_equal(pg_exec(c, "ROLLBACK", &err), 0);
    /* a row count off its expectation */
    assert_int_equal(pg_exec(c, "BEGIN", &err), 0);
    assert_int_equal(pg_defer(c, UPD, 1, key, NULL, 0, 2, &err), 0);
    log_saved = log_capture(log_path);
    r = pg_run(c, ONE, 1, two, NULL, 0, &err);
    log = log_capture_end(log_saved, log_path);
    assert_null(r);
    assert_false(c->broken);
    assert_non_null(strstr(err.msg, "query: 1 rows changed, 2 expected"));
    assert_null(strstr(err.msg, "UPDATE"));
    assert_non_null(strstr(log, "\"statement\":\"UPDATE meta SET value = value WHERE key ...\""));
    free(log);
    assert_int_equal(pg_exec(c, "ROLLBACK", &err), 0);
    /* a row count off its expectation just before the COMMIT: read before the COMMIT is
     * sent, so nothing is committed (the writer rolls back and runs the group again) */
    static const char SET[] = "UPDATE meta SET value = 'changed' WHERE key = $1";
    assert_int_equal(pg_exec(c, "BEGIN", &err), 0);
    assert_int_equal(pg_defer(c, SET, 1, key, NULL, 0, 2, &err), 0);
    assert_int_equal(pg_commit(c, "COMMIT", &err), 1);
    assert_non_null(strstr(err.msg, "1 rows changed, 2 expected"));
    assert_int_equal(pg_exec(c, "ROLLBACK", &err), 0);
    r = pg_run(c, "SELECT value FROM meta WHERE key = 'pipeline_test'", 0, NULL, NULL, 0, &err);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    /* the same expectation met: committed */
    assert_int_equal(pg_exec(c, "BEGIN", &err), 0);
    assert_int_equal(pg_defer(c, SET, 1, key, NULL, 0, 1, &err), 0);
    assert_int_equal(pg_commit(c, "COMMIT", &err), 0);
    /* a transaction that failed on the server (a statement's error, the connection fine):
     * its COMMIT is answered as a ROLLBACK, never reported committed */
    assert_int_equal(pg_exec(c, "BEGIN", &err), 0);
    assert_null(pg_run(c, BAD, 1, zero, NULL, 0, &err));
    assert_int_equal(pg_commit(c, "COMMIT", &err), 1);
    assert_non_null(strstr(err.msg, "rolled back"));
    /* without defer, pg_defer runs at once */
    c->defer = false;
    assert_int_equal(pg_defer(c, UPD, 1, key, NULL, 0, 1, &err), 0);
    assert_int_equal(c->npending, 0);
    assert_int_equal(pg_defer(c, BAD, 1, zero, NULL, 0, -1, &err), -1);
    assert_non_null(strstr(err.msg, "query: "));
    assert_null(strstr(err.msg, "SELECT"));
    r = pg_run(c, ONE, 1, two, NULL, 0, &err);
    assert_non_null(r);
    PQclear(r);
    store_close(s);
}

static int hev_insert(struct store_tx *tx, void *arg, struct err *err)
{
    (void)arg;
    struct store_event e = {"has-events", "buy", 1, 1.0, NULL};
    bool inserted = false;
    return tx->store->ops->events_insert(tx, &e, 1, &inserted, err);
}

struct hev {
    bool has[3];
    bool ridden; /* the answer came with the exposures read (no round trip of its own) */
};

static void hev_nothing(void *ctx, size_t i, const char *variant, int64_t ts, int64_t cts)
{
    (void)ctx;
    (void)i;
    (void)variant;
    (void)ts;
    (void)cts;
}

/* users_with_events read ahead, with the exposures read after deferred user locks, as the
 * exposures path of attribution does */
static int hev_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct hev *h = arg;
    const struct store_ops *ops = tx->store->ops;
    const char *users[] = {"has-events", "no-events"};
    const char *ask[] = {"no-events", "has-events", "no-events"};
    struct store_xrow key = {.user_id = "has-events", .experiment = "e"};
    if (ops->lock_users(tx, users, 2, err) != 0) {
        return -1;
    }
    ops->users_with_events_ahead(tx, users, 2);
    struct pg_conn *c = tx->conn;
    int before = c->npending;
    if (ops->exposures_get(tx, &key, 1, hev_nothing, NULL, err) != 0) {
        return -1;
    }
    h->ridden = before > 0 && c->npending == 0;
    return ops->users_with_events(tx, ask, 3, h->has, err);
}

/* PostgreSQL: which users have events, read in the same round trip as the exposures read
 * after the user locks; exact (a user without events is false, not a "maybe"). */
static void test_pg_users_with_events_ahead(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *s = open_migrated();
    struct err err;
    assert_int_equal(store_write_sync(s, hev_insert, NULL, &err), 0);
    struct hev h = {{true, false, true}, false};
    assert_int_equal(store_write_sync(s, hev_apply, &h, &err), 0);
    assert_true(h.ridden);
    assert_false(h.has[0]);
    assert_true(h.has[1]);
    assert_false(h.has[2]);
    store_close(s);
}

/* ---- the user-lock budget (PostgreSQL, src/store/pg/ingest.c pg_lock_users) ---- */

struct ulock_check {
    struct pg_conn *watch; /* another session, reading pg_locks */
    int outcome[4];        /* per step below: 0 as expected, else the step's line */
};

/* Advisory locks of classid cls in mode (e.g. "ExclusiveLock") held by c's session. */
static long long held(struct pg_conn *watch, struct pg_conn *c, const char *cls, const char *mode)
{
    struct err err;
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", PQbackendPID(c->pg));
    const char *v[] = {pid, cls, mode};
    PGresult *r = pg_run(watch,
                         "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
                         "$1::int AND classid = $2::oid AND mode = $3 AND granted",
                         3, v, NULL, 0, &err);
    long long n = r != NULL ? pg_i64(r, 0, 0) : -1;
    PQclear(r);
    return n;
}

#define ULOCK_ALL_CLASS   "1112887380"
#define ULOCK_USERS_CLASS "1112887378"

/* Step 0: 4 users over a budget of 3, the transaction's first lock: the all-users lock,
 * exclusive, and no user lock. */
static int ulock_big(struct store_tx *tx, void *arg, struct err *err)
{
    struct ulock_check *u = arg;
    struct pg_conn *c = tx->conn;
    const char *users[] = {"a", "b", "c", "d"};
    if (pg_lock_users(tx, users, 4, err) != 0 || pg_lock_users(tx, users, 2, err) != 0) {
        return -1;
    }
    PQclear(pg_run(c, "SELECT 1", 0, NULL, NULL, 0, err)); /* the deferred locks are taken */
    u->outcome[0] = held(u->watch, c, ULOCK_ALL_CLASS, "ExclusiveLock") == 1 &&
                            held(u->watch, c, ULOCK_USERS_CLASS, "ExclusiveLock") == 0
                        ? 0
                        : __LINE__;
    return 0;
}

/* Steps 1-3: 2 users (the all-users lock shared, then theirs), 2 more (over the budget:
 * retryable, nothing taken), and a savepoint rolled back, which gives back what it took. */
static int ulock_small(struct store_tx *tx, void *arg, struct err *err)
{
    struct ulock_check *u = arg;
    struct pg_conn *c = tx->conn;
    const char *users[] = {"a", "b"}, *more[] = {"c", "d"};
    if (pg_lock_users(tx, users, 2, err) != 0) {
        return -1;
    }
    PQclear(pg_run(c, "SELECT 1", 0, NULL, NULL, 0, err));
    u->outcome[1] = held(u->watch, c, ULOCK_ALL_CLASS, "ShareLock") == 1 &&
                            held(u->watch, c, ULOCK_USERS_CLASS, "ExclusiveLock") == 2
                        ? 0
                        : __LINE__;
    struct err e2;
    u->outcome[2] = pg_lock_users(tx, more, 2, &e2) == -1 && tx->store->ops->tx_retryable(tx) &&
                            e2.code == ERR_UNAVAILABLE
                        ? 0
                        : __LINE__;
    return 0;
}

static int ulock_savepoint(struct store_tx *tx, void *arg, struct err *err)
{
    struct ulock_check *u = arg;
    struct pg_conn *c = tx->conn;
    const struct store_ops *ops = tx->store->ops;
    const char *users[] = {"a", "b"};
    if (ops->tx_savepoint(tx, err) != 0 || pg_lock_users(tx, users, 2, err) != 0 ||
        ops->tx_rollback_to(tx, err) != 0) {
        return -1;
    }
    bool released = held(u->watch, c, ULOCK_ALL_CLASS, "ShareLock") == 0 &&
                    held(u->watch, c, ULOCK_USERS_CLASS, "ExclusiveLock") == 0;
    /* the budget is whole again, and the all-users lock is taken again before any user's */
    const char *three[] = {"a", "b", "c"};
    if (pg_lock_users(tx, three, 3, err) != 0) {
        return -1;
    }
    PQclear(pg_run(c, "SELECT 1", 0, NULL, NULL, 0, err));
    u->outcome[3] = released && held(u->watch, c, ULOCK_ALL_CLASS, "ShareLock") == 1 &&
                            held(u->watch, c, ULOCK_USERS_CLASS, "ExclusiveLock") == 3
                        ? 0
                        : __LINE__;
    return ops->tx_release(tx, err);
}

static void test_pg_user_lock_budget(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *s = open_migrated();
    struct err err;
    struct pg_store *p = pg_be(s);
    struct ulock_check u = {.watch = pg_conn_open(p->conninfo, NULL, &err)};
    assert_non_null(u.watch);
    assert_int_equal(store_write_sync(s, ulock_small, &u, &err), 0); /* connects, reads */
    /* read from the server: a quarter of its lock table (64 x (max_connections + 0)) for
     * this one writer */
    assert_true(p->user_lock_budget >= 64 * 100 / 4);
    /* a definition change (a barrier: the catalogue lock exclusively) takes no user lock */
    struct store_tx bt = {.store = s};
    assert_int_equal(s->ops->tx_begin(s, &bt, true, &err), 0);
    const char *five[] = {"a", "b", "c", "d", "e"};
    size_t budget = p->user_lock_budget;
    p->user_lock_budget = 3;
    assert_int_equal(pg_lock_users(&bt, five, 5, &err), 0);
    PQclear(pg_run(bt.conn, "SELECT 1", 0, NULL, NULL, 0, &err));
    assert_int_equal(held(u.watch, bt.conn, ULOCK_ALL_CLASS, "ExclusiveLock"), 0);
    assert_int_equal(held(u.watch, bt.conn, ULOCK_USERS_CLASS, "ExclusiveLock"), 0);
    s->ops->tx_rollback(&bt);
    p->user_lock_budget = budget;
    p->user_lock_budget = 3;
    memset(u.outcome, 0, sizeof(u.outcome));
    assert_int_equal(store_write_sync(s, ulock_big, &u, &err), 0);
    assert_int_equal(store_write_sync(s, ulock_small, &u, &err), 0);
    assert_int_equal(store_write_sync(s, ulock_savepoint, &u, &err), 0);
    for (int i = 0; i < 4; i++) {
        if (u.outcome[i] != 0) {
            fail_msg("step %d: line %d", i, u.outcome[i]);
        }
    }
    assert_true(p->user_locks_all >= 1);
    pg_conn_close(u.watch);
    store_close(s);
}

/* The writer keeps a group's items within the backend's budget: jobs of 2 items with a budget
 * of 3 commit one per transaction, a 1-item job joins a 2-item one. */
struct txid_job {
    struct store_job job;
    bool fail; /* apply() fails (not retryable) */
    long long txid;
    int rc; /* done()'s */
    atomic_bool done;
};

static int txid_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct txid_job *j = arg;
    if (j->fail) {
        return err_set(err, ERR_INVALID, NULL, "this job fails");
    }
    PGresult *r = pg_run(tx->conn, "SELECT txid_current()", 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    j->txid = pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

static void txid_done(void *arg, int rc, const struct err *err)
{
    (void)err;
    struct txid_job *j = arg;
    j->rc = rc;
    atomic_store(&j->done, true);
}

static void test_pg_group_items(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *s = open_migrated();
    struct err err;
    struct txid_job first = {.job = {.apply = txid_apply, .done = txid_done}};
    first.job.arg = &first;
    assert_int_equal(store_write_sync(s, txid_apply, &first, &err), 0); /* connected */
    pg_be(s)->user_lock_budget = 3;
    assert_int_equal(store_writer_start(s, 100, &err), 0);
    atomic_int gated;
    struct store_job gate;
    hold_writer(s, &gate, &gated); /* the jobs below queue behind it */
    static const size_t items[] = {2, 2, 2, 1, 4, 0};
    enum { N = sizeof(items) / sizeof(items[0]) };
    struct txid_job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct txid_job){.job = {.apply = txid_apply, .done = txid_done}};
        jobs[i].job.arg = &jobs[i];
        jobs[i].job.items = items[i];
        jobs[i].job.retryable = true;
        assert_int_equal(store_submit(s, &jobs[i].job, &err), 0);
    }
    atomic_store(&gate_open, true);
    for (int i = 0; i < N; i++) {
        WAIT_FOR(atomic_load(&jobs[i].done), "the done() of every job");
        assert_int_equal(jobs[i].rc, 0);
    }
    store_writer_stop(s);
    /* [2] [2] [2 1] [4 0]: the first job over the budget takes the group alone but for
     * jobs without items */
    assert_true(jobs[0].txid != jobs[1].txid);
    assert_true(jobs[1].txid != jobs[2].txid);
    assert_true(jobs[2].txid == jobs[3].txid);
    assert_true(jobs[3].txid != jobs[4].txid);
    assert_true(jobs[4].txid == jobs[5].txid);
    store_close(s);
}

/* PostgreSQL: a transaction runs at most 64 jobs with a savepoint each (pg db.c
 * savepoint_jobs_max; past 64 subtransactions every snapshot on the server reads
 * pg_subtrans): a savepoint-free group that failed runs its first 64 again with savepoints
 * and puts the rest back in the queue, where they commit in a later group. A job that is
 * not retryable runs alone (its locks are the only ones of its transaction). */
static void test_pg_savepoint_groups(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *s = open_writing(1000);
    struct err err;
    enum { N = 150, MAX = 64 };
    static struct txid_job jobs[N];
    for (int round = 0; round < 2; round++) {
        atomic_int gated;
        struct store_job gate;
        hold_writer(s, &gate, &gated); /* the jobs below queue behind it */
        for (int i = 0; i < N; i++) {
            jobs[i] = (struct txid_job){.job = {.apply = txid_apply, .done = txid_done}};
            jobs[i].job.arg = &jobs[i];
            /* round 0: the first is not retryable; round 1: all are, and the fourth fails */
            jobs[i].job.retryable = round == 1 || i > 0;
            jobs[i].fail = round == 1 && i == 3;
            assert_int_equal(store_submit(s, &jobs[i].job, &err), 0);
        }
        atomic_store(&gate_open, true);
        for (int i = 0; i < N; i++) {
            WAIT_FOR(atomic_load(&jobs[i].done), "the done() of every job");
            assert_int_equal(jobs[i].rc, jobs[i].fail ? -1 : 0);
        }
        if (round == 0) { /* the first alone, then all the others in one group */
            for (int i = 1; i < N; i++) {
                assert_true(jobs[i].txid != jobs[0].txid);
                assert_true(jobs[i].txid == jobs[1].txid);
            }
            continue;
        }
        long long first = jobs[0].txid;
        for (int i = 1; i < MAX; i++) {
            if (!jobs[i].fail) {
                assert_true(jobs[i].txid == first);
            }
        }
        for (int i = MAX; i < N; i++) {
            assert_true(jobs[i].txid != first);
        }
    }
    store_writer_stop(s);
    store_close(s);
}

/* Connections carry Bunsen's defaults (keep-alives, a bound on unacknowledged data) under
 * the operator's URL, which overrides them. Without them a vanished database host held the
 * writer for the kernel's ~15-minute retransmission timeout. */
static const char *conn_option(PGconn *pg, const char *key, char *buf, size_t n)
{
    PQconninfoOption *o = PQconninfo(pg);
    buf[0] = '\0';
    for (PQconninfoOption *i = o; i != NULL && i->keyword != NULL; i++) {
        if (strcmp(i->keyword, key) == 0 && i->val != NULL) {
            snprintf(buf, n, "%s", i->val);
        }
    }
    PQconninfoFree(o);
    return buf;
}

static void test_pg_connection_defaults(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct err err;
    char v[64];
    struct pg_conn *c = pg_conn_open(url, NULL, &err);
    assert_non_null(c);
    assert_string_equal(conn_option(c->pg, "connect_timeout", v, sizeof(v)), "10");
    pg_conn_close(c);
    /* a connection waits no longer than a statement (--db-timeout 3) */
    _Atomic int limit = 3000;
    c = pg_conn_open(url, &limit, &err);
    assert_non_null(c);
    assert_string_equal(conn_option(c->pg, "connect_timeout", v, sizeof(v)), "3");
    pg_conn_close(c);
    c = pg_conn_open(url, NULL, &err);
    assert_non_null(c);
    assert_string_equal(conn_option(c->pg, "keepalives_idle", v, sizeof(v)), "10");
    assert_string_equal(conn_option(c->pg, "tcp_user_timeout", v, sizeof(v)), "30000");
    pg_conn_close(c);
    /* the operator's own value wins */
    char own[600];
    snprintf(own, sizeof(own), "%s%stcp_user_timeout=5000", url, strchr(url, '?') ? "&" : "?");
    c = pg_conn_open(own, NULL, &err);
    assert_non_null(c);
    assert_string_equal(conn_option(c->pg, "tcp_user_timeout", v, sizeof(v)), "5000");
    assert_string_equal(conn_option(c->pg, "keepalives", v, sizeof(v)), "1");
    pg_conn_close(c);
}

static char *show(PGconn *pg, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SHOW %s", name);
    PGresult *r = PQexec(pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* The server's side of a daemon that stops answering: a transaction left idle is ended after
 * 10 s and a silent client is probed (a frozen daemon held the catalogue lock and its users'
 * locks until it came back, stalling every other daemon's writes), unless the operator set
 * them; a definition change waits at most 5 s for the catalogue. */
static void test_pg_session_defaults(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *s = open_migrated();
    PGconn *w = pg_be(s)->writer->pg;
    char *v = show(w, "idle_in_transaction_session_timeout");
    assert_string_equal(v, "10s");
    free(v);
    /* a statement whose client gave up (the answer timeout) ends within 2 s, its locks and
     * connection slot with it, instead of when it ends by itself */
    v = show(w, "client_connection_check_interval");
    assert_string_equal(v, "2s");
    free(v);
    if (strstr(url, "host=/") == NULL && strstr(url, "@/") == NULL) { /* TCP, as in tests */
        v = show(w, "tcp_keepalives_idle"); /* read back as the kernel's 7200 when unset */
        assert_string_equal(v, "10");
        free(v);
    }
    struct store_tx tx;
    tx_open(s, &tx, true);
    v = show(w, "lock_timeout");
    assert_string_equal(v, "5s");
    free(v);
    tx_done(&tx);
    v = show(w, "lock_timeout");
    assert_string_equal(v, "0");
    free(v);
    store_close(s);
    /* the operator's own setting (here in the URL's options) wins */
    char own[700];
    snprintf(own, sizeof(own),
             "%s%soptions=-c%%20idle_in_transaction_session_timeout%%3D3s%%20-c%%20"
             "tcp_user_timeout%%3D0",
             url, strchr(url, '?') ? "&" : "?");
    struct err err;
    struct pg_conn *c = pg_conn_open(own, NULL, &err);
    assert_non_null(c);
    v = show(c->pg, "idle_in_transaction_session_timeout");
    assert_string_equal(v, "3s");
    free(v);
    v = show(c->pg, "tcp_user_timeout"); /* an explicit 0 is the operator's too */
    assert_string_equal(v, "0");
    free(v);
    pg_conn_close(c);
}

/* A server that does not answer (stopped, its disk stuck, a synchronous standby gone: here
 * pg_sleep) held the writer, and every request behind it, for as long as it lasted. Each
 * way a statement is read (one prepared statement, a pipelined group's flush, SQL text, a
 * prepare) gives up after the connection's answer timeout with ERR_UNAVAILABLE, and the
 * connection is reopened before its next use. */
static void test_pg_answer_timeout(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    _Atomic int limit = 300;
    struct err err;
    struct pg_conn *c = pg_conn_open(url, &limit, &err);
    assert_non_null(c);
    static const char SLEEP[] = "SELECT pg_sleep(3)";
    static const char SLEEP_ARG[] = "SELECT pg_sleep($1::float8)";
    static const char ONE[] = "SELECT 1";
    for (int way = 0; way < 4; way++) {
        uint64_t t0 = time_mono_ns();
        err_clear(&err);
        int rc = 0;
        if (way == 0) { /* a prepared statement (its prepare answered in time) */
            const char *v[] = {"3"};
            PGresult *r = pg_run(c, SLEEP_ARG, 1, v, NULL, 0, &err);
            rc = r != NULL ? 0 : -1;
            PQclear(r);
        } else if (way == 1) { /* deferred writes read with the next statement */
            c->defer = true;
            assert_int_equal(pg_defer(c, SLEEP, 0, NULL, NULL, 0, -1, &err), 0);
            PGresult *r = pg_run(c, ONE, 0, NULL, NULL, 0, &err);
            rc = r != NULL ? 0 : -1;
            PQclear(r);
            c->defer = false;
        } else if (way == 2) { /* SQL text */
            rc = pg_exec(c, "SELECT 1; SELECT pg_sleep(3)", &err);
        } else { /* the prepare itself: the server waits on a lock held elsewhere */
            assert_int_equal(server_exec(url, "CREATE TABLE IF NOT EXISTS t_answer (x int)"), 0);
            PGconn *holder = PQconnectdb(url);
            PGresult *l = PQexec(holder, "BEGIN; LOCK TABLE t_answer IN ACCESS EXCLUSIVE MODE");
            assert_int_equal(PQresultStatus(l), PGRES_COMMAND_OK);
            PQclear(l);
            static const char COUNT[] = "SELECT count(*) FROM t_answer";
            PGresult *r = pg_run(c, COUNT, 0, NULL, NULL, 0, &err);
            rc = r != NULL ? 0 : -1;
            PQclear(r);
            PQfinish(holder);
        }
        double s = (double)(time_mono_ns() - t0) / 1e9;
        fprintf(stderr, "# way %d: %d after %.2f s: %s\n", way, rc, s, err.msg);
        assert_int_equal(rc, -1);
        assert_int_equal(err.code, ERR_UNAVAILABLE);
        /* no statement kind ("query: ") in what clients read (review journey35 F2) */
        assert_int_equal(strncmp(err.msg, "the database did not answer in time", 35), 0);
        assert_true(s < 2.5); /* not the 3 s the server takes */
        assert_true(c->broken);
        /* reopened, it answers what it is asked */
        assert_int_equal(pg_conn_ensure(c, url, &err), 0);
        PGresult *r = pg_run(c, ONE, 0, NULL, NULL, 0, &err);
        assert_non_null(r);
        assert_string_equal(PQgetvalue(r, 0, 0), "1");
        PQclear(r);
    }
    /* no timeout: the answer is awaited */
    limit = 0;
    const char *v[] = {"0.5"};
    PGresult *r = pg_run(c, SLEEP_ARG, 1, v, NULL, 0, &err);
    assert_non_null(r);
    PQclear(r);
    pg_conn_close(c);
}

/* A pooled read connection whose server session ended (a restart, a failover, an idle drop)
 * is found out by its next statement: a read outside a transaction runs again on a new
 * connection. It answered 503, and authentication then accepted keys verified in the last
 * 10 minutes from memory, a key revoked meanwhile on another daemon included. */
static void test_pg_reader_session_lost(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *s = open_migrated();
    struct store_tx tx;
    tx_open(s, &tx, true);
    insert_admin(&tx, "key_lost1", 1000);
    tx_done(&tx);
    uint8_t hash[32];
    auth_key_hash("key_lost1", 9, hash);
    struct store_key k;
    struct err err;
    assert_int_equal(store_key_find_by_hash(s, hash, &k, &err), 0); /* a pooled reader now */
    /* end every session of this database but the one asking */
    PGconn *admin = PQconnectdb(url);
    PGresult *r = PQexec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                                "datname = current_database() AND pid <> pg_backend_pid()");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(PQntuples(r) >= 1);
    PQclear(r);
    PQfinish(admin);
    err_clear(&err);
    if (store_key_find_by_hash(s, hash, &k, &err) != 0) {
        fail_msg("the read after the sessions ended failed: %s", err.msg);
    }
    assert_string_equal(k.id, "key_lost1");
    store_close(s);
}

/* A statement that finds its connection's session ended (a restart, pg_terminate_backend)
 * answers what every other loss of the database answers, PG_UNREACHABLE: it was "exec:
 * database unavailable (...)", the statement's kind reaching clients (review journey35 F2).
 * The kind and the server's text are the log's: pg_last_connection_failure. */
static void test_pg_session_lost_wording(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    const _Atomic int limit = 5000;
    struct err err;
    struct pg_conn *c = pg_conn_open(url, &limit, &err);
    assert_non_null(c);
    PGconn *admin = PQconnectdb(url);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(c->pg));
    PGresult *r = PQexec(admin, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    PQfinish(admin);
    err_clear(&err);
    assert_int_equal(pg_exec(c, "SELECT 1", &err), -1);
    fprintf(stderr, "# after pg_terminate_backend: %s\n", err.msg);
    assert_int_equal(err.code, ERR_UNAVAILABLE);
    assert_string_equal(err.msg, PG_UNREACHABLE);
    char reason[1600];
    assert_true(pg_last_connection_failure(reason, sizeof(reason)));
    fprintf(stderr, "# kept for the log: %s\n", reason);
    /* "server closed the connection unexpectedly", or the FATAL when libpq read it first */
    assert_true(strstr(reason, "closed the connection") != NULL ||
                strstr(reason, "terminating connection") != NULL);
    assert_int_equal(strncmp(reason, "exec: ", 6), 0);
    pg_conn_close(c);
}

/* The tasks (thread ids) of this process into ids (at most cap); their number. */
static int task_ids(long *ids, int cap)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        if (e->d_name[0] != '.') {
            ids[n++] = atol(e->d_name);
        }
    }
    closedir(d);
    return n;
}

/* Whether task tid blocks SIGHUP (its SigBlk mask in /proc). */
static bool task_blocks_hup(long tid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%ld/status", tid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    unsigned long long mask = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "SigBlk:", 7) == 0) {
            mask = strtoull(line + 7, NULL, 16);
        }
    }
    fclose(f);
    return (mask & (1ull << (SIGHUP - 1))) != 0;
}

/* The catalogue refresher (store_catalog_refresh_within) blocks every signal whatever the mask
 * of the thread that starts it: started with pthread_create from a thread that could take
 * SIGHUP, it would take logrotate's reload and die with the daemon (util.h thread_start;
 * review code29 F6). */
static void test_pg_refresher_signals(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *s = open_migrated();
    sigset_t hup, old;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &hup, &old), 0);
    long before[256], after[256];
    int nb = task_ids(before, 256);
    struct err err;
    err_clear(&err);
    if (store_catalog_refresh_within(s, 5000, &err) != 0) {
        fail_msg("the refresh failed: %s", err.msg);
    }
    int na = task_ids(after, 256);
    int started = 0;
    for (int i = 0; i < na; i++) {
        bool known = false;
        for (int j = 0; j < nb && !known; j++) {
            known = after[i] == before[j];
        }
        if (!known) {
            started++;
            assert_true(task_blocks_hup(after[i]));
        }
    }
    assert_true(started >= 1); /* the refresher */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    store_close(s);
}

/* ---- a rebuild's chunk on statistics older than its experiment (src/store/pg/rebuild.c) ---- */

/* The plans auto_explain sends the writer's session as notices, appended. */
struct plans {
    char *text;
    size_t len;
};

static void plan_notice(void *arg, const PGresult *r)
{
    struct plans *p = arg;
    const char *m = PQresultErrorMessage(r);
    size_t n = strlen(m);
    p->text = realloc(p->text, p->len + n + 1);
    assert_non_null(p->text);
    memcpy(p->text + p->len, m, n + 1);
    p->len += n;
}

static long long pg_value(struct pg_conn *c, const char *sql)
{
    struct err err;
    PGresult *r = pg_run(c, sql, 0, NULL, NULL, 0, &err);
    assert_non_null(r);
    long long v = pg_i64(r, 0, 0);
    PQclear(r);
    return v;
}

/* An experiment loaded after the last ANALYZE (autovacuum off in this database: the state
 * right after a load, before autovacuum's ANALYZE), then rebuilt: each chunk's statements
 * look its users up by key. Joined on the chunk's range, the DELETE of the users' rows was
 * planned as a nested loop with a join filter (one row guessed on each side), every
 * user_metrics row of the experiment against the whole range: 12 s per 500-user chunk at
 * 20,000 users, with PG_LOCK_REBUILD held (review pg29 F2). The plans are read, not timed. */
static void test_pg_rebuild_chunk_probes(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *s = open_migrated();
    struct err err;
    struct pg_conn *c = pg_be(s)->writer;
    static const char *const load[] = {
        "ALTER TABLE exposures SET (autovacuum_enabled = false)",
        "ALTER TABLE user_metrics SET (autovacuum_enabled = false)",
        "ALTER TABLE events SET (autovacuum_enabled = false)",
        "ALTER TABLE exposure_dims SET (autovacuum_enabled = false)",
        "INSERT INTO exposures (user_id, experiment, variant, ts) SELECT 'o' || i, 'old', 'a', 1 "
        "FROM generate_series(1, 200) i",
        "INSERT INTO user_metrics (user_id, experiment, metric) SELECT 'o' || i, 'old', 'm' "
        "FROM generate_series(1, 200) i",
        "INSERT INTO events (user_id, event, ts, value) SELECT 'o' || i, 'old_buy', 2, 1 FROM "
        "generate_series(1, 200) i",
        "ANALYZE exposures, user_metrics, events, exposure_dims",
        /* experiment e, after the statistics: 2,000 users, an event each, two rows each in
         * user_metrics (the rebuild deletes both and writes m's again) */
        "INSERT INTO exposures (user_id, experiment, variant, ts) SELECT 'u' || i, 'e', CASE "
        "WHEN i % 2 = 0 THEN 'a' ELSE 'b' END, 1000 FROM generate_series(1, 2000) i",
        "INSERT INTO events (user_id, event, ts, value) SELECT 'u' || i, 'buy', 2000, 1 FROM "
        "generate_series(1, 2000) i",
        "INSERT INTO user_metrics (user_id, experiment, metric) SELECT 'u' || i, 'e', k FROM "
        "generate_series(1, 2000) i, (VALUES ('m'), ('n')) v(k)",
        /* every statement's plan to this session, as a notice */
        "LOAD 'auto_explain'",
        "SET auto_explain.log_min_duration = 0",
        "SET auto_explain.log_level = notice",
        "SET client_min_messages = notice",
    };
    for (size_t i = 0; i < sizeof(load) / sizeof(load[0]); i++) {
        if (pg_exec(c, load[i], &err) != 0) {
            fail_msg("%s: %s", load[i], err.msg);
        }
    }
    store_rebuild_configure(s, 500, 0);
    struct store_rule *rl = one_rule("e", "m", "buy", RULE_COUNT);
    struct store_rules *rules = store_rules_new(rl, 1);
    size_t nr = 0;
    const struct store_rule *const *rs = store_rules_for_experiment(rules, "e", &nr);
    struct plans p = {0};
    PQnoticeReceiver was = PQsetNoticeReceiver(c->pg, plan_notice, &p);
    struct store_tx tx;
    tx_open(s, &tx, true);
    assert_ptr_equal(tx.conn, c);
    /* no kept exposure counts: the rebuild runs to its end here, chunk after chunk */
    assert_int_equal(store_rebuild_start(&tx, "e", 0, rs, nr, &err), 0);
    tx_done(&tx);
    PQsetNoticeReceiver(c->pg, was, NULL);
    assert_int_equal(pg_exec(c, "SET auto_explain.log_min_duration = -1", &err), 0);
    assert_non_null(p.text);
    /* the chunks ran, and no plan compared rows pair by pair */
    assert_non_null(strstr(p.text, "Delete on user_metrics"));
    const char *f = strstr(p.text, "Join Filter");
    if (f != NULL) {
        const char *from = f;
        while (from > p.text && strncmp(from, "Query Text:", 11) != 0) {
            from--;
        }
        fail_msg("a chunk's plan joins by filter:\n%.*s", (int)(f - from) + 80, from);
    }
    /* the users' rows deleted by ctid, found by probes of the primary key */
    assert_non_null(strstr(p.text, "Tid Scan on user_metrics"));
    assert_non_null(strstr(p.text, "Index Scan using user_metrics_pkey"));
    assert_non_null(strstr(p.text, "Index Scan using exposures_pkey"));
    free(p.text);
    /* and the recompute is whole: m's rows again, n's gone, every user counted */
    assert_int_equal(pg_value(c, "SELECT count(*) FROM rollup_rebuilds"), 0);
    assert_int_equal(pg_value(c, "SELECT count(*) FROM user_metrics WHERE experiment = 'e' AND "
                                 "metric = 'm' AND y_raw = 1"),
                     2000);
    assert_int_equal(pg_value(c, "SELECT count(*) FROM user_metrics WHERE experiment = 'e' AND "
                                 "metric = 'n'"),
                     0);
    assert_int_equal(
        pg_value(c, "SELECT COALESCE(SUM(users), 0) FROM exposure_stats WHERE experiment = 'e'"),
        2000);
    assert_int_equal(pg_value(c, "SELECT COALESCE(SUM(n), 0) FROM metric_stats WHERE "
                                 "experiment = 'e' AND metric = 'm'"),
                     2000);
    store_rules_free(rules);
    store_close(s);
}

int main(void)
{
    backend_detect();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_pipeline),
        cmocka_unit_test(test_pg_users_with_events_ahead),
        cmocka_unit_test(test_pg_user_lock_budget),
        cmocka_unit_test(test_pg_group_items),
        cmocka_unit_test(test_pg_savepoint_groups),
        cmocka_unit_test(test_pg_connection_defaults),
        cmocka_unit_test(test_pg_session_defaults),
        cmocka_unit_test(test_pg_answer_timeout),
        cmocka_unit_test(test_pg_reader_session_lost),
        cmocka_unit_test(test_pg_session_lost_wording),
        cmocka_unit_test(test_pg_refresher_signals),
        cmocka_unit_test(test_pg_rebuild_chunk_probes),
    };
    return cmocka_run_group_tests_name(on_pg ? "store_pg (postgres)" : "store_pg", tests, setup,
                                       teardown);
}
