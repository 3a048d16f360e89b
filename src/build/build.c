#include "build/build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/vault.h"
#include "git/lfs.h"
#include "git/repo.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "runtime/oci.h"
#include "store/store.h"

#define BUILD_TIMEOUT_S (30 * 60) /* unless --build-timeout says otherwise */
#define READY_MARK ".hangar-ready"
#define MAX_STEPS 4
#define MAX_ARGS 24                       /* of an environment step */
#define MAX_IMAGE_ARGS 1100               /* of an image build: a build arg per variable */
#define MAX_BUILD_ENV 512                 /* variables and secrets of an image build */
#define BUILD_MEMORY_DEFAULT (4ULL << 30) /* unless --build-memory says otherwise */
#define BUILD_PIDS_MAX 4096

typedef struct build_step {
    char **argv;      /* NULL-terminated, owned */
    const char *what; /* for the log: "creating the environment" */
    bool oci;         /* the container engine: its configuration goes in the environment */
    bool sandboxed;   /* runs in the sandbox as BUILD_UID (environment steps) */
} build_step;

struct build_job {
    app *a;
    space sp;
    char sha[41];
    logs_stream *log;
    build_done_cb cb;
    void *arg;
    build_result result;
    char *readme;
    size_t readme_len;
    /* checkout, in the thread pool */
    uv_work_t work;
    int checkout_rc;
    char checkout_err[512];
    /* environment steps, as child processes */
    build_step steps[MAX_STEPS];
    int nsteps, step;
    struct step_proc *running;
    int open_handles; /* handles (steps, timer) whose close is pending */
    uv_timer_t timer;
    bool timer_open;
    bool cancelled, timed_out, finished;
    bool fresh;
    char final_env_dir[4096]; /* where a fresh environment goes when it is ready */
    char secrets_dir[4200];   /* build secrets of an image build, "" when none */
    char cgroup_parent[128];  /* cgroup of an image build's RUN steps, "" when none */
    char uv_cache[4200];      /* the download cache of uv, shared by all builds */
    char tmp_dir[4200];       /* TMPDIR of sandboxed steps, "" when none */
    uv_work_t prep;           /* makes the directories a sandboxed build writes */
    int prep_errno;
    char prep_what[4300];
    uint64_t started_ms;
};

static void finish(build_job *job);
static void maybe_report(build_job *job);

static void fail(build_job *job, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(build_job *job, const char *stage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(job->result.error, sizeof job->result.error, fmt, ap);
    va_end(ap);
    job->result.ok = false;
    job->result.error_stage = stage;
    logs_appendf(job->log, "%s: %s", stage, job->result.error);
    finish(job);
}

/* ---- checkout (thread pool) ---------------------------------------------- */

static int write_blob(git_repository *repo, const git_tree_entry *entry, const char *path)
{
    git_blob *blob = NULL;
    if (git_blob_lookup(&blob, repo, git_tree_entry_id(entry)) < 0)
        return -1;
    int rc = -1;
    if (git_tree_entry_filemode(entry) == GIT_FILEMODE_LINK) {
        /* Symlinks are written as plain files holding their target: a link in a
         * repository must never point the build at a path outside the space. */
        rc = 0;
    }
    mode_t mode = git_tree_entry_filemode(entry) == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd >= 0) {
        const char *data = git_blob_rawcontent(blob);
        size_t left = (size_t)git_blob_rawsize(blob);
        rc = 0;
        while (left > 0) {
            ssize_t n = write(fd, data, left);
            if (n < 0) {
                rc = -1;
                break;
            }
            data += n;
            left -= (size_t)n;
        }
        close(fd);
    } else {
        rc = -1;
    }
    git_blob_free(blob);
    return rc;
}

typedef struct checkout_walk {
    git_repository *repo;
    const char *root;
    const char *data_dir;
    int failed;
    char missing[600]; /* "<file> (LFS object <oid>)" whose object is not stored */
} checkout_walk;

/* An LFS pointer becomes its object: a hard link into the store when it is on
 * the same file system (no copy, and the app sees the real bytes), a copy
 * otherwise. 0 when the blob is no pointer (write it), 1 when done, -1 on
 * error (w->missing set when the object is not stored). */
static int checkout_lfs(checkout_walk *w, const git_tree_entry *entry, const char *file,
                        const char *path)
{
    git_odb *odb = NULL;
    git_odb_object *obj = NULL;
    char oid[LFS_OID_LEN + 1];
    int64_t size;
    int rc = 0;
    if (git_repository_odb(&odb, w->repo) < 0)
        return -1;
    size_t len = 0;
    git_object_t type;
    if (git_odb_read_header(&len, &type, odb, git_tree_entry_id(entry)) < 0 ||
        len < LFS_POINTER_MIN || len > LFS_POINTER_MAX ||
        git_odb_read(&obj, odb, git_tree_entry_id(entry)) < 0 ||
        lfs_pointer_parse(git_odb_object_data(obj), git_odb_object_size(obj), oid, &size) < 0)
        goto done;
    rc = lfs_object_materialize(w->data_dir, oid, path);
    if (rc == 1) {
        snprintf(w->missing, sizeof w->missing, "%.400s (LFS object %s)", file, oid);
        rc = -1;
    } else if (rc == 0) {
        rc = 1;
    }
done:
    git_odb_object_free(obj);
    git_odb_free(odb);
    return rc;
}

static int checkout_cb(const char *dir, const git_tree_entry *entry, void *payload)
{
    checkout_walk *w = payload;
    char path[8192];
    snprintf(path, sizeof path, "%s/%s%s", w->root, dir, git_tree_entry_name(entry));
    git_object_t type = git_tree_entry_type(entry);
    if (type == GIT_OBJECT_TREE) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            w->failed = errno;
        return 0;
    }
    if (type != GIT_OBJECT_BLOB)
        return 0; /* submodules (commits) are skipped */
    char file[4096];
    snprintf(file, sizeof file, "%s%s", dir, git_tree_entry_name(entry));
    int lfs = git_tree_entry_filemode(entry) == GIT_FILEMODE_LINK
                  ? 0
                  : checkout_lfs(w, entry, file, path);
    if (lfs < 0 || (lfs == 0 && write_blob(w->repo, entry, path) < 0))
        w->failed = errno ? errno : EIO;
    return w->missing[0] ? -1 : 0;
}

