/*
 * bench/eval.c - how long does targeting take for every running experiment?
 *
 * Builds a snapshot of N running experiments (default 1,000) the way the daemon does
 * (experiment_from_json, snapshot_seal: conditions compiled, $in lists as sets, regexes
 * JIT-compiled) with a typical mix of targeting conditions (none; country $in a 20-country
 * list; plan equality and version $vgte; $regex on an email domain; a 5,000-id $in
 * allow-list; $or of two rules), then decides every experiment for a typical attribute set
 * (id, country, plan, app version, email, device, a 5-element tags array), as POST
 * /assign without "experiments" does: assign_decide_budget() under one per-request
 * budget. Prints the median and p99 CPU time (thread CPU clock, so that other processes on
 * a shared machine do not count) of one whole request (all N experiments), the budget it used, and
 * the same with the conditions evaluated uncompiled (condition_eval, the previous path) as the
 * reference measured in the same run. The two paths run in separate loops (warm caches, as
 * in a daemon serving one request after another); run interleaved, the compiled path's
 * median is about 2.5x higher because the reference evicts its working set.
 *
 * build and run:  make && sh bench/eval.sh [N]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bunsen/assign.h"
#include "bunsen/condition.h"
#include "bunsen/model.h"
#include "bunsen/snapshot.h"

#define ROUNDS 201

/* CPU time of this thread: on a shared machine the wall clock measures the neighbours. */
static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static json_t *targeting_for(int i)
{
    switch (i % 6) {
    case 0:
        return NULL;
    case 1: {
        static const char *cc[] = {"US", "CA", "MX", "BR", "AR", "GB", "IE", "FR", "DE", "NL",
                                   "BE", "ES", "PT", "IT", "SE", "NO", "DK", "FI", "PL", "JP"};
        json_t *l = json_array();
        for (int k = 0; k < 20; k++) {
            json_array_append_new(l, json_string(cc[(k + i) % 20]));
        }
        return json_pack("{s:{s:o}}", "country", "$in", l);
    }
    case 2:
        return json_pack("{s:s, s:{s:s}}", "plan", i % 12 == 2 ? "pro" : "free", "version", "$vgte",
                         "2.3.0");
    case 3:
        return json_pack("{s:{s:s}}", "email", "$regex", "@(example|test)\\.com$");
    case 4: {
        json_t *l = json_array();
        for (int k = 0; k < 5000; k++) {
            json_array_append_new(l, json_sprintf("user-%d", k * 7 + i));
        }
        return json_pack("{s:{s:o}}", "id", "$in", l);
    }
    default:
        return json_pack("{s:[{s:s}, {s:{s:s}}]}", "$or", "device", "ios", "tags", "$elemMatch",
                         "$eq", "beta");
    }
}

static double run(const struct snapshot *s, const json_t *attrs, bool compiled, long *used)
{
    struct condition_budget b = {.left = 1000000000L};
    double t0 = now_us();
    int in = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct assign_experiment a = s->entries[i]->a;
        if (!compiled) {
            a.compiled = NULL;
        }
        struct assign_result r;
        if (assign_decide_budget(&a, NULL, "user-4242", 9, attrs, &b, &r, NULL) != 0) {
            fprintf(stderr, "eval: decide failed\n");
            exit(1);
        }
        in += r.in_experiment;
    }
    double t = now_us() - t0;
    *used = 1000000000L - b.left;
    return in >= 0 ? t : t;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    struct snapshot *s = snapshot_new();
    for (int i = 0; i < n; i++) {
        json_t *doc = json_pack("{s:s, s:s, s:[{s:s}, {s:s}]}", "key", "", "status", "running",
                                "variants", "key", "control", "key", "treatment");
        json_object_set_new(doc, "key", json_sprintf("exp-%05d", i));
        json_t *t = targeting_for(i);
        if (t != NULL) {
            json_object_set_new(doc, "targeting", t);
        }
        struct experiment x;
        struct err err;
        if (experiment_from_json(doc, MODEL_LOAD, NULL, &x, &err) != 0) {
            fprintf(stderr, "eval: experiment %d: %s %s\n", i, err.field, err.msg);
            return 1;
        }
        snapshot_add(s, &x, 0);
        json_decref(doc);
    }
    double t0 = now_us();
    snapshot_seal(s);
    double seal_ms = (now_us() - t0) / 1e3;
    json_t *attrs =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s,s,s,s,s]}", "id", "user-4242", "country",
                  "NL", "plan", "pro", "version", "2.4.1", "email", "ann@example.com", "device",
                  "android", "tags", "a", "b", "beta", "c", "d");
    double c[ROUNDS], u[ROUNDS];
    long used = 0, used_u = 0;
    /* Each path in its own loop: interleaved, the uncompiled walk over the 5,000-id lists
     * evicts the compiled path's working set from the caches before every round, and a
     * daemon evaluates compiled conditions request after request. */
    for (int r = 0; r < ROUNDS; r++) {
        c[r] = run(s, attrs, true, &used);
    }
    for (int r = 0; r < ROUNDS; r++) {
        u[r] = run(s, attrs, false, &used_u);
    }
    qsort(c, ROUNDS, sizeof(double), cmp);
    qsort(u, ROUNDS, sizeof(double), cmp);
    printf("experiments %d  seal %.1f ms (CPU)  compiled: median %.0f us, p99 %.0f us, budget used "
           "%ld "
           "of %d steps  |  uncompiled (reference): median %.0f us, p99 %.0f us  |  ratio %.1fx\n",
           n, seal_ms, c[ROUNDS / 2], c[ROUNDS * 99 / 100], used, CONDITION_BUDGET_DEFAULT,
           u[ROUNDS / 2], u[ROUNDS * 99 / 100], u[ROUNDS / 2] / c[ROUNDS / 2]);
    json_decref(attrs);
    snapshot_free(s);
    return 0;
}
