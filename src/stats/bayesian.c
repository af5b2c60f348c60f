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
 * That difference cancels when B is far ahead of A (the loss is then tiny next to both
 * terms): there the loss is one positive integral instead (loss_integral below).
 * Pure; any thread may enter (GSL special functions via their _e variants).
 */
#include "bunsen/stats.h"

#include <float.h>
#include <math.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
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

/*
 * P(X > Y) for X ~ Beta(xa, xb), Y ~ Beta(ya, yb) by the cheapest of four forms of the sum
 * above: over X's alpha (X as the sum's B), one minus the sum over Y's alpha, or either of
 * those for the mirrored variables 1 - Y > 1 - X (over Y's beta, or one minus over X's
 * beta). A sum over alpha runs at most alpha terms, and its terms fall off slowly when the
 * other posterior's beta is small: Beta(1, 11) against 9e7 conversions of 1e8 walked ~4e7
 * terms, three times (1.3-4 s for one comparison that a request could ask for per day of a
 * time series). The smallest integer parameter bounds the walk. At least one parameter must
 * be an integer.
 */
static int p_greater(double xa, double xb, double ya, double yb, double *out)
{
    const double n[4] = {xa, ya, yb, xb};
    int form = -1;
    for (int f = 0; f < 4; f++) {
        if (n[f] == floor(n[f]) && n[f] >= 1 && (form < 0 || n[f] < n[form])) {
            form = f;
        }
    }
    double p = 0;
    int rc = -1;
    switch (form) {
    case 0:
        rc = prob_b_beats_a(ya, yb, xa, xb, &p);
        break;
    case 1:
        rc = prob_b_beats_a(xa, xb, ya, yb, &p);
        p = 1.0 - p;
        break;
    case 2:
        rc = prob_b_beats_a(xb, xa, yb, ya, &p);
        break;
    case 3:
        rc = prob_b_beats_a(yb, ya, xb, xa, &p);
        p = 1.0 - p;
        break;
    default:
        break;
    }
    *out = p;
    return rc;
}

/* ---- expected loss without cancellation ----
 *
 * loss = E[max(pA - pB, 0)] = integral_0^1 fA(x) h(x) dx, h(x) = E[max(x - pB, 0)]
 * (pB ~ Beta(a, b), mean mu). Both factors are positive, so the integral has no
 * cancellation. h itself, with K(x) = x^a (1-x)^b / (a B(a, b)) and I the regularised
 * incomplete beta (DLMF 8.17.8, 8.17.20):
 *   x >= mu - 3 sd:  h = I_x(a, b) (x - mu) + mu K(x)       (mild or no cancellation)
 *   x <  mu - 3 sd:  h = K(x) sum_{n>=1} u_n (b n + a) / ((a + b)(a + n)),
 *                    u_1 = x, u_{n+1} = u_n x (a + b + n - 1) / (a + n)   (all terms > 0)
 * I comes from beta_inc_cf, and both logs are centred (centred_log) so that large counts
 * keep their precision. The integrand is log-concave (a product of log-concave functions), hence
 * unimodal: its log is maximised by golden-section search, the interval where it is within e^-60 of
 * the peak found by bisection, and the scaled integrand integrated there adaptively. */

#define LOSS_SPAN    60.0
#define SERIES_MAX   2000000
#define SERIES_SLOW  2e-3
#define SERIES_REL   1e-17
#define LOSS_EPSREL  1e-11
#define LOSS_ACCEPT  1e-7
#define GOLDEN_ITERS 200
#define BISECT_ITERS 200

/* The log of a density's kernel, p ln x + q ln(1 - x) - lnorm, as its value at a reference
 * point m (once) plus the change from m: p and q reach 1e8 and more, and
 * p ln x + q ln(1 - x) computed whole carries ~eps p of rounding that changes from one x to
 * the next (4e-8 at 1e8 users: qag could not meet its tolerance and the loss was given up),
 * while the change from m, p log1p((x - m) / m) + ..., is small and exact to eps of itself.
 * What remains is a constant error in the reference, a factor the whole integral shares. */
struct centred_log {
    double m;     /* reference point, in (0, 1) */
    double p, q;  /* the exponents of x and of 1 - x */
    double lnorm; /* ln of the normaliser */
    double at_m;  /* the log at m, normaliser included */
};

