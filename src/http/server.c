/*
 * server.c - the libmicrohttpd daemon and the request lifecycle described in http.h:
 * routing, auth, suspend/resume. What a completed request leaves
 * behind (its counts, the per-route metrics, the access-log line) is in accounting.c. The
 * request object's API for handlers (replies, accessors) is in request.c; the
 * rate limits a request takes at admission, and the charge of its evaluation work, are in
 * ratelimit.c; the checks of the request target and header framing before routing, and the
 * body's admission after it (caps, Content-Type, draining), are in framing.c; the deadline
 * each request's headers and body must meet, which the lifecycle moves, is in deadline.c.
 *
 * Threads: MHD's polling thread and its pool call on_request/on_completed; handlers
 * run on pool threads, on the offload threads (offload.c) and, for an export's pages, on
 * the export producers (feed.c). A request is owned by its connection (*con_cls) and freed only
 * in on_completed. Writers on other threads touch a request only while suspended.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bunsen/app.h"
#include "bunsen/http.h"
#include "bunsen/log.h"
#include "bunsen/metrics.h"
#include "bunsen/store.h"
#include "bunsen/util.h"
#include "http_int.h"

/* libmicrohttpd's per-connection pool (request line, headers, query arguments, read buffer,
 * reply headers). MHD zeroes all of it between keep-alive requests (MHD_pool_reset) and
 * again when the read buffer moves: 64 KiB cost a 64 KiB memset per request, 32 KiB (MHD's
 * default) ~49k instructions of a 106k /assign. 24 KiB is the least that still holds 300
 * query attributes on GET .../assign (tests/api/test_hostile.c; 20 KiB does not) while
 * bodies stream through in pieces. bench/mhd_ref.c uses the same. */
#define HTTP_CONN_POOL (24u * 1024)

struct http_server {
    struct MHD_Daemon *d;
    struct app *app;
    struct http_listener *listener; /* the accepting thread (listener.c) */
    struct http_accounting *acct;   /* what completed requests leave: counts, log (accounting.c) */
    struct ratelimit *rl;
    struct authcache *keys;
    struct http_streams *streams;     /* open streamed replies (stream.c) */
    struct http_offload *offload;     /* slow reads off MHD's threads (offload.c) */
    struct http_offload *ingest;      /* large ingestion bodies: a pool of their own */
    struct http_deadlines *deadlines; /* each request's deadline (deadline.c) */
    atomic_int in_flight;             /* requests begun and not completed (http_server_stop) */
    struct http_replies *replies;     /* the unsent replies' budget (replies.c) */
    atomic_uint_fast64_t key_checks;  /* key checks applied (http_server_retain_keys) */
};

struct http_replies *http_server_replies(struct http_server *srv)
{
    return srv->replies;
}

struct ratelimit *http_server_ratelimit(struct http_server *srv)
{
    return srv->rl;
}

struct http_streams *http_server_streams(struct http_server *srv)
{
    return srv->streams;
}

int http_server_stream_count(struct http_server *srv)
{
    return srv->streams ? http_streams_count(srv->streams) : 0;
}

/* ---- lifecycle ---- */

/* A key's secret to its active key (authenticate, and the {sdk_key} of the SDK routes). A key
 * verified in the last 10 minutes answers within 200 ms whatever the database does
 * (authcache.c): /assign and the SDK payloads keep answering from memory. 0 with *k; -1 with
 * err, ERR_UNAVAILABLE/ERR_INTERNAL when the database could not say (and no verification of
 * the last 10 minutes stands in), another code when there is no such active key. */
static int key_verify(struct http_req *r, const char *key, struct store_key *k, struct err *err)
{
    return authcache_verify(r->srv->keys, r->app->store, key, false, k, err);
}

int http_req_key_confirm(struct http_req *r, const char *key, struct store_key *k, struct err *err)
{
    return authcache_verify(r->srv->keys, r->app->store, key, true, k, err);
}

/* A header value without the blanks (SP, HTAB) around it, which RFC 9110 5.5 says are not part
 * of it (libmicrohttpd keeps trailing ones): its start, its length in *n. */
