#include "ui/ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/ops.h"
#include "lib/log.h"
#include "lib/util.h"
#include "router/router.h"
#include "space/lifecycle.h"
#include "store/store.h"
#include "ui/assets.h"
#include "ui/html.h"

#define UI_MAX_FIELDS 256

/* Every table, tried in order. */
static const struct {
    const ui_route_entry *routes;
    const size_t *count;
} tables[] = {
    {ui_account_routes, &ui_account_routes_count}, {ui_home_routes, &ui_home_routes_count},
    {ui_files_routes, &ui_files_routes_count},     {ui_settings_routes, &ui_settings_routes_count},
    {ui_space_routes, &ui_space_routes_count},
};

/* ---- request details ---------------------------------------------------------- */

const char *ui_scheme(const ui_ctx *c)
{
    const char *proto = http_header_get(c->req, "X-Forwarded-Proto");
    return proto && util_streq_nocase(proto, "https") ? "https" : "http";
}

/* The host name of the Host header, without the port, into out. */
static void host_name(const ui_ctx *c, char *out, size_t size)
{
    const char *host = http_header_get(c->req, "Host");
    snprintf(out, size, "%s", host ? host : "");
    char *colon = out[0] == '[' ? strstr(out, "]:") : strrchr(out, ':');
    if (colon)
        *(out[0] == '[' ? colon + 1 : colon) = '\0';
}

void ui_host_port(const ui_ctx *c, char *out, size_t size)
{
    const char *host = http_header_get(c->req, "Host");
    const char *colon = host ? strrchr(host, ':') : NULL;
    if (colon && strchr(colon, ']'))
        colon = NULL;
    snprintf(out, size, "%s", colon ? colon : "");
}

char *ui_query(const ui_ctx *c, const char *name)
{
    return http_query_get(c->req, name);
}

const char *ui_form(const ui_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->nfields; i++)
        if (strcmp(c->fields[i].name, name) == 0)
            return c->fields[i].value;
    return NULL;
}

/* ---- cookies ------------------------------------------------------------------ */

/* Cookies name the configured domain when the browser came by it, so that the
 * spaces' subdomains (the app iframe) see the session too; reached another
 * way (an IP address), a cookie for the domain would be refused, so it is
 * host-only then. */
static const char *cookie_domain(const ui_ctx *c)
{
    char host[256];
    host_name(c, host, sizeof host);
    return util_streq_nocase(host, c->a->config.domain) ? c->a->config.domain : NULL;
}

bool ui_cookies_reach_spaces(const ui_ctx *c)
{
    return cookie_domain(c) && !util_streq_nocase(c->a->config.domain, "localhost");
}

static void set_cookie(ui_ctx *c, const char *name, const char *value, long long max_age)
{
    char header[512];
    session_cookie_header(header, sizeof header, name, value, max_age,
                          strcmp(ui_scheme(c), "https") == 0, cookie_domain(c));
    http_resp_header(c->req, "Set-Cookie", header);
}

void ui_set_session_cookie(ui_ctx *c, const char *value, long long max_age)
{
    set_cookie(c, SESSION_COOKIE, value, max_age);
}

