/* Store unit tests: opening and migrating a database. The database URL picks the backend;
 * every migration from empty, an idempotent re-run, refusal of a schema a newer bunsen
 * wrote; databases left by earlier versions (replayed migration by migration) keeping their
 * values across migrations 0008, 0012, 0013 and 0014.
 *
 * Both backends (store_fixture.h): a fresh SQLite file per test by default, a fresh PostgreSQL
 * database when BUNSEN_TEST_DATABASE names a server (tests/pg/api.sh). */
#include "store_fixture.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bunsen/migrations.h"
#include "bunsen/store.h"
#include "../../src/store/pg/pg_int.h" /* reloptions of the writer's connection */

/* The database URL picks its backend: a libpq key=value conninfo or a PostgreSQL URL in any
 * case goes to PostgreSQL, another scheme is refused, and none of them becomes a SQLite file
 * named after it (with its password) in the working directory, as they once did. */
static void test_database_urls(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        enum err_code code;
    } cases[] = {
        {"host=127.0.0.1 port=1 password=SECRETPW dbname=x connect_timeout=1", ERR_UNAVAILABLE},
        {"POSTGRES://u:SECRETPW@127.0.0.1:1/x?connect_timeout=1", ERR_UNAVAILABLE},
        {"PostgreSQL://u:SECRETPW@127.0.0.1:1/x?connect_timeout=1", ERR_UNAVAILABLE},
        {"mysql://u:SECRETPW@127.0.0.1/x", ERR_INVALID},
        {"  host=127.0.0.1 port=1 connect_timeout=1", ERR_UNAVAILABLE},
    };
    char tmp[] = "/tmp/bunsen-urls-XXXXXX", cwd[4096];
    assert_non_null(mkdtemp(tmp));
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmp), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct store *s = NULL;
        struct err err;
        err_clear(&err);
        assert_int_equal(store_open(cases[i].url, &s, &err), -1);
        assert_null(s);
        assert_int_equal(err.code, cases[i].code);
        assert_null(strstr(err.msg, "SECRETPW"));
        if (cases[i].code == ERR_UNAVAILABLE) {
            assert_non_null(strstr(err.msg, "PostgreSQL"));
        }
    }
    /* SQLite paths that merely contain '=' or a scheme's letters stay SQLite files */
    static const char *const files[][2] = {{"exp=2.db", "exp=2.db"}, {"SQLITE:up.db", "up.db"}};
    for (size_t i = 0; i < 2; i++) {
        struct store *s = NULL;
        struct err err;
        assert_int_equal(store_open(files[i][0], &s, &err), 0);
        assert_string_equal(store_backend_name(s), "sqlite");
        store_close(s);
        struct stat sb;
        assert_int_equal(stat(files[i][1], &sb), 0);
    }
    assert_int_equal(system("rm -f ./*.db ./*.db-wal ./*.db-shm"), 0);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rmdir(tmp), 0); /* empty: no other SQLite file was created */
}

static void test_migrate_from_empty(void **state)
{
    (void)state;
    struct store *s = open_fresh();
    struct err err;
    int v = -1, applied = -1, count = 0;
    const struct migration *m = backend_migrations(&count);
    assert_true(count > 0);
    assert_int_equal(store_schema_version(s, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(store_migrate(s, &applied, &err), 0);
    assert_int_equal(applied, count);
    assert_int_equal(store_schema_version(s, &v, &err), 0);
    assert_int_equal(v, m[count - 1].version);
    assert_int_equal(store_migrate(s, &applied, &err), 0);
    assert_int_equal(applied, 0);
    if (on_pg) { /* 0010: room for HOT updates of user values */
        PGresult *r =
            PQexec(pg_be(s)->writer->pg, "SELECT array_to_string(reloptions, ',') FROM pg_class "
                                         "WHERE oid = 'user_metrics'::regclass");
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(r, 0, 0), "fillfactor=80");
        PQclear(r);
    }
    store_close(s);
    /* migrations are numbered strictly increasing */
    for (int i = 1; i < count; i++) {
        assert_true(m[i].version > m[i - 1].version);
    }
}

/* Raw SQL on the database of the current test, in its backend's own terms. */
static void raw_exec(const char *sql)
{
    if (on_pg) {
        assert_int_equal(server_exec(url, sql), 0);
        return;
    }
    sqlite3 *h;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "test_store: %s: %s\n", sql, msg ? msg : sqlite3_errstr(rc));
    }
    sqlite3_free(msg);
    sqlite3_close(h);
    assert_int_equal(rc, SQLITE_OK);
}

