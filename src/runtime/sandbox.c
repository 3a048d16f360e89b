/* sandbox: the daemon side of the sandbox driver; runtime.h is its interface,
 * sandbox.h describes the process tree and sandbox_exec.c the helper.
 *
 * An instance owns six libuv handles: the helper process, its stdout and
 * stderr pipes, the spec pipe, the status pipe and one timer (first the stop
 * grace period, then the cleanup ticks after the helper exited). on_exit runs
 * from the close callback of the last of them, once the helper has exited, the
 * output is drained and the cgroup is gone, so that the caller may free the
 * instance inside on_exit. */
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "runtime/cgroup.h"
#include "runtime/sandbox.h"
#include "lib/lines.h"
#include "lib/util.h"

#define RUNTIME_LINE_MAX 8192 /* longer output lines are delivered in pieces */
#define SANDBOX_STATUS_LINE_MAX 128
#define SANDBOX_READ_SIZE 65536
#define SANDBOX_CLEANUP_TICK_MS 10
#define SANDBOX_CLEANUP_MAX_MS 5000 /* after the helper exited */
#define SANDBOX_NAME_MAX 100

enum { STREAM_STDOUT = 1, STREAM_STDERR = 2, STREAM_STATUS = 3 };

typedef struct sandbox_instance sandbox_instance;

struct sandbox_instance {
    runtime_instance base; /* first: runtime.c dispatches on base.driver */
    uv_loop_t *loop;
    runtime_callbacks cb;
    void *arg;
    char name[SANDBOX_NAME_MAX + 1];
    bool host_network;
    cgroup cg;

    uv_process_t proc;
    uv_pipe_t out[2]; /* the app's stdout and stderr */
    uv_pipe_t spec_pipe;
    uv_pipe_t status_pipe;
    uv_timer_t timer;
    uv_write_t spec_write;
    char *spec_json;
    int open_handles;
    int open_pipes; /* out[0], out[1], status_pipe */

    lines_buf lines[3]; /* indexed by stream - 1 */
    char status_line[SANDBOX_STATUS_LINE_MAX];
    char read_buf[SANDBOX_READ_SIZE];

    pid_t pid;
    int netns_fd; /* the instance's network namespace, -1 until "ready" */
    bool ready;
    bool stopping;
    bool exited;
    bool cleaning; /* the timer runs cleanup ticks */
    bool timer_closed;
    bool cgroup_done;
    bool reported;
    bool free_pending; /* runtime_free before on_exit: free silently when closed */
    bool have_app_status;
    uint64_t cleanup_deadline;
    runtime_exit result;
    int64_t helper_status;
    int helper_signal;
};

static char *helper_path_override;

void sandbox_set_helper_path(const char *path)
{
    free(helper_path_override);
    helper_path_override = path ? strdup(path) : NULL;
}

/* hangar-sandbox beside the daemon's own binary, or "" when there is none
 * (looked up once). */
static const char *sibling_helper(void)
{
    static char path[PATH_MAX];
    static bool looked;
    if (looked)
        return path;
    looked = true;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return path;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return path;
    *slash = '\0';
    int len = snprintf(path, sizeof path, "%s/" SANDBOX_HELPER_BINARY, self);
    if (len < 0 || (size_t)len >= sizeof path || access(path, X_OK) < 0)
        path[0] = '\0';
    return path;
}

static const char *helper_path(void)
{
    if (helper_path_override)
        return helper_path_override;
    const char *env = getenv("HANGAR_SANDBOX_HELPER");
    if (env && *env)
        return env;
    const char *sibling = sibling_helper();
    return sibling[0] ? sibling : "/proc/self/exe";
}

/* ---- teardown ---------------------------------------------------------- */

static void instance_free(sandbox_instance *inst)
{
    for (int i = 0; i < 3; i++)
        free(inst->lines[i].data);
    free(inst->spec_json);
    if (inst->netns_fd >= 0)
        close(inst->netns_fd);
    free(inst);
}

