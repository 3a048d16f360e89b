#include "space/lifecycle.h"

#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/vault.h"
#include "build/build.h"
#include "build/preload.h"
#include "git/source.h"
#include "runtime/oci.h"
#include "space/hardware.h"
#include "space/hubcache.h"
#include "space/storage.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "space/logs.h"
#include "proxy/metrics.h"
#include "proxy/routes.h"
#include "space/events.h"
#include "store/store.h"

/* Health probes come often while an app is young and less often as its start
 * drags on (a fiftieth of the time so far, within these bounds). A probe of
 * an app not yet listening is a refused connect() on the space's loopback,
 * some tens of microseconds of the loop, so the first 100 ms are probed every
 * 1-2 ms: a probe finds an app at most ~2% of its own start time after it
 * answers (a 70 ms stdlib app within 2 ms, so a wake adds little to the
 * start), and a Gradio app taking 20 s is polled 7 times a second. */
#define HEALTH_FIRST_MS 1
#define HEALTH_INTERVAL_DIVISOR 50
#define HEALTH_INTERVAL_MIN_MS 1
#define HEALTH_INTERVAL_MAX_MS 150
#define STOP_GRACE_MS 10000
#define CRASH_WINDOW_MS (10 * 60 * 1000)
#define CRASH_LIMIT 5
#define BACKOFF_MAX_S 60
#define SPACE_UID_BASE 100000
#define CONTAINER_UID 1000 /* HF runs Docker spaces as uid 1000 and images expect it */
#define DEFAULT_SLEEP_S (48 * 3600)

typedef struct lc_space lc_space;

typedef enum { INST_STARTING, INST_HEALTHY, INST_STOPPING } inst_state;

typedef struct lc_instance {
    lc_space *ls;
    runtime_instance *rt;
    build_job *job; /* keeps the build result (dirs, config) alive */
    char sha[41];
    int port;
    uint64_t generation;
    inst_state state;
    bool stop_requested;
    bool healthy_once;
    uint64_t started_ms;
    uint64_t deadline_ms; /* startup_duration_timeout */
    uv_timer_t health_timer;
    uv_tcp_t probe;
    uv_connect_t probe_req;
    uv_write_t probe_write;
    bool probing;
    logs_stream *run_log;
    char log_path[4300];
} lc_instance;

typedef struct lc_waiter {
    lifecycle_ready_cb cb;
    void *arg;
    struct lc_waiter *next;
    lc_space *ls;
} lc_waiter;

struct lc_space {
    app *a;
    space sp;
    const char *stage;
    const char *failure; /* CONFIG_ERROR, NO_APP_FILE, BUILD_ERROR, RUNTIME_ERROR, or NULL */
    char error[2048];
    lc_instance *current; /* serving */
    lc_instance *next;    /* starting beside it */
    build_job *build;
    logs_stream *build_log;
    char build_sha[41];
    char build_log_path[4300];
    char run_log_path[4300];
    bool rebuild_pending; /* a newer commit arrived during a build */
    bool factory;         /* the next build makes a fresh environment */
    uint64_t build_started_ms;
    bool queued;
    bool static_ready; /* static spaces: the checkout and config are good */
    char deployed_sha[41];
    bool sleeping;
    bool deleted;
    int gpu_ids[HARDWARE_MAX_GPUS];
    int ngpus;                /* GPUs held by this space's instances */
    bool gpu_waiting;         /* its hardware asks for GPUs that are taken */
    build_job *gpu_job;       /* the build waiting for them */
    build_job *storage_job;   /* the build waiting for /data to be mounted */
    bool storage_busy;        /* a storage_prepare or storage_remove runs for it */
    uint64_t storage_checked; /* the quota storage_prepare last handled (0: none yet) */
    bool storage_removed;     /* deleted: its /data is being removed */
    bool storage_wipe;        /* its storage was deleted: /data starts empty again */
    build_job *preload_job;   /* a build whose preload_from_hub is being fetched */
    build_job *kept_job;      /* asleep: the build the app ran from, for the wake */
    uint64_t preload_gen;     /* which request preload_job is */
    bool preload_busy;        /* a preload runs on the thread pool */
    lc_waiter *waiters;
    uint64_t last_activity_ms;
    uint64_t crashes[CRASH_LIMIT];
    int ncrashes;
    int backoff_s;
    uv_timer_t restart_timer;
    bool restart_timer_open;
    struct lc_space *next_space;
    struct lc_space *next_queued;
};

typedef struct lc_state {
    lc_space *spaces;
    lc_space *queue_head, *queue_tail;
    int building;
    int build_concurrency;
    uint64_t generation;
    uv_timer_t sleep_timer;
    bool shutting_down;
    void (*shutdown_done)(app *);
    int live_instances;
    int storage_works;    /* storage and preload jobs in the thread pool */
    char hub_cache[4096]; /* the shared model cache (absolute), "" when missing */
} lc_state;

static lc_state state;

static void start_instance(lc_space *ls, build_job *job);
static void preload_then_start(lc_space *ls, build_job *job);
static void stop_instance(lc_instance *inst);
static void schedule_build(lc_space *ls);
static void stop_everything(lc_space *ls);
static void release_gpus_if_idle(lc_space *ls);
static void maybe_shutdown_done(app *a);
static void forget_space(lc_space *ls);

static void drop_kept_build(lc_space *ls)
{
    build_free(ls->kept_job);
    ls->kept_job = NULL;
}

/* ---- stage ------------------------------------------------------------- */

static const char *compute_stage(lc_space *ls)
{
    bool serving = ls->current && ls->current->state == INST_HEALTHY;
    if (ls->deleted)
        return "DELETING";
    if (ls->sp.paused)
        return "PAUSED";
    if (!ls->sp.sha[0])
        return "NO_APP_FILE";
    if (strcmp(ls->sp.sdk, "static") == 0) {
        if (ls->build || ls->queued)
            return ls->static_ready ? "RUNNING_BUILDING" : "BUILDING";
        return ls->static_ready ? "RUNNING" : ls->failure ? ls->failure : "STOPPED";
    }
    if (ls->build || ls->queued || ls->preload_job)
        return serving ? "RUNNING_BUILDING" : "BUILDING";
    if (ls->next && ls->next->state == INST_STARTING)
        return serving ? "RUNNING_APP_STARTING" : "APP_STARTING";
    if (ls->current && ls->current->state == INST_STARTING)
        return "APP_STARTING";
    if (ls->storage_job)
        return serving ? "RUNNING_APP_STARTING" : "APP_STARTING";
    if (serving)
        return "RUNNING";
    if (ls->failure)
        return ls->failure;
    if (ls->sleeping)
        return "SLEEPING";
    return "STOPPED";
}

static void update_stage(lc_space *ls)
{
    const char *stage = compute_stage(ls);
    if (ls->stage && strcmp(ls->stage, stage) == 0)
        return;
    routes_invalidate();
    ls->stage = stage;
    metrics_stage_set(ls->sp.full_id, ls->deleted ? NULL : stage);
    log_info("lifecycle", "%s: %s%s%s", ls->sp.full_id, stage, ls->failure ? " - " : "",
             ls->failure ? ls->error : "");
    json_t *data = json_pack("{s:s}", "stage", stage);
    if (data && ls->failure && strcmp(stage, ls->failure) == 0)
        json_object_set_new(data, "message", json_string(ls->error));
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    if (!ls->deleted)
        events_add(ls->a, ls->sp.id, "stage", text);
    free(text);
    json_decref(data);
}

static void set_failure(lc_space *ls, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_failure(lc_space *ls, const char *stage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ls->error, sizeof ls->error, fmt, ap);
    va_end(ap);
    ls->failure = stage;
}

static void clear_failure(lc_space *ls)
{
    ls->failure = NULL;
    ls->error[0] = '\0';
}

/* ---- waiters ------------------------------------------------------------- */

static void notify_waiters(lc_space *ls, int status, const char *error)
{
    lc_waiter *w = ls->waiters;
    ls->waiters = NULL;
    lifecycle_target target = {0};
    if (!error && ls->current) {
        target.inst = ls->current->rt;
        target.port = ls->current->port;
        target.generation = ls->current->generation;
    }
    while (w) {
        lc_waiter *next = w->next;
        w->cb(w->arg, error ? NULL : &target, status, error);
        free(w);
        w = next;
    }
}

