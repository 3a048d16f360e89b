/* upload: the NDJSON commit body of the HF commit API, parsed apart from the
 * request so that it can be fuzzed and tested on its own (tests/fuzz). */
#ifndef HANGAR_UPLOAD_H
#define HANGAR_UPLOAD_H

#include <jansson.h>
#include <stddef.h>

#include "git/commit.h"

typedef struct commit_body {
    const char *data_dir; /* DATA: lfsFile lines name objects stored under it */
    json_t *header;       /* the header line's value */
    commit_batch batch;
    int line;       /* line being parsed, for messages */
    char err[1200]; /* what was wrong */
} commit_body;

void upload_body_init(commit_body *cb);
void upload_body_free(commit_body *cb);
/* Parses an NDJSON commit body (a header line, then file, lfsFile, deletedFile
 * and deletedFolder operations) into cb: 0, or -1 with cb->err saying why. Every
 * path in cb->batch passed commit_path_problem. */
int upload_parse_commit_body(commit_body *cb, const char *data, size_t len);
/* Parses the "files" of a create_repo body ([{path, content, encoding}], as
 * @huggingface/hub's createRepo sends them) into cb->batch as file additions:
 * 0, or -1 with cb->err saying why. */
int upload_parse_files(commit_body *cb, json_t *files);

#endif
