/* Unit tests for core/snapshot.c: building, sealing (sorted, hot-path views filled) and
 * finding entries; and publication while reader threads loop read_begin/find/read_end,
 * which must never see a freed snapshot (run under valgrind or ASan to make that
 * visible) and must see generations that only increase, also when every snapshot shares
 * most of its entries with the one before (snapshot_add_from). */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bunsen/snapshot.h"

#define READERS     4
#define PUBLISHES   200
#define EXPERIMENTS 8

/* An experiment "<prefix><i>" with two variants; the seed records the generation. */
static void make_experiment(struct experiment *x, const char *key, int tag)
{
    char text[256];
    snprintf(text, sizeof(text),
             "{\"key\":\"%s\",\"seed\":\"tag-%d\",\"variants\":[{\"key\":\"control\"},{\"key\":"
             "\"treat\"}],\"targeting\":{\"tag\":%d},\"forced\":{\"qa\":\"treat\"}}",
             key, tag, tag);
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    struct err e;
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, x, &e), 0);
    x->status = ASSIGN_STATUS_RUNNING;
    json_decref(doc);
}

static struct snapshot *build(int tag)
{
    struct snapshot *s = snapshot_new();
    /* added in reverse order: seal sorts */
    for (int i = EXPERIMENTS - 1; i >= 0; i--) {
        char key[32];
        snprintf(key, sizeof(key), "exp-%02d", i);
        struct experiment x;
        make_experiment(&x, key, tag);
        snapshot_add(s, &x, 0);
        assert_null(x.targeting); /* ownership moved */
        assert_int_equal(x.released, -1);
    }
    snapshot_seal(s);
    return s;
}

static void test_build_seal_find(void **state)
{
    (void)state;
    struct snapshot *s = build(7);
    assert_int_equal(s->n, EXPERIMENTS);
    for (size_t i = 1; i < s->n; i++) {
        assert_true(strcmp(s->entries[i - 1]->x.key, s->entries[i]->x.key) < 0);
    }
    for (int i = 0; i < EXPERIMENTS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "exp-%02d", i);
        const struct snapshot_entry *e = snapshot_find(s, key);
        assert_non_null(e);
        assert_string_equal(e->x.key, key);
        /* the hot-path view points into the entry itself */
        assert_ptr_equal(e->a.key, e->x.key);
        assert_ptr_equal(e->a.variant_keys, e->keys);
        assert_string_equal(e->a.variant_keys[1], "treat");
        assert_true(e->a.weights[0] == 0.5);
        assert_ptr_equal(e->a.condition, e->x.targeting);
        assert_int_equal(e->a.status, ASSIGN_STATUS_RUNNING);
        struct assign_result r;
        assert_int_equal(assign_decide(&e->a, "qa", 2, NULL, &r, NULL), 0);
        assert_int_equal(r.reason, ASSIGN_REASON_FORCED);
        assert_int_equal(r.variant, 1);
    }
    assert_null(snapshot_find(s, "exp-99"));
    assert_null(snapshot_find(s, ""));
    assert_null(snapshot_find(s, "a"));
    assert_null(snapshot_find(s, "zzz"));
    snapshot_free(s);
    snapshot_free(NULL);
    /* an empty snapshot */
    s = snapshot_new();
    snapshot_seal(s);
    assert_int_equal(s->n, 0);
    assert_null(snapshot_find(s, "exp-00"));
    snapshot_free(s);
    /* one entry */
    s = snapshot_new();
    struct experiment x;
    make_experiment(&x, "solo", 1);
    snapshot_add(s, &x, 0);
    snapshot_seal(s);
    assert_non_null(snapshot_find(s, "solo"));
    assert_null(snapshot_find(s, "sol"));
    /* an entry without a text hash is never taken into another snapshot */
    struct snapshot *next = snapshot_new();
    assert_false(snapshot_add_from(next, s, 0));
    assert_false(snapshot_add_from(next, NULL, 42));
    assert_int_equal(next->n, 0);
    snapshot_free(next);
    snapshot_free(s);
}

/* Entries taken from the snapshot before (the same stored text) are shared, not copied:
 * each lives while a snapshot holds it, whichever is freed first (ASan sees a use after free
 * or a leak). */
