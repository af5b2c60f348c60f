/* Unit tests for core/experiment.c and core/validate.c: every validation rule of API.md
 * "Experiments" with the exact `field` of the error, the defaults (equal split, seed =
 * key), read-only fields in CREATE and PATCH, PATCH semantics (null clears, the key never
 * changes, the released variant follows its key), the to_json -> from_json(MODEL_LOAD)
 * round trip, which edits would reassign users, and the full lifecycle table. Metrics:
 * test_metric.c; texts by origin (stored texts load as they are): test_stored_texts.c. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bunsen/model.h"

#define VARS2 "\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]"
#define BASE  "{\"key\":\"exp\"," VARS2 "}"

/* A rich experiment with every field set. */
#define RICH                                                                                       \
    "{\"key\":\"checkout-button\",\"name\":\"Checkout\",\"description\":\"d\\nx\","                \
    "\"hypothesis\":\"h\",\"owner\":\"pm@x\",\"variants\":[{\"key\":\"control\",\"name\":"         \
    "\"Red\",\"weight\":0.25},{\"key\":\"green\",\"weight\":0.75}],\"coverage\":0.8,"              \
    "\"seed\":\"s1\",\"hash_version\":1,\"namespace\":{\"name\":\"ns\",\"range\":[0.1,0.6]},"      \
    "\"targeting\":{\"country\":{\"$in\":[\"NL\",\"BE\"]}},\"forced\":{\"qa-1\":\"green\"},"       \
    "\"metrics\":[\"purchase\",\"revenue\"],\"primary_metric\":\"revenue\",\"guardrails\":"        \
    "[\"latency\"],\"sequential_tuning\":1234,\"analysis\":{\"method\":\"bayesian\","              \
    "\"alpha\":0.1,\"cuped\":false,\"correction\":\"holm\"}}"

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL) {
        fail_msg("bad test JSON '%s': %s", text, je.text);
    }
    return j;
}

/* BASE with one field replaced by the JSON value `value`. */
static json_t *base_with(const char *field, const char *value)
{
    json_t *doc = parse(BASE);
    json_t *v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (v == NULL) {
        fail_msg("bad test value '%s'", value);
    }
    json_object_set_new(doc, field, v);
    return doc;
}

static void exp_ok(const char *text, struct experiment *out)
{
    json_t *doc = parse(text);
    struct err e;
    err_clear(&e);
    if (experiment_from_json(doc, MODEL_CREATE, NULL, out, &e) != 0) {
        fail_msg("'%s' refused: %s: %s", text, e.field, e.msg);
    }
    json_decref(doc);
}

/* Read doc (stolen) in mode over base; expect ERR_INVALID on field. */
static void doc_err(json_t *doc, enum model_mode mode, const struct experiment *base,
                    const char *field)
{
    struct experiment x;
    struct err e;
    err_clear(&e);
    char *text = json_dumps(doc, JSON_COMPACT);
    if (experiment_from_json(doc, mode, base, &x, &e) == 0) {
        fail_msg("accepted %.300s (expected an error on '%s')", text, field);
    }
    if (e.code != ERR_INVALID || strcmp(e.field, field) != 0) {
        fail_msg("%.300s: got field '%s' code %d (%s), expected '%s'", text, e.field, e.code, e.msg,
                 field);
    }
    free(text);
    json_decref(doc);
}

static void patch_ok(const struct experiment *base, const char *text, struct experiment *out)
{
    json_t *doc = parse(text);
    struct err e;
    err_clear(&e);
    if (experiment_from_json(doc, MODEL_PATCH, base, out, &e) != 0) {
        fail_msg("patch '%s' refused: %s: %s", text, e.field, e.msg);
    }
    json_decref(doc);
}

/* A JSON array text of n keys prefix0, prefix1, ... (or n variant objects). */
static char *key_list(const char *prefix, int n, bool objects)
{
    size_t cap = (size_t)n * 40 + 8, used = 0;
    char *s = malloc(cap);
    used += (size_t)snprintf(s, cap, "[");
    for (int i = 0; i < n; i++) {
        used +=
            (size_t)snprintf(s + used, cap - used, objects ? "%s{\"key\":\"%s%d\"}" : "%s\"%s%d\"",
                             i ? "," : "", prefix, i);
    }
    snprintf(s + used, cap - used, "]");
    return s;
}

static void test_experiment_defaults(void **state)
{
    (void)state;
    struct experiment x;
    exp_ok("{\"key\":\"e1\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"},{\"key\":\"c\"}]}", &x);
    assert_string_equal(x.key, "e1");
    assert_string_equal(x.name, "e1");
    assert_string_equal(x.seed, "e1");
    assert_string_equal(x.description, "");
    assert_string_equal(x.hypothesis, "");
    assert_int_equal(x.nvariants, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(x.variants[i].weight == 1.0 / 3.0);
        assert_string_equal(x.variants[i].name, x.variants[i].key);
    }
    assert_true(x.coverage == 1.0);
    assert_int_equal(x.hash_version, 2);
    assert_false(x.has_namespace);
    assert_null(x.targeting);
    assert_null(x.forced);
    assert_int_equal(x.nmetrics, 0);
    assert_string_equal(x.primary_metric, "");
    assert_true(x.sequential_tuning == 5000.0);
    assert_int_equal(x.analysis.method, STATS_METHOD_FREQUENTIST);
    assert_true(x.analysis.alpha == 0.05);
    assert_true(x.analysis.cuped);
    assert_int_equal(x.analysis.correction, STATS_CORRECTION_NONE);
    assert_int_equal(x.status, ASSIGN_STATUS_DRAFT);
    assert_int_equal(x.released, -1);
    assert_int_equal(experiment_variant_index(&x, "c"), 2);
    assert_int_equal(experiment_variant_index(&x, "z"), -1);
    experiment_clear(&x);
    experiment_clear(&x); /* clearing twice is fine */
    /* non-ASCII text is fine (U+00A0 follows the C1 range, U+00E9, U+2013, U+1F600) */
    exp_ok("{\"key\":\"e2\",\"name\":\"Caf\\u00e9\\u00a0\\u2013 \\ud83d\\ude00\","
           "\"description\":\"a\\r\\n\\tb\"," VARS2 "}",
           &x);
    assert_string_equal(x.name, "Caf\xc3\xa9\xc2\xa0\xe2\x80\x93 \xf0\x9f\x98\x80");
    experiment_clear(&x);
}

