/* Unit tests for body_count.c, the pass that counts a top-level member array's elements
 * before jansson builds the body: on well-formed JSON the count is json_array_size() of
 * the member as jansson reads it (strings holding brackets, commas and escaped quotes,
 * nested arrays and objects, blanks everywhere, escaped keys), and the scan stops once the
 * count passes the cap. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/api/api_int.h"

/* The count of name in text must be jansson's (-1 when jansson has no such array). */
static void agrees(const char *text, const char *name)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        fail_msg("not JSON (%s): %s", jerr.text, text);
    }
    json_t *a = json_object_get(root, name);
    long want = json_is_array(a) ? (long)json_array_size(a) : -1;
    long got = api_json_count_items(text, strlen(text), name, 1000);
    json_decref(root);
    if (got != want) {
        fail_msg("%s in %s: counted %ld, jansson %ld", name, text, got, want);
    }
}

static void test_agrees_with_jansson(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"exposures\":[]}",
        "{\"exposures\":[ \n\t\r ]}",
        "{\"exposures\":[{}]}",
        "{\"exposures\":[{},{},{}]}",
        " \n{ \"exposures\" : [ {} , {} ] } \n",
        "{\"exposures\":[\"a,b\",\"[c]\",\"{d}\",\"e\\\"],[\\\"f\",\"\\\\\",\"g\\\\\\\"\"]}",
        "{\"exposures\":[[1,2,[3,4]],{\"a\":[5,6],\"b\":{\"c\":\"],}\"}},7]}",
        "{\"exposures\":[1,2.5,-3e2,true,false,null,\"x\"]}",
        "{\"other\":[1,2,3],\"exposures\":[1]}",
        "{\"other\":\"\\\"exposures\\\":[1,2,3]\",\"exposures\":[1,2]}",
        "{\"nested\":{\"exposures\":[1,2,3]},\"exposures\":[9]}",
        "{\"nested\":{\"exposures\":[1,2,3]}}",
        "{\"exposures\":{\"a\":1}}",
        "{\"exposures\":\"[1,2]\"}",
        "{\"exposures\":null}",
        "{\"\\u0065xposures\":[1,2,3,4]}",
        "{\"exp\\u006Fsures\":[1,2],\"x\":0}",
        "{\"exposure\":[1,2]}",
        "{\"exposuress\":[1,2]}",
        "{}",
        "{\"a\":1,\"b\":[{\"exposures\":[1]}],\"exposures\":[\"\\u005d\",\"\\u002c\"]}",
        "{\"events\":[{\"user_id\":\"u,1\",\"event\":\"p]\",\"value\":1.5}]}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        agrees(texts[i], "exposures");
    }
    agrees(texts[sizeof(texts) / sizeof(texts[0]) - 1], "events");
    agrees("{\"key\":\"g\",\"values\":[\"a\",1,\"b,c\",2.5],\"attribute\":\"id\"}", "values");
}

/* Past the cap the scan stops: stop + 1, whatever follows (even text jansson refuses). */
static void test_stops_at_cap(void **state)
{
    (void)state;
    size_t cap = 10000, size = 3 * (cap + 10) + 64;
    char *text = malloc(size);
    assert_non_null(text);
    for (size_t n = cap - 1; n <= cap + 2; n++) {
        size_t len = (size_t)snprintf(text, size, "{\"exposures\":[");
        for (size_t i = 0; i < n; i++) {
            len += (size_t)snprintf(text + len, size - len, "%s{}", i ? "," : "");
        }
        len += (size_t)snprintf(text + len, size - len, "]}");
        long got = api_json_count_items(text, len, "exposures", cap);
        assert_int_equal(got, n <= cap ? (long)n : (long)cap + 1);
        /* truncated after the cap was passed: still refused */
        if (n > cap) {
            assert_int_equal(api_json_count_items(text, len - 3, "exposures", cap), cap + 1);
        }
    }
    free(text);
}

/* Not an object, or broken before the array ends: -1 (jansson words the error). */
static void test_not_told(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "",
        "[1,2]",
        "\"exposures\"",
        "{\"exposures\":[1,2",
        "{\"exposures\":[\"1,2]}",
        "{\"exposures\"",
        "{\"exposures\":",
        "{\"a\":\"b",
        "{\"a\"1,\"exposures\":[1]}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        long got = api_json_count_items(texts[i], strlen(texts[i]), "exposures", 100);
        if (got != -1) {
            fail_msg("%s: counted %ld", texts[i], got);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agrees_with_jansson),
        cmocka_unit_test(test_stops_at_cap),
        cmocka_unit_test(test_not_told),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
