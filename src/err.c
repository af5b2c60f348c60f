/*
 * err.c - the error-value helpers of err.h and the one table that maps an
 * err_code to its API.md name and HTTP status.
 */
#include "bunsen/err.h"
#include "bunsen/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int status;
} codes[] = {
    [ERR_OK] = {"ok", 200},
    [ERR_INVALID] = {"invalid_argument", 400},
    [ERR_UNAUTH] = {"unauthenticated", 401},
    [ERR_DENIED] = {"permission_denied", 403},
    [ERR_NOT_FOUND] = {"not_found", 404},
    [ERR_METHOD] = {"method_not_allowed", 405},
    [ERR_CONFLICT] = {"conflict", 409},
    [ERR_TOO_LARGE] = {"payload_too_large", 413},
    [ERR_MEDIA_TYPE] = {"unsupported_media_type", 415},
    [ERR_RATE] = {"rate_limited", 429},
    [ERR_INTERNAL] = {"internal", 500},
    [ERR_UNAVAILABLE] = {"unavailable", 503},
    [ERR_PRECONDITION] = {"precondition_failed", 412},
    [ERR_URI_TOO_LONG] = {"uri_too_long", 414},
    [ERR_HEADERS_TOO_LARGE] = {"header_fields_too_large", 431},
};

int err_set(struct err *err, enum err_code code, const char *field, const char *fmt, ...)
{
    if (err == NULL) {
        return -1;
    }
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    /* quoted input may be cut inside a character ("%.40s", the buffer size) */
    utf8_repair(err->field);
    utf8_repair(err->msg);
    return -1;
}

void err_clear(struct err *err)
{
    if (err != NULL) { /* the texts end at their first NUL: no need to clear 580 bytes */
        err->code = ERR_OK;
        err->field[0] = '\0';
        err->msg[0] = '\0';
    }
}

const char *err_code_name(enum err_code code)
{
    if ((unsigned)code >= sizeof(codes) / sizeof(codes[0])) {
        return "internal";
    }
    return codes[code].name;
}

int err_code_status(enum err_code code)
{
    if ((unsigned)code >= sizeof(codes) / sizeof(codes[0])) {
        return 500;
    }
    return codes[code].status;
}
