#include "proxy/forward.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proxy/proxy.h"
#include "ui/session.h"

#define BODY_HIGH_WATER (256 * 1024) /* request body in flight above which the client waits */
#define ACTIVITY_EVERY_MS 5000       /* how often on_activity may be called */
#define RESPONSE_HEAD_MAX (64 * 1024)

/* Where a response header's name and value start in rh_text. */
typedef struct rh_offsets {
    size_t name, value;
} rh_offsets;

struct forward_exchange {
    http_request *req; /* NULL once the client is gone or the request was handed on */
    upstream_pool *pool;
    upstream_conn *up;
    upstream_target target;
    forward_options opt;
    http_header *extra; /* copies of opt.headers */
    size_t nextra;
    uint64_t start_ns;
    uint64_t last_activity_ms;
    /* Our callbacks on the stack; the exchange is freed when the last returns. */
    int depth;
    bool doomed;

    /* request side */
    buf pending; /* body received before the upstream could take it */
    bool chunked_in;
    bool has_body;
    bool body_done; /* the client's body is complete */
    bool up_ready;  /* an upstream connection is open for us */
    bool head_sent; /* the request head is queued upstream */
    bool sent;      /* ...and the whole body */
    bool client_paused;
    bool websocket;
    bool expect_continue;
    bool started;
    bool reused;
    bool retried;

    /* response side */
    http_parser parser;
    buf rh_text;    /* the response's header names and values, each NUL-ended */
    rh_offsets *rh; /* where each name and value starts in rh_text */
    size_t nrh, rh_cap;
    bool rh_in_value;
    int status;
    bool got_bytes;  /* the upstream said anything at all */
    bool head_done;  /* the response head went to the client */
    bool upgrading;  /* a 101 to a WebSocket request went to the client */
    bool complete;   /* the response message ended */
    bool keep_alive; /* ...and the upstream connection may serve another */
    bool upstream_paused;
    struct send_kick *kick;
};

/* Sends a waiting request head on the next loop turn (see maybe_send_request). */
typedef struct send_kick {
    uv_idle_t idle;
    struct forward_exchange *ex; /* NULL once the exchange is gone */
} send_kick;

typedef struct tunnel {
    http_conn *client;
    upstream_conn *up;
    metrics_space *metrics;
    forward_options opt;
    uint64_t last_activity_ms;
    int depth;
    bool doomed;
    bool client_paused;
    bool up_paused;
} tunnel;

static _Thread_local forward_stats stats;
static http_parser_settings response_settings;
static const upstream_handler exchange_handler;
static const upstream_handler tunnel_up_handler;
static const http_raw_callbacks tunnel_client_callbacks;

static void exchange_free(forward_exchange *ex);
static void connect_upstream(forward_exchange *ex, bool fresh);
static void upstream_failed(forward_exchange *ex, int err);

void forward_stats_get(forward_stats *out)
{
    *out = stats;
}

/* ---- headers -------------------------------------------------------------- */

/* Whether the comma-separated list holds token (case-insensitive). */
static bool list_has_token(const char *list, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        if ((size_t)(last - p) == tlen && util_strneq_nocase(p, tlen, token))
            return true;
        p = end;
    }
    return false;
}

/* RFC 9110 7.6.1 hop-by-hop headers, those the Connection header names, and
 * Proxy-* (Proxy-Authorization is ours, "Proxy" is httpoxy). */
