/*
 * sdk_stream.c - the GrowthBook SDK extras (API.md v1.1 "GrowthBook SDK extras"):
 *
 *   GET  /sub/{sdk_key}        Server-Sent Events, as the GrowthBook Proxy: a `features`
 *                              event carrying the whole payload (encrypted for keys created
 *                              with "encrypt": true) at connection and on every change
 *   POST /api/eval/{sdk_key}   remote evaluation: {"attributes", ...} -> a payload whose
 *                              features are already evaluated for that user
 *   encrypted payloads         AES-128-CBC as the SDK's decryptionKey: "iv.ciphertext", both
 *                              base64, PKCS#7 padding (OpenSSL libcrypto)
 *
 * Streams are http_reply_event_stream()s: a subscriber pins no thread. After every snapshot
 * publish (api_experiments_reload) api_sdk_streams_publish() wakes the publisher, a thread of
 * its own, which sends the current payload to each subscriber whose last one differs, and
 * once a second sends a comment line to streams idle for 15 s, so that proxies keep the
 * connection and a vanished client is noticed. Once a second, and at once after a
 * revocation through this daemon (api_sdk_streams_keys_changed), it also ends the streams
 * whose key is no longer active: a revoked key gets nothing more, as it gets 401 for every
 * request (a revocation on another daemon or by the CLI: within about a second); the same
 * check drops such keys from the HTTP layer's key cache, stream or none. The tick also ends
 * a stream still sending a payload two minutes after a newer one replaced it
 * (SLOW_READER_MS: a reader that slow keeps an old payload in memory for itself alone). Request
 * threads, the reload paths and the publisher.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/jsonw.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"

#define KEEPALIVE_MS 15000
/* How long a stream may take to send a payload once a newer one replaced it: the older
 * text stays in memory for that stream alone meanwhile (a client that reads nothing is cut
 * sooner, by MHD's idle timeout, --conn-timeout). */
#define SLOW_READER_MS 120000

/* ---- encryption ---- */

int api_encrypt_text(const char *key_b64, const char *plain, size_t len, char **out,
                     struct err *err)
{
    unsigned char key[16];
    size_t klen = 0;
    if (sodium_base642bin(key, sizeof(key), key_b64, strlen(key_b64), NULL, &klen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        klen != sizeof(key)) {
        return err_set(err, ERR_INTERNAL, NULL, "the key's encryption key is not 16 bytes");
    }
    /* IV = keyed BLAKE2b of the plaintext: the same payload encrypts the same way, so the
     * ETag (and 304) keeps working, and different payloads get unrelated IVs */
    unsigned char iv[16];
    crypto_generichash(iv, sizeof(iv), (const unsigned char *)plain, len, key, sizeof(key));
    unsigned char *ct = xmalloc(len + 32);
    int n1 = 0, n2 = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c != NULL && EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL, key, iv) == 1 &&
             EVP_EncryptUpdate(c, ct, &n1, (const unsigned char *)plain, (int)len) == 1 &&
             EVP_EncryptFinal_ex(c, ct + n1, &n2) == 1;
    EVP_CIPHER_CTX_free(c);
    sodium_memzero(key, sizeof(key));
    if (!ok) {
        free(ct);
        return err_set(err, ERR_INTERNAL, NULL, "AES-128-CBC encryption failed");
    }
    size_t ivb = sodium_base64_ENCODED_LEN(sizeof(iv), sodium_base64_VARIANT_ORIGINAL);
    size_t ctb = sodium_base64_ENCODED_LEN((size_t)(n1 + n2), sodium_base64_VARIANT_ORIGINAL);
    char *s = xmalloc(ivb + ctb + 1);
    sodium_bin2base64(s, ivb, iv, sizeof(iv), sodium_base64_VARIANT_ORIGINAL);
    size_t at = strlen(s);
    s[at++] = '.';
    sodium_bin2base64(s + at, ctb, ct, (size_t)(n1 + n2), sodium_base64_VARIANT_ORIGINAL);
    free(ct);
    *out = s;
    return 0;
}

