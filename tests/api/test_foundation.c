/*
 * API tests for the foundation: health, auth and the role matrix, keys (over the API and the
 * CLI) and the audit log, the rules of key names and other texts, the CLI's exit codes, and
 * the modes of the admin key file and the database. One daemon is shared by the HTTP tests
 * (group setup); CLI tests start their own processes. The HTTP layer's own behaviour (error
 * statuses, body caps, static files, rate limit, idle connections) is test_foundation_http.c.
 */
#include "harness.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct daemon D;

static int setup(void **state)
{
    (void)state;
    return daemon_start(&D, NULL);
}

/* A clean SIGTERM shutdown exits 0; under ASan a leak would make it exit 23. */
static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static void test_health(void **state)
{
    (void)state;
    int st;
    json_t *j = http_json(D.port, "GET", "/healthz", NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    /* the newest schema the binary has: builds of one version differ by it (rev-ops28 2) */
    assert_true(json_is_integer(json_object_get(j, "schema")));
    assert_int_equal(json_integer_value(json_object_get(j, "schema")), harness_schema_newest());
    json_decref(j);
    j = http_json(D.port, "GET", "/readyz", NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ready");
    json_decref(j);
}

static void test_unauthenticated(void **state)
{
    (void)state;
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", "/api/v1/keys", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    assert_string_equal(resp_error_code(&r), "unauthenticated");
    char ct[128];
    assert_true(resp_header(&r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "application/json; charset=utf-8");
    resp_free(&r);
    assert_int_equal(http_req(D.port, "GET", "/api/v1/keys", "bsn_garbage", NULL, &r), 0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    /* a malformed Authorization header */
    const char raw[] =
        "GET /api/v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Zm9vOmJhcg==\r\n"
        "Connection: close\r\n\r\n";
    assert_int_equal(http_raw(D.port, raw, sizeof(raw) - 1, &r), 0);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    /* X-API-Key works as an alternative header */
    char raw2[512];
    int n =
        snprintf(raw2, sizeof(raw2),
                 "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nConnection: close\r\n\r\n",
                 D.admin_key);
    assert_int_equal(http_raw(D.port, raw2, (size_t)n, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

/* Every 401 says how to authenticate (RFC 9110 11.6.1: a 401 carries WWW-Authenticate); none
 * did. The key routes (no key, a bad scheme, an unknown key, with a body too), an sdk key in
 * the path (GrowthBook payload, SSE, remote evaluation) and OFREP. A 403 (a key of the wrong
 * role) does not. */
static void expect_challenge(struct resp *r, const char *what)
{
    char v[128] = "";
    if (r->status != 401 || !resp_header(r, "WWW-Authenticate", v, sizeof(v)) ||
        strcmp(v, "Bearer realm=\"bunsen\"") != 0) {
        fail_msg("%s: status %d, WWW-Authenticate '%s'", what, r->status, v);
    }
    resp_free(r);
}

static void test_www_authenticate(void **state)
{
    (void)state;
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", "/api/v1/keys", NULL, NULL, &r), 0);
    expect_challenge(&r, "no key");
    assert_int_equal(http_req(D.port, "GET", "/api/v1/keys", "bsn_garbage", NULL, &r), 0);
    expect_challenge(&r, "unknown key");
    const char raw[] = "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Zm9vOmJhcg==\r\n"
                       "Connection: close\r\n\r\n";
    assert_int_equal(http_raw(D.port, raw, sizeof(raw) - 1, &r), 0);
    expect_challenge(&r, "Basic scheme");
    assert_int_equal(http_req(D.port, "POST", "/api/v1/events", "bsn_garbage",
                              "{\"events\":[{\"user_id\":\"u\",\"event\":\"e\"}]}", &r),
                     0);
    expect_challenge(&r, "unknown key with a body");
    assert_int_equal(http_req(D.port, "POST", "/ofrep/v1/evaluate/flags/x", "bsn_garbage",
                              "{\"context\":{\"targetingKey\":\"u\"}}", &r),
                     0);
    expect_challenge(&r, "OFREP");
    assert_int_equal(http_req(D.port, "GET", "/api/features/bsn_garbage", NULL, NULL, &r), 0);
    expect_challenge(&r, "features payload");
    assert_int_equal(http_req(D.port, "GET", "/sub/bsn_garbage", NULL, NULL, &r), 0);
    expect_challenge(&r, "SSE");
    assert_int_equal(http_req(D.port, "POST", "/api/eval/bsn_garbage", NULL,
                              "{\"attributes\":{\"id\":\"u\"}}", &r),
                     0);
    expect_challenge(&r, "remote evaluation");
    /* a valid key of another role in the path: the same 401 and message as an unknown string
     * (a 403 confirmed that a leaked viewer key is valid; rev-sec2 6) */
    char viewer[64];
    harness_key(&D, "viewer", viewer, sizeof(viewer), NULL, 0);
    const char *path_routes[][2] = {
        {"GET", "/api/features/"}, {"GET", "/sub/"}, {"POST", "/api/eval/"}};
    for (int i = 0; i < 3; i++) {
        char msg[2][200];
        const char *keys[] = {viewer, "bsn_garbage"};
        for (int k = 0; k < 2; k++) {
            bool post = strcmp(path_routes[i][0], "POST") == 0;
            assert_int_equal(http_req(D.port, path_routes[i][0],
                                      fmt("%s%s", path_routes[i][1], keys[k]), NULL,
                                      post ? "{\"attributes\":{\"id\":\"u\"}}" : NULL, &r),
                             0);
            json_t *j = json_loads(r.body, 0, NULL);
            const char *m =
                json_string_value(json_object_get(json_object_get(j, "error"), "message"));
            snprintf(msg[k], sizeof(msg[k]), "%s", m != NULL ? m : "");
            json_decref(j);
            expect_challenge(&r, path_routes[i][1]);
        }
        assert_string_equal(msg[0], msg[1]);
    }
    char sdk[64];
    harness_key(&D, "sdk", sdk, sizeof(sdk), NULL, 0);
    assert_int_equal(http_req(D.port, "GET", "/api/v1/keys", sdk, NULL, &r), 0);
    assert_int_equal(r.status, 403);
    assert_false(resp_header(&r, "WWW-Authenticate", (char[8]){0}, 8));
    resp_free(&r);
}

static void test_role_matrix(void **state)
{
    (void)state;
    const char *roles[] = {"editor", "viewer", "sdk"};
    for (int i = 0; i < 3; i++) {
        char key[64];
        harness_key(&D, roles[i], key, sizeof(key), NULL, 0);
        struct resp r;
        /* admin-only routes: 403 for everyone else, never 401 */
        const char *paths[] = {"/api/v1/keys", "/api/v1/audit"};
        for (int p = 0; p < 2; p++) {
            assert_int_equal(http_req(D.port, "GET", paths[p], key, NULL, &r), 0);
            assert_int_equal(r.status, 403);
            assert_string_equal(resp_error_code(&r), "permission_denied");
            resp_free(&r);
        }
        assert_int_equal(http_req(D.port, "POST", "/api/v1/keys", key,
                                  "{\"name\":\"x\",\"role\":\"admin\"}", &r),
                         0);
        assert_int_equal(r.status, 403);
        resp_free(&r);
        /* /me answers every role with its own role */
        int st;
        json_t *me = http_json(D.port, "GET", "/api/v1/me", key, NULL, &st);
        assert_int_equal(st, 200);
        assert_string_equal(json_string_value(json_object_get(me, "role")), roles[i]);
        json_decref(me);
    }
}

/* rev-sec2 5: the audit log names actors by their key's name. A second active key of one name,
 * a daemon actor's name ("cli", "system", "bootstrap-admin") or an invisible formatting
 * character is refused, naming the field; the CLI refuses the same. */
static int key_status(const char *body, char *field, size_t fn, char *id, size_t idn)
{
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", "/api/v1/keys", D.admin_key, body, &r), 0);
    json_t *j = resp_json(&r);
    const char *f = json_string_value(json_object_get(json_object_get(j, "error"), "field"));
    snprintf(field, fn, "%s", f != NULL ? f : "");
    if (id != NULL) {
        const char *i = json_string_value(json_object_get(j, "id"));
        snprintf(id, idn, "%s", i != NULL ? i : "");
    }
    json_decref(j);
    int st = r.status;
    resp_free(&r);
    return st;
}

static void test_key_names(void **state)
{
    (void)state;
    char field[64], id[64];
    assert_int_equal(key_status("{\"name\":\"dup\",\"role\":\"sdk\"}", field, 64, id, 64), 201);
    assert_int_equal(key_status("{\"name\":\"dup\",\"role\":\"viewer\"}", field, 64, NULL, 0), 409);
    assert_string_equal(field, "name");
    /* once the first is revoked, the name is free again */
    int st = 0;
    json_decref(http_json(D.port, "DELETE", fmt("/api/v1/keys/%s", id), D.admin_key, NULL, &st));
    assert_int_equal(st, 200);
    assert_int_equal(key_status("{\"name\":\"dup\",\"role\":\"viewer\"}", field, 64, NULL, 0), 201);
    static const char *const reserved[] = {"cli", "System", "bootstrap-admin"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(
            key_status(fmt("{\"name\":\"%s\",\"role\":\"sdk\"}", reserved[i]), field, 64, NULL, 0),
            409);
        assert_string_equal(field, "name");
    }
    static const char *const invisible[] = {
        "a\\u202eb",  "adm\\u200bin", "\\ufeffx",   "x\\u2066y",      "z\\u200d",  "\\u3164",
        "dup\\u3164", "\\u2800",      "d\\u034fup", "\\u115f\\u1160", "dup\\uffa0"};
    for (size_t i = 0; i < sizeof(invisible) / sizeof(invisible[0]); i++) {
        assert_int_equal(
            key_status(fmt("{\"name\":\"%s\",\"role\":\"sdk\"}", invisible[i]), field, 64, NULL, 0),
            400);
        assert_string_equal(field, "name");
    }
    /* the CLI: the same rules (SQLite: beside the running daemon) */
    if (!harness_on_postgres()) {
        char *out = NULL;
        const char *const cli[] = {"keys", "create",     "--name", "cli", "--role",
                                   "sdk",  "--data-dir", D.dir,    NULL};
        assert_int_not_equal(bunsen_run(&out, cli), 0);
        assert_non_null(strstr(out, "reserved"));
        free(out);
        const char *const dup[] = {"keys", "create",     "--name", "dup", "--role",
                                   "sdk",  "--data-dir", D.dir,    NULL};
        assert_int_not_equal(bunsen_run(&out, dup), 0);
        assert_non_null(strstr(out, "already named"));
        free(out);
    }
}

/* Fail the test unless method path body is refused 400 naming field. */
static void refused_text(const char *method, const char *path, const char *body, const char *field)
{
    struct resp r;
    assert_int_equal(http_req(D.port, method, path, D.admin_key, body, &r), 0);
    if (r.status != 400 || strcmp(resp_error_field(&r) ? resp_error_field(&r) : "", field) != 0) {
        fail_msg("%s %s %s: %d field '%s', expected 400 field '%s'", method, path, body, r.status,
                 resp_error_field(&r) ? resp_error_field(&r) : "", field);
    }
    resp_free(&r);
}

/* The other texts under the rules of a key's name (validate_text): an invisible or bidi
 * character is refused, naming the field, in every request that writes one: an experiment's
 * name, the conclusion given to /stop (read as an edit, not as a stored document), a metric's
 * and a saved group's name in a PATCH. */
static void test_text_fields(void **state)
{
    (void)state;
    refused_text("POST", "/api/v1/experiments",
                 "{\"key\":\"bidi-x\",\"name\":\"a\\u202eb\",\"variants\":"
                 "[{\"key\":\"a\"},{\"key\":\"b\"}]}",
                 "name");
    harness_started_experiment(D.port, D.admin_key, "bidi-stop",
                               "{\"key\":\"bidi-stop\",\"variants\":"
                               "[{\"key\":\"a\"},{\"key\":\"b\"}]}");
    refused_text("POST", "/api/v1/experiments/bidi-stop/stop",
                 "{\"conclusion\":{\"outcome\":\"won\",\"notes\":\"x\\u202ey\"}}",
                 "conclusion.notes");
    json_t *x =
        harness_call(D.port, "GET", "/api/v1/experiments/bidi-stop", D.admin_key, NULL, 200);
    assert_string_equal(str(x, "status"), "running"); /* refused whole: not stopped */
    json_decref(x);
    harness_metric(D.port, D.admin_key, "{\"key\":\"bidi-m\",\"event\":\"e\",\"type\":\"count\"}");
    refused_text("PATCH", "/api/v1/metrics/bidi-m", "{\"name\":\"m\\u200bx\"}", "name");
    json_decref(harness_call(D.port, "POST", "/api/v1/saved-groups", D.admin_key,
                             "{\"key\":\"bidi-g\",\"attribute\":\"id\",\"values\":[\"u\"]}", 201));
    refused_text("PATCH", "/api/v1/saved-groups/bidi-g", "{\"name\":\"g\\u2066y\"}", "name");
}

static void test_keys_lifecycle(void **state)
{
    (void)state;
    char key[64], id[64];
    harness_key(&D, "viewer", key, sizeof(key), id, sizeof(id));
    assert_int_equal(strncmp(key, "bsn_", 4), 0);
    assert_int_equal(strlen(key), 47);
    int st;
    json_t *list = http_json(D.port, "GET", "/api/v1/keys", D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    char *text = json_dumps(list, 0);
    assert_non_null(strstr(text, id));
    assert_null(strstr(text, key)); /* secrets are never listed */
    free(text);
    json_decref(list);
    json_t *me = http_json(D.port, "GET", "/api/v1/me", key, NULL, &st);
    assert_int_equal(st, 200);
    json_decref(me);
    json_t *rev = http_json(D.port, "DELETE", fmt("/api/v1/keys/%s", id), D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    assert_true(json_integer_value(json_object_get(rev, "revoked_at")) > 0);
    json_decref(rev);
    me = http_json(D.port, "GET", "/api/v1/me", key, NULL, &st);
    assert_int_equal(st, 401);
    json_decref(me);
    /* revoke again: 409; unknown id: 404 */
    json_decref(http_json(D.port, "DELETE", fmt("/api/v1/keys/%s", id), D.admin_key, NULL, &st));
    assert_int_equal(st, 409);
    json_decref(http_json(D.port, "DELETE", "/api/v1/keys/key_nope", D.admin_key, NULL, &st));
    assert_int_equal(st, 404);
    /* validation */
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", "/api/v1/keys", D.admin_key,
                              "{\"name\":\"x\",\"role\":\"root\"}", &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_string_equal(resp_error_field(&r), "role");
    resp_free(&r);
    assert_int_equal(http_req(D.port, "POST", "/api/v1/keys", D.admin_key,
                              "{\"name\":\"\",\"role\":\"sdk\"}", &r),
                     0);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    /* the last admin key cannot be revoked through the API */
    json_t *all = http_json(D.port, "GET", "/api/v1/keys", D.admin_key, NULL, &st);
    json_t *k;
    size_t i;
    json_array_foreach(json_object_get(all, "keys"), i, k)
    {
        if (strcmp(json_string_value(json_object_get(k, "role")), "admin") == 0) {
            json_decref(
                http_json(D.port, "DELETE",
                          fmt("/api/v1/keys/%s", json_string_value(json_object_get(k, "id"))),
                          D.admin_key, NULL, &st));
            assert_int_equal(st, 409);
        }
    }
    json_decref(all);
}

static void test_audit(void **state)
{
    (void)state;
    char key[64], id[64];
    harness_key(&D, "sdk", key, sizeof(key), id, sizeof(id));
    int st;
    json_t *a = http_json(D.port, "GET", fmt("/api/v1/audit?target_type=key&target=%s", id),
                          D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    json_t *entries = json_object_get(a, "entries");
    assert_int_equal(json_array_size(entries), 1);
    json_t *e = json_array_get(entries, 0);
    assert_string_equal(json_string_value(json_object_get(e, "action")), "key.create");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "actor"), "name")),
                        "bootstrap-admin");
    assert_true(json_is_null(json_object_get(e, "before")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "after"), "role")),
                        "sdk");
    char *text = json_dumps(a, 0);
    assert_null(strstr(text, key)); /* the secret never reaches the audit log */
    free(text);
    json_decref(a);
    a = http_json(D.port, "GET", "/api/v1/audit?limit=0", D.admin_key, NULL, &st);
    assert_int_equal(st, 400);
    json_decref(a);
    /* paging */
    a = http_json(D.port, "GET", "/api/v1/audit?limit=1", D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    json_int_t next = json_integer_value(json_object_get(a, "next_before"));
    assert_true(next > 0);
    json_int_t first_id =
        json_integer_value(json_object_get(json_array_get(json_object_get(a, "entries"), 0), "id"));
    json_decref(a);
    /* the next page: older entries only, none of the first page's */
    a = http_json(D.port, "GET", fmt("/api/v1/audit?limit=2&before=%lld", (long long)next),
                  D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    entries = json_object_get(a, "entries");
    assert_true(json_array_size(entries) >= 1);
    for (size_t i = 0; i < json_array_size(entries); i++) {
        json_int_t eid = json_integer_value(json_object_get(json_array_get(entries, i), "id"));
        assert_true(eid < next && eid != first_id);
    }
    json_decref(a);
}

static void test_cli(void **state)
{
    (void)state;
    char *out = NULL;
    const char *v[] = {"version", NULL};
    assert_int_equal(bunsen_run(&out, v), 0);
    assert_non_null(strstr(out, "bunsen "));
    free(out);
    const char *bad_flag[] = {"serve", "--port", "notaport", NULL};
    assert_int_equal(bunsen_run(&out, bad_flag), 2);
    assert_non_null(strstr(out, "--port"));
    free(out);
    const char *unknown[] = {"serve", "--frobnicate", NULL};
    assert_int_equal(bunsen_run(NULL, unknown), 2);
    const char *nocmd[] = {"launch", NULL};
    assert_int_equal(bunsen_run(NULL, nocmd), 2);
    const char *help[] = {"serve", "--help", NULL};
    assert_int_equal(bunsen_run(&out, help), 0);
    assert_non_null(strstr(out, "BUNSEN_DATA_DIR"));
    free(out);
    const char *khelp[] = {"keys", "--help", NULL};
    assert_int_equal(bunsen_run(NULL, khelp), 0);
    const char *mhelp[] = {"migrate", "--help", NULL};
    assert_int_equal(bunsen_run(NULL, mhelp), 0);
    /* unwritable data dir (running as root ignores modes, so use a path under a file) */
    const char *unw[] = {"migrate", "--data-dir", "/proc/version/data", NULL};
    assert_int_equal(bunsen_run(&out, unw), 1);
    assert_non_null(strstr(out, "data directory"));
    free(out);
    /* port in use: the shared daemon's port */
    const char *port = fmt("%d", D.port);
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/other", D.dir);
    const char *inuse[] = {"serve", "--port", port, "--data-dir", dir, NULL};
    assert_int_equal(bunsen_run(&out, inuse), 1);
    assert_non_null(strstr(out, "already in use"));
    free(out);
    /* env var config is validated too, where it is used (migrate has no threads) */
    setenv("BUNSEN_THREADS", "zero", 1);
    const char *serve[] = {"serve", "--port", "0", "--data-dir", dir, NULL};
    int rc = bunsen_run(&out, serve);
    unsetenv("BUNSEN_THREADS");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "BUNSEN_THREADS"));
    free(out);
}

static void test_migrations_and_keys_cli(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/mig", D.dir);
    char *out = NULL;
    const char *mig[] = {"migrate", "--data-dir", dir, NULL};
    assert_int_equal(bunsen_run(&out, mig), 0);
    assert_null(strstr(out, "applied: 0;")); /* from empty: something applied */
    free(out);
    assert_int_equal(bunsen_run(&out, mig), 0);
    assert_non_null(strstr(out, "applied: 0;")); /* idempotent */
    free(out);
    const char *create[] = {"keys", "create",     "--role", "sdk", "--name",
                            "svc",  "--data-dir", dir,      NULL};
    assert_int_equal(bunsen_run(&out, create), 0);
    assert_non_null(strstr(out, "bsn_"));
    char id[64] = "";
    const char *p = strstr(out, "id:");
    assert_non_null(p);
    sscanf(p, "id: %63s", id);
    free(out);
    const char *badrole[] = {"keys", "create",     "--role", "god", "--name",
                             "x",    "--data-dir", dir,      NULL};
    assert_int_equal(bunsen_run(NULL, badrole), 2);
    const char *list[] = {"keys", "list", "--data-dir", dir, NULL};
    assert_int_equal(bunsen_run(&out, list), 0);
    assert_non_null(strstr(out, id));
    free(out);
    const char *revoke[] = {"keys", "revoke", id, "--data-dir", dir, NULL};
    assert_int_equal(bunsen_run(&out, revoke), 0);
    /* it says when a running daemon stops taking it (journey29 J9) */
    if (strstr(out, "within about a second, SIGHUP or not") == NULL) {
        fail_msg("keys revoke: %s", out);
    }
    free(out);
    assert_int_equal(bunsen_run(NULL, revoke), 1);
    /* a database from the future is refused */
    char db[400];
    snprintf(db, sizeof(db), "%s/bunsen.db", dir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "INSERT INTO schema_migrations (version, name, applied_at) "
                                  "VALUES (9999, '9999_future', 0)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(bunsen_run(&out, mig), 1);
    assert_non_null(strstr(out, "newer"));
    free(out);
    const char *serve[] = {"serve", "--port", "0", "--data-dir", dir, NULL};
    assert_int_equal(bunsen_run(&out, serve), 1);
    assert_non_null(strstr(out, "newer"));
    free(out);
}

static void test_admin_key_file(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/admin.key", D.dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(D.dir, &st), 0);
    assert_true(strlen(D.admin_key) == 47);
    if (harness_on_postgres()) {
        return; /* the data is in the database server, not in the data dir */
    }
    char db[400];
    snprintf(db, sizeof(db), "%s/bunsen.db", D.dir);
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_mode & 077, 0); /* no group/other access to the data */
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_unauthenticated),
        cmocka_unit_test(test_www_authenticate),
        cmocka_unit_test(test_role_matrix),
        cmocka_unit_test(test_keys_lifecycle),
        cmocka_unit_test(test_key_names),
        cmocka_unit_test(test_text_fields),
        cmocka_unit_test(test_audit),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_migrations_and_keys_cli),
        cmocka_unit_test(test_admin_key_file),
    };
    return cmocka_run_group_tests_name("api_foundation", tests, setup, teardown);
}
