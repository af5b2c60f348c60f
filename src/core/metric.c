/*
 * metric.c - the metric definition (model.h): reading and validating its JSON form,
 * and rendering it. API.md "Metrics".
 */
#include <stdio.h>
#include <string.h>

#include "bunsen/model.h"
#include "bunsen/util.h"

static const char *const metric_fields[] = {
    "key",          "name",       "event",       "type",
    "window_hours", "goal",       "cap",         "cuped_lookback_hours",
    "description",  "created_at", "updated_at",  "unit",
    "currency",     "numerator",  "denominator", NULL};

/* API.md "Metrics": two weeks before the first exposure */
#define METRIC_CUPED_LOOKBACK_DEFAULT 336

static const char *const unit_names[] = {"", "count", "percent", "currency", "duration"};

static void metric_defaults(struct metric *m)
{
    memset(m, 0, sizeof(*m));
    m->type = STATS_METRIC_BINOMIAL;
    m->goal = STATS_GOAL_INCREASE;
    m->cuped_lookback_hours = METRIC_CUPED_LOOKBACK_DEFAULT;
}

/* "unit" and "currency" (model.h enum metric_unit). A currency needs a code and a code
 * needs the currency unit; a binomial metric is a rate, so only percent (or none) fits. */
static int metric_read_unit(const json_t *doc, enum model_mode mode, struct metric *out,
                            struct err *err)
{
    const json_t *u = json_object_get(doc, "unit");
    const json_t *c = json_object_get(doc, "currency");
    if (u != NULL) {
        out->unit = METRIC_UNIT_NONE;
        if (!json_is_null(u)) {
            size_t i = 1;
            while (i < sizeof(unit_names) / sizeof(unit_names[0]) &&
                   (!json_is_string(u) || strcmp(json_string_value(u), unit_names[i]) != 0)) {
                i++;
            }
            if (i == sizeof(unit_names) / sizeof(unit_names[0])) {
                return err_set(err, ERR_INVALID, "unit",
                               "unit must be count, percent, currency, duration or null");
            }
            out->unit = (enum metric_unit)i;
        }
    }
    if (c != NULL) {
        out->currency[0] = '\0';
        if (!json_is_null(c)) {
            const char *t = json_is_string(c) ? json_string_value(c) : "";
            bool ok = strlen(t) == 3;
            for (size_t i = 0; ok && i < 3; i++) {
                ok = t[i] >= 'A' && t[i] <= 'Z';
            }
            if (!ok) {
                return err_set(err, ERR_INVALID, "currency",
                               "currency must be a three-letter ISO 4217 code such as EUR or USD");
            }
            memcpy(out->currency, t, 4);
        }
    } else if (u != NULL && out->unit != METRIC_UNIT_CURRENCY) {
        out->currency[0] = '\0'; /* a PATCH away from currency drops the code */
    }
    if (mode == MODEL_LOAD) {
        return 0;
    }
    if (out->unit == METRIC_UNIT_CURRENCY && out->currency[0] == '\0') {
        return err_set(err, ERR_INVALID, "currency",
                       "a currency unit needs its currency code, e.g. \"currency\": \"EUR\"");
    }
    if (out->unit != METRIC_UNIT_CURRENCY && out->currency[0] != '\0') {
        return err_set(err, ERR_INVALID, "currency",
                       "currency is only for metrics whose unit is currency");
    }
    if (out->type == STATS_METRIC_BINOMIAL && out->unit != METRIC_UNIT_NONE &&
        out->unit != METRIC_UNIT_PERCENT) {
        return err_set(err, ERR_INVALID, "unit",
                       "a binomial metric is a conversion rate: its unit is percent (or null)");
    }
    return 0;
}

/* A ratio's value is sum(numerator) / sum(denominator) per variant: the event, window, cap
 * and CUPED look-back that count are its parts' (results_ratio.c), so a ratio of its own with
 * any of them would be stored and silently ignored. Create and PATCH refuse them (400 naming
 * the field; null, and the default look-back, are what a GET shows and may be sent back). A
 * PATCH checks what it sends, and when it makes a metric a ratio also what the metric had
 * (null them in the same PATCH); a ratio stored with them by an earlier version still loads
 * (MODEL_LOAD never calls this) and keeps them through PATCHes that do not name them or send
 * them unchanged (its GET body sent back). */
static int ratio_own_fields_check(const json_t *doc, enum model_mode mode,
                                  const struct metric *base, const struct metric *m,
                                  struct err *err)
{
    bool all = mode == MODEL_CREATE || base->type != STATS_METRIC_RATIO;
    const char *const names[] = {"event", "window_hours", "cap", "cuped_lookback_hours"};
    const bool set[] = {m->event[0] != '\0', m->has_window, m->has_cap,
                        m->cuped_lookback_hours != METRIC_CUPED_LOOKBACK_DEFAULT};
    /* a ratio's PATCH that sends back what it has (a GET body, edited elsewhere) changes none */
    const bool kept[] = {!all && strcmp(m->event, base->event) == 0,
                         !all && m->has_window == base->has_window &&
                             m->window_hours == base->window_hours,
                         !all && m->has_cap == base->has_cap && m->cap == base->cap,
                         !all && m->cuped_lookback_hours == base->cuped_lookback_hours};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (set[i] && !kept[i] && (all || json_object_get(doc, names[i]) != NULL)) {
            return err_set(err, ERR_INVALID, names[i],
                           "a ratio metric takes no %s of its own: its numerator and denominator "
                           "metrics carry theirs (send null, or leave it out)",
                           names[i]);
        }
    }
    return 0;
}

