/*
 * API tests for assignment: every reason (hashed, forced, released, not_running,
 * not_targeted, namespace, coverage) through POST /api/v1/assign and
 * GET /api/v1/experiments/{key}/assign, `unknown` keys, the default set of experiments,
 * explain output, user_id and other input validation, exposure logging (checked in the
 * exposures table, which must hold the row as soon as the reply arrives), and
 * determinism across a restart. Vectors and bulk splits: test_assign_vectors.c.
 * One daemon is shared by every test (group setup).
 */
#include "calls.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;

#define VARS "\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]"

static int setup(void **state)
{
    (void)state;
    calls_use(&D);
    return daemon_start(&D, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

/* POST /assign for one experiment; returns its assignment object (owned by *root). */
static json_t *assign1(const char *exp, const char *user_json, const char *extra, json_t **root)
{
    *root =
        call("POST", "/api/v1/assign",
             fmt("{\"user_id\":%s,\"experiments\":[\"%s\"]%s}", user_json, exp, extra ? extra : ""),
             200);
    json_t *o = json_object_get(json_object_get(*root, "assignments"), exp);
    assert_non_null(o);
    return o;
}

/* Expect reason/variant/in_experiment for (exp, user) from both endpoints. */
static void expect(const char *exp, const char *user, const char *query, const char *attrs,
                   const char *reason, const char *variant, bool in)
{
    json_t *root;
    json_t *o = assign1(
        exp, fmt("\"%s\"", user),
        fmt(",\"log_exposure\":false%s%s", attrs ? ",\"attributes\":" : "", attrs ? attrs : ""),
        &root);
    if (strcmp(str(o, "reason"), reason) != 0) {
        fail_msg("%s/%s: reason %s, expected %s", exp, user, str(o, "reason"), reason);
    }
    assert_string_equal(str(o, "variant"), variant);
    assert_int_equal(json_is_true(json_object_get(o, "in_experiment")), in);
    json_t *bucket = json_object_get(o, "bucket");
    bool hashed = strcmp(reason, "hashed") == 0 || strcmp(reason, "coverage") == 0;
    assert_true(hashed ? json_is_number(bucket) : json_is_null(bucket));
    if (hashed) {
        assert_true(json_number_value(bucket) >= 0 && json_number_value(bucket) < 1);
    }
    json_decref(root);
    json_t *g = call("GET",
                     fmt("/api/v1/experiments/%s/assign?user_id=%s&log_exposure=false%s", exp, user,
                         query ? query : ""),
                     NULL, 200);
    assert_string_equal(str(g, "experiment"), exp);
    assert_string_equal(str(g, "user_id"), user);
    assert_string_equal(str(g, "reason"), reason);
    assert_string_equal(str(g, "variant"), variant);
    assert_int_equal(json_is_true(json_object_get(g, "in_experiment")), in);
    json_decref(g);
}

/* Rows in the exposures table for experiment and user (NULL = any), and variant if set. */
static long exposures(const char *experiment, const char *user, const char *variant)
{
    return (long)daemon_db_int(
        &D,
        "SELECT COUNT(*) FROM exposures WHERE experiment = ?1 AND (?2 IS NULL OR user_id = ?2) "
        "AND (?3 IS NULL OR variant = ?3)",
        3, experiment, user, variant);
}

static void test_reasons(void **state)
{
    (void)state;
    new_exp("a-hashed", VARS, "start");
    new_exp("a-forced", VARS ",\"forced\":{\"qa-1\":\"green\"}", "start");
    new_exp("a-released", VARS, "start");
    json_decref(
        call("POST", "/api/v1/experiments/a-released/stop", "{\"release\":\"green\"}", 200));
    new_exp("a-draft", VARS ",\"forced\":{\"qa-1\":\"green\"}", NULL);
    new_exp("a-paused", VARS, "start,pause");
    new_exp("a-stopped", VARS, "start,stop");
    new_exp("a-archived", VARS, "start,stop,archive");
    new_exp("a-targeted", VARS ",\"targeting\":{\"country\":\"NL\"}", "start");
    new_exp("a-ns", VARS ",\"namespace\":{\"name\":\"nsx\",\"range\":[0,0.5]}", "start");
    new_exp("a-coverage", VARS ",\"coverage\":0", "start");
    expect("a-hashed", "u-1", NULL, NULL, "hashed", "control", true);
    expect("a-forced", "qa-1", NULL, NULL, "forced", "green", false);
    expect("a-released", "u-1", NULL, NULL, "released", "green", false);
    expect("a-draft", "u-1", NULL, NULL, "not_running", "control", false);
    expect("a-draft", "qa-1", NULL, NULL, "forced", "green", false); /* forced comes first */
    expect("a-paused", "u-1", NULL, NULL, "not_running", "control", false);
    expect("a-stopped", "u-1", NULL, NULL, "not_running", "control", false);
    expect("a-archived", "u-1", NULL, NULL, "not_running", "control", false);
    expect("a-targeted", "u-1", "&attr.country=NL", "{\"country\":\"NL\"}", "hashed", "control",
           true);
    expect("a-targeted", "u-1", "&attr.country=BE", "{\"country\":\"BE\"}", "not_targeted",
           "control", false);
    expect("a-targeted", "u-1", NULL, NULL, "not_targeted", "control", false);
    expect("a-targeted", "u-1", "&attr.cntry=NL", "{}", "not_targeted", "control", false);
    expect("a-coverage", "u-1", NULL, NULL, "coverage", "control", false);
    /* namespace: in iff the namespace bucket lies in [0, 0.5). The bucket is GrowthBook's
     * hash("__nsx", user, 1) = fnv1a32(user + "__nsx") % 1000 / 1000, worked out apart from the
     * daemon's code (python, checked against GrowthBook's "hash" cases): '1' = in, for n-0..n-39 */
    static const char ns_in[] = "1000000111100011101011101100010100100011";
    int in = 0, out = 0;
    for (int i = 0; i < 40; i++) {
        char user[16];
        snprintf(user, sizeof(user), "n-%d", i);
        json_t *root;
        json_t *o = assign1("a-ns", fmt("\"%s\"", user), ",\"log_exposure\":false", &root);
        if (ns_in[i] == '1') {
            in++;
            assert_string_equal(str(o, "reason"), "hashed");
        } else {
            out++;
            assert_string_equal(str(o, "reason"), "namespace");
            assert_string_equal(str(o, "variant"), "control");
            assert_true(json_is_null(json_object_get(o, "bucket")));
        }
        json_decref(root);
    }
    assert_true(in > 5 && out > 5);
    /* hashed users spread over both variants: "u-1" was control, someone is green */
    bool green = false;
    for (int i = 0; i < 40 && !green; i++) {
        json_t *root;
        json_t *o = assign1("a-hashed", fmt("\"u-%d\"", i), ",\"log_exposure\":false", &root);
        green = strcmp(str(o, "variant"), "green") == 0;
        json_decref(root);
    }
    assert_true(green);
    /* unknown keys: listed, not assigned; a key named twice is assigned once */
    json_t *r = call("POST", "/api/v1/assign",
                     "{\"user_id\":\"u-1\",\"log_exposure\":false,\"experiments\":[\"nope\","
                     "\"a-hashed\",\"Bad Key\",\"a-hashed\"]}",
                     200);
    assert_string_equal(str(r, "user_id"), "u-1");
    json_t *unknown = json_object_get(r, "unknown");
    assert_int_equal(json_array_size(unknown), 2);
    assert_string_equal(json_string_value(json_array_get(unknown, 0)), "nope");
    assert_string_equal(json_string_value(json_array_get(unknown, 1)), "Bad Key");
    assert_int_equal(json_object_size(json_object_get(r, "assignments")), 1);
    json_decref(r);
    r = call("POST", "/api/v1/assign", "{\"user_id\":\"u-1\",\"experiments\":[]}", 200);
    assert_int_equal(json_object_size(json_object_get(r, "assignments")), 0);
    assert_int_equal(json_array_size(json_object_get(r, "unknown")), 0);
    json_decref(r);
    json_decref(call("GET", "/api/v1/experiments/nope/assign?user_id=u-1", NULL, 404));
}

/* experiments omitted: every running experiment and every stopped one with a release. */
static void test_default_set(void **state)
{
    (void)state;
    json_t *list = call("GET", "/api/v1/experiments", NULL, 200);
    json_t *want = json_object();
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(list, "experiments"), i, x)
    {
        bool running = strcmp(str(x, "status"), "running") == 0;
        bool released = strcmp(str(x, "status"), "stopped") == 0 &&
                        json_is_string(json_object_get(x, "released_variant"));
        if (running || released) {
            json_object_set_new(want, str(x, "key"), json_true());
        }
    }
    json_decref(list);
    assert_true(json_object_size(want) >= 3);
    json_t *r = call("POST", "/api/v1/assign", "{\"user_id\":\"d-1\",\"log_exposure\":false}", 200);
    json_t *got = json_object_get(r, "assignments");
    assert_int_equal(json_object_size(got), json_object_size(want));
    const char *k;
    json_object_foreach(want, k, x)
    {
        if (json_object_get(got, k) == NULL) {
            fail_msg("experiment %s missing from the default set", k);
        }
    }
    assert_int_equal(json_array_size(json_object_get(r, "unknown")), 0);
    json_decref(r);
    json_decref(want);
}

static void test_explain(void **state)
{
    (void)state;
    json_t *root;
    json_t *o = assign1("a-ns", "\"n-0\"", ",\"explain\":true,\"log_exposure\":false", &root);
    json_t *ex = json_object_get(o, "explain");
    assert_non_null(ex);
    assert_string_equal(str(ex, "seed"), "a-ns");
    assert_int_equal(json_integer_value(json_object_get(ex, "hash_version")), 2);
    assert_string_equal(str(ex, "hash_input"), "seed + user_id");
    /* hash("__nsx", "n-0", 1) = fnv1a32("n-0__nsx") % 1000 / 1000 (see test_assign) */
    assert_true(json_real_value(json_object_get(ex, "namespace_bucket")) == 0.223);
    assert_non_null(json_string_value(json_object_get(ex, "rule")));
    json_t *ranges = json_object_get(ex, "ranges");
    /* n-0 is in the namespace; its bucket: fnv1a32(decimal of fnv1a32("a-ns" + "n-0")) % 10000
     * / 10000 */
    assert_string_equal(str(o, "reason"), "hashed");
    assert_int_equal(json_array_size(ranges), 2);
    assert_true(json_real_value(json_array_get(json_array_get(ranges, 0), 1)) == 0.5);
    assert_true(json_real_value(json_object_get(ex, "bucket")) == 0.4506);
    assert_true(json_real_value(json_object_get(o, "bucket")) == 0.4506);
    json_decref(root);
    /* version 1 names its input order; forced users explain the rule */
    new_exp("ex-v1", VARS ",\"hash_version\":1,\"seed\":\"sd\",\"forced\":{\"qa\":\"green\"}",
            "start");
    o = assign1("ex-v1", "\"u-5\"", ",\"explain\":true,\"log_exposure\":false", &root);
    ex = json_object_get(o, "explain");
    assert_string_equal(str(ex, "seed"), "sd");
    assert_int_equal(json_integer_value(json_object_get(ex, "hash_version")), 1);
    assert_string_equal(str(ex, "hash_input"), "user_id + seed");
    assert_true(json_is_null(json_object_get(ex, "namespace_bucket")));
    /* version 1: fnv1a32("u-5" + "sd") % 1000 / 1000 */
    assert_true(json_real_value(json_object_get(o, "bucket")) == 0.609);
    json_decref(root);
    o = assign1("ex-v1", "\"qa\"", ",\"explain\":true", &root);
    assert_non_null(strstr(str(json_object_get(o, "explain"), "rule"), "forced"));
    json_decref(root);
    /* no explain unless asked; the GET form takes explain=true */
    o = assign1("ex-v1", "\"u-5\"", ",\"log_exposure\":false", &root);
    assert_null(json_object_get(o, "explain"));
    json_decref(root);
    json_t *g = call("GET", "/api/v1/experiments/ex-v1/assign?user_id=u-5&explain=true", NULL, 200);
    assert_string_equal(str(json_object_get(g, "explain"), "seed"), "sd");
    assert_string_equal(str(json_object_get(g, "explain"), "hash_attribute"), "id");
    json_decref(g);
    /* with hash_attribute and fallback_attribute, explain names the attribute that was
     * hashed: the first when present, else the fallback */
    new_exp("ex-attr", VARS ",\"hash_attribute\":\"company\",\"fallback_attribute\":\"device\"",
            "start");
    g = call("GET",
             "/api/v1/experiments/ex-attr/assign?user_id=u-5&attr.company=acme&attr.device=d1"
             "&explain=true",
             NULL, 200);
    assert_string_equal(str(json_object_get(g, "explain"), "hash_attribute"), "company");
    assert_string_equal(str(json_object_get(g, "explain"), "hash_input"),
                        "seed + attributes.company");
    /* version 2: fnv1a32(decimal of fnv1a32("ex-attr" + "acme")) % 10000 / 10000 */
    assert_true(json_real_value(json_object_get(g, "bucket")) == 0.7966);
    json_decref(g);
    g = call("GET", "/api/v1/experiments/ex-attr/assign?user_id=u-5&attr.device=d1&explain=true",
             NULL, 200);
    assert_string_equal(str(json_object_get(g, "explain"), "hash_attribute"), "device");
    assert_string_equal(str(json_object_get(g, "explain"), "hash_input"),
                        "seed + attributes.device");
    json_decref(g);
    /* neither: nothing hashed, explain names the first (it named the fallback) */
    g = call("GET", "/api/v1/experiments/ex-attr/assign?user_id=u-5&explain=true", NULL, 200);
    assert_string_equal(str(g, "reason"), "not_targeted");
    assert_string_equal(str(json_object_get(g, "explain"), "hash_attribute"), "company");
    json_decref(g);
    /* "id" as the fallback is the user id, as hash_attribute "id" is (it hashed attributes.id,
     * so a client sending another id there moved the user) */
    new_exp("ex-fid", VARS ",\"hash_attribute\":\"company\",\"fallback_attribute\":\"id\"",
            "start");
    g = call("GET", "/api/v1/experiments/ex-fid/assign?user_id=u-5&attr.id=zzz&explain=true", NULL,
             200);
    assert_string_equal(str(json_object_get(g, "explain"), "hash_attribute"), "id");
    assert_string_equal(str(json_object_get(g, "explain"), "hash_input"), "seed + user_id");
    /* the bucket of "ex-fid" + "u-5" (version 2), not of "ex-fid" + "zzz" */
    assert_true(json_real_value(json_object_get(g, "bucket")) == 0.8711);
    json_decref(g);
}

/* Expect 400 with this field. */
static void bad_request(const char *method, const char *path, const char *body, size_t len,
                        const char *field)
{
    struct resp r;
    assert_int_equal(http_req_ct(D.port, method, path, D.admin_key,
                                 body ? "application/json" : NULL, body, len, &r),
                     0);
    assert_int_equal(r.status, 400);
    json_t *j = resp_json(&r);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(str(e, "code"), "invalid_argument");
    const char *f = json_string_value(json_object_get(e, "field"));
    if (field != NULL && strcmp(f ? f : "", field) != 0) {
        fail_msg("%s %s: field '%s', expected '%s' (%s)", method, path, f ? f : "", field, r.body);
    }
    json_decref(j);
    resp_free(&r);
}

static void post_bad(const char *body, const char *field)
{
    bad_request("POST", "/api/v1/assign", body, strlen(body), field);
}

static void test_invalid_input(void **state)
{
    (void)state;
    char long_id[300];
    memset(long_id, 'x', 257);
    long_id[257] = '\0';
    post_bad(fmt("{\"user_id\":\"%s\"}", long_id), "user_id");
    long_id[256] = '\0'; /* 256 bytes is fine */
    json_decref(call("POST", "/api/v1/assign",
                     fmt("{\"user_id\":\"%s\",\"log_exposure\":false}", long_id), 200));
    /* 128 two-byte characters are 256 bytes: fine; 129 are too many */
    char wide[400] = "";
    for (int i = 0; i < 129; i++) {
        strcat(wide, "\xc3\xa9");
    }
    post_bad(fmt("{\"user_id\":\"%s\"}", wide), "user_id");
    wide[256] = '\0';
    json_decref(call("POST", "/api/v1/assign",
                     fmt("{\"user_id\":\"%s\",\"log_exposure\":false}", wide), 200));
    const char *bad_ids[] = {
        "\"\"",          "\"a\\u0001b\"", "\"tab\\there\"", "\"nl\\n\"", "\"del\\u007f\"",
        "\"c1\\u0085\"", "12.5",          "null",           "[\"u\"]",   "{}",
        "true"};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        post_bad(fmt("{\"user_id\":%s}", bad_ids[i]), "user_id");
    }
    post_bad("{\"attributes\":{}}", "user_id");
    /* invalid UTF-8 as raw bytes: the body is not valid UTF-8 JSON, so it is refused whole
     * (jansson rejects it while parsing); in a query string the bytes reach the check */
    post_bad("{\"user_id\":\"a\xff\xfe\"}", NULL);
    post_bad("{\"user_id\":\"\xc0\xaf\"}", NULL);
    post_bad("{\"user_id\":\"\\ud800\"}", NULL);
    post_bad("{\"user_id\":\"a\\u0000b\"}", NULL);
    const char *bad_q[] = {"user_id=%FF%FE", "user_id=%C0%AF", "user_id=",    "user_id=a%00b",
                           "user_id=a%01",   "user_id=%C2%85", "explain=true"};
    for (size_t i = 0; i < sizeof(bad_q) / sizeof(bad_q[0]); i++) {
        bad_request("GET", fmt("/api/v1/experiments/a-hashed/assign?%s", bad_q[i]), NULL, 0,
                    "user_id");
    }
    char q[400];
    memset(long_id, 'y', 257);
    long_id[257] = '\0';
    snprintf(q, sizeof(q), "/api/v1/experiments/a-hashed/assign?user_id=%s", long_id);
    bad_request("GET", q, NULL, 0, "user_id");
    /* the other fields */
    post_bad("{\"user_id\":\"u\",\"attributes\":[]}", "attributes");
    post_bad("{\"user_id\":\"u\",\"attributes\":\"NL\"}", "attributes");
    post_bad("{\"user_id\":\"u\",\"experiments\":\"a-hashed\"}", "experiments");
    post_bad("{\"user_id\":\"u\",\"experiments\":[\"a-hashed\",1]}", "experiments[1]");
    char many[2000] = "{\"user_id\":\"u\",\"experiments\":[";
    for (int i = 0; i <= 100; i++) {
        strcat(many, i ? ",\"x\"" : "\"x\"");
    }
    strcat(many, "]}");
    post_bad(many, "experiments"); /* at most 100 named */
    post_bad("{\"user_id\":\"u\",\"log_exposure\":\"yes\"}", "log_exposure");
    post_bad("{\"user_id\":\"u\",\"explain\":1}", "explain");
    post_bad("{\"user_id\":\"u\",\"colour\":1}", "colour");
    bad_request("GET", "/api/v1/experiments/a-hashed/assign?user_id=u&log_exposure=maybe", NULL, 0,
                "log_exposure");
    bad_request("GET", "/api/v1/experiments/a-hashed/assign?user_id=u&explain=2", NULL, 0,
                "explain");
    /* a UTF-8 user id with characters beyond the BMP is fine on both endpoints */
    json_decref(call("POST", "/api/v1/assign",
                     "{\"user_id\":\"\xf0\x9f\x98\x80-\xc3\xa9\",\"log_exposure\":false}", 200));
    json_t *g =
        call("GET", "/api/v1/experiments/a-hashed/assign?user_id=%F0%9F%98%80-%C3%A9", NULL, 200);
    assert_string_equal(str(g, "user_id"), "\xf0\x9f\x98\x80-\xc3\xa9");
    json_decref(g);
}

