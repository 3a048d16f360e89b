#include "cli/spaces.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "lib/buf.h"
#include "lib/util.h"

/* A page of the list as the server likes it; more come through Link. */
#define SPACES_PAGE 100

typedef struct spaces_opts {
    int json;
    int yes;
    const char *visibility; /* NULL: the server's default */
    const char *sdk;
    const char *author;
    const char *search;
    long long limit;
    const char *branch; /* source: the remote branch */
    long long poll;     /* source: seconds, -1 unset */
    int token_stdin;    /* source: read the deploy token */
    int off;            /* source: stop tracking */
} spaces_opts;

/* ---- list ------------------------------------------------------------------------ */

static void query_param(buf *url, CURL *curl, const char *name, const char *value)
{
    if (!value)
        return;
    char *escaped = curl_easy_escape(curl, value, 0);
    buf_printf(url, "&%s=%s", name, escaped ? escaped : "");
    curl_free(escaped);
}

/* Every page until limit items: the Link header names the next one. */
static int list_fetch(cli_client *c, const spaces_opts *o, json_t *all)
{
    buf url;
    buf_init(&url);
    long long page = o->limit < SPACES_PAGE ? o->limit : SPACES_PAGE;
    buf_printf(&url, "/api/spaces?limit=%lld", page);
    query_param(&url, c->curl, "author", o->author);
    query_param(&url, c->curl, "search", o->search);
    int rc = CLI_OK;
    char *next = buf_detach(&url);
    while (next && rc == CLI_OK && (long long)json_array_size(all) < o->limit) {
        cli_response res;
        cli_response_init(&res);
        cli_prepare(c, "GET", next, NULL, &res);
        if (cli_perform(c, &res) < 0 || res.status != 200) {
            rc = cli_report(c, &res, NULL);
        } else {
            json_t *items = json_loadb(res.body.data, res.body.len, 0, NULL);
            size_t i;
            json_t *item;
            json_array_foreach(items, i, item)
            {
                if ((long long)json_array_size(all) < o->limit)
                    json_array_append(all, item);
            }
            json_decref(items);
        }
        free(next);
        next = res.next;
        res.next = NULL;
        cli_response_free(&res);
    }
    free(next);
    return rc;
}

static void print_spaces(json_t *all)
{
    static const char *titles[] = {"ID", "SDK", "STAGE", "VISIBILITY", "UPDATED"};
    cli_table t;
    if (cli_table_init(&t, 5, titles) < 0)
        return;
    size_t i;
    json_t *sp;
    json_array_foreach(all, i, sp)
    {
        char ago[64];
        cli_format_ago(cli_json_str(sp, "lastModified"), ago, sizeof ago);
        const char *row[] = {cli_json_str(sp, "id"), cli_json_str(sp, "sdk"),
                             cli_json_str(json_object_get(sp, "runtime"), "stage"),
                             json_is_true(json_object_get(sp, "private")) ? "private" : "public",
                             ago};
        cli_table_add(&t, row);
    }
    if (json_array_size(all) == 0)
        fprintf(stderr, "no spaces (make one with hangar spaces create NAME)\n");
    else
        cli_table_print(&t, stdout);
    cli_table_free(&t);
}

static int spaces_list(cli_client *c, const spaces_opts *o, int argc, char **argv)
{
    if (argc != 0)
        return cli_usage_error("spaces", "list takes options only");
    json_t *all = json_array();
    int rc = list_fetch(c, o, all);
    if (rc == CLI_OK && o->json)
        cli_print_json(all, stdout);
    else if (rc == CLI_OK)
        print_spaces(all);
    json_decref(all);
    return rc;
}

/* ---- info ------------------------------------------------------------------------ */

static void print_files(json_t *siblings)
{
    size_t i;
    json_t *f;
    printf("files:      ");
    json_array_foreach(siblings, i, f)
    {
        const char *name = cli_json_str(f, "rfilename");
        printf("%s%s", i ? ", " : "", name ? name : "?");
    }
    printf("%s\n", json_array_size(siblings) ? "" : "none yet (hangar upload SPACE DIR)");
}

