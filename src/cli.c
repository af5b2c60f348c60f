/*
 * cli.c - the commands that work on the database without a daemon: `bunsen migrate`,
 * `bunsen keys create|list|revoke`, `bunsen results` and `bunsen compact` (`bunsen backup`:
 * cli_backup.c), plus the data-dir and store preparation and the argument reader shared with
 * `bunsen serve` (serve.c). These commands talk to the database directly, which is safe while a
 * daemon runs (SQLite's locking; PostgreSQL's transactions). A key revoked here reaches a running
 * daemon at its next key check, about a second later (docs/SECURITY.md): until then that daemon's
 * cache may still accept it.
 */
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bunsen/api.h"
#include "bunsen/auth.h"
#include "bunsen/cli.h"
#include "bunsen/dblock.h"
#include "bunsen/jsonw.h"
#include "bunsen/log.h"
#include "bunsen/model.h"
#include "bunsen/results.h"
#include "bunsen/util.h"

/* mkdir -p; made records each directory it made, as the length of its prefix of path
 * (parents first). */
static int mkdir_p(const char *path, mode_t mode, struct cli_made_dirs *made)
{
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", path);
    made->n = 0;
    size_t len = strlen(tmp);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && tmp[i] != '/') {
            continue;
        }
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, mode) == 0) {
            if (made->n < CLI_MADE_DIRS_MAX) {
                made->len[made->n++] = i;
            }
        } else if (errno != EEXIST) {
            return -1;
        }
        tmp[i] = c;
    }
    return 0;
}

void cli_data_dir_undo(const struct config *cfg, const struct cli_made_dirs *made)
{
    /* only the directories this start made, deepest first, each only when empty (rmdir):
     * never a file, never a directory that was there ("new/../existing" made "new" alone;
     * review diff32 1: an undo that cut the path at each '/' and unlinked the database
     * files in it removed an existing database) */
    for (int i = made->n - 1; i >= 0; i--) {
        char dir[512];
        snprintf(dir, sizeof(dir), "%.*s", (int)made->len[i], cfg->data_dir);
        if (rmdir(dir) != 0) {
            return;
        }
    }
}

