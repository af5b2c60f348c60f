/*
 * ingest.c - events and exposures into the database, with incremental attribution
 * (store.h "Ingestion and attribution").
 *
 * For each stored event the writer finds the user's exposures and, for every rule of
 * those experiments that counts this event, moves the user's raw value in user_metrics
 * and applies the change of the user's per-user value y (or covariate x) to the
 * experiment's metric_stats as deltas of n, S, Q, Sx, Qx, P, plus metric_daily.
 * A new first exposure computes the user's values from the events already stored
 * (events may arrive before exposures); an exposure that replaces the kept one (earlier
 * timestamp arriving late) removes the user's contribution and adds it again.
 * Runs on the writer thread, inside the caller's transaction.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "store_int.h"

#define DAY_MS 86400000
#define NO_END INT64_MAX

/* ---- rules ---- */

static int rule_cmp_event(const void *a, const void *b)
{
    const struct store_rule *x = a, *y = b;
    int c = strcmp(x->event, y->event);
    if (c == 0) {
        c = strcmp(x->experiment, y->experiment);
    }
    return c != 0 ? c : strcmp(x->metric, y->metric);
}

static int rule_cmp_exp(const void *a, const void *b)
{
    const struct store_rule *x = *(const struct store_rule *const *)a;
    const struct store_rule *y = *(const struct store_rule *const *)b;
    int c = strcmp(x->experiment, y->experiment);
    return c != 0 ? c : strcmp(x->metric, y->metric);
}

struct store_rules *store_rules_new(struct store_rule *rules, size_t n)
{
    struct store_rules *r = xcalloc(1, sizeof(*r));
    r->n = n;
    r->by_event = rules;
    if (n > 1) {
        qsort(rules, n, sizeof(*rules), rule_cmp_event);
    }
    r->by_exp = xcalloc(n ? n : 1, sizeof(*r->by_exp));
    for (size_t i = 0; i < n; i++) {
        r->by_exp[i] = &rules[i];
    }
    if (n > 1) {
        qsort(r->by_exp, n, sizeof(*r->by_exp), rule_cmp_exp);
    }
    return r;
}

void store_rules_free(struct store_rules *r)
{
    if (r != NULL) {
        free(r->by_event);
        free(r->by_exp);
        free(r);
    }
}

const struct store_rule *const *store_rules_for_experiment(const struct store_rules *r,
                                                           const char *experiment, size_t *count)
{
    *count = 0;
    if (r == NULL) {
        return NULL;
    }
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(r->by_exp[mid]->experiment, experiment) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    size_t end = lo;
    while (end < r->n && strcmp(r->by_exp[end]->experiment, experiment) == 0) {
        end++;
    }
    *count = end - lo;
    return r->by_exp + lo;
}

/* First rule for event name, and how many share it. */
static const struct store_rule *rules_for_event(const struct store_rules *r, const char *event,
                                                size_t *count)
{
    *count = 0;
    if (r == NULL || r->n == 0) {
        return NULL;
    }
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(r->by_event[mid].event, event) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    size_t end = lo;
    while (end < r->n && strcmp(r->by_event[end].event, event) == 0) {
        end++;
    }
    *count = end - lo;
    return r->by_event + lo;
}

/* ---- per-user values ---- */

/* The per-user value of STATS.md from a raw count or sum: binomial -> 0/1, then the cap. */
static double rule_value(const struct store_rule *r, double raw)
{
    double y = r->type == RULE_BINOMIAL ? (raw > 0 ? 1.0 : 0.0) : raw;
    return r->has_cap && y > r->cap ? r->cap : y;
}

/* End (exclusive) of the metric window for a user first exposed at t0. */
static int64_t window_end(const struct store_rule *r, int64_t t0)
{
    int64_t end = r->window_ms > 0 && t0 <= NO_END - r->window_ms ? t0 + r->window_ms : NO_END;
    return r->stop_ts > 0 && r->stop_ts < end ? r->stop_ts : end;
}

static const char SQL_RAW[] = "SELECT COUNT(*), TOTAL(value) FROM events "
                              "WHERE user_id = ? AND event = ? AND ts >= ? AND ts < ?";

static int raw_between(struct conn *c, const struct store_rule *r, const char *user, int64_t from,
                       int64_t to, double *raw, struct err *err)
{
    *raw = 0;
    if (from >= to) {
        return 0;
    }
    sqlite3_stmt *st = conn_prepare(c, SQL_RAW, err);
    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, user);
    bind_text(st, 2, r->event);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int64(st, 4, to);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *raw = r->type == RULE_SUM ? sqlite3_column_double(st, 1)
                                   : (double)sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : store_sqlite_err(c->db, rc, "read events", err);
}

