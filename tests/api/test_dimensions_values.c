/*
 * Dimension values as recorded and reported (API.md "Dimension breakdowns"), against the real
 * daemon on either backend (tests/pg/api.sh runs it on PostgreSQL):
 * - a number has one text on every path, JavaScript's String(number): 1e-7 POSTed as a number
 *   and the GET form's attr.device=1e-7 are one slice "1e-7"; -0 and 0 are one slice "0";
 *   1e21 is "1e+21"; 123456789.12345679 keeps its digits;
 * - a client's string "(none)" or "(other)" is recorded as "'(none)", "'(other)": the labels
 *   mean only the daemon's slices (no "(other)" slice of 10 users from 6 values);
 * - C1 controls and invisible formatting characters (U+200B, U+202E, U+2069, U+0085) become
 *   '?': "N\u200bL" is no second "NL";
 * - users exposed before the dimension was listed: per variant `users_not_recorded` in the
 *   JSON and the CSV's last column;
 * - a breakdown without slices still has a CSV row per variant with its own fields;
 * - the cap on distinct values ("(other)", then "(none)"), values cut to 64 bytes, attributes
 *   that are no object or over the attribute caps refused;
 * - a real attribute's value is recorded as replies print it, the shortest text that reads
 *   back as the double: 0.30000000000000004 and 0.3 are two slices (they were one, "0.3",
 *   keyed by 15 digits), 1/3 reads 0.3333333333333333; both backends store that text;
 * - cells a spreadsheet would run as formulas start with ' in both CSV exports.
 * Split from test_dimensions.c (validation, the recount, corrections, ratio slices, the CLI,
 * rebuilds) to keep both short.
 */
#include "calls.h"
#include "results_csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct daemon D;

static int setup(void **state)
{
    (void)state;
    calls_use(&D);
    return daemon_start(&D, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static void call_raw(const char *method, const char *path, const char *body, int want)
{
    json_decref(call(method, path, body, want));
}

/* A started experiment control/treatment with metric dv_buy and the given dimensions (a JSON
 * array text, "null" for none). */
static void started(const char *key, const char *dims)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"key\":\"%s\",\"variants\":[{\"key\":\"control\"},{\"key\":\"treatment\"}],"
             "\"metrics\":[\"dv_buy\"],\"dimensions\":%s}",
             key, dims);
    call_raw("POST", "/api/v1/experiments", body, 201);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/experiments/%s/start", key);
    call_raw("POST", path, "{}", 200);
}

/* POST /exposures of one user with attribute name = value (value: JSON text). */
static void expose(const char *key, const char *user, const char *variant, const char *name,
                   const char *value)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"exposures\":[{\"experiment\":\"%s\",\"user_id\":\"%s\",\"variant\":\"%s\","
             "\"attributes\":{\"%s\":%s}}]}",
             key, user, variant, name, value);
    call_raw("POST", "/api/v1/exposures", body, 200);
}

static json_t *breakdown(const char *key, const char *dimension)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/experiments/%s/results?dimension=%s", key, dimension);
    return call("GET", path, NULL, 200);
}

/* users of the slice labelled value (0 when there is none) */
static long long slice_users(const json_t *res, const char *value)
{
    size_t i;
    const json_t *sl;
    json_array_foreach(json_object_get(res, "slices"), i, sl)
    {
        if (strcmp(json_string_value(json_object_get(sl, "dimension_value")), value) == 0) {
            const json_t *v = json_object_get(sl, "variants");
            return json_integer_value(json_object_get(json_array_get(v, 0), "users")) +
                   json_integer_value(json_object_get(json_array_get(v, 1), "users"));
        }
    }
    return 0;
}

static void test_setup_metric(void **state)
{
    (void)state;
    call_raw("POST", "/api/v1/metrics",
             "{\"key\":\"dv_buy\",\"event\":\"dv_buy\",\"type\":\"binomial\"}", 201);
}

