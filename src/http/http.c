#include "http/http.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

#define READ_PAUSE_BYTES (256 * 1024) /* stop reading when this much is unparsed */
#define WRITE_HIGH_WATER (256 * 1024) /* http_resp_write asks callers to wait above */

typedef enum { CONN_IDLE, CONN_HEAD, CONN_BODY, CONN_HANDLING } conn_state;

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    http_server *server;
    http_parser parser;
    buf in;
    http_request *req;
    conn_state state;
    size_t header_bytes;
    bool in_value; /* the parser last gave us a header value */
    bool header_overflow;
    bool reading;
    bool paused; /* body reading paused by the handler */
    bool close_after;
    bool closing;
    bool reparse;
    int in_parse;
    int open_handles;
    size_t write_queue;
    bool want_drain;
    http_conn *prev, *next;
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t grace_timer;
    http_limits limits;
    http_head_cb on_head;
    void *user_data;
    http_conn *conns;
    size_t nconns;
    bool listening;
    bool draining;
    void (*shutdown_done)(http_server *);
    uint64_t request_counter;
    int port;
};

typedef struct write_req {
    uv_write_t req;
    http_conn *conn;
    size_t len;
    char data[];
} write_req;

static http_parser_settings parser_settings;
static void conn_close(http_conn *c);
static void conn_parse(http_conn *c);
static void conn_start_reading(http_conn *c);
static void server_maybe_done(http_server *s);

void http_limits_default(http_limits *limits)
{
    limits->max_header_bytes = 32 * 1024;
    limits->max_headers = 100;
    limits->body_limit = 1024 * 1024;
    limits->header_timeout_ms = 10000;
    limits->idle_timeout_ms = 60000;
    limits->shutdown_grace_ms = 10000;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 507:
        return "Insufficient Storage";
    default:
        return "Unknown";
    }
}

/* ---- requests ---------------------------------------------------------- */

static http_request *request_new(http_conn *c)
{
    http_request *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->conn = c;
    req->server = c->server;
    req->content_length = -1;
    req->body_limit = c->server->limits.body_limit;
    req->start_ms = util_mono_ms();
    buf_init(&req->body);
    buf_init(&req->resp_head);
    struct sockaddr_storage addr;
    int len = sizeof addr;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&addr, &len) == 0) {
        if (addr.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&addr, req->remote, sizeof req->remote);
        else
            uv_ip4_name((struct sockaddr_in *)&addr, req->remote, sizeof req->remote);
    }
    snprintf(req->request_id, sizeof req->request_id, "%08x%08llx", (unsigned)(uintptr_t)c >> 4,
             (unsigned long long)++c->server->request_counter);
    return req;
}

static void request_free(http_request *req)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    free(req->url);
    free(req->path);
    free(req->query);
    free(req->user);
    for (int i = 0; i < req->nparams; i++)
        free(req->params[i]);
    buf_free(&req->body);
    buf_free(&req->resp_head);
    free(req);
}

static void request_log(http_request *req)
{
    json_t *line = json_pack("{s:s, s:s, s:s, s:s?, s:i, s:I, s:I, s:s, s:s?}", "type", "access",
                             "remote", req->remote, "method", http_method_name(req), "url",
                             req->url, "status", req->status, "bytes", (json_int_t)req->resp_bytes,
                             "ms", (json_int_t)(util_mono_ms() - req->start_ms), "request_id",
                             req->request_id, "user", req->user);
    if (!line)
        return;
    char ts[40];
    util_iso8601_now(ts, sizeof ts);
    json_object_set_new(line, "time", json_string(ts));
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text)
        log_access_line(text);
    free(text);
    json_decref(line);
}