/* Writes the tree of sha into dir (made fresh); the README comes back too. */
static int checkout_tree(const char *repo_path, const char *data_dir, const char *sha,
                         const char *dir, char **readme, size_t *readme_len, char *err,
                         size_t errsize)
{
    git_repository *repo = NULL;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_oid oid;
    int rc = -1;
    if (git_repository_open_bare(&repo, repo_path) < 0 || git_oid_fromstr(&oid, sha) < 0 ||
        git_commit_lookup(&commit, repo, &oid) < 0 || git_commit_tree(&tree, commit) < 0) {
        const git_error *e = git_error_last();
        snprintf(err, errsize, "cannot read commit %s: %s", sha, e ? e->message : "unknown");
        goto done;
    }
    if (util_mkdir_p(dir, 0755) < 0) {
        snprintf(err, errsize, "cannot create %s: %s", dir, strerror(errno));
        goto done;
    }
    checkout_walk w = {.repo = repo, .root = dir, .data_dir = data_dir};
    if (git_tree_walk(tree, GIT_TREEWALK_PRE, checkout_cb, &w) < 0 && w.missing[0]) {
        snprintf(err, errsize, "%s is not stored: push it with git lfs push", w.missing);
        goto done;
    }
    if (w.failed) {
        snprintf(err, errsize, "cannot write the checkout: %s",
                 strerror(w.failed ? w.failed : EIO));
        goto done;
    }
    rc = 0;
done:
    git_tree_free(tree);
    git_commit_free(commit);
    git_repository_free(repo);
    if (rc == 0 && repo_read_file(repo_path, sha, "README.md", readme, readme_len) != 0) {
        *readme = NULL;
        *readme_len = 0;
    }
    return rc;
}

static int remove_tree(const char *path)
{
    return repo_remove(path);
}

static void checkout_work(uv_work_t *w)
{
    build_job *job = w->data;
    char repo[4200], done_mark[4300], tmp[4300];
    space_repo_path(job->a->config.data_dir, job->sp.owner, job->sp.name, repo, sizeof repo);
    snprintf(done_mark, sizeof done_mark, "%s/../" READY_MARK, job->result.app_dir);
    if (access(done_mark, F_OK) == 0) {
        job->checkout_rc =
            repo_read_file(repo, job->sha, "README.md", &job->readme, &job->readme_len) < 0 ? -1
                                                                                            : 0;
        if (job->checkout_rc < 0)
            snprintf(job->checkout_err, sizeof job->checkout_err, "cannot read README.md");
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", job->result.app_dir);
    remove_tree(tmp);
    remove_tree(job->result.app_dir);
    job->checkout_rc = checkout_tree(repo, job->a->config.data_dir, job->sha, tmp, &job->readme,
                                     &job->readme_len, job->checkout_err, sizeof job->checkout_err);
    if (job->checkout_rc == 0 && rename(tmp, job->result.app_dir) < 0) {
        snprintf(job->checkout_err, sizeof job->checkout_err, "cannot move the checkout: %s",
                 strerror(errno));
        job->checkout_rc = -1;
    }
    if (job->checkout_rc == 0) {
        int fd = open(done_mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
            close(fd);
    }
}

/* ---- steps: child processes ------------------------------------------------ */

/* One running step. Its handles close asynchronously, so each step owns its
 * own and frees them when the last one is closed. */
typedef struct step_proc {
    build_job *job;
    runtime_instance *rt; /* a sandboxed step; the handles below are then unused */
    uv_process_t proc;
    uv_pipe_t out, err;
    buf out_line, err_line;
    int pending; /* exit + two EOFs still to come */
    int open;    /* handles not yet closed */
    int64_t status;
    int term_signal;
} step_proc;

static void run_next_step(build_job *job);
static void image_built(build_job *job);

static int build_timeout_s(const build_job *job)
{
    return job->a->config.build_timeout_s > 0 ? job->a->config.build_timeout_s : BUILD_TIMEOUT_S;
}

static uint64_t build_memory(const build_job *job)
{
    return job->a->config.build_memory ? job->a->config.build_memory : BUILD_MEMORY_DEFAULT;
}

static void maybe_report(build_job *job)
{
    if (job->finished && job->open_handles == 0)
        job->cb(job, &job->result, job->arg);
}

static void on_step_handle_closed(uv_handle_t *h)
{
    step_proc *sp = h->data;
    if (--sp->open > 0)
        return;
    build_job *job = sp->job;
    buf_free(&sp->out_line);
    buf_free(&sp->err_line);
    free(sp);
    job->open_handles--;
    maybe_report(job);
}

static void flush_line(build_job *job, buf *line)
{
    if (line->len)
        logs_append(job->log, line->data, line->len);
    buf_reset(line);
}

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *out)
{
    (void)h;
    out->base = malloc(size);
    out->len = out->base ? size : 0;
}

static void step_finished(build_job *job, int64_t status, int term_signal, bool oom)
{
    if (job->cancelled || job->timed_out) {
        if (job->timed_out)
            fail(job, "BUILD_ERROR", "the build took too long (limit %d s)", build_timeout_s(job));
        else
            fail(job, "BUILD_ERROR", "the build was cancelled");
        return;
    }
    if (oom) {
        fail(job, "BUILD_ERROR",
             "%s ran out of memory (the build limit is %llu MB: --build-memory)",
             job->steps[job->step].what, (unsigned long long)(build_memory(job) >> 20));
        return;
    }
    if (status != 0 || term_signal) {
        fail(job, "BUILD_ERROR", "%s failed (exit %lld%s)", job->steps[job->step].what,
             (long long)status, term_signal ? ", killed" : "");
        return;
    }
    job->step++;
    run_next_step(job);
}

static void step_done(step_proc *sp)
{
    build_job *job = sp->job;
    job->running = NULL;
    uv_close((uv_handle_t *)&sp->proc, on_step_handle_closed);
    uv_close((uv_handle_t *)&sp->out, on_step_handle_closed);
    uv_close((uv_handle_t *)&sp->err, on_step_handle_closed);
    step_finished(job, sp->status, sp->term_signal, false);
}

static void on_output(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    step_proc *sp = s->data;
    buf *line = (uv_pipe_t *)s == &sp->out ? &sp->out_line : &sp->err_line;
    for (ssize_t i = 0; i < n; i++) {
        char c = b->base[i];
        /* Progress bars redraw with \r: keep only the last state of a line. */
        if (c == '\n')
            flush_line(sp->job, line);
        else if (c == '\r')
            buf_reset(line);
        else if (line->len < 8192)
            buf_append(line, &c, 1);
    }
    free(b->base);
    if (n < 0) {
        flush_line(sp->job, line);
        uv_read_stop(s);
        if (--sp->pending == 0)
            step_done(sp);
    }
}

static void on_step_exit(uv_process_t *p, int64_t status, int term_signal)
{
    step_proc *sp = p->data;
    sp->status = status;
    sp->term_signal = term_signal;
    if (--sp->pending == 0)
        step_done(sp);
}

static const char *uv_binary(void)
{
    static char found[4096];
    if (found[0])
        return found;
    const char *env = getenv("HANGAR_UV");
    if (env && access(env, X_OK) == 0) {
        snprintf(found, sizeof found, "%s", env);
        return found;
    }
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *save = NULL, *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir;
         dir = strtok_r(NULL, ":", &save)) {
        char cand[4096];
        snprintf(cand, sizeof cand, "%s/uv", dir);
        if (access(cand, X_OK) == 0) {
            snprintf(found, sizeof found, "%s", cand);
            break;
        }
    }
    free(copy);
    return found[0] ? found : NULL;
}

