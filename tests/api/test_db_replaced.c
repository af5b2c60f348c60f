/*
 * API test (SQLite): a database file replaced under the running daemon (a restore done the
 * wrong way: `cp old.db new.db && mv new.db bunsen.db` while it runs). Writes were still
 * acknowledged after the replacement, to the old, unlinked file and to the -wal file that
 * goes by the path; SQLite's close left that log behind once the file had moved, and at the
 * next open its frames (pages of the old file) replayed onto the replacement: integrity_check
 * failed (docs/RELIABILITY.md "AE"). Expected: every write after the replacement answers 503
 * with Retry-After, and the file at the path, after the daemon stops, is the replacement
 * exactly: intact, with the backup's rows and none of the daemon's. And a copy written over
 * the file in place (`cp backup.db bunsen.db`, which no stat sees) is found by the next write:
 * 503s from then on.
 */
#include "harness.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 200

static char *batch(const char *tag, long long now)
{
    size_t cap = BATCH * 128 + 32, len = 0;
    char *p = malloc(cap);
    assert_non_null(p);
    len += (size_t)snprintf(p, cap, "{\"events\":[");
    for (int i = 0; i < BATCH; i++) {
        len += (size_t)snprintf(p + len, cap - len,
                                "%s{\"user_id\":\"u%d\",\"event\":\"ev\",\"ts\":%lld,"
                                "\"id\":\"%s.%d\"}",
                                i ? "," : "", i % 50, now - i, tag, i);
    }
    snprintf(p + len, cap - len, "]}");
    return p;
}

static int post_batch(int port, const char *sdk, const char *tag, bool *retry_after)
{
    char *body = batch(tag, (long long)time(NULL) * 1000);
    struct resp r;
    assert_int_equal(http_req(port, "POST", "/api/v1/events", sdk, body, &r), 0);
    free(body);
    char ra[16];
    *retry_after = resp_header(&r, "Retry-After", ra, sizeof(ra));
    int st = r.status;
    resp_free(&r);
    return st;
}

/* read-write: the open replays any log left beside the file, as the next start would */
static char *db_text(const char *path, const char *sql)
{
    return harness_file_text(path, SQLITE_OPEN_READWRITE, sql);
}

static void test_replaced_file_refuses_writes(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* a file of the SQLite backend */
    }
    struct daemon d;
    char sdk[64];
    assert_int_equal(harness_start_with_key(&d, NULL, sdk, sizeof(sdk)), 0);
    bool ra = false;
    assert_int_equal(post_batch(d.port, sdk, "a", &ra), 200);
    char old[400], db[400], fresh[400];
    snprintf(old, sizeof(old), "%s/old.db", d.dir);
    snprintf(db, sizeof(db), "%s/bunsen.db", d.dir);
    snprintf(fresh, sizeof(fresh), "%s/new.db", d.dir);
    char *out = NULL;
    const char *const bk[] = {"backup", old, "--data-dir", d.dir, NULL};
    if (bunsen_run(&out, bk) != 0) {
        fail_msg("backup: %s", out);
    }
    free(out);
    /* writes after the backup: frames in the daemon's log, not yet checkpointed */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(post_batch(d.port, sdk, fmt("b%d", i), &ra), 200);
    }
    assert_int_equal(system(fmt("cp '%s' '%s' && mv '%s' '%s'", old, fresh, fresh, db)), 0);
    /* at once, before the one-second poll: no write may be acknowledged */
    int acked = 0;
    for (int i = 0; i < 5; i++) {
        int st = post_batch(d.port, sdk, fmt("c%d", i), &ra);
        acked += st / 100 == 2;
        assert_int_equal(st, 503);
        assert_true(ra);
    }
    assert_int_equal(acked, 0);
    assert_int_equal(daemon_stop(&d), 0);
    /* the file at the path is the replacement, whole: none of the daemon's frames replayed */
    char *check = db_text(db, "PRAGMA integrity_check");
    assert_string_equal(check, "ok");
    free(check);
    char *n = db_text(db, "SELECT COUNT(*) FROM events");
    char *n_old = db_text(old, "SELECT COUNT(*) FROM events");
    assert_string_equal(n, n_old);
    assert_string_equal(n, "200");
    free(n);
    free(n_old);
    /* and it serves */
    assert_int_equal(daemon_restart(&d, NULL), 0);
    assert_int_equal(post_batch(d.port, sdk, "d", &ra), 200);
    assert_int_equal(harness_stop(&d), 0);
}

/* `cp backup.db bunsen.db` (the same inode: the stat sees nothing) under the daemon: the
 * backup's header is not in WAL mode, the daemon's is. Every write afterwards answers 503,
 * /readyz too, and one error line says what happened. (The file itself is not saved: the
 * copy already mixed with the daemon's log and cache; README "Restore".) */
static void test_overwritten_in_place_refuses_writes(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip();
    }
    struct daemon d;
    char sdk[64];
    assert_int_equal(harness_start_with_key(&d, NULL, sdk, sizeof(sdk)), 0);
    bool ra = false;
    assert_int_equal(post_batch(d.port, sdk, "a", &ra), 200);
    char old[400], db[400];
    snprintf(old, sizeof(old), "%s/old.db", d.dir);
    snprintf(db, sizeof(db), "%s/bunsen.db", d.dir);
    char *out = NULL;
    const char *const bk[] = {"backup", old, "--data-dir", d.dir, NULL};
    if (bunsen_run(&out, bk) != 0) {
        fail_msg("backup: %s", out);
    }
    free(out);
    assert_int_equal(post_batch(d.port, sdk, "b", &ra), 200);
    assert_int_equal(system(fmt("cp '%s' '%s'", old, db)), 0);
    /* 25 writes, one group each, all failing alike */
    for (int i = 0; i < 25; i++) {
        assert_int_equal(post_batch(d.port, sdk, fmt("c%d", i), &ra), 503);
        assert_true(ra);
    }
    sleep_ms(150); /* past the reuse of the last check that passed */
    struct resp r;
    assert_int_equal(http_req(d.port, "GET", "/readyz", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 503);
    resp_free(&r);
    daemon_stop(&d);
    char *log = slurp(fmt("%s/stderr.log", d.dir));
    assert_non_null(strstr(log, "overwritten in place under the daemon"));
    /* rev-pg25 1: a line per failed group flooded the log (~430 a second per daemon): at
     * most 10 per 10 s, the rest counted at exit */
    int lines = 0;
    for (const char *p = log; (p = strstr(p, "\"msg\":\"group commit failed\"")) != NULL; p++) {
        lines++;
    }
    assert_int_equal(lines, 10);
    /* 25 writes and /readyz's probe: 26 groups */
    assert_non_null(strstr(log, "\"kind\":\"group commit failed\",\"not_logged\":16"));
    free(log);
    daemon_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replaced_file_refuses_writes),
        cmocka_unit_test(test_overwritten_in_place_refuses_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
