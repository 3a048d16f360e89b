/* oci: the container driver of runtime.h, over podman (preferred: no daemon)
 * or docker, and the image side of Docker builds.
 *
 * Start-up, oci_init (before the loop runs, the only place that waits for a
 * child): finds the engine and, for podman, writes its configuration under
 * DATA/oci: containers.conf (the OCI runtime and cgroup manager this host
 * needs, events in a file, ulimits within the hard limits, an init binary),
 * storage.conf (images and containers under DATA/oci/storage, the host's own
 * store read-only beside it for base images) and registries.conf when a
 * registry is configured. Every podman child gets CONTAINERS_CONF and
 * CONTAINERS_STORAGE_CONF pointing there, so two daemons never share state.
 * It then removes containers a crashed daemon left behind.
 *
 * An instance is one attached `podman run --rm` child, spawned with uv_spawn:
 *
 *   daemon ──uv_spawn──▶ podman run --rm --init --network=none ... IMAGE [CMD]
 *     fd 1,2 ◀─ the app's output (log driver passthrough: no copy on disk)
 *     --pidfile ─▶ DATA/oci/run/NAME.pid: PID 1 of the container (the init)
 *
 * Network: the container has its own network namespace with loopback only
 * (like the sandbox; --space-network changes the mode). Nothing is published
 * on the host: runtime_connect opens /proc/<pid>/ns/net once the pidfile
 * appears and makes its sockets there, so only the daemon reaches app_port.
 *
 * Secrets never reach a command line or `inspect` output (podman 4.3 shows
 * type=env secrets in Config.Env): they are written, shell-quoted, to a file
 * of mode 0400 owned by the container's user, bind-mounted read-only at
 * /run/hangar/env, and sourced by /bin/sh before it execs the real command
 * (the image's ENTRYPOINT and CMD, read with `image inspect`). The host's copy
 * is unlinked as soon as the container runs. Images without /bin/sh can have
 * variables but not secrets.
 *
 * Stop: `podman stop -t GRACE` (SIGTERM, SIGKILL after the grace period; with
 * --init the app gets the signal at once), retried until the container is
 * gone, then `podman kill` should the client outlive the grace period.
 *
 * Exit: `podman run` exits with the app's status; 128+N means "killed by
 * signal N" (the init's convention) and is reported as term_signal N. An exit
 * 137 of a container with a memory limit that nobody stopped is reported as an
 * OOM kill: podman's OOMKilled flag is unreliable on cgroup v1 hosts. 125 is
 * the engine's own failure (its reason is the last stderr line). */
#ifndef HANGAR_OCI_H
#define HANGAR_OCI_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/runtime.h"

#define OCI_BASE_IMAGE "localhost/hangar-python:3.11" /* `make base-image` */
#define OCI_IMAGE_REPO "localhost/hangar"             /* images are REPO/<space id>:<sha12> */

typedef enum oci_engine {
    OCI_ENGINE_NONE = 0,
    OCI_ENGINE_PODMAN,
    OCI_ENGINE_DOCKER,
} oci_engine;

typedef struct oci_options {
    oci_engine engine;       /* the one asked for; NONE: podman, else docker, whichever exists */
    const char *data_dir;    /* DATA */
    const char *registry;    /* registry or mirror for base images; NULL or "": none (offline,
                                builds and runs use --pull=never) */
    const char *image_store; /* podman: a read-only image store with the base images; NULL:
                                the host's default store when it exists, "" none */
    const char *network;     /* `run --network` of spaces; NULL: "none" (loopback only) */
    const char *base_image;  /* FROM of generated Dockerfiles; NULL: OCI_BASE_IMAGE */
} oci_options;

/* Finds and configures the engine (see above); logs what it found. Returns 0,
 * or -1 with a reason in err (the engine is then unavailable). Blocks for the
 * engine's answers: once, at start-up, before the loop runs. */
int oci_init(const oci_options *opt, char *err, size_t errsize);
/* Ends what oci_init made (nothing to stop: instances are gone by then). */
void oci_shutdown(void);
/* The engine in use, OCI_ENGINE_NONE when there is none; its name. */
oci_engine oci_engine_in_use(void);
const char *oci_engine_name(void);
/* The base image of generated Dockerfiles (gradio and streamlit in containers). */
const char *oci_base_image(void);

/* ---- the driver's side of runtime.h (spec->driver RUNTIME_DRIVER_OCI) ---- */

int oci_start(uv_loop_t *loop, const runtime_spec *spec, const runtime_callbacks *cb, void *arg,
              runtime_instance **out, char *err, size_t errsize);
void oci_stop(runtime_instance *inst, uint64_t grace_ms);
int oci_connect(runtime_instance *inst, int port, uv_tcp_t *handle, uv_connect_t *req,
                uv_connect_cb cb);
int oci_listening_ports(runtime_instance *inst, int *ports, int max);
pid_t oci_pid(runtime_instance *inst);
void oci_free(runtime_instance *inst);

/* ---- images, for the builder --------------------------------------------- */

typedef struct oci_build {
    const char *context;             /* the checkout */
    const char *dockerfile;          /* its path */
    const char *tag;                 /* oci_image_name */
    const char *const *build_args;   /* "K=V" (the space's variables), NULL-terminated */
    const char *const *secret_files; /* "ID=PATH" (0600 files), NULL-terminated */
    bool no_cache;                   /* a factory rebuild */
    const char *cgroup_parent;       /* podman: cgroup of the RUN steps (see oci_build_kill) */
} oci_build;

/* The image of a space at a commit: "localhost/hangar/<id>:<sha12>". */
void oci_image_name(int64_t space_id, const char *sha, char *out, size_t size);
/* The build command (engine binary first) into argv, NULL-terminated, as
 * malloc'ed strings the caller frees; how many, or -1 when max is too small. */
int oci_build_argv(const oci_build *b, int64_t space_id, char **argv, size_t max);
/* Adds the engine's own variables (configuration paths, BuildKit) to env, a
 * NULL-terminated list with room for max entries; the strings are static. */
void oci_child_env(const char **env, size_t max);
/* Kills what a stopped build left running: runc starts each RUN step in a
 * session of its own, so killing the build's process group misses it; it is
 * in cgroup_parent (relative to the cgroup mounts) on every hierarchy. */
void oci_build_kill(const char *cgroup_parent);
/* Removes cgroup_parent's directories once the build has ended (runc does on
 * a normal end; after a kill nobody else would). */
void oci_build_cleanup(const char *cgroup_parent);
/* Removes the images of a space but its newest keep ones, then dangling
 * images; an image a container still uses is refused by the engine and
 * stays. keep 0 removes them all (a deleted space). In the background:
 * errors are logged. */
void oci_images_collect(uv_loop_t *loop, int64_t space_id, int keep);

#endif
