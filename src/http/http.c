#include "http/http.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define READ_PAUSE_BYTES (256 * 1024) /* stop reading when this much is unparsed */
#define WRITE_HIGH_WATER (256 * 1024) /* http_resp_write asks callers to wait above */

/* CONN_RAW: a handler took the connection over after a 101 (no more HTTP).
 * CONN_LINGER: answered before the whole body came; what still comes is read
 * and dropped until the client closes or LINGER_MS pass (conn_linger). */
typedef enum { CONN_IDLE, CONN_HEAD, CONN_BODY, CONN_HANDLING, CONN_RAW, CONN_LINGER } conn_state;
#define LINGER_MS 2000

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    http_server *server;
    http_parser parser;
    buf in;
    http_request *req;
    conn_state state;
    size_t header_bytes;
    bool in_value;          /* the parser last gave us a header value */
    bool value_at_end;      /* ...and that piece ended where the parsed data did */
    const char *head_error; /* why the head was refused (a smuggling shape) */
    int chunk_crlf_left;    /* bytes of a chunk's closing CRLF still to check */
    struct {                /* the CRLF check of the head (head_scan) */
        bool done;          /* the blank line after the headers was seen */
        bool line_empty;    /* nothing but CR since the last LF */
        bool seen_line;     /* the request line has begun */
        char prev;          /* the byte before, across reads */
    } scan;
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
    /* A response head waits here for the body's first bytes, so both leave in
     * one write (one packet); the server's check handle flushes what is still
     * held when the loop is about to wait. */
    buf held;
    http_conn *held_prev, *held_next;
    bool held_listed;
    char remote[64];        /* the peer's address, read once per connection */
    http_raw_callbacks raw; /* CONN_RAW: where the client's bytes go */
    void *raw_arg;
    http_conn *prev, *next;
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t grace_timer;
    uv_check_t flusher; /* flushes held response heads at the end of each loop turn */
    http_conn *held;    /* connections holding a response head */
    int open_handles;   /* grace_timer and flusher: freed when both are closed */
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
    char hop_secret[HTTP_HOP_SECRET_LEN + 1]; /* "": requests come from clients */
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
static void head_scan_reset(http_conn *c);
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

/* The connection's bits then the counter in hex, at least 8 digits each, by
 * hand: this runs for every request. The counter keeps its low 44 bits so
 * the id fits (19 characters). */
static void request_id_make(char out[20], uint32_t conn, uint64_t counter)
{
    static const char hex[] = "0123456789abcdef";
    char tail[11];
    size_t n = 0;
    for (int i = 7; i >= 0; i--)
        *out++ = hex[(conn >> (i * 4)) & 15];
    counter &= (UINT64_C(1) << 44) - 1;
    do {
        tail[sizeof tail - ++n] = hex[counter & 15];
        counter >>= 4;
    } while (counter || n < 8);
    memcpy(out, tail + sizeof tail - n, n);
    out[n] = '\0';
}

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
    memcpy(req->remote, c->remote, sizeof req->remote);
    request_id_make(req->request_id, (uint32_t)((uintptr_t)c >> 4), ++c->server->request_counter);
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

/* Appends s as a JSON string. Quotes, backslashes and control bytes are
 * escaped, and so are bytes above 0x7e (as \u00XX): any input is valid JSON. */
static void json_put_string(buf *out, const char *s)
{
    buf_append(out, "\"", 1);
    const char *run = s;
    for (const char *p = s;; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            continue;
        buf_append(out, run, (size_t)(p - run));
        if (ch == 0)
            break;
        char esc[8];
        int n = ch == '"' || ch == '\\' ? snprintf(esc, sizeof esc, "\\%c", ch)
                                        : snprintf(esc, sizeof esc, "\\u%04x", ch);
        buf_append(out, esc, (size_t)n);
        run = p + 1;
    }
    buf_append(out, "\"", 1);
}

