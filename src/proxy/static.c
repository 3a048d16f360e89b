/* Static spaces, served by Hangar from a commit of the space's repository.
 *
 * Files are read with libgit2 on libuv's thread pool (the loop never waits on
 * the disk), one repository handle per read. A path is percent-decoded, then
 * refused if it holds "..", a backslash or a NUL, then looked up inside the
 * commit's tree: nothing outside the space can be named. Symbolic links and
 * submodules are not served. The ETag is the blob's id, so it changes exactly
 * when the content does. */
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "lib/log.h"
#include "lib/mime.h"
#include "lib/util.h"
#include "proxy/proxy.h"

#define STATIC_PATH_MAX 1024

typedef enum {
    FOUND,       /* a file: data, size, etag */
    NOT_FOUND,   /* no such file */
    NO_APP_FILE, /* "/" asked and the app file is missing (or the repo is empty) */
    REDIRECT,    /* a directory asked without its final slash */
    FAILED       /* the repository could not be read */
} lookup_result;

typedef struct static_job {
    uv_work_t work;
    http_request *req; /* NULL once the client is gone */
    metrics_space *metrics;
    uint64_t start_ns;
    bool queued;
    bool is_root;
    bool dir_slash; /* the URL path ended with '/' */
    char repo[4200];
    char sha[41];
    char path[STATIC_PATH_MAX]; /* inside the tree, no leading slash */
    http_header *headers;
    size_t nheaders;
    /* results, written by the worker */
    lookup_result result;
    char etag[48];
    char *data;
    size_t size;
} static_job;

/* ---- paths -------------------------------------------------------------------- */

/* Turns the URL path into a path inside the tree: decoded, "." and empty
 * segments dropped. -1 when it holds "..", a backslash, a NUL or a bad escape. */
static int tree_path(const char *url_path, char *out, size_t size)
{
    char decoded[STATIC_PATH_MAX];
    if (strlen(url_path) >= sizeof decoded)
        return -1;
    memcpy(decoded, url_path, strlen(url_path) + 1);
    if (util_percent_decode(decoded) < 0 || strchr(decoded, '\\'))
        return -1;
    size_t len = 0;
    out[0] = '\0';
    for (char *save = NULL, *seg = strtok_r(decoded, "/", &save); seg;
         seg = strtok_r(NULL, "/", &save)) {
        if (strcmp(seg, ".") == 0)
            continue;
        if (strcmp(seg, "..") == 0)
            return -1;
        size_t slen = strlen(seg);
        if (len + slen + 2 > size)
            return -1;
        if (len)
            out[len++] = '/';
        memcpy(out + len, seg, slen + 1);
        len += slen;
    }
    return 0;
}

/* ---- reading the tree (on the thread pool) --------------------------------------- */

static lookup_result read_entry(git_repository *repo, git_tree *tree, static_job *job)
{
    git_tree_entry *entry = NULL;
    if (git_tree_entry_bypath(&entry, tree, job->path) < 0)
        return NOT_FOUND;
    lookup_result result = NOT_FOUND;
    if (git_tree_entry_type(entry) == GIT_OBJECT_TREE) {
        size_t len = strlen(job->path);
        if (!job->dir_slash && !job->is_root) {
            result = REDIRECT;
        } else if (len + sizeof "/index.html" <= sizeof job->path) {
            memcpy(job->path + len, "/index.html", sizeof "/index.html");
            git_tree_entry_free(entry);
            return read_entry(repo, tree, job);
        }
    } else if (git_tree_entry_type(entry) == GIT_OBJECT_BLOB &&
               git_tree_entry_filemode(entry) != GIT_FILEMODE_LINK) {
        git_blob *blob = NULL;
        if (git_blob_lookup(&blob, repo, git_tree_entry_id(entry)) == 0) {
            job->size = (size_t)git_blob_rawsize(blob);
            job->data = malloc(job->size ? job->size : 1);
            if (job->data) {
                memcpy(job->data, git_blob_rawcontent(blob), job->size);
                job->etag[0] = '"';
                git_oid_tostr(job->etag + 1, GIT_OID_HEXSZ + 1, git_tree_entry_id(entry));
                strcat(job->etag, "\"");
                result = FOUND;
            } else {
                result = FAILED;
            }
            git_blob_free(blob);
        } else {
            result = FAILED;
        }
    }
    git_tree_entry_free(entry);
    return result;
}

