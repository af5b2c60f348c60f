/* Unit tests for issue 15 in core/: variant values and default_value (reading, limits,
 * rendering, the MODEL_LOAD round trip, PATCH replacing values, the value an assignment
 * gives), the reals of definitions kept as sent (a 15-digit PATCH of them no change),
 * hash_attribute / fallback_attribute (validation, reassignment, and assign_decide hashing the
 * attribute as GrowthBook's SDK does: strings as they are, numbers as JavaScript prints them, falsy
 * values as missing). */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bunsen/assign.h"
#include "bunsen/hash.h"
#include "bunsen/model.h"

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (j == NULL) {
        fail_msg("bad test JSON '%s': %s", text, je.text);
    }
    return j;
}

/* Read text as a new experiment; returns 0 or -1 with err. */
static int read_new(const char *text, struct experiment *x, struct err *err)
{
    json_t *j = parse(text);
    int rc = experiment_from_json(j, MODEL_CREATE, NULL, x, err);
    json_decref(j);
    return rc;
}

/* Read text as a stored experiment (MODEL_LOAD, status draft); returns 0 or -1 with err. */
static int read_stored(const char *text, struct experiment *x, struct err *err)
{
    json_t *j = parse(text);
    json_object_set_new(j, "status", json_string("draft"));
    json_object_set(j, "name", json_object_get(j, "key")); /* as a create stores them */
    json_object_set(j, "seed", json_object_get(j, "key"));
    int rc = experiment_from_json(j, MODEL_LOAD, NULL, x, err);
    json_decref(j);
    return rc;
}

static void expect_invalid(const char *text, const char *field)
{
    struct experiment x;
    struct err err;
    err_clear(&err);
    if (read_new(text, &x, &err) == 0) {
        experiment_clear(&x);
        fail_msg("accepted %s", text);
    }
    assert_int_equal(err.code, ERR_INVALID);
    if (strcmp(err.field, field) != 0) {
        fail_msg("field '%s', want '%s' (%s) for %s", err.field, field, err.msg, text);
    }
}

static void assert_json(const json_t *got, const char *want)
{
    json_t *w = parse(want);
    if (!json_equal((json_t *)(uintptr_t)got, w)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        fail_msg("got %s, want %s", g, want);
    }
    json_decref(w);
}

/* Values of every JSON type at once: stored before the one-type rule (experiment_values.c),
 * which refuses it when written, and loaded as it is. */
#define TYPED                                                                                      \
    "{\"key\":\"t\",\"variants\":[{\"key\":\"off\",\"value\":false},{\"key\":\"on\","              \
    "\"value\":{\"color\":\"green\",\"n\":[1,2.5]}},{\"key\":\"plain\"}],"                         \
    "\"default_value\":\"fallback\"}"

static void test_values_read_and_render(void **state)
{
    (void)state;
    struct experiment x, y;
    struct err err;
    err_clear(&err);
    assert_int_equal(read_stored(TYPED, &x, &err), 0);
    assert_json(x.variants[0].value, "false");
    assert_json(x.variants[1].value, "{\"color\":\"green\",\"n\":[1,2.5]}");
    assert_null(x.variants[2].value);
    assert_json(x.default_value, "\"fallback\"");
    assert_string_equal(x.hash_attribute, "id");
    assert_string_equal(x.fallback_attribute, "");

    /* rendered, and read back as stored */
    json_t *doc = experiment_to_json(&x);
    json_t *vars = json_object_get(doc, "variants");
    assert_json(json_object_get(json_array_get(vars, 0), "value"), "false");
    assert_null(json_object_get(json_array_get(vars, 2), "value")); /* none: absent */
    assert_json(json_object_get(doc, "default_value"), "\"fallback\"");
    assert_json(json_object_get(doc, "hash_attribute"), "\"id\"");
    assert_true(json_is_null(json_object_get(doc, "fallback_attribute")));
    json_object_set_new(doc, "status", json_string("draft"));
    assert_int_equal(experiment_from_json(doc, MODEL_LOAD, NULL, &y, &err), 0);
    json_decref(doc);
    assert_true(json_equal(x.variants[1].value, y.variants[1].value));
    assert_true(json_equal(x.default_value, y.default_value));

    /* copies are deep */
    struct experiment z;
    experiment_copy(&z, &x);
    assert_ptr_not_equal(z.variants[1].value, x.variants[1].value);
    assert_true(json_equal(z.variants[1].value, x.variants[1].value));
    experiment_clear(&z);
    experiment_clear(&y);
    experiment_clear(&x);
}

