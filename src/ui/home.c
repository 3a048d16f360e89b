/* The home page (a grid of the spaces the viewer may see) and the new-space form. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/ops.h"
#include "git/repo.h"
#include "lib/log.h"
#include "space/config.h"
#include "space/hardware.h"
#include "space/lifecycle.h"
#include "store/store.h"
#include "ui/html.h"
#include "ui/ui.h"

#define HOME_MAX_SPACES 1000
#define HOME_MAX_OWNERS 200

static const char *const sdks[] = {"gradio", "streamlit", "docker", "static"};
/* HF's card colors; anything else falls back to the defaults. */
static const char *const colors[] = {"red",    "yellow", "green", "blue",
                                     "indigo", "purple", "pink",  "gray"};

typedef struct space_list {
    space *items;
    size_t n, cap;
} space_list;

static void collect(const space *sp, void *arg)
{
    space_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        space *items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = *sp;
}

static const char *color_or(const char *c, const char *fallback)
{
    for (size_t i = 0; c && i < sizeof colors / sizeof colors[0]; i++)
        if (strcmp(c, colors[i]) == 0)
            return c;
    return fallback;
}

static const char *card_str(json_t *card, const char *key)
{
    return json_string_value(json_object_get(card, key));
}

/* The README's front matter at the space's head, {} when there is none. */
static json_t *card_data(ui_ctx *c, const space *sp)
{
    json_t *card = NULL;
    if (sp->sha[0]) {
        char repo[4200], *readme = NULL;
        size_t len = 0;
        space_repo_path(c->a->config.data_dir, sp->owner, sp->name, repo, sizeof repo);
        if (repo_read_file(repo, sp->sha, "README.md", &readme, &len) == 0)
            card = config_card_data(readme, len);
        free(readme);
    }
    return card ? card : json_object();
}

static bool contains_nocase(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle) != NULL;
}

static void render_card(ui_ctx *c, const space *sp, json_t *card)
{
    const char *title = card_str(card, "title");
    const char *emoji = card_str(card, "emoji");
    const char *desc = card_str(card, "short_description");
    const char *stage = lifecycle_stage(c->a, sp);
    html_printf(&c->body,
                "<li class=\"card\"><a class=\"card-link\" href=\"/spaces/%u/%u\">"
                "<div class=\"banner from-%s to-%s\"><span class=\"emoji\" "
                "aria-hidden=\"true\">%s</span><h2 class=\"card-title\">%s</h2></div>"
                "<div class=\"card-body\">%h%s%h<p class=\"meta\">"
                "<span class=\"badge stage-%s\">%s</span><span class=\"tag\">%s</span>%h"
                "<span class=\"owner\">%s/%s</span></p></div></a></li>",
                sp->owner, sp->name, color_or(card_str(card, "colorFrom"), "blue"),
                color_or(card_str(card, "colorTo"), "purple"), emoji ? emoji : "\xF0\x9F\x9A\x80",
                title ? title : sp->name, desc ? "<p class=\"desc\">" : "", desc,
                desc ? "</p>" : "", ui_stage_class(stage), stage, sp->sdk,
                sp->is_private ? "<span class=\"tag private\">private</span>" : "", sp->owner,
                sp->name);
}

static bool owner_seen(char owners[][SPACE_NAME_MAX + 1], size_t n, const char *owner)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(owners[i], owner) == 0)
            return true;
    return false;
}

