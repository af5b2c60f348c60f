/* Unit tests for the pure parts of http/: route matching (parameters, 404 vs 405 and the
 * Allow set), method parsing, the API key helpers of auth.c, the bodies' JSON reader
 * (integers past 64 bits), content negotiation (Accept media ranges and q-values), the
 * listener's client prefixes and the idle shed of deadline.c. */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/auth.h"
#include "bunsen/http.h"
#include "bunsen/util.h"

#include "../../src/http/http_int.h" /* http_unescape_no_nul */

static void h_a(struct http_req *r)
{
    (void)r;
}
static void h_b(struct http_req *r)
{
    (void)r;
}

static const struct http_route routes[] = {
    {HTTP_GET, "/api/v1/experiments", h_a, BODY_NONE, ROLES_READ, 0, NULL},
    {HTTP_POST, "/api/v1/experiments", h_b, BODY_DEFAULT, ROLES_EDIT, 0, NULL},
    {HTTP_GET, "/api/v1/experiments/{key}", h_a, BODY_NONE, ROLES_READ, 0, NULL},
    {HTTP_POST, "/api/v1/experiments/{key}/{action}", h_b, BODY_DEFAULT, ROLES_EDIT, 0, NULL},
};

static const struct http_route *match(enum http_method m, const char *path, struct http_param *p,
                                      int *n, bool *pm, unsigned *allowed)
{
    static char scratch[512];
    return http_route_match(routes, 4, m, path, scratch, p, n, pm, allowed);
}

static void test_match(void **state)
{
    (void)state;
    struct http_param p[HTTP_MAX_PARAMS];
    int n;
    bool pm;
    unsigned allowed;
    assert_ptr_equal(match(HTTP_GET, "/api/v1/experiments", p, &n, &pm, &allowed), &routes[0]);
    assert_int_equal(n, 0);
    assert_ptr_equal(match(HTTP_POST, "/api/v1/experiments", p, &n, &pm, &allowed), &routes[1]);
    const struct http_route *rt = match(HTTP_GET, "/api/v1/experiments/abc", p, &n, &pm, &allowed);
    assert_ptr_equal(rt, &routes[2]);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].name_len, 3);
    assert_memory_equal(p[0].name, "key", 3);
    assert_string_equal(p[0].value, "abc");
    rt = match(HTTP_POST, "/api/v1/experiments/abc/start", p, &n, &pm, &allowed);
    assert_ptr_equal(rt, &routes[3]);
    assert_int_equal(n, 2);
    assert_string_equal(p[0].value, "abc");
    assert_string_equal(p[1].value, "start");
    /* 405: the path exists with other methods */
    assert_null(match(HTTP_DELETE, "/api/v1/experiments", p, &n, &pm, &allowed));
    assert_true(pm);
    assert_int_equal(allowed, HTTP_GET | HTTP_HEAD | HTTP_POST);
    /* 404 */
    assert_null(match(HTTP_GET, "/api/v1/experimentsx", p, &n, &pm, &allowed));
    assert_false(pm);
    assert_null(match(HTTP_GET, "/api/v1/experiments/", p, &n, &pm, &allowed)); /* empty param */
    assert_false(pm);
    assert_null(match(HTTP_GET, "/api/v1/experiments/a/b/c", p, &n, &pm, &allowed));
    assert_null(match(HTTP_GET, "/api/v1", p, &n, &pm, &allowed));
    assert_null(match(HTTP_GET, "", p, &n, &pm, &allowed));
}

/* Repeats answer from the thread's last match (router.c): each must be what the scan gives,
 * for another method, another table, another parameter value and a longer path alike. */
