/* space: what a space is, independent of where it is stored: names under
 * HF's rules, the subdomain it is served at, its paths under DATA, and who
 * may read or change it. */
#ifndef HANGAR_SPACE_H
#define HANGAR_SPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPACE_NAME_MAX 96
#define SPACE_SUBDOMAIN_MAX 63

typedef struct space {
    int64_t id;
    char hex_id[25]; /* the 24-hex id HF clients read as "_id"/"id" */
    int64_t owner_id;
    char owner[SPACE_NAME_MAX + 1];
    char name[SPACE_NAME_MAX + 1];
    char full_id[2 * SPACE_NAME_MAX + 2]; /* owner/name */
    char sdk[16];
    bool is_private;
    char subdomain[SPACE_SUBDOMAIN_MAX + 1];
    char sha[41]; /* head of main, "" while the repository is empty */
    int64_t created_ms;
    int64_t last_modified_ms;
    bool paused;           /* desired state: paused by its owner */
    int64_t sleep_seconds; /* -1 never, SPACE_SLEEP_DEFAULT: the daemon's default */
    char hardware[32];     /* requested hardware flavor */
} space;

#define SPACE_SLEEP_DEFAULT INT64_MIN

/* A repository or owner name under HF's rules: letters, digits, '-', '_', '.';
 * 1..96 characters; no "--" or ".."; not starting or ending with '-' or '.'. */
bool space_name_valid(const char *name);
/* Splits "owner/name" into its parts (each validated); false when malformed. */
bool space_id_split(const char *id, char owner[SPACE_NAME_MAX + 1], char name[SPACE_NAME_MAX + 1]);
bool space_sdk_valid(const char *sdk);
/* HF's app subdomain: lower-case owner-name with '/', '_' and '.' made '-';
 * longer than a DNS label, it is cut and given a short hash suffix. */
void space_subdomain(const char *owner, const char *name, char out[SPACE_SUBDOMAIN_MAX + 1]);
/* DATA/repos/<owner>/<name>.git */
void space_repo_path(const char *data_dir, const char *owner, const char *name, char *out,
                     size_t size);

#endif