static void test_values_assigned(void **state)
{
    (void)state;
    struct experiment x;
    struct err err;
    err_clear(&err);
    assert_int_equal(read_stored(TYPED, &x, &err), 0);
    json_t *v = experiment_assigned_value(&x, 1, true); /* hashed, forced or released */
    assert_json(v, "{\"color\":\"green\",\"n\":[1,2.5]}");
    json_decref(v);
    v = experiment_assigned_value(&x, 2, true); /* a variant without a value: its key */
    assert_json(v, "\"plain\"");
    json_decref(v);
    v = experiment_assigned_value(&x, 0, false); /* out of the experiment: default_value */
    assert_json(v, "\"fallback\"");
    json_decref(v);
    experiment_clear(&x);

    /* without default_value: the control's value, as v1 (its key when it has none) */
    assert_int_equal(read_new("{\"key\":\"k\",\"variants\":[{\"key\":\"c\",\"value\":0},{\"key\":"
                              "\"t\",\"value\":1}]}",
                              &x, &err),
                     0);
    v = experiment_assigned_value(&x, 1, false);
    assert_json(v, "0");
    json_decref(v);
    experiment_clear(&x);
    assert_int_equal(
        read_new("{\"key\":\"k\",\"variants\":[{\"key\":\"c\"},{\"key\":\"t\"}]}", &x, &err), 0);
    v = experiment_assigned_value(&x, 1, false);
    assert_json(v, "\"c\"");
    json_decref(v);
    experiment_clear(&x);
}

static void test_values_limits(void **state)
{
    (void)state;
    /* 40 levels of nesting */
    char deep[400] = "";
    for (int i = 0; i < 40; i++) {
        strcat(deep, "[");
    }
    for (int i = 0; i < 40; i++) {
        strcat(deep, "]");
    }
    char text[2000];
    snprintf(text, sizeof(text),
             "{\"key\":\"k\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\",\"value\":%s}]}", deep);
    expect_invalid(text, "variants[1].value");
    snprintf(text, sizeof(text),
             "{\"key\":\"k\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"default_value\":%s}",
             deep);
    expect_invalid(text, "default_value");
    /* over 64 KiB */
    size_t big = MODEL_VALUE_MAX_BYTES + 10;
    char *huge = malloc(big + 200);
    int n = snprintf(huge, big + 200, "{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"value\":\"");
    memset(huge + n, 'x', big);
    snprintf(huge + n + big, 200, "\"},{\"key\":\"b\"}]}");
    expect_invalid(huge, "variants[0].value");
    free(huge);
    expect_invalid("{\"key\":\"k\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                   "\"hash_attribute\":\"\"}",
                   "hash_attribute");
    expect_invalid("{\"key\":\"k\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                   "\"hash_attribute\":7}",
                   "hash_attribute");
    expect_invalid("{\"key\":\"k\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                   "\"fallback_attribute\":\"a\\u0001b\"}",
                   "fallback_attribute");
    /* an unknown field inside a variant is still refused */
    expect_invalid("{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"valu\":1},{\"key\":\"b\"}]}",
                   "variants[0].valu");
}

