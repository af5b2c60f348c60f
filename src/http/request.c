/*
 * request.c - the request object's API for handlers (http.h): replies (JSON, errors,
 * bytes, headers; a slow read's rendered body of 64 KiB or more counted on the server's reply
 * memory while MHD holds it: struct counted), accessors (path parameters, query, headers, body,
 * caller), the JSON body parser and suspend/resume. The lifecycle that drives a request is in
 * server.c. Thread-safety: a request belongs to one thread at a time (see http.h).
 */
#include <microhttpd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/http.h"
#include "bunsen/jsonw.h"
#include "bunsen/log.h"
#include "bunsen/util.h"
#include "http_int.h"

/* ---- replies ---- */

static void set_response(struct http_req *r, int status, struct MHD_Response *resp, size_t bytes)
{
    if (r->resp != NULL) {
        MHD_destroy_response(r->resp); /* a second reply replaces the first: last wins */
    }
    r->resp = resp;
    r->status = status;
    r->resp_bytes = bytes;
}

/* The reply's headers and resp as r's reply (resp NULL: it could not be allocated). */
static void set_body(struct http_req *r, int status, struct MHD_Response *resp,
                     const char *content_type, size_t bytes)
{
    if (resp == NULL) {
        log_msg(LOG_ERROR, "cannot allocate a response");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    set_response(r, status, resp, bytes);
}

/* A rendered body of HTTP_REPLY_COUNTED_MIN bytes or more: its length is on the server's
 * count (http_replies_hold, replies.c) from the response's making until MHD destroys it (the reply
 * sent, or the connection gone: counted_free), when body (NULL: in the same block, after this)
 * is freed. */
struct counted {
    struct http_replies *rb;
    char key_id[HTTP_KEY_ID_LEN]; /* the request's key's, "" without one */
    size_t len;
    void *body;
};

static void counted_free(void *cls)
{
    struct counted *c = cls;
    http_replies_release(c->rb, c->key_id, c->len);
    free(c->body);
    free(c);
}

/* A response of data (len bytes, taken over when c->body is data) counted as c says; NULL
 * (nothing held, c and its body freed) when it cannot be made. */
static struct MHD_Response *counted_response(struct counted *c, char *data)
{
    http_replies_hold(c->rb, c->key_id, c->len);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback_cls(c->len, data, counted_free, c);
    if (resp == NULL) {
        counted_free(c);
    }
    return resp;
}

/* Counted: a slow read's (ROUTE_OFFLOAD) body of HTTP_REPLY_COUNTED_MIN or more, what the
 * budget refuses when over it. Others are not: public replies (the 157 KB OpenAPI document,
 * dashboard files, /metrics) would let anyone without a key spend the budget that keyed reads
 * are refused by (review diff31 F1), and their connections are capped per address. */
static bool reply_counted(const struct http_req *r, size_t len)
{
    return len >= HTTP_REPLY_COUNTED_MIN && r->srv != NULL && r->route != NULL &&
           (r->route->flags & ROUTE_OFFLOAD) != 0;
}

void http_reply_bytes(struct http_req *r, int status, const char *content_type, const char *data,
                      size_t len)
{
    if (reply_counted(r, len)) {
        struct counted *c = xmalloc(sizeof(*c) + len);
        c->rb = http_server_replies(r->srv);
        str_copy(c->key_id, sizeof(c->key_id), r->key_id);
        c->len = len;
        c->body = NULL;
        memcpy(c + 1, data, len);
        set_body(r, status, counted_response(c, (char *)(c + 1)), content_type, len);
        return;
    }
    set_body(r, status,
             MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY),
             content_type, len);
}

void http_reply_shared(struct http_req *r, int status, const char *content_type, const char *data,
                       size_t len, void (*release)(void *ctx), void *ctx)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
        len, (void *)(uintptr_t)data, release, ctx);
    if (resp == NULL) {
        release(ctx);
    }
    set_body(r, status, resp, content_type, len);
}

/* Reals in the shortest text that reads back as the same double (jsonw.h): 0.05 as "0.05",
 * and a client that sends a GET body back sends the numbers the daemon holds. */
