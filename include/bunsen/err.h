/*
 * err.h - errors as values.
 *
 * Every fallible function below main.c returns 0 / -1 (or NULL) and fills a
 * caller-owned `struct err`. Only http/ maps an err_code to an HTTP status and
 * the JSON error body of API.md; everything else just says what went wrong.
 * Thread-safety: none needed, a struct err is owned by one caller.
 */
#ifndef BUNSEN_ERR_H
#define BUNSEN_ERR_H

enum err_code {
    ERR_OK = 0,
    ERR_INVALID,           /* invalid_argument        400 */
    ERR_UNAUTH,            /* unauthenticated         401 */
    ERR_DENIED,            /* permission_denied       403 */
    ERR_NOT_FOUND,         /* not_found               404 */
    ERR_METHOD,            /* method_not_allowed      405 */
    ERR_CONFLICT,          /* conflict                409 */
    ERR_TOO_LARGE,         /* payload_too_large       413 */
    ERR_MEDIA_TYPE,        /* unsupported_media_type  415 */
    ERR_RATE,              /* rate_limited            429 */
    ERR_INTERNAL,          /* internal                500 */
    ERR_UNAVAILABLE,       /* unavailable             503 */
    ERR_PRECONDITION,      /* precondition_failed    412 (If-Match does not match the ETag) */
    ERR_URI_TOO_LONG,      /* uri_too_long        414 */
    ERR_HEADERS_TOO_LARGE, /* header_fields_too_large 431 */
};

struct err {
    enum err_code code;
    char field[64]; /* the input at fault, "" when none, e.g. "variants[1].weight" */
    char msg[512];  /* human-readable, safe to show to the caller (room for a long path) */
};

/* Fill err (may be NULL) with code, optional field (NULL = none) and a printf message; both
 * texts come out as valid UTF-8 (invalid bytes become '?'). Always returns -1 so that
 * `return err_set(...)` reads naturally. */
int err_set(struct err *err, enum err_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reset err to ERR_OK with empty field and message. Accepts NULL. */
void err_clear(struct err *err);

/* API.md code string ("invalid_argument", ...) and HTTP status of an err_code. */
const char *err_code_name(enum err_code code);
int err_code_status(enum err_code code);

#endif
