/*
 * API tests for the values of /metrics series (docs/INTEGRATIONS.md, the families table): each
 * series is read before and after requests whose effect is known and must move by exactly
 * that much: bunsen_ingested_rows_total and bunsen_ingest_duplicates_total by kind (new and
 * repeated events and exposures), bunsen_exposure_conflicts_total (an exposure naming another
 * variant), the known-exposure cache's entries and clears (a logged assignment, a definition
 * change; SQLite, where the cache is on by default), bunsen_writer_batch_size (its count and
 * sum), bunsen_sdk_streams (a /sub stream opened and closed), and bunsen_start_time_seconds
 * (the wall clock around the start). test_ops_metrics.c checks the exposition itself (families, the
 * process_* gauges, who may scrape). One daemon is shared by every test (group setup).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct daemon D;
static char SDK[128];
static int64_t STARTED_AFTER_MS, STARTED_BEFORE_MS; /* wall clock around daemon_start */

static int setup(void **state)
{
    (void)state;
    STARTED_AFTER_MS = harness_wall_ms();
    if (daemon_start(&D, NULL) != 0) {
        return -1;
    }
    STARTED_BEFORE_MS = harness_wall_ms() + 1000; /* harness_wall_ms is to the second */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static double value(const char *series)
{
    double v = harness_metric_value(D.port, D.admin_key, series);
    if (v < 0) {
        fail_msg("no series %s in /metrics", series);
    }
    return v;
}

#define ROWS_EVENT    "bunsen_ingested_rows_total{kind=\"event\"}"
#define ROWS_EXPOSURE "bunsen_ingested_rows_total{kind=\"exposure\"}"
#define DUPS_EVENT    "bunsen_ingest_duplicates_total{kind=\"event\"}"
#define DUPS_EXPOSURE "bunsen_ingest_duplicates_total{kind=\"exposure\"}"
#define CONFLICTS     "bunsen_exposure_conflicts_total"
#define BATCH_COUNT   "bunsen_writer_batch_size_count"
#define BATCH_SUM     "bunsen_writer_batch_size_sum"
#define CACHE_ENTRIES "bunsen_exposure_cache_entries"
#define CACHE_CLEARS  "bunsen_exposure_cache_clears_total"
#define STREAMS       "bunsen_sdk_streams"

/* The ingestion series, read at once. */
struct counts {
    double rows_event, rows_exposure, dups_event, dups_exposure, conflicts, batches, batched;
};

static struct counts counts_now(void)
{
    return (struct counts){value(ROWS_EVENT),    value(ROWS_EXPOSURE), value(DUPS_EVENT),
                           value(DUPS_EXPOSURE), value(CONFLICTS),     value(BATCH_COUNT),
                           value(BATCH_SUM)};
}

/* POST body to path as the sdk key and expect 200 with these counts in the answer. */
static void ingest(const char *path, const char *body, const char *field, long want)
{
    json_t *j = harness_call(D.port, "POST", path, SDK, body, 200);
    assert_int_equal(json_integer_value(json_object_get(j, field)), want);
    json_decref(j);
}

static void expect_moved(const struct counts *a, const struct counts *b, double rows_event,
                         double rows_exposure, double dups_event, double dups_exposure,
                         double conflicts)
{
    const double got[5] = {b->rows_event - a->rows_event, b->rows_exposure - a->rows_exposure,
                           b->dups_event - a->dups_event, b->dups_exposure - a->dups_exposure,
                           b->conflicts - a->conflicts};
    const double want[5] = {rows_event, rows_exposure, dups_event, dups_exposure, conflicts};
    static const char *const names[5] = {ROWS_EVENT, ROWS_EXPOSURE, DUPS_EVENT, DUPS_EXPOSURE,
                                         CONFLICTS};
    for (int i = 0; i < 5; i++) {
        if (got[i] != want[i]) {
            fail_msg("%s moved by %g, expected %g", names[i], got[i], want[i]);
        }
    }
}

/* Rows, duplicates and conflicts move by what each request stored, skipped or contradicted;
 * every committed write request is one more in the batch-size histogram. */
static void test_ingest_counters(void **state)
{
    (void)state;
    harness_sdk_key(D.port, D.admin_key, SDK, sizeof(SDK));
    harness_started_experiment(
        D.port, D.admin_key, "pe",
        "{\"key\":\"pe\",\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]}");
    int64_t t = harness_wall_ms();
    struct counts c0 = counts_now();
    /* three new events with ids */
    ingest("/api/v1/events",
           fmt("{\"events\":[{\"user_id\":\"u1\",\"event\":\"buy\",\"id\":\"e1\",\"ts\":%lld},"
               "{\"user_id\":\"u1\",\"event\":\"buy\",\"id\":\"e2\",\"ts\":%lld},"
               "{\"user_id\":\"u2\",\"event\":\"buy\",\"id\":\"e3\",\"ts\":%lld}]}",
               (long long)t, (long long)t, (long long)t),
           "accepted", 3);
    struct counts c1 = counts_now();
    expect_moved(&c0, &c1, 3, 0, 0, 0, 0);
    assert_true(c1.batches > c0.batches);
    assert_true(c1.batched - c0.batched >= c1.batches - c0.batches);
    /* two of them again, with one new one: two skipped, one stored */
    ingest("/api/v1/events",
           fmt("{\"events\":[{\"user_id\":\"u1\",\"event\":\"buy\",\"id\":\"e1\",\"ts\":%lld},"
               "{\"user_id\":\"u2\",\"event\":\"buy\",\"id\":\"e3\",\"ts\":%lld},"
               "{\"user_id\":\"u2\",\"event\":\"buy\",\"id\":\"e4\",\"ts\":%lld}]}",
               (long long)t, (long long)t, (long long)t),
           "duplicates", 2);
    struct counts c2 = counts_now();
    expect_moved(&c1, &c2, 1, 0, 2, 0, 0);
    /* two first exposures */
    ingest("/api/v1/exposures",
           fmt("{\"exposures\":[{\"experiment\":\"pe\",\"user_id\":\"u1\",\"variant\":\"control\","
               "\"ts\":%lld},{\"experiment\":\"pe\",\"user_id\":\"u2\",\"variant\":\"green\","
               "\"ts\":%lld}]}",
               (long long)t, (long long)t),
           "accepted", 2);
    struct counts c3 = counts_now();
    expect_moved(&c2, &c3, 0, 2, 0, 0, 0);
    /* u1 again in control: a repeat; u2 in control: a conflict with its first, green */
    ingest("/api/v1/exposures",
           fmt("{\"exposures\":[{\"experiment\":\"pe\",\"user_id\":\"u1\",\"variant\":\"control\","
               "\"ts\":%lld},{\"experiment\":\"pe\",\"user_id\":\"u2\",\"variant\":\"control\","
               "\"ts\":%lld}]}",
               (long long)t + 1000, (long long)t + 1000),
           "conflicts", 1);
    struct counts c4 = counts_now();
    expect_moved(&c3, &c4, 0, 0, 0, 1, 1);
    /* a logged assignment stores a first exposure as a posted one does (INTEGRATIONS.md: "from
     * any path"; it was left out), and so does an OFREP answer, once its write commits */
    json_decref(harness_call(D.port, "POST", "/api/v1/assign", SDK,
                             "{\"user_id\":\"u3\",\"experiments\":[\"pe\"]}", 200));
    struct counts c5 = counts_now();
    expect_moved(&c4, &c5, 0, 1, 0, 0, 0);
    json_decref(harness_call(D.port, "POST", "/ofrep/v1/evaluate/flags/pe", SDK,
                             "{\"context\":{\"targetingKey\":\"u4\"}}", 200));
    for (int i = 0; i < 100 && value(ROWS_EXPOSURE) == c5.rows_exposure; i++) {
        sleep_ms(50);
    }
    struct counts c6 = counts_now();
    expect_moved(&c5, &c6, 0, 1, 0, 0, 0);
}

/* The known-exposure cache holds each first exposure this daemon committed by a logged
 * assignment, and a definition change empties it. */
static void test_exposure_cache(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* the cache is off by default on PostgreSQL */
    }
    harness_started_experiment(
        D.port, D.admin_key, "pc",
        "{\"key\":\"pc\",\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]}");
    double e0 = value(CACHE_ENTRIES), k0 = value(CACHE_CLEARS);
    for (int i = 0; i < 3; i++) {
        json_decref(harness_call(D.port, "POST", "/api/v1/assign", D.admin_key,
                                 fmt("{\"user_id\":\"c%d\",\"experiments\":[\"pc\"]}", i), 200));
    }
    assert_true(value(CACHE_ENTRIES) - e0 == 3);
    assert_true(value(CACHE_CLEARS) == k0);
    json_decref(harness_call(D.port, "PATCH", "/api/v1/experiments/pc", D.admin_key,
                             "{\"description\":\"changed\"}", 200));
    assert_true(value(CACHE_CLEARS) - k0 == 1);
    assert_true(value(CACHE_ENTRIES) == 0);
}