int cli_prepare_data_dir(const struct config *cfg, struct cli_made_dirs *made)
{
    if (mkdir_p(cfg->data_dir, 0700, made) != 0) {
        fprintf(stderr, "bunsen: cannot create the data directory %s: %s\n", cfg->data_dir,
                strerror(errno));
        cli_data_dir_undo(cfg, made); /* the parents it made before it failed */
        return -1;
    }
    struct stat st;
    if (stat(cfg->data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "bunsen: %s is not a directory\n", cfg->data_dir);
        return -1;
    }
    if (access(cfg->data_dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "bunsen: the data directory %s is not writable: %s\n", cfg->data_dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* A SQLite database (not a PostgreSQL URL or conninfo) whose file does not exist. */
static bool sqlite_file_missing(const char *url)
{
    const char *file = store_url_sqlite_file(url);
    return file != NULL && access(file, F_OK) != 0;
}

static _Thread_local int open_store_status = 1;

int cli_open_store_status(void)
{
    return open_store_status;
}

/* err's message, prefixed with where the database URL came from when err is about it
 * (field "database": --database or BUNSEN_DATABASE, as a bad value of another option is
 * named), into stderr. */
static void print_db_error(const struct config *cfg, const struct err *err)
{
    const char *origin = config_origin(cfg, "--database");
    if (strcmp(err->field, "database") == 0 && origin != NULL) {
        fprintf(stderr, "bunsen: %s: %s\n", origin, err->msg);
    } else {
        fprintf(stderr, "bunsen: %s\n", err->msg);
    }
}

struct store *cli_open_store(const struct config *cfg, enum cli_store_mode mode)
{
    open_store_status = 1;
    char path[CONFIG_DB_PATH_SIZE];
    config_db_path(cfg, path, sizeof(path));
    bool readonly = mode == CLI_STORE_READ_CURRENT || mode == CLI_STORE_READ_AS_IS;
    mode = mode == CLI_STORE_READ_CURRENT ? CLI_STORE_CURRENT : readonly ? CLI_STORE_AS_IS : mode;
    if (mode == CLI_STORE_CURRENT && sqlite_file_missing(path)) {
        fprintf(stderr,
                "bunsen: no database at %s (start `bunsen serve` or run `bunsen migrate`)\n", path);
        return NULL;
    }
    struct store *s = NULL;
    struct err err;
    err_clear(&err);
    if ((readonly ? store_open_readonly(path, &s, &err) : store_open(path, &s, &err)) != 0) {
        print_db_error(cfg, &err);
        open_store_status = err.code == ERR_INVALID && strcmp(err.field, "database") == 0 ? 2 : 1;
        return NULL;
    }
    store_set_db_timeout(s, cfg->db_timeout_s * 1000);
    int version = 0, newest = store_schema_newest(s);
    int rc = 0;
    if (mode == CLI_STORE_MIGRATE) {
        /* serve's upgrade said nothing (only `bunsen migrate` printed what it applied) */
        int applied = 0;
        rc = store_migrate(s, &applied, &err);
        if (rc == 0 && applied > 0 && store_schema_version(s, &version, &err) == 0) {
            log_json(LOG_INFO, "schema migrations applied",
                     json_pack("{s:i, s:i}", "applied", applied, "schema_version", version));
        }
    } else if (mode != CLI_STORE_AS_IS) {
        rc = store_schema_version(s, &version, &err);
        if (rc == 0 && version == 0) {
            char shown[CONFIG_DB_PATH_SIZE]; /* no password in the output (docs/SECURITY.md) */
            url_redact(path, shown, sizeof(shown));
            rc = err_set(&err, ERR_NOT_FOUND, NULL,
                         "no Bunsen database at %s (start `bunsen serve` or run `bunsen migrate`)",
                         shown);
        } else if (rc == 0 && version < newest) {
            rc = err_set(&err, ERR_CONFLICT, NULL,
                         "the database is at schema version %d and this bunsen's is %d: run "
                         "`bunsen migrate` (or start `bunsen serve`, which migrates) first; other "
                         "commands never change the schema",
                         version, newest);
        }
    }
    if (rc != 0) {
        fprintf(stderr, "bunsen: %s\n", err.msg);
        store_close(s);
        return NULL;
    }
    return s;
}

struct create_key {
    struct store_key k;
    uint8_t hash[AUTH_HASH_LEN];
    const char *actor;
    bool first_admin; /* only if there is no active admin key */
    bool skipped;     /* there was one */
};

static int create_key_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct create_key *ck = arg;
    if (ck->first_admin) {
        int admins = 0;
        if (store_key_count_admins(NULL, tx, &admins, err) != 0) {
            return -1;
        }
        ck->skipped = admins > 0;
        if (ck->skipped) {
            return 0;
        }
    }
    if (api_key_name_free(tx, ck->k.name, ck->first_admin, err) != 0 ||
        store_key_insert(tx, &ck->k, ck->hash, err) != 0) {
        return -1;
    }
    json_t *a = api_key_json(&ck->k); /* the document the API's key.create records */
    char *text = a ? json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(a);
    struct store_audit e = {.actor_id = ck->actor,
                            .actor_name = ck->actor,
                            .action = "key.create",
                            .target_type = "key",
                            .target = ck->k.id,
                            .before_json = NULL,
                            .after_json = text};
    int rc = store_audit_append(tx, &e, err);
    free(text);
    return rc;
}

int cli_create_key(struct store *s, const char *name, const char *role, const char *actor,
                   bool first_admin, char secret[AUTH_SECRET_LEN + 1], char id[AUTH_ID_LEN + 1],
                   struct err *err)
{
    if (name == NULL || !text_id_valid(name, strlen(name), 128)) {
        return err_set(err, ERR_INVALID, "name", "--name must be 1 to 128 characters of text");
    }
    if (api_key_name_check(name, err) != 0) {
        return -1;
    }
    if (auth_role_parse(role) == ROLE_NONE) {
        return err_set(err, ERR_INVALID, "role", "--role must be admin, editor, viewer or sdk");
    }
    struct create_key ck;
    memset(&ck, 0, sizeof(ck));
    ck.actor = actor;
    ck.first_admin = first_admin;
    if (auth_key_generate(secret, ck.hash, ck.k.id, err) != 0) {
        return -1;
    }
    snprintf(ck.k.name, sizeof(ck.k.name), "%s", name);
    snprintf(ck.k.role, sizeof(ck.k.role), "%s", role);
    snprintf(ck.k.prefix, sizeof(ck.k.prefix), "%.8s", secret);
    ck.k.created_at = time_now_ms();
    if (store_write_sync(s, create_key_apply, &ck, err) != 0) {
        sodium_memzero(secret, AUTH_SECRET_LEN + 1);
        return -1;
    }
    if (ck.skipped) {
        sodium_memzero(secret, AUTH_SECRET_LEN + 1);
        return 1;
    }
    memcpy(id, ck.k.id, AUTH_ID_LEN);
    id[AUTH_ID_LEN] = '\0';
    return 0;
}

struct revoke_key {
    const char *id;
    struct store_key before;
};

/* The CLI may revoke the last admin key (an operator at the box can always create a new
 * one with `bunsen keys create`); the API refuses that to avoid locking everyone out. */
static int revoke_key_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct revoke_key *rk = arg;
    int64_t now = time_now_ms();
    if (store_key_revoke(tx, rk->id, now, &rk->before, err) != 0) {
        return -1;
    }
    /* the documents the API's key.revoke records: the key before, and after with revoked_at */
    struct store_key after = rk->before;
    after.revoked_at = now;
    json_t *b = api_key_json(&rk->before), *a = api_key_json(&after);
    char *before_text = b ? json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char *after_text = a ? json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(b);
    json_decref(a);
    struct store_audit e = {.actor_id = "cli",
                            .actor_name = "cli",
                            .action = "key.revoke",
                            .target_type = "key",
                            .target = rk->id,
                            .before_json = before_text,
                            .after_json = after_text};
    int rc = store_audit_append(tx, &e, err);
    free(before_text);
    free(after_text);
    return rc;
}

static const char migrate_usage[] =
    "usage: bunsen migrate [--status] [--data-dir DIR] [--database URL]\n"
    "Apply pending schema migrations to DIR/bunsen.db (or --database).\n"
    "  --status  only print the database's schema version and this bunsen's, changing\n"
    "            nothing (which upgrade notes of docs/UPGRADING.md apply)\n";

/* `bunsen migrate --status`: the schema the database is at and this binary's, read without
 * changing anything (no data directory made, no lock taken, read-only on SQLite): which
 * "Changes by release" sections of docs/UPGRADING.md apply (review journey33 F5). */
static int migrate_status(const struct config *cfg)
{
    char path[CONFIG_DB_PATH_SIZE];
    config_db_path(cfg, path, sizeof(path));
    if (sqlite_file_missing(path)) {
        fprintf(stderr,
                "bunsen: no database at %s (start `bunsen serve` or run `bunsen migrate`)\n", path);
        return 1;
    }
    struct store *s = cli_open_store(cfg, CLI_STORE_READ_AS_IS);
    if (s == NULL) {
        return cli_open_store_status();
    }
    struct err err;
    err_clear(&err);
    int version = 0, newest = store_schema_newest(s);
    int rc = store_schema_version(s, &version, &err);
    store_close(s);
    if (rc != 0) {
        fprintf(stderr, "bunsen: %s\n", err.msg);
        return 1;
    }
    printf("database schema version: %d\nthis bunsen's schema version: %d\n", version, newest);
    if (version < newest) {
        printf("pending: %d migration%s (%04d to %04d); `bunsen migrate` or the next `bunsen "
               "serve` applies them. Read the docs/UPGRADING.md sections after schema %d.\n",
               newest - version, newest - version == 1 ? "" : "s", version + 1, newest, version);
    } else if (version > newest) {
        printf("the database is newer than this bunsen: it refuses it (upgrade bunsen)\n");
    } else {
        printf("up to date\n");
    }
    return 0;
}

int cli_args(int argc, char **argv, int start, const char *usage, const struct cli_opt *opts,
             const char **positional, struct config *cfg)
{
    struct err err;
    err_clear(&err);
    config_defaults(cfg);
    config_from_env(cfg);
    for (int i = start; i < argc;) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return -1;
        }
        /* --opt VALUE or --opt=VALUE, as the shared options (config_parse_flag) */
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        size_t alen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        const struct cli_opt *o = opts;
        while (o != NULL && o->flag != NULL &&
               (strlen(o->flag) != alen || strncmp(o->flag, a, alen) != 0)) {
            o++;
        }
        if (o != NULL && o->flag != NULL) {
            if (o->on != NULL && eq != NULL) {
                fprintf(stderr, "bunsen: %s takes no value\n", o->flag);
                return 2;
            }
            if (o->on != NULL) {
                *o->on = true;
                i++;
                continue;
            }
            if (eq != NULL) {
                *o->value = eq + 1;
                i++;
                continue;
            }
            if (i + 1 >= argc) {
                fprintf(stderr, "bunsen: %s needs a value\n", a);
                return 2;
            }
            *o->value = argv[i + 1];
            i += 2;
            continue;
        }
        int rc = config_parse_flag(cfg, argc, argv, &i, &err);
        if (rc < 0) {
            fprintf(stderr, "bunsen: %s\n", err.msg);
            return 2;
        }
        if (rc == 0) {
            if (a[0] != '-' && positional != NULL && *positional == NULL) {
                *positional = a;
                i++;
                continue;
            }
            fprintf(stderr, "bunsen: unknown argument '%s'\n%s", a, usage);
            return 2;
        }
    }
    /* a bad BUNSEN_* value matters only when the command uses it and no flag overrode it:
     * every command uses these two, and --db-timeout on PostgreSQL (cli_open_store; it ran
     * with the default); serve checks the rest itself */
    static const char *const used[] = {"--data-dir", "--database", NULL};
    static const char *const used_pg[] = {"--db-timeout", NULL};
    if (config_env_error(cfg, used, &err) != 0) {
        fprintf(stderr, "bunsen: %s\n", err.msg);
        return 2;
    }
    /* a database no backend takes (mysql://...) is a usage error, found before a command
     * creates the data directory (serve and migrate did, then exited 1) */
    char path[CONFIG_DB_PATH_SIZE];
    config_db_path(cfg, path, sizeof(path));
    const char *file = store_url_sqlite_file(path);
    if (store_url_check(path, &err) != 0 ||
        (file != NULL && config_sqlite_path_check(cfg, file, &err) != 0) ||
        (file == NULL && config_env_error(cfg, used_pg, &err) != 0)) {
        print_db_error(cfg, &err);
        return 2;
    }
    return 0;
}

