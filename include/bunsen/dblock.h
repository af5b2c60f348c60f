/*
 * dblock.h - one daemon per SQLite database file: the lock `bunsen serve` holds for its life
 * and `bunsen migrate` takes before it changes the schema (dblock.c).
 */
#ifndef BUNSEN_DBLOCK_H
#define BUNSEN_DBLOCK_H

#include <stddef.h>

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

#endif
