/*
 * arena.c - the bump allocator of arena.h: owns the chunks it takes from the heap (a lent
 * first block stays its lender's). Used by the writer thread's ingest calls; an arena is
 * never shared between threads.
 *
 * Under AddressSanitizer (make asan) every block starts poisoned, each allocation is
 * unpoisoned for exactly its size and followed by a poisoned redzone, so an overrun of an
 * arena array is reported as one of a malloc'd array was; arena_free unpoisons the lent
 * block (a stack block left poisoned would fault its next frames).
 */
#include "bunsen/arena.h"

#include <assert.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"

#define ARENA_ALIGN alignof(max_align_t)

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_REDZONE        ARENA_ALIGN /* poisoned bytes after each allocation */
#define arena_poison(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define arena_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_REDZONE        0
#define arena_poison(p, n)   ((void)(p), (void)(n))
#define arena_unpoison(p, n) ((void)(p), (void)(n))
#endif

/* A chunk from the heap: this header, then its block (the flexible member keeps the block
 * aligned for any object). */
struct arena_chunk {
    struct arena_chunk *next; /* the chunk taken before this one */
    size_t size;              /* bytes of its block */
    max_align_t block[];
};

static void arena_abort(size_t n)
{
    fprintf(stderr, "bunsen: arena: cannot allocate %zu bytes\n", n);
    abort();
}

/* The bytes an allocation of size takes from its block: its size and the redzone, rounded
 * up to the alignment; aborts when that overflows. */
static size_t arena_span(size_t size)
{
    if (size > SIZE_MAX - ARENA_REDZONE - 2 * ARENA_ALIGN) {
        arena_abort(size);
    }
    size_t n = (size ? size : 1) + ARENA_REDZONE;
    return (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

/* Bytes left in the current block (none before the first one). */
static size_t arena_room(const struct arena *a)
{
    return a->at == NULL ? 0 : (size_t)(a->end - a->at);
}

void arena_init(struct arena *a, void *buf, size_t size)
{
    assert(((uintptr_t)buf & (ARENA_ALIGN - 1)) == 0);
    assert(buf != NULL || size == 0);
    a->at = buf;
    a->end = buf == NULL ? NULL : (char *)buf + size;
    a->last = NULL;
    a->chunks = NULL;
    a->lent = buf;
    a->lent_size = size;
    if (buf != NULL) {
        arena_poison(buf, size);
    }
}

/* Make a new chunk of at least n (aligned) bytes the current block; what was left of the
 * previous block is not used again. */
static void arena_take_chunk(struct arena *a, size_t n)
{
    size_t bytes = n > ARENA_CHUNK ? n : ARENA_CHUNK;
    if (bytes > SIZE_MAX - sizeof(struct arena_chunk)) {
        arena_abort(n);
    }
    struct arena_chunk *c = xmalloc(sizeof(*c) + bytes);
    c->next = a->chunks;
    c->size = bytes;
    a->chunks = c;
    a->at = (char *)c->block;
    a->end = a->at + bytes;
    arena_poison(a->at, bytes);
}

void *arena_alloc(struct arena *a, size_t size)
{
    size_t n = arena_span(size);
    if (arena_room(a) < n) {
        arena_take_chunk(a, n);
    }
    char *p = a->at;
    a->at += n;
    a->last = p;
    arena_unpoison(p, size);
    return p;
}

void *arena_calloc(struct arena *a, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        arena_abort(SIZE_MAX);
    }
    void *p = arena_alloc(a, count * size);
    memset(p, 0, count * size);
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(a, n);
    memcpy(p, s, n);
    return p;
}

void arena_grow_array(struct arena *a, void *p, size_t *alloc, size_t need, size_t sz)
{
    if (need <= *alloc) {
        return;
    }
    size_t n = *alloc ? *alloc : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2) {
            arena_abort(SIZE_MAX);
        }
        n *= 2;
    }
    if (sz != 0 && n > SIZE_MAX / sz) {
        arena_abort(SIZE_MAX);
    }
    size_t span = arena_span(n * sz);
    char *old = *(void **)p;
    if (old != NULL && old == a->last && (size_t)(a->end - old) >= span) {
        a->at = old + span; /* the latest allocation: it takes more of its block */
        arena_unpoison(old, n * sz);
    } else {
        char *q = arena_alloc(a, n * sz);
        if (old != NULL) {
            memcpy(q, old, *alloc * sz);
        }
        *(void **)p = q;
    }
    *alloc = n;
}

void arena_free(struct arena *a)
{
    for (struct arena_chunk *c = a->chunks; c != NULL;) {
        struct arena_chunk *next = c->next;
        arena_unpoison(c->block, c->size);
        free(c);
        c = next;
    }
    if (a->lent != NULL) {
        arena_unpoison(a->lent, a->lent_size);
    }
    memset(a, 0, sizeof(*a));
}
