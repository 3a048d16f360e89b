/* files: file downloads outside /api: /spaces/<owner>/<name>/resolve/<rev>/<path>
 * (and /raw/), plus the revision and path handling the read API shares. */
#ifndef HANGAR_API_FILES_H
#define HANGAR_API_FILES_H

#include <stdbool.h>

#include "http/http.h"

/* Takes the request when it is a resolve/raw download; false otherwise. */
bool files_route(http_request *req);

/* Splits the raw request path after its first skip segments into a revision
 * (the next segment) and a file path (the rest, "" when none), each
 * percent-decoded on its own: clients send the revision quoted with its '/'
 * ("refs%2Fpr%2F1"), so decoding the whole rest first would lose where it
 * ends. Returns 0 (caller frees both), or -1 for a bad escape, a NUL, or a
 * control character in the revision (no git ref has one). */
int files_split_rev(const char *raw_path, int skip, char **rev, char **file);

/* Resolves rev in the repository of a loaded space into sha. An empty
 * repository's main (or HEAD) resolves to "". Otherwise answers 404
 * RevisionNotFound or 500 and returns -1. */
int files_resolve_rev(http_request *req, const char *repo, const char *rev, char sha[41]);

#endif
