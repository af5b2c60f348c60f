/*
 * conncount.c - the listener's books of its connections: how many each client prefix holds
 * open (--per-ip-connections), and which connections handed to libmicrohttpd have not started
 * yet (pending; listener.c says why they are kept). One mutex guards both: the accepting
 * thread adds, MHD's workers' started and closed notifications take away, /metrics reads.
 *
 * Every step costs O(1) on average whatever a client does: the prefixes are an open-addressing
 * table (linear probing, keyed hash, backward-shift deletion, doubled at half full), and the
 * pending connections a dense array with an index by descriptor number (the kernel's numbers
 * are small and dense), so that a burst of new connections toward --max-connections (4,096)
 * is not quadratic (the first version scanned a list per step: session 33's closing read).
 * Expiring the pending ones is one pass over them.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "http_int.h"

struct prefix_count {
    char key[HTTP_CLIENT_PREFIX_MAX]; /* "" = free */
    unsigned n;
};

struct conncount {
    pthread_mutex_t mu;
    struct prefix_count *slot;
    size_t cap, used;                  /* cap a power of two */
    struct conncount_pending *pending; /* dense, in no order */
    size_t npending, apending;
    uint32_t *at; /* descriptor number -> its pending entry's index + 1 (0: none) */
    size_t nat;   /* entries of at */
};

struct conncount *conncount_new(void)
{
    struct conncount *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void conncount_free(struct conncount *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_destroy(&c->mu);
    free(c->slot);
    free(c->pending);
    free(c->at);
    free(c);
}

/* ---- per client prefix ---- */

static size_t prefix_home(const struct conncount *c, const char *key)
{
    return (size_t)hash_keyed(key, strlen(key)) & (c->cap - 1);
}

/* The slot of key, or the free slot where it would go. With mu held and cap > 0. */
static size_t prefix_find(const struct conncount *c, const char *key)
{
    size_t i = prefix_home(c, key);
    while (c->slot[i].key[0] != '\0' && strcmp(c->slot[i].key, key) != 0) {
        i = (i + 1) & (c->cap - 1);
    }
    return i;
}

static void prefix_grow(struct conncount *c)
{
    struct prefix_count *old = c->slot;
    size_t old_cap = c->cap;
    c->cap = old_cap ? old_cap * 2 : 256;
    c->slot = xcalloc(c->cap, sizeof(*c->slot));
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key[0] != '\0') {
            c->slot[prefix_find(c, old[i].key)] = old[i];
        }
    }
    free(old);
}

bool conncount_take(struct conncount *c, const char *key, unsigned max)
{
    pthread_mutex_lock(&c->mu);
    if (2 * (c->used + 1) > c->cap) {
        prefix_grow(c);
    }
    size_t i = prefix_find(c, key);
    bool ok = max == 0 || c->slot[i].n < max;
    if (ok) {
        if (c->slot[i].key[0] == '\0') {
            str_copy(c->slot[i].key, sizeof(c->slot[i].key), key);
            c->used++;
        }
        c->slot[i].n++;
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

void conncount_release(struct conncount *c, const char *key)
{
    pthread_mutex_lock(&c->mu);
    if (c->cap == 0) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    size_t i = prefix_find(c, key);
    if (c->slot[i].key[0] == '\0' || --c->slot[i].n > 0) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    /* backward-shift deletion: move up each entry of the run that may live in the hole */
    size_t hole = i;
    for (size_t j = (i + 1) & (c->cap - 1); c->slot[j].key[0] != '\0'; j = (j + 1) & (c->cap - 1)) {
        size_t home = prefix_home(c, c->slot[j].key);
        /* j's entry may move to hole unless its home lies cyclically in (hole, j] */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            c->slot[hole] = c->slot[j];
            hole = j;
        }
    }
    memset(&c->slot[hole], 0, sizeof(c->slot[hole]));
    c->used--;
    pthread_mutex_unlock(&c->mu);
}

unsigned conncount_of(struct conncount *c, const char *key)
{
    pthread_mutex_lock(&c->mu);
    unsigned n = c->cap ? c->slot[prefix_find(c, key)].n : 0;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* ---- pending ---- */

/* Entry i out of the dense array (the last one moved into its place). With mu held. */
static void pending_cut(struct conncount *c, size_t i)
{
    c->at[c->pending[i].fd] = 0;
    if (i != --c->npending) {
        c->pending[i] = c->pending[c->npending];
        c->at[c->pending[i].fd] = (uint32_t)i + 1;
    }
}

/* fd's pending entry into *out (NULL: dropped) and out of the books: true if there was one.
 * With mu held. */
static bool pending_take(struct conncount *c, int fd, struct conncount_pending *out)
{
    if (fd < 0 || (size_t)fd >= c->nat || c->at[fd] == 0) {
        return false;
    }
    size_t i = c->at[fd] - 1;
    if (out != NULL) {
        *out = c->pending[i];
    }
    pending_cut(c, i);
    return true;
}

bool conncount_pend(struct conncount *c, int fd, const char *key, uint64_t now_ns,
                    struct conncount_pending *stale)
{
    if (fd < 0) {
        return false;
    }
    pthread_mutex_lock(&c->mu);
    bool had = pending_take(c, fd, stale);
    if ((size_t)fd >= c->nat) {
        size_t n = c->nat ? c->nat : 1024;
        while (n <= (size_t)fd) {
            n *= 2;
        }
        c->at = xrealloc(c->at, n * sizeof(*c->at));
        memset(c->at + c->nat, 0, (n - c->nat) * sizeof(*c->at));
        c->nat = n;
    }
    if (c->npending == c->apending) {
        c->apending = c->apending ? 2 * c->apending : 64;
        c->pending = xrealloc(c->pending, c->apending * sizeof(*c->pending));
    }
    struct conncount_pending *p = &c->pending[c->npending++];
    p->fd = fd;
    str_copy(p->key, sizeof(p->key), key);
    p->since_ns = now_ns;
    c->at[fd] = (uint32_t)c->npending;
    pthread_mutex_unlock(&c->mu);
    return had;
}

bool conncount_unpend(struct conncount *c, int fd, struct conncount_pending *out)
{
    pthread_mutex_lock(&c->mu);
    bool had = pending_take(c, fd, out);
    pthread_mutex_unlock(&c->mu);
    return had;
}

size_t conncount_expire(struct conncount *c, uint64_t now_ns, uint64_t older_ns,
                        struct conncount_pending **out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->npending;) {
        if (now_ns - c->pending[i].since_ns < older_ns) {
            i++;
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        (*out)[n++] = c->pending[i];
        pending_cut(c, i); /* the last one is now at i: looked at next */
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

size_t conncount_pending(struct conncount *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->npending;
    pthread_mutex_unlock(&c->mu);
    return n;
}
