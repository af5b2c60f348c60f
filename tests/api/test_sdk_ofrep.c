/*
 * API tests of OFREP (the OpenFeature Remote Evaluation Protocol, /ofrep/v1): answers (typed
 * value, variant = key, reasons from the protocol's enum, a paused flag DISABLED without a
 * value the same in single and bulk evaluation, a released flag without targetingKey,
 * archived = FLAG_NOT_FOUND, an array value = GENERAL); latency while the database is
 * locked by another process (every answer < 50 ms p99, every exposure committed or counted
 * as dropped in /metrics); a repeated exposure counted once; bulk evaluation answering
 * every flag, or INVALID_CONTEXT over the evaluation budget. What the other SDK routes serve:
 * test_sdk_serve.c.
 * One daemon (writer queue of 64, so a locked database overflows it) for every test.
 */
#include "calls.h"

#include <libpq-fe.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct daemon D;

static int setup(void **state)
{
    (void)state;
    const char *const extra[] = {"--writer-queue", "64", NULL};
    calls_use(&D);
    return daemon_start(&D, extra);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static void test_ofrep_answers(void **state)
{
    (void)state;
    sdk_key();
    /* "typed" as test_sdk_serve.c's test_assign_values creates it (targeted at NL, a default
     * value, a forced user): evaluated below without targetingKey */
    new_exp("typed",
            "\"variants\":[{\"key\":\"off\",\"value\":{\"off\":true}},{\"key\":\"on\",\"value\":"
            "{\"n\":1.5}}],\"targeting\":{\"country\":\"NL\"},\"default_value\":{\"d\":1},"
            "\"forced\":{\"qa\":\"on\"}",
            "start");
    new_exp("of-num", "\"variants\":[{\"key\":\"one\",\"value\":1},{\"key\":\"two\",\"value\":2}]",
            "start,stop=two");
    new_exp("of-paused",
            "\"variants\":[{\"key\":\"a\",\"value\":true},{\"key\":\"b\",\"value\":false}]",
            "start,pause");
    new_exp("of-archived", "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]", "archive");
    new_exp("of-array",
            "\"variants\":[{\"key\":\"a\",\"value\":[1]},{\"key\":\"b\",\"value\":[2]}]", "start");

    /* released: typed, STATIC, no targetingKey needed */
    json_t *o =
        call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/of-num", "{\"context\":{}}", 200);
    assert_json_text(o, "{\"key\":\"of-num\",\"metadata\":{\"assignment_reason\":\"released\","
                        "\"experiment\":\"of-num\",\"in_experiment\":false},\"reason\":\"STATIC\","
                        "\"value\":2,\"variant\":\"two\"}");
    json_decref(o);
    /* paused: DISABLED without value or variant, with or without a key; bulk says the same */
    o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/of-paused",
                "{\"context\":{\"targetingKey\":\"u5\"}}", 200);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "DISABLED");
    assert_null(json_object_get(o, "value"));
    assert_null(json_object_get(o, "variant"));
    json_t *bulk = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags",
                           "{\"context\":{\"targetingKey\":\"u5\"}}", 200);
    const json_t *flags = json_object_get(bulk, "flags");
    bool found_paused = false, found_archived = false;
    for (size_t i = 0; i < json_array_size(flags); i++) {
        const json_t *f = json_array_get(flags, i);
        const char *k = json_string_value(json_object_get(f, "key"));
        if (strcmp(k, "of-paused") == 0) {
            found_paused = true;
            assert_true(json_equal((json_t *)(uintptr_t)f, o));
        }
        found_archived = found_archived || strcmp(k, "of-archived") == 0;
        if (strcmp(k, "of-array") == 0) {
            assert_string_equal(json_string_value(json_object_get(f, "errorCode")), "GENERAL");
        }
    }
    assert_true(found_paused);
    assert_false(found_archived);
    json_decref(bulk);
    json_decref(o);
    /* archived: FLAG_NOT_FOUND */
    o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/of-archived",
                "{\"context\":{\"targetingKey\":\"u5\"}}", 404);
    assert_string_equal(json_string_value(json_object_get(o, "errorCode")), "FLAG_NOT_FOUND");
    json_decref(o);
    /* running without targetingKey: the default for a user the targeting leaves out (as
     * remote evaluation), TARGETING_KEY_MISSING only for one it takes in (hashed on the id) */
    o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/typed", "{\"context\":{}}", 200);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "STATIC");
    assert_json_text(json_object_get(o, "value"), "{\"d\":1}");
    json_decref(o);
    o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/typed",
                "{\"context\":{\"country\":\"NL\"}}", 400);
    assert_string_equal(json_string_value(json_object_get(o, "errorCode")),
                        "TARGETING_KEY_MISSING");
    assert_string_equal(json_string_value(json_object_get(o, "key")), "typed");
    json_decref(o);
    /* an empty targetingKey (a web app's context before sign-in) is no key, as remote
     * evaluation takes a falsy id: the same answers as without one, single and bulk (review
     * journey35 F5: a 400 INVALID_CONTEXT for the whole bulk request) */
    o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/typed",
                "{\"context\":{\"targetingKey\":\"\"}}", 200);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "STATIC");
    assert_json_text(json_object_get(o, "value"), "{\"d\":1}");
    json_decref(o);
    o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/typed",
                "{\"context\":{\"targetingKey\":\"\",\"country\":\"NL\"}}", 400);
    assert_string_equal(json_string_value(json_object_get(o, "errorCode")),
                        "TARGETING_KEY_MISSING");
    json_decref(o);
    json_t *none = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags",
                           "{\"context\":{\"country\":\"NL\"}}", 200);
    json_t *empty = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags",
                            "{\"context\":{\"targetingKey\":\"\",\"country\":\"NL\"}}", 200);
    assert_true(json_array_size(json_object_get(empty, "flags")) > 0);
    assert_true(json_equal(json_object_get(none, "flags"), json_object_get(empty, "flags")));
    json_decref(none);
    json_decref(empty);
    o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/of-array",
                "{\"context\":{\"targetingKey\":\"u5\"}}", 400);
    assert_string_equal(json_string_value(json_object_get(o, "errorCode")), "GENERAL");
    json_decref(o);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The value of a series of /metrics ("name{labels}"), or -1. */
