/*
 * config.c - defaults, BUNSEN_* environment variables and command-line flags for
 * `bunsen serve` and the other subcommands (config.h). One table drives both the
 * environment and the flags so that they cannot drift apart.
 */
#include "bunsen/config.h"

#include "bunsen/condition.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OPT_ADDR: an IPv4 or IPv6 address (--listen); OPT_AUTH: public|key (--metrics-auth). Every
 * value is checked here, for a flag and a variable alike, so that a command refuses a bad one
 * (naming the flag or the variable it came from) before it touches anything. */
enum opt_kind { OPT_STR, OPT_INT, OPT_SIZE, OPT_LEVEL, OPT_ADDR, OPT_AUTH };

struct opt {
    const char *flag;
    const char *env;
    enum opt_kind kind;
    size_t offset;
    size_t size;   /* for strings: buffer size */
    long min, max; /* for integers: the range; for strings: max = at most so many characters
                    * when below size - 1 (0: size - 1) */
};

#define STR_OPT(f, e, m)                                                                           \
    {                                                                                              \
        f, e, OPT_STR, offsetof(struct config, m), sizeof(((struct config *)0)->m), 0, 0           \
    }
#define INT_OPT(f, e, m, lo, hi)                                                                   \
    {                                                                                              \
        f, e, OPT_INT, offsetof(struct config, m), 0, lo, hi                                       \
    }
#define SIZE_OPT(f, e, m, lo, hi)                                                                  \
    {                                                                                              \
        f, e, OPT_SIZE, offsetof(struct config, m), 0, lo, hi                                      \
    }

static const struct opt opts[] = {
    {"--listen", "BUNSEN_LISTEN", OPT_ADDR, offsetof(struct config, listen),
     sizeof(((struct config *)0)->listen), 0, 0},
    INT_OPT("--port", "BUNSEN_PORT", port, 0, 65535),
    {"--data-dir", "BUNSEN_DATA_DIR", OPT_STR, offsetof(struct config, data_dir),
     sizeof(((struct config *)0)->data_dir), 0, (long)CONFIG_DATA_DIR_MAX},
    STR_OPT("--web-dir", "BUNSEN_WEB_DIR", web_dir),
    INT_OPT("--threads", "BUNSEN_THREADS", threads, 1, 256),
    {"--log-level", "BUNSEN_LOG_LEVEL", OPT_LEVEL, offsetof(struct config, log_level), 0, 0, 0},
    SIZE_OPT("--body-max", "BUNSEN_BODY_MAX", body_max, 1024, 1L << 30),
    SIZE_OPT("--ingest-body-max", "BUNSEN_INGEST_BODY_MAX", ingest_body_max, 1024, 1L << 30),
    INT_OPT("--conn-timeout", "BUNSEN_CONN_TIMEOUT", conn_timeout_s, 1, 3600),
    INT_OPT("--request-timeout", "BUNSEN_REQUEST_TIMEOUT", request_timeout_s, 1, 3600),
    INT_OPT("--max-connections", "BUNSEN_MAX_CONNECTIONS", conn_limit, 16, 1000000),
    INT_OPT("--max-reply-memory", "BUNSEN_MAX_REPLY_MEMORY", max_reply_mib, 1, 1048576),
    INT_OPT("--per-ip-connections", "BUNSEN_PER_IP_CONNECTIONS", per_ip_limit, 0, 1000000),
    INT_OPT("--writer-queue", "BUNSEN_WRITER_QUEUE", writer_queue_max, 1, 10000000),
    INT_OPT("--rate-limit-ingest", "BUNSEN_RATE_LIMIT_INGEST", rate_ingest, 0, 10000000),
    INT_OPT("--rate-limit-manage", "BUNSEN_RATE_LIMIT_MANAGE", rate_manage, 0, 10000000),
    INT_OPT("--rate-limit-assign", "BUNSEN_RATE_LIMIT_ASSIGN", rate_assign, 0, 10000000),
    INT_OPT("--rate-limit-features", "BUNSEN_RATE_LIMIT_FEATURES", rate_features, 0, 10000000),
    INT_OPT("--rate-limit-ip", "BUNSEN_RATE_LIMIT_IP", rate_ip, 0, 10000000),
    SIZE_OPT("--attributes-max-bytes", "BUNSEN_ATTRIBUTES_MAX_BYTES", attr_max_bytes, 256,
             1L << 26),
    INT_OPT("--attributes-max-depth", "BUNSEN_ATTRIBUTES_MAX_DEPTH", attr_max_depth, 1, 64),
    INT_OPT("--attributes-max-array", "BUNSEN_ATTRIBUTES_MAX_ARRAY", attr_max_array, 1, 10000000),
    INT_OPT("--attributes-max-string", "BUNSEN_ATTRIBUTES_MAX_STRING", attr_max_string, 16,
            1 << 26),
    INT_OPT("--eval-budget", "BUNSEN_EVAL_BUDGET", eval_budget, 1000, 1000000000),
    STR_OPT("--log-file", "BUNSEN_LOG_FILE", log_file),
    {"--metrics-auth", "BUNSEN_METRICS_AUTH", OPT_AUTH, offsetof(struct config, metrics_auth),
     sizeof(((struct config *)0)->metrics_auth), 0, 0},
    STR_OPT("--database", "BUNSEN_DATABASE", database),
    INT_OPT("--rebuild-chunk", "BUNSEN_REBUILD_CHUNK", rebuild_chunk, 1, 1000000),
    INT_OPT("--rebuild-pause-ms", "BUNSEN_REBUILD_PAUSE_MS", rebuild_pause_ms, 0, 60000),
    INT_OPT("--exposure-cache", "BUNSEN_EXPOSURE_CACHE", exposure_cache, 0, 100000000),
    INT_OPT("--db-timeout", "BUNSEN_DB_TIMEOUT", db_timeout_s, 0, 86400),
};

