/* oci: containers through podman or docker; oci.h says what runs where.
 *
 * Every engine call is a child process spawned with uv_spawn (cmd_* below):
 * the loop never waits for the engine. Only oci_init runs its children on a
 * private loop of its own, before the daemon's loop starts.
 *
 * An instance owns five libuv handles: the `run` client process, its stdout
 * and stderr pipes and two timers (kill: the grace period's end, then the
 * output drain deadline; retry: stop or kill again while the container is not
 * made yet). Helper commands (image inspect, stop, kill, rm) own their handles
 * and are counted in cmds. on_exit runs from the close callback of the last
 * handle once nothing is in flight, so the caller may free the instance there. */
#include "runtime/oci.h"
#include "lib/lines.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#define OCI_NAME_MAX 100  /* spec->name, as for the sandbox */
#define OCI_LINE_MAX 8192 /* longer output lines are delivered in pieces */
#define OCI_READ_SIZE 65536
#define OCI_CMD_OUT_MAX 65536  /* what a helper command may print */
#define OCI_CMD_ERR_MAX 2048   /* the end of its stderr, for error messages */
#define OCI_RETRY_MS 250       /* stop/kill again while the container is not there yet */
#define OCI_KILL_AFTER_MS 5000 /* past the grace period: kill; then kill the client */
#define OCI_DRAIN_MS 5000      /* output still open this long after the exit: close it */
#define OCI_INIT_TIMEOUT_MS 60000
#define OCI_MAX_ARGS 1024
#define OCI_ENV_PATH "/run/hangar/env" /* the secrets file inside a container */
#define CGROUP2_SUPER_MAGIC 0x63677270

/* ---- engine state (set once by oci_init) --------------------------------- */

static struct {
    oci_engine engine;
    char bin[4096];
    char dir[4096];      /* DATA/oci */
    char run_dir[4200];  /* pidfiles and secrets files */
    char data_label[32]; /* hangar.data=<hash of DATA>: our containers */
    char network[64];
    char base_image[256];
    bool pull;           /* a registry is configured */
    bool init;           /* an init binary exists: --init */
    char env_conf[4300]; /* CONTAINERS_CONF=... */
    char env_storage[4300];
    char env_registries[4300];
    char env_home[4300];
} oci;

oci_engine oci_engine_in_use(void)
{
    return oci.engine;
}

const char *oci_engine_name(void)
{
    return oci.engine == OCI_ENGINE_PODMAN   ? "podman"
           : oci.engine == OCI_ENGINE_DOCKER ? "docker"
                                             : "none";
}

const char *oci_base_image(void)
{
    return oci.base_image[0] ? oci.base_image : OCI_BASE_IMAGE;
}

void oci_child_env(const char **env, size_t max)
{
    static const char *const pass[] = {"REGISTRY_AUTH_FILE", "DOCKER_HOST",       "DOCKER_CONFIG",
                                       "DOCKER_CERT_PATH",   "DOCKER_TLS_VERIFY", "TMPDIR"};
    size_t n = 0;
    while (env[n])
        n++;
    if (oci.engine == OCI_ENGINE_PODMAN) {
        const char *own[] = {oci.env_conf, oci.env_storage, oci.env_registries};
        for (size_t i = 0; i < 3 && n + 1 < max; i++)
            env[n++] = own[i];
    } else if (oci.engine == OCI_ENGINE_DOCKER && n + 1 < max) {
        env[n++] = "DOCKER_BUILDKIT=1"; /* build secrets need BuildKit */
    }
    env[n] = NULL;
    util_env_pass(env, max, pass, sizeof pass / sizeof pass[0]);
}

/* The environment of the engine's children: a fixed PATH, our HOME (so no
 * user configuration leaks in), the configuration, the operator's proxies. */
static void engine_env(const char **env, size_t max)
{
    static const char *const proxies[] = {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                                          "http_proxy", "https_proxy", "no_proxy"};
    size_t n = 0;
    env[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    env[n++] = oci.env_home;
    env[n] = NULL;
    oci_child_env(env, max);
    util_env_pass(env, max, proxies, sizeof proxies / sizeof proxies[0]);
}

/* ---- helper commands: one child, its output collected ------------------- */

typedef void (*cmd_done_cb)(int64_t status, const char *out, const char *err, void *arg);

typedef struct oci_cmd {
    uv_process_t proc;
    uv_pipe_t out, err;
    buf outbuf, errbuf;
    int pending; /* exit + two EOFs */
    int open;    /* handles not yet closed */
    int64_t status;
    cmd_done_cb cb;
    void *arg;
} oci_cmd;

static void cmd_closed(uv_handle_t *h)
{
    oci_cmd *c = h->data;
    if (--c->open > 0)
        return;
    if (c->cb)
        c->cb(c->status, c->outbuf.data ? c->outbuf.data : "", c->errbuf.data ? c->errbuf.data : "",
              c->arg);
    buf_free(&c->outbuf);
    buf_free(&c->errbuf);
    free(c);
}

static void cmd_close(oci_cmd *c)
{
    uv_close((uv_handle_t *)&c->proc, cmd_closed);
    uv_close((uv_handle_t *)&c->out, cmd_closed);
    uv_close((uv_handle_t *)&c->err, cmd_closed);
}

static void cmd_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    (void)h;
    b->base = malloc(size);
    b->len = b->base ? size : 0;
}

static void cmd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    oci_cmd *c = s->data;
    bool is_out = (uv_pipe_t *)s == &c->out;
    buf *dst = is_out ? &c->outbuf : &c->errbuf;
    if (n > 0) {
        buf_append(dst, b->base, (size_t)n);
        size_t cap = is_out ? OCI_CMD_OUT_MAX : OCI_CMD_ERR_MAX;
        if (dst->len > cap) /* keep the end: errors come last */
            buf_consume(dst, dst->len - cap);
    }
    free(b->base);
    if (n < 0) {
        uv_read_stop(s);
        if (--c->pending == 0)
            cmd_close(c);
    }
}

static void cmd_exit(uv_process_t *p, int64_t status, int term_signal)
{
    oci_cmd *c = p->data;
    c->status = term_signal ? -1 : status;
    if (--c->pending == 0)
        cmd_close(c);
}

/* Runs the engine with args (after its binary); cb gets the status (-1 when
 * it could not run or was killed) once the child and its pipes are closed.
 * Returns the command (for kills) or NULL when it could not start; cb is
 * called in both cases, never from inside this call. */
static oci_cmd *cmd_start(uv_loop_t *loop, const char *const *args, cmd_done_cb cb, void *arg)
{
    oci_cmd *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    const char *argv[OCI_MAX_ARGS];
    size_t n = 0;
    argv[n++] = oci.bin;
    for (; args[n - 1] && n + 1 < OCI_MAX_ARGS; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    const char *env[32] = {NULL};
    engine_env(env, 32);
    buf_init(&c->outbuf);
    buf_init(&c->errbuf);
    c->cb = cb;
    c->arg = arg;
    uv_pipe_init(loop, &c->out, 0);
    uv_pipe_init(loop, &c->err, 0);
    c->proc.data = c->out.data = c->err.data = c;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->err}};
    uv_process_options_t opts = {.exit_cb = cmd_exit,
                                 .cwd = oci.run_dir[0] ? oci.run_dir : "/",
                                 .file = oci.bin,
                                 .args = (char **)argv,
                                 .env = (char **)env,
                                 .stdio = stdio,
                                 .stdio_count = 3,
                                 .flags = UV_PROCESS_DETACHED};
    c->open = 3;
    int rc = uv_spawn(loop, &c->proc, &opts);
    if (rc < 0) {
        log_error("oci", "cannot run %s %s: %s", oci.bin, args[0], uv_strerror(rc));
        c->status = -1;
        cmd_close(c);
        return NULL;
    }
    c->pending = 3;
    uv_read_start((uv_stream_t *)&c->out, cmd_alloc, cmd_read);
    uv_read_start((uv_stream_t *)&c->err, cmd_alloc, cmd_read);
    return c;
}