void lifecycle_wait_cancel(lifecycle_wait *wait)
{
    lc_waiter *w = (lc_waiter *)wait;
    for (lc_waiter **p = &w->ls->waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            free(w);
            return;
        }
    }
}

/* ---- lookup ------------------------------------------------------------- */

static lc_space *find_space(int64_t id)
{
    for (lc_space *ls = state.spaces; ls; ls = ls->next_space)
        if (ls->sp.id == id)
            return ls;
    return NULL;
}

static lc_space *get_space(app *a, const space *sp)
{
    lc_space *ls = find_space(sp->id);
    if (ls) {
        /* Names, visibility and desired state change through the API: refresh. */
        char sha[41];
        memcpy(sha, ls->sp.sha, sizeof sha);
        ls->sp = *sp;
        memcpy(ls->sp.sha, sha, sizeof sha);
        return ls;
    }
    ls = calloc(1, sizeof *ls);
    if (!ls)
        return NULL;
    ls->a = a;
    ls->sp = *sp;
    ls->last_activity_ms = util_mono_ms();
    ls->next_space = state.spaces;
    state.spaces = ls;
    return ls;
}

/* ---- build queue ----------------------------------------------------------- */

static void space_dir(lc_space *ls, const char *sha, const char *file, char *out, size_t size)
{
    snprintf(out, size, "%s/builds/%lld/%s%s%s", ls->a->config.data_dir, (long long)ls->sp.id, sha,
             file ? "/" : "", file ? file : "");
}

static void on_build_done(build_job *job, const build_result *r, void *arg);

static void run_build(lc_space *ls)
{
    char dir[4300];
    snprintf(ls->build_sha, sizeof ls->build_sha, "%s", ls->sp.sha);
    space_dir(ls, ls->build_sha, NULL, dir, sizeof dir);
    util_mkdir_p(dir, 0755);
    space_dir(ls, ls->build_sha, "build.log", ls->build_log_path, sizeof ls->build_log_path);
    ls->build_log = logs_open(ls->build_log_path, true);
    if (!ls->build_log) {
        set_failure(ls, "BUILD_ERROR", "cannot write the build log %s", ls->build_log_path);
        update_stage(ls);
        return;
    }
    state.building++;
    ls->build_started_ms = util_mono_ms();
    ls->build =
        build_start(ls->a, &ls->sp, ls->build_sha, ls->build_log, ls->factory, on_build_done, ls);
    ls->factory = false;
    if (!ls->build) {
        state.building--;
        logs_close(ls->build_log);
        ls->build_log = NULL;
        set_failure(ls, "BUILD_ERROR", "could not start the build");
    }
    events_add(ls->a, ls->sp.id, "build-started", NULL);
    update_stage(ls);
}

static void pump_queue(void)
{
    while (state.queue_head && state.building < state.build_concurrency && !state.shutting_down) {
        lc_space *ls = state.queue_head;
        state.queue_head = ls->next_queued;
        if (!state.queue_head)
            state.queue_tail = NULL;
        ls->next_queued = NULL;
        ls->queued = false;
        run_build(ls);
    }
}

static void schedule_build(lc_space *ls)
{
    drop_kept_build(ls);
    if (ls->build) {
        /* Finish or cancel the running one first; this one follows. */
        ls->rebuild_pending = true;
        build_cancel(ls->build);
        return;
    }
    if (!ls->queued) {
        ls->queued = true;
        if (state.queue_tail)
            state.queue_tail->next_queued = ls;
        else
            state.queue_head = ls;
        state.queue_tail = ls;
    }
    update_stage(ls);
    pump_queue();
}

static void unqueue(lc_space *ls)
{
    lc_space **p = &state.queue_head;
    state.queue_tail = NULL;
    while (*p) {
        if (*p == ls)
            *p = ls->next_queued;
        else {
            state.queue_tail = *p;
            p = &(*p)->next_queued;
        }
    }
    ls->queued = false;
    ls->next_queued = NULL;
}

static void on_build_done(build_job *job, const build_result *r, void *arg)
{
    lc_space *ls = arg;
    state.building--;
    ls->build = NULL;
    metrics_build_observe(ls->sp.full_id, (double)(util_mono_ms() - ls->build_started_ms) / 1000.0,
                          r->ok);
    if (ls->build_log) {
        logs_appendf(ls->build_log, r->ok ? "Build succeeded" : "Build failed: %s",
                     r->ok ? "" : r->error);
        logs_close(ls->build_log);
        ls->build_log = NULL;
    }
    events_add(ls->a, ls->sp.id, r->ok ? "build-succeeded" : "build-failed", NULL);
    bool superseded = ls->rebuild_pending || ls->deleted || state.shutting_down;
    if (ls->rebuild_pending) {
        ls->rebuild_pending = false;
        build_free(job);
        if (!ls->deleted && !state.shutting_down)
            schedule_build(ls);
    } else if (superseded) {
        build_free(job);
    } else if (!r->ok) {
        char *tail = logs_tail_text(ls->build_log_path, 8);
        set_failure(ls, r->error_stage, "%s%s%s", r->error, tail && *tail ? "\n" : "",
                    tail ? tail : "");
        free(tail);
        build_free(job);
        notify_waiters(ls, 503, ls->error);
    } else if (strcmp(r->cfg.sdk, "static") == 0) {
        clear_failure(ls);
        ls->static_ready = true;
        snprintf(ls->deployed_sha, sizeof ls->deployed_sha, "%s", ls->build_sha);
        build_free(job);
    } else if (ls->sp.paused) {
        build_free(job);
    } else {
        preload_then_start(ls, job);
    }
    update_stage(ls);
    pump_queue();
    maybe_shutdown_done(ls->a);
}

/* ---- instances ------------------------------------------------------------- */

static uid_t space_uid(const lc_space *ls)
{
    return (uid_t)(SPACE_UID_BASE + ls->sp.id);
}

/* nftw has no user argument: the uid travels through this (loop thread only). */
static uid_t chown_uid;

static int chown_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return lchown(path, chown_uid, chown_uid) < 0 ? -1 : 0;
}

static int chown_tree(const char *path, uid_t uid)
{
    chown_uid = uid;
    return nftw(path, chown_cb, 16, FTW_PHYS);
}

static void on_line(runtime_instance *rt, int stream, const char *line, size_t len, void *arg)
{
    (void)rt;
    (void)stream;
    lc_instance *inst = arg;
    if (inst->run_log)
        logs_append(inst->run_log, line, len);
}

static void free_instance(lc_instance *inst)
{
    if (inst->run_log)
        logs_close(inst->run_log);
    build_free(inst->job);
    if (inst->rt)
        runtime_free(inst->rt);
    free(inst);
}

static void on_health_timer_closed(uv_handle_t *h)
{
    lc_instance *inst = h->data;
    app *a = inst->ls->a;
    state.live_instances--;
    free_instance(inst);
    maybe_shutdown_done(a);
}

static void record_crash(lc_space *ls)
{
    uint64_t now = util_mono_ms();
    int kept = 0;
    for (int i = 0; i < ls->ncrashes; i++)
        if (now - ls->crashes[i] < CRASH_WINDOW_MS)
            ls->crashes[kept++] = ls->crashes[i];
    ls->ncrashes = kept;
    if (ls->ncrashes < CRASH_LIMIT)
        ls->crashes[ls->ncrashes++] = now;
}

static void on_restart_timer(uv_timer_t *t)
{
    lc_space *ls = t->data;
    if (ls->current || ls->next || ls->build || ls->sp.paused || state.shutting_down)
        return;
    clear_failure(ls);
    schedule_build(ls); /* cached: a restart is a checkout check and a start */
}

