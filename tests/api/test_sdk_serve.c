/*
 * API tests of what the SDK-facing routes serve for an experiment (/assign, the GrowthBook
 * payload, remote evaluation, OFREP alike): typed variant values and default_value; reals
 * of 16-17 digits and near the largest double, and integers past 2^63, one number on every
 * path; a 304's Content-Length; an archived experiment serving nothing on any path (its
 * release and forced users neither); forced users of drafts served by the payload and
 * remote evaluation as by /assign; remote evaluation's tracked hash attribute and value; the
 * payload's dateUpdated moving forward on deletes. The OFREP protocol itself:
 * test_sdk_ofrep.c. One daemon for every test.
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;

static int setup(void **state)
{
    (void)state;
    calls_use(&D);
    return daemon_start(&D, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static void test_assign_values(void **state)
{
    (void)state;
    new_exp("typed",
            "\"variants\":[{\"key\":\"off\",\"value\":{\"off\":true}},{\"key\":\"on\",\"value\":"
            "{\"n\":1.5}}],\"targeting\":{\"country\":\"NL\"},\"default_value\":{\"d\":1},"
            "\"forced\":{\"qa\":\"on\"}",
            "start");
    json_t *a = call("POST", "/api/v1/assign",
                     "{\"user_id\":\"u1\",\"attributes\":{\"country\":\"NL\"},\"experiments\":["
                     "\"typed\"],\"log_exposure\":false}",
                     200);
    const json_t *x = json_object_get(json_object_get(a, "assignments"), "typed");
    const char *variant = json_string_value(json_object_get(x, "variant"));
    assert_json_text(json_object_get(x, "value"),
                     strcmp(variant, "off") == 0 ? "{\"off\":true}" : "{\"n\":1.5}");
    json_decref(a);
    /* not targeted: the default value */
    a = call("POST", "/api/v1/assign",
             "{\"user_id\":\"u1\",\"attributes\":{\"country\":\"BE\"},\"experiments\":[\"typed\"]}",
             200);
    x = json_object_get(json_object_get(a, "assignments"), "typed");
    assert_string_equal(json_string_value(json_object_get(x, "reason")), "not_targeted");
    assert_json_text(json_object_get(x, "value"), "{\"d\":1}");
    json_decref(a);
    /* forced: the forced variant's value; the GET form too */
    a = call("GET", "/api/v1/experiments/typed/assign?user_id=qa", NULL, 200);
    assert_json_text(json_object_get(a, "value"), "{\"n\":1.5}");
    json_decref(a);
    /* an experiment without values: the value is the variant key (v1) */
    new_exp("plain", "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]", "start");
    a = call("GET", "/api/v1/experiments/plain/assign?user_id=u2&log_exposure=false", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(a, "value")),
                        json_string_value(json_object_get(a, "variant")));
    json_decref(a);
    /* a bad value names its field */
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", "/api/v1/experiments", D.admin_key,
                              "{\"key\":\"bad\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\","
                              "\"value\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]"
                              "]]]]]]]]]]]]]]}]}",
                              &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_string_equal(resp_error_field(&r), "variants[1].value");
    resp_free(&r);
}

/* A real typed with 16-17 digits is one number everywhere: /assign, OFREP, the SDK payload
 * and GET (OFREP and /assign printed 3.14159265358979, the payload 3.1415926535897931, and a
 * GET body PATCHed back changed the stored value). OFREP names no variant for a
 * default_value. */
