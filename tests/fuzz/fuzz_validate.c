/*
 * fuzz_validate.c - libFuzzer target for the typed JSON readers that ingestion and the
 * catalogue share (model.h "validation helpers": validate_known_fields, validate_text,
 * validate_key, validate_number, validate_integer, validate_json_depth).
 *
 * The input is a request body, parsed as http_req_json_body() parses it. Every value in
 * the tree (up to a budget) goes through every helper with the bounds their callers use
 * (src/api/ingest.c: ids 1..256 and 1..128 bytes, values in [-1e15, 1e15], ts in
 * [0, 2^53]; src/core: keys, hash_version [1, 2], window_hours [1, 87600], multiline
 * text), and each answer is compared with a reference written from API.md; an accepted
 * value must come out unchanged and inside the bounds. A batch {"events": [...]} or
 * {"exposures": [...]} is also read item by item the way ingest.c reads it (field names
 * and order, RFC 3339 or integer ts, the 7-day future limit) to exercise the field paths
 * ("events[17].ts") of the error replies. The HTTP side of ingestion is covered by
 * tests/api/test_hostile.c.
 */
#include <math.h>

#include "bunsen/model.h"
#include "bunsen/util.h"
#include "fuzz_common.h"

#define VALUE_BUDGET 4096

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1);
    return 0;
}

static int ref_depth(const json_t *v)
{
    int deepest = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)(uintptr_t)v, k, c)
        {
            int d = ref_depth(c);
            deepest = d > deepest ? d : deepest;
        }
        return 1 + deepest;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            int d = ref_depth(c);
            deepest = d > deepest ? d : deepest;
        }
        return 1 + deepest;
    }
    return 0;
}

static void check_refused(int rc, const struct err *err, const char *field)
{
    FUZZ_CHECK(rc == -1 && err->code == ERR_INVALID && strncmp(err->field, field, 63) == 0 &&
                   err->msg[0] != '\0',
               "refusal of %s: rc %d code %d field '%s'", field, rc, (int)err->code, err->field);
    /* http_reply_err() hands field and message to jansson, which refuses invalid UTF-8
     * (fixed bug, test_fuzz_regressions.c: "%.40s" / "%.60s" cut a character in two). */
    FUZZ_CHECK_KNOWN(utf8_valid(err->field, strlen(err->field)) &&
                         utf8_valid(err->msg, strlen(err->msg)),
                     "error field or message is not UTF-8: '%s' '%s'", err->field, err->msg);
}

static void check_text(const json_t *v, size_t min, size_t max, bool multiline)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    /* ids take the first rule (text_id_valid), names and texts both */
    bool want_id = s != NULL && ref_text_valid((const uint8_t *)s, n, min, max, multiline);
    bool visible = want_id && ref_text_visible((const uint8_t *)s, n);
    /* written by a client, the invisible-character rule too; read back from storage
     * (MODEL_LOAD), only the first: stored texts may predate it */
    static const enum model_mode modes[] = {MODEL_CREATE, MODEL_PATCH, MODEL_LOAD};
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        bool want = modes[m] == MODEL_LOAD ? want_id : visible;
        char out[MODEL_TEXT_MAX + 1];
        struct err err;
        err_clear(&err);
        int rc = validate_text(v, modes[m], "f.text", min, max, multiline, out, sizeof(out), &err);
        if (want) {
            FUZZ_CHECK(rc == 0 && strlen(out) == n && memcmp(out, s, n) == 0,
                       "validate_text(mode %d, %zu..%zu, %d) refused or changed valid text",
                       (int)modes[m], min, max, multiline);
        } else {
            check_refused(rc, &err, "f.text");
        }
    }
    if (!multiline && min == 1) {
        /* the same rule as text_id_valid(): ids, event names */
        FUZZ_CHECK(want_id == (s != NULL && text_id_valid(s, n, max)), "text_id_valid disagrees");
    }
}

