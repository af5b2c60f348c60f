/*
 * prom.c - GET /metrics in the Prometheus text exposition format, and the counters the
 * api layer owns (assignments by experiment and reason, ingested rows, timestamps that look
 * like seconds). The HTTP layer and the writer write their own families
 * (http_server_write_metrics, store_write_metrics). A scrape reads atomics and /proc/self,
 * stats the SQLite database and its WAL, and makes one small database query: the running
 * roll-up rebuilds (store_rebuild_list, write_rebuilds; while the database does not answer,
 * the last list).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/metrics.h"
#include "bunsen/util.h"
#include "version.h" /* generated: build/gen/version.h */

#define NREASONS 7

struct prom_experiment {
    char key[65];
    atomic_uint_fast64_t by_reason[NREASONS];
    struct prom_experiment *next; /* the next older one (the scrape's order) */
    uint64_t hash;                /* hash_keyed of key (the index's probe) */
};

struct prom {
    pthread_mutex_t mu;
    struct prom_experiment *experiments; /* newest first; never removed while running */
    /* the same experiments by key (open addressing, linear probing; cap a power of two, at
     * most half full): a reload asks for every experiment's counters, and a scan of the list
     * per experiment made a reload of 2,000 experiments 2,000 x 1,000 string compares */
    struct prom_experiment **index;
    size_t cap, n;
    atomic_uint_fast64_t rows[2]; /* [0] events, [1] exposures accepted */
    atomic_uint_fast64_t duplicates[2];
    atomic_uint_fast64_t conflicts;
    atomic_uint_fast64_t ts_low[2];          /* items with a numeric ts before 2001-09-09 */
    atomic_uint_fast64_t ts_future;          /* exposures with a ts after arrival, clamped */
    atomic_uint_fast64_t async_exposures[2]; /* [0] committed, [1] dropped */
    double start_time; /* process_start_time_seconds, read once by prom_new; < 0: unknown */
    /* The last rebuild list read (write_rebuilds), for a scrape while the database does not
     * answer (store_answering): its count (-1: none read yet) and its progress lines. Under
     * mu. */
    int rebuilds_n;
    struct buf rebuilds_lines;
};

/* Fields 3..24 of /proc/self/stat into v[3..24] (the ones after the ")" that ends the command
 * name: 3 state ... 14 utime 15 stime ... 22 starttime 23 vsize 24 rss, proc(5)); false when
 * it cannot be read. */
static bool read_proc_stat(unsigned long long v[25])
{
    FILE *f = fopen("/proc/self/stat", "r");
    char line[1024];
    bool have_stat = f != NULL && fgets(line, sizeof(line), f) != NULL;
    if (f != NULL) {
        fclose(f);
    }
    const char *rp = have_stat ? strrchr(line, ')') : NULL;
    if (rp == NULL) {
        return false;
    }
    const char *q = rp + 2;
    for (int field = 3; field <= 24 && *q != '\0'; field++) {
        char *end = NULL;
        v[field] = strtoull(q, &end, 10);
        if (end == q) { /* the state letter */
            end = (char *)(uintptr_t)(q + 1);
        }
        q = end;
        while (*q == ' ') {
            q++;
        }
    }
    return true;
}

/* The process's start time in seconds since the epoch, or -1: boot time + starttime ticks.
 * Once, at start: the boot time derived from the clocks (CLOCK_REALTIME - CLOCK_BOOTTIME) moves
 * by a few microseconds between two readings, so a gauge computed per scrape jittered. The
 * boot time comes from the clocks, not /proc/stat, which the systemd unit's ProcSubset=pid
 * hides. */
static double process_start_time(void)
{
    unsigned long long v[25] = {0};
    long ticks = sysconf(_SC_CLK_TCK);
    struct timespec real, boot;
    if (!read_proc_stat(v) || ticks <= 0 || clock_gettime(CLOCK_REALTIME, &real) != 0 ||
        clock_gettime(CLOCK_BOOTTIME, &boot) != 0) {
        return -1;
    }
    double booted = ((double)real.tv_sec - (double)boot.tv_sec) +
                    ((double)real.tv_nsec - (double)boot.tv_nsec) / 1e9;
    return booted + (double)v[22] / (double)ticks;
}

