/*
 * store.h - the storage port: every read and write the daemon makes, as backend-neutral,
 * batch-shaped domain operations. No SQL dialect and no driver type appear here.
 *
 * DESIGN
 * store_open(url) picks a backend in one place (src/store/store.c): a path or
 * `sqlite:PATH` gives the embedded SQLite adapter (src/store/sqlite/), a `postgres://` or
 * `postgresql://` URL (libpq conninfo) the PostgreSQL adapter (src/store/pg/). The
 * facade (src/store/) owns what both share: the writer thread with its group commit and
 * the attribution rules (windows, caps, per-user value deltas, roll-up accumulation),
 * which call batch-shaped adapter primitives (src/store/store_int.h).
 *
 * Every write in the daemon is a `struct store_job` handed to the one writer thread
 * (store_submit). The writer takes all queued jobs, opens one transaction, runs each
 * job's apply() inside its own SAVEPOINT (so a job that fails leaves no partial rows while
 * the others still commit), commits once (durably: the commit is on disk when COMMIT
 * returns) and only then has each job's done() called, on its completion thread, while
 * it starts the next transaction. When an undo (ROLLBACK TO, RELEASE)
 * fails, the whole group fails instead of committing. HTTP handlers suspend their
 * connection until done() runs, so a 2xx always means "committed". Reads use a connection
 * of the reading thread (SQLite: one per thread, opened lazily, closed by store_close).
 *
 *     handler --submit--> [queue] --writer thread: BEGIN; SAVEPOINT/apply... ; COMMIT
 *                                   completion thread <--/ done(job) -> resume connection
 *
 * Thread-safety: store_submit, store_write_sync and the read functions may be called from
 * any thread; open/migrate/close from one.
 */
#ifndef BUNSEN_STORE_H
#define BUNSEN_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "bunsen/err.h"

struct store;
struct store_tx; /* an open write transaction, lent to apply() for its duration */

/* Open the database named by url: a SQLite path or `sqlite:PATH` (created if needed), or a
 * `postgres://` / `postgresql://` URL (libpq conninfo). Checks that the schema is not newer
 * than this binary (ERR_CONFLICT with a message if it is). Does not migrate. Returns a new
 * store in *out (free with store_close) or -1 (ERR_UNAVAILABLE when the database cannot be
 * reached, ERR_INVALID for a URL of no known backend). */
int store_open(const char *url, struct store **out, struct err *err);
/* As store_open, for commands that only read (`bunsen results`, `keys list`, `backup`): on
 * SQLite the file is opened read-only, never created, and its journal mode is left as it is
 * (a read-only mount, a user with read permission only, a backup file in rollback mode that
 * journal_mode=WAL converted). Writes fail (SQLITE_READONLY: ERR_UNAVAILABLE); migrations
 * are not possible. PostgreSQL: the same as store_open. */
int store_open_readonly(const char *url, struct store **out, struct err *err);

/* Whether store_open takes url (a SQLite path or sqlite:PATH, a PostgreSQL URL or libpq
 * conninfo), without opening anything: 0, or -1 with err (ERR_INVALID: an unsupported
 * scheme, an empty path). The CLI checks --database with it before it touches the data
 * directory. */
int store_url_check(const char *url, struct err *err);

/* The SQLite file a database URL names, without opening it: the path within url (borrowed,
 * after an optional `sqlite:`), or NULL when url names a PostgreSQL database (a URL or a
 * libpq key=value conninfo) or nothing store_open takes (store_open says why). */
const char *store_url_sqlite_file(const char *url);

/* The backend's name ("sqlite", "postgres"), for logs and metrics. */
const char *store_backend_name(const struct store *s);

/* ---- Known first exposures (src/store/exposed.c) ----
 * The first exposures this daemon knows to be committed, so that a logged assignment that
 * would only repeat one (same experiment, user and variant, at or after the stored time:
 * stored as nothing but a duplicate) is answered without a writer job. Kept from the states
 * each committed store_ingest_exposures left; emptied by store_exposed_clear (every
 * definition change must call it), by compaction and when full. Exact with one writer per
 * database. On a shared database another daemon's late exposure to another variant is not
 * seen (harmless since migration 0012: the user already counts as conflicting), nor is its
 * definition change until the notification arrives: an experiment deleted and created again
 * under the same key there meanwhile would have a first exposure answered from a stale
 * entry, unwritten. Hence off by default on PostgreSQL (docs/SCALING.md). */

/* Keep up to pairs entries (0 = off; 40-107 bytes each: 20 MiB for 200,000). Before
 * store_writer_start. */
void store_exposed_configure(struct store *s, size_t pairs);
/* Whether a logged exposure of user_id to variant of experiment at ts would change nothing. */
bool store_exposed_known(struct store *s, const char *experiment, const char *user_id,
                         const char *variant, int64_t ts);
void store_exposed_clear(struct store *s);

/* Stop the writer if running (draining its queue) and close every connection.
 * Accepts NULL. */
void store_close(struct store *s);

/* Apply the pending migrations of migrations/<dialect>/ in order, each in its own transaction,
 * recording them in schema_migrations. Safe to run concurrently from two processes.
 * *applied (may be NULL) receives the number applied now. */
int store_migrate(struct store *s, int *applied, struct err *err);

/* Highest applied migration version (0 for an empty database). */
int store_schema_version(struct store *s, int *version, struct err *err);
/* Highest migration version this binary has for s's backend. */
int store_schema_newest(const struct store *s);
/* The same by backend name ("sqlite", "postgres": store_backend_name's), without a store
 * (`bunsen version`); 0 for a name no backend has. */
