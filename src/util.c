/*
 * util.c - allocation that aborts on OOM, the capped growable buffer, clocks, timed waits'
 * deadlines, thread start, the input-string checks of API.md "Conventions", and where a
 * database URL or conninfo holds its passwords (for the CLI's copy of it and the PostgreSQL
 * adapter's masking of libpq's messages about it). The one shared state is hash_keyed's
 * secret, drawn once (pthread_once); every function is thread-safe.
 */
#include "bunsen/util.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n)
{
    fprintf(stderr, "bunsen: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        oom(n);
    }
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL) {
        oom(count * size);
    }
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        oom(n);
    }
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void str_copy(char *dst, size_t size, const char *src)
{
    size_t len = strnlen(src, size - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

void buf_init(struct buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

static int buf_reserve(struct buf *b, size_t n)
{
    if (n > b->cap || b->len + n > b->cap) {
        return -1;
    }
    size_t need = b->len + n + 1;
    if (need <= b->alloc) {
        return 0;
    }
    size_t a = b->alloc ? b->alloc : 256;
    while (a < need) {
        a *= 2;
    }
    b->data = xrealloc(b->data, a);
    b->alloc = a;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0) {
        return -1;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec time_monotonic_in(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static unsigned char hash_secret[crypto_shorthash_KEYBYTES];
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static void hash_secret_init(void)
{
    if (sodium_init() < 0) {
        abort(); /* main() initialized it already: cannot happen */
    }
    randombytes_buf(hash_secret, sizeof(hash_secret));
}

uint64_t hash_keyed(const void *p, size_t n)
{
    pthread_once(&hash_once, hash_secret_init);
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, p, n, hash_secret);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}

void cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

uint64_t time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t time_mono_ms(void)
{
    return (int64_t)(time_mono_ns() / 1000000u);
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n) {
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += len;
    }
    return true;
}

void utf8_repair(char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t k = 1;
        while (k <= 4 && i + k <= len && !utf8_valid(s + i, k)) {
            k++;
        }
        if (k <= 4 && i + k <= len) {
            i += k; /* a whole valid character */
        } else {
            s[i++] = '?';
        }
    }
}

bool key_valid(const char *s)
{
    if (s == NULL) {
        return false;
    }
    size_t n = strlen(s);
    if (n < 1 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) {
            return false;
        }
    }
    return true;
}

int real_parse_decimal(const char *s, size_t len, double *out)
{
    /* -?(D+(.D*)?|.D+)([eE][-+]?D+)? : what strtod reads beyond it (hexadecimal, inf, nan,
     * leading space, a locale's separators) is refused before strtod sees the text */
    size_t i = len > 0 && s[0] == '-' ? 1 : 0, digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        digits++;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            digits++;
        }
    }
    if (digits == 0) {
        return -1;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i += i + 1 < len && (s[i + 1] == '-' || s[i + 1] == '+') ? 2 : 1;
        size_t exp = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            exp++;
        }
        if (exp == 0) {
            return -1;
        }
    }
    if (i != len || len > 400) {
        return -1;
    }
    char text[401];
    memcpy(text, s, len);
    text[len] = '\0';
    double v = strtod(text, NULL);
    if (v == HUGE_VAL || v == -HUGE_VAL) {
        return -1; /* beyond the largest double */
    }
    *out = v;
    return 0;
}

bool text_id_valid(const char *s, size_t len, size_t max)
{
    if (s == NULL || len < 1 || len > max || !utf8_valid(s, len)) {
        return false;
    }
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7F) {
            return false;
        }
        /* C1 controls U+0080..U+009F are encoded as C2 80..C2 9F */
        if (p[i] == 0xC2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F) {
            return false;
        }
    }
    return true;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int time_parse_rfc3339(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec;
    size_t len = strlen(s);
    if (len < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec)) {
        return -1;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        sec > 60) {
        return -1;
    }
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) {
        return -1;
    }
    const char *p = s + 19;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3) {
                frac_ms = frac_ms * 10 + (*p - '0');
            }
            nd++;
            p++;
        }
        if (nd == 0) {
            return -1;
        }
        for (int k = nd; k < 3; k++) {
            frac_ms *= 10;
        }
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59) {
            return -1;
        }
        offset_min = (oh * 60 + om) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0') {
        return -1;
    }
    /* days from civil (Howard Hinnant's algorithm): no timegm, no locale, no TZ */
    int yy = y - (mo <= 2);
    int era = yy / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + (sec > 59 ? 59 : sec) - offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

