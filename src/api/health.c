/*
 * health.c - operational endpoints: liveness (/healthz: the process answers), readiness
 * (/readyz: a write goes through the writer and commits, so a read-only or full disk
 * reports 503; so does a database found corrupt by any query, or a SQLite file deleted or
 * replaced under the daemon: the adapter's ready check) and the OpenAPI description
 * (/api/v1/openapi.yaml, compiled in from docs/openapi.yaml).
 *
 * Readiness checks are coalesced (struct api_ready, one per daemon in app->ready): at most
 * one is in the writer at a time, probes arriving while it runs share its answer, and a
 * probe within API_READY_REUSE_MS of a check that passed is answered "ready" at once (a
 * failed check is not reused: recovery shows on the next probe). /readyz is public and its
 * check jumps the writer's queue (store_job.urgent), so without this a flood of probes would
 * cost a commit each, every one ahead of the queued writes.
 *
 * A probe waits for the check at most --db-timeout (api_ready_new's limit; 0: as long as it
 * takes). A check still running then (a COMMIT awaited without a deadline while a synchronous
 * standby is gone, a disk that stopped answering) answers its waiting probes 503 from the
 * watch thread, and probes that come while it still runs get 503 at once; its own answer,
 * when it comes, goes to the probes waiting then. They waited for it with no answer and no
 * log line (review chaos36 F5), though SCALING.md promises that /readyz fails instead of
 * hanging.
 *
 * A change of the answer (ready -> not ready, with the reason, and back) logs one warn line
 * and is the gauge bunsen_ready (api_ready_is_ready). Lines are rate-limited: two at once, then
 * one per API_READY_LOG_MS (a disk hovering around the free-space floor flips the answer with
 * every probe). Changes not logged are not lost: the next check once a line is allowed
 * writes the answer of that moment, with how many changes came since the last line, so the
 * last line always tells the answer after at most API_READY_LOG_MS of probes (review diff32
 * 3: a per-cause limit left "ready again" as the last line of a lasting not-ready spell).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/util.h"
#include "version.h" /* generated: build/gen/version.h */

/* A probe this soon after a check that passed is answered at once (at most 10 commits a
 * second for readiness, however many probes). */
#define API_READY_REUSE_MS 100
/* One readiness line per this many ms, after a burst of API_READY_LOG_BURST. */
#define API_READY_LOG_MS    10000
#define API_READY_LOG_BURST 2

/* schema: the newest migration this binary has for its backend, which tells builds of one
 * VERSION apart (docs/UPGRADING.md is keyed by it) */
void api_health_live(struct http_req *r)
{
    int schema = store_schema_newest(http_req_app(r)->store);
    http_reply_json(
        r, 200,
        json_pack("{s:s, s:s, s:i}", "status", "ok", "version", BUNSEN_VERSION, "schema", schema));
}

/* A probe waiting for the check in flight (suspended). */
struct ready_waiter {
    struct http_req *req;
    struct ready_waiter *next;
};

struct api_ready {
    pthread_mutex_t mu;
    struct store *store;
    struct store_job job;    /* the check in flight (at most one) */
    bool in_flight;          /* job queued or running */
    uint64_t submitted_ns;   /* when the check in flight was submitted (monotonic) */
    unsigned limit_ms;       /* how long a probe waits for it, 0: as long as it takes */
    pthread_cond_t watch_cv; /* the watch thread's: a check submitted, or stop */
    pthread_t watch;
    bool watch_started, stopping;
    struct ready_waiter *waiters; /* probes sharing its answer */
    uint64_t ok_ns; /* monotonic end of the last check when it passed, 0: it failed / none */
    /* The last answer given (serve's start check passed: ready until a probe says not),
     * read by a scrape without mu; the rest under mu. */
    atomic_bool ready;
    int unlogged;       /* changes of the answer since the last line */
    double line_tokens; /* lines allowed now (API_READY_LOG_BURST at most) */
    int64_t refill_ms;  /* when line_tokens was last refilled (monotonic ms) */
};

/* A readiness line to write once g->mu is released (ready_note). */
struct ready_line {
    bool due;
    bool ready;
    int changes; /* since the line before */
    char reason[sizeof(((struct err *)0)->msg)];
};

