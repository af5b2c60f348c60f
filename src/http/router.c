/*
 * router.c - matching a method and path against the route table (http.h), and the
 * methods' names both ways (a request's method, an Allow header, the metrics' labels). Pure:
 * parameter values are copied into a caller-provided scratch buffer. Patterns are
 * '/'-separated; "{name}" matches exactly one non-empty segment.
 */
#include <stdio.h>
#include <string.h>

#include "bunsen/http.h"

enum http_method http_method_parse(const char *m)
{
    static const struct {
        const char *name;
        enum http_method m;
    } names[] = {{"GET", HTTP_GET},        {"POST", HTTP_POST},     {"PUT", HTTP_PUT},
                 {"PATCH", HTTP_PATCH},    {"DELETE", HTTP_DELETE}, {"HEAD", HTTP_HEAD},
                 {"OPTIONS", HTTP_OPTIONS}};
    for (size_t i = 0; m != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(m, names[i].name) == 0) {
            return names[i].m;
        }
    }
    return 0;
}

const char *http_method_name(enum http_method m)
{
    switch (m) {
    case HTTP_GET:
        return "GET";
    case HTTP_POST:
        return "POST";
    case HTTP_PUT:
        return "PUT";
    case HTTP_PATCH:
        return "PATCH";
    case HTTP_DELETE:
        return "DELETE";
    case HTTP_HEAD:
        return "HEAD";
    case HTTP_OPTIONS:
        return "OPTIONS";
    default:
        return "other";
    }
}

void http_methods_text(unsigned allowed, char *out, size_t n)
{
    static const struct {
        enum http_method m;
        const char *name;
    } names[] = {{HTTP_GET, "GET"},        {HTTP_HEAD, "HEAD"},   {HTTP_POST, "POST"},
                 {HTTP_PUT, "PUT"},        {HTTP_PATCH, "PATCH"}, {HTTP_DELETE, "DELETE"},
                 {HTTP_OPTIONS, "OPTIONS"}};
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (allowed & names[i].m) {
            int w = snprintf(out + used, n - used, "%s%s", used ? ", " : "", names[i].name);
            if (w < 0 || (size_t)w >= n - used) {
                break;
            }
            used += (size_t)w;
        }
    }
}

struct span {
    const char *p;
    size_t len;
};

/* Length of the segment at s (up to '/' or the end). */
static size_t seg_len(const char *s)
{
    size_t n = 0;
    while (s[n] != '/' && s[n] != '\0') {
        n++;
    }
    return n;
}

/* Does pattern match path? On success *n parameters, their names and values as spans.
 * Literal segments are compared in one pass (no strcspn): every request tries most of
 * the table, and most routes fail on their first differing byte. */
static bool match_one(const char *pattern, const char *path, struct span *names,
                      struct span *values, int *n)
{
    *n = 0;
    const char *p = pattern, *s = path;
    while (*p == '/' && *s == '/') {
        p++;
        s++;
        if (p[0] == '{') {
            size_t plen = seg_len(p);
            size_t slen = seg_len(s);
            if (plen >= 2 && p[plen - 1] == '}') {
                if (slen == 0 || *n >= HTTP_MAX_PARAMS) {
                    return false;
                }
                names[*n] = (struct span){p + 1, plen - 2};
                values[*n] = (struct span){s, slen};
                (*n)++;
                p += plen;
                s += slen;
                continue;
            }
        }
        while (*p != '/' && *p != '\0' && *p == *s) {
            p++;
            s++;
        }
        if ((*p != '/' && *p != '\0') || (*s != '/' && *s != '\0')) {
            return false;
        }
    }
    return *p == '\0' && *s == '\0';
}

/* Copy the matched values into scratch and fill params (each value is preceded by a '/' in
 * the path, so values plus NULs fit in strlen(path) + 1 bytes). */
static void fill_params(const struct span *ns, const struct span *vs, int n, char *scratch,
                        struct http_param *params, int *nparams)
{
    char *out = scratch;
    for (int k = 0; k < n; k++) {
        memcpy(out, vs[k].p, vs[k].len);
        out[vs[k].len] = '\0';
        params[k] = (struct http_param){ns[k].p, ns[k].len, out};
        out += vs[k].len + 1;
    }
    *nparams = n;
}

/* This thread's last match. A service repeats the same few paths (/api/v1/assign,
 * /api/v1/events, an experiment's GET .../assign), and the scan tries every route of the
 * method before it: ~2,000 instructions of a ~69,000-instruction /assign (callgrind).
 * Keyed by the table, the method and the whole path, a hit is the route the scan would
 * return; its parameters are read again from the path by that one route. */
#define ROUTE_MEMO_PATH 128
static _Thread_local struct {
    const struct http_route *routes;
    size_t nroutes, index;
    enum http_method method;
    char path[ROUTE_MEMO_PATH];
} memo;

const struct http_route *http_route_match(const struct http_route *routes, size_t nroutes,
                                          enum http_method method, const char *path, char *scratch,
                                          struct http_param *params, int *nparams,
                                          bool *path_matched, unsigned *allowed)
{
    *path_matched = false;
    *allowed = 0;
    *nparams = 0;
    struct span ns[HTTP_MAX_PARAMS], vs[HTTP_MAX_PARAMS];
    int n = 0;
    if (memo.routes == routes && memo.nroutes == nroutes && memo.method == method &&
        strcmp(memo.path, path) == 0 && match_one(routes[memo.index].path, path, ns, vs, &n)) {
        *path_matched = true;
        fill_params(ns, vs, n, scratch, params, nparams);
        return &routes[memo.index];
    }
    /* First the routes of this method (the usual case stops here), then, only when none
     * matched, every route for the 405 answer's Allow set. */
    for (size_t i = 0; i < nroutes; i++) {
        const struct http_route *rt = &routes[i];
        if (rt->method != method || !match_one(rt->path, path, ns, vs, &n)) {
            continue;
        }
        *path_matched = true;
        fill_params(ns, vs, n, scratch, params, nparams);
        size_t len = strlen(path);
        if (len < sizeof(memo.path)) {
            memo.routes = routes;
            memo.nroutes = nroutes;
            memo.index = i;
            memo.method = method;
            memcpy(memo.path, path, len + 1);
        }
        return rt;
    }
    for (size_t i = 0; i < nroutes; i++) {
        const struct http_route *rt = &routes[i];
        if (match_one(rt->path, path, ns, vs, &n)) {
            *path_matched = true;
            *allowed |= rt->method | (rt->method == HTTP_GET ? HTTP_HEAD : 0);
        }
    }
    return NULL;
}
