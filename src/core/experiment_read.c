/*
 * experiment_read.c - the experiment definition read from its JSON form (model.h
 * experiment_from_json, experiment_read_conclusion): the document as a whole under the rules
 * of API.md "Experiments" (unknown fields, defaults for a create, a PATCH over the stored
 * experiment and what it keeps of it, a stored one loaded as it is), the descriptive fields,
 * the read-only fields and a conclusion's place in the lifecycle, then the rules across
 * fields. The fields that decide assignment (variants and weights, values, namespace,
 * targeting, forced users) are read in experiment_read_assign.c, those of the analysis
 * (metric lists, dimensions, analysis defaults) in experiment_read_analysis.c.
 * Pure: no I/O, no globals; any thread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/model.h"
#include "bunsen/util.h"
#include "experiment_int.h"

static const char *const experiment_fields[] = {"key",
                                                "name",
                                                "description",
                                                "hypothesis",
                                                "owner",
                                                "variants",
                                                "coverage",
                                                "seed",
                                                "hash_version",
                                                "namespace",
                                                "targeting",
                                                "forced",
                                                "metrics",
                                                "primary_metric",
                                                "guardrails",
                                                "sequential_tuning",
                                                "mde",
                                                "analysis",
                                                "status",
                                                "created_at",
                                                "updated_at",
                                                "started_at",
                                                "stopped_at",
                                                "paused_at",
                                                "paused_ms",
                                                "released_variant",
                                                "conclusion",
                                                "default_value",
                                                "hash_attribute",
                                                "fallback_attribute",
                                                "dimensions",
                                                NULL};
static const char *const conclusion_fields[] = {"outcome", "notes", "winner", "concluded_at", NULL};

/* A conclusion's winner (absent or null: none) into winner: a variant key of x, given only
 * with the outcome "won". */
static int read_winner(const json_t *w, enum experiment_outcome outcome, const struct experiment *x,
                       char winner[MODEL_KEY_MAX + 1], struct err *err)
{
    winner[0] = '\0';
    if (w == NULL || json_is_null(w)) {
        return 0;
    }
    if (outcome != OUTCOME_WON) {
        return err_set(err, ERR_INVALID, "conclusion.winner",
                       "a winner is given only with the outcome won (this one is %s): remove "
                       "it or make it null",
                       experiment_outcome_names[outcome]);
    }
    if (validate_key(w, "conclusion.winner", winner, err) != 0) {
        return -1;
    }
    if (experiment_variant_index(x, winner) < 0) {
        err_set(err, ERR_INVALID, "conclusion.winner",
                "'%s' is not a variant key of the experiment", winner);
        winner[0] = '\0';
        return -1;
    }
    return 0;
}

int experiment_read_conclusion(const json_t *v, enum model_mode mode, struct experiment *x,
                               int64_t now, struct err *err)
{
    if (json_is_null(v)) {
        free(x->conclusion_notes);
        x->conclusion_notes = NULL;
        x->outcome = OUTCOME_NONE;
        x->concluded_at = 0;
        x->winner[0] = '\0';
        return 0;
    }
    if (!json_is_object(v)) {
        return err_set(err, ERR_INVALID, "conclusion",
                       "conclusion must be an object {\"outcome\": \"won\", \"notes\": \"...\"}");
    }
    if (validate_known_fields(v, conclusion_fields, "conclusion", err) != 0) {
        return -1;
    }
    const json_t *o = json_object_get(v, "outcome");
    size_t i = 1;
    while (i < sizeof(experiment_outcome_names) / sizeof(experiment_outcome_names[0]) &&
           (!json_is_string(o) || strcmp(json_string_value(o), experiment_outcome_names[i]) != 0)) {
        i++;
    }
    if (i == sizeof(experiment_outcome_names) / sizeof(experiment_outcome_names[0])) {
        return err_set(err, ERR_INVALID, "conclusion.outcome",
                       "outcome must be won, lost or inconclusive");
    }
    const json_t *n = json_object_get(v, "notes");
    if (n != NULL && !json_is_null(n) &&
        validate_text(n, mode, "conclusion.notes", 0, MODEL_NOTES_MAX, true, NULL, 0, err) != 0) {
        return -1;
    }
    char winner[MODEL_KEY_MAX + 1];
    if (read_winner(json_object_get(v, "winner"), (enum experiment_outcome)i, x, winner, err) !=
        0) {
        return -1;
    }
    snprintf(x->winner, sizeof(x->winner), "%s", winner);
    free(x->conclusion_notes);
    x->conclusion_notes = xstrdup(json_is_string(n) ? json_string_value(n) : "");
    x->outcome = (enum experiment_outcome)i;
    x->concluded_at = now;
    return 0;
}

