#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

struct store {
    sqlite3 *db;
};

/* Append-only: never edit a migration that has shipped, add a new one. */
static const char *const migrations[] = {
    /* 1: accounts */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  fullname TEXT NOT NULL DEFAULT '',"
    "  is_admin INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL CHECK (role IN ('read','write')),"
    "  display_name TEXT NOT NULL DEFAULT '',"
    "  hash TEXT NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL,"
    "  last_used_ms INTEGER);"
    "CREATE INDEX tokens_user ON tokens(user_id);",
    /* 2: spaces and their events */
    "CREATE TABLE spaces ("
    "  id INTEGER PRIMARY KEY,"
    "  hex_id TEXT NOT NULL UNIQUE,"
    "  owner_id INTEGER NOT NULL REFERENCES users(id),"
    "  owner TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  full_id TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  sdk TEXT NOT NULL,"
    "  private INTEGER NOT NULL DEFAULT 0,"
    "  subdomain TEXT NOT NULL UNIQUE,"
    "  sha TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  last_modified_ms INTEGER NOT NULL);"
    "CREATE INDEX spaces_owner ON spaces(owner_id);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  data TEXT NOT NULL DEFAULT '{}',"
    "  created_ms INTEGER NOT NULL,"
    "  consumed INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX events_space ON events(space_id, id);",
    /* 3: what the lifecycle needs to bring a space back after a restart */
    "ALTER TABLE spaces ADD COLUMN desired TEXT NOT NULL DEFAULT 'running'"
    "  CHECK (desired IN ('running','paused'));"
    "ALTER TABLE spaces ADD COLUMN sleep_seconds INTEGER;"
    "ALTER TABLE spaces ADD COLUMN hardware TEXT NOT NULL DEFAULT 'cpu-basic';"
    "CREATE TABLE builds ("
    "  id INTEGER PRIMARY KEY,"
    "  space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,"
    "  sha TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('running','succeeded','failed')),"
    "  stage TEXT NOT NULL DEFAULT '',"
    "  error TEXT NOT NULL DEFAULT '',"
    "  env_hash TEXT NOT NULL DEFAULT '',"
    "  started_ms INTEGER NOT NULL,"
    "  finished_ms INTEGER);"
    "CREATE INDEX builds_space ON builds(space_id, id);",
    /* 4: secrets (sealed by the vault) and variables of spaces */
    "CREATE TABLE secrets ("
    "  space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  sealed TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (space_id, key));"
    "CREATE TABLE variables ("
    "  space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (space_id, key));",
    /* 5: web UI sign-in sessions; revoking the token ends its sessions */
    "CREATE TABLE sessions ("
    "  hash TEXT PRIMARY KEY,"
    "  token_id INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL);"
    "CREATE INDEX sessions_token ON sessions(token_id);",
    /* 6: remote repositories that spaces follow (token and secret sealed) */
    "CREATE TABLE space_sources ("
    "  space_id INTEGER PRIMARY KEY REFERENCES spaces(id) ON DELETE CASCADE,"
    "  url TEXT NOT NULL,"
    "  branch TEXT NOT NULL,"
    "  poll_seconds INTEGER NOT NULL DEFAULT 0,"
    "  token TEXT NOT NULL DEFAULT '',"
    "  secret TEXT NOT NULL DEFAULT '',"
    "  updated_ms INTEGER NOT NULL);",
    /* 7: the persistent storage tier a space asked for (HF's small/medium/large) */
    "CREATE TABLE space_storage ("
    "  space_id INTEGER PRIMARY KEY REFERENCES spaces(id) ON DELETE CASCADE,"
    "  tier TEXT NOT NULL);",
    /* 8: a space's id is never given again (SQLite reuses the largest rowid once
     * its row is deleted): builds, /data and the lifecycle's state are keyed
     * by it, and a deleted space's are still being removed while a space made
     * next, under the same name, starts. */
    "CREATE TABLE space_last_id (id INTEGER NOT NULL);"
    "INSERT INTO space_last_id SELECT coalesce(max(id), 0) FROM spaces;"
    "CREATE TRIGGER spaces_last_id AFTER INSERT ON spaces BEGIN"
    "  UPDATE space_last_id SET id = max(id, NEW.id);"
    "END;",
};

