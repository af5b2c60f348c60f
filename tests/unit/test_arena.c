/* Unit tests for store/arena.c: the bump allocator of one ingest call (bunsen/arena.h). Its
 * lent first block, the spill into heap chunks, alignment, calloc semantics, array growth in
 * place and by copy, and release (leaks show under `make asan`). And the key map built on it
 * (store/attribution_kmap.c): tuples, growth, and buckets that chosen keys cannot flood. */
#include "unit.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/arena.h"
#include "../../src/store/attribution_int.h"

static bool is_aligned(const void *p)
{
    return ((uintptr_t)p % alignof(max_align_t)) == 0;
}

static bool is_inside(const void *p, size_t n, const void *buf, size_t size)
{
    const char *c = p, *b = buf;
    return c >= b && c + n <= b + size;
}

/* Allocations fit in the lent block first: no chunk is taken, each is aligned, distinct
 * and keeps what was written to it. */
static void test_lent_block(void **state)
{
    (void)state;
    alignas(max_align_t) char buf[4096];
    struct arena a;
    arena_init(&a, buf, sizeof(buf));
    char *p[20];
    for (int i = 0; i < 20; i++) {
        size_t n = (size_t)i * 7 + 1;
        p[i] = arena_alloc(&a, n);
        assert_true(is_aligned(p[i]));
        assert_true(is_inside(p[i], n, buf, sizeof(buf)));
        memset(p[i], 'a' + i, n);
    }
    assert_null(a.chunks);
    for (int i = 0; i < 20; i++) {
        for (size_t k = 0; k < (size_t)i * 7 + 1; k++) {
            assert_int_equal(p[i][k], 'a' + i);
        }
    }
    /* size 0 still gives distinct pointers, as malloc(1) would */
    void *z0 = arena_alloc(&a, 0), *z1 = arena_alloc(&a, 0);
    assert_ptr_not_equal(z0, z1);
    arena_free(&a);
    assert_null(a.at);
    assert_null(a.chunks);
}

/* When the lent block is full the arena takes ARENA_CHUNK chunks from the heap; an
 * allocation larger than a chunk gets one of its own size. Everything stays readable. */
static void test_spill_to_chunks(void **state)
{
    (void)state;
    alignas(max_align_t) char buf[256];
    struct arena a;
    arena_init(&a, buf, sizeof(buf));
    unsigned char *small = arena_alloc(&a, 200);
    memset(small, 1, 200);
    unsigned char *next = arena_alloc(&a, 100); /* does not fit: first chunk */
    assert_false(is_inside(next, 100, buf, sizeof(buf)));
    assert_non_null(a.chunks);
    assert_true(is_aligned(next));
    memset(next, 2, 100);
    size_t big_n = 3 * ARENA_CHUNK + 5;
    unsigned char *big = arena_alloc(&a, big_n);
    assert_true(is_aligned(big));
    memset(big, 3, big_n);
    /* many small ones across several chunks */
    unsigned char *many[2000];
    for (int i = 0; i < 2000; i++) {
        many[i] = arena_alloc(&a, 100);
        memset(many[i], i & 0xff, 100);
    }
    for (int i = 0; i < 200; i++) {
        assert_int_equal(small[i], 1);
    }
    for (int i = 0; i < 100; i++) {
        assert_int_equal(next[i], 2);
    }
    assert_int_equal(big[0], 3);
    assert_int_equal(big[big_n - 1], 3);
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(many[i][0], i & 0xff);
        assert_int_equal(many[i][99], i & 0xff);
    }
    arena_free(&a);
    assert_null(a.chunks);
}

/* A zeroed arena (no lent block) works from its first allocation, and an arena can be
 * started again after arena_free. arena_free accepts a zeroed arena. */
static void test_no_lent_block(void **state)
{
    (void)state;
    struct arena a = {0};
    arena_free(&a);
    int *x = arena_alloc(&a, sizeof(*x));
    *x = 42;
    assert_non_null(a.chunks);
    assert_int_equal(*x, 42);
    arena_free(&a);
    arena_init(&a, NULL, 0);
    char *s = arena_strdup(&a, "again");
    assert_string_equal(s, "again");
    arena_free(&a);
}

/* arena_calloc zeroes, also where the lent block held garbage. */
static void test_calloc_zeroes(void **state)
{
    (void)state;
    alignas(max_align_t) char buf[1024];
    memset(buf, 0xaa, sizeof(buf));
    struct arena a;
    arena_init(&a, buf, sizeof(buf));
    uint64_t *v = arena_calloc(&a, 100, sizeof(*v)); /* 800 bytes: the lent block */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(v[i], 0);
    }
    uint64_t *w = arena_calloc(&a, 100, sizeof(*w)); /* a chunk */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(w[i], 0);
    }
    assert_non_null(arena_calloc(&a, 0, 8));
    assert_non_null(arena_calloc(&a, 8, 0));
    arena_free(&a);
}

static void test_strdup(void **state)
{
    (void)state;
    alignas(max_align_t) char buf[64];
    struct arena a;
    arena_init(&a, buf, sizeof(buf));
    const char *src = "experiment-with-a-name-longer-than-the-lent-block-of-sixty-four-bytes";
    char *s = arena_strdup(&a, src);
    char *e = arena_strdup(&a, "");
    assert_string_equal(s, src);
    assert_string_equal(e, "");
    assert_ptr_not_equal(s, src);
    arena_free(&a);
}

/* The latest allocation grows in place (its pointer stays) while its block has room; an
 * array that is no longer the latest is copied. Doubling from 16; need <= alloc is a no-op. */
