/* source: spaces that follow a branch of a remote git repository.
 *
 * A tracked space's main is a mirror of one remote branch. A signed webhook
 * from the forge (GitHub, GitLab, Gitea) or a poll of the remote starts a
 * `git fetch` of that branch into the space's bare repository; main then
 * moves to the fetched commit and the lifecycle deploys it. One sync runs per
 * space at a time; triggers that arrive meanwhile fold into one more sync.
 *
 * Main never moves backwards: a fetched commit that descends from main is a
 * fast-forward and is taken; any other (the remote was force-pushed, or reset)
 * is taken only when the move is confirmed: the webhook payload said
 * "forced": true, the sync came from a poll (ls-remote showed that head), or
 * it is the first sync after tracking was set up. Otherwise main stays and a
 * "source-diverged" event says why.
 *
 * The deploy token and the webhook secret are sealed with the vault; the
 * token reaches git only through its environment (an http.extraHeader set by
 * GIT_CONFIG_*), never a URL, a command line, a log line or an event. */
#ifndef HANGAR_SOURCE_H
#define HANGAR_SOURCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/app.h"
#include "space/space.h"

#define SOURCE_URL_MAX 1024
#define SOURCE_BRANCH_MAX 200
#define SOURCE_POLL_MIN 30    /* seconds, for everyone but admins */
#define SOURCE_POLL_MAX 86400 /* one day */
#define SOURCE_SECRET_MAX 256 /* webhook secret, bytes */
#define SOURCE_TOKEN_MAX 4096 /* deploy token, bytes */

/* A space's source as stored: token and secret are sealed (vault) or "". */
typedef struct source_config {
    char url[SOURCE_URL_MAX + 1];
    char branch[SOURCE_BRANCH_MAX + 1];
    int poll_seconds; /* 0: webhooks only */
    char *token_sealed;
    char *secret_sealed;
} source_config;

/* What a webhook request carries, as the forge sent it. */
typedef enum { SOURCE_FORGE_GITHUB, SOURCE_FORGE_GITLAB, SOURCE_FORGE_GITEA } source_forge;

/* Loads every tracked space and starts its polling. Once, after the lifecycle. */
int source_init(app *a);

/* The stored source of a space: 0, 1 when it tracks nothing, -1 on error.
 * Free with source_config_free. */
int source_get(app *a, int64_t space_id, source_config *out);
void source_config_free(source_config *cfg);

/* Checks a URL for tracking: http(s) always, file:// only when allow_file
 * (admins). No credentials in it (the token field carries them). false with
 * err set when refused. */
bool source_url_allowed(const char *url, bool allow_file, char *err, size_t size);
/* A branch name git accepts (refs/heads/<branch>). */
bool source_branch_valid(const char *branch);

/* Stores the source of sp, then syncs it at once. token and secret are plain
 * text; a NULL token keeps the stored one while the URL is unchanged; a NULL
 * secret keeps the stored one, or a new one is made and left in new_secret
 * (else ""), to be shown once. 0 or -1 (logged). */
int source_set(app *a, const space *sp, const char *url, const char *branch, const char *token,
               const char *secret, int poll_seconds, char new_secret[SOURCE_SECRET_MAX + 1]);
/* Stops tracking: direct pushes are accepted again. */
int source_clear(app *a, const space *sp);

/* Verifies a webhook's signature or token against the space's secret, in
 * constant time. sig is the header's value (NULL when absent). */
bool source_webhook_verify(const source_config *cfg, source_forge forge, const char *sig,
                           const char *body, size_t len);
/* Starts (or queues) a sync of sp's source; forced confirms a non-fast-forward
 * (see above); via names the trigger in events ("webhook", "poll"). */
void source_sync(app *a, int64_t space_id, bool forced, const char *via);

/* True when sp tracks a source, with msg naming it: pushes must go there. */
bool source_blocks_push(app *a, const space *sp, char *msg, size_t size);

/* The last sync error of a space ("" none) and when the next poll is due;
 * adds "source" to a runtime JSON and sets errorMessage when it has none. */
void source_runtime_json(app *a, const space *sp, json_t *rt);

#endif
