/* mime: the Content-Type of a file from its extension. */
#ifndef HANGAR_MIME_H
#define HANGAR_MIME_H

/* The type for path's extension (case-insensitive), application/octet-stream
 * when unknown. Text types carry charset=utf-8. */
const char *mime_type(const char *path);

#endif
