/* Unit tests for the store: migrations from empty, idempotent re-run, refusal of a newer
 * schema, the writer's group commit with per-job savepoints, sync writes, keys, audit. */
#include "unit.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bunsen/auth.h"
#include "bunsen/migrations.h"
#include "bunsen/store.h"
#include "bunsen/util.h"
#include "../../src/store/sqlite/sqlite_int.h" /* a job that breaks the savepoint stack */

static char dir[64];
static char db[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/bunsen-unit-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(db, sizeof(db), "%s/t.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct store *open_fresh(void)
{
    unlink(db);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", db);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", db);
    unlink(wal);
    struct store *s = NULL;
    struct err err;
    assert_int_equal(store_open(db, &s, &err), 0);
    return s;
}

static void test_migrate_from_empty(void **state)
{
    (void)state;
    struct store *s = open_fresh();
    struct err err;
    int v = -1, applied = -1;
    assert_int_equal(store_schema_version(s, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(store_migrate(s, &applied, &err), 0);
    assert_int_equal(applied, bunsen_migrations_count);
    assert_int_equal(store_schema_version(s, &v, &err), 0);
    assert_int_equal(v, bunsen_migrations[bunsen_migrations_count - 1].version);
    assert_int_equal(store_migrate(s, &applied, &err), 0);
    assert_int_equal(applied, 0);
    store_close(s);
    /* migrations are numbered strictly increasing */
    for (int i = 1; i < bunsen_migrations_count; i++) {
        assert_true(bunsen_migrations[i].version > bunsen_migrations[i - 1].version);
    }
}

static void test_refuse_newer(void **state)
{
    (void)state;
    struct store *s = open_fresh();
    struct err err;
    assert_int_equal(store_migrate(s, NULL, &err), 0);
    store_close(s);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "INSERT INTO schema_migrations VALUES (100000, 'future', 0)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    s = NULL;
    assert_int_equal(store_open(db, &s, &err), -1);
    assert_null(s);
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "newer"));
}

struct kjob {
    struct store_job job;
    struct store_key key;
    uint8_t hash[32];
    bool fail;
    int done_rc;
    bool done;
};

static int kjob_applied; /* apply() calls (the writer thread's; read after the jobs are done) */

static int kjob_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct kjob *k = arg;
    __atomic_add_fetch(&kjob_applied, 1, __ATOMIC_RELAXED);
    if (store_key_insert(tx, &k->key, k->hash, err) != 0) {
        return -1;
    }
    if (k->fail) {
        return err_set(err, ERR_INVALID, "x", "failing on purpose after a write");
    }
    return 0;
}

static void kjob_done(void *arg, int rc, const struct err *err)
{
    (void)err;
    struct kjob *k = arg;
    k->done_rc = rc;
    __atomic_store_n(&k->done, true, __ATOMIC_RELEASE);
}

static void make_kjob(struct kjob *k, int i, bool fail)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->key.id, sizeof(k->key.id), "key_%d", i);
    snprintf(k->key.name, sizeof(k->key.name), "n%d", i);
    snprintf(k->key.role, sizeof(k->key.role), "sdk");
    snprintf(k->key.prefix, sizeof(k->key.prefix), "p");
    k->key.created_at = i;
    auth_key_hash(k->key.id, strlen(k->key.id), k->hash);
    k->fail = fail;
    k->job.apply = kjob_apply;
    k->job.done = kjob_done;
    k->job.arg = k;
}

