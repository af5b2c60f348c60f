/*
 * API tests for assignment: every reason (hashed, forced, released, not_running,
 * not_targeted, namespace, coverage) through POST /api/v1/assign and
 * GET /api/v1/experiments/{key}/assign, `unknown` keys, the default set of experiments,
 * explain output, user_id validation, exposure logging (checked in the exposures table,
 * which must hold the row as soon as the reply arrives), determinism across a restart,
 * the published GrowthBook vector, a 100,000-user split over HTTP that must equal the C
 * core for every user and land within 1% of the weights, and disjoint namespaces.
 * One daemon is shared by every test (group setup).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bunsen/assign.h"
#include "bunsen/hash.h"

static struct daemon D;

#define VARS "\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]"

static int setup(void **state)
{
    (void)state;
    return daemon_start(&D, NULL);
}

static int teardown(void **state)
{
    (void)state;
    int rc = daemon_stop(&D);
    daemon_cleanup(&D);
    if (rc != 0) {
        fprintf(stderr, "daemon exited with status %d on SIGTERM\n", rc);
        return -1;
    }
    return 0;
}

/* Request as admin; fail unless the status is want. Returns the JSON body. */
static json_t *call(const char *method, const char *path, const char *body, int want)
{
    struct resp r;
    assert_int_equal(http_req(D.port, method, path, D.admin_key, body, &r), 0);
    if (r.status != want) {
        fail_msg("%s %s %s: status %d, expected %d: %s", method, path, body ? body : "", r.status,
                 want, r.body ? r.body : "");
    }
    json_t *j = resp_json(&r);
    resp_free(&r);
    return j;
}

static const char *str(const json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s ? s : "(none)";
}

/* Create an experiment {"key": key, <fields>} and apply the lifecycle actions given
 * (space-separated, e.g. "start stop"). */
