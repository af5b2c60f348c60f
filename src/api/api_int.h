/*
 * api_int.h - helpers shared by the handlers in src/api/: the asynchronous write
 * pattern (suspend -> writer commits -> render -> resume), the write, read and If-Match
 * checked load of one catalogue document (experiments, metrics, saved groups), and
 * audit-entry building.
 */
#ifndef BUNSEN_API_INT_H
#define BUNSEN_API_INT_H

#include <jansson.h>

#include "bunsen/app.h"
#include "bunsen/assign.h"
#include "bunsen/condition.h"
#include "bunsen/http.h"
#include "bunsen/model.h"
#include "bunsen/store.h"

/* A write request. Embed as the first member of a handler's own struct, allocate it with
 * xcalloc, set apply/render/cleanup, then call api_write_submit(). apply runs on the writer
 * thread inside the group transaction; render (writer thread, after commit) builds the
 * reply; cleanup frees the outer struct (called exactly once, after the reply). */
struct api_write {
    struct store_job job;
    struct http_req *req;
    int (*apply)(struct store_tx *tx, struct api_write *w, struct err *err);
    void (*render)(struct api_write *w);
    void (*cleanup)(struct api_write *w);
    bool retryable; /* apply() may run again after a rollback (store_job.retryable) */
    size_t items;   /* users apply() may lock (store_job.items) */
    bool urgent;    /* ahead of the queued writes (store_job.urgent): the readiness check */
    /* optional: emit each user apply() locks (store_job.users) */
    void (*users)(struct api_write *w, void (*emit)(void *ctx, const char *user_id), void *ctx);
    /* optional: several writes of one kind in one call, args = their api_write pointers
     * (store_job.apply_batch) */
    int (*apply_batch)(struct store_tx *tx, void *const *args, size_t n, struct err *err);
};

/* Suspend r and queue w; the reply is sent after the commit (or an error reply if the
 * write failed or the queue is full). The handler must not touch r or w afterwards. */
void api_write_submit(struct http_req *r, struct api_write *w);

/* Append an audit entry for the caller of r: action ("key.create"), target, and before /
 * after as JSON values (borrowed, may be NULL). Runs inside apply(). */
int api_audit(struct store_tx *tx, struct http_req *r, const char *action, const char *target_type,
              const char *target, const json_t *before, const json_t *after, struct err *err);

/* api_audit with before / after already JSON text (borrowed, may be NULL): for documents
 * dumped off the writer's thread. */
int api_audit_text(struct store_tx *tx, struct http_req *r, const char *action,
                   const char *target_type, const char *target, const char *before,
                   const char *after, struct err *err);

/* ---- concurrency control (API.md "Concurrency control") ---- */

/* Room for a strong entity tag: '"' + 32 hex digits + '"' + NUL. */
#define API_ETAG_LEN 35

/* The strong ETag of a stored document (a definition as stored, byte for byte): a hash of its
 * text, so that any change (updated_at moves on every write) gives a new tag. */
void api_etag(const char *doc, char out[API_ETAG_LEN]);

/* Does the If-Match header value (NULL = absent) admit a resource whose tag is etag? Strong
 * comparison (RFC 9110 13.1.1): "*" or a listed tag equal to etag; weak tags never match. */
bool api_if_match(const char *header, const char *etag);

/* Reply 200 with the stored document doc (borrowed) and its ETag, or 304 when the request's
 * If-None-Match already names that tag. */
void api_reply_document(struct http_req *r, const char *doc);

/* Parse an integer query parameter in [lo, hi]; absent -> def. Replies 400 and returns -1
 * on a bad value. */
int api_query_int(struct http_req *r, const char *name, long lo, long hi, long def, long *out);
/* Boolean query parameter name: true/1 or false/0, def when absent; anything else replies
 * 400 (field name) and returns -1. */
int api_query_bool(struct http_req *r, const char *name, bool def, bool *out);

