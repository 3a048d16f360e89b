#include "space/hubcache.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/util.h"
#include "space/space.h"

#define HUBCACHE_PATH 8192

void hubcache_dir(const char *data_dir, char *out, size_t size)
{
    snprintf(out, size, "%s/cache/hub", data_dir);
}

int hubcache_parse(const char *text, hubcache_repo *repo, char *err, size_t errsize)
{
    static const struct {
        const char *prefix, *type, *api;
    } kinds[] = {{"datasets/", "datasets", "datasets"}, {"spaces/", "spaces", "spaces"}};
    char owner[SPACE_NAME_MAX + 1], name[SPACE_NAME_MAX + 1];
    const char *type = "models";
    memset(repo, 0, sizeof *repo);
    repo->api = "models";
    repo->url_prefix = "";
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (util_has_prefix(text, kinds[i].prefix)) {
            text += strlen(kinds[i].prefix);
            type = kinds[i].type;
            repo->api = kinds[i].api;
            repo->url_prefix = kinds[i].prefix;
        }
    bool ok = strchr(text, '/') ? space_id_split(text, owner, name) : space_name_valid(text);
    if (!ok || strlen(text) >= sizeof repo->id) {
        snprintf(err, errsize, "'%s' is not a repository id (OWNER/NAME)", text);
        return -1;
    }
    snprintf(repo->id, sizeof repo->id, "%s", text);
    /* huggingface_hub's folder name: <type>--<id with '/' as "--"> */
    int n = snprintf(repo->folder, sizeof repo->folder, "%s--", type);
    for (const char *p = text; *p && n < (int)sizeof repo->folder - 3; p++) {
        if (*p == '/')
            n += snprintf(repo->folder + n, sizeof repo->folder - n, "--");
        else
            repo->folder[n++] = *p;
    }
    repo->folder[n] = '\0';
    return 0;
}

static bool is_commit(const char *rev)
{
    return strlen(rev) == 40 && strspn(rev, "0123456789abcdef") == 40;
}

/* A revision is a ref file name: a branch or tag without "..", empty parts,
 * or characters beyond git's usual ones. */
static bool revision_valid(const char *rev)
{
    const char *ok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/";
    return *rev && strlen(rev) < 200 && strspn(rev, ok) == strlen(rev) && !strstr(rev, "..") &&
           !strstr(rev, "//") && rev[0] != '/' && rev[strlen(rev) - 1] != '/';
}

/* A relative path inside a repository: no "..", ".", empty parts or "/" ends. */
static bool repo_path_valid(const char *path)
{
    if (!*path || path[0] == '/' || strlen(path) > 1000 || path[strlen(path) - 1] == '/')
        return false;
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n + (p[n] == '/');
    }
    return strchr(path, '\n') == NULL && strchr(path, '\\') == NULL;
}

