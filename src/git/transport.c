/* transport: git smart HTTP, served by git's own upload-pack and receive-pack.
 *
 * One request runs one child, "git <service> --stateless-rpc", in the bare
 * repository. The request body streams into the child's stdin and the child's
 * stdout streams out as a chunked response, both through the event loop with
 * backpressure on each side, so a pack is never held in memory. The child's
 * stderr goes to the daemon log with the space's name.
 *
 * A push that loses its client before the whole pack arrived is stopped: the
 * child's stdin is closed, so git drops its quarantined objects and no ref
 * moves (SIGTERM, then SIGKILL, if it lingers). Once the whole body is in,
 * the push is the client's decision and runs to its end even if the client
 * goes away. After every receive-pack the head of main is read back and, when
 * it moved, handed to the lifecycle.
 *
 * A push runs git's post-receive hook from DATA/hooks (core.hooksPath), which
 * is this binary's credential scan (git/scan): its warnings reach the pusher
 * as "remote:" lines, and its report, left in a file named per push, becomes
 * the space's secret-warning event once receive-pack has exited. */
#include "git/transport.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "api/api.h"
#include "app/app.h"
#include "git/repo.h"
#include "git/scan.h"
#include "git/source.h"
#include "lib/log.h"
#include "lib/util.h"
#include "space/events.h"
#include "space/lifecycle.h"
#include "store/store.h"

#define STDIN_HIGH_WATER (256 * 1024) /* pause the request body above this */
#define STDIN_LOW_WATER (64 * 1024)   /* resume it below this */
#define READ_CHUNK (64 * 1024)
#define STDERR_LINE_MAX 1024
#define KILL_GRACE_MS 5000 /* between the steps of stopping a child */
/* Request body caps, counted after gzip: a push carries a pack, a fetch only
 * its negotiation. */
#define PUSH_BODY_MAX ((uint64_t)2 << 30)
#define FETCH_BODY_MAX ((uint64_t)256 << 20)
#define PROTOCOL_MAX 256

typedef enum { SVC_UPLOAD_PACK, SVC_RECEIVE_PACK } transport_service;

static const char *const service_names[] = {"upload-pack", "receive-pack"};

typedef struct transport_rpc {
    http_request *req; /* NULL once the response ended or the client left */
    app *app;
    space sp;
    char repo[4200];
    transport_service service;
    bool advertise; /* GET info/refs rather than the POST */

    uv_process_t proc;
    uv_pipe_t in, out, err;
    uv_timer_t kill_timer;
    int open_handles;
    bool has_stdin; /* the POST feeds the child; info/refs gives it /dev/null */
    bool in_closing;
    bool in_broken; /* the child closed its stdin: drop the rest of the body */
    bool out_eof;
    bool out_paused; /* waiting for the client to drain the response */
    bool err_eof;
    bool exited;
    int stop_stage; /* 0 running; 1 stdin closed; 2 SIGTERM sent; 3 SIGKILL sent */
    bool finished;
    int64_t exit_status;
    int term_signal;

    /* Request body. */
    size_t in_queue;    /* bytes queued to the child's stdin */
    uint64_t body_sent; /* bytes handed to the child, after gzip */
    uint64_t body_max;
    bool body_done;
    bool req_paused;
    bool gzip;
    bool gzip_done;
    z_stream zs;
    buf zin; /* compressed input not yet inflated (stdin backpressure) */

    /* Response. */
    bool resp_begun;
    char prefix[64]; /* the "# service=" pkt-lines of an advertisement */
    size_t prefix_len;

    char scan_report[4200]; /* where the post-receive hook leaves its findings */

    char out_buf[READ_CHUNK];
    char err_buf[4096];
    buf err_line;
} transport_rpc;

typedef struct stdin_write {
    uv_write_t req;
    transport_rpc *rpc;
    size_t len;
    char data[];
} stdin_write;

static void rpc_flow(transport_rpc *rpc);
static void rpc_stop_child(transport_rpc *rpc);

/* Set by transport_init: absolute, since git runs in the repository. */
static struct {
    char data_dir[4096];
    char hooks_dir[4200];
    char scan_dir[4200];
    unsigned long scans; /* names each push's report file */
} hooks;

/* ---- lifetime ----------------------------------------------------------- */

static void rpc_free(transport_rpc *rpc)
{
    if (rpc->gzip)
        inflateEnd(&rpc->zs);
    buf_free(&rpc->zin);
    buf_free(&rpc->err_line);
    free(rpc);
}

/* The rpc lives until its last handle is closed, which is always after it
 * finished: handles close only from loop callbacks, never under the caller. */
