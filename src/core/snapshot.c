/*
 * snapshot.c - immutable experiment sets and their lock-free publication, with the
 * experiments shared between the sets by reference count (see the DESIGN note in
 * snapshot.h).
 */
#include "bunsen/snapshot.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bunsen/condition.h"
#include "bunsen/util.h"

struct snapshot_cell {
    _Atomic(struct snapshot *) cur;
    atomic_uint epoch;              /* flipped by the reclaimer only */
    atomic_uint_fast64_t window[2]; /* readers between "load cur" and "take a ref" */
    atomic_size_t retired;          /* retired snapshots not yet freed */
    pthread_mutex_t publish_mu;     /* publishers, one at a time */
    uint64_t generation;            /* under publish_mu */
    pthread_mutex_t reclaim_mu;     /* guards pending and stop */
    pthread_cond_t reclaim_cv;      /* signalled on a new pending snapshot or stop */
    struct snapshot *pending;       /* retired, the cell's reference not yet dropped */
    bool stop;
    pthread_t reclaimer;
};

struct snapshot *snapshot_new(void)
{
    return xcalloc(1, sizeof(struct snapshot));
}

static void entry_append(struct snapshot *s, struct snapshot_entry *e)
{
    if (s->n == s->alloc) {
        s->alloc = s->alloc ? s->alloc * 2 : 16;
        s->entries = xrealloc(s->entries, s->alloc * sizeof(*s->entries));
    }
    s->entries[s->n++] = e;
}

struct snapshot_entry *snapshot_add(struct snapshot *s, struct experiment *x, uint64_t doc_hash)
{
    struct snapshot_entry *e = xmalloc(sizeof(*e));
    e->x = *x;
    memset(x, 0, sizeof(*x));
    x->released = -1;
    e->cond = NULL;
    e->user = NULL;
    e->doc_hash = doc_hash;
    e->sealed = false;
    atomic_init(&e->refs, 1);
    entry_append(s, e);
    return e;
}

/* prev's entry read from the text of hash h, or NULL. */
static struct snapshot_entry *by_doc_find(const struct snapshot *prev, uint64_t h)
{
    if (prev == NULL || prev->by_doc_cap == 0 || h == 0) {
        return NULL;
    }
    for (size_t i = (size_t)h & (prev->by_doc_cap - 1); prev->by_doc[i].hash != 0;
         i = (i + 1) & (prev->by_doc_cap - 1)) {
        if (prev->by_doc[i].hash == h) {
            return prev->by_doc[i].e;
        }
    }
    return NULL;
}

bool snapshot_add_from(struct snapshot *s, const struct snapshot *prev, uint64_t doc_hash)
{
    struct snapshot_entry *e = by_doc_find(prev, doc_hash);
    if (e == NULL) {
        return false;
    }
    /* prev holds e (its count is at least one) and the caller holds prev: the count cannot
     * reach zero meanwhile. Relaxed: the entry was published (sealed) before prev was. */
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    entry_append(s, e);
    return true;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct snapshot_entry *const *x = a, *const *y = b;
    return strcmp((*x)->x.key, (*y)->x.key);
}

/* Index the entries that have a doc hash (at most half full). */
static void by_doc_build(struct snapshot *s)
{
    size_t cap = 16;
    while (cap < 2 * s->n) {
        cap *= 2;
    }
    s->by_doc = xcalloc(cap, sizeof(*s->by_doc));
    s->by_doc_cap = cap;
    for (size_t k = 0; k < s->n; k++) {
        struct snapshot_entry *e = s->entries[k];
        if (e->doc_hash == 0 || by_doc_find(s, e->doc_hash) != NULL) {
            continue; /* a second entry of one text (never from a store) keeps the first */
        }
        size_t i = (size_t)e->doc_hash & (cap - 1);
        while (s->by_doc[i].hash != 0) {
            i = (i + 1) & (cap - 1);
        }
        s->by_doc[i] = (struct snapshot_doc){e->doc_hash, e};
    }
}

void snapshot_seal(struct snapshot *s)
{
    if (s->n > 1) {
        qsort(s->entries, s->n, sizeof(*s->entries), entry_cmp);
    }
    for (size_t i = 0; i < s->n; i++) {
        struct snapshot_entry *e = s->entries[i];
        if (e->sealed) {
            continue; /* taken from another snapshot: readers of that one read it now */
        }
        experiment_to_assign(&e->x, &e->a, e->keys, e->weights);
        e->cond = condition_compile(e->x.targeting);
        e->a.compiled = e->cond;
        e->sealed = true;
    }
    by_doc_build(s);
}

const struct snapshot_entry *snapshot_find(const struct snapshot *s, const char *key)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, s->entries[mid]->x.key);
        if (c == 0) {
            return s->entries[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

/* Drop s's reference on e; the last one frees it. acq_rel: the frees see every write the
 * other holders made (there are none after the first seal, but the builder's are). */
static void entry_unref(struct snapshot_entry *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
        condition_free(e->cond);
        experiment_clear(&e->x);
        free(e);
    }
}

void snapshot_free(struct snapshot *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        entry_unref(s->entries[i]);
    }
    condition_free(s->group_sets);
    if (s->ext_free != NULL) {
        s->ext_free(s->ext);
    }
    json_decref(s->saved_groups);
    json_decref(s->group_values);
    json_decref(s->group_versions);
    free(s->by_doc);
    free(s->entries);
    free(s);
}

