/*
 * writer.c - the single writer thread's group commit and its completion thread (see the
 * DESIGN note in store.h). The queue it takes groups from (store_submit, the lane of small
 * jobs, which jobs make a group) is writer_queue.c's: the writer takes every queued job (up
 * to WRITER_GROUP_MAX and the backend's items) per transaction, so under load many requests
 * share one fsync and at idle a lone request commits immediately.
 *
 * Backend-neutral: transactions and savepoints go through the backend's ops table.
 * Threads: any thread calls store_submit(); the writer thread alone uses the backend's
 * writer connection while it runs and calls apply(). done() runs on the completion thread,
 * in commit order, once the group committed (or failed): the writer hands each group's jobs
 * over and starts the next transaction at once. Each done() of an /assign resumes an HTTP
 * connection (an eventfd write and a mutex in libmicrohttpd): ~100 µs for a group of ~20,
 * which the writer used to spend before its next BEGIN (docs/PERFORMANCE.md "Eighth
 * pass": +6% logged /assign per second). A group with a barrier job waits until its done()
 * calls ran before the writer takes the next group (store.h: a barrier's done() runs
 * before any later job's apply()). Also here: store_write_sync, the writer's statistics
 * and metrics, and its start and stop.
 */
#include "writer_int.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/log.h"
#include "bunsen/metrics.h"
#include "bunsen/util.h"

static void *completer_main(void *arg)
{
    struct writer *w = arg;
    pthread_mutex_lock(&w->cmu);
    for (;;) {
        while (w->chead == NULL && !w->cstop) {
            pthread_cond_wait(&w->ccv, &w->cmu);
        }
        if (w->chead == NULL) {
            break; /* stopping, and everything handed over is done */
        }
        struct store_job *list = w->chead;
        w->chead = NULL;
        w->ctail = &w->chead;
        w->cbusy = true;
        pthread_mutex_unlock(&w->cmu);
        for (struct store_job *j = list; j != NULL;) {
            struct store_job *next = j->next; /* done() may free the job */
            j->done(j->arg, j->rc, &j->err);
            j = next;
        }
        pthread_mutex_lock(&w->cmu);
        w->cbusy = false;
        if (w->chead == NULL) {
            pthread_cond_broadcast(&w->cidle);
        }
    }
    pthread_mutex_unlock(&w->cmu);
    return NULL;
}

/* Hand the jobs first.. (linked by next) to the completion thread; with wait, return only
 * once their done() calls (and every earlier one) have run. */
static void complete(struct writer *w, struct store_job *first, struct store_job **last_next,
                     bool wait)
{
    pthread_mutex_lock(&w->cmu);
    if (first != NULL) {
        *w->ctail = first;
        w->ctail = last_next;
        pthread_cond_signal(&w->ccv);
    }
    while (wait && (w->chead != NULL || w->cbusy)) {
        pthread_cond_wait(&w->cidle, &w->cmu);
    }
    pthread_mutex_unlock(&w->cmu);
}

static void fail_all(struct store_job *first, const struct err *err)
{
    for (struct store_job *j = first; j != NULL; j = j->next) {
        if (j->rc == 0) {
            j->rc = -1;
            j->err = *err;
        }
    }
}

/* One attempt at a group's transaction. With savepoints, each job's writes are isolated by
 * a savepoint: a job that fails leaves nothing and the others commit; when an undo or a
 * savepoint fails (ROLLBACK TO, RELEASE, SAVEPOINT), what the transaction holds is unknown
 * and the whole group fails and is rolled back rather than committed. Without (every job
 * retryable), the jobs run back to back and the first failure rolls the transaction back and
 * returns 1: the caller runs the group again with savepoints, unless the failure would come
 * back for every job (failure_recurs: the group then fails at once). Returns 0 (committed: each
 * job's rc says how it went), 1 or -1 (the group failed: fail_all done). */
#define RETRY_MAX 5

#define BATCH_MAX 512 /* jobs per apply_batch call */

