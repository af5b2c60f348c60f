/*
 * payload.c - the GrowthBook SDK payload as SDKs receive it (GET /api/features, GET /sub
 * streams), rendered once per assignment snapshot and encryption key.
 *
 * The payload carries every saved group (up to 100,000 values each), so rendering it (JSON
 * text, AES for encrypted keys, the SHA-256 ETag) costs tens of milliseconds per megabyte.
 * It was rendered for every request, 304s included, and for every stream subscriber on
 * every change, on public routes (an sdk key is public in client apps). Now a few rendered
 * payloads are kept, each with a reference count: a request takes one, answers 304 from its
 * tag or sends its text without a copy (http_reply_shared), and drops it when MHD is done;
 * a newer snapshot's payload replaces the oldest. One render at a time (render_mu), so a
 * burst of requests after a change renders once per key, not once per request.
 * Threads: any (request threads, the completion thread's stream publishing).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bunsen/api.h"
#include "bunsen/snapshot.h"
#include "bunsen/util.h"

#define PAYLOADS_KEPT 8

struct api_payloads {
    pthread_mutex_t mu;        /* the slots */
    pthread_mutex_t render_mu; /* one render at a time */
    struct api_payload *slot[PAYLOADS_KEPT];
    uint64_t used[PAYLOADS_KEPT]; /* last use, for eviction */
    uint64_t clock;
    _Atomic uint64_t renders; /* bunsen_sdk_payload_renders_total */
};

struct api_payloads *api_payloads_new(void)
{
    struct api_payloads *ps = xcalloc(1, sizeof(*ps));
    pthread_mutex_init(&ps->mu, NULL);
    pthread_mutex_init(&ps->render_mu, NULL);
    return ps;
}

void api_payload_release(const struct api_payload *cp)
{
    struct api_payload *p = (struct api_payload *)(uintptr_t)cp;
    if (p != NULL && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) {
        free(p->text);
        free(p);
    }
}

void api_payloads_free(struct api_payloads *ps)
{
    if (ps == NULL) {
        return;
    }
    for (int i = 0; i < PAYLOADS_KEPT; i++) {
        api_payload_release(ps->slot[i]);
    }
    pthread_mutex_destroy(&ps->mu);
    pthread_mutex_destroy(&ps->render_mu);
    free(ps);
}

/* The kept payload of (generation, enc) with a reference taken, or NULL. */
static struct api_payload *find(struct api_payloads *ps, uint64_t generation, const char *enc)
{
    struct api_payload *found = NULL;
    pthread_mutex_lock(&ps->mu);
    for (int i = 0; i < PAYLOADS_KEPT && found == NULL; i++) {
        struct api_payload *p = ps->slot[i];
        if (p != NULL && p->generation == generation && strcmp(p->enc, enc) == 0) {
            atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
            ps->used[i] = ++ps->clock;
            found = p;
        }
    }
    pthread_mutex_unlock(&ps->mu);
    return found;
}

/* Keep p (the cache's own reference): in a free slot, else in place of the least recently
 * used; payloads of older snapshots go (a newer one is what requests ask for now). */
static void keep(struct api_payloads *ps, struct api_payload *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    struct api_payload *gone[PAYLOADS_KEPT] = {0};
    pthread_mutex_lock(&ps->mu);
    int at = -1;
    for (int i = 0; i < PAYLOADS_KEPT; i++) {
        if (ps->slot[i] != NULL && ps->slot[i]->generation < p->generation) {
            gone[i] = ps->slot[i];
            ps->slot[i] = NULL;
        }
        at = at < 0 && ps->slot[i] == NULL ? i : at;
    }
    if (at < 0) {
        at = 0;
        for (int i = 1; i < PAYLOADS_KEPT; i++) {
            at = ps->used[i] < ps->used[at] ? i : at;
        }
        gone[at] = ps->slot[at];
    }
    ps->slot[at] = p;
    ps->used[at] = ++ps->clock;
    pthread_mutex_unlock(&ps->mu);
    for (int i = 0; i < PAYLOADS_KEPT; i++) {
        api_payload_release(gone[i]);
    }
}

/* Render snap's payload for enc ("" = plain): a new payload with one reference, or NULL. */
static struct api_payload *render(const struct snapshot *snap, const char *enc, struct err *err)
{
    json_t *j = api_payload_for_key(api_growthbook_payload_of(snap), enc, err);
    if (j == NULL) {
        return NULL;
    }
    /* 17 digits: the SDK must see exactly the weights the daemon hashes with */
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(j);
    if (text == NULL) {
        return err_set(err, ERR_INTERNAL, NULL, "cannot encode the payload"), NULL;
    }
    struct api_payload *p = xcalloc(1, sizeof(*p));
    atomic_init(&p->refs, 1);
    p->generation = snap->generation;
    str_copy(p->enc, sizeof(p->enc), enc);
    p->text = text;
    p->len = strlen(text);
    api_strong_etag(NULL, text, p->len, p->tag);
    return p;
}

const struct api_payload *api_payload_get(struct app *app, const char *enc, struct err *err)
{
    enc = enc != NULL ? enc : "";
    const struct snapshot *snap = snapshot_read_begin(app->experiments);
    struct api_payloads *ps = app->payloads;
    struct api_payload *p = ps != NULL ? find(ps, snap->generation, enc) : NULL;
    if (p == NULL && ps != NULL) {
        pthread_mutex_lock(&ps->render_mu);
        p = find(ps, snap->generation, enc); /* rendered while this one waited */
        if (p == NULL && (p = render(snap, enc, err)) != NULL) {
            atomic_fetch_add_explicit(&ps->renders, 1, memory_order_relaxed);
            keep(ps, p);
        }
        pthread_mutex_unlock(&ps->render_mu);
    } else if (p == NULL) {
        p = render(snap, enc, err); /* no cache (tools, tests) */
    }
    snapshot_read_end(app->experiments, snap);
    return p;
}

uint64_t api_payload_renders(struct api_payloads *ps)
{
    return ps != NULL ? atomic_load_explicit(&ps->renders, memory_order_relaxed) : 0;
}
