/* sandbox_exec: the helper process of the sandbox driver (see sandbox.h).
 *
 * Runs as root in a process of its own, started by the daemon with
 * `hangar __sandbox NAME DAEMON_PID`; nothing here runs in the daemon. Every
 * failure is final: the process writes "sandbox: <what>: <why>" to stderr,
 * which the daemon delivers as an output line, and exits 125 (126/127 when
 * the app cannot be executed). The kernel reclaims what a dying helper held. */
#include "runtime/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include "runtime/cgroup.h"

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

#define SANDBOX_BASE "/tmp" /* any directory: a tmpfs is mounted over it */
#define SANDBOX_NEWROOT "/newroot"
#define SANDBOX_OLDROOT "/oldroot"
#define SANDBOX_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define SANDBOX_TMP_SIZE "256m"
#define SANDBOX_SHM_SIZE "64m"
#define SANDBOX_NOFILE_MAX 65536

/* The spec as the daemon sent it; the strings live in root. */
typedef struct exec_spec {
    json_t *root;
    const char *name;
    const char *app_dir;     /* resolved host paths (realpath) once in the mount ns */
    const char *data_dir;    /* or NULL */
    const char *hub_cache;   /* or NULL */
    const char **ro_binds;   /* where they appear inside */
    const char **ro_sources; /* the same, resolved on the host */
    const char **rw_binds;   /* read-write, likewise */
    const char **rw_sources;
    const char **devices; /* host nodes in /dev, given to the app at the same name */
    const char **cgroups;
    char **argv;
    char **env;
    bool host_network;
    uid_t uid;
    gid_t gid;
} exec_spec;

/* Host directories shared read-only with every space. */
static const char *const system_dirs[] = {"/usr",   "/bin",   "/sbin",   "/lib",
                                          "/lib64", "/lib32", "/libx32", "/etc"};
/* Device nodes bind-mounted from the host's /dev; null is required. */
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dprintf(STDERR_FILENO, "sandbox: %s\n", msg);
    _exit(code);
}

/* The signals a supervisor (helper or init) forwards or waits for. */
static void supervised_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGQUIT);
}

/* Closes every fd the daemon may have leaked past the five we were given. */
static void close_stray_fds(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, SANDBOX_STATUS_FD + 1, ~0U, 0) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = SANDBOX_STATUS_FD + 1; fd < max; fd++)
        close((int)fd);
}

static void status_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void status_send(const char *fmt, ...)
{
    char line[128];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* a failed write means the daemon is gone: nobody is left to tell */
    if (write(SANDBOX_STATUS_FD, line, (size_t)len) < 0)
        return;
}

/* ---- the spec ---------------------------------------------------------- */

static const char *json_str(json_t *obj, const char *key, bool required)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (required || (v && !json_is_null(v)))
        die(SANDBOX_EXIT_SETUP, "spec: %s must be a string", key);
    return NULL;
}

/* A NULL-terminated vector of the strings of an array (which may be absent). */
static char **json_strv(json_t *obj, const char *key, bool nonempty)
{
    json_t *arr = json_object_get(obj, key);
    if (arr && !json_is_array(arr))
        die(SANDBOX_EXIT_SETUP, "spec: %s must be an array", key);
    size_t n = json_array_size(arr);
    if (nonempty && n == 0)
        die(SANDBOX_EXIT_SETUP, "spec: %s must not be empty", key);
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        die(SANDBOX_EXIT_SETUP, "spec: out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        if (!json_is_string(s))
            die(SANDBOX_EXIT_SETUP, "spec: %s[%zu] must be a string", key, i);
        v[i] = (char *)json_string_value(s);
    }
    return v;
}