static void test_writer_savepoints(void **state)
{
    (void)state;
    struct store *s = open_fresh();
    struct err err;
    assert_int_equal(store_migrate(s, NULL, &err), 0);
    assert_int_equal(store_writer_start(s, 1000, &err), 0);
    enum { N = 200 };
    static struct kjob jobs[N];
    for (int i = 0; i < N; i++) {
        make_kjob(&jobs[i], i, i % 7 == 3);
        assert_int_equal(store_submit(s, &jobs[i].job, &err), 0);
    }
    for (int i = 0; i < N; i++) {
        while (!__atomic_load_n(&jobs[i].done, __ATOMIC_ACQUIRE)) {
            usleep(1000);
        }
        assert_int_equal(jobs[i].done_rc, i % 7 == 3 ? -1 : 0);
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
    while (!__atomic_load_n(&dup.done, __ATOMIC_ACQUIRE)) {
        usleep(1000);
    }
    assert_int_equal(dup.done_rc, -1);
    store_writer_stop(s);
    /* after stop, submissions are refused with unavailable */
    assert_int_equal(store_submit(s, &dup.job, &err), -1);
    assert_int_equal(err.code, ERR_UNAVAILABLE);
    store_close(s);
}

static int sync_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct kjob *k = arg;
    return kjob_apply(tx, k, err);
}

/* Groups of retryable jobs run without per-job savepoints; a failing job sends its group
 * round again with them: every job ends as with savepoints, and nothing of a failed job
 * stays. */
static void test_writer_retryable_groups(void **state)
{
    (void)state;
    struct store *s = open_fresh();
    struct err err;
    assert_int_equal(store_migrate(s, NULL, &err), 0);
    assert_int_equal(store_writer_start(s, 1000, &err), 0);
    enum { N = 200 };
    static struct kjob jobs[N];
    __atomic_store_n(&kjob_applied, 0, __ATOMIC_RELAXED);
    for (int i = 0; i < N; i++) {
        make_kjob(&jobs[i], i, i % 7 == 3);
        jobs[i].job.retryable = true;
        assert_int_equal(store_submit(s, &jobs[i].job, &err), 0);
    }
    for (int i = 0; i < N; i++) {
        while (!__atomic_load_n(&jobs[i].done, __ATOMIC_ACQUIRE)) {
            usleep(1000);
        }
        assert_int_equal(jobs[i].done_rc, i % 7 == 3 ? -1 : 0);
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
        while (!__atomic_load_n(&ok[i].done, __ATOMIC_ACQUIRE)) {
            usleep(1000);
        }
        assert_int_equal(ok[i].done_rc, 0);
    }
    assert_int_equal(__atomic_load_n(&kjob_applied, __ATOMIC_RELAXED), 10);
    store_writer_stop(s);
    store_close(s);
}

