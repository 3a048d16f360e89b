#include "proxy/proxy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "git/repo.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proxy/forward.h"
#include "proxy/routes.h"
#include "proxy/upstream.h"
#include "proxy/workers.h"
#include "space/config.h"
#include "space/lifecycle.h"
#include "store/store.h"
#include "ui/session.h"

#define SPACE_SLOTS 256 /* space lookups cached per loop (direct-mapped) */
#define LABEL_MAX SPACE_SUBDOMAIN_MAX
#define CSP_NO_EMBEDDING "frame-ancestors 'none'"

typedef struct space_slot {
    char label[LABEL_MAX + 1];
    bool found;
    space sp;
    uint64_t fetched_ms;
    int store_changes; /* the store's change count when it was fetched */
    metrics_space *metrics;
    proxy_settings settings;
} space_slot;

/* The requests held for one space while it starts. */
typedef struct wake_queue {
    int64_t space_id;
    int waiting;
    uint64_t started_ns; /* the first held request's arrival; 0: no wake under way */
    metrics_space *metrics;
    struct wake_queue *next;
} wake_queue;

/* Everything the proxy keeps for one event loop (one thread). */
typedef struct proxy_loop {
    uv_loop_t *loop;
    upstream_pool *pool;
    wake_queue *wakes;
    space_slot slots[SPACE_SLOTS];
} proxy_loop;

/* One request held until its space is ready. */
typedef struct waiter {
    forward_exchange *ex;
    app *app;
    int64_t space_id;
    lifecycle_wait *wait;
    wake_queue *queue;
    uv_timer_t timer; /* a browser's page after browser_wait_ms */
    bool browser;
} waiter;

static const proxy_options defaults = {
    .head_timeout_ms = 60000,
    .idle_timeout_ms = 3600000,
    .pool_idle_ms = 30000,
    .pool_max_idle = 64,
    .wake_queue_max = 64,
    .browser_wait_ms = 1000,
    .space_cache_ms = 1000,
};
/* Written before any loop serves (proxy_configure, or the defaults and the
 * environment at first use), only read afterwards. */
static proxy_options options;
static bool options_configured;
static pthread_once_t options_once = PTHREAD_ONCE_INIT;
static _Thread_local proxy_loop *this_loop;

void proxy_options_default(proxy_options *opt)
{
    *opt = defaults;
    const char *timeout = getenv("HANGAR_UPSTREAM_TIMEOUT");
    if (timeout && *timeout) {
        char *end;
        double secs = strtod(timeout, &end);
        if (*end == '\0' && secs > 0 && secs <= 86400)
            opt->head_timeout_ms = (uint64_t)(secs * 1000);
        else
            log_warn("proxy", "ignoring HANGAR_UPSTREAM_TIMEOUT=%s (seconds expected)", timeout);
    }
}

void proxy_configure(const proxy_options *opt)
{
    options = *opt;
    options_configured = true;
}

static void options_init(void)
{
    if (!options_configured)
        proxy_options_default(&options);
}

void proxy_options_get(proxy_options *out)
{
    pthread_once(&options_once, options_init);
    *out = options;
}

/* ---- per-loop state ----------------------------------------------------------------- */

static proxy_loop *loop_state(uv_loop_t *loop)
{
    if (this_loop)
        return this_loop;
    pthread_once(&options_once, options_init);
    proxy_loop *pl = calloc(1, sizeof *pl);
    if (!pl)
        return NULL;
    pl->loop = loop;
    pl->pool = upstream_pool_new(loop, options.pool_idle_ms, options.pool_max_idle);
    if (!pl->pool) {
        free(pl);
        return NULL;
    }
    this_loop = pl;
    return pl;
}

static void settings_clear(proxy_settings *st)
{
    for (size_t i = 0; i < st->nheaders; i++) {
        free(st->headers[i].name);
        free(st->headers[i].value);
    }
    free(st->headers);
    free(st->app_file);
    memset(st, 0, sizeof *st);
}

void proxy_shutdown(void)
{
    proxy_loop *pl = this_loop;
    if (!pl)
        return;
    this_loop = NULL;
    upstream_pool_free(pl->pool);
    for (size_t i = 0; i < SPACE_SLOTS; i++)
        settings_clear(&pl->slots[i].settings);
    while (pl->wakes) {
        wake_queue *q = pl->wakes;
        pl->wakes = q->next;
        free(q);
    }
    free(pl);
}

