#include "api/lfsapi.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "app/app.h"
#include "git/lfs.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#define LFS_MEDIA_TYPE "application/vnd.git-lfs+json"
#define LFS_BODY_LIMIT (8u * 1024 * 1024) /* a batch of many objects */
#define LFS_OBJECT_MAX ((int64_t)50 << 30)
#define LFS_URL_TTL_S 3600
/* An upload keeps at most this much of the body in memory before it pauses
 * the connection; the thread pool writes and hashes one such piece at a time. */
#define LFS_UPLOAD_HIGH_WATER (1024 * 1024)
#define LFS_READ_CHUNK (64 * 1024)
#define LFS_GC_INTERVAL_MS (24ull * 3600 * 1000)
#define LFS_GC_FIRST_MS (10ull * 60 * 1000) /* after start-up, once things settle */

/* ---- paths and answers ------------------------------------------------------- */

typedef enum {
    EP_NONE,
    EP_BATCH,
    EP_OBJECT,
    EP_VERIFY,
    EP_LOCKS,
    EP_LOCKS_VERIFY,
    EP_UNLOCK
} lfs_endpoint;

typedef struct lfs_target {
    char owner[SPACE_NAME_MAX + 1];
    char name[SPACE_NAME_MAX + 1];
    char oid[LFS_OID_LEN + 1]; /* EP_OBJECT */
} lfs_target;

/* /spaces/<o>/<n>[.git]/info/lfs/<tail>; EP_NONE when not such a path. */
static lfs_endpoint parse_path(const char *path, lfs_target *t, bool *name_ok)
{
    const char *o = path + strlen("/spaces/");
    const char *slash = strchr(o, '/');
    const char *n = slash ? slash + 1 : NULL;
    const char *nend = n ? strchr(n, '/') : NULL;
    if (!nend || !util_has_prefix(nend, "/info/lfs/"))
        return EP_NONE;
    const char *tail = nend + strlen("/info/lfs/");
    lfs_endpoint ep = EP_NONE;
    if (strcmp(tail, "objects/batch") == 0)
        ep = EP_BATCH;
    else if (util_has_prefix(tail, "objects/") && lfs_oid_valid(tail + 8))
        ep = EP_OBJECT;
    else if (strcmp(tail, "verify") == 0)
        ep = EP_VERIFY;
    else if (strcmp(tail, "locks") == 0)
        ep = EP_LOCKS;
    else if (strcmp(tail, "locks/verify") == 0)
        ep = EP_LOCKS_VERIFY;
    else if (util_has_prefix(tail, "locks/") && strstr(tail, "/unlock"))
        ep = EP_UNLOCK;
    if (ep == EP_NONE)
        return EP_NONE;
    if (ep == EP_OBJECT)
        snprintf(t->oid, sizeof t->oid, "%s", tail + 8);
    size_t olen = (size_t)(slash - o), nlen = (size_t)(nend - n);
    if (nlen > 4 && memcmp(nend - 4, ".git", 4) == 0)
        nlen -= 4;
    *name_ok = olen > 0 && olen <= SPACE_NAME_MAX && nlen > 0 && nlen <= SPACE_NAME_MAX;
    if (*name_ok) {
        memcpy(t->owner, o, olen);
        t->owner[olen] = '\0';
        memcpy(t->name, n, nlen);
        t->name[nlen] = '\0';
    }
    return ep;
}

static void lfs_json(http_request *req, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (!text) {
        api_error(req, 500, NULL, "Out of memory");
        return;
    }
    http_respond(req, status, LFS_MEDIA_TYPE, text, strlen(text));
    free(text);
}

