/*
 * API tests for the catalogue: metrics CRUD (validation fields, duplicate keys, deletion
 * refused while any experiment, archived too, uses the metric), experiments CRUD and the
 * ?status= filter, PATCH rules while running or paused (409 naming the field that would
 * reassign users), DELETE of drafts only, the whole lifecycle table (every status x
 * every action), stop with a released variant, the audit trail of every change, the
 * role checks, targeting that cannot be evaluated (unknown operators, invalid $regex
 * patterns, also as stored by an older version), and the reals of definitions (targeting,
 * namespace range, a metric's cap) stored with the 15 digits a GET shows, so that a GET body
 * sent back is no change, also of definitions stored with 17 digits by an older version. One
 * daemon is shared by every test (group setup).
 */
#include "calls.h"

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

static void call_ok(const char *method, const char *path, const char *body, int want)
{
    json_decref(call(method, path, body, want));
}

/* Expect an error reply with this status, API.md code and field ("" = no field). */
static void call_err(const char *method, const char *path, const char *body, int want,
                     const char *field)
{
    json_t *j = call(method, path, body, want);
    json_t *e = json_object_get(j, "error");
    assert_non_null(e);
    const char *code = json_string_value(json_object_get(e, "code"));
    assert_string_equal(code, want == 400   ? "invalid_argument"
                              : want == 404 ? "not_found"
                              : want == 409 ? "conflict"
                                            : "?");
    assert_non_null(json_string_value(json_object_get(e, "message")));
    const char *f = json_string_value(json_object_get(e, "field"));
    if (strcmp(f ? f : "", field) != 0) {
        fail_msg("%s %s %s: field '%s', expected '%s'", method, path, body ? body : "", f ? f : "",
                 field);
    }
    json_decref(j);
}

/* POST an experiment {"key": key, <fields>} (NULL: two variants) and expect 201, a draft. */
static void new_draft(const char *key, const char *fields)
{
    json_t *j = call("POST", "/api/v1/experiments",
                     fmt("{\"key\":\"%s\",%s}", key, fields ? fields : VARS), 201);
    assert_string_equal(str(j, "key"), key);
    assert_string_equal(str(j, "status"), "draft");
    json_decref(j);
}

static void act(const char *key, const char *action, const char *body, int want)
{
    json_decref(call("POST", fmt("/api/v1/experiments/%s/%s", key, action), body, want));
}

static char *status_of(const char *key)
{
    static char st[32];
    json_t *j = call("GET", fmt("/api/v1/experiments/%s", key), NULL, 200);
    snprintf(st, sizeof(st), "%s", str(j, "status"));
    json_decref(j);
    return st;
}

/* Rows in the exposures table for experiment (and user unless NULL). */
static long count_exposures(const char *experiment, const char *user)
{
    return (long)daemon_db_int(
        &D, "SELECT COUNT(*) FROM exposures WHERE experiment = ?1 AND (?2 IS NULL OR user_id = ?2)",
        2, experiment, user);
}

static void test_metrics_crud(void **state)
{
    (void)state;
    json_t *m = call("POST", "/api/v1/metrics",
                     "{\"key\":\"purchase\",\"name\":\"Purchase\",\"event\":\"purchase\","
                     "\"type\":\"binomial\",\"window_hours\":72,\"goal\":\"increase\",\"cap\":null,"
                     "\"cuped_lookback_hours\":336}",
                     201);
    assert_string_equal(str(m, "type"), "binomial");
    assert_int_equal(json_integer_value(json_object_get(m, "window_hours")), 72);
    assert_true(json_is_null(json_object_get(m, "cap")));
    assert_true(json_integer_value(json_object_get(m, "created_at")) > 0);
    json_decref(m);
    call_ok("POST", "/api/v1/metrics", "{\"key\":\"revenue\",\"event\":\"buy\",\"type\":\"sum\"}",
            201);
    m = call("GET", "/api/v1/metrics/purchase", NULL, 200);
    assert_string_equal(str(m, "name"), "Purchase");
    json_decref(m);
    m = call("GET", "/api/v1/metrics", NULL, 200);
    json_t *list = json_object_get(m, "metrics");
    assert_true(json_array_size(list) >= 2);
    assert_string_equal(str(json_array_get(list, 0), "key"), "purchase"); /* sorted by key */
    json_decref(m);
    call_err("GET", "/api/v1/metrics/nope", NULL, 404, "");
    call_err("GET", "/api/v1/metrics/No%20pe", NULL, 404, "");
    /* duplicate key, validation */
    call_err("POST", "/api/v1/metrics", "{\"key\":\"purchase\",\"event\":\"e\",\"type\":\"count\"}",
             409, "key");
    call_err("POST", "/api/v1/metrics",
             "{\"key\":\"m2\",\"event\":\"e\",\"type\":\"count\",\"window_hours\":0}", 400,
             "window_hours");
    call_err("POST", "/api/v1/metrics", "{\"key\":\"m2\",\"event\":\"e\",\"type\":\"mean\"}", 400,
             "type");
    call_err("POST", "/api/v1/metrics", "{\"key\":\"M2\",\"event\":\"e\",\"type\":\"count\"}", 400,
             "key");
    call_err("POST", "/api/v1/metrics", "{\"key\":\"m2\",\"type\":\"count\"}", 400, "event");
    call_err("POST", "/api/v1/metrics",
             "{\"key\":\"m2\",\"event\":\"e\",\"type\":\"count\",\"cap\":0}", 400, "cap");
    call_err("POST", "/api/v1/metrics",
             "{\"key\":\"m2\",\"event\":\"e\",\"type\":\"count\",\"colour\":0}", 400, "colour");
    call_err("GET", "/api/v1/metrics/m2", NULL, 404, "");
    /* PATCH */
    m = call("PATCH", "/api/v1/metrics/purchase", "{\"name\":\"Bought\",\"window_hours\":null}",
             200);
    assert_string_equal(str(m, "name"), "Bought");
    assert_true(json_is_null(json_object_get(m, "window_hours")));
    assert_string_equal(str(m, "event"), "purchase");
    json_decref(m);
    call_err("PATCH", "/api/v1/metrics/purchase", "{\"cap\":-1}", 400, "cap");
    call_err("PATCH", "/api/v1/metrics/purchase", "{\"key\":\"other\"}", 400, "key");
    call_err("PATCH", "/api/v1/metrics/ghost", "{\"name\":\"x\"}", 404, "");
    m = call("GET", "/api/v1/metrics/purchase", NULL, 200);
    assert_string_equal(str(m, "name"), "Bought"); /* the failed PATCHes changed nothing */
    json_decref(m);
    /* DELETE: refused while a non-archived experiment uses it (as metric or guardrail) */
    call_ok("POST", "/api/v1/metrics", "{\"key\":\"m-used\",\"event\":\"e\",\"type\":\"count\"}",
            201);
    call_ok("POST", "/api/v1/metrics", "{\"key\":\"m-guard\",\"event\":\"e\",\"type\":\"count\"}",
            201);
    new_draft("uses-m", VARS ",\"metrics\":[\"m-used\"],\"guardrails\":[\"m-guard\"]");
    call_err("DELETE", "/api/v1/metrics/m-used", NULL, 409, "key");
    call_err("DELETE", "/api/v1/metrics/m-guard", NULL, 409, "key");
    act("uses-m", "start", NULL, 200);
    act("uses-m", "stop", NULL, 200);
    call_err("DELETE", "/api/v1/metrics/m-used", NULL, 409, "key");
    /* archived experiments still read their metrics' definitions (API.md v1.1) */
    act("uses-m", "archive", NULL, 200);
    call_err("DELETE", "/api/v1/metrics/m-used", NULL, 409, "key");
    call_err("DELETE", "/api/v1/metrics/m-guard", NULL, 409, "key");
    json_decref(call("GET", "/api/v1/experiments/uses-m/results", NULL, 200));
    /* a metric used only by a draft that is then deleted can go */
    call_ok("POST", "/api/v1/metrics", "{\"key\":\"m-draft\",\"event\":\"e\",\"type\":\"count\"}",
            201);
    new_draft("uses-draft", VARS ",\"metrics\":[\"m-draft\"]");
    call_err("DELETE", "/api/v1/metrics/m-draft", NULL, 409, "key");
    call_ok("DELETE", "/api/v1/experiments/uses-draft", NULL, 200);
    call_ok("DELETE", "/api/v1/metrics/m-draft", NULL, 200);
}