/* A binomial metric's per-user value is 0 or 1, and its tests (a pooled z, Beta posteriors)
 * take the mean for the conversion rate: a cap below 1 scaled the values to 0 or cap and the
 * Bernoulli variance mean (1 - mean) no longer matched them (a cap of 0.5 moved p from 0.004 to
 * 0.08 on the same data), and a cap of 1 or more changes nothing. Create and a PATCH that sets
 * a cap or makes a metric binomial refuse one (400 naming cap); a binomial stored with a cap
 * by an earlier version still loads and keeps it through PATCHes that send it unchanged. */
static int binomial_cap_check(enum model_mode mode, const struct metric *base,
                              const struct metric *m, struct err *err)
{
    if (!m->has_cap) {
        return 0;
    }
    bool kept = mode == MODEL_PATCH && base->type == STATS_METRIC_BINOMIAL && base->has_cap &&
                base->cap == m->cap;
    if (kept) {
        return 0;
    }
    return err_set(err, ERR_INVALID, "cap",
                   "a binomial metric takes no cap: each user counts 0 or 1 (send null, or "
                   "leave it out)");
}

static int read_metric(const json_t *doc, enum model_mode mode, const struct metric *base,
                       struct metric *out, struct err *err)
{
    if (!json_is_object(doc)) {
        return err_set(err, ERR_INVALID, NULL, "a metric must be a JSON object");
    }
    if (validate_known_fields(doc, metric_fields, "", err) != 0) {
        return -1;
    }
    if (mode == MODEL_PATCH) {
        *out = *base;
    } else {
        metric_defaults(out);
    }
    json_t *v;
    if ((v = json_object_get(doc, "key")) != NULL || mode != MODEL_PATCH) {
        char key[MODEL_KEY_MAX + 1];
        if (v == NULL) {
            return err_set(err, ERR_INVALID, "key", "key is required");
        }
        if (validate_key(v, "key", key, err) != 0) {
            return -1;
        }
        if (mode == MODEL_PATCH && strcmp(key, base->key) != 0) {
            return err_set(err, ERR_INVALID, "key", "a metric's key cannot change");
        }
        snprintf(out->key, sizeof(out->key), "%s", key);
    }
    if ((v = json_object_get(doc, "name")) != NULL && !json_is_null(v)) {
        if (validate_text(v, mode, "name", 1, MODEL_NAME_MAX, false, out->name, sizeof(out->name),
                          err) != 0) {
            return -1;
        }
    } else if (mode == MODEL_CREATE || (v != NULL && json_is_null(v))) {
        snprintf(out->name, sizeof(out->name), "%s", out->key);
    }
    if ((v = json_object_get(doc, "event")) != NULL && json_is_null(v)) {
        out->event[0] = '\0'; /* required again below unless a ratio */
    } else if (v != NULL) {
        if (!json_is_string(v) ||
            !text_id_valid(json_string_value(v), json_string_length(v), 128)) {
            return err_set(err, ERR_INVALID, "event",
                           "event must be 1 to 128 bytes of text without control characters");
        }
        snprintf(out->event, sizeof(out->event), "%s", json_string_value(v));
    }
    if ((v = json_object_get(doc, "type")) != NULL) {
        if (!json_is_string(v) || stats_metric_type_parse(json_string_value(v), &out->type) != 0) {
            return err_set(err, ERR_INVALID, "type", "type must be binomial, count, sum or ratio");
        }
    } else if (mode == MODEL_CREATE) {
        return err_set(err, ERR_INVALID, "type", "type (binomial, count or sum) is required");
    }
    if ((v = json_object_get(doc, "goal")) != NULL) {
        if (!json_is_string(v) || stats_goal_parse(json_string_value(v), &out->goal) != 0) {
            return err_set(err, ERR_INVALID, "goal", "goal must be increase or decrease");
        }
    }
    if ((v = json_object_get(doc, "window_hours")) != NULL) {
        if (json_is_null(v)) {
            out->has_window = false;
            out->window_hours = 0;
        } else if (validate_integer(v, "window_hours", 1, 24 * 365 * 10, &out->window_hours, err) !=
                   0) {
            return -1;
        } else {
            out->has_window = true;
        }
    }
    if ((v = json_object_get(doc, "cap")) != NULL) {
        if (json_is_null(v)) {
            out->has_cap = false;
            out->cap = 0;
        } else if (validate_real(v, mode, "cap", 0, 1e300, &out->cap, err) != 0) {
            return -1;
        } else if (out->cap <= 0) {
            return err_set(err, ERR_INVALID, "cap", "cap must be greater than 0 (or null)");
        } else if (out->cap < 1e-100 && mode != MODEL_LOAD) {
            /* as events' values (API.md): a capped value's square must not underflow */
            return err_set(err, ERR_INVALID, "cap", "cap must be at least 1e-100 (or null)");
        } else {
            out->has_cap = true; /* as sent (a GET shows it exactly) */
        }
    }
    if ((v = json_object_get(doc, "cuped_lookback_hours")) != NULL) {
        if (json_is_null(v)) {
            out->cuped_lookback_hours = METRIC_CUPED_LOOKBACK_DEFAULT;
        } else if (validate_integer(v, "cuped_lookback_hours", 0, 24 * 365,
                                    &out->cuped_lookback_hours, err) != 0) {
            return -1;
        }
    }
    if ((v = json_object_get(doc, "description")) != NULL) {
        if (json_is_null(v)) {
            out->description[0] = '\0';
        } else if (validate_text(v, mode, "description", 0, 1000, true, out->description,
                                 sizeof(out->description), err) != 0) {
            return -1;
        }
    }
    if (metric_read_unit(doc, mode, out, err) != 0) {
        return -1;
    }
    /* ratio: numerator / denominator metric keys (their existence is the API's check);
     * other types count one event */
    const char *parts[] = {"numerator", "denominator"};
    char *dst[] = {out->numerator, out->denominator};
    for (int i = 0; i < 2; i++) {
        if ((v = json_object_get(doc, parts[i])) != NULL) {
            if (json_is_null(v)) {
                dst[i][0] = '\0';
            } else if (validate_key(v, parts[i], dst[i], err) != 0) {
                return -1;
            }
        }
    }
    if (out->type == STATS_METRIC_RATIO) {
        if (out->numerator[0] == '\0' || out->denominator[0] == '\0') {
            return err_set(err, ERR_INVALID, out->numerator[0] ? "denominator" : "numerator",
                           "a ratio metric needs numerator and denominator (metric keys)");
        }
        if (strcmp(out->numerator, out->key) == 0 || strcmp(out->denominator, out->key) == 0) {
            return err_set(err, ERR_INVALID, "numerator", "a ratio cannot refer to itself");
        }
        if (mode != MODEL_LOAD && ratio_own_fields_check(doc, mode, base, out, err) != 0) {
            return -1;
        }
    } else {
        if (out->type == STATS_METRIC_BINOMIAL && mode != MODEL_LOAD &&
            binomial_cap_check(mode, base, out, err) != 0) {
            return -1;
        }
        if (out->numerator[0] != '\0' || out->denominator[0] != '\0') {
            return err_set(err, ERR_INVALID, out->numerator[0] ? "numerator" : "denominator",
                           "numerator and denominator belong to ratio metrics");
        }
        if (out->event[0] == '\0') {
            return err_set(err, ERR_INVALID, "event",
                           "event (the event name to count) is required");
        }
    }
    if (mode == MODEL_LOAD) {
        json_t *c = json_object_get(doc, "created_at"), *u = json_object_get(doc, "updated_at");
        out->created_at = json_is_integer(c) ? json_integer_value(c) : 0;
        out->updated_at = json_is_integer(u) ? json_integer_value(u) : 0;
    }
    return 0;
}