const char *http_header_get(const http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (util_streq_nocase(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

char *http_query_get(const http_request *req, const char *name)
{
    if (!req->query)
        return NULL;
    size_t nlen = strlen(name);
    const char *p = req->query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t plen = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        if (klen == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : p + plen;
            size_t vlen = (size_t)(p + plen - v);
            char *out = strndup(v, vlen);
            if (!out)
                return NULL;
            for (char *q = out; *q; q++)
                if (*q == '+')
                    *q = ' ';
            if (util_percent_decode(out) < 0) {
                free(out);
                return NULL;
            }
            return out;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

const char *http_method_name(const http_request *req)
{
    return http_method_str(req->method);
}

/* ---- writing ------------------------------------------------------------ */

static void on_write_done(uv_write_t *w, int status)
{
    write_req *wr = (write_req *)w;
    http_conn *c = wr->conn;
    c->write_queue -= wr->len;
    free(wr);
    if (status < 0) {
        if (status != UV_ECANCELED)
            log_debug("http", "write failed: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    if (c->want_drain && c->write_queue < WRITE_HIGH_WATER / 2 && c->req && !c->closing) {
        c->want_drain = false;
        if (c->req->on_drain)
            c->req->on_drain(c->req);
    }
}

/* Queues up to three pieces as one write (chunk header, data, trailer). */
static int conn_write3(http_conn *c, const void *a, size_t alen, const void *b, size_t blen,
                       const void *d, size_t dlen)
{
    if (c->closing)
        return -1;
    size_t total = alen + blen + dlen;
    write_req *wr = malloc(sizeof *wr + total);
    if (!wr) {
        log_error("http", "out of memory queuing %zu bytes", total);
        conn_close(c);
        return -1;
    }
    wr->conn = c;
    wr->len = total;
    if (alen)
        memcpy(wr->data, a, alen);
    if (blen)
        memcpy(wr->data + alen, b, blen);
    if (dlen)
        memcpy(wr->data + alen + blen, d, dlen);
    uv_buf_t ub = uv_buf_init(wr->data, (unsigned)total);
    int rc = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &ub, 1, on_write_done);
    if (rc < 0) {
        free(wr);
        log_debug("http", "uv_write: %s", uv_strerror(rc));
        conn_close(c);
        return -1;
    }
    c->write_queue += total;
    return 0;
}

static void http_date(char *out, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void http_resp_header(http_request *req, const char *name, const char *value)
{
    /* CR or LF in a value would let a caller inject headers: drop the header. */
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) {
        log_error("http", "refusing header %s with a line break", name);
        return;
    }
    buf_printf(&req->resp_head, "%s: %s\r\n", name, value);
}

void http_resp_headerf(http_request *req, const char *name, const char *fmt, ...)
{
    char value[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    http_resp_header(req, name, value);
}

static bool status_has_body(int status)
{
    return !(status == 204 || status == 304 || (status >= 100 && status < 200));
}

void http_resp_begin(http_request *req, int status, int64_t content_length)
{
    http_conn *c = req->conn;
    if (req->resp_started)
        return;
    req->resp_started = true;
    req->status = status;
    req->head_only = req->method == HTTP_HEAD || !status_has_body(status);
    if (c->server->draining || !req->keep_alive)
        c->close_after = true;

    char date[64];
    http_date(date, sizeof date);
    buf head;
    buf_init(&head);
    buf_printf(&head, "HTTP/1.1 %d %s\r\nServer: hangar\r\nDate: %s\r\nX-Request-Id: %s\r\n",
               status, http_status_text(status), date, req->request_id);
    if (status_has_body(status)) {
        if (content_length >= 0) {
            buf_printf(&head, "Content-Length: %lld\r\n", (long long)content_length);
        } else if (req->http_major == 1 && req->http_minor >= 1) {
            buf_puts(&head, "Transfer-Encoding: chunked\r\n");
            req->resp_chunked = true;
        } else {
            c->close_after = true; /* body ends when the connection closes */
        }
    }
    if (c->close_after)
        buf_puts(&head, "Connection: close\r\n");
    else if (req->http_minor == 0)
        buf_puts(&head, "Connection: keep-alive\r\n");
    buf_append(&head, req->resp_head.data ? req->resp_head.data : "", req->resp_head.len);
    buf_puts(&head, "\r\n");
    conn_write3(c, head.data, head.len, NULL, 0, NULL, 0);
    buf_free(&head);
}

int http_resp_write(http_request *req, const void *data, size_t len)
{
    http_conn *c = req->conn;
    if (!req->resp_started)
        http_resp_begin(req, 200, -1);
    if (c->closing)
        return -1;
    if (len == 0 || req->head_only)
        return 0;
    int rc;
    if (req->resp_chunked) {
        char size_line[32];
        int n = snprintf(size_line, sizeof size_line, "%zx\r\n", len);
        rc = conn_write3(c, size_line, (size_t)n, data, len, "\r\n", 2);
    } else {
        rc = conn_write3(c, data, len, NULL, 0, NULL, 0);
    }
    if (rc < 0)
        return -1;
    req->resp_bytes += len;
    if (c->write_queue >= WRITE_HIGH_WATER) {
        c->want_drain = true;
        return 1;
    }
    return 0;
}

static void conn_shutdown_cb(uv_shutdown_t *sr, int status)
{
    http_conn *c = sr->data;
    free(sr);
    conn_close(c);
}

/* Flushes queued writes, then closes. */
static void conn_finish(http_conn *c)
{
    if (c->closing)
        return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    uv_timer_stop(&c->timer);
    uv_shutdown_t *sr = malloc(sizeof *sr);
    if (!sr || uv_shutdown(sr, (uv_stream_t *)&c->tcp, conn_shutdown_cb) < 0) {
        free(sr);
        conn_close(c);
        return;
    }
    sr->data = c;
}

static void conn_arm_timer(http_conn *c, uint64_t ms);

void http_resp_end(http_request *req)
{
    http_conn *c = req->conn;
    if (!req->resp_started)
        http_resp_begin(req, 200, 0);
    if (req->resp_ended)
        return;
    req->resp_ended = true;
    if (req->resp_chunked && !req->head_only && !c->closing)
        conn_write3(c, "0\r\n\r\n", 5, NULL, 0, NULL, 0);
    request_log(req);
    if (c->closing)
        return;
    if (!req->message_complete)
        c->close_after = true; /* the rest of the body would be misread as a request */
    if (c->close_after) {
        conn_finish(c);
        return;
    }
    /* Ready for the next request on this connection. */
    c->req = NULL;
    request_free(req);
    c->state = CONN_IDLE;
    c->want_drain = false;
    conn_arm_timer(c, c->server->limits.idle_timeout_ms);
    if (c->server->draining && c->in.len == 0) {
        conn_finish(c);
        return;
    }
    conn_start_reading(c);
    conn_parse(c);
}

void http_respond(http_request *req, int status, const char *content_type, const void *body,
                  size_t len)
{
    if (content_type)
        http_resp_header(req, "Content-Type", content_type);
    http_resp_begin(req, status, (int64_t)len);
    http_resp_write(req, body, len);
    http_resp_end(req);
}

void http_request_close_after(http_request *req)
{
    req->conn->close_after = true;
}

void http_request_pause(http_request *req)
{
    http_conn *c = req->conn;
    c->paused = true;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

void http_request_resume(http_request *req)
{
    http_conn *c = req->conn;
    if (!c->paused)
        return;
    c->paused = false;
    conn_start_reading(c);
    conn_parse(c);
}

/* A response of the server's own, when the parser or a limit fails. */
static void conn_error_response(http_conn *c, int status, const char *message)
{
    if (!c->req) {
        c->req = request_new(c);
        if (!c->req) {
            conn_close(c);
            return;
        }
        c->req->url = strdup("");
        c->req->http_major = 1;
        c->req->http_minor = 1;
    }
    http_request *req = c->req;
    if (req->resp_started) {
        conn_close(c);
        return;
    }
    /* A streaming handler still holds the request (a malformed body, a limit):
     * it must let go before the server answers for it, as if the peer had gone. */
    if (req->on_abort) {
        void (*abort_cb)(http_request *) = req->on_abort;
        req->on_abort = NULL;
        req->on_body = NULL;
        req->on_body_end = NULL;
        req->on_drain = NULL;
        abort_cb(req);
    }
    c->close_after = true;
    json_t *body = json_pack("{s:s}", "error", message);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    http_resp_header(req, "X-Error-Message", message);
    const char *payload = text ? text : "{\"error\":\"internal error\"}";
    http_respond(req, status, "application/json", payload, strlen(payload));
    free(text);
}

/* ---- timers ------------------------------------------------------------- */

static void on_conn_timer(uv_timer_t *t)
{
    http_conn *c = t->data;
    switch (c->state) {
    case CONN_IDLE:
        conn_close(c);
        break;
    case CONN_HEAD:
        log_info("http", "header timeout, closing connection");
        conn_error_response(c, 408, "Request header timeout");
        break;
    case CONN_BODY:
        log_info("http", "request body stalled, closing connection");
        if (c->req && !c->req->resp_started && !c->req->on_body)
            conn_error_response(c, 408, "Request body timeout");
        else
            conn_close(c);
        break;
    case CONN_HANDLING:
        break;
    }
}

static void conn_arm_timer(http_conn *c, uint64_t ms)
{
    if (c->closing)
        return;
    if (ms == 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_conn_timer, ms, 0);
}

/* ---- parser callbacks ---------------------------------------------------- */

static int header_budget(http_conn *c, size_t len)
{
    c->header_bytes += len;
    if (c->header_bytes > c->server->limits.max_header_bytes) {
        c->header_overflow = true;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    http_conn *c = p->data;
    c->req = request_new(c);
    if (!c->req)
        return -1;
    c->state = CONN_HEAD;
    c->header_bytes = 0;
    c->in_value = false;
    conn_arm_timer(c, c->server->limits.header_timeout_ms);
    return 0;
}

static int append_str(char **dst, const char *at, size_t len)
{
    size_t old = *dst ? strlen(*dst) : 0;
    char *p = realloc(*dst, old + len + 1);
    if (!p)
        return -1;
    memcpy(p + old, at, len);
    p[old + len] = '\0';
    *dst = p;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (header_budget(c, len) < 0)
        return -1;
    return append_str(&c->req->url, at, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    http_request *req = c->req;
    if (header_budget(c, len) < 0)
        return -1;
    if (req->nheaders == 0 || c->in_value) {
        if (req->nheaders >= c->server->limits.max_headers) {
            c->header_overflow = true;
            return -1;
        }
        http_header *h = realloc(req->headers, (req->nheaders + 1) * sizeof *h);
        if (!h)
            return -1;
        req->headers = h;
        h[req->nheaders].name = NULL;
        h[req->nheaders].value = NULL;
        req->nheaders++;
        c->in_value = false;
    }
    return append_str(&req->headers[req->nheaders - 1].name, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    http_request *req = c->req;
    if (header_budget(c, len) < 0)
        return -1;
    c->in_value = true;
    return append_str(&req->headers[req->nheaders - 1].value, at, len);
}

static int split_target(http_request *req)
{
    if (!req->url || req->url[0] != '/')
        return -1; /* absolute-form and authority-form are not served */
    char *q = strchr(req->url, '?');
    char *hash = strchr(req->url, '#');
    size_t plen = q ? (size_t)(q - req->url) : hash ? (size_t)(hash - req->url) : strlen(req->url);
    req->path = strndup(req->url, plen);
    if (!req->path)
        return -1;
    if (q) {
        size_t qlen = hash && hash > q ? (size_t)(hash - q - 1) : strlen(q + 1);
        req->query = strndup(q + 1, qlen);
        if (!req->query)
            return -1;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    http_conn *c = p->data;
    http_request *req = c->req;
    for (size_t i = 0; i < req->nheaders; i++)
        if (!req->headers[i].value && !(req->headers[i].value = strdup("")))
            return -1;
    req->method = p->method;
    req->http_major = p->http_major;
    req->http_minor = p->http_minor;
    req->keep_alive = http_should_keep_alive(p);
    if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX)
        req->content_length = (int64_t)p->content_length;
    c->state = CONN_BODY;
    conn_arm_timer(c, c->server->limits.idle_timeout_ms);
    if (split_target(req) < 0) {
        conn_error_response(c, 400, "Bad request target");
        return 0;
    }
    if (p->upgrade && p->method != HTTP_CONNECT) {
        /* Upgrades (WebSocket) belong to the proxy; until a route takes them, refuse. */
        req->keep_alive = false;
    }
    c->server->on_head(req);
    if (c->closing || req->resp_started)
        return 0;
    if (!req->on_body && req->content_length > 0 &&
        (uint64_t)req->content_length > req->body_limit) {
        conn_error_response(c, 413, "Request body too large");
        return 0;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    http_request *req = c->req;
    if (req->resp_started && !req->on_body)
        return 0; /* answered early (an error); the body is dropped */
    if (req->on_body)
        return req->on_body(req, at, len) < 0 ? -1 : 0;
    if (req->body.len + len > req->body_limit) {
        conn_error_response(c, 413, "Request body too large");
        return 0;
    }
    if (buf_append(&req->body, at, len) < 0)
        return -1;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    http_conn *c = p->data;
    http_request *req = c->req;
    /* Pause so that a pipelined request waits until this one is answered. */
    http_parser_pause(p, 1);
    req->message_complete = true;
    c->state = CONN_HANDLING;
    uv_timer_stop(&c->timer);
    if (req->resp_started)
        return 0; /* answered early: the connection closes after that reply */
    if (req->on_body) {
        if (req->on_body_end)
            req->on_body_end(req);
    } else if (req->on_complete) {
        req->on_complete(req);
    } else {
        conn_error_response(c, 500, "No handler");
    }
    return 0;
}

/* ---- connections -------------------------------------------------------- */

static void conn_parse_error(http_conn *c, enum http_errno err)
{
    if (c->header_overflow || err == HPE_HEADER_OVERFLOW) {
        conn_error_response(c, 431, "Request header fields too large");
        return;
    }
    if (c->req && c->req->resp_started) {
        conn_close(c);
        return;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "Malformed HTTP request: %s", http_errno_description(err));
    conn_error_response(c, 400, msg);
}

static void conn_parse(http_conn *c)
{
    if (c->in_parse) {
        c->reparse = true;
        return;
    }
    c->in_parse = 1;
    for (;;) {
        c->reparse = false;
        if (c->closing || c->paused)
            break;
        if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
            if (c->req)
                break; /* still answering the previous request */
            http_parser_pause(&c->parser, 0);
        }
        if (c->in.len == 0)
            break;
        size_t n = http_parser_execute(&c->parser, &parser_settings, c->in.data, c->in.len);
        enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
        if (c->closing)
            break;
        buf_consume(&c->in, n);
        if (err != HPE_OK && err != HPE_PAUSED) {
            conn_parse_error(c, err);
            break;
        }
        if (err == HPE_OK && !c->reparse)
            break;
    }
    c->in_parse = 0;
    if (!c->closing && c->in.len > READ_PAUSE_BYTES && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    http_conn *c = h->data;
    if (buf_reserve(&c->in, 64 * 1024) < 0) {
        *out = uv_buf_init(NULL, 0);
        return;
    }
    *out = uv_buf_init(c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len - 1));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    http_conn *c = stream->data;
    if (nread < 0) {
        /* EOF or error: a request still being answered is abandoned. */
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->in.len += (size_t)nread;
    c->in.data[c->in.len] = '\0';
    /* In CONN_HEAD the header timer keeps running: it bounds the whole head. */
    if (c->state == CONN_BODY || c->state == CONN_IDLE)
        conn_arm_timer(c, c->server->limits.idle_timeout_ms);
    conn_parse(c);
}

static void conn_start_reading(http_conn *c)
{
    if (c->reading || c->closing || c->paused)
        return;
    if (c->in.len > READ_PAUSE_BYTES)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

static void on_handle_closed(uv_handle_t *h)
{
    http_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    http_server *s = c->server;
    buf_free(&c->in);
    free(c);
    s->nconns--;
    server_maybe_done(s);
}

static void conn_close(http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    http_request *req = c->req;
    c->req = NULL;
    if (req) {
        if (!req->resp_ended) {
            if (!req->status)
                req->status = 499; /* client went away, as nginx logs it */
            request_log(req);
            if (req->on_abort)
                req->on_abort(req);
        }
        request_free(req);
    }
    http_server *s = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    /* nconns drops when the handles are closed: shutdown completes only then. */
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_connection(uv_stream_t *listener, int status)
{
    http_server *s = listener->data;
    if (status < 0) {
        log_error("http", "accept: %s", uv_strerror(status));
        return;
    }
    http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        log_error("http", "out of memory accepting a connection");
        return;
    }
    c->server = s;
    buf_init(&c->in);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->state = CONN_IDLE;
    conn_arm_timer(c, s->limits.idle_timeout_ms);
    conn_start_reading(c);
}

/* ---- server ------------------------------------------------------------- */

http_server *http_server_new(uv_loop_t *loop, const http_limits *limits, http_head_cb on_head,
                             void *user_data)
{
    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->limits = *limits;
    s->on_head = on_head;
    s->user_data = user_data;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    uv_timer_init(loop, &s->grace_timer);
    s->grace_timer.data = s;

    parser_settings.on_message_begin = on_message_begin;
    parser_settings.on_url = on_url;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_message_complete = on_message_complete;
    return s;
}

void *http_server_data(http_server *server)
{
    return server->user_data;
}

int http_server_listen(http_server *s, const char *listen_addr)
{
    char host[256];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || (size_t)(colon - listen_addr) >= sizeof host)
        return UV_EINVAL;
    long long port;
    if (util_parse_int(colon + 1, 0, 65535, &port) < 0)
        return UV_EINVAL;
    size_t hlen = (size_t)(colon - listen_addr);
    memcpy(host, listen_addr, hlen);
    host[hlen] = '\0';
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr);
    if (rc < 0)
        rc = uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr);
    if (rc < 0)
        return rc;
    if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0)) < 0)
        return rc;
    if ((rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection)) < 0)
        return rc;
    s->listening = true;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

int http_server_port(http_server *s)
{
    return s->port;
}

size_t http_server_connections(http_server *s)
{
    return s->nconns;
}

static void server_maybe_done(http_server *s)
{
    if (!s->draining || s->nconns > 0 || !s->shutdown_done)
        return;
    uv_timer_stop(&s->grace_timer);
    void (*done)(http_server *) = s->shutdown_done;
    s->shutdown_done = NULL;
    done(s);
}

static void on_grace_expired(uv_timer_t *t)
{
    http_server *s = t->data;
    log_warn("http", "shutdown grace period over, closing %zu connections", s->nconns);
    while (s->conns)
        conn_close(s->conns);
}

static void on_listener_closed(uv_handle_t *h)
{
    (void)h;
}

void http_server_shutdown(http_server *s, void (*done)(http_server *))
{
    if (s->draining)
        return;
    s->draining = true;
    s->shutdown_done = done;
    if (s->listening) {
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        s->listening = false;
    }
    /* Idle connections go now; busy ones close when their response ends. */
    http_conn *c = s->conns;
    while (c) {
        http_conn *next = c->next;
        if (c->state == CONN_IDLE && c->in.len == 0 && !c->req)
            conn_close(c);
        else
            c->close_after = true;
        c = next;
    }
    uv_timer_start(&s->grace_timer, on_grace_expired, s->limits.shutdown_grace_ms, 0);
    server_maybe_done(s);
}

static void on_server_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Closes the server's handles; the struct is freed by the loop once they are. */
void http_server_free(http_server *s)
{
    if (!s)
        return;
    if (s->listening)
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    s->listening = false;
    uv_close((uv_handle_t *)&s->grace_timer, on_server_closed);
}