int api_new_encryption_key(char out[API_ENC_KEY_LEN], struct err *err)
{
    unsigned char key[16];
    randombytes_buf(key, sizeof(key));
    sodium_bin2base64(out, API_ENC_KEY_LEN, key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(key, sizeof(key));
    (void)err;
    return 0;
}

/* payload (stolen) as the key sees it: plain, or {encryptedFeatures, encryptedSavedGroups,
 * dateUpdated} with enc_key. New reference, or NULL with err. */
json_t *api_payload_for_key(json_t *payload, const char *enc_key, struct err *err)
{
    if (enc_key == NULL || enc_key[0] == '\0') {
        return payload;
    }
    static const char *const parts[][2] = {{"features", "encryptedFeatures"},
                                           {"savedGroups", "encryptedSavedGroups"}};
    json_t *o = json_object();
    for (size_t i = 0; i < 2; i++) {
        char *plain = jsonw_dumps(json_object_get(payload, parts[i][0]), NULL);
        char *enc = NULL;
        int rc = plain ? api_encrypt_text(enc_key, plain, strlen(plain), &enc, err)
                       : err_set(err, ERR_INTERNAL, NULL, "cannot encode the payload");
        free(plain);
        if (rc != 0) {
            json_decref(o);
            json_decref(payload);
            return NULL;
        }
        json_object_set_new(o, parts[i][1], json_string(enc));
        free(enc);
    }
    json_object_set(o, "dateUpdated", json_object_get(payload, "dateUpdated"));
    json_decref(payload);
    return o;
}

/* ---- streams ---- */

struct subscriber {
    char key_id[24];
    char enc[API_ENC_KEY_LEN]; /* "" = plain */
    char tag[40];              /* ETag of the last payload sent, "" = none */
    uint64_t generation;       /* of the snapshot it was rendered from */
    int64_t last_ms;           /* when something was last sent */
};

static void payload_unref(void *p)
{
    api_payload_release(p);
}

/* The `features` event of p, sharing p's text: takes a reference for the stream. */
static struct http_shared features_event(const struct api_payload *p)
{
    struct api_payload *q = (struct api_payload *)(uintptr_t)p;
    atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed);
    return (struct http_shared){p->event, p->event_len, payload_unref, q};
}

static _Atomic uint64_t full_polls;

uint64_t api_sdk_streams_full_polls(void)
{
    return atomic_load(&full_polls);
}

void api_sdk_sub(struct http_req *r)
{
    struct store_key k;
    if (api_sdk_key_of(r, &k) != 0) {
        return;
    }
    struct app *app = http_req_app(r);
    struct subscriber *sub = xcalloc(1, sizeof(*sub));
    snprintf(sub->key_id, sizeof(sub->key_id), "%s", k.id);
    struct err err;
    err_clear(&err);
    const struct api_payload *p = NULL;
    if (api_key_encryption(app, k.id, sub->enc, sizeof(sub->enc), &err) != 0 ||
        (p = api_payload_get(app, sub->enc, &err)) == NULL) {
        free(sub);
        http_reply_err(r, &err);
        return;
    }
    str_copy(sub->tag, sizeof(sub->tag), p->tag);
    uint64_t generation = sub->generation = p->generation;
    struct http_shared first = features_event(p);
    api_payload_release(p);
    sub->last_ms = time_mono_ms();
    int rc = http_reply_event_stream(r, "text/event-stream; charset=utf-8", &first, sub, free);
    if (rc == 1) {
        atomic_fetch_add(&full_polls, 1); /* every slot taken: one payload and a retry */
        return;
    }
    /* a change published between the payload read above and the stream's registration
     * did not reach this stream: publish again (streams already up to date get nothing) */
    const struct snapshot *snap = snapshot_read_begin(app->experiments);
    bool stale = snap->generation != generation;
    snapshot_read_end(app->experiments, snap);
    if (rc == 0 && stale) {
        api_sdk_streams_publish(app);
    }
}