/* The last non-empty line of text, for one-line error messages. */
static void last_line(const char *text, char *out, size_t size)
{
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    size_t start = len;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    snprintf(out, size, "%.*s", (int)(len - start), text + start);
}

/* ---- start-up: commands on a private loop ---------------------------------- */

typedef struct sync_run {
    bool done;
    int64_t status;
    char *out;
    size_t outsize;
    char err[512];
    oci_cmd *cmd;
} sync_run;

static void sync_done(int64_t status, const char *out, const char *err, void *arg)
{
    sync_run *r = arg;
    r->done = true;
    r->status = status;
    if (r->out)
        snprintf(r->out, r->outsize, "%s", out);
    last_line(err, r->err, sizeof r->err);
}

static void sync_timeout(uv_timer_t *t)
{
    sync_run *r = t->data;
    if (!r->done && r->cmd)
        uv_process_kill(&r->cmd->proc, SIGKILL);
}

/* Runs one engine command to its end on a loop of its own; its status, or -1
 * (reason in err). Only for oci_init, before the daemon's loop runs. */
static int64_t run_sync(const char *const *args, char *out, size_t outsize, char *err,
                        size_t errsize)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        snprintf(err, errsize, "cannot make a loop");
        return -1;
    }
    sync_run r = {.out = out, .outsize = outsize, .status = -1};
    if (out && outsize)
        out[0] = '\0';
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = &r;
    r.cmd = cmd_start(&loop, args, sync_done, &r);
    uv_timer_start(&timer, sync_timeout, OCI_INIT_TIMEOUT_MS, 0);
    while (!r.done && uv_run(&loop, UV_RUN_ONCE))
        ;
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        log_warn("oci", "start-up loop closed with handles open");
    snprintf(err, errsize, "%s", r.err[0] ? r.err : "no output");
    return r.status;
}

/* ---- start-up: finding and configuring the engine --------------------------- */

static bool find_in_path(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    bool found = false;
    for (char *save = NULL, *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, size, "%s/%s", dir, name);
        found = access(out, X_OK) == 0;
    }
    free(copy);
    return found;
}

static const char *first_executable(const char *const *paths)
{
    for (; *paths; paths++)
        if (access(*paths, X_OK) == 0)
            return *paths;
    return NULL;
}

/* Podman's default runtime, crun, fails on cgroup v1 and hybrid hosts; runc
 * works everywhere, so it is chosen whenever the host is not pure cgroup v2. */
