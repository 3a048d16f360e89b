/* Operating a space: restart, pause, hardware. Each answers the SpaceRuntime. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app/app.h"
#include "lib/log.h"
#include "space/hardware.h"
#include "space/lifecycle.h"
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
    if (strcmp(sp.sdk, "static") == 0) {
        api_error(req, 400, NULL, "Static spaces are served directly and cannot be restarted");
        return;
    }
    if (sp.paused && store_space_set_paused(a->store, sp.id, false) != STORE_OK) {
        api_error(req, 500, NULL, "Could not resume %s", sp.full_id);
        return;
    }
    sp.paused = false;
    lifecycle_restart(a, &sp, factory);
    api_json(req, 200, lifecycle_runtime_json(a, &sp));
}

static void api_space_pause(http_request *req)
{
    app *a = app_of(req);
    space sp;
    if (!load_owned(req, &sp))
        return;
    /* Stored first: a daemon restart keeps it paused. */
    if (store_space_set_paused(a->store, sp.id, true) != STORE_OK) {
        api_error(req, 500, NULL, "Could not pause %s", sp.full_id);
        return;
    }
    sp.paused = true;
    lifecycle_pause(a, &sp);
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
    if (store_space_set_hardware(a->store, sp.id, flavor) != STORE_OK ||
        (json_is_integer(sleep) &&
         store_space_set_sleep(a->store, sp.id, json_integer_value(sleep)) != STORE_OK)) {
        api_error(req, 500, NULL, "Could not change the hardware of %s", sp.full_id);
        goto done;
    }
    bool changed = strcmp(sp.hardware, flavor) != 0;
    snprintf(sp.hardware, sizeof sp.hardware, "%s", flavor);
    if (json_is_integer(sleep))
        sp.sleep_seconds = json_integer_value(sleep);
    lifecycle_on_update(a, &sp);
    if (changed) {
        store_event_add(a->store, sp.id, "hardware", NULL);
        lifecycle_on_hardware_change(a, &sp);
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
    char owner[SPACE_NAME_MAX + 1], name[SPACE_NAME_MAX + 1], from_repo[4200];
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
    api_space_repo_path(req, &from, from_repo, sizeof from_repo);
    if (!api_space_new(req, &id, owner, name, from.sdk, is_private, from_repo, &copy))
        goto done;
    /* Variables come along; secrets stay with their owner unless given. */
    json_t *vars = json_object_get(body, "variables");
    if ((!vars || json_is_null(vars)) &&
        store_env_copy_variables(a->store, from.id, copy.id) != STORE_OK) {
        api_error(req, 500, NULL, "Could not copy the variables of %s", from.full_id);
        goto done;
    }
    if (!json_object_get(body, "hardware"))
        json_object_set_new(body, "hardware", json_string(from.hardware));
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
};
const size_t api_operate_routes_count = sizeof api_operate_routes / sizeof api_operate_routes[0];
