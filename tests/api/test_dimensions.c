/*
 * Dimension breakdowns (issue 13, API.md "Results, v1.1") against the real daemon:
 * - "dimensions" on an experiment: validated (at most 3, attribute names, no repeats);
 * - values recorded at the first exposure from /exposures "attributes" and /assign
 *   "attributes"; later exposures do not move a user to another value;
 * - results?dimension=NAME: per value the same analysis as the main results, SRM per slice,
 *   one correction family over every slice; the per-slice users, sums and means equal a
 *   recount from the raw rows the test sent (counts exact, sums within 1e-9);
 * - a missing value -> "(none)", after the values;
 * - a metric edit rebuilds the slices in chunks (--rebuild-chunk 3): slices equal the recount
 *   under the new definition;
 * - bad input: unknown dimension, too many dimensions, bad names -> 400 JSON errors; CSV;
 * - ratio metrics per slice from the users' values (recounted);
 * - `bunsen results --dimension` gives the API's breakdown (JSON and table).
 * The values as recorded and reported (number texts, reals, caps, invisible characters, CSV
 * cells) are test_dimensions_values.c.
 */
#include "calls.h"
#include "results_csv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct daemon D;

static long long now_ms;
static const char *const ARGS[] = {"--rebuild-chunk", "3", NULL};

static int setup(void **state)
{
    (void)state;
    now_ms = harness_wall_ms();
    calls_use(&D);
    return daemon_start(&D, ARGS) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static void test_validation(void **state)
{
    (void)state;
    json_t *j = call_json(
        "POST", "/api/v1/experiments",
        exp_doc("dv1", json_pack("{s:[s,s,s,s]}", "dimensions", "a", "b", "c", "d")), 400);
    assert_string_equal(error_field(j), "dimensions");
    json_decref(j);
    j = call_json("POST", "/api/v1/experiments",
                  exp_doc("dv1", json_pack("{s:[s]}", "dimensions", "has space")), 400);
    assert_string_equal(error_field(j), "dimensions[0]");
    json_decref(j);
    j = call_json("POST", "/api/v1/experiments",
                  exp_doc("dv1", json_pack("{s:[s,s]}", "dimensions", "a", "a")), 400);
    assert_string_equal(error_field(j), "dimensions[1]");
    json_decref(j);
    char longname[80];
    memset(longname, 'n', 65);
    longname[65] = '\0';
    j = call_json("POST", "/api/v1/experiments",
                  exp_doc("dv1", json_pack("{s:[s]}", "dimensions", longname)), 400);
    assert_string_equal(error_field(j), "dimensions[0]");
    json_decref(j);
    j = call_json("POST", "/api/v1/experiments",
                  exp_doc("dv1", json_pack("{s:i}", "dimensions", 3)), 400);
    assert_string_equal(error_field(j), "dimensions");
    json_decref(j);
    /* accepted, shown, patched, cleared */
    j = call_json("POST", "/api/v1/experiments",
                  exp_doc("dv1", json_pack("{s:[s,s]}", "dimensions", "country", "app.version")),
                  201);
    assert_int_equal(json_array_size(json_object_get(j, "dimensions")), 2);
    json_decref(j);
    j = call_json("PATCH", "/api/v1/experiments/dv1", json_pack("{s:[s]}", "dimensions", "browser"),
                  200);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "dimensions"), 0)),
                        "browser");
    json_decref(j);
    j = call_json("GET", "/api/v1/experiments/dv1", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "dimensions")), 1);
    json_decref(j);
    j = call_json("PATCH", "/api/v1/experiments/dv1", json_pack("{s:n}", "dimensions"), 200);
    assert_int_equal(json_array_size(json_object_get(j, "dimensions")), 0);
    json_decref(j);
}

/* ---- the recount ---- */

#define NU 240
static const char *const COUNTRIES[] = {"US", "DE", "FR", NULL};
static struct user {
    char id[32];
    int variant;
    const char *country; /* recorded at the first exposure (NULL: "(none)") */
    const char *device;
    double rev;  /* sum of revenue events in the window */
    int buys;    /* purchase events in the window */
    double late; /* revenue of events after a 1 h window (counted before the edit only) */
} U[NU];