struct prom *prom_new(void)
{
    struct prom *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    p->start_time = process_start_time();
    p->rebuilds_n = -1;
    buf_init(&p->rebuilds_lines, 1u << 20);
    return p;
}

void prom_free(struct prom *p)
{
    if (p == NULL) {
        return;
    }
    for (struct prom_experiment *e = p->experiments; e != NULL;) {
        struct prom_experiment *next = e->next;
        free(e);
        e = next;
    }
    free(p->index);
    buf_free(&p->rebuilds_lines);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Put e into the index (p->mu held; a free slot exists: the index is at most half full). */
static void index_put(struct prom *p, struct prom_experiment *e)
{
    size_t i = (size_t)e->hash & (p->cap - 1);
    while (p->index[i] != NULL) {
        i = (i + 1) & (p->cap - 1);
    }
    p->index[i] = e;
}

void *prom_experiment(struct prom *p, const char *key)
{
    if (p == NULL) {
        return NULL;
    }
    char k[sizeof(((struct prom_experiment *)NULL)->key)];
    snprintf(k, sizeof(k), "%s", key); /* as stored: keys are at most 64 bytes */
    uint64_t h = hash_keyed(k, strlen(k));
    pthread_mutex_lock(&p->mu);
    struct prom_experiment *e = NULL;
    for (size_t i = (size_t)h & (p->cap - 1); p->cap > 0 && p->index[i] != NULL;
         i = (i + 1) & (p->cap - 1)) {
        if (p->index[i]->hash == h && strcmp(p->index[i]->key, k) == 0) {
            e = p->index[i];
            break;
        }
    }
    if (e == NULL) {
        e = xcalloc(1, sizeof(*e));
        memcpy(e->key, k, sizeof(k));
        e->hash = h;
        e->next = p->experiments;
        p->experiments = e;
        if ((p->n + 1) * 2 > p->cap) {
            free(p->index);
            p->cap = p->cap ? p->cap * 2 : 64;
            p->index = xcalloc(p->cap, sizeof(*p->index));
            for (struct prom_experiment *o = e->next; o != NULL; o = o->next) {
                index_put(p, o);
            }
        }
        index_put(p, e);
        p->n++;
    }
    pthread_mutex_unlock(&p->mu);
    return e;
}

void prom_count_assign(void *experiment_counters, enum assign_reason reason)
{
    struct prom_experiment *e = experiment_counters;
    if (e != NULL && (unsigned)reason < NREASONS) {
        atomic_fetch_add_explicit(&e->by_reason[reason], 1, memory_order_relaxed);
    }
}

void prom_count_ingest(struct prom *p, bool exposures, const struct store_ingest_counts *c)
{
    if (p == NULL) {
        return;
    }
    atomic_fetch_add_explicit(&p->rows[exposures], (uint_fast64_t)c->accepted,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&p->duplicates[exposures], (uint_fast64_t)c->duplicates,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&p->conflicts, (uint_fast64_t)c->conflicts, memory_order_relaxed);
}

void prom_count_ingest_ts_low(struct prom *p, bool exposures, size_t n)
{
    if (p != NULL) {
        atomic_fetch_add_explicit(&p->ts_low[exposures], (uint_fast64_t)n, memory_order_relaxed);
    }
}

void prom_count_ingest_ts_future(struct prom *p, size_t n)
{
    if (p != NULL) {
        atomic_fetch_add_explicit(&p->ts_future, (uint_fast64_t)n, memory_order_relaxed);
    }
}

void prom_count_async_exposures(struct prom *p, bool dropped, size_t n)
{
    if (p != NULL) {
        atomic_fetch_add_explicit(&p->async_exposures[dropped], (uint_fast64_t)n,
                                  memory_order_relaxed);
    }
}

/* The standard process_* families (as Prometheus client libraries export them), from
 * /proc/self: CPU seconds, resident and virtual memory, open and maximum descriptors, start
 * time (start_time, as prom_new read it; < 0: left out). A family whose source cannot be read
 * is left out. */
static void write_process_metrics(struct buf *b, double start_time)
{
    unsigned long long v[25] = {0};
    bool have_stat = read_proc_stat(v);
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (have_stat && ticks > 0) {
        metrics_write_help(b, "process_cpu_seconds_total", "counter",
                           "Total user and system CPU time spent in seconds.");
        metrics_write_value(b, "process_cpu_seconds_total", "",
                            (double)(v[14] + v[15]) / (double)ticks);
        metrics_write_help(b, "process_resident_memory_bytes", "gauge",
                           "Resident memory size in bytes.");
        metrics_write_value(b, "process_resident_memory_bytes", "", (double)v[24] * (double)page);
        metrics_write_help(b, "process_virtual_memory_bytes", "gauge",
                           "Virtual memory size in bytes.");
        metrics_write_value(b, "process_virtual_memory_bytes", "", (double)v[23]);
    }
    if (start_time >= 0) {
        metrics_write_help(b, "process_start_time_seconds", "gauge",
                           "Start time of the process since unix epoch in seconds.");
        metrics_write_value(b, "process_start_time_seconds", "", start_time);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        int n = 0;
        for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
            n += e->d_name[0] != '.';
        }
        closedir(d);
        metrics_write_help(b, "process_open_fds", "gauge", "Number of open file descriptors.");
        metrics_write_value(b, "process_open_fds", "", (double)(n - 1)); /* minus opendir's */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        metrics_write_help(b, "process_max_fds", "gauge",
                           "Maximum number of open file descriptors.");
        metrics_write_value(b, "process_max_fds", "", (double)rl.rlim_cur);
    }
}

