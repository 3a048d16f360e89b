/* Space repositories: create, delete, move, settings, list and info. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/ops.h"
#include "api/upload.h"
#include "app/app.h"
#include "git/commit.h"
#include "git/repo.h"
#include "lib/log.h"
#include "lib/util.h"
#include "space/config.h"
#include "space/hardware.h"
#include "space/lifecycle.h"
#include "space/storage.h"
#include "space/events.h"
#include "store/store.h"

#define REPO_NOT_FOUND "Repository not found"
/* createRepo may carry the first files, base64 in the JSON body. */
#define REPOS_CREATE_BODY_LIMIT (32u * 1024 * 1024)

bool api_space_load(http_request *req, const char *owner, const char *name, api_access need,
                    auth_identity *id, space *sp)
{
    app *a = app_of(req);
    if (!api_identify(req, id, false))
        return false;
    int rc = STORE_NOTFOUND;
    if (space_name_valid(owner) && space_name_valid(name))
        rc = store_space_get(a->store, owner, name, sp);
    if (rc == STORE_ERROR) {
        api_error(req, 500, NULL, "Could not read space %s/%s", owner, name);
        return false;
    }
    bool is_owner = rc == STORE_OK && ops_is_owner(id, sp);
    bool visible = rc == STORE_OK && ops_can_read(id, sp);
    if (!visible) {
        /* HF: anonymous callers get 401 (so git prompts), others 404. */
        if (rc == STORE_OK && !id->authenticated) {
            http_resp_header(req, "WWW-Authenticate", "Basic realm=\"hangar\"");
            api_error(req, 401, "RepoNotFound", "Invalid username or password.");
        } else {
            api_error(req, 404, "RepoNotFound", REPO_NOT_FOUND);
        }
        return false;
    }
    if (need == API_WRITE) {
        if (!id->authenticated) {
            http_resp_header(req, "WWW-Authenticate", "Basic realm=\"hangar\"");
            api_error(req, 401, NULL, "You must be authenticated to change %s", sp->full_id);
            return false;
        }
        if (!is_owner) {
            api_error(req, 403, NULL, "You don't have the rights to change %s", sp->full_id);
            return false;
        }
        if (!auth_can_write(id)) {
            api_error(req, 403, NULL, "Your token is read-only: %s needs a write token",
                      sp->full_id);
            return false;
        }
    }
    return true;
}

void api_space_repo_path(http_request *req, const space *sp, char *out, size_t size)
{
    space_repo_path(app_of(req)->config.data_dir, sp->owner, sp->name, out, size);
}

static void iso(int64_t ms, char out[40])
{
    util_iso8601_ms(ms, out, 40);
}

json_t *api_space_json(http_request *req, const space *sp, const char *sha, bool full)
{
    app *a = app_of(req);
    char created[40], modified[40], repo[4200];
    iso(sp->created_ms, created);
    iso(sp->last_modified_ms, modified);
    api_space_repo_path(req, sp, repo, sizeof repo);
    char host[512];
    snprintf(host, sizeof host, "http://%s.%s:%d", sp->subdomain, a->config.domain, a->port);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:i, s:i, s:s, s:[],"
                          " s:s, s:s}",
                          "_id", sp->hex_id, "id", sp->full_id, "author", sp->owner, "sha", sha,
                          "createdAt", created, "lastModified", modified, "private", sp->is_private,
                          "gated", 0, "disabled", 0, "likes", 0, "trendingScore", 0, "sdk", sp->sdk,
                          "tags", "subdomain", sp->subdomain, "host", host);
    if (!o)
        return NULL;
    json_object_set_new(o, "runtime", lifecycle_runtime_json(a, sp));
    if (!full)
        return o;
    json_t *card = NULL;
    if (sha[0]) {
        char *readme = NULL;
        size_t len = 0;
        if (repo_read_file(repo, sha, "README.md", &readme, &len) == 0)
            card = config_card_data(readme, len);
        free(readme);
    }
    json_t *siblings = repo_siblings(repo, sha, false);
    json_object_set_new(o, "cardData", card ? card : json_object());
    json_t *tags = json_object_get(card, "tags");
    if (json_is_array(tags))
        json_object_set(o, "tags", tags);
    json_object_set_new(o, "siblings", siblings ? siblings : json_array());
    json_object_set_new(o, "models", json_array());
    json_object_set_new(o, "datasets", json_array());
    return o;
}

/* ---- create ------------------------------------------------------------- */