static unsigned rng = 12345;
static unsigned next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return (rng >> 16) & 0x7fff;
}

static void setup_breakdown(void)
{
    call_json_ok("POST", "/api/v1/metrics",
                 json_pack("{s:s, s:s, s:s}", "key", "dm_rev", "event", "dm_rev", "type", "sum"));
    call_json_ok(
        "POST", "/api/v1/metrics",
        json_pack("{s:s, s:s, s:s}", "key", "dm_buy", "event", "dm_buy", "type", "binomial"));
    call_json_ok("POST", "/api/v1/experiments",
                 json_pack("{s:s, s:[{s:s, s:f}, {s:s, s:f}], s:[s, s], s:[s, s]}", "key", "dx",
                           "variants", "key", "a", "weight", 0.5, "key", "b", "weight", 0.5,
                           "metrics", "dm_rev", "dm_buy", "dimensions", "country", "device"));
    call_json_ok("POST", "/api/v1/experiments/dx/start", json_object());
    long long t0 = now_ms - 3600000LL * 5;
    json_t *ex = json_array(), *ev = json_array(), *ex2 = json_array();
    for (int i = 0; i < NU; i++) {
        struct user *u = &U[i];
        snprintf(u->id, sizeof(u->id), "dim-user-%03d", i);
        u->variant = (int)(next_rand() % 2);
        u->country = COUNTRIES[next_rand() % 4];
        u->device = (i % 3) == 0 ? "mobile" : "desktop";
        json_t *attrs = json_pack("{s:s}", "device", u->device);
        if (u->country != NULL) {
            json_object_set_new(attrs, "country", json_string(u->country));
        }
        if (i % 5 == 0) {
            /* some users come through /assign; their variant is the hashed one */
            json_t *a = call_json("POST", "/api/v1/assign",
                                  json_pack("{s:s, s:[s], s:O}", "user_id", u->id, "experiments",
                                            "dx", "attributes", attrs),
                                  200);
            const char *v = json_string_value(json_object_get(
                json_object_get(json_object_get(a, "assignments"), "dx"), "variant"));
            assert_non_null(v);
            u->variant = strcmp(v, "b") == 0;
            json_decref(a);
        } else {
            json_array_append_new(ex, json_pack("{s:s, s:s, s:s, s:I, s:O}", "experiment", "dx",
                                                "user_id", u->id, "variant", u->variant ? "b" : "a",
                                                "ts", (json_int_t)t0, "attributes", attrs));
        }
        /* a later exposure with other attributes changes nothing */
        json_array_append_new(ex2,
                              json_pack("{s:s, s:s, s:s, s:I, s:{s:s, s:s}}", "experiment", "dx",
                                        "user_id", u->id, "variant", u->variant ? "b" : "a", "ts",
                                        (json_int_t)(now_ms - 1000), "attributes", "country", "ZZ",
                                        "device", "tv"));
        json_decref(attrs);
        int nev = (int)(next_rand() % 4);
        for (int e = 0; e < nev; e++) {
            double v = (double)(next_rand() % 1000) / 10.0 + 1e6; /* large: double-double sums */
            long long ts = now_ms - 3600000LL * 2 + e;
            json_array_append_new(ev, json_pack("{s:s, s:s, s:I, s:f}", "user_id", u->id, "event",
                                                "dm_rev", "ts", (json_int_t)ts, "value", v));
            u->late += v;
        }
        if (next_rand() % 3 == 0) {
            json_array_append_new(ev, json_pack("{s:s, s:s, s:I}", "user_id", u->id, "event",
                                                "dm_buy", "ts", (json_int_t)(now_ms - 60000)));
            u->buys = 1;
        }
    }
    /* half of the events before the exposures arrive */
    json_t *ev1 = json_array(), *ev2 = json_array();
    for (size_t i = 0; i < json_array_size(ev); i++) {
        json_array_append(i % 2 ? ev2 : ev1, json_array_get(ev, i));
    }
    json_decref(ev);
    call_json_ok("POST", "/api/v1/events", json_pack("{s:o}", "events", ev1));
    call_json_ok("POST", "/api/v1/exposures", json_pack("{s:o}", "exposures", ex));
    call_json_ok("POST", "/api/v1/events", json_pack("{s:o}", "events", ev2));
    call_json_ok("POST", "/api/v1/exposures", json_pack("{s:o}", "exposures", ex2));
    for (int i = 0; i < NU; i++) {
        /* no window yet: every revenue event after the exposure counts; users of /assign were
         * exposed now, after their events */
        U[i].rev = i % 5 == 0 ? 0 : U[i].late;
        U[i].buys = i % 5 == 0 ? 0 : U[i].buys;
    }
}

