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

#endif