static void test_exposure_logging(void **state)
{
    (void)state;
    new_exp("expo",
            VARS ",\"forced\":{\"qa\":\"green\"},\"targeting\":{\"country\":{\"$ne\":\"BE\"}}",
            "start");
    json_t *root;
    /* default: logged, and committed before the reply */
    json_t *o = assign1("expo", "\"e-1\"", NULL, &root);
    assert_string_equal(str(o, "reason"), "hashed");
    assert_int_equal(exposures("expo", "e-1", str(o, "variant")), 1);
    json_decref(root);
    o = assign1("expo", "\"e-1\"", ",\"log_exposure\":true", &root);
    assert_int_equal(exposures("expo", "e-1", NULL), 1); /* one row per user */
    json_decref(root);
    assign1("expo", "\"e-2\"", ",\"log_exposure\":false", &root);
    json_decref(root);
    assert_int_equal(exposures("expo", "e-2", NULL), 0);
    /* never for forced or otherwise out-of-experiment users */
    o = assign1("expo", "\"qa\"", ",\"log_exposure\":true", &root);
    assert_string_equal(str(o, "reason"), "forced");
    json_decref(root);
    assert_int_equal(exposures("expo", "qa", NULL), 0);
    o = assign1("expo", "\"e-3\"", ",\"attributes\":{\"country\":\"BE\"}", &root);
    assert_string_equal(str(o, "reason"), "not_targeted");
    json_decref(root);
    assert_int_equal(exposures("expo", "e-3", NULL), 0);
    assign1("a-coverage", "\"e-4\"", NULL, &root);
    json_decref(root);
    assign1("a-released", "\"e-4\"", NULL, &root);
    json_decref(root);
    assign1("a-paused", "\"e-4\"", NULL, &root);
    json_decref(root);
    assert_int_equal(exposures("a-coverage", NULL, NULL), 0);
    assert_int_equal(exposures("a-released", NULL, NULL), 0);
    assert_int_equal(exposures("a-paused", NULL, NULL), 0);
    /* the GET form */
    json_decref(
        call("GET", "/api/v1/experiments/expo/assign?user_id=e-5&log_exposure=false", NULL, 200));
    assert_int_equal(exposures("expo", "e-5", NULL), 0);
    json_t *g = call("GET", "/api/v1/experiments/expo/assign?user_id=e-6", NULL, 200);
    assert_int_equal(exposures("expo", "e-6", str(g, "variant")), 1);
    json_decref(g);
    g = call("GET", "/api/v1/experiments/expo/assign?user_id=qa", NULL, 200);
    json_decref(g);
    assert_int_equal(exposures("expo", "qa", NULL), 0);
    /* several experiments in one request: one row each for the in-experiment ones */
    json_decref(call("POST", "/api/v1/assign",
                     "{\"user_id\":\"e-7\",\"experiments\":[\"expo\",\"a-hashed\",\"a-draft\"]}",
                     200));
    assert_int_equal(exposures("expo", "e-7", NULL), 1);
    assert_int_equal(exposures("a-hashed", "e-7", NULL), 1);
    assert_int_equal(exposures("a-draft", "e-7", NULL), 0);
}

