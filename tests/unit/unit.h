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

/* Path of the shared conformance cases; tests skip with a message when absent. */
#define CONFORMANCE_CASES "../shared/conformance/growthbook-sdk-cases.json"

#endif
