/*
 * API tests for signals and the CLI beside a running daemon (issue 16; split from test_ops.c):
 * SIGHUP reopens the log file (after a logrotate-style rename), makes a key revoked by another
 * process fail at once, reloads the catalogue and never stops the daemon; every thread of the
 * daemon has SIGINT, SIGTERM and SIGHUP blocked (only the main loop takes them); `bunsen keys
 * revoke` and `keys create` record the API's audit documents; no command but serve and
 * migrate changes a schema or creates a database. The other operations tests:
 * test_ops_backup.c, test_ops_files.c, test_ops_metrics.c, test_ops_guard.c,
 * test_ops_disk.c.
 */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- SIGHUP ---- */

static void test_sighup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/bunsen-log-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char log[300], rotated[300];
    snprintf(log, sizeof(log), "%s/bunsen.log", tmpl);
    snprintf(rotated, sizeof(rotated), "%s/bunsen.log.1", tmpl);
    struct daemon d;
    const char *const args[] = {"--log-file", log, "--log-level", "info", NULL};
    assert_int_equal(daemon_start(&d, args), 0);
    char sdk[80], sdk_id[40];
    harness_key(&d, "sdk", sdk, sizeof(sdk), sdk_id, sizeof(sdk_id));
    assert_int_equal(http_status(d.port, "GET", "/api/v1/me", sdk, NULL), 200);
    /* SIGHUP never stops the daemon (it used to exit with status 129). Each SIGHUP is handled
     * once its "reloaded" line (logged last, serve.c reload_on_hup) is in the log: the test
     * waits for that line, not for a time. */
    static const char RELOADED[] = "\"msg\":\"reloaded\"";
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kill(d.pid, SIGHUP), 0);
        assert_true(harness_wait_text(log, RELOADED, i + 1) >= i + 1);
        assert_int_equal(http_status(d.port, "GET", "/healthz", NULL, NULL), 200);
    }
    /* logrotate: move the file away, SIGHUP, new lines go to a new file at the old path */
    assert_int_equal(rename(log, rotated), 0);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    assert_true(harness_wait_text(log, RELOADED, 1) >= 1);
    assert_int_equal(http_status(d.port, "GET", "/healthz?after=rotate", NULL, NULL), 200);
    assert_true(harness_wait_text(log, "\"route\":\"/healthz\"", 1) >= 1);
    char *old = slurp(rotated), *fresh = slurp(log);
    assert_non_null(strstr(old, "\"msg\":\"reloaded\""));
    assert_non_null(strstr(fresh, "\"msg\":\"reloaded\""));
    assert_non_null(strstr(fresh, "\"route\":\"/healthz\""));
    assert_null(strstr(old, "\"catalogue_reloaded\":false"));
    free(old);
    free(fresh);
    struct stat sb;
    assert_int_equal(stat(log, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* a key revoked by another process: refused right after SIGHUP (no cached verification) */
    assert_int_equal(http_status(d.port, "GET", "/api/v1/me", sdk, NULL), 200);
    char *out = NULL;
    const char *const rv[] = {"keys", "revoke", sdk_id, "--data-dir", d.dir, NULL};
    assert_int_equal(bunsen_run(&out, rv), 0);
    free(out);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    assert_true(harness_wait_text(log, RELOADED, 2) >=
                2); /* logged after the keys were forgotten */
    assert_int_equal(http_status(d.port, "GET", "/api/v1/me", sdk, NULL), 401);
    /* the log's directory gone: the failed reopen is said on stderr (the journal), not only
     * in the file that could not be reopened */
    unlink(log);
    unlink(rotated);
    assert_int_equal(rmdir(tmpl), 0);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    assert_true(harness_wait_text(fmt("%s/stderr.log", d.dir), "cannot reopen the log file", 1) >=
                1);
    assert_int_equal(http_status(d.port, "GET", "/healthz", NULL, NULL), 200);
    char *err = slurp(fmt("%s/stderr.log", d.dir));
    assert_non_null(strstr(err, "cannot reopen the log file"));
    free(err);
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

/* The audit entry of a revocation: `bunsen keys revoke` recorded key.revoke with no documents
 * (before and after null) where DELETE /api/v1/keys/{id} records the key before and after
 * (revoked_at set). Both record the same now, whoever revokes; and `bunsen keys create` the
 * API's key.create document (it lacked revoked_at). */
static json_t *audit_entry(const struct daemon *d, const char *id, const char *action)
{
    int st = 0;
    json_t *j = http_json(d->port, "GET", fmt("/api/v1/audit?target_type=key&target=%s", id),
                          d->admin_key, NULL, &st);
    assert_int_equal(st, 200);
    json_t *entries = json_object_get(j, "entries"), *e;
    size_t i;
    json_array_foreach(entries, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "action")), action) == 0) {
            json_incref(e);
            json_decref(j);
            return e;
        }
    }
    fail_msg("no %s entry for %s", action, id);
    return NULL;
}

