/*
 * API tests for operating the daemon (issue 16): `bunsen backup` taken while a write load
 * runs restores to a database that passes integrity_check and holds every write acknowledged
 * before the backup started (and the restored daemon serves it); SIGHUP reopens the log file
 * (after a logrotate-style rename), makes a key revoked by another process fail at once,
 * reloads the catalogue and never stops the daemon; the bootstrap admin key never appears on
 * a non-terminal stderr or in the log (only in admin.key, mode 0600); a SQLite file deleted or
 * replaced under the daemon makes /readyz 503 and is logged once, and creates no new empty
 * database, and no reply names the file; `bunsen backup` refuses the database's own files as
 * DEST; a key revoked by the CLI is not taken back from the key cache in an outage; /metrics
 * carries the process_* gauges, hides per-experiment series from anonymous scrapers and, with
 * --metrics-auth key, needs a reader key; each experiment keeps its own assignment series.
 */
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int status_of(int port, const char *method, const char *path, const char *key,
                     const char *body)
{
    struct resp r;
    if (http_req(port, method, path, key, body, &r) != 0) {
        return -1;
    }
    int st = r.status;
    resp_free(&r);
    return st;
}

static void make_key(const struct daemon *d, const char *role, char *out, size_t n, char *id,
                     size_t idn)
{
    static int made; /* key names are unique among active keys */
    int st = 0;
    json_t *j = http_json(d->port, "POST", "/api/v1/keys", d->admin_key,
                          fmt("{\"name\":\"t-%s-%d\",\"role\":\"%s\"}", role, ++made, role), &st);
    assert_int_equal(st, 201);
    snprintf(out, n, "%s", json_string_value(json_object_get(j, "key")));
    if (id != NULL) {
        snprintf(id, idn, "%s", json_string_value(json_object_get(j, "id")));
    }
    json_decref(j);
}

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
        if (status_of(l->d->port, "POST", "/api/v1/events", l->d->admin_key, body) != 200) {
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
    while (atomic_load(&l.acked) < 50) {
        usleep(10000);
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
    assert_int_equal(status_of(r.port, "GET", "/readyz", NULL, NULL), 200);
    assert_int_equal(status_of(r.port, "GET", "/api/v1/me", r.admin_key, NULL), 200);
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
        assert_int_equal(status_of(d.port, "POST", "/api/v1/events", d.admin_key,
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

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* Waits until the file at path holds needle n times or more (a line the daemon writes once it
 * has done what it logs), and returns the count. HARNESS_HANG_S: a hang detector only. */
static int wait_text(const char *path, const char *needle, int n)
{
    int got = 0;
    for (double t0 = harness_clock_s(); harness_clock_s() - t0 < HARNESS_HANG_S; usleep(10000)) {
        char *text = slurp(path);
        got = count_of(text, needle);
        free(text);
        if (got >= n) {
            break;
        }
    }
    return got;
}

/* Sends the request again while it answers 200 (a passed readiness check, a key verification
 * still cached) and returns the first other status (200 still after HARNESS_HANG_S: a hang
 * detector only). */
static int status_past_cache(int port, const char *method, const char *path, const char *key,
                             const char *body)
{
    int st = -1;
    for (double t0 = harness_clock_s(); harness_clock_s() - t0 < HARNESS_HANG_S; usleep(10000)) {
        st = status_of(port, method, path, key, body);
        if (st != 200) {
            break;
        }
    }
    return st;
}

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
    make_key(&d, "sdk", sdk, sizeof(sdk), sdk_id, sizeof(sdk_id));
    assert_int_equal(status_of(d.port, "GET", "/api/v1/me", sdk, NULL), 200);
    /* SIGHUP never stops the daemon (it used to exit with status 129). Each SIGHUP is handled
     * once its "reloaded" line (logged last, serve.c reload_on_hup) is in the log: the test
     * waits for that line, not for a time. */
    static const char RELOADED[] = "\"msg\":\"reloaded\"";
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kill(d.pid, SIGHUP), 0);
        assert_true(wait_text(log, RELOADED, i + 1) >= i + 1);
        assert_int_equal(status_of(d.port, "GET", "/healthz", NULL, NULL), 200);
    }
    /* logrotate: move the file away, SIGHUP, new lines go to a new file at the old path */
    assert_int_equal(rename(log, rotated), 0);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    assert_true(wait_text(log, RELOADED, 1) >= 1);
    assert_int_equal(status_of(d.port, "GET", "/healthz?after=rotate", NULL, NULL), 200);
    assert_true(wait_text(log, "\"route\":\"/healthz\"", 1) >= 1);
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
    assert_int_equal(status_of(d.port, "GET", "/api/v1/me", sdk, NULL), 200);
    char *out = NULL;
    const char *const rv[] = {"keys", "revoke", sdk_id, "--data-dir", d.dir, NULL};
    assert_int_equal(bunsen_run(&out, rv), 0);
    free(out);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    assert_true(wait_text(log, RELOADED, 2) >= 2); /* logged after the keys were forgotten */
    assert_int_equal(status_of(d.port, "GET", "/api/v1/me", sdk, NULL), 401);
    /* the log's directory gone: the failed reopen is said on stderr (the journal), not only
     * in the file that could not be reopened */
    unlink(log);
    unlink(rotated);
    assert_int_equal(rmdir(tmpl), 0);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    assert_true(wait_text(fmt("%s/stderr.log", d.dir), "cannot reopen the log file", 1) >= 1);
    assert_int_equal(status_of(d.port, "GET", "/healthz", NULL, NULL), 200);
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
    make_key(&d, "sdk", by_api, sizeof(by_api), api_id, sizeof(api_id));
    make_key(&d, "viewer", by_cli, sizeof(by_cli), cli_id, sizeof(cli_id));
    assert_int_equal(status_of(d.port, "DELETE", fmt("/api/v1/keys/%s", api_id), d.admin_key, NULL),
                     200);
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
    assert_true(wait_text(fmt("%s/stderr.log", d.dir), "\"msg\":\"reloaded\"", 1) >= 1);
    assert_int_equal(status_of(d.port, "GET", "/healthz", NULL, NULL), 200);
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

/* A --database no backend takes is a usage error (exit 2, README "Configuration") found
 * before anything is touched: `serve --database mysql://... --data-dir NEW/sub` created the
 * data directory, then exited 1 (serve.c checks every option before the data directory). The
 * same for every subcommand, for BUNSEN_DATABASE, and for an empty sqlite: path. */
static void test_database_scheme_usage(void **state)
{
    (void)state;
    char base[] = "/tmp/bunsen-scheme-XXXXXX";
    assert_non_null(mkdtemp(base));
    const char *dir = fmt("%s/newdir/sub", base);
    char d[300];
    snprintf(d, sizeof(d), "%s", dir);
    const char *url = "mysql://u:pw@127.0.0.1/x";
    const char *const serve[] = {"serve", "--port", "0", "--database", url, "--data-dir", d, NULL};
    const char *const migrate[] = {"migrate", "--database", url, "--data-dir", d, NULL};
    const char *const klist[] = {"keys", "list", "--database", url, "--data-dir", d, NULL};
    const char *const kcreate[] = {"keys",       "create", "--role",     "admin", "--name", "x",
                                   "--database", url,      "--data-dir", d,       NULL};
    const char *const results[] = {"results", "e", "--database", url, "--data-dir", d, NULL};
    const char *const compact[] = {"compact", "--database", url, "--data-dir", d, NULL};
    const char *const backup[] = {
        "backup", fmt("%s/b.db", base), "--database", url, "--data-dir", d, NULL};
    const char *const empty[] = {"serve",   "--port",     "0", "--database",
                                 "sqlite:", "--data-dir", d,   NULL};
    const char *const *cmds[] = {serve, migrate, klist, kcreate, results, compact, backup, empty};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char *out = NULL;
        int rc = bunsen_run(&out, cmds[i]);
        const char *want =
            i < 7 ? "unsupported database URL scheme 'mysql'" : "empty database path";
        if (rc != 2 || strstr(out, want) == NULL) {
            fail_msg("%s (%zu): exit %d: %s", cmds[i][0], i, rc, out);
        }
        free(out);
        struct stat sb;
        if (stat(fmt("%s/newdir", base), &sb) == 0) {
            fail_msg("%s (%zu) created the data directory", cmds[i][0], i);
        }
    }
    /* the variable too (no flag overrides it) */
    setenv("BUNSEN_DATABASE", url, 1);
    const char *const env_serve[] = {"serve", "--port", "0", "--data-dir", d, NULL};
    char *out = NULL;
    int rc = bunsen_run(&out, env_serve);
    unsetenv("BUNSEN_DATABASE");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "unsupported database URL scheme"));
    free(out);
    struct stat sb;
    assert_int_not_equal(stat(fmt("%s/newdir", base), &sb), 0);
    rmdir(base);
}

