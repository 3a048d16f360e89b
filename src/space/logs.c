#include "space/logs.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

typedef struct subscriber {
    http_request *req;
    logs_stream *log;
    struct subscriber *next;
} subscriber;

struct logs_stream {
    char *path;
    int fd;
    size_t bytes;
    bool truncated_noted;
    subscriber *subs;
    char **masks;
    size_t nmasks;
};

logs_stream *logs_open(const char *path, bool fresh)
{
    logs_stream *log = calloc(1, sizeof *log);
    if (!log)
        return NULL;
    log->path = strdup(path);
    log->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (fresh ? O_TRUNC : 0), 0600);
    if (!log->path || log->fd < 0) {
        log_error("logs", "cannot open log %s: %s", path, strerror(errno));
        free(log->path);
        if (log->fd >= 0)
            close(log->fd);
        free(log);
        return NULL;
    }
    off_t end = lseek(log->fd, 0, SEEK_END);
    log->bytes = end > 0 ? (size_t)end : 0;
    return log;
}

const char *logs_path(const logs_stream *log)
{
    return log->path;
}

void logs_set_masks(logs_stream *log, const char *const *masks, size_t n)
{
    for (size_t i = 0; i < log->nmasks; i++)
        free(log->masks[i]);
    free(log->masks);
    log->masks = NULL;
    log->nmasks = 0;
    if (n == 0)
        return;
    log->masks = calloc(n, sizeof *log->masks);
    if (!log->masks)
        return;
    for (size_t i = 0; i < n; i++)
        if (masks[i] && *masks[i] && (log->masks[log->nmasks] = strdup(masks[i])))
            log->nmasks++;
}

/* Valid UTF-8 is kept; anything else becomes U+FFFD, so the JSON is valid. */
static void utf8_clean(const char *in, size_t len, buf *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= len && !(c < 0x20 && c != '\t');
        for (size_t k = 1; ok && k < n; k++)
            ok = (s[i + k] & 0xC0) == 0x80;
        if (ok && n == 2 && c < 0xC2)
            ok = false;
        if (ok) {
            buf_append(out, s + i, n);
            i += n;
        } else {
            if (c != '\r')
                buf_puts(out, "\xEF\xBF\xBD");
            i++;
        }
    }
}

/* Searching goes on after each "***": a mask that is itself made of '*'
 * would otherwise match its own replacement forever. */
static void apply_masks(logs_stream *log, buf *line)
{
    for (size_t m = 0; m < log->nmasks; m++) {
        size_t mlen = strlen(log->masks[m]), from = 0;
        char *hit;
        while (line->data && (hit = strstr(line->data + from, log->masks[m]))) {
            size_t at = (size_t)(hit - line->data);
            buf rebuilt;
            buf_init(&rebuilt);
            buf_append(&rebuilt, line->data, at);
            buf_puts(&rebuilt, "***");
            buf_puts(&rebuilt, line->data + at + mlen);
            buf_free(line);
            *line = rebuilt;
            from = at + 3;
        }
    }
}

static char *event_json(const char *text)
{
    char ts[40];
    util_iso8601_now(ts, sizeof ts);
    json_t *ev = json_pack("{s:s, s:s}", "data", text, "timestamp", ts);
    char *out = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    return out;
}

static void send_event(http_request *req, const char *json)
{
    buf frame;
    buf_init(&frame);
    buf_printf(&frame, "data: %s\n\n", json);
    http_resp_write(req, frame.data, frame.len);
    buf_free(&frame);
}

