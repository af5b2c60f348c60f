/*
 * conn.c - the PostgreSQL adapter's libpq connections: opening one, reopening a broken one,
 * the answer timeout (await_answer, and the reads of results within it: pg_next_result,
 * pg_last_result, pg_exec_result), and the mapping of a failed result to an err code
 * (pg_fail). Statements on a connection (the per-connection cache of prepared statements,
 * pg_run, pg_exec, and the writer's pipeline: pg_defer, pg_prefetch, pg_commit) are in
 * pipeline.c; the pool of read connections and the consistent reads in pool.c.
 *
 * Failover: the conninfo may name several hosts with target_session_attrs=read-write.
 * A connection that fails (lost, admin shutdown, read-only after a demotion) is marked
 * broken and reopened before its next use, which lands on the current primary; until one
 * is reachable, writes fail with ERR_UNAVAILABLE (503 + Retry-After), never a 2xx.
 *
 * Threads: a connection is used by one thread at a time (the writer's, or a reader's between
 * pg_reader_get and pg_reader_put).
 */
#define _GNU_SOURCE /* memmem */
#include "pg_int.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/log.h"
#include "bunsen/util.h"
#include "version.h" /* generated: build/gen/version.h */

/* ---- connections ---- */

/*
 * Every session: ms timestamps and doubles travel as text, so every digit of a double must
 * round-trip; and random page reads priced as what they are for the rows a daemon touches
 * (cached, or on SSD): 1.1, the usual setting for such storage, instead of the default 4.
 * With 4, a custom plan (a prepared statement's first runs, or its first after an ANALYZE)
 * costs fetching 500 rows of user_metrics by ctid above scanning and hashing a table of
 * 40,000: 12.6 ms instead of 2.7 for the user values update of a batch (docs/PERFORMANCE.md
 * "Tenth pass"). An operator's own setting for the role or database is overridden for
 * these sessions only.
 * And the server's side of what a daemon that stops answering leaves behind, unless the
 * operator set them (for the role, the database, the server's configuration or in the URL's
 * options: pg_settings.source is then not 'default'; over TCP the keep-alives read back as
 * the kernel's values, never 0, so the value itself cannot tell): the writer is
 * inside a transaction almost all the time under load, holding the catalogue lock shared
 * and its users' locks, so a frozen daemon (SIGSTOP, a paused VM) or a vanished host held
 * them until it came back or the server's TCP stack gave up (~2 h), and every other daemon's
 * writes and definition changes queued behind them. Now a transaction left idle for 10 s
 * is ended by the server (a daemon's transactions run statement after statement; one that
 * was cut answers 503 and nothing acknowledged is lost), and the server probes a silent
 * client after 10 s (tcp_keepalives_*, tcp_user_timeout). And a statement this daemon
 * gave up waiting for (await_answer) is ended by the server within 2 s
 * (client_connection_check_interval, PostgreSQL 14 and later): left running, each held its
 * locks and a connection slot while the next statement opened another (a review counted 64
 * sessions after 60 s of a table locked elsewhere).
 */
static const char SQL_SESSION[] =
    "SET extra_float_digits = 3; SET client_min_messages = warning; SET random_page_cost = 1.1; "
    "SELECT set_config(d.name, d.v, false) FROM (VALUES "
    "('idle_in_transaction_session_timeout', '10s'), ('tcp_keepalives_idle', '10'), "
    "('tcp_keepalives_interval', '5'), ('tcp_keepalives_count', '3'), "
    "('tcp_user_timeout', '30000'), ('client_connection_check_interval', '2s')) "
    "AS d(name, v) JOIN pg_settings s ON s.name = d.name "
    "WHERE s.source = 'default'";

/* libpq's text (several lines, tab-indented hints; with several hosts, a paragraph per host
 * tried) as one line: line breaks become "; ", tabs spaces, trailing ones dropped. */
static void flatten(const char *in, char *out, size_t n)
{
    size_t o = 0;
    for (const char *q = in; *q != '\0' && o + 3 < n; q++) {
        if (*q == '\n') {
            while (q[1] == '\n' || q[1] == '\t') {
                q++;
            }
            if (q[1] != '\0') {
                out[o++] = ';';
                out[o++] = ' ';
            }
        } else {
            out[o++] = *q == '\t' ? ' ' : *q;
        }
    }
    out[o] = '\0';
}

