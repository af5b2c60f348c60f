/* Unit tests for log.c: a line written by log_members (the access log, rendered without a
 * jansson tree) reads exactly as log_json prints the same fields, timestamp aside; after a
 * short write the next line starts on a line of its own; a limited kind of line is written
 * at most `burst` times a window, the next line written carrying the count not logged; a
 * streak of failures writes its first line, none more within 10 s, and one when it ends. */
#include "unit.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bunsen/jsonw.h"
#include "bunsen/log.h"

/* A short write (full disk; here a file size limit) cut a line: the next line was glued to the
 * half line, and neither parsed. It now starts on a line of its own. */
static void test_line_after_short_write(void **state)
{
    (void)state;
    char path[] = "/tmp/bunsen-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    log_set_level(LOG_INFO);
    assert_int_equal(log_open_file(path), 0);
    log_msg(LOG_INFO, "first");
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)sb.st_size + 20; /* the next line stops after 20 bytes */
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    log_msg(LOG_INFO, "cut short by the size limit");
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    log_msg(LOG_INFO, "after");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    int lines = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lines++;
        json_t *j = json_loads(line, 0, NULL);
        if (lines == 2) {
            assert_null(j);                         /* the half line */
            assert_int_equal(strlen(line), 20 + 1); /* ended by the next line's newline */
        } else {
            if (j == NULL) {
                fail_msg("line %d does not parse: %s", lines, line);
            }
            assert_string_equal(json_string_value(json_object_get(j, "msg")),
                                lines == 1 ? "first" : "after");
        }
        json_decref(j);
    }
    fclose(f);
    assert_int_equal(lines, 3);
    unlink(path);
}

static void test_members_line_as_log_json(void **state)
{
    (void)state;
    char path[] = "/tmp/bunsen-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    log_set_level(LOG_INFO);
    assert_int_equal(log_open_file(path), 0);
    static const double ms[] = {0.123456789, 12.5, 1234.56789, 0.0005, 3.0};
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        log_json(LOG_INFO, "request",
                 json_pack("{s:s, s:s, s:i, s:f, s:I, s:i, s:s}", "method", "POST", "route",
                           "/api/v1/assign", "status", 200, "duration_ms", ms[i], "bytes",
                           (json_int_t)151, "terminated", 2, "key_id", "key_0123456789abcdef"));
        struct buf b;
        buf_init(&b, 4096);
        jsonw_append_raw(&b, "\"method\":\"POST\",\"route\":");
        jsonw_append_string(&b, "/api/v1/assign", 14);
        jsonw_append_raw(&b, ",\"status\":");
        jsonw_append_int(&b, 200);
        jsonw_append_raw(&b, ",\"duration_ms\":");
        jsonw_append_real(&b, ms[i], 6);
        jsonw_append_raw(&b, ",\"bytes\":151,\"terminated\":2,\"key_id\":");
        jsonw_append_string(&b, "key_0123456789abcdef", 20);
        log_members(LOG_INFO, "request", b.data, b.len);
        buf_free(&b);
    }
    log_members(LOG_INFO, "bare", "", 0);
    log_json(LOG_INFO, "bare", NULL);
    log_set_level(LOG_WARN);
    log_members(LOG_INFO, "not written", "", 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char a[1024], b2[1024];
    int pairs = 0;
    while (fgets(a, sizeof(a), f) != NULL) {
        assert_non_null(fgets(b2, sizeof(b2), f));
        /* {"ts":"2026-11-28T22:00:00.123Z", is 33 bytes in both */
        assert_int_equal(strncmp(a, "{\"ts\":\"", 7), 0);
        assert_int_equal(a[30], 'Z');
        assert_int_equal(b2[30], 'Z');
        assert_string_equal(a + 31, b2 + 31);
        pairs++;
    }
    assert_int_equal(pairs, 6);
    fclose(f);
    unlink(path);
}

/* rev-sec2 4: the limiter behind libmicrohttpd's warnings and the 429 access-log lines. */
static void test_limit(void **state)
{
    (void)state;
    static struct log_limit l;
    long gone = -1;
    int64_t t = 5000;
    assert_true(log_limit_take(&l, "k", LOG_WARN, t, 1, 10000, &gone));
    assert_int_equal(gone, 0);
    for (int i = 0; i < 99; i++) {
        assert_false(log_limit_take(&l, "k", LOG_WARN, t + i * 100, 1, 10000, &gone));
    }
    /* the next window: one line, with the 99 not written */
    assert_true(log_limit_take(&l, "k", LOG_WARN, t + 10000, 1, 10000, &gone));
    assert_int_equal(gone, 99);
    assert_false(log_limit_take(&l, "k", LOG_WARN, t + 10001, 1, 10000, &gone));
    /* a burst of 3 */
    static struct log_limit b;
    for (int i = 0; i < 3; i++) {
        assert_true(log_limit_take(&b, "k", LOG_WARN, 1, 3, 10000, &gone));
        assert_int_equal(gone, 0);
    }
    assert_false(log_limit_take(&b, "k", LOG_WARN, 2, 3, 10000, &gone));
    assert_true(log_limit_take(&b, "k", LOG_WARN, 10001, 3, 10000, &gone));
    assert_int_equal(gone, 1);
    /* kinds by pointer: the same pointer, the same limit; distinct formats mostly distinct */
    static const char k1[] = "a %s", k2[] = "b %d";
    assert_ptr_equal(log_limit_for(k1), log_limit_for(k1));
    assert_non_null(log_limit_for(k2));
}

