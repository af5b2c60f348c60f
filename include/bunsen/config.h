/*
 * config.h - the daemon's settings: defaults, then BUNSEN_* environment
 * variables, then command-line flags (last wins). Parsed once in main.c,
 * read-only afterwards, so any thread may read it.
 */
#ifndef BUNSEN_CONFIG_H
#define BUNSEN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "bunsen/err.h"
#include "bunsen/log.h"

struct config {
    char listen[64];          /* --listen / BUNSEN_LISTEN, default 127.0.0.1 */
    int port;                 /* --port / BUNSEN_PORT, default 8080, 0 = any free port */
    char data_dir[512];       /* --data-dir / BUNSEN_DATA_DIR, default ./data */
    char web_dir[512];        /* --web-dir / BUNSEN_WEB_DIR, default: see serve.c */
    int threads;              /* --threads / BUNSEN_THREADS, default: number of CPUs */
    enum log_level log_level; /* --log-level / BUNSEN_LOG_LEVEL, default info */
    size_t body_max;          /* --body-max / BUNSEN_BODY_MAX, default 1 MiB */
    size_t ingest_body_max;   /* --ingest-body-max / BUNSEN_INGEST_BODY_MAX, default 8 MiB */
    int conn_timeout_s;       /* --conn-timeout / BUNSEN_CONN_TIMEOUT: idle, default 30 s */
    int request_timeout_s;    /* --request-timeout / BUNSEN_REQUEST_TIMEOUT: a request's
                                 headers, then its body (+1 s per 8 KiB), default 10 s */
    int conn_limit;           /* --max-connections / BUNSEN_MAX_CONNECTIONS, default 4096 */
    int max_reply_mib;        /* --max-reply-memory / BUNSEN_MAX_REPLY_MEMORY: MiB unsent
                                 rendered replies may hold before slow reads get 503, def 512 */
    int per_ip_limit;         /* --per-ip-connections / BUNSEN_PER_IP_CONNECTIONS, default
                                 256, 0 = off */
    int writer_queue_max;     /* --writer-queue / BUNSEN_WRITER_QUEUE, default 10000 jobs */
    int rate_ingest;          /* --rate-limit-ingest: requests/s per key, 0 = off, def 500 */
    int rate_manage;          /* --rate-limit-manage: requests/s per key, 0 = off, def 100 */
    int rate_assign;          /* --rate-limit-assign: /assign + OFREP per key, def 50000 */
    int rate_features;        /* --rate-limit-features: features payload per sdk key, 10000 */
    int rate_ip;              /* --rate-limit-ip: unauthenticated routes per client IP, 1000 */
    size_t attr_max_bytes;    /* --attributes-max-bytes: total attribute size, def 64 KiB */
    int attr_max_depth;       /* --attributes-max-depth: nesting, def 8 */
    int attr_max_array;       /* --attributes-max-array: elements of one array, def 1000 */
    int attr_max_string;      /* --attributes-max-string: bytes of one string, def 4096 */
    int eval_budget;          /* --eval-budget: targeting steps per request, def 50000 */
    char log_file[512];       /* --log-file / BUNSEN_LOG_FILE, "" = stderr; SIGHUP reopens it */
    char metrics_auth[16];    /* --metrics-auth / BUNSEN_METRICS_AUTH: "public" (default: no
                                 per-experiment series without a key) or "key" (a key needed) */
    char database[1024];      /* --database / BUNSEN_DATABASE: SQLite path, sqlite:PATH or
                                 postgres:// URL; "" = <data dir>/bunsen.db */
    int rebuild_chunk;        /* --rebuild-chunk: users per roll-up rebuild chunk, def 500 */
    int rebuild_pause_ms;     /* --rebuild-pause-ms: pause after each chunk, def 0 */
    int exposure_cache;       /* --exposure-cache: known first exposures kept, -1 = per
                                 backend (200000 on SQLite, 0 on PostgreSQL) */
    int db_timeout_s;         /* --db-timeout: seconds to wait for the database server's
                                 answer to one statement, 0 = forever, def 30 */
    uint64_t env_invalid;     /* bit k: option k's BUNSEN_* value was not valid and no flag
                                 has set the option since (config_env_error) */
    uint64_t env_set;         /* bit k: option k was set by its BUNSEN_* variable */
    uint64_t flag_set;        /* bit k: option k was set by its flag (config_origin) */
};

/* The option table, for --help texts: one line per option. */
extern const char *const config_serve_help[]; /* its parts, NULL-terminated */

/* Fill cfg with the defaults. */
void config_defaults(struct config *cfg);

/* Apply BUNSEN_* environment variables. A value that is not valid leaves the default and is
 * remembered, not fatal: a flag may set the option (flags win), or the command may not use it
 * (`bunsen keys list` with BUNSEN_PORT=abc); config_env_error reports it otherwise. */
void config_from_env(struct config *cfg);

/* After the flags: the first option among used (a NULL-terminated list of flags, NULL = all)
 * whose BUNSEN_* value was not valid and that no flag set: -1 with err naming the variable
 * (field and message as a bad flag's), else 0. */
int config_env_error(const struct config *cfg, const char *const *used, struct err *err);

/* Try to consume one flag at argv[*i] ("--port 8080" or "--port=8080"), advancing *i past
 * its value. Returns 1 when consumed, 0 when argv[*i] is not a config flag, -1 on a bad
 * value or missing argument (err filled, field = the flag). */
int config_parse_flag(struct config *cfg, int argc, char **argv, int *i, struct err *err);

/* Where option flag (its "--name") got its value: the flag itself when given, else its
 * BUNSEN_* variable when that set it, else NULL (the default): for messages about a value
 * found wrong after parsing (a database URL, a port in use), which name their source as a
 * bad value's do. */
const char *config_origin(const struct config *cfg, const char *flag);

/* The database URL (store_open): --database when given, else the SQLite file inside the
 * data dir, into out (size n: CONFIG_DB_PATH_SIZE holds any accepted value). */
void config_db_path(const struct config *cfg, char *out, size_t n);

/* SQLite (3.40, unix VFS: mxPathname 512) opens a database only when its absolute path, with
 * "-journal" after it, fits 512 bytes: at most 504 characters. --data-dir is held to
 * CONFIG_DATA_DIR_MAX characters so that DATA_DIR/bunsen.db fits (review code33 F7: a longer
 * one passed, then the open failed with its reason cut off and left empty files behind). */
#define CONFIG_SQLITE_PATH_MAX 504
#define CONFIG_DATA_DIR_MAX    (CONFIG_SQLITE_PATH_MAX - (sizeof("/bunsen.db") - 1))
/* Buffers for paths built from the config, sized so that no accepted value is cut:
 * config_db_path's result, and DATA_DIR/<a file name of up to 15 characters> (admin.key). */
#define CONFIG_DB_PATH_SIZE   (sizeof(((struct config *)0)->database) + 64)
#define CONFIG_DATA_FILE_SIZE (sizeof(((struct config *)0)->data_dir) + 16)

/* Whether SQLite can open file (a SQLite database path, as store_url_sqlite_file gives it):
 * 0, or -1 with err (ERR_INVALID, field "database" when --database named it, else
 * "data_dir") when its absolute form (the current directory before a relative path) is over
 * CONFIG_SQLITE_PATH_MAX characters; the message names the limit. */
int config_sqlite_path_check(const struct config *cfg, const char *file, struct err *err);

#endif
