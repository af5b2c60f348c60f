/*
 * main.c - the `bunsen` command: process-wide set-up (libsodium, GSL error handler)
 * and dispatch to the subcommands of cli.h. Exit codes: 0 ok, 1 error, 2 usage.
 */
#include <gsl/gsl_errno.h>
#include <sqlite3.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bunsen/cli.h"
#include "bunsen/http.h"
#include "bunsen/store.h"
#include "version.h" /* generated: build/gen/version.h */

static const char usage[] = "usage: bunsen <command> [options]\n"
                            "\n"
                            "commands:\n"
                            "  serve     run the daemon (HTTP API, dashboard)\n"
                            "  migrate   apply pending database migrations\n"
                            "  keys      create, list and revoke API keys\n"
                            "  results   print an experiment's results from the database\n"
                            "  compact   remove raw rows no result needs any more\n"
                            "  backup    write a consistent copy of the database (online)\n"
                            "  version   print the version\n"
                            "\n"
                            "`bunsen <command> --help` describes a command.\n";

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "bunsen: cannot initialise libsodium\n");
        return 1;
    }
    gsl_set_error_handler_off();
    http_json_alloc_install(); /* before any thread: jansson's allocator is process-wide */
    /* SQLite's global memory statistics take a mutex per allocation, and Debian's SQLite
     * has no lookaside: ~28 mutex round trips per ingested event, 6.5% of its instructions
     * (bench/callgrind.sh). /metrics samples the page caches instead (sqlite/db.c). */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    umask(077); /* the database, its WAL and admin.key are readable by the owner only */
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        static const char version_usage[] =
            "usage: bunsen version\nPrint the version, the git revision and the newest schema "
            "version (migration) this binary has for each backend.\n";
        if (argc == 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            fputs(version_usage, stdout);
            return 0;
        }
        if (argc > 2) { /* a usage error, as every command's (it printed the version, exit 0) */
            fprintf(stderr, "bunsen: unknown argument '%s'\n%s", argv[2], version_usage);
            return 2;
        }
        /* the schema tells builds of one VERSION apart (which upgrade notes apply) */
        printf("bunsen %s (%s), schema: sqlite %d, postgres %d\n", BUNSEN_VERSION, BUNSEN_GIT_REV,
               store_schema_newest_of("sqlite"), store_schema_newest_of("postgres"));
        return 0;
    }
    if (strcmp(cmd, "serve") == 0) {
        return cli_serve(argc, argv);
    }
    if (strcmp(cmd, "migrate") == 0) {
        return cli_migrate(argc, argv);
    }
    if (strcmp(cmd, "keys") == 0) {
        return cli_keys(argc, argv);
    }
    if (strcmp(cmd, "results") == 0) {
        return cli_results(argc, argv);
    }
    if (strcmp(cmd, "compact") == 0) {
        return cli_compact(argc, argv);
    }
    if (strcmp(cmd, "backup") == 0) {
        return cli_backup(argc, argv);
    }
    fprintf(stderr, "bunsen: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