static void spec_read(exec_spec *spec)
{
    json_error_t jerr;
    json_t *root = json_loadfd(SANDBOX_SPEC_FD, 0, &jerr);
    close(SANDBOX_SPEC_FD);
    if (!json_is_object(root))
        die(SANDBOX_EXIT_SETUP, "spec: %s", root ? "not an object" : jerr.text);
    memset(spec, 0, sizeof *spec);
    spec->root = root;
    spec->name = json_str(root, "name", true);
    spec->app_dir = json_str(root, "app_dir", true);
    spec->data_dir = json_str(root, "data_dir", false);
    spec->hub_cache = json_str(root, "hub_cache", false);
    spec->ro_binds = (const char **)json_strv(root, "ro_binds", false);
    spec->rw_binds = (const char **)json_strv(root, "rw_binds", false);
    spec->devices = (const char **)json_strv(root, "devices", false);
    spec->cgroups = (const char **)json_strv(root, "cgroups", false);
    spec->argv = json_strv(root, "argv", true);
    spec->env = json_strv(root, "env", false);
    spec->host_network = json_is_true(json_object_get(root, "host_network"));
    json_int_t uid = json_integer_value(json_object_get(root, "uid"));
    json_int_t gid = json_integer_value(json_object_get(root, "gid"));
    if (uid <= 0 || gid <= 0 || uid > INT_MAX || gid > INT_MAX)
        die(SANDBOX_EXIT_SETUP, "spec: uid and gid must be positive (an unprivileged user)");
    spec->uid = (uid_t)uid;
    spec->gid = (gid_t)gid;
}

static void spec_free(exec_spec *spec)
{
    free(spec->ro_binds);
    free(spec->rw_binds);
    free(spec->devices);
    free(spec->cgroups);
    free(spec->argv);
    free(spec->env);
    json_decref(spec->root);
}

/* ---- namespaces and network ------------------------------------------- */

/* A fresh network namespace has only `lo`, and it is down. */
static void loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        die(SANDBOX_EXIT_SETUP, "socket for lo: %s", strerror(errno));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        die(SANDBOX_EXIT_SETUP, "get flags of lo: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        die(SANDBOX_EXIT_SETUP, "bring lo up: %s", strerror(errno));
    close(s);
}

static void join_cgroups(const exec_spec *spec)
{
    for (const char **dir = spec->cgroups; *dir; dir++) {
        if (cgroup_join(*dir) < 0)
            die(SANDBOX_EXIT_SETUP, "join cgroup %s: %s", *dir, strerror(errno));
    }
}

static void unshare_namespaces(const exec_spec *spec)
{
    int flags = CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID;
    if (!spec->host_network)
        flags |= CLONE_NEWNET;
    if (unshare(flags) < 0)
        die(SANDBOX_EXIT_SETUP, "unshare namespaces: %s", strerror(errno));
    if (!spec->host_network)
        loopback_up();
}

/* ---- the new root ------------------------------------------------------- */

static void mount_or_die(const char *src, const char *dst, const char *type, unsigned long flags,
                         const char *data)
{
    if (mount(src, dst, type, flags, data) < 0)
        die(SANDBOX_EXIT_SETUP, "mount %s on %s: %s", src ? src : type, dst, strerror(errno));
}

/* mkdir -p; components that exist (as directories or symlinks) are kept. */
static void mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        die(SANDBOX_EXIT_SETUP, "path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            die(SANDBOX_EXIT_SETUP, "mkdir %s: %s", buf, strerror(errno));
        *p = saved;
        if (saved == '\0')
            return;
    }
}

/* An empty file to bind a file (or device node) onto. */
static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        die(SANDBOX_EXIT_SETUP, "create %s: %s", path, strerror(errno));
    close(fd);
}

/* Sets mount flags on dst and on every mount below it: a recursive bind
 * (/etc with Docker's /etc/hosts, say) would otherwise keep writable
 * submounts. Kernels before 5.12 lack mount_setattr: the top mount only. */
static void restrict_mount(const char *dst, bool readonly)
{
    unsigned long long attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (readonly)
        attrs |= MOUNT_ATTR_RDONLY;
#ifdef SYS_mount_setattr
    struct {
        unsigned long long attr_set, attr_clr, propagation, userns_fd;
    } attr = {attrs, 0, 0, 0};
    if (syscall(SYS_mount_setattr, AT_FDCWD, dst, AT_RECURSIVE, &attr, sizeof attr) == 0)
        return;
    if (errno != ENOSYS)
        die(SANDBOX_EXIT_SETUP, "restrict mount %s: %s", dst, strerror(errno));
#endif
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (readonly ? MS_RDONLY : 0);
    mount_or_die(NULL, dst, NULL, flags, NULL);
}