/* the options' help, in three literals (C11 promises literals of up to 4,095 bytes) */
static const char help_serve[] =
    "  --listen ADDR             address to bind (BUNSEN_LISTEN, default 127.0.0.1)\n"
    "  --port N                  TCP port, 0 = any free port (BUNSEN_PORT, default 8080)\n"
    "  --data-dir DIR            database and admin key (BUNSEN_DATA_DIR, default ./data;\n"
    "                            at most 494 characters: DIR/bunsen.db must fit SQLite)\n"
    "  --web-dir DIR             dashboard files (BUNSEN_WEB_DIR, default <bin>/../web,\n"
    "                            <bin>/../share/bunsen/web, ./web)\n"
    "  --threads N               HTTP worker threads (BUNSEN_THREADS, default: CPUs, at\n"
    "                            most 64)\n"
    "  --log-level L             debug|info|warn|error (BUNSEN_LOG_LEVEL, default info)\n"
    "  --body-max BYTES          cap of every other request body (BUNSEN_BODY_MAX,\n"
    "                            default 1048576)\n"
    "  --ingest-body-max BYTES   body cap of /exposures, /events and saved-group POST/PATCH\n"
    "                            (BUNSEN_INGEST_BODY_MAX, default 8388608)\n"
    "  --conn-timeout S          idle connection timeout (BUNSEN_CONN_TIMEOUT, default 30)\n"
    "  --request-timeout S       a request's headers must arrive within S seconds (of the\n"
    "                            connection, or of the request line), its body then within S\n"
    "                            more plus 1 s per 8 KiB (BUNSEN_REQUEST_TIMEOUT, default 10)\n"
    "  --max-connections N       total connection cap (BUNSEN_MAX_CONNECTIONS, default 4096)\n"
    "  --max-reply-memory MIB    slow reads' replies waiting to be sent may hold this much;\n"
    "                            beyond, slow reads (results, time series, saved groups,\n"
    "                            the audit, experiments, the metric and key lists) get 503\n"
    "                            + Retry-After (BUNSEN_MAX_REPLY_MEMORY, default 512)\n"
    "  --per-ip-connections N    per-client-IP cap (IPv6: per /64), 0 = none\n"
    "                            (BUNSEN_PER_IP_CONNECTIONS, default 256; it counts /sub\n"
    "                            streams; behind a load balancer or reverse proxy every\n"
    "                            connection comes from its address: raise it to what the\n"
    "                            balancer opens, or 0)\n";
