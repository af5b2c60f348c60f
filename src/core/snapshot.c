/*
 * snapshot.c - immutable experiment sets and their lock-free publication (see the
 * DESIGN note in snapshot.h).
 */
#include "bunsen/snapshot.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bunsen/util.h"

struct snapshot_cell {
    _Atomic(struct snapshot *) cur;
    atomic_uint epoch;
    atomic_uint_fast64_t readers[2];
    pthread_mutex_t publish_mu;
    uint64_t generation;
};

struct snapshot *snapshot_new(void)
{
    return xcalloc(1, sizeof(struct snapshot));
}

void snapshot_add(struct snapshot *s, struct experiment *x)
{
    if (s->n == s->alloc) {
        s->alloc = s->alloc ? s->alloc * 2 : 16;
        s->entries = xrealloc(s->entries, s->alloc * sizeof(*s->entries));
    }
    struct snapshot_entry *e = &s->entries[s->n++];
    memset(e, 0, sizeof(*e));
    e->x = *x;
    memset(x, 0, sizeof(*x));
    x->released = -1;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct snapshot_entry *x = a, *y = b;
    return strcmp(x->x.key, y->x.key);
}

void snapshot_seal(struct snapshot *s)
{
    if (s->n > 1) {
        qsort(s->entries, s->n, sizeof(*s->entries), entry_cmp);
    }
    for (size_t i = 0; i < s->n; i++) {
        struct snapshot_entry *e = &s->entries[i];
        experiment_to_assign(&e->x, &e->a, e->keys, e->weights);
    }
}

const struct snapshot_entry *snapshot_find(const struct snapshot *s, const char *key)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, s->entries[mid].x.key);
        if (c == 0) {
            return &s->entries[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

void snapshot_free(struct snapshot *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        experiment_clear(&s->entries[i].x);
    }
    if (s->ext_free != NULL) {
        s->ext_free(s->ext);
    }
    json_decref(s->saved_groups);
    json_decref(s->group_values);
    free(s->entries);
    free(s);
}

struct snapshot_cell *snapshot_cell_new(void)
{
    struct snapshot_cell *c = xcalloc(1, sizeof(*c));
    struct snapshot *empty = snapshot_new();
    snapshot_seal(empty);
    atomic_init(&c->cur, empty);
    atomic_init(&c->epoch, 0);
    atomic_init(&c->readers[0], 0);
    atomic_init(&c->readers[1], 0);
    pthread_mutex_init(&c->publish_mu, NULL);
    return c;
}

void snapshot_cell_free(struct snapshot_cell *c)
{
    if (c == NULL) {
        return;
    }
    snapshot_free(atomic_load(&c->cur));
    pthread_mutex_destroy(&c->publish_mu);
    free(c);
}

void snapshot_publish(struct snapshot_cell *c, struct snapshot *s)
{
    pthread_mutex_lock(&c->publish_mu);
    s->generation = ++c->generation;
    struct snapshot *old = atomic_exchange(&c->cur, s);
    unsigned e = atomic_fetch_add(&c->epoch, 1);
    /* Readers that might hold `old` registered under parity e & 1 before the exchange;
     * new readers register under the other parity, so this counter drains. */
    while (atomic_load(&c->readers[e & 1]) != 0) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 20000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_unlock(&c->publish_mu);
    snapshot_free(old);
}

const struct snapshot *snapshot_read_begin(struct snapshot_cell *c, unsigned *token)
{
    for (;;) {
        unsigned e = atomic_load(&c->epoch);
        atomic_fetch_add(&c->readers[e & 1], 1);
        if (atomic_load(&c->epoch) == e) {
            *token = e & 1;
            return atomic_load(&c->cur);
        }
        atomic_fetch_sub(&c->readers[e & 1], 1); /* a publish raced us: register again */
    }
}

void snapshot_read_end(struct snapshot_cell *c, unsigned token)
{
    atomic_fetch_sub(&c->readers[token], 1);
}
