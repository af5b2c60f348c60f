/* A PostgreSQL server that is up but does not answer (its processes SIGSTOPped: a stuck disk,
 * a paused VM), or a daemon frozen in the middle of a transaction, must not hold up what needs
 * no answer from it (docs/SCALING.md, docs/RELIABILITY.md): /assign without logging, the SDK
 * payloads, /healthz and /metrics answer from memory; another daemon's /readyz does not wait
 * for the frozen one; a SIGTERM drain answers what is pending and ends. The tests that stop
 * the server run a cluster of their own (pgcluster.h). Skipped on SQLite (tests/pg/api.sh
 * runs it on PostgreSQL).
 *
 * No bound here is in milliseconds (docs/TESTING.md): what must not wait for the server is
 * checked by answering while the server is still stopped, with --db-timeout longer than the
 * harness's receive timeout (20 s: a hang detector), so that a request that did wait for the
 * server gets no reply at all; times are printed, never asserted. */
#include "harness.h"
#include "pgcluster.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NKEYS 4
#define NMANY 48 /* keys used once each before the outage (RELIABILITY.md AV) */

static const char *const ASSIGN =
    "{\"user_id\":\"u1\",\"experiments\":[\"hk\"],\"log_exposure\":false}";

static char *new_key(const struct daemon *d, const char *name, char id[40])
{
    char key[128];
    harness_sdk_key_named(d->port, d->admin_key, name, key, sizeof(key), id, 40);
    return strdup(key);
}

/* The first column of the first row of sql on c, as an integer (fails the test on error). */
static int pg_int(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    }
    int v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void new_running_experiment(const struct daemon *d, const char *key)
{
    harness_started_experiment(
        d->port, d->admin_key, key,
        fmt("{\"key\":\"%s\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}", key));
}

/* Keys verified before the database stopped answering authenticate from the key cache at
 * once, past its second of freshness: /assign without logging with keys last used more than
 * a second ago, the SDK payload, /healthz and /metrics answer while the server's processes
 * are stopped (--db-timeout 60: a request that waited for the server would get no reply
 * within the harness's receive timeout, 20 s). Each such /assign once waited for its key's lookup
 * up to
 * --db-timeout (then 10 s and 4 s more as the pool reconnected), on every MHD thread, so that
 * /healthz waited as long. Revocation still takes effect within about a second once the
 * database answers again. */