static void test_match_repeated(void **state)
{
    (void)state;
    struct http_param p[HTTP_MAX_PARAMS];
    int n;
    bool pm;
    unsigned allowed;
    for (int round = 0; round < 3; round++) {
        const struct http_route *rt =
            match(HTTP_POST, "/api/v1/experiments/abc/start", p, &n, &pm, &allowed);
        assert_ptr_equal(rt, &routes[3]);
        assert_int_equal(n, 2);
        assert_string_equal(p[0].value, "abc");
        assert_string_equal(p[1].value, "start");
    }
    const struct http_route *rt =
        match(HTTP_POST, "/api/v1/experiments/xyz/stop", p, &n, &pm, &allowed);
    assert_ptr_equal(rt, &routes[3]);
    assert_string_equal(p[0].value, "xyz");
    assert_string_equal(p[1].value, "stop");
    assert_null(match(HTTP_GET, "/api/v1/experiments/xyz/stop", p, &n, &pm, &allowed));
    assert_true(pm);
    assert_int_equal(allowed, HTTP_POST);
    assert_null(match(HTTP_POST, "/api/v1/experiments/xyz/stop/x", p, &n, &pm, &allowed));
    assert_false(pm);
    /* the same path against another table: its own first match */
    static const struct http_route other[] = {
        {HTTP_POST, "/api/v1/experiments/{key}/{action}", h_a, BODY_DEFAULT, ROLES_EDIT, 0, NULL},
        {HTTP_POST, "/api/v1/experiments/xyz/stop", h_b, BODY_DEFAULT, ROLES_EDIT, 0, NULL},
    };
    static char scratch[512];
    for (int round = 0; round < 2; round++) {
        rt = http_route_match(other + 1, 1, HTTP_POST, "/api/v1/experiments/xyz/stop", scratch, p,
                              &n, &pm, &allowed);
        assert_ptr_equal(rt, &other[1]);
        assert_int_equal(n, 0);
        rt = http_route_match(other, 2, HTTP_POST, "/api/v1/experiments/xyz/stop", scratch, p, &n,
                              &pm, &allowed);
        assert_ptr_equal(rt, &other[0]);
        assert_int_equal(n, 2);
    }
    /* a path longer than the memo holds still matches */
    char longp[300] = "/api/v1/experiments/";
    memset(longp + strlen(longp), 'k', 200);
    for (int round = 0; round < 2; round++) {
        assert_ptr_equal(match(HTTP_GET, longp, p, &n, &pm, &allowed), &routes[2]);
        assert_int_equal(strlen(p[0].value), 200);
    }
}

static void test_methods(void **state)
{
    (void)state;
    assert_int_equal(http_method_parse("GET"), HTTP_GET);
    assert_int_equal(http_method_parse("PATCH"), HTTP_PATCH);
    assert_int_equal(http_method_parse("get"), 0);
    assert_int_equal(http_method_parse("BREW"), 0);
    assert_int_equal(http_method_parse(NULL), 0);
}

static void test_key_hashing(void **state)
{
    (void)state;
    /* SHA-256("abc"), FIPS 180-2 test vector */
    static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                    0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                    0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    uint8_t h[32];
    auth_key_hash("abc", 3, h);
    assert_memory_equal(h, abc, 32);
    assert_true(auth_hash_equal(h, abc));
    h[31] ^= 1;
    assert_false(auth_hash_equal(h, abc));

    char s1[AUTH_SECRET_LEN + 1], s2[AUTH_SECRET_LEN + 1], id[AUTH_ID_LEN + 1];
    uint8_t h1[32], h2[32];
    struct err err;
    assert_int_equal(auth_key_generate(s1, h1, id, &err), 0);
    assert_int_equal(auth_key_generate(s2, h2, id, &err), 0);
    assert_int_equal(strlen(s1), AUTH_SECRET_LEN);
    assert_int_equal(strncmp(s1, "bsn_", 4), 0);
    assert_int_equal(strlen(id), AUTH_ID_LEN);
    assert_int_equal(strncmp(id, "key_", 4), 0);
    assert_string_not_equal(s1, s2);
    uint8_t again[32];
    auth_key_hash(s1, strlen(s1), again);
    assert_memory_equal(again, h1, 32);
    for (size_t i = 4; i < AUTH_SECRET_LEN; i++) { /* base64url alphabet only */
        char c = s1[i];
        assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_');
    }
}

static void test_roles(void **state)
{
    (void)state;
    assert_int_equal(auth_role_parse("admin"), ROLE_ADMIN);
    assert_int_equal(auth_role_parse("sdk"), ROLE_SDK);
    assert_int_equal(auth_role_parse("Admin"), ROLE_NONE);
    assert_string_equal(auth_role_name(ROLE_VIEWER), "viewer");
    assert_true((ROLES_READ & ROLE_VIEWER) != 0);
    assert_true((ROLES_EDIT & ROLE_VIEWER) == 0);
    assert_true((ROLES_ADMIN & ROLE_EDITOR) == 0);
    assert_true((ROLES_SDK & ROLE_SDK) != 0);
}

static void redacted(const char *in, const char *want)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", in);
    http_log_redact(buf);
    assert_string_equal(buf, want);
}