int store_schema_newest_of(const char *backend);

/* One unit of work for the writer. The caller owns the job memory and keeps it alive
 * until done() has been called. apply() runs on the writer thread inside a savepoint
 * of the current group transaction: return 0 to keep its writes, -1 (err filled) to
 * roll them back. done() runs on the writer's completion thread, in commit order, after
 * the group committed (rc 0) or failed (rc -1, err filled; the job's writes are not in the
 * database); meanwhile the writer may already run later groups. */
struct store_job {
    int (*apply)(struct store_tx *tx, void *arg, struct err *err);
    void (*done)(void *arg, int rc, const struct err *err);
    void *arg;
    /* true: the job runs alone in its group, which commits right after it, so that its done()
     * runs before any later job's apply() (done() publishes what later jobs read, e.g. the
     * attribution rules). Definition changes are barriers: on a shared database their group
     * holds the catalogue lock exclusively (no other daemon ingests meanwhile). */
    bool barrier;
    /* true: apply() changes nothing outside the transaction and may run again after a
     * rollback. A group of such jobs runs without a savepoint per job; should one fail,
     * the group is rolled back and run again with savepoints (same outcome per job). */
    bool retryable;
    /* true: queued ahead of every waiting job (behind earlier urgent ones; the group running
     * ends first), for a job whose order no other job depends on: the readiness check, which
     * otherwise waited behind every queued ingestion group (seconds under large batches on
     * PostgreSQL) and made /readyz flap under load. Never with retryable or barrier. */
    bool urgent;
    /* Optional, for retryable jobs: apply several of them in one call. In a group run without
     * savepoints, consecutive jobs with the same apply_batch run as apply_batch(tx, their
     * args, n) (one set of database round trips for all, e.g. the exposures of many /assign
     * requests); if it fails, the group runs again with a savepoint and apply() per job, so
     * each job's outcome is what apply() alone gives. NULL: apply() alone. */
    int (*apply_batch)(struct store_tx *tx, void *const *args, size_t n, struct err *err);
    /* How many users apply() may lock (its items: events, exposures; 0 for none). On a shared
     * database a transaction locks each user it attributes for, and the lock table is
     * bounded: the writer keeps the sum of a group's items within the backend's budget (a
     * job over it runs alone and locks all users at once). An undercount costs a retry. */
    size_t items;
    /* Optional, for retryable jobs that lock users (items > 0): emit(ctx, user_id) for every
     * user apply() will lock (repeats allowed; the strings stay valid until done()). On a
     * shared database the writer locks the users of all of a group's jobs in one statement,
     * in one global order, before the first job runs: two daemons' groups then never wait
     * for each other's users in opposite orders (a deadlock, detected by PostgreSQL only
     * after deadlock_timeout). A user apply() locks that is not listed is taken only if no
     * other transaction holds it; else the job runs again, first in a later group. */
    void (*users)(void *arg, void (*emit)(void *ctx, const char *user_id), void *ctx);
    /* private to the writer */
    struct store_job *next;
    uint64_t queued_ns; /* when it was queued (monotonic) */
    int rc;
    int attempts; /* runs after a deadlock or serialization failure (retried, rolled back) */
    struct err err;
};

/* Jobs of at most this many items (store_job.items: a logged /assign, an SDK's events batch,
 * an admin write) queue ahead of larger ones, behind the urgent ones: one 10,000-event batch
 * held a 1-event POST for 0.4 s (2.1 s p99; 1.2 s p50 behind eight bulk clients), since the
 * queue was first in, first out. Their order among themselves is unchanged, and a larger job
 * that has waited STORE_BULK_WAIT_MS goes ahead of the small ones (never of the urgent ones),
 * at most every other group: neither kind starves the other. */
#define STORE_SMALL_ITEMS  100
#define STORE_BULK_WAIT_MS 500
/* While small jobs wait, or arrived while the last group ran, a group takes larger jobs only up
 * to this many items besides its first job (joiners included): a small job then waits for the
 * group running and about one larger job, not for two groups of the backend's whole budget
 * (SQLite: two 20,000-item groups, ~0.7 s p50 beside eight clients sending 10,000-event
 * batches; docs/RELIABILITY.md AB). */
#define STORE_BULK_BESIDE_SMALL_ITEMS 1000

/* Start the writer thread with a bound of queue_max pending jobs. */
int store_writer_start(struct store *s, int queue_max, struct err *err);

/* Stop accepting jobs, finish the queued ones, join the writer thread. Idempotent. The
 * stopped writer stays until store_close (or the next store_writer_start): store_submit and
 * store_write_sync, from any thread, then answer ERR_UNAVAILABLE "the server is shutting
 * down" (serve.c stops the writer while the HTTP server still takes requests). */
void store_writer_stop(struct store *s);

/* Queue a job. Returns 0 (done() will be called exactly once), or -1 with
 * ERR_UNAVAILABLE when the queue is full or the writer is stopped (done() is not called). */
int store_submit(struct store *s, struct store_job *job, struct err *err);

/* Run apply(tx, arg) in a committed transaction and wait for it: through the writer when
 * one was started (refused once it stopped), directly on the calling thread when none was
 * (CLI commands). Returns apply's
 * result, or -1 when the commit failed. */
int store_write_sync(struct store *s, int (*apply)(struct store_tx *tx, void *arg, struct err *err),
                     void *arg, struct err *err);

/* Writer counters for /metrics and tests (a consistent-enough snapshot, no lock held
 * across the read). */