static void test_keys_from_memory(void **state_)
{
    (void)state_;
    if (!harness_on_postgres()) {
        skip();
    }
    char dir[128] = "/tmp/bunsen-hk-XXXXXX", url[300];
    pgc_start(dir, "hungkeys", url, sizeof(url));
    struct daemon d;
    const char *extra[] = {"--db-timeout", "60", "--threads", "2", NULL};
    assert_int_equal(daemon_start_db(&d, url, extra), 0);
    char *keys[NKEYS], ids[NKEYS][40];
    for (int i = 0; i < NKEYS; i++) {
        keys[i] = new_key(&d, fmt("k%d", i), ids[i]);
    }
    new_running_experiment(&d, "hk");
    for (int i = 0; i < NKEYS; i++) {
        json_decref(harness_call(d.port, "POST", "/api/v1/assign", keys[i], ASSIGN, 200));
    }
    json_decref(harness_call(d.port, "GET", fmt("/api/features/%s", keys[0]), NULL, NULL, 200));
    /* many keys in use: each keeps its own cache entry (two keys once took one slot from each
     * other, and the one that lost it answered 503 in the outage: RELIABILITY.md AV) */
    char *many[NMANY], many_ids[NMANY][40];
    for (int i = 0; i < NMANY; i++) {
        many[i] = new_key(&d, fmt("m%d", i), many_ids[i]);
        json_decref(harness_call(d.port, "POST", "/api/v1/assign", many[i], ASSIGN, 200));
    }

    pgc_signal(fmt("%s/p", dir), "STOP");
    /* at once: the SDK payload confirms its key with the database, which no longer answers
     * (nothing waited for it yet): the refresher's 200 ms at most, then the entry */
    char features[128];
    snprintf(features, sizeof(features), "/api/features/%s", keys[0]);
    struct harness_timed onset = {.port = d.port, .method = "GET", .path = features};
    harness_timed_call(&onset);
    /* past the key cache's second (a minimum, not a bound: longer is as good); the key check
     * cannot confirm them now */
    sleep_ms(1500);
    /* every key at once, more than the daemon's threads, then the routes that need no key */
    struct harness_timed first[NKEYS + 3];
    for (int i = 0; i < NKEYS; i++) {
        first[i] = (struct harness_timed){.port = d.port,
                                          .method = "POST",
                                          .path = "/api/v1/assign",
                                          .key = keys[i],
                                          .body = ASSIGN};
    }
    first[NKEYS] = (struct harness_timed){.port = d.port, .method = "GET", .path = features};
    first[NKEYS + 1] = (struct harness_timed){.port = d.port, .method = "GET", .path = "/healthz"};
    first[NKEYS + 2] = (struct harness_timed){
        .port = d.port, .method = "GET", .path = "/metrics", .key = d.admin_key};
    for (int i = 0; i < NKEYS + 3; i++) {
        harness_timed_start(&first[i]);
        if (i == NKEYS - 1) {
            /* the keyless routes behind the /assign requests (sent sooner, they check less,
             * and still pass) */
            sleep_ms(100);
        }
    }
    for (int i = 0; i < NKEYS + 3; i++) {
        harness_timed_join(&first[i]);
    }
    /* every one of the many keys, one after another */
    int many_status[NMANY];
    for (int i = 0; i < NMANY; i++) {
        struct harness_timed t = {.port = d.port,
                                  .method = "POST",
                                  .path = "/api/v1/assign",
                                  .key = many[i],
                                  .body = ASSIGN};
        harness_timed_call(&t);
        many_status[i] = t.status;
    }
    /* and again a second later (a minimum), the lookup under way still waiting for the server */
    sleep_ms(1000);
    struct harness_timed again = {
        .port = d.port, .method = "POST", .path = "/api/v1/assign", .key = keys[1], .body = ASSIGN};
    harness_timed_call(&again);
    /* keys the cache does not hold (made up: anyone can send them), more than the threads,
     * then /healthz: each answers 503 while the server is stopped, none holds a thread for
     * --db-timeout (they once did, and /healthz waited 5.7 s behind six of them) */
    enum { NBOGUS = 6 };
    struct harness_timed bogus[NBOGUS + 1];
    for (int i = 0; i < NBOGUS; i++) {
        bogus[i] = (struct harness_timed){
            .port = d.port, .method = "GET", .path = fmt("/api/features/bsn_bogus%d", i)};
        bogus[i].path = strdup(bogus[i].path);
    }
    bogus[NBOGUS] = (struct harness_timed){.port = d.port, .method = "GET", .path = "/healthz"};
    for (int i = 0; i <= NBOGUS; i++) {
        if (i == NBOGUS) {
            sleep_ms(300); /* /healthz behind them (sooner, it checks less, and still passes) */
        }
        harness_timed_start(&bogus[i]);
    }
    for (int i = 0; i <= NBOGUS; i++) {
        harness_timed_join(&bogus[i]);
    }
    /* exposures naming an experiment this daemon does not know (public sdk key), more than
     * the threads, then /healthz and an unlogged /assign: each exposure asks for the
     * definitions to be brought up to date, which waits for the server at most 500 ms (a
     * refresher thread of its own), then answers 503; they once held both MHD threads for
     * --db-timeout (rev-iso28 1) */
    enum { NEXPO = 6 };
    static const char EXPO[] =
        "{\"exposures\":[{\"user_id\":\"u1\",\"experiment\":\"nope\",\"variant\":\"a\"}]}";
    struct harness_timed expo[NEXPO + 2];
    for (int i = 0; i < NEXPO; i++) {
        expo[i] = (struct harness_timed){.port = d.port,
                                         .method = "POST",
                                         .path = "/api/v1/exposures",
                                         .key = keys[0],
                                         .body = EXPO};
    }
    expo[NEXPO] = (struct harness_timed){.port = d.port, .method = "GET", .path = "/healthz"};
    expo[NEXPO + 1] = (struct harness_timed){
        .port = d.port, .method = "POST", .path = "/api/v1/assign", .key = keys[3], .body = ASSIGN};
    for (int i = 0; i < NEXPO + 2; i++) {
        if (i == NEXPO) {
            sleep_ms(300);
        }
        harness_timed_start(&expo[i]);
    }
    for (int i = 0; i < NEXPO + 2; i++) {
        harness_timed_join(&expo[i]);
    }
    pgc_signal(fmt("%s/p", dir), "CONT");
    for (int i = 0; i < NEXPO + 2; i++) {
        fprintf(stderr, "# database stopped, unknown experiment: %s %s -> %d in %llu ms\n",
                expo[i].method, expo[i].path, expo[i].status, (unsigned long long)expo[i].ms);
    }
    for (int i = 0; i <= NBOGUS; i++) {
        fprintf(stderr, "# database stopped, unknown keys: GET %s -> %d in %llu ms\n",
                bogus[i].path, bogus[i].status, (unsigned long long)bogus[i].ms);
    }

    fprintf(stderr, "# database just stopped: GET /api/features -> %d in %llu ms\n", onset.status,
            (unsigned long long)onset.ms);
    for (int i = 0; i < NKEYS + 3; i++) {
        fprintf(stderr, "# database stopped: %s %s -> %d in %llu ms\n", first[i].method,
                first[i].path, first[i].status, (unsigned long long)first[i].ms);
    }
    fprintf(stderr, "# a second later: /assign %d in %llu ms\n", again.status,
            (unsigned long long)again.ms);

    /* revoked by another process once the server answers again: 401 after the daemon's next
     * key check (once a second), the other keys still accepted */
    int after = 0;
    json_decref(http_json(d.port, "POST", "/api/v1/assign", keys[1], ASSIGN, &after));
    char *out = NULL;
    const char *const rv[] = {"keys", "revoke", ids[2], "--database", url, NULL};
    if (bunsen_run(&out, rv) != 0) {
        fail_msg("keys revoke: %s", out);
    }
    free(out);
    uint64_t t0 = harness_now_ms();
    int revoked = 200;
    while (revoked == 200 && harness_now_ms() - t0 < 60000) { /* a hang detector: 60 s */
        json_decref(http_json(d.port, "POST", "/api/v1/assign", keys[2], ASSIGN, &revoked));
        if (revoked == 200) {
            sleep_ms(50);
        }
    }
    uint64_t revoked_ms = harness_now_ms() - t0;
    int kept = 0;
    json_decref(http_json(d.port, "POST", "/api/v1/assign", keys[3], ASSIGN, &kept));
    fprintf(stderr, "# after: /assign %d; a key revoked by the CLI answers %d after %llu ms\n",
            after, revoked, (unsigned long long)revoked_ms);

    daemon_stop(&d);
    daemon_cleanup(&d);
    pgc_destroy(dir);
    /* all answered before the server was continued (joined above, before SIGCONT) */
    assert_int_equal(onset.status, 200);
    for (int i = 0; i < NKEYS + 3; i++) {
        assert_int_equal(first[i].status, 200);
    }
    assert_int_equal(again.status, 200);
    int many_ok = 0;
    for (int i = 0; i < NMANY; i++) {
        many_ok += many_status[i] == 200;
        free(many[i]);
    }
    fprintf(stderr, "# database stopped: %d of %d more keys used before it answered 200\n", many_ok,
            NMANY);
    assert_int_equal(many_ok, NMANY);
    for (int i = 0; i < NBOGUS; i++) {
        assert_int_equal(bogus[i].status, 503);
        free((char *)(uintptr_t)bogus[i].path);
    }
    assert_int_equal(bogus[NBOGUS].status, 200);
    for (int i = 0; i < NEXPO; i++) {
        assert_int_equal(expo[i].status, 503);
        assert_string_equal(expo[i].retry_after, "1");
    }
    assert_int_equal(expo[NEXPO].status, 200);
    assert_int_equal(expo[NEXPO + 1].status, 200);
    assert_int_equal(after, 200);
    assert_int_equal(revoked, 401);
    assert_int_equal(kept, 200);
    for (int i = 0; i < NKEYS; i++) {
        free(keys[i]);
    }
}

