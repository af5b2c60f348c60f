/*
 * harness.h - API tests start the real `bunsen` binary (BUNSEN_BIN, default
 * build/bunsen) on 127.0.0.1 port 0 with a temporary data dir, read the port it prints,
 * and talk HTTP/1.1 to it over plain sockets (so that malformed requests can be sent
 * byte for byte). One request per connection.
 */
#ifndef BUNSEN_TEST_HARNESS_H
#define BUNSEN_TEST_HARNESS_H

#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

struct daemon {
    pid_t pid;
    int port;
    char dir[256];      /* data dir (temporary, removed by daemon_cleanup) */
    char admin_key[64]; /* from <dir>/admin.key */
    int out_fd;         /* read end of the daemon's stdout, kept open so it never blocks */
    char db_url[512];   /* PostgreSQL runs: the daemon's own database ("" = SQLite in dir) */
    bool db_owned;      /* db_url was created for this daemon (dropped by daemon_cleanup) */
};

/* The backend the API tests run against: BUNSEN_TEST_DATABASE unset = SQLite in each
 * daemon's data dir; a postgres:// URL of a server = a fresh database per daemon_start
 * (created there, dropped by daemon_cleanup). */
bool harness_on_postgres(void);

/* Sleep ms milliseconds (the tests' wait loops). */
void sleep_ms(long ms);

/* The data directory of the test cluster (BUNSEN_TEST_PGDIR, set by tests/pg/api.sh: for
 * tests/pg/cluster.sh restart), or NULL. */
const char *harness_pg_dir(void);

/* Start a daemon on a fresh temp data dir; extra args (NULL-terminated list, may be NULL)
 * are appended to `serve`. Returns 0 or -1. */
int daemon_start(struct daemon *d, const char *const *extra);
/* As daemon_start on a given database: "sqlite" (SQLite in the data dir whatever the test
 * backend), "fresh" (a new database on the test server), or a URL shared with other daemons
 * (not dropped by daemon_cleanup). */
int daemon_start_db(struct daemon *d, const char *database, const char *const *extra);
/* daemon_start_db without the start: the data dir and database are ready, daemon_restart
 * starts it (e.g. several at once from threads). */
int daemon_prepare_db(struct daemon *d, const char *database);
/* Start again on the same data dir (after stop or kill). */
int daemon_restart(struct daemon *d, const char *const *extra);
/* On PostgreSQL, retry a keyed request to d while it answers 503 (a cold key lookup over its
 * 200 ms), up to 5 s: daemon_start and daemon_restart do it with d->admin_key, a daemon
 * started on a database whose admin key another one wrote needs it with that key. */
void harness_warm(struct daemon *d, const char *key);
/* SIGTERM and wait; returns the exit status (or -1). */
int daemon_stop(struct daemon *d);
/* SIGKILL and reap. */
void daemon_kill9(struct daemon *d);
/* Stop if running and remove the data dir. */
void daemon_cleanup(struct daemon *d);

/* Read the daemon's database (read-only, alongside the running daemon): the integer of the
 * first column of the first row of sql (portable SQL: ?N parameters, which PostgreSQL runs as
 * $N text), with n text parameters bound in order (NULL binds
 * SQL NULL). Fails the test on any error. */
long long daemon_db_int(const struct daemon *d, const char *sql, int n, ...);
/* As daemon_db_int for up to 8 columns of the first row as doubles (SQL NULL = 0; no row =
 * all 0) into out[0..ncols), and for every row: daemon_db_rows calls row(ctx, cols) with the
 * row's columns as text (NULL = ""). */
void daemon_db_doubles(const struct daemon *d, const char *sql, double *out, int ncols, int n, ...);
void daemon_db_rows(const struct daemon *d, const char *sql,
                    void (*row)(void *ctx, const char *const *cols, int ncols), void *ctx);

/* Write to the daemon's database (stopped: a test standing in for rows an older version
 * wrote): sql with n text parameters, as daemon_db_int. Fails the test on any error. */
void daemon_db_exec(const struct daemon *d, const char *sql, int n, ...);

/* The first column of the first row of sql on the SQLite file at path (a backup, a copy)
 * opened with flags (sqlite3_open_v2's: SQLITE_OPEN_READONLY to look; READWRITE, which
 * replays a log left beside the file as the daemon's next open would), as an integer, or as
 * text (malloc'd). Fails the test on any error or no row. */
long long harness_file_int(const char *path, int flags, const char *sql);
char *harness_file_text(const char *path, int flags, const char *sql);

/* Run `bunsen ARGS...` (NULL-terminated) to completion; returns its exit code and, when
 * out is not NULL, its stdout+stderr (malloc'd, NUL-terminated). */
int bunsen_run(char **out, const char *const *args);
/* As bunsen_run, as the user nobody (65534, no supplementary groups) when the tests run as
 * root, whom no file mode stops (a test of modes would prove nothing), else as this user;
 * killed after 30 s (a serve that started after all). Exit code 126: the user could not be
 * changed; -1: it did not exit. */
