/*
 * results_export.c - the per-user export of one metric (GET .../users, CSV or NDJSON),
 * streamed a page of users at a time so that memory stays bounded whatever the number of
 * users. Threads: an offload thread runs the handler (ROUTE_OFFLOAD); a producer thread of
 * the export's own reads the pages (store reader of that thread, about 3 ms per 1,000 users)
 * and renders them into the reply's feed (http_reply_feed: at most EXPORT_BUFFERED bytes wait
 * unsent, a write waits for room), which the MHD worker serving the connection only copies
 * out. Pages were read on that worker, whose other connections waited meanwhile
 * (RELIABILITY.md AD). At most EXPORTS_MAX exports run at once (app->exports; each holds a
 * database reader and a thread): 20 concurrent exports of 200,000 users took /assign's p99
 * from 6 to 179 ms; beyond the cap a 503 with Retry-After. A client that goes away ends the
 * producer at its next write and frees the slot.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/jsonw.h"
#include "bunsen/log.h"
#include "bunsen/ddouble.h"
#include "bunsen/results.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"
#include "results_int.h"

/* ---- per-user export (streamed) ---- */

#define USERS_PAGE      1000
#define EXPORTS_MAX     2          /* running at once per daemon */
#define EXPORT_BUFFERED (1u << 20) /* rendered bytes waiting for the client, per export */

/* One export, owned by its producer thread (the handler's until it starts it). */
struct users_export {
    struct store *store;
    atomic_int *running; /* app->exports, released when the producer is done */
    struct http_feed *feed;
    char experiment[MODEL_KEY_MAX + 1];
    struct metric m;
    int64_t stop_ts;
    bool ndjson;
    struct store_users_cursor cur;
    struct buf out; /* a page rendered */
};

static void users_row(void *ctx, const struct store_user_row *row)
{
    struct users_export *u = ctx;
    double y = results_user_value(&u->m, row->y), x = results_user_value(&u->m, row->x);
    if (u->ndjson) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:f, s:f}", "user_id", row->user_id, "variant",
                              row->variant, "first_exposure", (json_int_t)row->first_exposure,
                              "value", y, "pre_value", x);
        char *text = o ? jsonw_dumps(o, NULL) : NULL;
        if (text != NULL) {
            buf_printf(&u->out, "%s\n", text);
        }
        free(text);
        json_decref(o);
        return;
    }
    /* CSV: user ids may hold commas or quotes (RFC 4180 quoting), and may start like a
     * spreadsheet formula (any sdk key sends them): such a cell starts with ' as in the
     * results CSV (results_csv_text_cell); NDJSON has them exactly */
    bool quote = strpbrk(row->user_id, ",\"\r\n") != NULL;
    bool formula = results_csv_formula_start(row->user_id);
    if (quote) {
        buf_append(&u->out, formula ? "\"'" : "\"", formula ? 2 : 1);
        for (const char *p = row->user_id; *p; p++) {
            buf_append(&u->out, p, 1);
            if (*p == '"') {
                buf_append(&u->out, "\"", 1);
            }
        }
        buf_append(&u->out, "\"", 1);
    } else {
        if (formula) {
            buf_append(&u->out, "'", 1);
        }
        buf_append(&u->out, row->user_id, strlen(row->user_id));
    }
    char ty[32], tx[32];
    jsonw_real_text(ty, sizeof(ty), y);
    jsonw_real_text(tx, sizeof(tx), x);
    buf_printf(&u->out, ",%s,%lld,%s,%s\r\n", row->variant, (long long)row->first_exposure, ty, tx);
}

/* The producer: every page read, rendered and written to the feed, until the last page, an
 * error (the body is cut off: a client must not take a partial export for a whole one) or the
 * client's leaving (the write answers -1). */
static void users_produce(struct users_export *u)
{
    bool failed = false, done = false;
    while (!done && !failed) {
        int count = 0;
        struct err err;
        err_clear(&err);
        if (store_users_page(u->store, u->experiment, u->stop_ts, u->m.key, NULL, NULL, &u->cur,
                             USERS_PAGE, users_row, u, &count, &err) != 0) {
            log_msg(LOG_ERROR, "users export of %s stopped: %s", u->experiment, err.msg);
            failed = true;
            break;
        }
        done = count < USERS_PAGE;
        if (u->out.len > 0 && http_feed_write(u->feed, u->out.data, u->out.len) != 0) {
            failed = true; /* the client went away, or the server stops */
        }
        u->out.len = 0;
    }
    struct http_feed *feed = u->feed;
    atomic_fetch_sub(u->running, 1);
    buf_free(&u->out);
    free(u);
    http_feed_end(feed, failed); /* last: the server's stop waits for it */
}

/* ---- the producers: EXPORTS_MAX threads, started at the first export and kept (each keeps
 * its store reader: a thread per export would leave a database connection behind each). At
 * most EXPORTS_MAX exports run (app->exports), so a queued export starts at once. ---- */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static struct users_export *pool_queue[EXPORTS_MAX];
