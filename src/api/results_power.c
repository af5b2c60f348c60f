/*
 * results_power.c - sample-size planning (results.h results_power, STATS.md "Power") and
 * its HTTP handler (POST /power), and the results' "decision" block, the same planning from
 * the control arm's observed moments (results_decision_json). No store access.
 * Threads: the MHD workers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/log.h"
#include "bunsen/ddouble.h"
#include "bunsen/results.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"
#include "results_int.h"

/* ---- power ---- */

static int num_field(const json_t *req, const char *name, double def, double *out, struct err *err)
{
    const json_t *v = json_object_get(req, name);
    if (v == NULL || json_is_null(v)) {
        if (isnan(def)) {
            return err_set(err, ERR_INVALID, name, "%s is required", name);
        }
        *out = def;
        return 0;
    }
    return validate_number(v, name, -1e15, 1e15, out, err);
}

json_t *results_power(const json_t *req, struct err *err)
{
    static const char *const fields[] = {"metric_type", "baseline", "mde",      "relative",
                                         "alpha",       "power",    "variants", "daily_users",
                                         "stddev",      NULL};
    if (validate_known_fields(req, fields, "", err) != 0) {
        return NULL;
    }
    const json_t *type = json_object_get(req, "metric_type");
    bool binomial = json_is_string(type) && strcmp(json_string_value(type), "binomial") == 0;
    bool mean = json_is_string(type) && strcmp(json_string_value(type), "mean") == 0;
    if (!binomial && !mean) {
        return err_set(err, ERR_INVALID, "metric_type", "metric_type must be binomial or mean"),
               NULL;
    }
    const json_t *rel = json_object_get(req, "relative");
    if (rel != NULL && !json_is_boolean(rel)) {
        return err_set(err, ERR_INVALID, "relative", "relative must be true or false"), NULL;
    }
    double baseline, mde, alpha, power, variants, daily, sigma = 0;
    if (num_field(req, "baseline", NAN, &baseline, err) || num_field(req, "mde", NAN, &mde, err) ||
        num_field(req, "alpha", 0.05, &alpha, err) || num_field(req, "power", 0.8, &power, err) ||
        num_field(req, "variants", 2, &variants, err) ||
        num_field(req, "daily_users", 0, &daily, err) ||
        (mean && num_field(req, "stddev", NAN, &sigma, err))) {
        return NULL;
    }
    if (variants < 2 || variants > ASSIGN_MAX_VARIANTS || variants != floor(variants)) {
        return err_set(err, ERR_INVALID, "variants", "variants must be an integer in [2, 20]"),
               NULL;
    }
    if (daily < 0 || (daily > 0 && daily < 1) || !isfinite(daily)) {
        return err_set(err, ERR_INVALID, "daily_users",
                       "daily_users must be 0 (unknown) or a number of users >= 1"),
               NULL;
    }
    bool relative = json_is_true(rel);
    if (relative && baseline == 0) { /* the target would equal it: the baseline is at fault */
        return err_set(err, ERR_INVALID, "baseline",
                       "a relative mde needs a baseline other than 0 (or send an absolute mde)"),
               NULL;
    }
    double delta = relative ? baseline * mde : mde;
    int64_t n = 0;
    int rc = binomial ? stats_power_binomial(baseline, baseline + delta, alpha, power, &n, err)
                      : stats_power_mean(sigma, delta, alpha, power, &n, err);
    if (rc != 0) {
        return NULL;
    }
    if (n < 0 || n > INT64_MAX / (int64_t)variants) {
        return err_set(err, ERR_INVALID, "mde",
                       "the effect is too small to detect with any number of users"),
               NULL;
    }
    int64_t total = n * (int64_t)variants;
    json_t *o = json_pack("{s:I, s:I}", "users_per_variant", (json_int_t)n, "total_users",
                          (json_int_t)total);
    /* days as a double first: converting a value beyond int64 is undefined behaviour */
    double days = daily > 0 ? ceil((double)total / daily) : NAN;
    json_object_set_new(o, "days",
                        isfinite(days) && days <= 9007199254740992.0
                            ? json_integer((json_int_t)days)
                            : json_null());
    return o;
}

