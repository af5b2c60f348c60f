/*
 * arena.h - a bump allocator for the scratch memory of one call: every allocation lives until
 * arena_free, which releases them all at once. Used by attribution (src/store/attribution*.c),
 * whose ingest calls build a dozen arrays, maps and per-key entries and drop them together
 * when the call returns: one arena replaces a malloc/free pair per structure (and per roll-up
 * entry), and the small calls of /assign groups fit in a first block the caller lends (on its
 * stack), so they make no allocation at all.
 *
 * DESIGN
 *   - Blocks: the lent first block, then chunks of ARENA_CHUNK bytes from xmalloc (or one of
 *     the size of a larger request), chained and freed by arena_free. Memory is never reused
 *     inside an arena: what a grown array leaves behind stays until the end.
 *   - Arrays grow in place while they are the arena's latest allocation and the block has
 *     room (the common case of one array filled in a loop), else by copy.
 *   - Alignment: every allocation is aligned for any object (max_align_t).
 *   - Under AddressSanitizer each allocation is followed by a poisoned redzone, so overruns
 *     are caught as they were for malloc'd arrays.
 *   - Out of memory aborts, as xmalloc does (util.h).
 * Not thread-safe: an arena belongs to the one thread that runs its call.
 */
#ifndef BUNSEN_ARENA_H
#define BUNSEN_ARENA_H

#include <stddef.h>

#define ARENA_CHUNK (64 * 1024) /* bytes of each chunk taken from the heap */

struct arena_chunk;

/* Zero-initialised = an arena with no block (the first allocation takes a chunk). */
struct arena {
    char *at;                   /* the free space of the current block: at .. end */
    char *end;                  /* end of the current block */
    char *last;                 /* the latest allocation (grown in place), NULL when none */
    struct arena_chunk *chunks; /* the chunks from the heap, newest first */
    char *lent;                 /* the lent first block (NULL: none), and its size */
    size_t lent_size;
};

/*
 * Start a with buf[0..size) as its first block (buf may be NULL with size 0: no lent block).
 * buf is borrowed until arena_free and must be aligned like max_align_t
 * (`_Alignas(max_align_t) char buf[N]`).
 */
void arena_init(struct arena *a, void *buf, size_t size);

/* size bytes, uninitialised, aligned for any object; valid until arena_free. size 0 gives a
 * distinct pointer like malloc(1). Never NULL (aborts on OOM or size overflow). */
void *arena_alloc(struct arena *a, size_t size);

/* count * size bytes, zeroed (calloc's semantics, overflow checked); valid until arena_free. */
void *arena_calloc(struct arena *a, size_t count, size_t size);

/* A copy of the string s in the arena; valid until arena_free. */
char *arena_strdup(struct arena *a, const char *s);

/*
 * Grow the array *p (a pointer variable: pass its address) of *alloc elements of sz bytes to
 * hold at least need, doubling from 16 elements; no-op when it already does. The first
 * *alloc elements are kept (in place or copied), the new ones are uninitialised. *p must be
 * NULL (with *alloc 0) or an array of this arena.
 */
void arena_grow_array(struct arena *a, void *p, size_t *alloc, size_t need, size_t sz);

/* Release every chunk taken from the heap (not the lent block); a is empty afterwards and may
 * be started again with arena_init. Accepts a zeroed arena. */
void arena_free(struct arena *a);

#endif
