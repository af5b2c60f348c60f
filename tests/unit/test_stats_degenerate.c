/*
 * Unit tests for the stats engine (src/stats/) on degenerate and invalid inputs: arms of 0 or
 * 1 user, constant values, SRM and p-value corrections at their edges, input refused with
 * ERR_INVALID, random and extreme inputs that must never produce NaN or Infinity, and the
 * names and warnings helpers.
 */
#include "unit.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#include "bunsen/err.h"
#include "bunsen/stats.h"

#include "stats_fixture.h"

static void test_degenerate_small_arms(void **state)
{
    (void)state;
    struct stats_config cfg;
    stats_config_default(&cfg);
    struct stats_comparison r;
    struct err err;
    for (int m = 0; m <= 2; m++) {
        cfg.method = (enum stats_method)m;
        /* one user in the treatment: estimates only */
        struct stats_arm a = {.n = 100, .s = 10, .q = 10};
        struct stats_arm b = {.n = 1, .s = 1, .q = 1};
        assert_int_equal(stats_compare(&cfg, &a, &b, &r, &err), 0);
        assert_all_finite(&r);
        assert_true(r.absolute.estimate.present);
        assert_true(fabs(r.absolute.estimate.value - 0.9) < 1e-12);
        assert_true(r.relative.estimate.present);
        assert_false(r.absolute.se.present || r.absolute.ci_lo.present ||
                     r.absolute.p_value.present || r.relative.se.present || r.df.present ||
                     r.z.present || r.chance_to_beat_control.present);
        assert_non_null(strstr(r.warning, "fewer than 2"));
        /* no users at all */
        struct stats_arm z = {0};
        assert_int_equal(stats_compare(&cfg, &z, &b, &r, &err), 0);
        assert_all_finite(&r);
        assert_false(r.absolute.estimate.present || r.relative.estimate.present);
        assert_non_null(strstr(r.warning, "no users"));
    }
    /* count metric with n = 1: the mean exists, the variance does not */
    struct stats_arm one = {.n = 1, .s = 3, .q = 9};
    struct stats_moments mo;
    assert_int_equal(stats_arm_moments(STATS_METRIC_COUNT, &one, &mo, &err), 0);
    assert_true(mo.mean.present && !mo.variance.present && !mo.stddev.present);
    struct stats_arm none = {0};
    assert_int_equal(stats_arm_moments(STATS_METRIC_SUM, &none, &mo, &err), 0);
    assert_false(mo.mean.present);
}

static void test_degenerate_constant_values(void **state)
{
    (void)state;
    /* every user has the same value: SE 0, no interval, no p, warnings, no NaN */
    struct stats_config cfg;
    stats_config_default(&cfg);
    cfg.type = STATS_METRIC_SUM;
    struct stats_arm a = {.n = 50, .s = 100, .q = 200};
    struct stats_arm b = {.n = 60, .s = 180, .q = 540};
    struct stats_comparison r;
    struct err err;
    for (int m = 0; m <= 2; m++) {
        cfg.method = (enum stats_method)m;
        cfg.cuped = m == 1;
        assert_int_equal(stats_compare(&cfg, &a, &b, &r, &err), 0);
        assert_all_finite(&r);
        assert_true(r.absolute.estimate.present && fabs(r.absolute.estimate.value - 1.0) < 1e-12);
        assert_true(r.absolute.se.present && r.absolute.se.value == 0);
        assert_false(r.absolute.ci_lo.present || r.absolute.p_value.present);
        assert_false(r.relative.ci_lo.present || r.relative.p_value.present);
        assert_false(r.chance_to_beat_control.present);
        assert_non_null(strstr(r.warning, "zero standard error"));
    }
}