static void schedule_restart(lc_space *ls)
{
    if (!ls->restart_timer_open) {
        uv_timer_init(ls->a->loop, &ls->restart_timer);
        ls->restart_timer.data = ls;
        ls->restart_timer_open = true;
    }
    ls->backoff_s = ls->backoff_s ? ls->backoff_s * 2 : 1;
    if (ls->backoff_s > BACKOFF_MAX_S)
        ls->backoff_s = BACKOFF_MAX_S;
    uv_timer_start(&ls->restart_timer, on_restart_timer, (uint64_t)ls->backoff_s * 1000, 0);
}

static void describe_exit(lc_instance *inst, const runtime_exit *ex, char *out, size_t size)
{
    if (ex->oom)
        snprintf(out, size, "out of memory: the app was killed at its memory limit");
    else if (ex->term_signal)
        snprintf(out, size, "the app was killed by signal %d", ex->term_signal);
    else
        snprintf(out, size, "the app exited with status %lld", (long long)ex->status);
    (void)inst;
}

static void on_instance_exit(runtime_instance *rt, const runtime_exit *ex, void *arg)
{
    (void)rt;
    lc_instance *inst = arg;
    lc_space *ls = inst->ls;
    routes_invalidate();
    bool was_current = ls->current == inst, was_next = ls->next == inst;
    if (was_current)
        ls->current = NULL;
    if (was_next)
        ls->next = NULL;
    uv_timer_stop(&inst->health_timer);
    char why[256];
    describe_exit(inst, ex, why, sizeof why);
    if (inst->run_log)
        logs_appendf(inst->run_log, "[hangar] %s", why);
    if (!inst->stop_requested && !state.shutting_down && !ls->deleted) {
        char *tail = logs_tail_text(inst->log_path, 10);
        record_crash(ls);
        events_add(ls->a, ls->sp.id, ex->oom ? "oom" : "crash", NULL);
        if (ls->ncrashes >= CRASH_LIMIT) {
            set_failure(ls, "RUNTIME_ERROR", "%s; it crashed %d times in 10 minutes\n%s", why,
                        CRASH_LIMIT, tail ? tail : "");
        } else {
            set_failure(ls, "RUNTIME_ERROR", "%s\n%s", why, tail ? tail : "");
            if (!ls->current && !ls->next)
                schedule_restart(ls);
        }
        free(tail);
        if (!ls->current)
            notify_waiters(ls, 503, ls->error);
    }
    uv_close((uv_handle_t *)&inst->health_timer, on_health_timer_closed);
    release_gpus_if_idle(ls);
    if (ls->storage_job && !ls->storage_busy && !ls->current && !ls->next) {
        build_job *job = ls->storage_job; /* its /data may grow now */
        ls->storage_job = NULL;
        start_instance(ls, job);
    }
    update_stage(ls);
}

static void become_healthy(lc_instance *inst)
{
    lc_space *ls = inst->ls;
    inst->state = INST_HEALTHY;
    uv_timer_stop(&inst->health_timer);
    double secs = (double)(util_mono_ms() - inst->started_ms) / 1000.0;
    if (inst->run_log)
        logs_appendf(inst->run_log, "[hangar] app is answering on port %d after %.2f s", inst->port,
                     secs);
    if (ls->next == inst) {
        lc_instance *old = ls->current;
        routes_invalidate(); /* traffic moves to the new instance */
        ls->current = inst;
        ls->next = NULL;
        if (old)
            stop_instance(old);
    }
    snprintf(ls->deployed_sha, sizeof ls->deployed_sha, "%s", inst->sha);
    snprintf(ls->run_log_path, sizeof ls->run_log_path, "%s", inst->log_path);
    /* A wake is activity: the sleep timer starts again from here, even when
     * the waiting client gave up. */
    ls->last_activity_ms = util_mono_ms();
    ls->backoff_s = 0;
    ls->sleeping = false;
    clear_failure(ls);
    update_stage(ls);
    notify_waiters(ls, 0, NULL);
}

static void probe_closed(uv_handle_t *h)
{
    lc_instance *inst = h->data;
    inst->probing = false;
}

static void probe_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    (void)h;
    /* The probe reads only the status line: one static buffer serves all. */
    static char probe_buf[256];
    (void)size;
    b->base = probe_buf;
    b->len = sizeof probe_buf;
}

static void probe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    lc_instance *inst = s->data;
    bool answered = n >= 5 && memcmp(b->base, "HTTP/", 5) == 0;
    uv_close((uv_handle_t *)&inst->probe, probe_closed);
    if (answered && inst->state == INST_STARTING && !inst->stop_requested)
        become_healthy(inst);
}

static void probe_written(uv_write_t *w, int status)
{
    lc_instance *inst = w->data;
    if (status < 0) {
        uv_close((uv_handle_t *)&inst->probe, probe_closed);
        return;
    }
    uv_read_start((uv_stream_t *)&inst->probe, probe_alloc, probe_read);
}

static void probe_connected(uv_connect_t *req, int status)
{
    lc_instance *inst = req->data;
    if (status < 0) {
        uv_close((uv_handle_t *)&inst->probe, probe_closed);
        return;
    }
    static char request[] = "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: hangar-health\r\n"
                            "Connection: close\r\n\r\n";
    uv_buf_t b = uv_buf_init(request, sizeof request - 1);
    inst->probe_write.data = inst;
    if (uv_write(&inst->probe_write, (uv_stream_t *)&inst->probe, &b, 1, probe_written) < 0)
        uv_close((uv_handle_t *)&inst->probe, probe_closed);
}

static void startup_timed_out(lc_instance *inst)
{
    lc_space *ls = inst->ls;
    int ports[8];
    int n = runtime_listening_ports(inst->rt, ports, 8);
    char hint[256] = "";
    for (int i = 0; i < n; i++) {
        if (ports[i] != inst->port) {
            snprintf(hint, sizeof hint, ": the app listens on %d, app_port is %d", ports[i],
                     inst->port);
            break;
        }
    }
    char *tail = logs_tail_text(inst->log_path, 10);
    set_failure(ls, "RUNTIME_ERROR", "the app did not answer on port %d within %d s%s\n%s",
                inst->port, inst->job ? build_startup_timeout(inst->job) : 0, hint,
                tail ? tail : "");
    free(tail);
    if (inst->run_log)
        logs_appendf(inst->run_log, "[hangar] startup timeout%s", hint);
    stop_instance(inst);
    if (!ls->current || ls->current == inst)
        notify_waiters(ls, 503, ls->error);
    update_stage(ls);
}

static uint64_t health_interval(const lc_instance *inst)
{
    uint64_t next = (util_mono_ms() - inst->started_ms) / HEALTH_INTERVAL_DIVISOR;
    if (next < HEALTH_INTERVAL_MIN_MS)
        return HEALTH_INTERVAL_MIN_MS;
    return next > HEALTH_INTERVAL_MAX_MS ? HEALTH_INTERVAL_MAX_MS : next;
}

static void on_health_timer(uv_timer_t *t)
{
    lc_instance *inst = t->data;
    if (inst->state != INST_STARTING || inst->stop_requested)
        return;
    uv_timer_set_repeat(t, health_interval(inst));
    if (util_mono_ms() > inst->deadline_ms) {
        startup_timed_out(inst);
        return;
    }
    if (inst->probing)
        return;
    uv_tcp_init(inst->ls->a->loop, &inst->probe);
    inst->probe.data = inst;
    inst->probe_req.data = inst;
    inst->probing = true;
    if (runtime_connect(inst->rt, inst->port, &inst->probe, &inst->probe_req, probe_connected) < 0)
        uv_close((uv_handle_t *)&inst->probe, probe_closed);
}

static const hardware_profile *space_hardware(const lc_space *ls)
{
    const hardware_profile *hw = hardware_find(ls->sp.hardware);
    return hw ? hw : hardware_find(HARDWARE_DEFAULT);
}

/* The operator's --space-memory / --space-cpus override the default profile. */
static uint64_t space_memory(const lc_space *ls, const hardware_profile *hw)
{
    bool is_default = !hw || strcmp(hw->name, HARDWARE_DEFAULT) == 0;
    if (is_default && ls->a->config.space_memory)
        return ls->a->config.space_memory;
    return hw ? hw->memory_bytes : 0;
}