/* One text per number: JavaScript's String(number) on every path. */
static void test_number_texts(void **state)
{
    (void)state;
    started("dvnum", "[\"device\"]");
    expose("dvnum", "n1", "control", "device", "1e-7");
    expose("dvnum", "n2", "treatment", "device", "-0.0");
    expose("dvnum", "n3", "control", "device", "0");
    expose("dvnum", "n4", "treatment", "device", "1e21");
    expose("dvnum", "n5", "control", "device", "123456789.12345679");
    expose("dvnum", "n6", "treatment", "device", "0.000001");
    /* the GET form's attributes are strings: the text JavaScript prints meets the number */
    int st = 0;
    json_decref(http_json(D.port, "GET",
                          "/api/v1/experiments/dvnum/assign?user_id=n7&attr.device=1e-7",
                          D.admin_key, NULL, &st));
    assert_int_equal(st, 200);
    json_t *res = breakdown("dvnum", "device");
    assert_int_equal(slice_users(res, "1e-7"), 2); /* n1 (a number) and n7 (the GET text) */
    assert_int_equal(slice_users(res, "1e-07"), 0);
    assert_int_equal(slice_users(res, "0"), 2); /* -0 and 0 */
    assert_int_equal(slice_users(res, "-0"), 0);
    assert_int_equal(slice_users(res, "1e+21"), 1);
    assert_int_equal(slice_users(res, "123456789.12345679"), 1);
    assert_int_equal(slice_users(res, "0.000001"), 1);
    assert_int_equal(json_integer_value(json_object_get(res, "values_total")), 5);
    json_decref(res);
}

/* A client's "(none)" and "(other)" are values of their own, not the daemon's labels. */
static void test_sentinel_literals(void **state)
{
    (void)state;
    started("dvsent", "[\"country\"]");
    static const char *const values[] = {"\"NL\"",      "\"BE\"", "\"(none)\"",
                                         "\"(other)\"", "\" \"",  "\"\\t=1+1\""};
    for (int i = 0; i < 60; i++) {
        char user[32];
        snprintf(user, sizeof(user), "s%d", i);
        expose("dvsent", user, i % 2 ? "treatment" : "control", "country", values[i % 6]);
    }
    json_t *res = breakdown("dvsent", "country");
    assert_int_equal(json_integer_value(json_object_get(res, "values_total")), 6);
    assert_int_equal(json_array_size(json_object_get(res, "slices")), 6);
    assert_int_equal(slice_users(res, "NL"), 10);
    assert_int_equal(slice_users(res, "'(none)"), 10);
    assert_int_equal(slice_users(res, "'(other)"), 10);
    assert_int_equal(slice_users(res, " "), 10);
    assert_int_equal(slice_users(res, "?=1+1"), 10);
    assert_int_equal(slice_users(res, "(none)"), 0);
    assert_int_equal(slice_users(res, "(other)"), 0);
    json_decref(res);
    /* a missing attribute is still "(none)", and an apostrophe more keeps two texts apart */
    expose("dvsent", "s60", "control", "other", "1");
    expose("dvsent", "s61", "treatment", "country", "\"'(none)\"");
    res = breakdown("dvsent", "country");
    assert_int_equal(slice_users(res, "(none)"), 1);
    assert_int_equal(slice_users(res, "'(none)"), 10);
    assert_int_equal(slice_users(res, "''(none)"), 1);
    json_decref(res);
    json_decref(results_csv_check(D.port, D.admin_key,
                                  "/api/v1/experiments/dvsent/results?dimension=country"));
}

/* Invisible characters become '?': no slice passes for another. */
static void test_invisible_characters(void **state)
{
    (void)state;
    started("dvinv", "[\"country\"]");
    expose("dvinv", "i1", "control", "country", "\"NL\"");
    expose("dvinv", "i2", "treatment", "country", "\"N\\u200bL\"");
    expose("dvinv", "i3", "control", "country", "\"\\u202eLN\"");
    expose("dvinv", "i4", "treatment", "country", "\"BE\\u2069\"");
    expose("dvinv", "i5", "control", "country", "\"a\\u0085b\"");
    expose("dvinv", "i6", "treatment", "country", "\"\\ufeffDE\\u00e9\"");
    json_t *res = breakdown("dvinv", "country");
    assert_int_equal(slice_users(res, "NL"), 1);
    assert_int_equal(slice_users(res, "N?L"), 1);
    assert_int_equal(slice_users(res, "?LN"), 1);
    assert_int_equal(slice_users(res, "BE?"), 1);
    assert_int_equal(slice_users(res, "a?b"), 1);
    assert_int_equal(slice_users(res, "?DE\xc3\xa9"), 1); /* é stays */
    json_decref(res);
}

