/* The settings tab (owner only): each form posts to
 * /spaces/<owner>/<name>/settings/<action>, which calls the same function the
 * API's handler calls (api/ops.h), then comes back here. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ops.h"
#include "lib/log.h"
#include "lib/util.h"
#include "space/hardware.h"
#include "space/lifecycle.h"
#include "store/store.h"
#include "ui/html.h"
#include "ui/ui.h"

static const struct {
    long long seconds;
    const char *label;
} sleep_choices[] = {{300, "after 5 minutes"},  {900, "after 15 minutes"},  {3600, "after 1 hour"},
                     {36000, "after 10 hours"}, {172800, "after 48 hours"}, {-1, "never"}};

/* What a successful action says on the page it comes back to (?msg=action). */
static const struct {
    const char *action, *message;
} done_messages[] = {
    {"visibility", "Visibility saved."},
    {"sleep", "Sleep time saved."},
    {"hardware", "Hardware saved. The space restarts on it."},
    {"secret", "Secret saved. The space restarts with it."},
    {"secret-delete", "Secret deleted."},
    {"variable", "Variable saved. The space restarts with it."},
    {"variable-delete", "Variable deleted."},
    {"restart", "Restarting."},
    {"factory", "Rebuilding from scratch."},
    {"pause", "Paused."},
    {"resume", "Resuming."},
    {"rename", "Renamed."},
};

/* Starts a form posting action; the caller closes it. */
static void form_open(ui_ctx *c, const space *sp, const char *action, const char *cls)
{
    html_printf(&c->body,
                "<form method=\"post\" action=\"/spaces/%u/%u/settings/%u\" class=\"%h\">",
                sp->owner, sp->name, action, cls);
    ui_csrf_field(c, &c->body);
}

static void section_visibility(ui_ctx *c, const space *sp)
{
    buf *b = &c->body;
    html_printf(b, "<section class=\"panel\" aria-labelledby=\"s-vis\"><h2 id=\"s-vis\">"
                   "Visibility</h2>");
    form_open(c, sp, "visibility", "stack");
    html_printf(b,
                "<fieldset><legend class=\"sr-only\">Visibility</legend><div class=\"choices\">"
                "<label class=\"choice\"><input type=\"radio\" name=\"visibility\" "
                "value=\"public\"%h> Public</label><label class=\"choice\"><input type=\"radio\" "
                "name=\"visibility\" value=\"private\"%h> Private</label></div></fieldset>"
                "<button type=\"submit\">Save visibility</button></form></section>",
                sp->is_private ? "" : " checked", sp->is_private ? " checked" : "");
}

static void section_runtime(ui_ctx *c, const space *sp)
{
    buf *b = &c->body;
    html_printf(b, "<section class=\"panel\" aria-labelledby=\"s-hw\"><h2 id=\"s-hw\">Hardware "
                   "and sleep</h2><div class=\"row\">");
    form_open(c, sp, "hardware", "stack grow");
    html_printf(b, "<label for=\"hardware\">Hardware</label><select id=\"hardware\" "
                   "name=\"hardware\">");
    json_t *list = hardware_list_json(), *item;
    size_t i;
    json_array_foreach(list, i, item)
    {
        const char *name = json_string_value(json_object_get(item, "name"));
        if (name)
            html_printf(b, "<option value=\"%s\"%h>%s (%s, %s)</option>", name,
                        strcmp(name, sp->hardware) == 0 ? " selected" : "",
                        json_string_value(json_object_get(item, "prettyName")),
                        json_string_value(json_object_get(item, "cpu")),
                        json_string_value(json_object_get(item, "ram")));
    }
    json_decref(list);
    html_printf(b, "</select><button type=\"submit\">Save hardware</button></form>");
    form_open(c, sp, "sleep", "stack grow");
    html_printf(b, "<label for=\"sleep\">Sleep when idle</label><select id=\"sleep\" "
                   "name=\"seconds\">");
    if (sp->sleep_seconds == SPACE_SLEEP_DEFAULT)
        html_printf(b, "<option value=\"\" selected>server default (%l s)</option>",
                    (long long)c->a->config.sleep_seconds);
    for (size_t k = 0; k < sizeof sleep_choices / sizeof sleep_choices[0]; k++)
        html_printf(b, "<option value=\"%l\"%h>%s</option>", sleep_choices[k].seconds,
                    sp->sleep_seconds == sleep_choices[k].seconds ? " selected" : "",
                    sleep_choices[k].label);
    html_printf(b, "</select><button type=\"submit\">Save sleep time</button></form></div>"
                   "</section>");
}

typedef struct env_ctx {
    ui_ctx *c;
    const space *sp;
    bool secret;
} env_ctx;