int cli_migrate(int argc, char **argv)
{
    struct config cfg;
    bool status = false;
    const struct cli_opt opts[] = {{"--status", NULL, &status}, {NULL, NULL, NULL}};
    int rc = cli_args(argc, argv, 2, migrate_usage, opts, NULL, &cfg);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    if (status) {
        return migrate_status(&cfg);
    }
    struct cli_made_dirs made;
    if (cli_prepare_data_dir(&cfg, &made) != 0) {
        return 1;
    }
    /* A daemon on the SQLite file holds its lock (dblock.c): with migrations pending, migrating
     * under it made it write rows without the new columns (results went wrong: conflicting
     * exposures uncounted). Held by this process from here until it exits, so that no daemon
     * starts mid-migration either. PostgreSQL: the old daemons refuse writes from their next
     * poll on (store_schema_seen). */
    char url[CONFIG_DB_PATH_SIZE], held[PATH_MAX + 8];
    config_db_path(&cfg, url, sizeof(url));
    bool daemon_running = dblock_take(url, held, sizeof(held)) != 0;
    /* a daemon older than the lock takes none: its SQLite connection shows on the -shm */
    pid_t other = daemon_running ? 0 : dblock_sqlite_user(url);
    struct store *s = cli_open_store(&cfg, CLI_STORE_AS_IS);
    if (s == NULL) {
        /* PostgreSQL unreachable: no data directory left behind (review ops31 F6) */
        cli_data_dir_undo(&cfg, &made);
        return cli_open_store_status();
    }
    struct err err;
    err_clear(&err);
    int applied = 0, version = 0;
    if ((daemon_running || other != 0) && store_schema_version(s, &version, &err) == 0 &&
        version < store_schema_newest(s)) {
        char who[2 * PATH_MAX + 80];
        const char *db = store_url_sqlite_file(url);
        if (daemon_running) {
            snprintf(who, sizeof(who),
                     "a bunsen serve is running on the database %s (a process holds %s)", db, held);
        } else {
            snprintf(who, sizeof(who), "another process has the database %s open (pid %ld)", db,
                     (long)other);
        }
        fprintf(stderr,
                "bunsen: %s: stop it before migrating from schema version %d to %d (a daemon "
                "would go on writing with the old schema); starting the new bunsen serve "
                "migrates too\n",
                who, version, store_schema_newest(s));
        store_close(s);
        return 1;
    }
    if (store_migrate(s, &applied, &err) != 0 || store_schema_version(s, &version, &err) != 0) {
        fprintf(stderr, "bunsen: %s\n", err.msg);
        store_close(s);
        return 1;
    }
    printf("migrations applied: %d; schema version: %d\n", applied, version);
    store_close(s);
    return 0;
}

