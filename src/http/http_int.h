/*
 * http_int.h - private to src/http/: the request struct, the checks before routing
 * (framing.c), request deadlines (deadline.c), streams, replying with a ready-made MHD response,
 * rate limits (the buckets and a request's admission and charge: ratelimit.c), the key cache,
 * the per-request accounting (accounting.c).
 */
#ifndef BUNSEN_HTTP_INT_H
#define BUNSEN_HTTP_INT_H

#include <microhttpd.h>
#include <stdbool.h>

#include "bunsen/auth.h"
#include "bunsen/http.h"
#include "bunsen/store.h"
#include "bunsen/util.h"

/* A key's id as requests carry it (struct store_key's id). */
#define HTTP_KEY_ID_LEN 24

/* At most this many query parameters (MHD's 24 KiB connection pool holds a few hundred of its
 * records; beyond that MHD 0.9.75 cannot even answer). */
#define HTTP_QUERY_MAX 256

/* A fault found in the request target before MHD parsed the headers (framing.c http_on_uri). */
enum early_error {
    EARLY_NONE,
    EARLY_QUERY,
    EARLY_CTL_TARGET,
    EARLY_URI_LONG,
    EARLY_AUTHORITY,
    EARLY_ENCODED_SEP
};

/* Beyond these our own JSON 414 / 431 answer; far beyond (MHD's 24 KiB connection pool) MHD
 * answers 414 / 431 itself, with its fixed HTML body (MHD 0.9.75 has no hook for it). */
#define HTTP_URI_MAX     8192
#define HTTP_HEADERS_MAX 16384

/* A request: owned by its MHD connection (*con_cls), created on its first access-handler
 * call and freed in the completed callback (server.c). Handlers use it through http.h. */
struct http_req {
    struct app *app;
    struct http_server *srv;
    struct MHD_Connection *conn;
    enum http_method method;
    char *path; /* after the struct, in its allocation */
    const struct http_route *route;
    char *scratch; /* after path, as long: the router writes parameter values there */
    struct http_param params[HTTP_MAX_PARAMS];
    int nparams;
    struct buf body;
    size_t drained;
    bool too_large;
    bool reply_after_body; /* an early reply (401, 403, 415) waits until the body is read */
    bool suspended;
    bool abandoned; /* queued for an offload thread, dropped there: the client had gone */
    bool queued;
    enum role role;
    char key_id[HTTP_KEY_ID_LEN];
    char key_name[129];
    struct MHD_Response *resp;
    int status;
    size_t resp_bytes;
    uint64_t t0;
    struct http_conn *dl;   /* the connection's deadline (deadline.c); NULL: untracked */
    enum early_error early; /* answered 400 at the first call when not EARLY_NONE */
    /* the buckets this request took a token from (ratelimit.c rate_take), held until the
     * completed callback (http_rate_release), for http_req_charge_steps */
    struct {
        struct rl_entry *bucket;
        int rate;
    } taken[2];
    int ntaken;
    int refused_cls; /* the class of the bucket that refused it (429), + 1; 0: none */
    bool unmatched;  /* no route and not a static file (unknown method, 404/405): metrics say so */
    /* the headers the server itself reads, the first of each name (NULL: absent), gathered
     * by http_framing_ok's one pass over the headers: a lookup each cost a scan of MHD's
     * list with strcasecmp, seven per request */
    struct {
        const char *content_length, *transfer_encoding, *content_type, *authorization, *api_key;
    } hdr;
};

/* OFREP paths (ofrep_reply.c): is r on one, and its error of code in the protocol's shape. */
bool http_req_is_ofrep(const struct http_req *r);
void http_reply_ofrep_err(struct http_req *r, enum err_code code, const char *msg);

/* Slow work off MHD's threads (offload.c): the server runs two pools of HTTP_OFFLOAD_THREADS
 * each, one for the routes flagged ROUTE_OFFLOAD (slow reads), one for large ingestion
 * bodies (ROUTE_OFFLOAD_LARGE), so that neither waits for the other's threads. */
