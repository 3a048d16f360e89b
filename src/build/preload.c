#include "build/preload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "space/hubcache.h"

#define PRELOAD_FILES_MAX 64

/* Splits "repo files revision" into its fields; files become a NULL-terminated
 * list (NULL: the whole repository). text is modified. */
static int split_entry(char *text, char **repo, const char **files, char **revision)
{
    char *save = NULL;
    *repo = strtok_r(text, " ", &save);
    char *list = strtok_r(NULL, " ", &save);
    *revision = strtok_r(NULL, " ", &save);
    if (!*revision)
        *revision = "main";
    files[0] = NULL;
    if (!*repo)
        return -1;
    size_t n = 0;
    char *fsave = NULL;
    for (char *f = list ? strtok_r(list, ",", &fsave) : NULL; f; f = strtok_r(NULL, ",", &fsave)) {
        if (n == PRELOAD_FILES_MAX)
            return -1;
        files[n++] = f;
    }
    files[n] = NULL;
    return 0;
}

static int preload_entry(const char *cache, const char *endpoint, const char *entry, char *report,
                         size_t reportsize, char *err, size_t errsize)
{
    char text[2048], why[1024];
    char *repo_text, *revision;
    const char *files[PRELOAD_FILES_MAX + 1];
    hubcache_repo repo;
    size_t used = strlen(report);
    snprintf(text, sizeof text, "%s", entry);
    if (split_entry(text, &repo_text, files, &revision) < 0 ||
        hubcache_parse(repo_text, &repo, why, sizeof why) < 0) {
        snprintf(err, errsize, "preload_from_hub: bad entry '%s'", entry);
        return -1;
    }
    const char *const *want = files[0] ? files : NULL;
    if (hubcache_has(cache, &repo, revision, want)) {
        snprintf(report + used, reportsize - used, "preload_from_hub: %s: in the cache\n", entry);
        return 0;
    }
    if (!*endpoint) {
        snprintf(err, errsize,
                 "preload_from_hub: '%s' is not in the model cache and no hub endpoint is "
                 "configured (hangar serve --hub-endpoint, or hangar cache add)",
                 entry);
        return -1;
    }
    if (hubcache_fetch(cache, endpoint, NULL, &repo, revision, want, why, sizeof why) < 0) {
        snprintf(err, errsize, "preload_from_hub: cannot fetch '%s' from %s: %s", entry, endpoint,
                 why);
        return -1;
    }
    snprintf(report + used, reportsize - used, "preload_from_hub: %s: fetched from %s\n", entry,
             endpoint);
    return 0;
}

int preload_run(const char *cache, const char *endpoint, const config_list *list, char *report,
                size_t reportsize, char *err, size_t errsize)
{
    report[0] = '\0';
    for (size_t i = 0; i < list->n; i++)
        if (preload_entry(cache, endpoint, list->items[i], report, reportsize, err, errsize) < 0)
            return -1;
    return 0;
}
