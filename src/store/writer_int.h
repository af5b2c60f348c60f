/*
 * writer_int.h - the seam inside the writer between its queue (writer_queue.c: store_submit,
 * the lane of small jobs, which jobs make the next group) and its group run and completion
 * thread (writer.c). Private to src/store/; the contracts callers see are in store.h.
 */
#ifndef BUNSEN_WRITER_INT_H
#define BUNSEN_WRITER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "bunsen/metrics.h"
#include "store_int.h"

#define WRITER_GROUP_MAX 4096 /* jobs per group transaction */

struct writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct store_job *head, *tail;
    /* the last job of the queue's lane of urgent and small jobs (job_small), NULL when the
     * lane is empty: a small job queues right after it, ahead of the larger jobs */
    struct store_job *lane_end;
    int depth, max;
    bool stopping;  /* store_submit refuses from here on ("shutting down") */
    bool joined;    /* its threads are joined (store_writer_stop's thread alone reads it) */
    bool bulk_last; /* the last group took a larger job (queue_unstarve); writer thread */
    /* a small job (job_small) was queued since the last group was taken */
    bool small_arrived;
    /* writer thread, the group being formed or run: small jobs waited or had arrived when it
     * was taken, and the items of the larger jobs it holds (bulk_fits) */
    bool beside_small;
    size_t group_bulk;
    struct store_writer_stats stats;
    struct histogram batch_size;     /* jobs per group transaction */
    struct histogram commit_seconds; /* BEGIN .. COMMIT */
    /* the completion thread: jobs whose done() is due, in commit order */
    pthread_t cthread;
    pthread_mutex_t cmu;
    pthread_cond_t ccv;   /* work for it, or stop */
    pthread_cond_t cidle; /* it has run every done() handed over */
    struct store_job *chead, **ctail;
    bool cbusy, cstop;
};

/* Before a job's (next) attempt: no outcome yet. */
void writer_job_reset(struct store_job *j);

/* The items (store_job.items) a group may still take after taking `items`; SIZE_MAX when the
 * backend sets no bound. Writer thread. */
size_t writer_items_room(struct store *s, size_t items);

/* Take the next group off the queue (not empty) and return its first job, the group linked by
 * next and ending in NULL: a barrier or non-retryable job alone, else the jobs from the head
 * that fit in WRITER_GROUP_MAX and the backend's items. Writer thread, w->mu held. */
struct store_job *writer_queue_take_group(struct store *s, struct writer *w);

/* The retryable jobs queued while a group's jobs were applied (at most room of them and
 * items_room of items, up to the first barrier or non-retryable job), taken off the queue
 * (writer_job_reset done) to join that group's transaction; NULL when there are none. Writer
 * thread, takes w->mu. */
struct store_job *writer_queue_take_joiners(struct writer *w, int room, size_t items_room);

/* Put the jobs of list (linked by next) back at the head of the queue, ahead of everything
 * queued meanwhile, in their order. Writer thread, takes w->mu. */
void writer_queue_put_head(struct writer *w, struct store_job *list);

#endif
