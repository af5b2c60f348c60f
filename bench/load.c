/*
 * bench/load.c - a fixed number of POST /api/v1/assign requests over keep-alive
 * connections, for bench/callgrind.sh: instruction counts per request need an exact
 * request count, which wrk (duration-based) does not give.
 *
 *   load PORT KEY EXPERIMENT LOG_EXPOSURE N CONNS TAG
 *       CONNS threads, each with one keep-alive connection, send N requests in all (the
 *       same request as bench/assign.lua: a distinct user id "b<TAG>-<conn>-<i>" per
 *       request, attributes {"country":"NL"}, the named experiment, log_exposure true or
 *       false; KEY "-" sends no Authorization header) and read each reply (Content-Length)
 *       before sending the next. Prints "load <replies> <seconds>". Exit status 1 unless
 *       every reply was a 200.
 *
 * The servers compared (bunsen, nginx, bench/mhd_ref.c) all see the same bytes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, total, nconns;
static const char *key, *experiment, *log_exposure, *tag;

struct client {
    pthread_t th;
    int id;
    int n;  /* requests to send */
    int ok; /* 200 replies read */
};

static int connect_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read one reply; returns its status, 0 on I/O or framing errors. */
static int read_reply(int fd, char *buf, size_t cap)
{
    size_t used = 0;
    char *end = NULL;
    while (end == NULL) {
        if (used + 1 >= cap) {
            return 0;
        }
        ssize_t got = recv(fd, buf + used, cap - 1 - used, 0);
        if (got <= 0) {
            return 0;
        }
        used += (size_t)got;
        buf[used] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head = (size_t)(end - buf) + 4;
    long clen = -1;
    for (char *line = strstr(buf, "\r\n"); line != NULL && line < end;
         line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) {
            clen = strtol(line + 17, NULL, 10);
        }
    }
    if (clen < 0) {
        return 0;
    }
    while (used < head + (size_t)clen) {
        if (used + 1 >= cap) {
            return 0;
        }
        ssize_t got = recv(fd, buf + used, cap - 1 - used, 0);
        if (got <= 0) {
            return 0;
        }
        used += (size_t)got;
    }
    if (used != head + (size_t)clen) {
        return 0; /* one request in flight per connection: nothing may follow the reply */
    }
    return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : 0;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    int fd = connect_local();
    if (fd < 0) {
        return NULL;
    }
    char auth[300] = "";
    if (strcmp(key, "-") != 0) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", key);
    }
    char req[1024], body[512], reply[8192];
    for (int i = 0; i < c->n; i++) {
        int bn = snprintf(body, sizeof(body),
                          "{\"user_id\":\"b%s-%d-%d\",\"attributes\":{\"country\":\"NL\"},"
                          "\"experiments\":[\"%s\"],\"log_exposure\":%s}",
                          tag, c->id, i, experiment, log_exposure);
        int rn = snprintf(req, sizeof(req),
                          "POST /api/v1/assign HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
                          "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                          port, auth, bn, body);
        if (send_all(fd, req, (size_t)rn) != 0) {
            break;
        }
        int st = read_reply(fd, reply, sizeof(reply));
        if (st != 200) {
            fprintf(stderr, "load: connection %d request %d: status %d\n", c->id, i, st);
            break;
        }
        c->ok++;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: load PORT KEY EXPERIMENT LOG_EXPOSURE N CONNS TAG\n");
        return 2;
    }
    port = atoi(argv[1]);
    key = argv[2];
    experiment = argv[3];
    log_exposure = argv[4];
    total = atoi(argv[5]);
    nconns = atoi(argv[6]);
    tag = argv[7];
    if (total <= 0 || nconns <= 0 || nconns > 256) {
        return 2;
    }
    struct client *cs = calloc((size_t)nconns, sizeof(*cs));
    if (cs == NULL) {
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < nconns; i++) {
        cs[i].id = i;
        cs[i].n = total / nconns + (i < total % nconns ? 1 : 0);
        pthread_create(&cs[i].th, NULL, client_main, &cs[i]);
    }
    int ok = 0;
    for (int i = 0; i < nconns; i++) {
        pthread_join(cs[i].th, NULL);
        ok += cs[i].ok;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("load %d %.3f\n", ok, dt);
    free(cs);
    return ok == total ? 0 : 1;
}
