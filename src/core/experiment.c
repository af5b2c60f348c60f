/*
 * experiment.c - the experiment definition (model.h): its lifetime (clear, copy), its JSON
 * rendering, the lifecycle state machine, the "would this edit reassign users?" check, and
 * the hot-path view for assign.c. Reading and validating the JSON form is
 * experiment_read.c (its field readers: experiment_read_assign.c, experiment_read_analysis.c).
 * Pure: no I/O, no globals; any thread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/condition.h"
#include "bunsen/model.h"
#include "bunsen/util.h"
#include "experiment_int.h"

const char *const experiment_outcome_names[EXPERIMENT_OUTCOMES] = {"", "won", "lost",
                                                                   "inconclusive"};

void experiment_clear(struct experiment *x)
{
    free(x->description);
    free(x->hypothesis);
    json_decref(x->targeting);
    json_decref(x->forced);
    json_decref(x->default_value);
    for (size_t i = 0; i < x->nvariants && i < ASSIGN_MAX_VARIANTS; i++) {
        json_decref(x->variants[i].value);
    }
    free(x->conclusion_notes);
    memset(x, 0, sizeof(*x));
    x->released = -1;
}

void experiment_copy(struct experiment *dst, const struct experiment *src)
{
    *dst = *src;
    dst->description = xstrdup(src->description ? src->description : "");
    dst->hypothesis = xstrdup(src->hypothesis ? src->hypothesis : "");
    dst->targeting = src->targeting ? json_deep_copy(src->targeting) : NULL;
    dst->forced = src->forced ? json_deep_copy(src->forced) : NULL;
    dst->default_value = src->default_value ? json_deep_copy(src->default_value) : NULL;
    for (size_t i = 0; i < src->nvariants; i++) {
        dst->variants[i].value =
            src->variants[i].value ? json_deep_copy(src->variants[i].value) : NULL;
    }
    dst->conclusion_notes = src->conclusion_notes ? xstrdup(src->conclusion_notes) : NULL;
}

static json_t *time_or_null(int64_t t)
{
    return t ? json_integer(t) : json_null();
}

static json_t *key_array(const char (*keys)[MODEL_KEY_MAX + 1], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_string(keys[i]));
    }
    return a;
}

json_t *experiment_to_json(const struct experiment *x)
{
    json_t *o = json_object();
    json_object_set_new(o, "key", json_string(x->key));
    json_object_set_new(o, "name", json_string(x->name));
    json_object_set_new(o, "description", json_string(x->description ? x->description : ""));
    json_object_set_new(o, "hypothesis", json_string(x->hypothesis ? x->hypothesis : ""));
    json_object_set_new(o, "owner", json_string(x->owner));
    json_t *vars = json_array();
    for (size_t i = 0; i < x->nvariants; i++) {
        json_t *var = json_pack("{s:s, s:s, s:f}", "key", x->variants[i].key, "name",
                                x->variants[i].name, "weight", x->variants[i].weight);
        if (x->variants[i].value != NULL) {
            json_object_set_new(var, "value", json_deep_copy(x->variants[i].value));
        }
        json_array_append_new(vars, var);
    }
    json_object_set_new(o, "variants", vars);
    json_object_set_new(o, "coverage", json_real(x->coverage));
    json_object_set_new(o, "seed", json_string(x->seed));
    json_object_set_new(o, "hash_version", json_integer(x->hash_version));
    json_object_set_new(o, "namespace",
                        x->has_namespace ? json_pack("{s:s, s:[f, f]}", "name", x->ns_name, "range",
                                                     x->ns_start, x->ns_end)
                                         : json_null());
    json_object_set_new(o, "targeting",
                        x->targeting ? json_deep_copy(x->targeting) : json_object());
    json_object_set_new(o, "forced", x->forced ? json_deep_copy(x->forced) : json_object());
    json_object_set_new(o, "metrics", key_array(x->metrics, x->nmetrics));
    json_object_set_new(o, "primary_metric",
                        x->primary_metric[0] ? json_string(x->primary_metric) : json_null());
    json_object_set_new(o, "guardrails", key_array(x->guardrails, x->nguardrails));
    json_t *dims = json_array();
    for (size_t i = 0; i < x->ndimensions; i++) {
        json_array_append_new(dims, json_string(x->dimensions[i]));
    }
    json_object_set_new(o, "dimensions", dims);
    json_object_set_new(o, "sequential_tuning", json_real(x->sequential_tuning));
    json_object_set_new(o, "mde", json_real(x->mde));
    json_object_set_new(o, "analysis",
                        json_pack("{s:s, s:f, s:b, s:s}", "method",
                                  stats_method_name(x->analysis.method), "alpha", x->analysis.alpha,
                                  "cuped", x->analysis.cuped, "correction",
                                  stats_correction_name(x->analysis.correction)));
    json_object_set_new(o, "status", json_string(assign_status_name(x->status)));
    json_object_set_new(o, "created_at", json_integer(x->created_at));
    json_object_set_new(o, "updated_at", json_integer(x->updated_at));
    json_object_set_new(o, "started_at", time_or_null(x->started_at));
    json_object_set_new(o, "stopped_at", time_or_null(x->stopped_at));
    json_object_set_new(o, "paused_at", time_or_null(x->paused_at));
    json_object_set_new(o, "paused_ms", json_integer(x->paused_ms));
    json_object_set_new(o, "released_variant",
                        x->released >= 0 ? json_string(x->variants[x->released].key) : json_null());
    json_object_set_new(o, "default_value",
                        x->default_value ? json_deep_copy(x->default_value) : json_null());
    json_object_set_new(o, "hash_attribute",
                        json_string(x->hash_attribute[0] ? x->hash_attribute : "id"));
    json_object_set_new(o, "fallback_attribute",
                        x->fallback_attribute[0] ? json_string(x->fallback_attribute)
                                                 : json_null());
    json_object_set_new(o, "conclusion",
                        x->outcome != OUTCOME_NONE
                            ? json_pack("{s:s, s:o, s:s, s:I}", "outcome",
                                        experiment_outcome_names[x->outcome], "winner",
                                        x->winner[0] ? json_string(x->winner) : json_null(),
                                        "notes", x->conclusion_notes ? x->conclusion_notes : "",
                                        "concluded_at", (json_int_t)x->concluded_at)
                            : json_null());
    return o;
}

json_t *experiment_value_new(const struct experiment *x, int variant)
{
    const struct variant *v = &x->variants[variant];
    return v->value != NULL ? json_incref(v->value) : json_string(v->key);
}

json_t *experiment_assigned_value(const struct experiment *x, int variant, bool of_variant)
{
    if (!of_variant && x->default_value != NULL) {
        return json_incref(x->default_value);
    }
    return experiment_value_new(x, of_variant ? variant : 0);
}

static bool json_same(const json_t *a, const json_t *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return json_equal((json_t *)(uintptr_t)a, (json_t *)(uintptr_t)b);
}

const char *experiment_reassigning_change(const struct experiment *a, const struct experiment *b)
{
    if (a->nvariants != b->nvariants) {
        return "variants";
    }
    for (size_t i = 0; i < a->nvariants; i++) {
        if (strcmp(a->variants[i].key, b->variants[i].key) != 0 ||
            a->variants[i].weight != b->variants[i].weight) {
            return "variants";
        }
    }
    if (strcmp(a->seed, b->seed) != 0) {
        return "seed";
    }
    if (a->hash_version != b->hash_version) {
        return "hash_version";
    }
    if (a->has_namespace != b->has_namespace ||
        (a->has_namespace && (strcmp(a->ns_name, b->ns_name) != 0 || a->ns_start != b->ns_start ||
                              a->ns_end != b->ns_end))) {
        return "namespace";
    }
    if (!json_same(a->targeting, b->targeting)) {
        return "targeting";
    }
    if (strcmp(a->hash_attribute, b->hash_attribute) != 0) {
        return "hash_attribute";
    }
    if (strcmp(a->fallback_attribute, b->fallback_attribute) != 0) {
        return "fallback_attribute";
    }
    /* each variant's range is [W_i, W_i + coverage * w_i): a lower coverage cuts the end off
     * every range, and the users there (exposed, counted in that variant) leave it; a higher
     * one only lengthens the ranges, taking in users who were out (never exposed) */
    if (b->coverage < a->coverage) {
        return "coverage";
    }
    return NULL;
}