#define HTTP_OFFLOAD_THREADS 2
#define HTTP_OFFLOAD_QUEUE   64
/* A ROUTE_OFFLOAD_LARGE route's body over this many bytes is handled on the ingestion pool
 * (a 503 while HTTP_OFFLOAD_QUEUE are queued there). */
#define HTTP_OFFLOAD_BODY_MIN (1u << 20)
struct http_offload;
/* The most requests of one key the slow reads' queue holds (the rest: 503 + Retry-After), so
 * that one key cannot hold the whole pool (review hostile30 F3). */
#define HTTP_OFFLOAD_PER_KEY 16
enum http_offload_rc {
    HTTP_OFFLOAD_QUEUED,
    HTTP_OFFLOAD_FULL,
    HTTP_OFFLOAD_KEY_FULL,
    HTTP_OFFLOAD_STOPPED
};
/* A pool of HTTP_OFFLOAD_THREADS threads; gate_env: the environment variable naming its test
 * gate (offload.c; NULL: none); per_key: the most queued requests of one key (0: no cap). */
struct http_offload *http_offload_start(const char *gate_env, int per_key);
/* Whether r's handler runs on the offload threads: its route is ROUTE_OFFLOAD, or
 * ROUTE_OFFLOAD_LARGE with a body over HTTP_OFFLOAD_BODY_MIN. */
bool http_offload_wanted(const struct http_req *r);
/* Queue r (suspended here when queued): an offload thread runs its route's handler and
 * resumes it. FULL (HTTP_OFFLOAD_QUEUE queued), KEY_FULL (per_key of r's key queued):
 * nothing done (the server answers 503);
 * STOPPED: nothing done (run it inline). */
enum http_offload_rc http_offload_submit(struct http_offload *o, struct http_req *r);
/* Around an offloaded handler, on the offload thread: begin before it runs; end after,
 * true when the handler handed r on (http_req_suspend: its replier resumes it, and the offload
 * thread must not touch r again), false when the offload thread resumes it. */
void http_req_offload_begin(const struct http_req *r);
bool http_req_offload_end(void);
/* Drop a queued request whose client has gone (offload.c): marked abandoned and resumed with
 * no reply; on_request then answers MHD_NO and MHD closes the connection. */
void http_req_abandon(struct http_req *r);
/* Requests the pool dropped because their client had gone (bunsen_http_offload_abandoned_total;
 * 0 for NULL). */
uint64_t http_offload_abandoned(struct http_offload *o);
/* Run what is queued and join the threads (submit answers STOPPED from then on). */
void http_offload_stop(struct http_offload *o);
/* Stop (if not yet) and free: after MHD_stop_daemon. NULL ok. */
void http_offload_free(struct http_offload *o);

/* Checks before routing (framing.c). http_on_uri is MHD's URI log callback: it sees the raw
 * target and returns NULL, or a static marker (never freed) that MHD hands to the first
 * access-handler call as *con_cls; http_early_of says which fault a *con_cls marks
 * (EARLY_NONE for anything else, such as a request). http_unescape_no_nul is MHD's unescape
 * callback: percent-decoding with a decoded NUL turned into 0x01. http_framing_ok replies 400
 * (or 431) with "Connection: close" and returns false when the headers frame the body
 * ambiguously, hold a NUL byte or another control character, lack a Host (HTTP/1.1) or repeat
 * it, send Transfer-Encoding in HTTP/1.0 or exceed HTTP_HEADERS_MAX, and 400 (connection kept) when
 * a query parameter is given twice. */
void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn);
enum early_error http_early_of(const void *con_cls);
/* The origin-form path of a request target MHD decoded (framing.c): url itself, or for an
 * absolute-form target (`http://host/healthz`, RFC 9112 3.2.2; http_on_uri refused a bad
 * authority) the path after its authority, "/" when it has none. Borrows url. */
const char *http_target_path(const char *url);
size_t http_unescape_no_nul(void *cls, struct MHD_Connection *c, char *s);
bool http_framing_ok(struct http_req *r, const char *version);
/* After routing and authentication (framing.c): true, or false after replying 400 naming the
 * first query parameter the route's `query` list lacks (attr.NAME where it has "attr.*"). */