static const char *json_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The visibility in a body: "visibility" (current clients) or "private" (older). */
static int body_private(json_t *body, bool *is_private)
{
    const char *vis = json_str(body, "visibility");
    json_t *priv = json_object_get(body, "private");
    if (vis) {
        if (strcmp(vis, "private") == 0 || strcmp(vis, "protected") == 0)
            *is_private = true;
        else if (strcmp(vis, "public") == 0)
            *is_private = false;
        else
            return -1;
    } else if (json_is_boolean(priv)) {
        *is_private = json_is_true(priv);
    } else if (priv && !json_is_null(priv)) {
        return -1;
    }
    return 0;
}

static void space_url(http_request *req, const char *full_id, char *out, size_t size)
{
    snprintf(out, size, "%s/spaces/%s", app_of(req)->base_url, full_id);
}

bool api_space_new(http_request *req, const auth_identity *id, const char *owner_name,
                   const char *name, const char *sdk, bool is_private, const char *copy_from,
                   space *out)
{
    ops_error err;
    if (ops_space_create(app_of(req), &id->user, owner_name, name, sdk, is_private, copy_from, out,
                         &err))
        return true;
    api_ops_error(req, &err, out);
    return false;
}

void api_ops_error(http_request *req, const ops_error *err, const space *sp)
{
    if (err->exists && sp) {
        char url[1024];
        space_url(req, sp->full_id, url, sizeof url);
        api_json(req, 409, json_pack("{s:s, s:s}", "error", err->message, "url", url));
        return;
    }
    api_error(req, err->status, err->code, "%s", err->message);
}

/* create_repo's and duplicate's space_secrets, space_variables, space_hardware
 * and space_sleep_time. Answers and returns false on bad input. */
bool api_space_apply_options(http_request *req, space *sp, json_t *body)
{
    app *a = app_of(req);
    static const char *const lists[] = {"secrets", "variables"};
    for (int l = 0; l < 2; l++) {
        json_t *list = json_object_get(body, lists[l]), *item;
        size_t i;
        if (list && !json_is_null(list) && !json_is_array(list)) {
            api_error(req, 400, NULL, "\"%s\" must be a list of {key, value}", lists[l]);
            return false;
        }
        json_array_foreach(list, i, item)
        {
            const char *key = json_string_value(json_object_get(item, "key"));
            const char *value = json_string_value(json_object_get(item, "value"));
            const char *desc = json_string_value(json_object_get(item, "description"));
            if (!key || !value) {
                api_error(req, 400, NULL, "each of \"%s\" needs a key and a value", lists[l]);
                return false;
            }
            if (!api_env_put(req, sp, l == 0, key, value, desc))
                return false;
        }
    }
    const char *hardware = json_str(body, "hardware");
    if (hardware) {
        if (!hardware_find(hardware)) {
            api_error(req, 400, NULL, "Unknown hardware flavor '%s'", hardware);
            return false;
        }
        store_space_set_hardware(a->store, sp->id, hardware);
        snprintf(sp->hardware, sizeof sp->hardware, "%s", hardware);
    }
    /* create_repo's space_storage and duplicate_space's storage (0.x clients) */
    const char *tier = json_str(body, "storageTier");
    if (tier) {
        if (!storage_tier_name(tier)) {
            api_error(req, 400, NULL, "Unknown storage tier '%s': small, medium or large", tier);
            return false;
        }
        store_storage_set(a->store, sp->id, storage_tier_name(tier));
    }
    json_t *sleep = json_object_get(body, "sleepTimeSeconds");
    if (json_is_integer(sleep)) {
        json_int_t secs = json_integer_value(sleep);
        if (secs != -1 && secs <= 0) {
            api_error(req, 400, NULL, "sleepTimeSeconds must be positive or -1");
            return false;
        }
        store_space_set_sleep(a->store, sp->id, secs);
        sp->sleep_seconds = secs;
    }
    lifecycle_on_update(a, sp);
    return true;
}

/* The first commit of a new space, from createRepo's files; a failure
 * removes the space again (it answered nothing yet) and answers. */
static bool commit_initial_files(http_request *req, const auth_identity *id, space *sp,
                                 const commit_batch *batch)
{
    char repo[4200], sha[41], err[1200];
    ops_error oerr;
    api_space_repo_path(req, sp, repo, sizeof repo);
    commit_info info = {.author = id->user.name, .summary = "Initial commit", .parent = NULL};
    commit_result rc = commit_apply(repo, &info, batch, sha, err, sizeof err);
    if (rc == COMMIT_OK) {
        if (lifecycle_on_commit(app_of(req), sp, sha, "api") < 0)
            log_error("api", "commit %.12s of %s is on main but its event was not recorded", sha,
                      sp->full_id);
        return true;
    }
    log_error("api", "initial commit of %s failed: %s", sp->full_id, err);
    if (!ops_space_delete(app_of(req), sp, &oerr))
        log_error("api", "cannot remove %s after its failed initial commit: %s", sp->full_id,
                  oerr.message);
    api_error(req, rc == COMMIT_INVALID ? 400 : 500, NULL, "The files could not be committed: %s",
              err);
    return false;
}