static const char *header_trim(const char *v, size_t *n)
{
    while (*v == ' ' || *v == '\t') {
        v++;
    }
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t')) {
        len--;
    }
    *n = len;
    return v;
}

static bool authenticate(struct http_req *r)
{
    size_t n = 0;
    const char *v = NULL;
    if (r->hdr.authorization != NULL) {
        v = header_trim(r->hdr.authorization, &n);
        if (n < 6 || strncasecmp(v, "Bearer", 6) != 0 || (n > 6 && v[6] != ' ' && v[6] != '\t')) {
            http_reply_error(r, ERR_UNAUTH, NULL,
                             "the Authorization header must be 'Bearer <key>'");
            return false;
        }
        v += 6;
        n -= 6;
        while (n > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            n--;
        }
        if (r->hdr.api_key != NULL) {
            /* both: the same key twice is one key; two different ones are a guess which counts */
            size_t an = 0;
            const char *a = header_trim(r->hdr.api_key, &an);
            if (an != n || strncmp(a, v, n) != 0) {
                http_reply_error(r, ERR_INVALID, NULL,
                                 "Authorization and X-API-Key carry different keys: send one");
                return false;
            }
        }
    } else if (r->hdr.api_key != NULL) {
        v = header_trim(r->hdr.api_key, &n);
    }
    if (n == 0) {
        http_reply_error(r, ERR_UNAUTH, NULL,
                         "an API key is required: send 'Authorization: Bearer <key>'");
        return false;
    }
    /* the key as sent when nothing follows it, else a trimmed copy (one longer than any key
     * stays longer, and unknown) */
    char copy[AUTHCACHE_SECRET_MAX + 2];
    const char *key = v;
    if (v[n] != '\0') {
        n = n < sizeof(copy) - 1 ? n : sizeof(copy) - 1;
        memcpy(copy, v, n);
        copy[n] = '\0';
        key = copy;
    }
    struct store_key k;
    struct err err;
    err_clear(&err);
    if (key_verify(r, key, &k, &err) != 0) {
        if (err.code == ERR_UNAVAILABLE || err.code == ERR_INTERNAL) {
            http_reply_err(r, &err);
        } else {
            http_reply_error(r, ERR_UNAUTH, NULL, "unknown or revoked API key");
        }
        return false;
    }
    r->role = auth_role_parse(k.role);
    str_copy(r->key_id, sizeof(r->key_id), k.id);
    str_copy(r->key_name, sizeof(r->key_name), k.name);
    if (r->route->roles != ROLES_PUBLIC && (r->route->roles & (unsigned)r->role) == 0) {
        http_reply_error(r, ERR_DENIED, NULL, "the '%s' role may not use %s",
                         auth_role_name(r->role), r->route->path);
        return false;
    }
    return http_rate_take_key(r);
}