struct store_writer_stats {
    uint64_t commits; /* group transactions committed */
    uint64_t jobs;    /* jobs finished (ok or failed) */
    uint64_t failed_commits;
    /* groups run again with a savepoint per job after one of their jobs failed */
    uint64_t reruns;
    int queue_depth;
    uint64_t last_batch;    /* jobs in the last group */
    uint64_t commit_ns_sum; /* total time spent in BEGIN..COMMIT */
};
void store_writer_get_stats(struct store *s, struct store_writer_stats *out);

/* Append the writer's and the database's metrics in Prometheus text form (queue depth,
 * commits, batch size and commit latency histograms, file sizes). */
struct buf;
void store_write_metrics(struct store *s, struct buf *b);

/* The end of an ERR_UNAVAILABLE message whose reason only the log may carry (libpq's text
 * names hosts and ports; replies go to anyone with an sdk key). */
#define STORE_REASON_IN_LOG " (the daemon's log has the reason)"

/* The fields of the daemon's own log line for a failure err (a jansson object for log_json):
 * "error", err's message; for one that ends in STORE_REASON_IN_LOG, when the backend kept a
 * reason (PostgreSQL: the latest connection failure, passwords masked, kept also when its own
 * "PostgreSQL connection failed" line was not written), the message without that end and
 * "reason". Any thread. */
struct json_t;
struct json_t *store_err_log_fields(struct store *s, const struct err *err);

/* Which database s serves, as fields added to a JSON object (the "started" log line, to tell
 * several daemons apart): "backend" ("sqlite", "postgres"), "database" (SQLite: the file's
 * path; PostgreSQL: the URL or conninfo, passwords masked, url_redact) and for PostgreSQL
 * "connected_to" (host, port, dbname, user that libpq connected with). Never a password. */
void store_describe(struct store *s, struct json_t *fields);

/* Start-up check: the database is writable by this process, has room (SQLite: 1 MiB free on
 * its file system) and is sound (SQLite: quick_check within budget_ms; a larger database is
 * not checked to the end). Returns 0 (sound), 1 (too large to finish the check in time: not
 * known corrupt), -1 with ERR_UNAVAILABLE and a message (read-only, full, corrupt). Call
 * before the writer starts. */
int store_check(struct store *s, int budget_ms, struct err *err);

/* True once any query of this process met a corrupt database page: /readyz then answers 503
 * until the operator restores a backup. Any thread. */
bool store_is_corrupt(struct store *s);

/* False while the database keeps this process waiting: a statement (or a connection) has
 * waited more than 200 ms for the server and no statement was answered in the last 200 ms (a
 * PostgreSQL server up but not answering: its processes stopped, its disk stuck). A request
 * that has an answer in memory (the last rebuild list for /metrics, a key verified before)
 * then uses it instead of waiting up to --db-timeout. Always true on SQLite, and while
 * nothing waits. Any thread; a few atomic reads. */
bool store_answering(struct store *s);

/* Whether the database is a server that may keep a read waiting (PostgreSQL), not a file of
 * this host (SQLite, where store_answering is always true and a read costs less on the
 * caller's thread than a hand-over to another). Any thread. */
bool store_remote(struct store *s);

/* The daemon is stopping (SIGTERM): from now on no wait for the database lasts past
 * --db-timeout from this call (a COMMIT's neither: cut off, its outcome is unknown, as when
 * the connection is lost) and no connection is opened, so the drain ends within about
 * --db-timeout whatever the database does: writes waiting for it answer 503. SQLite: a wait
 * for the write lock another process holds ends at once (503), whatever its busy timeout had
 * left. Any thread; once. */
void store_shutdown_begin(struct store *s);

/* ---- A consistent read ----
 * The reads of the calling thread between store_read_begin and store_read_end see one
 * committed state of the database: a document assembled from several reads (results: the
 * exposed users, each metric's roll-ups, a ratio's users, the rebuild's progress) never
 * mixes states from before and after a commit. SQLite: one read transaction on the
 * thread's read connection; PostgreSQL: one REPEATABLE READ, READ ONLY transaction on a
 * read connection the thread holds until store_read_end. Keep it short (SQLite cannot
 * checkpoint the WAL past it; PostgreSQL ends a transaction idle for 10 s). Not nested.
 * 0, or -1 with err filled (the reads could not have run either). Any thread. */
int store_read_begin(struct store *s, struct err *err);
void store_read_end(struct store *s);

/* ---- Backup ---- */

struct store_backup_stats {
    int64_t pages;  /* database pages copied */
    int64_t bytes;  /* size of the copy */
    double seconds; /* wall time */
};

/* Copy the database to the file dest, consistently, while other connections (a serving
 * daemon) keep writing: the copy holds every transaction committed before the call, passes
 * quick_check, and replaces dest atomically (rename). SQLite only (src/store/sqlite/backup.c;
 * other backends: ERR_INVALID naming their own tools). CLI: call with no writer running in
 * this process. */
int store_backup(struct store *s, const char *dest, struct store_backup_stats *out,
                 struct err *err);

/* Cheap liveness/writability probe used by /readyz: a write job that touches one row. */
int store_apply_ready_check(struct store_tx *tx, void *arg, struct err *err);

/* The definitions (experiments, metrics) this process attributes with must never be older
 * than the committed ones. hook(ctx, version, err) brings them up to date when version (the
 * committed catalogue version, or -1: read it with store_catalog_version) differs from the
 * loaded one, and returns 0, or -1 to refuse the writes at hand. A shared backend calls it
 * at the start of every write transaction (with the catalogue lock held shared, so the
 * version cannot move until commit) and from its change listener; the daemon's one-second
 * poll calls it too. Set once, before store_writer_start. */