/* A database as a version before `below` left it: a fresh store's file (or database) emptied
 * by open_fresh, then every migration numbered below `below` run and recorded by hand, as
 * that version's store_migrate did. Asserts the migrations are numbered 1..below-1. */
static void replay_migrations_below(int below)
{
    struct store *s = open_fresh();
    store_close(s);
    int count = 0;
    const struct migration *m = backend_migrations(&count);
    raw_exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT "
             "NOT NULL, applied_at BIGINT NOT NULL)");
    int applied = 0;
    for (int i = 0; i < count && m[i].version < below; i++) {
        raw_exec(m[i].sql);
        char rec[160];
        snprintf(rec, sizeof(rec), "INSERT INTO schema_migrations VALUES (%d, '%s', 0)",
                 m[i].version, m[i].name);
        raw_exec(rec);
        applied++;
    }
    assert_int_equal(applied, below - 1);
}

struct um_seen {
    int n;
    char user[8][16];
    double y[8], x[8];
};

static void um_seen_row(void *ctx, const struct store_user_row *row)
{
    struct um_seen *u = ctx;
    if (u->n < 8) {
        snprintf(u->user[u->n], sizeof(u->user[0]), "%s", row->user_id);
        u->y[u->n] = row->y;
        u->x[u->n] = row->x;
        u->n++;
    }
}

/* A database migrated by an earlier bunsen (through 0007) keeps its per-user values across
 * 0008, which re-keys user_metrics (experiment, user_id, metric) and drops its second index. */
