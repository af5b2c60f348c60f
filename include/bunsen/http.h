/*
 * http.h - the HTTP layer on libmicrohttpd: the server, the request object handed to
 * handlers, replies, and the route table type.
 *
 * Request lifecycle (src/http/server.c):
 *   first call   match route (404/405), check auth (401/403), Content-Type (415) and
 *                Content-Length against the route's body cap (413) before any body is read
 *   body calls   append to a capped buffer; beyond the cap the rest is drained and 413 sent
 *   last call    run the handler, which either replies at once (http_reply_*) or suspends
 *                (http_req_suspend) and replies later from another thread, then resumes
 *   completed    access-log line, free the request
 * The headers, then the body, must arrive within --request-timeout (the body 1 s more per
 * 8 KiB), else 408 and the connection is closed (src/http/deadline.c); a request read in full
 * has no deadline (suspended replies, streams).
 *
 * Threads: MHD's internal polling thread with a thread pool calls handlers; a handler
 * may hand its request to another thread only between http_req_suspend() and
 * http_req_resume() and must not touch it after resuming.
 */
#ifndef BUNSEN_HTTP_H
#define BUNSEN_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bunsen/auth.h"
#include "bunsen/config.h"
#include "bunsen/err.h"

struct app; /* the daemon's shared state, defined in bunsen/app.h */
struct http_req;
struct http_server;

typedef void (*http_handler)(struct http_req *r);

enum http_method {
    HTTP_GET = 1,
    HTTP_POST = 2,
    HTTP_PUT = 4,
    HTTP_PATCH = 8,
    HTTP_DELETE = 16,
    HTTP_HEAD = 32,
    HTTP_OPTIONS = 64,
};

/* BODY_INGEST: --ingest-body-max (ingestion batches, saved groups' value lists); BODY_ASSIGN:
 * assignment bodies, capped at 4 x --attributes-max-bytes + 16 KiB (JSON escapes included)
 * so that an oversize attribute set is refused before it is read. */
enum body_cap { BODY_DEFAULT, BODY_INGEST, BODY_NONE, BODY_ASSIGN };

/* Route flags. */
#define ROUTE_CORS   1u  /* browser SDK route: CORS headers on every reply (errors included) */
#define ROUTE_INGEST 2u  /* rate-limited per key as ingestion (--rate-limit-ingest) */
#define ROUTE_MANAGE 4u  /* rate-limited per key as management (--rate-limit-manage) */
#define ROUTE_ASSIGN 16u /* rate-limited per key as assignment (--rate-limit-assign) */
#define ROUTE_SDK_KEY_PATH                                                                         \
    32u /* public route with the sdk key in {sdk_key}: limited per that key                        \
         * (--rate-limit-features) besides the per-IP limit of every public route */
#define ROUTE_OFFLOAD                                                                              \
    64u /* slow read (results read every exposed user; lists of megabytes: saved groups, the       \
         * audit; the per-user export's checks): the handler runs on the                           \
         * offload threads (src/http/offload.c) while the connection is suspended, so it never     \
         * holds an MHD worker and the other connections it serves */
#define ROUTE_OFFLOAD_LARGE                                                                        \
    128u /* offloaded as ROUTE_OFFLOAD when its body is over HTTP_OFFLOAD_BODY_MIN (ingestion: a   \
          * 10,000-event batch's parse held its MHD worker's other connections); a smaller body,   \
          * or one the offload queue has no room for, runs on the MHD worker as before */
#define ROUTE_KEY_OPTIONAL                                                                         \
    8u /* public route that authenticates a key when one is sent (401 if it is bad): the           \
          handler sees the role (ROLE_NONE without a key) */

/* One row of the route table. path: segments, "{name}" matches one non-empty segment. */
struct http_route {
    enum http_method method;
    const char *path;
    http_handler handler;
    enum body_cap body;
    unsigned roles; /* bitset of enum role allowed; 0 = public (no key needed) */
    unsigned flags; /* ROUTE_* */
    /* the query parameters it takes, space-separated ("method alpha", "attr.*" for any
     * attr.NAME; "" none): any other is a 400 naming it (http_query_known_ok). NULL: not
     * checked (SDK, OFREP, health and metrics routes and GET /api/v1/me, where clients add
     * cache busters) */
    const char *query;
};

