/*
 * listener.c - the listening socket (--listen, --port) and the thread that accepts its
 * connections and hands them to libmicrohttpd's workers (MHD_add_connection).
 *
 * Why not MHD's own accepting: every worker of MHD's pool polls the one listening socket, and
 * the first one awake accepts up to ten in a row, so a burst of connections (a client's pool,
 * a load balancer's) was split unevenly between the workers (20 against 44 of wrk's 64, read
 * off the workers' epoll sets), and the connections on the busier worker waited about twice
 * as long: the unlogged /assign p99 of bench/assign.sh was bimodal (PERFORMANCE.md,
 * twenty-seventh pass). MHD_add_connection gives a connection to worker (fd % workers), the
 * next one with room when that one is full (never, below our cap). Descriptor numbers alone
 * did not alternate: the first run of bench/assign.sh after its warm-up put 16 and 48 of wrk's
 * 64 connections on the two workers (one worker had closed its warm-up connections, so only
 * numbers of its residue were free, while the other's were still open), and its p99 was 8 ms
 * where later, even runs had 1 ms. So the thread gives connections to the workers in turn and
 * renumbers one whose descriptor would put it elsewhere (balance: F_DUPFD to a free number
 * of the wanted residue); it counts each worker's open connections (hand-over, and MHD's
 * closed notification, which gives the descriptor) for tests.
 *
 * A connection is counted from its hand-over, and MHD's closed notification uncounts it. MHD
 * 0.9.75 can drop a connection it took without either notification (its worker failing to set
 * it up, out of memory: review diff31 F3), which left its slot and its prefix's counted until a
 * restart. So a handed connection stays pending until MHD's started notification
 * (http_listener_started); a pending one whose descriptor number the kernel gives out again,
 * or that is still pending after LISTENER_PENDING_NS, was dropped and is uncounted (a late
 * started notification counts it again). The books (per prefix, pending) are conncount.c's.
 *
 * The caps are ours. --per-ip-connections counts per client prefix (http_client_prefix: an
 * IPv4 address, an IPv6 /64, an IPv4-mapped IPv6 address as its IPv4 one): a host holds a
 * whole /64 and could open --per-ip-connections from each of its addresses, which
 * libmicrohttpd's own per-address count allowed (review hostile30 F2: 16 addresses held all
 * 4,096 slots). A connection over it is closed at once, counted in
 * bunsen_http_connections_refused_total and logged at most once per 10 s; MHD's own
 * per-address limit is off. --max-connections: the thread counts the connections it handed over and
 * MHD's closed notifications (http_listener_closed), and at the cap stops accepting and looks again
 * every LISTENER_FULL_MS, so that new connections wait in the kernel's backlog until a slot frees,
 * as with MHD's own accepting; the time spent so is counted
 * (bunsen_http_connections_full_seconds_total) and logged at most once per 10 s, and
 * kept-alive connections idle for a second or more are closed for room
 * (http_deadlines_shed_idle: review hostile30 F2 held every slot with them). MHD's own
 * limit must never be what refuses: libmicrohttpd 0.9.75 leaves a worker's cleanup mutex
 * locked when a connection handed to it fails its per-worker cap check
 * (new_connection_process_), and the worker hangs for good (review diff30 F1: 100
 * connections at once against --max-connections 16 froze both workers, while the count MHD
 * reports still lagged the connections queued to its workers). The server gives MHD a limit
 * of HTTP_LISTENER_MHD_LIMIT(--max-connections, workers), which ours keeps it below.
 *
 * Threads: one accepting thread per server, started after MHD's and stopped before them.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bunsen/log.h"
#include "bunsen/util.h"
#include "http_int.h"

/* After an accept that failed for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
 * ENOMEM), the listening socket is left alone this long: it stays readable while the
 * connection waits in the backlog, and polling it again at once would spin. The same holds
 * for LISTENER_FULL_MS below. */
#define LISTENER_BACKOFF_MS 100

/* How often a full server (--max-connections open) looks whether a slot has freed. */
#define LISTENER_FULL_MS 20

/* At the cap, kept-alive connections idle this long are closed for room, the longest idle
 * first, this many a look (100 a second at most: a client waits ~20 ms for its slot, and the
 * idle clients not needed for room keep their connections). */
#define LISTENER_SHED_IDLE_NS 1000000000ull
#define LISTENER_SHED_MAX     2

/* Connections accepted in one go before the stop pipe is looked at again. */
#define LISTENER_BATCH 64

