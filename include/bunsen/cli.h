/*
 * cli.h - the subcommands of the `bunsen` binary (src/main.c dispatches):
 * serve (src/serve.c), migrate and keys (src/cli.c). Each returns the process exit
 * code: 0 success, 1 runtime error, 2 usage error.
 */
#ifndef BUNSEN_CLI_H
#define BUNSEN_CLI_H

#include "bunsen/auth.h"
#include "bunsen/config.h"
#include "bunsen/store.h"

int cli_serve(int argc, char **argv);
int cli_migrate(int argc, char **argv);
int cli_keys(int argc, char **argv);
int cli_results(int argc, char **argv); /* `bunsen results KEY`, src/cli.c */
int cli_compact(int argc, char **argv); /* `bunsen compact`, src/cli.c */
int cli_backup(int argc, char **argv);  /* `bunsen backup DEST`, src/cli.c */

/* A subcommand's own option: a flag with a value (value != NULL) or a switch (on != NULL).
 * Arrays end with a {NULL} entry. */
struct cli_opt {
    const char *flag;
    const char **value;
    bool *on;
};

/* Parse argv[start..): defaults, BUNSEN_* variables, then the subcommand's opts, the config
 * flags of config.h and at most one positional argument (when positional is not NULL).
 * Every option with a value takes it as `--opt VALUE` or `--opt=VALUE`.
 * A bad BUNSEN_* value is an error (2) here only for --data-dir and --database, when no flag
 * set them: a command that uses more options checks them (config_env_error).
 * Returns 0, -1 after printing usage for --help (exit 0), or 2 after a usage error message. */
int cli_args(int argc, char **argv, int start, const char *usage, const struct cli_opt *opts,
             const char **positional, struct config *cfg);

/* The directories cli_prepare_data_dir made: each as the length of its prefix of the data
 * dir's path, parents first. */
#define CLI_MADE_DIRS_MAX 64
struct cli_made_dirs {
    int n;
    size_t len[CLI_MADE_DIRS_MAX];
};
/* Shared by the subcommands: create the data dir (0700) if needed and check that it is a
 * writable directory; open the store and apply migrations. Print errors to stderr. made
 * receives the directories this call made (none when the data dir was there), for
 * cli_data_dir_undo. */
int cli_prepare_data_dir(const struct config *cfg, struct cli_made_dirs *made);
/* After a start (serve, migrate) refused once cli_prepare_data_dir had run (the database
 * locked by another daemon, PostgreSQL unreachable, ...): remove the directories it made,
 * deepest first, each only when empty. Nothing else: a directory that holds files (the
 * database this start created) stays. A stray ./data was left behind by every refused
 * start. */
void cli_data_dir_undo(const struct config *cfg, const struct cli_made_dirs *made);
/* How a subcommand opens the store: MIGRATE applies pending migrations (serve); AS_IS opens
 * whatever is there (migrate, backup); CURRENT wants an existing database at this binary's
 * schema (keys, results, compact: on a mistyped data dir they neither create a database nor a
 * key no daemon sees; `bunsen migrate` creates one, for keys before the first serve). Only
 * serve and migrate change a schema: an operator's
 * `bunsen keys list` between installing a new binary and restarting the daemon once
 * migrated the database under the old daemon, which then refused to start on it. */
/* CLI_STORE_READ_CURRENT and CLI_STORE_READ_AS_IS: as CURRENT and AS_IS, opened read-only
 * (store_open_readonly), for the commands that only read (`results`, `keys list`, `backup`):
 * they work on a read-only mount or file and leave a backup file's journal mode alone. */
enum cli_store_mode {
    CLI_STORE_MIGRATE,
    CLI_STORE_AS_IS,
    CLI_STORE_CURRENT,
    CLI_STORE_READ_CURRENT,
    CLI_STORE_READ_AS_IS
};
struct store *cli_open_store(const struct config *cfg, enum cli_store_mode mode);
/* The exit status for the last cli_open_store of this thread that returned NULL: 2 when the
 * database URL was at fault (a PostgreSQL setting libpq refused before trying a host), else
 * 1. */
int cli_open_store_status(void);

/* Create a key directly in the store (writer not running or running: store_write_sync).
 * actor: who did it, for the audit log ("cli", "system"). secret receives the key.
 * first_admin: create it only if there is no active admin key, decided in the transaction
 * that creates it (one at a time across daemons sharing the database); returns 1, creating
 * nothing, when there is one. */
int cli_create_key(struct store *s, const char *name, const char *role, const char *actor,
                   bool first_admin, char secret[AUTH_SECRET_LEN + 1], char id[AUTH_ID_LEN + 1],
                   struct err *err);

#endif