static const struct {
    const char *field, *value, *err;
} bad_values[] = {
    {"key", "\"Bad\"", "key"},
    {"key", "\"-a\"", "key"},
    {"key", "\"\"", "key"},
    {"key", "\"a b\"", "key"},
    {"key", "1", "key"},
    {"key", "null", "key"},
    {"key", "\"a\\u0000b\"", "key"},
    {"name", "\"\"", "name"},
    {"name", "5", "name"},
    {"name", "\"a\\u0001\"", "name"},
    {"name", "\"a\\nb\"", "name"},
    {"name", "\"a\\u0085\"", "name"},
    {"name", "\"a\\u007f\"", "name"},
    {"owner", "\"\\u009f\"", "owner"},
    {"description", "\"x\\u0080\"", "description"},
    {"description", "5", "description"},
    {"hypothesis", "\"\\u0000\"", "hypothesis"},
    {"owner", "7", "owner"},
    {"variants", "[]", "variants"},
    {"variants", "[{\"key\":\"a\"}]", "variants"},
    {"variants", "{}", "variants"},
    {"variants", "null", "variants"},
    {"variants", "[{\"key\":\"a\"},5]", "variants[1]"},
    {"variants", "[{\"key\":\"a\"},{\"name\":\"B\"}]", "variants[1].key"},
    {"variants", "[{\"key\":\"A\"},{\"key\":\"b\"}]", "variants[0].key"},
    {"variants", "[{\"key\":\"a\"},{\"key\":\"a\"}]", "variants[1].key"},
    {"variants", "[{\"key\":\"a\",\"color\":1},{\"key\":\"b\"}]", "variants[0].color"},
    {"variants", "[{\"key\":\"a\"},{\"key\":\"b\",\"name\":\"\"}]", "variants[1].name"},
    {"variants", "[{\"key\":\"a\",\"weight\":-0.1},{\"key\":\"b\",\"weight\":1.1}]",
     "variants[0].weight"},
    {"variants", "[{\"key\":\"a\",\"weight\":0},{\"key\":\"b\",\"weight\":1.5}]",
     "variants[1].weight"},
    {"variants", "[{\"key\":\"a\",\"weight\":\"0.5\"},{\"key\":\"b\",\"weight\":0.5}]",
     "variants[0].weight"},
    {"variants", "[{\"key\":\"a\",\"weight\":null},{\"key\":\"b\",\"weight\":1}]",
     "variants[0].weight"},
    {"variants", "[{\"key\":\"a\",\"weight\":0.4},{\"key\":\"b\",\"weight\":0.5}]",
     "variants[1].weight"},
    {"variants", "[{\"key\":\"a\",\"weight\":0.5},{\"key\":\"b\",\"weight\":0.500002}]",
     "variants[1].weight"},
    {"variants", "[{\"key\":\"a\",\"weight\":0.5},{\"key\":\"b\"}]", "variants"},
    {"variants", "[{\"key\":\"a\"},{\"key\":\"b\"},{\"key\":\"c\",\"weight\":1}]", "variants"},
    {"coverage", "1.01", "coverage"},
    {"coverage", "-0.01", "coverage"},
    {"coverage", "\"1\"", "coverage"},
    {"coverage", "null", "coverage"},
    {"seed", "\"\"", "seed"},
    {"seed", "3", "seed"},
    {"seed", "\"a\\tb\"", "seed"},
    {"hash_version", "0", "hash_version"},
    {"hash_version", "3", "hash_version"},
    {"hash_version", "1.5", "hash_version"},
    {"hash_version", "\"2\"", "hash_version"},
    {"hash_version", "null", "hash_version"},
    {"namespace", "\"ns\"", "namespace"},
    {"namespace", "[0, 0.5]", "namespace"},
    {"namespace", "{\"range\":[0,0.5]}", "namespace.name"},
    {"namespace", "{\"name\":\"Bad NS\",\"range\":[0,0.5]}", "namespace.name"},
    {"namespace", "{\"name\":\"ns\",\"range\":[0,0.5],\"size\":1}", "namespace.size"},
    {"namespace", "{\"name\":\"ns\"}", "namespace.range"},
    {"namespace", "{\"name\":\"ns\",\"range\":[0.5]}", "namespace.range"},
    {"namespace", "{\"name\":\"ns\",\"range\":[0,0.5,1]}", "namespace.range"},
    {"namespace", "{\"name\":\"ns\",\"range\":{\"a\":0}}", "namespace.range"},
    {"namespace", "{\"name\":\"ns\",\"range\":[-0.1,0.5]}", "namespace.range[0]"},
    {"namespace", "{\"name\":\"ns\",\"range\":[\"0\",0.5]}", "namespace.range[0]"},
    {"namespace", "{\"name\":\"ns\",\"range\":[0,1.5]}", "namespace.range[1]"},
    {"namespace", "{\"name\":\"ns\",\"range\":[0.5,0.5]}", "namespace.range"},
    {"namespace", "{\"name\":\"ns\",\"range\":[0.6,0.5]}", "namespace.range"},
    {"targeting", "[]", "targeting"},
    {"targeting", "\"country == NL\"", "targeting"},
    {"targeting", "3", "targeting"},
    {"targeting", "true", "targeting"},
    {"forced", "[]", "forced"},
    {"forced", "\"qa\"", "forced"},
    {"forced", "{\"qa\":1}", "forced.qa"},
    {"forced", "{\"qa\":\"zzz\"}", "forced.qa"},
    {"forced", "{\"\":\"a\"}", "forced"},
    {"forced", "{\"q\\u0001\":\"a\"}", "forced"},
    {"metrics", "\"purchase\"", "metrics"},
    {"metrics", "{}", "metrics"},
    {"metrics", "[\"m\",\"M\"]", "metrics[1]"},
    {"metrics", "[\"m\",\"n\",\"m\"]", "metrics[2]"},
    {"metrics", "[1]", "metrics[0]"},
    {"guardrails", "5", "guardrails"},
    {"guardrails", "[\"g\",\"g\"]", "guardrails[1]"},
    {"guardrails", "[null]", "guardrails[0]"},
    {"primary_metric", "\"purchase\"", "primary_metric"},
    {"primary_metric", "\"Purchase\"", "primary_metric"},
    {"primary_metric", "5", "primary_metric"},
    {"sequential_tuning", "0", "sequential_tuning"},
    {"sequential_tuning", "\"5\"", "sequential_tuning"},
    {"sequential_tuning", "1e13", "sequential_tuning"},
    {"sequential_tuning", "null", "sequential_tuning"},
    {"analysis", "5", "analysis"},
    {"analysis", "[]", "analysis"},
    {"analysis", "null", "analysis"},
    {"analysis", "{\"x\":1}", "analysis.x"},
    {"analysis", "{\"method\":\"magic\"}", "analysis.method"},
    {"analysis", "{\"method\":1}", "analysis.method"},
    {"analysis", "{\"alpha\":0.6}", "analysis.alpha"},
    {"analysis", "{\"alpha\":0}", "analysis.alpha"},
    {"analysis", "{\"cuped\":\"yes\"}", "analysis.cuped"},
    {"analysis", "{\"correction\":\"bonferroni\"}", "analysis.correction"},
    {"status", "\"running\"", "status"},
    {"status", "\"archived\"", "status"},
    {"status", "1", "status"},
    {"status", "null", "status"},
    {"released_variant", "\"a\"", "released_variant"},
    {"released_variant", "3", "released_variant"},
    {"colour", "\"green\"", "colour"},
    {"Key", "\"exp\"", "Key"},
};

