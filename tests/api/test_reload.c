/*
 * API tests for the snapshot reload after a definition change, which parses again only the
 * experiments whose stored text changed and takes the others from the snapshot before
 * (experiments.c "snapshot reload"): whatever an unchanged experiment's answers depend on
 * beyond its own text must still follow every change.
 * - test_metric_edit: a metric's event edited; an experiment using it, itself unchanged,
 *   attributes the new event and no longer the old one (its rules are built again).
 * - test_group_edit: a saved group's values edited; an unchanged experiment that targets it
 *   answers for the new values in /assign, OFREP and remote evaluation, with another
 *   experiment changed in between (the groups are the snapshot's, not the entry's).
 * - test_changed_underneath: an experiment's stored text changed by another process (not this
 *   daemon's write), then SIGHUP: the new text is read, not the kept entry.
 * - test_delete_archive: a deleted draft is gone, an archived experiment serves nothing and
 *   leaves the payload, the others unchanged around them keep answering.
 * One daemon for every test.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct daemon D;
static char SDK[64];

#define VARS "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]"

static json_t *call_as(const char *key, const char *method, const char *path, const char *body,
                       int want)
{
    return harness_call(D.port, method, path, key, body, want);
}

static void ok(const char *method, const char *path, const char *body, int want)
{
    json_decref(call_as(D.admin_key, method, path, body, want));
}

static int setup(void **state)
{
    (void)state;
    if (harness_start_with_key(&D, NULL, SDK, sizeof(SDK)) != 0) {
        return -1;
    }
    /* neighbours: every reload below takes them from the snapshot before */
    for (int i = 0; i < 20; i++) {
        ok("POST", "/api/v1/experiments",
           fmt("{\"key\":\"rl-n%02d\"," VARS ",\"targeting\":{\"n\":{\"$gt\":%d}}}", i, i), 201);
        ok("POST", fmt("/api/v1/experiments/rl-n%02d/start", i), NULL, 200);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

/* A change of another experiment: a reload that keeps the one under test as it was. */
static void touch_neighbour(int k)
{
    ok("PATCH", fmt("/api/v1/experiments/rl-n%02d", k % 20), fmt("{\"name\":\"touched %d\"}", k),
       200);
}

/* The reason /assign gives user (attributes: JSON text) in experiment key; "" when key is
 * unknown. */
static char *reason_of(const char *key, const char *user, const char *attrs)
{
    json_t *a = call_as(D.admin_key, "POST", "/api/v1/assign",
                        fmt("{\"user_id\":\"%s\",\"attributes\":%s,\"experiments\":[\"%s\"],"
                            "\"log_exposure\":false}",
                            user, attrs, key),
                        200);
    const json_t *x = json_object_get(json_object_get(a, "assignments"), key);
    char *v = strdup(x ? json_string_value(json_object_get(x, "reason")) : "");
    json_decref(a);
    return v;
}

static void expect_reason(const char *key, const char *user, const char *attrs, const char *want)
{
    char *got = reason_of(key, user, attrs);
    if (strcmp(got, want) != 0) {
        fail_msg("%s for %s %s: %s, expected %s", key, user, attrs, got, want);
    }
    free(got);
}

/* The sum of metric `metric` over the variants of experiment key's results. */
static double metric_sum(const char *key, const char *metric)
{
    json_t *r = call_as(D.admin_key, "GET", fmt("/api/v1/experiments/%s/results", key), NULL, 200);
    double sum = -1;
    const json_t *ms = json_object_get(r, "metrics");
    for (size_t i = 0; i < json_array_size(ms); i++) {
        const json_t *m = json_array_get(ms, i);
        const char *k = json_string_value(json_object_get(m, "key"));
        if (k == NULL || strcmp(k, metric) != 0) {
            continue;
        }
        sum = 0;
        const json_t *vs = json_object_get(m, "variants");
        for (size_t v = 0; v < json_array_size(vs); v++) {
            sum += json_number_value(json_object_get(json_array_get(vs, v), "sum"));
        }
    }
    json_decref(r);
    return sum;
}

static bool rebuilding(const char *key)
{
    json_t *r = call_as(D.admin_key, "GET", fmt("/api/v1/experiments/%s/results", key), NULL, 200);
    bool b = json_object_get(r, "rebuilding") != NULL;
    json_decref(r);
    return b;
}

static void test_metric_edit(void **state)
{
    (void)state;
    ok("POST", "/api/v1/metrics", "{\"key\":\"rl-m\",\"event\":\"rl-old\",\"type\":\"count\"}",
       201);
    ok("POST", "/api/v1/experiments", "{\"key\":\"rl-mx\"," VARS ",\"metrics\":[\"rl-m\"]}", 201);
    ok("POST", "/api/v1/experiments/rl-mx/start", NULL, 200);
    long long now = (long long)time(NULL) * 1000;
    json_decref(call_as(SDK, "POST", "/api/v1/exposures",
                        fmt("{\"exposures\":[{\"experiment\":\"rl-mx\",\"user_id\":\"mu1\","
                            "\"variant\":\"a\",\"ts\":%lld}]}",
                            now - 60000),
                        200));
    touch_neighbour(1);
    json_decref(call_as(
        SDK, "POST", "/api/v1/events",
        fmt("{\"events\":[{\"user_id\":\"mu1\",\"event\":\"rl-old\",\"ts\":%lld}]}", now - 30000),
        200));
    assert_true(metric_sum("rl-mx", "rl-m") == 1);
    /* the metric now counts another event: rl-mx's stored text is the same */
    ok("PATCH", "/api/v1/metrics/rl-m", "{\"event\":\"rl-new\"}", 200);
    for (int i = 0; i < 600 && rebuilding("rl-mx"); i++) {
        sleep_ms(50);
    }
    assert_false(rebuilding("rl-mx"));
    touch_neighbour(2);
    json_decref(call_as(SDK, "POST", "/api/v1/events",
                        fmt("{\"events\":[{\"user_id\":\"mu1\",\"event\":\"rl-new\",\"ts\":%lld},"
                            "{\"user_id\":\"mu1\",\"event\":\"rl-new\",\"ts\":%lld},"
                            "{\"user_id\":\"mu1\",\"event\":\"rl-old\",\"ts\":%lld}]}",
                            now - 20000, now - 10000, now - 5000),
                        200));
    /* the rebuild recounted rl-new (none then); the two sent after it count, rl-old no more */
    double sum = metric_sum("rl-mx", "rl-m");
    if (sum != 2) {
        fail_msg("rl-mx counts %g events of rl-m, expected the 2 rl-new sent after the edit", sum);
    }
}

static void test_group_edit(void **state)
{
    (void)state;
    ok("POST", "/api/v1/saved-groups",
       "{\"key\":\"rl-g\",\"attribute\":\"id\",\"values\":[\"g1\"]}", 201);
    ok("POST", "/api/v1/experiments",
       "{\"key\":\"rl-gx\"," VARS ",\"targeting\":{\"id\":{\"$inGroup\":\"rl-g\"}}}", 201);
    ok("POST", "/api/v1/experiments/rl-gx/start", NULL, 200);
    touch_neighbour(3);
    expect_reason("rl-gx", "g1", "{}", "hashed");
    expect_reason("rl-gx", "g2", "{}", "not_targeted");
    ok("PATCH", "/api/v1/saved-groups/rl-g", "{\"values\":[\"g2\"]}", 200);
    expect_reason("rl-gx", "g1", "{}", "not_targeted");
    expect_reason("rl-gx", "g2", "{}", "hashed");
    touch_neighbour(4); /* a reload without a group change keeps the new values */
    expect_reason("rl-gx", "g2", "{}", "hashed");
    expect_reason("rl-gx", "g1", "{}", "not_targeted");
    /* OFREP and remote evaluation read the same groups */
    json_t *o = call_as(SDK, "POST", "/ofrep/v1/evaluate/flags/rl-gx",
                        "{\"context\":{\"targetingKey\":\"g2\"}}", 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "metadata"), "assignment_reason")),
        "hashed");
    json_decref(o);
    o = call_as(SDK, "POST", "/ofrep/v1/evaluate/flags/rl-gx",
                "{\"context\":{\"targetingKey\":\"g1\"}}", 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "metadata"), "assignment_reason")),
        "not_targeted");
    json_decref(o);
    /* the group deleted after the experiment stops: a reload without it */
    ok("POST", "/api/v1/experiments/rl-gx/stop", NULL, 200);
    ok("DELETE", "/api/v1/saved-groups/rl-g", NULL, 200);
    touch_neighbour(5);
    expect_reason("rl-gx", "g2", "{}", "not_running");
}