static void test_share_entries(void **state)
{
    (void)state;
    struct snapshot *a = snapshot_new();
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof(key), "exp-%02d", i);
        struct experiment x;
        make_experiment(&x, key, 1);
        struct snapshot_entry *e = snapshot_add(a, &x, 100 + (uint64_t)i);
        assert_int_equal(e->doc_hash, 100 + (uint64_t)i);
    }
    snapshot_seal(a);
    /* b: exp-00 and exp-02 kept, exp-01 changed, exp-03 new */
    struct snapshot *b = snapshot_new();
    assert_true(snapshot_add_from(b, a, 100));
    assert_true(snapshot_add_from(b, a, 102));
    assert_false(snapshot_add_from(b, a, 201)); /* exp-01's new text: read again */
    struct experiment x;
    make_experiment(&x, "exp-01", 2);
    snapshot_add(b, &x, 201);
    make_experiment(&x, "exp-03", 2);
    snapshot_add(b, &x, 203);
    snapshot_seal(b);
    assert_int_equal(b->n, 4);
    assert_ptr_equal(snapshot_find(b, "exp-00"), snapshot_find(a, "exp-00"));
    assert_ptr_equal(snapshot_find(b, "exp-02"), snapshot_find(a, "exp-02"));
    assert_ptr_not_equal(snapshot_find(b, "exp-01"), snapshot_find(a, "exp-01"));
    assert_string_equal(snapshot_find(b, "exp-01")->x.seed, "tag-2");
    assert_string_equal(snapshot_find(a, "exp-01")->x.seed, "tag-1");
    assert_null(snapshot_find(a, "exp-03"));
    /* the shared entry's views are the ones its first seal built */
    const struct snapshot_entry *e = snapshot_find(b, "exp-02");
    assert_ptr_equal(e->a.key, e->x.key);
    assert_ptr_equal(e->a.compiled, e->cond);
    struct assign_result r;
    assert_int_equal(assign_decide(&e->a, "qa", 2, NULL, &r, NULL), 0);
    assert_int_equal(r.reason, ASSIGN_REASON_FORCED);
    /* the older one freed first: b's entries live on */
    snapshot_free(a);
    assert_string_equal(snapshot_find(b, "exp-00")->x.seed, "tag-1");
    /* c from b after a is gone, then b freed before c */
    struct snapshot *c = snapshot_new();
    for (uint64_t h = 100; h < 205; h++) {
        snapshot_add_from(c, b, h);
    }
    snapshot_seal(c);
    assert_int_equal(c->n, 4);
    snapshot_free(b);
    assert_string_equal(snapshot_find(c, "exp-03")->x.seed, "tag-2");
    assert_int_equal(assign_decide(&snapshot_find(c, "exp-02")->a, "qa", 2, NULL, &r, NULL), 0);
    snapshot_free(c);
}

static void test_cell_basics(void **state)
{
    (void)state;
    struct snapshot_cell *c = snapshot_cell_new();
    const struct snapshot *s = snapshot_read_begin(c);
    assert_int_equal(s->n, 0);
    uint64_t g0 = s->generation;
    snapshot_read_end(c, s);
    snapshot_publish(c, build(1));
    s = snapshot_read_begin(c);
    assert_int_equal(s->n, EXPERIMENTS);
    uint64_t g1 = s->generation;
    assert_true(g1 > g0);
    snapshot_read_end(c, s);
    snapshot_publish(c, build(2));
    s = snapshot_read_begin(c);
    assert_true(s->generation > g1);
    assert_string_equal(snapshot_find(s, "exp-03")->x.seed, "tag-2");
    snapshot_read_end(c, s);
    snapshot_cell_free(c);
    snapshot_cell_free(NULL);
}

struct reader_ctx {
    struct snapshot_cell *cell;
    atomic_bool *stop;
    atomic_long reads;
    int errors;
};

/* Loop: borrow, check every entry is intact and consistent with its generation tag,
 * check the generation never goes back, give back. */
