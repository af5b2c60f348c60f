/*
 * Isolation (issue 12): no hostile request or long reader can stall everyone else.
 *
 * Each attack measured before the fix gets a test against the real daemon:
 * - a targeting list of 7,000 ids and an /assign (and OFREP) with an 80,000-element
 *   attribute array (770 KB; also on remote evaluation): refused with 413 naming the field;
 *   an in-cap 1,000-element array answers 200 ($in is a hash set);
 * - six connections sending 300-element bodies in a loop while a normal client's /assign
 *   answers 200 throughout;
 * - ^(a+)+$ inside $elemMatch against 300 long elements: 400 (evaluation budget), normal
 *   /assign answers 200 beside it; remote evaluation takes the same budget;
 * - editors' PATCHes and /events writes while heavy assignment traffic reads the
 *   snapshot: all answered;
 * - attribute caps (array, string, depth, total size) with the offending field named;
 * - rate limits: 3,600 sdk keys, every one of them limited; per-IP on public routes; per
 *   sdk key on the features payload;
 * - slow results reads beside /assign on one MHD thread: test_isolation_slow.c.
 * The tests check statuses, never milliseconds (docs/TESTING.md): the latencies the issue set
 * bounds on (100 ms per attack request, 10 ms normal p99) are printed when
 * BUNSEN_BENCH_LATENCY=1, by bench/isolation.sh, and not asserted.
 */
#include "calls.h"
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct daemon D;
static char sdk[64];

/* Latencies: printed for bench/isolation.sh (BUNSEN_BENCH_LATENCY=1), never asserted. */
#define bench_print(...)                                                                           \
    do {                                                                                           \
        if (harness_bench_latency()) {                                                             \
            print_message(__VA_ARGS__);                                                            \
        }                                                                                          \
    } while (0)

#define VARS "\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]"

/* One request on its own connection, without half-closing it after the request (the
 * harness's http_req shuts down its write side, which MHD may take as an abort while the
 * request is suspended on the writer: such clients are rare, and under load that races).
 * Returns the status (or -1) and, when field is not NULL, the error's field. */
static int req_json(const char *method, const char *path, const char *key, const char *body,
                    double *ms, char *field, size_t fn, json_t **out)
{
    double t0 = harness_clock_ms();
    /* the server may answer (413) and close before we finish sending: read what came back */
    int fd = harness_send_req(D.port, method, path, key ? key : "", body, true);
    if (fd < 0) {
        return -1;
    }
    json_t *j = NULL;
    int status = harness_recv_reply(fd, field != NULL || out != NULL ? &j : NULL);
    if (ms != NULL) {
        *ms = harness_clock_ms() - t0;
    }
    if (field != NULL) {
        const char *f = json_string_value(json_object_get(json_object_get(j, "error"), "field"));
        snprintf(field, fn, "%s", f ? f : "");
    }
    if (out != NULL) {
        *out = j;
    } else {
        json_decref(j);
    }
    return status;
}

static int req_full(const char *method, const char *path, const char *key, const char *body,
                    double *ms, char *field, size_t fn)
{
    return req_json(method, path, key, body, ms, field, fn, NULL);
}

/* n ids first.. as a JSON array (malloc'd): strings "<prefix><i>", or numbers when prefix is
 * NULL (a 7,000-id list of numbers fits the 64 KiB targeting cap). */
static char *id_array(const char *prefix, int n, int first)
{
    size_t cap = (size_t)n * 24 + 16;
    char *s = malloc(cap);
    size_t o = 0;
    s[o++] = '[';
    for (int i = 0; i < n; i++) {
        if (prefix == NULL) {
            o += (size_t)snprintf(s + o, cap - o, "%s%d", i ? "," : "", first + i);
        } else {
            o += (size_t)snprintf(s + o, cap - o, "%s\"%s%d\"", i ? "," : "", prefix, first + i);
        }
    }
    s[o++] = ']';
    s[o] = '\0';
    return s;
}

/* n copies of JSON string text (with quotes) as an array (malloc'd). */
static char *repeat_array(const char *elem, int n)
{
    size_t cap = (size_t)n * (strlen(elem) + 1) + 4;
    char *s = malloc(cap);
    size_t o = 0;
    s[o++] = '[';
    for (int i = 0; i < n; i++) {
        o += (size_t)snprintf(s + o, cap - o, "%s%s", i ? "," : "", elem);
    }
    s[o++] = ']';
    s[o] = '\0';
    return s;
}

