/* forward: the streaming reverse proxy engine, one exchange per request.
 *
 * An exchange takes a request at head time (it installs the request's
 * streaming hooks), keeps what arrives of the body until it is told where to
 * send it, then forwards the request to an upstream connection and streams the
 * response back as it arrives: nothing is buffered beyond the socket buffers
 * and one read, in either direction (a reader that is slower than its writer
 * pauses the writer). The upstream response is parsed with http_parser.
 *
 *   request:  method, target and headers as sent, minus hop-by-hop headers
 *             and X-HF-Authorization; X-Forwarded-For appended to,
 *             X-Forwarded-Proto and X-Forwarded-Host set; Host kept; the body
 *             re-framed (Content-Length or chunked) so no framing the client
 *             chose reaches the app.
 *   response: status and headers minus hop-by-hop ones, Date and Server (the
 *             server sets its own), plus the exchange's extra headers.
 *   WebSocket: an Upgrade: websocket request answered 101 becomes a tunnel
 *             (http_request_take_over) with backpressure both ways.
 *   errors:   connection refused → 502; no response head within head_timeout
 *             → 504 (each a small HTML page); a failure after the head cuts
 *             the client connection so the truncation shows.
 *
 * A request without a body that failed on a reused pooled connection before
 * any response byte (the app closed it as we sent) is retried once on a new
 * connection. */
#ifndef HANGAR_FORWARD_H
#define HANGAR_FORWARD_H

#include <stdint.h>

#include "http/http.h"
#include "proxy/metrics.h"
#include "proxy/upstream.h"

typedef struct forward_exchange forward_exchange;

typedef struct forward_options {
    metrics_space *metrics;     /* where requests and errors are counted, or NULL */
    const http_header *headers; /* added to every response (copied) */
    size_t nheaders;
    uint64_t head_timeout_ms; /* no response head this long after the request: 504 */
    uint64_t idle_timeout_ms; /* a response body or tunnel silent this long is cut; 0: never */
    /* The client went away before forward_start or forward_detach. */
    void (*on_abort)(void *arg);
    void *abort_arg;
    /* The owner's context for the hooks below, released (if release is set)
     * when the exchange, or the WebSocket tunnel it became, ends. */
    void *owner;
    void (*release)(void *owner);
    /* Data moved (at most every few seconds): keeps a space awake. */
    void (*on_activity)(void *owner);
    /* Before the one retry on a new connection: the upstream to use now (the
     * instance may have changed or gone since). 0 and *t, or -1 for a 502.
     * NULL: the same target again. */
    int (*retarget)(void *owner, upstream_target *t);
    /* Not an app but the daemon's main loop (workers.h): the request goes on
     * as the client sent it (cookies, X-HF-Authorization and X-Forwarded-*
     * kept, nothing added) plus this value in X-Hangar-Hop. NULL: an app. */
    const char *hop;
} forward_options;

/* Takes req at head time. NULL when memory runs out (req is untouched, and
 * opt->owner is still the caller's). */
forward_exchange *forward_new(http_request *req, upstream_pool *pool, const forward_options *opt);
/* Forwards the request to t; from here the exchange answers the client. */
void forward_start(forward_exchange *ex, const upstream_target *t);
/* Gives the request back without forwarding (the caller answers it, e.g. a
 * 503 page); the body received so far is dropped. */
http_request *forward_detach(forward_exchange *ex);

/* Counters of the engine on this thread, for tests. */
typedef struct forward_stats {
    uint64_t exchanges;  /* started */
    uint64_t retries;    /* retried on a new connection */
    uint64_t tunnels;    /* WebSocket tunnels opened */
    size_t peak_pending; /* most request body bytes held before an upstream was ready */
} forward_stats;
void forward_stats_get(forward_stats *out);

#endif
