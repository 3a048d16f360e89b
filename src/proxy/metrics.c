#include "proxy/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"

#define MAX_BUCKETS 16

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10};
static const double cold_start_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300};
static const double build_bounds[] = {1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600};

static const char *const upstream_kind_names[METRICS_UPSTREAM_KINDS] = {"connect", "timeout",
                                                                        "reset", "protocol"};

typedef struct histogram {
    const double *bounds;
    size_t nbounds;
    _Atomic uint64_t counts[MAX_BUCKETS + 1]; /* per bucket, the last one is +Inf */
    _Atomic uint64_t sum_us;
} histogram;

struct metrics_space {
    char *id;
    _Atomic uint64_t requests[5]; /* by status class 1xx..5xx */
    histogram latency;
    _Atomic uint64_t upstream_errors[METRICS_UPSTREAM_KINDS];
    _Atomic int64_t websockets;
    histogram cold_start; /* its count is the number of wakes */
    char stage[32];       /* under registry_lock; "" when unknown */
    metrics_space *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static metrics_space *registry; /* every space seen, newest first */
static histogram builds[2] = {
    {.bounds = build_bounds, .nbounds = sizeof build_bounds / sizeof build_bounds[0]},
    {.bounds = build_bounds, .nbounds = sizeof build_bounds / sizeof build_bounds[0]},
};

#define HISTOGRAM_INIT(h, b)                                                                       \
    do {                                                                                           \
        (h).bounds = (b);                                                                          \
        (h).nbounds = sizeof(b) / sizeof((b)[0]);                                                  \
    } while (0)

/* ---- recording ------------------------------------------------------------ */

static void histogram_observe(histogram *h, double value)
{
    size_t i = 0;
    while (i < h->nbounds && value > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    if (value > 0)
        atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(value * 1e6), memory_order_relaxed);
}

static metrics_space *registry_find(const char *space_id)
{
    for (metrics_space *m = registry; m; m = m->next)
        if (strcmp(m->id, space_id) == 0)
            return m;
    return NULL;
}

static metrics_space *registry_add(const char *space_id)
{
    metrics_space *m = calloc(1, sizeof *m);
    if (!m || !(m->id = strdup(space_id))) {
        free(m);
        log_error("metrics", "out of memory adding space %s", space_id);
        return NULL;
    }
    HISTOGRAM_INIT(m->latency, latency_bounds);
    HISTOGRAM_INIT(m->cold_start, cold_start_bounds);
    m->next = registry;
    registry = m;
    return m;
}

metrics_space *metrics_space_get(const char *space_id)
{
    pthread_mutex_lock(&registry_lock);
    metrics_space *m = registry_find(space_id);
    if (!m)
        m = registry_add(space_id);
    pthread_mutex_unlock(&registry_lock);
    return m;
}

void metrics_request(metrics_space *m, int status, double seconds)
{
    if (!m)
        return;
    int cls = status / 100;
    if (cls >= 1 && cls <= 5)
        atomic_fetch_add_explicit(&m->requests[cls - 1], 1, memory_order_relaxed);
    histogram_observe(&m->latency, seconds);
}

void metrics_upstream_error(metrics_space *m, metrics_upstream_kind kind)
{
    if (m && kind < METRICS_UPSTREAM_KINDS)
        atomic_fetch_add_explicit(&m->upstream_errors[kind], 1, memory_order_relaxed);
}

void metrics_websocket(metrics_space *m, int delta)
{
    if (m)
        atomic_fetch_add_explicit(&m->websockets, delta, memory_order_relaxed);
}

void metrics_wake(metrics_space *m, double seconds)
{
    if (m)
        histogram_observe(&m->cold_start, seconds);
}

void metrics_stage_set(const char *space_id, const char *stage)
{
    pthread_mutex_lock(&registry_lock);
    metrics_space *m = registry_find(space_id);
    if (!m && stage)
        m = registry_add(space_id);
    if (m)
        snprintf(m->stage, sizeof m->stage, "%s", stage ? stage : "");
    pthread_mutex_unlock(&registry_lock);
}

void metrics_build_observe(const char *space_id, double seconds, bool ok)
{
    (void)space_id; /* one series per result: build times matter daemon-wide */
    histogram_observe(&builds[ok ? 0 : 1], seconds);
}

/* ---- exposition ------------------------------------------------------------ */

/* A label value with \, " and newline escaped, as the format requires. */
static void put_label(buf *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            buf_printf(out, "\\%c", *p);
        else if (*p == '\n')
            buf_puts(out, "\\n");
        else
            buf_append(out, p, 1);
    }
}

static void put_help(buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's series; labels is "" or `key="value",` pieces, escaped. */
static void put_histogram(buf *out, const char *name, const char *labels, const histogram *h)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        cumulative += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < h->nbounds)
            buf_printf(out, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, h->bounds[i],
                       (unsigned long long)cumulative);
        else
            buf_printf(out, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
                       (unsigned long long)cumulative);
    }
    double sum = (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6;
    size_t len = strlen(labels);
    /* Without the trailing comma the label set stands alone in {}. */
    buf_printf(out, "%s_sum{%.*s} %.6f\n%s_count{%.*s} %llu\n", name, (int)(len ? len - 1 : 0),
               labels, sum, name, (int)(len ? len - 1 : 0), labels, (unsigned long long)cumulative);
}

static void space_labels(buf *labels, const metrics_space *m)
{
    buf_reset(labels);
    buf_puts(labels, "space=\"");
    put_label(labels, m->id);
    buf_puts(labels, "\",");
}

