/*
 * pg_int.h - private structures shared by the files of the PostgreSQL adapter
 * (src/store/pg/): a libpq connection with its prepared statements, the pool of read
 * connections, the adapter's state behind struct store, parameter and array encoding,
 * and the adapter's implementations of the ops of src/store/store_int.h (the table itself
 * is in db.c; every op is implemented), and what db.c shares with the listener (listen.c).
 *
 * Every statement is prepared once per connection (named by its slot in the connection's
 * cache, keyed by the address of its static SQL text) and run with PQexecPrepared and
 * text parameters; batches travel as array parameters expanded with unnest(). In the
 * writer's savepoint-free groups, writes are pipelined (pg_defer, pipeline.c "Pipelining").
 */
#ifndef BUNSEN_PG_INT_H
#define BUNSEN_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>

#include "../store_int.h"

#define PG_STMT_SLOTS 128
#define PG_POOL_MAX   8
/* connections whose waits pg_answering watches: the writer's, then the pool's (not the
 * listener's: its ANALYZE may take long on a server that answers) */
#define PG_WAIT_WRITER    0
#define PG_WAIT_POOL      1
#define PG_WAIT_SLOTS     (PG_WAIT_POOL + PG_POOL_MAX)
#define PG_STALL_NS       200000000ull /* a wait longer than this: the server is not answering */
#define PG_TIMEOUT_MS_DEF 30000        /* the answer timeout (store_set_db_timeout) by default */

/* Advisory lock classes (SQL text; the object in brackets). Every transaction takes them in
 * this order: the catalogue (1; shared by writes, exclusive for a definition change), a
 * rebuilding experiment's (hashtext(experiment); shared by ingestion, exclusive for a
 * rebuild chunk: ingest.c pg_lock_users, rebuild.c), all users (0; shared, exclusive for a
 * request over the lock budget), users (hashtext(user_id)), dimensions (hashtext(experiment,
 * dimension): the registration of a dimension's new values). A transaction waits for the
 * locks of a class in one statement, in key order; past it, it takes more of that class (a
 * later job's users or dimensions, a late joiner's users) only where no other transaction
 * holds them (pg_try_advisory_xact_lock; else the job runs again in a later group): so no
 * two transactions wait for each other, whatever the daemons. Migrations take the catalogue
 * class's object 0 alone; key revocations and the count of admin keys inside a transaction
 * its object 2 (after the catalogue's 1), and the audit log's append its object 3, last (so
 * audit ids are allocated in commit order); these writes run alone in their transaction; a
 * daemon's writer session holds its roll-up slot (0-63). */
#define PG_LOCK_CATALOG   "1112887377"
#define PG_LOCK_USER      "1112887378"
#define PG_LOCK_SLOT      "1112887379"
#define PG_LOCK_ALL_USERS "1112887380"
#define PG_LOCK_REBUILD   "1112887381"
#define PG_LOCK_DIMENSION "1112887382"

/* Every session's application_name begins with this (conn.c connect_with_defaults:
 * bunsen/<VERSION>/<revision>/schema<N>, unless the URL names one of its own). */
#define PG_APP_NAME_PREFIX "bunsen/"

#define PG_PENDING_MAX  24 /* statements sent and not yet read (pg_defer) */
#define PG_PREFETCH_MAX 2  /* reads waiting to ride along (pg_prefetch) */

/* A statement sent in pipeline mode whose result is not read yet (pipeline.c). */
struct pg_pending {
    const char *what; /* for errors, with sql's head */
    const char *sql;  /* the statement (prepared statements only: their text is static) */
    int prepare_slot; /* >= 0: the PQsendPrepare of that slot (unmarked if it fails) */
    long long expect; /* >= 0: the rows it must have changed, or the flush fails */
    bool refusals;    /* a pg_defer_try: its rows are locks refused (expect 0) */
    PGresult **keep;  /* a prefetch: its result is kept here (c->pre[i].result) */
};

