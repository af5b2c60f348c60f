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
 * One mutex (the set's) guards every stream: pushes and reads are short copies. The
 * number of open streams is capped (http_streams_new) so that subscribers cannot take the
 * connections requests need.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bunsen/log.h"
#include "bunsen/util.h"
#include "http_int.h"

/* Bytes a stream may hold unsent before pushes are refused (a stalled client). */
#define STREAM_PENDING_MAX (4u << 20)

struct http_stream {
    struct http_streams *set;
    struct MHD_Connection *conn;
    char *data; /* pending bytes [off, len) */
    size_t len, off, cap;
    bool suspended; /* the reader suspended the connection; a push resumes it */
    bool closing;   /* end the body once the pending bytes are sent */
    void *user;     /* the subscriber's data (owned) */
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

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct http_stream *st = cls;
    struct http_streams *set = st->set;
    pthread_mutex_lock(&set->mu);
    ssize_t n;
    if (st->len > st->off) {
        size_t k = st->len - st->off < max ? st->len - st->off : max;
        memcpy(buf, st->data + st->off, k);
        st->off += k;
        if (st->off == st->len) {
            st->off = st->len = 0;
            if (st->cap > 64 * 1024) { /* a large payload sent: hold no copy of it */
                free(st->data);
                st->data = NULL;
                st->cap = 0;
            }
        }
        n = (ssize_t)k;
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
    free(st->data);
    free(st);
}

/* Append bytes; the caller holds the lock. A client that has not taken what it was sent
 * gets no more past STREAM_PENDING_MAX, but one event larger than that is sent when nothing
 * is pending (a payload with large saved groups was otherwise never sent at all). */
static int stream_append(struct http_stream *st, const char *data, size_t len)
{
    size_t pending = st->len - st->off;
    if (st->closing || (pending > 0 && pending + len > STREAM_PENDING_MAX)) {
        return -1;
    }
    if (st->len + len > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->len + len) {
            cap *= 2;
        }
        st->data = xrealloc(st->data, cap);
        st->cap = cap;
    }
    memcpy(st->data + st->len, data, len);
    st->len += len;
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

int http_reply_event_stream(struct http_req *r, const char *content_type, const char *first,
                            size_t first_len, void *user, void (*free_user)(void *user))
{
    if (r->method == HTTP_HEAD) {
        /* the headers alone, no stream (as http_reply_stream: libmicrohttpd would end the
         * chunked body even for HEAD) */
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
         * the closed connection ends the empty reply (http_reply_stream) */
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
    st->user = user;
    st->free_user = free_user;
    pthread_mutex_lock(&set->mu);
    if (set->closed || set->n >= set->max) {
        pthread_mutex_unlock(&set->mu);
        free(st);
        if (free_user != NULL) {
            free_user(user);
        }
        http_reply_error(r, ERR_UNAVAILABLE, NULL,
                         "too many open streams (at most %d): poll GET /api/features instead",
                         set->max);
        return -1;
    }
    if (first_len > 0) {
        stream_append(st, first, first_len);
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  stream_read, st, stream_free);
    if (resp == NULL) {
        pthread_mutex_unlock(&set->mu);
        free(st->data);
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

int http_stream_push(struct http_stream *st, const char *data, size_t len)
{
    /* called from http_server_each_stream's callback: the set's lock is held */
    return stream_append(st, data, len);
}

void http_stream_close(struct http_stream *st)
{
    /* called from http_server_each_stream's callback: the set's lock is held. What is still
     * queued is dropped (a revoked key gets no payload queued before the revocation; an
     * event cut short has no blank line, and SSE clients discard it) */
    st->len = st->off = 0;
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