/* Every handle is closed: report (or free silently after an early free). */
static void instance_finish(sandbox_instance *inst)
{
    if (inst->free_pending) {
        instance_free(inst);
        return;
    }
    inst->reported = true;
    /* the caller may free inst inside on_exit: nothing touches it after */
    if (inst->cb.on_exit)
        inst->cb.on_exit(&inst->base, &inst->result, inst->arg);
}

static void on_handle_closed(uv_handle_t *handle)
{
    sandbox_instance *inst = handle->data;
    if (--inst->open_handles == 0)
        instance_finish(inst);
}

static void close_handle(uv_handle_t *handle)
{
    if (!uv_is_closing(handle))
        uv_close(handle, on_handle_closed);
}

/* ---- output lines ------------------------------------------------------ */

static void status_line(sandbox_instance *inst, const char *line, size_t len);

static void emit_line(sandbox_instance *inst, int stream, const char *line, size_t len)
{
    if (inst->free_pending)
        return;
    if (stream == STREAM_STATUS)
        status_line(inst, line, len);
    else if (inst->cb.on_line)
        inst->cb.on_line(&inst->base, stream, line, len, inst->arg);
}

typedef struct line_target {
    sandbox_instance *inst;
    int stream;
} line_target;

static void emit_target(void *ctx, const char *line, size_t len)
{
    line_target *t = ctx;
    emit_line(t->inst, t->stream, line, len);
}

static void lines_in(sandbox_instance *inst, int stream, const char *data, size_t n)
{
    line_target t = {inst, stream};
    lines_feed(&inst->lines[stream - 1], data, n, emit_target, &t);
}

static void lines_end(sandbox_instance *inst, int stream)
{
    line_target t = {inst, stream};
    lines_flush(&inst->lines[stream - 1], emit_target, &t);
}

static int stream_of(sandbox_instance *inst, uv_stream_t *s)
{
    if (s == (uv_stream_t *)&inst->out[0])
        return STREAM_STDOUT;
    if (s == (uv_stream_t *)&inst->out[1])
        return STREAM_STDERR;
    return STREAM_STATUS;
}

static void cleanup_kick(sandbox_instance *inst);

static void close_pipe(sandbox_instance *inst, uv_stream_t *s)
{
    if (uv_is_closing((uv_handle_t *)s))
        return;
    lines_end(inst, stream_of(inst, s));
    inst->open_pipes--;
    close_handle((uv_handle_t *)s);
    cleanup_kick(inst);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    sandbox_instance *inst = handle->data;
    (void)suggested;
    /* libuv reads one stream at a time and hands the buffer back at once */
    *buf = uv_buf_init(inst->read_buf, sizeof inst->read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sandbox_instance *inst = s->data;
    if (nread > 0) {
        lines_in(inst, stream_of(inst, s), buf->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return;
    if (nread != UV_EOF)
        log_error("sandbox", "%s: read output: %s", inst->name, uv_strerror((int)nread));
    close_pipe(inst, s);
}

/* ---- status from the helper ------------------------------------------- */

static void netns_open(sandbox_instance *inst)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)inst->pid);
    /* the helper is not reaped until our exit callback ran, so the pid is
     * still its own; a helper that died already has no namespace links */
    inst->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (inst->netns_fd >= 0)
        return;
    if (errno == ENOENT) /* it exited at once: its exit callback follows */
        log_debug("sandbox", "%s: helper gone before its namespace was opened", inst->name);
    else
        log_error("sandbox", "%s: open %s: %s", inst->name, path, strerror(errno));
}

static void status_line(sandbox_instance *inst, const char *line, size_t len)
{
    char text[SANDBOX_STATUS_LINE_MAX];
    snprintf(text, sizeof text, "%.*s", (int)len, line);
    int code, sig;
    if (strcmp(text, "ready") == 0) {
        if (!inst->host_network && !inst->exited)
            netns_open(inst);
        inst->ready = inst->host_network || inst->netns_fd >= 0;
    } else if (sscanf(text, "exit %d %d", &code, &sig) == 2) {
        inst->have_app_status = true;
        inst->result.status = code;
        inst->result.term_signal = sig;
    } else {
        log_warn("sandbox", "%s: unknown status line '%s'", inst->name, text);
    }
}

