/* The sandbox runtime driver, end to end on a real libuv loop.
 *
 * Needs root (namespaces, cgroups, mounts) and the hangar binary built with
 * sanitizers: the driver re-executes hangar as `hangar __sandbox`, and this test
 * binary has no such mode. The helper is $HANGAR_SANDBOX_HELPER, or else
 * $(BUILD)/san/hangar found next to this binary ($(BUILD)/unit/runtime/):
 * `make test` and `make all san && make unit` build it first. Without root,
 * the helper or usable namespaces, every test is skipped with the reason.
 *
 * The apps are /bin/sh and /usr/bin/python3 of the host, seen read-only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "lib/util.h"
#include "runtime/runtime.h"
#include "runtime/sandbox.h"

#define APP_UID 65534
#define APP_GID 65534
#define MAX_LINES 512

static char skip_reason[512];
static char helper_bin[PATH_MAX];
static const char *const app_env[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL};

/* One sandboxed run: its output, its exit, and when things happened. */
typedef struct run {
    uv_loop_t *loop;
    runtime_instance *inst;
    char name[64];
    char app_dir[64];
    char *lines[MAX_LINES];
    int streams[MAX_LINES];
    int nlines;
    bool exited;
    runtime_exit exit;
    uint64_t start_ms;
    uint64_t exit_ms;
    /* a line that triggers an action once */
    const char *trigger;
    void (*on_trigger)(struct run *r);
    uint64_t grace_ms;
    uint64_t stop_ms;
    uv_timer_t timer; /* for a test's own delayed action */
    void *arg;
} run;

/* ---- fixtures ------------------------------------------------------------ */

static void find_helper(void)
{
    const char *env = getenv("HANGAR_SANDBOX_HELPER");
    if (env && *env) {
        snprintf(helper_bin, sizeof helper_bin, "%s", env);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return;
    self[n] = '\0';
    /* BUILD/unit/runtime/test_sandbox -> BUILD/san/hangar */
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
    }
    snprintf(helper_bin, sizeof helper_bin, "%s/san/hangar", self);
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (geteuid() != 0) {
        snprintf(skip_reason, sizeof skip_reason, "not root");
        return 0;
    }
    find_helper();
    if (access(helper_bin, X_OK) < 0) {
        snprintf(skip_reason, sizeof skip_reason, "helper %s missing (build `make san` first)",
                 helper_bin);
        return 0;
    }
    sandbox_set_helper_path(helper_bin);
    char err[512];
    if (runtime_probe(err, sizeof err) < 0)
        snprintf(skip_reason, sizeof skip_reason, "%s", err);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sandbox_set_helper_path(NULL);
    return 0;
}