static void on_handle_closed(uv_handle_t *h)
{
    transport_rpc *rpc = h->data;
    if (--rpc->open_handles == 0)
        rpc_free(rpc);
}

static void rpc_close_handle(transport_rpc *rpc, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

/* Lets go of the request: after this the server may free it at any time. */
static http_request *rpc_detach(transport_rpc *rpc)
{
    http_request *req = rpc->req;
    rpc->req = NULL;
    if (req) {
        req->ctx = NULL;
        req->on_body = NULL;
        req->on_body_end = NULL;
        req->on_abort = NULL;
        req->on_drain = NULL;
    }
    return req;
}

static const char *rpc_name(const transport_rpc *rpc)
{
    return service_names[rpc->service];
}

/* ---- response ------------------------------------------------------------ */

static void rpc_begin_response(transport_rpc *rpc)
{
    http_request *req = rpc->req;
    if (rpc->resp_begun)
        return;
    rpc->resp_begun = true;
    http_resp_headerf(req, "Content-Type", "application/x-git-%s-%s", rpc_name(rpc),
                      rpc->advertise ? "advertisement" : "result");
    /* As git http-backend: proxies must never serve a stale ref list. */
    http_resp_header(req, "Cache-Control", "no-cache, max-age=0, must-revalidate");
    http_resp_header(req, "Pragma", "no-cache");
    http_resp_header(req, "Expires", "Fri, 01 Jan 1980 00:00:00 GMT");
    http_resp_begin(req, 200, -1);
    if (rpc->prefix_len && rpc->req)
        http_resp_write(req, rpc->prefix, rpc->prefix_len);
}

/* Answers with an error if nothing was sent yet, else cuts the response short;
 * then stops the child. Detaches the request either way. */
static void rpc_fail(transport_rpc *rpc, int status, const char *message)
{
    log_warn("git", "%s: git %s: %s", rpc->sp.full_id, rpc_name(rpc), message);
    http_request *req = rpc_detach(rpc);
    if (req && !rpc->resp_begun) {
        api_error(req, status, NULL, "%s", message);
    } else if (req) {
        /* The client must not take a cut response for a whole one. */
        http_request_close_after(req);
        http_resp_end(req);
    }
    rpc_stop_child(rpc);
}

/* ---- the child ------------------------------------------------------------ */

/* The next step of stopping a child that outstayed its grace. */
static void on_kill_timer(uv_timer_t *t)
{
    transport_rpc *rpc = t->data;
    if (rpc->exited)
        return;
    int sig = rpc->stop_stage == 1 ? SIGTERM : SIGKILL;
    rpc->stop_stage++;
    log_warn("git", "%s: git %s (pid %d) still running, sending %s", rpc->sp.full_id, rpc_name(rpc),
             rpc->proc.pid, sig == SIGTERM ? "SIGTERM" : "SIGKILL");
    /* It runs in its own session: the signal reaches index-pack and pack-objects too. */
    if (kill(-rpc->proc.pid, sig) < 0 && errno != ESRCH)
        log_error("git", "%s: cannot signal git %s (pid %d): %s", rpc->sp.full_id, rpc_name(rpc),
                  rpc->proc.pid, strerror(errno));
    if (sig == SIGTERM)
        uv_timer_start(&rpc->kill_timer, on_kill_timer, KILL_GRACE_MS, 0);
}

static void on_stdin_shutdown(uv_shutdown_t *sr, int status)
{
    transport_rpc *rpc = sr->data;
    free(sr);
    (void)status; /* a child that already left needs no EOF */
    rpc_close_handle(rpc, (uv_handle_t *)&rpc->in);
}

/* Gives the child EOF once everything queued is written. */
static void rpc_close_stdin(transport_rpc *rpc, bool now)
{
    if (!rpc->has_stdin || rpc->in_closing)
        return;
    rpc->in_closing = true;
    uv_shutdown_t *sr = now ? NULL : malloc(sizeof *sr);
    if (sr) {
        sr->data = rpc;
        if (uv_shutdown(sr, (uv_stream_t *)&rpc->in, on_stdin_shutdown) == 0)
            return;
        free(sr);
    }
    rpc_close_handle(rpc, (uv_handle_t *)&rpc->in);
}

/* Stops a child whose work is no longer wanted. A receive-pack only loses its
 * stdin: index-pack sees the pack end early, fails, and receive-pack removes
 * its quarantine and moves no ref, which is git's own clean path (a signal
 * would race its cleanup against index-pack's). A fetch has nothing to keep:
 * it gets SIGTERM at once. Either way SIGTERM, then SIGKILL, follow a child
 * that does not exit within the grace. */
static void rpc_stop_child(transport_rpc *rpc)
{
    rpc_close_stdin(rpc, true);
    if (rpc->exited || rpc->stop_stage > 0)
        return;
    rpc->stop_stage = 1;
    if (rpc->service == SVC_RECEIVE_PACK && !rpc->advertise)
        uv_timer_start(&rpc->kill_timer, on_kill_timer, KILL_GRACE_MS, 0);
    else
        on_kill_timer(&rpc->kill_timer);
}

/* A push may have moved main: hand a new head to the lifecycle, reading the
 * space afresh since a commit through the API may have landed meanwhile. */
static void rpc_record_push(transport_rpc *rpc)
{
    char sha[41];
    if (repo_head(rpc->repo, sha) < 0) {
        log_error("git", "%s: cannot read main after a push", rpc->sp.full_id);
        return;
    }
    space now;
    int rc = store_space_get(rpc->app->store, rpc->sp.owner, rpc->sp.name, &now);
    if (rc != STORE_OK || now.id != rpc->sp.id) {
        log_warn("git", "%s: space changed during a push; main %.12s not recorded", rpc->sp.full_id,
                 sha);
        return;
    }
    if (sha[0] && strcmp(sha, now.sha) != 0 &&
        lifecycle_on_commit(rpc->app, &now, sha, "git push") < 0)
        log_error("git", "%s: push moved main to %.12s but it could not be recorded",
                  rpc->sp.full_id, sha);
}

/* Records the findings the post-receive hook left, as a space event. */
static void rpc_record_scan(transport_rpc *rpc)
{
    if (!rpc->scan_report[0])
        return;
    json_error_t err;
    json_t *data = json_load_file(rpc->scan_report, 0, &err);
    unlink(rpc->scan_report);
    if (!data)
        return; /* nothing found (no file), or the hook could not write it */
    char *text = json_dumps(data, JSON_COMPACT);
    json_int_t count = json_integer_value(json_object_get(data, "count"));
    log_warn("git", "%s: push adds %lld possible credential(s)", rpc->sp.full_id, (long long)count);
    if (!text || events_add(rpc->app, rpc->sp.id, "secret-warning", text) < 0)
        log_error("git", "%s: could not record the secret warning of a push", rpc->sp.full_id);
    free(text);
    json_decref(data);
}

/* Ends the request once the child exited and its stdout is drained. */
static void rpc_maybe_finish(transport_rpc *rpc)
{
    if (rpc->finished || !rpc->exited || !rpc->out_eof)
        return;
    rpc->finished = true;
    uv_timer_stop(&rpc->kill_timer);
    rpc_close_handle(rpc, (uv_handle_t *)&rpc->kill_timer);
    rpc_close_stdin(rpc, true);
    bool ok = rpc->exit_status == 0 && rpc->term_signal == 0;
    if (!ok && rpc->req && !rpc->resp_begun) {
        rpc_fail(rpc, 500, "git failed; see the server log");
        return;
    }
    if (!rpc->req)
        return;
    rpc_begin_response(rpc);
    http_request *req = rpc_detach(rpc);
    if (req && !ok)
        http_request_close_after(req); /* a cut stream must not look whole */
    if (req)
        http_resp_end(req);
}

static void on_child_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
    transport_rpc *rpc = proc->data;
    rpc->exited = true;
    rpc->exit_status = exit_status;
    rpc->term_signal = term_signal;
    if (term_signal)
        log_msg(rpc->stop_stage ? LOG_INFO : LOG_WARN, "git", "%s: git %s killed by signal %d",
                rpc->sp.full_id, rpc_name(rpc), term_signal);
    else if (exit_status)
        log_msg(rpc->stop_stage ? LOG_INFO : LOG_WARN, "git", "%s: git %s exited with status %lld",
                rpc->sp.full_id, rpc_name(rpc), (long long)exit_status);
    else if (rpc->stop_stage)
        log_info("git", "%s: git %s stopped", rpc->sp.full_id, rpc_name(rpc));
    rpc_close_handle(rpc, (uv_handle_t *)proc);
    if (rpc->service == SVC_RECEIVE_PACK && !rpc->advertise) {
        rpc_record_push(rpc);
        rpc_record_scan(rpc);
    }
    rpc_maybe_finish(rpc);
}