/* "2026-01-02T03:04:05.678Z", the date part formatted once a second. */
static void access_time(char out[32])
{
    static _Thread_local time_t last = -1;
    static _Thread_local char prefix[24];
    int64_t ms = util_now_ms();
    time_t secs = (time_t)(ms / 1000);
    if (secs != last) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(prefix, sizeof prefix, "%Y-%m-%dT%H:%M:%S", &tm);
        last = secs;
    }
    int frac = (int)(ms % 1000);
    size_t len = strlen(prefix);
    memcpy(out, prefix, len);
    out[len] = '.';
    out[len + 1] = (char)('0' + frac / 100);
    out[len + 2] = (char)('0' + frac / 10 % 10);
    out[len + 3] = (char)('0' + frac % 10);
    memcpy(out + len + 4, "Z", 2);
}

static void on_flush_check(uv_check_t *h);

/* One JSON object per request, written by hand: this runs for every request. */
static _Thread_local buf log_line; /* request_log's, kept between requests */

static void request_log(http_request *req)
{
    if (req->quiet)
        return;
    buf *line = &log_line;
    char ts[32];
    buf_reset(line);
    buf_puts(line, "{\"type\":\"access\",\"remote\":");
    json_put_string(line, req->remote);
    buf_puts(line, ",\"method\":");
    json_put_string(line, http_method_name(req));
    buf_puts(line, ",\"url\":");
    if (req->url)
        json_put_string(line, req->url);
    else
        buf_puts(line, "null");
    buf_puts(line, ",\"status\":");
    buf_put_u64(line, (uint64_t)(req->status < 0 ? 0 : req->status));
    buf_puts(line, ",\"bytes\":");
    buf_put_u64(line, req->resp_bytes);
    buf_puts(line, ",\"ms\":");
    buf_put_u64(line, util_mono_ms() - req->start_ms);
    buf_puts(line, ",\"request_id\":");
    json_put_string(line, req->request_id);
    buf_puts(line, ",\"user\":");
    if (req->user)
        json_put_string(line, req->user);
    else
        buf_puts(line, "null");
    access_time(ts);
    buf_puts(line, ",\"time\":\"");
    buf_puts(line, ts);
    buf_puts(line, "\"}");
    if (line->data) {
        log_access_line(line->data);
        uv_check_start(&req->server->flusher, on_flush_check); /* no-op when started */
    }
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
    if (!c->want_drain || c->write_queue >= WRITE_HIGH_WATER / 2 || c->closing)
        return;
    if (c->state == CONN_RAW) {
        c->want_drain = false;
        if (c->raw.on_drain)
            c->raw.on_drain(c->raw_arg);
    } else if (c->req) {
        c->want_drain = false;
        if (c->req->on_drain)
            c->req->on_drain(c->req);
    }
}

/* Queues bufs: what the socket takes at once leaves without a copy or a
 * callback; the rest is copied and written when the socket can take it. A
 * failure shows later, in on_write_done, as it always has: the request is
 * never freed under the caller's feet. */
static int conn_writev(http_conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    size_t total = 0, sent = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    if (c->write_queue == 0) {
        int n = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
        if (n > 0)
            sent = (size_t)n;
    }
    if (sent == total)
        return 0;
    size_t rest = total - sent;
    write_req *wr = malloc(sizeof *wr + rest);
    if (!wr) {
        log_error("http", "out of memory queuing %zu bytes", rest);
        conn_close(c);
        return -1;
    }
    size_t off = 0, skip = sent;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t drop = skip < bufs[i].len ? skip : bufs[i].len;
        skip -= drop;
        memcpy(wr->data + off, bufs[i].base + drop, bufs[i].len - drop);
        off += bufs[i].len - drop;
    }
    wr->conn = c;
    wr->len = rest;
    uv_buf_t ub = uv_buf_init(wr->data, (unsigned)rest);
    int rc = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &ub, 1, on_write_done);
    if (rc < 0) {
        free(wr);
        log_debug("http", "uv_write: %s", uv_strerror(rc));
        conn_close(c);
        return -1;
    }
    c->write_queue += rest;
    return 0;
}

static void held_unlist(http_conn *c)
{
    if (!c->held_listed)
        return;
    if (c->held_prev)
        c->held_prev->held_next = c->held_next;
    else
        c->server->held = c->held_next;
    if (c->held_next)
        c->held_next->held_prev = c->held_prev;
    c->held_prev = c->held_next = NULL;
    c->held_listed = false;
}

/* Writes up to three pieces (chunk header, data, trailer) as one write,
 * behind the response head still held, if any. */
