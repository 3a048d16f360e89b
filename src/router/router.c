#include "router/router.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/files.h"
#include "api/lfsapi.h"
#include "git/transport.h"
#include "lib/util.h"
#include "proxy/proxy.h"
#include "ui/ui.h"

static void clear_params(http_request *req)
{
    for (int i = 0; i < req->nparams; i++)
        free(req->params[i]);
    req->nparams = 0;
}

static bool capture(http_request *req, const char *start, size_t len)
{
    if (req->nparams >= (int)(sizeof req->params / sizeof req->params[0]))
        return false;
    char *value = strndup(start, len);
    if (!value)
        return false;
    if (util_percent_decode(value) < 0) {
        free(value);
        return false;
    }
    req->params[req->nparams++] = value;
    return true;
}

bool router_match(const char *pattern, const char *path, http_request *req)
{
    clear_params(req);
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            break;
        p++;
        s++;
        const char *pend = strchr(p, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        const char *send = strchr(s, '/');
        size_t slen = send ? (size_t)(send - s) : strlen(s);
        if (plen == 1 && p[0] == '*') {
            if (!capture(req, s, strlen(s)))
                goto nomatch;
            return true;
        }
        if (p[0] == ':') {
            if (slen == 0 || !capture(req, s, slen))
                goto nomatch;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            goto nomatch;
        }
        p += plen;
        s += slen;
    }
    if (*p == '\0' && *s == '\0')
        return true;
    /* A final "*" also matches an empty rest ("/x" for "/x/<star>"). */
    if (*s == '\0' && strcmp(p, "/*") == 0)
        return capture(req, "", 0);
nomatch:
    clear_params(req);
    return false;
}

bool router_dispatch(http_request *req, const route *routes, size_t count)
{
    bool path_matched = false;
    for (size_t i = 0; i < count; i++) {
        if (!router_match(routes[i].pattern, req->path, req))
            continue;
        path_matched = true;
        if (routes[i].method >= 0 && routes[i].method != (int)req->method &&
            !(routes[i].method == HTTP_GET && req->method == HTTP_HEAD))
            continue;
        if (routes[i].body_limit)
            req->body_limit = routes[i].body_limit;
        if (routes[i].on_head) {
            routes[i].on_head(req);
        } else {
            req->on_complete = routes[i].handler;
        }
        return true;
    }
    if (path_matched) {
        req->on_complete = api_method_not_allowed;
        return true;
    }
    return false;
}

/* Every name, revision and file path in Hangar's own routes is text: a path
 * whose escapes decode to a NUL, a control byte or bytes that are not UTF-8 is
 * refused once, here, with a 400 that says so (each handler would otherwise
 * answer a 404, or a 500 where the name went into a JSON error message). */
static bool path_is_text(const char *path)
{
    char *decoded = strdup(path);
    bool ok = decoded && util_percent_decode(decoded) == 0;
    size_t len = ok ? strlen(decoded) : 0;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)decoded[i] >= 0x20 && decoded[i] != 0x7F;
    ok = ok && util_utf8_valid(decoded, len);
    free(decoded);
    return ok;
}

static void bad_path(http_request *req)
{
    api_error(req, 400, NULL,
              "Invalid path: its %%-escapes must decode to UTF-8 text without NUL or control "
              "characters");
}

void router_on_head(http_request *req)
{
    /* A space's own address (<subdomain>.<domain>) belongs to its app, whatever the path. */
    if (proxy_route(req))
        return;
    if (strcmp(req->path, "/metrics") == 0) {
        req->on_complete = proxy_metrics_handle;
        return;
    }
    if (!path_is_text(req->path)) {
        req->on_complete = bad_path;
        return;
    }
    if (util_has_prefix(req->path, "/api/") || strcmp(req->path, "/api") == 0) {
        api_route(req);
        return;
    }
    if (util_has_prefix(req->path, "/spaces/")) {
        if (transport_route(req) || lfsapi_route(req) || files_route(req))
            return;
    }
    /* The web UI takes what is left: its pages, /static/ and the space pages. */
    if (ui_route(req))
        return;
    req->on_complete = api_not_found;
}
