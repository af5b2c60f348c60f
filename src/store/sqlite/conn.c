/*
 * conn.c - one SQLite connection of the adapter: opening it with the pragmas every
 * connection gets (WAL through walbuf.c, synchronous=FULL, foreign keys, the busy handler
 * that retries every 2 ms for SQLITE_BUSY_MS), read-only and immutable opens, the
 * per-connection prepared-statement cache, the bind/column helpers and page-cache sampling.
 * db.c owns the store built on these connections (readers, the writer's transactions).
 */
#include "sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "bunsen/log.h"
#include "bunsen/util.h"
#include "bunsen/walbuf.h"

int sqlite_bind_str(sqlite3_stmt *st, int idx, const char *s)
{
    if (s == NULL) {
        return sqlite3_bind_null(st, idx);
    }
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

int sqlite_bind_borrowed(sqlite3_stmt *st, int idx, const char *s)
{
    if (s == NULL) {
        return sqlite3_bind_null(st, idx);
    }
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

void sqlite_column_copy(sqlite3_stmt *st, int col, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

int sqlite_conn_exec(struct sqlite_conn *c, const char *sql, struct err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        sqlite3_free(msg);
        return store_sqlite_err(c->db, rc, "exec", err);
    }
    return 0;
}

int sqlite_conn_step_done(struct sqlite_conn *c, sqlite3_stmt *st, const char *what,
                          struct err *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, what, err);
}

/*
 * The busy handler's clock (monotonic ns). Test clock (tests only; no cost unset): when the
 * environment names a file in BUNSEN_TEST_BUSY_CLOCK at a connection's open, its busy waits
 * read the time from that file instead (a decimal count of milliseconds; 0 when absent or
 * unreadable), and each wait's start appends a byte to "<file>.waits". A test holding the write
 * lock then moves time past the busy timeout when it chooses (tests/api/test_busy_db.c): which
 * waits end is decided by the deadlines, not by the machine's pace.
 */
static uint64_t busy_now(const struct sqlite_conn *c, bool starts)
{
    if (c->busy_clock == NULL) {
        return time_mono_ns();
    }
    if (starts) {
        char waits[PATH_MAX];
        snprintf(waits, sizeof(waits), "%s.waits", c->busy_clock);
        int fd = open(waits, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            (void)!write(fd, "w", 1);
            close(fd);
        }
    }
    unsigned long long ms = 0;
    FILE *f = fopen(c->busy_clock, "r");
    if (f != NULL) {
        if (fscanf(f, "%llu", &ms) != 1) {
            ms = 0;
        }
        fclose(f);
    }
    return (uint64_t)ms * 1000000u;
}

/* The busy handler of every connection (sqlite_int.h SQLITE_BUSY_MS): n is the number of
 * times it was called before for the same wait. SQLite calls it only after a try failed:
 * a wait whose deadline has already passed still tries once. */
static int busy_wait(void *arg, int n)
{
    struct sqlite_conn *c = arg;
    uint64_t now = busy_now(c, n == 0);
    if (n == 0) {
        c->busy_since_ns = now;
    }
    if (c->closing != NULL && atomic_load(c->closing)) {
        return 0; /* stopping: sqlite_shutdown_begin */
    }
    uint64_t deadline = c->busy_since_ns + (uint64_t)c->busy_ms * 1000000u;
    if (c->wait_deadline_ns != 0 && c->wait_deadline_ns < deadline) {
        deadline = c->wait_deadline_ns;
    }
    if (now >= deadline) {
        return 0; /* SQLITE_BUSY */
    }
    /* the first tries sooner: most waits are for one short transaction */
    struct timespec ts = {0, n < 8 ? 250000L : SQLITE_BUSY_POLL_MS * 1000000L};
    nanosleep(&ts, NULL);
    return 1;
}

/* A read-only store's file in WAL mode, in a directory this process cannot write (a read-only
 * mount, another user's files) and with no -shm: SQLite cannot build the WAL index and every
 * read failed "attempt to write a readonly database". With no log to read (no -wal, or an
 * empty one) the file alone is the whole database: reopened as immutable=1 (a URI). Returns
 * the open result; *db is replaced only when the reopen is tried. */
/* The first statement of a read-write connection failed ("exec: database unavailable (unable
 * to open database file)", or "attempt to write a readonly database"): when this process may
 * not write the database, its directory (the -wal and -shm files go there) or the file system,
 * say that, naming the file (review ops31 F10). err is left as it is otherwise. */
static void explain_unwritable(const char *path, struct err *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else {
        slash[slash == dir ? 1 : 0] = '\0';
    }
    struct statvfs vfs;
    if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0) {
        err_set(err, ERR_UNAVAILABLE, NULL,
                "database %s is on a read-only file system (under systemd: ReadWritePaths=)", path);
    } else if ((access(path, W_OK) != 0 && errno != ENOENT) || access(dir, W_OK) != 0) {
        err_set(err, ERR_UNAVAILABLE, NULL,
                "database %s is read-only for this process (check the owner and mode of the file "
                "and its directory)",
                path);
    }
}