static double space_cpus(const lc_space *ls, const hardware_profile *hw)
{
    bool is_default = !hw || strcmp(hw->name, HARDWARE_DEFAULT) == 0;
    if (is_default && ls->a->config.space_cpus > 0)
        return ls->a->config.space_cpus;
    return hw ? hw->cpus : 0;
}

static const char *hardware_memory_text(uint64_t bytes, char *out, size_t size)
{
    snprintf(out, size, "%lluMi", (unsigned long long)(bytes >> 20));
    return out;
}

typedef struct env_collect {
    buf *store;
    size_t *offsets;
    size_t *count;
    size_t max;
    bool secret;
    const char **masks; /* secret values, for log masking */
    size_t *nmasks;
} env_collect;

static void collect_env(const char *key, const char *value, const char *description,
                        int64_t updated_ms, void *arg)
{
    (void)description;
    (void)updated_ms;
    env_collect *c = arg;
    if (*c->count >= c->max)
        return;
    char *plain = c->secret ? vault_open_value(value, NULL) : NULL;
    if (c->secret && !plain)
        return;
    c->offsets[(*c->count)++] = c->store->len;
    buf_printf(c->store, "%s=%s", key, c->secret ? plain : value);
    buf_append(c->store, "", 1);
    vault_free_plain(plain);
}

/* The environment a space's app sees: HF's variables, the sdk's, then the
 * space's variables and secrets (secret values also go to masks). */
static void app_environment(lc_space *ls, const build_result *r, int port, buf *store_,
                            const char **env, size_t max, const char **secrets, size_t smax,
                            const char **masks, size_t *nmasks)
{
    app *a = ls->a;
    char mem[32];
    size_t n = 0;
    const char *title = r->cfg.title ? r->cfg.title : ls->sp.name;
    size_t offsets[256];
    size_t count = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        offsets[count++] = store_->len;                                                            \
        buf_printf(store_, __VA_ARGS__);                                                           \
        buf_append(store_, "", 1);                                                                 \
    } while (0)
    if (r->driver != RUNTIME_DRIVER_OCI) { /* an image has its own PATH and HOME */
        ADD("PATH=%s/bin:/usr/local/bin:/usr/bin:/bin", r->env_dir);
        ADD("HOME=/tmp");
    }
    ADD("LANG=C.UTF-8");
    ADD("PYTHONUNBUFFERED=1");
    ADD("SPACE_ID=%s", ls->sp.full_id);
    ADD("SPACE_AUTHOR_NAME=%s", ls->sp.owner);
    ADD("SPACE_REPO_NAME=%s", ls->sp.name);
    ADD("SPACE_TITLE=%s", title);
    ADD("SPACE_HOST=%s.%s", ls->sp.subdomain, a->config.domain);
    const hardware_profile *hw = space_hardware(ls);
    ADD("CPU_CORES=%g", space_cpus(ls, hw));
    ADD("MEMORY=%s", hardware_memory_text(space_memory(ls, hw), mem, sizeof mem));
    if (ls->ngpus > 0) {
        buf ids;
        buf_init(&ids);
        for (int i = 0; i < ls->ngpus; i++)
            buf_printf(&ids, "%s%s", i ? "," : "", hardware_gpu_name(ls->gpu_ids[i]));
        ADD("ACCELERATOR=%s", hw->name);
        ADD("CUDA_VISIBLE_DEVICES=%s", ids.data);
        ADD("NVIDIA_VISIBLE_DEVICES=%s", ids.data);
        buf_free(&ids);
    } else {
        ADD("ACCELERATOR=none");
    }
    ADD("GRADIO_SERVER_NAME=0.0.0.0");
    ADD("GRADIO_SERVER_PORT=%d", port);
    ADD("GRADIO_ANALYTICS_ENABLED=False");
    ADD("STREAMLIT_BROWSER_GATHER_USAGE_STATS=false");
    ADD("HF_HUB_DISABLE_TELEMETRY=1");
    if (state.hub_cache[0]) {
        /* the shared model cache; without a network the hub is never asked */
        ADD("HF_HUB_CACHE=" RUNTIME_HUB_CACHE);
        if (r->driver != RUNTIME_DRIVER_OCI || !a->config.space_network[0])
            ADD("HF_HUB_OFFLINE=1");
    }
#undef ADD
    size_t builtin = count;
    env_collect c = {store_, offsets, &count, 256, false, masks, nmasks};
    store_env_list(a->store, false, ls->sp.id, collect_env, &c);
    size_t first_secret = count;
    c.secret = true;
    store_env_list(a->store, true, ls->sp.id, collect_env, &c);
    (void)builtin;
    for (size_t i = 0; i < first_secret && n + 1 < max; i++)
        env[n++] = store_->data + offsets[i];
    env[n] = NULL;
    /* apart: a driver may keep them out of sight (oci: out of inspect output) */
    size_t ns = 0;
    for (size_t i = first_secret; i < count && ns + 1 < smax; i++)
        secrets[ns++] = store_->data + offsets[i];
    secrets[ns] = NULL;
    /* Offsets are stable now that the buffer is complete. */
    *nmasks = 0;
    for (size_t i = first_secret; i < count; i++) {
        const char *eq = strchr(store_->data + offsets[i], '=');
        if (eq && eq[1] && strlen(eq + 1) >= 4)
            masks[(*nmasks)++] = eq + 1;
    }
}

/* GPUs for sp's profile; false (and the space waits) when they are taken. */
static bool claim_gpus(lc_space *ls, build_job *job)
{
    const hardware_profile *hw = space_hardware(ls);
    if (!hw || hw->gpus == 0)
        return true;
    if (ls->ngpus == hw->gpus)
        return true; /* the running instance's GPUs pass to the next one */
    char why[256];
    if (hardware_claim_gpus(ls->sp.id, hw->gpus, hw->gpu_model, ls->gpu_ids, why, sizeof why) < 0) {
        set_failure(ls, "APP_STARTING", "%s", why);
        ls->gpu_waiting = true;
        ls->gpu_job = job;
        log_info("lifecycle", "%s: %s", ls->sp.full_id, why);
        return false;
    }
    ls->ngpus = hw->gpus;
    ls->gpu_waiting = false;
    return true;
}

/* A space let its GPUs go: start the first one waiting for them. */
static void retry_gpu_waiters(void)
{
    for (lc_space *ls = state.spaces; ls; ls = ls->next_space) {
        if (!ls->gpu_waiting || !ls->gpu_job)
            continue;
        build_job *job = ls->gpu_job;
        ls->gpu_job = NULL;
        ls->gpu_waiting = false;
        clear_failure(ls);
        start_instance(ls, job);
        update_stage(ls);
    }
}

static void release_gpus_if_idle(lc_space *ls)
{
    if (ls->ngpus == 0 || ls->current || ls->next)
        return;
    hardware_release_gpus(ls->sp.id);
    ls->ngpus = 0;
    retry_gpu_waiters();
}

/* ---- persistent storage ------------------------------------------------ */

typedef struct storage_work {
    uv_work_t req;
    lc_space *ls;
    uint64_t bytes;
    bool remove; /* the space was deleted: its /data goes */
    bool wipe;   /* its storage was deleted: /data is made again, empty */
    int rc;
    char err[512];
} storage_work;

/* The /data quota of ls: its tier, its hardware's, or the daemon's default. */
static uint64_t space_storage_quota(lc_space *ls, char *tier, size_t size)
{
    const hardware_profile *hw = space_hardware(ls);
    store_storage_get(ls->a->store, ls->sp.id, tier, size);
    return storage_quota(tier, hw ? hw->storage_bytes : 0);
}

static void storage_work_run(uv_work_t *req)
{
    storage_work *w = req->data;
    const char *data_dir = w->ls->a->config.data_dir;
    if (w->remove || w->wipe)
        w->rc = storage_remove(data_dir, w->ls->sp.id, w->err, sizeof w->err);
    if (!w->remove && (!w->wipe || w->rc == 0))
        w->rc = storage_prepare(data_dir, w->ls->sp.id, w->bytes, w->err, sizeof w->err);
}