static lookup_result lookup(static_job *job)
{
    if (!job->sha[0])
        return NO_APP_FILE;
    git_repository *repo = NULL;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_oid oid;
    lookup_result result = FAILED;
    if (git_repository_open_bare(&repo, job->repo) < 0 || git_oid_fromstr(&oid, job->sha) < 0 ||
        git_commit_lookup(&commit, repo, &oid) < 0 || git_commit_tree(&tree, commit) < 0) {
        const git_error *e = git_error_last();
        log_error("static", "cannot read commit %s of %s: %s", job->sha, job->repo,
                  e ? e->message : "unknown error");
        goto done;
    }
    result = read_entry(repo, tree, job);
    if (result == NOT_FOUND && job->is_root)
        result = NO_APP_FILE;
done:
    git_tree_free(tree);
    git_commit_free(commit);
    git_repository_free(repo);
    return result;
}

static void work_lookup(uv_work_t *w)
{
    static_job *job = w->data;
    job->result = lookup(job);
}

/* ---- answering (on the loop) ------------------------------------------------------- */

static void job_free(static_job *job)
{
    for (size_t i = 0; i < job->nheaders; i++) {
        free(job->headers[i].name);
        free(job->headers[i].value);
    }
    free(job->headers);
    free(job->data);
    free(job);
}

/* Whether If-None-Match lists etag (weak comparison, "*" matches any). */
static bool etag_listed(const char *list, const char *etag)
{
    size_t elen = strlen(etag);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, elen) == 0)
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

/* Parses a single "bytes=a-b" range against size. 1: a satisfiable range in
 * *first..*last; 0: no usable Range (serve it all); -1: unsatisfiable. */
static int parse_range(const char *range, size_t size, size_t *first, size_t *last)
{
    if (strncmp(range, "bytes=", 6) != 0 || strchr(range, ','))
        return 0; /* other units, or several ranges: RFC 9110 lets us ignore it */
    const char *spec = range + 6;
    const char *dash = strchr(spec, '-');
    if (!dash)
        return 0;
    char a[24] = "", b[24] = "";
    size_t alen = (size_t)(dash - spec), blen = strlen(dash + 1);
    if (alen >= sizeof a || blen >= sizeof b || (alen == 0 && blen == 0))
        return 0;
    memcpy(a, spec, alen);
    memcpy(b, dash + 1, blen + 1);
    long long from = 0, to = 0;
    if (alen && util_parse_int(a, 0, INT64_MAX, &from) < 0)
        return 0;
    if (blen && util_parse_int(b, 0, INT64_MAX, &to) < 0)
        return 0;
    if (!alen) { /* the last "to" bytes */
        if (to == 0 || size == 0)
            return -1;
        *first = (size_t)to >= size ? 0 : size - (size_t)to;
        *last = size - 1;
        return 1;
    }
    if (blen && to < from)
        return 0;
    if ((size_t)from >= size)
        return -1;
    *first = (size_t)from;
    *last = !blen || (size_t)to >= size ? size - 1 : (size_t)to;
    return 1;
}

static void send_common_headers(http_request *req, const static_job *job)
{
    for (size_t i = 0; i < job->nheaders; i++)
        http_resp_header(req, job->headers[i].name, job->headers[i].value);
}

static int send_file(http_request *req, static_job *job)
{
    http_resp_header(req, "ETag", job->etag);
    http_resp_header(req, "Accept-Ranges", "bytes");
    http_resp_header(req, "Cache-Control", "no-cache"); /* revalidate: the ETag makes it cheap */
    const char *inm = http_header_get(req, "If-None-Match");
    if (inm && etag_listed(inm, job->etag)) {
        http_resp_begin(req, 304, -1);
        http_resp_end(req);
        return 304;
    }
    http_resp_header(req, "Content-Type", mime_type(job->path));
    const char *range = http_header_get(req, "Range");
    const char *if_range = http_header_get(req, "If-Range");
    size_t first = 0, last = 0;
    int r = range && (!if_range || strcmp(if_range, job->etag) == 0)
                ? parse_range(range, job->size, &first, &last)
                : 0;
    if (r < 0) {
        http_resp_headerf(req, "Content-Range", "bytes */%zu", job->size);
        http_respond(req, 416, NULL, "", 0);
        return 416;
    }
    if (r > 0) {
        http_resp_headerf(req, "Content-Range", "bytes %zu-%zu/%zu", first, last, job->size);
        http_respond(req, 206, NULL, job->data + first, last - first + 1);
        return 206;
    }
    http_respond(req, 200, NULL, job->data, job->size);
    return 200;
}

