/*
 * authcache.c - a cache of verified API keys (http_int.h), so that the hot path does not
 * query the database for the caller's key on every request, and keeps answering from memory
 * while the database does not.
 *
 * Entries are keyed by a 128-bit SipHash (libsodium's crypto_shorthash_siphashx24) of the
 * presented secret under a random key drawn when the cache is made, and are fresh for
 * AUTHCACHE_TTL_NS after the database last confirmed them; only successful lookups are cached.
 * The tag costs ~300 instructions where the SHA-256 the database needs costs ~4,000, and is as
 * good a cache key: without the process's SipHash key nobody can make another secret's tag
 * equal a cached one. Revoking through the API clears the cache at once
 * (http_server_forget_keys), and a lookup that began before the clear puts nothing (the
 * epoch); a revocation by `bunsen keys revoke` in another process takes effect at the
 * daemon's next key check (once a second).
 *
 * The key check, once a second and off the request path, confirms every cached key still
 * active (its freshness starts again: authcache_retain) and empties the slots of keys no
 * longer active, whether or not they were presented since the revocation. So while the
 * database answers, a key in use is fresh and no request asks the database for it.
 *
 * An entry outlives its freshness: for AUTHCACHE_STALE_NS (10 minutes) it still
 * authenticates while the database does not answer (authcache_verify). A request that finds
 * only a stale entry hands the lookup to the cache's refresher thread and waits for it at
 * most AUTHCACHE_WAIT_NS (200 ms), or not at all when the refresher has been waiting for the
 * database that long already; without an answer in time the stale entry authenticates. The
 * answer, when it comes, updates the entry: a key found revoked is forgotten (the next request
 * answers 401), one found active is fresh again. A hung database (up, not answering) thus
 * costs /assign and the SDK routes at most one 200 ms wait per refresher lookup, instead of a
 * lookup bounded only by --db-timeout on every MHD thread (which starved /healthz too). A key
 * not in the cache at all is looked up on the request's thread, as before.
 *
 *   request: fresh entry ----------------------------------------------> key
 *            stale entry --refresher (<= 200 ms)--> found / not found / no answer (stale key)
 *            no entry ------store_key_find_by_hash on this thread-------> found / not found
 *
 * Threads: MHD's threads and offload threads (get, verify), the publisher's key check
 * (retain), API revocations (clear), and the refresher thread (started on first need,
 * joined by authcache_free). Striped mutexes for the slots (the critical sections copy a few
 * bytes); the refresher's own mutex for its one job.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "bunsen/util.h"
#include "http_int.h"

#define AC_SLOTS           1024
#define AC_STRIPES         32
#define AUTHCACHE_TTL_NS   1000000000ull
#define AUTHCACHE_STALE_NS (600ull * 1000000000ull)
#define AUTHCACHE_WAIT_NS  200000000ull

/* The refresher: one lookup at a time (job j, numbered seq), its outcome kept until the next
 * one finishes. seq == done: idle. */
struct ac_refresher {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* a job was posted, or stop */
    pthread_cond_t done; /* a job finished */
    pthread_t th;
    bool started, stop;
    uint64_t seq, done_seq;
    struct {
        struct store *store;
        uint8_t tag[AUTHCACHE_TAG_LEN];
        uint8_t hash[AUTH_HASH_LEN];
        uint64_t epoch;     /* authcache_epoch when posted */
        uint64_t posted_ns; /* when posted: how long the database has kept it waiting */
    } j;
    int rc; /* the outcome of job done_seq: store_key_find_by_hash's rc, key and err */
    struct store_key key;
    struct err err;
};

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
    struct ac_refresher rf;
};

