/* Store unit tests: the order in which the writer takes its queue. done() on the
 * completion thread in commit order, urgent jobs ahead of the queue, small jobs ahead of
 * larger ones (and larger ones not starved), the cap on larger jobs beside small ones, the
 * item bound of a SQLite group, and a backlog meeting another process's short lock.
 *
 * Both backends (store_fixture.h): a fresh SQLite file per test by default, a fresh PostgreSQL
 * database when BUNSEN_TEST_DATABASE names a server (tests/pg/api.sh). */
#include "store_fixture.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bunsen/store.h"

static int nothing_apply(struct store_tx *tx, void *arg, struct err *err)
{
    (void)tx;
    (void)arg;
    (void)err;
    return 0;
}

/* ---- the test's clock: time passes when the test moves it, not while it sleeps ----
 * One time in milliseconds, read by the writer's queue (store_int.h queue_clock_ns: how long a
 * job has waited, STORE_BULK_WAIT_MS) and, where clock_busy names a file, by the SQLite busy
 * waits of stores opened after it (BUNSEN_TEST_BUSY_CLOCK, src/store/sqlite/conn.c), so that
 * both agree on how old a job is. It starts at CLOCK_T0_MS (0 reads as "no wait under way" in
 * sqlite_tx_begin) and stands still until clock_advance. */
#define CLOCK_T0_MS 1000

static _Atomic uint64_t clock_ms = CLOCK_T0_MS;
static char clock_path[192]; /* the busy clock's file ("" when not used) */
static char waits_path[208]; /* its count of waits begun, a byte each */

static uint64_t clock_now_ns(void)
{
    return atomic_load(&clock_ms) * 1000000u;
}

/* Write the time to the busy clock's file (whole, then renamed: a reader never sees half a
 * number). */
static void clock_write(void)
{
    char tmp[224];
    snprintf(tmp, sizeof(tmp), "%s.tmp", clock_path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, "%llu\n", (unsigned long long)atomic_load(&clock_ms));
    fclose(f);
    assert_int_equal(rename(tmp, clock_path), 0);
}

/* s's queue on the test's clock, from CLOCK_T0_MS (before store_writer_start). */
static void clock_queue(struct store *s)
{
    atomic_store(&clock_ms, CLOCK_T0_MS);
    s->queue_clock_ns = clock_now_ns;
}

/* The busy waits of the SQLite connections opened from here on, on the test's clock, from
 * CLOCK_T0_MS as clock_queue's; their waits begun are counted in "<file>.waits"
 * (clock_busy_waits). Undone by clock_busy_done. */
static void clock_busy(void)
{
    snprintf(clock_path, sizeof(clock_path), "%s.clock", db);
    snprintf(waits_path, sizeof(waits_path), "%s.waits", clock_path);
    unlink(waits_path);
    atomic_store(&clock_ms, CLOCK_T0_MS); /* an earlier test may have moved it */
    clock_write();
    setenv("BUNSEN_TEST_BUSY_CLOCK", clock_path, 1);
}

/* The time in the busy clock's file: what the busy waits read. */
static uint64_t clock_busy_ms(void)
{
    FILE *f = fopen(clock_path, "r");
    assert_non_null(f);
    unsigned long long ms = 0;
    assert_int_equal(fscanf(f, "%llu", &ms), 1);
    fclose(f);
    return ms;
}

static long clock_busy_waits(void)
{
    struct stat sb;
    return stat(waits_path, &sb) == 0 ? (long)sb.st_size : 0;
}

static void clock_busy_done(void)
{
    unsetenv("BUNSEN_TEST_BUSY_CLOCK");
    unlink(waits_path);
    unlink(clock_path);
    clock_path[0] = '\0';
}

/* Time passes: ms more on the queue's clock and the busy clock's file. */
static void clock_advance(uint64_t ms)
{
    atomic_fetch_add(&clock_ms, ms);
    if (clock_path[0] != '\0') {
        clock_write();
    }
}

