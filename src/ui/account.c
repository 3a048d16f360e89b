/* Signing in with a token, and out. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "ui/html.h"
#include "ui/ui.h"

/* Where to go after signing in: a local path only, never another site
 * ("//host" and "/\host" are other sites to a browser). */
static bool local_path(const char *next)
{
    return next && next[0] == '/' && next[1] != '/' && next[1] != '\\' &&
           strcspn(next, "\r\n") == strlen(next) && strlen(next) < 1024;
}

static void login_form(ui_ctx *c, const char *next, const char *error)
{
    buf *b = &c->body;
    html_printf(b, "<section class=\"panel narrow\"><h1>Sign in</h1>");
    if (error)
        html_printf(b, "<p class=\"alert\" role=\"alert\">%s</p>", error);
    html_printf(b, "<p>Sign in with an access token. An administrator creates one with "
                   "<code>hangar token create USER</code>; a read token gives a read-only "
                   "session.</p><form method=\"post\" action=\"/login\" class=\"stack\">");
    ui_csrf_field(c, b);
    html_printf(b,
                "<input type=\"hidden\" name=\"next\" value=\"%s\">"
                "<label for=\"token\">Access token</label>"
                "<input id=\"token\" name=\"token\" type=\"password\" required "
                "autocomplete=\"current-password\" spellcheck=\"false\" placeholder=\"hf_...\" "
                "autofocus>"
                "<button type=\"submit\" class=\"primary\">Sign in</button></form></section>",
                local_path(next) ? next : "/");
}

static void login_page(ui_ctx *c)
{
    char *next = ui_query(c, "next");
    login_form(c, next, NULL);
    free(next);
    ui_page(c, 200, "Sign in");
}

static void login_post(ui_ctx *c)
{
    const char *token = ui_form(c, "token");
    const char *next = ui_form(c, "next");
    auth_identity id;
    auth_result rc = auth_check_from(c->a->store, c->req->remote, token ? token : "", &id);
    if (rc == AUTH_FAILED) {
        ui_error(c, 500, "Something went wrong", "The token could not be checked. Try again.");
        return;
    }
    if (rc == AUTH_THROTTLED) {
        char secs[16];
        snprintf(secs, sizeof secs, "%u", id.retry_after_s);
        http_resp_header(c->req, "Retry-After", secs);
        login_form(c, next, "Too many invalid tokens from your address. Try again later.");
        ui_page(c, 429, "Sign in");
        return;
    }
    if (rc != AUTH_OK) {
        log_info("ui", "a sign-in with an invalid token was refused");
        login_form(c, next, "That token is not valid.");
        ui_page(c, 401, "Sign in");
        return;
    }
    char cookie[SESSION_ID_LEN + 1];
    if (session_open(c->a->store, &id, cookie) < 0) {
        ui_error(c, 500, "Something went wrong", "The session could not be opened. Try again.");
        return;
    }
    ui_set_session_cookie(c, cookie, SESSION_TTL_S);
    sodium_memzero(cookie, sizeof cookie);
    ui_redirect(c, local_path(next) ? next : "/");
}

static void logout_post(ui_ctx *c)
{
    session_close(c->a->store, c->req);
    ui_set_session_cookie(c, "", 0);
    ui_redirect(c, "/");
}

const ui_route_entry ui_account_routes[] = {
    {HTTP_GET, "/login", login_page, 0},
    {HTTP_POST, "/login", login_post, 0},
    {HTTP_POST, "/logout", logout_post, 0},
};
const size_t ui_account_routes_count = sizeof ui_account_routes / sizeof ui_account_routes[0];