static void test_invalid_input(void **state)
{
    (void)state;
    struct stats_config cfg;
    stats_config_default(&cfg);
    struct stats_arm a = {.n = 10, .s = 3, .q = 3};
    struct stats_arm b = {.n = 10, .s = 11, .q = 11}; /* more conversions than users */
    struct stats_comparison r;
    struct err err;
    assert_int_equal(stats_compare(&cfg, &a, &b, &r, &err), -1);
    assert_int_equal(err.code, ERR_INVALID);
    b.s = 2.5;
    assert_int_equal(stats_compare(&cfg, &a, &b, &r, &err), -1);
    b.s = 4;
    b.n = -1;
    assert_int_equal(stats_compare(&cfg, &a, &b, &r, &err), -1);
    b.n = 10;
    b.q = NAN;
    assert_int_equal(stats_compare(&cfg, &a, &b, &r, &err), -1);
    b.q = 4;
    cfg.alpha = 0;
    assert_int_equal(stats_compare(&cfg, &a, &b, &r, &err), -1);
    assert_string_equal(err.field, "alpha");
    cfg.alpha = 0.05;
    cfg.sequential_tuning = 0;
    assert_int_equal(stats_compare(&cfg, &a, &b, &r, &err), -1);
    cfg.sequential_tuning = 5000;
    assert_int_equal(stats_compare(&cfg, &a, &b, &r, &err), 0);

    int64_t o[2] = {10, -1};
    double w[2] = {0.5, 0.5};
    struct stats_srm s;
    assert_int_equal(stats_srm_test(o, w, 2, &s, &err), -1);
    o[1] = 10;
    w[0] = -1;
    assert_int_equal(stats_srm_test(o, w, 2, &s, &err), -1);
    w[0] = 0;
    w[1] = 0;
    assert_int_equal(stats_srm_test(o, w, 2, &s, &err), -1);
    assert_int_equal(stats_srm_test(o, w, 0, &s, &err), -1);

    struct stats_opt p[2] = {stats_opt_of(0.5), stats_opt_of(1.5)};
    assert_int_equal(stats_adjust_pvalues(STATS_CORRECTION_HOLM, p, p, 2, &err), -1);
    assert_int_equal(stats_adjust_pvalues((enum stats_correction)7, p, p, 2, &err), -1);
}

static void test_srm_degenerate(void **state)
{
    (void)state;
    struct err err;
    struct stats_srm s;
    int64_t zero[2] = {0, 0};
    double w[3] = {0.5, 0.5, 0};
    assert_int_equal(stats_srm_test(zero, w, 2, &s, &err), 0);
    assert_false(s.p_value.present || s.mismatch);
    assert_true(s.warning[0] != '\0');
    int64_t o3[3] = {100, 100, 5}; /* users in a variant with weight 0 */
    assert_int_equal(stats_srm_test(o3, w, 3, &s, &err), 0);
    assert_true(s.p_value.present && s.p_value.value == 0 && s.mismatch);
    int64_t o1[1] = {100};
    assert_int_equal(stats_srm_test(o1, w, 1, &s, &err), 0);
    assert_false(s.p_value.present || s.mismatch);
    /* an empty variant of weight 0 is no cell: df 1, as scipy's chisquare([1000, 1180],
     * [1090, 1090]) (p 1.1564619596171556e-4; with df 2 it was 5.9e-4) */
    int64_t o2[3] = {1000, 1180, 0};
    assert_int_equal(stats_srm_test(o2, w, 3, &s, &err), 0);
    assert_int_equal(s.df, 1);
    assert_true(s.p_value.present && s.mismatch);
    assert_true(fabs(s.p_value.value - 1.1564619596171556e-4) < 1e-6 * 1.1564619596171556e-4);
    assert_true(fabs(s.chi2.value - 14.862385321100918) < 1e-9);
    double w1[3] = {1, 0, 0}; /* one variant of weight > 0: nothing to test */
    int64_t o4[3] = {50, 0, 0};
    assert_int_equal(stats_srm_test(o4, w1, 3, &s, &err), 0);
    assert_false(s.p_value.present || s.mismatch);
}

static void test_corrections_edges(void **state)
{
    (void)state;
    struct err err;
    struct stats_opt p[3] = {stats_opt_none(), stats_opt_none(), stats_opt_none()};
    struct stats_opt adj[3];
    assert_int_equal(stats_adjust_pvalues(STATS_CORRECTION_BH, p, adj, 3, &err), 0);
    assert_false(adj[0].present || adj[1].present || adj[2].present);
    assert_int_equal(stats_adjust_pvalues(STATS_CORRECTION_HOLM, p, adj, 0, &err), 0);
    /* one p-value: unchanged; ties stay tied */
    struct stats_opt q[3] = {stats_opt_of(0.01), stats_opt_of(0.01), stats_opt_none()};
    assert_int_equal(stats_adjust_pvalues(STATS_CORRECTION_HOLM, q, adj, 3, &err), 0);
    assert_true(adj[0].value == 0.02 && adj[1].value == 0.02 && !adj[2].present);
    assert_int_equal(stats_adjust_pvalues(STATS_CORRECTION_BH, q, adj, 1, &err), 0);
    assert_true(adj[0].value == 0.01);
}

/* Random and extreme inputs across every method and option: never NaN or Infinity,
 * every absent test field explained by a warning. */