static void centred_init(struct centred_log *cl, double m, double p, double q, double lnorm)
{
    cl->m = m;
    cl->p = p;
    cl->q = q;
    cl->lnorm = lnorm;
    cl->at_m = p * log(m) + q * log1p(-m) - lnorm;
}

/* Far from m (where x - m would lose x itself, and the density is negligible when the
 * exponents are large) the log is taken whole. */
static double centred_at(const struct centred_log *cl, double x)
{
    double d = x - cl->m;
    if (fabs(d) < 0.5 * fmin(cl->m, 1.0 - cl->m)) {
        return cl->at_m + cl->p * log1p(d / cl->m) + cl->q * log1p(-d / (1.0 - cl->m));
    }
    return cl->p * log(x) + cl->q * log1p(-x) - cl->lnorm;
}

struct loss_ctx {
    double aa, ba;         /* pA ~ Beta(aa, ba) */
    double a, b;           /* pB ~ Beta(a, b) */
    struct centred_log fa; /* ln fA(x) */
    struct centred_log kb; /* ln x^a (1-x)^b / B(a, b) */
    double mu, sd;         /* pB's mean and stddev */
    double peak;           /* log integrand at the mode (scaling) */
    bool failed;           /* a special function failed: fall back */
};

/* I_x(a, b) by its continued fraction (DLMF 8.17.22, modified Lentz) on the side where it
 * converges (x below (a + 1) / (a + b + 2), else 1 - I_{1-x}(b, a)), with as many terms as
 * it takes: near the mean that grows like sqrt(a b / (a + b)), and GSL's gsl_sf_beta_inc
 * stops at 512 (GSL_EMAXITER from ~1e7 users per arm: the loss then fell back to the
 * cancelling difference). 0, or -1 when it does not converge. */
#define CF_EPS  1e-15
#define CF_TINY 1e-300

static double cf_guard(double v)
{
    return fabs(v) < CF_TINY ? CF_TINY : v;
}

static int beta_inc_cf(double a, double b, double x, double lk, double *out)
{
    if (!(x > 0)) {
        *out = 0;
        return 0;
    }
    if (!(x < 1)) {
        *out = 1;
        return 0;
    }
    bool swap = x > (a + 1.0) / (a + b + 2.0);
    if (swap) {
        double t = a;
        a = b;
        b = t;
        x = 1.0 - x;
    }
    /* x^a (1-x)^b / (a B(a, b)), the same on both sides but for the 1 / a */
    double front = lk - log(a);
    double c = 1.0, d = 1.0 / cf_guard(1.0 - (a + b) * x / (a + 1.0));
    double f = d;
    double max = 1000.0 + 20.0 * sqrt(a * b / (a + b));
    for (double m = 1; m <= max; m += 1.0) {
        double num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / cf_guard(1.0 + num * d);
        c = cf_guard(1.0 + num / c);
        f *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / cf_guard(1.0 + num * d);
        c = cf_guard(1.0 + num / c);
        double del = d * c;
        f *= del;
        if (fabs(del - 1.0) < CF_EPS) {
            double v = exp(front) * f;
            *out = swap ? 1.0 - v : v;
            return isfinite(*out) ? 0 : -1;
        }
    }
    return -1;
}

/* h by the direct formula, with lk = ln x^a (1-x)^b / B(a, b) (centred: see centred_log;
 * GSL's gsl_sf_beta_inc computes that prefactor whole); -1 when the fraction fails. */
static int h_direct(const struct loss_ctx *c, double x, double lk, double *h)
{
    double ix;
    if (beta_inc_cf(c->a, c->b, x, lk, &ix) != 0) {
        return -1;
    }
    *h = ix * (x - c->mu) + exp(lk) / (c->a + c->b);
    return 0;
}

/* ln h(x) for 0 < x < 1, or -INFINITY when h underflows. The series' terms shrink at
 * least by r1 = x (a + b) / (a + 1) each, so it needs ~40 / (1 - r1) terms: close to mu it
 * is too slow, and there the direct formula loses only ~log10(k^2) digits at k sd below
 * mu. */
