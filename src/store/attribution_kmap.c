/*
 * attribution_kmap.c - the string-tuple -> dense index map and the array growth that every
 * per-call structure of attribution is built on (attribution_int.h). Owns the copies of
 * its keys. Runs on the writer thread; a map belongs to one ingest call.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "attribution_int.h"

void kmap_free(struct kmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].key);
    }
    free(m->e);
    free(m->buckets);
    memset(m, 0, sizeof(*m));
}

static uint64_t kmap_hash(const char *k, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    }
    return h;
}

static void kmap_grow(struct kmap *m)
{
    /* start small: most maps hold the few keys of one /assign group (a 2 KiB calloc per
     * map showed in profiles, with the fastbin consolidation it triggers in malloc) */
    size_t nb = m->nbuckets ? m->nbuckets * 2 : 16;
    size_t *b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < m->n; i++) {
        size_t h = (size_t)(kmap_hash(m->e[i].key, m->e[i].len) % nb);
        m->e[i].next = b[h];
        b[h] = i + 1;
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

/* Index of the tuple (a, b, c) (b, c may be NULL); *added true when it is new. */
size_t kmap_put(struct kmap *m, const char *a, const char *b, const char *c, bool *added)
{
    /* the key is "a\0b\0c" (no snprintf: this runs for every row of a batch) */
    const char *parts[3] = {a, b ? b : "", c ? c : ""};
    size_t plen[3] = {strlen(parts[0]), strlen(parts[1]), strlen(parts[2])};
    size_t klen = plen[0] + plen[1] + plen[2] + 2;
    char buf[512];
    char *heap = klen >= sizeof(buf) ? xmalloc(klen + 1) : NULL;
    char *key = heap != NULL ? heap : buf;
    size_t at = 0;
    for (int k = 0; k < 3; k++) {
        memcpy(key + at, parts[k], plen[k]);
        at += plen[k];
        key[at++] = '\0';
    }
    if (m->n * 2 >= m->nbuckets) {
        kmap_grow(m);
    }
    size_t h = (size_t)(kmap_hash(key, klen) % m->nbuckets);
    for (size_t i = m->buckets[h]; i != 0; i = m->e[i - 1].next) {
        if (m->e[i - 1].len == klen && memcmp(m->e[i - 1].key, key, klen) == 0) {
            free(heap);
            if (added != NULL) {
                *added = false;
            }
            return i - 1;
        }
    }
    if (m->n == m->alloc) {
        m->alloc = m->alloc ? m->alloc * 2 : 8;
        m->e = xrealloc(m->e, m->alloc * sizeof(*m->e));
    }
    struct kmap_entry *e = &m->e[m->n];
    e->key = heap != NULL ? heap : xmalloc(klen + 1);
    if (heap == NULL) {
        memcpy(e->key, key, klen + 1);
    }
    e->len = klen;
    e->next = m->buckets[h];
    m->buckets[h] = m->n + 1;
    if (added != NULL) {
        *added = true;
    }
    return m->n++;
}

/* Grow an array *p of *alloc elements of size sz to hold at least need. */
void array_grow(void *p, size_t *alloc, size_t need, size_t sz)
{
    if (need <= *alloc) {
        return;
    }
    size_t a = *alloc ? *alloc : 16;
    while (a < need) {
        a *= 2;
    }
    *(void **)p = xrealloc(*(void **)p, a * sz);
    *alloc = a;
}