/* SQLite: a group holds at most 20,000 items (two requests at the item cap), so a backlog
 * never makes one huge (and long: a small write waits for the group running) transaction:
 * 12,000 + 8,000 commit together, 15,000 + 4,999 next. */
static void test_sqlite_group_items(void **state)
{
    (void)state;
    if (on_pg) {
        skip(); /* its budget is the lock table's: test_pg_group_items */
    }
    struct store *s = open_writing(100);
    struct err err;
    atomic_int gated, done;
    atomic_init(&done, 0);
    struct store_job gate;
    hold_writer(s, &gate, &gated);
    struct store_writer_stats before;
    store_writer_get_stats(s, &before);
    static const size_t items[] = {12000, 8000, 15000, 4999};
    struct store_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct store_job){
            .apply = nothing_apply, .done = gate_done, .arg = &done, .items = items[i]};
        jobs[i].retryable = true;
        assert_int_equal(store_submit(s, &jobs[i], &err), 0);
    }
    atomic_store(&gate_open, true);
    WAIT_FOR(atomic_load(&done) >= 4, "the four jobs' done()");
    struct store_writer_stats after;
    store_writer_get_stats(s, &after);                   /* counted before any done() runs */
    assert_int_equal(after.commits - before.commits, 3); /* the gate's, then two */
    store_writer_stop(s);
    store_close(s);
}

/* ---- done() on the completion thread (writer.c) ---- */

#define CJ_JOBS 200

struct cjob {
    struct store_job job;
    int index;
    atomic_bool done;
};

static atomic_int cj_order[CJ_JOBS];
static atomic_int cj_ndone;
static atomic_bool cj_published;      /* set by the barrier's done(), after a pause */
static atomic_int cj_saw_unpublished; /* later jobs' apply() that ran before it */

static int cj_apply(struct store_tx *tx, void *arg, struct err *err)
{
    (void)tx;
    (void)err;
    struct cjob *j = arg;
    if (j->index > 0 && !atomic_load(&cj_published)) {
        atomic_fetch_add(&cj_saw_unpublished, 1);
    }
    return 0;
}

static void cj_done(void *arg, int rc, const struct err *err)
{
    (void)err;
    struct cjob *j = arg;
    assert_int_equal(rc, 0);
    if (j->index == 0) {
        usleep(50000); /* a slow publication: later groups must wait for it */
        atomic_store(&cj_published, true);
    }
    cj_order[atomic_fetch_add(&cj_ndone, 1)] = j->index;
    atomic_store(&j->done, true);
}

/* done() calls run in submission (commit) order; a barrier job's done() runs before any
 * later job's apply() although done() no longer runs on the writer thread; stopping the
 * writer runs every pending done(). */
static void test_writer_completion_thread(void **state)
{
    (void)state;
    struct store *s = open_writing(1000);
    struct err err;
    static struct cjob jobs[CJ_JOBS];
    atomic_store(&cj_ndone, 0);
    atomic_store(&cj_published, false);
    atomic_store(&cj_saw_unpublished, 0);
    for (int i = 0; i < CJ_JOBS; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].index = i;
        jobs[i].job = (struct store_job){.apply = cj_apply, .done = cj_done, .arg = &jobs[i]};
        jobs[i].job.barrier = i == 0;
        jobs[i].job.retryable = i > 0;
        assert_int_equal(store_submit(s, &jobs[i].job, &err), 0);
    }
    store_writer_stop(s); /* returns once every done() ran */
    assert_int_equal(atomic_load(&cj_ndone), CJ_JOBS);
    for (int i = 0; i < CJ_JOBS; i++) {
        assert_true(atomic_load(&jobs[i].done));
        assert_int_equal(cj_order[i], i);
    }
    assert_int_equal(atomic_load(&cj_saw_unpublished), 0);
    store_close(s);
}

/* ---- urgent jobs (the readiness check) ---- */

static atomic_int uj_seq;

struct ujob {
    struct store_job job;
    int applied_at; /* the order apply() ran in, from 1 */
    atomic_bool done;
};

