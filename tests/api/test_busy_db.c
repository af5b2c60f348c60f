/*
 * Another process holds the SQLite write lock (a second connection's BEGIN EXCLUSIVE, as the
 * sqlite3 CLI or `bunsen compact` beside the daemon would): what must not wait longer than
 * the busy timeout (5 s, src/store/sqlite/sqlite_int.h SQLITE_BUSY_MS). Every write queued
 * meanwhile answers 503 with Retry-After once the first wait's timeout has passed, not one
 * timeout per group queued ahead of it. Skipped on PostgreSQL (its waits are bounded by
 * --db-timeout: test_hung_db).
 *
 * No bound here is in milliseconds: the daemons' busy waits read their time from a file of the
 * test's (BUNSEN_TEST_BUSY_CLOCK, src/store/sqlite/conn.c), which stands still until the test
 * moves it past the timeout, and count the waits begun ("<file>.waits"). A wait that ends
 * otherwise than by its deadline or a shutdown never ends, and the test fails at the request's
 * hang detector (HARNESS_HANG_S).
 */
#include "harness.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUSY_MS 5000 /* SQLITE_BUSY_MS */
/* where the test clock starts (0 would read as "no wait under way" in sqlite_tx_begin) */
#define CLOCK_T0_MS 1000

static char clock_path[128];

/* The busy clock for the daemons started after it, at t0 (harness daemons inherit the
 * environment; removed from it again by clock_done, so that CLI runs keep the real clock). */
static void clock_init(unsigned long long t0)
{
    snprintf(clock_path, sizeof(clock_path), "/tmp/bunsen-busyclock-%ld", (long)getpid());
    unlink(fmt("%s.waits", clock_path));
    FILE *f = fopen(clock_path, "w");
    assert_non_null(f);
    fprintf(f, "%llu\n", t0);
    fclose(f);
    setenv("BUNSEN_TEST_BUSY_CLOCK", clock_path, 1);
}

/* Move the clock (written whole, then renamed: a reader never sees half a number). */
static void clock_set(unsigned long long ms)
{
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", clock_path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, "%llu\n", ms);
    fclose(f);
    assert_int_equal(rename(tmp, clock_path), 0);
}

static void clock_done(void)
{
    unsetenv("BUNSEN_TEST_BUSY_CLOCK");
    if (clock_path[0] != '\0') {
        unlink(clock_path);
        unlink(fmt("%s.waits", clock_path));
        clock_path[0] = '\0';
    }
}

/* Busy waits begun so far by the daemon's connections. */
static int clock_waits(void)
{
    struct stat st;
    return stat(fmt("%s.waits", clock_path), &st) == 0 ? (int)st.st_size : 0;
}

/* Wait until the daemon's writer waits for the lock (a hang detector: HARNESS_HANG_S). */
static void wait_for_busy_wait(void)
{
    for (int i = 0; i < HARNESS_HANG_S * 100 && clock_waits() < 1; i++) {
        sleep_ms(10);
    }
    assert_true(clock_waits() >= 1);
}