struct pg_conn {
    PGconn *pg;
    const char *prepared[PG_STMT_SLOTS]; /* SQL text of statement "s<i>" on this connection */
    bool broken;                         /* reconnect before the next use */
    /* a read pool connection (pg_reader_get) and the conninfo to reopen it with: a statement
     * outside a transaction that finds its server session gone reconnects and runs again */
    bool pooled;
    const char *conninfo;
    /* How long to wait for the server's answer to a statement (conn.c await_answer): the
     * store's setting (pg_store.timeout_ms; NULL or <= 0 waits forever), not applied while
     * no_deadline is set (migrations); timed_out: the last wait passed it (c->broken too) */
    const _Atomic int *timeout_ms;
    bool no_deadline;
    bool timed_out;
    /* Where this connection says when its wait for the server began (0: not waiting) and
     * when it last had an answer: its slot of pg_store.waiting_since and pg_store.answered_ns
     * (pg_answering); NULL for a connection of no store (the CLI's before the store). */
    _Atomic uint64_t *waiting_since;
    _Atomic uint64_t *answered_ns;
    /* pg_store.closing_ns: once the daemon stops (store_shutdown_begin), no wait lasts past
     * it + the answer timeout, and no connection is opened */
    const _Atomic uint64_t *closing_ns;
    bool retry; /* the last failure was a deadlock or serialization failure */
    /* the last failure was the server holding a statement to a bound (no answer within
     * --db-timeout, lock_timeout, statement_timeout) or out of a resource (class 53): every
     * job would meet it again (db.c pg_tx_unavailable_recurs) */
    bool recurs;
    /* the transaction met a full disk (53100) or a ready check refused for one: its COMMIT
     * (of the jobs that did not fail, perhaps none) does not show that the disk has room */
    bool full_seen;
    bool release_pending; /* the writer's last job's RELEASE, sent with the next statement */
    /* The transaction's user locks (ingest.c pg_lock_users): how many taken one by one (under
     * the all-users lock in shared mode), or PG_ULOCK_ALL (it holds that lock exclusively,
     * or the catalogue lock: a definition change);
     * and the same at the current savepoint, restored when the writer rolls back to it
     * (which releases the locks taken since) */
    size_t user_locks, savepoint_user_locks;
    /* whether the transaction holds the rebuilding experiments' locks (pg_lock_users,
     * pg_rebuild_get; a definition change needs none), and the same at the savepoint */
    bool rebuild_locks, savepoint_rebuild_locks;
    /* whether the transaction holds dimension locks (slices.c pg_dim_values_lock), and the
     * same at the savepoint */
    bool dim_locks, savepoint_dim_locks;
    /* The last failure was a lock refused by pg_defer_try, and nothing else: the transaction
     * is as the failing job found it (db.c pg_tx_intact). */
    bool intact;
    /* A COMMIT's CommandComplete ("COMMIT") was read since pg_commit began (pipeline.c
     * pipe_flush, conn.c pg_last_result): the transaction committed, whatever the connection
     * did after it (the server's FATAL instead of the Sync's ReadyForQuery). */
    bool committed;
    /* BUNSEN_TEST_PG_END_AFTER_COMMIT (tests only; the writer's connection; owned), or NULL:
     * while the file it names exists, pg_commit has the server end the session right after
     * the COMMIT (test_pg_conn) */
    char *end_after_commit;
    /* the store whose counters (deadlocks, refusals) this connection adds to: the writer's
     * connection; else NULL */
    struct pg_store *owner;
    /* Pipelining (pg_defer): whether writes may be sent without waiting for their result
     * (the writer's savepoint-free groups only), and the statements sent and not yet read */
    bool defer;
    int npending;
    struct pg_pending pending[PG_PENDING_MAX];
    /* Reads sent with the next pipelined statement that needs a result (pg_prefetch), and
     * their results once read, for pg_prefetched */
    struct pg_prefetch {
        const char *sql; /* NULL: a free slot */
        char *arg;       /* its one binary parameter (owned), or NULL for none */
        int len;
        bool sent;
        PGresult *result;
    } pre[PG_PREFETCH_MAX];
};

#define PG_ULOCK_NONE 0
#define PG_ULOCK_ALL  SIZE_MAX

