/* source: spaces that follow a remote branch (see source.h for the rules).
 *
 * Each tracked space has a track in memory: its poll timer, the sync in
 * flight, one queued sync, and the last error with its backoff. A sync is one
 * or two git children run through the loop (ls-remote when polling, then
 * fetch), whose output is collected and read when they exit. The fetched
 * commit is read from FETCH_HEAD, so nothing but main is ever written in the
 * repository that clients clone.
 *
 * The space_sources table is read and written here rather than in store.c:
 * these few queries have no other user. */
#include "git/source.h"

#include <errno.h>
#include <git2.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/vault.h"
#include "git/repo.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "space/lifecycle.h"
#include "space/events.h"
#include "store/store.h"

#define BACKOFF_MAX_S (30 * 60) /* a failing remote is tried at least this often */
#define GIT_TIMEOUT_MS (10 * 60 * 1000)
#define OUTPUT_MAX (64 * 1024) /* of a child's stdout or stderr; the rest is dropped */
#define ERROR_MAX 512

typedef enum { STEP_LS_REMOTE, STEP_FETCH } src_step;

typedef struct src_track {
    app *a;
    int64_t space_id;
    bool active; /* off: tracking was turned off; the track stays for reuse */
    int poll_s;
    uv_timer_t timer;
    bool busy; /* a sync is in flight */
    bool forced, first;
    char via[16];
    bool again; /* one more sync was asked for meanwhile */
    bool again_forced;
    char again_via[16];
    int failures;
    char error[ERROR_MAX];
    int64_t next_poll_ms;
    struct src_track *next;
} src_track;

typedef struct src_child {
    src_track *t;
    src_step step;
    uv_process_t proc;
    uv_pipe_t out, err;
    uv_timer_t kill;
    int open_handles;
    buf out_buf, err_buf;
    int64_t status;
    int signal;
    bool exited, out_eof, err_eof, done;
    char repo[4200];
    char remote_sha[41]; /* ls-remote's answer */
} src_child;

/* Tracks are never freed: a timer handle cannot be freed under the loop, and
 * there is at most one per space ever tracked while the daemon runs. */
static src_track *tracks;

static void sync_start(src_track *t);
static void sync_done(src_track *t, const char *error);

/* ---- store ------------------------------------------------------------------ */

static sqlite3_stmt *prepare(app *a, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store_db(a->store), sql, -1, &stmt, NULL) != SQLITE_OK) {
        log_error("source", "prepare: %s", sqlite3_errmsg(store_db(a->store)));
        return NULL;
    }
    return stmt;
}

static char *column_dup(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return strdup(text ? text : "");
}

int source_get(app *a, int64_t space_id, source_config *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *stmt = prepare(a, "SELECT url, branch, poll_seconds, token, secret "
                                    "FROM space_sources WHERE space_id=?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, space_id);
    int rc = sqlite3_step(stmt), result = 1;
    if (rc == SQLITE_ROW) {
        snprintf(out->url, sizeof out->url, "%s", sqlite3_column_text(stmt, 0));
        snprintf(out->branch, sizeof out->branch, "%s", sqlite3_column_text(stmt, 1));
        out->poll_seconds = sqlite3_column_int(stmt, 2);
        out->token_sealed = column_dup(stmt, 3);
        out->secret_sealed = column_dup(stmt, 4);
        result = out->token_sealed && out->secret_sealed ? 0 : -1;
    } else if (rc != SQLITE_DONE) {
        log_error("source", "reading the source of space %lld: %s", (long long)space_id,
                  sqlite3_errmsg(store_db(a->store)));
        result = -1;
    }
    sqlite3_finalize(stmt);
    if (result != 0)
        source_config_free(out);
    return result;
}

void source_config_free(source_config *cfg)
{
    free(cfg->token_sealed);
    free(cfg->secret_sealed);
    cfg->token_sealed = cfg->secret_sealed = NULL;
}

static int store_put(app *a, int64_t space_id, const source_config *cfg)
{
    sqlite3_stmt *stmt =
        prepare(a, "INSERT OR REPLACE INTO space_sources(space_id, url, branch, poll_seconds, "
                   "token, secret, updated_ms) VALUES(?,?,?,?,?,?,?)");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, space_id);
    sqlite3_bind_text(stmt, 2, cfg->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, cfg->branch, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 4, cfg->poll_seconds);
    sqlite3_bind_text(stmt, 5, cfg->token_sealed ? cfg->token_sealed : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, cfg->secret_sealed ? cfg->secret_sealed : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 7, util_now_ms());
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        log_error("source", "storing the source of space %lld: %s", (long long)space_id,
                  sqlite3_errmsg(store_db(a->store)));
        return -1;
    }
    return 0;
}