/* The count of a flood's last lines: written by log_limits_flush once their window is over
 * (the daemon's once-a-second tick) or at exit (INT64_MAX), when no line of the kind follows
 * to carry it; a count handed to a line written is not written again. */
static void test_limit_flush(void **state)
{
    (void)state;
    char path[] = "/tmp/bunsen-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    log_set_level(LOG_INFO);
    assert_int_equal(log_open_file(path), 0);
    static struct log_limit f, g, quiet;
    long gone = -1;
    assert_true(log_limit_take(&f, "flood f", LOG_WARN, 1000, 1, 10000, &gone));
    for (int i = 0; i < 7; i++) {
        assert_false(log_limit_take(&f, "flood f", LOG_WARN, 1000 + i, 1, 10000, &gone));
    }
    assert_true(log_limit_take(&g, "flood g", LOG_INFO, 1000, 1, 10000, &gone));
    assert_false(log_limit_take(&g, "flood g", LOG_INFO, 1001, 1, 10000, &gone));
    assert_true(log_limit_take(&quiet, "quiet", LOG_INFO, 1000, 1, 10000, &gone));
    log_limits_flush(10999); /* the window is not over: nothing */
    /* g's next line carries its count: the flush has nothing left of it */
    assert_true(log_limit_take(&g, "flood g", LOG_INFO, 11000, 1, 10000, &gone));
    assert_int_equal(gone, 1);
    log_limits_flush(11000); /* f: 7 */
    log_limits_flush(11000); /* nothing more */
    /* f's next window: its first line carries nothing (the flush counted them), one more is
     * refused */
    assert_true(log_limit_take(&f, "flood f", LOG_WARN, 11000, 1, 10000, &gone));
    assert_int_equal(gone, 0);
    assert_false(log_limit_take(&f, "flood f", LOG_WARN, 11001, 1, 10000, &gone));
    log_limits_flush(INT64_MAX); /* at exit: f's 1 */
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[1024];
    int n = 0;
    char got[4][64];
    while (fgets(line, sizeof(line), fp) != NULL) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        /* (test_limit's limits, left with a count, are flushed too) */
        const char *kind = json_string_value(json_object_get(j, "kind"));
        if (strcmp(json_string_value(json_object_get(j, "msg")), "log lines not written") == 0 &&
            strncmp(kind, "flood", 5) == 0) {
            assert_true(n < 4);
            snprintf(got[n++], sizeof(got[0]), "%s %s %lld",
                     json_string_value(json_object_get(j, "level")), kind,
                     (long long)json_integer_value(json_object_get(j, "not_logged")));
        }
        json_decref(j);
    }
    fclose(fp);
    unlink(path);
    assert_int_equal(n, 2);
    assert_string_equal(got[0], "warn flood f 7");
    assert_string_equal(got[1], "warn flood f 1");
}

/* A failure retried every second (the catalogue reload in a database outage): its first line,
 * no more within 10 s, one "recovered" line with the count, and the next outage's first
 * failure at once. It wrote one line per failure. */
static void test_streak(void **state)
{
    (void)state;
    char path[] = "/tmp/bunsen-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    log_set_level(LOG_INFO);
    assert_int_equal(log_open_file(path), 0);
    static struct log_streak st;
    for (int i = 0; i < 5; i++) {
        log_streak_fail(&st, "streak failed", json_pack("{s:i}", "try", i));
    }
    /* the failures between two lines are counted by the next line's "failures" only, never
     * by a "log lines not written" line (the daemon's ticker flushes once a second: review
     * diff35 F4 saw one in half of the 10 s windows of an outage) */
    log_limits_flush(INT64_MAX);
    log_streak_ok(&st, "streak recovered");
    log_streak_ok(&st, "streak recovered"); /* no failure before: nothing */
    log_streak_fail(&st, "streak failed", NULL);
    log_streak_ok(&st, "streak recovered");
    log_limits_flush(INT64_MAX); /* the recovered lines counted them: nothing */
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[1024], got[8][96];
    int n = 0;
    while (fgets(line, sizeof(line), fp) != NULL && n < 8) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        const char *msg = json_string_value(json_object_get(j, "msg"));
        const char *kind = json_string_value(json_object_get(j, "kind"));
        if (strncmp(msg, "streak", 6) == 0 || (kind != NULL && strncmp(kind, "streak", 6) == 0)) {
            snprintf(got[n++], sizeof(got[0]), "%s %s try=%lld failures=%lld",
                     json_string_value(json_object_get(j, "level")), msg,
                     (long long)json_integer_value(json_object_get(j, "try")),
                     (long long)json_integer_value(json_object_get(j, "failures")));
        }
        json_decref(j);
    }
    fclose(fp);
    unlink(path);
    assert_int_equal(n, 4);
    assert_string_equal(got[0], "error streak failed try=0 failures=0");
    assert_string_equal(got[1], "warn streak recovered try=0 failures=5");
    assert_string_equal(got[2], "error streak failed try=0 failures=0");
    assert_string_equal(got[3], "warn streak recovered try=0 failures=1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members_line_as_log_json),
        cmocka_unit_test(test_line_after_short_write),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_limit_flush),
        cmocka_unit_test(test_streak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
