/*
 * wait.c - the PostgreSQL adapter's account of its waits for the server: which connection
 * waits since when and when one was last answered (pg_wait_begin / pg_wait_end, from
 * conn.c's await_answer and reconnection), whether the server keeps this process waiting
 * (pg_answering: store.h store_answering), and the bound a shutdown puts on every wait
 * (pg_shutdown_begin, pg_wait_deadline: store.h store_shutdown_begin).
 *
 * Threads: any; the state is atomics in struct pg_store, each connection writing its own
 * slot (pg_conn_watch).
 */
#include "pg_int.h"

#include <stdatomic.h>

#include "bunsen/util.h"

void pg_wait_begin(struct pg_conn *c, uint64_t now)
{
    if (c->waiting_since != NULL) {
        atomic_store_explicit(c->waiting_since, now, memory_order_relaxed);
    }
}

void pg_wait_end(struct pg_conn *c, bool answered)
{
    if (c->waiting_since != NULL) {
        atomic_store_explicit(c->waiting_since, 0, memory_order_relaxed);
    }
    if (answered && c->answered_ns != NULL) {
        atomic_store_explicit(c->answered_ns, time_mono_ns(), memory_order_relaxed);
    }
}

uint64_t pg_wait_deadline(uint64_t start, int limit_ms, const _Atomic uint64_t *closing_ns,
                          int timeout_ms)
{
    uint64_t deadline = limit_ms > 0 ? start + (uint64_t)limit_ms * 1000000u : UINT64_MAX;
    uint64_t closing = closing_ns != NULL ? atomic_load(closing_ns) : 0;
    if (closing != 0) {
        /* stopping: the drain waits at most the answer timeout (30 s when waits are not
         * bounded otherwise), a COMMIT's too: cut off, its outcome is unknown, as when the
         * connection is lost (docs/SCALING.md) */
        uint64_t t = (uint64_t)(timeout_ms > 0 ? timeout_ms : PG_TIMEOUT_MS_DEF) * 1000000u;
        deadline = closing + t < deadline ? closing + t : deadline;
    }
    return deadline;
}

void pg_shutdown_begin(struct store *s)
{
    struct pg_store *p = pg_be(s);
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&p->closing_ns, &zero, time_mono_ns());
    pthread_mutex_lock(&p->pool_mu);
    pthread_cond_broadcast(&p->pool_cv); /* a wait for a connection takes the new bound */
    pthread_mutex_unlock(&p->pool_mu);
}

void pg_conn_watch(struct pg_conn *c, struct pg_store *p, int slot)
{
    c->waiting_since = slot >= 0 ? &p->waiting_since[slot] : NULL;
    c->answered_ns = &p->answered_ns;
    c->closing_ns = &p->closing_ns;
}

bool pg_answering(struct store *s)
{
    struct pg_store *p = pg_be(s);
    uint64_t now = time_mono_ns();
    if (now - atomic_load_explicit(&p->answered_ns, memory_order_relaxed) < PG_STALL_NS) {
        return true; /* a wait past it may be one slow statement: others are answered */
    }
    for (int i = 0; i < PG_WAIT_SLOTS; i++) {
        uint64_t since = atomic_load_explicit(&p->waiting_since[i], memory_order_relaxed);
        if (since != 0 && since < now && now - since >= PG_STALL_NS) {
            return false;
        }
    }
    return true;
}
