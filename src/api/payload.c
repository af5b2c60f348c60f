/*
 * payload.c - the GrowthBook SDK payload as SDKs receive it (GET /api/features, GET /sub
 * streams), rendered once per assignment snapshot and encryption key.
 *
 * The payload carries every saved group (up to 100,000 values each), so rendering it (JSON
 * text, AES for encrypted keys, the SHA-256 ETag) costs tens of milliseconds per megabyte.
 * It was rendered for every request, 304s included, and for every stream subscriber on
 * every change, on public routes (an sdk key is public in client apps). Now the rendered
 * payloads of the current snapshot are kept (one per key in use, PAYLOADS_MAX at most),
 * each with a reference count: a request takes one, answers 304 from its tag or sends its
 * text without a copy (http_reply_shared), and drops it when MHD is done; a /sub stream
 * holds one while it sends or queues the payload's event (framed around the same text); a
 * newer
 * snapshot's payloads replace the older ones. A request that finds its payload being
 * rendered waits for that render, so a burst of requests after a change renders once per
 * key, not once per request; renders of different keys run side by side.
 * Threads: any (request threads, the completion thread's stream publishing).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/jsonw.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"

#define PAYLOADS_MAX  64  /* kept at most (keys in use with the current snapshot) */
#define ENC_KNOWN_MAX 256 /* encryption keys remembered (api_key_encryption) */

/* A payload of the cache: rendered, or being rendered by one thread (p == NULL). */
struct entry {
    uint64_t generation;
    char enc[API_ENC_KEY_LEN];
    struct api_payload *p; /* the cache's reference; NULL while rendering */
    uint64_t used;         /* last use, for eviction */
};

struct api_payloads {
    pthread_mutex_t mu;
    pthread_cond_t rendered; /* a render ended (its entry filled or dropped) */
    struct entry e[PAYLOADS_MAX];
    size_t n;
    uint64_t clock;
    _Atomic uint64_t renders; /* bunsen_sdk_payload_renders_total */
    struct {
        char id[24];
        char enc[API_ENC_KEY_LEN];
    } known[ENC_KNOWN_MAX]; /* the last read of each key's encryption key, round robin */
    size_t nknown, next_known;
};

/*
 * The encryption key of sdk key id ("" = plain): the one read before, else read from the
 * database. A key's encryption key is set when the key is made and never changes, and the key
 * itself was verified just before (api_sdk_key_of: confirmed with the database when it
 * answers, from the key cache while it does not), so the SDK routes answer the payload in
 * memory as /assign answers from it: this read was on every request, and waited for a
 * database that did not answer up to --db-timeout (they answered 503 in an outage).
 */
int api_key_encryption(struct app *app, const char *id, char *out, size_t n, struct err *err)
{
    struct api_payloads *ps = app->payloads;
    if (ps != NULL) {
        pthread_mutex_lock(&ps->mu);
        for (size_t i = 0; i < ps->nknown; i++) {
            if (strcmp(ps->known[i].id, id) == 0) {
                str_copy(out, n, ps->known[i].enc);
                pthread_mutex_unlock(&ps->mu);
                return 0;
            }
        }
        pthread_mutex_unlock(&ps->mu);
    }
    int rc = store_key_encryption(app->store, id, out, n, err);
    if (rc != 0 && err->code == ERR_NOT_FOUND) {
        /* revoked since its verification: what the key's verification answers, never the
         * key's id */
        err_clear(err);
        return err_set(err, ERR_UNAUTH, NULL, "unknown or revoked SDK key");
    }
    if (ps == NULL || rc != 0) {
        return rc;
    }
    pthread_mutex_lock(&ps->mu);
    size_t i = 0;
    while (i < ps->nknown && strcmp(ps->known[i].id, id) != 0) {
        i++;
    }
    if (i == ps->nknown) {
        i = ps->nknown < ENC_KNOWN_MAX ? ps->nknown++ : ps->next_known++ % ENC_KNOWN_MAX;
    }
    str_copy(ps->known[i].id, sizeof(ps->known[i].id), id);
    str_copy(ps->known[i].enc, sizeof(ps->known[i].enc), out);
    pthread_mutex_unlock(&ps->mu);
    return 0;
}

struct api_payloads *api_payloads_new(void)
{
    struct api_payloads *ps = xcalloc(1, sizeof(*ps));
    pthread_mutex_init(&ps->mu, NULL);
    pthread_cond_init(&ps->rendered, NULL);
    return ps;
}

void api_payload_release(const struct api_payload *cp)
{
    struct api_payload *p = (struct api_payload *)(uintptr_t)cp;
    if (p != NULL && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) {
        free(p->event);
        free(p);
    }
}

void api_payloads_free(struct api_payloads *ps)
{
    if (ps == NULL) {
        return;
    }
    for (size_t i = 0; i < ps->n; i++) {
        api_payload_release(ps->e[i].p);
    }
    pthread_mutex_destroy(&ps->mu);
    pthread_cond_destroy(&ps->rendered);
    free(ps);
}

