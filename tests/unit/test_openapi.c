/* Unit tests for docs/openapi.yaml against the code: every (method, path) of the route table
 * (src/http/routes.c) is described and nothing else is, each operation's x-bunsen-roles and
 * x-bunsen-rate-limit say what the table says, each lists the 400 every route can answer (a
 * repeated query parameter), and the copy compiled into the binary (served at
 * /api/v1/openapi.yaml) is the file itself.
 *
 * The spec is read with a line-based reader, not a YAML parser, so the file keeps a fixed
 * layout: `paths:` at column 0, path keys indented 2 spaces, methods 4, an operation's own
 * keys 6. Tests run from the repository root (tests/run.sh). */
#include "unit.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/auth.h"
#include "bunsen/http.h"

extern const char bunsen_openapi_yaml[];
extern const size_t bunsen_openapi_yaml_len;

#define SPEC_PATH   "docs/openapi.yaml"
#define MAX_OPS     256
#define MAX_PATH    200
#define MAX_PROBLEM 8192

/* One operation of the spec's `paths:` section. */
struct spec_op {
    char method[8]; /* "get", "post", ... */
    char path[MAX_PATH];
    int line;       /* of the method key, for messages */
    bool has_roles; /* an x-bunsen-roles line was seen */
    unsigned roles; /* bitset of enum role */
    bool roles_ok;  /* every listed role is known */
    char rate[16];  /* x-bunsen-rate-limit value, "" when absent */
    bool has_400;   /* its responses list '400' */
};

struct spec {
    struct spec_op ops[MAX_OPS];
    int n;
    char problem[MAX_PROBLEM]; /* layout errors, one per line; "" when none */
};

static const char *const methods[] = {"get",  "put",   "post",  "delete", "options",
                                      "head", "patch", "trace", NULL};
/* Keys a path item may hold besides its operations. */
static const char *const path_keys[] = {"parameters", "summary", "description", "servers", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(list[i], s) == 0) {
            return true;
        }
    }
    return false;
}

static void add_problem(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_problem(char *buf, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= MAX_PROBLEM) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, MAX_PROBLEM - used, fmt, ap);
    va_end(ap);
    used = strlen(buf);
    if (used + 1 < MAX_PROBLEM) {
        buf[used] = '\n';
        buf[used + 1] = '\0';
    }
}

static const char *method_name(enum http_method m)
{
    switch (m) {
    case HTTP_GET:
        return "get";
    case HTTP_POST:
        return "post";
    case HTTP_PUT:
        return "put";
    case HTTP_PATCH:
        return "patch";
    case HTTP_DELETE:
        return "delete";
    case HTTP_HEAD:
        return "head";
    case HTTP_OPTIONS:
        return "options";
    }
    return "?";
}

/* The key of a "key:" or "key: value" line (text after the indentation) into out, without
 * surrounding quotes; *bare is true when nothing follows the colon. False when the line
 * holds no key. */
static bool line_key(const char *s, size_t n, char *out, size_t outn, bool *bare)
{
    size_t colon = 0;
    char quote = (s[0] == '\'' || s[0] == '"') ? s[0] : '\0';
    size_t start = quote ? 1 : 0;
    for (colon = start; colon < n; colon++) {
        if (quote ? s[colon] == quote : s[colon] == ':') {
            break;
        }
    }
    size_t end = colon;
    if (quote) {
        colon++; /* past the closing quote */
        if (colon >= n || s[colon] != ':') {
            return false;
        }
    }
    if (colon >= n || end - start + 1 > outn) {
        return false;
    }
    memcpy(out, s + start, end - start);
    out[end - start] = '\0';
    *bare = colon + 1 == n;
    return colon + 1 == n || s[colon + 1] == ' ';
}

/* "[admin, editor]" -> bitset; *ok false when a name is not a role. */
static unsigned parse_roles(const char *v, bool *ok)
{
    unsigned roles = 0;
    *ok = v[0] == '[';
    const char *p = v + 1;
    while (*ok && *p != '\0' && *p != ']') {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        char name[32];
        size_t k = 0;
        while (*p != '\0' && *p != ',' && *p != ']' && *p != ' ' && k + 1 < sizeof(name)) {
            name[k++] = *p++;
        }
        name[k] = '\0';
        if (k == 0) {
            continue;
        }
        enum role r = auth_role_parse(name);
        if (r == ROLE_NONE) {
            *ok = false;
        }
        roles |= (unsigned)r;
    }
    return roles;
}

