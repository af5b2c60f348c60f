/*
 * bench/probe.c - a client that writes one event every INTERVAL ms and times each write
 * (POST /api/v1/events, one connection per request, as a small SDK would), until the file
 * STOPFILE exists. Prints: writes, non-2xx answers, p50, p99 and max latency in ms.
 *
 * usage: probe PORT KEY INTERVAL_MS STOPFILE
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One POST; the HTTP status, or -1 on a connection error. */
static int post(int port, const char *key, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     key, strlen(body), body);
    if (send(fd, req, (size_t)n, 0) != n) {
        close(fd);
        return -1;
    }
    char buf[4096];
    size_t used = 0;
    ssize_t got;
    while (used < sizeof(buf) - 1 && (got = recv(fd, buf + used, sizeof(buf) - 1 - used, 0)) > 0) {
        used += (size_t)got;
    }
    close(fd);
    buf[used] = '\0';
    return used > 12 && strncmp(buf, "HTTP/1.", 7) == 0 ? atoi(buf + 9) : -1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT KEY INTERVAL_MS STOPFILE\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    double interval = atof(argv[3]);
    size_t cap = 1 << 20, n = 0;
    double *ms = malloc(cap * sizeof(*ms));
    int bad = 0;
    double next = now_ms();
    for (long i = 0; access(argv[4], F_OK) != 0; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"events\":[{\"user_id\":\"u%ld\",\"event\":\"pageview\",\"value\":1}]}",
                 (i * 7919) % 1000000);
        double t0 = now_ms();
        int st = post(port, argv[2], body);
        double t = now_ms() - t0;
        if (st < 200 || st > 299) {
            bad++;
        }
        if (n < cap) {
            ms[n++] = t;
        }
        next += interval;
        double wait = next - now_ms();
        if (wait > 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(wait * 1e6)};
            nanosleep(&ts, NULL);
        }
    }
    if (n == 0) {
        printf("writes=0\n");
        return 1;
    }
    qsort(ms, n, sizeof(*ms), cmp);
    printf("writes=%zu non_2xx=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n", n, bad, ms[n / 2],
           ms[(n * 99) / 100], ms[n - 1]);
    free(ms);
    return bad == 0 ? 0 : 1;
}