/* ---- exit and cleanup --------------------------------------------------- */

/* The app's status as init reported it, else the helper's own. */
static void exit_settle(sandbox_instance *inst)
{
    if (inst->have_app_status)
        return;
    inst->result.status = inst->helper_signal ? -1 : inst->helper_status;
    inst->result.term_signal = inst->helper_signal;
}

static void cleanup_tick(uv_timer_t *timer)
{
    sandbox_instance *inst = timer->data;
    int remove_err = 0;
    if (!inst->cgroup_done) {
        cgroup_kill(&inst->cg);
        inst->cgroup_done = cgroup_remove(&inst->cg) == 0;
        remove_err = errno;
    }
    bool late = uv_now(inst->loop) >= inst->cleanup_deadline;
    if (!(inst->cgroup_done && inst->open_pipes == 0) && !late) {
        uv_timer_start(&inst->timer, cleanup_tick, SANDBOX_CLEANUP_TICK_MS, 0);
        return;
    }
    if (!inst->cgroup_done)
        log_error("sandbox", "%s: cgroup %s not removed: %s", inst->name, inst->cg.dirs[0],
                  strerror(remove_err));
    if (inst->open_pipes > 0)
        log_warn("sandbox", "%s: output still open %d ms after exit; closing it", inst->name,
                 SANDBOX_CLEANUP_MAX_MS);
    inst->timer_closed = true;
    close_pipe(inst, (uv_stream_t *)&inst->out[0]);
    close_pipe(inst, (uv_stream_t *)&inst->out[1]);
    close_pipe(inst, (uv_stream_t *)&inst->status_pipe);
    exit_settle(inst);
    close_handle((uv_handle_t *)&inst->timer);
}

/* A pipe closed after the exit: look again now rather than at the next tick. */
static void cleanup_kick(sandbox_instance *inst)
{
    if (inst->cleaning && !inst->timer_closed)
        uv_timer_start(&inst->timer, cleanup_tick, 0, 0);
}

static void on_helper_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
    sandbox_instance *inst = proc->data;
    inst->exited = true;
    inst->ready = false;
    inst->helper_status = exit_status;
    inst->helper_signal = term_signal;
    int sig = term_signal ? term_signal : (exit_status > 128 ? (int)exit_status - 128 : 0);
    /* read before the group is removed */
    inst->result.oom = cgroup_oom_killed(&inst->cg, sig);
    if (inst->netns_fd >= 0) {
        close(inst->netns_fd);
        inst->netns_fd = -1;
    }
    close_handle((uv_handle_t *)proc);
    inst->cleaning = true;
    inst->cleanup_deadline = uv_now(inst->loop) + SANDBOX_CLEANUP_MAX_MS;
    uv_timer_start(&inst->timer, cleanup_tick, 0, 0);
}

/* SIGKILL to the whole tree: the cgroup, and the helper should it be outside. */
static void kill_tree(sandbox_instance *inst)
{
    if (inst->exited || inst->pid <= 0)
        return;
    if (cgroup_kill(&inst->cg) < 0)
        log_error("sandbox", "%s: kill cgroup: %s", inst->name, strerror(errno));
    uv_process_kill(&inst->proc, SIGKILL);
}

static void on_grace_expired(uv_timer_t *timer)
{
    sandbox_instance *inst = timer->data;
    log_info("sandbox", "%s: still running after the grace period: killing it", inst->name);
    kill_tree(inst);
}

