/*
 * writer_queue.c - the writer's queue: store_submit, the lane of urgent and small jobs ahead of
 * the larger ones (store.h STORE_SMALL_ITEMS, STORE_BULK_WAIT_MS), and which queued jobs make
 * the next group (writer_queue_take_group) or join a running one (writer_queue_take_joiners),
 * with the cap on a group's larger jobs while small ones wait (bulk_fits).
 * The queue is a linked list bounded by queue_max, under struct writer's mu. Threads: any
 * thread calls store_submit(); the writer thread alone takes from the queue and puts retried
 * jobs back. The group's run and the completion thread are writer.c's.
 */
#include "writer_int.h"

#include <stdint.h>

#include "bunsen/util.h"

void writer_job_reset(struct store_job *j)
{
    err_clear(&j->err);
    j->rc = 0;
}

size_t writer_items_room(struct store *s, size_t items)
{
    size_t max = s->ops->group_items_max != NULL ? s->ops->group_items_max(s) : 0;
    return max == 0 ? SIZE_MAX : items < max ? max - items : 0;
}

/* Queued in the lane ahead of larger jobs (store.h STORE_SMALL_ITEMS). */
static bool job_small(const struct store_job *j)
{
    return j->urgent || j->items <= STORE_SMALL_ITEMS;
}

/* Whether job j may join the group being formed, which holds w->group_bulk items of larger jobs:
 * a small job always; a larger one, while small jobs wait or arrived during the last group
 * (beside_small), only within STORE_BULK_BESIDE_SMALL_ITEMS (the group's first job is taken
 * whatever its size), so that a small job waits for about one larger job's work, not for a
 * group of the backend's whole budget of items. Writer thread, w->mu held. */
static bool bulk_fits(const struct writer *w, bool beside_small, const struct store_job *j)
{
    return job_small(j) || !beside_small ||
           w->group_bulk + j->items <= (size_t)STORE_BULK_BESIDE_SMALL_ITEMS;
}

/* The time jobs age by in the queue (store_int.h queue_clock_ns): the monotonic clock unless a
 * test set its own. */
static uint64_t queue_now_ns(const struct store *s)
{
    return s->queue_clock_ns != NULL ? s->queue_clock_ns() : time_mono_ns();
}

/* A larger job that waited STORE_BULK_WAIT_MS behind the lane goes ahead of it (behind the
 * urgent jobs at the head, which stay first), so that a steady stream of small jobs never
 * starves it; one at a time: not while the first job after the urgent ones is already a larger
 * one. Not after a group that took a larger job (writer_main): under a backlog of larger jobs
 * (all of them old) that would take one every group, and the lane would starve instead.
 * Under w->mu. */
static void queue_unstarve(const struct store *s, struct writer *w)
{
    struct store_job *lane = w->lane_end;
    struct store_job *bulk = lane != NULL ? lane->next : NULL;
    if (bulk == NULL ||
        queue_now_ns(s) - bulk->queued_ns < (uint64_t)STORE_BULK_WAIT_MS * 1000000u) {
        return;
    }
    struct store_job **at = &w->head;
    while (*at != NULL && (*at)->urgent) {
        at = &(*at)->next;
    }
    if (*at == NULL || !job_small(*at)) {
        return; /* a larger job is already first after the urgent ones */
    }
    lane->next = bulk->next;
    if (w->tail == bulk) {
        w->tail = lane;
    }
    bulk->next = *at;
    *at = bulk;
}

/* Take the jobs from the queue's head through last (taken of them) off the queue. w->mu held. */
static void queue_take_head(struct writer *w, struct store_job *last, int taken)
{
    if (w->lane_end != NULL) {
        for (struct store_job *j = w->head; j != last->next; j = j->next) {
            if (j == w->lane_end) {
                w->lane_end = NULL; /* the lane left with the group: what stays is larger */
                break;
            }
        }
    }
    w->head = last->next;
    if (w->head == NULL) {
        w->tail = NULL;
    }
    last->next = NULL;
    w->depth -= taken;
    w->stats.queue_depth = w->depth;
}