static void test_experiments_crud(void **state)
{
    (void)state;
    json_t *x = call("POST", "/api/v1/experiments",
                     "{\"key\":\"checkout-button\",\"name\":\"Checkout button colour\","
                     "\"hypothesis\":\"Green raises purchases\",\"owner\":\"pm@x\","
                     "\"variants\":[{\"key\":\"control\",\"name\":\"Red\",\"weight\":0.5},"
                     "{\"key\":\"green\",\"name\":\"Green\",\"weight\":0.5}],\"coverage\":1.0,"
                     "\"hash_version\":2,\"namespace\":{\"name\":\"checkout\",\"range\":[0.0,0.5]},"
                     "\"targeting\":{\"country\":{\"$in\":[\"NL\",\"BE\"]}},"
                     "\"forced\":{\"qa-user-1\":\"green\"},\"metrics\":[\"purchase\",\"revenue\"],"
                     "\"primary_metric\":\"purchase\",\"sequential_tuning\":5000}",
                     201);
    assert_string_equal(str(x, "seed"), "checkout-button");
    assert_string_equal(str(x, "status"), "draft");
    assert_true(json_integer_value(json_object_get(x, "created_at")) > 0);
    assert_true(json_is_null(json_object_get(x, "started_at")));
    assert_true(json_is_null(json_object_get(x, "stopped_at")));
    assert_true(json_is_null(json_object_get(x, "released_variant")));
    json_t *g = call("GET", "/api/v1/experiments/checkout-button", NULL, 200);
    assert_true(json_equal(x, g));
    json_decref(g);
    /* the GET body can be sent back as a PATCH (read-only fields unchanged) */
    char *text = json_dumps(x, JSON_COMPACT);
    call_ok("PATCH", "/api/v1/experiments/checkout-button", text, 200);
    free(text);
    json_decref(x);
    call_err("POST", "/api/v1/experiments", "{\"key\":\"checkout-button\"," VARS "}", 409, "key");
    call_err("POST", "/api/v1/experiments",
             "{\"key\":\"bad-w\",\"variants\":[{\"key\":\"a\",\"weight\":0.5},{\"key\":\"b\","
             "\"weight\":0.6}]}",
             400, "variants[1].weight");
    call_err("POST", "/api/v1/experiments", "{\"key\":\"bad-m\"," VARS ",\"metrics\":[\"nope\"]}",
             400, "metrics[0]");
    call_err("POST", "/api/v1/experiments",
             "{\"key\":\"bad-m\"," VARS ",\"metrics\":[\"purchase\",\"nope\"]}", 400, "metrics[1]");
    call_err("POST", "/api/v1/experiments",
             "{\"key\":\"bad-m\"," VARS ",\"guardrails\":[\"nope\"]}", 400, "guardrails[0]");
    call_err("POST", "/api/v1/experiments", "{\"key\":\"bad-s\"," VARS ",\"status\":\"running\"}",
             400, "status");
    call_err("POST", "/api/v1/experiments", "{\"key\":\"bad-v\",\"variants\":[{\"key\":\"a\"}]}",
             400, "variants");
    call_err("POST", "/api/v1/experiments", "[1]", 400, "");
    call_err("POST", "/api/v1/experiments", "{\"key\":\"bad-n\",\"name\":\"a\\u0085\"," VARS "}",
             400, "name");
    call_err("GET", "/api/v1/experiments/bad-m", NULL, 404, "");
    call_err("GET", "/api/v1/experiments/nope", NULL, 404, "");
    call_err("GET", "/api/v1/experiments/UPPER", NULL, 404, "");
    /* an unknown metric in a PATCH */
    call_err("PATCH", "/api/v1/experiments/checkout-button", "{\"metrics\":[\"purchase\",\"x\"]}",
             400, "metrics[1]");
    call_err("PATCH", "/api/v1/experiments/nope", "{\"name\":\"x\"}", 404, "");
    /* list and ?status= */
    new_draft("list-draft", NULL);
    new_draft("list-running", NULL);
    act("list-running", "start", NULL, 200);
    const char *statuses[] = {"draft", "running", "paused", "stopped", "archived"};
    for (size_t i = 0; i < 5; i++) {
        json_t *l = call("GET", fmt("/api/v1/experiments?status=%s", statuses[i]), NULL, 200);
        json_t *arr = json_object_get(l, "experiments"), *e;
        size_t k;
        bool saw_draft = false, saw_running = false;
        json_array_foreach(arr, k, e)
        {
            assert_string_equal(str(e, "status"), statuses[i]);
            saw_draft = saw_draft || strcmp(str(e, "key"), "list-draft") == 0;
            saw_running = saw_running || strcmp(str(e, "key"), "list-running") == 0;
        }
        assert_int_equal(saw_draft, i == 0);
        assert_int_equal(saw_running, i == 1);
        json_decref(l);
    }
    json_t *all = call("GET", "/api/v1/experiments", NULL, 200);
    assert_true(json_array_size(json_object_get(all, "experiments")) >= 3);
    json_decref(all);
    call_err("GET", "/api/v1/experiments?status=live", NULL, 400, "status");
    call_err("GET", "/api/v1/experiments?status=", NULL, 400, "status");
    call_err("GET", "/api/v1/experiments?status=RUNNING", NULL, 400, "status");
}

static void test_patch_rules(void **state)
{
    (void)state;
    new_draft("patchy", "\"variants\":[{\"key\":\"control\",\"weight\":0.5},{\"key\":\"green\","
                        "\"weight\":0.5}],\"metrics\":[\"purchase\"]");
    /* a draft may change anything */
    json_t *x = call("PATCH", "/api/v1/experiments/patchy",
                     "{\"seed\":\"s2\",\"hash_version\":1,\"targeting\":{\"a\":1},\"coverage\":0.4,"
                     "\"namespace\":{\"name\":\"n\",\"range\":[0,0.5]},\"variants\":[{\"key\":"
                     "\"control\"},{\"key\":\"green\"},{\"key\":\"blue\"}]}",
                     200);
    assert_string_equal(str(x, "seed"), "s2");
    assert_int_equal(json_array_size(json_object_get(x, "variants")), 3);
    assert_true(json_integer_value(json_object_get(x, "updated_at")) >=
                json_integer_value(json_object_get(x, "created_at")));
    json_decref(x);
    const struct {
        const char *body, *field;
    } reassigning[] = {
        {"{\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]}", "variants"},
        {"{\"variants\":[{\"key\":\"control\",\"weight\":0.5},{\"key\":\"green\",\"weight\":0.25},"
         "{\"key\":\"blue\",\"weight\":0.25}]}",
         "variants"},
        {"{\"seed\":\"s3\"}", "seed"},
        {"{\"seed\":null}", "seed"},
        {"{\"hash_version\":2}", "hash_version"},
        {"{\"namespace\":null}", "namespace"},
        {"{\"namespace\":{\"name\":\"n\",\"range\":[0,0.6]}}", "namespace"},
        {"{\"targeting\":{\"a\":2}}", "targeting"},
        {"{\"targeting\":null}", "targeting"},
    };
    const char *states[] = {"start", "pause"};
    for (int s = 0; s < 2; s++) {
        act("patchy", states[s], NULL, 200);
        for (size_t i = 0; i < sizeof(reassigning) / sizeof(reassigning[0]); i++) {
            json_t *e = call("PATCH", "/api/v1/experiments/patchy", reassigning[i].body, 409);
            json_t *err = json_object_get(e, "error");
            assert_string_equal(str(err, "code"), "conflict");
            assert_string_equal(str(err, "field"), reassigning[i].field);
            assert_non_null(strstr(str(err, "message"), "reassign"));
            json_decref(e);
        }
        /* allowed: name, a higher coverage, forced, metrics (and the rest) */
        x = call("PATCH", "/api/v1/experiments/patchy",
                 "{\"name\":\"Renamed\",\"coverage\":0.5,\"forced\":{\"qa\":\"green\"},"
                 "\"metrics\":[\"purchase\",\"revenue\"],\"description\":\"d\",\"variants\":["
                 "{\"key\":\"control\",\"name\":\"C\"},{\"key\":\"green\"},{\"key\":\"blue\"}]}",
                 200);
        assert_string_equal(str(x, "name"), "Renamed");
        assert_true(json_real_value(json_object_get(x, "coverage")) == 0.5);
        assert_string_equal(str(json_object_get(x, "forced"), "qa"), "green");
        assert_string_equal(str(x, "seed"), "s2");
        assert_string_equal(str(x, "status"), s == 0 ? "running" : "paused");
        json_decref(x);
        call_err("PATCH", "/api/v1/experiments/patchy", "{\"status\":\"draft\"}", 400, "status");
        call_err("PATCH", "/api/v1/experiments/patchy", "{\"released_variant\":\"green\"}", 400,
                 "released_variant");
        call_err("PATCH", "/api/v1/experiments/patchy", "{\"key\":\"other\"}", 400, "key");
    }
    /* stopped: the results are frozen (what would change them is 409), other fields may
     * change; archived: nothing may */
    act("patchy", "stop", NULL, 200);
    x = call("GET", "/api/v1/experiments/patchy", NULL, 200);
    char seed[80];
    snprintf(seed, sizeof(seed), "%s", str(x, "seed"));
    json_decref(x);
    call_err("PATCH", "/api/v1/experiments/patchy", "{\"seed\":\"s4\"}", 409, "seed");
    call_ok("PATCH", "/api/v1/experiments/patchy", "{\"owner\":\"after-stop\"}", 200);
    act("patchy", "archive", NULL, 200);
    call_err("PATCH", "/api/v1/experiments/patchy", "{\"name\":\"late\"}", 409, "status");
    x = call("GET", "/api/v1/experiments/patchy", NULL, 200);
    assert_string_equal(str(x, "seed"), seed);
    assert_string_equal(str(x, "owner"), "after-stop");
    assert_string_equal(str(x, "name"), "Renamed");
    json_decref(x);
}

