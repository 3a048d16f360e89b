/* Tracked remote repositories (Hangar's own API, not HF's):
 *   GET|POST|DELETE /api/spaces/{owner}/{name}/source   the owner, with a write token
 *   POST /api/spaces/{owner}/{name}/webhook              the forge, signed with the secret
 * The deploy token and the webhook secret are never answered back, except a
 * secret Hangar made, once, in the answer to the POST that made it. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/ops.h"
#include "app/app.h"
#include "git/source.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"

#define WEBHOOK_BODY_LIMIT (8 << 20) /* GitHub caps payloads at 25 MB; pushes are far less */

static json_t *source_json(http_request *req, const space *sp, const source_config *cfg)
{
    app *a = app_of(req);
    char hook[1024];
    snprintf(hook, sizeof hook, "%s/api/spaces/%s/webhook", a->base_url, sp->full_id);
    json_t *out = json_pack("{s:b, s:s, s:s, s:i, s:b, s:b, s:s}", "tracking", true, "url",
                            cfg->url, "branch", cfg->branch, "pollSeconds", cfg->poll_seconds,
                            "hasToken", *cfg->token_sealed != '\0', "hasWebhookSecret",
                            *cfg->secret_sealed != '\0', "webhookUrl", hook);
    json_t *rt = json_object();
    source_runtime_json(a, sp, rt);
    json_t *state = json_object_get(rt, "source");
    if (out && state)
        json_object_update(out, state);
    json_decref(rt);
    return out;
}

static void respond_source(http_request *req, const space *sp, const char *new_secret)
{
    source_config cfg;
    int rc = source_get(app_of(req), sp->id, &cfg);
    if (rc < 0) {
        api_error(req, 500, NULL, "Could not read the source of %s", sp->full_id);
        return;
    }
    if (rc == 1) {
        api_json(req, 200, json_pack("{s:b}", "tracking", false));
        return;
    }
    json_t *out = source_json(req, sp, &cfg);
    if (out && new_secret && *new_secret)
        json_object_set_new(out, "webhookSecret", json_string(new_secret));
    source_config_free(&cfg);
    api_json(req, 200, out);
}

static void api_source_get(http_request *req)
{
    auth_identity id;
    space sp;
    if (api_space_load(req, req->params[0], req->params[1], API_WRITE, &id, &sp))
        respond_source(req, &sp, NULL);
}

/* An optional string member: false (answered) when present but not a string. */
static bool opt_string(http_request *req, json_t *body, const char *key, size_t max,
                       const char **out)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || strlen(json_string_value(v)) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        api_error(req, 400, NULL, "\"%s\" must be a string of at most %zu bytes", key, max);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

/* pollSeconds: an integer, or absent (0: webhooks only); ops checks its range. */
static bool parse_poll(http_request *req, json_t *body, int *out)
{
    json_t *v = json_object_get(body, "pollSeconds");
    *out = 0;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > SOURCE_POLL_MAX) {
        api_error(req, 400, NULL, "\"pollSeconds\" must be 0 (no polling) or up to %d",
                  SOURCE_POLL_MAX);
        return false;
    }
    *out = (int)json_integer_value(v);
    return true;
}

static void api_source_set(http_request *req)
{
    auth_identity id;
    space sp;
    if (!api_space_load(req, req->params[0], req->params[1], API_WRITE, &id, &sp))
        return;
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    ops_source src = {0};
    ops_error err;
    char new_secret[SOURCE_SECRET_MAX + 1] = "";
    if (!opt_string(req, body, "url", SOURCE_URL_MAX, &src.url) ||
        !opt_string(req, body, "branch", SOURCE_BRANCH_MAX, &src.branch) ||
        !opt_string(req, body, "token", SOURCE_TOKEN_MAX, &src.token) ||
        !opt_string(req, body, "webhookSecret", SOURCE_SECRET_MAX, &src.secret) ||
        !parse_poll(req, body, &src.poll_seconds))
        goto done;
    if (!src.url) {
        api_error(req, 400, NULL, "Expected {\"url\": string, \"branch\"?: string, ...}");
    } else if (!ops_source_set(app_of(req), &sp, id.user.admin, &src, new_secret, &err)) {
        api_error(req, err.status, err.code, "%s", err.message);
    } else {
        log_info("api", "%s set the source of %s", id.user.name, sp.full_id);
        respond_source(req, &sp, new_secret);
    }
done:
    sodium_memzero(new_secret, sizeof new_secret);
    json_decref(body);
}