/* The operator's network settings reach the package installers: CA bundles,
 * proxies and package index mirrors. Nothing else of the daemon's environment
 * does. */
static void pass_network_env(char **env, size_t max)
{
    static const char *const names[] = {
        "SSL_CERT_FILE",    "SSL_CERT_DIR",        "REQUESTS_CA_BUNDLE",
        "HTTP_PROXY",       "HTTPS_PROXY",         "NO_PROXY",
        "http_proxy",       "https_proxy",         "no_proxy",
        "PIP_INDEX_URL",    "PIP_EXTRA_INDEX_URL", "PIP_CERT",
        "PIP_TRUSTED_HOST", "PIP_FIND_LINKS",      "PIP_DEFAULT_TIMEOUT",
        "UV_INDEX_URL",     "UV_EXTRA_INDEX_URL",  "UV_DEFAULT_INDEX",
        "UV_INDEX",         "UV_NATIVE_TLS",       "UV_HTTP_TIMEOUT",
    };
    util_env_pass((const char **)env, max, names, sizeof names / sizeof names[0]);
}

/* Moves a fresh environment into the cached one's place. */
static int swap_fresh_env(build_job *job)
{
    char old[4300];
    snprintf(old, sizeof old, "%s.old-%llu", job->final_env_dir, (unsigned long long)util_now_ms());
    if (rename(job->final_env_dir, old) < 0 && errno != ENOENT)
        return -1;
    if (rename(job->result.env_dir, job->final_env_dir) < 0)
        return -1;
    snprintf(job->result.env_dir, sizeof job->result.env_dir, "%s", job->final_env_dir);
    return 0;
}

static void mark_env_ready(build_job *job)
{
    if (job->fresh && swap_fresh_env(job) < 0) {
        fail(job, "BUILD_ERROR", "cannot replace the environment: %s", strerror(errno));
        return;
    }
    char mark[4300];
    snprintf(mark, sizeof mark, "%s/" READY_MARK, job->result.env_dir);
    int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail(job, "BUILD_ERROR", "cannot mark the environment ready: %s", strerror(errno));
        return;
    }
    close(fd);
    logs_appendf(job->log, "Environment ready in %.1f s",
                 (double)(util_mono_ms() - job->started_ms) / 1000.0);
    job->result.ok = true;
    finish(job);
}

/* ---- sandboxed steps ------------------------------------------------------- */

static void on_sandbox_line(runtime_instance *rt, int stream, const char *line, size_t len,
                            void *arg)
{
    step_proc *sp = arg;
    (void)rt;
    (void)stream;
    /* Progress bars redraw with \r: keep only the last state of a line. */
    const char *cr = memrchr(line, '\r', len);
    if (cr && cr + 1 < line + len) {
        len -= (size_t)(cr + 1 - line);
        line = cr + 1;
    }
    logs_append(sp->job->log, line, len);
}

static void on_sandbox_exit(runtime_instance *rt, const runtime_exit *ex, void *arg)
{
    step_proc *sp = arg;
    build_job *job = sp->job;
    int64_t status = ex->status;
    int term_signal = ex->term_signal;
    bool oom = ex->oom;
    runtime_free(rt);
    free(sp);
    job->running = NULL;
    job->open_handles--;
    step_finished(job, status, term_signal, oom);
}

/* uv itself, when it lives outside the system directories every sandbox sees
 * (a virtualenv of the operator's, as `make deps` installs it). */
static bool uv_needs_bind(const char *uv)
{
    static const char *const system[] = {"/usr/", "/bin/", "/sbin/", "/lib", "/etc/"};
    for (size_t i = 0; i < sizeof system / sizeof system[0]; i++)
        if (util_has_prefix(uv, system[i]))
            return false;
    return true;
}

/* Runs an environment step in the sandbox: its own mount, pid and ipc
 * namespaces, as BUILD_UID, under memory and pids limits, with the host's
 * network (package indexes). It sees the system read-only, the checkout at
 * /app, and may write only the environment it makes, its TMPDIR and the
 * download cache. */
static void run_sandboxed_step(build_job *job, build_step *st, const char *const *env)
{
    step_proc *sp = calloc(1, sizeof *sp);
    if (!sp) {
        fail(job, "BUILD_ERROR", "out of memory");
        return;
    }
    sp->job = job;
    const char *uv = uv_binary();
    const char *ro[] = {uv && uv_needs_bind(uv) ? uv : NULL, NULL};
    const char *rw[] = {job->result.env_dir, job->tmp_dir, job->uv_cache, NULL};
    static unsigned long long seq; /* loop thread only: a cancelled build's sandbox may
                                      still be going away when the next one starts */
    char name[128];
    snprintf(name, sizeof name, "%s-build-%lld-%llu", job->a->instance_tag, (long long)job->sp.id,
             ++seq);
    runtime_spec spec = {
        .driver = RUNTIME_DRIVER_SANDBOX,
        .name = name,
        .app_dir = job->result.app_dir,
        .ro_binds = ro,
        .rw_binds = rw,
        .argv = (const char *const *)st->argv,
        .env = env,
        .memory_bytes = build_memory(job),
        .pids_max = BUILD_PIDS_MAX,
        .host_network = true,
        .uid = BUILD_UID,
        .gid = BUILD_UID,
    };
    static const runtime_callbacks cbs = {on_sandbox_line, on_sandbox_exit};
    char err[512] = "";
    if (runtime_start(job->a->loop, &spec, &cbs, sp, &sp->rt, err, sizeof err) < 0) {
        free(sp);
        fail(job, "BUILD_ERROR", "cannot start the build sandbox: %s", err);
        return;
    }
    job->running = sp;
    job->open_handles++;
}

