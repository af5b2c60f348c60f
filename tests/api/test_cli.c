/*
 * The command line as an operator meets it (review of operations):
 * - `bunsen backup` interrupted during the copy (SIGTERM, SIGINT, SIGHUP: a ^C, a cron or
 *   systemd timeout) removes DEST.tmp and DEST.tmp-journal and exits 1 (both were left
 *   behind); a stale pair from a SIGKILL is removed by the next backup, which succeeds.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *bin(void)
{
    const char *b = getenv("BUNSEN_BIN");
    return b != NULL ? b : "build/bunsen";
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Start `bunsen args...` with stdout and stderr to /dev/null; its pid. */
static pid_t spawn(const char *const *args)
{
    pid_t pid = fork();
    if (pid == 0) {
        const char *argv[32] = {bin()};
        int n = 1;
        for (int i = 0; args[i] != NULL && n < 31; i++) {
            argv[n++] = args[i];
        }
        argv[n] = NULL;
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    return pid;
}

/* Grow the (stopped) daemon's database by mb MiB: a copy that lasts long enough to interrupt. */
static void pad_database(const struct daemon *d, int mb)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(fmt("%s/bunsen.db", d->dir), &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  fmt("CREATE TABLE IF NOT EXISTS pad (b BLOB); WITH RECURSIVE "
                                      "n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
                                      "%d) INSERT INTO pad SELECT zeroblob(1048576) FROM n",
                                      mb),
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
}

/* `bunsen backup` interrupted by sig once its copy has begun (DEST.tmp-journal exists):
 * exit 1, neither DEST nor its temporary files left. Returns false when the copy ended
 * before it could be interrupted (the caller grows the database and tries again). */
static bool backup_interrupted(const struct daemon *d, int sig)
{
    char dest[400];
    snprintf(dest, sizeof(dest), "%s/killed.db", d->dir);
    const char *const args[] = {"backup", dest, "--data-dir", d->dir, NULL};
    const char *journal = fmt("%s.tmp-journal", dest);
    char journal_path[450];
    snprintf(journal_path, sizeof(journal_path), "%s", journal);
    pid_t pid = spawn(args);
    assert_true(pid > 0);
    bool seen = false;
    for (int i = 0; i < 40000 && !seen; i++) { /* 20 s */
        seen = exists(journal_path);
        if (!seen) {
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                unlink(dest);
                return false; /* done before we saw it */
            }
            usleep(500);
        }
    }
    assert_true(seen);
    assert_int_equal(kill(pid, sig), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (exists(dest)) {
        /* the signal came after the copy was complete and became DEST: not a partial copy */
        unlink(dest);
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1) {
        fail_msg("backup killed by signal %d: status 0x%x, expected exit 1", sig, status);
    }
    if (exists(fmt("%s.tmp", dest)) || exists(journal_path)) {
        fail_msg("signal %d left %s%s behind", sig, exists(fmt("%s.tmp", dest)) ? "DEST.tmp " : "",
                 exists(journal_path) ? "DEST.tmp-journal" : "");
    }
    return true;
}

static void test_backup_interrupted(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* bunsen backup copies SQLite files */
    }
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    assert_int_equal(daemon_stop(&d), 0);
    int mb = 64;
    pad_database(&d, mb);
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++) {
        bool done = false;
        for (int tries = 0; tries < 4 && !done; tries++) {
            done = backup_interrupted(&d, sigs[k]);
            if (!done && mb < 512) {
                pad_database(&d, mb);
                mb *= 2;
            }
        }
        if (!done) {
            fail_msg("the backup of %d MiB always ended before signal %d", mb, sigs[k]);
        }
    }
    /* a stale pair (SIGKILL): the next backup removes it and succeeds */
    char dest[400];
    snprintf(dest, sizeof(dest), "%s/stale.db", d.dir);
    const char *const args[] = {"backup", dest, "--data-dir", d.dir, NULL};
    pid_t pid = spawn(args);
    char journal[450];
    snprintf(journal, sizeof(journal), "%s.tmp-journal", dest);
    for (int i = 0; i < 40000 && !exists(journal); i++) {
        usleep(500);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (exists(journal)) {
        char *out = NULL;
        assert_int_equal(bunsen_run(&out, args), 0);
        free(out);
        assert_false(exists(journal));
        assert_false(exists(fmt("%s.tmp", dest)));
        sqlite3 *h = NULL;
        assert_int_equal(sqlite3_open(dest, &h), SQLITE_OK);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
        sqlite3_close(h);
    } else {
        print_message("# the copy ended before SIGKILL: no stale pair to check\n");
    }
    daemon_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_interrupted),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
