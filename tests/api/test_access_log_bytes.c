/*
 * API test: the access log's "bytes" for streamed replies (operator's-day review, finding 5).
 * A per-user export and a /sub Server-Sent Events stream are sent by a read callback, and
 * their log lines said "bytes":0 whatever was sent. Expected: the export's line carries the
 * body's length as the client received it (chunk framing aside), the stream's the bytes of
 * the events it sent before the client went away.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define VARS "\"variants\":[{\"key\":\"control\"},{\"key\":\"green\"}]"

/* The "bytes" of the first access-log line in log whose route is route and that holds
 * also (NULL: any), or -1. */
static long long logged_bytes(const char *log, const char *route, const char *also)
{
    char needle[200];
    snprintf(needle, sizeof(needle), "\"route\":\"%s\"", route);
    for (const char *p = strstr(log, needle); p != NULL; p = strstr(p + 1, needle)) {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        char line[1000];
        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        const char *b = strstr(line, "\"bytes\":");
        if (b != NULL && (also == NULL || strstr(line, also) != NULL)) {
            return atoll(b + 8);
        }
    }
    return -1;
}

static void test_streamed_bytes_logged(void **state)
{
    (void)state;
    struct daemon d;
    const char *const extra[] = {"--log-level", "info", NULL};
    assert_int_equal(daemon_start(&d, extra), 0);
    json_decref(harness_call(d.port, "POST", "/api/v1/metrics", d.admin_key,
                             "{\"key\":\"m\",\"event\":\"buy\",\"type\":\"binomial\"}", 201));
    json_decref(harness_call(d.port, "POST", "/api/v1/experiments", d.admin_key,
                             "{\"key\":\"e\"," VARS ",\"metrics\":[\"m\"]}", 201));
    json_decref(
        harness_call(d.port, "POST", "/api/v1/experiments/e/start", d.admin_key, NULL, 200));
    json_t *ex = json_array();
    for (int i = 0; i < 300; i++) {
        json_array_append_new(ex,
                              json_pack("{s:s, s:s, s:s}", "experiment", "e", "user_id",
                                        fmt("user-%d", i), "variant", i % 2 ? "green" : "control"));
    }
    json_t *body = json_pack("{s:o}", "exposures", ex);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(harness_call(d.port, "POST", "/api/v1/exposures", d.admin_key, text, 200));
    free(text);
    json_decref(body);

    /* the per-user export: a CSV of 300 rows, streamed */
    struct resp r;
    assert_int_equal(
        http_req(d.port, "GET", "/api/v1/experiments/e/users?metric=m", d.admin_key, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    long long export_len = (long long)r.body_len;
    assert_true(export_len > 1000);
    resp_free(&r);

    /* a /sub stream: its first event, then the client goes */
    char sdk[64];
    harness_sdk_key(d.port, d.admin_key, sdk, sizeof(sdk));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    const char *req =
        fmt("GET /sub/%s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", sdk);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    char buf[65536] = "";
    size_t got = 0;
    for (int i = 0; i < 50 && strstr(buf, "\n\n") == NULL; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
            if (n <= 0) {
                break;
            }
            got += (size_t)n;
        }
        buf[got] = '\0';
    }
    const char *body_start = strstr(buf, "\r\n\r\n");
    assert_non_null(body_start);
    assert_non_null(strstr(body_start, "\n\n")); /* one event at least */
    close(fd);
    sleep_ms(300); /* the server finds the client gone at its next write or keep-alive */
    assert_int_equal(daemon_stop(&d), 0);

    char *log = slurp(fmt("%s/stderr.log", d.dir));
    long long logged_export = logged_bytes(log, "/api/v1/experiments/{key}/users", NULL);
    long long logged_sub = logged_bytes(log, "/sub/{sdk_key}", "\"status\":200");
    free(log);
    /* the export's body, as received; the stream's at least its first event */
    assert_int_equal(logged_export, export_len);
    if (logged_sub <= 0) {
        fail_msg("the /sub stream logged \"bytes\":%lld", logged_sub);
    }
    daemon_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streamed_bytes_logged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