static void test_no_nan_fuzz(void **state)
{
    (void)state;
    unsigned seed = 12345;
    struct err err;
    for (int it = 0; it < 3000; it++) {
        struct stats_config cfg;
        stats_config_default(&cfg);
        cfg.type = (enum stats_metric_type)(rand_r(&seed) % 3);
        cfg.method = (enum stats_method)(rand_r(&seed) % 3);
        cfg.goal = (enum stats_goal)(rand_r(&seed) % 2);
        cfg.cuped = rand_r(&seed) % 2;
        struct stats_arm arms[2];
        for (int k = 0; k < 2; k++) {
            static const int64_t ns[] = {0, 1, 2, 3, 10, 1000, 5000000};
            int64_t n = ns[rand_r(&seed) % 7];
            struct stats_arm *a = &arms[k];
            memset(a, 0, sizeof(*a));
            a->n = n;
            int shape = rand_r(&seed) % 4;
            double frac = shape == 0 ? 0 : (shape == 1 ? 1 : (rand_r(&seed) % 1000) / 1000.0);
            if (cfg.type == STATS_METRIC_BINOMIAL) {
                a->s = floor(frac * (double)n);
                a->q = a->s;
            } else {
                double mean = shape == 0 ? 0 : frac * 50 - (shape == 3 ? 25 : 0);
                double var = shape == 1 ? 0 : frac * 100;
                a->s = mean * (double)n;
                a->q = (var + mean * mean) * (double)n;
            }
            if (rand_r(&seed) % 2) {
                a->sx = a->s * 0.5;
                a->qx = a->q * 0.3 + a->sx;
                a->p = a->s * 0.2;
            }
        }
        struct stats_comparison r;
        assert_int_equal(stats_compare(&cfg, &arms[0], &arms[1], &r, &err), 0);
        assert_all_finite(&r);
        bool missing = !r.absolute.ci_lo.present || !r.relative.ci_lo.present ||
                       (cfg.method != STATS_METHOD_BAYESIAN &&
                        (!r.absolute.p_value.present || !r.relative.p_value.present)) ||
                       (cfg.method == STATS_METHOD_BAYESIAN && !r.chance_to_beat_control.present);
        if (missing) {
            assert_true(r.warning[0] != '\0');
        }
        if (r.chance_to_beat_control.present) {
            assert_true(r.chance_to_beat_control.value >= 0 && r.chance_to_beat_control.value <= 1);
            assert_true(r.expected_loss.present && r.expected_loss.value >= 0);
        }
    }
}

static void test_names_and_warnings(void **state)
{
    (void)state;
    enum stats_method m;
    enum stats_metric_type t;
    enum stats_goal g;
    enum stats_correction c;
    assert_int_equal(stats_method_parse("sequential", &m), 0);
    assert_int_equal(m, STATS_METHOD_SEQUENTIAL);
    assert_string_equal(stats_method_name(m), "sequential");
    assert_int_equal(stats_method_parse("Bayesian", &m), -1);
    assert_int_equal(stats_method_parse(NULL, &m), -1);
    assert_int_equal(stats_metric_type_parse("sum", &t), 0);
    assert_string_equal(stats_metric_type_name(t), "sum");
    assert_int_equal(stats_goal_parse("decrease", &g), 0);
    assert_string_equal(stats_goal_name(g), "decrease");
    assert_int_equal(stats_correction_parse("bh", &c), 0);
    assert_string_equal(stats_correction_name(c), "bh");
    assert_string_equal(stats_correction_name((enum stats_correction)9), "unknown");

    char w[STATS_WARNING_MAX] = "";
    stats_warning_add(w, "first");
    stats_warning_add(w, "second");
    stats_warning_add(w, "first");
    assert_string_equal(w, "first; second");
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    stats_warning_add(w, big);
    assert_int_equal(strlen(w), STATS_WARNING_MAX - 1);

    struct stats_opt o = stats_opt_of(INFINITY);
    assert_false(o.present);
    o = stats_opt_of(NAN);
    assert_false(o.present);
    o = stats_opt_of(-0.5);
    assert_true(o.present && o.value == -0.5);
}
int main(void)
{
    gsl_set_error_handler_off();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_degenerate_small_arms),
        cmocka_unit_test(test_degenerate_constant_values),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_srm_degenerate),
        cmocka_unit_test(test_corrections_edges),
        cmocka_unit_test(test_no_nan_fuzz),
        cmocka_unit_test(test_names_and_warnings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