bool path_real(const char *file, char *out, size_t n)
{
    char real[PATH_MAX];
    if (realpath(file, real) != NULL) {
        snprintf(out, n, "%s", real);
        return strlen(real) < n;
    }
    /* not created yet: the directory's real path and the name; of a link's target when the
     * path is a link to a file not created yet (links to links: one level) */
    char dir[PATH_MAX], rdir[PATH_MAX], target[PATH_MAX];
    struct stat ls;
    ssize_t tl = lstat(file, &ls) == 0 && S_ISLNK(ls.st_mode)
                     ? readlink(file, target, sizeof(target) - 1)
                     : -1;
    if (tl > 0) {
        target[tl] = '\0';
        const char *ls_slash = strrchr(file, '/');
        size_t dn = ls_slash != NULL ? (size_t)(ls_slash - file) + 1 : 0;
        size_t tn = (size_t)tl;
        if (target[0] != '/' && dn + tn < sizeof(dir)) { /* relative to the link's dir */
            memcpy(dir, file, dn);
            memcpy(dir + dn, target, tn + 1);
            memcpy(target, dir, dn + tn + 1);
        }
        file = target;
    }
    snprintf(dir, sizeof(dir), "%s", file);
    char *slash = strrchr(dir, '/');
    const char *base = slash != NULL ? slash + 1 : file;
    if (slash != NULL) {
        *slash = '\0';
    }
    size_t dl, bl = strlen(base);
    if (realpath(slash != NULL ? (dir[0] ? dir : "/") : ".", rdir) != NULL &&
        (dl = strcmp(rdir, "/") == 0 ? 0 : strlen(rdir)) + bl + 2 < sizeof(real) &&
        dl + bl + 2 <= n) {
        memcpy(out, rdir, dl);
        out[dl] = '/';
        memcpy(out + dl + 1, base, bl + 1);
        return true;
    }
    snprintf(out, n, "%s", file);
    return false;
}

/* a key=value conninfo's separator (libpq: isspace) */
static bool conninfo_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The value of the hexadecimal digit c, -1 when c is none. */
static int hex_digit(char c)
{
    static const char hex[] = "0123456789abcdef";
    const char *h = c != '\0' ? strchr(hex, tolower((unsigned char)c)) : NULL;
    return h != NULL ? (int)(h - hex) : -1;
}

/* The libpq settings whose value is a secret: the password, and the passphrase of an
 * encrypted client key (sslpassword: with certificate authentication, the credential; review
 * diff35 F3). */
static const char *const secret_keys[] = {"password", "sslpassword"};

/* The length of the secret setting name (secret_keys) that s starts with, any case, or 0. */
static size_t secret_key_at(const char *s)
{
    for (size_t i = 0; i < sizeof(secret_keys) / sizeof(secret_keys[0]); i++) {
        size_t n = strlen(secret_keys[i]);
        if (strncasecmp(s, secret_keys[i], n) == 0) {
            return n;
        }
    }
    return 0;
}

/* Is the URL query key s[0..n) a secret setting (secret_keys, any case), percent-decoded as
 * libpq decodes it? */
static bool query_key_is_password(const char *s, size_t n)
{
    char key[16];
    size_t k = 0;
    for (size_t i = 0; i < n; i++, k++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return false;
            }
            c = hi * 16 + lo;
            i += 2;
        }
        if (k + 1 >= sizeof(key) || c == '\0') {
            return false;
        }
        key[k] = (char)c;
    }
    key[k] = '\0';
    return secret_key_at(key) == k && k > 0;
}

