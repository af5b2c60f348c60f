/*
 * API tests for the guards around a daemon's database (docs/RELIABILITY.md, the operations
 * review): a second daemon on a SQLite file reached through a hard link is refused (the lock
 * was named after the path, and two daemons corrupted the file); `bunsen migrate` with
 * migrations pending is refused beside a running daemon.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return calloc(1, 1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

static int status_of(int port, const char *method, const char *path, const char *key)
{
    struct resp r;
    if (http_req(port, method, path, key, NULL, &r) != 0) {
        return -1;
    }
    int st = r.status;
    resp_free(&r);
    return st;
}

/* A data dir with a hard link to another's bunsen.db (a `cp -al` snapshot of the data dir):
 * a daemon on it is refused while the first runs, and starts once that one has stopped. */
static void test_hard_link_refused(void **state)
{
    (void)state;
    if (harness_on_postgres()) {
        skip(); /* several daemons share a PostgreSQL database by design */
    }
    struct daemon d;
    assert_int_equal(daemon_start(&d, NULL), 0);
    struct daemon second;
    memset(&second, 0, sizeof(second));
    snprintf(second.dir, sizeof(second.dir), "/tmp/bunsen-test-XXXXXX");
    assert_non_null(mkdtemp(second.dir));
    assert_int_equal(link(fmt("%s/bunsen.db", d.dir), fmt("%s/bunsen.db", second.dir)), 0);
    if (daemon_restart(&second, NULL) == 0) { /* it started: stop it, then fail */
        daemon_stop(&second);
        fail_msg("a second daemon started on a hard link to %s/bunsen.db", d.dir);
    }
    close(second.out_fd);
    second.out_fd = -1;
    char *err = slurp(fmt("%s/stderr.log", second.dir));
    assert_non_null(strstr(err, "another bunsen serve is running on the database"));
    assert_non_null(strstr(err, "hard link"));
    free(err);
    assert_int_equal(status_of(d.port, "GET", "/readyz", NULL), 200);
    /* the lock goes with the first daemon: the link's starts then */
    assert_int_equal(daemon_stop(&d), 0);
    assert_int_equal(daemon_restart(&second, NULL), 0);
    assert_int_equal(status_of(second.port, "GET", "/readyz", NULL), 200);
    assert_int_equal(daemon_stop(&second), 0);
    daemon_cleanup(&second);
    daemon_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hard_link_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