/* Binds host path src (seen under the old root) at dst inside the new root. */
static void bind_path(const char *src, const char *dst, bool readonly)
{
    char from[PATH_MAX], to[PATH_MAX];
    snprintf(from, sizeof from, SANDBOX_OLDROOT "%s", src);
    snprintf(to, sizeof to, SANDBOX_NEWROOT "%s", dst);
    struct stat st;
    if (stat(from, &st) < 0)
        die(SANDBOX_EXIT_SETUP, "bind %s: %s", src, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        mkdir_p(to);
    } else {
        char *slash = strrchr(to, '/');
        *slash = '\0';
        mkdir_p(to);
        *slash = '/';
        touch(to);
    }
    mount_or_die(from, to, NULL, MS_BIND | MS_REC, NULL);
    restrict_mount(to, readonly);
}

/* /bin, /lib... are often symlinks into /usr (merged /usr): the same link is
 * made in the new root; real directories are bound read-only. */
static void share_system_dir(const char *dir)
{
    char from[PATH_MAX], to[PATH_MAX], target[PATH_MAX];
    snprintf(from, sizeof from, SANDBOX_OLDROOT "%s", dir);
    snprintf(to, sizeof to, SANDBOX_NEWROOT "%s", dir);
    struct stat st;
    if (lstat(from, &st) < 0)
        return;
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(from, target, sizeof target - 1);
        if (n < 0)
            die(SANDBOX_EXIT_SETUP, "readlink %s: %s", dir, strerror(errno));
        target[n] = '\0';
        if (symlink(target, to) < 0)
            die(SANDBOX_EXIT_SETUP, "symlink %s: %s", dir, strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode))
        bind_path(dir, dir, true);
}

/* A device node of the host, at /dev/<its name>: a plain bind, without the
 * nodev of other binds (the /dev tmpfs itself allows nodes). A node missing
 * on the host is an error: the space was promised it. */
static void bind_device(const char *path)
{
    char from[PATH_MAX], to[PATH_MAX];
    snprintf(from, sizeof from, SANDBOX_OLDROOT "%s", path);
    snprintf(to, sizeof to, SANDBOX_NEWROOT "/dev/%s", strrchr(path, '/') + 1);
    struct stat st;
    if (stat(from, &st) < 0)
        die(SANDBOX_EXIT_SETUP, "device %s: %s", path, strerror(errno));
    if (!S_ISCHR(st.st_mode))
        die(SANDBOX_EXIT_SETUP, "device %s: not a character device", path);
    touch(to);
    mount_or_die(from, to, NULL, MS_BIND, NULL);
}

static void make_dev(const exec_spec *spec)
{
    mount_or_die("tmpfs", SANDBOX_NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
                 "mode=0755,size=64k");
    for (size_t i = 0; i < sizeof dev_nodes / sizeof dev_nodes[0]; i++) {
        char from[PATH_MAX], to[PATH_MAX];
        snprintf(from, sizeof from, SANDBOX_OLDROOT "/dev/%s", dev_nodes[i]);
        snprintf(to, sizeof to, SANDBOX_NEWROOT "/dev/%s", dev_nodes[i]);
        if (access(from, F_OK) < 0 && i > 0)
            continue; /* only /dev/null is indispensable */
        touch(to);
        mount_or_die(from, to, NULL, MS_BIND, NULL);
    }
    static const char *const links[][2] = {{"/proc/self/fd", "fd"},
                                           {"/proc/self/fd/0", "stdin"},
                                           {"/proc/self/fd/1", "stdout"},
                                           {"/proc/self/fd/2", "stderr"}};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        char to[PATH_MAX];
        snprintf(to, sizeof to, SANDBOX_NEWROOT "/dev/%s", links[i][1]);
        if (symlink(links[i][0], to) < 0)
            die(SANDBOX_EXIT_SETUP, "symlink %s: %s", to, strerror(errno));
    }
    for (size_t i = 0; spec->devices[i]; i++)
        bind_device(spec->devices[i]);
    mkdir_p(SANDBOX_NEWROOT "/dev/shm");
    mount_or_die("tmpfs", SANDBOX_NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
                 "mode=1777,size=" SANDBOX_SHM_SIZE);
}

