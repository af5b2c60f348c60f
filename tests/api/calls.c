/*
 * calls.c - the request helpers of calls.h: requests to the daemon named by calls_use, an sdk
 * key made once per daemon, experiments taken through their lifecycle, the pieces of replies
 * tests read (an error's field, a breakdown's slice), a JSON comparison and a wait for a
 * rebuild. Owns the borrowed daemon pointer and the cached sdk key; the test's
 * thread only.
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct daemon *cur;
static char sdk[128];

void calls_use(struct daemon *d)
{
    cur = d;
    sdk[0] = '\0';
}

json_t *call_as(const char *key, const char *method, const char *path, const char *body, int want)
{
    return harness_call(cur->port, method, path, key, body, want);
}

json_t *call(const char *method, const char *path, const char *body, int want)
{
    return call_as(cur->admin_key, method, path, body, want);
}

json_t *call_json(const char *method, const char *path, json_t *body, int want)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    json_t *j = call(method, path, text, want);
    free(text);
    return j;
}

void call_json_ok(const char *method, const char *path, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    int st = 0;
    json_t *j = http_json(cur->port, method, path, cur->admin_key, text, &st);
    if (st != 200 && st != 201) {
        char *dump = j ? json_dumps(j, JSON_COMPACT) : NULL;
        fail_msg("%s %s -> %d: %s", method, path, st, dump ? dump : "");
    }
    json_decref(j);
    free(text);
}

json_t *exp_doc(const char *key, json_t *extra)
{
    json_t *o = json_pack("{s:s, s:[{s:s}, {s:s}]}", "key", key, "variants", "key", "control",
                          "key", "treatment");
    json_object_update(o, extra);
    json_decref(extra);
    return o;
}

const char *error_field(const json_t *reply)
{
    const char *f = json_string_value(json_object_get(json_object_get(reply, "error"), "field"));
    return f ? f : "";
}

const json_t *results_slice(const json_t *res, const char *value)
{
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(res, "slices"), i, s)
    {
        const char *v = json_string_value(json_object_get(s, "dimension_value"));
        if (v != NULL && strcmp(v, value) == 0) {
            return s;
        }
    }
    return NULL;
}

const char *sdk_key(void)
{
    if (sdk[0] == '\0') {
        harness_sdk_key(cur->port, cur->admin_key, sdk, sizeof(sdk));
    }
    return sdk;
}

void new_exp(const char *key, const char *fields, const char *actions)
{
    json_decref(call("POST", "/api/v1/experiments", fmt("{\"key\":\"%s\",%s}", key, fields), 201));
    char acts[128];
    snprintf(acts, sizeof(acts), "%s", actions ? actions : "");
    for (char *save = NULL, *a = strtok_r(acts, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        const char *body = NULL;
        char *eq = strchr(a, '=');
        if (eq != NULL) { /* stop=VARIANT */
            *eq = '\0';
            body = fmt("{\"release\":\"%s\"}", eq + 1);
        }
        json_decref(call("POST", fmt("/api/v1/experiments/%s/%s", key, a), body, 200));
    }
}

void assert_json_text(const json_t *v, const char *want)
{
    char *got = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (got == NULL || strcmp(got, want) != 0) {
        fail_msg("got %s, want %s", got ? got : "(null)", want);
    }
    free(got);
}

void wait_rebuilt(const char *key)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/experiments/%s/results", key);
    for (double t0 = harness_clock_s(); harness_clock_s() - t0 < HARNESS_HANG_S; usleep(20000)) {
        json_t *r = call("GET", path, NULL, 200);
        bool busy = json_object_get(r, "rebuilding") != NULL;
        json_decref(r);
        if (!busy) {
            return;
        }
    }
    fail_msg("the rebuild of %s did not finish in %d s", key, HARNESS_HANG_S);
}
