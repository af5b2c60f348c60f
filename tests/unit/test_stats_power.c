/*
 * Unit tests for the stats engine's sample sizes (src/stats/power.c) and small alphas: the
 * least n reaching a power where the normal answer is far off, alphas down to 1e-310 (GSL's
 * quantiles infinite), POST /power's body at the extremes of every parameter (results_power),
 * the intervals' quantiles at a tiny alpha, and the sequential plan (stats_power_sequential).
 * The reference-fixture sample sizes are in
 * test_stats.c.
 */
#include "unit.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <jansson.h>

#include "bunsen/err.h"
#include "bunsen/results.h"
#include "bunsen/stats.h"

/* The power of the two-sample t-test with n users per arm (power.c t_power). */
static double t_power_at(double n, double effect, double alpha)
{
    double df = 2.0 * (n - 1.0), out = 0;
    assert_int_equal(
        stats_nct_sf(gsl_cdf_tdist_Qinv(alpha / 2.0, df), df, sqrt(n / 2.0) * effect, &out), 0);
    return out;
}

/* stats_power_mean answers the least n reaching the power, also where the normal answer is
 * far off (a target below alpha / 2: a walk down from it once took minutes for one request,
 * days with a smaller effect). */
static void test_power_mean_least_n(void **state)
{
    (void)state;
    static const struct {
        double effect, alpha, power;
    } cases[] = {{1e-6, 0.999, 0.001}, {1e-7, 0.999, 0.001}, {0.01, 0.05, 0.06},
                 {0.3, 0.05, 0.8},     {0.001, 0.5, 0.2},    {2.5, 0.01, 0.99}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t n = 0;
        struct err err;
        assert_int_equal(
            stats_power_mean(1.0, cases[i].effect, cases[i].alpha, cases[i].power, &n, &err), 0);
        assert_true(n >= 2);
        assert_true(t_power_at((double)n, cases[i].effect, cases[i].alpha) >= cases[i].power);
        if (n > 2) {
            assert_true(t_power_at((double)n - 1, cases[i].effect, cases[i].alpha) <
                        cases[i].power);
        }
    }
}

/* A small alpha: the quantiles are taken of alpha/2's upper tail (Qinv), not of 1 - alpha/2,
 * which rounds (intervals off by 2e-5 relative at alpha 1e-13) and is 1 below alpha ~1e-16
 * (an infinite quantile: intervals null, power "not computable"). References: scipy 1.10
 * norm.isf(5e-18) = 8.573944076720883; R power.prop.test's formula and power.t.test's least n
 * (scipy nct) at alpha 1e-15 and 1e-17. */
static void test_small_alpha(void **state)
{
    (void)state;
    struct stats_config cfg;
    stats_config_default(&cfg);
    cfg.method = STATS_METHOD_BAYESIAN;
    cfg.alpha = 1e-17;
    struct stats_arm a = {.n = 28, .s = 14, .q = 14};
    struct stats_arm b = {.n = 30, .s = 16, .q = 16};
    struct stats_comparison r;
    struct err err;
    assert_int_equal(stats_compare(&cfg, &a, &b, &r, &err), 0);
    assert_true(r.absolute.ci_hi.present && r.absolute.se.present);
    double z = (r.absolute.ci_hi.value - r.absolute.estimate.value) / r.absolute.se.value;
    assert_true(fabs(z - 8.573944076720883) < 1e-9);
    int64_t n = 0;
    assert_int_equal(stats_power_binomial(0.10, 0.11, 1e-15, 0.8, &n, &err), 0);
    assert_int_equal(n, 147819);
    assert_int_equal(stats_power_mean(1.0, 0.5, 1e-17, 0.8, &n, &err), 0);
    assert_int_equal(n, 728);
}

/* An alpha so small that GSL's t quantile is inf at small n (df 4 at 5e-301: 1.565e75, GSL
 * answers inf; POST /power answered 500 "power computation failed"). The least n as R's
 * power.t.test's, from mpmath 1.2 at 40 digits (the t tail by the incomplete beta, the
 * noncentral t by quadrature; scipy 1.10 gives the same n, but its t.isf is off at these
 * tails: 9697 for 9750 at df 100): effect 2000 -> 52 (power 0.7091 at 51, 0.9956 at 52),
 * effect 1 -> 3206 (0.79905, 0.80089), effect 0.5 -> 11837, alpha 1e-10 effect 1 -> 118,
 * alpha 1e-310 effect 1e10 -> 17 (2.3e-13 at 16, 0.857 at 17), effect 5.3e19 -> 9 (1.7e-35
 * at 8, 0.964 at 9: GSL's quantile is inf at df 16, the power there is not 0). Effects beyond
 * the doubles' squares: stddev 1e-300 (effect inf) and 1e210 need the least sample, 1e-315
 * overflows the users (it was "not computable", a 400 with no field). */
