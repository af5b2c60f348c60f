/*
 * deadline.c - a deadline for the whole of each request, so that a client that trickles its
 * request (a header line every few seconds, a body a few bytes at a time) cannot hold a
 * connection for ever. libmicrohttpd's --conn-timeout is an idle timeout that every byte
 * resets: 16 sockets sending one header line every 4 s held a 16-connection server for as
 * long as they liked, and a fresh client was never served.
 *
 * DESIGN
 * Every connection libmicrohttpd accepts gets a struct http_conn (its socket context, made
 * and freed by MHD_OPTION_NOTIFY_CONNECTION) on one list, with one atomic deadline that the
 * request lifecycle (server.c, framing.c) moves as the request arrives (T = --request-timeout,
 * I = --conn-timeout):
 *
 *   accepted ..................... WAIT     due at accept + T
 *   request line read (on_uri) ... HEADERS  due at the earlier of that and now + T (the word
 *                                           always changes: a pending shed claim fails)
 *   headers read, first call ..... BODY     due at now + T + body bytes read / RATE
 *     (a reply queued at once) ... DONE     no deadline
 *   body read, last call ......... DONE     no deadline: a handler, a suspended reply, an SSE
 *                                           stream are never cut (sending a reply is under I)
 *   reply sent, kept alive ....... WAIT     due at now + max(T, I): an idle kept-alive client
 *                                           keeps the idle timeout it always had
 *
 * (RATE = HTTP_BODY_MIN_RATE: a body that keeps it up is read however long it takes.)
 *
 * A sweeper thread wakes every T/8 (0.1 to 1 s), claims each passed deadline by swapping it
 * for EXPIRED, and shutdown()s the socket; MHD's thread then reads end-of-file and closes the
 * connection as for any client that went away. A request that had begun (HEADERS, BODY) is
 * first sent a 408 JSON error (best effort, never blocking): nothing else writes to the
 * socket then, as MHD writes only after the headers are read and our first call, which claims
 * the deadline first, has returned (but for MHD's own error replies to malformed headers,
 * which a 408 can only meet when both fall on the same instant: the connection is closed all
 * the same). A connection that sent nothing (WAIT) is closed silently, as the idle timeout
 * does: a 408 there could be read as the answer to a request crossing it. The lifecycle's
 * transitions fail once the sweeper has claimed the deadline, and the request is then dropped
 * (MHD_NO).
 *
 * At --max-connections the listener (listener.c) asks for room: http_deadlines_shed_idle
 * closes kept-alive connections that have waited a second or more for their next request,
 * and new ones that have sent nothing for as long (claimed and shut down as the sweeper does; a
 * client may close an idle persistent connection at any time and clients reopen one, RFC 9112 9.3;
 * nginx reuses its keep-alive connections the same way when it runs out). Kept-alive connections
 * that repeat a request now and then held every slot from a few addresses (review hostile30 F2).
 *
 * The socket the sweeper shuts down is the connection's: MHD calls NOTIFY_CLOSED (which
 * unlinks the entry under the list's mutex) before it closes the socket, and the sweeper
 * holds that mutex across its send() and shutdown().
 *
 * Threads: MHD's threads (notify, and the request lifecycle on the connection's own thread),
 * the sweeper thread; start/stop from the thread that starts and stops the server.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "bunsen/log.h"
#include "bunsen/metrics.h"
#include "bunsen/util.h"
#include "http_int.h"

#define DEADLINE_NONE    0u
#define DEADLINE_EXPIRED UINT64_MAX

enum conn_phase { PHASE_WAIT, PHASE_HEADERS, PHASE_BODY, PHASE_DONE };

struct http_conn {
    struct http_conn *prev, *next; /* the set's list, under its mutex */
    int fd;                        /* the connection's socket (MHD's) */
    _Atomic uint64_t deadline;     /* monotonic ns; DEADLINE_NONE, or DEADLINE_EXPIRED once
                                    * the sweeper has claimed it */
    _Atomic int phase;             /* enum conn_phase: whether a 408 is sent on expiry */
    _Atomic bool kept;             /* WAIT after a reply (kept alive), not a new connection */
    uint64_t body_t0;              /* the headers' arrival (the connection's thread only) */
    uint64_t body_bytes;           /* body bytes read so far (the connection's thread only) */
    struct http_deadlines *set;
};

