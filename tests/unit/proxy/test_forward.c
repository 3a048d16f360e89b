/* The forwarding engine on a real loop: an http_server whose every request is
 * forwarded to a small Python app on loopback (backend.py), and clients on a
 * thread speaking raw HTTP over blocking sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http/http.h"
#include "lib/util.h"
#include "proxy/forward.h"
#include "proxy/upstream.h"

/* The 100 MB tests below check memory: ASan's quarantine would hold every
 * freed buffer and hide what the proxy itself keeps. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=4:detect_leaks=1";
}

#define BIG (100 * 1024 * 1024)

typedef struct fixture {
    uv_loop_t loop;
    uv_async_t done;
    uv_timer_t rss_timer;
    http_server *server;
    upstream_pool *pool;
    int port;
    int backend_port;
    int closed_port;
    pid_t backend_pid;
    int backend_stdin;
    uint64_t head_timeout_ms;
    uint64_t generation;
    long rss_base_kb;
    long rss_peak_kb;
    int retargets;
    http_header extra[1];
} fixture;

static fixture fx;

/* ---- the server side ------------------------------------------------------------ */

static int loopback_connect(void *ctx, int port, uv_tcp_t *tcp, uv_connect_t *req, uv_connect_cb cb)
{
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    return uv_tcp_connect(req, tcp, (struct sockaddr *)&addr, cb);
}

typedef struct delayed {
    uv_timer_t timer;
    forward_exchange *ex;
    upstream_target target;
} delayed;

static void on_delayed_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_delay_over(uv_timer_t *t)
{
    delayed *d = t->data;
    forward_start(d->ex, &d->target);
    uv_close((uv_handle_t *)&d->timer, on_delayed_closed);
}

static int count_retarget(void *owner, upstream_target *t)
{
    fixture *f = owner;
    f->retargets++;
    return 0; /* the same app */
}

/* Every request is forwarded; /refused to a closed port; /delayed... only
 * after 300 ms (as while a space wakes), holding what arrives meanwhile. */
static void on_head(http_request *req)
{
    forward_options opt = {
        .headers = fx.extra,
        .nheaders = 1,
        .head_timeout_ms = fx.head_timeout_ms,
        .idle_timeout_ms = 0,
        .owner = &fx,
        .retarget = count_retarget,
    };
    forward_exchange *ex = forward_new(req, fx.pool, &opt);
    assert_non_null(ex);
    upstream_target target = {
        .connect = loopback_connect,
        .ctx = &fx,
        .port = util_has_prefix(req->path, "/refused") ? fx.closed_port : fx.backend_port,
        .generation = fx.generation,
    };
    if (!util_has_prefix(req->path, "/delayed")) {
        forward_start(ex, &target);
        return;
    }
    delayed *d = calloc(1, sizeof *d);
    d->ex = ex;
    d->target = target;
    uv_timer_init(&fx.loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, on_delay_over, 300, 0);
}

static long rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void on_rss_sample(uv_timer_t *t)
{
    long now = rss_kb();
    if (now > fx.rss_peak_kb)
        fx.rss_peak_kb = now;
}

static void on_done(uv_async_t *a)
{
    uv_stop(a->loop);
}