#define REQUIRE_SANDBOX()                                                                          \
    do {                                                                                           \
        if (skip_reason[0]) {                                                                      \
            print_message("sandbox tests skipped: %s\n", skip_reason);                             \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void rm_rf(const char *path)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static void write_file(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A fresh app directory owned by the app user. */
static void run_init(run *r, uv_loop_t *loop, const char *tag)
{
    memset(r, 0, sizeof *r);
    r->loop = loop;
    snprintf(r->name, sizeof r->name, "test-%d-%s", (int)getpid(), tag);
    snprintf(r->app_dir, sizeof r->app_dir, "/tmp/hangar-sbt-XXXXXX");
    assert_non_null(mkdtemp(r->app_dir));
    assert_int_equal(chown(r->app_dir, APP_UID, APP_GID), 0);
}

static void run_done(run *r)
{
    if (r->inst)
        runtime_free(r->inst);
    r->inst = NULL;
    for (int i = 0; i < r->nlines; i++)
        free(r->lines[i]);
    rm_rf(r->app_dir);
}

static void on_line(runtime_instance *inst, int stream, const char *line, size_t len, void *arg)
{
    run *r = arg;
    (void)inst;
    if (r->nlines < MAX_LINES) {
        r->lines[r->nlines] = strndup(line, len);
        r->streams[r->nlines] = stream;
        r->nlines++;
    }
    if (r->trigger && memmem(line, len, r->trigger, strlen(r->trigger))) {
        r->trigger = NULL;
        r->on_trigger(r);
    }
}

static void on_exit_cb(runtime_instance *inst, const runtime_exit *exit, void *arg)
{
    run *r = arg;
    (void)inst;
    assert_false(r->exited); /* exactly once */
    r->exited = true;
    r->exit = *exit;
    r->exit_ms = util_mono_ms();
}

static const runtime_callbacks callbacks = {on_line, on_exit_cb};

static runtime_spec spec_for(run *r, const char *const *argv)
{
    runtime_spec spec = {
        .name = r->name,
        .app_dir = r->app_dir,
        .argv = argv,
        .env = app_env,
        .uid = APP_UID,
        .gid = APP_GID,
    };
    return spec;
}

static void start(run *r, const runtime_spec *spec)
{
    char err[512] = "";
    r->start_ms = util_mono_ms();
    int rc = runtime_start(r->loop, spec, &callbacks, r, &r->inst, err, sizeof err);
    if (rc < 0)
        fail_msg("runtime_start: %s", err);
    assert_non_null(r->inst);
}

static void on_watchdog(uv_timer_t *t)
{
    run *r = t->data;
    print_message("watchdog: %s still running, stopping it\n", r->name);
    runtime_stop(r->inst, 0);
}

/* Runs the loop until r has exited (a watchdog stops it after timeout_ms). */
static void wait_exit(run *r, uint64_t timeout_ms)
{
    uv_timer_t watchdog;
    uv_timer_init(r->loop, &watchdog);
    watchdog.data = r;
    uv_timer_start(&watchdog, on_watchdog, timeout_ms, 0);
    while (!r->exited)
        uv_run(r->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&watchdog, NULL);
    uv_run(r->loop, UV_RUN_NOWAIT);
}

static int find_line(const run *r, int stream, const char *text)
{
    for (int i = 0; i < r->nlines; i++) {
        if ((stream == 0 || r->streams[i] == stream) && strstr(r->lines[i], text))
            return i;
    }
    return -1;
}

static void dump_lines(const run *r)
{
    for (int i = 0; i < r->nlines; i++)
        print_message("  [%d] %s\n", r->streams[i], r->lines[i]);
}

#define assert_line(r, stream, text)                                                               \
    do {                                                                                           \
        if (find_line(r, stream, text) < 0) {                                                      \
            dump_lines(r);                                                                         \
            fail_msg("no output line with '%s'", text);                                            \
        }                                                                                          \
    } while (0)

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The instance's cgroup directories on either layout; true if any is left. */
static bool cgroup_left(const char *name)
{
    static const char *const fmts[] = {
        "/sys/fs/cgroup/hangar/%s", "/sys/fs/cgroup/memory/hangar/%s",
        "/sys/fs/cgroup/pids/hangar/%s", "/sys/fs/cgroup/cpu/hangar/%s"};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, fmts[i], name);
        if (access(path, F_OK) == 0)
            return true;
    }
    return false;
}

static long long pids_current(const char *name)
{
    static const char *const fmts[] = {"/sys/fs/cgroup/pids/hangar/%s/pids.current",
                                       "/sys/fs/cgroup/hangar/%s/pids.current"};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, fmts[i], name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        long long n = -1;
        if (fscanf(f, "%lld", &n) != 1)
            n = -1;
        fclose(f);
        return n;
    }
    return -1;
}

