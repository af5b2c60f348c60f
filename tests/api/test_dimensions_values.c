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
 * - a breakdown without slices still has a CSV row per variant with its own fields.
 * Split from test_dimensions.c (the recount, caps, rebuilds) to keep both short.
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
    assert_true(strncmp(row + 2, "dvlate,", 7) == 0);           /* a row after the header */
    assert_non_null(strstr(r.body, ",users_not_recorded\r\n")); /* the last column */
    assert_non_null(strstr(r.body, ",running,"));
    assert_non_null(strstr(r.body, ",country,,")); /* dimension, empty dimension_value */
    assert_non_null(strstr(r.body, ",3\r\n"));     /* control's users not recorded */
    assert_non_null(strstr(r.body, ",1\r\n"));     /* treatment's */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_metric),
        cmocka_unit_test(test_number_texts),
        cmocka_unit_test(test_sentinel_literals),
        cmocka_unit_test(test_invisible_characters),
        cmocka_unit_test(test_not_recorded_and_empty_csv),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
