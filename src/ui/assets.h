/* assets: the web UI's CSS, JavaScript and icons, compiled into the binary.
 *
 * The files live in src/ui/static/; scripts/embed.sh turns them into a C file
 * at build time (the Makefile's $(BUILD)/gen/ui_assets.c), so the daemon
 * serves them under /static/ without reading anything at run time. */
#ifndef HANGAR_ASSETS_H
#define HANGAR_ASSETS_H

#include <stddef.h>

typedef struct assets_file {
    const char *name; /* file name, e.g. "hangar.css" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
    const char *etag; /* a digest of the content, for ETag and ?v= cache busting */
} assets_file;

/* The file called name, or NULL. */
const assets_file *assets_find(const char *name);

#endif