static void on_alloc_out(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    transport_rpc *rpc = h->data;
    *b = uv_buf_init(rpc->out_buf, sizeof rpc->out_buf);
}

static void on_alloc_err(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    transport_rpc *rpc = h->data;
    *b = uv_buf_init(rpc->err_buf, sizeof rpc->err_buf);
}

static void on_stdout(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    transport_rpc *rpc = s->data;
    if (nread < 0) {
        if (nread != UV_EOF)
            log_warn("git", "%s: reading git %s output: %s", rpc->sp.full_id, rpc_name(rpc),
                     uv_strerror((int)nread));
        rpc->out_eof = true;
        rpc_close_handle(rpc, (uv_handle_t *)s);
        rpc_maybe_finish(rpc);
        return;
    }
    if (nread == 0 || !rpc->req)
        return; /* nobody to tell: drain so that the child can finish */
    rpc_begin_response(rpc);
    if (rpc->req && http_resp_write(rpc->req, b->base, (size_t)nread) == 1 && rpc->req) {
        uv_read_stop(s);
        rpc->out_paused = true;
    }
}

static void rpc_log_stderr_line(transport_rpc *rpc)
{
    if (rpc->err_line.len == 0)
        return;
    log_warn("git", "%s: git %s: %s", rpc->sp.full_id, rpc_name(rpc), rpc->err_line.data);
    buf_reset(&rpc->err_line);
}

