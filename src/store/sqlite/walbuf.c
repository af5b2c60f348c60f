/*
 * walbuf.c - the "bunsen-walbuf" SQLite VFS: the default VFS with the writes to WAL files
 * gathered in memory and handed to the file system in one write (bunsen/walbuf.h).
 *
 * Why: SQLite appends each WAL frame as two writes (a 24-byte header, then the page), so a
 * writer group of 20 /assign exposures, ~40 dirty pages, cost ~80 pwrite calls before its
 * fdatasync; one 160 KiB write does the same in a fraction of the kernel time
 * (docs/PERFORMANCE.md "Fifth pass").
 *
 * Rules that keep the file's bytes what SQLite wrote, in the order it wrote them:
 *   - writes that continue the buffered run are appended to it; any other write first
 *     flushes the run (a savepoint rollback or a WAL restart rewrites earlier offsets);
 *   - the run is flushed before the file is synced, read, sized, truncated, closed, or
 *     handed to a file control, and when it would pass WALBUF_MAX bytes;
 *   - a failed flush drops the run and reports the error from the call that flushed, so
 *     the commit (its sync) fails and SQLite rolls it back: never a commit reported
 *     whose frames did not reach the file.
 * Readers see a frame only after the commit that wrote it updates the wal-index, which
 * SQLite does after the WAL sync when synchronous is FULL; sqlite_conn_open sets FULL on
 * every connection, so no reader can look for a frame still in a buffer. A kill -9 loses
 * only unsynced frames, which no caller was told were committed; SQLite's recovery
 * ignores a torn WAL tail by its checksums.
 *
 * Every other file (the database, its shared memory, temporary files) is opened by the
 * default VFS directly into SQLite's file object and runs its methods unwrapped.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/walbuf.h"

/* Flush when the buffered run would pass this: 30 frames of 4 KiB pages. It stays below
 * 128 KiB because the unix VFS writes at most 0x1ffff bytes of a request per pwrite (it
 * masks the count) and reports a request of exactly 128 KiB as a full disk. */
#define WALBUF_MAX   (124u * 1024u)
#define WALBUF_FIRST (32u * 1024u)

struct walbuf_file {
    sqlite3_file base;  /* pMethods = &walbuf_io */
    sqlite3_file *real; /* the default VFS's file, in the bytes after this struct */
    unsigned char *buf; /* the buffered run of bytes, for file offsets [off, off + len) */
    size_t len, cap;
    sqlite3_int64 off;
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs walbuf_vfs;
static sqlite3_io_methods walbuf_io;
static pthread_once_t walbuf_once = PTHREAD_ONCE_INIT;
static int walbuf_rc = SQLITE_OK;
static _Atomic uint64_t stat_in, stat_out;

static size_t real_offset(void)
{
    return (sizeof(struct walbuf_file) + 15u) & ~(size_t)15u;
}

static int flush(struct walbuf_file *w)
{
    if (w->len == 0) {
        return SQLITE_OK;
    }
    int rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
    atomic_fetch_add_explicit(&stat_out, 1, memory_order_relaxed);
    w->len = 0;
    return rc;
}

static int wb_close(sqlite3_file *f)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    int rc = flush(w);
    int rc2 = w->real->pMethods->xClose(w->real);
    free(w->buf);
    w->buf = NULL;
    w->cap = 0;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    int rc = flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, p, n, off);
}

/* Make room for n more bytes in the run; false when it would pass WALBUF_MAX or memory
 * is short (the caller flushes or writes through). */
static int reserve(struct walbuf_file *w, size_t n)
{
    size_t need = w->len + n;
    if (need > WALBUF_MAX) {
        return 0;
    }
    if (need <= w->cap) {
        return 1;
    }
    size_t cap = w->cap ? w->cap : WALBUF_FIRST;
    while (cap < need) {
        cap *= 2;
    }
    unsigned char *b = realloc(w->buf, cap);
    if (b == NULL) {
        return 0;
    }
    w->buf = b;
    w->cap = cap;
    return 1;
}

static int wb_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    atomic_fetch_add_explicit(&stat_in, 1, memory_order_relaxed);
    if (n <= 0) {
        return w->real->pMethods->xWrite(w->real, p, n, off);
    }
    if (w->len > 0 && off != w->off + (sqlite3_int64)w->len) {
        int rc = flush(w);
        if (rc != SQLITE_OK) {
            return rc;
        }
    }
    if (!reserve(w, (size_t)n)) {
        int rc = flush(w);
        if (rc != SQLITE_OK) {
            return rc;
        }
        if (!reserve(w, (size_t)n)) { /* larger than a run, or no memory: write through */
            atomic_fetch_add_explicit(&stat_out, 1, memory_order_relaxed);
            return w->real->pMethods->xWrite(w->real, p, n, off);
        }
    }
    if (w->len == 0) {
        w->off = off;
    }
    memcpy(w->buf + w->len, p, (size_t)n);
    w->len += (size_t)n;
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    int rc = flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    int rc = flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    int rc = flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