static const char *user_value(const struct user *u, const char *dimension)
{
    const char *v = strcmp(dimension, "country") == 0 ? u->country : u->device;
    return v ? v : "(none)";
}

static const json_t *find_metric(const json_t *doc, const char *key)
{
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(doc, "metrics"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "key")), key) == 0) {
            return m;
        }
    }
    return NULL;
}

static void assert_close(double got, double want, const char *what)
{
    if (fabs(got - want) > 1e-9 * fmax(1.0, fabs(want))) {
        fail_msg("%s: got %.17g want %.17g", what, got, want);
    }
}

/* Every slice of dimension equals the recount of U (cap: per-user revenue cap, 0 = none). */
static void check_recount(const char *dimension, double cap)
{
    json_t *res =
        call_json("GET", fmt("/api/v1/experiments/dx/results?dimension=%s", dimension), NULL, 200);
    assert_string_equal(json_string_value(json_object_get(res, "dimension")), dimension);
    size_t nslices = json_array_size(json_object_get(res, "slices"));
    size_t seen = 0;
    int64_t total_users = 0;
    for (size_t s = 0; s < nslices; s++) {
        const json_t *sl = json_array_get(json_object_get(res, "slices"), s);
        const char *value = json_string_value(json_object_get(sl, "dimension_value"));
        int64_t n[2] = {0, 0}, buys[2] = {0, 0};
        double rev[2] = {0, 0}, rev2[2] = {0, 0};
        for (int i = 0; i < NU; i++) {
            if (strcmp(user_value(&U[i], dimension), value) != 0) {
                continue;
            }
            int v = U[i].variant;
            double y = cap > 0 && U[i].rev > cap ? cap : U[i].rev;
            n[v]++;
            buys[v] += U[i].buys;
            rev[v] += y;
            rev2[v] += y * y;
        }
        seen++;
        assert_true(n[0] + n[1] > 0);
        /* SRM per slice */
        const json_t *srm = json_object_get(sl, "srm");
        assert_int_equal(json_integer_value(json_array_get(json_object_get(srm, "observed"), 0)),
                         n[0]);
        assert_int_equal(json_integer_value(json_array_get(json_object_get(srm, "observed"), 1)),
                         n[1]);
        assert_true(json_is_number(json_object_get(srm, "p_value")));
        const json_t *mr = find_metric(sl, "dm_rev"), *mb = find_metric(sl, "dm_buy");
        assert_non_null(mr);
        assert_non_null(mb);
        for (int v = 0; v < 2; v++) {
            const json_t *vr = json_array_get(json_object_get(mr, "variants"), (size_t)v);
            const json_t *vb = json_array_get(json_object_get(mb, "variants"), (size_t)v);
            assert_int_equal(json_integer_value(json_object_get(vr, "users")), n[v]);
            assert_int_equal(json_integer_value(json_object_get(vb, "users")), n[v]);
            assert_close(json_number_value(json_object_get(vr, "sum")), rev[v], "sum");
            assert_close(json_number_value(json_object_get(vb, "sum")), (double)buys[v], "buys");
            if (n[v] >= 2) {
                double mean = rev[v] / (double)n[v];
                double var = 0;
                for (int i = 0; i < NU; i++) {
                    if (U[i].variant == v && strcmp(user_value(&U[i], dimension), value) == 0) {
                        double y = cap > 0 && U[i].rev > cap ? cap : U[i].rev;
                        var += (y - mean) * (y - mean);
                    }
                }
                double sd = sqrt(var / (double)(n[v] - 1));
                assert_close(json_number_value(json_object_get(vr, "mean")), mean, "mean");
                if (fabs(json_number_value(json_object_get(vr, "stddev")) - sd) >
                    1e-6 * fmax(1.0, sd)) {
                    fail_msg("stddev %s=%s v%d: got %.17g want %.17g", dimension, value, v,
                             json_number_value(json_object_get(vr, "stddev")), sd);
                }
            }
            if (v == 1 && n[0] >= 2 && n[1] >= 2) {
                assert_true(json_is_number(json_object_get(vr, "p_value_adjusted")) ||
                            json_is_null(json_object_get(vr, "p_value")));
            }
        }
        total_users += n[0] + n[1];
    }
    assert_int_equal(total_users, NU); /* every user in exactly one slice */
    assert_true(seen >= 2);
    json_decref(res);
}

