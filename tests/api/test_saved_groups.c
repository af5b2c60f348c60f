/*
 * API tests for saved groups (issue 15): create / list / get / patch / delete with their
 * errors (duplicate 409, bad values 400 with the field, stale If-Match 412), starting an
 * experiment whose targeting names a missing group (400 on "targeting"), $inGroup and
 * $notInGroup in /assign (a PATCH of the group's values applies at once), the GrowthBook
 * payload's savedGroups (only the groups its features use), dateUpdated and hashAttribute,
 * deleting a group in use (409), its numbers stored with the 15 digits a GET shows, and a
 * reload reading only the groups that changed.
 * One daemon for every test.
 */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;

static int setup(void **state)
{
    (void)state;
    return daemon_start(&D, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static json_t *call(const char *method, const char *path, const char *body, int want)
{
    return harness_call(D.port, method, path, D.admin_key, body, want);
}

static const char *error_field(const json_t *e)
{
    const char *f = json_string_value(json_object_get(json_object_get(e, "error"), "field"));
    return f ? f : "";
}

/* The variant /assign gives user with attributes (JSON text) in experiment key. */
static char *variant_of(const char *key, const char *user, const char *attrs)
{
    json_t *a = call("POST", "/api/v1/assign",
                     fmt("{\"user_id\":\"%s\",\"attributes\":%s,\"experiments\":[\"%s\"],"
                         "\"log_exposure\":false}",
                         user, attrs, key),
                     200);
    const json_t *x = json_object_get(json_object_get(a, "assignments"), key);
    char *v = strdup(json_string_value(json_object_get(x, "reason")));
    json_decref(a);
    return v;
}

static void test_crud(void **state)
{
    (void)state;
    json_t *g = call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"beta\",\"attribute\":\"id\",\"values\":[\"u-1\",\"u-2\",7]}", 201);
    assert_string_equal(json_string_value(json_object_get(g, "name")), "beta");
    assert_int_equal(json_array_size(json_object_get(g, "values")), 3);
    assert_true(json_integer_value(json_object_get(g, "created_at")) > 0);
    json_decref(g);
    json_t *e = call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"beta\",\"attribute\":\"id\",\"values\":[]}", 409);
    json_decref(e);
    e = call("POST", "/api/v1/saved-groups",
             "{\"key\":\"bad\",\"attribute\":\"id\",\"values\":[\"a\",{\"x\":1}]}", 400);
    assert_string_equal(error_field(e), "values[1]");
    json_decref(e);
    e = call("POST", "/api/v1/saved-groups", "{\"key\":\"bad\",\"values\":[]}", 400);
    assert_string_equal(error_field(e), "attribute");
    json_decref(e);
    e = call("POST", "/api/v1/saved-groups", "{\"key\":\"Bad Key\",\"attribute\":\"id\"}", 400);
    assert_string_equal(error_field(e), "key");
    json_decref(e);

    /* GET has an ETag; a PATCH with a stale one is 412, with the current one 200 */
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", "/api/v1/saved-groups/beta", D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    char etag[128];
    assert_true(resp_header(&r, "ETag", etag, sizeof(etag)));
    resp_free(&r);
    char raw[1024];
    const char *body = "{\"values\":[\"u-1\",\"u-3\"]}";
    snprintf(raw, sizeof(raw),
             "PATCH /api/v1/saved-groups/beta HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
             "%s\r\nContent-Type: application/json\r\nIf-Match: \"stale\"\r\nContent-Length: "
             "%zu\r\nConnection: close\r\n\r\n%s",
             D.admin_key, strlen(body), body);
    assert_int_equal(http_raw(D.port, raw, strlen(raw), &r), 0);
    assert_int_equal(r.status, 412);
    resp_free(&r);
    snprintf(raw, sizeof(raw),
             "PATCH /api/v1/saved-groups/beta HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
             "%s\r\nContent-Type: application/json\r\nIf-Match: %s\r\nContent-Length: "
             "%zu\r\nConnection: close\r\n\r\n%s",
             D.admin_key, etag, strlen(body), body);
    assert_int_equal(http_raw(D.port, raw, strlen(raw), &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    e = call("PATCH", "/api/v1/saved-groups/beta", "{\"key\":\"other\"}", 400);
    assert_string_equal(error_field(e), "key");
    json_decref(e);

    json_t *l = call("GET", "/api/v1/saved-groups", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "saved_groups")), 1);
    json_decref(l);
    e = call("GET", "/api/v1/saved-groups/nope", NULL, 404);
    json_decref(e);
    /* audited */
    json_t *au = call("GET", "/api/v1/audit?target_type=saved_group", NULL, 200);
    char *text = json_dumps(au, 0);
    assert_non_null(strstr(text, "saved_group.update"));
    free(text);
    json_decref(au);
}

