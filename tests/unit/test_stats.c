/*
 * Unit tests for the stats engine (src/stats/) against reference values: the comparisons,
 * ratio metrics, SRM tests, p-value corrections and sample sizes computed by
 * tests/fixtures/gen_stats.py with scipy/statsmodels (tests/fixtures/stats_reference.json,
 * read relative to the repository root), R's noncentral t, and a published GrowthBook value.
 * The rest of the engine's tests: test_stats_power.c (sample sizes at every extreme),
 * test_stats_numerics.c (cancellation, exact sums at large counts, intervals, CUPED),
 * test_stats_degenerate.c (degenerate and invalid inputs); shared helpers stats_fixture.{c,h}.
 */
#include "unit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <jansson.h>

#include "bunsen/err.h"
#include "bunsen/stats.h"

#include "stats_fixture.h"

#define FIXTURE "tests/fixtures/stats_reference.json"

/* STATS.md tolerances: closed forms 1e-6 relative + 1e-9 absolute, integrals 1e-6. */
#define TOL_REL      1e-6
#define TOL_ABS      1e-9
#define TOL_INTEGRAL 1e-6

static json_t *fixture;
static int checks;          /* individual quantities compared against the fixture */
static double worst_closed; /* largest |got - want| / (abs + rel |want|) on closed forms */

/* Compare one optional against a JSON number or null; print and count a mismatch. */
static int check_opt(const char *cs, const char *key, struct stats_opt got, json_t *want,
                     double rel, double abs_tol)
{
    checks++;
    if (want == NULL || json_is_null(want)) {
        if (got.present) {
            print_message("%s: %s = %.17g, expected null\n", cs, key, got.value);
            return 1;
        }
        return 0;
    }
    double w = json_number_value(want);
    if (!got.present) {
        print_message("%s: %s is null, expected %.17g\n", cs, key, w);
        return 1;
    }
    if (rel > 0) {
        worst_closed = fmax(worst_closed, fabs(got.value - w) / (abs_tol + rel * fabs(w)));
    }
    if (!isfinite(got.value) || !near(got.value, w, rel, abs_tol)) {
        print_message("%s: %s = %.17g, expected %.17g\n", cs, key, got.value, w);
        return 1;
    }
    return 0;
}

static void arm_from_json(json_t *j, struct stats_arm *a)
{
    memset(a, 0, sizeof(*a));
    a->shift_y = json_number_value(json_object_get(j, "shift_y"));
    a->shift_x = json_number_value(json_object_get(j, "shift_x"));
    a->n = (int64_t)json_integer_value(json_object_get(j, "n"));
    a->s = json_number_value(json_object_get(j, "s"));
    a->q = json_number_value(json_object_get(j, "q"));
    a->sx = json_number_value(json_object_get(j, "sx"));
    a->qx = json_number_value(json_object_get(j, "qx"));
    a->p = json_number_value(json_object_get(j, "p"));
}

