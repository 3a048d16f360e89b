#include "git/repo.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <ftw.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "git/lfs.h"
#include "lib/log.h"
#include "lib/util.h"

static int configure(git_repository *repo);

static void log_git_error(const char *what, const char *path)
{
    const git_error *e = git_error_last();
    log_error("repo", "%s %s: %s", what, path, e && e->message ? e->message : "unknown error");
}

void repo_global_init(void)
{
    git_libgit2_init();
    /* Hangar validates paths itself; keep libgit2's strict object checks on. */
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1);
}

bool repo_error_no_space(void)
{
    if (errno == ENOSPC || errno == EDQUOT)
        return true;
    const git_error *e = git_error_last();
    return e && e->klass == GIT_ERROR_OS && e->message &&
           (strstr(e->message, strerror(ENOSPC)) || strstr(e->message, strerror(EDQUOT)));
}

int repo_init_bare(const char *path)
{
    git_repository *repo = NULL;
    git_repository_init_options opts;
    git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
    opts.flags =
        GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
    opts.initial_head = "main";
    opts.mode = GIT_REPOSITORY_INIT_SHARED_UMASK;
    if (git_repository_init_ext(&repo, path, &opts) < 0) {
        log_git_error("cannot create repository", path);
        return -1;
    }
    int rc = 0;
    if (configure(repo) < 0) {
        log_git_error("cannot configure repository", path);
        rc = -1;
    }
    git_repository_free(repo);
    return rc;
}

/* Lets git's receive-pack accept pushes over smart HTTP (auth is Hangar's),
 * keeps reflogs so a bad force-push can be undone by an operator, and checks
 * pushed objects. The three values are written at once under the config's
 * lock: each separate write replaced the file by a rename, which ext4 flushes
 * to disk, and made creating a space twice as slow. */
static int configure(git_repository *repo)
{
    git_config *cfg = NULL;
    git_transaction *tx = NULL;
    int rc = -1;
    if (git_repository_config(&cfg, repo) < 0 || git_config_lock(&tx, cfg) < 0 ||
        git_config_set_bool(cfg, "http.receivepack", 1) < 0 ||
        git_config_set_bool(cfg, "core.logAllRefUpdates", 1) < 0 ||
        git_config_set_bool(cfg, "receive.fsckObjects", 1) < 0 || git_transaction_commit(tx) < 0)
        goto done;
    rc = 0;
done:
    git_transaction_free(tx);
    git_config_free(cfg);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int repo_remove(const char *path)
{
    if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT) {
        log_error("repo", "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int repo_move(const char *from, const char *to)
{
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", to);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = '\0';
        if (util_mkdir_p(parent, 0700) < 0) {
            log_error("repo", "cannot create %s: %s", parent, strerror(errno));
            return -1;
        }
    }
    if (rename(from, to) < 0) {
        log_error("repo", "cannot move %s to %s: %s", from, to, strerror(errno));
        return -1;
    }
    return 0;
}

static int open_repo(const char *path, git_repository **repo)
{
    if (git_repository_open_bare(repo, path) < 0) {
        log_git_error("cannot open repository", path);
        return -1;
    }
    return 0;
}

int repo_head(const char *path, char sha[41])
{
    return repo_resolve(path, REPO_MAIN_REF, sha) < 0 ? -1 : 0;
}

int repo_resolve(const char *path, const char *rev, char sha[41])
{
    sha[0] = '\0';
    git_repository *repo;
    if (open_repo(path, &repo) < 0)
        return -1;
    git_object *obj = NULL;
    int rc = git_revparse_single(&obj, repo, rev);
    int result = 1;
    if (rc == 0) {
        git_object *commit = NULL;
        if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) == 0) {
            git_oid_tostr(sha, 41, git_object_id(commit));
            result = 0;
        }
        git_object_free(commit);
    } else if (rc != GIT_ENOTFOUND && rc != GIT_EAMBIGUOUS && rc != GIT_EINVALIDSPEC) {
        log_git_error("cannot resolve revision in", path);
        result = -1;
    }
    git_object_free(obj);
    git_repository_free(repo);
    return result;
}

typedef struct sibling_walk {
    json_t *list;
    git_repository *repo;
    bool with_sizes;
} sibling_walk;

static void entry_lfs(git_odb *odb, const git_oid *id, repo_entry *out);

/* HF's siblings carry the LFS object of a pointer file, with its real size. */
static void sibling_lfs(git_repository *repo, const git_oid *id, size_t size, json_t *item)
{
    git_odb *odb = NULL;
    repo_entry e = {.size = (int64_t)size};
    if (git_repository_odb(&odb, repo) == 0)
        entry_lfs(odb, id, &e);
    git_odb_free(odb);
    if (!e.lfs)
        return;
    json_object_set_new(item, "lfs",
                        json_pack("{s:s, s:I, s:I}", "sha256", e.lfs_oid, "size",
                                  (json_int_t)e.lfs_size, "pointerSize", (json_int_t)size));
    json_object_set_new(item, "size", json_integer((json_int_t)e.lfs_size));
}