/* The route table (src/http/routes.c) and its length. */
extern const struct http_route http_routes[];
extern const size_t http_routes_count;

#define HTTP_MAX_PARAMS 4

/* A path parameter: its name points into the route pattern (not NUL-terminated, hence
 * name_len); its value into the caller's scratch buffer (NUL-terminated). */
struct http_param {
    const char *name;
    size_t name_len;
    const char *value;
};

/* Match method + path against routes[0..n). Returns the route, or NULL with *path_matched
 * telling 405 (a route has this path with another method; *allowed = their methods) from
 * 404. params receives up to HTTP_MAX_PARAMS path parameters whose values are copied
 * into scratch (which must hold strlen(path) + 1 bytes). Pure; any thread. */
const struct http_route *http_route_match(const struct http_route *routes, size_t n,
                                          enum http_method method, const char *path, char *scratch,
                                          struct http_param *params, int *nparams,
                                          bool *path_matched, unsigned *allowed);

/* "GET" -> HTTP_GET, unknown -> 0. */
enum http_method http_method_parse(const char *m);
/* HTTP_GET -> "GET"; 0 or a set of several -> "other". Static text. */
const char *http_method_name(enum http_method m);
/* An Allow header's text for a set of methods ("GET, HEAD, POST"), into out (size n, cut at
 * a whole name when too small). */
void http_methods_text(unsigned allowed, char *out, size_t n);

/* ---- the server ---- */

/* Bind cfg's address and port and let go at once: a port in use or an address not on this
 * host fails here, before `serve` creates, migrates or mints anything. 0, or -1 with err as
 * http_server_start's. */
int http_server_check_listen(const struct config *cfg, struct err *err);
/* Start serving. *port_out receives the bound port (useful with cfg->port == 0). *out is
 * set before the first request can be served (handlers read app->http), and to NULL on
 * failure; whatever else handlers read (app->started_at) is set before this call. */
int http_server_start(struct app *app, const struct config *cfg, struct http_server **out,
                      int *port_out, struct err *err);
/* Stop the daemon (all suspended requests must have been resumed) and free it. NULL ok. */
void http_server_stop(struct http_server *srv);

/* Have every cached key verification confirmed by the database at the key's next use (a
 * key revoked or created elsewhere counts at once: SIGHUP), while each stays the fallback of
 * an outage for the rest of its 10 minutes (SCALING.md); the cached verifications of key
 * revoked_id (a key just revoked through the API; NULL: none) are dropped, so that it gets
 * 401 or 503 from the next request on, in an outage too. Thread-safe. */
void http_server_recheck_keys(struct http_server *srv, const char *revoked_id);

/* The generation of the cached verifications: read it before listing the active keys for
 * http_server_retain_keys. Thread-safe. */
uint64_t http_server_keys_epoch(struct http_server *srv);

/* Drop the cached verifications, fresh or expired, of every key not in active (n keys sorted
 * by id with strcmp; borrowed): the daemon's once-a-second key check, so that a key revoked
 * by another process is not accepted from the cache while the database is unreachable, even
 * if it was not presented since. The others are fresh again, unless a recheck came after
 * epoch (http_server_keys_epoch, read before active was). Thread-safe. */
struct store_key;
void http_server_retain_keys(struct http_server *srv, const struct store_key *active, size_t n,
                             uint64_t epoch);

/* Append the HTTP metrics in Prometheus text form (requests by route and status, latency
 * histograms by route). */
struct buf;
void http_server_write_metrics(struct http_server *srv, struct buf *b);

/* ---- the request, for handlers ---- */