static double number_at(const json_t *v)
{
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void test_values_agree_everywhere(void **state)
{
    (void)state;
    sdk_key();
    new_exp("pi",
            "\"variants\":[{\"key\":\"a\",\"value\":3.141592653589793},{\"key\":\"b\","
            "\"value\":2}],\"default_value\":0.30000000000000004,\"forced\":{\"qa\":\"a\"},"
            "\"targeting\":{\"country\":\"NL\"}",
            "start");
    json_t *g = call("GET", "/api/v1/experiments/pi", NULL, 200);
    double typed =
        number_at(json_object_get(json_array_get(json_object_get(g, "variants"), 0), "value"));
    double dflt = number_at(json_object_get(g, "default_value"));
    assert_true(typed == 3.141592653589793 && dflt == 0.30000000000000004); /* as sent */
    json_t *a =
        call("GET", "/api/v1/experiments/pi/assign?user_id=qa&log_exposure=false", NULL, 200);
    assert_true(number_at(json_object_get(a, "value")) == typed);
    json_decref(a);
    json_t *o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/pi",
                        "{\"context\":{\"targetingKey\":\"qa\"}}", 200);
    assert_true(number_at(json_object_get(o, "value")) == typed);
    assert_string_equal(json_string_value(json_object_get(o, "variant")), "a");
    json_decref(o);
    o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/pi",
                "{\"context\":{\"targetingKey\":\"u9\",\"country\":\"BE\"}}", 200);
    assert_true(number_at(json_object_get(o, "value")) == dflt);
    assert_null(json_object_get(o, "variant")); /* the default is no variant's value */
    json_decref(o);
    json_t *p = call_as(sdk_key(), "GET", fmt("/api/features/%s", sdk_key()), NULL, 200);
    const json_t *f = json_object_get(json_object_get(p, "features"), "pi");
    assert_true(number_at(json_object_get(f, "defaultValue")) == dflt);
    const json_t *rules = json_object_get(f, "rules");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(rules); i++) {
        const json_t *vs = json_object_get(json_array_get(rules, i), "variations");
        if (json_array_size(vs) > 0) {
            assert_true(number_at(json_array_get(vs, 0)) == typed);
            seen = true;
        }
    }
    assert_true(seen);
    json_decref(p);
    /* a GET body PATCHed back changes nothing */
    json_t *patch = json_pack("{s:O}", "variants", json_object_get(g, "variants"));
    char *body = json_dumps(patch, JSON_COMPACT);
    json_decref(call("PATCH", "/api/v1/experiments/pi", body, 200));
    free(body);
    json_decref(patch);
    json_t *g2 = call("GET", "/api/v1/experiments/pi", NULL, 200);
    assert_true(number_at(json_object_get(json_array_get(json_object_get(g2, "variants"), 0),
                                          "value")) == typed);
    json_decref(g2);
    json_decref(g);
}

/* The largest double, 1.7976931348623157e308, is one number on every path: replies print
 * the shortest text that reads back as it (with 15 digits it was 1.79769313486232e308, which
 * reads back as no number, so such values were refused until s24), a GET body goes back
 * unchanged, and /assign, OFREP and the SDK payload serve it alike. */
static void test_reals_near_max(void **state)
{
    (void)state;
    sdk_key();
    const double big = 1.7976931348623157e308;
    new_exp("bigok",
            "\"variants\":[{\"key\":\"control\",\"value\":1.7976931348623157e308},{\"key\":\"b\","
            "\"value\":1}],\"targeting\":{\"a\":{\"$lt\":1.7976931348623157e308}},"
            "\"default_value\":-1.7976931348623157e308,\"forced\":{\"qa\":\"control\"}",
            "start");
    json_t *g = call("GET", "/api/v1/experiments/bigok", NULL, 200);
    assert_non_null(g); /* every number in it reads back */
    assert_true(number_at(json_object_get(json_array_get(json_object_get(g, "variants"), 0),
                                          "value")) == big);
    assert_true(number_at(json_object_get(json_object_get(json_object_get(g, "targeting"), "a"),
                                          "$lt")) == big);
    assert_true(number_at(json_object_get(g, "default_value")) == -big);
    char *body = json_dumps(g, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(call("PATCH", "/api/v1/experiments/bigok", body, 200));
    free(body);
    json_decref(g);
    json_t *a = call("POST", "/api/v1/assign",
                     "{\"user_id\":\"qa\",\"attributes\":{\"a\":1},\"experiments\":[\"bigok\"],"
                     "\"log_exposure\":false}",
                     200);
    assert_true(number_at(json_object_get(
                    json_object_get(json_object_get(a, "assignments"), "bigok"), "value")) == big);
    json_decref(a);
    json_t *o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/bigok",
                        "{\"context\":{\"targetingKey\":\"qa\"}}", 200);
    assert_true(number_at(json_object_get(o, "value")) == big);
    json_decref(o);
    json_t *p = call_as(sdk_key(), "GET", fmt("/api/features/%s", sdk_key()), NULL, 200);
    const json_t *rules =
        json_object_get(json_object_get(json_object_get(p, "features"), "bigok"), "rules");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(rules); i++) {
        const json_t *rule = json_array_get(rules, i);
        const json_t *vs = json_object_get(rule, "variations");
        if (json_array_size(vs) > 0) {
            assert_true(number_at(json_array_get(vs, 0)) == big);
            assert_true(
                number_at(json_object_get(json_object_get(json_object_get(rule, "condition"), "a"),
                                          "$lt")) == big);
            seen = true;
        }
    }
    assert_true(seen);
    json_decref(p);
}