/* Wait until n jobs are queued for the writer behind the one it runs (a hang detector). */
static void wait_for_queue(const struct daemon *d, int n)
{
    double depth = 0;
    for (int i = 0; i < HARNESS_HANG_S * 50; i++) {
        depth = harness_metric_value(d->port, d->admin_key, "bunsen_writer_queue_depth");
        if (depth >= n) {
            break;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "# %g writes queued behind the waiting one\n", depth);
    assert_true(depth >= n);
}

/* Take the database's write lock from a connection of the test's own (another process, as
 * far as the daemon's SQLite knows: a second connection locks the file the same way). */
static sqlite3 *lock_db(const struct daemon *d)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fmt("%s/bunsen.db", d->dir), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static void unlock_db(sqlite3 *db)
{
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
}

static struct daemon D;
static char *sdk_key;

/* After each test, passed or failed: the daemon stopped, its directory removed. */
static int teardown(void **state)
{
    (void)state;
    daemon_cleanup(&D);
    memset(&D, 0, sizeof(D));
    free(sdk_key);
    sdk_key = NULL;
    clock_done();
    return 0;
}

static char *start_with_key(struct daemon *d)
{
    char key[128];
    assert_int_equal(harness_start_with_key(d, NULL, key, sizeof(key)), 0);
    harness_metric(d->port, d->admin_key, "{\"key\":\"cnt\",\"event\":\"ev\",\"type\":\"count\"}");
    return strdup(key);
}

/* The timed requests t[0..n) on threads of their own: events batches at both ends, /readyz
 * (a write too) before the last when readyz, metric PATCHes (each runs alone in its
 * transaction) between. t[0] is sent first, and the others once the writer waits for the lock
 * with it; returns when the writer has the others queued behind it (queued of them). */
static void send_writes(struct harness_timed *t, int n, const char *key, const char *id,
                        bool readyz, int queued)
{
    static char ev[128];
    snprintf(ev, sizeof(ev), "{\"events\":[{\"user_id\":\"u1\",\"event\":\"ev\",\"id\":\"%s\"}]}",
             id);
    for (int i = 0; i < n; i++) {
        if (i == 0 || i == n - 1) {
            t[i] = (struct harness_timed){
                .port = D.port, .method = "POST", .path = "/api/v1/events", .key = key, .body = ev};
        } else if (readyz && i == n - 2) {
            t[i] = (struct harness_timed){.port = D.port, .method = "GET", .path = "/readyz"};
        } else {
            t[i] = (struct harness_timed){.port = D.port,
                                          .method = "PATCH",
                                          .path = "/api/v1/metrics/cnt",
                                          .key = D.admin_key,
                                          .body = "{\"description\":\"busy\"}"};
        }
        harness_timed_start(&t[i]);
        if (i == 0) {
            wait_for_busy_wait();
        }
    }
    wait_for_queue(&D, queued);
}

/* An events batch, five metric PATCHes and /readyz queued behind the lock: once the clock
 * passes the first wait's timeout, each answers 503 with Retry-After with the clock standing
 * there. They answered at 5, 10, 15, 20 and 25 s (/readyz at 15 s): each group waited 5 s
 * after the one before (here: each waits for a clock that does not move again, and the
 * test fails at the hang detector). Once the lock is released, writes commit again. */
static void test_queued_writes_within_busy_timeout(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip();
    }
    clock_init(CLOCK_T0_MS);
    const char *key = sdk_key = start_with_key(&D);
    enum { N = 8 };
    struct harness_timed t[N];
    sqlite3 *db = lock_db(&D);
    send_writes(t, N, key, "b1", true, N - 1);
    clock_set(CLOCK_T0_MS + BUSY_MS + 1);
    for (int i = 0; i < N; i++) {
        harness_timed_join(&t[i]); /* a hang detector: the request's HARNESS_HANG_S */
    }
    unlock_db(db);
    for (int i = 0; i < N; i++) {
        fprintf(stderr, "# %s %s with the write lock held: %d after %llu ms (Retry-After '%s')\n",
                t[i].method, t[i].path, t[i].status, (unsigned long long)t[i].ms, t[i].retry_after);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(t[i].status, 503);
        if (strcmp(t[i].path, "/readyz") != 0) {
            assert_true(t[i].retry_after[0] != '\0');
        }
    }
    /* nothing was stored for them; the lock released, the same writes commit */
    static const char *const ev =
        "{\"events\":[{\"user_id\":\"u1\",\"event\":\"ev\",\"id\":\"b1\"}]}";
    json_decref(harness_call(D.port, "POST", "/api/v1/events", key, ev, 200));
    json_decref(harness_call(D.port, "PATCH", "/api/v1/metrics/cnt", D.admin_key,
                             "{\"description\":\"free\"}", 200));
    assert_int_equal(daemon_db_int(&D, "SELECT COUNT(*) FROM events WHERE id = 'b1'", 0), 1);
}

/* SIGTERM while another process holds the write lock and eight writes wait: the drain does
 * not wait for the lock (store_shutdown_begin: a wait for it ends at once), every write
 * answers 503 with Retry-After, and the process exits 0. The busy clock stands still
 * throughout: no wait can end by its deadline, so every answer and the exit are the
 * shutdown's (before, each queued write waited its 5 s in turn: the process exited after
 * 38.6 s in a review; here it would never exit, and the hang detector fails the test). */
