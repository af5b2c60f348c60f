/*
 * ingest.c - POST /api/v1/events and POST /api/v1/exposures (API.md "Ingestion").
 *
 * Validation is all-or-nothing and happens on the request thread, before anything is
 * queued: the first bad item answers 400 with `field` naming it ("events[17].ts"). The
 * valid batch is one writer job (one savepoint): it is stored and attributed entirely or
 * not at all, and the reply follows the commit: {"accepted", "duplicates"} for events,
 * plus "conflicts" and "ignored" for exposures (reply_counts), plus a "warning" when items
 * sent a numeric ts before 2001-09-09, most likely seconds (ts_low_warning), or when exposures
 * sent a ts later than the request's arrival, stored as the arrival (ts_future_warning; up to
 * 2 s later is clock skew, stored as the arrival without a warning).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/log.h"
#include "bunsen/model.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"

/* An exposure ts up to this far after the request's arrival is clamped to the arrival without
 * a warning (clock skew between synchronised hosts); further ahead, warned and counted. */
#define INGEST_TS_AHEAD_QUIET_MS 2000

struct ingest_write {
    struct api_write w;
    json_t *body; /* owns the strings the items point into (jansson path) */
    char *text;   /* or this (events_body.c) */
    bool exposures;
    size_t n;
    int64_t ignored; /* exposures after their experiment stopped, of forced users */
    int64_t known;   /* repeats of committed first exposures, left out (drop_known) */
    struct store_ingest_counts counts;
    struct store_event *events;
    struct store_exposure *expo;
    char **dims;                 /* per exposure: the owned text expo[i].dims points to */
    struct ingest_ts_low low;    /* items whose numeric ts looks like seconds */
    struct ingest_ts_low future; /* exposures whose ts followed the arrival by more than
                                  * INGEST_TS_AHEAD_QUIET_MS: clamped to it, warned */
    int64_t now;                 /* the request's arrival (exposures), ms */
};

static int ingest_apply(struct store_tx *tx, struct api_write *w, struct err *err)
{
    struct ingest_write *iw = (struct ingest_write *)w;
    struct snapshot_cell *cell = http_req_app(w->req)->experiments;
    const struct snapshot *snap = snapshot_read_begin(cell);
    memset(&iw->counts, 0, sizeof(iw->counts));
    int rc = iw->exposures
                 ? store_ingest_exposures(tx, api_rules_of(snap), iw->expo, iw->n, &iw->counts, err)
                 : store_ingest_events(tx, api_rules_of(snap), iw->events, iw->n, &iw->counts, err);
    snapshot_read_end(cell, snap);
    return rc;
}

/* store_job.users: the user of every item (store_ingest_* lock them all) */
static void ingest_users(struct api_write *w, void (*emit)(void *ctx, const char *user_id),
                         void *ctx)
{
    const struct ingest_write *iw = (const struct ingest_write *)w;
    for (size_t i = 0; i < iw->n; i++) {
        emit(ctx, iw->exposures ? iw->expo[i].user_id : iw->events[i].user_id);
    }
}

/* The reply's "warning" for the items of l (l->count > 0) into out: the first one named, with
 * the day its ts reads as and its value in milliseconds if it was seconds (for a ts that
 * would be a date from 1973 on as seconds; a smaller one is told to leave ts out). */
