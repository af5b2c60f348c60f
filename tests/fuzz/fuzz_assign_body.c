/*
 * fuzz_assign_body.c - libFuzzer target for the fast /assign body reader (src/api/
 * assign_body.c, api_int.h), checked differentially against jansson: whenever
 * api_assign_body_read() accepts a body, json_loadb() with the flags every body is parsed
 * with (JSON_REJECT_DUPLICATES) must accept it too, and the two readings must agree: the
 * object holds only known fields, "user_id" is the same string, "attributes" is equal
 * (json_equal: same members, same values) or absent/null on both sides, "experiments" the
 * same keys in the same order, and "log_exposure"/"explain" the same booleans (defaults
 * true/false). An "attributes" object left unbuilt is built (api_assign_attrs_build) and
 * compared the same way, and its counts must be condition_check_attributes' own: the
 * object passes caps equal to them and fails each cap set one below. A body the reader refuses is
 * fine (the jansson path handles it); one it accepts with another meaning would make /assign answer
 * differently by the shape of the bytes. Input: the body itself.
 */
#include "../../src/api/api_int.h"
#include "bunsen/condition.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static bool same_bool(json_t *root, const char *name, bool fast, bool dflt)
{
    json_t *v = json_object_get(root, name);
    if (v == NULL || json_is_null(v)) {
        return fast == dflt;
    }
    return json_is_boolean(v) && json_is_true(v) == fast;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct assign_query q;
    char *store = NULL;
    json_t *attrs = NULL;
    if (api_assign_body_read((const char *)data, size, &q, &store, &attrs) != 0) {
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK(root != NULL && json_is_object(root),
               "fast reader accepted what jansson refuses: %s", root ? "not an object" : jerr.text);
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        FUZZ_CHECK(strcmp(k, "user_id") == 0 || strcmp(k, "attributes") == 0 ||
                       strcmp(k, "experiments") == 0 || strcmp(k, "log_exposure") == 0 ||
                       strcmp(k, "explain") == 0,
                   "unknown field %s accepted", k);
    }
    json_t *uid = json_object_get(root, "user_id");
    FUZZ_CHECK(json_is_string(uid) && json_string_length(uid) == q.len &&
                   memcmp(json_string_value(uid), q.user_id, q.len) == 0,
               "user_id differs (fast: %.*s)", (int)q.len, q.user_id);
    json_t *ja = json_object_get(root, "attributes");
    bool lazy = q.attrs == NULL && q.attrs_text != NULL;
    json_t *built = lazy ? api_assign_attrs_build(&q) : json_incref(q.attrs);
    if (ja == NULL || json_is_null(ja)) {
        FUZZ_CHECK(built == NULL, "attributes read where jansson has %s", "none");
    } else {
        FUZZ_CHECK(built != NULL && json_equal(built, ja), "attributes differ (%s)",
                   built ? "unequal" : "missing");
    }
    if (lazy) {
        struct err err;
        struct condition_limits lim = {q.attrs_bytes, 1, 1, q.attrs_longest};
        FUZZ_CHECK(condition_check_attributes(built, &lim, "attributes", &err) == 0,
                   "unbuilt attributes fail the caps of their own counts: %s", err.msg);
        lim.max_bytes = q.attrs_bytes - 1;
        FUZZ_CHECK(condition_check_attributes(built, &lim, "attributes", &err) != 0,
                   "unbuilt attributes counted %zu bytes, more than the check", q.attrs_bytes);
        lim.max_bytes = q.attrs_bytes;
        if (q.attrs_longest > 0) {
            lim.max_string = q.attrs_longest - 1;
            FUZZ_CHECK(condition_check_attributes(built, &lim, "attributes", &err) != 0,
                       "unbuilt attributes: longest %zu, longer than the check's", q.attrs_longest);
        }
    }
    json_decref(built);
    json_t *je = json_object_get(root, "experiments");
    if (je == NULL || json_is_null(je)) {
        FUZZ_CHECK(!q.named && q.nnames == 0, "experiments read where jansson has %s", "none");
    } else {
        FUZZ_CHECK(json_is_array(je) && q.named && json_array_size(je) == q.nnames,
                   "experiments differ (fast: %zu names)", q.nnames);
        for (size_t i = 0; i < q.nnames; i++) {
            json_t *e = json_array_get(je, i);
            FUZZ_CHECK(json_is_string(e) && json_string_length(e) == q.name_lens[i] &&
                           memcmp(json_string_value(e), q.names[i], q.name_lens[i]) == 0,
                       "experiments[%zu] differs", i);
        }
    }
    FUZZ_CHECK(same_bool(root, "log_exposure", q.log_exposure, true), "log_exposure differs (%d)",
               (int)q.log_exposure);
    FUZZ_CHECK(same_bool(root, "explain", q.explain, false), "explain differs (%d)",
               (int)q.explain);
    json_decref(root);
    json_decref(attrs);
    free(store);
    return 0;
}
