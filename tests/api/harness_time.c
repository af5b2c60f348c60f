/*
 * harness_time.c - the API tests' clocks and timed requests (harness.h: harness_now_ms,
 * harness_clock_ms, harness_clock_s, harness_wall_ms, struct harness_timed): how long a reply
 * or an exit took, and the wall-clock base of the timestamps tests send. Split from harness.c,
 * which starts daemons and speaks HTTP to them. harness_timed_start runs a request on a thread of
 * its own; everything else runs on the caller's thread.
 */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

uint64_t harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

double harness_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double harness_clock_s(void)
{
    return harness_clock_ms() / 1e3;
}

int64_t harness_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000;
}

void harness_timed_call(struct harness_timed *t)
{
    uint64_t t0 = harness_now_ms();
    struct resp r;
    t->status = -1;
    t->retry_after[0] = '\0';
    t->body_start[0] = '\0';
    if (http_req(t->port, t->method, t->path, t->key, t->body, &r) == 0) {
        t->status = r.status;
        resp_header(&r, "Retry-After", t->retry_after, sizeof(t->retry_after));
        snprintf(t->body_start, sizeof(t->body_start), "%s", r.body != NULL ? r.body : "");
        resp_free(&r);
    }
    t->ms = harness_now_ms() - t0;
}

static void *timed_main(void *arg)
{
    harness_timed_call(arg);
    return NULL;
}

void harness_timed_start(struct harness_timed *t)
{
    assert_int_equal(pthread_create(&t->th, NULL, timed_main, t), 0);
}

void harness_timed_join(struct harness_timed *t)
{
    pthread_join(t->th, NULL);
}