void ui_csrf_field(ui_ctx *c, buf *b)
{
    if (!c->csrf[0]) {
        /* Signed out: the sign-in form's token is bound to a cookie of its
         * own, so another site cannot sign the browser in to its account. */
        char login[SESSION_ID_LEN + 1];
        session_random_id(login);
        set_cookie(c, SESSION_LOGIN_COOKIE, login, 3600);
        session_csrf(login, c->csrf);
    }
    html_printf(b, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", c->csrf);
}

/* ---- forms ------------------------------------------------------------------- */

static int add_field(ui_ctx *c, char *name, char *value, size_t len, char *filename)
{
    if (c->nfields >= UI_MAX_FIELDS)
        goto fail;
    ui_field *f = realloc(c->fields, (c->nfields + 1) * sizeof *f);
    if (!f)
        goto fail;
    c->fields = f;
    c->fields[c->nfields++] = (ui_field){name, value, len, filename};
    return 0;
fail:
    free(name);
    free(value);
    free(filename);
    return -1;
}

/* application/x-www-form-urlencoded: '+' is a space, then %XX escapes. */
static char *form_decode(const char *s, size_t len)
{
    char *out = strndup(s, len);
    if (!out)
        return NULL;
    for (char *p = out; *p; p++)
        if (*p == '+')
            *p = ' ';
    if (util_percent_decode(out) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

static int parse_urlencoded(ui_ctx *c, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (eq) {
            char *name = form_decode(p, (size_t)(eq - p));
            char *value = form_decode(eq + 1, (size_t)(stop - eq - 1));
            if (!name || !value) {
                free(name);
                free(value);
                return -1;
            }
            if (add_field(c, name, value, strlen(value), NULL) < 0)
                return -1;
        }
        p = stop + 1;
    }
    return 0;
}

/* The value of attribute key="..." in a Content-Disposition header. */
static char *disposition_param(const char *head, size_t len, const char *key)
{
    char pattern[32];
    snprintf(pattern, sizeof pattern, "; %s=\"", key);
    const char *p = memmem(head, len, pattern, strlen(pattern));
    if (!p)
        return NULL;
    p += strlen(pattern);
    const char *q = memchr(p, '"', len - (size_t)(p - head));
    const char *eol = memmem(p, len - (size_t)(p - head), "\r\n", 2);
    if (!q || (eol && eol < q))
        return NULL;
    return strndup(p, (size_t)(q - p));
}

static int parse_part(ui_ctx *c, const char *part, size_t len)
{
    const char *sep = memmem(part, len, "\r\n\r\n", 4);
    if (!sep)
        return -1;
    size_t head_len = (size_t)(sep - part);
    char *name = disposition_param(part, head_len, "name");
    char *filename = disposition_param(part, head_len, "filename");
    const char *data = sep + 4;
    size_t data_len = len - head_len - 4;
    char *value = malloc(data_len + 1);
    if (!name || !value) {
        free(name);
        free(filename);
        free(value);
        return -1;
    }
    memcpy(value, data, data_len);
    value[data_len] = '\0';
    return add_field(c, name, value, data_len, filename);
}

/* multipart/form-data (RFC 7578): parts between "--boundary" lines. */
static int parse_multipart(ui_ctx *c, const char *ctype, const char *data, size_t len)
{
    const char *b = strstr(ctype, "boundary=");
    if (!b)
        return -1;
    b += 9;
    char delim[128];
    size_t blen = strcspn(b, "; ");
    if (*b == '"') {
        b++;
        blen = strcspn(b, "\"");
    }
    if (blen == 0 || blen > 70)
        return -1;
    int dlen = snprintf(delim, sizeof delim, "\r\n--%.*s", (int)blen, b);
    /* The first delimiter has no CRLF before it. */
    if (len < (size_t)dlen - 2 || memcmp(data, delim + 2, (size_t)dlen - 2) != 0)
        return -1;
    const char *p = data + dlen - 2, *end = data + len;
    for (;;) {
        if (end - p >= 2 && memcmp(p, "--", 2) == 0)
            return 0; /* the closing delimiter */
        if (end - p < 2 || memcmp(p, "\r\n", 2) != 0)
            return -1;
        p += 2;
        const char *next = memmem(p, (size_t)(end - p), delim, (size_t)dlen);
        if (!next || parse_part(c, p, (size_t)(next - p)) < 0)
            return -1;
        p = next + dlen;
    }
}

static int parse_form(ui_ctx *c)
{
    const char *ctype = http_header_get(c->req, "Content-Type");
    const char *data = c->req->body.data ? c->req->body.data : "";
    size_t len = c->req->body.len;
    if (ctype && strncasecmp(ctype, "multipart/form-data", 19) == 0)
        return parse_multipart(c, ctype, data, len);
    return parse_urlencoded(c, data, len);
}

static void free_fields(ui_ctx *c)
{
    for (size_t i = 0; i < c->nfields; i++) {
        free(c->fields[i].name);
        free(c->fields[i].value);
        free(c->fields[i].filename);
    }
    free(c->fields);
    c->fields = NULL;
    c->nfields = 0;
}

/* A form may come only from our own pages: the Origin (browsers send it with
 * every POST) must be ours, and the CSRF token must be the session's (or,
 * signed out, the sign-in cookie's). */
static bool post_allowed(ui_ctx *c)
{
    const char *origin = http_header_get(c->req, "Origin");
    const char *host = http_header_get(c->req, "Host");
    if (origin && strcmp(origin, "null") != 0) {
        char want[600];
        snprintf(want, sizeof want, "%s://%s", ui_scheme(c), host ? host : "");
        if (!util_streq_nocase(origin, want))
            return false;
    }
    char login[SESSION_ID_LEN + 1];
    const char *bound = c->viewer.authenticated                                     ? c->cookie
                        : session_cookie_value(c->req, SESSION_LOGIN_COOKIE, login) ? login
                                                                                    : NULL;
    return bound && session_csrf_valid(bound, ui_form(c, "csrf"));
}

/* ---- responses ------------------------------------------------------------- */

/* Pages load only our own scripts, styles and images, and frame only the
 * spaces' own addresses; nothing may frame the UI but itself. */
static void security_headers(ui_ctx *c)
{
    char port[16];
    ui_host_port(c, port, sizeof port);
    http_resp_headerf(c->req, "Content-Security-Policy",
                      "default-src 'self'; script-src 'self'; style-src 'self'; "
                      "img-src 'self' data:; connect-src 'self'; frame-src %s://*.%s%s; "
                      "form-action 'self'; base-uri 'none'; object-src 'none'; "
                      "frame-ancestors 'self'",
                      ui_scheme(c), c->a->config.domain, port);
    http_resp_header(c->req, "X-Frame-Options", "SAMEORIGIN");
    http_resp_header(c->req, "X-Content-Type-Options", "nosniff");
    http_resp_header(c->req, "Referrer-Policy", "same-origin");
}

static void asset_url(buf *b, const char *name)
{
    const assets_file *f = assets_find(name);
    html_printf(b, "/static/%u?v=%s", name, f ? f->etag : "");
}

static void nav(ui_ctx *c, buf *b)
{
    html_printf(b, "<header class=\"top\"><nav class=\"top-nav\" aria-label=\"Main\">"
                   "<a class=\"brand\" href=\"/\"><span aria-hidden=\"true\">&#x1F6E9;</span> "
                   "Hangar</a><a href=\"/\">Spaces</a>");
    if (!c->viewer.authenticated) {
        html_printf(b, "<span class=\"spacer\"></span><a class=\"button\" href=\"/login\">Sign "
                       "in</a></nav></header>");
        return;
    }
    html_printf(b,
                "<a href=\"/new\">New space</a><span class=\"spacer\"></span>"
                "<span class=\"who\">Signed in as <strong>%s</strong>%s</span>"
                "<form method=\"post\" action=\"/logout\" class=\"inline\">",
                c->viewer.user.name, auth_can_write(&c->viewer) ? "" : " (read-only)");
    ui_csrf_field(c, b);
    html_printf(b,
                "<button type=\"submit\" class=\"link\">Sign out</button></form></nav></header>");
}

void ui_page(ui_ctx *c, int status, const char *title)
{
    buf page;
    buf_init(&page);
    html_printf(&page,
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>%s &middot; Hangar</title><link rel=\"stylesheet\" href=\"",
                title);
    asset_url(&page, "hangar.css");
    html_printf(&page, "\"><link rel=\"icon\" href=\"");
    asset_url(&page, "icon.svg");
    html_printf(&page, "\"><script src=\"");
    asset_url(&page, "hangar.js");
    html_printf(&page, "\" defer></script></head><body>"
                       "<a class=\"skip\" href=\"#main\">Skip to content</a>");
    nav(c, &page);
    html_printf(&page,
                "<main id=\"main\" tabindex=\"-1\">%h</main><footer class=\"foot\">Hangar "
                "%s &middot; <a href=\"/api/spaces\">API</a></footer></body></html>\n",
                c->body.data ? c->body.data : "", HANGAR_VERSION);
    security_headers(c);
    http_resp_header(c->req, "Cache-Control", "no-store");
    http_respond(c->req, status, "text/html; charset=utf-8", page.data ? page.data : "", page.len);
    buf_free(&page);
}

void ui_error(ui_ctx *c, int status, const char *title, const char *message)
{
    buf_reset(&c->body);
    html_printf(&c->body,
                "<section class=\"panel narrow\"><h1>%s</h1><p role=\"alert\">%s</p>"
                "<p><a href=\"/\">Back to the spaces</a></p></section>",
                title, message);
    ui_page(c, status, title);
}

void ui_redirect(ui_ctx *c, const char *location)
{
    security_headers(c);
    http_resp_header(c->req, "Location", location);
    http_resp_header(c->req, "Cache-Control", "no-store");
    http_respond(c->req, 303, "text/plain; charset=utf-8", "See Other\n", 10);
}

/* ---- spaces ------------------------------------------------------------------ */

bool ui_space_load(ui_ctx *c, const char *owner, const char *name, bool write, space *sp)
{
    int rc = STORE_NOTFOUND;
    if (space_name_valid(owner) && space_name_valid(name))
        rc = store_space_get(c->a->store, owner, name, sp);
    if (rc == STORE_ERROR) {
        ui_error(c, 500, "Something went wrong", "The space could not be read. Try again.");
        return false;
    }
    /* A private space of someone else looks exactly like a missing one. */
    if (rc != STORE_OK || !ops_can_read(&c->viewer, sp)) {
        ui_error(c, 404, "Space not found",
                 c->viewer.authenticated ? "There is no such space, or you cannot see it."
                                         : "There is no such space, or you need to sign in.");
        return false;
    }
    if (write && !ops_can_write(&c->viewer, sp)) {
        ui_error(c, 403, "Not allowed",
                 ops_is_owner(&c->viewer, sp)
                     ? "You signed in with a read-only token: sign in with a write token."
                     : "Only the owner of this space can change it.");
        return false;
    }
    return true;
}

const char *ui_stage_class(const char *stage)
{
    if (strncmp(stage, "RUNNING", 7) == 0)
        return strcmp(stage, "RUNNING") == 0 ? "running" : "busy";
    if (strstr(stage, "ERROR"))
        return "error";
    if (strcmp(stage, "BUILDING") == 0 || strcmp(stage, "APP_STARTING") == 0)
        return "busy";
    return "idle";
}

void ui_space_header(ui_ctx *c, const space *sp, const char *tab)
{
    static const struct {
        const char *tab, *suffix, *label;
        bool owner_only;
    } tabs[] = {{"app", "", "App", false},
                {"files", "/files", "Files", false},
                {"logs", "/logs", "Logs", false},
                {"settings", "/settings", "Settings", true}};
    const char *stage = lifecycle_stage(c->a, sp);
    buf *b = &c->body;
    html_printf(b,
                "<div class=\"space-head\"><h1><a href=\"/?author=%u\">%s</a> / "
                "<a href=\"/spaces/%u/%u\">%s</a></h1>"
                "<span class=\"badge stage-%s\" id=\"stage\" role=\"status\" "
                "data-runtime=\"/api/spaces/%u/%u/runtime\" title=\"Stage\">%s</span>"
                "<span class=\"tag\">%s</span>%h</div>"
                "<nav class=\"tabs\" aria-label=\"Space\">",
                sp->owner, sp->owner, sp->owner, sp->name, sp->name, ui_stage_class(stage),
                sp->owner, sp->name, stage, sp->sdk,
                sp->is_private ? "<span class=\"tag private\">private</span>" : "");
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++) {
        if (tabs[i].owner_only && !ops_is_owner(&c->viewer, sp))
            continue;
        bool current = strcmp(tab, tabs[i].tab) == 0;
        html_printf(b, "<a href=\"/spaces/%u/%u%h\"%h>%s</a>", sp->owner, sp->name, tabs[i].suffix,
                    current ? " aria-current=\"page\"" : "", tabs[i].label);
    }
    html_printf(b, "</nav>");
}

/* ---- formatting ---------------------------------------------------------------- */

void ui_format_size(long long bytes, char *out, size_t size)
{
    if (bytes < 1024)
        snprintf(out, size, "%lld B", bytes);
    else if (bytes < 1024 * 1024)
        snprintf(out, size, "%.1f KB", (double)bytes / 1024);
    else
        snprintf(out, size, "%.1f MB", (double)bytes / (1024 * 1024));
}

void ui_format_time(long long unix_ms, char *out, size_t size)
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, size, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(out, size, "-");
}

