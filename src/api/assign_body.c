/*
 * assign_body.c - the /assign request body read without building a jansson tree for it
 * (api_int.h): the common shape, plain strings and literals, is read in one pass; only the
 * "attributes" object, which targeting conditions evaluate as a json_t, is parsed by
 * jansson (with the same flags as every body). Parsing the whole body into a tree was the
 * largest cost of an /assign after the reply (~20 allocations for a 150-byte body).
 *
 * A flat "attributes" object of a few members ({"country":"NL"}) is not even built here:
 * the reader checks its shape and counts what api_attributes_check would, and leaves its
 * text for api_assign_attrs_build, which api_assign calls only when an experiment of the
 * request reads attributes (a condition, a hash attribute, dimensions to log): most
 * requests decide on the user id alone (docs/PERFORMANCE.md "Ninth pass").
 *
 * The reader accepts a strict subset of what http_req_json_body() + api_assign's checks
 * accept, with the same meaning; anything else (escapes in strings, an unknown or
 * repeated field, a wrong type, invalid UTF-8, user ids the API refuses, malformed JSON)
 * is "not read" and the caller takes the jansson path, which gives the usual result and
 * error message. Pure; thread-safe.
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/util.h"
#include "json_scan_int.h"

/* One member of a flat object: a plain-string name, then a plain string, a small integer,
 * true, false or null. */
struct flat_member {
    const char *k, *s;
    size_t kn, sn;
    enum { FLAT_STRING, FLAT_INT, FLAT_BOOL, FLAT_NULL } kind;
    json_int_t iv;
    bool b;
};

/* The next member of a flat object whose '{' and n members were read: 1 (into m), 0 at its
 * closing brace (read), -1 when the text is anything else. */
static int flat_next(struct reader *at, size_t n, struct flat_member *m)
{
    skip_ws(at);
    if (at->p < at->end && *at->p == '}') {
        at->p++;
        return 0;
    }
    if (n > 0) {
        if (at->p >= at->end || *at->p != ',') {
            return -1;
        }
        at->p++;
        skip_ws(at);
    }
    if (!read_plain_string(at, &m->k, &m->kn)) {
        return -1;
    }
    skip_ws(at);
    if (at->p >= at->end || *at->p != ':') {
        return -1;
    }
    at->p++;
    skip_ws(at);
    bool is_null = false;
    if (at->p < at->end && *at->p == '"') {
        m->kind = FLAT_STRING;
        return read_plain_string(at, &m->s, &m->sn) ? 1 : -1;
    }
    if (at->p < at->end && (*at->p == '-' || (*at->p >= '0' && *at->p <= '9'))) {
        m->kind = FLAT_INT;
        return read_small_int(at, &m->iv) ? 1 : -1;
    }
    if (!read_literal(at, &m->b, &is_null)) {
        return -1;
    }
    m->kind = is_null ? FLAT_NULL : FLAT_BOOL;
    return 1;
}

/* An attributes object whose values are all plain strings, small integers, true, false or
 * null (the common shape, {"country":"NL"}), built as json_loadb() builds it (the same
 * members in the same order) without jansson's lexer. NULL, with rd unmoved, for any other
 * shape (nesting, reals, escapes, a repeated name, malformed text): the caller then parses
 * the object with jansson from the same place, which gives the usual value or error. */
static json_t *read_flat_object(struct reader *rd)
{
    struct reader at = *rd;
    if (at.p >= at.end || *at.p != '{') {
        return NULL;
    }
    at.p++;
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    struct flat_member m;
    int r;
    for (size_t n = 0; (r = flat_next(&at, n, &m)) > 0; n++) {
        json_t *v = m.kind == FLAT_STRING ? json_stringn_nocheck(m.s, m.sn)
                    : m.kind == FLAT_INT  ? json_integer(m.iv)
                    : m.kind == FLAT_NULL ? json_null()
                                          : json_boolean(m.b);
        /* a repeated name is refused by the jansson path (JSON_REJECT_DUPLICATES) */
        if (v == NULL || json_object_getn(o, m.k, m.kn) != NULL) {
            json_decref(v);
            r = -1;
            break;
        }
        if (json_object_setn_new_nocheck(o, m.k, m.kn, v) != 0) { /* steals v */
            r = -1;
            break;
        }
    }
    if (r < 0) {
        json_decref(o);
        return NULL;
    }
    rd->p = at.p;
    return o;
}

