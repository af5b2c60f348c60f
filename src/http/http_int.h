/*
 * http_int.h - private to src/http/: replying with a ready-made MHD response.
 */
#ifndef BUNSEN_HTTP_INT_H
#define BUNSEN_HTTP_INT_H

#include <microhttpd.h>
#include <stdbool.h>

#include "bunsen/http.h"

/* Reply with resp (ownership passes to the request), counting bytes for the access log. */
void http_reply_response(struct http_req *r, int status, struct MHD_Response *resp, size_t bytes);

/* Per-key token buckets (ratelimit.c). Classes: 0 ingestion, 1 management. */
struct ratelimit;
struct ratelimit *ratelimit_new(void);
void ratelimit_free(struct ratelimit *rl);
/* Take one token for (cls, key_id) at `rate` per second (0 = unlimited). Returns false when
 * the bucket is empty, with the seconds until a token is available. Thread-safe. */
bool ratelimit_take(struct ratelimit *rl, int cls, const char *key_id, double rate,
                    double *retry_after_s);

#endif
