/*
 * framing.c - the checks a request passes before it is routed (the request lifecycle in
 * server.c calls them): the raw request target (too many query parameters, too long, a NUL
 * byte inside it, an encoded '/' or '\\' in its path; MHD's URI callback), a query parameter
 * given twice, one without a name or unknown to its route, percent-decoding that never yields
 * a NUL byte, and the message framing of RFC 9112 6.3 (Content-Length /
 * Transfer-Encoding ambiguities, control characters in header values, Host missing or repeated,
 * Transfer-Encoding in HTTP/1.0, the header size cap); after
 * routing, the body's admission
 * (the route's cap, Content-Type, when an early reply waits for the body). It owns no state: the
 * target's verdict travels to the request through a static marker in *con_cls.
 *
 * Threads: MHD's polling thread and its pool, on the connection being parsed.
 */
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "bunsen/app.h"
#include "bunsen/http.h"
#include "http_int.h"

/* A client's text as an error message shows it: src copied into dst (cap bytes, cut to fit),
 * any byte that is not part of a valid UTF-8 character and every control character (below
 * 0x20, and DEL) turned into '?': a message never carries a broken character or a control one.
 * Used where a reply quotes a repeated or unknown query parameter or a charset. */
static void client_text_show(char *dst, size_t cap, const char *src)
{
    str_copy(dst, cap, src);
    utf8_repair(dst);
    for (char *c = dst; *c != '\0'; c++) {
        *c = (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c;
    }
}

/* What http_on_uri found wrong before MHD parsed the rest of the request: a static marker object
 * per kind is handed to on_request through *con_cls (nothing to free if MHD then fails the
 * request itself). */
static const char early_markers[6];

enum early_error http_early_of(const void *con_cls)
{
    if (con_cls == &early_markers[EARLY_URI_LONG]) {
        return EARLY_URI_LONG;
    }
    if (con_cls == &early_markers[EARLY_QUERY]) {
        return EARLY_QUERY;
    }
    if (con_cls == &early_markers[EARLY_CTL_TARGET]) {
        return EARLY_CTL_TARGET;
    }
    if (con_cls == &early_markers[EARLY_AUTHORITY]) {
        return EARLY_AUTHORITY;
    }
    if (con_cls == &early_markers[EARLY_ENCODED_SEP]) {
        return EARLY_ENCODED_SEP;
    }
    return EARLY_NONE;
}

/* ---- message framing (RFC 9112 6.3) ----
 * MHD frames the body by Transfer-Encoding when present, else by the first Content-Length.
 * A proxy in front may have framed it differently (request smuggling), so every ambiguity is
 * refused with 400 and the connection closed: Content-Length together with
 * Transfer-Encoding, Content-Lengths that disagree or are not a plain number, a header with
 * a NUL byte in it, a header name that is not a token (RFC 9110 5.1: "Transfer-Encoding :" with
 * a blank before the colon, which MHD keeps as a header of its own name and a lenient proxy reads
 * as Transfer-Encoding; RFC 9112 5.1 makes it a 400), a folded header line (obs-fold, RFC 9112
 * 5.2: MHD 0.9.75 glues the continuation onto the *name*, so "Content-Length:\r\n 72" frames no
 * body at all), and Transfer-Encoding sent twice (MHD frames by the first; the combined value,
 * "chunked, identity", does not end in chunked). A transfer coding other than chunked cannot be
 * framed at all: 400 at once (rather than waiting for a body that MHD cannot delimit; RFC 9112
 * suggests 501, but the fault is the client's and a 5xx would page whoever watches the server's
 * error rate).
 * A header value holding a control character other than HTAB is refused too (RFC 9110 5.5): MHD
 * 0.9.75 ends a line only at LF, so "X-A: a\rContent-Length: 38" was one header to it and two
 * to a front end that ends lines at a bare CR (the body smuggled as a second request). An
 * HTTP/1.1 request needs exactly one Host (RFC 9112 3.2), and HTTP/1.0 with Transfer-Encoding
 * is faulty framing (RFC 9112 6.1: a 1.0 proxy does not decode chunked): both 400, closed. So is
 * a second Authorization, X-API-Key or Content-Type: the first counted, so an admin key before an
 * sdk one authenticated as admin and the swapped pair was a 403 (RFC 9110 5.3: a singleton
 * field sent twice is invalid). */

struct framing {
    struct http_req *r;     /* its hdr: the first value of each header the server reads */
    unsigned seen;          /* which of those were seen (a value may be NULL) */
    int content_lengths;    /* Content-Length headers seen */
    bool lengths_differ;    /* two of them disagree, or one is not digits only */
    const char *first_len;  /* the first value */
    bool nul;               /* a header name or value holds a NUL byte */
    bool ctl;               /* a header value holds a control character other than HTAB */
    int hosts;              /* Host headers seen */
    bool bad_name;          /* a header name is not a token (a blank before the colon, ...) */
    bool folded;            /* a header line continues on the next (obs-fold) */
    int transfer_encodings; /* Transfer-Encoding headers seen */
    const char *repeated;   /* Authorization, X-API-Key or Content-Type sent twice: its name */
    size_t bytes;           /* names and values, with 4 bytes per line for ": " and CRLF */
};

static bool all_digits(const char *v, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return false;
        }
    }
    return true;
}