/* The space's row afresh (it may have been renamed or deleted meanwhile):
 * 0, 1 when it is gone, -1 on error. */
static int space_by_id(app *a, int64_t space_id, space *out)
{
    sqlite3_stmt *stmt = prepare(a, "SELECT owner, name FROM spaces WHERE id=?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, space_id);
    char owner[SPACE_NAME_MAX + 1] = "", name[SPACE_NAME_MAX + 1] = "";
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        snprintf(owner, sizeof owner, "%s", sqlite3_column_text(stmt, 0));
        snprintf(name, sizeof name, "%s", sqlite3_column_text(stmt, 1));
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_DONE)
        return 1;
    if (rc != SQLITE_ROW)
        return -1;
    rc = store_space_get(a->store, owner, name, out);
    return rc == STORE_OK ? 0 : rc == STORE_NOTFOUND ? 1 : -1;
}

static void add_event(app *a, int64_t space_id, const char *kind, json_t *data)
{
    char *text = data ? json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(data);
    if (events_add(a, space_id, kind, text) != STORE_OK)
        log_warn("source", "space %lld: cannot record a %s event", (long long)space_id, kind);
    free(text);
}

/* ---- checks ------------------------------------------------------------------- */

bool source_url_allowed(const char *url, bool allow_file, char *err, size_t size)
{
    size_t len = strlen(url);
    const char *rest = NULL;
    if (util_has_prefix(url, "https://"))
        rest = url + 8;
    else if (util_has_prefix(url, "http://"))
        rest = url + 7;
    else if (allow_file && util_has_prefix(url, "file:///"))
        return strspn(url, "\t\r\n ") == 0 && !strpbrk(url, "\t\r\n ");
    if (!rest) {
        snprintf(err, size, "\"url\" must be an http:// or https:// URL%s",
                 allow_file ? " (or file:/// for admins)" : "");
        return false;
    }
    if (len > SOURCE_URL_MAX || !*rest || *rest == '/' || strpbrk(url, " \t\r\n\\")) {
        snprintf(err, size, "\"url\" is not a valid URL");
        return false;
    }
    /* Credentials in a URL end up in logs and in FETCH_HEAD: "token" carries them. */
    const char *host_end = strpbrk(rest, "/?#");
    const char *at = strchr(rest, '@');
    if (at && (!host_end || at < host_end)) {
        snprintf(err, size, "\"url\" must not hold credentials: send them as \"token\"");
        return false;
    }
    return true;
}

bool source_branch_valid(const char *branch)
{
    size_t len = strlen(branch);
    if (len == 0 || len > SOURCE_BRANCH_MAX || branch[0] == '-' || branch[0] == '/' ||
        branch[len - 1] == '/' || branch[len - 1] == '.' || strstr(branch, "..") ||
        strstr(branch, "//") || strstr(branch, "@{") || strstr(branch, ".lock"))
        return false;
    for (const char *p = branch; *p; p++)
        if ((unsigned char)*p <= ' ' || strchr("~^:?*[\\\x7f", *p))
            return false;
    return true;
}

/* ---- tracks ------------------------------------------------------------------- */

static src_track *track_find(int64_t space_id)
{
    for (src_track *t = tracks; t; t = t->next)
        if (t->space_id == space_id)
            return t;
    return NULL;
}

static void on_poll_timer(uv_timer_t *timer)
{
    src_track *t = timer->data;
    source_sync(t->a, t->space_id, true, "poll");
}

