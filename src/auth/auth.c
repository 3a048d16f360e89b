#include "auth/auth.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/throttle.h"
#include "lib/log.h"
#include "lib/util.h"

int auth_token_generate(char out[AUTH_TOKEN_LEN + 1])
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    memcpy(out, "hf_", 3);
    for (int i = 3; i < AUTH_TOKEN_LEN; i++)
        out[i] = letters[randombytes_uniform(sizeof letters - 1)];
    out[AUTH_TOKEN_LEN] = '\0';
    return 0;
}

void auth_token_hash(const char *token, char out[AUTH_HASH_LEN + 1])
{
    unsigned char digest[32];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)token, strlen(token), NULL, 0);
    util_hex(digest, sizeof digest, out);
}

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static char *trimmed_dup(const char *s)
{
    s = skip_spaces(s);
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return len ? strndup(s, len) : NULL;
}

char *auth_token_from_header(const char *authorization)
{
    if (!authorization)
        return NULL;
    const char *v = skip_spaces(authorization);
    if (strncasecmp(v, "bearer ", 7) == 0)
        return trimmed_dup(v + 7);
    if (strncasecmp(v, "basic ", 6) == 0) {
        const char *b64 = skip_spaces(v + 6);
        size_t b64len = strlen(b64);
        if (b64len > 4096)
            return NULL;
        unsigned char *decoded = malloc(b64len + 1);
        size_t dlen = 0;
        if (!decoded)
            return NULL;
        if (sodium_base642bin(decoded, b64len, b64, b64len, " \t", &dlen, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0) {
            free(decoded);
            return NULL;
        }
        decoded[dlen] = '\0';
        /* Any user name; the password is the token. */
        char *colon = memchr(decoded, ':', dlen);
        char *token = NULL;
        if (colon && strlen(colon + 1) == dlen - (size_t)(colon + 1 - (char *)decoded))
            token = colon[1] ? strdup(colon + 1) : NULL;
        sodium_memzero(decoded, dlen);
        free(decoded);
        return token;
    }
    return NULL;
}

auth_result auth_check_token(store *st, const char *token, auth_identity *out)
{
    memset(out, 0, sizeof *out);
    if (!token || strlen(token) > 256)
        return AUTH_INVALID;
    char hash[AUTH_HASH_LEN + 1];
    auth_token_hash(token, hash);
    return auth_from_lookup(store_token_by_hash(st, hash, &out->token, &out->user), out);
}

auth_result auth_from_lookup(int store_rc, auth_identity *out)
{
    if (store_rc == STORE_NOTFOUND)
        return AUTH_INVALID;
    if (store_rc != STORE_OK)
        return AUTH_FAILED;
    out->authenticated = true;
    return AUTH_OK;
}

auth_result auth_check_from(store *st, const char *remote, const char *token, auth_identity *out)
{
    uint64_t now = util_mono_ms();
    unsigned retry = 0;
    if (!throttle_allowed(remote, now, &retry)) {
        memset(out, 0, sizeof *out);
        out->retry_after_s = retry;
        return AUTH_THROTTLED;
    }
    auth_result rc = auth_check_token(st, token, out);
    if (rc == AUTH_INVALID) {
        throttle_failure(remote, now);
        if (!throttle_allowed(remote, now, &retry))
            log_warn("auth", "%s: too many invalid credentials; refused for %u s", remote, retry);
    }
    return rc;
}

auth_result auth_identify(store *st, const http_request *req, auth_identity *out)
{
    memset(out, 0, sizeof *out);
    const char *header = http_header_get(req, "Authorization");
    if (!header)
        return AUTH_ANONYMOUS;
    /* a header that holds no token counts as a failed attempt too */
    char *token = auth_token_from_header(header);
    auth_result rc = auth_check_from(st, req->remote, token, out);
    if (token) {
        sodium_memzero(token, strlen(token));
        free(token);
    }
    return rc;
}

bool auth_can_write(const auth_identity *id)
{
    return id->authenticated && strcmp(id->token.role, "write") == 0;
}

int auth_issue_token(store *st, int64_t user_id, const char *role, const char *display_name,
                     char out[AUTH_TOKEN_LEN + 1])
{
    char hash[AUTH_HASH_LEN + 1];
    auth_token_generate(out);
    auth_token_hash(out, hash);
    return store_token_create(st, user_id, role, display_name, hash);
}

int auth_ensure_admin_token(store *st, const char *token)
{
    if (strlen(token) < 8 || strlen(token) > 256) {
        log_error("auth", "HANGAR_ADMIN_TOKEN must be 8 to 256 characters");
        return -1;
    }
    store_user admin;
    int rc = store_user_by_name(st, "admin", &admin);
    if (rc == STORE_NOTFOUND) {
        if (store_user_create(st, "admin", true, NULL) != STORE_OK ||
            store_user_by_name(st, "admin", &admin) != STORE_OK)
            return -1;
        log_info("auth", "created user admin");
    } else if (rc != STORE_OK) {
        return -1;
    }
    char hash[AUTH_HASH_LEN + 1];
    auth_token_hash(token, hash);
    rc = store_token_create(st, admin.id, "write", "HANGAR_ADMIN_TOKEN", hash);
    if (rc == STORE_EXISTS)
        return 0; /* already there (possibly held by admin already) */
    return rc == STORE_OK ? 0 : -1;
}
