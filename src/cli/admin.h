/* admin: commands that work on a data directory directly (no server needed):
 * `hangar user add` and `hangar token create`. */
#ifndef HANGAR_ADMIN_H
#define HANGAR_ADMIN_H

int admin_user_main(int argc, char **argv);
int admin_token_main(int argc, char **argv);

#endif
