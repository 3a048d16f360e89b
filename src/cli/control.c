#include "cli/control.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "lib/util.h"

#define STATUS_POLL_MS 1000

typedef struct control_opts {
    int json;
    int factory;
    int wait;
    long long timeout_s; /* 0: none */
} control_opts;

static int parse_opts(int argc, char **argv, const char *cmd, control_opts *o)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"factory", no_argument, NULL, 'F'},
        {"wait", no_argument, NULL, 'w'}, {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 0;
    while ((opt = cli_getopt(argc, argv, opts, cmd)) != -1) {
        switch (opt) {
        case 'j':
            o->json = 1;
            break;
        case 'F':
            o->factory = 1;
            break;
        case 'w':
            o->wait = 1;
            break;
        case 'h':
            return -1;
        case 't':
            if (util_parse_int(optarg, 1, 1LL << 31, &o->timeout_s) < 0)
                return cli_usage_error(cmd, "--timeout takes a number of seconds");
            break;
        default:
            return CLI_USAGE;
        }
    }
    return CLI_OK;
}

/* Options, then the space and exactly `extra` more arguments (or up to
 * `extra` when optional), then a client; *space gets the full id. */
static int control_begin(int argc, char **argv, const char *cmd, int extra, bool optional,
                         control_opts *o, cli_client *c, char space[CLI_SPACE_ID_MAX])
{
    int rc = parse_opts(argc, argv, cmd, o);
    if (rc < 0) {
        cli_help(cmd, stdout);
        return -1;
    }
    if (rc != CLI_OK)
        return rc;
    int n = argc - optind - 1;
    if (n < (optional ? 0 : extra) || n > extra)
        return cli_usage_error(cmd, "wrong number of arguments");
    rc = cli_client_open(c);
    if (rc == CLI_OK)
        rc = cli_space_id(c, argv[optind], space);
    if (rc != CLI_OK)
        cli_client_close(c);
    return rc;
}

static int control_finish(cli_client *c, int rc)
{
    cli_client_close(c);
    return rc;
}

/* POST /api/spaces/{id}/{verb} and the stage it answers with. */
static int runtime_post(cli_client *c, const char *id, const char *verb, json_t *body,
                        char stage[64])
{
    char path[CLI_SPACE_ID_MAX + 64];
    snprintf(path, sizeof path, "/api/spaces/%s/%s", id, verb);
    json_t *rt = NULL;
    int rc = cli_call(c, "POST", path, body, id, &rt);
    const char *s = cli_json_str(rt, "stage");
    snprintf(stage, 64, "%s", s ? s : "?");
    json_decref(rt);
    return rc;
}

int cli_restart_main(int argc, char **argv)
{
    control_opts o = {0};
    cli_client c;
    char id[CLI_SPACE_ID_MAX], stage[64];
    int rc = control_begin(argc, argv, "restart", 0, false, &o, &c, id);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    rc = runtime_post(&c, id, o.factory ? "restart?factory=true" : "restart", NULL, stage);
    if (rc == CLI_OK)
        printf("%s %s (%s); hangar status %s --wait follows it\n",
               o.factory ? "Rebuilding" : "Restarting", id, stage, id);
    return control_finish(&c, rc);
}

int cli_pause_main(int argc, char **argv)
{
    control_opts o = {0};
    cli_client c;
    char id[CLI_SPACE_ID_MAX], stage[64];
    int rc = control_begin(argc, argv, "pause", 0, false, &o, &c, id);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    rc = runtime_post(&c, id, "pause", NULL, stage);
    if (rc == CLI_OK)
        printf("Paused %s (%s); hangar restart %s starts it again\n", id, stage, id);
    return control_finish(&c, rc);
}

int cli_sleep_time_main(int argc, char **argv)
{
    control_opts o = {0};
    cli_client c;
    char id[CLI_SPACE_ID_MAX], stage[64];
    int rc = control_begin(argc, argv, "sleep-time", 1, false, &o, &c, id);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    const char *arg = argv[optind + 1];
    long long seconds = -1;
    if (strcmp(arg, "never") != 0 && util_parse_int(arg, 1, 1LL << 40, &seconds) < 0) {
        rc = cli_usage_error("sleep-time", "'%s' is neither a number of seconds nor never", arg);
        return control_finish(&c, rc);
    }
    json_t *body = json_pack("{s:I}", "seconds", (json_int_t)seconds);
    rc = runtime_post(&c, id, "sleeptime", body, stage);
    json_decref(body);
    if (rc == CLI_OK && seconds < 0)
        printf("%s never sleeps\n", id);
    else if (rc == CLI_OK)
        printf("%s sleeps after %lld s without visits\n", id, seconds);
    return control_finish(&c, rc);
}

/* ---- hardware ------------------------------------------------------------------ */

static void print_flavors(json_t *flavors, const char *current)
{
    static const char *titles[] = {" ", "FLAVOR", "NAME", "CPU", "RAM", "ACCELERATOR"};
    cli_table t;
    if (cli_table_init(&t, 6, titles) < 0)
        return;
    size_t i;
    json_t *f;
    json_array_foreach(flavors, i, f)
    {
        const char *name = cli_json_str(f, "name");
        json_t *acc = json_object_get(f, "accelerator");
        char accel[128] = "";
        if (json_is_object(acc))
            snprintf(accel, sizeof accel, "%s",
                     cli_json_str(acc, "model") ? cli_json_str(acc, "model") : "yes");
        const char *row[] = {name && current && !strcmp(name, current) ? "*" : " ",
                             name,
                             cli_json_str(f, "prettyName"),
                             cli_json_str(f, "cpu"),
                             cli_json_str(f, "ram"),
                             accel};
        cli_table_add(&t, row);
    }
    cli_table_print(&t, stdout);
    cli_table_free(&t);
}