/* ---- the database file deleted or replaced under the daemon ---- */

/* /readyz said 200 while every keyed request got 500 "no such table", a reader opened after
 * the deletion left a new empty bunsen.db (the next start took it for a new database), and
 * nothing was logged. */
static void test_db_file_lost(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* a file of the SQLite backend */
    }
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    assert_int_equal(status_of(d.port, "POST", "/api/v1/experiments", d.admin_key,
                               "{\"key\":\"lost\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}"),
                     201);
    assert_int_equal(status_of(d.port, "GET", "/readyz", NULL, NULL), 200);
    char db[400], moved[400];
    snprintf(db, sizeof(db), "%s/bunsen.db", d.dir);
    snprintf(moved, sizeof(moved), "%s/moved.db", d.dir);
    assert_int_equal(rename(db, moved), 0); /* as rm would, for the path */
    /* a check that passed answers the probes of the next 100 ms: wait until one finds the loss */
    assert_int_equal(status_past_cache(d.port, "GET", "/readyz", NULL, NULL), 503);
    for (int i = 0; i < 2; i++) {
        struct resp r;
        assert_int_equal(http_req(d.port, "GET", "/readyz", NULL, NULL, &r), 0);
        assert_int_equal(r.status, 503);
        assert_non_null(strstr(r.body, "deleted or replaced"));
        resp_free(&r);
    }
    /* results run on an offload thread whose read connection opens now: no new file, a 503 */
    assert_int_equal(
        status_of(d.port, "GET", "/api/v1/experiments/lost/results", d.admin_key, NULL), 503);
    struct stat sb;
    assert_int_not_equal(stat(db, &sb), 0);
    /* put back: ready again; replaced by a copy (a new file): not ready */
    assert_int_equal(rename(moved, db), 0);
    assert_int_equal(status_of(d.port, "GET", "/readyz", NULL, NULL), 200);
    assert_int_equal(system(fmt("cp '%s' '%s' && mv '%s' '%s'", db, moved, moved, db)), 0);
    assert_int_equal(status_past_cache(d.port, "GET", "/readyz", NULL, NULL), 503);
    assert_int_equal(daemon_stop(&d), 0);
    /* one error line per loss, whether /readyz or the one-second poll found it */
    char *log = slurp(fmt("%s/stderr.log", d.dir));
    assert_int_equal(count_of(log, "deleted or replaced under the daemon"), 2);
    free(log);
    daemon_cleanup(&d);
}

