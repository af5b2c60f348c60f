/*
 * API tests for the two ways an /assign body is read (src/api/assign_body.c): the fast
 * reader for the common shape, and jansson for everything else. The same request written
 * both ways (a "\u00XX" escape anywhere in a string sends it down the jansson path) must
 * get the same reply, byte for byte; bodies the fast reader refuses must get the errors
 * they always got. One daemon for the file.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;
static char sdk[128];

static void admin_ok(const char *method, const char *path, const char *body)
{
    struct resp r;
    assert_int_equal(http_req(D.port, method, path, D.admin_key, body, &r), 0);
    if (r.status / 100 != 2) {
        fail_msg("%s %s: %d %s", method, path, r.status, r.body ? r.body : "");
    }
    resp_free(&r);
}

static int setup(void **state)
{
    (void)state;
    if (daemon_start(&D, NULL) != 0) {
        return -1;
    }
    static const char *const exps[] = {
        "{\"key\":\"plain\",\"variants\":[{\"key\":\"control\"},{\"key\":\"treatment\"}]}",
        "{\"key\":\"nl-only\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
        "\"targeting\":{\"country\":\"NL\"}}",
        "{\"key\":\"by-id\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"},{\"key\":\"c\"}],"
        "\"targeting\":{\"id\":{\"$exists\":true}}}",
        "{\"key\":\"flat\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
        "\"targeting\":{\"age\":{\"$gte\":18},\"beta\":true,\"plan\":{\"$exists\":false}}}",
        "{\"key\":\"empty-cond\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
        "\"targeting\":{}}",
    };
    for (size_t i = 0; i < sizeof(exps) / sizeof(exps[0]); i++) {
        admin_ok("POST", "/api/v1/experiments", exps[i]);
    }
    admin_ok("POST", "/api/v1/experiments/plain/start", NULL);
    admin_ok("POST", "/api/v1/experiments/nl-only/start", NULL);
    admin_ok("POST", "/api/v1/experiments/by-id/start", NULL);
    admin_ok("POST", "/api/v1/experiments/flat/start", NULL);
    admin_ok("POST", "/api/v1/experiments/empty-cond/start", NULL);
    harness_sdk_key_named(D.port, D.admin_key, "t", sdk, sizeof(sdk), NULL, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

/* POST /api/v1/assign; the reply (status and body) into r. */
static void assign(const char *body, struct resp *r)
{
    assert_int_equal(http_req(D.port, "POST", "/api/v1/assign", sdk, body, r), 0);
}

static void refused(const char *body, const char *field);

/* The two bodies must get identical replies with status want. */
static void same(const char *fast, const char *slow, int want)
{
    struct resp a, b;
    assign(fast, &a);
    assign(slow, &b);
    if (a.status != want || b.status != want || a.body_len != b.body_len ||
        memcmp(a.body, b.body, a.body_len) != 0) {
        fail_msg("replies differ:\n  %s -> %d %s\n  %s -> %d %s", fast, a.status, a.body, slow,
                 b.status, b.body);
    }
    resp_free(&a);
    resp_free(&b);
}

