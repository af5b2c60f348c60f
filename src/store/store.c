/*
 * store.c - the store facade (store.h): picks the backend from the database URL (the one
 * place that knows which adapters exist) and forwards every domain operation to it through
 * its ops table. The writer (writer.c) and attribution (attribution.c, with its pieces in
 * attribution_*.c) are the facade's other files beside rebuild.c and saved_groups.c. Threads: as
 * store.h says for each function.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bunsen/log.h"
#include "bunsen/migrations.h"
#include "bunsen/util.h"
#include "store_int.h"

/* Whether url is a libpq key=value conninfo ("host=db1 dbname=bunsen ..."): it starts,
 * after spaces, with one of libpq's usual key words and '=' (a SQLite file "exp=2.db"
 * stays a path). */
static bool is_conninfo(const char *url)
{
    static const char *const words[] = {"host",
                                        "hostaddr",
                                        "port",
                                        "dbname",
                                        "user",
                                        "password",
                                        "passfile",
                                        "service",
                                        "sslmode",
                                        "options",
                                        "connect_timeout",
                                        "application_name",
                                        "target_session_attrs"};
    while (*url == ' ') {
        url++;
    }
    size_t n = 0;
    while ((url[n] >= 'a' && url[n] <= 'z') || url[n] == '_') {
        n++;
    }
    size_t k = n;
    while (url[k] == ' ') {
        k++;
    }
    if (url[k] != '=') {
        return false;
    }
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i]) == n && strncmp(url, words[i], n) == 0) {
            return true;
        }
    }
    return false;
}

/* The length of url's scheme when it starts with "scheme://", else 0. */
static size_t scheme_len(const char *url)
{
    size_t n = 0;
    while ((url[n] >= 'a' && url[n] <= 'z') || (url[n] >= 'A' && url[n] <= 'Z') ||
           (n > 0 && ((url[n] >= '0' && url[n] <= '9') || url[n] == '+' || url[n] == '-' ||
                      url[n] == '.'))) {
        n++;
    }
    return n > 0 && strncmp(url + n, "://", 3) == 0 ? n : 0;
}

/* The backend for url, and the target string handed to it (a path or a conninfo). A
 * PostgreSQL URL in any case, or a libpq key=value conninfo, goes to PostgreSQL; any other
 * scheme is refused (it once became a SQLite file named after it, password included). */
static const struct store_ops *backend_for(const char *url, const char **target, struct err *err)
{
    size_t sl = scheme_len(url);
    if ((sl == 8 && strncasecmp(url, "postgres", 8) == 0) ||
        (sl == 10 && strncasecmp(url, "postgresql", 10) == 0) || is_conninfo(url)) {
        *target = url;
        return &store_pg_ops;
    }
    if (sl > 0 && !(sl == 6 && strncasecmp(url, "sqlite", 6) == 0)) {
        err_set(err, ERR_INVALID, "database",
                "unsupported database URL scheme '%.*s' (a SQLite path, sqlite:PATH, "
                "postgres://... or a libpq key=value conninfo)",
                (int)(sl > 32 ? 32 : sl), url);
        return NULL;
    }
    *target = strncasecmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    if (**target == '\0') {
        err_set(err, ERR_INVALID, "database", "empty database path");
        return NULL;
    }
    return &store_sqlite_ops;
}

/* url with its scheme in lower case (libpq knows its schemes in lower case only:
 * "POSTGRES://" was taken as a database name), malloc'd */
static char *scheme_lowered(const char *url)
{
    char *lowered = xstrdup(url);
    for (size_t i = 0, n = scheme_len(lowered); i < n; i++) {
        lowered[i] = (char)(lowered[i] >= 'A' && lowered[i] <= 'Z' ? lowered[i] + 32 : lowered[i]);
    }
    return lowered;
}

int store_url_check(const char *url, struct err *err)
{
    const char *target = NULL;
    const struct store_ops *ops = backend_for(url, &target, err);
    if (ops != &store_pg_ops) {
        return ops != NULL ? 0 : -1;
    }
    /* a conninfo libpq cannot parse is a usage error no retry fixes (it was exit 1, and the
     * unit restarted it every 2 s) */
    char *lowered = scheme_lowered(target);
    int rc = pg_conninfo_check(lowered, err);
    free(lowered);
    return rc;
}