/* ---- HTTP ---- */

void api_power(struct http_req *r)
{
    json_t *body = http_req_json_body(r);
    if (body == NULL) {
        return;
    }
    struct err err;
    err_clear(&err);
    json_t *res = results_power(body, &err);
    json_decref(body);
    if (res == NULL) {
        http_reply_err(r, &err);
        return;
    }
    http_reply_json(r, 200, res);
}

/* ---- decision ---- */

#define DECISION_POWER 0.8

/* Whether every exposed user of every variant of x has the value 0 for m (and some user is
 * exposed): the sums and sums of squares of every arm are 0. */
static bool all_zero(const struct experiment *x, const struct metric *m, const struct arms *a)
{
    int64_t users = 0;
    for (size_t i = 0; i < x->nvariants; i++) {
        if (a->ratio) {
            users += a->rarm[i].n;
            if (a->num_sum[i] != 0 || a->den_sum[i] != 0) {
                return false;
            }
            continue;
        }
        struct stats_moments mo;
        struct err err;
        users += a->arm[i].n;
        if (a->arm[i].n > 0 &&
            (stats_arm_moments(m->type, &a->arm[i], &mo, &err) != 0 || !mo.mean.present ||
             mo.mean.value != 0 || (mo.variance.present && mo.variance.value != 0))) {
            return false;
        }
    }
    return users > 0;
}

/*
 * "decision" (API.md "Results, v1.1"): users needed per variant to detect the experiment's
 * relative mde at its alpha and power 0.8, from the control arm's observed mean and
 * variance (binomial: power.prop.test; others: the t-test, STATS.md "Power"; under
 * method=sequential the confidence sequence's plan, stats_power_sequential, from the same
 * moments), how far the smallest variant is, and days left at each variant's observed
 * exposure rate over the time it ran, pauses left out (null before one full day, while
 * paused, or when stopped).
 */
