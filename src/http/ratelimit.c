/*
 * ratelimit.c - exact per-key token buckets for the rate-limited route classes
 * (http_int.h), and a request's use of them: the tokens it takes at admission (per client
 * address and sdk key on public routes, per key on the keyed classes; 429 with Retry-After
 * when refused) and the charge of the evaluation work it did (http_req_charge_steps, http.h).
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
 *
 * A request holds the buckets it took from until its completed callback (a pin count the
 * sweep respects: held buckets are never dropped, so that memory is also bounded by the
 * requests in flight), and its charge reaches them by pointer, with no second hash and
 * lookup. A charge of less than a token's worth of steps, most requests' charge, takes no
 * lock either: the steps are added to the bucket's count of steps owed (exact: integers), and
 * taken from its tokens at its next take or charge, which is the first moment its tokens
 * decide anything; the sweep counts them as taken.
 * Threads: any; each stripe has its own mutex held for a lookup and a few arithmetic
 * operations (a sweep walks only that stripe). A request's functions run on the thread that
 * owns the request.
 *
 * Keys include client addresses, which a client with many (IPv6) addresses chooses: the
 * stripe and the bucket come from a hash keyed with a secret of the process (hash_keyed),
 * so that chosen keys cannot pile into one chain (as with the unkeyed FNV-1a before).
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bunsen/app.h"
#include "bunsen/http.h"
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
    /* requests holding the bucket (ratelimit_take_hold .. ratelimit_release): never dropped
     * while any does, so that they reach it by pointer, without the stripe's lock */
    _Atomic(uint32_t) pins;
    /* evaluation steps charged (less than a token's worth each) and not yet taken from
     * tokens: the next take or charge, under the lock, takes them */
    _Atomic(uint64_t) pending;
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

/* The steps' tokens (HTTP_RATE_STEPS_PER_TOKEN steps a token). */
static double steps_tokens(uint64_t steps)
{
    return (double)steps / HTTP_RATE_STEPS_PER_TOKEN;
}

/* Idle long enough that a refill would fill it, its pending steps paid: indistinguishable from
 * a new bucket. A held bucket is never idle. */