static void test_grow_array(void **state)
{
    (void)state;
    alignas(max_align_t) char buf[8192];
    struct arena a;
    arena_init(&a, buf, sizeof(buf));
    int *v = NULL;
    size_t alloc = 0;
    arena_grow_array(&a, &v, &alloc, 1, sizeof(*v));
    assert_non_null(v);
    assert_int_equal(alloc, 16);
    for (int i = 0; i < 16; i++) {
        v[i] = i;
    }
    int *before = v;
    arena_grow_array(&a, &v, &alloc, 10, sizeof(*v)); /* already holds it */
    assert_ptr_equal(v, before);
    assert_int_equal(alloc, 16);
    arena_grow_array(&a, &v, &alloc, 17, sizeof(*v)); /* latest: in place */
    assert_ptr_equal(v, before);
    assert_int_equal(alloc, 32);
    for (int i = 16; i < 32; i++) {
        v[i] = i;
    }
    /* another allocation after it: the next growth copies */
    char *other = arena_alloc(&a, 10);
    memset(other, 'x', 10);
    arena_grow_array(&a, &v, &alloc, 100, sizeof(*v));
    assert_ptr_not_equal(v, before);
    assert_int_equal(alloc, 128);
    for (int i = 0; i < 32; i++) {
        assert_int_equal(v[i], i);
    }
    for (int i = 32; i < 128; i++) {
        v[i] = i;
    }
    /* far past the lent block and a chunk: the contents follow */
    arena_grow_array(&a, &v, &alloc, 100000, sizeof(*v));
    assert_int_equal(alloc, 131072);
    assert_true(is_aligned(v));
    for (int i = 0; i < 128; i++) {
        assert_int_equal(v[i], i);
    }
    v[alloc - 1] = -1;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(other[i], 'x');
    }
    arena_free(&a);
}

/* Two arrays filled in turn (the pattern of parallel arrays): each keeps its contents. */
static void test_grow_two_arrays(void **state)
{
    (void)state;
    alignas(max_align_t) char buf[1024];
    struct arena a;
    arena_init(&a, buf, sizeof(buf));
    size_t *x = NULL;
    double *y = NULL;
    size_t ax = 0, ay = 0;
    for (size_t i = 0; i < 5000; i++) {
        arena_grow_array(&a, &x, &ax, i + 1, sizeof(*x));
        arena_grow_array(&a, &y, &ay, i + 1, sizeof(*y));
        x[i] = i;
        y[i] = (double)i / 2;
    }
    for (size_t i = 0; i < 5000; i++) {
        assert_int_equal(x[i], i);
        assert_true(y[i] == (double)i / 2);
    }
    arena_free(&a);
}

/* Tuples are keys part by part ("ab","c" is not "a","bc"); a key put again gets its index. */
static void test_kmap_tuples(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, NULL, 0);
    struct kmap m = {.arena = &a};
    bool added = false;
    assert_int_equal(kmap_put(&m, "ab", "c", NULL, &added), 0);
    assert_true(added);
    assert_int_equal(kmap_put(&m, "a", "bc", NULL, &added), 1);
    assert_true(added);
    assert_int_equal(kmap_put(&m, "ab", "c", NULL, &added), 0);
    assert_false(added);
    assert_int_equal(kmap_put(&m, "ab", "c", "", &added), 0); /* NULL parts are empty */
    assert_false(added);
    char k[32];
    for (int i = 0; i < 5000; i++) { /* growth keeps every index */
        snprintf(k, sizeof(k), "user-%d", i);
        assert_int_equal(kmap_put(&m, k, "exp", "metric", &added), (size_t)i + 2);
        assert_true(added);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "user-%d", i);
        assert_int_equal(kmap_put(&m, k, "exp", "metric", &added), (size_t)i + 2);
        assert_false(added);
    }
    arena_free(&a);
}

/* User ids chosen so that an unkeyed FNV-1a of the key puts all of them in one bucket of a
 * power-of-two table (its low bits depend only on the input's): the map's keyed hash spreads
 * them like any others. With FNV-1a, 2,000 such keys made chains of ~500. */
static void test_kmap_flood(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, NULL, 0);
    struct kmap m = {.arena = &a};
    char k[32];
    int found = 0;
    for (unsigned long i = 0; found < 2000; i++) {
        int len = snprintf(k, sizeof(k), "u%lx", i);
        uint64_t h = 1469598103934665603ull;
        for (int j = 0; j <= len; j++) { /* the key "u...\0exp\0" as kmap_put laid it out */
            h = (h ^ (unsigned char)k[j]) * 1099511628211ull;
        }
        for (const char *p = "exp"; *p != '\0'; p++) {
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        }
        h *= 1099511628211ull;
        if ((h & 0x3ff) != 0x155) {
            continue;
        }
        found++;
        kmap_put(&m, k, "exp", NULL, NULL);
    }
    assert_int_equal(m.n, 2000);
    size_t longest = 0;
    for (size_t b = 0; b < m.nbuckets; b++) {
        size_t len = 0;
        for (size_t i = m.buckets[b]; i != 0; i = m.e[i - 1].next) {
            len++;
        }
        longest = len > longest ? len : longest;
    }
    assert_true(longest < 32);
    arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lent_block),      cmocka_unit_test(test_spill_to_chunks),
        cmocka_unit_test(test_no_lent_block),   cmocka_unit_test(test_calloc_zeroes),
        cmocka_unit_test(test_strdup),          cmocka_unit_test(test_grow_array),
        cmocka_unit_test(test_grow_two_arrays), cmocka_unit_test(test_kmap_tuples),
        cmocka_unit_test(test_kmap_flood),
    };
    return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
