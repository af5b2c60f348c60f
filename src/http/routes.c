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

    {HTTP_GET, "/api/v1/me", api_me, BODY_NONE, ROLES_READ | ROLE_SDK},
    {HTTP_POST, "/api/v1/keys", api_keys_create, BODY_DEFAULT, ROLES_ADMIN},
    {HTTP_GET, "/api/v1/keys", api_keys_list, BODY_NONE, ROLES_ADMIN},
    {HTTP_DELETE, "/api/v1/keys/{id}", api_keys_revoke, BODY_NONE, ROLES_ADMIN},
    {HTTP_GET, "/api/v1/audit", api_audit_list, BODY_NONE, ROLES_ADMIN},
};

const size_t http_routes_count = sizeof(http_routes) / sizeof(http_routes[0]);
