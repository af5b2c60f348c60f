/* Several daemons on one PostgreSQL database (ARCHITECTURE.md "Scaling out"); skipped when
 * the API tests run on SQLite (tests/pg/api.sh runs them on a throwaway cluster).
 *
 * - test_definitions_reach_every_daemon: an experiment started on one daemon is assigned
 *   by the other two within a second.
 * - test_payload_date_every_daemon: a draft with forced users deleted on one daemon: every
 *   daemon's GrowthBook payload drops it with one dateUpdated, later than before (the SDK
 *   ignores a payload whose date it has cached).
 * - test_edits_reach_every_daemon: an experiment's text changed, a saved group's values changed,
 *   a draft deleted and an experiment archived, each on another daemon: every daemon answers
 *   the new definitions (each reparses only what changed and keeps the rest).
 * - test_mixed_load: 3 daemons ingest one data set (exposures twice per user on different
 *   daemons at once, events with repeats, exposures logged by /assign) while a metric is
 *   edited on another daemon; one SQLite daemon is fed the same data. The roll-ups agree
 *   (counts exact, sums within 1e-9) and every daemon gives every user the same variant.
 * - test_kill_rounds: 10 rounds of kill -9 of one daemon under load, then an immediate-mode
 *   PostgreSQL restart under load: every acknowledged batch is stored whole, nothing twice,
 *   no partial batch, and the roll-ups match the raw rows.
 * - test_namespace_starts_race: two experiments with overlapping ranges of one namespace
 *   started at once on two daemons: one starts, the other gets the 409 naming it.
 * - test_lock_order: 3 daemons ingest batches that share users (and register new values of
 *   several dimensions) in every order: no deadlock (bunsen_pg_deadlocks_total), the
 *   roll-ups match the raw rows.
 * - test_start_at_once: 4 daemons started at the same moment on an empty database, 8 times:
 *   every one starts. */
#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NP      3
#define USERS   600
#define LOGGED  450 /* users from here on are exposed through /assign (server time) */
#define HOUR    3600000LL
#define BATCHES 4096

static struct daemon P[NP], R;
static char SDK_P[64], SDK_R[64];
static long long NOW;
static bool skipped;

static void post_ok(int port, const char *key, const char *method, const char *path,
                    const char *body, int want)
{
    struct resp r;
    assert_int_equal(http_req(port, method, path, key, body, &r), 0);
    if (r.status != want) {
        fail_msg("%s %s: status %d: %s", method, path, r.status, r.body ? r.body : "");
    }
    resp_free(&r);
}

static void definitions(int port, const char *admin)
{
    post_ok(port, admin, "POST", "/api/v1/metrics",
            "{\"key\":\"conv\",\"event\":\"purchase\",\"type\":\"binomial\",\"window_hours\":72,"
            "\"cuped_lookback_hours\":336}",
            201);
    post_ok(port, admin, "POST", "/api/v1/metrics",
            "{\"key\":\"clicks\",\"event\":\"click\",\"type\":\"count\",\"window_hours\":null,"
            "\"cuped_lookback_hours\":336}",
            201);
    post_ok(port, admin, "POST", "/api/v1/metrics",
            "{\"key\":\"rev\",\"event\":\"purchase\",\"type\":\"sum\",\"window_hours\":168,"
            "\"cap\":100,\"cuped_lookback_hours\":336}",
            201);
    post_ok(port, admin, "POST", "/api/v1/experiments",
            "{\"key\":\"mx\",\"variants\":[{\"key\":\"control\"},{\"key\":\"treatment\"}],"
            "\"metrics\":[\"conv\",\"clicks\",\"rev\"]}",
            201);
}

static int setup(void **state)
{
    (void)state;
    if (!harness_on_postgres()) {
        skipped = true;
        return 0;
    }
    NOW = (long long)time(NULL) * 1000;
    if (daemon_start_db(&P[0], "fresh", NULL) != 0) {
        return -1;
    }
    for (int i = 1; i < NP; i++) {
        if (daemon_start_db(&P[i], P[0].db_url, NULL) != 0) {
            return -1;
        }
        /* its admin key is P[0]'s (it wrote no admin.key): warmed now and at each restart, so
         * that a first keyed call on a loaded machine is not a cold lookup's 503 (review
         * flaky34 F1) */
        snprintf(P[i].admin_key, sizeof(P[i].admin_key), "%s", P[0].admin_key);
        harness_warm(&P[i], P[i].admin_key);
    }
    return daemon_start_db(&R, "sqlite", NULL);
}

static int teardown(void **state)
{
    (void)state;
    if (skipped) {
        return 0;
    }
    int rc = 0;
    for (int i = NP - 1; i >= 0; i--) {
        rc |= daemon_stop(&P[i]) == 0 ? 0 : -1;
        daemon_cleanup(&P[i]);
    }
    rc |= daemon_stop(&R) == 0 ? 0 : -1;
    daemon_cleanup(&R);
    return rc;
}

/* The variant of user u in "mx" on daemon port (log_exposure as given). */
static int assign(int port, const char *key, int u, bool log, char *variant)
{
    struct resp r;
    const char *body = fmt("{\"user_id\":\"u%d\",\"experiments\":[\"mx\"],\"log_exposure\":%s}", u,
                           log ? "true" : "false");
    /* a key's first lookup on a daemon may answer 503 + Retry-After (over 200 ms on a loaded
     * machine): retried, as a client would */
    for (int i = 0;; i++) {
        if (http_req(port, "POST", "/api/v1/assign", key, body, &r) != 0) {
            return -1;
        }
        if (r.status != 503 || i == 50) {
            break;
        }
        resp_free(&r);
        sleep_ms(100);
    }
    int status = r.status;
    variant[0] = '\0';
    json_t *j = resp_json(&r);
    json_t *x = json_object_get(json_object_get(j, "assignments"), "mx");
    if (json_is_true(json_object_get(x, "in_experiment"))) {
        snprintf(variant, 32, "%s", json_string_value(json_object_get(x, "variant")));
    }
    json_decref(j);
    resp_free(&r);
    return status == 200 ? 0 : -1;
}