static void api_repos_create(http_request *req)
{
    auth_identity id;
    if (!api_identify(req, &id, true))
        return;
    if (!auth_can_write(&id)) {
        api_error(req, 403, NULL, "Creating a space needs a write token");
        return;
    }
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    const char *type = json_str(body, "type");
    const char *name = json_str(body, "name");
    const char *org = json_str(body, "organization");
    const char *sdk = json_str(body, "sdk");
    space sp;
    commit_body initial;
    memset(&sp, 0, sizeof sp);
    upload_body_init(&initial);

    if (type && strcmp(type, "space") != 0) {
        api_error(req, 400, NULL, "Hangar hosts spaces only, not repositories of type '%s'", type);
        goto done;
    }
    if (!type) {
        api_error(req, 400, NULL, "Missing \"type\": Hangar hosts repositories of type space");
        goto done;
    }
    if (!name) {
        api_error(req, 400, NULL, "Missing \"name\"");
        goto done;
    }
    /* "name" may carry the owner too ("alice/demo"). */
    char owner_name[SPACE_NAME_MAX + 1], repo_name[SPACE_NAME_MAX + 1];
    if (strchr(name, '/')) {
        if (!space_id_split(name, owner_name, repo_name)) {
            api_error(req, 400, NULL, "Invalid space id '%s'", name);
            goto done;
        }
    } else {
        if (!space_name_valid(name)) {
            api_error(req, 400, NULL,
                      "Invalid space name '%s': use letters, digits, '-', '_' and '.', at most "
                      "96 characters, no '--' or '..', not starting or ending with '-' or '.'",
                      name);
            goto done;
        }
        snprintf(owner_name, sizeof owner_name, "%s", org ? org : id.user.name);
        snprintf(repo_name, sizeof repo_name, "%s", name);
    }
    if (!sdk) {
        api_error(req, 400, NULL, "Missing \"sdk\": one of gradio, streamlit, docker, static");
        goto done;
    }
    if (!space_sdk_valid(sdk)) {
        api_error(req, 400, NULL, "Invalid sdk '%s': one of gradio, streamlit, docker, static",
                  sdk);
        goto done;
    }
    if (body_private(body, &sp.is_private) < 0) {
        api_error(req, 400, NULL, "Invalid visibility: public or private");
        goto done;
    }
    /* createRepo's files are checked before anything is made: bad input
     * leaves no half-made space behind */
    json_t *files = json_object_get(body, "files");
    if (files && !json_is_null(files) && upload_parse_files(&initial, files) < 0) {
        api_error(req, 400, NULL, "%s", initial.err);
        goto done;
    }
    if (!api_space_new(req, &id, owner_name, repo_name, sdk, sp.is_private, NULL, &sp) ||
        !api_space_apply_options(req, &sp, body) ||
        (initial.batch.count && !commit_initial_files(req, &id, &sp, &initial.batch)))
        goto done;
    char url[1024];
    log_info("api", "%s created space %s (sdk %s, %s)", id.user.name, sp.full_id, sp.sdk,
             sp.is_private ? "private" : "public");
    space_url(req, sp.full_id, url, sizeof url);
    api_json(req, 200,
             json_pack("{s:s, s:s, s:s}", "url", url, "name", sp.full_id, "id", sp.hex_id));
done:
    upload_body_free(&initial);
    json_decref(body);
}

/* ---- delete and move ------------------------------------------------------ */