/* mkdir -p with world-readable directories: spaces run under their own uids */
static int mkdirs(const char *dir, char *err, size_t errsize)
{
    if (util_mkdir_p(dir, 0755) < 0) {
        snprintf(err, errsize, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static void random_name(char *out, size_t size, const char *prefix)
{
    unsigned char raw[8];
    char hex[17];
    randombytes_buf(raw, sizeof raw);
    util_hex(raw, sizeof raw, hex);
    snprintf(out, size, "%s%s", prefix, hex);
}

/* Writes text to path through a temporary file and a rename. */
static int write_atomic(const char *path, const char *text, char *err, size_t errsize)
{
    char tmp[HUBCACHE_PATH + 32];
    random_name(tmp, sizeof tmp, "");
    char full[HUBCACHE_PATH + 64];
    snprintf(full, sizeof full, "%s.tmp-%s", path, tmp);
    int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fchmod(fd, 0644) < 0 || close(fd) < 0 ||
        rename(full, path) < 0) {
        snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            unlink(full);
        return -1;
    }
    return 0;
}

/* The commit that revision names in the cache folder, "" when unknown. */
static void read_ref(const char *folder, const char *revision, char commit[41])
{
    char path[HUBCACHE_PATH];
    commit[0] = '\0';
    if (is_commit(revision)) {
        snprintf(commit, 41, "%s", revision);
        return;
    }
    snprintf(path, sizeof path, "%s/refs/%s", folder, revision);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[64] = "";
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n ")] = '\0';
        if (is_commit(line))
            snprintf(commit, 41, "%s", line);
    }
    fclose(f);
}

static int write_ref(const char *folder, const char *revision, const char *commit, char *err,
                     size_t errsize)
{
    char path[HUBCACHE_PATH], dir[HUBCACHE_PATH];
    if (is_commit(revision))
        return 0;
    snprintf(path, sizeof path, "%s/refs/%s", folder, revision);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    if (mkdirs(dir, err, errsize) < 0)
        return -1;
    return write_atomic(path, commit, err, errsize);
}

/* snapshots/<commit>/<path> -> ../../[..]/blobs/<sha256>, replacing any link. */
static int link_snapshot(const char *folder, const char *commit, const char *path, const char *sha,
                         char *err, size_t errsize)
{
    char link[HUBCACHE_PATH], dir[HUBCACHE_PATH], target[HUBCACHE_PATH], tmp[HUBCACHE_PATH + 64];
    snprintf(link, sizeof link, "%s/snapshots/%s/%s", folder, commit, path);
    snprintf(dir, sizeof dir, "%s", link);
    *strrchr(dir, '/') = '\0';
    if (mkdirs(dir, err, errsize) < 0)
        return -1;
    size_t n = 0, depth = 2; /* snapshots/<commit>/ */
    for (const char *p = path; *p; p++)
        depth += *p == '/';
    for (size_t i = 0; i < depth; i++)
        n += snprintf(target + n, sizeof target - n, "../");
    snprintf(target + n, sizeof target - n, "blobs/%s", sha);
    char rnd[32];
    random_name(rnd, sizeof rnd, ".tmp-");
    snprintf(tmp, sizeof tmp, "%s%s", link, rnd);
    if (symlink(target, tmp) < 0 || rename(tmp, link) < 0) {
        snprintf(err, errsize, "cannot link %s: %s", link, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* A blob being written: a temporary file in blobs/ and its running sha256. */
typedef struct blob_writer {
    int fd;
    char tmp[HUBCACHE_PATH + 64];
    char blobs[HUBCACHE_PATH];
    crypto_hash_sha256_state sha;
    unsigned long long size;
} blob_writer;

static int blob_open(blob_writer *w, const char *folder, char *err, size_t errsize)
{
    char rnd[32];
    snprintf(w->blobs, sizeof w->blobs, "%s/blobs", folder);
    if (mkdirs(w->blobs, err, errsize) < 0)
        return -1;
    random_name(rnd, sizeof rnd, ".tmp-");
    snprintf(w->tmp, sizeof w->tmp, "%s/%s", w->blobs, rnd);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        snprintf(err, errsize, "cannot create %s: %s", w->tmp, strerror(errno));
        return -1;
    }
    crypto_hash_sha256_init(&w->sha);
    w->size = 0;
    return 0;
}

static int blob_write(blob_writer *w, const void *data, size_t len)
{
    crypto_hash_sha256_update(&w->sha, data, len);
    w->size += len;
    for (size_t off = 0; off < len;) {
        ssize_t n = write(w->fd, (const char *)data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* Completes the blob (or drops it when ok is false); its sha256 in sha. */
static int blob_close(blob_writer *w, bool ok, char sha[65], char *err, size_t errsize)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    char path[HUBCACHE_PATH + 80];
    crypto_hash_sha256_final(&w->sha, digest);
    util_hex(digest, sizeof digest, sha);
    snprintf(path, sizeof path, "%s/%s", w->blobs, sha);
    if (ok && (fchmod(w->fd, 0644) < 0 || fsync(w->fd) < 0)) {
        snprintf(err, errsize, "cannot write %s: %s", w->tmp, strerror(errno));
        ok = false;
    }
    close(w->fd);
    if (ok && rename(w->tmp, path) < 0) {
        snprintf(err, errsize, "cannot rename %s: %s", w->tmp, strerror(errno));
        ok = false;
    }
    if (!ok)
        unlink(w->tmp);
    return ok ? 0 : -1;
}

/* The commit revision names in the cache, or a new random one (refs written). */
static int commit_for(const char *folder, const char *revision, char commit[41], char *err,
                      size_t errsize)
{
    read_ref(folder, revision, commit);
    if (commit[0])
        return 0;
    unsigned char raw[20];
    randombytes_buf(raw, sizeof raw);
    util_hex(raw, sizeof raw, commit);
    return write_ref(folder, revision, commit, err, errsize);
}

int hubcache_add_file(const char *cache, const hubcache_repo *repo, const char *revision,
                      const char *src, const char *path, char *err, size_t errsize)
{
    char folder[HUBCACHE_PATH], commit[41], sha[65], chunk[1 << 16];
    blob_writer w;
    if (!revision_valid(revision) || !repo_path_valid(path)) {
        snprintf(err, errsize, "bad revision '%s' or path '%s'", revision, path);
        return -1;
    }
    snprintf(folder, sizeof folder, "%s/%s", cache, repo->folder);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(err, errsize, "%s: %s", src, strerror(errno));
        return -1;
    }
    int rc = -1;
    if (commit_for(folder, revision, commit, err, errsize) < 0 ||
        blob_open(&w, folder, err, errsize) < 0)
        goto done;
    ssize_t n;
    bool ok = true;
    while (ok && ((n = read(in, chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR)))
        ok = n < 0 || blob_write(&w, chunk, (size_t)n) == 0;
    if (!ok || n < 0)
        snprintf(err, errsize, "copying %s: %s", src, strerror(errno));
    if (blob_close(&w, ok && n == 0, sha, err, errsize) < 0)
        goto done;
    rc = link_snapshot(folder, commit, path, sha, err, errsize);
done:
    close(in);
    return rc;
}

/* ---- fetching from a hub ------------------------------------------------- */

static size_t to_buf(char *data, size_t size, size_t n, void *arg)
{
    buf *b = arg;
    if (b->len + size * n > (8u << 20)) /* a repository listing, not a file */
        return 0;
    buf_append(b, data, size * n);
    return size * n;
}

static size_t to_blob(char *data, size_t size, size_t n, void *arg)
{
    return blob_write(arg, data, size * n) == 0 ? size * n : 0;
}

/* One GET with HF's headers into the writer fn; 0, or -1 with the HTTP status
 * or the transfer error in err. */
static int http_get(const char *url, const char *token, curl_write_callback fn, void *arg,
                    char *err, size_t errsize)
{
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(err, errsize, "libcurl failed to start");
        return -1;
    }
    char auth[1024];
    struct curl_slist *headers = NULL;
    if (token && *token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "hangar/" HANGAR_VERSION);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L); /* HF answers LFS files with a CDN URL */
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 15L);
    /* a stalled transfer fails instead of hanging a build: < 1 KB/s for 60 s */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fn);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, arg);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        snprintf(err, errsize, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
        return -1;
    }
    if (status != 200) {
        snprintf(err, errsize, "HTTP %ld", status);
        return -1;
    }
    return 0;
}