/* ---- batched roll-up deltas ----
 * Within one ingest call, changes to metric_stats, metric_daily and exposure_stats are
 * summed in memory per key and written once at the end (flush): a 10,000-row batch
 * touches a few dozen roll-up rows instead of tens of thousands. */

#define AGG_BUCKETS 1024

struct agg_entry {
    struct agg_entry *next;
    int kind;                        /* 0 metric_stats, 1 metric_daily, 2 exposure_stats */
    const char *experiment, *metric; /* borrowed from rules / exposures of this call */
    char variant[65];
    int64_t day;
    int64_t dn, dconf;
    double ds, dq, dsx, dqx, dp;
};

struct agg {
    struct agg_entry *buckets[AGG_BUCKETS];
};

struct ingest {
    struct conn *c;
    const struct store_rules *rules;
    struct agg agg;
};

static uint32_t agg_hash(int kind, const char *a, const char *b, const char *v, int64_t day)
{
    uint32_t h = 2166136261u ^ (uint32_t)kind;
    const char *parts[] = {a, b ? b : "", v};
    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i]; *p; p++) {
            h = (h ^ (unsigned char)*p) * 16777619u;
        }
        h = (h ^ 0xff) * 16777619u;
    }
    return (h ^ (uint32_t)day ^ (uint32_t)(day >> 32)) % AGG_BUCKETS;
}

static struct agg_entry *agg_get(struct agg *g, int kind, const char *exp, const char *metric,
                                 const char *variant, int64_t day)
{
    uint32_t h = agg_hash(kind, exp, metric, variant, day);
    for (struct agg_entry *e = g->buckets[h]; e != NULL; e = e->next) {
        if (e->kind == kind && e->day == day && strcmp(e->experiment, exp) == 0 &&
            (metric == NULL || strcmp(e->metric, metric) == 0) &&
            strcmp(e->variant, variant) == 0) {
            return e;
        }
    }
    struct agg_entry *e = xcalloc(1, sizeof(*e));
    e->kind = kind;
    e->experiment = exp;
    e->metric = metric;
    snprintf(e->variant, sizeof(e->variant), "%s", variant);
    e->day = day;
    e->next = g->buckets[h];
    g->buckets[h] = e;
    return e;
}

/* Record the change of one user's (y, x) from old to new (dn = users added: -1, 0, 1). */
static void stats_change(struct ingest *in, const struct store_rule *r, const char *variant,
                         int64_t day, int dn, double y0, double y1, double x0, double x1)
{
    struct agg_entry *e = agg_get(&in->agg, 0, r->experiment, r->metric, variant, 0);
    e->dn += dn;
    e->ds += y1 - y0;
    e->dq += y1 * y1 - y0 * y0;
    e->dsx += x1 - x0;
    e->dqx += x1 * x1 - x0 * x0;
    e->dp += x1 * y1 - x0 * y0;
    if (dn != 0 || y0 != y1) {
        e = agg_get(&in->agg, 1, r->experiment, r->metric, variant, day);
        e->dn += dn;
        e->ds += y1 - y0;
        e->dq += y1 * y1 - y0 * y0;
    }
}

static void expostat(struct ingest *in, const char *exp, const char *variant, int users,
                     int conflicts)
{
    struct agg_entry *e = agg_get(&in->agg, 2, exp, NULL, variant, 0);
    e->dn += users;
    e->dconf += conflicts;
}

static const char SQL_STATS_ADD[] =
    "INSERT INTO metric_stats (experiment, metric, variant, n, s, q, sx, qx, p) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (experiment, metric, variant) DO "
    "UPDATE SET n = n + ?4, s = s + ?5, q = q + ?6, sx = sx + ?7, qx = qx + ?8, p = p + ?9";
static const char SQL_DAILY_ADD[] =
    "INSERT INTO metric_daily (experiment, metric, variant, day, dn, ds, dq) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (experiment, metric, variant, day) DO "
    "UPDATE SET dn = dn + ?5, ds = ds + ?6, dq = dq + ?7";
static const char SQL_EXPOSTAT_ADD[] =
    "INSERT INTO exposure_stats (experiment, variant, users, conflicts) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (experiment, variant) DO UPDATE SET users = users + ?3, "
    "conflicts = conflicts + ?4";

