/*
 * ofrep_reply.c - errors on OpenFeature Remote Evaluation Protocol paths (/ofrep/...) in the
 * protocol's shape, {"key"?, "errorCode", "errorDetails"}, whichever layer refuses the
 * request (framing, authentication, Content-Type, the body cap, routing, rate limits, the
 * handler). OFREP providers read errorCode and errorDetails and report any other body as
 * GENERAL "response does not match", losing the message. The OFREP OpenAPI defines 400
 * (evaluationFailure: PARSE_ERROR, TARGETING_KEY_MISSING, INVALID_CONTEXT, GENERAL), 404
 * (flagNotFound), 401, 403, 429 and 500, and no 413 or 415: a body over a cap is
 * INVALID_CONTEXT and a body that is not JSON PARSE_ERROR, both 400. The single-flag path's
 * key is in every one of its errors (the schemas require it), shown safely: invalid UTF-8
 * repaired as in every error text. Stateless; any thread.
 */
#include <stdio.h>
#include <string.h>

#include "bunsen/util.h"
#include "http_int.h"

#define OFREP_PREFIX      "/ofrep/"
#define OFREP_FLAG_PREFIX "/ofrep/v1/evaluate/flags/"

bool http_req_is_ofrep(const struct http_req *r)
{
    return r->path != NULL && strncmp(r->path, OFREP_PREFIX, strlen(OFREP_PREFIX)) == 0;
}

/* The single-flag path's key (possibly ""), repaired, into out; false on other paths. */
static bool flag_key(const struct http_req *r, char *out, size_t cap)
{
    size_t n = strlen(OFREP_FLAG_PREFIX);
    if (r->path == NULL || strncmp(r->path, OFREP_FLAG_PREFIX, n) != 0 ||
        strchr(r->path + n, '/') != NULL) {
        return false;
    }
    snprintf(out, cap, "%s", r->path + n);
    utf8_repair(out);
    return true;
}

void http_reply_ofrep(struct http_req *r, int status, const char *code, const char *details)
{
    char shown[512], key[256];
    snprintf(shown, sizeof(shown), "%s", details);
    utf8_repair(shown);
    json_t *o = json_pack("{s:s, s:s}", "errorCode", code, "errorDetails", shown);
    if (o != NULL && flag_key(r, key, sizeof(key))) {
        json_object_set_new(o, "key", json_string(key));
    }
    http_reply_json(r, status, o);
}

void http_reply_ofrep_err(struct http_req *r, enum err_code code, const char *msg)
{
    switch (code) {
    case ERR_TOO_LARGE:
        http_reply_ofrep(r, 400, "INVALID_CONTEXT", msg);
        break;
    case ERR_MEDIA_TYPE:
        http_reply_ofrep(r, 400, "PARSE_ERROR", msg);
        break;
    case ERR_INVALID:
        http_reply_ofrep(r, 400, "GENERAL", msg);
        break;
    case ERR_NOT_FOUND:
        http_reply_ofrep(r, 404, "FLAG_NOT_FOUND", msg);
        break;
    default:
        /* 401, 403, 405, 408, 414, 429, 431, 500, 503: their status, the same body shape */
        http_reply_ofrep(r, err_code_status(code), "GENERAL", msg);
        break;
    }
}