int bunsen_run_unprivileged(char **out, const char *const *args);

struct resp {
    int status;
    char *headers; /* raw header block */
    char *body;
    size_t body_len;
};
void resp_free(struct resp *r);
/* Header value (case-insensitive name) copied into out, or false. */
bool resp_header(const struct resp *r, const char *name, char *out, size_t n);
/* Body parsed as JSON (new reference) or NULL. */
json_t *resp_json(const struct resp *r);
/* The error code string of a JSON error body ("" when not an error body). */
const char *resp_error_code(const struct resp *r);
/* The field of a JSON error body ("" when none); valid until the thread's next call. */
const char *resp_error_field(const struct resp *r);

/* Send a request. key: Bearer key or NULL. body: JSON text or NULL (then no body);
 * content_type NULL = application/json when there is a body. Returns 0 or -1 (I/O). */
int http_req(int port, const char *method, const char *path, const char *key, const char *body,
             struct resp *out);
int http_req_ct(int port, const char *method, const char *path, const char *key,
                const char *content_type, const char *body, size_t body_len, struct resp *out);
/* As http_req_ct with extra header lines ("Name: value\r\n"..., may be NULL). */
int http_req_hdr(int port, const char *method, const char *path, const char *key,
                 const char *headers, const char *content_type, const char *body, size_t body_len,
                 struct resp *out);
/* Send raw bytes and read the response until the server closes. */
int http_raw(int port, const char *raw, size_t len, struct resp *out);
/* The sockets under http_raw and harness_send: a connection to 127.0.0.1:port with send and
 * receive timeouts of timeout_s (hang detectors), or -1; harness_send_all: all n bytes of p
 * (0, or -1 when a send failed); harness_recv_all: everything until the peer closes or the
 * timeout (malloc'd, NUL-terminated, *len bytes), and closes fd. */
int harness_connect(int port, int timeout_s);
int harness_send_all(int fd, const char *p, size_t n);
char *harness_recv_all(int fd, size_t *len);
/* The same as a client that writes its whole request before it reads the reply and fails
 * when it cannot (most HTTP libraries): -1 when the server stopped reading (broken pipe,
 * reset). */
int http_raw_strict(int port, const char *raw, size_t len, struct resp *out);

/* Convenience: request and return parsed JSON (NULL on failure); *status receives the code. */
json_t *http_json(int port, const char *method, const char *path, const char *key, const char *body,
                  int *status);

/* As http_json, failing the test on an I/O error or a status other than want: the parsed
 * body (new reference; NULL when it is not JSON). */
json_t *harness_call(int port, const char *method, const char *path, const char *key,
                     const char *body, int want);

/* Set-up shared by the API tests, each failing the test unless the daemon answers 201 (200
 * for a start). admin: an admin key (struct daemon.admin_key).
 * harness_sdk_key: a new sdk key named "sdk"; its secret copied into out (cap bytes: the test
 * fails when it does not fit). harness_sdk_key_named: the same named name (JSON text as is,
 * not escaped), and its id into id (id_cap bytes) unless id is NULL.
 * harness_metric: POST /api/v1/metrics with the JSON text body.
 * harness_started_experiment: POST /api/v1/experiments with the JSON text body, whose "key"
 * is key, then POST /api/v1/experiments/<key>/start. body may come from fmt(). */
void harness_sdk_key(int port, const char *admin, char *out, size_t cap);
void harness_sdk_key_named(int port, const char *admin, const char *name, char *out, size_t cap,
                           char *id, size_t id_cap);
void harness_metric(int port, const char *admin, const char *body);
void harness_started_experiment(int port, const char *admin, const char *key, const char *body);

/* The teardown of a test's daemon: daemon_stop, then daemon_cleanup. Returns 0 when it exited 0
 * on SIGTERM (under ASan a leak makes it exit 23), else -1 with the status on stderr. */
int harness_stop(struct daemon *d);
/* daemon_start(d, extra), then harness_sdk_key into sdk (cap bytes). Returns 0, or -1 when
 * the daemon did not start (a key the daemon refuses fails the test). */
int harness_start_with_key(struct daemon *d, const char *const *extra, char *sdk, size_t cap);
/* The metrics of the ratio tests: "m" counts "buy", "v" counts "view" (both without a CUPED
 * look-back), "r" is the ratio m / v. */
void harness_ratio_metrics(int port, const char *admin);

/* Clocks (harness_time.c). harness_now_ms: monotonic whole milliseconds (how long a reply or
 * an exit took); harness_clock_ms: the same with fractions (latencies under a millisecond),
 * harness_clock_s in seconds; harness_wall_ms: wall-clock milliseconds since the epoch, to the
 * second (the base of the timestamps a test sends). */
uint64_t harness_now_ms(void);
double harness_clock_ms(void);
double harness_clock_s(void);
int64_t harness_wall_ms(void);

