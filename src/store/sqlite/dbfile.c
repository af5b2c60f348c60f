/*
 * dbfile.c - the SQLite database file itself, apart from what SQLite does with it: what is
 * checked before SQLite opens it for use (sqlite_file_usable: a file that is not a SQLite
 * database, a write-ahead log left beside it from another database, a -wal or -shm this user
 * may not write), the free space of its disk (sqlite_disk_full), and, while the daemon runs,
 * the file deleted, replaced or overwritten under it (sqlite_file_check, sqlite_header_check)
 * with the log that the file now at its path would share emptied into the old one
 * (sqlite_wal_disown). Each check names the file and what to do, instead of SQLite's "disk
 * I/O error", "attempt to write a readonly database" or "is corrupt".
 */
#include "sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bunsen/log.h"
#include "bunsen/util.h"

/* Free space below which /readyz (and the start-up check) say the disk is full: a few
 * groups' worth of WAL frames. */
#define SQLITE_FREE_MIN_BYTES (1024 * 1024)

int sqlite_file_check(struct sqlite_store *s, struct err *err)
{
    struct stat sb;
    bool same = stat(s->path, &sb) == 0 ? sb.st_dev == s->dev && sb.st_ino == s->ino
                                        : errno != ENOENT && errno != ENOTDIR;
    if (same) {
        atomic_store(&s->file_lost, false); /* put back (renamed to its old name) */
        atomic_store(&s->wal_disowned, false);
        return 0;
    }
    if (!atomic_exchange(&s->file_lost, true)) {
        log_json(LOG_ERROR, "the database file was deleted or replaced under the daemon",
                 json_pack("{s:s, s:s}", "path", s->path, "action",
                           "stop the daemon, put the database back (README Restore), start it"));
    }
    /* the path only in the log: /readyz is public (docs/SECURITY.md) */
    return err_set(err, ERR_UNAVAILABLE, NULL,
                   "the database file was deleted or replaced while the daemon ran: stop the "
                   "daemon, put the database back (README \"Restore\") and start it");
}

/* A copy written over the file in place (`cp backup.db bunsen.db`: the same inode, so the
 * stat of sqlite_file_check sees nothing) mixes the copy's pages with the daemon's log and
 * page cache. What gives it away: the daemon's file is in WAL mode from its open on (header
 * bytes 18 and 19 are 2), a backup (`bunsen backup`) is not. Read through the writer
 * connection's own file handle (a descriptor of our own, once closed, would drop SQLite's
 * POSIX locks on the file): one pread of 20 bytes per write transaction. A short read (the
 * copy has just truncated the file) is left to the next transaction. Sticky: once seen, the
 * file and the daemon's view of it no longer agree. Writer thread. */
int sqlite_header_check(struct sqlite_store *s, struct err *err)
{
    if (s->readonly) {
        return 0;
    }
    if (!atomic_load(&s->file_overwritten)) {
        sqlite3_file *f = NULL;
        unsigned char h[20];
        if (sqlite3_file_control(s->main->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
            f == NULL || f->pMethods == NULL ||
            f->pMethods->xRead(f, h, (int)sizeof(h), 0) != SQLITE_OK ||
            (h[18] == 2 && h[19] == 2)) {
            return 0;
        }
        atomic_store(&s->file_overwritten, true);
        log_json(LOG_ERROR,
                 "the database file was overwritten in place under the daemon (its header "
                 "is no longer in WAL mode)",
                 json_pack("{s:s, s:s}", "path", s->path, "action",
                           "stop the daemon, restore the database (README Restore), start it"));
    }
    return err_set(err, ERR_UNAVAILABLE, NULL,
                   "the database file was overwritten while the daemon ran: stop the daemon, "
                   "restore the database (README \"Restore\") and start it");
}

/* The -wal and -shm files go by the database's path, so a file put in its place (a restore
 * under the running daemon: `mv copy.db bunsen.db`) shares them with the daemon's old,
 * unlinked file. SQLite's close leaves the log alone once the file has moved, and its frames,
 * pages of the old file, replayed onto the replacement at the next open: a corrupt database.
 * Here they are copied into the old file (where they belong) and the log cut to nothing: a
 * TRUNCATE checkpoint on the writer's connection, which waits at most wait_ms for in-process
 * readers still on the log (tried again by the next write refused, and at close, after the
 * readers are gone). Writer thread, or store_close. */
void sqlite_wal_disown(struct sqlite_store *s, int wait_ms)
{
    if (s->main == NULL || s->readonly || atomic_load(&s->wal_disowned)) {
        return;
    }
    struct sqlite_conn *c = s->main;
    c->wait_deadline_ns = wait_ms > 0 ? time_mono_ns() + (uint64_t)wait_ms * 1000000u : 0;
    int log = -1, copied = -1;
    int rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_TRUNCATE, &log, &copied);
    c->wait_deadline_ns = 0;
    if (rc == SQLITE_OK) {
        atomic_store(&s->wal_disowned, true);
        log_json(LOG_WARN, "the write-ahead log was emptied into the old database file",
                 json_pack("{s:s, s:i}", "path", s->path, "frames", copied));
    }
}

