/*
 * results_ref.h - helpers shared by the results API tests (test_results.c: the reference
 * numbers; test_results_decision.c: the decision, CSV, exports, corrections): the scipy /
 * statsmodels fixtures (tests/fixtures/stats_reference.json), metrics and experiments made and
 * users ingested over HTTP, results read and compared. The daemon is named once by
 * results_ref_use in the binary's group setup; every helper below fails the test (cmocka) when
 * the daemon does not answer as wanted. Built on harness.h; the caller's thread only.
 */
#ifndef BUNSEN_TEST_RESULTS_REF_H
#define BUNSEN_TEST_RESULTS_REF_H

#include "harness.h"

/* The daemon the helpers talk to (borrowed: d outlives every call, a restart included), and
 * the fixtures loaded; 0, or -1 when they cannot be read. results_ref_done frees them. */
int results_ref_use(struct daemon *d);
void results_ref_done(void);

/* When the helpers' users are exposed: two days before results_ref_use (ms since the epoch). */
long long results_ref_t0(void);

/* The fixture called name in the fixtures' array list ("comparisons", "raw", "ratios"),
 * borrowed; fixture: one of "comparisons". Fails the test when there is none. */
const json_t *fixture_in(const char *list, const char *name);
const json_t *fixture(const char *name);

/* POST body (stolen) to path with the admin key, failing the test unless 200 or 201. */
void post_ok(const char *path, json_t *body);
/* A metric key of type on the event key, without a window. */
void make_metric(const char *key, const char *type);
/* An experiment with nv variants v0.. of weights w, measuring metric, started. */
void make_experiment(const char *key, const char *metric, const double *w, int nv);
/* Users <exp>-u<arm>-0..n-1 exposed at results_ref_t0 to variant v<arm>; the first s convert
 * (an event of metric an hour later). */
void ingest_binomial_arm(const char *exp, const char *metric, int arm, int n, int s);
/* The metric "conv" (binomial) and the experiment "winner" on it, started, with the users of
 * the fixture winner_binomial_frequentist (10,000 per arm). */
void make_winner(void);

/* GET path with the admin key into *r (resp_free it): a 200 of Content-Type
 * "text/csv; charset=utf-8" whose body begins with header, else the test fails. */
void csv_get(const char *path, const char *header, struct resp *r);
/* GET the results of exp with query (without '?'), 200 (new reference). */
json_t *results(const char *exp, const char *query);
/* Fail the test unless got is within 1e-6 relative + 1e-9 absolute of want (both null
 * passes); what names the value. near_d: the same against a double. */
void near(const json_t *got, const json_t *want, const char *what);
void near_d(const json_t *got, double want, const char *what);
/* The entry of variant (0: control) of metric (by position) in res, borrowed. */
const json_t *treatment(const json_t *res, size_t metric, size_t variant);
/* End i (0 low, 1 high) of the ci of lift ("absolute_lift", "relative_lift") of v, borrowed
 * (json null when there is no interval). */
const json_t *ci(const json_t *v, const char *lift, size_t i);
/* The last day (cumulative) of experiment's time series of metric: its second variant's
 * entry, borrowed from *ts (json_decref it). */
const json_t *timeseries_last(const char *experiment, const char *metric, json_t **ts);

#endif