void store_set_catalog_hook(struct store *s,
                            int (*hook)(void *ctx, int64_t version, struct err *err), void *ctx);

/* Run the catalogue hook now (the committed version is read): for a request that names an
 * experiment this process does not know yet. 0, or -1 when the hook failed. Any thread. */
int store_catalog_refresh(struct store *s, struct err *err);
/* The same for a request's thread, waiting at most wait_ms for it: on a database server the
 * refresh runs on a thread of its own (refresh.c), and a database that does not answer in
 * time gives -1 with ERR_UNAVAILABLE (503) instead of holding the caller for --db-timeout. On
 * SQLite: store_catalog_refresh. Any thread. */
int store_catalog_refresh_within(struct store *s, int wait_ms, struct err *err);

/* How long a statement may wait for the database server's answer (PostgreSQL; ms, 0 or less
 * waits forever; default 30 s): past it the connection is given up and the caller gets
 * ERR_UNAVAILABLE (503), so a server that hangs does not hang the writer and every request
 * behind it. A COMMIT and migrations are never cut. SQLite: nothing (no server). Any thread. */
void store_set_db_timeout(struct store *s, int ms);

/* Start listening for definition changes made by other processes (PostgreSQL: LISTEN on a
 * dedicated connection; SQLite: nothing, the poll suffices). Calls the catalogue hook. */
int store_listen(struct store *s, struct err *err);

/* ---- API keys (the adapters' keys.c) ---------------------------------------------------- */

struct store_key {
    char id[24];
    char name[129];
    char role[8];
    char prefix[16];
    int64_t created_at;
    int64_t revoked_at; /* 0 = active */
    bool encrypted;     /* an sdk key whose payload is encrypted (it has an encryption key) */
};

/* Insert a new key (hash = SHA-256 of the secret). ERR_CONFLICT if the id exists. */
int store_key_insert(struct store_tx *tx, const struct store_key *k, const uint8_t hash[32],
                     struct err *err);

/* Revoke key id at time now; *before receives the row as it was. ERR_NOT_FOUND when there is
 * no such key, ERR_CONFLICT when it is already revoked. Revocations run one at a time, also
 * across daemons: a store_key_count_admins after it in tx sees every other one committed. */
int store_key_revoke(struct store_tx *tx, const char *id, int64_t now, struct store_key *before,
                     struct err *err);

/* The active key whose secret hashes to hash (compared in constant time). Returns 0 and fills
 * out, or -1 with ERR_NOT_FOUND / ERR_UNAVAILABLE. Any thread (its read connection). */
int store_key_find_by_hash(struct store *s, const uint8_t hash[32], struct store_key *out,
                           struct err *err);

/* Every key (active and revoked), newest first, into a new array *out of *n (free()).
 * When include_revoked is false only active keys are listed. */
int store_key_list(struct store *s, bool include_revoked, struct store_key **out, size_t *n,
                   struct err *err);

/* Number of active admin keys (to decide whether to create the bootstrap key, or to refuse
 * revoking the last one). Inside apply() pass tx (the count sees the transaction's own
 * writes), elsewhere s and NULL (this thread's read connection). */
int store_key_count_admins(struct store *s, struct store_tx *tx, int *n, struct err *err);

/* Number of active keys named name, ignoring ASCII case ("E1" is "e1"), inside apply() (key
 * names are how the audit log and the dashboard tell actors apart: a second active key of one
 * name is refused). */
int store_key_count_named(struct store_tx *tx, const char *name, int *n, struct err *err);

/* ---- Audit log (the adapters' audit.c) -------------------------------------------------- */

struct store_audit {
    int64_t id;
    int64_t ts;
    const char *actor_id;
    const char *actor_name;
    const char *action;      /* "key.create", "experiment.start", ... */
    const char *target_type; /* "key", "experiment", "metric" */
    const char *target;
    const char *before_json; /* NULL = did not exist */
    const char *after_json;  /* NULL = deleted */
};

/* Append one entry in the caller's transaction (id and ts are assigned: ts = now). */
int store_audit_append(struct store_tx *tx, const struct store_audit *e, struct err *err);

/* List entries newest first: with id < before_id (0 = from the newest), optionally only for
 * one target_type/target (NULL = all), at most limit, and no entry past max_bytes of
 * before/after documents (0 = no bound; the first entry always comes): the documents of
 * the entries left out are not read. Calls emit(ctx, entry) per row; the entry's strings
 * are valid only during the call. 0, 1 when the byte bound ended the list (more entries
 * may follow), or -1 with err. */
int store_audit_list(struct store *s, int64_t before_id, const char *target_type,
                     const char *target, int limit, size_t max_bytes,
                     void (*emit)(void *ctx, const struct store_audit *e), void *ctx,
                     struct err *err);

/* ---- Catalogue: metrics and experiments (the adapters' catalog.c) ------------------------
 * Definitions are stored as their API JSON text; core/ parses them. Read functions take
 * an optional transaction: inside a writer apply() pass tx (reads see the transaction's
 * own writes), elsewhere NULL (this thread's read connection). Documents returned in
 * *doc are malloc'd (free()). */

/* Insert (create = true; ERR_CONFLICT when the key exists) or replace (ERR_NOT_FOUND when
 * it does not) a metric document. */
int store_metric_put(struct store_tx *tx, const char *key, const char *doc, int64_t created_at,
                     int64_t updated_at, bool create, struct err *err);