/* -1 with err when the file system holding path (or, before the file exists, its directory)
 * has fewer than SQLITE_FREE_MIN_BYTES free, else 0. */
int sqlite_disk_full(const char *path, struct err *err)
{
    struct statvfs vfs;
    int rc = statvfs(path, &vfs);
    if (rc != 0) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash != NULL) {
            slash[slash == dir ? 1 : 0] = '\0';
        }
        rc = statvfs(slash != NULL ? dir : ".", &vfs);
    }
    if (rc == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < SQLITE_FREE_MIN_BYTES) {
        return err_set(err, ERR_UNAVAILABLE, NULL,
                       "the disk holding the database is full (%llu bytes free, fewer than %d)",
                       (unsigned long long)vfs.f_bavail * vfs.f_frsize, SQLITE_FREE_MIN_BYTES);
    }
    return 0;
}

/* -1 with err naming the file when the log or shared-memory file beside path exists but this
 * user may not write it: SQLite gives them the database file's mode when it creates them, so a
 * read of a 0400 file by an older bunsen left 0400 ones, and the writer's open failed "attempt
 * to write a readonly database", naming neither. */
static int side_files_writable(const char *path, struct err *err)
{
    static const char *const suffix[] = {"-shm", "-wal"};
    char real[PATH_MAX];
    path_real(path, real, sizeof(real)); /* SQLite names them after a symlink's target */
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char f[PATH_MAX + 8];
        snprintf(f, sizeof(f), "%s%s", real, suffix[i]);
        struct stat sb;
        if (stat(f, &sb) != 0 || faccessat(AT_FDCWD, f, W_OK, AT_EACCESS) == 0) {
            continue;
        }
        if (i == 1 && sb.st_size > 0) {
            return err_set(err, ERR_UNAVAILABLE, NULL,
                           "%s is not writable (mode %04o, owner uid %u): fix its mode or owner "
                           "(it may hold commits not yet in the database: do not remove it)",
                           f, (unsigned)(sb.st_mode & 07777), (unsigned)sb.st_uid);
        }
        return err_set(err, ERR_UNAVAILABLE, NULL,
                       "%s is not writable (mode %04o, owner uid %u): remove it or fix its mode", f,
                       (unsigned)(sb.st_mode & 07777), (unsigned)sb.st_uid);
    }
    return 0;
}

/* The first n bytes of the file at path, read through a SQLite handle that neither locks nor
 * reads the log until a statement runs: a descriptor of our own, closed, would drop the POSIX
 * locks this process's connections hold on the file (SQLite's close defers that). A short
 * file reads as zeros past its end. false when it cannot be read. */