static void print_info(json_t *sp)
{
    json_t *rt = json_object_get(sp, "runtime");
    json_t *hw = json_object_get(rt, "hardware");
    const char *error = cli_json_str(rt, "errorMessage");
    const char *hardware = cli_json_str(hw, "current");
    char ago[64];
    cli_format_ago(cli_json_str(sp, "lastModified"), ago, sizeof ago);
    printf("id:         %s\n", cli_json_str(sp, "id"));
    printf("sdk:        %s\n", cli_json_str(sp, "sdk") ? cli_json_str(sp, "sdk") : "-");
    printf("visibility: %s\n", json_is_true(json_object_get(sp, "private")) ? "private" : "public");
    printf("stage:      %s\n", cli_json_str(rt, "stage") ? cli_json_str(rt, "stage") : "-");
    if (error)
        printf("error:      %s\n", error);
    printf("hardware:   %s\n", hardware                        ? hardware
                               : cli_json_str(hw, "requested") ? cli_json_str(hw, "requested")
                                                               : "-");
    printf("url:        %s\n", cli_json_str(sp, "host") ? cli_json_str(sp, "host") : "-");
    printf("commit:     %s\n", cli_json_str(sp, "sha") && *cli_json_str(sp, "sha")
                                   ? cli_json_str(sp, "sha")
                                   : "none yet");
    printf("updated:    %s\n", ago);
    print_files(json_object_get(sp, "siblings"));
}

static int spaces_info(cli_client *c, const spaces_opts *o, int argc, char **argv)
{
    char id[CLI_SPACE_ID_MAX], path[CLI_SPACE_ID_MAX + 32];
    if (argc != 1)
        return cli_usage_error("spaces", "info takes one SPACE");
    int rc = cli_space_id(c, argv[0], id);
    if (rc != CLI_OK)
        return rc;
    snprintf(path, sizeof path, "/api/spaces/%s", id);
    json_t *sp = NULL;
    rc = cli_call(c, "GET", path, NULL, id, &sp);
    if (rc == CLI_OK && o->json)
        cli_print_json(sp, stdout);
    else if (rc == CLI_OK)
        print_info(sp);
    json_decref(sp);
    return rc;
}

/* ---- create, delete -------------------------------------------------------------- */

static int spaces_create(cli_client *c, const spaces_opts *o, int argc, char **argv)
{
    char id[CLI_SPACE_ID_MAX];
    if (argc != 1)
        return cli_usage_error("spaces", "create takes one SPACE");
    int rc = cli_space_id(c, argv[0], id);
    if (rc != CLI_OK)
        return rc;
    const char *sdk = o->sdk ? o->sdk : "gradio";
    json_t *body = json_pack("{s:s, s:s, s:s}", "name", id, "type", "space", "sdk", sdk);
    if (o->visibility)
        json_object_set_new(body, "visibility", json_string(o->visibility));
    json_t *out = NULL;
    rc = cli_call(c, "POST", "/api/repos/create", body, NULL, &out);
    if (rc == CLI_OK && o->json) {
        cli_print_json(out, stdout);
    } else if (rc == CLI_OK) {
        const char *url = cli_json_str(out, "url");
        printf("Created %s (%s, %s)%s%s\n", id, sdk, o->visibility ? o->visibility : "public",
               url ? ": " : "", url ? url : "");
        printf("next: hangar upload %s DIR\n", id);
    }
    json_decref(out);
    json_decref(body);
    return rc;
}

