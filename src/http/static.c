/*
 * static.c - the dashboard's files from the web directory (http.h).
 *
 * Only GET/HEAD reach here. A path is served only if every segment is a plain name
 * (no "", ".", "..", no leading dot, no backslash) and the realpath of the file lies
 * inside the realpath of the web directory (and it is a regular file: a FIFO or device
 * is never opened for blocking reads), so neither "/../", "%2e%2e" (MHD decodes
 * it before we see it) nor a symlink pointing out of web/ can escape. "/" is
 * index.html. Responses carry the dashboard's security headers (CSP without inline
 * script, no framing, no referrer, no MIME sniffing).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bunsen/http.h"
#include "http_int.h"

#define STATIC_PATH_MAX 512

static const struct {
    const char *ext;
    const char *type;
} mime_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".woff2", "font/woff2"},
    {".webmanifest", "application/manifest+json"},
};

static const char *mime_for(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot != NULL) {
        for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++) {
            if (strcmp(dot, mime_types[i].ext) == 0) {
                return mime_types[i].type;
            }
        }
    }
    return "application/octet-stream";
}

/* Every segment a plain file name. */
static bool path_is_clean(const char *path)
{
    if (path[0] != '/' || strlen(path) > STATIC_PATH_MAX || strchr(path, '\\') != NULL) {
        return false;
    }
    const char *seg = path + 1;
    for (;;) {
        size_t len = strcspn(seg, "/");
        if (len == 0 || seg[0] == '.') {
            return false;
        }
        for (size_t i = 0; i < len; i++) {
            if ((unsigned char)seg[i] < 0x20) {
                return false;
            }
        }
        if (seg[len] == '\0') {
            return true;
        }
        seg += len + 1;
    }
}

static void not_found(struct http_req *r)
{
    http_reply_error(r, ERR_NOT_FOUND, NULL, "not found");
}

void http_serve_static(struct http_req *r, const char *web_dir_real, const char *path)
{
    if (web_dir_real == NULL || web_dir_real[0] == '\0') {
        not_found(r);
        return;
    }
    const char *rel = strcmp(path, "/") == 0 ? "/index.html" : path;
    if (!path_is_clean(rel)) {
        not_found(r);
        return;
    }
    char full[PATH_MAX], real[PATH_MAX];
    int w = snprintf(full, sizeof(full), "%s%s", web_dir_real, rel);
    if (w < 0 || (size_t)w >= sizeof(full) || realpath(full, real) == NULL) {
        not_found(r);
        return;
    }
    size_t root_len = strlen(web_dir_real);
    if (strncmp(real, web_dir_real, root_len) != 0 || real[root_len] != '/') {
        not_found(r);
        return;
    }
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, holding a
     * worker thread forever; only regular files are served, so it is cleared again below. */
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd < 0) {
        not_found(r);
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        close(fd);
        not_found(r);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((size_t)st.st_size, fd);
    if (resp == NULL) {
        close(fd);
        http_reply_error(r, ERR_INTERNAL, NULL, "cannot create a response");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", mime_for(real));
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    http_reply_response(r, 200, resp, (size_t)st.st_size);
}