/* Two daemons on one database; one (d0) is frozen (SIGSTOP) in the middle of its /readyz
 * check, after the check's write and before its COMMIT (its check made to wait for a row lock
 * held here, then the lock released once d0 is stopped: its server session writes and waits
 * for d0). Every daemon's check once wrote the same row, so d1's /readyz waited for d0's lock
 * until the server ended d0's session (~10 s, idle_in_transaction_session_timeout); each
 * daemon now writes a row of its own and d1 answers at once. */
static void test_ready_beside_frozen_daemon(void **state_)
{
    (void)state_;
    if (!harness_on_postgres()) {
        skip();
    }
    struct daemon d0, d1;
    assert_int_equal(daemon_start_db(&d0, "fresh", NULL), 0);
    assert_int_equal(daemon_start_db(&d1, d0.db_url, NULL), 0);
    json_decref(harness_call(d0.port, "GET", "/readyz", NULL, NULL, 200));
    json_decref(harness_call(d1.port, "GET", "/readyz", NULL, NULL, 200));
    /* the row every check wrote, locked by a transaction of this test */
    PGconn *lk = PQconnectdb(d0.db_url);
    assert_int_equal(PQstatus(lk), CONNECTION_OK);
    PGresult *lr = PQexec(lk, "BEGIN; INSERT INTO meta (key, value) VALUES ('ready_check', '1') "
                              "ON CONFLICT (key) DO UPDATE SET value = meta.value");
    assert_int_equal(PQresultStatus(lr), PGRES_COMMAND_OK);
    PQclear(lr);
    /* past the 100 ms in which a passed check answers probes (a minimum): d0 checks */
    sleep_ms(150);
    PGconn *mon = PQconnectdb(d0.db_url);
    assert_int_equal(PQstatus(mon), CONNECTION_OK);
    int fd = harness_send(d0.port, "GET", "/readyz", NULL, NULL);
    assert_true(fd >= 0);
    /* d0's check is under way: answered (it writes a row of its own), or waiting for the
     * lock (the one row of before the fix), whose session is then d0's frozen one (a hang
     * detector: 60 s) */
    int waiter = 0;
    for (int i = 0; i < 3000 && waiter == 0 && !harness_answered(fd); i++) {
        waiter = pg_int(mon, "SELECT COALESCE(MAX(pid), 0) FROM pg_stat_activity WHERE datname = "
                             "current_database() AND wait_event_type = 'Lock'");
        if (waiter == 0) {
            sleep_ms(20);
        }
    }
    assert_int_equal(kill(d0.pid, SIGSTOP), 0);
    PQclear(PQexec(lk, "COMMIT"));
    PQfinish(lk);
    /* d0's session takes the lock and writes; d0 never commits (a hang detector: 60 s) */
    for (int i = 0; i < 3000 && waiter != 0; i++) {
        if (pg_int(mon, fmt("SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND "
                            "state = 'idle in transaction'",
                            waiter)) == 1) {
            break;
        }
        sleep_ms(20);
    }
    struct harness_timed other = {.port = d1.port, .method = "GET", .path = "/readyz"};
    harness_timed_call(&other);
    /* d1 answered while d0's transaction still held its rows: it did not wait for the server
     * to end d0's session (idle_in_transaction_session_timeout), which it once did */
    int still = waiter != 0 ? pg_int(mon, fmt("SELECT count(*) FROM pg_stat_activity WHERE pid = "
                                              "%d AND state = 'idle in transaction'",
                                              waiter))
                            : 1;
    PQfinish(mon);
    assert_int_equal(kill(d0.pid, SIGCONT), 0);
    int frozen = harness_recv_status(fd, NULL, 0);
    fprintf(stderr, "# d0 frozen in its check: d1 /readyz %d in %llu ms (d0's: %d)\n", other.status,
            (unsigned long long)other.ms, frozen);
    daemon_stop(&d1);
    daemon_stop(&d0);
    daemon_cleanup(&d1);
    daemon_cleanup(&d0);
    assert_int_equal(other.status, 200);
    assert_int_equal(still, 1);
}

