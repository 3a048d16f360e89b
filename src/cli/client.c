#include "cli/client.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

/* A JSON answer larger than this is not one the client asked for. */
#define CLI_BODY_MAX (64u * 1024 * 1024)
/* Plain requests never take long; uploads and logs set their own limits. */
#define CLI_CALL_TIMEOUT_S 300L
#define CLI_CONNECT_TIMEOUT_S 10L

/* ---- config ---------------------------------------------------------------- */

static int config_dir(char *out, size_t size)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(out, size, "%s/hangar", xdg);
    else if (home && *home)
        n = snprintf(out, size, "%s/.config/hangar", home);
    else
        return -1;
    return n > 0 && (size_t)n < size ? 0 : -1;
}

int cli_config_path(char *out, size_t size)
{
    char dir[CLI_URL_MAX];
    if (config_dir(dir, sizeof dir) < 0)
        return -1;
    int n = snprintf(out, size, "%s/config", dir);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        s[--len] = '\0';
    return s;
}

int cli_config_read(char *endpoint, size_t endpoint_size, char *token, size_t token_size)
{
    char path[CLI_URL_MAX], line[CLI_URL_MAX + 64];
    endpoint[0] = token[0] = '\0';
    if (cli_config_path(path, sizeof path) < 0)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    while (fgets(line, sizeof line, f)) {
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq)
            continue;
        *eq = '\0';
        char *key = trim(line), *value = trim(eq + 1);
        if (strcmp(key, "endpoint") == 0)
            snprintf(endpoint, endpoint_size, "%s", value);
        else if (strcmp(key, "token") == 0)
            snprintf(token, token_size, "%s", value);
    }
    fclose(f);
    return 0;
}

/* Written to a temporary file and renamed, so a crash never leaves half a
 * config; created 0600 so the token is never readable by others, even briefly. */
int cli_config_write(const char *endpoint, const char *token)
{
    char dir[CLI_URL_MAX], path[CLI_URL_MAX + 16], tmp[CLI_URL_MAX + 32];
    if (config_dir(dir, sizeof dir) < 0 || util_mkdir_p(dir, 0700) < 0 || chmod(dir, 0700) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/config", dir);
    snprintf(tmp, sizeof tmp, "%s/.config.%ld", dir, (long)getpid());
    FILE *f = NULL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w")))
        goto fail;
    fd = -1;
    fprintf(f,
            "# hangar client configuration, written by hangar login\n"
            "endpoint = %s\ntoken = %s\n",
            endpoint, token);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        goto fail;
    if (fclose(f) != 0) {
        f = NULL;
        goto fail;
    }
    f = NULL;
    if (rename(tmp, path) < 0)
        goto fail;
    return 0;
fail:
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

int cli_config_remove(void)
{
    char path[CLI_URL_MAX];
    if (cli_config_path(path, sizeof path) < 0)
        return 1;
    if (unlink(path) == 0)
        return 0;
    return errno == ENOENT ? 1 : -1;
}

int cli_endpoint_normalize(const char *in, char *out, size_t size)
{
    bool has_scheme = util_has_prefix(in, "http://") || util_has_prefix(in, "https://");
    if (!*in || strchr(in, ' ') || (strstr(in, "://") != NULL && !has_scheme))
        return -1;
    int n = snprintf(out, size, "%s%s", has_scheme ? "" : "http://", in);
    if (n <= 0 || (size_t)n >= size)
        return -1;
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    return strlen(out) > strlen("http://") ? 0 : -1;
}

/* The environment first (HANGAR_*, then HF_*), then the config file. */
static void client_settings(cli_client *c)
{
    char endpoint[CLI_URL_MAX], token[CLI_TOKEN_MAX];
    cli_config_read(endpoint, sizeof endpoint, token, sizeof token);
    static const char *endpoint_vars[] = {"HANGAR_ENDPOINT", "HF_ENDPOINT"};
    static const char *token_vars[] = {"HANGAR_TOKEN", "HF_TOKEN"};
    const char *e = NULL, *t = NULL;
    c->endpoint_from = c->token_from = "";
    for (size_t i = 0; i < 2; i++) {
        const char *ev = getenv(endpoint_vars[i]), *tv = getenv(token_vars[i]);
        if (!e && ev && *ev) {
            e = ev;
            c->endpoint_from = endpoint_vars[i];
        }
        if (!t && tv && *tv) {
            t = tv;
            c->token_from = token_vars[i];
        }
    }
    if (!e && endpoint[0]) {
        e = endpoint;
        c->endpoint_from = "the config file";
    }
    if (!t && token[0]) {
        t = token;
        c->token_from = "the config file";
    }
    if (!e || cli_endpoint_normalize(e, c->endpoint, sizeof c->endpoint) < 0) {
        snprintf(c->endpoint, sizeof c->endpoint, "%s", CLI_DEFAULT_ENDPOINT);
        c->endpoint_from = "the default";
    }
    snprintf(c->token, sizeof c->token, "%s", t ? t : "");
}

int cli_client_open(cli_client *c)
{
    memset(c, 0, sizeof *c);
    client_settings(c);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c->curl = curl_easy_init())) {
        fprintf(stderr, "hangar: cannot initialise libcurl\n");
        return CLI_FAIL;
    }
    return CLI_OK;
}

