/* Unit tests for core/metric.c: every validation rule of API.md "Metrics" with the exact
 * `field` of the error (key pattern, event, type, window_hours >= 1 or null, goal, cap >=
 * 1e-100 or null, cuped_lookback_hours, unknown fields), the defaults, PATCH semantics (null
 * clears window and cap, the key never changes) and the to_json -> from_json(MODEL_LOAD)
 * round trip. */
#include "unit.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bunsen/model.h"

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL) {
        fail_msg("bad test JSON '%s': %s", text, je.text);
    }
    return j;
}

static void metric_err(const char *text, enum model_mode mode, const struct metric *base,
                       const char *field)
{
    json_t *doc = parse(text);
    struct metric m;
    struct err e;
    err_clear(&e);
    if (metric_from_json(doc, mode, base, &m, &e) == 0) {
        fail_msg("metric %s accepted (expected an error on '%s')", text, field);
    }
    if (e.code != ERR_INVALID || strcmp(e.field, field) != 0) {
        fail_msg("metric %s: field '%s' (%s), expected '%s'", text, e.field, e.msg, field);
    }
    json_decref(doc);
}

static void metric_ok(const char *text, enum model_mode mode, const struct metric *base,
                      struct metric *m)
{
    json_t *doc = parse(text);
    struct err e;
    err_clear(&e);
    if (metric_from_json(doc, mode, base, m, &e) != 0) {
        fail_msg("metric %s refused: %s: %s", text, e.field, e.msg);
    }
    json_decref(doc);
}

#define M(extra)  "{\"key\":\"buy\",\"event\":\"purchase\",\"type\":\"binomial\"" extra "}"
#define MC(extra) "{\"key\":\"buy\",\"event\":\"purchase\",\"type\":\"count\"" extra "}"

