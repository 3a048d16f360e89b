/* upstream: the proxy's connections to apps, and the pool that keeps them
 * open between requests.
 *
 * A target names one app: a connector (how to open a TCP connection to it:
 * runtime_connect into the space's network namespace, or plain loopback in
 * tests), its port, and a generation that changes when traffic moves to a new
 * instance. A connection is byte-level: the forwarding engine above parses.
 *
 * One pool per event loop, used only from that loop's thread: no locks. Idle
 * connections wait in the pool for the next request to the same target; they
 * are closed when the app closes them, after idle_timeout, or as soon as a
 * newer generation of the same target is asked for (a redeploy). Idle
 * connections never keep the loop alive (they are unref'd). */
#ifndef HANGAR_UPSTREAM_H
#define HANGAR_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Connects tcp (already uv_tcp_init'ed on the pool's loop) to port of ctx;
 * 0 and cb later, or a negative libuv error. runtime_connect has this shape. */
typedef int (*upstream_connect_fn)(void *ctx, int port, uv_tcp_t *tcp, uv_connect_t *req,
                                   uv_connect_cb cb);

typedef struct upstream_target {
    upstream_connect_fn connect;
    void *ctx; /* the runtime instance (passed to connect, never dereferenced here) */
    /* Which app, for pooling, when ctx is not stable (a worker loop's route is
     * a new object at each publish); 0: ctx itself. */
    uint64_t key;
    int port;
    uint64_t generation;
} upstream_target;

typedef struct upstream_pool upstream_pool;
typedef struct upstream_conn upstream_conn;

/* What a busy connection reports to its user. */
typedef struct upstream_handler {
    void (*on_connect)(upstream_conn *uc, int status, void *arg); /* 0 or a libuv error */
    /* Data from the app (valid during the call), or nread < 0: EOF or error. */
    void (*on_read)(upstream_conn *uc, const char *data, ssize_t nread, void *arg);
    void (*on_drain)(upstream_conn *uc, void *arg); /* after upstream_write returned 1 */
    void (*on_timeout)(upstream_conn *uc, void *arg);
} upstream_handler;

typedef struct upstream_pool_stats {
    size_t idle;     /* connections waiting in the pool */
    size_t busy;     /* connections in use */
    uint64_t opened; /* connections ever opened */
    uint64_t reused; /* times an idle connection served a request */
} upstream_pool_stats;

upstream_pool *upstream_pool_new(uv_loop_t *loop, uint64_t idle_timeout_ms, size_t max_idle);
/* Closes the idle connections; the pool is freed once they are closed and no
 * busy connection remains (their users close them as usual). */
void upstream_pool_free(upstream_pool *pool);
uv_loop_t *upstream_pool_loop(upstream_pool *pool);
void upstream_pool_stats_get(upstream_pool *pool, upstream_pool_stats *out);
/* Closes the idle connections to ctx (its instance stopped), or to the key
 * (uintptr_t)ctx. */
void upstream_pool_forget(upstream_pool *pool, void *ctx);

/* A connection to t for one request: an idle one from the pool (*reused set,
 * on_connect is not called) unless fresh is set, or a new one (on_connect
 * follows). Returns NULL and a libuv error in *err when connecting failed at
 * once. */
upstream_conn *upstream_acquire(upstream_pool *pool, const upstream_target *t, bool fresh,
                                const upstream_handler *h, void *arg, bool *reused, int *err);
/* Changes who gets the connection's callbacks (a WebSocket tunnel takes it over). */
void upstream_set_handler(upstream_conn *uc, const upstream_handler *h, void *arg);

/* Queues the buffers (copied); 1 when the caller should wait for on_drain,
 * 0 otherwise, -1 when the connection failed (on_read reports it). */
int upstream_write(upstream_conn *uc, const uv_buf_t *bufs, unsigned nbufs);
size_t upstream_write_queue(const upstream_conn *uc);
void upstream_read_start(upstream_conn *uc);
void upstream_read_stop(upstream_conn *uc);
/* on_timeout after ms without upstream_touch; 0 stops the timer. */
void upstream_timeout(upstream_conn *uc, uint64_t ms);
/* Records activity: the timeout counts from now. Cheap (no timer call). */
void upstream_touch(upstream_conn *uc);

/* Gives a connection whose exchange ended cleanly back to the pool. */
void upstream_release(upstream_conn *uc);
/* Closes at once (pending writes dropped); no more callbacks. */
void upstream_close(upstream_conn *uc);
/* Flushes pending writes, then closes; no more callbacks. */
void upstream_finish(upstream_conn *uc);

#endif