static void test_delete_rules(void **state)
{
    (void)state;
    new_draft("del-draft", NULL);
    json_t *j = call("DELETE", "/api/v1/experiments/del-draft", NULL, 200);
    assert_true(json_is_true(json_object_get(j, "deleted")));
    json_decref(j);
    call_err("GET", "/api/v1/experiments/del-draft", NULL, 404, "");
    call_err("GET", "/api/v1/experiments/del-draft/assign?user_id=u", NULL, 404, "");
    j = call("POST", "/api/v1/assign", "{\"user_id\":\"u\",\"experiments\":[\"del-draft\"]}", 200);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "unknown"), 0)),
                        "del-draft");
    json_decref(j);
    call_err("DELETE", "/api/v1/experiments/del-draft", NULL, 404, "");
    const char *paths[][3] = {{"start", NULL, NULL},
                              {"start", "pause", NULL},
                              {"start", "stop", NULL},
                              {"archive", NULL, NULL},
                              {"start", "stop", "archive"}};
    for (size_t i = 0; i < 5; i++) {
        const char *key = fmt("del-%zu", i);
        char k[32];
        snprintf(k, sizeof(k), "%s", key);
        new_draft(k, NULL);
        for (int s = 0; s < 3 && paths[i][s] != NULL; s++) {
            act(k, paths[i][s], NULL, 200);
        }
        call_err("DELETE", fmt("/api/v1/experiments/%s", k), NULL, 409, "status");
        /* the hint to archive it only where that is still to do */
        j = call("DELETE", fmt("/api/v1/experiments/%s", k), NULL, 409);
        const char *msg =
            json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        bool archived = paths[i][0][0] == 'a' || (paths[i][2] != NULL && paths[i][2][0] == 'a');
        if ((strstr(msg, "archive it") != NULL) == archived) {
            fail_msg("%s: %s", k, msg);
        }
        json_decref(j);
        call_ok("GET", fmt("/api/v1/experiments/%s", k), NULL, 200);
    }
    /* the key of a deleted draft can be used again */
    new_draft("del-draft", NULL);
}

/* Every status x every action: legal ones give 200 and the new status, the others 409
 * and leave the status alone. */
static void test_lifecycle_table(void **state)
{
    (void)state;
    const char *actions[] = {"start", "pause", "resume", "stop", "archive"};
    const char *names[] = {"draft", "running", "paused", "stopped", "archived"};
    const char *reach[][2] = {
        {NULL, NULL}, {"start", NULL}, {"start", "pause"}, {"start", "stop"}, {"archive", NULL}};
    const char *expected[5][5] = {
        {"running", NULL, NULL, NULL, "archived"},
        {NULL, "paused", NULL, "stopped", NULL},
        {NULL, NULL, "running", "stopped", NULL},
        {NULL, NULL, NULL, NULL, "archived"},
        {NULL, NULL, NULL, NULL, NULL},
    };
    for (int s = 0; s < 5; s++) {
        for (int a = 0; a < 5; a++) {
            char key[32];
            snprintf(key, sizeof(key), "lc-%s-%s", names[s], actions[a]);
            new_draft(key, NULL);
            for (int i = 0; i < 2 && reach[s][i] != NULL; i++) {
                act(key, reach[s][i], NULL, 200);
            }
            assert_string_equal(status_of(key), names[s]);
            if (expected[s][a] == NULL) {
                call_err("POST", fmt("/api/v1/experiments/%s/%s", key, actions[a]), NULL, 409,
                         "status");
                assert_string_equal(status_of(key), names[s]);
                continue;
            }
            json_t *x = call("POST", fmt("/api/v1/experiments/%s/%s", key, actions[a]), NULL, 200);
            assert_string_equal(str(x, "status"), expected[s][a]);
            if (strcmp(actions[a], "start") == 0) {
                assert_true(json_integer_value(json_object_get(x, "started_at")) > 0);
            }
            if (strcmp(actions[a], "stop") == 0) {
                assert_true(json_integer_value(json_object_get(x, "stopped_at")) > 0);
                assert_true(json_is_null(json_object_get(x, "released_variant")));
            }
            json_decref(x);
            assert_string_equal(status_of(key), expected[s][a]);
        }
    }
    /* unknown experiment, bad bodies */
    call_err("POST", "/api/v1/experiments/ghost/start", NULL, 404, "");
    new_draft("lc-body", NULL);
    call_err("POST", "/api/v1/experiments/lc-body/start", "{\"release\":\"green\"}", 400,
             "release");
    call_ok("POST", "/api/v1/experiments/lc-body/start", "{}", 200);
    call_err("POST", "/api/v1/experiments/lc-body/stop", "{\"releases\":\"green\"}", 400,
             "releases");
    call_err("POST", "/api/v1/experiments/lc-body/stop", "{\"release\":\"purple\"}", 400,
             "release");
    call_err("POST", "/api/v1/experiments/lc-body/stop", "{\"release\":1}", 400, "release");
    call_err("POST", "/api/v1/experiments/lc-body/stop", "[\"green\"]", 400, "");
    assert_string_equal(status_of("lc-body"), "running");
    act("lc-body", "stop", "{\"release\":null}", 200);
    assert_string_equal(status_of("lc-body"), "stopped");
}

static void test_stop_release(void **state)
{
    (void)state;
    new_draft("rel", VARS ",\"forced\":{\"qa-1\":\"control\"}");
    act("rel", "start", NULL, 200);
    /* before the release an in-experiment user is exposed */
    json_t *a =
        call("POST", "/api/v1/assign", "{\"user_id\":\"early\",\"experiments\":[\"rel\"]}", 200);
    assert_string_equal(str(json_object_get(json_object_get(a, "assignments"), "rel"), "reason"),
                        "hashed");
    json_decref(a);
    assert_int_equal(count_exposures("rel", NULL), 1);
    json_t *x = call("POST", "/api/v1/experiments/rel/stop", "{\"release\":\"green\"}", 200);
    assert_string_equal(str(x, "status"), "stopped");
    assert_string_equal(str(x, "released_variant"), "green");
    json_decref(x);
    for (int i = 0; i < 50; i++) {
        a = call("POST", "/api/v1/assign",
                 fmt("{\"user_id\":\"r-%d\",\"experiments\":[\"rel\"]}", i), 200);
        json_t *o = json_object_get(json_object_get(a, "assignments"), "rel");
        assert_string_equal(str(o, "variant"), "green");
        assert_string_equal(str(o, "reason"), "released");
        assert_true(json_is_false(json_object_get(o, "in_experiment")));
        assert_true(json_is_null(json_object_get(o, "bucket")));
        json_decref(a);
    }
    /* the early user too; the forced QA user keeps the forced variant */
    a = call("GET", "/api/v1/experiments/rel/assign?user_id=early", NULL, 200);
    assert_string_equal(str(a, "reason"), "released");
    assert_string_equal(str(a, "variant"), "green");
    json_decref(a);
    a = call("GET", "/api/v1/experiments/rel/assign?user_id=qa-1", NULL, 200);
    assert_string_equal(str(a, "reason"), "forced");
    assert_string_equal(str(a, "variant"), "control");
    json_decref(a);
    /* a released experiment is still served when experiments are omitted */
    a = call("POST", "/api/v1/assign", "{\"user_id\":\"r-x\"}", 200);
    assert_string_equal(str(json_object_get(json_object_get(a, "assignments"), "rel"), "reason"),
                        "released");
    json_decref(a);
    assert_int_equal(count_exposures("rel", NULL), 1); /* no exposure after the release */
    /* it survives a restart of the snapshot (read back from the store) */
    x = call("GET", "/api/v1/experiments/rel", NULL, 200);
    assert_string_equal(str(x, "released_variant"), "green");
    assert_true(json_integer_value(json_object_get(x, "stopped_at")) > 0);
    json_decref(x);
    /* a stopped experiment's variants are frozen; it keeps its released variant through
     * the edits that are allowed */
    call_err("PATCH", "/api/v1/experiments/rel",
             "{\"variants\":[{\"key\":\"green\"},{\"key\":\"control\"}]}", 409, "variants");
    x = call("PATCH", "/api/v1/experiments/rel", "{\"name\":\"Released\"}", 200);
    assert_string_equal(str(x, "released_variant"), "green");
    json_decref(x);
    call_err("PATCH", "/api/v1/experiments/rel",
             "{\"variants\":[{\"key\":\"control\"},{\"key\":\"blue\"}],\"forced\":null}", 400,
             "variants");
    a = call("GET", "/api/v1/experiments/rel/assign?user_id=r-1", NULL, 200);
    assert_string_equal(str(a, "variant"), "green");
    json_decref(a);
}

static json_t *audit_entry(const json_t *entries, const char *action)
{
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        if (strcmp(str(e, "action"), action) == 0) {
            return e;
        }
    }
    fail_msg("no audit entry %s", action);
    return NULL;
}

/* POST /stop {"conclusion": {...}}: validated, stored, listed, audited; a PATCH may set
 * it later on a stopped experiment only. */
