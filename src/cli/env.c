#include "cli/env.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"

/* Larger than the server takes, so that its message explains the limit. */
#define ENV_VALUE_READ_MAX (1024 * 1024)

typedef struct env_kind {
    const char *command; /* "secrets" or "variables" */
    const char *noun;    /* "secret" or "variable" */
    bool secret;         /* values are never shown, and read without echo */
} env_kind;

static const env_kind SECRETS = {"secrets", "secret", true};
static const env_kind VARIABLES = {"variables", "variable", false};

typedef struct env_opts {
    int json;
    const char *description;
} env_opts;

static void env_path(const char *id, const env_kind *k, char *out, size_t size)
{
    snprintf(out, size, "/api/spaces/%s/%s", id, k->command);
}

static void print_env(json_t *map, const env_kind *k)
{
    static const char *secret_titles[] = {"KEY", "DESCRIPTION", "UPDATED"};
    static const char *variable_titles[] = {"KEY", "VALUE", "DESCRIPTION", "UPDATED"};
    cli_table t;
    if (cli_table_init(&t, k->secret ? 3 : 4, k->secret ? secret_titles : variable_titles) < 0)
        return;
    const char *key;
    json_t *entry;
    json_object_foreach(map, key, entry)
    {
        char ago[64];
        cli_format_ago(cli_json_str(entry, "updatedAt"), ago, sizeof ago);
        const char *desc = cli_json_str(entry, "description");
        const char *secret_row[] = {key, desc, ago};
        const char *variable_row[] = {key, cli_json_str(entry, "value"), desc, ago};
        cli_table_add(&t, k->secret ? secret_row : variable_row);
    }
    if (json_object_size(map) == 0)
        fprintf(stderr, "no %s (add one with hangar %s SPACE set KEY)\n", k->command, k->command);
    else
        cli_table_print(&t, stdout);
    cli_table_free(&t);
}

static int env_list(cli_client *c, const char *id, const env_kind *k, const env_opts *o, int argc,
                    char **argv)
{
    char path[CLI_SPACE_ID_MAX + 64];
    if (argc != 0)
        return cli_usage_error(k->command, "list takes no arguments");
    env_path(id, k, path, sizeof path);
    json_t *map = NULL;
    int rc = cli_call(c, "GET", path, NULL, id, &map);
    if (rc == CLI_OK && o->json)
        cli_print_json(map, stdout);
    else if (rc == CLI_OK)
        print_env(map, k);
    json_decref(map);
    return rc;
}

/* The value from the command line, or from stdin so that a secret never
 * appears in argv (process listings) or shell history. */
static char *env_value(const env_kind *k, const char *key, int argc, char **argv)
{
    char prompt[300];
    if (argc == 2)
        return strdup(argv[1]);
    snprintf(prompt, sizeof prompt, "Value of %s %s: ", k->noun, key);
    return cli_read_secret(prompt, ENV_VALUE_READ_MAX);
}

static int env_set(cli_client *c, const char *id, const env_kind *k, const env_opts *o, int argc,
                   char **argv)
{
    char path[CLI_SPACE_ID_MAX + 64];
    if (argc < 1 || argc > 2)
        return cli_usage_error(k->command, "set takes KEY and an optional VALUE");
    char *value = env_value(k, argv[0], argc, argv);
    if (!value)
        return CLI_FAIL;
    json_t *body = json_pack("{s:s, s:s}", "key", argv[0], "value", value);
    if (o->description)
        json_object_set_new(body, "description", json_string(o->description));
    env_path(id, k, path, sizeof path);
    int rc = body ? cli_call(c, "POST", path, body, id, NULL) : CLI_FAIL;
    if (!body)
        fprintf(stderr, "hangar: the value of %s is not UTF-8 text\n", argv[0]);
    if (rc == CLI_OK)
        printf("Set %s %s on %s; the space restarts to use it\n", k->noun, argv[0], id);
    json_decref(body);
    sodium_memzero(value, strlen(value));
    free(value);
    return rc;
}

static int env_rm(cli_client *c, const char *id, const env_kind *k, const env_opts *o, int argc,
                  char **argv)
{
    char path[CLI_SPACE_ID_MAX + 64];
    if (argc != 1)
        return cli_usage_error(k->command, "rm takes one KEY");
    env_path(id, k, path, sizeof path);
    /* The API deletes a missing key silently; a typo deserves a word. */
    json_t *map = NULL;
    int rc = cli_call(c, "GET", path, NULL, id, &map);
    bool known = json_object_get(map, argv[0]) != NULL;
    json_decref(map);
    if (rc != CLI_OK)
        return rc;
    if (!known) {
        fprintf(stderr, "hangar: %s has no %s %s\n  hangar %s %s list shows them\n", id, k->noun,
                argv[0], k->command, id);
        return CLI_NOTFOUND;
    }
    json_t *body = json_pack("{s:s}", "key", argv[0]);
    rc = cli_call(c, "DELETE", path, body, id, NULL);
    if (rc == CLI_OK)
        printf("Removed %s %s from %s\n", k->noun, argv[0], id);
    json_decref(body);
    return rc;
}

typedef int (*env_verb)(cli_client *c, const char *id, const env_kind *k, const env_opts *o,
                        int argc, char **argv);

static env_verb find_verb(const char *name)
{
    if (!strcmp(name, "list") || !strcmp(name, "ls"))
        return env_list;
    if (!strcmp(name, "set") || !strcmp(name, "add"))
        return env_set;
    if (!strcmp(name, "rm") || !strcmp(name, "delete"))
        return env_rm;
    return NULL;
}

static int parse_opts(int argc, char **argv, const env_kind *k, env_opts *o)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"description", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 0;
    while ((opt = cli_getopt(argc, argv, opts, k->command)) != -1) {
        if (opt == 'h')
            return -1;
        if (opt == 'j')
            o->json = 1;
        else if (opt == 'd')
            o->description = optarg;
        else
            return CLI_USAGE;
    }
    return CLI_OK;
}

static int env_main(int argc, char **argv, const env_kind *k)
{
    env_opts o = {0};
    int rc = parse_opts(argc, argv, k, &o);
    if (rc < 0)
        return cli_help(k->command, stdout);
    if (rc != CLI_OK)
        return rc;
    if (argc - optind < 2)
        return cli_usage_error(k->command, "takes SPACE and list, set or rm");
    /* "secrets SPACE list" as documented; "secrets list SPACE" too. */
    int space_at = optind, verb_at = optind + 1;
    if (find_verb(argv[optind]) && !find_verb(argv[optind + 1])) {
        space_at = optind + 1;
        verb_at = optind;
    }
    env_verb verb = find_verb(argv[verb_at]);
    if (!verb)
        return cli_usage_error(k->command, "unknown subcommand '%s'", argv[verb_at]);
    char id[CLI_SPACE_ID_MAX];
    cli_client c;
    rc = cli_client_open(&c);
    if (rc == CLI_OK)
        rc = cli_space_id(&c, argv[space_at], id);
    if (rc == CLI_OK)
        rc = verb(&c, id, k, &o, argc - optind - 2, argv + optind + 2);
    cli_client_close(&c);
    return rc;
}

int cli_secrets_main(int argc, char **argv)
{
    return env_main(argc, argv, &SECRETS);
}

int cli_variables_main(int argc, char **argv)
{
    return env_main(argc, argv, &VARIABLES);
}
