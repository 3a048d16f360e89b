/* spaces: hangar spaces list|info|create|delete|duplicate|rename|visibility. */
#ifndef HANGAR_CLI_SPACES_H
#define HANGAR_CLI_SPACES_H

int cli_spaces_main(int argc, char **argv);

#endif