/* ---- catalogue documents: experiments, metrics, saved groups (common.c) ----
 * Each kind is stored as JSON text by key and named in messages by its kind ("experiment",
 * "metric", "saved group"). get is the kind's store reader (store_experiment_get,
 * store_metric_get, store_saved_group_get): tx's connection, or s's reader when tx is
 * NULL; 0 with *doc (malloc'd), or -1 with err (ERR_NOT_FOUND "no <kind> '<key>'"). */

/* A write of one catalogue document. Use it as it is, or embed it first in a kind's own
 * struct; made by api_doc_write_new, queued with api_write_submit(r, &dw->w). Its render
 * (after the commit) reloads the snapshot (definitions, attribution rules and saved groups
 * all come from the catalogue), then replies status with result and, when a document was
 * saved, its ETag; its cleanup frees body, result, result_text, if_match and the struct. */
struct api_doc_write {
    struct api_write w;
    char key[MODEL_KEY_MAX + 1]; /* the {key} path parameter, "" for a create */
    json_t *body;                /* the request document (create, patch; owned), or NULL */
    json_t *result;              /* rendered after commit (owned; apply sets it) */
    char *result_text;           /* or this JSON text, rendered instead when set (owned) */
    int status;                  /* HTTP status on success */
    char *if_match;              /* the request's If-Match header (copy), NULL when absent */
    char etag[API_ETAG_LEN];     /* of the document saved (apply sets it), "" when none */
};

/* A zeroed write of size bytes (>= sizeof(struct api_doc_write): the struct that embeds one
 * first) for r, with key (NULL for a create) and r's If-Match copied, apply and status set.
 * A barrier (store_job.barrier): later writes see the snapshot reloaded after it. */
struct api_doc_write *api_doc_write_new(struct http_req *r, size_t size, const char *key,
                                        int (*apply)(struct store_tx *tx, struct api_write *w,
                                                     struct err *err),
                                        int status);

/* The cleanup of an api_doc_write (for a kind whose own cleanup frees its fields first). */
void api_doc_write_cleanup(struct api_write *w);

/* Inside apply(): whether if_match (NULL = unconditional) admits the stored document text of
 * key; its ETag into etag. -1 with err ERR_PRECONDITION when it does not. */
int api_doc_precondition(const char *kind, const char *key, const char *text, const char *if_match,
                         char etag[API_ETAG_LEN], struct err *err);

/* Inside apply(): the stored document key (get, in tx) as a new reference in *doc, after
 * checking if_match (NULL = unconditional) against its ETag: the check and the write are one
 * transaction, so that no other write can slip in between. -1 with err: the getter's,
 * ERR_PRECONDITION when If-Match does not admit the stored document, ERR_INTERNAL when it
 * is not JSON. */
int api_doc_load(struct store_tx *tx, const char *kind,
                 int (*get)(struct store *s, struct store_tx *tx, const char *key, char **doc,
                            struct err *err),
                 const char *key, const char *if_match, json_t **doc, struct err *err);

/* The {key} path parameter of r (borrowed from r), or NULL after replying 404 "no <kind>
 * '<key>'" when it is not a valid key. */
const char *api_key_param(struct http_req *r, const char *kind);

/* PATCH (with_body) or DELETE .../{key} with a plain api_doc_write that apply makes: the key
 * checked (api_key_param), for a PATCH the JSON body read (http_req_json_body, which replies
 * 400 itself), then the write queued; it replies 200 after the commit. */
void api_doc_submit(struct http_req *r, const char *kind, bool with_body,
                    int (*apply)(struct store_tx *tx, struct api_write *w, struct err *err));

/* GET .../{key}: the stored document (get, on the calling thread's reader) with its ETag
 * (api_reply_document), or the store's error (404 when there is none). */
void api_doc_get(struct http_req *r, const char *kind,
                 int (*get)(struct store *s, struct store_tx *tx, const char *key, char **doc,
                            struct err *err));

/* An emit callback for the store's list functions: appends each document, parsed, to the
 * JSON array ctx (one that does not parse is left out). */
