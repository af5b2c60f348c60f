/*
 * health.c - operational endpoints: liveness (/healthz: the process answers), readiness
 * (/readyz: a write goes through the writer and commits, so a read-only or full disk
 * reports 503; so does a database found corrupt by any query, or a SQLite file deleted or
 * replaced under the daemon: the adapter's ready check) and the OpenAPI description
 * (/api/v1/openapi.yaml, compiled in from docs/openapi.yaml).
 */
#include <stdlib.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/util.h"
#include "version.h" /* generated: build/gen/version.h */

void api_health_live(struct http_req *r)
{
    http_reply_json(r, 200, json_pack("{s:s, s:s}", "status", "ok", "version", BUNSEN_VERSION));
}

static int ready_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    (void)w;
    return store_apply_ready_check(tx, NULL, err);
}

static void ready_render(struct api_write *w)
{
    http_reply_json(w->req, 200, json_pack("{s:s}", "status", "ready"));
}

static void ready_cleanup(struct api_write *w)
{
    free(w);
}

void api_health_ready(struct http_req *r)
{
    if (store_is_corrupt(http_req_app(r)->store)) {
        http_reply_error(r, ERR_UNAVAILABLE, NULL,
                         "the database is corrupt: restore it from a backup (see README)");
        return;
    }
    struct api_write *w = xcalloc(1, sizeof(*w));
    w->apply = ready_apply;
    w->render = ready_render;
    w->cleanup = ready_cleanup;
    /* not retryable, so it runs alone (on PostgreSQL each daemon's check updates a row of
     * its own: a daemon frozen in its check holds up no other daemon's /readyz); urgent, so
     * it waits for the group in progress, not for every ingestion batch queued behind it */
    w->urgent = true;
    api_write_submit(r, w);
}

extern const char bunsen_openapi_yaml[];
extern const size_t bunsen_openapi_yaml_len;

void api_openapi(struct http_req *r)
{
    http_reply_bytes(r, 200, "application/yaml; charset=utf-8", bunsen_openapi_yaml,
                     bunsen_openapi_yaml_len);
}
