/* proxy: serves each space at its own address, http://<subdomain>.<domain>/.
 *
 * The router hands every request to proxy_route first; it takes those whose
 * Host is "<label>.<domain>[:port]" (any case) and leaves the others (the API,
 * git and the UI) alone. A known label is served:
 *   - static spaces by Hangar itself, from main's commit through libgit2
 *     (static.c): ETag, If-None-Match, Range, HEAD, paths confined to the tree;
 *   - other spaces through the streaming reverse proxy (forward.c) to the
 *     instance the lifecycle names, waking a sleeping space on the way: the
 *     request is held (a bounded queue per space) until the app is ready, and
 *     a browser still waiting after browser_wait_ms gets an auto-refreshing
 *     "waking up" page instead.
 * Private spaces need a token with access, as HF's proxy does: Authorization
 * (Bearer, or Basic with the token as password), X-HF-Authorization: Bearer
 * (stripped before forwarding), or the UI's session cookie. Anonymous → 401,
 * a user without access → 404. Each response carries the space's
 * custom_headers, and disable_embedding adds
 * Content-Security-Policy: frame-ancestors 'none'.
 *
 * State is per event loop (its thread): the upstream pool, a one-second cache
 * of space lookups, the README settings of each commit and the wake queues.
 * Several loops can serve at once with no lock in the request path. */
#ifndef HANGAR_PROXY_H
#define HANGAR_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "http/http.h"
#include "proxy/metrics.h"
#include "space/space.h"

typedef struct proxy_options {
    uint64_t head_timeout_ms; /* no response head from an app this long: 504 (60 s) */
    uint64_t idle_timeout_ms; /* response body or WebSocket silent this long: cut (1 h) */
    uint64_t pool_idle_ms;    /* idle upstream connections are closed after (30 s) */
    size_t pool_max_idle;     /* idle connections kept per app (64) */
    int wake_queue_max;       /* requests held per waking space; beyond: 503 (64) */
    uint64_t browser_wait_ms; /* a browser waits this long, then gets a page (1 s) */
    uint64_t space_cache_ms;  /* how long a space lookup is trusted (1 s) */
} proxy_options;

/* The defaults, with HANGAR_UPSTREAM_TIMEOUT (seconds) applied if set. */
void proxy_options_default(proxy_options *opt);
/* Sets the options; once, before any loop serves. */
void proxy_configure(const proxy_options *opt);
/* The options in force (any thread). */
void proxy_options_get(proxy_options *out);
/* Whether host is "<label>.<domain>[:port]" with a label that can name a
 * space; label then holds it, lower-cased. */
bool proxy_space_label(const char *host, const char *domain, char *label, size_t size);

/* Takes req when its Host names a space (true); false for any other host. */
bool proxy_route(http_request *req);

/* Frees this thread's proxy state (pool, caches); idle upstream connections
 * are closed. Call on the loop's thread when it stops serving. */
void proxy_shutdown(void);
/* An instance stopped: closes this thread's pooled connections to it. */
void proxy_instance_gone(void *inst);

/* GET /metrics on the main host (metrics_render); needs an admin token, as
 * the names of private spaces are in it. */
void proxy_metrics_handle(http_request *req);

/* A small HTML page answering req (page.c). extra_head is raw HTML for <head> (a meta
 * refresh) or NULL; title and message are escaped. */
void proxy_page(http_request *req, int status, const char *title, const char *message,
                const char *extra_head);

/* The web UI's session cookie (hangar_session, ui/session.h): AUTH_OK and
 * *out filled when the request carries a live session. */
auth_result proxy_session_identify(const http_request *req, auth_identity *out);

/* What a space's README (at one commit) asks of its responses. */
typedef struct proxy_settings {
    char sha[41];         /* the commit read; "" before the first read */
    char *app_file;       /* static spaces: the file served at "/" */
    http_header *headers; /* custom_headers, and the CSP of disable_embedding */
    size_t nheaders;
} proxy_settings;

/* Static spaces (static.c): serves req from commit sha of the bare
 * repository at repo_path. Takes req at head time. */
void proxy_static_serve(http_request *req, const char *repo_path, const char *sha,
                        const proxy_settings *settings, metrics_space *metrics);

#endif
