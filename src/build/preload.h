/* preload: a space's preload_from_hub entries, made present in the shared
 * model cache (space/hubcache.h) before the space starts.
 *
 * Each entry is HF's "repo_id", "repo_id file1,file2" or "repo_id files
 * revision" (revision defaults to main). An entry already in the cache is
 * satisfied without the network; any other is fetched from the hub endpoint
 * (`hangar serve --hub-endpoint`). Without an endpoint, or when the fetch
 * fails, the build fails naming the entry. Blocking: the lifecycle runs it on
 * libuv's thread pool. */
#ifndef HANGAR_PRELOAD_H
#define HANGAR_PRELOAD_H

#include <stddef.h>

#include "space/config.h"

/* Satisfies every entry of list; 0, or -1 with a message naming the entry in
 * err. endpoint is "" when there is none. Lines for the build log (one per
 * entry, '\n'-separated) go to report. */
int preload_run(const char *cache, const char *endpoint, const config_list *list, char *report,
                size_t reportsize, char *err, size_t errsize);

#endif
