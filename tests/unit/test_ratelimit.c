/* Unit tests for src/http/ratelimit.c: every key gets its own exact bucket (3,600 keys, no
 * overflow), buckets refill at the rate, idle buckets are dropped and come back full, work charged
 * after the fact leaves a bounded debt, charges of less than a token add up exactly, a bucket
 * held by a request is not dropped.
 * The clock is the tests' own (ratelimit_take_at, ratelimit_charge_at at a time in ms since an
 * arbitrary start): every count and wait is exact, whatever the machine's load. */
#include "unit.h"

#include <math.h>
#include <stdio.h>

#include "../../src/http/http_int.h"

/* The tests' clock: ms after a start of 1 s (any start > 0 does; 0 is RL_CLOCK_REAL). */
static uint64_t at_ms(long ms)
{
    return 1000000000ull + (uint64_t)ms * 1000000ull;
}

static bool take(struct ratelimit *rl, int cls, const char *key, double rate, double *wait, long ms)
{
    return ratelimit_take_at(rl, cls, key, rate, wait, NULL, at_ms(ms));
}

static bool take_hold(struct ratelimit *rl, int cls, const char *key, double rate, double *wait,
                      struct rl_entry **held, long ms)
{
    return ratelimit_take_at(rl, cls, key, rate, wait, held, at_ms(ms));
}

static void charge(struct ratelimit *rl, struct rl_entry *e, double rate, long steps, long ms)
{
    ratelimit_charge_at(rl, e, rate, steps, at_ms(ms));
}

/* n keys "<prefix><k>" (k from 0) of the IP class take a token each at 100/s at ms: all pass. */
static void take_keys(struct ratelimit *rl, const char *prefix, int n, long ms)
{
    double wait;
    char key[32];
    for (int k = 0; k < n; k++) {
        snprintf(key, sizeof(key), "%s%d", prefix, k);
        assert_true(take(rl, RL_CLASS_IP, key, 100, &wait, ms));
    }
}

static void assert_near(double x, double want)
{
    if (fabs(x - want) > 1e-9) {
        fail_msg("%.12f, not %.12f", x, want);
    }
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
        /* rate 1/s, burst 2: two pass, the third is refused, a second before the next token */
        bool a = take(rl, RL_CLASS_ASSIGN, key, 1, &wait, 0);
        bool b = take(rl, RL_CLASS_ASSIGN, key, 1, &wait, 0);
        bool c = take(rl, RL_CLASS_ASSIGN, key, 1, &wait, 0);
        assert_true(a && b);
        limited += !c;
        if (!c) {
            assert_near(wait, 1);
        }
    }
    assert_int_equal(limited, 3600);
    assert_int_equal(ratelimit_entries(rl), 3600);
    /* another class of the same key has its own bucket */
    assert_true(take(rl, RL_CLASS_INGEST, "key_00000000", 1, &wait, 0));
    ratelimit_free(rl);
}

/* The public functions read the real clock: rate 0.5/s, burst 1, a token then a refusal (the
 * second would pass only after 2 s without a step between the two calls). */
static void test_real_clock(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    double wait;
    struct rl_entry *held = NULL;
    assert_true(ratelimit_take_hold(rl, 0, "k", 0.5, &wait, &held));
    assert_non_null(held);
    assert_false(ratelimit_take(rl, 0, "k", 0.5, &wait));
    assert_true(wait > 0 && wait <= 2);
    ratelimit_charge(rl, held, 0.5, 4L * HTTP_RATE_STEPS_PER_TOKEN);
    ratelimit_release(held);
    assert_int_equal(ratelimit_entries(rl), 1);
    ratelimit_free(rl);
}

static void test_idle_entries_expire(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    double wait;
    take_keys(rl, "ip-", 1000, 0);
    assert_int_equal(ratelimit_entries(rl), 1000);
    /* at 100/s with burst 200, one token taken is back after 10 ms; sweeps run once a
     * second per stripe, on the stripe's next use */
    take_keys(rl, "other-", 2000, 1100);
    assert_int_equal(ratelimit_entries(rl), 2000);
    /* an expired key starts full again: exactly what its refilled bucket would hold */
    int ok = 0;
    for (int i = 0; i < 250; i++) {
        ok += take(rl, RL_CLASS_IP, "ip-7", 100, &wait, 1100);
    }
    assert_int_equal(ok, 200);
    ratelimit_free(rl);
}

static void test_refill(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    double wait;
    for (int i = 0; i < 20; i++) { /* burst 20 */
        assert_true(take(rl, 0, "k", 10, &wait, 0));
    }
    assert_false(take(rl, 0, "k", 10, &wait, 0));
    assert_near(wait, 0.1);
    /* 250 ms: 2.5 tokens, two taken, half a token left */
    assert_true(take(rl, 0, "k", 10, &wait, 250));
    assert_true(take(rl, 0, "k", 10, &wait, 250));
    assert_false(take(rl, 0, "k", 10, &wait, 250));
    assert_near(wait, 0.05);
    /* the refill stops at the burst: 10 s of it make 20 tokens, not 100 */
    int ok = 0;
    while (ok < 100 && take(rl, 0, "k", 10, &wait, 10250)) {
        ok++;
    }
    assert_int_equal(ok, 20);
    /* rate 0 = unlimited */
    assert_true(take(rl, 0, "k", 0, &wait, 10250));
    ratelimit_free(rl);
}

