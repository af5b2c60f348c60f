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
/* Log a printf-formatted message with no extra fields. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
