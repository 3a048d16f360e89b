#include "proxy/workers.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "proxy/forward.h"
#include "proxy/proxy.h"
#include "proxy/routes.h"
#include "proxy/upstream.h"
#include "space/lifecycle.h"

#define WORKERS_MAX 64
#define TOUCH_SLOTS 64          /* spaces whose last touch a worker remembers */
#define TOUCH_EVERY_MS 200      /* a space's activity is reported at most this often */
#define HOP_KEY 1               /* the pool's key of the main loop (routes use generations > 1) */
#define HOP_STALL_EXTRA_MS 2000 /* a handed-on body stalls this much longer here than there */

typedef struct touch_slot {
    int64_t space_id;
    uint64_t at_ms;
} touch_slot;

typedef struct worker {
    int index;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t stop; /* main → worker: stop accepting and finish */
    http_server *server;
    upstream_pool *pool;
    touch_slot touched[TOUCH_SLOTS];
} worker;

/* A route an exchange uses, swapped for the newer route of its space when the
 * one retry needs it. */
typedef struct route_hold {
    worker *w;
    route *r;
} route_hold;

static struct {
    app *app;
    int n;
    worker *w;
    proxy_options options;
    char secret[HTTP_HOP_SECRET_LEN + 1];
    struct sockaddr_in internal; /* the main loop's hop listener */
    /* worker → main */
    uv_async_t notify;
    pthread_mutex_t lock;
    int64_t *touches;
    size_t ntouches, cap;
    int finished; /* workers whose loop ended */
    int joined;
    void (*done)(void);
} W = {.lock = PTHREAD_MUTEX_INITIALIZER};

bool workers_enabled(void)
{
    return W.n > 0;
}

/* ---- worker → main: activity ------------------------------------------------------ */

static void touch_queue(int64_t space_id)
{
    pthread_mutex_lock(&W.lock);
    if (W.ntouches == W.cap) {
        size_t cap = W.cap ? W.cap * 2 : 64;
        int64_t *t = realloc(W.touches, cap * sizeof *t);
        if (t) {
            W.touches = t;
            W.cap = cap;
        }
    }
    if (W.ntouches < W.cap)
        W.touches[W.ntouches++] = space_id;
    pthread_mutex_unlock(&W.lock);
    uv_async_send(&W.notify);
}

/* Keeps the space awake: at most every TOUCH_EVERY_MS per space and worker. */
static void touch(worker *w, int64_t space_id)
{
    touch_slot *slot = &w->touched[(uint64_t)space_id % TOUCH_SLOTS];
    uint64_t now = uv_now(&w->loop);
    if (slot->space_id == space_id && now - slot->at_ms < TOUCH_EVERY_MS)
        return;
    slot->space_id = space_id;
    slot->at_ms = now;
    touch_queue(space_id);
}

static void on_route_activity(void *owner)
{
    route_hold *hold = owner;
    touch(hold->w, hold->r->space_id);
}

/* ---- serving a route --------------------------------------------------------------- */

static int route_connect(void *ctx, int port, uv_tcp_t *tcp, uv_connect_t *req, uv_connect_cb cb)
{
    route *r = ctx;
    return runtime_netns_connect(r->netns_fd, port, tcp, req, cb);
}

static upstream_target route_target(route *r)
{
    return (upstream_target){
        .connect = route_connect,
        .ctx = r,
        .key = r->generation,
        .port = r->port,
        .generation = r->generation,
    };
}

static void route_release(void *owner)
{
    route_hold *hold = owner;
    routes_unref(hold->r);
    free(hold);
}

/* The retry after a reused connection failed: the same instance if nothing
 * changed, else the space's newer route; without one, a 502. */
static int route_retarget(void *owner, upstream_target *t)
{
    route_hold *hold = owner;
    if (!routes_valid(hold->r)) {
        route *newer = routes_get(hold->r->label);
        if (!newer)
            return -1;
        routes_unref(hold->r);
        hold->r = newer;
    }
    *t = route_target(hold->r);
    return 0;
}

