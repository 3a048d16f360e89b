/* workers: one event loop per core for the daemon's public address.
 *
 * The main loop owns the store, the lifecycle, the API, git and the UI. With
 * workers, it no longer listens on the public address itself: N worker
 * threads, each with its own libuv loop, HTTP server and upstream pool,
 * accept from one shared listening socket. A worker serves a request on its
 * own when its Host names a space with a valid route (routes.h: public, its
 * app running); it hands every other request (the API, git, the UI, /metrics,
 * static and private spaces, waking a sleeping space) to the main loop,
 * streamed through the same forwarding engine over a loopback connection to
 * the main loop's internal listener. That listener accepts only requests
 * signed with a secret made at each start (HTTP_HOP_HEADER), which also
 * carries the client's address and the request id, so the main loop sees the
 * client as before and logs the request; the worker does not log it again.
 *
 * What workers learn flows through routes.h; what they report flows back as
 * messages: activity on a space (for the sleep timer) and their end. */
#ifndef HANGAR_WORKERS_H
#define HANGAR_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

#include "app/app.h"

/* Starts n worker loops on a->config.listen and the main loop's internal
 * listener (a->http, handed to on_head). Sets a->port. 0, or -1 with err. */
int workers_start(app *a, int n, http_head_cb on_head, char *err, size_t errsize);
/* Whether worker loops serve the public address. */
bool workers_enabled(void);
/* Stops accepting, lets each worker finish its requests (those handed to the
 * main loop included), joins the threads, then calls done on the main loop. */
void workers_stop(void (*done)(void));

#endif
