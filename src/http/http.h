/* http: the HTTP/1.1 server core.
 *
 * One http_server per libuv loop. Requests are parsed with the packaged
 * http_parser (nodejs/http-parser); Hangar only adds limits, timeouts,
 * keep-alive and pipelining in order, and the response writer.
 *
 * Life of a request: when its head is parsed the server calls the on_head
 * callback (the router), which picks a handler and either leaves the request
 * in buffered mode (the body is collected up to req->body_limit, then
 * req->on_complete runs) or switches it to streaming mode (req->on_body and
 * req->on_body_end see the body as it arrives). The handler answers with the
 * http_resp_* functions, synchronously or later from the loop. Only when the
 * response has ended does the server parse the next pipelined request. */
#ifndef HANGAR_HTTP_H
#define HANGAR_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "lib/buf.h"

typedef struct http_server http_server;
typedef struct http_conn http_conn;
typedef struct http_request http_request;

typedef struct http_header {
    char *name;
    char *value;
} http_header;

typedef struct http_limits {
    size_t max_header_bytes;    /* request line + headers; over it: 431 */
    size_t max_headers;         /* header count; over it: 431 */
    size_t body_limit;          /* default per-request body limit; routes may change it */
    uint64_t header_timeout_ms; /* whole head must arrive within this; else 408 */
    uint64_t idle_timeout_ms;   /* idle keep-alive connections and stalled bodies */
    uint64_t shutdown_grace_ms; /* graceful shutdown waits this long for in-flight work */
} http_limits;

void http_limits_default(http_limits *limits);

typedef void (*http_head_cb)(http_request *req);

struct http_request {
    http_conn *conn;
    http_server *server;
    enum http_method method;
    char *url;   /* request target as sent */
    char *path;  /* path part of the target, not percent-decoded */
    char *query; /* after '?', or NULL */
    http_header *headers;
    size_t nheaders;
    unsigned short http_major, http_minor;
    bool keep_alive;
    int64_t content_length; /* -1 when absent (chunked or no body) */

    /* Body handling, chosen by the on_head callback. */
    size_t body_limit;
    buf body;
    void (*on_complete)(http_request *req);
    int (*on_body)(http_request *req, const char *data, size_t len); /* streaming */
    void (*on_body_end)(http_request *req);
    /* The connection died before the response ended: release ctx, stop work. */
    void (*on_abort)(http_request *req);
    /* The write queue drained after http_resp_write reported backpressure. */
    void (*on_drain)(http_request *req);
    /* A body silent this long is cut; 0: the server's idle timeout. A worker
     * loop handing a request on waits longer than the main loop, whose 408
     * then reaches the client. Set at head time. */
    uint64_t stall_timeout_ms;
    void *ctx;

    /* Path parameters captured by the router (owned, percent-decoded). */
    char *params[8];
    int nparams;

    /* For the access log. */
    bool quiet; /* another loop logs it (a worker's request handed to the main loop) */
    char *user; /* authenticated user name, if any (owned) */
    char remote[64];
    char request_id[20];
    uint64_t start_ms;

    /* Response state (owned by the server). */
    int status;
    buf resp_head;
    bool resp_started;
    bool resp_chunked;
    bool resp_ended;
    bool message_complete;
    bool head_only;
    uint64_t resp_bytes;
};

/* Creates a server on loop; on_head is called for every request head. */
http_server *http_server_new(uv_loop_t *loop, const http_limits *limits, http_head_cb on_head,
                             void *user_data);
void *http_server_data(http_server *server);
/* Binds and listens on "HOST:PORT"; 0 or a negative libuv error. */
int http_server_listen(http_server *server, const char *listen_addr);
/* The same with SO_REUSEPORT: one server per loop (thread) listens on one
 * address and the kernel spreads new connections over them. */
int http_server_listen_shared(http_server *server, const char *listen_addr);
/* Serves a socket another server listens on (a dup of it): the loops of
 * several threads accept from one socket. 0 or a negative libuv error. */