static void env_row(const char *key, const char *value, const char *description, int64_t updated_ms,
                    void *arg)
{
    env_ctx *e = arg;
    buf *b = &e->c->body;
    char when[40];
    ui_format_time(updated_ms, when, sizeof when);
    /* A secret's value is never read back into a page: only its name. */
    html_printf(b,
                "<tr><th scope=\"row\"><code>%s</code></th><td>%s</td><td>%s</td><td>%s</td>"
                "<td>",
                key, e->secret ? "(hidden)" : value, description, when);
    form_open(e->c, e->sp, e->secret ? "secret-delete" : "variable-delete", "inline");
    html_printf(b,
                "<input type=\"hidden\" name=\"key\" value=\"%s\"><button type=\"submit\" "
                "class=\"danger small\" aria-label=\"Delete %s\">Delete</button></form></td></tr>",
                key, key);
}

static void section_env(ui_ctx *c, const space *sp, bool secret)
{
    buf *b = &c->body;
    const char *what = secret ? "secret" : "variable";
    html_printf(b,
                "<section class=\"panel\" aria-labelledby=\"s-%s\"><h2 id=\"s-%s\">%s</h2>"
                "<p class=\"help\">%s</p><table class=\"env\" id=\"%ss\"><thead><tr>"
                "<th scope=\"col\">Name</th><th scope=\"col\">Value</th><th scope=\"col\">"
                "Description</th><th scope=\"col\">Updated</th><th scope=\"col\"><span "
                "class=\"sr-only\">Actions</span></th></tr></thead><tbody>",
                what, what, secret ? "Secrets" : "Variables",
                secret ? "Given to the app as environment variables. Values are encrypted and "
                         "never shown again; save a name again to replace its value."
                       : "Public environment variables of the app; they are copied when the "
                         "space is duplicated.",
                what);
    env_ctx e = {c, sp, secret};
    if (store_env_list(c->a->store, secret, sp->id, env_row, &e) == 0)
        html_printf(b, "<tr><td colspan=\"5\" class=\"empty\">None yet.</td></tr>");
    html_printf(b, "</tbody></table>");
    form_open(c, sp, what, "row add-env");
    html_printf(b,
                "<div class=\"field\"><label for=\"%s-key\">Name</label><input id=\"%s-key\" "
                "name=\"key\" required pattern=\"[A-Za-z_][A-Za-z0-9_]*\" autocomplete=\"off\">"
                "</div><div class=\"field grow\"><label for=\"%s-value\">Value</label>"
                "<input id=\"%s-value\" name=\"value\" type=\"%h\" autocomplete=\"off\"></div>"
                "<div class=\"field grow\"><label for=\"%s-desc\">Description</label>"
                "<input id=\"%s-desc\" name=\"description\"></div><button type=\"submit\">Save "
                "%s</button></form></section>",
                what, what, what, what, secret ? "password" : "text", what, what, what);
}

static void section_control(ui_ctx *c, const space *sp)
{
    buf *b = &c->body;
    bool is_static = strcmp(sp->sdk, "static") == 0;
    html_printf(b, "<section class=\"panel\" aria-labelledby=\"s-ctl\"><h2 id=\"s-ctl\">Restart "
                   "and pause</h2><div class=\"row\">");
    if (!is_static) {
        form_open(c, sp, "restart", "inline");
        html_printf(b, "<button type=\"submit\">Restart</button></form>");
        form_open(c, sp, "factory", "inline");
        html_printf(b, "<button type=\"submit\">Factory rebuild</button></form>");
    }
    form_open(c, sp, sp->paused ? "resume" : "pause", "inline");
    html_printf(b, "<button type=\"submit\">%s</button></form></div></section>",
                sp->paused ? "Resume" : "Pause");
}