static void test_experiment_bad_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        doc_err(base_with(bad_values[i].field, bad_values[i].value), MODEL_CREATE, NULL,
                bad_values[i].err);
    }
    /* not an object: no field */
    doc_err(json_array(), MODEL_CREATE, NULL, "");
    /* required fields */
    doc_err(parse("{\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}"), MODEL_CREATE, NULL, "key");
    doc_err(parse("{\"key\":\"e\"}"), MODEL_CREATE, NULL, "variants");
}

/* Lengths and counts at and beyond each limit. */
static void test_experiment_limits(void **state)
{
    (void)state;
    char big[MODEL_TEXT_MAX + 8];
    struct experiment x;
    struct err e;
    /* key: 64 ok, 65 not */
    memset(big, 'k', 65);
    big[64] = '\0';
    json_t *doc = base_with("key", "\"x\"");
    json_object_set_new(doc, "key", json_string(big));
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &e), 0);
    assert_string_equal(x.seed, big);
    experiment_clear(&x);
    big[64] = 'k';
    big[65] = '\0';
    json_object_set_new(doc, "key", json_string(big));
    doc_err(doc, MODEL_CREATE, NULL, "key");
    /* name 200 / 201, seed 256 / 257, description 10000 / 10001 */
    const struct {
        const char *field;
        size_t max;
    } texts[] = {{"name", MODEL_NAME_MAX},
                 {"owner", MODEL_NAME_MAX},
                 {"seed", 256},
                 {"description", MODEL_TEXT_MAX},
                 {"hypothesis", MODEL_TEXT_MAX}};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        memset(big, 'n', texts[i].max + 1);
        big[texts[i].max] = '\0';
        doc = parse(BASE);
        json_object_set_new(doc, texts[i].field, json_string(big));
        assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &e), 0);
        experiment_clear(&x);
        big[texts[i].max] = 'n';
        big[texts[i].max + 1] = '\0';
        json_object_set_new(doc, texts[i].field, json_string(big));
        doc_err(doc, MODEL_CREATE, NULL, texts[i].field);
    }
    /* 20 variants ok (equal split), 21 not */
    char *list = key_list("v", 20, true);
    doc = base_with("variants", list);
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &e), 0);
    assert_int_equal(x.nvariants, 20);
    assert_true(x.variants[19].weight == 0.05);
    experiment_clear(&x);
    json_decref(doc);
    free(list);
    list = key_list("v", 21, true);
    doc_err(base_with("variants", list), MODEL_CREATE, NULL, "variants");
    free(list);
    /* 50 metrics / 51, 20 guardrails / 21 */
    list = key_list("m", 50, false);
    doc = base_with("metrics", list);
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &e), 0);
    assert_int_equal(x.nmetrics, 50);
    experiment_clear(&x);
    json_decref(doc);
    free(list);
    list = key_list("m", 51, false);
    doc_err(base_with("metrics", list), MODEL_CREATE, NULL, "metrics");
    free(list);
    list = key_list("g", 20, false);
    doc = base_with("guardrails", list);
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &e), 0);
    experiment_clear(&x);
    json_decref(doc);
    free(list);
    list = key_list("g", 21, false);
    doc_err(base_with("guardrails", list), MODEL_CREATE, NULL, "guardrails");
    free(list);
    /* forced: 1000 users ok, 1001 not; a user id of 257 bytes is refused */
    json_t *forced = json_object();
    for (int i = 0; i < MODEL_MAX_FORCED; i++) {
        char u[32];
        snprintf(u, sizeof(u), "qa-%d", i);
        json_object_set_new(forced, u, json_string(i % 2 ? "a" : "b"));
    }
    doc = parse(BASE);
    json_object_set(doc, "forced", forced);
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &e), 0);
    assert_int_equal(json_object_size(x.forced), MODEL_MAX_FORCED);
    experiment_clear(&x);
    json_object_set_new(forced, "one-more", json_string("a"));
    doc_err(doc, MODEL_CREATE, NULL, "forced");
    json_decref(forced);
    memset(big, 'u', 257);
    big[257] = '\0';
    doc = parse(BASE);
    json_object_set_new(doc, "forced", json_pack("{s:s}", big, "a"));
    doc_err(doc, MODEL_CREATE, NULL, "forced");
}

/* Equal split, explicit weights, and the 1e-6 tolerance. */
static void test_experiment_weights(void **state)
{
    (void)state;
    struct experiment x;
    exp_ok("{\"key\":\"w\",\"variants\":[{\"key\":\"a\",\"weight\":0.2},{\"key\":\"b\",\"weight\":"
           "0.3},{\"key\":\"c\",\"weight\":0.5}]}",
           &x);
    assert_true(x.variants[0].weight == 0.2 && x.variants[2].weight == 0.5);
    experiment_clear(&x);
    exp_ok("{\"key\":\"w\",\"variants\":[{\"key\":\"a\",\"weight\":1},{\"key\":\"b\",\"weight\":"
           "0}]}",
           &x);
    experiment_clear(&x);
    exp_ok("{\"key\":\"w\",\"variants\":[{\"key\":\"a\",\"weight\":0.5},{\"key\":\"b\",\"weight\":"
           "0.5000009}]}",
           &x);
    experiment_clear(&x);
    exp_ok("{\"key\":\"w\",\"variants\":[{\"key\":\"a\",\"weight\":0.3333333},{\"key\":\"b\","
           "\"weight\":0.3333333},{\"key\":\"c\",\"weight\":0.3333334}]}",
           &x);
    experiment_clear(&x);
    /* coverage bounds and hash version 1 */
    exp_ok("{\"key\":\"w\",\"coverage\":0,\"hash_version\":1,\"variants\":[{\"key\":\"a\"},{"
           "\"key\":\"b\"}]}",
           &x);
    assert_true(x.coverage == 0.0);
    assert_int_equal(x.hash_version, 1);
    experiment_clear(&x);
}