/* Arms the next poll: the interval, doubled for each failure in a row. */
static void track_schedule(src_track *t)
{
    uv_timer_stop(&t->timer);
    t->next_poll_ms = 0;
    if (!t->active || t->poll_s <= 0)
        return;
    int64_t delay = t->poll_s;
    for (int i = 0; i < t->failures && delay < BACKOFF_MAX_S; i++)
        delay *= 2;
    if (t->failures > 0 && delay > BACKOFF_MAX_S)
        delay = t->poll_s > BACKOFF_MAX_S ? t->poll_s : BACKOFF_MAX_S;
    t->next_poll_ms = util_now_ms() + delay * 1000;
    uv_timer_start(&t->timer, on_poll_timer, (uint64_t)delay * 1000, 0);
}

static src_track *track_get(app *a, int64_t space_id)
{
    src_track *t = track_find(space_id);
    if (t)
        return t;
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->a = a;
    t->space_id = space_id;
    uv_timer_init(a->loop, &t->timer);
    /* Polling alone must not keep a stopping daemon alive. */
    uv_unref((uv_handle_t *)&t->timer);
    t->timer.data = t;
    t->next = tracks;
    tracks = t;
    return t;
}

static void load_one(app *a, int64_t space_id, int poll_s)
{
    src_track *t = track_get(a, space_id);
    if (!t)
        return;
    t->active = true;
    t->poll_s = poll_s;
    track_schedule(t);
}

int source_init(app *a)
{
    sqlite3_stmt *stmt = prepare(a, "SELECT space_id, poll_seconds FROM space_sources");
    if (!stmt)
        return -1;
    int rc, n = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        load_one(a, sqlite3_column_int64(stmt, 0), sqlite3_column_int(stmt, 1));
        n++;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        log_error("source", "loading tracked spaces: %s", sqlite3_errmsg(store_db(a->store)));
        return -1;
    }
    if (n)
        log_info("source", "%d space%s follow a remote repository", n, n == 1 ? "" : "s");
    return 0;
}

/* ---- configuration ---------------------------------------------------------------- */

static char *seal_or_keep(const char *plain, char **kept)
{
    if (!plain && *kept) {
        char *k = *kept;
        *kept = NULL;
        return k;
    }
    if (!plain)
        return strdup("");
    return *plain ? vault_seal(plain, strlen(plain)) : strdup("");
}

int source_set(app *a, const space *sp, const char *url, const char *branch, const char *token,
               const char *secret, int poll_seconds, char new_secret[SOURCE_SECRET_MAX + 1])
{
    source_config old, cfg = {0};
    int had = source_get(a, sp->id, &old);
    if (had < 0)
        return -1;
    new_secret[0] = '\0';
    /* A kept token goes only to the URL it was given for. */
    if (!token && had == 0 && strcmp(old.url, url) != 0)
        token = "";
    if (!secret && (had != 0 || !*old.secret_sealed)) {
        unsigned char raw[24];
        randombytes_buf(raw, sizeof raw);
        util_hex(raw, sizeof raw, new_secret);
        secret = new_secret;
    }
    snprintf(cfg.url, sizeof cfg.url, "%s", url);
    snprintf(cfg.branch, sizeof cfg.branch, "%s", branch);
    cfg.poll_seconds = poll_seconds;
    cfg.token_sealed = seal_or_keep(token, had == 0 ? &old.token_sealed : &(char *){NULL});
    cfg.secret_sealed = seal_or_keep(secret, had == 0 ? &old.secret_sealed : &(char *){NULL});
    int rc = -1;
    if (!cfg.token_sealed || !cfg.secret_sealed) {
        log_error("source", "%s: cannot seal the source's token or secret", sp->full_id);
        goto done;
    }
    if (store_put(a, sp->id, &cfg) < 0)
        goto done;
    add_event(
        a, sp->id, "source-set",
        json_pack("{s:s, s:s, s:i}", "url", url, "branch", branch, "pollSeconds", poll_seconds));
    log_info("source", "%s now follows %s (branch %s, poll %d s)", sp->full_id, url, branch,
             poll_seconds);
    src_track *t = track_get(a, sp->id);
    if (t) {
        t->active = true;
        t->poll_s = poll_seconds;
        t->failures = 0;
        t->error[0] = '\0';
        t->first = true; /* the owner asked for this remote: take its head as it is */
        source_sync(a, sp->id, true, "source");
    }
    rc = 0;
done:
    if (had == 0)
        source_config_free(&old);
    source_config_free(&cfg);
    return rc;
}