/* MHD keeps header values in its read buffer and ends each line by overwriting its CR and LF
 * with NULs (trailing blanks too); it measures values with strlen, so a NUL inside a value
 * would silently cut it ("X-Key: admin\0junk"). The byte after the terminator tells: a NUL
 * (the zeroed LF), after any blanks, for an honest value; the rest of the value when a NUL
 * was inside. (Lines ended by a bare LF have no second NUL and are refused too: RFC 9112 2.2
 * lets a server reject them, and a bare LF is itself a smuggling vector.) */
static bool value_ends_line(const char *terminator)
{
    const char *p = terminator + 1;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return *p == '\0' || *p == '\n';
}

/* The next line after the value's: MHD turned its CRLF into two NULs (a bare LF line end,
 * refused by value_ends_line, into one), so two bytes on starts the next line; a blank there is
 * obs-fold. (The empty line that ends the headers is there too, so the bytes exist.) */
static bool line_folds(const char *terminator)
{
    return terminator[1] == '\0' && (terminator[2] == ' ' || terminator[2] == '\t');
}

/* tchar of RFC 9110 5.6.2: a header name is one or more of these, nothing else. A table:
 * this runs for every header of every request. */
#define TCHAR_ALPHA_DIGIT(c)                                                                       \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
static bool tchar[256];
static pthread_once_t tchar_once = PTHREAD_ONCE_INIT;

static void tchar_init(void)
{
    for (int c = 0; c < 256; c++) {
        tchar[c] = TCHAR_ALPHA_DIGIT(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
    }
}

static bool is_token(const char *s, size_t n)
{
    pthread_once(&tchar_once, tchar_init);
    bool ok = n > 0;
    for (size_t i = 0; i < n; i++) {
        ok = ok && tchar[(unsigned char)s[i]];
    }
    return ok;
}

/* A control character other than HTAB (RFC 9110 5.5 field-vchar: not CTL; DEL included). */
static bool has_ctl(const char *s, size_t n, bool tab_ok)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && !(tab_ok && c == '\t')) || c == 0x7f) {
            return true;
        }
    }
    return false;
}

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    struct framing *f = cls;
    f->bytes += key_size + value_size + 4;
    if (value != NULL && value_size > 0 && !value_ends_line(value + value_size)) {
        f->nul = true;
    }
    if (value != NULL && has_ctl(value, value_size, true)) {
        f->ctl = true;
    }
    if (key != NULL && key_size == 4 && strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
        f->hosts++;
    }
    if (value != NULL && line_folds(value + value_size)) {
        f->folded = true;
    }
    if (key != NULL && !is_token(key, key_size)) {
        f->bad_name = true;
    }
    if (key != NULL && key_size == 17 && strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encodings++;
    }
    if (key != NULL) {
        /* by length first: one strcasecmp at most per header */
        static const struct {
            size_t len;
            const char *name;
        } want[] = {{9, "X-API-Key"},
                    {12, MHD_HTTP_HEADER_CONTENT_TYPE},
                    {13, MHD_HTTP_HEADER_AUTHORIZATION},
                    {17, MHD_HTTP_HEADER_TRANSFER_ENCODING}};
        const char **slot[] = {&f->r->hdr.api_key, &f->r->hdr.content_type,
                               &f->r->hdr.authorization, &f->r->hdr.transfer_encoding};
        for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            if (want[i].len == key_size && strcasecmp(key, want[i].name) == 0) {
                if (f->seen & (1u << i)) {
                    /* a second key or media type: which one counts is the reader's guess (a
                     * Transfer-Encoding twice is counted on its own, below) */
                    f->repeated = f->repeated != NULL || i == 3 ? f->repeated : want[i].name;
                } else {
                    f->seen |= 1u << i;
                    *slot[i] = value;
                }
                break;
            }
        }
    }
    if (key != NULL && key_size == 14 && strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        const char *v = value != NULL ? value : "";
        if (!all_digits(v, value_size) || (f->first_len != NULL && strcmp(f->first_len, v) != 0)) {
            f->lengths_differ = true;
        }
        if (f->first_len == NULL) {
            f->first_len = v;
        }
        f->content_lengths++;
    }
    return MHD_YES;
}

