/* Unit tests for results_arm_from_suff (src/api/results.c): a variant's stored sums as the
 * statistics read them, centred on the variant's means, and the stored sums' rounding taken
 * for what it is: users whose values are all equal have a variance of 0, not ~1e-30, whatever
 * order their values arrived in (review pg27 finding 1). */
#include "unit.h"

#include <math.h>
#include <string.h>

#include "../../src/api/results_int.h" /* results_arm_from_suff: api/'s own, no public header */
#include "bunsen/ddouble.h"
#include "bunsen/stats.h"
#include "bunsen/store.h"

/* n users at value v each, with noise left in Q's low part (and Qx's: the covariate at w). */
static struct store_suff constant_sums(int64_t n, double v, double w, double noise_q,
                                       double noise_qx)
{
    struct store_suff st;
    memset(&st, 0, sizeof(st));
    st.n = n;
    st.s = (double)n * v;
    st.q = (double)n * v * v;
    st.q_lo = noise_q;
    st.sx = (double)n * w;
    st.qx = (double)n * w * w;
    st.qx_lo = noise_qx;
    st.p = (double)n * v * w;
    st.hwm = fmax(st.q, st.qx);
    return st;
}

/* Every user at the cap of 30 in both variants; one variant's Q carries 1e-27 of rounding (as
 * PostgreSQL's stored sums did): both have a standard deviation of 0, and the comparison no
 * test (a "zero standard error" warning, no p-value to join a correction family). Before, the
 * noisy one had 3.5e-15 and p = 1. */
static void test_equal_values_variance_zero(void **state)
{
    (void)state;
    struct store_suff st[2] = {constant_sums(100, 30, 0, 1e-27, 0),
                               constant_sums(120, 30, 0, -3e-27, 0)};
    struct stats_arm a[2];
    for (int i = 0; i < 2; i++) {
        results_arm_from_suff(&st[i], false, &a[i]);
        struct stats_moments mo;
        struct err err;
        assert_int_equal(stats_arm_moments(STATS_METRIC_SUM, &a[i], &mo, &err), 0);
        if (!mo.stddev.present || mo.stddev.value != 0) {
            fail_msg("variant %d: stddev %.3g, expected 0", i, mo.stddev.value);
        }
    }
    struct stats_config cfg;
    stats_config_default(&cfg);
    cfg.type = STATS_METRIC_SUM;
    cfg.cuped = false;
    struct stats_comparison r;
    struct err err;
    assert_int_equal(stats_compare(&cfg, &a[0], &a[1], &r, &err), 0);
    assert_false(r.absolute.p_value.present);
    assert_non_null(strstr(r.warning, "zero standard error"));
}

/* A covariate all at one value (every user capped in the pre-period too) with rounding in
 * Qx: no pre-period variance, theta 0 and its warning, as on an exact sum; it was -2.0 with
 * no warning on PostgreSQL. */
static void test_equal_covariate_no_cuped(void **state)
{
    (void)state;
    struct store_suff st[2] = {constant_sums(100, 30, 30, 0, 2e-27),
                               constant_sums(100, 30, 30, 0, -1e-27)};
    /* the y values vary: one user per variant at 31 */
    for (int i = 0; i < 2; i++) {
        st[i].s += 1 + i;
        st[i].q += (31.0 + i) * (31.0 + i) - 900;
        st[i].p += 30.0 * (1 + i);
        st[i].hwm = fmax(st[i].q, st[i].qx);
    }
    struct stats_arm a[2];
    results_arm_from_suff(&st[0], false, &a[0]);
    results_arm_from_suff(&st[1], false, &a[1]);
    struct stats_config cfg;
    stats_config_default(&cfg);
    cfg.type = STATS_METRIC_SUM;
    cfg.cuped = true;
    struct stats_comparison r;
    struct err err;
    assert_int_equal(stats_compare(&cfg, &a[0], &a[1], &r, &err), 0);
    if (!r.cuped_theta.present || r.cuped_theta.value != 0 ||
        strstr(r.warning, "no pre-period variance") == NULL) {
        fail_msg("theta %.17g (%s), warning \"%s\"", r.cuped_theta.value,
                 r.cuped_theta.present ? "present" : "null", r.warning);
    }
    assert_true(r.absolute.p_value.present);
}

/* A small variance the sums do resolve is kept: values of 1e6 with one user in 100 at
 * 1e6 + 1e-3 (a variance 1e-20 of the values' square, above the sums' rounding). */
static void test_small_real_variance_kept(void **state)
{
    (void)state;
    struct store_suff st;
    memset(&st, 0, sizeof(st));
    for (int i = 0; i < 100; i++) {
        double y = i == 0 ? 1e6 + 1e-3 : 1e6;
        st.n++;
        results_dd_acc(&st.s, &st.s_lo, dd_of(y));
        results_dd_acc(&st.q, &st.q_lo, dd_two_prod(y, y));
    }
    st.hwm = st.q;
    struct stats_arm a;
    results_arm_from_suff(&st, false, &a);
    struct stats_moments mo;
    struct err err;
    assert_int_equal(stats_arm_moments(STATS_METRIC_SUM, &a, &mo, &err), 0);
    /* sample variance of 99 zeros and one d = 1e-3 (about its mean): d^2 (1 - 1/100) / 99 */
    double d = (1e6 + 1e-3) - 1e6, want = d * d * 0.99 / 99.0;
    assert_true(mo.variance.present);
    if (fabs(mo.variance.value / want - 1) > 1e-9) {
        fail_msg("variance %.17g, expected %.17g", mo.variance.value, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_values_variance_zero),
        cmocka_unit_test(test_equal_covariate_no_cuped),
        cmocka_unit_test(test_small_real_variance_kept),
    };
    return cmocka_run_group_tests_name("results_arms", tests, NULL, NULL);
}