/*
 * The users of a group, locked before its first job (backends with lock_users: several
 * writers on one database). A job locks its users as it runs (attribution.c lock_users); in
 * a group of several jobs, each job locking its own users one after the other let two
 * daemons' groups (job 1 user x, job 2 user y; job 1 y, job 2 x) wait for each other, which
 * PostgreSQL resolves only after deadlock_timeout (1 s by default) by rolling a group back:
 * three daemons ingesting overlapping users were 17-110x slower than one. So the writer
 * collects the users every job declares (store_job.users) and locks them in one statement,
 * in one global order, before the first job; the jobs find them locked. A transaction waits
 * for user locks only there: the users of a late joiner (writer_queue_take_joiners), or a job's
 * that it did not declare, are taken only where free (the backend's lock_users); a job that finds
 * one taken fails before it changed anything (store_ops.tx_intact) and runs again, first in the
 * next group, whose first statement waits for its users in order.
 */
struct users {
    const char **v;
    size_t n, cap;
};

static void users_emit(void *ctx, const char *user_id)
{
    struct users *u = ctx;
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 64;
        u->v = xrealloc(u->v, u->cap * sizeof(*u->v));
    }
    u->v[u->n++] = user_id;
}

static int users_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sort u and keep each user once. */
static void users_sort(struct users *u)
{
    qsort(u->v, u->n, sizeof(*u->v), users_cmp);
    size_t k = 0;
    for (size_t i = 0; i < u->n; i++) {
        if (k == 0 || strcmp(u->v[k - 1], u->v[i]) != 0) {
            u->v[k++] = u->v[i];
        }
    }
    u->n = k;
}

/* The transaction's group lock is over: forget (and free) its users. */
static void group_users_free(struct store_tx *tx)
{
    free(tx->users_locked);
    tx->users_locked = NULL;
    tx->nusers_locked = 0;
}

/* Lock the users the jobs first.. declare, in one call before any job runs (a backend
 * without lock_users: nothing). tx->users_locked holds them afterwards. 0 or -1. */
static int lock_group(struct store *s, struct store_tx *tx, struct store_job *first,
                      struct err *err)
{
    if (s->ops->lock_users == NULL) {
        return 0;
    }
    struct users u = {0};
    for (struct store_job *j = first; j != NULL; j = j->next) {
        if (j->users != NULL) {
            j->users(j->arg, users_emit, &u);
        }
    }
    if (u.n == 0) {
        free(u.v);
        return 0;
    }
    users_sort(&u);
    tx->users_locked = u.v;
    tx->nusers_locked = u.n;
    return s->ops->lock_users(tx, u.v, u.n, err);
}

/* How many jobs a group run with savepoints may hold (store_ops.savepoint_jobs_max). */
static int savepoint_jobs_max(const struct store *s)
{
    return s->ops->savepoint_jobs_max > 0 ? s->ops->savepoint_jobs_max : WRITER_GROUP_MAX;
}

/* Cut the group after its first n jobs: the rest, or NULL when it has no more. */
static struct store_job *group_cut(struct store_job *first, int n)
{
    struct store_job *j = first;
    for (int i = 1; i < n && j->next != NULL; i++) {
        j = j->next;
    }
    struct store_job *rest = j->next;
    j->next = NULL;
    return rest;
}

/* Whether the failure of a job (its err) in tx would come back for every job of the group
 * run again now (store_ops.tx_unavailable_recurs): the writer then fails the group at once. */
static bool failure_recurs(const struct store *s, struct store_tx *tx, const struct err *err)
{
    if (err->code != ERR_UNAVAILABLE) {
        return false;
    }
    return s->ops->tx_unavailable_recurs == NULL || s->ops->tx_unavailable_recurs(tx);
}

/* The savepoint-free attempt of run_attempt: consecutive jobs sharing an apply_batch run as
 * one call; once the group's jobs are applied, the retryable jobs queued meanwhile join it
 * (writer_queue_take_joiners, once: the commit is not put off further) and are applied too, so that
 * a retry with savepoints or the done() calls cover them as members of the group. 0 (committed) or
 * 1 (a job failed: rolled back, run again with savepoints) or -1 (the commit failed: fail_all
 * done). */
