/* lifecycle: reacts to what happens to a space. It owns the space's stage
 * (the build-and-run issue fills in builds and runs); for now it records
 * new commits on main as events that the build pipeline consumes. */
#ifndef HANGAR_LIFECYCLE_H
#define HANGAR_LIFECYCLE_H

#include <jansson.h>

#include "app/app.h"
#include "space/space.h"

/* main of sp moved to sha (by git push or the commit API, named by via).
 * Stores the new head and a "commit" event; 0 or -1. */
int lifecycle_on_commit(app *a, space *sp, const char *sha, const char *via);
/* The SpaceRuntime JSON of sp. */
json_t *lifecycle_runtime_json(app *a, const space *sp);

#endif
