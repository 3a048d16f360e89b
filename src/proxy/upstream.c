#include "proxy/upstream.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

#define WRITE_HIGH_WATER (256 * 1024) /* upstream_write asks callers to wait above */
#define READ_BUFFER_SIZE (64 * 1024)

/* Idle connections to one target (same connector, key and port). */
typedef struct bucket {
    upstream_connect_fn connect;
    uint64_t key;
    int port;
    uint64_t generation;
    upstream_conn *idle; /* most recently used first */
    size_t nidle;
    struct bucket *next;
} bucket;

struct upstream_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    upstream_pool *pool;
    upstream_target target;
    const upstream_handler *h;
    void *arg;
    size_t write_queue;
    uint64_t timeout_ms; /* 0: none */
    uint64_t last_active;
    uint64_t timer_due; /* when the armed timer fires (loop time) */
    int open_handles;
    bool connected;
    bool reading;
    bool want_drain;
    bool failed; /* a write failed: never reused */
    bool closing;
    bucket *idle_in; /* the bucket holding it while idle */
    upstream_conn *prev, *next;
};

struct upstream_pool {
    uv_loop_t *loop;
    uint64_t idle_timeout_ms;
    size_t max_idle; /* per target */
    bucket *buckets;
    size_t live; /* connections whose handles are not closed yet */
    upstream_pool_stats stats;
    bool freeing;
    /* Reads are handed over synchronously, so one buffer serves every
     * connection of the loop. */
    char read_buf[READ_BUFFER_SIZE];
};

typedef struct write_req {
    uv_write_t req;
    upstream_conn *uc;
    size_t len;
    char data[];
} write_req;

static void conn_close(upstream_conn *uc);

/* ---- pool and buckets ---------------------------------------------------- */

upstream_pool *upstream_pool_new(uv_loop_t *loop, uint64_t idle_timeout_ms, size_t max_idle)
{
    upstream_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->loop = loop;
    pool->idle_timeout_ms = idle_timeout_ms;
    pool->max_idle = max_idle;
    return pool;
}

uv_loop_t *upstream_pool_loop(upstream_pool *pool)
{
    return pool->loop;
}

void upstream_pool_stats_get(upstream_pool *pool, upstream_pool_stats *out)
{
    *out = pool->stats;
}

static uint64_t target_key(const upstream_target *t)
{
    return t->key ? t->key : (uint64_t)(uintptr_t)t->ctx;
}

static bool same_app(const bucket *b, const upstream_target *t)
{
    return b->connect == t->connect && b->key == target_key(t) && b->port == t->port;
}

static bucket *bucket_find(upstream_pool *pool, const upstream_target *t)
{
    for (bucket *b = pool->buckets; b; b = b->next)
        if (same_app(b, t))
            return b;
    return NULL;
}

static void bucket_free(upstream_pool *pool, bucket *b)
{
    bucket **link = &pool->buckets;
    while (*link && *link != b)
        link = &(*link)->next;
    if (*link)
        *link = b->next;
    free(b);
}

static void bucket_unlink(upstream_conn *uc)
{
    bucket *b = uc->idle_in;
    if (uc->prev)
        uc->prev->next = uc->next;
    else
        b->idle = uc->next;
    if (uc->next)
        uc->next->prev = uc->prev;
    uc->prev = uc->next = NULL;
    uc->idle_in = NULL;
    b->nidle--;
    uc->pool->stats.idle--;
    if (b->nidle == 0)
        bucket_free(uc->pool, b);
}

/* Closes every idle connection of b; b is freed with the last one. */
static void bucket_drain(bucket *b)
{
    while (b->nidle > 1)
        conn_close(b->idle);
    conn_close(b->idle);
}

static void pool_maybe_free(upstream_pool *pool)
{
    if (pool->freeing && pool->live == 0)
        free(pool);
}