/*
 * What the server said to this daemon outside any statement (the notices and warnings of
 * its statements are few: client_min_messages is warning): a restart's "terminating
 * connection due to immediate shutdown command" on every connection, an idle session's
 * termination, the listener's ANALYZE (SKIP_LOCKED) that skipped a locked table. libpq's
 * default printed them on stderr as plain text, outside the JSON log (and past --log-file).
 * Now logged: WARNING and worse at warn, except a lock not available (55P03: a skipped
 * ANALYZE, expected) at debug; NOTICE and below at debug. A restart sends one per
 * connection: at most 20 lines per 10 s, the rest counted in the next line.
 */
static void notice_to_log(void *arg, const PGresult *res)
{
    static struct log_limit limit;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    /* A FATAL outside a statement (pg_terminate_backend, a shutdown) ends the session: the
     * connection is marked broken when it arrives, not when the end of file behind it does.
     * The server sends the FATAL, then leaves pg_stat_activity, then closes the socket: an
     * idle pooled reader whose FATAL had come but not yet its end of file was taken as alive
     * (pool.c idle_conn_lost), and the read on it answered 503 with a working one idle. */
    struct pg_conn *owner = arg;
    if (owner != NULL && sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0)) {
        owner->broken = true;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *text = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (text == NULL) {
        text = PQresultErrorMessage(res);
    }
    bool serious = sev != NULL && (strcmp(sev, "WARNING") == 0 || strcmp(sev, "ERROR") == 0 ||
                                   strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
    enum log_level level =
        serious && (state == NULL || strcmp(state, "55P03") != 0) ? LOG_WARN : LOG_DEBUG;
    if (!log_enabled(level)) {
        return;
    }
    long gone = 0;
    if (!log_limit_take(&limit, "PostgreSQL notice", LOG_WARN, (int64_t)(time_mono_ns() / 1000000),
                        20, 10000, &gone)) {
        return;
    }
    char line[512];
    flatten(text != NULL ? text : "", line, sizeof(line));
    json_t *f = json_pack("{s:s, s:s, s:s}", "severity", sev != NULL ? sev : "", "sqlstate",
                          state != NULL ? state : "", "message", line);
    if (f != NULL && gone > 0) {
        json_object_set_new(f, "not_logged_before", json_integer(gone));
    }
    log_json(level, "PostgreSQL notice", f);
}

/*
 * A connection with Bunsen's defaults under the operator's URL (or key=value conninfo),
 * which overrides them (and a fallback_application_name, which names the build): libpq keeps the
 * last value of a key word, and the URL comes last. TCP keep-alives (10 s idle, then 3 probes 5 s
 * apart) and a 30 s bound on data the server has not acknowledged: a database host that vanished
 * (powered off, partitioned away) is then noticed within ~30 s, its requests answered 503, instead
 * of after the kernel's retransmission timeout of ~15 minutes, during which the writer and every
 * thread reading waited. A server that is up but hung (its TCP stack answering) is not caught by
 * these: the answer timeout below is for that.
 */
static PGconn *connect_with_defaults(const char *conninfo, const _Atomic int *timeout_ms,
                                     struct pg_conn *owner)
{
    static const char *const keys[] = {
        "connect_timeout",           "keepalives",       "keepalives_idle",
        "keepalives_interval",       "keepalives_count", "tcp_user_timeout",
        "fallback_application_name", "dbname",           NULL};
    /* a connection waits no longer than a statement would (--db-timeout; libpq's least is 2) */
    int limit = timeout_ms != NULL ? atomic_load(timeout_ms) : 0;
    int secs = limit > 0 && limit < 10000 ? (limit + 999) / 1000 : 10;
    char connect_timeout[16];
    snprintf(connect_timeout, sizeof(connect_timeout), "%d", secs < 2 ? 2 : secs);
    /* Who this session is, in pg_stat_activity (and the server's log with %a): the build
     * and the newest schema it has. pg_migrate warns of the sessions on the database that do
     * not start with "bunsen/" (builds older than this name, which may not refuse writes
     * under a newer schema). A fallback: the URL's application_name (or PGAPPNAME) wins. */
    char app_name[64];
    snprintf(app_name, sizeof(app_name), "%s%s/%s/schema%d", PG_APP_NAME_PREFIX, BUNSEN_VERSION,
             BUNSEN_GIT_REV, store_schema_newest_of("postgres"));
    const char *values[] = {connect_timeout, "1",      "10",     "5", "3",
                            "30000",         app_name, conninfo, NULL};
    PGconn *pg = PQconnectdbParams(keys, values, 1);
    if (pg != NULL) {
        PQsetNoticeReceiver(pg, notice_to_log, owner);
    }
    return pg;
}

/*
 * Waiting for the server's answer, with a deadline. libpq's own waits (PQexec, PQgetResult)
 * last as long as the server takes: one that is up but does not answer (its processes
 * stopped, its disk stuck) held the writer, and every write, /readyz and a SIGTERM drain
 * behind it, for as long as it lasted; the TCP settings above do not see it, as the
 * server's kernel still acknowledges. Every statement's answer but a COMMIT's is now
 * awaited for at most the store's answer timeout (--db-timeout, default 30 s; 0 waits
 * forever; migrations always wait): past it, the connection is abandoned (the server ends
 * the statement within client_connection_check_interval, SQL_SESSION) and the caller gets
 * ERR_UNAVAILABLE, so requests answer 503 and nothing unanswered is acknowledged. A COMMIT
 * is awaited without one (pg_commit): cut off, it may commit all the same, and the client's
 * retry of a 503 would store an event without an id twice. Sending is bounded by
 * tcp_user_timeout (a server that stops reading leaves our data unacknowledged).
 * 0 once a result can be read without blocking (or the connection failed: PQgetResult then
 * says so), -1 when the deadline passed (c->broken and c->timed_out set).
 */
static int await_answer(struct pg_conn *c)
{
    if (!PQisBusy(c->pg)) {
        return 0;
    }
    /* no deadline (--db-timeout 0, a COMMIT, migrations): waited here all the same, so that
     * pg_answering sees the wait and a shutdown bounds it */
    int timeout = c->timeout_ms != NULL ? atomic_load(c->timeout_ms) : 0;
    int limit = !c->no_deadline ? timeout : 0;
    uint64_t start = time_mono_ns();
    pg_wait_begin(c, start);
    while (PQisBusy(c->pg)) {
        uint64_t now = time_mono_ns();
        /* again each time: a shutdown that began meanwhile shortens it */
        uint64_t deadline = pg_wait_deadline(start, limit, c->closing_ns, timeout);
        if (now >= deadline) {
            c->broken = true;
            c->timed_out = true;
            pg_wait_end(c, false);
            return -1;
        }
        struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
        if (pfd.fd < 0) {
            break;
        }
        uint64_t left_ms = (deadline - now + 999999u) / 1000000u;
        int n = poll(&pfd, 1, left_ms > 1000 ? 1000 : (int)left_ms);
        if (n < 0 && errno != EINTR) {
            break;
        }
        if (n > 0 && !PQconsumeInput(c->pg)) {
            break;
        }
    }
    pg_wait_end(c, !PQisBusy(c->pg));
    return 0;
}

/* PQgetResult within the deadline: NULL when the deadline passed (or no result is left). */
PGresult *pg_next_result(struct pg_conn *c)
{
    return await_answer(c) == 0 ? PQgetResult(c->pg) : NULL;
}

/* The end of PQexec's work for a query sent with PQsend*: every result read, the last one
 * returned (the error, when a statement of a multi-statement text failed: the rest is
 * skipped). NULL when the connection failed before any result or the deadline passed. */
PGresult *pg_last_result(struct pg_conn *c)
{
    PGresult *last = NULL, *r;
    while ((r = pg_next_result(c)) != NULL) {
        PQclear(last);
        last = r;
        ExecStatusType st = PQresultStatus(r);
        /* pg_commit's answer: a session the server ends right after the COMMIT (its FATAL
         * the last result here) committed all the same */
        c->committed = c->committed || pg_result_committed(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH ||
            PQstatus(c->pg) == CONNECTION_BAD) {
            break;
        }
    }
    if (c->timed_out) {
        PQclear(last);
        return NULL;
    }
    return last;
}

PGresult *pg_exec_result(struct pg_conn *c, const char *sql)
{
    return PQsendQuery(c->pg, sql) == 1 ? pg_last_result(c) : NULL;
}

/* Close c's libpq connection. One whose server stopped answering may have a full socket
 * buffer: PQfinish's goodbye must not wait on it. */
static void abandon(struct pg_conn *c)
{
    if (c->timed_out && c->pg != NULL) {
        PQsetnonblocking(c->pg, 1);
    }
    PQfinish(c->pg);
    c->pg = NULL;
}

/* The latest connection failure's text (what, ": ", libpq's text as one line), for the
 * log lines of the failures it caused (store_err_log_fields): a reply says only that the
 * database is unavailable "(the daemon's log has the reason)", and those lines carried the
 * same words instead of the reason (review journey35 F2). Kept on every failure, also one
 * whose own line is not written: an outage's first failure ("the database system is
 * shutting down") is not its reason 2 s later ("Connection refused"). */
static pthread_mutex_t last_failure_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_failure[1600]; /* what (<= 60 bytes), ": ", libpq's text */

bool pg_last_connection_failure(char *out, size_t n)
{
    pthread_mutex_lock(&last_failure_mu);
    snprintf(out, n, "%s", last_failure);
    pthread_mutex_unlock(&last_failure_mu);
    return out[0] != '\0';
}

/* A connection failure's libpq text names hosts and ports: it goes to the log (at most
 * every 10 s, an outage fails every request), and the error, which replies carry to anyone
 * with an sdk key or none (/readyz), says only what happened. what: the statement's kind
 * ("exec", "query"; NULL for a connection attempt), for the log only. detail has no
 * password: libpq's text, with those of the conninfo masked by the caller where libpq may
 * quote the conninfo (redact_conninfo). */
static void log_connection_failure(const char *what, const char *detail)
{
    /* every line: with several hosts in the URL, libpq says why each one failed, and the
     * first (the old primary after a failover, down) is rarely the one that matters (it
     * kept only the first line: "Connection refused", not the primary's "too many
     * clients") */
    char clean[1536];
    flatten(detail, clean, sizeof(clean));
    pthread_mutex_lock(&last_failure_mu);
    snprintf(last_failure, sizeof(last_failure), "%.60s%s%s", what != NULL ? what : "",
             what != NULL ? ": " : "", clean);
    pthread_mutex_unlock(&last_failure_mu);
    static _Atomic int64_t last_ms;
    int64_t now = time_now_ms(), last = atomic_load(&last_ms);
    if (now - last >= 10000 && atomic_compare_exchange_strong(&last_ms, &last, now)) {
        json_t *f = json_pack("{s:s}", "error", clean);
        if (f != NULL && what != NULL) {
            json_object_set_new(f, "during", json_string(what));
        }
        log_json(LOG_WARN, "PostgreSQL connection failed", f);
    }
}

/* A statement the server refused for a cause of its own (out of disk space, memory or
 * connection slots; a privilege the operator took away): the client's error says only what
 * (its file paths, OIDs and "PANIC" reached anyone with an sdk key: review chaos36 F4), the
 * server's text goes to the log and is the reason of the failures' lines (store_err_log_fields),
 * as for a connection failure. Such a cause fails every write while it lasts (a review counted
 * ~150 lines a second per daemon): at most 10 lines per 10 s, the rest counted (log.h). */
static void log_server_refusal(const char *what, const PGresult *res, const char *msg)
{
    static struct log_limit limit;
    char clean[1024];
    flatten(msg, clean, sizeof(clean));
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    pthread_mutex_lock(&last_failure_mu);
    snprintf(last_failure, sizeof(last_failure), "%.60s: %s (SQLSTATE %s)", what, clean,
             state != NULL ? state : "none");
    pthread_mutex_unlock(&last_failure_mu);
    long gone = 0;
    if (!log_limit_take(&limit, "PostgreSQL refused a statement", LOG_ERROR,
                        (int64_t)(time_mono_ns() / 1000000), 10, 10000, &gone)) {
        return;
    }
    json_t *f = json_pack("{s:s, s:s, s:s}", "during", what, "sqlstate", state != NULL ? state : "",
                          "error", clean);
    if (f != NULL && gone > 0) {
        json_object_set_new(f, "not_logged_before", json_integer(gone));
    }
    log_json(LOG_ERROR, "PostgreSQL refused a statement", f);
}

/* The reason a connection attempt failed, for the operator (bunsen serve or migrate that
 * cannot start): libpq's paragraph for the last host it tried (each host's begins
 * "connection to server"), as one line; 200 bytes of the whole text ended in the first
 * host's hint, before the reason of the host that mattered. true when msg had more than that
 * paragraph (several hosts' reasons: the whole text is worth a log line). */
static bool last_host_reason(const char *msg, char *out, size_t n)
{
    const char *last = msg;
    for (const char *q = strstr(msg, "\nconnection to server"); q != NULL;
         q = strstr(q + 1, "\nconnection to server")) {
        last = q + 1;
    }
    flatten(last, out, n);
    return last != msg;
}

/* Does token (n bytes) share 3 bytes in a row with secret, or does a piece of it between the
 * bytes libpq splits a conninfo at (a blank, '&', '/', '@', ':', '?', '=') equal a piece of
 * secret: "password=S3cr&Qz" makes libpq quote "Qz", "S3/cr@h" reads port "S3", and
 * "u:p@zq@h" host "zq@h" (review diff34 F2: no 3 bytes of "zq@h" are in "p@zq"). */
static bool overlaps_secret(const char *token, size_t n, const char *secret)
{
    static const char split[] = " \t&/@:?=";
    size_t sn = strlen(secret);
    if (sn == 0 || n == 0) {
        return false;
    }
    for (size_t i = 0; i + 3 <= n; i++) {
        if (memmem(secret, sn, token + i, 3) != NULL) {
            return true;
        }
    }
    for (size_t t = 0; t < n;) {
        size_t tp = 0; /* the token's piece at t */
        while (t + tp < n && strchr(split, token[t + tp]) == NULL) {
            tp++;
        }
        for (const char *s = secret; tp > 0 && *s != '\0'; s += *s != '\0') {
            size_t piece = strcspn(s, split);
            if (piece == tp && memcmp(s, token + t, tp) == 0) {
                return true;
            }
            s += piece;
        }
        t += tp + 1;
    }
    return false;
}

/* Mask the n bytes at p: "***" and the rest dropped when n >= 3, else '*' for each. The text
 * never grows (it sits in a fixed buffer). */
static void mask(char *p, size_t n)
{
    if (n >= 3) {
        memcpy(p, "***", 3);
        memmove(p + 3, p + n, strlen(p + n) + 1);
    } else {
        memset(p, '*', n);
    }
}

/* msg with every double-quoted token (libpq quotes the token it could not read) that
 * overlaps secret masked, a quote left open masked to the end when what follows overlaps
 * it, and every other copy of secret masked too, in place. libpq writes a token as "%s",
 * a '"' in it unescaped: when secret holds '"', a token may run over as many more quotes
 * as it does, and the longest such run that overlaps is masked ("a"bc" masked as "***",
 * not as "***"bc"); and any quote may open one, as the pairing of quotes is then lost. */
static void redact_secret(char *msg, const char *secret)
{
    size_t n = strlen(secret), more = 0;
    if (n == 0) {
        return;
    }
    for (const char *s = strchr(secret, '"'); s != NULL; s = strchr(s + 1, '"')) {
        more++;
    }
    for (char *q = strchr(msg, '"'); q != NULL;) {
        char *first = strchr(q + 1, '"'), *end = NULL;
        size_t seen = 0; /* closing quotes tried */
        for (char *e = first; e != NULL && seen <= more; e = strchr(e + 1, '"')) {
            seen++;
            if (overlaps_secret(q + 1, (size_t)(e - q - 1), secret)) {
                end = e;
            }
        }
        if (seen <= more) { /* fewer closing quotes than the token may hold: to the end */
            size_t rest = strlen(q + 1);
            if (overlaps_secret(q + 1, rest, secret)) {
                mask(q + 1, rest);
                break;
            }
        }
        if (end != NULL) {
            size_t len = (size_t)(end - q - 1);
            mask(q + 1, len);
            first = q + 1 + (len >= 3 ? 3 : len); /* its closing quote, now */
            q = strchr(first + 1, '"');
        } else if (first == NULL) {
            break;
        } else {
            q = more > 0 ? first : strchr(first + 1, '"');
        }
    }
    for (char *p = n >= 3 ? strstr(msg, secret) : NULL; p != NULL; p = strstr(p + 3, secret)) {
        mask(p, n);
    }
}

/* text (a libpq message about conninfo) with every password of conninfo redacted (a quoted
 * one's quotes left out: libpq quotes no part of one it read as a value). */
static void redact_conninfo(char *text, const char *conninfo)
{
    struct url_password pw[8];
    size_t n = url_find_passwords(conninfo, pw, 8);
    struct url_password *all = n > 8 ? xcalloc(n, sizeof(*all)) : pw;
    if (all != pw) {
        url_find_passwords(conninfo, all, n);
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = conninfo + all[i].off;
        size_t len = all[i].len;
        if (len >= 2 && v[0] == '\'' && v[len - 1] == '\'') {
            v++;
            len -= 2;
        }
        char *secret = xstrndup(v, len);
        redact_secret(text, secret);
        explicit_bzero(secret, len);
        free(secret);
    }
    if (all != pw) {
        free(all);
    }
}

int pg_conninfo_check(const char *conninfo, struct err *err)
{
    char *why = NULL;
    PQconninfoOption *o = PQconninfoParse(conninfo, &why);
    if (o != NULL) {
        PQconninfoFree(o);
        return 0;
    }
    char reason[sizeof(err->msg) - 40];
    flatten(why != NULL ? why : "out of memory", reason, sizeof(reason));
    PQfreemem(why);
    /* libpq quotes the token it could not read, a password too ("invalid percent-encoded
     * token: "pa%zz"": review diff32 4) */
    redact_conninfo(reason, conninfo);
    return err_set(err, ERR_INVALID, "database", "%s", reason);
}

/* Whether libpq's "invalid ..." reason is about a setting of the connection string (a
 * value, a port, an option, a URL), which no retry fixes, and not about the exchange with
 * the server ("invalid SCRAM response", "invalid connection state", "invalid socket"),
 * which a retry may: serve then exits 1, which the unit restarts, not 2. */
static bool conninfo_setting(const char *reason)
{
    static const char *const about[] = {" value",   "port number", "connection option",
                                        "LDAP URL", "URI",         "percent-encoded"};
    const char *end = strchr(reason, ':');
    size_t n = end != NULL ? (size_t)(end - reason) : strlen(reason);
    for (size_t i = 0; i < sizeof(about) / sizeof(about[0]); i++) {
        const char *hit = strstr(reason, about[i]);
        if (hit != NULL && (size_t)(hit - reason) < n) {
            return true;
        }
    }
    return false;
}

struct pg_conn *pg_conn_open(const char *conninfo, const _Atomic int *timeout_ms, struct err *err)
{
    struct pg_conn *c = xcalloc(1, sizeof(*c));
    c->timeout_ms = timeout_ms;
    c->pg = connect_with_defaults(conninfo, timeout_ms, c);
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        char msg[1536], reason[sizeof(err->msg) - 40];
        snprintf(msg, sizeof(msg), "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        /* a password libpq read as something else (an unencoded '/' in a URL's: "u:pa/ss@h"
         * is host "u", port "pa") is quoted in a setting's error (review diff33 3) */
        redact_conninfo(msg, conninfo);
        /* the whole text, every host's reason, in the log; one host's is the message alone
         * (it was printed twice: the log line, then the command's "bunsen:" line) */
        if (last_host_reason(msg, reason, sizeof(reason))) {
            log_connection_failure(NULL, msg);
        }
        /* a setting libpq checks only as it connects, before it sends anything: "invalid
         * sslmode value: ...", or for a host "connection to server at ... failed: invalid
         * integer value "abc" for connection option "connect_timeout"": a usage error, which
         * no retry fixes */
        const char *setting = strstr(reason, " failed: invalid ");
        setting = strncmp(reason, "invalid ", 8) == 0 ? reason
                  : setting != NULL                   ? setting + strlen(" failed: ")
                                                      : NULL;
        if (setting != NULL && conninfo_setting(setting)) {
            err_set(err, ERR_INVALID, "database", "%s", setting);
        } else {
            err_set(err, ERR_UNAVAILABLE, NULL, "cannot connect to PostgreSQL: %s", reason);
        }
        pg_conn_close(c);
        return NULL;
    }
    PQclear(pg_exec_result(c, SQL_SESSION));
    if (c->timed_out) {
        pg_fail(c, NULL, "session set-up", err);
        pg_conn_close(c);
        return NULL;
    }
    return c;
}