bool http_query_known_ok(struct http_req *r);
/* Beyond a route's cap + this, an oversize body drops the connection (no 413 after it). */
#define DRAIN_SLACK (64u << 20)
/* After routing and authentication (framing.c): admit the request's body or reply 413/415. */
void http_body_admit(struct http_req *r);
/* 413 for a body over the route's cap; assignment bodies name what is capped. */
void http_too_large_reply(struct http_req *r);
/* An early reply (401, 403, 415) to a request with a body within its cap waits for it. */
void http_reply_after_body(struct http_req *r);

/* The listening socket (listener.c) and the thread that accepts on it and hands each
 * connection to MHD (MHD_add_connection; the daemon runs with MHD_USE_NO_LISTEN_SOCKET).
 * http_listener_open binds and listens (non-blocking) and returns the socket, or -1 with err
 * (ERR_INVALID --listen, ERR_CONFLICT --port in use); http_listener_port reads its port back.
 * http_listener_new takes the socket over (NULL with err: the caller still owns it), before
 * MHD starts; http_listener_start starts accepting into d while fewer than max_conns
 * (--max-connections) are open (at the cap it asks shed, NULL for none, for room:
 * http_deadlines_shed_idle) and closes at once a connection of a client prefix with
 * per_prefix open (--per-ip-connections, 0 = no cap); http_listener_admit counts a
 * connection of client in (false: its prefix is at the cap, nothing counted);
 * http_listener_closed, from MHD's closed notification of every connection (its client
 * address and descriptor: -1 unknown), frees its slot, its prefix's and its worker's (l NULL
 * ok); workers is MHD's thread pool (connections are spread evenly over them by descriptor
 * number: http_listener_spread); http_listener_prefix_count reads a prefix's count;
 * http_listener_stop ends the thread and closes the socket (NULL ok, again a no-op), before MHD
 * stops; http_listener_free (NULL ok) after MHD has stopped, whose last notifications still reach
 * http_listener_closed. MHD's own connection limit must be HTTP_LISTENER_MHD_LIMIT(max_conns,
 * workers), never reached (listener.c says why).
 */
#define HTTP_LISTENER_MHD_LIMIT(max_conns, workers) (((max_conns) + 64u) * (workers))
struct http_listener;
struct sockaddr;

/* The client prefix connections and the per-address rate limit count by, as text: an IPv4
 * address ("192.0.2.7"), an IPv6 address's /64 ("2001:db8:1:2::/64": one host holds a whole
 * /64), an IPv4-mapped IPv6 address as its IPv4 address; "?" for none or another family. */
#define HTTP_CLIENT_PREFIX_MAX 52
void http_client_prefix(const struct sockaddr *sa, char out[HTTP_CLIENT_PREFIX_MAX]);
struct http_deadlines;

/* The listener's books (conncount.c): open connections per client prefix and the handed
 * ones not started yet, O(1) a step. Thread-safe. conncount_take counts one more of key
 * unless it has max already (0: no cap): false then, nothing counted; conncount_release
 * counts one fewer; conncount_of reads the count. conncount_pend makes fd pending since now_ns
 * (a connection still pending under the same number is replaced, into *stale (NULL ok):
 * true then); conncount_unpend takes fd's entry out (into *out, NULL ok: true if there was
 * one); conncount_expire takes out those pending older_ns or longer at now_ns into *out
 * (malloc'd, NULL for none; the caller frees) and returns how many; conncount_pending counts
 * them. */
struct conncount;
struct conncount_pending {
    int fd;
    char key[HTTP_CLIENT_PREFIX_MAX]; /* its client prefix */
    uint64_t since_ns;
};
struct conncount *conncount_new(void);
void conncount_free(struct conncount *c);
bool conncount_take(struct conncount *c, const char *key, unsigned max);
void conncount_release(struct conncount *c, const char *key);
unsigned conncount_of(struct conncount *c, const char *key);
bool conncount_pend(struct conncount *c, int fd, const char *key, uint64_t now_ns,
                    struct conncount_pending *stale);
