/*
 * app.h - the daemon's shared state, created by `bunsen serve` (src/serve.c) and lent
 * to every handler through http_req_app(). Fields are set before the HTTP server
 * starts and are read-only afterwards (the objects they point to do their own locking),
 * except catalog_loaded (under reload_mu), publisher (atomic: set once the HTTP server
 * runs, cleared before it stops) and exports (atomic count).
 */
#ifndef BUNSEN_APP_H
#define BUNSEN_APP_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bunsen/config.h"
#include "bunsen/snapshot.h"
#include "bunsen/store.h"

struct http_server;
struct prom;
struct api_payloads;
struct api_publisher;
struct api_ready;

struct app {
    struct config cfg;
    struct store *store;
    struct http_server *http;
    char web_dir_real[PATH_MAX];       /* realpath of cfg.web_dir, "" when it does not exist */
    int64_t started_at;                /* ms */
    struct snapshot_cell *experiments; /* what /assign reads; see api_experiments_reload */
    pthread_mutex_t reload_mu;         /* one reload at a time, so publishes stay in order */
    int64_t catalog_loaded; /* catalogue version of the published snapshot, -1: none (reload_mu) */
    struct prom *prom;      /* counters for GET /metrics (src/api/prom.c) */
    struct api_payloads *payloads; /* SDK payloads rendered (src/api/payload.c), or NULL */
    struct api_ready *ready;       /* /readyz checks coalesced (src/api/health.c) */
    _Atomic(struct api_publisher *) publisher; /* SDK streams' (src/api/sdk_stream.c), or NULL */
    atomic_int exports; /* per-user exports streaming now (src/api/results_export.c) */
};

#endif