static void test_sync_and_lookup(void **state)
{
    (void)state;
    struct store *s = open_fresh();
    struct err err;
    assert_int_equal(store_migrate(s, NULL, &err), 0);
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
    struct store *s = open_fresh();
    struct err err;
    assert_int_equal(store_migrate(s, NULL, &err), 0);
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
    assert_int_equal(store_audit_list(s, 0, NULL, NULL, 10, count_emit, &n, &err), 0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(store_audit_list(s, 0, "key", "key_2", 10, count_emit, &n, &err), 0);
    assert_int_equal(n, 1);
    store_close(s);
}

static atomic_bool gate_open;

static int gate_apply(struct store_tx *tx, void *arg, struct err *err)
{
    (void)tx;
    (void)arg;
    (void)err;
    while (!atomic_load(&gate_open)) {
        usleep(1000);
    }
    return 0;
}

static void gate_done(void *arg, int rc, const struct err *err)
{
    (void)err;
    atomic_int *n = arg;
    if (rc == 0) {
        atomic_fetch_add(n, 1);
    }
}

/* A bounded queue: while the writer is busy, submissions beyond queue_max are refused with
 * ERR_UNAVAILABLE (the HTTP layer turns that into 503 + Retry-After) instead of growing. */
static void test_writer_queue_bound(void **state)
{
    (void)state;
    struct store *s = open_fresh();
    struct err err;
    assert_int_equal(store_migrate(s, NULL, &err), 0);
    assert_int_equal(store_writer_start(s, 2, &err), 0);
    atomic_store(&gate_open, false);
    atomic_int done;
    atomic_init(&done, 0);
    struct store_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct store_job){.apply = gate_apply, .done = gate_done, .arg = &done};
    }
    assert_int_equal(store_submit(s, &jobs[0], &err), 0);
    while (1) { /* wait until the writer holds job 0 (queue empty again) */
        struct store_writer_stats st;
        store_writer_get_stats(s, &st);
        if (st.queue_depth == 0) {
            break;
        }
        usleep(1000);
    }
    assert_int_equal(store_submit(s, &jobs[1], &err), 0);
    assert_int_equal(store_submit(s, &jobs[2], &err), 0);
    assert_int_equal(store_submit(s, &jobs[3], &err), -1);
    assert_int_equal(err.code, ERR_UNAVAILABLE);
    atomic_store(&gate_open, true);
    store_writer_stop(s); /* drains: jobs 0..2 complete */
    assert_int_equal(atomic_load(&done), 3);
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
    struct store *s = open_fresh();
    struct err err;
    assert_int_equal(store_migrate(s, NULL, &err), 0);
    assert_int_equal(store_writer_start(s, 1000, &err), 0);
    for (int round = 0; round < 2; round++) {
        bool failing = round == 1;
        atomic_store(&gate_open, false);
        atomic_int gated;
        atomic_init(&gated, 0);
        struct store_job gate = {.apply = gate_apply, .done = gate_done, .arg = &gated};
        assert_int_equal(store_submit(s, &gate, &err), 0);
        for (;;) { /* the writer holds the gate alone: the jobs below queue behind it */
            struct store_writer_stats st;
            store_writer_get_stats(s, &st);
            if (st.queue_depth == 0) {
                break;
            }
            usleep(1000);
        }
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
            while (!__atomic_load_n(&jobs[i].done, __ATOMIC_ACQUIRE)) {
                usleep(1000);
            }
            assert_int_equal(jobs[i].done_rc, failing && i == 17 ? -1 : 0);
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
 * ROLLBACK TO cannot undo it. The whole group must fail and nothing of it commit: not the
 * broken job's row, nor the rows of the good jobs around it. */
static int breaking_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct kjob *k = arg;
    if (store_key_insert(tx, &k->key, k->hash, err) != 0) {
        return -1;
    }
    sqlite3_exec(sqlite_tx_db(tx), "RELEASE job", NULL, NULL, NULL);
    return err_set(err, ERR_INVALID, NULL, "failing after breaking the savepoint");
}

static void test_writer_failed_undo_fails_group(void **state)
{
    (void)state;
    struct store *s = open_fresh();
    struct err err;
    assert_int_equal(store_migrate(s, NULL, &err), 0);
    assert_int_equal(store_writer_start(s, 1000, &err), 0);
    static struct kjob jobs[3];
    make_kjob(&jobs[0], 900, false);
    make_kjob(&jobs[1], 901, false);
    jobs[1].job.apply = breaking_apply;
    make_kjob(&jobs[2], 902, false);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_submit(s, &jobs[i].job, &err), 0);
    }
    for (int i = 0; i < 3; i++) {
        while (!__atomic_load_n(&jobs[i].done, __ATOMIC_ACQUIRE)) {
            usleep(1000);
        }
    }
    /* the broken job failed; nothing of its group may be in the database */
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
    while (!__atomic_load_n(&after.done, __ATOMIC_ACQUIRE)) {
        usleep(1000);
    }
    assert_int_equal(after.done_rc, 0);
    store_writer_stop(s);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_from_empty),
        cmocka_unit_test(test_refuse_newer),
        cmocka_unit_test(test_writer_savepoints),
        cmocka_unit_test(test_writer_retryable_groups),
        cmocka_unit_test(test_sync_and_lookup),
        cmocka_unit_test(test_revoke_and_audit),
        cmocka_unit_test(test_writer_queue_bound),
        cmocka_unit_test(test_writer_apply_batch),
        cmocka_unit_test(test_writer_failed_undo_fails_group),
    };
    return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