/* A range end as written now (MODEL_REAL_DIGITS): an end stored with 17 digits by an earlier
 * version (0.3333333333333333) and its neighbour's start written since (0.333333333333333,
 * the most a client can send now) touch, they do not overlap. */
static double ns_end_rounded(double x)
{
    double r = x;
    return validate_round_real(x, MODEL_REAL_DIGITS, &r) ? r : x;
}

bool experiment_namespaces_overlap(const struct experiment *a, const struct experiment *b)
{
    /* half-open ranges [start, end): [0, 0.5) and [0.5, 1) share no bucket */
    return a->has_namespace && b->has_namespace && strcmp(a->ns_name, b->ns_name) == 0 &&
           ns_end_rounded(a->ns_start) < ns_end_rounded(b->ns_end) &&
           ns_end_rounded(b->ns_start) < ns_end_rounded(a->ns_end);
}

int experiment_transition(enum assign_status from, const char *action, enum assign_status *to,
                          struct err *err)
{
    static const struct {
        const char *action;
        unsigned from; /* bitset of statuses */
        enum assign_status to;
    } rules[] = {
        {"start", 1u << ASSIGN_STATUS_DRAFT, ASSIGN_STATUS_RUNNING},
        {"pause", 1u << ASSIGN_STATUS_RUNNING, ASSIGN_STATUS_PAUSED},
        {"resume", 1u << ASSIGN_STATUS_PAUSED, ASSIGN_STATUS_RUNNING},
        {"stop", (1u << ASSIGN_STATUS_RUNNING) | (1u << ASSIGN_STATUS_PAUSED),
         ASSIGN_STATUS_STOPPED},
        {"archive", (1u << ASSIGN_STATUS_STOPPED) | (1u << ASSIGN_STATUS_DRAFT),
         ASSIGN_STATUS_ARCHIVED},
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (strcmp(action, rules[i].action) == 0) {
            if ((rules[i].from & (1u << from)) == 0) {
                return err_set(err, ERR_CONFLICT, "status", "cannot %s an experiment that is %s",
                               action, assign_status_name(from));
            }
            *to = rules[i].to;
            return 0;
        }
    }
    return err_set(err, ERR_NOT_FOUND, NULL, "unknown lifecycle action '%.40s'", action);
}

