/*
 * api.h - the request handlers, one file per resource under src/api/. Each handler
 * parses its input, calls core/store/stats, and renders JSON; it replies exactly once
 * (possibly asynchronously after a commit). Routes: src/http/routes.c.
 */
#ifndef BUNSEN_API_H
#define BUNSEN_API_H

#include <stdint.h>

#include "bunsen/http.h"

/* health.c */
void api_health_live(struct http_req *r);  /* GET /healthz */
void api_health_ready(struct http_req *r); /* GET /readyz  */
/* The readiness checks' coalescing (health.c), one per daemon in app->ready. */
struct api_ready;
struct store;
/* limit_ms: how long a probe waits for the readiness check (--db-timeout), 0: as long as it
 * takes */
struct api_ready *api_ready_new(struct store *store, unsigned limit_ms);
void api_ready_free(struct api_ready *g); /* NULL ok; no check in flight */
/* Was the last /readyz answer 200 (or none was given yet: serve's start check passed)?
 * False when it was 503. The gauge bunsen_ready. */
bool api_ready_is_ready(struct api_ready *g);
void api_openapi(struct http_req *r); /* GET /api/v1/openapi.yaml (docs/openapi.yaml) */

/* ecosystem.c: GrowthBook SDK payload, OpenFeature OFREP, CORS preflight */
void api_features(struct http_req *r);       /* GET  /api/features/{sdk_key} */
void api_ofrep_flag(struct http_req *r);     /* POST /ofrep/v1/evaluate/flags/{key} */
void api_ofrep_bulk(struct http_req *r);     /* POST /ofrep/v1/evaluate/flags */
void api_cors_preflight(struct http_req *r); /* OPTIONS on the SDK routes */

/* payload.c: the SDK payload rendered once per snapshot and key, one cache per daemon in
 * app->payloads */
struct api_payloads;
struct api_payloads *api_payloads_new(void);
void api_payloads_free(struct api_payloads *ps);       /* NULL ok */
uint64_t api_payload_renders(struct api_payloads *ps); /* payloads rendered so far */

/* prom.c */
void api_metrics_prom(struct http_req *r); /* GET /metrics (Prometheus) */
/* The api layer's counters (assignments, ingested rows), one per daemon in app->prom. */
struct prom;
struct prom *prom_new(void);
void prom_free(struct prom *p); /* NULL ok */

/* admin.c: keys, the caller's identity, the audit log */
void api_keys_create(struct http_req *r); /* POST   /api/v1/keys */
void api_keys_list(struct http_req *r);   /* GET    /api/v1/keys */
void api_keys_revoke(struct http_req *r); /* DELETE /api/v1/keys/{id} */
void api_me(struct http_req *r);          /* GET    /api/v1/me */
void api_audit_list(struct http_req *r);  /* GET    /api/v1/audit */
/* A key's document (API.md "Keys": id, name, role, prefix, created_at, revoked_at), new
 * reference: the replies and the key.create / key.revoke audit entries' before and after, of
 * the API and of `bunsen keys` alike. */
struct store_key;
json_t *api_key_json(const struct store_key *k);
/* A new key's name, of the API and of `bunsen keys create` alike: ERR_INVALID (field "name")
 * when it holds an invisible formatting character (text_invisible_at); inside apply() (tx),
 * ERR_CONFLICT when it is an actor name the daemon itself writes in the audit log ("cli",
 * "system", "bootstrap-admin", any case; bootstrap: the bootstrap admin key itself) or the
 * name of another active key: the audit log and the dashboard tell actors apart by name. */
struct store_tx;
int api_key_name_check(const char *name, struct err *err);
int api_key_name_free(struct store_tx *tx, const char *name, bool bootstrap, struct err *err);

/* metrics.c: the metrics catalogue */
void api_metrics_create(struct http_req *r); /* POST   /api/v1/metrics */
void api_metrics_list(struct http_req *r);   /* GET    /api/v1/metrics */
void api_metrics_get(struct http_req *r);    /* GET    /api/v1/metrics/{key} */
void api_metrics_patch(struct http_req *r);  /* PATCH  /api/v1/metrics/{key} */
void api_metrics_delete(struct http_req *r); /* DELETE /api/v1/metrics/{key} */

/* experiments.c: definitions and lifecycle */
void api_experiments_create(struct http_req *r);  /* POST   /api/v1/experiments */
void api_experiments_list(struct http_req *r);    /* GET    /api/v1/experiments */
void api_experiments_get(struct http_req *r);     /* GET    /api/v1/experiments/{key} */
void api_experiments_patch(struct http_req *r);   /* PATCH  /api/v1/experiments/{key} */
void api_experiments_delete(struct http_req *r);  /* DELETE /api/v1/experiments/{key} */
void api_experiments_start(struct http_req *r);   /* POST   /api/v1/experiments/{key}/start */
void api_experiments_pause(struct http_req *r);   /* ... /pause */
void api_experiments_resume(struct http_req *r);  /* ... /resume */
void api_experiments_stop(struct http_req *r);    /* ... /stop  {"release": "variant"}? */
void api_experiments_archive(struct http_req *r); /* ... /archive */