void upstream_pool_forget(upstream_pool *pool, void *ctx)
{
    bucket *b = pool->buckets;
    while (b) {
        bucket *next = b->next;
        if (b->key == (uint64_t)(uintptr_t)ctx)
            bucket_drain(b);
        b = next;
    }
}

void upstream_pool_free(upstream_pool *pool)
{
    if (!pool)
        return;
    pool->freeing = true;
    while (pool->buckets)
        bucket_drain(pool->buckets);
    pool_maybe_free(pool);
}

/* ---- connection handles -------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    upstream_conn *uc = h->data;
    if (--uc->open_handles > 0)
        return;
    upstream_pool *pool = uc->pool;
    free(uc);
    pool->live--;
    pool_maybe_free(pool);
}

static void conn_close(upstream_conn *uc)
{
    if (uc->closing)
        return;
    uc->closing = true;
    if (uc->idle_in)
        bucket_unlink(uc);
    else
        uc->pool->stats.busy--;
    uc->h = NULL;
    uv_close((uv_handle_t *)&uc->timer, on_handle_closed);
    uv_close((uv_handle_t *)&uc->tcp, on_handle_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    upstream_conn *uc = h->data;
    *out = uv_buf_init(uc->pool->read_buf, sizeof uc->pool->read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    upstream_conn *uc = s->data;
    if (nread == 0 || uc->closing)
        return;
    if (uc->idle_in) {
        /* An idle connection has nothing to say: it closed, or it broke the
         * protocol. Either way it cannot serve another request. */
        conn_close(uc);
        return;
    }
    uc->last_active = uv_now(uc->pool->loop);
    if (uc->h && uc->h->on_read)
        uc->h->on_read(uc, nread > 0 ? b->base : NULL, nread, uc->arg);
}

static void arm_timer(upstream_conn *uc, uint64_t now, uint64_t ms);

static void on_timer(uv_timer_t *t)
{
    upstream_conn *uc = t->data;
    if (uc->timeout_ms == 0)
        return;
    uint64_t now = uv_now(uc->pool->loop);
    uint64_t quiet = now - uc->last_active;
    if (quiet < uc->timeout_ms) {
        /* Activity, or a new timeout, since the timer was armed: wait for the rest. */
        arm_timer(uc, now, uc->timeout_ms - quiet);
        return;
    }
    if (uc->idle_in) {
        conn_close(uc);
        return;
    }
    if (uc->h && uc->h->on_timeout)
        uc->h->on_timeout(uc, uc->arg);
}

static void on_connect(uv_connect_t *req, int status)
{
    upstream_conn *uc = req->data;
    if (uc->closing)
        return; /* its user gave up while it was connecting */
    if (status == 0) {
        uc->connected = true;
        uv_tcp_nodelay(&uc->tcp, 1);
    }
    if (uc->h && uc->h->on_connect)
        uc->h->on_connect(uc, status, uc->arg);
}

static upstream_conn *conn_open(upstream_pool *pool, const upstream_target *t, int *err)
{
    upstream_conn *uc = calloc(1, sizeof *uc);
    if (!uc) {
        *err = UV_ENOMEM;
        return NULL;
    }
    uc->pool = pool;
    uc->target = *t;
    uv_tcp_init(pool->loop, &uc->tcp);
    uv_timer_init(pool->loop, &uc->timer);
    uc->tcp.data = uc;
    uc->timer.data = uc;
    uc->connect_req.data = uc;
    uc->open_handles = 2;
    pool->live++;
    pool->stats.busy++;
    pool->stats.opened++;
    int rc = t->connect(t->ctx, t->port, &uc->tcp, &uc->connect_req, on_connect);
    if (rc < 0) {
        *err = rc;
        conn_close(uc);
        return NULL;
    }
    return uc;
}

