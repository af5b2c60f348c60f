/*
 * metrics.h - instrumentation primitives for GET /metrics (Prometheus text exposition
 * format 0.0.4): lock-free counters and fixed-bucket histograms that live inside the
 * objects they measure, and writers for their text form. Observing is a few atomic adds;
 * scraping reads the atomics (no database work). Thread-safe.
 */
#ifndef BUNSEN_METRICS_H
#define BUNSEN_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "bunsen/util.h"

#define HIST_MAX_BUCKETS 16

struct histogram {
    const double *bounds; /* upper bounds, increasing; +Inf is implicit */
    int nbounds;          /* <= HIST_MAX_BUCKETS */
    double scale;         /* sum is kept as an integer of value * scale */
    atomic_uint_fast64_t counts[HIST_MAX_BUCKETS + 1]; /* per bucket, not cumulative */
    atomic_uint_fast64_t sum;
};

/* Initialise h with bounds (static storage) and the scale of its sum. */
void hist_init(struct histogram *h, const double *bounds, int nbounds, double scale);
void hist_observe(struct histogram *h, double v);

/* Latency buckets in seconds (0.1 ms .. 10 s) and batch-size buckets (1 .. 4096). */
extern const double metrics_latency_bounds[];
extern const int metrics_latency_nbounds;
extern const double metrics_size_bounds[];
extern const int metrics_size_nbounds;

/* Text form. `labels` is "" or `key="value",...` (already escaped, no braces). */
void metrics_write_help(struct buf *b, const char *name, const char *type, const char *help);
void metrics_write_value(struct buf *b, const char *name, const char *labels, double v);
void metrics_write_hist(struct buf *b, const char *name, const char *labels,
                        const struct histogram *h);
/* Escape a label value (backslash, quote, newline) into out (size n). */
void metrics_escape(const char *in, char *out, size_t n);

#endif