const char *store_url_sqlite_file(const char *url)
{
    const char *target = NULL;
    struct err err;
    return backend_for(url, &target, &err) == &store_sqlite_ops ? target : NULL;
}

static int open_as(const char *url, bool readonly, struct store **out, struct err *err);

int store_open(const char *url, struct store **out, struct err *err)
{
    return open_as(url, false, out, err);
}

int store_open_readonly(const char *url, struct store **out, struct err *err)
{
    return open_as(url, true, out, err);
}

static int open_as(const char *url, bool readonly, struct store **out, struct err *err)
{
    *out = NULL;
    const char *target = NULL;
    const struct store_ops *ops = backend_for(url, &target, err);
    if (ops == NULL) {
        return -1;
    }
    char *lowered = scheme_lowered(target); /* the adapter copies what it keeps */
    struct store *s = xcalloc(1, sizeof(*s));
    s->ops = ops;
    s->readonly = readonly;
    int rc = ops->open(s, lowered, err);
    free(lowered);
    if (rc != 0) {
        free(s);
        return -1;
    }
    store_refresh_init(s);
    *out = s;
    return 0;
}

int store_schema_newest_of(const char *backend)
{
    bool pg = strcmp(backend, store_pg_ops.name) == 0;
    if (!pg && strcmp(backend, store_sqlite_ops.name) != 0) {
        return 0;
    }
    int n = pg ? bunsen_migrations_pg_count : bunsen_migrations_count;
    const struct migration *m = pg ? bunsen_migrations_pg : bunsen_migrations;
    return n > 0 ? m[n - 1].version : 0;
}

int store_schema_newest(const struct store *s)
{
    return store_schema_newest_of(s->ops->name);
}

void store_close(struct store *s)
{
    if (s == NULL) {
        return;
    }
    store_refresh_stop(s); /* before the backend: a refresh under way reads through it */
    store_writer_release(s);
    s->ops->close(s);
    exposed_free(s->exposed);
    free(s);
}

void store_exposed_configure(struct store *s, size_t pairs)
{
    exposed_free(s->exposed); /* before the writer starts: nothing reads it yet */
    s->exposed = exposed_new(pairs);
}

bool store_exposed_known(struct store *s, const char *experiment, const char *user_id,
                         const char *variant, int64_t ts)
{
    return exposed_known(s->exposed, experiment, user_id, variant, ts);
}

void store_exposed_clear(struct store *s)
{
    exposed_clear(s->exposed);
}

const char *store_backend_name(const struct store *s)
{
    return s->ops->name;
}

struct json_t *store_err_log_fields(struct store *s, const struct err *err)
{
    size_t len = strlen(err->msg), tail = strlen(STORE_REASON_IN_LOG);
    char reason[1600];
    if (err->code == ERR_UNAVAILABLE && len > tail &&
        strcmp(err->msg + len - tail, STORE_REASON_IN_LOG) == 0 && s != NULL &&
        s->ops->unavailable_reason != NULL &&
        s->ops->unavailable_reason(s, reason, sizeof(reason))) {
        return json_pack("{s:s%, s:s}", "error", err->msg, len - tail, "reason", reason);
    }
    return json_pack("{s:s}", "error", err->msg);
}

void store_describe(struct store *s, struct json_t *fields)
{
    json_object_set_new(fields, "backend", json_string(s->ops->name));
    if (s->ops->describe != NULL) {
        s->ops->describe(s, fields);
    }
}

void store_set_catalog_hook(struct store *s,
                            int (*hook)(void *ctx, int64_t version, struct err *err), void *ctx)
{
    s->catalog_hook = hook;
    s->catalog_ctx = ctx;
}

int store_catalog_check(struct store *s, int64_t version, struct err *err)
{
    return s->catalog_hook != NULL ? s->catalog_hook(s->catalog_ctx, version, err) : 0;
}

int store_catalog_refresh(struct store *s, struct err *err)
{
    return store_catalog_check(s, -1, err);
}

int store_read_begin(struct store *s, struct err *err)
{
    return s->ops->read_begin(s, err);
}

void store_read_end(struct store *s)
{
    s->ops->read_end(s);
}

void store_set_db_timeout(struct store *s, int ms)
{
    if (s->ops->set_db_timeout != NULL) {
        s->ops->set_db_timeout(s, ms);
    }
}