/* Host paths are resolved while the host root is still /, so that symlinks
 * in them (/home -> /mnt/home) lead where the daemon meant. */
static const char *resolve(const char *path)
{
    char *real = realpath(path, NULL);
    if (!real)
        die(SANDBOX_EXIT_SETUP, "%s: %s", path, strerror(errno));
    return real;
}

static const char **resolve_all(const char **paths)
{
    size_t n = 0;
    while (paths[n])
        n++;
    const char **out = calloc(n + 1, sizeof *out);
    if (!out)
        die(SANDBOX_EXIT_SETUP, "out of memory");
    for (size_t i = 0; i < n; i++)
        out[i] = resolve(paths[i]);
    return out;
}

static void resolve_paths(exec_spec *spec)
{
    spec->app_dir = resolve(spec->app_dir);
    if (spec->data_dir)
        spec->data_dir = resolve(spec->data_dir);
    if (spec->hub_cache)
        spec->hub_cache = resolve(spec->hub_cache);
    spec->ro_sources = resolve_all(spec->ro_binds);
    spec->rw_sources = resolve_all(spec->rw_binds);
}

/* Moves / to a scratch tmpfs with the host root below it at /oldroot: from
 * there anything of the host, /tmp included, can be bound into /newroot. */
static void enter_scratch_root(void)
{
    mount_or_die("tmpfs", SANDBOX_BASE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k");
    if (chdir(SANDBOX_BASE) < 0)
        die(SANDBOX_EXIT_SETUP, "chdir %s: %s", SANDBOX_BASE, strerror(errno));
    if (mkdir("newroot", 0755) < 0 || mkdir("oldroot", 0755) < 0)
        die(SANDBOX_EXIT_SETUP, "mkdir in scratch root: %s", strerror(errno));
    if (syscall(SYS_pivot_root, ".", "oldroot") < 0)
        die(SANDBOX_EXIT_SETUP, "pivot_root to scratch: %s", strerror(errno));
    if (chdir("/") < 0)
        die(SANDBOX_EXIT_SETUP, "chdir /: %s", strerror(errno));
}

static void populate_root(const exec_spec *spec)
{
    mount_or_die("tmpfs", SANDBOX_NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m");
    for (size_t i = 0; i < sizeof system_dirs / sizeof system_dirs[0]; i++)
        share_system_dir(system_dirs[i]);
    bind_path(spec->app_dir, "/app", false);
    if (spec->data_dir)
        bind_path(spec->data_dir, "/data", false);
    if (spec->hub_cache)
        bind_path(spec->hub_cache, RUNTIME_HUB_CACHE, true);
    mkdir_p(SANDBOX_NEWROOT "/tmp");
    mount_or_die("tmpfs", SANDBOX_NEWROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
                 "mode=1777,size=" SANDBOX_TMP_SIZE);
    mkdir_p(SANDBOX_NEWROOT "/dev");
    make_dev(spec);
    /* after /tmp: a shared virtualenv may live below it */
    for (size_t i = 0; spec->rw_binds[i]; i++)
        bind_path(spec->rw_sources[i], spec->rw_binds[i], false);
    for (size_t i = 0; spec->ro_binds[i]; i++)
        bind_path(spec->ro_sources[i], spec->ro_binds[i], true);
    /* the child is PID 1 of the new pid namespace: this proc shows only it */
    mkdir_p(SANDBOX_NEWROOT "/proc");
    mount_or_die("proc", SANDBOX_NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* Drops the scratch root and the host below it; / becomes /newroot, read-only. */
static void enter_new_root(void)
{
    if (umount2(SANDBOX_OLDROOT, MNT_DETACH) < 0)
        die(SANDBOX_EXIT_SETUP, "detach the host root: %s", strerror(errno));
    if (chdir(SANDBOX_NEWROOT) < 0)
        die(SANDBOX_EXIT_SETUP, "chdir new root: %s", strerror(errno));
    /* pivot_root(".", ".") stacks the scratch root on top of the new one */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        die(SANDBOX_EXIT_SETUP, "pivot_root: %s", strerror(errno));
    if (umount2(".", MNT_DETACH) < 0)
        die(SANDBOX_EXIT_SETUP, "detach the scratch root: %s", strerror(errno));
    if (chdir("/") < 0)
        die(SANDBOX_EXIT_SETUP, "chdir /: %s", strerror(errno));
    mount_or_die(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
}

static void build_root(exec_spec *spec)
{
    if (unshare(CLONE_NEWNS) < 0)
        die(SANDBOX_EXIT_SETUP, "unshare mount namespace: %s", strerror(errno));
    /* nothing we mount may propagate back to the host */
    mount_or_die(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    resolve_paths(spec);
    enter_scratch_root();
    populate_root(spec);
    enter_new_root();
    if (chdir("/app") < 0)
        die(SANDBOX_EXIT_SETUP, "chdir /app: %s", strerror(errno));
}

/* ---- privileges, init, app ------------------------------------------- */

static void drop_privileges(const exec_spec *spec)
{
    /* empty the bounding set while we still may (CAP_SETPCAP): no setuid
     * binary could hand a capability back */
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            die(SANDBOX_EXIT_SETUP, "drop capability %d: %s", cap, strerror(errno));
    }
    if (setgroups(0, NULL) < 0 || setresgid(spec->gid, spec->gid, spec->gid) < 0 ||
        setresuid(spec->uid, spec->uid, spec->uid) < 0)
        die(SANDBOX_EXIT_SETUP, "switch to uid %d gid %d: %s", (int)spec->uid, (int)spec->gid,
            strerror(errno));
    /* setresuid away from 0 has cleared the permitted and effective sets */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die(SANDBOX_EXIT_SETUP, "no_new_privs: %s", strerror(errno));
    if (setuid(0) == 0)
        die(SANDBOX_EXIT_SETUP, "privileges could be regained");
    /* a credential change clears the parent-death signal: set it again */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        die(SANDBOX_EXIT_SETUP, "pdeathsig: %s", strerror(errno));
}

/* Never above the hard limit: without CAP_SYS_RESOURCE raising it is EPERM. */
static void set_limits(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = SANDBOX_NOFILE_MAX;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
            want = rl.rlim_max;
        rl.rlim_cur = rl.rlim_max = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            die(SANDBOX_EXIT_SETUP, "RLIMIT_NOFILE %llu: %s", (unsigned long long)want,
                strerror(errno));
    }
    /* a crashing app must not fill /app with core files */
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);
}

static const char *env_get(char *const *env, const char *key)
{
    size_t len = strlen(key);
    for (; *env; env++) {
        if (strncmp(*env, key, len) == 0 && (*env)[len] == '=')
            return *env + len + 1;
    }
    return NULL;
}

/* execvpe() searches the PATH of the caller's environment, not of envp: the
 * lookup in the spec's PATH is done here. */
static void exec_app(const exec_spec *spec) __attribute__((noreturn));

static void exec_app(const exec_spec *spec)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    const char *file = spec->argv[0];
    if (strchr(file, '/')) {
        execve(file, spec->argv, spec->env);
        die(errno == ENOENT ? SANDBOX_EXIT_NOTFOUND : SANDBOX_EXIT_NOEXEC, "%s: %s", file,
            strerror(errno));
    }
    const char *path = env_get(spec->env, "PATH");
    if (!path)
        path = SANDBOX_DEFAULT_PATH;
    int found_err = 0;
    for (const char *dir = path;; dir++) {
        const char *end = strchrnul(dir, ':');
        char cand[PATH_MAX];
        int dlen = (int)(end - dir);
        if (dlen == 0) /* an empty PATH entry is the working directory */
            snprintf(cand, sizeof cand, "./%s", file);
        else
            snprintf(cand, sizeof cand, "%.*s/%s", dlen, dir, file);
        execve(cand, spec->argv, spec->env);
        if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && !found_err)
            found_err = errno; /* found, but not runnable: keep looking, as the shell does */
        if (*end == '\0')
            break;
        dir = end;
    }
    if (found_err)
        die(SANDBOX_EXIT_NOEXEC, "%s: %s", file, strerror(found_err));
    die(SANDBOX_EXIT_NOTFOUND, "%s: not found (PATH=%s)", file, path);
}

static int exit_code_of(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* PID 1 of the space: forwards termination signals to the app, reaps every
 * orphan, and ends with the app (the kernel then kills the rest). */
static void init_supervise(pid_t app, const sigset_t *set) __attribute__((noreturn));

static void init_supervise(pid_t app, const sigset_t *set)
{
    int app_status = 0;
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(set, &si);
        if (sig < 0)
            continue; /* EINTR */
        if (sig != SIGCHLD) {
            kill(app, sig);
            continue;
        }
        pid_t pid;
        int status;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid == app) {
                app_status = status;
                goto done;
            }
        }
    }