static void test_power_tiny_alpha(void **state)
{
    (void)state;
    static const struct {
        double sigma, delta, alpha;
        int64_t n;
    } cases[] = {
        {0.1, 200, 1e-300, 52}, {1, 1, 1e-300, 3206},      {1, 0.5, 1e-300, 11837},
        {1, 1, 1e-10, 118},     {1e-300, 1e15, 0.05, 2},   {1e-200, 1e10, 1e-300, 2},
        {1, 1e10, 1e-310, 17},  {1e-5, 5.3e14, 1e-310, 9},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t n = 0;
        struct err err;
        err_clear(&err);
        if (stats_power_mean(cases[i].sigma, cases[i].delta, cases[i].alpha, 0.8, &n, &err) != 0) {
            fail_msg("sigma %g delta %g alpha %g: %s", cases[i].sigma, cases[i].delta,
                     cases[i].alpha, err.msg);
        }
        if (n != cases[i].n) {
            fail_msg("sigma %g delta %g alpha %g: n %lld, want %lld", cases[i].sigma,
                     cases[i].delta, cases[i].alpha, (long long)n, (long long)cases[i].n);
        }
    }
    int64_t n = 0;
    struct err err;
    assert_int_equal(stats_power_mean(1e15, 1e-300, 0.05, 0.8, &n, &err), -1);
    assert_int_equal(err.code, ERR_INVALID);
    assert_string_equal(err.field, "mde");
}

/* POST /power's body at the extremes of every parameter (results_power, the handler's whole
 * computation): each answer is a 4xx-class error naming a field or a finite positive number
 * of users, never an internal error (the 500 of alpha 1e-300). */
static void test_power_extremes(void **state)
{
    (void)state;
    static const double alphas[] = {1e-300, 1e-10, 0.05, 0.5, 0.999999, 0, 1};
    static const double powers[] = {1e-300, 1e-6, 0.5, 0.8, 0.999999, 0.9999999999999999, 1};
    static const double sds[] = {1e-300, 1e-10, 1, 1e10, 1e15};
    static const double mdes[] = {1e-300, 1e-10, 0.01, -0.05, 1, 1e10, 1e15, -1e15};
    static const double baselines[] = {1e-300, 1e-10, 0.1, 0.5, 0.999999, 1e15};
    const size_t nsd = sizeof(sds) / sizeof(sds[0]), nb = sizeof(baselines) / sizeof(baselines[0]);
    /* the bodies' shapes: a mean per stddev (absolute mde), then per baseline a mean with a
     * relative mde (stddev 1) and a binomial with an absolute and with a relative one */
    struct shape {
        bool mean, relative;
        double baseline, sd;
    } shapes[sizeof(sds) / sizeof(sds[0]) + 3 * sizeof(baselines) / sizeof(baselines[0])];
    size_t nshapes = 0;
    for (size_t i = 0; i < nsd; i++) {
        shapes[nshapes++] = (struct shape){true, false, 1.0, sds[i]};
    }
    for (size_t i = 0; i < nb; i++) {
        shapes[nshapes++] = (struct shape){true, true, baselines[i], 1.0};
        shapes[nshapes++] = (struct shape){false, false, baselines[i], 0};
        shapes[nshapes++] = (struct shape){false, true, baselines[i], 0};
    }
    int answered = 0, refused = 0, least = 0;
    for (size_t a = 0; a < sizeof(alphas) / sizeof(alphas[0]); a++) {
        for (size_t p = 0; p < sizeof(powers) / sizeof(powers[0]); p++) {
            for (size_t m = 0; m < sizeof(mdes) / sizeof(mdes[0]); m++) {
                for (size_t k = 0; k < nshapes; k++) {
                    const struct shape *sh = &shapes[k];
                    json_t *req =
                        json_pack("{s:s, s:f, s:f, s:b, s:f, s:f, s:f, s:i}", "metric_type",
                                  sh->mean ? "mean" : "binomial", "baseline", sh->baseline, "mde",
                                  mdes[m], "relative", sh->relative, "alpha", alphas[a], "power",
                                  powers[p], "daily_users", 1000.0, "variants", 3);
                    if (sh->mean) {
                        json_object_set_new(req, "stddev", json_real(sh->sd));
                    }
                    struct err err;
                    err_clear(&err);
                    json_t *res = results_power(req, &err);
                    char *body = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(17));
                    if (getenv("POWER_EXTREMES_LOG") != NULL) {
                        print_message("# %s -> %s %s\n", body, res ? "ok" : err.field,
                                      res ? "" : err.msg);
                    }
                    if (res == NULL) {
                        if (err.code != ERR_INVALID || err.field[0] == '\0') {
                            fail_msg("%s: error %d (field \"%s\") %s", body, (int)err.code,
                                     err.field, err.msg);
                        }
                        refused++;
                    } else {
                        const json_t *nj = json_object_get(res, "users_per_variant");
                        json_int_t n = json_integer_value(nj);
                        json_int_t t = json_integer_value(json_object_get(res, "total_users"));
                        if (!json_is_integer(nj) || n < 1 || t != 3 * n) {
                            fail_msg("%s: users_per_variant %lld total %lld", body, (long long)n,
                                     (long long)t);
                        }
                        answered++;
                        double eff = fabs(sh->relative ? sh->baseline * mdes[m] : mdes[m]) / sh->sd;
                        /* a target at or below alpha / 2 is the least sample's by theory
                         * (the level-alpha test has it at any n); stats_nct_sf's far tail
                         * (1e-11 beyond t 1e5 at df 2) reads 0 */
                        bool by_theory = gsl_cdf_ugaussian_Qinv(alphas[a] / 2.0) +
                                             gsl_cdf_ugaussian_Pinv(powers[p]) <=
                                         0;
                        if (sh->mean && !by_theory && n < 1000000 && alphas[a] >= 1e-10 &&
                            isfinite(eff)) {
                            /* the least n reaching the power (R's power.t.test) */
                            if (!(t_power_at((double)n, eff, alphas[a]) >= powers[p]) ||
                                (n > 2 &&
                                 !(t_power_at((double)n - 1, eff, alphas[a]) < powers[p]))) {
                                fail_msg("%s: %lld users is not the least n", body, (long long)n);
                            }
                            least++;
                        }
                    }
                    free(body);
                    json_decref(res);
                    json_decref(req);
                }
            }
        }
    }
    print_message("# power extremes: %d answered (%d checked the least), %d refused (4xx)\n",
                  answered, least, refused);
    assert_true(answered > 0 && refused > 0 && least > 0);
}

