/*
 * The PostgreSQL adapter's connections against what the server does to them (docs/SCALING.md
 * "Several daemons", docs/RELIABILITY.md): read connections terminated while the server
 * refuses new ones, a statement the server cancels (statement_timeout), a multi-host URL
 * whose last host says why it refused, notices the server sends outside a statement, the
 * pool's broken connections in /metrics, migrations under an operator's
 * statement_timeout, the sessions' application_name and the warning of `bunsen migrate` about
 * the sessions without one, the writer's session ended right after its COMMIT (committed:
 * 2xx), a database outage in the log (its reason, lines per 10 s) and the 503s (one wording).
 * Each daemon runs on a database of its
 * own on the shared test cluster of tests/pg/api.sh, whose settings (ALLOW_CONNECTIONS,
 * statement_timeout) the tests change. Skipped on SQLite.
 */
#include "harness.h"
#include "pgcluster.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct daemon D;

static int teardown(void **state)
{
    (void)state;
    daemon_cleanup(&D);
    memset(&D, 0, sizeof(D));
    return 0;
}

/* The name of d's database (the last path element of its URL, before any query). */
static const char *db_name(const struct daemon *d)
{
    static char name[128];
    const char *slash = strrchr(d->db_url, '/');
    assert_non_null(slash);
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(slash + 1, "?"), slash + 1);
    return name;
}

/* sql on the test server's maintenance database (as the superuser of the test cluster):
 * the integer of the first column of the first row, or 0 when the statement returns none.
 * Fails the test on an error. */
static long long admin_int(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("BUNSEN_TEST_DATABASE"));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    long long v = st == PGRES_TUPLES_OK && PQntuples(r) > 0 ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    PQfinish(c);
    return v;
}

/* The daemon's sessions on its database (the test's own excluded). */
static long long backends_of(const struct daemon *d)
{
    return admin_int(fmt("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND "
                         "backend_type = 'client backend' AND pid <> pg_backend_pid()",
                         db_name(d)));
}

/* stderr.log (the daemon's stderr, harness.c) as a malloc'd string. */
static char *read_stderr(const struct daemon *d)
{
    FILE *f = fopen(fmt("%s/stderr.log", d->dir), "r");
    assert_non_null(f);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    n = fread(buf, 1, cap, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

struct warm {
    int port;
    const char *key;
};

static void *warm_reads(void *arg)
{
    const struct warm *w = arg;
    for (int i = 0; i < 40; i++) {
        struct resp r;
        http_req(w->port, "GET", "/api/v1/experiments/pc/results", w->key, NULL, &r);
        resp_free(&r);
    }
    return NULL;
}

struct held_read {
    int port;
    const char *key;
    int status; /* of one results read */
};

static void *held_read_main(void *arg)
{
    struct held_read *h = arg;
    struct resp r;
    h->status = http_req(h->port, "GET", "/api/v1/experiments/pc/results", h->key, NULL, &r) == 0
                    ? r.status
                    : -1;
    if (h->status != -1) {
        resp_free(&r);
    }
    return NULL;
}

/* Reads go on while the connections the pool used most recently were terminated and the
 * server refuses new ones (ALTER DATABASE ... ALLOW_CONNECTIONS false stands for
 * max_connections reached or a pg_hba change), as long as one pooled connection works. The
 * connection that could not be reopened was put back on top of the idle stack and taken
 * by every read: 10 of 10 answered 503 (and /readyz 200) with a working one idle below. */
static void test_reads_skip_dead_pooled_connections(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    const char *const threads[] = {"--threads", "8", NULL};
    assert_int_equal(daemon_start_db(&D, "fresh", threads), 0);
    harness_started_experiment(D.port, D.admin_key, "pc",
                               "{\"key\":\"pc\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}");
    const char *db = db_name(&D);
    /* the daemon's readers: not the writer (it holds its roll-up slot's session lock), not
     * the listener; the one kept is the least recently used (the bottom of the stack) */
    char readers[1024]; /* fmt's buffers are reused: a copy kept over the loops below */
    snprintf(readers, sizeof(readers),
             "SELECT a.pid, a.state_change FROM pg_stat_activity a WHERE a.datname = '%s' "
             "AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() "
             "AND a.query NOT LIKE 'LISTEN%%' AND a.query NOT LIKE 'ANALYZE%%' "
             "AND a.query NOT LIKE '%%unnest%%' AND a.query NOT LIKE '%%pg_locks%%' "
             "AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid "
             "AND l.locktype = 'advisory' AND l.classid = 1112887379)",
             db);
    /* Two readers for certain: the results read waits on a table lock this session holds
     * until two of the daemon's sessions wait on it (the two offload threads, each with a
     * pooled connection of its own). Warming by load alone opened only one on a slow
     * machine (CI under ASan). */
    PGconn *locker = PQconnectdb(D.db_url);
    assert_int_equal(PQstatus(locker), CONNECTION_OK);
    PGresult *lr = PQexec(locker, "BEGIN; LOCK TABLE exposure_stats IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(lr), PGRES_COMMAND_OK);
    PQclear(lr);
    pthread_t t[8];
    struct warm w = {D.port, D.admin_key};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, warm_reads, &w), 0);
    }
    long long waiting = 0;
    for (int i = 0; i < 3000 && waiting < 2; i++) { /* a hang detector: 60 s */
        waiting = admin_int(fmt("SELECT count(*) FROM pg_stat_activity WHERE pid IN (SELECT pid "
                                "FROM (%s) r) AND wait_event_type = 'Lock'",
                                readers));
        if (waiting < 2) {
            sleep_ms(20);
        }
    }
    lr = PQexec(locker, "COMMIT");
    PQclear(lr);
    PQfinish(locker);
    fprintf(stderr, "# %lld pooled readers waited on the lock\n", waiting);
    assert_true(waiting >= 2);
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
    }
    long long nreaders = admin_int(fmt("SELECT count(*) FROM (%s) r", readers));
    fprintf(stderr, "# %lld pooled readers after warming\n", nreaders);
    if (nreaders < 2) {
        admin_int(fmt("DO $$DECLARE r record; BEGIN FOR r IN SELECT pid, state, query FROM "
                      "pg_stat_activity WHERE datname = '%s' LOOP RAISE WARNING '%% %% %%', "
                      "r.pid, r.state, left(r.query, 60); END LOOP; END$$",
                      db));
    }
    assert_true(nreaders >= 2);
    admin_int(fmt("ALTER DATABASE %s ALLOW_CONNECTIONS false", db));
    long long killed = admin_int(
        fmt("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s' "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND pid NOT IN "
            "(SELECT pid FROM (%s) r ORDER BY state_change LIMIT 1)",
            db, readers));
    for (int i = 0; i < 100 && backends_of(&D) > 1; i++) {
        sleep_ms(20);
    }
    assert_int_equal(backends_of(&D), 1);
    int ok = 0;
    char codes[128] = "";
    for (int i = 0; i < 10; i++) {
        struct resp r;
        int st =
            http_req(D.port, "GET", "/api/v1/experiments/pc/results", D.admin_key, NULL, &r) == 0
                ? r.status
                : -1;
        resp_free(&r);
        ok += st == 200;
        snprintf(codes + strlen(codes), sizeof(codes) - strlen(codes), " %d", st);
    }
    fprintf(stderr, "# %lld sessions terminated; 10 reads with one pooled reader left:%s\n", killed,
            codes);
    /* The one working session in use by another read (the daemon's own background reads take
     * it for a few milliseconds: the key check, the catalogue poll): a read waits for it to
     * come back instead of answering 503 at once (s34's run C: 200 503 200 ...). Here a
     * results read holds it, waiting on a table lock, while a second read comes in. */
    long long kept = admin_int(fmt(
        "SELECT pid, left(query, 90), backend_start FROM pg_stat_activity WHERE datname = '%s' AND "
        "backend_type = 'client backend' AND pid <> pg_backend_pid()",
        db));
    admin_int(fmt("ALTER DATABASE %s ALLOW_CONNECTIONS true", db));
    PGconn *lk = PQconnectdb(D.db_url);
    admin_int(fmt("ALTER DATABASE %s ALLOW_CONNECTIONS false", db));
    assert_int_equal(PQstatus(lk), CONNECTION_OK);
    /* a session the daemon opened in the moment connections were allowed: ended */
    admin_int(fmt("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
                  "'%s' AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND pid "
                  "NOT IN (%lld, %d)",
                  db, kept, PQbackendPID(lk)));
    lr = PQexec(lk, "BEGIN; LOCK TABLE exposure_stats IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(lr), PGRES_COMMAND_OK);
    PQclear(lr);
    struct held_read a = {D.port, D.admin_key, 0}, b = {D.port, D.admin_key, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, held_read_main, &a), 0);
    waiting = 0;
    for (int i = 0; i < 3000 && waiting < 1; i++) { /* a hang detector: 60 s */
        waiting = admin_int(fmt("SELECT count(*) FROM pg_stat_activity WHERE pid = %lld AND "
                                "wait_event_type = 'Lock'",
                                kept));
        if (waiting < 1) {
            sleep_ms(20);
        }
    }
    assert_int_equal(waiting, 1);
    assert_int_equal(pthread_create(&tb, NULL, held_read_main, &b), 0);
    sleep_ms(300); /* b finds no working session idle and cannot open one */
    lr = PQexec(lk, "COMMIT");
    PQclear(lr);
    PQfinish(lk);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    fprintf(stderr, "# the read holding the one session: %d; the read beside it: %d\n", a.status,
            b.status);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 200);
    admin_int(fmt("ALTER DATABASE %s ALLOW_CONNECTIONS true", db));
    /* Every read succeeds: s23's pool answered 503 to every read while a working connection
     * sat idle, and a read that took a session whose end the client had not read yet (it
     * passed the idle check) answered 503 once (2 of ~20 runs: 200 503 200 ...) before it
     * tried the next idle connection. */
    assert_int_equal(ok, 10);
}

