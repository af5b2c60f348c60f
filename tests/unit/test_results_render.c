/*
 * test_results_render.c - the text forms of a results document (results_render.c): the
 * terminal table prints small p-values in exponent form and the relative verdict beside the
 * relative interval (under a correction the adjusted one); the CSV carries every field,
 * numbers at full precision.
 */
#include "unit.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/results.h"

static json_t *doc(void)
{
    const char *text =
        "{\"experiment\": \"e\", \"status\": \"running\", \"method\": \"frequentist\", "
        "\"alpha\": 0.05, \"cuped\": false, \"correction\": \"none\", \"computed_at\": 1,"
        "\"srm\": {\"p_value\": 0.41, \"chi2\": 0.6, \"observed\": [10, 12], "
        "\"expected\": [0.5, 0.5], \"mismatch\": false},"
        "\"data_quality\": {\"conflicting_exposures\": 0},"
        "\"decision\": {\"metric\": \"rev\", \"mde\": 0.05, \"power\": 0.8, "
        "\"users_needed_per_variant\": 1234, \"users_so_far\": 22, \"progress\": 0.0081,"
        "\"users_per_day\": null, \"days_left\": null},"
        "\"metrics\": [{\"key\": \"rev\", \"name\": \"Revenue\", \"type\": \"sum\", "
        "\"goal\": \"increase\", \"guardrail\": false, \"variants\": ["
        "{\"key\": \"a\", \"users\": 10, \"mean\": 1.5, \"stddev\": 0.5, \"sum\": 15.0},"
        "{\"key\": \"b\", \"users\": 12, \"mean\": 2.25, \"stddev\": 0.5, \"sum\": 27.0,"
        " \"absolute_lift\": {\"estimate\": 0.75, \"se\": 0.2, \"ci\": [0.33, 1.17]},"
        " \"relative_lift\": {\"estimate\": 0.5, \"se\": 0.15, \"ci\": [-0.013, 1.188],"
        "   \"p_value\": 0.0586, \"p_value_adjusted\": 0.0586, \"significant\": false},"
        " \"df\": 19.5, \"p_value\": 5.767409271e-06, \"p_value_adjusted\": 5.767409271e-06,"
        " \"significant\": true, \"verdict\": \"flat\", \"warning\": \"a, \\\"quoted\\\" note\"}"
        "]}]}";
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_table(void **state)
{
    (void)state;
    json_t *j = doc();
    char *t = results_to_table(j);
    /* the relative p-value and the verdict of the relative interval, not the absolute test */
    assert_non_null(strstr(t, "0.0586"));
    assert_non_null(strstr(t, "flat"));
    assert_non_null(strstr(t, "rel.p"));
    assert_null(strstr(t, "5.76740927 "));
    assert_non_null(strstr(t, "1234 users per variant needed"));
    free(t);
    /* a small p-value in a column of its own prints in exponent form */
    json_t *rel = json_object_get(
        json_array_get(
            json_object_get(json_array_get(json_object_get(j, "metrics"), 0), "variants"), 1),
        "relative_lift");
    json_object_set_new(rel, "p_value", json_real(5.767409271e-06));
    t = results_to_table(j);
    assert_non_null(strstr(t, "5.767e-06"));
    free(t);
    json_decref(j);
}

static void test_csv(void **state)
{
    (void)state;
    json_t *j = doc();
    char *c = results_to_csv(j);
    assert_int_equal(strncmp(c, "experiment,metric,type,goal,variant,users,mean,stddev,sum,", 58),
                     0);
    assert_non_null(strstr(c, ",relative_p_value,"));
    assert_non_null(strstr(c, ",5.767409271e-06,"));
    assert_non_null(strstr(c, ",\"a, \"\"quoted\"\" note\","));
    assert_non_null(strstr(c, ",Revenue,"));
    assert_non_null(strstr(c, ",1234,")); /* the decision on the decision metric's rows */
    free(c);
    json_decref(j);
}

/* The columns appended for fields the CSV had left out: the variants' names, the decision's
 * alpha and smallest variant, and a breakdown's own fields (values_total, a rebuild's
 * progress) on every row of every slice. A metric's warning is its metric_warning cell, not
 * a line of text among the rows (a row of one field to a CSV reader); the table notes it. */
static void test_csv_appended_columns(void **state)
{
    (void)state;
    json_t *a = doc(), *b = doc();
    for (int i = 0; i < 2; i++) {
        json_t *d = i ? b : a;
        json_object_set_new(d, "variants",
                            json_pack("[{s:s, s:s, s:i}, {s:s, s:s, s:i}]", "key", "a", "name",
                                      "Control", "users", 10, "key", "b", "name", "Green", "users",
                                      12));
        json_t *dec = json_object_get(d, "decision");
        json_object_set_new(dec, "alpha", json_real(0.01));
        json_object_set_new(dec, "users_smallest_variant", json_integer(10));
        json_object_set_new(d, "dimension", json_string("country"));
        json_object_set_new(d, "dimension_value", json_string(i ? "DE" : "US"));
    }
    json_t *m = json_array_get(json_object_get(a, "metrics"), 0);
    json_object_set_new(m, "warning", json_string("kept sums missing: back after the rebuild"));
    json_t *bd =
        json_pack("{s:s, s:s, s:I, s:[o,o], s:[], s:{s:f, s:I, s:I}, s:[{s:I}, {s:I}]}",
                  "experiment", "e", "dimension", "country", "values_total", (json_int_t)7,
                  "slices", a, b, "metrics_not_broken_down", "rebuilding", "progress", 0.25,
                  "users_done", (json_int_t)10, "users_total", (json_int_t)40, "variants",
                  "users_not_recorded", (json_int_t)2, "users_not_recorded", (json_int_t)5);
    assert_non_null(bd);
    char *c = results_to_csv(bd);
    const char *appended = ",metric_warning,variant_name,numerator,denominator,denominator_sum,"
                           "decision_alpha,decision_users_smallest_variant,values_total,"
                           "rebuilding_progress,rebuilding_users_done,rebuilding_users_total,"
                           "absolute_ci_adjusted_low,absolute_ci_adjusted_high,"
                           "relative_ci_adjusted_low,relative_ci_adjusted_high,"
                           "users_not_recorded,decision_mde_relative,decision_planned_for\r\n";
    const char *eol = strstr(c, "\r\n");
    assert_non_null(eol);
    assert_int_equal(strncmp(eol + 2 - strlen(appended), appended, strlen(appended)), 0);
    /* US, then DE: a row per variant, each with the breakdown's fields */
    assert_non_null(strstr(c, ",kept sums missing: back after the rebuild,Control,,,,0.01,10,7,"
                              "0.25,10,40,,,,,2,,\r\n"));
    assert_non_null(strstr(c, ",kept sums missing: back after the rebuild,Green,,,,0.01,10,7,"
                              "0.25,10,40,,,,,5,,\r\n"));
    assert_non_null(strstr(c, ",,Green,,,,0.01,10,7,0.25,10,40,,,,,5,,\r\n"));
    assert_null(strstr(c, "note ("));
    int lines = 0;
    for (const char *p = c; *p; p++) {
        if (*p == '\n') {
            assert_true(p > c && p[-1] == '\r');
            lines++;
        }
    }
    assert_int_equal(lines, 1 + 2 * 2); /* the header, 2 slices x 2 variants */
    free(c);
    char *t = results_to_table(bd);
    assert_non_null(strstr(t, "note (rev): kept sums missing: back after the rebuild\n"));
    free(t);
    json_decref(bd);
}

/* A breakdown: a heading, then each slice's own table under its value. */
static void test_table_breakdown(void **state)
{
    (void)state;
    json_t *a = doc(), *b = doc();
    json_object_set_new(a, "dimension_value", json_string("US"));
    json_object_set_new(b, "dimension_value", json_string("(other)"));
    json_t *bd = json_pack("{s:s, s:s, s:I, s:[o,o], s:[]}", "experiment", "checkout", "dimension",
                           "country", "values_total", (json_int_t)7, "slices", a, b,
                           "metrics_not_broken_down");
    assert_non_null(bd);
    char *t = results_to_table(bd);
    assert_non_null(strstr(t, "experiment checkout by country: 2 slices of 7 recorded values\n"));
    const char *us = strstr(t, "\n== country = US\nexperiment ");
    const char *other = strstr(t, "\n== country = (other)\nexperiment ");
    assert_non_null(us);
    assert_non_null(other);
    assert_true(us < other);
    /* each slice carries its rows: the relative p-value twice, once per slice */
    const char *p1 = strstr(us, "0.0586");
    assert_non_null(p1);
    assert_true(p1 < other);
    assert_non_null(strstr(other, "0.0586"));
    assert_null(strstr(t, "in no slice")); /* no variants[] here: nothing unrecorded */
    free(t);
    /* users exposed before the dimension was listed: said under the heading (rev-diff5 3) */
    json_object_set_new(bd, "variants",
                        json_pack("[{s:s, s:I}, {s:s, s:I}]", "key", "control",
                                  "users_not_recorded", (json_int_t)2, "key", "green",
                                  "users_not_recorded", (json_int_t)5));
    t = results_to_table(bd);
    assert_non_null(strstr(t, "of 7 recorded values\n7 users exposed before country was listed are "
                              "in no slice: control 2, green 5\n"));
    free(t);
    json_decref(bd);
}

/* The doc's treatment under a Holm correction, the reviewer's case: an unadjusted relative
 * interval excluding 0 beside "flat" (adjusted p 0.2024), its adjusted interval holding 0;
 * the absolute lift's adjusted interval unbounded. */
static json_t *holm_doc(void)
{
    json_t *j = doc();
    json_object_set_new(j, "correction", json_string("holm"));
    json_t *v = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "metrics"), 0), "variants"), 1);
    json_t *rel = json_object_get(v, "relative_lift");
    json_object_set_new(rel, "ci", json_pack("[f, f]", 0.02167, 0.3263));
    json_object_set_new(rel, "p_value", json_real(0.0253));
    json_object_set_new(rel, "p_value_adjusted", json_real(0.2024));
    json_object_set_new(rel, "ci_adjusted", json_pack("[f, f]", -0.0925, 0.4405));
    json_object_set_new(json_object_get(v, "absolute_lift"), "ci_adjusted", json_pack("[n, n]"));
    return j;
}