void api_doc_list_append(void *ctx, const char *doc);

/* ---- attribution rules (rules.c) ----
 * The store attributes events to metrics by rules derived from the definitions: one per
 * (experiment, metric or guardrail) of every experiment that has left draft. */

struct experiment;
struct snapshot;

/* Attach rules built from snap's experiments and the metrics catalogue to snap (ext). snap is
 * sealed (its experiments in key order) and not yet published. */
int api_rules_attach(struct snapshot *snap, struct store *store, struct err *err);
/* The rules attached to a snapshot (never NULL after api_rules_attach). */
const struct store_rules *api_rules_of(const struct snapshot *snap);
/* The stored experiment key (tx's connection, or s's reader when tx is NULL), parsed into x
 * (experiment_clear it after 0). -1 with err: ERR_NOT_FOUND when there is none. common.c. */
int api_experiment_load(struct store *s, struct store_tx *tx, const char *key, struct experiment *x,
                        struct err *err);
/* Start rebuilding one experiment's roll-ups from raw data with its current definition
 * (rules from the metrics as stored in tx): at once for small experiments, else in chunks by
 * the rebuilder (rebuild.c, store.h "Rebuilds beside ingestion"). Drafts have nothing. */
int api_rollup_rebuild(struct store_tx *tx, const struct experiment *x, struct err *err);
/* One chunk of experiment key's running rebuild with its definition as stored in tx. */
int api_rollup_rebuild_step(struct store_tx *tx, const char *key, bool *finished, struct err *err);
/* Before the first chunk of rebuild rb: sum the experiment's ratio metrics from the users'
 * values as they were (per variant, and per value of each dimension) and keep them
 * (store_rebuild_keep_ratios), so that results read them while chunks rewrite the values.
 * Reads on the calling thread's reader, then one writer job. results.c; the rebuilder. */
int results_ratio_keep(struct store *s, const struct store_rebuild *rb, struct err *err);

/* ---- assignment replies shared by /assign and OFREP (assign.c) ---- */

struct snapshot_entry;

/* One in-experiment assignment whose exposure must be stored before the reply. */
struct api_exposure {
    char experiment[65];
    char variant[65];
    char *dims; /* owned: api_dims_encode (NULL = none); api_exposures_clear frees */
};

/* The experiment's dimension values in attrs (borrowed; NULL = none) as store.h encodes
 * them for store_exposure.dims: strings as they are, numbers as JavaScript's String(number)
 * (assign_number_text: "1e-7", "1e+21", -0 "0"), booleans as text, anything else or absent
 * STORE_DIM_NONE (store_dims_append maps sentinels and invisible characters). NULL when x has no
 * dimensions. malloc'd. */
char *api_dims_encode(const struct experiment *x, const json_t *attrs);

/* Free the dims of items[0..n). */
void api_exposures_clear(struct api_exposure *items, size_t n);
/* Copy into out (room for n) the items of user_id that are not repeats of a committed first
 * exposure at now (store.h "Known first exposures": they would store nothing), their dims
 * duplicated (the caller's stay the caller's). Returns how many were copied. */
size_t api_exposures_unknown(struct store *s, const char *user_id, int64_t now,
                             const struct api_exposure *items, size_t n, struct api_exposure *out);

/* The exposures of one answer: user_id's items[0..n) at ts (all borrowed). */
struct api_exposure_set {
    const char *user_id;
    int64_t ts;
    const struct api_exposure *items;
    size_t n;
};

struct snapshot_cell;

/* Store the exposures of sets[0..n) (common.c) with one store_ingest_exposures call in tx,
 * attributed with the rules of cell's current snapshot: the same rows as set by set (first
 * exposure wins whatever the order). Writes only through tx, so that a retryable job
 * (store_job.retryable, apply_batch) may run it again after a rollback. counts (may be NULL)
 * receives what this call stored, skipped and contradicted (set, not added: a rerun after a
 * rollback replaces it; the caller counts it in /metrics once committed). 0, or -1 with err.
 * Writer thread. */