#define POOL(state) "bunsen_pg_pool_connections{state=\"" state "\"}"

/* The value of series in the /metrics text body (-1 when absent). */
static double series_in(const char *body, const char *series)
{
    size_t len = strlen(series);
    for (const char *at = body; at != NULL && *at != '\0'; at = strchr(at, '\n')) {
        at += *at == '\n' ? 1 : 0;
        if (strncmp(at, series, len) == 0 && at[len] == ' ') {
            return strtod(at + len + 1, NULL);
        }
    }
    return -1;
}

/* The pool's idle and broken counts of one scrape: two scrapes apart (each reads through the
 * pool itself) saw idle 1, then broken 2, and the test failed in a CI run. */
static void pool_scrape(double *idle, double *broken)
{
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    *idle = series_in(r.body, POOL("idle"));
    *broken = series_in(r.body, POOL("broken"));
    resp_free(&r);
}

/* bunsen_pg_pool_connections{state="broken"}: the pool's idle connections whose session the
 * server ended count at the next scrape, before a read finds them (it showed only open and
 * idle: a pool of dead sessions looked like a healthy one). The server refuses new
 * connections meanwhile (ALLOW_CONNECTIONS false), so that the scrape's own read (the
 * rebuild list) cannot reopen one; once it accepts them again, a read reopens one and the
 * count goes down. */
static void test_pool_broken_metric(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    assert_int_equal(daemon_start_db(&D, "fresh", NULL), 0);
    harness_started_experiment(D.port, D.admin_key, "pb",
                               "{\"key\":\"pb\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}");
    assert_int_equal(
        http_status(D.port, "GET", "/api/v1/experiments/pb/results", D.admin_key, NULL), 200);
    double idle = 0, broken = -1;
    /* a connection still held by the read's offload thread is not idle yet (a hang detector) */
    for (double t0 = harness_clock_s(); harness_clock_s() - t0 < HARNESS_HANG_S; sleep_ms(20)) {
        pool_scrape(&idle, &broken);
        if (idle >= 1) {
            break;
        }
    }
    fprintf(stderr, "# before: open %g, idle %g, broken %g\n",
            harness_metric_value(D.port, NULL, POOL("open")), idle, broken);
    assert_true(idle >= 1);
    assert_true(broken == 0);
    const char *db = db_name(&D);
    admin_int(fmt("ALTER DATABASE %s ALLOW_CONNECTIONS false", db));
    admin_int(fmt("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                  "datname = '%s' AND pid <> pg_backend_pid()",
                  db));
    /* each backend sends its FATAL and closes its socket as it exits: HARNESS_HANG_S is a
     * hang detector */
    for (double t0 = harness_clock_s(); harness_clock_s() - t0 < HARNESS_HANG_S; sleep_ms(20)) {
        pool_scrape(&idle, &broken);
        if (broken >= 1 && broken >= idle && backends_of(&D) == 0) {
            break;
        }
    }
    fprintf(stderr, "# sessions terminated: idle %g, broken %g\n", idle, broken);
    admin_int(fmt("ALTER DATABASE %s ALLOW_CONNECTIONS true", db));
    assert_true(broken >= 1);
    assert_true(broken == idle);
    /* reads reopen the broken connections they take (which one a read takes, and whether a
     * scrape's own read took one first, varies: CI saw "broken 1" after one read) */
    double after = broken;
    for (double t0 = harness_clock_s(); harness_clock_s() - t0 < HARNESS_HANG_S && after >= broken;
         sleep_ms(20)) {
        assert_int_equal(
            http_status(D.port, "GET", "/api/v1/experiments/pb/results", D.admin_key, NULL), 200);
        double idle_now;
        pool_scrape(&idle_now, &after);
    }
    fprintf(stderr, "# after reads: broken %g\n", after);
    assert_true(after >= 0 && after < broken);
}