void logs_append(logs_stream *log, const char *line, size_t len)
{
    buf text;
    buf_init(&text);
    utf8_clean(line, len, &text);
    if (!text.data)
        buf_puts(&text, "");
    apply_masks(log, &text);
    char *json = event_json(text.data);
    buf_free(&text);
    if (!json)
        return;
    size_t jlen = strlen(json);
    if (log->bytes + jlen + 1 <= LOGS_MAX_FILE_BYTES) {
        buf rec;
        buf_init(&rec);
        buf_append(&rec, json, jlen);
        buf_puts(&rec, "\n");
        if (write(log->fd, rec.data, rec.len) < 0)
            log_error("logs", "cannot write to %s: %s", log->path, strerror(errno));
        else
            log->bytes += rec.len;
        buf_free(&rec);
    } else if (!log->truncated_noted) {
        log->truncated_noted = true;
        log_warn("logs", "%s is over %d bytes; later lines are not kept", log->path,
                 LOGS_MAX_FILE_BYTES);
    }
    for (subscriber *s = log->subs; s; s = s->next)
        send_event(s->req, json);
    free(json);
}

void logs_appendf(logs_stream *log, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    logs_append(log, line, strlen(line));
}

static void unsubscribe(logs_stream *log, subscriber *sub)
{
    for (subscriber **p = &log->subs; *p; p = &(*p)->next) {
        if (*p == sub) {
            *p = sub->next;
            return;
        }
    }
}

static void on_subscriber_abort(http_request *req)
{
    subscriber *sub = req->ctx;
    unsubscribe(sub->log, sub);
    free(sub);
}

void logs_close(logs_stream *log)
{
    if (!log)
        return;
    subscriber *s = log->subs;
    log->subs = NULL;
    while (s) {
        subscriber *next = s->next;
        s->req->on_abort = NULL;
        s->req->ctx = NULL;
        http_resp_end(s->req);
        free(s);
        s = next;
    }
    logs_set_masks(log, NULL, 0);
    close(log->fd);
    free(log->path);
    free(log);
}

static char *read_whole(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return NULL;
    buf data;
    buf_init(&data);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&data, chunk, n) < 0)
            break;
    fclose(f);
    *len = data.len;
    return buf_detach(&data);
}

/* Start offsets of the last n lines of text (all when n < 0). */
static const char *tail_start(const char *text, size_t len, long n)
{
    if (n < 0)
        return text;
    const char *p = text + len;
    long seen = 0;
    while (p > text) {
        if (p[-1] == '\n' && p != text + len && ++seen == n)
            return p;
        p--;
    }
    return n == 0 ? text + len : text;
}

char *logs_tail_text(const char *path, int n)
{
    size_t len;
    char *text = read_whole(path, &len);
    buf out;
    buf_init(&out);
    if (text) {
        const char *p = tail_start(text, len, n);
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t llen = nl ? (size_t)(nl - p) : strlen(p);
            json_t *ev = json_loadb(p, llen, 0, NULL);
            const char *line = json_string_value(json_object_get(ev, "data"));
            if (line)
                buf_printf(&out, "%s%s", out.len ? "\n" : "", line);
            json_decref(ev);
            p += llen + (nl ? 1 : 0);
        }
    }
    free(text);
    return buf_detach(&out);
}

void logs_serve(http_request *req, const char *path, logs_stream *live, long tail)
{
    http_resp_header(req, "Content-Type", "text/event-stream");
    http_resp_header(req, "Cache-Control", "no-cache");
    http_resp_header(req, "X-Accel-Buffering", "no");
    http_resp_begin(req, 200, -1);
    size_t len;
    char *text = read_whole(path, &len);
    if (text) {
        const char *p = tail_start(text, len, tail);
        buf frames;
        buf_init(&frames);
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t llen = nl ? (size_t)(nl - p) : strlen(p);
            if (llen)
                buf_printf(&frames, "data: %.*s\n\n", (int)llen, p);
            p += llen + (nl ? 1 : 0);
        }
        if (frames.len)
            http_resp_write(req, frames.data, frames.len);
        buf_free(&frames);
    }
    free(text);
    if (!live) {
        http_resp_end(req);
        return;
    }
    subscriber *sub = calloc(1, sizeof *sub);
    if (!sub) {
        http_resp_end(req);
        return;
    }
    sub->req = req;
    sub->log = live;
    sub->next = live->subs;
    live->subs = sub;
    req->ctx = sub;
    req->on_abort = on_subscriber_abort;
}