/* Targeting: an object (empty = everyone), depth <= 32, at most 64 KiB. */
static void test_experiment_targeting(void **state)
{
    (void)state;
    struct experiment x;
    struct err e;
    exp_ok("{\"key\":\"t\",\"targeting\":{},\"forced\":{},\"namespace\":null,\"variants\":[{"
           "\"key\":\"a\"},{\"key\":\"b\"}]}",
           &x);
    assert_null(x.targeting);
    assert_null(x.forced);
    experiment_clear(&x);
    for (int depth = MODEL_MAX_CONDITION_DEPTH; depth <= MODEL_MAX_CONDITION_DEPTH + 2; depth++) {
        json_t *cond = json_integer(1);
        for (int i = 0; i < depth; i++) {
            cond = json_pack("{s:o}", "a", cond);
        }
        json_t *doc = parse(BASE);
        json_object_set_new(doc, "targeting", cond);
        if (depth <= MODEL_MAX_CONDITION_DEPTH) {
            assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &e), 0);
            experiment_clear(&x);
            json_decref(doc);
        } else {
            doc_err(doc, MODEL_CREATE, NULL, "targeting");
        }
    }
    /* size: one long string value just over the cap */
    size_t n = MODEL_MAX_CONDITION_BYTES;
    char *s = malloc(n + 1);
    memset(s, 'x', n);
    s[n] = '\0';
    json_t *doc = parse(BASE);
    json_object_set_new(doc, "targeting", json_pack("{s:s}", "country", s));
    doc_err(doc, MODEL_CREATE, NULL, "targeting");
    s[n - 100] = '\0';
    doc = parse(BASE);
    json_object_set_new(doc, "targeting", json_pack("{s:s}", "country", s));
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &e), 0);
    experiment_clear(&x);
    json_decref(doc);
    free(s);
    /* a $regex that cannot be evaluated is refused when written, wherever it is; a stored one
     * still loads (it matches nobody, and start refuses it) */
    static const char *const bad[] = {
        "{\"ua\":{\"$regex\":\"(unclosed\"}}",
        "{\"ua\":{\"$regexi\":\"[z-a]\"}}",
        "{\"ua\":{\"$regex\":1}}",
        "{\"$or\":[{\"a\":1},{\"tags\":{\"$elemMatch\":{\"$regex\":\"a{2,1}\"}}}]}",
        "{\"ua\":{\"$not\":{\"$regex\":\"\\\\\"}}}",
        "{\"ua\":{\"$regex\":\"(*NOTEMPTY)a\"}}",
        /* what PCRE2 reads and JavaScript's new RegExp throws on (the SDK never matches) */
        "{\"ua\":{\"$regex\":\"(*UTF)(*LIMIT_MATCH=100)a|b\"}}",
        "{\"ua\":{\"$regex\":\"(?x)a # a comment\"}}",
        "{\"ua\":{\"$regexi\":\"(?i)abc\"}}",
        "{\"ua\":{\"$regex\":\"a++\"}}",
        "{\"ua\":{\"$regex\":\"(?<n>a)(?<n>b)\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        doc_err(base_with("targeting", bad[i]), MODEL_CREATE, NULL, "targeting");
        json_t *stored = base_with("targeting", bad[i]);
        json_object_set_new(stored, "status", json_string("running"));
        assert_int_equal(experiment_from_json(stored, MODEL_LOAD, NULL, &x, &e), 0);
        experiment_clear(&x);
        json_decref(stored);
    }
    static const char *const good[] = {
        "{\"ua\":{\"$regex\":\"^Mozilla\"}}",
        "{\"ua\":{\"$regexi\":\"a\\\\Qb\"}}", /* \Q is Q in JavaScript */
        "{\"ua\":{\"$regex\":\"\\\\Z{\"}}",   /* Z and a literal brace */
        "{\"$and\":[{\"ua\":{\"$regex\":\"(?<=a)b\\\\b\"}},{\"n\":{\"$in\":[\"(\"]}}]}",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json_t *g = base_with("targeting", good[i]);
        if (experiment_from_json(g, MODEL_CREATE, NULL, &x, &e) != 0) {
            fail_msg("%s refused: %s", good[i], e.msg);
        }
        experiment_clear(&x);
        json_decref(g);
    }
    /* an operand of the wrong shape is refused when written, named by where it is (review
     * journey33 F2: "$in": "NL" matched nobody, "$or" given an object everybody); a stored
     * one still loads */
    static const char *const shape[][2] = {
        {"{\"country\":{\"$in\":\"NL\"}}", "targeting.country.$in takes a list of values"},
        {"{\"country\":{\"$nin\":\"NL\"}}", "targeting.country.$nin takes a list"},
        {"{\"c\":{\"$ini\":{\"a\":1}}}", "targeting.c.$ini takes a list"},
        {"{\"tags\":{\"$all\":\"a\"}}", "targeting.tags.$all takes a list"},
        {"{\"tags\":{\"$elemMatch\":\"NL\"}}", "targeting.tags.$elemMatch takes a condition"},
        {"{\"$or\":{\"country\":\"NL\"}}", "targeting.$or takes a list of conditions"},
        {"{\"$nor\":\"x\"}", "targeting.$nor takes a list of conditions"},
        {"{\"$and\":[{\"a\":1},\"x\"]}", "targeting.$and[1] must be a condition object"},
        {"{\"$not\":\"x\"}", "targeting.$not takes a condition object"},
        {"{\"c\":{\"$type\":\"str\"}}", "targeting.c.$type takes one of"},
        {"{\"c\":{\"$type\":\"undefined\"}}", "targeting.c.$type takes one of"},
        {"{\"t\":{\"$size\":[3]}}", "targeting.t.$size takes a number"},
        {"{\"tags\":{\"$all\":[{\"$regex\":\"(\"}]}}", "targeting.tags.$all[0].$regex"},
        {"{\"tags\":{\"$all\":[\"a\",{\"$in\":\"NL\"}]}}", "targeting.tags.$all[1].$in"},
        {"{\"t\":{\"$elemMatch\":{\"$alli\":[{\"$regexi\":\"(?<=a\"}]}}}",
         "targeting.t.$elemMatch.$alli[0].$regexi"},
        {"{\"$or\":[{\"c\":{\"$not\":{\"$in\":\"x\"}}}]}", "targeting.$or[0].c.$not.$in"},
        {"{\"t\":{\"$elemMatch\":{\"k\":{\"$all\":1}}}}", "targeting.t.$elemMatch.k.$all"},
        {"{\"t\":{\"$size\":{\"$in\":2}}}", "targeting.t.$size.$in"},
    };
    for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++) {
        json_t *b = base_with("targeting", shape[i][0]);
        if (experiment_from_json(b, MODEL_CREATE, NULL, &x, &e) != -1 ||
            strcmp(e.field, "targeting") != 0 || strstr(e.msg, shape[i][1]) == NULL) {
            fail_msg("%s: %s", shape[i][0], e.msg);
        }
        json_decref(b);
        json_t *stored = base_with("targeting", shape[i][0]);
        json_object_set_new(stored, "status", json_string("running"));
        assert_int_equal(experiment_from_json(stored, MODEL_LOAD, NULL, &x, &e), 0);
        experiment_clear(&x);
        json_decref(stored);
    }
    static const char *const shape_ok[] = {
        "{\"c\":{\"$not\":\"NL\"}}",         /* a field's $not takes a value */
        "{\"c\":{\"$eq\":{\"$in\":\"x\"}}}", /* a literal, compared as it is */
        "{\"c\":{\"k\":1,\"$in\":\"x\"}}",   /* not every key an operator: a literal */
        "{\"t\":{\"$size\":{\"$gt\":1}}}",
        "{\"t\":{\"$size\":0}}",
        "{\"t\":{\"$elemMatch\":{\"$eq\":\"a\"}}}",
        "{\"t\":{\"$elemMatch\":{\"k\":\"v\"}}}",
        "{\"c\":{\"$exists\":false},\"d\":{\"$type\":\"null\"}}",
        /* what the SDK evaluates as it compares any value (review diff33 1) */
        "{\"t\":{\"$size\":\"3\"},\"u\":{\"$size\":true},\"c\":{\"$exists\":1}}",
        "{\"c\":{\"$exists\":\"yes\"}}",
        "{\"tags\":{\"$all\":[\"a\",{\"$regex\":\"^b\"}]}}",
        "{\"tags\":{\"$in\":[{\"$in\":\"literal\"}]}}", /* $in's elements are literals */
        "{\"$nor\":[],\"$and\":[{}],\"$not\":{\"c\":{\"$in\":[]}}}",
        "{\"c\":{\"$alli\":[\"A\"],\"$nini\":[]}}",
    };
    for (size_t i = 0; i < sizeof(shape_ok) / sizeof(shape_ok[0]); i++) {
        json_t *g = base_with("targeting", shape_ok[i]);
        if (experiment_from_json(g, MODEL_CREATE, NULL, &x, &e) != 0) {
            fail_msg("%s refused: %s", shape_ok[i], e.msg);
        }
        experiment_clear(&x);
        json_decref(g);
    }
    doc = base_with("targeting", "{\"$or\":[{\"a\":1},{\"ua\":{\"$regex\":\"(x\"}}]}");
    assert_int_equal(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &e), -1);
    assert_non_null(strstr(e.msg, "targeting.$or[1].ua.$regex"));
    assert_non_null(strstr(e.msg, "\"(x\""));
    assert_non_null(strstr(e.msg, "missing closing parenthesis"));
    json_decref(doc);
    /* validate_json_depth: scalars 0, {} and [] 1, nesting adds one per level */
    json_t *d = parse("{\"a\":[{\"b\":1}],\"c\":{}}");
    assert_int_equal(validate_json_depth(json_object_get(d, "c"), 5), 1);
    assert_int_equal(validate_json_depth(json_object_get(json_object_get(d, "c"), "x"), 5), 0);
    assert_int_equal(validate_json_depth(d, 5), 3);
    assert_true(validate_json_depth(d, 1) > 1);
    json_decref(d);
}

