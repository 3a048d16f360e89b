#include "git/commit.h"

#include <errno.h>
#include <fnmatch.h>
#include <git2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/repo.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

/* ---- batches -------------------------------------------------------------- */

void commit_batch_init(commit_batch *b)
{
    memset(b, 0, sizeof *b);
}

void commit_batch_free(commit_batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        free(b->ops[i].path);
        free(b->ops[i].data);
    }
    free(b->ops);
    commit_batch_init(b);
}

int commit_batch_add(commit_batch *b, commit_op_kind kind, const char *path, unsigned char *data,
                     size_t len)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        commit_op *ops = realloc(b->ops, cap * sizeof *ops);
        if (!ops) {
            free(data);
            return -1;
        }
        b->ops = ops;
        b->cap = cap;
    }
    size_t plen = strlen(path);
    if (kind == COMMIT_OP_DELETE_FOLDER && plen > 1 && path[plen - 1] == '/')
        plen--;
    char *copy = strndup(path, plen);
    if (!copy) {
        free(data);
        return -1;
    }
    b->ops[b->count++] = (commit_op){kind, copy, data, len, false};
    return 0;
}

int commit_batch_add_lfs(commit_batch *b, const char *path, unsigned char *pointer, size_t len)
{
    if (commit_batch_add(b, COMMIT_OP_ADD, path, pointer, len) < 0)
        return -1;
    b->ops[b->count - 1].lfs = true;
    return 0;
}

/* ---- paths ---------------------------------------------------------------- */

static bool component_is(const char *c, size_t len, const char *name)
{
    return len == strlen(name) && util_strneq_nocase(c, len, name);
}

/* Whether a clone would write this component as its .git directory: in any
 * case (case-insensitive file systems), and on NTFS also with trailing dots
 * or spaces, an alternate stream (".git::$INDEX_ALLOCATION") or the short
 * name "git~1", the names git's own protectNTFS refuses. */
static bool names_git_dir(const char *c, size_t len)
{
    if (component_is(c, len, "git~1"))
        return true;
    const char *colon = memchr(c, ':', len);
    if (colon)
        len = (size_t)(colon - c);
    while (len > 4 && (c[len - 1] == '.' || c[len - 1] == ' '))
        len--;
    return component_is(c, len, ".git");
}

static const char *component_problem(const char *c, size_t len)
{
    if (len == 0)
        return "has an empty component ('//')";
    if (component_is(c, len, "."))
        return "has a '.' component";
    if (component_is(c, len, ".."))
        return "has a '..' component";
    if (names_git_dir(c, len))
        return COMMIT_PROBLEM_DOT_GIT;
    return NULL;
}

const char *commit_path_problem(const char *path, size_t len, bool folder)
{
    if (len == 0)
        return "is empty";
    if (len > COMMIT_PATH_MAX)
        return "is longer than 1024 bytes";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)path[i];
        if (ch == '\0')
            return "contains a NUL byte";
        if (ch < 0x20 || ch == 0x7f)
            return "contains a control character";
        if (ch == '\\')
            return "contains a backslash";
    }
    if (path[0] == '/')
        return "is absolute (starts with '/')";
    if (path[len - 1] == '/') {
        if (!folder)
            return "ends with '/' (a file path names no folder)";
        len--; /* "dir/" names the folder dir */
    }
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        const char *why = component_problem(path + start, i - start);
        if (why)
            return why;
        start = i + 1;
    }
    return NULL;
}

bool commit_path_valid(const char *path, size_t len, bool folder)
{
    return commit_path_problem(path, len, folder) == NULL;
}

/* ---- applying a batch ------------------------------------------------------- */

typedef struct commit_ctx {
    git_repository *repo;
    git_index *index;
    git_oid head;
    bool unborn;
    char *err;
    size_t err_size;
    buf attrs; /* new .gitattributes content, when LFS files need rules */
    bool attrs_set;
} commit_ctx;

static commit_result fail(commit_ctx *ctx, commit_result rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static commit_result fail(commit_ctx *ctx, commit_result rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, ctx->err_size, fmt, ap);
    va_end(ap);
    return rc;
}

/* Logs libgit2's last error with context; the client only learns "internal",
 * or that the disk is full. */