static const char help_limits[] =
    "  --writer-queue N          pending write requests before 503 (BUNSEN_WRITER_QUEUE,\n"
    "                            default 10000)\n"
    "  (each rate limit below allows bursts of 2 x N requests)\n"
    "  --rate-limit-ingest N     /events and /exposures requests per second per key, 0 = off\n"
    "                            (BUNSEN_RATE_LIMIT_INGEST, default 500)\n"
    "  --rate-limit-manage N     management requests (keys, metrics, experiments writes) per\n"
    "                            second per key, 0 = off (BUNSEN_RATE_LIMIT_MANAGE, default 100)\n"
    "  --rate-limit-assign N     /assign and OFREP requests per second per key, 0 = off\n"
    "                            (BUNSEN_RATE_LIMIT_ASSIGN, default 50000)\n"
    "  --rate-limit-features N   SDK payload, /sub and /api/eval requests per second per sdk\n"
    "                            key, 0 = off (BUNSEN_RATE_LIMIT_FEATURES, default 10000)\n"
    "  --rate-limit-ip N         requests without a key (health, metrics, dashboard files,\n"
    "                            preflights, the SDK routes above as well) per second per\n"
    "                            client IP, 0 = off (BUNSEN_RATE_LIMIT_IP, default 1000)\n"
    "  --attributes-max-bytes N  total size of one request's targeting attributes\n"
    "                            (BUNSEN_ATTRIBUTES_MAX_BYTES, default 65536; beyond: 413)\n"
    "  --attributes-max-depth N  attribute nesting (BUNSEN_ATTRIBUTES_MAX_DEPTH, default 8)\n"
    "  --attributes-max-array N  elements of one attribute array (BUNSEN_ATTRIBUTES_MAX_ARRAY,\n"
    "                            default 1000)\n"
    "  --attributes-max-string N bytes of one attribute string (BUNSEN_ATTRIBUTES_MAX_STRING,\n"
    "                            default 4096)\n"
    "  --eval-budget N           targeting evaluation steps per request (BUNSEN_EVAL_BUDGET,\n"
    "                            default 50000; beyond: 400). The steps spent also count\n"
    "                            against the rate limits above: 1 token more per 2500\n"
    "                            steps (a request of 50000 counts as 21)\n"
    "  --log-file PATH           JSON log lines to PATH instead of stderr, reopened on SIGHUP\n"
    "                            (BUNSEN_LOG_FILE)\n"
    "  --metrics-auth public|key GET /metrics: public (per-experiment series only with a key;\n"
    "                            default) or key (a viewer, editor or admin key required)\n"
    "                            (BUNSEN_METRICS_AUTH)\n";
static const char help_store[] =
    "  --database URL            SQLite path or sqlite:PATH, or PostgreSQL: postgres://... or\n"
    "                            libpq key=value conninfo (BUNSEN_DATABASE, default\n"
    "                            <data dir>/bunsen.db)\n"
    "  --rebuild-chunk N         users per chunk when roll-ups are rebuilt after a definition\n"
    "                            change (BUNSEN_REBUILD_CHUNK, default 500)\n"
    "  --rebuild-pause-ms MS     pause after each rebuild chunk (BUNSEN_REBUILD_PAUSE_MS,\n"
    "                            default 0)\n"
    "  --exposure-cache N        committed first exposures kept in memory, so that a logged\n"
    "                            assignment repeating one needs no write; 0 = off\n"
    "                            (BUNSEN_EXPOSURE_CACHE, default 200000 on SQLite, 0 on\n"
    "                            PostgreSQL)\n"
    "  --db-timeout S            PostgreSQL: seconds a statement may wait for the server's\n"
    "                            answer before the request gets 503, 0 = forever\n"
    "                            (BUNSEN_DB_TIMEOUT, default 30; a COMMIT and migrations\n"
    "                            always wait)\n";