static bool cgroup_pure_v2(void)
{
    struct statfs st;
    return statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

/* A number from a one-line /proc file, or fallback. */
static unsigned long long proc_number(const char *path, unsigned long long fallback)
{
    FILE *f = fopen(path, "re");
    unsigned long long v = fallback;
    if (f) {
        if (fscanf(f, "%llu", &v) != 1)
            v = fallback;
        fclose(f);
    }
    return v;
}

static unsigned long long rlimit_cap(int resource, unsigned long long cap)
{
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
    getrlimit(resource, &rl);
    return rl.rlim_max != RLIM_INFINITY && rl.rlim_max < cap ? (unsigned long long)rl.rlim_max
                                                             : cap;
}

/* nofile and nproc as high as podman's defaults allow, but within the hard
 * limits (raising one above it fails every container start with EPERM) and,
 * for nproc, within pid_max: measured, runc refuses more here. */
static void ulimits_text(char *out, size_t size)
{
    unsigned long long nofile = rlimit_cap(RLIMIT_NOFILE, 1048576);
    unsigned long long pid_max = proc_number("/proc/sys/kernel/pid_max", 32768);
    unsigned long long nproc = rlimit_cap(RLIMIT_NPROC, pid_max < 1048576 ? pid_max : 1048576);
    snprintf(out, size, "\"nofile=%llu:%llu\", \"nproc=%llu:%llu\"", nofile, nofile, nproc, nproc);
}

static int write_file(const char *path, const char *text, char *err, size_t errsize)
{
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) < 0) {
        snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_containers_conf(char *err, size_t errsize)
{
    static const char *const inits[] = {"/usr/libexec/podman/catatonit",
                                        "/usr/bin/catatonit",
                                        "/usr/bin/tini",
                                        "/usr/sbin/tini",
                                        "/usr/bin/tini-static",
                                        NULL};
    const char *init = first_executable(inits);
    char runc[4096] = "";
    bool use_runc = !cgroup_pure_v2() && find_in_path("runc", runc, sizeof runc);
    bool systemd = access("/run/systemd/system", F_OK) == 0;
    char ulimits[128];
    ulimits_text(ulimits, sizeof ulimits);
    oci.init = init != NULL;
    buf b;
    buf_init(&b);
    buf_printf(&b,
               "# Written by hangar serve at every start: edits are lost.\n"
               "[containers]\n"
               "default_ulimits = [%s]\n",
               ulimits);
    if (init)
        buf_printf(&b, "init_path = \"%s\"\n", init);
    buf_printf(&b, "\n[engine]\n");
    if (use_runc)
        buf_printf(&b, "runtime = \"runc\"\n");
    buf_printf(&b,
               "cgroup_manager = \"%s\"\n"
               "events_logger = \"file\"\n"
               "events_logfile_path = \"%s/events.log\"\n"
               "tmp_dir = \"%s/tmp\"\n"
               "lock_type = \"file\"\n",
               systemd ? "systemd" : "cgroupfs", oci.dir, oci.dir);
    char path[4300];
    snprintf(path, sizeof path, "%s/containers.conf", oci.dir);
    int rc = b.data ? write_file(path, b.data, err, errsize) : -1;
    buf_free(&b);
    if (!init)
        log_warn("oci", "no catatonit or tini: containers run without --init (stops take the "
                        "whole grace period, zombies are not reaped)");
    return rc;
}

/* The host's own store, read-only beside ours: base images made with
 * `make base-image` (podman import) live there. */
static int write_storage_conf(const char *image_store, char *err, size_t errsize)
{
    const char *store = image_store ? image_store : "/var/lib/containers/storage";
    char probe[4300];
    snprintf(probe, sizeof probe, "%s/overlay-images", store);
    bool extra = *store && access(probe, R_OK) == 0;
    if (image_store && *image_store && !extra)
        log_warn("oci", "image store %s has no overlay images: not used", image_store);
    buf b;
    buf_init(&b);
    buf_printf(&b,
               "# Written by hangar serve at every start: edits are lost.\n"
               "[storage]\n"
               "driver = \"overlay\"\n"
               "graphroot = \"%s/storage\"\n"
               "runroot = \"%s/run\"\n",
               oci.dir, oci.dir);
    if (extra)
        buf_printf(&b, "\n[storage.options]\nadditionalimagestores = [\"%s\"]\n", store);
    char path[4300];
    snprintf(path, sizeof path, "%s/storage.conf", oci.dir);
    int rc = b.data ? write_file(path, b.data, err, errsize) : -1;
    buf_free(&b);
    if (extra)
        log_info("oci", "base images read from %s", store);
    return rc;
}

/* No registry: short names resolve nowhere and nothing is pulled. With one,
 * short names (FROM python:3.11) resolve there and Docker Hub is mirrored
 * through it; "http://" marks a registry without TLS. */
static int write_registries_conf(const char *registry, char *err, size_t errsize)
{
    buf b;
    buf_init(&b);
    buf_puts(&b, "# Written by hangar serve at every start: edits are lost.\n");
    if (!registry || !*registry) {
        buf_puts(&b, "unqualified-search-registries = []\n");
    } else {
        bool insecure = util_has_prefix(registry, "http://");
        const char *host = insecure                                ? registry + 7
                           : util_has_prefix(registry, "https://") ? registry + 8
                                                                   : registry;
        buf_printf(&b,
                   "unqualified-search-registries = [\"%s\"]\nshort-name-mode = \"permissive\"\n",
                   host);
        if (strcmp(host, "docker.io") != 0)
            buf_printf(&b,
                       "\n[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n"
                       "[[registry.mirror]]\nlocation = \"%s\"\ninsecure = %s\n"
                       "\n[[registry]]\nlocation = \"%s\"\ninsecure = %s\n",
                       host, insecure ? "true" : "false", host, insecure ? "true" : "false");
    }
    char path[4300];
    snprintf(path, sizeof path, "%s/registries.conf", oci.dir);
    int rc = b.data ? write_file(path, b.data, err, errsize) : -1;
    buf_free(&b);
    return rc;
}

static int podman_configure(const oci_options *opt, char *err, size_t errsize)
{
    const char *dirs[] = {"", "/storage", "/run", "/tmp", "/home", "/state"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char path[4300];
        snprintf(path, sizeof path, "%s%s", oci.dir, dirs[i]);
        if (util_mkdir_p(path, 0700) < 0) {
            snprintf(err, errsize, "cannot create %s: %s", path, strerror(errno));
            return -1;
        }
    }
    snprintf(oci.env_conf, sizeof oci.env_conf, "CONTAINERS_CONF=%s/containers.conf", oci.dir);
    snprintf(oci.env_storage, sizeof oci.env_storage, "CONTAINERS_STORAGE_CONF=%s/storage.conf",
             oci.dir);
    snprintf(oci.env_registries, sizeof oci.env_registries,
             "CONTAINERS_REGISTRIES_CONF=%s/registries.conf", oci.dir);
    if (write_containers_conf(err, errsize) < 0 ||
        write_storage_conf(opt->image_store, err, errsize) < 0 ||
        write_registries_conf(opt->registry, err, errsize) < 0)
        return -1;
    return 0;
}

/* Asks the engine who it is: proof that it works with this configuration. */
static int engine_check(char *err, size_t errsize)
{
    const char *podman[] = {"info", "--format",
                            "{{.Version.Version}} (runtime {{.Host.OCIRuntime.Name}}, storage "
                            "{{.Store.GraphDriverName}}, cgroup {{.Host.CgroupManager}} "
                            "{{.Host.CgroupsVersion}})",
                            NULL};
    const char *docker[] = {"version", "--format", "{{.Server.Version}} (server)", NULL};
    char out[512], why[512];
    int64_t st = run_sync(oci.engine == OCI_ENGINE_PODMAN ? podman : docker, out, sizeof out, why,
                          sizeof why);
    if (st != 0) {
        snprintf(err, errsize, "%s does not work here: %s", oci.bin, why);
        return -1;
    }
    out[strcspn(out, "\n")] = '\0';
    log_info("oci", "found %s %s at %s; state in %s", oci_engine_name(), out, oci.bin,
             oci.engine == OCI_ENGINE_PODMAN ? oci.dir : "the docker daemon");
    return 0;
}

/* Containers a crashed daemon left behind (ours carry its data label). */
static void remove_leftovers(void)
{
    char label[64], out[8192], why[512];
    snprintf(label, sizeof label, "label=hangar.data=%s", oci.data_label);
    const char *ps[] = {"ps", "-aq", "--filter", label, NULL};
    if (run_sync(ps, out, sizeof out, why, sizeof why) != 0 || !out[0])
        return;
    const char *rm[OCI_MAX_ARGS] = {"rm", "-f"};
    size_t n = 2;
    for (char *save = NULL, *id = strtok_r(out, "\n", &save); id && n + 1 < OCI_MAX_ARGS;
         id = strtok_r(NULL, "\n", &save))
        rm[n++] = id;
    rm[n] = NULL;
    log_info("oci", "removing %zu container(s) left by an earlier run", n - 2);
    if (run_sync(rm, NULL, 0, why, sizeof why) != 0)
        log_warn("oci", "cannot remove old containers: %s", why);
}

static int engine_find(oci_engine want, char *err, size_t errsize)
{
    const char *env = getenv("HANGAR_OCI_ENGINE_BIN"); /* tests and odd installs */
    bool podman = want != OCI_ENGINE_DOCKER && find_in_path("podman", oci.bin, sizeof oci.bin);
    if (podman) {
        oci.engine = OCI_ENGINE_PODMAN;
    } else if (want != OCI_ENGINE_PODMAN && find_in_path("docker", oci.bin, sizeof oci.bin)) {
        oci.engine = OCI_ENGINE_DOCKER;
    } else {
        snprintf(err, errsize, "%s not found in PATH",
                 want == OCI_ENGINE_PODMAN   ? "podman"
                 : want == OCI_ENGINE_DOCKER ? "docker"
                                             : "neither podman nor docker");
        return -1;
    }
    if (env && *env)
        snprintf(oci.bin, sizeof oci.bin, "%s", env);
    return 0;
}

int oci_init(const oci_options *opt, char *err, size_t errsize)
{
    memset(&oci, 0, sizeof oci);
    char real[4096];
    if (!realpath(opt->data_dir, real)) {
        snprintf(err, errsize, "data directory %s: %s", opt->data_dir, strerror(errno));
        return -1;
    }
    snprintf(oci.dir, sizeof oci.dir, "%s/oci", real);
    snprintf(oci.run_dir, sizeof oci.run_dir, "%s/state", oci.dir);
    snprintf(oci.env_home, sizeof oci.env_home, "HOME=%s/home", oci.dir);
    snprintf(oci.network, sizeof oci.network, "%s", opt->network ? opt->network : "none");
    snprintf(oci.base_image, sizeof oci.base_image, "%s",
             opt->base_image && *opt->base_image ? opt->base_image : OCI_BASE_IMAGE);
    oci.pull = opt->registry && *opt->registry;
    /* the label that tells our containers from other daemons' on a shared engine */
    unsigned char digest[8];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)real, strlen(real), NULL, 0);
    util_hex(digest, sizeof digest, oci.data_label);
    if (engine_find(opt->engine, err, errsize) < 0)
        goto fail;
    if (util_mkdir_p(oci.run_dir, 0700) < 0) {
        snprintf(err, errsize, "cannot create %s: %s", oci.run_dir, strerror(errno));
        goto fail;
    }
    if (oci.engine == OCI_ENGINE_PODMAN && podman_configure(opt, err, errsize) < 0)
        goto fail;
    if (oci.engine == OCI_ENGINE_DOCKER)
        oci.init = true; /* dockerd ships its own (docker-init) */
    if (engine_check(err, errsize) < 0)
        goto fail;
    remove_leftovers();
    log_info("oci", "images %s; spaces' network: %s",
             oci.pull ? "may be pulled from the configured registry"
                      : "are never pulled (no registry: --pull=never)",
             oci.network);
    return 0;