static void run_next_step(build_job *job)
{
    if (job->step >= job->nsteps) {
        if (job->result.driver == RUNTIME_DRIVER_OCI)
            image_built(job);
        else
            mark_env_ready(job);
        return;
    }
    build_step *st = &job->steps[job->step];
    if (!st->argv || !st->argv[0]) {
        fail(job, "BUILD_ERROR", "out of memory");
        return;
    }
    buf cmd;
    buf_init(&cmd);
    for (int i = 0; st->argv[i]; i++)
        buf_printf(&cmd, "%s%s", i ? " " : "", st->argv[i]);
    logs_appendf(job->log, "--> %s: %s", st->what, cmd.data);
    buf_free(&cmd);

    char cache[4300], tmpdir[4300], tag[64];
    snprintf(cache, sizeof cache, "UV_CACHE_DIR=%s", job->uv_cache);
    snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", job->tmp_dir);
    /* Names the daemon's steps, so that its next start can find those a SIGKILL left. */
    snprintf(tag, sizeof tag, BUILD_TAG_VAR "=%s", job->a->instance_tag);
    char *env[64] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", cache, tag,
                     "UV_PYTHON_DOWNLOADS=never", "UV_NO_PROGRESS=1", "PIP_NO_INPUT=1",
                     /* The environment is mounted read-only in spaces: without .pyc files
                      * made here every start would compile gradio again (seconds). */
                     "UV_COMPILE_BYTECODE=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "LANG=C.UTF-8",
                     /* the cache and the environment are two mounts in the sandbox: a
                      * hard link between them fails (EXDEV), so say copy at once */
                     st->sandboxed ? "UV_LINK_MODE=copy" : NULL, st->sandboxed ? tmpdir : NULL,
                     NULL};
    pass_network_env(env, 64);
    if (st->oci) {
        /* the engine's network plugins (iptables) live in sbin */
        env[0] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        oci_child_env((const char **)env, 64);
    }
    if (st->sandboxed) {
        run_sandboxed_step(job, st, (const char *const *)env);
        return;
    }

    step_proc *sp = calloc(1, sizeof *sp);
    if (!sp) {
        fail(job, "BUILD_ERROR", "out of memory");
        return;
    }
    sp->job = job;
    buf_init(&sp->out_line);
    buf_init(&sp->err_line);
    uv_loop_t *loop = job->a->loop;
    uv_pipe_init(loop, &sp->out, 0);
    uv_pipe_init(loop, &sp->err, 0);
    sp->out.data = sp->err.data = sp->proc.data = sp;
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&sp->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&sp->err;

    uv_process_options_t opts;
    memset(&opts, 0, sizeof opts);
    opts.file = st->argv[0];
    opts.args = st->argv;
    opts.env = env;
    opts.cwd = job->result.app_dir;
    opts.exit_cb = on_step_exit;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.flags = UV_PROCESS_DETACHED; /* own process group: a timeout kills the whole step */
    int rc = uv_spawn(loop, &sp->proc, &opts);
    sp->open = 3;
    job->open_handles++;
    if (rc < 0) {
        uv_close((uv_handle_t *)&sp->proc, on_step_handle_closed);
        uv_close((uv_handle_t *)&sp->out, on_step_handle_closed);
        uv_close((uv_handle_t *)&sp->err, on_step_handle_closed);
        fail(job, "BUILD_ERROR", "cannot run %s: %s", st->argv[0], uv_strerror(rc));
        return;
    }
    sp->pending = 3;
    job->running = sp;
    uv_read_start((uv_stream_t *)&sp->out, on_alloc, on_output);
    uv_read_start((uv_stream_t *)&sp->err, on_alloc, on_output);
}

static void kill_running_step(build_job *job)
{
    if (job->running && job->running->rt)
        runtime_stop(job->running->rt, 0);
    else if (job->running && job->running->proc.pid > 0)
        uv_kill(-job->running->proc.pid, SIGKILL);
    /* a RUN step of an image build is in a session of its own */
    if (job->running && job->steps[job->step].oci)
        oci_build_kill(job->cgroup_parent);
}

static void on_timer_closed(uv_handle_t *h)
{
    build_job *job = h->data;
    job->open_handles--;
    maybe_report(job);
}

static void on_build_timeout(uv_timer_t *t)
{
    build_job *job = t->data;
    job->timed_out = true;
    kill_running_step(job);
}

/* ---- the environment ------------------------------------------------------- */

static char *file_text(const char *dir, const char *name)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_detach(&b);
}

/* Picks the interpreter: pythonX.Y when installed, else the system python3. */
static void pick_python(build_job *job, char *out, size_t size)
{
    const char *want =
        job->result.cfg.python_version ? job->result.cfg.python_version : CONFIG_PYTHON_DEFAULT;
    char cand[64];
    int major = 0, minor = 0;
    if (sscanf(want, "%d.%d", &major, &minor) == 2) {
        snprintf(cand, sizeof cand, "/usr/bin/python%d.%d", major, minor);
        if (access(cand, X_OK) == 0) {
            snprintf(out, size, "%s", cand);
            return;
        }
    }
    snprintf(out, size, "/usr/bin/python3");
    logs_appendf(job->log, "python_version %s is not installed on this host: using %s", want, out);
}

static void add_step(build_job *job, const char *what, const char *const *argv)
{
    build_step *st = &job->steps[job->nsteps++];
    st->what = what;
    st->argv = calloc(MAX_ARGS, sizeof *st->argv);
    for (int i = 0; st->argv && argv[i] && i < MAX_ARGS - 1; i++)
        st->argv[i] = strdup(argv[i]);
}