/* Percent-encodes a repository path for a URL, keeping its slashes. */
static void url_path(const char *path, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p && n + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p))
            out[n++] = (char)*p;
        else
            n += snprintf(out + n, size - n, "%%%02X", *p);
    }
    out[n] = '\0';
}

static int fetch_file(const char *folder, const char *endpoint, const char *token,
                      const hubcache_repo *repo, const char *commit, const char *path, char *err,
                      size_t errsize)
{
    char url[HUBCACHE_PATH], enc[4096], sha[65], link[HUBCACHE_PATH];
    struct stat st;
    if (!repo_path_valid(path)) {
        snprintf(err, errsize, "the hub listed a bad path '%s'", path);
        return -1;
    }
    snprintf(link, sizeof link, "%s/snapshots/%s/%s", folder, commit, path);
    if (stat(link, &st) == 0)
        return 0; /* cached already */
    url_path(path, enc, sizeof enc);
    snprintf(url, sizeof url, "%s/%s%s/resolve/%s/%s", endpoint, repo->url_prefix, repo->id, commit,
             enc);
    blob_writer w;
    if (blob_open(&w, folder, err, errsize) < 0)
        return -1;
    char why[512] = "";
    bool ok = http_get(url, token, to_blob, &w, why, sizeof why) == 0;
    if (blob_close(&w, ok, sha, err, errsize) < 0) {
        if (!ok)
            snprintf(err, errsize, "%s: %s", path, why);
        return -1;
    }
    return link_snapshot(folder, commit, path, sha, err, errsize);
}

int hubcache_fetch(const char *cache, const char *endpoint, const char *token,
                   const hubcache_repo *repo, const char *revision, const char *const *files,
                   char *err, size_t errsize)
{
    char folder[HUBCACHE_PATH], url[HUBCACHE_PATH], why[512], enc[512];
    if (!revision_valid(revision)) {
        snprintf(err, errsize, "bad revision '%s'", revision);
        return -1;
    }
    snprintf(folder, sizeof folder, "%s/%s", cache, repo->folder);
    url_path(revision, enc, sizeof enc);
    snprintf(url, sizeof url, "%s/api/%s/%s/revision/%s", endpoint, repo->api, repo->id, enc);
    buf body;
    buf_init(&body);
    json_t *info = NULL;
    int rc = -1;
    if (http_get(url, token, to_buf, &body, why, sizeof why) < 0) {
        snprintf(err, errsize, "%s: %s", url, why);
        goto done;
    }
    info = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    const char *commit = json_string_value(json_object_get(info, "sha"));
    json_t *siblings = json_object_get(info, "siblings");
    if (!commit || !is_commit(commit) || !json_is_array(siblings)) {
        snprintf(err, errsize, "%s: not a repository revision (no sha and siblings)", url);
        goto done;
    }
    if (files) {
        for (size_t i = 0; files[i]; i++)
            if (fetch_file(folder, endpoint, token, repo, commit, files[i], err, errsize) < 0)
                goto done;
    } else {
        size_t i;
        json_t *s;
        json_array_foreach(siblings, i, s)
        {
            const char *path = json_string_value(json_object_get(s, "rfilename"));
            if (path && fetch_file(folder, endpoint, token, repo, commit, path, err, errsize) < 0)
                goto done;
        }
    }
    rc = write_ref(folder, revision, commit, err, errsize);
done:
    json_decref(info);
    buf_free(&body);
    return rc;
}

