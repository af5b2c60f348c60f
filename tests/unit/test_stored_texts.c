/* Unit tests for the origin of a text (validate_text's mode, model.h): every name and text
 * an experiment, a metric or a saved group holds refuses an invisible formatting character
 * (util.h utf8_invisible_len) when a client writes it (MODEL_CREATE, MODEL_PATCH), naming
 * the field, and loads as it is when read back from storage (MODEL_LOAD: stored before the
 * rule existed, a running experiment must keep serving). The mode is an argument, not a
 * state: a load leaves nothing behind for the next create. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bunsen/model.h"
#include "bunsen/saved_group.h"

/* U+202E (right-to-left override) inside; LRM and the soft hyphen below */
#define INVISIBLE                                                                                  \
    "ab\xe2\x80\xae"                                                                               \
    "cd"

#define EXP_DOC                                                                                    \
    "{\"key\":\"exp\",\"name\":\"Exp\",\"seed\":\"exp\",\"status\":\"draft\",\"variants\":"        \
    "[{\"key\":\"a\"},{\"key\":\"b\",\"name\":\"B\"}]}"

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    if (doc == NULL) {
        fail_msg("bad test JSON: %s", je.text);
    }
    return doc;
}

/* The stored experiment EXP_DOC with path (a top-level field, "variants[1].name" or
 * "conclusion.notes" of a stopped one) set to INVISIBLE. New reference. */
static json_t *exp_with(const char *path)
{
    json_t *doc = parse(EXP_DOC);
    if (strcmp(path, "variants[1].name") == 0) {
        json_object_set_new(json_array_get(json_object_get(doc, "variants"), 1), "name",
                            json_string(INVISIBLE));
    } else if (strcmp(path, "conclusion.notes") == 0) {
        json_object_set_new(doc, "status", json_string("stopped"));
        json_object_set_new(doc, "conclusion",
                            json_pack("{s:s, s:s}", "outcome", "won", "notes", INVISIBLE));
    } else {
        json_object_set_new(doc, path, json_string(INVISIBLE));
    }
    return doc;
}

/* The text at path in x. */
static const char *exp_text(const struct experiment *x, const char *path)
{
    static const struct {
        const char *path;
        size_t offset;
        bool pointer;
    } fields[] = {
        {"name", offsetof(struct experiment, name), false},
        {"description", offsetof(struct experiment, description), true},
        {"hypothesis", offsetof(struct experiment, hypothesis), true},
        {"owner", offsetof(struct experiment, owner), false},
        {"seed", offsetof(struct experiment, seed), false},
        {"hash_attribute", offsetof(struct experiment, hash_attribute), false},
        {"fallback_attribute", offsetof(struct experiment, fallback_attribute), false},
        {"conclusion.notes", offsetof(struct experiment, conclusion_notes), true},
    };
    if (strcmp(path, "variants[1].name") == 0) {
        return x->variants[1].name;
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(fields[i].path, path) == 0) {
            const char *at = (const char *)x + fields[i].offset;
            return fields[i].pointer ? *(char *const *)(const void *)at : at;
        }
    }
    fail_msg("no field %s", path);
    return NULL;
}

static void expect_refused(int rc, const struct err *e, const char *mode, const char *field)
{
    if (rc == 0) {
        fail_msg("%s accepted an invisible character in %s", mode, field);
    }
    if (e->code != ERR_INVALID || strcmp(e->field, field) != 0 ||
        strstr(e->msg, "invisible") == NULL) {
        fail_msg("%s of %s: field '%s' code %d (%s)", mode, field, e->field, (int)e->code, e->msg);
    }
}

static void test_experiment_texts(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "name",
        "description",
        "hypothesis",
        "owner",
        "seed",
        "hash_attribute",
        "fallback_attribute",
        "variants[1].name",
        "conclusion.notes",
    };
    struct experiment draft, stopped;
    struct err e;
    json_t *d = parse(EXP_DOC);
    assert_int_equal(experiment_from_json(d, MODEL_LOAD, NULL, &draft, &e), 0);
    json_object_set_new(d, "status", json_string("stopped"));
    assert_int_equal(experiment_from_json(d, MODEL_LOAD, NULL, &stopped, &e), 0);
    json_decref(d);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        const char *path = paths[i];
        bool conclusion = strcmp(path, "conclusion.notes") == 0;
        json_t *doc = exp_with(path);
        struct experiment x;
        err_clear(&e);
        if (experiment_from_json(doc, MODEL_LOAD, NULL, &x, &e) != 0) {
            fail_msg("stored %s refused: %s: %s", path, e.field, e.msg);
        }
        assert_string_equal(exp_text(&x, path), INVISIBLE);
        experiment_clear(&x);
        /* the body a client would send: no status (read-only), the stored one's fields */
        json_object_del(doc, "status");
        if (!conclusion) {
            /* a draft has no conclusion: CREATE is refused on "conclusion" before its notes */
            err_clear(&e);
            expect_refused(experiment_from_json(doc, MODEL_CREATE, NULL, &x, &e), &e, "CREATE",
                           path);
        }
        err_clear(&e);
        expect_refused(
            experiment_from_json(doc, MODEL_PATCH, conclusion ? &stopped : &draft, &x, &e), &e,
            "PATCH", path);
        json_decref(doc);
    }
    /* the conclusion of POST /stop (api/experiments.c) is written by a client */
    json_t *c = json_pack("{s:s, s:s}", "outcome", "lost", "notes", INVISIBLE);
    err_clear(&e);
    expect_refused(experiment_read_conclusion(c, MODEL_PATCH, &stopped, 1, &e), &e, "stop",
                   "conclusion.notes");
    json_decref(c);
    experiment_clear(&draft);
    experiment_clear(&stopped);
}

