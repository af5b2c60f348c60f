/* Unit tests for events_body.c, the fast POST /api/v1/events body reader: every body it
 * reads gives the events the jansson path (api_events_read_json) gives, and bodies of any
 * other shape are left to the jansson path. tests/fuzz/fuzz_events_body.c checks the first
 * property on generated bodies. Also api_user_id_as_text, the numeric user ids the jansson
 * path reads as text. */
#include "unit.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../src/api/api_int.h"

#define NOW 1764700000000LL

/* Read body both ways; the fast reader must read it (want_fast) or not, and when it does,
 * agree with jansson event by event. Returns the number of events read. */
static size_t check_body(const char *body, size_t len, bool want_fast)
{
    struct store_event *fast = NULL, *slow = NULL;
    size_t n = 0, m = 0;
    char *store = NULL;
    struct ingest_ts_low low_fast, low_slow;
    int rc = api_events_body_read(body, len, NOW, &fast, &n, &low_fast, &store);
    if (rc != (want_fast ? 0 : -1)) {
        fail_msg("fast reader %s: %.*s", rc == 0 ? "read" : "did not read", (int)len, body);
    }
    if (rc != 0) {
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(root);
    struct err err;
    err_clear(&err);
    assert_int_equal(api_events_read_json(root, NOW, &slow, &m, &low_slow, &err), 0);
    assert_int_equal(n, m);
    assert_int_equal(low_fast.count, low_slow.count);
    if (low_fast.count > 0) {
        assert_int_equal(low_fast.first, low_slow.first);
        assert_int_equal(low_fast.first_ts, low_slow.first_ts);
    }
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(fast[i].user_id, slow[i].user_id);
        assert_string_equal(fast[i].event, slow[i].event);
        assert_true((fast[i].id == NULL) == (slow[i].id == NULL));
        if (fast[i].id != NULL) {
            assert_string_equal(fast[i].id, slow[i].id);
        }
        assert_int_equal(fast[i].ts, slow[i].ts);
        assert_memory_equal(&fast[i].value, &slow[i].value, sizeof(double));
    }
    free(slow);
    json_decref(root);
    free(fast);
    free(store);
    return n;
}

#define READ(s)     check_body(s, strlen(s), true)
#define NOT_READ(s) check_body(s, strlen(s), false)

static void test_common_shapes_read(void **state)
{
    (void)state;
    assert_int_equal(READ("{\"events\":[{\"user_id\":\"u1\",\"event\":\"purchase\",\"value\":12.5,"
                          "\"ts\":1764700000000,\"id\":\"o-1\"}]}"),
                     1);
    assert_int_equal(READ(" {\n \"events\" : [ {\"event\":\"click\", \"user_id\":\"u1\"} ,\t"
                          "{\"user_id\":\"u2\",\"event\":\"view\",\"value\":null,\"ts\":null,"
                          "\"id\":null} ] } \r\n"),
                     2);
    /* reals and integers as jansson reads them, at the bounds */
    assert_int_equal(
        READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":0.1},"
             "{\"user_id\":\"u\",\"event\":\"e\",\"value\":-0.0},"
             "{\"user_id\":\"u\",\"event\":\"e\",\"value\":1e15},"
             "{\"user_id\":\"u\",\"event\":\"e\",\"value\":-1000000000000000},"
             "{\"user_id\":\"u\",\"event\":\"e\",\"value\":-1E-100},"
             "{\"user_id\":\"u\",\"event\":\"e\",\"value\":123456789.123456789e-3},"
             "{\"user_id\":\"u\",\"event\":\"e\",\"ts\":0},"
             "{\"user_id\":\"u\",\"event\":\"e\",\"ts\":\"2025-12-01T10:00:00.5+01:00\"}"
             "]}"),
        8);
    /* UTF-8 in ids */
    assert_int_equal(READ("{\"events\":[{\"user_id\":\"\xc3\xa9l\xc3\xa8ve\",\"event\":\"e\"}]}"),
                     1);
}

static void test_defaults(void **state)
{
    (void)state;
    const char *body = "{\"events\":[{\"user_id\":\"u\",\"event\":\"e\"}]}";
    struct store_event *ev = NULL;
    size_t n = 0;
    char *store = NULL;
    struct ingest_ts_low low;
    assert_int_equal(api_events_body_read(body, strlen(body), NOW, &ev, &n, &low, &store), 0);
    assert_int_equal(n, 1);
    assert_int_equal(low.count, 0);
    assert_true(ev[0].value == 1.0);
    assert_int_equal(ev[0].ts, NOW);
    assert_null(ev[0].id);
    free(ev);
    free(store);
}