static void on_stderr(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    transport_rpc *rpc = s->data;
    if (nread < 0) {
        rpc_log_stderr_line(rpc);
        rpc->err_eof = true;
        rpc_close_handle(rpc, (uv_handle_t *)s);
        return;
    }
    for (ssize_t i = 0; i < nread; i++) {
        char ch = b->base[i];
        if (ch == '\n' || ch == '\r') {
            rpc_log_stderr_line(rpc);
            continue;
        }
        if (rpc->err_line.len >= STDERR_LINE_MAX)
            rpc_log_stderr_line(rpc);
        buf_append(&rpc->err_line, &ch, 1);
    }
}

/* GIT_PROTOCOL carries the client's Git-Protocol header (protocol v2); only
 * the characters git uses there are passed on. */
static bool protocol_valid(const char *value)
{
    size_t len = strlen(value);
    if (len == 0 || len > PROTOCOL_MAX)
        return false;
    return strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789=:._-") ==
           len;
}

static bool protocol_is_v2(const char *value)
{
    for (const char *p = value; p; p = strchr(p, ':')) {
        if (*p == ':')
            p++;
        if (strncmp(p, "version=2", 9) == 0 && (p[9] == ':' || p[9] == '\0'))
            return true;
    }
    return false;
}

/* Starts git with a small environment of its own: the daemon's variables
 * (sanitizer options, tokens) are none of git's business. A push also gets
 * what its post-receive hook needs: the data directory, the space and the
 * report file. */