struct doc_ctx {
    char *doc;
};

static void first_doc(void *ctx, const char *const *cols, int ncols)
{
    struct doc_ctx *dc = ctx;
    if (ncols > 0 && dc->doc == NULL) {
        dc->doc = strdup(cols[0]);
    }
}

/* s with the first `from` replaced by `to` (malloc'd); fails when s lacks from. */
static char *replace_once(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    if (p == NULL) {
        fail_msg("'%s' not in %s", from, s);
    }
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
    return out;
}

static void test_changed_underneath(void **state)
{
    (void)state;
    ok("POST", "/api/v1/experiments", "{\"key\":\"rl-ux\"," VARS "}", 201);
    ok("POST", "/api/v1/experiments/rl-ux/start", NULL, 200);
    touch_neighbour(6);
    expect_reason("rl-ux", "qa", "{}", "hashed");
    /* another process forces qa into b, writing the stored text only (no catalogue bump) */
    struct doc_ctx dc = {NULL};
    daemon_db_rows(&D, "SELECT doc FROM experiments WHERE key = 'rl-ux'", first_doc, &dc);
    assert_non_null(dc.doc);
    char *doc = replace_once(dc.doc, "\"forced\":{}", "\"forced\":{\"qa\":\"b\"}");
    daemon_db_exec(&D, "UPDATE experiments SET doc = ?1 WHERE key = 'rl-ux'", 1, doc);
    free(doc);
    free(dc.doc);
    expect_reason("rl-ux", "qa", "{}", "hashed"); /* nothing told the daemon yet */
    /* SIGHUP reloads the catalogue: the changed text is read again */
    assert_int_equal(kill(D.pid, SIGHUP), 0);
    char *got = NULL;
    for (int i = 0; i < 100; i++) {
        free(got);
        got = reason_of("rl-ux", "qa", "{}");
        if (strcmp(got, "forced") == 0) {
            break;
        }
        sleep_ms(50);
    }
    assert_string_equal(got, "forced");
    free(got);
    expect_reason("rl-n00", "qa", "{\"n\":5}", "hashed"); /* the kept ones still answer */
}