int store_metric_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                     struct err *err);
int store_metric_delete(struct store_tx *tx, const char *key, struct err *err);
/* Calls emit(ctx, doc) for every metric, ordered by key. */
int store_metric_list(struct store *s, void (*emit)(void *ctx, const char *doc), void *ctx,
                      struct err *err);
/* Keys of the experiments that use the metric (archived ones only when include_archived),
 * ordered by key: a new array *keys of *n malloc'd strings (free with store_keys_free), NULL
 * when there are none. No limit on their number. */
int store_metric_users(struct store_tx *tx, const char *metric, bool include_archived, char ***keys,
                       size_t *n, struct err *err);
/* Free an array from store_metric_users. NULL ok. */
void store_keys_free(char **keys, size_t n);

/* Insert or replace an experiment document with its status and the metrics it uses. */
int store_experiment_put(struct store_tx *tx, const char *key, const char *status, const char *doc,
                         const char *const *metrics, size_t nmetrics, int64_t created_at,
                         int64_t updated_at, bool create, struct err *err);
int store_experiment_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                         struct err *err);
int store_experiment_delete(struct store_tx *tx, const char *key, struct err *err);
/* The catalogue version: bumped by every experiment write (in the same transaction), read
 * once a second by the daemon to notice changes made by another process. A bump also stamps
 * the catalogue's change time (ms): now, or one more than the last stamp when that is not
 * earlier (clocks of several daemons), so every change, a delete too, moves it forward. */
int store_catalog_bump(struct store_tx *tx, struct err *err);
int store_catalog_version(struct store *s, int64_t *version, struct err *err);
/* The version and the change time one transaction committed together (*changed_at 0: no
 * change stamped yet, a database from before the stamp). */
int store_catalog_stamp(struct store *s, int64_t *version, int64_t *changed_at, struct err *err);
/* Calls emit(ctx, doc) for every experiment (status NULL = all), ordered by key. Inside a
 * writer apply() pass tx: a definition change's transaction holds the catalogue (SQLite's
 * write lock, PostgreSQL's catalogue lock taken exclusively at BEGIN), so what it reads is
 * every committed definition and none can commit until it ends (a check across experiments,
 * e.g. namespace overlap, holds against other daemons). NULL: a read connection. */
int store_experiment_list(struct store *s, struct store_tx *tx, const char *status,
                          void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err);

/* ---- Ingestion and attribution (src/store/attribution.c and its attribution_*.c pieces;
 * roll-ups in the adapters' rollup.c) --------------
 * Attribution rules say which events count toward which experiment's metric and how; the
 * api layer builds them from the experiment and metric definitions (src/api/rules.c) and
 * the writer applies them incrementally as exposures and events arrive. */

enum store_rule_type { RULE_BINOMIAL, RULE_COUNT, RULE_SUM };

struct store_rule {
    char experiment[65];
    char metric[65];
    char event[129];
    enum store_rule_type type;
    int64_t window_ms; /* 0 = no window: until the experiment stops */
    bool has_cap;
    double cap;          /* per-user values winsorized at cap */
    int64_t lookback_ms; /* CUPED pre-period length, 0 = none */
    int64_t start_ts;    /* experiment started at (ms): earlier days fold into its day */
    int64_t stop_ts;     /* experiment stopped at (ms), 0 = not stopped */
    bool dims;           /* the experiment lists dimensions: events also move its slices */
};

/* A set of rules indexed by event name and by experiment, with the stop times of every
 * stopped experiment (with metrics or not: exposures at or after them are ignored). */
struct store_rules {
    size_t n;
    struct store_rule *by_event;      /* sorted by (event, experiment) */
    const struct store_rule **by_exp; /* the same rules sorted by (experiment, metric) */
    size_t nstops;
    struct store_stop {
        char experiment[65];
        int64_t stop_ts; /* ms */
    } * stops;           /* sorted by experiment */
};

/* Build the indexes over rules[0..n) (takes ownership of the malloc'd array). */
struct store_rules *store_rules_new(struct store_rule *rules, size_t n);
void store_rules_free(struct store_rules *r);
/* Give r the stop times of the stopped experiments (takes ownership of the malloc'd array). */
void store_rules_set_stops(struct store_rules *r, struct store_stop *stops, size_t n);
/* When experiment stopped (ms), 0 when it has not (or r is NULL). */
int64_t store_rules_stopped_at(const struct store_rules *r, const char *experiment);
/* The rules of one experiment: *count rules starting at the returned pointer. */
const struct store_rule *const *store_rules_for_experiment(const struct store_rules *r,
                                                           const char *experiment, size_t *count);

/* One event as validated by the API: ts in ms; id NULL when absent. */
struct store_event {
    const char *user_id;
    const char *event;
    int64_t ts;
    double value;
    const char *id;
};

/* One exposure; the first per (user, experiment) is the one that counts. */
struct store_exposure {
    const char *experiment;
    const char *user_id;
    const char *variant;
    int64_t ts;
    /* The user's values of the experiment's dimensions, recorded with the first exposure only
     * (later exposures never change them): NULL or "" for none, else pairs
     * name STORE_DIM_SEP value joined by STORE_DIM_PAIR_SEP (store_dims_append). */
    const char *dims;
};

/* ---- Dimension breakdowns (issue 13; migration 0007) ----
 * The values recorded per (user, experiment) at the first exposure feed per-value roll-ups
 * ("slices") kept by the same writer jobs and the same deltas as the main ones, rebuilt with
 * them. Distinct values per (experiment, dimension) are capped: past STORE_DIM_VALUES_MAX a
 * new value is recorded as STORE_DIM_OTHER. A missing attribute is STORE_DIM_NONE. */