/* git-lfs shows "message" to the user. */
static void lfs_error(http_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void lfs_error(http_request *req, int status, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    http_resp_header(req, "X-Error-Message", message);
    lfs_json(req, status,
             json_pack("{s:s, s:s}", "message", message, "request_id", req->request_id));
}

/* ---- signed upload URLs --------------------------------------------------------- */

static unsigned char sign_key[crypto_auth_hmacsha256_KEYBYTES];
static pthread_once_t sign_key_once = PTHREAD_ONCE_INIT;

static void sign_key_init(void)
{
    crypto_auth_hmacsha256_keygen(sign_key);
}

static void sign(const lfs_target *t, int64_t size, long long expires, char hex[65])
{
    char msg[512];
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    pthread_once(&sign_key_once, sign_key_init);
    int n = snprintf(msg, sizeof msg, "PUT %s/%s %s %lld %lld", t->owner, t->name, t->oid,
                     (long long)size, expires);
    crypto_auth_hmacsha256(mac, (const unsigned char *)msg, (size_t)n, sign_key);
    util_hex(mac, sizeof mac, hex);
}

/* Whether the query carries a valid, unexpired signature for this upload;
 * *size gets the signed size. */
static bool signature_ok(http_request *req, const lfs_target *t, int64_t *size)
{
    char *sig = http_query_get(req, "sig"), *exp = http_query_get(req, "expires");
    char *sz = http_query_get(req, "size");
    long long expires = 0, n = 0;
    char want[65];
    bool ok = false;
    if (sig && exp && sz && util_parse_int(exp, 0, 1LL << 40, &expires) == 0 &&
        util_parse_int(sz, 0, LFS_OBJECT_MAX, &n) == 0 && expires >= (long long)time(NULL)) {
        sign(t, n, expires, want);
        ok = strlen(sig) == 64 && sodium_memcmp(sig, want, 64) == 0;
        *size = n;
    }
    free(sig);
    free(exp);
    free(sz);
    return ok;
}

/* ---- batch ------------------------------------------------------------------------ */

/* The scheme and host clients used to reach us: hrefs must work for them. */
static void request_origin(http_request *req, char *out, size_t size)
{
    const char *host = http_header_get(req, "Host");
    const char *proto = http_header_get(req, "X-Forwarded-Proto");
    bool https = (proto && strcmp(proto, "https") == 0) ||
                 util_has_prefix(app_of(req)->base_url, "https://");
    if (!host || !host[0] || strlen(host) > 255 ||
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
            strlen(host)) {
        snprintf(out, size, "%s", app_of(req)->base_url);
        return;
    }
    snprintf(out, size, "%s://%s", https ? "https" : "http", host);
}

static json_t *action(const char *href, const char *auth)
{
    json_t *a = json_pack("{s:s, s:i}", "href", href, "expires_in", LFS_URL_TTL_S);
    if (auth)
        json_object_set_new(a, "header", json_pack("{s:s}", "Authorization", auth));
    return a;
}

/* Actions for one object of an upload: none when it is stored already. */
static void batch_upload(http_request *req, const char *base, lfs_target *t, int64_t size,
                         json_t *obj)
{
    const char *data_dir = app_of(req)->config.data_dir;
    const char *auth = http_header_get(req, "Authorization");
    int64_t have = -1;
    char href[1400], sig[65];
    if (lfs_object_stat(data_dir, t->oid, &have) == 0 && have == size) {
        /* It will be referenced soon: keep the collector off it. */
        lfs_object_touch(data_dir, t->oid);
        return;
    }
    long long expires = (long long)time(NULL) + LFS_URL_TTL_S;
    sign(t, size, expires, sig);
    snprintf(href, sizeof href, "%s/objects/%s?size=%lld&expires=%lld&sig=%s", base, t->oid,
             (long long)size, expires, sig);
    json_t *actions = json_pack("{s:o}", "upload", action(href, auth));
    snprintf(href, sizeof href, "%s/verify", base);
    json_object_set_new(actions, "verify", action(href, auth));
    json_object_set_new(obj, "actions", actions);
}

static void batch_download(http_request *req, const char *base, lfs_target *t, int64_t size,
                           json_t *obj)
{
    int64_t have = -1;
    char href[1400];
    if (lfs_object_stat(app_of(req)->config.data_dir, t->oid, &have) != 0 || have != size) {
        json_object_set_new(
            obj, "error",
            json_pack("{s:i, s:s}", "code", 404, "message", "Object does not exist on the server"));
        return;
    }
    snprintf(href, sizeof href, "%s/objects/%s", base, t->oid);
    json_object_set_new(
        obj, "actions",
        json_pack("{s:o}", "download", action(href, http_header_get(req, "Authorization"))));
}

/* One {oid, size} of the request into the answer's objects. */
static bool batch_object(http_request *req, const char *base, bool upload, lfs_target *t,
                         json_t *in, json_t *out)
{
    const char *oid = json_string_value(json_object_get(in, "oid"));
    json_t *jsize = json_object_get(in, "size");
    if (!lfs_oid_valid(oid) || !json_is_integer(jsize) || json_integer_value(jsize) < 0 ||
        json_integer_value(jsize) > LFS_OBJECT_MAX) {
        lfs_error(req, 422, "Each object needs a sha256 \"oid\" and a \"size\" up to %lld bytes",
                  (long long)LFS_OBJECT_MAX);
        return false;
    }
    int64_t size = json_integer_value(jsize);
    snprintf(t->oid, sizeof t->oid, "%s", oid);
    json_t *obj =
        json_pack("{s:s, s:I, s:b}", "oid", oid, "size", (json_int_t)size, "authenticated", 1);
    if (upload)
        batch_upload(req, base, t, size, obj);
    else
        batch_download(req, base, t, size, obj);
    json_array_append_new(out, obj);
    return true;
}

static bool transfers_ok(json_t *transfers)
{
    size_t i;
    json_t *v;
    if (!transfers)
        return true; /* absent means basic */
    json_array_foreach(transfers, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), "basic") == 0)
            return true;
    }
    return false;
}