/* Under a correction the table shows the adjusted interval beside the verdict, labelled so
 * (it showed the unadjusted one, excluding 0, beside "flat"); an unbounded end reads -inf /
 * inf. */
static void test_table_adjusted(void **state)
{
    (void)state;
    json_t *j = holm_doc();
    char *t = results_to_table(j);
    assert_non_null(strstr(t, "adj.ci.low  adj.ci.high"));
    assert_non_null(strstr(t, "adjusted for the holm correction"));
    assert_null(strstr(t, "0.02167"));
    const char *row = strstr(t, "\nrev              b ");
    assert_non_null(row);
    assert_non_null(strstr(row, " -0.0925 "));
    assert_non_null(strstr(row, " 0.4405 "));
    assert_non_null(strstr(row, " flat "));
    free(t);
    /* without a correction, the interval (and its heading) as before */
    json_object_set_new(j, "correction", json_string("none"));
    t = results_to_table(j);
    assert_null(strstr(t, "adj.ci"));
    assert_non_null(strstr(t, " ci.low "));
    assert_non_null(strstr(t, "0.02167"));
    free(t);
    /* an unbounded relative interval */
    json_object_set_new(j, "correction", json_string("bh"));
    json_t *v = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "metrics"), 0), "variants"), 1);
    json_object_set_new(json_object_get(v, "relative_lift"), "ci_adjusted", json_pack("[n, n]"));
    t = results_to_table(j);
    assert_non_null(strstr(t, " -inf        inf "));
    free(t);
    json_decref(j);
}