void sandbox_stop(runtime_instance *ri, uint64_t grace_ms)
{
    sandbox_instance *inst = (sandbox_instance *)ri;
    if (!inst || inst->exited)
        return;
    if (inst->stopping) {
        if (grace_ms == 0)
            kill_tree(inst); /* a second, impatient stop */
        return;
    }
    inst->stopping = true;
    int rc = uv_process_kill(&inst->proc, SIGTERM);
    if (rc < 0)
        log_warn("sandbox", "%s: SIGTERM: %s", inst->name, uv_strerror(rc));
    uv_timer_start(&inst->timer, on_grace_expired, grace_ms, 0);
}

void sandbox_free(runtime_instance *ri)
{
    sandbox_instance *inst = (sandbox_instance *)ri;
    if (!inst)
        return;
    if (inst->reported) {
        instance_free(inst);
        return;
    }
    /* still running: kill it and free it once its handles are closed */
    inst->free_pending = true;
    kill_tree(inst);
}

/* ---- start -------------------------------------------------------------- */

static bool name_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > SANDBOX_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (const char *p = name; *p; p++) {
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
            *p != '-' && *p != '_' && *p != '.')
            return false;
    }
    return true;
}

/* Absolute, and no "." or ".." component: the path means what it says. */
static bool path_valid(const char *path)
{
    if (!path || path[0] != '/')
        return false;
    for (const char *p = path; *p; p++) {
        if (*p != '/')
            continue;
        const char *c = p + 1;
        size_t len = strcspn(c, "/");
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
    }
    return true;
}

static int spec_check(const runtime_spec *spec, char *err, size_t errsize)
{
    if (!name_valid(spec->name)) {
        snprintf(err, errsize, "sandbox: invalid name (1-%d of [A-Za-z0-9._-])", SANDBOX_NAME_MAX);
        return -1;
    }
    if (!spec->argv || !spec->argv[0] || !spec->argv[0][0]) {
        snprintf(err, errsize, "sandbox %s: empty argv", spec->name);
        return -1;
    }
    if (!path_valid(spec->app_dir) || (spec->data_dir && !path_valid(spec->data_dir))) {
        snprintf(err, errsize, "sandbox %s: app_dir and data_dir must be absolute paths",
                 spec->name);
        return -1;
    }
    for (const char *const *p = spec->ro_binds; p && *p; p++) {
        if (!path_valid(*p) || strcmp(*p, "/") == 0) {
            snprintf(err, errsize, "sandbox %s: bad read-only bind '%s'", spec->name, *p);
            return -1;
        }
    }
    for (const char *const *p = spec->devices; p && *p; p++) {
        const char *base = strrchr(*p, '/');
        if (!path_valid(*p) || !base || !base[1] || strcmp(base, "/..") == 0) {
            snprintf(err, errsize, "sandbox %s: bad device '%s'", spec->name, *p);
            return -1;
        }
    }
    for (const char *const *p = spec->rw_binds; p && *p; p++) {
        if (!path_valid(*p) || strcmp(*p, "/") == 0) {
            snprintf(err, errsize, "sandbox %s: bad read-write bind '%s'", spec->name, *p);
            return -1;
        }
    }
    if (spec->uid == 0 || spec->gid == 0) {
        snprintf(err, errsize, "sandbox %s: refusing to run as uid or gid 0", spec->name);
        return -1;
    }
    return 0;
}

