/* The shared set-up of the store unit tests (tests/unit/test_store_*.c): the backend under
 * test, a fresh database per test, and the jobs and batches several of those files use.
 *
 * Both backends: by default each test opens the store on a fresh SQLite file; when
 * BUNSEN_TEST_DATABASE holds a postgres:// URL (tests/pg/api.sh: the maintenance database
 * of a throwaway cluster), on a fresh PostgreSQL database created on that server (and
 * dropped after). Entered by the test's thread, and by the writer thread through the jobs'
 * apply() and done(). */
#include "store_fixture.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bunsen/auth.h"
#include "bunsen/migrations.h"
#include "bunsen/store.h"

static char dir[64];
char db[128]; /* the SQLite file of the current test */

/* ---- the backend under test ---- */

bool on_pg;                     /* BUNSEN_TEST_DATABASE names a PostgreSQL server */
static char pg_base[512];       /* its URL (the maintenance database) */
static char pg_name[64];        /* the database of the current test, "" when none */
char url[sizeof(pg_base) + 64]; /* what store_open() is given: db or the URL */

void backend_detect(void)
{
    const char *u = getenv("BUNSEN_TEST_DATABASE");
    on_pg =
        u != NULL && (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0);
    if (on_pg) {
        snprintf(pg_base, sizeof(pg_base), "%s", u);
    }
}

/* Run one statement over its own connection to conninfo. 0, or -1 with the reason printed. */
int server_exec(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        ExecStatusType st = PQresultStatus(r);
        rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
        if (rc != 0) {
            fprintf(stderr, "test_store: %s: %s", sql, PQresultErrorMessage(r));
        }
        PQclear(r);
    } else {
        fprintf(stderr, "test_store: cannot reach %s: %s", conninfo, PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

/* Drop the current test's PostgreSQL database (its sessions too: a failed test may have
 * left its store open). */
static void pg_drop_current(void)
{
    if (pg_name[0] != '\0') {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_name);
        server_exec(pg_base, sql);
        pg_name[0] = '\0';
    }
}

/* A new empty database on the server; url = pg_base with its database name replaced (the
 * query string kept, as tests/api/harness.c does). */
static int pg_create_fresh(void)
{
    static int seq;
    pg_drop_current();
    char name[64], sql[128];
    snprintf(name, sizeof(name), "bunsen_unit_%d_%d", (int)getpid(), ++seq);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    if (server_exec(pg_base, sql) != 0) {
        return -1;
    }
    snprintf(pg_name, sizeof(pg_name), "%s", name);
    const char *hosts = strstr(pg_base, "://") + 3;
    int keep = (int)(hosts - pg_base + (ptrdiff_t)strcspn(hosts, "/?")); /* through host:port */
    const char *query = strchr(hosts, '?');
    snprintf(url, sizeof(url), "%.*s/%s%s", keep, pg_base, name, query != NULL ? query : "");
    return 0;
}

/* The migrations the backend under test applies. */
const struct migration *backend_migrations(int *n)
{
    *n = on_pg ? bunsen_migrations_pg_count : bunsen_migrations_count;
    return on_pg ? bunsen_migrations_pg : bunsen_migrations;
}

int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/bunsen-unit-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(db, sizeof(db), "%s/t.db", dir);
    /* on PostgreSQL the server must answer, or every test would fail the same way */
    return on_pg ? server_exec(pg_base, "SELECT 1") : 0;
}

