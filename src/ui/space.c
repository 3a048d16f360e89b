/* The space page: the app in an iframe of its own address, or its stage and
 * last error while it is not running; and the logs tab. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ops.h"
#include "space/lifecycle.h"
#include "ui/html.h"
#include "ui/session.h"
#include "ui/ui.h"

static void not_running(ui_ctx *c, const space *sp, const char *stage, const char *error)
{
    buf *b = &c->body;
    html_printf(b, "<section class=\"panel\" id=\"app\" data-running=\"0\"><h2>%s</h2>",
                strcmp(stage, "NO_APP_FILE") == 0 ? "This space has no app yet"
                : strstr(stage, "ERROR")          ? "This space has stopped on an error"
                                                  : "The app is not running");
    html_printf(b,
                "<p>Stage: <strong data-stage-text>%s</strong>. This page follows it and "
                "shows the app when it runs.</p>",
                stage);
    html_printf(b, "<pre class=\"error\" id=\"error\" data-error%h>%s</pre>",
                error && error[0] ? "" : " hidden", error ? error : "");
    if (strcmp(stage, "NO_APP_FILE") == 0) {
        char port[16];
        ui_host_port(c, port, sizeof port);
        const char *host = http_header_get(c->req, "Host");
        html_printf(b,
                    "<p>Add an <code>app.py</code> (or <code>index.html</code> for a static "
                    "space) and a <code>README.md</code> in the <a href=\"/spaces/%u/%u/files\">"
                    "Files</a> tab, or push with git:</p><pre class=\"code\">git clone "
                    "%s://%s/spaces/%s/%s</pre>",
                    sp->owner, sp->name, ui_scheme(c), host ? host : "localhost", sp->owner,
                    sp->name);
    }
    html_printf(b, "<p><a href=\"/spaces/%u/%u/logs\">See the logs</a></p></section>", sp->owner,
                sp->name);
}

static void running(ui_ctx *c, const space *sp)
{
    char port[16], url[600], cookie[SESSION_ID_LEN + 1], pass[SESSION_PASS_MAX];
    ui_host_port(c, port, sizeof port);
    int n = snprintf(url, sizeof url, "%s://%s.%s%s/", ui_scheme(c), sp->subdomain,
                     c->a->config.domain, port);
    /* A private app where the session cookie cannot follow (localhost): its
     * address carries an app pass, which the proxy turns into a cookie of
     * the app's own host (session.h). */
    if (sp->is_private && !ui_cookies_reach_spaces(c) && session_cookie(c->req, cookie)) {
        session_pass_make(cookie, sp->id, SESSION_PASS_URL, pass);
        snprintf(url + n, sizeof url - (size_t)n, "?__sign=%s", pass);
        sodium_memzero(cookie, sizeof cookie);
    }
    /* The app is another origin; the sandbox also keeps it from navigating the UI away. */
    html_printf(&c->body,
                "<div class=\"app\" id=\"app\" data-running=\"1\"><iframe class=\"app-frame\" "
                "src=\"%s\" title=\"App %s\" sandbox=\"allow-scripts allow-same-origin "
                "allow-forms allow-popups allow-downloads allow-modals\" allow=\"clipboard-read; "
                "clipboard-write; fullscreen; microphone; camera\"></iframe>"
                "<p class=\"help\"><a href=\"%s\" target=\"_blank\" rel=\"noopener noreferrer\">"
                "Open the app in a new tab</a></p></div>",
                url, sp->full_id, url);
}

static void space_page(ui_ctx *c)
{
    space sp;
    if (!ui_space_load(c, c->req->params[0], c->req->params[1], false, &sp))
        return;
    ui_space_header(c, &sp, "app");
    json_t *rt = lifecycle_runtime_json(c->a, &sp);
    const char *stage = json_string_value(json_object_get(rt, "stage"));
    if (!stage)
        stage = "STOPPED";
    if (strncmp(stage, "RUNNING", 7) == 0)
        running(c, &sp);
    else
        not_running(c, &sp, stage, json_string_value(json_object_get(rt, "errorMessage")));
    ui_page(c, 200, sp.full_id);
    json_decref(rt);
}

static void logs_page(ui_ctx *c)
{
    space sp;
    if (!ui_space_load(c, c->req->params[0], c->req->params[1], false, &sp))
        return;
    ui_space_header(c, &sp, "logs");
    static const struct {
        const char *kind, *title;
    } logs[] = {{"build", "Build"}, {"run", "Container"}};
    html_printf(&c->body, "<div class=\"logs\">");
    for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++)
        html_printf(&c->body,
                    "<section class=\"panel log-panel\"><h2 id=\"log-%s-title\">%s logs</h2>"
                    "<p class=\"help\" data-log-state=\"%s\" aria-live=\"polite\">Connecting"
                    "&hellip;</p><pre class=\"log\" id=\"log-%s\" tabindex=\"0\" "
                    "aria-labelledby=\"log-%s-title\" data-log=\"/api/spaces/%u/%u/logs/%s\">"
                    "</pre></section>",
                    logs[i].kind, logs[i].title, logs[i].kind, logs[i].kind, logs[i].kind, sp.owner,
                    sp.name, logs[i].kind);
    html_printf(&c->body, "</div>");
    ui_page(c, 200, sp.full_id);
}

const ui_route_entry ui_space_routes[] = {
    {HTTP_GET, "/spaces/:owner/:name", space_page, 0},
    {HTTP_GET, "/spaces/:owner/:name/logs", logs_page, 0},
};
const size_t ui_space_routes_count = sizeof ui_space_routes / sizeof ui_space_routes[0];
