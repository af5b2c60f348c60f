/*
 * unit.h - common includes for the cmocka unit tests. Each tests/unit/test_<module>.c
 * is its own executable with a main() that calls cmocka_run_group_tests(); tests/run.sh
 * runs them all (TAP output) and prints the "N passed, N failed" summary.
 */
#ifndef BUNSEN_TEST_UNIT_H
#define BUNSEN_TEST_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The GrowthBook conformance cases, vendored with their MIT notice (tests run from the
 * repository root). */
#define CONFORMANCE_CASES "tests/fixtures/growthbook/cases.json"

#endif