static void test_values_patch(void **state)
{
    (void)state;
    struct experiment base, next;
    struct err err;
    err_clear(&err);
    assert_int_equal(read_stored(TYPED, &base, &err), 0);
    /* a new variant list replaces the values (the old ones are freed: ASan checks) */
    json_t *p = parse(
        "{\"variants\":[{\"key\":\"off\",\"value\":\"0\"},{\"key\":\"on\",\"value\":\"1\"}]}");
    assert_int_equal(experiment_from_json(p, MODEL_PATCH, &base, &next, &err), 0);
    json_decref(p);
    assert_int_equal(next.nvariants, 2);
    assert_json(next.variants[0].value, "\"0\"");
    assert_json(next.default_value, "\"fallback\"");
    experiment_clear(&next);

    /* values alone never reassign users; the hash attribute does */
    p = parse("{\"variants\":[{\"key\":\"off\",\"weight\":0.3333333333333333,\"value\":\"x\"},"
              "{\"key\":\"on\",\"weight\":0.3333333333333333},{\"key\":\"plain\",\"weight\":"
              "0.3333333333333333}],\"default_value\":null}");
    assert_int_equal(experiment_from_json(p, MODEL_PATCH, &base, &next, &err), 0);
    json_decref(p);
    assert_null(next.default_value);
    assert_null(experiment_reassigning_change(&base, &next));
    experiment_clear(&next);
    p = parse("{\"hash_attribute\":\"company\"}");
    assert_int_equal(experiment_from_json(p, MODEL_PATCH, &base, &next, &err), 0);
    json_decref(p);
    assert_string_equal(experiment_reassigning_change(&base, &next), "hash_attribute");
    experiment_clear(&next);
    p = parse("{\"fallback_attribute\":\"device\"}");
    assert_int_equal(experiment_from_json(p, MODEL_PATCH, &base, &next, &err), 0);
    json_decref(p);
    assert_string_equal(experiment_reassigning_change(&base, &next), "fallback_attribute");
    experiment_clear(&next);
    /* a bad value in a PATCH fails without leaking the copy */
    p = parse("{\"variants\":[{\"key\":\"off\",\"value\":[1]},{\"key\":\"on\",\"valu\":1}]}");
    assert_int_equal(experiment_from_json(p, MODEL_PATCH, &base, &next, &err), -1);
    assert_string_equal(err.field, "variants[1].valu");
    json_decref(p);
    experiment_clear(&base);
}

/* rev-sdk finding 4: the values of one experiment are one JSON type, the flag's type in SDKs
 * (false with "yes" answered OFREP's getBooleanValue TYPE_MISMATCH for half the users, who
 * were still exposed). Checked on create and on a PATCH of the values; stored ones load. */
static void test_values_one_type(void **state)
{
    (void)state;
    expect_invalid("{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"value\":false},{\"key\":\"b\","
                   "\"value\":\"yes\"}],\"default_value\":3}",
                   "variants[1].value");
    /* no value: the key, a string */
    expect_invalid("{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"value\":null},{\"key\":\"b\","
                   "\"value\":1}]}",
                   "variants[1].value");
    expect_invalid("{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\"}]}",
                   "variants[1].value");
    expect_invalid("{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\","
                   "\"value\":2}],\"default_value\":\"x\"}",
                   "default_value");
    expect_invalid("{\"key\":\"k\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                   "\"default_value\":3}",
                   "default_value");
    struct experiment x;
    struct err err;
    err_clear(&err);
    assert_int_equal(read_new("{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"value\":false},"
                              "{\"key\":\"b\",\"value\":\"yes\"}]}",
                              &x, &err),
                     -1);
    assert_non_null(strstr(err.msg, "variant 'a' is a boolean, variant 'b' is a string"));
    /* an object and an array are two types (OFREP carries objects, not arrays) */
    assert_int_equal(read_new("{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"value\":{\"x\":1}},"
                              "{\"key\":\"b\",\"value\":[1]}],\"default_value\":{}}",
                              &x, &err),
                     -1);
    assert_non_null(strstr(err.msg, "variant 'a' is an object, variant 'b' is an array"));
    /* accepted: integers with reals, keys with strings, arrays with arrays, no default */
    const char *ok[] = {
        "{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":2.5}],"
        "\"default_value\":0}",
        "{\"key\":\"k\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\",\"value\":\"x\"}],"
        "\"default_value\":\"d\"}",
        "{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"value\":[2]},{\"key\":\"b\","
        "\"value\":[1]}],\"default_value\":[]}",
        "{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"value\":true},{\"key\":\"b\","
        "\"value\":false}],\"default_value\":null}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (read_new(ok[i], &x, &err) != 0) {
            fail_msg("refused %s: %s %s", ok[i], err.field, err.msg);
        }
        experiment_clear(&x);
    }
    /* stored before the rule: loads, and a PATCH of anything but the values passes */
    struct experiment base, next;
    assert_int_equal(read_stored(TYPED, &base, &err), 0);
    json_t *p = parse("{\"name\":\"renamed\"}");
    assert_int_equal(experiment_from_json(p, MODEL_PATCH, &base, &next, &err), 0);
    json_decref(p);
    experiment_clear(&next);
    p = parse("{\"default_value\":\"other\"}");
    assert_int_equal(experiment_from_json(p, MODEL_PATCH, &base, &next, &err), -1);
    assert_string_equal(err.field, "variants[1].value");
    json_decref(p);
    experiment_clear(&base);
}