/* First call: everything that can be decided from the request line and headers. */
static void request_begin(struct http_req *r, const char *method, const char *version)
{
    r->method = http_method_parse(method);
    /* routed before any refusal below: a 431 or 400 is counted and logged under the route
     * and method sent, not as a static GET */
    enum http_method m = r->method == HTTP_HEAD ? HTTP_GET : r->method;
    bool path_matched = false;
    unsigned allowed = 0;
    r->route = m ? http_route_match(http_routes, http_routes_count, m, r->path, r->scratch,
                                    r->params, &r->nparams, &path_matched, &allowed)
                 : NULL;
    bool api = strncmp(r->path, "/api/", 5) == 0 || strcmp(r->path, "/api") == 0 ||
               strncmp(r->path, "/ofrep/", 7) == 0;
    r->unmatched = r->route == NULL && (path_matched || r->method == 0 || api || m != HTTP_GET);
    if (r->early == EARLY_QUERY) {
        http_reply_error(r, ERR_INVALID, NULL, "too many query parameters (at most %d)",
                         HTTP_QUERY_MAX);
        http_reply_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        return;
    }
    if (r->early == EARLY_URI_LONG) {
        http_reply_error(r, ERR_URI_TOO_LONG, NULL, "the request target is longer than %d bytes",
                         HTTP_URI_MAX);
        http_reply_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        return;
    }
    if (r->early == EARLY_AUTHORITY) {
        http_reply_error(r, ERR_INVALID, NULL,
                         "the request target's authority (http://HOST[:PORT]/...) is empty or "
                         "not a host name");
        http_reply_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        return;
    }
    if (r->early == EARLY_ENCODED_SEP) {
        http_reply_error(r, ERR_INVALID, NULL,
                         "the request target's path holds an encoded '/' or '\\' (%%2F, %%5C): "
                         "no name in a path may contain one");
        http_reply_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        return;
    }
    if (r->early == EARLY_CTL_TARGET) {
        http_reply_error(r, ERR_INVALID, NULL,
                         "the request target holds a control character (NUL, CR, HTAB, ...)");
        http_reply_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        return;
    }
    if (!http_framing_ok(r, version)) {
        return;
    }
    if ((r->route == NULL || r->route->roles == ROLES_PUBLIC) && !http_rate_take_public(r)) {
        return;
    }
    if (r->route == NULL) {
        bool unknown_matched = false;
        if (r->method == 0) {
            /* a method the server does not know (TRACE, PROPFIND): Allow lists the path's
             * methods all the same (RFC 9110 15.5.6); a path no route has serves static
             * files, GET and HEAD, unless it is under /api/, where no method has a route
             * (404, as for the known methods there) */
            (void)http_route_match(http_routes, http_routes_count, (enum http_method)0, r->path,
                                   r->scratch, r->params, &r->nparams, &unknown_matched, &allowed);
            if (!unknown_matched) {
                allowed = HTTP_GET | HTTP_HEAD;
            }
        }
        if (path_matched || (r->method == 0 && (unknown_matched || !api))) {
            char allow[96];
            http_methods_text(allowed, allow, sizeof(allow));
            http_reply_error(r, ERR_METHOD, NULL, "method %.16s is not allowed on %.100s", method,
                             r->path);
            if (allow[0] != '\0') {
                http_reply_header(r, "Allow", allow);
            }
        } else if (api || (m != HTTP_GET)) {
            http_reply_error(r, ERR_NOT_FOUND, NULL, "no route for %.16s %.150s", method, r->path);
        }
        /* else: a static file, served at the last call */
        return;
    }
    size_t cap = r->route->body == BODY_INGEST ? r->app->cfg.ingest_body_max
                 : r->route->body == BODY_NONE ? 0
                                               : r->app->cfg.body_max;
    if (r->route->body == BODY_ASSIGN && 4 * r->app->cfg.attr_max_bytes + 16384 < cap) {
        cap = 4 * r->app->cfg.attr_max_bytes + 16384;
    }
    buf_init(&r->body, cap);
    bool key_sent = r->hdr.authorization != NULL || r->hdr.api_key != NULL;
    if ((r->route->roles != ROLES_PUBLIC || ((r->route->flags & ROUTE_KEY_OPTIONAL) && key_sent)) &&
        !authenticate(r)) {
        http_reply_after_body(r);
        return;
    }
    if (!http_query_known_ok(r)) { /* after the key: a 401 tells more than a typo's 400 */
        http_reply_after_body(r);
        return;
    }
    http_body_admit(r);
}

