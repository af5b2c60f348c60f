/*
 * serve.c - `bunsen serve`: configuration, data dir, migrations, bootstrap admin key,
 * the writer and HTTP server, signal handling and graceful shutdown.
 *
 * Threads: the main thread owns start-up and shutdown and otherwise waits for SIGINT /
 * SIGTERM (stop) and SIGHUP (reopen the log, reload keys and catalogue), all blocked in every
 * thread and taken with sigwaitinfo; the ticker checks the catalogue once a second. Shutdown
 * order: bound every wait for the database (store_shutdown_begin) -> stop the ticker and the
 * rebuilder -> drain the writer (resumes every suspended request with its reply) -> stop MHD
 * (waits for in-flight handlers) -> checkpoint the WAL -> close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gsl/gsl_errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bunsen/api.h"
#include "bunsen/app.h"
#include "bunsen/cli.h"
#include "bunsen/dblock.h"
#include "bunsen/http.h"
#include "bunsen/log.h"
#include "bunsen/util.h"
#include "version.h" /* generated: build/gen/version.h */

static const char serve_usage[] = "usage: bunsen serve [options]\n"
                                  "Run the Bunsen daemon. Options (each also as an environment "
                                  "variable):\n";

/* The dashboard: the first directory that exists of <dir of the executable>/../web (a source
 * tree: build/bunsen), <dir of the executable>/../share/bunsen/web (an installed or staged
 * `make install`, wherever it was moved), and ./web. No PREFIX is compiled in: `make install`
 * with another PREFIX than the build's would recompile as root (Makefile, install). */
