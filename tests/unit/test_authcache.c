/* Unit tests for src/http/authcache.c: a verified key is served from the cache, a clear
 * (a revocation) empties it, and a lookup that began before a clear puts nothing back (the
 * epoch), so a key revoked while its own request was being verified is not cached again.
 * A lookup that finds the key revoked forgets its entry, and the key check retains only
 * active keys, stale entries included (an outage accepts those), and makes those it retains
 * fresh again (no request then asks the database for a key in use). */
#include "unit.h"

#include <string.h>
#include <time.h>

#include "../../src/http/http_int.h"

static void key_named(struct store_key *k, const char *id)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->id, sizeof(k->id), "%s", id);
    snprintf(k->role, sizeof(k->role), "sdk");
}

static void test_put_get_clear(void **state)
{
    (void)state;
    struct authcache *c = authcache_new();
    uint8_t tag[AUTHCACHE_TAG_LEN], other[AUTHCACHE_TAG_LEN];
    authcache_tag(c, "bsn_secret", 10, tag);
    authcache_tag(c, "bsn_secreu", 10, other);
    assert_memory_not_equal(tag, other, AUTHCACHE_TAG_LEN);
    struct store_key k, out;
    key_named(&k, "k1");
    assert_false(authcache_get(c, tag, &out));
    authcache_put(c, tag, &k, authcache_epoch(c));
    assert_true(authcache_get(c, tag, &out));
    assert_string_equal(out.id, "k1");
    assert_false(authcache_get(c, other, &out));
    authcache_clear(c);
    assert_false(authcache_get(c, tag, &out));
    assert_false(authcache_get_stale(c, tag, 600ull * 1000000000ull, &out));
    authcache_free(c);
}

static void test_put_after_clear_dropped(void **state)
{
    (void)state;
    struct authcache *c = authcache_new();
    uint8_t tag[AUTHCACHE_TAG_LEN];
    authcache_tag(c, "bsn_revoked", 11, tag);
    struct store_key k, out;
    key_named(&k, "k2");
    /* the request read the epoch, then its database lookup found the key still active; the
     * revocation committed and cleared the cache before the request put what it found */
    uint64_t before = authcache_epoch(c);
    authcache_clear(c);
    authcache_put(c, tag, &k, before);
    assert_false(authcache_get(c, tag, &out));
    /* a lookup begun after the clear is cached as usual */
    authcache_put(c, tag, &k, authcache_epoch(c));
    assert_true(authcache_get(c, tag, &out));
    authcache_free(c);
}

static bool keep_k1(const struct store_key *k, void *ctx)
{
    (void)ctx;
    return strcmp(k->id, "k1") == 0;
}

static void test_forget_and_retain(void **state)
{
    (void)state;
    struct authcache *c = authcache_new();
    uint8_t t1[AUTHCACHE_TAG_LEN], t2[AUTHCACHE_TAG_LEN];
    struct store_key k1, k2, out;
    key_named(&k1, "k1");
    key_named(&k2, "k2");
    authcache_tag(c, "bsn_one", 7, t1);
    /* two secrets in different slots (a slot holds one key: the random SipHash key may put
     * the first pair in one) */
    for (int i = 0;; i++) {
        char two[32];
        int n = snprintf(two, sizeof(two), "bsn_two%d", i);
        authcache_tag(c, two, (size_t)n, t2);
        authcache_put(c, t1, &k1, authcache_epoch(c));
        authcache_put(c, t2, &k2, authcache_epoch(c));
        if (authcache_get(c, t1, &out)) {
            break;
        }
    }
    const uint64_t stale = 600ull * 1000000000ull;
    /* a lookup found k2 revoked: gone, for the outage's stale read too; k1 stays */
    authcache_forget(c, t2);
    assert_false(authcache_get_stale(c, t2, stale, &out));
    assert_true(authcache_get_stale(c, t1, stale, &out));
    /* forgetting a tag that is not cached leaves the slot's other key */
    authcache_forget(c, t2);
    assert_true(authcache_get(c, t1, &out));
    /* the key check: k2 is no longer active, k1 is */
    authcache_put(c, t2, &k2, authcache_epoch(c));
    assert_int_equal(authcache_retain(c, keep_k1, NULL), 1);
    assert_false(authcache_get_stale(c, t2, stale, &out));
    assert_true(authcache_get_stale(c, t1, stale, &out));
    assert_string_equal(out.id, "k1");
    assert_int_equal(authcache_retain(c, keep_k1, NULL), 0);
    authcache_free(c);
}

static bool keep_all(const struct store_key *k, void *ctx)
{
    (void)k;
    (void)ctx;
    return true;
}

static void test_retain_refreshes(void **state)
{
    (void)state;
    struct authcache *c = authcache_new();
    uint8_t tag[AUTHCACHE_TAG_LEN];
    authcache_tag(c, "bsn_used", 8, tag);
    struct store_key k, out;
    key_named(&k, "k1");
    authcache_put(c, tag, &k, authcache_epoch(c));
    struct timespec ts = {.tv_sec = 1, .tv_nsec = 100000000};
    nanosleep(&ts, NULL); /* past the second of freshness */
    assert_false(authcache_get(c, tag, &out));
    assert_true(authcache_get_stale(c, tag, 600ull * 1000000000ull, &out));
    /* the key check found it active: fresh again */
    assert_int_equal(authcache_retain(c, keep_all, NULL), 0);
    assert_true(authcache_get(c, tag, &out));
    assert_string_equal(out.id, "k1");
    authcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_clear),
        cmocka_unit_test(test_put_after_clear_dropped),
        cmocka_unit_test(test_forget_and_retain),
        cmocka_unit_test(test_retain_refreshes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