struct http_deadlines {
    pthread_mutex_t mu;     /* the list, stopping; held by the sweeper across a sweep */
    pthread_cond_t cv;      /* CLOCK_MONOTONIC: wakes the sweeper to stop */
    struct http_conn *head; /* every open connection */
    bool stopping;          /* the sweeper is to exit */
    bool started;           /* the sweeper thread runs (joined by _free) */
    pthread_t thread;       /* the sweeper */
    uint64_t request_ns;    /* T */
    uint64_t wait_ns;       /* max(T, I): for the next request on a kept-alive connection */
    long sweep_ms;          /* the sweeper's period, T/8 within [100, 1000] */
    atomic_uint_fast64_t expired[2]; /* closed for the headers (WAIT, HEADERS), for the body */
    atomic_uint_fast64_t shed;       /* idle connections closed at the cap */
    char reply[2][512];              /* the 408s: headers, body */
    size_t reply_len[2];             /* their lengths (0: not sent) */
};

/* Build the 408 sent when a request's headers (0) or body (1) missed the deadline. */
static void make_reply(struct http_deadlines *s, int which, unsigned request_s)
{
    char msg[200], body[260];
    if (which == 0) {
        snprintf(msg, sizeof(msg), "the request headers did not arrive within %u s", request_s);
    } else {
        snprintf(msg, sizeof(msg),
                 "the request body arrived slower than %u bytes/s after a %u s allowance",
                 (unsigned)HTTP_BODY_MIN_RATE, request_s);
    }
    /* plain ASCII: no JSON escaping needed */
    snprintf(body, sizeof(body), "{\"error\":{\"code\":\"request_timeout\",\"message\":\"%s\"}}",
             msg);
    int n = snprintf(s->reply[which], sizeof(s->reply[which]),
                     "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                     "Content-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    s->reply_len[which] = n > 0 && (size_t)n < sizeof(s->reply[which]) ? (size_t)n : 0;
}

/* One pass: close every connection whose deadline has passed. Under s->mu. */
static void sweep(struct http_deadlines *s, uint64_t now, uint64_t counts[2])
{
    for (struct http_conn *c = s->head; c != NULL; c = c->next) {
        uint64_t d = atomic_load(&c->deadline);
        if (d == DEADLINE_NONE || d == DEADLINE_EXPIRED || d > now ||
            !atomic_compare_exchange_strong(&c->deadline, &d, DEADLINE_EXPIRED)) {
            continue;
        }
        int phase = atomic_load(&c->phase);
        int which = phase == PHASE_BODY ? 1 : 0;
        if (phase != PHASE_WAIT && s->reply_len[which] > 0) {
            /* best effort: the socket is MHD's and non-blocking; a full buffer drops it */
            (void)send(c->fd, s->reply[which], s->reply_len[which], MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        shutdown(c->fd, SHUT_RDWR);
        counts[which]++;
    }
}

static void *sweeper_main(void *arg)
{
    struct http_deadlines *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        long ns = until.tv_nsec + s->sweep_ms * 1000000L;
        until.tv_sec += ns / 1000000000L;
        until.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&s->cv, &s->mu, &until);
        if (s->stopping) {
            break;
        }
        uint64_t counts[2] = {0, 0};
        sweep(s, time_mono_ns(), counts);
        if (counts[0] + counts[1] == 0) {
            continue;
        }
        atomic_fetch_add(&s->expired[0], counts[0]);
        atomic_fetch_add(&s->expired[1], counts[1]);
        pthread_mutex_unlock(&s->mu);
        log_json(LOG_INFO, "closed connections whose request did not arrive in time",
                 json_pack("{s:I, s:I}", "headers", (json_int_t)counts[0], "body",
                           (json_int_t)counts[1]));
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

struct http_deadlines *http_deadlines_new(unsigned request_s, unsigned idle_s)
{
    struct http_deadlines *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    cond_init_monotonic(&s->cv);
    s->request_ns = (uint64_t)request_s * 1000000000ull;
    s->wait_ns = (uint64_t)(idle_s > request_s ? idle_s : request_s) * 1000000000ull;
    long ms = (long)request_s * 1000 / 8;
    s->sweep_ms = ms < 100 ? 100 : ms > 1000 ? 1000 : ms;
    make_reply(s, 0, request_s);
    make_reply(s, 1, request_s);
    return s;
}

int http_deadlines_start(struct http_deadlines *s)
{
    if (thread_start(&s->thread, sweeper_main, s) != 0) {
        return -1;
    }
    s->started = true;
    return 0;
}

void http_deadlines_free(struct http_deadlines *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started) {
        pthread_join(s->thread, NULL);
    }
    while (s->head != NULL) { /* none after MHD_stop_daemon; a failed start may leave some */
        struct http_conn *c = s->head;
        s->head = c->next;
        free(c);
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

struct http_conn *http_deadlines_track(struct http_deadlines *s, int fd)
{
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->set = s;
    c->fd = fd;
    atomic_init(&c->phase, PHASE_WAIT);
    atomic_init(&c->deadline, fd >= 0 ? time_mono_ns() + s->request_ns : DEADLINE_NONE);
    pthread_mutex_lock(&s->mu);
    c->next = s->head;
    if (s->head != NULL) {
        s->head->prev = c;
    }
    s->head = c;
    pthread_mutex_unlock(&s->mu);
    return c;
}

void http_deadlines_untrack(struct http_conn *c)
{
    if (c == NULL) {
        return;
    }
    struct http_deadlines *s = c->set;
    pthread_mutex_lock(&s->mu); /* from here on the sweeper cannot touch the socket */
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    pthread_mutex_unlock(&s->mu);
    free(c);
}

void http_deadlines_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode toe)
{
    struct http_deadlines *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = http_deadlines_track(s, ci != NULL ? ci->connect_fd : -1);
        return;
    }
    struct http_conn *c = *socket_context;
    *socket_context = NULL;
    http_deadlines_untrack(c);
}

struct http_conn *http_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* Move c's deadline to d unless the sweeper has claimed it (then false). */
static bool set_deadline(struct http_conn *c, uint64_t d)
{
    uint64_t cur = atomic_load_explicit(&c->deadline, memory_order_relaxed);
    do {
        if (cur == DEADLINE_EXPIRED) {
            return false;
        }
    } while (!atomic_compare_exchange_weak(&c->deadline, &cur, d));
    return true;
}

void http_conn_request_line(struct http_conn *c)
{
    if (c == NULL) {
        return;
    }
    atomic_store_explicit(&c->phase, PHASE_HEADERS, memory_order_relaxed);
    uint64_t due = time_mono_ns() + c->set->request_ns;
    uint64_t cur = atomic_load_explicit(&c->deadline, memory_order_relaxed);
    if (cur == DEADLINE_EXPIRED) {
        return;
    }
    /* The deadline word always changes (one nanosecond earlier when it stays), so that a claim
     * http_deadlines_shed_idle made on this WAIT connection before the request line came fails:
     * a begun request is never shed (review code33 F2). The CAS fails only when the sweeper or
     * the shed claimed the connection first (no one else writes the word meanwhile): it is
     * being closed then. */
    uint64_t d = cur == DEADLINE_NONE || cur > due ? due : cur - 1;
    (void)atomic_compare_exchange_strong(&c->deadline, &cur, d);
}

bool http_conn_headers_read(struct http_conn *c, uint64_t now, bool reply_queued)
{
    if (c == NULL) {
        return true;
    }
    c->body_t0 = now;
    c->body_bytes = 0;
    atomic_store_explicit(&c->phase, reply_queued ? PHASE_DONE : PHASE_BODY, memory_order_relaxed);
    return set_deadline(c, reply_queued ? DEADLINE_NONE : now + c->set->request_ns);
}

bool http_conn_body_read(struct http_conn *c, size_t n)
{
    if (c == NULL) {
        return true;
    }
    c->body_bytes += n;
    uint64_t rate = HTTP_BODY_MIN_RATE;
    uint64_t allowed =
        c->body_bytes / rate * 1000000000ull + c->body_bytes % rate * 1000000000ull / rate;
    return set_deadline(c, c->body_t0 + c->set->request_ns + allowed);
}

bool http_conn_request_read(struct http_conn *c)
{
    if (c == NULL) {
        return true;
    }
    atomic_store_explicit(&c->phase, PHASE_DONE, memory_order_relaxed);
    return set_deadline(c, DEADLINE_NONE);
}

void http_conn_reply_sent(struct http_conn *c, uint64_t now)
{
    if (c == NULL) {
        return;
    }
    atomic_store_explicit(&c->phase, PHASE_WAIT, memory_order_relaxed);
    atomic_store_explicit(&c->kept, true, memory_order_relaxed);
    (void)set_deadline(c, now + c->set->wait_ns);
}

struct http_conn *http_deadlines_idlest(struct http_deadlines *s, uint64_t now,
                                        uint64_t min_idle_ns, uint64_t *deadline)
{
    /* the longest idle: kept alive and waiting for its next request since (d - wait_ns),
     * or new and silent since it connected (d - request_ns): a client that opened a
     * connection and sent nothing held its slot for the whole --request-timeout, and
     * reconnecting every few seconds held every slot at no cost (review hostile31 F6) */
    struct http_conn *oldest = NULL;
    uint64_t oldest_d = 0, oldest_since = 0;
    for (struct http_conn *c = s->head; c != NULL; c = c->next) {
        uint64_t d = atomic_load(&c->deadline);
        if (atomic_load(&c->phase) != PHASE_WAIT || d == DEADLINE_NONE || d == DEADLINE_EXPIRED) {
            continue;
        }
        uint64_t span = atomic_load(&c->kept) ? s->wait_ns : s->request_ns;
        if (d >= span && d - span + min_idle_ns <= now &&
            (oldest == NULL || d - span < oldest_since)) {
            oldest = c;
            oldest_d = d;
            oldest_since = d - span;
        }
    }
    *deadline = oldest_d;
    return oldest;
}

bool http_deadlines_claim(struct http_conn *c, uint64_t deadline)
{
    /* a request that began since the scan read the deadline changed it (every transition out
     * of WAIT writes the word, http_conn_request_line included): the claim fails */
    if (!atomic_compare_exchange_strong(&c->deadline, &deadline, DEADLINE_EXPIRED)) {
        return false;
    }
    shutdown(c->fd, SHUT_RDWR); /* closed silently, as the idle timeout does */
    return true;
}

size_t http_deadlines_shed_idle(struct http_deadlines *s, size_t max, uint64_t min_idle_ns)
{
    size_t n = 0;
    uint64_t now = time_mono_ns();
    pthread_mutex_lock(&s->mu); /* as the sweeper: the socket stays the connection's */
    /* bounded: each round claims one connection, or finds one whose deadline moved (its
     * request began, so it leaves WAIT or gets a later deadline); the rounds are capped too */
    for (size_t round = 0; n < max && round < 4 * max + 16; round++) {
        uint64_t d;
        struct http_conn *oldest = http_deadlines_idlest(s, now, min_idle_ns, &d);
        if (oldest == NULL) {
            break;
        }
        if (http_deadlines_claim(oldest, d)) {
            n++;
        }
    }
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&s->shed, n);
    return n;
}

void http_deadlines_write_metrics(struct http_deadlines *s, struct buf *b)
{
    metrics_write_help(b, "bunsen_http_request_timeouts_total", "counter",
                       "Connections closed because a request's headers or body did not arrive "
                       "within --request-timeout, by phase.");
    metrics_write_value(b, "bunsen_http_request_timeouts_total", "phase=\"headers\"",
                        (double)atomic_load(&s->expired[0]));
    metrics_write_value(b, "bunsen_http_request_timeouts_total", "phase=\"body\"",
                        (double)atomic_load(&s->expired[1]));
    metrics_write_help(b, "bunsen_http_idle_connections_shed_total", "counter",
                       "Connections idle for a second or more (kept alive, or new and silent), "
                       "closed to make room while --max-connections were open or descriptors "
                       "ran out.");
    metrics_write_value(b, "bunsen_http_idle_connections_shed_total", "",
                        (double)atomic_load(&s->shed));
}