void cli_client_close(cli_client *c)
{
    curl_slist_free_all(c->headers);
    free(c->body);
    if (c->curl)
        curl_easy_cleanup(c->curl);
    /* The token lived in this struct only; leave nothing behind. */
    memset(c->token, 0, sizeof c->token);
    c->curl = NULL;
    c->headers = NULL;
    c->body = NULL;
}

/* ---- requests ---------------------------------------------------------------- */

void cli_response_init(cli_response *res)
{
    memset(res, 0, sizeof *res);
    buf_init(&res->body);
}

void cli_response_free(cli_response *res)
{
    buf_free(&res->body);
    free(res->next);
    res->next = NULL;
}

static size_t collect_body(char *data, size_t size, size_t n, void *arg)
{
    cli_response *res = arg;
    if (res->body.len + n > CLI_BODY_MAX || buf_append(&res->body, data, n) < 0)
        return 0; /* aborts the transfer */
    return n;
}

/* Link: <url>; rel="next", the pagination of list endpoints. */
static void parse_link(cli_response *res, const char *value, size_t len)
{
    const char *lt = memchr(value, '<', len);
    const char *gt = lt ? memchr(lt, '>', len - (size_t)(lt - value)) : NULL;
    if (!gt)
        return;
    char rest[256];
    size_t rlen = len - (size_t)(gt + 1 - value);
    snprintf(rest, sizeof rest, "%.*s", (int)(rlen < 255 ? rlen : 255), gt + 1);
    if (!strstr(rest, "rel=\"next\"") && !strstr(rest, "rel=next"))
        return;
    free(res->next);
    res->next = strndup(lt + 1, (size_t)(gt - lt - 1));
}

static size_t collect_header(char *data, size_t size, size_t n, void *arg)
{
    cli_response *res = arg;
    size_t len = n;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return n;
    size_t name_len = (size_t)(colon - data);
    const char *value = colon + 1;
    while (value < data + len && *value == ' ')
        value++;
    size_t vlen = (size_t)(data + len - value);
    if (util_strneq_nocase(data, name_len, "link"))
        parse_link(res, value, vlen);
    else if (util_strneq_nocase(data, name_len, "x-error-code"))
        snprintf(res->error_code, sizeof res->error_code, "%.*s", (int)vlen, value);
    return n;
}

void cli_add_header(cli_client *c, const char *header)
{
    struct curl_slist *next = curl_slist_append(c->headers, header);
    if (next)
        c->headers = next;
}

