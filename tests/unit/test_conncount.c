/*
 * test_conncount.c - the listener's books (src/http/conncount.c): per-prefix counts with their
 * cap, and the pending connections indexed by descriptor number, each checked against a
 * plain model over thousands of random steps (the table grows, deletes shift back, entries
 * move in the dense array), plus the one-pass expiry.
 */
#include "unit.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "../../src/http/http_int.h"

/* 2,000 prefixes (the table doubles from 256 to 4,096) taken and released in random order
 * against counts kept in an array: every count, the cap and the release to 0 agree. */
static void test_prefix_counts_match_model(void **state)
{
    (void)state;
    enum { KEYS = 2000, STEPS = 60000, CAP = 3 };
    struct conncount *c = conncount_new();
    static unsigned model[KEYS];
    memset(model, 0, sizeof(model));
    char key[HTTP_CLIENT_PREFIX_MAX];
    srand(7);
    for (int step = 0; step < STEPS; step++) {
        int k = rand() % KEYS;
        snprintf(key, sizeof(key), "10.%d.%d.1", k / 256, k % 256);
        if (rand() % 2 == 0) {
            bool ok = conncount_take(c, key, CAP);
            assert_int_equal(ok, model[k] < CAP);
            model[k] += ok;
        } else if (model[k] > 0) {
            conncount_release(c, key);
            model[k]--;
        }
        if (step % 997 == 0) { /* all of them now and then */
            for (int j = 0; j < KEYS; j++) {
                snprintf(key, sizeof(key), "10.%d.%d.1", j / 256, j % 256);
                assert_int_equal(conncount_of(c, key), model[j]);
            }
        }
    }
    for (int j = 0; j < KEYS; j++) {
        snprintf(key, sizeof(key), "10.%d.%d.1", j / 256, j % 256);
        while (model[j] > 0) {
            conncount_release(c, key);
            model[j]--;
        }
        assert_int_equal(conncount_of(c, key), 0);
    }
    /* a release of a prefix with nothing open changes nothing */
    conncount_release(c, "192.0.2.1");
    assert_int_equal(conncount_of(c, "192.0.2.1"), 0);
    assert_true(conncount_take(c, "192.0.2.1", 0)); /* 0: no cap */
    assert_int_equal(conncount_of(c, "192.0.2.1"), 1);
    conncount_free(c);
}

/* Pending connections under random pend / unpend over 5,000 descriptor numbers, against an
 * array by number: a number pended again hands back the stale entry (its prefix and time),
 * unpend finds exactly what the model has, and the count agrees throughout. */
static void test_pending_matches_model(void **state)
{
    (void)state;
    enum { FDS = 5000, STEPS = 100000 };
    struct conncount *c = conncount_new();
    static uint64_t since[FDS]; /* 0: not pending */
    memset(since, 0, sizeof(since));
    size_t n = 0;
    srand(11);
    for (int step = 1; step <= STEPS; step++) {
        int fd = rand() % FDS;
        char key[HTTP_CLIENT_PREFIX_MAX];
        snprintf(key, sizeof(key), "198.51.100.%d", fd % 250);
        struct conncount_pending got;
        memset(&got, 0, sizeof(got));
        if (rand() % 3 != 0) {
            bool had = conncount_pend(c, fd, key, (uint64_t)step, &got);
            assert_int_equal(had, since[fd] != 0);
            if (had) {
                assert_int_equal(got.fd, fd);
                assert_int_equal(got.since_ns, since[fd]);
                assert_string_equal(got.key, key);
            } else {
                n++;
            }
            since[fd] = (uint64_t)step;
        } else {
            bool had = conncount_unpend(c, fd, &got);
            assert_int_equal(had, since[fd] != 0);
            if (had) {
                assert_int_equal(got.fd, fd);
                assert_int_equal(got.since_ns, since[fd]);
                since[fd] = 0;
                n--;
            }
        }
        assert_int_equal(conncount_pending(c), n);
    }
    /* expiry: every entry pended at step <= STEPS / 2 goes in one call, and only those */
    size_t old = 0;
    for (int fd = 0; fd < FDS; fd++) {
        old += since[fd] != 0 && since[fd] <= STEPS / 2;
    }
    struct conncount_pending *gone = NULL;
    size_t k = conncount_expire(c, STEPS, STEPS / 2, &gone);
    assert_int_equal(k, old);
    for (size_t i = 0; i < k; i++) {
        assert_true(since[gone[i].fd] != 0 && since[gone[i].fd] <= STEPS / 2);
        assert_int_equal(gone[i].since_ns, since[gone[i].fd]);
        since[gone[i].fd] = 0;
    }
    free(gone);
    assert_int_equal(conncount_pending(c), n - old);
    for (int fd = 0; fd < FDS; fd++) { /* what is left is exactly the young ones */
        assert_int_equal(conncount_unpend(c, fd, NULL), since[fd] != 0);
    }
    assert_int_equal(conncount_pending(c), 0);
    assert_int_equal(conncount_expire(c, STEPS, 0, &gone), 0);
    assert_null(gone);
    /* numbers far apart grow the index; a negative one is never pending */
    assert_false(conncount_pend(c, 70000, "a", 1, NULL));
    assert_false(conncount_pend(c, 3, "b", 1, NULL));
    assert_false(conncount_pend(c, -1, "c", 1, NULL));
    assert_false(conncount_unpend(c, -1, NULL));
    assert_int_equal(conncount_pending(c), 2);
    assert_true(conncount_unpend(c, 70000, NULL));
    assert_true(conncount_unpend(c, 3, NULL));
    conncount_free(c);
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_counts_match_model),
        cmocka_unit_test(test_pending_matches_model),
    };
    return cmocka_run_group_tests_name("conncount", tests, NULL, NULL);
}
