/*
 * feed.c - a streamed reply whose body another thread produces (http_reply_feed): a bounded
 * buffer between a producer thread and the MHD thread that sends the reply.
 *
 * DESIGN
 * A content reader that produces its body itself does its work on the MHD thread that serves
 * the connection, and every other connection of that thread waits meanwhile (a per-user
 * export read each page of 1,000 users from the database there, ~3 ms). Here the producer
 * (its own thread) writes into the feed's buffer, waiting while it is full (at most cap bytes
 * not yet sent: memory stays bounded whatever the body's size, and a slow client slows the
 * producer, not the server); the reader only copies bytes out. When the buffer is empty the
 * reader suspends the connection (MHD_suspend_connection, allowed from a content reader) and
 * returns 0, so no MHD thread waits; the producer's next write (or end) resumes it.
 *
 *   producer: write --(room? copy : wait)--> [buf] --reader (MHD thread): copy | suspend--> client
 *   client gone: MHD frees the reply (feed_free): gone, the producer's write answers -1
 *   shutdown: http_feeds_close_all marks every feed closing, wakes its producer and resumes
 *   its connection (the reader ends the body), then waits (bounded) until every producer
 *   has ended, so that MHD_stop_daemon never meets a suspended connection (a producer's end
 *   resumes it) and no producer is still reading the store when it closes.
 *
 * A feed has two references: the reply's (dropped by MHD's free callback) and the
 * producer's (dropped by http_feed_end); the last frees it. One mutex per feed guards its
 * state; the list of live feeds (for the shutdown) has its own, taken before a feed's.
 * Threads: producers (any thread but MHD's), MHD's threads (reader, free), the main thread
 * (close_all).
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bunsen/log.h"
#include "bunsen/util.h"
#include "http_int.h"

struct http_feed {
    pthread_mutex_t mu;
    pthread_cond_t room; /* the reader took bytes, or the feed ends (gone, closing) */
    struct MHD_Connection *conn;
    char *buf;
    size_t cap, off, len; /* buf[off..len) not sent yet */
    bool suspended;       /* the reader suspended the connection; a write or end resumes it */
    bool ended, failed;   /* the producer ended the body (failed: abort the connection) */
    bool gone;            /* MHD freed the reply (the client went away, or it was sent) */
    bool closing;         /* the server stops: end the body, the producer stops */
    size_t *sent;         /* the request's resp_bytes (the access log's), or NULL */
    int refs;
    struct http_feed *prev, *next; /* in feeds */
};

static pthread_mutex_t feeds_mu = PTHREAD_MUTEX_INITIALIZER;
static struct http_feed *feeds;
/* http_feeds_close_all ran: a feed made after it is born closing (its producer's first write
 * answers -1), and the shutdown's second close_all waits for its producer too */
static bool feeds_closed;

bool http_feeds_closing(void)
{
    pthread_mutex_lock(&feeds_mu);
    bool closed = feeds_closed;
    pthread_mutex_unlock(&feeds_mu);
    return closed;
}

/* f->mu held: let the reader run again if it waits for bytes. */
static void wake_reader(struct http_feed *f)
{
    if (f->suspended) {
        f->suspended = false;
        MHD_resume_connection(f->conn);
    }
}

static void feed_unref(struct http_feed *f)
{
    pthread_mutex_lock(&feeds_mu);
    pthread_mutex_lock(&f->mu);
    bool last = --f->refs == 0;
    pthread_mutex_unlock(&f->mu);
    if (last) {
        if (f->prev != NULL) {
            f->prev->next = f->next;
        } else {
            feeds = f->next;
        }
        if (f->next != NULL) {
            f->next->prev = f->prev;
        }
    }
    pthread_mutex_unlock(&feeds_mu);
    if (last) {
        pthread_cond_destroy(&f->room);
        pthread_mutex_destroy(&f->mu);
        free(f->buf);
        free(f);
    }
}

static ssize_t feed_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct http_feed *f = cls;
    pthread_mutex_lock(&f->mu);
    ssize_t n;
    if (f->closing && !f->ended) {
        n = MHD_CONTENT_READER_END_WITH_ERROR; /* a truncated body, not a complete one */
    } else if (f->off < f->len) {
        size_t k = f->len - f->off < max ? f->len - f->off : max;
        memcpy(out, f->buf + f->off, k);
        f->off += k;
        if (f->sent != NULL) {
            *f->sent += k; /* read by the access log once the request completed */
        }
        if (f->off == f->len) {
            f->off = f->len = 0;
        }
        pthread_cond_broadcast(&f->room);
        n = (ssize_t)k;
    } else if (f->ended) {
        n = f->failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        f->suspended = true;
        MHD_suspend_connection(f->conn);
        n = 0;
    }
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* The body of a HEAD reply: none (the producer's first write answers -1). */
static ssize_t head_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)cls;
    (void)pos;
    (void)out;
    (void)max;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static void feed_free(void *cls)
{
    struct http_feed *f = cls;
    pthread_mutex_lock(&f->mu);
    f->gone = true;
    f->suspended = false; /* MHD is done with the connection: never resume it */
    pthread_cond_broadcast(&f->room);
    pthread_mutex_unlock(&f->mu);
    feed_unref(f);
}

