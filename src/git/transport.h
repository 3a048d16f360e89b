/* transport: git smart HTTP at /spaces/<owner>/<name>[.git]/... */
#ifndef HANGAR_TRANSPORT_H
#define HANGAR_TRANSPORT_H

#include <stdbool.h>

#include "app/app.h"
#include "http/http.h"

/* Writes the post-receive hook that scans pushes for credentials (git/scan)
 * into DATA/hooks; 0, or -1 (logged) when pushes will run unscanned. */
int transport_init(app *a);

/* Takes the request when it is a git smart HTTP request; false otherwise. */
bool transport_route(http_request *req);

#endif
