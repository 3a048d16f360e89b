#include "app/serve.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "api/lfsapi.h"
#include "app/app.h"
#include "auth/auth.h"
#include "git/repo.h"
#include "git/source.h"
#include "git/transport.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proxy/workers.h"
#include "router/router.h"
#include "runtime/firewall.h"
#include "runtime/oci.h"
#include "runtime/runtime.h"
#include "space/lifecycle.h"
#include "space/hardware.h"
#include "space/storage.h"
#include "build/build.h"
#include "auth/vault.h"

static app the_app;

/* glibc keeps its main heap at its high-water mark: a burst (a thousand
 * commits queueing their builds, a thousand clients) left the daemon's RSS
 * there for good (45 MB with 6 MB in use, after 300 spaces were created and
 * built). Every TRIM_EVERY_MS what is free goes back to the system. */
#define TRIM_EVERY_MS 10000
static uv_timer_t trim_timer;

static void on_trim_timer(uv_timer_t *t)
{
    (void)t;
    malloc_trim(0);
}
static uv_signal_t sig_term, sig_int;
static int exit_code;

app *app_of(const http_request *req)
{
    return http_server_data(req->server);
}

void serve_usage(void)
{
    fputs("usage: hangar serve [options]\n"
          "  --listen HOST:PORT      address to serve on (default 127.0.0.1:8080)\n"
          "  --data DIR              data directory (default ./data, or $HANGAR_DATA)\n"
          "  --domain DOMAIN         spaces are served at <subdomain>.DOMAIN (default localhost)\n"
          "  --log FILE              write logs to FILE instead of stderr\n"
          "  --header-timeout SECS   time allowed for a request head (default 10)\n"
          "  --idle-timeout SECS     idle keep-alive and stalled body timeout (default 60)\n"
          "  --shutdown-grace SECS   how long shutdown waits for in-flight requests (default 10)\n"
          "  --max-header-bytes N    request line and headers limit (default 32768)\n"
          "  --max-body BYTES        default request body limit (default 1048576)\n"
          "  --space-memory MB       memory limit of spaces on cpu-basic (default: profile's)\n"
          "  --space-cpus N          CPU limit of spaces on cpu-basic (default: profile's)\n"
          "  --sleep-time SECS       idle time before a space sleeps, -1 never (default 172800)\n"
          "  --build-concurrency N   builds at once (default 1)\n"
          "  --lfs-binary            ask clients to send binary files under 10 MiB through LFS\n"
          "                          too, as HF does (needs HF_HUB_DISABLE_XET=1 in clients)\n"
          "  --hardware FILE         hardware profiles and GPUs (JSON; default cpu-basic,\n"
          "                          cpu-upgrade and the GPUs nvidia-smi lists)\n"
          "  --runtime MODE          auto|sandbox|podman|docker: auto runs gradio and streamlit\n"
          "                          in the sandbox and Docker spaces in containers (podman,\n"
          "                          else docker); podman|docker run every space in containers\n"
          "  --registry HOST         registry or mirror for base images (default: none, images\n"
          "                          are never pulled); http://HOST for one without TLS\n"
          "  --image-store DIR       read-only podman store with base images (default\n"
          "                          /var/lib/containers/storage, none for no store)\n"
          "  --base-image IMAGE      FROM of generated Dockerfiles (default " OCI_BASE_IMAGE ")\n"
          "  --space-network MODE    network of containers (default none: loopback only;\n"
          "                          e.g. slirp4netns for outbound access)\n"
          "  --build-timeout SECS    time limit of a build (default 1800)\n"
          "  --build-memory MB       memory limit of a build's sandbox (default 4096)\n"
          "  --storage-size MB       /data quota of a space without a tier or a profile quota\n"
          "                          (default 20480; 0: none)\n"
          "  --storage-tiers LIST    sizes of the storage tiers in MB (default\n"
          "                          small=20480,medium=153600,large=1048576)\n"
          "  --hub-endpoint URL      hub that preload_from_hub fetches from (default: none,\n"
          "                          only what `hangar cache add` put in the cache is found)\n"
          "  --proxy-loops N         event loops (threads) serving the public address, where\n"
          "                          requests to running spaces are proxied (default: one per\n"
          "                          core beside the main loop's, at least 1); 0: the main loop\n"
          "                          serves it alone\n"
          "  --debug                 verbose logging\n"
          "environment:\n"
          "  HANGAR_ADMIN_TOKEN      makes sure user admin exists holding this write token\n",
          stderr);
}