int experiment_variant_index(const struct experiment *x, const char *key)
{
    for (size_t i = 0; key != NULL && i < x->nvariants; i++) {
        if (strcmp(x->variants[i].key, key) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int64_t experiment_running_ms(const struct experiment *x, int64_t now)
{
    if (x->started_at <= 0) {
        return 0;
    }
    int64_t end = x->stopped_at > 0 ? x->stopped_at : now;
    int64_t paused = x->paused_ms > 0 ? x->paused_ms : 0;
    if (x->paused_at > 0 && x->stopped_at == 0 && end > x->paused_at) {
        paused += end - x->paused_at;
    }
    int64_t ran = end - x->started_at - paused;
    return ran > 0 ? ran : 0;
}

bool experiment_uses_metric(const struct experiment *x, const char *key)
{
    for (size_t i = 0; i < x->nmetrics; i++) {
        if (strcmp(x->metrics[i], key) == 0) {
            return true;
        }
    }
    for (size_t i = 0; i < x->nguardrails; i++) {
        if (strcmp(x->guardrails[i], key) == 0) {
            return true;
        }
    }
    return false;
}

bool experiment_is_guardrail(const struct experiment *x, const char *key)
{
    for (size_t i = 0; i < x->nguardrails; i++) {
        if (strcmp(x->guardrails[i], key) == 0) {
            return true;
        }
    }
    return false;
}

void experiment_to_assign(const struct experiment *x, struct assign_experiment *a,
                          const char **keys, double *weights)
{
    assign_experiment_init(a);
    for (size_t i = 0; i < x->nvariants; i++) {
        keys[i] = x->variants[i].key;
        weights[i] = x->variants[i].weight;
    }
    a->key = x->key;
    a->seed = x->seed;
    a->hash_version = x->hash_version;
    a->status = x->status;
    a->nvariants = x->nvariants;
    a->variant_keys = keys;
    a->weights = weights;
    a->coverage = x->coverage;
    a->ns.name = x->has_namespace ? x->ns_name : NULL;
    a->ns.start = x->ns_start;
    a->ns.end = x->ns_end;
    a->condition = x->targeting;
    a->forced = x->forced;
    a->released = x->released;
    a->hash_attribute = strcmp(x->hash_attribute, "id") == 0 || x->hash_attribute[0] == '\0'
                            ? NULL
                            : x->hash_attribute;
    a->fallback_attribute = x->fallback_attribute[0] ? x->fallback_attribute : NULL;
}