static void ts_low_warning(const struct ingest_ts_low *l, bool exposures, char *out, size_t n)
{
    time_t secs = (time_t)(l->first_ts / 1000);
    struct tm tm;
    char day[16] = "?";
    if (gmtime_r(&secs, &tm) != NULL) {
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    }
    const char *what = exposures ? "exposures" : "events";
    int len;
    if (l->first_ts >= 100000000) { /* as seconds, 1973-03-03 or later: a plausible date */
        len = snprintf(out, n,
                       "%s[%zu].ts %lld is before 2001-09-09: ts is milliseconds since the epoch, "
                       "so it reads as %s; if it is seconds, send %lld or an RFC 3339 string",
                       what, l->first, (long long)l->first_ts, day, (long long)l->first_ts * 1000);
    } else { /* 0, a counter, a placeholder: "send 0" would help nobody */
        len = snprintf(out, n,
                       "%s[%zu].ts %lld is before 2001-09-09: ts is milliseconds since the epoch, "
                       "so it reads as %s; leave ts out to use the time of arrival, or send "
                       "milliseconds or an RFC 3339 string",
                       what, l->first, (long long)l->first_ts, day);
    }
    if (l->count > 1 && len > 0 && (size_t)len < n) {
        snprintf(out + len, n - (size_t)len,
                 " (%zu items of this request have a ts before 2001-09-09)", l->count);
    }
}

/* The reply's "warning" for the exposures of f (f->count > 0) whose ts was later than the
 * request's arrival (now): an exposure cannot follow its own report, so each was stored as the
 * arrival (a client clock running ahead would move its user's conversions into the pre-period). */
static void ts_future_warning(const struct ingest_ts_low *f, int64_t now, char *out, size_t n)
{
    int len = snprintf(out, n,
                       "exposures[%zu].ts is %lld ms after the request arrived (the client's "
                       "clock runs ahead?): an exposure cannot follow its report, so it is "
                       "stored as the time of arrival; leave ts out to use the time of arrival",
                       f->first, (long long)(f->first_ts - now));
    if (f->count > 1 && len > 0 && (size_t)len < n) {
        snprintf(out + len, n - (size_t)len,
                 " (%zu items of this request have a ts after its arrival)", f->count);
    }
}

/* The log line of a request with such items: warn, at most 5 per 10 s, the rest counted. */
static void ts_low_log(const struct ingest_ts_low *l, bool exposures)
{
    static struct log_limit limit;
    long not_logged = 0;
    if (!log_enabled(LOG_WARN) ||
        !log_limit_take(&limit, "ts before 2001-09-09", LOG_WARN,
                        (int64_t)(time_mono_ns() / 1000000), 5, 10000, &not_logged)) {
        return;
    }
    char field[64];
    snprintf(field, sizeof(field), "%s[%zu].ts", exposures ? "exposures" : "events", l->first);
    json_t *f =
        json_pack("{s:s, s:I, s:s, s:I}", "kind", exposures ? "exposure" : "event", "items",
                  (json_int_t)l->count, "first", field, "first_ts", (json_int_t)l->first_ts);
    if (f != NULL && not_logged > 0) {
        json_object_set_new(f, "not_logged_before", json_integer(not_logged));
    }
    log_json(LOG_WARN, "ingested a numeric ts before 2001-09-09 (seconds instead of ms?)", f);
}

static void reply_counts(struct http_req *r, struct ingest_write *iw)
{
    struct store_ingest_counts c = iw->counts;
    c.duplicates += iw->known;
    prom_count_ingest(http_req_app(r)->prom, iw->exposures, &c);
    json_t *o = json_pack("{s:I, s:I}", "accepted", (json_int_t)c.accepted, "duplicates",
                          (json_int_t)c.duplicates);
    if (iw->exposures) {
        json_object_set_new(o, "conflicts", json_integer(c.conflicts));
        json_object_set_new(o, "ignored", json_integer(iw->ignored + c.ignored));
    }
    char warning[900] = "";
    if (iw->low.count > 0) {
        ts_low_warning(&iw->low, iw->exposures, warning, 450);
        prom_count_ingest_ts_low(http_req_app(r)->prom, iw->exposures, iw->low.count);
        ts_low_log(&iw->low, iw->exposures);
    }
    if (iw->future.count > 0) { /* after the other warning, if any: "; " between them */
        size_t len = strlen(warning);
        if (len > 0) {
            snprintf(warning + len, sizeof(warning) - len, "; ");
            len += 2;
        }
        ts_future_warning(&iw->future, iw->now, warning + len, sizeof(warning) - len);
        prom_count_ingest_ts_future(http_req_app(r)->prom, iw->future.count);
    }
    if (warning[0] != '\0') {
        json_object_set_new(o, "warning", json_string(warning));
    }
    http_reply_json(r, 200, o);
}

