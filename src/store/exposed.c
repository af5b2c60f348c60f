/*
 * exposed.c - the first exposures this daemon knows to be committed (store.h "Known first
 * exposures"), so that a logged assignment that would only repeat one is answered without a
 * write.
 *
 * Why it is exact: the first exposure of a user to an experiment wins; a later exposure to the
 * same variant changes nothing stored (store_ingest_exposures counts it as a duplicate and
 * writes no row, no roll-up, no dimension value). An entry says "the stored first exposure of
 * (experiment, user) is to this variant, at or before ts"; a logged assignment to the same
 * variant at a time >= ts is such a repeat. Entries come only from committed transactions:
 * attribution notes the final state of every (experiment, user) it touched into the group's
 * batch (exposed_note), and the writer publishes the batch after the group committed with
 * every job succeeding (exposed_publish); a rolled-back or partly failed group publishes
 * nothing. A state that changes later through this daemon's writer (an earlier exposure that
 * arrives late and replaces it) is published again, overwriting the entry. What can change
 * the stored state otherwise empties the cache: definition changes (every catalogue reload,
 * including one made by another daemon or process) and compaction; a group that such a
 * clear overlapped (it began before the clear and publishes after it) publishes nothing, as
 * its states may predate the change (the epoch). Writers this daemon does
 * not see (other daemons on a shared database) can still replace a first exposure with an
 * earlier one to another variant; a repeat assignment here then changes nothing that
 * results read either (the user already counts as conflicting, since the replaced exposure,
 * no later than the repeat, is its earliest to another variant: migration 0012), only the
 * raw count of conflicting arrivals in exposures.conflicts. What it cannot see in time is
 * another daemon's definition change (until its notification arrives: an experiment deleted
 * and created again under the same key could have a first exposure taken for a repeat), so
 * serve.c leaves the cache off on PostgreSQL unless asked (docs/SCALING.md).
 *
 * The table: open addressing with linear probing over a power-of-two array of slots, keyed
 * by a 128-bit SipHash (libsodium's crypto_shorthash_siphashx24) of experiment "\0" user_id
 * under a random per-process key, with a 64-bit FNV-1a of the variant beside it; nobody
 * without the key can make two pairs collide, and a chance collision needs 2^64 pairs. Slots
 * of an older generation are empty, so emptying is one increment; when the entries reach the
 * configured number (at most three quarters of the slots) the table is emptied and fills
 * again (a miss costs only the write the cache would have saved). One mutex: the critical
 * sections probe a few slots.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/metrics.h"
#include "bunsen/util.h"
#include "store_int.h"

/* experiment keys are at most 64 bytes, user ids at most 256 (validate.c): anything longer is
 * simply not cached */
#define KEY_MAX 400

struct exposed_slot {
    uint64_t k0, k1; /* SipHash-128 of experiment "\0" user_id */
    uint64_t vh;     /* FNV-1a of the variant */
    int64_t ts;      /* the stored first exposure's time */
    uint32_t gen;    /* == the table's generation: in use */
};

struct exposed {
    unsigned char key[crypto_shorthash_siphashx24_KEYBYTES];
    pthread_mutex_t mu;
    struct exposed_slot *slots;
    size_t mask, count, max;
    uint32_t gen;
    _Atomic uint64_t epoch; /* exposed_clear calls: a batch noted before one is not published */
    _Atomic uint64_t hits, misses, clears;
};

struct exposed *exposed_new(size_t pairs)
{
    if (pairs == 0) {
        return NULL;
    }
    size_t slots = 16; /* at least a quarter of them empty: probes stay short, and end */
    while (slots / 4 * 3 < pairs && slots < ((size_t)1 << 40)) {
        slots *= 2;
    }
    struct exposed *x = xcalloc(1, sizeof(*x));
    randombytes_buf(x->key, sizeof(x->key));
    pthread_mutex_init(&x->mu, NULL);
    x->slots = xcalloc(slots, sizeof(*x->slots));
    x->mask = slots - 1;
    x->max = pairs < slots / 4 * 3 ? pairs : slots / 4 * 3;
    x->gen = 1;
    return x;
}

void exposed_free(struct exposed *x)
{
    if (x == NULL) {
        return;
    }
    pthread_mutex_destroy(&x->mu);
    free(x->slots);
    sodium_memzero(x->key, sizeof(x->key));
    free(x);
}

/* The note of one pair; false when it cannot be cached (an over-long key). */
static bool note_of(const struct exposed *x, const char *experiment, const char *user_id,
                    const char *variant, int64_t ts, struct exposed_note *out)
{
    size_t le = strlen(experiment), lu = strlen(user_id);
    if (le + 1 + lu > KEY_MAX) {
        return false;
    }
    unsigned char msg[KEY_MAX], h[crypto_shorthash_siphashx24_BYTES];
    memcpy(msg, experiment, le);
    msg[le] = '\0';
    memcpy(msg + le + 1, user_id, lu);
    crypto_shorthash_siphashx24(h, msg, le + 1 + lu, x->key);
    memcpy(&out->k0, h, 8);
    memcpy(&out->k1, h + 8, 8);
    /* FNV-1a of the variant: it only tells an experiment's few variants apart, whose keys
     * the experiment's editors choose (no keyed hash needed there) */
    uint64_t vh = 14695981039346656037ull;
    for (const unsigned char *c = (const unsigned char *)variant; *c != '\0'; c++) {
        vh = (vh ^ *c) * 1099511628211ull;
    }
    out->vh = vh;
    out->ts = ts;
    return true;
}