/* A connection handed to MHD and not started after this long was dropped by it (MHD's worker
 * sets a connection up within its next turn, a millisecond or so); looked for every second
 * while any is pending. */
#define LISTENER_PENDING_NS  10000000000ull
#define LISTENER_SWEEP_EVERY 1000

struct http_listener {
    int fd;      /* the listening socket, non-blocking; closed by http_listener_stop */
    int wake[2]; /* a pipe: http_listener_stop writes a byte to end the thread */
    struct MHD_Daemon *d;
    unsigned limit;              /* --max-connections */
    struct http_deadlines *shed; /* asked for room at the cap (idle connections) */
    pthread_t thread;
    bool running;            /* the thread was started */
    atomic_ullong accepted;  /* connections handed to MHD */
    atomic_ullong refused;   /* of those, closed at a cap (or by MHD for want of memory) */
    atomic_ullong full_ms;   /* time spent at --max-connections, not accepting */
    atomic_long open;        /* handed to MHD and not yet closed (http_listener_closed) */
    unsigned per_prefix;     /* --per-ip-connections, 0 = none */
    struct conncount *books; /* per prefix, and the pending connections (conncount.c) */
    unsigned workers;        /* MHD's pool; 0 or 1: no balancing */
    atomic_long *on;         /* per worker (fd % workers): its open connections */
    atomic_ullong moved;     /* connections renumbered onto the worker whose turn it was */
    unsigned turn;           /* the worker the next connection goes to (accepting thread) */
    int high;                /* the highest descriptor balance has seen (accepting thread) */
    uint64_t swept_ns;       /* the last look for dropped pending connections (accepting thread) */
};

void http_client_prefix(const struct sockaddr *sa, char out[HTTP_CLIENT_PREFIX_MAX])
{
    snprintf(out, HTTP_CLIENT_PREFIX_MAX, "?");
    if (sa == NULL) {
        return;
    }
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  HTTP_CLIENT_PREFIX_MAX);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) { /* a dual-stack socket's IPv4 client: its address */
            inet_ntop(AF_INET, &a->s6_addr[12], out, HTTP_CLIENT_PREFIX_MAX);
            return;
        }
        struct in6_addr p = *a;
        memset(&p.s6_addr[8], 0, 8);
        char t[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, &p, t, sizeof(t)) != NULL) {
            snprintf(out, HTTP_CLIENT_PREFIX_MAX, "%s/64", t);
        }
    }
}

unsigned http_listener_prefix_count(struct http_listener *l, const struct sockaddr *sa)
{
    char key[HTTP_CLIENT_PREFIX_MAX];
    http_client_prefix(sa, key);
    return conncount_of(l->books, key);
}

int http_listener_open(const char *listen_addr, int port, const char *port_from,
                       const char *listen_from, bool *ipv6, struct err *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, listen_addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        len = sizeof(*in4);
        *ipv6 = false;
    } else if (inet_pton(AF_INET6, listen_addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        len = sizeof(*in6);
        *ipv6 = true;
    } else {
        return err_set(err, ERR_INVALID, "--listen",
                       "--listen: '%s' is not an IPv4 or IPv6 address", listen_addr);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return err_set(err, ERR_INTERNAL, NULL, "socket: %s", strerror(errno));
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (*ipv6) { /* "::" takes IPv4 clients too (as ::ffff:a.b.c.d), whatever bindv6only says */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        /* named as the operator set them: under the unit the port is BUNSEN_PORT (the
         * EnvironmentFile), with no --port to change (review ops31 F4) */
        if (e == EADDRINUSE) {
            return err_set(err, ERR_CONFLICT, "--port",
                           "port %d on %s is already in use (pick another with %s)", port,
                           listen_addr, port_from != NULL ? port_from : "--port or BUNSEN_PORT");
        }
        if (e == EADDRNOTAVAIL) {
            bool env = listen_from != NULL && strncmp(listen_from, "BUNSEN_", 7) == 0;
            /* or not yet: an IPv6 address still in duplicate address detection at boot
             * (review diff32 6; the unit's After=network-online.target waits for it) */
            return err_set(err, ERR_INTERNAL, "--listen", "%s%s%s is not an address of this host%s",
                           listen_from != NULL ? listen_from : "--listen", env ? "=" : " ",
                           listen_addr, *ipv6 ? " (not yet, if it is still being configured)" : "");
        }
        return err_set(err, ERR_INTERNAL, "--listen", "cannot bind %s:%d: %s", listen_addr, port,
                       strerror(e));
    }
    if (listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, ERR_INTERNAL, NULL, "listen: %s", strerror(e));
    }
    return fd;
}

