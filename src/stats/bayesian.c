/*
 * bayesian.c - exact beta-binomial comparison (STATS.md "Bayesian", binomial metrics):
 * chance to beat control P(pB > pA) and expected loss E[max(pA - pB, 0)] for two Beta
 * posteriors, without Monte Carlo.
 *
 * Evan Miller's closed form, for integer alpha_b:
 *   P(pB > pA) = sum_{i=0}^{alpha_b - 1} t_i,
 *   t_i = B(alpha_a + i, beta_a + beta_b) / ((beta_b + i) B(1 + i, beta_b) B(alpha_a, beta_a)).
 * The terms are unimodal in i (t_{i+1}/t_i = (aa + i)(bb + i) / ((aa + ba + bb + i)(i + 1))
 * crosses 1 once), so the sum starts at the mode, walks outward with that ratio and stops
 * once terms fall below 1e-22 of the largest: the cost grows like the posterior's spread
 * (~ sqrt of the counts), not the counts, and millions of conversions stay cheap. The
 * walk is re-anchored on the exact log-beta value every ANCHOR_EVERY terms.
 * The expected loss follows from the same sum (Stucchio):
 *   E[max(pA - pB, 0)] = aa/(aa+ba) P(Beta(aa+1, ba) > pB) - ab/(ab+bb) P(pA > Beta(ab+1, bb)).
 * Pure; any thread may enter (GSL special functions via their _e variants).
 */
#include "bunsen/stats.h"

#include <math.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_sf_gamma.h>

#define ANCHOR_EVERY 512
#define TAIL_RATIO   1e-22

/* Exact log t_i; 0 or -1 on GSL failure. */
static int log_term(double aa, double ba, double bb, double i, double *out)
{
    gsl_sf_result r1, r2, r3;
    if (gsl_sf_lnbeta_e(aa + i, ba + bb, &r1) != GSL_SUCCESS ||
        gsl_sf_lnbeta_e(1.0 + i, bb, &r2) != GSL_SUCCESS ||
        gsl_sf_lnbeta_e(aa, ba, &r3) != GSL_SUCCESS) {
        return -1;
    }
    *out = r1.val - log(bb + i) - r2.val - r3.val;
    return isfinite(*out) ? 0 : -1;
}

/* t_{i+1} / t_i */
static double term_ratio(double aa, double ba, double bb, double i)
{
    return ((aa + i) * (bb + i)) / ((aa + ba + bb + i) * (i + 1.0));
}

/* P(X_b > X_a) for X_a ~ Beta(aa, ba), X_b ~ Beta(ab, bb), ab a positive integer. */
static int prob_b_beats_a(double aa, double ba, double ab, double bb, double *out)
{
    double last = ab - 1.0;
    /* The ratio is >= 1 while i <= i0; the largest term sits at ceil(i0) (or a neighbour). */
    double i0 = (aa * bb - aa - ba - bb) / (ba + 1.0);
    double mode = ceil(i0);
    if (!(mode >= 0)) {
        mode = 0;
    }
    if (mode > last) {
        mode = last;
    }
    double lt;
    if (log_term(aa, ba, bb, mode, &lt) != 0) {
        return -1;
    }
    double start = exp(lt);
    double sum = start;
    double peak = start;

    /* upward: i = mode + 1 .. last */
    double t = start;
    int steps = 0;
    for (double i = mode + 1.0; i <= last; i += 1.0) {
        if (++steps % ANCHOR_EVERY == 0) {
            if (log_term(aa, ba, bb, i, &lt) != 0) {
                return -1;
            }
            t = exp(lt);
        } else {
            t *= term_ratio(aa, ba, bb, i - 1.0);
        }
        sum += t;
        if (t > peak) {
            peak = t;
        }
        if (t < peak * TAIL_RATIO || t == 0) {
            break;
        }
    }
    /* downward: i = mode - 1 .. 0 */
    t = start;
    steps = 0;
    for (double i = mode - 1.0; i >= 0; i -= 1.0) {
        if (++steps % ANCHOR_EVERY == 0) {
            if (log_term(aa, ba, bb, i, &lt) != 0) {
                return -1;
            }
            t = exp(lt);
        } else {
            t /= term_ratio(aa, ba, bb, i);
        }
        sum += t;
        if (t > peak) {
            peak = t;
        }
        if (t < peak * TAIL_RATIO || t == 0) {
            break;
        }
    }
    if (!isfinite(sum)) {
        return -1;
    }
    *out = sum < 0 ? 0 : (sum > 1 ? 1 : sum);
    return 0;
}

int stats_beta_compare(double alpha_a, double beta_a, double alpha_b, double beta_b, double *chance,
                       double *loss)
{
    if (!(alpha_a > 0) || !(beta_a > 0) || !(alpha_b >= 1) || !(beta_b > 0) || !isfinite(alpha_a) ||
        !isfinite(beta_a) || !isfinite(alpha_b) || !isfinite(beta_b) || alpha_b != floor(alpha_b)) {
        return -1;
    }
    double p_beat, p_a1, p_b1;
    if (prob_b_beats_a(alpha_a, beta_a, alpha_b, beta_b, &p_beat) != 0 ||
        prob_b_beats_a(alpha_a + 1.0, beta_a, alpha_b, beta_b, &p_a1) != 0 ||
        prob_b_beats_a(alpha_a, beta_a, alpha_b + 1.0, beta_b, &p_b1) != 0) {
        return -1;
    }
    double l =
        alpha_a / (alpha_a + beta_a) * (1.0 - p_a1) - alpha_b / (alpha_b + beta_b) * (1.0 - p_b1);
    if (!isfinite(l)) {
        return -1;
    }
    if (chance != NULL) {
        *chance = p_beat;
    }
    if (loss != NULL) {
        *loss = l < 0 ? 0 : l;
    }
    return 0;
}
