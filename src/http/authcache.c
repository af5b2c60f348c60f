/*
 * authcache.c - a cache of verified API keys (http_int.h), so that the hot path does not
 * query the database for the caller's key on every request, and keeps answering from memory
 * while the database does not.
 *
 * Entries are keyed by a 128-bit SipHash (libsodium's crypto_shorthash_siphashx24) of the
 * presented secret under a random key drawn when the cache is made, held in AC_SETS sets of
 * AC_WAYS entries (a tag's set from its first bytes; a full set gives up the entry used
 * longest ago), and are fresh for
 * AUTHCACHE_TTL_NS after the database last confirmed them; only successful lookups are cached.
 * The tag costs ~300 instructions where the SHA-256 the database needs costs ~4,000, and is as
 * good a cache key: without the process's SipHash key nobody can make another secret's tag
 * equal a cached one. Revoking through the API clears the cache at once
 * (http_server_recheck_keys: authcache_clear), and a lookup that began before the clear puts
 * nothing (the epoch); a revocation by `bunsen keys revoke` in another process, or through
 * another daemon's API, takes effect at the daemon's next key check (once a second), or at
 * once on a SIGHUP (a clear too).
 *
 * A clear empties the revoked key's entries (found by its id) and makes every other entry
 * stale: each key's next use asks the database (its answer, revoked or active, counts at
 * once), and while the database does not answer the entry still authenticates for the rest
 * of its 10 minutes. Emptying them all instead threw the outage grace away for every key on
 * each API revocation or SIGHUP (logrotate). What a stale entry cannot know is a revocation
 * elsewhere (the CLI, another daemon) while this daemon cannot read the keys: one made in
 * the second before the database became unreachable, not yet seen by the key check, still
 * authenticates here until its 10 minutes end (SECURITY.md).
 *
 * The key check, once a second and off the request path, confirms every cached key still
 * active (its freshness starts again: authcache_retain) and empties the slots of keys no
 * longer active, whether or not they were presented since the revocation. So while the
 * database answers, a key in use is fresh and no request asks the database for it.
 *
 * An entry outlives its freshness: for AUTHCACHE_STALE_NS (10 minutes) it still
 * authenticates while the database does not answer (authcache_verify). On PostgreSQL a
 * request that finds only a stale entry (or a fresh one it must confirm: the SDK routes) hands
 * the lookup to one of the cache's refresher threads and waits for it at most
 * AUTHCACHE_WAIT_NS (200 ms), or not at all when every refresher has been waiting for the
 * database that long already, or other statements have (store_answering); without an answer
 * in time the entry authenticates. The answer, when it comes, updates the entry: a key found
 * revoked is forgotten (the next request answers 401), one found active is fresh again. A
 * hung database (up, not answering) thus costs /assign and the SDK routes at most a 200 ms
 * wait, instead of a lookup bounded only by --db-timeout on every MHD thread (which starved
 * /healthz too). A key not in the cache at all goes through a refresher as well on PostgreSQL
 * (without an answer in time: 503), and every key on SQLite is looked up on the request's
 * thread (a file of this host: no server to wait for, and a read there costs less than the
 * hand-over).
 *
 *   request: fresh entry ----------------------------------------------> key
 *            stale entry --refresher (<= 200 ms)--> found / not found / no answer (the entry)
 *            no entry ----refresher (<= 200 ms)---> found / not found / no answer (503)
 *            SQLite, not fresh: store_key_find_by_hash on this thread --> found / not found
 *
 * Threads: MHD's threads and offload threads (get, verify), the publisher's key check
 * (retain), API revocations and SIGHUP (clear), and AC_REFRESHERS refresher threads (started on
 * first need, joined by authcache_free). Striped mutexes for the slots (the critical sections copy
 * a few bytes); the refreshers' own mutex for their jobs.
 *
 * The cache was once direct-mapped (1,024 slots, one per tag): two keys in use whose tags fell
 * in one slot took it from each other, so one of them was looked up again on most requests
 * and, in an outage, refused for want of an entry (about one pair in 1,000 for two keys; most
 * deployments of 50 keys had one). RELIABILITY.md AV.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bunsen/util.h"
#include "http_int.h"

/* 4,096 entries: 1,000 keys in use overflow no set (AC_WAYS + 1 in one set: 2 chances in
 * 10,000), 300 none in a billion; each a ~250-byte slot */
