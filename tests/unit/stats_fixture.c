/*
 * stats_fixture.c - helpers shared by the stats engine's unit tests (stats_fixture.h): the
 * tolerance comparison and the check that a comparison holds no NaN or Infinity.
 */
#include "stats_fixture.h"

#include <math.h>

bool near(double got, double want, double rel, double abs_tol)
{
    return fabs(got - want) <= abs_tol + rel * fabs(want);
}

/* Every present number of a comparison must be finite. */
void assert_all_finite(const struct stats_comparison *c)
{
    const struct stats_opt *o[] = {
        &c->absolute.estimate,
        &c->absolute.se,
        &c->absolute.ci_lo,
        &c->absolute.ci_hi,
        &c->absolute.p_value,
        &c->relative.estimate,
        &c->relative.se,
        &c->relative.ci_lo,
        &c->relative.ci_hi,
        &c->relative.p_value,
        &c->df,
        &c->z,
        &c->z_p_value,
        &c->chance_to_beat_control,
        &c->expected_loss,
        &c->cuped_theta,
        &c->cuped_variance_reduction,
    };
    for (size_t i = 0; i < sizeof(o) / sizeof(o[0]); i++) {
        if (o[i]->present) {
            assert_true(isfinite(o[i]->value));
        } else {
            assert_true(o[i]->value == 0.0);
        }
    }
}