void http_reply_json(struct http_req *r, int status, json_t *body)
{
    char *text = body ? jsonw_dumps(body, NULL) : NULL;
    json_decref(body);
    if (text == NULL) {
        log_json(LOG_ERROR, "cannot encode a JSON response", json_pack("{s:i}", "status", status));
        static const char fallback[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode the response\"}}";
        http_reply_bytes(r, 500, "application/json; charset=utf-8", fallback, sizeof(fallback) - 1);
        return;
    }
    http_reply_json_text(r, status, text, strlen(text));
}

void http_reply_json_text(struct http_req *r, int status, char *text, size_t len)
{
    struct MHD_Response *resp;
    if (reply_counted(r, len)) {
        struct counted *c = xmalloc(sizeof(*c));
        c->rb = http_server_replies(r->srv);
        str_copy(c->key_id, sizeof(c->key_id), r->key_id);
        c->len = len;
        c->body = text;
        resp = counted_response(c, text); /* text is freed with c when it fails */
    } else {
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
            free(text);
        }
    }
    if (resp == NULL) {
        log_msg(LOG_ERROR, "cannot allocate a response");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    set_response(r, status, resp, len);
}

void http_reply_err(struct http_req *r, const struct err *err)
{
    enum err_code code = err->code == ERR_OK ? ERR_INTERNAL : err->code;
    /* Messages quote input (paths with %FF, ids cut by "%.40s"): keep the body valid UTF-8,
     * else jansson refuses it and a 4xx would become a 500. */
    char msg[sizeof(err->msg)], field[sizeof(err->field)];
    snprintf(msg, sizeof(msg), "%s", err->msg[0] ? err->msg : err_code_name(code));
    snprintf(field, sizeof(field), "%s", err->field);
    utf8_repair(msg);
    utf8_repair(field);
    if (http_req_is_ofrep(r)) {
        http_reply_ofrep_err(r, code, msg);
    } else {
        json_t *e = json_pack("{s:s, s:s}", "code", err_code_name(code), "message", msg);
        if (e != NULL && field[0] != '\0') {
            json_object_set_new(e, "field", json_string(field));
        }
        http_reply_json(r, err_code_status(code), json_pack("{s:o}", "error", e));
    }
    if (code == ERR_UNAVAILABLE) {
        http_reply_header(r, "Retry-After", "1"); /* transient: queue full, disk, lock */
    }
    if (code == ERR_UNAUTH) {
        /* RFC 9110 11.6.1: a 401 says how to authenticate; every 401 is made here */
        http_reply_header(r, "WWW-Authenticate", "Bearer realm=\"bunsen\"");
    }
}

void http_reply_error(struct http_req *r, enum err_code code, const char *field, const char *fmt,
                      ...)
{
    struct err err;
    err.code = code;
    snprintf(err.field, sizeof(err.field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
    va_end(ap);
    http_reply_err(r, &err);
}

void http_reply_empty(struct http_req *r, int status)
{
    http_reply_bytes(r, status, "text/plain; charset=utf-8", "", 0);
}

/* The body of a 304: never read (MHD sends a 304's headers alone). */
static ssize_t not_modified_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

void http_reply_not_modified(struct http_req *r, size_t len)
{
    /* a response of the 200's size whose body is never read: MHD sends "Content-Length:
     * len" (an empty response said 0, which RFC 9110 forbids unless the 200 is empty) */
    struct MHD_Response *resp =
        MHD_create_response_from_callback(len, 1024, not_modified_read, NULL, NULL);
    if (resp == NULL) {
        log_msg(LOG_ERROR, "cannot allocate a response");
        return;
    }
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    set_response(r, 304, resp, 0);
}

void http_reply_revalidate(struct http_req *r)
{
    if (r->resp != NULL) {
        MHD_del_response_header(r->resp, "Cache-Control", "no-store");
        MHD_add_response_header(r->resp, "Cache-Control", "no-cache");
    }
}

void http_reply_header(struct http_req *r, const char *name, const char *value)
{
    if (r->resp != NULL) {
        MHD_add_response_header(r->resp, name, value);
    }
}

void http_reply_response(struct http_req *r, int status, struct MHD_Response *resp, size_t bytes)
{
    set_response(r, status, resp, bytes);
}

/* ---- accessors ---- */

struct app *http_req_app(const struct http_req *r)
{
    return r->app;
}

enum http_method http_req_method(const struct http_req *r)
{
    return r->method;
}

const char *http_req_path(const struct http_req *r)
{
    return r->path;
}

const char *http_req_param(const struct http_req *r, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < r->nparams; i++) {
        if (r->params[i].name_len == len && strncmp(r->params[i].name, name, len) == 0) {
            return r->params[i].value;
        }
    }
    return NULL;
}

struct query_find {
    const char *name;
    const char *value; /* the argument's value; NULL until found; "" for a bare `?name` */
};

static enum MHD_Result query_find_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct query_find *q = cls;
    if (key != NULL && strcmp(key, q->name) == 0) {
        q->value = value != NULL ? value : "";
        return MHD_NO;
    }
    return MHD_YES;
}

/* Query parameter names are case-sensitive: MHD_lookup_connection_value compares them as it
 * compares header names (ignoring case), so `?ALPHA=0.9&alpha=0.05` read 0.9 while the
 * repeated-name check (exact) let the pair through. A walk with an exact comparison instead.
 * A bare `?name` reads as "" (as `?name=` does, and as http_req_each_query gives it): MHD's
 * NULL read as absent, so `?log_exposure` logged and `?explain` did nothing, while
 * `log_exposure=` was a 400. */
const char *http_req_query(const struct http_req *r, const char *name)
{
    struct query_find q = {.name = name};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_find_arg, &q);
    return q.value;
}