static void test_stop_conclusion(void **state)
{
    (void)state;
    new_draft("concl", VARS);
    act("concl", "start", NULL, 200);
    call_err("POST", "/api/v1/experiments/concl/stop", "{\"conclusion\":{\"outcome\":\"great\"}}",
             400, "conclusion.outcome");
    call_err("POST", "/api/v1/experiments/concl/stop", "{\"conclusion\":{\"notes\":\"x\"}}", 400,
             "conclusion.outcome");
    call_err("POST", "/api/v1/experiments/concl/stop", "{\"conclusion\":\"won\"}", 400,
             "conclusion");
    call_err("POST", "/api/v1/experiments/concl/stop",
             "{\"conclusion\":{\"outcome\":\"won\",\"why\":1}}", 400, "conclusion.why");
    call_err("POST", "/api/v1/experiments/concl/stop",
             "{\"conclusion\":{\"outcome\":\"won\",\"notes\":5}}", 400, "conclusion.notes");
    call_err("POST", "/api/v1/experiments/concl/start", "{\"conclusion\":null}", 400, "conclusion");
    call_err("PATCH", "/api/v1/experiments/concl", "{\"conclusion\":{\"outcome\":\"won\"}}", 400,
             "conclusion");
    assert_string_equal(status_of("concl"), "running");
    json_t *x = call("POST", "/api/v1/experiments/concl/stop",
                     "{\"release\":\"green\",\"conclusion\":{\"outcome\":\"won\",\"notes\":"
                     "\"+4% purchases\\nship green\"}}",
                     200);
    json_t *c = json_object_get(x, "conclusion");
    assert_string_equal(str(c, "outcome"), "won");
    assert_string_equal(str(c, "notes"), "+4% purchases\nship green");
    json_int_t at = json_integer_value(json_object_get(c, "concluded_at"));
    assert_true(at > 0);
    json_decref(x);
    /* in the list */
    json_t *l = call("GET", "/api/v1/experiments?status=stopped", NULL, 200);
    size_t i;
    json_t *e;
    bool seen = false;
    json_array_foreach(json_object_get(l, "experiments"), i, e)
    {
        if (strcmp(str(e, "key"), "concl") == 0) {
            seen = true;
            assert_string_equal(str(json_object_get(e, "conclusion"), "outcome"), "won");
        }
    }
    assert_true(seen);
    json_decref(l);
    /* audited */
    json_t *a = call("GET", "/api/v1/audit?target_type=experiment&target=concl", NULL, 200);
    e = audit_entry(json_object_get(a, "entries"), "experiment.stop");
    assert_true(json_is_null(json_object_get(json_object_get(e, "before"), "conclusion")));
    assert_string_equal(str(json_object_get(json_object_get(e, "after"), "conclusion"), "outcome"),
                        "won");
    json_decref(a);
    /* a GET body round-trips; a PATCH of the stopped experiment changes it */
    x = call("GET", "/api/v1/experiments/concl", NULL, 200);
    char *text = json_dumps(x, JSON_COMPACT);
    call_ok("PATCH", "/api/v1/experiments/concl", text, 200);
    free(text);
    json_decref(x);
    x = call("GET", "/api/v1/experiments/concl", NULL, 200);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(x, "conclusion"), "concluded_at")), at);
    json_decref(x);
    x = call("PATCH", "/api/v1/experiments/concl",
             "{\"conclusion\":{\"outcome\":\"inconclusive\",\"notes\":\"\"}}", 200);
    assert_string_equal(str(json_object_get(x, "conclusion"), "outcome"), "inconclusive");
    json_decref(x);
    x = call("PATCH", "/api/v1/experiments/concl", "{\"conclusion\":null}", 200);
    assert_true(json_is_null(json_object_get(x, "conclusion")));
    json_decref(x);
    /* no conclusion: null */
    new_draft("concl2", VARS);
    act("concl2", "start", NULL, 200);
    x = call("POST", "/api/v1/experiments/concl2/stop", "{}", 200);
    assert_true(json_is_null(json_object_get(x, "conclusion")));
    json_decref(x);
}

/* The ETag GET /api/v1/experiments/{key} answers, into out. */
static void etag_of(const char *key, char *out, size_t n)
{
    struct resp r;
    assert_int_equal(
        http_req(D.port, "GET", fmt("/api/v1/experiments/%s", key), D.admin_key, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(resp_header(&r, "ETag", out, n));
    resp_free(&r);
}

/* The conclusion's winner ("" when null) of an experiment reply. */
static const char *winner_of(const json_t *x)
{
    const json_t *w = json_object_get(json_object_get(x, "conclusion"), "winner");
    assert_true(json_is_string(w) || json_is_null(w));
    return json_is_string(w) ? json_string_value(w) : "";
}

/* conclusion.winner: a variant key, with "won" only; absent at a stop that releases a variant:
 * that variant; stored, listed, audited, changed by a PATCH of the stopped experiment (a new
 * ETag), and refused where it does not belong. */
static void test_stop_winner(void **state)
{
    (void)state;
#define VARS3 "\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"},{\"key\":\"blue\"}]"
    new_draft("win1", VARS3);
    act("win1", "start", NULL, 200);
    call_err("POST", "/api/v1/experiments/win1/stop",
             "{\"conclusion\":{\"outcome\":\"lost\",\"winner\":\"green\"}}", 400,
             "conclusion.winner");
    call_err("POST", "/api/v1/experiments/win1/stop",
             "{\"conclusion\":{\"outcome\":\"inconclusive\",\"winner\":\"green\"}}", 400,
             "conclusion.winner");
    json_t *x = call("POST", "/api/v1/experiments/win1/stop",
                     "{\"conclusion\":{\"outcome\":\"won\",\"winner\":\"purple\"}}", 400);
    assert_string_equal(error_field(x), "conclusion.winner");
    assert_non_null(strstr(str(json_object_get(x, "error"), "message"), "'purple'"));
    json_decref(x);
    call_err("POST", "/api/v1/experiments/win1/stop",
             "{\"conclusion\":{\"outcome\":\"won\",\"winner\":3}}", 400, "conclusion.winner");
    call_err("POST", "/api/v1/experiments/win1/stop",
             "{\"conclusion\":{\"outcome\":\"won\",\"winner\":[\"green\"]}}", 400,
             "conclusion.winner");
    call_err("POST", "/api/v1/experiments/win1/stop",
             "{\"conclusion\":{\"outcome\":\"won\",\"winner\":\"Green\"}}", 400,
             "conclusion.winner");
    assert_string_equal(status_of("win1"), "running");
    /* given: stored as given, whatever is released */
    x = call("POST", "/api/v1/experiments/win1/stop",
             "{\"release\":\"green\",\"conclusion\":{\"outcome\":\"won\",\"winner\":\"blue\"}}",
             200);
    assert_string_equal(winner_of(x), "blue");
    json_decref(x);
    x = call("GET", "/api/v1/experiments/win1", NULL, 200);
    assert_string_equal(winner_of(x), "blue");
    assert_string_equal(str(x, "released_variant"), "green");
    json_decref(x);
    /* in the list and the stop's audit entry */
    json_t *l = call("GET", "/api/v1/experiments?status=stopped", NULL, 200);
    size_t i;
    json_t *e;
    bool seen = false;
    json_array_foreach(json_object_get(l, "experiments"), i, e)
    {
        if (strcmp(str(e, "key"), "win1") == 0) {
            seen = true;
            assert_string_equal(winner_of(e), "blue");
        }
    }
    assert_true(seen);
    json_decref(l);
    json_t *a = call("GET", "/api/v1/audit?target_type=experiment&target=win1", NULL, 200);
    e = audit_entry(json_object_get(a, "entries"), "experiment.stop");
    assert_string_equal(winner_of(json_object_get(e, "after")), "blue");
    json_decref(a);

    /* a GET body sent back keeps the winner and its time; a PATCH changes the winner (a new
     * ETag) under the same rules, and a refused one changes nothing (the same ETag) */
    char tag1[128], tag2[128];
    x = call("GET", "/api/v1/experiments/win1", NULL, 200);
    json_int_t at =
        json_integer_value(json_object_get(json_object_get(x, "conclusion"), "concluded_at"));
    char *text = json_dumps(x, JSON_COMPACT);
    call_ok("PATCH", "/api/v1/experiments/win1", text, 200);
    free(text);
    json_decref(x);
    x = call("GET", "/api/v1/experiments/win1", NULL, 200);
    assert_string_equal(winner_of(x), "blue");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(x, "conclusion"), "concluded_at")), at);
    json_decref(x);
    etag_of("win1", tag1, sizeof(tag1));
    call_err("PATCH", "/api/v1/experiments/win1",
             "{\"conclusion\":{\"outcome\":\"lost\",\"winner\":\"blue\"}}", 400,
             "conclusion.winner");
    call_err("PATCH", "/api/v1/experiments/win1",
             "{\"conclusion\":{\"outcome\":\"won\",\"winner\":\"nope\"}}", 400,
             "conclusion.winner");
    call_err("PATCH", "/api/v1/experiments/win1",
             "{\"conclusion\":{\"outcome\":\"won\",\"winner\":true}}", 400, "conclusion.winner");
    x = call("GET", "/api/v1/experiments/win1", NULL, 200);
    assert_string_equal(winner_of(x), "blue");
    json_decref(x);
    etag_of("win1", tag2, sizeof(tag2));
    assert_string_equal(tag1, tag2);
    x = call("PATCH", "/api/v1/experiments/win1",
             "{\"conclusion\":{\"outcome\":\"won\",\"winner\":\"control\",\"notes\":\"n\"}}", 200);
    assert_string_equal(winner_of(x), "control");
    json_decref(x);
    etag_of("win1", tag2, sizeof(tag2));
    assert_string_not_equal(tag1, tag2);
    a = call("GET", "/api/v1/audit?target_type=experiment&target=win1", NULL, 200);
    e = audit_entry(json_object_get(a, "entries"), "experiment.update");
    assert_string_equal(winner_of(json_object_get(e, "before")), "blue");
    assert_string_equal(winner_of(json_object_get(e, "after")), "control");
    json_decref(a);
    /* a PATCH's conclusion replaces the whole one: no winner given, none (no release default) */
    x = call("PATCH", "/api/v1/experiments/win1", "{\"conclusion\":{\"outcome\":\"won\"}}", 200);
    assert_string_equal(winner_of(x), "");
    json_decref(x);
    x = call("PATCH", "/api/v1/experiments/win1",
             "{\"conclusion\":{\"outcome\":\"lost\",\"winner\":null}}", 200);
    assert_string_equal(winner_of(x), "");
    json_decref(x);

    /* the release default: "won", no winner, a release */
    new_draft("win2", VARS3);
    act("win2", "start", NULL, 200);
    x = call("POST", "/api/v1/experiments/win2/stop",
             "{\"release\":\"blue\",\"conclusion\":{\"outcome\":\"won\"}}", 200);
    assert_string_equal(winner_of(x), "blue");
    json_decref(x);
    /* null given: no winner, even with a release */
    new_draft("win3", VARS3);
    act("win3", "start", NULL, 200);
    x = call("POST", "/api/v1/experiments/win3/stop",
             "{\"release\":\"blue\",\"conclusion\":{\"outcome\":\"won\",\"winner\":null}}", 200);
    assert_string_equal(winner_of(x), "");
    json_decref(x);
    /* no release: no winner; lost with a release: no winner */
    new_draft("win4", VARS3);
    act("win4", "start", NULL, 200);
    x = call("POST", "/api/v1/experiments/win4/stop", "{\"conclusion\":{\"outcome\":\"won\"}}",
             200);
    assert_string_equal(winner_of(x), "");
    json_decref(x);
    new_draft("win5", VARS3);
    act("win5", "start", NULL, 200);
    x = call("POST", "/api/v1/experiments/win5/stop",
             "{\"release\":\"control\",\"conclusion\":{\"outcome\":\"lost\"}}", 200);
    assert_string_equal(winner_of(x), "");
    json_decref(x);