/* What the server says outside a statement (here the FATAL of pg_terminate_backend, read by
 * the listener and the pool's idle connections; a restart's "terminating connection due to
 * immediate shutdown command" alike) is a line of the JSON log: libpq's default printed it
 * on stderr as plain text. */
static void test_notices_in_json_log(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    assert_int_equal(daemon_start_db(&D, "fresh", NULL), 0);
    harness_started_experiment(D.port, D.admin_key, "pn",
                               "{\"key\":\"pn\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}");
    admin_int(fmt("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                  "datname = '%s' AND pid <> pg_backend_pid()",
                  db_name(&D)));
    /* the listener reads its FATAL at once: wait for its line, JSON or not (checked below);
     * HARNESS_HANG_S is a hang detector */
    for (double t0 = harness_clock_s(); harness_clock_s() - t0 < HARNESS_HANG_S; sleep_ms(20)) {
        char *seen = read_stderr(&D);
        bool said = strstr(seen, "terminating connection") != NULL;
        free(seen);
        if (said) {
            break;
        }
    }
    struct resp r;
    assert_int_equal(
        http_req(D.port, "GET", "/api/v1/experiments/pn/results", D.admin_key, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    char *log = read_stderr(&D);
    fprintf(stderr, "# daemon stderr:\n%s", log);
    int plain = 0, notice = 0;
    for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        plain += line[0] != '{';
        notice += line[0] == '{' && strstr(line, "PostgreSQL notice") != NULL &&
                  strstr(line, "terminating connection") != NULL;
    }
    free(log);
    assert_int_equal(plain, 0);
    assert_true(notice >= 1);
}

/* The transaction of a connection (a PGconn *) rolled back after 500 ms. */
static void *rollback_later(void *arg)
{
    sleep_ms(500);
    PQclear(PQexec(arg, "ROLLBACK"));
    return NULL;
}

/* A statement the server cancels (SQLSTATE 57014: the database's statement_timeout, shorter
 * than a write waiting on a lock needs) answers 503 with Retry-After, nothing stored: it
 * answered 500 "internal", which clients take for a fault of the request. */
static void test_statement_timeout_is_unavailable(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    char sdk[128];
    assert_int_equal(harness_start_with_key(&D, NULL, sdk, sizeof(sdk)), 0);
    assert_int_equal(daemon_stop(&D), 0);
    admin_int(fmt("ALTER DATABASE %s SET statement_timeout = '100ms'", db_name(&D)));
    assert_int_equal(daemon_restart(&D, NULL), 0);
    PGconn *c = PQconnectdb(D.db_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, "SET statement_timeout = 0"));
    PGresult *lk = PQexec(c, "BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(lk), PGRES_COMMAND_OK);
    PQclear(lk);
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", "/api/v1/events", sdk,
                              "{\"events\":[{\"id\":\"st1\",\"user_id\":\"u1\",\"event\":\"ev\"}]}",
                              &r),
                     0);
    int st = r.status;
    char retry[32] = "";
    bool has_retry = resp_header(&r, "Retry-After", retry, sizeof(retry));
    json_t *body = resp_json(&r);
    const char *msg =
        body ? json_string_value(json_object_get(json_object_get(body, "error"), "message")) : NULL;
    fprintf(stderr,
            "# events behind a lock under statement_timeout 100ms: %d %s (Retry-After %s)\n", st,
            msg ? msg : "", has_retry ? retry : "none");
    assert_int_equal(st, 503);
    assert_true(has_retry);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "statement_timeout"));
    json_decref(body);
    resp_free(&r);
    PQclear(PQexec(c, "ROLLBACK"));
    assert_int_equal(daemon_db_int(&D, "SELECT COUNT(*) FROM events WHERE id = 'st1'", 0), 0);

    /* The operator resets the setting: the next write behind a lock of 500 ms waits for it
     * (200). The daemon's sessions kept the 100 ms they were opened with, so writes kept
     * failing until something ended them (review chaos36 F2): a statement timeout now ends
     * the session, and the next transaction opens one with the settings of now. */
    admin_int(fmt("ALTER DATABASE %s RESET statement_timeout", db_name(&D)));
    lk = PQexec(c, "BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(lk), PGRES_COMMAND_OK);
    PQclear(lk);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, rollback_later, c), 0);
    double t0 = harness_clock_s();
    assert_int_equal(http_req(D.port, "POST", "/api/v1/events", sdk,
                              "{\"events\":[{\"id\":\"st2\",\"user_id\":\"u1\",\"event\":\"ev\"}]}",
                              &r),
                     0);
    st = r.status;
    resp_free(&r);
    pthread_join(t, NULL);
    fprintf(stderr, "# after the RESET, events behind a lock of 500 ms: %d in %.2f s\n", st,
            harness_clock_s() - t0);
    assert_int_equal(st, 200);
    PQfinish(c);
    assert_int_equal(daemon_db_int(&D, "SELECT COUNT(*) FROM events WHERE id = 'st2'", 0), 1);
}

static int lines_with_msg(const char *log, const char *msg);

/* src/store/pg/pg_int.h's: the server's lock table, and the advisory-lock class of the
 * writers' roll-up slots */
#define PG_TEST_LOCK_TABLE                                                                         \
    "current_setting('max_locks_per_transaction')::bigint * "                                      \
    "(current_setting('max_connections')::bigint + "                                               \
    "current_setting('max_prepared_transactions')::bigint)"
#define PG_TEST_LOCK_SLOT "1112887379"

