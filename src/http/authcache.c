/*
 * authcache.c - a short-lived cache of verified API keys (http_int.h), so that the hot
 * path does not query SQLite for the caller's key on every request.
 *
 * Entries are keyed by the SHA-256 of the presented secret and live AUTHCACHE_TTL_NS; only
 * successful lookups are cached. Revoking through the API clears the cache at once
 * (http_server_forget_keys); a revocation by `bunsen keys revoke` in another process takes
 * effect within the TTL. Striped mutexes; the critical sections copy a few bytes.
 */
#include <pthread.h>
#include <string.h>

#include "bunsen/util.h"
#include "http_int.h"

#define AC_SLOTS         1024
#define AC_STRIPES       32
#define AUTHCACHE_TTL_NS 1000000000ull

struct ac_slot {
    uint8_t hash[AUTH_HASH_LEN];
    struct store_key key;
    uint64_t expires_ns; /* 0 = empty */
};

struct authcache {
    pthread_mutex_t mu[AC_STRIPES];
    struct ac_slot slots[AC_SLOTS];
};

struct authcache *authcache_new(void)
{
    struct authcache *c = xcalloc(1, sizeof(*c));
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
    free(c);
}

static size_t slot_of(const uint8_t hash[AUTH_HASH_LEN])
{
    size_t h;
    memcpy(&h, hash, sizeof(h)); /* SHA-256 bytes are uniformly distributed */
    return h % AC_SLOTS;
}

bool authcache_get(struct authcache *c, const uint8_t hash[AUTH_HASH_LEN], struct store_key *out)
{
    size_t i = slot_of(hash);
    pthread_mutex_t *mu = &c->mu[i % AC_STRIPES];
    bool hit = false;
    pthread_mutex_lock(mu);
    struct ac_slot *s = &c->slots[i];
    if (s->expires_ns > time_mono_ns() && auth_hash_equal(s->hash, hash)) {
        *out = s->key;
        hit = true;
    }
    pthread_mutex_unlock(mu);
    return hit;
}

void authcache_put(struct authcache *c, const uint8_t hash[AUTH_HASH_LEN],
                   const struct store_key *key)
{
    size_t i = slot_of(hash);
    pthread_mutex_t *mu = &c->mu[i % AC_STRIPES];
    pthread_mutex_lock(mu);
    struct ac_slot *s = &c->slots[i];
    memcpy(s->hash, hash, AUTH_HASH_LEN);
    s->key = *key;
    s->expires_ns = time_mono_ns() + AUTHCACHE_TTL_NS;
    pthread_mutex_unlock(mu);
}

void authcache_clear(struct authcache *c)
{
    for (int k = 0; k < AC_STRIPES; k++) {
        pthread_mutex_lock(&c->mu[k]);
        for (size_t i = (size_t)k; i < AC_SLOTS; i += AC_STRIPES) {
            c->slots[i].expires_ns = 0;
        }
        pthread_mutex_unlock(&c->mu[k]);
    }
}