struct http_feed *http_reply_feed(struct http_req *r, int status, const char *content_type,
                                  size_t cap)
{
    struct http_feed *f = xcalloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->room, NULL);
    f->conn = r->conn;
    f->cap = cap > 0 ? cap : 1;
    f->buf = xmalloc(f->cap);
    f->refs = 2;
    pthread_mutex_lock(&feeds_mu);
    f->closing = feeds_closed;
    f->next = feeds;
    if (feeds != NULL) {
        feeds->prev = f;
    }
    feeds = f;
    pthread_mutex_unlock(&feeds_mu);
    bool head = r->method == HTTP_HEAD;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 32 * 1024, head ? head_read : feed_read, f, feed_free);
    if (resp == NULL) {
        feed_free(f); /* the reply's reference: the producer's write answers -1 */
        log_msg(LOG_ERROR, "cannot allocate a response");
        return f;
    }
    if (head) {
        /* the headers alone: libmicrohttpd sends a chunked response's last chunk even to
         * HEAD, and a keep-alive client read those 5 bytes as the next reply. Nor may a HEAD
         * reply say Content-Length: 0 for a body GET would send (RFC 9110 8.6). So the length
         * stays unknown, without chunked encoding, and the connection ends the (empty) reply
         * (HTTP/1.0-compatible framing). */
        MHD_set_response_options(resp, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    http_reply_response(r, status, resp, 0);
    f->sent = head ? NULL : &r->resp_bytes; /* counted as sent, from 0 */
    return f;
}

int http_feed_write(struct http_feed *f, const void *data, size_t n)
{
    const char *p = data;
    pthread_mutex_lock(&f->mu);
    while (n > 0 && !f->gone && !f->closing) {
        if (f->len == f->cap && f->off > 0) {
            memmove(f->buf, f->buf + f->off, f->len - f->off);
            f->len -= f->off;
            f->off = 0;
        }
        size_t room = f->cap - f->len;
        if (room == 0) {
            wake_reader(f);
            pthread_cond_wait(&f->room, &f->mu);
            continue;
        }
        size_t k = n < room ? n : room;
        memcpy(f->buf + f->len, p, k);
        f->len += k;
        p += k;
        n -= k;
    }
    int rc = n == 0 && !f->gone && !f->closing ? 0 : -1;
    if (rc == 0) {
        wake_reader(f);
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

void http_feed_end(struct http_feed *f, bool failed)
{
    pthread_mutex_lock(&f->mu);
    f->ended = true;
    f->failed = failed;
    if (!f->gone) {
        wake_reader(f);
    }
    pthread_mutex_unlock(&f->mu);
    feed_unref(f);
}

void http_feeds_close_all(void)
{
    pthread_mutex_lock(&feeds_mu);
    feeds_closed = true;
    for (struct http_feed *f = feeds; f != NULL; f = f->next) {
        pthread_mutex_lock(&f->mu);
        f->closing = true;
        pthread_cond_broadcast(&f->room);
        if (!f->gone) {
            wake_reader(f);
        }
        pthread_mutex_unlock(&f->mu);
    }
    pthread_mutex_unlock(&feeds_mu);
    /* the producers see -1 and end (up to 10 s for one inside a slow database read); the
     * readers of resumed connections end their bodies while MHD still runs, and MHD frees a
     * reply whose client does not read when MHD_stop_daemon closes its connection */
    for (int i = 0; i < 1000; i++) {
        bool running = false;
        pthread_mutex_lock(&feeds_mu);
        for (struct http_feed *f = feeds; f != NULL && !running; f = f->next) {
            pthread_mutex_lock(&f->mu);
            running = !f->ended;
            pthread_mutex_unlock(&f->mu);
        }
        pthread_mutex_unlock(&feeds_mu);
        if (!running) {
            return;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10000000};
        nanosleep(&ts, NULL);
    }
    log_msg(LOG_WARN, "stopping with a streamed reply's producer still running");
}
