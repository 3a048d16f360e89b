/* auth: access tokens and who is calling.
 *
 * Tokens look like HF's ("hf_" and 34 letters) so the HF clients accept them.
 * Only a BLAKE2b-256 digest is stored: tokens are long random strings, so a
 * fast hash is enough and a stolen database reveals no usable token. */
#ifndef HANGAR_AUTH_H
#define HANGAR_AUTH_H

#include <stdbool.h>

#include "http/http.h"
#include "store/store.h"

#define AUTH_TOKEN_LEN 37 /* "hf_" + 34 */
#define AUTH_HASH_LEN 64

typedef struct auth_identity {
    bool authenticated;
    store_user user;
    store_token token;
    unsigned retry_after_s; /* with AUTH_THROTTLED: when to try again */
} auth_identity;

typedef enum {
    AUTH_ANONYMOUS = 0, /* no credentials sent */
    AUTH_OK = 1,        /* a valid token */
    AUTH_INVALID = -1,  /* credentials sent but not valid */
    AUTH_FAILED = -2,   /* the store failed */
    AUTH_THROTTLED = -3 /* too many failures from this address lately (auth/throttle) */
} auth_result;

int auth_token_generate(char out[AUTH_TOKEN_LEN + 1]);
void auth_token_hash(const char *token, char out[AUTH_HASH_LEN + 1]);
/* Extracts the token from "Bearer T" or "Basic base64(user:T)"; NULL if none.
 * The result is a new string. */
char *auth_token_from_header(const char *authorization);
/* Looks token up for a client at address remote, unless that address has
 * failed too often lately (AUTH_THROTTLED, nothing looked up); an invalid
 * token counts as a failure of the address. */
auth_result auth_check_from(store *st, const char *remote, const char *token, auth_identity *out);
/* Identifies the caller from the Authorization header (auth_check_from). */
auth_result auth_identify(store *st, const http_request *req, auth_identity *out);
/* Looks a raw token up. */
auth_result auth_check_token(store *st, const char *token, auth_identity *out);
/* What a store lookup of credentials (a token's or a session's hash, which
 * filled out) means: AUTH_OK (out marked authenticated), AUTH_INVALID when
 * nothing matched, AUTH_FAILED when the store failed. */
auth_result auth_from_lookup(int store_rc, auth_identity *out);
bool auth_can_write(const auth_identity *id);

/* Creates a token for user and prints nothing; the plain token goes to out. */
int auth_issue_token(store *st, int64_t user_id, const char *role, const char *display_name,
                     char out[AUTH_TOKEN_LEN + 1]);
/* Makes sure user "admin" exists and holds token (HANGAR_ADMIN_TOKEN). */
int auth_ensure_admin_token(store *st, const char *token);

#endif
