/* proxy_harness: Hangar's HTTP server and forwarding engine, forwarding every
 * request to 127.0.0.1:UPSTREAM_PORT. It is the path a request to a running
 * space takes (http.c, forward.c, upstream.c with its keep-alive pool),
 * without the space lookup (a cached hash probe) and lifecycle_acquire, for
 * bench/proxy while no space can run a plain backend.
 *
 * With LOOPS > 1 it runs one event loop per thread, each with its own server
 * (SO_REUSEPORT on one address) and upstream pool: the shape "one loop per
 * core" would give the daemon.
 *
 * usage: proxy_harness LISTEN_ADDR UPSTREAM_PORT [LOG_FILE [LOOPS]] */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/http.h"
#include "lib/log.h"
#include "proxy/forward.h"
#include "proxy/upstream.h"

#define MAX_LOOPS 64

typedef struct worker {
    uv_loop_t loop;
    http_server *server;
    upstream_pool *pool;
    pthread_t thread;
} worker;

static int upstream_port;

static int loopback_connect(void *ctx, int port, uv_tcp_t *tcp, uv_connect_t *req, uv_connect_cb cb)
{
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    return uv_tcp_connect(req, tcp, (struct sockaddr *)&addr, cb);
}

static void on_head(http_request *req)
{
    worker *w = http_server_data(req->server);
    forward_options opt = {.head_timeout_ms = 60000, .idle_timeout_ms = 3600000};
    forward_exchange *ex = forward_new(req, w->pool, &opt);
    if (!ex) {
        http_respond(req, 503, "text/plain", "out of memory\n", 14);
        return;
    }
    upstream_target target = {.connect = loopback_connect, .port = upstream_port, .generation = 1};
    forward_start(ex, &target);
}

static void *run_loop(void *arg)
{
    worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: proxy_harness LISTEN_ADDR UPSTREAM_PORT [LOG_FILE [LOOPS]]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    upstream_port = atoi(argv[2]);
    if (argc > 3 && log_open(argv[3]) < 0) {
        fprintf(stderr, "proxy_harness: cannot open %s\n", argv[3]);
        return 1;
    }
    int nloops = argc > 4 ? atoi(argv[4]) : 1;
    if (nloops < 1 || nloops > MAX_LOOPS)
        nloops = 1;
    static worker workers[MAX_LOOPS];
    http_limits limits;
    http_limits_default(&limits);
    for (int i = 0; i < nloops; i++) {
        worker *w = &workers[i];
        uv_loop_init(&w->loop);
        w->server = http_server_new(&w->loop, &limits, on_head, w);
        w->pool = upstream_pool_new(&w->loop, 30000, 256);
        int rc = http_server_listen_shared(w->server, argv[1]);
        if (rc < 0) {
            fprintf(stderr, "proxy_harness: cannot listen on %s: %s\n", argv[1], uv_strerror(rc));
            return 1;
        }
    }
    for (int i = 1; i < nloops; i++)
        pthread_create(&workers[i].thread, NULL, run_loop, &workers[i]);
    run_loop(&workers[0]);
    return 0;
}