static void test_in_group(void **state)
{
    (void)state;
    json_decref(call("POST", "/api/v1/experiments",
                     "{\"key\":\"grp\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                     "\"targeting\":{\"id\":{\"$inGroup\":\"testers\"},\"company\":{"
                     "\"$notInGroup\":\"blocked\"}}}",
                     201));
    /* unknown groups: the experiment cannot start */
    json_t *e = call("POST", "/api/v1/experiments/grp/start", NULL, 400);
    assert_string_equal(error_field(e), "targeting");
    json_decref(e);
    json_decref(call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"testers\",\"attribute\":\"id\",\"values\":[\"t-1\",\"t-2\"]}",
                     201));
    e = call("POST", "/api/v1/experiments/grp/start", NULL, 400); /* blocked still missing */
    json_decref(e);
    json_decref(call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"blocked\",\"attribute\":\"company\",\"values\":[\"evil\"]}", 201));
    json_decref(call("POST", "/api/v1/experiments/grp/start", NULL, 200));

    char *r = variant_of("grp", "t-1", "{\"company\":\"acme\"}");
    assert_string_equal(r, "hashed");
    free(r);
    r = variant_of("grp", "t-1", "{\"company\":\"evil\"}");
    assert_string_equal(r, "not_targeted");
    free(r);
    r = variant_of("grp", "t-3", "{}");
    assert_string_equal(r, "not_targeted");
    free(r);
    /* the group's new values apply at once */
    json_decref(call("PATCH", "/api/v1/saved-groups/testers", "{\"values\":[\"t-3\"]}", 200));
    r = variant_of("grp", "t-3", "{}");
    assert_string_equal(r, "hashed");
    free(r);

    /* the GrowthBook payload carries the groups, dateUpdated, the hash attribute */
    json_decref(call("POST", "/api/v1/experiments",
                     "{\"key\":\"by-company\",\"variants\":[{\"key\":\"a\",\"value\":1},{\"key\":"
                     "\"b\",\"value\":2}],\"hash_attribute\":\"company\"}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/by-company/start", NULL, 200));
    /* a group no feature of the payload targets with is not published: the payload is
     * public, and sdk keys may not list groups (403) */
    json_decref(call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"payroll\",\"attribute\":\"email\",\"values\":"
                     "[\"ceo@example.com\"]}",
                     201));
    json_t *k = call("POST", "/api/v1/keys", "{\"name\":\"s\",\"role\":\"sdk\"}", 201);
    char *features = strdup(fmt("/api/features/%s", json_string_value(json_object_get(k, "key"))));
    json_decref(k);
    /* paused, its rule carries no condition: its groups are not published either */
    json_decref(call("POST", "/api/v1/experiments/grp/pause", NULL, 200));
    json_t *p = call("GET", features, NULL, 200);
    assert_null(json_object_get(json_object_get(p, "savedGroups"), "testers"));
    json_decref(p);
    json_decref(call("POST", "/api/v1/experiments/grp/resume", NULL, 200));
    p = call("GET", features, NULL, 200);
    free(features);
    const json_t *sg = json_object_get(p, "savedGroups");
    assert_int_equal(json_array_size(json_object_get(sg, "testers")), 1);
    assert_int_equal(json_array_size(json_object_get(sg, "blocked")), 1);
    assert_null(json_object_get(sg, "payroll"));
    assert_int_equal(json_object_size(sg), 2);
    assert_true(json_is_string(json_object_get(p, "dateUpdated")));
    const json_t *rule = json_array_get(
        json_object_get(json_object_get(json_object_get(p, "features"), "by-company"), "rules"), 0);
    assert_string_equal(json_string_value(json_object_get(rule, "hashAttribute")), "company");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(rule, "variations"), 1)), 2);
    json_decref(p);

    /* in use by a running experiment: 409; after the stop: deleted */
    e = call("DELETE", "/api/v1/saved-groups/testers", NULL, 409);
    json_decref(e);
    json_decref(call("POST", "/api/v1/experiments/grp/stop", NULL, 200));
    json_decref(call("DELETE", "/api/v1/saved-groups/testers", NULL, 200));
    e = call("GET", "/api/v1/saved-groups/testers", NULL, 404);
    json_decref(e);
}

