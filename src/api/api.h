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
#include "router/router.h"
#include "space/space.h"

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

typedef enum { API_READ, API_WRITE } api_access;

/* Loads space owner/name for the caller with the access needed. Answers the
 * request and returns false when it is not found, not visible (anonymous: 401
 * with WWW-Authenticate so git prompts; others: 404 RepoNotFound) or not
 * writable (403). */
bool api_space_load(http_request *req, const char *owner, const char *name, api_access need,
                    auth_identity *id, space *sp);
/* DATA/repos/<owner>/<name>.git of a loaded space. */
void api_space_repo_path(http_request *req, const space *sp, char *out, size_t size);
/* SpaceInfo JSON at commit sha ("" for an empty repository); full adds
 * cardData and siblings. */
json_t *api_space_json(http_request *req, const space *sp, const char *sha, bool full);

/* Creates space owner_name/name for the caller (a new repository, or a copy
 * of the bare repository copy_from). Answers and returns false on error. */
bool api_space_new(http_request *req, const auth_identity *id, const char *owner_name,
                   const char *name, const char *sdk, bool is_private, const char *copy_from,
                   space *out);
struct ops_error;
/* Answers a failed ops_* call (api/ops.h) as JSON; a create that found the
 * space already there answers 409 with its url (sp), as HF does. */
void api_ops_error(http_request *req, const struct ops_error *err, const space *sp);
/* Applies secrets, variables, hardware and sleepTimeSeconds from a create or
 * duplicate body. Answers and returns false on bad input. */
bool api_space_apply_options(http_request *req, space *sp, json_t *body);
/* Stores a secret (sealed) or a variable; answers and returns false on bad input. */
bool api_env_put(http_request *req, const space *sp, bool secret, const char *key,
                 const char *value, const char *description);

/* Handlers. */
void api_health(http_request *req);
void api_whoami(http_request *req);

/* Route tables of the API, one per resource file. */
extern const route api_space_routes[];
extern const size_t api_space_routes_count;
extern const route api_runtime_routes[];
extern const size_t api_runtime_routes_count;
extern const route api_env_routes[];
extern const size_t api_env_routes_count;
extern const route api_operate_routes[];
extern const size_t api_operate_routes_count;
extern const route api_upload_routes[];
extern const size_t api_upload_routes_count;
extern const route api_source_routes[];
extern const size_t api_source_routes_count;

#endif
