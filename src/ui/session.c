#include "ui/session.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* The live session with this digest (of its id, or as a pass names it). */
static auth_result session_by_digest(store *st, const char *digest, auth_identity *out)
{
    return auth_from_lookup(store_session_by_hash(st, digest, &out->token, &out->user), out);
}

auth_result session_identify(store *st, const http_request *req, auth_identity *out)
{
    char cookie[SESSION_ID_LEN + 1], hash[AUTH_HASH_LEN + 1];
    memset(out, 0, sizeof *out);
    if (!session_cookie(req, cookie))
        return AUTH_ANONYMOUS;
    id_hash(cookie, hash);
    sodium_memzero(cookie, sizeof cookie);
    return session_by_digest(st, hash, out);
}

static bool ours(const char *p, size_t len)
{
    static const char *const names[] = {SESSION_COOKIE "=", SESSION_LOGIN_COOKIE "=",
                                        SESSION_APP_COOKIE "="};
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

/* ---- app passes ---------------------------------------------------------------- */

/* "v1.<kind>.<space id>.<expires, unix s>.<session digest>.<mac>" */
static unsigned char pass_key[crypto_auth_hmacsha256_KEYBYTES];
static pthread_once_t pass_key_once = PTHREAD_ONCE_INIT;

static void pass_key_init(void)
{
    crypto_auth_hmacsha256_keygen(pass_key);
}

static void pass_mac(const char *body, size_t len, char hex[2 * crypto_auth_hmacsha256_BYTES + 1])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    pthread_once(&pass_key_once, pass_key_init);
    crypto_auth_hmacsha256(mac, (const unsigned char *)body, len, pass_key);
    util_hex(mac, sizeof mac, hex);
}

static void pass_sign(char kind, int64_t space_id, long long expires, const char *digest,
                      char out[SESSION_PASS_MAX])
{
    char mac[2 * crypto_auth_hmacsha256_BYTES + 1];
    int n = snprintf(out, SESSION_PASS_MAX, "v1.%c.%lld.%lld.%s", kind, (long long)space_id,
                     expires, digest);
    pass_mac(out, (size_t)n, mac);
    snprintf(out + n, SESSION_PASS_MAX - (size_t)n, ".%s", mac);
}

void session_pass_make(const char *cookie, int64_t space_id, session_pass_kind kind,
                       char out[SESSION_PASS_MAX])
{
    char digest[AUTH_HASH_LEN + 1];
    id_hash(cookie, digest);
    long long ttl = kind == SESSION_PASS_URL ? SESSION_PASS_URL_TTL_S : SESSION_PASS_COOKIE_TTL_S;
    pass_sign((char)kind, space_id, (long long)time(NULL) + ttl, digest, out);
}

/* Checks pass (signature, kind, space, time) and copies its session digest. */
static bool pass_check(const char *pass, char kind, int64_t space_id,
                       char digest[AUTH_HASH_LEN + 1])
{
    char k = 0, mac[2 * crypto_auth_hmacsha256_BYTES + 1];
    long long sid = 0, expires = 0;
    int body = 0;
    if (!pass || strlen(pass) >= SESSION_PASS_MAX ||
        sscanf(pass, "v1.%c.%lld.%lld.%64[0-9a-f]%n", &k, &sid, &expires, digest, &body) != 4 ||
        strlen(digest) != AUTH_HASH_LEN || pass[body] != '.' ||
        strlen(pass + body + 1) != sizeof mac - 1)
        return false;
    pass_mac(pass, (size_t)body, mac);
    if (sodium_memcmp(mac, pass + body + 1, sizeof mac - 1) != 0)
        return false;
    return k == kind && sid == space_id && expires >= (long long)time(NULL);
}

auth_result session_pass_exchange(store *st, const char *pass, int64_t space_id,
                                  char out[SESSION_PASS_MAX], auth_identity *id)
{
    char digest[AUTH_HASH_LEN + 1];
    memset(id, 0, sizeof *id);
    if (!pass_check(pass, SESSION_PASS_URL, space_id, digest))
        return AUTH_INVALID;
    auth_result rc = session_by_digest(st, digest, id);
    if (rc == AUTH_OK)
        pass_sign(SESSION_PASS_COOKIE, space_id, (long long)time(NULL) + SESSION_PASS_COOKIE_TTL_S,
                  digest, out);
    return rc;
}

/* The value of the request's cookie name, when it fits in out. */
static bool cookie_get(const http_request *req, const char *name, char *out, size_t size)
{
    const char *p = http_header_get(req, "Cookie");
    const size_t nlen = strlen(name);
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=' && len - nlen - 1 < size) {
            memcpy(out, p + nlen + 1, len - nlen - 1);
            out[len - nlen - 1] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

auth_result session_pass_identify(store *st, const http_request *req, int64_t space_id,
                                  auth_identity *out)
{
    char pass[SESSION_PASS_MAX], digest[AUTH_HASH_LEN + 1];
    memset(out, 0, sizeof *out);
    if (!cookie_get(req, SESSION_APP_COOKIE, pass, sizeof pass))
        return AUTH_ANONYMOUS;
    if (!pass_check(pass, SESSION_PASS_COOKIE, space_id, digest))
        return AUTH_INVALID;
    return session_by_digest(st, digest, out);
}

void session_pass_cookie_header(char *out, size_t size, const char *pass, bool secure_context)
{
    snprintf(out, size, "%s=%s; Path=/; Max-Age=%d; HttpOnly; %s", SESSION_APP_COOKIE, pass,
             SESSION_PASS_COOKIE_TTL_S,
             secure_context ? "Secure; SameSite=None; Partitioned" : "SameSite=Lax");
}