#undef VARS3
}

static void test_audit(void **state)
{
    (void)state;
    new_draft("audited", NULL);
    call_ok("PATCH", "/api/v1/experiments/audited", "{\"name\":\"After\"}", 200);
    const char *seq[] = {"start", "pause", "resume", "stop", "archive"};
    for (int i = 0; i < 5; i++) {
        act("audited", seq[i], NULL, 200);
    }
    json_t *a = call("GET", "/api/v1/audit?target_type=experiment&target=audited", NULL, 200);
    json_t *entries = json_object_get(a, "entries");
    assert_int_equal(json_array_size(entries), 7);
    json_t *e = audit_entry(entries, "experiment.create");
    assert_true(json_is_null(json_object_get(e, "before")));
    assert_string_equal(str(json_object_get(e, "after"), "status"), "draft");
    assert_string_equal(str(e, "target_type"), "experiment");
    assert_string_equal(str(e, "target"), "audited");
    assert_string_equal(str(json_object_get(e, "actor"), "name"), "bootstrap-admin");
    e = audit_entry(entries, "experiment.update");
    assert_string_equal(str(json_object_get(e, "before"), "name"), "audited");
    assert_string_equal(str(json_object_get(e, "after"), "name"), "After");
    const char *before[] = {"draft", "running", "paused", "running", "stopped"};
    const char *after[] = {"running", "paused", "running", "stopped", "archived"};
    for (int i = 0; i < 5; i++) {
        e = audit_entry(entries, fmt("experiment.%s", seq[i]));
        assert_string_equal(str(json_object_get(e, "before"), "status"), before[i]);
        assert_string_equal(str(json_object_get(e, "after"), "status"), after[i]);
    }
    json_decref(a);
    /* refused changes leave no entry; deletes do */
    call_err("POST", "/api/v1/experiments/audited/start", NULL, 409, "status");
    new_draft("audit-del", NULL);
    call_ok("DELETE", "/api/v1/experiments/audit-del", NULL, 200);
    a = call("GET", "/api/v1/audit?target_type=experiment&target=audited", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(a, "entries")), 7);
    json_decref(a);
    /* an unknown target_type is a 400, as every other enumerated parameter (it listed
     * nothing); saved_group is one */
    call_err("GET", "/api/v1/audit?target_type=bogus", NULL, 400, "target_type");
    json_decref(call("GET", "/api/v1/audit?target_type=saved_group", NULL, 200));
    a = call("GET", "/api/v1/audit?target_type=experiment&target=audit-del", NULL, 200);
    entries = json_object_get(a, "entries");
    assert_int_equal(json_array_size(entries), 2);
    e = audit_entry(entries, "experiment.delete");
    assert_string_equal(str(json_object_get(e, "before"), "key"), "audit-del");
    assert_true(json_is_null(json_object_get(e, "after")));
    json_decref(a);
    /* metrics: create, update, delete */
    call_ok("POST", "/api/v1/metrics", "{\"key\":\"aud-m\",\"event\":\"e\",\"type\":\"count\"}",
            201);
    call_ok("PATCH", "/api/v1/metrics/aud-m", "{\"type\":\"sum\"}", 200);
    call_ok("DELETE", "/api/v1/metrics/aud-m", NULL, 200);
    a = call("GET", "/api/v1/audit?target_type=metric&target=aud-m", NULL, 200);
    entries = json_object_get(a, "entries");
    assert_int_equal(json_array_size(entries), 3);
    e = audit_entry(entries, "metric.update");
    assert_string_equal(str(json_object_get(e, "before"), "type"), "count");
    assert_string_equal(str(json_object_get(e, "after"), "type"), "sum");
    assert_non_null(audit_entry(entries, "metric.create"));
    assert_non_null(audit_entry(entries, "metric.delete"));
    json_decref(a);
}

/* A targeting condition with an operator the evaluator does not know would match nobody:
 * refused at the field instead of stored. */
static void test_unknown_operator(void **state)
{
    (void)state;
    call_err("POST", "/api/v1/experiments",
             "{\"key\":\"bad-op\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
             "\"targeting\":{\"country\":{\"$foo\":1}}}",
             400, "targeting");
    call_err("POST", "/api/v1/experiments",
             "{\"key\":\"bad-op\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
             "\"targeting\":{\"$or\":[{\"a\":1},{\"b\":{\"$regexx\":\"x\"}}]}}",
             400, "targeting");
    json_decref(call("POST", "/api/v1/experiments",
                     "{\"key\":\"good-op\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                     "\"targeting\":{\"$or\":[{\"a\":{\"$vgte\":\"1.2.0\"}},"
                     "{\"tags\":{\"$elemMatch\":{\"$eq\":\"x\"}}}]}}",
                     201));
}

/* Coverage while running or paused: lowering it cuts the end off every variant's range, so
 * users already exposed to a variant would be served the control while the results still
 * count them in it: 409 naming coverage. Raising it (and an unchanged value) is allowed;
 * once stopped, coverage decides nothing and may change. */
static void test_coverage_lowered(void **state)
{
    (void)state;
    new_draft("cover", "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"coverage\":0.6");
    act("cover", "start", NULL, 200);
    /* the users exposed to b before the change */
    char users[64][16];
    size_t nb = 0;
    for (int i = 0; i < 64 && nb < 8; i++) {
        json_t *a = call("POST", "/api/v1/assign",
                         fmt("{\"user_id\":\"c-%d\",\"experiments\":[\"cover\"]}", i), 200);
        json_t *o = json_object_get(json_object_get(a, "assignments"), "cover");
        if (strcmp(str(o, "reason"), "hashed") == 0 && strcmp(str(o, "variant"), "b") == 0) {
            snprintf(users[nb++], sizeof(users[0]), "c-%d", i);
        }
        json_decref(a);
    }
    assert_true(nb >= 4);
    const char *states[] = {"running", "paused"};
    for (int s = 0; s < 2; s++) {
        if (s == 1) {
            act("cover", "pause", NULL, 200);
        }
        json_t *e = call("PATCH", "/api/v1/experiments/cover", "{\"coverage\":0.2}", 409);
        json_t *err = json_object_get(e, "error");
        assert_string_equal(str(err, "code"), "conflict");
        assert_string_equal(str(err, "field"), "coverage");
        const char *msg = str(err, "message");
        if (strstr(msg, states[s]) == NULL || strstr(msg, "exposed users") == NULL ||
            strstr(msg, "stop it") == NULL || strstr(msg, "new experiment") == NULL) {
            fail_msg("the 409 does not say why and what to do: %s", msg);
        }
        json_decref(e);
        /* with another allowed field in the same body: nothing is written */
        call_err("PATCH", "/api/v1/experiments/cover", "{\"name\":\"N\",\"coverage\":0.59}", 409,
                 "coverage");
        json_t *x = call("GET", "/api/v1/experiments/cover", NULL, 200);
        assert_true(json_real_value(json_object_get(x, "coverage")) == 0.6);
        assert_string_equal(str(x, "name"), "cover");
        json_decref(x);
    }
    act("cover", "resume", NULL, 200);
    /* every user exposed to b still gets b */
    for (size_t i = 0; i < nb; i++) {
        json_t *a =
            call("GET", fmt("/api/v1/experiments/cover/assign?user_id=%s", users[i]), NULL, 200);
        assert_string_equal(str(a, "variant"), "b");
        assert_string_equal(str(a, "reason"), "hashed");
        json_decref(a);
    }
    /* raising it, or sending it unchanged, is allowed */
    json_t *x = call("PATCH", "/api/v1/experiments/cover", "{\"coverage\":0.6}", 200);
    json_decref(x);
    x = call("PATCH", "/api/v1/experiments/cover", "{\"coverage\":0.9}", 200);
    assert_true(json_real_value(json_object_get(x, "coverage")) == 0.9);
    json_decref(x);
    /* stopped: coverage decides nothing any more */
    act("cover", "stop", NULL, 200);
    x = call("PATCH", "/api/v1/experiments/cover", "{\"coverage\":0.1}", 200);
    assert_true(json_real_value(json_object_get(x, "coverage")) == 0.1);
    json_decref(x);
}

