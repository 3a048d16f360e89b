/* libFuzzer target for names and paths from URLs and Host headers: space ids
 * and names (src/space/space.c), the subdomain a space is served at, route
 * patterns and their percent-decoded captures (src/router/router.c), the
 * revision/file split of resolve and commit URLs (src/api/files.c) and query
 * parameters (src/http/http.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/files.h"
#include "http/http.h"
#include "router/router.h"
#include "space/space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const patterns[] = {
    "/api/spaces/:owner/:name",
    "/api/spaces/:owner/:name/resolve/*",
    "/spaces/:owner/:name/*",
    "/:a/:b/:c/:d/:e/:f/:g/:h/:i",
    "/",
};

static void check_label(const char *label)
{
    size_t n = strlen(label);
    if (n == 0 || n > SPACE_SUBDOMAIN_MAX || label[0] == '-')
        abort();
    for (size_t i = 0; i < n; i++)
        if (!((label[i] >= 'a' && label[i] <= 'z') || (label[i] >= '0' && label[i] <= '9') ||
              label[i] == '-'))
            abort();
}

static void check_id(const char *id)
{
    char owner[SPACE_NAME_MAX + 1], name[SPACE_NAME_MAX + 1], label[SPACE_SUBDOMAIN_MAX + 1];
    if (!space_id_split(id, owner, name))
        return;
    if (!space_name_valid(owner) || !space_name_valid(name) || strchr(owner, '/'))
        abort();
    space_subdomain(owner, name, label);
    check_label(label);
}

static void check_routes(const char *path)
{
    http_request req;
    memset(&req, 0, sizeof req);
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        router_match(patterns[i], path, &req);
        if (req.nparams < 0 || req.nparams > 8)
            abort();
        for (int j = 0; j < req.nparams; j++)
            if (!req.params[j])
                abort();
    }
    for (int j = 0; j < req.nparams; j++)
        free(req.params[j]);
    req.query = (char *)path;
    free(http_query_get(&req, "q"));
    free(http_query_get(&req, ""));
}

static void check_split(const char *path)
{
    char *rev, *file;
    for (int skip = 0; skip < 7; skip += 3) {
        if (files_split_rev(path, skip, &rev, &file) < 0) {
            if (rev || file)
                abort();
            continue;
        }
        for (const char *p = rev; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort();
        free(rev);
        free(file);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    space_name_valid(text);
    space_sdk_valid(text);
    check_id(text);
    check_routes(text);
    check_split(text);
    /* any two names, unvalidated, still give a bounded label */
    char *nul = memchr(text, '\n', size);
    if (nul) {
        char label[SPACE_SUBDOMAIN_MAX + 1];
        *nul = '\0';
        space_subdomain(text, nul + 1, label);
        if (strlen(label) > SPACE_SUBDOMAIN_MAX)
            abort();
    }
    free(text);
    return 0;
}
