/* transport: git smart HTTP at /spaces/<owner>/<name>[.git]/... */
#ifndef HANGAR_TRANSPORT_H
#define HANGAR_TRANSPORT_H

#include <stdbool.h>

#include "http/http.h"

/* Takes the request when it is a git smart HTTP request; false otherwise. */
bool transport_route(http_request *req);

#endif