/* Takes the most recently used idle connection of t, if any. */
static upstream_conn *pool_take(upstream_pool *pool, const upstream_target *t)
{
    bucket *b = bucket_find(pool, t);
    if (!b)
        return NULL;
    if (b->generation < t->generation) {
        bucket_drain(b); /* traffic moved to a newer instance */
        return NULL;
    }
    if (b->generation != t->generation)
        return NULL;
    upstream_conn *uc = b->idle;
    bucket_unlink(uc);
    uc->target = *t; /* the same app; ctx may be a newer object naming it */
    pool->stats.busy++;
    pool->stats.reused++;
    uv_ref((uv_handle_t *)&uc->tcp);
    uv_ref((uv_handle_t *)&uc->timer); /* still armed: upstream_timeout moves it lazily */
    return uc;
}

upstream_conn *upstream_acquire(upstream_pool *pool, const upstream_target *t, bool fresh,
                                const upstream_handler *h, void *arg, bool *reused, int *err)
{
    *reused = false;
    *err = 0;
    upstream_conn *uc = fresh ? NULL : pool_take(pool, t);
    if (uc)
        *reused = true;
    else if (!(uc = conn_open(pool, t, err)))
        return NULL;
    uc->h = h;
    uc->arg = arg;
    uc->last_active = uv_now(pool->loop);
    return uc;
}

void upstream_set_handler(upstream_conn *uc, const upstream_handler *h, void *arg)
{
    uc->h = h;
    uc->arg = arg;
}

/* ---- reading, writing, time ---------------------------------------------- */

void upstream_read_start(upstream_conn *uc)
{
    if (uc->reading || uc->closing || !uc->connected)
        return;
    if (uv_read_start((uv_stream_t *)&uc->tcp, on_alloc, on_read) == 0)
        uc->reading = true;
}

void upstream_read_stop(upstream_conn *uc)
{
    if (!uc->reading || uc->closing)
        return;
    uv_read_stop((uv_stream_t *)&uc->tcp);
    uc->reading = false;
}

static void on_write_done(uv_write_t *w, int status)
{
    write_req *wr = (write_req *)w;
    upstream_conn *uc = wr->uc;
    uc->write_queue -= wr->len;
    free(wr);
    if (uc->closing)
        return;
    if (status < 0) {
        /* The read side reports the failure; just never reuse this one. */
        uc->failed = true;
        log_debug("upstream", "write failed: %s", uv_strerror(status));
        return;
    }
    if (uc->want_drain && uc->write_queue < WRITE_HIGH_WATER / 2) {
        uc->want_drain = false;
        if (uc->h && uc->h->on_drain)
            uc->h->on_drain(uc, uc->arg);
    }
}

/* Copies what the kernel did not take at once (skip bytes are already sent). */
static int queue_rest(upstream_conn *uc, const uv_buf_t *bufs, unsigned nbufs, size_t skip,
                      size_t total)
{
    size_t rest = total - skip;
    write_req *wr = malloc(sizeof *wr + rest);
    if (!wr) {
        log_error("upstream", "out of memory queuing %zu bytes", rest);
        uc->failed = true;
        return -1;
    }
    size_t off = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t len = bufs[i].len;
        const char *base = bufs[i].base;
        size_t drop = skip < len ? skip : len;
        skip -= drop;
        memcpy(wr->data + off, base + drop, len - drop);
        off += len - drop;
    }
    wr->uc = uc;
    wr->len = rest;
    uv_buf_t ub = uv_buf_init(wr->data, (unsigned)rest);
    int rc = uv_write(&wr->req, (uv_stream_t *)&uc->tcp, &ub, 1, on_write_done);
    if (rc < 0) {
        free(wr);
        uc->failed = true;
        log_debug("upstream", "uv_write: %s", uv_strerror(rc));
        return -1;
    }
    uc->write_queue += rest;
    return 0;
}