int store_listen(struct store *s, struct err *err)
{
    return s->ops->listen != NULL ? s->ops->listen(s, err) : 0;
}

int store_migrate(struct store *s, int *applied, struct err *err)
{
    int n = 0;
    int rc = s->ops->migrate(s, &n, err);
    if (applied != NULL) {
        *applied = n;
    }
    return rc;
}

int store_schema_version(struct store *s, int *version, struct err *err)
{
    return s->ops->schema_version(s, version, err);
}

void store_schema_seen(struct store *s, int version)
{
    int newest = store_schema_newest(s), ahead = version > newest ? version : 0;
    if (atomic_exchange(&s->schema_ahead, ahead) != ahead && ahead > 0) {
        log_json(LOG_ERROR,
                 "the database was migrated to a newer schema under this daemon: it refuses "
                 "writes until it is stopped and replaced by the new bunsen",
                 json_pack("{s:i, s:i, s:s}", "schema_version", ahead, "supported", newest,
                           "action", "stop this daemon and start the new bunsen"));
    }
}

int store_schema_refuse(struct store *s, struct err *err)
{
    int ahead = atomic_load(&s->schema_ahead);
    if (ahead == 0) {
        return 0;
    }
    return err_set(err, ERR_UNAVAILABLE, NULL,
                   "the database was migrated to schema version %d, newer than this daemon's "
                   "(%d): it refuses writes until it is replaced by the new bunsen",
                   ahead, store_schema_newest(s));
}

int store_apply_ready_check(struct store_tx *tx, void *arg, struct err *err)
{
    (void)arg;
    return tx->store->ops->ready_check(tx, err);
}

/* ---- keys and audit ---- */

int store_key_insert(struct store_tx *tx, const struct store_key *k, const uint8_t hash[32],
                     struct err *err)
{
    return tx->store->ops->key_insert(tx, k, hash, err);
}

int store_key_revoke(struct store_tx *tx, const char *id, int64_t now, struct store_key *before,
                     struct err *err)
{
    return tx->store->ops->key_revoke(tx, id, now, before, err);
}

int store_key_find_by_hash(struct store *s, const uint8_t hash[32], struct store_key *out,
                           struct err *err)
{
    return s->ops->key_find_by_hash(s, hash, out, err);
}

int store_key_list(struct store *s, bool include_revoked, struct store_key **out, size_t *n,
                   struct err *err)
{
    return s->ops->key_list(s, include_revoked, out, n, err);
}

int store_key_count_admins(struct store *s, struct store_tx *tx, int *n, struct err *err)
{
    struct store *owner = tx != NULL ? tx->store : s;
    return owner->ops->key_count_admins(owner, tx, n, err);
}

int store_key_count_named(struct store_tx *tx, const char *name, int *n, struct err *err)
{
    return tx->store->ops->key_count_named(tx, name, n, err);
}

int store_audit_append(struct store_tx *tx, const struct store_audit *e, struct err *err)
{
    return tx->store->ops->audit_append(tx, e, err);
}

int store_audit_list(struct store *s, int64_t before_id, const char *target_type,
                     const char *target, int limit, size_t max_bytes,
                     void (*emit)(void *ctx, const struct store_audit *e), void *ctx,
                     struct err *err)
{
    return s->ops->audit_list(s, before_id, target_type, target, limit,
                              max_bytes > 0 ? max_bytes : SIZE_MAX, emit, ctx, err);
}

/* ---- catalogue ---- */

int store_metric_put(struct store_tx *tx, const char *key, const char *doc, int64_t created_at,
                     int64_t updated_at, bool create, struct err *err)
{
    return tx->store->ops->metric_put(tx, key, doc, created_at, updated_at, create, err);
}

int store_metric_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                     struct err *err)
{
    struct store *owner = tx != NULL ? tx->store : s;
    return owner->ops->metric_get(owner, tx, key, doc, err);
}

int store_metric_delete(struct store_tx *tx, const char *key, struct err *err)
{
    return tx->store->ops->metric_delete(tx, key, err);
}

int store_metric_list(struct store *s, void (*emit)(void *ctx, const char *doc), void *ctx,
                      struct err *err)
{
    return s->ops->metric_list(s, emit, ctx, err);
}

int store_metric_users(struct store_tx *tx, const char *metric, bool include_archived, char ***keys,
                       size_t *n, struct err *err)
{
    return tx->store->ops->metric_users(tx, metric, include_archived, keys, n, err);
}