static bool read_header(const char *path, unsigned char *h, int n)
{
    sqlite3 *db = NULL;
    sqlite3_file *f = NULL;
    memset(h, 0, (size_t)n);
    int rc = SQLITE_ERROR;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) == SQLITE_OK && f != NULL &&
        f->pMethods != NULL) {
        rc = f->pMethods->xRead(f, h, n, 0);
    }
    sqlite3_close(db);
    return rc == SQLITE_OK || rc == SQLITE_IOERR_SHORT_READ;
}

/* A restore that kept the old -wal (README "Restore" without its `rm -f bunsen.db-wal
 * bunsen.db-shm`): the copy is in rollback-journal mode (header bytes 18 and 19 are 1, as a
 * `bunsen backup` file is) and the log beside it holds the replaced database's pages. SQLite
 * takes a file with a log beside it for one in WAL mode and replays the log onto it: the copy
 * came out corrupt, and the error ("is corrupt: restore it from a backup") read as if the
 * backup were bad. Refused before SQLite opens the file for use, naming both files; nothing
 * on disk changes. The header is read through a SQLite handle that neither locks nor reads
 * the log until a statement runs: a descriptor of our own, closed, would drop the POSIX locks
 * this process's connections hold on the file (SQLite's close defers that). A file in WAL
 * mode owns its log (a running daemon's): left alone. */
static int stale_wal(const char *path, struct err *err)
{
    char real[PATH_MAX], wal[PATH_MAX + 8];
    path_real(path, real, sizeof(real)); /* SQLite names the log after a symlink's target */
    snprintf(wal, sizeof(wal), "%s-wal", real);
    struct stat sb;
    if (stat(wal, &sb) != 0 || sb.st_size == 0) {
        return 0;
    }
    unsigned char h[20];
    if (!read_header(real, h, (int)sizeof(h)) || h[18] != 1 || h[19] != 1) {
        return 0;
    }
    log_json(LOG_ERROR,
             "a write-ahead log left from another database sits beside a database in "
             "rollback-journal mode: not opened",
             json_pack("{s:s, s:s, s:I, s:s}", "database", real, "wal", wal, "wal_bytes",
                       (json_int_t)sb.st_size, "action",
                       "if the database is a restored backup, remove the -wal and -shm beside it "
                       "(README \"Restore\") and start again; nothing was changed (SQLite would "
                       "have applied that log to the file, corrupting it)"));
    return err_set(err, ERR_UNAVAILABLE, NULL,
                   "%s is left from another database: %s is in rollback-journal mode (a restored "
                   "backup?); remove the -wal and -shm after restoring it",
                   wal, real);
}

/* A file that is not a SQLite database at all (a pg_dump file, a typo naming some other
 * file): SQLite calls it SQLITE_NOTADB, which read "the database is corrupt ...: restore it
 * from a backup" and sent the operator to a restore when the path was wrong (review ops31
 * F3). Its first 16 bytes are not "SQLite format 3\0" (an empty file is a new database).
 * ERR_INVALID on field "database", as a malformed --database: the commands exit 2.
 * Read through a SQLite handle, as stale_wal does (a descriptor of our own would drop this
 * process's POSIX locks on the file when closed). */
static int not_sqlite(const char *path, struct err *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) {
        return 0;
    }
    static const char magic[16] = "SQLite format 3";
    unsigned char h[16];
    if (!read_header(path, h, (int)sizeof(h)) || memcmp(h, magic, 16) == 0) {
        return 0; /* unreadable: SQLite's open says why */
    }
    /* the setting names the wrong file: a usage error (exit 2; a restart cannot mend it) */
    return err_set(err, ERR_INVALID, "database",
                   "%s is not a SQLite database (check --database / --data-dir)", path);
}

int sqlite_file_usable(const char *path, bool readonly, struct err *err)
{
    if (not_sqlite(path, err) != 0 || stale_wal(path, err) != 0 ||
        (!readonly && side_files_writable(path, err) != 0)) {
        return -1;
    }
    return 0;
}