static void check_key(const json_t *v)
{
    const char *s = json_string_value(v);
    bool want = s != NULL && strlen(s) == json_string_length(v) && ref_key_valid(s);
    char out[MODEL_KEY_MAX + 1];
    struct err err;
    err_clear(&err);
    int rc = validate_key(v, "f.key", out, &err);
    if (want) {
        FUZZ_CHECK(rc == 0 && strcmp(out, s) == 0, "validate_key refused or changed '%s'", s);
    } else {
        check_refused(rc, &err, "f.key");
    }
}

static void check_number(const json_t *v, double lo, double hi)
{
    double x = json_number_value(v);
    bool want = json_is_number(v) && isfinite(x) && x >= lo && x <= hi;
    double out = NAN;
    struct err err;
    err_clear(&err);
    int rc = validate_number(v, "f.num", lo, hi, &out, &err);
    if (want) {
        FUZZ_CHECK(rc == 0 && out == x, "validate_number refused %.17g in [%g, %g]", x, lo, hi);
    } else {
        check_refused(rc, &err, "f.num");
    }
}

static void check_integer(const json_t *v, int64_t lo, int64_t hi)
{
    bool want = false;
    int64_t value = 0;
    if (json_is_integer(v)) {
        value = json_integer_value(v);
        want = value >= lo && value <= hi;
        /* Known bug (tests/unit/test_fuzz_regressions.c): validate_integer() compares an
         * integer as a double, so 2^53 + 1 passes the [0, 2^53] check of ingest ts. */
        if (fuzz_ignore_known() && !want && (double)value >= (double)lo &&
            (double)value <= (double)hi) {
            return;
        }
    } else if (json_is_real(v)) {
        double r = json_real_value(v);
        want = r == floor(r) && r >= (double)lo && r <= (double)hi;
        value = want ? (int64_t)r : 0;
    }
    int64_t out = INT64_MIN;
    struct err err;
    err_clear(&err);
    int rc = validate_integer(v, "f.int", lo, hi, &out, &err);
    if (rc == 0) {
        FUZZ_CHECK(out >= lo && out <= hi, "validate_integer returned %lld outside [%lld, %lld]",
                   (long long)out, (long long)lo, (long long)hi);
    }
    if (want) {
        FUZZ_CHECK(rc == 0 && out == value, "validate_integer refused or changed %lld",
                   (long long)value);
    } else {
        check_refused(rc, &err, "f.int");
    }
}

static void check_value(const json_t *v)
{
    check_text(v, 1, 256, false);
    check_text(v, 1, 128, false);
    check_text(v, 0, MODEL_NAME_MAX, false);
    check_text(v, 0, MODEL_TEXT_MAX, true);
    check_key(v);
    check_number(v, -1e15, 1e15);
    check_number(v, 0, 1);
    check_integer(v, 0, (int64_t)1 << 53);
    check_integer(v, 1, 2);
    check_integer(v, 1, 24 * 365 * 10);
    for (int limit = -1; limit <= 3; limit++) {
        int got = validate_json_depth(v, limit), want = ref_depth(v);
        FUZZ_CHECK((got > limit) == (want > limit) && (want > limit || got == want),
                   "validate_json_depth(limit %d) %d, reference %d", limit, got, want);
    }
}

/* Every value in the tree, depth first, until the budget runs out. */
static void walk(const json_t *v, size_t *budget)
{
    if (*budget == 0) {
        return;
    }
    (*budget)--;
    check_value(v);
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)(uintptr_t)v, k, c)
        {
            walk(c, budget);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            walk(c, budget);
        }
    }
}

static void check_known_fields(const json_t *obj, const char *const *allowed, const char *prefix)
{
    char want[64] = "";
    bool unknown = false;
    const char *k;
    json_t *c;
    json_object_foreach((json_t *)(uintptr_t)obj, k, c)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++) {
            ok = ok || strcmp(k, allowed[i]) == 0;
        }
        if (!ok) {
            snprintf(want, sizeof(want), "%s%s%.40s", prefix, prefix[0] ? "." : "", k);
            utf8_repair(want); /* err_set's contract: a cut character becomes '?' */
            unknown = true;
            break;
        }
    }
    struct err err;
    err_clear(&err);
    int rc = validate_known_fields(obj, allowed, prefix, &err);
    if (!unknown) {
        FUZZ_CHECK(rc == 0, "validate_known_fields refused '%s'", err.field);
    } else {
        check_refused(rc, &err, want);
    }
}

