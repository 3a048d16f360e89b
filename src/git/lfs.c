#include "git/lfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define LFS_POINTER_VERSION "version https://git-lfs.github.com/spec/v1\n"
#define LFS_COPY_CHUNK (1024 * 1024)
/* Leftovers of uploads cut short by a crash are removed after this. */
#define LFS_TMP_MAX_AGE_S (24 * 3600)

/* ---- names ------------------------------------------------------------------ */

bool lfs_oid_valid(const char *oid)
{
    if (!oid || strlen(oid) != LFS_OID_LEN)
        return false;
    for (const char *p = oid; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

void lfs_object_path(const char *data_dir, const char *oid, char *out, size_t size)
{
    snprintf(out, size, "%s/lfs/objects/%.2s/%.2s/%s", data_dir, oid, oid + 2, oid);
}

int lfs_object_stat(const char *data_dir, const char *oid, int64_t *size)
{
    char path[LFS_PATH_MAX];
    struct stat st;
    lfs_object_path(data_dir, oid, path, sizeof path);
    if (stat(path, &st) < 0) {
        if (errno == ENOENT)
            return 1;
        log_error("lfs", "cannot stat %s: %s", path, strerror(errno));
        return -1;
    }
    *size = (int64_t)st.st_size;
    return 0;
}

void lfs_object_touch(const char *data_dir, const char *oid)
{
    char path[LFS_PATH_MAX];
    lfs_object_path(data_dir, oid, path, sizeof path);
    (void)utimensat(AT_FDCWD, path, NULL, 0); /* a missing object needs no refresh */
}

/* ---- pointer files -------------------------------------------------------------- */

int lfs_pointer_parse(const char *data, size_t len, char oid[LFS_OID_LEN + 1], int64_t *size)
{
    static const char ver[] = LFS_POINTER_VERSION;
    static const char oid_key[] = "oid sha256:";
    size_t vlen = sizeof ver - 1, klen = sizeof oid_key - 1;
    if (len < LFS_POINTER_MIN || len > LFS_POINTER_MAX || memcmp(data, ver, vlen) != 0)
        return -1;
    const char *p = data + vlen, *end = data + len;
    /* Keys are sorted: oid, then size; git-lfs writes nothing else. */
    if ((size_t)(end - p) < klen + LFS_OID_LEN + 1 || memcmp(p, oid_key, klen) != 0)
        return -1;
    p += klen;
    memcpy(oid, p, LFS_OID_LEN);
    oid[LFS_OID_LEN] = '\0';
    p += LFS_OID_LEN;
    if (!lfs_oid_valid(oid) || *p++ != '\n' || end - p < 7 || memcmp(p, "size ", 5) != 0)
        return -1;
    p += 5;
    int64_t n = 0;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9' && p - digits < 18)
        n = n * 10 + (*p++ - '0');
    if (p == digits || p + 1 != end || *p != '\n')
        return -1;
    *size = n;
    return 0;
}

int lfs_pointer_format(const char *oid, int64_t size, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, LFS_POINTER_VERSION "oid sha256:%s\nsize %lld\n", oid,
                     (long long)size);
    return n < 0 || (size_t)n >= out_size ? -1 : n;
}

/* ---- receiving an object ----------------------------------------------------------- */

int lfs_writer_open(lfs_writer *w, const char *data_dir, const char *oid, int64_t size)
{
    char dir[LFS_PATH_MAX], rnd[17];
    unsigned char bytes[8];
    memset(w, 0, sizeof *w);
    w->fd = -1;
    snprintf(w->oid, sizeof w->oid, "%s", oid);
    w->size = size;
    lfs_object_path(data_dir, oid, w->dest, sizeof w->dest);
    snprintf(dir, sizeof dir, "%s/lfs/tmp", data_dir);
    if (util_mkdir_p(dir, 0700) < 0) {
        log_error("lfs", "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    /* Two uploads of the same object may run at once: each gets its own file. */
    randombytes_buf(bytes, sizeof bytes);
    util_hex(bytes, sizeof bytes, rnd);
    snprintf(w->tmp, sizeof w->tmp, "%s/%s.%s", dir, oid, rnd);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        w->error = errno;
        log_error("lfs", "cannot create %s: %s", w->tmp, strerror(errno));
        return -1;
    }
    crypto_hash_sha256_init(&w->hash);
    return 0;
}

int lfs_writer_write(lfs_writer *w, const void *data, size_t len)
{
    if (w->fd < 0 || w->written + (int64_t)len > w->size)
        return -1;
    crypto_hash_sha256_update(&w->hash, data, len);
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            w->error = errno;
            log_error("lfs", "cannot write %s: %s", w->tmp, strerror(errno));
            return -1;
        }
        p += n;
        len -= (size_t)n;
        w->written += n;
    }
    return 0;
}

