/*
 * API tests for the formats of results replies (docs/API.md "Results formats"):
 * - content negotiation by Accept media ranges and q-values, not by substring
 *   (`text/csv;q=0` refuses CSV), with `Vary: Accept` on replies whose format came from
 *   Accept: results, time series, the per-user export (CSV or NDJSON);
 * - the CSV of an experiment without metrics (also of a breakdown) has one row per variant,
 *   the metric columns empty, so the variants, the sample-ratio check and the data quality
 *   are not lost (results_csv.c checks every field of the JSON against the CSV).
 * One daemon is shared by every test (group setup).
 */
#include "harness.h"
#include "results_csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;

#define VARS "\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]"

static json_t *call(const char *method, const char *path, const char *body, int want)
{
    return harness_call(D.port, method, path, D.admin_key, body, want);
}

static void call_ok(const char *method, const char *path, const char *body, int want)
{
    json_decref(call(method, path, body, want));
}

/* n users exposed to experiment, alternately control and green, with a country attribute
 * cycling over countries[] when not NULL; every third user has an `event` (when not NULL). */
static void expose(const char *experiment, int n, const char *const *countries, size_t ncountries,
                   const char *event)
{
    json_t *ex = json_array(), *ev = json_array();
    for (int i = 0; i < n; i++) {
        const char *uid = fmt("%s-u%d", experiment, i);
        json_t *x = json_pack("{s:s, s:s, s:s}", "experiment", experiment, "user_id", uid,
                              "variant", i % 2 ? "green" : "control");
        if (countries != NULL) {
            json_object_set_new(x, "attributes",
                                json_pack("{s:s}", "country", countries[(size_t)i % ncountries]));
        }
        json_array_append_new(ex, x);
        if (event != NULL && i % 3 == 0) {
            json_array_append_new(ev, json_pack("{s:s, s:s}", "user_id", uid, "event", event));
        }
    }
    json_t *body = json_pack("{s:o}", "exposures", ex);
    char *text = json_dumps(body, JSON_COMPACT);
    call_ok("POST", "/api/v1/exposures", text, 200);
    free(text);
    json_decref(body);
    if (json_array_size(ev) > 0) {
        body = json_pack("{s:o}", "events", ev);
        text = json_dumps(body, JSON_COMPACT);
        call_ok("POST", "/api/v1/events", text, 200);
        free(text);
        json_decref(body);
    } else {
        json_decref(ev);
    }
}

static int setup(void **state)
{
    (void)state;
    if (daemon_start(&D, NULL) != 0) {
        return -1;
    }
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"fm-buy\",\"event\":\"fm-buy\",\"type\":\"binomial\"}", 201);
    call_ok("POST", "/api/v1/experiments", "{\"key\":\"fm-exp\"," VARS ",\"metrics\":[\"fm-buy\"]}",
            201);
    call_ok("POST", "/api/v1/experiments/fm-exp/start", NULL, 200);
    expose("fm-exp", 40, NULL, 0, "fm-buy");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

/* GET path with the extra header lines (NULL: none); the reply's Content-Type (up to ';')
 * into ct and whether it carried Vary: Accept. Fails unless 200. */
static void get_as(const char *path, const char *headers, char *ct, size_t n, bool *vary)
{
    struct resp r;
    assert_int_equal(http_req_hdr(D.port, "GET", path, D.admin_key, headers, NULL, NULL, 0, &r), 0);
    if (r.status != 200) {
        fail_msg("GET %s [%s]: %d %s", path, headers ? headers : "", r.status,
                 r.body ? r.body : "");
    }
    char v[128] = "";
    assert_true(resp_header(&r, "Content-Type", ct, n));
    ct[strcspn(ct, ";")] = '\0';
    *vary = resp_header(&r, "Vary", v, sizeof(v)) && strstr(v, "Accept") != NULL;
    resp_free(&r);
}

static void expect_type(const char *path, const char *accept, const char *want, bool want_vary)
{
    char headers[512], ct[128];
    bool vary;
    snprintf(headers, sizeof(headers), "Accept: %s\r\n", accept);
    get_as(path, accept ? headers : NULL, ct, sizeof(ct), &vary);
    if (strcmp(ct, want) != 0) {
        fail_msg("GET %s with Accept: %s answered %s, expected %s", path,
                 accept ? accept : "(none)", ct, want);
    }
    if (vary != want_vary) {
        fail_msg("GET %s with Accept: %s: Vary: Accept %s", path, accept ? accept : "(none)",
                 want_vary ? "missing" : "sent although ?format chose");
    }
}

