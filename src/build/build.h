/* build: turns a commit of a space into something the runtime can start.
 *
 * static: nothing to build (served by Hangar from git). gradio and streamlit
 * in the sandbox: the commit is checked out under DATA/builds/<space
 * id>/<sha>/app, and a Python environment is made with uv (venv + pip when uv
 * is missing) under DATA/cache/envs/<hash>, where hash covers the Python, the
 * sdk, its version and the requirement files: a commit that changes only app
 * code reuses the environment and rebuilds in about a second. Each step runs
 * in the sandbox (runtime.h) as the build user, with the host network; it may
 * write only the environment, a scratch TMPDIR and uv's download cache.
 *
 * Containers (sdk docker, and every sdk under `--runtime podman|docker`): the
 * checkout is built into the image localhost/hangar/<space id>:<sha12> by the
 * engine (oci.h), from the space's Dockerfile, or for gradio and streamlit
 * from a generated one (FROM the base image, packages.txt with apt,
 * requirements with pip). The space's variables are build args and its
 * secrets build secrets (files of mode 0600 under DATA/cache/build-secrets,
 * removed when the build ends); the engine's layer cache makes an app-only
 * change rebuild in seconds. After a good build, images of older commits go
 * (the newest two of the space stay: the one about to run and the one
 * running). Every step's output goes to the build log. */
#ifndef HANGAR_BUILD_H
#define HANGAR_BUILD_H

/* In the environment of every build step, with the daemon's instance tag. */
#define BUILD_TAG_VAR "HANGAR_BUILD"

#include <stdbool.h>

#include "app/app.h"
#include "runtime/runtime.h"
#include "space/config.h"
#include "space/logs.h"
#include "space/space.h"

/* Environment steps run in the sandbox as this user: below every space's uid
 * (lifecycle gives space N uid 100000+N), so no app owns what a build makes,
 * and a build can write only its own environment, its scratch directory and
 * the shared download cache. runtime/firewall keeps it off local services. */
#define BUILD_UID 99999

typedef struct build_job build_job;

typedef struct build_result {
    bool ok;
    const char *error_stage; /* when !ok: "CONFIG_ERROR", "NO_APP_FILE" or "BUILD_ERROR" */
    char error[1024];
    char app_dir[4096]; /* the checkout */
    char env_dir[4096]; /* the Python environment, "" for static */
    char env_hash[65];
    runtime_driver driver; /* what runs it */
    char image[256];       /* oci: the image built, "" otherwise */
    config cfg;            /* valid when ok (and for most errors after parsing); owned by the job */
    bool cfg_valid;
} build_result;

typedef void (*build_done_cb)(build_job *job, const build_result *result, void *arg);

/* Starts building sp at sha, logging to log; cb is called once at the end.
 * fresh (a factory rebuild) makes the environment again instead of reusing
 * the cached one; the new one replaces it for later builds. */
build_job *build_start(app *a, const space *sp, const char *sha, logs_stream *log, bool fresh,
                       build_done_cb cb, void *arg);
/* Stops a running build (kills its step); cb follows with an error. */
void build_cancel(build_job *job);
/* Frees a finished job (after its cb). */
void build_free(build_job *job);

const build_result *build_job_result(const build_job *job);
const char *build_job_sha(const build_job *job);
/* True while what a successful job made is still on disk, as a new build of
 * the same commit would find it (its checkout and its environment): a kept
 * job may start the app again without a build. Two access() calls. */
bool build_job_intact(const build_job *job);
/* startup_duration_timeout of the built config, in seconds. */
int build_startup_timeout(const build_job *job);

/* Removes environments replaced by factory rebuilds (call when no space runs). */
void build_collect_garbage(const char *data_dir);

/* The command that starts the app of a built space, into argv (NULL-terminated;
 * strings point into r and python, a buffer for the interpreter's path); the
 * port it listens on. An image runs its own command: argv is empty. */
int build_app_command(const build_result *r, const char *sdk, char *python, size_t python_size,
                      const char **argv, size_t max, int *port);

#endif