int api_exposures_ingest(struct store_tx *tx, struct snapshot_cell *cell,
                         const struct api_exposure_set *sets, size_t n,
                         struct store_ingest_counts *counts, struct err *err);

/* The value an assignment gives (API.md "Variant values"): the variant's value when hashed,
 * forced or released, else the experiment's default_value or the control's value. New
 * reference. */
json_t *api_assigned_value(const struct experiment *x, const struct assign_result *res);

/* An /assign request once read: strings are NUL-terminated and borrowed (from the body's
 * jansson tree, or from the fast reader's copy). */
#define ASSIGN_MAX_NAMED 100
struct assign_query {
    const char *user_id; /* valid per text_id_valid(.., 256) */
    size_t len;
    json_t *attrs; /* NULL: absent, null, or left unbuilt: */
    /* a flat "attributes" object the reader left unbuilt (attrs NULL; assign_body.c): its
     * text in the body (api_assign_attrs_build builds it) and what api_attributes_check
     * would count of it: the bytes, and the longest name or string value */
    const char *attrs_text;
    size_t attrs_len, attrs_bytes, attrs_longest;
    bool named;                          /* "experiments" given (as an array) */
    size_t nnames;                       /* <= ASSIGN_MAX_NAMED */
    const char *names[ASSIGN_MAX_NAMED]; /* experiment keys as given */
    size_t name_lens[ASSIGN_MAX_NAMED];  /* their lengths */
    bool log_exposure;                   /* default true */
    bool explain;                        /* default false */
};

/* Read an /assign body of the common shape without a jansson tree for it (assign_body.c):
 * 0 with q filled, *store (strings, free()) and *attrs (new reference or NULL) to release
 * after use; -1 when the body is not of that shape (then nothing to release, and the
 * caller parses it with http_req_json_body() and words any error). */
int api_assign_body_read(const char *body, size_t len, struct assign_query *q, char **store,
                         json_t **attrs);
/* The attributes object the reader left unbuilt (q->attrs_text), as jansson would read it:
 * a new reference, or NULL when there is none. The body must still be alive. */
json_t *api_assign_attrs_build(const struct assign_query *q);

/* POST /api/v1/events and /exposures: at most this many items per request, timestamps at
 * most this far in the future (API.md "Ingestion"). */
#define INGEST_MAX_ITEMS       10000
#define INGEST_FUTURE_SLACK_MS (7LL * 24 * 3600 * 1000)
/* An event's value: 0, or of magnitude in [INGEST_VALUE_MIN, INGEST_VALUE_MAX]. The floor
 * keeps every square and product of a user's value a normal double, exact as a double-double
 * (below ~1e-154, y * y underflows: stddev 0); sums of such values keep it (their smallest
 * non-zero magnitude is ~1e-116, squared ~1e-232). docs/STATISTICS.md "Numerics". */
#define INGEST_VALUE_MAX 1e15
#define INGEST_VALUE_MIN 1e-100

/* A user id as /exposures, /events and /assign take it: o's "user_id" when it is a JSON
 * integer of magnitude at most 2^53 - 1 (JavaScript's safe integers: apps send numeric
 * database ids, and the GrowthBook SDK hashes them as String(id)) is replaced in o by its
 * decimal text, which is what String() gives; anything else (a string, a real, a larger
 * integer, absent) is left for the caller's "must be text" check. o may be any JSON value
 * (only objects are changed). Thread-safe for distinct o. */
void api_user_id_as_text(json_t *o);
#define API_USER_ID_INT_MAX 9007199254740991LL /* 2^53 - 1 */

/* A numeric ts below this (1e12 ms, 2001-09-09T01:46:40Z) is most likely Unix seconds sent
 * where milliseconds are expected (`date +%s`, Python's time.time()): it is stored as sent
 * (the contract says milliseconds, and tests and imports send small values on purpose), but
 * the reply's "warning", a counter and a log line say so (API.md "Ingestion"). An RFC 3339
 * string is explicit and never counts. */