static void render_filters(ui_ctx *c, const space_list *all, const char *search, const char *author,
                           const char *sdk)
{
    char owners[HOME_MAX_OWNERS][SPACE_NAME_MAX + 1];
    size_t nowners = 0;
    buf *b = &c->body;
    html_printf(b,
                "<form class=\"filters\" method=\"get\" action=\"/\" role=\"search\">"
                "<div class=\"field\"><label for=\"search\">Search</label><input id=\"search\" "
                "name=\"search\" type=\"search\" value=\"%s\" placeholder=\"Name or title\"></div>"
                "<div class=\"field\"><label for=\"author\">Owner</label><select id=\"author\" "
                "name=\"author\"><option value=\"\">Any owner</option>",
                search ? search : "");
    for (size_t i = 0; i < all->n && nowners < HOME_MAX_OWNERS; i++) {
        if (owner_seen(owners, nowners, all->items[i].owner))
            continue;
        snprintf(owners[nowners++], SPACE_NAME_MAX + 1, "%s", all->items[i].owner);
        html_printf(b, "<option%h>%s</option>",
                    author && strcmp(author, all->items[i].owner) == 0 ? " selected" : "",
                    all->items[i].owner);
    }
    html_printf(b, "</select></div><div class=\"field\"><label for=\"sdk\">SDK</label>"
                   "<select id=\"sdk\" name=\"sdk\"><option value=\"\">Any SDK</option>");
    for (size_t i = 0; i < sizeof sdks / sizeof sdks[0]; i++)
        html_printf(b, "<option%h>%s</option>", sdk && strcmp(sdk, sdks[i]) == 0 ? " selected" : "",
                    sdks[i]);
    html_printf(b, "</select></div><button type=\"submit\">Filter</button></form>");
}

static void home_page(ui_ctx *c)
{
    char *search = ui_query(c, "search"), *author = ui_query(c, "author");
    char *sdk = ui_query(c, "sdk");
    space_list all = {0};
    store_space_query q = {0};
    q.sort = "lastModified";
    q.descending = true;
    q.viewer_id = c->viewer.authenticated ? c->viewer.user.id : 0;
    q.viewer_admin = c->viewer.authenticated && c->viewer.user.admin;
    q.limit = HOME_MAX_SPACES;
    if (store_space_list(c->a->store, &q, collect, &all) < 0) {
        ui_error(c, 500, "Something went wrong", "The spaces could not be listed.");
        goto done;
    }
    html_printf(&c->body, "<div class=\"page-head\"><h1>Spaces</h1>%h</div>",
                c->viewer.authenticated ? "<a class=\"button primary\" href=\"/new\">New space</a>"
                                        : "");
    render_filters(c, &all, search, author, sdk);
    html_printf(&c->body, "<ul class=\"grid\" aria-label=\"Spaces\">");
    size_t shown = 0;
    for (size_t i = 0; i < all.n; i++) {
        const space *sp = &all.items[i];
        if ((author && author[0] && strcmp(author, sp->owner) != 0) ||
            (sdk && sdk[0] && strcmp(sdk, sp->sdk) != 0))
            continue;
        json_t *card = card_data(c, sp);
        if (!search || !search[0] || contains_nocase(sp->full_id, search) ||
            contains_nocase(card_str(card, "title"), search)) {
            render_card(c, sp, card);
            shown++;
        }
        json_decref(card);
    }
    html_printf(&c->body, "</ul>");
    if (shown == 0)
        html_printf(&c->body, "<p class=\"empty\">%s</p>",
                    all.n ? "No space matches these filters."
                          : "There are no spaces yet. Sign in and create the first one.");
    ui_page(c, 200, "Spaces");
done:
    free(all.items);
    free(search);
    free(author);
    free(sdk);
}

/* ---- new space -------------------------------------------------------------------- */

static void hardware_options(buf *b, const char *selected)
{
    json_t *list = hardware_list_json(), *item;
    size_t i;
    json_array_foreach(list, i, item)
    {
        const char *name = json_string_value(json_object_get(item, "name"));
        if (!name)
            continue;
        html_printf(b, "<option value=\"%s\"%h>%s (%s, %s)</option>", name,
                    selected && strcmp(selected, name) == 0 ? " selected" : "",
                    json_string_value(json_object_get(item, "prettyName")),
                    json_string_value(json_object_get(item, "cpu")),
                    json_string_value(json_object_get(item, "ram")));
    }
    json_decref(list);
}

