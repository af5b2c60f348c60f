/*
 * ingest.c - the SQLite adapter's batch primitives of attribution (store_int.h): events,
 * exposures, per-user values and roll-up deltas. SQLite is embedded, so a batch is a loop
 * over cached prepared statements (no round trips to save); the order of the rows is kept,
 * so that sums come out as row-at-a-time processing gives them. Text is bound borrowed
 * (sqlite_bind_borrowed): every string here is the caller's and outlives the statement's
 * step. Writer thread only.
 */
#include <stdint.h>
#include <string.h>

#include "bunsen/util.h"
#include "sqlite_int.h"

/* Multi-row statements: one statement per chunk of CHUNK_ROWS rows (then 16, 4 and 1 for the
 * rest), so that the per-statement work of SQLite (cursors opened and closed, the VDBE halt,
 * reset) is paid once per chunk. An INSERT of 64 events per statement costs ~14,400
 * instructions per row against ~19,800 one row at a time (callgrind, the events table with
 * its two indexes; docs/PERFORMANCE.md "Eighth pass"). The texts are built by the
 * preprocessor: the statement cache (db.c) is keyed by their address. */
#define CHUNK_ROWS 64
#define ROWS4(r)   r "," r "," r "," r
#define ROWS16(r)  ROWS4(ROWS4(r))
#define ROWS64(r)  ROWS4(ROWS16(r))
#define ROW5       "(?,?,?,?,?)"
#define ROW6       "(?,?,?,?,?,?)"

/* the size of the next chunk when left rows remain, and (*which) the index of its statement
 * in the {64, 16, 4, 1}-row tables below */
static size_t chunk_of(size_t left, int *which)
{
    static const size_t sizes[] = {CHUNK_ROWS, 16, 4, 1};
    int w = 0;
    while (sizes[w] > left) {
        w++;
    }
    *which = w;
    return sizes[w];
}

#define EVENT_INSERT "INSERT OR IGNORE INTO events (user_id, event, ts, value, id) VALUES "
static const char *const SQL_EVENT_INSERT[] = {EVENT_INSERT ROWS64(ROW5), EVENT_INSERT ROWS16(ROW5),
                                               EVENT_INSERT ROWS4(ROW5), EVENT_INSERT ROW5};
static const char SQL_EVENT_ROWID[] = "SELECT rowid FROM events WHERE user_id = ? AND id = ?";

/*
 * Which rows of a chunk the INSERT OR IGNORE stored, when it stored fewer than all (an
 * idempotency id seen before, or twice in the chunk). The rows one statement inserts get
 * consecutive rowids after the table's largest (no AUTOINCREMENT, far below the rowid
 * limit), ending at sqlite3_last_insert_rowid: a row with an id was stored exactly when the
 * row its (user_id, id) now names has a rowid in that range and no earlier row of the
 * chunk claimed it. Rows without an id conflict with nothing. The rare path: one point
 * read per row with an id.
 */
static int events_inserted_of(struct sqlite_conn *c, const struct store_event *ev, size_t k,
                              int changes, bool *inserted, struct err *err)
{
    int64_t last = changes > 0 ? sqlite3_last_insert_rowid(c->db) : 0;
    int64_t first = last - changes + 1;
    int64_t claimed[CHUNK_ROWS];
    size_t nclaimed = 0;
    int found = 0;
    for (size_t j = 0; j < k; j++) {
        if (ev[j].id == NULL) {
            inserted[j] = true;
            found++;
            continue;
        }
        inserted[j] = false;
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_EVENT_ROWID, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_borrowed(st, 1, ev[j].user_id);
        sqlite_bind_borrowed(st, 2, ev[j].id);
        int rc = sqlite3_step(st);
        int64_t rowid = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return store_sqlite_err(c->db, rc, "read events", err);
        }
        if (rc != SQLITE_ROW || changes == 0 || rowid < first || rowid > last) {
            continue;
        }
        bool seen = false;
        for (size_t i = 0; i < nclaimed && !seen; i++) {
            seen = claimed[i] == rowid;
        }
        if (!seen) {
            claimed[nclaimed++] = rowid;
            inserted[j] = true;
            found++;
        }
    }
    if (found != changes) {
        err_set(err, ERR_INTERNAL, NULL, "insert events: %d of %zu rows stored, %d identified",
                changes, k, found);
        return -1;
    }
    return 0;
}