struct app *http_req_app(const struct http_req *r);
enum http_method http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r);
/* Path parameter by name ("{key}" -> "key"), NULL when absent. */
const char *http_req_param(const struct http_req *r, const char *name);
/* Query-string argument (decoded; "" for a bare ?name) or NULL; header value or NULL. Valid
 * during the request. */
const char *http_req_query(const struct http_req *r, const char *name);
const char *http_req_header(const struct http_req *r, const char *name);
/* Content negotiation (accept.c): the index in types[0..n) (media types such as
 * "application/json", "text/csv") that the Accept header value accept prefers: the highest
 * q-value of the most specific media range matching each (exact, then "type/ *", then
 * "* / *"), a tie to the type named more specifically, else to the lower index; 0 (the
 * route's default) without a header, when it accepts none of them, or on a full tie. A range
 * with a malformed q counts as absent. http_req_accept_pick reads the request's Accept lines
 * (several are one list). */
size_t http_accept_pick(const char *accept, const char *const *types, size_t n);
size_t http_req_accept_pick(const struct http_req *r, const char *const *types, size_t n);
/* Iterate over query arguments: calls fn(ctx, key, value) for each. */
void http_req_each_query(const struct http_req *r,
                         void (*fn)(void *ctx, const char *key, const char *value), void *ctx);
/* The request body (NUL-terminated, may be empty). */
const char *http_req_body(const struct http_req *r, size_t *len);
/* The authenticated caller: role, key id and name ("" on public routes). */
enum role http_req_role(const struct http_req *r);
const char *http_req_key_id(const struct http_req *r);
const char *http_req_key_name(const struct http_req *r);
/* Targeting steps a request spent (condition.h budgets), charged to the rate limits it
 * took a token from (the per-IP and per-sdk-key buckets of public routes, the per-key bucket
 * of /assign and OFREP): one token more per HTTP_RATE_STEPS_PER_TOKEN steps, so a request
 * that spends the default budget (50,000 steps) counts as 21 requests. A bucket may go into
 * debt (at most one burst); the requests after it are refused with 429 until the refill has
 * paid it. Call once per request, after the evaluation; any thread that owns r. */
#define HTTP_RATE_STEPS_PER_TOKEN 2500
void http_req_charge_steps(struct http_req *r, long steps);
/* The active key whose secret is key, through the daemon's key cache (as requests with an
 * Authorization header are verified): 0 with *k; -1 with err, ERR_UNAVAILABLE/ERR_INTERNAL
 * when the database could not say (and no verification of the last 10 minutes stands in),
 * another code when there is no such active key. A key found in the cache is confirmed with the
 * database if it answers within 200 ms (else the cache's verification stands): a key revoked by
 * another process is refused at once while the database answers (the SDK routes, whose payload a
 * revoked key must not get). */
int http_req_key_confirm(struct http_req *r, const char *key, struct store_key *k, struct err *err);

/* Parse the body as a JSON object (http_json_loadb). Returns a new reference, or NULL after
 * replying 400 (413 when it holds too many values for its size: http_json_alloc_install; the
 * handler then simply returns). */
json_t *http_req_json_body(struct http_req *r);
/* Parse JSON text as every request body is parsed: json_loadb with flags
 * (JSON_REJECT_DUPLICATES for bodies), except that an integer beyond jansson's 64-bit range
 * (JavaScript prints 1e20 as 100000000000000000000) is read as the real it stands for where
 * jansson refuses the whole text ("too big integer"); integers in range stay integers.
 * Returns a new reference, or NULL with err (may be NULL) filled: a parse refused by the
 * allocation budget (http_json_alloc_install) is not retried and has the code
 * json_error_out_of_memory. Thread-safe. */
json_t *http_json_loadb(const char *text, size_t len, size_t flags, json_error_t *err);
/* A plain message for a parse failure of http_json_loadb (jansson's flags stay out of it):
 * "strings may not contain \u0000", "a number is too large: 1e400", "invalid UTF-8 at byte
 * N", "duplicate key 'x'", "the body is not valid JSON ...", with the line and column; "the
 * body holds too many JSON values for its size" for the allocation budget. out
 * receives at most n bytes, NUL-terminated. Thread-safe. */