static void test_definitions_reach_every_daemon(void **state)
{
    (void)state;
    if (skipped) {
        skip();
    }
    harness_sdk_key(P[0].port, P[0].admin_key, SDK_P, sizeof(SDK_P));
    harness_sdk_key(R.port, R.admin_key, SDK_R, sizeof(SDK_R));
    definitions(P[1].port, P[0].admin_key); /* the admin key lives in the shared database */
    definitions(R.port, R.admin_key);
    post_ok(R.port, R.admin_key, "POST", "/api/v1/experiments/mx/start", NULL, 200);
    char v[32];
    for (int i = 1; i < NP; i++) { /* the sdk key known to every daemon before the clock runs */
        assert_int_equal(assign(P[i].port, SDK_P, 1, false, v), 0);
        assert_string_equal(v, ""); /* a draft: nobody is in it yet */
    }
    uint64_t t0 = (uint64_t)time(NULL);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    post_ok(P[0].port, P[0].admin_key, "POST", "/api/v1/experiments/mx/start", NULL, 200);
    double worst = 0;
    for (int i = 1; i < NP; i++) {
        for (;;) {
            assert_int_equal(assign(P[i].port, SDK_P, 1, false, v), 0);
            clock_gettime(CLOCK_MONOTONIC, &b);
            double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
            if (v[0] != '\0') {
                worst = ms > worst ? ms : worst;
                break;
            }
            assert_true((uint64_t)time(NULL) - t0 < HARNESS_HANG_S); /* a hang detector */
            usleep(5000);
        }
    }
    fprintf(stderr, "# the start on daemon 0 reached the other daemons within %.0f ms\n", worst);
    /* Issue 11's promise ("definition changes reach every daemon within 1 s": the catalogue
     * poll's period, LISTEN/NOTIFY is faster), checked as a contract, not as a speed: the
     * NOTIFY path takes 5-40 ms in the ASan runs, 25x below it. */
    assert_true(worst < 1000);
}

/* The payload of daemon port: whether it has feature key, and its dateUpdated (out). */
static bool payload_has(int port, const char *key, char *date)
{
    int st = 0;
    json_t *p = http_json(port, "GET", fmt("/api/features/%s", SDK_P), NULL, NULL, &st);
    assert_int_equal(st, 200);
    snprintf(date, 32, "%s", json_string_value(json_object_get(p, "dateUpdated")));
    bool has = json_object_get(json_object_get(p, "features"), key) != NULL;
    json_decref(p);
    return has;
}

static void test_payload_date_every_daemon(void **state)
{
    (void)state;
    if (skipped) {
        skip();
    }
    post_ok(P[0].port, P[0].admin_key, "POST", "/api/v1/experiments",
            "{\"key\":\"md-date\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
            "\"forced\":{\"qa\":\"b\"}}",
            201);
    char before[NP][32], after[NP][32];
    double t0 = harness_clock_s(); /* the waits below: a hang detector, HARNESS_HANG_S */
    for (int i = 0; i < NP; i++) {
        while (!payload_has(P[i].port, "md-date", before[i])) {
            assert_true(harness_clock_s() - t0 < HARNESS_HANG_S);
            sleep_ms(10);
        }
    }
    post_ok(P[2].port, P[0].admin_key, "DELETE", "/api/v1/experiments/md-date", NULL, 200);
    for (int i = 0; i < NP; i++) {
        while (payload_has(P[i].port, "md-date", after[i])) {
            assert_true(harness_clock_s() - t0 < HARNESS_HANG_S);
            sleep_ms(10);
        }
        if (strcmp(after[i], before[i]) <= 0 || strcmp(after[i], after[0]) != 0) {
            fail_msg("daemon %d: dateUpdated %s before the delete, %s after (daemon 0: %s)", i,
                     before[i], after[i], after[0]);
        }
    }
}

/* The reason daemon port gives user (attributes: JSON text) in experiment key; "" when the
 * daemon does not know key. */
static void reason_on(int port, const char *key, const char *user, const char *attrs, char *out)
{
    struct resp r;
    assert_int_equal(http_req(port, "POST", "/api/v1/assign", P[0].admin_key,
                              fmt("{\"user_id\":\"%s\",\"attributes\":%s,\"experiments\":[\"%s\"],"
                                  "\"log_exposure\":false}",
                                  user, attrs, key),
                              &r),
                     0);
    assert_int_equal(r.status, 200);
    json_t *j = resp_json(&r);
    const json_t *x = json_object_get(json_object_get(j, "assignments"), key);
    snprintf(out, 32, "%s", x ? json_string_value(json_object_get(x, "reason")) : "");
    json_decref(j);
    resp_free(&r);
}

/* Every daemon comes to answer want for (key, user, attrs): milliseconds (NOTIFY), at most the
 * one-second catalogue poll; HARNESS_HANG_S is a hang detector, not a latency bound. */
static void reach_all(const char *key, const char *user, const char *attrs, const char *want)
{
    for (int i = 0; i < NP; i++) {
        char got[32] = "";
        for (double t0 = harness_clock_s(); harness_clock_s() - t0 < HARNESS_HANG_S;) {
            reason_on(P[i].port, key, user, attrs, got);
            if (strcmp(got, want) == 0) {
                break;
            }
            sleep_ms(10);
        }
        if (strcmp(got, want) != 0) {
            fail_msg("daemon %d: %s for %s %s is '%s' after %d s, expected '%s'", i, key, user,
                     attrs, got, HARNESS_HANG_S, want);
        }
    }
}

/* Each daemon reloads by parsing again only the experiments whose stored text changed: a
 * change made on another daemon (an experiment's text, a saved group's values, a delete, an
 * archive) reaches every daemon while the experiments around it are kept. */
