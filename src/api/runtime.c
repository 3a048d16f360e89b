/* Runtime endpoints: the SpaceRuntime, build and run logs, sleep time. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/ops.h"
#include "app/app.h"
#include "lib/util.h"
#include "space/events.h"
#include "space/lifecycle.h"
#include "space/logs.h"
#include "store/store.h"

static void api_space_runtime(http_request *req)
{
    auth_identity id;
    space sp;
    if (!api_space_load(req, req->params[0], req->params[1], API_READ, &id, &sp))
        return;
    api_json(req, 200, lifecycle_runtime_json(app_of(req), &sp));
}

/* GET /api/spaces/{id}/logs/{build|run}[?tail=N]: SSE in HF's shape, the whole
 * history replayed on every connection, then live lines while they come. */
static void api_space_logs(http_request *req)
{
    auth_identity id;
    space sp;
    if (!api_space_load(req, req->params[0], req->params[1], API_READ, &id, &sp))
        return;
    const char *kind = req->params[2];
    if (strcmp(kind, "build") != 0 && strcmp(kind, "run") != 0) {
        api_error(req, 404, NULL, "Unknown log '%s': build or run", kind);
        return;
    }
    long long tail = -1;
    char *tail_s = http_query_get(req, "tail");
    int bad = tail_s && util_parse_int(tail_s, 0, 1000000, &tail) < 0;
    free(tail_s);
    if (bad) {
        api_error(req, 400, NULL, "tail must be a non-negative integer");
        return;
    }
    const char *path;
    logs_stream *live;
    if (lifecycle_logs(app_of(req), &sp, strcmp(kind, "build") == 0, &path, &live) < 0) {
        api_error(req, 500, NULL, "Could not read the logs of %s", sp.full_id);
        return;
    }
    logs_serve(req, path, live, (long)tail);
}

static void api_space_sleeptime(http_request *req)
{
    app *a = app_of(req);
    auth_identity id;
    space sp;
    if (!api_space_load(req, req->params[0], req->params[1], API_WRITE, &id, &sp))
        return;
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    json_t *seconds = json_object_get(body, "seconds");
    ops_error err;
    if (!json_is_integer(seconds))
        api_error(req, 400, NULL, "\"seconds\" must be a positive integer, or -1 to never sleep");
    else if (!ops_space_set_sleep(a, &sp, json_integer_value(seconds), &err))
        api_ops_error(req, &err, NULL);
    else
        api_json(req, 200, lifecycle_runtime_json(a, &sp));
    json_decref(body);
}

static void api_space_events(http_request *req)
{
    auth_identity id;
    space sp;
    if (!api_space_load(req, req->params[0], req->params[1], API_READ, &id, &sp))
        return;
    events_serve(req, sp.id);
}

const route api_runtime_routes[] = {
    {HTTP_GET, "/api/spaces/:owner/:name/events", api_space_events, NULL, 0},
    {HTTP_GET, "/api/spaces/:owner/:name/runtime", api_space_runtime, NULL, 0},
    {HTTP_GET, "/api/spaces/:owner/:name/logs/:kind", api_space_logs, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/sleeptime", api_space_sleeptime, NULL, 0},
};
const size_t api_runtime_routes_count = sizeof api_runtime_routes / sizeof api_runtime_routes[0];