void http_json_error_text(const json_error_t *e, char *out, size_t n);
/* Make jansson allocate through a counter that http_json_loadb arms per parse: a body may
 * make jansson allocate 48 x its bytes + 64 MiB (http_req_json_body answers 413 beyond).
 * Once, in main, before any other thread runs; without it parses are not counted. */
void http_json_alloc_install(void);

/* Replies: exactly one per request. */
/* Compact JSON of body (stolen), reals in the shortest text that reads back as the same
 * double (jsonw_dumps). */
void http_reply_json(struct http_req *r, int status, json_t *body);
/* Reply with JSON text already rendered: text (malloc'd, len bytes) is taken over, and
 * freed once sent. Same headers as http_reply_json. */
void http_reply_json_text(struct http_req *r, int status, char *text, size_t len);
/* An error: {"error": {"code", "message", "field"?}} with err's status (API.md "Errors"), but
 * on OFREP paths (/ofrep/...) the protocol's {"key"?, "errorCode", "errorDetails"}, 413 and
 * 415 as 400 (ofrep_reply.c). */
void http_reply_err(struct http_req *r, const struct err *err);
void http_reply_error(struct http_req *r, enum err_code code, const char *field, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
/* An OFREP error: {"errorCode": code, "errorDetails": details (invalid UTF-8 repaired)}, with
 * "key" = the path's flag key (repaired) on the single-flag route. */
void http_reply_ofrep(struct http_req *r, int status, const char *code, const char *details);
/* Reply with bytes of the given content type (copied). */
void http_reply_bytes(struct http_req *r, int status, const char *content_type, const char *data,
                      size_t len);
/* The same without a copy: data[0..len) stays valid until release(ctx), which runs once
 * when MHD is done with the reply (also when it cannot be built). */
void http_reply_shared(struct http_req *r, int status, const char *content_type, const char *data,
                       size_t len, void (*release)(void *ctx), void *ctx);
void http_reply_empty(struct http_req *r, int status);
/* Reply 304 Not Modified to a conditional GET whose 200 would carry len bytes: no body, and
 * a Content-Length of len (RFC 9110 8.6: a 304 carries none or the 200's; libmicrohttpd
 * 0.9.75 always sends one, but to end the reply by closing the connection), without the
 * representation's Content-Type. Add the ETag after it. */
void http_reply_not_modified(struct http_req *r, size_t len);
/* A streamed reply of unknown length (chunked) whose body another thread (the producer)
 * writes with http_feed_write, so that producing it (database reads) never runs on the MHD
 * thread that sends it (src/http/feed.c). At most cap bytes wait unsent: a write waits for
 * room, so memory stays bounded and a slow client slows its producer only. Returns the
 * producer's handle, never NULL; the producer must call http_feed_end once, also when a
 * write failed. A HEAD request gets the headers only (the first write answers -1). Add
 * headers with http_reply_header after it, before handing the handle to another thread. */
struct http_feed;
/* Has the server begun to stop (http_feeds_close_all)? A handler about to start a fed reply
 * answers 503 instead; one made anyway is born ended (its producer's writes answer -1). */
bool http_feeds_closing(void);
struct http_feed *http_reply_feed(struct http_req *r, int status, const char *content_type,
                                  size_t cap);
/* Append n bytes to the body, waiting while the buffer is full. 0, or -1 when the client
 * went away (MHD freed the reply) or the server is stopping: stop producing and end. The
 * producer's thread only (not an MHD thread: it may wait for the client). */
int http_feed_write(struct http_feed *f, const void *data, size_t n);
/* End the body once what was written is sent (failed: abort the connection instead, so that
 * the client sees a truncated reply) and release the producer's handle (f is invalid
 * after). Call it after the producer's last use of anything the server's stop frees (the
 * stop waits, bounded, for every feed's end). */
void http_feed_end(struct http_feed *f, bool failed);
/* Add a response header to the reply (call after http_reply_*; copied). */
void http_reply_header(struct http_req *r, const char *name, const char *value);
/* Let clients cache the reply and revalidate it (replaces Cache-Control: no-store). */
void http_reply_revalidate(struct http_req *r);

/* Asynchronous replies: suspend before handing r to another thread; that thread calls
 * http_reply_* and then http_req_resume(r) exactly once. A handler on an offload thread
 * (ROUTE_OFFLOAD) may do the same: its connection stays suspended, and the other thread's
 * resume is the only one. */
void http_req_suspend(struct http_req *r);
void http_req_resume(struct http_req *r);

/* Streamed replies (Server-Sent Events; stream.c). The reply stays open and pins no
 * thread: while it has nothing to send, its connection is suspended. */
struct http_stream;
/* An event a stream sends without a copy (one text shared by every subscriber):
 * data[0..len) stays valid until release(ctx) (release NULL: static bytes). */
struct http_shared {
    const char *data;
    size_t len;
    void (*release)(void *ctx);
    void *ctx;
};
/* Reply 200 with an open stream of content_type whose body starts with the event first
 * (NULL or empty: none; its reference passes to the stream, also on failure). user (owned
 * from here on, freed with free_user when the stream ends) identifies the subscriber.
 * Returns 0; 1 when the server's cap on open streams (half of --max-connections) is reached:
 * the reply is then "retry: HTTP_STREAM_FULL_RETRY_MS" and first, and the body ends (the
 * client reconnects after that long: it polls through the stream); -1 after replying 503
 * (shutting down) or 500. */
#define HTTP_STREAM_FULL_RETRY_MS 30000
int http_reply_event_stream(struct http_req *r, const char *content_type,
                            const struct http_shared *first, void *user,
                            void (*free_user)(void *user));
/* Call fn(ctx, stream, user) for every open stream, under the streams' lock: fn may only
 * look at user and call http_stream_push, http_stream_ping or http_stream_close. Any
 * thread. */
void http_server_each_stream(struct http_server *srv,
                             void (*fn)(void *ctx, struct http_stream *st, void *user), void *ctx);
/* Queue an event (inside http_server_each_stream's fn); each event supersedes the ones
 * before it (a whole payload). A stream holds at most two: the event being sent and the
 * newest one queued after it, which a newer push replaces (releasing it) before it is
 * begun. So a client that reads slowly skips to the latest event when it drains, and a
 * stalled one pins at most two shared texts, never a copy. ev's reference passes to the
 * stream: released once sent or replaced, or when the stream ends (release may run under
 * the streams' lock). 0, or -1 when the stream is closing (ev released). */
int http_stream_push(struct http_stream *st, const struct http_shared *ev);
/* Queue data[0..len) (static bytes: a keep-alive comment) only when the stream has
 * nothing to send (inside http_server_each_stream's fn): 0 when queued, -1 when not (bytes
 * pending, which need no keep-alive, or closing). */
int http_stream_ping(struct http_stream *st, const char *data, size_t len);
/* True when a newer event has waited behind the one the stream is sending for at least ms
 * (now_ms and the wait on time_mono_ms; inside http_server_each_stream's fn): the older text
 * stays in memory for this stream alone until its client reads it whole. */
bool http_stream_superseded_for(const struct http_stream *st, int64_t now_ms, int64_t ms);
/* End a stream now, dropping what it holds unsent (inside http_server_each_stream's fn). */
void http_stream_close(struct http_stream *st);
/* Open streams now. Any thread. */
int http_server_stream_count(struct http_server *srv);

/* Hide API keys in a log text, in place (never longer): the path segment after /sub/,
 * /api/features/ and /api/eval/, and any token starting "bsn_". */
void http_log_redact(char *msg);

/* Serve a file under the web directory for GET path (static.c). Replies 404 for anything
 * outside it (traversal, symlinks out, dotfiles). */
void http_serve_static(struct http_req *r, const char *web_dir_real, const char *path);

#endif