int http_listener_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        return -1;
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* An accept that failed for a reason other than the queue being empty: log it (at most one
 * line per 10 s). */
static void accept_failed(int e)
{
    static struct log_limit limit;
    long not_logged = 0;
    if (log_enabled(LOG_WARN) &&
        log_limit_take(&limit, "accept failed", LOG_WARN, (int64_t)(time_mono_ns() / 1000000), 1,
                       10000, &not_logged)) {
        json_t *f = json_pack("{s:s}", "error", strerror(e));
        if (f != NULL && not_logged > 0) {
            json_object_set_new(f, "not_logged_before", json_integer(not_logged));
        }
        if (f != NULL && (e == EMFILE || e == ENFILE)) {
            json_object_set_new(f, "hint",
                                json_string("raise the open-file limit (ulimit -n, LimitNOFILE) "
                                            "or lower --max-connections"));
        }
        log_json(LOG_WARN, "cannot accept a connection", f);
    }
}

/* A connection closed at once: its prefix's --per-ip-connections reached (at_cap), or MHD
 * could not take it (out of memory). At most one line per 10 s. */
static void refused_log(const struct sockaddr *sa, bool at_cap)
{
    char client[HTTP_CLIENT_PREFIX_MAX];
    http_client_prefix(sa, client);
    static struct log_limit limit;
    long not_logged = 0;
    if (log_enabled(LOG_WARN) &&
        log_limit_take(&limit, "connection refused", LOG_WARN, (int64_t)(time_mono_ns() / 1000000),
                       1, 10000, &not_logged)) {
        json_t *f = json_pack("{s:s, s:s}", "client", client, "hint",
                              at_cap ? "--per-ip-connections reached (counted per IPv4 address, "
                                       "per IPv6 /64); the connection was closed"
                                     : "the HTTP library could not take the connection (out of "
                                       "memory?); it was closed");
        if (f != NULL && not_logged > 0) {
            json_object_set_new(f, "not_logged_before", json_integer(not_logged));
        }
        log_json(LOG_WARN, "connection refused", f);
    }
}

/* --max-connections are open: handed to MHD and not yet closed (or found dropped by it:
 * http_listener_handing, http_listener_sweep). */
static bool full(const struct http_listener *l)
{
    return atomic_load_explicit(&l->open, memory_order_relaxed) >= (long)l->limit;
}

bool http_listener_admit(struct http_listener *l, const struct sockaddr *client)
{
    char key[HTTP_CLIENT_PREFIX_MAX];
    http_client_prefix(client, key);
    if (!conncount_take(l->books, key, l->per_prefix)) {
        return false;
    }
    atomic_fetch_add_explicit(&l->open, 1, memory_order_relaxed);
    return true;
}

/* The worker MHD gives descriptor fd to, or -1 without a pool. */
static int worker_of(const struct http_listener *l, int fd)
{
    return l->workers > 1 && fd >= 0 ? (int)((unsigned)fd % l->workers) : -1;
}

/* c, or a descriptor of the same socket that lands on the next worker in turn when c's number
 * would put it on another: fcntl F_DUPFD from the first number of the wanted residue above
 * every descriptor this thread has seen (l->high: numbers below it are mostly taken, or free
 * with one residue, the skew itself), a few tries at most. In turn, not by load: the skew
 * comes from connections whose clients have gone and whose worker has not closed them yet
 * (counted, they would steer the new ones wrong), and each worker takes every other
 * connection whatever their lifetimes. Out of numbers (the open-file limit): c as it is, and
 * the search starts low again. The accepting thread only. */
static int balance(struct http_listener *l, int c)
{
    if (l->workers <= 1) {
        return c;
    }
    if (c > l->high) {
        l->high = c;
    }
    unsigned want = l->turn++ % l->workers;
    if ((unsigned)c % l->workers == want) {
        return c;
    }
    int from = l->high + 1;
    for (int tries = 0; tries < 4; tries++) {
        from += (int)((want + l->workers - (unsigned)from % l->workers) % l->workers);
        int d = fcntl(c, F_DUPFD_CLOEXEC, from);
        if (d < 0) {
            l->high = c; /* past the limit: from low again next time */
            return c;
        }
        if (d > l->high) {
            l->high = d;
        }
        if ((unsigned)d % l->workers == want) {
            close(c);
            atomic_fetch_add_explicit(&l->moved, 1, memory_order_relaxed);
            return d;
        }
        close(d); /* a number taken meanwhile: the next one of the residue after it */
        from = d + 1;
    }
    return c;
}

