/*
 * openapi_spec.h - a line-based reader of docs/openapi.yaml for the unit tests that hold the
 * spec against the code (test_openapi.c: paths, roles, rate limits, 400s, the embedded copy;
 * test_openapi_query.c: query parameters), each linked with openapi_spec.o.
 *
 * Not a YAML parser: the file keeps a fixed layout. `paths:` at column 0, path keys indented 2
 * spaces, methods 4, an operation's own keys 6; `parameters:` lists in block style (`- name: x`
 * or `- $ref: '...'`, the entry's other keys 2 deeper than its dash), of a path item (dashes
 * at 6) or an operation (8); under `components:` (column 0), `parameters:` at 2, each
 * component at 4, its keys at 6. Anything else in those places is a layout problem, so a
 * change of layout fails the tests instead of hiding entries from them. Tests run from the
 * repository root (tests/run.sh). Single-threaded; the cmocka failures end the test.
 */
#ifndef BUNSEN_TEST_OPENAPI_SPEC_H
#define BUNSEN_TEST_OPENAPI_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "bunsen/http.h"

#define SPEC_PATH   "docs/openapi.yaml"
#define MAX_OPS     256
#define MAX_PATH    200
#define MAX_PROBLEM 8192
#define MAX_PARAMS  256

/* One operation of the spec's `paths:` section. */
struct spec_op {
    char method[8]; /* "get", "post", ... */
    char path[MAX_PATH];
    int line;               /* of the method key, for messages */
    bool has_roles;         /* an x-bunsen-roles line was seen */
    unsigned roles;         /* bitset of enum role */
    bool roles_ok;          /* every listed role is known */
    char rate[16];          /* x-bunsen-rate-limit value, "" when absent */
    bool has_400;           /* its responses list '400' */
    char unknown_query[16]; /* x-bunsen-unknown-query value, "" when absent */
};

/* One entry of a `parameters:` list: an operation's, a path item's (method "") or a component
 * (comp set, path ""). */
struct spec_param {
    char path[MAX_PATH]; /* the path item it is listed under, "" for a component */
    char method[8];      /* the operation that lists it, "" for a path item's own list */
    char comp[64];       /* its name under components/parameters, "" when listed in a path */
    char ref[64];        /* the component a `$ref` entry names, "" for an inline one */
    char name[64];
    char in[16];     /* "query", "path", "header"... */
    char prefix[32]; /* x-bunsen-query-prefix: stands for every name PREFIX..., "" when none */
    bool has_desc;   /* a description key */
    bool has_schema; /* a schema key */
    int line;        /* of its dash (or component key), for messages */
};

struct spec {
    struct spec_op ops[MAX_OPS];
    int n;
    struct spec_param params[MAX_PARAMS];
    int np;
    char problem[MAX_PROBLEM]; /* layout errors, one per line; "" when none */
};

/* Append a line (printf-style) to buf, a MAX_PROBLEM buffer; drops what does not fit. */
void spec_add_problem(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "get", "post", ... for m. */
const char *spec_method_name(enum http_method m);

/* Read the operations under `paths:`, their parameters and the components' parameters from
 * text (NUL-terminated) into *sp (overwritten). Layout errors go to sp->problem. */
void spec_parse(const char *text, struct spec *sp);

/* docs/openapi.yaml as a NUL-terminated malloc'd string (the caller frees it), its length in
 * *len; a cmocka failure when it cannot be read. */
char *spec_read(size_t *len);

/* docs/openapi.yaml parsed (malloc'd, the caller frees it); a cmocka failure naming the
 * layout problems when there are any. */
struct spec *spec_load(void);

/* The operation method ("get") path of sp, NULL when it is not described; lends from sp. */
const struct spec_op *spec_find(const struct spec *sp, const char *method, const char *path);

/* The route table's row for method ("get") and path pattern, NULL when there is none. */
const struct http_route *spec_route_find(const char *method, const char *path);

/* The entry pm stands for: itself when inline, its component when a `$ref`, NULL when that
 * component is missing; lends from sp. */
const struct spec_param *spec_param_resolve(const struct spec *sp, const struct spec_param *pm);

#endif
