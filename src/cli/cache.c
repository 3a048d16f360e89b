#include "cli/cache.h"

#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/util.h"
#include "space/hubcache.h"

#define CACHE_USAGE                                                                                \
    "usage: hangar cache add REPO FILE|DIR... [--revision REV] [--data DIR]\n"                     \
    "       hangar cache add REPO [FILE...] --from URL [--revision REV] [--data DIR]\n"            \
    "       hangar cache ls [--data DIR]\n"                                                        \
    "       hangar cache rm REPO [--data DIR]\n"                                                   \
    "REPO is OWNER/NAME (a model), datasets/OWNER/NAME or spaces/OWNER/NAME.\n"

/* What one `cache add` of local paths needs while nftw walks a directory. */
static struct {
    const char *cache;
    const hubcache_repo *repo;
    const char *revision;
    size_t root_len; /* the directory's path length: the rest is the path in the repo */
    int files;
    int failed;
} walk;

static int add_one(const char *src, const char *path)
{
    char err[1024];
    if (hubcache_add_file(walk.cache, walk.repo, walk.revision, src, path, err, sizeof err) < 0) {
        fprintf(stderr, "hangar cache: %s\n", err);
        walk.failed++;
        return -1;
    }
    printf("%s\t%s\n", walk.repo->id, path);
    walk.files++;
    return 0;
}

static int add_entry(const char *fpath, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    /* .git and other dot directories are not part of a model's files */
    if (ftw->level > 0 && fpath[ftw->base] == '.')
        return type == FTW_D ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
    if (type != FTW_F)
        return FTW_CONTINUE;
    return add_one(fpath, fpath + walk.root_len + 1) < 0 ? FTW_STOP : FTW_CONTINUE;
}

static int add_local(char **paths, int n)
{
    for (int i = 0; i < n && !walk.failed; i++) {
        struct stat st;
        char *src = paths[i];
        size_t len = strlen(src);
        while (len > 1 && src[len - 1] == '/')
            src[--len] = '\0';
        if (stat(src, &st) < 0) {
            fprintf(stderr, "hangar cache: %s: %s\n", src, strerror(errno));
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            walk.root_len = len;
            nftw(src, add_entry, 16, FTW_PHYS | FTW_ACTIONRETVAL);
        } else {
            const char *base = strrchr(src, '/');
            add_one(src, base ? base + 1 : src);
        }
    }
    return walk.failed ? 1 : 0;
}

static void print_repo(const char *repo, const char *refs, unsigned long long bytes, void *arg)
{
    (void)arg;
    printf("%-40s %10.1f MB  %s\n", repo, (double)bytes / (1 << 20), refs);
}

int cache_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"from", required_argument, NULL, 'f'},
        {"revision", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *env_data = getenv("HANGAR_DATA");
    const char *data = env_data && *env_data ? env_data : "data";
    const char *from = NULL, *revision = "main";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'd')
            data = optarg;
        else if (c == 'f')
            from = optarg;
        else if (c == 'r')
            revision = optarg;
        else {
            fputs(CACHE_USAGE, c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    char **rest = argv + optind;
    int nrest = argc - optind;
    const char *sub = nrest > 0 ? rest[0] : "";
    bool add = strcmp(sub, "add") == 0, rm = strcmp(sub, "rm") == 0;
    if ((!add && !rm && strcmp(sub, "ls") != 0) || ((add || rm) && nrest < 2) ||
        (add && !from && nrest < 3) || (rm && nrest != 2) || (from && !add)) {
        fputs(CACHE_USAGE, stderr);
        return 2;
    }
    char cache[4200], err[1024];
    hubcache_dir(data, cache, sizeof cache);
    if (sodium_init() < 0 || util_mkdir_p(cache, 0755) < 0 || chmod(cache, 0755) < 0) {
        fprintf(stderr, "hangar cache: cannot use %s: %s\n", cache, strerror(errno));
        return 1;
    }
    if (!add && !rm)
        return hubcache_list(cache, print_repo, NULL) < 0 ? 1 : 0;
    hubcache_repo repo;
    if (hubcache_parse(rest[1], &repo, err, sizeof err) < 0) {
        fprintf(stderr, "hangar cache: %s\n", err);
        return 2;
    }
    if (rm) {
        if (hubcache_remove(cache, &repo, err, sizeof err) < 0) {
            fprintf(stderr, "hangar cache: %s\n", err);
            return 1;
        }
        return 0;
    }
    umask(022); /* spaces read the cache under their own uids */
    if (!from) {
        walk.cache = cache;
        walk.repo = &repo;
        walk.revision = revision;
        return add_local(rest + 2, nrest - 2);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *token = getenv("HF_TOKEN");
    int rc = hubcache_fetch(cache, from, token, &repo, revision,
                            nrest > 2 ? (const char *const *)rest + 2 : NULL, err, sizeof err);
    curl_global_cleanup();
    if (rc < 0) {
        fprintf(stderr, "hangar cache: %s\n", err);
        return 1;
    }
    printf("%s@%s cached from %s\n", repo.id, revision, from);
    return 0;
}
