/*
 * accounting.c - what each completed request leaves behind: bunsen_http_requests_total by
 * route, method and status code, the bunsen_http_request_duration_seconds histogram by route, and
 * the access-log line (429s: one line per class and 10 s, with a count of those not logged,
 * ratelimit.c).
 *
 * The metrics slots: one per route of routes.c, then static files (SLOT_STATIC), then requests
 * no route or static file took, by method (SLOT_UNMATCHED + the method's bit index, + 7 for any
 * other method).
 *
 * Threads: http_account runs on MHD's threads (the completed callback), the writers on the
 * /metrics handler's thread: every count is an atomic, the histograms are
 * metrics.c's (atomic too).
 */
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/http.h"
#include "bunsen/jsonw.h"
#include "bunsen/log.h"
#include "bunsen/metrics.h"
#include "bunsen/util.h"
#include "http_int.h"

/* Status codes counted separately in bunsen_http_requests_total; others count as "other". */
static const int tracked_status[] = {200, 201, 204, 304, 400, 401, 403, 404, 405, 409,
                                     412, 413, 414, 415, 429, 431, 500, 501, 503};
#define NSTATUS (sizeof(tracked_status) / sizeof(tracked_status[0]) + 1)

struct route_metrics {
    atomic_uint_fast64_t by_status[NSTATUS];
    struct histogram latency;
};

#define SLOT_STATIC    http_routes_count
#define SLOT_UNMATCHED (http_routes_count + 1)
#define NSLOTS         (http_routes_count + 1 + 8)

struct http_accounting {
    size_t nslots;                 /* NSLOTS */
    struct route_metrics routes[]; /* nslots */
};

struct http_accounting *http_accounting_new(void)
{
    struct http_accounting *a = xcalloc(1, sizeof(*a) + NSLOTS * sizeof(a->routes[0]));
    a->nslots = NSLOTS;
    for (size_t i = 0; i < NSLOTS; i++) {
        hist_init(&a->routes[i].latency, metrics_latency_bounds, metrics_latency_nbounds, 1e6);
    }
    return a;
}

void http_accounting_free(struct http_accounting *a)
{
    free(a);
}

/* The access-log line of a completed request, written as log_json printed the jansson object
 * it used to build (ASCII only). */
static void access_log(const struct http_req *r, int status, uint64_t now, int toe,
                       long refused_before)
{
    double ms = (double)(now - r->t0) / 1e6;
    const char *mname = r->method != 0 ? http_method_name(r->method) : "OTHER";
    char line[320]; /* cap one below the size: the buffer never grows (no realloc) */
    struct buf b = {line, 0, sizeof(line), sizeof(line) - 1};
    jsonw_append_raw(&b, "\"method\":\"");
    jsonw_append_raw(&b, mname);
    jsonw_append_raw(&b, "\",\"route\":");
    const char *route = r->route ? r->route->path : r->unmatched ? "unmatched" : "static";
    jsonw_append_string(&b, route, strlen(route));
    jsonw_append_raw(&b, ",\"status\":");
    jsonw_append_int(&b, status);
    jsonw_append_raw(&b, ",\"duration_ms\":");
    jsonw_append_real(&b, ms, 6);
    jsonw_append_raw(&b, ",\"bytes\":");
    jsonw_append_int(&b, (long long)r->resp_bytes);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        jsonw_append_raw(&b, ",\"terminated\":");
        jsonw_append_int(&b, (long long)toe);
    }
    if (r->key_id[0] != '\0') {
        jsonw_append_raw(&b, ",\"key_id\":");
        jsonw_append_string(&b, r->key_id, strlen(r->key_id));
    }
    if (refused_before > 0) {
        jsonw_append_raw(&b, ",\"refused_not_logged\":");
        jsonw_append_int(&b, refused_before);
    }
    log_members(LOG_INFO, "request", b.data, b.len);
}

void http_account(struct http_accounting *a, const struct http_req *r, int status, uint64_t now,
                  int toe)
{
    size_t slot = r->route ? (size_t)(r->route - http_routes) : SLOT_STATIC;
    if (r->route == NULL && r->unmatched) {
        slot = SLOT_UNMATCHED + 7;
        for (size_t i = 0; i < 7; i++) {
            slot = r->method == (enum http_method)(1u << i) ? SLOT_UNMATCHED + i : slot;
        }
    }
    struct route_metrics *rm = &a->routes[slot];
    size_t si = NSTATUS - 1;
    for (size_t i = 0; i + 1 < NSTATUS; i++) {
        if (tracked_status[i] == status) {
            si = i;
        }
    }
    atomic_fetch_add_explicit(&rm->by_status[si], 1, memory_order_relaxed);
    hist_observe(&rm->latency, (double)(now - r->t0) / 1e9);
    long refused_before = 0; /* 429s: one line per class and 10 s, with the count */
    if (log_enabled(LOG_INFO) &&
        (status != 429 || ratelimit_log_refusal(r->refused_cls, &refused_before))) {
        access_log(r, status, now, toe, refused_before);
    }
}

/* The route and method labels of a metrics slot: a route's own; "static" GET (HEAD as GET,
 * as on the routes); "unmatched" with the method sent (a known one, else "other"). */
static void slot_labels(size_t i, const char **route, const char **method)
{
    if (i < http_routes_count) {
        *route = http_routes[i].path;
        *method = http_method_name(http_routes[i].method);
    } else if (i == SLOT_STATIC) {
        *route = "static";
        *method = "GET";
    } else {
        *route = "unmatched";
        *method = http_method_name(
            (enum http_method)(i - SLOT_UNMATCHED < 7 ? 1u << (i - SLOT_UNMATCHED) : 0));
    }
}

void http_accounting_write_metrics(struct http_accounting *a, struct buf *b)
{
    metrics_write_help(b, "bunsen_http_requests_total", "counter",
                       "HTTP requests by route, method and status code.");
    for (size_t i = 0; i < NSLOTS; i++) {
        const char *route, *method;
        slot_labels(i, &route, &method);
        for (size_t k = 0; k < NSTATUS; k++) {
            uint64_t n = atomic_load_explicit(&a->routes[i].by_status[k], memory_order_relaxed);
            if (n == 0) {
                continue;
            }
            char labels[256], code[16];
            if (k + 1 < NSTATUS) {
                snprintf(code, sizeof(code), "%d", tracked_status[k]);
            } else {
                snprintf(code, sizeof(code), "other");
            }
            snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",code=\"%s\"", route,
                     method, code);
            metrics_write_value(b, "bunsen_http_requests_total", labels, (double)n);
        }
    }
    metrics_write_help(b, "bunsen_http_request_duration_seconds", "histogram",
                       "Time from the request's first byte to its completion, by route.");
    for (size_t i = 0; i < NSLOTS; i++) {
        const struct histogram *h = &a->routes[i].latency;
        uint64_t total = 0;
        for (int k = 0; k <= h->nbounds; k++) {
            total += atomic_load_explicit(&h->counts[k], memory_order_relaxed);
        }
        if (total == 0) {
            continue;
        }
        char labels[200];
        const char *route, *method;
        slot_labels(i, &route, &method);
        snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\"", route, method);
        metrics_write_hist(b, "bunsen_http_request_duration_seconds", labels, h);
    }
}