/* MHD's log texts name the URL: the keys in /sub/{key} and the like never reach the log */
static void test_log_redact(void **state)
{
    (void)state;
    redacted("Failed to send the chunked response body for the request for `/sub/"
             "bsn_8E5Sgv_abcDEF-123xyz'. Closing connection.",
             "Failed to send the chunked response body for the request for `/sub/[redacted]'. "
             "Closing connection.");
    redacted("for `/api/features/bsn_abcdefghijklmnop?x=1'", "for `/api/features/[redacted]?x=1'");
    redacted("for `/api/eval/bsn_abcdefghijklmnop'", "for `/api/eval/[redacted]'");
    redacted("Authorization: Bearer bsn_abcdefghijklmnopqrs ends",
             "Authorization: Bearer bsn_[redacted] ends");
    redacted("/sub/short'", "/sub/*****'"); /* shorter than the mark: starred in place */
    redacted("/sub/bsn_0123456789abcdef/sub/bsn_fedcba9876543210",
             "/sub/[redacted]/sub/[redacted]");
    redacted("no secrets here: /api/v1/experiments", "no secrets here: /api/v1/experiments");
    redacted("", "");
}

/* http_json_loadb(text) dumped compactly (sorted keys), or "ERR: <jansson's text>". */
static void loads_as(const char *text, const char *want)
{
    json_error_t jerr;
    json_t *j = http_json_loadb(text, strlen(text), JSON_REJECT_DUPLICATES, &jerr);
    char got[512];
    if (j == NULL) {
        snprintf(got, sizeof(got), "ERR: %s", jerr.text);
    } else {
        char *d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
        snprintf(got, sizeof(got), "%s", d);
        free(d);
        json_decref(j);
    }
    if (strncmp(got, want, strlen(want)) != 0) {
        fail_msg("%s: got %s, want %s", text, got, want);
    }
}

/* Integers past jansson's 64-bit range (JavaScript prints 1e20 as 100000000000000000000)
 * are reals; they refused the whole body. Everything else reads as json_loadb reads it. */
static void test_json_big_integers(void **state)
{
    (void)state;
    loads_as("{\"n\":100000000000000000000}", "{\"n\":1e20}");
    loads_as("{\"n\":9223372036854775808,\"v\":2}", "{\"n\":9.2233720368547758e18,\"v\":2}");
    loads_as("{\"n\":-9223372036854775809}", "{\"n\":-9.2233720368547758e18}");
    /* the range's ends stay integers, beside a big one too */
    loads_as("{\"a\":9223372036854775807,\"b\":-9223372036854775808,\"c\":[1e2,"
             "123456789012345678901234567890]}",
             "{\"a\":9223372036854775807,\"b\":-9223372036854775808,\"c\":[100.0,"
             "1.2345678901234568e29]}");
    /* digits inside strings are text, escaped quotes included */
    loads_as("{\"s\":\"99999999999999999999 \\\" 99999999999999999999\",\"n\":"
             "99999999999999999999}",
             "{\"n\":1e20,\"s\":\"99999999999999999999 \\\" 99999999999999999999\"}");
    loads_as("{\"99999999999999999999\":99999999999999999999}", "{\"99999999999999999999\":1e20}");
    /* other errors stay errors */
    loads_as("{\"n\":1e400}", "ERR: real number overflow");
    loads_as("{\"n\":99999999999999999999,\"n\":1}", "ERR: duplicate object key");
    loads_as("{\"n\":099999999999999999999}", "ERR: ");
    loads_as("{\"n\":99999999999999999999", "ERR: ");
    loads_as("[1, 2", "ERR: ");
}

#define ZEROS "00000000000000000000"

/* `{}` N times in an array (jansson spends ~70 x their bytes on them), and a 20-digit integer
 * before or after them. A new string. */
static char *budget_body(bool number_first, size_t *len_out)
{
    enum { N = 2000000 };
    size_t cap = 3 * (size_t)N + 64;
    char *body = malloc(cap);
    assert_non_null(body);
    size_t len =
        (size_t)snprintf(body, cap, "{%s\"a\":[{}", number_first ? "\"n\":1" ZEROS "," : "");
    for (int i = 1; i < N; i++) {
        memcpy(body + len, ",{}", 3);
        len += 3;
    }
    len += (size_t)snprintf(body + len, cap - len, "]%s}", number_first ? "" : ",\"n\":1" ZEROS);
    *len_out = len;
    return body;
}

/* A body the allocation budget refuses (48 x its bytes + 64 MiB) is refused by the budget,
 * whatever the error code's byte held before: jansson sets no error on that path and
 * json_loadb leaves the code byte as it was, which http_json_loadb read; a stack byte that
 * said "numeric overflow" had the whole body copied and parsed a second time with a fresh
 * budget (valgrind: uninitialised read; review code29 F4). A big integer before the values
 * (the first parse stops there, the second meets the budget) reported "too big integer". */
