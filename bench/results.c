/*
 * bench/results.c - how long do results take as data grows?
 *
 * Builds a database with one running 2-variant experiment and 3 metrics (binomial with a
 * 72 h window, count without window, capped sum with a 168 h window and CUPED lookback),
 * USERS exposed users and EVENTS events, ingested through the same store functions the
 * writer uses (store_ingest_exposures / store_ingest_events, 10,000 rows per transaction),
 * then times:
 *   - results_compute() (the API's results, read from the roll-ups), warm, median of 9;
 *   - store_rollup_rebuild() (the same statistics recomputed from the raw rows with
 *     set-based SQL: the "plain SQL" reference measured in the same run).
 *
 * usage: results DIR USERS EVENTS      (prints one line of figures; BENCH_RATIO=1 adds a
 *        ratio metric, revenue / pageviews, to the experiment)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bunsen/model.h"
#include "bunsen/results.h"
#include "bunsen/store.h"
#include "bunsen/util.h"

#define BATCH 10000
#define HOUR  3600000LL

static double now_s(void)
{
    return (double)time_mono_ns() / 1e9;
}

static const char *metric_docs[] = {
    "{\"key\":\"purchase\",\"event\":\"purchase\",\"type\":\"binomial\",\"window_hours\":72}",
    "{\"key\":\"pageviews\",\"event\":\"pageview\",\"type\":\"count\"}",
    "{\"key\":\"revenue\",\"event\":\"purchase\",\"type\":\"sum\",\"cap\":500,"
    "\"window_hours\":168}",
    /* with BENCH_RATIO=1: a ratio of two of them (no rule of its own) */
    "{\"key\":\"rev_per_view\",\"type\":\"ratio\",\"numerator\":\"revenue\","
    "\"denominator\":\"pageviews\"}",
};
static const char experiment_doc[] =
    "{\"key\":\"bench\",\"variants\":[{\"key\":\"control\"},{\"key\":\"treatment\"}],"
    "\"metrics\":[\"purchase\",\"pageviews\",\"revenue\"]}";
static const char experiment_doc_ratio[] =
    "{\"key\":\"bench\",\"variants\":[{\"key\":\"control\"},{\"key\":\"treatment\"}],"
    "\"metrics\":[\"purchase\",\"pageviews\",\"revenue\",\"rev_per_view\"]}";
static int nmetric_docs = 3;

struct setup {
    struct experiment x;
};

static int setup_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct setup *su = arg;
    for (int i = 0; i < nmetric_docs; i++) {
        json_t *j = json_loads(metric_docs[i], 0, NULL);
        struct metric m;
        if (metric_from_json(j, MODEL_CREATE, NULL, &m, err) != 0) {
            json_decref(j);
            return -1;
        }
        json_decref(j);
        json_t *doc = metric_to_json(&m);
        char *text = json_dumps(doc, JSON_COMPACT);
        int rc = store_metric_put(tx, m.key, text, 0, 0, true, err);
        free(text);
        json_decref(doc);
        if (rc != 0) {
            return -1;
        }
    }
    json_t *doc = experiment_to_json(&su->x);
    char *text = json_dumps(doc, JSON_COMPACT);
    const char *keys[] = {"purchase", "pageviews", "revenue", "rev_per_view"};
    int rc = store_experiment_put(tx, "bench", "running", text, keys, (size_t)nmetric_docs, 0, 0,
                                  true, err);
    free(text);
    json_decref(doc);
    return rc;
}

struct batch {
    const struct store_rules *rules;
    struct store_exposure *x;
    struct store_event *e;
    size_t n;
};

static int exposures_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct batch *b = arg;
    struct store_ingest_counts c = {0};
    return store_ingest_exposures(tx, b->rules, b->x, b->n, &c, err);
}

static int events_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct batch *b = arg;
    struct store_ingest_counts c = {0};
    return store_ingest_events(tx, b->rules, b->e, b->n, &c, err);
}

struct rebuild {
    const struct store_rule *const *rules;
};

