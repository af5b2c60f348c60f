/*
 * metrics.c - counters and histograms for the Prometheus exposition (metrics.h).
 */
#include "bunsen/metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const double metrics_latency_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
const int metrics_latency_nbounds = 16;
const double metrics_size_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
const int metrics_size_nbounds = 13;

void hist_init(struct histogram *h, const double *bounds, int nbounds, double scale)
{
    h->bounds = bounds;
    h->nbounds = nbounds > HIST_MAX_BUCKETS ? HIST_MAX_BUCKETS : nbounds;
    h->scale = scale;
    for (int i = 0; i <= HIST_MAX_BUCKETS; i++) {
        atomic_init(&h->counts[i], 0);
    }
    atomic_init(&h->sum, 0);
}

void hist_observe(struct histogram *h, double v)
{
    int i = 0;
    while (i < h->nbounds && v > h->bounds[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    if (v > 0 && isfinite(v)) {
        atomic_fetch_add_explicit(&h->sum, (uint_fast64_t)llround(v * h->scale),
                                  memory_order_relaxed);
    }
}

void metrics_write_help(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_write_value(struct buf *b, const char *name, const char *labels, double v)
{
    if (labels[0] != '\0') {
        buf_printf(b, "%s{%s} %.17g\n", name, labels, v);
    } else {
        buf_printf(b, "%s %.17g\n", name, v);
    }
}

void metrics_write_hist(struct buf *b, const char *name, const char *labels,
                        const struct histogram *h)
{
    uint64_t cum = 0;
    const char *sep = labels[0] != '\0' ? "," : "";
    for (int i = 0; i <= h->nbounds; i++) {
        cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < h->nbounds) {
            buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, h->bounds[i],
                       (unsigned long long)cum);
        } else {
            buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                       (unsigned long long)cum);
        }
    }
    double sum = (double)atomic_load_explicit(&h->sum, memory_order_relaxed) / h->scale;
    if (labels[0] != '\0') {
        buf_printf(b, "%s_sum{%s} %.17g\n%s_count{%s} %llu\n", name, labels, sum, name, labels,
                   (unsigned long long)cum);
    } else {
        buf_printf(b, "%s_sum %.17g\n%s_count %llu\n", name, sum, name, (unsigned long long)cum);
    }
}

void metrics_escape(const char *in, char *out, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; in[i] != '\0' && j + 2 < n; i++) {
        char c = in[i];
        if (c == '\\' || c == '"') {
            out[j++] = '\\';
            out[j++] = c;
        } else if (c == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = c;
        }
    }
    out[j] = '\0';
}
