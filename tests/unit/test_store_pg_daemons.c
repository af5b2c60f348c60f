/* Store unit tests: two daemons on one PostgreSQL database (each skips on SQLite), as two
 * stores on the test's database. A rebuild chunk beside the other's ingestion, revoking the
 * last two admin keys at once, the bootstrap admin created once, audit entries committed in
 * id order, the cap on a dimension's values held for the database.
 *
 * PostgreSQL only: tests/pg/api.sh runs them on a fresh database of a throwaway cluster
 * (BUNSEN_TEST_DATABASE, store_fixture.h); on SQLite each test skips. */
#include "store_fixture.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bunsen/store.h"

/* ---- rebuild chunks beside another daemon's ingestion (pg/rebuild.c pg_rebuild_lock) ---- */

/* A second store on the current test's database: another daemon, for the race tests. */
static struct store *open_second(void)
{
    struct store *b = NULL;
    struct err err;
    assert_int_equal(store_open(url, &b, &err), 0);
    return b;
}

static long long pg_count(const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* Waits until a session of the test's database waits for a lock (pg_stat_activity): the other
 * daemon's transaction has got as far as the lock the caller's open transaction holds. No time
 * decides it; the bound is a hang detector (60 s), and the test fails when it is reached. */
static void wait_for_lock_waiter(void)
{
    long long waiting = 0;
    for (int i = 0; i < 3000 && waiting < 1; i++) {
        waiting = pg_count("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND wait_event_type = 'Lock'");
        if (waiting < 1) {
            usleep(20000);
        }
    }
    assert_true(waiting >= 1);
}

struct chunk_run {
    struct store *s;
    const struct store_rule *const *rules;
    size_t n;
    atomic_bool finished;
};

/* Daemon A's rebuilder: chunks until the rebuild ends. */
static void *chunks_main(void *arg)
{
    struct chunk_run *cr = arg;
    struct err err;
    bool fin = false;
    for (int i = 0; i < 100 && !fin; i++) {
        struct store_tx tx;
        tx_open(cr->s, &tx, false);
        assert_int_equal(store_rebuild_step(&tx, "e", 0, cr->rules, cr->n, &fin, &err), 0);
        tx_done(&tx);
    }
    atomic_store(&cr->finished, fin);
    return NULL;
}

/* Daemon B stores a new user's first exposure inside the range of daemon A's next chunk and
 * commits only after that chunk began: the chunk must wait for it and count the user (it
 * was once left behind the cursor, counted nowhere: 10 users of 11 in the roll-ups). */
static void test_pg_chunk_beside_ingestion(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *a = open_migrated(), *b = open_second();
    struct err err;
    store_rebuild_configure(a, 4, 0); /* chunks of 4 users */
    struct store_rule *rl = one_rule("e", "m", "buy", RULE_COUNT);
    struct store_rules *rules = store_rules_new(rl, 1);
    size_t nr = 0;
    const struct store_rule *const *rs = store_rules_for_experiment(rules, "e", &nr);
    char ids[10][16];
    struct store_exposure xs[10];
    for (int i = 0; i < 10; i++) {
        snprintf(ids[i], sizeof(ids[i]), "u%02d", i);
        xs[i] = (struct store_exposure){"e", ids[i], i % 2 ? "b" : "a", 1000 + i, NULL};
    }
    struct store_tx tx, tb;
    struct store_ingest_counts cnt = {0};
    tx_open(a, &tx, false);
    assert_int_equal(store_ingest_exposures(&tx, rules, xs, 10, &cnt, &err), 0);
    tx_done(&tx);
    tx_open(a, &tx, true); /* a definition change records the rebuild */
    assert_int_equal(store_rebuild_start(&tx, "e", 0, rs, nr, &err), 0);
    tx_done(&tx);
    /* B: u01x, after the cursor (""), inside the first chunk's range, not committed */
    tx_open(b, &tb, false);
    struct store_exposure nx = {"e", "u01x", "a", 5000, NULL};
    memset(&cnt, 0, sizeof(cnt));
    assert_int_equal(store_ingest_exposures(&tb, rules, &nx, 1, &cnt, &err), 0);
    struct chunk_run cr = {.s = a, .rules = rs, .n = nr};
    atomic_init(&cr.finished, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, chunks_main, &cr), 0);
    wait_for_lock_waiter(); /* A's first chunk has begun and waits for B */
    tx_done(&tb);
    pthread_join(th, NULL);
    assert_true(atomic_load(&cr.finished));
    assert_int_equal(pg_count("SELECT count(*) FROM rollup_rebuilds"), 0);
    assert_int_equal(pg_count("SELECT count(*) FROM exposures WHERE experiment = 'e'"), 11);
    assert_int_equal(
        pg_count("SELECT COALESCE(sum(users), 0) FROM exposure_stats WHERE experiment = 'e'"), 11);
    assert_int_equal(pg_count("SELECT COALESCE(sum(n), 0) FROM metric_stats WHERE experiment = "
                              "'e' AND metric = 'm'"),
                     11);
    store_rules_free(rules);
    store_close(b);
    store_close(a);
}