static int run_plain(struct store *s, struct store_tx *tx, struct store_job *first, struct err *err)
{
    const struct store_ops *ops = s->ops;
    void *args[BATCH_MAX];
    bool joined = false;
    int taken = 0;
    struct store_job *last = first;
    if (lock_group(s, tx, first, &first->err) != 0) {
        bool recurs = failure_recurs(s, tx, &first->err);
        ops->tx_rollback(tx);
        if (recurs) { /* the users' locks waited out: each job would wait as long again */
            *err = first->err;
            fail_all(first, err);
            return -1;
        }
        return 1;
    }
    for (struct store_job *j = first; j != NULL;) {
        struct store_job *end = j->next;
        int rc;
        if (j->apply_batch != NULL) {
            size_t n = 0;
            for (end = j; end != NULL && end->apply_batch == j->apply_batch && n < BATCH_MAX;
                 end = end->next) {
                args[n++] = end->arg;
            }
            rc = j->apply_batch(tx, args, n, &j->err);
        } else {
            rc = j->apply(tx, j->arg, &j->err);
        }
        if (rc != 0 && ops->tx_intact != NULL && ops->tx_intact(tx)) {
            /* it changed nothing (a lock it would have waited for out of order was taken:
             * lock_group): it runs again, first in a later group, and this group goes on */
            for (struct store_job *k = j; k != end; k = k->next) {
                k->rc = k->attempts < RETRY_MAX ? 1 : -1;
                k->err = j->err;
            }
        } else if (rc != 0) {
            bool recurs = failure_recurs(s, tx, &j->err);
            ops->tx_rollback(tx);
            if (recurs) {
                /* the database held the job to its bound (or is out of a resource): run again
                 * with savepoints, the group waited as long a second time before its 503,
                 * and the requests queued behind it twice that (review chaos36 F1). Nothing
                 * is committed: every job of the group fails, those not tried yet too. */
                *err = j->err;
                for (struct store_job *k = first; k != NULL; k = k->next) {
                    k->rc = k->rc > 0 ? 0 : k->rc;
                }
                fail_all(first, err);
                return -1;
            }
            return 1;
        }
        j = end;
        if (j == NULL && !joined && !first->barrier && s->writer != NULL) {
            joined = true;
            size_t items = first->items;
            for (last = first, taken = 1; last->next != NULL; last = last->next) {
                taken++;
                items += last->next->items;
            }
            last->next = writer_queue_take_joiners(s->writer, WRITER_GROUP_MAX - taken,
                                                   writer_items_room(s, items));
            j = last->next;
        }
    }
    int crc = ops->tx_commit(tx, err);
    if (crc > 0) { /* a deferred write failed: nothing committed, find which job with savepoints */
        ops->tx_rollback(tx);
        return 1;
    }
    if (crc != 0) {
        ops->tx_rollback(tx);
        fail_all(first, err);
        return -1;
    }
    return 0;
}

