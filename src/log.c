/*
 * log.c - JSON-lines logger on stderr or a file reopened on SIGHUP (log.h). The level is a
 * process-wide setting written once at start-up; each line goes out in a single write(2) so lines
 * from different threads never interleave. A short write (a full disk, a file size limit)
 * leaves a line without its end: the next line starts with a newline, in the same write, so
 * that it is not glued to the half line. Limits on a kind of line (log_limit_take) keep a
 * client from flooding the log through lines it causes (libmicrohttpd's warnings, 429s);
 * streaks (log_streak_fail) a failure retried every second from writing a line each time.
 */
#include "bunsen/log.h"

#include "bunsen/jsonw.h"
#include "bunsen/util.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/uio.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static int log_fd = STDERR_FILENO;
static char log_path[PATH_MAX]; /* "" = stderr */
static const char *names[] = {"debug", "info", "warn", "error"};
static atomic_bool cut_line; /* the last write ended inside a line */

/* One line (n bytes, its newline included) in one writev(2), after a newline when the last
 * write was cut short. */
static void write_line(char *line, size_t n)
{
    static char newline[] = "\n";
    bool cut = atomic_exchange(&cut_line, false);
    size_t prefix = cut ? 1 : 0;
    struct iovec iov[2] = {{.iov_base = newline, .iov_len = 1}, {.iov_base = line, .iov_len = n}};
    ssize_t w = writev(log_fd, iov + 1 - prefix, (int)(1 + prefix));
    size_t written = w < 0 ? 0 : (size_t)w;
    /* nothing written: still cut as it was; the line begun but not ended: cut now */
    if (written < prefix || (written > prefix && written < n + prefix)) {
        atomic_store(&cut_line, true);
    }
}

void log_set_level(enum log_level level)
{
    min_level = level;
}

int log_parse_level(const char *name, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

bool log_enabled(enum log_level level)
{
    return level >= min_level;
}

/* "2026-11-28T22:00:00.123Z" for now. The date and time up to the second are formatted
 * once per second and thread (gmtime and snprintf were most of an access-log line). */
static void format_now(char when[72])
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[64];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_sec = ts.tv_sec;
    }
    long ms = (long)(ts.tv_nsec / 1000000) % 1000;
    size_t n = strlen(cached);
    memcpy(when, cached, n);
    when[n] = '.';
    when[n + 1] = (char)('0' + ms / 100);
    when[n + 2] = (char)('0' + ms / 10 % 10);
    when[n + 3] = (char)('0' + ms % 10);
    when[n + 4] = 'Z';
    when[n + 5] = '\0';
}

void log_members(enum log_level level, const char *msg, const char *members, size_t len)
{
    if (!log_enabled(level)) {
        return;
    }
    char when[72];
    format_now(when);
    struct buf b;
    buf_init(&b, (size_t)1 << 30);
    jsonw_append_raw(&b, "{\"ts\":\"");
    jsonw_append_raw(&b, when);
    jsonw_append_raw(&b, "\",\"level\":\"");
    jsonw_append_raw(&b, names[level]);
    jsonw_append_raw(&b, "\",\"msg\":");
    jsonw_append_string(&b, msg, strlen(msg));
    if (len > 0) {
        buf_append(&b, ",", 1);
        buf_append(&b, members, len);
    }
    buf_append(&b, "}\n", 2);
    write_line(b.data, b.len);
    buf_free(&b);
}

void log_json(enum log_level level, const char *msg, json_t *fields)
{
    if (!log_enabled(level)) {
        json_decref(fields);
        return;
    }
    char when[72];
    format_now(when);
    json_t *line = json_object();
    if (line == NULL) {
        json_decref(fields);
        return;
    }
    json_object_set_new(line, "ts", json_string(when));
    json_object_set_new(line, "level", json_string(names[level]));
    json_object_set_new(line, "msg", json_string(msg));
    if (fields != NULL) {
        json_object_update(line, fields);
        json_decref(fields);
    }
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
                                      JSON_REAL_PRECISION(6));
    json_decref(line);
    if (text == NULL) {
        return;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps leaves room: we overwrite the NUL and write n + 1 bytes */
    write_line(text, n + 1);
    free(text);
}

int log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    snprintf(log_path, sizeof(log_path), "%s", path);
    log_fd = fd;
    return 0;
}