static void new_exp(const char *key, const char *fields, const char *actions)
{
    json_decref(call("POST", "/api/v1/experiments", fmt("{\"key\":\"%s\",%s}", key, fields), 201));
    char list[64];
    snprintf(list, sizeof(list), "%s", actions ? actions : "");
    for (char *save = NULL, *a = strtok_r(list, " ", &save); a; a = strtok_r(NULL, " ", &save)) {
        json_decref(call("POST", fmt("/api/v1/experiments/%s/%s", key, a), NULL, 200));
    }
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
    sqlite3 *db = NULL;
    char path[400];
    snprintf(path, sizeof(path), "%s/bunsen.db", D.dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT COUNT(*) FROM exposures WHERE experiment = ?1 "
                                        "AND (?2 IS NULL OR user_id = ?2) "
                                        "AND (?3 IS NULL OR variant = ?3)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, experiment, -1, SQLITE_TRANSIENT);
    if (user != NULL) {
        sqlite3_bind_text(st, 2, user, -1, SQLITE_TRANSIENT);
    }
    if (variant != NULL) {
        sqlite3_bind_text(st, 3, variant, -1, SQLITE_TRANSIENT);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
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
    new_exp("a-paused", VARS, "start pause");
    new_exp("a-stopped", VARS, "start stop");
    new_exp("a-archived", VARS, "start stop archive");
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
    /* namespace: in iff the namespace bucket lies in [0, 0.5) */
    int in = 0, out = 0;
    for (int i = 0; i < 40; i++) {
        char user[16];
        snprintf(user, sizeof(user), "n-%d", i);
        double nb;
        assert_int_equal(hash_namespace_bucket(user, strlen(user), "nsx", 3, &nb, NULL), 0);
        json_t *root;
        json_t *o = assign1("a-ns", fmt("\"%s\"", user), ",\"log_exposure\":false", &root);
        if (nb < 0.5) {
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
    double nb;
    assert_int_equal(hash_namespace_bucket("n-0", 3, "nsx", 3, &nb, NULL), 0);
    assert_true(json_real_value(json_object_get(ex, "namespace_bucket")) == nb);
    assert_non_null(json_string_value(json_object_get(ex, "rule")));
    json_t *ranges = json_object_get(ex, "ranges");
    if (strcmp(str(o, "reason"), "hashed") == 0) {
        assert_int_equal(json_array_size(ranges), 2);
        assert_true(json_real_value(json_array_get(json_array_get(ranges, 0), 1)) == 0.5);
        assert_true(json_real_value(json_object_get(ex, "bucket")) ==
                    json_real_value(json_object_get(o, "bucket")));
    } else {
        assert_int_equal(json_array_size(ranges), 0);
        assert_true(json_is_null(json_object_get(ex, "bucket")));
    }
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
    double b;
    assert_int_equal(hash_bucket("sd", 2, "u-5", 3, 1, &b, NULL), 0);
    assert_true(json_real_value(json_object_get(o, "bucket")) == b);
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
        "\"c1\\u0085\"", "123",           "null",           "[\"u\"]",   "{}",
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
    const char *bad_q[] = {"user_id=%FF%FE", "user_id=%C0%AF", "user_id=", "user_id=a%00b",
                           "user_id=a%01",   "user_id=%C2%85", "x=1"};
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

/* GrowthBook's published vector: "my-test", hash version 1, 50/50, seed "my-test". */
static void test_golden_vector(void **state)
{
    (void)state;
    new_exp("my-test",
            "\"hash_version\":1,\"seed\":\"my-test\",\"variants\":[{\"key\":\"v0\",\"weight\":0.5},"
            "{\"key\":\"v1\",\"weight\":0.5}]",
            "start");
    const int want[9] = {1, 0, 0, 1, 1, 1, 0, 1, 0};
    for (int i = 0; i < 9; i++) {
        json_t *root;
        json_t *o = assign1("my-test", fmt("\"%d\"", i + 1), ",\"log_exposure\":false", &root);
        assert_string_equal(str(o, "reason"), "hashed");
        assert_string_equal(str(o, "variant"), want[i] ? "v1" : "v0");
        json_decref(root);
    }
}

/* ---- bulk assignment over keep-alive connections ---- */

struct ka {
    int fd;
    char buf[16384];
    size_t len;
};

static int ka_connect(struct ka *k)
{
    k->len = 0;
    k->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)D.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {.tv_sec = 20, .tv_usec = 0};
    setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return connect(k->fd, (struct sockaddr *)&a, sizeof(a));
}

/* The value of header name (lower case) in a response head, or NULL. */
static const char *header_value(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            return p + 3 + n;
        }
        if (p[2] == '\r') {
            break;
        }
    }
    return NULL;
}

/* POST body to /api/v1/assign on the connection (reconnecting once if the server closed
 * it); the response body is left NUL-terminated in k->buf + *off. Returns the status. */
static int ka_assign(struct ka *k, const char *body, size_t *off)
{
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "POST /api/v1/assign HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     D.admin_key, strlen(body), body);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (send(k->fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
            k->len = 0;
            for (;;) {
                ssize_t got = recv(k->fd, k->buf + k->len, sizeof(k->buf) - k->len - 1, 0);
                if (got <= 0) {
                    break;
                }
                k->len += (size_t)got;
                k->buf[k->len] = '\0';
                char *end = strstr(k->buf, "\r\n\r\n");
                const char *cl = end ? header_value(k->buf, "content-length") : NULL;
                if (cl != NULL && k->len >= (size_t)(end + 4 - k->buf) + strtoul(cl, NULL, 10)) {
                    *off = (size_t)(end + 4 - k->buf);
                    return atoi(k->buf + 9);
                }
            }
        }
        close(k->fd);
        if (ka_connect(k) != 0) {
            return -1;
        }
    }
    return -1;
}

enum bulk_mode { BULK_SPLIT, BULK_NAMESPACES };

struct bulk {
    enum bulk_mode mode;
    int from, to;
    signed char *out; /* split: variant index; namespaces: bit 0 left in, bit 1 right in */
    int failures;
};

static void *bulk_worker(void *arg)
{
    struct bulk *b = arg;
    struct ka k;
    if (ka_connect(&k) != 0) {
        b->failures++;
        return NULL;
    }
    for (int i = b->from; i < b->to; i++) {
        char body[160];
        snprintf(body, sizeof(body),
                 b->mode == BULK_SPLIT
                     ? "{\"user_id\":\"s-%d\",\"experiments\":[\"split\"],\"log_exposure\":false}"
                     : "{\"user_id\":\"n-%d\",\"experiments\":[\"ns-left\",\"ns-right\"],"
                       "\"log_exposure\":false}",
                 i);
        size_t off = 0;
        int st = ka_assign(&k, body, &off);
        json_t *j = st == 200 ? json_loads(k.buf + off, 0, NULL) : NULL;
        json_t *as = json_object_get(j, "assignments");
        if (j == NULL) {
            b->failures++;
        } else if (b->mode == BULK_SPLIT) {
            const char *v = str(json_object_get(as, "split"), "variant");
            b->out[i] = (signed char)(strcmp(v, "v0") == 0   ? 0
                                      : strcmp(v, "v1") == 0 ? 1
                                      : strcmp(v, "v2") == 0 ? 2
                                                             : -1);
        } else {
            b->out[i] = (signed char)((json_is_true(json_object_get(json_object_get(as, "ns-left"),
                                                                    "in_experiment"))
                                           ? 1
                                           : 0) |
                                      (json_is_true(json_object_get(json_object_get(as, "ns-right"),
                                                                    "in_experiment"))
                                           ? 2
                                           : 0));
        }
        json_decref(j);
    }
    close(k.fd);
    return NULL;
}