void store_keys_free(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
    }
    free(keys);
}

int store_experiment_put(struct store_tx *tx, const char *key, const char *status, const char *doc,
                         const char *const *metrics, size_t nmetrics, int64_t created_at,
                         int64_t updated_at, bool create, struct err *err)
{
    return tx->store->ops->experiment_put(tx, key, status, doc, metrics, nmetrics, created_at,
                                          updated_at, create, err);
}

int store_experiment_get(struct store *s, struct store_tx *tx, const char *key, char **doc,
                         struct err *err)
{
    struct store *owner = tx != NULL ? tx->store : s;
    return owner->ops->experiment_get(owner, tx, key, doc, err);
}

int store_experiment_delete(struct store_tx *tx, const char *key, struct err *err)
{
    return tx->store->ops->experiment_delete(tx, key, err);
}

int store_experiment_list(struct store *s, struct store_tx *tx, const char *status,
                          void (*emit)(void *ctx, const char *doc), void *ctx, struct err *err)
{
    return s->ops->experiment_list(s, tx, status, emit, ctx, err);
}

int store_catalog_bump(struct store_tx *tx, struct err *err)
{
    return tx->store->ops->catalog_bump(tx, err);
}

int store_catalog_version(struct store *s, int64_t *version, struct err *err)
{
    return s->ops->catalog_version(s, version, NULL, err);
}

int store_catalog_stamp(struct store *s, int64_t *version, int64_t *changed_at, struct err *err)
{
    return s->ops->catalog_version(s, version, changed_at, err);
}

/* ---- roll-ups and compaction ---- */

int store_rollup_rebuild(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                         const struct store_rule *const *rules, size_t n, struct err *err)
{
    return tx->store->ops->rollup_rebuild(tx, experiment, stop_ts, rules, n, err);
}

int store_users_page(struct store *s, const char *experiment, int64_t stop_ts, const char *metric,
                     const char *metric2, const char *dimension, struct store_users_cursor *cur,
                     int limit, void (*emit)(void *ctx, const struct store_user_row *row),
                     void *ctx, int *count, struct err *err)
{
    if (s->ops->users_page == NULL) {
        return err_set(err, ERR_INTERNAL, NULL, "the %s backend cannot list users", s->ops->name);
    }
    return s->ops->users_page(s, experiment, stop_ts, metric, metric2, dimension, cur, limit, emit,
                              ctx, count, err);
}

int store_rollup_read(struct store *s, const char *experiment, const char *metric,
                      void (*emit)(void *ctx, const struct store_suff *st), void *ctx,
                      struct err *err)
{
    return s->ops->rollup_read(s, experiment, metric, emit, ctx, err);
}

int store_rollup_daily(struct store *s, const char *experiment, const char *metric,
                       void (*emit)(void *ctx, int64_t day, const struct store_suff *st), void *ctx,
                       struct err *err)
{
    return s->ops->rollup_daily(s, experiment, metric, emit, ctx, err);
}

int store_exposure_by_variant(struct store *s, const char *experiment,
                              void (*emit)(void *ctx, const char *variant, int64_t users),
                              void *ctx, int64_t *conflicts, struct err *err)
{
    return s->ops->exposure_by_variant(s, experiment, emit, ctx, conflicts, err);
}

int store_compact(struct store *s, int64_t horizon_ms, struct store_compact_stats *out,
                  struct err *err)
{
    int rc = s->ops->compact(s, horizon_ms, out, err);
    exposed_clear(s->exposed); /* it deletes the exposures of archived experiments */
    return rc;
}

int store_check(struct store *s, int budget_ms, struct err *err)
{
    return s->ops->check != NULL ? s->ops->check(s, budget_ms, err) : 0;
}

bool store_is_corrupt(struct store *s)
{
    return s->ops->is_corrupt != NULL && s->ops->is_corrupt(s);
}

bool store_answering(struct store *s)
{
    return s->ops->answering == NULL || s->ops->answering(s);
}

bool store_remote(struct store *s)
{
    return s->ops->answering != NULL;
}

void store_shutdown_begin(struct store *s)
{
    if (s->ops->shutdown_begin != NULL) {
        s->ops->shutdown_begin(s);
    }
}