static int flush_entry(struct conn *c, const struct agg_entry *e, struct err *err)
{
    static const char *const sqls[] = {SQL_STATS_ADD, SQL_DAILY_ADD, SQL_EXPOSTAT_ADD};
    sqlite3_stmt *st = conn_prepare(c, sqls[e->kind], err);
    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, e->experiment);
    if (e->kind == 2) {
        bind_text(st, 2, e->variant);
        sqlite3_bind_int64(st, 3, e->dn);
        sqlite3_bind_int64(st, 4, e->dconf);
    } else {
        bind_text(st, 2, e->metric);
        bind_text(st, 3, e->variant);
        int k = 4;
        if (e->kind == 1) {
            sqlite3_bind_int64(st, k++, e->day);
        }
        sqlite3_bind_int64(st, k++, e->dn);
        sqlite3_bind_double(st, k++, e->ds);
        sqlite3_bind_double(st, k++, e->dq);
        if (e->kind == 0) {
            sqlite3_bind_double(st, k++, e->dsx);
            sqlite3_bind_double(st, k++, e->dqx);
            sqlite3_bind_double(st, k, e->dp);
        }
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "update roll-ups", err);
}

/* Write every accumulated delta (when rc == 0) and free the accumulator. */
static int flush(struct ingest *in, int rc, struct err *err)
{
    for (int b = 0; b < AGG_BUCKETS; b++) {
        struct agg_entry *e = in->agg.buckets[b];
        while (e != NULL) {
            struct agg_entry *next = e->next;
            if (rc == 0) {
                rc = flush_entry(in->c, e, err);
            }
            free(e);
            e = next;
        }
        in->agg.buckets[b] = NULL;
    }
    return rc;
}

static const char SQL_UM_GET[] =
    "SELECT y_raw, x_raw FROM user_metrics WHERE user_id = ? AND experiment = ? AND metric = ?";
static const char SQL_UM_PUT[] = "INSERT OR REPLACE INTO user_metrics (user_id, experiment, "
                                 "metric, y_raw, x_raw) VALUES (?, ?, ?, ?, ?)";
static const char SQL_UM_ADD[] =
    "INSERT INTO user_metrics (user_id, experiment, metric, y_raw, x_raw) VALUES (?1, ?2, ?3, "
    "?4, ?5) ON CONFLICT (user_id, experiment, metric) DO UPDATE SET y_raw = y_raw + ?4, "
    "x_raw = x_raw + ?5";
static const char SQL_UM_DEL[] =
    "DELETE FROM user_metrics WHERE user_id = ? AND experiment = ? AND metric = ?";

static int um_get(struct conn *c, const struct store_rule *r, const char *user, double *y,
                  double *x, bool *found, struct err *err)
{
    sqlite3_stmt *st = conn_prepare(c, SQL_UM_GET, err);
    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, user);
    bind_text(st, 2, r->experiment);
    bind_text(st, 3, r->metric);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    *y = *found ? sqlite3_column_double(st, 0) : 0;
    *x = *found ? sqlite3_column_double(st, 1) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                 : store_sqlite_err(c->db, rc, "read user", err);
}

static int um_write(struct conn *c, const char *sql, const struct store_rule *r, const char *user,
                    double y, double x, struct err *err)
{
    sqlite3_stmt *st = conn_prepare(c, sql, err);
    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, user);
    bind_text(st, 2, r->experiment);
    bind_text(st, 3, r->metric);
    if (sql == SQL_UM_PUT) {
        sqlite3_bind_double(st, 4, y);
        sqlite3_bind_double(st, 5, x);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "write user", err);
}

static const char SQL_USER_HAS_EVENTS[] = "SELECT 1 FROM events WHERE user_id = ? LIMIT 1";

static int user_has_events(struct conn *c, const char *user, bool *has, struct err *err)
{
    sqlite3_stmt *st = conn_prepare(c, SQL_USER_HAS_EVENTS, err);
    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, user);
    int rc = sqlite3_step(st);
    *has = rc == SQLITE_ROW;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                 : store_sqlite_err(c->db, rc, "read events", err);
}

/* Add (sign +1) or remove (-1) a user exposed at t0 to variant from every rule's roll-up.
 * user_metrics holds a row only for users with a non-zero raw value: no row means 0. */
