/* cache: `hangar cache add|ls|rm`, the shared model cache on the data
 * directory (space/hubcache.h). Like `hangar user add` it works on DATA
 * directly and may run while the daemon does: the daemon only reads the
 * cache (and fills it for preload_from_hub through the same atomic writes). */
#ifndef HANGAR_CLI_CACHE_H
#define HANGAR_CLI_CACHE_H

int cache_main(int argc, char **argv);

#endif
