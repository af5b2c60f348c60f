/* Unit tests for src/http/authcache.c: a verified key is served from the cache; a clear (an
 * API revocation, a SIGHUP) makes every entry stale, so that the next use asks the database
 * while an outage still accepts the entry, and empties the revoked key's, for the outage too;
 * a lookup that began before a clear puts nothing back (the epoch), so a key revoked while
 * its own request was being verified is not cached again. A lookup that finds the key revoked
 * forgets its entry, and the key check retains only active keys, stale entries included (an
 * outage accepts those), and makes those it retains fresh again (no request then asks the
 * database for a key in use), unless a clear came after it read the keys. Against a fake
 * database server, the refreshers: a request after a clear never takes the answer of a lookup
 * begun before it, and a burst of new keys is served whole. */
#include "unit.h"

#include <string.h>
#include <time.h>

#include "../../src/http/http_int.h"
#include "../../src/store/store_int.h" /* a fake database server for the refreshers */

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

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
    /* a clear without a revoked key (SIGHUP): asked again, the outage's fallback still */
    authcache_clear(c, NULL);
    assert_false(authcache_get(c, tag, &out));
    assert_true(authcache_get_stale(c, tag, 600ull * 1000000000ull, &out));
    assert_string_equal(out.id, "k1");
    /* the database confirmed it: fresh again */
    authcache_put(c, tag, &k, authcache_epoch(c));
    assert_true(authcache_get(c, tag, &out));
    /* k1 revoked through the API: gone, for the outage too */
    authcache_clear(c, "k1");
    assert_false(authcache_get(c, tag, &out));
    assert_false(authcache_get_stale(c, tag, 600ull * 1000000000ull, &out));
    authcache_free(c);
}

/* Two secrets of keys k1 and k2 in different slots (a slot holds one key: the random SipHash
 * key may put the first pair in one), both cached. */
static void two_keys(struct authcache *c, uint8_t t1[AUTHCACHE_TAG_LEN],
                     uint8_t t2[AUTHCACHE_TAG_LEN])
{
    struct store_key k1, k2, out;
    key_named(&k1, "k1");
    key_named(&k2, "k2");
    authcache_tag(c, "bsn_one", 7, t1);
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
}

/* An API revocation of k2 once emptied the whole cache: k1 too lost its 10 minutes of outage
 * grace. Now k1 is asked again and stays the outage's fallback; k2 is gone, stale or not. */
static void test_clear_keeps_stale_but_not_revoked(void **state)
{
    (void)state;
    struct authcache *c = authcache_new();
    uint8_t t1[AUTHCACHE_TAG_LEN], t2[AUTHCACHE_TAG_LEN];
    struct store_key out;
    const uint64_t stale = 600ull * 1000000000ull;
    two_keys(c, t1, t2);
    authcache_clear(c, "k2");
    assert_false(authcache_get(c, t1, &out)); /* the next use asks the database */
    assert_true(authcache_get_stale(c, t1, stale, &out));
    assert_string_equal(out.id, "k1");
    assert_false(authcache_get(c, t2, &out));
    assert_false(authcache_get_stale(c, t2, stale, &out));
    /* an entry already stale when cleared keeps its own deadline, not a new one */
    two_keys(c, t1, t2);
    struct timespec ts = {.tv_sec = 1, .tv_nsec = 100000000};
    nanosleep(&ts, NULL); /* past the second of freshness */
    authcache_clear(c, NULL);
    assert_true(authcache_get_stale(c, t1, stale, &out));
    assert_true(authcache_get_stale(c, t2, stale, &out));
    /* verified more than 1.1 s ago: its freshness ended more than 100 ms ago, not at the clear */
    assert_false(authcache_get_stale(c, t1, 50000000ull, &out));
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
    authcache_clear(c, "k2");
    authcache_put(c, tag, &k, before);
    assert_false(authcache_get(c, tag, &out));
    assert_false(authcache_get_stale(c, tag, 600ull * 1000000000ull, &out));
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
    two_keys(c, t1, t2);
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
    assert_int_equal(authcache_retain(c, keep_k1, NULL, authcache_epoch(c)), 1);
    assert_false(authcache_get_stale(c, t2, stale, &out));
    assert_true(authcache_get_stale(c, t1, stale, &out));
    assert_string_equal(out.id, "k1");
    assert_int_equal(authcache_retain(c, keep_k1, NULL, authcache_epoch(c)), 0);
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
    assert_int_equal(authcache_retain(c, keep_all, NULL, authcache_epoch(c)), 0);
    assert_true(authcache_get(c, tag, &out));
    assert_string_equal(out.id, "k1");
    /* a key check that read the keys before a clear (SIGHUP: a key revoked by another
     * process counts at once) does not make them fresh again; it still drops */
    uint64_t before = authcache_epoch(c);
    authcache_clear(c, NULL);
    assert_int_equal(authcache_retain(c, keep_all, NULL, before), 0);
    assert_false(authcache_get(c, tag, &out));
    assert_true(authcache_get_stale(c, tag, 600ull * 1000000000ull, &out));
    assert_int_equal(authcache_retain(c, keep_k1, NULL, before), 0);
    assert_true(authcache_get_stale(c, tag, 600ull * 1000000000ull, &out));
    authcache_free(c);
}