static int attribute_user(struct ingest *in, const char *exp, const char *user, const char *variant,
                          int64_t t0, int sign, struct err *err)
{
    size_t n = 0;
    const struct store_rule *const *rs = store_rules_for_experiment(in->rules, exp, &n);
    if (n == 0) {
        return 0;
    }
    bool has = true;
    if (sign > 0 && user_has_events(in->c, user, &has, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_rule *r = rs[i];
        double yraw = 0, xraw = 0;
        if (sign > 0 && has) {
            if (raw_between(in->c, r, user, t0, window_end(r, t0), &yraw, err) != 0 ||
                (r->lookback_ms > 0 &&
                 raw_between(in->c, r, user, t0 - r->lookback_ms, t0, &xraw, err) != 0) ||
                ((yraw != 0 || xraw != 0) &&
                 um_write(in->c, SQL_UM_PUT, r, user, yraw, xraw, err) != 0)) {
                return -1;
            }
        } else if (sign < 0) {
            bool found = false;
            if (um_get(in->c, r, user, &yraw, &xraw, &found, err) != 0 ||
                (found && um_write(in->c, SQL_UM_DEL, r, user, 0, 0, err) != 0)) {
                return -1;
            }
        }
        double y = rule_value(r, yraw), x = rule_value(r, xraw);
        if (sign > 0) {
            stats_change(in, r, variant, t0 / DAY_MS, 1, 0, y, 0, x);
        } else {
            stats_change(in, r, variant, t0 / DAY_MS, -1, y, 0, x, 0);
        }
    }
    return 0;
}

/* ---- exposures ---- */

static const char SQL_EXPO_GET[] =
    "SELECT variant, ts FROM exposures WHERE user_id = ? AND experiment = ?";
static const char SQL_EXPO_INSERT[] =
    "INSERT INTO exposures (user_id, experiment, variant, ts) VALUES (?, ?, ?, ?)";
static const char SQL_EXPO_SET[] = "UPDATE exposures SET variant = ?3, ts = ?4, "
                                   "conflicts = conflicts + ?5 WHERE user_id = ?1 AND "
                                   "experiment = ?2";

static int exposure_set(struct conn *c, const struct store_exposure *x, const char *variant,
                        int64_t ts, int conflict, struct err *err)
{
    sqlite3_stmt *st = conn_prepare(c, SQL_EXPO_SET, err);
    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, x->user_id);
    bind_text(st, 2, x->experiment);
    bind_text(st, 3, variant);
    sqlite3_bind_int64(st, 4, ts);
    sqlite3_bind_int(st, 5, conflict);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "update exposure", err);
}

static int ingest_exposure(struct ingest *in, const struct store_exposure *x,
                           struct store_ingest_counts *counts, struct err *err)
{
    struct conn *c = in->c;
    sqlite3_stmt *st = conn_prepare(c, SQL_EXPO_GET, err);
    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, x->user_id);
    bind_text(st, 2, x->experiment);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        st = conn_prepare(c, SQL_EXPO_INSERT, err);
        if (st == NULL) {
            return -1;
        }
        bind_text(st, 1, x->user_id);
        bind_text(st, 2, x->experiment);
        bind_text(st, 3, x->variant);
        sqlite3_bind_int64(st, 4, x->ts);
        if (conn_step_done(c, st, "insert exposure", err) != 0) {
            return -1;
        }
        counts->accepted++;
        expostat(in, x->experiment, x->variant, 1, 0);
        return attribute_user(in, x->experiment, x->user_id, x->variant, x->ts, 1, err);
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return store_sqlite_err(c->db, rc, "read exposure", err);
    }
    char kept[65];
    column_copy(st, 0, kept, sizeof(kept));
    int64_t kept_ts = sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    bool same = strcmp(kept, x->variant) == 0;
    if (same) {
        counts->duplicates++;
    } else {
        counts->conflicts++;
    }
    if (x->ts >= kept_ts) {
        /* the kept exposure stays first; a different variant is a conflict */
        if (same) {
            return 0;
        }
        expostat(in, x->experiment, kept, 0, 1);
        return exposure_set(c, x, kept, kept_ts, 1, err);
    }
    /* An earlier exposure arrived late: it becomes the first one. */
    if (attribute_user(in, x->experiment, x->user_id, kept, kept_ts, -1, err) != 0 ||
        exposure_set(c, x, x->variant, x->ts, same ? 0 : 1, err) != 0) {
        return -1;
    }
    if (!same) {
        expostat(in, x->experiment, kept, -1, 1);
        expostat(in, x->experiment, x->variant, 1, 0);
    }
    return attribute_user(in, x->experiment, x->user_id, x->variant, x->ts, 1, err);
}

int store_ingest_exposures(struct store_tx *tx, const struct store_rules *rules,
                           const struct store_exposure *exposures, size_t n,
                           struct store_ingest_counts *counts, struct err *err)
{
    struct ingest in = {.c = tx->conn, .rules = rules};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = ingest_exposure(&in, &exposures[i], counts, err);
    }
    return flush(&in, rc, err);
}

/* ---- events ---- */

static const char SQL_EVENT_INSERT[] =
    "INSERT OR IGNORE INTO events (user_id, event, ts, value, id) VALUES (?, ?, ?, ?, ?)";
