/* events: what happened to a space, kept with it and streamed live.
 *
 * Every stage change, build start and end, restart, wake, sleep, OOM and
 * config change is stored (the events table) and sent to the subscribers of
 * GET /api/spaces/{id}/events as Server-Sent Events:
 *   data: {"type": kind, "data": {...}, "timestamp": iso}
 * A connection first replays the space's history, then follows. */
#ifndef HANGAR_EVENTS_H
#define HANGAR_EVENTS_H

#include <stdint.h>

#include "app/app.h"
#include "http/http.h"

/* Records an event (data: a JSON object text, or NULL) and sends it live. */
int events_add(app *a, int64_t space_id, const char *kind, const char *data);
/* Answers req with the space's events as SSE, then follows them. */
void events_serve(http_request *req, int64_t space_id);
/* Ends the streams of a deleted space. */
void events_close_space(int64_t space_id);

#endif