static void test_breakdown_recount(void **state)
{
    (void)state;
    setup_breakdown();
    check_recount("country", 0);
    check_recount("device", 0);
    /* a value no user had is not a slice; "(none)" is */
    json_t *res = call_json("GET", "/api/v1/experiments/dx/results?dimension=country", NULL, 200);
    assert_null(results_slice(res, "ZZ"));
    assert_non_null(results_slice(res, "US"));
    const json_t *none = results_slice(res, "(none)");
    assert_non_null(none);
    /* "(none)" after the values however many users it has */
    const json_t *slices = json_object_get(res, "slices");
    assert_ptr_equal(json_array_get(slices, json_array_size(slices) - 1), none);
    json_decref(res);
}

static void test_corrections_over_slices(void **state)
{
    (void)state;
    /* holm over every slice: the adjusted p-value is at least the raw one times 1, and the
     * smallest raw p-value is multiplied by the family size (slices x metrics x treatments) */
    json_t *res = call_json(
        "GET", "/api/v1/experiments/dx/results?dimension=country&correction=holm", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(res, "correction")), "holm");
    double pmin = 2, adj_of_min = -1;
    size_t m = 0, i, j, k;
    const json_t *sl, *mt, *v;
    json_array_foreach(json_object_get(res, "slices"), i, sl)
    {
        json_array_foreach(json_object_get(sl, "metrics"), j, mt)
        {
            json_array_foreach(json_object_get(mt, "variants"), k, v)
            {
                if (k == 0 || !json_is_number(json_object_get(v, "p_value"))) {
                    continue;
                }
                double p = json_number_value(json_object_get(v, "p_value"));
                double a = json_number_value(json_object_get(v, "p_value_adjusted"));
                assert_true(a >= p - 1e-15);
                m++;
                if (p < pmin) {
                    pmin = p;
                    adj_of_min = a;
                }
            }
        }
    }
    assert_true(m >= 4);
    assert_close(adj_of_min, fmin(1.0, pmin * (double)m), "holm over slices");
    json_decref(res);
}

static void test_bad_requests_and_csv(void **state)
{
    (void)state;
    json_t *j = call_json("GET", "/api/v1/experiments/dx/results?dimension=planet", NULL, 400);
    assert_string_equal(error_field(j), "dimension");
    json_decref(j);
    j = call_json("GET", "/api/v1/experiments/dx/results?dimension=", NULL, 400);
    json_decref(j);
    struct resp r;
    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/dx/results?dimension=country&format=csv",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    char ct[128];
    assert_true(resp_header(&r, "Content-Type", ct, sizeof(ct)));
    assert_non_null(strstr(ct, "text/csv"));
    assert_non_null(strstr(r.body, "dimension,dimension_value"));
    assert_non_null(strstr(r.body, ",country,US,"));
    assert_non_null(strstr(r.body, ",country,(none),"));
    size_t lines = 0;
    for (const char *p = r.body; *p; p++) {
        lines += *p == '\n';
    }
    json_t *res = call_json("GET", "/api/v1/experiments/dx/results?dimension=country", NULL, 200);
    size_t slices = json_array_size(json_object_get(res, "slices"));
    json_decref(res);
    assert_int_equal(lines, 1 + slices * 2 /* metrics */ * 2 /* variants */);
    resp_free(&r);
    /* every field of the breakdown (its values_total, each slice's) has its column */
    json_decref(
        results_csv_check(D.port, D.admin_key, "/api/v1/experiments/dx/results?dimension=country"));
}