/* GET /metrics. Who sees what (--metrics-auth): "public" (default) answers anyone, but the
 * per-experiment series (bunsen_assignments_total{experiment=...}, which name experiments and
 * count their traffic) only for a viewer, editor or admin key; "key" answers only such keys.
 * An sdk key is not a reader: it sees what the public sees. */
struct rebuild_lines {
    struct buf *b; /* the progress lines */
    int n;
};

static void rebuild_line(void *ctx, const struct store_rebuild *r)
{
    struct rebuild_lines *l = ctx;
    l->n++;
    char labels[200], key[140];
    metrics_escape(r->experiment, key, sizeof(key));
    snprintf(labels, sizeof(labels), "experiment=\"%s\"", key);
    metrics_write_value(l->b, "bunsen_rollup_rebuild_progress", labels, store_rebuild_progress(r));
}

/* Running roll-up rebuilds (issue 12): their count, and for a reader key one progress gauge
 * per experiment. Read from the database, or, while it does not answer (store_answering),
 * the last read: a scrape waited for it up to --db-timeout. */
static void write_rebuilds(struct prom *p, struct store *s, struct buf *b, bool reader)
{
    struct err err;
    struct buf lines;
    buf_init(&lines, 1u << 20);
    struct rebuild_lines l = {&lines, 0};
    bool read = store_answering(s) && store_rebuild_list(s, rebuild_line, &l, &err) == 0;
    metrics_write_help(b, "bunsen_rollup_rebuild_progress", "gauge",
                       "Progress (0..1) of a roll-up rebuild after a definition change (per "
                       "experiment, for a reader key).");
    pthread_mutex_lock(&p->mu);
    if (read) {
        p->rebuilds_n = l.n;
        buf_free(&p->rebuilds_lines);
        p->rebuilds_lines = lines; /* taken */
        buf_init(&lines, 1u << 20);
    }
    int n = p->rebuilds_n;
    if (reader && p->rebuilds_lines.len > 0) {
        buf_append(b, p->rebuilds_lines.data, p->rebuilds_lines.len);
    }
    pthread_mutex_unlock(&p->mu);
    buf_free(&lines);
    metrics_write_help(b, "bunsen_rollup_rebuilds", "gauge",
                       "Roll-up rebuilds running (results answer from the last complete ones).");
    metrics_write_value(b, "bunsen_rollup_rebuilds", "", n < 0 ? 0 : (double)n);
}