fail:
    oci.engine = OCI_ENGINE_NONE;
    return -1;
}

void oci_shutdown(void)
{
    oci.engine = OCI_ENGINE_NONE;
}

/* ---- instances ------------------------------------------------------------ */

typedef struct oci_instance {
    runtime_instance base; /* first: runtime.c dispatches on base.driver */
    uv_loop_t *loop;
    runtime_callbacks cb;
    void *arg;
    char name[OCI_NAME_MAX + 8]; /* the container's: hangar-<spec name> */
    char **argv;                 /* the run command, NULL-terminated, owned */
    size_t argc;
    char pidfile[4400];
    char envfile[4400]; /* secrets, "" when there are none */
    uint64_t memory_bytes;
    uint64_t grace_ms;

    uv_process_t proc;
    uv_pipe_t out[2];
    uv_timer_t kill_timer;
    uv_timer_t retry_timer;
    int open_handles;
    int open_pipes;
    int cmds; /* helper commands in flight */
    lines_buf lines[2];
    char read_buf[OCI_READ_SIZE];

    pid_t pid;  /* the run client */
    pid_t cpid; /* the container's PID 1, 0 until known */
    int netns_fd;
    int kill_stage; /* 0 none, 1 engine kill sent, 2 client killed */
    bool proc_init; /* uv_spawn ran (the process handle must be closed) */
    bool spawned;
    bool exited; /* the client exited, or the container never started */
    bool stopping;
    bool pid_query; /* docker: an inspect for the pid is in flight */
    bool client_killed;
    bool finishing;
    bool reported;
    bool free_pending;
    runtime_exit result;
} oci_instance;

static void argv_free(oci_instance *inst)
{
    for (size_t i = 0; i < inst->argc; i++)
        free(inst->argv[i]);
    free(inst->argv);
    inst->argv = NULL;
    inst->argc = 0;
}

static void instance_free(oci_instance *inst)
{
    argv_free(inst);
    for (int i = 0; i < 2; i++)
        free(inst->lines[i].data);
    if (inst->netns_fd >= 0)
        close(inst->netns_fd);
    free(inst);
}

/* Adds one formatted argument to the run command. */
static int arg_add(oci_instance *inst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int arg_add(oci_instance *inst, const char *fmt, ...)
{
    if (inst->argc + 2 > OCI_MAX_ARGS)
        return -1;
    if (!inst->argv && !(inst->argv = calloc(OCI_MAX_ARGS, sizeof *inst->argv)))
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&inst->argv[inst->argc], fmt, ap);
    va_end(ap);
    if (rc < 0) {
        inst->argv[inst->argc] = NULL;
        return -1;
    }
    inst->argc++;
    return 0;
}

/* ---- output --------------------------------------------------------------- */

static void emit_line(oci_instance *inst, int stream, const char *line, size_t len)
{
    if (!inst->free_pending && inst->cb.on_line)
        inst->cb.on_line(&inst->base, stream, line, len, inst->arg);
}

typedef struct line_target {
    oci_instance *inst;
    int stream;
} line_target;

static void emit_target(void *ctx, const char *line, size_t len)
{
    line_target *t = ctx;
    emit_line(t->inst, t->stream, line, len);
}

static void maybe_finish(oci_instance *inst);