static enum MHD_Result queue_reply(struct http_req *r)
{
    if (r->resp == NULL) {
        http_reply_error(r, ERR_INTERNAL, NULL, "the handler produced no reply");
    }
    if (r->resp == NULL) {
        return MHD_NO;
    }
    /* the SDK and OFREP routes always say it; the API's POSTs (/assign, /exposures, /events)
     * only to a browser's cross-origin request, which carries Origin: servers calling
     * /assign do not pay ~2,200 instructions and 97 bytes per reply for it (rev-diff27b 2) */
    if (r->route != NULL && (r->route->flags & ROUTE_CORS) &&
        (r->method != HTTP_POST || strncmp(r->route->path, "/api/v1/", 8) != 0 ||
         http_req_header(r, "Origin") != NULL)) {
        MHD_add_response_header(r->resp, "Access-Control-Allow-Origin", "*");
        /* what SDKs read on another origin: the ETag they revalidate with, x-sse-support
         * (the GrowthBook SDK streams only when it sees it, as from the GrowthBook Proxy),
         * Retry-After (the OFREP providers' wait after a 429 / 503) */
        MHD_add_response_header(r->resp, "Access-Control-Expose-Headers",
                                "ETag, x-sse-support, Retry-After");
    }
    r->queued = true;
    return MHD_queue_response(r->conn, (unsigned)r->status, r->resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct http_req *r = *con_cls;
    enum early_error early = http_early_of(r);
    if (early != EARLY_NONE) {
        r = NULL;
    }
    if (r == NULL) {
        /* one allocation: the request, then its path, then the router's scratch for the
         * path's parameter values (as long as the path) */
        url = http_target_path(url); /* absolute-form: the path after the authority */
        size_t plen = strlen(url);
        r = xcalloc(1, sizeof(*r) + 2 * (plen + 1));
        r->path = (char *)(r + 1);
        memcpy(r->path, url, plen + 1);
        r->scratch = r->path + plen + 1;
        r->early = early;
        r->app = srv->app;
        r->srv = srv;
        r->conn = conn;
        r->t0 = time_mono_ns();
        r->dl = http_conn_of(conn);
        buf_init(&r->body, 0);
        *con_cls = r;
        atomic_fetch_add(&srv->in_flight, 1);
        request_begin(r, method, version);
        bool at_once = r->resp != NULL && !r->reply_after_body;
        if (!http_conn_headers_read(r->dl, r->t0, at_once)) {
            return MHD_NO; /* the headers came too late: the connection is being closed */
        }
        return at_once ? queue_reply(r) : MHD_YES;
    }
    if (r->suspended) {
        /* resumed after an asynchronous reply, or dropped by the offload pool (its client
         * had gone, offload.c): no reply; MHD closes the connection, on_completed frees r */
        r->suspended = false;
        return r->abandoned ? MHD_NO : queue_reply(r);
    }
    if (*upload_data_size > 0 ? !http_conn_body_read(r->dl, *upload_data_size)
                              : !http_conn_request_read(r->dl)) {
        return MHD_NO; /* the body did not keep up: the connection is being closed */
    }
    if (*upload_data_size > 0 && r->reply_after_body) {
        r->drained += *upload_data_size; /* dropped: the reply is ready */
        *upload_data_size = 0;
        /* a chunked body (no Content-Length) takes this path whatever its size: read as much
         * past the cap as a too-large body is before giving up on delivering the reply */
        return r->drained > r->body.cap + DRAIN_SLACK ? MHD_NO : MHD_YES;
    }
    if (r->reply_after_body) {
        return queue_reply(r); /* the body is read */
    }
    if (*upload_data_size > 0) {
        if (!r->too_large && buf_append(&r->body, upload_data, *upload_data_size) != 0) {
            r->too_large = true;
        }
        if (r->too_large) {
            r->drained += *upload_data_size;
            if (r->drained > r->body.cap + DRAIN_SLACK) {
                log_msg(LOG_WARN, "dropping a connection that sent far more than the body cap");
                return MHD_NO;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_large) {
        http_too_large_reply(r);
        return queue_reply(r);
    }
    if (r->route == NULL) {
        http_serve_static(r, r->app->web_dir_real, r->path);
        return queue_reply(r);
    }
    if (http_offload_wanted(r)) {
        /* a large ingestion body never waits behind slow reads holding their threads, nor
         * they behind it (review iso s23; RELIABILITY.md AH) */
        struct http_offload *pool = (r->route->flags & ROUTE_OFFLOAD) ? srv->offload : srv->ingest;
        if (pool == srv->offload && !http_replies_admit(r)) {
            return queue_reply(r);
        }
        enum http_offload_rc orc = http_offload_submit(pool, r);
        if (orc == HTTP_OFFLOAD_QUEUED) {
            return MHD_YES; /* an offload thread replies and resumes; do not touch r here */
        }
        if (orc == HTTP_OFFLOAD_FULL) {
            http_reply_error(r, ERR_UNAVAILABLE, NULL,
                             (r->route->flags & ROUTE_OFFLOAD)
                                 ? "too many slow requests (results, large lists and edits) are "
                                   "queued; retry shortly"
                                 : "too many large ingestion bodies (over 1 MiB) are queued; "
                                   "retry shortly");
            return queue_reply(r);
        }
        if (orc == HTTP_OFFLOAD_KEY_FULL) {
            http_reply_error(r, ERR_UNAVAILABLE, NULL,
                             "this key has %d slow requests (results, large lists and edits) "
                             "queued already; retry shortly",
                             HTTP_OFFLOAD_PER_KEY);
            return queue_reply(r);
        }
        /* stopping: run it here */
    }
    r->route->handler(r);
    if (r->suspended) {
        return MHD_YES; /* the reply comes from another thread; do not touch r->resp here */
    }
    return queue_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct http_server *srv = cls;
    struct http_req *r = *con_cls;
    if (r == NULL || http_early_of(r) != EARLY_NONE) {
        *con_cls = NULL; /* MHD failed the request after http_on_uri: nothing of ours to free */
        return;
    }
    *con_cls = NULL;
    http_rate_release(r);
    atomic_fetch_sub(&srv->in_flight, 1);
    uint64_t now = time_mono_ns();
    http_conn_reply_sent(r->dl, now);
    int status = r->queued ? r->status : 0;
    http_account(srv->acct, r, status, now, (int)toe);
    if (r->resp != NULL) {
        MHD_destroy_response(r->resp);
    }
    buf_free(&r->body);
    free(r); /* its path and scratch with it */
}

static bool key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

void http_log_redact(char *msg)
{
    /* the routes that carry a key in their path, and any key-shaped token elsewhere */
    static const char *const marks[] = {"/sub/", "/api/features/", "/api/eval/", "bsn_"};
    static const char hidden[] = "[redacted]";
    for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
        size_t ml = strlen(marks[m]);
        for (char *p = strstr(msg, marks[m]); p != NULL; p = strstr(p, marks[m])) {
            char *from = p + ml, *to = from;
            while (*to != '\0' && *to != '/' && *to != '?' && *to != '\'' && *to != '"' &&
                   *to != ' ' && (m < 3 || key_char(*to))) {
                to++;
            }
            if (to > from && strncmp(from, hidden, sizeof(hidden) - 1) != 0) {
                size_t tail = strlen(to) + 1;
                size_t room = sizeof(hidden) - 1;
                if ((size_t)(to - from) >= room) { /* the message never grows */
                    memcpy(from, hidden, room);
                    memmove(from + room, to, tail);
                } else {
                    memset(from, '*', (size_t)(to - from));
                }
            }
            p = from;
        }
    }
}

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    /* a client makes MHD warn at will (two ~440-byte lines for a 50-byte request with
     * "Content-Length: 1x"): one line per kind (its format) per 10 s, the rest counted */
    long not_logged = 0;
    if (!log_enabled(LOG_WARN) ||
        !log_limit_take(log_limit_for(fmt), fmt, LOG_WARN, (int64_t)(time_mono_ns() / 1000000), 1,
                        10000, &not_logged)) {
        return;
    }
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* MHD's texts can hold the request's URL, and sdk keys travel in some paths: a key
     * never goes to the log (SECURITY.md) */
    http_log_redact(msg);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
        msg[--n] = '\0';
    }
    json_t *f = json_pack("{s:s}", "detail", msg);
    if (f != NULL && not_logged > 0) {
        json_object_set_new(f, "not_logged_before", json_integer(not_logged));
    }
    log_json(LOG_WARN, "libmicrohttpd", f);
}