static void test_json_budget_refusal(void **state)
{
    (void)state;
    http_json_alloc_install();
    for (int first = 0; first < 2; first++) {
        size_t len = 0;
        char *body = budget_body(first == 1, &len);
        json_error_t jerr;
        memset(&jerr, 0x55, sizeof(jerr)); /* what the stack held */
        jerr.text[JSON_ERROR_TEXT_LENGTH - 1] = (char)json_error_numeric_overflow;
        json_t *j = http_json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        free(body);
        assert_null(j);
        assert_int_equal(json_error_code(&jerr), json_error_out_of_memory);
        char why[200];
        http_json_error_text(&jerr, why, sizeof(why));
        assert_string_equal(why, "the body holds too many JSON values for its size");
    }
    /* a small body with a big integer still reads it as a real after such a refusal */
    loads_as("{\"n\":1" ZEROS "}", "{\"n\":1e20}");
}

static void test_accept_pick(void **state)
{
    (void)state;
    static const char *const types[] = {"application/json", "text/csv"};
    static const struct {
        const char *accept;
        size_t want;
    } cases[] = {
        {NULL, 0},
        {"", 0},
        {"  ", 0},
        {"text/csv", 1},
        {"text/csv;q=0, application/json", 0},
        {"application/json, text/csv;q=0.1", 0},
        {"text/csv;q=0.1, application/json;q=0.05", 1},
        {"*/*", 0},
        {"text/*", 1},
        {"text/*;q=0.5, application/*;q=0.4", 1},
        {"text/csv, */*", 1},
        {"text/csv, application/json", 0},
        {"application/*, text/csv", 1},
        {"text/csv;q=0, text/*", 0}, /* the most specific range decides: csv refused */
        {"text/html, image/png", 0},
        {"text/csv ; q = 0.3 , application/json ; q = 0.2", 1},
        {"Text/CSV;Q=1", 1},
        {"text/csv;charset=utf-8;q=0.9, application/json;q=0.8", 1},
        {"text/csv;q=1.5, application/json;q=0.1", 0}, /* q out of range: the range is ignored */
        {"text/csv;q=inf, application/json;q=0.1", 0},
        {"text/csv;q=, application/json;q=0.1", 0},
        {",,text/csv,,", 1},
        {"text, csv", 0},
        {"text/csv/x", 0},
        {"text/csvx", 0},
        {"text/cs", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t got = http_accept_pick(cases[i].accept, types, 2);
        if (got != cases[i].want) {
            fail_msg("Accept: %s picked %s, expected %s",
                     cases[i].accept ? cases[i].accept : "(none)", types[got],
                     types[cases[i].want]);
        }
    }
    static const char *const three[] = {"text/csv", "application/x-ndjson", "application/json"};
    assert_int_equal(http_accept_pick("application/*", three, 3), 1); /* a tie: the lower index */
    assert_int_equal(http_accept_pick("application/json", three, 3), 2);
    assert_int_equal(http_accept_pick("text/csv", three, 0), 0);
}

/* Percent-decoding: two hex digits decode (NUL to 0x01); anything else after '%' (a sign, a
 * blank, a non-hex letter, the end) stays literal, as strtoul's leniency once let "%-1"
 * decode to 0xff and "% 9" to a tab. */
static void test_unescape(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a%41", "aA"},   {"a%4a%4A", "aJJ"}, {"a%00b", "a\001b"}, {"a%zz", "a%zz"},
        {"a%-1", "a%-1"}, {"a%+41", "a%+41"}, {"a% 9", "a% 9"},    {"a%-F", "a%-F"},
        {"a%4", "a%4"},   {"a%", "a%"},       {"%%41", "%A"},      {"%e2%82%ac", "\xe2\x82\xac"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s", cases[i].in);
        size_t n = http_unescape_no_nul(NULL, NULL, buf);
        assert_int_equal(n, strlen(cases[i].out));
        assert_string_equal(buf, cases[i].out);
    }
}

/* The route of the table (routes.c) for method and path. */
static const struct http_route *table_route(enum http_method m, const char *path)
{
    for (size_t i = 0; i < http_routes_count; i++) {
        if (http_routes[i].method == m && strcmp(http_routes[i].path, path) == 0) {
            return &http_routes[i];
        }
    }
    fail_msg("no route %s", path);
    return NULL;
}

/* Ingestion bodies over HTTP_OFFLOAD_BODY_MIN run on the offload threads: a 10,000-event
 * batch's parse held every connection of its MHD worker (docs/RELIABILITY.md AB); a smaller
 * one, and other routes' bodies, stay on the worker; ROUTE_OFFLOAD routes go whatever their
 * body. */
static void test_offload_large_bodies(void **state)
{
    (void)state;
    static struct http_req r;
    const char *const ingest[] = {"/api/v1/events", "/api/v1/exposures"};
    for (int i = 0; i < 2; i++) {
        memset(&r, 0, sizeof(r));
        r.route = table_route(HTTP_POST, ingest[i]);
        r.body.len = HTTP_OFFLOAD_BODY_MIN;
        assert_false(http_offload_wanted(&r));
        r.body.len = HTTP_OFFLOAD_BODY_MIN + 1;
        assert_true(http_offload_wanted(&r));
    }
    memset(&r, 0, sizeof(r));
    r.route = table_route(HTTP_POST, "/api/v1/assign");
    r.body.len = 4 * HTTP_OFFLOAD_BODY_MIN;
    assert_false(http_offload_wanted(&r));
    r.route = table_route(HTTP_GET, "/api/v1/experiments/{key}/results");
    r.body.len = 0;
    assert_true(http_offload_wanted(&r));
}

/* Every /api/v1 route lists its query parameters (s26: unknown ones are refused): a route
 * added without a list would ignore typos again. Not checked, on purpose: the OpenAPI
 * document and GET /api/v1/me (SDKs and browsers call both with cache busters). That
 * openapi.yaml lists the same parameters: test_openapi_query.c. */
static void test_routes_list_query(void **state)
{
    (void)state;
    for (size_t i = 0; i < http_routes_count; i++) {
        const struct http_route *rt = &http_routes[i];
        bool v1 = strncmp(rt->path, "/api/v1/", 8) == 0 &&
                  strcmp(rt->path, "/api/v1/openapi.yaml") != 0 &&
                  !(rt->method == HTTP_GET && strcmp(rt->path, "/api/v1/me") == 0);
        if (v1 != (rt->query != NULL)) {
            fail_msg("%s %s: query list %s", http_method_name(rt->method), rt->path,
                     rt->query ? "on a route not checked" : "missing");
        }
    }
}

static struct sockaddr_storage addr_of(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
    }
    return ss;
}