static void ingest_render(struct api_write *w)
{
    reply_counts(w->req, (struct ingest_write *)w);
}

static void ingest_cleanup(struct api_write *w)
{
    struct ingest_write *iw = (struct ingest_write *)w;
    json_decref(iw->body);
    free(iw->text);
    free(iw->events);
    free(iw->expo);
    for (size_t i = 0; iw->dims != NULL && i < iw->n; i++) {
        free(iw->dims[i]);
    }
    free(iw->dims);
    free(iw);
}

/* How long an exposures request waits for the definitions to be brought up to date when it
 * names an experiment or variant this daemon does not know (store_catalog_refresh_within). */
#define INGEST_REFRESH_WAIT_MS 500

/* ms or RFC 3339 string; absent = now; at most 7 days ahead. */
static int read_ts(const json_t *v, const char *field, int64_t now, int64_t *out, struct err *err)
{
    if (v == NULL || json_is_null(v)) {
        *out = now;
        return 0;
    }
    if (json_is_string(v)) {
        /* an offset can put a 1970-01-01 time before the epoch: refused as -1 is */
        if (time_parse_rfc3339(json_string_value(v), out) != 0 || *out < 0) {
            return err_set(err, ERR_INVALID, field,
                           "%s must be milliseconds since the epoch or an RFC 3339 timestamp "
                           "not before 1970-01-01T00:00:00Z",
                           field);
        }
    } else if (validate_integer(v, field, 0, (int64_t)1 << 53, out, err) != 0) {
        return -1;
    }
    if (*out > now + INGEST_FUTURE_SLACK_MS) {
        return err_set(err, ERR_INVALID, field, "%s is more than 7 days in the future", field);
    }
    return 0;
}

static struct ingest_write *ingest_write_new(void)
{
    struct ingest_write *iw = xcalloc(1, sizeof(*iw));
    iw->w.apply = ingest_apply;
    iw->w.render = ingest_render;
    iw->w.cleanup = ingest_cleanup;
    iw->w.retryable = true; /* ingest_apply starts from zero counts every time */
    iw->w.users = ingest_users;
    return iw;
}

static int items_err(const char *name, struct err *err)
{
    return err_set(err, ERR_INVALID, name, "%s must be an array of 1 to %d items", name,
                   INGEST_MAX_ITEMS);
}

/* body is {"<name>": [1..10,000 items]}: *items, or -1 with err. */
static int ingest_items(const json_t *body, const char *name, const json_t **items, struct err *err)
{
    const char *const allowed[] = {name, NULL};
    *items = json_object_get(body, name);
    if (validate_known_fields(body, allowed, "", err) != 0) {
        if (*items == NULL) { /* most likely one item sent bare: say what the body is */
            size_t len = strlen(err->msg);
            snprintf(err->msg + len, sizeof(err->msg) - len,
                     ": send a batch, {\"%s\": [...]}, even of one item", name);
        }
        return -1;
    }
    if (!json_is_array(*items) || json_array_size(*items) == 0 ||
        json_array_size(*items) > INGEST_MAX_ITEMS) {
        return items_err(name, err);
    }
    return 0;
}

/* The item cap, before jansson builds the body: 8 MiB of `{}` items is 2.8 million jansson
 * objects (~660 MB for one request) by the time ingest_items could count them. false after
 * replying with ingest_items' 400. */
static bool items_within_cap(struct http_req *r, const char *name)
{
    size_t len = 0;
    const char *text = http_req_body(r, &len);
    if (api_json_count_items(text, len, name, INGEST_MAX_ITEMS) <= INGEST_MAX_ITEMS) {
        return true;
    }
    struct err err;
    err_clear(&err);
    items_err(name, &err);
    http_reply_err(r, &err);
    return false;
}