/*
 * Publishing: the payload is rendered once per encryption key in use (api_payload_get, so
 * also shared with GET /api/features, its event text included), outside the streams' lock;
 * the pass under the lock only hands a reference to it to the subscribers whose last
 * payload differs. Rendering per subscriber under that lock once held the completion
 * thread (every write's reply) for seconds with a hundred subscribers of a large payload.
 * A push is never refused for a slow reader: it replaces the event the stream had queued
 * (http_stream_push), so the subscriber gets this payload once it drains, and its tag is
 * this payload's from now on.
 */
struct publish_key {
    char enc[API_ENC_KEY_LEN];
    const struct api_payload *p;
};

struct publish_ctx {
    struct publish_key *k;
    size_t n, alloc;
    int64_t now;
};

static void collect_key(void *ctx, struct http_stream *st, void *user)
{
    (void)st;
    struct publish_ctx *pc = ctx;
    const struct subscriber *sub = user;
    for (size_t i = 0; i < pc->n; i++) {
        if (strcmp(pc->k[i].enc, sub->enc) == 0) {
            return;
        }
    }
    if (pc->n == pc->alloc) {
        pc->alloc = pc->alloc ? 2 * pc->alloc : 4;
        pc->k = xrealloc(pc->k, pc->alloc * sizeof(*pc->k));
    }
    memset(&pc->k[pc->n], 0, sizeof(pc->k[pc->n]));
    str_copy(pc->k[pc->n++].enc, API_ENC_KEY_LEN, sub->enc);
}

static void publish_one(void *ctx, struct http_stream *st, void *user)
{
    struct publish_ctx *pc = ctx;
    struct subscriber *sub = user;
    for (size_t i = 0; i < pc->n; i++) {
        const struct publish_key *k = &pc->k[i];
        if (strcmp(k->enc, sub->enc) != 0) {
            continue;
        }
        /* never an older snapshot's payload after a newer one (publishes may overlap) */
        if (k->p == NULL || k->p->generation <= sub->generation) {
            return;
        }
        struct http_shared ev;
        if (strcmp(sub->tag, k->p->tag) == 0) {
            sub->generation = k->p->generation; /* the same payload: nothing to send */
        } else if (ev = features_event(k->p), http_stream_push(st, &ev) == 0) {
            str_copy(sub->tag, sizeof(sub->tag), k->p->tag);
            sub->generation = k->p->generation;
            sub->last_ms = pc->now;
        }
        return;
    }
}

static void publish_now(struct app *app)
{
    if (app->http == NULL || http_server_stream_count(app->http) == 0) {
        return;
    }
    struct publish_ctx pc = {.now = time_mono_ms()};
    http_server_each_stream(app->http, collect_key, &pc);
    for (size_t i = 0; i < pc.n; i++) {
        struct err err;
        err_clear(&err);
        pc.k[i].p = api_payload_get(app, pc.k[i].enc, &err);
    }
    http_server_each_stream(app->http, publish_one, &pc);
    for (size_t i = 0; i < pc.n; i++) {
        api_payload_release(pc.k[i].p);
    }
    free(pc.k);
}

/* Streams ended because their client read a superseded payload too slowly
 * (bunsen_sdk_streams_slow_ended_total). */
static _Atomic uint64_t slow_ends;

uint64_t api_sdk_streams_slow_ends(void)
{
    return atomic_load(&slow_ends);
}

struct tick {
    int64_t now, slow_ms;
};

static void ping_one(void *ctx, struct http_stream *st, void *user)
{
    const struct tick *t = ctx;
    int64_t now = t->now;
    struct subscriber *sub = user;
    if (http_stream_superseded_for(st, now, t->slow_ms)) {
        /* the payload it is still sending was replaced: it stays in memory for this
         * subscriber alone while the client reads it at its pace (13 MB with large saved
         * groups). End the stream: the SDK reconnects and gets the current payload. */
        http_stream_close(st);
        atomic_fetch_add(&slow_ends, 1);
        return;
    }
    if (now - sub->last_ms >= KEEPALIVE_MS) {
        /* none while an event is being sent: its bytes keep the connection busy */
        static const char ping[] = ": ping\n\n";
        http_stream_ping(st, ping, sizeof(ping) - 1);
        sub->last_ms = now;
    }
}