static void assert_prefix(const char *addr, const char *want)
{
    struct sockaddr_storage ss = addr_of(addr);
    char got[HTTP_CLIENT_PREFIX_MAX];
    http_client_prefix((struct sockaddr *)&ss, got);
    if (strcmp(got, want) != 0) {
        fail_msg("%s: prefix %s, want %s", addr, got, want);
    }
}

/* Connections and the per-address rate limit count per IPv4 address and per IPv6 /64 (one
 * host holds a whole /64: review hostile30 F2); an IPv4 client of a dual-stack socket
 * (::ffff:a.b.c.d) is its IPv4 address, not one /64 for every IPv4 client. */
static void test_client_prefix(void **state)
{
    (void)state;
    assert_prefix("192.0.2.7", "192.0.2.7");
    assert_prefix("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64");
    assert_prefix("2001:db8:1:2::1", "2001:db8:1:2::/64");
    assert_prefix("2001:db8:1:3::1", "2001:db8:1:3::/64");
    assert_prefix("::ffff:127.0.0.2", "127.0.0.2");
    assert_prefix("::ffff:127.0.0.3", "127.0.0.3");
    assert_prefix("::1", "::/64");
    assert_prefix("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff::/64");
    char got[HTTP_CLIENT_PREFIX_MAX];
    http_client_prefix(NULL, got);
    assert_string_equal(got, "?");
    struct sockaddr_storage unix_ss = {.ss_family = AF_UNIX};
    http_client_prefix((struct sockaddr *)&unix_ss, got);
    assert_string_equal(got, "?");
}

/* The listener's count per prefix against a model, through thousands of admissions and
 * closes of 600 prefixes (the table grows past 256 slots and shifts entries back as counts
 * reach 0): the cap holds per prefix, never across prefixes, and every count returns to 0. */
