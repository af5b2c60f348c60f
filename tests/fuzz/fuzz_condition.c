/*
 * fuzz_condition.c - libFuzzer target for the targeting-condition evaluator
 * (condition.h), the code that runs on every /assign for every user-supplied attribute.
 *
 * The input is JSON text, parsed as http_req_json_body() parses bodies: an array
 * [condition, attributes, saved_groups] (the shape of the conformance cases, so they
 * seed it; missing elements are NULL), or any other value, which is then the condition
 * with no attributes. condition_eval() must return without crashing, leaking, recursing
 * without bound or tripping UBSan, and must be deterministic (the same answer twice,
 * also on deep copies of the trees). The condition is also put through the experiment
 * reader as `targeting` and, when accepted, evaluated through assign_decide().
 */
#include "bunsen/assign.h"
#include "bunsen/condition.h"
#include "bunsen/model.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1);
    return 0;
}

/* As targeting of a running experiment: accepted or refused, and assignable if accepted. */
static void through_experiment(const json_t *cond, const json_t *attrs)
{
    bool expect = condition_eval(cond, attrs, NULL); /* an experiment has no saved groups */
    json_t *doc = json_pack("{s:s, s:[{s:s}, {s:s}], s:O}", "key", "fuzz", "variants", "key", "a",
                            "key", "b", "targeting", cond);
    FUZZ_CHECK(doc != NULL, "json_pack");
    struct experiment x;
    struct err err;
    err_clear(&err);
    if (experiment_from_json(doc, MODEL_CREATE, NULL, &x, &err) != 0) {
        FUZZ_CHECK(err.code == ERR_INVALID && strcmp(err.field, "targeting") == 0,
                   "targeting refused with field '%s'", err.field);
        json_decref(doc);
        return;
    }
    x.status = ASSIGN_STATUS_RUNNING;
    const char *keys[ASSIGN_MAX_VARIANTS];
    double weights[ASSIGN_MAX_VARIANTS];
    struct assign_experiment a;
    experiment_to_assign(&x, &a, keys, weights);
    struct assign_result r;
    err_clear(&err);
    FUZZ_CHECK(assign_decide(&a, "u-1", 3, attrs, &r, &err) == 0, "assign_decide: %s", err.msg);
    /* an empty condition is stored as none, and then everyone is targeted */
    bool targeted = r.reason != ASSIGN_REASON_NOT_TARGETED;
    FUZZ_CHECK(targeted == (expect || x.targeting == NULL),
               "assign_decide targeting %d, condition_eval %d", targeted, expect);
    experiment_clear(&x);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = fuzz_json(data, size, JSON_DECODE_ANY);
    if (doc == NULL) {
        return 0;
    }
    const json_t *cond = doc, *attrs = NULL, *groups = NULL;
    if (json_is_array(doc) && json_array_size(doc) >= 1 && json_array_size(doc) <= 3) {
        cond = json_array_get(doc, 0);
        attrs = json_array_get(doc, 1);
        groups = json_array_get(doc, 2);
    }
    bool first = condition_eval(cond, attrs, groups);
    bool again = condition_eval(cond, attrs, groups);
    FUZZ_CHECK(first == again, "condition_eval is not deterministic");
    json_t *cc = json_deep_copy(cond);
    json_t *ac = attrs ? json_deep_copy(attrs) : NULL;
    json_t *gc = groups ? json_deep_copy(groups) : NULL;
    FUZZ_CHECK(condition_eval(cc, ac, gc) == first, "condition_eval differs on a deep copy");
    (void)condition_eval(cond, NULL, NULL);
    (void)condition_eval(cond, cond, attrs);
    if (json_is_object(cond) && (attrs == NULL || json_is_object(attrs))) {
        through_experiment(cond, attrs);
    }
    json_decref(cc);
    json_decref(ac);
    json_decref(gc);
    json_decref(doc);
    return 0;
}