static int conn_write3(http_conn *c, const void *a, size_t alen, const void *b, size_t blen,
                       const void *d, size_t dlen)
{
    if (c->closing) {
        buf_reset(&c->held);
        held_unlist(c); /* the flusher must never find it again */
        return -1;
    }
    uv_buf_t bufs[4];
    unsigned n = 0;
    if (c->held.len)
        bufs[n++] = uv_buf_init(c->held.data, (unsigned)c->held.len);
    if (alen)
        bufs[n++] = uv_buf_init((char *)a, (unsigned)alen);
    if (blen)
        bufs[n++] = uv_buf_init((char *)b, (unsigned)blen);
    if (dlen)
        bufs[n++] = uv_buf_init((char *)d, (unsigned)dlen);
    int rc = n ? conn_writev(c, bufs, n) : 0;
    buf_reset(&c->held);
    held_unlist(c);
    return rc;
}

static void conn_flush(http_conn *c)
{
    if (c->held.len)
        conn_write3(c, NULL, 0, NULL, 0, NULL, 0);
}

static void on_flush_check(uv_check_t *h)
{
    http_server *s = h->data;
    while (s->held)
        conn_flush(s->held); /* unlists it */
    log_flush();             /* the turn's access lines, in one write */
    uv_check_stop(h);
}

/* Keeps the head for the first body write; flushed this loop turn at the latest. */
static void conn_hold(http_conn *c, const buf *head)
{
    if (c->closing)
        return;
    if (buf_append(&c->held, head->data, head->len) < 0) {
        conn_write3(c, head->data, head->len, NULL, 0, NULL, 0);
        return;
    }
    if (c->held_listed)
        return;
    http_server *s = c->server;
    if (!s->held)
        uv_check_start(&s->flusher, on_flush_check);
    c->held_next = s->held;
    if (s->held)
        s->held->held_prev = c;
    s->held = c;
    c->held_listed = true;
}

/* The Date header's value, formatted once a second per thread. */
static const char *http_date(void)
{
    static _Thread_local time_t last;
    static _Thread_local char text[64];
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return text;
}

void http_resp_header(http_request *req, const char *name, const char *value)
{
    /* CR or LF in a value would let a caller inject headers: drop the header. */
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) {
        log_error("http", "refusing header %s with a line break", name);
        return;
    }
    buf *h = &req->resp_head;
    buf_puts(h, name);
    buf_append(h, ": ", 2);
    buf_puts(h, value);
    buf_append(h, "\r\n", 2);
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

    buf head;
    buf_init(&head);
    /* by hand, not printf: this runs for every response */
    buf_puts(&head, "HTTP/1.1 ");
    buf_put_u64(&head, (uint64_t)(status < 100 || status > 999 ? 500 : status));
    buf_append(&head, " ", 1);
    buf_puts(&head, http_status_text(status));
    buf_puts(&head, "\r\nServer: hangar\r\nDate: ");
    buf_puts(&head, http_date());
    buf_puts(&head, "\r\nX-Request-Id: ");
    buf_puts(&head, req->request_id);
    buf_puts(&head, "\r\n");
    if (status_has_body(status)) {
        if (content_length >= 0) {
            buf_puts(&head, "Content-Length: ");
            buf_put_u64(&head, (uint64_t)content_length);
            buf_puts(&head, "\r\n");
        } else if (req->http_major == 1 && req->http_minor >= 1) {
            buf_puts(&head, "Transfer-Encoding: chunked\r\n");
            req->resp_chunked = true;
        } else {
            c->close_after = true; /* body ends when the connection closes */
        }
    }
    /* A 101 switches protocols: its Connection and Upgrade headers are the
     * handler's, which then takes the connection over. */
    if (status != 101) {
        if (c->close_after)
            buf_puts(&head, "Connection: close\r\n");
        else if (req->http_minor == 0)
            buf_puts(&head, "Connection: keep-alive\r\n");
    }
    buf_append(&head, req->resp_head.data ? req->resp_head.data : "", req->resp_head.len);
    buf_puts(&head, "\r\n");
    if (head.data)
        conn_hold(c, &head);
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

static void on_conn_timer(uv_timer_t *t);

static void on_linger_shutdown(uv_shutdown_t *sr, int status)
{
    (void)status; /* the timer or the client's end closes it */
    free(sr);
}