bool conncount_unpend(struct conncount *c, int fd, struct conncount_pending *out);
size_t conncount_expire(struct conncount *c, uint64_t now_ns, uint64_t older_ns,
                        struct conncount_pending **out);
size_t conncount_pending(struct conncount *c);

/* port_from / listen_from: where the port and the address came from ("--port" or
 * "BUNSEN_PORT", ...; NULL: the default), named by the bind errors (config_origin). */
int http_listener_open(const char *listen_addr, int port, const char *port_from,
                       const char *listen_from, bool *ipv6, struct err *err);
int http_listener_port(int fd);
struct http_listener *http_listener_new(int fd, unsigned max_conns, unsigned per_prefix,
                                        unsigned workers, struct http_deadlines *shed,
                                        struct err *err);
/* The descriptor to hand MHD for connection c (c, or a renumbered copy of it, c closed, that
 * lands on the worker whose turn it is: MHD picks the worker by descriptor modulo), counted on
 * its worker; http_listener_worker_load reads a worker's count (-1: no pool). The accepting
 * thread (and tests). */
int http_listener_spread(struct http_listener *l, int c);
long http_listener_worker_load(struct http_listener *l, unsigned worker);
int http_listener_start(struct http_listener *l, struct MHD_Daemon *d, struct err *err);
bool http_listener_admit(struct http_listener *l, const struct sockaddr *client);
/* A connection MHD takes is pending until its started notification: http_listener_handing
 * (the accepting thread, before MHD_add_connection; a pending entry under the same number is
 * a connection MHD dropped without notice, uncounted), http_listener_started (MHD's started
 * notification; l NULL ok); http_listener_sweep uncounts those pending older_ns or longer at
 * now_ns (returns how many); http_listener_pending counts them. */
void http_listener_handing(struct http_listener *l, int fd, const struct sockaddr *client,
                           uint64_t now_ns);
void http_listener_started(struct http_listener *l, const struct sockaddr *client, int fd);
size_t http_listener_sweep(struct http_listener *l, uint64_t now_ns, uint64_t older_ns);
size_t http_listener_pending(struct http_listener *l);
void http_listener_closed(struct http_listener *l, const struct sockaddr *client, int fd);
unsigned http_listener_prefix_count(struct http_listener *l, const struct sockaddr *sa);
void http_listener_stop(struct http_listener *l);
void http_listener_free(struct http_listener *l);
void http_listener_write_metrics(struct http_listener *l, struct buf *b);

/* Request deadlines (deadline.c): a request's headers, and its body, must arrive in time
 * (--request-timeout), however slowly a client trickles them. A set per server: _new before
 * MHD_start_daemon (http_deadlines_notify is its MHD_OPTION_NOTIFY_CONNECTION, with the set as
 * closure), _start once the daemon runs, _free after MHD_stop_daemon (NULL ok). The
 * http_conn_* calls come from the request lifecycle on the connection's own thread, with
 * http_conn_of(conn) (NULL: untracked, every call a no-op); those returning bool return false
 * when the deadline has already passed and the connection is being closed: drop the request
 * (MHD_NO). */
#define HTTP_BODY_MIN_RATE 8192 /* bytes/s a body must keep up, after a --request-timeout */
struct http_deadlines;
struct http_conn;
struct http_deadlines *http_deadlines_new(unsigned request_s, unsigned idle_s);
int http_deadlines_start(struct http_deadlines *s);
void http_deadlines_free(struct http_deadlines *s);
void http_deadlines_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode toe);
void http_deadlines_write_metrics(struct http_deadlines *s, struct buf *b);
/* Close up to max connections idle for min_idle_ns or more, the longest idle first: kept alive
 * and waiting for their next request, or new and silent since they connected
 * (--max-connections reached, or descriptors out: listener.c); returns how many. Any
 * thread. */
size_t http_deadlines_shed_idle(struct http_deadlines *s, size_t max, uint64_t min_idle_ns);
/* The two steps of http_deadlines_shed_idle, called under the set's mutex (shed_idle holds it;
 * a unit test with no sweeper running calls them bare): _idlest returns the connection idle
 * for min_idle_ns or more at now the longest, with the deadline it read in *deadline (NULL:
 * none); _claim closes it unless that deadline changed since (a request began: false). */
