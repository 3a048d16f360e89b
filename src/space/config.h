/* config: the space's README.md YAML front matter.
 *
 * The front matter is the YAML between a first line "---" and the next line that
 * is exactly "---" (CRLF line ends and a UTF-8 BOM allowed). It is read with
 * libyaml and typed like HF's parser (js-yaml, YAML 1.2 core schema): plain
 * null/~, true/false, integers (0x, 0o, 0b too) and floats become JSON values,
 * quoted scalars stay strings. Simple anchors and aliases are resolved (an alias
 * shares the anchored JSON value); a front matter over CONFIG_MAX_BYTES, deeper
 * than CONFIG_MAX_DEPTH, or whose aliases expand past CONFIG_MAX_EXPANDED is
 * refused, so a hostile README cannot exhaust memory. */
#ifndef HANGAR_CONFIG_H
#define HANGAR_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CONFIG_MAX_BYTES (64 * 1024)     /* YAML text between the --- lines */
#define CONFIG_MAX_DEPTH 32              /* nested mappings and sequences */
#define CONFIG_MAX_EXPANDED (256 * 1024) /* nodes + scalar bytes after aliases */

#define CONFIG_APP_PORT_DEFAULT 7860
#define CONFIG_STARTUP_TIMEOUT_DEFAULT (30 * 60) /* seconds */
#define CONFIG_STARTUP_TIMEOUT_MAX (24 * 60 * 60)
#define CONFIG_PYTHON_DEFAULT "3.10"    /* HF's default when python_version is absent */
#define CONFIG_SHORT_DESCRIPTION_MAX 60 /* characters, counted like JavaScript */

typedef struct config_list {
    char **items;
    size_t n;
} config_list;

typedef struct config_header {
    char *name; /* lower-case, one of the cross-origin-* policies */
    char *value;
} config_header;

/* A parsed config. Strings are NULL when absent (python_version included: the
 * builder applies CONFIG_PYTHON_DEFAULT); lists are empty. */
typedef struct config {
    char *title;
    char *emoji;
    char *color_from; /* colorFrom */
    char *color_to;   /* colorTo */
    char *sdk;        /* front matter, else the space's sdk */
    char *sdk_version;
    char *python_version;
    char *app_file; /* default app.py (gradio, streamlit), index.html (static) */
    int app_port;   /* default 7860 */
    char *base_path;
    int startup_duration_timeout; /* seconds, default 30 minutes */
    config_header *custom_headers;
    size_t n_custom_headers;
    bool disable_embedding;
    char *short_description;
    config_list models;
    config_list datasets;
    config_list tags;
    bool pinned;
    config_list license; /* a single string becomes a list of one */
    char *suggested_hardware;
    config_list preload_from_hub;
    json_t *card; /* the whole front matter (cardData), {} when there is none */
} config;

/* The front matter of a README as a JSON object (HF's cardData), or NULL when
 * there is none or it is not a valid YAML mapping. Empty front matter gives {}.
 * Aliased values are shared (reference-counted), not copied. */
json_t *config_card_data(const char *readme, size_t len);

/* Parses and validates a README's front matter into *out; repo_sdk (may be NULL)
 * is the space's sdk, used when the front matter names none. Returns 0, or -1
 * with a message in err naming the key, and the README line where known:
 * "app_port: must be an integer from 1 to 65535 (line 7)". On success the caller
 * frees *out with config_free; on failure *out holds nothing to free. */
int config_parse(const char *readme, size_t len, const char *repo_sdk, config *out, char *err,
                 size_t errsize);

void config_free(config *c);

/* For POST /api/validate-yaml: checks a whole README and sets *errors and
 * *warnings to new arrays of {"message": "..."} (HF's shape). Unknown keys are
 * no error. Returns the number of errors, or -1 when memory runs out (and sets
 * nothing). */
int config_validate_yaml(const char *text, size_t len, json_t **errors, json_t **warnings);

/* Parses a duration like "30m", "1h", "90s", "1h30m" into seconds; -1 when it
 * is not one (units in the order h, m, s, each at most once, total 1s..24h). */
int config_parse_duration(const char *s);

#endif