/* Another daemon's transaction, on a thread: opens one on s, runs body, commits, sets done.
 * other_start returns once it waits for a lock (in these tests, the caller's open
 * transaction's); other_join waits for its commit. */
struct other_tx {
    struct store *s;
    void (*body)(struct store_tx *tx, void *arg);
    void *arg;
    atomic_bool done;
    pthread_t th;
};

static void *other_main(void *p)
{
    struct other_tx *o = p;
    struct store_tx tx;
    tx_open(o->s, &tx, false);
    o->body(&tx, o->arg);
    tx_done(&tx);
    atomic_store(&o->done, true);
    return NULL;
}

static void other_start(struct other_tx *o, struct store *s,
                        void (*body)(struct store_tx *tx, void *arg), void *arg)
{
    o->s = s;
    o->body = body;
    o->arg = arg;
    atomic_init(&o->done, false);
    assert_int_equal(pthread_create(&o->th, NULL, other_main, o), 0);
    wait_for_lock_waiter();
}

static void other_join(struct other_tx *o)
{
    pthread_join(o->th, NULL);
}

/* Two daemons revoking the last two admin keys at once: the second revocation waits for the
 * first and its count of the admins left sees it (with both counts at 1, both revocations
 * once committed and no admin was left; the API refuses the last one with 409). */
static void revoke_body(struct store_tx *tx, void *arg)
{
    struct err err;
    struct store_key before;
    assert_int_equal(store_key_revoke(tx, "adm_2", 2, &before, &err), 0);
    assert_int_equal(store_key_count_admins(NULL, tx, arg, &err), 0);
}

static void test_pg_revoke_last_admins(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *a = open_migrated(), *b = open_second();
    struct err err;
    struct store_tx tx;
    tx_open(a, &tx, false);
    insert_admin(&tx, "adm_1", 1);
    insert_admin(&tx, "adm_2", 2);
    tx_done(&tx);
    struct store_key before;
    int left = -1;
    tx_open(a, &tx, false);
    assert_int_equal(store_key_revoke(&tx, "adm_1", 1, &before, &err), 0);
    assert_int_equal(store_key_count_admins(NULL, &tx, &left, &err), 0);
    assert_int_equal(left, 1);
    int b_left = -1;
    struct other_tx o;
    other_start(&o, b, revoke_body, &b_left); /* b's revocation waits for a's */
    tx_done(&tx);
    other_join(&o);
    assert_int_equal(b_left, 0);
    store_close(b);
    store_close(a);
}

/* Two daemons starting on an empty database: each decides in the transaction that would
 * create the bootstrap admin key whether there is an admin key (cli_create_key first_admin).
 * The second's count waits for the first's transaction and sees its key (both counted 0 and
 * two bootstrap keys were created). */
static void count_admins_body(struct store_tx *tx, void *arg)
{
    struct err err;
    assert_int_equal(store_key_count_admins(NULL, tx, arg, &err), 0);
}

static void test_pg_first_admin_once(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *a = open_migrated(), *b = open_second();
    struct err err;
    struct store_tx tx;
    int admins = -1;
    tx_open(a, &tx, false);
    assert_int_equal(store_key_count_admins(NULL, &tx, &admins, &err), 0);
    assert_int_equal(admins, 0);
    insert_admin(&tx, "boot_a", 1);
    int b_admins = -1;
    struct other_tx o;
    other_start(&o, b, count_admins_body, &b_admins); /* b's count waits for a's key */
    tx_done(&tx);
    other_join(&o);
    assert_int_equal(b_admins, 1);
    store_close(b);
    store_close(a);
}

/* Audited writes of two daemons commit in the order of their audit ids: the second append
 * waits for the first's commit. Before, the later id could commit first, and a reader paging
 * down with before= at that moment went past the earlier id, which then committed behind it:
 * an entry the reader never saw. */