static void test_edits_reach_every_daemon(void **state)
{
    (void)state;
    if (skipped) {
        skip();
    }
    const char *admin = P[0].admin_key;
    post_ok(P[0].port, admin, "POST", "/api/v1/saved-groups",
            "{\"key\":\"md-g\",\"attribute\":\"id\",\"values\":[\"g1\"]}", 201);
    static const char *const defs[] = {
        "{\"key\":\"md-r1\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}",
        "{\"key\":\"md-r2\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
        "\"targeting\":{\"id\":{\"$inGroup\":\"md-g\"}}}",
        "{\"key\":\"md-r3\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
        "\"forced\":{\"qa\":\"b\"}}",
        "{\"key\":\"md-r4\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
        "\"forced\":{\"qa\":\"b\"}}",
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        post_ok(P[i % NP].port, admin, "POST", "/api/v1/experiments", defs[i], 201);
    }
    post_ok(P[1].port, admin, "POST", "/api/v1/experiments/md-r1/start", NULL, 200);
    post_ok(P[2].port, admin, "POST", "/api/v1/experiments/md-r2/start", NULL, 200);
    post_ok(P[0].port, admin, "POST", "/api/v1/experiments/md-r4/start", NULL, 200);
    reach_all("md-r1", "qa", "{}", "hashed");
    reach_all("md-r2", "g1", "{}", "hashed");
    reach_all("md-r2", "g2", "{}", "not_targeted");
    reach_all("md-r3", "qa", "{}", "forced");
    reach_all("md-r4", "qa", "{}", "forced");
    /* md-r1's text changes on daemon 1: qa forced into b */
    post_ok(P[1].port, admin, "PATCH", "/api/v1/experiments/md-r1", "{\"forced\":{\"qa\":\"b\"}}",
            200);
    reach_all("md-r1", "qa", "{}", "forced");
    /* the group's values change on daemon 2: md-r2's text does not */
    post_ok(P[2].port, admin, "PATCH", "/api/v1/saved-groups/md-g", "{\"values\":[\"g2\"]}", 200);
    reach_all("md-r2", "g2", "{}", "hashed");
    reach_all("md-r2", "g1", "{}", "not_targeted");
    /* the draft deleted on daemon 0, md-r4 archived on daemon 1 */
    post_ok(P[0].port, admin, "DELETE", "/api/v1/experiments/md-r3", NULL, 200);
    post_ok(P[1].port, admin, "POST", "/api/v1/experiments/md-r4/stop", NULL, 200);
    post_ok(P[1].port, admin, "POST", "/api/v1/experiments/md-r4/archive", NULL, 200);
    reach_all("md-r3", "qa", "{}", "");
    reach_all("md-r4", "qa", "{}", "not_running");
    /* the ones kept through all of it answer as before */
    reach_all("md-r1", "qa", "{}", "forced");
    reach_all("md-r2", "g2", "{}", "hashed");
}

/* ---- the data set ---- */

struct batch {
    const char *path;
    char *body;
};

static struct batch batches[BATCHES];
static int nbatches;
static atomic_int next_batch;

struct sb {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sb *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static unsigned seed = 12345;

static unsigned rnd(unsigned n)
{
    return (unsigned)rand_r(&seed) % n;
}

static char variants[USERS][32];

/* Exposures (twice for most users: the earlier one must win whichever daemon stores it) and
 * events (some before the exposure for CUPED, some after; 10% sent twice), in batches of
 * mixed users, shuffled. */
static void make_data(void)
{
    static struct sb items[2][USERS * 12];
    int nitems[2] = {0, 0};
    for (int u = 0; u < LOGGED; u++) {
        long long t0 = NOW - 48 * HOUR + u * 1000LL;
        for (int k = 0; k < 2; k++) {
            struct sb *s = &items[0][nitems[0]++];
            sb_add(s, fmt("{\"experiment\":\"mx\",\"user_id\":\"u%d\",\"variant\":\"%s\","
                          "\"ts\":%lld}",
                          u, variants[u], t0 + k * 60000LL));
        }
    }
    for (int u = 0; u < USERS; u++) {
        int n = (int)rnd(6);
        for (int k = 0; k < n; k++) {
            bool logged = u >= LOGGED;
            long long ts = logged ? NOW + HOUR + k * 1000LL
                                  : NOW - 60 * HOUR + (long long)rnd(72) * HOUR + rnd(1000);
            bool buy = rnd(3) == 0;
            char value[48] = "";
            if (buy) {
                snprintf(value, sizeof(value), ",\"value\":%u.%02u", rnd(150), rnd(100));
            }
            const char *e =
                fmt("{\"user_id\":\"u%d\",\"event\":\"%s\",\"ts\":%lld,\"id\":\"e%d.%d\"%s}", u,
                    buy ? "purchase" : "click", ts, u, k, value);
            int copies = rnd(10) == 0 ? 2 : 1;
            for (int c = 0; c < copies; c++) {
                sb_add(&items[1][nitems[1]++], e);
            }
        }
    }
    /* shuffle each kind, then cut into batches of 40 */
    for (int kind = 0; kind < 2; kind++) {
        for (int i = nitems[kind] - 1; i > 0; i--) {
            int j = (int)rnd((unsigned)i + 1);
            struct sb t = items[kind][i];
            items[kind][i] = items[kind][j];
            items[kind][j] = t;
        }
        for (int i = 0; i < nitems[kind]; i += 40) {
            struct sb body = {0};
            sb_add(&body, kind == 0 ? "{\"exposures\":[" : "{\"events\":[");
            for (int k = i; k < i + 40 && k < nitems[kind]; k++) {
                sb_add(&body, k > i ? "," : "");
                sb_add(&body, items[kind][k].p);
                free(items[kind][k].p);
            }
            sb_add(&body, "]}");
            assert_true(nbatches < BATCHES);
            batches[nbatches].path = kind == 0 ? "/api/v1/exposures" : "/api/v1/events";
            batches[nbatches++].body = body.p;
        }
    }
    /* interleave exposures and events: swap randomly over the whole list */
    for (int i = nbatches - 1; i > 0; i--) {
        int j = (int)rnd((unsigned)i + 1);
        struct batch t = batches[i];
        batches[i] = batches[j];
        batches[j] = t;
    }
}

/* Send one request until it is acknowledged (a 503 is retried: nothing was committed). */
static void send_until_ok(int port, const char *key, const char *path, const char *body)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        struct resp r;
        if (http_req(port, "POST", path, key, body, &r) == 0) {
            int st = r.status;
            if (st != 200 && st != 503) {
                fail_msg("%s: %d %s", path, st, r.body ? r.body : "");
            }
            resp_free(&r);
            if (st == 200) {
                return;
            }
        }
        usleep(20000);
    }
    fail_msg("%s: no 200 after 200 attempts", path);
}