/* A conclusion in a create or PATCH: only a stopped experiment has one; elsewhere it
 * must be absent or null (a GET body sent back). An unchanged conclusion keeps its time. */
static int read_conclusion_edit(const json_t *v, enum model_mode mode, struct experiment *out,
                                struct err *err)
{
    if (mode == MODEL_LOAD) {
        const json_t *t = json_is_object(v) ? json_object_get(v, "concluded_at") : NULL;
        int rc = experiment_read_conclusion(v, mode, out, 0, err);
        out->concluded_at = json_is_integer(t) ? json_integer_value(t) : 0;
        return rc;
    }
    if (out->status != ASSIGN_STATUS_STOPPED) {
        if (json_is_null(v)) {
            return 0;
        }
        return err_set(err, ERR_INVALID, "conclusion",
                       "a conclusion is recorded when stopping (POST /stop with "
                       "{\"conclusion\": {\"outcome\": \"won\"}}) or on a stopped experiment");
    }
    enum experiment_outcome was = out->outcome;
    char *notes = out->conclusion_notes ? xstrdup(out->conclusion_notes) : NULL;
    char winner[MODEL_KEY_MAX + 1];
    snprintf(winner, sizeof(winner), "%s", out->winner);
    int64_t at = out->concluded_at;
    int rc = experiment_read_conclusion(v, mode, out, time_now_ms(), err);
    if (rc == 0 && out->outcome == was && was != OUTCOME_NONE && notes != NULL &&
        strcmp(notes, out->conclusion_notes) == 0 && strcmp(winner, out->winner) == 0) {
        out->concluded_at = at;
    }
    free(notes);
    return rc;
}

static void experiment_defaults(struct experiment *x)
{
    memset(x, 0, sizeof(*x));
    x->description = xstrdup("");
    x->hypothesis = xstrdup("");
    x->coverage = 1.0;
    x->hash_version = 2;
    x->sequential_tuning = STATS_SEQUENTIAL_TUNING_DEFAULT;
    x->mde = MODEL_MDE_DEFAULT;
    x->analysis.method = STATS_METHOD_FREQUENTIST;
    x->analysis.alpha = STATS_ALPHA_DEFAULT;
    x->analysis.cuped = true;
    x->analysis.correction = STATS_CORRECTION_NONE;
    x->status = ASSIGN_STATUS_DRAFT;
    x->released = -1;
    snprintf(x->hash_attribute, sizeof(x->hash_attribute), "id");
}

static int read_long_text(const json_t *v, enum model_mode mode, const char *field, char **dst,
                          struct err *err)
{
    if (json_is_null(v)) {
        free(*dst);
        *dst = xstrdup("");
        return 0;
    }
    if (validate_text(v, mode, field, 0, MODEL_TEXT_MAX, true, NULL, 0, err) != 0) {
        return -1;
    }
    free(*dst);
    *dst = xstrdup(json_string_value(v));
    return 0;
}

/* Read-only fields: accepted when absent or equal to the current value (so that a GET
 * body can be sent back), else a 400 pointing at the lifecycle endpoints. */
static int check_read_only(const json_t *doc, const struct experiment *cur, struct err *err)
{
    const json_t *v = json_object_get(doc, "status");
    if (v != NULL && (!json_is_string(v) ||
                      strcmp(json_string_value(v), assign_status_name(cur->status)) != 0)) {
        return err_set(err, ERR_INVALID, "status",
                       "status changes only through /start, /pause, /resume, /stop, /archive");
    }
    v = json_object_get(doc, "released_variant");
    if (v != NULL && !json_is_null(v) &&
        (cur->released < 0 || !json_is_string(v) ||
         strcmp(json_string_value(v), cur->variants[cur->released].key) != 0)) {
        return err_set(err, ERR_INVALID, "released_variant",
                       "released_variant is set by POST /stop with {\"release\": \"variant\"}");
    }
    return 0;
}