/* The common start of both endpoints: parse the body, check its shape and prepare the
 * write job (which owns the body: the items point into it). NULL after replying 400. */
static struct ingest_write *ingest_begin(struct http_req *r, const char *name, const json_t **items)
{
    if (!items_within_cap(r, name)) {
        return NULL;
    }
    json_t *body = http_req_json_body(r);
    if (body == NULL) {
        return NULL;
    }
    struct err err;
    err_clear(&err);
    if (ingest_items(body, name, items, &err) != 0) {
        http_reply_err(r, &err);
        json_decref(body);
        return NULL;
    }
    struct ingest_write *iw = ingest_write_new();
    iw->body = body;
    return iw;
}

/* Field names ("events[17].ts") are only formatted for an error: the checks run first with
 * a placeholder name and, when one fails, again with the real name for the message (they
 * are pure). Formatting five names per event cost ~7k instructions of a ~85k event. */
#define ITEM_FIELD(f, kind, i, name) snprintf(f, sizeof(f), "%s[%zu]%s", kind, i, name)

static int bad_text(struct err *err, const char *kind, size_t i, const char *name, size_t max)
{
    char f[64];
    ITEM_FIELD(f, kind, i, name);
    return err_set(err, ERR_INVALID, f, "%s must be 1 to %zu bytes of text", f, max);
}

/* A user_id that api_user_id_as_text left as it was: not text, or not 1-256 bytes of it. */
static int bad_user_id(struct err *err, const char *kind, size_t i)
{
    char f[64];
    ITEM_FIELD(f, kind, i, ".user_id");
    return err_set(err, ERR_INVALID, f,
                   "%s must be 1 to 256 bytes of text, or an integer of at most 2^53 - 1 in "
                   "magnitude (read as its decimal text)",
                   f);
}

static int read_event(const json_t *o, size_t i, int64_t now, struct store_event *e,
                      struct ingest_ts_low *low, struct err *err)
{
    static const char *const fields[] = {"user_id", "event", "value", "ts", "id", NULL};
    char f[64];
    if (!json_is_object(o)) {
        ITEM_FIELD(f, "events", i, "");
        return err_set(err, ERR_INVALID, f, "%s must be an object", f);
    }
    if (validate_known_fields(o, fields, "", err) != 0) {
        ITEM_FIELD(f, "events", i, "");
        return validate_known_fields(o, fields, f, err);
    }
    const json_t *v = json_object_get(o, "user_id");
    if (!json_is_string(v) || !text_id_valid(json_string_value(v), json_string_length(v), 256)) {
        return bad_user_id(err, "events", i);
    }
    e->user_id = json_string_value(v);
    v = json_object_get(o, "event");
    if (!json_is_string(v) || !text_id_valid(json_string_value(v), json_string_length(v), 128)) {
        return bad_text(err, "events", i, ".event", 128);
    }
    e->event = json_string_value(v);
    v = json_object_get(o, "value");
    e->value = 1.0;
    if (v != NULL && !json_is_null(v) &&
        validate_number(v, "", -INGEST_VALUE_MAX, INGEST_VALUE_MAX, &e->value, err) != 0) {
        ITEM_FIELD(f, "events", i, ".value");
        return validate_number(v, f, -INGEST_VALUE_MAX, INGEST_VALUE_MAX, &e->value, err);
    }
    if (e->value != 0 && fabs(e->value) < INGEST_VALUE_MIN) {
        ITEM_FIELD(f, "events", i, ".value");
        return err_set(err, ERR_INVALID, f,
                       "%s must be 0 or of magnitude at least 1e-100 (and at most 1e15)", f);
    }
    v = json_object_get(o, "ts");
    if (read_ts(v, "", now, &e->ts, err) != 0) {
        ITEM_FIELD(f, "events", i, ".ts");
        return read_ts(v, f, now, &e->ts, err);
    }
    if (json_is_number(v)) {
        api_ingest_ts_note(low, i, e->ts);
    }
    v = json_object_get(o, "id");
    e->id = NULL;
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v) ||
            !text_id_valid(json_string_value(v), json_string_length(v), 128)) {
            return bad_text(err, "events", i, ".id", 128);
        }
        e->id = json_string_value(v);
    }
    return 0;
}