static int ro_open_immutable(const char *path, sqlite3 **db)
{
    if (sqlite3_exec(*db, "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL) == SQLITE_OK) {
        return SQLITE_OK;
    }
    char wal[PATH_MAX + 8];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    struct stat sb;
    if (stat(wal, &sb) == 0 && sb.st_size > 0) {
        return SQLITE_OK; /* the log holds commits: reading without it would miss them */
    }
    struct buf uri;
    buf_init(&uri, 3 * PATH_MAX + 32);
    buf_append(&uri, "file:", 5);
    for (const char *p = path; *p != '\0'; p++) {
        if (*p == '%' || *p == '?' || *p == '#') {
            buf_printf(&uri, "%%%02X", (unsigned char)*p);
        } else {
            buf_append(&uri, p, 1);
        }
    }
    buf_append(&uri, "?immutable=1", 12);
    sqlite3_close_v2(*db);
    *db = NULL;
    int rc = sqlite3_open_v2(
        uri.data, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, WALBUF_VFS);
    buf_free(&uri);
    return rc;
}

struct sqlite_conn *sqlite_conn_open(const char *path, enum sqlite_conn_kind kind, struct err *err)
{
    bool readonly = kind != SQLITE_CONN_WRITER;
    struct sqlite_conn *c = xcalloc(1, sizeof(*c));
    /* Only the writer's connection creates the file: a reader opened after the database was
     * deleted under the daemon once left a new empty bunsen.db there (every query "no such
     * table"; the next start took it for a new database and minted a new admin key). */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (readonly ? 0 : SQLITE_OPEN_CREATE);
    if (kind == SQLITE_CONN_FILE_RO) {
        flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
    }
    /* through the WAL-write shim (walbuf.c), which the synchronous=FULL below makes sound */
    int rc = walbuf_register();
    if (rc != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, NULL, "cannot register the SQLite VFS: %s", sqlite3_errstr(rc));
        free(c);
        return NULL;
    }
    rc = sqlite3_open_v2(path, &c->db, flags, WALBUF_VFS);
    if (rc == SQLITE_OK && kind == SQLITE_CONN_FILE_RO) {
        rc = ro_open_immutable(path, &c->db);
    }
    if (rc != SQLITE_OK) {
        err_set(err, ERR_UNAVAILABLE, NULL, "cannot open database %s: %s", path,
                c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto out_close;
    }
    sqlite3_extended_result_codes(c->db, 1);
    c->busy_ms = SQLITE_BUSY_MS;
    const char *clock = getenv("BUNSEN_TEST_BUSY_CLOCK");
    c->busy_clock = clock != NULL && clock[0] != '\0' ? clock : NULL;
    sqlite3_busy_handler(c->db, busy_wait, c);
    /* a read-only store leaves the journal mode alone: setting WAL needs write access, and
     * converted a backup file (rollback mode) that `bunsen results --database` only read */
    int first = sqlite_conn_exec(c,
                                 kind == SQLITE_CONN_FILE_RO
                                     ? "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                                     : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA "
                                       "foreign_keys=ON; PRAGMA cache_size=-65536; PRAGMA "
                                       "temp_store=MEMORY;",
                                 err);
    if (first != 0) {
        if (kind != SQLITE_CONN_FILE_RO) {
            explain_unwritable(path, err);
        }
        goto out_close;
    }
    /* a connection that starts the log over cuts the file back to the log's bound under load
     * (sqlite_int.h): a WAL grown past it (compaction under load: 292 MB) stayed that large */
    if (!readonly) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%lld", SQLITE_WAL_LIMIT_BYTES);
        if (sqlite_conn_exec(c, sql, err) != 0) {
            goto out_close;
        }
    }
    /* Readers (one per HTTP thread) keep a smaller cache than the writer: the page cache is
     * most of the daemon's memory, bounded by the sum of these. */
    if (readonly &&
        sqlite_conn_exec(c, "PRAGMA query_only=1; PRAGMA cache_size=-16384;", err) != 0) {
        goto out_close;
    }
    return c;
out_close:
    sqlite_conn_close(c);
    return NULL;
}

void sqlite_conn_close(struct sqlite_conn *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < STMT_CACHE_SLOTS; i++) {
        sqlite3_finalize(c->cache[i].stmt);
    }
    sqlite3_close_v2(c->db);
    free(c);
}

sqlite3_stmt *sqlite_conn_prepare(struct sqlite_conn *c, const char *sql, struct err *err)
{
    /* hashed by address: a scan of the slots in first-use order cost ~100 instructions per
     * statement on the writer's hot path */
    uint64_t h = (uint64_t)(uintptr_t)sql * 0x9E3779B97F4A7C15ull;
    int free_slot = -1;
    for (int k = 0; k < STMT_CACHE_SLOTS; k++) {
        int i = (int)((h >> 32) + (uint64_t)k) & (STMT_CACHE_SLOTS - 1);
        if (c->cache[i].sql == sql) {
            sqlite3_stmt *st = c->cache[i].stmt;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
        if (c->cache[i].sql == NULL) {
            free_slot = i;
            break;
        }
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        store_sqlite_err(c->db, rc, "prepare", err);
        return NULL;
    }
    /* more distinct statements than slots is a programming error: raise STMT_CACHE_SLOTS */
    assert(free_slot >= 0);
    c->cache[free_slot].sql = sql;
    c->cache[free_slot].stmt = st;
    return st;
}

void sqlite_conn_sample(struct sqlite_conn *c)
{
    int cur = 0, hi = 0;
    if (sqlite3_db_status(c->db, SQLITE_DBSTATUS_CACHE_USED, &cur, &hi, 0) == SQLITE_OK) {
        atomic_store_explicit(&c->cache_bytes, cur, memory_order_relaxed);
    }
}