static long long not_recorded(const json_t *res, size_t v)
{
    const json_t *x = json_array_get(json_object_get(res, "variants"), v);
    assert_non_null(json_object_get(x, "users_not_recorded"));
    return json_integer_value(json_object_get(x, "users_not_recorded"));
}

/* Users exposed before a dimension was listed are in no slice: counted per variant. An empty
 * breakdown's CSV has a row per variant with the breakdown's own fields. */
static void test_not_recorded_and_empty_csv(void **state)
{
    (void)state;
    started("dvlate", "[]");
    expose("dvlate", "l1", "control", "country", "\"NL\"");
    expose("dvlate", "l2", "control", "country", "\"NL\"");
    expose("dvlate", "l3", "control", "country", "\"BE\"");
    expose("dvlate", "l4", "treatment", "country", "\"NL\"");
    call_raw("PATCH", "/api/v1/experiments/dvlate", "{\"dimensions\":[\"country\"]}", 200);
    wait_rebuilt("dvlate");
    /* no slice yet: the CSV still says who is where */
    json_t *res = breakdown("dvlate", "country");
    assert_int_equal(json_array_size(json_object_get(res, "slices")), 0);
    assert_int_equal(not_recorded(res, 0), 3);
    assert_int_equal(not_recorded(res, 1), 1);
    json_decref(res);
    struct resp r;
    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/dvlate/results?dimension=country&format=csv",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    const char *row = strstr(r.body, "\r\n");
    assert_non_null(row);
    assert_true(strncmp(row + 2, "dvlate,", 7) == 0); /* a row after the header */
    /* users_not_recorded, then the decision's two columns appended in s35 (filled on the
     * decision metric's rows) */
    assert_non_null(
        strstr(r.body, ",users_not_recorded,decision_mde_relative,decision_planned_for\r\n"));
    assert_non_null(strstr(r.body, ",running,"));
    assert_non_null(strstr(r.body, ",country,,")); /* dimension, empty dimension_value */
    /* control's users not recorded, then treatment's */
    assert_true(strstr(r.body, ",3,true,fixed_sample\r\n") != NULL ||
                strstr(r.body, ",3,,\r\n") != NULL);
    assert_true(strstr(r.body, ",1,true,fixed_sample\r\n") != NULL ||
                strstr(r.body, ",1,,\r\n") != NULL);
    resp_free(&r);
    json_decref(results_csv_check(D.port, D.admin_key,
                                  "/api/v1/experiments/dvlate/results?dimension=country"));
    /* users first exposed since are recorded */
    expose("dvlate", "l5", "control", "country", "\"NL\"");
    expose("dvlate", "l6", "treatment", "other", "1");
    expose("dvlate", "l1", "control", "country", "\"BE\""); /* again: still not recorded */
    res = breakdown("dvlate", "country");
    assert_int_equal(slice_users(res, "NL"), 1);
    assert_int_equal(slice_users(res, "(none)"), 1);
    assert_int_equal(not_recorded(res, 0), 3);
    assert_int_equal(not_recorded(res, 1), 1);
    json_decref(res);
    json_decref(results_csv_check(D.port, D.admin_key,
                                  "/api/v1/experiments/dvlate/results?dimension=country"));
}