static int start_backend(void)
{
    int out[2], in[2];
    if (pipe(out) < 0 || pipe(in) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(in[0], 0);
        close(out[0]);
        close(in[1]);
        execlp("python3", "python3", "tests/unit/proxy/backend.py", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(in[0]);
    char line[32] = "";
    size_t len = 0;
    while (len < sizeof line - 1 && !strchr(line, '\n')) {
        ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        line[len] = '\0';
    }
    close(out[0]);
    if (!strchr(line, '\n')) {
        fprintf(stderr, "backend did not start (read '%s')\n", line);
        return -1;
    }
    fx.backend_pid = pid;
    fx.backend_stdin = in[1];
    fx.backend_port = atoi(line);
    return fx.backend_port > 0 ? 0 : -1;
}

static int unused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static int setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    if (start_backend() < 0)
        return -1;
    fx.closed_port = unused_port();
    fx.head_timeout_ms = 5000;
    fx.generation = 1;
    fx.extra[0].name = "Cross-Origin-Opener-Policy";
    fx.extra[0].value = "same-origin";
    uv_loop_init(&fx.loop);
    uv_async_init(&fx.loop, &fx.done, on_done);
    uv_timer_init(&fx.loop, &fx.rss_timer);
    http_limits limits;
    http_limits_default(&limits);
    fx.server = http_server_new(&fx.loop, &limits, on_head, &fx);
    if (http_server_listen(fx.server, "127.0.0.1:0") < 0)
        return -1;
    fx.port = http_server_port(fx.server);
    fx.pool = upstream_pool_new(&fx.loop, 30000, 64);
    return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int teardown(void **state)
{
    upstream_pool_free(fx.pool);
    http_server_free(fx.server);
    uv_close((uv_handle_t *)&fx.done, NULL);
    uv_close((uv_handle_t *)&fx.rss_timer, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    uv_walk(&fx.loop, close_walk, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    uv_loop_close(&fx.loop);
    close(fx.backend_stdin);
    kill(fx.backend_pid, SIGTERM);
    waitpid(fx.backend_pid, NULL, 0);
    return 0;
}

/* ---- the client side (a thread with blocking sockets) -------------------------------- */

typedef void (*client_fn)(void *arg);

typedef struct client_run {
    client_fn fn;
    void *arg;
} client_run;

static void *client_thread(void *p)
{
    client_run *run = p;
    run->fn(run->arg);
    uv_async_send(&fx.done);
    return NULL;
}

/* Runs fn on a client thread while the loop serves, until fn returns. */
static void run_client(client_fn fn, void *arg)
{
    client_run run = {fn, arg};
    pthread_t th;
    pthread_create(&th, NULL, client_thread, &run);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

typedef struct response {
    int status;
    char headers[8192]; /* "name: value\n" lines */
    char body[8192];    /* the first bytes of the body */
    size_t body_len;    /* all of it */
    bool complete;
    bool in_value;
    bool head_only;
    bool got_continue;
} response;

static int r_field(http_parser *p, const char *at, size_t len)
{
    response *r = p->data;
    size_t used = strlen(r->headers);
    if (r->in_value && used + 1 < sizeof r->headers)
        strcat(r->headers, "\n");
    r->in_value = false;
    used = strlen(r->headers);
    snprintf(r->headers + used, sizeof r->headers - used, "%.*s", (int)len, at);
    return 0;
}

static int r_value(http_parser *p, const char *at, size_t len)
{
    response *r = p->data;
    size_t used = strlen(r->headers);
    snprintf(r->headers + used, sizeof r->headers - used, "%s%.*s", r->in_value ? "" : ": ",
             (int)len, at);
    r->in_value = true;
    return 0;
}

static int r_headers_done(http_parser *p)
{
    response *r = p->data;
    if (p->status_code == 100) {
        r->got_continue = true;
        r->headers[0] = '\0';
        r->in_value = false;
        return 0;
    }
    r->status = p->status_code;
    strcat(r->headers, "\n");
    return r->head_only ? 1 : 0;
}

static int r_body(http_parser *p, const char *at, size_t len)
{
    response *r = p->data;
    if (r->body_len < sizeof r->body - 1) {
        size_t n = len < sizeof r->body - 1 - r->body_len ? len : sizeof r->body - 1 - r->body_len;
        memcpy(r->body + r->body_len, at, n);
        r->body[r->body_len + n] = '\0';
    }
    r->body_len += len;
    return 0;
}

static int r_complete(http_parser *p)
{
    response *r = p->data;
    if (p->status_code == 100)
        return 0;
    r->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

/* Reads one response; returns its status, or -1 when the connection closed
 * before it was complete (r->status then says how far it got). */
static int read_response(int fd, response *r)
{
    static const http_parser_settings settings = {
        .on_header_field = r_field,
        .on_header_value = r_value,
        .on_headers_complete = r_headers_done,
        .on_body = r_body,
        .on_message_complete = r_complete,
    };
    bool head_only = r->head_only;
    memset(r, 0, sizeof *r);
    r->head_only = head_only;
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = r;
    char chunk[65536];
    while (!r->complete) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
            http_parser_execute(&p, &settings, NULL, 0);
            return r->complete ? r->status : -1;
        }
        http_parser_execute(&p, &settings, chunk, (size_t)n);
        if (HTTP_PARSER_ERRNO(&p) != HPE_OK && HTTP_PARSER_ERRNO(&p) != HPE_PAUSED)
            return -1;
    }
    return r->status;
}

static int request(int fd, const char *raw, response *r)
{
    if (send_all(fd, raw, strlen(raw)) < 0)
        return -1;
    return read_response(fd, r);
}

static int get(const char *path, response *r)
{
    int fd = dial(fx.port);
    char raw[1024];
    snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: demo.localhost\r\n\r\n", path);
    int status = request(fd, raw, r);
    close(fd);
    return status;
}

/* Reads raw bytes until needle shows up; true when it did. */
static bool read_until(int fd, char *acc, size_t size, const char *needle)
{
    size_t len = strlen(acc);
    while (!strstr(acc, needle)) {
        if (len + 1 >= size)
            return false;
        ssize_t n = recv(fd, acc + len, size - len - 1, 0);
        if (n <= 0)
            return false;
        len += (size_t)n;
        acc[len] = '\0';
    }
    return true;
}

/* ---- tests ---------------------------------------------------------------------- */

typedef struct result {
    int status[8];
    response r[4];
    char text[4096];
    bool ok[8];
    size_t n;
} result;

static void c_hello(void *arg)
{
    result *res = arg;
    int fd = dial(fx.port);
    /* Three requests on one client connection: the upstream one is reused. */
    for (int i = 0; i < 3; i++)
        res->status[i] =
            request(fd, "GET /hello HTTP/1.1\r\nHost: demo.localhost:8080\r\n\r\n", &res->r[0]);
    close(fd);
}

static void test_simple_get_and_keep_alive(void **state)
{
    result res = {0};
    upstream_pool_stats before, after;
    upstream_pool_stats_get(fx.pool, &before);
    run_client(c_hello, &res);
    upstream_pool_stats_get(fx.pool, &after);
    for (int i = 0; i < 3; i++)
        assert_int_equal(res.status[i], 200);
    assert_string_equal(res.r[0].body, "hello world\n");
    assert_non_null(strstr(res.r[0].headers, "Cross-Origin-Opener-Policy: same-origin"));
    assert_int_equal(after.opened - before.opened, 1);
    assert_true(after.reused - before.reused >= 2);
    assert_int_equal(after.busy, 0);
}

static void c_headers(void *arg)
{
    result *res = arg;
    int fd = dial(fx.port);
    res->status[0] = request(fd,
                             "GET /headers?q=1 HTTP/1.1\r\nHost: Demo.localhost:8080\r\n"
                             "Connection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 5\r\n"
                             "X-HF-Authorization: Bearer hf_x\r\nAuthorization: Bearer app\r\n"
                             "X-Forwarded-For: 10.0.0.1\r\nProxy: evil\r\nTE: trailers\r\n"
                             "X-Forwarded-Proto: https\r\n\r\n",
                             &res->r[0]);
    close(fd);
}

static void test_request_headers(void **state)
{
    result res = {0};
    run_client(c_headers, &res);
    assert_int_equal(res.status[0], 200);
    const char *body = res.r[0].body;
    assert_non_null(strstr(body, "\"GET /headers?q=1\""));
    assert_non_null(strstr(body, "[\"Host\", \"Demo.localhost:8080\"]"));
    assert_non_null(strstr(body, "[\"X-Forwarded-For\", \"10.0.0.1, 127.0.0.1\"]"));
    assert_non_null(strstr(body, "[\"X-Forwarded-Proto\", \"http\"]"));
    assert_non_null(strstr(body, "[\"X-Forwarded-Host\", \"Demo.localhost:8080\"]"));
    assert_non_null(strstr(body, "[\"Authorization\", \"Bearer app\"]"));
    assert_null(strstr(body, "X-Secret"));
    assert_null(strstr(body, "Keep-Alive"));
    assert_null(strstr(body, "X-HF-Authorization"));
    assert_null(strstr(body, "\"Proxy\""));
    assert_null(strstr(body, "\"TE\""));
    assert_null(strstr(body, "https"));
}

static void c_bodies(void *arg)
{
    result *res = arg;
    int fd = dial(fx.port);
    res->status[0] =
        request(fd, "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nContent-Length: 5\r\n\r\nhello",
                &res->r[0]);
    res->status[1] = request(fd,
                             "POST /echo HTTP/1.1\r\nHost: d.localhost\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
                             &res->r[1]);
    res->status[2] = request(fd, "GET /chunked HTTP/1.1\r\nHost: d.localhost\r\n\r\n", &res->r[2]);
    res->r[3].head_only = true;
    res->status[3] = request(fd, "HEAD /hello HTTP/1.1\r\nHost: d.localhost\r\n\r\n", &res->r[3]);
    /* Still in step after HEAD: the next response is the right one. */
    res->status[4] = request(fd, "GET /hello HTTP/1.1\r\nHost: d.localhost\r\n\r\n", &res->r[0]);
    close(fd);
}

static void test_bodies_chunked_and_head(void **state)
{
    result res = {0};
    run_client(c_bodies, &res);
    assert_int_equal(res.status[0], 200);
    assert_int_equal(res.status[1], 200);
    assert_string_equal(res.r[1].body, "abcdefg");
    assert_int_equal(res.status[2], 200);
    assert_string_equal(res.r[2].body, "one,two,three");
    assert_non_null(strstr(res.r[2].headers, "Transfer-Encoding: chunked"));
    assert_int_equal(res.status[3], 200);
    assert_non_null(strstr(res.r[3].headers, "Content-Length: 12"));
    assert_int_equal(res.r[3].body_len, 0);
    assert_int_equal(res.status[4], 200);
    assert_string_equal(res.r[0].body, "hello world\n");
}

static void c_sse(void *arg)
{
    result *res = arg;
    int fd = dial(fx.port);
    send_all(fd, "GET /sse HTTP/1.1\r\nHost: d.localhost\r\n\r\n", 40);
    /* Event 1 must arrive while the app still holds event 2. */
    res->ok[0] = read_until(fd, res->text, sizeof res->text, "data: 1");
    res->ok[1] = strstr(res->text, "data: 2") == NULL;
    response r = {0};
    res->status[0] = get("/release", &r);
    res->ok[2] = read_until(fd, res->text, sizeof res->text, "data: 2");
    res->ok[3] = read_until(fd, res->text, sizeof res->text, "\r\n0\r\n\r\n");
    close(fd);
}

static void test_sse_events_arrive_one_by_one(void **state)
{
    result res = {0};
    run_client(c_sse, &res);
    assert_true(res.ok[0]);
    assert_true(res.ok[1]);
    assert_int_equal(res.status[0], 200);
    assert_true(res.ok[2]);
    assert_true(res.ok[3]);
    assert_non_null(strstr(res.text, "text/event-stream"));
}

static void ws_send(int fd, int opcode, const char *text)
{
    unsigned char frame[256];
    size_t len = strlen(text);
    const unsigned char mask[4] = {1, 2, 3, 4};
    frame[0] = (unsigned char)(0x80 | opcode);
    frame[1] = (unsigned char)(0x80 | len);
    memcpy(frame + 2, mask, 4);
    for (size_t i = 0; i < len; i++)
        frame[6 + i] = (unsigned char)text[i] ^ mask[i % 4];
    send_all(fd, frame, 6 + len);
}

static bool ws_expect(int fd, int opcode, const char *text)
{
    unsigned char frame[256];
    size_t want = 2 + strlen(text), got = 0;
    while (got < want) {
        ssize_t n = recv(fd, frame + got, want - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return frame[0] == (0x80 | opcode) && frame[1] == strlen(text) &&
           memcmp(frame + 2, text, strlen(text)) == 0;
}

static void c_websocket(void *arg)
{
    result *res = arg;
    int fd = dial(fx.port);
    const char *hs = "GET /ws HTTP/1.1\r\nHost: d.localhost\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n";
    send_all(fd, hs, strlen(hs));
    /* A frame right behind the handshake reaches the app too. */
    ws_send(fd, 1, "early");
    res->ok[0] = read_until(fd, res->text, sizeof res->text, "\r\n\r\n");
    /* The handshake and the echo may come in one read: split them. */
    char *end = strstr(res->text, "\r\n\r\n");
    size_t extra = end ? strlen(end + 4) : 0;
    if (end)
        end[4] = '\0';
    res->ok[1] = extra == 0 ? ws_expect(fd, 1, "early") : extra == 7;
    ws_send(fd, 1, "hello");
    res->ok[2] = ws_expect(fd, 1, "hello");
    ws_send(fd, 2, "bin");
    res->ok[3] = ws_expect(fd, 2, "bin");
    ws_send(fd, 8, "");
    res->ok[4] = ws_expect(fd, 8, "");
    char c;
    res->ok[5] = recv(fd, &c, 1, 0) == 0; /* the app closed; the tunnel too */
    close(fd);
}

static void test_websocket_echo(void **state)
{
    result res = {0};
    forward_stats before, after;
    forward_stats_get(&before);
    run_client(c_websocket, &res);
    forward_stats_get(&after);
    assert_true(res.ok[0]);
    assert_non_null(strstr(res.text, "HTTP/1.1 101 Switching Protocols"));
    assert_non_null(strstr(res.text, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert_non_null(strstr(res.text, "Connection: upgrade"));
    assert_non_null(strstr(res.text, "Upgrade: websocket"));
    for (int i = 1; i <= 5; i++)
        assert_true(res.ok[i]);
    assert_int_equal(after.tunnels - before.tunnels, 1);
}

static void c_upload(void *arg)
{
    result *res = arg;
    int fd = dial(fx.port);
    char head[256];
    snprintf(head, sizeof head,
             "POST /upload HTTP/1.1\r\nHost: d.localhost\r\nContent-Length: %d\r\n\r\n", BIG);
    send_all(fd, head, strlen(head));
    static char block[65536];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (char)(i * 7);
    for (size_t sent = 0; sent < BIG; sent += sizeof block)
        if (send_all(fd, block, sizeof block) < 0)
            break;
    res->status[0] = read_response(fd, &res->r[0]);
    close(fd);
}

static void start_rss_watch(void)
{
    fx.rss_base_kb = fx.rss_peak_kb = rss_kb();
    uv_timer_start(&fx.rss_timer, on_rss_sample, 20, 20);
}

static long stop_rss_watch(void)
{
    uv_timer_stop(&fx.rss_timer);
    return (fx.rss_peak_kb - fx.rss_base_kb) / 1024;
}

static void test_upload_100mb_backpressure(void **state)
{
    result res = {0};
    start_rss_watch();
    run_client(c_upload, &res);
    long grew_mb = stop_rss_watch();
    assert_int_equal(res.status[0], 200);
    char want[32];
    snprintf(want, sizeof want, "%d ", BIG);
    assert_true(util_has_prefix(res.r[0].body, want));
    print_message("upload: RSS grew %ld MB while 100 MB went through\n", grew_mb);
    assert_true(grew_mb < 32);
}

static void c_download(void *arg)
{
    result *res = arg;
    int fd = dial(fx.port);
    char head[128];
    snprintf(head, sizeof head, "GET /download?n=%d HTTP/1.1\r\nHost: d.localhost\r\n\r\n", BIG);
    send_all(fd, head, strlen(head));
    usleep(500 * 1000); /* a slow reader first: the proxy must stop reading the app */
    res->status[0] = read_response(fd, &res->r[0]);
    close(fd);
}

static void test_download_100mb_backpressure(void **state)
{
    result res = {0};
    start_rss_watch();
    run_client(c_download, &res);
    long grew_mb = stop_rss_watch();
    assert_int_equal(res.status[0], 200);
    assert_int_equal(res.r[0].body_len, BIG);
    print_message("download: RSS grew %ld MB while 100 MB went through\n", grew_mb);
    assert_true(grew_mb < 32);
}

static void c_errors(void *arg)
{
    result *res = arg;
    res->status[0] = get("/refused", &res->r[0]);
    res->status[1] = get("/hang", &res->r[1]);
    /* The app promises 100 bytes and closes after 10: the client must see a
     * cut connection, not a complete response. */
    res->status[2] = get("/cut", &res->r[2]);
    res->n = res->r[2].body_len;
}

static void test_refused_timeout_and_cut(void **state)
{
    result res = {0};
    fx.head_timeout_ms = 300;
    run_client(c_errors, &res);
    fx.head_timeout_ms = 5000;
    assert_int_equal(res.status[0], 502);
    assert_non_null(strstr(res.r[0].body, "Bad Gateway"));
    assert_non_null(strstr(res.r[0].headers, "text/html"));
    assert_int_equal(res.status[1], 504);
    assert_non_null(strstr(res.r[1].body, "Gateway Timeout"));
    assert_int_equal(res.status[2], -1);
    assert_int_equal(res.r[2].status, 200);
    assert_int_equal(res.n, 10);
}

static const char *const smuggling[] = {
    "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nContent-Length: 5\r\n"
    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nTransfer-Encoding: chunked\r\n"
    "Content-Length: 5\r\n\r\n0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"
    "hello",
    "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nContent-Length: 5, 5\r\n\r\nhello",
    "GET /echo HTTP/1.1\r\nHost: d.localhost\r\nX-A: b\r\n c\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nContent-Length: 5\r\n 5\r\n\r\nhello",
    "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    "zz\r\nhello\r\n0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhelloXX0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    "0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nTransfer-Encoding: chunked\r\n"
    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "POST /echo HTTP/1.0\r\nHost: d.localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
};

static void c_smuggling(void *arg)
{
    result *res = arg;
    response r = {0};
    get("/count", &r);
    int before = atoi(r.body);
    for (size_t i = 0; i < sizeof smuggling / sizeof smuggling[0]; i++) {
        int fd = dial(fx.port);
        int status = request(fd, smuggling[i], &r);
        close(fd);
        if (status != 400) {
            snprintf(res->text, sizeof res->text, "shape %zu answered %d", i, status);
            return;
        }
    }
    get("/count", &r);
    res->n = (size_t)(atoi(r.body) - before);
}

static void test_smuggling_shapes_rejected(void **state)
{
    result res = {0};
    run_client(c_smuggling, &res);
    assert_string_equal(res.text, "");
    assert_int_equal(res.n, 1); /* the app saw only the second /count */
}

static void c_delayed(void *arg)
{
    result *res = arg;
    int fd = dial(fx.port);
    /* The body arrives while the exchange waits for its upstream. */
    res->status[0] = request(fd,
                             "POST /delayed/echo HTTP/1.1\r\nHost: d.localhost\r\n"
                             "Content-Length: 11\r\n\r\nheld for me",
                             &res->r[0]);
    /* A client that waits for 100 Continue before its body gets it once the
     * exchange is ready to take the body. */
    const char *head = "PUT /delayed/echo HTTP/1.1\r\nHost: d.localhost\r\n"
                       "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    send_all(fd, head, strlen(head));
    res->ok[0] = read_until(fd, res->text, sizeof res->text, "HTTP/1.1 100 Continue\r\n\r\n");
    res->status[1] = request(fd, "abc", &res->r[1]);
    close(fd);
}

static void test_body_held_until_upstream_ready(void **state)
{
    result res = {0};
    run_client(c_delayed, &res);
    assert_int_equal(res.status[0], 200);
    assert_string_equal(res.r[0].body, "held for me");
    assert_int_equal(res.status[1], 200);
    assert_true(res.ok[0]);
    assert_string_equal(res.r[1].body, "abc");
}

static void c_two_hellos(void *arg)
{
    result *res = arg;
    res->status[0] = get("/hello", &res->r[0]);
    res->status[1] = get("/hello", &res->r[1]);
}

static void c_close_then_hello(void *arg)
{
    result *res = arg;
    res->status[0] = get("/close", &res->r[0]);
    res->status[1] = get("/hello", &res->r[1]);
}

static void test_pool_generations_and_closed_connections(void **state)
{
    result res = {0};
    upstream_pool_stats s0, s1, s2, s3;
    run_client(c_two_hellos, &res);
    upstream_pool_stats_get(fx.pool, &s0);
    assert_true(s0.idle >= 1);
    /* A new generation: the idle connections of the old one are closed, not used. */
    fx.generation++;
    run_client(c_two_hellos, &res);
    upstream_pool_stats_get(fx.pool, &s1);
    assert_int_equal(res.status[1], 200);
    assert_int_equal(s1.opened - s0.opened, 1);
    assert_int_equal(s1.idle, 1);
    /* An app that answers Connection: close does not go back to the pool. */
    run_client(c_close_then_hello, &res);
    upstream_pool_stats_get(fx.pool, &s2);
    assert_int_equal(res.status[0], 200);
    assert_int_equal(res.status[1], 200);
    assert_int_equal(s2.opened - s1.opened, 1);
    /* An instance that stopped takes its idle connections with it. */
    upstream_pool_forget(fx.pool, &fx);
    upstream_pool_stats_get(fx.pool, &s3);
    assert_int_equal(s3.idle, 0);
}

static void c_dropped(void *arg)
{
    result *res = arg;
    int fd = dial(fx.port);
    res->status[0] =
        request(fd, "GET /drop-next HTTP/1.1\r\nHost: d.localhost\r\n\r\n", &res->r[0]);
    /* The pooled connection is the one the app drops: retried on a new one. */
    res->status[1] = request(fd, "GET /hello HTTP/1.1\r\nHost: d.localhost\r\n\r\n", &res->r[1]);
    /* A request with a body is never replayed: 502. */
    res->status[2] =
        request(fd, "GET /drop-next HTTP/1.1\r\nHost: d.localhost\r\n\r\n", &res->r[0]);
    res->status[3] = request(
        fd, "POST /echo HTTP/1.1\r\nHost: d.localhost\r\nContent-Length: 2\r\n\r\nhi", &res->r[2]);
    close(fd);
}

static void test_retry_on_a_dropped_pooled_connection(void **state)
{
    result res = {0};
    forward_stats before, after;
    upstream_pool_forget(fx.pool, &fx); /* start with an empty pool */
    forward_stats_get(&before);
    fx.retargets = 0;
    run_client(c_dropped, &res);
    forward_stats_get(&after);
    assert_int_equal(res.status[0], 200);
    assert_int_equal(res.status[1], 200);
    assert_string_equal(res.r[1].body, "hello world\n");
    assert_int_equal(after.retries - before.retries, 1);
    assert_int_equal(fx.retargets, 1);
    assert_int_equal(res.status[2], 200);
    assert_int_equal(res.status[3], 502);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get_and_keep_alive),
        cmocka_unit_test(test_request_headers),
        cmocka_unit_test(test_bodies_chunked_and_head),
        cmocka_unit_test(test_sse_events_arrive_one_by_one),
        cmocka_unit_test(test_websocket_echo),
        cmocka_unit_test(test_upload_100mb_backpressure),
        cmocka_unit_test(test_download_100mb_backpressure),
        cmocka_unit_test(test_refused_timeout_and_cut),
        cmocka_unit_test(test_smuggling_shapes_rejected),
        cmocka_unit_test(test_body_held_until_upstream_ready),
        cmocka_unit_test(test_pool_generations_and_closed_connections),
        cmocka_unit_test(test_retry_on_a_dropped_pooled_connection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