int source_clear(app *a, const space *sp)
{
    sqlite3_stmt *stmt = prepare(a, "DELETE FROM space_sources WHERE space_id=?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, sp->id);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        log_error("source", "%s: cannot turn tracking off: %s", sp->full_id,
                  sqlite3_errmsg(store_db(a->store)));
        return -1;
    }
    src_track *t = track_find(sp->id);
    if (t) {
        t->active = false;
        t->again = false;
        t->error[0] = '\0';
        t->failures = 0;
        track_schedule(t);
    }
    add_event(a, sp->id, "source-off", NULL);
    log_info("source", "%s no longer follows a remote repository", sp->full_id);
    return 0;
}

bool source_blocks_push(app *a, const space *sp, char *msg, size_t size)
{
    source_config cfg;
    int rc = source_get(a, sp->id, &cfg);
    if (rc < 0) {
        /* Unknown: refuse rather than let a push race the mirror. */
        snprintf(msg, size, "Cannot tell whether %s follows a remote repository; try again",
                 sp->full_id);
        return true;
    }
    if (rc == 1)
        return false;
    snprintf(msg, size,
             "This space follows %s (branch %s): push there, or turn tracking off "
             "(DELETE /api/spaces/%s/source)",
             cfg.url, cfg.branch, sp->full_id);
    source_config_free(&cfg);
    return true;
}

/* ---- webhooks ------------------------------------------------------------------- */

static bool hmac_matches(const char *secret, const char *body, size_t len, const char *hex)
{
    unsigned char want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
    size_t n = 0;
    if (strlen(hex) != 2 * sizeof want ||
        sodium_hex2bin(want, sizeof want, hex, strlen(hex), NULL, &n, NULL) != 0 ||
        n != sizeof want)
        return false;
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, got);
    return sodium_memcmp(want, got, sizeof want) == 0;
}

/* GitLab sends the secret itself: digests of equal length compare in constant time. */
static bool token_matches(const char *secret, const char *token)
{
    unsigned char a[32], b[32];
    crypto_generichash(a, sizeof a, (const unsigned char *)secret, strlen(secret), NULL, 0);
    crypto_generichash(b, sizeof b, (const unsigned char *)token, strlen(token), NULL, 0);
    return sodium_memcmp(a, b, sizeof a) == 0;
}

bool source_webhook_verify(const source_config *cfg, source_forge forge, const char *sig,
                           const char *body, size_t len)
{
    if (!sig || !cfg->secret_sealed || !*cfg->secret_sealed)
        return false;
    size_t slen = 0;
    char *secret = vault_open_value(cfg->secret_sealed, &slen);
    if (!secret || !*secret) {
        log_error("source", "the webhook secret cannot be opened (was secret.key replaced?)");
        vault_free_plain(secret);
        return false;
    }
    bool ok = false;
    if (forge == SOURCE_FORGE_GITLAB)
        ok = token_matches(secret, sig);
    else if (forge == SOURCE_FORGE_GITHUB)
        ok = util_has_prefix(sig, "sha256=") && hmac_matches(secret, body, len, sig + 7);
    else
        ok = hmac_matches(secret, body, len, sig);
    vault_free_plain(secret);
    return ok;
}

/* ---- git children -------------------------------------------------------------- */

static void child_on_close(uv_handle_t *h)
{
    src_child *c = h->data;
    if (--c->open_handles > 0)
        return;
    buf_free(&c->out_buf);
    buf_free(&c->err_buf);
    free(c);
}

static void child_close(src_child *c, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, child_on_close);
}