/* Read-only fields: absent or equal to the current value, else 400. */
static void test_experiment_read_only(void **state)
{
    (void)state;
    struct experiment x, y;
    exp_ok("{\"key\":\"r\",\"status\":\"draft\",\"released_variant\":null,\"created_at\":5,"
           "\"started_at\":7,\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}]}",
           &x);
    assert_int_equal(x.status, ASSIGN_STATUS_DRAFT);
    assert_int_equal(x.created_at, 0); /* timestamps are the server's */
    assert_int_equal(x.started_at, 0);
    x.status = ASSIGN_STATUS_STOPPED;
    x.released = 1;
    patch_ok(&x, "{\"status\":\"stopped\",\"released_variant\":\"b\",\"name\":\"N\"}", &y);
    assert_int_equal(y.status, ASSIGN_STATUS_STOPPED);
    assert_int_equal(y.released, 1);
    assert_string_equal(y.name, "N");
    experiment_clear(&y);
    doc_err(parse("{\"status\":\"running\"}"), MODEL_PATCH, &x, "status");
    doc_err(parse("{\"released_variant\":\"a\"}"), MODEL_PATCH, &x, "released_variant");
    /* the released variant is kept by key when the variants are edited, and cannot go */
    patch_ok(&x, "{\"variants\":[{\"key\":\"c\"},{\"key\":\"b\"},{\"key\":\"a\"}]}", &y);
    assert_int_equal(y.released, 1);
    experiment_clear(&y);
    patch_ok(&x, "{\"variants\":[{\"key\":\"b\"},{\"key\":\"a\"}]}", &y);
    assert_int_equal(y.released, 0);
    json_t *j = experiment_to_json(&y);
    assert_string_equal(json_string_value(json_object_get(j, "released_variant")), "b");
    json_decref(j);
    experiment_clear(&y);
    doc_err(parse("{\"variants\":[{\"key\":\"a\"},{\"key\":\"c\"}]}"), MODEL_PATCH, &x, "variants");
    x.released = -1;
    doc_err(parse("{\"released_variant\":\"b\"}"), MODEL_PATCH, &x, "released_variant");
    experiment_clear(&x);
}

/* conclusion.winner (experiment_read_conclusion): a variant key, with "won" only; null or
 * absent: none; kept by a stored document and by a PATCH that does not name it; the variants
 * keep it. */
