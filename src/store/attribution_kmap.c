/*
 * attribution_kmap.c - the string-tuple -> dense index map that the per-call structures of
 * attribution are built on (attribution_int.h). Holds copies of its keys, back to back in
 * one array; its tables and keys are in the call's arena. Runs on the writer thread; a map
 * belongs to one ingest call.
 *
 * The keys are the request's (user ids, experiment keys) and the buckets a power of two, so
 * the hash is keyed with a secret of the process (hash_keyed, bunsen/util.h: SipHash-2-4):
 * with an unkeyed hash (FNV-1a, whose low bits depend only on the low bits of the input),
 * 10,000 user ids chosen to share a bucket were found in seconds and made one map of a
 * request cost 89 ms of the writer's time instead of 1.3 ms.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "attribution_int.h"

static void kmap_grow(struct kmap *m)
{
    /* start small: most maps hold the few keys of one /assign group (a 2 KiB calloc per
     * map showed in profiles, with the fastbin consolidation it triggers in malloc) */
    size_t nb = m->nbuckets ? m->nbuckets * 2 : 16;
    size_t *b = arena_calloc(m->arena, nb, sizeof(*b));
    for (size_t i = 0; i < m->n; i++) {
        size_t h = (size_t)(m->e[i].hash % nb);
        m->e[i].next = b[h];
        b[h] = i + 1;
    }
    m->buckets = b;
    m->nbuckets = nb;
}

/* Index of the tuple (a, b, c) (b, c may be NULL); *added true when it is new. */
size_t kmap_put(struct kmap *m, const char *a, const char *b, const char *c, bool *added)
{
    /* The key "a\0b\0c\0" is written at the end of text and hashed there; when it is
     * already in the map text_len stays put. No allocation per key: this runs several times
     * for every row of a batch. */
    const char *parts[3] = {a, b ? b : "", c ? c : ""};
    size_t plen[3] = {strlen(parts[0]), strlen(parts[1]), strlen(parts[2])};
    size_t klen = plen[0] + plen[1] + plen[2] + 2;
    arena_grow_array(m->arena, &m->text, &m->text_alloc, m->text_len + klen + 1, 1);
    char *key = m->text + m->text_len;
    size_t at = 0;
    for (int k = 0; k < 3; k++) {
        memcpy(key + at, parts[k], plen[k] + 1);
        at += plen[k] + 1;
    }
    uint64_t hash = hash_keyed(key, klen);
    if (m->n * 2 >= m->nbuckets) {
        kmap_grow(m);
    }
    size_t h = (size_t)(hash % m->nbuckets);
    for (size_t i = m->buckets[h]; i != 0; i = m->e[i - 1].next) {
        const struct kmap_entry *e = &m->e[i - 1];
        if (e->hash == hash && e->len == klen && memcmp(m->text + e->off, key, klen) == 0) {
            if (added != NULL) {
                *added = false;
            }
            return i - 1;
        }
    }
    arena_grow_array(m->arena, &m->e, &m->alloc, m->n + 1, sizeof(*m->e));
    struct kmap_entry *e = &m->e[m->n];
    e->off = m->text_len;
    e->len = klen;
    e->hash = hash;
    e->next = m->buckets[h];
    m->buckets[h] = m->n + 1;
    m->text_len += klen;
    if (added != NULL) {
        *added = true;
    }
    return m->n++;
}