/* The response is out but the client may still be sending a body nobody
 * reads. Closing now would make the kernel reset the connection (unread data
 * → RST), and the client could lose the response it is about to read: a 413
 * or 401 answered at head time, or the main loop's answer relayed by a worker
 * loop. So our side is shut down once the response is written, and the rest
 * is read and dropped until the client closes, for at most LINGER_MS (as
 * nginx's lingering_close). */
static void conn_linger(http_conn *c)
{
    if (c->closing)
        return;
    c->state = CONN_LINGER;
    c->paused = false;
    c->in.len = 0;
    uv_shutdown_t *sr = malloc(sizeof *sr);
    if (!sr || uv_shutdown(sr, (uv_stream_t *)&c->tcp, on_linger_shutdown) < 0) {
        free(sr);
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_conn_timer, LINGER_MS, 0);
    conn_start_reading(c);
}

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
    else
        conn_flush(c);
    request_log(req);
    if (c->closing)
        return;
    if (!req->message_complete) {
        conn_linger(c); /* the rest of the body would be misread as a request */
        return;
    }
    if (c->close_after) {
        conn_finish(c);
        return;
    }
    /* Ready for the next request on this connection. */
    c->req = NULL;
    request_free(req);
    c->state = CONN_IDLE;
    head_scan_reset(c);
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

void http_request_abort(http_request *req)
{
    http_conn *c = req->conn;
    req->on_abort = NULL; /* the handler asked: it is not called back */
    conn_close(c);
}

void http_resp_continue(http_request *req)
{
    if (req->resp_started || req->message_complete)
        return;
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    conn_write3(req->conn, line, sizeof line - 1, NULL, 0, NULL, 0);
}

/* ---- raw connections (after a 101) --------------------------------------- */

static void raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    http_conn *c = h->data;
    c->in.len = 0; /* every read is handed over at once: nothing accumulates */
    if (buf_reserve(&c->in, 64 * 1024) < 0) {
        *out = uv_buf_init(NULL, 0);
        return;
    }
    *out = uv_buf_init(c->in.data, (unsigned)(c->in.cap - 1));
}

static void raw_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    http_conn *c = stream->data;
    if (nread < 0) {
        conn_close(c); /* tells the handler through raw.on_close */
        return;
    }
    if (nread > 0 && c->raw.on_read)
        c->raw.on_read(c->raw_arg, b->base, (size_t)nread);
}

http_conn *http_request_take_over(http_request *req, const http_raw_callbacks *cb, void *arg)
{
    http_conn *c = req->conn;
    if (c->closing || !req->resp_started || req->status != 101)
        return NULL;
    conn_flush(c);
    req->resp_ended = true;
    request_log(req);
    c->req = NULL;
    request_free(req);
    c->state = CONN_RAW;
    c->raw = *cb;
    c->raw_arg = arg;
    c->paused = true; /* until the handler is ready: http_conn_resume */
    c->want_drain = false;
    uv_timer_stop(&c->timer); /* the protocol above keeps its own time */
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    return c;
}

int http_conn_write(http_conn *c, const void *data, size_t len)
{
    if (conn_write3(c, data, len, NULL, 0, NULL, 0) < 0)
        return -1;
    if (c->write_queue >= WRITE_HIGH_WATER) {
        c->want_drain = true;
        return 1;
    }
    return 0;
}

void http_conn_pause(http_conn *c)
{
    c->paused = true;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

void http_conn_resume(http_conn *c)
{
    if (c->closing || !c->paused)
        return;
    c->paused = false;
    /* Bytes the client sent right after the request head come first. */
    if (c->in.len > 0) {
        size_t len = c->in.len;
        c->in.len = 0;
        if (c->raw.on_read)
            c->raw.on_read(c->raw_arg, c->in.data, len);
        if (c->closing || c->paused)
            return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, raw_alloc, raw_read) == 0)
        c->reading = true;
}

void http_conn_close(http_conn *c)
{
    memset(&c->raw, 0, sizeof c->raw); /* the handler asked: no on_close */
    conn_finish(c);
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
    case CONN_LINGER:
        conn_close(c);
        break;
    case CONN_HANDLING:
    case CONN_RAW:
        break;
    }
}