static void *reader(void *arg)
{
    struct reader_ctx *rc = arg;
    uint64_t last = 0;
    while (!atomic_load(rc->stop)) {
        const struct snapshot *s = snapshot_read_begin(rc->cell);
        if (s->generation < last) {
            rc->errors++;
        }
        last = s->generation;
        if (s->n != 0) {
            const struct snapshot_entry *e = snapshot_find(s, "exp-05");
            if (e == NULL || s->n != EXPERIMENTS) {
                rc->errors++;
            } else {
                char want[32];
                json_int_t tag = json_integer_value(json_object_get(e->x.targeting, "tag"));
                snprintf(want, sizeof(want), "tag-%d", (int)tag);
                struct assign_result r;
                if (strcmp(e->x.seed, want) != 0 || strcmp(e->a.variant_keys[1], "treat") != 0 ||
                    assign_decide(&e->a, "u-1", 3, NULL, &r, NULL) != 0) {
                    rc->errors++;
                }
            }
        }
        snapshot_read_end(rc->cell, s);
        atomic_fetch_add(&rc->reads, 1);
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_publish_under_readers(void **state)
{
    (void)state;
    struct snapshot_cell *c = snapshot_cell_new();
    atomic_bool stop;
    atomic_init(&stop, false);
    struct reader_ctx ctx[READERS];
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++) {
        ctx[i].cell = c;
        ctx[i].stop = &stop;
        atomic_init(&ctx[i].reads, 0);
        ctx[i].errors = 0;
        assert_int_equal(pthread_create(&th[i], NULL, reader, &ctx[i]), 0);
    }
    /* every reader is looping before the first publish (matters under valgrind) */
    for (int i = 0; i < READERS; i++) {
        while (atomic_load(&ctx[i].reads) == 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000};
            nanosleep(&ts, NULL);
        }
    }
    /* spread PUBLISHES over ~0.3 s */
    double start = now_s();
    uint64_t last = 0;
    for (int p = 1; p <= PUBLISHES; p++) {
        snapshot_publish(c, build(p));
        const struct snapshot *s = snapshot_read_begin(c);
        assert_true(s->generation > last);
        last = s->generation;
        snapshot_read_end(c, s);
        double target = start + 0.3 * p / PUBLISHES;
        double left = target - now_s();
        if (left > 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(left * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    atomic_store(&stop, true);
    long reads = 0;
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(ctx[i].errors, 0);
        reads += atomic_load(&ctx[i].reads);
    }
    assert_true(reads > 0);
    assert_true(last >= PUBLISHES);
    const struct snapshot *s = snapshot_read_begin(c);
    assert_string_equal(snapshot_find(s, "exp-00")->x.seed, "tag-200");
    snapshot_read_end(c, s);
    snapshot_cell_free(c);
}

/* The next snapshot from the current one, as a reload builds it: every entry taken from
 * prev but exp-(p % EXPERIMENTS), read again with tag p (its text hash p * 1000 + i + 1). */
static struct snapshot *build_from(const struct snapshot *prev, int p)
{
    struct snapshot *s = snapshot_new();
    for (int i = 0; i < EXPERIMENTS; i++) {
        const struct snapshot_entry *was = prev->entries[i];
        if (i == p % EXPERIMENTS || !snapshot_add_from(s, prev, was->doc_hash)) {
            char key[32];
            snprintf(key, sizeof(key), "exp-%02d", i);
            struct experiment x;
            make_experiment(&x, key, p);
            snapshot_add(s, &x, (uint64_t)p * 1000 + (uint64_t)i + 1);
        }
    }
    snapshot_seal(s);
    return s;
}

/* Reader threads loop over every entry of the current snapshot while each publish shares
 * all but one entry with the snapshot before: a shared entry must stay intact while any
 * snapshot holding it is read, and be freed with the last one (ASan). */
static void *share_reader(void *arg)
{
    struct reader_ctx *rc = arg;
    while (!atomic_load(rc->stop)) {
        const struct snapshot *s = snapshot_read_begin(rc->cell);
        for (size_t i = 0; i < s->n; i++) {
            const struct snapshot_entry *e = s->entries[i];
            int tag = (int)json_integer_value(json_object_get(e->x.targeting, "tag"));
            char want[32];
            snprintf(want, sizeof(want), "tag-%d", tag);
            struct assign_result r;
            if (strcmp(e->x.seed, want) != 0 ||
                e->doc_hash != (uint64_t)tag * 1000 + (uint64_t)i + 1 ||
                assign_decide(&e->a, "qa", 2, NULL, &r, NULL) != 0 ||
                r.reason != ASSIGN_REASON_FORCED) {
                rc->errors++;
            }
        }
        snapshot_read_end(rc->cell, s);
        atomic_fetch_add(&rc->reads, 1);
    }
    return NULL;
}

static void test_publish_shared_under_readers(void **state)
{
    (void)state;
    struct snapshot_cell *c = snapshot_cell_new();
    struct snapshot *first = snapshot_new();
    for (int i = 0; i < EXPERIMENTS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "exp-%02d", i);
        struct experiment x;
        make_experiment(&x, key, 0);
        snapshot_add(first, &x, (uint64_t)i + 1);
    }
    snapshot_seal(first);
    snapshot_publish(c, first);
    atomic_bool stop;
    atomic_init(&stop, false);
    struct reader_ctx ctx[READERS];
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++) {
        ctx[i].cell = c;
        ctx[i].stop = &stop;
        atomic_init(&ctx[i].reads, 0);
        ctx[i].errors = 0;
        assert_int_equal(pthread_create(&th[i], NULL, share_reader, &ctx[i]), 0);
    }
    for (int i = 0; i < READERS; i++) {
        while (atomic_load(&ctx[i].reads) == 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000};
            nanosleep(&ts, NULL);
        }
    }
    double start = now_s();
    for (int p = 1; p <= PUBLISHES; p++) {
        const struct snapshot *prev = snapshot_read_begin(c);
        struct snapshot *next = build_from(prev, p);
        /* all but one entry shared */
        size_t shared = 0;
        for (size_t i = 0; i < next->n; i++) {
            shared += next->entries[i] == prev->entries[i];
        }
        assert_int_equal(shared, EXPERIMENTS - 1);
        snapshot_read_end(c, prev);
        snapshot_publish(c, next);
        double left = start + 0.3 * p / PUBLISHES - now_s();
        if (left > 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(left * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    atomic_store(&stop, true);
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(ctx[i].errors, 0);
    }
    const struct snapshot *s = snapshot_read_begin(c);
    /* exp-00 was last read again at the last multiple of EXPERIMENTS */
    assert_string_equal(snapshot_find(s, "exp-00")->x.seed, "tag-200");
    assert_string_equal(snapshot_find(s, "exp-01")->x.seed, "tag-193");
    snapshot_read_end(c, s);
    snapshot_cell_free(c);
}

/* Publishes 2..20 into a cell, on a thread of their own (test_long_reader_never_blocks_publish). */
struct publisher {
    struct snapshot_cell *c;
    atomic_bool done;
};

static void *publish_main(void *arg)
{
    struct publisher *p = arg;
    for (int i = 2; i <= 20; i++) {
        snapshot_publish(p->c, build(i));
    }
    atomic_store(&p->done, true);
    return NULL;
}

/* Wait until *done, for up to 30 s: a hang detector, not a latency bound. */
static bool wait_done(atomic_bool *done)
{
    for (int i = 0; i < 6000 && !atomic_load(done); i++) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 5000000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(done);
}

/* A reader that keeps a snapshot for a long time delays neither publishes nor other
 * readers; the retired snapshot lives until that reader gives it back, then is freed. The
 * publishes run while the reader holds its snapshot and must complete (with the old wait they
 * never returned: the hang detector fails the test instead of hanging it). */
static void test_long_reader_never_blocks_publish(void **state)
{
    (void)state;
    struct snapshot_cell *c = snapshot_cell_new();
    snapshot_publish(c, build(1));
    const struct snapshot *held = snapshot_read_begin(c);
    struct publisher pub = {.c = c};
    atomic_init(&pub.done, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, publish_main, &pub), 0);
    if (!wait_done(&pub.done)) {
        fail_msg("19 publishes did not complete while a reader held a snapshot");
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    const struct snapshot *s = snapshot_read_begin(c);
    assert_string_equal(snapshot_find(s, "exp-00")->x.seed, "tag-20");
    snapshot_read_end(c, s);
    /* the held one is intact and still retired-but-alive */
    assert_string_equal(snapshot_find(held, "exp-00")->x.seed, "tag-1");
    for (int i = 0; i < 6000 && snapshot_cell_retired(c) > 1; i++) { /* a hang detector: 30 s */
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 5000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(snapshot_cell_retired(c), 1);
    snapshot_read_end(c, held);
    assert_int_equal(snapshot_cell_retired(c), 0);
    snapshot_cell_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_seal_find),
        cmocka_unit_test(test_cell_basics),
        cmocka_unit_test(test_share_entries),
        cmocka_unit_test(test_publish_under_readers),
        cmocka_unit_test(test_publish_shared_under_readers),
        cmocka_unit_test(test_long_reader_never_blocks_publish),
    };
    return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