static int uj_apply(struct store_tx *tx, void *arg, struct err *err)
{
    (void)tx;
    (void)err;
    struct ujob *j = arg;
    j->applied_at = atomic_fetch_add(&uj_seq, 1) + 1;
    return 0;
}

static void uj_done(void *arg, int rc, const struct err *err)
{
    (void)err;
    struct ujob *j = arg;
    assert_int_equal(rc, 0);
    atomic_store(&j->done, true);
}

/* An urgent job waits for the group in progress, not for the jobs queued before it; urgent
 * jobs keep their order among themselves, and the queue's tail stays right (a job submitted
 * after an urgent one that emptied the queue's end still runs). */
static void test_writer_urgent_jobs(void **state)
{
    (void)state;
    struct store *s = open_writing(100);
    struct err err;
    atomic_store(&uj_seq, 0);
    atomic_int gated;
    struct store_job gate;
    hold_writer(s, &gate, &gated);
    static struct ujob j[8];
    memset(j, 0, sizeof(j));
    for (int i = 0; i < 8; i++) {
        j[i].job = (struct store_job){.apply = uj_apply, .done = uj_done, .arg = &j[i]};
    }
    /* queued: 0 1 2 (plain, 0 and 1 retryable), then urgent 3 and 4, then plain 5 */
    j[0].job.retryable = j[1].job.retryable = true;
    j[3].job.urgent = j[4].job.urgent = true;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(store_submit(s, &j[i].job, &err), 0);
    }
    atomic_store(&gate_open, true);
    WAIT_FOR(atomic_load(&j[5].done), "the done() of j[5]");
    assert_true(atomic_load(&j[5].done));
    assert_int_equal(j[3].applied_at, 1);
    assert_int_equal(j[4].applied_at, 2);
    assert_int_equal(j[0].applied_at, 3);
    assert_int_equal(j[1].applied_at, 4);
    assert_int_equal(j[2].applied_at, 5);
    assert_int_equal(j[5].applied_at, 6);
    /* an urgent job into an empty queue, then a plain one behind it */
    hold_writer(s, &gate, &gated);
    j[6].job.urgent = true;
    assert_int_equal(store_submit(s, &j[6].job, &err), 0);
    assert_int_equal(store_submit(s, &j[7].job, &err), 0);
    atomic_store(&gate_open, true);
    WAIT_FOR(atomic_load(&j[7].done), "the done() of j[7]");
    assert_true(atomic_load(&j[6].done) && atomic_load(&j[7].done));
    assert_int_equal(j[6].applied_at, 7);
    assert_int_equal(j[7].applied_at, 8);
    store_writer_stop(s);
    store_close(s);
}

/* Small jobs (STORE_SMALL_ITEMS) queue ahead of larger ones, behind urgent ones, each kind in
 * its order: a 1-event POST waited behind every queued 10,000-event batch. A larger job that
 * has waited STORE_BULK_WAIT_MS goes first, so small ones never starve it. */