static double log_h(struct loss_ctx *c, double x)
{
    double a = c->a, b = c->b;
    double lk = centred_at(&c->kb, x); /* ln x^a (1-x)^b / B(a, b) */
    double r1 = x * (a + b) / (a + 1.0);
    double h;
    if (x >= c->mu - 3.0 * c->sd || r1 > 1.0 - SERIES_SLOW) {
        if (h_direct(c, x, lk, &h) == 0 && h > 0) {
            return log(h);
        }
        if (x >= c->mu || r1 >= 1.0) {
            if (x >= c->mu) {
                c->failed = true; /* h >= x - mu > 0 here: GSL failed */
            }
            return -INFINITY;
        }
        /* cancelled to nothing: the series, however long */
    }
    double u = x, sum = 0;
    for (long n = 1; n < SERIES_MAX; n++) {
        double term = u * (b * (double)n + a) / ((a + b) * (a + (double)n));
        sum += term;
        /* not `term < SERIES_REL * sum`: with sum near the smallest double that bound is 0,
         * and the walk ran to SERIES_MAX and failed the whole integral (at x = 1e-300 with
         * ~1e7 conversions) */
        if (!(term > SERIES_REL * sum)) {
            return lk - log(a) + log(sum);
        }
        u *= x * (a + b + (double)n - 1.0) / (a + (double)n);
    }
    c->failed = true;
    return -INFINITY;
}

/* ln of fA(x) h(x). */
static double log_integrand(struct loss_ctx *c, double x)
{
    if (!(x > 0 && x < 1)) {
        return -INFINITY;
    }
    double lf = centred_at(&c->fa, x);
    return lf + log_h(c, x);
}

static double scaled_integrand(double x, void *p)
{
    struct loss_ctx *c = p;
    double l = log_integrand(c, x);
    return l == -INFINITY ? 0 : exp(l - c->peak);
}