static void test_prefix_cap(void **state)
{
    (void)state;
    enum { P = 600, CAP = 3, STEPS = 40000 };
    struct err err;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct http_listener *l = http_listener_new(fd, 1000000, CAP, 1, NULL, &err);
    assert_non_null(l);
    static unsigned model[P];
    static struct sockaddr_storage addr[P], other[P]; /* other: another of the prefix's */
    for (int i = 0; i < P; i++) {
        char t[64], u[64];
        if (i % 3 == 0) {
            snprintf(t, sizeof(t), "10.%d.%d.1", i / 256, i % 256);
            snprintf(u, sizeof(u), "::ffff:10.%d.%d.1", i / 256, i % 256);
        } else {
            snprintf(t, sizeof(t), "2001:db8:%x:%x::1", i / 97, i);
            snprintf(u, sizeof(u), "2001:db8:%x:%x:%x::7", i / 97, i, i + 1);
        }
        addr[i] = addr_of(t);
        other[i] = addr_of(u);
    }
    uint64_t x = 88172645463325252ull;
    int refused = 0;
    for (int step = 0; step < STEPS; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int i = (int)(x % P);
        const struct sockaddr *sa = (const struct sockaddr *)((x >> 40) % 2 ? &addr[i] : &other[i]);
        if ((x >> 32) % 3 != 0) { /* admit twice as often as close: prefixes reach the cap */
            bool ok = http_listener_admit(l, sa);
            assert_int_equal(ok, model[i] < CAP);
            model[i] += ok;
            refused += !ok;
        } else if (model[i] > 0) {
            http_listener_closed(l, sa, -1);
            model[i]--;
        }
        if (step % 97 == 0) {
            for (int k = 0; k < P; k++) {
                assert_int_equal(http_listener_prefix_count(l, (struct sockaddr *)&addr[k]),
                                 model[k]);
            }
        }
    }
    assert_true(refused > 0);
    for (int i = 0; i < P; i++) {
        while (model[i] > 0) {
            http_listener_closed(l, (struct sockaddr *)&addr[i], -1);
            model[i]--;
        }
        assert_int_equal(http_listener_prefix_count(l, (struct sockaddr *)&addr[i]), 0);
    }
    /* 0 = no cap */
    struct http_listener *open =
        http_listener_new(socket(AF_INET, SOCK_STREAM, 0), 10, 0, 1, NULL, &err);
    assert_non_null(open);
    for (int k = 0; k < 50; k++) {
        assert_true(http_listener_admit(open, (struct sockaddr *)&addr[0]));
    }
    assert_int_equal(http_listener_prefix_count(open, (struct sockaddr *)&addr[0]), 50);
    http_listener_free(open);
    http_listener_free(l);
}

/* MHD gives a connection to worker (descriptor % workers), and free descriptor numbers can
 * all be of one residue (the first bench run after a warm-up put 16 and 48 of 64 connections
 * on two workers). The listener gives connections to the workers in turn, renumbering one
 * whose number would put it elsewhere. 20 connections per worker in turn, then worker 1's
 * closed: the next 10 per worker mostly get numbers of residue 1, and without renumbering
 * would mostly go to worker 1; spread, each worker takes 10 of them. */
