/* The files tab: the tree at main, a file, the history, and uploads that
 * commit through the commit module as the API's commit endpoint does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ops.h"
#include "git/commit.h"
#include "git/repo.h"
#include "lib/log.h"
#include "space/lifecycle.h"
#include "ui/html.h"
#include "ui/ui.h"

#define FILES_VIEW_MAX (512 * 1024) /* larger files are offered as downloads */
#define FILES_LOG_MAX 200
#define FILES_UPLOAD_MAX (32 * 1024 * 1024)
#define FILES_REPO_PATH 4200

typedef struct tree_item {
    char *path;
    repo_entry entry;
} tree_item;

typedef struct tree_list {
    tree_item *items;
    size_t n, cap;
} tree_list;

static int tree_add(const char *file, const repo_entry *entry, void *arg)
{
    tree_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        tree_item *items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return -1;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n].path = strdup(file);
    l->items[l->n].entry = *entry;
    if (!l->items[l->n].path)
        return -1;
    l->n++;
    return 0;
}

static void tree_free(tree_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].path);
    free(l->items);
}

static void repo_of(ui_ctx *c, const space *sp, char repo[FILES_REPO_PATH])
{
    space_repo_path(c->a->config.data_dir, sp->owner, sp->name, repo, FILES_REPO_PATH);
}

/* root / a / b links to each folder of path. */
static void breadcrumbs(ui_ctx *c, const space *sp, const char *path)
{
    buf *b = &c->body;
    html_printf(b,
                "<nav class=\"crumbs\" aria-label=\"Folder\"><a href=\"/spaces/%u/%u/files\">%s"
                "</a>",
                sp->owner, sp->name, sp->name);
    const char *p = path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        char *prefix = strndup(path, (size_t)(p - path) + len);
        char *part = strndup(p, len);
        if (prefix && part)
            html_printf(b, " / <a href=\"/spaces/%u/%u/files/%p\">%s</a>", sp->owner, sp->name,
                        prefix, part);
        free(prefix);
        free(part);
        p += len + (slash ? 1 : 0);
    }
    html_printf(b, "</nav>");
}

static void upload_form(ui_ctx *c, const space *sp, const char *dir)
{
    buf *b = &c->body;
    html_printf(b,
                "<section class=\"panel\"><h2>Add or replace files</h2>"
                "<form method=\"post\" action=\"/spaces/%u/%u/upload\" "
                "enctype=\"multipart/form-data\" class=\"stack\">",
                sp->owner, sp->name);
    ui_csrf_field(c, b);
    html_printf(
        b,
        "<div class=\"field\"><label for=\"files\">Files</label><input id=\"files\" "
        "name=\"files\" type=\"file\" multiple required></div>"
        "<div class=\"row\"><div class=\"field\"><label for=\"dir\">Into folder</label>"
        "<input id=\"dir\" name=\"dir\" value=\"%s\" placeholder=\"(top level)\"></div>"
        "<div class=\"field grow\"><label for=\"summary\">Commit message</label>"
        "<input id=\"summary\" name=\"summary\" placeholder=\"Upload files\"></div></div>"
        "<button type=\"submit\" class=\"primary\">Commit to main</button></form></section>",
        dir);
}