static void test_migrate_0008_keeps_values(void **state)
{
    (void)state;
    int count = 0;
    const struct migration *m = backend_migrations(&count);
    replay_migrations_below(8);
    struct store *s = NULL;
    raw_exec(
        "INSERT INTO exposures (user_id, experiment, variant, ts, conflicts) VALUES "
        "('u1', 'ex', 'a', 1000, 0), ('u2', 'ex', 'b', 2000, 0), ('u3', 'other', 'a', 3000, 0)");
    raw_exec("INSERT INTO user_metrics (user_id, experiment, metric, y_raw, x_raw) VALUES "
             "('u1', 'ex', 'm', 2.5, 1.25), ('u2', 'ex', 'm', 7, 0), ('u2', 'ex', 'k', 9, 9), "
             "('u3', 'other', 'm', 4, 4)");
    struct err err;
    s = NULL;
    assert_int_equal(store_open(url, &s, &err), 0);
    int applied = -1, v = -1;
    assert_int_equal(store_migrate(s, &applied, &err), 0);
    assert_int_equal(applied, count - 7);
    assert_int_equal(store_schema_version(s, &v, &err), 0);
    assert_int_equal(v, m[count - 1].version);
    struct um_seen seen = {0};
    struct store_users_cursor cur = {0};
    int n = -1;
    assert_int_equal(
        store_users_page(s, "ex", 0, "m", NULL, NULL, &cur, 10, um_seen_row, &seen, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(seen.user[0], "u1");
    assert_true(seen.y[0] == 2.5 && seen.x[0] == 1.25);
    assert_string_equal(seen.user[1], "u2");
    assert_true(seen.y[1] == 7 && seen.x[1] == 0);
    store_close(s);
    /* the one key, no second index; a duplicate of a key is still refused */
    if (on_pg) {
        assert_int_equal(server_exec(url, "SELECT 1/(1 - COUNT(*))::int FROM pg_indexes WHERE "
                                          "indexname = 'user_metrics_experiment'"),
                         0);
        assert_int_equal(server_exec(url, "SELECT 1/COUNT(*)::int FROM pg_indexes WHERE "
                                          "indexname = 'user_metrics_pkey' AND indexdef LIKE "
                                          "'%(experiment, user_id, metric)%'"),
                         0);
    } else {
        raw_exec("CREATE TABLE t_check AS SELECT 1 / (1 - COUNT(*)) AS ok FROM sqlite_master "
                 "WHERE name = 'user_metrics_experiment'");
        sqlite3 *h;
        assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(h,
                                            "SELECT (SELECT ok FROM t_check), (SELECT COUNT(*) "
                                            "FROM pragma_index_list('user_metrics'))",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 1);
        assert_int_equal(sqlite3_column_int(st, 1), 1); /* the primary key alone */
        sqlite3_finalize(st);
        assert_int_not_equal(sqlite3_exec(h,
                                          "INSERT INTO user_metrics (user_id, experiment, metric) "
                                          "VALUES ('u1', 'ex', 'm')",
                                          NULL, NULL, NULL),
                             SQLITE_OK);
        sqlite3_close(h);
    }
}

/* Migration 0013 marks the rebuilds under way whose kept roll-ups' definitions nobody
 * recorded (begun before 0011, which records them): store_rebuild_metric_get answers 2 for
 * every metric of such a rebuild (results then withhold the kept statistics instead of
 * reading them with today's definitions: 400 for a count metric made binomial), 1 with the
 * document for a rebuild that recorded one, 0 for that rebuild's other metrics. */
static void test_migrate_0013_unrecorded_definitions(void **state)
{
    (void)state;
    int count = 0;
    backend_migrations(&count);
    replay_migrations_below(13);
    struct store *s = NULL;
    raw_exec(
        "INSERT INTO rollup_rebuilds (experiment, cursor, started_at) VALUES ('old', 'u2', 0), "
        "('rec', 'u1', 0)");
    raw_exec("INSERT INTO rebuild_metric_defs (experiment, metric, doc) VALUES ('rec', 'm', "
             "'{\"key\":\"m\"}')");
    struct err err;
    s = NULL;
    assert_int_equal(store_open(url, &s, &err), 0);
    int applied = -1;
    assert_int_equal(store_migrate(s, &applied, &err), 0);
    assert_true(applied >= 1);
    char *doc = NULL;
    assert_int_equal(store_rebuild_metric_get(s, "old", "m", &doc, &err), 2);
    assert_null(doc);
    assert_int_equal(store_rebuild_metric_get(s, "rec", "m", &doc, &err), 1);
    assert_string_equal(doc, "{\"key\":\"m\"}");
    free(doc);
    doc = NULL;
    assert_int_equal(store_rebuild_metric_get(s, "rec", "v", &doc, &err), 0);
    assert_int_equal(store_rebuild_metric_get(s, "none", "m", &doc, &err), 0);
    assert_null(doc);
    store_close(s);
}

/* Migration 0012 recounts conflicting exposures as users (before the stop): an experiment's
 * roll-ups counted arrivals (3 for one user), and stored users whose first exposure is at or
 * after the stop are in no count. */
static void xusers_emit2(void *ctx, const char *variant, int64_t users)
{
    (void)variant;
    *(int64_t *)ctx += users;
}

static void test_migrate_0012_conflict_users(void **state)
{
    (void)state;
    int count = 0;
    backend_migrations(&count);
    replay_migrations_below(12);
    struct store *s = NULL;
    raw_exec("INSERT INTO experiments (key, status, doc, created_at, updated_at) VALUES "
             "('run', 'running', '{\"stopped_at\":null}', 0, 0), "
             "('stp', 'stopped', '{\"stopped_at\":5000}', 0, 0), "
             "('reb', 'running', '{\"stopped_at\":null}', 0, 0)");
    /* reb is mid-rebuild: its chunks did the users up to u2, whose counts are live */
    raw_exec(
        "INSERT INTO rollup_rebuilds (experiment, cursor, started_at) VALUES ('reb', 'u2', 0)");
    raw_exec("INSERT INTO exposures (user_id, experiment, variant, ts, conflicts) VALUES "
             "('u1', 'run', 'a', 1000, 3), ('u2', 'run', 'b', 2000, 1), "
             "('u3', 'run', 'a', 3000, 0), ('u1', 'stp', 'a', 1000, 2), "
             "('u2', 'stp', 'a', 6000, 1), ('u1', 'reb', 'a', 1000, 3), "
             "('u3', 'reb', 'a', 1000, 2)");
    raw_exec("INSERT INTO exposure_stats (experiment, variant, users, conflicts) VALUES "
             "('run', 'a', 2, 3), ('run', 'b', 1, 1), ('stp', 'a', 1, 2), ('reb', 'a', 1, 3)");
    struct err err;
    s = NULL;
    assert_int_equal(store_open(url, &s, &err), 0);
    int applied = -1;
    assert_int_equal(store_migrate(s, &applied, &err), 0);
    int64_t users = 0, conflicts = -1;
    assert_int_equal(store_exposure_by_variant(s, "run", xusers_emit2, &users, &conflicts, &err),
                     0);
    assert_int_equal(users, 3);
    assert_int_equal(conflicts, 2);
    users = 0;
    assert_int_equal(store_exposure_by_variant(s, "stp", xusers_emit2, &users, &conflicts, &err),
                     0);
    assert_int_equal(users, 1);
    assert_int_equal(conflicts, 1);
    store_close(s);
    /* mid-rebuild: u1 (done) recounted as one user, u3 left to the chunks (it was skipped,
     * and u1 kept its 3 arrivals) */
    raw_exec("CREATE TABLE t_check (ok INTEGER CHECK (ok = 1))");
    raw_exec("INSERT INTO t_check SELECT SUM(conflicts) FROM exposure_stats WHERE "
             "experiment = 'reb'");
}

static void test_refuse_newer(void **state)
{
    (void)state;
    struct store *s = open_fresh();
    struct err err;
    assert_int_equal(store_migrate(s, NULL, &err), 0);
    store_close(s);
    /* a later bunsen migrated this database: written under the store, in its own dialect */
    static const char FUTURE[] = "INSERT INTO schema_migrations VALUES (100000, 'future', 0)";
    if (on_pg) {
        assert_int_equal(server_exec(url, FUTURE), 0);
    } else {
        sqlite3 *h;
        assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h, FUTURE, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(h);
    }
    s = NULL;
    assert_int_equal(store_open(url, &s, &err), -1);
    assert_null(s);
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "newer"));
}

