/*
 * dblock.c - one daemon per SQLite file: the writer is the file's only writer and the
 * known-exposure cache is exact only then (store.h "Known first exposures"); two daemons on
 * one file, each with a -wal of its own when reached through two hard links, corrupted it.
 *
 * The lock is an exclusive flock(2) on the database file itself, so every name of the file
 * shares it: a symbolic link, a hard link (a `cp -al` or rsnapshot copy of the data dir), a
 * bind mount. A lock named after the path (<realpath>.lock) missed the hard links. That file
 * is still locked too: older daemons hold it and no other.
 *
 * flock(2) locks are independent of the POSIX byte-range locks SQLite takes (fcntl), on
 * Linux local file systems (on NFS flock is emulated with a whole-file POSIX lock and the
 * CLI's SQLite would wait for the daemon: SQLite on NFS is not supported anyway). But
 * closing ANY descriptor of a file drops every POSIX lock the process holds on it, SQLite's
 * own included: the descriptor opened here on the database is never closed, not even when
 * the flock was refused (`bunsen migrate` opens the store after trying it). The process's
 * exit closes it, after SQLite. Main thread, at start.
 *
 * dblock_sqlite_user asks the -shm's lock instead, for the processes that take neither lock
 * (daemons older than them), before `bunsen migrate` changes the schema under one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "bunsen/dblock.h"
#include "bunsen/log.h"
#include "bunsen/store.h"
#include "bunsen/util.h"

/* 0: locked (or not lockable: warned); 1: held by another process. */
static int lock_file(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_json(LOG_WARN,
                 "cannot open the file to lock: a second daemon on this database would not "
                 "be refused",
                 json_pack("{s:s, s:s}", "path", path, "error", strerror(errno)));
        return 0;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        return 0; /* fd stays open, and the lock held, until exit */
    }
    int e = errno;
    if (e == EWOULDBLOCK) {
        return 1; /* fd stays open: it may be the database's (see the top) */
    }
    log_json(LOG_WARN,
             "cannot lock the file: a second daemon on this database would not be refused",
             json_pack("{s:s, s:s}", "path", path, "error", strerror(e)));
    return 0;
}

int dblock_take(const char *url, char *held, size_t n)
{
    const char *file = store_url_sqlite_file(url);
    if (file == NULL) {
        return 0; /* PostgreSQL: several daemons share it by design */
    }
    /* the real path: a symbolic link to a database not created yet is created at its target,
     * where a daemon on the target's own path looks for it */
    char real[PATH_MAX], lock[PATH_MAX + 8];
    path_real(file, real, sizeof(real));
    snprintf(lock, sizeof(lock), "%s.lock", real);
    if (lock_file(lock, O_RDWR | O_CREAT | O_NOFOLLOW) != 0) {
        snprintf(held, n, "%s", lock);
        return 1;
    }
    if (lock_file(real, O_RDONLY | O_CREAT) != 0) {
        snprintf(held, n, "%s", real);
        return 1;
    }
    return 0;
}

/* SQLite's unix VFS: UNIX_SHM_BASE = (22 + SQLITE_SHM_NLOCK) * 4 = 120, the eight WAL locks,
 * then UNIX_SHM_DMS: shared-locked by each process that has the -shm mapped */
#define SHM_DMS_BYTE 128

pid_t dblock_sqlite_user(const char *url)
{
    const char *file = store_url_sqlite_file(url);
    if (file == NULL) {
        return 0;
    }
    char real[PATH_MAX], shm[PATH_MAX + 8];
    path_real(file, real, sizeof(real));
    snprintf(shm, sizeof(shm), "%s-shm", real);
    int fd = open(shm, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return 0; /* no -shm: no connection in WAL mode */
    }
    struct flock fl = {
        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SHM_DMS_BYTE, .l_len = 1};
    int rc = fcntl(fd, F_GETLK, &fl);
    close(fd); /* this process holds no lock on it yet (see the contract) */
    if (rc != 0 || fl.l_type == F_UNLCK) {
        return 0;
    }
    return fl.l_pid > 0 ? fl.l_pid : -1;
}