/* A group at its cap of 100,000 values: /assign for members and others (each evaluation once
 * scanned the list past the per-request budget: 400 for every user). */
static void test_big_group(void **state)
{
    (void)state;
    size_t cap = 100000 * 12 + 128, len = 0;
    char *body = malloc(cap);
    len += (size_t)snprintf(body + len, cap - len,
                            "{\"key\":\"big\",\"attribute\":\"id\",\"values\":[");
    for (int i = 0; i < 100000; i++) {
        len += (size_t)snprintf(body + len, cap - len, "%s\"m%d\"", i ? "," : "", i);
    }
    snprintf(body + len, cap - len, "]}");
    json_decref(call("POST", "/api/v1/saved-groups", body, 201));
    json_decref(call("POST", "/api/v1/experiments",
                     "{\"key\":\"bigx\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                     "\"targeting\":{\"id\":{\"$inGroup\":\"big\"}}}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/bigx/start", NULL, 200));
    static const char *const users[] = {"m0", "m99999", "m100000", "x"};
    for (int i = 0; i < 4; i++) {
        char *r = variant_of("bigx", users[i], fmt("{\"id\":\"%s\"}", users[i]));
        assert_string_equal(r, i < 2 ? "hashed" : "not_targeted");
        free(r);
    }
    /* four edits of the whole list */
    for (int e = 0; e < 4; e++) {
        len = (size_t)snprintf(body, cap, "{\"values\":[");
        for (int i = 0; i < 100000; i++) {
            len += (size_t)snprintf(body + len, cap - len, "%s\"m%d\"", i ? "," : "",
                                    i == 99999 ? 99999 + e + 1 : i);
        }
        snprintf(body + len, cap - len, "]}");
        json_decref(call("PATCH", "/api/v1/saved-groups/big", body, 200));
    }
    json_decref(call("PATCH", "/api/v1/saved-groups/big", "{\"values\":[\"m0\",\"m99999\"]}", 200));
    free(body);
    /* audited without the values (two copies of 100,000 per edit held the writer): their
     * count and hash, which tell the edits apart; the create and five edits, on one page */
    json_t *a = call("GET", "/api/v1/audit?target_type=saved_group&target=big", NULL, 200);
    const json_t *es = json_object_get(a, "entries");
    assert_int_equal(json_array_size(es), 6);
    char prev_hash[64] = "";
    for (size_t i = 0; i < 6; i++) {
        const json_t *e = json_array_get(es, i);
        const json_t *after = json_object_get(e, "after"), *bef = json_object_get(e, "before");
        assert_null(json_object_get(after, "values"));
        assert_int_equal(json_integer_value(json_object_get(after, "values_count")),
                         i == 0 ? 2 : 100000);
        assert_string_equal(json_string_value(json_object_get(after, "attribute")), "id");
        const char *h = json_string_value(json_object_get(after, "values_hash"));
        assert_non_null(h);
        assert_int_equal(strlen(h), 32);
        assert_string_not_equal(h, prev_hash);
        if (i < 5) {
            /* newest first: this entry's before is the next (older) one's after */
            assert_null(json_object_get(bef, "values"));
            assert_int_equal(json_integer_value(json_object_get(bef, "values_count")), 100000);
            const json_t *older = json_object_get(json_array_get(es, i + 1), "after");
            assert_string_equal(json_string_value(json_object_get(bef, "values_hash")),
                                json_string_value(json_object_get(older, "values_hash")));
        } else {
            assert_true(json_is_null(bef));
            assert_string_equal(json_string_value(json_object_get(e, "action")),
                                "saved_group.create");
        }
        snprintf(prev_hash, sizeof(prev_hash), "%s", h);
    }
    assert_true(json_is_null(json_object_get(a, "next_before")));
    json_decref(a);
}

