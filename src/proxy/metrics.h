/* metrics: counters and histograms served at GET /metrics in the Prometheus
 * text format (version 0.0.4).
 *
 * Per space: requests by status class and their latency, upstream errors by
 * kind, open WebSockets, wakes and their cold-start durations. Daemon-wide:
 * spaces per stage and build durations, fed by the lifecycle.
 *
 * Safe from any thread (one loop per core): the registry is guarded by a
 * mutex, and the per-space series are atomics, so the request path takes no
 * lock once it holds its space's handle. Handles live as long as the process. */
#ifndef HANGAR_METRICS_H
#define HANGAR_METRICS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct metrics_space metrics_space;

typedef enum {
    METRICS_UPSTREAM_CONNECT = 0, /* connection refused or failed */
    METRICS_UPSTREAM_TIMEOUT,     /* no response head in time, or a stalled body */
    METRICS_UPSTREAM_RESET,       /* closed before the response was complete */
    METRICS_UPSTREAM_PROTOCOL,    /* a response http_parser refused */
    METRICS_UPSTREAM_KINDS
} metrics_upstream_kind;

/* The handle of a space's series ("owner/name"), made on first use; NULL only
 * when memory runs out (every function below accepts NULL and does nothing). */
metrics_space *metrics_space_get(const char *space_id);

/* One request answered at a space's address (static or proxied). */
void metrics_request(metrics_space *m, int status, double seconds);
void metrics_upstream_error(metrics_space *m, metrics_upstream_kind kind);
/* A WebSocket tunnel opened (+1) or closed (-1). */
void metrics_websocket(metrics_space *m, int delta);
/* A sleeping or stopped space was started by a request and became ready
 * after seconds (the cold start its first client waited). */
void metrics_wake(metrics_space *m, double seconds);

/* For the lifecycle: the stage of a space (NULL when it is deleted), and the
 * duration of each build. */
void metrics_stage_set(const char *space_id, const char *stage);
void metrics_build_observe(const char *space_id, double seconds, bool ok);

/* The proxy's loops (workers.h): how many there are, and each request a loop
 * took, served by itself or handed to the main loop. */
#define METRICS_LOOPS_MAX 64
void metrics_loops(int n);
void metrics_loop_request(int loop, bool handed_on);
/* The whole exposition as a new string (caller frees), or NULL. */
char *metrics_render(void);

#endif