int sqlite_events_insert(struct store_tx *tx, const struct store_event *events, size_t n,
                         bool *inserted, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t at = 0; at < n;) {
        int which = 0;
        size_t k = chunk_of(n - at, &which);
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_EVENT_INSERT[which], err);
        if (st == NULL) {
            return -1;
        }
        for (size_t j = 0; j < k; j++) {
            const struct store_event *e = &events[at + j];
            int p = (int)(5 * j);
            sqlite_bind_borrowed(st, p + 1, e->user_id);
            sqlite_bind_borrowed(st, p + 2, e->event);
            sqlite3_bind_int64(st, p + 3, e->ts);
            sqlite3_bind_double(st, p + 4, e->value);
            sqlite_bind_borrowed(st, p + 5, e->id);
        }
        if (sqlite_conn_step_done(c, st, "insert event", err) != 0) {
            return -1;
        }
        int changes = sqlite3_changes(c->db);
        if ((size_t)changes == k) {
            for (size_t j = 0; j < k; j++) {
                inserted[at + j] = true;
            }
        } else if (events_inserted_of(c, events + at, k, changes, inserted + at, err) != 0) {
            return -1;
        }
        at += k;
    }
    return 0;
}

static const char SQL_USER_HAS_EVENTS[] = "SELECT 1 FROM events WHERE user_id = ? LIMIT 1";

int sqlite_users_with_events(struct store_tx *tx, const char *const *users, size_t n, bool *has,
                             struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_USER_HAS_EVENTS, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_borrowed(st, 1, users[i]);
        int rc = sqlite3_step(st);
        has[i] = rc == SQLITE_ROW;
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return store_sqlite_err(c->db, rc, "read events", err);
        }
    }
    return 0;
}

/* The values, summed in C exactly (exactsum.h): SQL's TOTAL adds doubles in index order,
 * which is neither the order the events arrived in nor exact (0.1 + 1e15 - 1e15 gave 0.125,
 * where the events path keeps 0.1). */
static const char SQL_RAW[] =
    "SELECT value FROM events WHERE user_id = ? AND event = ? AND ts >= ? AND ts < ?";

int sqlite_events_raw(struct store_tx *tx, const struct store_rawq *q, size_t n, int64_t *count,
                      struct exactsum_parts *sum, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    struct exactsum acc;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_RAW, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_borrowed(st, 1, q[i].user_id);
        sqlite_bind_borrowed(st, 2, q[i].event);
        sqlite3_bind_int64(st, 3, q[i].from);
        sqlite3_bind_int64(st, 4, q[i].to);
        exactsum_init(&acc);
        int64_t k = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            exactsum_add(&acc, sqlite3_column_double(st, 0));
            k++;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            return store_sqlite_err(c->db, rc, "read events", err);
        }
        count[i] = k;
        sum[i] = exactsum_parts(&acc);
    }
    return 0;
}

static const char SQL_USER_EXPOSURES[] =
    "SELECT experiment, variant, ts FROM exposures WHERE user_id = ? ORDER BY experiment";

int sqlite_exposures_of_users(struct store_tx *tx, const char *const *users, size_t n,
                              void (*emit)(void *ctx, size_t i, const char *experiment,
                                           const char *variant, int64_t ts),
                              void *ctx, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_USER_EXPOSURES, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_borrowed(st, 1, users[i]);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            emit(ctx, i, (const char *)sqlite3_column_text(st, 0),
                 (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2));
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            return store_sqlite_err(c->db, rc, "read exposures", err);
        }
    }
    return 0;
}

static const char SQL_EXPO_GET[] =
    "SELECT variant, ts, conflict_ts FROM exposures WHERE user_id = ? AND experiment = ?";

int sqlite_exposures_get(struct store_tx *tx, const struct store_xrow *keys, size_t n,
                         void (*emit)(void *ctx, size_t i, const char *variant, int64_t ts,
                                      int64_t conflict_ts),
                         void *ctx, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_EXPO_GET, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_borrowed(st, 1, keys[i].user_id);
        sqlite_bind_borrowed(st, 2, keys[i].experiment);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            emit(ctx, i, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
                 sqlite3_column_type(st, 2) == SQLITE_NULL ? STORE_NO_CONFLICT
                                                           : sqlite3_column_int64(st, 2));
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return store_sqlite_err(c->db, rc, "read exposure", err);
        }
    }
    return 0;
}

static const char SQL_EXPO_INSERT[] =
    "INSERT INTO exposures (user_id, experiment, variant, ts, conflicts, conflict_ts) "
    "VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_EXPO_SET[] = "UPDATE exposures SET variant = ?3, ts = ?4, "
                                   "conflicts = conflicts + ?5, conflict_ts = ?6 "
                                   "WHERE user_id = ?1 AND experiment = ?2";

