/*
 * API tests of header fields and request targets at the edge of HTTP/1.1, over raw sockets
 * (hostile-input review, s26): Authorization, X-API-Key or Content-Type sent twice (400,
 * connection closed: the first counted, so an admin key before an sdk one authenticated as
 * admin), Authorization and X-API-Key carrying different keys (400; the same key twice is one).
 * Absolute-form targets (`GET http://host/healthz`, RFC 9112 3.2.2) are routed by their path.
 * A JSON body's charset other than utf-8 is a 415. Key names that imitate another actor (white
 * space around them, blank, another key's name in another case) are refused.
 * One daemon is shared by every test (group setup).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct daemon D;
static char sdk_key[128];

static int setup(void **state)
{
    (void)state;
    if (daemon_start(&D, NULL) != 0) {
        return -1;
    }
    harness_sdk_key(D.port, D.admin_key, sdk_key, sizeof(sdk_key));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

/* What came back for raw on a connection of its own, read until the server closed it. */
struct answer {
    int status;
    bool closing;  /* "Connection: close" among the reply's headers */
    char code[64]; /* the JSON error code, "" when none */
    char *data;
};

static void answer_free(struct answer *a)
{
    free(a->data);
}

static void ask(const char *raw, struct answer *a)
{
    memset(a, 0, sizeof(*a));
    int fd = harness_connect(D.port, 5);
    assert_true(fd >= 0);
    assert_int_equal(harness_send_all(fd, raw, strlen(raw)), 0);
    size_t len = 0;
    a->data = harness_recv_all(fd, &len);
    assert_non_null(a->data);
    if (len > 12 && strncmp(a->data, "HTTP/1.", 7) == 0) {
        a->status = atoi(a->data + 9);
    }
    const char *end = strstr(a->data, "\r\n\r\n");
    const char *c = strstr(a->data, "Connection: close");
    a->closing = c != NULL && end != NULL && c < end;
    json_t *j = end ? json_loads(end + 4, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    snprintf(a->code, sizeof(a->code), "%s", code ? code : "");
    json_decref(j);
}

static void expect(const char *what, const char *raw, int status, const char *code, bool closing)
{
    struct answer a;
    ask(raw, &a);
    if (a.status != status || strcmp(a.code, code) != 0 || (closing && !a.closing)) {
        fail_msg("%s: %d '%s' closing %d (want %d '%s'%s): %.600s", what, a.status, a.code,
                 a.closing, status, code, closing ? ", closing" : "", a.data);
    }
    answer_free(&a);
}

/* Two Authorization (either order), X-API-Key or Content-Type headers: 400 and closed, the
 * request behind them never answered. */
static void test_singleton_headers(void **state)
{
    (void)state;
    static const char inner[] = "GET /api/v1/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *me = "GET /api/v1/me HTTP/1.1\r\nHost: x\r\n";
    expect("admin then sdk",
           fmt("%sAuthorization: Bearer %s\r\nAuthorization: Bearer %s\r\n\r\n%s", me, D.admin_key,
               sdk_key, inner),
           400, "invalid_argument", true);
    expect("sdk then admin",
           fmt("%sAuthorization: Bearer %s\r\nauthorization: Bearer %s\r\n\r\n%s", me, sdk_key,
               D.admin_key, inner),
           400, "invalid_argument", true);
    expect("the same key twice",
           fmt("%sAuthorization: Bearer %s\r\nAuthorization: Bearer %s\r\n\r\n%s", me, D.admin_key,
               D.admin_key, inner),
           400, "invalid_argument", true);
    expect("two X-API-Keys",
           fmt("%sX-API-Key: %s\r\nX-Api-Key: %s\r\n\r\n%s", me, D.admin_key, sdk_key, inner), 400,
           "invalid_argument", true);
    const char *post = "POST /api/v1/power HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n";
    expect("two Content-Types",
           fmt("%sAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Type: "
               "text/plain\r\n\r\n{}%s",
               post, D.admin_key, inner),
           400, "invalid_argument", true);
    /* Authorization with X-API-Key: one key, or a 400 */
    expect("Authorization and X-API-Key differ",
           fmt("%sAuthorization: Bearer %s\r\nX-API-Key: %s\r\nConnection: close\r\n\r\n", me,
               D.admin_key, sdk_key),
           400, "invalid_argument", false);
    expect("X-API-Key and Authorization differ",
           fmt("%sX-API-Key: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", me,
               D.admin_key, sdk_key),
           400, "invalid_argument", false);
    struct answer a;
    ask(fmt("%sAuthorization: Bearer %s\r\nX-API-Key:  %s \r\nConnection: close\r\n\r\n", me,
            sdk_key, sdk_key),
        &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.data, "\"sdk\""));
    answer_free(&a);
    /* one of each is fine */
    ask(fmt("%sAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", me, D.admin_key), &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
}

/* Absolute-form targets (RFC 9112 3.2.2: a server MUST accept them): routed by the path after
 * the authority, whatever the scheme's case; an empty authority or one with userinfo is a 400. */
static void test_absolute_form(void **state)
{
    (void)state;
    static const char *const good[] = {
        "http://x/healthz",
        "HTTP://X/healthz",
        "https://bunsen.example:8443/healthz",
        "http://127.0.0.1/healthz?y=1",
        "http://[::1]:80/healthz",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct answer a;
        ask(fmt("GET %s HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n", good[i]), &a);
        if (a.status != 200 || strstr(a.data, "\"ok\"") == NULL) {
            fail_msg("GET %s: %d: %.400s", good[i], a.status, a.data);
        }
        answer_free(&a);
    }
    /* a route with a key and query parameters */
    harness_started_experiment(
        D.port, D.admin_key, "abs-exp",
        "{\"key\":\"abs-exp\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}");
    struct answer a;
    ask(fmt("GET http://x/api/v1/experiments/abs-exp/results?alpha=0.1 HTTP/1.1\r\nHost: x\r\n"
            "Authorization: Bearer %s\r\nConnection: close\r\n\r\n",
            D.admin_key),
        &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.data, "\"alpha\":0.1"));
    answer_free(&a);
    /* still one Host in HTTP/1.1 (RFC 9112 3.2) */
    expect("absolute-form without Host", "GET http://x/healthz HTTP/1.1\r\n\r\n", 400,
           "invalid_argument", true);
    static const char *const bad[] = {"http:///healthz", "http://user@x/healthz", "http://",
                                      "https://x%2Fy/healthz", "http://x y/healthz"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect(bad[i], fmt("GET %s HTTP/1.1\r\nHost: x\r\n\r\n", bad[i]), 400, "invalid_argument",
               true);
    }
}