static void default_web_dir(char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    const char *dir = ".";
    if (len > 0) {
        exe[len] = '\0';
        dir = dirname(exe);
    }
    char candidates[2][PATH_MAX + 32];
    snprintf(candidates[0], sizeof(candidates[0]), "%s/../web", dir);
    snprintf(candidates[1], sizeof(candidates[1]), "%s/../share/bunsen/web", dir);
    for (int i = 0; len > 0 && i < 2; i++) {
        struct stat st;
        if (stat(candidates[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(out, n, "%.*s", (int)n - 1, candidates[i]);
            return;
        }
    }
    snprintf(out, n, "./web");
}

static int write_admin_key_file(const char *data_dir, const char *secret)
{
    char path[CONFIG_DATA_FILE_SIZE];
    snprintf(path, sizeof(path), "%s/admin.key", data_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return -1;
    }
    fchmod(fd, 0600);
    size_t len = strlen(secret);
    bool ok = write(fd, secret, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    return ok ? 0 : -1;
}

/* The catalogue version the loaded snapshot (experiments and attribution rules) was built
 * from, and the hook that keeps it current (store_set_catalog_hook): called by the one-second
 * poll below, by a shared backend's change listener, and at the start of its write
 * transactions, so that no ingestion attributes with definitions older than the committed
 * ones. */
struct catalog_state {
    struct app *app;
    pthread_mutex_t mu;
    bool closed; /* shutting down: the HTTP server (SDK streams) may be gone; under mu */
};

static int catalog_hook(void *ctx, int64_t version, struct err *err)
{
    struct catalog_state *cs = ctx;
    if (version < 0 && store_catalog_version(cs->app->store, &version, err) != 0) {
        return -1;
    }
    pthread_mutex_lock(&cs->mu);
    /* a reload after this daemon's own change recorded its version already */
    int rc = cs->closed ? 0 : api_experiments_reload_unless(cs->app, version, err);
    pthread_mutex_unlock(&cs->mu);
    return rc;
}

/* The once-a-second catalogue check (another process, or this one, changed the experiments:
 * rebuild the snapshot), on a thread of its own. On the main thread, a database that did not
 * answer held it for up to --db-timeout (and a reconnection's connect_timeout), and a SIGTERM
 * waited as long before the drain began. */
struct ticker {
    struct catalog_state *cs;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on stop */
    bool stop;
};

static void *ticker_main(void *arg)
{
    struct ticker *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        struct timespec until = time_monotonic_in(1000);
        pthread_cond_timedwait(&t->cv, &t->mu, &until);
        if (t->stop) {
            break;
        }
        pthread_mutex_unlock(&t->mu);
        /* reloading after our own writes too is harmless and keeps one code path */
        struct err err;
        err_clear(&err);
        /* during a database outage it fails every second: a line per 10 s, and one when it
         * works again (review journey35 F2) */
        static struct log_streak reload_streak;
        if (catalog_hook(t->cs, -1, &err) != 0) {
            log_streak_fail(&reload_streak, "experiment reload failed",
                            store_err_log_fields(t->cs->app->store, &err));
        } else {
            log_streak_ok(&reload_streak, "experiment reload recovered");
        }
        /* the count of a flood's last lines not logged (429s, MHD's warnings) */
        log_limits_flush((int64_t)(time_mono_ns() / 1000000));
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static void ticker_stop(struct ticker *t)
{
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->th, NULL); /* a check under way: within --db-timeout (store_shutdown_begin) */
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

/* First start with no admin key: create one, print it once, keep it in admin.key. */
static int bootstrap_admin(struct app *app)
{
    struct err err;
    err_clear(&err);
    int admins = 0;
    if (store_key_count_admins(app->store, NULL, &admins, &err) != 0) {
        fprintf(stderr, "bunsen: %s\n", err.msg);
        return -1;
    }
    char path[CONFIG_DATA_FILE_SIZE];
    snprintf(path, sizeof(path), "%s/admin.key", app->cfg.data_dir);
    if (admins > 0) {
        if (access(path, R_OK) == 0) {
            log_json(LOG_INFO, "admin key file", json_pack("{s:s}", "path", path));
        }
        return 0;
    }
    /* decided again where the key is created: another daemon on the same database may
     * have created it since the count above */
    char secret[AUTH_SECRET_LEN + 1], id[AUTH_ID_LEN + 1];
    int rc =
        cli_create_key(app->store, "bootstrap-admin", "admin", "system", true, secret, id, &err);
    if (rc < 0) {
        fprintf(stderr, "bunsen: cannot create the bootstrap admin key: %s\n", err.msg);
        return -1;
    }
    if (rc > 0) {
        return 0; /* another daemon created it: its admin.key has it */
    }
    bool saved = write_admin_key_file(app->cfg.data_dir, secret) == 0;
    if (!saved) {
        log_json(LOG_WARN, "cannot write the admin key file",
                 json_pack("{s:s, s:s}", "path", path, "error", strerror(errno)));
    }
    /* Secrets never go to the log stream: stderr is often a journal or a log file. The key is
     * printed only to a terminal (plain text, for the person there); otherwise it is only in
     * the 0600 file, and the log says where (JSON, as every log line). */
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr,
                "bunsen: created the bootstrap admin key (shown once, also saved to %s):\n"
                "bunsen: admin key: %s\n",
                path, secret);
    } else if (saved) {
        /* a warning, so that no level filters it out: the operator must find the key */
        log_json(LOG_WARN, "created the bootstrap admin key (printed only on a terminal)",
                 json_pack("{s:s}", "path", path));
    } else {
        log_msg(LOG_WARN, "created the bootstrap admin key, but it is in no file: create another "
                          "with `bunsen keys create --role admin --name NAME` (printed on its "
                          "stdout)");
    }
    sodium_memzero(secret, sizeof(secret));
    return 0;
}

/* One daemon per SQLite file (dblock.c): a second `bunsen serve` on the same file, by any
 * path or link to it, is refused. The CLI commands take no lock (SQLite coordinates their
 * transactions with the daemon's), except `bunsen migrate` with migrations pending. Returns 0
 * (locked, or not SQLite) or -1 (held by another process: said on stderr). */
static int lock_sqlite_file(const struct config *cfg)
{
    char url[CONFIG_DB_PATH_SIZE], held[PATH_MAX + 8];
    config_db_path(cfg, url, sizeof(url));
    if (dblock_take(url, held, sizeof(held)) == 0) {
        return 0;
    }
    fprintf(stderr,
            "bunsen: another bunsen serve is running on the database %s (or `bunsen migrate` is "
            "migrating it): a process holds a lock on %s, perhaps through another path or a "
            "hard link to the file; one daemon per SQLite file (several daemons need "
            "PostgreSQL: docs/SCALING.md)\n",
            store_url_sqlite_file(url), held);
    return -1;
}

/* A daemon built before the lock (dblock.c) takes none: with migrations pending, this daemon's
 * start-up migration would change the schema under it, as `bunsen migrate` would (cli.c).
 * Its SQLite connection shows on the -shm (dblock_sqlite_user); so does a CLI command's,
 * for the moment it runs. Returns 0, or -1 (said on stderr). */
static int refuse_beside_old_daemon(const struct config *cfg)
{
    char url[CONFIG_DB_PATH_SIZE];
    config_db_path(cfg, url, sizeof(url));
    pid_t other = dblock_sqlite_user(url);
    if (other == 0) {
        return 0;
    }
    struct store *s = cli_open_store(cfg, CLI_STORE_AS_IS);
    if (s == NULL) {
        return -1;
    }
    struct err err;
    err_clear(&err);
    int version = 0, rc = 0;
    if (store_schema_version(s, &version, &err) == 0 && version < store_schema_newest(s)) {
        fprintf(stderr,
                "bunsen: another process has the database %s open (pid %ld): stop it before "
                "this bunsen serve migrates from schema version %d to %d (a daemon would go on "
                "writing with the old schema)\n",
                store_url_sqlite_file(url), (long)other, version, store_schema_newest(s));
        rc = -1;
    }
    store_close(s);
    return rc;
}

/* Every connection is a descriptor: a limit below --max-connections made libmicrohttpd stop
 * accepting ("Hit process or system resource limit") and /healthz time out long before the
 * cap (ulimit -n 128: 200 idle connections). The soft limit is raised as far as the hard one
 * allows; what is still short is said once at start. Besides the connections: the database,
 * -wal and -shm of each SQLite connection (the writer, the checkpointer, a reader per HTTP
 * thread, the rebuilder, the SDK streams' publisher), the log, the listening socket and
 * libmicrohttpd's own: 64 + 3 x (threads + 4). */
static void check_fd_limit(const struct config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) { /* a seccomp filter denying @resources */
        log_json(LOG_WARN,
                 "cannot read the open-file limit: --max-connections is not checked against it",
                 json_pack("{s:s}", "error", strerror(errno)));
        return;
    }
    if (rl.rlim_cur == RLIM_INFINITY) {
        return;
    }
    rlim_t want = (rlim_t)cfg->conn_limit + 64 + 3 * ((rlim_t)cfg->threads + 4);
    if (rl.rlim_cur < want) {
        struct rlimit raised = {
            rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want, rl.rlim_max};
        if (raised.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            rl.rlim_cur = raised.rlim_cur;
        }
    }
    if (rl.rlim_cur < want) {
        log_json(LOG_WARN,
                 "--max-connections exceeds what the open-file limit (ulimit -n, LimitNOFILE) "
                 "leaves: connections beyond it wait unaccepted; lower --max-connections or "
                 "raise the limit",
                 json_pack("{s:i, s:I, s:I}", "max_connections", cfg->conn_limit, "nofile_limit",
                           (json_int_t)rl.rlim_cur, "needed", (json_int_t)want));
    }
}

/* Refuse to serve a database that cannot work: read-only for us, or corrupt (a daemon that
 * starts and says ready while every write fails is worse than one that does not start). */
static int check_store(struct store *s)
{
    struct err err;
    err_clear(&err);
    int rc = store_check(s, 10000, &err);
    if (rc == 1) {
        log_msg(LOG_WARN, "the start-up integrity check did not finish within 10 s; skipped");
    }
    if (rc >= 0 && store_write_sync(s, store_apply_ready_check, NULL, &err) != 0) {
        rc = -1;
    }
    if (rc < 0) {
        fprintf(stderr, "bunsen: cannot serve: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* SIGHUP: reopen the log file (logrotate), have each cached key verification confirmed at
 * the key's next use (a key revoked or created by another process counts at once; the
 * outage's 10 minutes of grace stay) and reload the experiments and metrics
 * catalogue. Never stops the daemon; a failure is logged and the old state kept. */
static void reload_on_hup(struct app *app)
{
    int log_rc = log_reopen();
    if (log_rc != 0) {
        /* the line below goes to the file that could not be reopened (moved, or its
         * directory gone): say it where an operator looks too (the journal) */
        fprintf(stderr,
                "bunsen: SIGHUP: cannot reopen the log file %s: %s; logging on to the "
                "file that was open\n",
                app->cfg.log_file, strerror(errno));
    }
    http_server_recheck_keys(app->http, NULL);
    struct err err;
    err_clear(&err);
    int cat_rc = api_experiments_reload(app, &err);
    json_t *f = json_pack("{s:s, s:b, s:b}", "signal", "SIGHUP", "log_reopened", log_rc == 0,
                          "catalogue_reloaded", cat_rc == 0);
    if (f != NULL && cat_rc != 0) {
        json_object_set_new(f, "error", json_string(err.msg));
    }
    log_json(log_rc == 0 && cat_rc == 0 ? LOG_INFO : LOG_ERROR, "reloaded", f);
}

/* serve's start-up up to the running store and the admin key: the options (every one checked
 * before anything is touched), signals blocked for the main loop, the log, the web directory,
 * the address, the data dir and its lock, the store (migrated) and the first admin key. Returns
 * -1 to go on, else the exit code (0 after --help). */
static int serve_prepare(struct app *app, int argc, char **argv, sigset_t *set)
{
    char usage[8192];
    size_t used = (size_t)snprintf(usage, sizeof(usage), "%s", serve_usage);
    for (int i = 0; config_serve_help[i] != NULL && used < sizeof(usage); i++) {
        used += (size_t)snprintf(usage + used, sizeof(usage) - used, "%s", config_serve_help[i]);
    }
    int rc = cli_args(argc, argv, 2, usage, NULL, NULL, &app->cfg);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    struct err env_err;
    if (config_env_error(&app->cfg, NULL, &env_err) != 0) { /* serve uses every option */
        fprintf(stderr, "bunsen: %s\n", env_err.msg);
        return 2;
    }
    /* Signals belong to the main loop's sigwaitinfo: every internal thread starts with
     * them blocked (thread_start; a checkpointer started while opening the store once took
     * a SIGHUP, logrotate's reload, and its default action killed the daemon). SIGHUP is
     * blocked from here on, so a reload during a long start-up migration waits; SIGINT and
     * SIGTERM still stop the start-up until the main loop takes them over below. */
    sigemptyset(set);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    /* a --web-dir (or BUNSEN_WEB_DIR) given is an option like any other: one that names no
     * directory stops the start (a typo shipped a daemon without its dashboard, with one warn
     * line: review ops31 F1); none given, the places searched may hold none (API only: warned
     * below) */
    struct stat web_st;
    if (app->cfg.web_dir[0] != '\0' &&
        (stat(app->cfg.web_dir, &web_st) != 0 || !S_ISDIR(web_st.st_mode))) {
        fprintf(stderr, "bunsen: --web-dir (BUNSEN_WEB_DIR): %s is not a directory\n",
                app->cfg.web_dir);
        return 2;
    }
    /* every option was checked above (config.c, the address and --metrics-auth too, naming
     * the flag or the variable): nothing is touched before, not even the log file (a bad
     * --metrics-auth exited 2 after creating it) */
    log_set_level(app->cfg.log_level);
    if (app->cfg.log_file[0] != '\0' && log_open_file(app->cfg.log_file) != 0) {
        fprintf(stderr, "bunsen: cannot open the log file %s: %s\n", app->cfg.log_file,
                strerror(errno));
        return 1;
    }
    check_fd_limit(&app->cfg);
    if (app->cfg.web_dir[0] == '\0') {
        default_web_dir(app->cfg.web_dir, sizeof(app->cfg.web_dir));
    }
    if (realpath(app->cfg.web_dir, app->web_dir_real) == NULL) {
        app->web_dir_real[0] = '\0';
        log_msg(LOG_WARN, "web directory %s not found: the dashboard is not served",
                app->cfg.web_dir);
    }
    /* the address first: a port in use (or --listen not on this host) once exited only after
     * the data dir, the database, its migrations and a new admin key were made */
    struct err listen_err;
    err_clear(&listen_err);
    if (app->cfg.port != 0 && http_server_check_listen(&app->cfg, &listen_err) != 0) {
        fprintf(stderr, "bunsen: %s\n", listen_err.msg);
        return 1;
    }
    struct cli_made_dirs made;
    if (cli_prepare_data_dir(&app->cfg, &made) != 0) {
        return 1;
    }
    /* a start refused from here on leaves no data directory it made (review ops31 F6: a
     * daemon already on the database, PostgreSQL unreachable) */
    bool locked = lock_sqlite_file(&app->cfg) == 0;
    int code = -1;
    if (!locked || refuse_beside_old_daemon(&app->cfg) != 0) {
        code = 1;
    } else if ((app->store = cli_open_store(&app->cfg, CLI_STORE_MIGRATE)) == NULL) {
        code = cli_open_store_status();
    } else if (check_store(app->store) != 0 || bootstrap_admin(app) != 0) {
        store_close(app->store);
        app->store = NULL;
        code = 1;
    }
    if (code >= 0) {
        cli_data_dir_undo(&app->cfg, &made);
    }
    return code;
}

/* serve's shutdown, in the order the comments give: the store's waits bounded, the ticker,
 * the rebuilder, the writer drained, reloads ended, the streams, the HTTP server, the store,
 * then what the handlers borrowed. */
static void serve_stop(struct app *app, struct catalog_state *cs, struct ticker *ticker,
                       struct rebuilder *rebuilder, struct api_publisher *publisher)
{
    /* From here no wait for the database outlasts --db-timeout, and none reconnects: a
     * database that does not answer (up, its processes stopped) held the drain for each
     * thread's wait and reconnection in turn (a review measured 41 s, and a write that
     * waited got no reply). Writes that wait answer 503 within --db-timeout. */
    store_shutdown_begin(app->store);
    ticker_stop(ticker);
    /* The listening socket stays open while the writer drains: requests that come meanwhile
     * are answered, writes with 503 "shutting down" once the writer stops taking jobs. The
     * accepting thread (src/http/listener.c) closes it in http_server_stop, before MHD stops
     * (MHD_quiesce_daemon, once considered, raced its own epoll workers in libmicrohttpd
     * 0.9.75 and could abort the process; MHD has no listening socket now). */
    api_rebuilder_stop(rebuilder);
    /* the stopped writer stays until store_close, after the HTTP server stopped: a request
     * still submitting meets it and is refused, not freed memory */
    store_writer_stop(app->store);
    /* A shared backend's listener thread runs the hook until store_close: from here on it
     * must not reload (the reload publishes to the SDK streams of the server stopped next;
     * found by ASan on PostgreSQL, a NOTIFY arriving during shutdown). A reload under way
     * holds cs.mu, so none is running once this returns. */
    pthread_mutex_lock(&cs->mu);
    cs->closed = true;
    pthread_mutex_unlock(&cs->mu);
    api_sdk_streams_stop(publisher);
    http_server_stop(app->http);
    api_sdk_streams_free(publisher); /* no request thread can reach it any more */
    store_close(app->store);         /* the last connection to close checkpoints the WAL */
    log_limits_flush(INT64_MAX);     /* every count of lines not logged */
    snapshot_cell_free(app->experiments);
    prom_free(app->prom);
    api_payloads_free(app->payloads);
    api_ready_free(app->ready);
    pthread_mutex_destroy(&app->reload_mu);
    pthread_mutex_destroy(&cs->mu);
    log_msg(LOG_INFO, "stopped");
}

int cli_serve(int argc, char **argv)
{
    static struct app app; /* lives until exit; handlers borrow it */
    sigset_t set;
    int rc = serve_prepare(&app, argc, argv, &set);
    if (rc >= 0) {
        return rc;
    }
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* SIGINT, SIGTERM: the main loop's from here */

    struct err err;
    err_clear(&err);
    app.experiments = snapshot_cell_new();
    app.prom = prom_new();
    app.payloads = api_payloads_new();
    app.ready = api_ready_new(app.store, (unsigned)app.cfg.db_timeout_s * 1000u);
    pthread_mutex_init(&app.reload_mu, NULL);
    app.catalog_loaded = -1;
    struct catalog_state cs = {.app = &app};
    pthread_mutex_init(&cs.mu, NULL);
    if (catalog_hook(&cs, -1, &err) != 0) {
        fprintf(stderr, "bunsen: cannot load experiments: %s\n", err.msg);
        store_close(app.store);
        return 1;
    }
    store_set_catalog_hook(app.store, catalog_hook, &cs);
    /* one writer per SQLite file: the cache is exact there; a shared database can change
     * under it (store.h "Known first exposures") */
    int pairs = app.cfg.exposure_cache;
    if (pairs < 0) {
        pairs = strcmp(store_backend_name(app.store), "sqlite") == 0 ? 200000 : 0;
    }
    store_exposed_configure(app.store, (size_t)pairs);
    if (store_listen(app.store, &err) != 0 ||
        store_writer_start(app.store, app.cfg.writer_queue_max, &err) != 0) {
        fprintf(stderr, "bunsen: %s\n", err.msg);
        store_close(app.store);
        return 1;
    }
    store_rebuild_configure(app.store, (size_t)app.cfg.rebuild_chunk, app.cfg.rebuild_pause_ms);
    struct rebuilder *rebuilder = api_rebuilder_start(&app);
    int port = 0;
    /* before the HTTP threads start, which read it (/metrics): review code29 F7 */
    app.started_at = time_now_ms();
    if (http_server_start(&app, &app.cfg, &app.http, &port, &err) != 0) {
        fprintf(stderr, "bunsen: %s\n", err.msg);
        api_rebuilder_stop(rebuilder);
        store_close(app.store);
        return 1;
    }
    struct api_publisher *publisher = api_sdk_streams_start(&app);
    const char *host = app.cfg.listen;
    bool v6 = strchr(host, ':') != NULL;
    printf("bunsen %s listening on http://%s%s%s:%d/\n", BUNSEN_VERSION, v6 ? "[" : "", host,
           v6 ? "]" : "", port);
    if (app.web_dir_real[0] != '\0') { /* none found: a URL that answers 404 said nothing */
        printf("dashboard: http://%s%s%s:%d/\n", v6 ? "[" : "", host, v6 ? "]" : "", port);
    }
    fflush(stdout);
    json_t *started =
        json_pack("{s:s, s:i, s:s, s:i, s:s, s:s, s:i}", "listen", host, "port", port, "data_dir",
                  app.cfg.data_dir, "threads", app.cfg.threads, "version", BUNSEN_VERSION,
                  "revision", BUNSEN_GIT_REV, "schema", store_schema_newest(app.store));
    if (started != NULL) { /* which database: several daemons' logs told apart (journey35 N2) */
        store_describe(app.store, started);
    }
    log_json(LOG_INFO, "started", started);

    struct ticker ticker = {.cs = &cs};
    pthread_mutex_init(&ticker.mu, NULL);
    cond_init_monotonic(&ticker.cv);
    if (thread_start(&ticker.th, ticker_main, &ticker) != 0) {
        abort(); /* as an allocation failure */
    }
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGINT || sig == SIGTERM) {
            log_json(LOG_INFO, "shutting down", json_pack("{s:i}", "signal", sig));
            break;
        }
        if (sig == SIGHUP) {
            reload_on_hup(&app);
        }
    }
    serve_stop(&app, &cs, &ticker, rebuilder, publisher);
    return 0;
}