int sqlite_exposures_put(struct store_tx *tx, const struct store_xrow *rows, size_t n,
                         struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        const struct store_xrow *x = &rows[i];
        sqlite3_stmt *st = sqlite_conn_prepare(c, x->is_new ? SQL_EXPO_INSERT : SQL_EXPO_SET, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_borrowed(st, 1, x->user_id);
        sqlite_bind_borrowed(st, 2, x->experiment);
        sqlite_bind_borrowed(st, 3, x->variant);
        sqlite3_bind_int64(st, 4, x->ts);
        sqlite3_bind_int64(st, 5, x->conflicts_add);
        if (x->conflict_ts == STORE_NO_CONFLICT) {
            sqlite3_bind_null(st, 6);
        } else {
            sqlite3_bind_int64(st, 6, x->conflict_ts);
        }
        if (sqlite_conn_step_done(c, st, x->is_new ? "insert exposure" : "update exposure", err) !=
            0) {
            return -1;
        }
    }
    return 0;
}

/* The low parts of a row's raw values (exactsum.h; lo_parts, migration 0014): y.p[1], y.p[2],
 * x.p[1], x.p[2] up to the last one that is not 0, 8 bytes each, little-endian (a sum of
 * cents that is not a double: 8 bytes); NULL when all are 0, as for every count. One column
 * rather than four: each column of this table costs every event's write (the REPLACE of a
 * 9-column row took ~1,500 instructions more than that of a 6-column one). */
#define LO_PARTS_MAX 4

/* Encode u's low parts into out; their length in bytes (0: all are 0, NULL). */
static int lo_parts_encode(const struct store_umrow *u, unsigned char *out)
{
    const double v[LO_PARTS_MAX] = {u->y.p[1], u->y.p[2], u->x.p[1], u->x.p[2]};
    int n = LO_PARTS_MAX;
    while (n > 0 && v[n - 1] == 0) {
        n--;
    }
    for (int k = 0; k < n; k++) {
        uint64_t b;
        memcpy(&b, &v[k], sizeof(b));
        for (int j = 0; j < 8; j++) {
            out[8 * k + j] = (unsigned char)(b >> (8 * j));
        }
    }
    return 8 * n;
}

/* Decode column col of st (lo_parts) into the low parts of y and x (those absent are 0). */
static void lo_parts_decode(sqlite3_stmt *st, int col, struct exactsum_parts *y,
                            struct exactsum_parts *x)
{
    const unsigned char *in = sqlite3_column_blob(st, col);
    int n = in != NULL ? sqlite3_column_bytes(st, col) / 8 : 0;
    double *v[LO_PARTS_MAX] = {&y->p[1], &y->p[2], &x->p[1], &x->p[2]};
    for (int k = 0; k < LO_PARTS_MAX; k++) {
        uint64_t b = 0;
        for (int j = 0; k < n && j < 8; j++) {
            b |= (uint64_t)in[8 * k + j] << (8 * j);
        }
        memcpy(v[k], &b, sizeof(b));
    }
}

static const char SQL_UM_GET[] = "SELECT y_raw, x_raw, lo_parts FROM user_metrics WHERE "
                                 "user_id = ? AND experiment = ? AND metric = ?";
/* New rows (store_int.h: not stored as of this transaction, and this connection is the only
 * writer): a plain INSERT, whose uniqueness check would fail the request rather than
 * overwrite if that ever did not hold. Stored rows: REPLACE, which on this table (its
 * primary key is its only index) replaces the row in place of an UPDATE's search, record
 * rewrite and halt per row: ~13,800 against ~19,500 instructions per row in 64-row
 * statements (docs/PERFORMANCE.md "Eighth pass"). Both in chunks, as events are. */
#define UM_COLS    "(user_id, experiment, metric, y_raw, x_raw, lo_parts) VALUES "
#define UM_INSERT  "INSERT INTO user_metrics " UM_COLS
#define UM_REPLACE "REPLACE INTO user_metrics " UM_COLS
static const char *const SQL_UM_PUT[] = {UM_INSERT ROWS64(ROW6), UM_INSERT ROWS16(ROW6),
                                         UM_INSERT ROWS4(ROW6), UM_INSERT ROW6};
static const char *const SQL_UM_REPLACE[] = {UM_REPLACE ROWS64(ROW6), UM_REPLACE ROWS16(ROW6),
                                             UM_REPLACE ROWS4(ROW6), UM_REPLACE ROW6};
static const char SQL_UM_DEL[] =
    "DELETE FROM user_metrics WHERE user_id = ? AND experiment = ? AND metric = ?";

