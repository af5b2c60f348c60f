/*
 * prom.c - GET /metrics in the Prometheus text exposition format, and the counters the
 * api layer owns (assignments by experiment and reason, ingested rows). The HTTP layer
 * and the writer write their own families (http_server_write_metrics,
 * store_write_metrics). A scrape reads atomics and stats two files: no database query.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/metrics.h"
#include "bunsen/util.h"
#include "version.h" /* generated: build/gen/version.h */

#define NREASONS 7

struct prom_experiment {
    char key[65];
    atomic_uint_fast64_t by_reason[NREASONS];
    struct prom_experiment *next;
};

struct prom {
    pthread_mutex_t mu;
    struct prom_experiment *experiments; /* newest first; never removed while running */
    atomic_uint_fast64_t rows[2];        /* [0] events, [1] exposures accepted */
    atomic_uint_fast64_t duplicates[2];
    atomic_uint_fast64_t conflicts;
    atomic_uint_fast64_t async_exposures[2]; /* [0] committed, [1] dropped */
};

struct prom *prom_new(void)
{
    struct prom *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

void prom_free(struct prom *p)
{
    if (p == NULL) {
        return;
    }
    for (struct prom_experiment *e = p->experiments; e != NULL;) {
        struct prom_experiment *next = e->next;
        free(e);
        e = next;
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void *prom_experiment(struct prom *p, const char *key)
{
    if (p == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&p->mu);
    struct prom_experiment *e = p->experiments;
    while (e != NULL && strcmp(e->key, key) != 0) {
        e = e->next;
    }
    if (e == NULL) {
        e = xcalloc(1, sizeof(*e));
        snprintf(e->key, sizeof(e->key), "%s", key);
        e->next = p->experiments;
        p->experiments = e;
    }
    pthread_mutex_unlock(&p->mu);
    return e;
}

void prom_count_assign(void *experiment_counters, enum assign_reason reason)
{
    struct prom_experiment *e = experiment_counters;
    if (e != NULL && (unsigned)reason < NREASONS) {
        atomic_fetch_add_explicit(&e->by_reason[reason], 1, memory_order_relaxed);
    }
}

void prom_count_ingest(struct prom *p, bool exposures, const struct store_ingest_counts *c)
{
    if (p == NULL) {
        return;
    }
    atomic_fetch_add_explicit(&p->rows[exposures], (uint_fast64_t)c->accepted,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&p->duplicates[exposures], (uint_fast64_t)c->duplicates,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&p->conflicts, (uint_fast64_t)c->conflicts, memory_order_relaxed);
}

void prom_count_async_exposures(struct prom *p, bool dropped, size_t n)
{
    if (p != NULL) {
        atomic_fetch_add_explicit(&p->async_exposures[dropped], (uint_fast64_t)n,
                                  memory_order_relaxed);
    }
}

void api_metrics_prom(struct http_req *r)
{
    struct app *app = http_req_app(r);
    struct prom *p = app->prom;
    struct buf b;
    buf_init(&b, 64u << 20);
    metrics_write_help(&b, "bunsen_build_info", "gauge", "Version of the running daemon.");
    metrics_write_value(&b, "bunsen_build_info",
                        "version=\"" BUNSEN_VERSION "\",revision=\"" BUNSEN_GIT_REV "\"", 1);
    metrics_write_help(&b, "bunsen_start_time_seconds", "gauge",
                       "Start time of the daemon since the Unix epoch.");
    metrics_write_value(&b, "bunsen_start_time_seconds", "", (double)app->started_at / 1000.0);
    http_server_write_metrics(app->http, &b);
    metrics_write_help(&b, "bunsen_assignments_total", "counter",
                       "Assignment decisions by experiment and reason.");
    pthread_mutex_lock(&p->mu);
    for (struct prom_experiment *e = p->experiments; e != NULL; e = e->next) {
        for (int k = 0; k < NREASONS; k++) {
            uint64_t n = atomic_load_explicit(&e->by_reason[k], memory_order_relaxed);
            if (n == 0) {
                continue;
            }
            char labels[200], key[140];
            metrics_escape(e->key, key, sizeof(key));
            snprintf(labels, sizeof(labels), "experiment=\"%s\",reason=\"%s\"", key,
                     assign_reason_name((enum assign_reason)k));
            metrics_write_value(&b, "bunsen_assignments_total", labels, (double)n);
        }
    }
    pthread_mutex_unlock(&p->mu);
    /* The exposition format wants each family's lines as one group: one loop per family. */
    static const char *const kinds[] = {"event", "exposure"};
    metrics_write_help(&b, "bunsen_ingested_rows_total", "counter",
                       "Events and exposures stored (exposures: first exposures).");
    for (int k = 0; k < 2; k++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "kind=\"%s\"", kinds[k]);
        metrics_write_value(&b, "bunsen_ingested_rows_total", labels,
                            (double)atomic_load(&p->rows[k]));
    }
    metrics_write_help(&b, "bunsen_ingest_duplicates_total", "counter",
                       "Events skipped by idempotency key; repeated exposures.");
    for (int k = 0; k < 2; k++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "kind=\"%s\"", kinds[k]);
        metrics_write_value(&b, "bunsen_ingest_duplicates_total", labels,
                            (double)atomic_load(&p->duplicates[k]));
    }
    metrics_write_help(&b, "bunsen_exposure_conflicts_total", "counter",
                       "Exposures naming another variant than the user's first.");
    metrics_write_value(&b, "bunsen_exposure_conflicts_total", "",
                        (double)atomic_load(&p->conflicts));
    metrics_write_help(&b, "bunsen_ofrep_exposures_total", "counter",
                       "Exposures of OFREP answers (logged without holding the answer): "
                       "committed, or dropped when the writer refused or failed them.");
    metrics_write_value(&b, "bunsen_ofrep_exposures_total", "result=\"committed\"",
                        (double)atomic_load(&p->async_exposures[0]));
    metrics_write_value(&b, "bunsen_ofrep_exposures_total", "result=\"dropped\"",
                        (double)atomic_load(&p->async_exposures[1]));
    store_write_metrics(app->store, &b);
    http_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "",
                     b.len);
    buf_free(&b);
}