static bool pgrep_finds(const char *marker)
{
    char cmd[256];
    /* "[h]angar-x" matches the marker but not the shell running pgrep */
    snprintf(cmd, sizeof cmd, "pgrep -f '[%c]%s' >/dev/null", marker[0], marker + 1);
    int status = system(cmd);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- a tiny HTTP client that retries until the app listens ---------------- */

typedef struct client {
    run *r;
    int port;
    uv_tcp_t tcp;
    uv_connect_t req;
    uv_write_t wreq;
    uv_timer_t retry;
    char resp[4096];
    size_t len;
    bool done;
    bool closing;
    int attempts;
    uint64_t connected_ms;
    uint64_t answered_ms;
} client;

static void client_attempt(client *c);

static void client_on_retry(uv_timer_t *t)
{
    client_attempt(t->data);
}

static void client_retry_later(uv_handle_t *h)
{
    client *c = h->data;
    c->closing = false;
    uv_timer_start(&c->retry, client_on_retry, 10, 0);
}

static void client_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    client *c = h->data;
    (void)size;
    *buf = uv_buf_init(c->resp + c->len, (unsigned)(sizeof c->resp - 1 - c->len));
}

static void client_closed(uv_handle_t *h)
{
    client *c = h->data;
    c->done = true;
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    client *c = s->data;
    (void)buf;
    if (n > 0) {
        c->len += (size_t)n;
        c->resp[c->len] = '\0';
        if (c->len < sizeof c->resp - 1)
            return;
    }
    if (n == 0)
        return;
    c->answered_ms = util_mono_ms();
    uv_close((uv_handle_t *)&c->tcp, client_closed);
}

static void client_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

static void client_connected(uv_connect_t *req, int status)
{
    client *c = req->data;
    if (status < 0) { /* not listening yet */
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, client_retry_later);
        return;
    }
    c->connected_ms = util_mono_ms();
    static char get[] = "GET /who.txt HTTP/1.0\r\n\r\n";
    uv_buf_t buf = uv_buf_init(get, sizeof get - 1);
    uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, client_written);
    uv_read_start((uv_stream_t *)&c->tcp, client_alloc, client_read);
}

static void client_attempt(client *c)
{
    c->attempts++;
    assert_true(c->attempts < 3000); /* 30 s on a loaded machine */
    uv_tcp_init(c->r->loop, &c->tcp);
    c->tcp.data = c;
    c->req.data = c;
    int rc = runtime_connect(c->r->inst, c->port, &c->tcp, &c->req, client_connected);
    if (rc < 0) {
        /* UV_EAGAIN: the namespace is not ready yet */
        assert_int_equal(rc, UV_EAGAIN);
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, client_retry_later);
    }
}

static void client_start(client *c, run *r, int port)
{
    memset(c, 0, sizeof *c);
    c->r = r;
    c->port = port;
    uv_timer_init(r->loop, &c->retry);
    c->retry.data = c;
    client_attempt(c);
}

