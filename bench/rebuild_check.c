/*
 * bench/rebuild_check.c - do the roll-ups left by a chunked rebuild (and the ingestion
 * around it) equal a full recompute from the raw rows?
 *
 * Opens the database of a stopped daemon, copies experiment EXP's roll-ups (metric_stats,
 * metric_daily, exposure_stats), recomputes them with store_rollup_rebuild() (one
 * set-based transaction) using the rules of the stored definitions, and compares: counts
 * exactly, sums to 1e-9 relative. Prints the comparison; exit 0 when equal.
 *
 * usage: rebuild_check DB EXP
 */
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/model.h"
#include "bunsen/store.h"
#include "bunsen/util.h"

#define HOUR_MS 3600000LL
#define MAXROWS 200000

struct row {
    char key[200];
    long long n;
    double v[5];
};

static int read_rows(sqlite3 *db, const char *exp, struct row *rows)
{
    static const char *const sql[] = {
        "SELECT 'S|' || metric || '|' || variant, n, s, q, sx, qx, p FROM metric_stats "
        "WHERE experiment = ?1",
        "SELECT 'D|' || metric || '|' || variant || '|' || day, dn, ds, dq, 0, 0, 0 FROM "
        "metric_daily WHERE experiment = ?1",
        "SELECT 'X|' || variant, users, conflicts, 0, 0, 0, 0 FROM exposure_stats WHERE "
        "experiment = ?1 ORDER BY 1",
    };
    int n = 0;
    for (int k = 0; k < 3; k++) {
        sqlite3_stmt *st;
        char q[400];
        snprintf(q, sizeof(q), "%s ORDER BY 1", sql[k]);
        if (k == 2) {
            snprintf(q, sizeof(q), "%s", sql[k]);
        }
        if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
            fprintf(stderr, "check: %s\n", sqlite3_errmsg(db));
            return -1;
        }
        sqlite3_bind_text(st, 1, exp, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW && n < MAXROWS) {
            struct row *r = &rows[n++];
            snprintf(r->key, sizeof(r->key), "%s", (const char *)sqlite3_column_text(st, 0));
            r->n = sqlite3_column_int64(st, 1);
            for (int i = 0; i < 5; i++) {
                r->v[i] = sqlite3_column_double(st, 2 + i);
            }
        }
        sqlite3_finalize(st);
    }
    return n;
}

struct full {
    const char *exp;
    int64_t stop;
    const struct store_rule *const *rules;
    size_t n;
};

static int full_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct full *f = arg;
    return store_rollup_rebuild(tx, f->exp, f->stop, f->rules, f->n, err);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DB EXP\n", argv[0]);
        return 2;
    }
    const char *exp = argv[2];
    sqlite3 *db;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) {
        return 1;
    }
    struct row *before = calloc(MAXROWS, sizeof(*before));
    struct row *after = calloc(MAXROWS, sizeof(*after));
    int nb = read_rows(db, exp, before);
    struct store *s = NULL;
    struct err err;
    err_clear(&err);
    if (nb < 0 || store_open(argv[1], &s, &err) != 0) {
        fprintf(stderr, "check: %s\n", err.msg);
        return 1;
    }
    char *doc = NULL;
    if (store_experiment_get(s, NULL, exp, &doc, &err) != 0) {
        fprintf(stderr, "check: %s\n", err.msg);
        return 1;
    }
    json_t *j = json_loads(doc, 0, NULL);
    free(doc);
    struct experiment x;
    if (experiment_from_json(j, MODEL_LOAD, NULL, &x, &err) != 0) {
        fprintf(stderr, "check: %s\n", err.msg);
        return 1;
    }
    json_decref(j);
    struct store_rule rules[64];
    const struct store_rule *ptrs[64];
    size_t nr = 0;
    for (size_t i = 0; i < x.nmetrics && nr < 64; i++) {
        if (store_metric_get(s, NULL, x.metrics[i], &doc, &err) != 0) {
            fprintf(stderr, "check: %s\n", err.msg);
            return 1;
        }
        json_t *mj = json_loads(doc, 0, NULL);
        free(doc);
        struct metric m;
        if (metric_from_json(mj, MODEL_LOAD, NULL, &m, &err) != 0) {
            fprintf(stderr, "check: %s\n", err.msg);
            return 1;
        }
        json_decref(mj);
        if (m.type == STATS_METRIC_RATIO) {
            continue; /* no rule of its own: its parts are the experiment's metrics here */
        }
        struct store_rule *r = &rules[nr];
        memset(r, 0, sizeof(*r));
        snprintf(r->experiment, sizeof(r->experiment), "%s", exp);
        snprintf(r->metric, sizeof(r->metric), "%s", m.key);
        snprintf(r->event, sizeof(r->event), "%s", m.event);
        r->type = m.type == STATS_METRIC_BINOMIAL ? RULE_BINOMIAL
                  : m.type == STATS_METRIC_COUNT  ? RULE_COUNT
                                                  : RULE_SUM;
        r->window_ms = m.has_window ? m.window_hours * HOUR_MS : 0;
        r->has_cap = m.has_cap;
        r->cap = m.cap;
        r->lookback_ms = m.cuped_lookback_hours * HOUR_MS;
        r->stop_ts = x.stopped_at;
        ptrs[nr] = r;
        nr++;
    }
    struct full f = {exp, x.stopped_at, ptrs, nr};
    double t0 = (double)time_mono_ns();
    if (store_write_sync(s, full_apply, &f, &err) != 0) {
        fprintf(stderr, "check: %s\n", err.msg);
        return 1;
    }
    double full_ms = ((double)time_mono_ns() - t0) / 1e6;
    store_close(s);
    int na = read_rows(db, exp, after);
    int bad = 0;
    double worst = 0;
    if (na != nb) {
        printf("rows differ: %d after the chunked rebuild, %d in the full recompute\n", nb, na);
        bad++;
    }
    for (int i = 0; i < na && i < nb; i++) {
        if (strcmp(before[i].key, after[i].key) != 0 || before[i].n != after[i].n) {
            if (bad++ < 10) {
                printf("differs: %s n=%lld vs %s n=%lld\n", before[i].key, before[i].n,
                       after[i].key, after[i].n);
            }
            continue;
        }
        for (int k = 0; k < 5; k++) {
            double a = before[i].v[k], b = after[i].v[k];
            double rel = fabs(a - b) / (fabs(b) > 1 ? fabs(b) : 1);
            worst = rel > worst ? rel : worst;
            if (rel > 1e-9 && bad++ < 10) {
                printf("differs: %s value %d: %.17g vs %.17g\n", before[i].key, k, a, b);
            }
        }
    }
    printf("rollup_rows=%d full_recompute_ms=%.0f worst_relative_difference=%.3g equal=%s\n", na,
           full_ms, worst, bad == 0 ? "yes" : "NO");
    sqlite3_close(db);
    experiment_clear(&x);
    return bad == 0 ? 0 : 1;
}
