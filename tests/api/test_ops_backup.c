/*
 * API tests for `bunsen backup` beside a running daemon (issue 16; split from test_ops.c): a
 * backup taken while a write load runs restores to a database that passes integrity_check and
 * holds every write acknowledged before the backup started (and the restored daemon serves
 * it); the database's own files (its -wal, -shm, links to it, a DEST whose DEST.tmp is the
 * database) are refused as DEST, however spelled, existing or not. The other operations
 * tests: test_ops_signals.c, test_ops_files.c, test_ops_metrics.c, test_ops_guard.c,
 * test_ops_disk.c.
 */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- backup under load ---- */

struct load {
    struct daemon *d;
    atomic_int acked; /* events 0..acked-1 have been acknowledged (sequential writer) */
    atomic_bool stop;
    int failures;
};

static void *write_load(void *arg)
{
    struct load *l = arg;
    for (int i = 0; !atomic_load(&l->stop); i++) {
        /* ten events per request, ids b-<request>-<k> */
        char body[1024];
        int n = snprintf(body, sizeof(body), "{\"events\":[");
        for (int k = 0; k < 10; k++) {
            n += snprintf(body + n, sizeof(body) - (size_t)n,
                          "%s{\"user_id\":\"u%d\",\"event\":\"buy\",\"id\":\"b-%d-%d\"}",
                          k ? "," : "", i % 50, i, k);
        }
        snprintf(body + n, sizeof(body) - (size_t)n, "]}");
        if (http_status(l->d->port, "POST", "/api/v1/events", l->d->admin_key, body) != 200) {
            l->failures++;
            break;
        }
        atomic_store(&l->acked, i + 1);
    }
    return NULL;
}

static long long db_int(const char *path, const char *sql)
{
    return harness_file_int(path, SQLITE_OPEN_READONLY, sql);
}

static char *db_text(const char *path, const char *sql)
{
    return harness_file_text(path, SQLITE_OPEN_READONLY, sql);
}