static void storage_work_done(uv_work_t *req, int status)
{
    storage_work *w = req->data;
    lc_space *ls = w->ls;
    app *a = ls->a;
    ls->storage_busy = false;
    state.storage_works--;
    if (w->remove) {
        if (w->rc < 0)
            log_warn("lifecycle", "%s: its /data was not removed: %s", ls->sp.full_id, w->err);
        free(w);
        forget_space(ls);
        maybe_shutdown_done(a);
        return;
    }
    build_job *job = ls->storage_job;
    ls->storage_job = NULL;
    ls->storage_checked = w->bytes;
    if (w->wipe)
        ls->storage_wipe = false;
    if (status < 0 || w->rc < 0) {
        set_failure(ls, "RUNTIME_ERROR", "its /data could not be prepared: %s",
                    status < 0 ? uv_strerror(status) : w->err);
        notify_waiters(ls, 503, ls->error);
        build_free(job);
        job = NULL;
    } else if (w->rc > 0) {
        log_warn("lifecycle", "%s: the /data quota is not applied: %s", ls->sp.full_id, w->err);
    }
    free(w);
    if (job && (ls->deleted || ls->sp.paused || state.shutting_down))
        build_free(job);
    else if (job)
        start_instance(ls, job);
    update_stage(ls);
    maybe_shutdown_done(a);
}

/* Queues storage work for ls on the thread pool; false when it cannot. */
static bool storage_queue(lc_space *ls, uint64_t bytes, bool remove)
{
    bool wipe = !remove && ls->storage_wipe;
    storage_work *w = calloc(1, sizeof *w);
    if (!w)
        return false;
    w->req.data = w;
    w->ls = ls;
    w->bytes = bytes;
    w->remove = remove;
    w->wipe = wipe;
    if (uv_queue_work(ls->a->loop, &w->req, storage_work_run, storage_work_done) < 0) {
        free(w);
        return false;
    }
    ls->storage_busy = true;
    state.storage_works++;
    return true;
}

/* True when /data of ls is ready for job; otherwise it is being prepared and
 * job starts when it is (a new image, a mount after a daemon restart, a
 * larger quota). */
static bool storage_wait(lc_space *ls, build_job *job)
{
    char tier[32];
    uint64_t bytes = space_storage_quota(ls, tier, sizeof tier);
    /* checked: prepared already, or it could not be and the space runs without */
    bool checked = bytes != 0 && ls->storage_checked == bytes;
    if (!ls->storage_wipe && (checked || storage_ready(ls->a->config.data_dir, ls->sp.id, bytes)))
        return true;
    if (ls->storage_job && ls->storage_job != job)
        build_free(ls->storage_job);
    ls->storage_job = job;
    bool grows = storage_grows(ls->a->config.data_dir, ls->sp.id, bytes);
    if ((grows || ls->storage_wipe) && (ls->current || ls->next)) {
        /* a file system grows (or goes) unmounted: the running app stops
         * first, and on_instance_exit brings job back here */
        log_info("lifecycle", "%s: /data %s: stopping the app first", ls->sp.full_id,
                 grows ? "grows" : "is deleted");
        if (ls->current)
            stop_instance(ls->current);
        if (ls->next)
            stop_instance(ls->next);
        return false;
    }
    if (!ls->storage_busy && !storage_queue(ls, bytes, false)) {
        ls->storage_job = NULL;
        build_free(job);
        set_failure(ls, "RUNTIME_ERROR", "its /data could not be prepared: out of memory");
    }
    return false;
}

/* ---- preload_from_hub --------------------------------------------------- */

typedef struct preload_work {
    uv_work_t req;
    lc_space *ls;
    uint64_t gen;
    config_list entries; /* a copy: the job may be freed while this runs */
    char cache[4096];
    char endpoint[1024];
    int rc;
    char report[4096];
    char err[2048];
} preload_work;

static void preload_work_run(uv_work_t *req)
{
    preload_work *w = req->data;
    w->rc = preload_run(w->cache, w->endpoint, &w->entries, w->report, sizeof w->report, w->err,
                        sizeof w->err);
}

static void preload_work_free(preload_work *w)
{
    for (size_t i = 0; i < w->entries.n; i++)
        free(w->entries.items[i]);
    free(w->entries.items);
    free(w);
}

static void preload_queue(lc_space *ls);

static void preload_work_done(uv_work_t *req, int status)
{
    preload_work *w = req->data;
    lc_space *ls = w->ls;
    app *a = ls->a;
    ls->preload_busy = false;
    state.storage_works--;
    build_job *job = ls->preload_job && ls->preload_gen == w->gen ? ls->preload_job : NULL;
    if (ls->preload_job && !job) {
        preload_queue(ls); /* a newer build asked meanwhile */
    } else if (job) {
        ls->preload_job = NULL;
        logs_stream *log = ls->build_log_path[0] ? logs_open(ls->build_log_path, false) : NULL;
        for (char *line = w->report, *nl; log && (nl = strchr(line, '\n')); line = nl + 1)
            logs_append(log, line, (size_t)(nl - line));
        if (status < 0 || w->rc < 0) {
            set_failure(ls, "BUILD_ERROR", "%s", status < 0 ? uv_strerror(status) : w->err);
            if (log)
                logs_appendf(log, "Build failed: %s", ls->error);
            notify_waiters(ls, 503, ls->error);
            build_free(job);
        } else {
            start_instance(ls, job);
        }
        if (log)
            logs_close(log);
    }
    preload_work_free(w);
    update_stage(ls);
    maybe_shutdown_done(a);
}

static void preload_queue(lc_space *ls)
{
    const config_list *list = &build_job_result(ls->preload_job)->cfg.preload_from_hub;
    preload_work *w = calloc(1, sizeof *w);
    if (w)
        w->entries.items = calloc(list->n + 1, sizeof *w->entries.items);
    for (size_t i = 0; w && w->entries.items && i < list->n; i++)
        if ((w->entries.items[w->entries.n] = strdup(list->items[i])))
            w->entries.n++;
    if (!w || !w->entries.items || w->entries.n != list->n) {
        if (w)
            preload_work_free(w);
        set_failure(ls, "BUILD_ERROR", "preload_from_hub: out of memory");
        build_free(ls->preload_job);
        ls->preload_job = NULL;
        return;
    }
    w->req.data = w;
    w->ls = ls;
    w->gen = ls->preload_gen;
    snprintf(w->cache, sizeof w->cache, "%s", state.hub_cache);
    snprintf(w->endpoint, sizeof w->endpoint, "%s", ls->a->config.hub_endpoint);
    if (!state.hub_cache[0] ||
        uv_queue_work(ls->a->loop, &w->req, preload_work_run, preload_work_done) < 0) {
        preload_work_free(w);
        set_failure(ls, "BUILD_ERROR", "preload_from_hub: the model cache is not available");
        build_free(ls->preload_job);
        ls->preload_job = NULL;
        return;
    }
    ls->preload_busy = true;
    state.storage_works++;
}

/* A successful build's preload_from_hub entries are made present in the model
 * cache (fetched when needed) before the app starts; a failure is the build's. */
static void preload_then_start(lc_space *ls, build_job *job)
{
    if (build_job_result(job)->cfg.preload_from_hub.n == 0) {
        start_instance(ls, job);
        return;
    }
    if (ls->preload_job)
        build_free(ls->preload_job);
    ls->preload_job = job;
    ls->preload_gen++;
    if (!ls->preload_busy)
        preload_queue(ls);
}

