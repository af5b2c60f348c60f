/*
 * walbuf.h - a SQLite VFS shim that writes each commit's WAL frames to the file in one
 * write instead of two per frame (src/store/sqlite/walbuf.c; docs/PERFORMANCE.md "Fifth
 * pass"). Every connection of the SQLite adapter opens through it.
 *
 * Sound only on connections whose commits sync the WAL (synchronous=FULL or EXTRA, which
 * sqlite_conn_open sets): frames are held in memory until the WAL file is synced, read,
 * sized, truncated or closed, and a commit syncs before its frames become visible.
 */
#ifndef BUNSEN_WALBUF_H
#define BUNSEN_WALBUF_H

#include <stdint.h>

/* The name to pass to sqlite3_open_v2 as zVfs. */
#define WALBUF_VFS "bunsen-walbuf"

/* Register the shim over the default VFS (once; thread-safe). 0 or a SQLite error code. */
int walbuf_register(void);

/* Process-wide counters since start: writes SQLite asked of WAL files, and writes that
 * reached the file system. A test hook (test_walbuf): the daemon does not read them. */
struct walbuf_stats {
    uint64_t writes_in, writes_out;
};
void walbuf_stats_get(struct walbuf_stats *out);

#endif