/* SIGTERM while the database does not answer and a write waits for it: the write is answered
 * 503 with Retry-After at --db-timeout before the connection closes, and the drain ends within
 * --db-timeout. A review measured the connection closed with no reply at 30 s and the process
 * gone after 41 s (--db-timeout 30): the main thread took the signal only after its catalogue
 * check gave up on the database, each thread's wait and reconnection (connect_timeout) came
 * in turn, and MHD closed the connections as the writer resumed them with their reply. */
static void test_drain_with_hung_db(void **state_)
{
    (void)state_;
    if (!harness_on_postgres()) {
        skip();
    }
    char dir[128] = "/tmp/bunsen-hd-XXXXXX", url[300];
    pgc_start(dir, "hungdrain", url, sizeof(url));
    struct daemon d;
    const char *extra[] = {"--db-timeout", "3", NULL};
    assert_int_equal(daemon_start_db(&d, url, extra), 0);
    char *key = new_key(&d, "sdk", NULL);
    const char *event = "{\"events\":[{\"user_id\":\"u1\",\"event\":\"e\",\"id\":\"x1\"}]}";
    json_decref(harness_call(d.port, "POST", "/api/v1/events", key, event, 200));

    pgc_signal(fmt("%s/p", dir), "STOP");
    struct harness_timed w = {
        .port = d.port,
        .method = "POST",
        .path = "/api/v1/events",
        .key = key,
        .body = "{\"events\":[{\"user_id\":\"u2\",\"event\":\"e\",\"id\":\"x2\"}]}"};
    harness_timed_start(&w);
    /* the write reaches the daemon and waits for the server (an ordering sleep: sent later,
     * it is refused 503 as the drain's, and the test still passes; nothing observable from
     * outside tells that the write waits while the server is stopped) */
    sleep_ms(1000);
    uint64_t t0 = harness_now_ms();
    pid_t pid = d.pid;
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st = 0;
    pid_t gone = 0;
    /* a hang detector (60 s): the drain ends while the server is still stopped */
    while ((gone = waitpid(d.pid, &st, WNOHANG)) == 0 && harness_now_ms() - t0 < 60000) {
        sleep_ms(50);
    }
    uint64_t exit_ms = harness_now_ms() - t0;
    pgc_signal(fmt("%s/p", dir), "CONT");
    if (gone == d.pid) {
        d.pid = 0;
    }
    harness_timed_join(&w);
    fprintf(stderr,
            "# SIGTERM with the database stopped: the pending write %d (Retry-After '%s') after "
            "%llu ms; exit %d after %llu ms\n",
            w.status, w.retry_after, (unsigned long long)w.ms, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
            (unsigned long long)exit_ms);
    daemon_cleanup(&d);
    pgc_destroy(dir);
    free(key);
    assert_int_equal(gone, pid); /* exited */
    assert_int_equal(w.status, 503);
    assert_true(w.retry_after[0] != '\0'); /* answered before the connection closed */
    assert_true(WIFEXITED(st));
    /* how long after --db-timeout (3 s) the write and the drain ended is printed above, not
     * asserted (docs/TESTING.md): the waits in turn of before (41 s with --db-timeout 30) are
     * a benchmark's to see */
}