/* stats_power_sequential: users per variant for the confidence sequence of
 * method=sequential (the results' decision under it). References from an independent
 * Python/scipy implementation of the same definition (power = Phi((|d| - hw)/se) +
 * Phi((-|d| - hw)/se) at 2n users, the least n reaching 0.8, checked minimal there); more
 * users than the fixed-sample plans; errors by field. */
static void test_power_sequential(void **state)
{
    (void)state;
    static const struct {
        double var_sum, delta, alpha, tuning;
        int64_t n;
    } cases[] = {
        {0.10 * 0.90 + 0.105 * 0.895, 0.005, 0.05, 5000, 137336}, /* 10% -> 10.5% */
        {2.0, 0.1, 0.05, 5000, 3009},                             /* sigma 1 */
        {2.0 * 2.5 * 2.5, -0.3, 0.1, 20000, 2138},                /* a decrease */
        {0.3 * 0.7 + 0.27 * 0.73, -0.03, 0.01, 1000, 9894},
        {2.0, 5.0, 0.05, 5000, 14},
    };
    struct err err;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t n = 0;
        err_clear(&err);
        assert_int_equal(stats_power_sequential(cases[i].var_sum, cases[i].delta, cases[i].alpha,
                                                cases[i].tuning, 0.8, &n, &err),
                         0);
        if (n != cases[i].n) {
            fail_msg("case %zu: %lld users, expected %lld", i, (long long)n, (long long)cases[i].n);
        }
    }
    /* the sequence is wider than the fixed test's interval: it needs more users */
    int64_t fixed = 0, seq = 0;
    assert_int_equal(stats_power_binomial(0.10, 0.105, 0.05, 0.8, &fixed, &err), 0);
    assert_int_equal(
        stats_power_sequential(0.10 * 0.90 + 0.105 * 0.895, 0.005, 0.05, 5000, 0.8, &seq, &err), 0);
    assert_true(seq > fixed);
    assert_int_equal(stats_power_mean(1.0, 0.1, 0.05, 0.8, &fixed, &err), 0);
    assert_int_equal(stats_power_sequential(2.0, 0.1, 0.05, 5000, 0.8, &seq, &err), 0);
    assert_true(seq > fixed);
    /* bad input: an error naming the field, never a guess */
    static const struct {
        double var_sum, delta, alpha, tuning, power;
        const char *field;
    } bad[] = {
        {0, 0.1, 0.05, 5000, 0.8, "stddev"}, {NAN, 0.1, 0.05, 5000, 0.8, "stddev"},
        {2, 0, 0.05, 5000, 0.8, "mde"},      {2, INFINITY, 0.05, 5000, 0.8, "mde"},
        {2, 0.1, 0, 5000, 0.8, "alpha"},     {2, 0.1, 0.05, 0, 0.8, "sequential_tuning"},
        {2, 0.1, 0.05, 5000, 1, "power"},    {2, 1e-300, 0.05, 5000, 0.8, "mde"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t n = -7;
        err_clear(&err);
        assert_int_equal(stats_power_sequential(bad[i].var_sum, bad[i].delta, bad[i].alpha,
                                                bad[i].tuning, bad[i].power, &n, &err),
                         -1);
        assert_string_equal(err.field, bad[i].field);
        assert_int_equal(n, -7);
    }
}

int main(void)
{
    gsl_set_error_handler_off();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_mean_least_n), cmocka_unit_test(test_power_tiny_alpha),
        cmocka_unit_test(test_power_extremes),     cmocka_unit_test(test_small_alpha),
        cmocka_unit_test(test_power_sequential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