static int run_attempt(struct store *s, struct store_job *first, bool savepoints,
                       struct exposed_batch *seen, struct err *err)
{
    const struct store_ops *ops = s->ops;
    seen->n = 0; /* an attempt before this one was rolled back */
    struct store_tx tx = {.store = s, .conn = NULL, .exposed = s->exposed ? seen : NULL};
    for (struct store_job *j = first; j != NULL; j = j->next) {
        writer_job_reset(j);
    }
    /* a barrier (definition change) runs alone and holds the catalogue exclusively */
    if (ops->tx_begin(s, &tx, first->barrier, err) != 0) {
        fail_all(first, err);
        return -1;
    }
    if (!savepoints) {
        int rc = run_plain(s, &tx, first, err);
        group_users_free(&tx);
        return rc;
    }
    /* before the first savepoint: a job rolled back to its own keeps the group's locks */
    bool ok = lock_group(s, &tx, first, err) == 0;
    for (struct store_job *j = first; j != NULL && ok; j = j->next) {
        if (ops->tx_savepoint(&tx, &j->err) != 0) {
            /* on PostgreSQL the previous job's RELEASE travels with this SAVEPOINT: what the
             * transaction holds is unknown, as when an undo fails */
            *err = j->err;
            ok = false;
            break;
        }
        if (j->apply(&tx, j->arg, &j->err) != 0) {
            /* a lock another transaction holds, a deadlock or a serialization failure
             * (shared database): rolled back to its savepoint, the job runs again in the
             * next group (run_group) */
            j->rc = ops->tx_retryable(&tx) && j->attempts < RETRY_MAX ? 1 : -1;
            if (j->err.code == ERR_OK) {
                err_set(&j->err, ERR_INTERNAL, NULL, "write failed");
            }
            if (ops->tx_rollback_to(&tx, err) != 0) {
                ok = false;
                break;
            }
        }
        if (ops->tx_release(&tx, err) != 0) {
            ok = false;
        }
    }
    if (ok && ops->tx_commit(&tx, err) != 0) {
        ok = false;
    }
    group_users_free(&tx);
    if (!ok) {
        ops->tx_rollback(&tx);
        for (struct store_job *j = first; j != NULL; j = j->next) {
            j->rc = j->rc > 0 ? 0 : j->rc; /* nothing committed: all fail */
        }
        fail_all(first, err);
        return -1;
    }
    return 0;
}

/* Run one group in one transaction. A group made only of retryable jobs (one exposure per
 * /assign, ingestion batches) first runs without per-job savepoints, which cost a statement
 * journal and two statements per job; if one of its jobs fails, the group runs again with
 * them, so the outcome of every job is what it would have been. The commit is the same in
 * both cases: nothing is acknowledged before it is durable. */
static void run_group(struct store *s, struct store_job *first, struct store_job **again)
{
    struct err err;
    err_clear(&err);
    uint64_t t0 = time_mono_ns();
    bool retryable = true;
    for (struct store_job *j = first; j != NULL; j = j->next) {
        retryable = retryable && j->retryable;
    }
    struct exposed_batch seen = {0};
    uint64_t epoch = exposed_epoch(s->exposed); /* a clear from now on makes seen stale */
    int rc = run_attempt(s, first, !retryable, &seen, &err);
    /* jobs past the backend's savepoint bound are not run again in this group: they go back
     * to the queue untried (their attempts unchanged), behind the group's retried jobs */
    struct store_job *untried = NULL;
    bool rerun = rc == 1;
    if (rc == 1) {
        untried = group_cut(first, savepoint_jobs_max(s));
        rc = run_attempt(s, first, true, &seen, &err);
    }
    bool ok = rc == 0;
    /* What the transaction left is known only if it committed with every job done: a job
     * rolled back to its savepoint may have noted states it did not keep. Published before
     * any done(), so that a caller told "committed" finds it. */
    bool clean = ok;
    for (struct store_job *j = first; j != NULL && clean; j = j->next) {
        clean = j->rc == 0;
    }
    if (clean) {
        exposed_publish(s->exposed, &seen, epoch);
    }
    exposed_batch_free(&seen);
    uint64_t dt = time_mono_ns() - t0;
    uint64_t n = 0;
    struct store_job **tail = again;
    for (struct store_job *j = first; j != NULL; j = j->next) {
        n += j->rc > 0 ? 0 : 1;
    }
    /* Counters first: once a done() has run, /metrics and tests must already see its job. */
    hist_observe(&s->writer->batch_size, (double)n);
    hist_observe(&s->writer->commit_seconds, (double)dt / 1e9);
    pthread_mutex_lock(&s->writer->mu);
    struct store_writer_stats *st = &s->writer->stats;
    st->jobs += n;
    st->last_batch = n;
    st->commit_ns_sum += dt;
    if (ok) {
        st->commits++;
    } else {
        st->failed_commits++;
    }
    st->reruns += rerun ? 1 : 0;
    pthread_mutex_unlock(&s->writer->mu);
    struct store_job *done = NULL, **done_tail = &done;
    bool barrier = false;
    for (struct store_job *j = first; j != NULL;) {
        struct store_job *next = j->next;
        barrier = barrier || j->barrier;
        j->next = NULL;
        if (j->rc > 0) {
            j->attempts++;
            *tail = j;
            tail = &j->next;
        } else {
            *done_tail = j;
            done_tail = &j->next;
        }
        j = next;
    }
    for (struct store_job *j = untried; j != NULL; j = j->next) {
        writer_job_reset(j);
    }
    *tail = untried;
    complete(s->writer, done, done_tail, barrier);
    /* Every group fails alike while the database is gone or migrated past this daemon (a
     * rolling upgrade: its one line is store_schema_seen's): a review counted ~430 lines a
     * second per daemon. At most 10 per 10 s, the rest counted (log.h). */
    static struct log_limit failed_limit;
    long not_logged = 0;
    if (!ok && atomic_load(&s->schema_ahead) == 0 &&
        log_limit_take(&failed_limit, "group commit failed", LOG_ERROR,
                       (int64_t)(time_mono_ns() / 1000000), 10, 10000, &not_logged)) {
        json_t *f = store_err_log_fields(s, &err);
        if (f != NULL) {
            json_object_set_new(f, "jobs", json_integer((json_int_t)n));
        }
        if (f != NULL && not_logged > 0) {
            json_object_set_new(f, "not_logged_before", json_integer(not_logged));
        }
        log_json(LOG_ERROR, "group commit failed", f);
    }
}

