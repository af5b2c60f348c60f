/* Unit tests for the query parameters docs/openapi.yaml lists against those the route table
 * (src/http/routes.c) takes, both ways: an /api/v1 route refuses any other with a 400, so a
 * parameter the spec lists and the route does not take is a client's 400, and one the route
 * takes and the spec does not list is a feature nobody finds. Each operation lists exactly the
 * names of its route (a prefix parameter, `x-bunsen-query-prefix: attr.`, as the table's
 * "attr.*"), each with a description and a schema; an operation whose route checks none (NULL
 * in the table: SDK, OFREP, health, metrics, /api/v1/me, the document itself) says
 * `x-bunsen-unknown-query: ignored` and may list any. The spec is read by openapi_spec.c. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/http.h"
#include "openapi_spec.h"

/* Is name one of the route table's space-separated query names? */
static bool query_taken(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, " ");
        if (n == len && strncmp(p, name, n) == 0) {
            return true;
        }
        p += n;
        p += *p == ' ';
    }
    return false;
}

/* The query parameters op lists (its path item's and its own) as the route table names them
 * ("attr.*" for x-bunsen-query-prefix attr.), space-separated into out; an entry without a
 * description or schema, a dangling $ref or a name listed twice goes to problem. */
static void op_query(const struct spec *sp, const struct spec_op *op, char *out, size_t outn,
                     char *problem)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < sp->np; i++) {
        const struct spec_param *pm = &sp->params[i];
        if (pm->comp[0] != '\0' || strcmp(pm->path, op->path) != 0 ||
            (pm->method[0] != '\0' && strcmp(pm->method, op->method) != 0)) {
            continue;
        }
        const struct spec_param *def = spec_param_resolve(sp, pm);
        if (def == NULL) {
            spec_add_problem(problem, "%s line %d: no components/parameters/%s", SPEC_PATH,
                             pm->line, pm->ref);
            continue;
        }
        if (strcmp(def->in, "query") != 0) {
            continue;
        }
        char name[80];
        snprintf(name, sizeof(name), "%s%s", def->prefix[0] ? def->prefix : def->name,
                 def->prefix[0] ? "*" : "");
        if (def->name[0] == '\0' || !def->has_desc || !def->has_schema) {
            spec_add_problem(problem,
                             "%s line %d: %s %s: query parameter '%s' needs a name, a "
                             "description and a schema",
                             SPEC_PATH, def->line, op->method, op->path, name);
        }
        if (query_taken(out, name)) {
            spec_add_problem(problem, "%s line %d: %s %s lists query parameter '%s' twice",
                             SPEC_PATH, pm->line, op->method, op->path, name);
        } else if (used < outn) {
            used += (size_t)snprintf(out + used, outn - used, "%s%s", used ? " " : "", name);
        }
    }
}

/* The query parameters op lists against the route table's list for it, both ways, into
 * problem. query NULL: the route checks none, so op must say `x-bunsen-unknown-query:
 * ignored` and may list any. */
static void query_compare(const struct spec *sp, const struct spec_op *op, const char *query,
                          char *problem)
{
    char listed[1024];
    op_query(sp, op, listed, sizeof(listed), problem);
    bool ignored = strcmp(op->unknown_query, "ignored") == 0;
    if (query == NULL || ignored || op->unknown_query[0] != '\0') {
        if (query == NULL && !ignored) {
            spec_add_problem(problem,
                             "%s line %d: %s %s ignores unknown query parameters (NULL in "
                             "the route table): say 'x-bunsen-unknown-query: ignored'",
                             SPEC_PATH, op->line, op->method, op->path);
        } else if (query != NULL) {
            spec_add_problem(problem,
                             "%s line %d: %s %s: x-bunsen-unknown-query is '%s', but the "
                             "route refuses unknown query parameters",
                             SPEC_PATH, op->line, op->method, op->path, op->unknown_query);
        }
        return;
    }
    for (const char *p = query; *p != '\0';) {
        size_t n = strcspn(p, " ");
        char name[80];
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        if (!query_taken(listed, name)) {
            spec_add_problem(problem,
                             "%s line %d: %s %s takes query parameter '%s' (routes.c), "
                             "the spec does not list it",
                             SPEC_PATH, op->line, op->method, op->path, name);
        }
        p += n;
        p += *p == ' ';
    }
    for (const char *p = listed; *p != '\0';) {
        size_t n = strcspn(p, " ");
        char name[80];
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        if (!query_taken(query, name)) {
            spec_add_problem(problem,
                             "%s line %d: %s %s lists query parameter '%s', routes.c does "
                             "not take it (a 400)",
                             SPEC_PATH, op->line, op->method, op->path, name);
        }
        p += n;
        p += *p == ' ';
    }
}

/* The reader on parameters: a path item's and an operation's lists, a `$ref` to a component,
 * a prefix, x-bunsen-unknown-query, and a flow-style entry reported. */
