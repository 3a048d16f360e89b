#include "ui/session.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

/* Domain separation: the CSRF token is a keyed hash of the session id, so it
 * reveals nothing about the id and differs from the stored digest. */
static const char csrf_key[] = "hangar web ui csrf token v1";

static void id_hash(const char *cookie, char out[AUTH_HASH_LEN + 1])
{
    auth_token_hash(cookie, out);
}

int session_open(store *st, const auth_identity *id, char cookie[SESSION_ID_LEN + 1])
{
    char hash[AUTH_HASH_LEN + 1];
    session_random_id(cookie);
    id_hash(cookie, hash);
    int64_t expires = util_now_ms() + SESSION_TTL_S * 1000;
    if (store_session_create(st, hash, id->token.id, expires) != STORE_OK) {
        log_error("session", "cannot open a session for %s", id->user.name);
        sodium_memzero(cookie, SESSION_ID_LEN);
        cookie[0] = '\0';
        return -1;
    }
    log_info("session", "%s signed in to the web UI", id->user.name);
    return 0;
}

void session_close(store *st, const http_request *req)
{
    char cookie[SESSION_ID_LEN + 1], hash[AUTH_HASH_LEN + 1];
    if (!session_cookie(req, cookie))
        return;
    id_hash(cookie, hash);
    store_session_delete(st, hash);
    sodium_memzero(cookie, sizeof cookie);
}

static bool is_hex_id(const char *s, size_t len)
{
    if (len != SESSION_ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool session_cookie_value(const http_request *req, const char *name, char out[SESSION_ID_LEN + 1])
{
    const char *p = http_header_get(req, "Cookie");
    const size_t nlen = strlen(name);
    out[0] = '\0';
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=' &&
            is_hex_id(p + nlen + 1, len - nlen - 1)) {
            memcpy(out, p + nlen + 1, SESSION_ID_LEN);
            out[SESSION_ID_LEN] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

bool session_cookie(const http_request *req, char out[SESSION_ID_LEN + 1])
{
    return session_cookie_value(req, SESSION_COOKIE, out);
}

void session_random_id(char out[SESSION_ID_LEN + 1])
{
    unsigned char raw[SESSION_ID_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    util_hex(raw, sizeof raw, out);
    sodium_memzero(raw, sizeof raw);
}

auth_result session_identify(store *st, const http_request *req, auth_identity *out)
{
    char cookie[SESSION_ID_LEN + 1], hash[AUTH_HASH_LEN + 1];
    memset(out, 0, sizeof *out);
    if (!session_cookie(req, cookie))
        return AUTH_ANONYMOUS;
    id_hash(cookie, hash);
    sodium_memzero(cookie, sizeof cookie);
    int rc = store_session_by_hash(st, hash, &out->token, &out->user);
    if (rc == STORE_NOTFOUND)
        return AUTH_INVALID;
    if (rc != STORE_OK)
        return AUTH_FAILED;
    out->authenticated = true;
    return AUTH_OK;
}

static bool ours(const char *p, size_t len)
{
    static const char *const names[] = {SESSION_COOKIE "=", SESSION_LOGIN_COOKIE "="};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (len >= strlen(names[i]) && strncmp(p, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

int session_strip_cookies(const char *cookie_header, buf *out)
{
    const char *p = cookie_header;
    bool first = true;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len && !ours(p, len)) {
            if ((!first && buf_puts(out, "; ") < 0) || buf_append(out, p, len) < 0)
                return -1;
            first = false;
        }
        p = end;
    }
    return 0;
}

void session_csrf(const char *cookie, char out[SESSION_CSRF_LEN + 1])
{
    unsigned char digest[SESSION_CSRF_LEN / 2];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)cookie, strlen(cookie),
                       (const unsigned char *)csrf_key, sizeof csrf_key - 1);
    util_hex(digest, sizeof digest, out);
}

bool session_csrf_valid(const char *cookie, const char *given)
{
    char want[SESSION_CSRF_LEN + 1];
    if (!cookie || !cookie[0] || !given || strlen(given) != SESSION_CSRF_LEN)
        return false;
    session_csrf(cookie, want);
    return sodium_memcmp(want, given, SESSION_CSRF_LEN) == 0;
}

void session_cookie_header(char *out, size_t size, const char *name, const char *value,
                           long long max_age_s, bool secure, const char *domain)
{
    snprintf(out, size, "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Lax%s%s%s", name, value,
             max_age_s, secure ? "; Secure" : "", domain ? "; Domain=" : "", domain ? domain : "");
}