/* Within one request the earliest of a user's items is the first exposure, and its
 * attributes are recorded whatever the items' order: u1's later item (no attributes) came
 * first and put u1 in "(none)" while u2, the same items the other way round, was in "de"
 * (review stats29 1). A later request's earlier item still moves nothing (API.md). */
static void test_dims_order_in_request(void **state)
{
    (void)state;
    json_decref(call("POST", "/api/v1/experiments",
                     "{\"key\":\"dord\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                     "\"dimensions\":[\"country\"]}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/dord/start", NULL, 200));
    json_int_t t = (json_int_t)(now_ms - 3600000), early = t - 60000;
    const char *x = "{s:s, s:s, s:s, s:I}", *xa = "{s:s, s:s, s:s, s:I, s:{s:s}}";
#define EXPO(u, ts) json_pack(x, "experiment", "dord", "user_id", u, "variant", "a", "ts", ts)
#define EXPO_DE(u, ts)                                                                             \
    json_pack(xa, "experiment", "dord", "user_id", u, "variant", "a", "ts", ts, "attributes",      \
              "country", "de")
    call_json_ok("POST", "/api/v1/exposures",
                 json_pack("{s:[o, o, o, o]}", "exposures", EXPO("o1", t), EXPO_DE("o1", early),
                           EXPO_DE("o2", early), EXPO("o2", t)));
    /* o3: stored first without attributes; an earlier item with them, in a later request */
    call_json_ok("POST", "/api/v1/exposures", json_pack("{s:[o]}", "exposures", EXPO("o3", t)));
    call_json_ok("POST", "/api/v1/exposures",
                 json_pack("{s:[o]}", "exposures", EXPO_DE("o3", early)));
#undef EXPO
#undef EXPO_DE
    json_t *res = call("GET", "/api/v1/experiments/dord/results?dimension=country", NULL, 200);
    const json_t *de = results_slice(res, "de"), *none = results_slice(res, "(none)");
    assert_non_null(de);
    assert_non_null(none);
    /* o1 and o2 in "de", o3 in "(none)" */
    assert_int_equal(json_integer_value(json_array_get(
                         json_object_get(json_object_get(de, "srm"), "observed"), 0)),
                     2);
    assert_int_equal(json_integer_value(json_array_get(
                         json_object_get(json_object_get(none, "srm"), "observed"), 0)),
                     1);
    json_decref(res);
}

/* A ratio metric broken down: per slice and variant its users and mean (sum of the
 * numerator over sum of the denominator) equal the recount of the raw events sent, the
 * delta-method stddev is a number, every user with a value sits in one slice, and nothing is
 * listed as not broken down. */