int api_events_read_json(json_t *body, int64_t now, struct store_event **events, size_t *n,
                         struct ingest_ts_low *low, struct err *err)
{
    const json_t *items = NULL;
    *events = NULL;
    *n = 0;
    *low = (struct ingest_ts_low){0};
    if (ingest_items(body, "events", &items, err) != 0) {
        return -1;
    }
    size_t count = json_array_size(items);
    struct store_event *ev = xcalloc(count, sizeof(*ev));
    for (size_t i = 0; i < count; i++) {
        json_t *o = json_array_get(items, i);
        api_user_id_as_text(o); /* a numeric id: its text, which the item then owns */
        if (read_event(o, i, now, &ev[i], low, err) != 0) {
            *low = (struct ingest_ts_low){0};
            free(ev);
            return -1;
        }
    }
    *events = ev;
    *n = count;
    return 0;
}

void api_ingest_events(struct http_req *r)
{
    int64_t now = time_now_ms();
    size_t len = 0;
    const char *text = http_req_body(r, &len);
    struct ingest_write *iw = ingest_write_new();
    if (api_events_body_read(text, len, now, &iw->events, &iw->n, &iw->low, &iw->text) == 0) {
        iw->w.items = iw->n;
        api_write_submit(r, &iw->w);
        return;
    }
    if (!items_within_cap(r, "events")) {
        ingest_cleanup(&iw->w);
        return;
    }
    iw->body = http_req_json_body(r);
    struct err err;
    err_clear(&err);
    if (iw->body == NULL) {
        ingest_cleanup(&iw->w);
        return;
    }
    if (api_events_read_json(iw->body, now, &iw->events, &iw->n, &iw->low, &err) != 0) {
        http_reply_err(r, &err);
        ingest_cleanup(&iw->w);
        return;
    }
    iw->w.items = iw->n;
    api_write_submit(r, &iw->w);
}