static int parse_seconds(const char *arg, uint64_t *ms_out)
{
    char *end;
    errno = 0;
    double secs = strtod(arg, &end);
    if (errno || *end || secs <= 0 || secs > 86400)
        return -1;
    *ms_out = (uint64_t)(secs * 1000);
    return 0;
}

/* The container flags, numbered apart from the others: parse_args passes them here. */
enum {
    O_RUNTIME = 1000,
    O_REGISTRY,
    O_IMAGE_STORE,
    O_BASE_IMAGE,
    O_SPACE_NETWORK,
    O_BUILD_TIMEOUT,
    O_BUILD_MEMORY,
    O_STORAGE_SIZE = 1100,
    O_STORAGE_TIERS,
    O_HUB_ENDPOINT,
    O_PROXY_LOOPS
};

/* Names and paths the engine reads (it gets them in configuration files and
 * on command lines): a plain character set, no leading dash. */
static int container_string(const char *flag, const char *arg, char *dst, size_t size)
{
    const char *ok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@";
    if (!*arg || strlen(arg) >= size || strspn(arg, ok) != strlen(arg) || arg[0] == '-') {
        fprintf(stderr, "hangar serve: %s: bad value '%s'\n", flag, arg);
        return -1;
    }
    snprintf(dst, size, "%s", arg);
    return 0;
}

static int parse_container_arg(app_config *cfg, int opt, const char *arg)
{
    long long n;
    switch (opt) {
    case O_RUNTIME:
        if (runtime_mode_parse(arg, &cfg->runtime) == 0)
            return 0;
        fprintf(stderr, "hangar serve: --runtime is auto, sandbox, podman or docker\n");
        return -1;
    case O_REGISTRY:
        return container_string("--registry", arg, cfg->registry, sizeof cfg->registry);
    case O_IMAGE_STORE:
        return container_string("--image-store", arg, cfg->image_store, sizeof cfg->image_store);
    case O_BASE_IMAGE:
        return container_string("--base-image", arg, cfg->base_image, sizeof cfg->base_image);
    case O_SPACE_NETWORK:
        return container_string("--space-network", arg, cfg->space_network,
                                sizeof cfg->space_network);
    case O_BUILD_MEMORY:
        if (util_parse_int(arg, 64, 1 << 24, &n) == 0) {
            cfg->build_memory = (uint64_t)n << 20;
            return 0;
        }
        fprintf(stderr, "hangar serve: --build-memory is in MB, at least 64\n");
        return -1;
    default: /* O_BUILD_TIMEOUT */
        if (util_parse_int(arg, 10, 7 * 86400, &n) == 0) {
            cfg->build_timeout_s = (int)n;
            return 0;
        }
        fprintf(stderr, "hangar serve: --build-timeout is seconds, 10 to 604800\n");
        return -1;
    }
}

