/*
 * http_int.h - private to src/http/: replying with a ready-made MHD response.
 */
#ifndef BUNSEN_HTTP_INT_H
#define BUNSEN_HTTP_INT_H

#include <microhttpd.h>
#include <stdbool.h>

#include "bunsen/http.h"
#include "bunsen/store.h"

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

/* Verified keys by the hash of their secret, for one second (authcache.c). Thread-safe. */
struct authcache;
struct authcache *authcache_new(void);
void authcache_free(struct authcache *c);
bool authcache_get(struct authcache *c, const uint8_t hash[AUTH_HASH_LEN], struct store_key *out);
void authcache_put(struct authcache *c, const uint8_t hash[AUTH_HASH_LEN],
                   const struct store_key *key);
void authcache_clear(struct authcache *c);

#endif