static void lfs_batch(http_request *req)
{
    lfs_target t;
    bool name_ok = false;
    auth_identity id;
    space sp;
    char origin[300], base[800];
    json_t *body = api_parse_body(req), *objects = json_array();
    if (!body)
        goto done;
    parse_path(req->path, &t, &name_ok);
    const char *op = json_string_value(json_object_get(body, "operation"));
    json_t *list = json_object_get(body, "objects");
    bool upload = op && strcmp(op, "upload") == 0;
    if (!op || (!upload && strcmp(op, "download") != 0) || !json_is_array(list)) {
        lfs_error(req, 422, "A batch needs \"operation\" (upload or download) and \"objects\"");
        goto done;
    }
    if (!transfers_ok(json_object_get(body, "transfers"))) {
        lfs_error(req, 422, "Hangar offers the basic transfer only");
        goto done;
    }
    if (!api_space_load(req, t.owner, t.name, upload ? API_WRITE : API_READ, &id, &sp))
        goto done;
    request_origin(req, origin, sizeof origin);
    snprintf(base, sizeof base, "%s/spaces/%s/%s.git/info/lfs", origin, t.owner, t.name);
    size_t i;
    json_t *in;
    json_array_foreach(list, i, in)
    {
        if (!batch_object(req, base, upload, &t, in, objects))
            goto done;
    }
    lfs_json(req, 200,
             json_pack("{s:s, s:O, s:s}", "transfer", "basic", "objects", objects, "hash_algo",
                       "sha256"));
done:
    json_decref(objects);
    json_decref(body);
}

/* ---- verify and locks ----------------------------------------------------------------- */

static void lfs_verify(http_request *req)
{
    lfs_target t;
    bool name_ok = false;
    auth_identity id;
    space sp;
    int64_t have = -1;
    json_t *body = api_parse_body(req);
    parse_path(req->path, &t, &name_ok);
    if (!body || !api_space_load(req, t.owner, t.name, API_WRITE, &id, &sp))
        goto done;
    const char *oid = json_string_value(json_object_get(body, "oid"));
    json_int_t size = json_integer_value(json_object_get(body, "size"));
    if (!lfs_oid_valid(oid)) {
        lfs_error(req, 422, "\"oid\" must be a sha256");
        goto done;
    }
    int rc = lfs_object_stat(app_of(req)->config.data_dir, oid, &have);
    if (rc != 0 || have != size)
        lfs_error(req, 404, "Object %s of %lld bytes is not stored", oid, (long long)size);
    else
        lfs_json(req, 200, json_pack("{s:s}", "message", "ok"));
done:
    json_decref(body);
}