struct pg_store {
    char *conninfo;
    /* where the writer connected at open, for the "started" log line (store_describe): libpq's
     * answers, the environment's defaults (PGHOST...) included; never the password */
    char at_host[256], at_port[16], at_dbname[128], at_user[128];
    _Atomic int timeout_ms; /* the answer timeout of every connection (store_set_db_timeout) */
    struct pg_conn *writer; /* the writer thread's connection (and the CLI's) */
    int slot;               /* the roll-up slot held by the writer's session */
    /* Users one transaction locks one by one at most (ingest.c pg_lock_users; its share of
     * the server's lock table, listen.c pg_lock_budget), and how many jobs took the all-users lock
     * instead. Set by the writer and the listener, read by the writer and /metrics. */
    _Atomic size_t user_lock_budget;
    _Atomic size_t budget_warned; /* the lowest budget warned about (budget_set), 0: none */
    _Atomic long long user_locks_all;
    /* Deadlocks the server reported to this daemon's writer (40P01), and the jobs put off to
     * a later group because another transaction held a lock they would otherwise have waited
     * for out of order (pg_defer_try). For /metrics. */
    _Atomic long long deadlocks;
    _Atomic long long lock_refusals;
    /* Writes refused for a full disk (SQLSTATE 53100, conn.c pg_fail), for /readyz (db.c
     * pg_ready_check): its one-row update fits in the page it has (a HOT update) and kept
     * committing while every ingestion answered 503 (review chaos36 F3). The last such
     * failure (monotonic ms), 0 once a commit succeeded after it (pg_tx_commit). */
    _Atomic int64_t full_ms;
    /* The waits for the server under way, by connection (PG_WAIT_WRITER, then the pool's in
     * the order they were opened: 0 = not waiting, else when the wait began), and the last
     * time any connection had an answer (store_answering). */
    _Atomic uint64_t waiting_since[PG_WAIT_SLOTS];
    _Atomic uint64_t answered_ns;
    _Atomic uint64_t closing_ns; /* store_shutdown_begin (monotonic ns), 0 before */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    int working_waiters; /* threads in take_working_idle's wait (pool.c), under pool_mu */
    /* the read connection a thread holds between store_read_begin and store_read_end
     * (pool.c pg_read_begin): pg_reader_get gives it, pg_reader_put keeps it */
    pthread_key_t pinned_key;
    struct pg_conn *idle[PG_POOL_MAX];
    int nidle, nopen;
    /* the LISTEN connection and its thread (definition changes from other daemons); the
     * stop flag is set by pg_listen_stop on the closing thread while the listener reads it
     * (atomic: a volatile int raced there, RELIABILITY.md AW) */
    pthread_t listener;
    bool listening;
    atomic_bool stop_listener;
};

static inline struct pg_store *pg_be(struct store *s)
{
    return s->be;
}

/* wait.c. A wait of c for the server begins (now: time_mono_ns) or ends (answered: a result
 * or a connection came); for pg_answering. */
void pg_wait_begin(struct pg_conn *c, uint64_t now);
void pg_wait_end(struct pg_conn *c, bool answered);
/* Have c report its waits for the server in p's slot (PG_WAIT_*, or -1: none) and heed p's
 * shutdown (pg_store.closing_ns). */
void pg_conn_watch(struct pg_conn *c, struct pg_store *p, int slot);
/* The latest a wait for the server may end, for a wait begun at start with the answer
 * timeout limit_ms (<= 0: none) on a connection of a store that may be stopping
 * (closing_ns, may be NULL); UINT64_MAX when none. */
uint64_t pg_wait_deadline(uint64_t start, int limit_ms, const _Atomic uint64_t *closing_ns,
                          int timeout_ms);
/* store.h store_shutdown_begin. */
void pg_shutdown_begin(struct store *s);
/* store.h store_answering. */
bool pg_answering(struct store *s);

/* ---- the listener (listen.c) ---- */

/* The server's lock table (entries, SQL text: max_locks_per_transaction x (max_connections +
 * max_prepared_transactions)) and the roll-up slots held (the live writers, a count(*)
 * query), for pg_lock_budget's arguments. */
#define PG_SQL_LOCK_TABLE                                                                          \
    "current_setting('max_locks_per_transaction')::bigint * "                                      \
    "(current_setting('max_connections')::bigint + "                                               \
    "current_setting('max_prepared_transactions')::bigint)"
#define PG_SQL_SLOTS_HELD                                                                          \
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = " PG_LOCK_SLOT        \
    " AND "                                                                                        \
    "objsubid = 2 AND granted"
/* The user-lock budget before the first read of the server's settings (its defaults'). */
#define PG_USER_LOCK_BUDGET_DEF (64 * 100 / 4)
/* The user-lock budget (pg_store.user_lock_budget) of each of `writers` live writers on a
 * server whose lock table has `table` entries: half the table shared out, a quarter at most each,
 * never below a floor. Pure; any thread. */