void pg_conn_close(struct pg_conn *c)
{
    if (c == NULL) {
        return;
    }
    pg_prefetch_clear(c);
    abandon(c);
    free(c->end_after_commit);
    free(c);
}

int pg_conn_ensure(struct pg_conn *c, const char *conninfo, struct err *err)
{
    if (!c->broken && PQstatus(c->pg) == CONNECTION_OK) {
        return 0;
    }
    abandon(c);
    c->timed_out = false;
    memset(c->prepared, 0, sizeof(c->prepared));
    c->release_pending = false;
    c->defer = false;
    c->npending = 0;
    pg_prefetch_clear(c);
    if (c->closing_ns != NULL && atomic_load(c->closing_ns) != 0) {
        /* stopping: a connection attempt would wait up to connect_timeout more */
        c->broken = true;
        return err_set(err, ERR_UNAVAILABLE, NULL, "shutting down: database unavailable");
    }
    pg_wait_begin(c, time_mono_ns()); /* a server that does not answer: up to connect_timeout */
    c->pg = connect_with_defaults(conninfo, c->timeout_ms, c);
    pg_wait_end(c, c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK);
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        c->broken = true;
        char msg[1536];
        snprintf(msg, sizeof(msg), "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        redact_conninfo(msg, conninfo);
        log_connection_failure(NULL, msg);
        return err_set(err, ERR_UNAVAILABLE, NULL, PG_UNREACHABLE);
    }
    PQclear(pg_exec_result(c, SQL_SESSION));
    c->broken = c->timed_out;
    if (c->broken) {
        return pg_fail(c, NULL, "session set-up", err);
    }
    return 0;
}