static void on_handle_closed(uv_handle_t *h)
{
    oci_instance *inst = h->data;
    if (--inst->open_handles > 0)
        return;
    if (inst->free_pending) {
        instance_free(inst);
        return;
    }
    inst->reported = true;
    /* the caller may free inst inside on_exit: nothing touches it after */
    if (inst->cb.on_exit)
        inst->cb.on_exit(&inst->base, &inst->result, inst->arg);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

static void close_pipe(oci_instance *inst, int stream)
{
    uv_handle_t *h = (uv_handle_t *)&inst->out[stream - 1];
    if (uv_is_closing(h))
        return;
    line_target t = {inst, stream};
    lines_flush(&inst->lines[stream - 1], emit_target, &t);
    inst->open_pipes--;
    close_handle(h);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    oci_instance *inst = h->data;
    (void)suggested;
    /* libuv reads one stream at a time and hands the buffer back at once */
    *b = uv_buf_init(inst->read_buf, sizeof inst->read_buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    oci_instance *inst = s->data;
    int stream = (uv_pipe_t *)s == &inst->out[0] ? 1 : 2;
    if (n > 0) {
        line_target t = {inst, stream};
        lines_feed(&inst->lines[stream - 1], b->base, (size_t)n, emit_target, &t);
        return;
    }
    if (n == 0)
        return;
    if (n != UV_EOF)
        log_error("oci", "%s: read output: %s", inst->name, uv_strerror((int)n));
    close_pipe(inst, stream);
    maybe_finish(inst);
}

/* ---- the end ---------------------------------------------------------------- */

/* Everything is over (the client exited, its output drained, no command in
 * flight): close the timers; the last close reports. */
static void maybe_finish(oci_instance *inst)
{
    if (!inst->exited || inst->cmds > 0 || inst->open_pipes > 0 || inst->finishing)
        return;
    inst->finishing = true;
    uv_timer_stop(&inst->kill_timer);
    uv_timer_stop(&inst->retry_timer);
    close_handle((uv_handle_t *)&inst->kill_timer);
    close_handle((uv_handle_t *)&inst->retry_timer);
}

static void on_cmd_done(int64_t status, const char *out, const char *err, void *arg)
{
    oci_instance *inst = arg;
    (void)status;
    (void)out;
    (void)err;
    inst->cmds--;
    maybe_finish(inst);
}

/* A helper command of this instance; its end is counted, nothing else. */
static void instance_cmd(oci_instance *inst, const char *const *args, cmd_done_cb cb)
{
    inst->cmds++;
    if (!cmd_start(inst->loop, args, cb ? cb : on_cmd_done, inst))
        return; /* cb still comes (with status -1) */
}

static void files_remove(oci_instance *inst)
{
    unlink(inst->pidfile);
    if (inst->envfile[0] && unlink(inst->envfile) < 0 && errno != ENOENT)
        log_error("oci", "%s: cannot remove the secrets file: %s", inst->name, strerror(errno));
}

static void on_drain_timeout(uv_timer_t *t)
{
    oci_instance *inst = t->data;
    log_warn("oci", "%s: output still open %d ms after the exit; closing it", inst->name,
             OCI_DRAIN_MS);
    close_pipe(inst, 1);
    close_pipe(inst, 2);
    maybe_finish(inst);
}

/* The init's convention: 128+N is "killed by signal N". 137 with a memory
 * limit and no stop asked for is the OOM killer (see oci.h). */
static void exit_result(oci_instance *inst, int64_t status, int term_signal)
{
    runtime_exit *r = &inst->result;
    r->oom = !term_signal && status == 128 + SIGKILL && inst->memory_bytes > 0 && !inst->stopping;
    if (term_signal) {
        r->status = -1;
        r->term_signal = term_signal;
    } else if (status > 128 && status < 128 + 65) {
        r->status = -1;
        r->term_signal = (int)status - 128;
    } else {
        r->status = status;
        r->term_signal = 0;
    }
}

static void on_run_exit(uv_process_t *p, int64_t status, int term_signal)
{
    oci_instance *inst = p->data;
    inst->exited = true;
    exit_result(inst, status, term_signal);
    log_info("oci", "%s: %s run exited (status %lld, signal %d)%s", inst->name, oci_engine_name(),
             (long long)status, term_signal, inst->result.oom ? ": out of memory" : "");
    if (inst->netns_fd >= 0) {
        close(inst->netns_fd);
        inst->netns_fd = -1;
    }
    files_remove(inst);
    close_handle((uv_handle_t *)p);
    uv_timer_stop(&inst->retry_timer);
    if (inst->client_killed) {
        /* the client died before the container: remove it (--rm did not) */
        const char *rm[] = {"rm", "-f", inst->name, NULL};
        instance_cmd(inst, rm, NULL);
    }
    uv_timer_start(&inst->kill_timer, on_drain_timeout, OCI_DRAIN_MS, 0);
    maybe_finish(inst);
}

/* ---- stop ------------------------------------------------------------------- */

static void send_stop(oci_instance *inst);

static void on_retry(uv_timer_t *t)
{
    send_stop(t->data);
}

static void on_stop_done(int64_t status, const char *out, const char *err, void *arg)
{
    oci_instance *inst = arg;
    (void)out;
    inst->cmds--;
    /* "no such container": the client has not made it yet; ask again */
    if (status != 0 && !inst->exited) {
        char why[256];
        last_line(err, why, sizeof why);
        log_debug("oci", "%s: stop: %s; retrying", inst->name, why);
        uv_timer_start(&inst->retry_timer, on_retry, OCI_RETRY_MS, 0);
    }
    maybe_finish(inst);
}

static void send_stop(oci_instance *inst)
{
    if (inst->exited)
        return;
    if (inst->kill_stage > 0) {
        const char *kill_args[] = {"kill", "--signal", "KILL", inst->name, NULL};
        inst->cmds++;
        cmd_start(inst->loop, kill_args, on_stop_done, inst);
        return;
    }
    char secs[32];
    snprintf(secs, sizeof secs, "%llu", (unsigned long long)((inst->grace_ms + 999) / 1000));
    const char *stop[] = {"stop", "-t", secs, inst->name, NULL};
    inst->cmds++;
    cmd_start(inst->loop, stop, on_stop_done, inst);
}

/* The grace period is over and the container still runs: kill it, and should
 * the client outlive that too, kill the client (the rm after its exit ends
 * the container). */
static void on_kill_timer(uv_timer_t *t)
{
    oci_instance *inst = t->data;
    if (inst->exited)
        return;
    if (inst->kill_stage == 0) {
        log_info("oci", "%s: still running after the grace period: killing it", inst->name);
        inst->kill_stage = 1;
        send_stop(inst);
        uv_timer_start(&inst->kill_timer, on_kill_timer, OCI_KILL_AFTER_MS, 0);
        return;
    }
    log_warn("oci", "%s: the engine does not stop it: killing its client", inst->name);
    inst->kill_stage = 2;
    inst->client_killed = true;
    uv_process_kill(&inst->proc, SIGKILL);
}

static void kill_now(oci_instance *inst)
{
    if (inst->exited || !inst->spawned || inst->kill_stage > 0)
        return;
    inst->kill_stage = 1;
    send_stop(inst);
    uv_timer_start(&inst->kill_timer, on_kill_timer, OCI_KILL_AFTER_MS, 0);
}

void oci_stop(runtime_instance *ri, uint64_t grace_ms)
{
    oci_instance *inst = (oci_instance *)ri;
    if (!inst || inst->exited)
        return;
    if (inst->stopping) {
        if (grace_ms == 0)
            kill_now(inst); /* a second, impatient stop */
        return;
    }
    inst->stopping = true;
    inst->grace_ms = grace_ms;
    if (!inst->spawned)
        return; /* still preparing: it ends there instead of running */
    send_stop(inst);
    uv_timer_start(&inst->kill_timer, on_kill_timer, grace_ms + OCI_KILL_AFTER_MS, 0);
}

void oci_free(runtime_instance *ri)
{
    oci_instance *inst = (oci_instance *)ri;
    if (!inst)
        return;
    if (inst->reported) {
        instance_free(inst);
        return;
    }
    /* still running: kill it and free it once its handles are closed */
    inst->free_pending = true;
    inst->stopping = true;
    kill_now(inst);
}

/* ---- connections ------------------------------------------------------------ */

static void open_netns(oci_instance *inst)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)inst->cpid);
    inst->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (inst->netns_fd < 0) {
        log_debug("oci", "%s: open %s: %s", inst->name, path, strerror(errno));
        inst->cpid = 0;
        return;
    }
    /* the container runs and holds its own mount of the secrets: the host's
     * copy is no longer needed */
    if (inst->envfile[0] && unlink(inst->envfile) == 0)
        inst->envfile[0] = '\0';
    log_debug("oci", "%s: container pid %d", inst->name, (int)inst->cpid);
}

static void on_pid_answer(int64_t status, const char *out, const char *err, void *arg)
{
    oci_instance *inst = arg;
    (void)err;
    inst->cmds--;
    inst->pid_query = false;
    long pid = status == 0 ? strtol(out, NULL, 10) : 0;
    if (pid > 0 && !inst->exited && inst->netns_fd < 0) {
        inst->cpid = (pid_t)pid;
        open_netns(inst);
    }
    maybe_finish(inst);
}

/* The container's namespace, once its PID 1 is known: podman writes it to the
 * pidfile; docker is asked (one question at a time). */
static bool netns_ready(oci_instance *inst)
{
    if (inst->netns_fd >= 0)
        return true;
    if (!inst->spawned || inst->exited)
        return false;
    if (oci.engine == OCI_ENGINE_DOCKER) {
        if (!inst->pid_query) {
            inst->pid_query = true;
            const char *args[] = {"inspect", "--format", "{{.State.Pid}}", inst->name, NULL};
            inst->cmds++;
            cmd_start(inst->loop, args, on_pid_answer, inst);
        }
        return false;
    }
    int fd = open(inst->pidfile, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char text[32] = "";
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    long pid = n > 0 ? strtol(text, NULL, 10) : 0;
    if (pid <= 0)
        return false;
    inst->cpid = (pid_t)pid;
    open_netns(inst);
    return inst->netns_fd >= 0;
}

int oci_connect(runtime_instance *ri, int port, uv_tcp_t *handle, uv_connect_t *req,
                uv_connect_cb cb)
{
    oci_instance *inst = (oci_instance *)ri;
    if (inst->exited || inst->stopping)
        return UV_ESRCH;
    if (!netns_ready(inst))
        return UV_EAGAIN;
    return runtime_netns_connect(inst->netns_fd, port, handle, req, cb);
}

int oci_netns(runtime_instance *ri)
{
    oci_instance *inst = (oci_instance *)ri;
    if (inst->exited || inst->stopping)
        return UV_ESRCH;
    if (!netns_ready(inst))
        return UV_EAGAIN;
    return inst->netns_fd;
}

int oci_listening_ports(runtime_instance *ri, int *ports, int max)
{
    oci_instance *inst = (oci_instance *)ri;
    if (inst->exited)
        return UV_ESRCH;
    if (!netns_ready(inst))
        return UV_EAGAIN;
    return runtime_netns_ports(inst->cpid, ports, max);
}

pid_t oci_pid(runtime_instance *ri)
{
    return ((oci_instance *)ri)->pid;
}

/* ---- start ------------------------------------------------------------------ */

static bool name_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > OCI_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (const char *p = name; *p; p++) {
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
            *p != '-' && *p != '_' && *p != '.')
            return false;
    }
    return true;
}