static int parse_args(app_config *cfg, int argc, char **argv)
{
    enum {
        O_LISTEN = 1,
        O_DATA,
        O_DOMAIN,
        O_LOG,
        O_HTO,
        O_ITO,
        O_GRACE,
        O_MHB,
        O_MB,
        O_DEBUG,
        O_SPACE_MEM,
        O_SPACE_CPUS,
        O_SLEEP,
        O_BUILDS,
        O_LFS_BINARY,
        O_HARDWARE
    };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"data", required_argument, NULL, O_DATA},
        {"domain", required_argument, NULL, O_DOMAIN},
        {"log", required_argument, NULL, O_LOG},
        {"header-timeout", required_argument, NULL, O_HTO},
        {"idle-timeout", required_argument, NULL, O_ITO},
        {"shutdown-grace", required_argument, NULL, O_GRACE},
        {"max-header-bytes", required_argument, NULL, O_MHB},
        {"max-body", required_argument, NULL, O_MB},
        {"debug", no_argument, NULL, O_DEBUG},
        {"space-memory", required_argument, NULL, O_SPACE_MEM},
        {"space-cpus", required_argument, NULL, O_SPACE_CPUS},
        {"sleep-time", required_argument, NULL, O_SLEEP},
        {"build-concurrency", required_argument, NULL, O_BUILDS},
        {"lfs-binary", no_argument, NULL, O_LFS_BINARY},
        {"hardware", required_argument, NULL, O_HARDWARE},
        {"runtime", required_argument, NULL, O_RUNTIME},
        {"registry", required_argument, NULL, O_REGISTRY},
        {"image-store", required_argument, NULL, O_IMAGE_STORE},
        {"base-image", required_argument, NULL, O_BASE_IMAGE},
        {"space-network", required_argument, NULL, O_SPACE_NETWORK},
        {"build-timeout", required_argument, NULL, O_BUILD_TIMEOUT},
        {"build-memory", required_argument, NULL, O_BUILD_MEMORY},
        {"storage-size", required_argument, NULL, O_STORAGE_SIZE},
        {"storage-tiers", required_argument, NULL, O_STORAGE_TIERS},
        {"hub-endpoint", required_argument, NULL, O_HUB_ENDPOINT},
        {"proxy-loops", required_argument, NULL, O_PROXY_LOOPS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    snprintf(cfg->listen, sizeof cfg->listen, "127.0.0.1:8080");
    const char *env_data = getenv("HANGAR_DATA");
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", env_data && *env_data ? env_data : "data");
    snprintf(cfg->domain, sizeof cfg->domain, "localhost");
    http_limits_default(&cfg->limits);
    cfg->space_memory = 0; /* 0: the hardware profile's */
    cfg->space_cpus = 0;
    cfg->sleep_seconds = 48 * 3600;
    cfg->build_concurrency = 1;
    /* One loop per core with the main loop counted: on 2 cores, a second
     * proxy loop gave the same requests/s with twice the p99 (bench/proxy). */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->proxy_loops = cores < 2 ? 1 : cores > 65 ? 64 : (int)cores - 1;
    cfg->storage_size = 20480ULL << 20;
    int c;
    long long n;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            snprintf(cfg->listen, sizeof cfg->listen, "%s", optarg);
            break;
        case O_DATA:
            snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", optarg);
            break;
        case O_DOMAIN:
            snprintf(cfg->domain, sizeof cfg->domain, "%s", optarg);
            break;
        case O_LOG:
            snprintf(cfg->log_file, sizeof cfg->log_file, "%s", optarg);
            break;
        case O_HTO:
        case O_ITO:
        case O_GRACE: {
            uint64_t *target = c == O_HTO   ? &cfg->limits.header_timeout_ms
                               : c == O_ITO ? &cfg->limits.idle_timeout_ms
                                            : &cfg->limits.shutdown_grace_ms;
            if (parse_seconds(optarg, target) < 0) {
                fprintf(stderr, "hangar serve: bad duration '%s' (seconds, e.g. 2.5)\n", optarg);
                return -1;
            }
            break;
        }
        case O_MHB:
            if (util_parse_int(optarg, 1024, 1024 * 1024, &n) < 0) {
                fprintf(stderr, "hangar serve: --max-header-bytes must be 1024..1048576\n");
                return -1;
            }
            cfg->limits.max_header_bytes = (size_t)n;
            break;
        case O_MB:
            if (util_parse_int(optarg, 1024, (long long)1 << 40, &n) < 0) {
                fprintf(stderr, "hangar serve: --max-body must be at least 1024 bytes\n");
                return -1;
            }
            cfg->limits.body_limit = (size_t)n;
            break;
        case O_DEBUG:
            log_set_level(LOG_DEBUG);
            break;
        case O_SPACE_MEM:
            if (util_parse_int(optarg, 16, 1 << 24, &n) < 0) {
                fprintf(stderr, "hangar serve: --space-memory is in MB, at least 16\n");
                return -1;
            }
            cfg->space_memory = (uint64_t)n << 20;
            break;
        case O_SPACE_CPUS: {
            char *end;
            double cpus = strtod(optarg, &end);
            if (*end || cpus <= 0 || cpus > 1024) {
                fprintf(stderr, "hangar serve: --space-cpus must be a positive number\n");
                return -1;
            }
            cfg->space_cpus = cpus;
            break;
        }
        case O_SLEEP:
            if (util_parse_int(optarg, -1, 1LL << 40, &n) < 0 || n == 0) {
                fprintf(stderr, "hangar serve: --sleep-time is seconds (> 0) or -1 (never)\n");
                return -1;
            }
            cfg->sleep_seconds = n;
            break;
        case O_BUILDS:
            if (util_parse_int(optarg, 1, 64, &n) < 0) {
                fprintf(stderr, "hangar serve: --build-concurrency must be 1..64\n");
                return -1;
            }
            cfg->build_concurrency = (int)n;
            break;
        case O_LFS_BINARY:
            cfg->lfs_binary = true;
            break;
        case O_HARDWARE:
            snprintf(cfg->hardware_file, sizeof cfg->hardware_file, "%s", optarg);
            break;
        case O_RUNTIME:
        case O_REGISTRY:
        case O_IMAGE_STORE:
        case O_BASE_IMAGE:
        case O_SPACE_NETWORK:
        case O_BUILD_TIMEOUT:
        case O_BUILD_MEMORY:
            if (parse_container_arg(cfg, c, optarg) < 0)
                return -1;
            break;
        case O_STORAGE_SIZE:
            if (util_parse_int(optarg, 0, 1LL << 30, &n) < 0 || (n > 0 && n < 2)) {
                fprintf(stderr, "hangar serve: --storage-size is in MB, 0 or at least 2\n");
                return -1;
            }
            cfg->storage_size = (uint64_t)n << 20;
            break;
        case O_STORAGE_TIERS:
            if (storage_parse_tiers(optarg, cfg->storage_tiers) < 0) {
                fprintf(stderr, "hangar serve: --storage-tiers is small=MB,medium=MB,large=MB\n");
                return -1;
            }
            break;
        case O_HUB_ENDPOINT:
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0) {
                fprintf(stderr, "hangar serve: --hub-endpoint is an http:// or https:// URL\n");
                return -1;
            }
            snprintf(cfg->hub_endpoint, sizeof cfg->hub_endpoint, "%s", optarg);
            break;
        case O_PROXY_LOOPS:
            if (util_parse_int(optarg, 0, 64, &n) < 0) {
                fprintf(stderr, "hangar serve: --proxy-loops must be 0..64\n");
                return -1;
            }
            cfg->proxy_loops = (int)n;
            break;
        case 'h':
            serve_usage();
            exit(0);
        default:
            serve_usage();
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hangar serve: unexpected argument '%s'\n", argv[optind]);
        serve_usage();
        return -1;
    }
    return 0;
}