/* Integers past 2^63 are reals in every body (JavaScript prints 1e20 as
 * 100000000000000000000): jansson refused such a body whole ("too big integer"): /assign,
 * remote evaluation, saved groups and variant values answered 400, OFREP a PARSE_ERROR
 * saying the body was no JSON object. Stored, they are the double they stand for (as every
 * real: 9223372036854775808 is 9223372036854775808.0). */
static void test_big_integers(void **state)
{
    (void)state;
    sdk_key();
    json_t *g = call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"bigints\",\"attribute\":\"n\",\"values\":[100000000000000000000,"
                     "9223372036854775808,9223372036854775807]}",
                     201);
    const json_t *vals = json_object_get(g, "values");
    assert_true(number_at(json_array_get(vals, 0)) == 1e20);
    assert_true(number_at(json_array_get(vals, 1)) == 9223372036854775808.0); /* 2^63 */
    assert_true(json_is_integer(json_array_get(vals, 2)));
    json_decref(g);
    /* an integer field beside them stays an integer (hash_version) */
    new_exp(
        "bigint",
        "\"variants\":[{\"key\":\"control\",\"value\":{\"n\":100000000000000000000}},{\"key\":"
        "\"b\",\"value\":{\"n\":-100000000000000000000}}],\"hash_version\":2,\"default_value\":{},"
        "\"targeting\":{\"n\":{\"$inGroup\":\"bigints\"}}",
        "start");
    json_t *x = call("GET", "/api/v1/experiments/bigint", NULL, 200);
    assert_true(number_at(json_object_get(
                    json_object_get(json_array_get(json_object_get(x, "variants"), 0), "value"),
                    "n")) == 1e20);
    json_decref(x);
    /* /assign (its fast reader leaves such numbers to jansson) */
    json_t *a = call("POST", "/api/v1/assign",
                     "{\"user_id\":\"u1\",\"attributes\":{\"n\":100000000000000000000},"
                     "\"experiments\":[\"bigint\"],\"log_exposure\":false}",
                     200);
    const json_t *as = json_object_get(json_object_get(a, "assignments"), "bigint");
    assert_true(json_is_true(json_object_get(as, "in_experiment")));
    json_decref(a);
    a = call("POST", "/api/v1/assign",
             "{\"user_id\":\"u1\",\"attributes\":{\"n\":1,\"big\":[123456789012345678901234567890,"
             "{\"x\":-99999999999999999999}]},\"experiments\":[\"bigint\"],\"log_exposure\":false}",
             200);
    as = json_object_get(json_object_get(a, "assignments"), "bigint");
    assert_string_equal(json_string_value(json_object_get(as, "reason")), "not_targeted");
    json_decref(a);
    /* OFREP, single and bulk */
    const char *ctx = "{\"context\":{\"targetingKey\":\"u1\",\"n\":100000000000000000000}}";
    json_t *o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/bigint", ctx, 200);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "SPLIT");
    json_decref(o);
    json_decref(call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/bigint",
                        "{\"context\":{\"targetingKey\":\"u1\",\"n\":9223372036854775808}}", 200));
    json_decref(call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags", ctx, 200));
    /* remote evaluation */
    json_t *ev = call_as(NULL, "POST", fmt("/api/eval/%s", sdk_key()),
                         "{\"attributes\":{\"id\":\"u1\",\"n\":100000000000000000000}}", 200);
    const json_t *f = json_object_get(json_object_get(ev, "features"), "bigint");
    assert_non_null(json_object_get(f, "rules"));
    json_decref(ev);
    /* a number past the double range is still refused, as the number it is */
    json_t *e =
        call("POST", "/api/v1/assign",
             "{\"user_id\":\"u1\",\"attributes\":{\"n\":1e400},\"experiments\":[\"bigint\"]}", 400);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(e, "error"), "message")),
               "a number is too large: 1e400"));
    json_decref(e);
    json_decref(call("POST", "/api/v1/experiments/bigint/stop", NULL, 200));
}