/* A raw connection to the daemon with the request sent, or -1. */
static int open_stream(const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)D.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    const char *req =
        fmt("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n", path);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* bunsen_sdk_streams counts the open /sub streams: one more while one is open (its first event
 * read), one less once the client has gone. */
static void test_sdk_streams(void **state)
{
    (void)state;
    double s0 = value(STREAMS);
    int fd = open_stream(fmt("/sub/%s", SDK));
    assert_true(fd >= 0);
    char buf[4096];
    size_t len = 0;
    while (len < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        assert_true(n > 0);
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "event: features") != NULL) {
            break;
        }
    }
    assert_non_null(strstr(buf, "event: features"));
    assert_true(value(STREAMS) - s0 == 1);
    close(fd);
    /* the daemon learns of the close when it next writes (a keep-alive ping at the latest) */
    double s = -1;
    for (int i = 0; i < 400 && (s = value(STREAMS)) != s0; i++) {
        sleep_ms(100);
    }
    assert_true(s == s0);
}

/* bunsen_start_time_seconds is the wall clock at the daemon's start. */
static void test_start_time(void **state)
{
    (void)state;
    double st = value("bunsen_start_time_seconds");
    assert_true(st * 1000 >= (double)STARTED_AFTER_MS - 1000);
    assert_true(st * 1000 <= (double)STARTED_BEFORE_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest_counters),
        cmocka_unit_test(test_exposure_cache),
        cmocka_unit_test(test_sdk_streams),
        cmocka_unit_test(test_start_time),
    };
    return cmocka_run_group_tests_name("api_prom", tests, setup, teardown);
}