static int spec_check(const runtime_spec *spec, char *err, size_t errsize)
{
    if (oci.engine == OCI_ENGINE_NONE) {
        snprintf(err, errsize, "no container engine (podman or docker) on this host");
        return -1;
    }
    if (!name_valid(spec->name)) {
        snprintf(err, errsize, "oci: invalid name (1-%d of [A-Za-z0-9._-])", OCI_NAME_MAX);
        return -1;
    }
    if (!spec->image || !*spec->image || spec->image[0] == '-') {
        snprintf(err, errsize, "oci %s: no image", spec->name);
        return -1;
    }
    if ((spec->data_dir && (spec->data_dir[0] != '/' || strchr(spec->data_dir, ','))) ||
        (spec->hub_cache && (spec->hub_cache[0] != '/' || strchr(spec->hub_cache, ',') ||
                             strchr(spec->hub_cache, ':')))) {
        snprintf(err, errsize,
                 "oci %s: data_dir and hub_cache must be absolute paths without commas",
                 spec->name);
        return -1;
    }
    if (spec->uid == 0 || spec->gid == 0) {
        snprintf(err, errsize, "oci %s: refusing to run as uid or gid 0", spec->name);
        return -1;
    }
    return 0;
}

/* "export K='v'" lines, single quotes escaped: sh reads them back exactly. */
static int secrets_text(const char *const *secrets, buf *out)
{
    for (const char *const *p = secrets; *p; p++) {
        const char *eq = strchr(*p, '=');
        if (!eq || eq == *p)
            return -1;
        buf_printf(out, "export %.*s='", (int)(eq - *p), *p);
        for (const char *c = eq + 1; *c; c++) {
            if (*c == '\'')
                buf_puts(out, "'\\''");
            else
                buf_append(out, c, 1);
        }
        if (buf_puts(out, "'\n") < 0)
            return -1;
    }
    return 0;
}

/* The secrets file: readable by the container's user only, never on a
 * command line. Removed as soon as the container holds its mount. */
static int secrets_write(oci_instance *inst, const runtime_spec *spec, char *err, size_t errsize)
{
    snprintf(inst->envfile, sizeof inst->envfile, "%s/%s.env", oci.run_dir, inst->name);
    buf text;
    buf_init(&text);
    int rc = -1;
    unlink(inst->envfile);
    int fd = -1;
    if (secrets_text(spec->secret_env, &text) < 0) {
        snprintf(err, errsize, "oci %s: a secret is not K=V", spec->name);
        goto done;
    }
    fd = open(inst->envfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
    if (fd < 0 || fchown(fd, spec->uid, spec->gid) < 0 ||
        write(fd, text.data, text.len) != (ssize_t)text.len) {
        snprintf(err, errsize, "oci %s: cannot write the secrets file: %s", spec->name,
                 strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        unlink(inst->envfile);
        inst->envfile[0] = '\0';
    }
    if (text.data)
        sodium_memzero(text.data, text.len);
    buf_free(&text);
    return rc;
}

/* Everything of `run` up to the image. */
static int run_options(oci_instance *inst, const runtime_spec *spec)
{
    bool podman = oci.engine == OCI_ENGINE_PODMAN;
    int bad = 0;
    bad |= arg_add(inst, "%s", oci.bin);
    bad |= arg_add(inst, "run");
    bad |= arg_add(inst, "--rm");
    bad |= arg_add(inst, "--name=%s", inst->name);
    if (podman) {
        bad |= arg_add(inst, "--replace"); /* a leftover of a crashed daemon */
        bad |= arg_add(inst, "--pidfile=%s", inst->pidfile);
        bad |= arg_add(inst, "--log-driver=passthrough"); /* output straight to our pipes */
    } else {
        bad |= arg_add(inst, "--log-driver=none");
    }
    bad |= arg_add(inst, "--label=hangar.data=%s", oci.data_label);
    bad |= arg_add(inst, "--label=hangar.space=%s", spec->name);
    bad |= arg_add(inst, "--pull=never");
    if (oci.init)
        bad |= arg_add(inst, "--init");
    bad |= arg_add(inst, "--network=%s", spec->host_network ? "host" : oci.network);
    bad |= arg_add(inst, "--user=%u:%u", (unsigned)spec->uid, (unsigned)spec->gid);
    bad |= arg_add(inst, "--cap-drop=all");
    bad |= arg_add(inst, "--security-opt=no-new-privileges");
    if (spec->memory_bytes) {
        bad |= arg_add(inst, "--memory=%llu", (unsigned long long)spec->memory_bytes);
        bad |= arg_add(inst, "--memory-swap=%llu", (unsigned long long)spec->memory_bytes);
    }
    if (spec->cpus > 0)
        bad |= arg_add(inst, "--cpus=%g", spec->cpus);
    if (spec->pids_max > 0)
        bad |= arg_add(inst, "--pids-limit=%d", spec->pids_max);
    if (spec->data_dir)
        bad |= arg_add(inst, "--volume=%s:/data", spec->data_dir);
    if (spec->hub_cache)
        bad |= arg_add(inst, "--volume=%s:" RUNTIME_HUB_CACHE ":ro", spec->hub_cache);
    for (const char *const *d = spec->devices; d && *d; d++) {
        const char *base = strrchr(*d, '/');
        bad |= arg_add(inst, "--device=%s:/dev/%s", *d, base ? base + 1 : *d);
    }
    for (const char *const *e = spec->env; e && *e; e++)
        bad |= arg_add(inst, "--env=%s", *e);
    if (inst->envfile[0]) {
        bad |= arg_add(inst, "--volume=%s:" OCI_ENV_PATH ":ro", inst->envfile);
        bad |= arg_add(inst, "--entrypoint=/bin/sh");
    }
    return bad ? -1 : 0;
}

static const char *json_text(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}

/* After the image: with secrets, sh sources them and execs the command. */
static int run_command(oci_instance *inst, const char *image, json_t *entrypoint, json_t *cmd,
                       const char *const *argv)
{
    int bad = arg_add(inst, "%s", image);
    if (inst->envfile[0]) {
        bad |= arg_add(inst, "-c");
        bad |= arg_add(inst, ". " OCI_ENV_PATH " && exec \"$@\"");
        bad |= arg_add(inst, "hangar");
    }
    /* as with docker run: a command replaces CMD and keeps ENTRYPOINT */
    for (size_t i = 0; i < json_array_size(entrypoint); i++)
        bad |= arg_add(inst, "%s", json_text(json_array_get(entrypoint, i)));
    for (const char *const *a = argv; a && *a; a++)
        bad |= arg_add(inst, "%s", *a);
    for (size_t i = 0; !argv && i < json_array_size(cmd); i++)
        bad |= arg_add(inst, "%s", json_text(json_array_get(cmd, i)));
    return bad ? -1 : 0;
}

static int spawn_run(oci_instance *inst, char *err, size_t errsize)
{
    const char *env[32] = {NULL};
    engine_env(env, 32);
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&inst->out[0]},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&inst->out[1]}};
    /* own session: a terminal's ^C reaches the daemon, not the containers */
    /* conmon writes files such as "oom" into its working directory */
    uv_process_options_t opts = {.exit_cb = on_run_exit,
                                 .cwd = oci.run_dir,
                                 .file = oci.bin,
                                 .args = inst->argv,
                                 .env = (char **)env,
                                 .stdio = stdio,
                                 .stdio_count = 3,
                                 .flags = UV_PROCESS_DETACHED};
    int rc = uv_spawn(inst->loop, &inst->proc, &opts);
    inst->open_handles++; /* initialised even when the spawn failed */
    inst->proc_init = true;
    inst->proc.data = inst;
    if (rc < 0) {
        snprintf(err, errsize, "oci %s: cannot run %s: %s", inst->name, oci.bin, uv_strerror(rc));
        return -1;
    }
    inst->spawned = true;
    inst->pid = inst->proc.pid;
    for (int i = 0; i < 2; i++)
        uv_read_start((uv_stream_t *)&inst->out[i], on_alloc, on_read);
    log_info("oci", "%s: started, %s run pid %d", inst->name, oci_engine_name(), (int)inst->pid);
    argv_free(inst); /* the child has its copy */
    return 0;
}