/* The last line git wrote on stderr: what a person reads as the error. */
static void last_line(const buf *b, char *out, size_t size)
{
    const char *end = b->data ? b->data + b->len : NULL;
    while (end && end > b->data && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    const char *start = end;
    while (start && start > b->data && start[-1] != '\n' && start[-1] != '\r')
        start--;
    int n = end ? (int)(end - start) : 0;
    snprintf(out, size, "%.*s", n, n ? start : "");
}

static void step_finished(src_child *c);

static void child_maybe_done(src_child *c)
{
    if (c->done || !c->exited || !c->out_eof || !c->err_eof)
        return;
    c->done = true;
    uv_timer_stop(&c->kill);
    child_close(c, (uv_handle_t *)&c->kill);
    step_finished(c);
}

static void on_child_exit(uv_process_t *p, int64_t status, int sig)
{
    src_child *c = p->data;
    c->exited = true;
    c->status = status;
    c->signal = sig;
    child_close(c, (uv_handle_t *)p);
    child_maybe_done(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char chunk[16 * 1024]; /* read callbacks copy out at once */
    (void)h;
    (void)suggested;
    *b = uv_buf_init(chunk, sizeof chunk);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    src_child *c = s->data;
    bool is_out = s == (uv_stream_t *)&c->out;
    if (n < 0) {
        *(is_out ? &c->out_eof : &c->err_eof) = true;
        child_close(c, (uv_handle_t *)s);
        child_maybe_done(c);
        return;
    }
    buf *dst = is_out ? &c->out_buf : &c->err_buf;
    if (n > 0 && dst->len + (size_t)n <= OUTPUT_MAX)
        buf_append(dst, b->base, (size_t)n);
}

static void on_kill_timer(uv_timer_t *timer)
{
    src_child *c = timer->data;
    log_warn("source", "space %lld: git ran over %d s, killing it", (long long)c->t->space_id,
             GIT_TIMEOUT_MS / 1000);
    if (!c->exited)
        kill(-c->proc.pid, SIGKILL);
}

/* Basic credentials for the remote: "user:password" as given, or a bare token
 * under the user name GitHub and Gitea take for tokens. */
static int auth_header(const char *token, char **out)
{
    buf plain;
    buf_init(&plain);
    if (strchr(token, ':'))
        buf_puts(&plain, token);
    else
        buf_printf(&plain, "x-access-token:%s", token);
    size_t b64len = sodium_base64_ENCODED_LEN(plain.len, sodium_base64_VARIANT_ORIGINAL);
    size_t size = b64len + 64;
    *out = plain.data ? malloc(size) : NULL;
    if (*out) {
        int n = snprintf(*out, size, "GIT_CONFIG_VALUE_0=Authorization: Basic ");
        sodium_bin2base64(*out + n, size - (size_t)n, (const unsigned char *)plain.data, plain.len,
                          sodium_base64_VARIANT_ORIGINAL);
    }
    if (plain.data)
        sodium_memzero(plain.data, plain.len);
    buf_free(&plain);
    return *out ? 0 : -1;
}

/* Starts git in the repository with a bare environment: no prompts, no user
 * or system configuration (and so no credential helpers), only the protocols
 * the URL check allows, and the token as an extra header when there is one. */
static int child_spawn(src_child *c, const source_config *cfg, char *const *args)
{
    const char *path = getenv("PATH");
    char env_path[4096], *header = NULL;
    snprintf(env_path, sizeof env_path, "PATH=%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
    char *env[12] = {env_path,
                     "HOME=/nonexistent",
                     "LC_ALL=C",
                     "GIT_TERMINAL_PROMPT=0",
                     "GIT_ASKPASS=/bin/false",
                     "GIT_CONFIG_NOSYSTEM=1",
                     "GIT_ALLOW_PROTOCOL=http:https:file",
                     NULL};
    size_t n = 7;
    if (*cfg->token_sealed) {
        size_t len;
        char *token = vault_open_value(cfg->token_sealed, &len);
        int rc = token ? auth_header(token, &header) : -1;
        vault_free_plain(token);
        if (rc < 0)
            return UV_EINVAL;
        env[n++] = "GIT_CONFIG_COUNT=1";
        env[n++] = "GIT_CONFIG_KEY_0=http.extraHeader";
        env[n++] = header;
    }
    env[n] = NULL;

    uv_loop_t *loop = c->t->a->loop;
    uv_pipe_init(loop, &c->out, 0);
    uv_pipe_init(loop, &c->err, 0);
    uv_timer_init(loop, &c->kill);
    c->out.data = c->err.data = c->kill.data = c->proc.data = c;
    c->open_handles = 4;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->err},
    };
    uv_process_options_t opts = {.exit_cb = on_child_exit,
                                 .file = "git",
                                 .args = (char **)args,
                                 .env = env,
                                 .cwd = c->repo,
                                 .flags = UV_PROCESS_DETACHED, /* its own group: one kill */
                                 .stdio = stdio,
                                 .stdio_count = 3};
    int rc = uv_spawn(loop, &c->proc, &opts);
    if (header) {
        sodium_memzero(header, strlen(header));
        free(header);
    }
    if (rc < 0) {
        child_close(c, (uv_handle_t *)&c->proc);
        child_close(c, (uv_handle_t *)&c->out);
        child_close(c, (uv_handle_t *)&c->err);
        child_close(c, (uv_handle_t *)&c->kill);
        return rc;
    }
    uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&c->err, on_alloc, on_read);
    uv_timer_start(&c->kill, on_kill_timer, GIT_TIMEOUT_MS, 0);
    return 0;
}

