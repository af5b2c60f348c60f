/*
 * Results are one consistent state of the database (store.h "A consistent read"): while
 * exposures and events are ingested, every results document (and every slice of a
 * dimension breakdown) agrees with itself: each metric's users per variant are the exposed
 * users the document reports at its top (or the slice's), and the sample-ratio check counts
 * the same users. Read one after the other, a document showed [0, 0] users at its top and
 * [25, 25] in the metrics below (a review found 507 of 1,240 documents so).
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCHES 150
#define PER     10 /* users per batch, half in each variant */

static struct daemon D;
static char SDK[64];
static atomic_bool done;
static atomic_int acked;

static void call_ok(const char *method, const char *path, const char *body, int want)
{
    struct resp r;
    assert_int_equal(http_req(D.port, method, path, D.admin_key, body, &r), 0);
    if (r.status != want) {
        fprintf(stderr, "# %s %s: %d %s\n", method, path, r.status, r.body ? r.body : "");
    }
    assert_int_equal(r.status, want);
    resp_free(&r);
}

/* Batches of new users: exposures (half per variant, a plan attribute) and a purchase each. */
static void *ingest_main(void *arg)
{
    (void)arg;
    long long now = (long long)time(NULL) * 1000 - 60000;
    size_t cap = PER * 220 + 64;
    char *ex = malloc(cap), *ev = malloc(cap);
    for (int b = 0; b < BATCHES; b++) {
        size_t ne = (size_t)snprintf(ex, cap, "{\"exposures\":["),
               nv = (size_t)snprintf(ev, cap, "{\"events\":[");
        for (int i = 0; i < PER; i++) {
            int u = b * PER + i;
            ne += (size_t)snprintf(ex + ne, cap - ne,
                                   "%s{\"experiment\":\"snap\",\"user_id\":\"s%d\",\"variant\":"
                                   "\"%s\",\"ts\":%lld,\"attributes\":{\"plan\":\"p%d\"}}",
                                   i ? "," : "", u, i % 2 ? "b" : "a", now, u % 3);
            nv += (size_t)snprintf(ev + nv, cap - nv,
                                   "%s{\"user_id\":\"s%d\",\"event\":\"snap_buy\",\"value\":2,"
                                   "\"ts\":%lld}",
                                   i ? "," : "", u, now + 1000);
        }
        snprintf(ex + ne, cap - ne, "]}");
        snprintf(ev + nv, cap - nv, "]}");
        struct resp r;
        if (http_req(D.port, "POST", "/api/v1/exposures", SDK, ex, &r) == 0) {
            atomic_fetch_add(&acked, r.status == 200);
            resp_free(&r);
        }
        if (http_req(D.port, "POST", "/api/v1/events", SDK, ev, &r) == 0) {
            resp_free(&r);
        }
    }
    free(ex);
    free(ev);
    atomic_store(&done, true);
    return NULL;
}

static long long users_of(const json_t *variants, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(variants, i), "users"));
}

/* 0 when every metric of doc (a results document or a slice) counts the users its top does;
 * else 1, with the first difference printed. */
static int inconsistent(const json_t *doc, const char *what)
{
    const json_t *top = json_object_get(doc, "variants");
    if (json_array_size(top) != 2) {
        fprintf(stderr, "# %s: %zu variants\n", what, json_array_size(top));
        return 1;
    }
    const json_t *srm = json_object_get(json_object_get(doc, "srm"), "observed");
    for (size_t v = 0; v < 2 && srm != NULL; v++) {
        if (json_integer_value(json_array_get(srm, v)) != users_of(top, v)) {
            fprintf(stderr, "# %s: srm.observed[%zu] %lld, variants %lld\n", what, v,
                    (long long)json_integer_value(json_array_get(srm, v)), users_of(top, v));
            return 1;
        }
    }
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(doc, "metrics"), i, m)
    {
        const json_t *mv = json_object_get(m, "variants");
        for (size_t v = 0; v < 2; v++) {
            if (users_of(mv, v) != users_of(top, v)) {
                fprintf(stderr, "# %s: metric %s variant %zu has %lld users, the top %lld\n", what,
                        json_string_value(json_object_get(m, "key")), v, users_of(mv, v),
                        users_of(top, v));
                return 1;
            }
        }
    }
    return 0;
}

static void test_results_one_state(void **state)
{
    (void)state;
    assert_int_equal(harness_start_with_key(&D, NULL, SDK, sizeof(SDK)), 0);
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"snap_conv\",\"event\":\"snap_buy\",\"type\":\"binomial\"}", 201);
    call_ok("POST", "/api/v1/metrics",
            "{\"key\":\"snap_rev\",\"event\":\"snap_buy\",\"type\":\"sum\"}", 201);
    call_ok("POST", "/api/v1/experiments",
            "{\"key\":\"snap\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
            "\"metrics\":[\"snap_conv\",\"snap_rev\"],\"dimensions\":[\"plan\"]}",
            201);
    call_ok("POST", "/api/v1/experiments/snap/start", NULL, 200);

    int st = 0;
    json_t *j = NULL;
    atomic_store(&done, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, ingest_main, NULL), 0);
    int docs = 0, slices = 0, bad = 0, failed = 0;
    for (int k = 0; !atomic_load(&done) || k < 2; k++) {
        bool breakdown = k % 2 == 1;
        const char *path = breakdown ? "/api/v1/experiments/snap/results?dimension=plan"
                                     : "/api/v1/experiments/snap/results?cuped=false";
        j = http_json(D.port, "GET", path, D.admin_key, NULL, &st);
        if (st != 200 || j == NULL) {
            failed++;
        } else if (!breakdown) {
            docs++;
            bad += inconsistent(j, "results");
        } else {
            size_t i;
            const json_t *s;
            json_array_foreach(json_object_get(j, "slices"), i, s)
            {
                slices++;
                bad += inconsistent(s, json_string_value(json_object_get(s, "dimension_value")));
            }
        }
        json_decref(j);
    }
    pthread_join(th, NULL);
    /* the last documents, read after the ingestion, count every user */
    j = http_json(D.port, "GET", "/api/v1/experiments/snap/results", D.admin_key, NULL, &st);
    long long users =
        users_of(json_object_get(j, "variants"), 0) + users_of(json_object_get(j, "variants"), 1);
    json_decref(j);
    fprintf(stderr,
            "# %d documents and %d slices read during ingestion: %d inconsistent, %d failed; "
            "%d of %d batches acknowledged, %lld users at the end\n",
            docs, slices, bad, failed, atomic_load(&acked), BATCHES, users);
    daemon_cleanup(&D);
    assert_int_equal(failed, 0);
    assert_int_equal(bad, 0);
    assert_true(docs >= 5);
    assert_int_equal(atomic_load(&acked), BATCHES);
    assert_int_equal(users, BATCHES * PER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_one_state),
    };
    return cmocka_run_group_tests_name("api_results_snapshot", tests, NULL, NULL);
}
