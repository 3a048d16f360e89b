#include "space/lifecycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "store/store.h"

int lifecycle_on_commit(app *a, space *sp, const char *sha, const char *via)
{
    if (strcmp(sp->sha, sha) == 0)
        return 0;
    json_t *data = json_pack("{s:s, s:s, s:s}", "sha", sha, "previous", sp->sha, "via", via);
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    int rc = -1;
    if (text && store_begin(a->store) == STORE_OK) {
        if (store_space_set_sha(a->store, sp->id, sha) == STORE_OK &&
            store_event_add(a->store, sp->id, "commit", text) == STORE_OK &&
            store_commit(a->store) == STORE_OK)
            rc = 0;
        else
            store_rollback(a->store);
    }
    free(text);
    if (rc < 0) {
        log_error("lifecycle", "could not record commit %s of %s", sha, sp->full_id);
        return -1;
    }
    log_info("lifecycle", "%s: main is now %.12s (via %s)", sp->full_id, sha, via);
    snprintf(sp->sha, sizeof sp->sha, "%s", sha);
    return 0;
}

json_t *lifecycle_runtime_json(app *a, const space *sp)
{
    (void)a;
    /* Until builds exist a space with code is STOPPED: never claim more than is true. */
    const char *stage = sp->sha[0] ? "STOPPED" : "NO_APP_FILE";
    if (strcmp(sp->sdk, "static") == 0 && sp->sha[0])
        stage = "RUNNING";
    return json_pack("{s:s, s:{s:n, s:n}, s:n, s:n, s:{s:i}, s:b, s:s}", "stage", stage, "hardware",
                     "current", "requested", "storage", "gcTimeout", "replicas", "requested", 1,
                     "devMode", 0, "sdk", sp->sdk);
}