/* ---- repeated query parameters ----
 * `?alpha=0.05&alpha=0.1`: MHD's lookup gives the first value, a walk over every argument
 * (attr.* of GET .../assign) the last, so which one counted depended on the route. One rule
 * for every route instead: a name given twice is a 400 naming it, before routing. No client
 * of ours sends one (the dashboard builds queries with URLSearchParams.set; GrowthBook SDKs
 * and OFREP providers send no query at all); a list is one value (`?experiments=a,b`). */

struct query_names {
    const char *names[HTTP_QUERY_MAX + 1];
    size_t n;
    const char *repeated; /* the first name seen twice, NULL when none */
};

static enum MHD_Result query_name(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    struct query_names *q = cls;
    if (key == NULL || key[0] == '\0') {
        return MHD_YES; /* an empty segment ("a=1&&b=2") names nothing: no repeat */
    }
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->names[i], key) == 0) {
            q->repeated = key;
            return MHD_NO;
        }
    }
    if (q->n < sizeof(q->names) / sizeof(q->names[0])) {
        q->names[q->n++] = key;
    }
    return MHD_YES;
}

/* true, or false after replying 400 with the repeated parameter as `field` (http_on_uri caps
 * the arguments at HTTP_QUERY_MAX, so the quadratic scan stays below 33,000 comparisons). */
static bool query_unique_ok(struct http_req *r)
{
    struct query_names q = {.n = 0};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_name, &q);
    if (q.repeated == NULL) {
        return true;
    }
    char shown[80];
    client_text_show(shown, sizeof(shown), q.repeated);
    http_reply_error(r, ERR_INVALID, shown,
                     "the query parameter '%s' is given more than once: give it once", shown);
    return false;
}

/* ---- unknown query parameters ----
 * Unknown body fields are refused (API.md); a misspelt query parameter (`?metod=bayesian`,
 * `?country=NL` for attr.country) was ignored, and the reply looked right. Each /api/v1 route
 * lists the names it takes (routes.c); SDK, OFREP, health and metrics routes and GET
 * /api/v1/me list none and are not checked: browsers and SDKs add cache busters there. */

/* Is key one of list's space-separated names ("attr.*": any attr.NAME)? */
static bool query_listed(const char *list, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, " ");
        if (n == 6 && strncmp(p, "attr.*", 6) == 0 ? strncmp(key, "attr.", 5) == 0 && klen > 5
                                                   : n == klen && strncmp(p, key, n) == 0) {
            return true;
        }
        p += n;
        p += *p == ' ';
    }
    return false;
}

struct query_known {
    const char *list;
    const char *unknown; /* the first name not in list, NULL when none */
};

static enum MHD_Result query_known_name(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    (void)kind;
    struct query_known *q = cls;
    /* an empty segment ("a=1&&b=2") names nothing; "=x" is a value without a name, unknown */
    if (key == NULL || (key[0] == '\0' && (value == NULL || value[0] == '\0')) ||
        (key[0] != '\0' && query_listed(q->list, key))) {
        return MHD_YES;
    }
    q->unknown = key;
    return MHD_NO;
}