/* Makes the object durable and read-only, then gives it its name. */
static int writer_commit(lfs_writer *w)
{
    char dir[LFS_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", w->dest);
    *strrchr(dir, '/') = '\0';
    if (fchmod(w->fd, 0444) < 0 || fsync(w->fd) < 0 || util_mkdir_p(dir, 0755) < 0 ||
        rename(w->tmp, w->dest) < 0) {
        w->error = errno;
        log_error("lfs", "cannot store object %s: %s", w->oid, strerror(errno));
        return -1;
    }
    w->tmp[0] = '\0';
    return 0;
}

int lfs_writer_finish(lfs_writer *w, char *err, size_t err_size)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    char hex[LFS_OID_LEN + 1];
    int rc = 1;
    crypto_hash_sha256_final(&w->hash, digest);
    util_hex(digest, sizeof digest, hex);
    if (w->written != w->size)
        snprintf(err, err_size, "Object %s has %lld bytes, not the %lld announced", w->oid,
                 (long long)w->written, (long long)w->size);
    else if (strcmp(hex, w->oid) != 0)
        snprintf(err, err_size, "Object content has sha256 %s, not %s", hex, w->oid);
    else
        rc = writer_commit(w);
    if (rc < 0)
        snprintf(err, err_size, "Could not store object %s", w->oid);
    lfs_writer_abort(w);
    return rc;
}

bool lfs_writer_no_space(const lfs_writer *w)
{
    return w->error == ENOSPC || w->error == EDQUOT;
}

void lfs_writer_abort(lfs_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    if (w->tmp[0] && unlink(w->tmp) < 0 && errno != ENOENT)
        log_warn("lfs", "cannot remove %s: %s", w->tmp, strerror(errno));
    w->tmp[0] = '\0';
}

/* ---- checkouts ------------------------------------------------------------------------ */

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int rc = in < 0 || out < 0 ? -1 : 0;
    char *chunk = rc == 0 ? malloc(LFS_COPY_CHUNK) : NULL;
    ssize_t n = 0;
    while (chunk && (n = read(in, chunk, LFS_COPY_CHUNK)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t m = write(out, chunk + off, (size_t)(n - off));
            if (m < 0) {
                n = -1;
                break;
            }
            off += m;
        }
        if (n < 0)
            break;
    }
    if (!chunk || n < 0)
        rc = -1;
    free(chunk);
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

int lfs_object_materialize(const char *data_dir, const char *oid, const char *path)
{
    char obj[LFS_PATH_MAX];
    lfs_object_path(data_dir, oid, obj, sizeof obj);
    if (access(obj, F_OK) < 0)
        return errno == ENOENT ? 1 : -1;
    (void)unlink(path);
    if (link(obj, path) == 0)
        return 0;
    /* Another file system (or one without hard links): the app gets a copy. */
    if (errno != EXDEV && errno != EPERM && errno != EMLINK)
        return -1;
    return copy_file(obj, path);
}

/* ---- garbage collection ------------------------------------------------------------------ */

typedef struct gc_walk {
    git_repository *repo;
    git_odb *odb;
    json_t *seen;       /* trees and blobs already looked at, by sha */
    json_t *referenced; /* LFS oids in use */
    int failed;
} gc_walk;

/* Marks sha as seen; true when it was already. */
static bool gc_seen(gc_walk *w, const git_oid *id)
{
    char sha[GIT_OID_HEXSZ + 1];
    git_oid_tostr(sha, sizeof sha, id);
    if (json_object_get(w->seen, sha))
        return true;
    json_object_set_new(w->seen, sha, json_true());
    return false;
}

static void gc_blob(gc_walk *w, const git_oid *id)
{
    size_t size = 0;
    git_object_t type;
    git_odb_object *obj = NULL;
    char oid[LFS_OID_LEN + 1];
    int64_t n;
    if (git_odb_read_header(&size, &type, w->odb, id) < 0) {
        w->failed = 1;
        return;
    }
    if (size < LFS_POINTER_MIN || size > LFS_POINTER_MAX)
        return;
    if (git_odb_read(&obj, w->odb, id) < 0) {
        w->failed = 1;
        return;
    }
    if (lfs_pointer_parse(git_odb_object_data(obj), git_odb_object_size(obj), oid, &n) == 0)
        json_object_set_new(w->referenced, oid, json_true());
    git_odb_object_free(obj);
}

/* Trees shared between commits are walked once: the callback skips them. */
static int gc_tree_cb(const char *root, const git_tree_entry *te, void *payload)
{
    gc_walk *w = payload;
    (void)root;
    git_object_t type = git_tree_entry_type(te);
    if (type != GIT_OBJECT_TREE && type != GIT_OBJECT_BLOB)
        return 0;
    if (gc_seen(w, git_tree_entry_id(te)))
        return 1;
    if (type == GIT_OBJECT_BLOB)
        gc_blob(w, git_tree_entry_id(te));
    return 0;
}