static void test_writer_small_jobs_first(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    clock_queue(s); /* no job ages unless the test says so, however slow the machine */
    struct err err;
    assert_int_equal(store_writer_start(s, 100, &err), 0);
    atomic_store(&uj_seq, 0);
    atomic_int gated;
    struct store_job gate;
    hold_writer(s, &gate, &gated);
    static struct ujob j[9];
    memset(j, 0, sizeof(j));
    /* queued: bulk 0 1, small 2, urgent 3, small 4, bulk 5 */
    const size_t items[6] = {5000, 5000, 1, 0, STORE_SMALL_ITEMS, 5000};
    for (int i = 0; i < 6; i++) {
        j[i].job = (struct store_job){.apply = uj_apply,
                                      .done = uj_done,
                                      .arg = &j[i],
                                      .retryable = i != 3,
                                      .urgent = i == 3,
                                      .items = items[i]};
        assert_int_equal(store_submit(s, &j[i].job, &err), 0);
    }
    atomic_store(&gate_open, true);
    WAIT_FOR(atomic_load(&j[5].done) && atomic_load(&j[1].done), "the done() of j[5] and j[1]");
    const int want[6] = {4, 5, 2, 1, 3, 6}; /* 3, 2, 4, 0, 1, 5 */
    for (int i = 0; i < 6; i++) {
        assert_true(atomic_load(&j[i].done));
        assert_int_equal(j[i].applied_at, want[i]);
    }
    /* a larger job queued STORE_BULK_WAIT_MS ago goes ahead of the small ones behind it */
    hold_writer(s, &gate, &gated);
    for (int i = 6; i < 9; i++) {
        j[i].job = (struct store_job){.apply = uj_apply,
                                      .done = uj_done,
                                      .arg = &j[i],
                                      .retryable = true,
                                      .items = i == 6 ? 5000 : 1};
    }
    assert_int_equal(store_submit(s, &j[6].job, &err), 0);
    clock_advance(STORE_BULK_WAIT_MS + 100);
    assert_int_equal(store_submit(s, &j[7].job, &err), 0);
    assert_int_equal(store_submit(s, &j[8].job, &err), 0);
    atomic_store(&gate_open, true);
    WAIT_FOR(atomic_load(&j[8].done), "the done() of j[8]");
    assert_true(atomic_load(&j[6].done) && atomic_load(&j[7].done) && atomic_load(&j[8].done));
    assert_int_equal(j[6].applied_at, 7);
    assert_int_equal(j[7].applied_at, 8);
    assert_int_equal(j[8].applied_at, 9);
    /* a backlog of larger jobs, all old, does not starve the lane either, and a promoted one
     * stays behind the urgent job: the urgent job, then one of them with the small one, then
     * the others (a group each: 15,000 items) */
    static struct ujob k[5];
    memset(k, 0, sizeof(k));
    hold_writer(s, &gate, &gated);
    for (int i = 0; i < 5; i++) {
        k[i].job = (struct store_job){.apply = uj_apply,
                                      .done = uj_done,
                                      .arg = &k[i],
                                      .retryable = i != 3,
                                      .urgent = i == 3,
                                      .items = i < 3 ? 15000 : 1};
        if (i < 3) {
            assert_int_equal(store_submit(s, &k[i].job, &err), 0);
        }
    }
    clock_advance(STORE_BULK_WAIT_MS + 100);
    assert_int_equal(store_submit(s, &k[3].job, &err), 0); /* urgent */
    assert_int_equal(store_submit(s, &k[4].job, &err), 0); /* small */
    atomic_store(&gate_open, true);
    WAIT_FOR(atomic_load(&k[2].done) && atomic_load(&k[4].done), "the done() of k[2] and k[4]");
    assert_int_equal(k[3].applied_at, 10);
    assert_int_equal(k[0].applied_at, 11);
    assert_int_equal(k[4].applied_at, 12);
    assert_int_equal(k[1].applied_at, 13);
    assert_int_equal(k[2].applied_at, 14);
    store_writer_stop(s);
    store_close(s);
}

/* ---- the group's larger jobs capped beside small ones ---- */

struct gjob {
    struct store_job job;
    uint64_t group;             /* the writer's commits before the group that applied it */
    struct store_job *spawn[3]; /* submitted by its first apply(): queued while its group runs */
    atomic_bool done;
};

static struct store *gj_store;

static int gj_apply(struct store_tx *tx, void *arg, struct err *err)
{
    (void)tx;
    struct gjob *j = arg;
    struct store_writer_stats st;
    store_writer_get_stats(gj_store, &st);
    j->group = st.commits;
    for (int i = 0; i < 3; i++) {
        if (j->spawn[i] != NULL && store_submit(gj_store, j->spawn[i], err) != 0) {
            return -1;
        }
        j->spawn[i] = NULL;
    }
    return 0;
}