/* How long the connection may stay silent now: idle between requests, or a
 * body stalling (the handler may have chosen its own). */
static uint64_t idle_timeout(const http_conn *c)
{
    if (c->state == CONN_BODY && c->req && c->req->stall_timeout_ms)
        return c->req->stall_timeout_ms;
    return c->server->limits.idle_timeout_ms;
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
    if (c->closing)
        return -1; /* a handler closed the connection from a callback */
    c->req = request_new(c);
    if (!c->req)
        return -1;
    c->state = CONN_HEAD;
    c->header_bytes = 0;
    c->in_value = false;
    c->value_at_end = false;
    c->head_error = NULL;
    c->chunk_crlf_left = 0;
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

/* RFC 9110 token characters: a header name with anything else (a space
 * before the colon, a NUL) could be read differently by the app behind us. */
static bool is_token(const char *s, size_t len)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool alnum = (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z');
        if (!alnum && !memchr(extra, ch, sizeof extra - 1))
            return false;
    }
    return true;
}

/* Field values may hold HTAB, visible ASCII and obs-text, never other controls. */
static bool is_field_value(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

static int refuse_head(http_conn *c, const char *why)
{
    c->head_error = why;
    return -1;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    http_request *req = c->req;
    if (header_budget(c, len) < 0)
        return -1;
    if (!is_token(at, len))
        return refuse_head(c, "Invalid character in a header name");
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
    /* A value arrives in several pieces only when the data we parse ends in it
     * (the next piece then starts the next buffer) or when the line is folded.
     * http_parser accepts obs-fold; RFC 9112 lets a server refuse it, and a
     * proxy must, or the app could see a header we did not. */
    if (c->in_value && !(c->value_at_end && at == c->in.data))
        return refuse_head(c, "Obsolete line folding in a header");
    if (!is_field_value(at, len))
        return refuse_head(c, "Invalid character in a header value");
    c->in_value = true;
    c->value_at_end = at + len == c->in.data + c->in.len;
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

/* Framing http_parser lets through but a server in front of an app must not:
 * several Transfer-Encoding headers, codings other than chunked (we would
 * hand the app a body it cannot frame), Transfer-Encoding in HTTP/1.0. It
 * already refuses Content-Length with Transfer-Encoding, several or invalid
 * Content-Length values, and invalid chunk sizes. */
static const char *framing_error(const http_request *req)
{
    const char *coding = NULL;
    int hosts = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        /* RFC 9112 3.2: one Host, or a 400; which of two would route us? */
        if (util_streq_nocase(req->headers[i].name, "Host") && ++hosts > 1)
            return "Several Host headers";
        if (!util_streq_nocase(req->headers[i].name, "Transfer-Encoding"))
            continue;
        if (coding)
            return "Several Transfer-Encoding headers";
        coding = req->headers[i].value;
    }
    if (hosts == 0 && req->http_major == 1 && req->http_minor >= 1)
        return "Missing Host header (HTTP/1.1 requires one)";
    if (!coding)
        return NULL;
    if (req->http_major == 1 && req->http_minor == 0)
        return "Transfer-Encoding in an HTTP/1.0 request";
    if (!util_streq_nocase(coding, "chunked"))
        return "Unsupported Transfer-Encoding (only chunked is accepted)";
    return NULL;
}

static void header_remove(http_request *req, size_t i)
{
    free(req->headers[i].name);
    free(req->headers[i].value);
    memmove(&req->headers[i], &req->headers[i + 1], (req->nheaders - i - 1) * sizeof *req->headers);
    req->nheaders--;
}

/* Compares in a time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < HTTP_HOP_SECRET_LEN; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* Takes the client's address and the request id from HTTP_HOP_HEADER (a
 * worker loop handed the request on) and removes it. -1 when it is missing,
 * repeated, malformed, or has another secret. */
static int hop_accept(const http_server *s, http_request *req)
{
    size_t at = req->nheaders;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!util_streq_nocase(req->headers[i].name, HTTP_HOP_HEADER))
            continue;
        if (at < req->nheaders)
            return -1;
        at = i;
    }
    if (at == req->nheaders)
        return -1;
    char secret[HTTP_HOP_SECRET_LEN + 1], remote[sizeof req->remote], id[sizeof req->request_id];
    if (sscanf(req->headers[at].value, "%32s %63s %19s", secret, remote, id) != 3 ||
        strlen(secret) != HTTP_HOP_SECRET_LEN || !same_secret(secret, s->hop_secret))
        return -1;
    memcpy(req->remote, remote, sizeof remote);
    memcpy(req->request_id, id, sizeof id);
    header_remove(req, at);
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
    const char *framing = framing_error(req);
    if (framing) {
        conn_error_response(c, 400, framing);
        return 0;
    }
    if (p->upgrade && p->method != HTTP_CONNECT) {
        /* Upgrades (WebSocket) belong to the proxy; until a route takes them, refuse. */
        req->keep_alive = false;
    }
    if (c->server->hop_secret[0] && hop_accept(c->server, req) < 0) {
        conn_error_response(c, 403, "Requests here come from Hangar's own loops");
        return 0;
    }
    c->server->on_head(req);
    if (c->closing || req->resp_started)
        return 0;
    if (req->stall_timeout_ms)
        conn_arm_timer(c, req->stall_timeout_ms);
    if (!req->on_body && req->content_length > 0 &&
        (uint64_t)req->content_length > req->body_limit) {
        conn_error_response(c, 413, "Request body too large");
        return 0;
    }
    return 0;
}