void api_metrics_prom(struct http_req *r)
{
    struct app *app = http_req_app(r);
    struct prom *p = app->prom;
    bool reader = (http_req_role(r) & (unsigned)ROLES_READ) != 0;
    if (!reader && strcmp(app->cfg.metrics_auth, "key") == 0) {
        if (http_req_role(r) == ROLE_NONE) {
            http_reply_error(r, ERR_UNAUTH, NULL,
                             "/metrics needs a key (--metrics-auth key): send 'Authorization: "
                             "Bearer <viewer key>'");
        } else {
            http_reply_error(r, ERR_DENIED, NULL, "/metrics needs a viewer, editor or admin key");
        }
        return;
    }
    struct buf b;
    buf_init(&b, 64u << 20);
    write_process_metrics(&b, p->start_time);
    metrics_write_help(&b, "bunsen_build_info", "gauge",
                       "Version of the running daemon, and the newest schema version "
                       "(migration) it has for its backend.");
    char build[128];
    snprintf(build, sizeof(build), "version=\"%s\",revision=\"%s\",schema=\"%d\"", BUNSEN_VERSION,
             BUNSEN_GIT_REV, store_schema_newest(app->store));
    metrics_write_value(&b, "bunsen_build_info", build, 1);
    metrics_write_help(&b, "bunsen_start_time_seconds", "gauge",
                       "Start time of the daemon since the Unix epoch.");
    metrics_write_value(&b, "bunsen_start_time_seconds", "", (double)app->started_at / 1000.0);
    metrics_write_help(&b, "bunsen_ready", "gauge",
                       "1 when the last /readyz answer was 200 (or none was asked for since the "
                       "start), 0 when it was 503.");
    metrics_write_value(&b, "bunsen_ready", "", api_ready_is_ready(app->ready) ? 1 : 0);
    http_server_write_metrics(app->http, &b);
    metrics_write_help(&b, "bunsen_assignments_total", "counter",
                       "Assignment decisions by experiment and reason (per experiment only for a "
                       "reader key; else one series per reason).");
    pthread_mutex_lock(&p->mu);
    uint64_t by_reason[NREASONS] = {0};
    for (struct prom_experiment *e = p->experiments; !reader && e != NULL; e = e->next) {
        for (int k = 0; k < NREASONS; k++) {
            by_reason[k] += atomic_load_explicit(&e->by_reason[k], memory_order_relaxed);
        }
    }
    for (int k = 0; !reader && k < NREASONS; k++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "reason=\"%s\"",
                 assign_reason_name((enum assign_reason)k));
        metrics_write_value(&b, "bunsen_assignments_total", labels, (double)by_reason[k]);
    }
    for (struct prom_experiment *e = reader ? p->experiments : NULL; e != NULL; e = e->next) {
        for (int k = 0; k < NREASONS; k++) {
            uint64_t n = atomic_load_explicit(&e->by_reason[k], memory_order_relaxed);
            if (n == 0) {
                continue;
            }
            char labels[200], key[140];
            metrics_escape(e->key, key, sizeof(key));
            snprintf(labels, sizeof(labels), "experiment=\"%s\",reason=\"%s\"", key,
                     assign_reason_name((enum assign_reason)k));
            metrics_write_value(&b, "bunsen_assignments_total", labels, (double)n);
        }
    }
    pthread_mutex_unlock(&p->mu);
    /* The exposition format wants each family's lines as one group: one loop per family. */
    static const char *const kinds[] = {"event", "exposure"};
    metrics_write_help(&b, "bunsen_ingested_rows_total", "counter",
                       "Events and exposures stored (exposures: first exposures).");
    for (int k = 0; k < 2; k++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "kind=\"%s\"", kinds[k]);
        metrics_write_value(&b, "bunsen_ingested_rows_total", labels,
                            (double)atomic_load(&p->rows[k]));
    }
    metrics_write_help(&b, "bunsen_ingest_duplicates_total", "counter",
                       "Events skipped by idempotency key; repeated exposures.");
    for (int k = 0; k < 2; k++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "kind=\"%s\"", kinds[k]);
        metrics_write_value(&b, "bunsen_ingest_duplicates_total", labels,
                            (double)atomic_load(&p->duplicates[k]));
    }
    metrics_write_help(&b, "bunsen_ingest_ts_before_2001_total", "counter",
                       "Items of ingestion requests answered 200 whose numeric ts was before "
                       "2001-09-09 (below 1e12 ms: most likely seconds; stored as sent unless "
                       "ignored or a duplicate, and the reply warns).");
    for (int k = 0; k < 2; k++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "kind=\"%s\"", kinds[k]);
        metrics_write_value(&b, "bunsen_ingest_ts_before_2001_total", labels,
                            (double)atomic_load(&p->ts_low[k]));
    }
    metrics_write_help(&b, "bunsen_ingest_ts_future_clamped_total", "counter",
                       "Exposures of ingestion requests answered 200 whose ts was later than "
                       "the request's arrival (a client clock running ahead): stored as the "
                       "arrival, and the reply warns. Events keep their ts.");
    metrics_write_value(&b, "bunsen_ingest_ts_future_clamped_total", "kind=\"exposure\"",
                        (double)atomic_load(&p->ts_future));
    metrics_write_help(&b, "bunsen_exposure_conflicts_total", "counter",
                       "Exposures naming another variant than the user's first.");
    metrics_write_value(&b, "bunsen_exposure_conflicts_total", "",
                        (double)atomic_load(&p->conflicts));
    metrics_write_help(&b, "bunsen_sdk_streams", "gauge",
                       "Open GET /sub/{sdk_key} event streams (at most half of "
                       "--max-connections).");
    metrics_write_value(&b, "bunsen_sdk_streams", "", (double)http_server_stream_count(app->http));
    metrics_write_help(&b, "bunsen_sdk_streams_slow_ended_total", "counter",
                       "/sub streams ended because their client was still reading a payload "
                       "two minutes after a newer one replaced it.");
    metrics_write_value(&b, "bunsen_sdk_streams_slow_ended_total", "",
                        (double)api_sdk_streams_slow_ends());
    metrics_write_help(&b, "bunsen_sdk_streams_full_total", "counter",
                       "GET /sub requests answered with the current payload and a 30 s retry "
                       "because every stream slot (half of --max-connections) was taken.");
    metrics_write_value(&b, "bunsen_sdk_streams_full_total", "",
                        (double)api_sdk_streams_full_polls());
    metrics_write_help(&b, "bunsen_sdk_payload_renders_total", "counter",
                       "SDK payloads rendered (once per definitions snapshot and encryption key, "
                       "shared by GET /api/features and the /sub streams).");
    metrics_write_value(&b, "bunsen_sdk_payload_renders_total", "",
                        (double)api_payload_renders(app->payloads));
    metrics_write_help(&b, "bunsen_saved_group_loads_total", "counter",
                       "Saved groups read and parsed by catalogue reloads (those whose version "
                       "moved; unchanged groups are kept from the previous snapshot).");
    metrics_write_value(&b, "bunsen_saved_group_loads_total", "", (double)api_saved_group_loads());
    metrics_write_help(&b, "bunsen_ofrep_exposures_total", "counter",
                       "Exposures of OFREP answers (logged without holding the answer): "
                       "committed, or dropped when the writer refused or failed them.");
    metrics_write_value(&b, "bunsen_ofrep_exposures_total", "result=\"committed\"",
                        (double)atomic_load(&p->async_exposures[0]));
    metrics_write_value(&b, "bunsen_ofrep_exposures_total", "result=\"dropped\"",
                        (double)atomic_load(&p->async_exposures[1]));
    write_rebuilds(p, app->store, &b, reader);
    store_write_metrics(app->store, &b);
    http_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "",
                     b.len);
    buf_free(&b);
}