static void test_reader_params(void **state)
{
    (void)state;
    static const char doc[] = "paths:\n"
                              "  /a/{key}:\n"
                              "    parameters:\n"
                              "      - $ref: '#/components/parameters/Key'\n"
                              "    get:\n"
                              "      x-bunsen-unknown-query: ignored\n"
                              "      parameters:\n"
                              "        - name: alpha\n"
                              "          in: query\n"
                              "          description: >-\n"
                              "            - name: not-a-parameter\n"
                              "          schema: {type: number}\n"
                              "        - name: attributes\n"
                              "          in: query\n"
                              "          x-bunsen-query-prefix: 'attr.'\n"
                              "      responses:\n"
                              "        '400': {}\n"
                              "components:\n"
                              "  parameters:\n"
                              "    Key:\n"
                              "      name: key\n"
                              "      in: path\n"
                              "  schemas:\n"
                              "    Other:\n"
                              "      name: x\n";
    struct spec *sp = malloc(sizeof(*sp));
    assert_non_null(sp);
    spec_parse(doc, sp);
    assert_string_equal(sp->problem, "");
    assert_int_equal(sp->n, 1);
    assert_string_equal(sp->ops[0].unknown_query, "ignored");
    assert_true(sp->ops[0].has_400);
    assert_int_equal(sp->np, 4);
    assert_string_equal(sp->params[0].path, "/a/{key}");
    assert_string_equal(sp->params[0].method, "");
    assert_string_equal(sp->params[0].ref, "Key");
    assert_string_equal(sp->params[1].method, "get");
    assert_string_equal(sp->params[1].name, "alpha");
    assert_string_equal(sp->params[1].in, "query");
    assert_true(sp->params[1].has_desc && sp->params[1].has_schema);
    assert_string_equal(sp->params[2].prefix, "attr.");
    assert_false(sp->params[2].has_desc);
    assert_string_equal(sp->params[3].comp, "Key");
    assert_string_equal(spec_param_resolve(sp, &sp->params[0])->in, "path");

    char listed[256], problem[MAX_PROBLEM] = "";
    op_query(sp, &sp->ops[0], listed, sizeof(listed), problem);
    assert_string_equal(listed, "alpha attr.*");
    assert_non_null(strstr(problem, "'attr.*' needs a name, a description and a schema"));

    spec_parse("paths:\n  /a:\n    get:\n      parameters:\n        - {name: a, in: query}\n", sp);
    assert_non_null(strstr(sp->problem, "line 5: expected a parameter in block style"));
    free(sp);
}

/* The comparison fails when either side changes alone: a parameter dropped from or added to
 * the route's list, or a route that stops checking, against the real spec. */
static void test_query_compare_both_ways(void **state)
{
    (void)state;
    struct spec *sp = spec_load();
    const struct spec_op *op = spec_find(sp, "get", "/api/v1/experiments/{key}/assign");
    assert_non_null(op);
    char problem[MAX_PROBLEM] = "";
    query_compare(sp, op, "user_id log_exposure explain attr.*", problem);
    assert_string_equal(problem, "");
    query_compare(sp, op, "user_id log_exposure attr.*", problem);
    assert_non_null(strstr(problem, "lists query parameter 'explain', routes.c does not"));
    problem[0] = '\0';
    query_compare(sp, op, "user_id log_exposure explain attr.* debug", problem);
    assert_non_null(strstr(problem, "takes query parameter 'debug' (routes.c), the spec"));
    problem[0] = '\0';
    query_compare(sp, op, NULL, problem);
    assert_non_null(strstr(problem, "say 'x-bunsen-unknown-query: ignored'"));
    problem[0] = '\0';
    op = spec_find(sp, "get", "/healthz");
    assert_non_null(op);
    query_compare(sp, op, NULL, problem);
    assert_string_equal(problem, "");
    query_compare(sp, op, "", problem);
    assert_non_null(strstr(problem, "x-bunsen-unknown-query is 'ignored', but the route"));
    free(sp);
}

/* Each operation lists exactly the query parameters its route takes (src/http/routes.c), each
 * with a description and a schema; one whose route checks none says so. */
static void test_query_params_match_routes(void **state)
{
    (void)state;
    struct spec *sp = spec_load();
    char problem[MAX_PROBLEM] = "";
    for (int i = 0; i < sp->n; i++) {
        const struct http_route *rt = spec_route_find(sp->ops[i].method, sp->ops[i].path);
        if (rt != NULL) {
            query_compare(sp, &sp->ops[i], rt->query, problem);
        }
    }
    free(sp);
    if (problem[0] != '\0') {
        print_error("%s", problem);
        fail_msg("query parameters in the spec disagree with src/http/routes.c");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_params),
        cmocka_unit_test(test_query_compare_both_ways),
        cmocka_unit_test(test_query_params_match_routes),
    };
    return cmocka_run_group_tests_name("openapi_query", tests, NULL, NULL);
}