static const char keys_usage[] =
    "usage: bunsen keys create --role admin|editor|viewer|sdk --name NAME [--data-dir DIR]\n"
    "       bunsen keys list [--all] [--data-dir DIR]\n"
    "       bunsen keys revoke ID [--data-dir DIR]\n"
    "(each also takes --database URL, as bunsen serve)\n"
    "Manage API keys directly in an existing database (`bunsen migrate` creates one before\n"
    "the first serve). A new key is printed once.\n";

int cli_keys(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
        fputs(keys_usage, argc < 3 ? stderr : stdout);
        return argc < 3 ? 2 : 0;
    }
    const char *sub = argv[2];
    const char *role = NULL, *name = NULL, *id = NULL;
    bool all = false;
    struct config cfg;
    struct err err;
    err_clear(&err);
    const struct cli_opt opts[] = {{"--role", &role, NULL},
                                   {"--name", &name, NULL},
                                   {"--all", NULL, &all},
                                   {NULL, NULL, NULL}};
    int prc = cli_args(argc, argv, 3, keys_usage, opts, &id, &cfg);
    if (prc != 0) {
        return prc < 0 ? 0 : prc;
    }
    bool create = strcmp(sub, "create") == 0, list = strcmp(sub, "list") == 0,
         revoke = strcmp(sub, "revoke") == 0;
    /* name what is missing before the usage (it printed only the usage) */
    const char *missing = create && role == NULL   ? "keys create needs --role ROLE"
                          : create && name == NULL ? "keys create needs --name NAME"
                          : revoke && id == NULL   ? "keys revoke needs the key's ID"
                                                   : NULL;
    if (missing != NULL) {
        fprintf(stderr, "bunsen: %s\n", missing);
    }
    if ((!create && !list && !revoke) || missing != NULL || (!revoke && id != NULL)) {
        fputs(keys_usage, stderr);
        return 2;
    }
    /* an existing database only: on a mistyped --data-dir, `keys create` made a new database
     * and minted a key no daemon would see (`bunsen migrate` makes one before the first serve);
     * `keys list` only reads (a read-only mount, a backup file) */
    struct store *s = cli_open_store(&cfg, list ? CLI_STORE_READ_CURRENT : CLI_STORE_CURRENT);
    if (s == NULL) {
        return cli_open_store_status();
    }
    int code = 0;
    if (create) {
        char secret[AUTH_SECRET_LEN + 1], kid[AUTH_ID_LEN + 1];
        if (cli_create_key(s, name, role, "cli", false, secret, kid, &err) != 0) {
            fprintf(stderr, "bunsen: %s\n", err.msg);
            code = err.code == ERR_INVALID ? 2 : 1;
        } else {
            printf("id:   %s\nrole: %s\nkey:  %s\n(shown once: store it now)\n", kid, role, secret);
        }
    } else if (list) {
        struct store_key *keys = NULL;
        size_t n = 0;
        if (store_key_list(s, all, &keys, &n, &err) != 0) {
            fprintf(stderr, "bunsen: %s\n", err.msg);
            code = 1;
        } else {
            printf("%-20s  %-6s  %-10s  %-20s  %s\n", "ID", "ROLE", "PREFIX", "CREATED", "NAME");
            for (size_t i = 0; i < n; i++) {
                /* UTC, as the API's timestamps (it printed epoch milliseconds) */
                time_t t = (time_t)(keys[i].created_at / 1000);
                struct tm tm;
                char created[32] = "?";
                if (gmtime_r(&t, &tm) != NULL) {
                    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
                }
                printf("%-20s  %-6s  %-10s  %-20s  %s%s\n", keys[i].id, keys[i].role,
                       keys[i].prefix, created, keys[i].name,
                       keys[i].revoked_at ? " (revoked)" : "");
            }
            free(keys);
        }
    } else {
        struct revoke_key rk = {.id = id};
        if (store_write_sync(s, revoke_key_apply, &rk, &err) != 0) {
            fprintf(stderr, "bunsen: %s\n", err.msg);
            code = 1;
        } else {
            /* said here: the README's SIGHUP paragraph read as if SIGHUP applied it */
            printf("revoked %s (%s, %s)\n"
                   "a running daemon refuses it within about a second, SIGHUP or not\n",
                   id, rk.before.role, rk.before.name);
        }
    }
    store_close(s);
    return code;
}

