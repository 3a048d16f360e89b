/* buf: a growable byte buffer, always NUL-terminated for convenience. */
#ifndef HANGAR_BUF_H
#define HANGAR_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf;

void buf_init(buf *b);
void buf_free(buf *b);
void buf_reset(buf *b);
/* All appenders return 0, or -1 when memory runs out (the buffer is unchanged). */
int buf_reserve(buf *b, size_t extra);
int buf_append(buf *b, const void *data, size_t len);
int buf_puts(buf *b, const char *s);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* v in decimal, and in lower-case hex padded with zeros to at least width
 * digits: what a request's path formats, without printf's cost. */
int buf_put_u64(buf *b, uint64_t v);
int buf_put_hex(buf *b, uint64_t v, int width);
int buf_vprintf(buf *b, const char *fmt, va_list ap);
/* Removes the first n bytes. */
void buf_consume(buf *b, size_t n);
/* Hands the storage to the caller (who frees it) and resets the buffer. */
char *buf_detach(buf *b);

#endif