static void test_cli_revoke_audit(void **state)
{
    (void)state;
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    char by_api[80], api_id[40], by_cli[80], cli_id[40];
    harness_key(&d, "sdk", by_api, sizeof(by_api), api_id, sizeof(api_id));
    harness_key(&d, "viewer", by_cli, sizeof(by_cli), cli_id, sizeof(cli_id));
    assert_int_equal(
        http_status(d.port, "DELETE", fmt("/api/v1/keys/%s", api_id), d.admin_key, NULL), 200);
    char *out = NULL;
    const char *const rv[] = {"keys", "revoke", cli_id, "--data-dir", d.dir, NULL};
    if (bunsen_run(&out, rv) != 0) {
        fail_msg("keys revoke: %s", out);
    }
    free(out);
    json_t *api = audit_entry(&d, api_id, "key.revoke"),
           *cli = audit_entry(&d, cli_id, "key.revoke");
    assert_string_equal(json_string_value(json_object_get(json_object_get(cli, "actor"), "id")),
                        "cli");
    const char *const fields[] = {"id", "name", "role", "prefix", "created_at", "revoked_at"};
    json_t *entries[] = {api, cli};
    const char *ids[] = {api_id, cli_id}, *roles[] = {"sdk", "viewer"};
    for (int k = 0; k < 2; k++) {
        json_t *before = json_object_get(entries[k], "before");
        json_t *after = json_object_get(entries[k], "after");
        if (!json_is_object(before) || !json_is_object(after)) {
            fail_msg("%s: before/after not documents: %s", k ? "cli" : "api",
                     json_dumps(entries[k], JSON_COMPACT));
        }
        /* the same fields, in both; an sdk key's say whether it is encrypted */
        size_t want = k == 0 ? 7 : 6;
        assert_int_equal(json_object_size(before), want);
        assert_int_equal(json_object_size(after), want);
        if (k == 0) {
            assert_true(json_is_false(json_object_get(before, "encrypt")));
            assert_true(json_is_false(json_object_get(after, "encrypt")));
        }
        for (size_t f = 0; f < 6; f++) {
            assert_non_null(json_object_get(before, fields[f]));
            assert_non_null(json_object_get(after, fields[f]));
        }
        assert_string_equal(json_string_value(json_object_get(before, "id")), ids[k]);
        assert_string_equal(json_string_value(json_object_get(before, "role")), roles[k]);
        assert_true(json_is_null(json_object_get(before, "revoked_at")));
        assert_true(json_integer_value(json_object_get(after, "revoked_at")) > 0);
        assert_int_equal(json_integer_value(json_object_get(after, "created_at")),
                         json_integer_value(json_object_get(before, "created_at")));
    }
    json_decref(api);
    json_decref(cli);
    /* a key created by the CLI: the document the API's key.create records */
    const char *const create[] = {"keys", "create",     "--role", "sdk", "--name",
                                  "c2",   "--data-dir", d.dir,    NULL};
    assert_int_equal(bunsen_run(&out, create), 0);
    char created[40] = "";
    const char *idl = strstr(out, "id:");
    assert_non_null(idl);
    assert_int_equal(sscanf(idl, "id: %39s", created), 1);
    free(out);
    json_t *made = audit_entry(&d, created, "key.create");
    json_t *after = json_object_get(made, "after");
    assert_true(json_is_null(json_object_get(made, "before")));
    assert_int_equal(json_object_size(after), 7);
    assert_true(json_is_false(json_object_get(after, "encrypt"))); /* the CLI cannot encrypt */
    assert_string_equal(json_string_value(json_object_get(after, "name")), "c2");
    assert_true(json_is_null(json_object_get(after, "revoked_at")));
    json_decref(made);
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

/* Every thread of the daemon has SIGINT, SIGTERM and SIGHUP blocked, so only the main
 * loop's sigtimedwait takes them. A database whose WAL holds 1,000 frames or more (after a
 * kill -9 under load) once started SQLite's checkpointer before they were blocked: a SIGHUP
 * delivered to that thread killed the daemon. */
static bool all_threads_block(pid_t pid)
{
    const unsigned long long want =
        (1ull << (SIGHUP - 1)) | (1ull << (SIGINT - 1)) | (1ull << (SIGTERM - 1));
    /* the main thread is left out: inside sigtimedwait the kernel shows the signals it
     * waits for as unblocked */
    char cmd[160];
    snprintf(cmd, sizeof(cmd),
             "cd /proc/%d/task && for t in *; do [ $t = %d ] || cat $t/status; done", (int)pid,
             (int)pid);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[256];
    int threads = 0;
    bool ok = true;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long m = 0;
        if (sscanf(line, "SigBlk: %llx", &m) == 1) {
            threads++;
            ok = ok && (m & want) == want;
        }
    }
    pclose(f);
    return ok && threads > 0;
}

