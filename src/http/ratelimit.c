/*
 * ratelimit.c - exact per-key token buckets for the rate-limited route classes
 * (http_int.h).
 *
 * Each (class, key) has a bucket of `rate` tokens per second with a burst of 2 x rate; a
 * request takes one token or is refused with 429 and Retry-After. Work measured after the
 * fact (targeting steps: http_req_charge_steps) takes more tokens from the buckets the
 * request took from, down to a debt of one burst (-2 x rate), so that the next requests of
 * that key or address are refused until the refill has paid it. Every key gets its own
 * bucket: the table is a chained hash per stripe that grows as needed, so no key ever
 * shares or misses a bucket. A bucket idle for burst/rate seconds (2 s) is full again,
 * which is exactly what a new bucket would be, so such entries are dropped by a sweep
 * (each stripe sweeps itself at most once a second, when it is next used): memory is
 * bounded by the keys seen in the last couple of seconds, and by RL_MAX_ENTRIES beyond
 * which a new key is refused (fail closed, never "no limit").
 * Threads: any; each stripe has its own mutex held for a lookup and a few arithmetic
 * operations (a sweep walks only that stripe).
 *
 * Keys include client addresses, which a client with many (IPv6) addresses chooses: the
 * stripe and the bucket come from a hash keyed with a secret of the process (hash_keyed),
 * so that chosen keys cannot pile into one chain (as with the unkeyed FNV-1a before).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/log.h"
#include "bunsen/util.h"
#include "http_int.h"

#define RL_STRIPES     64
#define RL_KEY_MAX     72       /* class digit + key id or client address */
#define RL_MAX_ENTRIES 1000000u /* all stripes together */

struct rl_entry {
    struct rl_entry *next;
    uint64_t h;
    double tokens;
    double rate;      /* the rate it was last charged at: decides when it is idle */
    uint64_t last_ns; /* last refill */
    char key[RL_KEY_MAX];
};

struct rl_stripe {
    pthread_mutex_t mu;
    struct rl_entry **buckets; /* chains; nbuckets is a power of two */
    size_t nbuckets;
    size_t n;
    uint64_t swept_ns;
};

struct ratelimit {
    struct rl_stripe stripes[RL_STRIPES];
    _Atomic(size_t) total;
};

struct ratelimit *ratelimit_new(void)
{
    struct ratelimit *rl = xcalloc(1, sizeof(*rl));
    for (int i = 0; i < RL_STRIPES; i++) {
        pthread_mutex_init(&rl->stripes[i].mu, NULL);
        rl->stripes[i].nbuckets = 16;
        rl->stripes[i].buckets = xcalloc(16, sizeof(struct rl_entry *));
    }
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL) {
        return;
    }
    for (int i = 0; i < RL_STRIPES; i++) {
        struct rl_stripe *st = &rl->stripes[i];
        for (size_t b = 0; b < st->nbuckets; b++) {
            for (struct rl_entry *e = st->buckets[b], *next; e != NULL; e = next) {
                next = e->next;
                free(e);
            }
        }
        free(st->buckets);
        pthread_mutex_destroy(&st->mu);
    }
    free(rl);
}

/* Idle long enough that a refill would fill it: indistinguishable from a new bucket. */
static bool entry_idle(const struct rl_entry *e, uint64_t now)
{
    if (now < e->last_ns) {
        return false;
    }
    double full_after_s = (2 * e->rate - e->tokens) / e->rate;
    return (double)(now - e->last_ns) / 1e9 >= full_after_s;
}

static void stripe_sweep(struct ratelimit *rl, struct rl_stripe *st, uint64_t now)
{
    st->swept_ns = now;
    for (size_t b = 0; b < st->nbuckets; b++) {
        struct rl_entry **pp = &st->buckets[b];
        while (*pp != NULL) {
            struct rl_entry *e = *pp;
            if (entry_idle(e, now)) {
                *pp = e->next;
                free(e);
                st->n--;
                atomic_fetch_sub(&rl->total, 1);
            } else {
                pp = &e->next;
            }
        }
    }
}

static void stripe_grow(struct rl_stripe *st)
{
    size_t nb = st->nbuckets * 2;
    struct rl_entry **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < st->nbuckets; i++) {
        for (struct rl_entry *e = st->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            size_t j = (size_t)(e->h >> 6) & (nb - 1);
            e->next = b[j];
            b[j] = e;
        }
    }
    free(st->buckets);
    st->buckets = b;
    st->nbuckets = nb;
}