/* The known-first-exposure cache's lookups of one result ("hit" or "miss") from /metrics. */
static long cache_lookups(const char *result)
{
    return (long)harness_metric_value(
        D.port, D.admin_key, fmt("bunsen_exposure_cache_lookups_total{result=\"%s\"}", result));
}

static long exposure_conflicts(const char *experiment, const char *user)
{
    return (long)daemon_db_int(
        &D, "SELECT conflicts FROM exposures WHERE experiment = ?1 AND user_id = ?2", 2, experiment,
        user);
}

/* A logged assignment that only repeats a committed first exposure changes nothing stored:
 * on SQLite (one writer) it is answered from the known-first-exposure cache, without a write
 * (store.h "Known first exposures"); what it stores is the same either way, including
 * conflicts after another variant's exposure replaced the first one, and a definition
 * change empties the cache. On PostgreSQL the cache is off by default. */
static void test_repeat_exposures(void **state)
{
    (void)state;
    bool cached = !harness_on_postgres();
    new_exp("rep", VARS, "start");
    json_t *root;
    json_t *o = assign1("rep", "\"r-1\"", NULL, &root);
    char v[16];
    snprintf(v, sizeof(v), "%s", str(o, "variant"));
    json_decref(root);
    assert_int_equal(exposures("rep", "r-1", v), 1);
    long hits = cache_lookups("hit");
    if (cached) {
        assert_true(hits >= 0);
    } else {
        assert_int_equal(hits, -1); /* off: no series */
    }
    for (int i = 0; i < 3; i++) {
        o = assign1("rep", "\"r-1\"", NULL, &root);
        assert_string_equal(str(o, "variant"), v);
        json_decref(root);
    }
    if (cached) {
        assert_int_equal(cache_lookups("hit"), hits + 3);
    }
    assert_int_equal(exposures("rep", "r-1", NULL), 1);
    assert_int_equal(exposure_conflicts("rep", "r-1"), 0);
    /* an earlier exposure to the other variant arrives late and becomes the first: a repeat
     * of the hashed variant is now a conflict, stored as one each time */
    const char *other = strcmp(v, "control") == 0 ? "green" : "control";
    json_decref(call("POST", "/api/v1/exposures",
                     fmt("{\"exposures\":[{\"experiment\":\"rep\",\"user_id\":\"r-1\","
                         "\"variant\":\"%s\",\"ts\":1000}]}",
                         other),
                     200));
    assert_int_equal(exposures("rep", "r-1", other), 1);
    assert_int_equal(exposure_conflicts("rep", "r-1"), 1);
    o = assign1("rep", "\"r-1\"", NULL, &root);
    json_decref(root);
    assert_int_equal(exposure_conflicts("rep", "r-1"), 2);
    o = assign1("rep", "\"r-1\"", NULL, &root);
    json_decref(root);
    assert_int_equal(exposure_conflicts("rep", "r-1"), 3);
    /* a user seen once: known; after a definition change: looked up again (a miss) */
    o = assign1("rep", "\"r-2\"", NULL, &root);
    json_decref(root);
    o = assign1("rep", "\"r-2\"", NULL, &root);
    json_decref(root);
    long misses = cache_lookups("miss");
    json_decref(call("PATCH", "/api/v1/experiments/rep", "{\"name\":\"Repeat\"}", 200));
    o = assign1("rep", "\"r-2\"", NULL, &root);
    json_decref(root);
    if (cached) {
        assert_int_equal(cache_lookups("miss"), misses + 1);
    }
    assert_int_equal(exposures("rep", "r-2", NULL), 1);
    /* not logged: never looked up */
    hits = cache_lookups("hit");
    misses = cache_lookups("miss");
    o = assign1("rep", "\"r-2\"", ",\"log_exposure\":false", &root);
    json_decref(root);
    assert_int_equal(cache_lookups("hit"), hits);
    assert_int_equal(cache_lookups("miss"), misses);
    if (cached) {
        /* nothing to write: answered while another process holds the write lock (a job
         * would wait out the busy timeout and fail) */
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(fmt("%s/bunsen.db", D.dir), &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
        o = assign1("rep", "\"r-2\"", NULL, &root);
        json_decref(root);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
        assert_int_equal(cache_lookups("hit"), hits + 1);
    }
}

/* The same users get the same answers after a restart (the snapshot is rebuilt from the
 * store), and exposures written before it are still there. */
static void test_restart_determinism(void **state)
{
    (void)state;
    const char *exps[] = {"a-hashed", "ex-v1", "a-targeted", "a-ns", "expo", "a-released"};
    enum { USERS = 60, EXPS = 6 };
    char *before[EXPS][USERS];
    for (int e = 0; e < EXPS; e++) {
        for (int u = 0; u < USERS; u++) {
            json_t *root;
            json_t *o = assign1(exps[e], fmt("\"r-%d\"", u), ",\"log_exposure\":false", &root);
            json_t *bucket = json_object_get(o, "bucket");
            before[e][u] = strdup(fmt("%s/%s/%.6f", str(o, "variant"), str(o, "reason"),
                                      json_is_number(bucket) ? json_number_value(bucket) : -1));
            json_decref(root);
        }
    }
    long expo_before = exposures("expo", NULL, NULL);
    assert_true(expo_before > 0);
    assert_int_equal(daemon_stop(&D), 0);
    assert_int_equal(daemon_restart(&D, NULL), 0);
    for (int e = 0; e < EXPS; e++) {
        for (int u = 0; u < USERS; u++) {
            json_t *root;
            json_t *o = assign1(exps[e], fmt("\"r-%d\"", u), ",\"log_exposure\":false", &root);
            json_t *bucket = json_object_get(o, "bucket");
            const char *now = fmt("%s/%s/%.6f", str(o, "variant"), str(o, "reason"),
                                  json_is_number(bucket) ? json_number_value(bucket) : -1);
            if (strcmp(now, before[e][u]) != 0) {
                fail_msg("%s r-%d: %s before the restart, %s after", exps[e], u, before[e][u], now);
            }
            json_decref(root);
            free(before[e][u]);
        }
    }
    assert_int_equal(exposures("expo", NULL, NULL), expo_before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_default_set),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_exposure_logging),
        cmocka_unit_test(test_repeat_exposures),
        cmocka_unit_test(test_restart_determinism),
    };
    return cmocka_run_group_tests_name("api_assign", tests, setup, teardown);
}
