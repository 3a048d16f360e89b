/* client: what every `hangar` client command shares: where the server is and
 * which token to send (the config file, then the environment), HTTP requests
 * through one libcurl handle, and failures reported with what to do next.
 *
 * The config file is ~/.config/hangar/config ($XDG_CONFIG_HOME honoured), lines
 * of "key = value" with the keys endpoint and token. HANGAR_ENDPOINT and
 * HANGAR_TOKEN, then HF_ENDPOINT and HF_TOKEN, override what it says. */
#ifndef HANGAR_CLI_CLIENT_H
#define HANGAR_CLI_CLIENT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

/* Exit statuses of the client commands; `hangar help` documents them. */
enum {
    CLI_OK = 0,
    CLI_FAIL = 1,     /* the server refused, or something broke */
    CLI_USAGE = 2,    /* bad arguments */
    CLI_AUTH = 3,     /* not logged in, token rejected, or not allowed */
    CLI_NOTFOUND = 4, /* no such space (or key) */
};

#define CLI_DEFAULT_ENDPOINT "http://127.0.0.1:8080"
#define CLI_URL_MAX 2048
#define CLI_TOKEN_MAX 512
/* "owner/name": two names of at most 96 characters. */
#define CLI_SPACE_ID_MAX 200

typedef struct cli_client {
    char endpoint[CLI_URL_MAX]; /* without a trailing slash */
    char token[CLI_TOKEN_MAX];  /* empty: anonymous */
    const char *endpoint_from;  /* where the endpoint came from, for messages */
    const char *token_from;     /* where the token came from ("" when none) */
    char user[128];             /* the token's user, once whoami told it */
    CURL *curl;
    struct curl_slist *headers; /* of the request being prepared */
    char *body;                 /* JSON body of the request being prepared */
} cli_client;

typedef struct cli_response {
    long status; /* 0 when no HTTP answer came */
    buf body;
    char *next;          /* the Link rel="next" URL, if any */
    char error_code[64]; /* X-Error-Code, if any */
    char error[CURL_ERROR_SIZE];
    CURLcode curl_rc;
} cli_response;

/* Loads the config and environment and opens the HTTP handle. */
int cli_client_open(cli_client *c);
void cli_client_close(cli_client *c);

/* The config file: its path; reading it (missing file: empty values, 0); writing
 * it (mode 0600 in a 0700 directory); removing it (1 when there was none). */
int cli_config_path(char *out, size_t size);
int cli_config_read(char *endpoint, size_t endpoint_size, char *token, size_t token_size);
int cli_config_write(const char *endpoint, const char *token);
int cli_config_remove(void);
/* "host:port" becomes "http://host:port"; trailing slashes go. -1 if unusable. */
int cli_endpoint_normalize(const char *in, char *out, size_t size);

void cli_response_init(cli_response *res);
void cli_response_free(cli_response *res);

/* Resets the handle for METHOD on path (joined to the endpoint) or an absolute
 * URL, with the token and, when body is not NULL, that JSON as the body. The
 * answer is collected into res; callers may set more options before
 * cli_perform. */
CURL *cli_prepare(cli_client *c, const char *method, const char *path, json_t *body,
                  cli_response *res);
void cli_add_header(cli_client *c, const char *header);
/* 0 when an HTTP answer came (any status), -1 when none did. */
int cli_perform(cli_client *c, cli_response *res);

/* Reports a failed request on stderr with what to do next and returns the exit
 * status it deserves. space names the space the request was about, or NULL. */
int cli_report(const cli_client *c, const cli_response *res, const char *space);

/* One JSON request: on a 2xx answer *out (when not NULL) gets the parsed body
 * (json null for an empty or non-JSON body) and CLI_OK is returned; otherwise
 * the failure is reported and its exit status returned. */
int cli_call(cli_client *c, const char *method, const char *path, json_t *body, const char *space,
             json_t **out);

/* The name of the token's user (whoami-v2), cached. */
int cli_whoami_name(cli_client *c, const char **name);
/* "name" or "owner/name" from the command line into "owner/name" (the token's
 * user by default). Reports and returns CLI_USAGE for a malformed id. */
int cli_space_id(cli_client *c, const char *arg, char out[CLI_SPACE_ID_MAX]);

#endif