/* A 200 to method path (body: POST) as key, then the same with If-None-Match: its tag: a 304
 * whose Content-Length is the 200's, without a body or a Content-Type. */
static void not_modified_as_200(const char *key, const char *method, const char *path,
                                const char *body)
{
    struct resp a, b;
    assert_int_equal(http_req(D.port, method, path, key, body, &a), 0);
    assert_int_equal(a.status, 200);
    assert_true(a.body_len > 2);
    char tag[80], cl[32], ct[80];
    assert_true(resp_header(&a, "ETag", tag, sizeof(tag)));
    assert_int_equal(http_req_hdr(D.port, method, path, key, fmt("If-None-Match: %s\r\n", tag),
                                  body ? "application/json" : NULL, body, body ? strlen(body) : 0,
                                  &b),
                     0);
    assert_int_equal(b.status, 304);
    assert_true(resp_header(&b, "Content-Length", cl, sizeof(cl)));
    if (strtoul(cl, NULL, 10) != a.body_len) {
        fail_msg("%s %s: 304 with Content-Length %s, the 200 has %zu bytes", method, path, cl,
                 a.body_len);
    }
    assert_int_equal(b.body_len, 0);
    assert_false(resp_header(&b, "Content-Type", ct, sizeof(ct)));
    char tag2[80];
    assert_true(resp_header(&b, "ETag", tag2, sizeof(tag2)));
    assert_string_equal(tag2, tag);
    resp_free(&a);
    resp_free(&b);
}

/* A 304 says Content-Length: the 200's (RFC 9110 8.6: that or none; it said 0) on every
 * route that revalidates: the SDK payload, OFREP bulk evaluation and the definitions. */
static void test_not_modified_length(void **state)
{
    (void)state;
    sdk_key();
    new_exp("nm", "\"variants\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":2}]",
            "start");
    not_modified_as_200(NULL, "GET", fmt("/api/features/%s", sdk_key()), NULL);
    not_modified_as_200(sdk_key(), "POST", "/ofrep/v1/evaluate/flags",
                        "{\"context\":{\"targetingKey\":\"u1\"}}");
    not_modified_as_200(D.admin_key, "GET", "/api/v1/experiments/nm", NULL);
    json_decref(call("POST", "/api/v1/experiments/nm/stop", NULL, 200));
}

/* The assignment object of experiment key in a POST /assign answer for user (NULL: the
 * experiment was not in the answer); the answer is freed by the caller through *root. */
static const json_t *assigned(json_t **root, const char *user, const char *named)
{
    *root = call("POST", "/api/v1/assign",
                 named ? fmt("{\"user_id\":\"%s\",\"experiments\":[\"%s\"],\"log_exposure\":false}",
                             user, named)
                       : fmt("{\"user_id\":\"%s\",\"log_exposure\":false}", user),
                 200);
    return json_object_get(json_object_get(*root, "assignments"), named ? named : "");
}

/* The feature key of the GrowthBook payload, and of a remote evaluation for user id (NULL
 * when absent); new references. */
static json_t *payload_feature(const char *key)
{
    json_t *p = call_as(sdk_key(), "GET", fmt("/api/features/%s", sdk_key()), NULL, 200);
    json_t *f = json_incref(json_object_get(json_object_get(p, "features"), key));
    json_decref(p);
    return f;
}

