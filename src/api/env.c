/* Secrets and variables of a space, in HF's shapes. Secret values are
 * write-only: no endpoint returns them, and they are sealed at rest. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/ops.h"
#include "app/app.h"
#include "auth/vault.h"
#include "lib/util.h"
#include "space/lifecycle.h"
#include "space/events.h"
#include "store/store.h"

static void add_entry(const char *key, const char *value, const char *description,
                      int64_t updated_ms, void *arg)
{
    json_t *map = json_object_get(arg, "map");
    bool secret = json_is_true(json_object_get(arg, "secret"));
    char updated[40];
    util_iso8601_ms(updated_ms, updated, sizeof updated);
    json_t *entry = json_pack("{s:s, s:s}", "description", description, "updatedAt", updated);
    if (!secret)
        json_object_set_new(entry, "value", json_string(value));
    json_object_set_new(map, key, entry);
}

static json_t *env_map(http_request *req, const space *sp, bool secret)
{
    json_t *ctx = json_pack("{s:{}, s:b}", "map", "secret", secret);
    if (store_env_list(app_of(req)->store, secret, sp->id, add_entry, ctx) < 0) {
        json_decref(ctx);
        return NULL;
    }
    json_t *map = json_incref(json_object_get(ctx, "map"));
    json_decref(ctx);
    return map;
}

static bool is_secret_route(http_request *req)
{
    return strstr(req->path, "/secrets") != NULL;
}

static void respond_map(http_request *req, const space *sp, bool secret)
{
    json_t *map = env_map(req, sp, secret);
    if (!map)
        api_error(req, 500, NULL, "Could not read the %s of %s", secret ? "secrets" : "variables",
                  sp->full_id);
    else
        api_json(req, 200, map);
}

static void api_env_get(http_request *req)
{
    bool secret = is_secret_route(req);
    auth_identity id;
    space sp;
    /* Secret names are the owner's business; variables are readable with the space. */
    if (!api_space_load(req, req->params[0], req->params[1], secret ? API_WRITE : API_READ, &id,
                        &sp))
        return;
    respond_map(req, &sp, secret);
}

/* Seals or stores one entry; answers and returns false on bad input. */
bool api_env_put(http_request *req, const space *sp, bool secret, const char *key,
                 const char *value, const char *description)
{
    ops_error err;
    if (ops_env_put(app_of(req), sp, secret, key, value, description, &err))
        return true;
    api_ops_error(req, &err, NULL);
    return false;
}

static void api_env_set(http_request *req)
{
    bool secret = is_secret_route(req);
    auth_identity id;
    space sp;
    if (!api_space_load(req, req->params[0], req->params[1], API_WRITE, &id, &sp))
        return;
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    json_t *key = json_object_get(body, "key"), *value = json_object_get(body, "value");
    json_t *description = json_object_get(body, "description");
    if (!json_is_string(key) || !json_is_string(value) ||
        (description && !json_is_null(description) && !json_is_string(description))) {
        api_error(req, 400, NULL,
                  "Expected {\"key\": string, \"value\": string, "
                  "\"description\"?: string}");
    } else if (api_env_put(req, &sp, secret, json_string_value(key), json_string_value(value),
                           json_string_value(description))) {
        ops_env_changed(app_of(req), &sp);
        if (secret)
            api_json(req, 200, json_object());
        else
            respond_map(req, &sp, false);
    }
    json_decref(body);
}

static void api_env_delete(http_request *req)
{
    bool secret = is_secret_route(req);
    auth_identity id;
    space sp;
    if (!api_space_load(req, req->params[0], req->params[1], API_WRITE, &id, &sp))
        return;
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    json_t *key = json_object_get(body, "key");
    if (!json_is_string(key)) {
        api_error(req, 400, NULL, "Expected {\"key\": string}");
        json_decref(body);
        return;
    }
    ops_error err;
    bool ok = ops_env_delete(app_of(req), &sp, secret, json_string_value(key), &err);
    json_decref(body);
    if (!ok) {
        api_ops_error(req, &err, NULL);
        return;
    }
    if (secret)
        api_json(req, 200, json_object());
    else
        respond_map(req, &sp, false);
}

const route api_env_routes[] = {
    {HTTP_GET, "/api/spaces/:owner/:name/secrets", api_env_get, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/secrets", api_env_set, NULL, 0},
    {HTTP_DELETE, "/api/spaces/:owner/:name/secrets", api_env_delete, NULL, 0},
    {HTTP_GET, "/api/spaces/:owner/:name/variables", api_env_get, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/variables", api_env_set, NULL, 0},
    {HTTP_DELETE, "/api/spaces/:owner/:name/variables", api_env_delete, NULL, 0},
};
const size_t api_env_routes_count = sizeof api_env_routes / sizeof api_env_routes[0];