static void test_value_caps(void **state)
{
    (void)state;
    call_json_ok(
        "POST", "/api/v1/experiments",
        exp_doc("dcap", json_pack("{s:[s], s:[s]}", "metrics", "dv_buy", "dimensions", "city")));
    call_json_ok("POST", "/api/v1/experiments/dcap/start", json_object());
    /* 110 distinct cities (the cap is 100), and one value of 200 bytes */
    json_t *ex = json_array();
    for (int i = 0; i < 110; i++) {
        json_array_append_new(ex, json_pack("{s:s, s:s, s:s, s:{s:s}}", "experiment", "dcap",
                                            "user_id", fmt("cap-%d", i), "variant",
                                            i % 2 ? "treatment" : "control", "attributes", "city",
                                            fmt("city-%03d", i)));
    }
    char longv[201];
    memset(longv, 'x', 200);
    longv[200] = '\0';
    json_array_append_new(ex,
                          json_pack("{s:s, s:s, s:s, s:{s:s}}", "experiment", "dcap", "user_id",
                                    "cap-long", "variant", "control", "attributes", "city", longv));
    json_array_append_new(ex, json_pack("{s:s, s:s, s:s, s:{s:i}}", "experiment", "dcap", "user_id",
                                        "cap-num", "variant", "control", "attributes", "city", 42));
    /* one user without the attribute: as rare as any city, it is still its own slice */
    json_array_append_new(ex, json_pack("{s:s, s:s, s:s}", "experiment", "dcap", "user_id",
                                        "cap-none", "variant", "treatment"));
    call_json_ok("POST", "/api/v1/exposures", json_pack("{s:o}", "exposures", ex));
    json_t *res = call_json("GET", "/api/v1/experiments/dcap/results?dimension=city", NULL, 200);
    /* 100 registered + "(other)": the 20 largest shown, the rest folded into "(other)", and
     * "(none)" beside them (it took a slot, or went into "(other)" when rarer) */
    size_t n = json_array_size(json_object_get(res, "slices"));
    assert_int_equal(n, 22);
    const json_t *other = results_slice(res, "(other)");
    assert_non_null(other);
    const json_t *none = results_slice(res, "(none)");
    assert_non_null(none);
    /* in the documented order: the 20 values, "(other)", "(none)" */
    assert_ptr_equal(json_array_get(json_object_get(res, "slices"), 20), other);
    assert_ptr_equal(json_array_get(json_object_get(res, "slices"), 21), none);
    const json_t *nobs = json_object_get(json_object_get(none, "srm"), "observed");
    assert_int_equal(json_integer_value(json_array_get(nobs, 1)), 1);
    int64_t users = 0;
    size_t i;
    const json_t *sl;
    json_array_foreach(json_object_get(res, "slices"), i, sl)
    {
        const json_t *obs = json_object_get(json_object_get(sl, "srm"), "observed");
        users +=
            json_integer_value(json_array_get(obs, 0)) + json_integer_value(json_array_get(obs, 1));
    }
    assert_int_equal(users, 113);
    json_decref(res);
    /* the cut value as recorded: 64 bytes */
    long long cut = daemon_db_int(&D,
                                  "SELECT length(value) FROM exposure_dims WHERE user_id = ? AND "
                                  "experiment = 'dcap'",
                                  1, "cap-long");
    (void)cut; /* over the cap of distinct values: recorded as "(other)" */
    long long num = daemon_db_int(&D,
                                  "SELECT COUNT(*) FROM exposure_dims WHERE user_id = 'cap-num' "
                                  "AND value IN ('42', '(other)')",
                                  0);
    assert_int_equal(num, 1);
    long long regs =
        daemon_db_int(&D, "SELECT COUNT(*) FROM dimension_values WHERE experiment = 'dcap'", 0);
    assert_int_equal(regs, 100);
    /* a fresh experiment records the long value cut to 64 bytes */
    call_json_ok(
        "POST", "/api/v1/experiments",
        exp_doc("dcut", json_pack("{s:[s], s:[s]}", "metrics", "dv_buy", "dimensions", "city")));
    call_json_ok("POST", "/api/v1/experiments/dcut/start", json_object());
    call_json_ok("POST", "/api/v1/exposures",
                 json_pack("{s:[{s:s, s:s, s:s, s:{s:s}}]}", "exposures", "experiment", "dcut",
                           "user_id", "cut-1", "variant", "control", "attributes", "city", longv));
    assert_int_equal(daemon_db_int(&D,
                                   "SELECT length(value) FROM exposure_dims WHERE user_id = "
                                   "'cut-1' AND experiment = 'dcut'",
                                   0),
                     64);
    /* attributes that are not an object, or over the attribute caps: 400 */
    json_t *j = call_json("POST", "/api/v1/exposures",
                          json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "exposures", "experiment", "dcut",
                                    "user_id", "cut-2", "variant", "control", "attributes", "x"),
                          400);
    assert_string_equal(error_field(j), "exposures[0].attributes");
    json_decref(j);
    char *huge = malloc(5000);
    memset(huge, 'y', 4999);
    huge[4999] = '\0';
    j = call_json("POST", "/api/v1/exposures",
                  json_pack("{s:[{s:s, s:s, s:s, s:{s:s}}]}", "exposures", "experiment", "dcut",
                            "user_id", "cut-3", "variant", "control", "attributes", "city", huge),
                  400);
    free(huge);
    json_decref(j);
}

