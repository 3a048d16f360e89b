/* libFuzzer target for src/http/http.c: bytes from a client go through the
 * real server (accept, http_parser glue, limits, pipelining, the response
 * writer) over a loopback TCP connection on one libuv loop. No test seam is
 * needed: the target is an ordinary client that writes the input, half-closes
 * and reads every answer until the server closes.
 *
 * The handler is small but takes every body path: buffered (echoes a digest of
 * the body and the query), streaming (counts bytes, answers at the end),
 * answering from on_head (bodies then dropped), and a chunked response. Each
 * answer the server writes must start with a well-formed status line.
 *
 * make BUILD=build-fz build-fz/fuzz/fuzz_http
 * build-fz/fuzz/fuzz_http -max_total_time=60 SCRATCH_COPY_OF/tests/fuzz/corpus/http */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static uv_loop_t loop;
static http_server *server, *hop_server;
static int port, hop_port;
/* An input whose first byte has its high bit set goes, without that byte, to
 * a server that trusts only requests signed with this (as the main loop's
 * listener for the worker loops does). */
#define HOP_SECRET "0123456789abcdef0123456789abcdef"
static size_t streamed;

static void answer_buffered(http_request *req)
{
    char *q = http_query_get(req, "q");
    const char *ua = http_header_get(req, "User-Agent");
    char out[128];
    int n = snprintf(out, sizeof out, "%zu %s %zu\n", req->body.len, q ? "q" : "-",
                     ua ? strlen(ua) : 0);
    free(q);
    http_respond(req, 200, "text/plain", out, (size_t)n);
}

static int on_stream_body(http_request *req, const char *at, size_t len)
{
    streamed += len;
    return 0;
}

static void on_stream_end(http_request *req)
{
    http_resp_header(req, "X-Streamed", "yes");
    http_resp_begin(req, 201, -1); /* chunked for 1.1, close-delimited for 1.0 */
    http_resp_write(req, "a", 1);
    http_resp_write(req, "bc", 2);
    http_resp_end(req);
}

/* The router's role: choose a body mode from the path, as handlers do. */
static void on_head(http_request *req)
{
    const char *p = req->path ? req->path : "";
    if (!strncmp(p, "/early", 6)) {
        http_respond(req, 403, "text/plain", "no\n", 3);
    } else if (!strncmp(p, "/stream", 7)) {
        req->on_body = on_stream_body;
        req->on_body_end = on_stream_end;
    } else {
        if (!strncmp(p, "/small", 6))
            req->body_limit = 16;
        req->on_complete = answer_buffered;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    http_limits limits;
    log_set_level(LOG_ERROR);
    log_open("/dev/null"); /* the access log: one line a request */
    http_limits_default(&limits);
    limits.max_header_bytes = 4096;
    limits.max_headers = 32;
    limits.body_limit = 4096;
    uv_loop_init(&loop);
    server = http_server_new(&loop, &limits, on_head, NULL);
    if (!server || http_server_listen(server, "127.0.0.1:0") != 0)
        abort();
    port = http_server_port(server);
    hop_server = http_server_new(&loop, &limits, on_head, NULL);
    if (!hop_server || http_server_listen(hop_server, "127.0.0.1:0") != 0)
        abort();
    http_server_trust_hop(hop_server, HOP_SECRET);
    hop_port = http_server_port(hop_server);
    return 0;
}

static int client_connect(int to_port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to_port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        abort();
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
        abort();
    return fd;
}

/* Every response the server wrote starts "HTTP/1.x NNN "; the first one at
 * least must be there when anything came back (later ones are framed by the
 * headers, which this check does not parse). */
static void check_answer(const char *out, size_t len)
{
    if (len == 0)
        return;
    if (len < 13 || memcmp(out, "HTTP/1.", 7) != 0 || out[8] != ' ' || out[12] != ' ' ||
        out[9] < '1' || out[9] > '5' || out[10] < '0' || out[10] > '9' || out[11] < '0' ||
        out[11] > '9')
        abort();
    if (!memmem(out, len, "\r\n\r\n", 4))
        abort(); /* a head always ends */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int to_port = port;
    if (size && (data[0] & 0x80)) {
        to_port = hop_port;
        data++;
        size--;
    }
    int fd = client_connect(to_port);
    size_t sent = 0, got = 0, cap = 1 << 16;
    char *out = malloc(cap);
    bool eof = false, shut = false;
    if (!out)
        abort();
    /* Bounded: a server that stops answering is a hang, which libFuzzer reports. */
    while (!eof) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (sent < size) {
            ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != ENOTCONN)
                sent = size; /* the server closed on us: stop writing */
        } else if (!shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        for (;;) {
            if (got == cap && !(out = realloc(out, cap *= 2)))
                abort();
            ssize_t n = recv(fd, out + got, cap - got, 0);
            if (n > 0) {
                got += (size_t)n;
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR))
                eof = true;
            break;
        }
        if (!eof)
            poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 0);
    }
    check_answer(out, got);
    close(fd);
    /* Let the server close its side before the next input. */
    while (http_server_connections(server) > 0)
        uv_run(&loop, UV_RUN_ONCE);
    free(out);
    (void)streamed;
    return 0;
}