static void section_manage(ui_ctx *c, const space *sp)
{
    buf *b = &c->body;
    html_printf(b, "<section class=\"panel\" aria-labelledby=\"s-rename\"><h2 id=\"s-rename\">"
                   "Rename</h2>");
    form_open(c, sp, "rename", "row");
    html_printf(b,
                "<div class=\"field\"><label for=\"rn-owner\">Owner</label><input id=\"rn-owner\" "
                "name=\"owner\" required value=\"%s\"></div><div class=\"field grow\"><label "
                "for=\"rn-name\">New name</label><input id=\"rn-name\" name=\"name\" required "
                "value=\"%s\"></div><button type=\"submit\">Rename</button></form></section>",
                sp->owner, sp->name);
    html_printf(b, "<section class=\"panel\" aria-labelledby=\"s-dup\"><h2 id=\"s-dup\">"
                   "Duplicate</h2><p class=\"help\">A copy with the whole history, the hardware "
                   "and the variables; not the secrets.</p>");
    form_open(c, sp, "duplicate", "row");
    html_printf(b,
                "<div class=\"field\"><label for=\"dup-owner\">Owner</label><input "
                "id=\"dup-owner\" name=\"owner\" required value=\"%s\"></div><div class=\"field "
                "grow\"><label for=\"dup-name\">Name of the copy</label><input id=\"dup-name\" "
                "name=\"name\" required></div><div class=\"field\"><label for=\"dup-vis\">"
                "Visibility</label><select id=\"dup-vis\" name=\"visibility\"><option%h>public"
                "</option><option%h>private</option></select></div><button "
                "type=\"submit\">Duplicate</button></form></section>",
                c->viewer.user.name, sp->is_private ? "" : " selected",
                sp->is_private ? " selected" : "");
    html_printf(b, "<section class=\"panel danger-zone\" aria-labelledby=\"s-del\"><h2 "
                   "id=\"s-del\">Delete this space</h2><p>This deletes the repository, its "
                   "history, secrets and variables, and stops the app. It cannot be undone.</p>");
    form_open(c, sp, "delete", "row");
    html_printf(b,
                "<div class=\"field grow\"><label for=\"del-confirm\">Type <strong>%s</strong> "
                "to confirm</label><input id=\"del-confirm\" name=\"confirm\" required "
                "autocomplete=\"off\" data-confirm-match=\"%s\"></div><button type=\"submit\" "
                "class=\"danger\" id=\"delete-button\">Delete space</button></form></section>",
                sp->full_id, sp->full_id);
}

static void settings_render(ui_ctx *c, const space *sp, int status, const char *error)
{
    ui_space_header(c, sp, "settings");
    char *msg = ui_query(c, "msg");
    if (error)
        html_printf(&c->body, "<p class=\"alert\" role=\"alert\">%s</p>", error);
    for (size_t i = 0; !error && msg && i < sizeof done_messages / sizeof done_messages[0]; i++)
        if (strcmp(msg, done_messages[i].action) == 0)
            html_printf(&c->body, "<p class=\"notice\" role=\"status\">%s</p>",
                        done_messages[i].message);
    free(msg);
    html_printf(&c->body, "<div class=\"settings\">");
    section_visibility(c, sp);
    section_runtime(c, sp);
    section_env(c, sp, true);
    section_env(c, sp, false);
    section_control(c, sp);
    section_manage(c, sp);
    html_printf(&c->body, "</div>");
    ui_page(c, status, sp->full_id);
}

static void settings_page(ui_ctx *c)
{
    space sp;
    if (!ui_space_load(c, c->req->params[0], c->req->params[1], false, &sp))
        return;
    if (!ops_is_owner(&c->viewer, &sp)) {
        ui_error(c, 403, "Not allowed", "Only the owner of this space can see its settings.");
        return;
    }
    settings_render(c, &sp, 200, NULL);
}

/* ---- actions -------------------------------------------------------------------------- */

static bool act_visibility(ui_ctx *c, space *sp, ops_error *err)
{
    const char *vis = ui_form(c, "visibility");
    if (!vis || (strcmp(vis, "public") != 0 && strcmp(vis, "private") != 0)) {
        snprintf(err->message, sizeof err->message, "Choose public or private.");
        err->status = 400;
        return false;
    }
    return ops_space_set_private(c->a, sp, strcmp(vis, "private") == 0, err);
}

static bool act_sleep(ui_ctx *c, space *sp, ops_error *err)
{
    long long secs = 0;
    const char *s = ui_form(c, "seconds");
    if (s && !s[0])
        return true; /* "server default" kept */
    if (!s || util_parse_int(s, -1, 1LL << 40, &secs) < 0) {
        snprintf(err->message, sizeof err->message, "The sleep time must be a number of seconds.");
        err->status = 400;
        return false;
    }
    return ops_space_set_sleep(c->a, sp, secs, err);
}

static bool act_hardware(ui_ctx *c, space *sp, ops_error *err)
{
    return ops_space_set_hardware(c->a, sp, ui_form(c, "hardware"), err);
}

static bool env_put(ui_ctx *c, space *sp, bool secret, ops_error *err)
{
    const char *key = ui_form(c, "key"), *value = ui_form(c, "value");
    const char *desc = ui_form(c, "description");
    if (!ops_env_put(c->a, sp, secret, key ? key : "", value ? value : "", desc, err))
        return false;
    ops_env_changed(c->a, sp);
    return true;
}

static bool act_secret(ui_ctx *c, space *sp, ops_error *err)
{
    return env_put(c, sp, true, err);
}