static bool entry_idle(struct rl_entry *e, uint64_t now)
{
    if (now < e->last_ns || atomic_load(&e->pins) != 0) {
        return false;
    }
    double tokens = e->tokens - steps_tokens(atomic_load(&e->pending));
    double full_after_s = (2 * e->rate - tokens) / e->rate;
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

/* Take `tokens` and e's pending steps from e, refilled to now at rate, down to a debt of one
 * burst (a refill of 4 s pays any request off). Under the stripe's lock. */
static void entry_debit(struct rl_entry *e, double rate, double tokens, uint64_t now)
{
    entry_refill(e, rate, now);
    /* a load first: most takes find nothing owed, and need no locked exchange */
    uint64_t pending = atomic_load_explicit(&e->pending, memory_order_relaxed) != 0
                           ? atomic_exchange(&e->pending, 0)
                           : 0;
    tokens += pending != 0 ? steps_tokens(pending) : 0;
    if (tokens > 0) {
        e->tokens = e->tokens - tokens < -2 * rate ? -2 * rate : e->tokens - tokens;
    }
}

void ratelimit_charge(struct ratelimit *rl, struct rl_entry *e, double rate, long steps)
{
    ratelimit_charge_at(rl, e, rate, steps, RL_CLOCK_REAL);
}

void ratelimit_charge_at(struct ratelimit *rl, struct rl_entry *e, double rate, long steps,
                         uint64_t now_ns)
{
    if (rl == NULL || e == NULL || rate <= 0 || steps <= 0) {
        return;
    }
    if (steps < HTTP_RATE_STEPS_PER_TOKEN) {
        /* less than a token: owed, without the lock, until the bucket is next taken from (the
         * only moment its tokens decide anything); the steps add up exactly */
        atomic_fetch_add(&e->pending, (uint64_t)steps);
        return;
    }
    struct rl_stripe *st = &rl->stripes[e->h % RL_STRIPES];
    pthread_mutex_lock(&st->mu);
    entry_debit(e, rate, steps_tokens((uint64_t)steps),
                now_ns != RL_CLOCK_REAL ? now_ns : time_mono_ns());
    pthread_mutex_unlock(&st->mu);
}

void ratelimit_release(struct rl_entry *e)
{
    if (e != NULL) {
        atomic_fetch_sub(&e->pins, 1);
    }
}

bool ratelimit_take(struct ratelimit *rl, int cls, const char *key_id, double rate,
                    double *retry_after_s)
{
    return ratelimit_take_at(rl, cls, key_id, rate, retry_after_s, NULL, RL_CLOCK_REAL);
}

bool ratelimit_take_hold(struct ratelimit *rl, int cls, const char *key_id, double rate,
                         double *retry_after_s, struct rl_entry **held)
{
    return ratelimit_take_at(rl, cls, key_id, rate, retry_after_s, held, RL_CLOCK_REAL);
}

bool ratelimit_take_at(struct ratelimit *rl, int cls, const char *key_id, double rate,
                       double *retry_after_s, struct rl_entry **held, uint64_t now_ns)
{
    *retry_after_s = 0;
    if (held != NULL) {
        *held = NULL;
    }
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
    uint64_t now = now_ns != RL_CLOCK_REAL ? now_ns : time_mono_ns();
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
    entry_debit(e, rate, 0, now);
    if (e->tokens >= 1) {
        e->tokens -= 1;
        if (held != NULL) {
            atomic_fetch_add(&e->pins, 1);
            *held = e;
        }
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

/* ---- a request's rate limits ---- */

/* Take a token of (cls, name) at rate/s; when refused, reply 429 with Retry-After. */
static bool rate_take(struct http_req *r, int cls, const char *name, int rate, const char *who)
{
    double wait = 0;
    bool room = r->ntaken < (int)(sizeof(r->taken) / sizeof(r->taken[0]));
    struct rl_entry *held = NULL;
    if (ratelimit_take_hold(http_server_ratelimit(r->srv), cls, name, rate, &wait,
                            room ? &held : NULL)) {
        if (held != NULL) {
            r->taken[r->ntaken].bucket = held;
            r->taken[r->ntaken].rate = rate;
            r->ntaken++;
        }
        return true;
    }
    r->refused_cls = cls + 1;
    http_reply_error(r, ERR_RATE, NULL, "too many requests for %s; retry shortly", who);
    char ra[24];
    snprintf(ra, sizeof(ra), "%d", (int)wait + 1);
    http_reply_header(r, "Retry-After", ra);
    return false;
}

void http_req_charge_steps(struct http_req *r, long steps)
{
    if (steps <= 0) {
        return;
    }
    for (int i = 0; i < r->ntaken; i++) {
        ratelimit_charge(http_server_ratelimit(r->srv), r->taken[i].bucket, r->taken[i].rate,
                         steps);
    }
}

void http_rate_release(struct http_req *r)
{
    for (int i = 0; i < r->ntaken; i++) {
        ratelimit_release(r->taken[i].bucket);
    }
    r->ntaken = 0;
}

/* The per-key limit of the route classes that have one (ingestion, management, assignment),
 * once the request's key is known. */
bool http_rate_take_key(struct http_req *r)
{
    unsigned f = r->route->flags;
    const struct config *cfg = &r->app->cfg;
    if (f & ROUTE_INGEST) {
        return rate_take(r, RL_CLASS_INGEST, r->key_id, cfg->rate_ingest, "this key");
    }
    if (f & ROUTE_MANAGE) {
        return rate_take(r, RL_CLASS_MANAGE, r->key_id, cfg->rate_manage, "this key");
    }
    if (f & ROUTE_ASSIGN) {
        return rate_take(r, RL_CLASS_ASSIGN, r->key_id, cfg->rate_assign, "this key");
    }
    return true;
}

/* Per-client-IP limit of the routes that need no key (and of unknown paths); public routes
 * with an sdk key in the path are limited per that key as well (before any key lookup). */
bool http_rate_take_public(struct http_req *r)
{
    /* per IPv4 address or IPv6 /64 (a host holds a whole /64), as connections are counted */
    char ip[HTTP_CLIENT_PREFIX_MAX];
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    http_client_prefix(ci != NULL ? ci->client_addr : NULL, ip);
    if (!rate_take(r, RL_CLASS_IP, ip, r->app->cfg.rate_ip, "this client address")) {
        return false;
    }
    const char *key = r->route ? http_req_param(r, "sdk_key") : NULL;
    if (key != NULL && (r->route->flags & ROUTE_SDK_KEY_PATH)) {
        /* the bucket is named by a hash: no secret is kept in the table */
        uint64_t h = 1469598103934665603ull;
        for (const char *p = key; *p; p++) {
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        }
        char name[24];
        snprintf(name, sizeof(name), "%016llx", (unsigned long long)h);
        return rate_take(r, RL_CLASS_FEATURES, name, r->app->cfg.rate_features, "this sdk key");
    }
    return true;
}

bool ratelimit_log_refusal(int cls_plus1, long *not_logged)
{
    static struct log_limit by_class[RL_CLASS_IP + 2];
    /* by RL_CLASS_* + 1 (0: a 429 of no class) */
    static const char *const kinds[RL_CLASS_IP + 2] = {
        "access log: 429",          "access log: 429 (ingest)", "access log: 429 (manage)",
        "access log: 429 (assign)", "access log: 429 (sdk)",    "access log: 429 (address)"};
    int i = cls_plus1 >= 0 && cls_plus1 <= RL_CLASS_IP + 1 ? cls_plus1 : 0;
    return log_limit_take(&by_class[i], kinds[i], LOG_INFO, (int64_t)(time_mono_ns() / 1000000), 1,
                          10000, not_logged);
}