static void start_instance(lc_space *ls, build_job *job)
{
    app *a = ls->a;
    const build_result *r = build_job_result(job);
    if (!storage_wait(ls, job))
        return;
    if (!claim_gpus(ls, job))
        return;
    lc_instance *inst = calloc(1, sizeof *inst);
    if (!inst) {
        build_free(job);
        set_failure(ls, "RUNTIME_ERROR", "out of memory");
        return;
    }
    inst->ls = ls;
    inst->job = job;
    snprintf(inst->sha, sizeof inst->sha, "%s", build_job_sha(job));
    inst->generation = ++state.generation;
    inst->state = INST_STARTING;
    inst->started_ms = util_mono_ms();
    inst->deadline_ms = inst->started_ms + (uint64_t)r->cfg.startup_duration_timeout * 1000;
    uv_timer_init(a->loop, &inst->health_timer);
    inst->health_timer.data = inst;
    state.live_instances++;

    char volume[4300];
    storage_path(a->config.data_dir, ls->sp.id, volume, sizeof volume);
    util_mkdir_p(volume, 0700);
    bool oci = r->driver == RUNTIME_DRIVER_OCI;
    uid_t uid = oci ? CONTAINER_UID : space_uid(ls);
    /* a container has the app in its image: only /data is handed over */
    if (chown(volume, uid, uid) < 0 || (!oci && chown_tree(r->app_dir, uid) < 0))
        log_warn("lifecycle", "%s: cannot hand its files to uid %u: %s", ls->sp.full_id, uid,
                 strerror(errno));

    space_dir(ls, inst->sha, "run.log", inst->log_path, sizeof inst->log_path);
    inst->run_log = logs_open(inst->log_path, true);
    snprintf(ls->run_log_path, sizeof ls->run_log_path, "%s", inst->log_path);

    char python[4300];
    const char *argv[16];
    build_app_command(r, r->cfg.sdk, python, sizeof python, argv, 16, &inst->port);
    buf envbuf;
    buf_init(&envbuf);
    const char *env[260];
    const char *secrets[260];
    const char *masks[256];
    size_t nmasks = 0;
    app_environment(ls, r, inst->port, &envbuf, env, 260, secrets, 260, masks, &nmasks);
    if (inst->run_log)
        logs_set_masks(inst->run_log, masks, nmasks);
    const char *ro[] = {r->env_dir, NULL};
    const char *devices[HARDWARE_MAX_GPUS + 8];
    hardware_gpu_devices(ls->gpu_ids, ls->ngpus, devices, HARDWARE_MAX_GPUS + 8);
    char name[128];
    snprintf(name, sizeof name, "%s-space-%lld-%llu", a->instance_tag, (long long)ls->sp.id,
             (unsigned long long)inst->generation);
    runtime_spec spec = {
        .driver = r->driver,
        .name = name,
        .app_dir = r->app_dir,
        .image = oci ? r->image : NULL,
        .data_dir = volume,
        .hub_cache = state.hub_cache[0] ? state.hub_cache : NULL,
        .ro_binds = oci ? NULL : ro,
        .devices = devices,
        .argv = argv[0] ? argv : NULL,
        .env = env,
        .secret_env = secrets,
        .memory_bytes = space_memory(ls, space_hardware(ls)),
        .cpus = space_cpus(ls, space_hardware(ls)),
        .pids_max = space_hardware(ls) ? space_hardware(ls)->pids_max : 1024,
        .host_network = false,
        .uid = uid,
        .gid = uid,
    };
    static const runtime_callbacks cbs = {on_line, on_instance_exit};
    char err[512] = "";
    if (inst->run_log)
        logs_appendf(inst->run_log, "[hangar] starting %s at %.12s: %s %s", ls->sp.full_id,
                     inst->sha, oci ? "image" : argv[0],
                     oci       ? r->image
                     : argv[1] ? argv[1]
                               : "");
    int rc = runtime_start(a->loop, &spec, &cbs, inst, &inst->rt, err, sizeof err);
    sodium_memzero(envbuf.data, envbuf.len);
    buf_free(&envbuf);
    if (rc < 0) {
        set_failure(ls, "RUNTIME_ERROR", "the app could not start: %s", err);
        if (inst->run_log)
            logs_appendf(inst->run_log, "[hangar] cannot start: %s", err);
        inst->rt = NULL;
        uv_close((uv_handle_t *)&inst->health_timer, on_health_timer_closed);
        notify_waiters(ls, 503, ls->error);
        return;
    }
    if (ls->current)
        ls->next = inst;
    else
        ls->current = inst;
    uv_timer_start(&inst->health_timer, on_health_timer, HEALTH_FIRST_MS, HEALTH_INTERVAL_MIN_MS);
}

static void stop_instance(lc_instance *inst)
{
    routes_invalidate(); /* no worker loop sends it another request */
    if (inst->stop_requested)
        return;
    inst->stop_requested = true;
    inst->state = INST_STOPPING;
    uv_timer_stop(&inst->health_timer);
    if (inst->rt)
        runtime_stop(inst->rt, STOP_GRACE_MS);
}

/* ---- sleep --------------------------------------------------------------- */

static int64_t sleep_seconds(const lc_space *ls)
{
    if (ls->sp.sleep_seconds == SPACE_SLEEP_DEFAULT)
        return ls->a->config.sleep_seconds;
    return ls->sp.sleep_seconds;
}

/* A space going to sleep keeps its instance's build: the wake starts the app
 * from it at once instead of a pass through the build (a checkout check in
 * the thread pool, the config parsed again, the build log and its events:
 * 3 to 5 ms of every wake). Any rebuild or stop drops it. */
static void keep_build(lc_space *ls, lc_instance *inst)
{
    drop_kept_build(ls);
    ls->kept_job = inst->job;
    inst->job = NULL;
}

/* Starts a sleeping space from its kept build; false when there is none or it
 * is stale (another commit, a factory rebuild asked for, files gone). */
static bool wake_from_kept_build(lc_space *ls)
{
    build_job *job = ls->kept_job;
    ls->kept_job = NULL;
    if (!job)
        return false;
    if (ls->factory || strcmp(build_job_sha(job), ls->sp.sha) != 0 || !build_job_intact(job)) {
        build_free(job);
        return false;
    }
    preload_then_start(ls, job);
    update_stage(ls);
    return true;
}

static void on_sleep_timer(uv_timer_t *t)
{
    (void)t;
    uint64_t now = util_mono_ms();
    for (lc_space *ls = state.spaces; ls; ls = ls->next_space) {
        int64_t secs = sleep_seconds(ls);
        lc_instance *inst = ls->current;
        if (secs <= 0 || !inst || inst->state != INST_HEALTHY || ls->next || ls->build)
            continue;
        if (now - ls->last_activity_ms < (uint64_t)secs * 1000)
            continue;
        log_info("lifecycle", "%s: idle for %lld s, going to sleep", ls->sp.full_id,
                 (long long)secs);
        events_add(ls->a, ls->sp.id, "sleep", NULL);
        ls->sleeping = true;
        keep_build(ls, inst);
        stop_instance(inst);
        ls->current = NULL;
        update_stage(ls);
    }
}

void lifecycle_touch(app *a, int64_t space_id)
{
    (void)a;
    lc_space *ls = find_space(space_id);
    if (ls)
        ls->last_activity_ms = util_mono_ms();
}

/* ---- public ------------------------------------------------------------- */

int lifecycle_acquire(app *a, const space *sp, lifecycle_ready_cb cb, void *arg,
                      lifecycle_wait **wait, lifecycle_target *target, int *status, char *msg,
                      size_t msgsize)
{
    lc_space *ls = get_space(a, sp);
    *wait = NULL;
    if (!ls) {
        *status = 500;
        snprintf(msg, msgsize, "out of memory");
        return LIFECYCLE_UNAVAILABLE;
    }
    ls->last_activity_ms = util_mono_ms();
    if (ls->sp.paused) {
        *status = 503;
        snprintf(msg, msgsize, "This space is paused by its owner.");
        return LIFECYCLE_UNAVAILABLE;
    }
    if (ls->current && ls->current->state == INST_HEALTHY) {
        target->inst = ls->current->rt;
        target->port = ls->current->port;
        target->generation = ls->current->generation;
        return LIFECYCLE_READY;
    }
    bool starting = ls->build || ls->queued || ls->next || ls->current;
    if (!starting) {
        if (!ls->sp.sha[0]) {
            *status = 404;
            snprintf(msg, msgsize, "This space has no app file yet.");
            return LIFECYCLE_UNAVAILABLE;
        }
        if (ls->failure && ls->ncrashes >= CRASH_LIMIT) {
            *status = 503;
            snprintf(msg, msgsize, "%s", ls->error);
            return LIFECYCLE_UNAVAILABLE;
        }
        if (ls->failure && strcmp(ls->failure, "RUNTIME_ERROR") != 0) {
            *status = 503;
            snprintf(msg, msgsize, "%s", ls->error);
            return LIFECYCLE_UNAVAILABLE;
        }
        if (ls->sleeping && !state.shutting_down) {
            /* A wake starts from the build kept on disk at once: it never waits
             * in the queue behind another space's build (minutes, with
             * --build-concurrency 1), so it may run beside those builds. */
            events_add(a, ls->sp.id, "wake", NULL);
            if (!wake_from_kept_build(ls))
                run_build(ls);
        } else {
            schedule_build(ls);
        }
    }
    lc_waiter *w = calloc(1, sizeof *w);
    if (!w) {
        *status = 500;
        snprintf(msg, msgsize, "out of memory");
        return LIFECYCLE_UNAVAILABLE;
    }
    w->cb = cb;
    w->arg = arg;
    w->ls = ls;
    w->next = ls->waiters;
    ls->waiters = w;
    *wait = (lifecycle_wait *)w;
    return LIFECYCLE_WAITING;
}