#define AC_SETS            256
#define AC_WAYS            16
#define AC_SLOTS           (AC_SETS * AC_WAYS)
#define AC_STRIPES         32 /* a set's mutex: set % AC_STRIPES */
#define AUTHCACHE_TTL_NS   1000000000ull
#define AUTHCACHE_STALE_NS (600ull * 1000000000ull)
#define AUTHCACHE_WAIT_NS  200000000ull

#define AC_REFRESHERS 4 /* lookups at once: as many as MHD's threads ask in parallel */

/* A request waiting for a job's outcome (on its own stack, linked to the job under
 * ac_refresher.mu): the refresher fills it in when the lookup ends, so a later job of that
 * refresher never takes the answer away from a waiter that was slow to wake (review code33
 * F6: the outcome was kept in the job until its next one, and a waiter descheduled that long
 * answered 503 for a healthy key). One that stops waiting unlinks itself. */
struct ac_waiter {
    struct ac_waiter *next;
    bool done;
    int rc; /* store_key_find_by_hash's rc, key and err */
    struct store_key key;
    struct err err;
};

/* A refresher thread's job: one lookup at a time (numbered seq). seq == done_seq: idle.
 * Under ac_refresher.mu. */
struct ac_job {
    pthread_cond_t wake; /* this job was posted, or stop */
    struct store *store;
    uint8_t tag[AUTHCACHE_TAG_LEN];
    uint8_t hash[AUTH_HASH_LEN];
    uint64_t epoch;     /* authcache_epoch when posted */
    uint64_t posted_ns; /* when posted: how long the database has kept it waiting */
    uint64_t seq, done_seq;
    struct ac_waiter *waiters; /* of job seq, while under way */
};

/* The refresher threads, each with its job (started together on first need). */
struct ac_refresher {
    pthread_mutex_t mu;
    pthread_cond_t done; /* a job finished */
    pthread_t th[AC_REFRESHERS];
    int nstarted;
    bool stop;
    struct ac_job jobs[AC_REFRESHERS];
};

struct ac_slot {
    uint8_t tag[AUTHCACHE_TAG_LEN];
    uint64_t used; /* its set's clock when last found or put: the least is given up */
    struct store_key key;
    uint64_t expires_ns; /* 0 = empty */
};

struct authcache {
    unsigned char siphash_key[crypto_shorthash_siphashx24_KEYBYTES];
    pthread_mutex_t mu[AC_STRIPES];
    struct ac_slot slots[AC_SLOTS];
    uint64_t clock[AC_SETS]; /* per set, under its stripe's mutex: ac_slot.used */
    _Atomic uint64_t epoch;  /* clears so far */
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
    for (int i = 0; i < AC_REFRESHERS; i++) {
        pthread_cond_init(&c->rf.jobs[i].wake, NULL);
    }
    cond_init_monotonic(&c->rf.done); /* deadlines from time_mono_ns */
    return c;
}

void authcache_free(struct authcache *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->rf.mu);
    int started = c->rf.nstarted;
    c->rf.stop = true;
    for (int i = 0; i < AC_REFRESHERS; i++) {
        pthread_cond_signal(&c->rf.jobs[i].wake);
    }
    pthread_mutex_unlock(&c->rf.mu);
    for (int i = 0; i < started; i++) {
        pthread_join(c->rf.th[i], NULL); /* a lookup under way ends within --db-timeout */
    }
    for (int i = 0; i < AC_REFRESHERS; i++) {
        pthread_cond_destroy(&c->rf.jobs[i].wake);
    }
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

/* The first slot of tag's set (its AC_WAYS slots follow). */
static size_t set_of(const uint8_t tag[AUTHCACHE_TAG_LEN])
{
    size_t h;
    memcpy(&h, tag, sizeof(h)); /* PRF output: uniformly distributed */
    return (h % AC_SETS) * AC_WAYS;
}

static pthread_mutex_t *set_mutex(struct authcache *c, size_t set)
{
    return &c->mu[(set / AC_WAYS) % AC_STRIPES];
}