static void test_sigterm_with_lock_held(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip();
    }
    clock_init(CLOCK_T0_MS);
    sdk_key = start_with_key(&D);
    enum { N = 8 };
    struct harness_timed t[N];
    sqlite3 *db = lock_db(&D);
    send_writes(t, N, sdk_key, "t1", false, N - 1);
    uint64_t t0 = harness_now_ms();
    pid_t pid = D.pid;
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st = 0;
    pid_t gone = 0;
    /* a hang detector (60 s), not a bound on the drain's time */
    while ((gone = waitpid(pid, &st, WNOHANG)) == 0 && harness_now_ms() - t0 < 60000) {
        sleep_ms(20);
    }
    uint64_t exit_ms = harness_now_ms() - t0;
    if (gone == pid) {
        D.pid = 0;
    }
    for (int i = 0; i < N; i++) {
        harness_timed_join(&t[i]);
    }
    unlock_db(db);
    fprintf(stderr,
            "# SIGTERM with the write lock held and %d writes queued: exit %d after %llu ms\n", N,
            WIFEXITED(st) ? WEXITSTATUS(st) : -1, (unsigned long long)exit_ms);
    for (int i = 0; i < N; i++) {
        fprintf(stderr, "# %s %s: %d after %llu ms (Retry-After '%s') %s\n", t[i].method, t[i].path,
                t[i].status, (unsigned long long)t[i].ms, t[i].retry_after, t[i].body_start);
    }
    assert_int_equal(gone, pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(t[i].status, 503);
        assert_true(t[i].retry_after[0] != '\0');
    }
    /* the one waiting when the signal came, or a queued one, says why */
    bool told = false;
    for (int i = 0; i < N; i++) {
        told = told || strstr(t[i].body_start, "shutting down") != NULL;
    }
    assert_true(told);
    /* nothing stored: the database holds none of them */
    assert_int_equal(daemon_db_int(&D, "SELECT COUNT(*) FROM events WHERE id = 't1'", 0), 0);
}

/* `bunsen migrate` (which `serve` runs at start) with nothing to migrate, while another
 * process holds the write lock: it reads what is applied and is done, at once. Each applied
 * migration used to take the write lock: exit 1 after 5 s, "database is locked". */
static void test_migrate_beside_lock(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip();
    }
    assert_int_equal(daemon_start(&D, NULL), 0);
    assert_int_equal(daemon_stop(&D), 0);
    sqlite3 *db = lock_db(&D);
    char *out = NULL;
    const char *const args[] = {"migrate", "--data-dir", D.dir, NULL};
    uint64_t t0 = harness_now_ms();
    int rc = bunsen_run(&out, args);
    uint64_t ms = harness_now_ms() - t0;
    unlock_db(db);
    fprintf(stderr, "# bunsen migrate beside the lock: exit %d after %llu ms: %s", rc,
            (unsigned long long)ms, out != NULL ? out : "");
    /* done without the lock: the old one took it and failed after the busy timeout (its
     * time is printed above, not bounded: exit 0 is what the lock would have prevented) */
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "migrations applied: 0"));
    free(out);
    /* a pending migration is refused at once beside another process with the file open (it
     * was refused after the busy timeout, naming the migration not applied): its connection
     * shows on the -shm (ops26 finding 5, test_ops_guard test_migrate_refused_beside_old_daemon) */
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(fmt("%s/bunsen.db", D.dir), &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw,
                                  "DELETE FROM schema_migrations WHERE version = "
                                  "(SELECT MAX(version) FROM schema_migrations)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    db = lock_db(&D);
    out = NULL;
    rc = bunsen_run(&out, args);
    unlock_db(db);
    fprintf(stderr, "# bunsen migrate with one pending beside the lock: exit %d: %s", rc,
            out != NULL ? out : "");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, fmt("open (pid %ld)", (long)getpid())));
    assert_non_null(strstr(out, "stop it before migrating"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_queued_writes_within_busy_timeout, teardown),
        cmocka_unit_test_teardown(test_sigterm_with_lock_held, teardown),
        cmocka_unit_test_teardown(test_migrate_beside_lock, teardown),
    };
    return cmocka_run_group_tests_name("api_busy_db", tests, NULL, NULL);
}