/* A namespace excludes its experiments from each other only with disjoint ranges: starting
 * (or resuming) one whose range overlaps a running or paused experiment's in the same
 * namespace is a 409 naming it. Before, A [0, 0.6) and B [0.4, 1) both ran and a user in
 * bucket 0.464 was in both. Drafts may overlap; touching ranges [0, 0.6) [0.6, 1) do not.
 * The message prints the ends with their digits ([0, 0.3333333) printed as [0, 0.333333)). */
static void test_namespace_overlap(void **state)
{
    (void)state;
#define NS_EXP(range) VARS ",\"namespace\":{\"name\":\"checkout\",\"range\":" range "}"
    new_draft("ns-a", NS_EXP("[0,0.6]"));
    new_draft("ns-b", NS_EXP("[0.4,1]")); /* a draft may overlap */
    new_draft("ns-c", NS_EXP("[0.6,1]"));
    new_draft("ns-d", NS_EXP("[0.5,0.6]"));
    new_draft("ns-other", VARS ",\"namespace\":{\"name\":\"search\",\"range\":[0,1]}");
    new_draft("ns-none", VARS);
    act("ns-a", "start", NULL, 200);
    json_t *e = call("POST", "/api/v1/experiments/ns-b/start", NULL, 409);
    json_t *err = json_object_get(e, "error");
    assert_string_equal(str(err, "code"), "conflict");
    assert_string_equal(str(err, "field"), "namespace");
    const char *msg = str(err, "message");
    if (strstr(msg, "'ns-a' (running)") == NULL || strstr(msg, "[0, 0.6)") == NULL ||
        strstr(msg, "checkout") == NULL) {
        fail_msg("the 409 does not name the overlapping experiment and its range: %s", msg);
    }
    json_decref(e);
    assert_string_equal(status_of("ns-b"), "draft");
    /* touching ranges, another namespace, no namespace: all start */
    act("ns-c", "start", NULL, 200);
    act("ns-other", "start", NULL, 200);
    act("ns-none", "start", NULL, 200);
    /* a paused experiment keeps its range: [0.5, 0.6) meets ns-a's alone */
    act("ns-a", "pause", NULL, 200);
    e = call("POST", "/api/v1/experiments/ns-d/start", NULL, 409);
    err = json_object_get(e, "error");
    assert_string_equal(str(err, "field"), "namespace");
    assert_non_null(strstr(str(err, "message"), "(paused)"));
    json_decref(e);
    act("ns-a", "resume", NULL, 200); /* nothing else overlaps it: resumes */
    /* once stopped, the range is free */
    act("ns-a", "stop", NULL, 200);
    act("ns-c", "stop", NULL, 200);
    act("ns-b", "start", NULL, 200);
    /* the 409 shows the ends as a GET does: with 6 digits these two read as touching */
    new_draft("ns-e", VARS ",\"namespace\":{\"name\":\"digits\",\"range\":[0,0.3333333]}");
    new_draft("ns-f", VARS ",\"namespace\":{\"name\":\"digits\",\"range\":[0.333333,1]}");
    act("ns-e", "start", NULL, 200);
    e = call("POST", "/api/v1/experiments/ns-f/start", NULL, 409);
    msg = str(json_object_get(e, "error"), "message");
    if (strstr(msg, "holds [0, 0.3333333) of namespace 'digits', which overlaps [0.333333, 1)") ==
        NULL) {
        fail_msg("the 409 does not show the ranges' digits: %s", msg);
    }
    json_decref(e);
#undef NS_EXP
}

/* A $regex that cannot be evaluated is a 400 when written (create, PATCH) and at start
 * (API.md v1.1), naming where it is and the pattern; one stored before the check existed
 * still loads, matches nobody and does not block other edits. */
static void test_invalid_regex(void **state)
{
    (void)state;
    json_t *j = call("POST", "/api/v1/experiments",
                     "{\"key\":\"bad-re\"," VARS ",\"targeting\":{\"$or\":[{\"a\":1},"
                     "{\"ua\":{\"$regex\":\"(unclosed\"}}]}}",
                     400);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_string_equal(str(json_object_get(j, "error"), "field"), "targeting");
    assert_non_null(strstr(msg, "targeting.$or[1].ua.$regex"));
    assert_non_null(strstr(msg, "(unclosed"));
    json_decref(j);
    call_err("POST", "/api/v1/experiments",
             "{\"key\":\"bad-re\"," VARS ",\"targeting\":{\"ua\":{\"$regexi\":\"[z-a]\"}}}", 400,
             "targeting");
    call_err("POST", "/api/v1/experiments",
             "{\"key\":\"bad-re\"," VARS ",\"targeting\":{\"ua\":{\"$regex\":7}}}", 400,
             "targeting");
    /* two experiments whose stored pattern becomes invalid, as an older version kept it */
    const char *good = "\"targeting\":{\"ua\":{\"$regex\":\"^ok\"}}";
    new_draft("re-draft", fmt("%s,%s", VARS, good));
    new_draft("re-running", fmt("%s,%s", VARS, good));
    act("re-running", "start", NULL, 200);
    call_err("PATCH", "/api/v1/experiments/re-draft",
             "{\"targeting\":{\"ua\":{\"$regex\":\"a{2,1}\"}}}", 400, "targeting");
    assert_int_equal(daemon_stop(&D), 0);
    daemon_db_exec(&D,
                   "UPDATE experiments SET doc = replace(doc, '\"^ok\"', '\"(unclosed\"') "
                   "WHERE key IN ('re-draft', 're-running')",
                   0);
    assert_int_equal(daemon_restart(&D, NULL), 0);
    j = call("GET", "/api/v1/experiments/re-running", NULL, 200); /* loaded */
    assert_string_equal(str(json_object_get(json_object_get(j, "targeting"), "ua"), "$regex"),
                        "(unclosed");
    json_decref(j);
    j = call("POST", "/api/v1/assign",
             "{\"user_id\":\"u-1\",\"attributes\":{\"ua\":\"ok\"},\"experiments\":"
             "[\"re-running\"],\"log_exposure\":false}",
             200);
    json_t *as = json_object_get(json_object_get(j, "assignments"), "re-running");
    assert_true(json_is_false(json_object_get(as, "in_experiment")));
    assert_string_equal(str(as, "reason"), "not_targeted");
    json_decref(j);
    j = call("POST", "/api/v1/experiments/re-draft/start", NULL, 400);
    msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_non_null(strstr(msg, "targeting.ua.$regex"));
    assert_non_null(strstr(msg, "(unclosed"));
    json_decref(j);
    assert_string_equal(status_of("re-draft"), "draft");
    call_ok("PATCH", "/api/v1/experiments/re-draft", "{\"name\":\"Renamed\"}", 200);
    call_ok("PATCH", "/api/v1/experiments/re-draft", fmt("{%s}", good), 200);
    act("re-draft", "start", NULL, 200);
}

/* An operator given an operand of the wrong shape is a 400 when written and at start, named
 * by where it is (review journey33 F2: "$in": "NL" was stored and matched nobody, "$or" given
 * an object let every user in); one stored before the check loads and start refuses it. */