static int sibling_cb(const char *root, const git_tree_entry *entry, void *payload)
{
    sibling_walk *w = payload;
    if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
        return 0;
    char rel[4096];
    snprintf(rel, sizeof rel, "%s%s", root, git_tree_entry_name(entry));
    json_t *item = json_pack("{s:s}", "rfilename", rel);
    if (w->with_sizes) {
        char oid[41];
        git_oid_tostr(oid, sizeof oid, git_tree_entry_id(entry));
        git_odb *odb = NULL;
        size_t size = 0;
        git_object_t type;
        if (git_repository_odb(&odb, w->repo) == 0)
            git_odb_read_header(&size, &type, odb, git_tree_entry_id(entry));
        git_odb_free(odb);
        json_object_set_new(item, "blobId", json_string(oid));
        json_object_set_new(item, "size", json_integer((json_int_t)size));
        sibling_lfs(w->repo, git_tree_entry_id(entry), size, item);
    }
    json_array_append_new(w->list, item);
    return 0;
}

static int commit_tree(git_repository *repo, const char *sha, git_tree **tree)
{
    git_oid oid;
    git_commit *commit = NULL;
    if (git_oid_fromstr(&oid, sha) < 0 || git_commit_lookup(&commit, repo, &oid) < 0)
        return -1;
    int rc = git_commit_tree(tree, commit);
    git_commit_free(commit);
    return rc;
}

json_t *repo_siblings(const char *path, const char *sha, bool with_sizes)
{
    json_t *list = json_array();
    if (!sha || !*sha)
        return list;
    git_repository *repo;
    if (open_repo(path, &repo) < 0) {
        json_decref(list);
        return NULL;
    }
    git_tree *tree = NULL;
    sibling_walk w = {list, repo, with_sizes};
    if (commit_tree(repo, sha, &tree) < 0 ||
        git_tree_walk(tree, GIT_TREEWALK_PRE, sibling_cb, &w) < 0) {
        log_git_error("cannot list files of", path);
        json_decref(list);
        list = NULL;
    }
    git_tree_free(tree);
    git_repository_free(repo);
    return list;
}

int repo_read_file(const char *path, const char *sha, const char *file, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    git_repository *repo;
    if (open_repo(path, &repo) < 0)
        return -1;
    git_tree *tree = NULL;
    git_tree_entry *entry = NULL;
    git_blob *blob = NULL;
    int result = -1;
    if (commit_tree(repo, sha, &tree) < 0)
        goto done;
    if (git_tree_entry_bypath(&entry, tree, file) < 0 ||
        git_tree_entry_type(entry) != GIT_OBJECT_BLOB) {
        result = 1;
        goto done;
    }
    if (git_blob_lookup(&blob, repo, git_tree_entry_id(entry)) < 0)
        goto done;
    *len = (size_t)git_blob_rawsize(blob);
    *data = malloc(*len + 1);
    if (!*data)
        goto done;
    memcpy(*data, git_blob_rawcontent(blob), *len);
    (*data)[*len] = '\0';
    result = 0;
done:
    git_blob_free(blob);
    git_tree_entry_free(entry);
    git_tree_free(tree);
    git_repository_free(repo);
    return result;
}

int64_t repo_commit_time_ms(const char *path, const char *sha)
{
    git_repository *repo;
    if (!sha || !*sha || open_repo(path, &repo) < 0)
        return 0;
    git_oid oid;
    git_commit *commit = NULL;
    int64_t ms = 0;
    if (git_oid_fromstr(&oid, sha) == 0 && git_commit_lookup(&commit, repo, &oid) == 0)
        ms = (int64_t)git_commit_time(commit) * 1000;
    git_commit_free(commit);
    git_repository_free(repo);
    return ms;
}

static int64_t blob_size(git_odb *odb, const git_oid *oid)
{
    size_t size = 0;
    git_object_t type;
    if (!odb || git_odb_read_header(&size, &type, odb, oid) < 0)
        return 0;
    return (int64_t)size;
}

/* Whether the blob is an LFS pointer; only blobs of a pointer's size are read. */
static void entry_lfs(git_odb *odb, const git_oid *id, repo_entry *out)
{
    git_odb_object *obj = NULL;
    out->lfs = false;
    if (out->size < LFS_POINTER_MIN || out->size > LFS_POINTER_MAX ||
        git_odb_read(&obj, odb, id) < 0)
        return;
    out->lfs = lfs_pointer_parse(git_odb_object_data(obj), git_odb_object_size(obj), out->lfs_oid,
                                 &out->lfs_size) == 0;
    git_odb_object_free(obj);
}