/* Reads {"name", "organization"} or an "owner/name" name into owner and name. */
static bool body_space_id(http_request *req, json_t *body, const char *name_key,
                          const auth_identity *id, char *owner, char *name)
{
    const char *n = json_str(body, name_key);
    const char *org = json_str(body, "organization");
    const char *type = json_str(body, "type");
    if (type && strcmp(type, "space") != 0) {
        api_error(req, 400, NULL, "Hangar hosts spaces only, not '%s' repositories", type);
        return false;
    }
    if (!n) {
        api_error(req, 400, NULL, "Missing \"%s\"", name_key);
        return false;
    }
    if (strchr(n, '/')) {
        if (!space_id_split(n, owner, name)) {
            api_error(req, 400, NULL, "Invalid space id '%s'", n);
            return false;
        }
        return true;
    }
    snprintf(owner, SPACE_NAME_MAX + 1, "%s", org ? org : id->user.name);
    snprintf(name, SPACE_NAME_MAX + 1, "%s", n);
    if (!space_name_valid(owner) || !space_name_valid(name)) {
        api_error(req, 400, NULL, "Invalid space id '%s/%s'", owner, name);
        return false;
    }
    return true;
}

static void api_repos_delete(http_request *req)
{
    auth_identity id;
    if (!api_identify(req, &id, true))
        return;
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    char owner[SPACE_NAME_MAX + 1], name[SPACE_NAME_MAX + 1];
    space sp;
    ops_error err;
    if (!body_space_id(req, body, "name", &id, owner, name) ||
        !api_space_load(req, owner, name, API_WRITE, &id, &sp))
        goto done;
    if (!ops_space_delete(app_of(req), &sp, &err)) {
        api_ops_error(req, &err, NULL);
        goto done;
    }
    log_info("api", "%s deleted space %s", id.user.name, sp.full_id);
    http_respond(req, 200, "text/plain", "OK", 2);
done:
    json_decref(body);
}

static void api_repos_move(http_request *req)
{
    auth_identity id;
    if (!api_identify(req, &id, true))
        return;
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    char from_owner[SPACE_NAME_MAX + 1], from_name[SPACE_NAME_MAX + 1];
    char to_owner[SPACE_NAME_MAX + 1], to_name[SPACE_NAME_MAX + 1];
    space sp;
    ops_error err;
    const char *from = json_str(body, "fromRepo"), *to = json_str(body, "toRepo");
    if (!from || !to || !space_id_split(from, from_owner, from_name) ||
        !space_id_split(to, to_owner, to_name)) {
        api_error(req, 400, NULL, "\"fromRepo\" and \"toRepo\" must be valid owner/name ids");
        goto done;
    }
    if (!api_space_load(req, from_owner, from_name, API_WRITE, &id, &sp))
        goto done;
    if (!ops_space_move(app_of(req), &id.user, &sp, to_owner, to_name, &err)) {
        api_ops_error(req, &err, NULL);
        goto done;
    }
    http_respond(req, 200, "text/plain", "OK", 2);
done:
    json_decref(body);
}

/* ---- settings, info, list ------------------------------------------------ */

static void api_space_settings(http_request *req)
{
    auth_identity id;
    space sp;
    if (!api_space_load(req, req->params[0], req->params[1], API_WRITE, &id, &sp))
        return;
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    bool is_private = sp.is_private;
    ops_error err;
    if (body_private(body, &is_private) < 0)
        api_error(req, 400, NULL, "Invalid visibility: public or private");
    else if (!ops_space_set_private(app_of(req), &sp, is_private, &err))
        api_ops_error(req, &err, NULL);
    else
        api_json(req, 200, json_pack("{s:b}", "private", sp.is_private));
    json_decref(body);
}

static void space_info(http_request *req, const char *rev)
{
    auth_identity id;
    space sp;
    if (!api_space_load(req, req->params[0], req->params[1], API_READ, &id, &sp))
        return;
    char sha[41] = "";
    char repo[4200];
    api_space_repo_path(req, &sp, repo, sizeof repo);
    if (rev) {
        int rc = repo_resolve(repo, rev, sha);
        if (rc != 0) {
            api_error(req, rc < 0 ? 500 : 404, rc < 0 ? NULL : "RevisionNotFound",
                      "Invalid rev id: %s", rev);
            return;
        }
    } else if (repo_head(repo, sha) < 0) {
        api_error(req, 500, NULL, "Could not read the repository of %s", sp.full_id);
        return;
    }
    api_json(req, 200, api_space_json(req, &sp, sha, true));
}

static void api_space_info(http_request *req)
{
    space_info(req, NULL);
}

static void api_space_info_revision(http_request *req)
{
    space_info(req, req->params[2]);
}

static void api_space_host(http_request *req)
{
    auth_identity id;
    space sp;
    if (!api_space_load(req, req->params[0], req->params[1], API_READ, &id, &sp))
        return;
    app *a = app_of(req);
    char host[512];
    snprintf(host, sizeof host, "http://%s.%s:%d", sp.subdomain, a->config.domain, a->port);
    api_json(req, 200, json_pack("{s:s, s:s}", "host", host, "subdomain", sp.subdomain));
}