struct http_conn *http_deadlines_idlest(struct http_deadlines *s, uint64_t now,
                                        uint64_t min_idle_ns, uint64_t *deadline);
bool http_deadlines_claim(struct http_conn *c, uint64_t deadline);
/* What http_deadlines_notify does for a connection MHD starts (socket fd, -1: no deadline) and
 * closes (NULL ok); the entry lives until _untrack. Any thread. */
struct http_conn *http_deadlines_track(struct http_deadlines *s, int fd);
void http_deadlines_untrack(struct http_conn *c);
struct http_conn *http_conn_of(struct MHD_Connection *conn);
/* the request line is read (MHD's URI callback): its headers are due within T */
void http_conn_request_line(struct http_conn *c);
/* first call at now: the body is due (T + its bytes / HTTP_BODY_MIN_RATE), or nothing when a
 * reply is queued at once */
bool http_conn_headers_read(struct http_conn *c, uint64_t now, bool reply_queued);
/* n more body bytes read */
bool http_conn_body_read(struct http_conn *c, size_t n);
/* the last call: the request is read, no deadline until its reply is sent */
bool http_conn_request_read(struct http_conn *c);
/* the reply is sent at now (completed callback): a kept-alive connection's next request is
 * due within max(--request-timeout, --conn-timeout) */
void http_conn_reply_sent(struct http_conn *c, uint64_t now);

/* Open streams (stream.c): the set a server owns, at most max at once. close_all ends
 * every stream and waits (bounded) until MHD has freed them: call it before
 * MHD_stop_daemon, which must never meet a suspended connection. */
struct http_streams;
struct http_streams *http_streams_new(int max);
void http_streams_free(struct http_streams *set);
void http_streams_close_all(struct http_streams *set);
int http_streams_count(struct http_streams *set);
struct http_streams *http_server_streams(struct http_server *srv);

/* feed.c: end every feed (http_reply_feed) and wait, bounded, until MHD and the producers
 * have released them all: before MHD_stop_daemon, which must meet no suspended connection,
 * and before the store closes under a producer. */
void http_feeds_close_all(void);

/* Slow reads' (ROUTE_OFFLOAD) rendered reply bodies of at least this many bytes (request.c
 * http_reply_json_text, http_reply_bytes) are counted while MHD holds them, from the response's
 * making to its destruction (the reply sent, or the connection gone): a slow reader holds its whole
 * reply (review hostile30 F1). Smaller ones, streams (bounded buffers) and shared payloads (/sub,
 * the SDK payloads: one copy for all) are not. */
#define HTTP_REPLY_COUNTED_MIN (64u * 1024)
/* One key's counted replies may hold at most 1/HTTP_REPLY_KEY_SHARE of the budget (its slow
 * readers must not leave every other key refused); each key is counted on its own, requests
 * without a key together (key id ""). */
#define HTTP_REPLY_KEY_SHARE 4
/* The budget of unsent replies (replies.c), one per server (http_server_replies): _new with
 * --max-reply-memory in bytes, _free (NULL ok) once MHD has stopped. http_replies_hold /
 * _release add n bytes to, or take them from, the count of counted replies and key_id's
 * (bunsen_http_reply_bytes). Any thread. */
struct http_replies;
struct http_replies *http_replies_new(size_t budget);
void http_replies_free(struct http_replies *rb);
struct http_replies *http_server_replies(struct http_server *srv);
void http_replies_hold(struct http_replies *rb, const char *key_id, size_t n);
void http_replies_release(struct http_replies *rb, const char *key_id, size_t n);
void http_replies_write_metrics(struct http_replies *rb, struct buf *b);
/* May r, a slow read (ROUTE_OFFLOAD), be made? True for any request but GET and HEAD (a
 * committed write's reply must go out), and while the counted replies hold no more than
 * --max-reply-memory, and r's key's no more than its share of it; else false after replying
 * 503 + Retry-After 2, counted
 * (bunsen_http_reply_memory_refused_total). A reply is rendered whole (the results of a wide
 * experiment: ~19 MB) and held until its client has read it: 120 slow readers held 2 GB
 * (review hostile30 F1; RELIABILITY.md AR). Asked when the request is queued (server.c) and
 * again when an offload thread takes it (offload.c), since the replies rendered meanwhile
 * count only once made: what passes the budget is at most the two threads' replies in the
 * making. Any thread that owns r. */
