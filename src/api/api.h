/* api: the HF-compatible REST API under /api.
 *
 * Every error is JSON {"error": message} with the status the HF clients expect,
 * the message repeated in X-Error-Message and, where the clients branch on it,
 * X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound). */
#ifndef HANGAR_API_H
#define HANGAR_API_H

#include <jansson.h>

#include "auth/auth.h"
#include "http/http.h"

/* Router entry for paths under /api. */
void api_route(http_request *req);

/* Responses. api_json takes ownership of body. */
void api_json(http_request *req, int status, json_t *body);
void api_error(http_request *req, int status, const char *error_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_not_found(http_request *req);
void api_method_not_allowed(http_request *req);

/* Identifies the caller; on invalid credentials answers 401 and returns false.
 * With require set, anonymous callers get 401 too. */
bool api_identify(http_request *req, auth_identity *id, bool require);
/* Parses the body as a JSON object; answers 400 and returns NULL when it is not. */
json_t *api_parse_body(http_request *req);

/* Handlers. */
void api_health(http_request *req);
void api_whoami(http_request *req);

#endif
