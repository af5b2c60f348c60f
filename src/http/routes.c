/*
 * routes.c - the route table: method, path pattern, handler, body cap, roles allowed.
 * No logic here. Order matters only between patterns that could match the same path
 * (the first match wins): literal routes before parameterised ones.
 */
#include "bunsen/api.h"
#include "bunsen/http.h"

const struct http_route http_routes[] = {
    {HTTP_GET, "/healthz", api_health_live, BODY_NONE, ROLES_PUBLIC},
    {HTTP_GET, "/readyz", api_health_ready, BODY_NONE, ROLES_PUBLIC},
    {HTTP_GET, "/metrics", api_metrics_prom, BODY_NONE, ROLES_PUBLIC},

    {HTTP_GET, "/api/v1/me", api_me, BODY_NONE, ROLES_READ | ROLE_SDK},
    {HTTP_POST, "/api/v1/keys", api_keys_create, BODY_DEFAULT, ROLES_ADMIN},
    {HTTP_GET, "/api/v1/keys", api_keys_list, BODY_NONE, ROLES_ADMIN},
    {HTTP_DELETE, "/api/v1/keys/{id}", api_keys_revoke, BODY_NONE, ROLES_ADMIN},
    {HTTP_GET, "/api/v1/audit", api_audit_list, BODY_NONE, ROLES_ADMIN},

    {HTTP_POST, "/api/v1/metrics", api_metrics_create, BODY_DEFAULT, ROLES_EDIT},
    {HTTP_GET, "/api/v1/metrics", api_metrics_list, BODY_NONE, ROLES_READ},
    {HTTP_GET, "/api/v1/metrics/{key}", api_metrics_get, BODY_NONE, ROLES_READ},
    {HTTP_PATCH, "/api/v1/metrics/{key}", api_metrics_patch, BODY_DEFAULT, ROLES_EDIT},
    {HTTP_DELETE, "/api/v1/metrics/{key}", api_metrics_delete, BODY_NONE, ROLES_EDIT},

    {HTTP_POST, "/api/v1/experiments", api_experiments_create, BODY_DEFAULT, ROLES_EDIT},
    {HTTP_GET, "/api/v1/experiments", api_experiments_list, BODY_NONE, ROLES_READ},
    {HTTP_GET, "/api/v1/experiments/{key}", api_experiments_get, BODY_NONE, ROLES_READ},
    {HTTP_PATCH, "/api/v1/experiments/{key}", api_experiments_patch, BODY_DEFAULT, ROLES_EDIT},
    {HTTP_DELETE, "/api/v1/experiments/{key}", api_experiments_delete, BODY_NONE, ROLES_EDIT},
    {HTTP_POST, "/api/v1/experiments/{key}/start", api_experiments_start, BODY_NONE, ROLES_EDIT},
    {HTTP_POST, "/api/v1/experiments/{key}/pause", api_experiments_pause, BODY_NONE, ROLES_EDIT},
    {HTTP_POST, "/api/v1/experiments/{key}/resume", api_experiments_resume, BODY_NONE, ROLES_EDIT},
    {HTTP_POST, "/api/v1/experiments/{key}/stop", api_experiments_stop, BODY_DEFAULT, ROLES_EDIT},
    {HTTP_POST, "/api/v1/experiments/{key}/archive", api_experiments_archive, BODY_NONE,
     ROLES_EDIT},

    {HTTP_GET, "/api/v1/experiments/{key}/results", api_results, BODY_NONE, ROLES_READ},
    {HTTP_GET, "/api/v1/experiments/{key}/timeseries", api_timeseries, BODY_NONE, ROLES_READ},
    {HTTP_POST, "/api/v1/power", api_power, BODY_DEFAULT, ROLES_READ},

    {HTTP_POST, "/api/v1/events", api_ingest_events, BODY_INGEST, ROLES_SDK},
    {HTTP_POST, "/api/v1/exposures", api_ingest_exposures, BODY_INGEST, ROLES_SDK},
    {HTTP_POST, "/api/v1/assign", api_assign, BODY_DEFAULT, ROLES_SDK | ROLE_EDITOR},
    {HTTP_GET, "/api/v1/experiments/{key}/assign", api_assign_one, BODY_NONE,
     ROLES_SDK | ROLE_EDITOR},
};

const size_t http_routes_count = sizeof(http_routes) / sizeof(http_routes[0]);