static int pool_n, pool_threads;

static void *pool_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&pool_mu);
        while (pool_n == 0) {
            pthread_cond_wait(&pool_cv, &pool_mu);
        }
        struct users_export *u = pool_queue[0];
        memmove(pool_queue, pool_queue + 1, (size_t)(--pool_n) * sizeof(pool_queue[0]));
        pthread_mutex_unlock(&pool_mu);
        users_produce(u);
    }
    return NULL;
}

/* Hand u to a producer: 0, or -1 when no producer thread could be started. */
static int pool_submit(struct users_export *u)
{
    pthread_mutex_lock(&pool_mu);
    while (pool_threads < EXPORTS_MAX) {
        pthread_t th;
        if (thread_start(&th, pool_main, NULL) != 0) {
            break;
        }
        pthread_detach(th);
        pool_threads++;
    }
    int rc = -1;
    if (pool_threads > 0 && pool_n < EXPORTS_MAX) {
        pool_queue[pool_n++] = u;
        pthread_cond_signal(&pool_cv);
        rc = 0;
    }
    pthread_mutex_unlock(&pool_mu);
    return rc;
}

void api_users_export(struct http_req *r)
{
    static const char *const types[] = {"text/csv", "application/x-ndjson"};
    const char *format = http_req_query(r, "format");
    bool ndjson = format ? strcmp(format, "ndjson") == 0 : http_req_accept_pick(r, types, 2) == 1;
    if (format != NULL && !ndjson && strcmp(format, "csv") != 0) {
        http_reply_error(r, ERR_INVALID, "format", "format must be csv or ndjson");
        return;
    }
    struct experiment x;
    if (results_experiment_of(r, &x) != 0) {
        return;
    }
    const char *metric = http_req_query(r, "metric");
    struct err err;
    err_clear(&err);
    atomic_int *running = &http_req_app(r)->exports;
    if (http_feeds_closing()) {
        experiment_clear(&x);
        http_reply_error(r, ERR_UNAVAILABLE, NULL, "the server is stopping; retry shortly");
        return; /* with Retry-After: another replica, or this one restarted */
    }
    if (atomic_fetch_add(running, 1) >= EXPORTS_MAX) {
        atomic_fetch_sub(running, 1);
        experiment_clear(&x);
        http_reply_error(r, ERR_UNAVAILABLE, NULL,
                         "%d per-user exports are streaming already; retry shortly", EXPORTS_MAX);
        return; /* with Retry-After */
    }
    struct users_export *u = xcalloc(1, sizeof(*u));
    u->running = running;
    int recorded =
        metric != NULL ? results_metric_recorded(http_req_app(r)->store, &x, metric, &err) : 0;
    if (recorded < 0) {
        /* err says why */
    } else if (recorded == 0) {
        err_set(&err, ERR_INVALID, "metric",
                "metric must be one of the experiment's metrics or a part of its ratios");
    } else if (results_load_metric(http_req_app(r)->store, NULL, metric, &u->m, &err) == 0 &&
               u->m.type == STATS_METRIC_RATIO) {
        err_set(&err, ERR_INVALID, "metric",
                "export a ratio's numerator and denominator (values per user) instead");
    } else if (err.code == ERR_OK) {
        u->store = http_req_app(r)->store;
        snprintf(u->experiment, sizeof(u->experiment), "%s", x.key);
        u->stop_ts = x.stopped_at;
        u->ndjson = ndjson;
        buf_init(&u->out, 64u << 20);
        if (!ndjson) {
            buf_printf(&u->out, "user_id,variant,first_exposure,value,pre_value\r\n");
        }
        char disp[160];
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s-%s-users.%s\"", x.key, metric,
                 ndjson ? "ndjson" : "csv");
        u->feed = http_reply_feed(
            r, 200, ndjson ? "application/x-ndjson; charset=utf-8" : "text/csv; charset=utf-8",
            EXPORT_BUFFERED);
        http_reply_header(r, "Content-Disposition", disp);
        if (format == NULL) {
            http_reply_header(r, "Vary", "Accept"); /* the format came from Accept */
        }
        /* the values are read as stored: a running rebuild has rewritten only some users */
        struct store_rebuild rb;
        struct err rerr;
        if (store_rebuild_get(u->store, x.key, &rb, &rerr) == 1) {
            char prog[64];
            snprintf(prog, sizeof(prog), "%lld/%lld", (long long)rb.users_done,
                     (long long)rb.users_total);
            http_reply_header(r, "Bunsen-Rebuilding", prog);
        }
        experiment_clear(&x);
        if (pool_submit(u) != 0) {
            log_msg(LOG_ERROR, "users export of %s: cannot start its thread", u->experiment);
            http_feed_end(u->feed, true);
            atomic_fetch_sub(running, 1);
            buf_free(&u->out);
            free(u);
        }
        return;
    }
    atomic_fetch_sub(running, 1);
    free(u);
    http_reply_err(r, &err);
    experiment_clear(&x);
}
