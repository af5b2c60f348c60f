/*
 * routes.c - the route table: method, path pattern, handler, body cap, roles allowed, and
 * the query parameters each /api/v1 route takes (any other is a 400; NULL: not checked, for
 * SDKs' and browsers' cache busters on the SDK, OFREP, health and metrics routes and on
 * GET /api/v1/me, which SDKs and browsers call to check a key). No logic
 * here. Order matters only between patterns that could match the same path
 * (the first match wins): literal routes before parameterised ones.
 */
#include "bunsen/api.h"
#include "bunsen/http.h"

const struct http_route http_routes[] = {
    {HTTP_GET, "/healthz", api_health_live, BODY_NONE, ROLES_PUBLIC, 0, NULL},
    {HTTP_GET, "/readyz", api_health_ready, BODY_NONE, ROLES_PUBLIC, 0, NULL},
    {HTTP_GET, "/metrics", api_metrics_prom, BODY_NONE, ROLES_PUBLIC, ROUTE_KEY_OPTIONAL, NULL},
    {HTTP_GET, "/api/v1/openapi.yaml", api_openapi, BODY_NONE, ROLES_PUBLIC, 0, NULL},

    {HTTP_GET, "/api/v1/me", api_me, BODY_NONE, ROLES_READ | ROLE_SDK, 0, NULL},
    {HTTP_POST, "/api/v1/keys", api_keys_create, BODY_DEFAULT, ROLES_ADMIN, ROUTE_MANAGE, ""},
    {HTTP_GET, "/api/v1/keys", api_keys_list, BODY_NONE, ROLES_ADMIN, ROUTE_OFFLOAD,
     "include_revoked"},
    {HTTP_DELETE, "/api/v1/keys/{id}", api_keys_revoke, BODY_NONE, ROLES_ADMIN, ROUTE_MANAGE, ""},
    {HTTP_GET, "/api/v1/audit", api_audit_list, BODY_NONE, ROLES_ADMIN, ROUTE_OFFLOAD,
     "limit before target_type target"},

    {HTTP_POST, "/api/v1/metrics", api_metrics_create, BODY_DEFAULT, ROLES_EDIT, ROUTE_MANAGE, ""},
    {HTTP_GET, "/api/v1/metrics", api_metrics_list, BODY_NONE, ROLES_READ, ROUTE_OFFLOAD, ""},
    {HTTP_GET, "/api/v1/metrics/{key}", api_metrics_get, BODY_NONE, ROLES_READ, 0, ""},
    {HTTP_PATCH, "/api/v1/metrics/{key}", api_metrics_patch, BODY_DEFAULT, ROLES_EDIT, ROUTE_MANAGE,
     ""},
    {HTTP_DELETE, "/api/v1/metrics/{key}", api_metrics_delete, BODY_NONE, ROLES_EDIT, ROUTE_MANAGE,
     ""},

    {HTTP_POST, "/api/v1/experiments", api_experiments_create, BODY_DEFAULT, ROLES_EDIT,
     ROUTE_MANAGE, ""},
    {HTTP_GET, "/api/v1/experiments", api_experiments_list, BODY_NONE, ROLES_READ, ROUTE_OFFLOAD,
     "status"},
    {HTTP_GET, "/api/v1/experiments/{key}", api_experiments_get, BODY_NONE, ROLES_READ,
     ROUTE_OFFLOAD, ""},
    {HTTP_PATCH, "/api/v1/experiments/{key}", api_experiments_patch, BODY_DEFAULT, ROLES_EDIT,
     ROUTE_MANAGE, ""},
    {HTTP_DELETE, "/api/v1/experiments/{key}", api_experiments_delete, BODY_NONE, ROLES_EDIT,
     ROUTE_MANAGE, ""},
    {HTTP_POST, "/api/v1/experiments/{key}/start", api_experiments_start, BODY_NONE, ROLES_EDIT,
     ROUTE_MANAGE, ""},
    {HTTP_POST, "/api/v1/experiments/{key}/pause", api_experiments_pause, BODY_NONE, ROLES_EDIT,
     ROUTE_MANAGE, ""},
    {HTTP_POST, "/api/v1/experiments/{key}/resume", api_experiments_resume, BODY_NONE, ROLES_EDIT,
     ROUTE_MANAGE, ""},
    {HTTP_POST, "/api/v1/experiments/{key}/stop", api_experiments_stop, BODY_DEFAULT, ROLES_EDIT,
     ROUTE_MANAGE, ""},
    {HTTP_POST, "/api/v1/experiments/{key}/archive", api_experiments_archive, BODY_NONE, ROLES_EDIT,
     ROUTE_MANAGE, ""},

    {HTTP_GET, "/api/v1/experiments/{key}/results", api_results, BODY_NONE, ROLES_READ,
     ROUTE_OFFLOAD, "method alpha cuped correction dimension format"},
    {HTTP_GET, "/api/v1/experiments/{key}/timeseries", api_timeseries, BODY_NONE, ROLES_READ,
     ROUTE_OFFLOAD, "metric method alpha cuped correction format"},
    {HTTP_POST, "/api/v1/power", api_power, BODY_DEFAULT, ROLES_READ, 0, ""},
    {HTTP_GET, "/api/v1/experiments/{key}/users", api_users_export, BODY_NONE, ROLES_READ,
     ROUTE_OFFLOAD, "metric format"},

    {HTTP_GET, "/api/features/{sdk_key}", api_features, BODY_NONE, ROLES_PUBLIC,
     ROUTE_CORS | ROUTE_SDK_KEY_PATH, NULL},
    {HTTP_OPTIONS, "/api/features/{sdk_key}", api_cors_preflight, BODY_NONE, ROLES_PUBLIC,
     ROUTE_CORS, NULL},
    {HTTP_POST, "/ofrep/v1/evaluate/flags/{key}", api_ofrep_flag, BODY_ASSIGN, ROLES_SDK,
     ROUTE_CORS | ROUTE_ASSIGN, NULL},
    {HTTP_OPTIONS, "/ofrep/v1/evaluate/flags/{key}", api_cors_preflight, BODY_NONE, ROLES_PUBLIC,
     ROUTE_CORS, NULL},
    {HTTP_POST, "/ofrep/v1/evaluate/flags", api_ofrep_bulk, BODY_ASSIGN, ROLES_SDK,
     ROUTE_CORS | ROUTE_ASSIGN, NULL},
    {HTTP_OPTIONS, "/ofrep/v1/evaluate/flags", api_cors_preflight, BODY_NONE, ROLES_PUBLIC,
     ROUTE_CORS, NULL},

    /* CORS: browsers on another origin send the exposures and events of the GrowthBook SDK
     * they evaluate with (the key is a header, never a cookie, so "*" is as safe as on OFREP) */
    {HTTP_POST, "/api/v1/events", api_ingest_events, BODY_INGEST, ROLES_SDK,
     ROUTE_CORS | ROUTE_INGEST | ROUTE_OFFLOAD_LARGE, ""},
    {HTTP_OPTIONS, "/api/v1/events", api_cors_preflight, BODY_NONE, ROLES_PUBLIC, ROUTE_CORS, ""},
    {HTTP_POST, "/api/v1/exposures", api_ingest_exposures, BODY_INGEST, ROLES_SDK,
     ROUTE_CORS | ROUTE_INGEST | ROUTE_OFFLOAD_LARGE, ""},
    {HTTP_OPTIONS, "/api/v1/exposures", api_cors_preflight, BODY_NONE, ROLES_PUBLIC, ROUTE_CORS,
     ""},
    {HTTP_POST, "/api/v1/assign", api_assign, BODY_ASSIGN, ROLES_SDK | ROLE_EDITOR,
     ROUTE_CORS | ROUTE_ASSIGN, ""},
    {HTTP_OPTIONS, "/api/v1/assign", api_cors_preflight, BODY_NONE, ROLES_PUBLIC, ROUTE_CORS, ""},
    {HTTP_GET, "/api/v1/experiments/{key}/assign", api_assign_one, BODY_NONE,
     ROLES_SDK | ROLE_EDITOR, ROUTE_ASSIGN, "user_id log_exposure explain attr.*"},

    /* issue 15: saved groups */
    /* a group of 100,000 ids is over the default 1 MiB: the ingestion cap (8 MiB) */
    {HTTP_POST, "/api/v1/saved-groups", api_saved_groups_create, BODY_INGEST, ROLES_EDIT,
     ROUTE_MANAGE | ROUTE_OFFLOAD, ""},
    {HTTP_GET, "/api/v1/saved-groups", api_saved_groups_list, BODY_NONE, ROLES_READ, ROUTE_OFFLOAD,
     "values"},
    /* one group's document is megabytes too (1.7 MB for 100,000 ids, ~70 ms to render): off
     * the MHD threads as the list (rev-iso28 4) */
    {HTTP_GET, "/api/v1/saved-groups/{key}", api_saved_groups_get, BODY_NONE, ROLES_READ,
     ROUTE_OFFLOAD, ""},
    {HTTP_PATCH, "/api/v1/saved-groups/{key}", api_saved_groups_patch, BODY_INGEST, ROLES_EDIT,
     ROUTE_MANAGE | ROUTE_OFFLOAD, ""},
    {HTTP_DELETE, "/api/v1/saved-groups/{key}", api_saved_groups_delete, BODY_NONE, ROLES_EDIT,
     ROUTE_MANAGE, ""},
    /* issue 15: GrowthBook SDK streaming and remote evaluation (the key is in the path) */
    {HTTP_GET, "/sub/{sdk_key}", api_sdk_sub, BODY_NONE, ROLES_PUBLIC,
     ROUTE_CORS | ROUTE_SDK_KEY_PATH, NULL},
    {HTTP_OPTIONS, "/sub/{sdk_key}", api_cors_preflight, BODY_NONE, ROLES_PUBLIC, ROUTE_CORS, NULL},
    {HTTP_POST, "/api/eval/{sdk_key}", api_sdk_eval, BODY_ASSIGN, ROLES_PUBLIC,
     ROUTE_CORS | ROUTE_SDK_KEY_PATH, NULL},
    {HTTP_OPTIONS, "/api/eval/{sdk_key}", api_cors_preflight, BODY_NONE, ROLES_PUBLIC, ROUTE_CORS,
     NULL},
};

const size_t http_routes_count = sizeof(http_routes) / sizeof(http_routes[0]);
