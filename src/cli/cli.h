/* cli: the `hangar` client commands (login, spaces, upload, logs, ...): their
 * dispatch, their help, and the argument handling they share. Each command
 * lives in its own module (cli/account.c, cli/spaces.c, ...) and returns one of
 * the exit statuses of cli/client.h. */
#ifndef HANGAR_CLI_H
#define HANGAR_CLI_H

#include <getopt.h>
#include <stdio.h>

/* Runs the client command named argv[0]; returns its exit status, or -1 when
 * argv[0] names no client command. */
int cli_main(int argc, char **argv);

/* The client part of `hangar help`: commands, environment, exit statuses. */
void cli_help_commands(FILE *out);
void cli_help_environment(FILE *out);
/* `hangar help COMMAND`: 0, or -1 when COMMAND is not a client command. */
int cli_help(const char *command, FILE *out);

/* Reports a usage error of command cmd with its synopsis; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long with the client's messages: the option, -1 at the end, or '?'
 * once an unknown option or a missing argument has been reported. Starts over
 * at argv[1] when optind is reset to 0 by the caller (as each command does). */
int cli_getopt(int argc, char **argv, const struct option *opts, const char *cmd);

/* Reads a secret or a value: from the terminal without echo after prompt, or
 * all of stdin when it is not a terminal (one trailing newline dropped).
 * Returns a malloc'd string, or NULL after reporting. */
char *cli_read_secret(const char *prompt, size_t max);

#endif