typedef struct list_ctx {
    http_request *req;
    json_t *items;
    bool full;
} list_ctx;

static void list_one(const space *sp, void *arg)
{
    list_ctx *ctx = arg;
    json_array_append_new(ctx->items, api_space_json(ctx->req, sp, sp->sha, ctx->full));
}

static void api_spaces_list(http_request *req)
{
    app *a = app_of(req);
    auth_identity id;
    if (!api_identify(req, &id, false))
        return;
    char *author = http_query_get(req, "author");
    char *search = http_query_get(req, "search");
    char *sort = http_query_get(req, "sort");
    char *direction = http_query_get(req, "direction");
    char *limit_s = http_query_get(req, "limit");
    char *cursor_s = http_query_get(req, "cursor");
    char *full_s = http_query_get(req, "full");
    long long limit = 100, cursor = 0;
    store_space_query q = {0};
    list_ctx ctx = {req, json_array(), full_s && strcmp(full_s, "false") != 0};
    if (limit_s && util_parse_int(limit_s, 1, 1000, &limit) < 0) {
        api_error(req, 400, NULL, "limit must be an integer from 1 to 1000");
        goto done;
    }
    if (cursor_s && util_parse_int(cursor_s, 0, 1LL << 40, &cursor) < 0) {
        api_error(req, 400, NULL, "Invalid cursor");
        goto done;
    }
    if (sort && strcmp(sort, "lastModified") != 0 && strcmp(sort, "createdAt") != 0 &&
        strcmp(sort, "id") != 0 && strcmp(sort, "likes") != 0 &&
        strcmp(sort, "trendingScore") != 0) {
        api_error(req, 400, NULL,
                  "Invalid sort '%s': lastModified, createdAt, likes, id or "
                  "trendingScore",
                  sort);
        goto done;
    }
    q.author = author;
    q.search = search;
    q.sort = sort;
    q.descending = !(direction && strcmp(direction, "1") == 0) && !(sort && !strcmp(sort, "id"));
    q.viewer_id = id.authenticated ? id.user.id : 0;
    q.viewer_admin = id.authenticated && id.user.admin;
    q.limit = (int)limit + 1; /* one more tells whether there is a next page */
    q.after_cursor = cursor;
    int n = store_space_list(a->store, &q, list_one, &ctx);
    if (n < 0) {
        api_error(req, 500, NULL, "Could not list spaces");
        goto done;
    }
    if (n > limit) {
        json_array_remove(ctx.items, json_array_size(ctx.items) - 1);
        /* Keep every parameter but the cursor, so the next page is the same query. */
        buf next;
        buf_init(&next);
        buf_printf(&next, "<%s/api/spaces?", a->base_url);
        const char *qs = req->query ? req->query : "";
        while (*qs) {
            const char *amp = strchr(qs, '&');
            size_t len = amp ? (size_t)(amp - qs) : strlen(qs);
            if (!(len >= 7 && strncmp(qs, "cursor=", 7) == 0))
                buf_printf(&next, "%.*s&", (int)len, qs);
            qs += len + (amp ? 1 : 0);
        }
        buf_printf(&next, "cursor=%lld>; rel=\"next\"", cursor + limit);
        http_resp_header(req, "Link", next.data);
        buf_free(&next);
    }
    api_json(req, 200, ctx.items);
    ctx.items = NULL;
done:
    json_decref(ctx.items);
    free(author);
    free(search);
    free(sort);
    free(direction);
    free(limit_s);
    free(cursor_s);
    free(full_s);
}

const route api_space_routes[] = {
    {HTTP_POST, "/api/repos/create", api_repos_create, NULL, REPOS_CREATE_BODY_LIMIT},
    {HTTP_DELETE, "/api/repos/delete", api_repos_delete, NULL, 0},
    {HTTP_POST, "/api/repos/move", api_repos_move, NULL, 0},
    {HTTP_GET, "/api/spaces", api_spaces_list, NULL, 0},
    {HTTP_PUT, "/api/spaces/:owner/:name/settings", api_space_settings, NULL, 0},
    {HTTP_GET, "/api/spaces/:owner/:name/host", api_space_host, NULL, 0},
    {HTTP_GET, "/api/spaces/:owner/:name/revision/*", api_space_info_revision, NULL, 0},
    {HTTP_GET, "/api/spaces/:owner/:name", api_space_info, NULL, 0},
};
const size_t api_space_routes_count = sizeof api_space_routes / sizeof api_space_routes[0];