/* The slots of stripe k's sets in order: i = first_in_stripe(k); i < AC_SLOTS;
 * i = next_in_stripe(i) (sets k, k + AC_STRIPES, ...). */
static size_t first_in_stripe(int k)
{
    return (size_t)k * AC_WAYS;
}

static size_t next_in_stripe(size_t i)
{
    return i % AC_WAYS == AC_WAYS - 1 ? i + 1 + (AC_STRIPES - 1) * AC_WAYS : i + 1;
}

/* tag's entry in the set that starts at set (under its mutex), expired ones too; NULL when
 * none. */
static struct ac_slot *find_in(struct authcache *c, size_t set,
                               const uint8_t tag[AUTHCACHE_TAG_LEN])
{
    for (size_t w = 0; w < AC_WAYS; w++) {
        struct ac_slot *s = &c->slots[set + w];
        if (s->expires_ns != 0 && sodium_memcmp(s->tag, tag, AUTHCACHE_TAG_LEN) == 0) {
            return s;
        }
    }
    return NULL;
}

bool authcache_get(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN], struct store_key *out)
{
    return authcache_get_stale(c, tag, 0, out);
}

bool authcache_get_stale(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN],
                         uint64_t stale_ns, struct store_key *out)
{
    size_t set = set_of(tag);
    pthread_mutex_t *mu = set_mutex(c, set);
    bool hit = false;
    pthread_mutex_lock(mu);
    struct ac_slot *s = find_in(c, set, tag);
    if (s != NULL && s->expires_ns + stale_ns > time_mono_ns()) {
        *out = s->key;
        /* unless it is the set's last used already: one key used over and over writes
         * nothing (the slot's line stays shared between the MHD threads) */
        if (s->used != c->clock[set / AC_WAYS]) {
            s->used = ++c->clock[set / AC_WAYS];
        }
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
    size_t set = set_of(tag);
    pthread_mutex_t *mu = set_mutex(c, set);
    pthread_mutex_lock(mu);
    /* a clear moves the epoch before it empties this stripe under its mutex: either the
     * clear sees this entry and empties it, or this put sees the new epoch */
    if (atomic_load(&c->epoch) != epoch) {
        pthread_mutex_unlock(mu);
        return;
    }
    /* its own entry, else an empty slot, else the one used longest ago (not the one
     * confirmed longest ago: the key check confirms them all at once) */
    struct ac_slot *s = find_in(c, set, tag);
    for (size_t w = 0; s == NULL && w < AC_WAYS; w++) {
        if (c->slots[set + w].expires_ns == 0) {
            s = &c->slots[set + w];
        }
    }
    if (s == NULL) {
        s = &c->slots[set];
        for (size_t w = 1; w < AC_WAYS; w++) {
            if (c->slots[set + w].used < s->used) {
                s = &c->slots[set + w];
            }
        }
    }
    memcpy(s->tag, tag, AUTHCACHE_TAG_LEN);
    s->key = *key;
    s->used = ++c->clock[set / AC_WAYS];
    s->expires_ns = time_mono_ns() + AUTHCACHE_TTL_NS;
    pthread_mutex_unlock(mu);
}

void authcache_forget(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN])
{
    size_t set = set_of(tag);
    pthread_mutex_t *mu = set_mutex(c, set);
    pthread_mutex_lock(mu);
    struct ac_slot *s = find_in(c, set, tag);
    if (s != NULL) {
        s->expires_ns = 0;
    }
    pthread_mutex_unlock(mu);
}

size_t authcache_retain(struct authcache *c, bool (*keep)(const struct store_key *k, void *ctx),
                        void *ctx, uint64_t epoch)
{
    size_t dropped = 0;
    uint64_t fresh = time_mono_ns() + AUTHCACHE_TTL_NS;
    for (int k = 0; k < AC_STRIPES; k++) {
        pthread_mutex_lock(&c->mu[k]);
        /* a clear since the active keys were read (its epoch moves before it takes this
         * stripe) asked for a confirmation newer than that list: it empties, it does not
         * renew */
        bool renew = atomic_load(&c->epoch) == epoch;
        for (size_t i = first_in_stripe(k); i < AC_SLOTS; i = next_in_stripe(i)) {
            /* expired entries too: they are the ones an outage would still accept */
            if (c->slots[i].expires_ns == 0) {
                continue;
            }
            if (!keep(&c->slots[i].key, ctx)) {
                c->slots[i].expires_ns = 0;
                dropped++;
            } else if (renew && c->slots[i].expires_ns < fresh) {
                c->slots[i].expires_ns = fresh; /* confirmed: fresh for another TTL */
            }
        }
        pthread_mutex_unlock(&c->mu[k]);
    }
    return dropped;
}