bool http_query_known_ok(struct http_req *r)
{
    if (r->route == NULL || r->route->query == NULL) {
        return true;
    }
    struct query_known q = {.list = r->route->query};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_known_name, &q);
    if (q.unknown == NULL) {
        return true;
    }
    char shown[64];
    client_text_show(shown, sizeof(shown), q.unknown);
    char takes[112] = "none"; /* "method, alpha, ..." */
    size_t len = 0;
    for (const char *p = r->route->query; *p != '\0' && len < sizeof(takes);) {
        size_t n = strcspn(p, " ");
        len += (size_t)snprintf(takes + len, sizeof(takes) - len, "%s%.*s", len ? ", " : "", (int)n,
                                p);
        p += n;
        p += *p == ' ';
    }
    /* ?country=NL where attributes are attr.NAME: say so */
    bool attr = strstr(r->route->query, "attr.*") != NULL && strchr(shown, '.') == NULL;
    if (shown[0] == '\0') {
        http_reply_error(r, ERR_INVALID, NULL,
                         "a query parameter has a value but no name ('=...'; this route takes %s)",
                         takes);
        return false;
    }
    http_reply_error(r, ERR_INVALID, shown,
                     "unknown query parameter '%s' (this route takes %s)%s%s", shown, takes,
                     attr ? "; an attribute is attr." : "", attr ? shown : "");
    return false;
}

/* Reply and close when the framing is ambiguous; returns false after replying (a repeated
 * query parameter too, without closing). version: the request line's ("HTTP/1.1"). */
bool http_framing_ok(struct http_req *r, const char *version)
{
    bool v11 = version != NULL && strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
    bool v10 = version != NULL && strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
    struct framing f = {.r = r};
    memset(&r->hdr, 0, sizeof(r->hdr));
    MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, framing_header, &f);
    r->hdr.content_length = f.first_len; /* the first Content-Length, NULL when none */
    const char *te = r->hdr.transfer_encoding;
    if (f.nul) {
        http_reply_error(r, ERR_INVALID, NULL, "a header holds a NUL byte");
    } else if (f.ctl) {
        http_reply_error(r, ERR_INVALID, NULL,
                         "a header value holds a control character (CR, ...; only HTAB is "
                         "allowed, RFC 9110 5.5)");
    } else if (f.hosts > 1 || (v11 && f.hosts == 0)) {
        http_reply_error(r, ERR_INVALID, NULL, "send exactly one Host header (RFC 9112 3.2)");
    } else if (v10 && te != NULL) {
        http_reply_error(r, ERR_INVALID, NULL,
                         "Transfer-Encoding is not allowed in HTTP/1.0 (RFC 9112 6.1); send a "
                         "Content-Length");
    } else if (f.folded) {
        http_reply_error(r, ERR_INVALID, NULL,
                         "a header line is folded onto the next (obs-fold, RFC 9112 5.2); send "
                         "each header on one line");
    } else if (f.bad_name) {
        http_reply_error(r, ERR_INVALID, NULL,
                         "a header name is not a token (RFC 9110 5.1): no blank before the colon");
    } else if (f.repeated != NULL) {
        http_reply_error(r, ERR_INVALID, NULL, "the %s header is sent more than once; send it once",
                         f.repeated);
    } else if (f.transfer_encodings > 1) {
        http_reply_error(r, ERR_INVALID, NULL,
                         "Transfer-Encoding is sent more than once (RFC 9112 6.3); send it once");
    } else if (f.bytes > HTTP_HEADERS_MAX) {
        http_reply_error(r, ERR_HEADERS_TOO_LARGE, NULL, "the headers exceed %d bytes",
                         HTTP_HEADERS_MAX);
    } else if (te != NULL && f.content_lengths > 0) {
        http_reply_error(r, ERR_INVALID, NULL,
                         "Content-Length and Transfer-Encoding together are ambiguous (RFC 9112 "
                         "6.3); send one of them");
    } else if (f.lengths_differ) {
        http_reply_error(r, ERR_INVALID, NULL,
                         "Content-Length must be one decimal number, sent once (or repeated with "
                         "the same value)");
    } else if (te != NULL && strcasecmp(te, "chunked") != 0) {
        http_reply_error(r, ERR_INVALID, NULL,
                         "Transfer-Encoding '%.40s' is not supported; send chunked or a "
                         "Content-Length",
                         te);
    } else {
        return query_unique_ok(r); /* the message is framed: no need to close */
    }
    http_reply_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    return false;
}

