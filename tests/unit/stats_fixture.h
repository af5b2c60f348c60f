/*
 * stats_fixture.h - helpers shared by the stats engine's unit tests (tests/unit/test_stats.c,
 * test_stats_power.c, test_stats_numerics.c, test_stats_degenerate.c; each linked with
 * stats_fixture.o). Single-threaded; the cmocka failures end the test.
 */
#ifndef BUNSEN_TEST_STATS_FIXTURE_H
#define BUNSEN_TEST_STATS_FIXTURE_H

#include "unit.h"

#include <stdbool.h>

#include "bunsen/stats.h"

/* Whether got is within abs_tol + rel |want| of want. */
bool near(double got, double want, double rel, double abs_tol);

/* Every present number of a comparison must be finite, and every absent one 0 (a cmocka
 * failure otherwise). */
void assert_all_finite(const struct stats_comparison *c);

#endif