static int read_exposure(struct http_req *r, const json_t *o, size_t i, int64_t now,
                         const struct snapshot *snap, struct store_exposure *x, char **dims,
                         bool *ignore, struct ingest_ts_low *low, struct ingest_ts_low *future,
                         struct err *err)
{
    static const char *const fields[] = {"experiment", "user_id",    "variant",
                                         "ts",         "attributes", NULL};
    char f[64];
    if (!json_is_object(o)) {
        ITEM_FIELD(f, "exposures", i, "");
        return err_set(err, ERR_INVALID, f, "%s must be an object", f);
    }
    if (validate_known_fields(o, fields, "", err) != 0) {
        ITEM_FIELD(f, "exposures", i, "");
        return validate_known_fields(o, fields, f, err);
    }
    const json_t *v = json_object_get(o, "experiment");
    const struct snapshot_entry *e =
        json_is_string(v) ? snapshot_find(snap, json_string_value(v)) : NULL;
    if (e == NULL) {
        ITEM_FIELD(f, "exposures", i, ".experiment");
        return err_set(err, ERR_INVALID, f, "%s is not a known experiment key", f);
    }
    if (e->x.status == ASSIGN_STATUS_DRAFT) {
        ITEM_FIELD(f, "exposures", i, ".experiment");
        return err_set(err, ERR_INVALID, f, "experiment '%s' is %s: it takes no exposures",
                       e->x.key, assign_status_name(e->x.status));
    }
    x->experiment = json_string_value(v);
    v = json_object_get(o, "user_id");
    if (!json_is_string(v) || !text_id_valid(json_string_value(v), json_string_length(v), 256)) {
        return bad_user_id(err, "exposures", i);
    }
    x->user_id = json_string_value(v);
    v = json_object_get(o, "variant");
    if (!json_is_string(v) || experiment_variant_index(&e->x, json_string_value(v)) < 0) {
        ITEM_FIELD(f, "exposures", i, ".variant");
        return err_set(err, ERR_INVALID, f, "%s is not a variant of '%s'", f, e->x.key);
    }
    x->variant = json_string_value(v);
    v = json_object_get(o, "ts");
    if (read_ts(v, "", now, &x->ts, err) != 0) {
        ITEM_FIELD(f, "exposures", i, ".ts");
        return read_ts(v, f, now, &x->ts, err);
    }
    if (json_is_number(v)) {
        api_ingest_ts_note(low, i, x->ts);
    }
    /* a ts after the arrival (a client clock running ahead; up to 7 days is accepted) would
     * put the user's t0 after conversions it reports at once, making them pre-period values:
     * the exposure happened before its report arrived, so it is stored as the arrival.
     * Up to INGEST_TS_AHEAD_QUIET_MS ahead is the skew between a client's clock and this
     * daemon's (NTP keeps hosts within milliseconds; another daemon behind a load balancer
     * may have stamped it): clamped without a warning that would ask to fix a clock */
    if (x->ts > now + INGEST_TS_AHEAD_QUIET_MS) { /* beyond clock skew: warned, counted */
        if (future->count++ == 0) {
            future->first = i;
            future->first_ts = x->ts;
        }
        x->ts = now;
    } else if (x->ts > now) { /* the skew of two synchronised clocks: clamped quietly */
        x->ts = now;
    }
    /* an archived experiment's results are frozen too (and its raw rows may be compacted):
     * an SDK holding an old payload that logs late must not lose its whole batch to a 400.
     * A user listed in `forced` (QA) is not in the experiment (in_experiment false) and
     * never counts in its results: a client that logs every assignment is ignored too. */
    *ignore = e->x.status == ASSIGN_STATUS_ARCHIVED ||
              (e->x.stopped_at > 0 && x->ts >= e->x.stopped_at) ||
              (e->x.forced != NULL && json_object_get(e->x.forced, x->user_id) != NULL);
    /* the values of the experiment's dimensions (recorded if this is the first exposure) */
    v = json_object_get(o, "attributes");
    if (v != NULL && !json_is_null(v)) {
        ITEM_FIELD(f, "exposures", i, ".attributes");
        if (!json_is_object(v)) {
            return err_set(err, ERR_INVALID, f, "%s must be an object", f);
        }
        if (api_attributes_check(http_req_app(r), v, f, err) != 0) {
            return -1;
        }
    }
    *dims = api_dims_encode(&e->x, v);
    x->dims = *dims;
    return 0;
}

static int pair_cmp(const void *a, const void *b)
{
    const struct store_exposure *x = *(const struct store_exposure *const *)a;
    const struct store_exposure *y = *(const struct store_exposure *const *)b;
    int c = strcmp(x->user_id, y->user_id);
    return c != 0 ? c : strcmp(x->experiment, y->experiment);
}

/* Leave out the exposures that only repeat a committed first exposure (store.h "Known first
 * exposures": same variant, at or after the stored time) and are the only one of their
 * (user, experiment) in the request (another could move the first exposure before them):
 * each is a duplicate, whatever else the request holds. Order kept; iw->known counts them. */
static void drop_known(struct store *s, struct ingest_write *iw)
{
    bool *known = xcalloc(iw->n + 1, sizeof(*known));
    size_t nknown = 0;
    for (size_t i = 0; i < iw->n; i++) {
        const struct store_exposure *x = &iw->expo[i];
        known[i] = store_exposed_known(s, x->experiment, x->user_id, x->variant, x->ts);
        nknown += known[i] ? 1 : 0;
    }
    if (nknown > 0 && iw->n > 1) {
        /* a pair named twice keeps all its items */
        const struct store_exposure **by = xcalloc(iw->n, sizeof(*by));
        for (size_t i = 0; i < iw->n; i++) {
            by[i] = &iw->expo[i];
        }
        qsort(by, iw->n, sizeof(*by), pair_cmp);
        for (size_t i = 0; i + 1 < iw->n; i++) {
            if (pair_cmp(&by[i], &by[i + 1]) == 0) {
                known[by[i] - iw->expo] = false;
                known[by[i + 1] - iw->expo] = false;
            }
        }
        free(by);
    }
    size_t k = 0;
    for (size_t i = 0; i < iw->n; i++) {
        if (known[i]) {
            free(iw->dims[i]);
            iw->known++;
            continue;
        }
        iw->expo[k] = iw->expo[i];
        iw->dims[k] = iw->dims[i];
        k++;
    }
    for (size_t i = k; i < iw->n; i++) {
        iw->dims[i] = NULL;
    }
    iw->n = k;
    free(known);
}