/* ---- absolute-form targets (RFC 9112 3.2.2) ----
 * `GET http://host/healthz HTTP/1.1`, as a proxy sends: a server MUST accept it. The target's
 * authority wins over Host (RFC 9112 7.2), and Bunsen serves any host name, so the path after
 * the authority is routed; Host is still required and checked as for any request (3.2). An
 * authority that is empty, carries userinfo (`user@host`, RFC 9110 4.2.4) or holds anything
 * but a host name, an IP literal and a port (a '%' would decode into the path) is a 400. */

/* The length of "http://" / "https://" (any case) at the start of s, 0 when neither. */
static size_t scheme_len(const char *s)
{
    if (strncasecmp(s, "http://", 7) == 0) {
        return 7;
    }
    return strncasecmp(s, "https://", 8) == 0 ? 8 : 0;
}

/* The authority after the scheme: its length up to '/', '?' or the end; -1 when it is empty or
 * holds a character other than a host's, an IP literal's or a port's. */
static long authority_len(const char *a)
{
    size_t n = strcspn(a, "/?");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (!(TCHAR_ALPHA_DIGIT(c) || strchr(".-_~:[]!$&'()*+,;=", c) != NULL)) {
            return -1;
        }
    }
    return n > 0 ? (long)n : -1;
}

const char *http_target_path(const char *url)
{
    size_t s = scheme_len(url);
    if (s == 0) {
        return url;
    }
    const char *path = url + s + strcspn(url + s, "/");
    return *path == '/' ? path : "/";
}

/* Does the path (its first n bytes) hold an encoded '/' or '\\' (%2F, %5C)? MHD decodes the
 * whole path before routing, so "/api%2Fv1%2Fkeys" reached GET /api/v1/keys: a proxy rule on
 * the raw path (HAProxy's path ACLs, Envoy's default) that guards /api/v1/keys did not see it.
 * RFC 3986 2.2 makes an encoded separator data within a segment, and no name a route takes
 * (keys, ids) may hold one: refused with 400. */
static bool encoded_separator(const char *path, size_t n)
{
    for (const char *p = memchr(path, '%', n); p != NULL && p + 2 < path + n;
         p = memchr(p + 1, '%', (size_t)(path + n - p - 1))) {
        if ((p[1] == '2' && (p[2] == 'F' || p[2] == 'f')) ||
            (p[1] == '5' && (p[2] == 'C' || p[2] == 'c'))) {
            return true;
        }
    }
    return false;
}

/* Called by MHD with the raw request target, before it splits the query string into
 * arguments. Each argument takes a record in the connection's 24 KiB memory pool (HTTP_CONN_POOL);
 * with hundreds of them the pool runs out and MHD 0.9.75 can no longer even send its 431, leaving
 * the client waiting for the timeout. Beyond HTTP_QUERY_MAX arguments (or HTTP_URI_MAX bytes)
 * the query string is made one argument here (its '&' become ';': the target lives in MHD's
 * writable read buffer, and MHD splits it only after this call) and the request answered
 * 400 (414).
 * A NUL byte inside the target (which C strings would silently cut) is refused the same way:
 * MHD ends the target where the space before "HTTP/" was, so a target whose terminator is not
 * followed by the protocol version had a NUL inside it. So is any other control character (a
 * CR that a front end may read as the line's end, HTAB, DEL). A target within those bounds
 * whose path holds an encoded '/' or '\\' (encoded_separator) is refused with 400 too. */