/* Rounding to 15 digits (validate_round_real, what namespace ranges are compared at): a real
 * that rounds beyond the largest double (1.7976931348623157e308 is 1.79769313486232e308 at 15
 * digits) is no number; definitions keep such a real as sent. */
static void test_values_round_near_max(void **state)
{
    (void)state;
    double r = 7;
    assert_false(validate_round_real(1.7976931348623157e308, 15, &r));
    assert_false(validate_round_real(-1.7976931348623157e308, 15, &r));
    assert_false(validate_round_real(1.7976931348623155e308, 15, &r));
    assert_true(r == 7); /* untouched */
    assert_true(validate_round_real(1.7976931348623099e308, 15, &r));
    assert_true(r == 1.79769313486231e308);
    assert_true(validate_round_real(0.12345678901234567, 15, &r));
    assert_true(r == 0.123456789012346);
    assert_true(validate_round_real(4.9e-324, 15, &r) && r > 0); /* the least denormal stays */

    struct err err;
    err_clear(&err);

    /* where definitions are read, such a number is kept as sent since s24 (replies print
     * the shortest text that reads back as it: "1.7976931348623157e308") */
    struct experiment w;
    assert_int_equal(read_new("{\"key\":\"k\",\"variants\":[{\"key\":\"a\",\"value\":"
                              "1.7976931348623157e308},{\"key\":\"b\",\"value\":2.5}],"
                              "\"default_value\":-1.7976931348623157e308,\"targeting\":{"
                              "\"score\":{\"$lt\":1.7976931348623157e308}}}",
                              &w, &err),
                     0);
    assert_true(json_real_value(w.variants[0].value) == 1.7976931348623157e308);
    assert_true(json_real_value(w.default_value) == -1.7976931348623157e308);
    assert_true(json_real_value(json_object_get(json_object_get(w.targeting, "score"), "$lt")) ==
                1.7976931348623157e308);
    experiment_clear(&w);
    /* a stored one (an older version kept it) still loads */
    json_t *doc = parse("{\"key\":\"k\",\"status\":\"running\",\"variants\":[{\"key\":\"a\","
                        "\"value\":1.7976931348623157e308},{\"key\":\"b\"}],\"targeting\":"
                        "{\"score\":{\"$lt\":1.7976931348623157e308}}}");
    struct experiment x;
    assert_int_equal(experiment_from_json(doc, MODEL_LOAD, NULL, &x, &err), 0);
    assert_true(json_real_value(x.variants[0].value) == 1.7976931348623157e308); /* as stored */
    experiment_clear(&x);
    json_decref(doc);
}

/* The doc rendered and read back as a PATCH body with `digits` significant digits: 17 read
 * back exactly (what a GET shows), 15 round them. */
static json_t *as_body(json_t *doc, int digits)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(digits));
    json_decref(doc);
    json_t *j = parse(text);
    free(text);
    return j;
}

