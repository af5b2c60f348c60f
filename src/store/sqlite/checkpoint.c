/*
 * checkpoint.c - WAL checkpoints of the SQLite adapter off the writer's thread.
 *
 * By default SQLite checkpoints inside the commit that brings the WAL past 1,000 frames: the
 * committing thread reads those frames back, writes them into the database file and
 * fsyncs it. In Bunsen that thread is the writer, and every request waiting on a group
 * commit waited for the checkpoint too: in bench/ingest.sh the writer spent a quarter of
 * its time there (no checkpoint at all: 0.74 of the ceiling against 0.58;
 * docs/PERFORMANCE.md "Eighth pass").
 *
 * Here the writer's connection gets a WAL hook (sqlite3_wal_hook, which also turns off the
 * automatic checkpoint) that, once the WAL holds CKPT_FRAMES frames after a commit, wakes
 * a checkpointer thread (started on first need) with a connection of its own. That thread
 * runs PASSIVE checkpoints: they copy what no reader still needs and never wait for, or
 * block, the writer.
 *
 * SQLite starts the log over only when a write transaction begins with every frame of it
 * copied, which a busy writer never lets a concurrent checkpoint achieve: each pass ends
 * behind by the commits made meanwhile, and the log would grow without end. So the writer
 * finishes the job: when the checkpointer's last pass left at most CKPT_FINISH_FRAMES
 * frames uncopied (and it is not running), the writer's hook checkpoints those itself, a
 * small copy and one fsync of the database file, and its next transaction starts the log
 * over.
 *
 * Durability does not change: a commit is durable when its WAL frames are synced, which
 * the writer still does (synchronous=FULL); a checkpoint only moves committed pages into
 * the database file and syncs it before the log may be reused.
 *
 * A bound: if the checkpointer falls behind (a long reader pins old frames, or the disk
 * is slower than the writer), the log keeps growing; at CKPT_WRITER_FRAMES the writer
 * checkpoints in its own hook, as SQLite would have, so the WAL stays bounded.
 *
 * Unless readers never let go: a checkpoint copies only the frames every open read
 * transaction can do without, and results reads looped back to back (each ~200 ms, one
 * beginning before the last ends) kept one open at every moment, so no pass ever copied the
 * whole log and SQLite never started it over: 2.2 GB in 20 s beside ingestion against the
 * 80 MiB bound (rev-iso28 3). So once the log is past the bound with frames left uncopied
 * (`over`), a new consistent read (store_read_begin, sqlite_ckpt_read_gate) waits, up to
 * CKPT_READ_GATE_MS, for a pass that copies everything: the reads under way end, the
 * checkpointer (asked again every CKPT_READ_GATE_STEP_MS while reads wait) or the writer's
 * own pass copies the rest, and the next commit starts the log over. A wait that ends
 * without it (a read transaction longer than that: `bunsen backup`, another process) lets
 * every read go and disarms the gate until the log has grown by another bound (`rearm`):
 * reads do not each wait out the same holder (eight queued results reads waited 5, 10, 15
 * and 20 s behind a backup with nothing being written; rev-diff28 1).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bunsen/log.h"
#include "bunsen/metrics.h"
#include "bunsen/util.h"
#include "sqlite_int.h"

/* SQLite's own default threshold (SQLITE_DEFAULT_WAL_AUTOCHECKPOINT) */
#define CKPT_FRAMES 1000
/* the writer copies the rest itself when the checkpointer left at most this many */
#define CKPT_FINISH_FRAMES 256
/* the writer checkpoints itself past this many frames (~80 MiB of 4 KiB pages); tests set a
 * smaller bound with BUNSEN_TEST_WAL_BOUND (tests/unit/test_store_sqlite.c) */
#define CKPT_WRITER_FRAMES SQLITE_CKPT_WRITER_FRAMES
/* how long a new read waits at most for the log past its bound to be copied whole */
#define CKPT_READ_GATE_MS      3000
#define CKPT_READ_GATE_STEP_MS 50

struct sqlite_ckpt {
    struct sqlite_store *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, pending, running, stop;
    bool broken; /* the checkpointer could not open its connection: the writer checkpoints */
    int pass_log, pass_copied; /* the log's frames and those copied, after the last pass */
    pthread_t thread;
    atomic_llong background, finished, full, failed; /* checkpoints run */
    atomic_llong log_frames;                         /* the WAL's frames after the last commit */
    int bound;              /* CKPT_WRITER_FRAMES, or the tests' BUNSEN_TEST_WAL_BOUND */
    atomic_bool over;       /* the log past bound with frames left uncopied (the read gate) */
    bool disarmed;          /* over cleared by a wait that timed out, not a copy (under mu) */
    atomic_int rearm;       /* the gate closes again only at this many frames (set under mu) */
    pthread_cond_t gate_cv; /* over cleared (under mu) */
    atomic_llong gated, gate_timeouts; /* reads that waited at the gate; that waited it out */
};

