#include "api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "lib/log.h"
#include "router/router.h"
#include "ui/session.h"

#define INVALID_CREDENTIALS "Invalid credentials in Authorization header"

static const route api_account_routes[] = {
    {HTTP_GET, "/api/health", api_health, NULL, 0},
    {HTTP_GET, "/api/whoami-v2", api_whoami, NULL, 0},
};
static const size_t api_account_routes_count =
    sizeof api_account_routes / sizeof api_account_routes[0];

/* Every route table of the API, tried in order. */
static const struct {
    const route *routes;
    const size_t *count;
} api_tables[] = {
    {api_account_routes, &api_account_routes_count}, {api_space_routes, &api_space_routes_count},
    {api_runtime_routes, &api_runtime_routes_count}, {api_env_routes, &api_env_routes_count},
    {api_operate_routes, &api_operate_routes_count}, {api_upload_routes, &api_upload_routes_count},
    {api_source_routes, &api_source_routes_count},
};

/* Browsers running @huggingface/hub read these headers across origins. */
static void cors_headers(http_request *req)
{
    if (!http_header_get(req, "Origin"))
        return;
    http_resp_header(req, "Access-Control-Allow-Origin", "*");
    http_resp_header(req, "Access-Control-Expose-Headers",
                     "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,"
                     "ETag,Link,Accept-Ranges,Content-Range");
}

void api_json(http_request *req, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (!text) {
        log_error("api", "cannot serialise a response for %s", req->path);
        static const char fallback[] = "{\"error\":\"Internal error\"}";
        cors_headers(req);
        http_respond(req, 500, "application/json", fallback, sizeof fallback - 1);
        return;
    }
    cors_headers(req);
    http_respond(req, status, "application/json", text, strlen(text));
    free(text);
}

void api_error(http_request *req, int status, const char *error_code, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (error_code)
        http_resp_header(req, "X-Error-Code", error_code);
    http_resp_header(req, "X-Error-Message", message);
    api_json(req, status, json_pack("{s:s}", "error", message));
}

void api_not_found(http_request *req)
{
    api_error(req, 404, NULL, "Not found: %s", req->path);
}

void api_method_not_allowed(http_request *req)
{
    api_error(req, 405, NULL, "Method %s not allowed on %s", http_method_name(req), req->path);
}

bool api_identify(http_request *req, auth_identity *id, bool require)
{
    auth_result rc = auth_identify(app_of(req)->store, req, id);
    /* The web UI's pages read the API (runtime, logs) with the session
     * cookie. Only safe methods: a cookie is sent by the browser on its own,
     * so it must never be enough to change anything. */
    if (rc == AUTH_ANONYMOUS && (req->method == HTTP_GET || req->method == HTTP_HEAD)) {
        rc = session_identify(app_of(req)->store, req, id);
        if (rc == AUTH_INVALID) /* a stale cookie is no credential: stay anonymous */
            rc = AUTH_ANONYMOUS;
    }
    if (rc == AUTH_FAILED) {
        api_error(req, 500, NULL, "Could not check credentials");
        return false;
    }
    if (rc == AUTH_THROTTLED) {
        char secs[16];
        snprintf(secs, sizeof secs, "%u", id->retry_after_s);
        http_resp_header(req, "Retry-After", secs);
        api_error(req, 429, NULL,
                  "Too many invalid credentials from your address; try again in %u s",
                  id->retry_after_s);
        return false;
    }
    if (rc == AUTH_INVALID || (rc == AUTH_ANONYMOUS && require)) {
        api_error(req, 401, NULL, INVALID_CREDENTIALS);
        return false;
    }
    if (rc == AUTH_OK && !req->user)
        req->user = strdup(id->user.name);
    return true;
}

json_t *api_parse_body(http_request *req)
{
    json_error_t err;
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, &err);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        api_error(req, 400, NULL, "Request body must be a JSON object (%s)",
                  body ? "got another JSON type" : err.text);
        return NULL;
    }
    return body;
}

/* CORS preflight: the JS client in a browser sends these before real calls. */
static void api_preflight(http_request *req)
{
    http_resp_header(req, "Access-Control-Allow-Origin", "*");
    http_resp_header(req, "Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE");
    http_resp_header(req, "Access-Control-Allow-Headers",
                     "Authorization, Content-Type, X-HF-Authorization, Range");
    http_resp_header(req, "Access-Control-Max-Age", "86400");
    http_respond(req, 204, NULL, NULL, 0);
}

void api_route(http_request *req)
{
    if (req->method == HTTP_OPTIONS) {
        req->on_complete = api_preflight;
        return;
    }
    for (size_t i = 0; i < sizeof api_tables / sizeof api_tables[0]; i++)
        if (router_dispatch(req, api_tables[i].routes, *api_tables[i].count))
            return;
    req->on_complete = api_not_found;
}