bool http_replies_admit(struct http_req *r);

/* Reply with resp (ownership passes to the request), counting bytes for the access log. */
void http_reply_response(struct http_req *r, int status, struct MHD_Response *resp, size_t bytes);

/* Per-key token buckets (ratelimit.c). Classes: RL_CLASS_*. */
enum { RL_CLASS_INGEST, RL_CLASS_MANAGE, RL_CLASS_ASSIGN, RL_CLASS_FEATURES, RL_CLASS_IP };
struct ratelimit;
struct ratelimit *ratelimit_new(void);
void ratelimit_free(struct ratelimit *rl);
struct rl_entry; /* a bucket */
/* Take one token for (cls, key_id) at `rate` per second (0 = unlimited). Returns false when
 * the bucket is empty, with the seconds until a token is available. Thread-safe. */
bool ratelimit_take(struct ratelimit *rl, int cls, const char *key_id, double rate,
                    double *retry_after_s);
/* As ratelimit_take; when held is not NULL, *held is the bucket the token was taken from
 * (NULL when refused, or unlimited), held for the caller: the bucket is not dropped, however
 * idle, until ratelimit_release(*held). */
bool ratelimit_take_hold(struct ratelimit *rl, int cls, const char *key_id, double rate,
                         double *retry_after_s, struct rl_entry **held);
/* Charge a held bucket (NULL: nothing) the evaluation steps of work a request did after it
 * took its token, 1 token per HTTP_RATE_STEPS_PER_TOKEN steps, down to -2 x rate. A charge
 * of a token's worth or more is taken at once, under the stripe's lock; a smaller one is owed
 * (an atomic add, no lock, no lookup) and taken, exactly, at the bucket's next take or charge,
 * the first moment its tokens decide anything. Thread-safe. */
void ratelimit_charge(struct ratelimit *rl, struct rl_entry *e, double rate, long steps);
/* ratelimit_take_hold and ratelimit_charge at a time of the caller's: now_ns, monotonic
 * nanoseconds, or RL_CLOCK_REAL to read the monotonic clock (under the stripe's lock, so that
 * no bucket is refilled to a time older than its last). The public functions above pass
 * RL_CLOCK_REAL; tests pass their own non-decreasing times to be deterministic. */
#define RL_CLOCK_REAL 0
bool ratelimit_take_at(struct ratelimit *rl, int cls, const char *key_id, double rate,
                       double *retry_after_s, struct rl_entry **held, uint64_t now_ns);
void ratelimit_charge_at(struct ratelimit *rl, struct rl_entry *e, double rate, long steps,
                         uint64_t now_ns);
/* Give back a bucket of ratelimit_take_hold (NULL ok): it may be dropped once idle. */
void ratelimit_release(struct rl_entry *e);
/* Buckets currently held (idle ones are dropped within about a second of going idle). */
size_t ratelimit_entries(struct ratelimit *rl);
/* A request's rate limits (ratelimit.c), against its server's buckets (http_server_ratelimit).
 * Each takes a token, holding the bucket for http_req_charge_steps, or replies 429 with
 * Retry-After and returns false. http_rate_take_public: the client address's bucket, and the
 * sdk key's of a route with one in its path (routes that need no key, unknown paths);
 * http_rate_take_key: the authenticated key's bucket of its route's class (ingestion,
 * management, assignment; other routes take none). On the request's own thread. */
bool http_rate_take_public(struct http_req *r);
bool http_rate_take_key(struct http_req *r);
/* Release the buckets r holds (the completed callback; after it, r charges nothing). */
void http_rate_release(struct http_req *r);
struct ratelimit *http_server_ratelimit(struct http_server *srv);
/* May the access-log line of a 429 from class cls_plus1 - 1 (0: unknown) be written now?
 * One per class per 10 s, with *not_logged set to the 429s of the class not logged since
 * (each refusal is still counted by the metrics): a refused client made a line a request,
 * ~2 MB/s of log from one address. Thread-safe. */