/* The reals of a definition (targeting, the namespace range, mde, sequential_tuning,
 * analysis.alpha, a metric's cap) are kept as sent (until s24 they were rounded to 15 digits
 * when written): a GET body sent back is no change, and a PATCH with the stored number
 * rounded to 15 digits is one (it stores the rounded number, as sent). */
static void test_definition_reals(void **state)
{
    (void)state;
    struct err err;
    err_clear(&err);
    double r;
    json_t *v = json_real(0.12345678901234567);
    assert_int_equal(validate_real(v, MODEL_CREATE, "x", 0, 1, &r, &err), 0);
    assert_true(r == 0.12345678901234567);
    assert_int_equal(validate_real(v, MODEL_PATCH, "x", 0, 1, &r, &err), 0);
    assert_true(r == 0.12345678901234567);
    assert_int_equal(validate_real(v, MODEL_LOAD, "x", 0, 1, &r, &err), 0);
    assert_true(r == 0.12345678901234567);
    json_decref(v);

    /* written: as sent */
    struct experiment x, base, next;
    assert_int_equal(
        read_new("{\"key\":\"k\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"targeting\":"
                 "{\"score\":{\"$gt\":0.12345678901234567}},\"namespace\":{\"name\":\"n\","
                 "\"range\":[0.11111111111111111,0.33333333333333331]},\"mde\":"
                 "0.033333333333333333,\"sequential_tuning\":1234.5678901234567,\"analysis\":"
                 "{\"alpha\":0.033333333333333333}}",
                 &x, &err),
        0);
    assert_true(json_real_value(json_object_get(json_object_get(x.targeting, "score"), "$gt")) ==
                0.12345678901234567);
    assert_true(x.ns_start == 0.11111111111111111 && x.ns_end == 0.33333333333333331);
    assert_true(x.mde == 0.033333333333333333);
    assert_true(x.sequential_tuning == 1234.5678901234567);
    assert_true(x.analysis.alpha == 0.033333333333333333);
    experiment_clear(&x);

    /* stored with 17 digits: loaded as stored, its GET body is no change */
    json_t *doc = parse("{\"key\":\"k\",\"name\":\"k\",\"seed\":\"k\",\"status\":\"running\","
                        "\"variants\":[{\"key\":\"a\"},"
                        "{\"key\":\"b\"}],\"targeting\":{\"score\":{\"$gt\":0.12345678901234567}},"
                        "\"namespace\":{\"name\":\"n\",\"range\":[0.11111111111111111,"
                        "0.33333333333333331]},\"mde\":0.033333333333333333,"
                        "\"sequential_tuning\":1234.5678901234567,\"analysis\":{\"alpha\":"
                        "0.033333333333333333}}");
    assert_int_equal(experiment_from_json(doc, MODEL_LOAD, NULL, &base, &err), 0);
    json_decref(doc);
    assert_true(base.ns_end == 0.33333333333333331);
    json_t *body = as_body(experiment_to_json(&base), 17);
    if (experiment_from_json(body, MODEL_PATCH, &base, &next, &err) != 0) {
        fail_msg("%s: %s", err.field, err.msg);
    }
    json_decref(body);
    assert_null(experiment_reassigning_change(&base, &next));
    assert_true(json_equal(next.targeting, base.targeting));
    assert_true(next.ns_start == base.ns_start && next.ns_end == base.ns_end);
    assert_true(next.mde == base.mde && next.sequential_tuning == base.sequential_tuning &&
                next.analysis.alpha == base.analysis.alpha);
    experiment_clear(&next);
    /* with 15 digits: those numbers, as sent (a 200 that kept the stored ones changed
     * nothing the client asked for) */
    body = as_body(experiment_to_json(&base), 15);
    assert_int_equal(experiment_from_json(body, MODEL_PATCH, &base, &next, &err), 0);
    json_decref(body);
    assert_true(json_real_value(json_object_get(json_object_get(next.targeting, "score"), "$gt")) ==
                0.123456789012346);
    assert_true(next.mde == 0.0333333333333333 && next.analysis.alpha == 0.0333333333333333);
    assert_true(next.ns_end == 0.333333333333333);
    experiment_clear(&next);
    /* a real change is one, as sent */
    body = parse("{\"targeting\":{\"score\":{\"$gt\":0.22222222222222221}},\"namespace\":{"
                 "\"name\":\"n\",\"range\":[0.11111111111111111,0.5]}}");
    assert_int_equal(experiment_from_json(body, MODEL_PATCH, &base, &next, &err), 0);
    json_decref(body);
    assert_string_equal(experiment_reassigning_change(&base, &next), "namespace");
    assert_true(next.ns_start == base.ns_start); /* the unchanged end of it kept */
    assert_true(json_real_value(json_object_get(json_object_get(next.targeting, "score"), "$gt")) ==
                0.22222222222222221);
    experiment_clear(&next);
    experiment_clear(&base);

    /* a metric's cap */
    struct metric m, mb, mn;
    doc = parse("{\"key\":\"m\",\"name\":\"m\",\"event\":\"e\",\"type\":\"sum\",\"cap\":123."
                "45678901234567}");
    assert_int_equal(metric_from_json(doc, MODEL_CREATE, NULL, &m, &err), 0);
    assert_true(m.cap == 123.45678901234567);
    assert_int_equal(metric_from_json(doc, MODEL_LOAD, NULL, &mb, &err), 0);
    json_decref(doc);
    assert_true(mb.cap == 123.45678901234567);
    body = as_body(metric_to_json(&mb), 17);
    assert_int_equal(metric_from_json(body, MODEL_PATCH, &mb, &mn, &err), 0);
    json_decref(body);
    assert_true(mn.cap == mb.cap);
    body = as_body(metric_to_json(&mb), 15);
    assert_int_equal(metric_from_json(body, MODEL_PATCH, &mb, &mn, &err), 0);
    json_decref(body);
    assert_true(mn.cap == 123.456789012346);
    body = parse("{\"cap\":99.999999999999986}");
    assert_int_equal(metric_from_json(body, MODEL_PATCH, &mb, &mn, &err), 0);
    json_decref(body);
    assert_true(mn.cap == 99.999999999999986);
}