void proxy_instance_gone(void *inst)
{
    if (this_loop)
        upstream_pool_forget(this_loop->pool, inst);
}

/* ---- README settings ---------------------------------------------------------------- */

static int settings_add(proxy_settings *st, const char *name, const char *value)
{
    http_header *h = realloc(st->headers, (st->nheaders + 1) * sizeof *h);
    if (!h)
        return -1;
    st->headers = h;
    h[st->nheaders].name = strdup(name);
    h[st->nheaders].value = strdup(value);
    st->nheaders++;
    return h[st->nheaders - 1].name && h[st->nheaders - 1].value ? 0 : -1;
}

/* Reads what the README at sha asks of responses, as the lifecycle reads it
 * (config_parse); an invalid README adds nothing. Once per commit per loop: a
 * small blocking read through libgit2. */
static void settings_load(proxy_settings *st, const char *repo, const char *sdk, const char *sha)
{
    settings_clear(st);
    size_t len = strnlen(sha, sizeof st->sha - 1);
    memcpy(st->sha, sha, len);
    st->sha[len] = '\0';
    if (!sha[0])
        return;
    char *readme = NULL;
    size_t size = 0;
    if (repo_read_file(repo, sha, "README.md", &readme, &size) != 0)
        return;
    config cfg;
    char err[256];
    int rc = config_parse(readme, size, sdk, &cfg, err, sizeof err);
    free(readme);
    if (rc < 0)
        return;
    if (cfg.app_file && *cfg.app_file)
        st->app_file = strdup(cfg.app_file);
    for (size_t i = 0; i < cfg.n_custom_headers; i++)
        settings_add(st, cfg.custom_headers[i].name, cfg.custom_headers[i].value);
    if (cfg.disable_embedding)
        settings_add(st, "Content-Security-Policy", CSP_NO_EMBEDDING);
    config_free(&cfg);
}

/* ---- which space ---------------------------------------------------------------------- */

/* Copies the label of host into label when host is "<label>.<domain>[:port]".
 * Returns false for any other host. The label may still be invalid. */
