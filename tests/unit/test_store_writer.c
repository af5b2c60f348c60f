/* Store unit tests: the writer's transactions. Group commit with a savepoint per job and
 * retryable groups without them, apply_batch, synchronous writes, keys and the audit log
 * written through it, the bounded queue, submissions while the writer stops, a job that
 * breaks its own savepoint, and writes deferred by the backend (PostgreSQL pipelining)
 * failing for their own job only. The two tests that reach under store.h do so in each
 * backend's own terms (pg_int.h, sqlite_int.h).
 *
 * Both backends (store_fixture.h): a fresh SQLite file per test by default, a fresh PostgreSQL
 * database when BUNSEN_TEST_DATABASE names a server (tests/pg/api.sh). */
#include "store_fixture.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bunsen/store.h"
#include "../../src/store/pg/pg_int.h"         /* a job that breaks the savepoint stack */
#include "../../src/store/sqlite/sqlite_int.h" /* the same on SQLite */

static void test_writer_savepoints(void **state)
{
    (void)state;
    struct store *s = open_writing(1000);
    struct err err;
    enum { N = 200 };
    static struct kjob jobs[N];
    for (int i = 0; i < N; i++) {
        make_kjob(&jobs[i], i, i % 7 == 3);
        assert_int_equal(store_submit(s, &jobs[i].job, &err), 0);
    }
    for (int i = 0; i < N; i++) {
        kjob_wait(&jobs[i]);
        assert_int_equal(jobs[i].done_rc, i % 7 == 3 ? -1 : 0);
        assert_int_equal(jobs[i].done_code, i % 7 == 3 ? ERR_INVALID : ERR_OK); /* its own */
    }
    struct store_writer_stats st;
    store_writer_get_stats(s, &st);
    assert_int_equal(st.jobs, N);
    assert_true(st.commits >= 1 && st.commits <= N);
    struct store_key *keys = NULL;
    size_t n = 0;
    assert_int_equal(store_key_list(s, true, &keys, &n, &err), 0);
    int expect = 0;
    for (int i = 0; i < N; i++) {
        expect += i % 7 == 3 ? 0 : 1;
    }
    assert_int_equal((int)n, expect); /* failed jobs left nothing behind */
    free(keys);
    /* a duplicate id is a conflict, reported to that job only */
    struct kjob dup;
    make_kjob(&dup, 0, false);
    assert_int_equal(store_submit(s, &dup.job, &err), 0);
    kjob_wait(&dup);
    assert_int_equal(dup.done_rc, -1);
    assert_int_equal(dup.done_code, ERR_CONFLICT); /* a unique violation, on either backend */
    store_writer_stop(s);
    /* after stop, submissions are refused with unavailable */
    assert_int_equal(store_submit(s, &dup.job, &err), -1);
    assert_int_equal(err.code, ERR_UNAVAILABLE);
    store_close(s);
}

/* Groups of retryable jobs run without per-job savepoints; a failing job sends its group
 * round again with them: every job ends as with savepoints, and nothing of a failed job
 * stays. */