/* ---- a revoked key while the database is unreachable ---- */

#define OUTAGE_ASSIGN "{\"user_id\":\"u1\",\"experiments\":[\"ox\"],\"log_exposure\":false}"
#define OUTAGE_OFREP  "{\"context\":{\"targetingKey\":\"u1\"}}"

/* While a key lookup fails as unavailable, keys verified in the last 10 minutes authenticate
 * from the cache (SCALING.md). That cache once took a key revoked by `bunsen keys revoke`
 * back: one this daemon had looked up and found revoked (a 401 left the cached verification
 * in place), and one never presented since the revocation (nothing dropped it). The SQLite
 * outage: the file moved away, a pool thread without a read connection yet cannot open one
 * (503 "cannot open the database"), the threads with one still read the old file. Expected
 * of every request of either key: 401 or 503, never 200. tests/api/test_failover.c does the
 * same on PostgreSQL with the server stopped. */
static void test_revoked_key_in_outage(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* tests/api/test_failover.c test_revoked_key_in_outage */
    }
    struct daemon d;
    const char *const extra[] = {"--threads", "8", NULL};
    assert_int_equal(daemon_start(&d, extra), 0);
    assert_int_equal(status_of(d.port, "POST", "/api/v1/experiments", d.admin_key,
                               "{\"key\":\"ox\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}"),
                     201);
    assert_int_equal(status_of(d.port, "POST", "/api/v1/experiments/ox/start", d.admin_key, NULL),
                     200);
    char seen[80], seen_id[40], silent[80], silent_id[40];
    make_key(&d, "sdk", seen, sizeof(seen), seen_id, sizeof(seen_id));
    make_key(&d, "sdk", silent, sizeof(silent), silent_id, sizeof(silent_id));
    assert_int_equal(status_of(d.port, "POST", "/api/v1/assign", seen, OUTAGE_ASSIGN), 200);
    assert_int_equal(status_of(d.port, "POST", "/api/v1/assign", silent, OUTAGE_ASSIGN), 200);
    const char *const ids[] = {seen_id, silent_id};
    for (int i = 0; i < 2; i++) {
        char *out = NULL;
        const char *const rv[] = {"keys", "revoke", ids[i], "--data-dir", d.dir, NULL};
        if (bunsen_run(&out, rv) != 0) {
            fail_msg("keys revoke: %s", out);
        }
        free(out);
    }
    /* looked up again once the key cache's second is over: found revoked */
    assert_int_equal(status_past_cache(d.port, "POST", "/api/v1/assign", seen, OUTAGE_ASSIGN), 401);
    char db[400], moved[400];
    snprintf(db, sizeof(db), "%s/bunsen.db", d.dir);
    snprintf(moved, sizeof(moved), "%s/moved.db", d.dir);
    assert_int_equal(rename(db, moved), 0);
    int ok = 0, unavailable = 0, other = 0, i;
    const char *const keys[] = {seen, silent};
    /* which pool thread takes a connection is the kernel's choice: go on until enough
     * requests met one without a read connection */
    for (i = 0; i < 400 && (i < 40 || unavailable < 8); i++) {
        const char *key = keys[i % 2];
        int st = i % 4 < 2
                     ? status_of(d.port, "POST", "/api/v1/assign", key, OUTAGE_ASSIGN)
                     : status_of(d.port, "POST", "/ofrep/v1/evaluate/flags/ox", key, OUTAGE_OFREP);
        ok += st == 200;
        unavailable += st == 503;
        other += st != 200 && st != 503 && st != 401;
    }
    print_message("# revoked keys in an outage: %d of %d answered 200, %d 503\n", ok, i,
                  unavailable);
    assert_int_equal(rename(moved, db), 0);
    assert_int_equal(ok, 0);
    assert_int_equal(other, 0);
    assert_true(unavailable > 0); /* the outage was met: lookups failed as unavailable */
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