/* Locking is not offered; these answers keep `git lfs push` and `git lfs
 * locks` working with nothing locked. */
static void lfs_locks(http_request *req)
{
    lfs_target t;
    bool name_ok = false;
    auth_identity id;
    space sp;
    lfs_endpoint ep = parse_path(req->path, &t, &name_ok);
    bool write = req->method == HTTP_POST;
    if (!api_space_load(req, t.owner, t.name, write ? API_WRITE : API_READ, &id, &sp))
        return;
    if (ep == EP_LOCKS_VERIFY) {
        lfs_json(req, 200, json_pack("{s:[], s:[]}", "ours", "theirs"));
    } else if (ep == EP_LOCKS && !write) {
        lfs_json(req, 200, json_pack("{s:[]}", "locks"));
    } else {
        lfs_error(req, 501, "Hangar does not lock files");
    }
}

/* ---- upload ------------------------------------------------------------------------------ */

typedef struct lfs_upload {
    http_request *req; /* NULL once answered or the client left */
    char data_dir[4096];
    lfs_writer w;
    uv_work_t work;
    buf pending; /* body received, not yet handed to the pool */
    buf busy;    /* body being written by the pool */
    int64_t received;
    bool working, paused, body_done, finishing, opened, failed;
    int result; /* of the finish: 0 stored, 1 mismatch, -1 I/O error */
    char err[256];
} lfs_upload;

static void upload_kick(lfs_upload *u);

static void upload_free(lfs_upload *u)
{
    lfs_writer_abort(&u->w);
    buf_free(&u->pending);
    buf_free(&u->busy);
    free(u);
}

/* Lets go of the request after answering; the upload lives on until the
 * pool is done with it. */
static void upload_answer(lfs_upload *u, int status, const char *message)
{
    http_request *req = u->req;
    u->req = NULL;
    req->ctx = NULL;
    req->on_body = NULL;
    req->on_body_end = NULL;
    req->on_abort = NULL;
    if (status == 200)
        http_respond(req, 200, LFS_MEDIA_TYPE, NULL, 0);
    else
        lfs_error(req, status, "%s", message);
    if (u->paused)
        http_request_resume(req); /* the rest of the body is dropped */
    if (!u->working)
        upload_free(u);
}

/* Thread pool: open the file first time, then write and hash, or finish. */
static void upload_work(uv_work_t *w)
{
    lfs_upload *u = w->data;
    if (!u->opened) {
        /* lfs_writer_open clears the writer it fills: pass copies. */
        char oid[LFS_OID_LEN + 1];
        memcpy(oid, u->w.oid, sizeof oid);
        u->opened = true;
        if (lfs_writer_open(&u->w, u->data_dir, oid, u->w.size) < 0) {
            u->failed = true;
            return;
        }
    }
    if (u->finishing) {
        u->result = lfs_writer_finish(&u->w, u->err, sizeof u->err);
        return;
    }
    if (lfs_writer_write(&u->w, u->busy.data, u->busy.len) < 0)
        u->failed = true;
}

static void upload_after(uv_work_t *w, int status)
{
    lfs_upload *u = w->data;
    u->working = false;
    buf_reset(&u->busy);
    if (!u->req) {
        upload_free(u);
        return;
    }
    if ((u->failed || (u->finishing && u->result < 0)) && lfs_writer_no_space(&u->w)) {
        log_error("lfs", "no space left for object %s (%lld bytes)", u->w.oid,
                  (long long)u->w.size);
        upload_answer(u, 507, "Not enough storage space on the server for this object");
        return;
    }
    if (u->failed || status < 0) {
        upload_answer(u, 500, "Could not store the object");
        return;
    }
    if (u->finishing) {
        if (u->result == 0)
            log_info("lfs", "stored object %s (%lld bytes)", u->w.oid, (long long)u->w.size);
        else
            log_warn("lfs", "refused object %s: %s", u->w.oid, u->err);
        upload_answer(u, u->result == 0 ? 200 : u->result > 0 ? 422 : 500, u->err);
        return;
    }
    upload_kick(u);
    if (u->req && u->paused && u->pending.len < LFS_UPLOAD_HIGH_WATER) {
        u->paused = false;
        /* May run on_body and on_body_end right here: keep this last. */
        http_request_resume(u->req);
    }
}