static void set_method(CURL *curl, const char *method, const char *body)
{
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        return;
    }
    if (strcmp(method, "POST") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body || strcmp(method, "POST") == 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    }
}

CURL *cli_prepare(cli_client *c, const char *method, const char *path, json_t *body,
                  cli_response *res)
{
    char url[CLI_URL_MAX * 2], auth[CLI_TOKEN_MAX + 32];
    CURL *curl = c->curl;
    curl_easy_reset(curl); /* keeps the connection cache */
    curl_slist_free_all(c->headers);
    c->headers = NULL;
    free(c->body);
    c->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (util_has_prefix(path, "http://") || util_has_prefix(path, "https://"))
        snprintf(url, sizeof url, "%s", path);
    else
        snprintf(url, sizeof url, "%s%s", c->endpoint, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CLI_CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "hangar/" HANGAR_VERSION);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, res->error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, res);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, res);
    set_method(curl, method, c->body);
    if (c->token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        cli_add_header(c, auth);
        sodium_memzero(auth, sizeof auth);
    }
    if (c->body)
        cli_add_header(c, "Content-Type: application/json");
    cli_add_header(c, "Accept: application/json");
    return curl;
}

int cli_perform(cli_client *c, cli_response *res)
{
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    res->curl_rc = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &res->status);
    /* An error answer counts even when the server stopped reading the body
     * early (a 413 to a streamed upload). */
    if (res->status > 0 &&
        (res->curl_rc == CURLE_OK || res->status >= 400 || res->curl_rc == CURLE_WRITE_ERROR ||
         res->curl_rc == CURLE_ABORTED_BY_CALLBACK || res->curl_rc == CURLE_OPERATION_TIMEDOUT))
        return 0;
    res->status = 0;
    if (!res->error[0])
        snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(res->curl_rc));
    return -1;
}

/* ---- errors ------------------------------------------------------------------ */

/* The server's own words: {"error": ...}, else the first line of the body. */
static void server_message(const cli_response *res, char *out, size_t size)
{
    json_t *body = json_loadb(res->body.data ? res->body.data : "", res->body.len, 0, NULL);
    json_t *error = json_object_get(body, "error");
    if (json_is_string(error)) {
        snprintf(out, size, "%s", json_string_value(error));
    } else {
        const char *text = res->body.data ? res->body.data : "";
        size_t len = strcspn(text, "\r\n");
        snprintf(out, size, "%.*s", (int)(len < 300 ? len : 300), len ? text : "no details");
    }
    json_decref(body);
}

static int report_unreachable(const cli_client *c, const cli_response *res)
{
    fprintf(stderr, "hangar: cannot reach the server at %s: %s\n", c->endpoint, res->error);
    fprintf(stderr,
            "  is hangar serve running at %s? (the address comes from %s; change it with "
            "hangar login URL or HANGAR_ENDPOINT)\n",
            c->endpoint, c->endpoint_from);
    return CLI_FAIL;
}

static int report_auth(const cli_client *c, long status, const char *message)
{
    if (status == 403) {
        fprintf(stderr, "hangar: not allowed: %s\n", message);
        fprintf(stderr, "  this needs a write token of the space's owner: run hangar login "
                        "with one\n");
    } else if (!c->token[0]) {
        fprintf(stderr, "hangar: not logged in to %s (%s)\n", c->endpoint, message);
        fprintf(stderr, "  run hangar login %s\n", c->endpoint);
    } else {
        fprintf(stderr, "hangar: %s rejected the token from %s: %s\n", c->endpoint, c->token_from,
                message);
        if (util_has_prefix(c->token_from, "HANGAR_") || util_has_prefix(c->token_from, "HF_"))
            fprintf(stderr, "  check $%s, or unset it and run hangar login %s\n", c->token_from,
                    c->endpoint);
        else
            fprintf(stderr,
                    "  run hangar login %s with a valid token (hangar token create USER "
                    "on the server makes one)\n",
                    c->endpoint);
    }
    return CLI_AUTH;
}

