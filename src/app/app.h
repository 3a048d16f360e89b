/* app: the daemon's shared context, reachable from every request. */
#ifndef HANGAR_APP_H
#define HANGAR_APP_H

#include <uv.h>

#include "http/http.h"
#include "runtime/runtime.h"
#include "store/store.h"

typedef struct app_config {
    char listen[256];
    char data_dir[4096];
    char domain[256];
    char log_file[4096];
    http_limits limits;
    uint64_t space_memory;     /* memory limit of a space (cpu-basic) */
    double space_cpus;         /* CPU limit of a space */
    int64_t sleep_seconds;     /* default idle time before a space sleeps; -1 never */
    int build_concurrency;     /* builds at once */
    int proxy_loops;           /* worker loops on the public address; 0: the main loop */
    bool lfs_binary;           /* preupload sends small binary files to LFS too (as HF) */
    char hardware_file[4096];  /* hardware profiles (JSON), "" for the defaults */
    runtime_mode runtime;      /* which driver runs which spaces (--runtime) */
    char registry[512];        /* container registry or mirror, "" none (offline) */
    char image_store[4096];    /* read-only store of base images, "" podman's default */
    char base_image[256];      /* FROM of generated Dockerfiles, "" the default */
    char space_network[64];    /* network mode of containers, "" none (loopback only) */
    int build_timeout_s;       /* build time limit, 0: the default (30 min) */
    uint64_t build_memory;     /* memory limit of a build's sandbox, 0: the default (4 GiB) */
    uint64_t storage_size;     /* /data quota without a tier or a profile's, 0: none */
    uint64_t storage_tiers[3]; /* small, medium, large in bytes; 0: HF's sizes */
    char hub_endpoint[1024];   /* preload_from_hub source, "" none (offline) */
} app_config;

typedef struct app {
    app_config config;
    uv_loop_t *loop;
    store *store;
    http_server *http;
    int port;              /* bound port */
    char base_url[512];    /* http://HOST:PORT as clients reach the API */
    char instance_tag[16]; /* names this daemon's cgroups and containers: two daemons on
                              one host (different data directories) never collide */
} app;

/* The app a request belongs to. */
app *app_of(const http_request *req);

#endif
