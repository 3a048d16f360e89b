#include "space/events.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

typedef struct subscriber {
    http_request *req;
    int64_t space_id;
    struct subscriber *next;
} subscriber;

static subscriber *subscribers;

static void send_event(http_request *req, const char *kind, const char *data, int64_t ms)
{
    char ts[40];
    util_iso8601_ms(ms, ts, sizeof ts);
    json_t *payload = data ? json_loads(data, 0, NULL) : NULL;
    json_t *ev = json_pack("{s:s, s:o, s:s}", "type", kind, "data",
                           payload ? payload : json_object(), "timestamp", ts);
    char *text = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    if (!text)
        return;
    buf frame;
    buf_init(&frame);
    buf_printf(&frame, "data: %s\n\n", text);
    http_resp_write(req, frame.data, frame.len);
    buf_free(&frame);
    free(text);
}

int events_add(app *a, int64_t space_id, const char *kind, const char *data)
{
    int rc = store_event_add(a->store, space_id, kind, data);
    int64_t now = util_now_ms();
    for (subscriber *s = subscribers; s; s = s->next)
        if (s->space_id == space_id)
            send_event(s->req, kind, data, now);
    return rc;
}

static void replay_one(const char *kind, const char *data, int64_t created_ms, void *arg)
{
    send_event(arg, kind, data, created_ms);
}

static void on_abort(http_request *req)
{
    subscriber *sub = req->ctx;
    for (subscriber **p = &subscribers; *p; p = &(*p)->next) {
        if (*p == sub) {
            *p = sub->next;
            break;
        }
    }
    free(sub);
}

void events_serve(http_request *req, int64_t space_id)
{
    http_resp_header(req, "Content-Type", "text/event-stream");
    http_resp_header(req, "Cache-Control", "no-cache");
    http_resp_begin(req, 200, -1);
    if (store_event_list(app_of(req)->store, space_id, replay_one, req) < 0)
        log_error("events", "cannot replay the events of space %lld", (long long)space_id);
    subscriber *sub = calloc(1, sizeof *sub);
    if (!sub) {
        http_resp_end(req);
        return;
    }
    sub->req = req;
    sub->space_id = space_id;
    sub->next = subscribers;
    subscribers = sub;
    req->ctx = sub;
    req->on_abort = on_abort;
}

void events_close_space(int64_t space_id)
{
    subscriber **p = &subscribers;
    while (*p) {
        subscriber *s = *p;
        if (s->space_id != space_id) {
            p = &s->next;
            continue;
        }
        *p = s->next;
        s->req->on_abort = NULL;
        s->req->ctx = NULL;
        http_resp_end(s->req);
        free(s);
    }
}