/* read_flat_object's shape without building it, for objects of at most FLAT_LAZY_MAX members
 * (repeated names found by comparing them, as jansson's JSON_REJECT_DUPLICATES does): the
 * object's text and condition_check_attributes' counts (2 for the object, name + 3 per
 * member, string + 2 or 8 per value; the longest name or string) go into q. false, with rd
 * unmoved, for anything else: read_flat_object or jansson then reads it. */
#define FLAT_LAZY_MAX 16
static bool scan_flat_object(struct reader *rd, struct assign_query *q)
{
    struct reader at = *rd;
    const char *start = at.p;
    if (at.p >= at.end || *at.p != '{') {
        return false;
    }
    at.p++;
    const char *names[FLAT_LAZY_MAX];
    size_t lens[FLAT_LAZY_MAX], n = 0, bytes = 2, longest = 0;
    struct flat_member m;
    int r;
    while ((r = flat_next(&at, n, &m)) > 0) {
        if (n == FLAT_LAZY_MAX) {
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (lens[i] == m.kn && memcmp(names[i], m.k, m.kn) == 0) {
                return false;
            }
        }
        names[n] = m.k;
        lens[n++] = m.kn;
        bytes += m.kn + 3;
        longest = m.kn > longest ? m.kn : longest;
        if (m.kind == FLAT_STRING) {
            bytes += m.sn + 2;
            longest = m.sn > longest ? m.sn : longest;
        } else {
            bytes += 8;
        }
    }
    if (r < 0) {
        return false;
    }
    q->attrs_text = start;
    q->attrs_len = (size_t)(at.p - start);
    q->attrs_bytes = bytes;
    q->attrs_longest = longest;
    rd->p = at.p;
    return true;
}

json_t *api_assign_attrs_build(const struct assign_query *q)
{
    if (q->attrs_text == NULL) {
        return NULL;
    }
    struct reader rd = {q->attrs_text, q->attrs_text + q->attrs_len};
    json_t *o = read_flat_object(&rd);
    /* scan_flat_object accepted the text: read_flat_object, which takes more, reads it */
    return o != NULL ? o : json_object();
}

enum field { F_USER_ID, F_ATTRIBUTES, F_EXPERIMENTS, F_LOG_EXPOSURE, F_EXPLAIN, F_COUNT };

static int field_of(const char *s, size_t n)
{
    static const char *const names[F_COUNT] = {"user_id", "attributes", "experiments",
                                               "log_exposure", "explain"};
    for (int i = 0; i < F_COUNT; i++) {
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) {
            return i;
        }
    }
    return -1;
}