static void test_backup_under_load(void **state)
{
    (void)state;
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    if (harness_on_postgres()) {
        /* bunsen backup copies SQLite files: on PostgreSQL it says which tools to use */
        char *msg = NULL;
        const char *const pg[] = {
            "backup", fmt("%s/backup.db", d.dir), "--data-dir", d.dir, "--database", d.db_url,
            NULL};
        assert_int_equal(bunsen_run(&msg, pg), 1);
        assert_non_null(strstr(msg, "pg_dump"));
        free(msg);
        /* the same database as a libpq key=value conninfo (it was taken for a missing file) */
        char user[64], host[64], dbname[64];
        int pgport = 0;
        assert_int_equal(sscanf(d.db_url, "postgresql://%63[^@]@%63[^:]:%d/%63[^?]", user, host,
                                &pgport, dbname),
                         4);
        const char *const kv[] = {
            "backup", fmt("%s/backup.db", d.dir), "--database",
            fmt("host=%s port=%d user=%s dbname=%s", host, pgport, user, dbname), NULL};
        assert_int_equal(bunsen_run(&msg, kv), 1);
        if (strstr(msg, "pg_dump") == NULL) {
            fail_msg("%s", msg);
        }
        free(msg);
        assert_int_equal(daemon_stop(&d), 0);
        daemon_cleanup(&d);
        return;
    }
    struct load l = {.d = &d};
    pthread_t th;
    pthread_create(&th, NULL, write_load, &l);
    double t_load = harness_clock_s(); /* a hang detector bounds the wait */
    while (atomic_load(&l.acked) < 50 && harness_clock_s() - t_load < HARNESS_HANG_S) {
        usleep(10000);
    }
    if (atomic_load(&l.acked) < 50) {
        atomic_store(&l.stop, true);
        pthread_join(th, NULL);
        daemon_kill9(&d);
        daemon_cleanup(&d);
        fail_msg("waited %d s for 50 acknowledged writes: %d (%d failures)", HARNESS_HANG_S,
                 atomic_load(&l.acked), l.failures);
    }
    int acked_before = atomic_load(&l.acked); /* every request < this was acknowledged */
    char dest[400];
    snprintf(dest, sizeof(dest), "%s/backup.db", d.dir);
    char *out = NULL;
    const char *const args[] = {"backup", dest, "--data-dir", d.dir, NULL};
    assert_int_equal(bunsen_run(&out, args), 0);
    free(out);
    int acked_after_backup = atomic_load(&l.acked);
    /* the database itself is never a destination */
    const char *const self[] = {"backup", fmt("%s/bunsen.db", d.dir), "--data-dir", d.dir, NULL};
    assert_int_equal(bunsen_run(&out, self), 2);
    free(out);
    /* --database sqlite:PATH names the same file (it was refused: "no database at sqlite:...") */
    const char *url = fmt("sqlite:%s/bunsen.db", d.dir);
    const char *const prefixed[] = {"backup", fmt("%s/backup2.db", d.dir), "--database", url, NULL};
    if (bunsen_run(&out, prefixed) != 0) {
        fail_msg("%s", out);
    }
    free(out);
    const char *const prefixed_self[] = {"backup", fmt("%s/bunsen.db", d.dir), "--database", url,
                                         NULL};
    assert_int_equal(bunsen_run(&out, prefixed_self), 2);
    free(out);
    /* the load goes on after the backup: one more acknowledgement (a hang detector bounds it) */
    double t_more = harness_clock_s();
    while (atomic_load(&l.acked) <= acked_after_backup &&
           harness_clock_s() - t_more < HARNESS_HANG_S) {
        usleep(10000);
    }
    atomic_store(&l.stop, true);
    pthread_join(th, NULL);
    assert_int_equal(l.failures, 0);
    assert_true(atomic_load(&l.acked) > acked_after_backup); /* writes went on meanwhile */

    char *check = db_text(dest, "PRAGMA integrity_check");
    assert_string_equal(check, "ok");
    free(check);
    /* every event of every request acknowledged before the backup started is in the copy */
    long long missing = 0;
    for (int i = 0; i < acked_before; i++) {
        char sql[200];
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM events WHERE id LIKE 'b-%d-%%'", i);
        missing += 10 - db_int(dest, sql);
    }
    assert_int_equal(missing, 0);
    long long in_copy = db_int(dest, "SELECT COUNT(*) FROM events");
    print_message("# backup under load: %d requests acknowledged before it started, %lld events "
                  "in the copy, %d requests acknowledged by the end\n",
                  acked_before, in_copy, atomic_load(&l.acked));
    assert_true(in_copy >= (long long)acked_before * 10);
    assert_true(in_copy % 10 == 0); /* whole requests: one transaction each, never half */
    assert_int_equal(daemon_stop(&d), 0);

    /* restore: the copy as the database of a new data dir; the daemon serves it */
    struct daemon r;
    memset(&r, 0, sizeof(r));
    int w = snprintf(r.dir, sizeof(r.dir), "%.200s-restored", d.dir);
    assert_true(w > 0 && (size_t)w < sizeof(r.dir));
    assert_int_equal(mkdir(r.dir, 0700), 0);
    char cmd[2000];
    snprintf(cmd, sizeof(cmd), "cp '%.400s' '%.300s/bunsen.db' && cp '%.300s/admin.key' '%.300s/'",
             dest, r.dir, d.dir, r.dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(daemon_restart(&r, NULL), 0);
    assert_int_equal(http_status(r.port, "GET", "/readyz", NULL, NULL), 200);
    assert_int_equal(http_status(r.port, "GET", "/api/v1/me", r.admin_key, NULL), 200);
    assert_int_equal(daemon_db_int(&r, "SELECT COUNT(*) FROM events", 0), in_copy);
    daemon_cleanup(&r);
    daemon_cleanup(&d);
}

/* `bunsen backup DEST` refused only DEST == the database: onto its -wal it reported success,
 * and the rename of the copy over the daemon's write-ahead log destroyed acknowledged writes.
 * Every file that belongs to the database is refused (exit 2), however DEST is spelled and
 * whether it exists or not, and so is a DEST whose DEST.tmp (written first, unlinked) is the
 * database. */
static void test_backup_onto_database_files(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* bunsen backup copies SQLite files */
    }
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(http_status(d.port, "POST", "/api/v1/events", d.admin_key,
                                     fmt("{\"events\":[{\"user_id\":\"u%d\",\"event\":\"buy\","
                                         "\"id\":\"w%d\"}]}",
                                         i, i)),
                         200);
    }
    const char *base = strrchr(d.dir, '/') + 1;
    char alias[300];
    snprintf(alias, sizeof(alias), "%s-alias", d.dir);
    assert_int_equal(symlink(d.dir, alias), 0);
    assert_int_equal(symlink("bunsen.db-journal", fmt("%s/dangling", d.dir)), 0);
    char dests[9][600];
    snprintf(dests[0], sizeof(dests[0]), "%s/bunsen.db-wal", d.dir);
    snprintf(dests[1], sizeof(dests[1]), "%s/bunsen.db-shm", d.dir);
    snprintf(dests[2], sizeof(dests[2]), "%s/bunsen.db-journal", d.dir); /* not there */
    snprintf(dests[3], sizeof(dests[3]), "%s/bunsen.db.lock", d.dir);
    snprintf(dests[4], sizeof(dests[4]), "%s/../%s/bunsen.db-wal", d.dir, base);
    snprintf(dests[5], sizeof(dests[5]), "%s/bunsen.db-wal", alias);
    snprintf(dests[6], sizeof(dests[6]), "%s/./bunsen.db", alias);
    snprintf(dests[7], sizeof(dests[7]), "%s/dangling", d.dir);
    snprintf(dests[8], sizeof(dests[8]), "%s/bunsen.db-journal", alias);
    struct stat sb;
    assert_int_equal(stat(dests[0], &sb), 0); /* the daemon's log is there */
    for (int i = 0; i < 9; i++) {
        char *out = NULL;
        const char *const args[] = {"backup", dests[i], "--data-dir", d.dir, NULL};
        int rc = bunsen_run(&out, args);
        if (rc != 2 || strstr(out, "back up to another file") == NULL) {
            fail_msg("backup onto %s: exit %d: %s", dests[i], rc, out);
        }
        free(out);
    }
    assert_int_not_equal(lstat(dests[2], &sb), 0); /* nothing created either */
    /* a file beside the database is fine */
    char *out = NULL;
    const char *const ok[] = {"backup", fmt("%s/bunsen.db-copy", d.dir), "--data-dir", d.dir, NULL};
    if (bunsen_run(&out, ok) != 0) {
        fail_msg("backup beside the database: %s", out);
    }
    free(out);
    /* every acknowledged write is still there after a restart */
    assert_int_equal(daemon_stop(&d), 0);
    assert_int_equal(daemon_restart(&d, NULL), 0);
    assert_int_equal(daemon_db_int(&d, "SELECT COUNT(*) FROM events WHERE id LIKE 'w%'", 0), 20);
    assert_int_equal(daemon_stop(&d), 0);
    /* DEST.tmp is where the copy is written first (unlinked before): a database named x.tmp */
    char tmpdb[600];
    snprintf(tmpdb, sizeof(tmpdb), "%s/x.tmp", d.dir);
    assert_int_equal(system(fmt("cp '%s/bunsen.db' '%s'", d.dir, tmpdb)), 0);
    const char *const viatmp[] = {"backup", fmt("%s/x", d.dir), "--database", tmpdb, NULL};
    assert_int_equal(bunsen_run(&out, viatmp), 2);
    free(out);
    assert_int_equal(stat(tmpdb, &sb), 0);
    unlink(alias);
    daemon_cleanup(&d);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_under_load),
        cmocka_unit_test(test_backup_onto_database_files),
    };
    return cmocka_run_group_tests_name("api_ops_backup", tests, NULL, NULL);
}