int http_server_listen_fd(http_server *server, uv_os_sock_t fd);
/* The listening socket (not a copy), or -1. */
uv_os_sock_t http_server_fd(http_server *server);
/* The port actually bound (useful with port 0). */
int http_server_port(http_server *server);

/* Requests handed on by a worker loop carry HTTP_HOP_HEADER:
 * "<secret> <client address> <request id>". A server told the secret takes
 * the client's address and request id from it and removes it; a request
 * without it, or with another secret, is refused (403). Other servers leave
 * it alone, and the proxy never forwards it to an app. */
#define HTTP_HOP_HEADER "X-Hangar-Hop"
#define HTTP_HOP_SECRET_LEN 32
void http_server_trust_hop(http_server *server, const char *secret);
/* Stops accepting, lets in-flight requests finish (up to shutdown_grace_ms),
 * closes idle connections, then calls done. */
void http_server_shutdown(http_server *server, void (*done)(http_server *));
/* Closes the server's handles; the loop frees the struct once they are closed. */
void http_server_free(http_server *server);
size_t http_server_connections(http_server *server);

/* Request helpers. */
const char *http_header_get(const http_request *req, const char *name);
/* Copies the decoded value of query parameter name into a new string, or NULL. */
char *http_query_get(const http_request *req, const char *name);
const char *http_method_name(const http_request *req);

/* Response. Headers first, then begin, write*, end; or http_respond in one go.
 * content_length < 0 means unknown: chunked for HTTP/1.1, close-delimited for 1.0. */
void http_resp_header(http_request *req, const char *name, const char *value);
void http_resp_headerf(http_request *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void http_resp_begin(http_request *req, int status, int64_t content_length);
/* Queues data; returns 1 when the caller should wait for on_drain, 0 otherwise,
 * -1 when the connection is gone. */
int http_resp_write(http_request *req, const void *data, size_t len);
void http_resp_end(http_request *req);
void http_respond(http_request *req, int status, const char *content_type, const void *body,
                  size_t len);
/* Stops reading the request body until resume (backpressure for streaming). */
void http_request_pause(http_request *req);
void http_request_resume(http_request *req);
/* Forces the connection to close once this response ends. */
void http_request_close_after(http_request *req);
/* Closes the connection now, mid-response: the client sees a truncated
 * response rather than a complete wrong one (an upstream failed halfway).
 * on_abort is not called; the request is freed. */
void http_request_abort(http_request *req);
/* Sends "100 Continue" to a client waiting for it (Expect: 100-continue)
 * before the final response; does nothing once that has begun. */
void http_resp_continue(http_request *req);

/* ---- taking a connection over (WebSocket and other upgrades) ----
 * A handler that answered 101 with http_resp_begin (adding its own Connection
 * and Upgrade headers) takes the client connection over: the request is logged
 * and freed, no more HTTP is parsed, and bytes flow unparsed both ways through
 * http_conn_write and raw.on_read. Reading starts paused: http_conn_resume
 * first hands over what the client sent right after its request head. There
 * is no timeout: the protocol above keeps its own. */
typedef struct http_raw_callbacks {
    void (*on_read)(void *arg, const char *data, size_t len); /* data is valid during the call */
    void (*on_drain)(void *arg); /* the write queue drained after http_conn_write returned 1 */
    void (*on_close)(void *arg); /* the client went away or a write failed: stop using conn */
} http_raw_callbacks;

/* Returns the connection, or NULL when req did not begin a 101 response or the
 * client is gone (then nothing changed and the request is still the caller's). */
http_conn *http_request_take_over(http_request *req, const http_raw_callbacks *cb, void *arg);
/* Queues data; 1 when the caller should wait for on_drain, 0 otherwise, -1 when gone. */
int http_conn_write(http_conn *conn, const void *data, size_t len);
void http_conn_pause(http_conn *conn);
void http_conn_resume(http_conn *conn);
/* Flushes queued writes and closes; on_close is not called. */
void http_conn_close(http_conn *conn);

const char *http_status_text(int status);

#endif