static int rpc_spawn(transport_rpc *rpc, const char *protocol, const char *user)
{
    const char *path = getenv("PATH");
    char env_path[4096], env_proto[PROTOCOL_MAX + 16], env_name[160], env_email[180];
    char env_data[4200], env_space[64], env_report[4300], hooks_path[4300];
    snprintf(env_path, sizeof env_path, "PATH=%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
    /* Reflog entries name the pusher, as git http-backend does with REMOTE_USER. */
    snprintf(env_name, sizeof env_name, "GIT_COMMITTER_NAME=%s", user ? user : "anonymous");
    snprintf(env_email, sizeof env_email, "GIT_COMMITTER_EMAIL=%s@hangar",
             user ? user : "anonymous");
    char *env[8] = {env_path, env_name, env_email, NULL};
    int nenv = 3;
    if (protocol) {
        snprintf(env_proto, sizeof env_proto, "GIT_PROTOCOL=%s", protocol);
        env[nenv++] = env_proto;
    }
    /* Without a hooks directory (transport_init failed) the push runs unscanned. */
    bool scan = rpc->service == SVC_RECEIVE_PACK && !rpc->advertise && hooks.hooks_dir[0];
    char *args[12] = {"git", "-c", "receive.denyDeleteCurrent=refuse"}; /* HF keeps main */
    int nargs = 3;
    if (scan) {
        snprintf(hooks_path, sizeof hooks_path, "core.hooksPath=%s", hooks.hooks_dir);
        args[nargs++] = "-c";
        args[nargs++] = hooks_path;
        snprintf(rpc->scan_report, sizeof rpc->scan_report, "%s/%d-%lu.json", hooks.scan_dir,
                 (int)getpid(), ++hooks.scans);
        unlink(rpc->scan_report); /* left by an earlier daemon with this pid */
        snprintf(env_data, sizeof env_data, "HANGAR_DATA=%s", hooks.data_dir);
        snprintf(env_space, sizeof env_space, "HANGAR_SCAN_SPACE=%lld", (long long)rpc->sp.id);
        snprintf(env_report, sizeof env_report, "HANGAR_SCAN_REPORT=%s", rpc->scan_report);
        env[nenv++] = env_data;
        env[nenv++] = env_space;
        env[nenv++] = env_report;
    }
    args[nargs++] = (char *)service_names[rpc->service];
    args[nargs++] = "--stateless-rpc";
    if (rpc->advertise)
        args[nargs++] = "--advertise-refs";
    args[nargs++] = "."; /* cwd: data_dir may be relative */

    uv_stdio_container_t stdio[3];
    stdio[0].flags = rpc->has_stdin ? UV_CREATE_PIPE | UV_READABLE_PIPE : UV_IGNORE;
    stdio[0].data.stream = (uv_stream_t *)&rpc->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&rpc->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&rpc->err;

    uv_process_options_t opts = {0};
    opts.exit_cb = on_child_exit;
    opts.file = "git";
    opts.args = args;
    opts.env = env;
    opts.cwd = rpc->repo;
    /* Its own session: a ^C on the daemon's terminal must not cut a push that
     * graceful shutdown would let finish, and one signal reaches its children. */
    opts.flags = UV_PROCESS_DETACHED;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    return uv_spawn(rpc->app->loop, &rpc->proc, &opts);
}

/* ---- request body ---------------------------------------------------------- */

static void on_stdin_written(uv_write_t *w, int status)
{
    stdin_write *sw = (stdin_write *)w;
    transport_rpc *rpc = sw->rpc;
    rpc->in_queue -= sw->len;
    free(sw);
    if (status < 0 && !rpc->in_broken) {
        if (status != UV_ECANCELED)
            log_info("git", "%s: git %s stopped reading its input: %s", rpc->sp.full_id,
                     rpc_name(rpc), uv_strerror(status));
        rpc->in_broken = true;
        rpc_close_stdin(rpc, true);
    }
    rpc_flow(rpc);
}

/* Queues bytes for the child's stdin; false when it failed (answered). */
static bool rpc_feed(transport_rpc *rpc, const char *data, size_t len)
{
    if (rpc->in_broken || rpc->in_closing || len == 0)
        return true;
    if (rpc->body_sent + len > rpc->body_max) {
        char message[128];
        snprintf(message, sizeof message, "Request body over the %llu MiB limit",
                 (unsigned long long)(rpc->body_max >> 20));
        rpc_fail(rpc, 413, message);
        return false;
    }
    stdin_write *sw = malloc(sizeof *sw + len);
    if (!sw) {
        rpc_fail(rpc, 500, "out of memory");
        return false;
    }
    sw->rpc = rpc;
    sw->len = len;
    memcpy(sw->data, data, len);
    uv_buf_t b = uv_buf_init(sw->data, (unsigned)len);
    int rc = uv_write(&sw->req, (uv_stream_t *)&rpc->in, &b, 1, on_stdin_written);
    if (rc < 0) {
        free(sw);
        log_info("git", "%s: git %s input closed: %s", rpc->sp.full_id, rpc_name(rpc),
                 uv_strerror(rc));
        rpc->in_broken = true;
        rpc_close_stdin(rpc, true);
        return true;
    }
    rpc->in_queue += len;
    rpc->body_sent += len;
    return true;
}

/* Inflates what the stdin queue has room for; false when it failed (answered). */
static bool rpc_inflate(transport_rpc *rpc)
{
    char out[READ_CHUNK];
    while (rpc->zin.len > 0 && !rpc->gzip_done && rpc->in_queue < STDIN_HIGH_WATER &&
           !rpc->in_broken && !rpc->in_closing) {
        rpc->zs.next_in = (Bytef *)rpc->zin.data;
        rpc->zs.avail_in = (uInt)rpc->zin.len;
        rpc->zs.next_out = (Bytef *)out;
        rpc->zs.avail_out = sizeof out;
        int zrc = inflate(&rpc->zs, Z_NO_FLUSH);
        size_t used = rpc->zin.len - rpc->zs.avail_in;
        size_t made = sizeof out - rpc->zs.avail_out;
        buf_consume(&rpc->zin, used);
        if (zrc == Z_STREAM_END) {
            rpc->gzip_done = true;
            buf_reset(&rpc->zin); /* git sends one member; anything after is noise */
        } else if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            rpc_fail(rpc, 400, "Request body is not valid gzip");
            return false;
        }
        if (!rpc_feed(rpc, out, made))
            return false;
        if (used == 0 && made == 0)
            break;
    }
    return true;
}

/* Moves the body along: inflates pending input, gives the child EOF at the
 * end, and resumes the client once the child caught up. */
