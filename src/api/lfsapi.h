/* lfsapi: the Git LFS HTTP API of a space, and the daemon's side of the
 * object store (streaming objects out, the scheduled collection).
 *
 *   POST /spaces/<o>/<n>[.git]/info/lfs/objects/batch    batch API, basic transfer
 *   PUT  .../info/lfs/objects/<oid>                       upload (streamed, verified)
 *   GET  .../info/lfs/objects/<oid>                       download (Range)
 *   POST .../info/lfs/verify                              {oid, size} is stored
 *   GET|POST .../info/lfs/locks, POST .../locks/verify    answered, no locking
 *
 * Auth is the API's: a token as Bearer or as a Basic password; download needs
 * read access to the space, upload write access. The batch answer echoes the
 * caller's Authorization in each action's header (git-lfs sends it back), and
 * signs upload URLs (HMAC with a per-process key, one hour) since
 * huggingface_hub PUTs to the href without any header, as to S3. */
#ifndef HANGAR_LFSAPI_H
#define HANGAR_LFSAPI_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "http/http.h"

/* Takes the request when its path is under .../info/lfs/; false otherwise. */
bool lfsapi_route(http_request *req);

/* Opens stored object oid for streaming; the fd, or -1 when it is missing
 * or not size bytes long (logged). */
int lfsapi_open_object(const char *data_dir, const char *oid, int64_t size);
/* Streams bytes first..last of the open fd as the body of a response whose
 * head is begun, then ends it; closes fd. Reads go through the thread pool
 * and follow the connection's backpressure: one chunk in memory at a time. */
void lfsapi_stream(http_request *req, int fd, int64_t first, int64_t last);

/* Runs the object collection on the thread pool now and every day after. */
void lfsapi_gc_schedule(uv_loop_t *loop, const char *data_dir);

#endif