static void gj_done(void *arg, int rc, const struct err *err)
{
    (void)err;
    struct gjob *j = arg;
    assert_int_equal(rc, 0);
    atomic_store(&j->done, true);
}

/* While small jobs wait, or arrived while the last group ran, a group takes larger jobs only
 * up to STORE_BULK_BESIDE_SMALL_ITEMS beyond its first: a 1-event POST beside eight clients
 * sending 10,000-event batches waited for two groups of 20,000 items (~0.7 s p50). Without
 * small jobs around, larger ones share a group as before. */
static void test_writer_bulk_capped_beside_small(void **state)
{
    (void)state;
    struct store *s = open_writing(100);
    gj_store = s;
    struct err err;
    static struct gjob j[10];
    memset(j, 0, sizeof(j));
    /* two of them are over the cap; three fit in the backend's budget (PostgreSQL: its lock
     * table's share, ~1,600 items with the defaults) */
    const size_t bulk = STORE_BULK_BESIDE_SMALL_ITEMS / 2 + 1;

    for (int i = 0; i < 10; i++) {
        bool small = i == 0 || i == 5;
        j[i].job = (struct store_job){.apply = gj_apply,
                                      .done = gj_done,
                                      .arg = &j[i],
                                      .retryable = true,
                                      .items = small ? 1 : bulk};
    }
    /* a small job queued with three larger ones: it and one larger job (within the cap) make
     * a group, the other two the next (over the cap, but the small job's arrival is gone with
     * its group) */
    atomic_int gated;
    struct store_job gate;
    hold_writer(s, &gate, &gated);
    /* (read once the writer's connection is open: PostgreSQL sets it then) */
    size_t budget = s->ops->group_items_max != NULL ? s->ops->group_items_max(s) : 0;
    if (budget != 0 && budget < 3 * bulk) {
        print_message("# the backend's group budget (%zu items) is too small here: skipped\n",
                      budget);
        atomic_store(&gate_open, true);
        store_writer_stop(s);
        store_close(s);
        skip();
    }
    struct store_writer_stats st;
    store_writer_get_stats(s, &st);
    uint64_t g = st.commits + 1; /* the gate's group commits first */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(store_submit(s, &j[i].job, &err), 0);
    }
    atomic_store(&gate_open, true);
    WAIT_FOR(atomic_load(&j[3].done), "the done() of j[3]");
    for (int i = 0; i < 4; i++) {
        assert_true(atomic_load(&j[i].done));
    }
    assert_int_equal(j[0].group, g);
    assert_int_equal(j[1].group, g);
    assert_int_equal(j[2].group, g + 1);
    assert_int_equal(j[3].group, g + 1);
    /* a larger job alone in its group; while it runs a small job and two larger ones arrive:
     * the small one joins it, the larger ones do not, and the next group (a small job arrived
     * during the last) takes one of them only */
    hold_writer(s, &gate, &gated);
    store_writer_get_stats(s, &st);
    g = st.commits + 1;
    j[4].spawn[0] = &j[5].job;
    j[4].spawn[1] = &j[6].job;
    j[4].spawn[2] = &j[7].job;
    assert_int_equal(store_submit(s, &j[4].job, &err), 0);
    atomic_store(&gate_open, true);
    WAIT_FOR(atomic_load(&j[7].done), "the done() of j[7]");
    for (int i = 4; i < 8; i++) {
        assert_true(atomic_load(&j[i].done));
    }
    assert_int_equal(j[4].group, g);
    assert_int_equal(j[5].group, g);
    assert_int_equal(j[6].group, g + 1);
    assert_int_equal(j[7].group, g + 2);
    /* no small job around: larger jobs share a group */
    hold_writer(s, &gate, &gated);
    store_writer_get_stats(s, &st);
    g = st.commits + 1;
    for (int i = 8; i < 10; i++) {
        assert_int_equal(store_submit(s, &j[i].job, &err), 0);
    }
    atomic_store(&gate_open, true);
    WAIT_FOR(atomic_load(&j[9].done), "the done() of j[9]");
    assert_true(atomic_load(&j[8].done) && atomic_load(&j[9].done));
    assert_int_equal(j[8].group, g);
    assert_int_equal(j[9].group, g);
    store_writer_stop(s);
    store_close(s);
}

