/* cgroup: resource limits and whole-tree kills for sandboxed spaces.
 *
 * One group per instance, under a "hangar" parent: on cgroup v2
 * /sys/fs/cgroup/hangar/<name> with memory, cpu and pids enabled in the
 * parents' cgroup.subtree_control; on v1 one directory per controller,
 * /sys/fs/cgroup/<memory|cpu|pids>/hangar/<name>. The parent can be moved
 * with $HANGAR_CGROUP_PARENT (a path relative to the cgroup mount, e.g. a
 * systemd-delegated "system.slice/hangar.service/spaces").
 *
 * The daemon creates the group and writes the limits; the sandbox helper
 * joins it (cgroup_join) before it unshares; the daemon kills what is left
 * and removes the group after the helper exited. Everything here is a few
 * small reads and writes of cgroupfs files: cheap enough for the event loop. */
#ifndef HANGAR_CGROUP_H
#define HANGAR_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum { CGROUP_NONE = 0, CGROUP_V1 = 1, CGROUP_V2 = 2 } cgroup_version;

#define CGROUP_MAX_DIRS 3 /* v1: memory, cpu, pids; v2: one */
#define CGROUP_PATH_MAX 512

typedef struct cgroup_limits {
    uint64_t memory_bytes; /* 0: no limit */
    double cpus;           /* 0: no limit */
    int pids_max;          /* 0: no limit */
} cgroup_limits;

typedef struct cgroup {
    cgroup_version version;
    int ndirs;
    char dirs[CGROUP_MAX_DIRS][CGROUP_PATH_MAX]; /* the group's directories */
    int memory_dir;                              /* index into dirs of the memory group, or -1 */
} cgroup;

/* Detects the usable cgroup version once (cached); CGROUP_NONE with a reason in
 * err when neither a cgroup2 mount with the memory controller nor a v1 memory
 * hierarchy is found or the parent group cannot be made. */
cgroup_version cgroup_detect(char *err, size_t errsize);
/* Creates the group `name` (a stale one of that name is killed and replaced)
 * and writes the limits; 0, or -1 with a reason in err (nothing left behind). */
int cgroup_create(cgroup *cg, const char *name, const cgroup_limits *limits, char *err,
                  size_t errsize);
/* Moves the calling process into the group directory dir; 0 or -1 with errno.
 * Cheapest from a process of one thread (see cgroup.c). */
int cgroup_join(const char *dir);
/* True when the kernel OOM-killed a process in the group. term_signal is the
 * signal the tree died of (v1 kernels without an oom_kill counter fall back to
 * "memory limit hit and SIGKILLed"). */
bool cgroup_oom_killed(const cgroup *cg, int term_signal);
/* SIGKILLs every process in the group (cgroup.kill on v2, else one pass over
 * cgroup.procs); returns how many processes were seen, or -1. */
int cgroup_kill(const cgroup *cg);
/* Kills and removes every group under the hangar parent whose name starts
 * with prefix: what a daemon killed with SIGKILL left running (its sandbox
 * helpers are in these groups, and nothing else would stop them). Returns
 * how many groups were removed, or -1 when one could not be (logged). */
int cgroup_remove_prefix(const char *prefix);
/* Removes the group's directories; 0 when all are gone, -1 with errno (EBUSY
 * while dying processes are still in it) otherwise. Idempotent. */
int cgroup_remove(cgroup *cg);

#endif
