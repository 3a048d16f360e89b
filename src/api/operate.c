/* Operating a space: restart, pause, hardware. Each answers the SpaceRuntime. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/ops.h"
#include "app/app.h"
#include "lib/log.h"
#include "space/hardware.h"
#include "space/lifecycle.h"
#include "space/events.h"
#include "store/store.h"

static bool load_owned(http_request *req, space *sp)
{
    auth_identity id;
    return api_space_load(req, req->params[0], req->params[1], API_WRITE, &id, sp);
}

static void api_space_restart(http_request *req)
{
    app *a = app_of(req);
    space sp;
    if (!load_owned(req, &sp))
        return;
    char *factory_s = http_query_get(req, "factory");
    bool factory = factory_s && strcmp(factory_s, "false") != 0 && strcmp(factory_s, "0") != 0;
    free(factory_s);
    ops_error err;
    if (!ops_space_restart(a, &sp, factory, &err)) {
        api_ops_error(req, &err, NULL);
        return;
    }
    api_json(req, 200, lifecycle_runtime_json(a, &sp));
}

static void api_space_pause(http_request *req)
{
    app *a = app_of(req);
    space sp;
    if (!load_owned(req, &sp))
        return;
    ops_error err;
    if (!ops_space_pause(a, &sp, &err)) {
        api_ops_error(req, &err, NULL);
        return;
    }
    api_json(req, 200, lifecycle_runtime_json(a, &sp));
}

static void api_space_hardware(http_request *req)
{
    app *a = app_of(req);
    space sp;
    if (!load_owned(req, &sp))
        return;
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    const char *flavor = json_string_value(json_object_get(body, "flavor"));
    json_t *sleep = json_object_get(body, "sleepTimeSeconds");
    if (!flavor || !hardware_find(flavor)) {
        api_error(req, 400, NULL, "Unknown hardware flavor '%s': see GET /api/spaces/hardware",
                  flavor ? flavor : "");
        goto done;
    }
    if (sleep && !json_is_null(sleep) &&
        (!json_is_integer(sleep) ||
         (json_integer_value(sleep) <= 0 && json_integer_value(sleep) != -1))) {
        api_error(req, 400, NULL, "sleepTimeSeconds must be a positive integer or -1");
        goto done;
    }
    ops_error err;
    if ((json_is_integer(sleep) && !ops_space_set_sleep(a, &sp, json_integer_value(sleep), &err)) ||
        !ops_space_set_hardware(a, &sp, flavor, &err)) {
        api_ops_error(req, &err, NULL);
        goto done;
    }
    api_json(req, 200, lifecycle_runtime_json(a, &sp));
done:
    json_decref(body);
}

/* POST /api/spaces/{from}/duplicate {"repository": "owner/name", ...}: the whole
 * history, the variables (secrets only when given), hardware and visibility as
 * asked. The copy builds and runs like any new commit. */
static void api_space_duplicate(http_request *req)
{
    app *a = app_of(req);
    auth_identity id;
    space from, copy;
    if (!api_space_load(req, req->params[0], req->params[1], API_READ, &id, &from))
        return;
    if (!id.authenticated || !auth_can_write(&id)) {
        api_error(req, id.authenticated ? 403 : 401, NULL, "Duplicating needs a write token");
        return;
    }
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    const char *target = json_string_value(json_object_get(body, "repository"));
    char owner[SPACE_NAME_MAX + 1], name[SPACE_NAME_MAX + 1];
    ops_error err;
    bool is_private = from.is_private;
    const char *vis = json_string_value(json_object_get(body, "visibility"));
    json_t *priv = json_object_get(body, "private");
    if (!target || !space_id_split(target, owner, name)) {
        api_error(req, 400, NULL, "\"repository\" must be a valid owner/name id");
        goto done;
    }
    if (vis && strcmp(vis, "public") != 0 && strcmp(vis, "private") != 0 &&
        strcmp(vis, "protected") != 0) {
        api_error(req, 400, NULL, "Invalid visibility: public or private");
        goto done;
    }
    if (vis)
        is_private = strcmp(vis, "public") != 0;
    else if (json_is_boolean(priv))
        is_private = json_is_true(priv);
    /* Variables come along unless given; secrets stay with their owner unless given. */
    json_t *vars = json_object_get(body, "variables");
    if (!ops_space_duplicate(a, &id.user, &from, owner, name, is_private,
                             !vars || json_is_null(vars), &copy, &err)) {
        api_ops_error(req, &err, &copy);
        goto done;
    }
    if (!api_space_apply_options(req, &copy, body))
        goto done;
    lifecycle_restart(a, &copy, false);
    char url[1024];
    snprintf(url, sizeof url, "%s/spaces/%s", a->base_url, copy.full_id);
    log_info("api", "%s duplicated %s to %s", id.user.name, from.full_id, copy.full_id);
    api_json(req, 200, json_pack("{s:s, s:s}", "url", url, "id", copy.hex_id));
done:
    json_decref(body);
}

/* POST /api/spaces/{id}/storage {"tier": "small"}: huggingface_hub's
 * request_space_storage (0.x clients); answers the SpaceRuntime. */
static void api_space_storage(http_request *req)
{
    app *a = app_of(req);
    space sp;
    if (!load_owned(req, &sp))
        return;
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    ops_error err;
    if (!ops_space_set_storage(a, &sp, json_string_value(json_object_get(body, "tier")), &err))
        api_ops_error(req, &err, NULL);
    else
        api_json(req, 200, lifecycle_runtime_json(a, &sp));
    json_decref(body);
}

/* DELETE /api/spaces/{id}/storage: huggingface_hub's delete_space_storage
 * (0.x clients): /data is emptied; answers the SpaceRuntime. */
static void api_space_storage_delete(http_request *req)
{
    app *a = app_of(req);
    space sp;
    if (!load_owned(req, &sp))
        return;
    ops_error err;
    if (!ops_space_delete_storage(a, &sp, &err))
        api_ops_error(req, &err, NULL);
    else
        api_json(req, 200, lifecycle_runtime_json(a, &sp));
}

static void api_hardware_list(http_request *req)
{
    api_json(req, 200, hardware_list_json());
}

const route api_operate_routes[] = {
    {HTTP_GET, "/api/spaces/hardware", api_hardware_list, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/restart", api_space_restart, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/pause", api_space_pause, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/hardware", api_space_hardware, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/duplicate", api_space_duplicate, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/storage", api_space_storage, NULL, 0},
    {HTTP_DELETE, "/api/spaces/:owner/:name/storage", api_space_storage_delete, NULL, 0},
};
const size_t api_operate_routes_count = sizeof api_operate_routes / sizeof api_operate_routes[0];
