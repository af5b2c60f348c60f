/*
 * util.h - small process-wide helpers: allocation that aborts on OOM, a growable
 * byte buffer with a hard cap, clocks, and string checks shared by every layer.
 * All functions are thread-safe; the one shared state is hash_keyed's process secret,
 * drawn once on first use.
 */
#ifndef BUNSEN_UTIL_H
#define BUNSEN_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Allocate or abort the process with a message (the one process-ending call below
 * main.c, as Redis's zmalloc). Never return NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* A growable buffer that refuses to grow beyond `cap` bytes. data is always
 * NUL-terminated (the terminator is not counted in len and not in cap). */
struct buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap;
};
void buf_init(struct buf *b, size_t cap);
/* Append n bytes. Returns 0, or -1 (buffer unchanged) when len + n would exceed cap. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

/* snprintf(dst, size, "%s", src) without the format machinery (~600 instructions a call,
 * several per request on the hot paths): copies at most size - 1 bytes of src and always
 * NUL-terminates dst. size must be > 0. */
void str_copy(char *dst, size_t size, const char *src);

/* A 64-bit hash of p[0..n) keyed with a secret of the process (SipHash-2-4, libsodium's
 * crypto_shorthash; the secret drawn on first use): for hash tables whose keys come from
 * outside (user ids, client addresses), so that chosen keys cannot crowd one bucket. */
uint64_t hash_keyed(const void *p, size_t n);

/* Wall clock in milliseconds since the Unix epoch, and a monotonic clock in ns. */
int64_t time_now_ms(void);
/* The monotonic time ms milliseconds from now, as pthread_cond_timedwait takes it for a
 * condition variable made by cond_init_monotonic (every timed wait: one measured on the wall
 * clock lasted as much longer as the clock was stepped back meanwhile). */
struct timespec time_monotonic_in(long ms);
/* pthread_cond_init with a condition variable whose timed waits are measured on
 * CLOCK_MONOTONIC (deadlines from time_monotonic_in or time_mono_ns). */
void cond_init_monotonic(pthread_cond_t *cv);

/* pthread_create with every signal blocked in the new thread (the caller's mask is kept):
 * signals belong to the main loop's sigtimedwait, and a thread started while they were
 * unblocked took a SIGHUP (logrotate's reload) whose default action killed the daemon.
 * 0, or pthread_create's error. */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* The monotonic clock (CLOCK_MONOTONIC) in ns and in ms: for intervals, which a step of the
 * wall clock must not lengthen or shorten. */
uint64_t time_mono_ns(void);
int64_t time_mono_ms(void);

/* Parse an RFC 3339 timestamp ("2025-11-28T12:00:00Z", fractions and +hh:mm offsets) into
 * ms since the epoch (UTC). Returns 0 or -1. A leap second (:60) counts as :59. */
int time_parse_rfc3339(const char *s, int64_t *ms);

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool utf8_valid(const char *s, size_t n);

/* Replace, in place, every byte of the NUL-terminated s that is not part of a valid UTF-8
 * character with '?' (error messages quote input and may cut a character in two). */
void utf8_repair(char *s);

/* True when s matches ^[a-z0-9][a-z0-9_.-]{0,63}$ (experiment, metric, variant keys). */
bool key_valid(const char *s);

/* Read s[0..len) as a plain decimal number (-?digits[.digits][e[+-]digits], also ".5" and
 * "5."): 0 with *out, or -1 for anything else strtod would take (hexadecimal "0x1p-4",
 * "inf", "nan", white space, a sign "+") and for a number beyond the largest double. For
 * numbers in query parameters and headers. */
int real_parse_decimal(const char *s, size_t len, double *out);

/* True when s is 1..max bytes of valid UTF-8 with no control characters (C0, DEL, C1):
 * the rule for user ids (max 256) and event names (max 128). */
bool text_id_valid(const char *s, size_t len, size_t max);

/* The path that names file's directory entry after every symbolic link: realpath(3) when
 * file exists; else the real path of its directory and its name, and for a symbolic link to
 * a file not created yet its target's (one level; relative to the link's directory). Two
 * paths of one file, existing or to be created, give the same text. Writes out (n bytes,
 * PATH_MAX or more) and returns true; when the directory cannot be resolved either, writes
 * file (or the link's target) unresolved and returns false. */
bool path_real(const char *file, char *out, size_t n);

/* One password of a database URL or libpq conninfo, as byte offsets into its text. */
struct url_password {
    size_t key; /* where its setting starts: the "password" (or "sslpassword", the client
                 * key's passphrase) key of a query or a key=value conninfo (any case, a URL's
                 * percent-encoded), or off for a URL's user info */
    size_t off; /* its first byte (of a quoted one, the opening quote) */
    size_t len; /* its bytes (of a quoted one, the quotes included); may be 0 */
};

/* Where the database URL or libpq conninfo s holds a password, generously (a region may
 * hold more than libpq reads as the password, never less, so that no part of it is printed
 * or left in libpq's message about s): in a URL ("scheme://", after blanks), its user info
 * from the first ':' to the LAST '@' of s (libpq ends it at the first '@' or '/': "u:p@ss@h",
 * "u:p/ss@h", "u:p?ss@h"), and each query parameter "password=" (after any '?' or '&') up
 * to the next '&' that starts a parameter holding '='; in a key=value conninfo each
 * "password = VALUE" at the start or after a blank, a quoted VALUE (backslash escapes)
 * through its closing quote, else the words up to the next one holding or followed by '='
 * ("password=hunter two port=1": "hunter two"). Percent-encoded passwords are left encoded.
 * Writes the first max (0 with out NULL) into out, in the order found (a URL's user info
 * first), and returns how many there are (more than max: call again with room). Thread-safe,
 * no allocation. */
size_t url_find_passwords(const char *s, struct url_password *out, size_t max);

/* A database URL or libpq conninfo fit to print (stderr lands in cron mail and CI logs): each
 * password url_find_passwords finds replaced, a URL's user info one by "***"
 * ("postgresql://u:PW@h/db" -> "postgresql://u:***@h/db"), a password=VALUE (conninfo, also
 * quoted, or a URL's query) with its key by "password=***" (sslpassword=VALUE by
 * "sslpassword=***"). Other text is copied. Writes out
 * (n bytes, NUL-terminated, cut if longer). */
void url_redact(const char *url, char *out, size_t n);

/* The bytes of the invisible formatting character that starts at s[i] (UTF-8, s[0..n)), 0
 * when none starts there: the characters that make one text look like another or reorder
 * what follows. Soft hyphen U+00AD, Arabic letter mark U+061C, Mongolian vowel separator
 * U+180E, zero-width and direction marks U+200B..U+200F, bidi embeddings and overrides
 * U+202A..U+202E, word joiner and invisible operators U+2060..U+2064, isolates and
 * deprecated format characters U+2066..U+206F, U+FEFF, interlinear annotation U+FFF9..U+FFFB,
 * the tag characters U+E0001, U+E0020..U+E007F, and (s26) the blank fillers: combining
 * grapheme joiner U+034F, Hangul fillers U+115F, U+1160, U+3164, U+FFA0, braille blank U+2800
 * (a name of them alone looked blank, one ending in them like another name). Names and texts refuse
 * them (validate.c text_invisible_at); dimension values record each as `?` (store.c). */
size_t utf8_invisible_len(const unsigned char *s, size_t n, size_t i);

#endif