/* The active keys, sorted by id, for close_revoked. */
struct active_keys {
    struct store_key *k;
    size_t n;
};

static int key_id_cmp(const void *a, const void *b)
{
    return strcmp(((const struct store_key *)a)->id, ((const struct store_key *)b)->id);
}

static void close_revoked(void *ctx, struct http_stream *st, void *user)
{
    const struct active_keys *ak = ctx;
    const struct subscriber *sub = user;
    struct store_key probe;
    memset(&probe, 0, sizeof(probe));
    str_copy(probe.id, sizeof(probe.id), sub->key_id);
    if (bsearch(&probe, ak->k, ak->n, sizeof(*ak->k), key_id_cmp) == NULL) {
        http_stream_close(st);
    }
}

/* Drop the cached verifications of keys revoked (or deleted), by this process or another,
 * and end the streams of those keys. With no stream open too: a cached verification is what
 * authenticates a key while the database is unreachable (SCALING.md), so one of a key revoked
 * by `bunsen keys revoke` or another daemon must go while the database can still say so.
 * When the keys cannot be read (the database is unreachable), the cache and every stream
 * stay. */
static void check_keys(struct app *app)
{
    if (app->http == NULL) {
        return;
    }
    struct active_keys ak = {0};
    struct err err;
    err_clear(&err);
    uint64_t epoch = http_server_keys_epoch(app->http); /* before the list: see retain */
    if (store_key_list(app->store, false, &ak.k, &ak.n, &err) != 0) {
        return;
    }
    qsort(ak.k, ak.n, sizeof(*ak.k), key_id_cmp);
    http_server_retain_keys(app->http, ak.k, ak.n, epoch);
    if (http_server_stream_count(app->http) > 0) {
        http_server_each_stream(app->http, close_revoked, &ak);
    }
    free(ak.k);
}

static void keep_alive(struct app *app, int64_t slow_ms)
{
    if (app->http == NULL || http_server_stream_count(app->http) == 0) {
        return;
    }
    struct tick t = {time_mono_ms(), slow_ms};
    http_server_each_stream(app->http, ping_one, &t);
}

/*
 * The publisher. Rendering the payloads of a change (tens of milliseconds per megabyte and
 * encrypted key, payload.c) once ran inside the reload, under its mutex: on the completion
 * thread, which holds every write's reply, and on PostgreSQL also at the start of the
 * writer's transaction when it saw another daemon's change, so the writer waited for it.
 * Now a reload only sets `pending`; requests made while a publish runs coalesce into one
 * more, which renders whatever snapshot is current then (never an older one after a newer:
 * publish_one compares generations).
 */
struct api_publisher {
    struct app *app;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool pending, stop;
    bool keys_changed; /* a revocation: check the streams' keys now */
    int64_t slow_ms;   /* a superseded payload must be read whole within this (ping_one) */
};

static void *publisher_main(void *arg)
{
    struct api_publisher *pb = arg;
    int64_t pinged = time_mono_ms();
    pthread_mutex_lock(&pb->mu);
    while (!pb->stop) {
        if (!pb->pending && !pb->keys_changed) {
            struct timespec until = time_monotonic_in(1000);
            pthread_cond_timedwait(&pb->wake, &pb->mu, &until);
        }
        bool publish = pb->pending && !pb->stop;
        bool keys = pb->keys_changed && !pb->stop;
        pb->pending = pb->keys_changed = false;
        pthread_mutex_unlock(&pb->mu);
        int64_t now = time_mono_ms();
        if (keys || now - pinged >= 1000) {
            check_keys(pb->app); /* before a publish: a revoked key gets no more payloads */
        }
        if (publish) {
            publish_now(pb->app);
        }
        if (now - pinged >= 1000) {
            pinged = now;
            keep_alive(pb->app, pb->slow_ms);
        }
        pthread_mutex_lock(&pb->mu);
    }
    pthread_mutex_unlock(&pb->mu);
    return NULL;
}