/* Decide for one user with attributes (JSON text) in an experiment with a hash attribute. */
static struct assign_result decide(const char *hash_attr, const char *fallback, const char *user,
                                   const char *attrs)
{
    static const char *const keys[] = {"a", "b"};
    struct assign_experiment x;
    assign_experiment_init(&x);
    x.key = "exp-h";
    x.status = ASSIGN_STATUS_RUNNING;
    x.nvariants = 2;
    x.variant_keys = keys;
    x.hash_attribute = hash_attr;
    x.fallback_attribute = fallback;
    json_t *a = parse(attrs);
    struct assign_result res;
    struct err err;
    err_clear(&err);
    assert_int_equal(assign_decide(&x, user, strlen(user), a, &res, &err), 0);
    json_decref(a);
    return res;
}

static double bucket_of(const char *value)
{
    double b;
    struct err err;
    assert_int_equal(hash_bucket("exp-h", 5, value, strlen(value), 2, &b, &err), 0);
    return b;
}

static void test_hash_attribute(void **state)
{
    (void)state;
    struct assign_result r = decide("company", NULL, "u1", "{\"company\":\"acme\"}");
    assert_int_equal(r.reason, ASSIGN_REASON_HASHED);
    assert_true(r.bucket == bucket_of("acme"));
    /* two users of one company share the bucket */
    struct assign_result r2 = decide("company", NULL, "u2", "{\"company\":\"acme\"}");
    assert_true(r2.bucket == r.bucket);
    /* numbers as JavaScript's seed + value prints them; true as "true" */
    assert_true(decide("n", NULL, "u", "{\"n\":123}").bucket == bucket_of("123"));
    assert_true(decide("n", NULL, "u", "{\"n\":12.5}").bucket == bucket_of("12.5"));
    assert_true(decide("n", NULL, "u", "{\"n\":1e3}").bucket == bucket_of("1000"));
    assert_true(decide("n", NULL, "u", "{\"n\":true}").bucket == bucket_of("true"));
    /* missing or falsy: not in the experiment (the SDK skips), the control */
    const char *const missing[] = {"{}", "{\"company\":\"\"}", "{\"company\":0}",
                                   "{\"company\":false}", "{\"company\":null}"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        r = decide("company", NULL, "u1", missing[i]);
        assert_int_equal(r.reason, ASSIGN_REASON_NOT_TARGETED);
        assert_int_equal(r.variant, 0);
        assert_false(r.has_bucket);
    }
    /* the fallback attribute when the hash attribute is missing */
    r = decide("company", "device", "u1", "{\"device\":\"d-9\"}");
    assert_int_equal(r.reason, ASSIGN_REASON_HASHED);
    assert_true(r.bucket == bucket_of("d-9"));
    r = decide("company", "device", "u1", "{\"company\":\"acme\",\"device\":\"d-9\"}");
    assert_true(r.bucket == bucket_of("acme"));
    /* NULL: the user id, as before */
    r = decide(NULL, NULL, "user-7", "{\"company\":\"acme\"}");
    assert_true(r.bucket == bucket_of("user-7"));
}