/* Drop one reference; the last one frees s (and counts a retired snapshot gone). */
static void snapshot_unref(struct snapshot_cell *c, struct snapshot *s)
{
    if (atomic_fetch_sub(&s->refs, 1) == 1) {
        snapshot_free(s);
        atomic_fetch_sub(&c->retired, 1);
    }
}

/* The reclaimer: for each batch of retired snapshots, one grace period for the readers that
 * may have loaded a retired pointer but not yet counted themselves in its refs, then drop
 * the cell's reference (readers still holding one free it at their end). */
static void *reclaim_main(void *arg)
{
    struct snapshot_cell *c = arg;
    pthread_mutex_lock(&c->reclaim_mu);
    for (;;) {
        while (c->pending == NULL && !c->stop) {
            pthread_cond_wait(&c->reclaim_cv, &c->reclaim_mu);
        }
        struct snapshot *batch = c->pending;
        c->pending = NULL;
        bool stop = c->stop;
        pthread_mutex_unlock(&c->reclaim_mu);
        if (batch != NULL) {
            unsigned e = atomic_fetch_add(&c->epoch, 1);
            while (atomic_load(&c->window[e & 1]) != 0) {
                struct timespec ts = {.tv_sec = 0, .tv_nsec = 20000};
                nanosleep(&ts, NULL);
            }
        }
        while (batch != NULL) {
            struct snapshot *next = batch->retired;
            snapshot_unref(c, batch);
            batch = next;
        }
        pthread_mutex_lock(&c->reclaim_mu);
        if (stop && c->pending == NULL) {
            break;
        }
    }
    pthread_mutex_unlock(&c->reclaim_mu);
    return NULL;
}

struct snapshot_cell *snapshot_cell_new(void)
{
    struct snapshot_cell *c = xcalloc(1, sizeof(*c));
    struct snapshot *empty = snapshot_new();
    snapshot_seal(empty);
    atomic_init(&empty->refs, 1);
    atomic_init(&c->cur, empty);
    atomic_init(&c->epoch, 0);
    atomic_init(&c->window[0], 0);
    atomic_init(&c->window[1], 0);
    atomic_init(&c->retired, 0);
    pthread_mutex_init(&c->publish_mu, NULL);
    pthread_mutex_init(&c->reclaim_mu, NULL);
    pthread_cond_init(&c->reclaim_cv, NULL);
    if (thread_start(&c->reclaimer, reclaim_main, c) != 0) {
        abort(); /* as an allocation failure: no thread, no daemon */
    }
    return c;
}

void snapshot_cell_free(struct snapshot_cell *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->reclaim_mu);
    c->stop = true;
    pthread_cond_signal(&c->reclaim_cv);
    pthread_mutex_unlock(&c->reclaim_mu);
    pthread_join(c->reclaimer, NULL);
    snapshot_free(atomic_load(&c->cur));
    pthread_cond_destroy(&c->reclaim_cv);
    pthread_mutex_destroy(&c->reclaim_mu);
    pthread_mutex_destroy(&c->publish_mu);
    free(c);
}

void snapshot_publish(struct snapshot_cell *c, struct snapshot *s)
{
    atomic_init(&s->refs, 1); /* the cell's */
    pthread_mutex_lock(&c->publish_mu);
    s->generation = ++c->generation;
    struct snapshot *old = atomic_exchange(&c->cur, s);
    atomic_fetch_add(&c->retired, 1);
    pthread_mutex_lock(&c->reclaim_mu);
    old->retired = c->pending;
    c->pending = old;
    pthread_cond_signal(&c->reclaim_cv);
    pthread_mutex_unlock(&c->reclaim_mu);
    pthread_mutex_unlock(&c->publish_mu);
}

const struct snapshot *snapshot_read_begin(struct snapshot_cell *c)
{
    for (;;) {
        unsigned e = atomic_load(&c->epoch);
        atomic_fetch_add(&c->window[e & 1], 1);
        if (atomic_load(&c->epoch) == e) {
            struct snapshot *s = atomic_load(&c->cur);
            atomic_fetch_add(&s->refs, 1);
            atomic_fetch_sub(&c->window[e & 1], 1);
            return s;
        }
        atomic_fetch_sub(&c->window[e & 1], 1); /* the reclaimer flipped: register again */
    }
}

void snapshot_read_end(struct snapshot_cell *c, const struct snapshot *s)
{
    /* the reference count is the one mutable part of a published snapshot */
    snapshot_unref(c, (struct snapshot *)(uintptr_t)s);
}

size_t snapshot_cell_retired(struct snapshot_cell *c)
{
    return atomic_load(&c->retired);
}