#define STORE_DIMS_MAX       3   /* dimensions per exposure (= MODEL_MAX_DIMENSIONS) */
#define STORE_DIM_VALUE_MAX  64  /* bytes of a recorded value (longer ones are cut) */
#define STORE_DIM_VALUES_MAX 100 /* distinct values recorded per (experiment, dimension) */
#define STORE_DIM_OTHER      "(other)"
#define STORE_DIM_NONE       "(none)"
#define STORE_DIM_SEP        '\x1f'
#define STORE_DIM_PAIR_SEP   '\x1e'

/* Append the pair (name, value) to the encoded dims *buf (malloc'd, NULL = empty): value is
 * cut to STORE_DIM_VALUE_MAX bytes at a UTF-8 boundary; control characters (C0, DEL, C1) and
 * invisible formatting characters (U+200B..D, U+202A..E, U+2066..9, U+FEFF) become one '?'
 * each; a value that reads as STORE_DIM_NONE or STORE_DIM_OTHER after leading apostrophes
 * gets one more leading '\'' ("(none)" -> "'(none)"), so those labels are only ever the
 * daemon's; NULL or "" becomes STORE_DIM_NONE. */
void store_dims_append(char **buf, const char *name, const char *value);

/* True when the backend keeps dimension breakdowns (every backend that has slice ops). A test
 * hook (test_store_rollup): the daemon does not call it. */
bool store_has_slices(const struct store *s);

struct store_suff;

/* The stored per-value statistics of experiment/metric broken down by dimension: emit per
 * (value, variant) row, ordered by value then variant (the last complete ones during a
 * rebuild). Any thread. ERR_UNAVAILABLE when the backend has no breakdowns. */
int store_slice_read(struct store *s, const char *experiment, const char *metric,
                     const char *dimension,
                     void (*emit)(void *ctx, const char *value, const struct store_suff *st),
                     void *ctx, struct err *err);

/* Exposed users per (value, variant) of experiment by dimension (emit per row). Any thread. */
int store_slice_exposures(struct store *s, const char *experiment, const char *dimension,
                          void (*emit)(void *ctx, const char *value, const char *variant,
                                       int64_t users),
                          void *ctx, struct err *err);

struct store_ingest_counts {
    int64_t accepted;   /* rows stored (events) or exposures recorded as first */
    int64_t duplicates; /* events skipped by id; repeated exposures to the same variant */
    int64_t conflicts;  /* exposures naming another variant than the user's first */
    int64_t ignored;    /* exposures at or after their experiment's stop: nothing stored */
};

/* Store events and update every roll-up they count toward. Inside apply(). */
int store_ingest_events(struct store_tx *tx, const struct store_rules *rules,
                        const struct store_event *events, size_t n,
                        struct store_ingest_counts *counts, struct err *err);

/* Record exposures (first per user and experiment wins; an earlier timestamp arriving late
 * replaces the kept one) and attribute the user's stored events to the experiment's
 * metrics. Exposures at or after their experiment's stop in rules are ignored (a request
 * that saw the experiment running may reach the writer after the stop). Inside apply(). */
int store_ingest_exposures(struct store_tx *tx, const struct store_rules *rules,
                           const struct store_exposure *exposures, size_t n,
                           struct store_ingest_counts *counts, struct err *err);

/* Recompute every roll-up of one experiment from the raw exposures and events with the
 * given rules (its rules only), in one transaction. stop_ts (0 = running): exposures and
 * events at or after it do not count.
 * The reference the tests and bench/ compare the chunked rebuild with (store_fixture.c
 * sl_full_apply, bench/rebuild_check.c): the daemon never calls it. It rebuilds through
 * store_rebuild_start / store_rebuild_step (api/rules.c, the rebuilder thread), and this
 * call does not touch their state table, so the next step of a running chunked rebuild
 * would overwrite what it wrote. */
int store_rollup_rebuild(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                         const struct store_rule *const *rules, size_t n, struct err *err);

/* Sufficient statistics of one (metric, variant): raw sums as double-doubles (value =
 * s + s_lo, ddouble.h), exact enough that moments about any shift keep full precision
 * whatever the values' magnitude, unless hwm says otherwise. */
struct store_suff {
    char variant[65];
    int64_t n;
    double s, q, sx, qx, p;
    double s_lo, q_lo, sx_lo, qx_lo, p_lo;
    /* The largest magnitude q, qx, p and the terms added to them have had (migration 0015;
     * the largest over the rows summed; 0 for sums not kept by deltas): a double-double
     * keeps ~2^-106 of it, so when it is far above the sums now, they may have lost what the
     * results need (src/api/results_exact.c). */
    double hwm;
};

/* The stored statistics of experiment/metric, one per variant that has any (emit per row). */
int store_rollup_read(struct store *s, const char *experiment, const char *metric,
                      void (*emit)(void *ctx, const struct store_suff *st), void *ctx,
                      struct err *err);

/* One exposed user of an experiment with the raw values (store_rule semantics before the
 * binomial / cap transform) of one or two metrics; 0 for a user without events. Strings
 * are valid during the emit call only. */
struct store_user_row {
    const char *user_id;
    const char *variant;
    int64_t first_exposure; /* ms */
    double y, x;            /* metric: value in the window, pre-period covariate */
    double y2, x2;          /* metric2 (0 when NULL) */
    const char *dim_value;  /* the user's recorded value of the page's dimension, or NULL */
};

