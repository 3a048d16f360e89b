/* logs: build and run logs of spaces, on disk and live.
 *
 * A log is a file of NDJSON lines in HF's event shape, {"data": line,
 * "timestamp": iso}, so replaying it to a client is a prefix away from the
 * Server-Sent Events HF clients read ("data: {...}\n\n"). While a build or an
 * app runs its log is also a live stream: subscribers get each new line as it
 * is written, and the stream ends (the server closes it) when the log closes. */
#ifndef HANGAR_LOGS_H
#define HANGAR_LOGS_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

#define LOGS_MAX_FILE_BYTES (16 * 1024 * 1024) /* past this, lines are dropped with a note */

typedef struct logs_stream logs_stream;

/* Opens (creating, or truncating when fresh) the log file at path. NULL on error. */
logs_stream *logs_open(const char *path, bool fresh);
/* Adds one line (no newline; invalid UTF-8 is replaced) to the file and subscribers. */
void logs_append(logs_stream *log, const char *line, size_t len);
void logs_appendf(logs_stream *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends every subscriber's stream and frees the log; the file stays. */
void logs_close(logs_stream *log);
const char *logs_path(const logs_stream *log);
/* Replaces every occurrence of these strings with "***" in later lines
 * (secret values). The list is copied. */
void logs_set_masks(logs_stream *log, const char *const *masks, size_t n);

/* The last n lines of a log file as text (for error messages); caller frees. */
char *logs_tail_text(const char *path, int n);

/* Answers req with the log as SSE: the file from the start (or its last tail
 * lines when tail >= 0), then, when live is not NULL, every new line until the
 * log closes or the client goes away. path NULL or missing: an empty stream. */
void logs_serve(http_request *req, const char *path, logs_stream *live, long tail);

#endif