static void rpc_flow(transport_rpc *rpc)
{
    if (rpc->gzip && !rpc_inflate(rpc))
        return;
    bool pending = rpc->gzip && rpc->zin.len > 0 && !rpc->in_broken;
    if (rpc->body_done && !pending && rpc->req) {
        if (rpc->gzip && !rpc->gzip_done && !rpc->in_broken) {
            rpc_fail(rpc, 400, "Request body ends inside its gzip stream");
            return;
        }
        rpc_close_stdin(rpc, false);
    }
    if (rpc->req && rpc->req_paused && rpc->in_queue < STDIN_LOW_WATER && !pending) {
        rpc->req_paused = false;
        /* May run on_body and on_body_end right here: keep this last. */
        http_request_resume(rpc->req);
    }
}

static int on_body(http_request *req, const char *data, size_t len)
{
    transport_rpc *rpc = req->ctx;
    if (rpc->gzip) {
        if (rpc->in_broken)
            return 0;
        if (buf_append(&rpc->zin, data, len) < 0) {
            rpc_fail(rpc, 500, "out of memory");
            return 0;
        }
        if (!rpc_inflate(rpc))
            return 0;
    } else if (!rpc_feed(rpc, data, len)) {
        return 0;
    }
    if (rpc->req && !rpc->req_paused &&
        (rpc->in_queue >= STDIN_HIGH_WATER || rpc->zin.len >= STDIN_HIGH_WATER)) {
        rpc->req_paused = true;
        http_request_pause(req);
    }
    return 0;
}

static void on_body_end(http_request *req)
{
    transport_rpc *rpc = req->ctx;
    rpc->body_done = true;
    rpc_flow(rpc);
}

static void on_drain(http_request *req)
{
    transport_rpc *rpc = req->ctx;
    if (rpc->out_paused && !rpc->out_eof) {
        rpc->out_paused = false;
        uv_read_start((uv_stream_t *)&rpc->out, on_alloc_out, on_stdout);
    }
}

static void on_abort(http_request *req)
{
    transport_rpc *rpc = req->ctx;
    rpc_detach(rpc);
    /* Keep reading the child's output (and dropping it) so it never blocks. */
    if (rpc->out_paused && !rpc->out_eof) {
        rpc->out_paused = false;
        uv_read_start((uv_stream_t *)&rpc->out, on_alloc_out, on_stdout);
    }
    if (rpc->exited)
        return;
    if (rpc->service == SVC_RECEIVE_PACK && !rpc->advertise && rpc->body_done) {
        log_info("git", "%s: connection ended after the whole push arrived; letting git %s finish",
                 rpc->sp.full_id, rpc_name(rpc));
        return;
    }
    log_info("git", "%s: connection ended during git %s%s; stopping it", rpc->sp.full_id,
             rpc_name(rpc), rpc->advertise ? " --advertise-refs" : "");
    rpc_stop_child(rpc);
}

/* ---- routing -------------------------------------------------------------- */

static void on_body_ignored(http_request *req)
{
    (void)req;
}

static int on_body_dropped(http_request *req, const char *data, size_t len)
{
    (void)req;
    (void)data;
    (void)len;
    return 0;
}

static transport_rpc *rpc_new(http_request *req, const space *sp, transport_service service,
                              bool advertise)
{
    transport_rpc *rpc = calloc(1, sizeof *rpc);
    if (!rpc)
        return NULL;
    rpc->req = req;
    rpc->app = app_of(req);
    rpc->sp = *sp;
    rpc->service = service;
    rpc->advertise = advertise;
    rpc->has_stdin = !advertise;
    rpc->body_max = service == SVC_RECEIVE_PACK ? PUSH_BODY_MAX : FETCH_BODY_MAX;
    buf_init(&rpc->zin);
    buf_init(&rpc->err_line);
    api_space_repo_path(req, sp, rpc->repo, sizeof rpc->repo);
    return rpc;
}