/* Rebuild the assignment snapshot from the store and publish it. Called at start-up,
 * after every committed experiment change, and when another process changed the
 * database. Serialised by app->reload_mu; records the catalogue version read before the
 * definitions (app->catalog_loaded). */
struct app;
int api_experiments_reload(struct app *app, struct err *err);
/* The same unless the published snapshot was loaded at catalogue version `version` (-1:
 * the committed one, read under the lock): after a definition change (its own, or seen by
 * the poll, a shared database's change listener, a write transaction's start) a daemon
 * loads each version once, whichever of them comes first. SIGHUP forces a reload. */
int api_experiments_reload_unless(struct app *app, int64_t version, struct err *err);

/* The rebuilder thread (src/api/rebuild.c): drives the running roll-up rebuilds chunk by
 * chunk through the writer (also those found at start-up: a crash resumes). Start after the
 * writer, stop before it. NULL ok for stop. */
struct rebuilder;
struct rebuilder *api_rebuilder_start(struct app *app);
void api_rebuilder_stop(struct rebuilder *rb);

/* ingest.c: exposures and events from services */
void api_ingest_events(struct http_req *r);    /* POST /api/v1/events */
void api_ingest_exposures(struct http_req *r); /* POST /api/v1/exposures */

/* results.c (+ results_slices.c), results_series.c, results_power.c, results_export.c */
void api_results(struct http_req *r);      /* GET  /api/v1/experiments/{key}/results */
void api_timeseries(struct http_req *r);   /* GET  /api/v1/experiments/{key}/timeseries */
void api_power(struct http_req *r);        /* POST /api/v1/power */
void api_users_export(struct http_req *r); /* GET /api/v1/experiments/{key}/users */

/* sdk_stream.c: GrowthBook SDK extras (issue 15) */
void api_sdk_sub(struct http_req *r);  /* GET  /sub/{sdk_key} (Server-Sent Events) */
void api_sdk_eval(struct http_req *r); /* POST /api/eval/{sdk_key} (remote evaluation) */
/* The streams' publisher: a thread of its own sends the current payload to every stream
 * whose last one differs after a snapshot publish, and keep-alive comments to idle streams
 * (once a second). Start it once the HTTP server runs, stop it before the server stops. */
struct api_publisher;
struct api_publisher *api_sdk_streams_start(struct app *app);
/* Stop: its thread ends (requests still running may ask for publishes: nobody serves them);
 * free once the HTTP server has stopped, so that no request thread holds it. NULL ok. */
void api_sdk_streams_stop(struct api_publisher *pb);
void api_sdk_streams_free(struct api_publisher *pb);
/* Ask for a publish (after a snapshot publish): returns at once, the publisher renders the
 * payloads of whatever snapshot is current when it runs (requests made meanwhile coalesce).
 * Without a publisher (app->publisher NULL) it publishes on the calling thread. */
void api_sdk_streams_publish(struct app *app);
/* A key was revoked here: end its open streams now (the publisher also checks the keys of
 * every stream once a second, for revocations elsewhere). Any thread. */
void api_sdk_streams_keys_changed(struct app *app);

/* saved_groups.c: named value lists for $inGroup / $notInGroup (issue 15) */
void api_saved_groups_create(struct http_req *r); /* POST   /api/v1/saved-groups */
void api_saved_groups_list(struct http_req *r);   /* GET    /api/v1/saved-groups */
void api_saved_groups_get(struct http_req *r);    /* GET    /api/v1/saved-groups/{key} */
void api_saved_groups_patch(struct http_req *r);  /* PATCH  /api/v1/saved-groups/{key} */
void api_saved_groups_delete(struct http_req *r); /* DELETE /api/v1/saved-groups/{key} */
/* Saved groups the catalogue reloads read from the store and parsed so far (process-wide):
 * one per group created or changed, none for the groups a reload kept. Any thread. */
uint64_t api_saved_group_loads(void);
/* /sub streams ended because their client read a replaced payload too slowly (sdk_stream.c). */
uint64_t api_sdk_streams_slow_ends(void);
/* GET /sub requests answered with one payload and a retry interval because every stream
 * slot was taken (http_reply_event_stream). */
uint64_t api_sdk_streams_full_polls(void);

/* assign.c: the hot path */
void api_assign(struct http_req *r);     /* POST /api/v1/assign */
void api_assign_one(struct http_req *r); /* GET  /api/v1/experiments/{key}/assign */

#endif