/* ingest.c's read_ts: ms or RFC 3339, absent = now, at most 7 days ahead. */
static int read_ts(const json_t *v, const char *field, int64_t now, int64_t *out, struct err *err)
{
    if (v == NULL || json_is_null(v)) {
        *out = now;
        return 0;
    }
    if (json_is_string(v)) {
        if (time_parse_rfc3339(json_string_value(v), out) != 0 || *out < 0) {
            return err_set(err, ERR_INVALID, field, "bad ts");
        }
    } else if (validate_integer(v, field, 0, (int64_t)1 << 53, out, err) != 0) {
        return -1;
    }
    if (*out > now + 7LL * 24 * 3600 * 1000) {
        return err_set(err, ERR_INVALID, field, "future");
    }
    return 0;
}

/* One item of a batch, as ingest.c reads it; accepted items must satisfy API.md. */
static void read_item(const json_t *o, size_t i, bool exposures)
{
    static const char *const event_fields[] = {"user_id", "event", "value", "ts", "id", NULL};
    static const char *const exposure_fields[] = {"experiment", "user_id", "variant", "ts", NULL};
    const char *name = exposures ? "exposures" : "events";
    char f[64];
    snprintf(f, sizeof(f), "%s[%zu]", name, i);
    if (!json_is_object(o)) {
        return;
    }
    check_known_fields(o, exposures ? exposure_fields : event_fields, f);
    struct err err;
    err_clear(&err);
    const json_t *v = json_object_get(o, "user_id");
    if (!json_is_string(v) || !text_id_valid(json_string_value(v), json_string_length(v), 256)) {
        return;
    }
    FUZZ_CHECK(strlen(json_string_value(v)) == json_string_length(v), "NUL inside a user_id");
    if (!exposures) {
        v = json_object_get(o, "event");
        if (!json_is_string(v) ||
            !text_id_valid(json_string_value(v), json_string_length(v), 128)) {
            return;
        }
        double value = 1.0;
        v = json_object_get(o, "value");
        snprintf(f, sizeof(f), "events[%zu].value", i);
        if (v != NULL && !json_is_null(v) && validate_number(v, f, -1e15, 1e15, &value, &err)) {
            check_refused(-1, &err, f);
            return;
        }
        FUZZ_CHECK(isfinite(value) && fabs(value) <= 1e15, "event value %g", value);
    }
    int64_t now = 1764331200000, ts = -1;
    snprintf(f, sizeof(f), "%s[%zu].ts", name, i);
    if (read_ts(json_object_get(o, "ts"), f, now, &ts, &err) != 0) {
        check_refused(-1, &err, f);
        return;
    }
    FUZZ_CHECK(ts >= 0 && ts <= now + 7LL * 24 * 3600 * 1000, "ts %lld accepted", (long long)ts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = fuzz_json(data, size, 0);
    if (doc == NULL) {
        return 0;
    }
    size_t budget = VALUE_BUDGET;
    walk(doc, &budget);
    if (json_is_object(doc)) {
        static const char *const events[] = {"events", NULL};
        static const char *const exposures[] = {"exposures", NULL};
        check_known_fields(doc, events, "");
        check_known_fields(doc, exposures, "");
        const json_t *items = json_object_get(doc, "events");
        bool expo = items == NULL;
        if (expo) {
            items = json_object_get(doc, "exposures");
        }
        for (size_t i = 0; i < json_array_size(items) && i < 10000; i++) {
            read_item(json_array_get(items, i), i, expo);
        }
    }
    json_decref(doc);
    return 0;
}