/* A role bitset as "[admin, editor]" into out. */
static void roles_text(unsigned roles, char *out, size_t n)
{
    static const enum role all[] = {ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER, ROLE_SDK};
    size_t used = (size_t)snprintf(out, n, "[");
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]) && used < n; i++) {
        if (roles & (unsigned)all[i]) {
            used += (size_t)snprintf(out + used, n - used, "%s%s", used > 1 ? ", " : "",
                                     auth_role_name(all[i]));
        }
    }
    if (used < n) {
        snprintf(out + used, n - used, "]");
    }
}

/* Read the operations under `paths:` from text (NUL-terminated). Layout errors go to
 * sp->problem. */
static void spec_parse(const char *text, struct spec *sp)
{
    memset(sp, 0, sizeof(*sp));
    bool in_paths = false, seen_paths = false;
    char path[MAX_PATH] = "";
    struct spec_op *op = NULL; /* the operation whose keys are being read */
    bool in_responses = false; /* inside op's `responses:` block */
    int lineno = 0;
    for (const char *p = text; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *line = p;
        p = eol ? eol + 1 : p + len;
        lineno++;
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ')) {
            len--;
        }
        size_t indent = 0;
        while (indent < len && line[indent] == ' ') {
            indent++;
        }
        if (indent == len || line[indent] == '#') {
            continue; /* blank or comment */
        }
        const char *s = line + indent;
        size_t n = len - indent;
        if (indent == 0) {
            in_paths = n == 6 && memcmp(s, "paths:", 6) == 0;
            seen_paths = seen_paths || in_paths;
            continue;
        }
        if (!in_paths) {
            continue;
        }
        char key[MAX_PATH];
        bool bare = false;
        bool is_key = line_key(s, n, key, sizeof(key), &bare);
        if (indent <= 6) {
            in_responses = false;
        }
        if (indent == 2) {
            op = NULL;
            if (!is_key || !bare || key[0] != '/') {
                add_problem(sp->problem, "line %d: expected a path key such as '  /api/v1/x:'",
                            lineno);
                path[0] = '\0';
                continue;
            }
            snprintf(path, sizeof(path), "%s", key);
        } else if (indent == 4) {
            op = NULL;
            if (!is_key) {
                add_problem(sp->problem, "line %d: expected a method or path-item key", lineno);
            } else if (in_list(methods, key)) {
                if (path[0] == '\0' || !bare) {
                    add_problem(sp->problem, "line %d: method '%s' outside a path or not a block",
                                lineno, key);
                } else if (sp->n == MAX_OPS) {
                    add_problem(sp->problem, "line %d: more than %d operations", lineno, MAX_OPS);
                } else {
                    op = &sp->ops[sp->n++];
                    snprintf(op->method, sizeof(op->method), "%.*s", (int)sizeof(op->method) - 1,
                             key);
                    snprintf(op->path, sizeof(op->path), "%s", path);
                    op->line = lineno;
                }
            } else if (!in_list(path_keys, key)) {
                add_problem(sp->problem, "line %d: unknown path-item key '%s' under %s", lineno,
                            key, path);
            }
        } else if (indent == 6 && op != NULL && is_key && bare) {
            in_responses = strcmp(key, "responses") == 0;
        } else if (indent == 8 && op != NULL && in_responses && is_key) {
            op->has_400 = op->has_400 || strcmp(key, "400") == 0;
        } else if (indent == 6 && op != NULL && is_key && !bare) {
            char v[MAX_PATH]; /* the value, up to the end of the line */
            size_t skip = strlen(key) + 2;
            snprintf(v, sizeof(v), "%.*s", (int)(n > skip ? n - skip : 0), s + skip);
            if (strcmp(key, "x-bunsen-roles") == 0) {
                op->has_roles = true;
                op->roles = parse_roles(v, &op->roles_ok);
            } else if (strcmp(key, "x-bunsen-rate-limit") == 0) {
                snprintf(op->rate, sizeof(op->rate), "%.*s", (int)sizeof(op->rate) - 1, v);
            }
        }
    }
    if (!seen_paths) {
        add_problem(sp->problem, "no 'paths:' line at column 0");
    }
}