struct api_ready *api_ready_new(struct store *store, unsigned limit_ms)
{
    struct api_ready *g = xcalloc(1, sizeof(*g));
    pthread_mutex_init(&g->mu, NULL);
    cond_init_monotonic(&g->watch_cv);
    g->store = store;
    g->limit_ms = limit_ms;
    atomic_store(&g->ready, true);
    g->line_tokens = API_READY_LOG_BURST;
    g->refill_ms = time_mono_ms();
    return g;
}

bool api_ready_is_ready(struct api_ready *g)
{
    return g == NULL || atomic_load(&g->ready);
}

/* Record the answer of a check (or of the corrupt-database test): under g->mu. When the
 * answer changed since the last line and a line is allowed, *line is the line to write
 * (ready_log, after the mutex). */
static void ready_note(struct api_ready *g, bool ready, const char *msg, struct ready_line *line)
{
    line->due = false;
    if (atomic_exchange(&g->ready, ready) != ready) {
        g->unlogged++;
    }
    int64_t now = time_mono_ms();
    g->line_tokens += (double)(now - g->refill_ms) / API_READY_LOG_MS;
    g->line_tokens = g->line_tokens > API_READY_LOG_BURST ? API_READY_LOG_BURST : g->line_tokens;
    g->refill_ms = now;
    if (g->unlogged == 0 || g->line_tokens < 1) {
        return;
    }
    g->line_tokens -= 1;
    line->due = true;
    line->ready = ready;
    line->changes = g->unlogged;
    snprintf(line->reason, sizeof(line->reason), "%s", msg != NULL ? msg : "");
    g->unlogged = 0;
}

static void ready_log(const struct ready_line *line)
{
    if (!line->due) {
        return;
    }
    json_t *f = line->ready ? json_object() : json_pack("{s:s}", "reason", line->reason);
    if (f != NULL && line->changes > 1) {
        json_object_set_new(f, "changes_since_last_line", json_integer(line->changes));
    }
    log_json(LOG_WARN,
             line->ready ? "ready again: /readyz answers 200" : "not ready: /readyz answers 503",
             f);
}