/* Render snap's payload for enc ("" = plain): a new payload with one reference, or NULL. */
static struct api_payload *render(const struct snapshot *snap, const char *enc, struct err *err)
{
    json_t *j = api_payload_for_key(api_growthbook_payload_of(snap), enc, err);
    if (j == NULL) {
        return NULL;
    }
    /* shortest round-trip reals: the SDK sees exactly the weights the daemon hashes with, and
     * the numbers its conditions are evaluated with (one stored with 17 digits by an older
     * version is still evaluated as stored, by the daemon and so by the SDK) */
    char *text = jsonw_dumps(j, NULL);
    json_decref(j);
    if (text == NULL) {
        return err_set(err, ERR_INTERNAL, NULL, "cannot encode the payload"), NULL;
    }
    /* the /sub streams' event framed around the text once, so that GET /api/features and
     * every subscriber share one copy (compact JSON has no newline) */
    static const char head[] = "event: features\ndata: ";
    size_t len = strlen(text);
    struct api_payload *p = xcalloc(1, sizeof(*p));
    atomic_init(&p->refs, 1);
    p->generation = snap->generation;
    str_copy(p->enc, sizeof(p->enc), enc);
    p->event_len = sizeof(head) - 1 + len + 2;
    p->event = xmalloc(p->event_len + 1);
    memcpy(p->event, head, sizeof(head) - 1);
    memcpy(p->event + sizeof(head) - 1, text, len);
    memcpy(p->event + sizeof(head) - 1 + len, "\n\n", 3);
    free(text);
    p->text = p->event + sizeof(head) - 1;
    p->len = len;
    api_strong_etag(NULL, p->text, p->len, p->tag);
    return p;
}

/* The entry of (generation, enc), or NULL. ps->mu held. */
static struct entry *entry_find(struct api_payloads *ps, uint64_t generation, const char *enc)
{
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->e[i].generation == generation && strcmp(ps->e[i].enc, enc) == 0) {
            return &ps->e[i];
        }
    }
    return NULL;
}

/* Drop entry i (its payload lives on while requests hold it). ps->mu held. */
static void entry_drop(struct api_payloads *ps, size_t i)
{
    api_payload_release(ps->e[i].p);
    ps->e[i] = ps->e[--ps->n];
}

/* A new entry for (generation, enc), marked as being rendered: entries of older snapshots
 * go first, then (past PAYLOADS_MAX keys) the least recently used rendered one. ps->mu held;
 * NULL when every entry is being rendered. */
static struct entry *entry_new(struct api_payloads *ps, uint64_t generation, const char *enc)
{
    for (size_t i = ps->n; i-- > 0;) {
        if (ps->e[i].generation < generation && ps->e[i].p != NULL) {
            entry_drop(ps, i);
        }
    }
    if (ps->n == PAYLOADS_MAX) {
        size_t at = PAYLOADS_MAX;
        for (size_t i = 0; i < ps->n; i++) {
            if (ps->e[i].p != NULL && (at == PAYLOADS_MAX || ps->e[i].used < ps->e[at].used)) {
                at = i;
            }
        }
        if (at == PAYLOADS_MAX) {
            return NULL;
        }
        entry_drop(ps, at);
    }
    struct entry *e = &ps->e[ps->n++];
    memset(e, 0, sizeof(*e));
    e->generation = generation;
    str_copy(e->enc, sizeof(e->enc), enc);
    e->used = ++ps->clock;
    return e;
}

/* Through the cache: the rendered payload of (snap, enc) with a reference taken. A request
 * that finds it being rendered waits for that render instead of rendering it again; renders
 * of different keys run side by side. */
static struct api_payload *cached(struct api_payloads *ps, const struct snapshot *snap,
                                  const char *enc, struct err *err)
{
    pthread_mutex_lock(&ps->mu);
    struct entry *e;
    while ((e = entry_find(ps, snap->generation, enc)) != NULL && e->p == NULL) {
        pthread_cond_wait(&ps->rendered, &ps->mu);
    }
    if (e != NULL) {
        struct api_payload *p = e->p;
        atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
        e->used = ++ps->clock;
        pthread_mutex_unlock(&ps->mu);
        return p;
    }
    bool marked = entry_new(ps, snap->generation, enc) != NULL;
    pthread_mutex_unlock(&ps->mu);
    struct api_payload *p = render(snap, enc, err);
    if (p != NULL) {
        atomic_fetch_add_explicit(&ps->renders, 1, memory_order_relaxed);
    }
    if (!marked) {
        return p; /* every entry being rendered: this one is not kept */
    }
    pthread_mutex_lock(&ps->mu);
    e = entry_find(ps, snap->generation, enc); /* entries move when others are dropped */
    if (p != NULL) {
        atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed); /* the cache's */
        e->p = p;
    } else {
        ps->e[e - ps->e] = ps->e[--ps->n]; /* failed: the next request tries again */
    }
    pthread_cond_broadcast(&ps->rendered);
    pthread_mutex_unlock(&ps->mu);
    return p;
}

const struct api_payload *api_payload_get(struct app *app, const char *enc, struct err *err)
{
    enc = enc != NULL ? enc : "";
    const struct snapshot *snap = snapshot_read_begin(app->experiments);
    struct api_payload *p =
        app->payloads != NULL ? cached(app->payloads, snap, enc, err) : render(snap, enc, err);
    snapshot_read_end(app->experiments, snap);
    return p;
}

uint64_t api_payload_renders(struct api_payloads *ps)
{
    return ps != NULL ? atomic_load_explicit(&ps->renders, memory_order_relaxed) : 0;
}