const char *http_req_header(const struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct each_ctx {
    void (*fn)(void *ctx, const char *key, const char *value);
    void *ctx;
};

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    struct each_ctx *e = cls;
    e->fn(e->ctx, key, value ? value : "");
    return MHD_YES;
}

void http_req_each_query(const struct http_req *r,
                         void (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
    struct each_ctx e = {fn, ctx};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, each_arg, &e);
}

const char *http_req_body(const struct http_req *r, size_t *len)
{
    if (len != NULL) {
        *len = r->body.len;
    }
    return r->body.data ? r->body.data : "";
}

enum role http_req_role(const struct http_req *r)
{
    return r->role;
}

const char *http_req_key_id(const struct http_req *r)
{
    return r->key_id;
}

const char *http_req_key_name(const struct http_req *r)
{
    return r->key_name;
}

/* The digits of an integer token s[0..n) (-?[0-9]+) beyond json_int_t's range? */
static bool int_token_overflows(const char *s, size_t n)
{
    bool neg = n > 0 && s[0] == '-';
    const char *d = s + neg;
    size_t nd = n - neg;
    if (nd == 0) {
        return false;
    }
    for (size_t i = 0; i < nd; i++) {
        if (d[i] < '0' || d[i] > '9') {
            return false; /* a real, or no number: jansson's to read */
        }
    }
    static const char max[] = "9223372036854775807", min[] = "9223372036854775808";
    if (nd != sizeof(max) - 1) {
        return nd > sizeof(max) - 1;
    }
    return memcmp(d, neg ? min : max, nd) > 0;
}

/* text with ".0" after every integer token beyond json_int_t's range (so jansson reads it
 * as a real), malloc'd with *out_len; NULL when there is none. A lexer of JSON's tokens only
 * as far as it needs: strings (with their escapes) are copied as they are, and a number is
 * a run of number characters outside them. */
static char *big_ints_as_reals(const char *text, size_t len, size_t *out_len)
{
    char *out = NULL;
    size_t at = 0, cap = 0, copied = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
            continue;
        }
        if (c != '-' && (c < '0' || c > '9')) {
            continue;
        }
        size_t j = i + 1;
        while (j < len && ((text[j] >= '0' && text[j] <= '9') || text[j] == '.' || text[j] == 'e' ||
                           text[j] == 'E' || text[j] == '+' || text[j] == '-')) {
            j++;
        }
        if (int_token_overflows(text + i, j - i)) {
            if (out == NULL) {
                cap = len + len / 8 + 8; /* two bytes per integer of 19+ digits */
                out = xmalloc(cap + 1);
            }
            if (at + (j - copied) + 2 > cap) {
                cap = 2 * cap + (j - copied) + 2;
                out = xrealloc(out, cap + 1);
            }
            memcpy(out + at, text + copied, j - copied);
            at += j - copied;
            memcpy(out + at, ".0", 2);
            at += 2;
            copied = j;
        }
        i = j - 1;
    }
    if (out == NULL) {
        return NULL;
    }
    if (at + (len - copied) > cap) {
        out = xrealloc(out, at + (len - copied) + 1);
    }
    memcpy(out + at, text + copied, len - copied);
    at += len - copied;
    out[at] = '\0';
    *out_len = at;
    return out;
}