/* The log is past its bound and a pass left frames uncopied (under mu): new reads wait. Or
 * it is not (a pass copied everything, or the log started over): they go. */
static void set_over(struct sqlite_ckpt *k, bool over)
{
    if (over) {
        k->disarmed = false;
    }
    if (atomic_exchange(&k->over, over) && !over) {
        pthread_cond_broadcast(&k->gate_cv);
    }
}

enum ckpt_by { BY_CHECKPOINTER, BY_WRITER_FINISH, BY_WRITER_FULL };

static void ckpt_record(struct sqlite_ckpt *k, int rc, sqlite3 *db, enum ckpt_by by)
{
    if (rc == SQLITE_OK) {
        atomic_fetch_add(by == BY_CHECKPOINTER    ? &k->background
                         : by == BY_WRITER_FINISH ? &k->finished
                                                  : &k->full,
                         1);
        return;
    }
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        return; /* another checkpoint (compaction's, or the other side's) is running */
    }
    atomic_fetch_add(&k->failed, 1);
    json_t *f = json_pack("{s:s, s:s}", "by", by == BY_CHECKPOINTER ? "checkpointer" : "writer",
                          "error", sqlite3_errmsg(db));
    log_json(LOG_WARN, "wal checkpoint failed", f); /* takes f */
}

static void *ckpt_main(void *arg)
{
    struct sqlite_ckpt *k = arg;
    struct err err;
    struct sqlite_conn *c = sqlite_conn_open(k->s->path, SQLITE_CONN_WRITER, &err);
    if (c != NULL) {
        /* it reads frames straight from the log: no page cache worth keeping */
        sqlite_conn_exec(c, "PRAGMA cache_size=-256", &err);
    } else {
        json_t *f = json_pack("{s:s}", "error", err.msg);
        log_json(LOG_WARN, "checkpointer: cannot open the database; the writer checkpoints", f);
        pthread_mutex_lock(&k->mu);
        k->broken = true; /* from now on the hook checkpoints as SQLite would */
        pthread_mutex_unlock(&k->mu);
        return NULL;
    }
    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->pending && !k->stop) {
            pthread_cond_wait(&k->cv, &k->mu);
        }
        if (k->stop) {
            break;
        }
        k->pending = false;
        k->running = true;
        pthread_mutex_unlock(&k->mu);
        int log = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        ckpt_record(k, rc, c->db, BY_CHECKPOINTER);
        pthread_mutex_lock(&k->mu);
        k->running = false;
        k->pass_log = rc == SQLITE_OK ? log : 0;
        k->pass_copied = rc == SQLITE_OK ? copied : 0;
        if (rc == SQLITE_OK && copied >= log) {
            set_over(k, false);
        }
    }
    pthread_mutex_unlock(&k->mu);
    sqlite_conn_close(c);
    return NULL;
}

/* After every commit of the writer's connection, its write lock released. */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct sqlite_ckpt *k = arg;
    atomic_store_explicit(&k->log_frames, frames, memory_order_relaxed);
    if (frames < CKPT_FRAMES) {
        if (atomic_load_explicit(&k->over, memory_order_relaxed) || atomic_load(&k->rearm) != 0) {
            pthread_mutex_lock(&k->mu);
            set_over(k, false); /* the log started over */
            atomic_store(&k->rearm, 0);
            pthread_mutex_unlock(&k->mu);
        }
        return SQLITE_OK;
    }
    pthread_mutex_lock(&k->mu);
    if (!k->started && !k->stop) {
        k->started = thread_start(&k->thread, ckpt_main, k) == 0;
    }
    if (frames < k->pass_log) {
        k->pass_log = k->pass_copied = 0; /* the log started over since that pass */
    }
    bool full = frames >= k->bound || !k->started || k->broken;
    if (frames < k->bound) {
        set_over(k, false);
    }
    bool finish = !full && !k->running && !k->pending && k->pass_copied > 0 &&
                  frames - k->pass_copied <= CKPT_FINISH_FRAMES;
    if (!full && !finish) {
        k->pending = true;
        pthread_cond_signal(&k->cv);
    }
    pthread_mutex_unlock(&k->mu);
    if (full || finish) {
        int log = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        ckpt_record(k, rc, db, full ? BY_WRITER_FULL : BY_WRITER_FINISH);
        if (frames >= k->bound) {
            pthread_mutex_lock(&k->mu);
            set_over(k, !(rc == SQLITE_OK && copied >= log) && frames >= atomic_load(&k->rearm));
            pthread_mutex_unlock(&k->mu);
        }
    }
    return SQLITE_OK;
}

