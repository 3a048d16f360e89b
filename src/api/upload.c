/* The HF upload and read API of a space's repository: preupload, the NDJSON
 * commit, validate-yaml, tree, paths-info and the commit history.
 *
 * Small text files are "regular" (content inline, base64); large (10 MiB and
 * up) and binary ones go through LFS (api/lfsapi.h), as on HF, and the commit
 * names them by sha256 in "lfsFile" lines, written to git as pointer files. A
 * commit is parsed and checked whole
 * before anything is written, and lands on main only if main is still where
 * it was (see git/commit.h). */
#include <fnmatch.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/files.h"
#include "api/upload.h"
#include "app/app.h"
#include "git/commit.h"
#include "git/lfs.h"
#include "git/repo.h"
#include "git/scan.h"
#include "git/source.h"
#include "lib/log.h"
#include "lib/util.h"
#include "space/config.h"
#include "space/events.h"
#include "space/lifecycle.h"

/* A commit carries its files base64-encoded inline; HF's clients send files up
 * to a few MB this way. Over this the server answers 413 by itself. */
#define UPLOAD_COMMIT_BODY_LIMIT (100u * 1024 * 1024)
/* preupload and paths-info: up to 256 paths of 1 KiB, samples, a .gitignore. */
#define UPLOAD_LIST_BODY_LIMIT (8u * 1024 * 1024)
#define UPLOAD_PAGE_MAX 1000
#define UPLOAD_PATHS_MAX 10000
/* DATA/repos/<owner>/<name>.git, sized as spaces.c sizes it. */
#define UPLOAD_REPO_PATH 4200
/* Segments before the revision in /api/spaces/<o>/<n>/<verb>/<rev>/... */
#define UPLOAD_REV_SKIP 5
/* HF sends files of this size and up through LFS, and binary ones too. */
#define UPLOAD_LFS_THRESHOLD (10 * 1024 * 1024)
#define UPLOAD_SAMPLE_MAX 512

/* ---- shared -------------------------------------------------------------------- */

/* A path made safe to quote in a message: control bytes become '?', long
 * paths are cut. */
