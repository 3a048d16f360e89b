/* ops: what Hangar does to a space, without HTTP.
 *
 * The API handlers and the web UI's forms change spaces through these
 * functions, so both apply the same checks, store the same desired state
 * first and tell the lifecycle the same way. Each returns true, or false with
 * the HTTP status, the X-Error-Code (or NULL) and a message for the client in
 * err; the caller answers in its own format (JSON or a page). Permissions are
 * the caller's: these act for whoever called them. */
#ifndef HANGAR_OPS_H
#define HANGAR_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "auth/auth.h"
#include "git/source.h"
#include "space/space.h"
#include "store/store.h"

typedef struct ops_error {
    int status;
    const char *code; /* X-Error-Code, or NULL */
    bool exists;      /* create: the space is already there */
    char message[512];
} ops_error;

/* Who may see and who may change a space: the owner and admins (a write
 * token for changes); everyone may see a public space. */
bool ops_can_read(const auth_identity *id, const space *sp);
bool ops_is_owner(const auth_identity *id, const space *sp);
bool ops_can_write(const auth_identity *id, const space *sp);

/* Creates space owner/name for actor (a new repository, or a copy of the
 * bare repository copy_from). */
bool ops_space_create(app *a, const store_user *actor, const char *owner, const char *name,
                      const char *sdk, bool is_private, const char *copy_from, space *out,
                      ops_error *err);
/* Copies from into owner/name with its history, hardware and (copy_variables)
 * variables; the caller starts it (lifecycle_restart) once set up. */
bool ops_space_duplicate(app *a, const store_user *actor, const space *from, const char *owner,
                         const char *name, bool is_private, bool copy_variables, space *out,
                         ops_error *err);
bool ops_space_delete(app *a, const space *sp, ops_error *err);
/* Renames sp to to_owner/to_name; sp is the renamed space on success. */
bool ops_space_move(app *a, const store_user *actor, space *sp, const char *to_owner,
                    const char *to_name, ops_error *err);

bool ops_space_set_private(app *a, space *sp, bool is_private, ops_error *err);
/* seconds: positive, or -1 never to sleep. */
bool ops_space_set_sleep(app *a, space *sp, int64_t seconds, ops_error *err);
/* Restarts the space on the new hardware when it changed. */
bool ops_space_set_hardware(app *a, space *sp, const char *flavor, ops_error *err);
/* HF's persistent storage tier ("small", "medium", "large"): a larger /data
 * quota, applied by a restart. A smaller tier than the current one is refused. */
bool ops_space_set_storage(app *a, space *sp, const char *tier, ops_error *err);
/* HF's delete_space_storage: the tier goes and /data is emptied (its files are
 * lost); the quota falls back to the profile's or the default. */
bool ops_space_delete_storage(app *a, space *sp, ops_error *err);
bool ops_space_restart(app *a, space *sp, bool factory, ops_error *err);
bool ops_space_pause(app *a, space *sp, ops_error *err);

/* Stores a secret (sealed) or a variable; the caller restarts the space with
 * ops_env_changed once all entries are in. */
bool ops_env_put(app *a, const space *sp, bool secret, const char *key, const char *value,
                 const char *description, ops_error *err);
/* Deletes an entry (absent is no error) and restarts the space when it existed. */
bool ops_env_delete(app *a, const space *sp, bool secret, const char *key, ops_error *err);
void ops_env_changed(app *a, const space *sp);

/* What a space is told to follow (git/source.h): token and secret are plain
 * text or NULL (keep the stored one; a secret is made when there is none). */
typedef struct ops_source {
    const char *url, *branch, *token, *secret;
    int poll_seconds; /* 0: webhooks only */
} ops_source;

/* Checks and stores the source of sp, then syncs it; admin allows file://
 * URLs and fast polling. A secret Hangar made is left in new_secret, to be
 * shown once (else ""). */
bool ops_source_set(app *a, const space *sp, bool admin, const ops_source *src,
                    char new_secret[SOURCE_SECRET_MAX + 1], ops_error *err);
bool ops_source_clear(app *a, const space *sp, ops_error *err);

#endif