/* Hands what is pending (or the finish) to the pool unless it is busy. */
static void upload_kick(lfs_upload *u)
{
    if (u->working || u->finishing)
        return;
    if (u->pending.len == 0 && !(u->body_done && u->received == u->w.size))
        return;
    if (u->pending.len == 0) {
        u->finishing = true;
    } else {
        buf tmp = u->busy;
        u->busy = u->pending;
        u->pending = tmp;
    }
    u->working = true;
    if (uv_queue_work(app_of(u->req)->loop, &u->work, upload_work, upload_after) < 0) {
        u->working = false;
        upload_answer(u, 500, "Could not queue the upload");
    }
}

static int upload_body(http_request *req, const char *data, size_t len)
{
    lfs_upload *u = req->ctx;
    u->received += (int64_t)len;
    if (u->received > u->w.size) {
        upload_answer(u, 400, "The body is longer than the object's size");
        return 0;
    }
    if (buf_append(&u->pending, data, len) < 0) {
        upload_answer(u, 500, "Out of memory");
        return 0;
    }
    upload_kick(u);
    if (u->req && !u->paused && u->pending.len >= LFS_UPLOAD_HIGH_WATER) {
        u->paused = true;
        http_request_pause(req);
    }
    return 0;
}

static void upload_body_end(http_request *req)
{
    lfs_upload *u = req->ctx;
    u->body_done = true;
    if (u->received != u->w.size) {
        upload_answer(u, 400, "The body is shorter than the object's size");
        return;
    }
    upload_kick(u);
}

static void upload_abort(http_request *req)
{
    lfs_upload *u = req->ctx;
    u->req = NULL;
    req->ctx = NULL;
    if (!u->working)
        upload_free(u);
}

/* PUT .../objects/<oid>: authorised by a signed URL or a write token. */
static void lfs_upload_start(http_request *req, lfs_target *t)
{
    int64_t size = -1;
    auth_identity id;
    space sp;
    if (!signature_ok(req, t, &size) &&
        !api_space_load(req, t->owner, t->name, API_WRITE, &id, &sp))
        return;
    if (req->content_length >= 0 && size >= 0 && req->content_length != size) {
        lfs_error(req, 400, "Content-Length %lld is not the signed size %lld",
                  (long long)req->content_length, (long long)size);
        return;
    }
    if (size < 0)
        size = req->content_length;
    if (size < 0 || size > LFS_OBJECT_MAX) {
        lfs_error(req, size < 0 ? 411 : 413, "An object upload needs a Content-Length up to %lld",
                  (long long)LFS_OBJECT_MAX);
        return;
    }
    /* A body that cannot fit is refused before it is received. */
    struct statvfs vfs;
    if (statvfs(app_of(req)->config.data_dir, &vfs) == 0 &&
        (uint64_t)size > (uint64_t)vfs.f_bavail * vfs.f_frsize) {
        log_error("lfs", "no space left for object %s (%lld bytes)", t->oid, (long long)size);
        lfs_error(req, 507, "Not enough storage space on the server for an object of %lld bytes",
                  (long long)size);
        return;
    }
    lfs_upload *u = calloc(1, sizeof *u);
    if (!u) {
        lfs_error(req, 500, "Out of memory");
        return;
    }
    u->req = req;
    u->work.data = u;
    u->w.fd = -1;
    u->w.size = size;
    snprintf(u->w.oid, sizeof u->w.oid, "%s", t->oid);
    snprintf(u->data_dir, sizeof u->data_dir, "%s", app_of(req)->config.data_dir);
    buf_init(&u->pending);
    buf_init(&u->busy);
    req->ctx = u;
    req->on_body = upload_body;
    req->on_body_end = upload_body_end;
    req->on_abort = upload_abort;
}

/* ---- download ------------------------------------------------------------------------------ */

typedef struct lfs_stream {
    http_request *req; /* NULL once the client left */
    uv_fs_t fs;
    int fd;
    int64_t off, end; /* next byte, one past the last */
    bool reading;
    char chunk[LFS_READ_CHUNK];
} lfs_stream;

