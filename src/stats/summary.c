/*
 * summary.c - the small shared pieces of the stats engine: optional numbers, warning
 * text, the API names of the stats enums, and per-arm validation and moments
 * (STATS.md "Sufficient statistics per variant").
 * Pure functions without state; any thread may enter.
 */
#include "bunsen/stats.h"

#include <math.h>
#include <string.h>

struct stats_opt stats_opt_of(double v)
{
    struct stats_opt o = {0.0, false};
    if (isfinite(v)) {
        o.value = v;
        o.present = true;
    }
    return o;
}

struct stats_opt stats_opt_none(void)
{
    struct stats_opt o = {0.0, false};
    return o;
}

void stats_warning_add(char *w, const char *msg)
{
    if (w == NULL || msg == NULL || msg[0] == '\0' || strstr(w, msg) != NULL) {
        return;
    }
    size_t len = strlen(w);
    if (len > 0 && len + 2 < STATS_WARNING_MAX) {
        memcpy(w + len, "; ", 2);
        len += 2;
        w[len] = '\0';
    }
    size_t room = STATS_WARNING_MAX - 1 - len;
    size_t n = strlen(msg);
    if (n > room) {
        n = room;
    }
    memcpy(w + len, msg, n);
    w[len + n] = '\0';
}

/* Names indexed by enum value; the parse functions search the same tables. */
static const char *const type_names[] = {"binomial", "count", "sum", "ratio"};
static const char *const goal_names[] = {"increase", "decrease"};
static const char *const method_names[] = {"frequentist", "bayesian", "sequential"};
static const char *const correction_names[] = {"none", "holm", "bh"};

#define NAMES_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t len, unsigned v)
{
    return v < len ? names[v] : "unknown";
}

/* Index of name in names, or -1. */
static int index_of(const char *const *names, size_t len, const char *name)
{
    if (name == NULL) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (strcmp(names[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *stats_metric_type_name(enum stats_metric_type t)
{
    return name_of(type_names, NAMES_LEN(type_names), (unsigned)t);
}

const char *stats_goal_name(enum stats_goal g)
{
    return name_of(goal_names, NAMES_LEN(goal_names), (unsigned)g);
}

const char *stats_method_name(enum stats_method m)
{
    return name_of(method_names, NAMES_LEN(method_names), (unsigned)m);
}

const char *stats_correction_name(enum stats_correction c)
{
    return name_of(correction_names, NAMES_LEN(correction_names), (unsigned)c);
}

int stats_metric_type_parse(const char *name, enum stats_metric_type *out)
{
    int i = index_of(type_names, NAMES_LEN(type_names), name);
    if (i < 0) {
        return -1;
    }
    *out = (enum stats_metric_type)i;
    return 0;
}

int stats_goal_parse(const char *name, enum stats_goal *out)
{
    int i = index_of(goal_names, NAMES_LEN(goal_names), name);
    if (i < 0) {
        return -1;
    }
    *out = (enum stats_goal)i;
    return 0;
}

int stats_method_parse(const char *name, enum stats_method *out)
{
    int i = index_of(method_names, NAMES_LEN(method_names), name);
    if (i < 0) {
        return -1;
    }
    *out = (enum stats_method)i;
    return 0;
}

int stats_correction_parse(const char *name, enum stats_correction *out)
{
    int i = index_of(correction_names, NAMES_LEN(correction_names), name);
    if (i < 0) {
        return -1;
    }
    *out = (enum stats_correction)i;
    return 0;
}

int stats_arm_check(enum stats_metric_type type, const struct stats_arm *arm, struct err *err)
{
    if (arm == NULL) {
        return err_set(err, ERR_INVALID, "arm", "missing arm statistics");
    }
    if (arm->n < 0) {
        return err_set(err, ERR_INVALID, "arm", "negative user count %lld", (long long)arm->n);
    }
    if (!isfinite(arm->s) || !isfinite(arm->q) || !isfinite(arm->sx) || !isfinite(arm->qx) ||
        !isfinite(arm->p) || !isfinite(arm->shift_y) || !isfinite(arm->shift_x) ||
        !isfinite(arm->s_lo) || !isfinite(arm->q_lo) || !isfinite(arm->sx_lo) ||
        !isfinite(arm->qx_lo) || !isfinite(arm->p_lo)) {
        return err_set(err, ERR_INVALID, "arm", "non-finite sum in arm statistics");
    }
    if (type == STATS_METRIC_BINOMIAL) {
        if (arm->shift_y != 0) {
            return err_set(err, ERR_INVALID, "arm", "binomial sums must not be shifted");
        }
        if (arm->s < 0 || arm->s > (double)arm->n || arm->s != floor(arm->s)) {
            return err_set(err, ERR_INVALID, "arm",
                           "binomial conversions %.17g not an integer in [0, %lld]", arm->s,
                           (long long)arm->n);
        }
    } else if (type != STATS_METRIC_COUNT && type != STATS_METRIC_SUM) {
        return err_set(err, ERR_INVALID, "type", "unknown metric type %d", (int)type);
    }
    return 0;
}

int stats_arm_moments(enum stats_metric_type type, const struct stats_arm *arm,
                      struct stats_moments *out, struct err *err)
{
    out->mean = stats_opt_none();
    out->variance = stats_opt_none();
    out->stddev = stats_opt_none();
    if (stats_arm_check(type, arm, err) != 0) {
        return -1;
    }
    if (arm->n < 1) {
        return 0;
    }
    double n = (double)arm->n;
    double c = arm->s / n; /* mean of y - cy */
    double m = arm->shift_y + c;
    double v;
    if (type == STATS_METRIC_BINOMIAL) {
        v = m * (1.0 - m);
    } else if (arm->n < 2) {
        out->mean = stats_opt_of(m);
        return 0;
    } else {
        v = (arm->q - arm->s * c) / (n - 1.0);
    }
    if (v < 0) {
        v = 0; /* rounding in Q - S^2/n when all values are (nearly) equal */
    }
    out->mean = stats_opt_of(m);
    out->variance = stats_opt_of(v);
    out->stddev = stats_opt_of(sqrt(v));
    return 0;
}

double stats_arm_sum(const struct stats_arm *arm)
{
    return (double)arm->n * arm->shift_y + arm->s;
}