static void plan_env(build_job *job, const char *python)
{
    const char *uv = uv_binary();
    char *env = job->result.env_dir;
    char py[4200], sdk_req[128], pre[4300], req[4300];
    snprintf(py, sizeof py, "%s/bin/python", env);
    const char *sdk = job->result.cfg.sdk;
    if (job->result.cfg.sdk_version)
        snprintf(sdk_req, sizeof sdk_req, "%s==%s", sdk, job->result.cfg.sdk_version);
    else
        snprintf(sdk_req, sizeof sdk_req, "%s", sdk);
    snprintf(pre, sizeof pre, "%s/pre-requirements.txt", job->result.app_dir);
    snprintf(req, sizeof req, "%s/requirements.txt", job->result.app_dir);
    bool has_pre = access(pre, R_OK) == 0, has_req = access(req, R_OK) == 0;
    /* the steps run in the sandbox, where the checkout is /app */
    snprintf(pre, sizeof pre, "/app/pre-requirements.txt");
    snprintf(req, sizeof req, "/app/requirements.txt");
    if (uv) {
        add_step(job, "creating the environment",
                 (const char *[]){uv, "venv", "--quiet", "--python", python, env, NULL});
        if (has_pre)
            add_step(job, "installing pre-requirements.txt",
                     (const char *[]){uv, "pip", "install", "--python", py, "-r", pre, NULL});
        add_step(job, has_req ? "installing the sdk and requirements.txt" : "installing the sdk",
                 has_req ? (const char *[]){uv, "pip", "install", "--python", py, sdk_req, "-r",
                                            req, NULL}
                         : (const char *[]){uv, "pip", "install", "--python", py, sdk_req, NULL});
    } else {
        logs_appendf(job->log, "uv not found: using venv and pip");
        add_step(job, "creating the environment",
                 (const char *[]){python, "-m", "venv", env, NULL});
        if (has_pre)
            add_step(job, "installing pre-requirements.txt",
                     (const char *[]){py, "-m", "pip", "install", "-r", pre, NULL});
        add_step(job, has_req ? "installing the sdk and requirements.txt" : "installing the sdk",
                 has_req ? (const char *[]){py, "-m", "pip", "install", sdk_req, "-r", req, NULL}
                         : (const char *[]){py, "-m", "pip", "install", sdk_req, NULL});
    }
    for (int i = 0; i < job->nsteps; i++)
        job->steps[i].sandboxed = true;
}

static void env_hash(build_job *job, const char *python, char out[65])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    char head[512];
    snprintf(head, sizeof head, "v2\npython=%s\nsdk=%s\nsdk_version=%s\nuv=%d\n", python,
             job->result.cfg.sdk, job->result.cfg.sdk_version ? job->result.cfg.sdk_version : "",
             uv_binary() != NULL);
    crypto_hash_sha256_update(&st, (const unsigned char *)head, strlen(head));
    static const char *const files[] = {"pre-requirements.txt", "requirements.txt"};
    for (size_t i = 0; i < 2; i++) {
        char *text = file_text(job->result.app_dir, files[i]);
        char sep[64];
        snprintf(sep, sizeof sep, "\n--%s:%zu--\n", files[i], text ? strlen(text) : (size_t)0);
        crypto_hash_sha256_update(&st, (const unsigned char *)sep, strlen(sep));
        if (text)
            crypto_hash_sha256_update(&st, (const unsigned char *)text, strlen(text));
        free(text);
    }
    unsigned char digest[32];
    crypto_hash_sha256_final(&st, digest);
    util_hex(digest, sizeof digest, out);
}

/* Runs the planned steps under the build's time limit. */
static void run_steps(build_job *job)
{
    uv_timer_init(job->a->loop, &job->timer);
    job->timer.data = job;
    job->timer_open = true;
    job->open_handles++;
    uv_timer_start(&job->timer, on_build_timeout, (uint64_t)build_timeout_s(job) * 1000, 0);
    run_next_step(job);
}

/* What is not BUILD_UID's in the download cache becomes its own: files that
 * an earlier Hangar (which ran uv as root) or an operator left there. */
static int own_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    if ((st->st_uid != BUILD_UID || st->st_gid != BUILD_UID) &&
        lchown(path, BUILD_UID, BUILD_UID) < 0)
        return -1;
    return 0;
}

/* A directory only BUILD_UID may write, made empty when missing. */
static int build_owned_dir(const char *path)
{
    if (util_mkdir_p(path, 0755) < 0 || chown(path, BUILD_UID, BUILD_UID) < 0)
        return -1;
    return 0;
}

/* In the thread pool: the directories a sandboxed build writes. */
static void prep_work(uv_work_t *w)
{
    build_job *job = w->data;
    const char *what = job->result.env_dir;
    int rc = build_owned_dir(job->result.env_dir);
    if (rc == 0 && (rc = build_owned_dir(job->tmp_dir)) < 0)
        what = job->tmp_dir;
    if (rc == 0) {
        what = job->uv_cache;
        rc = util_mkdir_p(job->uv_cache, 0755);
        if (rc == 0)
            rc = nftw(job->uv_cache, own_cb, 16, FTW_PHYS);
    }
    job->prep_errno = rc < 0 ? (errno ? errno : EIO) : 0;
    snprintf(job->prep_what, sizeof job->prep_what, "%s", what);
}

static void after_prep(uv_work_t *w, int status)
{
    build_job *job = w->data;
    if (status < 0 || job->cancelled) {
        fail(job, "BUILD_ERROR", "the build was cancelled");
        return;
    }
    if (job->prep_errno) {
        fail(job, "BUILD_ERROR", "cannot prepare %s for the build: %s", job->prep_what,
             strerror(job->prep_errno));
        return;
    }
    run_steps(job);
}

static void remove_work(uv_work_t *w)
{
    remove_tree(w->data);
}

static void remove_done(uv_work_t *w, int status)
{
    free(w->data);
    free(w);
}

/* Moves an unfinished environment (a failed build's, or one a killed daemon
 * left) out of the way and removes it in the thread pool: a half-installed
 * gradio is thousands of files, seconds of the event loop. */
static void discard_env(build_job *job, const char *dir)
{
    char aside[4300];
    snprintf(aside, sizeof aside, "%s.old-%llu", dir, (unsigned long long)util_now_ms());
    if (rename(dir, aside) < 0) {
        if (errno != ENOENT)
            remove_tree(dir);
        return;
    }
    uv_work_t *w = malloc(sizeof *w);
    if (w && (w->data = strdup(aside)) != NULL &&
        uv_queue_work(job->a->loop, w, remove_work, remove_done) == 0)
        return;
    if (w)
        free(w->data);
    free(w);
    remove_tree(aside);
}

static void prepare_env(build_job *job)
{
    char python[64];
    pick_python(job, python, sizeof python);
    env_hash(job, python, job->result.env_hash);
    snprintf(job->result.env_dir, sizeof job->result.env_dir, "%s/cache/envs/%s",
             job->a->config.data_dir, job->result.env_hash);
    char mark[4300];
    snprintf(mark, sizeof mark, "%s/" READY_MARK, job->result.env_dir);
    if (!job->fresh && access(mark, F_OK) == 0) {
        logs_appendf(job->log, "Reusing the cached environment %.12s (requirements unchanged)",
                     job->result.env_hash);
        job->result.ok = true;
        finish(job);
        return;
    }
    if (job->fresh) {
        /* A running instance may use the cached environment: build beside it
         * and swap the directories when the new one is ready. */
        logs_appendf(job->log, "Factory rebuild: making a fresh environment");
        snprintf(job->final_env_dir, sizeof job->final_env_dir, "%s", job->result.env_dir);
        snprintf(job->result.env_dir + strlen(job->result.env_dir),
                 sizeof job->result.env_dir - strlen(job->result.env_dir), ".fresh");
    }
    discard_env(job, job->result.env_dir);
    plan_env(job, python);
    job->prep.data = job;
    int rc = uv_queue_work(job->a->loop, &job->prep, prep_work, after_prep);
    if (rc < 0)
        fail(job, "BUILD_ERROR", "cannot prepare the build: %s", uv_strerror(rc));
}