#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        log_error("store", "%s (while running: %.80s)", err ? err : "unknown error", sql);
        sqlite3_free(err);
        return STORE_ERROR;
    }
    return STORE_OK;
}

int store_schema_version(store *st)
{
    sqlite3_stmt *stmt;
    int version = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return version;
}

static int migrate(store *st)
{
    int version = store_schema_version(st);
    if (version < 0)
        return STORE_ERROR;
    if (version > NMIGRATIONS) {
        log_error("store", "database schema %d is newer than this hangar (%d): upgrade hangar",
                  version, NMIGRATIONS);
        return STORE_ERROR;
    }
    for (int v = version; v < NMIGRATIONS; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (store_begin(st) < 0)
            return STORE_ERROR;
        if (exec_sql(st->db, migrations[v]) < 0 || exec_sql(st->db, pragma) < 0) {
            store_rollback(st);
            log_error("store", "migration %d failed", v + 1);
            return STORE_ERROR;
        }
        if (store_commit(st) < 0)
            return STORE_ERROR;
        log_info("store", "applied schema migration %d", v + 1);
    }
    return STORE_OK;
}

int store_open(const char *data_dir, store **out)
{
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/hangar.db", data_dir);
    store *st = calloc(1, sizeof *st);
    if (!st)
        return STORE_ERROR;
    int rc = sqlite3_open_v2(
        path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("store", "cannot open %s: %s", path, sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* WAL + synchronous=NORMAL: a crash loses at most the last transactions
     * since the last checkpoint sync, never consistency. FULL for durability
     * of acknowledged writes. */
    if (exec_sql(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                         "PRAGMA foreign_keys=ON;") < 0)
        goto fail;
    if (migrate(st) < 0)
        goto fail;
    *out = st;
    return STORE_OK;
fail:
    store_close(st);
    return STORE_ERROR;
}

void store_close(store *st)
{
    if (!st)
        return;
    if (st->db)
        sqlite3_close_v2(st->db);
    free(st);
}

sqlite3 *store_db(store *st)
{
    return st->db;
}

int store_begin(store *st)
{
    return exec_sql(st->db, "BEGIN IMMEDIATE");
}

int store_commit(store *st)
{
    return exec_sql(st->db, "COMMIT");
}

void store_rollback(store *st)
{
    exec_sql(st->db, "ROLLBACK");
}

static sqlite3_stmt *prepare(store *st, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        log_error("store", "prepare failed: %s (%.80s)", sqlite3_errmsg(st->db), sql);
        return NULL;
    }
    return stmt;
}

static void copy_text(char *dst, size_t size, sqlite3_stmt *stmt, int col)
{
    const unsigned char *t = sqlite3_column_text(stmt, col);
    snprintf(dst, size, "%s", t ? (const char *)t : "");
}

int store_user_create(store *st, const char *name, bool admin, int64_t *id_out)
{
    sqlite3_stmt *stmt =
        prepare(st, "INSERT INTO users(name, fullname, is_admin, created_ms) VALUES(?,?,?,?)");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 3, admin ? 1 : 0);
    sqlite3_bind_int64(stmt, 4, util_now_ms());
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc == SQLITE_CONSTRAINT)
        return STORE_EXISTS;
    if (rc != SQLITE_DONE) {
        log_error("store", "creating user %s: %s", name, sqlite3_errmsg(st->db));
        return STORE_ERROR;
    }
    if (id_out)
        *id_out = sqlite3_last_insert_rowid(st->db);
    return STORE_OK;
}

