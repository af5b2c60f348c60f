/*
 * Crash safety of ingestion: two clients post batches of 200 events with unique ids
 * ("c<client>b<batch>.<i>") in a loop while the test kill -9s the daemon at a random
 * moment, 20 times, restarting it on the same data dir each time. Afterwards, read-only
 * on the database: every event of every acknowledged batch is present exactly once, and
 * no batch is partial (each batch id prefix has all 200 events or none). The events count
 * toward a running experiment's metric, so the roll-ups must also still equal a
 * recomputation from the raw rows: a crash never leaves events without their statistics.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS     2
#define ROUNDS      20
#define BATCH       200
#define MAX_BATCHES 100000
#define USERS       50

static struct daemon D;
static char SDK[64];
static long long NOW;
static atomic_bool stop_clients;
/* per client and batch: 0 not sent, 1 sent without a 2xx, 2 acknowledged */
static unsigned char batch_state[CLIENTS][MAX_BATCHES];
static int batches_sent[CLIENTS];

struct client {
    int port;
    int id;
    unsigned seed;
};

static char *batch_body(int client, int b, unsigned *seed)
{
    size_t cap = BATCH * 128 + 32, len = 0;
    char *p = malloc(cap);
    assert_non_null(p);
    len += (size_t)snprintf(p, cap, "{\"events\":[");
    for (int i = 0; i < BATCH; i++) {
        int u = (int)(rand_r(seed) % (USERS + 10)); /* 10 users are never exposed */
        long long ts = NOW - (long long)(rand_r(seed) % 3600000);
        len += (size_t)snprintf(p + len, cap - len,
                                "%s{\"user_id\":\"cu%d\",\"event\":\"ev\",\"ts\":%lld,"
                                "\"id\":\"c%db%d.%d\"}",
                                i ? "," : "", u, ts, client, b, i);
    }
    snprintf(p + len, cap - len, "]}");
    return p;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    while (!atomic_load(&stop_clients) && batches_sent[c->id] < MAX_BATCHES) {
        int b = batches_sent[c->id]++;
        char *body = batch_body(c->id, b, &c->seed);
        batch_state[c->id][b] = 1;
        struct resp r;
        if (http_req(c->port, "POST", "/api/v1/events", SDK, body, &r) == 0) {
            if (r.status == 200) {
                json_t *j = resp_json(&r);
                /* every id is new: all 200 accepted, or the reply would be wrong */
                if (json_integer_value(json_object_get(j, "accepted")) != BATCH) {
                    fprintf(stderr, "batch c%db%d: %s\n", c->id, b, r.body);
                    batch_state[c->id][b] = 3;
                } else {
                    batch_state[c->id][b] = 2;
                }
                json_decref(j);
            }
            resp_free(&r);
        } else {
            usleep(1000); /* the daemon is gone: nothing was acknowledged */
        }
        free(body);
    }
    return NULL;
}

static void call_ok(const char *path, const char *key, const char *body, int want)
{
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", path, key, body, &r), 0);
    if (r.status != want) {
        fail_msg("POST %s: status %d: %s", path, r.status, r.body ? r.body : "");
    }
    resp_free(&r);
}

static void setup_experiment(void)
{
    harness_sdk_key(D.port, D.admin_key, SDK, sizeof(SDK));
    call_ok("/api/v1/metrics", D.admin_key,
            "{\"key\":\"evs\",\"event\":\"ev\",\"type\":\"count\",\"window_hours\":null,"
            "\"cuped_lookback_hours\":1}",
            201);
    call_ok(
        "/api/v1/experiments", D.admin_key,
        "{\"key\":\"crash\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"metrics\":[\"evs\"]}",
        201);
    call_ok("/api/v1/experiments/crash/start", D.admin_key, NULL, 200);
    char body[8192];
    size_t len = (size_t)snprintf(body, sizeof(body), "{\"exposures\":[");
    for (int u = 0; u < USERS; u++) {
        /* half of the users are exposed in the middle of the events' hour */
        len += (size_t)snprintf(body + len, sizeof(body) - len,
                                "%s{\"experiment\":\"crash\",\"user_id\":\"cu%d\",\"variant\":"
                                "\"%s\",\"ts\":%lld}",
                                u ? "," : "", u, u % 2 ? "a" : "b",
                                NOW - (u % 3 == 0 ? 1800000 : 7200000));
    }
    snprintf(body + len, sizeof(body) - len, "]}");
    call_ok("/api/v1/exposures", SDK, body, 200);
}

static long long db_int(const char *sql)
{
    return daemon_db_int(&D, sql, 0);
}

static int stored[CLIENTS][MAX_BATCHES];
static int unknown_ids;