struct feeder {
    bool to_reference;
    unsigned seed;
};

static void *feed_main(void *arg)
{
    struct feeder *f = arg;
    for (;;) {
        int i = atomic_fetch_add(&next_batch, 1);
        if (i >= nbatches + (USERS - LOGGED)) {
            return NULL;
        }
        int port = f->to_reference ? R.port : P[rand_r(&f->seed) % NP].port;
        const char *key = f->to_reference ? SDK_R : SDK_P;
        if (i >= nbatches) { /* an exposure logged by /assign */
            int u = LOGGED + (i - nbatches);
            char v[32];
            for (int a = 0; a < 100 && assign(port, key, u, true, v) != 0; a++) {
                usleep(20000);
            }
            continue;
        }
        send_until_ok(port, key, batches[i].path, batches[i].body);
        if (!f->to_reference && i == nbatches / 2 && getenv("MULTI_NO_PATCH") == NULL) {
            /* a definition edited on one daemon while the others ingest */
            post_ok(P[1].port, P[0].admin_key, "PATCH", "/api/v1/metrics/rev", "{\"cap\":80}", 200);
        }
    }
}

static void feed(bool to_reference, int threads)
{
    atomic_store(&next_batch, 0);
    pthread_t th[8];
    struct feeder f[8];
    for (int i = 0; i < threads; i++) {
        f[i] = (struct feeder){.to_reference = to_reference, .seed = 77u + (unsigned)i};
        assert_int_equal(pthread_create(&th[i], NULL, feed_main, &f[i]), 0);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
    }
}

static void compare_rollups(void)
{
    static const char *const metrics[] = {"conv", "clicks", "rev"};
    static const char *const vs[] = {"control", "treatment"};
    static const char *const names[] = {"n", "s", "q", "sx", "qx", "p"};
    for (int m = 0; m < 3; m++) {
        for (int v = 0; v < 2; v++) {
            const char *sql = "SELECT SUM(n), SUM(s), SUM(q), SUM(sx), SUM(qx), SUM(p) FROM "
                              "metric_stats WHERE experiment = 'mx' AND metric = ?1 AND "
                              "variant = ?2";
            double got[6], want[6];
            daemon_db_doubles(&P[0], sql, got, 6, 2, metrics[m], vs[v]);
            daemon_db_doubles(&R, sql, want, 6, 2, metrics[m], vs[v]);
            for (int k = 0; k < 6; k++) {
                bool ok = k == 0 ? got[k] == want[k]
                                 : fabs(got[k] - want[k]) <= 1e-9 * fmax(1.0, fabs(want[k]));
                if (!ok) {
                    fail_msg("%s/%s %s: %.17g on PostgreSQL, %.17g on SQLite", metrics[m], vs[v],
                             names[k], got[k], want[k]);
                }
            }
        }
        const char *users = "SELECT SUM(users) FROM exposure_stats WHERE experiment = 'mx' AND "
                            "variant = ?1";
        for (int v = 0; v < 2; v++) {
            assert_int_equal(daemon_db_int(&P[0], users, 1, vs[v]),
                             daemon_db_int(&R, users, 1, vs[v]));
        }
    }
    assert_int_equal(daemon_db_int(&P[0], "SELECT COUNT(*) FROM events", 0),
                     daemon_db_int(&R, "SELECT COUNT(*) FROM events", 0));
    assert_int_equal(daemon_db_int(&P[0], "SELECT COUNT(*) FROM exposures", 0), USERS);
    assert_int_equal(daemon_db_int(&R, "SELECT COUNT(*) FROM exposures", 0), USERS);
    assert_int_equal(
        daemon_db_int(&P[0], "SELECT COALESCE(SUM(conflicts), 0) FROM exposure_stats", 0), 0);
}

/* A definition change rebuilds the roll-ups beside ingestion (store.h "Rebuilds beside
 * ingestion"): compare them once no rebuild runs on either database. */
static void wait_rebuilds(struct daemon *d)
{
    for (int i = 0; i < 600; i++) {
        if (daemon_db_int(d, "SELECT COUNT(*) FROM rollup_rebuilds", 0) == 0) {
            return;
        }
        usleep(50000);
    }
    fail_msg("a rebuild did not finish in 30 s");
}

static void test_mixed_load(void **state)
{
    (void)state;
    if (skipped) {
        skip();
    }
    /* every daemon, and the reference, gives every user the same variant */
    for (int u = 0; u < USERS; u++) {
        char v[32];
        assert_int_equal(assign(R.port, SDK_R, u, false, variants[u]), 0);
        assert_true(variants[u][0] != '\0');
        for (int i = 0; i < NP; i++) {
            if (u % 5 == 0 || i == u % NP) {
                assert_int_equal(assign(P[i].port, SDK_P, u, false, v), 0);
                assert_string_equal(v, variants[u]);
            }
        }
    }
    make_data();
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    feed(false, 6);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    feed(true, 2);
    if (getenv("MULTI_NO_PATCH") == NULL) {
        post_ok(R.port, R.admin_key, "PATCH", "/api/v1/metrics/rev", "{\"cap\":80}", 200);
    }
    if (getenv("MULTI_END_PATCH") != NULL) {
        post_ok(P[2].port, P[0].admin_key, "PATCH", "/api/v1/metrics/rev", "{\"cap\":80}", 200);
        post_ok(R.port, R.admin_key, "PATCH", "/api/v1/metrics/rev", "{\"cap\":80}", 200);
    }
    fprintf(stderr, "# %d batches and %d logged assignments through %d daemons in %.1f s\n",
            nbatches, USERS - LOGGED, NP, secs);
    wait_rebuilds(&P[0]);
    wait_rebuilds(&R);
    compare_rollups();
    /* the exposures logged through /assign kept the variant every daemon assigns */
    for (int u = LOGGED; u < USERS; u++) {
        assert_int_equal(daemon_db_int(&P[0],
                                       "SELECT COUNT(*) FROM exposures WHERE experiment = 'mx' "
                                       "AND user_id = ?1 AND variant = ?2",
                                       2, fmt("u%d", u), variants[u]),
                         1);
    }
    for (int i = 0; i < nbatches; i++) {
        free(batches[i].body);
    }
}