done:
    status_send("exit %d %d\n", WIFEXITED(app_status) ? WEXITSTATUS(app_status) : -1,
                WIFSIGNALED(app_status) ? WTERMSIG(app_status) : 0);
    _exit(exit_code_of(app_status));
}

static void sandbox_init(exec_spec *spec, const sigset_t *set) __attribute__((noreturn));

static void sandbox_init(exec_spec *spec, const sigset_t *set)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        die(SANDBOX_EXIT_SETUP, "pdeathsig: %s", strerror(errno));
    /* a session of its own inside the namespace, with the helper outside it */
    if (setsid() < 0)
        die(SANDBOX_EXIT_SETUP, "setsid: %s", strerror(errno));
    build_root(spec);
    if (sethostname(spec->name, strnlen(spec->name, 64)) < 0)
        die(SANDBOX_EXIT_SETUP, "sethostname: %s", strerror(errno));
    set_limits();
    drop_privileges(spec);
    /* the app (same uid) must not ptrace its init */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    pid_t app = fork();
    if (app < 0)
        die(SANDBOX_EXIT_SETUP, "fork the app: %s", strerror(errno));
    if (app == 0)
        exec_app(spec);
    init_supervise(app, set);
}

/* The helper, in the host pid namespace: forwards termination to the init
 * and exits with its status once it is gone. */
