/* Account endpoints: health and whoami. */
#include <stdio.h>

#include "api/api.h"
#include "lib/util.h"

void api_health(http_request *req)
{
    api_json(req, 200, json_pack("{s:s, s:s}", "status", "ok", "version", HANGAR_VERSION));
}

/* The shape huggingface_hub and @huggingface/hub read from whoami-v2. */
void api_whoami(http_request *req)
{
    auth_identity id;
    if (!api_identify(req, &id, true))
        return;
    char created[40];
    util_iso8601_ms(id.token.created_ms, created, sizeof created);
    char user_id[32];
    snprintf(user_id, sizeof user_id, "%024llx", (unsigned long long)id.user.id);
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:s, s:n, s:b, s:b, s:b, s:[], s:{s:s, s:{s:s, s:s, s:s}}}",
                  "type", "user", "id", user_id, "name", id.user.name, "fullname", id.user.fullname,
                  "email", "emailVerified", 0, "isPro", 0, "canPay", 0, "orgs", "auth", "type",
                  "access_token", "accessToken", "displayName", id.token.display_name, "role",
                  id.token.role, "createdAt", created);
    if (body && id.user.admin)
        json_object_set_new(body, "isAdmin", json_true());
    api_json(req, 200, body);
}
