/*
 * harness_hold.c - holding a daemon's slow work where a test chooses, so that tests check the
 * order of replies instead of their milliseconds (harness.h: harness_gate_*, harness_send,
 * harness_send_req, harness_answered, harness_recv_status, harness_recv_reply,
 * harness_bench_latency).
 *
 * The offload gate (src/http/offload.c, BUNSEN_TEST_OFFLOAD_GATE): a daemon started after
 * harness_gate_init holds every offloaded handler, once an offload thread has taken it, while
 * the gate file exists (harness_gate_close creates it, harness_gate_open removes it), and counts
 * them (harness_gate_held, harness_gate_wait_held: the size of "<gate>.held"). A request
 * sent with harness_send stays unanswered while held; harness_answered says, without waiting,
 * whether its reply has begun. Receive timeouts here are hang detectors only (HARNESS_HANG_S):
 * no test bound is a latency. Everything runs on the caller's thread.
 */
#include "harness.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void harness_gate_init(char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/bunsen-gate-%ld", (long)getpid());
    unlink(path);
    setenv("BUNSEN_TEST_OFFLOAD_GATE", path, 1);
}

static void held_path(const char *gate, char *out, size_t cap)
{
    snprintf(out, cap, "%s.held", gate);
}

void harness_gate_close(const char *path)
{
    char held[300];
    held_path(path, held, sizeof(held));
    unlink(held); /* the count starts again */
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fail_msg("cannot create the offload gate %s", path);
    }
    fclose(f);
}

void harness_gate_open(const char *path)
{
    char held[300];
    held_path(path, held, sizeof(held));
    unlink(path);
    unlink(held); /* the count goes with the gate: no file left behind */
}

int harness_gate_held(const char *path)
{
    char held[300];
    struct stat st;
    held_path(path, held, sizeof(held));
    return stat(held, &st) == 0 ? (int)st.st_size : 0;
}

int harness_gate_wait_held(const char *path, int n, const int *fds, int nfds)
{
    int held = 0;
    for (int round = 0; round < HARNESS_HANG_S * 100; round++) {
        held = harness_gate_held(path);
        if (held >= n) {
            break;
        }
        for (int i = 0; i < nfds; i++) {
            if (harness_answered(fds[i])) {
                return held; /* answered, not held: the caller fails */
            }
        }
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    return held;
}

int harness_send_req(int port, const char *method, const char *path, const char *key,
                     const char *body, bool keep_unsent)
{
    int fd = harness_connect(port, HARNESS_HANG_S);
    if (fd < 0) {
        return -1;
    }
    size_t blen = body != NULL ? strlen(body) : 0;
    size_t cap = blen + 512 + strlen(path);
    char *req = malloc(cap);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method,
                     path);
    if (key != NULL) {
        n += snprintf(req + n, cap - (size_t)n, "Authorization: Bearer %s\r\n", key);
    }
    if (body != NULL) {
        n += snprintf(req + n, cap - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    }
    n += snprintf(req + n, cap - (size_t)n, "\r\n");
    if (body != NULL) {
        memcpy(req + n, body, blen);
        n += (int)blen;
    }
    int sent = harness_send_all(fd, req, (size_t)n);
    free(req);
    if (sent != 0 && !keep_unsent) {
        close(fd);
        return -1;
    }
    return fd;
}

int harness_send(int port, const char *method, const char *path, const char *key, const char *body)
{
    return harness_send_req(port, method, path, key, body, false);
}

bool harness_answered(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0; /* a reply, or the connection ended (POLLHUP, POLLERR) */
}

int harness_recv_reply(int fd, json_t **body)
{
    size_t used = 0;
    char *buf = harness_recv_all(fd, &used);
    int status = used > 12 && strncmp(buf, "HTTP/1.", 7) == 0 ? atoi(buf + 9) : -1;
    if (body != NULL) {
        const char *b = strstr(buf, "\r\n\r\n");
        *body = b != NULL ? json_loads(b + 4, 0, NULL) : NULL;
    }
    free(buf);
    return status;
}

int harness_recv_status(int fd, char *code, size_t codecap)
{
    json_t *j = NULL;
    int status = harness_recv_reply(fd, code != NULL ? &j : NULL);
    if (code != NULL) {
        const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
        snprintf(code, codecap, "%s", c != NULL ? c : "");
        json_decref(j);
    }
    return status;
}

bool harness_bench_latency(void)
{
    const char *v = getenv("BUNSEN_BENCH_LATENCY");
    return v != NULL && strcmp(v, "1") == 0;
}
