/* Unit tests for src/http/authcache.c: a verified key is served from the cache, a clear
 * (a revocation) empties it, and a lookup that began before a clear puts nothing back (the
 * epoch), so a key revoked while its own request was being verified is not cached again. */
#include "unit.h"

#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_clear),
        cmocka_unit_test(test_put_after_clear_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