static void test_connections_spread(void **state)
{
    (void)state;
    for (unsigned workers = 2; workers <= 3; workers++) {
        struct err err;
        struct http_listener *l =
            http_listener_new(socket(AF_INET, SOCK_STREAM, 0), 1000, 0, workers, NULL, &err);
        assert_non_null(l);
        int old[60], fds[30], before[3] = {0};
        int nold = (int)workers * 20, n = (int)workers * 10;
        for (int i = 0; i < nold; i++) {
            old[i] = http_listener_spread(l, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            assert_true(old[i] >= 0);
        }
        for (int i = 0; i < nold; i++) { /* worker 1 closes its own: their numbers free */
            if ((unsigned)old[i] % workers == 1) {
                http_listener_closed(l, NULL, old[i]);
                close(old[i]);
                old[i] = -1;
            }
        }
        for (unsigned w = 0; w < workers; w++) {
            before[w] = (int)http_listener_worker_load(l, w);
        }
        assert_int_equal(before[1], 0);
        int skewed = 0;
        for (int i = 0; i < n; i++) {
            int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            assert_true(c >= 0);
            skewed += (unsigned)c % workers == 1;
            fds[i] = http_listener_spread(l, c);
            assert_true(fds[i] >= 0);
        }
        assert_true(skewed >= n / 2); /* the skew was there to correct */
        for (unsigned w = 0; w < workers; w++) {
            assert_int_equal(http_listener_worker_load(l, w) - before[w], 10);
        }
        for (int i = 0; i < n; i++) {
            http_listener_closed(l, NULL, fds[i]);
            close(fds[i]);
        }
        for (int i = 0; i < nold; i++) {
            if (old[i] >= 0) {
                http_listener_closed(l, NULL, old[i]);
                close(old[i]);
            }
        }
        for (unsigned w = 0; w < workers; w++) {
            assert_int_equal(http_listener_worker_load(l, w), 0);
        }
        http_listener_free(l);
    }
    /* one worker (no pool): nothing counted, descriptors as they are */
    struct err err;
    struct http_listener *one =
        http_listener_new(socket(AF_INET, SOCK_STREAM, 0), 10, 0, 1, NULL, &err);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(http_listener_spread(one, c), c);
    assert_int_equal(http_listener_worker_load(one, 0), -1);
    close(c);
    http_listener_free(one);
}

/* An IPv4 address (as text and sockaddr) whose prefix's home slot in a 256-slot table is
 * home, searched from 10.0.0.1 upwards past skip; fills out. */
static void addr_with_home(unsigned home, unsigned from, struct sockaddr_storage *out,
                           unsigned *found)
{
    for (unsigned i = from;; i++) {
        char t[32];
        snprintf(t, sizeof(t), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        if ((hash_keyed(t, strlen(t)) & 255) == home) {
            *out = addr_of(t);
            *found = i;
            return;
        }
    }
}

/* Deletion across the end of the table (the random hash of test_prefix_cap makes it likely,
 * not certain; review diff31 F4): A and B both at home 255 (B wraps to slot 0), C at home 0
 * (slot 1). A's last connection closes: B must move back to 255 and C to 0, and both still
 * be found with their counts; then B, then C. */
static void test_prefix_wrap(void **state)
{
    (void)state;
    struct err err;
    struct http_listener *l =
        http_listener_new(socket(AF_INET, SOCK_STREAM, 0), 1000, 5, 1, NULL, &err);
    assert_non_null(l);
    struct sockaddr_storage a, b, c;
    unsigned at = 0;
    addr_with_home(255, 1, &a, &at);
    addr_with_home(255, at + 1, &b, &at);
    addr_with_home(0, 1, &c, &at);
    const struct sockaddr *A = (struct sockaddr *)&a, *B = (struct sockaddr *)&b,
                          *C = (struct sockaddr *)&c;
    assert_true(http_listener_admit(l, A));
    assert_true(http_listener_admit(l, B));
    assert_true(http_listener_admit(l, B));
    assert_true(http_listener_admit(l, C));
    assert_true(http_listener_admit(l, C));
    assert_true(http_listener_admit(l, C));
    http_listener_closed(l, A, -1);
    assert_int_equal(http_listener_prefix_count(l, A), 0);
    assert_int_equal(http_listener_prefix_count(l, B), 2);
    assert_int_equal(http_listener_prefix_count(l, C), 3);
    http_listener_closed(l, B, -1);
    http_listener_closed(l, B, -1);
    assert_int_equal(http_listener_prefix_count(l, B), 0);
    assert_int_equal(http_listener_prefix_count(l, C), 3);
    for (int i = 0; i < 5 - 3; i++) { /* C's cap still counts from 3 */
        assert_true(http_listener_admit(l, C));
    }
    assert_false(http_listener_admit(l, C));
    http_listener_free(l);
}

/* A connection MHD drops after taking it, without a started or closed notification (its
 * worker failing to set it up: review diff31 F3), must not keep its slot: found when the kernel
 * gives its number out again, or when it is still pending after the sweep's age. A late
 * started notification counts it again, so that its closed notification stays paired. */
static void test_dropped_connection_uncounted(void **state)
{
    (void)state;
    struct err err;
    struct http_listener *l =
        http_listener_new(socket(AF_INET, SOCK_STREAM, 0), 1000, 2, 2, NULL, &err);
    assert_non_null(l);
    struct sockaddr_storage a = addr_of("192.0.2.7");
    const struct sockaddr *A = (struct sockaddr *)&a;
    const uint64_t s = 1000000000ull;
    /* handed as descriptor 1000 (worker 0; numbers no test opens), never started: dropped */
    assert_true(http_listener_admit(l, A));
    assert_int_equal(http_listener_spread(l, 1000), 1000);
    http_listener_handing(l, 1000, A, 1 * s);
    assert_int_equal(http_listener_pending(l), 1);
    /* the kernel gives number 1000 out again: the first was closed, so it is uncounted */
    assert_true(http_listener_admit(l, A));
    assert_int_equal(http_listener_spread(l, 1000), 1000); /* not open: kept as it is */
    assert_int_equal(http_listener_worker_load(l, 0), 2);
    http_listener_handing(l, 1000, A, 2 * s);
    assert_int_equal(http_listener_prefix_count(l, A), 1);
    assert_int_equal(http_listener_worker_load(l, 0), 1);
    assert_int_equal(http_listener_pending(l), 1);
    /* this one starts and closes: nothing left */
    http_listener_started(l, A, 1000);
    assert_int_equal(http_listener_pending(l), 0);
    assert_int_equal(http_listener_prefix_count(l, A), 1);
    http_listener_closed(l, A, 1000);
    assert_int_equal(http_listener_prefix_count(l, A), 0);
    assert_int_equal(http_listener_worker_load(l, 0), 0);
    /* the cap holds for started ones: two started, the third refused */
    for (int fd = 1020; fd < 1022; fd++) {
        assert_true(http_listener_admit(l, A));
        assert_int_equal(http_listener_spread(l, fd), fd);
        http_listener_handing(l, fd, A, 3 * s);
        http_listener_started(l, A, fd);
    }
    assert_false(http_listener_admit(l, A));
    http_listener_closed(l, A, 1020);
    http_listener_closed(l, A, 1021);
    /* dropped with its number not reused: the sweep finds it by age, not before */
    int fd = 1031; /* worker 1 */
    assert_int_equal(http_listener_spread(l, fd), fd);
    assert_int_equal(http_listener_worker_load(l, 0), 0);
    assert_true(http_listener_admit(l, A));
    http_listener_handing(l, fd, A, 4 * s);
    assert_int_equal(http_listener_worker_load(l, 1), 1);
    assert_int_equal(http_listener_sweep(l, 13 * s, 10 * s), 0);
    assert_int_equal(http_listener_prefix_count(l, A), 1);
    assert_int_equal(http_listener_sweep(l, 14 * s, 10 * s), 1);
    assert_int_equal(http_listener_prefix_count(l, A), 0);
    assert_int_equal(http_listener_worker_load(l, 1), 0);
    assert_int_equal(http_listener_pending(l), 0);
    /* it starts after all: counted again, and its close takes that back */
    http_listener_started(l, A, fd);
    assert_int_equal(http_listener_prefix_count(l, A), 1);
    assert_int_equal(http_listener_worker_load(l, 1), 1);
    http_listener_closed(l, A, fd);
    assert_int_equal(http_listener_prefix_count(l, A), 0);
    assert_int_equal(http_listener_worker_load(l, 1), 0);
    http_listener_free(l);
}

/* A request line that arrives while http_deadlines_shed_idle is choosing whom to close (the
 * scan picked the connection while it was WAIT, the claim comes after) makes the claim fail:
 * a begun request is never shed (review code33 F2). Before the fix the request line left an
 * earlier deadline as it was, the claim succeeded and the socket was shut down. */
static void test_shed_spares_begun_request(void **state)
{
    (void)state;
    struct http_deadlines *s = http_deadlines_new(10, 30); /* no sweeper started */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct http_conn *c = http_deadlines_track(s, sv[0]);
    uint64_t now = time_mono_ns() + 2000000000ull; /* silent for two seconds */
    uint64_t d = 0;
    /* new and silent: chosen; then its request line arrives; then the claim */
    assert_ptr_equal(http_deadlines_idlest(s, now, 1000000000ull, &d), c);
    http_conn_request_line(c);
    assert_false(http_deadlines_claim(c, d));
    /* not shut down: the peer can still write to it and it reads that */
    assert_int_equal(write(sv[1], "x", 1), 1);
    char ch = 0;
    assert_int_equal(read(sv[0], &ch, 1), 1);
    /* no longer idle: not chosen again */
    assert_null(http_deadlines_idlest(s, now, 1000000000ull, &d));
    /* kept alive after a reply, idle past max(T, I) - T: the same */
    http_conn_reply_sent(c, time_mono_ns() - 25000000000ull);
    assert_ptr_equal(http_deadlines_idlest(s, time_mono_ns(), 1000000000ull, &d), c);
    http_conn_request_line(c);
    assert_false(http_deadlines_claim(c, d));
    assert_int_equal(write(sv[1], "y", 1), 1);
    assert_int_equal(read(sv[0], &ch, 1), 1);
    /* an idle one is still shed */
    http_conn_reply_sent(c, time_mono_ns() - 25000000000ull);
    assert_ptr_equal(http_deadlines_idlest(s, time_mono_ns(), 1000000000ull, &d), c);
    assert_true(http_deadlines_claim(c, d));
    assert_int_equal(read(sv[0], &ch, 1), 0); /* shut down: end of file */
    http_deadlines_untrack(c);
    close(sv[0]);
    close(sv[1]);
    http_deadlines_free(s);
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_routes_list_query),
        cmocka_unit_test(test_match_repeated),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_key_hashing),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_log_redact),
        cmocka_unit_test(test_json_big_integers),
        cmocka_unit_test(test_json_budget_refusal),
        cmocka_unit_test(test_accept_pick),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_offload_large_bodies),
        cmocka_unit_test(test_client_prefix),
        cmocka_unit_test(test_prefix_cap),
        cmocka_unit_test(test_prefix_wrap),
        cmocka_unit_test(test_dropped_connection_uncounted),
        cmocka_unit_test(test_connections_spread),
        cmocka_unit_test(test_shed_spares_begun_request),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