static int helper_supervise(pid_t init, const sigset_t *set)
{
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(set, &si);
        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            kill(init, SIGTERM);
            continue;
        }
        int status;
        if (waitpid(init, &status, WNOHANG) == init)
            return exit_code_of(status);
    }
}

int sandbox_exec_main(int argc, char **argv)
{
    sigset_t set;
    supervised_signals(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    close_stray_fds();
    if (argc < 3)
        die(SANDBOX_EXIT_SETUP, "usage: hangar __sandbox NAME DAEMON_PID (internal)");
    /* die with the daemon: a restarted daemon starts its spaces afresh */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != atoi(argv[2]))
        die(SANDBOX_EXIT_SETUP, "the daemon is gone");
    /* out of the daemon's process group: apps of every space may share a uid,
     * and kill(0, sig) would otherwise reach the processes of the others */
    if (setsid() < 0)
        die(SANDBOX_EXIT_SETUP, "setsid: %s", strerror(errno));
    fcntl(SANDBOX_STATUS_FD, F_SETFD, FD_CLOEXEC);
    exec_spec spec;
    spec_read(&spec);
    join_cgroups(&spec);
    unshare_namespaces(&spec);
    status_send("ready\n");
    pid_t init = fork();
    if (init < 0)
        die(SANDBOX_EXIT_SETUP, "fork: %s", strerror(errno));
    if (init == 0)
        sandbox_init(&spec, &set);
    spec_free(&spec);
    close(SANDBOX_STATUS_FD);
    /* _exit: nothing to flush, and the leak checker of a sanitizer build has
     * no business in a process that hands over its status */
    _exit(helper_supervise(init, &set));
}