void sqlite_ckpt_read_gate(struct sqlite_store *s)
{
    struct sqlite_ckpt *k = s->ckpt;
    if (k == NULL || !atomic_load_explicit(&k->over, memory_order_relaxed)) {
        return;
    }
    atomic_fetch_add(&k->gated, 1);
    uint64_t deadline = time_mono_ns() + (uint64_t)CKPT_READ_GATE_MS * 1000000u;
    pthread_mutex_lock(&k->mu);
    while (atomic_load(&k->over) && !k->stop && time_mono_ns() < deadline) {
        /* a pass now, not at the next commit: the reads that pinned the log may have ended */
        if (k->started && !k->broken && !k->running) {
            k->pending = true;
            pthread_cond_signal(&k->cv);
        }
        struct timespec ts = time_monotonic_in(CKPT_READ_GATE_STEP_MS);
        pthread_cond_timedwait(&k->gate_cv, &k->mu, &ts);
    }
    if (atomic_load(&k->over) && !k->stop) {
        /* the log's holder outlasted the wait: every read goes, and the gate stays open until
         * the log has grown by another bound */
        atomic_store(&k->rearm, (int)atomic_load(&k->log_frames) + k->bound);
        set_over(k, false);
        k->disarmed = true;
    }
    if (k->disarmed) {
        atomic_fetch_add(&k->gate_timeouts, 1);
    }
    pthread_mutex_unlock(&k->mu);
}

void sqlite_ckpt_attach(struct sqlite_store *s)
{
    struct sqlite_ckpt *k = xcalloc(1, sizeof(*k));
    k->s = s;
    k->bound = CKPT_WRITER_FRAMES;
    const char *test_bound = getenv("BUNSEN_TEST_WAL_BOUND");
    if (test_bound != NULL && atoi(test_bound) >= 2 * CKPT_FRAMES) {
        k->bound = atoi(test_bound);
    }
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    cond_init_monotonic(&k->gate_cv); /* the read gate's timed steps */
    s->ckpt = k;
    sqlite3_wal_hook(s->main->db, ckpt_hook, k);
}

void sqlite_ckpt_detach(struct sqlite_store *s)
{
    struct sqlite_ckpt *k = s->ckpt;
    if (k == NULL) {
        return;
    }
    if (s->main != NULL) {
        sqlite3_wal_hook(s->main->db, NULL, NULL);
    }
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    bool started = k->started;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    if (started) {
        pthread_join(k->thread, NULL);
    }
    pthread_cond_destroy(&k->cv);
    pthread_cond_destroy(&k->gate_cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
    s->ckpt = NULL;
}

void sqlite_ckpt_write_metrics(struct sqlite_store *s, struct buf *b)
{
    struct sqlite_ckpt *k = s->ckpt;
    if (k == NULL) {
        return;
    }
    metrics_write_help(b, "bunsen_sqlite_checkpoints_total", "counter",
                       "WAL checkpoints run by the checkpointer thread, by the writer to copy "
                       "the last frames of a pass, or by the writer in full (the log past "
                       "20,000 frames: the checkpointer cannot keep up).");
    metrics_write_value(b, "bunsen_sqlite_checkpoints_total", "by=\"checkpointer\"",
                        (double)atomic_load(&k->background));
    metrics_write_value(b, "bunsen_sqlite_checkpoints_total", "by=\"writer_finish\"",
                        (double)atomic_load(&k->finished));
    metrics_write_value(b, "bunsen_sqlite_checkpoints_total", "by=\"writer_full\"",
                        (double)atomic_load(&k->full));
    metrics_write_help(b, "bunsen_sqlite_checkpoint_errors_total", "counter",
                       "WAL checkpoints that failed (other than finding another one running).");
    metrics_write_value(b, "bunsen_sqlite_checkpoint_errors_total", "",
                        (double)atomic_load(&k->failed));
    metrics_write_help(b, "bunsen_sqlite_read_gate_waits_total", "counter",
                       "Consistent reads (results, time series, exports) that waited for the "
                       "write-ahead log past its bound to be copied whole, by how the wait ended.");
    long long timeouts = atomic_load(&k->gate_timeouts);
    metrics_write_value(b, "bunsen_sqlite_read_gate_waits_total", "end=\"copied\"",
                        (double)(atomic_load(&k->gated) - timeouts));
    metrics_write_value(b, "bunsen_sqlite_read_gate_waits_total", "end=\"timeout\"",
                        (double)timeouts);
    metrics_write_help(b, "bunsen_sqlite_wal_frames", "gauge",
                       "Frames in the write-ahead log after the writer's last commit.");
    metrics_write_value(b, "bunsen_sqlite_wal_frames", "", (double)atomic_load(&k->log_frames));
}