static void test_operand_shapes(void **state)
{
    (void)state;
    json_t *j =
        call("POST", "/api/v1/experiments",
             "{\"key\":\"shape-in\"," VARS ",\"targeting\":{\"country\":{\"$in\":\"NL\"}}}", 400);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_string_equal(str(json_object_get(j, "error"), "field"), "targeting");
    assert_non_null(strstr(msg, "targeting.country.$in takes a list of values"));
    json_decref(j);
    call_err("POST", "/api/v1/experiments",
             "{\"key\":\"shape-or\"," VARS ",\"targeting\":{\"$or\":{\"country\":\"NL\"}}}", 400,
             "targeting");
    new_draft("shape-old", fmt("%s,%s", VARS, "\"targeting\":{\"country\":{\"$in\":[\"NL\"]}}"));
    call_err("PATCH", "/api/v1/experiments/shape-old",
             "{\"targeting\":{\"tags\":{\"$elemMatch\":\"NL\"}}}", 400, "targeting");
    assert_int_equal(daemon_stop(&D), 0);
    daemon_db_exec(&D,
                   "UPDATE experiments SET doc = replace(doc, '[\"NL\"]', '\"NL\"') "
                   "WHERE key = 'shape-old'",
                   0);
    assert_int_equal(daemon_restart(&D, NULL), 0);
    j = call("GET", "/api/v1/experiments/shape-old", NULL, 200); /* loaded as stored */
    assert_string_equal(str(json_object_get(json_object_get(j, "targeting"), "country"), "$in"),
                        "NL");
    json_decref(j);
    j = call("POST", "/api/v1/experiments/shape-old/start", NULL, 400);
    msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_non_null(strstr(msg, "targeting.country.$in"));
    json_decref(j);
    assert_string_equal(status_of("shape-old"), "draft");
}

/* The GET body of a running experiment with weights 1/3 (printed with 15 digits) can be
 * sent back unchanged: no 409 for a "change" that is only rounding. */
static void test_round_trip_running(void **state)
{
    (void)state;
    json_decref(call("POST", "/api/v1/experiments",
                     "{\"key\":\"thirds\",\"variants\":[{\"key\":\"a\",\"weight\":"
                     "0.3333333333333333},{\"key\":\"b\",\"weight\":0.3333333333333333},"
                     "{\"key\":\"c\",\"weight\":0.3333333333333334}],"
                     "\"coverage\":0.3333333333333333}",
                     201));
    act("thirds", "start", NULL, 200);
    json_t *got = call("GET", "/api/v1/experiments/thirds", NULL, 200);
    char *body = json_dumps(got, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(got);
    json_decref(call("PATCH", "/api/v1/experiments/thirds", body, 200));
    free(body);
    /* a real change of weights is still refused */
    call_err("PATCH", "/api/v1/experiments/thirds",
             "{\"variants\":[{\"key\":\"a\",\"weight\":0.5},{\"key\":\"b\",\"weight\":0.25},"
             "{\"key\":\"c\",\"weight\":0.25}]}",
             409, "variants");
}

/* ---- reals of a definition: stored with the 15 digits a GET shows ---- */

/* The number at path ("targeting.score.$gt", "namespace.range.1": keys, or indexes in
 * arrays) of v. */
static double num_at(const json_t *v, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t; t = strtok_r(NULL, ".", &save)) {
        v = json_is_array(v) ? json_array_get(v, strtoul(t, NULL, 10)) : json_object_get(v, t);
    }
    if (!json_is_number(v)) {
        fail_msg("no number at %s", path);
    }
    return json_number_value(v);
}

static void first_row(void *ctx, const char *const *cols, int ncols)
{
    json_t **out = ctx; /* the first row's first two columns as JSON */
    if (out[0] != NULL) {
        return;
    }
    for (int i = 0; i < ncols && i < 2; i++) {
        out[i] = json_loads(cols[i], 0, NULL);
    }
}

/* The stored document of key in table (experiments, metrics), with every digit stored. */
static json_t *stored_doc(const char *table, const char *key)
{
    json_t *doc[2] = {NULL, NULL};
    daemon_db_rows(&D, fmt("SELECT doc FROM %s WHERE key = '%s'", table, key), first_row, doc);
    assert_non_null(doc[0]);
    return doc[0];
}

/* The stored number at path of key in table. */
static double stored_num(const char *table, const char *key, const char *path)
{
    json_t *doc = stored_doc(table, key);
    double x = num_at(doc, path);
    json_decref(doc);
    return x;
}

/* GET path and PATCH its body back, the numbers as the reply printed them. */
/* GET path and PATCH the body back with its reals in `digits` significant digits: 17 as the
 * reply has them (each reads back as the same double), 15 rounding them. */
static void patch_back_digits(const char *path, int digits, int want)
{
    json_t *got = call("GET", path, NULL, 200);
    char *body = json_dumps(got, JSON_COMPACT | JSON_REAL_PRECISION(digits));
    json_decref(got);
    json_decref(call("PATCH", path, body, want));
    free(body);
}

static void patch_back(const char *path, int want)
{
    patch_back_digits(path, 17, want);
}

/* The cap of metric key before and after its last update, as the audit log stored them. */
static void audited_caps(const char *key, double *before, double *after)
{
    json_t *docs[2] = {NULL, NULL};
    daemon_db_rows(&D,
                   fmt("SELECT before_json, after_json FROM audit_log WHERE target_type = "
                       "'metric' AND target = '%s' AND action = 'metric.update' ORDER BY id DESC",
                       key),
                   first_row, docs);
    assert_non_null(docs[0]);
    assert_non_null(docs[1]);
    *before = num_at(docs[0], "cap");
    *after = num_at(docs[1], "cap");
    json_decref(docs[0]);
    json_decref(docs[1]);
}

/* The reason /assign gives the user with attribute score (JSON number text) in key. */
static const char *reason_of(const char *key, const char *score)
{
    static char reason[32];
    json_t *a = call("POST", "/api/v1/assign",
                     fmt("{\"user_id\":\"u-1\",\"attributes\":{\"score\":%s},\"experiments\":"
                         "[\"%s\"],\"log_exposure\":false}",
                         score, key),
                     200);
    snprintf(reason, sizeof(reason), "%s",
             str(json_object_get(json_object_get(a, "assignments"), key), "reason"));
    json_decref(a);
    return reason;
}

/* The $gt of key's targeting on score in the SDK payload (the rule with a condition). */
static double payload_threshold(const char *sdk, const char *key)
{
    json_t *p = call_as(sdk, "GET", fmt("/api/features/%s", sdk), NULL, 200);
    const json_t *rules =
        json_object_get(json_object_get(json_object_get(p, "features"), key), "rules");
    double x = -1;
    for (size_t i = 0; i < json_array_size(rules); i++) {
        const json_t *c = json_object_get(json_array_get(rules, i), "condition");
        if (c != NULL) {
            x = num_at(c, "score.$gt");
        }
    }
    json_decref(p);
    assert_true(x >= 0);
    return x;
}

/* Reals sent with 16-17 digits in targeting, the namespace range, the analysis settings and a
 * metric's cap are kept as sent (s24; they were rounded to the 15 digits replies printed):
 * a GET shows them exactly (shortest round-trip text), they are evaluated and served to SDKs
 * as sent, the GET body PATCHed back is no change (no 409 on a running experiment, no
 * rebuild), and the same body with 15 digits is a change (refused while running, stored as
 * sent otherwise: a 200 that kept the old numbers changed nothing asked for). */
static void test_reals_kept_as_sent(void **state)
{
    (void)state;
    char sdk[128];
    harness_sdk_key_named(D.port, D.admin_key, "rt-sdk", sdk, sizeof(sdk), NULL, 0);

    new_draft("rt-target", VARS ",\"targeting\":{\"score\":{\"$gt\":0.12345678901234567}}");
    act("rt-target", "start", NULL, 200);
    json_t *g = call("GET", "/api/v1/experiments/rt-target", NULL, 200);
    assert_true(num_at(g, "targeting.score.$gt") == 0.12345678901234567);
    json_decref(g);
    patch_back("/api/v1/experiments/rt-target", 200);
    assert_true(stored_num("experiments", "rt-target", "targeting.score.$gt") ==
                0.12345678901234567);
    /* evaluated as sent: below it not targeted, above it targeted */
    assert_string_equal(reason_of("rt-target", "0.12345678901234566"), "not_targeted");
    assert_string_not_equal(reason_of("rt-target", "0.1234567890123458"), "not_targeted");
    /* and the SDK evaluates that number too */
    assert_true(payload_threshold(sdk, "rt-target") == 0.12345678901234567);
    /* a change is still one, also the stored number rounded to 15 digits */
    call_err("PATCH", "/api/v1/experiments/rt-target", "{\"targeting\":{\"score\":{\"$gt\":0.2}}}",
             409, "targeting");
    call_err("PATCH", "/api/v1/experiments/rt-target",
             "{\"targeting\":{\"score\":{\"$gt\":0.123456789012346}}}", 409, "targeting");

    new_draft("rt-ns",
              VARS ",\"namespace\":{\"name\":\"rt-ns\",\"range\":[0,0.33333333333333331]}");
    act("rt-ns", "start", NULL, 200);
    patch_back("/api/v1/experiments/rt-ns", 200);
    assert_true(stored_num("experiments", "rt-ns", "namespace.range.1") == 0.33333333333333331);
    call_err("PATCH", "/api/v1/experiments/rt-ns",
             "{\"namespace\":{\"name\":\"rt-ns\",\"range\":[0,0.5]}}", 409, "namespace");

    /* the analysis settings too */
    new_draft("rt-analysis",
              VARS ",\"mde\":0.033333333333333333,\"sequential_tuning\":"
                   "1234.5678901234567,\"analysis\":{\"alpha\":0.033333333333333333}");
    json_t *doc = stored_doc("experiments", "rt-analysis");
    assert_true(num_at(doc, "mde") == 0.033333333333333333);
    assert_true(num_at(doc, "sequential_tuning") == 1234.5678901234567);
    assert_true(num_at(doc, "analysis.alpha") == 0.033333333333333333);
    json_decref(doc);

    /* a metric's cap: used by a stopped experiment (frozen) and by a running one */
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"rt-cap-frozen\",\"event\":\"buy\",\"type\":\"sum\",\"cap\":"
            "123.45678901234567}",
            201);
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"rt-cap-live\",\"event\":\"buy\",\"type\":\"sum\",\"cap\":"
            "123.45678901234567}",
            201);
    new_draft("rt-cap-a", VARS ",\"metrics\":[\"rt-cap-frozen\"]");
    act("rt-cap-a", "start", NULL, 200);
    act("rt-cap-a", "stop", NULL, 200);
    new_draft("rt-cap-b", VARS ",\"metrics\":[\"rt-cap-live\"]");
    act("rt-cap-b", "start", NULL, 200);
    patch_back("/api/v1/metrics/rt-cap-frozen", 200);
    patch_back("/api/v1/metrics/rt-cap-live", 200);
    double before, after;
    audited_caps("rt-cap-live", &before, &after);
    assert_true(before == after); /* no change: no rebuild */
    assert_true(after == 123.45678901234567);
    call_err("PATCH", "/api/v1/metrics/rt-cap-frozen", "{\"cap\":100}", 409, "cap");
    patch_back_digits("/api/v1/metrics/rt-cap-live", 15, 200);
    assert_true(stored_num("metrics", "rt-cap-live", "cap") == 123.456789012346);
}

