/* openapi_spec.c - the line-based reader of docs/openapi.yaml the unit tests share
 * (openapi_spec.h says which layout it reads). */
#include "openapi_spec.h"

#include "unit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/auth.h"

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

void spec_add_problem(char *buf, const char *fmt, ...)
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

const char *spec_method_name(enum http_method m)
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

/* The value of a "key: value" line (s, n: the text after the indentation) into out, without
 * surrounding quotes. */
static void line_value(const char *s, size_t n, const char *key, char *out, size_t outn)
{
    size_t skip = strlen(key) + 2;
    const char *v = s + (n > skip ? skip : n);
    size_t vn = n > skip ? n - skip : 0;
    if (vn >= 2 && (v[0] == '\'' || v[0] == '"') && v[vn - 1] == v[0]) {
        v++;
        vn -= 2;
    }
    snprintf(out, outn, "%.*s", (int)(vn < outn ? vn : outn - 1), v);
}

/* A new entry of a parameters list (or a component), or NULL after noting the overflow. */
static struct spec_param *param_new(struct spec *sp, const char *path, const char *method,
                                    const char *comp, int lineno)
{
    if (sp->np == MAX_PARAMS) {
        spec_add_problem(sp->problem, "line %d: more than %d parameters", lineno, MAX_PARAMS);
        return NULL;
    }
    struct spec_param *pm = &sp->params[sp->np++];
    snprintf(pm->path, sizeof(pm->path), "%s", path);
    snprintf(pm->method, sizeof(pm->method), "%s", method);
    snprintf(pm->comp, sizeof(pm->comp), "%s", comp);
    pm->line = lineno;
    return pm;
}

/* One key of a parameter entry (s, n: the line from the key on). */
static void param_key(struct spec_param *pm, const char *s, size_t n)
{
    char key[64], v[MAX_PATH];
    bool bare = false;
    if (!line_key(s, n, key, sizeof(key), &bare)) {
        return;
    }
    line_value(s, n, key, v, sizeof(v));
    if (strcmp(key, "name") == 0) {
        snprintf(pm->name, sizeof(pm->name), "%.*s", (int)sizeof(pm->name) - 1, v);
    } else if (strcmp(key, "in") == 0) {
        snprintf(pm->in, sizeof(pm->in), "%.*s", (int)sizeof(pm->in) - 1, v);
    } else if (strcmp(key, "$ref") == 0) {
        const char *slash = strrchr(v, '/');
        snprintf(pm->ref, sizeof(pm->ref), "%.*s", (int)sizeof(pm->ref) - 1, slash ? slash + 1 : v);
    } else if (strcmp(key, "x-bunsen-query-prefix") == 0) {
        snprintf(pm->prefix, sizeof(pm->prefix), "%.*s", (int)sizeof(pm->prefix) - 1, v);
    } else if (strcmp(key, "description") == 0) {
        pm->has_desc = true;
    } else if (strcmp(key, "schema") == 0) {
        pm->has_schema = true;
    }
}

/* Read the operations under `paths:`, their parameters and the components' parameters from
 * text (NUL-terminated). Layout errors go to sp->problem. */
