/* Downloads: GET and HEAD /spaces/<owner>/<name>/resolve/<rev>/<path> (and
 * /raw/), with the headers huggingface_hub needs (X-Repo-Commit, ETag,
 * Content-Length), single byte ranges, and conditional requests. A small
 * file's blob is read whole and streamed out in chunks that follow the
 * connection's backpressure; an LFS pointer file is answered with its object
 * (ETag: the sha256), read from disk a chunk at a time (api/lfsapi.h). */
#include "api/files.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/lfsapi.h"
#include "app/app.h"
#include "git/repo.h"
#include "lib/log.h"
#include "lib/mime.h"
#include "lib/util.h"
#include "router/router.h"

#define FILES_CHUNK (64 * 1024)
/* DATA/repos/<owner>/<name>.git, sized as spaces.c sizes it. */
#define FILES_REPO_PATH 4200

/* ---- shared with the read API --------------------------------------------- */

static char *decode_part(const char *start, size_t len)
{
    char *s = strndup(start, len);
    if (s && util_percent_decode(s) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* No git ref name holds one (git check-ref-format), and messages quote revs. */
static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

int files_split_rev(const char *raw_path, int skip, char **rev, char **file)
{
    *rev = *file = NULL;
    const char *p = raw_path[0] == '/' ? raw_path + 1 : raw_path;
    for (int i = 0; i < skip && p; i++) {
        p = strchr(p, '/');
        if (p)
            p++;
    }
    if (!p)
        p = "";
    const char *slash = strchr(p, '/');
    size_t rev_len = slash ? (size_t)(slash - p) : strlen(p);
    const char *rest = slash ? slash + 1 : "";
    *rev = decode_part(p, rev_len);
    *file = decode_part(rest, strlen(rest));
    if (!*rev || !*file || has_control(*rev)) {
        free(*rev);
        free(*file);
        *rev = *file = NULL;
        return -1;
    }
    return 0;
}

static bool names_main(const char *rev)
{
    return strcmp(rev, "main") == 0 || strcmp(rev, "HEAD") == 0 || strcmp(rev, REPO_MAIN_REF) == 0;
}

int files_resolve_rev(http_request *req, const char *repo, const char *rev, char sha[41])
{
    int rc = rev[0] ? repo_resolve(repo, rev, sha) : 1;
    if (rc == 0)
        return 0;
    if (rc < 0) {
        api_error(req, 500, NULL, "Could not read revision %s", rev);
        return -1;
    }
    /* A new space has no commit yet; its main is there but empty. */
    char head[41];
    if (names_main(rev) && repo_head(repo, head) == 0 && !head[0]) {
        sha[0] = '\0';
        return 0;
    }
    api_error(req, 404, "RevisionNotFound", "Invalid rev id: %s", rev);
    return -1;
}

/* ---- ranges and conditions ------------------------------------------------- */

typedef enum { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE } range_kind;

/* Reads decimal digits at *p into *out; false when there are none or too many. */
static bool parse_digits(const char **p, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        if (v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (*s - '0');
        s++;
    }
    if (s == *p)
        return false;
    *out = v;
    *p = s;
    return true;
}

/* One "bytes=a-b", "bytes=a-" or "bytes=-n" range against size. Several
 * ranges or a malformed header are ignored (a 200 with the whole file), as
 * RFC 9110 allows; so is any range of an empty file, which has no byte to
 * point at but should still download. */
static range_kind parse_range(const char *h, int64_t size, int64_t *first, int64_t *last)
{
    if (!h || size == 0 || strncasecmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return RANGE_NONE;
    const char *p = h + 6;
    while (*p == ' ')
        p++;
    int64_t a = -1, b = -1;
    if (*p == '-') {
        p++;
        if (!parse_digits(&p, &b) || *p)
            return RANGE_NONE;
        if (b == 0)
            return RANGE_UNSATISFIABLE;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return RANGE_OK;
    }
    if (!parse_digits(&p, &a) || *p++ != '-')
        return RANGE_NONE;
    if (*p && (!parse_digits(&p, &b) || *p))
        return RANGE_NONE;
    if (b >= 0 && b < a)
        return RANGE_NONE;
    if (a >= size)
        return RANGE_UNSATISFIABLE;
    *first = a;
    *last = b < 0 || b >= size ? size - 1 : b;
    return RANGE_OK;
}

/* If-None-Match: "*" or a list holding our entity tag (weak or strong). */
static bool etag_matches(const char *header, const char *etag)
{
    if (!header)
        return false;
    while (*header == ' ')
        header++;
    return strcmp(header, "*") == 0 || strstr(header, etag) != NULL;
}

/* ---- streaming ---------------------------------------------------------------- */

typedef struct download {
    char *data;
    size_t off; /* next byte to send */
    size_t end; /* one past the last byte to send */
} download;

static void download_free(download *d)
{
    if (!d)
        return;
    free(d->data);
    free(d);
}

static void download_abort(http_request *req)
{
    download_free(req->ctx);
    req->ctx = NULL;
}

/* Sends chunks until the connection asks to wait (on_drain resumes) or the
 * range is out. A failed write has already aborted and freed the download. */
static void download_pump(http_request *req)
{
    download *d = req->ctx;
    while (d->off < d->end) {
        size_t n = d->end - d->off < FILES_CHUNK ? d->end - d->off : FILES_CHUNK;
        int rc = http_resp_write(req, d->data + d->off, n);
        if (rc < 0)
            return;
        d->off += n;
        if (rc > 0 && d->off < d->end)
            return;
    }
    req->ctx = NULL;
    req->on_drain = NULL;
    req->on_abort = NULL;
    download_free(d);
    http_resp_end(req);
}

/* ---- the download handler ---------------------------------------------------- */

static void cors_headers(http_request *req)
{
    if (!http_header_get(req, "Origin"))
        return;
    http_resp_header(req, "Access-Control-Allow-Origin", "*");
    http_resp_header(req, "Access-Control-Expose-Headers",
                     "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,ETag,Link,"
                     "Accept-Ranges,Content-Range");
}

/* Success headers; errors go through api_error, which adds its own CORS. */
static void file_headers(http_request *req, const char *sha, const char *etag)
{
    cors_headers(req);
    http_resp_header(req, "X-Repo-Commit", sha);
    http_resp_header(req, "ETag", etag);
    http_resp_header(req, "Accept-Ranges", "bytes");
}

/* Answers the whole file or the range of it; HEAD gets the headers only. The
 * blob is read before any header is queued so that a failure can still be
 * answered as an error. */
static void send_file(http_request *req, const char *repo, const char *sha, const char *file,
                      const repo_entry *entry, int64_t first, int64_t last, bool partial)
{
    int64_t length = last - first + 1;
    int64_t size = entry->lfs ? entry->lfs_size : entry->size;
    download *d = NULL;
    int fd = -1;
    if (entry->lfs) {
        fd = lfsapi_open_object(app_of(req)->config.data_dir, entry->lfs_oid, size);
        if (fd < 0) {
            api_error(req, 500, NULL, "The LFS object of %s is missing", file);
            return;
        }
    } else if (req->method != HTTP_HEAD && length > 0) {
        d = calloc(1, sizeof *d);
        size_t len = 0;
        int rc = d ? repo_read_file(repo, sha, file, &d->data, &len) : -1;
        if (rc != 0 || (int64_t)len != entry->size) {
            log_error("files", "cannot read %s at %.12s in %s", file, sha, repo);
            download_free(d);
            api_error(req, 500, NULL, "Could not read %s", file);
            return;
        }
        d->off = (size_t)first;
        d->end = (size_t)last + 1;
    }
    char etag[72];
    snprintf(etag, sizeof etag, "\"%s\"", entry->lfs ? entry->lfs_oid : entry->oid);
    file_headers(req, sha, etag);
    /* User files are served from Hangar's own origin: never let a browser
     * sniff them into something else or run them with that origin. */
    http_resp_header(req, "Content-Type", mime_type(file));
    http_resp_header(req, "X-Content-Type-Options", "nosniff");
    http_resp_header(req, "Content-Security-Policy", "sandbox");
    if (partial)
        http_resp_headerf(req, "Content-Range", "bytes %lld-%lld/%lld", (long long)first,
                          (long long)last, (long long)size);
    http_resp_begin(req, partial ? 206 : 200, length);
    if (fd >= 0) {
        lfsapi_stream(req, fd, first, last);
        return;
    }
    if (!d) {
        http_resp_end(req);
        return;
    }
    req->ctx = d;
    req->on_drain = download_pump;
    req->on_abort = download_abort;
    download_pump(req);
}

static void files_download(http_request *req)
{
    auth_identity id;
    space sp;
    char *rev = NULL, *file = NULL;
    char repo[FILES_REPO_PATH], sha[41], etag[72];
    repo_entry entry;
    if (!api_space_load(req, req->params[0], req->params[1], API_READ, &id, &sp))
        return;
    if (files_split_rev(req->path, 4, &rev, &file) < 0) {
        api_error(req, 400, NULL, "Invalid revision or percent-encoding in %s", req->path);
        goto done;
    }
    api_space_repo_path(req, &sp, repo, sizeof repo);
    if (files_resolve_rev(req, repo, rev, sha) < 0)
        goto done;
    int rc = sha[0] && file[0] ? repo_entry_at(repo, sha, file, &entry) : 1;
    if (rc < 0) {
        api_error(req, 500, NULL, "Could not read the repository of %s", sp.full_id);
        goto done;
    }
    if (rc == 1 || entry.is_dir) {
        api_error(req, 404, "EntryNotFound", "Entry not found at revision %s", rev);
        goto done;
    }
    /* An LFS file is known by its object, as on HF. */
    int64_t size = entry.lfs ? entry.lfs_size : entry.size;
    snprintf(etag, sizeof etag, "\"%s\"", entry.lfs ? entry.lfs_oid : entry.oid);
    if (etag_matches(http_header_get(req, "If-None-Match"), etag)) {
        file_headers(req, sha, etag);
        http_respond(req, 304, NULL, NULL, 0);
        goto done;
    }
    int64_t first = 0, last = size - 1;
    const char *if_range = http_header_get(req, "If-Range");
    range_kind range = RANGE_NONE;
    if (!if_range || strcmp(if_range, etag) == 0)
        range = parse_range(http_header_get(req, "Range"), size, &first, &last);
    if (range == RANGE_UNSATISFIABLE) {
        http_resp_headerf(req, "Content-Range", "bytes */%lld", (long long)size);
        api_error(req, 416, NULL, "Range not satisfiable: %s has %lld bytes", file,
                  (long long)size);
        goto done;
    }
    send_file(req, repo, sha, file, &entry, first, last, range == RANGE_OK);
done:
    free(rev);
    free(file);
}

bool files_route(http_request *req)
{
    if (!router_match("/spaces/:owner/:name/resolve/*", req->path, req) &&
        !router_match("/spaces/:owner/:name/raw/*", req->path, req))
        return false;
    if (req->method != HTTP_GET && req->method != HTTP_HEAD)
        req->on_complete = api_method_not_allowed;
    else
        req->on_complete = files_download;
    return true;
}