/* Tests only: BUNSEN_TEST_SERVE_DELAY_MS=n holds http_server_start n ms (at most 10 s) after
 * MHD's threads serve, before serve goes on (test_foundation_http
 * test_served_before_start_returns: what a request in that window reads). */
static void test_serve_delay(void)
{
    const char *v = getenv("BUNSEN_TEST_SERVE_DELAY_MS");
    long ms = v != NULL ? strtol(v, NULL, 10) : 0;
    if (ms > 0) {
        ms = ms > 10000 ? 10000 : ms;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

int http_server_check_listen(const struct config *cfg, struct err *err)
{
    bool ipv6 = false;
    int fd = http_listener_open(cfg->listen, cfg->port, config_origin(cfg, "--port"),
                                config_origin(cfg, "--listen"), &ipv6, err);
    if (fd < 0) {
        return -1;
    }
    close(fd); /* listening, no connection: no TIME_WAIT, SO_REUSEADDR binds it again */
    return 0;
}

/* MHD's connection notifications: each connection's deadline (deadline.c); its start ends
 * its hand-over, and its close frees its slot under --max-connections (listener.c). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *srv = cls;
    http_deadlines_notify(srv->deadlines, conn, socket_context, toe);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const struct sockaddr *client = ci != NULL ? ci->client_addr : NULL;
    int fd = fi != NULL ? (int)fi->connect_fd : -1;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        http_listener_started(srv->listener, client, fd);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_listener_closed(srv->listener, client, fd);
    }
}

/* What http_server_start made: before MHD ran, or once it has stopped (http_server_stop). */
static void server_free(struct http_server *srv)
{
    http_listener_free(srv->listener);
    http_deadlines_free(srv->deadlines);
    ratelimit_free(srv->rl);
    authcache_free(srv->keys);
    http_streams_free(srv->streams);
    http_offload_free(srv->offload);
    http_offload_free(srv->ingest);
    http_accounting_free(srv->acct);
    http_replies_free(srv->replies);
    free(srv);
}

int http_server_start(struct app *app, const struct config *cfg, struct http_server **out,
                      int *port_out, struct err *err)
{
    bool ipv6 = false;
    int fd = http_listener_open(cfg->listen, cfg->port, config_origin(cfg, "--port"),
                                config_origin(cfg, "--listen"), &ipv6, err);
    if (fd < 0) {
        return -1;
    }
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->app = app;
    srv->replies = http_replies_new((size_t)cfg->max_reply_mib << 20);
    srv->acct = http_accounting_new();
    srv->rl = ratelimit_new();
    srv->keys = authcache_new();
    /* streams (SSE subscribers) may hold at most half the connections: requests keep room */
    srv->streams = http_streams_new(cfg->conn_limit / 2);
    srv->offload = http_offload_start("BUNSEN_TEST_OFFLOAD_GATE", HTTP_OFFLOAD_PER_KEY);
    srv->ingest = http_offload_start("BUNSEN_TEST_INGEST_GATE", 0);
    srv->deadlines =
        http_deadlines_new((unsigned)cfg->request_timeout_s, (unsigned)cfg->conn_timeout_s);
    /* the listener owns fd from here; srv->listener is set before MHD's threads start, as
     * *out below: a connection's closed notification and /metrics read it */
    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : 1u;
    srv->listener = http_listener_new(fd, (unsigned)cfg->conn_limit, (unsigned)cfg->per_ip_limit,
                                      threads, srv->deadlines, err);
    if (srv->listener == NULL) {
        server_free(srv);
        close(fd);
        return -1;
    }
    /* Published before MHD's threads start (their start orders this write before every
     * handler's read): a request served at once read app->http == NULL (/metrics
     * dereferenced it; review code29 F7, ThreadSanitizer). */
    *out = srv;
    /* no listening socket of MHD's: listener.c accepts and hands connections to the workers,
     * and holds --max-connections itself (MHD's limit is above it: listener.c says why) */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET | (ipv6 ? MHD_USE_IPv6 : 0);
    srv->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        HTTP_LISTENER_MHD_LIMIT((unsigned)cfg->conn_limit, threads),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u, /* ours, per prefix (listener.c) */
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        srv, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_POOL,
        MHD_OPTION_UNESCAPE_CALLBACK, http_unescape_no_nul, NULL, MHD_OPTION_URI_LOG_CALLBACK,
        http_on_uri, NULL, MHD_OPTION_END);
    if (srv->d != NULL && (http_deadlines_start(srv->deadlines) != 0 ||
                           http_listener_start(srv->listener, srv->d, err) != 0)) {
        MHD_stop_daemon(srv->d);
        srv->d = NULL;
    }
    if (srv->d == NULL) {
        *out = NULL;
        server_free(srv); /* closes fd with the listener */
        return err_set(err, ERR_INTERNAL, NULL, "cannot start the HTTP server");
    }
    int port = http_listener_port(fd);
    *port_out = port > 0 ? port : cfg->port;
    test_serve_delay();
    return 0;
}

void http_server_stop(struct http_server *srv)
{
    if (srv == NULL) {
        return;
    }
    http_streams_close_all(srv->streams); /* MHD_stop_daemon must meet no suspended stream */
    http_feeds_close_all();               /* nor feed, nor a producer the store */
    http_offload_stop(srv->offload);      /* nor a queued slow read */
    http_offload_stop(srv->ingest);       /* nor a large body being parsed */
    /* MHD_stop_daemon closes every connection, a reply not sent yet with it: the writer's
     * drain has just resumed its requests with their replies (a 503 after a database that
     * did not answer), which MHD's threads send now. Up to 2 s for them (a request still
     * coming in, a client not reading, is not waited for longer). */
    for (int i = 0; i < 200 && atomic_load(&srv->in_flight) > 0; i++) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10000000};
        nanosleep(&ts, NULL);
    }
    /* an export that began while requests were still served (on an MHD worker, the offload
     * threads being stopped) has a feed born closing: wait for its producer too */
    http_feeds_close_all();
    http_listener_stop(srv->listener); /* no connection handed to MHD while it stops */
    MHD_stop_daemon(srv->d);
    /* after MHD: the listener gets MHD's last closed notifications, the deadlines' and the
     * offload pools' connections are closed */
    server_free(srv);
}

