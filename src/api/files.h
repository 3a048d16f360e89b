/* files: file downloads outside /api: /spaces/<owner>/<name>/resolve/<rev>/<path>. */
#ifndef HANGAR_API_FILES_H
#define HANGAR_API_FILES_H

#include <stdbool.h>

#include "http/http.h"

/* Takes the request when it is a resolve/raw download; false otherwise. */
bool files_route(http_request *req);

#endif