/* Runs one step of t's sync; on failure to start, the sync ends with the error. */
static void step_run(src_track *t, src_step step, const char *repo, const source_config *cfg)
{
    char refspec[SOURCE_BRANCH_MAX + 16];
    snprintf(refspec, sizeof refspec, "refs/heads/%s", cfg->branch);
    char *ls_args[] = {"git", "ls-remote", "--", (char *)cfg->url, refspec, NULL};
    char *fetch_args[] = {"git",
                          "-c",
                          "http.lowSpeedLimit=1000",
                          "-c",
                          "http.lowSpeedTime=60",
                          "fetch",
                          "--quiet",
                          "--no-tags",
                          "--no-recurse-submodules",
                          (char *)cfg->url,
                          refspec,
                          NULL};
    src_child *c = calloc(1, sizeof *c);
    if (!c) {
        sync_done(t, "out of memory");
        return;
    }
    c->t = t;
    c->step = step;
    buf_init(&c->out_buf);
    buf_init(&c->err_buf);
    snprintf(c->repo, sizeof c->repo, "%s", repo);
    int rc = child_spawn(c, cfg, step == STEP_FETCH ? fetch_args : ls_args);
    if (rc < 0) {
        log_error("source", "space %lld: cannot start git: %s", (long long)t->space_id,
                  uv_strerror(rc));
        if (c->open_handles == 0) /* spawn failed before any handle was made */
            free(c);
        sync_done(t, "cannot start git");
    }
}

/* ---- syncing --------------------------------------------------------------------- */