size_t pg_lock_budget(long long table, long long writers);
/* store.h store_listen: start the listener thread (once; 0, or -1 with err). */
int pg_listen(struct store *s, struct err *err);
/* Stop the listener thread, if started, and wait for it (pg_close). */
void pg_listen_stop(struct pg_store *p);

/* Open a connection (conninfo: a postgres:// URL or key=value string) whose statements wait
 * for an answer at most *timeout_ms (NULL: forever). NULL + err. */
struct pg_conn *pg_conn_open(const char *conninfo, const _Atomic int *timeout_ms, struct err *err);
void pg_conn_close(struct pg_conn *c);

/* Reconnect a broken connection (a failover target may be another host). 0 or -1. */
int pg_conn_ensure(struct pg_conn *c, const char *conninfo, struct err *err);

/* What a reply says of a database this daemon cannot reach or lost (a connection attempt
 * failed, the server went away or became read-only): one wording whichever statement found
 * it (ERR_UNAVAILABLE); the reason, which names hosts and ports, is the log's. */
#define PG_UNREACHABLE "no writable PostgreSQL reachable" STORE_REASON_IN_LOG
/* The latest connection failure's text ("exec: " + libpq's, as one line, passwords masked)
 * into out; false when none yet. Thread-safe. */
bool pg_last_connection_failure(char *out, size_t n);

/* Run the static statement sql with n text parameters (NULL = SQL NULL); binary marks
 * parameter indexes (bit i) sent as binary of the given lengths (bytea). Returns the
 * result (PQclear it) or NULL with err filled. */
PGresult *pg_run(struct pg_conn *c, const char *sql, int n, const char *const *values,
                 const int *lengths, unsigned binary, struct err *err);

/* store.h "A consistent read" (pool.c). */
int pg_read_begin(struct store *s, struct err *err);
void pg_read_end(struct store *s);

/* PQexec within the connection's answer timeout: the last result, or NULL when the query
 * could not be sent, no result came, or the timeout passed (c->timed_out). */
PGresult *pg_exec_result(struct pg_conn *c, const char *sql);
/* PQgetResult within the answer timeout (conn.c): NULL when the deadline passed (c->timed_out)
 * or no result is left. */
PGresult *pg_next_result(struct pg_conn *c);
/* The end of PQexec's work for a query sent with PQsend* (conn.c): every result read, the last
 * one returned (the error, when a statement of a multi-statement text failed). NULL when the
 * connection failed before any result or the deadline passed. A COMMIT's CommandComplete
 * among them sets c->committed (a FATAL after it is the last result). */
PGresult *pg_last_result(struct pg_conn *c);

/* Run SQL text with no parameters (several statements allowed, separated by "; "). 0 or -1. */
int pg_exec(struct pg_conn *c, const char *sql, struct err *err);

/*
 * A statement whose result the caller does not need (a write, a lock): with c->defer set it
 * is only sent (libpq pipeline mode) and its result is read with the next statement that
 * needs one (pg_run, pg_exec), in the same round trip; otherwise it runs now. expect >= 0:
 * the number of rows it must change, else the statement counts as failed. Returns 0 (sent
 * or done) or -1 with err filled. A deferred failure is reported by the statement that
 * reads it: a server error skips the rest of the pipeline (so a COMMIT among them did not
 * happen); a row count off its expectation is found by the client,
 * after the server ran what followed, which is why pg_commit reads such statements before
 * it sends the COMMIT.
 */
int pg_defer(struct pg_conn *c, const char *sql, int n, const char *const *values,
             const int *lengths, unsigned binary, long long expect, struct err *err);
/* pg_defer for a statement that takes locks without waiting (pg_try_advisory_xact_lock) and
 * returns a row per lock refused. Refused locks fail it, when its result is read (with the
 * next statement that reads one, or now when not deferred), with ERR_UNAVAILABLE, c->retry
 * and c->intact set when nothing else failed. Until then no write is sent after it (a
 * pg_defer first reads it): a refusal is found before the caller writes anything. */
int pg_defer_try(struct pg_conn *c, const char *sql, int n, const char *const *values,
                 const int *lengths, unsigned binary, struct err *err);
