/* runtime: the driver-neutral side of runtime.h. Every call on an instance
 * dispatches on its header; the network namespace helpers serve both drivers,
 * since a container's namespace is reached the same way as a sandbox's. */
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "runtime/oci.h"
#include "runtime/sandbox.h"

int runtime_start(uv_loop_t *loop, const runtime_spec *spec, const runtime_callbacks *cb, void *arg,
                  runtime_instance **out, char *err, size_t errsize)
{
    if (spec->driver == RUNTIME_DRIVER_OCI)
        return oci_start(loop, spec, cb, arg, out, err, errsize);
    return sandbox_start(loop, spec, cb, arg, out, err, errsize);
}

void runtime_stop(runtime_instance *inst, uint64_t grace_ms)
{
    if (!inst)
        return;
    if (inst->driver == RUNTIME_DRIVER_OCI)
        oci_stop(inst, grace_ms);
    else
        sandbox_stop(inst, grace_ms);
}

int runtime_connect(runtime_instance *inst, int port, uv_tcp_t *handle, uv_connect_t *req,
                    uv_connect_cb cb)
{
    if (inst->driver == RUNTIME_DRIVER_OCI)
        return oci_connect(inst, port, handle, req, cb);
    return sandbox_connect(inst, port, handle, req, cb);
}

int runtime_netns_fd(runtime_instance *inst, int *fd_out)
{
    int fd = inst->driver == RUNTIME_DRIVER_OCI ? oci_netns(inst) : sandbox_netns(inst);
    if (fd < -1)
        return fd;
    *fd_out = -1;
    if (fd >= 0 && (*fd_out = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        return uv_translate_sys_error(errno);
    return 0;
}

int runtime_listening_ports(runtime_instance *inst, int *ports, int max)
{
    if (inst->driver == RUNTIME_DRIVER_OCI)
        return oci_listening_ports(inst, ports, max);
    return sandbox_listening_ports(inst, ports, max);
}

pid_t runtime_pid(runtime_instance *inst)
{
    return inst->driver == RUNTIME_DRIVER_OCI ? oci_pid(inst) : sandbox_pid(inst);
}

void runtime_free(runtime_instance *inst)
{
    if (!inst)
        return;
    if (inst->driver == RUNTIME_DRIVER_OCI)
        oci_free(inst);
    else
        sandbox_free(inst);
}

int runtime_probe(char *err, size_t errsize)
{
    return sandbox_probe(err, errsize);
}

/* ---- modes ------------------------------------------------------------- */

static const char *const mode_names[] = {
    [RUNTIME_MODE_AUTO] = "auto",
    [RUNTIME_MODE_SANDBOX] = "sandbox",
    [RUNTIME_MODE_PODMAN] = "podman",
    [RUNTIME_MODE_DOCKER] = "docker",
};

int runtime_mode_parse(const char *text, runtime_mode *out)
{
    for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++) {
        if (strcmp(text, mode_names[i]) == 0) {
            *out = (runtime_mode)i;
            return 0;
        }
    }
    return -1;
}

const char *runtime_mode_name(runtime_mode mode)
{
    return (size_t)mode < sizeof mode_names / sizeof mode_names[0] ? mode_names[mode] : "?";
}

runtime_driver runtime_driver_for(runtime_mode mode, const char *sdk)
{
    if (sdk && strcmp(sdk, "docker") == 0)
        return RUNTIME_DRIVER_OCI;
    if (mode == RUNTIME_MODE_PODMAN || mode == RUNTIME_MODE_DOCKER)
        return RUNTIME_DRIVER_OCI;
    return RUNTIME_DRIVER_SANDBOX;
}

/* ---- network namespaces -------------------------------------------------- */

/* A socket made inside netns_fd: the thread enters the namespace for the
 * socket() call only; the socket keeps the namespace it was made in. */
static int daemon_netns = -1;
static int daemon_netns_errno;

static void daemon_netns_open(void)
{
    daemon_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    daemon_netns_errno = errno;
}

/* Any thread may call it (the proxy's worker loops too): setns() changes the
 * calling thread only. */
static int socket_in_netns(int netns_fd)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (netns_fd < 0) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        return fd < 0 ? -errno : fd;
    }
    pthread_once(&once, daemon_netns_open);
    if (daemon_netns < 0)
        return -daemon_netns_errno;
    if (setns(netns_fd, CLONE_NEWNET) < 0)
        return -errno;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int saved = errno;
    if (setns(daemon_netns, CLONE_NEWNET) < 0) {
        /* every later socket of this thread would land in the space */
        log_error("runtime", "cannot return to the daemon's network namespace: %s",
                  strerror(errno));
        abort();
    }
    return fd < 0 ? -saved : fd;
}

int runtime_netns_connect(int netns_fd, int port, uv_tcp_t *handle, uv_connect_t *req,
                          uv_connect_cb cb)
{
    if (port <= 0 || port > 65535)
        return UV_EINVAL;
    int fd = socket_in_netns(netns_fd);
    if (fd < 0)
        return fd;
    int rc = uv_tcp_open(handle, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    return uv_tcp_connect(req, handle, (const struct sockaddr *)&addr, cb);
}

static int ports_add(int *ports, int n, int max, int port)
{
    for (int i = 0; i < n; i++) {
        if (ports[i] == port)
            return n;
    }
    if (n < max)
        ports[n++] = port;
    return n;
}

/* Adds the LISTEN (state 0A) ports of one /proc/PID/net/tcp{,6} table. */
static int ports_scan(const char *path, int *ports, int n, int max)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return n;
    char line[512];
    if (!fgets(line, sizeof line, f)) { /* the header */
        fclose(f);
        return n;
    }
    while (fgets(line, sizeof line, f)) {
        unsigned port, state;
        if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &port, &state) == 2 &&
            state == 0x0A)
            n = ports_add(ports, n, max, (int)port);
    }
    fclose(f);
    return n;
}

int runtime_netns_ports(pid_t pid, int *ports, int max)
{
    /* /proc/PID/net shows the tables of that process's network namespace */
    int n = 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/net/tcp", (int)pid);
    n = ports_scan(path, ports, n, max);
    snprintf(path, sizeof path, "/proc/%d/net/tcp6", (int)pid);
    return ports_scan(path, ports, n, max);
}