int metric_from_json(const json_t *doc, enum model_mode mode, const struct metric *base,
                     struct metric *out, struct err *err)
{
    return read_metric(doc, mode, base, out, err);
}

json_t *metric_to_json(const struct metric *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "key", json_string(m->key));
    json_object_set_new(o, "name", json_string(m->name));
    json_object_set_new(o, "event", m->event[0] ? json_string(m->event) : json_null());
    json_object_set_new(o, "type", json_string(stats_metric_type_name(m->type)));
    if (m->type == STATS_METRIC_RATIO) {
        json_object_set_new(o, "numerator", json_string(m->numerator));
        json_object_set_new(o, "denominator", json_string(m->denominator));
    }
    json_object_set_new(o, "window_hours",
                        m->has_window ? json_integer(m->window_hours) : json_null());
    json_object_set_new(o, "goal", json_string(stats_goal_name(m->goal)));
    json_object_set_new(o, "cap", m->has_cap ? json_real(m->cap) : json_null());
    json_object_set_new(o, "cuped_lookback_hours", json_integer(m->cuped_lookback_hours));
    json_object_set_new(o, "description", json_string(m->description));
    json_object_set_new(
        o, "unit", m->unit != METRIC_UNIT_NONE ? json_string(unit_names[m->unit]) : json_null());
    json_object_set_new(o, "currency", m->currency[0] ? json_string(m->currency) : json_null());
    json_object_set_new(o, "created_at", json_integer(m->created_at));
    json_object_set_new(o, "updated_at", json_integer(m->updated_at));
    return o;
}
