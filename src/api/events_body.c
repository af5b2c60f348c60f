/*
 * events_body.c - the POST /api/v1/events body read without building a jansson tree for
 * it (api_int.h): {"events": [{"user_id": "u1", "event": "purchase", "value": 12.5,
 * "ts": 1764700000000, "id": "o-1"}, ...]} in one pass over a copy of the body, whose
 * strings are NUL-terminated in place. Parsing a 1,000-event body with jansson (an object,
 * a hash table and five strings per event) cost ~20,000 instructions per event of the
 * ~68,000 that ingesting it took on SQLite (bench/callgrind.sh).
 *
 * The reader accepts a strict subset of what http_req_json_body() + api_events_read_json()
 * accept, with the same meaning (the same strings, the same doubles through the same
 * strtod, the same defaults); anything else (escapes in strings, an unknown or repeated
 * field, a real ts, an item the API refuses, more than INGEST_MAX_ITEMS items, malformed
 * JSON) is "not read" and the caller takes the jansson path, which gives the usual result
 * or error message. Both count the integer timestamps that look like seconds alike
 * (api_ingest_ts_note). tests/fuzz/fuzz_events_body.c checks that differentially. Pure;
 * thread-safe.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/util.h"
#include "json_scan_int.h"

enum field { F_USER_ID, F_EVENT, F_VALUE, F_TS, F_ID, F_COUNT };

static int field_of(const char *s, size_t n)
{
    static const char *const names[F_COUNT] = {"user_id", "event", "value", "ts", "id"};
    for (int i = 0; i < F_COUNT; i++) {
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) {
            return i;
        }
    }
    return -1;
}

/* A plain string, NUL-terminated in place: base is the body's private copy that rd reads,
 * and the string's closing quote (read already) becomes its NUL. */
static bool read_term(struct reader *rd, char *base, const char **s, size_t *n)
{
    if (!read_plain_string(rd, s, n)) {
        return false;
    }
    base[rd->p - base - 1] = '\0';
    return true;
}

/* A plain string valid per text_id_valid(.., max), NUL-terminated in place. */
static bool read_id(struct reader *rd, char *base, size_t max, const char **out)
{
    const char *s = NULL;
    size_t n = 0;
    if (!read_term(rd, base, &s, &n) || !text_id_valid(s, n, max)) {
        return false;
    }
    *out = s;
    return true;
}

/* *numeric_ts is set when f is a ts sent as a number (api_ingest_ts_note). */
static bool read_field(struct reader *rd, char *base, int f, int64_t now, struct store_event *e,
                       bool *numeric_ts)
{
    bool b = false, is_null = false, is_int = false;
    json_int_t iv = 0;
    double x = 0;
    if (rd->p < rd->end && *rd->p == 'n') { /* null: the default, as absent */
        return read_literal(rd, &b, &is_null) && is_null && f != F_USER_ID && f != F_EVENT;
    }
    switch (f) {
    case F_USER_ID:
        return read_id(rd, base, 256, &e->user_id);
    case F_EVENT:
        return read_id(rd, base, 128, &e->event);
    case F_ID:
        return read_id(rd, base, 128, &e->id);
    case F_VALUE:
        if (!read_number(rd, &x, &is_int, &iv) || !(fabs(x) <= INGEST_VALUE_MAX) ||
            (x != 0 && fabs(x) < INGEST_VALUE_MIN)) {
            return false; /* the jansson path says why */
        }
        e->value = x;
        return true;
    default: /* F_TS: integer milliseconds or an RFC 3339 string (a real: jansson's) */
        if (rd->p < rd->end && *rd->p == '"') {
            const char *s = NULL;
            size_t sn = 0;
            if (!read_term(rd, base, &s, &sn) || time_parse_rfc3339(s, &e->ts) != 0 || e->ts < 0) {
                return false;
            }
        } else if (read_number(rd, &x, &is_int, &iv) && is_int && iv >= 0 &&
                   iv <= ((json_int_t)1 << 53)) {
            e->ts = (int64_t)iv;
            *numeric_ts = true;
        } else {
            return false;
        }
        return e->ts <= now + INGEST_FUTURE_SLACK_MS;
    }
}