const char *const config_serve_help[] = {help_serve, help_limits, help_store, NULL};

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1");
    cfg->port = 8080;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./data");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = cpus > 0 ? (int)(cpus < 64 ? cpus : 64) : 2;
    cfg->log_level = LOG_INFO;
    cfg->body_max = 1u << 20;
    cfg->ingest_body_max = 8u << 20;
    cfg->conn_timeout_s = 30;
    cfg->request_timeout_s = 10;
    cfg->conn_limit = 4096;
    cfg->max_reply_mib = 512;
    cfg->per_ip_limit = 256;
    cfg->writer_queue_max = 10000;
    cfg->rate_ingest = 500;
    cfg->rate_manage = 100;
    cfg->rate_assign = 50000;
    cfg->rate_features = 10000;
    cfg->rate_ip = 1000;
    cfg->attr_max_bytes = CONDITION_ATTR_MAX_BYTES;
    cfg->attr_max_depth = CONDITION_ATTR_MAX_DEPTH;
    cfg->attr_max_array = CONDITION_ATTR_MAX_ARRAY;
    cfg->attr_max_string = CONDITION_ATTR_MAX_STRING;
    cfg->eval_budget = CONDITION_BUDGET_DEFAULT;
    snprintf(cfg->metrics_auth, sizeof(cfg->metrics_auth), "public");
    cfg->rebuild_chunk = 500;
    cfg->rebuild_pause_ms = 0;
    cfg->exposure_cache = -1; /* per backend (serve.c) */
    cfg->db_timeout_s = 30;
}

static int opt_set(struct config *cfg, const struct opt *o, const char *value, const char *who,
                   struct err *err)
{
    char *base = (char *)cfg + o->offset;
    unsigned char addr[sizeof(struct in6_addr)];
    if (o->kind == OPT_ADDR && inet_pton(AF_INET, value, addr) != 1 &&
        inet_pton(AF_INET6, value, addr) != 1) {
        return err_set(err, ERR_INVALID, who, "%s: '%.64s' is not an IPv4 or IPv6 address", who,
                       value);
    }
    if (o->kind == OPT_AUTH && strcmp(value, "public") != 0 && strcmp(value, "key") != 0) {
        return err_set(err, ERR_INVALID, who, "%s: expected public or key, got '%.64s'", who,
                       value);
    }
    switch (o->kind) {
    case OPT_ADDR: /* checked above; kept as text */
    case OPT_AUTH:
    case OPT_STR: {
        size_t n = strlen(value);
        if (o->kind == OPT_STR && o->max > 0 && n > (size_t)o->max) {
            /* the only such limit: --data-dir's, for SQLite (config.h) */
            return err_set(err, ERR_INVALID, who,
                           "%s: at most %ld characters (the database path DIR/bunsen.db must fit "
                           "SQLite's limit of %d)",
                           who, o->max, CONFIG_SQLITE_PATH_MAX);
        }
        if (n == 0 || n >= o->size) {
            return err_set(err, ERR_INVALID, who, "%s: value must be 1..%zu characters", who,
                           o->size - 1);
        }
        memcpy(base, value, n + 1);
        return 0;
    }
    case OPT_LEVEL:
        if (log_parse_level(value, (enum log_level *)(void *)base) != 0) {
            return err_set(err, ERR_INVALID, who, "%s: expected debug, info, warn or error", who);
        }
        return 0;
    case OPT_INT:
    case OPT_SIZE: {
        char *end = NULL;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < o->min || v > o->max) {
            return err_set(err, ERR_INVALID, who, "%s: expected an integer in [%ld, %ld], got '%s'",
                           who, o->min, o->max, value);
        }
        if (o->kind == OPT_INT) {
            *(int *)(void *)base = (int)v;
        } else {
            *(size_t *)(void *)base = (size_t)v;
        }
        return 0;
    }
    }
    return err_set(err, ERR_INTERNAL, who, "unknown option kind");
}

_Static_assert(sizeof(opts) / sizeof(opts[0]) <= 64, "one bit per option in env_invalid");