/* The end of a URL query's password value at v: the next '&', and over each further
 * '&'-separated piece without '=' (libpq reads "password=a&b" as password "a" and a
 * parameter "b", which it quotes as missing its "="). */
static const char *query_value_end(const char *v)
{
    const char *e = v + strcspn(v, "&");
    while (*e == '&') {
        size_t piece = strcspn(e + 1, "&");
        if (memchr(e + 1, '=', piece) != NULL) {
            break;
        }
        e += 1 + piece;
    }
    return e;
}

/* The end of a key=value conninfo's password value at v: a quoted one (backslash escapes)
 * through its closing quote; else words (an unquoted backslash escapes too) up to the next
 * one that is a key, holding '=' or followed by one (libpq reads "password=hunter two" as
 * the password "hunter" and a key "two", which it quotes as missing its "="). */
static const char *conninfo_value_end(const char *v)
{
    if (*v == '\'') {
        for (v++; *v != '\0' && *v != '\''; v++) {
            if (*v == '\\' && v[1] != '\0') {
                v++;
            }
        }
        return *v == '\'' ? v + 1 : v;
    }
    const char *end = v;
    for (const char *w = v; *w != '\0';) {
        const char *e = w;
        while (*e != '\0' && !conninfo_space(*e)) {
            e += *e == '\\' && e[1] != '\0' ? 2 : 1;
        }
        const char *next = e;
        while (conninfo_space(*next)) {
            next++;
        }
        if (w > v && (memchr(w, '=', (size_t)(e - w)) != NULL || *next == '=')) {
            break;
        }
        end = e;
        w = next;
    }
    return end;
}

/* Add the password [off, off+len) of the setting at key to out (room for max) as the
 * count-th found; returns count + 1. */
static size_t add_password(struct url_password *out, size_t max, size_t count, size_t key,
                           size_t off, size_t len)
{
    if (count < max) {
        out[count] = (struct url_password){.key = key, .off = off, .len = len};
    }
    return count + 1;
}

size_t url_find_passwords(const char *s, struct url_password *out, size_t max)
{
    size_t count = 0;
    const char *start = s;
    while (conninfo_space(*start)) {
        start++;
    }
    size_t scheme = strspn(start, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789+-.");
    if (scheme > 0 && strncmp(start + scheme, "://", 3) == 0) {
        /* user info: from its first ':' to the LAST '@' of the whole string (libpq ends it at
         * the first '@' or '/': a password holding an unencoded '@', '/' or '?' is read as a
         * host, a port or a path, and libpq may then quote a part of it) */
        const char *auth = start + scheme + 3, *at = strrchr(auth, '@');
        const char *colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon != NULL) {
            size_t off = (size_t)(colon + 1 - s);
            count = add_password(out, max, count, off, off, (size_t)(at - colon - 1));
        }
        /* query parameters: after ANY '?' or '&' (a '?' of the password itself included) */
        for (const char *k = auth; *k != '\0'; k++) {
            if (k[-1] != '?' && k[-1] != '&') {
                continue;
            }
            size_t kn = strcspn(k, "=&");
            if (k[kn] == '=' && query_key_is_password(k, kn)) {
                const char *v = k + kn + 1;
                count = add_password(out, max, count, (size_t)(k - s), (size_t)(v - s),
                                     (size_t)(query_value_end(v) - v));
            }
        }
        return count;
    }
    for (const char *k = s; *k != '\0'; k++) {
        /* a key starts the text, or follows a blank or a quoted value's closing quote
         * (libpq reads "host='h'password=x": review diff34 F1) */
        size_t kn = 0;
        if ((k != s && !conninfo_space(k[-1]) && k[-1] != '\'') || (kn = secret_key_at(k)) == 0) {
            continue;
        }
        const char *v = k + kn;
        while (conninfo_space(*v)) {
            v++;
        }
        if (*v != '=') {
            continue;
        }
        v++;
        while (conninfo_space(*v)) {
            v++;
        }
        count = add_password(out, max, count, (size_t)(k - s), (size_t)(v - s),
                             (size_t)(conninfo_value_end(v) - v));
    }
    return count;
}

