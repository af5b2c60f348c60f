/*
 * Another process holds the SQLite write lock (a second connection's BEGIN EXCLUSIVE, as the
 * sqlite3 CLI or `bunsen compact` beside the daemon would): what must not wait longer than
 * the busy timeout (5 s, src/store/sqlite/sqlite_int.h SQLITE_BUSY_MS). Every write queued
 * meanwhile answers 503 with Retry-After within about the timeout of its own submission, not
 * one timeout per group queued ahead of it. Skipped on PostgreSQL (its waits are bounded by
 * --db-timeout: test_hung_db). The bounds are upper limits far from what the old behaviour
 * gave (a full wait per queued request: the fifth of six after 25 s).
 */
#include "harness.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define BUSY_BOUND_MS 9000 /* the busy timeout is 5 s; the second queued request once took 10 */

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
    return 0;
}

static char *start_with_key(struct daemon *d)
{
    char key[128];
    assert_int_equal(harness_start_with_key(d, NULL, key, sizeof(key)), 0);
    harness_metric(d->port, d->admin_key, "{\"key\":\"cnt\",\"event\":\"ev\",\"type\":\"count\"}");
    return strdup(key);
}

/* An events batch, five metric PATCHes (each runs alone in its transaction) and /readyz (a
 * write too) queued at once behind the lock: each answers 503 with Retry-After within the
 * bound. They answered at 5, 10, 15, 20 and 25 s (/readyz at 15 s): each group waited 5 s
 * after the one before. Once the lock is released, writes commit again. */
static void test_queued_writes_within_busy_timeout(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip();
    }
    const char *key = sdk_key = start_with_key(&D);
    enum { N = 8 };
    struct harness_timed t[N];
    static const char *const ev =
        "{\"events\":[{\"user_id\":\"u1\",\"event\":\"ev\",\"id\":\"b1\"}]}";
    sqlite3 *db = lock_db(&D);
    for (int i = 0; i < N; i++) {
        if (i == 0 || i == N - 1) {
            t[i] = (struct harness_timed){
                .port = D.port, .method = "POST", .path = "/api/v1/events", .key = key, .body = ev};
        } else if (i == N - 2) {
            t[i] = (struct harness_timed){.port = D.port, .method = "GET", .path = "/readyz"};
        } else {
            t[i] = (struct harness_timed){.port = D.port,
                                          .method = "PATCH",
                                          .path = "/api/v1/metrics/cnt",
                                          .key = D.admin_key,
                                          .body = "{\"description\":\"busy\"}"};
        }
        harness_timed_start(&t[i]);
        sleep_ms(20);
    }
    for (int i = 0; i < N; i++) {
        harness_timed_join(&t[i]);
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
        assert_true(t[i].ms < BUSY_BOUND_MS);
    }
    /* nothing was stored for them; the lock released, the same writes commit */
    json_decref(harness_call(D.port, "POST", "/api/v1/events", key, ev, 200));
    json_decref(harness_call(D.port, "PATCH", "/api/v1/metrics/cnt", D.admin_key,
                             "{\"description\":\"free\"}", 200));
    assert_int_equal(daemon_db_int(&D, "SELECT COUNT(*) FROM events WHERE id = 'b1'", 0), 1);
}

/* The timed requests t[0..n) on threads of their own, 20 ms apart: events batches at both
 * ends, metric PATCHes between. */
static void send_writes(struct harness_timed *t, int n, const char *key)
{
    static const char *const ev =
        "{\"events\":[{\"user_id\":\"u1\",\"event\":\"ev\",\"id\":\"t1\"}]}";
    for (int i = 0; i < n; i++) {
        if (i == 0 || i == n - 1) {
            t[i] = (struct harness_timed){
                .port = D.port, .method = "POST", .path = "/api/v1/events", .key = key, .body = ev};
        } else {
            t[i] = (struct harness_timed){.port = D.port,
                                          .method = "PATCH",
                                          .path = "/api/v1/metrics/cnt",
                                          .key = D.admin_key,
                                          .body = "{\"description\":\"term\"}"};
        }
        harness_timed_start(&t[i]);
        sleep_ms(20);
    }
}

/* SIGTERM while another process holds the write lock and eight writes wait: the drain does
 * not wait for the lock (store_shutdown_begin: a wait for it ends at once), every write
 * answers 503 with Retry-After, and the process exits 0 at once. Each queued write waited its
 * 5 s in turn: the process exited after 38.6 s (a review), 4 s after the signal once writes
 * were bounded by their submission. */
static void test_sigterm_with_lock_held(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip();
    }
    sdk_key = start_with_key(&D);
    enum { N = 8 };
    struct harness_timed t[N];
    sqlite3 *db = lock_db(&D);
    send_writes(t, N, sdk_key);
    sleep_ms(800);
    uint64_t t0 = harness_now_ms();
    pid_t pid = D.pid;
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st = 0;
    pid_t gone = 0;
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
    assert_true(exit_ms < 2000); /* at once; 4 s before, 38.6 s before that */
    for (int i = 0; i < N; i++) {
        assert_int_equal(t[i].status, 503);
        assert_true(t[i].retry_after[0] != '\0');
        assert_true(t[i].ms < 3000); /* sent 0.8-1 s before the signal; 5 s before */
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
    /* a pending migration does need the lock: refused after the busy timeout, and the
     * message names it (the last one, its record removed: it would run again) */
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
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "migration 00"));
    assert_non_null(strstr(out, "not applied"));
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
