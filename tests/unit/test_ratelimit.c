/* Unit tests for src/http/ratelimit.c: every key gets its own exact bucket (3,600 keys, no
 * overflow), buckets refill at the rate, idle buckets are dropped and come back full, work charged
 * after the fact leaves a bounded debt, charges of less than a token add up exactly, a bucket
 * held by a request is not dropped. */
#include "unit.h"

#include <stdio.h>
#include <time.h>

#include "../../src/http/http_int.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_every_key_limited(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    double wait;
    char key[32];
    int limited = 0;
    for (int k = 0; k < 3600; k++) {
        snprintf(key, sizeof(key), "key_%08x", (unsigned)k * 2654435761u);
        /* rate 1/s, burst 2: two pass, the third is refused */
        bool a = ratelimit_take(rl, RL_CLASS_ASSIGN, key, 1, &wait);
        bool b = ratelimit_take(rl, RL_CLASS_ASSIGN, key, 1, &wait);
        bool c = ratelimit_take(rl, RL_CLASS_ASSIGN, key, 1, &wait);
        assert_true(a && b);
        limited += !c;
        if (!c) {
            assert_true(wait > 0 && wait <= 1.01);
        }
    }
    assert_int_equal(limited, 3600);
    assert_int_equal(ratelimit_entries(rl), 3600);
    /* another class of the same key has its own bucket */
    assert_true(ratelimit_take(rl, RL_CLASS_INGEST, "key_00000000", 1, &wait));
    ratelimit_free(rl);
}

static void test_idle_entries_expire(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    double wait;
    char key[32];
    for (int k = 0; k < 1000; k++) {
        snprintf(key, sizeof(key), "ip-%d", k);
        assert_true(ratelimit_take(rl, RL_CLASS_IP, key, 100, &wait));
    }
    assert_int_equal(ratelimit_entries(rl), 1000);
    /* at 100/s with burst 200, one token taken is back after 10 ms; sweeps run once a
     * second per stripe, on the stripe's next use */
    sleep_ms(1100);
    for (int k = 0; k < 2000; k++) {
        snprintf(key, sizeof(key), "other-%d", k);
        assert_true(ratelimit_take(rl, RL_CLASS_IP, key, 100, &wait));
    }
    assert_true(ratelimit_entries(rl) <= 2000 + 64);
    /* an expired key starts full again: exactly what its refilled bucket would hold */
    int ok = 0;
    for (int i = 0; i < 250; i++) {
        ok += ratelimit_take(rl, RL_CLASS_IP, "ip-7", 100, &wait);
    }
    assert_true(ok >= 200 && ok <= 203);
    ratelimit_free(rl);
}

static void test_refill(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    double wait;
    assert_true(ratelimit_take(rl, 0, "k", 10, &wait)); /* burst 20 */
    for (int i = 0; i < 19; i++) {
        assert_true(ratelimit_take(rl, 0, "k", 10, &wait));
    }
    assert_false(ratelimit_take(rl, 0, "k", 10, &wait));
    sleep_ms(250); /* 2.5 tokens */
    assert_true(ratelimit_take(rl, 0, "k", 10, &wait));
    assert_true(ratelimit_take(rl, 0, "k", 10, &wait));
    assert_false(ratelimit_take(rl, 0, "k", 10, &wait));
    /* rate 0 = unlimited */
    assert_true(ratelimit_take(rl, 0, "k", 0, &wait));
    ratelimit_free(rl);
}