static bool keep_none(const struct store_key *k, void *ctx)
{
    (void)k;
    (void)ctx;
    return false;
}

/* Many keys in use at once each keep their own entry. The cache was direct-mapped: two keys
 * whose tags fell in one of its 1,024 slots took it from each other (one pair in about a
 * thousand for two keys), and in an outage the one that had lost it was refused
 * (test_hung_db test_keys_from_memory failed so, now and then). With 300 keys that happened
 * in every run. The walks of a clear and of the key check reach every entry. */
static void test_many_keys_kept(void **state)
{
    (void)state;
    enum { N = 300 };
    struct authcache *c = authcache_new();
    uint8_t tags[N][AUTHCACHE_TAG_LEN];
    struct store_key k, out;
    for (int i = 0; i < N; i++) {
        char secret[32], id[16];
        int len = snprintf(secret, sizeof(secret), "bsn_key%d", i);
        snprintf(id, sizeof(id), "k%d", i);
        authcache_tag(c, secret, (size_t)len, tags[i]);
        key_named(&k, id);
        authcache_put(c, tags[i], &k, authcache_epoch(c));
    }
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof(id), "k%d", i);
        assert_true(authcache_get(c, tags[i], &out));
        assert_string_equal(out.id, id);
    }
    authcache_clear(c, NULL);
    for (int i = 0; i < N; i++) {
        assert_false(authcache_get(c, tags[i], &out));
        assert_true(authcache_get_stale(c, tags[i], 600ull * 1000000000ull, &out));
    }
    assert_int_equal(authcache_retain(c, keep_none, NULL, authcache_epoch(c)), N);
    for (int i = 0; i < N; i++) {
        assert_false(authcache_get_stale(c, tags[i], 600ull * 1000000000ull, &out));
    }
    authcache_free(c);
}

/* Keys whose tags share their first bytes share a set: when more of them are in use than a
 * set holds, a new one takes the place of the one used longest ago (found or put), and the
 * others stay. Not the one confirmed longest ago: the key check confirms every entry at once,
 * which made that the set's first slot whatever its use. */