static bool sqlstate_is(const PGresult *res, const char *prefix)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return st != NULL && strncmp(st, prefix, strlen(prefix)) == 0;
}

bool pg_result_committed(PGresult *res)
{
    return res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK &&
           strcmp(PQcmdStatus(res), "COMMIT") == 0;
}

/* Whether res failed with a deadlock or serialization failure. */
static bool err_is_retry(const PGresult *res)
{
    return sqlstate_is(res, "40001") || sqlstate_is(res, "40P01");
}

int pg_fail(struct pg_conn *c, PGresult *res, const char *what, struct err *err)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (msg == NULL || *msg == '\0') {
        msg = PQerrorMessage(c->pg);
    }
    char clean[160];
    snprintf(clean, sizeof(clean), "%s", msg);
    clean[strcspn(clean, "\n")] = '\0';
    if (c->timed_out) {
        c->recurs = true;
        char why[96];
        snprintf(why, sizeof(why), "PostgreSQL did not answer within %d ms",
                 c->timeout_ms != NULL ? atomic_load(c->timeout_ms) : 0);
        log_connection_failure(what, why);
        return err_set(err, ERR_UNAVAILABLE, NULL,
                       "the database did not answer in time" STORE_REASON_IN_LOG);
    }
    if (PQstatus(c->pg) != CONNECTION_OK || sqlstate_is(res, "08") || sqlstate_is(res, "57P") ||
        sqlstate_is(res, "25006") || res == NULL) {
        c->broken = true;
        log_connection_failure(what, msg);
        /* one wording for clients, whichever statement found the database gone: "exec:
         * database unavailable" reached them too (review journey35 F2); what is the log's */
        return err_set(err, ERR_UNAVAILABLE, NULL, PG_UNREACHABLE);
    }
    c->intact = false;
    if (err_is_retry(res)) {
        c->retry = true;
        if (c->owner != NULL && sqlstate_is(res, "40P01")) {
            c->owner->deadlocks++;
        }
        return err_set(err, ERR_UNAVAILABLE, NULL, "%s: %s", what, clean);
    }
    if (sqlstate_is(res, "53")) {
        /* insufficient resources: one wording per resource for clients, the server's text
         * (a file's path, "PANIC") in the log */
        c->recurs = true;
        log_server_refusal(what, res, msg);
        if (sqlstate_is(res, "53100")) {
            c->full_seen = true;
            if (c->owner != NULL) { /* /readyz says so until a commit succeeds (db.c) */
                int64_t now = (int64_t)(time_mono_ns() / 1000000);
                atomic_store(&c->owner->full_ms, now > 0 ? now : 1);
            }
            return err_set(err, ERR_UNAVAILABLE, NULL,
                           "the database is out of disk space" STORE_REASON_IN_LOG);
        }
        return err_set(err, ERR_UNAVAILABLE, NULL, "%s" STORE_REASON_IN_LOG,
                       sqlstate_is(res, "53200")   ? "the database is out of memory"
                       : sqlstate_is(res, "53300") ? "the database has too many connections"
                                                   : "the database is out of a resource");
    }
    if (sqlstate_is(res, "55P03")) {
        c->recurs = true;
        return err_set(err, ERR_UNAVAILABLE, NULL, "%s: %s", what, clean);
    }
    /* query_canceled: the daemon never cancels a statement itself (a statement it stops
     * waiting for is abandoned with its connection, await_answer), so this is the server's
     * statement_timeout (the role's or database's setting, shorter than the statement
     * needed) or an administrator's pg_cancel_backend: like the other server-side limits, a
     * 503 the client retries, not a fault of the request (it answered 500 "internal") */
    if (sqlstate_is(res, "57014")) {
        c->recurs = true;
        /* A role's or database's statement_timeout applies to the sessions opened after it was
         * set, and the operator's RESET of one too low did not reach the daemon's sessions:
         * writes kept failing until something ended them (review chaos36 F2). So a statement
         * timeout ends the session; the next use opens one with the settings of now. Only
         * an administrator's cancel ("due to user request") keeps it; the text is the
         * server's language, so a server speaking another one recycles for both. */
        const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        if (primary == NULL || strstr(primary, "due to user request") == NULL) {
            c->broken = true;
        }
        return err_set(err, ERR_UNAVAILABLE, NULL,
                       "%s: the database cancelled the statement (its statement_timeout, or "
                       "pg_cancel_backend)",
                       what);
    }
    /* insufficient_privilege: a grant the operator took away (REVOKE INSERT ON events), not a
     * fault of the request: it answered 500 without Retry-After and the server's text, and
     * clients that retry 503 only dropped the batch (review chaos36 F7). A 503 the client
     * retries, the server's text in the log (rate-limited: every write fails while it lasts).
     * Only this job: the others of its group (a logged /assign) may not need the grant. */
    if (sqlstate_is(res, "42501")) {
        log_server_refusal(what, res, msg);
        return err_set(err, ERR_UNAVAILABLE, NULL,
                       "the database refused the daemon a privilege" STORE_REASON_IN_LOG);
    }
    if (sqlstate_is(res, "22021")) { /* invalid UTF-8 in a parameter: matches nothing stored */
        return err_set(err, ERR_NOT_FOUND, NULL, "%s: not valid UTF-8", what);
    }
    if (sqlstate_is(res, "23")) {
        return err_set(err, ERR_CONFLICT, NULL, "%s: %s", what, clean);
    }
    return err_set(err, ERR_INTERNAL, NULL, "%s: %s", what, clean);
}