void url_redact(const char *url, char *out, size_t n)
{
    struct url_password some[8], *pw = some;
    size_t count = url_find_passwords(url, some, 8);
    if (count > 8) {
        pw = xcalloc(count, sizeof(*pw));
        url_find_passwords(url, pw, count);
    }
    struct buf b;
    buf_init(&b, 4096);
    size_t p = 0; /* copied up to here */
    for (size_t done = 0; done < count; done++) {
        /* in the order of their settings (a URL's user info may follow a query's '?') */
        size_t first = done;
        for (size_t i = done + 1; i < count; i++) {
            first = pw[i].key < pw[first].key ? i : first;
        }
        struct url_password x = pw[first];
        pw[first] = pw[done];
        pw[done] = x;
        if (x.key >= p) {
            buf_append(&b, url + p, x.key - p);
            if (x.key < x.off) { /* its key, in plain letters */
                const char *key = secret_key_at(url + x.key) == 11 ? "sslpassword=" : "password=";
                buf_append(&b, key, strlen(key));
            }
            buf_append(&b, "***", 3);
        }
        /* a password inside one already masked: masked to its end too */
        p = x.off + x.len > p ? x.off + x.len : p;
    }
    buf_append(&b, url + p, strlen(url + p));
    snprintf(out, n, "%.*s", (int)b.len, b.data != NULL ? b.data : "");
    buf_free(&b);
    if (pw != some) {
        free(pw);
    }
}

size_t utf8_invisible_len(const unsigned char *s, size_t n, size_t i)
{
    if (i >= n) {
        return 0;
    }
    size_t left = n - i;
    unsigned char a = s[i];
    if (a < 0xc2 || left < 2) {
        return 0;
    }
    unsigned char b = s[i + 1];
    if ((a == 0xc2 && b == 0xad) || (a == 0xd8 && b == 0x9c) || /* U+00AD, U+061C */
        (a == 0xcd && b == 0x8f)) {                             /* U+034F */
        return 2;
    }
    if (left < 3) {
        return 0;
    }
    unsigned char c = s[i + 2];
    if ((a == 0xe1 && b == 0xa0 && c == 0x8e) ||                /* U+180E */
        (a == 0xe2 && b == 0x80 && c >= 0x8b && c <= 0x8f) ||   /* U+200B..F */
        (a == 0xe2 && b == 0x80 && c >= 0xaa && c <= 0xae) ||   /* U+202A..E */
        (a == 0xe2 && b == 0x81 && c >= 0xa0 && c <= 0xa4) ||   /* U+2060..4 */
        (a == 0xe2 && b == 0x81 && c >= 0xa6 && c <= 0xaf) ||   /* U+2066..F */
        (a == 0xef && b == 0xbb && c == 0xbf) ||                /* U+FEFF */
        (a == 0xef && b == 0xbf && c >= 0xb9 && c <= 0xbb) ||   /* U+FFF9..B */
        (a == 0xe1 && b == 0x85 && (c == 0x9f || c == 0xa0)) || /* U+115F, U+1160 */
        (a == 0xe3 && b == 0x85 && c == 0xa4) ||                /* U+3164 */
        (a == 0xef && b == 0xbe && c == 0xa0) ||                /* U+FFA0 */
        (a == 0xe2 && b == 0xa0 && c == 0x80)) {                /* U+2800 */
        return 3;
    }
    if (left < 4 || a != 0xf3 || b != 0xa0) {
        return 0;
    }
    unsigned char d = s[i + 3];
    if ((c == 0x80 && (d == 0x81 || (d >= 0xa0 && d <= 0xbf))) || /* U+E0001, U+E0020..3F */
        (c == 0x81 && d >= 0x80 && d <= 0xbf)) {                  /* U+E0040..7F */
        return 4;
    }
    return 0;
}