/* A key revoked elsewhere (the CLI, another daemon) is still in the key cache for up to a
 * second: GET /api/features and /sub with it answered 404 "no active key 'key_...'" (its id,
 * from the encryption key's read) instead of the 401 every revoked key gets. Several keys, each
 * revoked right after it was cached, so that some land inside the cache's second. */
static void test_revoked_sdk_key_in_cache(void **state)
{
    (void)state;
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    int statuses[4][6];
    for (int k = 0; k < 6; k++) {
        char key[80], id[40];
        make_key(&d, "sdk", key, sizeof(key), id, sizeof(id));
        assert_int_equal(status_of(d.port, "GET", fmt("/api/features/%s", key), NULL, NULL), 200);
        char *out = NULL;
        const char *const rv[] = {"keys", "revoke", id, "--data-dir", d.dir, NULL};
        if (bunsen_run(&out, rv) != 0) {
            fail_msg("keys revoke: %s", out);
        }
        free(out);
        for (int i = 0; i < 4; i++) {
            statuses[i][k] = status_of(d.port, "GET", fmt("/api/features/%s", key), NULL, NULL);
        }
    }
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
    for (int k = 0; k < 6; k++) {
        for (int i = 0; i < 4; i++) {
            assert_int_equal(statuses[i][k], 401);
        }
    }
}

/* A read connection opens lazily on each pool thread: once the database file was moved away,
 * a thread that had none yet answered an unauthenticated GET /api/features/{anything} 503
 * "cannot open database /tmp/.../bunsen.db: unable to open database file" (and a keyed
 * request the same). The reply says what happened; the path goes to the log. */