/* 100,000 ids of a dozen characters (~1.4 MB) fit a group's body (it got 413 at the 1 MiB of
 * other bodies), and ?values=false lists the groups without their values. */
static void test_group_of_long_ids(void **state)
{
    (void)state;
    size_t cap = 100000 * 16 + 128, len = 0;
    char *body = malloc(cap);
    len += (size_t)snprintf(body + len, cap - len,
                            "{\"key\":\"ids\",\"attribute\":\"id\",\"values\":[");
    for (int i = 0; i < 100000; i++) {
        len += (size_t)snprintf(body + len, cap - len, "%s\"user-%06d\"", i ? "," : "", i);
    }
    snprintf(body + len, cap - len, "]}");
    assert_true(len > (1u << 20));
    json_decref(call("POST", "/api/v1/saved-groups", body, 201));
    free(body);
    json_t *l = call("GET", "/api/v1/saved-groups?values=false", NULL, 200);
    const json_t *arr = json_object_get(l, "saved_groups");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *g = json_array_get(arr, i);
        assert_null(json_object_get(g, "values"));
        if (strcmp(json_string_value(json_object_get(g, "key")), "ids") == 0) {
            assert_int_equal(json_integer_value(json_object_get(g, "values_count")), 100000);
            seen = true;
        }
    }
    assert_true(seen);
    json_decref(l);
    json_decref(call("GET", "/api/v1/saved-groups?values=maybe", NULL, 400));
}

static void first_doc(void *ctx, const char *const *cols, int ncols)
{
    json_t **out = ctx;
    if (*out == NULL && ncols > 0) {
        *out = json_loads(cols[0], 0, NULL);
    }
}

/* values[i] of group key as stored (every digit). */
static double stored_value(const char *key, size_t i)
{
    json_t *doc = NULL;
    daemon_db_rows(&D, fmt("SELECT doc FROM saved_groups WHERE key = '%s'", key), first_doc, &doc);
    assert_non_null(doc);
    const json_t *v = json_array_get(json_object_get(doc, "values"), i);
    assert_true(json_is_real(v));
    double x = json_real_value(v);
    json_decref(doc);
    return x;
}

/* A group's numbers are kept as sent (s24; they were rounded to 15 digits) and a GET shows
 * them exactly (123456789.123456789 as 123456789.12345679, not 123456789.123457), so $inGroup
 * matches what the group shows, and a GET body PATCHed back with one member changed keeps
 * the others. A list stored with 17 digits: its GET body sent back keeps them, the same
 * numbers rounded to 15 digits are stored as sent. */
