/*
 * stream.c - long-lived event streams (Server-Sent Events) that pin no thread.
 *
 * DESIGN
 * An event stream is a reply whose body MHD pulls through a content-reader callback (chunked, no
 * length). When the stream has bytes, the reader hands them over; when it has none, the
 * reader suspends the connection (MHD_suspend_connection, allowed from a content reader)
 * and returns 0, so no MHD thread waits on it. http_stream_push (any thread) appends bytes
 * and resumes a suspended connection; MHD then calls the reader again. MHD frees the
 * response when the connection ends (client gone, write error, shutdown): the free
 * callback unlinks the stream and frees it with its subscriber data.
 *
 *   handler --http_reply_event_stream--> [set] <--push/each (api thread)-- resume
 *   MHD thread: reader: bytes? copy : closing? end : suspend + return 0
 *   shutdown: close_all marks every stream closing and resumes it; the readers end their
 *   chunked bodies, MHD frees them; the set waits (bounded) until none is left, so that
 *   MHD_stop_daemon never sees a suspended connection.
 *
 * Events are not copied into the streams: each one is a text shared by every subscriber
 * (struct http_shared, a reference the stream holds). A stream holds at most two: the event
 * it is sending (an event begun must end whole, or the client would join two) and the
 * newest one pushed after it; a newer push replaces that one before it is begun. A client
 * that reads slowly therefore skips to the latest event once it drains instead of being
 * refused it for good, and a stalled one costs two references, not a copy of the payload
 * (each stream once copied every event: 300 stalled subscribers of a 3.3 MB payload took
 * 780 MB). The event being sent is still the stream's alone once a newer one supersedes it
 * (a 13 MB payload with large saved groups): a client that stops reading is cut by MHD's
 * idle timeout (--conn-timeout), and one that reads a little now and then is ended by its
 * subscriber's owner once http_stream_superseded_for says a newer one has waited behind it
 * too long (sdk_stream.c), so that no reader keeps an old payload in memory at its pace.
 *
 * One mutex (the set's) guards every stream: pushes and reads are short. The number of open
 * streams is capped (http_streams_new) so that subscribers cannot take the connections
 * requests need.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bunsen/log.h"
#include "bunsen/util.h"
#include "http_int.h"

struct http_stream {
    struct http_streams *set;
    struct MHD_Connection *conn;
    struct http_shared cur;    /* being sent: cur.data[off..cur.len); data NULL = none */
    size_t off;                /* of cur */
    int64_t superseded_ms;     /* since when a newer event has waited behind cur
                                * (time_mono_ms), 0 = none queued */
    struct http_shared queued; /* after cur, not begun; data NULL = none */
    bool suspended;            /* the reader suspended the connection; a push resumes it */
    bool closing;              /* end the body once the pending bytes are sent */
    size_t *sent;              /* the request's resp_bytes (the access log's) */
    void *user;                /* the subscriber's data (owned) */
    void (*free_user)(void *user);
    struct http_stream *prev, *next;
};

struct http_streams {
    pthread_mutex_t mu;
    struct http_stream *head;
    int n, max;
    bool closed; /* shutting down: no new stream */
};

struct http_streams *http_streams_new(int max)
{
    struct http_streams *set = xcalloc(1, sizeof(*set));
    pthread_mutex_init(&set->mu, NULL);
    set->max = max > 0 ? max : 1;
    return set;
}

void http_streams_free(struct http_streams *set)
{
    if (set == NULL) {
        return;
    }
    /* MHD has freed every stream it still had (MHD_stop_daemon ran before) */
    pthread_mutex_destroy(&set->mu);
    free(set);
}

int http_streams_count(struct http_streams *set)
{
    pthread_mutex_lock(&set->mu);
    int n = set->n;
    pthread_mutex_unlock(&set->mu);
    return n;
}

static void shared_release(struct http_shared *ev)
{
    if (ev->release != NULL) {
        ev->release(ev->ctx);
    }
    memset(ev, 0, sizeof(*ev));
}

/* Release what the stream holds (cur and queued). */
static void stream_drop(struct http_stream *st)
{
    shared_release(&st->cur);
    shared_release(&st->queued);
    st->off = 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct http_stream *st = cls;
    struct http_streams *set = st->set;
    pthread_mutex_lock(&set->mu);
    ssize_t n;
    if (st->cur.data != NULL) {
        size_t k = st->cur.len - st->off < max ? st->cur.len - st->off : max;
        memcpy(buf, st->cur.data + st->off, k);
        st->off += k;
        if (st->off == st->cur.len) { /* sent whole: the newest event queued is next */
            shared_release(&st->cur);
            st->cur = st->queued;
            memset(&st->queued, 0, sizeof(st->queued));
            st->off = 0;
            st->superseded_ms = 0;
        }
        n = (ssize_t)k;
        *st->sent += k;
    } else if (st->closing) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        st->suspended = true;
        MHD_suspend_connection(st->conn);
        n = 0;
    }
    pthread_mutex_unlock(&set->mu);
    return n;
}

