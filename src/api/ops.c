#include "api/ops.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/vault.h"
#include "git/repo.h"
#include "lib/log.h"
#include "lib/util.h"
#include "space/hardware.h"
#include "space/storage.h"
#include "space/lifecycle.h"

#include "space/events.h"

/* Events are stored and streamed live to /events subscribers. */
#define ops_event(a, space_id, kind) events_add((a), (space_id), (kind), NULL)

#define OPS_REPO_PATH 4200 /* DATA/repos/<owner>/<name>.git */
#define ENV_KEY_MAX 256
#define ENV_VALUE_MAX (64 * 1024)
#define ENV_DESCRIPTION_MAX 1024

static bool fail(ops_error *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(ops_error *err, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    err->status = status;
    err->code = code;
    err->exists = false;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

/* ---- access ---------------------------------------------------------------- */

bool ops_is_owner(const auth_identity *id, const space *sp)
{
    return id->authenticated && (id->user.id == sp->owner_id || id->user.admin);
}

bool ops_can_read(const auth_identity *id, const space *sp)
{
    return !sp->is_private || ops_is_owner(id, sp);
}

bool ops_can_write(const auth_identity *id, const space *sp)
{
    return ops_is_owner(id, sp) && auth_can_write(id);
}

/* The user named owner, when actor may act for it (itself, or anyone for an admin). */
static bool resolve_owner(app *a, const store_user *actor, const char *owner, store_user *out,
                          ops_error *err)
{
    if (!space_name_valid(owner))
        return fail(err, 400, NULL, "Invalid owner name '%s'", owner);
    int rc = store_user_by_name(a->store, owner, out);
    if (rc == STORE_ERROR)
        return fail(err, 500, NULL, "Could not read user %s", owner);
    if (rc == STORE_NOTFOUND || (out->id != actor->id && !actor->admin))
        return fail(err, 403, NULL, "You don't have the rights to create spaces for '%s'", owner);
    return true;
}

/* ---- create, duplicate, delete, move ---------------------------------------- */

bool ops_space_create(app *a, const store_user *actor, const char *owner_name, const char *name,
                      const char *sdk, bool is_private, const char *copy_from, space *out,
                      ops_error *err)
{
    store_user owner;
    space sp, existing;
    char repo[OPS_REPO_PATH];
    if (!resolve_owner(a, actor, owner_name, &owner, err))
        return false;
    if (!space_name_valid(name))
        return fail(err, 400, NULL,
                    "Invalid space name '%s': use letters, digits, '-', '_' and '.', at most 96 "
                    "characters, no '--' or '..', not starting or ending with '-' or '.'",
                    name);
    if (!space_sdk_valid(sdk))
        return fail(err, 400, NULL, "Invalid sdk '%s': one of gradio, streamlit, docker, static",
                    sdk);
    memset(&sp, 0, sizeof sp);
    snprintf(sp.owner, sizeof sp.owner, "%s", owner.name);
    snprintf(sp.name, sizeof sp.name, "%s", name);
    snprintf(sp.full_id, sizeof sp.full_id, "%s/%s", owner.name, name);
    snprintf(sp.sdk, sizeof sp.sdk, "%s", sdk);
    snprintf(sp.hardware, sizeof sp.hardware, "%s", HARDWARE_DEFAULT);
    sp.is_private = is_private;
    sp.owner_id = owner.id;
    sp.sleep_seconds = SPACE_SLEEP_DEFAULT;
    unsigned char raw[12];
    randombytes_buf(raw, sizeof raw);
    util_hex(raw, sizeof raw, sp.hex_id);
    space_subdomain(sp.owner, sp.name, sp.subdomain);
    sp.created_ms = sp.last_modified_ms = util_now_ms();

    if (store_space_get(a->store, sp.owner, sp.name, &existing) == STORE_OK) {
        *out = existing;
        fail(err, 409, NULL, "You already created this space repo");
        err->exists = true;
        return false;
    }
    /* The repository first: a row without a repository would be visible but broken;
     * a repository without a row is invisible and overwritten by the next create. */
    space_repo_path(a->config.data_dir, sp.owner, sp.name, repo, sizeof repo);
    repo_remove(repo);
    int rc = copy_from ? repo_clone_bare(copy_from, repo) : repo_init_bare(repo);
    if (rc < 0) {
        bool no_space = repo_error_no_space();
        repo_remove(repo); /* what a full disk let it write */
        if (no_space)
            return fail(err, 507, NULL, "Not enough storage space on the server to create %s",
                        sp.full_id);
        return fail(err, 500, NULL, "Could not create the repository of %s", sp.full_id);
    }
    if (copy_from && repo_head(repo, sp.sha) < 0)
        sp.sha[0] = '\0';
    rc = store_space_create(a->store, &sp);
    if (rc != STORE_OK) {
        repo_remove(repo);
        if (rc == STORE_EXISTS)
            return fail(err, 409, NULL, "A space with that name or subdomain (%s) already exists",
                        sp.subdomain);
        return fail(err, 500, NULL, "Could not store space %s", sp.full_id);
    }
    ops_event(a, sp.id, copy_from ? "duplicated" : "created");
    *out = sp;
    return true;
}

bool ops_space_duplicate(app *a, const store_user *actor, const space *from, const char *owner,
                         const char *name, bool is_private, bool copy_variables, space *out,
                         ops_error *err)
{
    char from_repo[OPS_REPO_PATH];
    space_repo_path(a->config.data_dir, from->owner, from->name, from_repo, sizeof from_repo);
    if (!ops_space_create(a, actor, owner, name, from->sdk, is_private, from_repo, out, err))
        return false;
    /* Variables come along; secrets stay with their owner. */
    if (copy_variables && store_env_copy_variables(a->store, from->id, out->id) != STORE_OK)
        return fail(err, 500, NULL, "Could not copy the variables of %s", from->full_id);
    if (store_space_set_hardware(a->store, out->id, from->hardware) != STORE_OK)
        return fail(err, 500, NULL, "Could not set the hardware of %s", out->full_id);
    snprintf(out->hardware, sizeof out->hardware, "%s", from->hardware);
    lifecycle_on_update(a, out);
    log_info("ops", "%s duplicated %s to %s", actor->name, from->full_id, out->full_id);
    return true;
}

bool ops_space_delete(app *a, const space *sp, ops_error *err)
{
    char repo[OPS_REPO_PATH], trash[OPS_REPO_PATH + 100];
    space_repo_path(a->config.data_dir, sp->owner, sp->name, repo, sizeof repo);
    /* Move the repository aside first so that a crash between the two steps
     * never leaves a row pointing at a half-deleted repository. */
    snprintf(trash, sizeof trash, "%s.deleting-%s", repo, sp->hex_id);
    if (rename(repo, trash) < 0)
        snprintf(trash, sizeof trash, "%s", repo);
    if (store_space_delete(a->store, sp->id) != STORE_OK) {
        if (strcmp(trash, repo) != 0)
            rename(trash, repo);
        return fail(err, 500, NULL, "Could not delete %s", sp->full_id);
    }
    repo_remove(trash);
    lifecycle_on_delete(a, sp->id);
    return true;
}

bool ops_space_move(app *a, const store_user *actor, space *sp, const char *to_owner,
                    const char *to_name, ops_error *err)
{
    char from_repo[OPS_REPO_PATH], to_repo[OPS_REPO_PATH], subdomain[SPACE_SUBDOMAIN_MAX + 1];
    store_user new_owner;
    space clash;
    if (!space_name_valid(to_name))
        return fail(err, 400, NULL, "Invalid space name '%s'", to_name);
    if (!resolve_owner(a, actor, to_owner, &new_owner, err))
        return false;
    if (store_space_get(a->store, to_owner, to_name, &clash) == STORE_OK)
        return fail(err, 409, NULL, "%s already exists", clash.full_id);
    space_repo_path(a->config.data_dir, sp->owner, sp->name, from_repo, sizeof from_repo);
    space_repo_path(a->config.data_dir, new_owner.name, to_name, to_repo, sizeof to_repo);
    space_subdomain(new_owner.name, to_name, subdomain);
    if (repo_move(from_repo, to_repo) < 0)
        return fail(err, 500, NULL, "Could not move the repository of %s", sp->full_id);
    int rc = store_space_rename(a->store, sp->id, new_owner.id, new_owner.name, to_name, subdomain);
    if (rc != STORE_OK) {
        repo_move(to_repo, from_repo);
        if (rc == STORE_EXISTS)
            return fail(err, 409, NULL, "A space with that name or subdomain already exists");
        return fail(err, 500, NULL, "Could not rename %s", sp->full_id);
    }
    ops_event(a, sp->id, "renamed");
    log_info("ops", "%s moved space %s to %s/%s", actor->name, sp->full_id, new_owner.name,
             to_name);
    if (store_space_get(a->store, new_owner.name, to_name, sp) == STORE_OK)
        lifecycle_on_update(a, sp);
    return true;
}

/* ---- settings ----------------------------------------------------------------- */

bool ops_space_set_private(app *a, space *sp, bool is_private, ops_error *err)
{
    if (store_space_set_private(a->store, sp->id, is_private) != STORE_OK)
        return fail(err, 500, NULL, "Could not change the settings of %s", sp->full_id);
    if (is_private != sp->is_private)
        ops_event(a, sp->id, is_private ? "made-private" : "made-public");
    sp->is_private = is_private;
    lifecycle_on_update(a, sp);
    return true;
}

bool ops_space_set_sleep(app *a, space *sp, int64_t seconds, ops_error *err)
{
    if ((seconds != -1 && seconds <= 0) || seconds > (1LL << 40))
        return fail(err, 400, NULL, "The sleep time must be a positive number of seconds, or -1");
    if (store_space_set_sleep(a->store, sp->id, seconds) != STORE_OK)
        return fail(err, 500, NULL, "Could not change the sleep time of %s", sp->full_id);
    sp->sleep_seconds = seconds;
    lifecycle_on_update(a, sp);
    return true;
}

bool ops_space_set_storage(app *a, space *sp, const char *tier, ops_error *err)
{
    const char *name = storage_tier_name(tier);
    char current[32];
    if (!name)
        return fail(err, 400, NULL, "Unknown storage tier '%s': small, medium or large",
                    tier ? tier : "");
    if (store_storage_get(a->store, sp->id, current, sizeof current) == STORE_ERROR)
        return fail(err, 500, NULL, "Could not read the storage of %s", sp->full_id);
    if (strcmp(current, name) == 0)
        return true;
    /* as on HF: a file system is grown, never shrunk under the app's files */
    if (current[0] && storage_tier_bytes(name) < storage_tier_bytes(current))
        return fail(err, 400, NULL,
                    "Cannot downgrade the storage of %s from %s to %s: delete it instead",
                    sp->full_id, current, name);
    if (store_storage_set(a->store, sp->id, name) != STORE_OK)
        return fail(err, 500, NULL, "Could not change the storage of %s", sp->full_id);
    ops_event(a, sp->id, "storage");
    log_info("ops", "%s: storage tier is now %s", sp->full_id, name);
    lifecycle_on_storage_change(a, sp);
    return true;
}

bool ops_space_delete_storage(app *a, space *sp, ops_error *err)
{
    if (store_storage_set(a->store, sp->id, NULL) != STORE_OK)
        return fail(err, 500, NULL, "Could not delete the storage of %s", sp->full_id);
    ops_event(a, sp->id, "storage-deleted");
    log_info("ops", "%s: storage deleted", sp->full_id);
    lifecycle_storage_delete(a, sp);
    return true;
}

bool ops_space_set_hardware(app *a, space *sp, const char *flavor, ops_error *err)
{
    if (!flavor || !hardware_find(flavor))
        return fail(err, 400, NULL, "Unknown hardware flavor '%s': see GET /api/spaces/hardware",
                    flavor ? flavor : "");
    if (store_space_set_hardware(a->store, sp->id, flavor) != STORE_OK)
        return fail(err, 500, NULL, "Could not change the hardware of %s", sp->full_id);
    bool changed = strcmp(sp->hardware, flavor) != 0;
    snprintf(sp->hardware, sizeof sp->hardware, "%s", flavor);
    lifecycle_on_update(a, sp);
    if (changed) {
        ops_event(a, sp->id, "hardware");
        lifecycle_on_hardware_change(a, sp);
    }
    return true;
}

bool ops_space_restart(app *a, space *sp, bool factory, ops_error *err)
{
    /* A static space has no process to restart; a paused one can still be resumed. */
    if (strcmp(sp->sdk, "static") == 0 && !sp->paused)
        return fail(err, 400, NULL, "Static spaces are served directly and cannot be restarted");
    if (sp->paused && store_space_set_paused(a->store, sp->id, false) != STORE_OK)
        return fail(err, 500, NULL, "Could not resume %s", sp->full_id);
    sp->paused = false;
    lifecycle_restart(a, sp, factory);
    return true;
}

bool ops_space_pause(app *a, space *sp, ops_error *err)
{
    /* Stored first: a daemon restart keeps it paused. */
    if (store_space_set_paused(a->store, sp->id, true) != STORE_OK)
        return fail(err, 500, NULL, "Could not pause %s", sp->full_id);
    sp->paused = true;
    lifecycle_pause(a, sp);
    return true;
}

/* ---- secrets and variables ------------------------------------------------------ */

/* Environment variable names: a letter or '_', then letters, digits or '_'. */
static bool env_key_valid(const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > ENV_KEY_MAX || (key[0] >= '0' && key[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

typedef struct env_find {
    const char *key;
    bool found;
} env_find;

static void env_find_one(const char *key, const char *value, const char *description,
                         int64_t updated_ms, void *arg)
{
    env_find *f = arg;
    if (strcmp(key, f->key) == 0)
        f->found = true;
}

bool ops_env_put(app *a, const space *sp, bool secret, const char *key, const char *value,
                 const char *description, ops_error *err)
{
    if (!env_key_valid(key))
        return fail(err, 400, NULL,
                    "Invalid key '%.64s': use letters, digits and '_', not starting with a "
                    "digit, at most %d characters",
                    key, ENV_KEY_MAX);
    if (strlen(value) > ENV_VALUE_MAX || (description && strlen(description) > ENV_DESCRIPTION_MAX))
        return fail(err, 400, NULL, "%s is too long (value at most %d bytes)", key, ENV_VALUE_MAX);
    /* A name is either a secret or a variable, never both. */
    env_find other = {key, false};
    if (store_env_list(a->store, !secret, sp->id, env_find_one, &other) < 0)
        return fail(err, 500, NULL, "Could not read the environment of %s", sp->full_id);
    if (other.found)
        return fail(err, 409, NULL, "%s is already a %s of %s", key, secret ? "variable" : "secret",
                    sp->full_id);
    char *sealed = secret ? vault_seal(value, strlen(value)) : NULL;
    if (secret && !sealed)
        return fail(err, 500, NULL, "Could not encrypt the secret");
    int rc = store_env_set(a->store, secret, sp->id, key, secret ? sealed : value, description);
    free(sealed);
    if (rc != STORE_OK)
        return fail(err, 500, NULL, "Could not store %s", key);
    return true;
}

bool ops_env_delete(app *a, const space *sp, bool secret, const char *key, ops_error *err)
{
    int rc = store_env_delete(a->store, secret, sp->id, key);
    if (rc == STORE_ERROR)
        return fail(err, 500, NULL, "Could not delete the entry");
    if (rc == STORE_OK)
        ops_env_changed(a, sp);
    return true;
}

void ops_env_changed(app *a, const space *sp)
{
    ops_event(a, sp->id, "config");
    lifecycle_on_env_change(a, sp);
}

/* ---- tracked source ------------------------------------------------------------- */

bool ops_source_set(app *a, const space *sp, bool admin, const ops_source *src,
                    char new_secret[SOURCE_SECRET_MAX + 1], ops_error *err)
{
    char why[256];
    const char *branch = src->branch && *src->branch ? src->branch : "main";
    int min = admin ? 1 : SOURCE_POLL_MIN;
    new_secret[0] = '\0';
    if (!src->url || !*src->url)
        return fail(err, 400, NULL, "Give the URL of the repository to follow");
    if (!source_url_allowed(src->url, admin, why, sizeof why))
        return fail(err, 400, NULL, "%s", why);
    if (!source_branch_valid(branch))
        return fail(err, 400, NULL, "\"%s\" is not a valid branch name", branch);
    if (src->secret && strlen(src->secret) < 8)
        return fail(err, 400, NULL, "The webhook secret must be at least 8 characters");
    if (src->poll_seconds != 0 && (src->poll_seconds < min || src->poll_seconds > SOURCE_POLL_MAX))
        return fail(err, 400, NULL, "Poll every 0 (never: webhooks only) or %d to %d seconds", min,
                    SOURCE_POLL_MAX);
    if (source_set(a, sp, src->url, branch, src->token, src->secret, src->poll_seconds,
                   new_secret) < 0)
        return fail(err, 500, NULL, "Could not store the source of %s", sp->full_id);
    return true;
}

bool ops_source_clear(app *a, const space *sp, ops_error *err)
{
    if (source_clear(a, sp) < 0)
        return fail(err, 500, NULL, "Could not turn tracking off for %s", sp->full_id);
    return true;
}