/* End the transaction with sql (text ending in COMMIT, e.g. "RELEASE SAVEPOINT job; COMMIT")
 * after whatever is pending. 0: committed. 1: known not committed (a statement before the
 * COMMIT failed or changed other than its expected rows, so the COMMIT was not sent or was
 * skipped; the COMMIT failed; or the transaction had failed and the server rolled it back),
 * err filled. -1: the connection was lost before the COMMIT's answer came, the outcome unknown,
 * err filled. A connection that ends after the COMMIT's answer came ("COMMIT": the server
 * ended the session right after, pg_terminate_backend) is 0 and marked broken, reopened
 * before the next transaction. */
int pg_commit(struct pg_conn *c, const char *sql, struct err *err);
/* pg_defer for SQL text with no parameters (one statement), e.g. BEGIN. */
int pg_defer_exec(struct pg_conn *c, const char *sql, struct err *err);

/* Ask for the static read sql to ride along in front of the next pg_run that sends pending
 * statements: it runs after them (so after a deferred lock) without a round trip of its
 * own. arg (len bytes, copied; NULL for none) is its one parameter, sent as binary.
 * pg_prefetched hands its result over (PQclear it) if it was read, else NULL (the caller
 * runs the read itself, or does without). pg_prefetch_clear drops every prefetch (a
 * transaction's end, new user locks). */
void pg_prefetch(struct pg_conn *c, const char *sql, const char *arg, int len);
PGresult *pg_prefetched(struct pg_conn *c, const char *sql);
void pg_prefetch_clear(struct pg_conn *c);

/* Map a failed result (or the connection's state when res is NULL) to an err:
 * connection loss, read-only server, admin shutdown, deadlock, serialization failure ->
 * ERR_UNAVAILABLE (what, the statement's kind, is in the log only for these, where the message
 * is one for every statement: PG_UNREACHABLE); unique violation -> ERR_CONFLICT; others
 * ERR_INTERNAL. Marks the connection broken when it is. Always returns -1. */
int pg_fail(struct pg_conn *c, PGresult *res, const char *what, struct err *err);

/* The rebuild cursors read of attribution (rebuild.c), prefetched after the user locks. */
extern const char PG_SQL_CURSORS[];

/* Whether res is a COMMIT's CommandComplete that committed ("COMMIT"; a COMMIT of a failed
 * transaction answers "ROLLBACK"). conn.c. */
bool pg_result_committed(PGresult *res);

/* A pooled read connection (blocks while all PG_POOL_MAX are busy) and its return. */
struct pg_conn *pg_reader_get(struct store *s, struct err *err);
void pg_reader_put(struct store *s, struct pg_conn *c);

/* The pool's connections for /metrics: *open in use or idle, *idle of them idle, *broken of
 * those idle ones whose session is known to be gone (the next read that takes one reopens
 * it). Learns what waits on each idle socket first (a FATAL and end of file, no round trip),
 * so a session the server ended while idle counts before a read finds it. Any thread. */
void pg_pool_counts(struct store *s, int *open, int *idle, int *broken);

/* Inside apply() the transaction's connection, else a pooled reader (put it back with
 * pg_read_done). */
struct pg_conn *pg_read_conn(struct store *s, struct store_tx *tx, struct err *err);
void pg_read_done(struct store *s, struct store_tx *tx, struct pg_conn *c);
/* One statement (pg_run's arguments) on pg_read_conn's connection, given back at once: the
 * result (PQclear it) or NULL with err filled. */
PGresult *pg_read(struct store *s, struct store_tx *tx, const char *sql, int n,
                  const char *const *values, const int *lengths, unsigned binary, struct err *err);

/* ---- text encoding of parameters ---- */

/* A growable text buffer for array literals: pg_arr_begin, one pg_arr_* per element,
 * pg_arr_end (returns the literal, valid until the next use or pg_text_free). Strings are
 * quoted and escaped ('{"a","b",NULL}'); doubles keep all 17 significant digits. */
struct pg_text {
    char *p;
    size_t len, cap;
    size_t count;
};
void pg_text_free(struct pg_text *t);
void pg_arr_begin(struct pg_text *t);
void pg_arr_str(struct pg_text *t, const char *v);
void pg_arr_i64(struct pg_text *t, int64_t v);
void pg_arr_f64(struct pg_text *t, double v);
const char *pg_arr_end(struct pg_text *t);
void pg_array_strv(struct pg_text *t, const char *const *v, size_t n);