/* Starts the child and wires the request to it; answers on failure. */
static void rpc_start(http_request *req, transport_rpc *rpc, const char *protocol)
{
    uv_loop_t *loop = rpc->app->loop;
    uv_handle_t *handles[] = {(uv_handle_t *)&rpc->proc, (uv_handle_t *)&rpc->in,
                              (uv_handle_t *)&rpc->out, (uv_handle_t *)&rpc->err,
                              (uv_handle_t *)&rpc->kill_timer};
    uv_pipe_init(loop, &rpc->in, 0);
    uv_pipe_init(loop, &rpc->out, 0);
    uv_pipe_init(loop, &rpc->err, 0);
    uv_timer_init(loop, &rpc->kill_timer);
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        handles[i]->data = rpc;
    rpc->open_handles = 5;

    req->ctx = rpc;
    req->on_abort = on_abort;
    req->on_drain = on_drain;
    req->on_body = rpc->advertise ? on_body_dropped : on_body;
    req->on_body_end = rpc->advertise ? on_body_ignored : on_body_end;

    int rc = rpc_spawn(rpc, protocol, req->user);
    if (rc < 0) {
        /* uv_spawn leaves the process handle initialised: close it with the rest. */
        log_error("git", "%s: cannot start git %s: %s", rpc->sp.full_id, rpc_name(rpc),
                  uv_strerror(rc));
        api_error(rpc_detach(rpc), 500, NULL, "Cannot start git");
        for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
            rpc_close_handle(rpc, handles[i]);
        return;
    }
    if (!rpc->has_stdin)
        rpc_close_handle(rpc, (uv_handle_t *)&rpc->in);
    uv_read_start((uv_stream_t *)&rpc->out, on_alloc_out, on_stdout);
    uv_read_start((uv_stream_t *)&rpc->err, on_alloc_err, on_stderr);
    log_debug("git", "%s: git %s%s for %s (pid %d)", rpc->sp.full_id, rpc_name(rpc),
              rpc->advertise ? " --advertise-refs" : "", req->user ? req->user : "anonymous",
              rpc->proc.pid);
}

/* Which git endpoint a path under /spaces/ names: the tail after
 * /spaces/<owner>/<name>[.git]. */
typedef enum { EP_NONE, EP_INFO_REFS, EP_UPLOAD_PACK, EP_RECEIVE_PACK } transport_endpoint;

static transport_endpoint parse_path(const char *path, char owner[SPACE_NAME_MAX + 1],
                                     char name[SPACE_NAME_MAX + 1], bool *name_ok)
{
    static const struct {
        const char *tail;
        transport_endpoint ep;
    } tails[] = {{"/info/refs", EP_INFO_REFS},
                 {"/git-upload-pack", EP_UPLOAD_PACK},
                 {"/git-receive-pack", EP_RECEIVE_PACK}};
    const char *o = path + strlen("/spaces/");
    const char *slash = strchr(o, '/');
    if (!slash)
        return EP_NONE;
    const char *n = slash + 1;
    const char *nend = strchr(n, '/');
    if (!nend)
        return EP_NONE;
    transport_endpoint ep = EP_NONE;
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++)
        if (strcmp(nend, tails[i].tail) == 0)
            ep = tails[i].ep;
    if (ep == EP_NONE)
        return EP_NONE;
    size_t olen = (size_t)(slash - o), nlen = (size_t)(nend - n);
    if (nlen > 4 && memcmp(nend - 4, ".git", 4) == 0)
        nlen -= 4;
    *name_ok = olen > 0 && olen <= SPACE_NAME_MAX && nlen > 0 && nlen <= SPACE_NAME_MAX;
    if (*name_ok) {
        memcpy(owner, o, olen);
        owner[olen] = '\0';
        memcpy(name, n, nlen);
        name[nlen] = '\0';
    }
    return ep;
}

/* The service of an info/refs request; answers and returns false when absent
 * (a dumb-HTTP client) or unknown. */
static bool parse_service(http_request *req, transport_service *service)
{
    char *svc = http_query_get(req, "service");
    bool ok = true;
    if (!svc) {
        api_error(req, 403, NULL,
                  "Dumb HTTP is not supported: use a git client that speaks smart HTTP");
        return false;
    }
    if (strcmp(svc, "git-upload-pack") == 0) {
        *service = SVC_UPLOAD_PACK;
    } else if (strcmp(svc, "git-receive-pack") == 0) {
        *service = SVC_RECEIVE_PACK;
    } else {
        api_error(req, 403, NULL, "Unsupported git service '%.64s'", svc);
        ok = false;
    }
    free(svc);
    return ok;
}

/* Checks the POST's content headers; answers and returns false when wrong. */
static bool check_post_headers(http_request *req, transport_service service, bool *gzip)
{
    char expected[64];
    snprintf(expected, sizeof expected, "application/x-git-%s-request", service_names[service]);
    const char *type = http_header_get(req, "Content-Type");
    if (!type || strcmp(type, expected) != 0) {
        api_error(req, 415, NULL, "Content-Type must be %s", expected);
        return false;
    }
    const char *encoding = http_header_get(req, "Content-Encoding");
    *gzip = encoding && (strcmp(encoding, "gzip") == 0 || strcmp(encoding, "x-gzip") == 0);
    if (encoding && !*gzip && strcmp(encoding, "identity") != 0) {
        api_error(req, 415, NULL, "Unsupported Content-Encoding '%.32s'", encoding);
        return false;
    }
    return true;
}