/* ---- static files ---------------------------------------------------------------- */

static void serve_asset(http_request *req)
{
    const char *name = req->path + strlen("/static/");
    const assets_file *f = assets_find(name);
    if (!f) {
        http_respond(req, 404, "text/plain; charset=utf-8", "Not found\n", 10);
        return;
    }
    char etag[40];
    snprintf(etag, sizeof etag, "\"%s\"", f->etag);
    http_resp_header(req, "ETag", etag);
    http_resp_header(req, "X-Content-Type-Options", "nosniff");
    /* Pages link assets with ?v=<digest>: a new build changes the URL. */
    http_resp_header(req, "Cache-Control",
                     req->query ? "public, max-age=31536000, immutable" : "no-cache");
    const char *inm = http_header_get(req, "If-None-Match");
    if (inm && strstr(inm, etag)) {
        http_respond(req, 304, NULL, NULL, 0);
        return;
    }
    http_respond(req, 200, f->type, f->data, f->len);
}

/* ---- dispatch ------------------------------------------------------------------ */

static bool identify(ui_ctx *c)
{
    auth_result rc = session_identify(c->a->store, c->req, &c->viewer);
    if (rc == AUTH_FAILED) {
        ui_error(c, 500, "Something went wrong", "Your session could not be checked. Try again.");
        return false;
    }
    if (rc == AUTH_OK) {
        session_cookie(c->req, c->cookie);
        session_csrf(c->cookie, c->csrf);
        free(c->req->user);
        c->req->user = strdup(c->viewer.user.name);
    } else {
        memset(&c->viewer, 0, sizeof c->viewer);
        if (rc == AUTH_INVALID) /* expired or signed out elsewhere: forget it */
            ui_set_session_cookie(c, "", 0);
        char login[SESSION_ID_LEN + 1];
        if (session_cookie_value(c->req, SESSION_LOGIN_COOKIE, login))
            session_csrf(login, c->csrf);
    }
    return true;
}