static int setup(void **state)
{
    (void)state;
    json_error_t jerr;
    fixture = json_load_file(FIXTURE, 0, &jerr);
    if (fixture == NULL) {
        print_error("cannot load %s (run from the repository root): %s line %d\n", FIXTURE,
                    jerr.text, jerr.line);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(fixture);
    fixture = NULL;
    return 0;
}

static void test_fixture_comparisons(void **state)
{
    (void)state;
    json_t *cases = json_object_get(fixture, "comparisons");
    assert_true(json_array_size(cases) >= 30);
    int bad = 0;
    int tiny_losses = 0;
    double worst_integral = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        struct stats_config cfg;
        stats_config_default(&cfg);
        assert_int_equal(
            stats_metric_type_parse(json_string_value(json_object_get(c, "type")), &cfg.type), 0);
        assert_int_equal(stats_goal_parse(json_string_value(json_object_get(c, "goal")), &cfg.goal),
                         0);
        assert_int_equal(
            stats_method_parse(json_string_value(json_object_get(c, "method")), &cfg.method), 0);
        cfg.alpha = json_number_value(json_object_get(c, "alpha"));
        cfg.cuped = json_is_true(json_object_get(c, "cuped"));
        cfg.sequential_tuning = json_number_value(json_object_get(c, "sequential_tuning"));
        struct stats_arm a, b;
        arm_from_json(json_object_get(c, "a"), &a);
        arm_from_json(json_object_get(c, "b"), &b);
        json_t *e = json_object_get(c, "expected");

        struct stats_moments mo;
        struct err err;
        assert_int_equal(stats_arm_moments(cfg.type, &a, &mo, &err), 0);
        bad += check_opt(name, "mean_a", mo.mean, json_object_get(e, "mean_a"), TOL_REL, TOL_ABS);
        bad += check_opt(name, "var_a", mo.variance, json_object_get(e, "var_a"), TOL_REL, TOL_ABS);
        assert_int_equal(stats_arm_moments(cfg.type, &b, &mo, &err), 0);
        bad += check_opt(name, "mean_b", mo.mean, json_object_get(e, "mean_b"), TOL_REL, TOL_ABS);
        bad += check_opt(name, "var_b", mo.variance, json_object_get(e, "var_b"), TOL_REL, TOL_ABS);

        struct stats_comparison r;
        if (stats_compare(&cfg, &a, &b, &r, &err) != 0) {
            print_message("%s: stats_compare failed: %s\n", name, err.msg);
            bad++;
            continue;
        }
        assert_all_finite(&r);
        const struct {
            const char *key;
            const struct stats_opt *got;
        } map[] = {
            {"abs_estimate", &r.absolute.estimate},
            {"abs_se", &r.absolute.se},
            {"abs_ci_lo", &r.absolute.ci_lo},
            {"abs_ci_hi", &r.absolute.ci_hi},
            {"abs_p_value", &r.absolute.p_value},
            {"rel_estimate", &r.relative.estimate},
            {"rel_se", &r.relative.se},
            {"rel_ci_lo", &r.relative.ci_lo},
            {"rel_ci_hi", &r.relative.ci_hi},
            {"rel_p_value", &r.relative.p_value},
            {"df", &r.df},
            {"z", &r.z},
            {"z_p_value", &r.z_p_value},
            {"theta", &r.cuped_theta},
            {"variance_reduction", &r.cuped_variance_reduction},
        };
        for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
            assert_non_null(json_object_get(e, map[k].key));
            bad += check_opt(name, map[k].key, *map[k].got, json_object_get(e, map[k].key), TOL_REL,
                             TOL_ABS);
        }
        /* chance and loss: numeric integrals in the reference (beta-binomial) */
        bool integral = cfg.type == STATS_METRIC_BINOMIAL &&
                        (!r.cuped_theta.present || r.cuped_theta.value == 0);
        double rel = integral ? 0 : TOL_REL;
        double abs_tol = integral ? TOL_INTEGRAL : TOL_ABS;
        bad += check_opt(name, "chance", r.chance_to_beat_control, json_object_get(e, "chance"),
                         rel, abs_tol);
        if (json_is_true(json_object_get(e, "loss_exact"))) {
            /* tiny losses from 400-digit arithmetic: STATS.md asks 1e-6 relative, no floor */
            bad += check_opt(name, "loss", r.expected_loss, json_object_get(e, "loss"), TOL_REL, 0);
            tiny_losses++;
        } else {
            bad +=
                check_opt(name, "loss", r.expected_loss, json_object_get(e, "loss"), rel, abs_tol);
        }
        if (integral && r.chance_to_beat_control.present) {
            double d1 = fabs(r.chance_to_beat_control.value -
                             json_number_value(json_object_get(e, "chance")));
            double d2 = fabs(r.expected_loss.value - json_number_value(json_object_get(e, "loss")));
            worst_integral = fmax(worst_integral, fmax(d1, d2));
        }
        checks += 2;
        if (r.always_valid != json_is_true(json_object_get(e, "always_valid"))) {
            print_message("%s: always_valid mismatch\n", name);
            bad++;
        }
        if ((r.warning[0] != '\0') != json_is_true(json_object_get(e, "warning"))) {
            print_message("%s: warning \"%s\" unexpected\n", name, r.warning);
            bad++;
        }
    }
    print_message("stats fixtures: %d quantities checked; worst closed-form deviation %.3g of "
                  "the tolerance; worst beta-binomial deviation %.3g; %d tiny losses\n",
                  checks, worst_closed, worst_integral, tiny_losses);
    assert_true(tiny_losses >= 4);
    assert_int_equal(bad, 0);
    /* the exact sum agrees with scipy's quadrature far below the 1e-6 bound */
    assert_true(worst_integral < 1e-9);
}

static void ratio_from_json(json_t *j, struct stats_ratio_arm *a)
{
    *a = (struct stats_ratio_arm){0}; /* plain double sums: no low parts */
    a->n = (int64_t)json_integer_value(json_object_get(j, "n"));
    a->sn = json_number_value(json_object_get(j, "sn"));
    a->qn = json_number_value(json_object_get(j, "qn"));
    a->sd = json_number_value(json_object_get(j, "sd"));
    a->qd = json_number_value(json_object_get(j, "qd"));
    a->pnd = json_number_value(json_object_get(j, "pnd"));
    a->shift_n = json_number_value(json_object_get(j, "shift_n"));
    a->shift_d = json_number_value(json_object_get(j, "shift_d"));
}

