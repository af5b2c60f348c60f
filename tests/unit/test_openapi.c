/* Unit tests for docs/openapi.yaml against the code: every (method, path) of the route table
 * (src/http/routes.c) is described and nothing else is, each operation's x-bunsen-roles and
 * x-bunsen-rate-limit say what the table says, each lists the 400 every route can answer (a
 * repeated query parameter), and the copy compiled into the binary (served at
 * /api/v1/openapi.yaml) is the file itself. Query parameters: test_openapi_query.c. The spec
 * is read by openapi_spec.c (a line-based reader: the layout it reads is in openapi_spec.h). */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/auth.h"
#include "bunsen/http.h"
#include "openapi_spec.h"

extern const char bunsen_openapi_yaml[];
extern const size_t bunsen_openapi_yaml_len;

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
    struct spec *sp = spec_load();
    char problem[MAX_PROBLEM] = "";
    for (size_t i = 0; i < http_routes_count; i++) {
        const char *m = spec_method_name(http_routes[i].method);
        if (spec_find(sp, m, http_routes[i].path) == NULL) {
            spec_add_problem(problem, "route %s %s is not in %s", m, http_routes[i].path,
                             SPEC_PATH);
        }
    }
    for (int i = 0; i < sp->n; i++) {
        const struct spec_op *op = &sp->ops[i];
        if (spec_route_find(op->method, op->path) == NULL) {
            spec_add_problem(problem, "%s line %d: %s %s is not in the route table", SPEC_PATH,
                             op->line, op->method, op->path);
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(sp->ops[j].method, op->method) == 0 &&
                strcmp(sp->ops[j].path, op->path) == 0) {
                spec_add_problem(problem, "%s line %d: %s %s is described twice", SPEC_PATH,
                                 op->line, op->method, op->path);
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
    struct spec *sp = spec_load();
    char problem[MAX_PROBLEM] = "";
    for (int i = 0; i < sp->n; i++) {
        const struct spec_op *op = &sp->ops[i];
        const struct http_route *rt = spec_route_find(op->method, op->path);
        if (rt == NULL) {
            continue; /* reported by test_paths_match_routes */
        }
        if (!op->has_roles || !op->roles_ok) {
            spec_add_problem(problem, "%s line %d: %s %s needs 'x-bunsen-roles: [role, ...]'",
                             SPEC_PATH, op->line, op->method, op->path);
        } else if (op->roles != rt->roles) {
            char want[64], got[64];
            roles_text(rt->roles, want, sizeof(want));
            roles_text(op->roles, got, sizeof(got));
            spec_add_problem(problem, "%s line %d: %s %s: x-bunsen-roles is %s, the route's %s",
                             SPEC_PATH, op->line, op->method, op->path, got, want);
        }
        const char *rate = (rt->flags & ROUTE_INGEST)   ? "ingest"
                           : (rt->flags & ROUTE_MANAGE) ? "manage"
                                                        : "";
        if (strcmp(op->rate, rate) != 0) {
            spec_add_problem(problem,
                             "%s line %d: %s %s: x-bunsen-rate-limit is '%s', the route's '%s'",
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
    struct spec *sp = spec_load();
    char problem[MAX_PROBLEM] = "";
    for (int i = 0; i < sp->n; i++) {
        const struct spec_op *op = &sp->ops[i];
        if (!op->has_400) {
            spec_add_problem(problem, "%s line %d: %s %s does not list '400'", SPEC_PATH, op->line,
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
    char *text = spec_read(&len);
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