static json_t *strv_json(const char *const *v)
{
    json_t *arr = json_array();
    for (; arr && v && *v; v++) {
        json_t *s = json_string(*v);
        if (!s || json_array_append_new(arr, s) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* The environment and the secrets (the helper's spec pipe is private, so
 * they simply join it), with HOME=/tmp unless it says otherwise. */
static json_t *env_json(const char *const *env, const char *const *secrets)
{
    json_t *arr = strv_json(env);
    bool has_home = false;
    for (const char *const *p = env; p && *p; p++)
        has_home |= strncmp(*p, "HOME=", 5) == 0;
    for (const char *const *p = secrets; arr && p && *p; p++) {
        if (json_array_append_new(arr, json_string(*p)) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    if (arr && !has_home && json_array_append_new(arr, json_string("HOME=/tmp")) < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static char *spec_json(const runtime_spec *spec, const cgroup *cg)
{
    const char *dirs[CGROUP_MAX_DIRS + 1] = {0};
    for (int i = 0; i < cg->ndirs; i++)
        dirs[i] = cg->dirs[i];
    json_t *obj =
        json_pack("{s:s, s:s, s:s?, s:s?, s:o*, s:o*, s:o*, s:o*, s:o*, s:o*, s:b, s:I, s:I}",
                  "name", spec->name, "app_dir", spec->app_dir, "data_dir", spec->data_dir,
                  "hub_cache", spec->hub_cache, "ro_binds", strv_json(spec->ro_binds), "rw_binds",
                  strv_json(spec->rw_binds), "devices", strv_json(spec->devices), "argv",
                  strv_json(spec->argv), "env", env_json(spec->env, spec->secret_env), "cgroups",
                  strv_json(dirs), "host_network", spec->host_network, "uid", (json_int_t)spec->uid,
                  "gid", (json_int_t)spec->gid);
    if (!obj)
        return NULL;
    /* an array that failed (invalid UTF-8) is missing: refuse rather than guess */
    char *text = NULL;
    if (json_object_get(obj, "argv") && json_object_get(obj, "env") &&
        json_object_get(obj, "ro_binds") && json_object_get(obj, "rw_binds") &&
        json_object_get(obj, "devices") && json_object_get(obj, "cgroups"))
        text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return text;
}

static void on_spec_written(uv_write_t *req, int status)
{
    sandbox_instance *inst = req->data;
    if (status < 0)
        log_error("sandbox", "%s: send spec to the helper: %s", inst->name, uv_strerror(status));
    free(inst->spec_json);
    inst->spec_json = NULL;
    /* EOF tells the helper the spec is complete */
    close_handle((uv_handle_t *)&inst->spec_pipe);
}

static void handles_init(sandbox_instance *inst)
{
    uv_handle_t *handles[] = {(uv_handle_t *)&inst->out[0],    (uv_handle_t *)&inst->out[1],
                              (uv_handle_t *)&inst->spec_pipe, (uv_handle_t *)&inst->status_pipe,
                              (uv_handle_t *)&inst->timer,     (uv_handle_t *)&inst->proc};
    uv_pipe_init(inst->loop, &inst->out[0], 0);
    uv_pipe_init(inst->loop, &inst->out[1], 0);
    uv_pipe_init(inst->loop, &inst->spec_pipe, 0);
    uv_pipe_init(inst->loop, &inst->status_pipe, 0);
    uv_timer_init(inst->loop, &inst->timer);
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        handles[i]->data = inst;
    inst->open_handles = 5; /* the process handle counts once uv_spawn ran */
    inst->open_pipes = 3;
    inst->spec_write.data = inst;
}

static int spawn_helper(sandbox_instance *inst, char *err, size_t errsize)
{
    char ppid[32];
    snprintf(ppid, sizeof ppid, "%d", (int)getpid());
    const char *helper = helper_path();
    char *args[] = {(char *)helper, SANDBOX_HELPER_COMMAND, inst->name, ppid, NULL};
    uv_stdio_container_t stdio[5];
    memset(stdio, 0, sizeof stdio);
    stdio[0].flags = UV_IGNORE;
    uv_stream_t *streams[] = {NULL, (uv_stream_t *)&inst->out[0], (uv_stream_t *)&inst->out[1],
                              (uv_stream_t *)&inst->spec_pipe, (uv_stream_t *)&inst->status_pipe};
    for (int i = 1; i < 5; i++) {
        /* readable/writable as seen by the helper */
        stdio[i].flags =
            UV_CREATE_PIPE | (i == SANDBOX_SPEC_FD ? UV_READABLE_PIPE : UV_WRITABLE_PIPE);
        stdio[i].data.stream = streams[i];
    }
    uv_process_options_t opts;
    memset(&opts, 0, sizeof opts);
    opts.exit_cb = on_helper_exit;
    opts.file = helper;
    opts.args = args;
    opts.stdio = stdio;
    opts.stdio_count = 5;
    int rc = uv_spawn(inst->loop, &inst->proc, &opts);
    inst->open_handles++; /* initialised even when the spawn failed */
    inst->proc.data = inst;
    if (rc < 0) {
        snprintf(err, errsize, "sandbox %s: spawn helper %s: %s", inst->name, helper,
                 uv_strerror(rc));
        return -1;
    }
    inst->pid = inst->proc.pid;
    return 0;
}

/* Sends the spec (the pipe closes when it is written) and reads the output. */
static int streams_start(sandbox_instance *inst, char *err, size_t errsize)
{
    uv_buf_t buf = uv_buf_init(inst->spec_json, (unsigned)strlen(inst->spec_json));
    int rc = uv_write(&inst->spec_write, (uv_stream_t *)&inst->spec_pipe, &buf, 1, on_spec_written);
    if (rc < 0) {
        snprintf(err, errsize, "sandbox %s: send spec: %s", inst->name, uv_strerror(rc));
        close_handle((uv_handle_t *)&inst->spec_pipe);
        return -1;
    }
    uv_stream_t *readers[] = {(uv_stream_t *)&inst->out[0], (uv_stream_t *)&inst->out[1],
                              (uv_stream_t *)&inst->status_pipe};
    for (size_t i = 0; i < 3; i++) {
        rc = uv_read_start(readers[i], on_alloc, on_read);
        if (rc < 0) {
            snprintf(err, errsize, "sandbox %s: read helper output: %s", inst->name,
                     uv_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static sandbox_instance *instance_new(uv_loop_t *loop, const runtime_spec *spec,
                                      const runtime_callbacks *cb, void *arg)
{
    sandbox_instance *inst = calloc(1, sizeof *inst);
    if (!inst)
        return NULL;
    inst->base.driver = RUNTIME_DRIVER_SANDBOX;
    inst->loop = loop;
    if (cb)
        inst->cb = *cb;
    inst->arg = arg;
    snprintf(inst->name, sizeof inst->name, "%s", spec->name);
    inst->host_network = spec->host_network;
    inst->netns_fd = -1;
    for (int i = 0; i < 3; i++) {
        inst->lines[i].cap = i == STREAM_STATUS - 1 ? SANDBOX_STATUS_LINE_MAX : RUNTIME_LINE_MAX;
        inst->lines[i].data = malloc(inst->lines[i].cap);
        if (!inst->lines[i].data) {
            instance_free(inst);
            return NULL;
        }
    }
    return inst;
}

/* A start that failed after the handles were made. Without a helper the
 * group goes now and the memory once libuv has closed the handles; a helper
 * that runs is killed and the usual exit path cleans up. No callback reaches
 * the caller either way. */
static void start_abort(sandbox_instance *inst)
{
    inst->free_pending = true;
    if (inst->pid > 0) {
        kill_tree(inst);
        return;
    }
    inst->exited = true;
    if (cgroup_remove(&inst->cg) < 0)
        log_error("sandbox", "%s: remove cgroup: %s", inst->name, strerror(errno));
    uv_handle_t *handles[] = {(uv_handle_t *)&inst->out[0],    (uv_handle_t *)&inst->out[1],
                              (uv_handle_t *)&inst->spec_pipe, (uv_handle_t *)&inst->status_pipe,
                              (uv_handle_t *)&inst->timer,     (uv_handle_t *)&inst->proc};
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        close_handle(handles[i]);
}

int sandbox_start(uv_loop_t *loop, const runtime_spec *spec, const runtime_callbacks *cb, void *arg,
                  runtime_instance **out, char *err, size_t errsize)
{
    *out = NULL;
    if (spec_check(spec, err, errsize) < 0)
        return -1;
    sandbox_instance *inst = instance_new(loop, spec, cb, arg);
    if (!inst) {
        snprintf(err, errsize, "sandbox %s: out of memory", spec->name);
        return -1;
    }
    cgroup_limits limits = {spec->memory_bytes, spec->cpus, spec->pids_max};
    if (cgroup_create(&inst->cg, spec->name, &limits, err, errsize) < 0) {
        instance_free(inst);
        return -1;
    }
    inst->spec_json = spec_json(spec, &inst->cg);
    if (!inst->spec_json) {
        snprintf(err, errsize, "sandbox %s: spec not encodable (strings must be UTF-8)",
                 spec->name);
        cgroup_remove(&inst->cg);
        instance_free(inst);
        return -1;
    }
    handles_init(inst);
    if (spawn_helper(inst, err, errsize) < 0 || streams_start(inst, err, errsize) < 0) {
        log_error("sandbox", "%s", err);
        start_abort(inst);
        return -1;
    }
    log_info("sandbox", "%s: started, helper pid %d", inst->name, (int)inst->pid);
    *out = &inst->base;
    return 0;
}

/* ---- connections and ports --------------------------------------------- */

int sandbox_connect(runtime_instance *ri, int port, uv_tcp_t *handle, uv_connect_t *req,
                    uv_connect_cb cb)
{
    sandbox_instance *inst = (sandbox_instance *)ri;
    if (inst->exited || inst->stopping)
        return UV_ESRCH;
    if (!inst->ready)
        return UV_EAGAIN;
    if (port <= 0 || port > 65535)
        return UV_EINVAL;
    return runtime_netns_connect(inst->host_network ? -1 : inst->netns_fd, port, handle, req, cb);
}

int sandbox_netns(runtime_instance *ri)
{
    sandbox_instance *inst = (sandbox_instance *)ri;
    if (inst->exited || inst->stopping)
        return UV_ESRCH;
    if (!inst->ready)
        return UV_EAGAIN;
    return inst->host_network ? -1 : inst->netns_fd;
}

int sandbox_listening_ports(runtime_instance *ri, int *ports, int max)
{
    sandbox_instance *inst = (sandbox_instance *)ri;
    if (inst->exited || inst->pid <= 0)
        return UV_ESRCH;
    if (!inst->ready)
        return UV_EAGAIN; /* the helper may not have unshared yet */
    return runtime_netns_ports(inst->pid, ports, max);
}

pid_t sandbox_pid(runtime_instance *ri)
{
    sandbox_instance *inst = (sandbox_instance *)ri;
    return inst->pid;
}

/* ---- probe --------------------------------------------------------------- */

/* Makes the namespaces and a private mount in a throwaway child. Runs once
 * at start-up, before the loop: it may wait for that child. */
static int probe_namespaces(char *err, size_t errsize)
{
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errsize, "sandbox probe: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET;
        if (unshare(flags) < 0)
            _exit(1);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", "/tmp", "tmpfs", 0, "size=4k") < 0)
            _exit(2);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 0)
        return 0;
    snprintf(err, errsize,
             "sandbox probe: %s (the sandbox runtime needs root with "
             "CAP_SYS_ADMIN)",
             code == 1 ? "cannot create namespaces"
                       : "cannot mount in a "
                         "new mount namespace");
    return -1;
}

int sandbox_probe(char *err, size_t errsize)
{
    if (probe_namespaces(err, errsize) < 0)
        return -1;
    char why[256];
    cgroup_version version = cgroup_detect(why, sizeof why);
    if (version == CGROUP_NONE) {
        snprintf(err, errsize, "sandbox probe: %s", why);
        return -1;
    }
    const char *helper = helper_path();
    if (access(helper, X_OK) < 0) {
        snprintf(err, errsize, "sandbox probe: helper %s: %s", helper, strerror(errno));
        return -1;
    }
    log_info("sandbox", "namespaces usable, cgroup v%d, helper %s", (int)version, helper);
    return 0;
}