/* The CSV carries ci_adjusted in four appended columns; unbounded ends read -inf, inf;
 * without a correction they are empty. */
static void test_csv_adjusted(void **state)
{
    (void)state;
    json_t *j = holm_doc();
    char *c = results_to_csv(j);
    const char *eol = strstr(c, "\r\n");
    assert_non_null(eol);
    assert_true(eol - c > 163);
    assert_int_equal(strncmp(eol - 163,
                             "absolute_ci_adjusted_low,absolute_ci_adjusted_high,"
                             "relative_ci_adjusted_low,relative_ci_adjusted_high,"
                             "users_not_recorded,decision_mde_relative,decision_planned_for",
                             163),
                     0);
    /* users_not_recorded and the decision's appended columns empty (the doc has none) */
    assert_non_null(strstr(c, ",-inf,inf,-0.0925,0.4405,,,\r\n"));
    free(c);
    json_decref(j);
    j = doc();
    c = results_to_csv(j);
    assert_non_null(strstr(c, ",,,,,,,\r\n"));
    free(c);
    json_decref(j);
}

/* The time series CSV carries each day's warning (why its nulls are null), as the JSON. */
static void test_timeseries_csv_warning(void **state)
{
    (void)state;
    json_t *ts = json_pack(
        "{s:s, s:s, s:s, s:f, s:[{s:s, s:[{s:s, s:I, s:f}, {s:s, s:I, s:n, s:{s:n, s:n, s:[n, n]}, "
        "s:{s:n, s:n, s:[n, n]}, s:s}]}]}",
        "experiment", "e", "metric", "m", "method", "frequentist", "alpha", 0.05, "days", "date",
        "2026-12-01", "variants", "key", "a", "users", (json_int_t)3, "mean", 0.5, "key", "b",
        "users", (json_int_t)0, "mean", "absolute_lift", "estimate", "se", "ci", "relative_lift",
        "estimate", "se", "ci", "warning", "no users in this variant, yet");
    assert_non_null(ts);
    char *c = results_timeseries_to_csv(ts);
    assert_non_null(strstr(c, ",relative_ci_high,warning,cuped,correction,always_valid,"));
    /* relative_lift.significant, appended last (the results CSV's relative_significant) */
    assert_non_null(
        strstr(c, ",relative_ci_adjusted_low,relative_ci_adjusted_high,relative_significant\r\n"));
    /* the columns after warning are empty: this document has no settings or p-values */
    assert_non_null(
        strstr(c, ",b,0,,,,,,,,,,\"no users in this variant, yet\",,,,,,,,,,,,,,,\r\n"));
    assert_non_null(strstr(c, ",a,3,0.5,,,,,,,,,,,,,,,,,,,,,,,,\r\n"));
    free(c);
    json_object_set_new(
        json_object_get(
            json_array_get(
                json_object_get(json_array_get(json_object_get(ts, "days"), 0), "variants"), 1),
            "relative_lift"),
        "significant", json_true());
    c = results_timeseries_to_csv(ts);
    assert_non_null(strstr(c, "\",,,,,,,,,,,,,,,true\r\n"));
    free(c);
    json_decref(ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_table_breakdown),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_table_adjusted),
        cmocka_unit_test(test_csv_adjusted),
        cmocka_unit_test(test_csv_appended_columns),
        cmocka_unit_test(test_timeseries_csv_warning),
    };
    return cmocka_run_group_tests_name("results_render", tests, NULL, NULL);
}