static void key_of(int cls, const char *key_id, char key[RL_KEY_MAX])
{
    if (cls >= 0 && cls <= 9) { /* "%d%s" without snprintf: once per request */
        key[0] = (char)('0' + cls);
        str_copy(key + 1, RL_KEY_MAX - 1, key_id);
    } else {
        snprintf(key, RL_KEY_MAX, "%d%s", cls, key_id);
    }
}

/* Refill e to now at rate (burst 2 x rate). Under the stripe's lock. */
static void entry_refill(struct rl_entry *e, double rate, uint64_t now)
{
    e->rate = rate;
    e->tokens += now > e->last_ns ? (double)(now - e->last_ns) / 1e9 * rate : 0;
    if (e->tokens > 2 * rate) {
        e->tokens = 2 * rate;
    }
    e->last_ns = now;
}

void ratelimit_charge(struct ratelimit *rl, int cls, const char *key_id, double rate, double tokens)
{
    if (rl == NULL || rate <= 0 || !(tokens > 0)) {
        return;
    }
    char key[RL_KEY_MAX];
    key_of(cls, key_id, key);
    uint64_t h = hash_keyed(key, strlen(key));
    struct rl_stripe *st = &rl->stripes[h % RL_STRIPES];
    pthread_mutex_lock(&st->mu);
    uint64_t now = time_mono_ns();
    struct rl_entry *e = st->buckets[(size_t)(h >> 6) & (st->nbuckets - 1)];
    while (e != NULL && (e->h != h || strcmp(e->key, key) != 0)) {
        e = e->next;
    }
    if (e != NULL) { /* gone: idle long enough that the bucket was full anyway */
        entry_refill(e, rate, now);
        /* a debt of at most one burst: a refill of 4 s pays any request off */
        e->tokens = e->tokens - tokens < -2 * rate ? -2 * rate : e->tokens - tokens;
    }
    pthread_mutex_unlock(&st->mu);
}

bool ratelimit_take(struct ratelimit *rl, int cls, const char *key_id, double rate,
                    double *retry_after_s)
{
    *retry_after_s = 0;
    if (rl == NULL || rate <= 0) {
        return true;
    }
    char key[RL_KEY_MAX];
    key_of(cls, key_id, key);
    uint64_t h = hash_keyed(key, strlen(key));
    struct rl_stripe *st = &rl->stripes[h % RL_STRIPES];
    double burst = 2 * rate;
    bool ok = true;
    pthread_mutex_lock(&st->mu);
    /* read the clock under the lock: a time read before it could be older than an entry's
     * last refill, and an unsigned difference would then look like a very long idle time */
    uint64_t now = time_mono_ns();
    if (now > st->swept_ns + 1000000000ull) {
        stripe_sweep(rl, st, now);
    }
    size_t b = (size_t)(h >> 6) & (st->nbuckets - 1);
    struct rl_entry *e = st->buckets[b];
    while (e != NULL && (e->h != h || strcmp(e->key, key) != 0)) {
        e = e->next;
    }
    if (e == NULL) {
        if (atomic_load(&rl->total) >= RL_MAX_ENTRIES) {
            pthread_mutex_unlock(&st->mu);
            *retry_after_s = 1;
            return false; /* bounded memory: refuse a new key rather than let it through */
        }
        if (st->n + 1 > st->nbuckets * 2) {
            stripe_grow(st);
            b = (size_t)(h >> 6) & (st->nbuckets - 1);
        }
        e = xcalloc(1, sizeof(*e));
        e->h = h;
        str_copy(e->key, sizeof(e->key), key);
        e->tokens = burst;
        e->last_ns = now;
        e->next = st->buckets[b];
        st->buckets[b] = e;
        st->n++;
        atomic_fetch_add(&rl->total, 1);
    }
    entry_refill(e, rate, now);
    if (e->tokens >= 1) {
        e->tokens -= 1;
    } else {
        ok = false;
        *retry_after_s = (1 - e->tokens) / rate;
    }
    pthread_mutex_unlock(&st->mu);
    return ok;
}

size_t ratelimit_entries(struct ratelimit *rl)
{
    return rl != NULL ? atomic_load(&rl->total) : 0;
}

bool ratelimit_log_refusal(int cls_plus1, long *not_logged)
{
    static struct log_limit by_class[RL_CLASS_IP + 2];
    int i = cls_plus1 >= 0 && cls_plus1 <= RL_CLASS_IP + 1 ? cls_plus1 : 0;
    return log_limit_take(&by_class[i], (int64_t)(time_mono_ns() / 1000000), 1, 10000, not_logged);
}