struct store_job *writer_queue_take_group(struct store *s, struct writer *w)
{
    /* a barrier job runs alone: the group before it ends before it; so does a job that
     * is not retryable (a rebuild chunk, an admin write): its locks are then the only
     * ones of its transaction (a chunk holds its experiment's lock exclusively, which
     * every daemon's ingestion waits for: pg/rebuild.c), and it needs no savepoints
     * beside others; the jobs after the first fit in the backend's budget of items
     * (store_job.items) */
    if (!w->bulk_last) {
        queue_unstarve(s, w); /* never twice in a row: the lane gets every other group */
    }
    struct store_job *first = w->head, *last = first;
    int taken = 1;
    int max = first->retryable ? WRITER_GROUP_MAX : 1;
    size_t room = writer_items_room(s, first->items);
    w->bulk_last = !job_small(first);
    w->beside_small = w->lane_end != NULL || w->small_arrived;
    w->small_arrived = false;
    w->group_bulk = job_small(first) ? 0 : first->items;
    while (last->next != NULL && taken < max && !last->barrier && last->next->retryable &&
           !last->next->barrier && last->next->items <= room &&
           bulk_fits(w, w->beside_small, last->next)) {
        last = last->next;
        room -= last->items;
        taken++;
        w->bulk_last = w->bulk_last || !job_small(last);
        w->group_bulk += job_small(last) ? 0 : last->items;
    }
    queue_take_head(w, last, taken);
    return first;
}

/*
 * The retryable jobs queued while a group's jobs were applied (at most room of them and
 * items_room of items, up to the first barrier or non-retryable job), taken off the queue to join
 * that group's transaction before its commit: they would otherwise wait for the whole commit, fsync
 * included, before theirs began, and each commit (its fsync above all: ~130 us of CPU in a
 * VM, docs/PERFORMANCE.md) is then shared by more requests. NULL when there are none.
 */
struct store_job *writer_queue_take_joiners(struct writer *w, int room, size_t items_room)
{
    pthread_mutex_lock(&w->mu);
    struct store_job *first = w->head, *last = NULL;
    int taken = 0;
    /* a small job queued while the group ran joins it: larger ones now only within the cap */
    bool beside_small = w->beside_small || w->small_arrived;
    for (struct store_job *j = first; j != NULL && taken < room && j->retryable && !j->barrier &&
                                      j->items <= items_room && bulk_fits(w, beside_small, j);
         j = j->next) {
        writer_job_reset(j);
        items_room -= j->items;
        w->group_bulk += job_small(j) ? 0 : j->items;
        last = j;
        taken++;
    }
    if (last == NULL) {
        pthread_mutex_unlock(&w->mu);
        return NULL;
    }
    queue_take_head(w, last, taken);
    pthread_mutex_unlock(&w->mu);
    return first;
}

void writer_queue_put_head(struct writer *w, struct store_job *list)
{
    if (list == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    struct store_job *end = list;
    int k = 1;
    while (end->next != NULL) {
        end = end->next;
        k++;
    }
    end->next = w->head;
    w->head = list;
    if (w->tail == NULL) {
        w->tail = end;
    }
    if (w->lane_end == NULL) {
        /* the retried jobs are the lane if they are all small (else it starts empty behind
         * them: small jobs queue ahead of the larger ones after them) */
        bool all_small = true;
        for (struct store_job *j = list; j != end->next && all_small; j = j->next) {
            all_small = job_small(j);
        }
        w->lane_end = all_small ? end : NULL;
    }
    w->depth += k;
    w->stats.queue_depth = w->depth;
    pthread_mutex_unlock(&w->mu);
}

int store_submit(struct store *s, struct store_job *job, struct err *err)
{
    struct writer *w = s->writer;
    if (w == NULL) {
        return err_set(err, ERR_UNAVAILABLE, NULL, "the writer is not running");
    }
    job->next = NULL;
    job->rc = 0;
    job->attempts = 0;
    pthread_mutex_lock(&w->mu);
    if (w->stopping || w->depth >= w->max) {
        bool stopping = w->stopping;
        pthread_mutex_unlock(&w->mu);
        return err_set(err, ERR_UNAVAILABLE, NULL,
                       stopping ? "the server is shutting down"
                                : "the write queue is full, retry shortly");
    }
    job->queued_ns = queue_now_ns(s);
    if (job->urgent) {
        /* behind the urgent jobs already at the head, ahead of the rest */
        struct store_job **at = &w->head, *prev = NULL;
        while (*at != NULL && (*at)->urgent) {
            prev = *at;
            at = &(*at)->next;
        }
        job->next = *at;
        *at = job;
        if (job->next == NULL) {
            w->tail = job;
        }
        if (prev == w->lane_end) { /* it ends the lane (an empty one, or one of urgent jobs) */
            w->lane_end = job;
        }
    } else if (job_small(job)) {
        /* behind the lane of urgent and small jobs, ahead of the larger ones */
        struct store_job **at = w->lane_end != NULL ? &w->lane_end->next : &w->head;
        job->next = *at;
        *at = job;
        if (job->next == NULL) {
            w->tail = job;
        }
        w->lane_end = job;
    } else if (w->tail != NULL) {
        w->tail->next = job;
        w->tail = job;
    } else {
        w->head = job;
        w->tail = job;
    }
    if (job_small(job)) {
        w->small_arrived = true; /* the next group's larger jobs are capped (bulk_fits) */
    }
    w->depth++;
    w->stats.queue_depth = w->depth;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}