#define BULK_THREADS 4

/* Run ids [0, n) through POST /assign on BULK_THREADS connections. */
static void bulk_run(enum bulk_mode mode, int n, signed char *out)
{
    pthread_t th[BULK_THREADS];
    struct bulk b[BULK_THREADS];
    for (int t = 0; t < BULK_THREADS; t++) {
        b[t] = (struct bulk){mode, n * t / BULK_THREADS, n * (t + 1) / BULK_THREADS, out, 0};
        assert_int_equal(pthread_create(&th[t], NULL, bulk_worker, &b[t]), 0);
    }
    for (int t = 0; t < BULK_THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(b[t].failures, 0);
    }
}

#define SPLIT_USERS 100000

static void test_split(void **state)
{
    (void)state;
    new_exp("split",
            "\"variants\":[{\"key\":\"v0\",\"weight\":0.2},{\"key\":\"v1\",\"weight\":0.3},"
            "{\"key\":\"v2\",\"weight\":0.5}]",
            "start");
    signed char *out = malloc(SPLIT_USERS);
    memset(out, -2, SPLIT_USERS);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bulk_run(BULK_SPLIT, SPLIT_USERS, out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "# %d assignments over HTTP in %.1f s\n", SPLIT_USERS, secs);
    /* the same definition in the C core gives the same variant for every user */
    static const char *const keys[] = {"v0", "v1", "v2"};
    static const double weights[] = {0.2, 0.3, 0.5};
    struct assign_experiment x;
    assign_experiment_init(&x);
    x.key = "split";
    x.status = ASSIGN_STATUS_RUNNING;
    x.nvariants = 3;
    x.variant_keys = keys;
    x.weights = weights;
    long counts[3] = {0, 0, 0};
    for (int i = 0; i < SPLIT_USERS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "s-%d", i);
        struct assign_result r;
        assert_int_equal(assign_decide(&x, id, strlen(id), NULL, &r, NULL), 0);
        if (out[i] != r.variant) {
            fail_msg("user %s: HTTP variant %d, core variant %d", id, out[i], r.variant);
        }
        counts[out[i]]++;
    }
    for (int v = 0; v < 3; v++) {
        double share = (double)counts[v] / SPLIT_USERS;
        fprintf(stderr, "# v%d: %.4f (weight %.1f)\n", v, share, weights[v]);
        assert_true(share > weights[v] - 0.01 && share < weights[v] + 0.01);
    }
    assert_int_equal(exposures("split", NULL, NULL), 0);
    free(out);
}

#define NS_USERS 20000

static void test_namespaces_disjoint(void **state)
{
    (void)state;
    new_exp("ns-left", VARS ",\"namespace\":{\"name\":\"shared\",\"range\":[0,0.5]}", "start");
    new_exp("ns-right", VARS ",\"namespace\":{\"name\":\"shared\",\"range\":[0.5,1]}", "start");
    signed char *out = malloc(NS_USERS);
    bulk_run(BULK_NAMESPACES, NS_USERS, out);
    long left = 0, right = 0;
    for (int i = 0; i < NS_USERS; i++) {
        if (out[i] == 3) {
            fail_msg("user n-%d is in both namespaced experiments", i);
        }
        /* the ranges cover [0, 1) between them, so everyone is in exactly one */
        assert_true(out[i] == 1 || out[i] == 2);
        left += out[i] == 1;
        right += out[i] == 2;
    }
    assert_true(left > NS_USERS * 0.45 && right > NS_USERS * 0.45);
    free(out);
}

/* The same users get the same answers after a restart (the snapshot is rebuilt from the
 * store), and exposures written before it are still there. */
static void test_restart_determinism(void **state)
{
    (void)state;
    const char *exps[] = {"a-hashed", "my-test", "split", "a-ns", "expo", "a-released"};
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
        cmocka_unit_test(test_golden_vector),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_namespaces_disjoint),
        cmocka_unit_test(test_restart_determinism),
    };
    return cmocka_run_group_tests_name("api_assign", tests, setup, teardown);
}