static int send_redirect(http_request *req)
{
    char location[STATIC_PATH_MAX + 512];
    snprintf(location, sizeof location, "%s/%s%s", req->path, req->query ? "?" : "",
             req->query ? req->query : "");
    http_resp_header(req, "Location", location);
    proxy_page(req, 301, "Moved Permanently", "This is a directory.", NULL);
    return 301;
}

static void after_lookup(uv_work_t *w, int status)
{
    static_job *job = w->data;
    http_request *req = job->req;
    if (!req) {
        job_free(job);
        return;
    }
    req->on_abort = NULL;
    req->ctx = NULL;
    send_common_headers(req, job);
    int code;
    switch (status < 0 ? FAILED : job->result) {
    case FOUND:
        code = send_file(req, job);
        break;
    case REDIRECT:
        code = send_redirect(req);
        break;
    case NO_APP_FILE:
        code = 404;
        proxy_page(req, 404, "No app file",
                   "This static space has no app file yet: push an index.html "
                   "(or the app_file its README names).",
                   NULL);
        break;
    case NOT_FOUND:
        code = 404;
        proxy_page(req, 404, "Not Found", "There is no such file in this space.", NULL);
        break;
    default:
        code = 500;
        proxy_page(req, 500, "Internal Server Error", "The space could not be read.", NULL);
    }
    metrics_request(job->metrics, code, (double)(uv_hrtime() - job->start_ns) / 1e9);
    job_free(job);
}

static void on_request_complete(http_request *req)
{
    static_job *job = req->ctx;
    job->work.data = job;
    int rc = uv_queue_work(app_of(req)->loop, &job->work, work_lookup, after_lookup);
    if (rc < 0) {
        req->on_abort = NULL;
        req->ctx = NULL;
        proxy_page(req, 500, "Internal Server Error", "The space could not be read.", NULL);
        job_free(job);
        return;
    }
    job->queued = true;
}

static void on_request_abort(http_request *req)
{
    static_job *job = req->ctx;
    if (job->queued)
        job->req = NULL; /* after_lookup frees it */
    else
        job_free(job);
}

static bool copy_headers(static_job *job, const proxy_settings *settings)
{
    if (!settings || settings->nheaders == 0)
        return true;
    job->headers = calloc(settings->nheaders, sizeof *job->headers);
    if (!job->headers)
        return false;
    for (size_t i = 0; i < settings->nheaders; i++, job->nheaders++) {
        job->headers[i].name = strdup(settings->headers[i].name);
        job->headers[i].value = strdup(settings->headers[i].value);
        if (!job->headers[i].name || !job->headers[i].value) {
            job->nheaders++;
            return false;
        }
    }
    return true;
}

/* Fills the job's tree path from the URL (the app file for "/"); false when
 * the URL names something outside the tree. */
static bool job_path(static_job *job, const http_request *req, const proxy_settings *settings)
{
    if (tree_path(req->path, job->path, sizeof job->path) < 0)
        return false;
    size_t len = strlen(req->path);
    job->dir_slash = len > 0 && req->path[len - 1] == '/';
    if (job->path[0])
        return true;
    job->is_root = true;
    const char *app_file = settings && settings->app_file ? settings->app_file : "index.html";
    return tree_path(app_file, job->path, sizeof job->path) == 0 && job->path[0];
}

void proxy_static_serve(http_request *req, const char *repo_path, const char *sha,
                        const proxy_settings *settings, metrics_space *metrics)
{
    uint64_t start_ns = uv_hrtime();
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        http_resp_header(req, "Allow", "GET, HEAD");
        proxy_page(req, 405, "Method Not Allowed", "A static space only serves files.", NULL);
        metrics_request(metrics, 405, 0);
        return;
    }
    static_job *job = calloc(1, sizeof *job);
    if (!job || !copy_headers(job, settings)) {
        if (job)
            job_free(job);
        proxy_page(req, 503, "Service Unavailable", "Out of memory.", NULL);
        return;
    }
    if (!job_path(job, req, settings)) {
        job_free(job);
        proxy_page(req, 400, "Bad Request", "This path cannot name a file of the space.", NULL);
        metrics_request(metrics, 400, 0);
        return;
    }
    job->req = req;
    job->metrics = metrics;
    job->start_ns = start_ns;
    snprintf(job->repo, sizeof job->repo, "%s", repo_path);
    snprintf(job->sha, sizeof job->sha, "%s", sha);
    req->ctx = job;
    req->on_complete = on_request_complete;
    req->on_abort = on_request_abort;
}