static void test_ratio_slices(void **state)
{
    (void)state;
    call_json_ok(
        "POST", "/api/v1/metrics",
        json_pack("{s:s, s:s, s:s}", "key", "dm_rcount", "event", "dm_rev", "type", "count"));
    call_json_ok("POST", "/api/v1/metrics",
                 json_pack("{s:s, s:s, s:s, s:s}", "key", "dm_rpe", "type", "ratio", "numerator",
                           "dm_rev", "denominator", "dm_rcount"));
    call_json_ok("POST", "/api/v1/experiments",
                 json_pack("{s:s, s:[{s:s}, {s:s}], s:[s, s], s:[s]}", "key", "dr", "variants",
                           "key", "a", "key", "b", "metrics", "dm_rpe", "dm_rev", "dimensions",
                           "country"));
    call_json_ok("POST", "/api/v1/experiments/dr/start", json_object());
    enum { NR = 90 };
    static const char *const C[] = {"US", "DE", NULL};
    double num[3][2] = {{0}}, den[3][2] = {{0}};
    int64_t n[3][2] = {{0}};
    long long t0 = now_ms - 3600000LL * 3;
    json_t *ex = json_array(), *ev = json_array();
    for (int i = 0; i < NR; i++) {
        char id[32];
        snprintf(id, sizeof(id), "ratio-user-%03d", i);
        int v = (int)(next_rand() % 2), c = (int)(next_rand() % 3);
        json_t *attrs = C[c] ? json_pack("{s:s}", "country", C[c]) : json_object();
        json_array_append_new(ex, json_pack("{s:s, s:s, s:s, s:I, s:o}", "experiment", "dr",
                                            "user_id", id, "variant", v ? "b" : "a", "ts",
                                            (json_int_t)t0, "attributes", attrs));
        n[c][v]++;
        int nev = 1 + (int)(next_rand() % 4);
        for (int e = 0; e < nev; e++) {
            double val = (double)(next_rand() % 5000) / 100.0;
            json_array_append_new(ev, json_pack("{s:s, s:s, s:I, s:f}", "user_id", id, "event",
                                                "dm_rev", "ts", (json_int_t)(t0 + 1000 + e),
                                                "value", val));
            num[c][v] += val;
            den[c][v] += 1;
        }
    }
    call_json_ok("POST", "/api/v1/exposures", json_pack("{s:o}", "exposures", ex));
    call_json_ok("POST", "/api/v1/events", json_pack("{s:o}", "events", ev));
    json_t *res = call_json("GET", "/api/v1/experiments/dr/results?dimension=country", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(res, "metrics_not_broken_down")), 0);
    assert_int_equal(json_array_size(json_object_get(res, "slices")), 3);
    for (int c = 0; c < 3; c++) {
        const json_t *sl = results_slice(res, C[c] ? C[c] : "(none)");
        assert_non_null(sl);
        const json_t *m = find_metric(sl, "dm_rpe");
        assert_non_null(m);
        assert_string_equal(json_string_value(json_object_get(m, "type")), "ratio");
        for (int v = 0; v < 2; v++) {
            const json_t *jv = json_array_get(json_object_get(m, "variants"), (size_t)v);
            assert_int_equal(json_integer_value(json_object_get(jv, "users")), n[c][v]);
            assert_close(json_number_value(json_object_get(jv, "mean")), num[c][v] / den[c][v],
                         "ratio mean");
            assert_true(json_is_number(json_object_get(jv, "stddev")));
        }
        const json_t *t = json_array_get(json_object_get(m, "variants"), 1);
        assert_true(json_is_number(json_object_get(t, "p_value")));
    }
    json_decref(res);
    /* the whole experiment's ratio over the same users: the slices' sums add up to it */
    res = call_json("GET", "/api/v1/experiments/dr/results", NULL, 200);
    const json_t *m = find_metric(res, "dm_rpe");
    for (int v = 0; v < 2; v++) {
        double sn = num[0][v] + num[1][v] + num[2][v], sd = den[0][v] + den[1][v] + den[2][v];
        const json_t *jv = json_array_get(json_object_get(m, "variants"), (size_t)v);
        assert_close(json_number_value(json_object_get(jv, "mean")), sn / sd, "whole ratio mean");
    }
    json_decref(res);
    /* the CSV of the ratio's breakdown: its parts and denominator sums per slice */
    json_decref(
        results_csv_check(D.port, D.admin_key, "/api/v1/experiments/dr/results?dimension=country"));
}

/* `bunsen results KEY --dimension NAME` (the CLI beside the running daemon) gives the
 * breakdown the API gives: the same slices with the same users per variant; as a table each
 * slice under its heading; an unknown dimension exits 2 naming the field. */