int sqlite_user_metrics_get(struct store_tx *tx, const struct store_umrow *keys, size_t n,
                            void (*emit)(void *ctx, size_t i, const struct exactsum_parts *y,
                                         const struct exactsum_parts *x, int64_t loc),
                            void *ctx, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_UM_GET, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_borrowed(st, 1, keys[i].user_id);
        sqlite_bind_borrowed(st, 2, keys[i].experiment);
        sqlite_bind_borrowed(st, 3, keys[i].metric);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            struct exactsum_parts y, x;
            y.p[0] = sqlite3_column_double(st, 0);
            x.p[0] = sqlite3_column_double(st, 1);
            lo_parts_decode(st, 2, &y, &x);
            emit(ctx, i, &y, &x, 0);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return store_sqlite_err(c->db, rc, "read user", err);
        }
    }
    return 0;
}

/* Write the rows that are present and (stored) exist or (!stored) do not, in chunks. */
static int um_write(struct sqlite_conn *c, const struct store_umrow *rows, size_t n, bool stored,
                    struct err *err)
{
    size_t left = 0;
    for (size_t i = 0; i < n; i++) {
        left += rows[i].present && rows[i].stored == stored;
    }
    unsigned char lo[CHUNK_ROWS][8 * LO_PARTS_MAX]; /* bound static: they outlive the step */
    for (size_t i = 0; left > 0;) {
        int which = 0;
        size_t k = chunk_of(left, &which);
        sqlite3_stmt *st =
            sqlite_conn_prepare(c, stored ? SQL_UM_REPLACE[which] : SQL_UM_PUT[which], err);
        if (st == NULL) {
            return -1;
        }
        for (size_t j = 0; j < k; i++) {
            const struct store_umrow *u = &rows[i];
            if (!u->present || u->stored != stored) {
                continue;
            }
            int p = (int)(6 * j);
            sqlite_bind_borrowed(st, p + 1, u->user_id);
            sqlite_bind_borrowed(st, p + 2, u->experiment);
            sqlite_bind_borrowed(st, p + 3, u->metric);
            sqlite3_bind_double(st, p + 4, u->y.p[0]);
            sqlite3_bind_double(st, p + 5, u->x.p[0]);
            int len = lo_parts_encode(u, lo[j]);
            if (len > 0) {
                sqlite3_bind_blob(st, p + 6, lo[j], len, SQLITE_STATIC);
            } else {
                sqlite3_bind_null(st, p + 6);
            }
            j++;
        }
        if (sqlite_conn_step_done(c, st, "write user", err) != 0) {
            return -1;
        }
        left -= k;
    }
    return 0;
}

int sqlite_user_metrics_put(struct store_tx *tx, const struct store_umrow *rows, size_t n,
                            struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        const struct store_umrow *u = &rows[i];
        if (u->present || !u->stored) {
            continue;
        }
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_UM_DEL, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_borrowed(st, 1, u->user_id);
        sqlite_bind_borrowed(st, 2, u->experiment);
        sqlite_bind_borrowed(st, 3, u->metric);
        if (sqlite_conn_step_done(c, st, "write user", err) != 0) {
            return -1;
        }
    }
    return um_write(c, rows, n, true, err) != 0 ? -1 : um_write(c, rows, n, false, err);
}

/* Roll-up deltas: the row usually exists (one per experiment, metric, variant and day), so
 * an UPDATE is tried first and the INSERT runs only when it changed nothing (one writer per
 * file: nothing can insert the row in between). An UPSERT (INSERT ... ON CONFLICT DO
 * UPDATE) gave the same rows but first attempted the insert: a second B-tree search and
 * the conflict handling, ~9,700 instructions for one exposure_stats row. The SET
 * expressions read the row's values before the update, as the UPSERT's did. */
/* hwm (migration 0015): the largest of the row's, the delta's and the new sums' magnitudes */
#define STATS_SUMS                                                                                 \
    DD_ADD("s", "?5", "?10")                                                                       \
    ", " DD_ADD("q", "?6", "?11") ", " DD_ADD("sx", "?7", "?12") ", " DD_ADD(                      \
        "qx", "?8", "?13") ", " DD_ADD("p", "?9", "?14")
static const char SQL_STATS_UPD[] =
    "UPDATE metric_stats SET n = n + ?4, " STATS_SUMS ", hwm = max(hwm, ?15, abs(q + ?6), "
    "abs(qx + ?8), abs(p + ?9)) WHERE experiment = ?1 AND metric = ?2 AND variant = ?3";