/* Work charged after the fact: a debt of at most one burst, paid off by the refill. */
static void test_charge(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    double wait;
    struct rl_entry *k = NULL;
    charge(rl, NULL, 10, 5 * HTTP_RATE_STEPS_PER_TOKEN, 0); /* no bucket: nothing */
    assert_int_equal(ratelimit_entries(rl), 0);
    assert_true(take_hold(rl, 0, "k", 10, &wait, &k, 0)); /* burst 20: 19 left */
    assert_non_null(k);
    charge(rl, k, 10, 15 * HTTP_RATE_STEPS_PER_TOKEN, 0); /* 4 left */
    for (int i = 0; i < 4; i++) {
        assert_true(take(rl, 0, "k", 10, &wait, 0));
    }
    assert_false(take(rl, 0, "k", 10, &wait, 0));
    /* -20 at most: 2.1 s of refill to a token */
    charge(rl, k, 10, 1000L * HTTP_RATE_STEPS_PER_TOKEN, 0);
    assert_false(take(rl, 0, "k", 10, &wait, 0));
    assert_near(wait, 2.1);
    charge(rl, k, 0, 1000L * HTTP_RATE_STEPS_PER_TOKEN, 0); /* rate 0: unlimited */
    charge(rl, k, 10, -5, 0);                               /* nothing given back */
    assert_false(take(rl, 0, "k", 10, &wait, 0));
    assert_near(wait, 2.1);
    /* paid off by the refill: a token at 2.1 s, not before */
    assert_false(take(rl, 0, "k", 10, &wait, 2099));
    assert_true(take(rl, 0, "k", 10, &wait, 2100));
    ratelimit_release(k);
    /* refused, or unlimited: nothing held */
    assert_false(take_hold(rl, 0, "k", 10, &wait, &k, 2100));
    assert_null(k);
    assert_true(take_hold(rl, 0, "k", 0, &wait, &k, 2100));
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
    assert_true(take_hold(rl, 0, "k", 10, &wait, &k, 0)); /* burst 20: 19 left */
    for (int i = 0; i < 10; i++) {
        charge(rl, k, 10, HTTP_RATE_STEPS_PER_TOKEN * 4 / 5, 0);
    }
    int ok = 0;
    while (ok < 30 && take(rl, 0, "k", 10, &wait, 0)) {
        ok++;
    }
    assert_int_equal(ok, 11); /* 19 - 8 */
    /* one step short of a token is owed too, and so is a step (2,500 steps: 1 token) */
    charge(rl, k, 10, HTTP_RATE_STEPS_PER_TOKEN - 1, 0);
    charge(rl, k, 10, 1, 0);
    assert_false(take(rl, 0, "k", 10, &wait, 0));
    assert_near(wait, 0.2); /* a token owed and one to take: 0.2 s at 10/s */
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
    struct rl_entry *held = NULL;
    assert_true(take_hold(rl, RL_CLASS_IP, "held", 100, &wait, &held, 0));
    take_keys(rl, "ip-", 999, 0);
    assert_int_equal(ratelimit_entries(rl), 1000);
    /* 1.1 s on: all idle (10 ms at 100/s); every stripe sweeps at its next take */
    take_keys(rl, "other-", 2000, 1100);
    assert_int_equal(ratelimit_entries(rl), 2001); /* the 999 dropped, the held one kept */
    /* still the key's bucket: a charge through it is what the key's next take sees */
    charge(rl, held, 100, 500L * HTTP_RATE_STEPS_PER_TOKEN, 1100); /* -200: a debt */
    assert_false(take(rl, RL_CLASS_IP, "held", 100, &wait, 1100));
    charge(rl, held, 100, 1, 1100);
    ratelimit_release(held);
    /* 2.2 s: released, but 4 s of refill from its debt to full: kept */
    take_keys(rl, "again-", 2000, 2200);
    assert_int_equal(ratelimit_entries(rl), 2001); /* the other-* dropped */
    assert_false(take(rl, RL_CLASS_IP, "held", 100, &wait, 2200));
    /* 6.3 s: full again, and swept as any idle bucket (again-* too) */
    assert_true(take(rl, RL_CLASS_IP, "new", 100, &wait, 6300));
    take_keys(rl, "last-", 2000, 6300);
    assert_int_equal(ratelimit_entries(rl), 2001); /* "held" and again-* dropped */
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key_limited),
        cmocka_unit_test(test_real_clock),
        cmocka_unit_test(test_idle_entries_expire),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_charge),
        cmocka_unit_test(test_charge_fractions),
        cmocka_unit_test(test_held_not_dropped),
    };
    return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
