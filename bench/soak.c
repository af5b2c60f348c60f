/*
 * bench/soak.c - mixed traffic at a fixed rate for a fixed time against a running daemon,
 * for bench/soak.sh (which kills and restarts the daemon meanwhile and samples its RSS).
 *
 * Mix: 80% POST /api/v1/assign (new and returning users, exposures logged), 15% POST
 * /api/v1/events (10 events with unique ids), 5% reads/management (results, experiment
 * list, metrics list). THREADS workers share the rate; each keeps one keep-alive
 * connection and reconnects after errors (the daemon restarting). Every event id that got
 * a 2xx is appended to ACKED_FILE so the script can check that all are in the database.
 * The port is re-read from PORT_FILE after a connection failure (it changes on restart).
 *
 * usage: soak PORT_FILE SDK_KEY ADMIN_KEY SECONDS RATE ACKED_FILE
 * prints: per-class counts, errors, unavailable (connection refused/reset while the daemon
 * was down), and latency percentiles of successful requests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define THREADS     8
#define LAT_BUCKETS 2000 /* 0.1 ms buckets up to 200 ms; the last is overflow */

static const char *port_file, *sdk_key, *admin_key;
static double seconds, rate;
static FILE *acked;
static pthread_mutex_t acked_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long ok_n[3], err_n[3], down_n;
static atomic_long lat[LAT_BUCKETS + 1];
static atomic_long event_seq;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_port(void)
{
    FILE *f = fopen(port_file, "r");
    int p = 0;
    if (f != NULL) {
        if (fscanf(f, "%d", &p) != 1) {
            p = 0;
        }
        fclose(f);
    }
    return p;
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One request on a keep-alive connection; returns the status or -1 (connection broken). */
static int request(int fd, const char *method, const char *path, const char *key, const char *body)
{
    char req[4096];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, key, blen, body ? body : "");
    if (n <= 0 || (size_t)n >= sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        return -1;
    }
    char buf[65536];
    size_t used = 0;
    char *hdr_end = NULL;
    while (hdr_end == NULL) {
        ssize_t got = recv(fd, buf + used, sizeof(buf) - 1 - used, 0);
        if (got <= 0) {
            return -1;
        }
        used += (size_t)got;
        buf[used] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
    }
    int status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t want = cl && cl < hdr_end ? strtoul(cl + 15, NULL, 10) : 0;
    size_t have = used - (size_t)(hdr_end + 4 - buf);
    while (have < want) {
        ssize_t got = recv(fd, buf, sizeof(buf), 0);
        if (got <= 0) {
            return -1;
        }
        have += (size_t)got;
    }
    return status;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    unsigned seed = (unsigned)(id * 7919 + 1);
    double interval = THREADS / rate, start = now_s(), next = start;
    int fd = -1;
    long i = 0;
    while (now_s() - start < seconds) {
        double t = now_s();
        if (t < next) {
            usleep((useconds_t)((next - t) * 1e6));
        }
        next += interval;
        if (fd < 0) {
            int port = read_port();
            fd = port > 0 ? connect_port(port) : -1;
            if (fd < 0) {
                atomic_fetch_add(&down_n, 1);
                continue;
            }
        }
        int r = (int)(rand_r(&seed) % 100);
        int cls = r < 80 ? 0 : r < 95 ? 1 : 2;
        char body[2048], path[128];
        long first_event = 0;
        double t0 = now_s();
        int status;
        if (cls == 0) {
            /* half returning users (exposure repeats), half new */
            long user = rand_r(&seed) % 2 ? (long)(rand_r(&seed) % 5000) : id * 100000000L + i;
            snprintf(body, sizeof(body), "{\"user_id\":\"soak-%ld\",\"experiments\":[\"soak\"]}",
                     user);
            status = request(fd, "POST", "/api/v1/assign", sdk_key, body);
        } else if (cls == 1) {
            first_event = atomic_fetch_add(&event_seq, 10);
            int n = snprintf(body, sizeof(body), "{\"events\":[");
            for (int k = 0; k < 10; k++) {
                n += snprintf(body + n, sizeof(body) - (size_t)n,
                              "%s{\"user_id\":\"soak-%ld\",\"event\":\"buy\",\"value\":%d,"
                              "\"id\":\"e%ld\"}",
                              k ? "," : "", (long)(rand_r(&seed) % 5000), k + 1, first_event + k);
            }
            snprintf(body + n, sizeof(body) - (size_t)n, "]}");
            status = request(fd, "POST", "/api/v1/events", sdk_key, body);
        } else {
            const char *paths[] = {"/api/v1/experiments/soak/results", "/api/v1/experiments",
                                   "/api/v1/metrics"};
            snprintf(path, sizeof(path), "%s", paths[rand_r(&seed) % 3]);
            status = request(fd, "GET", path, admin_key, NULL);
        }
        double ms = (now_s() - t0) * 1e3;
        if (status < 0) {
            close(fd);
            fd = -1;
            atomic_fetch_add(&down_n, 1);
        } else if (status >= 200 && status < 300) {
            atomic_fetch_add(&ok_n[cls], 1);
            long b = (long)(ms * 10);
            atomic_fetch_add(&lat[b < LAT_BUCKETS ? b : LAT_BUCKETS], 1);
            if (cls == 1) {
                pthread_mutex_lock(&acked_mu);
                for (int k = 0; k < 10; k++) {
                    fprintf(acked, "e%ld\n", first_event + k);
                }
                pthread_mutex_unlock(&acked_mu);
            }
        } else {
            atomic_fetch_add(&err_n[cls], 1);
        }
        i++;
    }
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

static double percentile(double p)
{
    long total = 0;
    for (int i = 0; i <= LAT_BUCKETS; i++) {
        total += atomic_load(&lat[i]);
    }
    long want = (long)(p * (double)total), seen = 0;
    for (int i = 0; i <= LAT_BUCKETS; i++) {
        seen += atomic_load(&lat[i]);
        if (seen > want) {
            return (i + 1) / 10.0;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s PORT_FILE SDK_KEY ADMIN_KEY SECONDS RATE ACKED_FILE\n", argv[0]);
        return 2;
    }
    port_file = argv[1];
    sdk_key = argv[2];
    admin_key = argv[3];
    seconds = atof(argv[4]);
    rate = atof(argv[5]);
    acked = fopen(argv[6], "w");
    if (acked == NULL) {
        perror("acked file");
        return 1;
    }
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++) {
        pthread_create(&th[i], NULL, worker, (void *)i);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    fclose(acked);
    printf("assign_ok=%ld events_ok=%ld reads_ok=%ld assign_err=%ld events_err=%ld "
           "reads_err=%ld unavailable=%ld p50_ms=%.1f p99_ms=%.1f p999_ms=%.1f\n",
           atomic_load(&ok_n[0]), atomic_load(&ok_n[1]), atomic_load(&ok_n[2]),
           atomic_load(&err_n[0]), atomic_load(&err_n[1]), atomic_load(&err_n[2]),
           atomic_load(&down_n), percentile(0.5), percentile(0.99), percentile(0.999));
    return 0;
}