static const char SQL_USER_EXPOSURES[] =
    "SELECT experiment, variant, ts FROM exposures WHERE user_id = ?";

struct user_exposure {
    char experiment[65];
    char variant[65];
    int64_t t0;
};

/* Apply one stored event to one rule of an experiment the user is exposed to. */
static int attribute_event(struct ingest *in, const struct store_rule *r,
                           const struct user_exposure *ux, const struct store_event *e,
                           struct err *err)
{
    bool in_y = e->ts >= ux->t0 && e->ts < window_end(r, ux->t0);
    bool in_x = r->lookback_ms > 0 && e->ts < ux->t0 && e->ts >= ux->t0 - r->lookback_ms;
    if (!in_y && !in_x) {
        return 0;
    }
    /* Read, then add the increment with one upsert. (An UPSERT ... RETURNING would save the
     * read but opens a statement journal whose release, inside the job's savepoint, walks
     * the whole sub-journal: quadratic in the request size. Measured in bench/ingest.sh.) */
    double yraw = 0, xraw = 0;
    bool found = false;
    if (um_get(in->c, r, e->user_id, &yraw, &xraw, &found, err) != 0) {
        return -1;
    }
    double inc = r->type == RULE_SUM ? e->value : 1.0;
    sqlite3_stmt *st = conn_prepare(in->c, SQL_UM_ADD, err);
    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, e->user_id);
    bind_text(st, 2, r->experiment);
    bind_text(st, 3, r->metric);
    sqlite3_bind_double(st, 4, in_y ? inc : 0.0);
    sqlite3_bind_double(st, 5, in_y ? 0.0 : inc);
    if (conn_step_done(in->c, st, "update user value", err) != 0) {
        return -1;
    }
    double y0 = rule_value(r, yraw), x0 = rule_value(r, xraw);
    double y1 = in_y ? rule_value(r, yraw + inc) : y0;
    double x1 = in_y ? x0 : rule_value(r, xraw + inc);
    stats_change(in, r, ux->variant, (in_y ? e->ts : ux->t0) / DAY_MS, 0, y0, y1, x0, x1);
    return 0;
}

static int ingest_event(struct ingest *in, const struct store_event *e,
                        struct store_ingest_counts *counts, struct err *err)
{
    struct conn *c = in->c;
    sqlite3_stmt *st = conn_prepare(c, SQL_EVENT_INSERT, err);
    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, e->user_id);
    bind_text(st, 2, e->event);
    sqlite3_bind_int64(st, 3, e->ts);
    sqlite3_bind_double(st, 4, e->value);
    bind_text(st, 5, e->id);
    if (conn_step_done(c, st, "insert event", err) != 0) {
        return -1;
    }
    if (sqlite3_changes(c->db) == 0) {
        counts->duplicates++;
        return 0;
    }
    counts->accepted++;
    size_t nr = 0;
    const struct store_rule *rs = rules_for_event(in->rules, e->event, &nr);
    if (nr == 0) {
        return 0; /* no metric counts this event: stored for later, nothing to update */
    }
    /* Copy the user's exposures first: the roll-up updates below use the same connection.
     * The buffer is the connection's scratch space and only grows. */
    struct user_exposure *ux = c->scratch;
    size_t ux_alloc = c->scratch_size / sizeof(*ux);
    size_t nux = 0;
    st = conn_prepare(c, SQL_USER_EXPOSURES, err);
    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, e->user_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (nux == ux_alloc) {
            ux_alloc = ux_alloc ? ux_alloc * 2 : 16;
            ux = xrealloc(ux, ux_alloc * sizeof(*ux));
            c->scratch = ux;
            c->scratch_size = ux_alloc * sizeof(*ux);
        }
        column_copy(st, 0, ux[nux].experiment, sizeof(ux[nux].experiment));
        column_copy(st, 1, ux[nux].variant, sizeof(ux[nux].variant));
        ux[nux].t0 = sqlite3_column_int64(st, 2);
        nux++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return store_sqlite_err(c->db, rc, "read exposures", err);
    }
    for (size_t i = 0; i < nux; i++) {
        for (size_t k = 0; k < nr; k++) {
            if (strcmp(rs[k].experiment, ux[i].experiment) == 0 &&
                attribute_event(in, &rs[k], &ux[i], e, err) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

int store_ingest_events(struct store_tx *tx, const struct store_rules *rules,
                        const struct store_event *events, size_t n,
                        struct store_ingest_counts *counts, struct err *err)
{
    struct ingest in = {.c = tx->conn, .rules = rules};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = ingest_event(&in, &events[i], counts, err);
    }
    return flush(&in, rc, err);
}