/* The same arrays in PostgreSQL's binary format (array_recv), for the per-event statements
 * of ingestion: the server copies elements instead of parsing a literal (array_in, and
 * float8in/int8in per element), and doubles need no printing. pg_bin_begin with the
 * element type (PG_OID_*), one pg_bin_* per element of that type, pg_bin_end (returns the
 * bytes, *len their length; valid until the next use or pg_bin_free). The parameter is
 * sent with format 1 (pg_run's binary mask) to a statement that casts it to that array
 * type. */
#define PG_OID_INT8   20u
#define PG_OID_TEXT   25u
#define PG_OID_TID    27u
#define PG_OID_FLOAT8 701u
struct pg_bin {
    char *p;
    size_t len, cap;
    size_t count;
    unsigned oid;
};
void pg_bin_free(struct pg_bin *b);
void pg_bin_begin(struct pg_bin *b, unsigned oid);
void pg_bin_str(struct pg_bin *b, const char *v); /* NULL: an SQL NULL */
void pg_bin_i64(struct pg_bin *b, int64_t v);
void pg_bin_f64(struct pg_bin *b, double v);
void pg_bin_tid(struct pg_bin *b, uint32_t block, uint16_t offset);
const char *pg_bin_end(struct pg_bin *b, int *len);

/* Result accessors (text format). */
int64_t pg_i64(const PGresult *r, int row, int col);
double pg_f64(const PGresult *r, int row, int col);
const char *pg_str(const PGresult *r, int row, int col); /* NULL for SQL NULL */

/* ---- catalogue documents (catalog.c; metrics, experiments, saved groups) ----
 * JSON text by key; what names the kind in messages ("metric", "saved group"). */

/* Run sql (n parameters v), a write of the row of key, which must change it: when it changed
 * none, ERR_CONFLICT "<what> '<key>' already exists" for an insert (sql an INSERT .. ON
 * CONFLICT DO NOTHING), else ERR_NOT_FOUND "no <what> '<key>'". */
int pg_write_one(struct store_tx *tx, const char *sql, int n, const char *const *v,
                 const char *what, const char *key, bool insert, struct err *err);
/* The document sql ($1 = key) selects, in tx or (tx NULL) on a pooled reader: *doc malloc'd
 * and, unless version is NULL, *version the bigint sql selects second; or ERR_NOT_FOUND
 * "no <what> '<key>'". */
int pg_doc_get(struct store *s, struct store_tx *tx, const char *sql, const char *what,
               const char *key, char **doc, int64_t *version, struct err *err);
/* emit the first column of every row of r, then PQclear it: 0, or -1 when r is NULL (a
 * failed pg_run or pg_read, whose err is filled). */
int pg_emit_column0(PGresult *r, void (*emit)(void *ctx, const char *text), void *ctx);
/* emit every document sql selects ($1 = arg unless NULL), in tx or on a pooled reader. */
int pg_doc_list(struct store *s, struct store_tx *tx, const char *sql, const char *arg,
                void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err);

/* ---- the ops (store_int.h) implemented in catalog.c, ingest.c and rollup.c ---- */
int pg_key_insert(struct store_tx *tx, const struct store_key *k, const uint8_t hash[32],
                  struct err *err);
int pg_key_revoke(struct store_tx *tx, const char *id, int64_t now, struct store_key *before,
                  struct err *err);
int pg_key_find_by_hash(struct store *s, const uint8_t hash[32], struct store_key *out,
                        struct err *err);
int pg_key_list(struct store *s, bool include_revoked, struct store_key **out, size_t *n,
                struct err *err);
int pg_key_count_admins(struct store *s, struct store_tx *tx, int *n, struct err *err);
int pg_key_count_named(struct store_tx *tx, const char *name, int *n, struct err *err);
int pg_audit_append(struct store_tx *tx, const struct store_audit *e, struct err *err);
int pg_audit_list(struct store *s, int64_t before_id, const char *target_type, const char *target,
                  int limit, size_t max_bytes, void (*emit)(void *ctx, const struct store_audit *e),
                  void *ctx, struct err *err);
int pg_metric_put(struct store_tx *tx, const char *key, const char *doc, int64_t created_at,
                  int64_t updated_at, bool create, struct err *err);
int pg_metric_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                  struct err *err);
int pg_metric_delete(struct store_tx *tx, const char *key, struct err *err);
int pg_metric_list(struct store *s, void (*emit)(void *ctx, const char *doc), void *ctx,
                   struct err *err);