int log_reopen(void)
{
    if (log_path[0] == '\0') {
        return 0;
    }
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    /* dup2 swaps the file behind the same descriptor number atomically: a concurrent
     * write(2) goes to the old file or the new one */
    int rc = dup2(fd, log_fd) < 0 ? -1 : 0;
    close(fd);
    return rc;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level)) {
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_json(level, msg, NULL);
}

/* The limits that refused a line, for log_limits_flush: appended once each, never removed
 * (statics). Past the cap a limit's count still goes with its next line. */
#define LOG_LIMITS_LISTED 128
static struct log_limit *_Atomic listed[LOG_LIMITS_LISTED];
static atomic_int nlisted;

bool log_limit_take(struct log_limit *l, const char *kind, enum log_level level, int64_t now_ms,
                    int burst, int64_t window_ms, long *not_logged)
{
    int64_t start = atomic_load(&l->window_ms);
    if ((start == 0 || now_ms - start >= window_ms) &&
        atomic_compare_exchange_strong(&l->window_ms, &start, now_ms)) {
        atomic_store(&l->in_window, 0);
    }
    if (atomic_fetch_add(&l->in_window, 1) >= burst) {
        if (!atomic_load(&l->listed)) {
            atomic_store(&l->kind, kind);
            atomic_store(&l->level, (int)level);
            atomic_store(&l->window_len, window_ms);
            if (!atomic_exchange(&l->listed, true)) {
                int i = atomic_fetch_add(&nlisted, 1);
                if (i < LOG_LIMITS_LISTED) {
                    atomic_store(&listed[i], l);
                }
            }
        }
        atomic_fetch_add(&l->dropped, 1);
        return false;
    }
    *not_logged = atomic_exchange(&l->dropped, 0);
    return true;
}

void log_limits_flush(int64_t now_ms)
{
    int n = atomic_load(&nlisted);
    for (int i = 0; i < n && i < LOG_LIMITS_LISTED; i++) {
        struct log_limit *l = atomic_load(&listed[i]);
        /* listed before stored: a limit being added right now waits for the next call */
        if (l == NULL || atomic_load(&l->dropped) == 0 ||
            now_ms - atomic_load(&l->window_ms) < atomic_load(&l->window_len)) {
            continue;
        }
        long gone = atomic_exchange(&l->dropped, 0);
        if (gone > 0) {
            log_json((enum log_level)atomic_load(&l->level), "log lines not written",
                     json_pack("{s:s, s:I}", "kind", atomic_load(&l->kind), "not_logged",
                               (json_int_t)gone));
        }
    }
}

struct log_limit *log_limit_for(const void *kind)
{
    static struct log_limit kinds[LOG_LIMIT_KINDS];
    uint64_t h = (uint64_t)(uintptr_t)kind * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing */
    return &kinds[h >> 58];                                         /* the top 6 bits: 0..63 */
}

void log_streak_fail(struct log_streak *st, const char *msg, json_t *fields)
{
    int64_t now = (int64_t)(time_mono_ns() / 1000000);
    long n = atomic_fetch_add(&st->failures, 1) + 1;
    if (n == 1) {
        atomic_store(&st->first_ms, now);
    }
    /* the first failure, or one 10 s after the last line: one thread wins the window */
    int64_t last = atomic_load(&st->logged_ms);
    if ((last != 0 && now - last < 10000) ||
        !atomic_compare_exchange_strong(&st->logged_ms, &last, now > 0 ? now : 1)) {
        json_decref(fields);
        return;
    }
    if (fields == NULL) {
        fields = json_object();
    }
    if (fields != NULL && n > 1) {
        json_object_set_new(fields, "failures", json_integer(n));
    }
    log_json(LOG_ERROR, msg, fields);
}

void log_streak_ok(struct log_streak *st, const char *recovered_msg)
{
    long n = atomic_exchange(&st->failures, 0);
    if (n == 0) {
        return;
    }
    /* the next outage's first failure is written at once */
    atomic_store(&st->logged_ms, 0);
    int64_t now = (int64_t)(time_mono_ns() / 1000000);
    log_json(LOG_WARN, recovered_msg,
             json_pack("{s:I, s:I}", "failures", (json_int_t)n, "after_ms",
                       (json_int_t)(now - atomic_load(&st->first_ms))));
}