static void test_metric_texts(void **state)
{
    (void)state;
    static const char *const fields[] = {"name", "description"};
    struct metric base, m;
    struct err e;
    json_t *b =
        json_pack("{s:s, s:s, s:s, s:s}", "key", "m", "name", "M", "type", "count", "event", "buy");
    assert_int_equal(metric_from_json(b, MODEL_LOAD, NULL, &base, &e), 0);
    json_decref(b);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "key", "m", "type", "count", "event", "buy",
                                fields[i], INVISIBLE);
        err_clear(&e);
        if (metric_from_json(doc, MODEL_LOAD, NULL, &m, &e) != 0) {
            fail_msg("stored metric %s refused: %s: %s", fields[i], e.field, e.msg);
        }
        assert_string_equal(i == 0 ? m.name : m.description, INVISIBLE);
        err_clear(&e);
        expect_refused(metric_from_json(doc, MODEL_CREATE, NULL, &m, &e), &e, "CREATE", fields[i]);
        err_clear(&e);
        expect_refused(metric_from_json(doc, MODEL_PATCH, &base, &m, &e), &e, "PATCH", fields[i]);
        json_decref(doc);
    }
}

static void test_saved_group_texts(void **state)
{
    (void)state;
    static const char *const fields[] = {"name", "attribute", "description", "values"};
    json_t *base = json_pack("{s:s, s:s, s:s, s:[s], s:s}", "key", "g", "name", "G", "attribute",
                             "id", "values", "u1", "description", "");
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *doc = json_deep_copy(base);
        bool values = strcmp(fields[i], "values") == 0;
        json_object_set_new(doc, fields[i],
                            values ? json_pack("[s]", INVISIBLE) : json_string(INVISIBLE));
        json_t *out = NULL;
        struct err e;
        err_clear(&e);
        if (saved_group_from_json(doc, MODEL_LOAD, NULL, &out, &e) != 0) {
            fail_msg("stored group %s refused: %s: %s", fields[i], e.field, e.msg);
        }
        json_t *got = json_object_get(out, fields[i]);
        assert_string_equal(json_string_value(values ? json_array_get(got, 0) : got), INVISIBLE);
        json_decref(out);
        const char *field = values ? "values[0]" : fields[i];
        out = NULL;
        err_clear(&e);
        expect_refused(saved_group_from_json(doc, MODEL_CREATE, NULL, &out, &e), &e, "CREATE",
                       field);
        assert_null(out);
        err_clear(&e);
        expect_refused(saved_group_from_json(doc, MODEL_PATCH, base, &out, &e), &e, "PATCH", field);
        assert_null(out);
        json_decref(doc);
    }
    json_decref(base);
}

/* A running experiment named before the rule (s24, s25's wider list) loads at start. */
static void test_stored_texts_load(void **state)
{
    (void)state;
    struct experiment x;
    struct err e;
    json_t *stored = parse(EXP_DOC);
    json_object_set_new(stored, "name",
                        json_string("Te\xc2\xad"
                                    "st \xe2\x80\x8e"));
    json_object_set_new(stored, "status", json_string("running"));
    assert_int_equal(experiment_from_json(stored, MODEL_LOAD, NULL, &x, &e), 0);
    assert_string_equal(x.name, "Te\xc2\xadst \xe2\x80\x8e");
    experiment_clear(&x);
    /* the rule is on for the next create, as it was before the load */
    json_object_del(stored, "status");
    err_clear(&e);
    expect_refused(experiment_from_json(stored, MODEL_CREATE, NULL, &x, &e), &e, "CREATE", "name");
    json_decref(stored);
    json_t *v = json_string("a\xe2\x81\xa0"
                            "b");
    err_clear(&e);
    assert_int_equal(validate_text(v, MODEL_LOAD, "t", 0, 10, false, NULL, 0, &e), 0);
    expect_refused(validate_text(v, MODEL_CREATE, "t", 0, 10, false, NULL, 0, &e), &e, "CREATE",
                   "t");
    err_clear(&e);
    expect_refused(validate_text(v, MODEL_PATCH, "t", 0, 10, false, NULL, 0, &e), &e, "PATCH", "t");
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_experiment_texts),
        cmocka_unit_test(test_metric_texts),
        cmocka_unit_test(test_saved_group_texts),
        cmocka_unit_test(test_stored_texts_load),
    };
    return cmocka_run_group_tests_name("stored_texts", tests, NULL, NULL);
}
