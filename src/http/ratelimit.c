/*
 * ratelimit.c - per-key token buckets for the rate-limited route classes (http_int.h).
 *
 * Each (class, key id) has a bucket of `rate` tokens per second with a burst of
 * 2 x rate; a request takes one token or is refused with 429 and Retry-After. Buckets
 * live in a fixed open-addressing table guarded by striped mutexes (the critical section
 * is a few arithmetic operations); a full table degrades to "no limit" rather than
 * refusing service. The hot path (/assign, OFREP, features) is not limited.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bunsen/util.h"
#include "http_int.h"

#define RL_SLOTS   4096
#define RL_STRIPES 64

struct rl_slot {
    char key[28]; /* class digit + key id; "" = free */
    double tokens;
    uint64_t last_ns;
};

struct ratelimit {
    pthread_mutex_t mu[RL_STRIPES];
    struct rl_slot slots[RL_SLOTS];
};

struct ratelimit *ratelimit_new(void)
{
    struct ratelimit *rl = xcalloc(1, sizeof(*rl));
    for (int i = 0; i < RL_STRIPES; i++) {
        pthread_mutex_init(&rl->mu[i], NULL);
    }
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL) {
        return;
    }
    for (int i = 0; i < RL_STRIPES; i++) {
        pthread_mutex_destroy(&rl->mu[i]);
    }
    free(rl);
}

bool ratelimit_take(struct ratelimit *rl, int cls, const char *key_id, double rate,
                    double *retry_after_s)
{
    *retry_after_s = 0;
    if (rl == NULL || rate <= 0) {
        return true;
    }
    char key[28];
    snprintf(key, sizeof(key), "%d%s", cls, key_id);
    uint32_t h = 2166136261u;
    for (const char *p = key; *p; p++) {
        h = (h ^ (unsigned char)*p) * 16777619u;
    }
    /* the slots of one probe sequence share a stripe: probe within a 64-slot window */
    size_t base = (h % (RL_SLOTS / RL_STRIPES)) * RL_STRIPES;
    pthread_mutex_t *mu = &rl->mu[(base / RL_STRIPES) % RL_STRIPES];
    uint64_t now = time_mono_ns();
    double burst = 2 * rate;
    bool ok = true;
    pthread_mutex_lock(mu);
    struct rl_slot *slot = NULL;
    for (size_t i = 0; i < RL_STRIPES; i++) {
        struct rl_slot *s = &rl->slots[base + i];
        if (strcmp(s->key, key) == 0) {
            slot = s;
            break;
        }
        if (s->key[0] == '\0') {
            snprintf(s->key, sizeof(s->key), "%s", key);
            s->tokens = burst;
            s->last_ns = now;
            slot = s;
            break;
        }
    }
    if (slot != NULL) {
        slot->tokens += (double)(now - slot->last_ns) / 1e9 * rate;
        if (slot->tokens > burst) {
            slot->tokens = burst;
        }
        slot->last_ns = now;
        if (slot->tokens >= 1) {
            slot->tokens -= 1;
        } else {
            ok = false;
            *retry_after_s = (1 - slot->tokens) / rate;
        }
    }
    pthread_mutex_unlock(mu);
    return ok;
}