static void test_same_reply_both_ways(void **state)
{
    (void)state;
    same("{\"user_id\":\"u1\",\"attributes\":{\"country\":\"NL\"},\"experiments\":[\"plain\","
         "\"nl-only\",\"nope\",\"by-id\"],\"log_exposure\":false}",
         "{\"user_id\":\"u\\u0031\",\"attributes\":{\"country\":\"NL\"},\"experiments\":["
         "\"plain\",\"nl-only\",\"nope\",\"by-id\"],\"log_exposure\":false}",
         200);
    /* whitespace everywhere, fields in another order */
    same(" \n{ \"log_exposure\" : false ,\t\"experiments\" : [ \"nl-only\" , \"plain\" ] ,"
         "\r\n \"user_id\" : \"u2\" , \"attributes\" : { \"country\" : \"DE\" } } \n",
         "{\"log_exposure\":false,\"experiments\":[\"nl-only\",\"plain\"],\"user_id\":\"u\\u0032\","
         "\"attributes\":{\"country\":\"DE\"}}",
         200);
    /* null and absent attributes / experiments: every live experiment */
    same("{\"user_id\":\"u3\",\"attributes\":null,\"experiments\":null,\"log_exposure\":false,"
         "\"explain\":null}",
         "{\"user_id\":\"\\u00753\",\"log_exposure\":false}", 200);
    same("{\"user_id\":\"u3\",\"experiments\":[],\"log_exposure\":false}",
         "{\"user_id\":\"\\u00753\",\"experiments\":[],\"log_exposure\":false}", 200);
    /* explain, a name given twice, nested attributes with numbers, an "id" of its own */
    same("{\"user_id\":\"u4\",\"experiments\":[\"plain\",\"plain\",\"by-id\"],\"explain\":true,"
         "\"log_exposure\":false,\"attributes\":{\"id\":\"other\",\"n\":1.5,\"a\":[1,\"x\","
         "{\"y\":null}],\"country\":\"NL\"}}",
         "{\"user_id\":\"\\u00754\",\"experiments\":[\"plain\",\"plain\",\"by-id\"],\"explain\":"
         "true,\"log_exposure\":false,\"attributes\":{\"id\":\"other\",\"n\":1.5,\"a\":[1,\"x\","
         "{\"y\":null}],\"country\":\"NL\"}}",
         200);
    /* UTF-8 user ids and an escape inside attributes only */
    same("{\"user_id\":\"caf\xc3\xa9\",\"attributes\":{\"country\":\"N\\u004c\"},"
         "\"log_exposure\":false}",
         "{\"user_id\":\"caf\\u00e9\",\"attributes\":{\"country\":\"NL\"},\"log_exposure\":false}",
         200);
}

/* Flat attributes (strings, small integers, booleans, null) are built without jansson's
 * lexer: targeting must see the same values as through jansson (forced here by an escape
 * in the user id), whatever the numbers' length */
static void test_flat_attributes_both_ways(void **state)
{
    (void)state;
    static const char *const attrs[] = {
        "{\"age\":30,\"beta\":true,\"plan\":null,\"score\":-5}",
        "{\"age\":17,\"beta\":true}",
        "{ \"age\" : 18 , \"beta\" : true }",
        "{\"age\":18,\"beta\":false}",
        "{\"age\":-0,\"beta\":true}",
        "{\"age\":123456789012345678,\"beta\":true}",
        "{\"age\":1234567890123456789,\"beta\":true}",
        /* past 2^63: a real (it refused the request), the same both ways */
        "{\"age\":12345678901234567890123,\"beta\":true}",
        "{\"age\":18.5,\"beta\":true,\"plan\":\"x\"}",
        "{\"age\":\"30\",\"beta\":true}",
        "{}",
    };
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
        char fast[512], slow[512];
        snprintf(fast, sizeof(fast),
                 "{\"user_id\":\"flat-%zu\",\"attributes\":%s,\"experiments\":[\"flat\"],"
                 "\"log_exposure\":false}",
                 i, attrs[i]);
        snprintf(slow, sizeof(slow),
                 "{\"user_id\":\"flat\\u002d%zu\",\"attributes\":%s,\"experiments\":["
                 "\"flat\"],\"log_exposure\":false}",
                 i, attrs[i]);
        same(fast, slow, 200);
    }
    refused("{\"user_id\":\"u\",\"attributes\":{\"age\":0123}}", NULL);
    refused("{\"user_id\":\"u\",\"attributes\":{\"age\":1,\"age\":1}}", NULL);
    refused("{\"user_id\":\"u\",\"attributes\":{\"age\":-}}", NULL);
    refused("{\"user_id\":\"u\",\"attributes\":{\"age\":1,}}", NULL);
}

/* The attribute caps (API.md) hold for an object the fast reader leaves unbuilt (its counts
 * decide; a request over a cap builds it so that the check words the error) as for one
 * jansson reads: same status, same reply, right at each cap and one past it. */