struct api_publisher *api_sdk_streams_start(struct app *app)
{
    struct api_publisher *pb = xcalloc(1, sizeof(*pb));
    pb->app = app;
    /* SLOW_READER_MS; BUNSEN_TEST_STREAM_SLOW_MS in tests (test_sdk_stream) */
    const char *slow = getenv("BUNSEN_TEST_STREAM_SLOW_MS");
    pb->slow_ms = slow != NULL && atoll(slow) > 0 ? atoll(slow) : SLOW_READER_MS;
    pthread_mutex_init(&pb->mu, NULL);
    cond_init_monotonic(&pb->wake);
    if (thread_start(&pb->thread, publisher_main, pb) != 0) {
        pthread_cond_destroy(&pb->wake);
        pthread_mutex_destroy(&pb->mu);
        free(pb);
        return NULL; /* publishes then run on the calling thread */
    }
    atomic_store(&app->publisher, pb);
    return pb;
}

void api_sdk_streams_stop(struct api_publisher *pb)
{
    if (pb == NULL) {
        return;
    }
    pthread_mutex_lock(&pb->mu);
    pb->stop = true;
    pthread_cond_signal(&pb->wake);
    pthread_mutex_unlock(&pb->mu);
    pthread_join(pb->thread, NULL);
}

void api_sdk_streams_free(struct api_publisher *pb)
{
    if (pb == NULL) {
        return;
    }
    atomic_store(&pb->app->publisher, NULL);
    pthread_cond_destroy(&pb->wake);
    pthread_mutex_destroy(&pb->mu);
    free(pb);
}

void api_sdk_streams_publish(struct app *app)
{
    struct api_publisher *pb = atomic_load(&app->publisher);
    if (pb == NULL) {
        publish_now(app);
        return;
    }
    pthread_mutex_lock(&pb->mu);
    pb->pending = true;
    pthread_cond_signal(&pb->wake);
    pthread_mutex_unlock(&pb->mu);
}

void api_sdk_streams_keys_changed(struct app *app)
{
    struct api_publisher *pb = atomic_load(&app->publisher);
    if (pb == NULL) {
        check_keys(app);
        return;
    }
    pthread_mutex_lock(&pb->mu);
    pb->keys_changed = true;
    pthread_cond_signal(&pb->wake);
    pthread_mutex_unlock(&pb->mu);
}

/* ---- remote evaluation ---- */

/* attributes.id as GrowthBook's SDK sees it evaluating the payload locally. */
struct remote_id {
    const json_t *id; /* attributes.id (borrowed), NULL when absent */
    const char *text; /* what it hashes (assign_hash_text: numbers and true as JavaScript
                       * prints them, strings of any length, arrays joined, "" for []),
                       * NULL when missing or falsy */
    size_t len;
    struct assign_text t;
};

/* The variant a's forced list gives the string s, or -1 (also for an entry naming no
 * variant, which the payload has no force rule for). */