static void test_full_set_gives_up_least_used(void **state)
{
    (void)state;
    enum { N = 64 }; /* more than any set holds */
    struct authcache *c = authcache_new();
    uint8_t tags[N][AUTHCACHE_TAG_LEN];
    struct store_key k, out;
    for (int i = 0; i < N; i++) {
        memset(tags[i], 0x5a, AUTHCACHE_TAG_LEN); /* the same set */
        tags[i][AUTHCACHE_TAG_LEN - 1] = (uint8_t)i;
        char id[16];
        snprintf(id, sizeof(id), "k%d", i);
        key_named(&k, id);
        authcache_put(c, tags[i], &k, authcache_epoch(c));
    }
    /* the set holds the last ones put, in order (each found here is used again, in the same
     * order) */
    int held = 0;
    for (int i = 0; i < N; i++) {
        held += authcache_get(c, tags[i], &out);
    }
    assert_true(held >= 4 && held < N); /* a set of several ways, and a bounded one */
    int first = N - held;
    for (int i = first; i < N; i++) {
        char id[16];
        snprintf(id, sizeof(id), "k%d", i);
        assert_true(authcache_get(c, tags[i], &out));
        assert_string_equal(out.id, id);
    }
    /* the key check confirms them all (one expiry for every entry): the order of use stands */
    assert_int_equal(authcache_retain(c, keep_all, NULL, authcache_epoch(c)), 0);
    /* every held key used again but tags[lru]: it is now the least used (whatever slot it
     * has), and a new key takes its place */
    int lru = (first + 3) % N; /* first + 3 < N: held >= 4 */
    for (int i = first; i < N; i++) {
        if (i != lru) {
            assert_true(authcache_get(c, tags[i], &out));
        }
    }
    uint8_t extra[AUTHCACHE_TAG_LEN];
    memset(extra, 0x5a, AUTHCACHE_TAG_LEN);
    extra[AUTHCACHE_TAG_LEN - 1] = 0xff;
    key_named(&k, "new");
    authcache_put(c, extra, &k, authcache_epoch(c));
    assert_false(authcache_get_stale(c, tags[lru], 600ull * 1000000000ull, &out));
    for (int i = first; i < N; i++) {
        if (i != lru) {
            assert_true(authcache_get(c, tags[i], &out));
        }
    }
    assert_true(authcache_get(c, extra, &out));
    assert_string_equal(out.id, "new");
    /* a key confirmed again (put) keeps its one entry: forgetting it forgets it */
    key_named(&k, "again");
    authcache_put(c, tags[first + 1], &k, authcache_epoch(c));
    authcache_forget(c, tags[first + 1]);
    assert_false(authcache_get_stale(c, tags[first + 1], 600ull * 1000000000ull, &out));
    authcache_free(c);
}

/* ---- the refreshers, against a fake database server (store_remote: ops->answering set) ---- */

/* The fake server: a key is active unless revoked was set when its lookup began (the
 * snapshot a SELECT takes); a lookup begun while hold is set waits for it to clear. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool hold, revoked;
    int held; /* lookups waiting on hold */
    atomic_int lookups;
} fake = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0, 0};

static bool fake_answering(struct store *s)
{
    (void)s;
    return true;
}

static int fake_find(struct store *s, const uint8_t hash[32], struct store_key *out,
                     struct err *err)
{
    (void)s;
    (void)hash;
    atomic_fetch_add(&fake.lookups, 1);
    pthread_mutex_lock(&fake.mu);
    bool revoked = fake.revoked;
    fake.held++;
    pthread_cond_broadcast(&fake.cv);
    while (fake.hold && !revoked) {
        pthread_cond_wait(&fake.cv, &fake.mu);
    }
    fake.held--;
    pthread_mutex_unlock(&fake.mu);
    if (revoked) {
        return err_set(err, ERR_UNAUTH, NULL, "unknown or revoked API key");
    }
    key_named(out, "k1");
    return 0;
}

static const struct store_ops fake_ops = {.key_find_by_hash = fake_find,
                                          .answering = fake_answering};

struct verify_call {
    struct authcache *c;
    struct store *store;
    const char *secret;
    int rc;
    struct err err;
};

static void *verify_thread(void *arg)
{
    struct verify_call *v = arg;
    struct store_key k;
    err_clear(&v->err);
    v->rc = authcache_verify(v->c, v->store, v->secret, false, &k, &v->err);
    return NULL;
}

/* A request sent after a revocation's clear does not take the answer of a lookup of the same
 * key begun before it (review code33 F5: it joined that lookup, whose snapshot predates the
 * revocation, and was served): it asks again and gets 401. The request of before may still
 * pass (it raced the revocation), and its answer is not cached (the epoch). */