static void test_metric_rules(void **state)
{
    (void)state;
    struct metric m;
    metric_ok(M(""), MODEL_CREATE, NULL, &m);
    assert_string_equal(m.name, "buy");
    assert_string_equal(m.event, "purchase");
    assert_int_equal(m.type, STATS_METRIC_BINOMIAL);
    assert_int_equal(m.goal, STATS_GOAL_INCREASE);
    assert_false(m.has_window);
    assert_false(m.has_cap);
    assert_int_equal(m.cuped_lookback_hours, 336);
    metric_ok(M(",\"type\":\"sum\",\"window_hours\":1,\"goal\":\"decrease\",\"cap\":0.5,"
                "\"cuped_lookback_hours\":0,\"name\":\"Buy\",\"description\":\"a\\nb\""),
              MODEL_CREATE, NULL, &m);
    assert_int_equal(m.type, STATS_METRIC_SUM);
    assert_true(m.has_window && m.window_hours == 1);
    assert_int_equal(m.goal, STATS_GOAL_DECREASE);
    assert_true(m.has_cap && m.cap == 0.5);
    assert_int_equal(m.cuped_lookback_hours, 0);
    metric_ok(M(",\"type\":\"count\",\"window_hours\":null,\"cap\":null,"
                "\"cuped_lookback_hours\":null"),
              MODEL_CREATE, NULL, &m);
    assert_int_equal(m.type, STATS_METRIC_COUNT);
    assert_false(m.has_window || m.has_cap);
    assert_int_equal(m.cuped_lookback_hours, 336);
    static const struct {
        const char *doc, *field;
    } bad[] = {
        {"{\"event\":\"e\",\"type\":\"count\"}", "key"},
        {"{\"key\":\"buy\",\"type\":\"count\"}", "event"},
        {"{\"key\":\"buy\",\"event\":\"e\"}", "type"},
        {M(",\"key\":\"Buy\""), "key"},
        {"{\"key\":\"b y\",\"event\":\"e\",\"type\":\"sum\"}", "key"},
        {"{\"key\":\"_b\",\"event\":\"e\",\"type\":\"sum\"}", "key"},
        {"{\"key\":5,\"event\":\"e\",\"type\":\"sum\"}", "key"},
        {"{\"key\":\"buy\",\"event\":\"\",\"type\":\"sum\"}", "event"},
        {"{\"key\":\"buy\",\"event\":\"a\\u0007\",\"type\":\"sum\"}", "event"},
        {"{\"key\":\"buy\",\"event\":3,\"type\":\"sum\"}", "event"},
        {"{\"key\":\"buy\",\"event\":\"e\",\"type\":\"mean\"}", "type"},
        {"{\"key\":\"buy\",\"event\":\"e\",\"type\":null}", "type"},
        {M(",\"name\":\"\""), "name"},
        {M(",\"goal\":\"up\""), "goal"},
        {M(",\"goal\":1"), "goal"},
        {M(",\"window_hours\":0"), "window_hours"},
        {M(",\"window_hours\":-5"), "window_hours"},
        {M(",\"window_hours\":1.5"), "window_hours"},
        {M(",\"window_hours\":\"72\""), "window_hours"},
        {M(",\"cap\":0"), "cap"},
        {M(",\"cap\":-1"), "cap"},
        {M(",\"cap\":\"10\""), "cap"},
        {M(",\"cap\":9e-101"), "cap"}, /* below 1e-100: capped values' squares underflow */
        {M(",\"cuped_lookback_hours\":-1"), "cuped_lookback_hours"},
        {M(",\"cuped_lookback_hours\":8761"), "cuped_lookback_hours"},
        {M(",\"cuped_lookback_hours\":2.5"), "cuped_lookback_hours"},
        {M(",\"description\":7"), "description"},
        {M(",\"unit\":\"usd\""), "unit"},
        {M(",\"unit\":\"currency\",\"type\":\"sum\""), "currency"},
        {M(",\"unit\":\"count\",\"currency\":\"EUR\",\"type\":\"sum\""), "currency"},
        {M(",\"unit\":\"currency\",\"currency\":\"eur\",\"type\":\"sum\""), "currency"},
        {M(",\"unit\":\"currency\",\"currency\":\"EURO\",\"type\":\"sum\""), "currency"},
        {M(",\"unit\":\"currency\",\"currency\":7,\"type\":\"sum\""), "currency"},
        {M(",\"unit\":\"duration\""), "unit"},
        {M(",\"unit\":3"), "unit"},
        {"[1]", ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        metric_err(bad[i].doc, MODEL_CREATE, NULL, bad[i].field);
    }
    /* event: 128 bytes ok, 129 not */
    char ev[140];
    memset(ev, 'e', 129);
    ev[128] = '\0';
    char doc[400];
    snprintf(doc, sizeof(doc), "{\"key\":\"k\",\"event\":\"%s\",\"type\":\"sum\"}", ev);
    metric_ok(doc, MODEL_CREATE, NULL, &m);
    ev[128] = 'e';
    ev[129] = '\0';
    snprintf(doc, sizeof(doc), "{\"key\":\"k\",\"event\":\"%s\",\"type\":\"sum\"}", ev);
    metric_err(doc, MODEL_CREATE, NULL, "event");
    /* cap: 1e-100 ok, less refused in a PATCH too, but a stored one still loads */
    metric_ok(MC(",\"cap\":1e-100"), MODEL_CREATE, NULL, &m);
    assert_true(m.has_cap && m.cap == 1e-100);
    metric_err("{\"cap\":1e-101}", MODEL_PATCH, &m, "cap");
    metric_ok(MC(",\"cap\":1e-101"), MODEL_LOAD, NULL, &m);
    assert_true(m.has_cap && m.cap == 1e-101);
    /* a binomial metric takes no cap (its values are 0 or 1): refused on create, by a PATCH
     * that sets one or makes a capped metric binomial; null is fine; one stored by an earlier
     * version loads and survives a PATCH that sends it back unchanged */
    metric_err(M(",\"cap\":0.5"), MODEL_CREATE, NULL, "cap");
    metric_err(M(",\"cap\":1"), MODEL_CREATE, NULL, "cap");
    metric_ok(M(",\"cap\":null"), MODEL_CREATE, NULL, &m);
    assert_false(m.has_cap);
    struct metric b;
    metric_ok(M(""), MODEL_CREATE, NULL, &b);
    metric_err("{\"cap\":2}", MODEL_PATCH, &b, "cap");
    metric_ok(MC(",\"cap\":3"), MODEL_CREATE, NULL, &b);
    metric_err("{\"type\":\"binomial\"}", MODEL_PATCH, &b, "cap");
    metric_ok("{\"type\":\"binomial\",\"cap\":null}", MODEL_PATCH, &b, &m);
    assert_true(m.type == STATS_METRIC_BINOMIAL && !m.has_cap);
    metric_ok(M(",\"cap\":0.5"), MODEL_LOAD, NULL, &b);
    assert_true(b.has_cap && b.cap == 0.5);
    metric_ok("{\"cap\":0.5,\"name\":\"Kept\"}", MODEL_PATCH, &b, &m);
    assert_true(m.has_cap && m.cap == 0.5);
    metric_err("{\"cap\":0.25}", MODEL_PATCH, &b, "cap");
}

/* Units: display only, validated together with the currency code and the type. */
static void test_metric_units(void **state)
{
    (void)state;
    struct metric m, p, back;
    metric_ok(M(""), MODEL_CREATE, NULL, &m);
    assert_int_equal(m.unit, METRIC_UNIT_NONE);
    metric_ok(M(",\"unit\":\"percent\""), MODEL_CREATE, NULL, &m);
    assert_int_equal(m.unit, METRIC_UNIT_PERCENT);
    metric_ok(M(",\"type\":\"count\",\"unit\":\"count\""), MODEL_CREATE, NULL, &m);
    assert_int_equal(m.unit, METRIC_UNIT_COUNT);
    metric_ok(M(",\"type\":\"sum\",\"unit\":\"duration\",\"currency\":null"), MODEL_CREATE, NULL,
              &m);
    assert_int_equal(m.unit, METRIC_UNIT_DURATION);
    metric_ok(M(",\"type\":\"sum\",\"unit\":\"currency\",\"currency\":\"EUR\""), MODEL_CREATE, NULL,
              &m);
    assert_int_equal(m.unit, METRIC_UNIT_CURRENCY);
    assert_string_equal(m.currency, "EUR");
    /* rendered and read back */
    json_t *j = metric_to_json(&m);
    assert_string_equal(json_string_value(json_object_get(j, "unit")), "currency");
    assert_string_equal(json_string_value(json_object_get(j, "currency")), "EUR");
    char *text = json_dumps(j, JSON_COMPACT);
    metric_ok(text, MODEL_LOAD, NULL, &back);
    assert_int_equal(back.unit, METRIC_UNIT_CURRENCY);
    assert_string_equal(back.currency, "EUR");
    free(text);
    json_decref(j);
    /* PATCH: another code; away from currency drops the code; null clears */
    metric_ok("{\"currency\":\"USD\"}", MODEL_PATCH, &m, &p);
    assert_string_equal(p.currency, "USD");
    metric_ok("{\"unit\":\"count\"}", MODEL_PATCH, &m, &p);
    assert_int_equal(p.unit, METRIC_UNIT_COUNT);
    assert_string_equal(p.currency, "");
    metric_ok("{\"unit\":null}", MODEL_PATCH, &m, &p);
    assert_int_equal(p.unit, METRIC_UNIT_NONE);
    metric_err("{\"type\":\"binomial\"}", MODEL_PATCH, &m, "unit");
    metric_err("{\"currency\":null}", MODEL_PATCH, &m, "currency");
    j = metric_to_json(&p);
    assert_true(json_is_null(json_object_get(j, "unit")));
    assert_true(json_is_null(json_object_get(j, "currency")));
    json_decref(j);
}

static void test_metric_patch_round_trip(void **state)
{
    (void)state;
    struct metric base, m, back;
    metric_ok(MC(",\"window_hours\":72,\"cap\":100"), MODEL_CREATE, NULL, &base);
    base.created_at = 1764331200000;
    base.updated_at = 1764331200001;
    /* PATCH: only the given fields change; null clears window and cap */
    metric_ok("{\"window_hours\":null,\"cap\":null,\"name\":\"Buy it\"}", MODEL_PATCH, &base, &m);
    assert_false(m.has_window || m.has_cap);
    assert_string_equal(m.name, "Buy it");
    assert_string_equal(m.event, "purchase");
    assert_int_equal(m.created_at, base.created_at);
    metric_ok("{\"name\":null,\"key\":\"buy\"}", MODEL_PATCH, &base, &m);
    assert_string_equal(m.name, "buy");
    metric_err("{\"key\":\"sell\"}", MODEL_PATCH, &base, "key");
    metric_err("{\"type\":\"ratio\"}", MODEL_PATCH, &base, "numerator");
    metric_err("{\"type\":\"mean\"}", MODEL_PATCH, &base, "type");
    metric_err("{\"numerator\":\"a\"}", MODEL_PATCH, &base, "numerator");
    metric_err("{\"type\":\"ratio\",\"numerator\":\"buy\",\"denominator\":\"b\"}", MODEL_PATCH,
               &base, "numerator"); /* itself */
    metric_err("{\"event\":null}", MODEL_PATCH, &base, "event");
    metric_err("{\"status\":\"x\"}", MODEL_PATCH, &base, "status");
    /* round trip through the stored form */
    json_t *j = metric_to_json(&base);
    char *text = json_dumps(j, JSON_COMPACT);
    metric_ok(text, MODEL_LOAD, NULL, &back);
    assert_string_equal(back.key, base.key);
    assert_string_equal(back.name, base.name);
    assert_string_equal(back.event, base.event);
    assert_int_equal(back.type, base.type);
    assert_int_equal(back.goal, base.goal);
    assert_true(back.has_window && back.window_hours == 72);
    assert_true(back.has_cap && back.cap == 100);
    assert_int_equal(back.cuped_lookback_hours, base.cuped_lookback_hours);
    assert_int_equal(back.created_at, base.created_at);
    assert_int_equal(back.updated_at, base.updated_at);
    json_t *j2 = metric_to_json(&back);
    assert_true(json_equal(j, j2));
    json_decref(j2);
    free(text);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_rules),
        cmocka_unit_test(test_metric_patch_round_trip),
        cmocka_unit_test(test_metric_units),
    };
    return cmocka_run_group_tests_name("metric", tests, NULL, NULL);
}
