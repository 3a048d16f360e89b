/* runtime: runs a space's build step or app, isolated, behind one interface.
 *
 * A driver starts a process tree from a spec, reports its output line by line
 * and its exit, stops it (SIGTERM, then SIGKILL after a grace period, killing
 * every process the app made), and opens TCP connections to ports inside it.
 * Two drivers exist: the sandbox (namespaces + cgroups written directly,
 * sandbox.h) and oci (a container of podman or docker, oci.h). spec->driver
 * picks one; every other call dispatches on the instance, so the lifecycle and
 * the proxy never know which driver runs a space.
 *
 * Everything here is called on the loop thread and never blocks it, except
 * runtime_probe (once, at start-up). The sandbox helper's exit codes (125
 * setup failed, 126 not executable, 127 not found) arrive as
 * runtime_exit.status, the reason as the last stderr line ("sandbox: ...");
 * the oci driver passes the engine's codes the same way (125: the engine
 * failed, its reason on stderr). */
#ifndef HANGAR_RUNTIME_H
#define HANGAR_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

typedef struct runtime_instance runtime_instance;

/* Where the shared model cache (HF_HUB_CACHE layout) appears inside a space. */
#define RUNTIME_HUB_CACHE "/hub-cache"

typedef enum runtime_driver {
    RUNTIME_DRIVER_SANDBOX = 0, /* namespaces + cgroups (sandbox.h) */
    RUNTIME_DRIVER_OCI,         /* a container of podman or docker (oci.h) */
} runtime_driver;

typedef struct runtime_spec {
    runtime_driver driver;       /* 0: the sandbox */
    const char *name;            /* for logs, cgroup and host names, e.g. "alice-demo-3f2a" (unique,
                                    [A-Za-z0-9._-], at most 100) */
    const char *app_dir;         /* sandbox: writable directory mounted at /app (the working
                                    directory); oci: unused, the image holds the app */
    const char *image;           /* oci: the image to run; NULL for the sandbox */
    const char *data_dir;        /* persistent directory mounted at /data, or NULL */
    const char *hub_cache;       /* the shared model cache, mounted read-only at
                                    RUNTIME_HUB_CACHE, or NULL */
    const char *const *ro_binds; /* extra host paths made visible read-only at the same path,
                                    NULL-terminated (e.g. the shared virtualenv), or NULL */
    const char *const *rw_binds; /* sandbox: host paths made visible read-write at the same
                                    path, NULL-terminated (a build's environment and its
                                    download cache), or NULL; oci: unused */
    const char *const *argv;     /* NULL-terminated; argv[0] is looked up in PATH of env.
                                    oci: NULL runs the image's own ENTRYPOINT and CMD */
    const char *const *env;      /* NULL-terminated "K=V" list: the whole environment
                                    (sandbox: HOME=/tmp is added when absent; oci: added
                                    to the image's ENV) */
    /* host device nodes given to the space (its GPUs: /dev/nvidiaN and the
     * driver's control nodes), absolute paths, NULL-terminated, or NULL.
     * Each appears as /dev/<its file name>: sandbox: a bind; oci: --device */
    const char *const *devices;
    /* "K=V" secrets, part of the environment too, that a driver keeps out of
     * sight (oci: in no `inspect` output and no command line), or NULL */
    const char *const *secret_env;
    uint64_t memory_bytes; /* 0: no limit */
    double cpus;           /* 0: no limit */
    int pids_max;          /* 0: no limit */
    bool host_network;     /* builds need the network; apps get their own netns (loopback) */
    uid_t uid;             /* unprivileged user the process runs as (0 is refused); oci: the
                              user inside the container (HF's is 1000) */
    gid_t gid;             /* its group (0 is refused); no supplementary groups */
} runtime_spec;

typedef struct runtime_exit {
    int64_t status;  /* exit status of the app (or 125/126/127 from the sandbox, see
                        above), or -1 when killed by a signal */
    int term_signal; /* the signal that killed it, or 0 */
    bool oom;        /* the memory limit was hit (OOM kill) */
} runtime_exit;

typedef struct runtime_callbacks {
    /* One line of output (without the newline); stream 1 or 2. Lines longer
     * than 8 KiB arrive in 8 KiB pieces; a last line without newline arrives
     * when the stream closes. */
    void (*on_line)(runtime_instance *inst, int stream, const char *line, size_t len, void *arg);
    /* Exactly once: the process tree is gone, the output drained, the cgroup
     * removed. The instance may be freed (runtime_free) inside this call. */
    void (*on_exit)(runtime_instance *inst, const runtime_exit *exit, void *arg);
} runtime_callbacks;

/* Starts spec on loop. On failure returns -1 and a reason in err (bad spec,
 * cgroup, spawn); failures inside the sandbox come later, through on_line and
 * on_exit. Returns before the sandbox exists: see runtime_connect. */
