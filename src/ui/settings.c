/* The settings tab (owner only): each form posts to
 * /spaces/<owner>/<name>/settings/<action>, which calls the same function the
 * API's handler calls (api/ops.h), then comes back here. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ops.h"
#include "git/source.h"
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
    {"source", "Source saved. The space follows it from now on."},
    {"source-clear", "Tracking turned off: pushes to this space are accepted again."},
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

/* The remote repository the space follows (git/source.h): what is stored,
 * the state of its syncs, and a form to change or stop it. Neither the deploy
 * token nor the webhook secret is ever read back into a page. */
static void source_state(ui_ctx *c, const space *sp, const source_config *cfg)
{
    buf *b = &c->body;
    json_t *rt = json_object();
    source_runtime_json(c->a, sp, rt);
    json_t *st = json_object_get(rt, "source");
    const char *error = json_string_value(json_object_get(st, "error"));
    html_printf(b,
                "<dl class=\"facts\" id=\"source-state\"><dt>Follows</dt><dd><code>%s</code> "
                "branch <code>%s</code></dd><dt>Webhook</dt><dd><code>%s/api/spaces/%s/webhook"
                "</code> (%s)</dd><dt>Polling</dt><dd>",
                cfg->url, cfg->branch, c->a->base_url, sp->full_id,
                *cfg->secret_sealed ? "signed with the stored secret" : "no secret");
    if (cfg->poll_seconds)
        html_printf(b, "every %l s", (long long)cfg->poll_seconds);
    else
        html_printf(b, "off (webhooks only)");
    html_printf(b, "</dd><dt>State</dt><dd>%h%s</dd></dl>",
                json_is_true(json_object_get(st, "syncing")) ? "syncing"
                : error                                      ? "error: "
                                                             : "ok",
                error ? error : "");
    json_decref(rt);
}

static void section_source(ui_ctx *c, const space *sp, const char *new_secret)
{
    buf *b = &c->body;
    source_config cfg = {0};
    int rc = source_get(c->a, sp->id, &cfg);
    html_printf(b, "<section class=\"panel\" aria-labelledby=\"s-src\"><h2 id=\"s-src\">"
                   "Tracked repository</h2><p class=\"help\">Follow a branch of a repository on "
                   "GitHub, GitLab, Gitea or any git server: each push there (signed webhook, or "
                   "polling) is deployed here, and direct pushes to this space are refused.</p>");
    if (new_secret && *new_secret)
        html_printf(b,
                    "<p class=\"notice\" role=\"status\" id=\"webhook-secret\">Webhook secret "
                    "(shown once, give it to the forge): <code>%s</code></p>",
                    new_secret);
    if (rc == 0)
        source_state(c, sp, &cfg);
    form_open(c, sp, "source", "stack");
    html_printf(b,
                "<div class=\"row\"><div class=\"field grow\"><label for=\"src-url\">Repository "
                "URL</label><input id=\"src-url\" name=\"url\" type=\"url\" required "
                "placeholder=\"https://github.com/owner/repo.git\" value=\"%s\"></div><div "
                "class=\"field\"><label for=\"src-branch\">Branch</label><input "
                "id=\"src-branch\" name=\"branch\" required value=\"%s\"></div></div>"
                "<div class=\"row\"><div class=\"field grow\"><label for=\"src-token\">Deploy "
                "token (private repositories)</label><input id=\"src-token\" name=\"token\" "
                "type=\"password\" autocomplete=\"off\" placeholder=\"%h\"></div><div "
                "class=\"field grow\"><label for=\"src-secret\">Webhook secret</label><input "
                "id=\"src-secret\" name=\"secret\" type=\"password\" autocomplete=\"off\" "
                "minlength=\"8\" placeholder=\"%h\"></div><div class=\"field\"><label "
                "for=\"src-poll\">Poll every (s, 0 off)</label><input id=\"src-poll\" "
                "name=\"poll\" type=\"number\" min=\"0\" max=\"%l\" value=\"%l\"></div></div>"
                "<button type=\"submit\">%h</button></form>",
                rc == 0 ? cfg.url : "", rc == 0 ? cfg.branch : "main",
                rc == 0 && *cfg.token_sealed ? "unchanged (stored)" : "none",
                rc == 0 && *cfg.secret_sealed ? "unchanged (stored)" : "made for you when empty",
                (long long)SOURCE_POLL_MAX, rc == 0 ? (long long)cfg.poll_seconds : 0LL,
                rc == 0 ? "Save source" : "Follow this repository");
    if (rc == 0) {
        form_open(c, sp, "source-clear", "inline");
        html_printf(b, "<button type=\"submit\" class=\"danger\">Stop tracking</button>"
                       "</form>");
        source_config_free(&cfg);
    }
    html_printf(b, "</section>");
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

static void settings_render_secret(ui_ctx *c, const space *sp, int status, const char *error,
                                   const char *new_secret)
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
    section_source(c, sp, new_secret);
    section_manage(c, sp);
    html_printf(&c->body, "</div>");
    ui_page(c, status, sp->full_id);
}

static void settings_render(ui_ctx *c, const space *sp, int status, const char *error)
{
    settings_render_secret(c, sp, status, error, NULL);
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

static bool act_source_clear(ui_ctx *c, space *sp, ops_error *err)
{
    return ops_source_clear(c->a, sp, err);
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
    {"source-clear", act_source_clear},
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

/* An empty password field keeps what is stored. A secret Hangar made is shown
 * on the page this answers, once: a redirect would lose it. */
static void source_post(ui_ctx *c, space *sp)
{
    const char *token = ui_form(c, "token"), *secret = ui_form(c, "secret");
    const char *poll = ui_form(c, "poll");
    long long seconds = 0;
    ops_source src = {ui_form(c, "url"), ui_form(c, "branch"), token && *token ? token : NULL,
                      secret && *secret ? secret : NULL, 0};
    ops_error err;
    char new_secret[SOURCE_SECRET_MAX + 1] = "";
    if (poll && *poll && util_parse_int(poll, 0, SOURCE_POLL_MAX, &seconds) < 0) {
        settings_render(c, sp, 400, "Poll every must be a number of seconds (0: never).");
        return;
    }
    src.poll_seconds = (int)seconds;
    if (!ops_source_set(c->a, sp, c->viewer.user.admin, &src, new_secret, &err)) {
        settings_render(c, sp, err.status, err.message);
        return;
    }
    log_info("ui", "%s set the source of %s", c->viewer.user.name, sp->full_id);
    if (new_secret[0])
        settings_render_secret(c, sp, 200, NULL, new_secret);
    else
        redirect_to(c, sp, "/settings", "source");
    sodium_memzero(new_secret, sizeof new_secret);
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
    if (strcmp(action, "source") == 0) {
        source_post(c, &sp);
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