static bool act_variable(ui_ctx *c, space *sp, ops_error *err)
{
    return env_put(c, sp, false, err);
}

static bool act_secret_delete(ui_ctx *c, space *sp, ops_error *err)
{
    const char *key = ui_form(c, "key");
    return ops_env_delete(c->a, sp, true, key ? key : "", err);
}

static bool act_variable_delete(ui_ctx *c, space *sp, ops_error *err)
{
    const char *key = ui_form(c, "key");
    return ops_env_delete(c->a, sp, false, key ? key : "", err);
}

static bool act_restart(ui_ctx *c, space *sp, ops_error *err)
{
    return ops_space_restart(c->a, sp, false, err);
}

static bool act_factory(ui_ctx *c, space *sp, ops_error *err)
{
    return ops_space_restart(c->a, sp, true, err);
}

static bool act_pause(ui_ctx *c, space *sp, ops_error *err)
{
    return ops_space_pause(c->a, sp, err);
}

static bool act_rename(ui_ctx *c, space *sp, ops_error *err)
{
    const char *owner = ui_form(c, "owner"), *name = ui_form(c, "name");
    return ops_space_move(c->a, &c->viewer.user, sp, owner ? owner : "", name ? name : "", err);
}

static const struct {
    const char *action;
    bool (*fn)(ui_ctx *c, space *sp, ops_error *err);
} actions[] = {
    {"visibility", act_visibility},
    {"sleep", act_sleep},
    {"hardware", act_hardware},
    {"secret", act_secret},
    {"secret-delete", act_secret_delete},
    {"variable", act_variable},
    {"variable-delete", act_variable_delete},
    {"restart", act_restart},
    {"factory", act_factory},
    {"pause", act_pause},
    {"resume", act_restart},
    {"rename", act_rename},
};

static void redirect_to(ui_ctx *c, const space *sp, const char *tab, const char *msg)
{
    buf loc;
    buf_init(&loc);
    html_printf(&loc, "/spaces/%u/%u%h%h%u", sp->owner, sp->name, tab, msg ? "?msg=" : "", msg);
    ui_redirect(c, loc.data);
    buf_free(&loc);
}

static void duplicate(ui_ctx *c, space *sp)
{
    const char *owner = ui_form(c, "owner"), *name = ui_form(c, "name");
    const char *vis = ui_form(c, "visibility");
    ops_error err;
    space copy;
    if (!ops_space_duplicate(c->a, &c->viewer.user, sp, owner ? owner : "", name ? name : "",
                             vis ? strcmp(vis, "private") == 0 : sp->is_private, true, &copy,
                             &err)) {
        settings_render(c, sp, err.status, err.message);
        return;
    }
    lifecycle_restart(c->a, &copy, false);
    redirect_to(c, &copy, "", NULL);
}

static void delete_space(ui_ctx *c, space *sp)
{
    ops_error err;
    const char *confirm = ui_form(c, "confirm");
    if (!confirm || strcmp(confirm, sp->full_id) != 0) {
        settings_render(c, sp, 400, "Type the space's full name to confirm the deletion.");
        return;
    }
    if (!ops_space_delete(c->a, sp, &err)) {
        settings_render(c, sp, err.status, err.message);
        return;
    }
    log_info("ui", "%s deleted space %s", c->viewer.user.name, sp->full_id);
    ui_redirect(c, "/");
}

static void settings_post(ui_ctx *c)
{
    space sp;
    const char *action = c->req->params[2];
    if (!ui_space_load(c, c->req->params[0], c->req->params[1], true, &sp))
        return;
    if (strcmp(action, "duplicate") == 0) {
        duplicate(c, &sp);
        return;
    }
    if (strcmp(action, "delete") == 0) {
        delete_space(c, &sp);
        return;
    }
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        if (strcmp(action, actions[i].action) != 0)
            continue;
        ops_error err = {0};
        if (!actions[i].fn(c, &sp, &err)) {
            settings_render(c, &sp, err.status ? err.status : 400, err.message);
            return;
        }
        log_info("ui", "%s: %s on %s", c->viewer.user.name, action, sp.full_id);
        redirect_to(c, &sp, "/settings", action);
        return;
    }
    ui_error(c, 404, "Not found", "There is no such setting.");
}

const ui_route_entry ui_settings_routes[] = {
    {HTTP_GET, "/spaces/:owner/:name/settings", settings_page, 0},
    {HTTP_POST, "/spaces/:owner/:name/settings/:action", settings_post, 0},
};
const size_t ui_settings_routes_count = sizeof ui_settings_routes / sizeof ui_settings_routes[0];