static void test_db_path_not_in_replies(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* a file of the SQLite backend */
    }
    struct daemon d;
    const char *const extra[] = {"--threads", "8", NULL};
    assert_int_equal(daemon_start(&d, extra), 0);
    assert_int_equal(status_of(d.port, "GET", "/api/features/anything", NULL, NULL), 401);
    char db[400], moved[400];
    snprintf(db, sizeof(db), "%s/bunsen.db", d.dir);
    snprintf(moved, sizeof(moved), "%s/elsewhere.db", d.dir);
    assert_int_equal(rename(db, moved), 0);
    int unavailable = 0, i;
    char leaked[600] = "";
    for (i = 0; i < 400 && (i < 40 || unavailable < 8); i++) {
        struct resp r;
        int rc = i % 2 ? http_req(d.port, "GET", "/api/features/anything", NULL, NULL, &r)
                       : http_req(d.port, "GET", "/api/v1/me", "bsn_not-a-key", NULL, &r);
        assert_int_equal(rc, 0);
        if (r.status == 503) {
            unavailable++;
            if (strstr(r.body, "/") != NULL && leaked[0] == '\0') {
                snprintf(leaked, sizeof(leaked), "%s", r.body);
            }
            assert_non_null(strstr(r.body, "cannot open the database"));
        } else {
            assert_int_equal(r.status, 401);
        }
        resp_free(&r);
    }
    assert_int_equal(rename(moved, db), 0);
    print_message("# the database moved away: %d of %d requests answered 503\n", unavailable, i);
    assert_true(unavailable > 0);
    if (leaked[0] != '\0') {
        fail_msg("a reply names a path: %s", leaked);
    }
    assert_int_equal(daemon_stop(&d), 0);
    char *log = slurp(fmt("%s/stderr.log", d.dir));
    assert_non_null(strstr(log, "cannot open a read connection to the database"));
    assert_non_null(strstr(log, db)); /* the operator gets the path */
    free(log);
    daemon_cleanup(&d);
}

/* ---- one daemon per SQLite file ---- */

/* A second `bunsen serve` on the same SQLite file started silently (the known-exposure cache
 * is exact only with one writer per file); the CLI commands go on working beside the daemon. */