/* users of the slice labelled value in res (the SRM's observed counts added); fails the test
 * when there is none */
static long long slice_observed(const json_t *res, const char *value)
{
    const json_t *sl = results_slice(res, value);
    if (sl == NULL) {
        char *dump = json_dumps(res, JSON_COMPACT);
        fail_msg("no slice '%s' in %.2000s", value, dump ? dump : "");
    }
    const json_t *obs = json_object_get(json_object_get(sl, "srm"), "observed");
    return json_integer_value(json_array_get(obs, 0)) + json_integer_value(json_array_get(obs, 1));
}

/* Reals as dimension values: keyed and labelled by the shortest round-trip text, through
 * /exposures and /assign alike, stored as that text on either backend. */
static void test_real_values(void **state)
{
    (void)state;
    call_json_ok(
        "POST", "/api/v1/metrics",
        json_pack("{s:s, s:s, s:s}", "key", "dm_real", "event", "dm_real", "type", "binomial"));
    call_json_ok(
        "POST", "/api/v1/experiments",
        exp_doc("dreal", json_pack("{s:[s], s:[s]}", "metrics", "dm_real", "dimensions", "score")));
    call_json_ok("POST", "/api/v1/experiments/dreal/start", json_object());
    /* the texts as a client sends them (0.1 + 0.2 in JavaScript is 0.30000000000000004) */
    static const char *const sent[][2] = {{"r1", "0.30000000000000004"},
                                          {"r2", "0.3"},
                                          {"r3", "0.3000000000000000444"},
                                          {"r4", "1e21"},
                                          {"r5", "2.5"},
                                          {"r6", "3.0"},
                                          {"r7", "3"},
                                          {"r8", "-0.0"}};
    char body[2048];
    size_t at = (size_t)snprintf(body, sizeof(body), "{\"exposures\":[");
    for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++) {
        at +=
            (size_t)snprintf(body + at, sizeof(body) - at,
                             "%s{\"experiment\":\"dreal\",\"user_id\":\"%s\",\"variant\":"
                             "\"%s\",\"attributes\":{\"score\":%s}}",
                             i ? "," : "", sent[i][0], i % 2 ? "treatment" : "control", sent[i][1]);
    }
    snprintf(body + at, sizeof(body) - at, "]}");
    int st = 0;
    json_decref(http_json(D.port, "POST", "/api/v1/exposures", D.admin_key, body, &st));
    assert_int_equal(st, 200);
    /* /assign records the same text */
    json_decref(http_json(D.port, "POST", "/api/v1/assign", D.admin_key,
                          "{\"user_id\":\"r9\",\"experiments\":[\"dreal\"],\"attributes\":"
                          "{\"score\":0.3333333333333333}}",
                          &st));
    assert_int_equal(st, 200);
    json_decref(http_json(D.port, "POST", "/api/v1/assign", D.admin_key,
                          "{\"user_id\":\"r10\",\"experiments\":[\"dreal\"],\"attributes\":"
                          "{\"score\":0.333333333333333}}",
                          &st));
    assert_int_equal(st, 200);
    json_t *res = call_json("GET", "/api/v1/experiments/dreal/results?dimension=score", NULL, 200);
    assert_int_equal(slice_observed(res, "0.30000000000000004"), 2); /* r1, r3: one double */
    assert_int_equal(slice_observed(res, "0.3"), 1);
    assert_int_equal(slice_observed(res, "1e+21"), 1);
    assert_int_equal(slice_observed(res, "2.5"), 1);
    assert_int_equal(slice_observed(res, "3"), 2); /* 3.0 and 3, as before */
    assert_int_equal(slice_observed(res, "0"), 1); /* -0.0: JavaScript prints "0" */
    assert_int_equal(slice_observed(res, "0.3333333333333333"), 1);
    assert_int_equal(slice_observed(res, "0.333333333333333"), 1);
    assert_int_equal(json_integer_value(json_object_get(res, "values_total")), 8);
    json_decref(res);
    /* stored as that text (byte for byte on PostgreSQL's TEXT as on SQLite's) */
    assert_int_equal(daemon_db_int(&D,
                                   "SELECT COUNT(*) FROM exposure_dims WHERE experiment = 'dreal' "
                                   "AND value = '0.30000000000000004'",
                                   0),
                     2);
    assert_int_equal(daemon_db_int(&D,
                                   "SELECT COUNT(*) FROM dimension_values WHERE experiment = "
                                   "'dreal' AND value IN ('0.3', '0.3333333333333333')",
                                   0),
                     2);
    /* the CSV's dimension_value column */
    struct resp r;
    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/dreal/results?dimension=score&format=csv",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, ",0.30000000000000004,"));
    assert_non_null(strstr(r.body, ",0.3333333333333333,"));
    resp_free(&r);
}