/* The slot of the pair, or the empty slot where it would go. x->mu held. */
static struct exposed_slot *probe(struct exposed *x, uint64_t k0, uint64_t k1)
{
    for (size_t i = (size_t)k0 & x->mask;; i = (i + 1) & x->mask) {
        struct exposed_slot *s = &x->slots[i];
        if (s->gen != x->gen || (s->k0 == k0 && s->k1 == k1)) {
            return s; /* the table is never full: max < slots */
        }
    }
}

/* Empty the table. x->mu held. */
static void clear_locked(struct exposed *x)
{
    if (++x->gen == 0) { /* wrapped: slots of generation 0 would look current */
        memset(x->slots, 0, (x->mask + 1) * sizeof(*x->slots));
        x->gen = 1;
    }
    x->count = 0;
    atomic_fetch_add_explicit(&x->clears, 1, memory_order_relaxed);
}

bool exposed_known(struct exposed *x, const char *experiment, const char *user_id,
                   const char *variant, int64_t ts)
{
    struct exposed_note n;
    if (x == NULL || !note_of(x, experiment, user_id, variant, ts, &n)) {
        return false;
    }
    pthread_mutex_lock(&x->mu);
    const struct exposed_slot *s = probe(x, n.k0, n.k1);
    bool hit = s->gen == x->gen && s->vh == n.vh && s->ts <= ts;
    pthread_mutex_unlock(&x->mu);
    atomic_fetch_add_explicit(hit ? &x->hits : &x->misses, 1, memory_order_relaxed);
    return hit;
}

void exposed_clear(struct exposed *x)
{
    if (x == NULL) {
        return;
    }
    pthread_mutex_lock(&x->mu);
    clear_locked(x);
    atomic_fetch_add_explicit(&x->epoch, 1, memory_order_relaxed);
    pthread_mutex_unlock(&x->mu);
}

uint64_t exposed_epoch(struct exposed *x)
{
    return x != NULL ? atomic_load_explicit(&x->epoch, memory_order_relaxed) : 0;
}

void exposed_note(struct store_tx *tx, const char *experiment, const char *user_id,
                  const char *variant, int64_t ts)
{
    struct exposed_batch *b = tx->exposed;
    struct exposed_note n;
    if (b == NULL || tx->store->exposed == NULL ||
        !note_of(tx->store->exposed, experiment, user_id, variant, ts, &n)) {
        return;
    }
    if (b->n < EXPOSED_INLINE) { /* a group of a few /assign requests: no allocation */
        b->inline_notes[b->n++] = n;
        return;
    }
    if (b->n - EXPOSED_INLINE == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->notes = xrealloc(b->notes, b->cap * sizeof(*b->notes));
    }
    b->notes[b->n++ - EXPOSED_INLINE] = n;
}

void exposed_publish(struct exposed *x, const struct exposed_batch *b, uint64_t epoch)
{
    if (x == NULL || b->n == 0) {
        return;
    }
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < b->n; i++) {
        if (i > 0 && i % 256 == 0) { /* a batch of 10,000 exposures: lookups get a turn */
            pthread_mutex_unlock(&x->mu);
            pthread_mutex_lock(&x->mu);
        }
        if (atomic_load_explicit(&x->epoch, memory_order_relaxed) != epoch) {
            break; /* emptied since the group committed: its states may no longer hold */
        }
        const struct exposed_note *n =
            i < EXPOSED_INLINE ? &b->inline_notes[i] : &b->notes[i - EXPOSED_INLINE];
        struct exposed_slot *s = probe(x, n->k0, n->k1);
        if (s->gen != x->gen) {
            if (x->count >= x->max) {
                clear_locked(x);
                s = probe(x, n->k0, n->k1);
            }
            x->count++;
        }
        *s = (struct exposed_slot){n->k0, n->k1, n->vh, n->ts, x->gen};
    }
    pthread_mutex_unlock(&x->mu);
}

void exposed_batch_free(struct exposed_batch *b)
{
    free(b->notes);
    b->notes = NULL;
    b->n = b->cap = 0;
}

void exposed_write_metrics(struct exposed *x, struct buf *b)
{
    if (x == NULL) {
        return;
    }
    pthread_mutex_lock(&x->mu);
    size_t count = x->count;
    pthread_mutex_unlock(&x->mu);
    metrics_write_help(b, "bunsen_exposure_cache_entries", "gauge",
                       "First exposures this daemon knows to be committed (--exposure-cache).");
    metrics_write_value(b, "bunsen_exposure_cache_entries", "", (double)count);
    metrics_write_help(b, "bunsen_exposure_cache_lookups_total", "counter",
                       "Logged assignments checked against the cache: hit = a repeat of a "
                       "committed first exposure, answered without a write.");
    metrics_write_value(b, "bunsen_exposure_cache_lookups_total", "result=\"hit\"",
                        (double)atomic_load_explicit(&x->hits, memory_order_relaxed));
    metrics_write_value(b, "bunsen_exposure_cache_lookups_total", "result=\"miss\"",
                        (double)atomic_load_explicit(&x->misses, memory_order_relaxed));
    metrics_write_help(b, "bunsen_exposure_cache_clears_total", "counter",
                       "Times the cache was emptied (definition changes, compaction, full).");
    metrics_write_value(b, "bunsen_exposure_cache_clears_total", "",
                        (double)atomic_load_explicit(&x->clears, memory_order_relaxed));
}