static void audit_body(struct store_tx *tx, void *arg)
{
    struct err err;
    struct store_audit e = {.actor_id = arg,
                            .actor_name = arg,
                            .action = "key.create",
                            .target_type = "key",
                            .target = arg};
    assert_int_equal(store_audit_append(tx, &e, &err), 0);
}

struct audit_seen {
    int n;
    char targets[4][8];
};

static void seen_emit(void *ctx, const struct store_audit *e)
{
    struct audit_seen *as = ctx;
    if (as->n < 4) {
        snprintf(as->targets[as->n], sizeof(as->targets[0]), "%s", e->target);
    }
    as->n++;
}

static void test_pg_audit_commit_order(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *a = open_migrated(), *b = open_second();
    struct err err;
    struct store_tx tx;
    tx_open(a, &tx, false);
    char ka[] = "k_a", kb[] = "k_b";
    audit_body(&tx, ka);
    struct other_tx o;
    other_start(&o, b, audit_body, kb); /* b's append waits for a's commit */
    struct audit_seen seen = {0};
    assert_int_equal(store_audit_list(b, 0, NULL, NULL, 10, 0, seen_emit, &seen, &err), 0);
    assert_false(atomic_load(&o.done));
    assert_int_equal(seen.n, 0); /* nothing committed above a's id while a's is not */
    tx_done(&tx);
    other_join(&o);
    seen = (struct audit_seen){0};
    assert_int_equal(store_audit_list(b, 0, NULL, NULL, 10, 0, seen_emit, &seen, &err), 0);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.targets[0], "k_b"); /* newest first */
    assert_string_equal(seen.targets[1], "k_a");
    store_close(b);
    store_close(a);
}

/* Two daemons each record 80 new values of one dimension at once: the cap of 100 values per
 * experiment and dimension holds for the database (the second counts the first's values
 * under their lock), not per daemon (160 values were once recorded). */
struct dims_run {
    struct store *s;
    const struct store_rules *rules;
    int from;
};

static void dims_ingest(struct store_tx *tx, const struct store_rules *rules, int from)
{
    enum { N = 80 };
    char ids[N][16];
    char *enc[N];
    struct store_exposure xs[N];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "d%03d", from + i);
        enc[i] = NULL;
        store_dims_append(&enc[i], "country", ids[i]);
        xs[i] = (struct store_exposure){"dx", ids[i], "a", 1000, enc[i]};
    }
    struct store_ingest_counts cnt = {0};
    struct err err;
    assert_int_equal(store_ingest_exposures(tx, rules, xs, N, &cnt, &err), 0);
    for (int i = 0; i < N; i++) {
        free(enc[i]);
    }
}

static void *dims_main(void *arg)
{
    struct dims_run *dr = arg;
    struct store_tx tx;
    tx_open(dr->s, &tx, false);
    dims_ingest(&tx, dr->rules, dr->from);
    tx_done(&tx);
    return NULL;
}

static void test_pg_dimension_cap_shared(void **state)
{
    (void)state;
    if (!on_pg) {
        skip();
    }
    struct store *a = open_migrated(), *b = open_second();
    struct store_rule *rl = one_rule("dx", "m", "buy", RULE_COUNT);
    rl->dims = true;
    struct store_rules *rules = store_rules_new(rl, 1);
    struct store_tx tx;
    tx_open(a, &tx, false);
    dims_ingest(&tx, rules, 0);
    struct dims_run dr = {.s = b, .rules = rules, .from = 100};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, dims_main, &dr), 0);
    wait_for_lock_waiter(); /* b's transaction has begun and waits to register its values */
    tx_done(&tx);
    pthread_join(th, NULL);
    assert_int_equal(pg_count("SELECT count(*) FROM dimension_values WHERE experiment = 'dx' "
                              "AND dimension = 'country'"),
                     STORE_DIM_VALUES_MAX);
    assert_int_equal(pg_count("SELECT count(*) FROM exposure_dims WHERE experiment = 'dx' AND "
                              "value = '" STORE_DIM_OTHER "'"),
                     160 - STORE_DIM_VALUES_MAX);
    store_rules_free(rules);
    store_close(b);
    store_close(a);
}

int main(void)
{
    backend_detect();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_chunk_beside_ingestion),
        cmocka_unit_test(test_pg_revoke_last_admins),
        cmocka_unit_test(test_pg_first_admin_once),
        cmocka_unit_test(test_pg_audit_commit_order),
        cmocka_unit_test(test_pg_dimension_cap_shared),
    };
    return cmocka_run_group_tests_name(on_pg ? "store_pg_daemons (postgres)" : "store_pg_daemons",
                                       tests, setup, teardown);
}