bool transport_route(http_request *req)
{
    char owner[SPACE_NAME_MAX + 1], name[SPACE_NAME_MAX + 1];
    bool name_ok = false;
    transport_endpoint ep = parse_path(req->path, owner, name, &name_ok);
    if (ep == EP_NONE)
        return false;
    bool advertise = ep == EP_INFO_REFS;
    if (req->method != (advertise ? HTTP_GET : HTTP_POST)) {
        req->on_complete = api_method_not_allowed;
        return true;
    }
    if (!name_ok) {
        api_error(req, 404, "RepoNotFound", "Repository not found");
        return true;
    }
    transport_service service = ep == EP_RECEIVE_PACK ? SVC_RECEIVE_PACK : SVC_UPLOAD_PACK;
    if (advertise && !parse_service(req, &service))
        return true;
    bool gzip = false;
    if (!advertise && !check_post_headers(req, service, &gzip))
        return true;

    auth_identity id;
    space sp;
    if (!api_space_load(req, owner, name, service == SVC_RECEIVE_PACK ? API_WRITE : API_READ, &id,
                        &sp))
        return true;
    char tracked[1400];
    if (service == SVC_RECEIVE_PACK &&
        source_blocks_push(app_of(req), &sp, tracked, sizeof tracked)) {
        /* git prints a text/plain error body to the user as "remote: ..." */
        strncat(tracked, "\n", sizeof tracked - strlen(tracked) - 1);
        http_respond(req, 403, "text/plain; charset=utf-8", tracked, strlen(tracked));
        return true;
    }

    const char *protocol = http_header_get(req, "Git-Protocol");
    if (protocol && !protocol_valid(protocol))
        protocol = NULL;
    transport_rpc *rpc = rpc_new(req, &sp, service, advertise);
    if (!rpc) {
        api_error(req, 500, NULL, "Out of memory");
        return true;
    }
    if (gzip) {
        /* 16 + MAX_WBITS: a gzip wrapper, as git sends. */
        if (inflateInit2(&rpc->zs, 16 + MAX_WBITS) != Z_OK) {
            rpc_free(rpc);
            api_error(req, 500, NULL, "Cannot set up gzip decoding");
            return true;
        }
        rpc->gzip = true;
    }
    /* A v2 advertisement is the capability list alone, as git http-backend sends. */
    if (advertise && !(service == SVC_UPLOAD_PACK && protocol && protocol_is_v2(protocol))) {
        int n = snprintf(rpc->prefix, sizeof rpc->prefix, "0000# service=git-%s\n0000",
                         service_names[service]);
        /* The pkt-line length covers its own 4 hex digits. */
        char len[5];
        snprintf(len, sizeof len, "%04x", n - 4);
        memcpy(rpc->prefix, len, 4);
        rpc->prefix_len = (size_t)n;
    }
    rpc_start(req, rpc, protocol);
    return true;
}

/* Writes DATA/hooks/post-receive, which runs this very binary's scan: written
 * at every start, so that it names the binary that is running now. */
static int write_hook(const char *exe)
{
    char path[4300], tmp[4400];
    snprintf(path, sizeof path, "%s/post-receive", hooks.hooks_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -1;
    /* The path in single quotes; a quote in it is closed, escaped, reopened. */
    fputs("#!/bin/sh\n# Written by hangar serve: scans each push for credentials.\nexec '", f);
    for (const char *p = exe; *p; p++)
        if (*p == '\'')
            fputs("'\\''", f);
        else
            fputc(*p, f);
    fprintf(f, "' %s\n", SCAN_HOOK_COMMAND);
    int rc = ferror(f) ? -1 : 0;
    if (fclose(f) != 0 || rc < 0 || chmod(tmp, 0755) < 0 || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Reports a killed daemon never read: their pushes are long answered. */
static void remove_stale_reports(void)
{
    DIR *d = opendir(hooks.scan_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

int transport_init(app *a)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || !realpath(a->config.data_dir, hooks.data_dir)) {
        log_error("git", "cannot find this binary or the data directory: pushes are not scanned "
                         "for credentials");
        return -1;
    }
    exe[n] = '\0';
    snprintf(hooks.hooks_dir, sizeof hooks.hooks_dir, "%s/hooks", hooks.data_dir);
    snprintf(hooks.scan_dir, sizeof hooks.scan_dir, "%s/cache/scan", hooks.data_dir);
    if (util_mkdir_p(hooks.hooks_dir, 0700) < 0 || util_mkdir_p(hooks.scan_dir, 0700) < 0 ||
        write_hook(exe) < 0) {
        log_error("git",
                  "cannot write the post-receive hook in %s: %s; pushes are not scanned "
                  "for credentials",
                  hooks.hooks_dir, strerror(errno));
        hooks.hooks_dir[0] = '\0';
        return -1;
    }
    remove_stale_reports();
    return 0;
}
