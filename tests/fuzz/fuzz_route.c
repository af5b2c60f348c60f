/*
 * fuzz_route.c - libFuzzer target for the route matcher (http.h) against the real table
 * (http_routes, http_routes_count), with fuzzed method and path.
 *
 * Input: byte 0 picks the method (0 = unknown, then GET POST PUT PATCH DELETE HEAD
 * OPTIONS, mod 8); the rest is the decoded path as MHD hands it over (a C string, so it
 * ends at the first NUL). The scratch buffer is exactly strlen(path) + 1 bytes, as
 * server.c allocates it, so ASan sees any overflow. The result is compared with a
 * reference matcher written from the contract ('/'-separated segments; "{name}" matches
 * exactly one non-empty segment; the first matching row wins; the allowed set is every
 * method whose row matches the path, GET implying HEAD), and the parameters must be the
 * path's own segments. http_method_parse() gets the path as a method name too.
 */
#include "bunsen/http.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* The next '/'-separated segment of s at *pos (after its leading '/'): false at the end. */
static bool next_segment(const char *s, size_t *pos, const char **seg, size_t *len)
{
    if (s[*pos] != '/') {
        return false;
    }
    *seg = s + *pos + 1;
    *len = strcspn(*seg, "/");
    *pos += 1 + *len;
    return true;
}

/* Reference: does pattern match path? Fills up to HTTP_MAX_PARAMS values (as spans). */
static bool ref_match(const char *pattern, const char *path, const char **vals, size_t *vlens,
                      int *n)
{
    size_t pp = 0, sp = 0;
    *n = 0;
    if (pattern[0] != '/' || path[0] != '/') {
        return pattern[0] == '\0' && path[0] == '\0';
    }
    for (;;) {
        const char *ps, *ss;
        size_t pl, sl;
        bool more_p = next_segment(pattern, &pp, &ps, &pl);
        bool more_s = next_segment(path, &sp, &ss, &sl);
        if (!more_p || !more_s) {
            /* both must end together, and exactly at their terminators */
            return !more_p && !more_s && pattern[pp] == '\0' && path[sp] == '\0';
        }
        if (pl >= 2 && ps[0] == '{' && ps[pl - 1] == '}') {
            if (sl == 0 || *n >= HTTP_MAX_PARAMS) {
                return false;
            }
            vals[*n] = ss;
            vlens[*n] = sl;
            (*n)++;
        } else if (pl != sl || memcmp(ps, ss, pl) != 0) {
            return false;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    static const enum http_method methods[8] = {0,          HTTP_GET,    HTTP_POST, HTTP_PUT,
                                                HTTP_PATCH, HTTP_DELETE, HTTP_HEAD, HTTP_OPTIONS};
    enum http_method method = methods[data[0] % 8];
    char *path = fuzz_cstring(data + 1, size - 1);
    size_t plen = strlen(path);
    char *scratch = malloc(plen + 1);
    FUZZ_CHECK(scratch != NULL, "malloc");
    struct http_param params[HTTP_MAX_PARAMS];
    int nparams = -1;
    bool path_matched = true;
    unsigned allowed = 0xffff;
    const struct http_route *rt =
        http_route_match(http_routes, http_routes_count, method, path, scratch, params, &nparams,
                         &path_matched, &allowed);

    const struct http_route *want = NULL;
    const char *vals[HTTP_MAX_PARAMS];
    size_t vlens[HTTP_MAX_PARAMS];
    int want_n = 0;
    bool want_matched = false;
    unsigned want_allowed = 0;
    for (size_t i = 0; i < http_routes_count; i++) {
        const char *v[HTTP_MAX_PARAMS];
        size_t vl[HTTP_MAX_PARAMS];
        int n = 0;
        if (!ref_match(http_routes[i].path, path, v, vl, &n)) {
            continue;
        }
        want_matched = true;
        want_allowed |= http_routes[i].method | (http_routes[i].method == HTTP_GET ? HTTP_HEAD : 0);
        if (want == NULL && http_routes[i].method == method) {
            want = &http_routes[i];
            want_n = n;
            memcpy(vals, v, sizeof(v));
            memcpy(vlens, vl, sizeof(vl));
        }
    }
    FUZZ_CHECK(rt == want, "matched row %td, reference %td (method %d, path '%s')",
               rt ? rt - http_routes : -1, want ? want - http_routes : -1, (int)method, path);
    FUZZ_CHECK(path_matched == want_matched, "path_matched %d, reference %d", path_matched,
               want_matched);
    if (rt == NULL) {
        FUZZ_CHECK(allowed == want_allowed, "allowed %#x, reference %#x", allowed, want_allowed);
        FUZZ_CHECK(nparams == 0, "nparams %d without a route", nparams);
    } else {
        FUZZ_CHECK(rt->method == method && method != 0, "route for another method");
        FUZZ_CHECK(nparams == want_n && nparams >= 0 && nparams <= HTTP_MAX_PARAMS, "nparams %d",
                   nparams);
        for (int k = 0; k < nparams; k++) {
            FUZZ_CHECK(strlen(params[k].value) == vlens[k] &&
                           memcmp(params[k].value, vals[k], vlens[k]) == 0,
                       "param %d is '%s'", k, params[k].value);
            FUZZ_CHECK(params[k].value >= scratch &&
                           params[k].value + vlens[k] < scratch + plen + 1,
                       "param %d outside scratch", k);
            FUZZ_CHECK(params[k].name_len > 0 && params[k].name > rt->path &&
                           params[k].name[-1] == '{' && params[k].name[params[k].name_len] == '}',
                       "param %d name", k);
            FUZZ_CHECK(vlens[k] > 0 && memchr(vals[k], '/', vlens[k]) == NULL, "param %d value", k);
        }
    }
    enum http_method parsed = http_method_parse(path);
    FUZZ_CHECK(parsed == 0 || (parsed & (parsed - 1)) == 0, "method bits %d", (int)parsed);
    free(scratch);
    free(path);
    return 0;
}