static const char results_usage[] =
    "usage: bunsen results KEY [--method frequentist|bayesian|sequential] [--alpha A]\n"
    "                          [--cuped true|false] [--correction none|holm|bh]\n"
    "                          [--dimension NAME] [--format json|csv|table] [--data-dir DIR]\n"
    "                          [--database URL]\n"
    "Print an experiment's results from the database (a table on a terminal, JSON otherwise).\n"
    "--dimension: broken down by one of the experiment's dimensions, as\n"
    "GET /api/v1/experiments/KEY/results?dimension=NAME.\n";

int cli_results(int argc, char **argv)
{
    const char *key = NULL, *method = NULL, *alpha = NULL, *cuped = NULL, *correction = NULL;
    const char *format = NULL, *dimension = NULL;
    struct config cfg;
    struct err err;
    err_clear(&err);
    const struct cli_opt opts[] = {{"--method", &method, NULL},
                                   {"--alpha", &alpha, NULL},
                                   {"--cuped", &cuped, NULL},
                                   {"--correction", &correction, NULL},
                                   {"--dimension", &dimension, NULL},
                                   {"--format", &format, NULL},
                                   {NULL, NULL, NULL}};
    int prc = cli_args(argc, argv, 2, results_usage, opts, &key, &cfg);
    if (prc != 0) {
        return prc < 0 ? 0 : prc;
    }
    if (key == NULL || (format != NULL && strcmp(format, "json") != 0 &&
                        strcmp(format, "csv") != 0 && strcmp(format, "table") != 0)) {
        fputs(results_usage, stderr);
        return 2;
    }
    struct store *s = cli_open_store(&cfg, CLI_STORE_READ_CURRENT);
    if (s == NULL) {
        return cli_open_store_status();
    }
    int code = 1;
    char *doc = NULL;
    json_t *j = NULL, *res = NULL;
    struct experiment x;
    memset(&x, 0, sizeof(x));
    if (store_experiment_get(s, NULL, key, &doc, &err) != 0 ||
        (j = json_loads(doc, 0, NULL)) == NULL ||
        experiment_from_json(j, MODEL_LOAD, NULL, &x, &err) != 0) {
        fprintf(stderr, "bunsen: %s\n", err.msg[0] ? err.msg : "unreadable experiment");
        goto out;
    }
    struct results_params p;
    results_params_default(&x, &p);
    if (results_params_parse(&p, method, alpha, cuped, correction, &err) != 0) {
        fprintf(stderr, "bunsen: %s\n", err.msg);
        code = 2;
        goto out_clear;
    }
    res = dimension != NULL ? results_breakdown(s, &x, dimension, &p, &err)
                            : results_compute(s, &x, &p, &err);
    if (res == NULL) {
        fprintf(stderr, "bunsen: %s\n", err.msg);
        code = err.code == ERR_INVALID ? 2 : 1;
        goto out_clear;
    }
    if (format == NULL) {
        format = isatty(STDOUT_FILENO) ? "table" : "json";
    }
    /* JSON: the API's numbers (the shortest text that reads back as each double), indented */
    char *text = strcmp(format, "csv") == 0     ? results_to_csv(res)
                 : strcmp(format, "table") == 0 ? results_to_table(res)
                                                : jsonw_dumps_indent(res, 2, NULL);
    if (text == NULL) {
        fprintf(stderr, "bunsen: cannot print the results\n");
        goto out_clear;
    }
    fputs(text, stdout);
    if (strcmp(format, "json") == 0) {
        fputc('\n', stdout);
    }
    free(text);
    code = 0;
out_clear:
    experiment_clear(&x);
out:
    json_decref(res);
    json_decref(j);
    free(doc);
    store_close(s);
    return code;
}

