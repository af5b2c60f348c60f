/*
 * refresh.c - the catalogue refresh a request thread may ask for (store_catalog_refresh_within):
 * an exposure naming an experiment or variant this daemon does not know yet (made a moment
 * ago on another daemon of a shared database) has the definitions brought up to date and is
 * looked at again. On a database server (PostgreSQL) that read could wait up to --db-timeout
 * for it, and it ran on the HTTP thread: two such requests with the public sdk key held both
 * MHD threads of a daemon for 30 s while the server was stopped, /healthz and unlogged
 * /assign unanswered (rev-iso28 1). Here one refresher thread of its own does the refresh and
 * the caller waits for it a bounded time; a refresh asked for while one is under way runs
 * again after it (that one may have read the version before the change the caller needs).
 * While the database keeps statements waiting (store_answering false) the caller does not wait
 * at all, so a flood of such requests holds no thread.
 * On SQLite the refresh is a local read and runs on the caller's thread.
 *
 * Threads: any thread calls store_catalog_refresh_within; the refresher is started at the
 * first call and joined by store_refresh_stop (store_close).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "bunsen/util.h"
#include "store_int.h"

struct store_refresher {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a request, a result, the stop */
    pthread_t thread;
    bool started, stopping;
    uint64_t asked, done; /* refreshes asked for, and finished (each a number in order) */
    int rc;               /* the last finished refresh's */
    struct err err;
};

static void *refresher_main(void *arg)
{
    struct store *s = arg;
    struct store_refresher *f = s->refresher;
    pthread_mutex_lock(&f->mu);
    while (!f->stopping) {
        if (f->done == f->asked) {
            pthread_cond_wait(&f->cv, &f->mu);
            continue;
        }
        uint64_t n = f->asked; /* every request asked so far is served by this run */
        pthread_mutex_unlock(&f->mu);
        struct err err;
        err_clear(&err);
        int rc = store_catalog_refresh(s, &err);
        pthread_mutex_lock(&f->mu);
        f->rc = rc;
        f->err = err;
        f->done = n;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int store_catalog_refresh_within(struct store *s, int wait_ms, struct err *err)
{
    if (!store_remote(s)) {
        return store_catalog_refresh(s, err);
    }
    struct store_refresher *f = s->refresher;
    pthread_mutex_lock(&f->mu);
    if (!f->started && !f->stopping) {
        /* every signal blocked whatever the caller's mask (util.h thread_start): started from
         * a thread that could take SIGHUP, it would be killed by logrotate's reload */
        f->started = thread_start(&f->thread, refresher_main, s) == 0;
    }
    if (!f->started || f->stopping) {
        pthread_mutex_unlock(&f->mu);
        return err_set(err, ERR_UNAVAILABLE, NULL,
                       "the definitions cannot be brought up to date now; retry shortly");
    }
    /* other statements wait for the server already: ask (the refresh goes on), not wait */
    if (!store_answering(s)) {
        wait_ms = 0;
    }
    uint64_t mine = ++f->asked;
    pthread_cond_broadcast(&f->cv);
    struct timespec ts = time_monotonic_in(wait_ms);
    int w = 0;
    while (f->done < mine && !f->stopping && w != ETIMEDOUT) {
        w = pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    }
    int rc;
    if (f->done >= mine) {
        rc = f->rc;
        if (rc != 0 && err != NULL) {
            *err = f->err;
        }
    } else if (wait_ms > 0) {
        rc = err_set(err, ERR_UNAVAILABLE, NULL,
                     "the definitions could not be brought up to date within %d ms (the "
                     "database is not answering); retry shortly",
                     wait_ms);
    } else {
        rc = err_set(err, ERR_UNAVAILABLE, NULL,
                     "the definitions cannot be brought up to date now (the database keeps "
                     "other statements waiting); retry shortly");
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

void store_refresh_init(struct store *s)
{
    s->refresher = xcalloc(1, sizeof(*s->refresher));
    pthread_mutex_init(&s->refresher->mu, NULL);
    cond_init_monotonic(&s->refresher->cv); /* the requests' timed waits */
}

void store_refresh_stop(struct store *s)
{
    struct store_refresher *f = s->refresher;
    if (f == NULL) {
        return;
    }
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_cond_broadcast(&f->cv);
    bool started = f->started;
    pthread_mutex_unlock(&f->mu);
    if (started) {
        pthread_join(f->thread, NULL); /* a refresh under way: bounded by the shutdown's */
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
    s->refresher = NULL;
}