/* One stored event id "c<client>b<batch>.<i>": counted for its batch. */
static void count_id(void *ctx, const char *const *cols, int ncols)
{
    (void)ctx;
    (void)ncols;
    int c = -1, b = -1;
    if (sscanf(cols[0], "c%db%d.", &c, &b) != 2 || c < 0 || c >= CLIENTS || b < 0 ||
        b >= batches_sent[c]) {
        fprintf(stderr, "unexpected event id '%s'\n", cols[0]);
        unknown_ids++;
        return;
    }
    stored[c][b]++;
}

/* Events per batch prefix; checks against what the clients saw. */
static void check_batches(long long *acked_events)
{
    memset(stored, 0, sizeof(stored));
    unknown_ids = 0;
    daemon_db_rows(&D, "SELECT id FROM events WHERE id IS NOT NULL", count_id, NULL);
    int partial = 0, unknown = unknown_ids;
    for (int c = 0; c < CLIENTS; c++) {
        for (int b = 0; b < batches_sent[c]; b++) {
            if (stored[c][b] != 0 && stored[c][b] != BATCH) {
                fprintf(stderr, "batch c%db%d is partial: %d of %d events\n", c, b, stored[c][b],
                        BATCH);
                partial++;
            }
        }
    }
    int missing = 0, acked = 0, unacked_present = 0, wrong_reply = 0;
    for (int c = 0; c < CLIENTS; c++) {
        for (int b = 0; b < batches_sent[c]; b++) {
            if (batch_state[c][b] == 3) {
                wrong_reply++;
            }
            if (batch_state[c][b] >= 2) {
                acked++;
                if (stored[c][b] != BATCH) {
                    fprintf(stderr, "acknowledged batch c%db%d: %d of %d events\n", c, b,
                            stored[c][b], BATCH);
                    missing++;
                }
            } else if (stored[c][b] != 0) {
                unacked_present++; /* committed, but the reply was lost in the crash */
            }
        }
    }
    fprintf(stderr,
            "# crash: %d kill -9 rounds, %d batches sent, %d acknowledged, %d committed "
            "without a reply; %d partial, %d missing\n",
            ROUNDS, batches_sent[0] + batches_sent[1], acked, unacked_present, partial, missing);
    assert_true(acked > ROUNDS);
    assert_int_equal(partial, 0);
    assert_int_equal(unknown, 0);
    assert_int_equal(missing, 0);
    assert_int_equal(wrong_reply, 0);
    *acked_events = (long long)acked * BATCH;
}

static void test_kill9_during_ingestion(void **state)
{
    (void)state;
    assert_int_equal(daemon_start(&D, NULL), 0);
    NOW = (long long)time(NULL) * 1000;
    setup_experiment();
    srand((unsigned)time(NULL));
    for (int round = 0; round < ROUNDS; round++) {
        atomic_store(&stop_clients, false);
        pthread_t th[CLIENTS];
        struct client cl[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            cl[i] = (struct client){.port = D.port, .id = i, .seed = (unsigned)(round * 10 + i)};
            assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
        }
        usleep((useconds_t)(100000 + rand() % 500000));
        daemon_kill9(&D);
        atomic_store(&stop_clients, true);
        for (int i = 0; i < CLIENTS; i++) {
            pthread_join(th[i], NULL);
        }
        assert_int_equal(daemon_restart(&D, NULL), 0);
    }
    long long acked_events = 0;
    check_batches(&acked_events);
    /* exactly once: ids are globally unique by construction */
    assert_int_equal(db_int("SELECT COUNT(*) - COUNT(DISTINCT id) FROM events"), 0);
    assert_true(db_int("SELECT COUNT(*) FROM events") >= acked_events);
    /* the roll-ups moved with the events: S per variant = events in the window */
    long long want_s = db_int("SELECT COUNT(*) FROM exposures x JOIN events e ON "
                              "e.user_id = x.user_id AND e.event = 'ev' AND e.ts >= x.ts "
                              "WHERE x.experiment = 'crash'");
    long long want_sx = db_int("SELECT COUNT(*) FROM exposures x JOIN events e ON "
                               "e.user_id = x.user_id AND e.event = 'ev' AND e.ts < x.ts AND "
                               "e.ts >= x.ts - 3600000 WHERE x.experiment = 'crash'");
    assert_int_equal(db_int("SELECT SUM(n) FROM metric_stats WHERE experiment = 'crash'"), USERS);
    assert_int_equal(db_int("SELECT SUM(s) FROM metric_stats WHERE experiment = 'crash'"), want_s);
    assert_int_equal(db_int("SELECT SUM(sx) FROM metric_stats WHERE experiment = 'crash'"),
                     want_sx);
    assert_int_equal(db_int("SELECT SUM(y_raw) FROM user_metrics WHERE experiment = 'crash'"),
                     want_s);
    assert_int_equal(daemon_stop(&D), 0);
    daemon_cleanup(&D);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_during_ingestion),
    };
    return cmocka_run_group_tests_name("api_crash_ingest", tests, NULL, NULL);
}