/* Migration 0014 adds the low parts of the raw values (exact sums): a value stored before it
 * (0.125, a double sum that had lost 0.025) is kept as it was, the events path adds to it,
 * and the next rebuild recomputes it from the stored events. */
static void test_migrate_0014_keeps_values(void **state)
{
    (void)state;
    int count = 0;
    backend_migrations(&count);
    replay_migrations_below(14);
    struct store *s = NULL;
    raw_exec("INSERT INTO exposures (user_id, experiment, variant, ts, conflicts) VALUES "
             "('mu', 'sx', 'a', 864000000, 0)");
    raw_exec("INSERT INTO user_metrics (user_id, experiment, metric, y_raw, x_raw) VALUES "
             "('mu', 'sx', 'rev', 0.125, 0)");
    struct err err;
    s = NULL;
    assert_int_equal(store_open(url, &s, &err), 0);
    int applied = -1;
    assert_int_equal(store_migrate(s, &applied, &err), 0);
    assert_int_equal(applied, count - 13);
    struct store_rules *rules = sl_rules(0);
    struct store_event e = {"mu", "rev", 864000000 + 3600000, 1.0, NULL};
    struct sl_batch b = {.rules = rules, .e = &e, .ne = 1};
    assert_int_equal(store_write_sync(s, sl_apply, &b, &err), 0);
    struct um_seen seen = {0};
    struct store_users_cursor cur = {0};
    int n = -1;
    assert_int_equal(
        store_users_page(s, "sx", 0, "rev", NULL, NULL, &cur, 10, um_seen_row, &seen, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_true(seen.y[0] == 1.125 && seen.x[0] == 0);
    /* rebuilt from the one event stored */
    assert_int_equal(store_write_sync(s, sl_full_apply, &b, &err), 0);
    memset(&seen, 0, sizeof(seen));
    memset(&cur, 0, sizeof(cur));
    assert_int_equal(
        store_users_page(s, "sx", 0, "rev", NULL, NULL, &cur, 10, um_seen_row, &seen, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_true(seen.y[0] == 1.0);
    store_rules_free(rules);
    store_close(s);
}

int main(void)
{
    backend_detect();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_database_urls),
        cmocka_unit_test(test_migrate_from_empty),
        cmocka_unit_test(test_refuse_newer),
        cmocka_unit_test(test_migrate_0008_keeps_values),
        cmocka_unit_test(test_migrate_0014_keeps_values),
        cmocka_unit_test(test_migrate_0012_conflict_users),
        cmocka_unit_test(test_migrate_0013_unrecorded_definitions),
    };
    return cmocka_run_group_tests_name(on_pg ? "store_migrate (postgres)" : "store_migrate", tests,
                                       setup, teardown);
}