/* assign_hash_text of one JSON value (text), or NULL. */
static const char *hash_text(const char *json, char buf[64])
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    size_t len = 0;
    struct assign_text text = {0};
    const char *t = assign_hash_text(v, &text, &len);
    if (t != NULL) {
        snprintf(buf, 64, "%.*s", (int)len, t);
        t = buf;
    }
    assign_text_free(&text);
    json_decref(v);
    return t;
}

/* json (a hash attribute's value) hashes as the text js, which JavaScript prints, and gives
 * the SDK's bucket for experiment exp-h; returns the text (in buf or borrowed). */
static const char *check_hashed_as(const char *json, const char *js, double bucket, char *buf)
{
    const char *t = hash_text(json, buf);
    if (t == NULL || strcmp(t, js) != 0) {
        fail_msg("%s: hashed as '%s', JavaScript prints '%s'", json, t ? t : "(none)", js);
    }
    char attrs[128];
    snprintf(attrs, sizeof(attrs), "{\"uid\":%s}", json);
    struct assign_result r = decide("uid", NULL, "u", attrs);
    assert_int_equal(r.reason, ASSIGN_REASON_HASHED);
    if (r.bucket != bucket) {
        fail_msg("%s: bucket %.4f, the SDK's %.4f", json, r.bucket, bucket);
    }
    return t;
}

/* Numbers hash as the GrowthBook JavaScript SDK's `seed + value` prints them: the double
 * JSON.parse makes of the text, then String() of it. Expected texts and buckets from node:
 * String(x) and hash("exp-h", x, 2) of the SDK's FNV-1a (tests/sdk). */
static void test_hash_numbers_as_javascript(void **state)
{
    (void)state;
    static const struct {
        const char *json, *js;
        double bucket; /* hash("exp-h", js, 2) */
    } cases[] = {
        {"9007199254740993", "9007199254740992", 0.469}, /* past 2^53: the double it becomes */
        {"9007199254740995", "9007199254740996", 0.8547},
        {"1e-7", "1e-7", 0.0908}, /* below 1e-6: exponent form */
        {"1.5e-7", "1.5e-7", 0.1526},
        {"-1e-7", "-1e-7", 0.7093},
        {"0.000001", "0.000001", 0.0561},
        {"1e21", "1e+21", 0.6359}, /* from 1e21: exponent form with its sign */
        {"1e20", "100000000000000000000", 0.8463},
        {"1.2345678901234568e20", "123456789012345680000", 0.9226},
        {"1.7976931348623157e308", "1.7976931348623157e+308", 0.3459},
        /* 2^-1017, a power of two: the shortest digits lie above it, where the doubles are
         * sparser (16 digits; a search of the nearest digits only found 17) */
        {"7.1202363472230444e-307", "7.120236347223045e-307", 0.1763},
        {"0.1", "0.1", 0.5428},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];
        check_hashed_as(cases[i].json, cases[i].js, cases[i].bucket, buf);
    }
}