static void entry_fill(git_odb *odb, const git_tree_entry *te, repo_entry *out)
{
    out->is_dir = git_tree_entry_type(te) == GIT_OBJECT_TREE;
    git_oid_tostr(out->oid, sizeof out->oid, git_tree_entry_id(te));
    out->size = out->is_dir ? 0 : blob_size(odb, git_tree_entry_id(te));
    out->lfs = false;
    if (!out->is_dir && odb)
        entry_lfs(odb, git_tree_entry_id(te), out);
}

int repo_entry_at(const char *path, const char *sha, const char *file, repo_entry *out)
{
    memset(out, 0, sizeof *out);
    git_repository *repo;
    if (open_repo(path, &repo) < 0)
        return -1;
    git_tree *tree = NULL;
    git_tree_entry *te = NULL;
    git_odb *odb = NULL;
    int result = -1;
    if (commit_tree(repo, sha, &tree) < 0 || git_repository_odb(&odb, repo) < 0) {
        log_git_error("cannot read commit of", path);
        goto done;
    }
    if (!file[0]) {
        out->is_dir = true;
        git_oid_tostr(out->oid, sizeof out->oid, git_tree_id(tree));
        result = 0;
        goto done;
    }
    result = 1;
    if (git_tree_entry_bypath(&te, tree, file) < 0 ||
        (git_tree_entry_type(te) != GIT_OBJECT_BLOB && git_tree_entry_type(te) != GIT_OBJECT_TREE))
        goto done;
    entry_fill(odb, te, out);
    result = 0;
done:
    git_odb_free(odb);
    git_tree_entry_free(te);
    git_tree_free(tree);
    git_repository_free(repo);
    return result;
}

typedef struct tree_walk {
    git_odb *odb;
    const char *dir;
    bool recursive;
    repo_tree_cb cb;
    void *arg;
    bool stopped;
} tree_walk;

/* Calls the walker's callback; root is the entry's folder relative to dir. */
static int tree_visit(tree_walk *w, const char *root, const git_tree_entry *te)
{
    git_object_t type = git_tree_entry_type(te);
    if (type != GIT_OBJECT_BLOB && type != GIT_OBJECT_TREE)
        return 1; /* submodules: nothing to list or download */
    char file[4096];
    snprintf(file, sizeof file, "%s%s%s%s", w->dir, w->dir[0] ? "/" : "", root,
             git_tree_entry_name(te));
    repo_entry entry;
    entry_fill(w->odb, te, &entry);
    if (w->cb(file, &entry, w->arg) != 0) {
        w->stopped = true;
        return -1;
    }
    return w->recursive ? 0 : 1;
}

static int tree_walk_cb(const char *root, const git_tree_entry *te, void *payload)
{
    return tree_visit(payload, root, te);
}

int repo_tree_walk(const char *path, const char *sha, const char *dir, bool recursive,
                   repo_tree_cb cb, void *arg)
{
    git_repository *repo;
    if (open_repo(path, &repo) < 0)
        return -1;
    git_tree *root = NULL, *tree = NULL;
    git_tree_entry *te = NULL;
    tree_walk w = {NULL, dir, recursive, cb, arg, false};
    int result = -1;
    if (commit_tree(repo, sha, &root) < 0 || git_repository_odb(&w.odb, repo) < 0) {
        log_git_error("cannot read commit of", path);
        goto done;
    }
    if (dir[0]) {
        result = 1;
        if (git_tree_entry_bypath(&te, root, dir) < 0 || git_tree_entry_type(te) != GIT_OBJECT_TREE)
            goto done;
        result = -1;
        if (git_tree_lookup(&tree, repo, git_tree_entry_id(te)) < 0) {
            log_git_error("cannot read a folder of", path);
            goto done;
        }
    }
    if (git_tree_walk(tree ? tree : root, GIT_TREEWALK_PRE, tree_walk_cb, &w) < 0 && !w.stopped) {
        log_git_error("cannot list files of", path);
        goto done;
    }
    result = 0;
done:
    git_odb_free(w.odb);
    git_tree_entry_free(te);
    git_tree_free(tree);
    git_tree_free(root);
    git_repository_free(repo);
    return result;
}