int upstream_write(upstream_conn *uc, const uv_buf_t *bufs, unsigned nbufs)
{
    if (uc->closing || uc->failed || !uc->connected)
        return -1;
    size_t total = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    if (total == 0)
        return 0;
    size_t sent = 0;
    if (uc->write_queue == 0) {
        /* Most writes fit in the socket buffer: no copy, no allocation. */
        int n = uv_try_write((uv_stream_t *)&uc->tcp, bufs, nbufs);
        if (n >= 0) {
            sent = (size_t)n;
        } else if (n != UV_EAGAIN) {
            uc->failed = true;
            log_debug("upstream", "write failed: %s", uv_strerror(n));
            return -1;
        }
    }
    if (sent < total && queue_rest(uc, bufs, nbufs, sent, total) < 0)
        return -1;
    uc->last_active = uv_now(uc->pool->loop);
    if (uc->write_queue >= WRITE_HIGH_WATER) {
        uc->want_drain = true;
        return 1;
    }
    return 0;
}

size_t upstream_write_queue(const upstream_conn *uc)
{
    return uc->write_queue;
}

static void arm_timer(upstream_conn *uc, uint64_t now, uint64_t ms)
{
    uc->timer_due = now + ms;
    uv_timer_start(&uc->timer, on_timer, ms, 0);
}

/* Timeouts change several times per request: the timer is only re-armed when
 * it would fire too late; firing early, on_timer re-arms for the rest. */
void upstream_timeout(upstream_conn *uc, uint64_t ms)
{
    if (uc->closing)
        return;
    uint64_t now = uv_now(uc->pool->loop);
    uc->timeout_ms = ms;
    uc->last_active = now;
    if (ms == 0)
        return; /* an armed timer finds timeout_ms 0 and stays quiet */
    if (uv_is_active((uv_handle_t *)&uc->timer) && uc->timer_due <= now + ms)
        return;
    arm_timer(uc, now, ms);
}

void upstream_touch(upstream_conn *uc)
{
    uc->last_active = uv_now(uc->pool->loop);
}

/* ---- end of an exchange ---------------------------------------------------- */

void upstream_release(upstream_conn *uc)
{
    upstream_pool *pool = uc->pool;
    if (uc->closing)
        return;
    if (pool->freeing || uc->failed || !uc->connected || uc->write_queue > 0) {
        conn_close(uc);
        return;
    }
    bucket *b = bucket_find(pool, &uc->target);
    if (b && b->generation < uc->target.generation) {
        bucket_drain(b);
        b = NULL;
    }
    if (b && (b->generation > uc->target.generation || b->nidle >= pool->max_idle)) {
        conn_close(uc);
        return;
    }
    if (!b) {
        if (!(b = calloc(1, sizeof *b))) {
            conn_close(uc);
            return;
        }
        b->connect = uc->target.connect;
        b->key = target_key(&uc->target);
        b->port = uc->target.port;
        b->generation = uc->target.generation;
        b->next = pool->buckets;
        pool->buckets = b;
    }
    uc->h = NULL;
    uc->arg = NULL;
    uc->want_drain = false;
    uc->idle_in = b;
    uc->next = b->idle;
    if (b->idle)
        b->idle->prev = uc;
    b->idle = uc;
    b->nidle++;
    pool->stats.idle++;
    pool->stats.busy--;
    /* Reading on: an idle connection that closes leaves the pool at once. */
    upstream_read_start(uc);
    upstream_timeout(uc, pool->idle_timeout_ms);
    uv_unref((uv_handle_t *)&uc->tcp);
    uv_unref((uv_handle_t *)&uc->timer);
}

void upstream_close(upstream_conn *uc)
{
    conn_close(uc);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    upstream_conn *uc = req->data;
    free(req);
    conn_close(uc);
}

void upstream_finish(upstream_conn *uc)
{
    if (uc->closing)
        return;
    uc->h = NULL;
    uv_timer_stop(&uc->timer);
    upstream_read_stop(uc);
    uv_shutdown_t *req = uc->connected ? malloc(sizeof *req) : NULL;
    if (!req || uv_shutdown(req, (uv_stream_t *)&uc->tcp, on_shutdown) < 0) {
        free(req);
        conn_close(uc);
        return;
    }
    req->data = uc;
}