/* Where a page of store_users_page ends; zero-initialised = the start. */
struct store_users_cursor {
    char variant[65];
    int64_t ts;
    char user_id[257];
    bool started;
};

/*
 * One page of the exposed users of experiment (first exposure before stop_ts, 0 = no stop),
 * ordered by (variant, first exposure, user_id), after *cur, at most limit rows: emit per
 * row, *cur advanced, *count the rows emitted (< limit: the last page). Each page is its own
 * short read (keyset pagination), so a caller may stream millions of users in bounded
 * memory without holding a read transaction. Uses the calling thread's reader connection.
 * dimension (one of the experiment's dimensions, or NULL): only the users with a recorded
 * value of it (those in its slices), each row with its value in dim_value.
 */
int store_users_page(struct store *s, const char *experiment, int64_t stop_ts, const char *metric,
                     const char *metric2, const char *dimension, struct store_users_cursor *cur,
                     int limit, void (*emit)(void *ctx, const struct store_user_row *row),
                     void *ctx, int *count, struct err *err);

/* Cumulative daily series by the day of the users' first exposure: emit(ctx, day, st) per
 * (variant, day) in day order with running totals: st->variant, n and the double-double sums
 * s, q, sx, qx, p (+ their lo parts; STATS.md numerics: the caller shifts them as for
 * store_rollup_read); hwm the largest through the day, infinite once a row without covariate
 * sums (written before migration 0016) was summed: results_sums_trusted then refuses it. */
int store_rollup_daily(struct store *s, const char *experiment, const char *metric,
                       void (*emit)(void *ctx, int64_t day, const struct store_suff *st), void *ctx,
                       struct err *err);

/* ---- Rebuilds beside ingestion (src/store/rebuild.c; the adapters' rebuild.c) ----------
 * A definition change records a rebuild of the experiment's roll-ups instead of recomputing
 * them in its own transaction (migration 0006 describes the tables): the last complete
 * roll-ups are kept (results read them until the rebuild ends), the live ones are rebuilt
 * in chunks of users in user_id order (binary order), each chunk a short writer job, while
 * ingestion keeps committing and updates the live roll-ups only of the users already
 * rebuilt (attribution asks for the cursors in its own transaction, after locking its users).
 * State lives in the database: after a crash the daemon continues at the cursor. */

struct store_rebuild {
    char experiment[65];
    char cursor[257];    /* users <= cursor are rebuilt ("" = none yet) */
    int64_t users_done;  /* users rebuilt so far */
    int64_t users_total; /* exposed users when it (re)started */
    int64_t generation;  /* 1, +1 each time a new change restarted it after a chunk ran */
    int64_t started_at;  /* ms */
    bool ratios_kept;    /* the ratio metrics' sums were kept (store_rebuild_keep_ratios) */
};

/* Progress in [0, 1) of a running rebuild (1 only once it is gone). */
double store_rebuild_progress(const struct store_rebuild *r);

/* Users per chunk (default 500) and a pause after each chunk (default 0 ms, for tests and
 * gentle rebuilds); set before the writer starts. Rebuilds of at most chunk_users users
 * complete inside the transaction that starts them. */
void store_rebuild_configure(struct store *s, size_t chunk_users, int pause_ms);
void store_rebuild_settings(const struct store *s, size_t *chunk_users, int *pause_ms);

/* Start (or restart) the rebuild of experiment's roll-ups with its new rules (the
 * experiment's rules only; stop_ts 0 = running). Inside apply(). Small experiments (at most
 * chunk_users exposed users) are rebuilt at once. */
int store_rebuild_start(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                        const struct store_rule *const *rules, size_t n, struct err *err);

/* One chunk of experiment's rebuild with its current rules. *finished: nothing was left (the
 * rebuild is over and its state removed), or there was no rebuild. Inside apply(). */
int store_rebuild_step(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                       const struct store_rule *const *rules, size_t n, bool *finished,
                       struct err *err);

/*
 * Ratio metrics during a rebuild (migration 0009). A ratio metric is computed from its
 * parts' per-user values, which the chunks rewrite, not from a roll-up, so its last complete
 * sums are kept apart: before the first chunk, the daemon's rebuilder sums each ratio metric
 * per variant (dimension "" and value "") and per value of each of the experiment's
 * dimensions from the values as they were (no chunk has run: ingestion stores raw rows only
 * while the cursor is ""), and keeps them with store_rebuild_keep_ratios. Rows with
 * dimension d, value "" and variant "" are markers: "d was kept" (even with no values).
 */
struct store_ratio_sums {
    const char *metric, *numerator, *denominator;
    const char *dimension; /* "" = the whole experiment */
    const char *value;     /* the dimension's value; "" for the whole experiment */
    struct store_suff st;  /* st.variant "" with value "": the marker of dimension */
};

/* Keep rows[0..n) as experiment's ratio sums and set ratios_kept, only if its rebuild is in
 * generation `generation`, no chunk has run (cursor "") and nothing was kept yet; *kept says
 * whether it happened. Inside apply(). */
int store_rebuild_keep_ratios(struct store_tx *tx, const char *experiment, int64_t generation,
                              const struct store_ratio_sums *rows, size_t n, bool *kept,
                              struct err *err);

/* The kept sums of ratio metric (with these parts) for dimension ("" = the whole experiment):
 * emit(ctx, value, st) per (value, variant) row. Returns 1 when they were kept, 0 when not
 * (no rebuild, not kept, or kept for other parts), -1 on error. Any thread (read
 * connection). */
