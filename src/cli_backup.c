/*
 * cli_backup.c - `bunsen backup DEST`: an online copy of the SQLite database (store_backup:
 * SQLite's backup API, then quick_check, then a rename), refusing a DEST that is the database
 * or one of the files beside it however it is spelled. PostgreSQL has its own tools (README).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bunsen/cli.h"
#include "bunsen/util.h"

static const char backup_usage[] =
    "usage: bunsen backup DEST [--data-dir DIR] [--database PATH]\n"
    "Write a consistent copy of DIR/bunsen.db to DEST with SQLite's online backup API, safe\n"
    "while the daemon serves and writes: the copy holds every write acknowledged before the\n"
    "command started. DEST is replaced only by a complete, checked copy; it may not be the\n"
    "database or a file beside it that belongs to it (-wal, -shm, -journal, .lock), nor an\n"
    "existing directory.\n"
    "Restore: stop the daemon, copy DEST to DIR/bunsen.db, remove DIR/bunsen.db-wal and\n"
    "-shm, start it.\n"
    "--database: the SQLite file to copy instead of DIR/bunsen.db (PostgreSQL: use pg_dump\n"
    "or pg_basebackup; see README).\n";

/* The real path of p's directory entry: its directory's real path and its name (a link at p
 * itself is not followed: a rename replaces the link). false when the directory cannot be
 * resolved. */
static bool entry_real(const char *p, char *out, size_t n)
{
    char dir[PATH_MAX], rdir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", p);
    char *slash = strrchr(dir, '/');
    const char *base = slash != NULL ? p + (slash - dir) + 1 : p;
    if (slash != NULL) {
        slash[slash == dir ? 1 : 0] = '\0';
    }
    if (realpath(slash != NULL ? dir : ".", rdir) == NULL) {
        return false;
    }
    int w = snprintf(out, n, "%s/%s", strcmp(rdir, "/") == 0 ? "" : rdir, base);
    return w > 0 && (size_t)w < n;
}

/* The file of the database, or one of the files SQLite and the daemon keep beside it, that
 * dest (or the dest.tmp the copy is written to first, then unlinked or renamed) names,
 * however it is spelled (links, "..", a directory reached by two paths): the backup's rename
 * over it would destroy acknowledged writes (a WAL replaced by a copy of the database). NULL
 * when it names none. */
static const char *backup_dest_clash(const char *db_file, const char *dest)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal", ".lock"};
    static const char *const what[] = {"the database", "its write-ahead log", "its shm index",
                                       "its rollback journal", "the daemon's lock file"};
    char db[PATH_MAX], tmp[PATH_MAX + 8];
    path_real(db_file, db, sizeof(db));
    snprintf(tmp, sizeof(tmp), "%s.tmp", dest);
    const char *const paths[] = {dest, tmp};
    for (size_t p = 0; p < 2; p++) {
        char names[2][PATH_MAX];
        int nn = 0;
        if (path_real(paths[p], names[nn], sizeof(names[nn]))) {
            nn++;
        }
        if (entry_real(paths[p], names[nn], sizeof(names[nn]))) {
            nn++;
        }
        size_t dl = strlen(db);
        for (int k = 0; k < nn; k++) {
            if (strncmp(names[k], db, dl) != 0) {
                continue;
            }
            for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
                if (strcmp(names[k] + dl, suffix[i]) == 0) {
                    return what[i];
                }
            }
        }
    }
    return NULL;
}

int cli_backup(int argc, char **argv)
{
    struct config cfg;
    const char *dest = NULL;
    int prc = cli_args(argc, argv, 2, backup_usage, NULL, &dest, &cfg);
    if (prc != 0) {
        return prc < 0 ? 0 : prc;
    }
    if (dest == NULL) {
        fputs(backup_usage, stderr);
        return 2;
    }
    char db[CONFIG_DB_PATH_SIZE];
    config_db_path(&cfg, db, sizeof(db));
    /* a PostgreSQL URL or conninfo names no file: its backend answers (its own tools) */
    const char *file = store_url_sqlite_file(db);
    if (file != NULL && access(file, R_OK) != 0) {
        fprintf(stderr, "bunsen: no database at %s: %s\n", file, strerror(errno));
        return 1;
    }
    const char *clash = file != NULL ? backup_dest_clash(file, dest) : NULL;
    if (clash != NULL) {
        fprintf(stderr,
                "bunsen: %s is %s (or its .tmp would be): the copy would replace it; back up "
                "to another file\n",
                dest, clash);
        return 2;
    }
    /* checked before the copy: the rename over a directory failed only once the whole
     * database had been copied */
    struct stat dsb;
    if (file != NULL && stat(dest, &dsb) == 0 && S_ISDIR(dsb.st_mode)) {
        /* a directory that holds the database (the data dir, or one above it): a backup
         * there shares the database's disk, and the data dir's fate; the suggestion was
         * "up/data/bunsen-DATE.db" (review ops31) */
        char dreal[PATH_MAX], dbreal[PATH_MAX];
        bool holds = realpath(dest, dreal) != NULL && path_real(file, dbreal, sizeof(dbreal));
        size_t dl = holds ? strlen(dreal) : 0;
        holds = holds && strncmp(dbreal, dreal, dl) == 0 && (dbreal[dl] == '/' || dl == 1);
        if (holds) {
            fprintf(stderr,
                    "bunsen: %s is a directory, and holds the database: name the backup file, "
                    "on another disk (e.g. /backups/bunsen-DATE.db)\n",
                    dest);
        } else {
            fprintf(stderr,
                    "bunsen: %s is a directory: name the backup file (e.g. %s/bunsen-DATE.db)\n",
                    dest, dest);
        }
        return 2;
    }
    /* and the directory DEST goes in: SQLite's "unable to open database file" on a DEST.tmp
     * the user never typed said neither */
    if (file != NULL) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", dest);
        char *slash = strrchr(parent, '/');
        if (slash != NULL) {
            slash[slash == parent ? 1 : 0] = '\0';
        } else {
            snprintf(parent, sizeof(parent), ".");
        }
        if (stat(parent, &dsb) != 0) {
            if (errno == ENOENT) {
                fprintf(stderr, "bunsen: the directory %s does not exist: create it first\n",
                        parent);
            } else {
                fprintf(stderr, "bunsen: the directory %s: %s\n", parent, strerror(errno));
            }
            return 2;
        }
        if (!S_ISDIR(dsb.st_mode)) {
            fprintf(stderr, "bunsen: %s is not a directory: the backup cannot go in it\n", parent);
            return 2;
        }
    }
    struct store *s = cli_open_store(&cfg, CLI_STORE_READ_AS_IS);
    if (s == NULL) {
        return cli_open_store_status();
    }
    struct err err;
    err_clear(&err);
    struct store_backup_stats st;
    int code = 0;
    if (store_backup(s, dest, &st, &err) != 0) {
        fprintf(stderr, "bunsen: backup failed: %s\n", err.msg);
        code = 1;
    } else {
        printf("backup of %s written to %s: %lld pages, %lld bytes in %.2f s (quick_check ok)\n",
               db, dest, (long long)st.pages, (long long)st.bytes, st.seconds);
    }
    store_close(s);
    return code;
}
