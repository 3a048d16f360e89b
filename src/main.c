/* hangar: one binary, the daemon (`hangar serve`) and the commands around it. */
#include <stdio.h>
#include <string.h>

#include "app/serve.h"
#include "cli/admin.h"
#include "cli/cache.h"
#include "cli/cli.h"
#include "git/scan.h"
#include "runtime/sandbox.h"

static void usage(FILE *out)
{
    fputs("hangar: a self-hosted Hugging Face Spaces\n"
          "\n"
          "usage: hangar COMMAND [options]\n"
          "\n"
          "server commands:\n"
          "  serve                     run the daemon (see: hangar help serve)\n"
          "  user add NAME [--admin]   create a user on the data directory, print its token\n"
          "  token create USER         print a new access token [--role read|write] [--name N]\n"
          "  lfs gc                    remove LFS objects no space references [--grace S]\n"
          "  cache add|ls|rm           the shared model cache (see: hangar cache --help)\n"
          "  version                   print the version\n"
          "  help [COMMAND]            this help, or a command's\n"
          "\n"
          "user, token, lfs and cache work on the data directory given by --data DIR,\n"
          "$HANGAR_DATA or ./data, and may run while the daemon does.\n"
          "\n"
          "client commands (talk to a server over its API; start with hangar login):\n",
          out);
    cli_help_commands(out);
    fputc('\n', out);
    cli_help_environment(out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, SANDBOX_HELPER_COMMAND) == 0) /* internal: the sandbox helper */
        return sandbox_exec_main(argc - 1, argv + 1);
    if (strcmp(cmd, SCAN_HOOK_COMMAND) == 0) /* internal: git's post-receive hook */
        return scan_hook_main();
    if (strcmp(cmd, "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "user") == 0)
        return admin_user_main(argc - 1, argv + 1);
    if (strcmp(cmd, "token") == 0)
        return admin_token_main(argc - 1, argv + 1);
    if (strcmp(cmd, "lfs") == 0)
        return admin_lfs_main(argc - 1, argv + 1);
    if (strcmp(cmd, "cache") == 0)
        return cache_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("hangar %s\n", HANGAR_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        if (argc > 2 && strcmp(argv[2], "serve") == 0) {
            serve_usage();
            return 0;
        }
        if (argc > 2 && cli_help(argv[2], stdout) == 0)
            return 0;
        usage(stdout);
        return 0;
    }
    int rc = cli_main(argc - 1, argv + 1);
    if (rc >= 0)
        return rc;
    fprintf(stderr, "hangar: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