/* Work charged after the fact: a debt of at most one burst, paid off by the refill. */
static void test_charge(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    double wait;
    struct rl_entry *k = NULL;
    ratelimit_charge(rl, NULL, 10, 5 * HTTP_RATE_STEPS_PER_TOKEN); /* no bucket: nothing */
    assert_int_equal(ratelimit_entries(rl), 0);
    assert_true(ratelimit_take_hold(rl, 0, "k", 10, &wait, &k)); /* burst 20: 19 left */
    assert_non_null(k);
    ratelimit_charge(rl, k, 10, 15 * HTTP_RATE_STEPS_PER_TOKEN); /* 4 left */
    for (int i = 0; i < 4; i++) {
        assert_true(ratelimit_take(rl, 0, "k", 10, &wait));
    }
    assert_false(ratelimit_take(rl, 0, "k", 10, &wait));
    /* -20 at most: 2.1 s of refill to a token */
    ratelimit_charge(rl, k, 10, 1000L * HTTP_RATE_STEPS_PER_TOKEN);
    assert_false(ratelimit_take(rl, 0, "k", 10, &wait));
    assert_true(wait > 1.9 && wait < 2.2);
    ratelimit_charge(rl, k, 0, 1000L * HTTP_RATE_STEPS_PER_TOKEN); /* rate 0: unlimited */
    ratelimit_charge(rl, k, 10, -5);                               /* nothing given back */
    assert_false(ratelimit_take(rl, 0, "k", 10, &wait));
    assert_true(wait > 1.9);
    ratelimit_release(k);
    /* refused, or unlimited: nothing held */
    assert_false(ratelimit_take_hold(rl, 0, "k", 10, &wait, &k));
    assert_null(k);
    assert_true(ratelimit_take_hold(rl, 0, "k", 0, &wait, &k));
    assert_null(k);
    ratelimit_free(rl);
}

/* Charges of less than a token are owed without the lock and add up exactly: ten charges of
 * 0.8 token each take 8 tokens at the next take, as one charge of 8 tokens would. */
static void test_charge_fractions(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    double wait;
    struct rl_entry *k = NULL;
    assert_true(ratelimit_take_hold(rl, 0, "k", 10, &wait, &k)); /* burst 20: 19 left */
    for (int i = 0; i < 10; i++) {
        ratelimit_charge(rl, k, 10, HTTP_RATE_STEPS_PER_TOKEN * 4 / 5);
    }
    int ok = 0;
    while (ok < 30 && ratelimit_take(rl, 0, "k", 10, &wait)) {
        ok++;
    }
    assert_int_equal(ok, 11); /* 19 - 8 */
    /* one step short of a token is owed too, and so is a step (2,500 steps: 1 token) */
    ratelimit_charge(rl, k, 10, HTTP_RATE_STEPS_PER_TOKEN - 1);
    ratelimit_charge(rl, k, 10, 1);
    assert_false(ratelimit_take(rl, 0, "k", 10, &wait));
    assert_true(wait > 0.1); /* a token and more owed: over 0.1 s to the next at 10/s */
    ratelimit_release(k);
    ratelimit_free(rl);
}

/* A held bucket is never dropped, however idle (its holder reaches it by pointer), and is
 * dropped as any other once released; what it owes keeps it until paid by the refill. */
static void test_held_not_dropped(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    double wait;
    char key[32];
    struct rl_entry *held = NULL;
    assert_true(ratelimit_take_hold(rl, RL_CLASS_IP, "held", 100, &wait, &held));
    for (int k = 0; k < 999; k++) {
        snprintf(key, sizeof(key), "ip-%d", k);
        assert_true(ratelimit_take(rl, RL_CLASS_IP, key, 100, &wait));
    }
    assert_int_equal(ratelimit_entries(rl), 1000);
    sleep_ms(1100); /* all idle (10 ms at 100/s); every stripe sweeps at its next take */
    for (int k = 0; k < 2000; k++) {
        snprintf(key, sizeof(key), "other-%d", k);
        assert_true(ratelimit_take(rl, RL_CLASS_IP, key, 100, &wait));
    }
    assert_int_equal(ratelimit_entries(rl), 2001); /* the 999 dropped, the held one kept */
    /* still the key's bucket: a charge through it is what the key's next take sees */
    ratelimit_charge(rl, held, 100, 500L * HTTP_RATE_STEPS_PER_TOKEN); /* -200: a debt */
    assert_false(ratelimit_take(rl, RL_CLASS_IP, "held", 100, &wait));
    ratelimit_charge(rl, held, 100, 1);
    ratelimit_release(held);
    sleep_ms(1100); /* released, but 2 s of refill from its debt: kept */
    for (int k = 0; k < 2000; k++) {
        snprintf(key, sizeof(key), "again-%d", k);
        assert_true(ratelimit_take(rl, RL_CLASS_IP, key, 100, &wait));
    }
    assert_int_equal(ratelimit_entries(rl), 2001); /* the other-* dropped */
    assert_false(ratelimit_take(rl, RL_CLASS_IP, "held", 100, &wait));
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key_limited),
        cmocka_unit_test(test_idle_entries_expire),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_charge),
        cmocka_unit_test(test_charge_fractions),
        cmocka_unit_test(test_held_not_dropped),
    };
    return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