/* Everything else goes to the jansson path, which reads it or words the error. */
static void test_other_shapes_not_read(void **state)
{
    (void)state;
    NOT_READ("");
    NOT_READ("[]");
    NOT_READ("{}");
    NOT_READ("{\"events\":[]}");
    NOT_READ("{\"events\":{}}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\"}],\"x\":1}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\"}]} x");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\"}]");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\"},]}");
    NOT_READ("{\"events\":[{}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\"}]}");                         /* no event */
    NOT_READ("{\"events\":[{\"user_id\":null,\"event\":\"e\"}]}");          /* null id */
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"x\":1}]}"); /* unknown */
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"user_id\":\"v\",\"event\":\"e\"}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"\\u0075\",\"event\":\"e\"}]}"); /* escape */
    NOT_READ("{\"events\":[{\"user_id\":\"\",\"event\":\"e\"}]}");        /* empty */
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":\"1\"}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":1e16}]}");
    /* below 1e-100 in magnitude (API.md: refused, the jansson path says so) */
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":2.5E-320}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":-9.99e-101}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":1e999}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":01}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":1.}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":.5}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":+1}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":1234567890123456789}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":true}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"ts\":1.5}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"ts\":-1}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"ts\":9007199254740993}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"ts\":\"yesterday\"}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"ts\":4102444800000}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"id\":5}]}");
    NOT_READ("{\"events\":[{\"user_id\":\"\xff\",\"event\":\"e\"}]}"); /* invalid UTF-8 */
    static const char nul[] = "{\"events\":[{\"user_id\":\"u\",\"event\":\"e\"}]}\0";
    check_body(nul, sizeof(nul) - 1, false);
    static const char inner[] = "{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"value\":1\0}]}";
    check_body(inner, sizeof(inner) - 1, false);
}

/* INGEST_MAX_ITEMS events are read; one more is the jansson path's error to word */
static void test_item_cap(void **state)
{
    (void)state;
    const char *item = "{\"user_id\":\"u\",\"event\":\"e\"}";
    size_t cap = (INGEST_MAX_ITEMS + 1) * (strlen(item) + 1) + 32;
    char *body = malloc(cap);
    assert_non_null(body);
    for (int extra = 0; extra < 2; extra++) {
        size_t len = (size_t)snprintf(body, cap, "{\"events\":[");
        for (int i = 0; i < INGEST_MAX_ITEMS + extra; i++) {
            len += (size_t)snprintf(body + len, cap - len, "%s%s", i ? "," : "", item);
        }
        len += (size_t)snprintf(body + len, cap - len, "]}");
        assert_int_equal(check_body(body, len, extra == 0), extra == 0 ? INGEST_MAX_ITEMS : 0);
    }
    free(body);
}

/* rev-sdk27 finding 2: numeric user ids (what the GrowthBook SDK tracks for an app with
 * database ids) were a 400 for the whole batch. A safe integer reads as its decimal text,
 * String() in JavaScript; anything else non-string is still refused. */