/* ---- container images --------------------------------------------------------- */

/* Variables and secrets of an image build. Secret values are only in files
 * of mode 0600 (named on the command line, never their contents). */
typedef struct image_env {
    build_job *job;
    char *args[MAX_BUILD_ENV + 1];    /* "K=V" */
    char *secrets[MAX_BUILD_ENV + 1]; /* "K=PATH" */
    char *values[MAX_BUILD_ENV + 1];  /* secret values, for masking the log */
    size_t nargs, nsecrets;
    int error; /* errno of a file that could not be written */
} image_env;

static void secrets_remove(build_job *job)
{
    if (!job->secrets_dir[0])
        return;
    if (remove_tree(job->secrets_dir) != 0)
        log_error("build", "%s: cannot remove the build secrets in %s", job->sp.full_id,
                  job->secrets_dir);
    job->secrets_dir[0] = '\0';
}

static void collect_variable(const char *key, const char *value, const char *description,
                             int64_t updated_ms, void *arg)
{
    (void)description;
    (void)updated_ms;
    image_env *ie = arg;
    if (ie->nargs < MAX_BUILD_ENV && asprintf(&ie->args[ie->nargs], "%s=%s", key, value) >= 0)
        ie->nargs++;
}

static int secret_file(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    size_t len = strlen(value);
    ssize_t n = write(fd, value, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)len ? 0 : -1;
}

static void collect_secret(const char *key, const char *value, const char *description,
                           int64_t updated_ms, void *arg)
{
    (void)description;
    (void)updated_ms;
    image_env *ie = arg;
    build_job *job = ie->job;
    if (ie->nsecrets >= MAX_BUILD_ENV || ie->error)
        return;
    char *plain = vault_open_value(value, NULL);
    if (!plain)
        return;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", job->secrets_dir, key);
    if (secret_file(path, plain) < 0) {
        ie->error = errno ? errno : EIO;
        vault_free_plain(plain);
        return;
    }
    if (asprintf(&ie->secrets[ie->nsecrets], "%s=%s", key, path) < 0) {
        vault_free_plain(plain);
        return;
    }
    ie->values[ie->nsecrets++] = plain;
}

static void image_env_free(image_env *ie)
{
    for (size_t i = 0; i < ie->nargs; i++)
        free(ie->args[i]);
    for (size_t i = 0; i < ie->nsecrets; i++) {
        free(ie->secrets[i]);
        vault_free_plain(ie->values[i]);
    }
}

/* Reads the space's variables and writes its secrets to files; the build
 * log masks the secret values from now on. */
static int image_env_load(build_job *job, image_env *ie)
{
    memset(ie, 0, sizeof *ie);
    ie->job = job;
    store_env_list(job->a->store, false, job->sp.id, collect_variable, ie);
    snprintf(job->secrets_dir, sizeof job->secrets_dir, "%s/cache/build-secrets/%lld-%.12s-%llu",
             job->a->config.data_dir, (long long)job->sp.id, job->sha,
             (unsigned long long)job->started_ms);
    remove_tree(job->secrets_dir);
    if (util_mkdir_p(job->secrets_dir, 0700) < 0) {
        ie->error = errno;
        return -1;
    }
    store_env_list(job->a->store, true, job->sp.id, collect_secret, ie);
    const char *masks[MAX_BUILD_ENV];
    size_t nmasks = 0;
    for (size_t i = 0; i < ie->nsecrets; i++)
        if (strlen(ie->values[i]) >= 4) /* as for run logs: short values would mask everything */
            masks[nmasks++] = ie->values[i];
    logs_set_masks(job->log, masks, nmasks);
    return ie->error ? -1 : 0;
}

/* A pip requirement spec from the README, safe in an exec-form RUN. */
static bool sdk_version_valid(const char *v)
{
    if (!v)
        return true;
    if (!*v || strlen(v) > 64)
        return false;
    for (const char *p = v; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-!*~<>=,_",
                    *p))
            return false;
    return true;
}

static bool app_has(const build_job *job, const char *name)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", job->result.app_dir, name);
    return access(path, R_OK) == 0;
}

/* An exec-form instruction: JSON keeps every argument one argument. */
static void dockerfile_exec(buf *df, const char *instruction, const char *const *argv)
{
    json_t *arr = json_array();
    for (const char *const *a = argv; arr && *a; a++)
        json_array_append_new(arr, json_string(*a));
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    buf_printf(df, "%s %s\n", instruction, text ? text : "[]");
    free(text);
    json_decref(arr);
}

/* The Dockerfile of a gradio or streamlit space built as an image: the same
 * steps as the sandbox's environment, plus packages.txt through apt. Layers
 * are ordered so that an app-only change reuses everything but the COPY. */