int cli_report(const cli_client *c, const cli_response *res, const char *space)
{
    char message[512];
    if (res->status == 0)
        return report_unreachable(c, res);
    server_message(res, message, sizeof message);
    if (res->status == 401 || res->status == 403)
        return report_auth(c, res->status, message);
    if (res->status == 404 && space &&
        (!res->error_code[0] || !strcmp(res->error_code, "RepoNotFound"))) {
        fprintf(stderr, "hangar: space %s not found (%s)\n", space, message);
        fprintf(stderr, "  check the name with hangar spaces list\n");
        return CLI_NOTFOUND;
    }
    if (res->status == 404 || res->status == 405) {
        fprintf(stderr, "hangar: %s\n", message);
        fprintf(stderr, "  the server at %s may be older than this client (hangar %s)\n",
                c->endpoint, HANGAR_VERSION);
        return res->status == 404 ? CLI_NOTFOUND : CLI_FAIL;
    }
    if (res->status == 413)
        fprintf(stderr, "hangar: the server refused the request as too large: %s\n", message);
    else if (res->status >= 500)
        fprintf(stderr, "hangar: server error %ld: %s\n  its log (hangar serve) says more\n",
                res->status, message);
    else
        fprintf(stderr, "hangar: %s\n", message);
    return CLI_FAIL;
}

int cli_call(cli_client *c, const char *method, const char *path, json_t *body, const char *space,
             json_t **out)
{
    cli_response res;
    cli_response_init(&res);
    cli_prepare(c, method, path, body, &res);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, CLI_CALL_TIMEOUT_S);
    int rc = CLI_OK;
    if (cli_perform(c, &res) < 0 || res.status < 200 || res.status > 299) {
        rc = cli_report(c, &res, space);
    } else if (out) {
        *out = json_loadb(res.body.data ? res.body.data : "", res.body.len, 0, NULL);
        if (!*out)
            *out = json_null();
    }
    cli_response_free(&res);
    return rc;
}

/* ---- names ------------------------------------------------------------------- */

int cli_whoami_name(cli_client *c, const char **name)
{
    if (!c->user[0]) {
        json_t *me = NULL;
        int rc = cli_call(c, "GET", "/api/whoami-v2", NULL, NULL, &me);
        if (rc != CLI_OK)
            return rc;
        json_t *n = json_object_get(me, "name");
        if (json_is_string(n))
            snprintf(c->user, sizeof c->user, "%s", json_string_value(n));
        json_decref(me);
        if (!c->user[0]) {
            fprintf(stderr, "hangar: %s/api/whoami-v2 did not say who the token belongs to\n",
                    c->endpoint);
            return CLI_FAIL;
        }
    }
    *name = c->user;
    return CLI_OK;
}

/* The characters of HF names; the server checks the rest of the rules. */
static bool name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 96)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

int cli_space_id(cli_client *c, const char *arg, char out[CLI_SPACE_ID_MAX])
{
    const char *slash = strchr(arg, '/');
    if (slash) {
        if (!name_ok(arg, (size_t)(slash - arg)) || !name_ok(slash + 1, strlen(slash + 1)))
            goto invalid;
        snprintf(out, CLI_SPACE_ID_MAX, "%s", arg);
        return CLI_OK;
    }
    if (!name_ok(arg, strlen(arg)))
        goto invalid;
    const char *user;
    int rc = cli_whoami_name(c, &user);
    if (rc != CLI_OK)
        return rc;
    snprintf(out, CLI_SPACE_ID_MAX, "%s/%s", user, arg);
    return CLI_OK;
invalid:
    fprintf(stderr,
            "hangar: '%s' is not a space id: use OWNER/NAME or NAME (letters, digits, '-', "
            "'_', '.')\n",
            arg);
    return CLI_USAGE;
}