void api_ingest_exposures(struct http_req *r)
{
    const json_t *items = NULL;
    struct ingest_write *iw = ingest_begin(r, "exposures", &items);
    if (iw == NULL) {
        return;
    }
    iw->exposures = true;
    iw->expo = xcalloc(json_array_size(items), sizeof(*iw->expo));
    iw->dims = xcalloc(json_array_size(items) + 1, sizeof(*iw->dims));
    int64_t now = time_now_ms();
    iw->now = now;
    struct err err;
    err_clear(&err);
    struct snapshot_cell *cell = http_req_app(r)->experiments;
    int rc = 0;
    /* An experiment unknown here, or in another state, may have just changed on another
     * daemon (shared database): bring the definitions up to date once and look again. The
     * refresh waits at most INGEST_REFRESH_WAIT_MS (this is an HTTP thread): a database that
     * does not answer in time is a 503 + Retry-After, as a write would be, not a 400 for an
     * item that may be valid. */
    for (int attempt = 0; attempt < 2; attempt++) {
        struct err e2;
        err_clear(&e2);
        bool stale = strstr(err.field, ".experiment") != NULL || strstr(err.field, ".variant");
        if (attempt > 0 &&
            (!stale || store_catalog_refresh_within(http_req_app(r)->store, INGEST_REFRESH_WAIT_MS,
                                                    &e2) != 0)) {
            if (stale && e2.code == ERR_UNAVAILABLE) {
                err = e2;
            }
            break;
        }
        for (size_t i = 0; i <= iw->n; i++) {
            free(iw->dims[i]); /* of the attempt before */
            iw->dims[i] = NULL;
        }
        iw->n = 0;
        iw->ignored = 0;
        iw->low = (struct ingest_ts_low){0};
        iw->future = (struct ingest_ts_low){0};
        err_clear(&err);
        const struct snapshot *snap = snapshot_read_begin(cell);
        rc = 0;
        for (size_t i = 0; i < json_array_size(items) && rc == 0; i++) {
            bool ignore = false;
            json_t *o = json_array_get(items, i);
            api_user_id_as_text(o); /* a numeric id: its text, which the item then owns */
            rc = read_exposure(r, o, i, now, snap, &iw->expo[iw->n], &iw->dims[iw->n], &ignore,
                               &iw->low, &iw->future, &err);
            if (rc == 0 && ignore) {
                iw->ignored++; /* after the stop, archived or forced: nothing to store */
                free(iw->dims[iw->n]);
                iw->dims[iw->n] = NULL;
            } else if (rc != 0) {
                free(iw->dims[iw->n]); /* may hold a value when a later field failed */
                iw->dims[iw->n] = NULL;
            } else {
                iw->n++;
            }
        }
        snapshot_read_end(cell, snap);
        if (rc == 0) {
            break;
        }
    }
    if (rc != 0) {
        http_reply_err(r, &err);
        ingest_cleanup(&iw->w);
        return;
    }
    drop_known(http_req_app(r)->store, iw);
    if (iw->n == 0) { /* nothing to store: the counts are known now */
        reply_counts(r, iw);
        ingest_cleanup(&iw->w);
        return;
    }
    iw->w.items = iw->n;
    api_write_submit(r, &iw->w);
}