/* Ratio metrics: the delta method on the raw rows (numpy) against the sums. */
static void test_fixture_ratios(void **state)
{
    (void)state;
    json_t *cases = json_object_get(fixture, "ratios");
    assert_true(json_array_size(cases) >= 5);
    int bad = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        struct stats_config cfg;
        stats_config_default(&cfg);
        assert_int_equal(
            stats_method_parse(json_string_value(json_object_get(c, "method")), &cfg.method), 0);
        assert_int_equal(stats_goal_parse(json_string_value(json_object_get(c, "goal")), &cfg.goal),
                         0);
        cfg.alpha = json_number_value(json_object_get(c, "alpha"));
        struct stats_ratio_arm a, b;
        ratio_from_json(json_object_get(c, "a"), &a);
        ratio_from_json(json_object_get(c, "b"), &b);
        json_t *e = json_object_get(c, "expected");
        struct stats_moments mo;
        struct err err;
        assert_int_equal(stats_ratio_moments(&a, &mo, &err), 0);
        bad += check_opt(name, "mean_a", mo.mean, json_object_get(e, "mean_a"), TOL_REL, TOL_ABS);
        bad += check_opt(name, "var_a", mo.variance, json_object_get(e, "var_a"), TOL_REL, TOL_ABS);
        assert_int_equal(stats_ratio_moments(&b, &mo, &err), 0);
        bad += check_opt(name, "mean_b", mo.mean, json_object_get(e, "mean_b"), TOL_REL, TOL_ABS);
        bad += check_opt(name, "var_b", mo.variance, json_object_get(e, "var_b"), TOL_REL, TOL_ABS);
        struct stats_comparison r;
        assert_int_equal(stats_compare_ratio(&cfg, &a, &b, &r, &err), 0);
        assert_all_finite(&r);
        const struct {
            const char *key;
            const struct stats_opt *got;
        } map[] = {
            {"abs_estimate", &r.absolute.estimate},
            {"abs_se", &r.absolute.se},
            {"abs_ci_lo", &r.absolute.ci_lo},
            {"abs_ci_hi", &r.absolute.ci_hi},
            {"abs_p_value", &r.absolute.p_value},
            {"rel_estimate", &r.relative.estimate},
            {"rel_se", &r.relative.se},
            {"rel_ci_lo", &r.relative.ci_lo},
            {"rel_ci_hi", &r.relative.ci_hi},
            {"rel_p_value", &r.relative.p_value},
            {"df", &r.df},
            {"chance", &r.chance_to_beat_control},
            {"loss", &r.expected_loss},
        };
        for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
            bad += check_opt(name, map[k].key, *map[k].got, json_object_get(e, map[k].key), TOL_REL,
                             TOL_ABS);
        }
        assert_string_equal(r.warning, "");
    }
    assert_int_equal(bad, 0);
    /* degenerate: zero denominators, one user, CUPED requested */
    struct stats_config cfg;
    stats_config_default(&cfg);
    struct stats_ratio_arm z = {.n = 10, .sn = 5, .qn = 5};
    struct stats_ratio_arm ok = {.n = 10, .sn = 5, .qn = 5, .sd = 10, .qd = 10, .pnd = 5};
    struct stats_comparison r;
    struct err err;
    assert_int_equal(stats_compare_ratio(&cfg, &z, &ok, &r, &err), 0);
    assert_all_finite(&r);
    assert_false(r.absolute.estimate.present);
    assert_non_null(strstr(r.warning, "denominator"));
    cfg.cuped = true;
    assert_int_equal(stats_compare_ratio(&cfg, &ok, &ok, &r, &err), 0);
    assert_non_null(strstr(r.warning, "CUPED"));
    struct stats_ratio_arm bad_arm = ok;
    bad_arm.qd = NAN;
    assert_int_equal(stats_compare_ratio(&cfg, &ok, &bad_arm, &r, &err), -1);
}

