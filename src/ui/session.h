/* session: signing in to the web UI.
 *
 * A session is opened with an access token and acts with that token's rights
 * (a read token gives a read-only session) until it expires, the user signs
 * out, or the token is revoked. The browser holds a random id in the
 * hangar_session cookie (HttpOnly, SameSite=Lax, Secure behind TLS); only its
 * BLAKE2b digest is stored, as for tokens.
 *
 * Forms that change state carry a CSRF token derived from the session id with
 * a keyed hash: a page from another origin, a space's app on a subdomain
 * included, can make the browser send the cookie but cannot read or compute
 * the token. */
#ifndef HANGAR_SESSION_H
#define HANGAR_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "http/http.h"
#include "lib/buf.h"
#include "store/store.h"

#define SESSION_COOKIE "hangar_session"
#define SESSION_APP_COOKIE "hangar_app"     /* an app pass on a private space's own address */
#define SESSION_LOGIN_COOKIE "hangar_login" /* the sign-in form's pre-session CSRF value */
#define SESSION_ID_LEN 64                   /* hex of 32 random bytes */
#define SESSION_CSRF_LEN 64                 /* hex of a 32-byte digest */
#define SESSION_TTL_S (30LL * 24 * 3600)    /* a session lasts 30 days */

/* Opens a session for the holder of the token in id; the cookie value goes
 * to cookie. 0, or -1 when the store failed. */
int session_open(store *st, const auth_identity *id, char cookie[SESSION_ID_LEN + 1]);
/* Ends the session of the request's cookie, if any. */
void session_close(store *st, const http_request *req);

/* Copies the value of the request's hangar_session cookie into out; false
 * when there is none or it is not a well-formed id. */
bool session_cookie(const http_request *req, char out[SESSION_ID_LEN + 1]);
/* The same for any cookie whose value has the form of a session id. */
bool session_cookie_value(const http_request *req, const char *name, char out[SESSION_ID_LEN + 1]);
/* A new random id (64 hex digits). */
void session_random_id(char out[SESSION_ID_LEN + 1]);
/* Identifies the caller from the session cookie: AUTH_OK (id filled),
 * AUTH_ANONYMOUS (no cookie), AUTH_INVALID (unknown or expired) or
 * AUTH_FAILED (the store failed). Used by the UI, the API's safe methods and
 * the proxy (private spaces in the UI's iframe). */
auth_result session_identify(store *st, const http_request *req, auth_identity *out);

/* The Cookie header value without Hangar's own cookies (hangar_session,
 * hangar_login), for the proxy to forward to a space's app: with a cookie
 * domain set, the browser sends them to every space's subdomain, and an app
 * must never see a session of its visitors. 0, or -1 when memory runs out. */
int session_strip_cookies(const char *cookie_header, buf *out);

/* App passes: a private space's app opened in the UI while the session
 * cookie cannot reach the app's address (the default domain "localhost":
 * browsers keep its cookies host-only, and a Domain cookie is refused). As
 * HF's signed iframe URLs do, the UI adds ?__sign=PASS to the app's address;
 * the proxy checks it, answers with a redirect to the same address without
 * it and sets PASS's cookie form on the app's host (hangar_app), which it
 * accepts from then on. A pass names one space and the session it came from
 * (by the stored digest, never the session id), expires, and is signed with
 * a key made at each start: it dies with the session (sign-out, token
 * revoked), with its time, or when the daemon restarts (a reload of the UI
 * page makes a new one). The two forms are told apart in the signature, so a
 * URL pass is not a cookie and the other way round. */
#define SESSION_PASS_MAX 192
#define SESSION_PASS_URL_TTL_S (10 * 60)
#define SESSION_PASS_COOKIE_TTL_S (12 * 3600)
typedef enum { SESSION_PASS_URL = 'u', SESSION_PASS_COOKIE = 'c' } session_pass_kind;

/* The pass of kind for the session whose id is cookie, to space_id. */
void session_pass_make(const char *cookie, int64_t space_id, session_pass_kind kind,
                       char out[SESSION_PASS_MAX]);
/* The cookie form of a valid URL pass (same session and space) into out, and
 * its holder into *id: AUTH_OK; AUTH_INVALID when pass is not a valid,
 * unexpired URL pass to space_id of a live session; AUTH_FAILED when the
 * store failed. */
auth_result session_pass_exchange(store *st, const char *pass, int64_t space_id,
                                  char out[SESSION_PASS_MAX], auth_identity *id);
/* Identifies the caller from the request's hangar_app cookie for space_id:
 * as session_identify (AUTH_ANONYMOUS when there is none). */
auth_result session_pass_identify(store *st, const http_request *req, int64_t space_id,
                                  auth_identity *out);
/* The Set-Cookie value of a cookie pass: host-only, HttpOnly, and where
 * the browser allows it (https, or a *.localhost address, which browsers
 * treat as secure) Secure, SameSite=None and Partitioned, so that it works
 * in the UI's iframe (a third-party context, where browsers block ordinary
 * cookies) as well as in a tab of its own. */
void session_pass_cookie_header(char *out, size_t size, const char *pass, bool secure_context);

/* The CSRF token of a session (or of a pre-session value: the sign-in form
 * uses a random cookie of its own). */
void session_csrf(const char *cookie, char out[SESSION_CSRF_LEN + 1]);
/* Whether given is the CSRF token of cookie, compared in constant time. */
bool session_csrf_valid(const char *cookie, const char *given);

/* The Set-Cookie value for name=value: HttpOnly, SameSite=Lax, Path=/,
 * Max-Age max_age_s (0 deletes it), Secure when secure, Domain=domain unless
 * domain is NULL. */
void session_cookie_header(char *out, size_t size, const char *name, const char *value,
                           long long max_age_s, bool secure, const char *domain);

#endif