/* One timed request (http_req): the caller fills port..body (designated initialisers, the rest
 * zero); harness_timed_call sends it on this thread and fills status (-1: no reply: the
 * client's timeout or the connection closed), ms (how long until the reply), retry_after
 * (the header, "" when none) and body_start (the body, cut). harness_timed_start sends it on a
 * thread of its own (failing the test when none starts), harness_timed_join waits for it.
 * The strings are borrowed until the reply is in. */
struct harness_timed {
    int port;
    const char *method;
    const char *path;
    const char *key;
    const char *body;
    int status;
    uint64_t ms;
    char retry_after[16];
    char body_start[200];
    pthread_t th;
};
void harness_timed_call(struct harness_timed *t);
void harness_timed_start(struct harness_timed *t);
void harness_timed_join(struct harness_timed *t);

/* Holding slow work where the test chooses (harness_hold.c). harness_gate_init names a gate
 * file (path, cap bytes) and puts it in the environment of daemons started after it
 * (BUNSEN_TEST_OFFLOAD_GATE, src/http/offload.c): while the file exists (harness_gate_close;
 * harness_gate_open removes it and the count) the threads of their slow reads' offload pool hold
 * each request they take before its handler runs (large ingestion bodies, on a pool of their
 * own, are not held); harness_gate_held: how many it holds so far (since the last close);
 * harness_gate_wait_held waits until it holds n, or until one of the nfds fds has a reply
 * (a request answered without being held), and returns how many it holds (HARNESS_HANG_S: a
 * hang detector). harness_send sends a request on a connection of its own (key, body may be
 * NULL) and returns the fd (-1: not sent); harness_answered: its reply has begun (no wait);
 * harness_recv_status reads the reply to the end, closes fd, returns the status (-1: none)
 * and, when code is not NULL, the error code of a JSON error body ("" otherwise). Receive
 * timeouts are HARNESS_HANG_S: a hang detector, not a latency bound. harness_bench_latency:
 * BUNSEN_BENCH_LATENCY=1, where the tests print latencies for bench/isolation.sh (never
 * asserted). */
#define HARNESS_HANG_S 60
void harness_gate_init(char *path, size_t cap);
void harness_gate_close(const char *path);
void harness_gate_open(const char *path);
int harness_gate_held(const char *path);
int harness_gate_wait_held(const char *path, int n, const int *fds, int nfds);
int harness_send(int port, const char *method, const char *path, const char *key, const char *body);
/* harness_send, but with keep_unsent a send that failed (the server answered, 413, and closed
 * before the body was all out) still returns the fd, so that the reply can be read. */
int harness_send_req(int port, const char *method, const char *path, const char *key,
                     const char *body, bool keep_unsent);
bool harness_answered(int fd);
int harness_recv_status(int fd, char *code, size_t codecap);
/* harness_recv_status's reading: the status (-1: none) and, when body is not NULL, *body the
 * reply's body as JSON (a new reference; NULL when it is none). Closes fd. */
int harness_recv_reply(int fd, json_t **body);
bool harness_bench_latency(void);

/* printf into a static-per-thread buffer (for paths). */
const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* Readers (harness_util.c). harness_metric_value: the value of one series of port's /metrics,
 * named as the exposition writes it at a line's start ("bunsen_sdk_streams",
 * "bunsen_ingested_rows_total{kind=\"event\"}"), scraped with key (NULL: anonymous); -1 when
 * absent; fails the test unless /metrics answers 200. str: the string member name of o (lent
 * by o), "(none)" when absent or not a string. slurp: the whole file at path (malloc'd,
 * NUL-terminated; empty when it cannot be opened). */
double harness_metric_value(int port, const char *key, const char *series);
const char *str(const json_t *o, const char *name);
char *slurp(const char *path);
/* Fill the file system of path with a file at path until ENOSPC (every byte: the last
 * partial block too). */
void harness_fill_disk(const char *path);
/* http_status: the status of one request (http_req; key and body may be NULL), -1 when no
 * reply came. harness_key: a new key of role ("admin", "sdk", ...) on d, named uniquely
 * ("t-<role>-<n>"); its secret copied into out (n bytes) and, unless id is NULL, its id into
 * id (idn bytes); fails the test unless the daemon answers 201. harness_count: how many times
 * needle occurs in hay (overlapping ones too). harness_wait_text: waits until the file at path
 * holds needle n times or more (a line the daemon writes once it has done what it logs) and
 * returns the count (HARNESS_HANG_S: a hang detector only). */
int http_status(int port, const char *method, const char *path, const char *key, const char *body);
void harness_key(const struct daemon *d, const char *role, char *out, size_t n, char *id,
                 size_t idn);
int harness_count(const char *hay, const char *needle);
int harness_wait_text(const char *path, const char *needle, int n);
/* The newest migration the binary has for the backend under test (the migrations compiled
 * in: SQLite's, or PostgreSQL's on a PostgreSQL run): what `bunsen version`, /healthz and
 * bunsen_build_info report. */
int harness_schema_newest(void);

#endif