void config_from_env(struct config *cfg)
{
    struct err err;
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        const char *v = getenv(opts[i].env);
        if (v == NULL || *v == '\0') {
            continue;
        }
        if (opt_set(cfg, &opts[i], v, opts[i].env, &err) != 0) {
            cfg->env_invalid |= 1ull << i; /* opt_set left the default */
        } else {
            cfg->env_set |= 1ull << i;
        }
    }
}

int config_env_error(const struct config *cfg, const char *const *used, struct err *err)
{
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if ((cfg->env_invalid & (1ull << i)) == 0) {
            continue;
        }
        bool wanted = used == NULL;
        for (size_t k = 0; !wanted && used[k] != NULL; k++) {
            wanted = strcmp(used[k], opts[i].flag) == 0;
        }
        if (!wanted) {
            continue;
        }
        /* the message as config_from_env met it, on a copy (opt_set fails again) */
        struct config scratch = *cfg;
        const char *v = getenv(opts[i].env);
        if (v == NULL || opt_set(&scratch, &opts[i], v, opts[i].env, err) == 0) {
            err_set(err, ERR_INVALID, opts[i].env, "%s: not a valid value", opts[i].env);
        }
        return -1;
    }
    return 0;
}

int config_parse_flag(struct config *cfg, int argc, char **argv, int *i, struct err *err)
{
    const char *arg = argv[*i];
    for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
        const struct opt *o = &opts[k];
        size_t fl = strlen(o->flag);
        if (strncmp(arg, o->flag, fl) != 0) {
            continue;
        }
        const char *value;
        if (arg[fl] == '=') {
            value = arg + fl + 1;
        } else if (arg[fl] == '\0') {
            if (*i + 1 >= argc) {
                return err_set(err, ERR_INVALID, o->flag, "%s needs a value", o->flag);
            }
            value = argv[++*i];
        } else {
            continue;
        }
        if (opt_set(cfg, o, value, o->flag, err) != 0) {
            return -1;
        }
        cfg->env_invalid &= ~(1ull << k); /* flags win, over a bad variable too */
        cfg->flag_set |= 1ull << k;
        ++*i;
        return 1;
    }
    return 0;
}

const char *config_origin(const struct config *cfg, const char *flag)
{
    for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
        if (strcmp(opts[k].flag, flag) == 0) {
            return (cfg->flag_set & (1ull << k))  ? opts[k].flag
                   : (cfg->env_set & (1ull << k)) ? opts[k].env
                                                  : NULL;
        }
    }
    return NULL;
}

void config_db_path(const struct config *cfg, char *out, size_t n)
{
    if (cfg->database[0] != '\0') {
        snprintf(out, n, "%s", cfg->database);
        return;
    }
    snprintf(out, n, "%s/bunsen.db", cfg->data_dir);
}

_Static_assert(CONFIG_DB_PATH_SIZE >= sizeof(((struct config *)0)->data_dir) + sizeof("/bunsen.db"),
               "config_db_path's result fits CONFIG_DB_PATH_SIZE");

int config_sqlite_path_check(const struct config *cfg, const char *file, struct err *err)
{
    size_t n = strlen(file), abs = n;
    char cwd[PATH_MAX];
    if (file[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL) {
        abs += strlen(cwd) + 1; /* SQLite opens cwd/file */
    }
    if (abs <= CONFIG_SQLITE_PATH_MAX) {
        return 0;
    }
    bool named = cfg->database[0] != '\0';
    const char *dir_origin = config_origin(cfg, "--data-dir");
    char what[96];
    if (named) {
        snprintf(what, sizeof(what), "the SQLite database path");
    } else {
        snprintf(what, sizeof(what), "%s: the database path DIR/bunsen.db",
                 dir_origin != NULL ? dir_origin : "--data-dir");
    }
    return err_set(err, ERR_INVALID, named ? "database" : "data_dir",
                   "%s is %zu characters%s: SQLite takes at most %d%s", what, abs,
                   abs == n ? "" : " after the current directory", CONFIG_SQLITE_PATH_MAX,
                   abs == n ? "" : " (give a shorter or an absolute path)");
}