static void stream_free(void *cls)
{
    struct http_stream *st = cls;
    struct http_streams *set = st->set;
    pthread_mutex_lock(&set->mu);
    if (st->prev != NULL) {
        st->prev->next = st->next;
    } else {
        set->head = st->next;
    }
    if (st->next != NULL) {
        st->next->prev = st->prev;
    }
    set->n--;
    pthread_mutex_unlock(&set->mu);
    if (st->free_user != NULL) {
        st->free_user(st->user);
    }
    stream_drop(st);
    free(st);
}

/* Queue ev (its reference taken over); the caller holds the lock. It is sent next when
 * nothing is being sent, else it replaces the event queued after the one being sent. */
static int stream_queue(struct http_stream *st, const struct http_shared *ev)
{
    if (st->closing) {
        struct http_shared drop = *ev;
        shared_release(&drop);
        return -1;
    }
    if (ev->data == NULL || ev->len == 0) {
        struct http_shared drop = *ev;
        shared_release(&drop);
        return 0;
    }
    if (st->cur.data == NULL) {
        st->cur = *ev;
        st->off = 0;
    } else {
        if (st->queued.data == NULL) { /* cur is superseded from now (a newer one keeps it) */
            st->superseded_ms = time_mono_ms();
        }
        shared_release(&st->queued);
        st->queued = *ev;
    }
    if (st->suspended) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
    }
    return 0;
}

/* The body of a HEAD reply: none. */
static ssize_t head_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

/* The over-cap reply's body: the `retry:` line, then the shared event read in place (as
 * stream_read does), not copied per request. */
struct full_body {
    char head[48];
    size_t hn;
    struct http_shared ev;
};

static ssize_t full_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct full_body *b = cls;
    size_t n = b->hn + b->ev.len;
    if (pos >= n) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t k = 0;
    while (k < max && pos < n) {
        const char *src = pos < b->hn ? b->head + pos : b->ev.data + (pos - b->hn);
        size_t left = pos < b->hn ? b->hn - (size_t)pos : n - (size_t)pos;
        size_t take = left < max - k ? left : max - k;
        memcpy(buf + k, src, take);
        k += take;
        pos += take;
    }
    return (ssize_t)k;
}

static void full_free(void *cls)
{
    struct full_body *b = cls;
    shared_release(&b->ev);
    free(b);
}

/* Every slot taken: the client still gets the current event, then the body ends, with a
 * `retry:` of HTTP_STREAM_FULL_RETRY_MS, so that an EventSource reconnects after that long
 * and polls through the stream's own URL. A 503 here made the GrowthBook SDK back off for
 * up to 5 minutes without fetching anything meanwhile: a stop or a pause did not reach it
 * (review sdk30 F1). Tests only: BUNSEN_TEST_STREAM_FULL_RETRY_MS (at least 100). */
