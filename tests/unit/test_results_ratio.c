/* Unit tests for src/api/results_ratio.c on a SQLite store of its own: a ratio metric's sums
 * when the compaction check fails (ratio_compacted: an archived experiment whose sums count
 * no user reads a page of its users and its exposure roll-ups). The sums read before the
 * failed check are freed by results_ratio_sums (rev-diff5 1: its callers free them only
 * after a 0; under `make asan` LeakSanitizer reports them when they are not). */
#include "unit.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../../src/api/results_int.h" /* results_ratio_sums: api/'s own, no public header */
#include "bunsen/model.h"
#include "bunsen/store.h"

static char dir[64];
static char path[128];

struct put {
    const char *body; /* the metric as a client creates it */
};

static int put_metric(struct store_tx *tx, void *arg, struct err *err)
{
    const struct put *p = arg;
    json_t *in = json_loads(p->body, 0, NULL);
    struct metric m;
    if (in == NULL || metric_from_json(in, MODEL_CREATE, NULL, &m, err) != 0) {
        json_decref(in);
        return -1;
    }
    json_decref(in);
    json_t *out = metric_to_json(&m);
    char *doc = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    int rc = store_metric_put(tx, m.key, doc, 1, 1, true, err);
    free(doc);
    return rc;
}

/* The compaction check's read of the exposure roll-ups fails (the table is gone under the
 * store): results_ratio_sums answers -1 with the reason, and leaks nothing. */
static void test_compacted_check_fails(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/bunsen-ratio-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/bunsen.db", dir);
    struct store *s = NULL;
    struct err err;
    err_clear(&err);
    assert_int_equal(store_open(path, &s, &err), 0);
    assert_int_equal(store_migrate(s, NULL, &err), 0);
    assert_int_equal(store_writer_start(s, 16, &err), 0);
    static const struct put metrics[] = {
        {"{\"key\":\"m\",\"event\":\"buy\",\"type\":\"count\",\"cuped_lookback_hours\":0}"},
        {"{\"key\":\"v\",\"event\":\"view\",\"type\":\"count\",\"cuped_lookback_hours\":0}"},
        {"{\"key\":\"r\",\"type\":\"ratio\",\"numerator\":\"m\",\"denominator\":\"v\"}"},
    };
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        if (store_write_sync(s, put_metric, (void *)(uintptr_t)&metrics[i], &err) != 0) {
            fail_msg("metric %zu: %s", i, err.msg);
        }
    }
    json_t *doc = json_loads("{\"key\":\"arc\",\"name\":\"arc\",\"seed\":\"arc\",\"status\":"
                             "\"archived\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                             "\"metrics\":[\"r\"],\"created_at\":1,\"started_at\":2,"
                             "\"stopped_at\":3}",
                             0, NULL);
    struct experiment x;
    assert_int_equal(experiment_from_json(doc, MODEL_LOAD, NULL, &x, &err), 0);
    json_decref(doc);
    char *mdoc = NULL;
    assert_int_equal(store_metric_get(s, NULL, "r", &mdoc, &err), 0);
    json_t *mj = json_loads(mdoc, 0, NULL);
    free(mdoc);
    struct metric r;
    assert_int_equal(metric_from_json(mj, MODEL_LOAD, NULL, &r, &err), 0);
    json_decref(mj);

    /* the check runs: no user in the sums, none in the roll-ups either (not compacted) */
    struct results_ratio_sums sums;
    const char *unavailable = "unset";
    assert_int_equal(results_ratio_sums(s, &x, &r, NULL, &sums, &unavailable, &err), 0);
    assert_null(unavailable);
    assert_int_equal(sums.n, 1);
    results_ratio_sums_free(&sums);

    /* then its read fails: another process dropped the roll-up it reads last */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE exposure_stats", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    err_clear(&err);
    assert_int_equal(results_ratio_sums(s, &x, &r, NULL, &sums, &unavailable, &err), -1);
    assert_non_null(strstr(err.msg, "read exposures")); /* sqlite_exposure_by_variant */
    /* callers free the sums only after a 0 (results.c ratio_arms): nothing left to free */
    assert_null(sums.v);

    experiment_clear(&x);
    store_writer_stop(s);
    store_close(s);
    static const char *const files[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char f[160];
        snprintf(f, sizeof(f), "%s%s", path, files[i]);
        unlink(f);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compacted_check_fails),
    };
    return cmocka_run_group_tests_name("results_ratio", tests, NULL, NULL);
}