static void client_finish(client *c)
{
    uv_close((uv_handle_t *)&c->retry, NULL);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_output_and_status(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r;
    run_init(&r, &loop, "out");
    const char *argv[] = {"sh", "-c",
                          "echo hello; echo oops >&2; head -c 10000 /dev/zero | tr '\\0' x; "
                          "echo; printf partial; exit 3",
                          NULL};
    runtime_spec spec = spec_for(&r, argv);
    start(&r, &spec);
    wait_exit(&r, 10000);
    assert_int_equal(r.exit.status, 3);
    assert_int_equal(r.exit.term_signal, 0);
    assert_false(r.exit.oom);
    assert_int_equal(find_line(&r, 1, "hello"), 0);
    assert_line(&r, 2, "oops");
    assert_line(&r, 1, "partial");
    /* a 10000-byte line arrives capped, in two pieces */
    int i = find_line(&r, 1, "xxxx");
    assert_true(i >= 0);
    assert_int_equal(strlen(r.lines[i]), 8192);
    assert_int_equal(strlen(r.lines[i + 1]), 10000 - 8192);
    /* stopping an instance that already exited does nothing */
    runtime_stop(r.inst, 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_false(cgroup_left(r.name));
    run_done(&r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_exec_not_found(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    /* libuv's SIGCHLD pipe exists since the first test: nothing else may stay */
    int fds_before = count_fds();
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r;
    run_init(&r, &loop, "nf");
    const char *argv[] = {"python-does-not-exist", "app.py", NULL};
    runtime_spec spec = spec_for(&r, argv);
    start(&r, &spec);
    wait_exit(&r, 10000);
    assert_int_equal(r.exit.status, SANDBOX_EXIT_NOTFOUND);
    assert_line(&r, 2, "python-does-not-exist: not found");
    run_done(&r);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(count_fds(), fds_before);
}

static void test_setup_error(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r;
    run_init(&r, &loop, "setup");
    const char *argv[] = {"true", NULL};
    runtime_spec spec = spec_for(&r, argv);
    spec.data_dir = "/nonexistent/hangar/volume";
    start(&r, &spec);
    wait_exit(&r, 10000);
    assert_int_equal(r.exit.status, SANDBOX_EXIT_SETUP);
    assert_line(&r, 2, "sandbox: /nonexistent/hangar/volume: No such file or directory");
    assert_false(cgroup_left(r.name));
    run_done(&r);
    assert_int_equal(uv_loop_close(&loop), 0);

    /* refused before anything starts */
    char err[256];
    runtime_instance *inst = NULL;
    spec.data_dir = NULL;
    spec.uid = 0;
    assert_int_equal(runtime_start(&loop, &spec, &callbacks, &r, &inst, err, sizeof err), -1);
    assert_non_null(strstr(err, "uid"));
    assert_null(inst);
}

static void test_isolation(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    char data[] = "/tmp/hangar-sbt-data-XXXXXX";
    assert_non_null(mkdtemp(data));
    write_file(data, "secret", "top secret\n");
    assert_int_equal(chmod(data, 0755), 0);
    char script[2048];
    snprintf(script, sizeof script,
             "echo uid=$(id -u) gid=$(id -g); "
             "cat %s/secret 2>/dev/null || echo data-hidden; "
             "echo procs=$(ls /proc | grep -c '^[0-9]'); "
             "touch /app/written && echo app-writable; "
             "touch /rootfile 2>/dev/null || echo root-readonly; "
             "touch /usr/x 2>/dev/null || echo usr-readonly; "
             "touch /tmp/x && echo tmp-writable; "
             "ls /root /home 2>&1; "
             "grep CapEff /proc/self/status; "
             "echo host=$(hostname) pwd=$(pwd) home-env=$HOME; "
             "ls /dev | tr '\\n' ' '; echo",
             data);
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r;
    run_init(&r, &loop, "iso");
    const char *argv[] = {"sh", "-c", script, NULL};
    runtime_spec spec = spec_for(&r, argv);
    start(&r, &spec);
    wait_exit(&r, 10000);
    assert_int_equal(r.exit.status, 0);
    assert_line(&r, 1, "uid=65534 gid=65534");
    assert_line(&r, 1, "data-hidden");
    assert_line(&r, 1, "app-writable");
    assert_line(&r, 1, "root-readonly");
    assert_line(&r, 1, "usr-readonly");
    assert_line(&r, 1, "tmp-writable");
    assert_line(&r, 1, "/root': No such file");
    assert_line(&r, 1, "/home': No such file");
    assert_line(&r, 1, "CapEff:\t0000000000000000");
    assert_line(&r, 1, "pwd=/app home-env=/tmp");
    /* sh, the $(ls) subshell and init: a handful, not the host's hundreds */
    int i = find_line(&r, 1, "procs=");
    assert_true(i >= 0);
    assert_in_range(atoi(r.lines[i] + 6), 1, 5);
    char written[PATH_MAX];
    snprintf(written, sizeof written, "%s/written", r.app_dir);
    struct stat st;
    assert_int_equal(stat(written, &st), 0);
    assert_int_equal(st.st_uid, APP_UID);
    run_done(&r);
    rm_rf(data);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static const char http_server_py[] =
    "import http.server, functools\n"
    "h = functools.partial(http.server.SimpleHTTPRequestHandler, directory='/app')\n"
    "http.server.ThreadingHTTPServer(('127.0.0.1', 7860), h).serve_forever()\n";

static void test_two_instances_same_port(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r[2];
    client c[2];
    const char *argv[] = {"python3", "-c", http_server_py, NULL};
    for (int i = 0; i < 2; i++) {
        run_init(&r[i], &loop, i ? "web-b" : "web-a");
        write_file(r[i].app_dir, "who.txt", i ? "instance-B\n" : "instance-A\n");
        runtime_spec spec = spec_for(&r[i], argv);
        start(&r[i], &spec);
        client_start(&c[i], &r[i], 7860);
    }
    while (!c[0].done || !c[1].done)
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 2; i++) {
        assert_non_null(strstr(c[i].resp, "200 OK"));
        assert_non_null(strstr(c[i].resp, i ? "instance-B" : "instance-A"));
        print_message("instance %d: start -> connected %llu ms, -> HTTP answer %llu ms "
                      "(%d attempts)\n",
                      i, (unsigned long long)(c[i].connected_ms - r[i].start_ms),
                      (unsigned long long)(c[i].answered_ms - r[i].start_ms), c[i].attempts);
        client_finish(&c[i]);
        runtime_stop(r[i].inst, 5000);
    }
    for (int i = 0; i < 2; i++) {
        wait_exit(&r[i], 10000);
        /* python dies of the forwarded SIGTERM, well before the grace */
        assert_int_equal(r[i].exit.term_signal, SIGTERM);
        assert_true(r[i].exit_ms - r[i].start_ms < 5000);
        run_done(&r[i]);
    }
    assert_int_equal(uv_loop_close(&loop), 0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Start -> first HTTP answer of a stdlib server, one instance at a time. */
static void test_time_to_first_answer(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    enum { ROUNDS = 5 };
    uint64_t connect_ms[ROUNDS], answer_ms[ROUNDS], stop_ms[ROUNDS];
    const char *argv[] = {"python3", "-c", http_server_py, NULL};
    for (int i = 0; i < ROUNDS; i++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        run r;
        client c;
        run_init(&r, &loop, "timing");
        write_file(r.app_dir, "who.txt", "timing\n");
        runtime_spec spec = spec_for(&r, argv);
        start(&r, &spec);
        client_start(&c, &r, 7860);
        while (!c.done)
            uv_run(&loop, UV_RUN_ONCE);
        assert_non_null(strstr(c.resp, "timing"));
        connect_ms[i] = c.connected_ms - r.start_ms;
        answer_ms[i] = c.answered_ms - r.start_ms;
        client_finish(&c);
        r.stop_ms = util_mono_ms();
        runtime_stop(r.inst, 5000);
        wait_exit(&r, 10000);
        stop_ms[i] = r.exit_ms - r.stop_ms;
        run_done(&r);
        assert_int_equal(uv_loop_close(&loop), 0);
    }
    qsort(connect_ms, ROUNDS, sizeof connect_ms[0], cmp_u64);
    qsort(answer_ms, ROUNDS, sizeof answer_ms[0], cmp_u64);
    qsort(stop_ms, ROUNDS, sizeof stop_ms[0], cmp_u64);
    print_message("python http.server in the sandbox (helper %s), median of %d: start -> "
                  "connect %llu ms, -> first answer %llu ms (min %llu, max %llu); stop %llu ms\n",
                  helper_bin, ROUNDS, (unsigned long long)connect_ms[ROUNDS / 2],
                  (unsigned long long)answer_ms[ROUNDS / 2], (unsigned long long)answer_ms[0],
                  (unsigned long long)answer_ms[ROUNDS - 1],
                  (unsigned long long)stop_ms[ROUNDS / 2]);
}

static void on_host_connection(uv_stream_t *server, int status)
{
    (void)server;
    (void)status; /* left unaccepted: the kernel completed the handshake */
}

/* A listener of the host on 127.0.0.1 must not be reachable from inside. */
static void test_host_loopback_unreachable(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_tcp_t server;
    uv_tcp_init(&loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&server, 8, on_host_connection), 0);
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen);
    int port = ntohs(((struct sockaddr_in *)&bound)->sin_port);

    char script[512];
    snprintf(script, sizeof script,
             "import socket\n"
             "s = socket.socket(); s.settimeout(2)\n"
             "print('connect-result', s.connect_ex(('127.0.0.1', %d)), flush=True)\n",
             port);
    run r;
    run_init(&r, &loop, "lo");
    const char *argv[] = {"python3", "-c", script, NULL};
    runtime_spec spec = spec_for(&r, argv);
    start(&r, &spec);
    wait_exit(&r, 10000);
    assert_int_equal(r.exit.status, 0);
    int i = find_line(&r, 1, "connect-result");
    assert_true(i >= 0);
    print_message("host port %d from inside: %s\n", port, r.lines[i]);
    assert_string_not_equal(r.lines[i], "connect-result 0");
    run_done(&r);

    /* a build runs with the host's network and reaches it */
    run_init(&r, &loop, "hostnet");
    spec = spec_for(&r, argv);
    spec.host_network = true;
    start(&r, &spec);
    wait_exit(&r, 10000);
    assert_line(&r, 1, "connect-result 0");
    run_done(&r);
    uv_close((uv_handle_t *)&server, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void stop_on_trigger(run *r)
{
    r->stop_ms = util_mono_ms();
    runtime_stop(r->inst, r->grace_ms);
}

static void test_oom(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r;
    run_init(&r, &loop, "oom");
    const char *argv[] = {"python3", "-c", "b = b'x' * (200 << 20)\nprint('survived', len(b))\n",
                          NULL};
    runtime_spec spec = spec_for(&r, argv);
    spec.memory_bytes = 64 << 20;
    start(&r, &spec);
    wait_exit(&r, 20000);
    dump_lines(&r);
    assert_true(r.exit.oom);
    assert_int_equal(r.exit.term_signal, SIGKILL);
    assert_int_equal(find_line(&r, 1, "survived"), -1);
    assert_false(cgroup_left(r.name));
    run_done(&r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static const char fork_bomb_py[] = "import os, time\n"
                                   "print('bombing', flush=True)\n"
                                   "while True:\n"
                                   "    try:\n"
                                   "        os.fork()\n"
                                   "    except OSError:\n"
                                   "        time.sleep(0.01)\n";

/* The first line of a group file: v1 (under controller) or v2 layout. */
static bool cgroup_file(const char *name, const char *controller, const char *file, char *out,
                        size_t size)
{
    char paths[2][PATH_MAX];
    snprintf(paths[0], PATH_MAX, "/sys/fs/cgroup/%s/hangar/%s/%s", controller, name, file);
    snprintf(paths[1], PATH_MAX, "/sys/fs/cgroup/hangar/%s/%s", name, file);
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "r");
        if (!f)
            continue;
        bool ok = fgets(out, (int)size, f) != NULL;
        fclose(f);
        out[strcspn(out, "\n")] = '\0';
        return ok;
    }
    return false;
}

static void check_limits(const char *name)
{
    char v[128];
    if (cgroup_file(name, "cpu", "cpu.cfs_quota_us", v, sizeof v))
        assert_string_equal(v, "50000");
    else if (cgroup_file(name, "cpu", "cpu.max", v, sizeof v))
        assert_string_equal(v, "50000 100000");
    else
        fail_msg("no cpu limit file for %s", name);
    if (cgroup_file(name, "memory", "memory.limit_in_bytes", v, sizeof v) ||
        cgroup_file(name, "memory", "memory.max", v, sizeof v))
        assert_string_equal(v, "268435456");
    else
        fail_msg("no memory limit file for %s", name);
}

static void check_pids(uv_timer_t *t)
{
    run *r = t->data;
    check_limits(r->name);
    long long n = pids_current(r->name);
    print_message("fork bomb: pids.current = %lld (limit 20)\n", n);
    assert_in_range(n, 3, 20);
    /* the host can still fork */
    assert_int_equal(system("true"), 0);
    stop_on_trigger(r);
}

/* Gives the bomb a second to reach the limit, then looks and stops it. */
static void arm_pid_check(run *r)
{
    uv_timer_start(&r->timer, check_pids, 1000, 0);
}

static void test_fork_bomb(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r;
    run_init(&r, &loop, "bomb");
    const char *argv[] = {"python3", "-c", fork_bomb_py, NULL};
    runtime_spec spec = spec_for(&r, argv);
    spec.pids_max = 20;
    spec.cpus = 0.5;
    spec.memory_bytes = 256 << 20;
    r.grace_ms = 1000;
    r.trigger = "bombing";
    r.on_trigger = arm_pid_check;
    uv_timer_init(&loop, &r.timer);
    r.timer.data = &r;
    start(&r, &spec);
    wait_exit(&r, 20000);
    uv_close((uv_handle_t *)&r.timer, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    print_message("fork bomb stopped %llu ms after the stop\n",
                  (unsigned long long)(r.exit_ms - r.stop_ms));
    assert_true(r.stop_ms > 0);
    assert_false(cgroup_left(r.name));
    run_done(&r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_stop_ignoring_sigterm(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r;
    run_init(&r, &loop, "stubborn");
    char marker[64];
    snprintf(marker, sizeof marker, "hangar-stubborn-%d", (int)getpid());
    char script[512];
    snprintf(script, sizeof script,
             "import signal, subprocess, sys, time\n"
             "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
             /* a child that ignores SIGTERM too and would be orphaned */
             "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
             "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)', sys.argv[1]])\n"
             "print('ready', flush=True)\n"
             "time.sleep(600)\n");
    const char *argv[] = {"python3", "-c", script, marker, NULL};
    runtime_spec spec = spec_for(&r, argv);
    r.trigger = "ready";
    r.on_trigger = stop_on_trigger;
    r.grace_ms = 500;
    start(&r, &spec);
    wait_exit(&r, 20000);
    uint64_t took = r.exit_ms - r.stop_ms;
    print_message("stop of an app ignoring SIGTERM: %llu ms (grace 500)\n",
                  (unsigned long long)took);
    assert_true(r.stop_ms > 0);
    assert_in_range(took, 500, 3000);
    assert_int_equal(r.exit.term_signal, SIGKILL);
    assert_false(pgrep_finds(marker));
    assert_false(cgroup_left(r.name));
    runtime_stop(r.inst, 0); /* after the exit: a no-op */
    run_done(&r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void check_ports(run *r)
{
    int ports[16];
    int n = runtime_listening_ports(r->inst, ports, 16);
    bool found = false;
    for (int i = 0; i < n; i++)
        found |= ports[i] == 8000;
    print_message("listening ports: %d found, 8000 %s\n", n, found ? "among them" : "missing");
    assert_true(found);
    runtime_stop(r->inst, 2000);
}

static void test_listening_ports(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    int fds_before = count_fds();
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r;
    run_init(&r, &loop, "ports");
    const char *argv[] = {"python3", "-c",
                          "import socket, time\n"
                          "s = socket.socket(socket.AF_INET6)\n"
                          "s.bind(('::', 8000)); s.listen()\n"
                          "print('listening', flush=True)\n"
                          "time.sleep(600)\n",
                          NULL};
    runtime_spec spec = spec_for(&r, argv);
    r.trigger = "listening";
    r.on_trigger = check_ports;
    start(&r, &spec);
    wait_exit(&r, 20000);
    assert_true(r.exited);
    int ports[4];
    assert_int_equal(runtime_listening_ports(r.inst, ports, 4), UV_ESRCH);
    run_done(&r);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(count_fds(), fds_before);
}

static void start_signaller(run *a)
{
    run *b = a->arg;
    const char *argv[] = {"sh", "-c", "trap '' USR1; kill -USR1 0; kill -USR1 -1; echo sent", NULL};
    runtime_spec spec = spec_for(b, argv);
    start(b, &spec);
}

/* Spaces share a uid: the signals of one must not reach another. */
static void test_signals_stay_inside(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    uv_loop_t loop;
    uv_loop_init(&loop);
    run a, b;
    run_init(&a, &loop, "sig-a");
    run_init(&b, &loop, "sig-b");
    const char *argv[] = {
        "python3", "-c",
        "import signal, time\n"
        "signal.signal(signal.SIGUSR1, lambda *a: print('got-usr1', flush=True))\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n",
        NULL};
    runtime_spec spec = spec_for(&a, argv);
    a.arg = &b;
    a.trigger = "ready";
    a.on_trigger = start_signaller;
    start(&a, &spec);
    while (!b.exited)
        uv_run(&loop, UV_RUN_ONCE);
    assert_line(&b, 1, "sent");
    /* give a stray signal time to arrive */
    uv_sleep(200);
    uv_run(&loop, UV_RUN_NOWAIT);
    runtime_stop(a.inst, 2000);
    wait_exit(&a, 10000);
    assert_int_equal(find_line(&a, 1, "got-usr1"), -1);
    run_done(&a);
    run_done(&b);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* A group of the same name left by a crashed daemon is replaced. */
static void test_stale_cgroup_replaced(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r;
    run_init(&r, &loop, "stale");
    static const char *const fmts[] = {"/sys/fs/cgroup/memory/hangar/%s",
                                       "/sys/fs/cgroup/pids/hangar/%s", "/sys/fs/cgroup/hangar/%s"};
    int made = 0;
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, fmts[i], r.name);
        made += mkdir(path, 0755) == 0;
    }
    assert_true(made > 0);
    const char *argv[] = {"true", NULL};
    runtime_spec spec = spec_for(&r, argv);
    start(&r, &spec);
    wait_exit(&r, 10000);
    assert_int_equal(r.exit.status, 0);
    assert_false(cgroup_left(r.name));
    run_done(&r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* runtime_free of a running instance kills it and frees it without callbacks. */
static void test_free_while_running(void **state)
{
    (void)state;
    REQUIRE_SANDBOX();
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r;
    run_init(&r, &loop, "free");
    const char *argv[] = {"sleep", "600", NULL};
    runtime_spec spec = spec_for(&r, argv);
    start(&r, &spec);
    uv_run(&loop, UV_RUN_NOWAIT);
    runtime_free(r.inst);
    r.inst = NULL;
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once every handle is closed */
    assert_false(r.exited);
    assert_false(cgroup_left(r.name));
    run_done(&r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_and_status),
        cmocka_unit_test(test_exec_not_found),
        cmocka_unit_test(test_setup_error),
        cmocka_unit_test(test_isolation),
        cmocka_unit_test(test_two_instances_same_port),
        cmocka_unit_test(test_time_to_first_answer),
        cmocka_unit_test(test_host_loopback_unreachable),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_fork_bomb),
        cmocka_unit_test(test_stop_ignoring_sigterm),
        cmocka_unit_test(test_listening_ports),
        cmocka_unit_test(test_signals_stay_inside),
        cmocka_unit_test(test_stale_cgroup_replaced),
        cmocka_unit_test(test_free_while_running),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