int http_listener_spread(struct http_listener *l, int c)
{
    c = balance(l, c);
    int w = worker_of(l, c);
    if (w >= 0) {
        atomic_fetch_add_explicit(&l->on[w], 1, memory_order_relaxed);
    }
    return c;
}

long http_listener_worker_load(struct http_listener *l, unsigned worker)
{
    return l->on != NULL && worker < l->workers
               ? atomic_load_explicit(&l->on[worker], memory_order_relaxed)
               : -1;
}

void http_listener_closed(struct http_listener *l, const struct sockaddr *client, int fd)
{
    if (l != NULL) {
        int w = worker_of(l, fd);
        if (w >= 0) {
            atomic_fetch_sub_explicit(&l->on[w], 1, memory_order_relaxed);
        }
        char key[HTTP_CLIENT_PREFIX_MAX];
        http_client_prefix(client, key);
        conncount_release(l->books, key);
        atomic_fetch_sub_explicit(&l->open, 1, memory_order_relaxed);
    }
}

/* A pending connection that MHD dropped without a notification: uncounted as if closed (its
 * slot, its prefix's, its worker's), counted as refused and logged at most once per 10 s. */
static void pending_dropped(struct http_listener *l, const struct conncount_pending *p)
{
    int w = worker_of(l, p->fd);
    if (w >= 0) {
        atomic_fetch_sub_explicit(&l->on[w], 1, memory_order_relaxed);
    }
    conncount_release(l->books, p->key);
    atomic_fetch_sub_explicit(&l->open, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->refused, 1, memory_order_relaxed);
    static struct log_limit limit;
    long not_logged = 0;
    if (log_enabled(LOG_WARN) &&
        log_limit_take(&limit, "connection dropped", LOG_WARN, (int64_t)(time_mono_ns() / 1000000),
                       1, 10000, &not_logged)) {
        json_t *f = json_pack("{s:s, s:s}", "client", p->key, "hint",
                              "the HTTP library dropped a connection it had taken, without "
                              "notice (out of memory?); its slot is free again");
        if (f != NULL && not_logged > 0) {
            json_object_set_new(f, "not_logged_before", json_integer(not_logged));
        }
        log_json(LOG_WARN, "connection dropped by the HTTP library", f);
    }
}

/* The kernel gave out descriptor number fd: a connection still pending under it was closed
 * without having started, i.e. dropped by MHD. */
static void number_reused(struct http_listener *l, int fd)
{
    struct conncount_pending stale;
    if (conncount_unpend(l->books, fd, &stale)) {
        pending_dropped(l, &stale);
    }
}

void http_listener_handing(struct http_listener *l, int fd, const struct sockaddr *client,
                           uint64_t now_ns)
{
    char key[HTTP_CLIENT_PREFIX_MAX];
    http_client_prefix(client, key);
    struct conncount_pending stale;
    if (conncount_pend(l->books, fd, key, now_ns, &stale)) {
        pending_dropped(l, &stale);
    }
}

void http_listener_started(struct http_listener *l, const struct sockaddr *client, int fd)
{
    if (l == NULL || fd < 0 || conncount_unpend(l->books, fd, NULL)) {
        return;
    }
    /* uncounted meanwhile as dropped (it started after LISTENER_PENDING_NS): counted again,
     * whatever the caps, so that its closed notification has a count to take back */
    char key[HTTP_CLIENT_PREFIX_MAX];
    http_client_prefix(client, key);
    (void)conncount_take(l->books, key, 0);
    atomic_fetch_add_explicit(&l->open, 1, memory_order_relaxed);
    int w = worker_of(l, fd);
    if (w >= 0) {
        atomic_fetch_add_explicit(&l->on[w], 1, memory_order_relaxed);
    }
}

size_t http_listener_sweep(struct http_listener *l, uint64_t now_ns, uint64_t older_ns)
{
    struct conncount_pending *gone;
    size_t n = conncount_expire(l->books, now_ns, older_ns, &gone);
    for (size_t i = 0; i < n; i++) {
        pending_dropped(l, &gone[i]);
    }
    free(gone);
    return n;
}