void authcache_clear(struct authcache *c, const char *revoked_id)
{
    /* the epoch first: a lookup under way (begun before a revocation committed) then puts
     * nothing, whether this walk has passed its slot yet or not */
    atomic_fetch_add(&c->epoch, 1);
    uint64_t now = time_mono_ns();
    for (int k = 0; k < AC_STRIPES; k++) {
        pthread_mutex_lock(&c->mu[k]);
        for (size_t i = first_in_stripe(k); i < AC_SLOTS; i = next_in_stripe(i)) {
            struct ac_slot *s = &c->slots[i];
            if (s->expires_ns == 0) {
                continue;
            }
            if (revoked_id != NULL && strcmp(s->key.id, revoked_id) == 0) {
                s->expires_ns = 0; /* the revoked key: not even in an outage */
            } else if (s->expires_ns > now) {
                /* no longer fresh (its next use asks the database), still the outage's
                 * fallback for the rest of its 10 minutes */
                s->expires_ns = now;
            }
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

struct ac_worker {
    struct authcache *c;
    int i; /* its job: c->rf.jobs[i] */
};

static void *refresher_main(void *arg)
{
    struct ac_worker w = *(struct ac_worker *)arg;
    free(arg);
    struct ac_refresher *rf = &w.c->rf;
    struct ac_job *j = &rf->jobs[w.i];
    pthread_mutex_lock(&rf->mu);
    for (;;) {
        while (!rf->stop && j->seq == j->done_seq) {
            pthread_cond_wait(&j->wake, &rf->mu);
        }
        if (rf->stop) {
            break;
        }
        uint64_t seq = j->seq;
        struct store *store = j->store;
        uint8_t tag[AUTHCACHE_TAG_LEN], hash[AUTH_HASH_LEN];
        memcpy(tag, j->tag, sizeof(tag));
        memcpy(hash, j->hash, sizeof(hash));
        uint64_t epoch = j->epoch;
        pthread_mutex_unlock(&rf->mu);

        struct store_key k;
        struct err err;
        err_clear(&err);
        memset(&k, 0, sizeof(k));
        int rc = store_key_find_by_hash(store, hash, &k, &err);
        apply_outcome(w.c, tag, rc, &k, &err, epoch);
        sodium_memzero(hash, sizeof(hash));

        pthread_mutex_lock(&rf->mu);
        for (struct ac_waiter *x = j->waiters; x != NULL; x = x->next) {
            x->rc = rc;
            x->key = k;
            x->err = err;
            x->done = true;
        }
        j->waiters = NULL;
        j->done_seq = seq;
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

/* Start the refresher threads (under rf->mu): false when none could start. */
static bool refreshers_start(struct authcache *c)
{
    struct ac_refresher *rf = &c->rf;
    while (!rf->stop && rf->nstarted < AC_REFRESHERS) {
        struct ac_worker *w = xcalloc(1, sizeof(*w));
        *w = (struct ac_worker){c, rf->nstarted};
        if (thread_start(&rf->th[rf->nstarted], refresher_main, w) != 0) {
            free(w);
            break;
        }
        rf->nstarted++;
    }
    return rf->nstarted > 0;
}

enum refresh_rc { REFRESH_ANSWERED, REFRESH_NO_ANSWER, REFRESH_NO_THREAD };

/* The database's answer for (tag, hash) through a refresher thread, waited for until at most
 * AUTHCACHE_WAIT_NS from now and from when the lookup for the same key under way was posted:
 * ANSWERED with *rc, *k and *err; NO_ANSWER when none came in time (the lookup goes on; its
 * answer updates the cache), at once when every refresher has waited that long already;
 * NO_THREAD when no refresher can start.
 *
 * A lookup under way for the same key is joined only if it was posted since the cache's last
 * clear (review code33 F5: one posted before a revocation answered "active" from a snapshot
 * older than the revocation, and a request sent after the revocation's 200 that joined it was
 * served). */
static enum refresh_rc refresh(struct authcache *c, struct store *store,
                               const uint8_t tag[AUTHCACHE_TAG_LEN],
                               const uint8_t hash[AUTH_HASH_LEN], int *rc, struct store_key *k,
                               struct err *err)
{
    struct ac_refresher *rf = &c->rf;
    uint64_t now = time_mono_ns();
    uint64_t epoch = authcache_epoch(c);
    /* other statements wait for the database already: ask (the answer renews or empties the
     * entry when it comes), and go on without waiting */
    uint64_t deadline = store_answering(store) ? now + AUTHCACHE_WAIT_NS : now;
    enum refresh_rc out = REFRESH_NO_ANSWER;
    pthread_mutex_lock(&rf->mu);
    if (rf->nstarted == 0 && !refreshers_start(c)) {
        pthread_mutex_unlock(&rf->mu);
        return REFRESH_NO_THREAD;
    }
    struct ac_job *mine = NULL;
    struct ac_waiter me = {0};
    while (mine == NULL) {
        struct ac_job *idle = NULL;
        bool hope = false; /* a job under way not waited for too long yet */
        for (int i = 0; i < rf->nstarted && mine == NULL; i++) {
            struct ac_job *j = &rf->jobs[i];
            if (j->seq == j->done_seq) {
                idle = idle != NULL ? idle : j;
                continue;
            }
            uint64_t busy_until = j->posted_ns + AUTHCACHE_WAIT_NS;
            hope = hope || busy_until > time_mono_ns();
            if (j->epoch == epoch && sodium_memcmp(j->tag, tag, AUTHCACHE_TAG_LEN) == 0) {
                mine = j; /* the same key under way since the last clear: its answer is ours */
                deadline = busy_until < deadline ? busy_until : deadline;
            }
        }
        if (mine == NULL && idle != NULL) { /* post ours */
            mine = idle;
            mine->store = store;
            memcpy(mine->tag, tag, AUTHCACHE_TAG_LEN);
            memcpy(mine->hash, hash, AUTH_HASH_LEN);
            mine->epoch = epoch;
            mine->posted_ns = time_mono_ns();
            mine->seq++;
            pthread_cond_signal(&mine->wake);
        } else if (mine == NULL && (!hope || !wait_done(rf, deadline))) {
            goto out; /* every refresher waits for the database, or our time is up */
        }
    }
    me.next = mine->waiters;
    mine->waiters = &me;
    while (!me.done) {
        if (!wait_done(rf, deadline) && !me.done) { /* the answer may have come meanwhile */
            for (struct ac_waiter **p = &mine->waiters; *p != NULL; p = &(*p)->next) {
                if (*p == &me) {
                    *p = me.next; /* the lookup goes on without us */
                    break;
                }
            }
            goto out;
        }
    }
    *rc = me.rc;
    *k = me.key;
    *err = me.err;
    out = REFRESH_ANSWERED;
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
    /* a database of this host (SQLite) is asked on this thread: it does not keep a request
     * waiting for a server, and the refresher's hand-over would cost more than the read */
    if (store_remote(store)) {
        /* a key not in the cache (unknown, revoked, unused for 10 minutes) is asked through a
         * refresher too: while the server is silent, such requests answer 503 within the
         * wait instead of holding every MHD thread for --db-timeout */
        bool stale = authcache_get_stale(c, tag, AUTHCACHE_STALE_NS, out);
        struct err e;
        err_clear(&e);
        switch (refresh(c, store, tag, hash, &rc, out, &e)) {
        case REFRESH_ANSWERED:
            if (rc == 0) {
                goto out;
            }
            if (e.code != ERR_UNAVAILABLE || !stale) {
                *err = e; /* revoked (forgotten), unknown, or a fault of ours */
                goto out;
            }
            break;
        case REFRESH_NO_ANSWER:
            if (!stale) {
                rc = err_set(err, ERR_UNAVAILABLE, NULL,
                             "the database did not answer the key's lookup in time");
                goto out;
            }
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