static bool host_label(const char *host, const char *domain, char *label, size_t size)
{
    if (!host || host[0] == '[')
        return false;
    const char *colon = strchr(host, ':');
    size_t hlen = colon ? (size_t)(colon - host) : strlen(host);
    if (hlen > 0 && host[hlen - 1] == '.')
        hlen--; /* "name.localhost." is the same host */
    size_t dlen = strlen(domain);
    if (hlen <= dlen + 1 || host[hlen - dlen - 1] != '.' ||
        !util_strneq_nocase(host + hlen - dlen, dlen, domain))
        return false;
    size_t llen = hlen - dlen - 1;
    if (llen >= size) {
        label[0] = '\0'; /* too long to be one of ours */
        return true;
    }
    for (size_t i = 0; i < llen; i++)
        label[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
    label[llen] = '\0';
    return true;
}

static bool label_valid(const char *label)
{
    if (!label[0])
        return false;
    for (const char *p = label; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

bool proxy_space_label(const char *host, const char *domain, char *label, size_t size)
{
    return host_label(host, domain, label, size) && label_valid(label);
}

static size_t slot_index(const char *label)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = label; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % SPACE_SLOTS;
}

/* The cached lookup of label. It is fresh while nothing was written through
 * this loop's store connection since (the API changes visibility, pause and
 * main there; the lifecycle trusts the space it is given) and for at most
 * space_cache_ms (writes by other processes). NULL when the store failed. */
static space_slot *space_lookup(proxy_loop *pl, app *a, const char *label)
{
    space_slot *slot = &pl->slots[slot_index(label)];
    uint64_t now = util_mono_ms();
    int changes = sqlite3_total_changes(store_db(a->store));
    if (strcmp(slot->label, label) == 0 && slot->store_changes == changes &&
        now - slot->fetched_ms < options.space_cache_ms)
        return slot;
    if (strcmp(slot->label, label) != 0) {
        settings_clear(&slot->settings);
        snprintf(slot->label, sizeof slot->label, "%s", label);
        slot->metrics = NULL;
    }
    int rc = store_space_by_subdomain(a->store, label, &slot->sp);
    if (rc == STORE_ERROR) {
        slot->label[0] = '\0';
        return NULL;
    }
    slot->found = rc == STORE_OK;
    slot->fetched_ms = now;
    slot->store_changes = changes;
    if (slot->found && !slot->metrics)
        slot->metrics = metrics_space_get(slot->sp.full_id);
    if (slot->found && strcmp(slot->settings.sha, slot->sp.sha) != 0) {
        char repo[4200];
        space_repo_path(a->config.data_dir, slot->sp.owner, slot->sp.name, repo, sizeof repo);
        settings_load(&slot->settings, repo, slot->sp.sdk, slot->sp.sha);
    }
    return slot;
}

/* ---- private spaces ----------------------------------------------------------------------- */

auth_result proxy_session_identify(const http_request *req, auth_identity *out)
{
    return session_identify(app_of(req)->store, req, out);
}

static auth_result identify_header(const http_request *req, store *st, const char *value,
                                   auth_identity *out)
{
    char *token = auth_token_from_header(value);
    auth_result rc = auth_check_from(st, req->remote, token, out);
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    return rc;
}

/* The caller, from the first credentials that name a user: X-HF-Authorization,
 * Authorization, the session cookie, then an app pass for this space. An
 * Authorization the app itself uses does not stop a valid session from
 * counting. */
static auth_result identify(http_request *req, store *st, int64_t space_id, auth_identity *out)
{
    const char *sources[] = {http_header_get(req, "X-HF-Authorization"),
                             http_header_get(req, "Authorization")};
    bool invalid = false;
    for (size_t i = 0; i < 2; i++) {
        if (!sources[i])
            continue;
        auth_result rc = identify_header(req, st, sources[i], out);
        if (rc == AUTH_OK || rc == AUTH_FAILED || rc == AUTH_THROTTLED)
            return rc;
        invalid = true;
    }
    auth_result rc = proxy_session_identify(req, out);
    if (rc == AUTH_OK || rc == AUTH_FAILED)
        return rc;
    rc = session_pass_identify(st, req, space_id, out);
    if (rc == AUTH_OK || rc == AUTH_FAILED)
        return rc;
    return invalid ? AUTH_INVALID : AUTH_ANONYMOUS;
}

/* Browsers treat *.localhost as a secure context (Secure cookies are kept
 * over http there), and https is one anyway. */
static bool secure_context(http_request *req, app *a)
{
    const char *proto = http_header_get(req, "X-Forwarded-Proto");
    const char *d = a->config.domain;
    size_t n = strlen(d);
    return (proto && strcmp(proto, "https") == 0) || util_streq_nocase(d, "localhost") ||
           (n > 10 && util_streq_nocase(d + n - 10, ".localhost"));
}

/* The request's target without its __sign parameters. A path that starts
 * with "//" would be another host's address in Location: it becomes "/". */
static void target_without_pass(const http_request *req, buf *out)
{
    buf_puts(out, strncmp(req->path, "//", 2) == 0 ? "/" : req->path);
    const char *p = req->query;
    bool first = true;
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool pass = (len >= 6 && strncmp(p, "__sign", 6) == 0 && (len == 6 || p[6] == '='));
        if (len && !pass) {
            buf_append(out, first ? "?" : "&", 1);
            buf_append(out, p, len);
            first = false;
        }
        p = end ? end + 1 : NULL;
    }
}

/* GET ?__sign=PASS from the UI's iframe or link (session.h, app passes): a
 * valid pass of someone with access becomes the app's cookie and the same
 * address without it, so the pass never reaches the app or its pages'
 * links. True when answered; any other request goes on to the usual checks. */
static bool exchange_pass(http_request *req, app *a, const space *sp)
{
    if (req->method != HTTP_GET && req->method != HTTP_HEAD)
        return false;
    char *pass = http_query_get(req, "__sign");
    char cookie_pass[SESSION_PASS_MAX], header[SESSION_PASS_MAX + 128];
    auth_identity id;
    bool ok = pass && session_pass_exchange(a->store, pass, sp->id, cookie_pass, &id) == AUTH_OK &&
              (id.user.id == sp->owner_id || id.user.admin);
    free(pass);
    if (!ok)
        return false;
    buf location;
    buf_init(&location);
    target_without_pass(req, &location);
    session_pass_cookie_header(header, sizeof header, cookie_pass, secure_context(req, a));
    http_resp_header(req, "Set-Cookie", header);
    http_resp_header(req, "Location", location.data ? location.data : "/");
    http_resp_header(req, "Cache-Control", "no-store");
    http_resp_header(req, "Referrer-Policy", "no-referrer");
    http_respond(req, 303, "text/plain; charset=utf-8", "", 0);
    buf_free(&location);
    return true;
}

/* Whether the caller may see sp; answers req and returns false when not. */
static bool check_access(http_request *req, app *a, const space *sp)
{
    if (!sp->is_private)
        return true;
    if (exchange_pass(req, a, sp))
        return false;
    auth_identity id;
    auth_result rc = identify(req, a->store, sp->id, &id);
    if (rc == AUTH_FAILED) {
        proxy_page(req, 500, "Internal Server Error", "Credentials could not be checked.", NULL);
        return false;
    }
    if (rc == AUTH_THROTTLED) {
        char secs[16];
        snprintf(secs, sizeof secs, "%u", id.retry_after_s);
        http_resp_header(req, "Retry-After", secs);
        proxy_page(req, 429, "Too Many Requests",
                   "Too many invalid credentials from your address; try again later.", NULL);
        return false;
    }
    if (rc != AUTH_OK) {
        http_resp_header(req, "WWW-Authenticate", "Basic realm=\"hangar\"");
        proxy_page(req, 401, "Unauthorized", "Sign in, or send a token with access.", NULL);
        return false;
    }
    if (id.user.id != sp->owner_id && !id.user.admin) {
        proxy_page(req, 404, "Not Found", "There is no space here.", NULL);
        return false;
    }
    free(req->user);
    req->user = strdup(id.user.name);
    return true;
}

/* ---- waking ----------------------------------------------------------------------------- */

static wake_queue *wake_queue_get(proxy_loop *pl, const space_slot *slot, bool create)
{
    for (wake_queue *q = pl->wakes; q; q = q->next)
        if (q->space_id == slot->sp.id)
            return q;
    if (!create)
        return NULL;
    wake_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->space_id = slot->sp.id;
    q->metrics = slot->metrics;
    q->next = pl->wakes;
    pl->wakes = q;
    return q;
}

static void wake_queue_maybe_free(wake_queue *q)
{
    proxy_loop *pl = this_loop;
    if (!pl || q->waiting > 0 || q->started_ns)
        return;
    wake_queue **link = &pl->wakes;
    while (*link && *link != q)
        link = &(*link)->next;
    if (*link)
        *link = q->next;
    free(q);
}

/* The space became ready: the first request to see it measures the wake. */
static void wake_done(wake_queue *q)
{
    if (q->started_ns) {
        metrics_wake(q->metrics, (double)(uv_hrtime() - q->started_ns) / 1e9);
        q->started_ns = 0;
    }
}

static void on_waiter_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The waiter leaves the queue; its exchange is someone else's now. */
static void waiter_free(waiter *w)
{
    w->queue->waiting--;
    wake_queue_maybe_free(w->queue);
    uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
}

static int connect_instance(void *inst, int port, uv_tcp_t *tcp, uv_connect_t *req,
                            uv_connect_cb cb)
{
    return runtime_connect(inst, port, tcp, req, cb);
}

static upstream_target upstream_of(const lifecycle_target *target)
{
    return (upstream_target){
        .connect = connect_instance,
        .ctx = target->inst,
        .port = target->port,
        .generation = target->generation,
    };
}

static void forward_to(forward_exchange *ex, const lifecycle_target *target)
{
    upstream_target t = upstream_of(target);
    forward_start(ex, &t);
}

static void answer_unavailable(http_request *req, int status, const char *message)
{
    if (status == 503)
        http_resp_header(req, "Retry-After", "5");
    proxy_page(req, status ? status : 503, "Space unavailable", message, NULL);
}

static void on_space_ready(void *arg, const lifecycle_target *target, int status, const char *error)
{
    waiter *w = arg;
    forward_exchange *ex = w->ex;
    uv_timer_stop(&w->timer);
    if (target) {
        /* The request reaches the app only now: that is activity too. */
        lifecycle_touch(w->app, w->space_id);
        wake_done(w->queue);
        waiter_free(w);
        forward_to(ex, target);
        return;
    }
    w->queue->started_ns = 0;
    waiter_free(w);
    answer_unavailable(forward_detach(ex), status, error ? error : "The space could not start.");
}

static void on_waiter_abort(void *arg)
{
    waiter *w = arg;
    uv_timer_stop(&w->timer);
    lifecycle_wait_cancel(w->wait);
    waiter_free(w);
}

/* A browser has waited long enough to see something: a page that reloads
 * itself until the app answers. The wake goes on without this request. */
static void on_browser_wait(uv_timer_t *t)
{
    waiter *w = t->data;
    forward_exchange *ex = w->ex;
    lifecycle_wait_cancel(w->wait);
    waiter_free(w);
    http_request *req = forward_detach(ex);
    proxy_page(req, 200, "Waking up",
               "This space is starting. The page reloads by itself when it is ready.",
               "<meta http-equiv=\"refresh\" content=\"2\">");
}

static bool is_browser(const http_request *req)
{
    const char *accept = http_header_get(req, "Accept");
    return accept && strstr(accept, "text/html");
}

/* Holds the exchange in the space's queue until on_space_ready. */
static void hold(proxy_loop *pl, waiter *w, lifecycle_wait *wait, wake_queue *q, http_request *req)
{
    w->wait = wait;
    w->queue = q;
    q->waiting++;
    if (!q->started_ns)
        q->started_ns = uv_hrtime();
    uv_timer_init(pl->loop, &w->timer);
    w->timer.data = w;
    w->browser = is_browser(req);
    if (w->browser)
        uv_timer_start(&w->timer, on_browser_wait, options.browser_wait_ms, 0);
}

/* ---- serving ------------------------------------------------------------------------------ */

/* What an exchange to a running space keeps of it: activity and retries go
 * back to the lifecycle, which may have moved the space since. */
typedef struct space_ref {
    app *app;
    space sp;
} space_ref;

static void ref_activity(void *owner)
{
    space_ref *ref = owner;
    lifecycle_touch(ref->app, ref->sp.id);
}

static void ref_never_called(void *arg, const lifecycle_target *target, int status,
                             const char *error)
{
}

static int ref_retarget(void *owner, upstream_target *t)
{
    space_ref *ref = owner;
    lifecycle_wait *wait = NULL;
    lifecycle_target target;
    int status;
    char msg[256];
    int rc = lifecycle_acquire(ref->app, &ref->sp, ref_never_called, NULL, &wait, &target, &status,
                               msg, sizeof msg);
    if (rc == LIFECYCLE_WAITING)
        lifecycle_wait_cancel(wait); /* not running any more: no retry */
    if (rc != LIFECYCLE_READY)
        return -1;
    *t = upstream_of(&target);
    return 0;
}

static void ref_release(void *owner)
{
    free(owner);
}

/* The worker loops may serve this public, running space on their own from
 * now on, until anything changes (routes.h). The main loop only publishes
 * what it just served itself, from facts checked for this request. */
static void publish_route(const space_slot *slot, const lifecycle_target *target)
{
    if (!workers_enabled() || slot->sp.is_private || routes_has(slot->label, target->generation))
        return;
    int netns_fd;
    if (runtime_netns_fd(target->inst, &netns_fd) < 0)
        return;
    route_spec spec = {
        .label = slot->label,
        .space_id = slot->sp.id,
        .netns_fd = netns_fd,
        .port = target->port,
        .generation = target->generation,
        .metrics = slot->metrics,
        .headers = slot->settings.headers,
        .nheaders = slot->settings.nheaders,
    };
    if (routes_publish(&spec) < 0)
        log_warn("proxy", "%s: cannot publish its route; the main loop serves it", slot->label);
    if (netns_fd >= 0)
        close(netns_fd);
}

static void serve_dynamic(http_request *req, proxy_loop *pl, app *a, space_slot *slot)
{
    wake_queue *q = wake_queue_get(pl, slot, false);
    if (q && q->waiting >= options.wake_queue_max) {
        answer_unavailable(req, 503, "The space is starting and its queue is full.");
        return;
    }
    waiter *w = calloc(1, sizeof *w);
    space_ref *ref = malloc(sizeof *ref);
    if (ref) {
        ref->app = a;
        ref->sp = slot->sp;
    }
    forward_options fo = {
        .metrics = slot->metrics,
        .headers = slot->settings.headers,
        .nheaders = slot->settings.nheaders,
        .head_timeout_ms = options.head_timeout_ms,
        .idle_timeout_ms = options.idle_timeout_ms,
        .on_abort = on_waiter_abort,
        .abort_arg = w,
        .owner = ref,
        .release = ref_release,
        .on_activity = ref_activity,
        .retarget = ref_retarget,
    };
    forward_exchange *ex = w && ref ? forward_new(req, pl->pool, &fo) : NULL;
    if (!ex) {
        free(ref);
        free(w);
        answer_unavailable(req, 503, "Out of memory.");
        return;
    }
    w->ex = ex;
    w->app = a;
    w->space_id = slot->sp.id;
    lifecycle_wait *wait = NULL;
    lifecycle_target target;
    int status = 503;
    char msg[256] = "The space is not running.";
    int rc = lifecycle_acquire(a, &slot->sp, on_space_ready, w, &wait, &target, &status, msg,
                               sizeof msg);
    if (rc == LIFECYCLE_WAITING && (q || (q = wake_queue_get(pl, slot, true)))) {
        hold(pl, w, wait, q, req);
        return;
    }
    if (rc == LIFECYCLE_WAITING)
        lifecycle_wait_cancel(wait); /* no memory for the queue */
    free(w);
    if (rc == LIFECYCLE_READY) {
        if (q)
            wake_done(q);
        publish_route(slot, &target);
        forward_to(ex, &target);
        return;
    }
    answer_unavailable(forward_detach(ex), status, msg);
}

static void serve_space(http_request *req, proxy_loop *pl, app *a, space_slot *slot)
{
    if (!check_access(req, a, &slot->sp))
        return;
    if (strcmp(slot->sp.sdk, "static") == 0) {
        char repo[4200];
        space_repo_path(a->config.data_dir, slot->sp.owner, slot->sp.name, repo, sizeof repo);
        proxy_static_serve(req, repo, slot->sp.sha, &slot->settings, slot->metrics);
        return;
    }
    serve_dynamic(req, pl, a, slot);
}

bool proxy_route(http_request *req)
{
    app *a = app_of(req);
    char label[LABEL_MAX + 1];
    const char *domain = a->config.domain[0] ? a->config.domain : "localhost";
    if (!host_label(http_header_get(req, "Host"), domain, label, sizeof label))
        return false;
    proxy_loop *pl = loop_state(a->loop);
    space_slot *slot = label_valid(label) && pl ? space_lookup(pl, a, label) : NULL;
    if (label_valid(label) && (!pl || !slot)) {
        proxy_page(req, 503, "Service Unavailable", "Spaces cannot be looked up right now.", NULL);
        return true;
    }
    if (!slot || !slot->found) {
        proxy_page(req, 404, "Not Found", "There is no space at this address.", NULL);
        return true;
    }
    serve_space(req, pl, a, slot);
    return true;
}

/* ---- GET /metrics ---------------------------------------------------------------------- */

void proxy_metrics_handle(http_request *req)
{
    static const char text_type[] = "text/plain; charset=utf-8";
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        http_resp_header(req, "Allow", "GET, HEAD");
        http_respond(req, 405, text_type, "method not allowed\n", 19);
        return;
    }
    auth_identity id;
    auth_result who = auth_identify(app_of(req)->store, req, &id);
    if (who == AUTH_THROTTLED) {
        char secs[16];
        snprintf(secs, sizeof secs, "%u", id.retry_after_s);
        http_resp_header(req, "Retry-After", secs);
        http_respond(req, 429, text_type, "too many invalid credentials\n", 29);
        return;
    }
    if (who != AUTH_OK || !id.user.admin) {
        if (who != AUTH_OK)
            http_resp_header(req, "WWW-Authenticate", "Bearer realm=\"hangar\"");
        const char *msg = who != AUTH_OK ? "an admin token is needed\n" : "admins only\n";
        http_respond(req, who != AUTH_OK ? 401 : 403, text_type, msg, strlen(msg));
        return;
    }
    char *text = metrics_render();
    if (!text) {
        http_respond(req, 500, text_type, "out of memory\n", 14);
        return;
    }
    http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
}
