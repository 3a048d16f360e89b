#include "cli/account.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"

static void warn_env_token(void)
{
    if (getenv("HANGAR_TOKEN") && *getenv("HANGAR_TOKEN"))
        fprintf(stderr, "note: $HANGAR_TOKEN is set and overrides the saved token\n");
    else if (getenv("HF_TOKEN") && *getenv("HF_TOKEN"))
        fprintf(stderr, "note: $HF_TOKEN is set and overrides the saved token\n");
}

/* The token from --token, or from stdin; surrounding blanks dropped. */
static int login_token(const char *given, char out[CLI_TOKEN_MAX])
{
    char *read = NULL;
    if (!given) {
        read = cli_read_secret("Token (hangar token create USER on the server makes one): ",
                               CLI_TOKEN_MAX);
        if (!read)
            return CLI_FAIL;
        given = read;
    }
    given += strspn(given, " \t\r\n");
    size_t len = strcspn(given, " \t\r\n");
    int rc = CLI_OK;
    if (len == 0 || len >= CLI_TOKEN_MAX)
        rc = cli_usage_error("login", "no token given: pass --token TOKEN or pipe it to stdin");
    else
        snprintf(out, CLI_TOKEN_MAX, "%.*s", (int)len, given);
    if (read) {
        sodium_memzero(read, strlen(read));
        free(read);
    }
    return rc;
}

static int login_verify_and_save(cli_client *c)
{
    json_t *me = NULL;
    int rc = cli_call(c, "GET", "/api/whoami-v2", NULL, NULL, &me);
    if (rc != CLI_OK)
        return rc;
    const char *name = cli_json_str(me, "name");
    json_t *token = json_object_get(json_object_get(me, "auth"), "accessToken");
    const char *role = cli_json_str(token, "role");
    char path[CLI_URL_MAX];
    if (!name) {
        fprintf(stderr,
                "hangar: %s answered whoami-v2 without a user name: is it a hangar or "
                "Hugging Face server?\n",
                c->endpoint);
        rc = CLI_FAIL;
    } else if (cli_config_path(path, sizeof path) < 0 ||
               cli_config_write(c->endpoint, c->token) < 0) {
        fprintf(stderr, "hangar: cannot write the config file %s: %m\n", path);
        rc = CLI_FAIL;
    } else {
        printf("Logged in to %s as %s (%s token); saved in %s\n", c->endpoint, name,
               role ? role : "unknown", path);
        warn_env_token();
    }
    json_decref(me);
    return rc;
}

int cli_login_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"token", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *token_arg = NULL;
    int opt;
    optind = 0;
    while ((opt = cli_getopt(argc, argv, opts, "login")) != -1) {
        if (opt == 'h')
            return cli_help("login", stdout);
        if (opt != 't')
            return CLI_USAGE;
        token_arg = optarg;
    }
    if (argc - optind > 1)
        return cli_usage_error("login", "too many arguments");
    cli_client c;
    int rc = cli_client_open(&c);
    if (rc != CLI_OK)
        return rc;
    if (optind < argc) {
        if (cli_endpoint_normalize(argv[optind], c.endpoint, sizeof c.endpoint) < 0) {
            rc = cli_usage_error("login", "'%s' is not a server URL (http://HOST:PORT)",
                                 argv[optind]);
            goto done;
        }
        c.endpoint_from = "the command line";
    }
    rc = login_token(token_arg, c.token);
    if (rc != CLI_OK)
        goto done;
    c.token_from = "hangar login";
    rc = login_verify_and_save(&c);
done:
    cli_client_close(&c);
    return rc;
}

int cli_logout_main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return cli_help("logout", stdout);
    if (argc > 1)
        return cli_usage_error("logout", "takes no arguments");
    char path[CLI_URL_MAX] = "~/.config/hangar/config";
    cli_config_path(path, sizeof path);
    int rc = cli_config_remove();
    if (rc < 0) {
        fprintf(stderr, "hangar: cannot remove %s: %m\n", path);
        return CLI_FAIL;
    }
    printf(rc == 0 ? "Logged out: removed %s\n" : "Not logged in (there is no %s)\n", path);
    warn_env_token();
    return CLI_OK;
}

static void print_whoami(const cli_client *c, json_t *me)
{
    json_t *token = json_object_get(json_object_get(me, "auth"), "accessToken");
    const char *name = cli_json_str(me, "name");
    const char *display = cli_json_str(token, "displayName");
    const char *role = cli_json_str(token, "role");
    printf("%s%s\n", name ? name : "?",
           json_is_true(json_object_get(me, "isAdmin")) ? " (admin)" : "");
    printf("  server: %s (from %s)\n", c->endpoint, c->endpoint_from);
    printf("  token:  %s, role %s (from %s)\n", display ? display : "-", role ? role : "-",
           c->token_from);
}

int cli_whoami_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int json = 0, opt;
    optind = 0;
    while ((opt = cli_getopt(argc, argv, opts, "whoami")) != -1) {
        if (opt == 'h')
            return cli_help("whoami", stdout);
        if (opt != 'j')
            return CLI_USAGE;
        json = 1;
    }
    if (optind < argc)
        return cli_usage_error("whoami", "takes no arguments");
    cli_client c;
    int rc = cli_client_open(&c);
    json_t *me = NULL;
    if (rc == CLI_OK)
        rc = cli_call(&c, "GET", "/api/whoami-v2", NULL, NULL, &me);
    if (rc == CLI_OK && json)
        cli_print_json(me, stdout);
    else if (rc == CLI_OK)
        print_whoami(&c, me);
    json_decref(me);
    cli_client_close(&c);
    return rc;
}