/* ---- a backlog beside another process's short lock (SQLite) ---- */

static atomic_bool bl_in_done, bl_release;
static atomic_int bl_rc;
static atomic_bool bl_finished;

static void bl_barrier_done(void *arg, int rc, const struct err *err)
{
    (void)arg;
    (void)rc;
    (void)err;
    atomic_store(&bl_in_done, true);
    int64_t since = 0; /* gives up after WAIT_HANG_S: the test has failed by then */
    while (!atomic_load(&bl_release) && wait_more(&since)) {
    }
}

static void bl_done(void *arg, int rc, const struct err *err)
{
    (void)arg;
    (void)err;
    atomic_store(&bl_rc, rc);
    atomic_store(&bl_finished, true);
}

/* A job queued for longer than the busy timeout (behind the daemon's own work) meets another
 * process's short write lock: it waits for it and commits. Counting the busy timeout from the
 * oldest job's submission (a first fix of the per-group waits) failed it at once: a backlog of
 * the writer's own failed whole on a 10 ms `bunsen keys create`. The backlog is made by a
 * barrier whose done() holds the writer (outside any transaction, so the lock can be taken
 * meanwhile) while the test's clock, the queue's and the busy waits' alike, moves 5.5 s on;
 * the lock is released once the job has begun to wait for it. */
static void test_backlog_beside_short_lock(void **state)
{
    (void)state;
    if (on_pg) {
        skip(); /* PostgreSQL's waits are --db-timeout's */
    }
    clock_busy(); /* before the store's connections open: they read the variable then */
    struct store *s = open_migrated();
    clock_queue(s);
    /* the queue's clock and the busy waits' start together */
    assert_int_equal(clock_busy_ms(), CLOCK_T0_MS);
    assert_int_equal(clock_now_ns(), CLOCK_T0_MS * 1000000ull);
    struct err err;
    assert_int_equal(store_writer_start(s, 100, &err), 0);
    atomic_store(&bl_in_done, false);
    atomic_store(&bl_release, false);
    atomic_store(&bl_finished, false);
    atomic_store(&bl_rc, -99);
    struct store_job barrier = {.apply = nothing_apply, .done = bl_barrier_done, .barrier = true};
    struct store_job job = {.apply = nothing_apply, .done = bl_done};
    assert_int_equal(store_submit(s, &barrier, &err), 0);
    assert_int_equal(store_submit(s, &job, &err), 0);
    WAIT_FOR(atomic_load(&bl_in_done), "the barrier's done()");
    clock_advance(5500); /* the job has now waited longer than the busy timeout (5 s) */
    assert_int_equal(clock_busy_ms() * 1000000u, clock_now_ns());
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    long waits = clock_busy_waits();
    atomic_store(&bl_release, true);
    /* the lock stays until the job waits for it (a wait begun) or has already given up (the
     * bug) */
    WAIT_FOR(clock_busy_waits() > waits || atomic_load(&bl_finished),
             "the job to wait for the lock or finish");
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    WAIT_FOR(atomic_load(&bl_finished), "the job's done()");
    assert_int_equal(atomic_load(&bl_rc), 0);
    store_writer_stop(s);
    store_close(s);
    clock_busy_done();
}

int main(void)
{
    backend_detect();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_group_items),
        cmocka_unit_test(test_writer_completion_thread),
        cmocka_unit_test(test_writer_urgent_jobs),
        cmocka_unit_test(test_writer_small_jobs_first),
        cmocka_unit_test(test_writer_bulk_capped_beside_small),
        cmocka_unit_test(test_backlog_beside_short_lock),
    };
    return cmocka_run_group_tests_name(on_pg ? "store_queue (postgres)" : "store_queue", tests,
                                       setup, teardown);
}