bool ratelimit_log_refusal(int cls_plus1, long *not_logged);

/* What completed requests leave behind (accounting.c): counts by status class, the per-route
 * metrics, the access-log line. http_account runs in MHD's completed callback; toe is its
 * MHD_RequestTerminationCode. */
struct http_accounting;
struct http_accounting *http_accounting_new(void);
void http_accounting_free(struct http_accounting *a);
void http_account(struct http_accounting *a, const struct http_req *r, int status, uint64_t now,
                  int toe);
void http_accounting_write_metrics(struct http_accounting *a, struct buf *b);

/* Verified keys by a keyed tag of their secret: fresh for a second after the database last
 * confirmed them, usable for 10 minutes while it does not answer (authcache.c). Thread-safe. */
#define AUTHCACHE_TAG_LEN 16
struct authcache;
struct authcache *authcache_new(void);
void authcache_free(struct authcache *c);
/* The cache's tag of a presented secret (SipHash-128 under the cache's random key). */
void authcache_tag(const struct authcache *c, const char *secret, size_t len,
                   uint8_t tag[AUTHCACHE_TAG_LEN]);
bool authcache_get(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN],
                   struct store_key *out);
/* As authcache_get, also for an entry expired less than stale_ns ago. */
bool authcache_get_stale(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN],
                         uint64_t stale_ns, struct store_key *out);
/* The cache's clear count: read it before the database lookup whose answer is put. */
uint64_t authcache_epoch(struct authcache *c);
/* Cache key under tag, unless the cache was cleared since epoch (authcache_epoch before the
 * lookup): a lookup that raced a revocation must not put the revoked key back. */
void authcache_put(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN],
                   const struct store_key *key, uint64_t epoch);
/* Empty tag's entry, expired or not (a lookup found no active key for it: a stale entry
 * must not authenticate it during an outage). */
void authcache_forget(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN]);
/* Empty every entry, expired or not, whose key keep(key, ctx) refuses (called under a stripe
 * mutex: it must not call back into the cache), and make every other one fresh again (its key
 * is active: the caller read the active keys after taking epoch = authcache_epoch), unless
 * the cache was cleared since epoch (the clear wants an answer newer than that list: the
 * others then stay as they are). Returns the number emptied. */
size_t authcache_retain(struct authcache *c, bool (*keep)(const struct store_key *k, void *ctx),
                        void *ctx, uint64_t epoch);
/* Ask the database again for every key: empty the entries of key revoked_id (a key revoked
 * through the API; NULL: none), expired or not, so that it never authenticates from the cache
 * again, and make every other entry stale (authcache_get misses it; authcache_get_stale, the
 * outage's fallback, still finds it until its 10 minutes end). A lookup begun before the
 * clear puts nothing (authcache_put's epoch). */
void authcache_clear(struct authcache *c, const char *revoked_id);
/* The active key of the presented secret (at most AUTHCACHE_SECRET_MAX bytes): a fresh entry
 * answers at once, unless confirm; on a database server (store_remote) every other case asks
 * it through the cache's refresher threads, awaiting the answer at most 200 ms: an entry of
 * the last 10 minutes authenticates unless the answer is "no active key", and with no entry
 * and no answer in time the reply is ERR_UNAVAILABLE; on a database of this host (SQLite)
 * store is asked on this thread (an entry of the last 10 minutes still authenticates when
 * the database is unreachable). 0 with *out, or -1 with
 * err: not an active key (ERR_UNAUTH, ERR_NOT_FOUND), the database unreachable
 * (ERR_UNAVAILABLE), ERR_INTERNAL. Caches what the database answers. Borrows store, which
 * must outlive the cache. */
#define AUTHCACHE_SECRET_MAX 256
int authcache_verify(struct authcache *c, struct store *store, const char *secret, bool confirm,
                     struct store_key *out, struct err *err);

#endif