int repo_log(const char *path, const char *sha, repo_log_cb cb, void *arg)
{
    git_repository *repo;
    if (open_repo(path, &repo) < 0)
        return -1;
    git_revwalk *walk = NULL;
    git_oid oid;
    int result = -1;
    if (git_revwalk_new(&walk, repo) < 0 ||
        git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME) < 0 ||
        git_oid_fromstr(&oid, sha) < 0 || git_revwalk_push(walk, &oid) < 0) {
        log_git_error("cannot walk the history of", path);
        goto done;
    }
    int rc;
    while ((rc = git_revwalk_next(&oid, walk)) == 0) {
        git_commit *commit = NULL;
        if (git_commit_lookup(&commit, repo, &oid) < 0) {
            log_git_error("cannot read a commit of", path);
            goto done;
        }
        repo_commit c;
        git_oid_tostr(c.sha, sizeof c.sha, &oid);
        const char *summary = git_commit_summary(commit);
        c.summary = summary ? summary : "";
        c.message = git_commit_message(commit);
        c.author = git_commit_author(commit)->name;
        c.time_ms = (int64_t)git_commit_time(commit) * 1000;
        int stop = cb(&c, arg);
        git_commit_free(commit);
        if (stop)
            break;
    }
    if (rc < 0 && rc != GIT_ITEROVER) {
        log_git_error("cannot walk the history of", path);
        goto done;
    }
    result = 0;
done:
    git_revwalk_free(walk);
    git_repository_free(repo);
    return result;
}

int repo_clone_bare(const char *from, const char *to)
{
    git_repository *repo = NULL;
    git_clone_options opts;
    git_clone_options_init(&opts, GIT_CLONE_OPTIONS_VERSION);
    opts.bare = 1;
    opts.local = GIT_CLONE_LOCAL; /* hard-links objects where it can: fast and small */
    if (git_clone(&repo, from, to, &opts) < 0) {
        log_git_error("cannot copy repository to", to);
        return -1;
    }
    /* A clone keeps its source as "origin": the copy is a space of its own,
     * configured like a new one. (git_remote_delete would do, but leaks its
     * regex match data in libgit2 1.5.) */
    git_config *cfg = NULL;
    int rc = 0;
    if (git_repository_config(&cfg, repo) == 0) {
        git_config_delete_entry(cfg, "remote.origin.url");
        git_config_delete_entry(cfg, "remote.origin.fetch");
        git_config_free(cfg);
        cfg = NULL;
    }
    if (configure(repo) < 0) {
        log_git_error("cannot configure repository", to);
        rc = -1;
    }
    git_repository_free(repo);
    return rc;
}

/* ---- recovery at start-up ----------------------------------------------------- */

/* True when /proc/<pid>/cmdline is git's upload-pack or receive-pack on a
 * repository under prefix. */
static bool stale_git(const char *pid, const char *prefix)
{
    char path[64], cmd[8192];
    snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = '\0';
    bool pack = false, ours = false;
    for (size_t i = 0; i < n; i += strlen(cmd + i) + 1) {
        const char *arg = cmd + i;
        pack |= strstr(arg, "upload-pack") != NULL || strstr(arg, "receive-pack") != NULL;
        ours |= util_has_prefix(arg, prefix);
    }
    return pack && ours;
}

static int kill_stale_git(const char *repos_dir)
{
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/", repos_dir);
    DIR *d = opendir("/proc");
    pid_t pids[256];
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 256)
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && stale_git(e->d_name, prefix))
            pids[n++] = (pid_t)atoi(e->d_name);
    if (d)
        closedir(d);
    for (int i = 0; i < n; i++) {
        log_warn("git", "ending git process %d left by an earlier daemon", (int)pids[i]);
        kill(pids[i], SIGKILL);
    }
    /* they are not ours to reap: wait (briefly) until they are gone */
    for (int tries = 0; tries < 100; tries++) {
        bool alive = false;
        for (int i = 0; i < n; i++)
            alive |= kill(pids[i], 0) == 0;
        if (!alive)
            break;
        usleep(10000);
    }
    return n;
}

static int removed_locks;

static int lock_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t len = strlen(path);
    if (flag != FTW_F || len < 5 || strcmp(path + len - 5, ".lock") != 0)
        return 0;
    const char *base = path + ftw->base;
    bool ref = strstr(path, ".git/refs/") != NULL;
    if (ref || strcmp(base, "packed-refs.lock") == 0 || strcmp(base, "HEAD.lock") == 0 ||
        strcmp(base, "config.lock") == 0) {
        if (unlink(path) == 0) {
            log_warn("git", "removed %s, left by an interrupted write", path);
            removed_locks++;
        } else {
            log_error("git", "cannot remove the stale lock %s: %s", path, strerror(errno));
        }
    }
    return 0;
}

int repo_recover(const char *repos_dir)
{
    struct stat st;
    if (stat(repos_dir, &st) < 0)
        return 0; /* no repository yet */
    kill_stale_git(repos_dir);
    removed_locks = 0;
    if (nftw(repos_dir, lock_cb, 32, FTW_PHYS) < 0)
        log_error("git", "cannot look for stale locks in %s: %s", repos_dir, strerror(errno));
    return removed_locks;
}
