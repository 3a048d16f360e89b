/* logs: hangar logs, a space's build or run log read from the SSE endpoint. */
#ifndef HANGAR_CLI_LOGS_H
#define HANGAR_CLI_LOGS_H

int cli_logs_main(int argc, char **argv);

#endif