/* Makes DATA and its layout; DATA is private to the daemon (mode 0700). */
static int prepare_data_dir(const char *dir)
{
    if (util_mkdir_p(dir, 0700) < 0) {
        log_error("serve", "cannot create data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    chmod(dir, 0700);
    static const char *const subdirs[] = {"repos", "builds", "cache", "volumes", "logs"};
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, subdirs[i]);
        if (util_mkdir_p(path, 0700) < 0) {
            log_error("serve", "cannot create %s: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Probes the sandbox and finds the container engine that --runtime asks for;
 * says in the log what runs where. Only an engine asked for by name that is
 * missing stops the daemon: auto carries on without containers. */
static int runtime_setup(const app_config *cfg)
{
    char reason[512];
    if (runtime_probe(reason, sizeof reason) < 0)
        log_warn("serve", "the sandbox cannot run spaces on this host: %s", reason);
    else if (firewall_block_local(BUILD_UID, NULL, reason, sizeof reason) < 0)
        log_warn("serve", "builds can reach the host's local services and this daemon: %s", reason);
    if (cfg->runtime == RUNTIME_MODE_SANDBOX) {
        log_info("serve", "runtime sandbox: no container engine; Docker spaces cannot run");
        return 0;
    }
    oci_options opt = {
        .engine = cfg->runtime == RUNTIME_MODE_PODMAN   ? OCI_ENGINE_PODMAN
                  : cfg->runtime == RUNTIME_MODE_DOCKER ? OCI_ENGINE_DOCKER
                                                        : OCI_ENGINE_NONE,
        .data_dir = cfg->data_dir,
        .registry = cfg->registry,
        .image_store = !cfg->image_store[0]                    ? NULL
                       : strcmp(cfg->image_store, "none") == 0 ? ""
                                                               : cfg->image_store,
        .network = cfg->space_network[0] ? cfg->space_network : NULL,
        .base_image = cfg->base_image,
    };
    if (oci_init(&opt, reason, sizeof reason) < 0) {
        if (cfg->runtime != RUNTIME_MODE_AUTO) {
            log_error("serve", "--runtime %s: %s", runtime_mode_name(cfg->runtime), reason);
            return -1;
        }
        log_warn("serve", "no container engine (%s): Docker spaces cannot run", reason);
        return 0;
    }
    log_info("serve", "runtime %s: gradio and streamlit in %s, Docker spaces in %s containers",
             runtime_mode_name(cfg->runtime),
             cfg->runtime == RUNTIME_MODE_AUTO ? "the sandbox" : "containers", oci_engine_name());
    return 0;
}

/* "h" + 8 hex digits of a hash of the data directory's real path. */
static void make_instance_tag(app *a)
{
    char real[4096];
    const char *dir = realpath(a->config.data_dir, real) ? real : a->config.data_dir;
    unsigned char digest[4];
    char hex[9];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)dir, strlen(dir), NULL, 0);
    util_hex(digest, sizeof digest, hex);
    snprintf(a->instance_tag, sizeof a->instance_tag, "h%s", hex);
}

static void on_handle_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int shutdown_pending; /* the HTTP server and the lifecycle, each done once */

static void shutdown_step_done(void)
{
    if (--shutdown_pending > 0)
        return;
    log_info("serve", "all requests finished and all spaces stopped");
    uv_signal_stop(&sig_term);
    uv_signal_stop(&sig_int);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    http_server_free(the_app.http);
    the_app.http = NULL;
}

static void on_http_drained(http_server *server)
{
    (void)server;
    shutdown_step_done();
}

static void on_workers_stopped(void)
{
    http_server_shutdown(the_app.http, on_http_drained);
}

static void on_spaces_stopped(app *a)
{
    (void)a;
    shutdown_step_done();
}

static void on_signal(uv_signal_t *sig, int signum)
{
    static int count;
    if (++count > 1) {
        log_warn("serve", "second signal, exiting now");
        exit(1);
    }
    log_info("serve", "received %s, shutting down gracefully", strsignal(signum));
    shutdown_pending = 2;
    if (workers_enabled())
        workers_stop(on_workers_stopped); /* then the main loop's own server */
    else
        http_server_shutdown(the_app.http, on_http_drained);
    lifecycle_shutdown(&the_app, on_spaces_stopped);
}

/* Every connection is a descriptor, and the usual soft limit (1024) would
 * stop Hangar far below what the host allows it: the soft limit is raised to
 * the hard one. (The sandbox and the oci driver set their own for apps.) */
static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        log_warn("serve", "cannot raise the open files limit from %llu: %s",
                 (unsigned long long)was, strerror(errno));
        return;
    }
    log_info("serve", "open files limit raised from %llu to %llu", (unsigned long long)was,
             (unsigned long long)rl.rlim_cur);
}