static void full_reply(struct http_req *r, const char *content_type, struct http_shared *ev)
{
    long retry = HTTP_STREAM_FULL_RETRY_MS;
    const char *v = getenv("BUNSEN_TEST_STREAM_FULL_RETRY_MS");
    if (v != NULL && strtol(v, NULL, 10) >= 100) {
        retry = strtol(v, NULL, 10);
    }
    struct full_body *b = xcalloc(1, sizeof(*b));
    b->hn = (size_t)snprintf(b->head, sizeof(b->head), "retry: %ld\n\n", retry);
    b->ev = *ev; /* the reference passes to the body */
    memset(ev, 0, sizeof(*ev));
    size_t n = b->hn + b->ev.len;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(n, 16 * 1024, full_read, b, full_free);
    if (resp == NULL) {
        full_free(b);
        http_reply_error(r, ERR_INTERNAL, NULL, "cannot allocate a response");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Connection", "close"); /* the stream ends here */
    http_reply_response(r, 200, resp, n);
}

int http_reply_event_stream(struct http_req *r, const char *content_type,
                            const struct http_shared *first, void *user,
                            void (*free_user)(void *user))
{
    struct http_shared ev = {0};
    if (first != NULL) {
        ev = *first;
    }
    if (r->method == HTTP_HEAD) {
        /* the headers alone, no stream (as http_reply_feed's HEAD, feed.c: libmicrohttpd
         * would end the chunked body even for HEAD) */
        shared_release(&ev);
        if (free_user != NULL) {
            free_user(user);
        }
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, head_read, NULL, NULL);
        if (resp == NULL) {
            http_reply_error(r, ERR_INTERNAL, NULL, "cannot allocate a response");
            return -1;
        }
        /* no Content-Length: 0 for a body GET would send (RFC 9110 8.6), no chunked end:
         * the closed connection ends the empty reply (as http_reply_feed's HEAD) */
        MHD_set_response_options(resp, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
        MHD_add_response_header(resp, "Content-Type", content_type);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        http_reply_response(r, 200, resp, 0);
        return 0;
    }
    struct http_streams *set = http_server_streams(r->srv);
    struct http_stream *st = xcalloc(1, sizeof(*st));
    st->set = set;
    st->conn = r->conn;
    st->sent = &r->resp_bytes;
    st->user = user;
    st->free_user = free_user;
    pthread_mutex_lock(&set->mu);
    if (set->closed) {
        pthread_mutex_unlock(&set->mu);
        free(st);
        shared_release(&ev);
        if (free_user != NULL) {
            free_user(user);
        }
        http_reply_error(r, ERR_UNAVAILABLE, NULL, "the server is shutting down");
        return -1;
    }
    if (set->n >= set->max) {
        pthread_mutex_unlock(&set->mu);
        free(st);
        if (free_user != NULL) {
            free_user(user);
        }
        full_reply(r, content_type, &ev);
        return 1;
    }
    stream_queue(st, &ev);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  stream_read, st, stream_free);
    if (resp == NULL) {
        pthread_mutex_unlock(&set->mu);
        stream_drop(st);
        free(st);
        if (free_user != NULL) {
            free_user(user);
        }
        http_reply_error(r, ERR_INTERNAL, NULL, "cannot allocate a response");
        return -1;
    }
    st->next = set->head;
    if (set->head != NULL) {
        set->head->prev = st;
    }
    set->head = st;
    set->n++;
    pthread_mutex_unlock(&set->mu);
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no"); /* proxies: do not buffer */
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    http_reply_response(r, 200, resp, 0);
    return 0;
}

int http_stream_push(struct http_stream *st, const struct http_shared *ev)
{
    /* called from http_server_each_stream's callback: the set's lock is held */
    return stream_queue(st, ev);
}

int http_stream_ping(struct http_stream *st, const char *data, size_t len)
{
    /* the set's lock is held; a stream with bytes to send needs no keep-alive (and an
     * event queued must not be replaced by it) */
    if (st->closing || st->cur.data != NULL) {
        return -1;
    }
    struct http_shared ev = {.data = data, .len = len};
    return stream_queue(st, &ev);
}

bool http_stream_superseded_for(const struct http_stream *st, int64_t now_ms, int64_t ms)
{
    /* the set's lock is held. Only a superseded event counts: the newest one is the text
     * every other subscriber and the payload cache share, so sending it slowly pins nothing
     * more, while an older one stays in memory for this stream alone */
    return st->cur.data != NULL && st->queued.data != NULL && now_ms - st->superseded_ms >= ms;
}

void http_stream_close(struct http_stream *st)
{
    /* called from http_server_each_stream's callback: the set's lock is held. What is still
     * queued is dropped (a revoked key gets no payload queued before the revocation; an
     * event cut short has no blank line, and SSE clients discard it) */
    stream_drop(st);
    st->closing = true;
    if (st->suspended) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
    }
}

void http_server_each_stream(struct http_server *srv,
                             void (*fn)(void *ctx, struct http_stream *st, void *user), void *ctx)
{
    struct http_streams *set = http_server_streams(srv);
    pthread_mutex_lock(&set->mu);
    for (struct http_stream *st = set->head; st != NULL; st = st->next) {
        if (!st->closing) {
            fn(ctx, st, st->user);
        }
    }
    pthread_mutex_unlock(&set->mu);
}

void http_streams_close_all(struct http_streams *set)
{
    pthread_mutex_lock(&set->mu);
    set->closed = true;
    for (struct http_stream *st = set->head; st != NULL; st = st->next) {
        st->closing = true;
        if (st->suspended) {
            st->suspended = false;
            MHD_resume_connection(st->conn);
        }
    }
    pthread_mutex_unlock(&set->mu);
    /* MHD ends each body and frees the stream; wait for that (bounded: a client that reads
     * nothing is cut by MHD_stop_daemon) */
    for (int i = 0; i < 200 && http_streams_count(set) > 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int left = http_streams_count(set);
    if (left > 0) {
        log_json(LOG_WARN, "streams still open at shutdown", json_pack("{s:i}", "streams", left));
    }
}