static void test_accept_results(void **state)
{
    (void)state;
    static const struct {
        const char *accept, *type;
    } cases[] = {
        /* the review's reproduction: both were CSV */
        {"text/csv;q=0, application/json", "application/json"},
        {"application/json, text/csv;q=0.1", "application/json"},
        {"text/csv", "text/csv"},
        {"text/csv; charset=utf-8", "text/csv"},
        {"text/*", "text/csv"},
        {"*/*", "application/json"},
        {"", "application/json"},
        {"text/html", "application/json"}, /* neither acceptable: the default */
        {"application/json;q=0.5, text/csv", "text/csv"},
        {"TEXT/CSV;Q=0.9, application/json;q=0.8", "text/csv"},
        {"text/csv, */*", "text/csv"},                      /* named beats matched by * / * */
        {"text/csv, application/json", "application/json"}, /* a full tie: the default */
        {"*/*;q=0.1, text/csv;q=0.2", "text/csv"},
        {"text/csv;q=0.2, */*;q=0.5", "application/json"},
        {"text/*;q=0, */*", "application/json"},
        {"text/csv;q=zero, application/json;q=0.1", "application/json"}, /* malformed q */
        {"text/csv;q=0x1p-1, application/json;q=0.1", "application/json"},
        {"application/json;q=0, text/csv;q=0.001", "text/csv"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect_type("/api/v1/experiments/fm-exp/results", cases[i].accept, cases[i].type, true);
    }
    expect_type("/api/v1/experiments/fm-exp/results", NULL, "application/json", true);
    /* ?format decides alone, and then no Vary */
    expect_type("/api/v1/experiments/fm-exp/results?format=json", "text/csv", "application/json",
                false);
    expect_type("/api/v1/experiments/fm-exp/results?format=csv", "application/json", "text/csv",
                false);
    /* several Accept lines are one list */
    char ct[128];
    bool vary;
    get_as("/api/v1/experiments/fm-exp/results",
           "Accept: application/json;q=0.1\r\nAccept: text/csv\r\n", ct, sizeof(ct), &vary);
    assert_string_equal(ct, "text/csv");
    /* the time series and a breakdown negotiate the same way */
    expect_type("/api/v1/experiments/fm-exp/timeseries?metric=fm-buy", "text/csv;q=0, */*",
                "application/json", true);
    expect_type("/api/v1/experiments/fm-exp/timeseries?metric=fm-buy", "text/csv", "text/csv",
                true);
}

static void test_accept_users_export(void **state)
{
    (void)state;
    const char *path = "/api/v1/experiments/fm-exp/users?metric=fm-buy";
    expect_type(path, NULL, "text/csv", true);
    expect_type(path, "application/x-ndjson", "application/x-ndjson", true);
    expect_type(path, "application/x-ndjson;q=0, text/csv", "text/csv", true);
    expect_type(path, "text/csv;q=0.5, application/x-ndjson", "application/x-ndjson", true);
    expect_type(path, "*/*", "text/csv", true);
    expect_type(fmt("%s&format=ndjson", path), "text/csv", "application/x-ndjson", false);
}

/* The column index of name in the CSV header line, or -1. */
static int header_col(const char *csv, const char *name)
{
    int col = 0;
    size_t n = strlen(name);
    for (const char *p = csv; *p != '\r' && *p != '\0'; col++) {
        size_t len = strcspn(p, ",\r");
        if (len == n && strncmp(p, name, n) == 0) {
            return col;
        }
        p += len + (p[len] == ',');
    }
    return -1;
}

/* Cell (row >= 1 after the header, col) of a CSV without quoted fields, into out. */
static void cell(const char *csv, int row, int col, char *out, size_t n)
{
    const char *p = csv;
    for (int r = 0; r < row; r++) {
        p = strstr(p, "\r\n");
        assert_non_null(p);
        p += 2;
    }
    for (int c = 0; c < col; c++) {
        p += strcspn(p, ",\r") + 1;
    }
    size_t len = strcspn(p, ",\r");
    snprintf(out, n, "%.*s", (int)len, p);
}

static void test_csv_without_metrics(void **state)
{
    (void)state;
    static const char *const countries[] = {"NL", "BE", "DE"};
    call_ok("POST", "/api/v1/experiments",
            "{\"key\":\"nm-exp\"," VARS ",\"dimensions\":[\"country\"]}", 201);
    call_ok("POST", "/api/v1/experiments/nm-exp/start", NULL, 200);
    expose("nm-exp", 30, countries, 3, NULL);

    /* every field of the JSON in the CSV: srm, variants, data quality, one row per variant */
    json_decref(results_csv_check(D.port, D.admin_key, "/api/v1/experiments/nm-exp/results"));
    json_decref(results_csv_check(D.port, D.admin_key,
                                  "/api/v1/experiments/nm-exp/results?dimension=country"));

    struct resp r;
    assert_int_equal(http_req(D.port, "GET", "/api/v1/experiments/nm-exp/results?format=csv",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    int lines = 0;
    for (const char *p = r.body; (p = strstr(p, "\r\n")) != NULL; p += 2) {
        lines++;
    }
    assert_int_equal(lines, 3); /* header + 2 variants */
    char v[64];
    const int variant = header_col(r.body, "variant"), metric = header_col(r.body, "metric");
    const int observed = header_col(r.body, "srm_observed"), mean = header_col(r.body, "mean");
    const int conflicts = header_col(r.body, "conflicting_exposures");
    assert_true(variant >= 0 && metric >= 0 && observed >= 0 && mean >= 0 && conflicts >= 0);
    static const char *const keys[] = {"control", "green"};
    for (int row = 1; row <= 2; row++) {
        cell(r.body, row, variant, v, sizeof(v));
        assert_string_equal(v, keys[row - 1]);
        cell(r.body, row, observed, v, sizeof(v));
        assert_string_equal(v, "15");
        cell(r.body, row, conflicts, v, sizeof(v));
        assert_string_equal(v, "0");
        cell(r.body, row, metric, v, sizeof(v));
        assert_string_equal(v, "");
        cell(r.body, row, mean, v, sizeof(v));
        assert_string_equal(v, "");
    }
    resp_free(&r);

    /* a breakdown: one row per slice x variant (3 countries and "(none)") */
    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/nm-exp/results?dimension=country&format=csv",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    json_t *doc = call("GET", "/api/v1/experiments/nm-exp/results?dimension=country", NULL, 200);
    size_t slices = json_array_size(json_object_get(doc, "slices"));
    json_decref(doc);
    assert_true(slices >= 3);
    lines = 0;
    for (const char *p = r.body; (p = strstr(p, "\r\n")) != NULL; p += 2) {
        lines++;
    }
    assert_int_equal(lines, 1 + 2 * (int)slices);
    resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_results),
        cmocka_unit_test(test_accept_users_export),
        cmocka_unit_test(test_csv_without_metrics),
    };
    return cmocka_run_group_tests_name("results_formats", tests, setup, teardown);
}
