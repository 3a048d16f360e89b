/* store: Hangar's state in SQLite (WAL mode, foreign keys on).
 *
 * The schema is a list of numbered migrations applied in order at open, each
 * in its own transaction, so a database from any earlier version upgrades and
 * a crash mid-migration leaves the previous version intact. */
#ifndef HANGAR_STORE_H
#define HANGAR_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "space/space.h"

typedef struct store store;

enum { STORE_OK = 0, STORE_ERROR = -1, STORE_NOTFOUND = -2, STORE_EXISTS = -3 };

typedef struct store_user {
    int64_t id;
    char name[97];
    char fullname[128];
    bool admin;
    int64_t created_ms;
} store_user;

typedef struct store_token {
    int64_t id;
    int64_t user_id;
    char role[16]; /* "read" or "write" */
    char display_name[128];
    int64_t created_ms;
} store_token;

/* Opens DATA/hangar.db, creating it, and migrates it to the current schema. */
int store_open(const char *data_dir, store **out);
void store_close(store *st);
sqlite3 *store_db(store *st);
int store_schema_version(store *st);

/* Transactions (BEGIN IMMEDIATE: writers queue instead of failing later). */
int store_begin(store *st);
int store_commit(store *st);
void store_rollback(store *st);

int store_user_create(store *st, const char *name, bool admin, int64_t *id_out);
int store_user_by_name(store *st, const char *name, store_user *out);
int store_user_by_id(store *st, int64_t id, store_user *out);

/* hash is the hex token digest (auth_token_hash); the token itself is never stored. */
int store_token_create(store *st, int64_t user_id, const char *role, const char *display_name,
                       const char *hash);
int store_token_by_hash(store *st, const char *hash, store_token *token, store_user *user);

/* Web UI sessions, keyed by the digest of the cookie (the cookie itself is
 * never stored). A session acts with the rights of the token it was opened
 * with, and ends with it. by_hash finds only unexpired sessions. */
int store_session_create(store *st, const char *hash, int64_t token_id, int64_t expires_ms);
int store_session_by_hash(store *st, const char *hash, store_token *token, store_user *user);
int store_session_delete(store *st, const char *hash);

/* ---- spaces ---- */

typedef struct store_space_query {
    const char *author; /* owner name, or NULL */
    const char *search; /* substring of the id, or NULL */
    const char *sort;   /* "lastModified" (default), "createdAt", "id" */
    bool descending;
    int64_t viewer_id; /* private spaces of others are hidden; 0: anonymous */
    bool viewer_admin;
    int limit;
    int64_t after_cursor; /* offset for pagination */
} store_space_query;

int store_space_create(store *st, space *sp); /* fills id; STORE_EXISTS on a clash */
int store_space_get(store *st, const char *owner, const char *name, space *out);
int store_space_by_subdomain(store *st, const char *subdomain, space *out);
int store_space_delete(store *st, int64_t id);
int store_space_set_private(store *st, int64_t id, bool is_private);
int store_space_set_sha(store *st, int64_t id, const char *sha);
int store_space_rename(store *st, int64_t id, int64_t owner_id, const char *owner, const char *name,
                       const char *subdomain);
/* Calls fn for each match in order; returns the count or STORE_ERROR. */
int store_space_list(store *st, const store_space_query *q, void (*fn)(const space *, void *),
                     void *arg);
int store_space_set_paused(store *st, int64_t id, bool paused);
int store_space_set_hardware(store *st, int64_t id, const char *flavor);
/* seconds: -1 never sleeps, SPACE_SLEEP_DEFAULT follows the daemon's default. */
int store_space_set_sleep(store *st, int64_t id, int64_t seconds);

int store_build_start(store *st, int64_t space_id, const char *sha, int64_t *build_id);
int store_build_finish(store *st, int64_t build_id, bool ok, const char *stage, const char *error,
                       const char *env_hash);
int store_builds_abandon(store *st);

/* Secrets (value = the vault-sealed text) and variables of a space. */
int store_env_set(store *st, bool secret, int64_t space_id, const char *key, const char *value,
                  const char *description);
int store_env_delete(store *st, bool secret, int64_t space_id, const char *key);
int store_env_copy_variables(store *st, int64_t from_id, int64_t to_id);

/* The storage tier of a space ("" and STORE_NOTFOUND when none was asked for);
 * set NULL removes it. */
int store_storage_get(store *st, int64_t space_id, char *tier, size_t size);
int store_storage_set(store *st, int64_t space_id, const char *tier);
/* Calls fn for each entry in key order; returns the count or STORE_ERROR. */
int store_env_list(store *st, bool secret, int64_t space_id,
                   void (*fn)(const char *key, const char *value, const char *description,
                              int64_t updated_ms, void *arg),
                   void *arg);

/* Calls fn for each event of the space, oldest first; count or STORE_ERROR. */
int store_event_list(store *st, int64_t space_id,
                     void (*fn)(const char *kind, const char *data, int64_t created_ms, void *arg),
                     void *arg);
/* Records an event for the space (kind e.g. "commit"; data a JSON object text). */
int store_event_add(store *st, int64_t space_id, const char *kind, const char *data);

#endif
