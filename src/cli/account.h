/* account: hangar login, logout and whoami. */
#ifndef HANGAR_CLI_ACCOUNT_H
#define HANGAR_CLI_ACCOUNT_H

int cli_login_main(int argc, char **argv);
int cli_logout_main(int argc, char **argv);
int cli_whoami_main(int argc, char **argv);

#endif
