/* ui: the web UI, server-rendered pages for browsing, creating and operating
 * spaces in a browser.
 *
 * The router hands ui_route everything the API, git and downloads did not
 * take. Pages are HTML from C templates (html.h); behaviour beyond links and
 * forms is a little JavaScript in /static/hangar.js (no inline script), so
 * every page carries a strict Content-Security-Policy. The viewer is
 * identified by the session cookie (session.h); every form that changes state
 * posts a CSRF token that is checked before anything else, and changes go
 * through the same functions the API uses (api/ops.h).
 *
 * The handlers live in one file per area (account.c, home.c, space.c,
 * files.c, settings.c) and share the helpers below. */
#ifndef HANGAR_UI_H
#define HANGAR_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "app/app.h"
#include "auth/auth.h"
#include "http/http.h"
#include "lib/buf.h"
#include "space/space.h"
#include "ui/session.h"

/* Router entry: takes the request (true) when a page or asset answers it. */
bool ui_route(http_request *req);

/* ---- for the page handlers ---- */

typedef struct ui_field {
    char *name;
    char *value; /* NUL-terminated; len counts binary content (uploads) */
    size_t len;
    char *filename; /* multipart file parts, else NULL */
} ui_field;

/* One request being answered. */
typedef struct ui_ctx {
    http_request *req;
    app *a;
    auth_identity viewer; /* viewer.authenticated is false when signed out */
    char cookie[SESSION_ID_LEN + 1];
    char csrf[SESSION_CSRF_LEN + 1]; /* the session's form token, "" when signed out */
    ui_field *fields;                /* the posted form */
    size_t nfields;
    buf body; /* the page's <main> content, rendered by the handler */
} ui_ctx;

typedef void (*ui_handler)(ui_ctx *c);

typedef struct ui_route_entry {
    int method; /* enum http_method */
    const char *pattern;
    ui_handler handler;
    size_t body_limit; /* POST: 0 for the default */
} ui_route_entry;

/* Answers with the layout around c->body: status, the <title>, and the tab or
 * section of the navigation to mark current (may be NULL). */
void ui_page(ui_ctx *c, int status, const char *title);
/* An error page: status, a title and a message (escaped). */
void ui_error(ui_ctx *c, int status, const char *title, const char *message);
/* 303 See Other to a local path (a page after a form post). */
void ui_redirect(ui_ctx *c, const char *location);

/* A posted field (the first of that name), or NULL. */
const char *ui_form(const ui_ctx *c, const char *name);
/* Sets (or, with max_age 0, deletes) the session cookie on the response. */
void ui_set_session_cookie(ui_ctx *c, const char *value, long long max_age);
/* The hidden CSRF field for a form. */
void ui_csrf_field(ui_ctx *c, buf *b);
/* The query parameter name (decoded, caller frees), or NULL. */
char *ui_query(const ui_ctx *c, const char *name);

/* The scheme and port the browser used ("http" or "https", and ":8080" or
 * ""), from X-Forwarded-Proto and the Host header. */
const char *ui_scheme(const ui_ctx *c);
void ui_host_port(const ui_ctx *c, char *out, size_t size);

/* Whether the session cookie reaches the spaces' subdomains (the browser came
 * by the configured domain, and it is not "localhost", whose cookies browsers
 * keep host-only): only then can a private app show in the iframe. */
bool ui_cookies_reach_spaces(const ui_ctx *c);

/* Loads space owner/name for the viewer; answers 404 (not there or not
 * visible) or 403 (write wanted, viewer is not the owner with a write token)
 * and returns false. */
bool ui_space_load(ui_ctx *c, const char *owner, const char *name, bool write, space *sp);
/* The space page's header (name, stage badge that updates live, tabs). */
void ui_space_header(ui_ctx *c, const space *sp, const char *tab);
/* The stage's CSS class suffix ("running", "building", "error", ...). */
const char *ui_stage_class(const char *stage);

/* "2 KB", "3.1 MB". */
void ui_format_size(long long bytes, char *out, size_t size);
/* "2026-01-02 03:04 UTC". */
void ui_format_time(long long unix_ms, char *out, size_t size);

/* Route tables, one per area. */
extern const ui_route_entry ui_account_routes[];
extern const size_t ui_account_routes_count;
extern const ui_route_entry ui_home_routes[];
extern const size_t ui_home_routes_count;
extern const ui_route_entry ui_space_routes[];
extern const size_t ui_space_routes_count;
extern const ui_route_entry ui_files_routes[];
extern const size_t ui_files_routes_count;
extern const ui_route_entry ui_settings_routes[];
extern const size_t ui_settings_routes_count;

#endif