static void test_writer_retryable_groups(void **state)
{
    (void)state;
    struct store *s = open_writing(1000);
    struct err err;
    enum { N = 200 };
    static struct kjob jobs[N];
    __atomic_store_n(&kjob_applied, 0, __ATOMIC_RELAXED);
    for (int i = 0; i < N; i++) {
        make_kjob(&jobs[i], i, i % 7 == 3);
        jobs[i].job.retryable = true;
        assert_int_equal(store_submit(s, &jobs[i].job, &err), 0);
    }
    for (int i = 0; i < N; i++) {
        kjob_wait(&jobs[i]);
        assert_int_equal(jobs[i].done_rc, i % 7 == 3 ? -1 : 0);
        assert_int_equal(jobs[i].done_code, i % 7 == 3 ? ERR_INVALID : ERR_OK); /* its own */
    }
    /* each failing job made its group run twice */
    assert_true(__atomic_load_n(&kjob_applied, __ATOMIC_RELAXED) > N);
    struct store_key *keys = NULL;
    size_t n = 0;
    assert_int_equal(store_key_list(s, true, &keys, &n, &err), 0);
    int expect = 0;
    for (int i = 0; i < N; i++) {
        expect += i % 7 == 3 ? 0 : 1;
    }
    assert_int_equal((int)n, expect);
    free(keys);
    /* a group without failures runs once */
    static struct kjob ok[10];
    __atomic_store_n(&kjob_applied, 0, __ATOMIC_RELAXED);
    for (int i = 0; i < 10; i++) {
        make_kjob(&ok[i], 1000 + i, false);
        ok[i].job.retryable = true;
        assert_int_equal(store_submit(s, &ok[i].job, &err), 0);
    }
    for (int i = 0; i < 10; i++) {
        kjob_wait(&ok[i]);
        assert_int_equal(ok[i].done_rc, 0);
    }
    assert_int_equal(__atomic_load_n(&kjob_applied, __ATOMIC_RELAXED), 10);
    store_writer_stop(s);
    store_close(s);
}

