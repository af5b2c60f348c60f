/*
 * log.h - structured logging: one JSON object per line on stderr (or --log-file).
 *
 * {"ts":"2026-11-28T22:00:00.123Z","level":"info","msg":"...", ...fields}
 * Levels: debug < info < warn < error. Thread-safe (one write(2) per line).
 * Never pass a secret (API key) to these functions.
 */
#ifndef BUNSEN_LOG_H
#define BUNSEN_LOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Set the minimum level that is written. Call before threads start. */
void log_set_level(enum log_level level);
/* Parse "debug|info|warn|error"; returns 0, or -1 for an unknown name. */
int log_parse_level(const char *name, enum log_level *out);
bool log_enabled(enum log_level level);

/* Write lines to the file at path (appending, created 0600) instead of stderr. Call before
 * threads start. Returns 0, or -1 with errno. */
int log_open_file(const char *path);
/* Reopen the log file (after logrotate moved it; SIGHUP): lines written meanwhile go to the
 * old file or the new one, never nowhere. No-op when logging to stderr. Returns 0 or -1. */
int log_reopen(void);

/* Log a message; `fields` (may be NULL, stolen) is merged into the line. */
void log_json(enum log_level level, const char *msg, json_t *fields);
/* Log a message with fields already rendered as JSON object members (`"a":1,"b":"x"`, len
 * bytes, may be 0), as log_json would print them: for lines written per request (the
 * access log), without a jansson tree. msg and members must be ASCII (log_json escapes
 * everything else). */
void log_members(enum log_level level, const char *msg, const char *members, size_t len);
/* A limit on one kind of line, so that a client cannot make the log grow as fast as it
 * sends requests: at most `burst` lines of the kind per window, the rest counted and the
 * count handed to the next line written (as "not_logged_before"), or, when no line of the
 * kind comes after the flood, written by log_limits_flush once the window is over. Zero-
 * initialise it (a static); thread-safe (atomics), shared by every thread that writes the
 * kind. */
struct log_limit {
    _Atomic int64_t window_ms; /* the window's start (0: none yet) */
    _Atomic int in_window;     /* lines asked for in it */
    _Atomic long dropped;      /* lines refused since the last one written */
    _Atomic int64_t window_len;
    const char *_Atomic kind; /* what log_limits_flush names the lines by */
    _Atomic int level;        /* and the level it writes their count at */
    _Atomic bool listed;      /* known to log_limits_flush */
};
/* true when a line of the kind may be written at now_ms (a monotonic clock's ms), with
 * *not_logged set to the lines refused since the last one written (0 when none); false
 * counts this line as refused. kind (a string that lives as long as the process, no secret)
 * and level are what log_limits_flush writes for the lines refused. */
bool log_limit_take(struct log_limit *l, const char *kind, enum log_level level, int64_t now_ms,
                    int burst, int64_t window_ms, long *not_logged);
/* For each limit whose window has ended by now_ms with lines refused and not yet counted by
 * a line written since: one line "log lines not written" with the kind and the count
 * (not_logged). The daemon calls it once a second and, with INT64_MAX, at exit. */
void log_limits_flush(int64_t now_ms);
/* The limit of a kind named by a pointer that stays the same for the kind (a format
 * string): one of a fixed table of LOG_LIMIT_KINDS slots by the pointer's hash, so kinds
 * that collide share one. Never NULL; lives as long as the process. */
#define LOG_LIMIT_KINDS 64
struct log_limit *log_limit_for(const void *kind);

/* A failure that repeats on a timer while it lasts (the once-a-second catalogue reload, the
 * rebuilder's list, during a database outage: two error lines a second per daemon): its
 * first line, then at most one per 10 s (with "failures", the count so far), and one line
 * when it ends. Its own window, not a log_limit: log_limits_flush would write a "log lines
 * not written" line for the failures between (review diff35 F4), which "failures" counts
 * already. Zero-initialise it (a static); thread-safe. */
struct log_streak {
    _Atomic int64_t logged_ms; /* the last line written (monotonic ms), 0 before one */
    _Atomic long failures;     /* in a row, 0 when the last attempt succeeded */
    _Atomic int64_t first_ms;  /* the first failure's time (monotonic ms) */
};
/* One more failure: log msg (a string that lives as long as the process) at error with
 * fields (taken, may be NULL) unless the limit refuses it (then counted). */
void log_streak_fail(struct log_streak *st, const char *msg, json_t *fields);
/* A success: after failures, one line recovered_msg with "failures" and "after_ms", at warn
 * (a log kept at --log-level warn shows the end of what it showed); nothing otherwise. */
void log_streak_ok(struct log_streak *st, const char *recovered_msg);

/* Log a printf-formatted message with no extra fields. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