/* A JSON body is UTF-8 (RFC 8259 8.1): a charset other than utf-8 is a 415 (it was decoded as
 * UTF-8 all the same), utf-8 in any case, quoted or not, is fine, and so are "utf8" (as some
 * clients spell it) and us-ascii (a subset). */
static void test_json_charset(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        int want;
    } types[] = {
        {"application/json;charset=iso-8859-1", 415},
        {"application/json; charset=\"latin1\"", 415},
        {"application/json; CHARSET=utf-16", 415},
        {"application/json; charset=", 415},
        {"application/json; charset=\"\"", 415},
        {"application/json; charset=utf-8x", 415},
        {"application/json; foo=bar; charset=windows-1252", 415},
        {"application/json; charset=utf-8", 201},
        {"application/json;charset=UTF-8", 201},
        {"application/json; charset=\"utf-8\"", 201},
        {"application/json; charset=utf8", 201},
        {"application/json; charset=US-ASCII", 201},
        {"application/json; Charset = utf-8 ", 201},
        {"application/json; foo=\"a;charset=latin1\"; charset=utf-8", 201},
        {"application/json; foo", 201},
        {"application/json", 201},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        const char *body = fmt("{\"name\":\"cs-%zu\",\"role\":\"viewer\"}", i);
        struct resp r;
        assert_int_equal(http_req_ct(D.port, "POST", "/api/v1/keys", D.admin_key, types[i].type,
                                     body, strlen(body), &r),
                         0);
        if (r.status != types[i].want) {
            fail_msg("Content-Type '%s': %d, expected %d", types[i].type, r.status, types[i].want);
        }
        if (r.status == 415) {
            assert_string_equal(resp_error_code(&r), "unsupported_media_type");
        }
        resp_free(&r);
    }
}

/* POST /keys: the status and error field of creating a key named name (a JSON string's text). */
static int key_create(const char *name, char *field, size_t fn)
{
    struct resp r;
    const char *body = fmt("{\"name\":\"%s\",\"role\":\"sdk\"}", name);
    assert_int_equal(http_req(D.port, "POST", "/api/v1/keys", D.admin_key, body, &r), 0);
    const char *f = r.status >= 400 ? resp_error_field(&r) : NULL;
    snprintf(field, fn, "%s", f != NULL ? f : "");
    int st = r.status;
    resp_free(&r);
    return st;
}

/* Key names that imitate another actor in the audit log: white space around them (ASCII and
 * Unicode) or all blank (400), another active key's name or a reserved one in another case
 * (409). Inner blanks and non-ASCII letters make names of their own. */
static void test_key_name_imitations(void **state)
{
    (void)state;
    char field[64];
    assert_int_equal(key_create("imit", field, sizeof(field)), 201);
    static const char *const blank[] = {
        "bootstrap-admin\\u00a0",
        "bootstrap-admin ",
        " imit",
        "imit ",
        "imit\\u3000",
        "\\u2003imit",
        "imit\\u202f",
        " ",
        "\\u00a0\\u3000",
        "imit\\u1680",
    };
    for (size_t i = 0; i < sizeof(blank) / sizeof(blank[0]); i++) {
        if (key_create(blank[i], field, sizeof(field)) != 400 || strcmp(field, "name") != 0) {
            fail_msg("name '%s': not a 400 naming name ('%s')", blank[i], field);
        }
    }
    static const char *const cased[] = {"IMIT", "Imit", "BOOTSTRAP-ADMIN", "Cli"};
    for (size_t i = 0; i < sizeof(cased) / sizeof(cased[0]); i++) {
        if (key_create(cased[i], field, sizeof(field)) != 409 || strcmp(field, "name") != 0) {
            fail_msg("name '%s': not a 409 naming name ('%s')", cased[i], field);
        }
    }
    assert_int_equal(key_create("imit two", field, sizeof(field)), 201);
    assert_int_equal(key_create("im\\u00efit", field, sizeof(field)), 201);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_singleton_headers),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_json_charset),
        cmocka_unit_test(test_key_name_imitations),
    };
    return cmocka_run_group_tests_name("edges_fields", tests, setup, teardown);
}
