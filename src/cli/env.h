/* env: hangar secrets and hangar variables, a space's environment. */
#ifndef HANGAR_CLI_ENV_H
#define HANGAR_CLI_ENV_H

int cli_secrets_main(int argc, char **argv);
int cli_variables_main(int argc, char **argv);

#endif