static bool is_hop_by_hop(const char *name, const char *connection)
{
    static const char *const names[] = {"Connection",        "Keep-Alive", "TE",   "Trailer",
                                        "Transfer-Encoding", "Upgrade",    "Proxy"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (util_streq_nocase(name, names[i]))
            return true;
    if (strncasecmp(name, "Proxy-", 6) == 0)
        return true;
    return connection && list_has_token(connection, name);
}

static bool skip_request_header(const char *name, const char *connection)
{
    /* Replaced by ours; X-HF-Authorization is stripped as HF's proxy does
     * (gradio_client sends its token there for the proxy, not for the app). */
    static const char *const replaced[] = {
        "Content-Length",     "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
        "X-HF-Authorization", "Expect",          HTTP_HOP_HEADER};
    for (size_t i = 0; i < sizeof replaced / sizeof replaced[0]; i++)
        if (util_streq_nocase(name, replaced[i]))
            return true;
    return is_hop_by_hop(name, connection);
}

static bool skip_response_header(const char *name, const char *connection, bool upgrading)
{
    static const char *const replaced[] = {"Content-Length", "Date", "Server"};
    for (size_t i = 0; i < sizeof replaced / sizeof replaced[0]; i++)
        if (util_streq_nocase(name, replaced[i]))
            return true;
    if (upgrading && util_streq_nocase(name, "Upgrade"))
        return false;
    return is_hop_by_hop(name, connection);
}

static bool is_websocket_request(const http_request *req)
{
    const char *upgrade = http_header_get(req, "Upgrade");
    const char *connection = http_header_get(req, "Connection");
    return req->method == HTTP_GET && upgrade && connection &&
           list_has_token(upgrade, "websocket") && list_has_token(connection, "upgrade");
}

static void headers_free(http_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

static const char *rh_name(const forward_exchange *ex, size_t i)
{
    return ex->rh_text.data + ex->rh[i].name;
}

static const char *rh_value(const forward_exchange *ex, size_t i)
{
    return ex->rh_text.data + ex->rh[i].value;
}

static const char *rh_find(const forward_exchange *ex, const char *name)
{
    for (size_t i = 0; i < ex->nrh; i++)
        if (util_streq_nocase(rh_name(ex, i), name))
            return rh_value(ex, i);
    return NULL;
}

static void put_header(buf *out, const char *name, const char *value)
{
    buf_puts(out, name);
    buf_append(out, ": ", 2);
    buf_puts(out, value);
    buf_append(out, "\r\n", 2);
}

/* The request as the app sees it (appends only: this runs for every request). */
/* The browser sends Hangar's own cookies (the web UI's session) to the spaces'
 * subdomains when they are set for the domain: an app never sees them. */
static void put_app_cookies(buf *out, const char *value)
{
    buf kept;
    buf_init(&kept);
    if (session_strip_cookies(value, &kept) == 0 && kept.len)
        put_header(out, "Cookie", kept.data);
    buf_free(&kept);
}

/* The framing headers of the request as forwarded (its body is re-framed),
 * and the end of the head. */
static void put_framing(forward_exchange *ex, buf *out)
{
    http_request *req = ex->req;
    if (ex->websocket) {
        buf_puts(out, "Connection: upgrade\r\n");
        put_header(out, "Upgrade", http_header_get(req, "Upgrade"));
    }
    if (ex->chunked_in)
        buf_puts(out, "Transfer-Encoding: chunked\r\n");
    else if (req->content_length >= 0) {
        buf_puts(out, "Content-Length: ");
        buf_put_u64(out, (uint64_t)req->content_length);
        buf_puts(out, "\r\n");
    }
    buf_puts(out, "\r\n");
}

/* To the main loop: the end-to-end headers as sent, and who sent them. */
static void build_hop_head(forward_exchange *ex, buf *out)
{
    http_request *req = ex->req;
    const char *connection = http_header_get(req, "Connection");
    for (size_t i = 0; i < req->nheaders; i++) {
        const http_header *h = &req->headers[i];
        if (!is_hop_by_hop(h->name, connection) && !util_streq_nocase(h->name, "Content-Length") &&
            !util_streq_nocase(h->name, "Expect") && !util_streq_nocase(h->name, HTTP_HOP_HEADER))
            put_header(out, h->name, h->value);
    }
    put_header(out, HTTP_HOP_HEADER, ex->opt.hop);
    put_framing(ex, out);
}

static void build_request_head(forward_exchange *ex, buf *out)
{
    http_request *req = ex->req;
    const char *connection = http_header_get(req, "Connection");
    const char *host = NULL;
    buf_puts(out, http_method_name(req));
    buf_append(out, " ", 1);
    buf_puts(out, req->url);
    buf_puts(out, " HTTP/1.1\r\n");
    if (ex->opt.hop) {
        build_hop_head(ex, out);
        return;
    }
    buf_puts(out, "X-Forwarded-For: ");
    for (size_t i = 0; i < req->nheaders; i++) {
        const http_header *h = &req->headers[i];
        if (util_streq_nocase(h->name, "X-Forwarded-For")) {
            buf_puts(out, h->value);
            buf_append(out, ", ", 2);
        }
    }
    buf_puts(out, req->remote[0] ? req->remote : "unknown");
    buf_puts(out, "\r\nX-Forwarded-Proto: http\r\n");
    for (size_t i = 0; i < req->nheaders; i++) {
        const http_header *h = &req->headers[i];
        if (!host && util_streq_nocase(h->name, "Host"))
            host = h->value;
        if (util_streq_nocase(h->name, "Cookie"))
            put_app_cookies(out, h->value);
        else if (!skip_request_header(h->name, connection))
            put_header(out, h->name, h->value);
    }
    if (host)
        put_header(out, "X-Forwarded-Host", host);
    put_framing(ex, out);
}

/* ---- lifetime --------------------------------------------------------------- */

static void enter(forward_exchange *ex)
{
    ex->depth++;
}

static void leave(forward_exchange *ex)
{
    if (--ex->depth == 0 && ex->doomed)
        exchange_free(ex);
}

static void exchange_free(forward_exchange *ex)
{
    if (ex->kick)
        ex->kick->ex = NULL;
    if (ex->up)
        upstream_close(ex->up);
    if (ex->opt.release)
        ex->opt.release(ex->opt.owner);
    headers_free(ex->extra, ex->nextra);
    free(ex->rh);
    buf_free(&ex->rh_text);
    buf_free(&ex->pending);
    free(ex);
}

/* Lets go of the request: from here the caller answers it (or already did). */
static http_request *exchange_end(forward_exchange *ex)
{
    http_request *req = ex->req;
    if (req) {
        req->ctx = NULL;
        req->on_body = NULL;
        req->on_body_end = NULL;
        req->on_abort = NULL;
        req->on_drain = NULL;
    }
    ex->req = NULL;
    ex->doomed = true;
    return req;
}

static double seconds_since(uint64_t start_ns)
{
    return (double)(uv_hrtime() - start_ns) / 1e9;
}

static void note_activity(forward_options *opt, uint64_t *last)
{
    if (!opt->on_activity)
        return;
    uint64_t now = util_mono_ms();
    if (now - *last < ACTIVITY_EVERY_MS)
        return;
    *last = now;
    opt->on_activity(opt->owner);
}

/* ---- ending an exchange ------------------------------------------------------ */

static void drop_upstream(forward_exchange *ex)
{
    if (ex->up) {
        upstream_close(ex->up);
        ex->up = NULL;
    }
}

/* Nothing reached the client yet: answer with a page of ours. */
static void fail_before_head(forward_exchange *ex, int status, metrics_upstream_kind kind,
                             const char *detail)
{
    metrics_upstream_error(ex->opt.metrics, kind);
    drop_upstream(ex);
    http_request *req = exchange_end(ex);
    if (!req)
        return;
    log_warn("proxy", "%s %s: %s", http_method_name(req), req->url, detail);
    metrics_request(ex->opt.metrics, status, seconds_since(ex->start_ns));
    if (status == 504)
        proxy_page(req, 504, "Gateway Timeout", "The app did not answer in time.", NULL);
    else
        proxy_page(req, 502, "Bad Gateway", "The app could not be reached.", NULL);
}

/* The response is under way: cut the client connection so it sees the
 * truncation instead of a complete-looking response. */
static void cut(forward_exchange *ex, metrics_upstream_kind kind, const char *detail)
{
    metrics_upstream_error(ex->opt.metrics, kind);
    drop_upstream(ex);
    http_request *req = exchange_end(ex);
    if (!req)
        return;
    log_warn("proxy", "%s %s: response cut: %s", http_method_name(req), req->url, detail);
    metrics_request(ex->opt.metrics, ex->status, seconds_since(ex->start_ns));
    http_request_abort(req);
}

/* The response ended; clean_tail: nothing followed it on the connection. */
static void finish(forward_exchange *ex, bool clean_tail)
{
    upstream_conn *up = ex->up;
    ex->up = NULL;
    if (ex->sent && ex->keep_alive && clean_tail && !ex->websocket)
        upstream_release(up);
    else
        upstream_close(up);
    metrics_request(ex->opt.metrics, ex->status, seconds_since(ex->start_ns));
    http_request *req = exchange_end(ex);
    if (req)
        http_resp_end(req);
}

/* ---- request body --------------------------------------------------------- */

static size_t body_in_flight(const forward_exchange *ex)
{
    return ex->pending.len + (ex->up ? upstream_write_queue(ex->up) : 0);
}

static void pressure_check(forward_exchange *ex)
{
    if (!ex->req || ex->body_done)
        return;
    size_t inflight = body_in_flight(ex);
    if (!ex->client_paused && inflight >= BODY_HIGH_WATER) {
        ex->client_paused = true;
        http_request_pause(ex->req);
    } else if (ex->client_paused && inflight < BODY_HIGH_WATER / 2) {
        ex->client_paused = false;
        http_request_resume(ex->req); /* may call on_client_body right away */
    }
}

static void send_body(forward_exchange *ex, const char *data, size_t len)
{
    int rc;
    if (ex->chunked_in) {
        char size_line[24];
        int n = snprintf(size_line, sizeof size_line, "%zx\r\n", len);
        uv_buf_t bufs[3] = {uv_buf_init(size_line, (unsigned)n), uv_buf_init((char *)data, len),
                            uv_buf_init("\r\n", 2)};
        rc = upstream_write(ex->up, bufs, 3);
    } else {
        uv_buf_t b = uv_buf_init((char *)data, len);
        rc = upstream_write(ex->up, &b, 1);
    }
    if (rc < 0)
        upstream_failed(ex, UV_EPIPE);
}

static void send_body_end(forward_exchange *ex)
{
    if (ex->chunked_in) {
        uv_buf_t b = uv_buf_init("0\r\n\r\n", 5);
        if (upstream_write(ex->up, &b, 1) < 0) {
            upstream_failed(ex, UV_EPIPE);
            return;
        }
    }
    ex->sent = true;
    upstream_timeout(ex->up, ex->opt.head_timeout_ms); /* now the app has to answer */
}

static void send_request(forward_exchange *ex);

static void on_kick_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_kick(uv_idle_t *h)
{
    send_kick *k = h->data;
    forward_exchange *ex = k->ex;
    uv_idle_stop(h);
    uv_close((uv_handle_t *)h, on_kick_closed);
    if (!ex)
        return;
    ex->kick = NULL;
    enter(ex);
    if (!ex->doomed && ex->up_ready && !ex->head_sent)
        send_request(ex);
    leave(ex);
}

/* The head goes on the next loop turn, when the read that carried it has
 * been parsed, even if no body byte came: the next hop may answer at once
 * (a 413, a 401) without reading the body. */
static void kick_later(forward_exchange *ex)
{
    send_kick *k = malloc(sizeof *k);
    if (!k)
        return; /* the first body byte sends it */
    uv_idle_init(upstream_pool_loop(ex->pool), &k->idle);
    k->idle.data = k;
    k->ex = ex;
    ex->kick = k;
    uv_idle_start(&k->idle, on_kick);
}

/* Sends the head once a connection is open and the client's data so far has
 * been parsed: a request whose body turns out malformed in the same read
 * (a smuggling attempt) never reaches the app. */
static void maybe_send_request(forward_exchange *ex)
{
    if (!ex->up_ready || ex->head_sent)
        return;
    if (ex->body_done || ex->pending.len > 0)
        send_request(ex);
    else if (!ex->kick)
        kick_later(ex);
}

static int on_client_body(http_request *req, const char *data, size_t len)
{
    forward_exchange *ex = req->ctx;
    enter(ex);
    if (ex->head_sent) {
        send_body(ex, data, len);
    } else if (buf_append(&ex->pending, data, len) < 0) {
        log_error("proxy", "out of memory holding a request body");
        drop_upstream(ex);
        proxy_page(exchange_end(ex), 503, "Service Unavailable", "Out of memory.", NULL);
    } else {
        if (ex->pending.len > stats.peak_pending)
            stats.peak_pending = ex->pending.len;
        maybe_send_request(ex);
    }
    if (!ex->doomed)
        pressure_check(ex);
    leave(ex);
    return 0;
}

static void on_client_body_end(http_request *req)
{
    forward_exchange *ex = req->ctx;
    enter(ex);
    ex->body_done = true;
    if (ex->client_paused) {
        /* Paused while the parser still had the end of the body: the
         * connection must read again for its next request. */
        ex->client_paused = false;
        http_request_resume(req);
    }
    if (ex->head_sent && !ex->doomed)
        send_body_end(ex);
    else if (!ex->doomed)
        maybe_send_request(ex);
    leave(ex);
}

static void on_client_abort(http_request *req)
{
    forward_exchange *ex = req->ctx;
    enter(ex);
    ex->req = NULL;
    if (!ex->started && ex->opt.on_abort)
        ex->opt.on_abort(ex->opt.abort_arg);
    if (ex->started)
        metrics_request(ex->opt.metrics, 499, seconds_since(ex->start_ns));
    drop_upstream(ex);
    ex->doomed = true;
    leave(ex);
}

static void on_client_drain(http_request *req)
{
    forward_exchange *ex = req->ctx;
    enter(ex);
    if (ex->upstream_paused && ex->up) {
        ex->upstream_paused = false;
        upstream_read_start(ex->up);
    }
    leave(ex);
}

/* ---- talking to the upstream ------------------------------------------------- */

static void send_request(forward_exchange *ex)
{
    buf head;
    buf_init(&head);
    build_request_head(ex, &head);
    uv_buf_t b = uv_buf_init(head.data, (unsigned)head.len);
    int rc = head.data ? upstream_write(ex->up, &b, 1) : -1;
    buf_free(&head);
    if (rc < 0) {
        upstream_failed(ex, UV_EPIPE);
        return;
    }
    ex->head_sent = true;
    http_parser_init(&ex->parser, HTTP_RESPONSE);
    ex->parser.data = ex;
    upstream_read_start(ex->up);
    if (ex->pending.len > 0) {
        send_body(ex, ex->pending.data, ex->pending.len);
        buf_free(&ex->pending);
        if (ex->doomed)
            return;
    }
    if (ex->body_done)
        send_body_end(ex);
    if (!ex->doomed)
        pressure_check(ex);
}

static void connect_upstream(forward_exchange *ex, bool fresh)
{
    bool reused;
    int err;
    ex->up = upstream_acquire(ex->pool, &ex->target, fresh, &exchange_handler, ex, &reused, &err);
    if (!ex->up) {
        fail_before_head(ex, 502, METRICS_UPSTREAM_CONNECT, uv_strerror(err));
        return;
    }
    ex->reused = reused;
    upstream_timeout(ex->up, ex->opt.head_timeout_ms); /* connecting counts too */
    if (reused) {
        ex->up_ready = true;
        maybe_send_request(ex);
    }
}

/* The connection broke (err) or closed before the response ended. */
static void upstream_failed(forward_exchange *ex, int err)
{
    if (ex->head_done) {
        cut(ex, METRICS_UPSTREAM_RESET, uv_strerror(err));
        return;
    }
    /* A pooled connection the app closed just as we sent: nothing was done,
     * so a request without a body can safely go again on a new one. */
    if (ex->reused && !ex->retried && !ex->has_body && !ex->got_bytes && ex->req) {
        drop_upstream(ex);
        ex->retried = true;
        if (ex->opt.retarget && ex->opt.retarget(ex->opt.owner, &ex->target) < 0) {
            fail_before_head(ex, 502, METRICS_UPSTREAM_RESET, "the app went away");
            return;
        }
        ex->up_ready = false;
        ex->head_sent = false;
        ex->sent = false;
        stats.retries++;
        connect_upstream(ex, true);
        return;
    }
    fail_before_head(ex, 502, METRICS_UPSTREAM_RESET, "the app closed the connection");
}

static void on_upstream_connect(upstream_conn *uc, int status, void *arg)
{
    forward_exchange *ex = arg;
    enter(ex);
    if (status < 0) {
        fail_before_head(ex, 502, METRICS_UPSTREAM_CONNECT, uv_strerror(status));
    } else {
        ex->up_ready = true;
        send_request(ex); /* the parser is done with what had arrived */
    }
    leave(ex);
}

static void on_upstream_timeout(upstream_conn *uc, void *arg)
{
    forward_exchange *ex = arg;
    enter(ex);
    if (ex->head_done)
        cut(ex, METRICS_UPSTREAM_TIMEOUT, "the app went silent");
    else
        fail_before_head(ex, 504, METRICS_UPSTREAM_TIMEOUT, "no response from the app in time");
    leave(ex);
}

static void on_upstream_drain(upstream_conn *uc, void *arg)
{
    forward_exchange *ex = arg;
    enter(ex);
    pressure_check(ex);
    leave(ex);
}

static void start_tunnel(forward_exchange *ex, const char *rest, size_t len);

static void parse_response(forward_exchange *ex, const char *data, size_t len)
{
    ex->got_bytes = true;
    note_activity(&ex->opt, &ex->last_activity_ms);
    size_t n = http_parser_execute(&ex->parser, &response_settings, data, len);
    if (ex->doomed)
        return;
    enum http_errno err = HTTP_PARSER_ERRNO(&ex->parser);
    if (ex->upgrading) {
        start_tunnel(ex, data + n, len - n);
    } else if (err == HPE_PAUSED && ex->complete) {
        finish(ex, n == len);
    } else if (err != HPE_OK) {
        char detail[160];
        snprintf(detail, sizeof detail, "bad response from the app: %s",
                 http_errno_description(err));
        if (ex->head_done)
            cut(ex, METRICS_UPSTREAM_PROTOCOL, detail);
        else
            fail_before_head(ex, 502, METRICS_UPSTREAM_PROTOCOL, detail);
    }
}

static void on_upstream_read(upstream_conn *uc, const char *data, ssize_t nread, void *arg)
{
    forward_exchange *ex = arg;
    enter(ex);
    if (nread > 0) {
        parse_response(ex, data, (size_t)nread);
    } else if (ex->head_done) {
        /* EOF ends a response that has neither length nor chunks. */
        http_parser_execute(&ex->parser, &response_settings, NULL, 0);
        if (!ex->doomed && ex->complete) {
            ex->keep_alive = false;
            finish(ex, false);
        } else if (!ex->doomed) {
            upstream_failed(ex, (int)nread);
        }
    } else {
        upstream_failed(ex, (int)nread);
    }
    leave(ex);
}

static const upstream_handler exchange_handler = {
    .on_connect = on_upstream_connect,
    .on_read = on_upstream_read,
    .on_drain = on_upstream_drain,
    .on_timeout = on_upstream_timeout,
};

/* ---- response parsing ---------------------------------------------------------- */

static bool is_interim(int status)
{
    return status >= 100 && status < 200 && status != 101;
}

static int on_resp_begin(http_parser *p)
{
    forward_exchange *ex = p->data;
    buf_reset(&ex->rh_text);
    ex->nrh = 0;
    ex->rh_in_value = false;
    return 0;
}

/* Ends the piece being collected (a name or a value) with its NUL. */
static int rh_end_piece(forward_exchange *ex)
{
    return buf_append(&ex->rh_text, "", 1);
}

static int on_resp_header_field(http_parser *p, const char *at, size_t len)
{
    forward_exchange *ex = p->data;
    if (ex->nrh == 0 || ex->rh_in_value) {
        if (ex->nrh > 0 && rh_end_piece(ex) < 0)
            return -1;
        if (ex->nrh == ex->rh_cap) {
            size_t cap = ex->rh_cap ? 2 * ex->rh_cap : 16;
            rh_offsets *rh = realloc(ex->rh, cap * sizeof *rh);
            if (!rh)
                return -1;
            ex->rh = rh;
            ex->rh_cap = cap;
        }
        ex->rh[ex->nrh++].name = ex->rh_text.len;
        ex->rh_in_value = false;
    }
    if (ex->rh_text.len + len > RESPONSE_HEAD_MAX)
        return -1;
    return buf_append(&ex->rh_text, at, len);
}

/* http_parser gives every header a value callback, an empty one included. */
static int on_resp_header_value(http_parser *p, const char *at, size_t len)
{
    forward_exchange *ex = p->data;
    if (!ex->rh_in_value) {
        if (rh_end_piece(ex) < 0)
            return -1;
        ex->rh[ex->nrh - 1].value = ex->rh_text.len;
        ex->rh_in_value = true;
    }
    if (ex->rh_text.len + len > RESPONSE_HEAD_MAX)
        return -1;
    return buf_append(&ex->rh_text, at, len);
}

/* Sends the response head to the client: the app's headers we may pass on,
 * then the exchange's own. */
static void send_response_head(forward_exchange *ex, http_parser *p)
{
    http_request *req = ex->req;
    const char *connection = rh_find(ex, "Connection");
    for (size_t i = 0; i < ex->nrh; i++) {
        const char *name = rh_name(ex, i);
        /* the main loop answered with our request id: ours says it already */
        bool ours = ex->opt.hop && util_streq_nocase(name, "X-Request-Id");
        if (!ours && !skip_response_header(name, connection, ex->upgrading))
            http_resp_header(req, name, rh_value(ex, i));
    }
    if (ex->upgrading)
        http_resp_header(req, "Connection", "upgrade");
    for (size_t i = 0; i < ex->nextra; i++)
        http_resp_header(req, ex->extra[i].name, ex->extra[i].value);
    int64_t length = -1;
    if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX)
        length = (int64_t)p->content_length;
    http_resp_begin(req, ex->status, length);
}

static int on_resp_headers_complete(http_parser *p)
{
    forward_exchange *ex = p->data;
    ex->status = p->status_code;
    if (ex->nrh > 0 && (!ex->rh_in_value || rh_end_piece(ex) < 0))
        return -1; /* a header without a value: http_parser never does that */
    if (is_interim(ex->status))
        return 0; /* 100 Continue and friends: the client got ours */
    if (ex->status == 101) {
        if (!ex->websocket || !p->upgrade)
            return -1; /* switching protocols nobody asked for */
        ex->upgrading = true;
    }
    send_response_head(ex, p);
    if (ex->doomed) {
        http_parser_pause(p, 1);
        return 0;
    }
    ex->head_done = true;
    if (!ex->upgrading)
        upstream_timeout(ex->up, ex->opt.idle_timeout_ms);
    /* A response to HEAD has no body whatever its headers say. */
    return ex->req->method == HTTP_HEAD ? 1 : 0;
}

static int on_resp_body(http_parser *p, const char *at, size_t len)
{
    forward_exchange *ex = p->data;
    int rc = http_resp_write(ex->req, at, len);
    if (ex->doomed || rc < 0) {
        http_parser_pause(p, 1);
        return 0;
    }
    if (rc == 1 && !ex->upstream_paused) {
        /* The client reads slower than the app writes: stop reading the app
         * until the client's queue drains (on_client_drain). */
        ex->upstream_paused = true;
        upstream_read_stop(ex->up);
    }
    return 0;
}

static int on_resp_complete(http_parser *p)
{
    forward_exchange *ex = p->data;
    if (is_interim(ex->status))
        return 0;
    if (!ex->upgrading) {
        ex->complete = true;
        ex->keep_alive = http_should_keep_alive(p);
    }
    http_parser_pause(p, 1); /* handled once execute returns, outside the parser */
    return 0;
}

static http_parser_settings response_settings = {
    .on_message_begin = on_resp_begin,
    .on_header_field = on_resp_header_field,
    .on_header_value = on_resp_header_value,
    .on_headers_complete = on_resp_headers_complete,
    .on_body = on_resp_body,
    .on_message_complete = on_resp_complete,
};

/* ---- WebSocket tunnel ---------------------------------------------------------- */

static void tunnel_enter(tunnel *t)
{
    t->depth++;
}

static void tunnel_leave(tunnel *t)
{
    if (--t->depth > 0 || !t->doomed)
        return;
    metrics_websocket(t->metrics, -1);
    if (t->opt.release)
        t->opt.release(t->opt.owner);
    free(t);
}

/* Ends the tunnel; graceful: queued bytes are flushed on both sides first. */
static void tunnel_close(tunnel *t)
{
    if (t->client)
        http_conn_close(t->client);
    if (t->up)
        upstream_finish(t->up);
    t->client = NULL;
    t->up = NULL;
    t->doomed = true;
}

static void tunnel_client_read(void *arg, const char *data, size_t len)
{
    tunnel *t = arg;
    tunnel_enter(t);
    uv_buf_t b = uv_buf_init((char *)data, len);
    int rc = t->up ? upstream_write(t->up, &b, 1) : -1;
    if (rc < 0) {
        tunnel_close(t);
    } else if (rc == 1 && !t->client_paused) {
        t->client_paused = true;
        http_conn_pause(t->client);
    }
    note_activity(&t->opt, &t->last_activity_ms);
    tunnel_leave(t);
}

static void tunnel_client_drain(void *arg)
{
    tunnel *t = arg;
    tunnel_enter(t);
    if (t->up_paused && t->up) {
        t->up_paused = false;
        upstream_read_start(t->up);
    }
    tunnel_leave(t);
}

static void tunnel_client_close(void *arg)
{
    tunnel *t = arg;
    tunnel_enter(t);
    t->client = NULL; /* gone: nothing to flush there */
    tunnel_close(t);
    tunnel_leave(t);
}

static const http_raw_callbacks tunnel_client_callbacks = {
    .on_read = tunnel_client_read,
    .on_drain = tunnel_client_drain,
    .on_close = tunnel_client_close,
};

static void tunnel_up_read(upstream_conn *uc, const char *data, ssize_t nread, void *arg)
{
    tunnel *t = arg;
    tunnel_enter(t);
    if (nread < 0) {
        upstream_close(t->up);
        t->up = NULL;
        tunnel_close(t);
    } else {
        int rc = t->client ? http_conn_write(t->client, data, (size_t)nread) : -1;
        if (rc < 0) {
            tunnel_close(t);
        } else if (rc == 1 && !t->up_paused && t->up) {
            t->up_paused = true;
            upstream_read_stop(t->up);
        }
    }
    tunnel_leave(t);
}

static void tunnel_up_drain(upstream_conn *uc, void *arg)
{
    tunnel *t = arg;
    tunnel_enter(t);
    if (t->client_paused && t->client) {
        t->client_paused = false;
        http_conn_resume(t->client);
    }
    tunnel_leave(t);
}

static void tunnel_up_timeout(upstream_conn *uc, void *arg)
{
    tunnel *t = arg;
    tunnel_enter(t);
    tunnel_close(t);
    tunnel_leave(t);
}

static const upstream_handler tunnel_up_handler = {
    .on_read = tunnel_up_read,
    .on_drain = tunnel_up_drain,
    .on_timeout = tunnel_up_timeout,
};

/* The app answered 101: from here bytes flow unparsed both ways; rest is
 * what the app sent after its response head. */
static void start_tunnel(forward_exchange *ex, const char *rest, size_t len)
{
    metrics_request(ex->opt.metrics, 101, seconds_since(ex->start_ns));
    tunnel *t = calloc(1, sizeof *t);
    http_request *req = exchange_end(ex);
    if (!t) {
        log_error("proxy", "out of memory opening a WebSocket tunnel");
        http_request_abort(req);
        return;
    }
    t->up = ex->up;
    ex->up = NULL;
    t->metrics = ex->opt.metrics;
    t->opt = ex->opt;
    ex->opt.release = NULL; /* the owner's context goes on with the tunnel */
    t->last_activity_ms = ex->last_activity_ms;
    t->client = http_request_take_over(req, &tunnel_client_callbacks, t);
    metrics_websocket(t->metrics, +1);
    stats.tunnels++;
    tunnel_enter(t);
    if (!t->client) {
        http_request_abort(req);
        tunnel_close(t);
    } else {
        upstream_set_handler(t->up, &tunnel_up_handler, t);
        upstream_timeout(t->up, ex->opt.idle_timeout_ms);
        if (len > 0 && http_conn_write(t->client, rest, len) < 0)
            tunnel_close(t);
        else
            http_conn_resume(t->client);
    }
    tunnel_leave(t);
}

/* ---- the exchange's interface ------------------------------------------------------ */

static int copy_headers(forward_exchange *ex, const http_header *h, size_t n)
{
    if (n == 0)
        return 0;
    ex->extra = calloc(n, sizeof *ex->extra);
    if (!ex->extra)
        return -1;
    for (size_t i = 0; i < n; i++, ex->nextra++) {
        ex->extra[i].name = strdup(h[i].name);
        ex->extra[i].value = strdup(h[i].value);
        if (!ex->extra[i].name || !ex->extra[i].value) {
            ex->nextra++;
            return -1;
        }
    }
    return 0;
}

forward_exchange *forward_new(http_request *req, upstream_pool *pool, const forward_options *opt)
{
    forward_exchange *ex = calloc(1, sizeof *ex);
    if (!ex)
        return NULL;
    ex->opt = *opt;
    ex->opt.headers = NULL;
    if (copy_headers(ex, opt->headers, opt->nheaders) < 0) {
        ex->opt.release = NULL; /* the owner's context stays the caller's */
        exchange_free(ex);
        return NULL;
    }
    ex->req = req;
    ex->pool = pool;
    ex->start_ns = uv_hrtime();
    buf_init(&ex->pending);
    buf_init(&ex->rh_text);
    ex->chunked_in = http_header_get(req, "Transfer-Encoding") != NULL;
    ex->has_body = ex->chunked_in || req->content_length > 0;
    ex->websocket = is_websocket_request(req);
    const char *expect = http_header_get(req, "Expect");
    ex->expect_continue = expect && util_streq_nocase(expect, "100-continue");
    req->ctx = ex;
    req->on_body = on_client_body;
    req->on_body_end = on_client_body_end;
    req->on_abort = on_client_abort;
    req->on_drain = on_client_drain;
    return ex;
}

void forward_start(forward_exchange *ex, const upstream_target *t)
{
    enter(ex);
    ex->started = true;
    ex->target = *t;
    stats.exchanges++;
    if (ex->expect_continue && !ex->body_done)
        http_resp_continue(ex->req);
    connect_upstream(ex, false);
    leave(ex);
}

http_request *forward_detach(forward_exchange *ex)
{
    enter(ex);
    drop_upstream(ex);
    http_request *req = exchange_end(ex);
    leave(ex);
    return req;
}
