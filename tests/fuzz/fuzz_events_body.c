/*
 * fuzz_events_body.c - libFuzzer target for the fast POST /api/v1/events body reader
 * (src/api/events_body.c, api_int.h), checked differentially against the jansson path:
 * whenever api_events_body_read() accepts a body, json_loadb() with the flags every body
 * is parsed with (JSON_REJECT_DUPLICATES) must accept it as an object, and
 * api_events_read_json() must accept that with the same events: the same number, and per
 * event the same user_id, event and id strings (id absent on both or equal), the same ts
 * and a bit-identical value, and the same count of numeric timestamps that look like
 * seconds (api_ingest_ts_note: how many, the first one's index and ts). A body the reader refuses
 * is fine (the jansson path handles it); one it accepts with another meaning would store other
 * events by the shape of the bytes. Input: the body itself; `now` is fixed.
 */
#include "../../src/api/api_int.h"
#include "fuzz_common.h"

#define FUZZ_NOW 1764700000000LL

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct store_event *fast = NULL;
    size_t n = 0;
    char *store = NULL;
    struct ingest_ts_low low_fast, low_slow;
    if (api_events_body_read((const char *)data, size, FUZZ_NOW, &fast, &n, &low_fast, &store) !=
        0) {
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK(root != NULL && json_is_object(root),
               "fast reader accepted what jansson refuses: %s", root ? "not an object" : jerr.text);
    struct store_event *slow = NULL;
    size_t m = 0;
    struct err err;
    err_clear(&err);
    FUZZ_CHECK(api_events_read_json(root, FUZZ_NOW, &slow, &m, &low_slow, &err) == 0,
               "fast reader accepted what the jansson path refuses: %s", err.msg);
    FUZZ_CHECK(n == m, "%zu events read, the jansson path has %zu", n, m);
    FUZZ_CHECK(low_fast.count == low_slow.count &&
                   (low_fast.count == 0 ||
                    (low_fast.first == low_slow.first && low_fast.first_ts == low_slow.first_ts)),
               "ts before 2001: %zu items from [%zu], the jansson path %zu from [%zu]",
               low_fast.count, low_fast.first, low_slow.count, low_slow.first);
    for (size_t i = 0; i < n; i++) {
        const struct store_event *a = &fast[i], *b = &slow[i];
        FUZZ_CHECK(same_str(a->user_id, b->user_id), "events[%zu].user_id differs", i);
        FUZZ_CHECK(same_str(a->event, b->event), "events[%zu].event differs", i);
        FUZZ_CHECK(same_str(a->id, b->id), "events[%zu].id differs", i);
        FUZZ_CHECK(a->ts == b->ts, "events[%zu].ts differs (%lld, %lld)", i, (long long)a->ts,
                   (long long)b->ts);
        FUZZ_CHECK(memcmp(&a->value, &b->value, sizeof(a->value)) == 0,
                   "events[%zu].value differs (%.17g, %.17g)", i, a->value, b->value);
    }
    free(slow);
    json_decref(root);
    free(fast);
    free(store);
    return 0;
}
