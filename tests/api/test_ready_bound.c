/*
 * /readyz waits for its check at most --db-timeout (src/api/health.c, review chaos36 F5). A
 * check the database does not finish (a COMMIT awaited while a synchronous standby is gone, a
 * disk that stopped answering) held every probe with no answer and no log line. Here the check
 * waits while a file of the test's exists (BUNSEN_TEST_READY_GATE), holding the writer as such
 * a COMMIT would; the probes are read with a 20 s receive timeout (a hang detector, longer than
 * --db-timeout 1): on the old build they got no reply at all. Both backends.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct daemon D;
static char gate[128];

static int teardown(void **state)
{
    (void)state;
    unlink(gate);
    daemon_cleanup(&D);
    memset(&D, 0, sizeof(D));
    return 0;
}

/* GET /readyz on a connection of its own, read until the server closes or 20 s pass: the
 * status (0: no reply) and the whole reply in *out (malloc'd). */
static int probe(char **out)
{
    int fd = harness_connect(D.port, 20);
    assert_true(fd >= 0);
    static const char req[] =
        "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    assert_int_equal(harness_send_all(fd, req, sizeof(req) - 1), 0);
    size_t len = 0;
    char *reply = harness_recv_all(fd, &len);
    assert_non_null(reply);
    int status = 0;
    if (sscanf(reply, "HTTP/1.1 %d", &status) != 1) {
        status = 0;
    }
    *out = reply;
    return status;
}

static void test_ready_answers_while_check_hangs(void **state)
{
    (void)state;
    snprintf(gate, sizeof(gate), "/tmp/bunsen-ready-gate-%d", (int)getpid());
    unlink(gate);
    setenv("BUNSEN_TEST_READY_GATE", gate, 1);
    const char *const opts[] = {"--db-timeout", "1", NULL};
    int started = daemon_start(&D, opts);
    unsetenv("BUNSEN_TEST_READY_GATE");
    assert_int_equal(started, 0);
    char *reply = NULL;
    assert_int_equal(probe(&reply), 200);
    free(reply);

    FILE *g = fopen(gate, "w");
    assert_non_null(g);
    fclose(g);
    usleep(150 * 1000); /* past the 100 ms within which a passed check is reused */
    double t0 = harness_clock_s();
    int first = probe(&reply);
    fprintf(stderr, "# /readyz while its check hangs: %d after %.2f s\n", first,
            harness_clock_s() - t0);
    assert_int_equal(first, 503);
    assert_non_null(strstr(reply, "Retry-After:"));
    assert_non_null(strstr(reply, "did not confirm the readiness check"));
    free(reply);
    /* the check still runs: the next probe does not wait for it again */
    int second = probe(&reply);
    assert_int_equal(second, 503);
    free(reply);
    assert_int_equal(access(gate, F_OK), 0); /* answered while the check was held */

    /* the operator's log says so */
    char *log = NULL;
    FILE *f = fopen(fmt("%s/stderr.log", D.dir), "r");
    assert_non_null(f);
    size_t cap = 1 << 20;
    log = calloc(1, cap + 1);
    assert_non_null(log);
    size_t n = fread(log, 1, cap, f);
    log[n] = '\0';
    fclose(f);
    assert_non_null(strstr(log, "not ready: /readyz answers 503"));
    free(log);

    /* the check ends: ready again */
    unlink(gate);
    int st = 0;
    for (double t1 = harness_clock_s(); st != 200 && harness_clock_s() - t1 < HARNESS_HANG_S;) {
        st = probe(&reply);
        free(reply);
        if (st != 200) {
            usleep(50 * 1000);
        }
    }
    assert_int_equal(st, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ready_answers_while_check_hangs, teardown),
    };
    return cmocka_run_group_tests_name("api_ready_bound", tests, NULL, NULL);
}