static commit_result git_fail(commit_ctx *ctx, const char *what, const char *repo_path)
{
    bool no_space = repo_error_no_space();
    const git_error *e = git_error_last();
    log_error("commit", "%s in %s: %s", what, repo_path,
              no_space          ? strerror(ENOSPC)
              : e && e->message ? e->message
                                : "unknown error");
    if (no_space)
        return fail(ctx, COMMIT_NO_SPACE, "Not enough storage space on the server to %s", what);
    return fail(ctx, COMMIT_ERROR, "Could not %s", what);
}

/* Reads main into ctx->head (or notes it is unborn). */
static commit_result read_head(commit_ctx *ctx, const char *repo_path)
{
    int rc = git_reference_name_to_id(&ctx->head, ctx->repo, REPO_MAIN_REF);
    if (rc == GIT_ENOTFOUND) {
        ctx->unborn = true;
        return COMMIT_OK;
    }
    if (rc < 0)
        return git_fail(ctx, "read main", repo_path);
    return COMMIT_OK;
}

static bool hex_prefix_of(const char *prefix, const char *sha)
{
    size_t n = strlen(prefix);
    if (n < 5 || n > 40)
        return false;
    for (size_t i = 0; i < n; i++) {
        char a = prefix[i];
        if (a >= 'A' && a <= 'F')
            a = (char)(a - 'A' + 'a');
        if (a != sha[i])
            return false;
    }
    return true;
}

static commit_result check_parent(commit_ctx *ctx, const char *parent)
{
    if (!parent)
        return COMMIT_OK;
    char head[41] = "";
    if (!ctx->unborn)
        git_oid_tostr(head, sizeof head, &ctx->head);
    bool same = ctx->unborn ? parent[0] == '\0' : hex_prefix_of(parent, head);
    if (same)
        return COMMIT_OK;
    return fail(ctx, COMMIT_CONFLICT,
                "A commit has happened since. Please refresh and try again: main is at %s, "
                "not at the parent commit %s",
                ctx->unborn ? "no commit yet" : head, parent[0] ? parent : "(none)");
}

static commit_result load_tree(commit_ctx *ctx, const char *repo_path)
{
    if (git_index_new(&ctx->index) < 0)
        return git_fail(ctx, "create an index", repo_path);
    if (ctx->unborn)
        return COMMIT_OK;
    git_commit *head = NULL;
    git_tree *tree = NULL;
    commit_result rc = COMMIT_OK;
    if (git_commit_lookup(&head, ctx->repo, &ctx->head) < 0 || git_commit_tree(&tree, head) < 0 ||
        git_index_read_tree(ctx->index, tree) < 0)
        rc = git_fail(ctx, "read the tree of main", repo_path);
    git_tree_free(tree);
    git_commit_free(head);
    return rc;
}

static bool folder_exists(git_index *index, const char *path)
{
    char prefix[COMMIT_PATH_MAX + 2];
    snprintf(prefix, sizeof prefix, "%s/", path);
    size_t pos;
    return git_index_find_prefix(&pos, index, prefix) == 0;
}

/* A file may not sit where a folder is, nor under a path that is a file:
 * libgit2 would silently drop the other entries, which nobody asked for. */
