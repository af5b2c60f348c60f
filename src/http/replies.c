/*
 * replies.c - the budget of rendered replies waiting to be sent (--max-reply-memory): a slow
 * reader holds its whole reply until it has read it (review hostile30 F1, RELIABILITY.md AR),
 * so slow reads' replies of HTTP_REPLY_COUNTED_MIN bytes or more are counted from their making
 * to MHD's destruction of them (request.c struct counted), in total and per key, and a slow
 * read is refused 503 + Retry-After while the total is over the budget or its key's share
 * (1/HTTP_REPLY_KEY_SHARE) is used up.
 *
 * Owns the counts: the total (an atomic), and one entry per key holding counted replies
 * (exact: a hashed bucket let two keys share one share, one pair in 256, RELIABILITY.md BA),
 * under a mutex taken by counted replies and by the check of a slow read once replies hold
 * more than a key's share: off every hot path. The table holds at most one entry per key
 * (keys are made by admins) and per counted reply.
 *
 * Threads: any (MHD's workers, offload threads, MHD's response destruction).
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/metrics.h"
#include "bunsen/util.h"
#include "http_int.h"

struct reply_key {
    char id[HTTP_KEY_ID_LEN]; /* "" for a request without a key */
    size_t bytes;
};

struct http_replies {
    atomic_size_t bytes;          /* counted replies' bytes MHD still holds */
    size_t budget;                /* --max-reply-memory, bytes */
    atomic_uint_fast64_t refused; /* slow reads refused over the budget */
    pthread_mutex_t mu;           /* keys */
    struct reply_key *keys;
    size_t nkeys, capkeys;
};

struct http_replies *http_replies_new(size_t budget)
{
    struct http_replies *rb = xcalloc(1, sizeof(*rb));
    rb->budget = budget;
    pthread_mutex_init(&rb->mu, NULL);
    return rb;
}

void http_replies_free(struct http_replies *rb)
{
    if (rb == NULL) {
        return;
    }
    pthread_mutex_destroy(&rb->mu);
    free(rb->keys);
    free(rb);
}

/* key_id's entry in rb's table, or SIZE_MAX; with reply_mu held. */
static size_t reply_key_find(const struct http_replies *rb, const char *key_id)
{
    for (size_t i = 0; i < rb->nkeys; i++) {
        if (strncmp(rb->keys[i].id, key_id, HTTP_KEY_ID_LEN) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

void http_replies_hold(struct http_replies *rb, const char *key_id, size_t n)
{
    atomic_fetch_add_explicit(&rb->bytes, n, memory_order_relaxed);
    pthread_mutex_lock(&rb->mu);
    size_t i = reply_key_find(rb, key_id);
    if (i == SIZE_MAX) {
        if (rb->nkeys == rb->capkeys) {
            rb->capkeys = rb->capkeys ? 2 * rb->capkeys : 16;
            rb->keys = xrealloc(rb->keys, rb->capkeys * sizeof(*rb->keys));
        }
        i = rb->nkeys++;
        str_copy(rb->keys[i].id, sizeof(rb->keys[i].id), key_id);
        rb->keys[i].bytes = 0;
    }
    rb->keys[i].bytes += n;
    pthread_mutex_unlock(&rb->mu);
}

void http_replies_release(struct http_replies *rb, const char *key_id, size_t n)
{
    atomic_fetch_sub_explicit(&rb->bytes, n, memory_order_relaxed);
    pthread_mutex_lock(&rb->mu);
    size_t i = reply_key_find(rb, key_id);
    if (i != SIZE_MAX) { /* always: every release follows its hold */
        rb->keys[i].bytes -= n < rb->keys[i].bytes ? n : rb->keys[i].bytes;
        if (rb->keys[i].bytes == 0) {
            rb->keys[i] = rb->keys[--rb->nkeys];
        }
    }
    pthread_mutex_unlock(&rb->mu);
}

/* Bytes of counted replies key_id's requests hold. */
static size_t reply_key_bytes(struct http_replies *rb, const char *key_id)
{
    pthread_mutex_lock(&rb->mu);
    size_t i = reply_key_find(rb, key_id);
    size_t v = i == SIZE_MAX ? 0 : rb->keys[i].bytes;
    pthread_mutex_unlock(&rb->mu);
    return v;
}

bool http_replies_admit(struct http_req *r)
{
    struct http_replies *rb = http_server_replies(r->srv);
    if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
        return true;
    }
    size_t held = atomic_load_explicit(&rb->bytes, memory_order_relaxed);
    if (held <= rb->budget / HTTP_REPLY_KEY_SHARE) {
        return true; /* no key can be over its share: the mutex is not taken */
    }
    size_t mine = reply_key_bytes(rb, r->key_id);
    if (held <= rb->budget && mine <= rb->budget / HTTP_REPLY_KEY_SHARE) {
        return true;
    }
    atomic_fetch_add_explicit(&rb->refused, 1, memory_order_relaxed);
    if (held > rb->budget) {
        http_reply_error(r, ERR_UNAVAILABLE, NULL,
                         "replies waiting to be sent hold %.1f MiB, over --max-reply-memory %zu "
                         "MiB; retry shortly",
                         (double)held / (1024.0 * 1024.0), rb->budget >> 20);
    } else { /* one key's slow readers may not take every other key's share (review diff31 F8) */
        http_reply_error(r, ERR_UNAVAILABLE, NULL,
                         "this key's replies waiting to be sent hold %.1f MiB, over its share "
                         "(1/%d of --max-reply-memory %zu MiB); retry once its clients have "
                         "read them",
                         (double)mine / (1024.0 * 1024.0), HTTP_REPLY_KEY_SHARE, rb->budget >> 20);
    }
    if (r->resp != NULL) {
        /* they drain at their clients' pace: a little longer than a full queue's 1 s */
        MHD_del_response_header(r->resp, "Retry-After", "1");
        MHD_add_response_header(r->resp, "Retry-After", "2");
    }
    return false;
}

void http_replies_write_metrics(struct http_replies *rb, struct buf *b)
{
    metrics_write_help(
        b, "bunsen_http_reply_bytes", "gauge",
        "Bytes of slow reads' rendered replies of 64 KiB or more not yet sent (held until "
        "their client has read them; --max-reply-memory bounds them).");
    metrics_write_value(b, "bunsen_http_reply_bytes", "",
                        (double)atomic_load_explicit(&rb->bytes, memory_order_relaxed));
    metrics_write_help(b, "bunsen_http_reply_memory_refused_total", "counter",
                       "Slow reads (results, large lists) refused 503 because the replies "
                       "waiting to be sent held more than --max-reply-memory.");
    metrics_write_value(b, "bunsen_http_reply_memory_refused_total", "",
                        (double)atomic_load_explicit(&rb->refused, memory_order_relaxed));
}
