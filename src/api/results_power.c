/*
 * results_power.c - sample-size planning (results.h results_power, STATS.md "Power") and
 * its HTTP handler (POST /power). Pure but for the reply: no store access.
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