bool hubcache_has(const char *cache, const hubcache_repo *repo, const char *revision,
                  const char *const *files)
{
    char folder[HUBCACHE_PATH], commit[41], path[HUBCACHE_PATH];
    struct stat st;
    if (!revision_valid(revision))
        return false;
    snprintf(folder, sizeof folder, "%s/%s", cache, repo->folder);
    read_ref(folder, revision, commit);
    if (!commit[0])
        return false;
    snprintf(path, sizeof path, "%s/snapshots/%s", folder, commit);
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return false;
    for (size_t i = 0; files && files[i]; i++) {
        snprintf(path, sizeof path, "%s/snapshots/%s/%s", folder, commit, files[i]);
        if (!repo_path_valid(files[i]) || stat(path, &st) < 0)
            return false;
    }
    return true;
}

/* ---- listing and removal ------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int hubcache_remove(const char *cache, const hubcache_repo *repo, char *err, size_t errsize)
{
    char folder[HUBCACHE_PATH], aside[HUBCACHE_PATH + 64], rnd[32];
    snprintf(folder, sizeof folder, "%s/%s", cache, repo->folder);
    /* renamed aside first: readers never see a half-removed snapshot */
    random_name(rnd, sizeof rnd, ".removing-");
    snprintf(aside, sizeof aside, "%s/%s", cache, rnd);
    if (rename(folder, aside) < 0) {
        snprintf(err, errsize, "%s: %s", repo->id,
                 errno == ENOENT ? "not cached" : strerror(errno));
        return -1;
    }
    if (nftw(aside, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0) {
        snprintf(err, errsize, "cannot remove %s: %s", aside, strerror(errno));
        return -1;
    }
    return 0;
}

static unsigned long long blobs_size(const char *folder)
{
    char dir[HUBCACHE_PATH], path[HUBCACHE_PATH + 300];
    unsigned long long total = 0;
    snprintf(dir, sizeof dir, "%s/blobs", folder);
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    while (d && (e = readdir(d))) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            total += (unsigned long long)st.st_size;
    }
    if (d)
        closedir(d);
    return total;
}

/* "name=commit12 ..." of the refs directly under refs/ (branches like main) */
static void refs_text(const char *folder, char *out, size_t size)
{
    char dir[HUBCACHE_PATH];
    size_t n = 0;
    out[0] = '\0';
    snprintf(dir, sizeof dir, "%s/refs", folder);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char commit[41];
        if (e->d_name[0] == '.')
            continue;
        read_ref(folder, e->d_name, commit);
        if (commit[0] && n < size)
            n += snprintf(out + n, size - n, "%s%s=%.12s", n ? " " : "", e->d_name, commit);
    }
    if (d)
        closedir(d);
}

int hubcache_list(const char *cache,
                  void (*fn)(const char *repo, const char *refs, unsigned long long bytes,
                             void *arg),
                  void *arg)
{
    DIR *d = opendir(cache);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    int count = 0;
    while ((e = readdir(d))) {
        static const char *const types[] = {"models--", "datasets--", "spaces--"};
        char folder[HUBCACHE_PATH], id[HUBCACHE_REPO_MAX + 16], refs[1024];
        size_t t = 0;
        while (t < 3 && !util_has_prefix(e->d_name, types[t]))
            t++;
        if (t == 3)
            continue;
        /* back from the folder name: models--o--n -> o/n, spaces--o--n -> spaces/o/n */
        size_t n = 0;
        if (t > 0)
            n = (size_t)snprintf(id, sizeof id, "%s", t == 1 ? "datasets/" : "spaces/");
        for (const char *p = e->d_name + strlen(types[t]); *p && n + 2 < sizeof id; p++) {
            if (p[0] == '-' && p[1] == '-') {
                id[n++] = '/';
                p++;
            } else {
                id[n++] = *p;
            }
        }
        id[n] = '\0';
        snprintf(folder, sizeof folder, "%s/%s", cache, e->d_name);
        refs_text(folder, refs, sizeof refs);
        fn(id, refs, blobs_size(folder), arg);
        count++;
    }
    closedir(d);
    return count;
}
