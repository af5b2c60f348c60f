/*
 * accept.c - content negotiation (http.h): which of the media types a route can send the
 * request's Accept header prefers, by media ranges and their q-values (RFC 9110 12.5.1), not
 * by a substring (`text/csv;q=0` names text/csv and refuses it). Pure but for reading the
 * header lines; no state.
 *
 * Threads: any thread that holds the request (MHD's, an offload thread).
 */
#include <microhttpd.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "bunsen/http.h"
#include "bunsen/util.h"
#include "http_int.h"

/* How one media range of an Accept header ranks a media type. */
struct rank {
    int specificity; /* 0 no range matched, 1 "* / *", 2 "type/ *", 3 "type/subtype" */
    double q;
};

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* s[0..n) without the white space around it. */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_ows(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_ows((*s)[*n - 1])) {
        (*n)--;
    }
}

static bool same_token(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && strncasecmp(a, b, an) == 0;
}

/* The q-value among the parameters p[0..n) (";q=0.5;charset=x"): 1 when none is given; false
 * when one is malformed (the range is then ignored, as a client's intent cannot be read). */
static bool range_q(const char *p, size_t n, double *q)
{
    *q = 1;
    while (n > 0) {
        const char *semi = memchr(p, ';', n);
        size_t len = semi ? (size_t)(semi - p) : n;
        const char *param = p;
        size_t plen = len;
        trim(&param, &plen);
        const char *eq = memchr(param, '=', plen);
        if (eq != NULL) {
            const char *name = param, *value = eq + 1;
            size_t nlen = (size_t)(eq - param), vlen = plen - nlen - 1;
            trim(&name, &nlen);
            trim(&value, &vlen);
            if (same_token(name, nlen, "q", 1) &&
                (real_parse_decimal(value, vlen, q) != 0 || !(*q >= 0 && *q <= 1))) {
                return false;
            }
        }
        p += len + (semi != NULL);
        n -= len + (semi != NULL);
    }
    return true;
}

/* How the Accept element e[0..n) ("text/csv;q=0.5") ranks type ("text/csv"). */
static struct rank range_rank(const char *e, size_t n, const char *type)
{
    struct rank none = {0, 0};
    const char *semi = memchr(e, ';', n);
    const char *range = e;
    size_t rlen = semi ? (size_t)(semi - e) : n;
    trim(&range, &rlen);
    const char *slash = memchr(range, '/', rlen);
    const char *tslash = strchr(type, '/');
    if (slash == NULL || tslash == NULL) {
        return none;
    }
    const char *sub = slash + 1;
    size_t mlen = (size_t)(slash - range), slen = rlen - mlen - 1;
    size_t tlen = (size_t)(tslash - type);
    int spec = 0;
    if (same_token(range, mlen, "*", 1) && same_token(sub, slen, "*", 1)) {
        spec = 1;
    } else if (same_token(range, mlen, type, tlen) && same_token(sub, slen, "*", 1)) {
        spec = 2;
    } else if (same_token(range, mlen, type, tlen) &&
               same_token(sub, slen, tslash + 1, strlen(tslash + 1))) {
        spec = 3;
    }
    double q = 1;
    if (spec == 0 || (semi != NULL && !range_q(semi + 1, (size_t)(e + n - semi - 1), &q))) {
        return none;
    }
    return (struct rank){spec, q};
}

/* How the whole header ranks type: its most specific matching range (the highest q among
 * ranges equally specific). */
static struct rank accept_rank(const char *accept, const char *type)
{
    struct rank best = {0, 0};
    const char *p = accept;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        struct rank r = range_rank(p, n, type);
        if (r.specificity > best.specificity ||
            (r.specificity == best.specificity && r.q > best.q)) {
            best = r;
        }
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    return best;
}

size_t http_accept_pick(const char *accept, const char *const *types, size_t n)
{
    if (accept == NULL || n == 0) {
        return 0;
    }
    const char *s = accept;
    size_t len = strlen(accept);
    trim(&s, &len);
    if (len == 0) {
        return 0; /* an empty header: as none */
    }
    size_t pick = 0;
    struct rank best = accept_rank(accept, types[0]);
    for (size_t i = 1; i < n; i++) {
        struct rank r = accept_rank(accept, types[i]);
        if (r.q > best.q || (r.q == best.q && r.q > 0 && r.specificity > best.specificity)) {
            best = r;
            pick = i;
        }
    }
    return pick;
}

struct accept_lines {
    struct buf joined;
};

static enum MHD_Result join_accept(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct accept_lines *a = cls;
    if (key != NULL && value != NULL && strcasecmp(key, MHD_HTTP_HEADER_ACCEPT) == 0) {
        /* several Accept lines are one list (RFC 9110 5.3); a list beyond the cap (the header
         * block's own is 16 KiB) keeps what fitted */
        if ((a->joined.len > 0 && buf_append(&a->joined, ",", 1) != 0) ||
            buf_append(&a->joined, value, strlen(value)) != 0) {
            return MHD_NO;
        }
    }
    return MHD_YES;
}

size_t http_req_accept_pick(const struct http_req *r, const char *const *types, size_t n)
{
    struct accept_lines a;
    buf_init(&a.joined, HTTP_HEADERS_MAX);
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, join_accept, &a);
    size_t pick = http_accept_pick(a.joined.data, types, n);
    buf_free(&a.joined);
    return pick;
}