static void test_signals_blocked_in_every_thread(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* the checkpointer is SQLite's */
    }
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    assert_int_equal(daemon_stop(&d), 0);
    /* ~2,000 WAL frames left behind, as a kill -9 under load leaves them */
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(fmt("%s/bunsen.db", d.dir), &h), SQLITE_OK);
    assert_int_equal(sqlite3_db_config(h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h,
                     "PRAGMA wal_autocheckpoint=0; CREATE TABLE scratch (b BLOB);"
                     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                     "WHERE i < 2000) INSERT INTO scratch SELECT zeroblob(3000) FROM n;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    struct stat sb;
    assert_int_equal(stat(fmt("%s/bunsen.db-wal", d.dir), &sb), 0);
    assert_true(sb.st_size > 4000000);
    const char *const info[] = {"--log-level", "info", NULL}; /* for the "reloaded" line */
    assert_int_equal(daemon_restart(&d, info), 0);
    assert_true(all_threads_block(d.pid));
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    /* handled, not fatal to a thread that let it in: the reload's last line is logged (a
     * dead daemon never logs it: wait_text's hang detector fails the test) */
    assert_true(harness_wait_text(fmt("%s/stderr.log", d.dir), "\"msg\":\"reloaded\"", 1) >= 1);
    assert_int_equal(http_status(d.port, "GET", "/healthz", NULL, NULL), 200);
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

/* Only serve and migrate change a schema. `bunsen keys list` with a new binary, between its
 * install and the daemon's restart, once migrated the database under the old daemon (which
 * then refused to start on it); `bunsen results` and `bunsen keys` on a mistyped data dir
 * created a database (keys create: with a key no daemon saw). */
static int migrations_recorded(const char *db)
{
    return (int)harness_file_int(db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                 "SELECT COUNT(*) FROM schema_migrations");
}

static void test_cli_never_migrates(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* the schema is edited through SQLite below */
    }
    char empty[] = "/tmp/bunsen-empty-XXXXXX";
    assert_non_null(mkdtemp(empty));
    char *out = NULL;
    const char *const res[] = {"results", "nope", "--data-dir", empty, NULL};
    assert_int_not_equal(bunsen_run(&out, res), 0);
    assert_non_null(strstr(out, "no database"));
    free(out);
    struct stat sb;
    assert_int_not_equal(stat(fmt("%s/bunsen.db", empty), &sb), 0);
    /* keys on a mistyped data dir: `keys create` made a database and a key no daemon saw */
    const char *typo = fmt("%s/typo", empty);
    const char *const klist[] = {"keys", "list", "--data-dir", typo, NULL};
    const char *const kcreate[] = {"keys", "create",     "--role", "admin", "--name",
                                   "x",    "--data-dir", typo,     NULL};
    const char *const krevoke[] = {"keys",       "revoke", "key_0123456789abcdef",
                                   "--data-dir", typo,     NULL};
    const char *const *kcmds[] = {klist, kcreate, krevoke};
    for (int i = 0; i < 3; i++) {
        out = NULL;
        assert_int_equal(bunsen_run(&out, kcmds[i]), 1);
        if (strstr(out, "no database") == NULL || strstr(out, "bunsen migrate") == NULL) {
            fail_msg("keys %s: %s", kcmds[i][1], out);
        }
        free(out);
    }
    assert_int_not_equal(stat(typo, &sb), 0); /* not even the directory */
    /* keys before the first serve: `bunsen migrate` makes the database */
    const char *const mig[] = {"migrate", "--data-dir", typo, NULL};
    assert_int_equal(bunsen_run(&out, mig), 0);
    free(out);
    assert_int_equal(bunsen_run(&out, kcreate), 0);
    assert_non_null(strstr(out, "bsn_"));
    free(out);
    assert_int_equal(system(fmt("rm -rf '%s'", typo)), 0);
    rmdir(empty);

    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    assert_int_equal(daemon_stop(&d), 0);
    char db[400];
    snprintf(db, sizeof(db), "%s/bunsen.db", d.dir);
    int all = migrations_recorded(db);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "DELETE FROM schema_migrations WHERE version = (SELECT "
                                  "MAX(version) FROM schema_migrations)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    const char *const keys[] = {"keys", "list", "--data-dir", d.dir, NULL};
    const char *const compact[] = {"compact", "--data-dir", d.dir, NULL};
    const char *const *cmds[] = {keys, compact};
    for (int i = 0; i < 2; i++) {
        out = NULL;
        assert_int_not_equal(bunsen_run(&out, cmds[i]), 0);
        if (strstr(out, "bunsen migrate") == NULL) {
            fail_msg("%s: %s", cmds[i][0], out);
        }
        free(out);
    }
    assert_int_equal(migrations_recorded(db), all - 1); /* nothing applied it */
    daemon_cleanup(&d);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sighup),
        cmocka_unit_test(test_cli_revoke_audit),
        cmocka_unit_test(test_signals_blocked_in_every_thread),
        cmocka_unit_test(test_cli_never_migrates),
    };
    return cmocka_run_group_tests_name("api_ops_signals", tests, NULL, NULL);
}