size_t http_listener_pending(struct http_listener *l)
{
    return conncount_pending(l->books);
}

/* At --max-connections: a warn line at most once per 10 s (the clients that wait see only
 * a slow connect; review hostile30 F2 found the daemon quiet while every slot was held). */
static void full_log(const struct http_listener *l)
{
    static struct log_limit limit;
    long not_logged = 0;
    if (log_enabled(LOG_WARN) &&
        log_limit_take(&limit, "at --max-connections", LOG_WARN,
                       (int64_t)(time_mono_ns() / 1000000), 1, 10000, &not_logged)) {
        json_t *f = json_pack("{s:I, s:s}", "max_connections", (json_int_t)l->limit, "hint",
                              "new connections wait in the backlog until one closes; raise "
                              "--max-connections, or look for clients holding connections "
                              "(bunsen_http_connections_full_seconds_total)");
        if (f != NULL && not_logged > 0) {
            json_object_set_new(f, "not_logged_before", json_integer(not_logged));
        }
        log_json(LOG_WARN, "at --max-connections: not accepting", f);
    }
}

static void *accept_loop(void *arg)
{
    struct http_listener *l = arg;
    int backoff_ms = -1;
    for (;;) {
        struct pollfd p[2] = {{.fd = l->wake[0], .events = POLLIN},
                              {.fd = l->fd, .events = POLLIN}};
        /* backing off: only the stop pipe, for a while; connections pending: a second */
        int timeout = backoff_ms;
        if (timeout < 0 && http_listener_pending(l) > 0) {
            timeout = LISTENER_SWEEP_EVERY;
        }
        int n = poll(p, backoff_ms < 0 ? 2 : 1, timeout);
        if (n < 0 && errno != EINTR) {
            accept_failed(errno);
            backoff_ms = LISTENER_BACKOFF_MS;
            continue;
        }
        if (p[0].revents != 0) {
            return NULL;
        }
        uint64_t now = time_mono_ns();
        if (now - l->swept_ns >= LISTENER_SWEEP_EVERY * 1000000ull) {
            l->swept_ns = now;
            (void)http_listener_sweep(l, now, LISTENER_PENDING_NS);
        }
        backoff_ms = -1;
        for (int i = 0; i < LISTENER_BATCH; i++) {
            if (full(l)) {
                backoff_ms = LISTENER_FULL_MS; /* the backlog holds them meanwhile */
                atomic_fetch_add_explicit(&l->full_ms, LISTENER_FULL_MS, memory_order_relaxed);
                full_log(l);
                /* room from kept-alive connections idle for a second (deadline.c): their
                 * closed notifications free the slots by the next look */
                if (l->shed != NULL) {
                    (void)http_deadlines_shed_idle(l->shed, LISTENER_SHED_MAX,
                                                   LISTENER_SHED_IDLE_NS);
                }
                break;
            }
            struct sockaddr_storage ss;
            socklen_t len = sizeof(ss);
            int c = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c < 0) {
                int e = errno;
                if (e == EINTR || e == ECONNABORTED || e == EPROTO) {
                    continue; /* that connection is gone; the next may be there */
                }
                if (e != EAGAIN && e != EWOULDBLOCK) {
                    accept_failed(e);
                    backoff_ms = LISTENER_BACKOFF_MS;
                    /* out of descriptors: idle connections make room as at the cap (nothing
                     * else frees one; /healthz got nothing for 10 s: review hostile31 F2) */
                    if ((e == EMFILE || e == ENFILE) && l->shed != NULL) {
                        (void)http_deadlines_shed_idle(l->shed, LISTENER_SHED_MAX,
                                                       LISTENER_SHED_IDLE_NS);
                    }
                }
                break;
            }
            atomic_fetch_add_explicit(&l->accepted, 1, memory_order_relaxed);
            number_reused(l, c);
            const struct sockaddr *sa = (const struct sockaddr *)&ss;
            /* counted before MHD can close it (its closed notification comes from a worker) */
            if (!http_listener_admit(l, sa)) {
                close(c); /* --per-ip-connections of its prefix are open */
                atomic_fetch_add_explicit(&l->refused, 1, memory_order_relaxed);
                refused_log(sa, true);
                continue;
            }
            c = http_listener_spread(l, c);
            http_listener_handing(l, c, sa, time_mono_ns());
            /* MHD owns c from here: a worker's, or closed (out of memory) */
            if (MHD_add_connection(l->d, c, sa, len) != MHD_YES) {
                /* not started (a started one is uncounted by its closed notification) */
                if (conncount_unpend(l->books, c, NULL)) {
                    http_listener_closed(l, sa, c);
                }
                atomic_fetch_add_explicit(&l->refused, 1, memory_order_relaxed);
                refused_log(sa, false);
            }
        }
    }
}