void spec_parse(const char *text, struct spec *sp)
{
    memset(sp, 0, sizeof(*sp));
    bool in_paths = false, seen_paths = false;
    bool in_components = false, in_comp_params = false;
    char path[MAX_PATH] = "";
    struct spec_op *op = NULL;    /* the operation whose keys are being read */
    bool in_responses = false;    /* inside op's `responses:` block */
    size_t list_dash = 0;         /* indent of the dashes of the parameters list read, 0: none */
    const char *list_method = ""; /* the method that list belongs to, "" the path item's */
    struct spec_param *pm = NULL; /* the parameter entry whose keys are being read */
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
            in_components = n == 11 && memcmp(s, "components:", 11) == 0;
            in_comp_params = false;
            list_dash = 0;
            pm = NULL;
            continue;
        }
        char key[MAX_PATH];
        bool bare = false;
        bool is_key = line_key(s, n, key, sizeof(key), &bare);
        if (in_components) {
            if (indent == 2) {
                in_comp_params = is_key && bare && strcmp(key, "parameters") == 0;
                pm = NULL;
            } else if (indent == 4 && in_comp_params) {
                pm = is_key && bare ? param_new(sp, "", "", key, lineno) : NULL;
            } else if (indent == 6 && pm != NULL) {
                param_key(pm, s, n);
            }
            continue;
        }
        if (!in_paths) {
            continue;
        }
        if (list_dash != 0 && indent >= list_dash) {
            if (indent == list_dash) {
                pm = NULL;
                if (n < 2 || s[0] != '-' || s[1] != ' ' || s[2] == '{') {
                    spec_add_problem(sp->problem,
                                     "line %d: expected a parameter in block style ('- name: x' or "
                                     "'- $ref: ...')",
                                     lineno);
                } else if ((pm = param_new(sp, path, list_method, "", lineno)) != NULL) {
                    param_key(pm, s + 2, n - 2);
                }
            } else if (indent == list_dash + 2 && pm != NULL) {
                param_key(pm, s, n);
            }
            continue;
        }
        list_dash = 0;
        pm = NULL;
        if (indent <= 6) {
            in_responses = false;
        }
        if (indent == 2) {
            op = NULL;
            if (!is_key || !bare || key[0] != '/') {
                spec_add_problem(sp->problem, "line %d: expected a path key such as '  /api/v1/x:'",
                                 lineno);
                path[0] = '\0';
                continue;
            }
            snprintf(path, sizeof(path), "%s", key);
        } else if (indent == 4) {
            op = NULL;
            if (!is_key) {
                spec_add_problem(sp->problem, "line %d: expected a method or path-item key",
                                 lineno);
            } else if (in_list(methods, key)) {
                if (path[0] == '\0' || !bare) {
                    spec_add_problem(sp->problem,
                                     "line %d: method '%s' outside a path or not a block", lineno,
                                     key);
                } else if (sp->n == MAX_OPS) {
                    spec_add_problem(sp->problem, "line %d: more than %d operations", lineno,
                                     MAX_OPS);
                } else {
                    op = &sp->ops[sp->n++];
                    snprintf(op->method, sizeof(op->method), "%.*s", (int)sizeof(op->method) - 1,
                             key);
                    snprintf(op->path, sizeof(op->path), "%s", path);
                    op->line = lineno;
                }
            } else if (!in_list(path_keys, key)) {
                spec_add_problem(sp->problem, "line %d: unknown path-item key '%s' under %s",
                                 lineno, key, path);
            } else if (strcmp(key, "parameters") == 0) {
                list_dash = bare && path[0] != '\0' ? 6 : 0;
                list_method = "";
            }
        } else if (indent == 6 && op != NULL && is_key && bare) {
            in_responses = strcmp(key, "responses") == 0;
            if (strcmp(key, "parameters") == 0) {
                list_dash = 8;
                list_method = op->method;
            }
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
            } else if (strcmp(key, "x-bunsen-unknown-query") == 0) {
                snprintf(op->unknown_query, sizeof(op->unknown_query), "%.*s",
                         (int)sizeof(op->unknown_query) - 1, v);
            }
        }
    }
    if (!seen_paths) {
        spec_add_problem(sp->problem, "no 'paths:' line at column 0");
    }
}

char *spec_read(size_t *len)
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

struct spec *spec_load(void)
{
    size_t len;
    char *text = spec_read(&len);
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

const struct spec_op *spec_find(const struct spec *sp, const char *method, const char *path)
{
    for (int i = 0; i < sp->n; i++) {
        if (strcmp(sp->ops[i].method, method) == 0 && strcmp(sp->ops[i].path, path) == 0) {
            return &sp->ops[i];
        }
    }
    return NULL;
}

const struct http_route *spec_route_find(const char *method, const char *path)
{
    for (size_t i = 0; i < http_routes_count; i++) {
        if (strcmp(spec_method_name(http_routes[i].method), method) == 0 &&
            strcmp(http_routes[i].path, path) == 0) {
            return &http_routes[i];
        }
    }
    return NULL;
}

/* The entry pm stands for: its component when it is a `$ref`, NULL when that is missing. */
const struct spec_param *spec_param_resolve(const struct spec *sp, const struct spec_param *pm)
{
    if (pm->ref[0] == '\0') {
        return pm;
    }
    for (int i = 0; i < sp->np; i++) {
        if (sp->params[i].comp[0] != '\0' && strcmp(sp->params[i].comp, pm->ref) == 0) {
            return &sp->params[i];
        }
    }
    return NULL;
}