/* Definitions stored with 17 digits into a database (as versions before the s23 rounding
 * did, and as every version since s24 does): shown exactly, their GET body sent back is no
 * change (no 409, no rebuild), and what is evaluated stays the stored number, on the server
 * and in the SDK payload alike. */
static void test_reals_stored_unrounded(void **state)
{
    (void)state;
    json_t *k = call("POST", "/api/v1/keys", "{\"name\":\"old-sdk\",\"role\":\"sdk\"}", 201);
    char sdk[128];
    snprintf(sdk, sizeof(sdk), "%s", str(k, "key"));
    json_decref(k);
    /* written with numbers of a few digits, then given 17 in the database */
    new_draft("old-target", VARS ",\"targeting\":{\"score\":{\"$gt\":0.0625}}");
    act("old-target", "start", NULL, 200);
    new_draft("old-ns", VARS ",\"namespace\":{\"name\":\"old-ns\",\"range\":[0,0.4375]}");
    act("old-ns", "start", NULL, 200);
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"old-cap-frozen\",\"event\":\"buy\",\"type\":\"sum\",\"cap\":77.125}", 201);
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"old-cap-live\",\"event\":\"buy\",\"type\":\"sum\",\"cap\":77.125}", 201);
    new_draft("old-cap-a", VARS ",\"metrics\":[\"old-cap-frozen\"]");
    act("old-cap-a", "start", NULL, 200);
    act("old-cap-a", "stop", NULL, 200);
    new_draft("old-cap-b", VARS ",\"metrics\":[\"old-cap-live\"]");
    act("old-cap-b", "start", NULL, 200);
    assert_int_equal(daemon_stop(&D), 0);
    daemon_db_exec(&D,
                   "UPDATE experiments SET doc = replace(replace(doc, '0.0625', "
                   "'0.12345678901234567'), '0.4375', '0.33333333333333331') WHERE key IN "
                   "('old-target', 'old-ns')",
                   0);
    daemon_db_exec(&D,
                   "UPDATE metrics SET doc = replace(doc, '77.125', '123.45678901234567') WHERE "
                   "key IN ('old-cap-frozen', 'old-cap-live')",
                   0);
    assert_int_equal(daemon_restart(&D, NULL), 0);

    json_t *g = call("GET", "/api/v1/experiments/old-target", NULL, 200);
    assert_true(num_at(g, "targeting.score.$gt") == 0.12345678901234567); /* shown exactly */
    json_decref(g);
    patch_back("/api/v1/experiments/old-target", 200);
    assert_true(stored_num("experiments", "old-target", "targeting.score.$gt") ==
                0.12345678901234567);
    /* evaluated as stored, by the server and the SDK */
    assert_string_not_equal(reason_of("old-target", "0.1234567890123458"), "not_targeted");
    assert_true(payload_threshold(sdk, "old-target") == 0.12345678901234567);
    patch_back("/api/v1/experiments/old-ns", 200);
    assert_true(stored_num("experiments", "old-ns", "namespace.range.1") == 0.33333333333333331);

    patch_back("/api/v1/metrics/old-cap-frozen", 200);
    patch_back("/api/v1/metrics/old-cap-live", 200);
    double before, after;
    audited_caps("old-cap-live", &before, &after);
    assert_true(before == 123.45678901234567);
    assert_true(after == 123.45678901234567);
    assert_true(stored_num("metrics", "old-cap-frozen", "cap") == 123.45678901234567);
    /* a change written now is kept as sent */
    call_ok("PATCH", "/api/v1/metrics/old-cap-live", "{\"cap\":0.12345678901234567}", 200);
    assert_true(stored_num("metrics", "old-cap-live", "cap") == 0.12345678901234567);
}

static void test_roles(void **state)
{
    (void)state;
    char viewer[64], sdk[64], editor[64];
    harness_key(&D, "viewer", viewer, sizeof(viewer), NULL, 0);
    harness_key(&D, "sdk", sdk, sizeof(sdk), NULL, 0);
    harness_key(&D, "editor", editor, sizeof(editor), NULL, 0);
    const char *body = "{\"key\":\"by-role\"," VARS "}";
    /* viewer: reads only */
    json_decref(call_as(viewer, "POST", "/api/v1/experiments", body, 403));
    json_decref(call_as(viewer, "GET", "/api/v1/experiments", NULL, 200));
    json_decref(call_as(viewer, "GET", "/api/v1/metrics", NULL, 200));
    json_decref(call_as(viewer, "POST", "/api/v1/metrics",
                        "{\"key\":\"vm\",\"event\":\"e\",\"type\":\"count\"}", 403));
    json_decref(call_as(viewer, "POST", "/api/v1/assign", "{\"user_id\":\"u\"}", 403));
    /* editor: writes */
    json_decref(call_as(editor, "POST", "/api/v1/experiments", body, 201));
    json_decref(call_as(editor, "POST", "/api/v1/experiments/by-role/start", NULL, 200));
    json_decref(call_as(viewer, "POST", "/api/v1/experiments/by-role/pause", NULL, 403));
    json_decref(call_as(viewer, "PATCH", "/api/v1/experiments/by-role", "{\"name\":\"x\"}", 403));
    json_decref(call_as(viewer, "DELETE", "/api/v1/experiments/by-role", NULL, 403));
    json_decref(call_as(viewer, "GET", "/api/v1/experiments/by-role", NULL, 200));
    /* sdk: assignment only */
    json_decref(call_as(sdk, "GET", "/api/v1/experiments", NULL, 403));
    json_decref(call_as(sdk, "GET", "/api/v1/experiments/by-role", NULL, 403));
    json_decref(call_as(sdk, "GET", "/api/v1/metrics", NULL, 403));
    json_decref(call_as(sdk, "POST", "/api/v1/experiments", body, 403));
    json_t *a = call_as(sdk, "POST", "/api/v1/assign",
                        "{\"user_id\":\"u-1\",\"experiments\":[\"by-role\"]}", 200);
    assert_non_null(json_object_get(json_object_get(a, "assignments"), "by-role"));
    json_decref(a);
    json_decref(call_as(sdk, "GET", "/api/v1/experiments/by-role/assign?user_id=u-1", NULL, 200));
    /* no key */
    json_decref(call_as(NULL, "GET", "/api/v1/experiments", NULL, 401));
    json_decref(call_as(NULL, "POST", "/api/v1/assign", "{\"user_id\":\"u\"}", 401));
    /* the audit entry names the editor */
    a = call("GET", "/api/v1/audit?target_type=experiment&target=by-role", NULL, 200);
    assert_int_equal(
        strncmp(str(json_object_get(audit_entry(json_object_get(a, "entries"), "experiment.create"),
                                    "actor"),
                    "name"),
                "t-editor-", 9),
        0);
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_crud),
        cmocka_unit_test(test_experiments_crud),
        cmocka_unit_test(test_patch_rules),
        cmocka_unit_test(test_delete_rules),
        cmocka_unit_test(test_lifecycle_table),
        cmocka_unit_test(test_stop_release),
        cmocka_unit_test(test_audit),
        cmocka_unit_test(test_stop_conclusion),
        cmocka_unit_test(test_stop_winner),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_unknown_operator),
        cmocka_unit_test(test_round_trip_running),
        cmocka_unit_test(test_reals_kept_as_sent),
        cmocka_unit_test(test_reals_stored_unrounded),
        cmocka_unit_test(test_coverage_lowered),
        cmocka_unit_test(test_namespace_overlap),
        cmocka_unit_test(test_invalid_regex),
        cmocka_unit_test(test_operand_shapes),
    };
    return cmocka_run_group_tests_name("api_experiments", tests, setup, teardown);
}
