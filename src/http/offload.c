/*
 * offload.c - the threads that run slow handlers (routes flagged ROUTE_OFFLOAD: results and
 * time series, whose ratio metrics read every exposed user; lists of megabytes; the checks
 * and rendering of saved groups of 100,000 values; ROUTE_OFFLOAD_LARGE: ingestion bodies
 * over HTTP_OFFLOAD_BODY_MIN, whose parse and checks take tens of milliseconds) off
 * libmicrohttpd's workers.
 *
 * Each MHD pool thread serves many connections: a handler that reads for seconds (the
 * results of a 1M-user experiment with a ratio metric) would stall every /assign on the
 * same thread for as long. Instead the server suspends such a request's connection and
 * queues it here; an offload thread runs its handler (which replies with http_reply_*) and
 * resumes the connection, and MHD sends the reply. The MHD thread goes back to its other
 * connections at once.
 *
 *   MHD thread: suspend, http_offload_submit --queue--> offload thread: handler, resume
 *   a handler that queues a write (saved groups' edits: the document built here, stored by
 *   the writer) hands the suspended request on: http_req_suspend inside it only notes that
 *   (request.c), and the writer's completion resumes it instead of the offload thread
 *   full queue (HTTP_OFFLOAD_QUEUE): submit refuses; the server answers 503 + Retry-After
 *   (a large body too: one that ran on the MHD thread once 32 were queued stalled every
 *   connection of that thread for its parse, ~1 s for 6 MB, and 40 clients looping such
 *   bodies kept /assign waiting 1-2.7 s; rev-iso28 2)
 *   client gone (its connection reset or failed, before the handler; client_gone): the
 *   request is dropped, not run: marked abandoned and resumed with no reply, on_request
 *   answers MHD_NO and MHD closes the connection (on_completed frees it); counted in
 *   bunsen_http_offload_abandoned_total. Sixty results requests whose clients reset 50 ms
 *   after sending kept both threads busy for a minute, computing replies nobody read (review
 *   hostile30 F3; RELIABILITY.md AM). A client that closed with a FIN is not told from one
 *   that half-closed and still reads: its request runs
 *   one key's share (the slow reads' pool: HTTP_OFFLOAD_PER_KEY of the queue): submit refuses
 *   a key with that many queued, the server answers 503 + Retry-After; other keys still queue.
 *   One viewer key filled the whole queue in 50 ms (review hostile30 F3). The ingestion pool
 *   has no such cap: many clients share one sdk key there
 *   over the memory budget (a GET or HEAD while the unsent replies hold more than
 *   --max-reply-memory: http_replies_admit): refused 503 + Retry-After when
 *   queued, and again here before its handler, unrun (review hostile30 F1; RELIABILITY.md AR)
 *   stopping (http_offload_stop, before MHD_stop_daemon): the threads run what is queued,
 *   then exit; a later submit refuses with `stopped` and the server runs the handler on the
 *   MHD thread itself; http_offload_free after MHD_stop_daemon
 *
 * The server runs two pools (server.c): the slow reads' (ROUTE_OFFLOAD) and the large
 * ingestion bodies' (ROUTE_OFFLOAD_LARGE). With one pool, two results reads of a 1M-user ratio
 * metric (seconds each) held both threads and a 2 MB /exposures batch queued behind them for
 * as long; and a burst of large batches delayed the reads.
 *
 * Test gate (tests only; no cost unset): when the environment names a file in the pool's
 * variable at start (BUNSEN_TEST_OFFLOAD_GATE for the slow reads' pool,
 * BUNSEN_TEST_INGEST_GATE for the large bodies'), a thread of that pool that has
 * taken a request waits, before
 * running its handler, while that file exists, and appends a byte to "<file>.held" as it
 * starts waiting (the test counts the requests held). Tests hold offloaded requests with it as
 * a slow handler would hold them, for as long as they choose, and check what must answer
 * meanwhile (tests/api/harness_hold.c): order and status instead of milliseconds.
 *
 * Threads: http_offload_submit from MHD threads; the offload threads; start/stop from the
 * thread that starts and stops the server.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bunsen/util.h"
#include "http_int.h"

struct http_offload {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on submit and on stop */
    struct http_req *q[HTTP_OFFLOAD_QUEUE];
    size_t head, n;
    bool stopping;
    int nthreads;
    int per_key; /* most queued requests of one key (0: no cap) */
    pthread_t th[HTTP_OFFLOAD_THREADS];
    char *gate;                     /* BUNSEN_TEST_OFFLOAD_GATE (tests only), or NULL */
    char *gate_held;                /* "<gate>.held": a byte per request held */
    atomic_uint_fast64_t abandoned; /* dropped: the client had gone (client_gone) */
};

/* Whether r's client has gone: its connection (suspended: MHD does not read it meanwhile)
 * was reset or failed. An end of file is not "gone": a FIN cannot tell a close from a
 * half-close, and a client that shuts down only its sending side after its request
 * (shutdown(SHUT_WR): `nc -N`, the API tests' own harness) still reads the reply, which
 * libmicrohttpd sends (review diff30b F1; counting it as gone dropped the tests' own
 * requests in CI). So a client that closes with a FIN still has its request run; one that
 * resets (SO_LINGER 0, a killed process's socket once written to, most abandoning HTTP
 * clients' aborts) is dropped. Bytes still to read (a pipelined request) are not "gone". */