static void test_one_daemon_per_file(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* several daemons share a PostgreSQL database by design */
    }
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    struct daemon second;
    memset(&second, 0, sizeof(second));
    snprintf(second.dir, sizeof(second.dir), "%s", d.dir);
    if (daemon_restart(&second, NULL) == 0) { /* it started: stop it, then fail */
        daemon_stop(&second);
        close(second.out_fd);
        fail_msg("a second daemon started on %s/bunsen.db", d.dir);
    }
    close(second.out_fd);
    second.out_fd = -1; /* closed: spawn would close the number again */
    char *err = slurp(fmt("%s/stderr.log", d.dir));
    assert_non_null(strstr(err, "another bunsen serve is running on the database"));
    free(err);
    /* nor through a symbolic link to the file: the lock is the file's, not the path's */
    char link[600];
    snprintf(link, sizeof(link), "%s/link.db", d.dir);
    assert_int_equal(symlink(fmt("%s/bunsen.db", d.dir), link), 0);
    const char *const via_link[] = {"--database", link, NULL};
    assert_int_equal(truncate(fmt("%s/stderr.log", d.dir), 0), 0);
    if (daemon_restart(&second, via_link) == 0) {
        daemon_stop(&second);
        close(second.out_fd);
        fail_msg("a second daemon started on %s", link);
    }
    close(second.out_fd);
    err = slurp(fmt("%s/stderr.log", d.dir));
    assert_non_null(strstr(err, "another bunsen serve is running on the database"));
    free(err);
    assert_int_equal(status_of(d.port, "GET", "/readyz", NULL, NULL), 200);
    /* the CLI commands while the daemon runs */
    const char *const list[] = {"keys", "list", "--data-dir", d.dir, NULL};
    const char *const create[] = {"keys",     "create",     "--role", "sdk", "--name",
                                  "from-cli", "--data-dir", d.dir,    NULL};
    const char *const migrate[] = {"migrate", "--data-dir", d.dir, NULL};
    const char *const compact[] = {"compact", "--data-dir", d.dir, NULL};
    const char *const backup[] = {"backup", fmt("%s/copy.db", d.dir), "--data-dir", d.dir, NULL};
    const char *const *cmds[] = {list, create, migrate, compact, backup};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char *out = NULL;
        if (bunsen_run(&out, cmds[i]) != 0) {
            fail_msg("%s while the daemon runs: %s", cmds[i][0], out);
        }
        free(out);
    }
    /* a bad BUNSEN_PORT is no error for a command that does not use it (keys) nor when a flag
     * sets the port (the harness passes --port 0); it was fatal for both (exit 2) */
    setenv("BUNSEN_PORT", "abc", 1);
    char *out = NULL;
    if (bunsen_run(&out, list) != 0) {
        fail_msg("keys list with BUNSEN_PORT=abc: %s", out);
    }
    free(out);
    /* the lock goes with the process, however it ends */
    daemon_kill9(&d);
    assert_int_equal(daemon_restart(&d, NULL), 0);
    assert_int_equal(status_of(d.port, "GET", "/readyz", NULL, NULL), 200);
    assert_int_equal(daemon_stop(&d), 0);
    const char *const serve[] = {"serve", "--data-dir", d.dir, NULL};
    assert_int_equal(bunsen_run(&out, serve), 2); /* it would listen on it: still refused */
    assert_non_null(strstr(out, "BUNSEN_PORT"));
    free(out);
    unsetenv("BUNSEN_PORT");
    assert_int_equal(daemon_restart(&d, NULL), 0);
    assert_int_equal(daemon_stop(&d), 0);
    /* a link to a database not created yet: the lock is the target's too (the link got one
     * of its own, and a daemon on the target's path started beside it) */
    char target[600], dangling[600];
    snprintf(target, sizeof(target), "%s/later.db", d.dir);
    snprintf(dangling, sizeof(dangling), "%s/dangling.db", d.dir);
    assert_int_equal(symlink("later.db", dangling), 0);
    const char *const via_dangling[] = {"--database", dangling, NULL};
    assert_int_equal(daemon_restart(&d, via_dangling), 0);
    const char *const on_target[] = {"--database", target, NULL};
    assert_int_equal(truncate(fmt("%s/stderr.log", d.dir), 0), 0);
    if (daemon_restart(&second, on_target) == 0) {
        daemon_stop(&second);
        close(second.out_fd);
        second.out_fd = -1;
        fail_msg("a second daemon started on %s beside one on a link to it", target);
    }
    close(second.out_fd);
    second.out_fd = -1;
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

/* ---- secrets ---- */