int pg_metric_users(struct store_tx *tx, const char *metric, bool include_archived, char ***keys,
                    size_t *n, struct err *err);
int pg_experiment_put(struct store_tx *tx, const char *key, const char *status, const char *doc,
                      const char *const *metrics, size_t nmetrics, int64_t created_at,
                      int64_t updated_at, bool create, struct err *err);
int pg_experiment_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                      struct err *err);
int pg_experiment_delete(struct store_tx *tx, const char *key, struct err *err);
int pg_experiment_list(struct store *s, struct store_tx *tx, const char *status,
                       void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err);
int pg_catalog_bump(struct store_tx *tx, struct err *err);
int pg_catalog_version(struct store *s, int64_t *version, int64_t *changed_at, struct err *err);
int pg_rollup_rebuild(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                      const struct store_rule *const *rules, size_t n, struct err *err);
/* One rule's users over the whole experiment (users NULL) or the users of the text[] literal
 * users (a rebuild's chunk, looked up by key): their raw values from the raw rows into u
 * (store_rule_users, begun by the caller; ended here), and their user_metrics rows written (the
 * caller deleted the old ones). rebuild.c; the full rebuild of rollup.c too. */
int pg_rule_users(struct store_tx *tx, const char *experiment, const struct store_rule *r,
                  const char *users, struct store_rule_users *u, struct err *err);
int pg_rollup_read(struct store *s, const char *experiment, const char *metric,
                   void (*emit)(void *ctx, const struct store_suff *st), void *ctx,
                   struct err *err);
int pg_rollup_daily(struct store *s, const char *experiment, const char *metric,
                    void (*emit)(void *ctx, int64_t day, const struct store_suff *st), void *ctx,
                    struct err *err);
int pg_exposure_by_variant(struct store *s, const char *experiment,
                           void (*emit)(void *ctx, const char *variant, int64_t users), void *ctx,
                           int64_t *conflicts, struct err *err);
int pg_compact(struct store *s, int64_t horizon_ms, struct store_compact_stats *out,
               struct err *err);
int pg_lock_users(struct store_tx *tx, const char *const *users, size_t n, struct err *err);
int pg_events_insert(struct store_tx *tx, const struct store_event *events, size_t n,
                     bool *inserted, struct err *err);
void pg_users_with_events_ahead(struct store_tx *tx, const char *const *users, size_t n);
int pg_users_with_events(struct store_tx *tx, const char *const *users, size_t n, bool *has,
                         struct err *err);
int pg_events_raw(struct store_tx *tx, const struct store_rawq *q, size_t n, int64_t *count,
                  struct exactsum_parts *sum, struct err *err);
int pg_exposures_of_users(struct store_tx *tx, const char *const *users, size_t n,
                          void (*emit)(void *ctx, size_t i, const char *experiment,
                                       const char *variant, int64_t ts),
                          void *ctx, struct err *err);
int pg_exposures_get(struct store_tx *tx, const struct store_xrow *keys, size_t n,
                     void (*emit)(void *ctx, size_t i, const char *variant, int64_t ts,
                                  int64_t conflict_ts),
                     void *ctx, struct err *err);
int pg_exposures_put(struct store_tx *tx, const struct store_xrow *rows, size_t n, struct err *err);
int pg_user_metrics_get(struct store_tx *tx, const struct store_umrow *keys, size_t n,
                        void (*emit)(void *ctx, size_t i, const struct exactsum_parts *y,
                                     const struct exactsum_parts *x, int64_t loc),
                        void *ctx, struct err *err);
int pg_user_metrics_put(struct store_tx *tx, const struct store_umrow *rows, size_t n,
                        struct err *err);
int pg_rollup_add(struct store_tx *tx, const struct store_delta *d, size_t n, struct err *err);
int pg_users_page(struct store *s, const char *experiment, int64_t stop_ts, const char *metric,
                  const char *metric2, const char *dimension, struct store_users_cursor *cur,
                  int limit, void (*emit)(void *ctx, const struct store_user_row *row), void *ctx,
                  int *count, struct err *err);

/* saved_groups.c (issue 15) */
int pg_saved_group_put(struct store_tx *tx, const char *key, const char *doc, int64_t created_at,
                       int64_t updated_at, bool create, struct err *err);