static int setup(void **state)
{
    (void)state;
    if (harness_start_with_key(&D, NULL, sdk, sizeof(sdk)) != 0) {
        return -1;
    }
    calls_use(&D);
    json_decref(call("POST", "/api/v1/metrics",
                     "{\"key\":\"rev\",\"event\":\"purchase\",\"type\":\"sum\"}", 201));
    char *ids = id_array(NULL, 7000, 100000);
    size_t n = strlen(ids) + 256;
    char *body = malloc(n);
    snprintf(body, n, "{\"key\":\"t-in\"," VARS ",\"targeting\":{\"g\":{\"$in\":%s}}}", ids);
    json_decref(call("POST", "/api/v1/experiments", body, 201));
    json_decref(call("POST", "/api/v1/experiments/t-in/start", NULL, 200));
    free(body);
    free(ids);
    json_decref(call("POST", "/api/v1/experiments",
                     "{\"key\":\"t-re\"," VARS
                     ",\"targeting\":{\"tags\":{\"$elemMatch\":{\"$regex\":\"^(a+)+$\"}}}}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/t-re/start", NULL, 200));
    json_decref(call("POST", "/api/v1/experiments",
                     "{\"key\":\"t-plain\"," VARS ",\"metrics\":[\"rev\"]}", 201));
    json_decref(call("POST", "/api/v1/experiments/t-plain/start", NULL, 200));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

/* POST body to path with the sdk key; returns the status, *ms the wall time. */
static int timed_post(const char *path, const char *body, double *ms, char *field, size_t fn)
{
    return req_full("POST", path, sdk, body, ms, field, fn);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* n normal /assign calls (one user, a couple of attributes, every experiment), each 200;
 * their p50/p99 printed for the bench. */
static void normal_assigns(int n)
{
    double *ms = calloc((size_t)n, sizeof(*ms));
    for (int i = 0; i < n; i++) {
        int st = timed_post("/api/v1/assign",
                            fmt("{\"user_id\":\"n-%d\",\"attributes\":{\"country\":\"NL\","
                                "\"g\":%d},\"log_exposure\":false}",
                                i, 100000 + i),
                            &ms[i], NULL, 0);
        assert_int_equal(st, 200);
    }
    qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
    double p99 = ms[(n * 99) / 100 - (n >= 100 ? 1 : 0)];
    bench_print("# normal /assign: p50 %.2f ms, p99 %.2f ms, max %.2f ms (n=%d)\n", ms[n / 2], p99,
                ms[n - 1], n);
    free(ms);
}

/* ---- attackers: threads that send one body in a loop until stopped ---- */

struct attacker {
    pthread_t th;
    const char *path;
    const char *body;
    atomic_bool *stop;
    long sent;
    double max_ms;
    int bad_status; /* first status not in {want} */
    int want;
};

static void *attack_main(void *arg)
{
    struct attacker *a = arg;
    while (!atomic_load(a->stop)) {
        double ms = 0;
        int st = timed_post(a->path, a->body, &ms, NULL, 0);
        if (st != a->want && a->bad_status == 0) {
            a->bad_status = st;
        }
        if (ms > a->max_ms) {
            a->max_ms = ms;
        }
        a->sent++;
    }
    return NULL;
}

static void attack_start(struct attacker *a, int n, const char *path, const char *body, int want,
                         atomic_bool *stop)
{
    atomic_store(stop, false);
    for (int i = 0; i < n; i++) {
        memset(&a[i], 0, sizeof(a[i]));
        a[i].path = path;
        a[i].body = body;
        a[i].stop = stop;
        a[i].want = want;
        assert_int_equal(pthread_create(&a[i].th, NULL, attack_main, &a[i]), 0);
    }
}

static void attack_stop(struct attacker *a, int n, atomic_bool *stop, const char *what)
{
    atomic_store(stop, true);
    double max = 0;
    long sent = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(a[i].th, NULL);
        if (a[i].bad_status != 0) {
            fail_msg("%s: an attack request answered %d, expected %d", what, a[i].bad_status,
                     a[i].want);
        }
        max = a[i].max_ms > max ? a[i].max_ms : max;
        sent += a[i].sent;
    }
    bench_print("# %s: %ld attack requests, slowest %.1f ms\n", what, sent, max);
}

/* ---- tests ---- */

static void test_huge_in_array(void **state)
{
    (void)state;
    char *g = id_array("x-", 80000, 0); /* ~770 KB of strings */
    size_t n = strlen(g) + 128;
    char *body = malloc(n);
    char field[64];
    double ms;
    snprintf(body, n, "{\"user_id\":\"u1\",\"attributes\":{\"g\":%s}}", g);
    assert_int_equal(timed_post("/api/v1/assign", body, &ms, field, sizeof(field)), 413);
    assert_string_equal(field, "attributes");
    bench_print("# 80,000-element attribute vs 7,000-id $in, /assign: 413 in %.1f ms\n", ms);
    snprintf(body, n, "{\"context\":{\"targetingKey\":\"u1\",\"g\":%s}}", g);
    /* OFREP has no 413: its 400 INVALID_CONTEXT (test_sdk_edges checks the body) */
    assert_int_equal(timed_post("/ofrep/v1/evaluate/flags", body, &ms, NULL, 0), 400);
    bench_print("# same on bulk OFREP: 400 in %.1f ms\n", ms);
    char eval_path[160];
    snprintf(eval_path, sizeof(eval_path), "/api/eval/%s", sdk);
    snprintf(body, n, "{\"attributes\":{\"id\":\"u1\",\"g\":%s}}", g);
    assert_int_equal(timed_post(eval_path, body, &ms, field, sizeof(field)), 413);
    assert_string_equal(field, "attributes");
    bench_print("# same on remote evaluation: 413 in %.1f ms\n", ms);
    free(g);
    /* an array over the element cap inside a body under the byte cap: 400 naming it */
    g = id_array(NULL, 5000, 0);
    snprintf(body, n, "{\"user_id\":\"u1\",\"attributes\":{\"g\":%s}}", g);
    assert_int_equal(timed_post("/api/v1/assign", body, &ms, field, sizeof(field)), 400);
    assert_string_equal(field, "attributes.g");
    bench_print("# 5,000-element attribute: 400 in %.1f ms\n", ms);
    snprintf(body, n, "{\"attributes\":{\"id\":\"u1\",\"g\":%s}}", g);
    assert_int_equal(timed_post(eval_path, body, &ms, field, sizeof(field)), 400);
    assert_string_equal(field, "attributes.g");
    free(g);
    /* within the caps: 1,000 elements, one of them in the list */
    g = id_array(NULL, 1000, 106500);
    snprintf(body, n, "{\"user_id\":\"u1\",\"attributes\":{\"g\":%s},\"experiments\":[\"t-in\"]}",
             g);
    assert_int_equal(timed_post("/api/v1/assign", body, &ms, NULL, 0), 200);
    bench_print("# 1,000-element attribute vs 7,000-id $in: 200 in %.1f ms\n", ms);
    free(g);
    free(body);
}

static void test_attribute_caps(void **state)
{
    (void)state;
    char field[64];
    double ms;
    /* string too long */
    char *big = malloc(5000);
    memset(big, 'a', 4999);
    big[4999] = '\0';
    char *b = malloc(6000);
    snprintf(b, 6000, "{\"user_id\":\"u\",\"attributes\":{\"ua\":\"%s\"}}", big);
    assert_int_equal(timed_post("/api/v1/assign", b, &ms, field, sizeof(field)), 400);
    assert_string_equal(field, "attributes.ua");
    /* GET form: the same cap on a query attribute */
    snprintf(b, 6000, "/api/v1/experiments/t-plain/assign?user_id=u&attr.ua=%s", big);
    assert_int_equal(req_full("GET", b, sdk, NULL, &ms, field, sizeof(field)), 400);
    assert_string_equal(field, "attr.ua");
    free(b);
    free(big);
    /* too deep */
    assert_int_equal(
        timed_post("/api/v1/assign",
                   "{\"user_id\":\"u\",\"attributes\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{"
                   "\"g\":{\"h\":{\"i\":1}}}}}}}}}}",
                   &ms, field, sizeof(field)),
        400);
    assert_string_equal(field, "attributes.a.b.c.d.e.f.g.h");
    /* array too long */
    char *arr = repeat_array("1", 1001);
    assert_int_equal(timed_post("/api/v1/assign",
                                fmt("{\"user_id\":\"u\",\"attributes\":{\"n\":%s}}", arr), &ms,
                                field, sizeof(field)),
                     400);
    assert_string_equal(field, "attributes.n");
    free(arr);
    /* total size: 20 strings of 4,000 bytes = 80 KB > 64 KiB -> 413 */
    char *s4k = malloc(4003);
    s4k[0] = '"';
    memset(s4k + 1, 'b', 4000);
    s4k[4001] = '"';
    s4k[4002] = '\0';
    char *many = repeat_array(s4k, 20);
    size_t n = strlen(many) + 64;
    char *body = malloc(n);
    snprintf(body, n, "{\"user_id\":\"u\",\"attributes\":{\"l\":%s}}", many);
    assert_int_equal(timed_post("/api/v1/assign", body, &ms, field, sizeof(field)), 413);
    assert_string_equal(field, "attributes");
    snprintf(body, n, "{\"context\":{\"targetingKey\":\"u\",\"l\":%s}}", many);
    assert_int_equal(timed_post("/ofrep/v1/evaluate/flags/t-plain", body, &ms, NULL, 0), 400);
    free(body);
    free(many);
    free(s4k);
}

/* Attackers beside a normal client: every normal /assign answers 200 (normal_assigns) and every
 * attack request its expected status (attack_stop); the latencies, alone and under attack, are
 * bench/isolation.sh's (the bounds: normal p99 < 10 ms, attack requests < 100 ms). */
static void attack_window(const char *what, int n, const char *body, int want)
{
    normal_assigns(300);
    atomic_bool stop;
    struct attacker a[8];
    attack_start(a, n, "/api/v1/assign", body, want, &stop);
    normal_assigns(300);
    attack_stop(a, n, &stop, what);
}

static void test_six_connections_300_elements(void **state)
{
    (void)state;
    char *g = id_array("x-", 300, 0);
    char *body = malloc(strlen(g) + 128);
    sprintf(body, "{\"user_id\":\"atk\",\"attributes\":{\"g\":%s},\"log_exposure\":false}", g);
    attack_window("six connections, 300-element bodies", 6, body, 200);
    free(body);
    free(g);
}

static void test_regex_in_elem_match(void **state)
{
    (void)state;
    char *tags = repeat_array("\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\"", 300);
    char *body = malloc(strlen(tags) + 128);
    sprintf(body, "{\"user_id\":\"atk\",\"attributes\":{\"tags\":%s},\"log_exposure\":false}",
            tags);
    char field[64];
    double ms;
    assert_int_equal(timed_post("/api/v1/assign", body, &ms, field, sizeof(field)), 400);
    assert_string_equal(field, "attributes");
    bench_print("# ^(a+)+$ in $elemMatch x 300: 400 (budget) in %.1f ms\n", ms);
    /* remote evaluation (GrowthBook remoteEval) takes the same budget */
    char eval_path[160];
    snprintf(eval_path, sizeof(eval_path), "/api/eval/%s", sdk);
    char *eb = malloc(strlen(tags) + 128);
    sprintf(eb, "{\"attributes\":{\"id\":\"atk\",\"tags\":%s}}", tags);
    assert_int_equal(timed_post(eval_path, eb, &ms, field, sizeof(field)), 400);
    assert_string_equal(field, "attributes");
    bench_print("# same on remote evaluation: 400 (budget) in %.1f ms\n", ms);
    free(eb);
    attack_window("regex attackers (two connections)", 2, body, 400);
    free(body);
    free(tags);
}

/* Editors and ingestion keep working while assignment traffic reads the snapshot: every PATCH
 * (each publishes a new snapshot) and every /events write answers 200 (before the fix one long
 * reader held both for seconds). Their medians and maxima are bench/isolation.sh's (the
 * issue's bound: median < 100 ms; a PATCH rebuilds the whole snapshot on the writer, here with
 * a 7,000-id targeting list). */
static void test_writes_beside_readers(void **state)
{
    (void)state;
    char *g = id_array("x-", 1000, 0);
    char *body = malloc(strlen(g) + 128);
    sprintf(body, "{\"user_id\":\"atk\",\"attributes\":{\"g\":%s},\"log_exposure\":false}", g);
    atomic_bool stop;
    struct attacker a[2];
    attack_start(a, 2, "/api/v1/assign", body, 200, &stop);
    double patch[20], event[20];
    for (int i = 0; i < 20; i++) {
        assert_int_equal(req_full("PATCH", "/api/v1/experiments/t-plain", D.admin_key,
                                  fmt("{\"description\":\"edit %d\"}", i), &patch[i], NULL, 0),
                         200);
        assert_int_equal(timed_post("/api/v1/events",
                                    fmt("{\"events\":[{\"user_id\":\"w-%d\",\"event\":"
                                        "\"purchase\",\"value\":1}]}",
                                        i),
                                    &event[i], NULL, 0),
                         200);
    }
    attack_stop(a, 2, &stop, "assignment readers during edits");
    qsort(patch, 20, sizeof(double), cmp_double);
    qsort(event, 20, sizeof(double), cmp_double);
    bench_print("# during heavy /assign: PATCH median %.1f ms, max %.1f ms; /events median "
                "%.1f ms, max %.1f ms\n",
                patch[10], patch[19], event[10], event[19]);
    free(body);
    free(g);
}

/* ---- rate limits (their own daemon: low rates) ---- */

#define NKEYS       3600
#define KEY_THREADS 8

static char (*keys)[64];

struct key_worker {
    pthread_t th;
    int port;
    int from, to;
    int made;
    int limited; /* keys whose third request got 429 */
    int wrong;   /* any unexpected status */
    int other;   /* the first third status that was not 429 */
};

static void *make_keys(void *arg)
{
    struct key_worker *w = arg;
    for (int i = w->from; i < w->to; i++) {
        json_t *j = NULL;
        if (req_json("POST", "/api/v1/keys", D.admin_key,
                     fmt("{\"name\":\"k%d\",\"role\":\"sdk\"}", i), NULL, NULL, 0, &j) == 201) {
            snprintf(keys[i], sizeof(keys[i]), "%s", json_string_value(json_object_get(j, "key")));
            w->made++;
        }
        json_decref(j);
    }
    return NULL;
}

static void *use_keys(void *arg)
{
    struct key_worker *w = arg;
    for (int i = w->from; i < w->to; i++) {
        int st[3];
        for (int k = 0; k < 3; k++) {
            st[k] = req_full("GET", "/api/v1/experiments/none/assign?user_id=u", keys[i], NULL,
                             NULL, NULL, 0);
        }
        if (st[0] != 404 || st[1] != 404) {
            w->wrong++;
        }
        w->limited += st[2] == 429;
        if (st[2] != 429 && w->other == 0) {
            w->other = st[2];
        }
    }
    return NULL;
}

static void test_rate_limit_every_key(void **state)
{
    (void)state;
    struct daemon keep = D;
    const char *const args[] = {"--rate-limit-manage",
                                "0",
                                "--rate-limit-assign",
                                "1",
                                "--rate-limit-ip",
                                "5",
                                "--rate-limit-features",
                                "1",
                                NULL};
    assert_int_equal(daemon_start(&D, args), 0);
    keys = calloc(NKEYS, sizeof(*keys));
    struct key_worker w[KEY_THREADS];
    for (int t = 0; t < KEY_THREADS; t++) {
        memset(&w[t], 0, sizeof(w[t]));
        w[t].port = D.port;
        w[t].from = NKEYS * t / KEY_THREADS;
        w[t].to = NKEYS * (t + 1) / KEY_THREADS;
        pthread_create(&w[t].th, NULL, make_keys, &w[t]);
    }
    int made = 0;
    for (int t = 0; t < KEY_THREADS; t++) {
        pthread_join(w[t].th, NULL);
        made += w[t].made;
    }
    assert_int_equal(made, NKEYS);
    for (int t = 0; t < KEY_THREADS; t++) {
        pthread_create(&w[t].th, NULL, use_keys, &w[t]);
    }
    int limited = 0, wrong = 0, other = 0;
    for (int t = 0; t < KEY_THREADS; t++) {
        pthread_join(w[t].th, NULL);
        limited += w[t].limited;
        wrong += w[t].wrong;
        other = other ? other : w[t].other;
    }
    if (other != 0) {
        print_message("# a third request answered %d\n", other);
    }
    print_message("# %d sdk keys at 1 request/s (burst 2): %d limited on the 3rd request\n", NKEYS,
                  limited);
    assert_int_equal(wrong, 0);
    assert_int_equal(limited, NKEYS);
    /* per sdk key on the features payload (1/s, burst 2), before any key lookup */
    int fst[3];
    for (int i = 0; i < 3; i++) {
        struct resp r;
        assert_int_equal(http_req(D.port, "GET", "/api/features/sdk-not-a-key", NULL, NULL, &r), 0);
        fst[i] = r.status;
        resp_free(&r);
    }
    assert_int_equal(fst[0], 401);
    assert_int_equal(fst[2], 429);
    /* per client IP on public routes: 5/s, burst 10 (3 taken above) */
    int refused = 0;
    for (int i = 0; i < 12; i++) {
        struct resp r;
        assert_int_equal(http_req(D.port, "GET", "/healthz", NULL, NULL, &r), 0);
        refused += r.status == 429;
        resp_free(&r);
    }
    assert_true(refused >= 2);
    free(keys);
    keys = NULL;
    daemon_stop(&D);
    daemon_cleanup(&D);
    D = keep;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_in_array),
        cmocka_unit_test(test_attribute_caps),
        cmocka_unit_test(test_six_connections_300_elements),
        cmocka_unit_test(test_regex_in_elem_match),
        cmocka_unit_test(test_writes_beside_readers),
        cmocka_unit_test(test_rate_limit_every_key),
    };
    return cmocka_run_group_tests_name("isolation", tests, setup, teardown);
}