/* ---- what jansson may allocate for one body ----
 * A body's tree costs jansson 1 to ~40 times its bytes when its values are ones clients
 * send (long strings: ~2x; 10,000 exposures with 40 numeric attributes each: 12x; with 20
 * small object attributes each, {"aN":{"p":1}}: 25-40x, the empty object alone costing ~200
 * bytes), but 75 times for `{}` after `{}`: an 8 MiB body of them, nested inside one item
 * where no item count sees them ({"exposures":[{"attributes":{"a":[{},{},...]}}]}), took
 * 625 MB before any limit looked at it (security review, 2026-12). So while a body is parsed
 * the thread's jansson allocations are counted against 48 x its bytes + 64 MiB (448 MiB for
 * 8 MiB), and jansson, refused, frees what it built. A first bound of 16 x + 16 MiB refused
 * valid bodies of small nested attributes (diff review). Frees are not credited (jansson
 * frees little while it parses), so the count is what the parse allocated at most.
 * Thread-local: MHD parses one body per thread at a time; other threads' jansson work is
 * never counted. */
#define JSON_PARSE_BYTES_PER_BYTE 48
#define JSON_PARSE_SLACK          ((size_t)64 << 20)

static _Thread_local struct {
    bool counting;
    bool exceeded;
    size_t left;
} parse_alloc;

static void *counted_malloc(size_t n)
{
    if (parse_alloc.counting) {
        if (n > parse_alloc.left) {
            parse_alloc.exceeded = true;
            return NULL;
        }
        parse_alloc.left -= n;
    }
    return malloc(n);
}

void http_json_alloc_install(void)
{
    json_set_alloc_funcs(counted_malloc, free);
}

/* The allocation budget of a body of len bytes. */
static size_t parse_budget(size_t len)
{
    return len * JSON_PARSE_BYTES_PER_BYTE + JSON_PARSE_SLACK;
}

/* err->text of a parse the budget refused (code json_error_out_of_memory) */
#define JSON_BUDGET_TEXT "the body holds too many JSON values for its size"

/* err as a parse the budget refused: jansson set none */
static void budget_error(json_error_t *err)
{
    memset(err, 0, sizeof(*err));
    err->line = -1;
    err->column = -1;
    err->position = -1;
    snprintf(err->text, JSON_ERROR_TEXT_LENGTH - 1, "%s", JSON_BUDGET_TEXT);
    err->text[JSON_ERROR_TEXT_LENGTH - 1] = (char)json_error_out_of_memory;
}

static json_t *counted_loadb(const char *text, size_t len, size_t flags, json_error_t *err)
{
    parse_alloc.counting = true;
    parse_alloc.exceeded = false;
    parse_alloc.left = parse_budget(len);
    json_t *j = json_loadb(text, len, flags, err);
    parse_alloc.counting = false;
    return j;
}

json_t *http_json_loadb(const char *text, size_t len, size_t flags, json_error_t *err)
{
    json_error_t local;
    if (err == NULL) {
        err = &local;
    }
    /* jansson refused by the budget returns NULL from paths that set no error, and
     * json_loadb clears the text but not the code byte json_error_code() reads: zeroed, an
     * unset code reads json_error_unknown, never a stack byte (valgrind; review code29 F4) */
    memset(err, 0, sizeof(*err));
    json_t *j = counted_loadb(text, len, flags, err);
    if (j == NULL && parse_alloc.exceeded) {
        /* decided before the code: a hostile body is parsed once, not again with a fresh
         * budget for a number that the code byte happened to call too large */
        budget_error(err);
        return NULL;
    }
    if (j != NULL || json_error_code(err) != json_error_numeric_overflow) {
        return j;
    }
    /* JSON has one kind of number and JavaScript clients send integers past 2^63 as it
     * prints them (1e20: 100000000000000000000); jansson refused the whole body for one.
     * Read them as reals, as JSON_DECODE_INT_AS_REAL would, but only them: an integer field
     * beside one (hash_version, limits) stays an integer. */
    size_t n = 0;
    char *again = big_ints_as_reals(text, len, &n);
    if (again == NULL) {
        return NULL; /* a real beyond the double range: jansson's error stands */
    }
    memset(err, 0, sizeof(*err));
    j = counted_loadb(again, n, flags, err);
    free(again);
    if (j == NULL && parse_alloc.exceeded) {
        budget_error(err); /* not the first parse's "too big integer" */
    }
    return j;
}

/* jansson's token in "... near '<token>'" (without a string's quotes) into out; "" when the
 * message names none. */