static char *read_spec(size_t *len)
{
    FILE *f = fopen(SPEC_PATH, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s (the tests run from the repository root)", SPEC_PATH);
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static struct spec *load_spec(void)
{
    size_t len;
    char *text = read_spec(&len);
    struct spec *sp = malloc(sizeof(*sp));
    assert_non_null(sp);
    spec_parse(text, sp);
    free(text);
    if (sp->problem[0] != '\0') {
        print_error("%s: layout problems:\n%s", SPEC_PATH, sp->problem);
        free(sp);
        fail_msg("%s does not follow the layout this test reads", SPEC_PATH);
    }
    return sp;
}

static const struct spec_op *spec_find(const struct spec *sp, const char *method, const char *path)
{
    for (int i = 0; i < sp->n; i++) {
        if (strcmp(sp->ops[i].method, method) == 0 && strcmp(sp->ops[i].path, path) == 0) {
            return &sp->ops[i];
        }
    }
    return NULL;
}

static const struct http_route *route_find(const char *method, const char *path)
{
    for (size_t i = 0; i < http_routes_count; i++) {
        if (strcmp(method_name(http_routes[i].method), method) == 0 &&
            strcmp(http_routes[i].path, path) == 0) {
            return &http_routes[i];
        }
    }
    return NULL;
}

/* The reader on a small document: paths and methods found, other sections ignored, the
 * section ends at the next top-level key, and layout mistakes are reported. */
static void test_reader(void **state)
{
    (void)state;
    static const char doc[] = "openapi: 3.1.0\n"
                              "info:\n"
                              "  /not-a-path:\n"
                              "    get:\n"
                              "paths:\n"
                              "  # a comment\n"
                              "  /a:\n"
                              "    get:\n"
                              "      x-bunsen-roles: [admin, viewer]\n"
                              "      responses:\n"
                              "        '200': {description: ok}\n"
                              "        '400': {$ref: '#/components/responses/BadRequest'}\n"
                              "    post:\n"
                              "      x-bunsen-roles: []\n"
                              "      x-bunsen-rate-limit: manage\r\n"
                              "      description: '400'\n"
                              "      responses:\n"
                              "        '200':\n"
                              "          description: |\n"
                              "            '400': not a response\n"
                              "\n"
                              "  '/b/{key}':\n"
                              "    parameters:\n"
                              "      - $ref: '#/components/parameters/Key'\n"
                              "    options:\n"
                              "components:\n"
                              "  /c:\n"
                              "    delete:\n";
    struct spec *sp = malloc(sizeof(*sp));
    assert_non_null(sp);
    spec_parse(doc, sp);
    assert_string_equal(sp->problem, "");
    assert_int_equal(sp->n, 3);
    assert_string_equal(sp->ops[0].method, "get");
    assert_string_equal(sp->ops[0].path, "/a");
    assert_true(sp->ops[0].has_roles && sp->ops[0].roles_ok);
    assert_int_equal(sp->ops[0].roles, ROLE_ADMIN | ROLE_VIEWER);
    assert_string_equal(sp->ops[0].rate, "");
    assert_true(sp->ops[0].has_400);
    assert_string_equal(sp->ops[1].method, "post");
    assert_int_equal(sp->ops[1].roles, 0);
    assert_string_equal(sp->ops[1].rate, "manage");
    assert_false(sp->ops[1].has_400);
    assert_string_equal(sp->ops[2].method, "options");
    assert_string_equal(sp->ops[2].path, "/b/{key}");
    assert_false(sp->ops[2].has_roles);

    spec_parse("paths:\n  /a:\n    gett:\n  /b: {}\n    get:\n      x-bunsen-roles: [root]\n", sp);
    assert_non_null(strstr(sp->problem, "line 3: unknown path-item key 'gett'"));
    assert_non_null(strstr(sp->problem, "line 4: expected a path key"));
    assert_non_null(strstr(sp->problem, "line 5: method 'get' outside a path"));
    spec_parse("paths: {}\n", sp);
    assert_non_null(strstr(sp->problem, "no 'paths:' line"));
    free(sp);
}

/* Every route is in the spec and every operation of the spec is a route. */
static void test_paths_match_routes(void **state)
{
    (void)state;
    struct spec *sp = load_spec();
    char problem[MAX_PROBLEM] = "";
    for (size_t i = 0; i < http_routes_count; i++) {
        const char *m = method_name(http_routes[i].method);
        if (spec_find(sp, m, http_routes[i].path) == NULL) {
            add_problem(problem, "route %s %s is not in %s", m, http_routes[i].path, SPEC_PATH);
        }
    }
    for (int i = 0; i < sp->n; i++) {
        const struct spec_op *op = &sp->ops[i];
        if (route_find(op->method, op->path) == NULL) {
            add_problem(problem, "%s line %d: %s %s is not in the route table", SPEC_PATH, op->line,
                        op->method, op->path);
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(sp->ops[j].method, op->method) == 0 &&
                strcmp(sp->ops[j].path, op->path) == 0) {
                add_problem(problem, "%s line %d: %s %s is described twice", SPEC_PATH, op->line,
                            op->method, op->path);
            }
        }
    }
    free(sp);
    if (problem[0] != '\0') {
        print_error("%s", problem);
        fail_msg("the spec and src/http/routes.c disagree");
    }
}

/* x-bunsen-roles lists exactly the roles of the route; x-bunsen-rate-limit names its class. */
static void test_roles_and_limits_match_routes(void **state)
{
    (void)state;
    struct spec *sp = load_spec();
    char problem[MAX_PROBLEM] = "";
    for (int i = 0; i < sp->n; i++) {
        const struct spec_op *op = &sp->ops[i];
        const struct http_route *rt = route_find(op->method, op->path);
        if (rt == NULL) {
            continue; /* reported by test_paths_match_routes */
        }
        if (!op->has_roles || !op->roles_ok) {
            add_problem(problem, "%s line %d: %s %s needs 'x-bunsen-roles: [role, ...]'", SPEC_PATH,
                        op->line, op->method, op->path);
        } else if (op->roles != rt->roles) {
            char want[64], got[64];
            roles_text(rt->roles, want, sizeof(want));
            roles_text(op->roles, got, sizeof(got));
            add_problem(problem, "%s line %d: %s %s: x-bunsen-roles is %s, the route's %s",
                        SPEC_PATH, op->line, op->method, op->path, got, want);
        }
        const char *rate = (rt->flags & ROUTE_INGEST)   ? "ingest"
                           : (rt->flags & ROUTE_MANAGE) ? "manage"
                                                        : "";
        if (strcmp(op->rate, rate) != 0) {
            add_problem(problem, "%s line %d: %s %s: x-bunsen-rate-limit is '%s', the route's '%s'",
                        SPEC_PATH, op->line, op->method, op->path, op->rate, rate);
        }
    }
    free(sp);
    if (problem[0] != '\0') {
        print_error("%s", problem);
        fail_msg("roles or rate limits in the spec disagree with src/http/routes.c");
    }
}

/* Every route answers 400 to a repeated query parameter (and most to their own parameters or
 * body), so every operation lists it: a client generated from the spec gets a typed error. */
static void test_every_operation_lists_400(void **state)
{
    (void)state;
    struct spec *sp = load_spec();
    char problem[MAX_PROBLEM] = "";
    for (int i = 0; i < sp->n; i++) {
        const struct spec_op *op = &sp->ops[i];
        if (!op->has_400) {
            add_problem(problem, "%s line %d: %s %s does not list '400'", SPEC_PATH, op->line,
                        op->method, op->path);
        }
    }
    free(sp);
    if (problem[0] != '\0') {
        print_error("%s", problem);
        fail_msg("operations without a 400 response");
    }
}

/* The embedded copy is the file (the build regenerates it when the file changes). */
static void test_embedded_copy(void **state)
{
    (void)state;
    size_t len;
    char *text = read_spec(&len);
    if (len != bunsen_openapi_yaml_len || memcmp(text, bunsen_openapi_yaml, len) != 0) {
        size_t i = 0, line = 1;
        size_t n = len < bunsen_openapi_yaml_len ? len : bunsen_openapi_yaml_len;
        while (i < n && text[i] == bunsen_openapi_yaml[i]) {
            line += text[i] == '\n';
            i++;
        }
        free(text);
        fail_msg("the embedded copy (%zu bytes) differs from %s (%zu bytes) from line %zu",
                 bunsen_openapi_yaml_len, SPEC_PATH, len, line);
    }
    free(text);
    assert_int_equal(strlen(bunsen_openapi_yaml), bunsen_openapi_yaml_len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_paths_match_routes),
        cmocka_unit_test(test_roles_and_limits_match_routes),
        cmocka_unit_test(test_every_operation_lists_400),
        cmocka_unit_test(test_embedded_copy),
    };
    return cmocka_run_group_tests_name("openapi", tests, NULL, NULL);
}