json_t *results_decision_json(const struct experiment *x, const struct metric *m,
                              const struct arms *a, const int64_t *users, enum stats_method method)
{
    bool seq = method == STATS_METHOD_SEQUENTIAL;
    char warning[STATS_WARNING_MAX] = "";
    struct stats_moments mo;
    struct err err;
    int64_t need = 0;
    bool have_need = false;
    int mrc = a->ratio ? stats_ratio_moments(&a->rarm[0], &mo, &err)
                       : stats_arm_moments(m->type, &a->arm[0], &mo, &err);
    if (mrc != 0 || !mo.mean.present || !mo.variance.present) {
        stats_warning_add(warning, "the control has too few users to estimate the variance");
    } else if (mo.mean.value == 0 && all_zero(x, m, a)) {
        /* thousands of users and not one event: waiting will not help (review dash36 F8) */
        char why[STATS_WARNING_MAX];
        if (a->ratio) {
            snprintf(why, sizeof(why),
                     "every exposed user's value is 0 in every variant: no event of the ratio's "
                     "parts (%s, %s) counted yet; check that the application sends them",
                     m->numerator, m->denominator);
        } else {
            snprintf(why, sizeof(why),
                     "every exposed user's value is 0 in every variant: no \"%s\" event counted "
                     "yet; check that the application sends it",
                     m->event);
        }
        stats_warning_add(warning, why);
    } else if (mo.mean.value == 0) {
        stats_warning_add(warning, "control mean is 0: a relative effect is undefined");
    } else if (m->type == STATS_METRIC_BINOMIAL) {
        /* the target in the metric's direction: the binomial sample size is not symmetric */
        double mde = m->goal == STATS_GOAL_DECREASE ? -x->mde : x->mde;
        double p1 = mo.mean.value, p2 = p1 * (1.0 + mde);
        if (!(p2 <= 1)) {
            stats_warning_add(warning, "the target rate is above 1");
        } else if (!(p2 >= 0)) {
            stats_warning_add(warning, "the target rate is below 0");
        } else if (seq) {
            have_need =
                stats_power_sequential(p1 * (1 - p1) + p2 * (1 - p2), p2 - p1, x->analysis.alpha,
                                       x->sequential_tuning, DECISION_POWER, &need, &err) == 0;
        } else {
            have_need =
                stats_power_binomial(p1, p2, x->analysis.alpha, DECISION_POWER, &need, &err) == 0;
        }
    } else if (!(mo.stddev.value > 0)) {
        stats_warning_add(warning, "the control's values do not vary: no variance to plan with");
    } else if (seq) {
        have_need = stats_power_sequential(2 * mo.stddev.value * mo.stddev.value,
                                           x->mde * fabs(mo.mean.value), x->analysis.alpha,
                                           x->sequential_tuning, DECISION_POWER, &need, &err) == 0;
    } else {
        have_need = stats_power_mean(mo.stddev.value, x->mde * fabs(mo.mean.value),
                                     x->analysis.alpha, DECISION_POWER, &need, &err) == 0;
    }
    if (!have_need && warning[0] == '\0') {
        stats_warning_add(warning, err.msg);
    }
    /* the variants that receive users: one of weight 0 stays empty by design and held
     * progress at 0 and days_left unknown for as long as the experiment ran */
    int64_t total = 0, least = -1;
    for (size_t i = 0; i < x->nvariants; i++) {
        total += users[i];
        if (x->variants[i].weight > 0) {
            least = least < 0 || users[i] < least ? users[i] : least;
        }
    }
    least = least < 0 ? 0 : least;
    json_t *d =
        json_pack("{s:s, s:f, s:b, s:f, s:s, s:f, s:o, s:I, s:I}", "metric", m->key, "mde", x->mde,
                  "mde_relative", 1, "alpha", x->analysis.alpha, "planned_for",
                  seq ? "sequential" : "fixed_sample", "power", DECISION_POWER,
                  "users_needed_per_variant", have_need ? json_integer(need) : json_null(),
                  "users_so_far", (json_int_t)total, "users_smallest_variant", (json_int_t)least);
    /* the time it ran: no users arrive while paused, so a pause would lower the rate */
    double elapsed_days = (double)experiment_running_ms(x, time_now_ms()) / (double)DAY_MS;
    json_object_set_new(d, "progress",
                        have_need ? json_real(fmin(1.0, (double)least / (double)need))
                                  : json_null());
    /* whole days, as the dashboard's "Days running": the reply stays the same all day */
    json_object_set_new(d, "days_running", json_integer((json_int_t)floor(elapsed_days)));
    json_object_set_new(d, "users_per_day",
                        elapsed_days >= 1 ? json_real((double)total / elapsed_days) : json_null());
    json_t *left = json_null();
    bool paused = x->status == ASSIGN_STATUS_PAUSED;
    if (have_need && elapsed_days >= 1 && x->stopped_at == 0 && !paused) {
        double worst = 0;
        bool known = true;
        for (size_t i = 0; i < x->nvariants && known; i++) {
            if (!(x->variants[i].weight > 0)) {
                continue;
            }
            double rate = (double)users[i] / elapsed_days;
            double missing = (double)(need - users[i]);
            if (missing <= 0) {
                continue;
            }
            known = rate > 0;
            worst = known ? fmax(worst, missing / rate) : worst;
        }
        if (known) {
            json_decref(left);
            left = json_integer((json_int_t)ceil(worst));
        } else {
            stats_warning_add(warning, "a variant has no exposures yet: no rate to project");
        }
    } else if (have_need && x->stopped_at > 0) {
        stats_warning_add(warning, "the experiment is stopped");
    } else if (have_need && paused) {
        /* no users arrive while paused: a rate from before would promise a date */
        stats_warning_add(warning, "the experiment is paused: no projection until it resumes");
    } else if (have_need) {
        stats_warning_add(warning, "days_left needs the experiment to have run one full day");
    }
    json_object_set_new(d, "days_left", left);
    if (warning[0] != '\0') {
        json_object_set_new(d, "warning", json_string(warning));
    }
    return d;
}