static void new_form(ui_ctx *c, const char *error)
{
    const char *owner = ui_form(c, "owner"), *name = ui_form(c, "name");
    const char *sdk = ui_form(c, "sdk"), *vis = ui_form(c, "visibility");
    buf *b = &c->body;
    html_printf(b, "<section class=\"panel narrow\"><h1>Create a new space</h1>");
    if (error)
        html_printf(b, "<p class=\"alert\" role=\"alert\">%s</p>", error);
    html_printf(b, "<form method=\"post\" action=\"/new\" class=\"stack\">");
    ui_csrf_field(c, b);
    html_printf(b,
                "<div class=\"row\"><div class=\"field\"><label for=\"owner\">Owner</label>"
                "<input id=\"owner\" name=\"owner\" required value=\"%s\" %h></div>"
                "<div class=\"field grow\"><label for=\"name\">Space name</label>"
                "<input id=\"name\" name=\"name\" required maxlength=\"96\" "
                "pattern=\"[A-Za-z0-9][A-Za-z0-9._\\-]*\" value=\"%s\" "
                "aria-describedby=\"name-help\"></div></div>"
                "<p class=\"help\" id=\"name-help\">Letters, digits, '-', '_' and '.'.</p>"
                "<fieldset><legend>SDK</legend><div class=\"choices\">",
                owner ? owner : c->viewer.user.name,
                c->viewer.user.admin ? "" : "readonly aria-readonly=\"true\"", name ? name : "");
    for (size_t i = 0; i < sizeof sdks / sizeof sdks[0]; i++)
        html_printf(b,
                    "<label class=\"choice\"><input type=\"radio\" name=\"sdk\" value=\"%s\"%h> "
                    "%s</label>",
                    sdks[i], (sdk ? strcmp(sdk, sdks[i]) == 0 : i == 0) ? " checked" : "", sdks[i]);
    bool priv = vis && strcmp(vis, "private") == 0;
    html_printf(b,
                "</div></fieldset><fieldset><legend>Visibility</legend><div class=\"choices\">"
                "<label class=\"choice\"><input type=\"radio\" name=\"visibility\" "
                "value=\"public\"%h> Public: anyone can see it</label>"
                "<label class=\"choice\"><input type=\"radio\" name=\"visibility\" "
                "value=\"private\"%h> Private: only you</label></div></fieldset>"
                "<div class=\"field\"><label for=\"hardware\">Hardware</label>"
                "<select id=\"hardware\" name=\"hardware\">",
                priv ? "" : " checked", priv ? " checked" : "");
    hardware_options(b, ui_form(c, "hardware"));
    html_printf(b, "</select></div><button type=\"submit\" class=\"primary\">Create space</button>"
                   "</form></section>");
}

static void new_page(ui_ctx *c)
{
    if (!c->viewer.authenticated) {
        ui_redirect(c, "/login?next=/new");
        return;
    }
    new_form(c, NULL);
    ui_page(c, 200, "New space");
}

static void new_post(ui_ctx *c)
{
    if (!c->viewer.authenticated || !auth_can_write(&c->viewer)) {
        ui_error(c, 403, "Not allowed", "Creating a space needs a session with a write token.");
        return;
    }
    const char *owner = ui_form(c, "owner"), *name = ui_form(c, "name");
    const char *sdk = ui_form(c, "sdk"), *vis = ui_form(c, "visibility");
    const char *hardware = ui_form(c, "hardware");
    ops_error err;
    space sp;
    if (!owner || !name || !sdk) {
        new_form(c, "Give the space an owner, a name and an SDK.");
        ui_page(c, 400, "New space");
        return;
    }
    bool is_private = vis && strcmp(vis, "private") == 0;
    if (!ops_space_create(c->a, &c->viewer.user, owner, name, sdk, is_private, NULL, &sp, &err) ||
        (hardware && hardware[0] && strcmp(hardware, sp.hardware) != 0 &&
         !ops_space_set_hardware(c->a, &sp, hardware, &err))) {
        new_form(c, err.message);
        ui_page(c, err.status, "New space");
        return;
    }
    log_info("ui", "%s created space %s (sdk %s, %s)", c->viewer.user.name, sp.full_id, sp.sdk,
             sp.is_private ? "private" : "public");
    buf loc;
    buf_init(&loc);
    html_printf(&loc, "/spaces/%u/%u/files", sp.owner, sp.name);
    ui_redirect(c, loc.data);
    buf_free(&loc);
}

const ui_route_entry ui_home_routes[] = {
    {HTTP_GET, "/", home_page, 0},
    {HTTP_GET, "/new", new_page, 0},
    {HTTP_POST, "/new", new_post, 0},
};
const size_t ui_home_routes_count = sizeof ui_home_routes / sizeof ui_home_routes[0];