/* Ends an instance that never ran a container: as if it exited with the
 * engine's failure code, the reason on its stderr. */
static void end_unstarted(oci_instance *inst, const char *why)
{
    if (why)
        emit_line(inst, 2, why, strlen(why));
    inst->exited = true;
    inst->result.status = inst->stopping ? -1 : 125;
    inst->result.term_signal = inst->stopping ? SIGTERM : 0;
    files_remove(inst);
    close_pipe(inst, 1);
    close_pipe(inst, 2);
    if (inst->proc_init)
        close_handle((uv_handle_t *)&inst->proc);
    maybe_finish(inst);
}

typedef struct inspect_ctx {
    oci_instance *inst;
    char *image;
    char **argv; /* spec->argv, copied */
} inspect_ctx;

static void ctx_free(inspect_ctx *ctx)
{
    for (char **a = ctx->argv; a && *a; a++)
        free(*a);
    free(ctx->argv);
    free(ctx->image);
    free(ctx);
}

/* The image's ENTRYPOINT and CMD are known: the command can be completed. */
static void on_inspected(int64_t status, const char *out, const char *err, void *arg)
{
    inspect_ctx *ctx = arg;
    oci_instance *inst = ctx->inst;
    inst->cmds--;
    char why[600];
    json_t *pair = status == 0 ? json_loads(out, 0, NULL) : NULL;
    if (inst->stopping) {
        end_unstarted(inst, NULL);
    } else if (!json_is_array(pair)) {
        char reason[512];
        last_line(err, reason, sizeof reason);
        snprintf(why, sizeof why, "hangar: cannot inspect the image %s: %s", ctx->image, reason);
        end_unstarted(inst, why);
    } else if (json_array_size(json_array_get(pair, 0)) +
                   json_array_size(json_array_get(pair, 1)) ==
               0) {
        snprintf(why, sizeof why, "hangar: the image %s has no CMD or ENTRYPOINT", ctx->image);
        end_unstarted(inst, why);
    } else if (run_command(inst, ctx->image, json_array_get(pair, 0), json_array_get(pair, 1),
                           (const char *const *)ctx->argv) < 0 ||
               spawn_run(inst, why, sizeof why) < 0) {
        end_unstarted(inst, why[0] ? why : "hangar: out of memory");
    }
    json_decref(pair);
    ctx_free(ctx);
}

static int inspect_then_run(oci_instance *inst, const runtime_spec *spec, char *err, size_t errsize)
{
    inspect_ctx *ctx = calloc(1, sizeof *ctx);
    size_t n = 0;
    while (spec->argv && spec->argv[n])
        n++;
    if (!ctx || !(ctx->image = strdup(spec->image)) ||
        (n && !(ctx->argv = calloc(n + 1, sizeof *ctx->argv)))) {
        if (ctx)
            ctx_free(ctx);
        snprintf(err, errsize, "oci %s: out of memory", spec->name);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        ctx->argv[i] = strdup(spec->argv[i]);
    ctx->inst = inst;
    const char *args[] = {"image",     "inspect",
                          "--format",  "[{{json .Config.Entrypoint}},{{json .Config.Cmd}}]",
                          spec->image, NULL};
    inst->cmds++;
    cmd_start(inst->loop, args, on_inspected, ctx);
    return 0;
}

static oci_instance *instance_new(uv_loop_t *loop, const runtime_spec *spec,
                                  const runtime_callbacks *cb, void *arg)
{
    oci_instance *inst = calloc(1, sizeof *inst);
    if (!inst)
        return NULL;
    inst->base.driver = RUNTIME_DRIVER_OCI;
    inst->loop = loop;
    if (cb)
        inst->cb = *cb;
    inst->arg = arg;
    inst->netns_fd = -1;
    inst->memory_bytes = spec->memory_bytes;
    snprintf(inst->name, sizeof inst->name, "hangar-%s", spec->name);
    snprintf(inst->pidfile, sizeof inst->pidfile, "%s/%s.pid", oci.run_dir, inst->name);
    for (int i = 0; i < 2; i++) {
        inst->lines[i].cap = OCI_LINE_MAX;
        inst->lines[i].data = malloc(OCI_LINE_MAX);
        if (!inst->lines[i].data) {
            instance_free(inst);
            return NULL;
        }
    }
    return inst;
}

static void handles_init(oci_instance *inst)
{
    uv_pipe_init(inst->loop, &inst->out[0], 0);
    uv_pipe_init(inst->loop, &inst->out[1], 0);
    uv_timer_init(inst->loop, &inst->kill_timer);
    uv_timer_init(inst->loop, &inst->retry_timer);
    inst->out[0].data = inst->out[1].data = inst;
    inst->kill_timer.data = inst->retry_timer.data = inst;
    inst->open_handles = 4; /* the process handle counts once uv_spawn ran */
    inst->open_pipes = 2;
}

/* A start that failed synchronously: no callback reaches the caller. */
static void start_abort(oci_instance *inst)
{
    inst->free_pending = true;
    inst->exited = true;
    files_remove(inst);
    close_pipe(inst, 1);
    close_pipe(inst, 2);
    if (inst->proc_init)
        close_handle((uv_handle_t *)&inst->proc);
    maybe_finish(inst);
}

int oci_start(uv_loop_t *loop, const runtime_spec *spec, const runtime_callbacks *cb, void *arg,
              runtime_instance **out, char *err, size_t errsize)
{
    *out = NULL;
    if (spec_check(spec, err, errsize) < 0)
        return -1;
    oci_instance *inst = instance_new(loop, spec, cb, arg);
    if (!inst) {
        snprintf(err, errsize, "oci %s: out of memory", spec->name);
        return -1;
    }
    unlink(inst->pidfile); /* a stale one would name another process */
    bool secrets = spec->secret_env && spec->secret_env[0];
    if (secrets && secrets_write(inst, spec, err, errsize) < 0) {
        instance_free(inst);
        return -1;
    }
    handles_init(inst);
    if (run_options(inst, spec) < 0) {
        snprintf(err, errsize, "oci %s: out of memory", spec->name);
        start_abort(inst);
        return -1;
    }
    /* with secrets the command is known once the image has been inspected */
    int rc;
    if (secrets) {
        rc = inspect_then_run(inst, spec, err, errsize);
    } else if (run_command(inst, spec->image, NULL, NULL, spec->argv) < 0) {
        snprintf(err, errsize, "oci %s: out of memory", spec->name);
        rc = -1;
    } else {
        rc = spawn_run(inst, err, errsize);
    }
    if (rc < 0) {
        log_error("oci", "%s", err);
        start_abort(inst);
        return -1;
    }
    *out = &inst->base;
    return 0;
}

/* ---- images ------------------------------------------------------------------- */

void oci_image_name(int64_t space_id, const char *sha, char *out, size_t size)
{
    snprintf(out, size, OCI_IMAGE_REPO "/%lld:%.12s", (long long)space_id, sha);
}

int oci_build_argv(const oci_build *b, int64_t space_id, char **argv, size_t max)
{
    size_t n = 0;
    bool bad = false;
#define ARG(...)                                                                                   \
    do {                                                                                           \
        if (n + 1 >= max || asprintf(&argv[n], __VA_ARGS__) < 0)                                   \
            bad = true;                                                                            \
        else                                                                                       \
            n++;                                                                                   \
    } while (0)
    ARG("%s", oci.bin);
    ARG("build");
    if (oci.engine == OCI_ENGINE_PODMAN) {
        /* offline unless a registry is configured; docker pulls what is missing */
        ARG("--pull=%s", oci.pull ? "missing" : "never");
        ARG("--layers");
        ARG("--format=docker"); /* keeps SHELL and HEALTHCHECK as docker does */
    } else {
        ARG("--progress=plain");
    }
    ARG("--force-rm");
    ARG("--file=%s", b->dockerfile);
    ARG("--tag=%s", b->tag);
    ARG("--label=hangar.space=%lld", (long long)space_id);
    for (const char *const *a = b->build_args; a && *a; a++)
        ARG("--build-arg=%s", *a);
    for (const char *const *s = b->secret_files; s && *s; s++) {
        const char *eq = strchr(*s, '=');
        if (!eq)
            continue;
        ARG("--secret=id=%.*s,src=%s", (int)(eq - *s), *s, eq + 1);
    }
    if (b->no_cache)
        ARG("--no-cache");
    if (oci.engine == OCI_ENGINE_PODMAN && b->cgroup_parent)
        ARG("--cgroup-parent=/%s", b->cgroup_parent);
    ARG("%s", b->context);
#undef ARG
    argv[n] = NULL;
    if (!bad)
        return (int)n;
    for (size_t i = 0; i < n; i++)
        free(argv[i]);
    argv[0] = NULL;
    return -1;
}

/* Calls fn for each directory of cgroup_parent: the cgroup2 mount's, or one
 * per v1 hierarchy (/sys/fs/cgroup/<controller>/...). */
static void cgroup_dirs(const char *cgroup_parent, void (*fn)(const char *dir))
{
    char path[4400];
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s", cgroup_parent);
    if (access(path, F_OK) == 0)
        fn(path);
    DIR *d = opendir("/sys/fs/cgroup");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/sys/fs/cgroup/%s/%s", e->d_name, cgroup_parent);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            fn(path);
    }
    if (d)
        closedir(d);
}