int store_backup(struct store *s, const char *dest, struct store_backup_stats *out, struct err *err)
{
    if (s->ops->backup == NULL) {
        return err_set(err, ERR_INVALID, NULL,
                       "bunsen backup copies SQLite databases; back up %s with its own tools "
                       "(PostgreSQL: pg_dump or pg_basebackup, see README)",
                       s->ops->name);
    }
    return s->ops->backup(s, dest, out, err);
}

/* ---- dimension breakdowns ---- */

bool store_has_slices(const struct store *s)
{
    return s->ops->slice_add != NULL && s->ops->slice_read != NULL;
}

static int no_slices(struct err *err)
{
    return err_set(err, ERR_UNAVAILABLE, "dimension",
                   "the %s backend keeps no dimension breakdowns", "configured");
}

int store_slice_read(struct store *s, const char *experiment, const char *metric,
                     const char *dimension,
                     void (*emit)(void *ctx, const char *value, const struct store_suff *st),
                     void *ctx, struct err *err)
{
    if (s->ops->slice_read == NULL) {
        return no_slices(err);
    }
    return s->ops->slice_read(s, experiment, metric, dimension, emit, ctx, err);
}

int store_slice_exposures(struct store *s, const char *experiment, const char *dimension,
                          void (*emit)(void *ctx, const char *value, const char *variant,
                                       int64_t users),
                          void *ctx, struct err *err)
{
    if (s->ops->slice_exposures == NULL) {
        return no_slices(err);
    }
    return s->ops->slice_exposures(s, experiment, dimension, emit, ctx, err);
}

/* Bytes of the character at v[i] that a recorded value must not show, or 0: C0 controls and
 * DEL, C1 controls (U+0080..U+009F, C2 80..C2 9F) and the invisible formatting characters
 * validate_text refuses (util.h utf8_invisible_len), with which a value could pass for
 * another ("N\u200bL" shows as "NL"). */
static size_t dims_hidden_len(const unsigned char *v, size_t n, size_t i)
{
    unsigned char a = v[i];
    if (a < 0x20 || a == 0x7f) {
        return 1;
    }
    if (a == 0xc2 && i + 1 < n && v[i + 1] >= 0x80 && v[i + 1] <= 0x9f) {
        return 2;
    }
    return utf8_invisible_len(v, n, i);
}

/* True when value[0..len) is a sentinel label after leading apostrophes: a client's string
 * "(none)" or "(other)" gets one more, so that the labels mean only what they say (a user
 * sending "(none)" is not one without the attribute) and no two sent strings meet. */
static bool dims_reads_as_sentinel(const char *value, size_t len)
{
    size_t k = 0;
    while (k < len && value[k] == '\'') {
        k++;
    }
    size_t rest = len - k;
    return (rest == strlen(STORE_DIM_NONE) && memcmp(value + k, STORE_DIM_NONE, rest) == 0) ||
           (rest == strlen(STORE_DIM_OTHER) && memcmp(value + k, STORE_DIM_OTHER, rest) == 0);
}

void store_dims_append(char **buf, const char *name, const char *value)
{
    bool escape = value != NULL && dims_reads_as_sentinel(value, strlen(value));
    if (value == NULL || value[0] == '\0') {
        value = STORE_DIM_NONE;
    }
    size_t len = strlen(value);
    if (len + escape > STORE_DIM_VALUE_MAX) {
        len = STORE_DIM_VALUE_MAX - escape;
        /* back to the start of a UTF-8 sequence: never cut a character in two */
        while (len > 0 && ((unsigned char)value[len] & 0xC0) == 0x80) {
            len--;
        }
    }
    size_t old = *buf != NULL ? strlen(*buf) : 0;
    size_t nlen = strlen(name);
    char *b = xrealloc(*buf, old + nlen + len + 4);
    size_t at = old;
    if (old > 0) {
        b[at++] = STORE_DIM_PAIR_SEP;
    }
    memcpy(b + at, name, nlen);
    at += nlen;
    b[at++] = STORE_DIM_SEP;
    if (escape) {
        b[at++] = '\'';
    }
    const unsigned char *v = (const unsigned char *)value;
    for (size_t i = 0; i < len;) {
        size_t hidden = dims_hidden_len(v, len, i);
        b[at++] = hidden > 0 ? '?' : (char)v[i];
        i += hidden > 0 ? hidden : 1;
    }
    b[at] = '\0';
    *buf = b;
}
