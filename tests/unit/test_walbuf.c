/* Unit tests for store/sqlite/walbuf.c, the VFS that gathers WAL writes (bunsen/walbuf.h).
 * Every check reads the database back through a second connection on SQLite's default
 * VFS, so what the shim wrote is what SQLite alone would read: large commits (runs over
 * the 128 KiB a unix write takes), transactions that spill pages to the WAL and roll back
 * to a savepoint, WAL restarts after a checkpoint, and a process killed with frames still
 * buffered (committed data kept, the rest gone, the database intact). */
#include "unit.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bunsen/walbuf.h"

struct fixture {
    char dir[64];
    char path[96];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/bunsen-walbuf-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    *state = f;
    return walbuf_register() == SQLITE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
    }
}

/* A connection through the shim, as sqlite_conn_open makes them (WAL, synchronous=FULL). */
static sqlite3 *open_shim(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(
        sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, WALBUF_VFS),
        SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    return db;
}

/* A connection on the default VFS (another reader of the same files). */
static sqlite3 *open_plain(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    return db;
}

static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void assert_intact(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* rows [from, from + n) with ~300-byte values: ~13 rows per 4 KiB page */
static void insert_rows(sqlite3 *db, int from, int n)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t (k, v) VALUES (?, printf('%.300d', ?))",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (int i = from; i < from + n; i++) {
        sqlite3_bind_int(st, 1, i);
        sqlite3_bind_int(st, 2, i);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

/* Commits of every size, from one frame to ~3 MiB of frames (many runs, none of them a
 * multiple of the unix VFS's 128 KiB write limit by luck), each seen whole by a reader on
 * the default VFS right after it returns; far fewer writes reach the file than SQLite
 * asked for. */
static void test_commits_visible_to_plain_reader(void **state)
{
    struct fixture *f = *state;
    sqlite3 *w = open_shim(f->path);
    exec_ok(w, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    sqlite3 *r = open_plain(f->path);
    struct walbuf_stats s0, s1;
    walbuf_stats_get(&s0);
    int total = 0;
    const int sizes[] = {1, 2, 40, 400, 1000, 10000};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        exec_ok(w, "BEGIN IMMEDIATE");
        insert_rows(w, total, sizes[k]);
        exec_ok(w, "COMMIT");
        total += sizes[k];
        assert_int_equal(query_int(r, "SELECT count(*) FROM t"), total);
        assert_int_equal(query_int(r, "SELECT sum(length(v)) FROM t"), 300LL * total);
    }
    walbuf_stats_get(&s1);
    uint64_t in = s1.writes_in - s0.writes_in, out = s1.writes_out - s0.writes_out;
    assert_true(in > 1000); /* two per frame */
    assert_true(out * 10 < in);
    assert_intact(r);
    sqlite3_close(r);
    sqlite3_close(w);
}

/* A transaction larger than the page cache spills frames to the WAL before its commit,
 * reads some of them back, changes them again (SQLite rewrites their frames in place) and
 * rolls back to a savepoint (it then rewrites the WAL from the savepoint's offset): the
 * committed result is exactly the rows kept, with their last values. */
static void test_spill_and_savepoint_rollback(void **state)
{
    struct fixture *f = *state;
    sqlite3 *w = open_shim(f->path);
    exec_ok(w, "PRAGMA cache_size=20; CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    exec_ok(w, "BEGIN IMMEDIATE");
    insert_rows(w, 0, 3000);
    /* pages already spilled by this transaction change again: SQLite overwrites their
     * frames in place, at offsets before the end of the WAL */
    exec_ok(w, "UPDATE t SET v = printf('%.300d', k * 3) WHERE k < 600 OR k % 50 = 0");
    insert_rows(w, 20000, 300);
    exec_ok(w, "SAVEPOINT s");
    insert_rows(w, 3000, 3000);
    assert_int_equal(query_int(w, "SELECT count(*) FROM t WHERE k % 7 = 0"), 858 + 42);
    exec_ok(w, "ROLLBACK TO s; RELEASE s");
    insert_rows(w, 10000, 500);
    exec_ok(w, "COMMIT");
    sqlite3 *r = open_plain(f->path);
    assert_int_equal(query_int(r, "SELECT count(*) FROM t"), 3800);
    assert_int_equal(query_int(r, "SELECT count(*) FROM t WHERE k >= 3000 AND k < 10000"), 0);
    assert_int_equal(query_int(r, "SELECT count(*) FROM t WHERE v = printf('%.300d', k * 3)"),
                     600 + 48);
    assert_intact(r);
    sqlite3_close(r);
    sqlite3_close(w);
}

/* Checkpoints move the frames into the database and restart the WAL at offset 0, which
 * the shim sees as a write out of sequence: the data stays whole across many restarts. */
static void test_checkpoint_and_restart(void **state)
{
    struct fixture *f = *state;
    sqlite3 *w = open_shim(f->path);
    exec_ok(w, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    sqlite3 *r = open_plain(f->path);
    for (int round = 0; round < 5; round++) {
        exec_ok(w, "BEGIN IMMEDIATE");
        insert_rows(w, round * 700, 700);
        exec_ok(w, "COMMIT");
        exec_ok(w,
                round % 2 ? "PRAGMA wal_checkpoint(TRUNCATE)" : "PRAGMA wal_checkpoint(RESTART)");
        exec_ok(w, "UPDATE t SET v = printf('%.300d', k + 1) WHERE k % 5 = 0");
        assert_int_equal(query_int(r, "SELECT count(*) FROM t"), (round + 1) * 700);
    }
    sqlite3_close(w);
    assert_int_equal(query_int(r, "SELECT count(*) FROM t WHERE v = printf('%.300d', k + 1)"), 700);
    assert_intact(r);
    sqlite3_close(r);
}

/* A process killed with a transaction's frames partly written and partly buffered: the
 * commits it finished are all there, the open transaction is not, and the database is
 * intact. */
static void test_killed_with_frames_buffered(void **state)
{
    struct fixture *f = *state;
    sqlite3 *w = open_shim(f->path);
    exec_ok(w, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    sqlite3_close(w);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *c = open_shim(f->path);
        exec_ok(c, "PRAGMA cache_size=20");
        for (int i = 0; i < 3; i++) {
            exec_ok(c, "BEGIN IMMEDIATE");
            insert_rows(c, i * 1000, 1000);
            exec_ok(c, "COMMIT");
        }
        exec_ok(c, "BEGIN IMMEDIATE");
        insert_rows(c, 5000, 2001); /* spilled frames on file, the last ones buffered */
        raise(SIGKILL);
        _exit(1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    sqlite3 *r = open_plain(f->path);
    assert_int_equal(query_int(r, "SELECT count(*) FROM t"), 3000);
    assert_int_equal(query_int(r, "SELECT max(k) FROM t"), 2999);
    assert_intact(r);
    sqlite3_close(r);
    /* and the shim opens it again and writes on */
    w = open_shim(f->path);
    insert_rows(w, 3000, 10);
    assert_int_equal(query_int(w, "SELECT count(*) FROM t"), 3010);
    sqlite3_close(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commits_visible_to_plain_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spill_and_savepoint_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_with_frames_buffered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
