/*
 * results_csv.h - the results CSV against the results JSON for the API tests (API.md
 * "Results, v1.1": "CSV carries every field of the JSON"). Links into every API test with
 * harness.o.
 */
#ifndef BUNSEN_TEST_RESULTS_CSV_H
#define BUNSEN_TEST_RESULTS_CSV_H

#include <jansson.h>

/*
 * GET path (a results URL, with or without a query; also ?dimension=) as JSON and with
 * format=csv, and check, failing the test otherwise, that:
 * - the CSV is RFC 4180: a header, then rows of as many fields, each ended by CRLF, one per
 *   (slice, metric, variant) of the JSON in its order (per (slice, variant) for a document
 *   without metrics), and nothing else;
 * - every leaf field of the JSON (walked generically: a field the JSON gains fails here
 *   until it has its column) maps to a column of the header (results_render.c's table;
 *   the few fields carried by another column or left out are listed in results_csv.c);
 * - its value is the cell's on every row it belongs to (the whole response, a slice, a
 *   metric, a variant, the decision metric's rows): strings (a formula-like one may start
 *   with '), booleans and integers equal, numbers to 1e-14 relative (JSON prints 15
 *   significant digits, CSV 17), null an empty cell. Values that move between the two
 *   requests (a rebuild's progress, the clock's rates) are checked as present or not.
 * The JSON is read before and after the CSV, again (at most 5 times) when a rebuild began or
 * ended in between. Returns the JSON document compared (new reference) for the caller's own
 * checks (e.g. that it held "rebuilding").
 */
json_t *results_csv_check(int port, const char *key, const char *path);

#endif