/* Deleting is final: on a terminal, the name typed back is the confirmation. */
static int confirm_delete(const char *id)
{
    char line[CLI_SPACE_ID_MAX + 8];
    if (!isatty(STDIN_FILENO))
        return cli_usage_error("spaces", "delete needs --yes when stdin is not a terminal");
    fprintf(stderr,
            "This deletes %s, its repository and its data for good.\n"
            "Type its id to confirm: ",
            id);
    if (!fgets(line, sizeof line, stdin))
        return CLI_FAIL;
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, id) != 0) {
        fprintf(stderr, "hangar: '%s' is not '%s'; nothing deleted\n", line, id);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int spaces_delete(cli_client *c, const spaces_opts *o, int argc, char **argv)
{
    char id[CLI_SPACE_ID_MAX];
    if (argc != 1)
        return cli_usage_error("spaces", "delete takes one SPACE");
    int rc = cli_space_id(c, argv[0], id);
    if (rc == CLI_OK && !o->yes)
        rc = confirm_delete(id);
    if (rc != CLI_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:s}", "name", id, "type", "space");
    rc = cli_call(c, "DELETE", "/api/repos/delete", body, id, NULL);
    if (rc == CLI_OK)
        printf("Deleted %s\n", id);
    json_decref(body);
    return rc;
}

/* ---- duplicate, rename, visibility ---------------------------------------------- */

static int spaces_duplicate(cli_client *c, const spaces_opts *o, int argc, char **argv)
{
    char from[CLI_SPACE_ID_MAX], to[CLI_SPACE_ID_MAX], path[CLI_SPACE_ID_MAX + 40];
    if (argc != 2)
        return cli_usage_error("spaces", "duplicate takes FROM and TO");
    int rc = cli_space_id(c, argv[0], from);
    if (rc == CLI_OK)
        rc = cli_space_id(c, argv[1], to);
    if (rc != CLI_OK)
        return rc;
    json_t *body = json_pack("{s:s}", "repository", to);
    if (o->visibility)
        json_object_set_new(body, "visibility", json_string(o->visibility));
    snprintf(path, sizeof path, "/api/spaces/%s/duplicate", from);
    json_t *out = NULL;
    rc = cli_call(c, "POST", path, body, from, &out);
    if (rc == CLI_OK) {
        const char *url = cli_json_str(out, "url");
        printf("Duplicated %s to %s%s%s\n", from, to, url ? ": " : "", url ? url : "");
    }
    json_decref(out);
    json_decref(body);
    return rc;
}

static int spaces_rename(cli_client *c, const spaces_opts *o, int argc, char **argv)
{
    char from[CLI_SPACE_ID_MAX], to[CLI_SPACE_ID_MAX], both[CLI_SPACE_ID_MAX * 2];
    if (argc != 2)
        return cli_usage_error("spaces", "rename takes SPACE and NEW");
    int rc = cli_space_id(c, argv[0], from);
    if (rc != CLI_OK)
        return rc;
    /* A bare new name stays with the same owner, not the token's user. */
    if (!strchr(argv[1], '/')) {
        snprintf(both, sizeof both, "%.*s/%s", (int)strcspn(from, "/"), from, argv[1]);
        rc = cli_space_id(c, both, to);
    } else {
        rc = cli_space_id(c, argv[1], to);
    }
    if (rc != CLI_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:s, s:s}", "fromRepo", from, "toRepo", to, "type", "space");
    rc = cli_call(c, "POST", "/api/repos/move", body, from, NULL);
    if (rc == CLI_OK)
        printf("Renamed %s to %s\n", from, to);
    json_decref(body);
    return rc;
}

static int spaces_visibility(cli_client *c, const spaces_opts *o, int argc, char **argv)
{
    char id[CLI_SPACE_ID_MAX], path[CLI_SPACE_ID_MAX + 40];
    if (argc != 2 || (strcmp(argv[1], "public") != 0 && strcmp(argv[1], "private") != 0))
        return cli_usage_error("spaces", "visibility takes SPACE and public or private");
    int rc = cli_space_id(c, argv[0], id);
    if (rc != CLI_OK)
        return rc;
    json_t *body = json_pack("{s:s}", "visibility", argv[1]);
    snprintf(path, sizeof path, "/api/spaces/%s/settings", id);
    rc = cli_call(c, "PUT", path, body, id, NULL);
    if (rc == CLI_OK)
        printf("%s is now %s\n", id, argv[1]);
    json_decref(body);
    return rc;
}

/* ---- source (a remote repository the space follows) ----------------------------- */

static const char *str_or(const char *s, const char *fallback)
{
    return s ? s : fallback;
}

static void print_source(json_t *src)
{
    if (!json_is_true(json_object_get(src, "tracking"))) {
        printf("not tracking a remote repository\n");
        return;
    }
    const char *error = cli_json_str(src, "error");
    printf("url:      %s\nbranch:   %s\npoll:     %lld s\ntoken:    %s\nwebhook:  %s\n",
           str_or(cli_json_str(src, "url"), "?"), str_or(cli_json_str(src, "branch"), "?"),
           (long long)json_integer_value(json_object_get(src, "pollSeconds")),
           json_is_true(json_object_get(src, "hasToken")) ? "set" : "none",
           str_or(cli_json_str(src, "webhookUrl"), "?"));
    if (error)
        printf("error:    %s\n", error);
    const char *secret = cli_json_str(src, "webhookSecret");
    if (secret)
        printf("webhook secret (shown once): %s\n", secret);
}

/* hangar spaces source SPACE [URL [--branch B] [--token-stdin] [--poll S]] | --off */
static int spaces_source(cli_client *c, const spaces_opts *o, int argc, char **argv)
{
    char id[CLI_SPACE_ID_MAX], path[CLI_SPACE_ID_MAX + 32];
    if (argc < 1 || argc > 2 || (o->off && argc != 1))
        return cli_usage_error("spaces", "source takes SPACE and a URL, or SPACE --off");
    int rc = cli_space_id(c, argv[0], id);
    if (rc != CLI_OK)
        return rc;
    snprintf(path, sizeof path, "/api/spaces/%s/source", id);
    json_t *body = NULL, *out = NULL;
    char *token = NULL;
    const char *method = o->off ? "DELETE" : argc == 2 ? "POST" : "GET";
    if (argc == 2) {
        body = json_pack("{s:s, s:s}", "url", argv[1], "branch", o->branch ? o->branch : "main");
        if (o->poll >= 0)
            json_object_set_new(body, "pollSeconds", json_integer(o->poll));
        if (o->token_stdin && !(token = cli_read_secret("Deploy token: ", 4096))) {
            json_decref(body);
            return CLI_USAGE;
        }
        if (token)
            json_object_set_new(body, "token", json_string(token));
    }
    rc = cli_call(c, method, path, body, id, &out);
    if (rc == CLI_OK && o->json)
        cli_print_json(out, stdout);
    else if (rc == CLI_OK)
        print_source(out);
    if (token) {
        sodium_memzero(token, strlen(token));
        free(token);
    }
    json_decref(out);
    json_decref(body);
    return rc;
}

/* ---- dispatch -------------------------------------------------------------------- */

typedef int (*spaces_verb)(cli_client *c, const spaces_opts *o, int argc, char **argv);

static const struct {
    const char *name;
    spaces_verb run;
} verbs[] = {
    {"list", spaces_list},           {"ls", spaces_list},
    {"info", spaces_info},           {"create", spaces_create},
    {"delete", spaces_delete},       {"rm", spaces_delete},
    {"duplicate", spaces_duplicate}, {"rename", spaces_rename},
    {"move", spaces_rename},         {"visibility", spaces_visibility},
    {"source", spaces_source},
};

static int parse_opts(int argc, char **argv, spaces_opts *o)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},         {"yes", no_argument, NULL, 'y'},
        {"private", no_argument, NULL, 'p'},      {"public", no_argument, NULL, 'P'},
        {"sdk", required_argument, NULL, 's'},    {"author", required_argument, NULL, 'a'},
        {"search", required_argument, NULL, 'q'}, {"limit", required_argument, NULL, 'n'},
        {"branch", required_argument, NULL, 'b'}, {"poll", required_argument, NULL, 'o'},
        {"token-stdin", no_argument, NULL, 't'},  {"off", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 0;
    while ((opt = cli_getopt(argc, argv, opts, "spaces")) != -1) {
        switch (opt) {
        case 'j':
            o->json = 1;
            break;
        case 'y':
            o->yes = 1;
            break;
        case 'p':
            o->visibility = "private";
            break;
        case 'P':
            o->visibility = "public";
            break;
        case 's':
            o->sdk = optarg;
            break;
        case 'a':
            o->author = optarg;
            break;
        case 'q':
            o->search = optarg;
            break;
        case 'b':
            o->branch = optarg;
            break;
        case 'o':
            if (util_parse_int(optarg, 0, 86400, &o->poll) < 0)
                return cli_usage_error("spaces", "--poll takes seconds, 0 to 86400");
            break;
        case 't':
            o->token_stdin = 1;
            break;
        case 'f':
            o->off = 1;
            break;
        case 'h':
            return -1;
        case 'n':
            if (util_parse_int(optarg, 1, 1000000, &o->limit) < 0)
                return cli_usage_error("spaces", "--limit takes a positive number");
            break;
        default:
            return CLI_USAGE;
        }
    }
    return CLI_OK;
}

int cli_spaces_main(int argc, char **argv)
{
    spaces_opts o = {.limit = 1000000, .poll = -1};
    int rc = parse_opts(argc, argv, &o);
    if (rc < 0)
        return cli_help("spaces", stdout);
    if (rc != CLI_OK)
        return rc;
    if (optind >= argc)
        return cli_usage_error("spaces", "which one: list, info, create, delete, duplicate, "
                                         "rename, visibility or source?");
    const char *verb = argv[optind];
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (strcmp(verbs[i].name, verb) != 0)
            continue;
        cli_client c;
        rc = cli_client_open(&c);
        if (rc == CLI_OK)
            rc = verbs[i].run(&c, &o, argc - optind - 1, argv + optind + 1);
        cli_client_close(&c);
        return rc;
    }
    return cli_usage_error("spaces", "unknown subcommand '%s'", verb);
}