void http_server_recheck_keys(struct http_server *srv, const char *revoked_id)
{
    if (srv != NULL) {
        authcache_clear(srv->keys, revoked_id);
    }
}

uint64_t http_server_keys_epoch(struct http_server *srv)
{
    return srv != NULL ? authcache_epoch(srv->keys) : 0;
}

struct active_keys {
    const struct store_key *k;
    size_t n;
};

static int key_id_cmp(const void *a, const void *b)
{
    return strcmp(((const struct store_key *)a)->id, ((const struct store_key *)b)->id);
}

static bool key_is_active(const struct store_key *k, void *ctx)
{
    const struct active_keys *ak = ctx;
    return ak->n > 0 && bsearch(k, ak->k, ak->n, sizeof(*ak->k), key_id_cmp) != NULL;
}

void http_server_retain_keys(struct http_server *srv, const struct store_key *active, size_t n,
                             uint64_t epoch)
{
    if (srv == NULL) {
        return;
    }
    struct active_keys ak = {active, n};
    size_t dropped = authcache_retain(srv->keys, key_is_active, &ak, epoch);
    atomic_fetch_add_explicit(&srv->key_checks, 1, memory_order_relaxed);
    if (dropped > 0) {
        log_json(LOG_DEBUG, "dropped cached verifications of keys no longer active",
                 json_pack("{s:I}", "keys", (json_int_t)dropped));
    }
}

void http_server_write_metrics(struct http_server *srv, struct buf *b)
{
    http_accounting_write_metrics(srv->acct, b);
    http_listener_write_metrics(srv->listener, b);
    http_deadlines_write_metrics(srv->deadlines, b);
    metrics_write_help(b, "bunsen_http_offload_abandoned_total", "counter",
                       "Queued slow reads and large ingestion bodies dropped before their "
                       "handler ran: the client had reset its connection.");
    metrics_write_value(
        b, "bunsen_http_offload_abandoned_total", "",
        (double)(http_offload_abandoned(srv->offload) + http_offload_abandoned(srv->ingest)));
    http_replies_write_metrics(srv->replies, b);
    metrics_write_help(b, "bunsen_http_key_checks_total", "counter",
                       "Key checks done: the active keys read from the database (once a second) "
                       "and the cached verifications of keys no longer active dropped.");
    metrics_write_value(b, "bunsen_http_key_checks_total", "",
                        (double)atomic_load_explicit(&srv->key_checks, memory_order_relaxed));
}