static commit_result check_file_place(commit_ctx *ctx, const char *path)
{
    if (folder_exists(ctx->index, path))
        return fail(ctx, COMMIT_INVALID, "Cannot add file '%s': a folder with this name exists",
                    path);
    char parent[COMMIT_PATH_MAX + 1];
    snprintf(parent, sizeof parent, "%s", path);
    for (char *slash = strchr(parent, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        bool is_file = git_index_get_bypath(ctx->index, parent, 0) != NULL;
        *slash = '/';
        if (is_file)
            return fail(ctx, COMMIT_INVALID, "Cannot add file '%s': '%.*s' is a file", path,
                        (int)(slash - parent), parent);
    }
    return COMMIT_OK;
}

/* Stages an added file by its hash only: blobs are written once every
 * operation has passed, so a refused batch writes nothing. */
static commit_result stage_add(commit_ctx *ctx, const commit_op *op, const char *repo_path)
{
    commit_result rc = check_file_place(ctx, op->path);
    if (rc != COMMIT_OK)
        return rc;
    git_index_entry entry;
    memset(&entry, 0, sizeof entry);
    entry.path = op->path;
    entry.mode = GIT_FILEMODE_BLOB;
    /* Replacing an executable keeps it executable, as git add would. */
    const git_index_entry *old = git_index_get_bypath(ctx->index, op->path, 0);
    if (old && old->mode == GIT_FILEMODE_BLOB_EXECUTABLE)
        entry.mode = GIT_FILEMODE_BLOB_EXECUTABLE;
    entry.file_size = (uint32_t)op->len;
    if (git_odb_hash(&entry.id, op->data ? (const void *)op->data : "", op->len, GIT_OBJECT_BLOB) <
            0 ||
        git_index_add(ctx->index, &entry) < 0)
        return git_fail(ctx, "stage a file", repo_path);
    return COMMIT_OK;
}

static commit_result stage_delete_file(commit_ctx *ctx, const commit_op *op, const char *repo_path)
{
    if (!git_index_get_bypath(ctx->index, op->path, 0)) {
        if (folder_exists(ctx->index, op->path))
            return fail(ctx, COMMIT_NOT_FOUND,
                        "A file with this name doesn't exist: '%s' is a folder", op->path);
        return fail(ctx, COMMIT_NOT_FOUND, "A file with this name doesn't exist: %s", op->path);
    }
    if (git_index_remove(ctx->index, op->path, 0) < 0)
        return git_fail(ctx, "delete a file", repo_path);
    return COMMIT_OK;
}

static commit_result stage_delete_folder(commit_ctx *ctx, const commit_op *op,
                                         const char *repo_path)
{
    if (!folder_exists(ctx->index, op->path))
        return fail(ctx, COMMIT_NOT_FOUND, "A folder with this name doesn't exist: %s", op->path);
    if (git_index_remove_directory(ctx->index, op->path, 0) < 0)
        return git_fail(ctx, "delete a folder", repo_path);
    return COMMIT_OK;
}

static commit_result stage_all(commit_ctx *ctx, const commit_batch *batch, const char *repo_path)
{
    for (size_t i = 0; i < batch->count; i++) {
        const commit_op *op = &batch->ops[i];
        bool folder = op->kind == COMMIT_OP_DELETE_FOLDER;
        const char *why = commit_path_problem(op->path, strlen(op->path), folder);
        if (why)
            return fail(ctx, COMMIT_INVALID, "Invalid path '%s': it %s", op->path, why);
        commit_result rc = op->kind == COMMIT_OP_ADD ? stage_add(ctx, op, repo_path)
                           : op->kind == COMMIT_OP_DELETE_FILE
                               ? stage_delete_file(ctx, op, repo_path)
                               : stage_delete_folder(ctx, op, repo_path);
        if (rc != COMMIT_OK)
            return rc;
    }
    return COMMIT_OK;
}

/* ---- .gitattributes for LFS files ---------------------------------------------- */

/* The .gitattributes the tree will have before LFS rules are added: the last
 * one the batch adds, else the one of main. Blobs of the batch are not
 * written yet, so they are read from the batch itself. */
static commit_result attrs_base(commit_ctx *ctx, const commit_batch *batch, const char *repo_path)
{
    for (size_t i = batch->count; i-- > 0;) {
        const commit_op *op = &batch->ops[i];
        if (op->kind == COMMIT_OP_ADD && strcmp(op->path, ".gitattributes") == 0)
            return buf_append(&ctx->attrs, op->data ? (const char *)op->data : "", op->len) < 0
                       ? fail(ctx, COMMIT_ERROR, "Out of memory")
                       : COMMIT_OK;
    }
    const git_index_entry *e = git_index_get_bypath(ctx->index, ".gitattributes", 0);
    git_blob *blob = NULL;
    if (!e)
        return COMMIT_OK;
    if (git_blob_lookup(&blob, ctx->repo, &e->id) < 0)
        return git_fail(ctx, "read .gitattributes", repo_path);
    int rc = buf_append(&ctx->attrs, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
    git_blob_free(blob);
    return rc < 0 ? fail(ctx, COMMIT_ERROR, "Out of memory") : COMMIT_OK;
}

/* Whether one .gitattributes line sends path to LFS. A pattern without '/'
 * matches the file name in any folder, as in git. */
static bool attrs_line_covers(const char *line, size_t len, const char *path)
{
    char copy[COMMIT_PATH_MAX * 2 + 64];
    if (len >= sizeof copy)
        return false;
    memcpy(copy, line, len);
    copy[len] = '\0';
    char *save = NULL, *pattern = strtok_r(copy, " \t\r", &save);
    if (!pattern || pattern[0] == '#' || !strstr(line + (pattern - copy), "filter=lfs"))
        return false;
    const char *base = strrchr(path, '/');
    bool anchored = strchr(pattern, '/') != NULL;
    if (pattern[0] == '/')
        pattern++;
    return fnmatch(pattern, anchored || !base ? path : base + 1, anchored ? FNM_PATHNAME : 0) == 0;
}

static bool attrs_cover(const buf *attrs, const char *path)
{
    const char *p = attrs->data ? attrs->data : "", *end = p + attrs->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (attrs_line_covers(p, n, path))
            return true;
        p += n + 1;
    }
    return false;
}

/* The rule `git lfs track` writes: glob characters and spaces escaped. */
static int attrs_add_rule(buf *attrs, const char *path)
{
    if (attrs->len && attrs->data[attrs->len - 1] != '\n' && buf_puts(attrs, "\n") < 0)
        return -1;
    for (const char *p = path; *p; p++) {
        int rc = *p == ' '                ? buf_puts(attrs, "[[:space:]]")
                 : strchr("*?[]\\#!", *p) ? buf_printf(attrs, "\\%c", *p)
                                          : buf_append(attrs, p, 1);
        if (rc < 0)
            return -1;
    }
    return buf_puts(attrs, " filter=lfs diff=lfs merge=lfs -text\n");
}

/* Stages a .gitattributes with a rule for every LFS file not yet covered. */
static commit_result stage_lfs_attrs(commit_ctx *ctx, const commit_batch *batch,
                                     const char *repo_path)
{
    bool any = false;
    commit_result rc;
    for (size_t i = 0; i < batch->count && !any; i++)
        any = batch->ops[i].lfs;
    if (!any || (rc = attrs_base(ctx, batch, repo_path)) != COMMIT_OK)
        return any ? rc : COMMIT_OK;
    size_t before = ctx->attrs.len;
    for (size_t i = 0; i < batch->count; i++) {
        const commit_op *op = &batch->ops[i];
        if (op->lfs && !attrs_cover(&ctx->attrs, op->path) &&
            attrs_add_rule(&ctx->attrs, op->path) < 0)
            return fail(ctx, COMMIT_ERROR, "Out of memory");
    }
    if (ctx->attrs.len == before)
        return COMMIT_OK;
    commit_op attrs_op = {COMMIT_OP_ADD, ".gitattributes", (unsigned char *)ctx->attrs.data,
                          ctx->attrs.len, false};
    ctx->attrs_set = true;
    return stage_add(ctx, &attrs_op, repo_path);
}

static commit_result write_blobs(commit_ctx *ctx, const commit_batch *batch, const char *repo_path)
{
    git_oid attrs_oid;
    if (ctx->attrs_set &&
        git_blob_create_from_buffer(&attrs_oid, ctx->repo, ctx->attrs.data, ctx->attrs.len) < 0)
        return git_fail(ctx, "write .gitattributes", repo_path);
    for (size_t i = 0; i < batch->count; i++) {
        const commit_op *op = &batch->ops[i];
        if (op->kind != COMMIT_OP_ADD)
            continue;
        git_oid oid;
        errno = 0;
        if (git_blob_create_from_buffer(&oid, ctx->repo, op->data ? (const void *)op->data : "",
                                        op->len) < 0)
            return git_fail(ctx, "write a file", repo_path);
    }
    return COMMIT_OK;
}

static char *commit_message(const commit_info *info)
{
    buf msg;
    buf_init(&msg);
    int rc = buf_puts(&msg, info->summary);
    if (info->description && info->description[0])
        rc |= buf_printf(&msg, "\n\n%s", info->description);
    if (rc < 0 || !msg.data) {
        buf_free(&msg);
        return NULL;
    }
    return buf_detach(&msg);
}

static commit_result write_commit(commit_ctx *ctx, const commit_info *info, git_oid *out,
                                  const char *repo_path)
{
    git_oid tree_oid;
    git_tree *tree = NULL;
    git_commit *parent = NULL;
    git_signature *sig = NULL;
    char email[512];
    char *message = commit_message(info);
    commit_result rc = COMMIT_ERROR;
    snprintf(email, sizeof email, "%s@users.noreply.hangar", info->author);
    if (!message) {
        rc = fail(ctx, COMMIT_ERROR, "Out of memory");
        goto done;
    }
    if (git_index_write_tree_to(&tree_oid, ctx->index, ctx->repo) < 0 ||
        git_tree_lookup(&tree, ctx->repo, &tree_oid) < 0) {
        rc = git_fail(ctx, "write the tree", repo_path);
        goto done;
    }
    if (!ctx->unborn && git_commit_lookup(&parent, ctx->repo, &ctx->head) < 0) {
        rc = git_fail(ctx, "read the parent commit", repo_path);
        goto done;
    }
    if (git_signature_now(&sig, info->author, info->email ? info->email : email) < 0) {
        rc = fail(ctx, COMMIT_INVALID, "Invalid author name '%s'", info->author);
        goto done;
    }
    const git_commit *parents[1] = {parent};
    if (git_commit_create(out, ctx->repo, NULL, sig, sig, NULL, message, tree, parent ? 1 : 0,
                          parents) < 0) {
        rc = git_fail(ctx, "write the commit", repo_path);
        goto done;
    }
    rc = COMMIT_OK;
done:
    git_signature_free(sig);
    git_commit_free(parent);
    git_tree_free(tree);
    free(message);
    return rc;
}

/* Moves main from the head the commit was built on to the new commit, or
 * creates it when it did not exist; anything else in between is a conflict. */
static commit_result move_main(commit_ctx *ctx, const git_oid *commit, const char *summary,
                               const char *repo_path)
{
    char log_message[256];
    snprintf(log_message, sizeof log_message, "commit (hangar api): %.200s", summary);
    git_reference *ref = NULL;
    int rc = ctx->unborn
                 ? git_reference_create(&ref, ctx->repo, REPO_MAIN_REF, commit, 0, log_message)
                 : git_reference_create_matching(&ref, ctx->repo, REPO_MAIN_REF, commit, 1,
                                                 &ctx->head, log_message);
    git_reference_free(ref);
    if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS || rc == GIT_ENOTFOUND || rc == GIT_ELOCKED) {
        log_info("commit", "main of %s moved while committing: refused", repo_path);
        return fail(ctx, COMMIT_CONFLICT,
                    "A commit has happened since. Please refresh and try again: main moved "
                    "while this commit was being written");
    }
    if (rc < 0)
        return git_fail(ctx, "move main", repo_path);
    return COMMIT_OK;
}