static void kill_procs(const char *dir)
{
    char path[4500];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    FILE *f = fopen(path, "re");
    long pid;
    while (f && fscanf(f, "%ld", &pid) == 1)
        if (pid > 1 && kill((pid_t)pid, SIGKILL) < 0 && errno != ESRCH)
            log_warn("oci", "kill %ld of a stopped build: %s", pid, strerror(errno));
    if (f)
        fclose(f);
}

static void remove_dir(const char *dir)
{
    if (rmdir(dir) < 0 && errno != ENOENT)
        log_warn("oci", "cannot remove the build cgroup %s: %s", dir, strerror(errno));
}

void oci_build_kill(const char *cgroup_parent)
{
    if (oci.engine == OCI_ENGINE_PODMAN && cgroup_parent && *cgroup_parent)
        cgroup_dirs(cgroup_parent, kill_procs);
}

void oci_build_cleanup(const char *cgroup_parent)
{
    if (oci.engine == OCI_ENGINE_PODMAN && cgroup_parent && *cgroup_parent)
        cgroup_dirs(cgroup_parent, remove_dir);
}

typedef struct gc_job {
    uv_loop_t *loop;
    int64_t space_id;
    int keep;
} gc_job;

static void gc_pruned(int64_t status, const char *out, const char *err, void *arg)
{
    gc_job *gc = arg;
    char why[256];
    last_line(err, why, sizeof why);
    if (status != 0)
        log_warn("oci", "space %lld: image prune: %s", (long long)gc->space_id, why);
    free(gc);
}

/* Dangling images of this space only (a rebuild of one commit re-tags): the
 * label keeps a build in progress elsewhere out of it. */
static void gc_prune(gc_job *gc)
{
    char label[64];
    snprintf(label, sizeof label, "label=hangar.space=%lld", (long long)gc->space_id);
    const char *args[] = {"image", "prune", "--force", "--filter", label, NULL};
    if (!cmd_start(gc->loop, args, gc_pruned, gc))
        return; /* gc_pruned frees it */
}

static void gc_removed(int64_t status, const char *out, const char *err, void *arg)
{
    gc_job *gc = arg;
    (void)out;
    char why[256];
    last_line(err, why, sizeof why);
    /* an image that a running container uses is refused: it goes next time */
    if (status != 0)
        log_info("oci", "space %lld: some images stay: %s", (long long)gc->space_id, why);
    gc_prune(gc);
}

static void gc_listed(int64_t status, const char *out, const char *err, void *arg)
{
    gc_job *gc = arg;
    (void)err;
    const char *rmi[OCI_MAX_ARGS] = {"rmi"};
    size_t n = 1;
    int seen = 0;
    char *copy = status == 0 ? strdup(out) : NULL;
    /* the engine lists the newest first */
    for (char *save = NULL, *tag = copy ? strtok_r(copy, "\n", &save) : NULL;
         tag && n + 1 < OCI_MAX_ARGS; tag = strtok_r(NULL, "\n", &save)) {
        if (strstr(tag, "<none>") || seen++ < gc->keep)
            continue;
        rmi[n++] = tag;
    }
    rmi[n] = NULL;
    if (n > 1) {
        log_info("oci", "space %lld: removing %zu old image(s)", (long long)gc->space_id, n - 1);
        cmd_start(gc->loop, rmi, gc_removed, gc);
    } else {
        gc_prune(gc);
    }
    free(copy); /* cmd_start copied nothing but the pointers: spawn has run */
}

void oci_images_collect(uv_loop_t *loop, int64_t space_id, int keep)
{
    if (oci.engine == OCI_ENGINE_NONE)
        return;
    gc_job *gc = calloc(1, sizeof *gc);
    if (!gc)
        return;
    gc->loop = loop;
    gc->space_id = space_id;
    gc->keep = keep;
    char ref[128];
    snprintf(ref, sizeof ref, "reference=" OCI_IMAGE_REPO "/%lld", (long long)space_id);
    const char *args[] = {"images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", ref, NULL};
    cmd_start(loop, args, gc_listed, gc);
}