static int python_dockerfile(build_job *job, const char *path)
{
    const config *cfg = &job->result.cfg;
    bool streamlit = strcmp(cfg->sdk, "streamlit") == 0;
    char sdk_req[128];
    snprintf(sdk_req, sizeof sdk_req, "%s%s%s", cfg->sdk, cfg->sdk_version ? "==" : "",
             cfg->sdk_version ? cfg->sdk_version : "");
    buf df;
    buf_init(&df);
    buf_printf(&df, "# Generated by Hangar: a %s space built as a container image.\nFROM %s\n",
               cfg->sdk, oci_base_image());
    buf_puts(&df, "ENV PYTHONUNBUFFERED=1 PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1\n");
    if (app_has(job, "packages.txt"))
        buf_puts(&df,
                 "COPY packages.txt /tmp/hangar-packages.txt\n"
                 "RUN apt-get update && sed 's/#.*//' /tmp/hangar-packages.txt | xargs -r "
                 "apt-get install -y --no-install-recommends && rm -rf /var/lib/apt/lists/*\n");
    buf_puts(&df, "RUN (id -u 1000 >/dev/null 2>&1 || useradd -m -u 1000 user) && "
                  "mkdir -p /home/user/app && chown -R 1000:1000 /home/user\n"
                  "USER 1000:1000\n"
                  "ENV HOME=/home/user PATH=/home/user/.venv/bin:$PATH\n"
                  "WORKDIR /home/user/app\n"
                  "RUN [\"python3\", \"-m\", \"venv\", \"/home/user/.venv\"]\n");
    if (app_has(job, "pre-requirements.txt")) {
        buf_puts(&df, "COPY --chown=1000:1000 pre-requirements.txt /tmp/pre-requirements.txt\n");
        dockerfile_exec(&df, "RUN",
                        (const char *[]){"pip", "install", "--no-cache-dir", "-r",
                                         "/tmp/pre-requirements.txt", NULL});
    }
    bool req = app_has(job, "requirements.txt");
    if (req)
        buf_puts(&df, "COPY --chown=1000:1000 requirements.txt /tmp/requirements.txt\n");
    dockerfile_exec(&df, "RUN",
                    req ? (const char *[]){"pip", "install", "--no-cache-dir", sdk_req, "-r",
                                           "/tmp/requirements.txt", NULL}
                        : (const char *[]){"pip", "install", "--no-cache-dir", sdk_req, NULL});
    buf_puts(&df, "COPY --chown=1000:1000 . /home/user/app\n");
    dockerfile_exec(&df, "CMD",
                    streamlit ? (const char *[]){"python", "-m", "streamlit", "run", cfg->app_file,
                                                 "--server.port", "8501", "--server.address",
                                                 "0.0.0.0", "--server.headless", "true", NULL}
                              : (const char *[]){"python", cfg->app_file, NULL});
    int fd = df.data ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    int rc = fd >= 0 && write(fd, df.data, df.len) == (ssize_t)df.len ? 0 : -1;
    if (fd >= 0)
        close(fd);
    buf_free(&df);
    return rc;
}

/* The Dockerfile to build: the space's own, or one made for its sdk. */
static int image_dockerfile(build_job *job, char *path, size_t size)
{
    const config *cfg = &job->result.cfg;
    if (strcmp(cfg->sdk, "docker") == 0) {
        snprintf(path, size, "%s/Dockerfile", job->result.app_dir);
        if (access(path, R_OK) == 0)
            return 0;
        fail(job, "BUILD_ERROR", "no Dockerfile at the root of the repository");
        return -1;
    }
    if (!sdk_version_valid(cfg->sdk_version)) {
        fail(job, "CONFIG_ERROR", "sdk_version: not a version (%s)", cfg->sdk_version);
        return -1;
    }
    if (cfg->python_version && strcmp(cfg->python_version, "3.11") != 0)
        logs_appendf(job->log, "python_version %s: the base image %s has Python 3.11",
                     cfg->python_version, oci_base_image());
    snprintf(path, size, "%s/../Dockerfile.hangar", job->result.app_dir);
    if (python_dockerfile(job, path) == 0) {
        logs_appendf(job->log, "Using a generated Dockerfile (%s, base %s%s)", cfg->sdk,
                     oci_base_image(), app_has(job, "packages.txt") ? ", packages.txt" : "");
        return 0;
    }
    fail(job, "BUILD_ERROR", "cannot write the Dockerfile: %s", strerror(errno));
    return -1;
}

static void prepare_image(build_job *job)
{
    if (oci_engine_in_use() == OCI_ENGINE_NONE) {
        fail(job, "BUILD_ERROR",
             "%s spaces here need a container engine (podman or docker), and this daemon has "
             "none: install podman, or see `hangar serve --runtime`",
             strcmp(job->result.cfg.sdk, "docker") == 0 ? "Docker" : "Container-built");
        return;
    }
    char dockerfile[4400];
    if (image_dockerfile(job, dockerfile, sizeof dockerfile) < 0)
        return;
    oci_image_name(job->sp.id, job->sha, job->result.image, sizeof job->result.image);
    image_env ie;
    if (image_env_load(job, &ie) < 0) {
        fail(job, "BUILD_ERROR", "cannot write the build secrets: %s", strerror(ie.error));
        image_env_free(&ie);
        return;
    }
    snprintf(job->cgroup_parent, sizeof job->cgroup_parent, "hangar-builds/%d-%lld-%llu",
             (int)getpid(), (long long)job->sp.id, (unsigned long long)job->started_ms);
    oci_build b = {.cgroup_parent = job->cgroup_parent,
                   .context = job->result.app_dir,
                   .dockerfile = dockerfile,
                   .tag = job->result.image,
                   .build_args = (const char *const *)ie.args,
                   .secret_files = (const char *const *)ie.secrets,
                   .no_cache = job->fresh};
    build_step *st = &job->steps[job->nsteps++];
    st->what = "building the image";
    st->oci = true;
    st->argv = calloc(MAX_IMAGE_ARGS, sizeof *st->argv);
    int n = st->argv ? oci_build_argv(&b, job->sp.id, st->argv, MAX_IMAGE_ARGS) : -1;
    logs_appendf(job->log,
                 "Image %s: %zu variable(s) as build args, %zu secret(s) as build "
                 "secrets%s",
                 job->result.image, ie.nargs, ie.nsecrets, job->fresh ? ", no cache" : "");
    image_env_free(&ie);
    if (n < 0) {
        fail(job, "BUILD_ERROR", "too many variables and secrets for one build");
        return;
    }
    run_steps(job);
}

static void image_built(build_job *job)
{
    secrets_remove(job);
    double secs = (double)(util_mono_ms() - job->started_ms) / 1000.0;
    logs_appendf(job->log, "Image %s built in %.1f s", job->result.image, secs);
    /* the newest two stay: this one (about to run) and the running one */
    oci_images_collect(job->a->loop, job->sp.id, 2);
    job->result.ok = true;
    finish(job);
}

/* ---- after the checkout ---------------------------------------------------- */