void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    http_conn_request_line(http_conn_of(conn)); /* a request has begun: its headers are due */
    size_t len = strlen(uri);
    const char *after = uri + len + 1;
    while (*after == ' ' || *after == '\t') {
        after++;
    }
    if (strncmp(after, "HTTP/", 5) != 0 || has_ctl(uri, len, false)) {
        return (void *)(uintptr_t)&early_markers[EARLY_CTL_TARGET];
    }
    size_t scheme = scheme_len(uri);
    if (scheme > 0 && authority_len(uri + scheme) < 0) {
        return (void *)(uintptr_t)&early_markers[EARLY_AUTHORITY];
    }
    char *q = strchr(uri, '?');
    int n = 1;
    for (const char *p = q; p != NULL && *p != '\0'; p++) {
        n += *p == '&';
    }
    enum early_error e = len > HTTP_URI_MAX   ? EARLY_URI_LONG
                         : n > HTTP_QUERY_MAX ? EARLY_QUERY
                                              : EARLY_NONE;
    if (e == EARLY_NONE) {
        /* after the size checks: those also keep MHD from splitting a query it cannot hold */
        return encoded_separator(uri, q != NULL ? (size_t)(q - uri) : len)
                   ? (void *)(uintptr_t)&early_markers[EARLY_ENCODED_SEP]
                   : NULL;
    }
    /* MHD has already noted where the query starts: turn it into one argument */
    for (char *p = q; p != NULL && *p != '\0'; p++) {
        *p = *p == '&' ? ';' : *p;
    }
    return (void *)(uintptr_t)&early_markers[e];
}

/* The value of a hex digit, or -1 (the NUL after a string's end included). */
static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* Percent-decoding as MHD's default, except that a decoded NUL becomes 0x01: C strings
 * would otherwise silently truncate ("/index.html%00.css", "u%00admin"), while 0x01 is a
 * control character that every validator (paths, ids) rejects. A '%' not followed by two
 * hex digits ("%zz", "%-1", "% 9") stays as it is, as RFC 3986 and MHD read it. */
size_t http_unescape_no_nul(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r != '\0'; r++) {
        int hi = r[0] == '%' ? hex_digit(r[1]) : -1;
        int lo = hi >= 0 ? hex_digit(r[2]) : -1;
        if (lo >= 0) {
            unsigned v = (unsigned)(hi * 16 + lo);
            *w++ = v == 0 ? '\x01' : (char)v;
            r += 2;
            continue;
        }
        *w++ = *r;
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* ---- the body's admission ---- */

static bool has_body(struct http_req *r)
{
    const char *cl = r->hdr.content_length;
    if (r->hdr.transfer_encoding != NULL) {
        return true;
    }
    return cl != NULL && strtoull(cl, NULL, 10) > 0;
}

/* An early reply to a request that sends a body within its cap (401, 403, 415) waits until
 * the body is read and dropped: most HTTP clients send the whole body before they read the
 * reply, and one answered at once with the connection closed got a broken pipe, not the
 * 401 (an SDK with a revoked key retried its batch for ever). A client that waits for
 * "100 Continue" is answered at once; so is one whose body is over the cap (the 413 path)
 * or has none. */
void http_reply_after_body(struct http_req *r)
{
    const char *cl = r->hdr.content_length;
    bool within = cl != NULL ? strtoull(cl, NULL, 10) <= r->body.cap : r->body.cap > 0;
    if (r->resp != NULL && has_body(r) && within &&
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT) == NULL) {
        r->reply_after_body = true;
    }
}

/* application/json, with any parameters (charset), and blanks (SP, HTAB) around the type and
 * before a ';' (RFC 9110 5.5, 8.3.1): "application/json\t" is JSON, "application/jsonx" and
 * "application/json x" are not. */
static bool is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;
    if (ct == NULL) {
        return false;
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    if (strncasecmp(ct, want, n) != 0) {
        return false;
    }
    for (ct += n; *ct == ' ' || *ct == '\t'; ct++) {
    }
    return *ct == '\0' || *ct == ';';
}

/* The charset parameter of a JSON Content-Type (RFC 9110 8.3.1: `;charset=X`, the name in any
 * case, the value a token or a quoted string), copied into out ("" when there is none). JSON is
 * UTF-8 (RFC 8259 8.1) and the body is decoded so: `charset=iso-8859-1` read as UTF-8 stored
 * what the client did not mean, so any charset but utf-8 is a 415. */