static void test_cli_breakdown(void **state)
{
    (void)state;
    char *out = NULL;
    const char *args[] = {"results", "dx",         "--dimension", "country", "--format",
                          "json",    "--data-dir", D.dir,         NULL};
    assert_int_equal(bunsen_run(&out, args), 0);
    json_t *cli = json_loads(out, 0, NULL);
    if (cli == NULL) {
        fail_msg("not JSON: %s", out);
    }
    free(out);
    json_t *api = call_json("GET", "/api/v1/experiments/dx/results?dimension=country", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(cli, "dimension")), "country");
    json_t *cs = json_object_get(cli, "slices"), *as = json_object_get(api, "slices");
    assert_true(json_array_size(as) >= 2);
    assert_int_equal(json_array_size(cs), json_array_size(as));
    for (size_t i = 0; i < json_array_size(as); i++) {
        json_t *c = json_array_get(cs, i), *a = json_array_get(as, i);
        assert_string_equal(json_string_value(json_object_get(c, "dimension_value")),
                            json_string_value(json_object_get(a, "dimension_value")));
        json_t *cm = json_object_get(c, "metrics"), *am = json_object_get(a, "metrics");
        assert_int_equal(json_array_size(cm), json_array_size(am));
        for (size_t m = 0; m < json_array_size(am); m++) {
            json_t *cv = json_object_get(json_array_get(cm, m), "variants");
            json_t *av = json_object_get(json_array_get(am, m), "variants");
            assert_int_equal(json_array_size(cv), json_array_size(av));
            for (size_t v = 0; v < json_array_size(av); v++) {
                assert_int_equal(
                    json_integer_value(json_object_get(json_array_get(cv, v), "users")),
                    json_integer_value(json_object_get(json_array_get(av, v), "users")));
            }
        }
    }
    json_decref(cli);
    json_decref(api);
    const char *table[] = {"results", "dx",         "--dimension", "country", "--format",
                           "table",   "--data-dir", D.dir,         NULL};
    assert_int_equal(bunsen_run(&out, table), 0);
    assert_non_null(strstr(out, "experiment dx by country: "));
    assert_non_null(strstr(out, "\n== country = US\nexperiment dx "));
    free(out);
    const char *bad[] = {"results", "dx", "--dimension", "planet", "--data-dir", D.dir, NULL};
    assert_int_equal(bunsen_run(&out, bad), 2);
    assert_non_null(strstr(out, "dimension"));
    free(out);
}

static void test_rebuild_after_metric_edit(void **state)
{
    (void)state;
    /* a cap on revenue: every slice is rebuilt (chunks of 3 users) under it */
    double cap = 1e6 + 150;
    call_json_ok("PATCH", "/api/v1/metrics/dm_rev", json_pack("{s:f}", "cap", cap));
    wait_rebuilt("dx");
    check_recount("country", cap);
    check_recount("device", cap);
    /* and back: every row counted exactly once */
    call_json_ok("PATCH", "/api/v1/metrics/dm_rev", json_pack("{s:n}", "cap"));
    wait_rebuilt("dx");
    check_recount("country", 0);
    /* while no dimension is listed, events do not move the slices; listing them again
     * rebuilds them from the values recorded at first exposure */
    call_json_ok("PATCH", "/api/v1/experiments/dx", json_pack("{s:n}", "dimensions"));
    wait_rebuilt("dx");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    json_t *ev = json_array();
    for (int i = 0; i < NU; i += 7) {
        json_array_append_new(ev, json_pack("{s:s, s:s, s:I, s:f}", "user_id", U[i].id, "event",
                                            "dm_rev", "ts", (json_int_t)(now - 1), "value", 7.25));
        U[i].rev += 7.25;
    }
    call_json_ok("POST", "/api/v1/events", json_pack("{s:o}", "events", ev));
    json_t *j = call_json("GET", "/api/v1/experiments/dx/results?dimension=device", NULL, 400);
    json_decref(j);
    call_json_ok("PATCH", "/api/v1/experiments/dx",
                 json_pack("{s:[s, s]}", "dimensions", "country", "device"));
    wait_rebuilt("dx");
    check_recount("device", 0);
    check_recount("country", 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_breakdown_recount),
        cmocka_unit_test(test_corrections_over_slices),
        cmocka_unit_test(test_bad_requests_and_csv),
        cmocka_unit_test(test_dims_order_in_request),
        cmocka_unit_test(test_cli_breakdown),
        cmocka_unit_test(test_ratio_slices),
        cmocka_unit_test(test_rebuild_after_metric_edit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
