/*
 * calls.h - request helpers of the API tests that talk to one daemon per test binary
 * (test_sdk_ofrep.c, test_sdk_serve.c, test_dimensions*.c, test_exact_*.c, test_rebuild*.c,
 * test_isolation.c, test_isolation_slow.c): the daemon is named once by
 * calls_use in the binary's setup, and every helper below fails the test (cmocka) when the
 * daemon does not answer as wanted. Built on harness.h; the caller's thread only.
 */
#ifndef BUNSEN_TEST_CALLS_H
#define BUNSEN_TEST_CALLS_H

#include "harness.h"

/* The daemon the helpers below talk to (borrowed: d outlives every call); forgets the sdk key
 * of the daemon named before. */
void calls_use(struct daemon *d);

/* A request with key (NULL: none) and body (JSON text or NULL), failing the test unless the
 * status is want: the parsed body (new reference; NULL when it is not JSON). call: the same
 * with the daemon's admin key. */
json_t *call_as(const char *key, const char *method, const char *path, const char *body, int want);
json_t *call(const char *method, const char *path, const char *body, int want);
/* As call with a JSON body (stolen; NULL: none), sent compact. */
json_t *call_json(const char *method, const char *path, json_t *body, int want);

/* As call_json (admin key), answered 200 or 201, else the test fails with the reply. */
void call_json_ok(const char *method, const char *path, json_t *body);

/* An experiment document with variants control/treatment plus the members of extra (stolen;
 * NULL: none). New reference. */
json_t *exp_doc(const char *key, json_t *extra);

/* The "field" of an API error reply ("" when it has none). */
const char *error_field(const json_t *reply);

/* The slice of a dimension breakdown (results with ?dimension=) whose dimension_value is value,
 * or NULL. */
const json_t *results_slice(const json_t *res, const char *value);

/* The secret of an sdk key of the daemon, created at the first call after calls_use (valid
 * until the next calls_use). */
const char *sdk_key(void);

/* Create experiment key with the JSON members fields (text, without braces) and run the
 * lifecycle actions in order (comma-separated: "start,pause"; "stop=VARIANT" releases
 * VARIANT; NULL: none), each answered 201/200. */
void new_exp(const char *key, const char *fields, const char *actions);

/* Fail the test unless v printed compact with sorted keys is want. */
void assert_json_text(const json_t *v, const char *want);

/* Wait until GET /api/v1/experiments/<key>/results has no "rebuilding" member (a rebuild has
 * finished), polling every 20 ms; fails the test after HARNESS_HANG_S (a hang detector). */
void wait_rebuilt(const char *key);

#endif