static void *writer_main(void *arg)
{
    struct store *s = arg;
    struct writer *w = s->writer;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->head == NULL && !w->stopping) {
            pthread_cond_wait(&w->cv, &w->mu);
        }
        if (w->head == NULL) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        struct store_job *first = writer_queue_take_group(s, w);
        pthread_mutex_unlock(&w->mu);
        struct store_job *again = NULL;
        run_group(s, first, &again);
        /* retried jobs keep their place: ahead of everything queued meanwhile */
        writer_queue_put_head(w, again);
    }
    return NULL;
}

/* Stop the completion thread once it has run every done() handed over, and join it. */
static void completer_stop(struct writer *w)
{
    pthread_mutex_lock(&w->cmu);
    w->cstop = true;
    pthread_cond_signal(&w->ccv);
    pthread_mutex_unlock(&w->cmu);
    pthread_join(w->cthread, NULL);
}

static void writer_free(struct writer *w)
{
    pthread_mutex_destroy(&w->cmu);
    pthread_cond_destroy(&w->ccv);
    pthread_cond_destroy(&w->cidle);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

int store_writer_start(struct store *s, int queue_max, struct err *err)
{
    store_writer_release(s); /* a stopped one (no thread can submit to it any more) */
    struct writer *w = xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->max = queue_max;
    hist_init(&w->batch_size, metrics_size_bounds, metrics_size_nbounds, 1);
    hist_init(&w->commit_seconds, metrics_latency_bounds, metrics_latency_nbounds, 1e6);
    pthread_mutex_init(&w->cmu, NULL);
    pthread_cond_init(&w->ccv, NULL);
    pthread_cond_init(&w->cidle, NULL);
    w->ctail = &w->chead;
    if (thread_start(&w->cthread, completer_main, w) != 0) {
        goto fail;
    }
    s->writer = w;
    if (thread_start(&w->thread, writer_main, s) != 0) {
        s->writer = NULL;
        completer_stop(w);
        goto fail;
    }
    return 0;
fail:
    writer_free(w);
    return err_set(err, ERR_INTERNAL, NULL, "cannot start the writer thread");
}

void store_writer_stop(struct store *s)
{
    struct writer *w = s->writer;
    if (w == NULL || w->joined) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    completer_stop(w); /* every done() handed over runs first */
    w->joined = true;
    /* not freed here: HTTP threads may still be in store_submit with this writer (serve.c
     * stops the writer before the HTTP server; it once was freed here, and a request
     * submitting at that moment locked freed memory). store_writer_release frees it. */
}

void store_writer_release(struct store *s)
{
    store_writer_stop(s);
    if (s->writer != NULL) {
        writer_free(s->writer);
        s->writer = NULL;
    }
}

/* store_write_sync through the writer: the job's arg is this struct, so that apply()
 * reaches the caller's function and done() wakes the waiting caller. */
struct sync_call {
    int (*apply)(struct store_tx *tx, void *arg, struct err *err);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool finished;
    int rc;
    struct err err;
};

static int sync_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct sync_call *sc = arg;
    return sc->apply(tx, sc->arg, err);
}

