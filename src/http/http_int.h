/*
 * http_int.h - private to src/http/: replying with a ready-made MHD response.
 */
#ifndef BUNSEN_HTTP_INT_H
#define BUNSEN_HTTP_INT_H

#include <microhttpd.h>

#include "bunsen/http.h"

/* Reply with resp (ownership passes to the request), counting bytes for the access log. */
void http_reply_response(struct http_req *r, int status, struct MHD_Response *resp, size_t bytes);

#endif