/* sql on d's database as the daemon's user; fails the test on an error. */
static void db_exec(const struct daemon *d, const char *sql)
{
    PGconn *c = PQconnectdb(d->db_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
    PQfinish(c);
}

/* A request's status, its error message (copied into msg, "" when none) and whether it had
 * Retry-After. */
static int req_status(const char *method, const char *path, const char *key, const char *body,
                      char *msg, size_t n, bool *has_retry)
{
    struct resp r;
    assert_int_equal(http_req(D.port, method, path, key, body, &r), 0);
    char retry[32];
    if (has_retry != NULL) {
        *has_retry = resp_header(&r, "Retry-After", retry, sizeof(retry));
    }
    json_t *j = resp_json(&r);
    const char *m =
        j ? json_string_value(json_object_get(json_object_get(j, "error"), "message")) : NULL;
    snprintf(msg, n, "%s", m != NULL ? m : "");
    json_decref(j);
    int st = r.status;
    resp_free(&r);
    return st;
}

/* Writes failing "No space left on device" (SQLSTATE 53100, here raised by a trigger): the
 * client gets 503 with one wording, not the server's text (its file paths, "PANIC": review
 * chaos36 F4), the log has that text, and /readyz answers 503 until a write commits again
 * (F3: its one-row update fits in its page and committed on a full disk, so a load balancer
 * kept the daemon in rotation). */
static void test_disk_full_not_ready(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    char sdk[128];
    assert_int_equal(harness_start_with_key(&D, NULL, sdk, sizeof(sdk)), 0);
    char msg[512];
    bool retry = false;
    assert_int_equal(req_status("GET", "/readyz", NULL, NULL, msg, sizeof(msg), NULL), 200);
    db_exec(&D,
            "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE "
            "EXCEPTION 'could not extend file \"base/1/2\": No space left on device' USING "
            "ERRCODE = 'disk_full'; END$$; CREATE TRIGGER disk_full BEFORE INSERT ON events FOR "
            "EACH ROW EXECUTE FUNCTION disk_full()");
    const char *ev = "{\"events\":[{\"id\":\"df1\",\"user_id\":\"u1\",\"event\":\"ev\"}]}";
    int st = req_status("POST", "/api/v1/events", sdk, ev, msg, sizeof(msg), &retry);
    fprintf(stderr, "# events on a full disk: %d \"%s\" (Retry-After: %d)\n", st, msg, retry);
    assert_int_equal(st, 503);
    assert_true(retry);
    sleep_ms(150); /* past the reuse of the first probe's pass (health.c API_READY_REUSE_MS) */
    assert_null(strstr(msg, "base/1/2"));
    assert_string_equal(msg, "the database is out of disk space (the daemon's log has the reason)");
    st = req_status("GET", "/readyz", NULL, NULL, msg, sizeof(msg), NULL);
    fprintf(stderr, "# /readyz after it: %d \"%s\"\n", st, msg);
    assert_int_equal(st, 503);
    char *log = read_stderr(&D);
    bool logged = strstr(log, "base/1/2") != NULL && strstr(log, "53100") != NULL;
    free(log);
    assert_true(logged);
    db_exec(&D, "DROP TRIGGER disk_full ON events");
    assert_int_equal(req_status("GET", "/readyz", NULL, NULL, msg, sizeof(msg), NULL), 503);
    assert_int_equal(req_status("POST", "/api/v1/events", sdk, ev, msg, sizeof(msg), NULL), 200);
    assert_int_equal(req_status("GET", "/readyz", NULL, NULL, msg, sizeof(msg), NULL), 200);
    assert_int_equal(daemon_db_int(&D, "SELECT COUNT(*) FROM events WHERE id = 'df1'", 0), 1);
}

/* A privilege the operator took away (42501, here raised by a trigger as REVOKE INSERT ON
 * events makes the server do for a role that is not the table's owner): 503 with Retry-After
 * and one wording, the server's text in the log at most 10 times per 10 s. It answered 500
 * "internal" with the server's text, and each failure wrote an error line (~150 a second per
 * daemon: review chaos36 F7). */
static void test_privilege_revoked_is_unavailable(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    char sdk[128];
    assert_int_equal(harness_start_with_key(&D, NULL, sdk, sizeof(sdk)), 0);
    db_exec(&D, "CREATE FUNCTION no_grant() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE "
                "EXCEPTION 'permission denied for table events' USING ERRCODE = "
                "'insufficient_privilege'; END$$; CREATE TRIGGER no_grant BEFORE INSERT ON "
                "events FOR EACH ROW EXECUTE FUNCTION no_grant()");
    char msg[512];
    bool retry = false;
    for (int i = 0; i < 30; i++) {
        char ev[128];
        snprintf(ev, sizeof(ev),
                 "{\"events\":[{\"id\":\"pr%d\",\"user_id\":\"u%d\",\"event\":\"ev\"}]}", i, i);
        int st = req_status("POST", "/api/v1/events", sdk, ev, msg, sizeof(msg), &retry);
        if (i == 0) {
            fprintf(stderr, "# events without the grant: %d \"%s\" (Retry-After: %d)\n", st, msg,
                    retry);
        }
        assert_int_equal(st, 503);
        assert_true(retry);
        assert_string_equal(
            msg, "the database refused the daemon a privilege (the daemon's log has the reason)");
    }
    char *log = read_stderr(&D);
    int refused = lines_with_msg(log, "PostgreSQL refused a statement");
    int failed = lines_with_msg(log, "PostgreSQL statement failed");
    bool named = strstr(log, "permission denied for table events") != NULL;
    free(log);
    fprintf(stderr, "# log: %d \"refused a statement\", %d \"statement failed\" lines\n", refused,
            failed);
    assert_true(named);
    assert_true(refused >= 1 && refused <= 10);
    assert_int_equal(failed, 0);
    db_exec(&D, "DROP TRIGGER no_grant ON events");
    assert_int_equal(
        req_status("POST", "/api/v1/events", sdk,
                   "{\"events\":[{\"id\":\"pr0\",\"user_id\":\"u0\",\"event\":\"ev\"}]}", msg,
                   sizeof(msg), NULL),
        200);
}

/* The listener's session ended (it reconnects and reads the budget again at once), then the
 * daemon's user-lock budget awaited at want. */
static void budget_after_listener_reconnect(long long want)
{
    admin_int(fmt("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                  "datname = '%s' AND query LIKE 'LISTEN%%'",
                  db_name(&D)));
    long long got = -1;
    for (double t0 = harness_clock_s(); got != want && harness_clock_s() - t0 < HARNESS_HANG_S;
         sleep_ms(50)) {
        got = (long long)harness_metric_value(D.port, D.admin_key, "bunsen_pg_user_lock_budget");
    }
    assert_int_equal(got, want);
}

/* The warning of a small lock table comes when the budget falls below the lowest one warned
 * about, not each time it moves: while a writer session abandoned for a lock still held its
 * roll-up slot, the budget moved between two values and the listener, reconnecting every 5 s,
 * logged the warning every time (review chaos36 F6). Here other sessions hold roll-up slots
 * (as live writers do) while the listener reconnects. */
static void test_budget_warning_once(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    assert_int_equal(daemon_start_db(&D, "fresh", NULL), 0);
    long long table = admin_int("SELECT " PG_TEST_LOCK_TABLE);
    long long two = table / 4, three = table / 6; /* 2 writers at least; 3 */
    if (two >= 10000 || three < 64) {
        skip(); /* no warning at either budget, or the floor */
    }
    budget_after_listener_reconnect(two);
    PGconn *c = PQconnectdb(getenv("BUNSEN_TEST_DATABASE"));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    for (int round = 0; round < 2; round++) {
        PQclear(PQexec(c, "SELECT pg_advisory_lock(" PG_TEST_LOCK_SLOT
                          ", 61), pg_advisory_lock(" PG_TEST_LOCK_SLOT ", 62)"));
        budget_after_listener_reconnect(three);
        PQclear(PQexec(c, "SELECT pg_advisory_unlock_all()"));
        budget_after_listener_reconnect(two);
    }
    PQfinish(c);
    char *log = read_stderr(&D);
    int warned = 0;
    for (const char *p = log; (p = strstr(p, "lock table is small")) != NULL; p++) {
        warned++;
    }
    free(log);
    fprintf(stderr, "# budget %lld -> %lld -> %lld twice: %d warnings\n", two, three, two, warned);
    assert_int_equal(warned, 2); /* at start (two), then below it (three) */
}

/* The writer's groups run again with savepoints so far (bunsen_writer_group_reruns_total). */
static double group_reruns(void)
{
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    double v = series_in(r.body, "bunsen_writer_group_reruns_total");
    resp_free(&r);
    assert_true(v >= 0);
    return v;
}

/* A write behind a lock that outlasts --db-timeout waits for it once (review chaos36 F1). The
 * writer ran a group whose statement was not answered in time again with savepoints, on a new
 * session that waited for the same lock (or for the abandoned session's locks) as long: the
 * 503 came after about twice --db-timeout (61 s with the default 30, past a load balancer's
 * 60 s), a request queued behind it after four times. Now such a failure fails the group at
 * once; a job's own failure (a conflict) still reruns it (test_ingest, test_multi_daemon). */
static void test_lock_past_timeout_waits_once(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    char sdk[128];
    const char *const opts[] = {"--db-timeout", "1", NULL};
    assert_int_equal(harness_start_with_key(&D, opts, sdk, sizeof(sdk)), 0);
    double before = group_reruns();
    PGconn *c = PQconnectdb(D.db_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *lk = PQexec(c, "BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(lk), PGRES_COMMAND_OK);
    PQclear(lk);
    const char *body = "{\"events\":[{\"id\":\"lk1\",\"user_id\":\"u1\",\"event\":\"ev\"}]}";
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", "/api/v1/events", sdk, body, &r), 0);
    char retry[32] = "";
    bool has_retry = resp_header(&r, "Retry-After", retry, sizeof(retry));
    double after = group_reruns();
    fprintf(stderr,
            "# events behind a lock past --db-timeout 1: %d (Retry-After %s); groups rerun with "
            "savepoints meanwhile: %.0f\n",
            r.status, has_retry ? retry : "none", after - before);
    assert_int_equal(r.status, 503);
    assert_true(has_retry);
    resp_free(&r);
    assert_true(after == before);
    PQclear(PQexec(c, "ROLLBACK"));
    PQfinish(c);
    /* nothing stored, and the next write goes through */
    assert_int_equal(daemon_db_int(&D, "SELECT COUNT(*) FROM events WHERE id = 'lk1'", 0), 0);
    int st = 0;
    for (double t0 = harness_clock_s(); st != 200 && harness_clock_s() - t0 < HARNESS_HANG_S;) {
        assert_int_equal(http_req(D.port, "POST", "/api/v1/events", sdk, body, &r), 0);
        st = r.status;
        resp_free(&r);
        if (st != 200) {
            sleep_ms(100); /* the abandoned session may still hold the roll-up slot a moment */
        }
    }
    assert_int_equal(st, 200);
    assert_int_equal(daemon_db_int(&D, "SELECT COUNT(*) FROM events WHERE id = 'lk1'", 0), 1);
}

/* A URL of several hosts (the old primary first, the normal state after a failover) whose
 * last host refuses: `bunsen migrate` says that host's reason, and the log has every host's.
 * It kept the first 200 bytes: the first host's "Connection refused" and its hint, cut
 * before the reason. */
static void test_multi_host_reason(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    int port = pgc_port(getenv("BUNSEN_TEST_DATABASE"));
    assert_true(port > 0);
    const char *url = fmt("postgresql://postgres@127.0.0.1:1,127.0.0.1:%d/bunsen_no_such_db?"
                          "connect_timeout=2",
                          port);
    char *out = NULL;
    const char *const args[] = {"migrate", "--database", url, NULL};
    int rc = bunsen_run(&out, args);
    fprintf(stderr, "# bunsen migrate: exit %d: %s", rc, out != NULL ? out : "");
    assert_int_not_equal(rc, 0);
    assert_non_null(out);
    const char *said = strstr(out, "bunsen: cannot connect to PostgreSQL");
    assert_non_null(said);
    assert_non_null(strstr(said, "bunsen_no_such_db\" does not exist"));
    /* the log line has both hosts' reasons */
    const char *logged = strstr(out, "\"PostgreSQL connection failed\"");
    assert_non_null(logged);
    assert_non_null(strstr(logged, "Connection refused"));
    assert_non_null(strstr(logged, "does not exist"));
    free(out);
}

/* `bunsen migrate` on a database whose statement_timeout (the operator's, a common safety
 * setting) is shorter than the migrations: they apply all the same. They failed: "exec:
 * ERROR: canceling statement due to statement timeout", naming no migration. A migration
 * that fails is named. */
static void test_migrate_under_statement_timeout(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    assert_int_equal(daemon_prepare_db(&D, "fresh"), 0);
    admin_int(fmt("ALTER DATABASE %s SET statement_timeout = '5ms'", db_name(&D)));
    char *out = NULL;
    const char *const args[] = {"migrate", "--database", D.db_url, NULL};
    int rc = bunsen_run(&out, args);
    fprintf(stderr, "# bunsen migrate under statement_timeout 5ms: exit %d: %s", rc,
            out != NULL ? out : "");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "migrations applied: "));
    assert_null(strstr(out, "migrations applied: 0"));
    free(out);
    /* one migration undone (its record gone, a table of its dropped: it runs again) on a
     * read-only database: refused, and named */
    admin_int(fmt("ALTER DATABASE %s RESET statement_timeout", db_name(&D)));
    daemon_db_exec(&D,
                   "DELETE FROM schema_migrations WHERE version = "
                   "(SELECT MIN(version) FROM schema_migrations)",
                   0);
    admin_int(fmt("ALTER DATABASE %s SET default_transaction_read_only = on", db_name(&D)));
    out = NULL;
    rc = bunsen_run(&out, args);
    fprintf(stderr, "# bunsen migrate with one pending, read-only: exit %d: %s", rc,
            out != NULL ? out : "");
    admin_int(fmt("ALTER DATABASE %s RESET default_transaction_read_only", db_name(&D)));
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "migration 0001"));
    assert_non_null(strstr(out, "not applied"));
    free(out);
}