commit_result commit_apply(const char *repo_path, const commit_info *info,
                           const commit_batch *batch, char sha[41], char *err, size_t err_size)
{
    commit_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.err = err;
    ctx.err_size = err_size;
    err[0] = '\0';
    sha[0] = '\0';
    git_oid commit;
    commit_result rc;

    if (!info->summary || !info->summary[0]) {
        rc = fail(&ctx, COMMIT_INVALID, "A commit needs a summary");
        goto done;
    }
    if (git_repository_open_bare(&ctx.repo, repo_path) < 0) {
        rc = git_fail(&ctx, "open the repository", repo_path);
        goto done;
    }
    if ((rc = read_head(&ctx, repo_path)) != COMMIT_OK ||
        (rc = check_parent(&ctx, info->parent)) != COMMIT_OK ||
        (rc = load_tree(&ctx, repo_path)) != COMMIT_OK ||
        (rc = stage_all(&ctx, batch, repo_path)) != COMMIT_OK ||
        (rc = stage_lfs_attrs(&ctx, batch, repo_path)) != COMMIT_OK ||
        (rc = write_blobs(&ctx, batch, repo_path)) != COMMIT_OK ||
        (rc = write_commit(&ctx, info, &commit, repo_path)) != COMMIT_OK ||
        (rc = move_main(&ctx, &commit, info->summary, repo_path)) != COMMIT_OK)
        goto done;
    git_oid_tostr(sha, 41, &commit);
done:
    buf_free(&ctx.attrs);
    git_index_free(ctx.index);
    git_repository_free(ctx.repo);
    return rc;
}
