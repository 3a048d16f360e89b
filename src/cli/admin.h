/* admin: commands that work on a data directory directly (no server needed):
 * `hangar user add`, `hangar token create` and `hangar lfs gc`. */
#ifndef HANGAR_ADMIN_H
#define HANGAR_ADMIN_H

int admin_user_main(int argc, char **argv);
int admin_token_main(int argc, char **argv);
/* hangar lfs gc [--data DIR] [--grace SECONDS]: collects unreferenced LFS objects. */
int admin_lfs_main(int argc, char **argv);

#endif