/* The commit ls-remote gave for refs/heads/<branch>, "" when it has none. */
static void parse_ls_remote(const char *out, const char *branch, char sha[41])
{
    char want[SOURCE_BRANCH_MAX + 16];
    snprintf(want, sizeof want, "refs/heads/%s", branch);
    sha[0] = '\0';
    for (const char *line = out; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len == 41 + strlen(want) && line[40] == '\t' &&
            memcmp(line + 41, want, strlen(want)) == 0) {
            memcpy(sha, line, 40);
            sha[40] = '\0';
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* The commit the fetch brought: the first line of FETCH_HEAD. */
static int read_fetch_head(const char *repo, char sha[41])
{
    char path[4300], line[128];
    snprintf(path, sizeof path, "%s/FETCH_HEAD", repo);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    bool ok = fgets(line, sizeof line, f) && strspn(line, "0123456789abcdef") == 40;
    fclose(f);
    if (ok) {
        memcpy(sha, line, 40);
        sha[40] = '\0';
    }
    return ok ? 0 : -1;
}

typedef enum { MOVE_SAME, MOVE_FF, MOVE_FORCED, MOVE_DIVERGED, MOVE_ERROR } src_move;

/* Moves main to sha under the rules of source.h, with compare-and-swap
 * against the head it decided on (a racing writer makes it fail). */
static src_move move_main(const char *repo_path, const char *sha, bool confirmed, char old[41])
{
    git_repository *repo = NULL;
    git_reference *ref = NULL, *made = NULL;
    git_oid new_oid, old_oid;
    src_move result = MOVE_ERROR;
    old[0] = '\0';
    if (git_oid_fromstr(&new_oid, sha) < 0 || git_repository_open_bare(&repo, repo_path) < 0)
        goto done;
    int rc = git_reference_lookup(&ref, repo, REPO_MAIN_REF);
    bool unborn = rc == GIT_ENOTFOUND;
    if (rc < 0 && !unborn)
        goto done;
    if (!unborn) {
        git_oid_cpy(&old_oid, git_reference_target(ref));
        git_oid_tostr(old, 41, &old_oid);
        if (git_oid_equal(&old_oid, &new_oid)) {
            result = MOVE_SAME;
            goto done;
        }
    }
    if (unborn || git_graph_descendant_of(repo, &new_oid, &old_oid) == 1)
        result = MOVE_FF;
    else if (confirmed)
        result = MOVE_FORCED;
    else {
        result = MOVE_DIVERGED;
        goto done;
    }
    rc = unborn ? git_reference_create(&made, repo, REPO_MAIN_REF, &new_oid, 0, "source: fetch")
                : git_reference_create_matching(&made, repo, REPO_MAIN_REF, &new_oid, 1, &old_oid,
                                                "source: fetch");
    if (rc < 0) {
        const git_error *e = git_error_last();
        log_warn("source", "%s: cannot move main to %.12s: %s", repo_path, sha,
                 e ? e->message : "unknown error");
        result = MOVE_ERROR;
    }
done:
    git_reference_free(made);
    git_reference_free(ref);
    git_repository_free(repo);
    return result;
}

/* The fetch succeeded: move main and hand the commit to the lifecycle. */
static void apply_fetch(src_track *t, const char *repo, const char *remote)
{
    app *a = t->a;
    char sha[41], old[41];
    if (read_fetch_head(repo, sha) < 0) {
        sync_done(t, "git fetch brought no commit (is the branch there?)");
        return;
    }
    src_move m = move_main(repo, sha, t->forced || t->first, old);
    space sp;
    if (m == MOVE_ERROR) {
        sync_done(t, "cannot move main to the fetched commit");
        return;
    }
    if (m == MOVE_DIVERGED) {
        log_warn("source",
                 "space %lld: %s moved to %.12s, not a descendant of main %.12s: "
                 "waiting for a forced push or a poll to confirm it",
                 (long long)t->space_id, remote, sha, old);
        add_event(a, t->space_id, "source-diverged",
                  json_pack("{s:s, s:s, s:s}", "main", old, "remote", sha, "via", t->via));
    }
    if (m == MOVE_FORCED)
        add_event(a, t->space_id, "source-forced",
                  json_pack("{s:s, s:s, s:s}", "from", old, "to", sha, "via", t->via));
    if ((m == MOVE_FF || m == MOVE_FORCED) && space_by_id(a, t->space_id, &sp) == 0) {
        log_info("source", "%s: main %.12s -> %.12s from %s (%s)", sp.full_id, old, sha, remote,
                 t->via);
        if (lifecycle_on_commit(a, &sp, sha, t->via) < 0)
            log_error("source", "%s: main moved to %.12s but it could not be recorded", sp.full_id,
                      sha);
    }
    t->first = false;
    sync_done(t, NULL);
}

/* A git step ended: read its result and go on, or end the sync. */
static void step_finished(src_child *c)
{
    src_track *t = c->t;
    bool ok = c->status == 0 && c->signal == 0;
    char err[ERROR_MAX];
    source_config cfg;
    if (!ok) {
        last_line(&c->err_buf, err, sizeof err);
        char msg[ERROR_MAX + 64];
        snprintf(msg, sizeof msg, "git %s failed: %s",
                 c->step == STEP_FETCH ? "fetch" : "ls-remote", err[0] ? err : "no message");
        sync_done(t, msg);
        return;
    }
    if (!t->active || source_get(t->a, t->space_id, &cfg) != 0) {
        sync_done(t, NULL); /* turned off meanwhile */
        return;
    }
    if (c->step == STEP_FETCH) {
        apply_fetch(t, c->repo, cfg.url);
    } else {
        char sha[41], head[41] = "";
        parse_ls_remote(c->out_buf.data ? c->out_buf.data : "", cfg.branch, sha);
        repo_head(c->repo, head);
        if (!sha[0]) {
            snprintf(err, sizeof err, "branch %s is not in %s", cfg.branch, cfg.url);
            sync_done(t, err);
        } else if (strcmp(sha, head) == 0) {
            sync_done(t, NULL);
        } else {
            step_run(t, STEP_FETCH, c->repo, &cfg);
        }
    }
    source_config_free(&cfg);
}

/* Ends the sync in flight: records the error (or its end), re-arms the poll,
 * and starts the sync asked for meanwhile. */
static void sync_done(src_track *t, const char *error)
{
    t->busy = false;
    if (error) {
        t->failures++;
        snprintf(t->error, sizeof t->error, "%s", error);
        log_warn("source", "space %lld: sync (%s) failed, attempt %d: %s", (long long)t->space_id,
                 t->via, t->failures, error);
        add_event(
            t->a, t->space_id, "source-error",
            json_pack("{s:s, s:s, s:i}", "message", error, "via", t->via, "failures", t->failures));
    } else {
        if (t->failures)
            add_event(t->a, t->space_id, "source-recovered", NULL);
        t->failures = 0;
        t->error[0] = '\0';
    }
    track_schedule(t);
    if (t->again && t->active) {
        t->again = false;
        t->forced = t->again_forced;
        snprintf(t->via, sizeof t->via, "%s", t->again_via);
        sync_start(t);
    }
}

static void sync_start(src_track *t)
{
    source_config cfg;
    space sp;
    int rc = space_by_id(t->a, t->space_id, &sp);
    if (rc != 0 || source_get(t->a, t->space_id, &cfg) != 0) {
        if (rc == 1) /* the space is gone; its row went with it */
            t->active = false;
        t->busy = false;
        track_schedule(t);
        return;
    }
    t->busy = true;
    uv_timer_stop(&t->timer);
    char repo[4200];
    space_repo_path(t->a->config.data_dir, sp.owner, sp.name, repo, sizeof repo);
    /* A webhook fetches at once; a poll asks ls-remote first, which is cheap. */
    step_run(t, strcmp(t->via, "poll") == 0 ? STEP_LS_REMOTE : STEP_FETCH, repo, &cfg);
    source_config_free(&cfg);
}

void source_sync(app *a, int64_t space_id, bool forced, const char *via)
{
    src_track *t = track_get(a, space_id);
    if (!t || !t->active)
        return;
    if (t->busy) {
        /* Folded: one more sync after this one sees every push made until then. */
        t->again_forced = t->again ? t->again_forced || forced : forced;
        if (!t->again || strcmp(via, "poll") != 0)
            snprintf(t->again_via, sizeof t->again_via, "%s", via);
        t->again = true;
        return;
    }
    t->forced = forced;
    snprintf(t->via, sizeof t->via, "%s", via);
    sync_start(t);
}

/* ---- runtime --------------------------------------------------------------------- */

void source_runtime_json(app *a, const space *sp, json_t *rt)
{
    src_track *t = track_find(sp->id);
    if (!rt || !t || !t->active)
        return;
    json_t *src = json_pack("{s:b, s:i}", "syncing", t->busy, "failures", t->failures);
    if (!src)
        return;
    if (t->error[0])
        json_object_set_new(src, "error", json_string(t->error));
    if (t->next_poll_ms) {
        char when[40];
        util_iso8601_ms(t->next_poll_ms, when, sizeof when);
        json_object_set_new(src, "nextPollAt", json_string(when));
        json_object_set_new(src, "nextPollInSeconds",
                            json_integer((t->next_poll_ms - util_now_ms() + 999) / 1000));
    }
    json_object_set_new(rt, "source", src);
    if (t->error[0] && !json_object_get(rt, "errorMessage")) {
        char msg[ERROR_MAX + 32];
        snprintf(msg, sizeof msg, "source: %s", t->error);
        json_object_set_new(rt, "errorMessage", json_string(msg));
    }
    (void)a;
}
