/* router: picks the handler for a request from its Host and path.
 *
 * Routes are tables of (method, pattern, handler). A pattern is a path whose
 * segments are literals, ":name" (one segment, captured) or a final "*"
 * (the rest, captured). Captures are percent-decoded into req->params. */
#ifndef HANGAR_ROUTER_H
#define HANGAR_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

typedef void (*route_handler)(http_request *req);

typedef struct route {
    int method; /* enum http_method, or -1 for any */
    const char *pattern;
    route_handler handler; /* buffered: called with the whole body */
    route_handler on_head; /* streaming: called at head time instead, sets its own hooks */
    size_t body_limit;     /* 0: the server default */
} route;

/* The on_head callback given to the HTTP server. */
void router_on_head(http_request *req);

/* Matches path against pattern, capturing into req->params. */
bool router_match(const char *pattern, const char *path, http_request *req);
/* Dispatches req through a route table; false when nothing matched the path.
 * A path match with the wrong method answers 405. */
bool router_dispatch(http_request *req, const route *routes, size_t count);

#endif