int runtime_start(uv_loop_t *loop, const runtime_spec *spec, const runtime_callbacks *cb, void *arg,
                  runtime_instance **out, char *err, size_t errsize);
/* SIGTERM to the app, SIGKILL to the whole tree after grace_ms. on_exit follows.
 * A no-op once the instance has exited; a second call only matters with
 * grace_ms 0 (kill now). */
void runtime_stop(runtime_instance *inst, uint64_t grace_ms);
/* Connects handle (already uv_tcp_init'ed by the caller on the instance's loop)
 * to 127.0.0.1:port inside the instance's network namespace: the socket is made
 * after setns() into it and stays there. Returns 0 and later calls cb, or a
 * negative libuv error: UV_EAGAIN while the namespace is not made yet (the
 * first few milliseconds after runtime_start: retry, as a health check
 * does anyway), UV_ESRCH once the instance is stopping or gone. The caller
 * closes handle in every case. */
int runtime_connect(runtime_instance *inst, int port, uv_tcp_t *handle, uv_connect_t *req,
                    uv_connect_cb cb);
/* A new descriptor of the instance's network namespace in *fd_out (the
 * caller closes it), or -1 there when the instance uses the daemon's own
 * network: what runtime_netns_connect needs on any thread (the proxy's worker
 * loops). 0, or the errors of runtime_connect. */
int runtime_netns_fd(runtime_instance *inst, int *fd_out);
/* TCP ports listening inside the instance (for "the app listens on 8000"
 * hints): how many were stored in ports, UV_EAGAIN before the namespace is
 * made, UV_ESRCH after the exit. With host_network these are the host's. */
int runtime_listening_ports(runtime_instance *inst, int *ports, int max);
/* The instance's supervisor process, in the daemon's pid namespace: the
 * sandbox's helper, or the engine client (`podman run`) of a container. */
pid_t runtime_pid(runtime_instance *inst);
/* Frees an instance whose on_exit has run. Called before that, it kills the
 * tree and frees the instance once its handles are closed, with no callback
 * (the loop must keep running until then). */
void runtime_free(runtime_instance *inst);

/* Probes the sandbox driver once at start-up (namespaces, a mount in a new
 * mount namespace, cgroup v1/v2 with the "hangar" parent group, the helper
 * binary); 0 or -1 with a reason. Blocks briefly (it forks a test child). The
 * oci driver has its own start-up, oci_init. */
int runtime_probe(char *err, size_t errsize);

/* `hangar serve --runtime`: which driver runs which spaces. auto runs gradio
 * and streamlit in the sandbox and Docker spaces in containers (podman when
 * installed, else docker); podman and docker run every space in containers of
 * that engine; sandbox runs no containers at all (Docker spaces cannot run). */
typedef enum runtime_mode {
    RUNTIME_MODE_AUTO = 0,
    RUNTIME_MODE_SANDBOX,
    RUNTIME_MODE_PODMAN,
    RUNTIME_MODE_DOCKER,
} runtime_mode;

/* "auto", "sandbox", "podman", "docker"; 0 or -1. */
int runtime_mode_parse(const char *text, runtime_mode *out);
const char *runtime_mode_name(runtime_mode mode);
/* The driver that builds and runs spaces of sdk under mode (sdk docker always
 * uses oci: whether an engine exists is the builder's question). */
runtime_driver runtime_driver_for(runtime_mode mode, const char *sdk);

/* ---- for drivers ---------------------------------------------------------
 * Each driver's instance starts with this header (its first member), which is
 * how runtime_stop and the others find the driver of an instance. */
struct runtime_instance {
    runtime_driver driver;
};

/* Connects handle to 127.0.0.1:port inside the network namespace netns_fd
 * (-1: the daemon's own): the socket is made after setns() into it and keeps
 * that namespace. Same returns as runtime_connect. */
int runtime_netns_connect(int netns_fd, int port, uv_tcp_t *handle, uv_connect_t *req,
                          uv_connect_cb cb);
/* The namespace descriptor an instance connects through (not a copy), -1 for
 * the daemon's own network, or the errors of runtime_connect. */
int sandbox_netns(runtime_instance *inst);
int oci_netns(runtime_instance *inst);
/* Kills and removes what a previous run of this daemon left behind after it
 * was killed (SIGKILL, a crash): every sandbox whose name starts with prefix
 * (the daemon's instance tag), helper and app with it. Called at start-up,
 * before any space starts. Returns how many were removed, or -1 (logged). */
int runtime_cleanup_stale(const char *prefix);

/* The TCP ports listening in the network namespace of process pid (from
 * /proc/PID/net/tcp and tcp6): how many were stored. */
int runtime_netns_ports(pid_t pid, int *ports, int max);

#endif