/* The daemon's sessions on its database: how many have application_name app (LIKE pattern). */
static long long sessions_named(const struct daemon *d, const char *pattern)
{
    return admin_int(fmt("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND "
                         "backend_type = 'client backend' AND application_name LIKE '%s'",
                         db_name(d), pattern));
}

/* Every session of a daemon names its build in pg_stat_activity (application_name
 * bunsen/<VERSION>/<revision>/schema<N>; it was empty, and an operator could not tell old
 * daemons from new ones), unless the URL names one of its own. `bunsen migrate` with
 * migrations pending logs a warning naming the other sessions on the database that do not
 * name themselves bunsen/...: a daemon built before 190a1bf (2026-12-06) goes on writing with
 * its old schema after the migration (rev-ops28 1). It warns and migrates all the same; with
 * nothing pending it says nothing. An old daemon's writer stands in: a session without an
 * application_name holding a roll-up slot (advisory lock); and a psql session. */
static void test_application_name_and_foreign_sessions(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    assert_int_equal(daemon_prepare_db(&D, "fresh"), 0);
    PGconn *old = PQconnectdb(D.db_url);
    assert_int_equal(PQstatus(old), CONNECTION_OK);
    PGresult *lk = PQexec(old, "SELECT pg_advisory_lock(1112887379, 63)"); /* pg_int.h slot */
    assert_int_equal(PQresultStatus(lk), PGRES_TUPLES_OK);
    PQclear(lk);
    const char *sep = strchr(D.db_url, '?') != NULL ? "&" : "?";
    PGconn *psql = PQconnectdb(fmt("%s%sapplication_name=psql", D.db_url, sep));
    assert_int_equal(PQstatus(psql), CONNECTION_OK);

    char *out = NULL;
    const char *const migrate[] = {"migrate", "--database", D.db_url, NULL};
    int rc = bunsen_run(&out, migrate);
    fprintf(stderr, "# bunsen migrate beside two foreign sessions: exit %d: %s", rc,
            out != NULL ? out : "");
    assert_int_equal(rc, 0);
    const char *warned = strstr(out, "other clients are connected to the database being migrated");
    assert_non_null(warned);
    const char *line_end = strchr(warned, '\n');
    assert_non_null(line_end);
    const char *need[] = {
        fmt("{\"pid\":%d,\"application_name\":\"\",\"client\":\"127.0.0.1\",\"rollup_slot\":true}",
            PQbackendPID(old)),
        fmt("{\"pid\":%d,\"application_name\":\"psql\",\"client\":\"127.0.0.1\",\"rollup_slot\":"
            "false}",
            PQbackendPID(psql)),
        "\"count\":2,"};
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        const char *at = strstr(warned, need[i]);
        if (at == NULL || at > line_end) {
            fail_msg("the warning lacks %s", need[i]);
        }
    }
    assert_non_null(strstr(out, "migrations applied: "));
    assert_null(strstr(out, "migrations applied: 0"));
    free(out);
    /* nothing pending: nothing said */
    assert_int_equal(bunsen_run(&out, migrate), 0);
    assert_null(strstr(out, "other clients are connected"));
    free(out);

    /* the daemon's sessions (its writer, listener, a reader) name the build */
    assert_int_equal(daemon_restart(&D, NULL), 0);
    harness_started_experiment(D.port, D.admin_key, "an",
                               "{\"key\":\"an\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}");
    struct resp r;
    assert_int_equal(
        http_req(D.port, "GET", "/api/v1/experiments/an/results", D.admin_key, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    const char *ours = fmt("bunsen/%%/%%/schema%d", harness_schema_newest());
    long long named = sessions_named(&D, ours);
    long long all = backends_of(&D);
    fprintf(stderr, "# sessions on the database: %lld, named %s: %lld\n", all, ours, named);
    assert_true(named >= 3);
    assert_int_equal(all, named + 2); /* the two foreign ones */
    char *log = read_stderr(&D);
    assert_null(strstr(log, "other clients are connected"));
    free(log);

    /* a URL's own application_name is kept */
    struct daemon mine;
    memset(&mine, 0, sizeof(mine));
    assert_int_equal(
        daemon_start_db(&mine, fmt("%s%sapplication_name=ops-mine", D.db_url, sep), NULL), 0);
    long long kept = sessions_named(&D, "ops-mine");
    daemon_cleanup(&mine);
    assert_true(kept >= 1);
    PQfinish(psql);
    PQfinish(old);
}

/* Requests of events with unique ids ("<prefix><t>-<i>-<j>"), sent by one thread until
 * *stop or cap of them, and each one's status. */
#define EAC_EVENTS 5
#define EAC_CAP    1000
struct eac {
    int port;
    const char *key;
    const char *prefix;
    int t;
    int cap;
    const _Atomic int *stop;
    int n;
    int status[EAC_CAP];
};

static void *eac_post(void *arg)
{
    struct eac *e = arg;
    for (e->n = 0; e->n < e->cap && !atomic_load(e->stop); e->n++) {
        char body[1024];
        size_t o = (size_t)snprintf(body, sizeof(body), "{\"events\":[");
        for (int j = 0; j < EAC_EVENTS; j++) {
            o += (size_t)snprintf(body + o, sizeof(body) - o,
                                  "%s{\"user_id\":\"eu%d-%d\",\"event\":\"buy\",\"value\":1,"
                                  "\"id\":\"%s%d-%d-%d\"}",
                                  j > 0 ? "," : "", e->t, e->n, e->prefix, e->t, e->n, j);
        }
        snprintf(body + o, sizeof(body) - o, "]}");
        e->status[e->n] = http_status(e->port, "POST", "/api/v1/events", e->key, body);
    }
    return NULL;
}

/* Each request's outcome against the events table: an acknowledged one (200) must be stored,
 * a refused one (503) absent. Prints the counts; fails the test otherwise. */
static void eac_check(const char *prefix, struct eac *e, int nthreads, int *ok_out)
{
    int ok = 0, refused = 0, other = 0, acked_lost = 0, refused_stored = 0;
    for (int t = 0; t < nthreads; t++) {
        for (int i = 0; i < e[t].n; i++) {
            long long rows = daemon_db_int(&D, "SELECT COUNT(*) FROM events WHERE id LIKE ?1", 1,
                                           fmt("%s%d-%d-%%", prefix, t, i));
            int st = e[t].status[i];
            ok += st == 200;
            refused += st == 503;
            other += st != 200 && st != 503;
            acked_lost += st == 200 && rows != EAC_EVENTS;
            refused_stored += st == 503 && rows != 0;
        }
    }
    fprintf(stderr, "# %s: 200 %d, 503 %d, other %d; acknowledged lost %d, refused but stored %d\n",
            prefix, ok, refused, other, acked_lost, refused_stored);
    assert_int_equal(acked_lost, 0);
    assert_int_equal(refused_stored, 0);
    assert_int_equal(other, 0);
    *ok_out = ok;
}

/* The writer's session ended right after its COMMIT (review pg29 F1): the server ran the
 * COMMIT and sent its CommandComplete, then acted on a pg_terminate_backend (its FATAL
 * instead of the Sync's ReadyForQuery). The group answered 503 although committed, and
 * clients sent again what was stored (events without an id counted twice): 52 such requests
 * of ~14,000 with a kill every 0.5 s. Now it answers 200 and the next transaction opens a new
 * session. The window is one round trip: a test hook (BUNSEN_TEST_PG_END_AFTER_COMMIT) has the
 * session end itself right after every COMMIT while its file exists, so that each group hits
 * it; then the black-box case, the writer's backend terminated from outside every 30 ms under
 * the same load (no request refused but stored, none acknowledged lost). */
static void test_session_ended_after_commit(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    char gate[128];
    snprintf(gate, sizeof(gate), "/tmp/bunsen-end-after-commit-%d", (int)getpid());
    unlink(gate);
    setenv("BUNSEN_TEST_PG_END_AFTER_COMMIT", gate, 1);
    int started = daemon_start_db(&D, "fresh", NULL);
    unsetenv("BUNSEN_TEST_PG_END_AFTER_COMMIT");
    assert_int_equal(started, 0);
    char sdk[128];
    harness_sdk_key(D.port, D.admin_key, sdk, sizeof(sdk));
    enum { NT = 4 };
    static struct eac e[NT];
    _Atomic int stop = 0;
    pthread_t th[NT];

    /* every COMMIT followed by the end of its session */
    FILE *g = fopen(gate, "w");
    assert_non_null(g);
    fclose(g);
    for (int t = 0; t < NT; t++) {
        e[t] = (struct eac){
            .port = D.port, .key = sdk, .prefix = "h", .t = t, .cap = 10, .stop = &stop};
        assert_int_equal(pthread_create(&th[t], NULL, eac_post, &e[t]), 0);
    }
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
    }
    /* a definition change: a group with savepoints, whose COMMIT is sent alone (not
     * pipelined), its answer followed by the FATAL: 201 (harness_metric), and it is there */
    harness_metric(D.port, D.admin_key, "{\"key\":\"hm\",\"event\":\"buy\",\"type\":\"count\"}");
    unlink(gate);
    assert_int_equal(http_status(D.port, "GET", "/api/v1/metrics/hm", D.admin_key, NULL), 200);
    int ok = 0;
    eac_check("h", e, NT, &ok);
    assert_int_equal(ok, NT * 10); /* committed: every one acknowledged */
    char *log = read_stderr(&D);
    int ended = harness_count(log, "PostgreSQL session ended right after a COMMIT");
    free(log);
    fprintf(stderr, "# sessions ended right after their COMMIT: %d\n", ended);
    assert_true(ended >= 2);
    assert_int_equal(
        http_status(D.port, "POST", "/api/v1/events", sdk,
                    "{\"events\":[{\"user_id\":\"x\",\"event\":\"buy\",\"id\":\"h-after\"}]}"),
        200);

    /* black box: the writer's backend (the session holding its roll-up slot's lock)
     * terminated from outside while it is busy */
    for (int t = 0; t < NT; t++) {
        e[t] = (struct eac){
            .port = D.port, .key = sdk, .prefix = "k", .t = t, .cap = EAC_CAP, .stop = &stop};
        assert_int_equal(pthread_create(&th[t], NULL, eac_post, &e[t]), 0);
    }
    long long killed = 0;
    for (int k = 0; k < 60; k++) {
        sleep_ms(30);
        killed += admin_int(fmt("SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity "
                                "a WHERE a.datname = '%s' AND EXISTS (SELECT 1 FROM pg_locks l "
                                "WHERE l.pid = a.pid AND l.locktype = 'advisory' AND "
                                "l.classid = 1112887379)",
                                db_name(&D)));
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
    }
    fprintf(stderr, "# writer sessions terminated: %lld\n", killed);
    eac_check("k", e, NT, &ok);
    assert_true(ok > 0);
}