static bool read_value(struct reader *rd, int field, struct assign_query *q, json_t **attrs)
{
    bool b = false, is_null = false;
    switch (field) {
    case F_USER_ID:
        return read_plain_string(rd, &q->user_id, &q->len) &&
               text_id_valid(q->user_id, q->len, 256);
    case F_ATTRIBUTES: {
        if (rd->p < rd->end && *rd->p == 'n') {
            return read_literal(rd, &b, &is_null) && is_null;
        }
        if (rd->p >= rd->end || *rd->p != '{') {
            return false;
        }
        if (scan_flat_object(rd, q)) {
            return true; /* built when needed (api_assign_attrs_build) */
        }
        json_t *flat = read_flat_object(rd);
        if (flat != NULL) {
            *attrs = flat;
            return true;
        }
        /* jansson reads exactly one object here and says how far it got */
        json_error_t jerr;
        json_t *o = json_loadb(rd->p, (size_t)(rd->end - rd->p),
                               JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
        if (o == NULL || !json_is_object(o) || jerr.position <= 0 ||
            jerr.position > rd->end - rd->p || rd->p[jerr.position - 1] != '}') {
            json_decref(o);
            return false;
        }
        rd->p += jerr.position;
        *attrs = o;
        return true;
    }
    case F_EXPERIMENTS:
        if (rd->p < rd->end && *rd->p == 'n') {
            return read_literal(rd, &b, &is_null) && is_null;
        }
        if (rd->p >= rd->end || *rd->p != '[') {
            return false;
        }
        rd->p++;
        q->named = true;
        skip_ws(rd);
        if (rd->p < rd->end && *rd->p == ']') {
            rd->p++;
            return true;
        }
        for (;;) {
            skip_ws(rd);
            if (q->nnames == ASSIGN_MAX_NAMED ||
                !read_plain_string(rd, &q->names[q->nnames], &q->name_lens[q->nnames])) {
                return false;
            }
            q->nnames++;
            skip_ws(rd);
            if (rd->p < rd->end && *rd->p == ',') {
                rd->p++;
                continue;
            }
            if (rd->p < rd->end && *rd->p == ']') {
                rd->p++;
                return true;
            }
            return false;
        }
    default:
        if (!read_literal(rd, &b, &is_null)) {
            return false;
        }
        if (!is_null) {
            *(field == F_LOG_EXPOSURE ? &q->log_exposure : &q->explain) = b;
        }
        return true;
    }
}

int api_assign_body_read(const char *body, size_t len, struct assign_query *q, char **store,
                         json_t **attrs)
{
    memset(q, 0, sizeof(*q));
    q->log_exposure = true;
    *store = NULL;
    *attrs = NULL;
    /* A NUL byte is never valid JSON text, but jansson does not always refuse one (it skips
     * a NUL right after a number or a literal), so a nested "attributes" object read by
     * jansson alone could end early and be taken for a whole one (found by
     * tests/fuzz/fuzz_assign_body.c): such bodies take the jansson path, where
     * http_req_json_body refuses any NUL byte before jansson sees the body. */
    if (memchr(body, '\0', len) != NULL) {
        return -1;
    }
    struct reader rd = {body, body + len};
    unsigned seen = 0;
    skip_ws(&rd);
    if (rd.p >= rd.end || *rd.p != '{') {
        return -1;
    }
    rd.p++;
    for (;;) {
        skip_ws(&rd);
        const char *k;
        size_t kn;
        if (!read_plain_string(&rd, &k, &kn)) {
            goto not_read;
        }
        int f = field_of(k, kn);
        if (f < 0 || (seen & (1u << f)) != 0) {
            goto not_read; /* unknown or repeated: the jansson path words the error */
        }
        seen |= 1u << f;
        skip_ws(&rd);
        if (rd.p >= rd.end || *rd.p != ':') {
            goto not_read;
        }
        rd.p++;
        skip_ws(&rd);
        if (!read_value(&rd, f, q, attrs)) {
            goto not_read;
        }
        skip_ws(&rd);
        if (rd.p < rd.end && *rd.p == ',') {
            rd.p++;
            continue;
        }
        if (rd.p < rd.end && *rd.p == '}') {
            rd.p++;
            break;
        }
        goto not_read;
    }
    skip_ws(&rd);
    if (rd.p != rd.end || (seen & (1u << F_USER_ID)) == 0) {
        goto not_read;
    }
    /* NUL-terminated copies of the strings, which point into the body so far */
    size_t need = q->len + 1;
    for (size_t i = 0; i < q->nnames; i++) {
        need += q->name_lens[i] + 1;
    }
    char *s = xmalloc(need);
    *store = s;
    memcpy(s, q->user_id, q->len);
    s[q->len] = '\0';
    q->user_id = s;
    s += q->len + 1;
    for (size_t i = 0; i < q->nnames; i++) {
        memcpy(s, q->names[i], q->name_lens[i]);
        s[q->name_lens[i]] = '\0';
        q->names[i] = s;
        s += q->name_lens[i] + 1;
    }
    q->attrs = *attrs;
    return 0;

not_read:
    json_decref(*attrs);
    *attrs = NULL;
    return -1;
}