struct http_listener *http_listener_new(int fd, unsigned max_conns, unsigned per_prefix,
                                        unsigned workers, struct http_deadlines *shed,
                                        struct err *err)
{
    struct http_listener *l = xcalloc(1, sizeof(*l));
    l->workers = workers;
    if (workers > 1) {
        l->on = xcalloc(workers, sizeof(*l->on));
    }
    l->fd = fd;
    l->limit = max_conns;
    l->per_prefix = per_prefix;
    l->shed = shed;
    if (pipe2(l->wake, O_CLOEXEC) != 0) {
        err_set(err, ERR_INTERNAL, NULL, "pipe: %s", strerror(errno));
        free(l->on);
        free(l);
        return NULL;
    }
    l->books = conncount_new();
    return l;
}

int http_listener_start(struct http_listener *l, struct MHD_Daemon *d, struct err *err)
{
    l->d = d;
    if (thread_start(&l->thread, accept_loop, l) != 0) {
        return err_set(err, ERR_INTERNAL, NULL, "cannot start the accepting thread");
    }
    l->running = true;
    return 0;
}

void http_listener_stop(struct http_listener *l)
{
    if (l == NULL || l->fd < 0) {
        return;
    }
    if (l->running) {
        char b = 1;
        ssize_t w;
        do {
            w = write(l->wake[1], &b, 1);
        } while (w < 0 && errno == EINTR);
        pthread_join(l->thread, NULL);
        l->running = false;
    }
    close(l->wake[0]);
    close(l->wake[1]);
    close(l->fd); /* new connections are refused by the kernel from here */
    l->fd = -1;
}

void http_listener_free(struct http_listener *l)
{
    if (l == NULL) {
        return;
    }
    http_listener_stop(l);
    conncount_free(l->books);
    free(l->on);
    free(l);
}

void http_listener_write_metrics(struct http_listener *l, struct buf *b)
{
    buf_printf(b,
               "# HELP bunsen_http_connections_accepted_total TCP connections accepted.\n"
               "# TYPE bunsen_http_connections_accepted_total counter\n"
               "bunsen_http_connections_accepted_total %llu\n"
               "# HELP bunsen_http_connections_refused_total Connections closed at once on "
               "acceptance: --per-ip-connections reached (per IPv4 address, IPv6 /64), or the "
               "HTTP library could not take them (out of memory).\n"
               "# TYPE bunsen_http_connections_refused_total counter\n"
               "bunsen_http_connections_refused_total %llu\n"
               "# HELP bunsen_http_connections_rebalanced_total Connections given another "
               "descriptor number so that the workers take them in turn.\n"
               "# TYPE bunsen_http_connections_rebalanced_total counter\n"
               "bunsen_http_connections_rebalanced_total %llu\n"
               "# HELP bunsen_http_connections_open Connections open now (handed to the HTTP "
               "workers and not yet closed), counted against --max-connections.\n"
               "# TYPE bunsen_http_connections_open gauge\n"
               "bunsen_http_connections_open %ld\n"
               "# HELP bunsen_http_connections_pending Connections handed to the HTTP workers "
               "that have not started yet (a connection still here after 10 s was dropped by the "
               "HTTP library and is uncounted).\n"
               "# TYPE bunsen_http_connections_pending gauge\n"
               "bunsen_http_connections_pending %zu\n"
               "# HELP bunsen_http_connections_full_seconds_total Time spent at "
               "--max-connections, not accepting (new connections wait in the backlog).\n"
               "# TYPE bunsen_http_connections_full_seconds_total counter\n"
               "bunsen_http_connections_full_seconds_total %.3f\n",
               atomic_load_explicit(&l->accepted, memory_order_relaxed),
               atomic_load_explicit(&l->refused, memory_order_relaxed),
               atomic_load_explicit(&l->moved, memory_order_relaxed),
               (long)atomic_load_explicit(&l->open, memory_order_relaxed), http_listener_pending(l),
               (double)atomic_load_explicit(&l->full_ms, memory_order_relaxed) / 1000.0);
}