static void stream_next(http_request *req);

/* Ends a response short of its Content-Length and closes the connection: the
 * client must not take a cut body for a whole one. */
static void stream_cut(http_request *req)
{
    http_request_close_after(req);
    http_resp_end(req);
}

static void stream_free(lfs_stream *st)
{
    if (st->req) {
        st->req->ctx = NULL;
        st->req->on_drain = NULL;
        st->req->on_abort = NULL;
    }
    close(st->fd);
    free(st);
}

static void stream_abort(http_request *req)
{
    lfs_stream *st = req->ctx;
    st->req = NULL;
    req->ctx = NULL;
    if (!st->reading)
        stream_free(st);
}

static void stream_read_done(uv_fs_t *fs)
{
    lfs_stream *st = fs->data;
    ssize_t n = fs->result;
    uv_fs_req_cleanup(fs);
    st->reading = false;
    if (!st->req) {
        stream_free(st);
        return;
    }
    if (n <= 0) {
        log_error("lfs", "object read failed at %lld: %s", (long long)st->off,
                  n < 0 ? uv_strerror((int)n) : "end of file");
        http_request *req = st->req;
        stream_free(st);
        stream_cut(req);
        return;
    }
    st->off += n;
    http_request *req = st->req;
    int rc = http_resp_write(req, st->chunk, (size_t)n);
    if (rc < 0 || !st->req) {
        if (st->req)
            stream_free(st);
        return;
    }
    if (rc == 0)
        stream_next(req);
}

static void stream_next(http_request *req)
{
    lfs_stream *st = req->ctx;
    if (st->off >= st->end) {
        stream_free(st);
        http_resp_end(req);
        return;
    }
    int64_t left = st->end - st->off;
    uv_buf_t b = uv_buf_init(st->chunk, left < LFS_READ_CHUNK ? (unsigned)left : LFS_READ_CHUNK);
    st->fs.data = st;
    st->reading = true;
    int rc = uv_fs_read(app_of(req)->loop, &st->fs, st->fd, &b, 1, st->off, stream_read_done);
    if (rc < 0) {
        st->reading = false;
        log_error("lfs", "cannot read an object: %s", uv_strerror(rc));
        stream_free(st);
        stream_cut(req);
    }
}