static void serve_route(worker *w, http_request *req, route *r)
{
    route_hold *hold = malloc(sizeof *hold);
    forward_options fo = {
        .metrics = r->metrics,
        .headers = r->headers,
        .nheaders = r->nheaders,
        .head_timeout_ms = W.options.head_timeout_ms,
        .idle_timeout_ms = W.options.idle_timeout_ms,
        .owner = hold,
        .release = route_release,
        .on_activity = on_route_activity,
        .retarget = route_retarget,
    };
    forward_exchange *ex = hold ? forward_new(req, w->pool, &fo) : NULL;
    if (!ex) {
        free(hold);
        routes_unref(r);
        proxy_page(req, 503, "Space unavailable", "Out of memory.", NULL);
        return;
    }
    hold->w = w;
    hold->r = r;
    touch(w, r->space_id);
    upstream_target t = route_target(r);
    forward_start(ex, &t);
}

/* ---- handing a request to the main loop ------------------------------------------------ */

static int hop_connect(void *ctx, int port, uv_tcp_t *tcp, uv_connect_t *req, uv_connect_cb cb)
{
    (void)ctx;
    (void)port;
    return uv_tcp_connect(req, tcp, (const struct sockaddr *)&W.internal, cb);
}

static void hand_on(worker *w, http_request *req)
{
    char *hop = malloc(HTTP_HOP_SECRET_LEN + sizeof req->remote + sizeof req->request_id + 4);
    forward_options fo = {
        /* The main loop holds a waking space's requests, and streams logs
         * and events for as long as the client listens: no time limits here,
         * the main loop keeps its own. */
        .head_timeout_ms = 0, .idle_timeout_ms = 0, .owner = hop, .release = free, .hop = hop,
    };
    forward_exchange *ex = hop ? forward_new(req, w->pool, &fo) : NULL;
    if (!ex) {
        free(hop);
        proxy_page(req, 503, "Service Unavailable", "Out of memory.", NULL);
        return;
    }
    sprintf(hop, "%s %s %s", W.secret, req->remote[0] ? req->remote : "unknown", req->request_id);
    req->quiet = true; /* the main loop logs it, with the user it identified */
    req->stall_timeout_ms = W.app->config.limits.idle_timeout_ms + HOP_STALL_EXTRA_MS;
    upstream_target t = {
        .connect = hop_connect, .ctx = &W, .key = HOP_KEY, .port = 1, .generation = 1};
    forward_start(ex, &t);
}

static void worker_on_head(http_request *req)
{
    worker *w = http_server_data(req->server);
    char label[SPACE_SUBDOMAIN_MAX + 1];
    const char *domain = W.app->config.domain[0] ? W.app->config.domain : "localhost";
    route *r = proxy_space_label(http_header_get(req, "Host"), domain, label, sizeof label)
                   ? routes_get(label)
                   : NULL;
    metrics_loop_request(w->index, !r);
    if (r)
        serve_route(w, req, r);
    else
        hand_on(w, req);
}

/* ---- a worker's life ------------------------------------------------------------------- */

static void on_stop_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_worker_drained(http_server *server)
{
    worker *w = http_server_data(server);
    http_server_free(w->server);
    w->server = NULL;
    upstream_pool_free(w->pool);
    w->pool = NULL;
    uv_close((uv_handle_t *)&w->stop, on_stop_closed);
}

static void on_stop(uv_async_t *a)
{
    worker *w = a->data;
    if (w->server)
        http_server_shutdown(w->server, on_worker_drained);
}

static void worker_run(void *arg)
{
    worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    log_flush();
    if (uv_loop_close(&w->loop) != 0)
        log_warn("workers", "loop %d closed with handles still open", w->index);
    pthread_mutex_lock(&W.lock);
    W.finished++;
    pthread_mutex_unlock(&W.lock);
    uv_async_send(&W.notify);
}

static int worker_init(worker *w, int index, const http_limits *limits)
{
    w->index = index;
    if (uv_loop_init(&w->loop) < 0)
        return -1;
    uv_async_init(&w->loop, &w->stop, on_stop);
    w->stop.data = w;
    w->server = http_server_new(&w->loop, limits, worker_on_head, w);
    w->pool = upstream_pool_new(&w->loop, W.options.pool_idle_ms, W.options.pool_max_idle);
    return w->server && w->pool ? 0 : -1;
}

/* ---- the main loop's side ---------------------------------------------------------------- */