static void render_requests(buf *out, buf *labels)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    put_help(out, "hangar_space_requests_total", "counter",
             "Requests answered at a space's address, by status class.");
    for (metrics_space *m = registry; m; m = m->next)
        for (int i = 0; i < 5; i++) {
            uint64_t n = atomic_load_explicit(&m->requests[i], memory_order_relaxed);
            if (!n)
                continue;
            space_labels(labels, m);
            buf_printf(out, "hangar_space_requests_total{%scode=\"%s\"} %llu\n", labels->data,
                       classes[i], (unsigned long long)n);
        }
    put_help(out, "hangar_space_request_duration_seconds", "histogram",
             "Time from a request's head to the end of its response.");
    for (metrics_space *m = registry; m; m = m->next) {
        space_labels(labels, m);
        put_histogram(out, "hangar_space_request_duration_seconds", labels->data, &m->latency);
    }
}

static void render_upstream(buf *out, buf *labels)
{
    put_help(out, "hangar_space_upstream_errors_total", "counter",
             "Failures reaching or reading a space's app, by kind.");
    for (metrics_space *m = registry; m; m = m->next)
        for (int k = 0; k < METRICS_UPSTREAM_KINDS; k++) {
            uint64_t n = atomic_load_explicit(&m->upstream_errors[k], memory_order_relaxed);
            if (!n)
                continue;
            space_labels(labels, m);
            buf_printf(out, "hangar_space_upstream_errors_total{%skind=\"%s\"} %llu\n",
                       labels->data, upstream_kind_names[k], (unsigned long long)n);
        }
    put_help(out, "hangar_space_websockets_open", "gauge",
             "WebSocket connections tunnelled to a space's app now.");
    for (metrics_space *m = registry; m; m = m->next) {
        space_labels(labels, m);
        labels->data[labels->len - 1] = '\0'; /* no trailing comma */
        buf_printf(out, "hangar_space_websockets_open{%s} %lld\n", labels->data,
                   (long long)atomic_load_explicit(&m->websockets, memory_order_relaxed));
    }
}

static void render_wakes(buf *out, buf *labels)
{
    put_help(out, "hangar_space_wakes_total", "counter",
             "Times a request started a sleeping or stopped space.");
    for (metrics_space *m = registry; m; m = m->next) {
        uint64_t n = 0;
        for (size_t i = 0; i <= m->cold_start.nbounds; i++)
            n += atomic_load_explicit(&m->cold_start.counts[i], memory_order_relaxed);
        space_labels(labels, m);
        labels->data[labels->len - 1] = '\0';
        buf_printf(out, "hangar_space_wakes_total{%s} %llu\n", labels->data, (unsigned long long)n);
    }
    put_help(out, "hangar_space_cold_start_seconds", "histogram",
             "Time the first request of a wake waited for the app to be ready.");
    for (metrics_space *m = registry; m; m = m->next) {
        space_labels(labels, m);
        put_histogram(out, "hangar_space_cold_start_seconds", labels->data, &m->cold_start);
    }
}

static _Atomic int nloops;
static _Atomic uint64_t loop_requests[METRICS_LOOPS_MAX][2]; /* served by the loop, handed on */

void metrics_loops(int n)
{
    atomic_store(&nloops, n < 0 ? 0 : n > METRICS_LOOPS_MAX ? METRICS_LOOPS_MAX : n);
}

void metrics_loop_request(int loop, bool handed_on)
{
    if (loop >= 0 && loop < METRICS_LOOPS_MAX)
        atomic_fetch_add_explicit(&loop_requests[loop][handed_on], 1, memory_order_relaxed);
}

static void render_loops(buf *out)
{
    int n = atomic_load(&nloops);
    if (!n)
        return;
    put_help(out, "hangar_proxy_loop_requests_total", "counter",
             "Requests each proxy loop took: served by itself (a running public space), or "
             "handed to the main loop.");
    for (int i = 0; i < n; i++)
        for (int on = 0; on < 2; on++)
            buf_printf(out, "hangar_proxy_loop_requests_total{loop=\"%d\",served=\"%s\"} %llu\n", i,
                       on ? "main" : "loop",
                       (unsigned long long)atomic_load_explicit(&loop_requests[i][on],
                                                                memory_order_relaxed));
}

typedef struct stage_count {
    const char *stage;
    int n;
} stage_count;

static void render_stages(buf *out)
{
    stage_count counts[32];
    size_t nstages = 0;
    for (metrics_space *m = registry; m; m = m->next) {
        if (!m->stage[0])
            continue;
        size_t i = 0;
        while (i < nstages && strcmp(counts[i].stage, m->stage) != 0)
            i++;
        if (i == nstages) {
            if (nstages == sizeof counts / sizeof counts[0])
                continue;
            counts[nstages++] = (stage_count){m->stage, 0};
        }
        counts[i].n++;
    }
    put_help(out, "hangar_spaces", "gauge", "Spaces per lifecycle stage.");
    for (size_t i = 0; i < nstages; i++) {
        buf_puts(out, "hangar_spaces{stage=\"");
        put_label(out, counts[i].stage);
        buf_printf(out, "\"} %d\n", counts[i].n);
    }
    put_help(out, "hangar_build_duration_seconds", "histogram", "Duration of space builds.");
    put_histogram(out, "hangar_build_duration_seconds", "result=\"ok\",", &builds[0]);
    put_histogram(out, "hangar_build_duration_seconds", "result=\"error\",", &builds[1]);
}

char *metrics_render(void)
{
    buf out, labels;
    buf_init(&out);
    buf_init(&labels);
    pthread_mutex_lock(&registry_lock);
    render_requests(&out, &labels);
    render_upstream(&out, &labels);
    render_wakes(&out, &labels);
    render_stages(&out);
    pthread_mutex_unlock(&registry_lock);
    render_loops(&out);
    buf_free(&labels);
    if (!out.data)
        buf_puts(&out, "");
    return buf_detach(&out);
}