int pg_saved_group_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                       struct err *err);
int pg_saved_group_delete(struct store_tx *tx, const char *key, struct err *err);
int pg_saved_group_list(struct store *s, struct store_tx *tx,
                        void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err);
int pg_saved_group_versions(struct store *s,
                            void (*emit)(void *ctx, const char *key, int64_t version), void *ctx,
                            struct err *err);
int pg_saved_group_read(struct store *s, const char *key, char **doc, int64_t *version,
                        struct err *err);
int pg_key_set_encryption(struct store_tx *tx, const char *id, const char *secret, struct err *err);
int pg_key_encryption(struct store *s, const char *id, char *out, size_t n, struct err *err);

/* rebuild.c (issue 12) */
int pg_rebuild_begin(struct store_tx *tx, const char *experiment, int64_t now, int64_t *users_total,
                     struct err *err);
/* Take the rebuilding experiments' locks in c's transaction: experiment's exclusively (a
 * chunk), the others shared ("" for ingestion: all shared). Deferred (pipeline.c). */
int pg_rebuild_lock(struct pg_conn *c, const char *experiment, struct err *err);
int pg_rebuild_get(struct store *s, struct store_tx *tx, const char *experiment,
                   struct store_rebuild *out, struct err *err);
int pg_rebuild_list(struct store *s, void (*emit)(void *ctx, const struct store_rebuild *r),
                    void *ctx, struct err *err);
int pg_rebuild_users_after(struct store_tx *tx, const char *experiment, const char *after,
                           size_t limit, void (*emit)(void *ctx, const char *user_id), void *ctx,
                           struct err *err);
int pg_rebuild_range(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                     const struct store_rule *const *rules, size_t n, const char *after,
                     const char *last, const char *const *users, size_t nusers, struct err *err);
int pg_rebuild_advance(struct store_tx *tx, const char *experiment, const char *last, int64_t users,
                       struct err *err);
int pg_rebuild_end(struct store_tx *tx, const char *experiment, struct err *err);
int pg_rebuild_keep_ratios(struct store_tx *tx, const char *experiment, int64_t generation,
                           const struct store_ratio_sums *rows, size_t n, bool *kept,
                           struct err *err);
int pg_rebuild_keep_metric(struct store_tx *tx, const char *experiment, const char *metric,
                           const char *doc, struct err *err);
int pg_rebuild_metric_get(struct store *s, const char *experiment, const char *metric, char **doc,
                          struct err *err);
int pg_rebuild_ratio_read(struct store *s, const char *experiment, const char *metric,
                          const char *numerator, const char *denominator, const char *dimension,
                          void (*emit)(void *ctx, const char *value, const struct store_suff *st),
                          void *ctx, struct err *err);
int pg_rebuild_cursors(struct store_tx *tx,
                       void (*emit)(void *ctx, const char *experiment, const char *cursor),
                       void *ctx, struct err *err);

/* dimension breakdowns (slices.c) */
int pg_dims_get(struct store_tx *tx, const struct store_xrow *keys, size_t n,
                void (*emit)(void *ctx, size_t i, const char *dimension, const char *value),
                void *ctx, struct err *err);
int pg_dims_put(struct store_tx *tx, const struct store_dimrow *rows, size_t n, struct err *err);
int pg_dim_values_known(struct store_tx *tx, const struct store_dimrow *rows, size_t n, bool *known,
                        int64_t *distinct, struct err *err);
int pg_dim_values_lock(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                       struct err *err);
int pg_dim_values_put(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                      struct err *err);
int pg_slice_add(struct store_tx *tx, const struct store_delta *d, size_t n, struct err *err);
int pg_slice_read(struct store *s, const char *experiment, const char *metric,
                  const char *dimension,
                  void (*emit)(void *ctx, const char *value, const struct store_suff *st),
                  void *ctx, struct err *err);
int pg_slice_exposures(struct store *s, const char *experiment, const char *dimension,
                       void (*emit)(void *ctx, const char *value, const char *variant,
                                    int64_t users),
                       void *ctx, struct err *err);
/* The slice roll-ups of the users of the text[] literal users (all the experiment's when
 * NULL) recomputed and added to this daemon's slot, for the rebuilds (rebuild.c, rollup.c). */
int pg_slices_range(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                    const struct store_rule *const *rules, size_t n, const char *users,
                    struct err *err);

#endif