int lifecycle_on_commit(app *a, space *sp, const char *sha, const char *via)
{
    if (strcmp(sp->sha, sha) == 0)
        return 0;
    json_t *data = json_pack("{s:s, s:s, s:s}", "sha", sha, "previous", sp->sha, "via", via);
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    int rc = -1;
    if (text && store_begin(a->store) == STORE_OK) {
        if (store_space_set_sha(a->store, sp->id, sha) == STORE_OK &&
            events_add(a, sp->id, "commit", text) == STORE_OK && store_commit(a->store) == STORE_OK)
            rc = 0;
        else
            store_rollback(a->store);
    }
    free(text);
    if (rc < 0) {
        log_error("lifecycle", "could not record commit %s of %s", sha, sp->full_id);
        return -1;
    }
    log_info("lifecycle", "%s: main is now %.12s (via %s)", sp->full_id, sha, via);
    snprintf(sp->sha, sizeof sp->sha, "%s", sha);
    lc_space *ls = get_space(a, sp);
    if (!ls)
        return -1;
    snprintf(ls->sp.sha, sizeof ls->sp.sha, "%s", sha);
    ls->ncrashes = 0;
    ls->backoff_s = 0;
    if (!ls->sp.paused && !state.shutting_down)
        schedule_build(ls);
    return 0;
}

static void forget_space(lc_space *ls)
{
    /* a deleted space's images and /data go too (its containers are gone by
     * now); the space is forgotten once /data is gone */
    if (ls->deleted && !ls->storage_removed) {
        ls->storage_removed = true;
        oci_images_collect(ls->a->loop, ls->sp.id, 0);
        if (storage_queue(ls, 0, true))
            return;
    }
    for (lc_space **p = &state.spaces; *p; p = &(*p)->next_space) {
        if (*p == ls) {
            *p = ls->next_space;
            break;
        }
    }
    drop_kept_build(ls);
    free(ls);
}

static void on_restart_timer_closed(uv_handle_t *h)
{
    forget_space(h->data);
}

/* A deleted space is freed once nothing refers to it any more. */
static void reap_deleted(lc_space *ls)
{
    if (!ls->deleted || ls->current || ls->next || ls->build || ls->storage_busy ||
        ls->preload_busy)
        return;
    if (ls->restart_timer_open) {
        ls->restart_timer_open = false;
        uv_close((uv_handle_t *)&ls->restart_timer, on_restart_timer_closed);
        return;
    }
    forget_space(ls);
}

void lifecycle_on_delete(app *a, int64_t space_id)
{
    (void)a;
    lc_space *ls = find_space(space_id);
    if (!ls)
        return;
    ls->deleted = true;
    events_close_space(space_id);
    notify_waiters(ls, 404, "This space was deleted.");
    stop_everything(ls);
    release_gpus_if_idle(ls);
    reap_deleted(ls);
}

static void stop_everything(lc_space *ls)
{
    drop_kept_build(ls);
    if (ls->gpu_job) {
        build_free(ls->gpu_job);
        ls->gpu_job = NULL;
        ls->gpu_waiting = false;
    }
    if (ls->storage_job) {
        build_free(ls->storage_job);
        ls->storage_job = NULL;
    }
    if (ls->preload_job) { /* a running preload finishes and is ignored */
        build_free(ls->preload_job);
        ls->preload_job = NULL;
    }
    unqueue(ls);
    if (ls->build)
        build_cancel(ls->build);
    if (ls->current)
        stop_instance(ls->current);
    if (ls->next)
        stop_instance(ls->next);
    if (ls->restart_timer_open)
        uv_timer_stop(&ls->restart_timer);
}

void lifecycle_pause(app *a, const space *sp)
{
    lc_space *ls = get_space(a, sp);
    if (!ls)
        return;
    ls->sp.paused = true;
    ls->sleeping = false;
    log_info("lifecycle", "%s: paused by its owner", ls->sp.full_id);
    events_add(a, ls->sp.id, "paused", NULL);
    stop_everything(ls);
    release_gpus_if_idle(ls);
    notify_waiters(ls, 503, "This space is paused by its owner.");
    update_stage(ls);
}

void lifecycle_restart(app *a, const space *sp, bool factory)
{
    lc_space *ls = get_space(a, sp);
    if (!ls)
        return;
    ls->sp.paused = false;
    ls->sleeping = false;
    ls->ncrashes = 0;
    ls->backoff_s = 0;
    clear_failure(ls);
    events_add(a, ls->sp.id, factory ? "factory-restart" : "restart", NULL);
    log_info("lifecycle", "%s: %s requested", ls->sp.full_id,
             factory ? "factory restart" : "restart");
    /* The running version keeps serving while the fresh build runs. */
    if (factory)
        ls->factory = true;
    if (!ls->sp.sha[0]) {
        update_stage(ls);
        return;
    }
    schedule_build(ls);
}

void lifecycle_on_hardware_change(app *a, const space *sp)
{
    lc_space *ls = get_space(a, sp);
    if (!ls || !ls->sp.sha[0] || ls->sp.paused || (ls->sleeping && !ls->current))
        return;
    log_info("lifecycle", "%s: hardware is now %s, restarting", ls->sp.full_id, sp->hardware);
    schedule_build(ls);
}

void lifecycle_on_storage_change(app *a, const space *sp)
{
    lc_space *ls = get_space(a, sp);
    if (!ls || !ls->sp.sha[0] || ls->sp.paused || (ls->sleeping && !ls->current))
        return;
    log_info("lifecycle", "%s: storage changed, restarting", ls->sp.full_id);
    schedule_build(ls);
}

void lifecycle_storage_delete(app *a, const space *sp)
{
    lc_space *ls = get_space(a, sp);
    if (!ls)
        return;
    ls->storage_wipe = true;
    ls->storage_checked = 0;
    log_info("lifecycle", "%s: its storage was deleted", ls->sp.full_id);
    if (ls->current || ls->next) {
        schedule_build(ls); /* the next start stops it, wipes /data and starts again */
        return;
    }
    /* nothing runs: /data is wiped now (a start meanwhile waits for it) */
    if (!ls->storage_busy && !storage_queue(ls, space_storage_quota(ls, (char[32]){0}, 32), false))
        log_warn("lifecycle", "%s: its /data could not be wiped: out of memory", ls->sp.full_id);
}

void lifecycle_on_env_change(app *a, const space *sp)
{
    lc_space *ls = get_space(a, sp);
    if (!ls || !ls->sp.sha[0] || ls->sp.paused || state.shutting_down)
        return;
    /* A sleeping space picks the new environment up when it wakes. */
    if (ls->sleeping && !ls->current)
        return;
    log_info("lifecycle", "%s: environment changed, restarting", ls->sp.full_id);
    schedule_build(ls);
}

void lifecycle_on_update(app *a, const space *sp)
{
    get_space(a, sp);
}

const char *lifecycle_stage(app *a, const space *sp)
{
    lc_space *ls = find_space(sp->id);
    if (!ls) {
        ls = get_space(a, sp);
        if (!ls)
            return "STOPPED";
    }
    ls->sp.paused = sp->paused;
    return compute_stage(ls);
}

