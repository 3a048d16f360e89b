#include "lib/lines.h"

#include <string.h>

void lines_feed(lines_buf *lb, const char *data, size_t n, lines_emit_fn emit, void *ctx)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        while (take > 0) {
            size_t room = lb->cap - lb->len;
            size_t chunk = take < room ? take : room;
            memcpy(lb->data + lb->len, data, chunk);
            lb->len += chunk;
            data += chunk;
            n -= chunk;
            take -= chunk;
            if (lb->len == lb->cap) { /* an over-long line goes out in pieces */
                emit(ctx, lb->data, lb->len);
                lb->len = 0;
            }
        }
        if (nl) {
            emit(ctx, lb->data, lb->len);
            lb->len = 0;
            data++;
            n--;
        }
    }
}

void lines_flush(lines_buf *lb, lines_emit_fn emit, void *ctx)
{
    if (lb->len > 0)
        emit(ctx, lb->data, lb->len);
    lb->len = 0;
}