int lfsapi_open_object(const char *data_dir, const char *oid, int64_t size)
{
    char path[LFS_PATH_MAX];
    struct stat st;
    lfs_object_path(data_dir, oid, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || (int64_t)st.st_size != size) {
        log_error("lfs", "object %s: %s", oid,
                  fd < 0 ? strerror(errno) : "size differs from its pointer");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

void lfsapi_stream(http_request *req, int fd, int64_t first, int64_t last)
{
    lfs_stream *st = req->method == HTTP_HEAD || last < first ? NULL : malloc(sizeof *st);
    if (!st) {
        close(fd);
        if (req->method != HTTP_HEAD && last >= first)
            stream_cut(req);
        else
            http_resp_end(req);
        return;
    }
    st->req = req;
    st->fd = fd;
    st->off = first;
    st->end = last + 1;
    st->reading = false;
    req->ctx = st;
    req->on_drain = stream_next;
    req->on_abort = stream_abort;
    stream_next(req);
}

/* GET .../objects/<oid>, with a single Range as resolve serves it. */
static void lfs_download(http_request *req)
{
    lfs_target t;
    bool name_ok = false;
    auth_identity id;
    space sp;
    int64_t size = -1;
    parse_path(req->path, &t, &name_ok);
    if (!api_space_load(req, t.owner, t.name, API_READ, &id, &sp))
        return;
    const char *data_dir = app_of(req)->config.data_dir;
    if (lfs_object_stat(data_dir, t.oid, &size) != 0) {
        lfs_error(req, 404, "Object %s does not exist", t.oid);
        return;
    }
    int fd = lfsapi_open_object(data_dir, t.oid, size);
    if (fd < 0) {
        lfs_error(req, 500, "Could not read object %s", t.oid);
        return;
    }
    int64_t first = 0, last = size - 1;
    const char *range = http_header_get(req, "Range");
    long long a = -1, b = -1;
    bool partial = range && sscanf(range, "bytes=%lld-%lld", &a, &b) >= 1 && a >= 0 && a < size;
    if (partial) {
        first = a;
        last = b >= a && b < size ? b : size - 1;
        http_resp_headerf(req, "Content-Range", "bytes %lld-%lld/%lld", (long long)first,
                          (long long)last, (long long)size);
    }
    http_resp_header(req, "Content-Type", "application/octet-stream");
    http_resp_headerf(req, "ETag", "\"%s\"", t.oid);
    http_resp_header(req, "Accept-Ranges", "bytes");
    http_resp_begin(req, partial ? 206 : 200, last - first + 1);
    lfsapi_stream(req, fd, first, last);
}

/* ---- routing ----------------------------------------------------------------------------------
 */

bool lfsapi_route(http_request *req)
{
    lfs_target t;
    bool name_ok = false;
    lfs_endpoint ep = parse_path(req->path, &t, &name_ok);
    if (ep == EP_NONE)
        return false;
    if (!name_ok) {
        api_error(req, 404, "RepoNotFound", "Repository not found");
        return true;
    }
    bool get = req->method == HTTP_GET || req->method == HTTP_HEAD;
    bool post = req->method == HTTP_POST;
    req->body_limit = LFS_BODY_LIMIT;
    if (ep == EP_OBJECT && req->method == HTTP_PUT)
        lfs_upload_start(req, &t);
    else if (ep == EP_OBJECT && get)
        req->on_complete = lfs_download;
    else if (ep == EP_BATCH && post)
        req->on_complete = lfs_batch;
    else if (ep == EP_VERIFY && post)
        req->on_complete = lfs_verify;
    else if (ep == EP_LOCKS && (get || post))
        req->on_complete = lfs_locks;
    else if ((ep == EP_LOCKS_VERIFY || ep == EP_UNLOCK) && post)
        req->on_complete = lfs_locks;
    else
        req->on_complete = api_method_not_allowed;
    return true;
}

/* ---- scheduled collection
 * ------------------------------------------------------------------------ */

typedef struct lfs_gc_job {
    uv_work_t work;
    char data_dir[4096];
    lfs_gc_stats stats;
    int rc;
} lfs_gc_job;

static uv_timer_t gc_timer;
static bool gc_running;

static void gc_work(uv_work_t *w)
{
    lfs_gc_job *job = w->data;
    job->rc = lfs_gc(job->data_dir, LFS_GC_GRACE_S, &job->stats);
}

static void gc_after(uv_work_t *w, int status)
{
    lfs_gc_job *job = w->data;
    gc_running = false;
    if (status == 0 && job->rc == 0)
        log_info("lfs",
                 "gc: %ld objects referenced, %ld kept (%ld young), %ld removed (%lld bytes)",
                 job->stats.referenced, job->stats.kept, job->stats.young, job->stats.removed,
                 (long long)job->stats.removed_bytes);
    else
        log_error("lfs", "gc: failed; nothing more removed until the next run");
    free(job);
}

static void gc_tick(uv_timer_t *t)
{
    const char *data_dir = t->data;
    lfs_gc_job *job = gc_running ? NULL : calloc(1, sizeof *job);
    if (!job)
        return;
    job->work.data = job;
    snprintf(job->data_dir, sizeof job->data_dir, "%s", data_dir);
    gc_running = true;
    if (uv_queue_work(t->loop, &job->work, gc_work, gc_after) < 0) {
        gc_running = false;
        free(job);
    }
}

void lfsapi_gc_schedule(uv_loop_t *loop, const char *data_dir)
{
    uv_timer_init(loop, &gc_timer);
    gc_timer.data = (void *)data_dir;
    uv_timer_start(&gc_timer, gc_tick, LFS_GC_FIRST_MS, LFS_GC_INTERVAL_MS);
    /* The timer alone must not keep a loop that is shutting down alive. */
    uv_unref((uv_handle_t *)&gc_timer);
}
