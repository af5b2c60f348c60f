/*
 * rebuild.c - the rebuilder: one thread that drives the running roll-up rebuilds (store.h
 * "Rebuilds beside ingestion") chunk by chunk through the writer, each chunk its own short
 * writer job (store_write_sync), so exposures, events and logged assignments keep
 * committing between chunks. It looks for work in the database (a definition change
 * commits the rebuild's state; after a crash the state is still there) a few times a
 * second when idle.
 * Test gate (tests only; nothing read or checked otherwise): when the environment names a file
 * in BUNSEN_TEST_REBUILD_GATE at start, no chunk runs while that file exists, so that a test
 * reads beside a rebuild in progress for as long as it chooses (test_results_series.c),
 * whatever the machine's pace.
 * Threads: its own; started after the writer and stopped before it (serve.c).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/log.h"
#include "bunsen/util.h"

#define IDLE_MS    200
#define KEEP_TRIES 3 /* attempts at keeping a rebuild's ratio sums before it goes on */

struct rebuilder {
    struct app *app;
    pthread_t th;
    pthread_mutex_t mu; /* guards stop */
    pthread_cond_t cv;  /* signalled on stop */
    bool stop;
    char *gate; /* BUNSEN_TEST_REBUILD_GATE (tests only), or NULL */
};

struct step {
    char key[65];
    bool finished;
};

static int step_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct step *st = arg;
    return api_rollup_rebuild_step(tx, st->key, &st->finished, err);
}

static void first_emit(void *ctx, const struct store_rebuild *r)
{
    struct store_rebuild *first = ctx;
    if (first->experiment[0] == '\0') {
        *first = *r;
    }
}

/* Sleep ms unless stopped; returns true when stopping. */
static bool nap(struct rebuilder *rb, int ms)
{
    struct timespec until = time_monotonic_in(ms);
    pthread_mutex_lock(&rb->mu);
    while (!rb->stop && pthread_cond_timedwait(&rb->cv, &rb->mu, &until) == 0) {
    }
    bool stop = rb->stop;
    pthread_mutex_unlock(&rb->mu);
    return stop;
}

static void *rebuilder_main(void *arg)
{
    struct rebuilder *rb = arg;
    struct store *s = rb->app->store;
    size_t chunk;
    int pause_ms;
    store_rebuild_settings(s, &chunk, &pause_ms);
    char current[65] = "";
    int64_t t0 = 0;
    int keep_failures = 0; /* of the current experiment's ratio sums */
    /* the list fails every second during a database outage: a line per 10 s, and one when
     * it works again (review journey35 F2) */
    static struct log_streak list_streak;
    for (;;) {
        struct store_rebuild first;
        memset(&first, 0, sizeof(first));
        struct err err;
        err_clear(&err);
        if (store_rebuild_list(s, first_emit, &first, &err) != 0) {
            log_streak_fail(&list_streak, "rebuild: cannot list", store_err_log_fields(s, &err));
            if (nap(rb, 1000)) {
                break;
            }
            continue;
        }
        log_streak_ok(&list_streak, "rebuild: list recovered");
        if (first.experiment[0] == '\0') {
            if (nap(rb, IDLE_MS)) {
                break;
            }
            continue;
        }
        if (strcmp(current, first.experiment) != 0) {
            memcpy(current, first.experiment, sizeof(current));
            keep_failures = 0;
            t0 = time_now_ms();
            log_json(LOG_INFO, "rebuild running",
                     json_pack("{s:s, s:I, s:I}", "experiment", first.experiment, "users_done",
                               (json_int_t)first.users_done, "users_total",
                               (json_int_t)first.users_total));
        }
        /* before the first chunk of a first generation: keep the ratio metrics' sums (they
         * come from per-user values, which the chunks rewrite); no chunk before, unless
         * keeping failed KEEP_TRIES times (then the rebuild goes on and its ratios report
         * that they have no kept sums: a stalled rebuild would be worse) */
        if (!first.ratios_kept && first.generation == 1 && first.cursor[0] == '\0' &&
            keep_failures < KEEP_TRIES && results_ratio_keep(s, &first, &err) != 0) {
            keep_failures++;
            log_json(LOG_ERROR, "rebuild: cannot keep the ratio sums",
                     json_pack("{s:s, s:s, s:i}", "experiment", first.experiment, "error", err.msg,
                               "attempt", keep_failures));
            if (nap(rb, 1000)) {
                break;
            }
            continue;
        }
        if (rb->gate != NULL && access(rb->gate, F_OK) == 0) {
            if (nap(rb, 5)) { /* the test gate: held before the next chunk */
                break;
            }
            continue;
        }
        struct step st;
        memset(&st, 0, sizeof(st));
        memcpy(st.key, first.experiment, sizeof(st.key));
        if (store_write_sync(s, step_apply, &st, &err) != 0) {
            log_json(LOG_ERROR, "rebuild chunk failed",
                     json_pack("{s:s, s:s}", "experiment", st.key, "error", err.msg));
            if (nap(rb, 1000)) {
                break;
            }
            continue;
        }
        if (st.finished) {
            log_json(LOG_INFO, "rebuild finished",
                     json_pack("{s:s, s:I}", "experiment", st.key, "duration_ms",
                               (json_int_t)(time_now_ms() - t0)));
            current[0] = '\0';
        }
        if (pause_ms > 0 && nap(rb, pause_ms)) {
            break;
        }
        pthread_mutex_lock(&rb->mu);
        bool stop = rb->stop;
        pthread_mutex_unlock(&rb->mu);
        if (stop) {
            break;
        }
    }
    return NULL;
}

struct rebuilder *api_rebuilder_start(struct app *app)
{
    struct rebuilder *rb = xcalloc(1, sizeof(*rb));
    rb->app = app;
    const char *gate = getenv("BUNSEN_TEST_REBUILD_GATE");
    rb->gate = gate != NULL && gate[0] != '\0' ? xstrdup(gate) : NULL;
    pthread_mutex_init(&rb->mu, NULL);
    cond_init_monotonic(&rb->cv);
    if (thread_start(&rb->th, rebuilder_main, rb) != 0) {
        abort(); /* as an allocation failure */
    }
    return rb;
}

void api_rebuilder_stop(struct rebuilder *rb)
{
    if (rb == NULL) {
        return;
    }
    pthread_mutex_lock(&rb->mu);
    rb->stop = true;
    pthread_cond_signal(&rb->cv);
    pthread_mutex_unlock(&rb->mu);
    pthread_join(rb->th, NULL);
    pthread_cond_destroy(&rb->cv);
    pthread_mutex_destroy(&rb->mu);
    free(rb->gate);
    free(rb);
}