int teardown(void **state)
{
    (void)state;
    if (on_pg) {
        pg_drop_current();
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The store on a fresh, empty database of the backend under test (url names it). */
struct store *open_fresh(void)
{
    if (on_pg) {
        assert_int_equal(pg_create_fresh(), 0);
    } else {
        unlink(db);
        char wal[160];
        snprintf(wal, sizeof(wal), "%s-wal", db);
        unlink(wal);
        snprintf(wal, sizeof(wal), "%s-shm", db);
        unlink(wal);
        snprintf(url, sizeof(url), "%s", db);
    }
    struct store *s = NULL;
    struct err err;
    assert_int_equal(store_open(url, &s, &err), 0);
    assert_string_equal(store_backend_name(s), on_pg ? "postgres" : "sqlite");
    return s;
}

/* open_fresh with the schema migrated */
struct store *open_migrated(void)
{
    struct store *s = open_fresh();
    struct err err;
    assert_int_equal(store_migrate(s, NULL, &err), 0);
    return s;
}

struct store_rule *one_rule(const char *experiment, const char *metric, const char *event,
                            enum store_rule_type type)
{
    struct store_rule *rl = calloc(1, sizeof(*rl));
    assert_non_null(rl);
    snprintf(rl->experiment, sizeof(rl->experiment), "%s", experiment);
    snprintf(rl->metric, sizeof(rl->metric), "%s", metric);
    snprintf(rl->event, sizeof(rl->event), "%s", event);
    rl->type = type;
    return rl;
}

struct store *open_writing(int queue_max)
{
    struct store *s = open_migrated();
    struct err err;
    assert_int_equal(store_writer_start(s, queue_max, &err), 0);
    return s;
}

/* ---- bounded waits ---- */

bool wait_more(int64_t *since)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (*since == 0) {
        *since = now;
    }
    if (now - *since >= (int64_t)WAIT_HANG_S * 1000) {
        return false;
    }
    usleep(1000);
    return true;
}

bool writer_queue_empty(struct store *s)
{
    struct store_writer_stats st;
    store_writer_get_stats(s, &st);
    return st.queue_depth == 0;
}

int kjob_applied; /* apply() calls (the writer thread's; read after the jobs are done) */

int kjob_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct kjob *k = arg;
    __atomic_add_fetch(&kjob_applied, 1, __ATOMIC_RELAXED);
    if (store_key_insert(tx, &k->key, k->hash, err) != 0) {
        return -1;
    }
    if (k->fail) {
        return err_set(err, ERR_INVALID, "x", "failing on purpose after a write");
    }
    return 0;
}

static void kjob_done(void *arg, int rc, const struct err *err)
{
    struct kjob *k = arg;
    k->done_rc = rc;
    k->done_code = rc != 0 ? err->code : ERR_OK;
    __atomic_store_n(&k->done, true, __ATOMIC_RELEASE);
}

void make_kjob(struct kjob *k, int i, bool fail)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->key.id, sizeof(k->key.id), "key_%d", i);
    snprintf(k->key.name, sizeof(k->key.name), "n%d", i);
    snprintf(k->key.role, sizeof(k->key.role), "sdk");
    snprintf(k->key.prefix, sizeof(k->key.prefix), "p");
    k->key.created_at = i;
    auth_key_hash(k->key.id, strlen(k->key.id), k->hash);
    k->fail = fail;
    k->job.apply = kjob_apply;
    k->job.done = kjob_done;
    k->job.arg = k;
}

void kjob_wait(struct kjob *k)
{
    int64_t since = 0;
    while (!__atomic_load_n(&k->done, __ATOMIC_ACQUIRE) && wait_more(&since)) {
    }
    if (!__atomic_load_n(&k->done, __ATOMIC_ACQUIRE)) {
        fail_msg("job %s: done() not called within %d s", k->key.id, WAIT_HANG_S);
    }
}

int sync_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct kjob *k = arg;
    return kjob_apply(tx, k, err);
}

atomic_bool gate_open;

int gate_apply(struct store_tx *tx, void *arg, struct err *err)
{
    (void)tx;
    (void)arg;
    int64_t since = 0;
    while (!atomic_load(&gate_open) && wait_more(&since)) {
    }
    if (!atomic_load(&gate_open)) {
        return err_set(err, ERR_INTERNAL, "", "gate: not opened within %d s", WAIT_HANG_S);
    }
    return 0;
}

void gate_done(void *arg, int rc, const struct err *err)
{
    (void)err;
    atomic_int *n = arg;
    if (rc == 0) {
        atomic_fetch_add(n, 1);
    }
}

