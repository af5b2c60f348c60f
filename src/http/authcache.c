/*
 * authcache.c - a short-lived cache of verified API keys (http_int.h), so that the hot
 * path does not query SQLite for the caller's key on every request.
 *
 * Entries are keyed by a 128-bit SipHash (libsodium's crypto_shorthash_siphashx24) of the
 * presented secret under a random key drawn when the cache is made, and live
 * AUTHCACHE_TTL_NS; only successful lookups are cached. The tag costs ~300 instructions where
 * the SHA-256 the database needs costs ~4,000, and is as good a cache key: without the
 * process's SipHash key nobody can make another secret's tag equal a cached one. Revoking through
 * the API clears the cache at once (http_server_forget_keys), and a lookup that began before
 * the clear puts nothing (the epoch); a revocation by `bunsen keys revoke`
 * in another process takes effect within the TTL. Striped mutexes; the critical sections copy a few
 * bytes.
 *
 * An entry outlives its TTL: while the database is unreachable it still authenticates for a
 * while (authcache_get_stale). So an entry must not outlive its key either: a lookup that
 * finds no active key empties the presented key's slot (authcache_forget), and the daemon's
 * key check, once a second, empties the slots of keys no longer active (authcache_retain),
 * whether or not they were presented since the revocation.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "bunsen/util.h"
#include "http_int.h"

#define AC_SLOTS         1024
#define AC_STRIPES       32
#define AUTHCACHE_TTL_NS 1000000000ull

struct ac_slot {
    uint8_t tag[AUTHCACHE_TAG_LEN];
    struct store_key key;
    uint64_t expires_ns; /* 0 = empty */
};

struct authcache {
    unsigned char siphash_key[crypto_shorthash_siphashx24_KEYBYTES];
    pthread_mutex_t mu[AC_STRIPES];
    struct ac_slot slots[AC_SLOTS];
    _Atomic uint64_t epoch; /* clears so far */
};

struct authcache *authcache_new(void)
{
    struct authcache *c = xcalloc(1, sizeof(*c));
    randombytes_buf(c->siphash_key, sizeof(c->siphash_key));
    for (int i = 0; i < AC_STRIPES; i++) {
        pthread_mutex_init(&c->mu[i], NULL);
    }
    return c;
}

void authcache_free(struct authcache *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < AC_STRIPES; i++) {
        pthread_mutex_destroy(&c->mu[i]);
    }
    sodium_memzero(c->siphash_key, sizeof(c->siphash_key));
    free(c);
}

void authcache_tag(const struct authcache *c, const char *secret, size_t len,
                   uint8_t tag[AUTHCACHE_TAG_LEN])
{
    crypto_shorthash_siphashx24(tag, (const unsigned char *)secret, len, c->siphash_key);
}

static size_t slot_of(const uint8_t tag[AUTHCACHE_TAG_LEN])
{
    size_t h;
    memcpy(&h, tag, sizeof(h)); /* PRF output: uniformly distributed */
    return h % AC_SLOTS;
}

bool authcache_get(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN], struct store_key *out)
{
    return authcache_get_stale(c, tag, 0, out);
}

bool authcache_get_stale(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN],
                         uint64_t stale_ns, struct store_key *out)
{
    size_t i = slot_of(tag);
    pthread_mutex_t *mu = &c->mu[i % AC_STRIPES];
    bool hit = false;
    pthread_mutex_lock(mu);
    struct ac_slot *s = &c->slots[i];
    if (s->expires_ns != 0 && s->expires_ns + stale_ns > time_mono_ns() &&
        sodium_memcmp(s->tag, tag, AUTHCACHE_TAG_LEN) == 0) {
        *out = s->key;
        hit = true;
    }
    pthread_mutex_unlock(mu);
    return hit;
}

uint64_t authcache_epoch(struct authcache *c)
{
    return atomic_load(&c->epoch);
}

void authcache_put(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN],
                   const struct store_key *key, uint64_t epoch)
{
    size_t i = slot_of(tag);
    pthread_mutex_t *mu = &c->mu[i % AC_STRIPES];
    pthread_mutex_lock(mu);
    /* a clear moves the epoch before it empties this stripe under its mutex: either the
     * clear sees this entry and empties it, or this put sees the new epoch */
    if (atomic_load(&c->epoch) != epoch) {
        pthread_mutex_unlock(mu);
        return;
    }
    struct ac_slot *s = &c->slots[i];
    memcpy(s->tag, tag, AUTHCACHE_TAG_LEN);
    s->key = *key;
    s->expires_ns = time_mono_ns() + AUTHCACHE_TTL_NS;
    pthread_mutex_unlock(mu);
}

void authcache_forget(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN])
{
    size_t i = slot_of(tag);
    pthread_mutex_t *mu = &c->mu[i % AC_STRIPES];
    pthread_mutex_lock(mu);
    struct ac_slot *s = &c->slots[i];
    if (s->expires_ns != 0 && sodium_memcmp(s->tag, tag, AUTHCACHE_TAG_LEN) == 0) {
        s->expires_ns = 0;
    }
    pthread_mutex_unlock(mu);
}

size_t authcache_retain(struct authcache *c, bool (*keep)(const struct store_key *k, void *ctx),
                        void *ctx)
{
    size_t dropped = 0;
    for (int k = 0; k < AC_STRIPES; k++) {
        pthread_mutex_lock(&c->mu[k]);
        for (size_t i = (size_t)k; i < AC_SLOTS; i += AC_STRIPES) {
            /* expired entries too: they are the ones an outage would still accept */
            if (c->slots[i].expires_ns != 0 && !keep(&c->slots[i].key, ctx)) {
                c->slots[i].expires_ns = 0;
                dropped++;
            }
        }
        pthread_mutex_unlock(&c->mu[k]);
    }
    return dropped;
}

void authcache_clear(struct authcache *c)
{
    atomic_fetch_add(&c->epoch, 1);
    for (int k = 0; k < AC_STRIPES; k++) {
        pthread_mutex_lock(&c->mu[k]);
        for (size_t i = (size_t)k; i < AC_SLOTS; i += AC_STRIPES) {
            c->slots[i].expires_ns = 0;
        }
        pthread_mutex_unlock(&c->mu[k]);
    }
}