static int wb_lock(sqlite3_file *f, int level)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    return w->real->pMethods->xLock(w->real, level);
}

static int wb_unlock(sqlite3_file *f, int level)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    return w->real->pMethods->xUnlock(w->real, level);
}

static int wb_check_reserved(sqlite3_file *f, int *out)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    return w->real->pMethods->xCheckReservedLock(w->real, out);
}

static int wb_file_control(sqlite3_file *f, int op, void *arg)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    int rc = flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wb_sector_size(sqlite3_file *f)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    return w->real->pMethods->xSectorSize(w->real);
}

static int wb_device_characteristics(sqlite3_file *f)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    return w->real->pMethods->xDeviceCharacteristics(w->real);
}

static int wb_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    return w->real->pMethods->xShmMap(w->real, pg, pgsz, extend, pp);
}

static int wb_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    return w->real->pMethods->xShmLock(w->real, offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *f)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    w->real->pMethods->xShmBarrier(w->real);
}

static int wb_shm_unmap(sqlite3_file *f, int del)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    return w->real->pMethods->xShmUnmap(w->real, del);
}

static int wb_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    int rc = flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFetch(w->real, off, n, pp);
}

static int wb_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    struct walbuf_file *w = (struct walbuf_file *)f;
    return w->real->pMethods->xUnfetch(w->real, off, p);
}

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                   int *out_flags)
{
    (void)vfs;
    if ((flags & SQLITE_OPEN_WAL) == 0) {
        /* not a WAL: the default VFS's file in SQLite's bytes, its own methods */
        return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
    }
    struct walbuf_file *w = (struct walbuf_file *)f;
    memset(w, 0, sizeof(*w));
    w->real = (sqlite3_file *)((char *)f + real_offset());
    int rc = real_vfs->xOpen(real_vfs, name, w->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        /* SQLite calls xClose only when pMethods is set; the real file cleans up itself */
        w->base.pMethods = NULL;
        return rc;
    }
    if (w->real->pMethods->iVersion < 3) {
        w->real->pMethods->xClose(w->real);
        w->base.pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    w->base.pMethods = &walbuf_io;
    return SQLITE_OK;
}

/* The rest of the VFS: the default VFS's, called with itself. */
static int wb_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *wb_dlopen(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void wb_dlerror(sqlite3_vfs *v, int n, char *msg)
{
    (void)v;
    real_vfs->xDlError(real_vfs, n, msg);
}

static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void wb_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    real_vfs->xDlClose(real_vfs, h);
}

static int wb_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real_vfs->xSleep(real_vfs, us);
}

static int wb_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int wb_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}

static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    if (real_vfs->iVersion >= 2 && real_vfs->xCurrentTimeInt64 != NULL) {
        return real_vfs->xCurrentTimeInt64(real_vfs, out);
    }
    double d = 0;
    int rc = real_vfs->xCurrentTime(real_vfs, &d);
    *out = (sqlite3_int64)(d * 86400000.0);
    return rc;
}

static void walbuf_init(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL) {
        walbuf_rc = SQLITE_ERROR;
        return;
    }
    walbuf_io = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = wb_close,
        .xRead = wb_read,
        .xWrite = wb_write,
        .xTruncate = wb_truncate,
        .xSync = wb_sync,
        .xFileSize = wb_file_size,
        .xLock = wb_lock,
        .xUnlock = wb_unlock,
        .xCheckReservedLock = wb_check_reserved,
        .xFileControl = wb_file_control,
        .xSectorSize = wb_sector_size,
        .xDeviceCharacteristics = wb_device_characteristics,
        .xShmMap = wb_shm_map,
        .xShmLock = wb_shm_lock,
        .xShmBarrier = wb_shm_barrier,
        .xShmUnmap = wb_shm_unmap,
        .xFetch = wb_fetch,
        .xUnfetch = wb_unfetch,
    };
    size_t size = real_offset() + (size_t)real_vfs->szOsFile;
    walbuf_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)size,
        .mxPathname = real_vfs->mxPathname,
        .zName = WALBUF_VFS,
        .xOpen = wb_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_full_pathname,
        .xDlOpen = wb_dlopen,
        .xDlError = wb_dlerror,
        .xDlSym = wb_dlsym,
        .xDlClose = wb_dlclose,
        .xRandomness = wb_randomness,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_current_time,
        .xGetLastError = wb_last_error,
        .xCurrentTimeInt64 = wb_current_time64,
    };
    walbuf_rc = sqlite3_vfs_register(&walbuf_vfs, 0);
}

int walbuf_register(void)
{
    pthread_once(&walbuf_once, walbuf_init);
    return walbuf_rc;
}

void walbuf_stats_get(struct walbuf_stats *out)
{
    out->writes_in = atomic_load_explicit(&stat_in, memory_order_relaxed);
    out->writes_out = atomic_load_explicit(&stat_out, memory_order_relaxed);
}