static void near_token(const char *text, char *out, size_t n)
{
    out[0] = '\0';
    const char *p = strstr(text, " near '");
    if (p == NULL) {
        return;
    }
    p += strlen(" near '");
    size_t len = strlen(p);
    if (len > 0 && p[len - 1] == '\'') {
        len--;
    }
    if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
        p++;
        len -= 2;
    }
    snprintf(out, n, "%.*s", (int)len, p);
}

void http_json_error_text(const json_error_t *e, char *out, size_t n)
{
    char tok[64];
    near_token(e->text, tok, sizeof(tok));
    switch (json_error_code(e)) {
    case json_error_out_of_memory: /* the parse budget (http_json_loadb) */
        snprintf(out, n, "%s", JSON_BUDGET_TEXT);
        return;
    case json_error_null_character:
    case json_error_null_byte_in_key:
        snprintf(out, n, "strings may not contain \\u0000 (line %d column %d)", e->line, e->column);
        return;
    case json_error_numeric_overflow:
        snprintf(out, n, "a number is too large%s%s (line %d column %d)", tok[0] ? ": " : "", tok,
                 e->line, e->column);
        return;
    case json_error_invalid_utf8:
        snprintf(out, n, "invalid UTF-8 at byte %d", e->position);
        return;
    case json_error_duplicate_key:
        snprintf(out, n, "duplicate key '%s' (line %d column %d)", tok, e->line, e->column);
        return;
    case json_error_stack_overflow:
        snprintf(out, n, "the body nests too deeply (line %d column %d)", e->line, e->column);
        return;
    case json_error_premature_end_of_input:
        snprintf(out, n, "the body is not valid JSON: it ends early (line %d column %d)", e->line,
                 e->column);
        return;
    default:
        snprintf(out, n, "the body is not valid JSON at line %d column %d: %s", e->line, e->column,
                 e->text);
        return;
    }
}

json_t *http_req_json_body(struct http_req *r)
{
    size_t len = 0;
    const char *body = http_req_body(r, &len);
    if (len == 0) {
        http_reply_error(r, ERR_INVALID, NULL, "a JSON object body is required");
        return NULL;
    }
    /* JSON text never holds a raw NUL byte (inside strings it must be escaped), but jansson
     * 2.14 skips one that directly follows a number or a literal: its lexer puts back the byte
     * that ended the token, and a put-back NUL reads as an empty buffer, so {"n":12<NUL>}
     * parsed as {"n":12}. Refused here, before jansson sees the body. */
    const char *nul = memchr(body, '\0', len);
    if (nul != NULL) {
        http_reply_error(r, ERR_INVALID, NULL, "invalid JSON at byte %zu: a NUL byte",
                         (size_t)(nul - body));
        return NULL;
    }
    json_error_t jerr;
    json_t *root = http_json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL && parse_alloc.exceeded) {
        http_reply_error(r, ERR_TOO_LARGE, NULL,
                         "the body holds too many JSON values for its size: parsing it would "
                         "take more than %zu MiB",
                         parse_budget(len) >> 20);
        return NULL;
    }
    if (root == NULL) {
        char why[200];
        http_json_error_text(&jerr, why, sizeof(why));
        http_reply_error(r, ERR_INVALID, NULL, "%s", why);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        http_reply_error(r, ERR_INVALID, NULL, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

/* The request an offload thread is running the handler of (its connection suspended by
 * http_offload_submit), and whether that handler handed it on (suspended it again, e.g. to
 * the writer): then the thread that replies resumes it, not the offload thread. Thread-local,
 * so that the offload thread never reads r after the handler: once handed on, r may be
 * resumed and freed at any moment. */
static _Thread_local const struct http_req *offload_running;
static _Thread_local bool offload_handed_on;

void http_req_offload_begin(const struct http_req *r)
{
    offload_running = r;
    offload_handed_on = false;
}

bool http_req_offload_end(void)
{
    offload_running = NULL;
    return offload_handed_on;
}

void http_req_suspend(struct http_req *r)
{
    r->suspended = true;
    if (r == offload_running) {
        offload_handed_on = true; /* suspended already */
        return;
    }
    MHD_suspend_connection(r->conn);
}

void http_req_abandon(struct http_req *r)
{
    r->abandoned = true;
    MHD_resume_connection(r->conn); /* r is the connection's again: not touched after */
}

void http_req_resume(struct http_req *r)
{
    if (r == offload_running && offload_handed_on) {
        offload_handed_on =
            false; /* taken back at once (a full queue): the offload thread resumes it */
        return;
    }
    MHD_resume_connection(r->conn);
}