static void dispatch(http_request *req)
{
    const ui_route_entry *e = req->ctx;
    req->ctx = NULL;
    ui_ctx c;
    memset(&c, 0, sizeof c);
    c.req = req;
    c.a = app_of(req);
    buf_init(&c.body);
    if (!identify(&c))
        goto done;
    if (req->method == HTTP_POST) {
        if (parse_form(&c) < 0) {
            ui_error(&c, 400, "Bad request", "The form could not be read.");
            goto done;
        }
        if (!post_allowed(&c)) {
            log_warn("ui", "refused a form post to %s without a valid CSRF token", req->path);
            ui_error(&c, 403, "Forbidden",
                     "This form has expired or did not come from Hangar. Reload the page and "
                     "try again.");
            goto done;
        }
    }
    e->handler(&c);
done:
    free_fields(&c);
    buf_free(&c.body);
}

static void method_not_allowed(http_request *req)
{
    ui_ctx c;
    memset(&c, 0, sizeof c);
    c.req = req;
    c.a = app_of(req);
    buf_init(&c.body);
    http_resp_header(req, "Allow", "GET, HEAD, POST");
    ui_error(&c, 405, "Method not allowed", "This page cannot be used that way.");
    buf_free(&c.body);
}

bool ui_route(http_request *req)
{
    if (util_has_prefix(req->path, "/static/")) {
        if (req->method != HTTP_GET && req->method != HTTP_HEAD)
            return false;
        req->on_complete = serve_asset;
        return true;
    }
    bool path_matched = false;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        for (size_t i = 0; i < *tables[t].count; i++) {
            const ui_route_entry *e = &tables[t].routes[i];
            if (!router_match(e->pattern, req->path, req))
                continue;
            path_matched = true;
            if (e->method != (int)req->method &&
                !(e->method == HTTP_GET && req->method == HTTP_HEAD))
                continue;
            if (e->body_limit)
                req->body_limit = e->body_limit;
            req->ctx = (void *)e;
            req->on_complete = dispatch;
            return true;
        }
    }
    if (path_matched) {
        req->on_complete = method_not_allowed;
        return true;
    }
    return false;
}