static void api_source_delete(http_request *req)
{
    auth_identity id;
    space sp;
    if (!api_space_load(req, req->params[0], req->params[1], API_WRITE, &id, &sp))
        return;
    ops_error err;
    if (!ops_source_clear(app_of(req), &sp, &err))
        api_error(req, err.status, err.code, "%s", err.message);
    else
        api_json(req, 200, json_pack("{s:b}", "tracking", false));
}

/* Which forge sent the hook, from its headers: Gitea first, as it also sends
 * GitHub's names. false when none. */
static bool webhook_forge(http_request *req, source_forge *forge, const char **event,
                          const char **sig)
{
    if ((*event = http_header_get(req, "X-Gitea-Event"))) {
        *forge = SOURCE_FORGE_GITEA;
        *sig = http_header_get(req, "X-Gitea-Signature");
    } else if ((*event = http_header_get(req, "X-Gitlab-Event"))) {
        *forge = SOURCE_FORGE_GITLAB;
        *sig = http_header_get(req, "X-Gitlab-Token");
    } else if ((*event = http_header_get(req, "X-GitHub-Event"))) {
        *forge = SOURCE_FORGE_GITHUB;
        *sig = http_header_get(req, "X-Hub-Signature-256");
    }
    return *event != NULL;
}

static void ignored(http_request *req, const char *reason)
{
    api_json(req, 200, json_pack("{s:s, s:s}", "status", "ignored", "reason", reason));
}

/* Answers once the push is checked; the fetch runs after (202): a forge
 * gives up on slow hooks (GitHub after 10 s) and would send it again. */
static void api_source_webhook(http_request *req)
{
    app *a = app_of(req);
    space sp;
    source_config cfg = {0};
    json_t *payload = NULL;
    source_forge forge;
    const char *event, *sig;
    char reason[300];
    int rc = STORE_NOTFOUND;
    if (space_name_valid(req->params[0]) && space_name_valid(req->params[1]))
        rc = store_space_get(a->store, req->params[0], req->params[1], &sp);
    if (rc == STORE_OK)
        rc = source_get(a, sp.id, &cfg) == 0 ? STORE_OK : STORE_NOTFOUND;
    if (rc != STORE_OK) {
        api_error(req, 404, "RepoNotFound", "No such space follows a remote repository");
        return;
    }
    if (!webhook_forge(req, &forge, &event, &sig)) {
        api_error(req, 400, NULL,
                  "Not a push webhook: no X-GitHub-Event, X-Gitlab-Event or "
                  "X-Gitea-Event header");
        goto done;
    }
    const char *body = req->body.data ? req->body.data : "";
    if (!source_webhook_verify(&cfg, forge, sig, body, req->body.len)) {
        log_warn("api", "%s: webhook with a %s signature refused", sp.full_id,
                 sig ? "bad" : "missing");
        api_error(req, 401, NULL, "Invalid or missing webhook signature");
        goto done;
    }
    if (strcmp(event, "ping") == 0) {
        api_json(req, 200, json_pack("{s:s}", "status", "pong"));
        goto done;
    }
    if (strcmp(event, "push") != 0 && strcmp(event, "Push Hook") != 0) {
        snprintf(reason, sizeof reason, "event '%.64s' is not a push", event);
        ignored(req, reason);
        goto done;
    }
    payload = json_loadb(body, req->body.len, 0, NULL);
    const char *ref = json_string_value(json_object_get(payload, "ref"));
    if (!ref) {
        api_error(req, 400, NULL, "The push payload must be JSON with a \"ref\"");
        goto done;
    }
    if (!util_has_prefix(ref, "refs/heads/") || strcmp(ref + 11, cfg.branch) != 0) {
        snprintf(reason, sizeof reason, "push to %.200s, not to branch %s", ref, cfg.branch);
        ignored(req, reason);
        goto done;
    }
    bool forced = json_is_true(json_object_get(payload, "forced"));
    const char *after = json_string_value(json_object_get(payload, "after"));
    source_sync(a, sp.id, forced, "webhook");
    api_json(
        req, 202,
        json_pack("{s:s, s:s, s:s?}", "status", "queued", "branch", cfg.branch, "after", after));
done:
    json_decref(payload);
    source_config_free(&cfg);
}

const route api_source_routes[] = {
    {HTTP_GET, "/api/spaces/:owner/:name/source", api_source_get, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/source", api_source_set, NULL, 0},
    {HTTP_DELETE, "/api/spaces/:owner/:name/source", api_source_delete, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/webhook", api_source_webhook, NULL, WEBHOOK_BODY_LIMIT},
};
const size_t api_source_routes_count = sizeof api_source_routes / sizeof api_source_routes[0];
