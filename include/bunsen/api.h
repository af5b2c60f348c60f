/*
 * api.h - the request handlers, one file per resource under src/api/. Each handler
 * parses its input, calls core/store/stats, and renders JSON; it replies exactly once
 * (possibly asynchronously after a commit). Routes: src/http/routes.c.
 */
#ifndef BUNSEN_API_H
#define BUNSEN_API_H

#include "bunsen/http.h"

/* health.c */
void api_health_live(struct http_req *r);  /* GET /healthz */
void api_health_ready(struct http_req *r); /* GET /readyz  */

/* admin.c: keys, the caller's identity, the audit log */
void api_keys_create(struct http_req *r); /* POST   /api/v1/keys */
void api_keys_list(struct http_req *r);   /* GET    /api/v1/keys */
void api_keys_revoke(struct http_req *r); /* DELETE /api/v1/keys/{id} */
void api_me(struct http_req *r);          /* GET    /api/v1/me */
void api_audit_list(struct http_req *r);  /* GET    /api/v1/audit */

#endif
