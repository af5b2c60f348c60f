/* Unit tests for core/saved_group.c (issue 15): reading a saved group (required fields,
 * defaults, the values' types and caps, PATCH keeping what it does not name, the key
 * immutable, stored timestamps), and finding the groups a condition names through $inGroup
 * and $notInGroup, nested in $and/$or/$not and field operators. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bunsen/saved_group.h"

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL) {
        fail_msg("bad test JSON '%s': %s", text, je.text);
    }
    return j;
}

static void expect_invalid(const char *text, enum model_mode mode, const json_t *base,
                           const char *field)
{
    json_t *doc = parse(text);
    json_t *out = NULL;
    struct err err;
    err_clear(&err);
    assert_int_equal(saved_group_from_json(doc, mode, base, &out, &err), -1);
    assert_null(out);
    assert_int_equal(err.code, ERR_INVALID);
    if (strcmp(err.field, field) != 0) {
        fail_msg("field '%s' (%s), want '%s' for %s", err.field, err.msg, field, text);
    }
    json_decref(doc);
}

static void test_read(void **state)
{
    (void)state;
    json_t *doc = parse("{\"key\":\"beta\",\"attribute\":\"id\",\"values\":[\"u1\",2,3.5]}");
    json_t *g = NULL;
    struct err err;
    err_clear(&err);
    assert_int_equal(saved_group_from_json(doc, MODEL_CREATE, NULL, &g, &err), 0);
    assert_string_equal(json_string_value(json_object_get(g, "name")), "beta");
    assert_string_equal(json_string_value(json_object_get(g, "description")), "");
    assert_int_equal(json_array_size(json_object_get(g, "values")), 3);
    json_decref(doc);

    /* PATCH: what it names changes, the rest stays; the key cannot change */
    json_object_set_new(g, "created_at", json_integer(5));
    json_t *p = parse("{\"values\":[\"u9\"],\"name\":\"Beta testers\"}");
    json_t *n = NULL;
    assert_int_equal(saved_group_from_json(p, MODEL_PATCH, g, &n, &err), 0);
    assert_string_equal(json_string_value(json_object_get(n, "attribute")), "id");
    assert_string_equal(json_string_value(json_object_get(n, "name")), "Beta testers");
    assert_int_equal(json_array_size(json_object_get(n, "values")), 1);
    assert_int_equal(json_integer_value(json_object_get(n, "created_at")), 5);
    json_decref(p);
    json_decref(n);
    expect_invalid("{\"key\":\"other\"}", MODEL_PATCH, g, "key");
    json_decref(g);

    expect_invalid("{\"attribute\":\"id\",\"values\":[]}", MODEL_CREATE, NULL, "key");
    expect_invalid("{\"key\":\"a\",\"values\":[]}", MODEL_CREATE, NULL, "attribute");
    expect_invalid("{\"key\":\"a\",\"attribute\":\"id\"}", MODEL_CREATE, NULL, "values");
    expect_invalid("{\"key\":\"a\",\"attribute\":\"id\",\"values\":\"u1\"}", MODEL_CREATE, NULL,
                   "values");
    expect_invalid("{\"key\":\"a\",\"attribute\":\"id\",\"values\":[\"u1\",true]}", MODEL_CREATE,
                   NULL, "values[1]");
    expect_invalid("{\"key\":\"a\",\"attribute\":\"id\",\"values\":[[1]]}", MODEL_CREATE, NULL,
                   "values[0]");
    expect_invalid("{\"key\":\"a\",\"attribute\":\"\",\"values\":[]}", MODEL_CREATE, NULL,
                   "attribute");
    expect_invalid("{\"key\":\"a\",\"attribute\":\"id\",\"values\":[],\"colour\":1}", MODEL_CREATE,
                   NULL, "colour");
    /* more than the cap */
    json_t *big = parse("{\"key\":\"a\",\"attribute\":\"id\"}");
    json_t *vals = json_array();
    for (int i = 0; i <= SAVED_GROUP_MAX_VALUES; i++) {
        json_array_append_new(vals, json_integer(i));
    }
    json_object_set_new(big, "values", vals);
    json_t *out = NULL;
    assert_int_equal(saved_group_from_json(big, MODEL_CREATE, NULL, &out, &err), -1);
    assert_string_equal(err.field, "values");
    json_decref(big);
}

static void test_missing(void **state)
{
    (void)state;
    json_t *groups = parse("{\"beta\":[\"u1\"],\"staff\":[\"u2\"]}");
    json_t *c = parse("{\"$or\":[{\"id\":{\"$inGroup\":\"beta\"}},{\"$and\":[{\"company\":{"
                      "\"$notInGroup\":\"blocked\"}}]}],\"country\":\"NL\"}");
    assert_string_equal(saved_group_missing(c, groups), "blocked");
    assert_true(saved_group_is_used(c, "beta"));
    assert_true(saved_group_is_used(c, "blocked"));
    assert_false(saved_group_is_used(c, "staff"));
    json_decref(c);
    c = parse("{\"id\":{\"$not\":{\"$inGroup\":\"staff\"}}}");
    assert_null(saved_group_missing(c, groups));
    json_decref(c);
    c = parse("{\"id\":{\"$inGroup\":7}}"); /* not a key: can never be evaluated */
    assert_string_equal(saved_group_missing(c, groups), "");
    json_decref(c);
    assert_null(saved_group_missing(NULL, groups));
    c = parse("{\"id\":{\"$inGroup\":\"beta\"}}");
    assert_string_equal(saved_group_missing(c, NULL), "beta");
    json_decref(c);
    json_decref(groups);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