static const char SQL_STATS_INS[] =
    "INSERT INTO metric_stats (experiment, metric, variant, n, s, q, sx, qx, p, s_lo, q_lo, "
    "sx_lo, qx_lo, p_lo, hwm) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
    "?14, ?15)";
/* metric_daily: the same sums per day (?4); xsums (migration 0016) set by the INSERT only */
#define DAILY_SUMS                                                                                 \
    DD_ADD("ds", "?6", "?11")                                                                      \
    ", " DD_ADD("dq", "?7", "?12") ", " DD_ADD("dsx", "?8", "?13") ", " DD_ADD(                    \
        "dqx", "?9", "?14") ", " DD_ADD("dp", "?10", "?15")
static const char SQL_DAILY_UPD[] =
    "UPDATE metric_daily SET dn = dn + ?5, " DAILY_SUMS ", hwm = max(hwm, ?16, abs(dq + ?7), "
    "abs(dqx + ?9), abs(dp + ?10)) WHERE experiment = ?1 AND metric = ?2 AND variant = ?3 AND "
    "day = ?4";
static const char SQL_DAILY_INS[] =
    "INSERT INTO metric_daily (experiment, metric, variant, day, dn, ds, dq, dsx, dqx, dp, ds_lo, "
    "dq_lo, dsx_lo, dqx_lo, dp_lo, hwm, xsums) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
    "?11, ?12, ?13, ?14, ?15, ?16, 1)";
static const char SQL_EXPOSTAT_UPD[] =
    "UPDATE exposure_stats SET users = users + ?3, conflicts = conflicts + ?4 "
    "WHERE experiment = ?1 AND variant = ?2";
static const char SQL_EXPOSTAT_INS[] =
    "INSERT INTO exposure_stats (experiment, variant, users, conflicts) VALUES (?1, ?2, ?3, ?4)";

static void rollup_bind(sqlite3_stmt *st, const struct store_delta *e)
{
    sqlite_bind_borrowed(st, 1, e->experiment);
    if (e->kind == DELTA_EXPOSURE_STATS) {
        sqlite_bind_borrowed(st, 2, e->variant);
        sqlite3_bind_int64(st, 3, e->dn);
        sqlite3_bind_int64(st, 4, e->dconf);
        return;
    }
    sqlite_bind_borrowed(st, 2, e->metric);
    sqlite_bind_borrowed(st, 3, e->variant);
    int k = 4;
    if (e->kind == DELTA_METRIC_DAILY) {
        sqlite3_bind_int64(st, k++, e->day);
    }
    sqlite3_bind_int64(st, k++, e->dn);
    sqlite3_bind_double(st, k++, e->ds);
    sqlite3_bind_double(st, k++, e->dq);
    sqlite3_bind_double(st, k++, e->dsx);
    sqlite3_bind_double(st, k++, e->dqx);
    sqlite3_bind_double(st, k++, e->dp);
    sqlite3_bind_double(st, k++, e->ds_lo);
    sqlite3_bind_double(st, k++, e->dq_lo);
    sqlite3_bind_double(st, k++, e->dsx_lo);
    sqlite3_bind_double(st, k++, e->dqx_lo);
    sqlite3_bind_double(st, k++, e->dp_lo);
    sqlite3_bind_double(st, k, e->hwm);
}

int sqlite_rollup_add(struct store_tx *tx, const struct store_delta *d, size_t n, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        const struct store_delta *e = &d[i];
        const char *upd = e->kind == DELTA_METRIC_STATS   ? SQL_STATS_UPD
                          : e->kind == DELTA_METRIC_DAILY ? SQL_DAILY_UPD
                                                          : SQL_EXPOSTAT_UPD;
        const char *ins = e->kind == DELTA_METRIC_STATS   ? SQL_STATS_INS
                          : e->kind == DELTA_METRIC_DAILY ? SQL_DAILY_INS
                                                          : SQL_EXPOSTAT_INS;
        sqlite3_stmt *st = sqlite_conn_prepare(c, upd, err);
        if (st == NULL) {
            return -1;
        }
        rollup_bind(st, e);
        if (sqlite_conn_step_done(c, st, "update roll-ups", err) != 0) {
            return -1;
        }
        if (sqlite3_changes(c->db) > 0) {
            continue;
        }
        st = sqlite_conn_prepare(c, ins, err);
        if (st == NULL) {
            return -1;
        }
        rollup_bind(st, e);
        if (sqlite_conn_step_done(c, st, "update roll-ups", err) != 0) {
            return -1;
        }
    }
    return 0;
}