/* Noncentral t: R's published power.t.test values and an exact special case. */
static void test_nct(void **state)
{
    (void)state;
    double p = 0;
    /* power.t.test(n = 20, delta = 1): df 38, ncp sqrt(10) */
    double crit = 2.0243941645751367; /* qt(0.975, 38) */
    assert_int_equal(stats_nct_sf(crit, 38, sqrt(10.0), &p), 0);
    assert_true(fabs(p - 0.8689528) < 5e-8);
    /* ncp 0 is Student's t */
    assert_int_equal(stats_nct_sf(1.5, 7, 0, &p), 0);
    assert_true(fabs(p - 0.08864924349498501) < 1e-10);
    /* very large df: normal */
    assert_int_equal(stats_nct_sf(1.96, 1e9, 2.8, &p), 0);
    assert_true(fabs(p - 0.79954) < 1e-4);
    assert_int_equal(stats_nct_sf(1, -1, 0, &p), -1);
    int64_t n = 0;
    struct err err;
    assert_int_equal(stats_power_mean(1.0, 2.0, 0.05, 0.8, &n, &err), 0);
    assert_int_equal(n, 6); /* the normal formula said 4 */
    assert_int_equal(stats_power_mean(1.0, 1.0, 0.05, 0.9, &n, &err), 0);
    assert_int_equal(n, 23); /* R: 22.02110 */
}

static void test_fixture_srm(void **state)
{
    (void)state;
    json_t *cases = json_object_get(fixture, "srm");
    assert_true(json_array_size(cases) >= 4);
    int bad = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *obs = json_object_get(c, "observed");
        json_t *w = json_object_get(c, "weights");
        size_t k = json_array_size(obs);
        assert_true(k <= 8 && k == json_array_size(w));
        int64_t o[8];
        double wt[8];
        for (size_t j = 0; j < k; j++) {
            o[j] = (int64_t)json_integer_value(json_array_get(obs, j));
            wt[j] = json_number_value(json_array_get(w, j));
        }
        struct stats_srm r;
        struct err err;
        assert_int_equal(stats_srm_test(o, wt, k, &r, &err), 0);
        json_t *e = json_object_get(c, "expected");
        bad += check_opt(name, "chi2", r.chi2, json_object_get(e, "chi2"), TOL_REL, TOL_ABS);
        bad +=
            check_opt(name, "p_value", r.p_value, json_object_get(e, "p_value"), TOL_REL, TOL_ABS);
        assert_int_equal(r.df, (int)json_integer_value(json_object_get(e, "df")));
        assert_int_equal(r.mismatch, json_is_true(json_object_get(e, "mismatch")));
        assert_string_equal(r.warning, "");
    }
    assert_int_equal(bad, 0);
}

static void test_fixture_corrections(void **state)
{
    (void)state;
    json_t *cases = json_object_get(fixture, "corrections");
    assert_int_equal(json_array_size(cases), 3);
    int bad = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *mname = json_string_value(json_object_get(c, "method"));
        enum stats_correction method;
        assert_int_equal(stats_correction_parse(mname, &method), 0);
        json_t *pj = json_object_get(c, "p");
        json_t *ej = json_object_get(c, "expected");
        size_t m = json_array_size(pj);
        assert_true(m <= 16);
        struct stats_opt p[16], adj[16];
        for (size_t j = 0; j < m; j++) {
            json_t *v = json_array_get(pj, j);
            p[j] = json_is_null(v) ? stats_opt_none() : stats_opt_of(json_number_value(v));
        }
        struct err err;
        assert_int_equal(stats_adjust_pvalues(method, p, adj, m, &err), 0);
        for (size_t j = 0; j < m; j++) {
            bad += check_opt(mname, "p_adjusted", adj[j], json_array_get(ej, j), TOL_REL, TOL_ABS);
        }
        /* in place (adj aliases p) gives the same answer */
        assert_int_equal(stats_adjust_pvalues(method, p, p, m, &err), 0);
        for (size_t j = 0; j < m; j++) {
            assert_int_equal(p[j].present, adj[j].present);
            assert_true(p[j].value == adj[j].value);
        }
    }
    assert_int_equal(bad, 0);
}

