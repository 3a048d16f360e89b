/* routes: the spaces the worker loops may serve on their own.
 *
 * The main loop owns everything about a space (the store, the lifecycle, the
 * wake queue, private access). Worker loops (workers.h) serve the hot path
 * alone: requests to a public space whose app is running. For that the main
 * loop publishes a route per space here when it serves such a request itself,
 * and a worker that finds a route valid forwards straight to the app;
 * anything else goes to the main loop.
 *
 * A route is valid while the table's version is the one it was published at.
 * The main loop bumps the version (routes_invalidate) on anything that might
 * change how a space is served: every commit to the store (visibility, pause,
 * deletion, moves, events of stage changes) and every change of a space's
 * stage or serving instance. So a worker never serves a space from stale
 * facts; it only sends more requests to the main loop until the next publish.
 *
 * Routes are reference counted: a worker holds one while an exchange uses it
 * (it owns a copy of the instance's network namespace descriptor), so the
 * main loop may replace or drop it at any time. Safe from any thread. */
#ifndef HANGAR_ROUTES_H
#define HANGAR_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "proxy/metrics.h"

typedef struct route {
    char label[64]; /* the subdomain */
    int64_t space_id;
    uint64_t version; /* the table's version when published */
    int netns_fd;     /* owned copy; -1: the daemon's own network */
    int port;
    uint64_t generation; /* the instance's, unique in the process */
    metrics_space *metrics;
    http_header *headers; /* custom_headers and the CSP of disable_embedding (owned) */
    size_t nheaders;
    _Atomic int refs;
    struct route *next; /* in the table's bucket */
} route;

/* What the main loop knows when it publishes; headers are copied and
 * netns_fd is duplicated. */
typedef struct route_spec {
    const char *label;
    int64_t space_id;
    int netns_fd;
    int port;
    uint64_t generation;
    metrics_space *metrics;
    const http_header *headers;
    size_t nheaders;
} route_spec;

/* Publishes spec at the current version, replacing the label's route. 0, or
 * -1 when memory or descriptors ran out (nothing changes). */
int routes_publish(const route_spec *spec);
/* Whether label has a valid route to generation (the main loop asks before
 * publishing again). */
bool routes_has(const char *label, uint64_t generation);
/* The valid route of label with a reference taken, or NULL. */
route *routes_get(const char *label);
/* Whether r is still valid (nothing changed since it was published). */
bool routes_valid(const route *r);
void routes_ref(route *r);
void routes_unref(route *r);
/* Every route becomes invalid. Cheap; any thread. */
void routes_invalidate(void);
uint64_t routes_version(void);
/* Drops every route (at shutdown, after the workers stopped). */
void routes_clear(void);

#endif