static void test_experiment_winner(void **state)
{
    (void)state;
    struct experiment x, y;
    exp_ok("{\"key\":\"w\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"},{\"key\":\"c\"}]}", &x);
    x.status = ASSIGN_STATUS_STOPPED;
    patch_ok(&x, "{\"conclusion\":{\"outcome\":\"won\",\"winner\":\"b\"}}", &y);
    assert_int_equal(y.outcome, OUTCOME_WON);
    assert_string_equal(y.winner, "b");
    json_t *j = experiment_to_json(&y);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "conclusion"), "winner")), "b");
    /* a stored document loads it */
    struct experiment z;
    struct err e;
    err_clear(&e);
    assert_int_equal(experiment_from_json(j, MODEL_LOAD, NULL, &z, &e), 0);
    assert_string_equal(z.winner, "b");
    experiment_clear(&z);
    json_decref(j);
    /* a PATCH without a conclusion keeps it; the variants may move but not lose it */
    struct experiment k;
    patch_ok(&y, "{\"name\":\"N\",\"variants\":[{\"key\":\"b\"},{\"key\":\"a\"}]}", &k);
    assert_string_equal(k.winner, "b");
    experiment_clear(&k);
    doc_err(parse("{\"variants\":[{\"key\":\"a\"},{\"key\":\"c\"}]}"), MODEL_PATCH, &y, "variants");
    /* null or absent: none */
    patch_ok(&y, "{\"conclusion\":{\"outcome\":\"won\",\"winner\":null}}", &k);
    assert_string_equal(k.winner, "");
    j = experiment_to_json(&k);
    assert_true(json_is_null(json_object_get(json_object_get(j, "conclusion"), "winner")));
    json_decref(j);
    experiment_clear(&k);
    patch_ok(&y, "{\"conclusion\":{\"outcome\":\"lost\"}}", &k);
    assert_string_equal(k.winner, "");
    experiment_clear(&k);
    patch_ok(&y, "{\"conclusion\":null}", &k);
    assert_string_equal(k.winner, "");
    experiment_clear(&k);
    /* refused: with another outcome, not a variant, not a key */
    static const char *const bad[] = {
        "{\"conclusion\":{\"outcome\":\"lost\",\"winner\":\"b\"}}",
        "{\"conclusion\":{\"outcome\":\"inconclusive\",\"winner\":\"b\"}}",
        "{\"conclusion\":{\"outcome\":\"won\",\"winner\":\"d\"}}",
        "{\"conclusion\":{\"outcome\":\"won\",\"winner\":\"B\"}}",
        "{\"conclusion\":{\"outcome\":\"won\",\"winner\":7}}",
        "{\"conclusion\":{\"outcome\":\"won\",\"winner\":{}}}",
        "{\"conclusion\":{\"outcome\":\"won\",\"winner\":\"\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        doc_err(parse(bad[i]), MODEL_PATCH, &y, "conclusion.winner");
    }
    /* a refused read leaves the winner as it was */
    err_clear(&e);
    json_t *c = parse("{\"outcome\":\"won\",\"winner\":\"zz\"}");
    assert_int_equal(experiment_read_conclusion(c, MODEL_PATCH, &y, 1, &e), -1);
    assert_string_equal(e.field, "conclusion.winner");
    assert_non_null(strstr(e.msg, "'zz'"));
    assert_string_equal(y.winner, "b");
    json_decref(c);
    experiment_clear(&y);
    experiment_clear(&x);
}

static void test_experiment_patch(void **state)
{
    (void)state;
    struct experiment base, x;
    exp_ok(RICH, &base);
    /* {} changes nothing */
    patch_ok(&base, "{}", &x);
    assert_null(experiment_reassigning_change(&base, &x));
    json_t *a = experiment_to_json(&base), *b = experiment_to_json(&x);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    experiment_clear(&x);
    /* null clears every optional field */
    patch_ok(&base,
             "{\"name\":null,\"description\":null,\"hypothesis\":null,\"owner\":null,\"seed\":"
             "null,\"namespace\":null,\"targeting\":null,\"forced\":null,\"metrics\":null,"
             "\"primary_metric\":null,\"guardrails\":null}",
             &x);
    assert_string_equal(x.name, "checkout-button");
    assert_string_equal(x.description, "");
    assert_string_equal(x.hypothesis, "");
    assert_string_equal(x.owner, "");
    assert_string_equal(x.seed, "checkout-button");
    assert_false(x.has_namespace);
    assert_null(x.targeting);
    assert_null(x.forced);
    assert_int_equal(x.nmetrics, 0);
    assert_int_equal(x.nguardrails, 0);
    assert_string_equal(x.primary_metric, "");
    /* untouched fields keep their values */
    assert_true(x.coverage == 0.8);
    assert_int_equal(x.hash_version, 1);
    assert_true(x.variants[1].weight == 0.75);
    assert_true(x.sequential_tuning == 1234);
    assert_int_equal(x.analysis.method, STATS_METHOD_BAYESIAN);
    experiment_clear(&x);
    /* the key may be repeated, never changed */
    patch_ok(&base, "{\"key\":\"checkout-button\",\"coverage\":0.5}", &x);
    assert_true(x.coverage == 0.5);
    experiment_clear(&x);
    doc_err(parse("{\"key\":\"other\"}"), MODEL_PATCH, &base, "key");
    doc_err(parse("{\"key\":\"Other\"}"), MODEL_PATCH, &base, "key");
    /* cross-field rules apply to the result */
    doc_err(parse("{\"metrics\":[\"purchase\"]}"), MODEL_PATCH, &base, "primary_metric");
    doc_err(parse("{\"metrics\":null}"), MODEL_PATCH, &base, "primary_metric");
    doc_err(parse("{\"variants\":[{\"key\":\"control\"},{\"key\":\"blue\"}]}"), MODEL_PATCH, &base,
            "forced.qa-1");
    doc_err(parse("{\"coverage\":2}"), MODEL_PATCH, &base, "coverage");
    doc_err(parse("{\"surprise\":1}"), MODEL_PATCH, &base, "surprise");
    /* the base is never modified */
    assert_string_equal(base.seed, "s1");
    assert_non_null(base.targeting);
    experiment_clear(&base);
}

static void assert_experiment_equal(const struct experiment *a, const struct experiment *b)
{
    assert_string_equal(a->key, b->key);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->description, b->description);
    assert_string_equal(a->hypothesis, b->hypothesis);
    assert_string_equal(a->owner, b->owner);
    assert_int_equal(a->nvariants, b->nvariants);
    for (size_t i = 0; i < a->nvariants; i++) {
        assert_string_equal(a->variants[i].key, b->variants[i].key);
        assert_string_equal(a->variants[i].name, b->variants[i].name);
        assert_true(a->variants[i].weight == b->variants[i].weight);
    }
    assert_true(a->coverage == b->coverage);
    assert_string_equal(a->seed, b->seed);
    assert_int_equal(a->hash_version, b->hash_version);
    assert_int_equal(a->has_namespace, b->has_namespace);
    assert_string_equal(a->ns_name, b->ns_name);
    assert_true(a->ns_start == b->ns_start && a->ns_end == b->ns_end);
    assert_true(a->targeting == NULL ? b->targeting == NULL
                                     : json_equal(a->targeting, b->targeting));
    assert_true(a->forced == NULL ? b->forced == NULL : json_equal(a->forced, b->forced));
    assert_int_equal(a->nmetrics, b->nmetrics);
    for (size_t i = 0; i < a->nmetrics; i++) {
        assert_string_equal(a->metrics[i], b->metrics[i]);
    }
    assert_string_equal(a->primary_metric, b->primary_metric);
    assert_int_equal(a->nguardrails, b->nguardrails);
    for (size_t i = 0; i < a->nguardrails; i++) {
        assert_string_equal(a->guardrails[i], b->guardrails[i]);
    }
    assert_true(a->sequential_tuning == b->sequential_tuning);
    assert_int_equal(a->analysis.method, b->analysis.method);
    assert_true(a->analysis.alpha == b->analysis.alpha);
    assert_int_equal(a->analysis.cuped, b->analysis.cuped);
    assert_int_equal(a->analysis.correction, b->analysis.correction);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->created_at, b->created_at);
    assert_int_equal(a->updated_at, b->updated_at);
    assert_int_equal(a->started_at, b->started_at);
    assert_int_equal(a->stopped_at, b->stopped_at);
    assert_int_equal(a->released, b->released);
}