/* Checks the CRLF that must close a chunk's data (http_parser, built without
 * strict mode, skips any two bytes there). from..end is what has arrived of
 * it; the rest is checked when more data comes. */
static int check_chunk_crlf(http_conn *c, const char *from, const char *end)
{
    while (c->chunk_crlf_left > 0 && from < end) {
        char want = c->chunk_crlf_left == 2 ? '\r' : '\n';
        if (*from++ != want)
            return refuse_head(c, "Chunk data not followed by CRLF");
        c->chunk_crlf_left--;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    http_request *req = c->req;
    if (c->closing)
        return -1; /* a handler closed the connection from a callback */
    if ((p->flags & F_CHUNKED) && p->content_length == 0) {
        c->chunk_crlf_left = 2; /* this piece ends a chunk */
        if (check_chunk_crlf(c, at + len, c->in.data + c->in.len) < 0)
            return -1;
    }
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
    if (c->closing)
        return -1; /* a handler closed the connection from a callback */
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

/* Set once here, never written: servers on several threads share it. */
static http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

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
    if (c->head_error) {
        conn_error_response(c, 400, c->head_error);
        return;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "Malformed HTTP request: %s", http_errno_description(err));
    conn_error_response(c, 400, msg);
}

static void head_scan_reset(http_conn *c)
{
    c->scan.done = false;
    c->scan.line_empty = true;
    c->scan.seen_line = false;
    c->scan.prev = 0;
}

/* http_parser ends lines at a bare LF too, and folds a line that starts with
 * white space into the header before (obs-fold), even after an empty value.
 * A proxy in front of Hangar that does neither would read other headers (or
 * another request) than we do, and the app behind us others again. Scans the
 * bytes the parser is about to read until the blank line that ends the head
 * (the body may hold anything); NULL, or why the head is refused. */
static const char *head_scan(http_conn *c, const char *p, size_t len)
{
    for (size_t i = 0; i < len && !c->scan.done; i++) {
        char ch = p[i];
        if ((ch == ' ' || ch == '\t') && c->scan.line_empty && c->scan.seen_line)
            return "Obsolete line folding in a header";
        if (ch == '\n') {
            if (c->scan.prev != '\r')
                return "Bare LF in the request head (lines end with CRLF)";
            /* RFC 9112 lets empty lines come before the request line */
            if (c->scan.line_empty && c->scan.seen_line)
                c->scan.done = true;
            c->scan.line_empty = true;
        } else if (ch != '\r') {
            c->scan.line_empty = false;
            c->scan.seen_line = true;
        }
        c->scan.prev = ch;
    }
    return NULL;
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
        if (c->chunk_crlf_left > 0 && check_chunk_crlf(c, c->in.data, c->in.data + c->in.len) < 0) {
            conn_parse_error(c, HPE_INVALID_CHUNK_SIZE);
            break;
        }
        const char *refused = c->state == CONN_IDLE || c->state == CONN_HEAD
                                  ? head_scan(c, c->in.data, c->in.len)
                                  : NULL;
        if (refused) {
            c->head_error = refused;
            conn_parse_error(c, HPE_LF_EXPECTED);
            break;
        }
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
    if (c->state == CONN_LINGER)
        return; /* dropped: on_alloc gives the same buffer again (in.len stays 0) */
    c->in.len += (size_t)nread;
    c->in.data[c->in.len] = '\0';
    /* In CONN_HEAD the header timer keeps running: it bounds the whole head. */
    if (c->state == CONN_BODY || c->state == CONN_IDLE)
        conn_arm_timer(c, idle_timeout(c));
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
    buf_free(&c->held);
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
    if (c->state == CONN_RAW && c->raw.on_close)
        c->raw.on_close(c->raw_arg);
    held_unlist(c);
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

static void conn_read_remote(http_conn *c)
{
    struct sockaddr_storage addr;
    int len = sizeof addr;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&addr, &len) != 0)
        return;
    if (addr.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&addr, c->remote, sizeof c->remote);
    else
        uv_ip4_name((struct sockaddr_in *)&addr, c->remote, sizeof c->remote);
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
    conn_read_remote(c);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->state = CONN_IDLE;
    head_scan_reset(c);
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
    uv_check_init(loop, &s->flusher);
    s->flusher.data = s;
    s->open_handles = 2;
    return s;
}

