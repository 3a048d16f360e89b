/* control: a space's runtime from the command line: hangar restart, pause,
 * sleep-time, hardware and status. */
#ifndef HANGAR_CLI_CONTROL_H
#define HANGAR_CLI_CONTROL_H

int cli_restart_main(int argc, char **argv);
int cli_pause_main(int argc, char **argv);
int cli_sleep_time_main(int argc, char **argv);
int cli_hardware_main(int argc, char **argv);
int cli_status_main(int argc, char **argv);

#endif