static void test_fixture_power(void **state)
{
    (void)state;
    json_t *cases = json_object_get(fixture, "power");
    assert_true(json_array_size(cases) >= 4);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *kind = json_string_value(json_object_get(c, "kind"));
        double alpha = json_number_value(json_object_get(c, "alpha"));
        double pw = json_number_value(json_object_get(c, "power"));
        int64_t n = 0;
        struct err err;
        if (strcmp(kind, "binomial") == 0) {
            assert_int_equal(stats_power_binomial(json_number_value(json_object_get(c, "p1")),
                                                  json_number_value(json_object_get(c, "p2")),
                                                  alpha, pw, &n, &err),
                             0);
        } else {
            assert_int_equal(stats_power_mean(json_number_value(json_object_get(c, "sigma")),
                                              json_number_value(json_object_get(c, "delta")), alpha,
                                              pw, &n, &err),
                             0);
        }
        assert_int_equal(n, json_integer_value(json_object_get(c, "n")));
    }
    /* STATS.md's example, independent of the fixture */
    int64_t n = 0;
    struct err err;
    assert_int_equal(stats_power_binomial(0.10, 0.11, 0.05, 0.8, &n, &err), 0);
    assert_int_equal(n, 14751);
    assert_int_equal(stats_power_binomial(0.10, 0.10, 0.05, 0.8, &n, &err), -1);
    /* the users needed never grow as the target power falls: below about alpha / 2 any
     * sample reaches it (the formula's root is negative; its square answered 2,400 users
     * for power 0.001 against 1 for 0.025) */
    int64_t prev = INT64_MAX;
    for (double pw = 0.9; pw > 0.0005; pw /= 1.5) {
        assert_int_equal(stats_power_binomial(0.10, 0.11, 0.05, pw, &n, &err), 0);
        assert_true(n >= 1 && n <= prev);
        prev = n;
    }
    assert_int_equal(prev, 1);
    /* means: at or below alpha / 2, the least size (2); power 0.025 at alpha 0.05 made the
     * normal guess 0 users, "not computable" */
    assert_int_equal(stats_power_mean(5.0, 1.0, 0.05, 0.025, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(stats_power_mean(5.0, 1.0, 0.1, 0.05, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(err.code, ERR_INVALID);
    /* the rates 0 and 1 are plans too (R's power.prop.test; scipy: 780, 152, 152) */
    assert_int_equal(stats_power_binomial(0.0, 0.01, 0.05, 0.8, &n, &err), 0);
    assert_int_equal(n, 780);
    assert_int_equal(stats_power_binomial(1.0, 0.95, 0.05, 0.8, &n, &err), 0);
    assert_int_equal(n, 152);
    assert_int_equal(stats_power_binomial(0.95, 1.0, 0.05, 0.8, &n, &err), 0);
    assert_int_equal(n, 152);
    assert_int_equal(stats_power_binomial(0.0, 0.0, 0.05, 0.8, &n, &err), -1);
    assert_int_equal(stats_power_binomial(1.0, 1.05, 0.05, 0.8, &n, &err), -1);
    assert_int_equal(stats_power_binomial(-0.1, 0.1, 0.05, 0.8, &n, &err), -1);
    assert_int_equal(stats_power_binomial(0.1, 0.11, 1.0, 0.8, &n, &err), -1);
    assert_int_equal(stats_power_mean(0.0, 1.0, 0.05, 0.8, &n, &err), -1);
    assert_int_equal(stats_power_mean(1.0, 0.0, 0.05, 0.8, &n, &err), -1);
    assert_int_equal(stats_power_mean(1.0, 1e-12, 0.05, 0.8, &n, &err), -1);
}

/* GrowthBook's published example: 14/28 (control) vs 16/30 with Bernoulli variances. */
static void test_growthbook_published(void **state)
{
    (void)state;
    struct stats_config cfg;
    stats_config_default(&cfg);
    struct stats_arm a = {.n = 28, .s = 14, .q = 14};
    struct stats_arm b = {.n = 30, .s = 16, .q = 16};
    struct stats_comparison r;
    struct err err;
    assert_int_equal(stats_compare(&cfg, &a, &b, &r, &err), 0);
    assert_true(r.relative.estimate.present && r.relative.ci_lo.present &&
                r.relative.ci_hi.present && r.relative.p_value.present && r.df.present);
    assert_true(fabs(r.relative.estimate.value - 0.06667) < 5e-6);
    assert_true(fabs(r.relative.ci_lo.value - -0.47767) < 5e-6);
    assert_true(fabs(r.relative.ci_hi.value - 0.61101) < 5e-6);
    assert_true(fabs(r.relative.p_value.value - 0.80707) < 5e-6);
    assert_true(fabs(r.df.value - 55.707) < 5e-4);
    assert_string_equal(r.warning, "");
}

int main(void)
{
    gsl_set_error_handler_off();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_comparisons),
        cmocka_unit_test(test_fixture_ratios),
        cmocka_unit_test(test_nct),
        cmocka_unit_test(test_fixture_srm),
        cmocka_unit_test(test_fixture_corrections),
        cmocka_unit_test(test_fixture_power),
        cmocka_unit_test(test_growthbook_published),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