static void test_lookup_before_clear_not_joined(void **state)
{
    (void)state;
    struct store st = {.ops = &fake_ops};
    struct authcache *c = authcache_new();
    pthread_mutex_lock(&fake.mu);
    fake.hold = true;
    fake.revoked = false;
    fake.held = 0;
    pthread_mutex_unlock(&fake.mu);
    struct verify_call a = {c, &st, "secret-of-k1", 0, {0}};
    struct verify_call b = a;
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, verify_thread, &a), 0);
    pthread_mutex_lock(&fake.mu);
    while (fake.held == 0) { /* a's lookup has begun (before the revocation) */
        pthread_cond_wait(&fake.cv, &fake.mu);
    }
    fake.revoked = true; /* the revocation commits */
    pthread_mutex_unlock(&fake.mu);
    authcache_clear(c, "k1");
    assert_int_equal(pthread_create(&tb, NULL, verify_thread, &b), 0);
    assert_int_equal(pthread_join(tb, NULL), 0); /* with the old join: waits for a's answer */
    pthread_mutex_lock(&fake.mu);
    fake.hold = false;
    pthread_cond_broadcast(&fake.cv);
    pthread_mutex_unlock(&fake.mu);
    assert_int_equal(pthread_join(ta, NULL), 0);
    if (b.rc != -1 || b.err.code != ERR_UNAUTH) {
        fail_msg("a request after the revocation: rc %d, %s", b.rc, b.err.msg);
    }
    uint8_t tag[AUTHCACHE_TAG_LEN];
    struct store_key out;
    authcache_tag(c, "secret-of-k1", strlen("secret-of-k1"), tag);
    assert_false(authcache_get_stale(c, tag, 600ull * 1000000000ull, &out));
    authcache_free(c);
}

struct burst {
    struct authcache *c;
    struct store *store;
    int keys;
    atomic_int next;
    atomic_int failed;
};

static void *burst_thread(void *arg)
{
    struct burst *b = arg;
    for (;;) {
        int i = atomic_fetch_add(&b->next, 1);
        if (i >= b->keys * 3) {
            return NULL;
        }
        char secret[32];
        snprintf(secret, sizeof(secret), "key-%d", i / 3); /* three requests per new key */
        struct store_key k;
        struct err err;
        err_clear(&err);
        if (authcache_verify(b->c, b->store, secret, true, &k, &err) != 0) {
            if (atomic_fetch_add(&b->failed, 1) == 0) {
                fprintf(stderr, "# first not served: %s\n", err.msg);
            }
        }
    }
}

/* New keys asked for by many threads at once, on a healthy server: every request is served
 * (review code33 F6: a waiter whose lookup's outcome the refresher's next lookup replaced
 * before it looked answered 503 "did not answer in time", about one first request in 250 on
 * two CPUs). Each request confirms (as the SDK routes do), so every one goes through a
 * refresher. */
static void test_new_keys_under_burst_served(void **state)
{
    (void)state;
    struct store st = {.ops = &fake_ops};
    pthread_mutex_lock(&fake.mu);
    fake.hold = false;
    fake.revoked = false;
    pthread_mutex_unlock(&fake.mu);
    enum { THREADS = 16 };
    int failed = 0, rounds = 0;
    for (; rounds < 5 && failed == 0; rounds++) {
        struct burst b = {.c = authcache_new(), .store = &st, .keys = 400};
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++) {
            assert_int_equal(pthread_create(&t[i], NULL, burst_thread, &b), 0);
        }
        for (int i = 0; i < THREADS; i++) {
            assert_int_equal(pthread_join(t[i], NULL), 0);
        }
        failed = atomic_load(&b.failed);
        authcache_free(b.c);
    }
    fprintf(stderr, "# %d rounds of 1,200 requests, %d not served\n", rounds, failed);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_clear),
        cmocka_unit_test(test_put_after_clear_dropped),
        cmocka_unit_test(test_clear_keeps_stale_but_not_revoked),
        cmocka_unit_test(test_forget_and_retain),
        cmocka_unit_test(test_retain_refreshes),
        cmocka_unit_test(test_many_keys_kept),
        cmocka_unit_test(test_full_set_gives_up_least_used),
        cmocka_unit_test(test_lookup_before_clear_not_joined),
        cmocka_unit_test(test_new_keys_under_burst_served),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