void api_ready_free(struct api_ready *g)
{
    if (g == NULL) {
        return;
    }
    pthread_mutex_lock(&g->mu);
    g->stopping = true;
    pthread_cond_broadcast(&g->watch_cv);
    pthread_mutex_unlock(&g->mu);
    if (g->watch_started) {
        pthread_join(g->watch, NULL);
    }
    pthread_cond_destroy(&g->watch_cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static void ready_reply(struct http_req *r, int rc, const struct err *err)
{
    if (rc != 0) {
        http_reply_err(r, err);
    } else {
        http_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
    }
}

/* The check ended (writer thread, or the submitting thread when the queue refused it):
 * give its answer to every probe that waited for it, and remember when it passed. */
static void ready_done(void *arg, int rc, const struct err *err)
{
    struct api_ready *g = arg;
    struct err copy;
    err_clear(&copy);
    if (rc != 0) {
        copy = *err; /* the replies below run unlocked */
    }
    pthread_mutex_lock(&g->mu);
    struct ready_waiter *w = g->waiters;
    g->waiters = NULL;
    g->in_flight = false;
    g->ok_ns = rc == 0 ? time_mono_ns() : 0;
    struct ready_line line;
    ready_note(g, rc == 0, rc != 0 ? copy.msg : NULL, &line);
    pthread_mutex_unlock(&g->mu);
    ready_log(&line);
    while (w != NULL) {
        struct ready_waiter *next = w->next;
        ready_reply(w->req, rc, &copy);
        http_req_resume(w->req);
        free(w);
        w = next;
    }
}

#define READY_LATE_MSG "the database did not confirm the readiness check's commit within %u s"

/* The watch thread: once the check in flight has run limit_ms, its waiting probes get 503
 * (the check goes on; ready_done answers the probes that wait when it ends). */
static void *ready_watch_main(void *arg)
{
    struct api_ready *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stopping) {
        uint64_t due = g->submitted_ns + (uint64_t)g->limit_ms * 1000000u;
        if (!g->in_flight || g->waiters == NULL) {
            pthread_cond_wait(&g->watch_cv, &g->mu);
            continue;
        }
        uint64_t now = time_mono_ns();
        if (now < due) {
            struct timespec ts = time_monotonic_in((long)((due - now) / 1000000u) + 1);
            pthread_cond_timedwait(&g->watch_cv, &g->mu, &ts);
            continue;
        }
        struct ready_waiter *w = g->waiters;
        g->waiters = NULL;
        struct err err;
        err_set(&err, ERR_UNAVAILABLE, NULL, READY_LATE_MSG, (g->limit_ms + 999) / 1000);
        struct ready_line line;
        ready_note(g, false, err.msg, &line);
        pthread_mutex_unlock(&g->mu);
        ready_log(&line);
        while (w != NULL) {
            struct ready_waiter *next = w->next;
            ready_reply(w->req, -1, &err);
            http_req_resume(w->req);
            free(w);
            w = next;
        }
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* The check's job: the adapter's ready check. BUNSEN_TEST_READY_GATE (tests only): while the
 * file it names exists, the check waits first, holding the writer as a COMMIT the database
 * does not answer would. */
static int ready_apply(struct store_tx *tx, void *arg, struct err *err)
{
    const char *gate = getenv("BUNSEN_TEST_READY_GATE");
    for (int i = 0; gate != NULL && gate[0] != '\0' && i < 6000 && access(gate, F_OK) == 0; i++) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    return store_apply_ready_check(tx, arg, err);
}

void api_health_ready(struct http_req *r)
{
    struct app *app = http_req_app(r);
    struct api_ready *g = app->ready;
    if (store_is_corrupt(app->store)) {
        static const char corrupt[] =
            "the database is corrupt: restore it from a backup (see README)";
        struct ready_line line;
        pthread_mutex_lock(&g->mu);
        ready_note(g, false, corrupt, &line);
        pthread_mutex_unlock(&g->mu);
        ready_log(&line);
        http_reply_error(r, ERR_UNAVAILABLE, NULL, "%s", corrupt);
        return;
    }
    pthread_mutex_lock(&g->mu);
    if (!g->in_flight && g->ok_ns != 0 &&
        time_mono_ns() - g->ok_ns < (uint64_t)API_READY_REUSE_MS * 1000000u) {
        pthread_mutex_unlock(&g->mu);
        ready_reply(r, 0, NULL);
        return;
    }
    if (g->in_flight && g->limit_ms > 0 &&
        time_mono_ns() - g->submitted_ns >= (uint64_t)g->limit_ms * 1000000u) {
        /* the check in flight is late already: no wait for it */
        pthread_mutex_unlock(&g->mu);
        http_reply_error(r, ERR_UNAVAILABLE, NULL, READY_LATE_MSG, (g->limit_ms + 999) / 1000);
        return;
    }
    struct ready_waiter *w = xcalloc(1, sizeof(*w));
    w->req = r;
    w->next = g->waiters;
    http_req_suspend(r);
    g->waiters = w;
    if (g->in_flight) {
        pthread_cond_signal(&g->watch_cv);
        pthread_mutex_unlock(&g->mu);
        return;
    }
    g->in_flight = true;
    g->submitted_ns = time_mono_ns();
    if (g->limit_ms > 0 && !g->watch_started && !g->stopping) {
        g->watch_started = thread_start(&g->watch, ready_watch_main, g) == 0;
    }
    pthread_cond_signal(&g->watch_cv);
    g->job = (struct store_job){
        .apply = ready_apply,
        .done = ready_done,
        .arg = g,
        /* not retryable, so it runs alone (on PostgreSQL each daemon's check updates a row
         * of its own: a daemon frozen in its check holds up no other daemon's /readyz);
         * urgent, so it waits for the group in progress, not for every ingestion batch
         * queued behind it */
        .urgent = true,
    };
    pthread_mutex_unlock(&g->mu);
    struct err err;
    err_clear(&err);
    if (store_submit(g->store, &g->job, &err) != 0) {
        ready_done(g, -1, &err); /* 503 + Retry-After to every probe that joined */
    }
}

extern const char bunsen_openapi_yaml[];
extern const size_t bunsen_openapi_yaml_len;

void api_openapi(struct http_req *r)
{
    http_reply_bytes(r, 200, "application/yaml; charset=utf-8", bunsen_openapi_yaml,
                     bunsen_openapi_yaml_len);
}