static void test_attribute_caps_both_ways(void **state)
{
    (void)state;
    struct daemon d2;
    static const char *const caps[] = {"--attributes-max-string", "16", "--attributes-max-bytes",
                                       "256", NULL};
    assert_int_equal(daemon_start(&d2, caps), 0);
    struct resp r;
    assert_int_equal(http_req(d2.port, "POST", "/api/v1/experiments", d2.admin_key,
                              "{\"key\":\"plain\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}",
                              &r),
                     0);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_int_equal(
        http_req(d2.port, "POST", "/api/v1/experiments/plain/start", d2.admin_key, NULL, &r), 0);
    resp_free(&r);
    /* bytes as the check counts them: 2 + (name + 3) + (string + 2, or 8) per member; ten
     * members "mN":"<16 bytes>" are 2 + 10 * 23 = 232, "x":1 makes 244, "y":"<6>" 256 */
    char ten[512] = "";
    for (int i = 0; i < 10; i++) {
        snprintf(ten + strlen(ten), sizeof(ten) - strlen(ten), "\"m%d\":\"abcdefghijklmnop\",", i);
    }
    char at[600], over[600], over_lit[600];
    snprintf(at, sizeof(at), "{%s\"x\":1,\"y\":\"abcdef\"}", ten);
    snprintf(over, sizeof(over), "{%s\"x\":1,\"y\":\"abcdefg\"}", ten);
    snprintf(over_lit, sizeof(over_lit), "{%s\"x\":null,\"yy\":\"abcdef\"}", ten);
    const struct {
        const char *attrs;
        int status;
        const char *field;
    } cases[] = {
        {at, 200, NULL},               /* 256: at the cap */
        {over, 413, "attributes"},     /* 257 */
        {over_lit, 413, "attributes"}, /* a literal counts 8 as a number does: 257 */
        {"{\"ua\":\"abcdefghijklmnop\"}", 200, NULL},
        {"{\"ua\":\"abcdefghijklmnopq\"}", 400, "attributes.ua"},
        {"{\"abcdefghijklmnopq\":1}", 400, "attributes.abcdefghijklmnopq"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char fast[1024], slow[1024];
        snprintf(fast, sizeof(fast),
                 "{\"user_id\":\"cap-%zu\",\"attributes\":%s,\"experiments\":[\"plain\"],"
                 "\"log_exposure\":false}",
                 i, cases[i].attrs);
        snprintf(slow, sizeof(slow),
                 "{\"user_id\":\"cap\\u002d%zu\",\"attributes\":%s,\"experiments\":["
                 "\"plain\"],\"log_exposure\":false}",
                 i, cases[i].attrs);
        struct resp a, b;
        assert_int_equal(http_req(d2.port, "POST", "/api/v1/assign", d2.admin_key, fast, &a), 0);
        assert_int_equal(http_req(d2.port, "POST", "/api/v1/assign", d2.admin_key, slow, &b), 0);
        if (a.status != cases[i].status || a.body_len != b.body_len ||
            memcmp(a.body, b.body, a.body_len) != 0 || b.status != a.status) {
            fail_msg("%s: %d %s / %d %s (want %d)", cases[i].attrs, a.status, a.body, b.status,
                     b.body, cases[i].status);
        }
        if (cases[i].field != NULL) {
            json_t *j = resp_json(&a);
            const char *f =
                json_string_value(json_object_get(json_object_get(j, "error"), "field"));
            if (f == NULL || strcmp(f, cases[i].field) != 0) {
                fail_msg("%s: field %s, want %s", cases[i].attrs, f ? f : "(none)", cases[i].field);
            }
            json_decref(j);
        }
        resp_free(&a);
        resp_free(&b);
    }
    assert_int_equal(daemon_stop(&d2), 0);
    daemon_cleanup(&d2);
}

static void test_exposures_logged_both_ways(void **state)
{
    (void)state;
    /* an empty condition matches everyone: deciding it needs no attributes, given or not */
    static const char *const bodies[] = {
        "{\"user_id\":\"e1\",\"experiments\":[\"empty-cond\"],\"log_exposure\":false}",
        "{\"user_id\":\"e1\",\"attributes\":{\"x\":1},\"experiments\":[\"empty-cond\"],"
        "\"log_exposure\":false}",
        "{\"user_id\":\"e\\u0031\",\"attributes\":{\"x\":[1]},\"experiments\":["
        "\"empty-cond\"],\"log_exposure\":false}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct resp r;
        assign(bodies[i], &r);
        if (r.status != 200 ||
            strstr(r.body, "\"in_experiment\":true,\"reason\":\"hashed\"") == NULL) {
            fail_msg("%s -> %d %s", bodies[i], r.status, r.body ? r.body : "");
        }
        resp_free(&r);
    }
    same("{\"user_id\":\"logged-1\",\"experiments\":[\"plain\"]}",
         "{\"user_id\":\"logged-\\u0031\",\"experiments\":[\"plain\"],\"log_exposure\":true}", 200);
    assert_int_equal(
        daemon_db_int(&D, "SELECT count(*) FROM exposures WHERE user_id = ?", 1, "logged-1"), 1);
}

/* A body the fast reader leaves to jansson: the error every client always got. */
static void refused(const char *body, const char *field)
{
    struct resp r;
    assign(body, &r);
    if (r.status != 400) {
        fail_msg("%s -> %d %s (want 400)", body, r.status, r.body ? r.body : "");
    }
    json_t *j = resp_json(&r);
    const char *f = json_string_value(json_object_get(json_object_get(j, "error"), "field"));
    if (field != NULL && (f == NULL || strcmp(f, field) != 0)) {
        fail_msg("%s -> field %s, want %s", body, f ? f : "(none)", field);
    }
    json_decref(j);
    resp_free(&r);
}

static void test_errors_unchanged(void **state)
{
    (void)state;
    refused("{\"user_id\":\"u\",\"user_id\":\"v\"}", NULL);                         /* duplicate */
    refused("{\"user_id\":\"u\",\"attributes\":{\"a\":1,\"a\":2}}", NULL);          /* nested */
    refused("{\"user_id\":\"u\",\"attributes\":{\"a\":1}", NULL);                   /* cut */
    refused("{\"user_id\":\"u\"} x", NULL);                                         /* trailing */
    refused("{\"user_id\":\"u\",\"log_exposure\":\"yes\"}", "log_exposure");        /* type */
    refused("{\"user_id\":\"u\",\"log_exposure\":truex}", NULL);                    /* literal */
    refused("{\"user_id\":\"u\",\"colour\":1}", "colour");                          /* unknown */
    refused("{\"user_id\":\"u\",\"attributes\":[1]}", "attributes");                /* type */
    refused("{\"user_id\":\"u\",\"experiments\":[\"plain\",7]}", "experiments[1]"); /* type */
    refused("{\"user_id\":\"u\",\"experiments\":\"plain\"}", "experiments");        /* type */
    refused("{\"user_id\":\"\"}", "user_id");                                       /* empty */
    refused("{\"user_id\":\"a\\tb\"}", "user_id");                                  /* control */
    refused("{\"user_id\":\"\xff\"}", NULL);                                        /* UTF-8 */
    refused("{\"attributes\":{}}", "user_id");                                      /* missing */
    refused("[\"user_id\"]", NULL);                                                 /* array */
    char big[512];
    snprintf(big, sizeof(big), "{\"user_id\":\"%0300d\"}", 7);
    refused(big, "user_id"); /* 300 bytes */
    char many[2048] = "{\"user_id\":\"u\",\"experiments\":[";
    for (int i = 0; i < 101; i++) {
        strcat(many, i ? ",\"x\"" : "\"x\"");
    }
    strcat(many, "]}");
    refused(many, "experiments"); /* 101 names */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_reply_both_ways),
        cmocka_unit_test(test_flat_attributes_both_ways),
        cmocka_unit_test(test_attribute_caps_both_ways),
        cmocka_unit_test(test_exposures_logged_both_ways),
        cmocka_unit_test(test_errors_unchanged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
