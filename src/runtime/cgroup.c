/* cgroup: see cgroup.h. v1 and v2 differ only in file names and layout. */
#include "runtime/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lib/log.h"
#include "runtime/runtime.h"

#define CGROUP_FS "/sys/fs/cgroup"
#define CGROUP_V1_MAGIC 0x27e0ebL
#define CGROUP_V2_MAGIC 0x63677270L
#define CGROUP_CPU_PERIOD_US 100000

/* What cgroup_detect found; the loop thread is the only caller. */
static cgroup_version detected_version;
static char detected_err[256];
static bool detect_done;
static char v2_mount[CGROUP_PATH_MAX]; /* where cgroup2 with the controllers is */
static char parent_rel[256];           /* the hangar parent, relative to a mount */

/* The v1 controllers a group is made in; memory comes first and is required. */
static const char *const v1_controllers[] = {"memory", "cpu", "pids"};

static bool fs_is(const char *path, long magic)
{
    struct statfs st;
    return statfs(path, &st) == 0 && (long)st.f_type == magic;
}

static int file_write(const char *dir, const char *file, const char *value)
{
    char path[CGROUP_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(value);
    ssize_t n = write(fd, value, len);
    int saved = errno;
    close(fd);
    if (n != (ssize_t)len) {
        errno = n < 0 ? saved : EIO;
        return -1;
    }
    return 0;
}

/* Reads a small cgroupfs file into buf (NUL-terminated); bytes read or -1. */
static ssize_t file_read(const char *dir, const char *file, char *buf, size_t size)
{
    char path[CGROUP_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t used = 0;
    while (used + 1 < size) {
        ssize_t n = read(fd, buf + used, size - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    return (ssize_t)used;
}

static bool file_exists(const char *dir, const char *file)
{
    char path[CGROUP_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

/* mkdir -p of rel under base; 0 or -1 with errno. */
static int mkdir_under(const char *base, const char *rel)
{
    char path[CGROUP_PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", base, rel);
    if (n < 0 || (size_t)n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + strlen(base) + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = saved;
        if (saved == '\0')
            return 0;
    }
}

/* Finds "key N" in a flat keyed file (memory.events, memory.oom_control). */
static long long keyed_value(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
            return strtoll(p + klen + 1, NULL, 10);
    }
    return -1;
}

static bool controller_listed(const char *dir, const char *name)
{
    char buf[512];
    if (file_read(dir, "cgroup.controllers", buf, sizeof buf) < 0)
        return false;
    size_t len = strlen(name);
    for (char *tok = buf; (tok = strstr(tok, name)) != NULL; tok += len) {
        bool starts = tok == buf || tok[-1] == ' ';
        bool ends = tok[len] == ' ' || tok[len] == '\n' || tok[len] == '\0';
        if (starts && ends)
            return true;
    }
    return false;
}

static int parent_from_env(char *err, size_t errsize)
{
    const char *env = getenv("HANGAR_CGROUP_PARENT");
    const char *rel = env && *env ? env : "hangar";
    if (rel[0] == '/' || strstr(rel, "..") || strlen(rel) >= sizeof parent_rel) {
        snprintf(err, errsize, "HANGAR_CGROUP_PARENT must be a relative path without '..'");
        return -1;
    }
    snprintf(parent_rel, sizeof parent_rel, "%s", rel);
    return 0;
}

/* Enables memory (required), cpu and pids for the children of every level from
 * the mount down to the parent: cgroup v2 only hands a controller to a group
 * whose parent lists it in cgroup.subtree_control. */
static int v2_enable_controllers(char *err, size_t errsize)
{
    static const char *const wanted[] = {"memory", "cpu", "pids"};
    char dir[CGROUP_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", v2_mount);
    const char *rest = parent_rel;
    for (;;) {
        for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
            if (!controller_listed(dir, wanted[i])) {
                if (i == 0) {
                    snprintf(err, errsize, "cgroup2: memory controller not available in %s", dir);
                    return -1;
                }
                continue;
            }
            char op[32];
            snprintf(op, sizeof op, "+%s", wanted[i]);
            if (file_write(dir, "cgroup.subtree_control", op) == 0)
                continue;
            /* cpu and pids are optional: a limit asked of them fails later, by name */
            if (i > 0) {
                log_warn("cgroup", "cgroup2: enable %s in %s: %s", wanted[i], dir, strerror(errno));
                continue;
            }
            snprintf(err, errsize, "cgroup2: enable memory in %s/cgroup.subtree_control: %s", dir,
                     strerror(errno));
            return -1;
        }
        if (*rest == '\0')
            return 0;
        const char *slash = strchr(rest, '/');
        size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
        size_t used = strlen(dir);
        if (used + 1 + len >= sizeof dir) {
            snprintf(err, errsize, "cgroup2: parent path too long");
            return -1;
        }
        snprintf(dir + used, sizeof dir - used, "/%.*s", (int)len, rest);
        rest += len + (slash ? 1 : 0);
    }
}

static cgroup_version detect_v2(char *err, size_t errsize)
{
    if (mkdir_under(v2_mount, parent_rel) < 0) {
        snprintf(err, errsize, "cgroup2: mkdir %s/%s: %s", v2_mount, parent_rel, strerror(errno));
        return CGROUP_NONE;
    }
    if (v2_enable_controllers(err, errsize) < 0)
        return CGROUP_NONE;
    return CGROUP_V2;
}

static cgroup_version detect_v1(char *err, size_t errsize)
{
    for (size_t i = 0; i < sizeof v1_controllers / sizeof v1_controllers[0]; i++) {
        char mount[CGROUP_PATH_MAX];
        snprintf(mount, sizeof mount, CGROUP_FS "/%s", v1_controllers[i]);
        if (!fs_is(mount, CGROUP_V1_MAGIC))
            continue;
        if (mkdir_under(mount, parent_rel) < 0) {
            snprintf(err, errsize, "cgroup v1: mkdir %s/%s: %s", mount, parent_rel,
                     strerror(errno));
            return CGROUP_NONE;
        }
    }
    return CGROUP_V1;
}

cgroup_version cgroup_detect(char *err, size_t errsize)
{
    if (detect_done) {
        snprintf(err, errsize, "%s", detected_err);
        return detected_version;
    }
    detect_done = true;
    detected_version = CGROUP_NONE;
    if (parent_from_env(detected_err, sizeof detected_err) < 0)
        goto out;
    if (fs_is(CGROUP_FS, CGROUP_V2_MAGIC)) {
        snprintf(v2_mount, sizeof v2_mount, CGROUP_FS);
        detected_version = detect_v2(detected_err, sizeof detected_err);
    } else if (fs_is(CGROUP_FS "/memory", CGROUP_V1_MAGIC)) {
        detected_version = detect_v1(detected_err, sizeof detected_err);
    } else if (fs_is(CGROUP_FS "/unified", CGROUP_V2_MAGIC) &&
               controller_listed(CGROUP_FS "/unified", "memory")) {
        /* hybrid layout with the controllers given to the unified hierarchy */
        snprintf(v2_mount, sizeof v2_mount, CGROUP_FS "/unified");
        detected_version = detect_v2(detected_err, sizeof detected_err);
    } else {
        snprintf(detected_err, sizeof detected_err,
                 "no usable cgroup: neither cgroup2 with the memory controller nor a v1 memory "
                 "hierarchy under " CGROUP_FS);
    }
out:
    if (detected_version == CGROUP_NONE)
        log_error("cgroup", "%s", detected_err);
    snprintf(err, errsize, "%s", detected_err);
    return detected_version;
}

static int add_dir(cgroup *cg, const char *mount, const char *name)
{
    char *dir = cg->dirs[cg->ndirs];
    int n = snprintf(dir, CGROUP_PATH_MAX, "%s/%s/%s", mount, parent_rel, name);
    if (n < 0 || n >= CGROUP_PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    cg->ndirs++;
    return 0;
}

/* Lists the group's directories without touching the filesystem. */
static int cgroup_layout(cgroup *cg, const char *name)
{
    memset(cg, 0, sizeof *cg);
    cg->version = detected_version;
    cg->memory_dir = -1;
    if (cg->version == CGROUP_V2) {
        cg->memory_dir = 0;
        return add_dir(cg, v2_mount, name);
    }
    for (size_t i = 0; i < sizeof v1_controllers / sizeof v1_controllers[0]; i++) {
        char mount[CGROUP_PATH_MAX];
        snprintf(mount, sizeof mount, CGROUP_FS "/%s", v1_controllers[i]);
        if (!fs_is(mount, CGROUP_V1_MAGIC))
            continue;
        if (strcmp(v1_controllers[i], "memory") == 0)
            cg->memory_dir = cg->ndirs;
        if (add_dir(cg, mount, name) < 0)
            return -1;
    }
    return 0;
}

/* Which directory holds a controller's files: v2 has one, v1 one per controller. */
static const char *dir_of(const cgroup *cg, const char *controller)
{
    if (cg->version == CGROUP_V2)
        return cg->dirs[0];
    /* a v1 directory is CGROUP_FS/<controller>/<parent>/<name> */
    for (int i = 0; i < cg->ndirs; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, CGROUP_FS "/%s/", controller);
        if (strncmp(cg->dirs[i], prefix, strlen(prefix)) == 0)
            return cg->dirs[i];
    }
    return NULL;
}

static int write_limit(const cgroup *cg, const char *controller, const char *file,
                       const char *value, char *err, size_t errsize)
{
    const char *dir = dir_of(cg, controller);
    if (!dir || file_write(dir, file, value) < 0) {
        snprintf(err, errsize, "cgroup: set %s=%s: %s", file, value,
                 dir ? strerror(errno) : "controller not mounted");
        return -1;
    }
    return 0;
}

static int write_memory(const cgroup *cg, uint64_t bytes, char *err, size_t errsize)
{
    char value[32];
    snprintf(value, sizeof value, "%llu", (unsigned long long)bytes);
    if (cg->version == CGROUP_V2) {
        if (write_limit(cg, "memory", "memory.max", value, err, errsize) < 0)
            return -1;
        /* without this the limit only moves the excess to swap */
        if (file_exists(cg->dirs[0], "memory.swap.max"))
            return write_limit(cg, "memory", "memory.swap.max", "0", err, errsize);
        return 0;
    }
    if (write_limit(cg, "memory", "memory.limit_in_bytes", value, err, errsize) < 0)
        return -1;
    /* memsw (memory+swap) must be >= the memory limit: written second */
    if (file_exists(dir_of(cg, "memory"), "memory.memsw.limit_in_bytes"))
        return write_limit(cg, "memory", "memory.memsw.limit_in_bytes", value, err, errsize);
    return 0;
}

static int write_cpu(const cgroup *cg, double cpus, char *err, size_t errsize)
{
    long long quota = (long long)(cpus * CGROUP_CPU_PERIOD_US);
    if (quota < 1000)
        quota = 1000; /* the kernel's minimum quota */
    char value[64];
    if (cg->version == CGROUP_V2) {
        snprintf(value, sizeof value, "%lld %d", quota, CGROUP_CPU_PERIOD_US);
        return write_limit(cg, "cpu", "cpu.max", value, err, errsize);
    }
    snprintf(value, sizeof value, "%d", CGROUP_CPU_PERIOD_US);
    if (write_limit(cg, "cpu", "cpu.cfs_period_us", value, err, errsize) < 0)
        return -1;
    snprintf(value, sizeof value, "%lld", quota);
    return write_limit(cg, "cpu", "cpu.cfs_quota_us", value, err, errsize);
}

static int write_limits(const cgroup *cg, const cgroup_limits *limits, char *err, size_t errsize)
{
    if (limits->memory_bytes && write_memory(cg, limits->memory_bytes, err, errsize) < 0)
        return -1;
    if (limits->cpus > 0 && write_cpu(cg, limits->cpus, err, errsize) < 0)
        return -1;
    if (limits->pids_max > 0) {
        char value[32];
        snprintf(value, sizeof value, "%d", limits->pids_max);
        if (write_limit(cg, "pids", "pids.max", value, err, errsize) < 0)
            return -1;
    }
    return 0;
}

/* A group of this name left by a crashed daemon: kill what runs in it and
 * remove it. Dying processes leave the group within milliseconds; this rare
 * recovery path waits for them (at most ~0.2 s) rather than fail the start. */
static int remove_stale(cgroup *cg)
{
    log_warn("cgroup", "removing stale group %s", cg->dirs[0]);
    for (int i = 0; i < 200; i++) {
        cgroup_kill(cg);
        if (cgroup_remove(cg) == 0)
            return 0;
        usleep(1000);
    }
    return -1;
}

static int make_dirs(cgroup *cg)
{
    for (int i = 0; i < cg->ndirs; i++) {
        if (mkdir(cg->dirs[i], 0755) < 0)
            return -1;
    }
    return 0;
}

int cgroup_create(cgroup *cg, const char *name, const cgroup_limits *limits, char *err,
                  size_t errsize)
{
    char why[256];
    if (cgroup_detect(why, sizeof why) == CGROUP_NONE) {
        snprintf(err, errsize, "%s", why);
        return -1;
    }
    if (cgroup_layout(cg, name) < 0) {
        snprintf(err, errsize, "cgroup: name too long: %s", name);
        return -1;
    }
    cgroup probe = *cg;
    if (access(cg->dirs[0], F_OK) == 0 && remove_stale(&probe) < 0) {
        snprintf(err, errsize, "cgroup: stale group %s cannot be removed: %s", cg->dirs[0],
                 strerror(errno));
        return -1;
    }
    if (make_dirs(cg) < 0) {
        snprintf(err, errsize, "cgroup: mkdir for %s: %s", name, strerror(errno));
        goto fail;
    }
    if (write_limits(cg, limits, err, errsize) < 0)
        goto fail;
    return 0;
fail:
    cgroup_remove(cg);
    return -1;
}

/* Threads of the calling process: 1 for the sandbox helper, which starts no
 * thread; 0 when /proc cannot tell. */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* A write of a pid to cgroup.procs takes the kernel's global threadgroup
 * lock for writing, which waits for an RCU grace period: 5 to 25 ms on a
 * quiet machine, on the path of every start and wake. Linux 6.0 and later
 * skip that lock when a thread moves itself ("0" written to the v1 tasks
 * file); for a process of one thread that moves the whole process. Older
 * kernels take the lock either way, and v2 has no such file. */
int cgroup_join(const char *dir)
{
    if (file_exists(dir, "tasks") && thread_count() == 1)
        return file_write(dir, "tasks", "0");
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    return file_write(dir, "cgroup.procs", pid);
}

bool cgroup_oom_killed(const cgroup *cg, int term_signal)
{
    if (cg->memory_dir < 0 || !cg->dirs[cg->memory_dir][0])
        return false;
    const char *dir = cg->dirs[cg->memory_dir];
    char buf[1024];
    const char *file = cg->version == CGROUP_V2 ? "memory.events" : "memory.oom_control";
    if (file_read(dir, file, buf, sizeof buf) > 0) {
        long long kills = keyed_value(buf, "oom_kill");
        if (kills >= 0)
            return kills > 0;
    }
    /* v1 before Linux 4.13 has no oom_kill counter */
    if (cg->version == CGROUP_V1 && file_read(dir, "memory.failcnt", buf, sizeof buf) > 0)
        return strtoll(buf, NULL, 10) > 0 && term_signal == SIGKILL;
    return false;
}

static int kill_listed(const char *dir)
{
    char path[CGROUP_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    int seen = 0;
    long pid;
    while (fscanf(f, "%ld", &pid) == 1) {
        if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
            seen++;
    }
    fclose(f);
    return seen;
}

int cgroup_kill(const cgroup *cg)
{
    int seen = 0;
    for (int i = 0; i < cg->ndirs; i++) {
        if (!cg->dirs[i][0])
            continue;
        /* cgroup.kill (Linux 5.14) kills atomically, even a fork bomb */
        if (cg->version == CGROUP_V2 && file_write(cg->dirs[i], "cgroup.kill", "1") == 0)
            continue;
        int n = kill_listed(cg->dirs[i]);
        if (n < 0)
            return -1;
        seen += n;
    }
    return seen;
}

int cgroup_remove(cgroup *cg)
{
    int failed = 0;
    int saved = 0;
    for (int i = 0; i < cg->ndirs; i++) {
        if (!cg->dirs[i][0])
            continue;
        if (rmdir(cg->dirs[i]) == 0 || errno == ENOENT) {
            cg->dirs[i][0] = '\0';
            continue;
        }
        saved = errno;
        failed++;
    }
    if (failed) {
        errno = saved;
        return -1;
    }
    return 0;
}

/* One parent directory (a v2 mount's, or a v1 controller's): the stale
 * groups in it. A v1 group has one directory per controller, so each is
 * handled alone; killing through any of them kills the processes. */
static int remove_prefix_in(const char *mount, const char *prefix)
{
    char parent[CGROUP_PATH_MAX];
    int removed = 0, failed = 0;
    snprintf(parent, sizeof parent, "%s/%s", mount, parent_rel);
    DIR *d = opendir(parent);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_type != DT_DIR || strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        cgroup cg = {.version = detected_version, .ndirs = 1, .memory_dir = -1};
        int n = snprintf(cg.dirs[0], CGROUP_PATH_MAX, "%s/%s", parent, e->d_name);
        if (n < 0 || n >= CGROUP_PATH_MAX)
            continue;
        if (remove_stale(&cg) == 0)
            removed++;
        else
            failed++;
    }
    closedir(d);
    return failed ? -1 : removed;
}

int cgroup_remove_prefix(const char *prefix)
{
    char why[256];
    int removed = 0;
    if (!prefix || !prefix[0] || cgroup_detect(why, sizeof why) == CGROUP_NONE)
        return 0; /* no groups, nothing a crashed daemon could have left in one */
    if (detected_version == CGROUP_V2)
        return remove_prefix_in(v2_mount, prefix);
    for (size_t i = 0; i < sizeof v1_controllers / sizeof v1_controllers[0]; i++) {
        char mount[CGROUP_PATH_MAX];
        snprintf(mount, sizeof mount, CGROUP_FS "/%s", v1_controllers[i]);
        if (!fs_is(mount, CGROUP_V1_MAGIC))
            continue;
        int n = remove_prefix_in(mount, prefix);
        if (n < 0)
            return -1;
        removed += n;
    }
    return removed;
}

/* The runtime's side (runtime.h): only sandboxes live in groups of their own;
 * containers are the engine's to clean up. */
int runtime_cleanup_stale(const char *prefix)
{
    int n = cgroup_remove_prefix(prefix);
    if (n < 0)
        log_error("runtime", "some sandboxes of a previous run (%s*) could not be removed", prefix);
    else if (n > 0)
        log_warn("runtime", "killed %d sandbox(es) left by a previous run (%s*)", n, prefix);
    return n;
}