static const char *printable(const char *path, size_t len, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < size; i++) {
        unsigned char ch = (unsigned char)path[i];
        out[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (n < len && n + 4 <= size) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

static bool query_flag(http_request *req, const char *name)
{
    char *v = http_query_get(req, name);
    bool on = v && (strcmp(v, "1") == 0 || util_streq_nocase(v, "true"));
    free(v);
    return on;
}

/* Loads the space named by the path and its revision. Answers and returns
 * false on any failure; on success the caller frees *rev and *file. */
static bool load_rev(http_request *req, api_access need, space *sp, char repo[UPLOAD_REPO_PATH],
                     char sha[41], char **rev, char **file)
{
    auth_identity id;
    *rev = *file = NULL;
    if (!api_space_load(req, req->params[0], req->params[1], need, &id, sp))
        return false;
    if (files_split_rev(req->path, UPLOAD_REV_SKIP, rev, file) < 0) {
        api_error(req, 400, NULL, "Invalid revision or percent-encoding in %s", req->path);
        return false;
    }
    api_space_repo_path(req, sp, repo, UPLOAD_REPO_PATH);
    if (files_resolve_rev(req, repo, *rev, sha) < 0) {
        free(*rev);
        free(*file);
        *rev = *file = NULL;
        return false;
    }
    return true;
}

static json_t *entry_json(const char *path, const repo_entry *e)
{
    json_t *j = json_pack("{s:s, s:s, s:I, s:s}", "type", e->is_dir ? "directory" : "file", "oid",
                          e->oid, "size", (json_int_t)e->size, "path", path);
    if (j && e->lfs) {
        /* As HF: size is the file's, pointerSize the blob's. */
        json_object_set_new(j, "size", json_integer((json_int_t)e->lfs_size));
        json_object_set_new(j, "lfs",
                            json_pack("{s:s, s:I, s:I}", "oid", e->lfs_oid, "size",
                                      (json_int_t)e->lfs_size, "pointerSize", (json_int_t)e->size));
    }
    return j;
}

/* Link: <same URL with cursor=next>; rel="next", GitHub style. */
static void link_next(http_request *req, long long next)
{
    buf link;
    buf_init(&link);
    buf_printf(&link, "<%s%s?", app_of(req)->base_url, req->path);
    const char *qs = req->query ? req->query : "";
    while (*qs) {
        const char *amp = strchr(qs, '&');
        size_t len = amp ? (size_t)(amp - qs) : strlen(qs);
        if (len && !(len >= 7 && strncmp(qs, "cursor=", 7) == 0))
            buf_printf(&link, "%.*s&", (int)len, qs);
        qs += len + (amp ? 1 : 0);
    }
    buf_printf(&link, "cursor=%lld>; rel=\"next\"", next);
    http_resp_header(req, "Link", link.data);
    buf_free(&link);
}

/* limit (1..UPLOAD_PAGE_MAX) and cursor (an offset) of a paginated listing. */
static bool page_params(http_request *req, long long default_limit, long long *limit,
                        long long *cursor)
{
    char *limit_s = http_query_get(req, "limit");
    char *cursor_s = http_query_get(req, "cursor");
    bool ok = true;
    *limit = default_limit;
    *cursor = 0;
    if (limit_s && util_parse_int(limit_s, 1, UPLOAD_PAGE_MAX, limit) < 0) {
        api_error(req, 400, NULL, "limit must be an integer from 1 to %d", UPLOAD_PAGE_MAX);
        ok = false;
    } else if (cursor_s && util_parse_int(cursor_s, 0, 1LL << 40, cursor) < 0) {
        api_error(req, 400, NULL, "Invalid cursor");
        ok = false;
    }
    free(limit_s);
    free(cursor_s);
    return ok;
}

/* ---- .gitignore (the simple cases) ------------------------------------------- */

/* Whether one pattern matches path or one of its parent folders. A pattern
 * with a '/' inside is anchored at the root; one without matches any
 * component; a trailing '/' matches folders only. */
static bool ignore_pattern_matches(char *pat, const char *path)
{
    size_t plen = strlen(pat);
    bool dir_only = plen > 1 && pat[plen - 1] == '/';
    if (dir_only)
        pat[--plen] = '\0';
    if (strncmp(pat, "**/", 3) == 0)
        pat += 3;
    bool anchored = strchr(pat, '/') != NULL;
    if (pat[0] == '/')
        pat++;
    char prefix[COMMIT_PATH_MAX + 1];
    snprintf(prefix, sizeof prefix, "%s", path);
    const char *component = prefix;
    for (char *p = prefix;; p++) {
        bool end = *p == '\0';
        if (*p != '/' && !end)
            continue;
        char saved = *p;
        *p = '\0';
        bool folder = !end;
        bool hit = (folder || !dir_only) &&
                   fnmatch(pat, anchored ? prefix : component, anchored ? FNM_PATHNAME : 0) == 0;
        *p = saved;
        if (hit)
            return true;
        if (end)
            return false;
        component = p + 1;
    }
}

/* The last matching rule wins; "!" re-includes. */
static bool gitignore_match(const char *rules, const char *path)
{
    bool ignored = false;
    char line[1100];
    while (rules && *rules) {
        const char *nl = strchr(rules, '\n');
        size_t len = nl ? (size_t)(nl - rules) : strlen(rules);
        if (len < sizeof line) {
            memcpy(line, rules, len);
            while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
                len--;
            line[len] = '\0';
            bool negate = line[0] == '!';
            char *pat = line + (negate ? 1 : 0);
            if (pat[0] && line[0] != '#' && ignore_pattern_matches(pat, path))
                ignored = !negate;
        }
        rules = nl ? nl + 1 : rules + len;
    }
    return ignored;
}

/* ---- preupload ------------------------------------------------------------------ */

/* HF's rule: LFS for 10 MiB and up, or a NUL byte in the first 512 bytes;
 * an empty file is always regular. The binary half is off by default
 * (--lfs-binary turns it on): huggingface_hub sends every "lfs" file through
 * Xet when hf_xet is installed (its default), and Hangar has no Xet service,
 * so a default client could not upload a small image. Large files still go
 * to LFS, where memory matters. */
static bool wants_lfs(const app *a, json_t *item)
{
    json_t *jsize = json_object_get(item, "size");
    const char *sample = json_string_value(json_object_get(item, "sample"));
    unsigned char bytes[UPLOAD_SAMPLE_MAX + 3];
    size_t n = 0;
    if (json_is_integer(jsize) && json_integer_value(jsize) == 0)
        return false;
    if (json_is_integer(jsize) && json_integer_value(jsize) >= UPLOAD_LFS_THRESHOLD)
        return true;
    if (!a->config.lfs_binary)
        return false;
    if (!sample || sodium_base642bin(bytes, sizeof bytes, sample, strlen(sample), NULL, &n, NULL,
                                     sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    return memchr(bytes, 0, n < UPLOAD_SAMPLE_MAX ? n : UPLOAD_SAMPLE_MAX) != NULL;
}

/* One file of a preupload answer; false (answered 400) for a bad path. */
static bool preupload_file(http_request *req, const char *repo, const char *sha, json_t *item,
                           const char *rules, json_t *out)
{
    json_t *jpath = json_object_get(item, "path");
    if (!json_is_string(jpath)) {
        api_error(req, 400, NULL, "Each file needs a \"path\" string");
        return false;
    }
    const char *path = json_string_value(jpath);
    size_t len = json_string_length(jpath);
    const char *why = commit_path_problem(path, len, false);
    /* Clients skip ignored files; HF ignores what is under .git. */
    bool ignore = why && strcmp(why, COMMIT_PROBLEM_DOT_GIT) == 0;
    if (why && !ignore) {
        char shown[256];
        api_error(req, 400, NULL, "Invalid path '%s': it %s", printable(path, len, shown, 256),
                  why);
        return false;
    }
    ignore = ignore || (rules && gitignore_match(rules, path));
    json_t *file =
        json_pack("{s:s, s:s, s:b}", "path", path, "uploadMode",
                  wants_lfs(app_of(req), item) ? "lfs" : "regular", "shouldIgnore", ignore);
    repo_entry e;
    /* The client skips a file whose oid matches its own: sha256 for LFS. */
    if (sha[0] && !ignore && repo_entry_at(repo, sha, path, &e) == 0 && !e.is_dir)
        json_object_set_new(file, "oid", json_string(e.lfs ? e.lfs_oid : e.oid));
    json_array_append_new(out, file);
    return true;
}

static void upload_preupload(http_request *req)
{
    space sp;
    char repo[UPLOAD_REPO_PATH], sha[41];
    char *rev = NULL, *file = NULL, *gitignore = NULL;
    json_t *body = NULL, *files = json_array();
    size_t gitignore_len = 0;
    if (!load_rev(req, API_WRITE, &sp, repo, sha, &rev, &file))
        goto done;
    if (query_flag(req, "create_pr")) {
        api_error(req, 400, NULL, "Hangar does not support pull requests: commit to main");
        goto done;
    }
    if (!(body = api_parse_body(req)))
        goto done;
    json_t *list = json_object_get(body, "files");
    if (!json_is_array(list)) {
        api_error(req, 400, NULL, "Missing \"files\": a list of {path, size, sample}");
        goto done;
    }
    const char *rules = json_string_value(json_object_get(body, "gitIgnore"));
    if (!rules && sha[0] &&
        repo_read_file(repo, sha, ".gitignore", &gitignore, &gitignore_len) == 0)
        rules = gitignore;
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        if (!json_is_object(item)) {
            api_error(req, 400, NULL, "Each file must be an object {path, size, sample}");
            goto done;
        }
        if (!preupload_file(req, repo, sha, item, rules, files))
            goto done;
    }
    json_t *out = json_pack("{s:O}", "files", files);
    if (sha[0])
        json_object_set_new(out, "commitOid", json_string(sha));
    api_json(req, 200, out);
done:
    json_decref(files);
    json_decref(body);
    free(gitignore);
    free(rev);
    free(file);
}

/* ---- commit ---------------------------------------------------------------------- */

void upload_body_init(commit_body *cb)
{
    memset(cb, 0, sizeof *cb);
    commit_batch_init(&cb->batch);
}

void upload_body_free(commit_body *cb)
{
    json_decref(cb->header);
    cb->header = NULL;
    commit_batch_free(&cb->batch);
}

static int body_fail(commit_body *cb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int body_fail(commit_body *cb, const char *fmt, ...)
{
    int n = snprintf(cb->err, sizeof cb->err, "Line %d: ", cb->line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cb->err + n, sizeof cb->err - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* The checked "path" of an operation; NULL (and err set) when bad. */
static const char *op_path(commit_body *cb, json_t *value, bool folder)
{
    json_t *jpath = json_object_get(value, "path");
    if (!json_is_string(jpath)) {
        body_fail(cb, "the operation needs a \"path\" string");
        return NULL;
    }
    const char *path = json_string_value(jpath);
    size_t len = json_string_length(jpath);
    const char *why = commit_path_problem(path, len, folder);
    if (why) {
        char shown[256];
        body_fail(cb, "invalid path '%s': it %s", printable(path, len, shown, 256), why);
        return NULL;
    }
    return path;
}

static int decode_content(commit_body *cb, const char *path, json_t *value, unsigned char **data,
                          size_t *len)
{
    json_t *content = json_object_get(value, "content");
    const char *encoding = json_string_value(json_object_get(value, "encoding"));
    if (!json_is_string(content))
        return body_fail(cb, "file %s needs a \"content\" string", path);
    const char *text = json_string_value(content);
    size_t text_len = json_string_length(content);
    *data = malloc(text_len + 1);
    if (!*data)
        return body_fail(cb, "out of memory");
    if (encoding && (util_streq_nocase(encoding, "utf-8") || util_streq_nocase(encoding, "utf8"))) {
        memcpy(*data, text, text_len);
        *len = text_len;
        return 0;
    }
    if (encoding && strcmp(encoding, "base64") != 0)
        return body_fail(cb, "unknown encoding '%.40s' for %s: base64 or utf-8", encoding, path);
    const char *end = NULL;
    if (sodium_base642bin(*data, text_len + 1, text, text_len, NULL, len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text + text_len)
        return body_fail(cb, "the content of %s is not valid base64", path);
    return 0;
}

static int parse_header(commit_body *cb, json_t *value)
{
    if (cb->header)
        return body_fail(cb, "a second header line");
    json_t *summary = json_object_get(value, "summary");
    json_t *description = json_object_get(value, "description");
    json_t *parent = json_object_get(value, "parentCommit");
    if (!json_is_string(summary) || !json_string_length(summary))
        return body_fail(cb, "the header needs a non-empty \"summary\"");
    if (description && !json_is_null(description) && !json_is_string(description))
        return body_fail(cb, "\"description\" must be a string");
    if (parent && !json_is_null(parent)) {
        const char *p = json_string_value(parent);
        size_t n = p ? strlen(p) : 0;
        if (!p || n < 5 || n > 40 || strspn(p, "0123456789abcdefABCDEF") != n)
            return body_fail(cb, "\"parentCommit\" must be a commit sha");
    }
    cb->header = json_incref(value);
    return 0;
}

/* {"path", "algo": "sha256", "oid", "size"} becomes a pointer file; the
 * object itself is checked once the whole body is parsed (lfs_check). */
static int parse_lfs_file(commit_body *cb, json_t *value)
{
    const char *path = op_path(cb, value, false);
    const char *algo = json_string_value(json_object_get(value, "algo"));
    const char *oid = json_string_value(json_object_get(value, "oid"));
    json_t *jsize = json_object_get(value, "size");
    char pointer[LFS_POINTER_MAX + 1];
    if (!path)
        return -1;
    if ((algo && strcmp(algo, "sha256") != 0) || !lfs_oid_valid(oid) || !json_is_integer(jsize) ||
        json_integer_value(jsize) < 0)
        return body_fail(
            cb, "lfsFile %s needs \"algo\": \"sha256\", a sha256 \"oid\" and a \"size\"", path);
    int n = lfs_pointer_format(oid, json_integer_value(jsize), pointer, sizeof pointer);
    unsigned char *data = n > 0 ? malloc((size_t)n) : NULL;
    if (!data)
        return body_fail(cb, "out of memory");
    memcpy(data, pointer, (size_t)n);
    if (commit_batch_add_lfs(&cb->batch, path, data, (size_t)n) < 0)
        return body_fail(cb, "out of memory");
    return 0;
}

static int parse_operation(commit_body *cb, const char *key, json_t *value)
{
    bool folder = strcmp(key, "deletedFolder") == 0;
    if (strcmp(key, "lfsFile") == 0)
        return parse_lfs_file(cb, value);
    if (strcmp(key, "file") != 0 && strcmp(key, "deletedFile") != 0 && !folder)
        return body_fail(
            cb, "unknown key '%.40s': header, file, lfsFile, deletedFile or deletedFolder", key);
    const char *path = op_path(cb, value, folder);
    if (!path)
        return -1;
    unsigned char *data = NULL;
    size_t len = 0;
    commit_op_kind kind = COMMIT_OP_ADD;
    if (strcmp(key, "file") == 0) {
        if (decode_content(cb, path, value, &data, &len) < 0) {
            free(data);
            return -1;
        }
    } else {
        kind = folder ? COMMIT_OP_DELETE_FOLDER : COMMIT_OP_DELETE_FILE;
    }
    if (commit_batch_add(&cb->batch, kind, path, data, len) < 0)
        return body_fail(cb, "out of memory");
    return 0;
}

static int parse_line(commit_body *cb, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *line = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    if (!line) {
        body_fail(cb, "not valid JSON (%s)", jerr.text);
        goto done;
    }
    json_t *key = json_object_get(line, "key");
    json_t *value = json_object_get(line, "value");
    if (!json_is_string(key) || !json_is_object(value)) {
        body_fail(cb, "each line must be {\"key\": ..., \"value\": {...}}");
        goto done;
    }
    const char *k = json_string_value(key);
    if (strcmp(k, "header") == 0)
        rc = parse_header(cb, value);
    else if (!cb->header)
        body_fail(cb, "the first line must be the header {\"key\":\"header\",...}");
    else
        rc = parse_operation(cb, k, value);
done:
    json_decref(line);
    return rc;
}

int upload_parse_files(commit_body *cb, json_t *files)
{
    json_t *item;
    size_t i;
    if (!json_is_array(files))
        return body_fail(cb, "\"files\" must be a list of {path, content, encoding}");
    json_array_foreach(files, i, item)
    {
        if (!json_is_object(item))
            return body_fail(cb, "\"files\"[%zu] must be an object", i);
        if (parse_operation(cb, "file", item) < 0)
            return -1;
    }
    return 0;
}

int upload_parse_commit_body(commit_body *cb, const char *data, size_t len)
{
    size_t pos = 0;
    cb->line = 0;
    while (pos < len) {
        const char *start = data + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        cb->line++;
        size_t blank = 0;
        while (blank < n && (start[blank] == ' ' || start[blank] == '\t' || start[blank] == '\r'))
            blank++;
        if (blank == n)
            continue;
        if (parse_line(cb, start, n) < 0)
            return -1;
    }
    if (!cb->header) {
        snprintf(cb->err, sizeof cb->err,
                 "The commit body must start with a header line {\"key\":\"header\",\"value\":"
                 "{\"summary\":...}}");
        return -1;
    }
    return 0;
}

/* Every LFS file of the batch must name a stored object of its size: else
 * answers 400 naming the first missing oid and returns false. Found objects
 * are touched so that a collection running now keeps them. */
static bool lfs_check(http_request *req, const commit_batch *batch)
{
    const char *data_dir = app_of(req)->config.data_dir;
    for (size_t i = 0; i < batch->count; i++) {
        const commit_op *op = &batch->ops[i];
        char oid[LFS_OID_LEN + 1];
        int64_t size = -1, have = -1;
        if (!op->lfs || lfs_pointer_parse((const char *)op->data, op->len, oid, &size) < 0)
            continue;
        int rc = lfs_object_stat(data_dir, oid, &have);
        if (rc < 0) {
            api_error(req, 500, NULL, "Could not look up LFS object %s", oid);
            return false;
        }
        if (rc > 0 || have != size) {
            api_error(req, 400, NULL,
                      "LFS object %s (%lld bytes) of %s is not stored: upload it first", oid,
                      (long long)size, op->path);
            return false;
        }
        lfs_object_touch(data_dir, oid);
    }
    return true;
}

static bool is_main_rev(const char *rev)
{
    return strcmp(rev, "main") == 0 || strcmp(rev, REPO_MAIN_REF) == 0;
}

static int commit_status(commit_result rc, const char **code)
{
    *code = NULL;
    switch (rc) {
    case COMMIT_OK:
        return 200;
    case COMMIT_INVALID:
        return 400;
    case COMMIT_NOT_FOUND:
        *code = "EntryNotFound";
        return 404;
    case COMMIT_CONFLICT:
        return 409;
    case COMMIT_NO_SPACE:
        return 507;
    default:
        return 500;
    }
}

/* Warns about credentials the commit adds: accepted, but reported in the
 * answer's hookOutput (what HF shows for its hooks) and as a space event. */
static void scan_commit(http_request *req, const space *sp, const commit_batch *batch,
                        scan_report *r)
{
    app *a = app_of(req);
    size_t nsecrets = 0;
    scan_secret *secrets = scan_secrets_load(a->store, sp->id, &nsecrets);
    for (size_t i = 0; i < batch->count; i++) {
        const commit_op *op = &batch->ops[i];
        if (op->kind == COMMIT_OP_ADD)
            scan_file(r, op->path, op->data, op->len, secrets, nsecrets);
    }
    scan_secrets_free(secrets, nsecrets);
    if (!r->count)
        return;
    log_warn("api", "commit to %s adds %zu possible credential(s)", sp->full_id, r->count);
    json_t *data = json_pack("{s:I, s:s%}", "count", (json_int_t)r->count, "message",
                             r->text.data ? r->text.data : "", r->text.len);
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    if (!text || events_add(a, sp->id, "secret-warning", text) < 0)
        log_error("api", "could not record the secret warning of %s", sp->full_id);
    free(text);
    json_decref(data);
}

static void upload_commit(http_request *req)
{
    auth_identity id;
    space sp;
    char repo[UPLOAD_REPO_PATH], sha[41];
    char *rev = NULL, *file = NULL;
    commit_body cb;
    upload_body_init(&cb);
    if (!api_space_load(req, req->params[0], req->params[1], API_WRITE, &id, &sp))
        goto done;
    if (query_flag(req, "create_pr")) {
        api_error(req, 400, NULL, "Hangar does not support pull requests: commit to main");
        goto done;
    }
    if (files_split_rev(req->path, UPLOAD_REV_SKIP, &rev, &file) < 0 || file[0]) {
        api_error(req, 400, NULL, "Invalid revision in %s", req->path);
        goto done;
    }
    if (!is_main_rev(rev)) {
        api_error(req, 400, NULL, "Hangar commits to main only, not to '%.200s'", rev);
        goto done;
    }
    char tracked[1400];
    if (source_blocks_push(app_of(req), &sp, tracked, sizeof tracked)) {
        api_error(req, 409, NULL, "%s", tracked);
        goto done;
    }
    if (upload_parse_commit_body(&cb, req->body.data ? req->body.data : "", req->body.len) < 0) {
        api_error(req, 400, NULL, "%s", cb.err);
        goto done;
    }
    if (!lfs_check(req, &cb.batch))
        goto done;
    api_space_repo_path(req, &sp, repo, sizeof repo);
    commit_info info = {
        .author = id.user.name,
        .summary = json_string_value(json_object_get(cb.header, "summary")),
        .description = json_string_value(json_object_get(cb.header, "description")),
        .parent = json_string_value(json_object_get(cb.header, "parentCommit")),
    };
    char err[1200];
    commit_result rc = commit_apply(repo, &info, &cb.batch, sha, err, sizeof err);
    if (rc != COMMIT_OK) {
        const char *code;
        int status = commit_status(rc, &code);
        api_error(req, status, code, "%s", err);
        goto done;
    }
    log_info("api", "%s committed %.12s to %s (%zu operations)", id.user.name, sha, sp.full_id,
             cb.batch.count);
    if (lifecycle_on_commit(app_of(req), &sp, sha, "api") < 0)
        log_error("api", "commit %.12s of %s is on main but its event was not recorded", sha,
                  sp.full_id);
    scan_report scan;
    scan_report_init(&scan);
    scan_commit(req, &sp, &cb.batch, &scan);
    char url[1024];
    snprintf(url, sizeof url, "%s/spaces/%s/commit/%s", app_of(req)->base_url, sp.full_id, sha);
    api_json(req, 200,
             json_pack("{s:b, s:s, s:s, s:s%}", "success", 1, "commitOid", sha, "commitUrl", url,
                       "hookOutput", scan.text.data ? scan.text.data : "", scan.text.len));
    scan_report_free(&scan);
done:
    upload_body_free(&cb);
    free(rev);
    free(file);
}

/* ---- validate-yaml ------------------------------------------------------------- */

static void upload_validate_yaml(http_request *req)
{
    auth_identity id;
    if (!api_identify(req, &id, false))
        return;
    json_t *body = api_parse_body(req);
    if (!body)
        return;
    json_t *content = json_object_get(body, "content");
    const char *type = json_string_value(json_object_get(body, "repoType"));
    json_t *errors = NULL, *warnings = NULL;
    if (!json_is_string(content)) {
        api_error(req, 400, NULL, "Missing \"content\": the README.md text");
        goto done;
    }
    if (type && strcmp(type, "space") != 0) {
        api_error(req, 400, NULL, "Hangar hosts spaces only, not repositories of type '%.40s'",
                  type);
        goto done;
    }
    int n = config_validate_yaml(json_string_value(content), json_string_length(content), &errors,
                                 &warnings);
    if (n < 0) {
        api_error(req, 500, NULL, "Could not validate the README");
        goto done;
    }
    json_t *out = json_pack("{s:O, s:O}", "errors", errors, "warnings", warnings);
    if (n > 0) {
        /* Python reads errors[].message; others read "error". */
        json_t *first = json_array_get(errors, 0);
        const char *msg = json_string_value(json_object_get(first, "message"));
        json_object_set_new(out, "error", json_string(msg ? msg : "Invalid README metadata"));
        http_resp_header(req, "X-Error-Message", "Invalid README metadata");
    }
    api_json(req, n > 0 ? 400 : 200, out);
done:
    json_decref(errors);
    json_decref(warnings);
    json_decref(body);
}

/* ---- tree ---------------------------------------------------------------------- */

typedef struct tree_page {
    json_t *items;
    long long skip;  /* entries before the page */
    long long limit; /* entries on the page */
    long long seen;
    bool more;
} tree_page;

static int tree_page_add(const char *file, const repo_entry *entry, void *arg)
{
    tree_page *page = arg;
    if (page->seen++ < page->skip)
        return 0;
    if ((long long)json_array_size(page->items) == page->limit) {
        page->more = true;
        return 1;
    }
    json_array_append_new(page->items, entry_json(file, entry));
    return 0;
}

static void trim_slashes(char *path)
{
    size_t n = strlen(path);
    while (n && path[n - 1] == '/')
        path[--n] = '\0';
}

static void upload_tree(http_request *req)
{
    space sp;
    char repo[UPLOAD_REPO_PATH], sha[41];
    char *rev = NULL, *dir = NULL;
    tree_page page = {json_array(), 0, 0, 0, false};
    if (!load_rev(req, API_READ, &sp, repo, sha, &rev, &dir) ||
        !page_params(req, UPLOAD_PAGE_MAX, &page.limit, &page.skip))
        goto done;
    trim_slashes(dir);
    int rc =
        sha[0] ? repo_tree_walk(repo, sha, dir, query_flag(req, "recursive"), tree_page_add, &page)
               : (dir[0] ? 1 : 0);
    if (rc < 0) {
        api_error(req, 500, NULL, "Could not list the files of %s", sp.full_id);
        goto done;
    }
    if (rc == 1) {
        char shown[256];
        api_error(req, 404, "EntryNotFound", "No folder %s at %.100s",
                  printable(dir, strlen(dir), shown, 256), rev);
        goto done;
    }
    if (page.more)
        link_next(req, page.skip + page.limit);
    api_json(req, 200, page.items);
    page.items = NULL;
done:
    json_decref(page.items);
    free(rev);
    free(dir);
}

/* ---- paths-info ------------------------------------------------------------------ */

/* Collects paths=... from a form body ('+' is a space there). */
static int form_paths(const char *body, size_t len, json_t *paths)
{
    size_t pos = 0;
    while (pos < len) {
        const char *start = body + pos;
        const char *amp = memchr(start, '&', len - pos);
        size_t n = amp ? (size_t)(amp - start) : len - pos;
        pos += n + (amp ? 1 : 0);
        if (n < 6 || strncmp(start, "paths=", 6) != 0)
            continue;
        char *value = strndup(start + 6, n - 6);
        if (!value)
            return -1;
        for (char *p = value; *p; p++)
            if (*p == '+')
                *p = ' ';
        int rc = util_percent_decode(value);
        if (rc == 0)
            json_array_append_new(paths, json_string(value));
        free(value);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static json_t *body_paths(http_request *req)
{
    const char *type = http_header_get(req, "Content-Type");
    if (type && util_has_prefix(type, "application/json")) {
        json_t *body = api_parse_body(req);
        json_t *paths = body ? json_object_get(body, "paths") : NULL;
        if (body && !json_is_array(paths))
            api_error(req, 400, NULL, "Missing \"paths\": a list of paths");
        paths = json_is_array(paths) ? json_incref(paths) : NULL;
        json_decref(body);
        return paths;
    }
    json_t *paths = json_array();
    if (form_paths(req->body.data ? req->body.data : "", req->body.len, paths) < 0) {
        api_error(req, 400, NULL, "Invalid form body: bad percent-encoding");
        json_decref(paths);
        return NULL;
    }
    return paths;
}

static void upload_paths_info(http_request *req)
{
    space sp;
    char repo[UPLOAD_REPO_PATH], sha[41];
    char *rev = NULL, *file = NULL;
    json_t *paths = NULL, *out = json_array();
    if (!load_rev(req, API_READ, &sp, repo, sha, &rev, &file) || !(paths = body_paths(req)))
        goto done;
    if (json_array_size(paths) > UPLOAD_PATHS_MAX) {
        api_error(req, 400, NULL, "At most %d paths at a time", UPLOAD_PATHS_MAX);
        goto done;
    }
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        char path[COMMIT_PATH_MAX + 1];
        const char *s = json_string_value(p);
        if (!s || !sha[0] || strlen(s) > COMMIT_PATH_MAX)
            continue; /* HF leaves out what does not exist */
        snprintf(path, sizeof path, "%s", s);
        trim_slashes(path);
        repo_entry e;
        int rc = path[0] ? repo_entry_at(repo, sha, path, &e) : 1;
        if (rc < 0) {
            api_error(req, 500, NULL, "Could not read the repository of %s", sp.full_id);
            goto done;
        }
        if (rc == 0)
            json_array_append_new(out, entry_json(path, &e));
    }
    api_json(req, 200, out);
    out = NULL;
done:
    json_decref(out);
    json_decref(paths);
    free(rev);
    free(file);
}

/* ---- commits ------------------------------------------------------------------------ */

typedef struct commit_page {
    json_t *items;
    long long skip;
    long long limit;
    long long seen;
    bool more;
} commit_page;

static int commit_page_add(const repo_commit *c, void *arg)
{
    commit_page *page = arg;
    if (page->seen++ < page->skip)
        return 0;
    if ((long long)json_array_size(page->items) == page->limit) {
        page->more = true;
        return 1;
    }
    char date[40];
    util_iso8601_ms(c->time_ms, date, sizeof date);
    json_array_append_new(page->items,
                          json_pack("{s:s, s:s, s:s, s:[{s:s}], s:s}", "id", c->sha, "title",
                                    c->summary, "message", c->message, "authors", "user",
                                    c->author ? c->author : "", "date", date));
    return 0;
}

static void upload_commits(http_request *req)
{
    space sp;
    char repo[UPLOAD_REPO_PATH], sha[41];
    char *rev = NULL, *file = NULL;
    commit_page page = {json_array(), 0, 0, 0, false};
    if (!load_rev(req, API_READ, &sp, repo, sha, &rev, &file) ||
        !page_params(req, 100, &page.limit, &page.skip))
        goto done;
    if (sha[0] && repo_log(repo, sha, commit_page_add, &page) < 0) {
        api_error(req, 500, NULL, "Could not read the history of %s", sp.full_id);
        goto done;
    }
    if (page.more)
        link_next(req, page.skip + page.limit);
    api_json(req, 200, page.items);
    page.items = NULL;
done:
    json_decref(page.items);
    free(rev);
    free(file);
}

/* huggingface_hub asks for a Xet token for every "lfs" file when hf_xet is
 * installed. Hangar stores large files with Git LFS only: say how to get there. */
static void upload_xet_token(http_request *req)
{
    api_error(req, 501, NULL,
              "Hangar does not support Xet storage: set HF_HUB_DISABLE_XET=1 so that "
              "huggingface_hub uploads files of 10 MiB and more through Git LFS");
}

const route api_upload_routes[] = {
    {HTTP_GET, "/api/spaces/:owner/:name/xet-write-token/*", upload_xet_token, NULL, 0},
    {HTTP_GET, "/api/spaces/:owner/:name/xet-read-token/*", upload_xet_token, NULL, 0},
    {HTTP_POST, "/api/validate-yaml", upload_validate_yaml, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/preupload/*", upload_preupload, NULL,
     UPLOAD_LIST_BODY_LIMIT},
    {HTTP_POST, "/api/spaces/:owner/:name/commit/*", upload_commit, NULL, UPLOAD_COMMIT_BODY_LIMIT},
    {HTTP_GET, "/api/spaces/:owner/:name/tree/*", upload_tree, NULL, 0},
    {HTTP_POST, "/api/spaces/:owner/:name/paths-info/*", upload_paths_info, NULL,
     UPLOAD_LIST_BODY_LIMIT},
    {HTTP_GET, "/api/spaces/:owner/:name/commits/*", upload_commits, NULL, 0},
};
const size_t api_upload_routes_count = sizeof api_upload_routes / sizeof api_upload_routes[0];