static void sync_done(void *arg, int rc, const struct err *err)
{
    struct sync_call *sc = arg;
    pthread_mutex_lock(&sc->mu);
    sc->rc = rc;
    sc->err = *err;
    sc->finished = true;
    pthread_cond_signal(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
}

int store_write_sync(struct store *s, int (*apply)(struct store_tx *tx, void *arg, struct err *err),
                     void *arg, struct err *err)
{
    if (s->writer == NULL) {
        struct store_tx tx = {.store = s, .conn = NULL};
        if (s->ops->tx_begin(s, &tx, false, err) != 0) {
            return -1;
        }
        if (apply(&tx, arg, err) != 0 || s->ops->tx_commit(&tx, err) != 0) {
            s->ops->tx_rollback(&tx);
            return -1;
        }
        return 0;
    }
    struct sync_call sc = {.apply = apply, .arg = arg, .finished = false, .rc = -1};
    pthread_mutex_init(&sc.mu, NULL);
    pthread_cond_init(&sc.cv, NULL);
    struct store_job job = {.apply = sync_apply, .done = sync_done, .arg = &sc};
    int rc = store_submit(s, &job, err);
    if (rc == 0) {
        pthread_mutex_lock(&sc.mu);
        while (!sc.finished) {
            pthread_cond_wait(&sc.cv, &sc.mu);
        }
        pthread_mutex_unlock(&sc.mu);
        rc = sc.rc;
        if (rc != 0 && err != NULL) {
            *err = sc.err;
        }
    }
    pthread_mutex_destroy(&sc.mu);
    pthread_cond_destroy(&sc.cv);
    return rc;
}

void store_writer_get_stats(struct store *s, struct store_writer_stats *out)
{
    memset(out, 0, sizeof(*out));
    struct writer *w = s->writer;
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

void store_write_metrics(struct store *s, struct buf *b)
{
    struct store_writer_stats st;
    store_writer_get_stats(s, &st);
    metrics_write_help(b, "bunsen_writer_queue_depth", "gauge",
                       "Write requests waiting for the writer thread.");
    metrics_write_value(b, "bunsen_writer_queue_depth", "", st.queue_depth);
    metrics_write_help(b, "bunsen_writer_commits_total", "counter",
                       "Group transactions, by outcome.");
    metrics_write_value(b, "bunsen_writer_commits_total", "outcome=\"ok\"", (double)st.commits);
    metrics_write_value(b, "bunsen_writer_commits_total", "outcome=\"failed\"",
                        (double)st.failed_commits);
    metrics_write_help(b, "bunsen_writer_group_reruns_total", "counter",
                       "Group transactions run again with a savepoint per job after a job failed.");
    metrics_write_value(b, "bunsen_writer_group_reruns_total", "", (double)st.reruns);
    if (s->writer != NULL) {
        metrics_write_help(b, "bunsen_writer_batch_size", "histogram",
                           "Write requests committed together in one transaction.");
        metrics_write_hist(b, "bunsen_writer_batch_size", "", &s->writer->batch_size);
        metrics_write_help(b, "bunsen_writer_commit_duration_seconds", "histogram",
                           "Time of a group transaction, BEGIN to COMMIT (fsync included).");
        metrics_write_hist(b, "bunsen_writer_commit_duration_seconds", "",
                           &s->writer->commit_seconds);
    }
    exposed_write_metrics(s->exposed, b);
    s->ops->write_metrics(s, b);
}