/* A write while the database does not answer is refused 503 + Retry-After at --db-timeout,
 * not after a reconnection on top (review ops31 F9: the first write waited --db-timeout plus
 * connect_timeout, 6.0 s with --db-timeout 3, past the 30 s of most clients at the
 * defaults). How long it waited is printed, not asserted (docs/TESTING.md); the next write
 * answers the same way. */
static void test_write_refused_at_db_timeout(void **state_)
{
    (void)state_;
    if (!harness_on_postgres()) {
        skip();
    }
    char dir[128] = "/tmp/bunsen-hw-XXXXXX", url[300];
    pgc_start(dir, "hungwrite", url, sizeof(url));
    struct daemon d;
    const char *extra[] = {"--db-timeout", "3", NULL};
    assert_int_equal(daemon_start_db(&d, url, extra), 0);
    char *key = new_key(&d, "sdk", NULL);
    json_decref(harness_call(d.port, "POST", "/api/v1/events", key,
                             "{\"events\":[{\"user_id\":\"u1\",\"event\":\"e\"}]}", 200));
    pgc_signal(fmt("%s/p", dir), "STOP");
    struct harness_timed w[2];
    for (int i = 0; i < 2; i++) {
        w[i] =
            (struct harness_timed){.port = d.port,
                                   .method = "POST",
                                   .path = "/api/v1/events",
                                   .key = key,
                                   .body = "{\"events\":[{\"user_id\":\"u2\",\"event\":\"e\"}]}"};
        harness_timed_call(&w[i]);
    }
    pgc_signal(fmt("%s/p", dir), "CONT");
    fprintf(stderr,
            "# the database stopped, --db-timeout 3: the first write %d after %llu ms, the "
            "second %d after %llu ms\n",
            w[0].status, (unsigned long long)w[0].ms, w[1].status, (unsigned long long)w[1].ms);
    daemon_stop(&d);
    daemon_cleanup(&d);
    pgc_destroy(dir);
    free(key);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(w[i].status, 503);
        assert_true(w[i].retry_after[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_from_memory),
        cmocka_unit_test(test_ready_beside_frozen_daemon),
        cmocka_unit_test(test_drain_with_hung_db),
        cmocka_unit_test(test_write_refused_at_db_timeout),
    };
    return cmocka_run_group_tests_name("api_hung_db", tests, NULL, NULL);
}