static bool client_gone(const struct http_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL) {
        return false;
    }
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) {
        return false; /* nothing to read, no error: still there */
    }
    if (p.revents & (POLLERR | POLLNVAL)) {
        return true;
    }
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n >= 0) {
        return false; /* a pipelined request waits, or an end of file (a half-close, or not) */
    }
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* The test gate: a byte to gate_held, then wait while the gate's file exists (polled: tests
 * only). The append is atomic: the file's size counts the requests held so far. */
static void gate_wait(const char *gate, const char *gate_held)
{
    if (access(gate, F_OK) != 0) {
        return;
    }
    int fd = open(gate_held, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if (write(fd, "h", 1) != 1) {
            /* the test sees no hold and fails: nothing to do here */
        }
        close(fd);
    }
    while (access(gate, F_OK) == 0) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void *offload_main(void *arg)
{
    struct http_offload *o = arg;
    for (;;) {
        pthread_mutex_lock(&o->mu);
        while (o->n == 0 && !o->stopping) {
            pthread_cond_wait(&o->cv, &o->mu);
        }
        if (o->n == 0) {
            pthread_mutex_unlock(&o->mu);
            return NULL; /* stopping and nothing left */
        }
        struct http_req *r = o->q[o->head];
        o->head = (o->head + 1) % HTTP_OFFLOAD_QUEUE;
        o->n--;
        pthread_mutex_unlock(&o->mu);
        if (o->gate != NULL) {
            gate_wait(o->gate, o->gate_held);
        }
        /* Both pools: a slow read's reply would go nowhere; a large ingestion body was read
         * in full, but its client, gone, got no 2xx: it retries (the same idempotency keys,
         * or the repeated exposure stored once) or never learns of it either way. Skipping
         * the parse (up to ~1 s for 6 MB) is as correct as storing it, and leaves the
         * threads to clients that are there. */
        if (client_gone(r)) {
            atomic_fetch_add_explicit(&o->abandoned, 1, memory_order_relaxed);
            http_req_abandon(r);
            continue;
        }
        /* the replies rendered since it was queued count now (server.c's first check) */
        if (!http_replies_admit(r)) {
            http_req_resume(r); /* with its 503 */
            continue;
        }
        http_req_offload_begin(r);
        r->route->handler(r); /* replies, or hands r on (a write queued for the writer) */
        if (!http_req_offload_end()) {
            http_req_resume(r);
        }
    }
}

struct http_offload *http_offload_start(const char *gate_env, int per_key)
{
    struct http_offload *o = xcalloc(1, sizeof(*o));
    o->per_key = per_key;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    const char *gate = gate_env != NULL ? getenv(gate_env) : NULL;
    if (gate != NULL && gate[0] != '\0') {
        size_t n = strlen(gate) + sizeof(".held");
        o->gate = xstrdup(gate);
        o->gate_held = xmalloc(n);
        snprintf(o->gate_held, n, "%s.held", gate);
    }
    for (int i = 0; i < HTTP_OFFLOAD_THREADS; i++) {
        if (thread_start(&o->th[i], offload_main, o) != 0) {
            abort(); /* as an allocation failure */
        }
        o->nthreads++;
    }
    return o;
}

bool http_offload_wanted(const struct http_req *r)
{
    return (r->route->flags & ROUTE_OFFLOAD) ||
           ((r->route->flags & ROUTE_OFFLOAD_LARGE) && r->body.len > HTTP_OFFLOAD_BODY_MIN);
}

/* How many queued requests carry r's key (under o->mu; a scan of at most HTTP_OFFLOAD_QUEUE). */
static int queued_of_key(const struct http_offload *o, const struct http_req *r)
{
    int n = 0;
    for (size_t i = 0; i < o->n; i++) {
        const struct http_req *q = o->q[(o->head + i) % HTTP_OFFLOAD_QUEUE];
        n += strcmp(q->key_id, r->key_id) == 0;
    }
    return n;
}

enum http_offload_rc http_offload_submit(struct http_offload *o, struct http_req *r)
{
    pthread_mutex_lock(&o->mu);
    enum http_offload_rc rc = o->stopping                  ? HTTP_OFFLOAD_STOPPED
                              : o->n >= HTTP_OFFLOAD_QUEUE ? HTTP_OFFLOAD_FULL
                                                           : HTTP_OFFLOAD_QUEUED;
    if (rc == HTTP_OFFLOAD_QUEUED && o->per_key > 0 && r->key_id[0] != '\0' &&
        queued_of_key(o, r) >= o->per_key) {
        rc = HTTP_OFFLOAD_KEY_FULL;
    }
    if (rc == HTTP_OFFLOAD_QUEUED) {
        /* suspended before another thread can see it (http.h) */
        http_req_suspend(r);
        o->q[(o->head + o->n) % HTTP_OFFLOAD_QUEUE] = r;
        o->n++;
        pthread_cond_signal(&o->cv);
    }
    pthread_mutex_unlock(&o->mu);
    return rc;
}

uint64_t http_offload_abandoned(struct http_offload *o)
{
    return o != NULL ? atomic_load_explicit(&o->abandoned, memory_order_relaxed) : 0;
}

void http_offload_stop(struct http_offload *o)
{
    if (o == NULL) {
        return;
    }
    pthread_mutex_lock(&o->mu);
    o->stopping = true;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    for (int i = 0; i < o->nthreads; i++) {
        pthread_join(o->th[i], NULL);
    }
    o->nthreads = 0;
}

void http_offload_free(struct http_offload *o)
{
    if (o == NULL) {
        return;
    }
    http_offload_stop(o);
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
    free(o->gate);
    free(o->gate_held);
    free(o);
}