struct authcache *authcache_new(void)
{
    struct authcache *c = xcalloc(1, sizeof(*c));
    randombytes_buf(c->siphash_key, sizeof(c->siphash_key));
    for (int i = 0; i < AC_STRIPES; i++) {
        pthread_mutex_init(&c->mu[i], NULL);
    }
    pthread_mutex_init(&c->rf.mu, NULL);
    pthread_cond_init(&c->rf.wake, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines from time_mono_ns */
    pthread_cond_init(&c->rf.done, &ca);
    pthread_condattr_destroy(&ca);
    return c;
}

void authcache_free(struct authcache *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->rf.mu);
    bool started = c->rf.started;
    c->rf.stop = true;
    pthread_cond_signal(&c->rf.wake);
    pthread_mutex_unlock(&c->rf.mu);
    if (started) {
        pthread_join(c->rf.th, NULL); /* a lookup under way ends within --db-timeout */
    }
    pthread_cond_destroy(&c->rf.wake);
    pthread_cond_destroy(&c->rf.done);
    pthread_mutex_destroy(&c->rf.mu);
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
    uint64_t fresh = time_mono_ns() + AUTHCACHE_TTL_NS;
    for (int k = 0; k < AC_STRIPES; k++) {
        pthread_mutex_lock(&c->mu[k]);
        for (size_t i = (size_t)k; i < AC_SLOTS; i += AC_STRIPES) {
            /* expired entries too: they are the ones an outage would still accept */
            if (c->slots[i].expires_ns == 0) {
                continue;
            }
            if (!keep(&c->slots[i].key, ctx)) {
                c->slots[i].expires_ns = 0;
                dropped++;
            } else if (c->slots[i].expires_ns < fresh) {
                c->slots[i].expires_ns = fresh; /* confirmed: fresh for another TTL */
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

/* ---- verification through the refresher ---- */

static void apply_outcome(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN], int rc,
                          const struct store_key *k, const struct err *err, uint64_t epoch)
{
    if (rc == 0) {
        authcache_put(c, tag, k, epoch);
    } else if (err->code != ERR_UNAVAILABLE && err->code != ERR_INTERNAL) {
        /* no active key: a verification cached before the revocation must not authenticate
         * it again while the database does not answer */
        authcache_forget(c, tag);
    }
}

static void *refresher_main(void *arg)
{
    struct authcache *c = arg;
    struct ac_refresher *rf = &c->rf;
    pthread_mutex_lock(&rf->mu);
    for (;;) {
        while (!rf->stop && rf->seq == rf->done_seq) {
            pthread_cond_wait(&rf->wake, &rf->mu);
        }
        if (rf->stop) {
            break;
        }
        uint64_t seq = rf->seq;
        struct store *store = rf->j.store;
        uint8_t tag[AUTHCACHE_TAG_LEN], hash[AUTH_HASH_LEN];
        memcpy(tag, rf->j.tag, sizeof(tag));
        memcpy(hash, rf->j.hash, sizeof(hash));
        uint64_t epoch = rf->j.epoch;
        pthread_mutex_unlock(&rf->mu);

        struct store_key k;
        struct err err;
        err_clear(&err);
        memset(&k, 0, sizeof(k));
        int rc = store_key_find_by_hash(store, hash, &k, &err);
        apply_outcome(c, tag, rc, &k, &err, epoch);
        sodium_memzero(hash, sizeof(hash));

        pthread_mutex_lock(&rf->mu);
        rf->rc = rc;
        rf->key = k;
        rf->err = err;
        rf->done_seq = seq;
        pthread_cond_broadcast(&rf->done);
    }
    pthread_mutex_unlock(&rf->mu);
    return NULL;
}

/* Wait on done until deadline (monotonic ns): false when it passed. */
static bool wait_done(struct ac_refresher *rf, uint64_t deadline)
{
    if (time_mono_ns() >= deadline) {
        return false;
    }
    struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
                          .tv_nsec = (long)(deadline % 1000000000u)};
    return pthread_cond_timedwait(&rf->done, &rf->mu, &ts) == 0 || time_mono_ns() < deadline;
}

enum refresh_rc { REFRESH_ANSWERED, REFRESH_NO_ANSWER, REFRESH_NO_THREAD };

/* The database's answer for (tag, hash) through the refresher, waited for until at most
 * AUTHCACHE_WAIT_NS from now and from when the lookup under way was posted: ANSWERED with
 * *rc, *k and *err; NO_ANSWER when none came in time (the lookup goes on; its answer updates
 * the cache); NO_THREAD when the refresher cannot start. */
static enum refresh_rc refresh(struct authcache *c, struct store *store,
                               const uint8_t tag[AUTHCACHE_TAG_LEN],
                               const uint8_t hash[AUTH_HASH_LEN], int *rc, struct store_key *k,
                               struct err *err)
{
    struct ac_refresher *rf = &c->rf;
    uint64_t now = time_mono_ns();
    /* other statements wait for the database already: ask (the answer renews or empties the
     * entry when it comes), and go on without waiting */
    uint64_t deadline = store_answering(store) ? now + AUTHCACHE_WAIT_NS : now;
    enum refresh_rc out = REFRESH_NO_ANSWER;
    pthread_mutex_lock(&rf->mu);
    if (!rf->started) {
        if (rf->stop || thread_start(&rf->th, refresher_main, c) != 0) {
            pthread_mutex_unlock(&rf->mu);
            return REFRESH_NO_THREAD;
        }
        rf->started = true;
    }
    uint64_t mine = 0;
    while (mine == 0) {
        if (rf->seq == rf->done_seq) { /* idle: post ours */
            rf->j.store = store;
            memcpy(rf->j.tag, tag, AUTHCACHE_TAG_LEN);
            memcpy(rf->j.hash, hash, AUTH_HASH_LEN);
            rf->j.epoch = authcache_epoch(c);
            rf->j.posted_ns = time_mono_ns();
            mine = ++rf->seq;
            pthread_cond_signal(&rf->wake);
            break;
        }
        /* a lookup under way for as long as we wait: the database is not answering */
        uint64_t busy_until = rf->j.posted_ns + AUTHCACHE_WAIT_NS;
        if (sodium_memcmp(rf->j.tag, tag, AUTHCACHE_TAG_LEN) == 0) {
            mine = rf->seq; /* the same key under way: its answer is ours */
            if (busy_until < deadline) {
                deadline = busy_until;
            }
            break;
        }
        if (!wait_done(rf, busy_until < deadline ? busy_until : deadline)) {
            goto out;
        }
    }
    while (rf->done_seq < mine) {
        if (!wait_done(rf, deadline)) {
            goto out;
        }
    }
    if (rf->done_seq == mine) {
        *rc = rf->rc;
        *k = rf->key;
        *err = rf->err;
        out = REFRESH_ANSWERED;
    } /* else a later lookup's outcome replaced ours: ours is in the cache */
out:
    pthread_mutex_unlock(&rf->mu);
    return out;
}

int authcache_verify(struct authcache *c, struct store *store, const char *secret, bool confirm,
                     struct store_key *out, struct err *err)
{
    size_t len = strlen(secret);
    /* the cache is keyed by a cheap keyed tag; SHA-256 (what the database keeps) only when
     * the database is asked */
    uint8_t tag[AUTHCACHE_TAG_LEN], hash[AUTH_HASH_LEN];
    authcache_tag(c, secret, len > AUTHCACHE_SECRET_MAX ? AUTHCACHE_SECRET_MAX : len, tag);
    if (len > AUTHCACHE_SECRET_MAX) {
        return err_set(err, ERR_UNAUTH, NULL, "unknown or revoked API key");
    }
    if (!confirm && authcache_get(c, tag, out)) {
        return 0;
    }
    auth_key_hash(secret, len, hash);
    int rc = -1;
    if (authcache_get_stale(c, tag, AUTHCACHE_STALE_NS, out)) {
        struct err e;
        err_clear(&e);
        switch (refresh(c, store, tag, hash, &rc, out, &e)) {
        case REFRESH_ANSWERED:
            if (rc == 0) {
                goto out;
            }
            if (e.code != ERR_UNAVAILABLE) {
                *err = e; /* revoked (forgotten), or a fault of ours */
                goto out;
            }
            break;
        case REFRESH_NO_ANSWER:
            break;
        case REFRESH_NO_THREAD:
            goto lookup_here;
        }
        /* no answer in time, or the database unreachable: the cached entry, unless the
         * answer came meanwhile and emptied it */
        if (authcache_get_stale(c, tag, AUTHCACHE_STALE_NS, out)) {
            rc = 0;
            goto out;
        }
    }
lookup_here:;
    uint64_t epoch = authcache_epoch(c);
    rc = store_key_find_by_hash(store, hash, out, err);
    if (rc != 0 && err->code == ERR_UNAVAILABLE &&
        authcache_get_stale(c, tag, AUTHCACHE_STALE_NS, out)) {
        /* the database unreachable: a key verified in the last 10 minutes still
         * authenticates (found revoked since, it is no longer in the cache) */
        err_clear(err);
        rc = 0;
        goto out;
    }
    apply_outcome(c, tag, rc, out, err, epoch);
out:
    sodium_memzero(hash, sizeof(hash));
    return rc;
}
