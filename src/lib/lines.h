/* lines: splits a child's output stream into lines.
 *
 * Bytes go in as they arrive from a pipe; each complete line (without its
 * '\n') goes to emit. A line longer than the buffer goes out in pieces of the
 * buffer's size, so a program that never prints a newline cannot grow memory. */
#ifndef HANGAR_LINES_H
#define HANGAR_LINES_H

#include <stddef.h>

typedef struct lines_buf {
    char *data;
    size_t len;
    size_t cap;
} lines_buf;

typedef void (*lines_emit_fn)(void *ctx, const char *line, size_t len);

void lines_feed(lines_buf *lb, const char *data, size_t n, lines_emit_fn emit, void *ctx);
/* Emits what is left of a last line without a newline (at end of stream). */
void lines_flush(lines_buf *lb, lines_emit_fn emit, void *ctx);

#endif