static void test_sync_and_lookup(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    struct kjob k;
    make_kjob(&k, 42, false);
    snprintf(k.key.role, sizeof(k.key.role), "admin");
    assert_int_equal(store_write_sync(s, sync_apply, &k, &err), 0); /* direct, no writer */
    int admins = 0;
    assert_int_equal(store_key_count_admins(s, NULL, &admins, &err), 0);
    assert_int_equal(admins, 1);
    assert_int_equal(store_writer_start(s, 10, &err), 0);
    struct kjob k2;
    make_kjob(&k2, 43, false);
    assert_int_equal(store_write_sync(s, sync_apply, &k2, &err), 0); /* through the writer */
    struct kjob k3;
    make_kjob(&k3, 44, true);
    assert_int_equal(store_write_sync(s, sync_apply, &k3, &err), -1);
    assert_int_equal(err.code, ERR_INVALID);
    struct store_key found;
    assert_int_equal(store_key_find_by_hash(s, k2.hash, &found, &err), 0);
    assert_string_equal(found.id, "key_43");
    assert_int_equal(store_key_find_by_hash(s, k3.hash, &found, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    store_close(s);
}

static int revoke_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct store_key before;
    return store_key_revoke(tx, arg, 99, &before, err);
}

static int audit_apply(struct store_tx *tx, void *arg, struct err *err)
{
    (void)arg;
    struct store_audit e = {.actor_id = "a",
                            .actor_name = "alice",
                            .action = "x.do",
                            .target_type = "key",
                            .target = "key_1",
                            .before_json = NULL,
                            .after_json = "{\"a\":1}"};
    if (store_audit_append(tx, &e, err) != 0) {
        return -1;
    }
    e.target = "key_2";
    return store_audit_append(tx, &e, err);
}

static void count_emit(void *ctx, const struct store_audit *e)
{
    int *n = ctx;
    assert_string_equal(e->actor_name, "alice");
    (*n)++;
}

static void test_revoke_and_audit(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    struct kjob k;
    make_kjob(&k, 7, false);
    char id7[] = "key_7", nope[] = "key_nope";
    assert_int_equal(store_write_sync(s, sync_apply, &k, &err), 0);
    assert_int_equal(store_write_sync(s, revoke_apply, id7, &err), 0);
    assert_int_equal(store_write_sync(s, revoke_apply, id7, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_int_equal(store_write_sync(s, revoke_apply, nope, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    struct store_key found;
    assert_int_equal(store_key_find_by_hash(s, k.hash, &found, &err), -1);
    assert_int_equal(store_write_sync(s, audit_apply, NULL, &err), 0);
    int n = 0;
    assert_int_equal(store_audit_list(s, 0, NULL, NULL, 10, 0, count_emit, &n, &err), 0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(store_audit_list(s, 0, "key", "key_2", 10, 0, count_emit, &n, &err), 0);
    assert_int_equal(n, 1);
    /* a byte bound below one entry's documents: the first only, and "more may follow" */
    n = 0;
    assert_int_equal(store_audit_list(s, 0, NULL, NULL, 10, 1, count_emit, &n, &err), 1);
    assert_int_equal(n, 1);
    store_close(s);
}

/* A bounded queue: while the writer is busy, submissions beyond queue_max are refused with
 * ERR_UNAVAILABLE (the HTTP layer turns that into 503 + Retry-After) instead of growing. */
static void test_writer_queue_bound(void **state)
{
    (void)state;
    struct store *s = open_writing(2);
    struct err err;
    atomic_store(&gate_open, false);
    atomic_int done;
    atomic_init(&done, 0);
    struct store_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct store_job){.apply = gate_apply, .done = gate_done, .arg = &done};
    }
    assert_int_equal(store_submit(s, &jobs[0], &err), 0);
    WAIT_FOR(writer_queue_empty(s), "the writer to take job 0");
    assert_int_equal(store_submit(s, &jobs[1], &err), 0);
    assert_int_equal(store_submit(s, &jobs[2], &err), 0);
    assert_int_equal(store_submit(s, &jobs[3], &err), -1);
    assert_int_equal(err.code, ERR_UNAVAILABLE);
    atomic_store(&gate_open, true);
    store_writer_stop(s); /* drains: jobs 0..2 complete */
    assert_int_equal(atomic_load(&done), 3);
    store_close(s);
}

/* ---- submissions while the writer stops (SIGTERM under load) ---- */

struct ws_ctx {
    struct store *s;
    atomic_bool quit, stopped;
    atomic_int accepted, finished, late, wrong; /* late: refused after the stop */
};

static int ws_apply(struct store_tx *tx, void *arg, struct err *err)
{
    (void)tx;
    (void)arg;
    (void)err;
    return 0;
}

static struct ws_ctx *ws_current;

/* The job was allocated by its submitter: count it and free it. */
static void ws_done(void *arg, int rc, const struct err *err)
{
    (void)rc;
    (void)err;
    atomic_fetch_add(&ws_current->finished, 1);
    free(arg);
}

static void *ws_submitter(void *arg)
{
    struct ws_ctx *c = arg;
    while (!atomic_load(&c->quit)) {
        bool after = atomic_load(&c->stopped);
        struct store_job *j = calloc(1, sizeof(*j));
        assert_non_null(j);
        j->apply = ws_apply;
        j->done = ws_done;
        j->arg = j;
        struct err err;
        if (store_submit(c->s, j, &err) == 0) {
            atomic_fetch_add(&c->accepted, 1);
            continue; /* done() frees it */
        }
        free(j);
        if (after) {
            atomic_fetch_add(&c->late, 1);
        }
        /* refused once the writer stops: "shutting down", as the HTTP layer answers it */
        if (err.code != ERR_UNAVAILABLE || (after && strstr(err.msg, "shutting down") == NULL &&
                                            strstr(err.msg, "queue is full") == NULL)) {
            atomic_fetch_add(&c->wrong, 1);
        }
    }
    return NULL;
}

/* At SIGTERM serve.c stops the writer while the HTTP server still takes requests. The writer
 * was freed at once, and store_submit reads s->writer without a lock and then locks its mutex:
 * a request submitting at that moment used freed memory (ASan: heap-use-after-free in 5 of 5
 * runs with a sleep injected between the two; the review saw 503 "the writer is not running"
 * under load, so requests do get there). Now the stopped writer stays until store_close, and
 * every submission after the stop is refused "shutting down". Four threads submit without a
 * pause while the writer stops, in 100 rounds; under `make asan` a use after free fails it. */
static void test_writer_stop_beside_submits(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    enum { ROUNDS = 100, THREADS = 4 };
    for (int r = 0; r < ROUNDS; r++) {
        struct ws_ctx c = {.s = s};
        ws_current = &c;
        assert_int_equal(store_writer_start(s, 64, &err), 0);
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++) {
            assert_int_equal(pthread_create(&t[i], NULL, ws_submitter, &c), 0);
        }
        struct timespec ts = {0, 200000L * (r % 5 + 1)};
        nanosleep(&ts, NULL);
        store_writer_stop(s);
        atomic_store(&c.stopped, true);
        /* they go on submitting to the stopped writer */
        for (int i = 0; i < 100000 && atomic_load(&c.late) < 4 * THREADS; i++) {
            nanosleep(&ts, NULL);
        }
        atomic_store(&c.quit, true);
        for (int i = 0; i < THREADS; i++) {
            pthread_join(t[i], NULL);
        }
        /* every accepted job ran its done() before the stop returned */
        assert_int_equal(atomic_load(&c.finished), atomic_load(&c.accepted));
        if (atomic_load(&c.wrong) != 0) {
            fail_msg("round %d: %d refusals after the stop were not 'shutting down'", r,
                     atomic_load(&c.wrong));
        }
        assert_true(atomic_load(&c.late) >= 4 * THREADS);
    }
    ws_current = NULL;
    store_close(s);
}

static atomic_int batch_calls, batch_max;

static int kjob_apply_batch(struct store_tx *tx, void *const *args, size_t n, struct err *err)
{
    atomic_fetch_add(&batch_calls, 1);
    if ((int)n > atomic_load(&batch_max)) {
        atomic_store(&batch_max, (int)n);
    }
    for (size_t i = 0; i < n; i++) {
        if (kjob_apply(tx, args[i], err) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Retryable jobs with an apply_batch: queued behind a busy writer they form one group and
 * run as one apply_batch call; when the call fails, the group runs again with a savepoint
 * and apply() per job: every job ends as alone. */
static void test_writer_apply_batch(void **state)
{
    (void)state;
    struct store *s = open_writing(1000);
    struct err err;
    for (int round = 0; round < 2; round++) {
        bool failing = round == 1;
        atomic_int gated;
        struct store_job gate;
        hold_writer(s, &gate, &gated); /* the jobs below queue behind it */
        enum { N = 40 };
        static struct kjob jobs[N];
        atomic_store(&batch_calls, 0);
        atomic_store(&batch_max, 0);
        for (int i = 0; i < N; i++) {
            make_kjob(&jobs[i], 2000 + round * 100 + i, failing && i == 17);
            jobs[i].job.retryable = true;
            jobs[i].job.apply_batch = kjob_apply_batch;
            assert_int_equal(store_submit(s, &jobs[i].job, &err), 0);
        }
        atomic_store(&gate_open, true);
        for (int i = 0; i < N; i++) {
            kjob_wait(&jobs[i]);
            assert_int_equal(jobs[i].done_rc, failing && i == 17 ? -1 : 0);
            assert_int_equal(jobs[i].done_code, failing && i == 17 ? ERR_INVALID : ERR_OK);
        }
        assert_true(atomic_load(&batch_max) > 1); /* several jobs in one call */
        assert_true(atomic_load(&batch_calls) < N);
        struct store_key k;
        for (int i = 0; i < N; i++) {
            int rc = store_key_find_by_hash(s, jobs[i].hash, &k, &err);
            assert_int_equal(rc, failing && i == 17 ? -1 : 0);
        }
    }
    store_writer_stop(s);
    store_close(s);
}

/* A job that writes, then destroys its own savepoint (RELEASE job) and fails: the writer's
 * ROLLBACK TO cannot undo it (SQLite: "no such savepoint"; PostgreSQL: the savepoint does
 * not exist and the transaction is aborted). The whole group must fail and nothing of it
 * commit: not the broken job's row, nor the rows of the good jobs around it. */
static atomic_bool savepoint_broken; /* the RELEASE went through: the scenario happened */

static int breaking_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct kjob *k = arg;
    if (store_key_insert(tx, &k->key, k->hash, err) != 0) {
        return -1;
    }
    bool released;
    if (on_pg) {
        PGresult *r = PQexec(((struct pg_conn *)tx->conn)->pg, "RELEASE SAVEPOINT job");
        released = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
    } else {
        released = sqlite3_exec(sqlite_tx_db(tx), "RELEASE job", NULL, NULL, NULL) == SQLITE_OK;
    }
    atomic_store(&savepoint_broken, released);
    return err_set(err, ERR_INVALID, NULL, "failing after breaking the savepoint");
}

static void test_writer_failed_undo_fails_group(void **state)
{
    (void)state;
    struct store *s = open_writing(1000);
    struct err err;
    atomic_store(&savepoint_broken, false);
    static struct kjob jobs[3];
    make_kjob(&jobs[0], 900, false);
    make_kjob(&jobs[1], 901, false);
    jobs[1].job.apply = breaking_apply;
    make_kjob(&jobs[2], 902, false);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_submit(s, &jobs[i].job, &err), 0);
    }
    for (int i = 0; i < 3; i++) {
        kjob_wait(&jobs[i]);
    }
    /* the broken job failed; nothing of its group may be in the database */
    assert_true(atomic_load(&savepoint_broken));
    assert_int_equal(jobs[1].done_rc, -1);
    struct store_key *keys = NULL;
    size_t n = 0;
    assert_int_equal(store_key_list(s, true, &keys, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(keys[i].id, "key_901");
    }
    /* a job is stored exactly when it was told so (those sharing the broken group failed) */
    for (int i = 0; i < 3; i += 2) {
        bool stored = false;
        for (size_t k = 0; k < n; k++) {
            stored = stored || strcmp(keys[k].id, jobs[i].key.id) == 0;
        }
        assert_int_equal(stored, jobs[i].done_rc == 0);
    }
    free(keys);
    /* the writer still works */
    struct kjob after;
    make_kjob(&after, 903, false);
    assert_int_equal(store_submit(s, &after.job, &err), 0);
    kjob_wait(&after);
    assert_int_equal(after.done_rc, 0);
    store_writer_stop(s);
    store_close(s);
}

/* ---- writes deferred by the backend (PostgreSQL pipelining, pipeline.c) ---- */

static atomic_int deferred_seen; /* applies that left a write pending (PostgreSQL) */

/* A key (written at once) then, as the job's last write, a first exposure; dup: an exposure
 * that is already stored, a unique violation that PostgreSQL reports only with the next
 * statement or the COMMIT (the write is deferred). */
static int xjob_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct kjob *k = arg;
    __atomic_add_fetch(&kjob_applied, 1, __ATOMIC_RELAXED);
    if (store_key_insert(tx, &k->key, k->hash, err) != 0) {
        return -1;
    }
    struct store_xrow row = {.user_id = k->fail ? "stored" : k->key.id,
                             .experiment = "e",
                             .variant = "v",
                             .ts = 1,
                             .is_new = true};
    if (tx->store->ops->exposures_put(tx, &row, 1, err) != 0) {
        return -1;
    }
    if (on_pg && ((struct pg_conn *)tx->conn)->npending > 0) {
        atomic_fetch_add(&deferred_seen, 1);
    }
    return 0;
}

static int xstored_apply(struct store_tx *tx, void *arg, struct err *err)
{
    (void)arg;
    struct store_xrow row = {.user_id = "stored",
                             .experiment = "e",
                             .variant = "v",
                             .ts = 1,
                             .conflict_ts = STORE_NO_CONFLICT,
                             .is_new = true};
    return tx->store->ops->exposures_put(tx, &row, 1, err);
}

static void xrow_found(void *ctx, size_t i, const char *variant, int64_t ts, int64_t cts)
{
    (void)i;
    (void)variant;
    (void)ts;
    (void)cts;
    (*(int *)ctx)++;
}

struct xcount {
    const char *user;
    int found;
};

static int xcount_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct xcount *x = arg;
    struct store_xrow key = {.user_id = x->user, .experiment = "e"};
    x->found = 0;
    return tx->store->ops->exposures_get(tx, &key, 1, xrow_found, &x->found, err);
}

static atomic_bool hold_open, hold_entered;

/* A job that holds the writer until hold_open (failing after WAIT_HANG_S: the test has by then). */
static int hold_apply(struct store_tx *tx, void *arg, struct err *err)
{
    atomic_store(&hold_entered, true);
    int64_t since = 0;
    while (!atomic_load(&hold_open) && wait_more(&since)) {
    }
    if (!atomic_load(&hold_open)) {
        return err_set(err, ERR_INTERNAL, "", "hold: not opened within %d s", WAIT_HANG_S);
    }
    return kjob_apply(tx, arg, err);
}

/* A retryable job whose deferred write fails: reported to that job alone, at the statement
 * after it or at the COMMIT (a lone job), and nothing of it stays; the others commit. On
 * SQLite the same failure is immediate: the outcome is the same. */
static void test_writer_deferred_failure(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    assert_int_equal(store_write_sync(s, xstored_apply, NULL, &err), 0);
    assert_int_equal(store_writer_start(s, 1000, &err), 0);
    atomic_store(&deferred_seen, 0);
    enum { N = 60 };
    static struct kjob jobs[N];
    for (int i = 0; i < N; i++) {
        make_kjob(&jobs[i], 2000 + i, i % 5 == 2);
        jobs[i].job.apply = xjob_apply;
        jobs[i].job.retryable = true;
        assert_int_equal(store_submit(s, &jobs[i].job, &err), 0);
    }
    for (int i = 0; i < N; i++) {
        kjob_wait(&jobs[i]);
    }
    /* then a group of two whose last write fails: that can show only at the COMMIT, and
     * the first job must still commit (the gate holds the writer while both are queued) */
    static struct kjob gate, first, last;
    make_kjob(&gate, 2997, false);
    gate.job.apply = hold_apply;
    atomic_store(&hold_open, false);
    atomic_store(&hold_entered, false);
    assert_int_equal(store_submit(s, &gate.job, &err), 0);
    WAIT_FOR(atomic_load(&hold_entered), "the gate job's apply()");
    make_kjob(&first, 2998, false);
    make_kjob(&last, 2999, true);
    first.job.apply = last.job.apply = xjob_apply;
    first.job.retryable = last.job.retryable = true;
    assert_int_equal(store_submit(s, &first.job, &err), 0);
    assert_int_equal(store_submit(s, &last.job, &err), 0);
    atomic_store(&hold_open, true);
    kjob_wait(&gate);
    kjob_wait(&first);
    kjob_wait(&last);
    assert_int_equal(first.done_rc, 0);
    assert_int_equal(last.done_rc, -1);
    assert_int_equal(last.done_code, ERR_CONFLICT);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].done_rc, i % 5 == 2 ? -1 : 0);
        assert_int_equal(jobs[i].done_code, i % 5 == 2 ? ERR_CONFLICT : ERR_OK);
    }
    if (on_pg) {
        assert_true(atomic_load(&deferred_seen) > 0); /* the writes were deferred */
    }
    /* exactly the jobs told "committed" left their key and their exposure */
    struct store_key *keys = NULL;
    size_t n = 0;
    assert_int_equal(store_key_list(s, true, &keys, &n, &err), 0);
    assert_int_equal((int)n, N - N / 5 + 2); /* and the gate's and the first's */
    free(keys);
    for (int i = 0; i < N; i++) {
        struct xcount x = {.user = jobs[i].key.id};
        assert_int_equal(store_write_sync(s, xcount_apply, &x, &err), 0);
        assert_int_equal(x.found, i % 5 == 2 ? 0 : 1);
    }
    store_writer_stop(s);
    store_close(s);
}

int main(void)
{
    backend_detect();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_savepoints),
        cmocka_unit_test(test_writer_retryable_groups),
        cmocka_unit_test(test_writer_deferred_failure),
        cmocka_unit_test(test_sync_and_lookup),
        cmocka_unit_test(test_revoke_and_audit),
        cmocka_unit_test(test_writer_queue_bound),
        cmocka_unit_test(test_writer_stop_beside_submits),
        cmocka_unit_test(test_writer_apply_batch),
        cmocka_unit_test(test_writer_failed_undo_fails_group),
    };
    return cmocka_run_group_tests_name(on_pg ? "store_writer (postgres)" : "store_writer", tests,
                                       setup, teardown);
}