static void test_secret_only_in_key_file(void **state)
{
    (void)state;
    /* the harness points the daemon's stderr at <dir>/stderr.log: not a terminal */
    char tmpl[] = "/tmp/bunsen-log-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char log[300];
    snprintf(log, sizeof(log), "%s/log", tmpl);
    struct daemon d;
    const char *const args[] = {"--log-file", log, NULL};
    assert_int_equal(daemon_start(&d, args), 0);
    assert_true(strlen(d.admin_key) > 20);
    assert_int_equal(status_of(d.port, "GET", "/api/v1/me", d.admin_key, NULL), 200);
    assert_int_equal(daemon_stop(&d), 0);
    char *err = slurp(fmt("%s/stderr.log", d.dir)), *lines = slurp(log);
    assert_null(strstr(err, d.admin_key));
    assert_null(strstr(lines, d.admin_key));
    assert_non_null(strstr(lines, "admin.key")); /* the log says where the key is */
    free(err);
    free(lines);
    struct stat sb;
    assert_int_equal(stat(fmt("%s/admin.key", d.dir), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    daemon_cleanup(&d);
    unlink(log);
    rmdir(tmpl);
}

/* ---- /metrics ---- */

static char *scrape(int port, const char *key, int *status)
{
    struct resp r;
    assert_int_equal(http_req(port, "GET", "/metrics", key, NULL, &r), 0);
    *status = r.status;
    char *body = strdup(r.body ? r.body : "");
    resp_free(&r);
    return body;
}

static void test_metrics(void **state)
{
    (void)state;
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    int st = 0;
    json_decref(http_json(
        d.port, "POST", "/api/v1/experiments", d.admin_key,
        "{\"key\":\"secret-launch\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}", &st));
    json_decref(http_json(d.port, "POST", "/api/v1/experiments/secret-launch/start", d.admin_key,
                          NULL, &st));
    json_decref(
        http_json(d.port, "POST", "/api/v1/assign", d.admin_key, "{\"user_id\":\"u1\"}", &st));
    /* requests no route took: labelled as sent, not as static GETs */
    assert_int_equal(status_of(d.port, "POST", "/healthz", NULL, NULL), 405);
    assert_int_equal(status_of(d.port, "PROPFIND", "/", NULL, NULL), 405);
    assert_int_equal(status_of(d.port, "GET", "/api/v1/nope", NULL, NULL), 404);
    char viewer[80], sdk[80];
    make_key(&d, "viewer", viewer, sizeof(viewer), NULL, 0);
    make_key(&d, "sdk", sdk, sizeof(sdk), NULL, 0);
    char *pub = scrape(d.port, NULL, &st);
    assert_int_equal(st, 200);
    static const char *const families[] = {"\nprocess_cpu_seconds_total ",
                                           "\nprocess_resident_memory_bytes ",
                                           "\nprocess_virtual_memory_bytes ",
                                           "\nprocess_open_fds ",
                                           "\nprocess_max_fds ",
                                           "\nprocess_start_time_seconds "};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        if (strstr(pub, families[i]) == NULL) {
            fail_msg("/metrics lacks%s", families[i]);
        }
    }
    double rss = atof(strstr(pub, "\nprocess_resident_memory_bytes ") + 31);
    assert_true(rss > 1e6);
    double start = atof(strstr(pub, "\nprocess_start_time_seconds ") + 28);
    double now = (double)time(NULL);
    assert_true(start > now - 120 && start <= now + 1); /* this daemon started just now */
    /* the same value in every scrape (computed per scrape from two clocks, it jittered) */
    const char *line = strstr(pub, "\nprocess_start_time_seconds ");
    char first[80];
    snprintf(first, sizeof(first), "%.*s", (int)strcspn(line + 1, "\n"), line + 1);
    for (int i = 0; i < 10; i++) {
        char *again = scrape(d.port, NULL, &st);
        const char *l = strstr(again, "\nprocess_start_time_seconds ");
        assert_non_null(l);
        if (strncmp(l + 1, first, strlen(first)) != 0 || l[1 + strlen(first)] != '\n') {
            fail_msg("scrape %d: '%.*s', first '%s'", i, (int)strcspn(l + 1, "\n"), l + 1, first);
        }
        free(again);
    }
    static const char *const unmatched[] = {
        "route=\"unmatched\",method=\"POST\",code=\"405\"} 1",
        "route=\"unmatched\",method=\"other\",code=\"405\"} 1",
        "route=\"unmatched\",method=\"GET\",code=\"404\"} 1",
        "bunsen_http_request_duration_seconds_count{route=\"unmatched\",method=\"POST\"} 1"};
    for (size_t i = 0; i < sizeof(unmatched) / sizeof(unmatched[0]); i++) {
        if (strstr(pub, unmatched[i]) == NULL) {
            fail_msg("/metrics lacks %s", unmatched[i]);
        }
    }
    assert_null(strstr(pub, "route=\"static\",method=\"GET\",code=\"405\""));
    /* anonymous: no experiment keys; an sdk key is not a reader either */
    assert_null(strstr(pub, "secret-launch"));
    assert_non_null(strstr(pub, "bunsen_assignments_total{reason=\"hashed\"} 1"));
    free(pub);
    char *s = scrape(d.port, sdk, &st);
    assert_int_equal(st, 200);
    assert_null(strstr(s, "secret-launch"));
    free(s);
    char *v = scrape(d.port, viewer, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(v, "experiment=\"secret-launch\""));
    free(v);
    /* a bad key is refused, not treated as anonymous */
    free(scrape(d.port, "bsn_not_a_key", &st));
    assert_int_equal(st, 401);
    assert_int_equal(daemon_stop(&d), 0);
    /* --metrics-auth key: a reader key is required */
    const char *const args[] = {"--metrics-auth", "key", NULL};
    assert_int_equal(daemon_restart(&d, args), 0);
    free(scrape(d.port, NULL, &st));
    assert_int_equal(st, 401);
    struct resp r;
    char challenge[64] = "";
    assert_int_equal(http_req(d.port, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_true(resp_header(&r, "WWW-Authenticate", challenge, sizeof(challenge)));
    assert_string_equal(challenge, "Bearer realm=\"bunsen\"");
    resp_free(&r);
    free(scrape(d.port, sdk, &st));
    assert_int_equal(st, 403);
    v = scrape(d.port, viewer, &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(v, "process_open_fds"));
    free(v);
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

/* The per-experiment assignment counters are found by key at every reload (prom.c's index,
 * which grows past 32 experiments): each experiment keeps its own series, across reloads and
 * across the index's growth, and no series is doubled. */
static void test_metrics_per_experiment(void **state)
{
    (void)state;
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    enum { NEXP = 70 };
    int st = 0;
    for (int i = 0; i < NEXP; i++) {
        json_decref(http_json(d.port, "POST", "/api/v1/experiments", d.admin_key,
                              fmt("{\"key\":\"pe-%02d\",\"variants\":[{\"key\":\"a\"},{"
                                  "\"key\":\"b\"}]}",
                                  i),
                              &st));
        assert_int_equal(st, 201);
        json_decref(http_json(d.port, "POST", fmt("/api/v1/experiments/pe-%02d/start", i),
                              d.admin_key, NULL, &st));
        assert_int_equal(st, 200);
        /* experiment i is decided i % 5 + 1 times before all of them exist, once after */
        for (int k = 0; k <= i % 5; k++) {
            json_decref(http_json(d.port, "POST", "/api/v1/assign", d.admin_key,
                                  fmt("{\"user_id\":\"u%d\",\"experiments\":[\"pe-%02d\"]}", k, i),
                                  &st));
            assert_int_equal(st, 200);
        }
    }
    json_decref(
        http_json(d.port, "POST", "/api/v1/assign", d.admin_key, "{\"user_id\":\"z\"}", &st));
    assert_int_equal(st, 200);
    char *m = scrape(d.port, d.admin_key, &st);
    assert_int_equal(st, 200);
    for (int i = 0; i < NEXP; i++) {
        char prefix[120];
        snprintf(prefix, sizeof(prefix), "bunsen_assignments_total{experiment=\"pe-%02d\",", i);
        double total = 0;
        int lines = 0;
        for (const char *p = strstr(m, prefix); p != NULL; p = strstr(p + 1, prefix)) {
            const char *reason = p + strlen(prefix);
            total += atof(strchr(reason, ' ') + 1);
            lines++;
            if (strncmp(reason, "reason=\"hashed\"}", 16) != 0 &&
                strncmp(reason, "reason=\"coverage\"}", 18) != 0) {
                fail_msg("pe-%02d: %.*s", i, (int)strcspn(p, "\n"), p);
            }
        }
        if (total != i % 5 + 2 || lines < 1 || lines > 2) {
            fail_msg("pe-%02d: %g decisions in %d series, want %d", i, total, lines, i % 5 + 2);
        }
    }
    free(m);
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_under_load),
        cmocka_unit_test(test_backup_onto_database_files),
        cmocka_unit_test(test_sighup),
        cmocka_unit_test(test_cli_revoke_audit),
        cmocka_unit_test(test_signals_blocked_in_every_thread),
        cmocka_unit_test(test_cli_never_migrates),
        cmocka_unit_test(test_database_scheme_usage),
        cmocka_unit_test(test_db_file_lost),
        cmocka_unit_test(test_revoked_key_in_outage),
        cmocka_unit_test(test_revoked_sdk_key_in_cache),
        cmocka_unit_test(test_db_path_not_in_replies),
        cmocka_unit_test(test_one_daemon_per_file),
        cmocka_unit_test(test_secret_only_in_key_file),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_metrics_per_experiment),
    };
    return cmocka_run_group_tests_name("api_ops", tests, NULL, NULL);
}