static const char compact_usage[] =
    "usage: bunsen compact [--horizon-days N] [--data-dir DIR] [--database URL]\n"
    "Remove raw rows that no result can need any more: per-user rows of archived experiments\n"
    "(kept while the roll-up rebuild their stop started is still running, and for good when\n"
    "they analyse a ratio metric, whose results sum them on each read), and events older\n"
    "than N days (default 400, at least 15, and at least every metric's CUPED look-back plus 7\n"
    "days) of users in no live experiment. Results do not change, unless an exposure arrives\n"
    "more than N days minus the longest look-back after its timestamp (7 days at the least\n"
    "N): its pre-period then misses the removed events. Safe while the daemon runs. A\n"
    "database that fails the integrity check serve makes at start is left alone (exit 1).\n";

/* how late an exposure may arrive (after its timestamp) without finding its pre-period
 * compacted: the horizon keeps this beyond the longest CUPED look-back */
#define COMPACT_LATE_HOURS (7 * 24)

struct lookback {
    int64_t hours;
    char metric[MODEL_KEY_MAX + 1];
};

static void longest_lookback(void *ctx, const char *doc)
{
    struct lookback *lb = ctx;
    json_t *j = json_loads(doc, 0, NULL);
    struct metric m;
    struct err err;
    if (j != NULL && metric_from_json(j, MODEL_LOAD, NULL, &m, &err) == 0 &&
        m.cuped_lookback_hours > lb->hours) {
        lb->hours = m.cuped_lookback_hours;
        str_copy(lb->metric, sizeof(lb->metric), m.key);
    }
    json_decref(j);
}