/* An array or object as the hash attribute is hashed as the SDK's `seed + value` prints it
 * (String(value)): arrays are truthy even empty and joined with "," (Array#join: null as "",
 * nested arrays joined, objects "[object Object]"). It was treated as missing (not_targeted)
 * while the SDK, given the same payload, put the user in the experiment. Texts and buckets
 * from node: String(v), hash("exp-h", v, 2) and hash("__ns", v, 1) of the SDK (tests/sdk). */
static void test_hash_arrays_as_javascript(void **state)
{
    (void)state;
    static const struct {
        const char *json, *js;
        double bucket, ns_bucket; /* hash("exp-h", v, 2), hash("__ns", v, 1) */
    } cases[] = {
        {"[\"acme\"]", "acme", 0.9958, 0.326},
        {"[]", "", 0.7593, 0.06},
        {"[null]", "", 0.7593, 0.06},
        {"[\"a\",\"b\"]", "a,b", 0.8677, 0.215},
        {"[1,1e21,0.1,true,false,null,\"x\"]", "1,1e+21,0.1,true,false,,x", 0.3313, 0.715},
        {"[[1,[2,3]],{\"n\":1},[]]", "1,2,3,[object Object],", 0.3085, 0.772},
        {"{\"n\":1}", "[object Object]", 0.1545, 0.118},
        {"{}", "[object Object]", 0.1545, 0.118},
        {"[0]", "0", 0.4543, 0.47},
        {"[-0.0]", "0", 0.4543, 0.47},
        {"[9007199254740993]", "9007199254740992", 0.469, 0.607},
        {"[\"\u00e9\u4e2d\U0001F600\",1e-7]", "\u00e9\u4e2d\U0001F600,1e-7", 0.721, 0.745},
        {"[[[]],[null,null]]", ",,", 0.4005, 0.94},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];
        const char *t = check_hashed_as(cases[i].json, cases[i].js, cases[i].bucket, buf);
        double nb;
        struct err err;
        assert_int_equal(hash_namespace_bucket(t, strlen(t), "ns", 2, &nb, &err), 0);
        if (nb != cases[i].ns_bucket) {
            fail_msg("%s: namespace bucket %.4f, the SDK's %.4f", cases[i].json, nb,
                     cases[i].ns_bucket);
        }
    }
    /* the fallback is used only when the hash attribute is falsy: [] is not */
    struct assign_result r = decide("company", "device", "u", "{\"company\":[],\"device\":\"d\"}");
    assert_true(r.bucket == bucket_of(""));
    assert_string_equal(r.explain.hash_attribute, "company");
    /* a long array: the text is as long as it takes (1,000 elements of 60 bytes) */
    json_t *arr = json_array();
    char *joined = malloc(1000 * 61);
    size_t len = 0;
    for (int i = 0; i < 1000; i++) {
        char el[61];
        snprintf(el, sizeof(el), "%060d", i);
        json_array_append_new(arr, json_string(el));
        len += (size_t)sprintf(joined + len, "%s%s", i ? "," : "", el);
    }
    json_t *attrs = json_pack("{s:o}", "uid", arr);
    char *text = json_dumps(attrs, JSON_COMPACT);
    r = decide("uid", NULL, "u", text);
    assert_int_equal(r.reason, ASSIGN_REASON_HASHED);
    assert_true(r.bucket == bucket_of(joined));
    free(text);
    free(joined);
    json_decref(attrs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_read_and_render),
        cmocka_unit_test(test_values_assigned),
        cmocka_unit_test(test_values_limits),
        cmocka_unit_test(test_values_patch),
        cmocka_unit_test(test_values_one_type),
        cmocka_unit_test(test_values_round_near_max),
        cmocka_unit_test(test_definition_reals),
        cmocka_unit_test(test_hash_attribute),
        cmocka_unit_test(test_hash_numbers_as_javascript),
        cmocka_unit_test(test_hash_arrays_as_javascript),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