#define INGEST_TS_SECONDS_BELOW 1000000000000LL
/* The items of one request whose numeric ts is below INGEST_TS_SECONDS_BELOW: how many, and
 * the first one (its index in the request's array and its ts). Zero-initialise. */
struct ingest_ts_low {
    size_t count;
    size_t first;
    int64_t first_ts;
};
/* Count item i, whose ts was sent as the number ts, in l when ts is below
 * INGEST_TS_SECONDS_BELOW (events_body.c). Pure. */
void api_ingest_ts_note(struct ingest_ts_low *l, size_t i, int64_t ts);

/* The events of a POST /api/v1/events body already parsed by jansson (ingest.c): 0 with
 * *events (free(); its strings are borrowed from body), *n and *low (the items whose numeric
 * ts is below INGEST_TS_SECONDS_BELOW), or -1 with err naming the first bad field
 * ("events[17].ts"). now is the time given to events without ts. Numeric user ids in body are
 * replaced by their text (api_user_id_as_text). */
int api_events_read_json(json_t *body, int64_t now, struct store_event **events, size_t *n,
                         struct ingest_ts_low *low, struct err *err);

/* The same for a body of the common shape read without jansson (events_body.c): 0 with
 * *events (free()), *n, *low and *store (free() after the events: their strings point into
 * it); -1 when the body is not of that shape (nothing to release: the caller takes the jansson
 * path, which gives the same events and *low for every body read here, or words the error). */
int api_events_body_read(const char *body, size_t len, int64_t now, struct store_event **events,
                         size_t *n, struct ingest_ts_low *low, char **store);

/* Before jansson parses a body whose member name is an array with a cap (ingestion items,
 * a saved group's values): the number of its elements, at most stop + 1 (the scan ends
 * there), or -1 when the body is not an object with such a member or not well-formed enough
 * to tell (jansson then words the error). Exact on well-formed JSON; allocates nothing
 * (body_count.c). Pure; thread-safe. */
long api_json_count_items(const char *text, size_t len, const char *name, size_t stop);

/* Reply with text (malloc'd, len bytes, taken over) after the exposures committed, or now
 * when there is nothing to log or only repeats of committed first exposures
 * (api_exposures_unknown). The caller's items stay the caller's. */
void api_reply_text_after_exposures(struct http_req *r, char *text, size_t len, const char *user_id,
                                    const struct api_exposure *items, size_t n);

/* Running, or stopped with a released variant (never archived): what "every experiment"
 * means for /assign (experiments omitted). */
bool api_experiment_is_live(const struct snapshot_entry *e);

/* A feature of the GrowthBook payload (and of remote evaluation): live, paused, or a draft
 * or stopped experiment with forced users (served to them alone); never archived. */
bool api_experiment_in_payload(const struct snapshot_entry *e);

/* Check attrs (borrowed, may be NULL) against the configured caps (API.md "Evaluation
 * limits"); 0, or -1 with err naming the field under prefix (400, or 413 for the total). */
int api_attributes_check(const struct app *app, const json_t *attrs, const char *prefix,
                         struct err *err);

/* A fresh per-request evaluation budget (--eval-budget). */
void api_eval_budget(const struct app *app, struct condition_budget *b);
/* Charge the steps b spent since api_eval_budget (all of them, and what it overshot, when it ran
 * out) to the request's rate limits (http_req_charge_steps). Call once, after evaluating. */
void api_eval_charge(struct http_req *r, const struct app *app, const struct condition_budget *b);

/* ---- saved groups (saved_groups.c) ---- */

/* Load the saved groups into snap (sealed, not yet published): its group_sets are what every
 * entry's targeting is evaluated with (assign_decide_budget); the groups prev (the published
 * snapshot, or NULL) has unchanged are taken from it. */
int api_saved_groups_attach(struct snapshot *snap, const struct snapshot *prev, struct store *store,
                            struct err *err);
