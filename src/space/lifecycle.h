/* lifecycle: one state machine per space owns its stage.
 *
 * Desired state is stored before it is acted on (spaces.desired in the store)
 * and reconciled at every event and at start-up, so a restarted daemon brings
 * every space back to what was asked. A new commit on main builds and starts
 * the new version beside the old one and switches traffic only when it is
 * healthy; a failed build or start leaves the old version serving.
 *
 * Stages are HF's SpaceStage values plus SLEEPING. Nothing else writes them. */
#ifndef HANGAR_LIFECYCLE_H
#define HANGAR_LIFECYCLE_H

#include <jansson.h>
#include <stdbool.h>

#include "app/app.h"
#include "runtime/runtime.h"
#include "space/space.h"

/* Loads every space and starts what should run. Once, after the store opens. */
int lifecycle_init(app *a);
/* Stops every instance (graceful) and calls done when all have exited. */
void lifecycle_shutdown(app *a, void (*done)(app *a));

/* main of sp moved to sha (by git push or the commit API, named by via).
 * Stores the new head and a "commit" event, then builds and deploys it. */
int lifecycle_on_commit(app *a, space *sp, const char *sha, const char *via);
/* The space was deleted (stop and forget it), or its row changed (renamed,
 * settings): the lifecycle keeps a copy. */
void lifecycle_on_delete(app *a, int64_t space_id);
void lifecycle_on_update(app *a, const space *sp);

/* Secrets or variables changed: restart with the new environment (the new
 * instance starts beside the running one, so there is no downtime). */
void lifecycle_on_env_change(app *a, const space *sp);

/* Restarts sp (the desired state is running again); factory drops its cached
 * environment first so it is rebuilt from scratch. */
void lifecycle_restart(app *a, const space *sp, bool factory);
/* Stops sp and keeps it stopped (stage PAUSED) until restarted. */
void lifecycle_pause(app *a, const space *sp);
/* The hardware of sp changed: restart it with the new limits. */
void lifecycle_on_hardware_change(app *a, const space *sp);
/* The storage tier of sp changed: restart it; its /data grows first (the app
 * stops for that: a file system grows unmounted). */
void lifecycle_on_storage_change(app *a, const space *sp);
/* The storage of sp was deleted (HF's DELETE .../storage): its /data is
 * emptied, stopping and restarting it when it runs. */
void lifecycle_storage_delete(app *a, const space *sp);

/* Frees what lifecycle_init made, after lifecycle_shutdown completed. */
void lifecycle_free(app *a);

/* The build (build=true) or run log of sp: the file to replay (NULL when there
 * is none yet) and, while it is being written, the live stream. */
struct logs_stream;
int lifecycle_logs(app *a, const space *sp, bool build, const char **path,
                   struct logs_stream **live);

/* The SpaceRuntime JSON of sp. */
json_t *lifecycle_runtime_json(app *a, const space *sp);
/* The current stage name of a space ("NO_APP_FILE", "RUNNING", ...). */
const char *lifecycle_stage(app *a, const space *sp);

/* ---- for the proxy ---- */

typedef struct lifecycle_target {
    runtime_instance *inst; /* connect with runtime_connect(inst, port, ...) */
    int port;               /* app_port */
    uint64_t generation;    /* changes when traffic switches to a new instance */
} lifecycle_target;

typedef struct lifecycle_wait lifecycle_wait;

/* Called once when a waiter's space is ready (error NULL, target set) or cannot
 * be served (error set, status the HTTP status to answer: 503, 502, 404...). */
typedef void (*lifecycle_ready_cb)(void *arg, const lifecycle_target *target, int status,
                                   const char *error);

typedef enum {
    LIFECYCLE_READY = 0,       /* target filled: forward now */
    LIFECYCLE_WAITING = 1,     /* starting or waking: cb will be called; *wait can cancel */
    LIFECYCLE_UNAVAILABLE = -1 /* status and msg say why (paused, build error, queue full) */
} lifecycle_acquire_result;

/* Asks for a running instance of sp for one request; wakes a sleeping space.
 * Records activity for the sleep timer. */
int lifecycle_acquire(app *a, const space *sp, lifecycle_ready_cb cb, void *arg,
                      lifecycle_wait **wait, lifecycle_target *target, int *status, char *msg,
                      size_t msgsize);
/* Cancels a pending wait (the client went away); cb is not called. */
void lifecycle_wait_cancel(lifecycle_wait *wait);
/* Marks activity on a space (a proxied request or WebSocket frame). */
void lifecycle_touch(app *a, int64_t space_id);

#endif
