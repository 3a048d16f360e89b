#include "cli/admin.h"

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "git/lfs.h"
#include "git/repo.h"
#include "lib/util.h"
#include "store/store.h"

static const char *default_data_dir(void)
{
    const char *env = getenv("HANGAR_DATA");
    return env && *env ? env : "data";
}

/* HF user names: letters, digits, '-' and '_', not starting with '-', 1..42 chars. */
static int valid_user_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 42 || name[0] == '-' || name[len - 1] == '-')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static int open_store(const char *dir, store **st)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "hangar: libsodium failed to initialise\n");
        return -1;
    }
    if (util_mkdir_p(dir, 0700) < 0) {
        fprintf(stderr, "hangar: cannot create data directory %s\n", dir);
        return -1;
    }
    if (store_open(dir, st) != STORE_OK) {
        fprintf(stderr, "hangar: cannot open the store in %s\n", dir);
        return -1;
    }
    return 0;
}

static int issue_and_print(store *st, const store_user *user, const char *role, const char *name)
{
    char token[AUTH_TOKEN_LEN + 1];
    if (auth_issue_token(st, user->id, role, name, token) != STORE_OK) {
        fprintf(stderr, "hangar: could not store the new token\n");
        return 1;
    }
    printf("%s\n", token);
    sodium_memzero(token, sizeof token);
    return 0;
}

int admin_user_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"admin", no_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    const char *data = default_data_dir();
    int admin = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd')
            data = optarg;
        else if (c == 'a')
            admin = 1;
        else
            goto usage;
    }
    if (argc - optind != 2 || strcmp(argv[optind], "add") != 0)
        goto usage;
    const char *name = argv[optind + 1];
    if (!valid_user_name(name)) {
        fprintf(stderr, "hangar: invalid user name '%s': use 1-42 letters, digits, '-' or '_'\n",
                name);
        return 2;
    }
    store *st;
    if (open_store(data, &st) < 0)
        return 1;
    int64_t id;
    int rc = store_user_create(st, name, admin, &id);
    int status = 1;
    if (rc == STORE_EXISTS) {
        fprintf(stderr, "hangar: user '%s' already exists\n", name);
    } else if (rc == STORE_OK) {
        store_user user;
        /* A new user gets a write token right away, printed once. */
        if (store_user_by_id(st, id, &user) == STORE_OK) {
            fprintf(stderr, "created user %s; its write token:\n", name);
            status = issue_and_print(st, &user, "write", "created with the user");
        }
    }
    store_close(st);
    return status;
usage:
    fprintf(stderr, "usage: hangar user add NAME [--admin] [--data DIR]\n");
    return 2;
}

int admin_token_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"role", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *data = default_data_dir(), *role = "write", *name = "cli";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd')
            data = optarg;
        else if (c == 'r')
            role = optarg;
        else if (c == 'n')
            name = optarg;
        else
            goto usage;
    }
    if (argc - optind != 2 || strcmp(argv[optind], "create") != 0)
        goto usage;
    if (strcmp(role, "read") != 0 && strcmp(role, "write") != 0) {
        fprintf(stderr, "hangar: --role must be read or write, not '%s'\n", role);
        return 2;
    }
    if (strlen(name) > 100) {
        fprintf(stderr, "hangar: --name is limited to 100 characters\n");
        return 2;
    }
    store *st;
    if (open_store(data, &st) < 0)
        return 1;
    store_user user;
    int status = 1;
    int rc = store_user_by_name(st, argv[optind + 1], &user);
    if (rc == STORE_NOTFOUND)
        fprintf(stderr, "hangar: no user '%s' (create it with: hangar user add %s)\n",
                argv[optind + 1], argv[optind + 1]);
    else if (rc == STORE_OK)
        status = issue_and_print(st, &user, role, name);
    store_close(st);
    return status;
usage:
    fprintf(stderr, "usage: hangar token create USER [--role read|write] [--name NAME] "
                    "[--data DIR]\n");
    return 2;
}

/* Safe while the daemon runs: objects younger than the grace period are kept,
 * whatever the walk saw, so a concurrent upload never loses its object. */
int admin_lfs_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"grace", required_argument, NULL, 'g'},
        {NULL, 0, NULL, 0},
    };
    const char *data = default_data_dir();
    long long grace = LFS_GC_GRACE_S;
    int c;
    if (argc < 2 || strcmp(argv[1], "gc") != 0)
        goto usage;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd')
            data = optarg;
        else if (c == 'g' && util_parse_int(optarg, 0, 1LL << 40, &grace) == 0)
            continue;
        else
            goto usage;
    }
    if (optind != argc)
        goto usage;
    repo_global_init();
    lfs_gc_stats stats;
    if (lfs_gc(data, grace, &stats) < 0) {
        fprintf(stderr, "hangar: lfs gc failed in %s (see the log above); nothing more removed\n",
                data);
        return 1;
    }
    printf("%ld objects referenced, %ld kept (%ld younger than %llds), %ld removed (%lld bytes)\n",
           stats.referenced, stats.kept, stats.young, grace, stats.removed,
           (long long)stats.removed_bytes);
    return 0;
usage:
    fprintf(stderr, "usage: hangar lfs gc [--data DIR] [--grace SECONDS]\n");
    return 2;
}