/* Every $inGroup / $notInGroup of condition (may be NULL) names a stored saved group (read
 * in tx): 0, or -1 with ERR_INVALID on field "targeting". */
int api_saved_groups_check(struct store_tx *tx, const json_t *condition, struct err *err);

/* ---- GrowthBook SDK payload (ecosystem.c) ---- */

/* A strong ETag of text: a quoted hex prefix of the SHA-256 of scope (NULL: none; hashed
 * with its terminating NUL) followed by text[0..len). */
void api_strong_etag(const char *scope, const char *text, size_t len, char out[40]);
/* {"features", "savedGroups", "dateUpdated"} of snap (new reference). */
json_t *api_growthbook_payload_of(const struct snapshot *snap);

/* The sdk (or admin) key named by the {sdk_key} path parameter: 0 with *k, or -1 after
 * replying 401/403 (or the store's error). */
int api_sdk_key_of(struct http_req *r, struct store_key *k);

/* ---- encrypted payloads (sdk_stream.c) ---- */

/* Base64 of a 16-byte AES key, with its NUL. */
#define API_ENC_KEY_LEN 32
/* A new random AES-128 key as base64 into out. */
int api_new_encryption_key(char out[API_ENC_KEY_LEN], struct err *err);
/* GrowthBook's encrypted string of plain[0..len): base64(iv) "." base64(AES-128-CBC), with
 * key_b64 (base64 of 16 bytes). *out is malloc'd. */
int api_encrypt_text(const char *key_b64, const char *plain, size_t len, char **out,
                     struct err *err);
/* payload (stolen) as a key sees it: itself when enc_key is NULL or "", else
 * {encryptedFeatures, encryptedSavedGroups, dateUpdated}. New reference or NULL with err. */
json_t *api_payload_for_key(json_t *payload, const char *enc_key, struct err *err);

/* ---- the payload as SDKs receive it, rendered once per snapshot and key (payload.c) ---- */

struct api_payload {
    _Atomic size_t refs;
    uint64_t generation;       /* of the snapshot rendered */
    char enc[API_ENC_KEY_LEN]; /* the key's encryption key, "" = plain */
    char *text;                /* the JSON (inside event) */
    size_t len;
    char *event; /* the SSE event carrying it: "event: features\ndata: <text>\n\n" */
    size_t event_len;
    char tag[40]; /* its ETag (quoted) */
};
/* The current snapshot's payload for encryption key enc (NULL or "" = plain), with a
 * reference the caller drops with api_payload_release; NULL with err. */
const struct api_payload *api_payload_get(struct app *app, const char *enc, struct err *err);
void api_payload_release(const struct api_payload *p);
/* The encryption key ("" = plain) of sdk key id into out; while the database is unreachable
 * the last one read (payload.c). 0, or -1 with err. */
int api_key_encryption(struct app *app, const char *id, char *out, size_t n, struct err *err);

/* ---- Prometheus counters (prom.c) ---- */

/* The counters of one experiment (created on first use, kept until prom_free): stored in
 * snapshot entries at reload so /assign counts without a lookup. */
void *prom_experiment(struct prom *p, const char *key);
void prom_count_assign(void *experiment_counters, enum assign_reason reason);
void prom_count_ingest(struct prom *p, bool exposures, const struct store_ingest_counts *c);
/* n items of an ingestion request answered 200 whose numeric ts was below
 * INGEST_TS_SECONDS_BELOW (bunsen_ingest_ts_before_2001_total). */
void prom_count_ingest_ts_low(struct prom *p, bool exposures, size_t n);
/* n exposures of a request answered 200 whose ts was later than the request's arrival, stored
 * as the arrival (bunsen_ingest_ts_future_clamped_total{kind="exposure"}). */
void prom_count_ingest_ts_future(struct prom *p, size_t n);
/* Exposures logged beside an answer (OFREP): n committed, or n dropped (queue full or the
 * commit failed). */
void prom_count_async_exposures(struct prom *p, bool dropped, size_t n);

#endif