/* to_json -> text -> from_json(MODEL_LOAD) gives back the same definition. */
static void round_trip(const struct experiment *x)
{
    json_t *doc = experiment_to_json(x);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_t *again = parse(text);
    struct experiment y;
    struct err e;
    err_clear(&e);
    if (experiment_from_json(again, MODEL_LOAD, NULL, &y, &e) != 0) {
        fail_msg("stored form refused: %s: %s (%s)", e.field, e.msg, text);
    }
    assert_experiment_equal(x, &y);
    json_t *doc2 = experiment_to_json(&y);
    assert_true(json_equal(doc, doc2));
    json_decref(doc2);
    experiment_clear(&y);
    json_decref(again);
    free(text);
    json_decref(doc);
}

static void test_experiment_round_trip(void **state)
{
    (void)state;
    struct experiment x;
    exp_ok(BASE, &x);
    round_trip(&x);
    experiment_clear(&x);
    exp_ok("{\"key\":\"three\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"},{\"key\":\"c\"}]}",
           &x);
    round_trip(&x);
    experiment_clear(&x);
    exp_ok(RICH, &x);
    round_trip(&x);
    x.status = ASSIGN_STATUS_STOPPED;
    x.released = 1;
    x.created_at = 1764331200000;
    x.updated_at = 1764331200123;
    x.started_at = 1764331200001;
    x.stopped_at = 1764331200100;
    round_trip(&x);
    for (int st = ASSIGN_STATUS_DRAFT; st <= ASSIGN_STATUS_ARCHIVED; st++) {
        x.status = (enum assign_status)st;
        round_trip(&x);
    }
    /* the copy is deep */
    struct experiment c;
    experiment_copy(&c, &x);
    assert_true(c.targeting != x.targeting && c.description != x.description);
    assert_experiment_equal(&c, &x);
    experiment_clear(&c);
    /* the hot-path view borrows from x */
    struct assign_experiment a;
    const char *keys[ASSIGN_MAX_VARIANTS];
    double w[ASSIGN_MAX_VARIANTS];
    experiment_to_assign(&x, &a, keys, w);
    assert_string_equal(a.seed, "s1");
    assert_int_equal(a.hash_version, 1);
    assert_int_equal(a.nvariants, 2);
    assert_string_equal(a.variant_keys[1], "green");
    assert_true(a.weights[0] == 0.25 && a.coverage == 0.8);
    assert_string_equal(a.ns.name, "ns");
    assert_true(a.ns.start == 0.1 && a.ns.end == 0.6);
    assert_ptr_equal(a.condition, x.targeting);
    assert_ptr_equal(a.forced, x.forced);
    assert_int_equal(a.released, 1);
    assert_true(experiment_uses_metric(&x, "revenue"));
    assert_true(experiment_uses_metric(&x, "latency"));
    assert_false(experiment_uses_metric(&x, "clicks"));
    experiment_clear(&x);
    /* a stored document without a valid status is refused */
    struct err e;
    json_t *bad = parse(BASE);
    assert_int_equal(experiment_from_json(bad, MODEL_LOAD, NULL, &x, &e), -1);
    assert_int_equal(e.code, ERR_INTERNAL);
    assert_string_equal(e.field, "status");
    json_decref(bad);
    bad = base_with("status", "\"live\"");
    assert_int_equal(experiment_from_json(bad, MODEL_LOAD, NULL, &x, &e), -1);
    assert_int_equal(e.code, ERR_INTERNAL);
    json_decref(bad);
}

static void test_reassigning_change(void **state)
{
    (void)state;
    static const struct {
        const char *patch, *field;
    } cases[] = {
        {"{\"variants\":[{\"key\":\"control\",\"weight\":0.25},{\"key\":\"green\",\"weight\":0.5},"
         "{\"key\":\"blue\",\"weight\":0.25}]}",
         "variants"},
        {"{\"variants\":[{\"key\":\"control\",\"weight\":0.5},{\"key\":\"green\",\"weight\":0.5}]}",
         "variants"},
        {"{\"variants\":[{\"key\":\"control\",\"weight\":0.25},{\"key\":\"lime\",\"weight\":0.75}]"
         ",\"forced\":null}",
         "variants"},
        {"{\"variants\":[{\"key\":\"green\",\"weight\":0.75},{\"key\":\"control\",\"weight\":0.25}"
         "]}",
         "variants"},
        {"{\"seed\":\"s2\"}", "seed"},
        {"{\"seed\":null}", "seed"},
        {"{\"hash_version\":2}", "hash_version"},
        {"{\"namespace\":null}", "namespace"},
        {"{\"namespace\":{\"name\":\"other\",\"range\":[0.1,0.6]}}", "namespace"},
        {"{\"namespace\":{\"name\":\"ns\",\"range\":[0.1,0.7]}}", "namespace"},
        {"{\"namespace\":{\"name\":\"ns\",\"range\":[0,0.6]}}", "namespace"},
        {"{\"targeting\":null}", "targeting"},
        {"{\"targeting\":{}}", "targeting"},
        {"{\"targeting\":{\"country\":\"NL\"}}", "targeting"},
        /* a lower coverage (0.8 before) takes exposed users out of their variant */
        {"{\"coverage\":0.3}", "coverage"},
        {"{\"coverage\":0}", "coverage"},
        /* none of these reassign anybody */
        {"{\"name\":\"Renamed\",\"description\":\"x\",\"hypothesis\":\"y\",\"owner\":\"z\"}", NULL},
        {"{\"coverage\":0.8}", NULL},
        {"{\"coverage\":1}", NULL},
        {"{\"forced\":{\"qa-2\":\"control\"}}", NULL},
        {"{\"forced\":null}", NULL},
        {"{\"metrics\":[\"revenue\"],\"guardrails\":[],\"primary_metric\":null}", NULL},
        {"{\"sequential_tuning\":99,\"analysis\":{\"method\":\"sequential\"}}", NULL},
        {"{\"variants\":[{\"key\":\"control\",\"name\":\"Blue\",\"weight\":0.25},{\"key\":"
         "\"green\",\"weight\":0.75}]}",
         NULL},
        {"{\"targeting\":{\"country\":{\"$in\":[\"NL\",\"BE\"]}},\"seed\":\"s1\",\"hash_version\""
         ":1,\"namespace\":{\"name\":\"ns\",\"range\":[0.1,0.6]}}",
         NULL},
    };
    struct experiment base, x;
    exp_ok(RICH, &base);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        patch_ok(&base, cases[i].patch, &x);
        const char *got = experiment_reassigning_change(&base, &x);
        if (cases[i].field == NULL ? got != NULL
                                   : (got == NULL || strcmp(got, cases[i].field) != 0)) {
            fail_msg("%s: got %s, expected %s", cases[i].patch, got ? got : "NULL",
                     cases[i].field ? cases[i].field : "NULL");
        }
        experiment_clear(&x);
    }
    /* from no namespace / no targeting to one */
    struct experiment plain;
    exp_ok(BASE, &plain);
    patch_ok(&plain, "{\"namespace\":{\"name\":\"ns\",\"range\":[0,1]}}", &x);
    assert_string_equal(experiment_reassigning_change(&plain, &x), "namespace");
    experiment_clear(&x);
    patch_ok(&plain, "{\"targeting\":{\"a\":1}}", &x);
    assert_string_equal(experiment_reassigning_change(&plain, &x), "targeting");
    experiment_clear(&x);
    experiment_clear(&plain);
    experiment_clear(&base);
}

