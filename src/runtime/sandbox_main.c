/* hangar-sandbox: the sandbox helper as a program of its own (see sandbox.h).
 *
 * `hangar __sandbox` is the same helper, but the daemon's binary loads some
 * forty shared libraries (libgit2, libcurl and theirs): ~10 ms of symbol
 * lookups before main, on the path of every start and wake. This one needs
 * only libc and jansson. The command line is the same: argv[1] is
 * "__sandbox". */
#include "runtime/sandbox.h"

int main(int argc, char **argv)
{
    return sandbox_exec_main(argc - 1, argv + 1);
}