/* Close the gate and submit gate (a gate_apply job counting into *gated), then wait until
 * the writer holds it alone: jobs submitted next queue behind it until gate_open is set. */
void hold_writer(struct store *s, struct store_job *gate, atomic_int *gated)
{
    struct err err;
    atomic_store(&gate_open, false);
    atomic_init(gated, 0);
    *gate = (struct store_job){.apply = gate_apply, .done = gate_done, .arg = gated};
    assert_int_equal(store_submit(s, gate, &err), 0);
    WAIT_FOR(writer_queue_empty(s), "the writer to take the gate");
}

void tx_open(struct store *s, struct store_tx *tx, bool exclusive)
{
    struct err err;
    *tx = (struct store_tx){.store = s};
    assert_int_equal(s->ops->tx_begin(s, tx, exclusive, &err), 0);
}

void tx_done(struct store_tx *tx)
{
    struct err err;
    assert_int_equal(tx->store->ops->tx_commit(tx, &err), 0);
}

/* An active admin key id in tx. */
void insert_admin(struct store_tx *tx, const char *id, int64_t created_at)
{
    struct err err;
    struct store_key k = {.created_at = created_at};
    snprintf(k.id, sizeof(k.id), "%s", id);
    snprintf(k.name, sizeof(k.name), "admin %s", id);
    snprintf(k.role, sizeof(k.role), "admin");
    snprintf(k.prefix, sizeof(k.prefix), "p");
    uint8_t hash[32];
    auth_key_hash(k.id, strlen(k.id), hash);
    assert_int_equal(store_key_insert(tx, &k, hash, &err), 0);
}

int sl_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct sl_batch *b = arg;
    struct store_ingest_counts c = {0};
    if (b->nx > 0 && store_ingest_exposures(tx, b->rules, b->x, b->nx, &c, err) != 0) {
        return -1;
    }
    return b->ne > 0 ? store_ingest_events(tx, b->rules, b->e, b->ne, &c, err) : 0;
}

struct store_rules *sl_rules(double cap)
{
    struct store_rule *r = calloc(2, sizeof(*r));
    snprintf(r[0].experiment, sizeof(r[0].experiment), "sx");
    snprintf(r[0].metric, sizeof(r[0].metric), "rev");
    snprintf(r[0].event, sizeof(r[0].event), "rev");
    r[0].type = RULE_SUM;
    r[0].lookback_ms = 2 * SL_DAY;
    r[0].has_cap = cap > 0;
    r[0].cap = cap;
    r[0].dims = true; /* the experiment lists dimensions */
    r[1] = r[0];
    snprintf(r[1].metric, sizeof(r[1].metric), "buy");
    snprintf(r[1].event, sizeof(r[1].event), "buy");
    r[1].type = RULE_BINOMIAL;
    r[1].has_cap = false;
    return store_rules_new(r, 2);
}

void sl_close(double got, double want, const char *what)
{
    if (!(fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want)))) {
        fail_msg("%s: got %.17g want %.17g", what, got, want);
    }
}

int sl_rebuild_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct sl_batch *b = arg;
    size_t n = 0;
    const struct store_rule *const *rs = store_rules_for_experiment(b->rules, "sx", &n);
    return store_rebuild_start(tx, "sx", 0, rs, n, err);
}

int sl_step_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct sl_batch *b = arg;
    size_t n = 0;
    bool finished = false;
    const struct store_rule *const *rs = store_rules_for_experiment(b->rules, "sx", &n);
    if (store_rebuild_step(tx, "sx", 0, rs, n, &finished, err) != 0) {
        return -1;
    }
    b->finished = finished;
    return 0;
}

int sl_full_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct sl_batch *b = arg;
    size_t n = 0;
    const struct store_rule *const *rs = store_rules_for_experiment(b->rules, "sx", &n);
    return store_rollup_rebuild(tx, "sx", 0, rs, n, err);
}

int ix_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct ix_job *j = arg;
    memset(&j->c, 0, sizeof(j->c));
    return store_ingest_events(tx, j->rules, j->e, j->n, &j->c, err);
}
