/*
 * backup.c - `bunsen backup DEST`: a consistent copy of the SQLite database while a daemon
 * serves and writes (store.h store_backup; the adapter's backup op).
 *
 * SQLite's online backup API copies every page in one sqlite3_backup_step(-1): one read
 * transaction, so the copy is the snapshot of the moment it began (in WAL mode readers do not
 * block the writer, nor it them: the daemon keeps committing meanwhile). Every write
 * acknowledged before the call is in the copy. The copy goes to DEST.tmp, is checked with
 * quick_check, fsynced, and renamed over DEST, so DEST is never a half-written file. The copy
 * is a standalone database in rollback-journal mode (no -wal file to carry along).
 * SIGINT, SIGTERM and SIGHUP during the copy remove DEST.tmp and its DEST.tmp-journal and
 * end the process with status 1 (a ^C or a timeout of cron or systemd left both behind);
 * a failed copy (a full disk) removes them too, and the -wal and -shm a copy still in WAL mode
 * left; a stale pair from a SIGKILL is removed by
 * the next backup to the same DEST. An existing directory as DEST is refused before any copy
 * (cli.c cli_backup).
 *
 * Threads: the calling thread only (a CLI command: the process's only thread, which owns
 * its signal dispositions while this runs); opens its own connections.
 */
#include "sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bunsen/util.h"

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The copy's files, for the signal handler (set before it is installed). */
static char tmp_path[4200], journal_path[4220], wal_path[4220], shm_path[4220];
static const int copy_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define NSIG_COPY (sizeof(copy_signals) / sizeof(copy_signals[0]))

/* The copy and the files SQLite keeps beside it: its rollback journal, or, when the copied
 * header's WAL mode could not be folded back (a full disk), its -wal and -shm. */
static void tmp_unlink(void)
{
    unlink(journal_path);
    unlink(wal_path);
    unlink(shm_path);
    unlink(tmp_path);
}

static void on_copy_signal(int sig)
{
    (void)sig;
    /* async-signal-safe only: the connection writing them dies with the process */
    tmp_unlink();
    static const char msg[] = "bunsen: backup interrupted: the partial copy was removed\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)ignored;
    _exit(1);
}

/* Install the handler (on) for each signal not ignored (nohup keeps SIGHUP ignored), or
 * put back what was there. */
static void copy_signals_set(bool on, struct sigaction *saved)
{
    for (size_t i = 0; i < NSIG_COPY; i++) {
        if (!on) {
            sigaction(copy_signals[i], &saved[i], NULL);
            continue;
        }
        sigaction(copy_signals[i], NULL, &saved[i]);
        if (saved[i].sa_handler != SIG_IGN) {
            struct sigaction sa;
            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = on_copy_signal;
            sigfillset(&sa.sa_mask);
            sigaction(copy_signals[i], &sa, NULL);
        }
    }
}

/* Hold the copy's signals (old: the mask before, when not NULL). */
static void copy_signals_hold(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < NSIG_COPY; i++) {
        sigaddset(&set, copy_signals[i]);
    }
    sigprocmask(SIG_BLOCK, &set, old);
}

static int backup_copy(struct sqlite_store *s, const char *dest, struct store_backup_stats *out,
                       struct err *err);

int sqlite_backup(struct store *store, const char *dest, struct store_backup_stats *out,
                  struct err *err)
{
    struct sqlite_store *s = sqlite_be(store);
    memset(out, 0, sizeof(*out));
    int w = snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", dest);
    if (w < 0 || (size_t)w >= sizeof(tmp_path)) {
        return err_set(err, ERR_INVALID, "DEST", "the backup path is too long");
    }
    snprintf(journal_path, sizeof(journal_path), "%s-journal", tmp_path);
    snprintf(wal_path, sizeof(wal_path), "%s-wal", tmp_path);
    snprintf(shm_path, sizeof(shm_path), "%s-shm", tmp_path);
    /* a copy killed by SIGKILL: its journal would be taken for the new copy's hot journal */
    tmp_unlink();
    struct sigaction saved[NSIG_COPY];
    sigset_t mask;
    copy_signals_hold(&mask);
    copy_signals_set(true, saved);
    sigprocmask(SIG_SETMASK, &mask, NULL);
    int rc = backup_copy(s, dest, out, err);
    /* one that came once the copy was becoming DEST acts now, as it would have without us */
    copy_signals_hold(NULL);
    copy_signals_set(false, saved);
    sigprocmask(SIG_SETMASK, &mask, NULL);
    return rc;
}

static int backup_copy(struct sqlite_store *s, const char *dest, struct store_backup_stats *out,
                       struct err *err)
{
    uint64_t t0 = time_mono_ns();
    const char *tmp = tmp_path;
    sqlite3 *to = NULL;
    int rc = sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        err_set(err, ERR_UNAVAILABLE, "DEST", "cannot create %s: %s", tmp,
                to ? sqlite3_errmsg(to) : sqlite3_errstr(rc));
        goto out_close;
    }
    /* s->main waits for locks with the adapter's busy handler (db.c), as every connection */
    sqlite3_backup *b = sqlite3_backup_init(to, "main", s->main->db, "main");
    if (b == NULL) {
        err_set(err, ERR_UNAVAILABLE, NULL, "cannot start the backup: %s", sqlite3_errmsg(to));
        goto out_close;
    }
    /* all pages in one step: one read transaction, one snapshot */
    do {
        rc = sqlite3_backup_step(b, -1);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
            usleep(10000);
        }
    } while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    out->pages = sqlite3_backup_pagecount(b);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        store_sqlite_err(to, rc, "backup", err);
        goto out_close;
    }
    /* a standalone file: fold the copied WAL flag back to a rollback journal */
    char *msg = NULL;
    if (sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, &msg) != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, NULL, "backup: %s", msg ? msg : "journal mode");
        sqlite3_free(msg);
        goto out_close;
    }
    sqlite3_stmt *st = NULL;
    char check[160] = "";
    if (sqlite3_prepare_v2(to, "PRAGMA quick_check(1)", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        sqlite_column_copy(st, 0, check, sizeof(check));
    }
    sqlite3_finalize(st);
    if (strcmp(check, "ok") != 0) {
        err_set(err, ERR_INTERNAL, NULL, "the copy fails its check (%s): not kept", check);
        goto out_close;
    }
    sqlite3_close(to);
    to = NULL;
    if (fsync_path(tmp) != 0) {
        err_set(err, ERR_UNAVAILABLE, "DEST", "cannot sync the copy %s: %s", tmp, strerror(errno));
        goto out_close;
    }
    /* a signal now must not remove the copy as it becomes DEST: held until DEST is whole
     * (sqlite_backup lets it act then) */
    copy_signals_hold(NULL);
    if (rename(tmp, dest) != 0) {
        err_set(err, ERR_UNAVAILABLE, "DEST", "cannot move the copy to %s: %s", dest,
                strerror(errno));
        goto out_close;
    }
    /* the rename is durable once the directory is */
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s", dest);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    fsync_path(dir);
    struct stat sb;
    if (stat(dest, &sb) == 0) {
        out->bytes = (int64_t)sb.st_size;
    }
    out->seconds = (double)(time_mono_ns() - t0) / 1e9;
    return 0;
out_close:
    sqlite3_close(to);
    tmp_unlink(); /* a failed write (a full disk) left them as a signal would */
    return -1;
}