json_t *lifecycle_runtime_json(app *a, const space *sp)
{
    lc_space *ls = find_space(sp->id);
    const char *stage = lifecycle_stage(a, sp);
    ls = find_space(sp->id);
    bool running = strncmp(stage, "RUNNING", 7) == 0;
    int64_t secs = ls ? sleep_seconds(ls) : a->config.sleep_seconds;
    char domain[512];
    snprintf(domain, sizeof domain, "%s.%s", sp->subdomain, a->config.domain);
    json_t *rt =
        json_pack("{s:s, s:{s:s?, s:s}, s:n, s:{s:i, s:i}, s:b, s:s, s:[{s:s, s:s}]}", "stage",
                  stage, "hardware", "current",
                  running && strcmp(sp->sdk, "static") != 0 ? sp->hardware : NULL, "requested",
                  sp->hardware, "storage", "replicas", "requested", 1, "current", running ? 1 : 0,
                  "devMode", 0, "sdk", sp->sdk, "domains", "domain", domain, "stage", "READY");
    if (!rt)
        return NULL;
    json_object_set_new(rt, "gcTimeout", secs > 0 ? json_integer(secs) : json_null());
    if (ls && ls->failure && strcmp(stage, ls->failure) == 0)
        json_object_set_new(rt, "errorMessage", json_string(ls->error));
    else if (ls && ls->failure)
        json_object_set_new(rt, "errorMessage", json_string(ls->error));
    char tier[32] = "";
    const hardware_profile *hw = hardware_find(sp->hardware);
    store_storage_get(a->store, sp->id, tier, sizeof tier);
    storage_runtime_json(a->config.data_dir, sp->id, tier,
                         storage_quota(tier, hw ? hw->storage_bytes : 0), rt);
    source_runtime_json(a, sp, rt); /* a failing remote, when nothing else failed */
    return rt;
}

int lifecycle_logs(app *a, const space *sp, bool build, const char **path, logs_stream **live)
{
    lc_space *ls = get_space(a, sp);
    *path = NULL;
    *live = NULL;
    if (!ls)
        return -1;
    if (build) {
        *path = ls->build_log_path[0] ? ls->build_log_path : NULL;
        *live = ls->build_log;
        return 0;
    }
    lc_instance *inst = ls->next ? ls->next : ls->current;
    if (ls->current && ls->current->state == INST_HEALTHY)
        inst = ls->current;
    *path = inst ? inst->log_path : ls->run_log_path[0] ? ls->run_log_path : NULL;
    *live = inst ? inst->run_log : NULL;
    return 0;
}

/* DATA/cache/hub, made world-readable (spaces run under their own uids and
 * see it through a bind mount, whatever DATA's own mode). */
static void hub_cache_init(app *a)
{
    char dir[4096];
    hubcache_dir(a->config.data_dir, dir, sizeof dir);
    if (util_mkdir_p(dir, 0755) < 0 || chmod(dir, 0755) < 0 || !realpath(dir, state.hub_cache)) {
        log_warn("lifecycle", "no shared model cache: %s: %s", dir, strerror(errno));
        state.hub_cache[0] = '\0';
    }
}

static void init_space(const space *sp, void *arg)
{
    app *a = arg;
    lc_space *ls = get_space(a, sp);
    if (!ls)
        return;
    /* Bring back what was asked: every space with code that is not paused. */
    if (sp->sha[0] && !sp->paused)
        schedule_build(ls);
    else
        update_stage(ls);
}

/* Whether process pid has the variable entry ("K=V") in its environment. */
static bool has_env_entry(const char *pid, const char *entry)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/environ", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    size_t len = strlen(entry);
    /* entries are NUL-separated: match a whole one */
    for (size_t at = 0; at < n; at += strnlen(text + at, n - at) + 1)
        if (n - at >= len && memcmp(text + at, entry, len) == 0 &&
            (at + len == n || text[at + len] == '\0'))
            return true;
    return false;
}

/* A daemon killed with SIGKILL leaves its build steps running (each is a
 * session of its own, so nothing stops them): a uv that keeps writing into
 * the environment the new build is about to remove and remake. Before this
 * daemon starts any child, every process carrying this data directory's
 * build tag is such a leftover; each is killed and waited for (briefly). */
static void kill_stale_builds(const char *instance_tag)
{
    char entry[64];
    pid_t pids[256];
    size_t npids = 0;
    snprintf(entry, sizeof entry, BUILD_TAG_VAR "=%s", instance_tag);
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && npids < sizeof pids / sizeof pids[0]) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9' || !has_env_entry(e->d_name, entry))
            continue;
        pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
        if (pid != getpid() && kill(pid, SIGKILL) == 0)
            pids[npids++] = pid;
    }
    closedir(d);
    if (npids)
        log_warn("lifecycle", "killed %zu build process(es) left by a previous run", npids);
    /* Their parent (init, or a subreaper) reaps them; until then they may still write. */
    for (int tries = 0; tries < 200; tries++) {
        size_t alive = 0;
        for (size_t i = 0; i < npids; i++) {
            char stat[64], text[512];
            snprintf(stat, sizeof stat, "/proc/%d/stat", (int)pids[i]);
            FILE *f = fopen(stat, "re");
            if (!f)
                continue;
            size_t n = fread(text, 1, sizeof text - 1, f);
            fclose(f);
            text[n] = '\0';
            const char *st = strrchr(text, ')');
            if (st && st[1] == ' ' && st[2] != 'Z' && st[2] != 'X')
                alive++;
        }
        if (!alive)
            return;
        usleep(10 * 1000);
    }
    log_warn("lifecycle", "build processes of a previous run are still exiting");
}

int lifecycle_init(app *a)
{
    state.build_concurrency = a->config.build_concurrency > 0 ? a->config.build_concurrency : 1;
    if (store_builds_abandon(a->store) != STORE_OK)
        return -1;
    uv_timer_init(a->loop, &state.sleep_timer);
    uv_timer_start(&state.sleep_timer, on_sleep_timer, 1000, 1000);
    uv_unref((uv_handle_t *)&state.sleep_timer);
    /* A daemon killed with SIGKILL left its sandboxes running (their helpers
     * die with the daemon only when it exits cleanly): stop them before the
     * spaces start again, so that no app runs twice or holds on to /data. */
    runtime_cleanup_stale(a->instance_tag);
    kill_stale_builds(a->instance_tag);
    hub_cache_init(a);
    store_space_query q = {.viewer_admin = true, .limit = 1 << 30, .sort = "createdAt"};
    return store_space_list(a->store, &q, init_space, a) < 0 ? -1 : 0;
}

static void maybe_shutdown_done(app *a)
{
    /* reap_deleted may free ls: step on before it does. */
    for (lc_space *ls = state.spaces, *next; ls; ls = next) {
        next = ls->next_space;
        reap_deleted(ls);
    }
    if (!state.shutting_down || state.live_instances > 0 || state.building > 0 ||
        state.storage_works > 0)
        return;
    void (*done)(app *) = state.shutdown_done;
    state.shutdown_done = NULL;
    if (!done)
        return;
    uv_close((uv_handle_t *)&state.sleep_timer, NULL);
    storage_release_all(a->config.data_dir); /* mounted again when the spaces start */
    for (lc_space *ls = state.spaces; ls; ls = ls->next_space)
        if (ls->restart_timer_open) {
            ls->restart_timer_open = false;
            uv_close((uv_handle_t *)&ls->restart_timer, NULL);
        }
    done(a);
}

void lifecycle_shutdown(app *a, void (*done)(app *a))
{
    state.shutting_down = true;
    state.shutdown_done = done;
    state.queue_head = state.queue_tail = NULL;
    for (lc_space *ls = state.spaces; ls; ls = ls->next_space) {
        ls->queued = false;
        notify_waiters(ls, 503, "Hangar is shutting down.");
        stop_everything(ls);
    }
    maybe_shutdown_done(a);
}

void lifecycle_free(app *a)
{
    (void)a;
    while (state.spaces) {
        lc_space *ls = state.spaces;
        state.spaces = ls->next_space;
        build_free(ls->kept_job);
        free(ls);
    }
}