int store_rebuild_ratio_read(struct store *s, const char *experiment, const char *metric,
                             const char *numerator, const char *denominator, const char *dimension,
                             void (*emit)(void *ctx, const char *value,
                                          const struct store_suff *st),
                             void *ctx, struct err *err);

/*
 * The metric definitions the kept roll-ups were built with (migration 0011). A metric edit
 * that rebuilds experiment records the metric's document as it was before the edit, only
 * if a rebuild of experiment is running and nothing is recorded for (experiment, metric)
 * yet: a restarted rebuild keeps the roll-ups of the first, so it keeps their definitions.
 * Dropped with the kept roll-ups when the rebuild ends. Inside apply(), after the rebuild
 * was started in the same transaction.
 */
int store_rebuild_keep_metric(struct store_tx *tx, const char *experiment, const char *metric,
                              const char *doc, struct err *err);

/* The document of metric recorded for experiment's running rebuild: 1 and *doc (malloc'd),
 * 0 when none is recorded (no rebuild, or the metric did not change), 2 when the rebuild's
 * definitions were never recorded (begun by a version before migration 0011, marked by
 * 0013: its kept roll-ups were built with definitions nobody knows), -1 on error. Any
 * thread (read connection). */
int store_rebuild_metric_get(struct store *s, const char *experiment, const char *metric,
                             char **doc, struct err *err);

/* Every running rebuild (emit per row, oldest first). Any thread (its read connection). */
int store_rebuild_list(struct store *s, void (*emit)(void *ctx, const struct store_rebuild *r),
                       void *ctx, struct err *err);

/* The running rebuild of one experiment: 1 and *out filled, 0 when there is none, -1 on
 * error. Any thread. */
int store_rebuild_get(struct store *s, const char *experiment, struct store_rebuild *out,
                      struct err *err);
/* The same inside apply(), in the writer's transaction. */
int store_rebuild_get_tx(struct store_tx *tx, const char *experiment, struct store_rebuild *out,
                         struct err *err);

/* ---- Compaction (the adapters' compact.c) ---- */

struct store_compact_stats {
    int64_t events;      /* raw events removed */
    int64_t exposures;   /* exposures of archived experiments removed */
    int64_t user_values; /* per-user metric rows of archived experiments removed */
    int64_t rebuilding;  /* archived experiments kept whole: their rebuild is still running */
    int64_t ratio_kept;  /* archived experiments kept whole: they analyse a ratio metric,
                          * which sums its parts' per-user values on each read */
    /* SQLite: the WAL could not be checkpointed and truncated at the end (readers or another
     * writer kept it busy through every try); its frames then and those copied */
    bool wal_busy;
    int64_t wal_frames, wal_copied;
};

/* Remove raw rows no result can need any more (see compact.c), in small transactions, then
 * give the space back (SQLite: checkpoint and truncate the WAL; out->wal_busy when that could
 * not complete, the rows being removed all the same: 0 is returned). horizon_ms: events older
 * than now - horizon of users in no live experiment go. Call from the CLI (main connection;
 * safe while a daemon runs). */
int store_compact(struct store *s, int64_t horizon_ms, struct store_compact_stats *out,
                  struct err *err);

/* Exposed users per variant (emit per variant) and the total of conflicts. */
int store_exposure_by_variant(struct store *s, const char *experiment,
                              void (*emit)(void *ctx, const char *variant, int64_t users),
                              void *ctx, int64_t *conflicts, struct err *err);

/* ---- Saved groups (src/store/saved_groups.c) --------------------------------------------
 * Named lists of attribute values for $inGroup / $notInGroup, stored as their API JSON
 * document (src/core/saved_group.c). Same conventions as the catalogue above: tx inside a
 * writer apply(), NULL elsewhere. */
int store_saved_group_put(struct store_tx *tx, const char *key, const char *doc, int64_t created_at,
                          int64_t updated_at, bool create, struct err *err);
int store_saved_group_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                          struct err *err);
int store_saved_group_delete(struct store_tx *tx, const char *key, struct err *err);
/* Calls emit(ctx, doc) for every saved group, ordered by key. */
int store_saved_group_list(struct store *s, struct store_tx *tx,
                           void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err);
/* Calls emit(ctx, key, version) for every saved group, ordered by key, on s's read connection
 * (key borrowed for the call), reading no document. A group's version is the one its last
 * put took: every put takes one never used before, across keys and deletes too (migration
 * 0017), so a (key, version) pair names one stored text; a group not written since that
 * migration has 0. What the catalogue reload reads to load only the groups that changed. */
int store_saved_group_versions(struct store *s,
                               void (*emit)(void *ctx, const char *key, int64_t version), void *ctx,
                               struct err *err);
/* A group's document (*doc malloc'd, the caller frees) and its version, read together (one
 * statement). ERR_NOT_FOUND when there is none. */
int store_saved_group_read(struct store *s, const char *key, char **doc, int64_t *version,
                           struct err *err);

/* ---- Encrypted payloads (issue 15) ----
 * An sdk key created with "encrypt": true has an encryption key (base64 of 16 bytes, the
 * GrowthBook SDK's decryptionKey): its features payload is served encrypted. */
int store_key_set_encryption(struct store_tx *tx, const char *id, const char *secret,
                             struct err *err);
/* The encryption key of active key id into out ("" when it has none). ERR_NOT_FOUND when
 * the key is unknown or revoked. Any thread. */
int store_key_encryption(struct store *s, const char *id, char *out, size_t n, struct err *err);

#endif
