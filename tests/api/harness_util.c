/*
 * harness_util.c - small readers shared by the API tests (harness.h: harness_metric_value,
 * str, slurp, harness_fill_disk, http_status, harness_key, harness_count, harness_wait_text):
 * one series of a daemon's /metrics, a string member of a JSON object, a whole file; a file
 * that fills a file system; a request's status, a new key, a line the daemon logs, and the
 * newest schema version compiled in (harness_schema_newest). Also the
 * setup shortcuts (harness_sdk_key*, harness_metric, harness_started_experiment,
 * harness_ratio_metrics, harness_start_with_key, harness_stop). Split from harness.c, which
 * starts daemons and speaks HTTP to them. Everything runs on the caller's thread.
 */
#include "harness.h"

#include "bunsen/migrations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

double harness_metric_value(int port, const char *key, const char *series)
{
    struct resp r;
    assert_int_equal(http_req(port, "GET", "/metrics", key, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    double v = -1;
    size_t len = strlen(series);
    /* whole lines only: "name " or "name{labels} " at a line's start, never a HELP line or a
     * longer name that starts with this one */
    for (const char *at = r.body; at != NULL && *at != '\0'; at = strchr(at, '\n')) {
        at += *at == '\n' ? 1 : 0;
        if (strncmp(at, series, len) == 0 && at[len] == ' ') {
            v = strtod(at + len + 1, NULL);
            break;
        }
    }
    resp_free(&r);
    return v;
}

const char *str(const json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s ? s : "(none)";
}

char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return calloc(1, 1);
    }
    /* read to the end, not to a size asked first: /proc files say 0 */
    size_t cap = 4096, len = 0, got;
    char *s = malloc(cap);
    while (s != NULL && (got = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            char *t = realloc(s, cap * 2);
            if (t == NULL) {
                break;
            }
            s = t;
            cap *= 2;
        }
    }
    if (s != NULL) {
        s[len] = '\0';
    }
    fclose(f);
    return s != NULL ? s : calloc(1, 1);
}

void harness_fill_disk(const char *path)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    static char block[65536];
    while (fwrite(block, 1, sizeof(block), f) == sizeof(block)) {
    }
    fclose(f);
    f = fopen(path, "ab"); /* the last partial block */
    while (f != NULL && fputc(0, f) != EOF && fflush(f) == 0) {
    }
    if (f != NULL) {
        fclose(f);
    }
}

int http_status(int port, const char *method, const char *path, const char *key, const char *body)
{
    struct resp r;
    if (http_req(port, method, path, key, body, &r) != 0) {
        return -1;
    }
    int st = r.status;
    resp_free(&r);
    return st;
}

void harness_key(const struct daemon *d, const char *role, char *out, size_t n, char *id,
                 size_t idn)
{
    static int made; /* key names are unique among active keys */
    int st = 0;
    json_t *j = http_json(d->port, "POST", "/api/v1/keys", d->admin_key,
                          fmt("{\"name\":\"t-%s-%d\",\"role\":\"%s\"}", role, ++made, role), &st);
    assert_int_equal(st, 201);
    snprintf(out, n, "%s", json_string_value(json_object_get(j, "key")));
    if (id != NULL) {
        snprintf(id, idn, "%s", json_string_value(json_object_get(j, "id")));
    }
    json_decref(j);
}

int harness_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

int harness_wait_text(const char *path, const char *needle, int n)
{
    int got = 0;
    for (double t0 = harness_clock_s(); harness_clock_s() - t0 < HARNESS_HANG_S; usleep(10000)) {
        char *text = slurp(path);
        got = harness_count(text, needle);
        free(text);
        if (got >= n) {
            break;
        }
    }
    return got;
}

/* The string field name of j copied into out (cap bytes), failing the test when it is missing
 * or does not fit. */
static void copy_field(const json_t *j, const char *name, char *out, size_t cap)
{
    const char *v = json_string_value(json_object_get(j, name));
    if (v == NULL || strlen(v) >= cap) {
        fail_msg("field %s: %s", name, v == NULL ? "missing" : "too long");
    }
    snprintf(out, cap, "%s", v);
}

void harness_sdk_key_named(int port, const char *admin, const char *name, char *out, size_t cap,
                           char *id, size_t id_cap)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"sdk\"}", name);
    json_t *j = harness_call(port, "POST", "/api/v1/keys", admin, body, 201);
    copy_field(j, "key", out, cap);
    if (id != NULL) {
        copy_field(j, "id", id, id_cap);
    }
    json_decref(j);
}

void harness_sdk_key(int port, const char *admin, char *out, size_t cap)
{
    static int made; /* key names are unique among active keys */
    char name[32];
    snprintf(name, sizeof(name), "sdk-%d", ++made);
    harness_sdk_key_named(port, admin, name, out, cap, NULL, 0);
}

void harness_metric(int port, const char *admin, const char *body)
{
    json_decref(harness_call(port, "POST", "/api/v1/metrics", admin, body, 201));
}

void harness_started_experiment(int port, const char *admin, const char *key, const char *body)
{
    json_decref(harness_call(port, "POST", "/api/v1/experiments", admin, body, 201));
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/experiments/%s/start", key);
    json_decref(harness_call(port, "POST", path, admin, NULL, 200));
}

void harness_ratio_metrics(int port, const char *admin)
{
    harness_metric(port, admin,
                   "{\"key\":\"m\",\"event\":\"buy\",\"type\":\"count\","
                   "\"cuped_lookback_hours\":0}");
    harness_metric(port, admin,
                   "{\"key\":\"v\",\"event\":\"view\",\"type\":\"count\","
                   "\"cuped_lookback_hours\":0}");
    harness_metric(port, admin,
                   "{\"key\":\"r\",\"type\":\"ratio\",\"numerator\":\"m\","
                   "\"denominator\":\"v\"}");
}

int harness_start_with_key(struct daemon *d, const char *const *extra, char *sdk, size_t cap)
{
    if (daemon_start(d, extra) != 0) {
        return -1;
    }
    harness_sdk_key(d->port, d->admin_key, sdk, cap);
    return 0;
}

int harness_stop(struct daemon *d)
{
    int rc = daemon_stop(d);
    daemon_cleanup(d);
    if (rc != 0) {
        fprintf(stderr, "daemon exited with status %d on SIGTERM\n", rc);
        return -1;
    }
    return 0;
}

int harness_schema_newest(void)
{
    bool pg = harness_on_postgres();
    int n = pg ? bunsen_migrations_pg_count : bunsen_migrations_count;
    const struct migration *m = pg ? bunsen_migrations_pg : bunsen_migrations;
    return n > 0 ? m[n - 1].version : 0;
}