int cli_compact(int argc, char **argv)
{
    struct config cfg;
    struct err err;
    err_clear(&err);
    const char *horizon = NULL;
    const struct cli_opt opts[] = {{"--horizon-days", &horizon, NULL}, {NULL, NULL, NULL}};
    int prc = cli_args(argc, argv, 2, compact_usage, opts, NULL, &cfg);
    if (prc != 0) {
        return prc < 0 ? 0 : prc;
    }
    long days = 400;
    if (horizon != NULL) {
        char *end = NULL;
        days = strtol(horizon, &end, 10);
        /* the longest CUPED lookback a metric may have is 365 days (model.h) */
        if (end == horizon || *end != '\0' || days < 15 || days > 100000) {
            fprintf(stderr, "bunsen: --horizon-days must be an integer >= 15\n");
            return 2;
        }
    }
    struct store *s = cli_open_store(&cfg, CLI_STORE_CURRENT);
    if (s == NULL) {
        return cli_open_store_status();
    }
    /* the check serve makes before it serves (bounded: 10 s of quick_check on SQLite):
     * deleting rows from a corrupt database can only make it worse, and serve refuses it */
    int check = store_check(s, 10000, &err);
    if (check < 0) {
        fprintf(stderr, "bunsen: cannot compact: %s\n", err.msg);
        store_close(s);
        return 1;
    }
    if (check == 1) {
        fprintf(stderr, "bunsen: the integrity check did not finish within 10 s; compacting "
                        "without it\n");
    }
    /* a user exposed tomorrow reads the events of its metrics' CUPED look-back before the
     * exposure: the horizon must reach past the longest one, or compaction takes covariate
     * events from future results (a look-back may be 365 days, the horizon 15). An exposure
     * may also arrive late, timestamped in the past (clients that batch, offline devices):
     * one that arrives more than horizon - look-back after its time finds its pre-period
     * compacted, so the horizon keeps a week beyond the longest look-back (a day once made an
     * exposure two days late lose its covariate) */
    struct lookback lb = {0};
    if (store_metric_list(s, longest_lookback, &lb, &err) != 0) {
        fprintf(stderr, "bunsen: %s\n", err.msg);
        store_close(s);
        return 1;
    }
    if ((int64_t)days * 24 < lb.hours + COMPACT_LATE_HOURS) {
        fprintf(stderr,
                "bunsen: --horizon-days %ld is within the CUPED look-back of metric '%s' (%lld "
                "hours) plus 7 days for late exposures: use at least %lld days\n",
                days, lb.metric, (long long)lb.hours,
                (long long)((lb.hours + COMPACT_LATE_HOURS + 23) / 24));
        store_close(s);
        return 2;
    }
    struct store_compact_stats st;
    int code = 0;
    if (store_compact(s, (int64_t)days * 86400000, &st, &err) != 0) {
        fprintf(stderr, "bunsen: %s\n", err.msg);
        code = 1;
    } else {
        printf("removed %lld events, %lld exposures and %lld per-user values of archived "
               "experiments\n",
               (long long)st.events, (long long)st.exposures, (long long)st.user_values);
        if (st.rebuilding > 0) {
            /* archived before the rebuild of its stop ended: the rebuild reads those rows */
            printf("kept the per-user rows of %lld archived experiment%s still rebuilding its "
                   "roll-ups: run compact again once the rebuild has finished\n",
                   (long long)st.rebuilding, st.rebuilding == 1 ? "" : "s");
        }
        if (st.ratio_kept > 0) {
            /* a ratio metric sums its parts' per-user values on each read: no roll-up */
            printf("kept the per-user rows of %lld archived experiment%s with ratio metrics: "
                   "their results read them\n",
                   (long long)st.ratio_kept, st.ratio_kept == 1 ? "" : "s");
        }
        if (st.wal_busy) {
            /* the rows are gone, but not the space: say so, and fail, so that a scheduled run
             * is looked at */
            char path[CONFIG_DB_PATH_SIZE];
            config_db_path(&cfg, path, sizeof(path));
            fprintf(stderr,
                    "bunsen: the write-ahead log (%s-wal: %lld frames, %lld copied into the "
                    "database) could not be checkpointed and truncated: readers or another "
                    "writer kept it busy; run `bunsen compact` again (the daemon also cuts it "
                    "back to 80 MiB once it starts the log over)\n",
                    path, (long long)st.wal_frames, (long long)st.wal_copied);
            code = 1;
        }
    }
    store_close(s);
    return code;
}