static void test_group_reals(void **state)
{
    (void)state;
    json_decref(call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"scores\",\"attribute\":\"score\",\"values\":[\"a\","
                     "0.12345678901234567,2,123456789.123456789]}",
                     201));
    struct resp raw = {0};
    assert_int_equal(
        http_req(D.port, "GET", "/api/v1/saved-groups/scores", D.admin_key, NULL, &raw), 0);
    if (strstr(raw.body, "[\"a\",0.12345678901234566,2,123456789.12345679]") == NULL) {
        fail_msg("GET shows %s", raw.body);
    }
    resp_free(&raw);
    json_t *g = call("GET", "/api/v1/saved-groups/scores", NULL, 200);
    /* one member changed in the GET body: the others are kept exactly */
    json_array_set_new(json_object_get(g, "values"), 2, json_integer(3));
    json_t *patch = json_pack("{s:O}", "values", json_object_get(g, "values"));
    char *body = json_dumps(patch, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(patch);
    json_decref(g);
    json_decref(call("PATCH", "/api/v1/saved-groups/scores", body, 200));
    free(body);
    assert_true(stored_value("scores", 1) == 0.12345678901234567);
    assert_true(stored_value("scores", 3) == 123456789.123456789);
    json_decref(call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"huge\",\"attribute\":\"score\",\"values\":[1,"
                     "-1.7976931348623157e308]}",
                     201));
    json_decref(call("POST", "/api/v1/experiments",
                     "{\"key\":\"by-score\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                     "\"targeting\":{\"score\":{\"$inGroup\":\"scores\"}}}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/by-score/start", NULL, 200));
    char *r = variant_of("by-score", "u-1", "{\"score\":0.12345678901234567}");
    assert_string_equal(r, "hashed");
    free(r);
    r = variant_of("by-score", "u-1", "{\"score\":0.123456789012346}");
    assert_string_equal(r, "not_targeted");
    free(r);

    /* stored with 17 digits: its GET body sent back keeps them */
    json_decref(call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"old-scores\",\"attribute\":\"score\",\"values\":[0.8125]}", 201));
    assert_int_equal(daemon_stop(&D), 0);
    daemon_db_exec(&D,
                   "UPDATE saved_groups SET doc = replace(doc, '0.8125', '0.12345678901234567') "
                   "WHERE key = 'old-scores'",
                   0);
    assert_int_equal(daemon_restart(&D, NULL), 0);
    g = call("GET", "/api/v1/saved-groups/old-scores", NULL, 200);
    body = json_dumps(g, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(g);
    json_decref(call("PATCH", "/api/v1/saved-groups/old-scores", body, 200));
    free(body);
    assert_true(stored_value("old-scores", 0) == 0.12345678901234567);
    /* a PATCH of its name alone keeps them too */
    json_decref(call("PATCH", "/api/v1/saved-groups/old-scores", "{\"name\":\"Old\"}", 200));
    assert_true(stored_value("old-scores", 0) == 0.12345678901234567);
    /* the number rounded to 15 digits is another number: stored as sent */
    json_decref(
        call("PATCH", "/api/v1/saved-groups/old-scores", "{\"values\":[0.123456789012346]}", 200));
    assert_true(stored_value("old-scores", 0) == 0.123456789012346);
}

struct edit {
    pthread_t th;
    const char *body;
    int status;
};

static void *edit_main(void *arg)
{
    struct edit *e = arg;
    struct resp r;
    e->status = http_req(D.port, "PATCH", "/api/v1/saved-groups/pair", D.admin_key, e->body, &r)
                    ? -1
                    : r.status;
    if (e->status != -1) {
        resp_free(&r);
    }
    return NULL;
}

/* Edits are built on the request thread from the stored group as read then, and stored by the
 * writer only when that is still the stored one: two edits of different fields at once both
 * stay (the later one is built again, in the transaction, on the earlier one's result). The
 * reply's ETag is the stored one's, and a stale If-Match is a 412 before the body's 400. */
static void test_concurrent_edits(void **state)
{
    (void)state;
    json_decref(call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"pair\",\"attribute\":\"id\",\"values\":[\"a\"]}", 201));
    for (int i = 0; i < 20; i++) {
        char name[64], desc[64];
        snprintf(name, sizeof(name), "{\"name\":\"n%d\"}", i);
        snprintf(desc, sizeof(desc), "{\"description\":\"d%d\"}", i);
        struct edit a = {.body = name}, b = {.body = desc};
        assert_int_equal(pthread_create(&a.th, NULL, edit_main, &a), 0);
        assert_int_equal(pthread_create(&b.th, NULL, edit_main, &b), 0);
        pthread_join(a.th, NULL);
        pthread_join(b.th, NULL);
        assert_int_equal(a.status, 200);
        assert_int_equal(b.status, 200);
        json_t *g = call("GET", "/api/v1/saved-groups/pair", NULL, 200);
        assert_string_equal(json_string_value(json_object_get(g, "name")), fmt("n%d", i));
        assert_string_equal(json_string_value(json_object_get(g, "description")), fmt("d%d", i));
        json_decref(g);
    }
    /* the PATCH reply's ETag is the stored document's */
    struct resp r;
    assert_int_equal(
        http_req(D.port, "PATCH", "/api/v1/saved-groups/pair", D.admin_key, "{\"name\":\"x\"}", &r),
        0);
    assert_int_equal(r.status, 200);
    char put_tag[128], get_tag[128];
    assert_true(resp_header(&r, "ETag", put_tag, sizeof(put_tag)));
    resp_free(&r);
    assert_int_equal(http_req(D.port, "GET", "/api/v1/saved-groups/pair", D.admin_key, NULL, &r),
                     0);
    assert_true(resp_header(&r, "ETag", get_tag, sizeof(get_tag)));
    resp_free(&r);
    assert_string_equal(put_tag, get_tag);
    /* stale If-Match with a bad body: 412 (the precondition first), as for other documents */
    assert_int_equal(http_req_hdr(D.port, "PATCH", "/api/v1/saved-groups/pair", D.admin_key,
                                  "If-Match: \"stale\"\r\n", "application/json", "{\"values\":7}",
                                  12, &r),
                     0);
    assert_int_equal(r.status, 412);
    resp_free(&r);
    assert_int_equal(http_req_hdr(D.port, "PATCH", "/api/v1/saved-groups/pair", D.admin_key,
                                  fmt("If-Match: %s\r\n", get_tag), "application/json",
                                  "{\"values\":7}", 12, &r),
                     0);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    json_decref(call("PATCH", "/api/v1/saved-groups/nope", "{\"name\":\"x\"}", 404));
}

