/*
 * store_fixture.h - the shared set-up of the store unit tests (tests/unit/test_store_*.c, one
 * executable per concern, each linked with store_fixture.o).
 *
 * The backend under test: a fresh SQLite file per test by default; when BUNSEN_TEST_DATABASE
 * holds a postgres:// URL (tests/pg/api.sh), a fresh PostgreSQL database created on that
 * server and dropped after. A test file's main() calls backend_detect() first and runs its
 * tests as one cmocka group with setup/teardown (a temporary directory for the SQLite files).
 *
 * Besides: the jobs and batches several files submit (a key-inserting job, a gate holding
 * the writer, exposure/event batches under two rules of experiment "sx").
 */
#ifndef BUNSEN_TEST_STORE_FIXTURE_H
#define BUNSEN_TEST_STORE_FIXTURE_H

#include "unit.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bunsen/err.h"
#include "bunsen/migrations.h"
#include "bunsen/store.h"
#include "../../src/store/store_int.h" /* struct store_tx and the backend's ops: tests open
                                          * transactions and reach under store.h */

/* ---- the backend under test ---- */

extern char db[128];       /* the SQLite file of the current test */
extern bool on_pg;         /* BUNSEN_TEST_DATABASE names a PostgreSQL server */
extern char url[512 + 64]; /* what store_open() is given: db or the current database's URL */

/* Read BUNSEN_TEST_DATABASE; main() calls it before running the group. */
void backend_detect(void);
/* Run one statement over its own connection to conninfo. 0, or -1 with the reason printed. */
int server_exec(const char *conninfo, const char *sql);
/* The migrations the backend under test applies; *n their count. */
const struct migration *backend_migrations(int *n);
/* cmocka group set-up and tear-down: the temporary directory, the current test database. */
int setup(void **state);
int teardown(void **state);
/* The store on a fresh, empty database of the backend under test (url names it); the
 * caller closes it. */
struct store *open_fresh(void);
/* open_fresh with the schema migrated */
struct store *open_migrated(void);
/* open_migrated with the writer started (store_writer_start, queue_max pending jobs), asserted;
 * the caller stops it and closes the store. */
struct store *open_writing(int queue_max);

/* A transaction of s's backend (exclusive: a definition change's), asserted to begin; and its
 * commit, asserted. */
void tx_open(struct store *s, struct store_tx *tx, bool exclusive);
void tx_done(struct store_tx *tx);
/* An active admin key id in tx. */
void insert_admin(struct store_tx *tx, const char *id, int64_t created_at);
/* A rule (calloc'd, the rest zero: set start_ts, stop_ts, dims after) of experiment whose
 * metric counts event by type; store_rules_new(rule, 1) takes it. */
struct store_rule *one_rule(const char *experiment, const char *metric, const char *event,
                            enum store_rule_type type);

/* ---- bounded waits: a hang detector only ---- */

#define WAIT_HANG_S 60

/* One poll of a bounded wait: sleeps 1 ms and says whether less than WAIT_HANG_S seconds have
 * passed since *since (monotonic milliseconds; 0 on the first call: set to now). Any thread:
 * a job's apply() or done() on the writer's threads loops
 * `int64_t since = 0; while (!cond && wait_more(&since)) {}` and gives up rather than hang
 * (it must not fail the test: cmocka's fail_msg belongs to the test's thread). */
bool wait_more(int64_t *since);

/* Poll cond (an expression, evaluated again each millisecond) until it holds; after
 * WAIT_HANG_S seconds fail the test with "waited 60 s for <what>". The test's thread only. */
#define WAIT_FOR(cond, what)                                                                       \
    do {                                                                                           \
        int64_t wait_since_ = 0;                                                                   \
        while (!(cond) && wait_more(&wait_since_)) {                                               \
        }                                                                                          \
        if (!(cond)) {                                                                             \
            fail_msg("waited %d s for %s", WAIT_HANG_S, (what));                                   \
        }                                                                                          \
    } while (0)

/* Whether s's writer has taken every job submitted (its queue is empty). */
bool writer_queue_empty(struct store *s);

/* ---- a job inserting one key (make_kjob: key_<i>; fail: fails after the write) ---- */

struct kjob {
    struct store_job job;
    struct store_key key;
    uint8_t hash[32];
    bool fail;
    int done_rc;
    enum err_code done_code; /* err->code given to done() when done_rc != 0 */
    bool done;
};

extern int kjob_applied; /* apply() calls (the writer thread's; read after the jobs are done) */
int kjob_apply(struct store_tx *tx, void *arg, struct err *err);
void make_kjob(struct kjob *k, int i, bool fail);
/* Wait until k's done() has run (WAIT_HANG_S: a hang detector only, failing the test). */
void kjob_wait(struct kjob *k);
/* kjob_apply for store_write_sync (arg: a struct kjob) */
int sync_apply(struct store_tx *tx, void *arg, struct err *err);

/* ---- a gate holding the writer ---- */

extern atomic_bool gate_open;
/* apply(): waits until gate_open (gives up after WAIT_HANG_S, failing the job); done(): counts
 * a success into the atomic_int arg */
int gate_apply(struct store_tx *tx, void *arg, struct err *err);
void gate_done(void *arg, int rc, const struct err *err);
/* Close the gate and submit gate (a gate_apply job counting into *gated), then wait until
 * the writer holds it alone: jobs submitted next queue behind it until gate_open is set. */
void hold_writer(struct store *s, struct store_job *gate, atomic_int *gated);

/* ---- exposures and events of experiment "sx": metrics rev (sum) and buy (binomial) ---- */

#define SL_DAY 86400000LL

struct sl_batch {
    const struct store_rules *rules;
    struct store_exposure *x;
    struct store_event *e;
    size_t nx, ne;
    bool finished;
};

/* Ingest b's exposures, then its events (arg: a struct sl_batch). */
int sl_apply(struct store_tx *tx, void *arg, struct err *err);
/* The rules of "sx", rev capped at cap (0: none), with dimensions; store_rules_free them. */
struct store_rules *sl_rules(double cap);
/* Fails the test unless got is want within 1e-9 relative; what names the sum. */
void sl_close(double got, double want, const char *what);
/* A rebuild of "sx" under b's rules: started, one chunk (b->finished at the end), or all at
 * once in one transaction. */
int sl_rebuild_apply(struct store_tx *tx, void *arg, struct err *err);
int sl_step_apply(struct store_tx *tx, void *arg, struct err *err);
int sl_full_apply(struct store_tx *tx, void *arg, struct err *err);

/* Events ingested in one request; c: its counts. */
struct ix_job {
    const struct store_rules *rules;
    struct store_event *e;
    size_t n;
    struct store_ingest_counts c;
};

int ix_apply(struct store_tx *tx, void *arg, struct err *err);

#endif