static void on_notify(uv_async_t *a)
{
    (void)a;
    pthread_mutex_lock(&W.lock);
    int64_t *ids = W.touches;
    size_t n = W.ntouches;
    W.touches = NULL;
    W.ntouches = W.cap = 0;
    int finished = W.finished;
    pthread_mutex_unlock(&W.lock);
    for (size_t i = 0; i < n; i++)
        lifecycle_touch(W.app, ids[i]);
    free(ids);
    if (!W.done || finished < W.n || W.joined == W.n)
        return;
    for (; W.joined < W.n; W.joined++)
        uv_thread_join(&W.w[W.joined].thread);
    uv_close((uv_handle_t *)&W.notify, NULL);
    free(W.w);
    W.w = NULL;
    routes_clear();
    W.done();
}

void workers_stop(void (*done)(void))
{
    W.done = done;
    for (int i = 0; i < W.n; i++)
        uv_async_send(&W.w[i].stop);
}

/* Every commit may change how a space is served (visibility, pause,
 * deletion, a move, a stage's event): routes made before it are stale. */
static int on_commit(void *arg)
{
    (void)arg;
    routes_invalidate();
    return 0; /* go on with the commit */
}

static int listen_internal(app *a, http_head_cb on_head, char *err, size_t errsize)
{
    http_limits limits = a->config.limits;
    limits.max_header_bytes += 256; /* the hop header on a head the worker let through */
    limits.max_headers += 1;
    a->http = http_server_new(a->loop, &limits, on_head, a);
    int rc = a->http ? http_server_listen(a->http, "127.0.0.1:0") : UV_ENOMEM;
    if (rc < 0) {
        snprintf(err, errsize, "cannot listen on loopback for the worker loops: %s",
                 uv_strerror(rc));
        return -1;
    }
    unsigned char raw[HTTP_HOP_SECRET_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(W.secret, sizeof W.secret, raw, sizeof raw);
    http_server_trust_hop(a->http, W.secret);
    uv_ip4_addr("127.0.0.1", http_server_port(a->http), &W.internal);
    return 0;
}

/* Worker 0 binds the public address (an address in use fails as before);
 * the others accept from a copy of its socket. */
static int listen_public(app *a, char *err, size_t errsize)
{
    int rc = http_server_listen(W.w[0].server, a->config.listen);
    for (int i = 1; rc == 0 && i < W.n; i++) {
        int fd = dup(http_server_fd(W.w[0].server));
        rc = fd < 0 ? UV_EMFILE : http_server_listen_fd(W.w[i].server, fd);
        if (rc < 0 && fd >= 0)
            close(fd);
    }
    if (rc < 0) {
        snprintf(err, errsize, "cannot listen on %s: %s", a->config.listen, uv_strerror(rc));
        return -1;
    }
    a->port = http_server_port(W.w[0].server);
    return 0;
}

int workers_start(app *a, int n, http_head_cb on_head, char *err, size_t errsize)
{
    if (n < 1 || n > WORKERS_MAX) {
        snprintf(err, errsize, "the number of proxy loops must be 1 to %d", WORKERS_MAX);
        return -1;
    }
    W.app = a;
    proxy_options_get(&W.options);
    if (listen_internal(a, on_head, err, errsize) < 0)
        return -1;
    if (!(W.w = calloc((size_t)n, sizeof *W.w))) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    W.n = n;
    metrics_loops(n);
    for (int i = 0; i < n; i++) {
        if (worker_init(&W.w[i], i, &a->config.limits) < 0) {
            snprintf(err, errsize, "cannot make proxy loop %d", i);
            return -1;
        }
    }
    if (listen_public(a, err, errsize) < 0)
        return -1;
    uv_async_init(a->loop, &W.notify, on_notify);
    sqlite3_commit_hook(store_db(a->store), on_commit, NULL);
    for (int i = 0; i < n; i++) {
        if (uv_thread_create(&W.w[i].thread, worker_run, &W.w[i]) != 0) {
            snprintf(err, errsize, "cannot start proxy loop %d", i);
            return -1;
        }
    }
    log_info("workers", "%d proxy loops on %s; the main loop takes handed-on requests on port %d",
             n, a->config.listen, http_server_port(a->http));
    return 0;
}