static json_t *remote_feature(const char *key, const char *id)
{
    json_t *p = call_as(NULL, "POST", fmt("/api/eval/%s", sdk_key()),
                        fmt("{\"attributes\":{\"id\":\"%s\"}}", id), 200);
    json_t *f = json_incref(json_object_get(json_object_get(p, "features"), key));
    json_decref(p);
    return f;
}

/* An archived experiment serves nothing on any path, whatever it served when stopped (a
 * released variant, forced users): /assign named or GET answers not_running with the
 * control, the list without names leaves it out, OFREP says FLAG_NOT_FOUND, the payload and
 * remote evaluation have no feature. Before, a named /assign and the GET form kept serving
 * the released variant that OFREP and the payload no longer had. */
static void test_archived_serves_nothing(void **state)
{
    (void)state;
    sdk_key();
    new_exp("arch-rel",
            "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"forced\":{\"qa-a\":\"a\"}",
            "start,stop=b");
    json_t *root;
    const json_t *x = assigned(&root, "u1", "arch-rel");
    assert_string_equal(str(x, "reason"), "released"); /* stopped: everyone gets b */
    json_decref(root);
    json_t *f = payload_feature("arch-rel");
    assert_string_equal(json_string_value(json_object_get(f, "defaultValue")), "b");
    json_decref(f);
    json_decref(call("POST", "/api/v1/experiments/arch-rel/archive", NULL, 200));
    const char *users[] = {"u1", "qa-a"};
    for (size_t i = 0; i < 2; i++) {
        x = assigned(&root, users[i], "arch-rel");
        if (strcmp(str(x, "reason"), "not_running") != 0 || strcmp(str(x, "variant"), "a") != 0 ||
            !json_is_false(json_object_get(x, "in_experiment"))) {
            char *t = json_dumps(x, JSON_COMPACT);
            fail_msg("archived, /assign for %s: %s", users[i], t ? t : "?");
        }
        assert_string_equal(str(x, "value"), "a");
        json_decref(root);
        json_t *g =
            call("GET", fmt("/api/v1/experiments/arch-rel/assign?user_id=%s", users[i]), NULL, 200);
        assert_string_equal(str(g, "reason"), "not_running");
        assert_string_equal(str(g, "variant"), "a");
        json_decref(g);
        x = assigned(&root, users[i], NULL);
        assert_null(json_object_get(json_object_get(root, "assignments"), "arch-rel"));
        json_decref(root);
        json_t *o = call_as(sdk_key(), "POST", "/ofrep/v1/evaluate/flags/arch-rel",
                            fmt("{\"context\":{\"targetingKey\":\"%s\"}}", users[i]), 404);
        assert_string_equal(str(o, "errorCode"), "FLAG_NOT_FOUND");
        json_decref(o);
        assert_null(remote_feature("arch-rel", users[i]));
    }
    assert_null(payload_feature("arch-rel"));
}

/* A forced user of a draft (or of an experiment stopped without a release) gets the forced
 * variant: API.md checks forced before "not running", as GrowthBook's SDK does (QA before the
 * start). /assign and OFREP (TARGETING_MATCH) did; the payload left such experiments out, so a
 * GrowthBook SDK gave the QA user its fallback. Now the payload lists them with their force
 * rules alone and a null defaultValue (everyone else: the SDK's fallback, as OFREP's
 * DISABLED), and remote evaluation agrees. A draft without forced users stays out. */