/* Cells that a spreadsheet would run as formulas (user ids and dimension values come from
 * any sdk key) start with ' in both CSV exports; numbers keep their sign; NDJSON is exact. */
static void test_csv_formula_cells(void **state)
{
    (void)state;
    call_json_ok(
        "POST", "/api/v1/experiments",
        exp_doc("dfx", json_pack("{s:[s], s:[s]}", "metrics", "dv_buy", "dimensions", "city")));
    call_json_ok("POST", "/api/v1/experiments/dfx/start", json_object());
    call_json_ok("POST", "/api/v1/exposures",
                 json_pack("{s:[{s:s, s:s, s:s, s:{s:s}}, {s:s, s:s, s:s, s:{s:s}}]}", "exposures",
                           "experiment", "dfx", "user_id", "=HYPERLINK(\"http://x/\",\"y\")",
                           "variant", "control", "attributes", "city", "@SUM(A1)", "experiment",
                           "dfx", "user_id", "-5+A1", "variant", "treatment", "attributes", "city",
                           "+1"));
    struct resp r;
    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/dfx/results?dimension=city&format=csv",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, ",city,'@SUM(A1),"));
    assert_non_null(strstr(r.body, ",city,+1,")); /* a plain number is no formula */
    assert_null(strstr(r.body, ",@SUM"));
    resp_free(&r);
    assert_int_equal(http_req(D.port, "GET", "/api/v1/experiments/dfx/users?metric=dv_buy",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\r\n\"'=HYPERLINK(\"\"http://x/\"\",\"\"y\"\")\",control,"));
    assert_non_null(strstr(r.body, "\r\n'-5+A1,treatment,"));
    resp_free(&r);
    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/dfx/users?metric=dv_buy&format=ndjson",
                              D.admin_key, NULL, &r),
                     0);
    assert_non_null(strstr(r.body, "\"user_id\":\"-5+A1\""));
    resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_metric),
        cmocka_unit_test(test_number_texts),
        cmocka_unit_test(test_sentinel_literals),
        cmocka_unit_test(test_invisible_characters),
        cmocka_unit_test(test_not_recorded_and_empty_csv),
        cmocka_unit_test(test_value_caps),
        cmocka_unit_test(test_real_values),
        cmocka_unit_test(test_csv_formula_cells),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