/* ---- kill -9 rounds ---- */

#define KCLIENTS 3
#define KBATCH   100
#define KMAX     20000
#define KUSERS   60

static atomic_bool kstop;
/* the daemons' ports as the clients see them: kill_one changes one while they run (they read
 * P[].port itself before, which daemon_restart writes: a race ThreadSanitizer reported) */
static atomic_int kport[NP];
static unsigned char kstate[KCLIENTS][KMAX]; /* 0 unsent, 1 sent, 2 acked, 3 wrong reply */
static int ksent[KCLIENTS];
static int kstored[KCLIENTS][KMAX];
static int kunknown;
static atomic_int kacked; /* batches answered 200 */

static void *kclient_main(void *arg)
{
    int c = (int)(intptr_t)arg;
    unsigned s = 1000u + (unsigned)c;
    while (!atomic_load(&kstop) && ksent[c] < KMAX) {
        int b = ksent[c]++;
        struct sb body = {0};
        sb_add(&body, "{\"events\":[");
        for (int i = 0; i < KBATCH; i++) {
            sb_add(&body, fmt("%s{\"user_id\":\"k%u\",\"event\":\"kev\",\"ts\":%lld,"
                              "\"id\":\"c%db%d.%d\"}",
                              i ? "," : "", (unsigned)rand_r(&s) % (KUSERS + 10),
                              NOW - (long long)(rand_r(&s) % 3600000), c, b, i));
        }
        sb_add(&body, "]}");
        kstate[c][b] = 1;
        struct resp r;
        int port = atomic_load(&kport[(c + b) % NP]);
        if (port > 0 && http_req(port, "POST", "/api/v1/events", SDK_P, body.p, &r) == 0) {
            if (r.status == 200) {
                atomic_fetch_add(&kacked, 1);
                json_t *j = resp_json(&r);
                kstate[c][b] = json_integer_value(json_object_get(j, "accepted")) == KBATCH ? 2 : 3;
                json_decref(j);
            }
            resp_free(&r);
        } else {
            usleep(2000);
        }
        free(body.p);
    }
    return NULL;
}

static void count_kid(void *ctx, const char *const *cols, int ncols)
{
    (void)ctx;
    (void)ncols;
    int c = -1, b = -1;
    if (sscanf(cols[0], "c%db%d.", &c, &b) != 2 || c < 0 || c >= KCLIENTS || b < 0 ||
        b >= ksent[c]) {
        kunknown++;
        return;
    }
    kstored[c][b]++;
}

static void load_round(int ms, void (*during)(int round), int round)
{
    atomic_store(&kstop, false);
    for (int i = 0; i < NP; i++) {
        atomic_store(&kport[i], P[i].port);
    }
    pthread_t th[KCLIENTS];
    for (int c = 0; c < KCLIENTS; c++) {
        assert_int_equal(pthread_create(&th[c], NULL, kclient_main, (void *)(intptr_t)c), 0);
    }
    /* The sleeps are minimums (the kill comes at a random point of the load); each half of the
     * round goes on until a batch is acknowledged in it, however slow the machine: acked > 10
     * below is reached, not hoped for. HARNESS_HANG_S: a hang detector. */
    int a0 = atomic_load(&kacked);
    usleep((useconds_t)ms * 1000);
    for (double t0 = harness_clock_s();
         atomic_load(&kacked) == a0 && harness_clock_s() - t0 < HARNESS_HANG_S;) {
        usleep(10000);
    }
    during(round);
    int a1 = atomic_load(&kacked);
    usleep(300000); /* keep the load on while the daemon comes back */
    for (double t0 = harness_clock_s();
         atomic_load(&kacked) == a1 && harness_clock_s() - t0 < HARNESS_HANG_S;) {
        usleep(10000);
    }
    atomic_store(&kstop, true);
    for (int c = 0; c < KCLIENTS; c++) {
        pthread_join(th[c], NULL);
    }
}

static void kill_one(int round)
{
    int victim = round % NP;
    atomic_store(&kport[victim], 0);
    daemon_kill9(&P[victim]);
    P[victim].port = 0;
    assert_int_equal(daemon_restart(&P[victim], NULL), 0);
    atomic_store(&kport[victim], P[victim].port);
}