/* The count of the log's lines whose message is msg. */
static int lines_with_msg(const char *log, const char *msg)
{
    int n = 0;
    const char *needle = fmt("\"msg\":\"%s\"", msg);
    for (const char *p = log; (p = strstr(p, needle)) != NULL; p++) {
        n++;
    }
    return n;
}

/* A database outage (its connections ended, new ones refused: ALLOW_CONNECTIONS false) seen
 * in the log and the replies (review journey35 F2, N2). The log's own lines of the failures
 * carry the latest connection failure as "reason" ("not currently accepting connections",
 * though the one "PostgreSQL connection failed" line written in 10 s may be the first
 * failure's): they said "(the daemon's log has the reason)". The once-a-second catalogue
 * reload and rebuild list write one line per 10 s, then one when they work again: they
 * wrote one each per second. A 503 says "no writable PostgreSQL reachable" whichever
 * statement found the database gone: a read said "query: database unavailable", a write
 * "exec: ...". The "started" line names the database (URL with its password masked, where
 * libpq connected); the password is nowhere in the log. */
static void test_outage_log_and_replies(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skip();
    }
    assert_int_equal(daemon_prepare_db(&D, "fresh"), 0);
    const char *at = strstr(D.db_url, "postgres@");
    assert_non_null(at); /* the test cluster's URL: postgresql://postgres@127.0.0.1:PORT/db */
    char url[sizeof(D.db_url)]; /* a password the test cluster does not ask for (trust) */
    snprintf(url, sizeof(url), "%.*spostgres:S3cretPW@%s", (int)(at - D.db_url), D.db_url,
             at + strlen("postgres@"));
    snprintf(D.db_url, sizeof(D.db_url), "%s", url);
    const char *const info[] = {"--log-level", "info", NULL}; /* the "started" line */
    assert_int_equal(daemon_restart(&D, info), 0);
    char sdk[128];
    harness_sdk_key(D.port, D.admin_key, sdk, sizeof(sdk));
    const char *db = db_name(&D);
    char dbname[128];
    snprintf(dbname, sizeof(dbname), "%s", db);
    admin_int(fmt("ALTER DATABASE %s ALLOW_CONNECTIONS false", dbname));
    admin_int(fmt("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                  "datname = '%s' AND pid <> pg_backend_pid()",
                  dbname));
    int n503 = 0, other = 0;
    char bad[256] = "";
    for (double t0 = harness_clock_s(); harness_clock_s() - t0 < 3.5; sleep_ms(100)) {
        const char *const paths[] = {"/api/v1/events", "/api/v1/experiments", "/api/v1/metrics"};
        const char *const bodies[] = {
            "{\"events\":[{\"id\":\"o1\",\"user_id\":\"u1\",\"event\":\"e\"}]}", NULL,
            "{\"key\":\"om\",\"type\":\"binomial\",\"event\":\"e\"}"};
        for (int i = 0; i < 3; i++) {
            struct resp r;
            assert_int_equal(http_req(D.port, bodies[i] ? "POST" : "GET", paths[i],
                                      i == 0 ? sdk : D.admin_key, bodies[i], &r),
                             0);
            json_t *body = resp_json(&r);
            const char *msg =
                body ? json_string_value(json_object_get(json_object_get(body, "error"), "message"))
                     : NULL;
            if (r.status == 503 && msg != NULL &&
                strcmp(msg, "no writable PostgreSQL reachable (the daemon's log has the "
                            "reason)") == 0) {
                n503++;
            } else if (r.status == 503) {
                other++;
                snprintf(bad, sizeof(bad), "%s %s", paths[i], msg ? msg : "(none)");
            }
            json_decref(body);
            resp_free(&r);
        }
    }
    admin_int(fmt("ALTER DATABASE %s ALLOW_CONNECTIONS true", dbname));
    char *log = NULL;
    for (double t0 = harness_clock_s(); harness_clock_s() - t0 < HARNESS_HANG_S; sleep_ms(50)) {
        free(log);
        log = read_stderr(&D);
        if (strstr(log, "\"experiment reload recovered\"") != NULL &&
            strstr(log, "\"rebuild: list recovered\"") != NULL) {
            break;
        }
    }
    fprintf(stderr, "# %d 503s with the one wording, %d others (%s); daemon stderr:\n%s", n503,
            other, bad, log);
    assert_true(n503 >= 10);
    assert_int_equal(other, 0);
    assert_null(strstr(log, "S3cretPW"));
    assert_null(strstr(log, "daemon's log has the reason"));
    /* one line per 10 s while it lasts (3.5 s), then the end */
    assert_int_equal(lines_with_msg(log, "experiment reload failed"), 1);
    assert_true(lines_with_msg(log, "rebuild: cannot list") <= 1);
    assert_int_equal(lines_with_msg(log, "experiment reload recovered"), 1);
    assert_int_equal(lines_with_msg(log, "rebuild: list recovered"), 1);
    const char *rec = strstr(log, "\"experiment reload recovered\"");
    assert_non_null(strstr(rec, "\"failures\":"));
    /* the reason, the latest failure: the outage's, not "(the daemon's log has ...)" */
    const char *reload = strstr(log, "\"msg\":\"experiment reload failed\"");
    const char *eol = strchr(reload, '\n');
    char line[2048];
    snprintf(line, sizeof(line), "%.*s", (int)(eol ? eol - reload : (long)strlen(reload)), reload);
    assert_non_null(strstr(line, "\"error\":\"no writable PostgreSQL reachable\""));
    assert_non_null(strstr(line, "\"reason\":\""));
    assert_true(strstr(line, "not currently accepting connections") != NULL ||
                strstr(line, "terminating connection") != NULL);
    const char *commit = strstr(log, "\"msg\":\"group commit failed\"");
    assert_non_null(commit);
    assert_non_null(strstr(commit, "not currently accepting connections"));
    /* which database: the URL without its password, and where libpq connected */
    const char *started = strstr(log, "\"msg\":\"started\"");
    assert_non_null(started);
    assert_non_null(strstr(started, "\"backend\":\"postgres\""));
    assert_non_null(strstr(started, "postgres:***@127.0.0.1"));
    assert_non_null(strstr(started, fmt("\"dbname\":\"%s\"", dbname)));
    assert_non_null(strstr(started, "\"user\":\"postgres\""));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reads_skip_dead_pooled_connections, teardown),
        cmocka_unit_test_teardown(test_notices_in_json_log, teardown),
        cmocka_unit_test_teardown(test_pool_broken_metric, teardown),
        cmocka_unit_test_teardown(test_statement_timeout_is_unavailable, teardown),
        cmocka_unit_test_teardown(test_lock_past_timeout_waits_once, teardown),
        cmocka_unit_test_teardown(test_disk_full_not_ready, teardown),
        cmocka_unit_test_teardown(test_privilege_revoked_is_unavailable, teardown),
        cmocka_unit_test_teardown(test_budget_warning_once, teardown),
        cmocka_unit_test_teardown(test_multi_host_reason, teardown),
        cmocka_unit_test_teardown(test_migrate_under_statement_timeout, teardown),
        cmocka_unit_test_teardown(test_application_name_and_foreign_sessions, teardown),
        cmocka_unit_test_teardown(test_session_ended_after_commit, teardown),
        cmocka_unit_test_teardown(test_outage_log_and_replies, teardown),
    };
    if (getenv("TEST_FILTER") != NULL) { /* one test by name (a pattern with * and ?) */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    }
    return cmocka_run_group_tests_name("api_pg_conn", tests, NULL, NULL);
}