static int hardware_list(cli_client *c, const char *id, const control_opts *o)
{
    char path[CLI_SPACE_ID_MAX + 64];
    json_t *flavors = NULL, *rt = NULL;
    int rc = cli_call(c, "GET", "/api/spaces/hardware", NULL, NULL, &flavors);
    if (rc == CLI_OK && o->json) {
        cli_print_json(flavors, stdout);
    } else if (rc == CLI_OK) {
        snprintf(path, sizeof path, "/api/spaces/%s/runtime", id);
        rc = cli_call(c, "GET", path, NULL, id, &rt);
        json_t *hw = json_object_get(rt, "hardware");
        const char *current = cli_json_str(hw, "requested");
        if (rc == CLI_OK)
            print_flavors(flavors, current ? current : cli_json_str(hw, "current"));
    }
    json_decref(flavors);
    json_decref(rt);
    return rc;
}

int cli_hardware_main(int argc, char **argv)
{
    control_opts o = {0};
    cli_client c;
    char id[CLI_SPACE_ID_MAX], stage[64];
    int rc = control_begin(argc, argv, "hardware", 1, true, &o, &c, id);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    if (optind + 1 == argc)
        return control_finish(&c, hardware_list(&c, id, &o));
    json_t *body = json_pack("{s:s}", "flavor", argv[optind + 1]);
    rc = runtime_post(&c, id, "hardware", body, stage);
    json_decref(body);
    if (rc == CLI_OK)
        printf("%s now runs on %s (%s)\n", id, argv[optind + 1], stage);
    return control_finish(&c, rc);
}

/* ---- status --------------------------------------------------------------------- */

static bool stage_in_progress(const char *stage)
{
    return !strcmp(stage, "BUILDING") || !strcmp(stage, "APP_STARTING") ||
           !strcmp(stage, "RUNNING_BUILDING") || !strcmp(stage, "RUNNING_APP_STARTING");
}

static bool stage_failed(const char *stage)
{
    return !strcmp(stage, "BUILD_ERROR") || !strcmp(stage, "CONFIG_ERROR") ||
           !strcmp(stage, "RUNTIME_ERROR") || !strcmp(stage, "NO_APP_FILE");
}

/* What to do about a stage that is not RUNNING and will not become it alone. */
static const char *stage_hint(const char *stage)
{
    if (!strcmp(stage, "BUILD_ERROR"))
        return "hangar logs %s --build shows the build log";
    if (!strcmp(stage, "NO_APP_FILE"))
        return "upload the app with hangar upload %s DIR";
    if (!strcmp(stage, "CONFIG_ERROR"))
        return "fix the README.md front matter and upload it again (%s)";
    if (!strcmp(stage, "RUNTIME_ERROR"))
        return "hangar logs %s shows the app's output";
    if (!strcmp(stage, "SLEEPING"))
        return "it wakes on its next visit (%s)";
    return "hangar restart %s starts it";
}

/* The verdict on a settled stage: printed, and the exit status. */
static int stage_verdict(const char *id, json_t *rt, bool wait)
{
    const char *stage = cli_json_str(rt, "stage");
    const char *error = cli_json_str(rt, "errorMessage");
    if (!strcmp(stage, "RUNNING") || (!wait && !stage_failed(stage)))
        return CLI_OK;
    if (error)
        fprintf(stderr, "hangar: %s is %s: %s\n", id, stage, error);
    else
        fprintf(stderr, "hangar: %s is %s\n", id, stage);
    fputs("  ", stderr);
    fprintf(stderr, stage_hint(stage), id);
    fputc('\n', stderr);
    return CLI_FAIL;
}

static int status_poll(cli_client *c, const char *id, const control_opts *o, json_t **rt)
{
    char path[CLI_SPACE_ID_MAX + 64], last[64] = "";
    snprintf(path, sizeof path, "/api/spaces/%s/runtime", id);
    uint64_t started = util_mono_ms();
    for (;;) {
        int rc = cli_call(c, "GET", path, NULL, id, rt);
        if (rc != CLI_OK)
            return rc;
        const char *stage = cli_json_str(*rt, "stage");
        if (!stage) {
            fprintf(stderr, "hangar: the runtime of %s has no stage\n", id);
            return CLI_FAIL;
        }
        uint64_t secs = (util_mono_ms() - started) / 1000;
        if (strcmp(stage, last) != 0 && !o->json) {
            if (last[0])
                printf("%s (after %llu s)\n", stage, (unsigned long long)secs);
            else
                printf("%s\n", stage);
            fflush(stdout);
        }
        snprintf(last, sizeof last, "%s", stage);
        if (!o->wait || !stage_in_progress(stage))
            return CLI_OK;
        if (o->timeout_s && (long long)secs >= o->timeout_s) {
            fprintf(stderr, "hangar: %s is still %s after %lld s\n", id, stage, o->timeout_s);
            return CLI_FAIL;
        }
        json_decref(*rt);
        *rt = NULL;
        usleep(STATUS_POLL_MS * 1000);
    }
}

int cli_status_main(int argc, char **argv)
{
    control_opts o = {0};
    cli_client c;
    char id[CLI_SPACE_ID_MAX];
    int rc = control_begin(argc, argv, "status", 0, false, &o, &c, id);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    json_t *rt = NULL;
    rc = status_poll(&c, id, &o, &rt);
    if (rc == CLI_OK && o.json)
        cli_print_json(rt, stdout);
    if (rc == CLI_OK)
        rc = stage_verdict(id, rt, o.wait);
    json_decref(rt);
    return control_finish(&c, rc);
}