/* One event object; fields absent or null take their defaults. */
static bool read_event(struct reader *rd, char *base, int64_t now, struct store_event *e,
                       bool *numeric_ts)
{
    *e = (struct store_event){.value = 1.0, .ts = now};
    *numeric_ts = false;
    unsigned seen = 0;
    if (rd->p >= rd->end || *rd->p != '{') {
        return false;
    }
    rd->p++;
    skip_ws(rd);
    if (rd->p < rd->end && *rd->p == '}') {
        return false; /* no user_id: the jansson path words the error */
    }
    for (;;) {
        const char *k = NULL;
        size_t kn = 0;
        skip_ws(rd);
        if (!read_plain_string(rd, &k, &kn)) {
            return false;
        }
        int f = field_of(k, kn);
        if (f < 0 || (seen & (1u << f)) != 0) {
            return false; /* unknown or repeated */
        }
        seen |= 1u << f;
        skip_ws(rd);
        if (rd->p >= rd->end || *rd->p != ':') {
            return false;
        }
        rd->p++;
        skip_ws(rd);
        if (!read_field(rd, base, f, now, e, numeric_ts)) {
            return false;
        }
        skip_ws(rd);
        if (rd->p < rd->end && *rd->p == ',') {
            rd->p++;
            continue;
        }
        if (rd->p < rd->end && *rd->p == '}') {
            rd->p++;
            return (seen & (1u << F_USER_ID)) != 0 && (seen & (1u << F_EVENT)) != 0;
        }
        return false;
    }
}

void api_ingest_ts_note(struct ingest_ts_low *l, size_t i, int64_t ts)
{
    if (ts < INGEST_TS_SECONDS_BELOW && l->count++ == 0) {
        l->first = i;
        l->first_ts = ts;
    }
}

int api_events_body_read(const char *body, size_t len, int64_t now, struct store_event **events,
                         size_t *n, struct ingest_ts_low *low, char **store)
{
    *events = NULL;
    *n = 0;
    *store = NULL;
    *low = (struct ingest_ts_low){0};
    struct ingest_ts_low found = {0};
    /* a NUL byte is never valid JSON text (see api_assign_body_read) */
    if (len == 0 || memchr(body, '\0', len) != NULL) {
        return -1;
    }
    char *copy = xmalloc(len + 1);
    memcpy(copy, body, len);
    copy[len] = '\0';
    struct reader rd = {copy, copy + len};
    struct store_event *ev = NULL;
    size_t count = 0, alloc = 0;
    const char *k = NULL;
    size_t kn = 0;
    skip_ws(&rd);
    if (rd.p >= rd.end || *rd.p != '{') {
        goto not_read;
    }
    rd.p++;
    skip_ws(&rd);
    if (!read_plain_string(&rd, &k, &kn) || kn != 6 || memcmp(k, "events", 6) != 0) {
        goto not_read;
    }
    skip_ws(&rd);
    if (rd.p >= rd.end || *rd.p != ':') {
        goto not_read;
    }
    rd.p++;
    skip_ws(&rd);
    if (rd.p >= rd.end || *rd.p != '[') {
        goto not_read;
    }
    rd.p++;
    for (;;) {
        skip_ws(&rd);
        if (count == INGEST_MAX_ITEMS) {
            goto not_read;
        }
        if (count == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            ev = xrealloc(ev, alloc * sizeof(*ev));
        }
        bool numeric_ts = false;
        if (!read_event(&rd, copy, now, &ev[count], &numeric_ts)) {
            goto not_read;
        }
        if (numeric_ts) {
            api_ingest_ts_note(&found, count, ev[count].ts);
        }
        count++;
        skip_ws(&rd);
        if (rd.p < rd.end && *rd.p == ',') {
            rd.p++;
            continue;
        }
        if (rd.p < rd.end && *rd.p == ']') {
            rd.p++;
            break;
        }
        goto not_read;
    }
    skip_ws(&rd);
    if (rd.p >= rd.end || *rd.p != '}') {
        goto not_read;
    }
    rd.p++;
    skip_ws(&rd);
    if (rd.p != rd.end) {
        goto not_read;
    }
    *events = ev;
    *n = count;
    *low = found;
    *store = copy;
    return 0;

not_read:
    free(ev);
    free(copy);
    return -1;
}
