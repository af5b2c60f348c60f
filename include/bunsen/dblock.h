/*
 * dblock.h - one daemon per SQLite database file: the lock `bunsen serve` holds for its life
 * and `bunsen migrate` takes before it changes the schema (dblock.c).
 */
#ifndef BUNSEN_DBLOCK_H
#define BUNSEN_DBLOCK_H

#include <stddef.h>
#include <sys/types.h>

/* Take the database's locks without waiting: an exclusive flock(2) on the database file
 * itself (created empty when missing: SQLite takes an empty file for a new database), which
 * every path to it shares (a symbolic or hard link, a bind mount), and on <real path>.lock,
 * which daemons older than the first lock hold. Held until the process exits (the kernel
 * drops them on any exit, kill -9 included); the descriptors are never closed (dblock.c says
 * why). url: a database as config_db_path gives it; not SQLite: nothing to lock.
 * Returns 0 (locked; not SQLite; or a lock could not be made: a warning in the log) or 1
 * (another process holds one: held receives the file it holds, NUL-terminated in n bytes).
 * Main thread, at start, before the store is opened. */
int dblock_take(const char *url, char *held, size_t n);

/* Another process with the SQLite database open (a daemon older than the locks above, which
 * take none of them): every connection in WAL mode holds a shared POSIX lock on byte 128 of
 * <real path>-shm (SQLite's unix VFS: UNIX_SHM_DMS, its "dead man switch") while it has the
 * file open. Asked with F_GETLK, taking nothing. Call before this process opens the
 * database (the probe's descriptor is closed, and closing one drops the process's POSIX locks
 * on the file). Returns the pid of a holder (-1 when the kernel does not say), or 0: none, no
 * -shm, not SQLite. Main thread. */
pid_t dblock_sqlite_user(const char *url);

#endif
