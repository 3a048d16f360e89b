/* sandbox: the default runtime driver (runtime.h), namespaces + cgroups.
 *
 * The daemon never forks a sandbox itself: runtime_start() uv_spawn()s the
 * helper, `hangar-sandbox __sandbox NAME` (a small program installed beside
 * hangar; without it the hangar binary itself in a hidden mode, `hangar
 * __sandbox NAME`, which takes ~10 ms longer to load). The
 * helper reads the spec as JSON on fd 3, joins the instance's cgroup, unshares
 * the uts, ipc, pid and (unless host_network) net namespaces, brings up `lo`,
 * reports "ready" on fd 4 and forks the sandbox init: PID 1 of the new pid
 * namespace, which builds the new root in its own mount namespace, drops
 * privileges and forks the app as PID 2. The helper stays in the host pid
 * namespace as a supervisor: it forwards SIGTERM to the init (which forwards
 * it to the app, and reaps orphans like tini), and exits with the app's status.
 * When the init dies the kernel kills the rest of its pid namespace; the
 * daemon then kills whatever is left in the cgroup and removes it.
 *
 *   daemon ──uv_spawn──▶ helper (host pid ns, new net/uts/ipc ns, in cgroup)
 *     fd 1,2 ◀─ output     └─fork─▶ init, PID 1 (new mount ns, new root, uid)
 *     fd 3  ─▶ spec JSON             └─fork─▶ app, PID 2 (execve)
 *     fd 4  ◀─ "ready" / "exit STATUS SIGNAL"
 *
 * Readiness: runtime_start returns once the helper is spawned. The helper
 * writes "ready" on fd 4 after it has unshared and brought lo up; the daemon
 * then opens /proc/<helper>/ns/net and keeps that fd, and runtime_connect
 * answers UV_EAGAIN until then (a few milliseconds). The daemon must ignore
 * SIGPIPE (serve does): a helper that dies early closes the spec pipe.
 *
 * Processes: the helper calls setsid() (spaces may share a uid: kill(0, sig)
 * must not reach the daemon's process group); PID 1 drops to the app's uid
 * too, is not dumpable, and the app cannot kill it from inside.
 *
 * Exit codes of the helper (the app's own codes pass through unchanged, as
 * with docker run; a code equal to one of these is ambiguous):
 *   125  the sandbox could not be set up (bad spec, cgroup, namespace, mount,
 *        privilege drop); the reason is the last line on stderr, "sandbox: ..."
 *   126  argv[0] was found but could not be executed (permission, format)
 *   127  argv[0] was not found in the PATH of spec->env */
#ifndef HANGAR_SANDBOX_H
#define HANGAR_SANDBOX_H

#define SANDBOX_EXIT_SETUP 125
#define SANDBOX_EXIT_NOEXEC 126
#define SANDBOX_EXIT_NOTFOUND 127

/* The helper's command line word: main() dispatches `hangar __sandbox` here. */
#define SANDBOX_HELPER_COMMAND "__sandbox"
/* The helper program, looked for in the directory of the daemon's binary. */
#define SANDBOX_HELPER_BINARY "hangar-sandbox"
/* fds of the helper: 3 carries the spec in, 4 the status out. */
#define SANDBOX_SPEC_FD 3
#define SANDBOX_STATUS_FD 4

#include "runtime/runtime.h"

/* The driver's side of runtime.h: runtime_start with spec->driver
 * RUNTIME_DRIVER_SANDBOX, and the other calls on its instances, land here. */
int sandbox_start(uv_loop_t *loop, const runtime_spec *spec, const runtime_callbacks *cb, void *arg,
                  runtime_instance **out, char *err, size_t errsize);
void sandbox_stop(runtime_instance *inst, uint64_t grace_ms);
int sandbox_connect(runtime_instance *inst, int port, uv_tcp_t *handle, uv_connect_t *req,
                    uv_connect_cb cb);
int sandbox_listening_ports(runtime_instance *inst, int *ports, int max);
pid_t sandbox_pid(runtime_instance *inst);
void sandbox_free(runtime_instance *inst);
int sandbox_probe(char *err, size_t errsize);

/* Entry point of the helper process (argv[0] is "__sandbox"). */
int sandbox_exec_main(int argc, char **argv);

/* The binary spawned as the helper: path if set, else $HANGAR_SANDBOX_HELPER,
 * else hangar-sandbox in the directory of the daemon's binary, else
 * /proc/self/exe (the daemon itself). Tests point it at a hangar build since
 * their own binary has no __sandbox mode. NULL restores the default. */
void sandbox_set_helper_path(const char *path);

#endif