static bool app_file_present(build_job *job)
{
    char path[8300];
    snprintf(path, sizeof path, "%s/%s", job->result.app_dir, job->result.cfg.app_file);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void after_checkout(uv_work_t *w, int status)
{
    build_job *job = w->data;
    if (status < 0 || job->checkout_rc < 0) {
        fail(job, "BUILD_ERROR", "checkout failed: %s",
             status < 0 ? uv_strerror(status) : job->checkout_err);
        return;
    }
    if (job->cancelled) {
        fail(job, "BUILD_ERROR", "the build was cancelled");
        return;
    }
    char err[512];
    if (config_parse(job->readme ? job->readme : "", job->readme_len, job->sp.sdk, &job->result.cfg,
                     err, sizeof err) < 0) {
        fail(job, "CONFIG_ERROR", "%s", err);
        return;
    }
    job->result.cfg_valid = true;
    if (!job->result.cfg.sdk && !(job->result.cfg.sdk = strdup(job->sp.sdk))) {
        fail(job, "BUILD_ERROR", "out of memory");
        return;
    }
    const char *sdk = job->result.cfg.sdk;
    logs_appendf(job->log, "Config: sdk %s%s%s, app_file %s, app_port %d", sdk,
                 job->result.cfg.sdk_version ? " " : "",
                 job->result.cfg.sdk_version ? job->result.cfg.sdk_version : "",
                 job->result.cfg.app_file ? job->result.cfg.app_file : "(none)",
                 job->result.cfg.app_port);
    if (job->result.cfg.app_file && !app_file_present(job)) {
        fail(job, "NO_APP_FILE", "app file %s not found in the repository",
             job->result.cfg.app_file);
        return;
    }
    if (strcmp(sdk, "static") == 0) {
        job->result.ok = true;
        finish(job);
        return;
    }
    job->result.driver = runtime_driver_for(job->a->config.runtime, sdk);
    if (job->result.driver == RUNTIME_DRIVER_OCI) {
        prepare_image(job);
        return;
    }
    char packages[4300];
    snprintf(packages, sizeof packages, "%s/packages.txt", job->result.app_dir);
    if (access(packages, F_OK) == 0) {
        fail(job, "BUILD_ERROR",
             "packages.txt (apt packages) needs a Docker-built space: the "
             "sandbox runtime uses the host's system packages");
        return;
    }
    prepare_env(job);
}

/* ---- job ------------------------------------------------------------------- */

static void finish(build_job *job)
{
    if (job->finished)
        return;
    job->finished = true;
    secrets_remove(job);
    if (job->nsteps && job->steps[0].sandboxed)
        remove_tree(job->tmp_dir);
    if (job->cgroup_parent[0])
        oci_build_cleanup(job->cgroup_parent);
    if (job->timer_open) {
        uv_timer_stop(&job->timer);
        uv_close((uv_handle_t *)&job->timer, on_timer_closed);
        job->timer_open = false;
    }
    maybe_report(job);
}

build_job *build_start(app *a, const space *sp, const char *sha, logs_stream *log, bool fresh,
                       build_done_cb cb, void *arg)
{
    build_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->a = a;
    job->sp = *sp;
    snprintf(job->sha, sizeof job->sha, "%s", sha);
    job->log = log;
    job->cb = cb;
    job->arg = arg;
    job->fresh = fresh;
    job->started_ms = util_mono_ms();
    snprintf(job->result.app_dir, sizeof job->result.app_dir, "%s/builds/%lld/%s/app",
             a->config.data_dir, (long long)sp->id, sha);
    snprintf(job->tmp_dir, sizeof job->tmp_dir, "%s/builds/%lld/%s/tmp", a->config.data_dir,
             (long long)sp->id, sha);
    const char *uv_cache = getenv("HANGAR_UV_CACHE");
    if (uv_cache && *uv_cache)
        snprintf(job->uv_cache, sizeof job->uv_cache, "%s", uv_cache);
    else
        snprintf(job->uv_cache, sizeof job->uv_cache, "%s/cache/uv", a->config.data_dir);
    logs_appendf(log, "Building %s at %.12s", sp->full_id, sha);
    job->work.data = job;
    int rc = uv_queue_work(a->loop, &job->work, checkout_work, after_checkout);
    if (rc < 0) {
        log_error("build", "cannot queue the checkout of %s: %s", sp->full_id, uv_strerror(rc));
        free(job);
        return NULL;
    }
    return job;
}

void build_cancel(build_job *job)
{
    if (job->finished)
        return;
    job->cancelled = true;
    kill_running_step(job);
}

void build_free(build_job *job)
{
    if (!job)
        return;
    for (int i = 0; i < job->nsteps; i++) {
        for (int k = 0; job->steps[i].argv && job->steps[i].argv[k]; k++)
            free(job->steps[i].argv[k]);
        free(job->steps[i].argv);
    }
    if (job->result.cfg_valid)
        config_free(&job->result.cfg);
    free(job->readme);
    free(job);
}

void build_collect_garbage(const char *data_dir)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache/envs", data_dir);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".old-") && !strstr(e->d_name, ".fresh"))
            continue;
        char path[4500];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        log_info("build", "removing replaced environment %s", path);
        remove_tree(path);
    }
    closedir(d);
}

int build_app_command(const build_result *r, const char *sdk, char *python, size_t python_size,
                      const char **argv, size_t max, int *port)
{
    if (max < 12)
        return -1;
    snprintf(python, python_size, "%s/bin/python", r->env_dir);
    size_t n = 0;
    if (r->driver == RUNTIME_DRIVER_OCI) { /* the image's CMD, on the sdk's port */
        *port = strcmp(sdk, "streamlit") == 0 ? 8501 : r->cfg.app_port;
        argv[0] = NULL;
        return 0;
    }
    if (strcmp(sdk, "streamlit") == 0) {
        *port = 8501;
        argv[n++] = python;
        argv[n++] = "-m";
        argv[n++] = "streamlit";
        argv[n++] = "run";
        argv[n++] = r->cfg.app_file;
        argv[n++] = "--server.port";
        argv[n++] = "8501";
        argv[n++] = "--server.address";
        argv[n++] = "0.0.0.0";
        argv[n++] = "--server.headless";
        argv[n++] = "true";
    } else {
        *port = r->cfg.app_port;
        argv[n++] = python;
        argv[n++] = r->cfg.app_file;
    }
    argv[n] = NULL;
    return 0;
}

const build_result *build_job_result(const build_job *job)
{
    return &job->result;
}

const char *build_job_sha(const build_job *job)
{
    return job->sha;
}

bool build_job_intact(const build_job *job)
{
    char mark[4400];
    if (!job->result.ok || job->result.driver != RUNTIME_DRIVER_SANDBOX)
        return false;
    snprintf(mark, sizeof mark, "%s/../" READY_MARK, job->result.app_dir);
    if (access(mark, F_OK) < 0)
        return false;
    snprintf(mark, sizeof mark, "%s/" READY_MARK, job->result.env_dir);
    return access(mark, F_OK) == 0;
}

int build_startup_timeout(const build_job *job)
{
    return job->result.cfg_valid ? job->result.cfg.startup_duration_timeout
                                 : CONFIG_STARTUP_TIMEOUT_DEFAULT;
}