static void test_forced_users_of_drafts(void **state)
{
    (void)state;
    sdk_key();
    new_exp("dr-forced",
            "\"variants\":[{\"key\":\"a\",\"value\":6},{\"key\":\"b\",\"value\":7}],"
            "\"forced\":{\"qa-b\":\"b\"}",
            NULL);
    new_exp("st-forced",
            "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"forced\":{\"qa-b\":\"b\"}",
            "start,stop");
    new_exp("dr-plain", "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]", NULL);
    const char *keys[] = {"dr-forced", "st-forced"};
    for (size_t k = 0; k < 2; k++) {
        json_t *root;
        const json_t *x = assigned(&root, "qa-b", keys[k]);
        assert_string_equal(str(x, "reason"), "forced");
        assert_string_equal(str(x, "variant"), "b");
        json_decref(root);
        x = assigned(&root, "u1", keys[k]);
        assert_string_equal(str(x, "reason"), "not_running");
        json_decref(root);
        json_t *o = call_as(sdk_key(), "POST", fmt("/ofrep/v1/evaluate/flags/%s", keys[k]),
                            "{\"context\":{\"targetingKey\":\"qa-b\"}}", 200);
        assert_string_equal(str(o, "reason"), "TARGETING_MATCH");
        assert_string_equal(str(o, "variant"), "b");
        json_decref(o);
        o = call_as(sdk_key(), "POST", fmt("/ofrep/v1/evaluate/flags/%s", keys[k]),
                    "{\"context\":{\"targetingKey\":\"u1\"}}", 200);
        assert_string_equal(str(o, "reason"), "DISABLED");
        assert_null(json_object_get(o, "value"));
        json_decref(o);
        /* the payload: the force rule, no experiment rule, null for everyone else */
        json_t *f = payload_feature(keys[k]);
        if (f == NULL) {
            fail_msg("%s (with forced users) is not in the payload", keys[k]);
        }
        assert_true(json_is_null(json_object_get(f, "defaultValue")));
        const json_t *rules = json_object_get(f, "rules");
        assert_int_equal(json_array_size(rules), 1);
        const json_t *rule = json_array_get(rules, 0);
        assert_json_text(json_object_get(rule, "condition"), "{\"id\":{\"$in\":[\"qa-b\"]}}");
        assert_json_text(json_object_get(rule, "force"), k == 0 ? "7" : "\"b\"");
        json_decref(f);
        /* remote evaluation: the forced value for qa-b, null for anyone else */
        f = remote_feature(keys[k], "qa-b");
        assert_non_null(f);
        assert_json_text(json_object_get(f, "defaultValue"), k == 0 ? "7" : "\"b\"");
        json_decref(f);
        f = remote_feature(keys[k], "u1");
        assert_non_null(f);
        assert_true(json_is_null(json_object_get(f, "defaultValue")));
        assert_null(json_object_get(f, "rules"));
        json_decref(f);
    }
    assert_null(payload_feature("dr-plain"));
    assert_null(remote_feature("dr-plain", "u1"));
}

/* The tracked result of feature key in a remote evaluation for attrs (JSON), as text. */
static char *remote_track(const char *key, const char *attrs)
{
    json_t *p = call_as(NULL, "POST", fmt("/api/eval/%s", sdk_key()),
                        fmt("{\"attributes\":%s}", attrs), 200);
    const json_t *f = json_object_get(json_object_get(p, "features"), key);
    const json_t *t = json_array_get(
        json_object_get(json_array_get(json_object_get(f, "rules"), 0), "tracks"), 0);
    const json_t *res = json_object_get(t, "result");
    json_t *o = json_pack("{s:O?, s:O?}", "hashAttribute", json_object_get(res, "hashAttribute"),
                          "hashValue", json_object_get(res, "hashValue"));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    json_decref(p);
    return s;
}

/* Remote evaluation's tracked result names what was hashed, as the SDK's local evaluation
 * does (hashAttribute, and hashValue as the attribute's value was sent): it said the user id
 * whatever was hashed, and the experiment's hash_attribute when its fallback was used. */