static int rebuild_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct rebuild *rb = arg;
    return store_rollup_rebuild(tx, "bench", 0, rb->rules, 3, err);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DIR USERS EVENTS\n", argv[0]);
        return 2;
    }
    long users = atol(argv[2]), events = atol(argv[3]);
    char path[600];
    snprintf(path, sizeof(path), "%s/bunsen.db", argv[1]); /* the daemon's file name */
    struct store *s = NULL;
    struct err err;
    err_clear(&err);
    if (store_open(path, &s, &err) != 0 || store_migrate(s, NULL, &err) != 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    struct setup su;
    const char *ratio = getenv("BENCH_RATIO");
    nmetric_docs = ratio != NULL && strcmp(ratio, "1") == 0 ? 4 : 3;
    json_t *ej = json_loads(nmetric_docs == 4 ? experiment_doc_ratio : experiment_doc, 0, NULL);
    if (experiment_from_json(ej, MODEL_CREATE, NULL, &su.x, &err) != 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    json_decref(ej);
    su.x.status = ASSIGN_STATUS_RUNNING;
    if (store_write_sync(s, setup_apply, &su, &err) != 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    struct store_rule *rules = xcalloc(3, sizeof(*rules));
    const char *mk[] = {"purchase", "pageviews", "revenue"};
    const char *ev[] = {"purchase", "pageview", "purchase"};
    for (int i = 0; i < 3; i++) {
        snprintf(rules[i].experiment, sizeof(rules[i].experiment), "bench");
        snprintf(rules[i].metric, sizeof(rules[i].metric), "%s", mk[i]);
        snprintf(rules[i].event, sizeof(rules[i].event), "%s", ev[i]);
        rules[i].lookback_ms = 336 * HOUR;
    }
    rules[0].type = RULE_BINOMIAL;
    rules[0].window_ms = 72 * HOUR;
    rules[1].type = RULE_COUNT;
    rules[2].type = RULE_SUM;
    rules[2].window_ms = 168 * HOUR;
    rules[2].has_cap = true;
    rules[2].cap = 500;
    struct store_rules *rs = store_rules_new(rules, 3);

    int64_t t_base = time_now_ms() - 30LL * 24 * HOUR;
    srand(42);
    char(*ids)[16] = xcalloc(BATCH, sizeof(*ids));
    struct batch b = {.rules = rs,
                      .x = xcalloc(BATCH, sizeof(struct store_exposure)),
                      .e = xcalloc(BATCH, sizeof(struct store_event))};
    double t0 = now_s();
    for (long u = 0; u < users; u += BATCH) {
        b.n = 0;
        for (long k = u; k < users && k < u + BATCH; k++) {
            snprintf(ids[b.n], sizeof(ids[0]), "u%ld", k);
            b.x[b.n] = (struct store_exposure){"bench", ids[b.n], k % 2 ? "treatment" : "control",
                                               t_base + (k % (20 * 24)) * HOUR};
            b.n++;
        }
        if (store_write_sync(s, exposures_apply, &b, &err) != 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
    }
    double t_expo = now_s() - t0;
    t0 = now_s();
    for (long e = 0; e < events; e += BATCH) {
        b.n = 0;
        for (long k = e; k < events && k < e + BATCH; k++) {
            long u = rand() % users;
            snprintf(ids[b.n], sizeof(ids[0]), "u%ld", u);
            bool purchase = rand() % 4 == 0;
            b.e[b.n] = (struct store_event){
                ids[b.n], purchase ? "purchase" : "pageview", t_base + (rand() % (28 * 24)) * HOUR,
                purchase ? (double)(rand() % 20000) / 100.0 : 1.0, NULL};
            b.n++;
        }
        if (store_write_sync(s, events_apply, &b, &err) != 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
    }
    double t_events = now_s() - t0;

    struct results_params p;
    results_params_default(&su.x, &p);
    double times[9];
    for (int i = 0; i < 10; i++) { /* first run warms the cache */
        double a = now_s();
        json_t *res = results_compute(s, &su.x, &p, &err);
        if (res == NULL) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
        json_decref(res);
        if (i > 0) {
            times[i - 1] = now_s() - a;
        }
    }
    qsort(times, 9, sizeof(double), cmp_double);
    struct rebuild rb = {.rules = rs->by_exp};
    double t_rebuild = 0;
    if (getenv("BENCH_NO_REBUILD") == NULL) { /* the reference takes minutes at 10M users */
        t0 = now_s();
        if (store_write_sync(s, rebuild_apply, &rb, &err) != 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
        t_rebuild = now_s() - t0;
    }
    printf("users=%ld events=%ld ingest_exposures_per_s=%.0f ingest_events_per_s=%.0f "
           "results_ms=%.3f rebuild_sql_ms=%.1f ratio=%.0f\n",
           users, events, (double)users / t_expo, (double)events / t_events, times[4] * 1e3,
           t_rebuild * 1e3, t_rebuild / times[4]);
    experiment_clear(&su.x);
    store_rules_free(rs);
    free(ids);
    free(b.x);
    free(b.e);
    store_close(s);
    return 0;
}