/* The public address: worker loops (workers.h), or the main loop alone. */
static int listen_public(app *a)
{
    if (a->config.proxy_loops > 0) {
        char err[512];
        if (workers_start(a, a->config.proxy_loops, router_on_head, err, sizeof err) < 0) {
            log_error("serve", "%s", err);
            return -1;
        }
        return 0;
    }
    a->http = http_server_new(a->loop, &a->config.limits, router_on_head, a);
    int rc = a->http ? http_server_listen(a->http, a->config.listen) : UV_ENOMEM;
    if (rc < 0) {
        log_error("serve", "cannot listen on %s: %s", a->config.listen, uv_strerror(rc));
        return -1;
    }
    a->port = http_server_port(a->http);
    return 0;
}

int serve_main(int argc, char **argv)
{
    app *a = &the_app;
    if (parse_args(&a->config, argc, argv) < 0)
        return 2;
    if (a->config.log_file[0] && log_open(a->config.log_file) < 0) {
        fprintf(stderr, "hangar serve: cannot open log file %s: %s\n", a->config.log_file,
                strerror(errno));
        return 1;
    }
    /* before any thread: preload_from_hub fetches run on the thread pool */
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("serve", "libsodium or libcurl failed to initialise");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile_limit();
    repo_global_init();
    if (prepare_data_dir(a->config.data_dir) < 0)
        return 1;
    if (store_open(a->config.data_dir, &a->store) != STORE_OK) {
        log_error("serve", "cannot open the store in %s", a->config.data_dir);
        return 1;
    }
    const char *admin_token = getenv("HANGAR_ADMIN_TOKEN");
    if (admin_token && *admin_token && auth_ensure_admin_token(a->store, admin_token) < 0) {
        log_error("serve", "cannot set up the admin token from HANGAR_ADMIN_TOKEN");
        store_close(a->store);
        return 1;
    }

    if (runtime_setup(&a->config) < 0) {
        store_close(a->store);
        return 1;
    }
    a->loop = uv_default_loop();
    if (listen_public(a) < 0) {
        store_close(a->store);
        return 1;
    }
    snprintf(a->base_url, sizeof a->base_url, "http://%s", a->config.listen);
    uv_signal_init(a->loop, &sig_term);
    uv_signal_init(a->loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    make_instance_tag(a);
    char hw_err[512];
    if (hardware_init(a->config.hardware_file, hw_err, sizeof hw_err) < 0) {
        log_error("serve", "hardware profiles: %s", hw_err);
        store_close(a->store);
        return 1;
    }
    storage_configure(a->config.storage_size, a->config.storage_tiers);
    build_collect_garbage(a->config.data_dir);
    lfsapi_gc_schedule(a->loop, a->config.data_dir);
    if (vault_open(a->config.data_dir) < 0) {
        store_close(a->store);
        return 1;
    }
    char repos[4200];
    snprintf(repos, sizeof repos, "%s/repos", a->config.data_dir);
    repo_recover(repos); /* a killed daemon's locks would refuse every commit */
    if (lifecycle_init(a) < 0) {
        log_error("serve", "cannot load the spaces");
        store_close(a->store);
        return 1;
    }
    transport_init(a); /* without it pushes work, unscanned */
    if (source_init(a) < 0)
        log_error("serve", "cannot load tracked repositories: they will not be polled");
    uv_timer_init(a->loop, &trim_timer);
    uv_timer_start(&trim_timer, on_trim_timer, TRIM_EVERY_MS, TRIM_EVERY_MS);
    uv_unref((uv_handle_t *)&trim_timer);
    log_info("serve", "hangar %s listening on %s (port %d), data in %s", HANGAR_VERSION,
             a->config.listen, a->port, a->config.data_dir);

    uv_run(a->loop, UV_RUN_DEFAULT);

    uv_walk(a->loop, on_handle_close_walk, NULL);
    uv_run(a->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(a->loop) != 0)
        log_warn("serve", "event loop closed with handles still open");
    lifecycle_free(a);
    oci_shutdown();
    store_close(a->store);
    curl_global_cleanup();
    log_info("serve", "stopped");
    log_close();
    return exit_code;
}