static void test_numeric_user_id(void **state)
{
    (void)state;
    static const struct {
        const char *json, *want; /* want NULL: left as it was */
    } cases[] = {
        {"424242", "424242"},
        {"0", "0"},
        {"-0", "0"},
        {"-7", "-7"},
        {"9007199254740991", "9007199254740991"},
        {"-9007199254740991", "-9007199254740991"},
        {"9007199254740992", NULL},
        {"-9007199254740992", NULL},
        {"1.5", NULL},
        {"1e3", NULL},
        {"424242.0", NULL},
        {"true", NULL},
        {"null", NULL},
        {"[1]", NULL},
        {"\"u1\"", "u1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "{\"user_id\":%s}", cases[i].json);
        json_error_t jerr;
        json_t *o = json_loads(text, 0, &jerr);
        assert_non_null(o);
        json_t *before = json_deep_copy(json_object_get(o, "user_id"));
        api_user_id_as_text(o);
        const json_t *v = json_object_get(o, "user_id");
        if (cases[i].want != NULL) {
            if (!json_is_string(v) || strcmp(json_string_value(v), cases[i].want) != 0) {
                fail_msg("%s: not read as \"%s\"", cases[i].json, cases[i].want);
            }
        } else if (!json_equal(v, before) || json_is_string(v)) {
            fail_msg("%s: changed", cases[i].json);
        }
        json_decref(before);
        json_decref(o);
    }
    api_user_id_as_text(NULL); /* not an object: nothing to do */

    /* through the events reader: the jansson path (the fast reader leaves numbers to it) */
    const char *body = "{\"events\":[{\"user_id\":424242,\"event\":\"buy\"},"
                       "{\"user_id\":\"u2\",\"event\":\"buy\"}]}";
    NOT_READ(body);
    json_error_t jerr;
    json_t *root = json_loads(body, 0, &jerr);
    struct store_event *ev = NULL;
    size_t n = 0;
    struct err err;
    err_clear(&err);
    struct ingest_ts_low low;
    assert_int_equal(api_events_read_json(root, NOW, &ev, &n, &low, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].user_id, "424242");
    assert_string_equal(ev[1].user_id, "u2");
    free(ev);
    json_decref(root);
    const char *bad[] = {"9007199254740992", "1.5", "true"};
    for (size_t i = 0; i < 3; i++) {
        char text[160];
        snprintf(text, sizeof(text),
                 "{\"events\":[{\"user_id\":\"u1\",\"event\":\"buy\"},"
                 "{\"user_id\":%s,\"event\":\"buy\"}]}",
                 bad[i]);
        root = json_loads(text, 0, &jerr);
        err_clear(&err);
        ev = NULL;
        assert_int_equal(api_events_read_json(root, NOW, &ev, &n, &low, &err), -1);
        assert_null(ev);
        assert_string_equal(err.field, "events[1].user_id");
        json_decref(root);
    }
}

/* Numeric timestamps below 1e12 (seconds sent as milliseconds, most likely) are counted alike
 * by both readers, the first one named; RFC 3339 strings, absent or null ts never count. */
static void test_ts_low(void **state)
{
    (void)state;
    const char *body = "{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"ts\":1000000000000},"
                       "{\"user_id\":\"u\",\"event\":\"e\",\"ts\":\"1999-01-01T00:00:00Z\"},"
                       "{\"user_id\":\"u\",\"event\":\"e\"},"
                       "{\"user_id\":\"u\",\"event\":\"e\",\"ts\":null},"
                       "{\"user_id\":\"u\",\"event\":\"e\",\"ts\":1764700000},"
                       "{\"user_id\":\"u\",\"event\":\"e\",\"ts\":999999999999},"
                       "{\"user_id\":\"u\",\"event\":\"e\",\"ts\":0}]}";
    assert_int_equal(READ(body), 7); /* check_body compares the two counts */
    struct store_event *ev = NULL;
    size_t n = 0;
    char *store = NULL;
    struct ingest_ts_low low;
    assert_int_equal(api_events_body_read(body, strlen(body), NOW, &ev, &n, &low, &store), 0);
    assert_int_equal(low.count, 3);
    assert_int_equal(low.first, 4);
    assert_int_equal(low.first_ts, 1764700000);
    free(ev);
    free(store);
    /* an integral real is read by the jansson path only, and counts there too */
    const char *real =
        "{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"ts\":\"2025-01-01T00:00:00Z\"},"
        "{\"user_id\":\"u\",\"event\":\"e\",\"ts\":1764700000.0}]}";
    NOT_READ(real);
    json_error_t jerr;
    json_t *root = json_loads(real, 0, &jerr);
    struct err err;
    err_clear(&err);
    assert_int_equal(api_events_read_json(root, NOW, &ev, &n, &low, &err), 0);
    assert_int_equal(low.count, 1);
    assert_int_equal(low.first, 1);
    assert_int_equal(low.first_ts, 1764700000);
    free(ev);
    json_decref(root);
    /* milliseconds: none */
    const char *ms = "{\"events\":[{\"user_id\":\"u\",\"event\":\"e\",\"ts\":1764700000000}]}";
    assert_int_equal(api_events_body_read(ms, strlen(ms), NOW, &ev, &n, &low, &store), 0);
    assert_int_equal(low.count, 0);
    free(ev);
    free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_common_shapes_read),    cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_other_shapes_not_read), cmocka_unit_test(test_item_cap),
        cmocka_unit_test(test_numeric_user_id),       cmocka_unit_test(test_ts_low),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