static void restart_postgres(int round)
{
    (void)round;
    const char *dir = harness_pg_dir();
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "sh tests/pg/cluster.sh restart '%s' immediate", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_kill_rounds(void **state)
{
    (void)state;
    if (skipped) {
        skip();
    }
    post_ok(P[0].port, P[0].admin_key, "POST", "/api/v1/metrics",
            "{\"key\":\"kev\",\"event\":\"kev\",\"type\":\"count\",\"window_hours\":null,"
            "\"cuped_lookback_hours\":1}",
            201);
    post_ok(P[0].port, P[0].admin_key, "POST", "/api/v1/experiments",
            "{\"key\":\"kx\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"metrics\":[\"kev\"]}",
            201);
    post_ok(P[0].port, P[0].admin_key, "POST", "/api/v1/experiments/kx/start", NULL, 200);
    struct sb x = {0};
    sb_add(&x, "{\"exposures\":[");
    for (int u = 0; u < KUSERS; u++) {
        sb_add(&x, fmt("%s{\"experiment\":\"kx\",\"user_id\":\"k%d\",\"variant\":\"%s\","
                       "\"ts\":%lld}",
                       u ? "," : "", u, u % 2 ? "a" : "b", NOW - (u % 3 ? 1800000 : 7200000)));
    }
    sb_add(&x, "]}");
    send_until_ok(P[1].port, SDK_P, "/api/v1/exposures", x.p);
    free(x.p);
    srand((unsigned)time(NULL));
    for (int round = 0; round < 10; round++) {
        load_round(150 + rand() % 300, kill_one, round);
    }
    bool pg_restart = harness_pg_dir() != NULL;
    if (pg_restart) {
        load_round(300, restart_postgres, 0);
    }
    memset(kstored, 0, sizeof(kstored));
    daemon_db_rows(&P[0], "SELECT id FROM events WHERE id LIKE 'c%'", count_kid, NULL);
    int acked = 0, missing = 0, partial = 0, wrong = 0, unacked_present = 0;
    for (int c = 0; c < KCLIENTS; c++) {
        for (int b = 0; b < ksent[c]; b++) {
            int n = kstored[c][b];
            partial += n != 0 && n != KBATCH;
            wrong += kstate[c][b] == 3;
            if (kstate[c][b] >= 2) {
                acked++;
                missing += n != KBATCH;
            } else if (n != 0) {
                unacked_present++;
            }
        }
    }
    fprintf(stderr,
            "# kill: 10 rounds of kill -9%s; %d batches acknowledged, %d committed without a "
            "reply; %d missing, %d partial, %d unknown\n",
            pg_restart ? " and an immediate PostgreSQL restart" : "", acked, unacked_present,
            missing, partial, kunknown);
    assert_true(acked > 10);
    assert_int_equal(missing, 0);
    assert_int_equal(partial, 0);
    assert_int_equal(wrong, 0);
    assert_int_equal(kunknown, 0);
    assert_int_equal(daemon_db_int(&P[0], "SELECT COUNT(*) - COUNT(DISTINCT id) FROM events", 0),
                     0);
    /* the roll-ups moved with the raw rows: S = events in the window, Sx = in the lookback */
    long long want_s = daemon_db_int(&P[0],
                                     "SELECT COUNT(*) FROM exposures x JOIN events e ON "
                                     "e.user_id = x.user_id AND e.event = 'kev' AND e.ts >= x.ts "
                                     "WHERE x.experiment = 'kx'",
                                     0);
    long long want_sx = daemon_db_int(&P[0],
                                      "SELECT COUNT(*) FROM exposures x JOIN events e ON "
                                      "e.user_id = x.user_id AND e.event = 'kev' AND e.ts < x.ts "
                                      "AND e.ts >= x.ts - 3600000 WHERE x.experiment = 'kx'",
                                      0);
    assert_int_equal(
        daemon_db_int(&P[0], "SELECT SUM(n) FROM metric_stats WHERE experiment = 'kx'", 0), KUSERS);
    assert_int_equal(
        daemon_db_int(&P[0], "SELECT SUM(s) FROM metric_stats WHERE experiment = 'kx'", 0), want_s);
    assert_int_equal(
        daemon_db_int(&P[0], "SELECT SUM(sx) FROM metric_stats WHERE experiment = 'kx'", 0),
        want_sx);
}

/* ---- namespace ranges started at once on two daemons ---- */

#define NS_ROUNDS 16

struct ns_start {
    int port;
    const char *key;
    pthread_barrier_t *go;
    int status;
    char body[512];
};

static void *ns_start_main(void *arg)
{
    struct ns_start *st = arg;
    pthread_barrier_wait(st->go);
    struct resp r;
    st->status = -1;
    if (http_req(st->port, "POST", fmt("/api/v1/experiments/%s/start", st->key), P[0].admin_key,
                 NULL, &r) == 0) {
        st->status = r.status;
        snprintf(st->body, sizeof(st->body), "%s", r.body ? r.body : "");
        resp_free(&r);
    }
    return NULL;
}

/* Two experiments with overlapping ranges of one namespace, started at the same moment on
 * two daemons: exactly one starts, the other gets the 409 naming it. The check reads the
 * catalogue inside the start's transaction, which holds the catalogue lock from BEGIN, so the
 * second start sees the first one committed; a check against a daemon's own snapshot (or
 * outside the transaction) would let both through. Every round, whatever the interleaving. */
static void test_namespace_starts_race(void **state)
{
    (void)state;
    if (skipped) {
        skip();
    }
    for (int round = 0; round < NS_ROUNDS; round++) {
        char a[32], b[32];
        snprintf(a, sizeof(a), "race-a-%d", round);
        snprintf(b, sizeof(b), "race-b-%d", round);
        post_ok(P[0].port, P[0].admin_key, "POST", "/api/v1/experiments",
                fmt("{\"key\":\"%s\",\"variants\":[{\"key\":\"c\"},{\"key\":\"t\"}],"
                    "\"namespace\":{\"name\":\"race-%d\",\"range\":[0,0.6]}}",
                    a, round),
                201);
        post_ok(P[1].port, P[0].admin_key, "POST", "/api/v1/experiments",
                fmt("{\"key\":\"%s\",\"variants\":[{\"key\":\"c\"},{\"key\":\"t\"}],"
                    "\"namespace\":{\"name\":\"race-%d\",\"range\":[0.4,1]}}",
                    b, round),
                201);
        pthread_barrier_t go;
        assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
        struct ns_start st[2] = {{.port = P[round % 2].port, .key = a, .go = &go},
                                 {.port = P[1 - round % 2].port, .key = b, .go = &go}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            assert_int_equal(pthread_create(&th[i], NULL, ns_start_main, &st[i]), 0);
        }
        for (int i = 0; i < 2; i++) {
            pthread_join(th[i], NULL);
        }
        pthread_barrier_destroy(&go);
        int won = st[0].status == 200 ? 0 : 1;
        if (st[won].status != 200 || st[1 - won].status != 409 ||
            strstr(st[1 - won].body, fmt("'%s' (running)", st[won].key)) == NULL) {
            fail_msg("round %d: %s -> %d %s; %s -> %d %s", round, a, st[0].status, st[0].body, b,
                     st[1].status, st[1].body);
        }
        long long running = daemon_db_int(
            &P[0], "SELECT COUNT(*) FROM experiments WHERE key IN (?1, ?2) AND status = 'running'",
            2, a, b);
        assert_int_equal(running, 1);
    }
}

/* ---- lock order: no deadlock between daemons ---- */

#define LO_THREADS  12
#define LO_HOT      40  /* users the user-lock phase's batches share */
#define LO_PER      8   /* items per batch */
#define LO_BATCHES  300 /* of the user-lock phase */
#define LO_DIMS     4   /* (experiment, dimension) pairs of the dimension phase */
#define LO_DIM_REQS 360 /* each registering a new value of one of them (90 of 100 each) */

static atomic_int lo_next;
static atomic_int lo_bad;

/* The value of a counter of daemon port's /metrics (0 when absent). */
static double metric_of(int port, const char *name)
{
    double v = harness_metric_value(port, NULL, name);
    return v < 0 ? 0 : v;
}

static double metric_sum(const char *name)
{
    double v = 0;
    for (int i = 0; i < NP; i++) {
        v += metric_of(P[i].port, name);
    }
    return v;
}

static void lo_send(unsigned *rs, const char *path, const char *body)
{
    int port = P[rand_r(rs) % NP].port;
    struct resp r;
    if (http_req(port, "POST", path, P[0].admin_key, body, &r) != 0 || r.status != 200) {
        fprintf(stderr, "# %s: %d %s\n", path, r.status, r.body ? r.body : "");
        atomic_fetch_add(&lo_bad, 1);
    }
    resp_free(&r);
}

/* Batches of events (with ids) and exposures of LO_HOT users, in random orders. */
static void *lo_users_main(void *arg)
{
    unsigned rs = (unsigned)(uintptr_t)arg;
    for (;;) {
        int b = atomic_fetch_add(&lo_next, 1);
        if (b >= LO_BATCHES) {
            return NULL;
        }
        struct sb body = {0};
        sb_add(&body, b % 2 ? "{\"exposures\":[" : "{\"events\":[");
        for (int k = 0; k < LO_PER; k++) {
            unsigned u = (unsigned)rand_r(&rs) % LO_HOT;
            long long ts = NOW - (long long)(rand_r(&rs) % 100) * HOUR;
            sb_add(&body, k ? "," : "");
            sb_add(&body, b % 2 ? fmt("{\"experiment\":\"lo\",\"user_id\":\"lo%u\",\"variant\":"
                                      "\"%s\",\"ts\":%lld}",
                                      u, rand_r(&rs) % 2 ? "a" : "b", ts)
                                : fmt("{\"user_id\":\"lo%u\",\"event\":\"lo_ev\",\"ts\":%lld,"
                                      "\"id\":\"lo%d.%d\"}",
                                      u, ts, b, k));
        }
        sb_add(&body, "]}");
        lo_send(&rs, b % 2 ? "/api/v1/exposures" : "/api/v1/events", body.p);
        free(body.p);
    }
}

/* One exposure per request, of a new user, with a new value of one of the LO_DIMS
 * (experiment, dimension) pairs in turn: its registration takes that pair's lock. */
static void *lo_dims_main(void *arg)
{
    unsigned rs = (unsigned)(uintptr_t)arg;
    for (;;) {
        int i = atomic_fetch_add(&lo_next, 1);
        if (i >= LO_DIM_REQS) {
            return NULL;
        }
        int pair = i % LO_DIMS; /* 90 values each: all registered */
        lo_send(&rs, "/api/v1/exposures",
                fmt("{\"exposures\":[{\"experiment\":\"lo%d\",\"user_id\":\"ld%d\","
                    "\"variant\":\"a\",\"ts\":%lld,\"attributes\":{\"k%d\":\"v%d\"}}]}",
                    pair / 2, i, NOW - HOUR, pair % 2, i));
    }
}

static double lo_run(void *(*main_fn)(void *))
{
    atomic_store(&lo_next, 0);
    pthread_t th[LO_THREADS];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < LO_THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, main_fn, (void *)(uintptr_t)(300 + i)), 0);
    }
    for (int i = 0; i < LO_THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

/* A daemon's writer groups the requests waiting for it in one transaction. Each job used to
 * lock its users as it ran, so a group of one daemon (job 1 user x, job 2 user y) and one of
 * another (y, then x) waited for each other until PostgreSQL's deadlock_timeout (1 s by
 * default, 100 ms on the test cluster) rolled one back: the 300 batches below had 70
 * deadlocks and took 6.4 s (0.3-0.9 s now; the reviewer's 600 took 145 s through 3 daemons
 * at 1 s, 0.9 s through one). Likewise the locks of dimensions whose new values jobs of two
 * groups registered in opposite orders: 28-39 deadlocks in the 360 exposures below. Now a
 * group locks all its jobs' users in one statement, in one order, and takes anything later
 * only where free: no deadlock at all. */
static void test_lock_order(void **state)
{
    (void)state;
    if (skipped) {
        skip();
    }
    post_ok(P[0].port, P[0].admin_key, "POST", "/api/v1/metrics",
            "{\"key\":\"lo_n\",\"event\":\"lo_ev\",\"type\":\"count\",\"window_hours\":null}", 201);
    post_ok(P[0].port, P[0].admin_key, "POST", "/api/v1/experiments",
            "{\"key\":\"lo\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"metrics\":"
            "[\"lo_n\"]}",
            201);
    post_ok(P[0].port, P[0].admin_key, "POST", "/api/v1/experiments/lo/start", NULL, 200);
    for (int e = 0; e < LO_DIMS / 2; e++) {
        post_ok(P[0].port, P[0].admin_key, "POST", "/api/v1/experiments",
                fmt("{\"key\":\"lo%d\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                    "\"dimensions\":[\"k0\",\"k1\"]}",
                    e),
                201);
        post_ok(P[0].port, P[0].admin_key, "POST", fmt("/api/v1/experiments/lo%d/start", e), NULL,
                200);
    }
    /* the definitions have reached every daemon (its snapshot checks the exposures below) */
    reach_all("lo", "qa", "{}", "hashed");
    for (int e = 0; e < LO_DIMS / 2; e++) {
        char key[16];
        snprintf(key, sizeof(key), "lo%d", e);
        reach_all(key, "qa", "{}", "hashed");
    }
    double d0 = metric_sum("bunsen_pg_deadlocks_total");
    double r0 = metric_sum("bunsen_pg_lock_refusals_total");
    atomic_store(&lo_bad, 0);
    double t_users = lo_run(lo_users_main);
    double d1 = metric_sum("bunsen_pg_deadlocks_total");
    double t_dims = lo_run(lo_dims_main);
    double d2 = metric_sum("bunsen_pg_deadlocks_total");
    double r2 = metric_sum("bunsen_pg_lock_refusals_total");
    fprintf(stderr,
            "# %d batches of %d items over %d users through %d daemons in %.2f s, %.0f "
            "deadlocks; %d exposures registering dimension values in %.2f s, %.0f deadlocks; "
            "%.0f writes put off to a later group\n",
            LO_BATCHES, LO_PER, LO_HOT, NP, t_users, d1 - d0, LO_DIM_REQS, t_dims, d2 - d1,
            r2 - r0);
    assert_int_equal(atomic_load(&lo_bad), 0);
    assert_int_equal((long long)(d1 - d0), 0);
    assert_int_equal((long long)(d2 - d1), 0);
    /* nothing lost or counted twice: the roll-ups match the raw rows */
    long long users =
        daemon_db_int(&P[0], "SELECT COUNT(*) FROM exposures WHERE experiment = 'lo'", 0);
    assert_int_equal(
        daemon_db_int(&P[0], "SELECT SUM(n) FROM metric_stats WHERE experiment = 'lo'", 0), users);
    assert_int_equal(
        daemon_db_int(&P[0], "SELECT SUM(users) FROM exposure_stats WHERE experiment = 'lo'", 0),
        users);
    assert_int_equal(
        daemon_db_int(&P[0], "SELECT SUM(s) FROM metric_stats WHERE experiment = 'lo'", 0),
        daemon_db_int(&P[0],
                      "SELECT COUNT(*) FROM exposures x JOIN events e ON e.user_id = "
                      "x.user_id AND e.event = 'lo_ev' AND e.ts >= x.ts WHERE "
                      "x.experiment = 'lo'",
                      0));
    assert_int_equal(daemon_db_int(&P[0], "SELECT COUNT(*) FROM events WHERE event = 'lo_ev'", 0),
                     LO_BATCHES / 2 * LO_PER);
    assert_int_equal(daemon_db_int(&P[0],
                                   "SELECT COUNT(*) FROM dimension_values WHERE experiment "
                                   "LIKE 'lo_'",
                                   0),
                     LO_DIM_REQS);
}

/* ---- daemons started at once on an empty database ---- */

#define START_ROUNDS  8
#define START_DAEMONS 4

struct starter {
    struct daemon *d;
    pthread_barrier_t *go;
    int rc;
};

static void *starter_main(void *arg)
{
    struct starter *st = arg;
    pthread_barrier_wait(st->go);
    st->rc = daemon_restart(st->d, NULL);
    return NULL;
}

/* Every daemon opening an empty database creates the migrations' table first. Two sessions
 * running CREATE TABLE IF NOT EXISTS at once both find no table and the second fails
 * (duplicate key in pg_type_typname_nsp_index): with that outside the migrations' lock, one
 * or two of 3 daemons started at once exited in 5 of 8 rounds. */
static void test_start_at_once(void **state)
{
    (void)state;
    if (skipped) {
        skip();
    }
    for (int round = 0; round < START_ROUNDS; round++) {
        struct daemon d[START_DAEMONS];
        for (int i = 0; i < START_DAEMONS; i++) {
            assert_int_equal(daemon_prepare_db(&d[i], i == 0 ? "fresh" : d[0].db_url), 0);
        }
        pthread_barrier_t go;
        assert_int_equal(pthread_barrier_init(&go, NULL, START_DAEMONS), 0);
        struct starter st[START_DAEMONS];
        pthread_t th[START_DAEMONS];
        for (int i = 0; i < START_DAEMONS; i++) {
            st[i] = (struct starter){.d = &d[i], .go = &go, .rc = -1};
            assert_int_equal(pthread_create(&th[i], NULL, starter_main, &st[i]), 0);
        }
        int started = 0;
        for (int i = 0; i < START_DAEMONS; i++) {
            pthread_join(th[i], NULL);
            started += st[i].rc == 0;
        }
        pthread_barrier_destroy(&go);
        for (int i = 0; i < START_DAEMONS; i++) {
            FILE *f = st[i].rc != 0 ? fopen(fmt("%s/stderr.log", d[i].dir), "r") : NULL;
            char line[512];
            while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
                fprintf(stderr, "# round %d, daemon %d: %s", round, i, line);
            }
            if (f != NULL) {
                fclose(f);
            }
        }
        for (int i = START_DAEMONS - 1; i >= 0; i--) { /* d[0] drops the database */
            if (d[i].pid > 0) {
                daemon_stop(&d[i]);
            }
            daemon_cleanup(&d[i]);
        }
        if (started != START_DAEMONS) {
            fail_msg("round %d: %d of %d daemons started at once on an empty database started",
                     round, started, START_DAEMONS);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]); /* e.g. test_start_at_once */
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_definitions_reach_every_daemon),
        cmocka_unit_test(test_payload_date_every_daemon),
        cmocka_unit_test(test_edits_reach_every_daemon),
        cmocka_unit_test(test_mixed_load),
        cmocka_unit_test(test_kill_rounds),
        cmocka_unit_test(test_namespace_starts_race),
        cmocka_unit_test(test_lock_order),
        cmocka_unit_test(test_start_at_once),
    };
    return cmocka_run_group_tests_name("api_multi_daemon", tests, setup, teardown);
}