static void json_charset(const char *ct, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = strchr(ct, ';');
    while (p != NULL && *p == ';') {
        p++;
        p += strspn(p, " \t");
        size_t n = strcspn(p, "=; \t");
        bool charset = n == 7 && strncasecmp(p, "charset", 7) == 0;
        p += n;
        p += strspn(p, " \t");
        if (*p != '=') {
            p = strchr(p, ';');
            continue;
        }
        p++;
        p += strspn(p, " \t");
        size_t len = 0;
        char val[48];
        if (*p == '"') {
            for (p++; *p != '\0' && *p != '"'; p++) {
                p += *p == '\\' && p[1] != '\0';
                if (len < sizeof(val) - 1) {
                    val[len++] = *p;
                }
            }
        } else {
            for (; *p != '\0' && *p != ';' && *p != ' ' && *p != '\t'; p++) {
                if (len < sizeof(val) - 1) {
                    val[len++] = *p;
                }
            }
        }
        val[len] = '\0';
        if (charset && out[0] == '\0') {
            str_copy(out, cap, len > 0 ? val : "\"\"");
        }
        p = strchr(p, ';');
    }
}

/* 413 for a body over the route's cap; assignment bodies name what is capped. */
void http_too_large_reply(struct http_req *r)
{
    if (r->route != NULL && r->route->body == BODY_ASSIGN) {
        bool ofrep = strncmp(r->path, "/ofrep/", 7) == 0;
        http_reply_error(r, ERR_TOO_LARGE, ofrep ? "context" : "attributes",
                         "the body exceeds the limit of %zu bytes for assignment requests (the "
                         "attributes may take %zu bytes)",
                         r->body.cap, r->app->cfg.attr_max_bytes);
        return;
    }
    http_reply_error(r, ERR_TOO_LARGE, NULL, "the body exceeds the limit of %zu bytes",
                     r->body.cap);
}

/* After routing and authentication: the body's admission. A body on a bodiless route may be
 * an empty JSON object; any body must be JSON (415); one over the route's cap is 413. */
void http_body_admit(struct http_req *r)
{
    if (has_body(r)) {
        if (r->route->body == BODY_NONE) {
            /* tolerate an empty JSON object on bodiless POSTs such as /start */
            buf_init(&r->body, 4096);
        }
        if (!is_json_type(r->hdr.content_type)) {
            http_reply_error(r, ERR_MEDIA_TYPE, NULL,
                             "request bodies must be 'Content-Type: application/json'");
            http_reply_after_body(r);
            return;
        }
        char charset[48];
        json_charset(r->hdr.content_type, charset, sizeof(charset));
        /* "utf8" as some clients spell it, and US-ASCII, a subset: read as UTF-8 alike */
        if (charset[0] != '\0' && strcasecmp(charset, "utf-8") != 0 &&
            strcasecmp(charset, "utf8") != 0 && strcasecmp(charset, "us-ascii") != 0) {
            char shown[sizeof(charset)];
            client_text_show(shown, sizeof(shown), charset);
            http_reply_error(r, ERR_MEDIA_TYPE, NULL,
                             "request bodies are JSON in UTF-8: charset '%s' is not supported "
                             "(send charset=utf-8 or none)",
                             shown);
            http_reply_after_body(r);
            return;
        }
        const char *cl = r->hdr.content_length;
        unsigned long long claimed = cl != NULL ? strtoull(cl, NULL, 10) : 0;
        if (claimed > r->body.cap) {
            /* Most HTTP clients send the whole body before they read the reply: a 413 sent
             * at once, with the connection closed behind it, reached them as a broken pipe
             * (an SDK retried the same oversized batch). So a body up to DRAIN_SLACK beyond
             * the cap is read and dropped, then answered 413; a client that waits for
             * "100 Continue" (curl) or claims more than that gets the 413 at once. */
            const char *expect =
                MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
            if (claimed > r->body.cap + DRAIN_SLACK || expect != NULL) {
                http_too_large_reply(r);
            } else {
                r->too_large = true;
            }
        }
    }
}