static void test_delete_archive(void **state)
{
    (void)state;
    ok("POST", "/api/v1/experiments", "{\"key\":\"rl-dx\"," VARS ",\"forced\":{\"qa\":\"b\"}}",
       201);
    ok("POST", "/api/v1/experiments", "{\"key\":\"rl-ax\"," VARS ",\"forced\":{\"qa\":\"b\"}}",
       201);
    ok("POST", "/api/v1/experiments/rl-ax/start", NULL, 200);
    touch_neighbour(7);
    expect_reason("rl-dx", "qa", "{}", "forced");
    expect_reason("rl-ax", "qa", "{}", "forced");
    ok("DELETE", "/api/v1/experiments/rl-dx", NULL, 200);
    expect_reason("rl-dx", "qa", "{}", "");
    ok("POST", "/api/v1/experiments/rl-ax/stop", NULL, 200);
    ok("POST", "/api/v1/experiments/rl-ax/archive", NULL, 200);
    touch_neighbour(8);
    expect_reason("rl-ax", "qa", "{}", "not_running");
    expect_reason("rl-dx", "qa", "{}", "");
    json_t *p = call_as(SDK, "GET", fmt("/api/features/%s", SDK), NULL, 200);
    const json_t *f = json_object_get(p, "features");
    assert_null(json_object_get(f, "rl-ax"));
    assert_null(json_object_get(f, "rl-dx"));
    assert_non_null(json_object_get(f, "rl-n08"));
    json_decref(p);
    /* a deleted key created again is a new experiment, not the old entry */
    ok("POST", "/api/v1/experiments", "{\"key\":\"rl-dx\"," VARS "}", 201);
    expect_reason("rl-dx", "qa", "{}", "not_running");
    for (int i = 0; i < 20; i++) {
        char key[32], above[32], at[32]; /* fmt's buffer is reused by the calls */
        snprintf(key, sizeof(key), "rl-n%02d", i);
        snprintf(above, sizeof(above), "{\"n\":%d}", i + 1);
        snprintf(at, sizeof(at), "{\"n\":%d}", i);
        expect_reason(key, "qa", above, "hashed");
        expect_reason(key, "qa", at, "not_targeted");
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_edit),
        cmocka_unit_test(test_group_edit),
        cmocka_unit_test(test_changed_underneath),
        cmocka_unit_test(test_delete_archive),
    };
    return cmocka_run_group_tests_name("api_reload", tests, setup, teardown);
}
