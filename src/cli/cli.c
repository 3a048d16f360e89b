#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/account.h"
#include "cli/client.h"
#include "cli/control.h"
#include "cli/env.h"
#include "cli/logs.h"
#include "cli/spaces.h"
#include "cli/upload.h"
#include "lib/buf.h"

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
    const char *synopsis;              /* the line of `hangar help` */
    const char *usage;                 /* the lines after "usage: " */
    const char *help;                  /* the rest of `hangar help COMMAND` */
} cli_command;

static const cli_command commands[] = {
    {"login", cli_login_main, "sign in to a server and save its address and token",
     "hangar login [ENDPOINT] [--token TOKEN]",
     "Checks TOKEN with the server (GET /api/whoami-v2) and saves ENDPOINT and TOKEN\n"
     "in ~/.config/hangar/config (mode 0600). Without --token the token is read from\n"
     "stdin: typed without echo on a terminal, or piped. ENDPOINT defaults to\n"
     "$HANGAR_ENDPOINT, $HF_ENDPOINT, the saved one, then " CLI_DEFAULT_ENDPOINT ".\n"
     "Make a token on the server with: hangar token create USER\n"},
    {"logout", cli_logout_main, "forget the saved endpoint and token", "hangar logout",
     "Removes ~/.config/hangar/config.\n"},
    {"whoami", cli_whoami_main, "show who the token belongs to", "hangar whoami [--json]",
     "Prints the user, the server and the token's role.\n"},
    {"spaces", cli_spaces_main, "list, show, create, delete, duplicate, rename spaces",
     "hangar spaces list [--author USER] [--search TEXT] [--limit N] [--json]\n"
     "       hangar spaces info SPACE [--json]\n"
     "       hangar spaces create SPACE [--sdk gradio|streamlit|docker|static] [--private]\n"
     "       hangar spaces delete SPACE [--yes]\n"
     "       hangar spaces duplicate FROM TO [--private|--public]\n"
     "       hangar spaces rename SPACE NEW\n"
     "       hangar spaces visibility SPACE public|private\n"
     "       hangar spaces source SPACE [URL [--branch B] [--token-stdin] [--poll SECS] | --off]",
     "SPACE is OWNER/NAME, or NAME for one of your own. create uses --sdk gradio\n"
     "unless told otherwise. delete asks for the name on a terminal; pass --yes in\n"
     "scripts. rename takes a new NAME or OWNER/NAME; the old URL stops working.\n"
     "source makes the space follow a branch of a remote repository (it then\n"
     "refuses pushes); the webhook secret is printed once; --off stops it.\n"},
    {"upload", cli_upload_main, "commit a folder to a space (skips unchanged files)",
     "hangar upload SPACE [DIR] [--message MESSAGE] [--json]",
     "Uploads every file under DIR (default: the current directory) to the space's\n"
     "main branch in one commit, which rebuilds the space. .git/ and the paths that\n"
     ".gitignore files exclude are skipped (names, globs, dir/ patterns, !negation),\n"
     "and so are files whose content the space already has. Files are streamed from\n"
     "disk. A progress bar shows on a terminal, one line a file otherwise. Remote\n"
     "files missing from DIR are kept.\n"},
    {"logs", cli_logs_main, "print a space's run or build log",
     "hangar logs SPACE [--build] [-f|--follow] [--tail N]",
     "Prints the run log (--build: the build log). Without -f it prints what is there\n"
     "and exits; with -f it keeps printing new lines until the log ends (the app stops\n"
     "or the build finishes) or you press Ctrl-C. --tail N starts with the last N\n"
     "lines.\n"},
    {"status", cli_status_main, "show a space's stage; --wait until it runs or fails",
     "hangar status SPACE [--wait] [--timeout SECONDS] [--json]",
     "Prints the stage (BUILDING, APP_STARTING, RUNNING, BUILD_ERROR, ...). With --wait\n"
     "it prints each change until RUNNING (exit 0) or an error stage (exit 1, with the\n"
     "error). Without --wait it exits 1 when the stage is an error stage.\n"},
    {"secrets", cli_secrets_main, "list, set or remove a space's secrets",
     "hangar secrets SPACE list [--json]\n"
     "       hangar secrets SPACE set KEY [VALUE] [--description TEXT]\n"
     "       hangar secrets SPACE rm KEY",
     "Secrets reach the app as environment variables; their values are never shown.\n"
     "Without VALUE, set reads it from stdin (without echo on a terminal), so it\n"
     "stays out of shell history and process listings. Changing secrets restarts\n"
     "the space.\n"},
    {"variables", cli_variables_main, "list, set or remove a space's variables",
     "hangar variables SPACE list [--json]\n"
     "       hangar variables SPACE set KEY [VALUE] [--description TEXT]\n"
     "       hangar variables SPACE rm KEY",
     "Variables reach the app as environment variables (and Docker build args).\n"
     "Without VALUE, set reads it from stdin.\n"},
    {"restart", cli_restart_main, "restart a space (--factory: rebuild from scratch)",
     "hangar restart [--factory] SPACE", "--factory rebuilds without caches.\n"},
    {"pause", cli_pause_main, "stop a space until it is restarted", "hangar pause SPACE",
     "A paused space stays stopped until hangar restart.\n"},
    {"sleep-time", cli_sleep_time_main, "set how long a space idles before it sleeps",
     "hangar sleep-time SPACE SECONDS|never",
     "A sleeping space wakes on its next visit. never keeps it running.\n"},
    {"hardware", cli_hardware_main, "list hardware flavors, or move a space to one",
     "hangar hardware SPACE [FLAVOR] [--json]",
     "Without FLAVOR, lists the flavors the server offers and marks the space's.\n"},
};
#define COMMANDS_COUNT (sizeof commands / sizeof commands[0])

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < COMMANDS_COUNT; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int cli_main(int argc, char **argv)
{
    const cli_command *cmd = find_command(argv[0]);
    if (!cmd)
        return -1;
    int rc = cmd->run(argc, argv);
    fflush(stdout);
    return rc;
}