void *http_server_data(http_server *server)
{
    return server->user_data;
}

static int parse_listen_addr(const char *listen_addr, struct sockaddr_storage *addr)
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
    int rc = uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr);
    if (rc < 0)
        rc = uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr);
    return rc;
}

/* A listening-to-be socket with SO_REUSEPORT, bound to addr, for libuv to adopt
 * (libuv 1.44 cannot set the option itself). */
static int bind_shared(const struct sockaddr_storage *addr, uv_os_sock_t *out)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    int on = 1;
    socklen_t len =
        addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0 ||
        bind(fd, (const struct sockaddr *)addr, len) < 0) {
        int err = uv_translate_sys_error(errno);
        close(fd);
        return err;
    }
    *out = fd;
    return 0;
}

static void server_listening(http_server *s)
{
    s->listening = true;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
}

static int server_listen(http_server *s, const char *listen_addr, bool shared)
{
    struct sockaddr_storage addr;
    int rc = parse_listen_addr(listen_addr, &addr);
    if (rc < 0)
        return rc;
    if (shared) {
        uv_os_sock_t fd = -1;
        if ((rc = bind_shared(&addr, &fd)) < 0)
            return rc;
        if ((rc = uv_tcp_open(&s->listener, fd)) < 0) {
            close(fd);
            return rc;
        }
    } else if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0)) < 0) {
        return rc;
    }
    if ((rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection)) < 0)
        return rc;
    server_listening(s);
    return 0;
}

int http_server_listen(http_server *s, const char *listen_addr)
{
    return server_listen(s, listen_addr, false);
}

int http_server_listen_shared(http_server *s, const char *listen_addr)
{
    return server_listen(s, listen_addr, true);
}

int http_server_listen_fd(http_server *s, uv_os_sock_t fd)
{
    int rc = uv_tcp_open(&s->listener, fd);
    if (rc < 0)
        return rc;
    if ((rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection)) < 0)
        return rc;
    server_listening(s);
    return 0;
}

uv_os_sock_t http_server_fd(http_server *s)
{
    uv_os_fd_t fd = -1;
    if (!s->listening || uv_fileno((const uv_handle_t *)&s->listener, &fd) != 0)
        return -1;
    return fd;
}

void http_server_trust_hop(http_server *s, const char *secret)
{
    snprintf(s->hop_secret, sizeof s->hop_secret, "%s", secret);
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
    http_server *s = h->data;
    if (--s->open_handles == 0)
        free(s);
}

/* Closes the server's handles; the struct is freed by the loop once they are. */
void http_server_free(http_server *s)
{
    if (!s)
        return;
    buf_free(&log_line); /* a worker's thread ends after this */
    if (s->listening)
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    s->listening = false;
    uv_close((uv_handle_t *)&s->flusher, on_server_closed);
    uv_close((uv_handle_t *)&s->grace_timer, on_server_closed);
}
