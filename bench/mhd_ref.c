/*
 * bench/mhd_ref.c - the libmicrohttpd reference for bench/assign.sh and bench/callgrind.sh:
 * a bare MHD daemon started with the same flags and options as Bunsen's
 * (src/http/server.c: internal polling thread + a pool of THREADS, MHD_USE_AUTO,
 * suspend/resume allowed, the same connection memory limit; since 2026-12-07 no listening
 * socket of MHD's: a thread accepts and hands connections to the workers with
 * MHD_add_connection, as src/http/listener.c does), answering every request with
 * one constant JSON body (the reply given on the command line, as nginx gets it) and the
 * same three headers, reading and discarding request bodies. What /assign would cost if
 * Bunsen's own work were free. Written for Bunsen (Apache-2.0); the idea is the shared
 * tools/mhd_limit.c the issue quotes.
 *
 *   mhd_ref PORT THREADS BODY     serves until SIGTERM or SIGINT; prints
 *                                 "listening on http://127.0.0.1:PORT/" when ready
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char *body;
static size_t body_len;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    static int started;
    if (*con_cls == NULL) {
        *con_cls = &started;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body_len, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    *con_cls = NULL;
}

static int listen_fd = -1;

/* The accepting thread (listener.c without its caps and back-off): every connection to MHD,
 * which gives it to worker fd % THREADS. Ends with the process. */
static void *accept_loop(void *arg)
{
    struct MHD_Daemon *d = arg;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int c = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            (void)MHD_add_connection(d, c, (struct sockaddr *)&ss, len);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mhd_ref PORT THREADS BODY\n");
        return 2;
    }
    body = argv[3];
    body_len = strlen(body);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* MHD's threads inherit the mask */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only */
    int one = 1;
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t salen = sizeof(sa);
    if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(listen_fd, 1024) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&sa, &salen) != 0) {
        fprintf(stderr, "mhd_ref: cannot listen on port %s\n", argv[1]);
        return 1;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)atoi(argv[2]), MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT,
        4096u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(24 * 1024), MHD_OPTION_END);
    pthread_t t;
    if (d == NULL || pthread_create(&t, NULL, accept_loop, d) != 0) {
        fprintf(stderr, "mhd_ref: cannot start the daemon on port %s\n", argv[1]);
        return 1;
    }
    printf("listening on http://127.0.0.1:%u/\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