/* x in (lo, hi) where f(x) crosses level, f monotone between lo and hi. */
static double bisect_level(struct loss_ctx *c, double lo, double hi, double level, bool rising)
{
    for (int i = 0; i < BISECT_ITERS && hi - lo > 1e-17; i++) {
        double mid = 0.5 * (lo + hi);
        bool above = log_integrand(c, mid) >= level;
        if (above == rising) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return rising ? lo : hi;
}

/* E[max(pA - pB, 0)] for pA ~ Beta(aa, ba), pB ~ Beta(ab, bb) as one positive integral. */
static int loss_integral(double aa, double ba, double ab, double bb, double *out)
{
    struct loss_ctx c = {.aa = aa, .ba = ba, .a = ab, .b = bb};
    gsl_sf_result r1, r2;
    if (gsl_sf_lnbeta_e(aa, ba, &r1) != GSL_SUCCESS ||
        gsl_sf_lnbeta_e(ab, bb, &r2) != GSL_SUCCESS) {
        return -1;
    }
    c.mu = ab / (ab + bb);
    centred_init(&c.fa, aa / (aa + ba), aa - 1.0, ba - 1.0, r1.val);
    centred_init(&c.kb, c.mu, ab, bb, r2.val);
    c.sd = sqrt(c.mu * (1.0 - c.mu) / (ab + bb + 1.0));
    /* golden-section search for the mode of the (unimodal) log integrand */
    const double g = 0.5 * (sqrt(5.0) - 1.0);
    double lo = 0, hi = 1;
    double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    double f1 = log_integrand(&c, x1), f2 = log_integrand(&c, x2);
    for (int i = 0; i < GOLDEN_ITERS && hi - lo > 1e-12 * x1 + 1e-300; i++) {
        if (f1 < f2) {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + g * (hi - lo);
            f2 = log_integrand(&c, x2);
        } else {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - g * (hi - lo);
            f1 = log_integrand(&c, x1);
        }
    }
    double mode = f1 >= f2 ? x1 : x2;
    c.peak = fmax(f1, f2);
    if (c.failed) {
        return -1;
    }
    /* the integrand is at most e^peak on [0, 1]: below the smallest double the loss is 0
     * (a winner by 50 standard errors; integrating it took seconds and failed) */
    if (c.peak == -INFINITY || c.peak < -746.0) {
        *out = 0;
        return 0;
    }
    double level = c.peak - LOSS_SPAN;
    double left = log_integrand(&c, 1e-300) >= level ? 0 : bisect_level(&c, 0, mode, level, true);
    double right =
        log_integrand(&c, 1 - 1e-16) >= level ? 1 : bisect_level(&c, mode, 1, level, false);
    gsl_integration_workspace *w = gsl_integration_workspace_alloc(500);
    if (w == NULL) {
        return -1;
    }
    gsl_function f = {scaled_integrand, &c};
    double pts[3] = {left, mode, right};
    double sum = 0;
    int st = GSL_SUCCESS;
    for (int k = 0; k < 2 && st == GSL_SUCCESS; k++) {
        double v = 0, e = 0;
        if (pts[k + 1] > pts[k]) {
            st = gsl_integration_qag(&f, pts[k], pts[k + 1], 0, LOSS_EPSREL, 500, GSL_INTEG_GAUSS41,
                                     w, &v, &e);
        }
        /* with ~1e8 conversions the integrand's log carries ~1e-8 of rounding from point to
         * point (a log times the counts), so the 1e-11 asked for is out of reach: qag says
         * so (GSL_EROUND) with an estimate that still meets LOSS_ACCEPT */
        if (st == GSL_EROUND && e <= LOSS_ACCEPT * fabs(v)) {
            st = GSL_SUCCESS;
        }
        sum += v;
    }
    gsl_integration_workspace_free(w);
    if (st != GSL_SUCCESS || c.failed || !isfinite(sum)) {
        return -1;
    }
    *out = exp(c.peak + log(sum));
    return 0;
}

int stats_beta_compare(double alpha_a, double beta_a, double alpha_b, double beta_b, double *chance,
                       double *loss)
{
    if (!(alpha_a > 0) || !(beta_a > 0) || !(alpha_b >= 1) || !(beta_b > 0) || !isfinite(alpha_a) ||
        !isfinite(beta_a) || !isfinite(alpha_b) || !isfinite(beta_b) || alpha_b != floor(alpha_b)) {
        return -1;
    }
    /* P(pB > pA); P(Beta(aa + 1, ba) > pB) and P(pA > Beta(ab + 1, bb)) for the loss */
    double p_beat, q_a1, q_b1;
    if (p_greater(alpha_b, beta_b, alpha_a, beta_a, &p_beat) != 0 ||
        p_greater(alpha_a + 1.0, beta_a, alpha_b, beta_b, &q_a1) != 0 ||
        p_greater(alpha_a, beta_a, alpha_b + 1.0, beta_b, &q_b1) != 0) {
        return -1;
    }
    p_beat = p_beat < 0 ? 0 : (p_beat > 1 ? 1 : p_beat);
    double mu_a = alpha_a / (alpha_a + beta_a), mu_b = alpha_b / (alpha_b + beta_b);
    double t1 = mu_a * q_a1;
    double t2 = mu_b * q_b1;
    double l = t1 - t2;
    if (!isfinite(l)) {
        return -1;
    }
    /* How far the difference can be off: each sum's terms come from log-betas as large as
     * the counts (|ln B| ~ n), so they carry a relative error of a few eps n, and t1, t2
     * an absolute one of ~8 eps n mu (2e-10 with 1e6 users per arm: the loss of two arms at
     * 90% was 4e-5 off); besides, each holds a 1 - p (~1e-13 of t1 after the sums). The
     * positive integral keeps its relative precision: it is taken whenever the difference
     * could be off by more than 1e-7 of itself (B far ahead of A, loss down to 1e-30 and
     * beyond; large counts), and below 1e-8 in any case. */
    double n = alpha_a + beta_a + alpha_b + beta_b;
    double off = 16.0 * DBL_EPSILON * n * fmax(mu_a, mu_b) + 1e-13 * t1;
    if (!(l > 1e7 * off) || !(l > 1e-8)) {
        double li;
        if (loss_integral(alpha_a, beta_a, alpha_b, beta_b, &li) == 0 && isfinite(li)) {
            l = li;
        } else if (!(l > 1e6 * off)) {
            l = NAN; /* neither is good to 1e-6: no loss rather than a wrong one */
        }
    }
    if (chance != NULL) {
        *chance = p_beat;
    }
    if (loss != NULL) {
        *loss = l < 0 ? 0 : l; /* NAN stays NAN */
    }
    return 0;
}