/* Every status x every action. */
static void test_transition_table(void **state)
{
    (void)state;
    static const char *const actions[] = {"start", "pause", "resume", "stop", "archive"};
    /* expected[from][action]: the new status, or -1 for 409 */
    static const int expected[5][5] = {
        /* draft */ {ASSIGN_STATUS_RUNNING, -1, -1, -1, ASSIGN_STATUS_ARCHIVED},
        /* running */ {-1, ASSIGN_STATUS_PAUSED, -1, ASSIGN_STATUS_STOPPED, -1},
        /* paused */ {-1, -1, ASSIGN_STATUS_RUNNING, ASSIGN_STATUS_STOPPED, -1},
        /* stopped */ {-1, -1, -1, -1, ASSIGN_STATUS_ARCHIVED},
        /* archived */ {-1, -1, -1, -1, -1},
    };
    for (int from = 0; from < 5; from++) {
        for (int a = 0; a < 5; a++) {
            enum assign_status to = (enum assign_status)99;
            struct err e;
            err_clear(&e);
            int rc = experiment_transition((enum assign_status)from, actions[a], &to, &e);
            if (expected[from][a] < 0) {
                if (rc != -1 || e.code != ERR_CONFLICT) {
                    fail_msg("%s from %s should be a conflict", actions[a],
                             assign_status_name((enum assign_status)from));
                }
                assert_int_equal(to, 99);
            } else {
                assert_int_equal(rc, 0);
                assert_int_equal(to, expected[from][a]);
            }
        }
    }
    enum assign_status to;
    struct err e;
    assert_int_equal(experiment_transition(ASSIGN_STATUS_DRAFT, "launch", &to, &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
}

/* An experiment document with this key and namespace (JSON text). */
static const char *fmt_ns(const char *key, const char *ns)
{
    static char buf[2][256];
    static int which;
    which ^= 1;
    snprintf(buf[which], sizeof(buf[0]),
             "{\"key\":\"%s\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"namespace\":%s}",
             key, ns);
    return buf[which];
}

/* Namespaces exclude their experiments from each other only with disjoint ranges:
 * [start, end) half-open, same name. */
static void test_namespaces_overlap(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        bool overlap;
    } cases[] = {
        {"{\"name\":\"checkout\",\"range\":[0,0.6]}", "{\"name\":\"checkout\",\"range\":[0.4,1]}",
         true},
        {"{\"name\":\"checkout\",\"range\":[0,0.5]}", "{\"name\":\"checkout\",\"range\":[0.5,1]}",
         false},
        {"{\"name\":\"checkout\",\"range\":[0.5,1]}", "{\"name\":\"checkout\",\"range\":[0,0.5]}",
         false},
        {"{\"name\":\"checkout\",\"range\":[0.2,0.3]}", "{\"name\":\"checkout\",\"range\":[0,1]}",
         true},
        {"{\"name\":\"checkout\",\"range\":[0,1]}", "{\"name\":\"search\",\"range\":[0,1]}", false},
        {"{\"name\":\"checkout\",\"range\":[0,1]}", "null", false},
        {"null", "null", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct experiment a, b;
        exp_ok(fmt_ns("na", cases[i].a), &a);
        exp_ok(fmt_ns("nb", cases[i].b), &b);
        if (experiment_namespaces_overlap(&a, &b) != cases[i].overlap ||
            experiment_namespaces_overlap(&b, &a) != cases[i].overlap) {
            fail_msg("%s and %s: overlap should be %d", cases[i].a, cases[i].b, cases[i].overlap);
        }
        experiment_clear(&a);
        experiment_clear(&b);
    }
    /* a range end stored with 17 digits by an earlier version (1/3 as a double) and its
     * neighbour's start as a client can write it now (15 digits) touch: no overlap (a 409
     * on start refused an exact split made before the upgrade) */
    struct experiment a, b;
    exp_ok(fmt_ns("na", "{\"name\":\"thirds\",\"range\":[0,0.5]}"), &a);
    exp_ok(fmt_ns("nb", "{\"name\":\"thirds\",\"range\":[0.333333333333333,0.6]}"), &b);
    a.ns_end = 1.0 / 3.0; /* as stored before the rounding */
    assert_false(experiment_namespaces_overlap(&a, &b));
    assert_false(experiment_namespaces_overlap(&b, &a));
    b.ns_start = 0.33333333333333; /* one digit less: a real overlap */
    assert_true(experiment_namespaces_overlap(&a, &b));
    experiment_clear(&a);
    experiment_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_experiment_defaults),   cmocka_unit_test(test_experiment_bad_values),
        cmocka_unit_test(test_experiment_limits),     cmocka_unit_test(test_experiment_weights),
        cmocka_unit_test(test_experiment_targeting),  cmocka_unit_test(test_experiment_read_only),
        cmocka_unit_test(test_experiment_winner),     cmocka_unit_test(test_experiment_patch),
        cmocka_unit_test(test_experiment_round_trip), cmocka_unit_test(test_reassigning_change),
        cmocka_unit_test(test_transition_table),      cmocka_unit_test(test_namespaces_overlap),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
