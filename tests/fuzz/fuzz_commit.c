/* libFuzzer target for the NDJSON commit body (src/api/upload.c) and the
 * repository path rules (src/git/commit.c): whatever arrives, the parser
 * either refuses it with a message or yields operations whose paths are all
 * acceptable to commit_path_problem, and frees everything. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/upload.h"
#include "git/commit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The rules commit_path_problem promises, checked independently. */
static void check_path(const char *path, size_t len, bool folder)
{
    bool ok = commit_path_valid(path, len, folder);
    if (ok != (commit_path_problem(path, len, folder) == NULL))
        abort();
    if (!ok)
        return;
    if (len == 0 || len > COMMIT_PATH_MAX || path[0] == '/' || memchr(path, '\\', len) ||
        memchr(path, '\0', len))
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)path[i] < 0x20)
            abort();
    /* no "." or ".." component */
    const char *p = path, *end = path + len;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.') ||
            (n == 0 && slash && !(folder && slash == end - 1)))
            abort();
        if (n == 4 && strncasecmp(p, ".git", 4) == 0)
            abort();
        p += n + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    commit_body cb;
    if (!text)
        return 0;
    memcpy(text, data, size);

    /* the raw bytes as one path, both ways */
    check_path(text, size, false);
    check_path(text, size, true);

    upload_body_init(&cb);
    cb.data_dir = "/nonexistent/hangar-fuzz"; /* no LFS object is ever stored */
    if (upload_parse_commit_body(&cb, text, size) == 0) {
        if (!cb.header)
            abort();
        for (size_t i = 0; i < cb.batch.count; i++) {
            const commit_op *op = &cb.batch.ops[i];
            check_path(op->path, strlen(op->path), op->kind == COMMIT_OP_DELETE_FOLDER);
            if (op->len && !op->data)
                abort();
        }
    } else if (!cb.err[0] || !memchr(cb.err, '\0', sizeof cb.err)) {
        abort(); /* a refusal always says why */
    }
    upload_body_free(&cb);
    free(text);
    return 0;
}