static int gc_commit(gc_walk *w, const git_oid *id)
{
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    int rc = -1;
    if (git_commit_lookup(&commit, w->repo, id) < 0 || git_commit_tree(&tree, commit) < 0)
        goto done;
    rc = 0;
    if (!gc_seen(w, git_tree_id(tree)) && git_tree_walk(tree, GIT_TREEWALK_PRE, gc_tree_cb, w) < 0)
        rc = -1;
done:
    git_tree_free(tree);
    git_commit_free(commit);
    return rc < 0 || w->failed ? -1 : 0;
}

/* Adds the LFS oids referenced from every ref of one repository. */
static int gc_repo(const char *path, json_t *referenced)
{
    gc_walk w = {NULL, NULL, json_object(), referenced, 0};
    git_revwalk *walk = NULL;
    git_oid id;
    int rc = -1, next;
    if (git_repository_open_bare(&w.repo, path) < 0 || git_repository_odb(&w.odb, w.repo) < 0 ||
        git_revwalk_new(&walk, w.repo) < 0)
        goto done;
    /* "*" means every ref under refs/: branches, tags and anything else kept. */
    if (git_revwalk_push_glob(walk, "*") < 0)
        goto done;
    while ((next = git_revwalk_next(&id, walk)) == 0)
        if (gc_commit(&w, &id) < 0)
            goto done;
    rc = next == GIT_ITEROVER ? 0 : -1;
done:
    if (rc < 0) {
        const git_error *e = git_error_last();
        log_error("lfs", "gc: cannot read %s: %s", path, e && e->message ? e->message : "error");
    }
    git_revwalk_free(walk);
    git_odb_free(w.odb);
    git_repository_free(w.repo);
    json_decref(w.seen);
    return rc;
}

/* Calls fn for each entry of dir but "." and ".."; stops at the first error. */
static int each_entry(const char *dir, int (*fn)(const char *path, const char *name, void *arg),
                      void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    int rc = 0;
    char path[LFS_PATH_MAX];
    while (rc == 0 && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        rc = fn(path, de->d_name, arg);
    }
    closedir(d);
    return rc;
}

static int gc_repo_entry(const char *path, const char *name, void *arg)
{
    size_t n = strlen(name);
    if (n <= 4 || strcmp(name + n - 4, ".git") != 0)
        return 0;
    return gc_repo(path, arg);
}

static int gc_owner_entry(const char *path, const char *name, void *arg)
{
    (void)name;
    return each_entry(path, gc_repo_entry, arg);
}

typedef struct gc_sweep {
    json_t *referenced;
    time_t cutoff;
    lfs_gc_stats *stats;
} gc_sweep;

static int gc_object(const char *path, const char *name, void *arg)
{
    gc_sweep *s = arg;
    struct stat st;
    if (!lfs_oid_valid(name) || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return 0; /* not ours: leave it */
    if (json_object_get(s->referenced, name)) {
        s->stats->kept++;
        return 0;
    }
    if (st.st_mtime > s->cutoff) {
        s->stats->young++;
        s->stats->kept++;
        return 0;
    }
    if (unlink(path) < 0) {
        log_error("lfs", "gc: cannot remove %s: %s", path, strerror(errno));
        return 0;
    }
    log_info("lfs", "gc: removed unreferenced object %s (%lld bytes)", name, (long long)st.st_size);
    s->stats->removed++;
    s->stats->removed_bytes += st.st_size;
    return 0;
}

static int gc_subdir(const char *path, const char *name, void *arg)
{
    (void)name;
    return each_entry(path, gc_object, arg);
}

static int gc_fanout(const char *path, const char *name, void *arg)
{
    (void)name;
    return each_entry(path, gc_subdir, arg);
}

static int gc_tmp(const char *path, const char *name, void *arg)
{
    struct stat st;
    (void)name;
    (void)arg;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_mtime < time(NULL) - LFS_TMP_MAX_AGE_S)
        (void)unlink(path);
    return 0;
}

int lfs_gc(const char *data_dir, int64_t grace_s, lfs_gc_stats *stats)
{
    char dir[LFS_PATH_MAX];
    json_t *referenced = json_object();
    int rc = -1;
    memset(stats, 0, sizeof *stats);
    /* The grace period starts before the walk: an object stored while the
     * repositories are read is younger than the cutoff, whatever it is. */
    gc_sweep sweep = {referenced, time(NULL) - (time_t)grace_s, stats};
    snprintf(dir, sizeof dir, "%s/repos", data_dir);
    if (each_entry(dir, gc_owner_entry, referenced) < 0)
        goto done;
    stats->referenced = (long)json_object_size(referenced);
    snprintf(dir, sizeof dir, "%s/lfs/objects", data_dir);
    if (each_entry(dir, gc_fanout, &sweep) < 0) {
        log_error("lfs", "gc: cannot list %s: %s", dir, strerror(errno));
        goto done;
    }
    snprintf(dir, sizeof dir, "%s/lfs/tmp", data_dir);
    (void)each_entry(dir, gc_tmp, NULL);
    rc = 0;
done:
    json_decref(referenced);
    return rc;
}