static void read_user(sqlite3_stmt *stmt, int col, store_user *out)
{
    out->id = sqlite3_column_int64(stmt, col);
    copy_text(out->name, sizeof out->name, stmt, col + 1);
    copy_text(out->fullname, sizeof out->fullname, stmt, col + 2);
    out->admin = sqlite3_column_int(stmt, col + 3) != 0;
    out->created_ms = sqlite3_column_int64(stmt, col + 4);
}

static int user_query(store *st, const char *sql, const char *name, int64_t id, store_user *out)
{
    sqlite3_stmt *stmt = prepare(st, sql);
    if (!stmt)
        return STORE_ERROR;
    if (name)
        sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    int result = STORE_NOTFOUND;
    if (rc == SQLITE_ROW) {
        read_user(stmt, 0, out);
        result = STORE_OK;
    } else if (rc != SQLITE_DONE) {
        log_error("store", "user lookup: %s", sqlite3_errmsg(st->db));
        result = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    return result;
}

int store_user_by_name(store *st, const char *name, store_user *out)
{
    return user_query(st, "SELECT id, name, fullname, is_admin, created_ms FROM users WHERE name=?",
                      name, 0, out);
}

int store_user_by_id(store *st, int64_t id, store_user *out)
{
    return user_query(st, "SELECT id, name, fullname, is_admin, created_ms FROM users WHERE id=?",
                      NULL, id, out);
}

int store_token_create(store *st, int64_t user_id, const char *role, const char *display_name,
                       const char *hash)
{
    sqlite3_stmt *stmt = prepare(st, "INSERT INTO tokens(user_id, role, display_name, hash, "
                                     "created_ms) VALUES(?,?,?,?,?)");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_text(stmt, 2, role, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, display_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, util_now_ms());
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc == SQLITE_CONSTRAINT)
        return STORE_EXISTS;
    if (rc != SQLITE_DONE) {
        log_error("store", "creating token: %s", sqlite3_errmsg(st->db));
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* Steps a bound "token t JOIN user u" query (columns as in store_token_by_hash)
 * and finalizes it: STORE_OK with the row, STORE_NOTFOUND, or STORE_ERROR. */
static int token_row(store *st, sqlite3_stmt *stmt, const char *what, store_token *token,
                     store_user *user)
{
    int rc = sqlite3_step(stmt);
    int result = STORE_NOTFOUND;
    if (rc == SQLITE_ROW) {
        token->id = sqlite3_column_int64(stmt, 0);
        token->user_id = sqlite3_column_int64(stmt, 1);
        copy_text(token->role, sizeof token->role, stmt, 2);
        copy_text(token->display_name, sizeof token->display_name, stmt, 3);
        token->created_ms = sqlite3_column_int64(stmt, 4);
        read_user(stmt, 5, user);
        result = STORE_OK;
    } else if (rc != SQLITE_DONE) {
        log_error("store", "%s: %s", what, sqlite3_errmsg(st->db));
        result = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    return result;
}

int store_token_by_hash(store *st, const char *hash, store_token *token, store_user *user)
{
    sqlite3_stmt *stmt =
        prepare(st, "SELECT t.id, t.user_id, t.role, t.display_name, t.created_ms,"
                    " u.id, u.name, u.fullname, u.is_admin, u.created_ms"
                    " FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash=?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, hash, -1, SQLITE_STATIC);
    return token_row(st, stmt, "token lookup", token, user);
}

/* ---- web UI sessions ---- */

int store_session_create(store *st, const char *hash, int64_t token_id, int64_t expires_ms)
{
    int64_t now = util_now_ms();
    /* Expired sessions go when new ones come: the table stays small without a timer. */
    sqlite3_stmt *stmt = prepare(st, "DELETE FROM sessions WHERE expires_ms <= ?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, now);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        log_warn("store", "purging expired sessions: %s", sqlite3_errmsg(st->db));
    stmt = prepare(st, "INSERT INTO sessions(hash, token_id, created_ms, expires_ms) "
                       "VALUES(?,?,?,?)");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, token_id);
    sqlite3_bind_int64(stmt, 3, now);
    sqlite3_bind_int64(stmt, 4, expires_ms);
    rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc == SQLITE_CONSTRAINT)
        return STORE_EXISTS;
    if (rc != SQLITE_DONE) {
        log_error("store", "creating a session: %s", sqlite3_errmsg(st->db));
        return STORE_ERROR;
    }
    return STORE_OK;
}

int store_session_by_hash(store *st, const char *hash, store_token *token, store_user *user)
{
    sqlite3_stmt *stmt =
        prepare(st, "SELECT t.id, t.user_id, t.role, t.display_name, t.created_ms,"
                    " u.id, u.name, u.fullname, u.is_admin, u.created_ms"
                    " FROM sessions s JOIN tokens t ON t.id = s.token_id"
                    " JOIN users u ON u.id = t.user_id WHERE s.hash=? AND s.expires_ms > ?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, util_now_ms());
    return token_row(st, stmt, "session lookup", token, user);
}

int store_session_delete(store *st, const char *hash)
{
    sqlite3_stmt *stmt = prepare(st, "DELETE FROM sessions WHERE hash=?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        log_error("store", "deleting a session: %s", sqlite3_errmsg(st->db));
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* ---- spaces ------------------------------------------------------------- */

#define SPACE_COLUMNS                                                                              \
    "id, hex_id, owner_id, owner, name, full_id, sdk, private, subdomain, sha, created_ms,"        \
    " last_modified_ms, desired, sleep_seconds, hardware"

static void read_space(sqlite3_stmt *stmt, space *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->id = sqlite3_column_int64(stmt, 0);
    copy_text(sp->hex_id, sizeof sp->hex_id, stmt, 1);
    sp->owner_id = sqlite3_column_int64(stmt, 2);
    copy_text(sp->owner, sizeof sp->owner, stmt, 3);
    copy_text(sp->name, sizeof sp->name, stmt, 4);
    copy_text(sp->full_id, sizeof sp->full_id, stmt, 5);
    copy_text(sp->sdk, sizeof sp->sdk, stmt, 6);
    sp->is_private = sqlite3_column_int(stmt, 7) != 0;
    copy_text(sp->subdomain, sizeof sp->subdomain, stmt, 8);
    copy_text(sp->sha, sizeof sp->sha, stmt, 9);
    sp->created_ms = sqlite3_column_int64(stmt, 10);
    sp->last_modified_ms = sqlite3_column_int64(stmt, 11);
    sp->paused = strcmp((const char *)sqlite3_column_text(stmt, 12), "paused") == 0;
    sp->sleep_seconds = sqlite3_column_type(stmt, 13) == SQLITE_NULL
                            ? SPACE_SLEEP_DEFAULT
                            : sqlite3_column_int64(stmt, 13);
    copy_text(sp->hardware, sizeof sp->hardware, stmt, 14);
}

/* Runs a statement expected to change rows; STORE_NOTFOUND when none changed. */
static int step_change(store *st, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc == SQLITE_CONSTRAINT)
        return STORE_EXISTS;
    if (rc != SQLITE_DONE) {
        log_error("store", "%s: %s", what, sqlite3_errmsg(st->db));
        return STORE_ERROR;
    }
    return sqlite3_changes(st->db) > 0 ? STORE_OK : STORE_NOTFOUND;
}

int store_space_create(store *st, space *sp)
{
    sqlite3_stmt *stmt =
        prepare(st, "INSERT INTO spaces(id, hex_id, owner_id, owner, name, full_id, sdk, private,"
                    " subdomain, sha, created_ms, last_modified_ms)"
                    " VALUES((SELECT id + 1 FROM space_last_id),?,?,?,?,?,?,?,?,?,?,?)");
    if (!stmt)
        return STORE_ERROR;
    snprintf(sp->full_id, sizeof sp->full_id, "%s/%s", sp->owner, sp->name);
    sqlite3_bind_text(stmt, 1, sp->hex_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, sp->owner_id);
    sqlite3_bind_text(stmt, 3, sp->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, sp->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, sp->full_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, sp->sdk, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 7, sp->is_private);
    sqlite3_bind_text(stmt, 8, sp->subdomain, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 9, sp->sha, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 10, sp->created_ms);
    sqlite3_bind_int64(stmt, 11, sp->last_modified_ms);
    int rc = step_change(st, stmt, "creating space");
    if (rc == STORE_OK)
        sp->id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

static int space_query_one(store *st, const char *sql, const char *a, const char *b, space *out)
{
    sqlite3_stmt *stmt = prepare(st, sql);
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(stmt, 2, b, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    int result = STORE_NOTFOUND;
    if (rc == SQLITE_ROW) {
        read_space(stmt, out);
        result = STORE_OK;
    } else if (rc != SQLITE_DONE) {
        log_error("store", "space lookup: %s", sqlite3_errmsg(st->db));
        result = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    return result;
}

int store_space_get(store *st, const char *owner, const char *name, space *out)
{
    char full[2 * SPACE_NAME_MAX + 2];
    snprintf(full, sizeof full, "%s/%s", owner, name);
    return space_query_one(st, "SELECT " SPACE_COLUMNS " FROM spaces WHERE full_id=?", full, NULL,
                           out);
}

int store_space_by_subdomain(store *st, const char *subdomain, space *out)
{
    return space_query_one(st, "SELECT " SPACE_COLUMNS " FROM spaces WHERE subdomain=?", subdomain,
                           NULL, out);
}

int store_space_delete(store *st, int64_t id)
{
    sqlite3_stmt *stmt = prepare(st, "DELETE FROM spaces WHERE id=?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, id);
    return step_change(st, stmt, "deleting space");
}

int store_space_set_private(store *st, int64_t id, bool is_private)
{
    sqlite3_stmt *stmt = prepare(st, "UPDATE spaces SET private=? WHERE id=?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int(stmt, 1, is_private);
    sqlite3_bind_int64(stmt, 2, id);
    return step_change(st, stmt, "changing visibility");
}

int store_space_set_sha(store *st, int64_t id, const char *sha)
{
    sqlite3_stmt *stmt = prepare(st, "UPDATE spaces SET sha=?, last_modified_ms=? WHERE id=?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, sha, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, util_now_ms());
    sqlite3_bind_int64(stmt, 3, id);
    return step_change(st, stmt, "recording head");
}

int store_space_rename(store *st, int64_t id, int64_t owner_id, const char *owner, const char *name,
                       const char *subdomain)
{
    sqlite3_stmt *stmt = prepare(st, "UPDATE spaces SET owner_id=?, owner=?, name=?, full_id=?,"
                                     " subdomain=?, last_modified_ms=? WHERE id=?");
    if (!stmt)
        return STORE_ERROR;
    char full[2 * SPACE_NAME_MAX + 2];
    snprintf(full, sizeof full, "%s/%s", owner, name);
    sqlite3_bind_int64(stmt, 1, owner_id);
    sqlite3_bind_text(stmt, 2, owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, full, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, subdomain, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 6, util_now_ms());
    sqlite3_bind_int64(stmt, 7, id);
    return step_change(st, stmt, "renaming space");
}

int store_space_list(store *st, const store_space_query *q, void (*fn)(const space *, void *),
                     void *arg)
{
    const char *order = "last_modified_ms";
    if (q->sort && strcmp(q->sort, "createdAt") == 0)
        order = "created_ms";
    else if (q->sort && strcmp(q->sort, "id") == 0)
        order = "full_id";
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT " SPACE_COLUMNS " FROM spaces WHERE (?1 IS NULL OR owner=?1)"
             " AND (?2 IS NULL OR instr(lower(full_id), lower(?2)) > 0)"
             " AND (private=0 OR owner_id=?3 OR ?4)"
             " ORDER BY %s %s, id %s LIMIT ?5 OFFSET ?6",
             order, q->descending ? "DESC" : "ASC", q->descending ? "DESC" : "ASC");
    sqlite3_stmt *stmt = prepare(st, sql);
    if (!stmt)
        return STORE_ERROR;
    if (q->author)
        sqlite3_bind_text(stmt, 1, q->author, -1, SQLITE_STATIC);
    if (q->search)
        sqlite3_bind_text(stmt, 2, q->search, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, q->viewer_id);
    sqlite3_bind_int(stmt, 4, q->viewer_admin);
    sqlite3_bind_int(stmt, 5, q->limit);
    sqlite3_bind_int64(stmt, 6, q->after_cursor);
    int count = 0, rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        space sp;
        read_space(stmt, &sp);
        fn(&sp, arg);
        count++;
    }
    if (rc != SQLITE_DONE) {
        log_error("store", "listing spaces: %s", sqlite3_errmsg(st->db));
        count = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    return count;
}

int store_event_add(store *st, int64_t space_id, const char *kind, const char *data)
{
    sqlite3_stmt *stmt =
        prepare(st, "INSERT INTO events(space_id, kind, data, created_ms) VALUES(?,?,?,?)");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, space_id);
    sqlite3_bind_text(stmt, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, data ? data : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, util_now_ms());
    return step_change(st, stmt, "recording event");
}

int store_space_set_paused(store *st, int64_t id, bool paused)
{
    sqlite3_stmt *stmt = prepare(st, "UPDATE spaces SET desired=? WHERE id=?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, paused ? "paused" : "running", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, id);
    return step_change(st, stmt, "changing desired state");
}

int store_space_set_sleep(store *st, int64_t id, int64_t seconds)
{
    sqlite3_stmt *stmt = prepare(st, "UPDATE spaces SET sleep_seconds=? WHERE id=?");
    if (!stmt)
        return STORE_ERROR;
    if (seconds == SPACE_SLEEP_DEFAULT)
        sqlite3_bind_null(stmt, 1);
    else
        sqlite3_bind_int64(stmt, 1, seconds);
    sqlite3_bind_int64(stmt, 2, id);
    return step_change(st, stmt, "changing sleep time");
}

int store_build_start(store *st, int64_t space_id, const char *sha, int64_t *build_id)
{
    sqlite3_stmt *stmt = prepare(st, "INSERT INTO builds(space_id, sha, status, started_ms)"
                                     " VALUES(?,?,'running',?)");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, space_id);
    sqlite3_bind_text(stmt, 2, sha, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, util_now_ms());
    int rc = step_change(st, stmt, "recording build");
    if (rc == STORE_OK && build_id)
        *build_id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int store_build_finish(store *st, int64_t build_id, bool ok, const char *stage, const char *error,
                       const char *env_hash)
{
    sqlite3_stmt *stmt = prepare(st, "UPDATE builds SET status=?, stage=?, error=?, env_hash=?,"
                                     " finished_ms=? WHERE id=?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, ok ? "succeeded" : "failed", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, stage ? stage : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, error ? error : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, env_hash ? env_hash : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, util_now_ms());
    sqlite3_bind_int64(stmt, 6, build_id);
    return step_change(st, stmt, "finishing build");
}

/* Builds still 'running' belong to a daemon that died: they failed. */
int store_builds_abandon(store *st)
{
    sqlite3_stmt *stmt =
        prepare(st, "UPDATE builds SET status='failed', error='the daemon stopped during the "
                    "build', finished_ms=? WHERE status='running'");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, util_now_ms());
    int rc = step_change(st, stmt, "abandoning builds");
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* ---- secrets and variables ------------------------------------------------ */

static const char *env_table(bool secret)
{
    return secret ? "secrets" : "variables";
}

int store_env_set(store *st, bool secret, int64_t space_id, const char *key, const char *value,
                  const char *description)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s(space_id, key, %s, description, updated_ms) VALUES(?,?,?,?,?)"
             " ON CONFLICT(space_id, key) DO UPDATE SET %s=excluded.%s,"
             " description=excluded.description, updated_ms=excluded.updated_ms",
             env_table(secret), secret ? "sealed" : "value", secret ? "sealed" : "value",
             secret ? "sealed" : "value");
    sqlite3_stmt *stmt = prepare(st, sql);
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, space_id);
    sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, value, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, description ? description : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, util_now_ms());
    return step_change(st, stmt, secret ? "storing a secret" : "storing a variable");
}

int store_env_delete(store *st, bool secret, int64_t space_id, const char *key)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE space_id=? AND key=?", env_table(secret));
    sqlite3_stmt *stmt = prepare(st, sql);
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, space_id);
    sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
    return step_change(st, stmt, "deleting an environment entry");
}

int store_env_list(store *st, bool secret, int64_t space_id,
                   void (*fn)(const char *key, const char *value, const char *description,
                              int64_t updated_ms, void *arg),
                   void *arg)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT key, %s, description, updated_ms FROM %s WHERE space_id=? ORDER BY key",
             secret ? "sealed" : "value", env_table(secret));
    sqlite3_stmt *stmt = prepare(st, sql);
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, space_id);
    int rc, count = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        fn((const char *)sqlite3_column_text(stmt, 0), (const char *)sqlite3_column_text(stmt, 1),
           (const char *)sqlite3_column_text(stmt, 2), sqlite3_column_int64(stmt, 3), arg);
        count++;
    }
    if (rc != SQLITE_DONE) {
        log_error("store", "listing %s: %s", env_table(secret), sqlite3_errmsg(st->db));
        count = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    return count;
}

int store_space_set_hardware(store *st, int64_t id, const char *flavor)
{
    sqlite3_stmt *stmt = prepare(st, "UPDATE spaces SET hardware=? WHERE id=?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_text(stmt, 1, flavor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, id);
    return step_change(st, stmt, "changing hardware");
}

int store_storage_get(store *st, int64_t space_id, char *tier, size_t size)
{
    tier[0] = '\0';
    sqlite3_stmt *stmt = prepare(st, "SELECT tier FROM space_storage WHERE space_id=?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, space_id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        snprintf(tier, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERROR;
}

int store_storage_set(store *st, int64_t space_id, const char *tier)
{
    sqlite3_stmt *stmt =
        tier ? prepare(st, "INSERT OR REPLACE INTO space_storage(space_id, tier) VALUES (?, ?)")
             : prepare(st, "DELETE FROM space_storage WHERE space_id=?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, space_id);
    if (tier)
        sqlite3_bind_text(stmt, 2, tier, -1, SQLITE_STATIC);
    int rc = step_change(st, stmt, "changing the storage tier");
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int store_env_copy_variables(store *st, int64_t from_id, int64_t to_id)
{
    sqlite3_stmt *stmt = prepare(st, "INSERT OR REPLACE INTO variables(space_id, key, value,"
                                     " description, updated_ms) SELECT ?, key, value, description,"
                                     " ? FROM variables WHERE space_id=?");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, to_id);
    sqlite3_bind_int64(stmt, 2, util_now_ms());
    sqlite3_bind_int64(stmt, 3, from_id);
    int rc = step_change(st, stmt, "copying variables");
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int store_event_list(store *st, int64_t space_id,
                     void (*fn)(const char *kind, const char *data, int64_t created_ms, void *arg),
                     void *arg)
{
    sqlite3_stmt *stmt =
        prepare(st, "SELECT kind, data, created_ms FROM events WHERE space_id=? ORDER BY id");
    if (!stmt)
        return STORE_ERROR;
    sqlite3_bind_int64(stmt, 1, space_id);
    int rc, count = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        fn((const char *)sqlite3_column_text(stmt, 0), (const char *)sqlite3_column_text(stmt, 1),
           sqlite3_column_int64(stmt, 2), arg);
        count++;
    }
    if (rc != SQLITE_DONE) {
        log_error("store", "listing events: %s", sqlite3_errmsg(st->db));
        count = STORE_ERROR;
    }
    sqlite3_finalize(stmt);
    return count;
}