/* bunsen_saved_group_loads_total: the groups catalogue reloads read and parsed. */
static long group_loads(void)
{
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", "/metrics", D.admin_key, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    static const char want[] = "\nbunsen_saved_group_loads_total ";
    const char *at = strstr(r.body, want);
    long n = at != NULL ? strtol(at + strlen(want), NULL, 10) : -1;
    resp_free(&r);
    return n;
}

/* A reload reads only the groups whose version moved (migration 0017): an edit of one group
 * loads that one, not the others (it read and hashed every group's text: 8 groups of 100,000
 * values on each edit); a reload without a group change loads none; a group deleted and
 * created again under its key is loaded with its new values. */
static void test_reload_loads_changed_only(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++) {
        json_decref(call("POST", "/api/v1/saved-groups",
                         fmt("{\"key\":\"rl%d\",\"attribute\":\"id\",\"values\":[\"u%d\"]}", i, i),
                         201));
    }
    long n0 = group_loads();
    assert_true(n0 >= 4);
    json_decref(call("PATCH", "/api/v1/saved-groups/rl1", "{\"values\":[\"u1\",\"v1\"]}", 200));
    assert_int_equal(group_loads(), n0 + 1);
    json_decref(call("PATCH", "/api/v1/saved-groups/rl2", "{\"name\":\"renamed\"}", 200));
    assert_int_equal(group_loads(), n0 + 2);
    /* a definition change that is not a group's: the catalogue reloads, no group is read */
    json_decref(call("POST", "/api/v1/experiments",
                     "{\"key\":\"rlx\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                     "\"targeting\":{\"id\":{\"$inGroup\":\"rl3\"}}}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/rlx/start", NULL, 200));
    assert_int_equal(group_loads(), n0 + 2);
    char *v = variant_of("rlx", "u3", "{\"id\":\"u3\"}");
    assert_string_equal(v, "hashed");
    free(v);
    /* rl0, unused, deleted and created again with other values: a new version, loaded */
    json_decref(call("DELETE", "/api/v1/saved-groups/rl0", NULL, 200));
    json_decref(call("POST", "/api/v1/saved-groups",
                     "{\"key\":\"rl0\",\"attribute\":\"id\",\"values\":[\"w0\"]}", 201));
    assert_int_equal(group_loads(), n0 + 3);
    json_decref(call("POST", "/api/v1/experiments",
                     "{\"key\":\"rly\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                     "\"targeting\":{\"id\":{\"$inGroup\":\"rl0\"}}}",
                     201));
    json_decref(call("POST", "/api/v1/experiments/rly/start", NULL, 200));
    v = variant_of("rly", "w0", "{\"id\":\"w0\"}");
    assert_string_equal(v, "hashed");
    free(v);
    v = variant_of("rly", "u0", "{\"id\":\"u0\"}");
    assert_string_equal(v, "not_targeted");
    free(v);
    assert_int_equal(group_loads(), n0 + 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crud),
        cmocka_unit_test(test_in_group),
        cmocka_unit_test(test_big_group),
        cmocka_unit_test(test_group_of_long_ids),
        cmocka_unit_test(test_group_reals),
        cmocka_unit_test(test_concurrent_edits),
        cmocka_unit_test(test_reload_loads_changed_only),
    };
    return cmocka_run_group_tests_name("api_saved_groups", tests, setup, teardown);
}