static int64_t opt_time(const json_t *doc, const char *name)
{
    const json_t *v = json_object_get(doc, name);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* Cross-field rules once every field is read. */
static int check_consistency(struct experiment *x, struct err *err)
{
    if (x->primary_metric[0] != '\0') {
        bool found = false;
        for (size_t i = 0; i < x->nmetrics; i++) {
            found = found || strcmp(x->metrics[i], x->primary_metric) == 0;
        }
        if (!found) {
            return err_set(err, ERR_INVALID, "primary_metric",
                           "primary_metric '%s' must be one of the experiment's metrics",
                           x->primary_metric);
        }
    }
    if (x->winner[0] != '\0' && experiment_variant_index(x, x->winner) < 0) {
        /* variants edited under a recorded winner (a stopped experiment's may not change:
         * api/experiments.c; the core says so itself) */
        return err_set(err, ERR_INVALID, "variants",
                       "'%s', the conclusion's winner, must stay a variant (or change "
                       "conclusion.winner)",
                       x->winner);
    }
    if (x->forced != NULL) {
        const char *user;
        json_t *val;
        json_object_foreach(x->forced, user, val)
        {
            if (experiment_variant_index(x, json_string_value(val)) < 0) {
                char field[64];
                snprintf(field, sizeof(field), "forced.%.40s", user);
                return err_set(err, ERR_INVALID, field, "'%.60s' is not a variant key",
                               json_string_value(val));
            }
        }
    }
    return 0;
}

/* read_experiment's parts: each reads its fields of doc into out (err set and -1 on the first
 * bad one; the caller clears out). Who the experiment is: key, name and texts, owner; fields a
 * client may not write are refused here (check_read_only). */
static int read_identity(const json_t *doc, enum model_mode mode, const struct experiment *base,
                         struct experiment *out, struct err *err)
{
    const json_t *v;
    if ((v = json_object_get(doc, "key")) != NULL || mode != MODEL_PATCH) {
        char key[MODEL_KEY_MAX + 1];
        if (v == NULL) {
            err_set(err, ERR_INVALID, "key", "key is required");
            return -1;
        }
        if (validate_key(v, "key", key, err) != 0) {
            return -1;
        }
        if (mode == MODEL_PATCH && strcmp(key, base->key) != 0) {
            err_set(err, ERR_INVALID, "key", "an experiment's key cannot change");
            return -1;
        }
        snprintf(out->key, sizeof(out->key), "%s", key);
    }
    if (mode != MODEL_LOAD && check_read_only(doc, out, err) != 0) {
        return -1;
    }
    if ((v = json_object_get(doc, "name")) != NULL && !json_is_null(v)) {
        if (validate_text(v, mode, "name", 1, MODEL_NAME_MAX, false, out->name, sizeof(out->name),
                          err) != 0) {
            return -1;
        }
    } else if (mode == MODEL_CREATE || v != NULL) {
        snprintf(out->name, sizeof(out->name), "%s", out->key);
    }
    if ((v = json_object_get(doc, "description")) != NULL &&
        read_long_text(v, mode, "description", &out->description, err) != 0) {
        return -1;
    }
    if ((v = json_object_get(doc, "hypothesis")) != NULL &&
        read_long_text(v, mode, "hypothesis", &out->hypothesis, err) != 0) {
        return -1;
    }
    if ((v = json_object_get(doc, "owner")) != NULL) {
        if (json_is_null(v)) {
            out->owner[0] = '\0';
        } else if (validate_text(v, mode, "owner", 0, MODEL_NAME_MAX, false, out->owner,
                                 sizeof(out->owner), err) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Who gets what: variants (weights and the released variant kept across a PATCH), coverage,
 * seed and hashing, namespace, targeting, forced users, the default value. */
static int read_assignment(const json_t *doc, enum model_mode mode, const struct experiment *base,
                           struct experiment *out, struct err *err)
{
    const json_t *v;
    if ((v = json_object_get(doc, "variants")) != NULL) {
        if (experiment_read_variants(v, mode, out, err) != 0) {
            return -1;
        }
        /* Responses printed 15 significant digits until s24 (the shortest exact text now),
         * and clients round too, so a GET body sent back may carry 0.333333333333333 for a
         * stored 1/3: within 1e-9 of the stored weight of the same variant, keep the stored
         * double (else an unchanged PATCH would be refused as reassigning users). */
        for (size_t i = 0; mode == MODEL_PATCH && i < out->nvariants && i < base->nvariants; i++) {
            if (strcmp(out->variants[i].key, base->variants[i].key) == 0 &&
                fabs(out->variants[i].weight - base->variants[i].weight) < 1e-9) {
                out->variants[i].weight = base->variants[i].weight;
            }
        }
        if (mode == MODEL_PATCH && base->released >= 0) {
            /* released is an index: follow its key, which every user already gets */
            const char *rel = base->variants[base->released].key;
            out->released = experiment_variant_index(out, rel);
            if (out->released < 0) {
                err_set(err, ERR_INVALID, "variants", "the released variant '%s' must stay", rel);
                return -1;
            }
        }
    } else if (mode == MODEL_CREATE) {
        err_set(err, ERR_INVALID, "variants",
                "variants (2 to 20, the first is the control) are "
                "required");
        return -1;
    }
    if ((v = json_object_get(doc, "coverage")) != NULL) {
        if (validate_number(v, "coverage", 0, 1, &out->coverage, err) != 0) {
            return -1;
        }
        /* as the weights above: a body with 15 digits of a coverage stored with 17 (1/3)
         * must not read as a lower coverage (refused while running) */
        if (mode == MODEL_PATCH && fabs(out->coverage - base->coverage) < 1e-9) {
            out->coverage = base->coverage;
        }
    }
    if ((v = json_object_get(doc, "seed")) != NULL && !json_is_null(v)) {
        if (validate_text(v, mode, "seed", 1, 256, false, out->seed, sizeof(out->seed), err) != 0) {
            return -1;
        }
    } else if (mode == MODEL_CREATE || (v != NULL && json_is_null(v))) {
        snprintf(out->seed, sizeof(out->seed), "%s", out->key);
    }
    if ((v = json_object_get(doc, "hash_version")) != NULL) {
        int64_t hv;
        if (validate_integer(v, "hash_version", 1, 2, &hv, err) != 0) {
            return -1;
        }
        out->hash_version = (int)hv;
    }
    if ((v = json_object_get(doc, "namespace")) != NULL) {
        if (experiment_read_namespace(v, mode, out, err) != 0) {
            return -1;
        }
    }
    if ((v = json_object_get(doc, "targeting")) != NULL) {
        if (experiment_read_targeting(v, mode, out, err) != 0) {
            return -1;
        }
    }
    if ((v = json_object_get(doc, "forced")) != NULL && experiment_read_forced(v, out, err) != 0) {
        return -1;
    }
    if ((v = json_object_get(doc, "default_value")) != NULL &&
        experiment_read_value(v, mode, "default_value", &out->default_value, err) != 0) {
        return -1;
    }
    if ((v = json_object_get(doc, "hash_attribute")) != NULL &&
        experiment_read_attribute_name(v, mode, "hash_attribute", "id", out->hash_attribute,
                                       sizeof(out->hash_attribute), err) != 0) {
        return -1;
    }
    if ((v = json_object_get(doc, "fallback_attribute")) != NULL &&
        experiment_read_attribute_name(v, mode, "fallback_attribute", "", out->fallback_attribute,
                                       sizeof(out->fallback_attribute), err) != 0) {
        return -1;
    }
    return 0;
}

/* What is measured and how: metrics, guardrails, dimensions, the primary metric, sequential
 * tuning, the MDE and the analysis options. */
static int read_measurement(const json_t *doc, enum model_mode mode, struct experiment *out,
                            struct err *err)
{
    const json_t *v;
    if ((v = json_object_get(doc, "metrics")) != NULL &&
        experiment_read_key_list(v, "metrics", MODEL_MAX_METRICS, out->metrics, &out->nmetrics,
                                 err) != 0) {
        return -1;
    }
    if ((v = json_object_get(doc, "guardrails")) != NULL &&
        experiment_read_key_list(v, "guardrails", MODEL_MAX_GUARDRAILS, out->guardrails,
                                 &out->nguardrails, err) != 0) {
        return -1;
    }
    if ((v = json_object_get(doc, "dimensions")) != NULL &&
        experiment_read_dimensions(v, out, err) != 0) {
        return -1;
    }
    if ((v = json_object_get(doc, "primary_metric")) != NULL) {
        if (json_is_null(v)) {
            out->primary_metric[0] = '\0';
        } else if (validate_key(v, "primary_metric", out->primary_metric, err) != 0) {
            return -1;
        }
    }
    if ((v = json_object_get(doc, "sequential_tuning")) != NULL &&
        validate_real(v, mode, "sequential_tuning", 1, 1e12, &out->sequential_tuning, err) != 0) {
        return -1;
    }
    if ((v = json_object_get(doc, "mde")) != NULL) {
        if (json_is_null(v)) {
            out->mde = MODEL_MDE_DEFAULT;
        } else if (validate_real(v, mode, "mde", 1e-6, 100, &out->mde, err) != 0) {
            return -1;
        }
    }
    if ((v = json_object_get(doc, "analysis")) != NULL &&
        experiment_read_analysis(v, mode, &out->analysis, err) != 0) {
        return -1;
    }
    return 0;
}

/* A stored document's lifecycle fields (MODEL_LOAD only): status, its times, the released
 * variant. */
static int read_stored_state(const json_t *doc, struct experiment *out, struct err *err)
{
    const json_t *v = json_object_get(doc, "status");
    if (!json_is_string(v) || assign_status_parse(json_string_value(v), &out->status, err) != 0) {
        err_set(err, ERR_INTERNAL, "status", "stored experiment has no valid status");
        return -1;
    }
    out->created_at = opt_time(doc, "created_at");
    out->updated_at = opt_time(doc, "updated_at");
    out->started_at = opt_time(doc, "started_at");
    out->stopped_at = opt_time(doc, "stopped_at");
    out->paused_at = opt_time(doc, "paused_at");
    out->paused_ms = opt_time(doc, "paused_ms");
    v = json_object_get(doc, "released_variant");
    out->released = json_is_string(v) ? experiment_variant_index(out, json_string_value(v)) : -1;
    return 0;
}

static int read_experiment(const json_t *doc, enum model_mode mode, const struct experiment *base,
                           struct experiment *out, struct err *err)
{
    if (!json_is_object(doc)) {
        return err_set(err, ERR_INVALID, NULL, "an experiment must be a JSON object");
    }
    if (validate_known_fields(doc, experiment_fields, "", err) != 0) {
        return -1;
    }
    if (mode == MODEL_PATCH) {
        experiment_copy(out, base);
    } else {
        experiment_defaults(out);
    }
    if (read_identity(doc, mode, base, out, err) != 0 ||
        read_assignment(doc, mode, base, out, err) != 0 ||
        read_measurement(doc, mode, out, err) != 0 ||
        (mode == MODEL_LOAD && read_stored_state(doc, out, err) != 0)) {
        goto out_fail;
    }
    const json_t *v;
    if ((v = json_object_get(doc, "conclusion")) != NULL &&
        read_conclusion_edit(v, mode, out, err) != 0) {
        goto out_fail;
    }
    if (check_consistency(out, err) != 0) {
        goto out_fail;
    }
    /* a stored experiment loads as it is: the rule is checked where the values are written */
    if ((mode == MODEL_CREATE ||
         (mode == MODEL_PATCH &&
          (json_object_get(doc, "variants") || json_object_get(doc, "default_value")))) &&
        experiment_check_value_types(out, err) != 0) {
        goto out_fail;
    }
    return 0;
out_fail:
    experiment_clear(out);
    return -1;
}

int experiment_from_json(const json_t *doc, enum model_mode mode, const struct experiment *base,
                         struct experiment *out, struct err *err)
{
    return read_experiment(doc, mode, base, out, err);
}
