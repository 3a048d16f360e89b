#include "cli/logs.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "lib/buf.h"
#include "lib/util.h"

/* The server keeps a live log open after replaying it; without -f the client
 * stops once nothing has come for this long. */
#define LOGS_IDLE_MS 2000
/* With -f: reconnections after a dropped stream, and the pause before each. */
#define LOGS_RETRIES 5
#define LOGS_RETRY_MS 1000
#define LOGS_LINE_MAX (1024 * 1024)

typedef struct logs_opts {
    bool build;
    bool follow;
    long long tail; /* -1: all */
} logs_opts;

typedef struct logs_stream {
    CURL *curl;
    cli_response *res; /* gets the body of an error answer */
    buf line;          /* an SSE line not complete yet */
    long long printed; /* events printed, over every connection */
    long long skip;    /* events of this connection already printed before */
    bool follow;
    uint64_t last_event_ms; /* 0 until the answer's headers came */
} logs_stream;

/* One SSE line: `data: {"data": line, "timestamp": ...}` prints line. */
static void logs_event(logs_stream *s, const char *text, size_t len)
{
    if (len < 7 || strncmp(text, "data: {", 7) != 0)
        return; /* keep-alives, comments, other fields */
    json_t *ev = json_loadb(text + 6, len - 6, 0, NULL);
    const char *data = cli_json_str(ev, "data");
    s->last_event_ms = util_mono_ms();
    if (data && s->skip > 0) {
        s->skip--;
    } else if (data) {
        size_t dlen = strlen(data);
        fwrite(data, 1, dlen, stdout);
        if (!dlen || data[dlen - 1] != '\n')
            fputc('\n', stdout);
        fflush(stdout);
        s->printed++;
    }
    json_decref(ev);
}

static size_t logs_write(char *data, size_t size, size_t n, void *arg)
{
    logs_stream *s = arg;
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return buf_append(&s->res->body, data, n) < 0 ? 0 : n;
    if (s->line.len + n > LOGS_LINE_MAX || buf_append(&s->line, data, n) < 0)
        return 0;
    char *nl;
    while ((nl = memchr(s->line.data, '\n', s->line.len))) {
        size_t len = (size_t)(nl - s->line.data);
        logs_event(s, s->line.data, len && nl[-1] == '\r' ? len - 1 : len);
        buf_consume(&s->line, len + 1);
    }
    return n;
}

/* Without -f, ends the transfer once the replay has been quiet for a while. */
static int logs_idle(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                     curl_off_t ulnow)
{
    logs_stream *s = arg;
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (s->follow || status == 0)
        return 0;
    uint64_t now = util_mono_ms();
    if (!s->last_event_ms)
        s->last_event_ms = now;
    return now - s->last_event_ms > LOGS_IDLE_MS;
}

static int logs_connect(cli_client *c, const char *id, const logs_opts *o, logs_stream *s,
                        cli_response *res)
{
    char path[CLI_SPACE_ID_MAX + 64];
    int n = snprintf(path, sizeof path, "/api/spaces/%s/logs/%s", id, o->build ? "build" : "run");
    /* A reconnection replays from the start and skips what was printed. */
    if (o->tail >= 0 && s->printed == 0)
        snprintf(path + n, sizeof path - (size_t)n, "?tail=%lld", o->tail);
    cli_prepare(c, "GET", path, NULL, res);
    cli_add_header(c, "Accept: text/event-stream");
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, logs_write);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, logs_idle);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
    s->curl = c->curl;
    s->res = res;
    s->last_event_ms = 0;
    buf_reset(&s->line);
    return cli_perform(c, res);
}

/* Whether a stream that ended empty will have lines soon: the space is on its
 * way (building or starting), so -f waits for them. */
static bool logs_coming(cli_client *c, const char *id)
{
    char path[CLI_SPACE_ID_MAX + 64];
    snprintf(path, sizeof path, "/api/spaces/%s/runtime", id);
    json_t *rt = NULL;
    if (cli_call(c, "GET", path, NULL, id, &rt) != CLI_OK)
        return false;
    const char *stage = cli_json_str(rt, "stage");
    bool coming = stage && (strstr(stage, "BUILDING") || strstr(stage, "APP_STARTING"));
    json_decref(rt);
    return coming;
}

static int logs_broken(cli_client *c, const cli_response *res, const char *id)
{
    if (res->status == 0)
        return cli_report(c, res, id);
    fprintf(stderr, "hangar: the log stream of %s broke: %s\n", id, res->error);
    return CLI_FAIL;
}

static int logs_run(cli_client *c, const char *id, const logs_opts *o)
{
    logs_stream s = {.follow = o->follow};
    buf_init(&s.line);
    int rc = CLI_OK, retries = 0;
    for (;;) {
        cli_response res;
        cli_response_init(&res);
        s.skip = s.printed;
        long long before = s.printed;
        int got = logs_connect(c, id, o, &s, &res);
        bool dropped =
            got < 0 || (res.curl_rc != CURLE_OK && res.curl_rc != CURLE_ABORTED_BY_CALLBACK);
        retries = s.printed > before ? 0 : retries + 1;
        if (got == 0 && res.status != 200)
            rc = cli_report(c, &res, id);
        else if (dropped && (!o->follow || retries > LOGS_RETRIES))
            rc = logs_broken(c, &res, id);
        cli_response_free(&res);
        if (rc != CLI_OK || !o->follow)
            break;
        /* A stream the server ended is a finished log, unless it was empty
         * and the space is still on its way. */
        if (!dropped && !(s.printed == 0 && logs_coming(c, id)))
            break;
        usleep(LOGS_RETRY_MS * 1000);
    }
    buf_free(&s.line);
    return rc;
}

static int parse_opts(int argc, char **argv, logs_opts *o)
{
    static const struct option opts[] = {
        {"build", no_argument, NULL, 'b'},
        {"follow", no_argument, NULL, 'f'},
        {"tail", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 0;
    while ((opt = cli_getopt(argc, argv, opts, "logs")) != -1) {
        switch (opt) {
        case 'b':
            o->build = true;
            break;
        case 'f':
            o->follow = true;
            break;
        case 'h':
            return -1;
        case 'n':
            if (util_parse_int(optarg, 0, 1000000, &o->tail) < 0)
                return cli_usage_error("logs", "--tail takes a number of lines");
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("logs", "takes one SPACE");
    return CLI_OK;
}

int cli_logs_main(int argc, char **argv)
{
    logs_opts o = {.tail = -1};
    int rc = parse_opts(argc, argv, &o);
    if (rc < 0)
        return cli_help("logs", stdout);
    if (rc != CLI_OK)
        return rc;
    char id[CLI_SPACE_ID_MAX];
    cli_client c;
    rc = cli_client_open(&c);
    if (rc == CLI_OK)
        rc = cli_space_id(&c, argv[optind], id);
    if (rc == CLI_OK)
        rc = logs_run(&c, id, &o);
    cli_client_close(&c);
    return rc;
}