static void render_tree(ui_ctx *c, const space *sp, const char *dir, const tree_list *l)
{
    buf *b = &c->body;
    html_printf(b,
                "<table class=\"files\"><caption class=\"sr-only\">Files in %s</caption>"
                "<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Size</th></tr></thead>"
                "<tbody>",
                dir[0] ? dir : "the top folder");
    /* Folders first, then files, each in git's (name) order. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < l->n; i++) {
            const tree_item *it = &l->items[i];
            if (it->entry.is_dir != (pass == 0))
                continue;
            const char *base = strrchr(it->path, '/');
            base = base ? base + 1 : it->path;
            char size[32] = "";
            if (!it->entry.is_dir)
                ui_format_size(it->entry.size, size, sizeof size);
            html_printf(b,
                        "<tr><td><a href=\"/spaces/%u/%u/%h/%p\" class=\"%h\">%s%h</a></td>"
                        "<td>%s</td></tr>",
                        sp->owner, sp->name, it->entry.is_dir ? "files" : "blob", it->path,
                        it->entry.is_dir ? "dir" : "file", base, it->entry.is_dir ? "/" : "", size);
        }
    }
    html_printf(b, "</tbody></table>");
}

/* The files page of folder dir, with an error above the upload form when a
 * commit failed. */
static void files_render(ui_ctx *c, const space *sp, const char *dir, int status, const char *error)
{
    char repo[FILES_REPO_PATH], sha[41];
    tree_list l = {0};
    repo_of(c, sp, repo);
    if (repo_head(repo, sha) < 0) {
        ui_error(c, 500, "Something went wrong", "The repository could not be read.");
        return;
    }
    ui_space_header(c, sp, "files");
    char *msg = ui_query(c, "msg");
    if (error)
        html_printf(&c->body, "<p class=\"alert\" role=\"alert\">%s</p>", error);
    else if (msg && strcmp(msg, "committed") == 0)
        html_printf(&c->body, "<p class=\"notice\" role=\"status\">Committed to main. The space "
                              "rebuilds now.</p>");
    free(msg);
    html_printf(&c->body, "<div class=\"files-head\">");
    breadcrumbs(c, sp, dir);
    html_printf(&c->body, "<a href=\"/spaces/%u/%u/commits\">History</a></div>", sp->owner,
                sp->name);
    int rc = sha[0] ? repo_tree_walk(repo, sha, dir, false, tree_add, &l) : 0;
    if (rc < 0)
        html_printf(&c->body, "<p class=\"alert\">The files could not be listed.</p>");
    else if (rc > 0)
        html_printf(&c->body, "<p class=\"empty\">There is no folder %s at main.</p>", dir);
    else if (l.n == 0)
        html_printf(&c->body, "<p class=\"empty\">No files yet.</p>");
    else
        render_tree(c, sp, dir, &l);
    if (ops_can_write(&c->viewer, sp))
        upload_form(c, sp, dir);
    ui_page(c, rc > 0 ? 404 : status, sp->full_id);
    tree_free(&l);
}

static void files_page(ui_ctx *c)
{
    space sp;
    if (!ui_space_load(c, c->req->params[0], c->req->params[1], false, &sp))
        return;
    const char *dir = c->req->nparams > 2 ? c->req->params[2] : "";
    char *trimmed = strdup(dir);
    if (!trimmed) {
        ui_error(c, 500, "Something went wrong", "Out of memory.");
        return;
    }
    size_t len = strlen(trimmed);
    while (len && trimmed[len - 1] == '/')
        trimmed[--len] = '\0';
    files_render(c, &sp, trimmed, 200, NULL);
    free(trimmed);
}

/* Text that a <pre> can show: no NUL byte and valid UTF-8. */
static bool printable(const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    while (p < end) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (*p == 0 || n < 0 || end - p <= n)
            return false;
        for (int i = 1; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += n + 1;
    }
    return true;
}

static void blob_page(ui_ctx *c)
{
    space sp;
    char repo[FILES_REPO_PATH], sha[41], size[32];
    repo_entry entry;
    char *data = NULL;
    size_t len = 0;
    if (!ui_space_load(c, c->req->params[0], c->req->params[1], false, &sp))
        return;
    const char *file = c->req->params[2];
    repo_of(c, &sp, repo);
    int rc = repo_head(repo, sha) < 0 ? -1
             : !sha[0] || !file[0]    ? 1
                                      : repo_entry_at(repo, sha, file, &entry);
    if (rc == 0 && entry.is_dir)
        rc = 1;
    if (rc != 0) {
        ui_error(c, rc < 0 ? 500 : 404, rc < 0 ? "Something went wrong" : "File not found",
                 rc < 0 ? "The repository could not be read." : "There is no such file at main.");
        return;
    }
    ui_space_header(c, &sp, "files");
    html_printf(&c->body, "<div class=\"files-head\">");
    breadcrumbs(c, &sp, file);
    ui_format_size(entry.size, size, sizeof size);
    html_printf(&c->body,
                "<span>%s &middot; <a href=\"/spaces/%u/%u/resolve/main/%p\">Download</a> "
                "&middot; <a href=\"/spaces/%u/%u/commits\">History</a></span></div>",
                size, sp.owner, sp.name, file, sp.owner, sp.name);
    if (entry.size <= FILES_VIEW_MAX && repo_read_file(repo, sha, file, &data, &len) == 0 &&
        printable(data, len)) {
        html_printf(&c->body, "<pre class=\"blob\" tabindex=\"0\" aria-label=\"%s\">", file);
        html_escape(&c->body, data, len);
        html_printf(&c->body, "</pre>");
    } else
        html_printf(&c->body, "<p class=\"empty\">This file is binary or too large to show.</p>");
    free(data);
    ui_page(c, 200, file);
}

static int commit_row(const repo_commit *commit, void *arg)
{
    ui_ctx *c = arg;
    char when[40], short_sha[8];
    ui_format_time(commit->time_ms, when, sizeof when);
    snprintf(short_sha, sizeof short_sha, "%.7s", commit->sha);
    html_printf(&c->body,
                "<tr><td><code title=\"%s\">%s</code></td><td>%s</td><td>%s</td>"
                "<td><time>%s</time></td></tr>",
                commit->sha, short_sha, commit->summary, commit->author, when);
    return 0;
}

static void commits_page(ui_ctx *c)
{
    space sp;
    char repo[FILES_REPO_PATH], sha[41];
    if (!ui_space_load(c, c->req->params[0], c->req->params[1], false, &sp))
        return;
    repo_of(c, &sp, repo);
    if (repo_head(repo, sha) < 0) {
        ui_error(c, 500, "Something went wrong", "The repository could not be read.");
        return;
    }
    ui_space_header(c, &sp, "files");
    html_printf(&c->body, "<h2>History of main</h2>");
    if (!sha[0]) {
        html_printf(&c->body, "<p class=\"empty\">No commits yet.</p>");
    } else {
        html_printf(&c->body, "<table class=\"commits\"><thead><tr><th scope=\"col\">Commit</th>"
                              "<th scope=\"col\">Message</th><th scope=\"col\">Author</th>"
                              "<th scope=\"col\">Date</th></tr></thead><tbody>");
        if (repo_log(repo, sha, commit_row, c) < 0)
            html_printf(&c->body, "<tr><td colspan=\"4\">The history could not be read.</td></tr>");
        html_printf(&c->body, "</tbody></table>");
    }
    ui_page(c, 200, sp.full_id);
}

/* ---- upload ------------------------------------------------------------------------ */

static int commit_status(commit_result rc)
{
    return rc == COMMIT_INVALID     ? 400
           : rc == COMMIT_NOT_FOUND ? 404
           : rc == COMMIT_CONFLICT  ? 409
           : rc == COMMIT_NO_SPACE  ? 507
                                    : 500;
}

/* Adds every uploaded file of the form under dir; the data moves into the batch. */
static int batch_from_form(ui_ctx *c, const char *dir, commit_batch *batch)
{
    for (size_t i = 0; i < c->nfields; i++) {
        ui_field *f = &c->fields[i];
        if (strcmp(f->name, "files") != 0 || !f->filename || !f->filename[0])
            continue;
        char path[COMMIT_PATH_MAX + 2];
        snprintf(path, sizeof path, "%s%s%s", dir, dir[0] ? "/" : "", f->filename);
        if (commit_batch_add(batch, COMMIT_OP_ADD, path, (unsigned char *)f->value, f->len) < 0) {
            f->value = NULL;
            return -1;
        }
        f->value = NULL;
    }
    return 0;
}

static void upload_post(ui_ctx *c)
{
    space sp;
    char repo[FILES_REPO_PATH], sha[41], err[1200], summary[256];
    commit_batch batch;
    commit_batch_init(&batch);
    if (!ui_space_load(c, c->req->params[0], c->req->params[1], true, &sp))
        goto done;
    char dir[COMMIT_PATH_MAX + 1];
    snprintf(dir, sizeof dir, "%s", ui_form(c, "dir") ? ui_form(c, "dir") : "");
    for (size_t n = strlen(dir); n && dir[n - 1] == '/'; n--)
        dir[n - 1] = '\0';
    if (batch_from_form(c, dir[0] == '/' ? dir + 1 : dir, &batch) < 0) {
        ui_error(c, 500, "Something went wrong", "Out of memory.");
        goto done;
    }
    if (batch.count == 0) {
        files_render(c, &sp, "", 400, "Choose at least one file to upload.");
        goto done;
    }
    const char *given = ui_form(c, "summary");
    if (given && given[0])
        snprintf(summary, sizeof summary, "%s", given);
    else
        snprintf(summary, sizeof summary, "Upload %zu file%s with the web UI", batch.count,
                 batch.count == 1 ? "" : "s");
    repo_of(c, &sp, repo);
    commit_info info = {.author = c->viewer.user.name, .summary = summary};
    commit_result rc = commit_apply(repo, &info, &batch, sha, err, sizeof err);
    if (rc != COMMIT_OK) {
        files_render(c, &sp, "", commit_status(rc), err);
        goto done;
    }
    log_info("ui", "%s committed %.12s to %s (%zu files)", c->viewer.user.name, sha, sp.full_id,
             batch.count);
    if (lifecycle_on_commit(c->a, &sp, sha, "web") < 0)
        log_error("ui", "commit %.12s of %s is on main but its event was not recorded", sha,
                  sp.full_id);
    buf loc;
    buf_init(&loc);
    html_printf(&loc, "/spaces/%u/%u/files?msg=committed", sp.owner, sp.name);
    ui_redirect(c, loc.data);
    buf_free(&loc);
done:
    commit_batch_free(&batch);
}

const ui_route_entry ui_files_routes[] = {
    {HTTP_GET, "/spaces/:owner/:name/files", files_page, 0},
    {HTTP_GET, "/spaces/:owner/:name/files/*", files_page, 0},
    {HTTP_GET, "/spaces/:owner/:name/blob/*", blob_page, 0},
    {HTTP_GET, "/spaces/:owner/:name/commits", commits_page, 0},
    {HTTP_POST, "/spaces/:owner/:name/upload", upload_post, FILES_UPLOAD_MAX},
};
const size_t ui_files_routes_count = sizeof ui_files_routes / sizeof ui_files_routes[0];
