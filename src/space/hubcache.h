/* hubcache: the shared model cache, DATA/cache/hub, in huggingface_hub's
 * HF_HUB_CACHE layout:
 *
 *   models--OWNER--NAME/blobs/<sha256>                 the files' bytes (0644)
 *   models--OWNER--NAME/snapshots/<commit>/<path>      relative symlinks to blobs
 *   models--OWNER--NAME/refs/<revision>                the commit of a revision
 *
 * (datasets--... and spaces--... for "datasets/OWNER/NAME" and
 * "spaces/OWNER/NAME"). Every space sees it read-only at RUNTIME_HUB_CACHE
 * with HF_HUB_CACHE pointing there, so hf_hub_download and snapshot_download
 * find files without a copy. It is filled by `hangar cache add` (local files,
 * or a hub endpoint) and by preload_from_hub at build time (build/preload).
 *
 * Writers never change a file in place: a blob is written under a temporary
 * name and renamed once complete, links and refs are replaced by rename, so
 * readers (apps, a second writer) only ever see whole files. All calls block
 * (file copies, HTTP with libcurl): the daemon runs them on the thread pool. */
#ifndef HANGAR_HUBCACHE_H
#define HANGAR_HUBCACHE_H

#include <stdbool.h>
#include <stddef.h>

#define HUBCACHE_REPO_MAX 256

typedef struct hubcache_repo {
    char id[HUBCACHE_REPO_MAX];     /* OWNER/NAME (or NAME) */
    char folder[HUBCACHE_REPO_MAX]; /* models--OWNER--NAME */
    const char *api;                /* "models", "datasets", "spaces": /api/<api>/<id> */
    const char *url_prefix;         /* "", "datasets/", "spaces/": /<prefix><id>/resolve */
} hubcache_repo;

/* DATA/cache/hub */
void hubcache_dir(const char *data_dir, char *out, size_t size);
/* Parses "OWNER/NAME", "NAME", "datasets/OWNER/NAME" or "spaces/OWNER/NAME";
 * 0, or -1 with a reason in err. */
int hubcache_parse(const char *text, hubcache_repo *repo, char *err, size_t errsize);

/* Adds local file src as path (a relative path in the repository) of repo at
 * revision (a branch name, or a 40-hex commit). A branch already in the cache
 * keeps its commit; a new one gets a random commit id. 0 or -1 (err). */
int hubcache_add_file(const char *cache, const hubcache_repo *repo, const char *revision,
                      const char *src, const char *path, char *err, size_t errsize);
/* Fetches files (NULL-terminated, or NULL: every file) of repo at revision
 * from a hub at endpoint (HF's /api/<api>/<id>/revision/<rev> and resolve
 * URLs; token may be NULL). Files already cached are not fetched again.
 * 0 or -1 (err). */
int hubcache_fetch(const char *cache, const char *endpoint, const char *token,
                   const hubcache_repo *repo, const char *revision, const char *const *files,
                   char *err, size_t errsize);
/* Whether repo at revision is cached with these files (NULL: a snapshot). */
bool hubcache_has(const char *cache, const hubcache_repo *repo, const char *revision,
                  const char *const *files);
/* Removes repo from the cache. 0, or -1 (err; ENOENT when it was not there). */
int hubcache_remove(const char *cache, const hubcache_repo *repo, char *err, size_t errsize);
/* Calls fn for each cached repository with its revisions ("main=abc123 ...")
 * and the bytes of its blobs. */
int hubcache_list(const char *cache,
                  void (*fn)(const char *repo, const char *refs, unsigned long long bytes,
                             void *arg),
                  void *arg);

#endif