static double metric(const char *series)
{
    return harness_metric_value(D.port, NULL, series);
}

#define LOCKED_EVALS 300

static void test_ofrep_database_locked(void **state)
{
    (void)state;
    sdk_key();
    new_exp("of-lock", "\"variants\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":2}]",
            "start");
    double c0 = metric("bunsen_ofrep_exposures_total{result=\"committed\"}");
    double d0 = metric("bunsen_ofrep_exposures_total{result=\"dropped\"}");
    /* another process holds the write lock: the writer waits (busy_timeout; on PostgreSQL a
     * session holding the exposures table in EXCLUSIVE mode: reads pass, inserts wait), its
     * queue fills up; reads (the auth cache, the snapshot) go on */
    sqlite3 *db = NULL;
    PGconn *pg = NULL;
    if (harness_on_postgres()) {
        pg = PQconnectdb(D.db_url);
        assert_int_equal(PQstatus(pg), CONNECTION_OK);
        PGresult *lr = PQexec(pg, "BEGIN; LOCK TABLE exposures IN EXCLUSIVE MODE");
        assert_int_equal(PQresultStatus(lr), PGRES_COMMAND_OK);
        PQclear(lr);
    } else {
        assert_int_equal(sqlite3_open(fmt("%s/bunsen.db", D.dir), &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    }
    static double lat[LOCKED_EVALS];
    for (int i = 0; i < LOCKED_EVALS; i++) {
        struct resp r;
        double t = harness_clock_ms();
        assert_int_equal(http_req(D.port, "POST", "/ofrep/v1/evaluate/flags/of-lock", sdk_key(),
                                  fmt("{\"context\":{\"targetingKey\":\"lock-%d\"}}", i), &r),
                         0);
        lat[i] = harness_clock_ms() - t;
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    if (pg != NULL) {
        PQclear(PQexec(pg, "ROLLBACK"));
        PQfinish(pg);
    } else {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    qsort(lat, LOCKED_EVALS, sizeof(lat[0]), cmp_double);
    double p50 = lat[LOCKED_EVALS / 2], p99 = lat[LOCKED_EVALS * 99 / 100];
    fprintf(stderr, "# OFREP while the database is locked: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
            p50, p99, lat[LOCKED_EVALS - 1]);
    /* printed, not asserted (latencies are the benchmarks'): an evaluation that waited for the
     * lock would have answered 503 at the busy timeout or hung until the ROLLBACK above, which
     * the status check and the hang detector fail (review flaky34 F5) */
    /* every exposure ends committed or dropped (the writer retries after the lock) */
    double c = 0, d = 0;
    for (int i = 0; i < 200; i++) {
        c = metric("bunsen_ofrep_exposures_total{result=\"committed\"}") - c0;
        d = metric("bunsen_ofrep_exposures_total{result=\"dropped\"}") - d0;
        if (c + d >= LOCKED_EVALS) {
            break;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "# exposures: %.0f committed, %.0f dropped of %d\n", c, d, LOCKED_EVALS);
    assert_int_equal((int)(c + d), LOCKED_EVALS);
    assert_true(d > 0); /* the queue of 64 overflowed */
    long long stored =
        daemon_db_int(&D, "SELECT count(*) FROM exposures WHERE experiment = ?", 1, "of-lock");
    assert_int_equal(stored, (long long)c);
}

/* An OFREP answer that repeats a committed first exposure is counted as committed and, with
 * the known-exposure cache (on by default with SQLite), queues no write; one row either way. */
static void test_ofrep_repeat_exposure(void **state)
{
    (void)state;
    sdk_key();
    new_exp("of-rep", "\"variants\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":2}]",
            "start");
    const char *committed = "bunsen_ofrep_exposures_total{result=\"committed\"}";
    const char *hit = "bunsen_exposure_cache_lookups_total{result=\"hit\"}";
    double c0 = metric(committed);
    for (int round = 1; round <= 3; round++) {
        double h0 = metric(hit);
        json_decref(call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/of-rep",
                            "{\"context\":{\"targetingKey\":\"rep-user\"}}", 200));
        /* logged beside the answer: wait for it to be counted */
        for (int i = 0; i < 200 && metric(committed) - c0 < round; i++) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        assert_int_equal((int)(metric(committed) - c0), round);
        if (!harness_on_postgres()) {
            assert_int_equal((int)(metric(hit) - h0), round == 1 ? 0 : 1);
        }
    }
    assert_int_equal(
        daemon_db_int(&D, "SELECT count(*) FROM exposures WHERE experiment = ?", 1, "of-rep"), 1);
}

#define BULK_DRAFTS 1001

/* OFREP bulk evaluation answers every flag the single-flag route knows: it stopped at 1,000
 * (a running experiment past the 1,000th non-archived one was missing, though the single
 * route, /assign and the payload served it). Targeting over the evaluation budget is a 400
 * INVALID_CONTEXT, no partial list. Last in the file: it leaves 1,000 drafts behind. */
static void test_ofrep_bulk_every_flag(void **state)
{
    (void)state;
    sdk_key();
    for (int i = 0; i < BULK_DRAFTS; i++) {
        json_decref(call("POST", "/api/v1/experiments",
                         fmt("{\"key\":\"bulk-%04d\",\"variants\":[{\"key\":\"a\"},"
                             "{\"key\":\"b\"}]}",
                             i),
                         201));
    }
    new_exp("zz-bulk-last", "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]", "start");
    json_t *bulk = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags",
                           "{\"context\":{\"targetingKey\":\"u1\"}}", 200);
    const json_t *flags = json_object_get(bulk, "flags");
    size_t drafts = 0;
    bool last = false;
    for (size_t i = 0; i < json_array_size(flags); i++) {
        const char *k = str(json_array_get(flags, i), "key");
        drafts += strncmp(k, "bulk-", 5) == 0;
        if (strcmp(k, "zz-bulk-last") == 0) {
            last = true;
            assert_string_equal(str(json_array_get(flags, i), "reason"), "SPLIT");
        }
    }
    if (drafts != BULK_DRAFTS || !last) {
        fail_msg("bulk: %zu flags, %zu of the %d drafts, zz-bulk-last %s", json_array_size(flags),
                 drafts, BULK_DRAFTS, last ? "in" : "missing");
    }
    json_decref(bulk);
    /* over the budget: the error, no flags */
    new_exp("zz-bulk-regex",
            "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
            "\"targeting\":{\"tags\":{\"$elemMatch\":{\"$regex\":\"^(a+)+$\"}}}",
            "start");
    char *body = malloc(300 * 40 + 64);
    assert_non_null(body);
    size_t len = (size_t)sprintf(body, "{\"context\":{\"targetingKey\":\"u1\",\"tags\":[");
    for (int i = 0; i < 300; i++) {
        len += (size_t)sprintf(body + len, "%s\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\"", i ? "," : "");
    }
    sprintf(body + len, "]}}");
    json_t *e = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags", body, 400);
    assert_string_equal(str(e, "errorCode"), "INVALID_CONTEXT");
    assert_non_null(strstr(str(e, "errorDetails"), "budget"));
    assert_null(json_object_get(e, "flags"));
    json_decref(e);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ofrep_answers),
        cmocka_unit_test(test_ofrep_database_locked),
        cmocka_unit_test(test_ofrep_repeat_exposure),
        cmocka_unit_test(test_ofrep_bulk_every_flag),
    };
    return cmocka_run_group_tests_name("api_sdk_ofrep", tests, setup, teardown);
}