void cli_help_commands(FILE *out)
{
    for (size_t i = 0; i < COMMANDS_COUNT; i++)
        fprintf(out, "  %-24s  %s\n", commands[i].name, commands[i].synopsis);
}

void cli_help_environment(FILE *out)
{
    fputs("environment (client commands):\n"
          "  HANGAR_ENDPOINT, HF_ENDPOINT   server URL, over the saved one\n"
          "  HANGAR_TOKEN, HF_TOKEN         access token, over the saved one\n"
          "  XDG_CONFIG_HOME                where hangar/config lives (default ~/.config)\n"
          "\n"
          "exit status: 0 success, 1 failure, 2 usage error, 3 not logged in or not\n"
          "allowed, 4 not found.\n",
          out);
}

int cli_help(const char *name, FILE *out)
{
    const cli_command *cmd = find_command(name);
    if (!cmd)
        return -1;
    fprintf(out, "hangar %s: %s\n\nusage: %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->usage,
            cmd->help);
    cli_help_environment(out);
    return 0;
}

int cli_usage_error(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hangar %s: ", name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    const cli_command *cmd = find_command(name);
    if (cmd)
        fprintf(stderr, "\nusage: %s\n(see hangar help %s)\n", cmd->usage, name);
    else
        fputc('\n', stderr);
    return CLI_USAGE;
}

int cli_getopt(int argc, char **argv, const struct option *opts, const char *cmd)
{
    /* Short options are the long ones' vals that are letters. */
    char shortopts[64] = ":";
    size_t n = 1;
    for (const struct option *o = opts; o->name && n + 3 < sizeof shortopts; o++) {
        if (o->flag || o->val <= 0 || o->val > 127 ||
            !strchr("abcdefghijklmnopqrstuvwxyzABCDE"
                    "FGHIJKLMNOPQRSTUVWXYZ",
                    o->val))
            continue;
        shortopts[n++] = (char)o->val;
        if (o->has_arg == required_argument)
            shortopts[n++] = ':';
    }
    shortopts[n] = '\0';
    opterr = 0;
    int c = getopt_long(argc, argv, shortopts, opts, NULL);
    if (c == '?') {
        cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    } else if (c == ':') {
        cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        c = '?';
    }
    return c;
}

/* ---- secrets from stdin ---------------------------------------------------------- */

static char *read_line_noecho(const char *prompt, size_t max)
{
    struct termios old, quiet;
    if (tcgetattr(STDIN_FILENO, &old) < 0)
        return NULL;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    /* Echo goes off before the prompt shows, so nothing typed after it echoes. */
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    char *line = malloc(max + 2);
    if (line && !fgets(line, (int)max + 2, stdin)) {
        free(line);
        line = NULL;
    }
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    if (line)
        line[strcspn(line, "\r\n")] = '\0';
    return line;
}

static char *read_all_stdin(size_t max)
{
    buf in;
    buf_init(&in);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        if (in.len + n > max || buf_append(&in, chunk, n) < 0) {
            buf_free(&in);
            return NULL;
        }
    }
    /* `echo value |` adds a newline that is not part of the value. */
    if (in.len && in.data[in.len - 1] == '\n')
        in.data[--in.len] = '\0';
    if (in.len && in.data[in.len - 1] == '\r')
        in.data[--in.len] = '\0';
    if (!in.data)
        buf_puts(&in, "");
    return buf_detach(&in);
}

char *cli_read_secret(const char *prompt, size_t max)
{
    char *value = isatty(STDIN_FILENO) ? read_line_noecho(prompt, max) : read_all_stdin(max);
    if (!value)
        fprintf(stderr, "hangar: could not read the value from stdin (at most %zu bytes)\n", max);
    return value;
}