static int forced_variant_of(const struct assign_experiment *a, const json_t *s)
{
    const json_t *v = json_object_getn(a->forced, json_string_value(s), json_string_length(s));
    if (!json_is_string(v)) {
        return -1;
    }
    for (size_t i = 0; i < a->nvariants; i++) {
        if (a->variant_keys[i] != NULL && strcmp(a->variant_keys[i], json_string_value(v)) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* The forced user whose variant the payload's force rules give this id, or NULL. The
 * payload has one rule per variant, in variant order, {"id": {"$in": [its users]}}, which
 * the SDK matches strictly (the number 42 is not "42") and, for an array id, by
 * intersection: ["qa-1"] is forced as "qa-1" is, and of several listed elements the first
 * rule's (lowest variant) wins. Only a string id was forced before. */
static const char *forced_user(const struct assign_experiment *a, const json_t *id)
{
    if (a->forced == NULL || a->variant_keys == NULL) {
        return NULL;
    }
    if (json_is_string(id)) {
        return forced_variant_of(a, id) >= 0 ? json_string_value(id) : NULL;
    }
    const char *best = NULL;
    int best_v = -1;
    size_t i;
    const json_t *el;
    json_array_foreach(id, i, el)
    {
        int v = json_is_string(el) ? forced_variant_of(a, el) : -1;
        if (v >= 0 && (best_v < 0 || v < best_v)) {
            best = json_string_value(el);
            best_v = v;
        }
    }
    return best;
}

/* Remote evaluation echoes the hashed attribute's value (hashValue) in the tracking result of
 * every experiment the user is in: an id of 64 KB (a 1,000-string array) over 402 experiments
 * was a 25 MB reply to a 64 KB request with a public key (security review, 2026-12). Each echo
 * is charged to the request's evaluation budget, a step per ECHO_BYTES_PER_STEP bytes of its
 * JSON text (50,000 steps: 1.6 MB of echoes at most), so an ordinary id costs a step or two per
 * experiment and the reply stays exactly what the SDK computes locally; a value too large to
 * echo that often ends the evaluation as any expensive attribute does (400). */
#define ECHO_BYTES_PER_STEP 32

struct echo_cost {
    const json_t *value; /* the last value measured (borrowed), NULL before the first */
    long steps;          /* what echoing it once costs */
};

/* false when the budget is exhausted by echoing hv once more. */
static bool charge_echo(struct echo_cost *echo, const json_t *hv, struct condition_budget *budget)
{
    if (budget->unlimited) {
        return true;
    }
    if (echo->value != hv || hv == NULL) {
        size_t bytes = hv != NULL ? json_dumpb(hv, NULL, 0, JSON_ENCODE_ANY | JSON_COMPACT) : 2;
        echo->value = hv;
        echo->steps = (long)((bytes + ECHO_BYTES_PER_STEP - 1) / ECHO_BYTES_PER_STEP);
    }
    budget->left -= echo->steps;
    return budget->left >= 0;
}

/* One feature evaluated for the user: {"defaultValue": value} and, when the user is in the
 * experiment, a force rule that tracks it (the SDK's trackingCallback fires as it would
 * locally). The decision is the SDK's local one (assign_decide_sdk): a missing or falsy id
 * leaves the user out of what hashes the id (a placeholder id was hashed: every anonymous
 * visitor was bucketed through a fallback_attribute "id"), and an id the SDK hashes as ""
 * (an empty array) is hashed so (it failed as an empty user id: every feature, even ones
 * hashed on another attribute, fell back to its default). */
static json_t *eval_feature(const struct snapshot *snap, const struct snapshot_entry *e,
                            const struct remote_id *rid, const json_t *attrs,
                            struct condition_budget *budget, struct echo_cost *echo,
                            bool *over_budget)
{
    const struct experiment *x = &e->x;
    struct assign_result res;
    struct err err;
    err_clear(&err);
    bool decided = assign_decide_sdk(&e->a, snap->group_sets, forced_user(&e->a, rid->id),
                                     rid->text, rid->len, attrs, budget, &res, &err) == 0;
    if (!decided && budget->left < 0) {
        *over_budget = true;
        return NULL;
    }
    if (!decided) {
        memset(&res, 0, sizeof(res));
        res.reason = x->status == ASSIGN_STATUS_STOPPED && x->released >= 0
                         ? ASSIGN_REASON_RELEASED
                         : ASSIGN_REASON_NOT_TARGETED;
        res.variant = res.reason == ASSIGN_REASON_RELEASED ? x->released : 0;
    }
    bool forced_only =
        x->status == ASSIGN_STATUS_DRAFT || (x->status == ASSIGN_STATUS_STOPPED && x->released < 0);
    if (forced_only && !(decided && res.reason == ASSIGN_REASON_FORCED)) {
        /* listed for its forced users only (api_experiment_in_payload): the rest get null,
         * the SDK's fallback, as in the payload */
        return json_pack("{s:n}", "defaultValue");
    }
    /* the result names what was hashed, as the SDK's local evaluation does: the attribute
     * (its fallback when that was used) and its value as sent (a number stays a number); it
     * said the user id whatever was hashed */
    const char *used = res.explain.hash_attribute ? res.explain.hash_attribute : "id";
    const json_t *echoed = json_object_get(attrs, used);
    if (res.in_experiment && !charge_echo(echo, echoed, budget)) {
        *over_budget = true;
        return NULL;
    }
    json_t *value = api_assigned_value(x, &res);
    json_t *f = json_pack("{s:O}", "defaultValue", value);
    if (res.in_experiment) {
        json_t *variations = json_array(), *meta = json_array();
        for (size_t i = 0; i < x->nvariants; i++) {
            json_array_append_new(variations, experiment_value_new(x, (int)i));
            json_array_append_new(meta, json_pack("{s:s, s:s}", "key", x->variants[i].key, "name",
                                                  x->variants[i].name));
        }
        const char *ha = x->hash_attribute[0] ? x->hash_attribute : "id";
        json_t *hv = json_incref((json_t *)(uintptr_t)echoed);
        json_t *track = json_pack(
            "{s:{s:s, s:o, s:o, s:s}, s:{s:s, s:O, s:i, s:b, s:b, s:s, s:o, s:f, s:s}}",
            "experiment", "key", x->key, "variations", variations, "meta", meta, "hashAttribute",
            ha, "result", "key", x->variants[res.variant].key, "value", value, "variationId",
            res.variant, "inExperiment", 1, "hashUsed", 1, "hashAttribute", used, "hashValue",
            hv ? hv : json_string(""), "bucket", res.bucket, "featureId", x->key);
        json_object_set_new(f, "rules",
                            json_pack("[{s:s, s:O, s:[o]}]", "id", "bunsen-remote-eval", "force",
                                      value, "tracks", track));
    }
    json_decref(value);
    return f;
}

void api_sdk_eval(struct http_req *r)
{
    struct store_key k;
    if (api_sdk_key_of(r, &k) != 0) {
        return;
    }
    json_t *body = http_req_json_body(r);
    if (body == NULL) {
        return;
    }
    const json_t *attrs = json_object_get(body, "attributes");
    if (attrs != NULL && !json_is_null(attrs) && !json_is_object(attrs)) {
        json_decref(body);
        http_reply_error(r, ERR_INVALID, "attributes", "attributes must be an object");
        return;
    }
    json_t *a = json_is_object(attrs) ? json_incref((json_t *)(uintptr_t)attrs) : json_object();
    struct app *app = http_req_app(r);
    /* the same caps and per-request budget as /assign and OFREP */
    struct err err;
    err_clear(&err);
    if (api_attributes_check(app, a, "attributes", &err) != 0) {
        json_decref(a);
        json_decref(body);
        http_reply_err(r, &err);
        return;
    }
    struct remote_id rid = {.id = json_object_get(a, "id")};
    rid.text = assign_hash_text(rid.id, &rid.t, &rid.len);
    struct condition_budget budget;
    api_eval_budget(app, &budget);
    bool over_budget = false;
    struct echo_cost echo = {.value = NULL};
    const struct snapshot *snap = snapshot_read_begin(app->experiments);
    json_t *features = json_object();
    for (size_t i = 0; i < snap->n && !over_budget; i++) {
        const struct snapshot_entry *e = snap->entries[i];
        if (api_experiment_in_payload(e)) {
            json_t *f = eval_feature(snap, e, &rid, a, &budget, &echo, &over_budget);
            if (f != NULL) {
                json_object_set_new(features, e->x.key, f);
            }
        }
    }
    snapshot_read_end(app->experiments, snap);
    api_eval_charge(r, app, &budget);
    assign_text_free(&rid.t);
    json_decref(a);
    json_decref(body);
    if (over_budget) {
        json_decref(features);
        http_reply_error(r, ERR_INVALID, "attributes",
                         "evaluating the targeting conditions for these attributes exceeds the "
                         "per-request evaluation budget");
        return;
    }
    /* savedGroups stay server-side: the conditions were evaluated here */
    json_t *reply = json_pack("{s:o, s:o}", "features", features, "savedGroups", json_object());
    /* reals shortest as every reply: the bucket is 0.6229, hashValue the double hashed */
    http_reply_json(r, 200, reply);
}