static void test_remote_eval_hash_value(void **state)
{
    (void)state;
    sdk_key();
    new_exp("rem-company",
            "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
            "\"hash_attribute\":\"company\",\"fallback_attribute\":\"device\"",
            "start");
    new_exp("rem-id", "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]", "start");
    static const struct {
        const char *key, *attrs, *want;
    } cases[] = {
        {"rem-company", "{\"id\":\"user-1\",\"company\":\"acme\",\"device\":\"d-9\"}",
         "{\"hashAttribute\":\"company\",\"hashValue\":\"acme\"}"},
        {"rem-company", "{\"id\":\"user-1\",\"device\":\"d-9\"}",
         "{\"hashAttribute\":\"device\",\"hashValue\":\"d-9\"}"},
        {"rem-company", "{\"id\":\"user-1\",\"company\":42}",
         "{\"hashAttribute\":\"company\",\"hashValue\":42}"},
        {"rem-company", "{\"id\":\"user-1\",\"company\":[\"a\",1]}",
         "{\"hashAttribute\":\"company\",\"hashValue\":[\"a\",1]}"},
        {"rem-id", "{\"id\":\"user-1\",\"company\":\"acme\"}",
         "{\"hashAttribute\":\"id\",\"hashValue\":\"user-1\"}"},
        {"rem-id", "{\"id\":7}", "{\"hashAttribute\":\"id\",\"hashValue\":7}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = remote_track(cases[i].key, cases[i].attrs);
        if (got == NULL || strcmp(got, cases[i].want) != 0) {
            fail_msg("%s for %s: tracked %s, want %s", cases[i].key, cases[i].attrs,
                     got ? got : "(none)", cases[i].want);
        }
        free(got);
    }
}

/* The payload's dateUpdated (malloc'd). */
static char *payload_date(void)
{
    json_t *p = call_as(sdk_key(), "GET", fmt("/api/features/%s", sdk_key()), NULL, 200);
    const char *d = json_string_value(json_object_get(p, "dateUpdated"));
    assert_non_null(d);
    char *out = strdup(d);
    json_decref(p);
    return out;
}

/* The payload's dateUpdated moves forward on every change, deletes too: the GrowthBook SDK
 * ignores a payload whose dateUpdated equals the one it has cached (SSE and refetch). It was
 * the latest updated_at of the rows that still exist, so deleting the newest experiment (a
 * draft with forced users) moved it back, and deleting another left it where it was: SDKs
 * kept serving the deleted experiment's forced variant. Two deletes in a row (likely in one
 * millisecond) move it too, and a saved group's. */
static void test_payload_date_moves_on_delete(void **state)
{
    (void)state;
    sdk_key();
    new_exp("date-old",
            "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
            "\"forced\":{\"qa-a\":\"a\"}",
            NULL);
    new_exp("date-new",
            "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
            "\"forced\":{\"qa-b\":\"b\"}",
            NULL);
    json_decref(call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"date-g\",\"attribute\":\"id\",\"values\":[\"u1\"]}", 201));
    json_t *f = payload_feature("date-new");
    assert_non_null(f);
    json_decref(f);
    char *d0 = payload_date();
    json_decref(call("DELETE", "/api/v1/experiments/date-new", NULL, 200));
    assert_null(payload_feature("date-new"));
    char *d1 = payload_date();
    json_decref(call("DELETE", "/api/v1/experiments/date-old", NULL, 200));
    assert_null(payload_feature("date-old"));
    char *d2 = payload_date();
    json_decref(call("DELETE", "/api/v1/saved-groups/date-g", NULL, 200));
    char *d3 = payload_date();
    if (!(strcmp(d1, d0) > 0 && strcmp(d2, d1) > 0 && strcmp(d3, d2) > 0)) {
        fail_msg("dateUpdated %s -> delete -> %s -> delete -> %s -> group delete -> %s", d0, d1, d2,
                 d3);
    }
    free(d0);
    free(d1);
    free(d2);
    free(d3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assign_values),
        cmocka_unit_test(test_values_agree_everywhere),
        cmocka_unit_test(test_reals_near_max),
        cmocka_unit_test(test_big_integers),
        cmocka_unit_test(test_not_modified_length),
        cmocka_unit_test(test_archived_serves_nothing),
        cmocka_unit_test(test_forced_users_of_drafts),
        cmocka_unit_test(test_payload_date_moves_on_delete),
        cmocka_unit_test(test_remote_eval_hash_value),
    };
    return cmocka_run_group_tests_name("api_sdk_serve", tests, setup, teardown);
}
