#include "space/space.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

bool space_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > SPACE_NAME_MAX)
        return false;
    if (name[0] == '-' || name[0] == '.' || name[len - 1] == '-' || name[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!name_char(name[i]))
            return false;
        if (i > 0 && (name[i] == '-' || name[i] == '.') && name[i - 1] == name[i])
            return false;
    }
    /* A name ending in ".git" would be ambiguous in git URLs. */
    if (len >= 4 && strcmp(name + len - 4, ".git") == 0)
        return false;
    return true;
}

bool space_id_split(const char *id, char owner[SPACE_NAME_MAX + 1], char name[SPACE_NAME_MAX + 1])
{
    const char *slash = strchr(id, '/');
    if (!slash || strchr(slash + 1, '/'))
        return false;
    size_t olen = (size_t)(slash - id);
    if (olen == 0 || olen > SPACE_NAME_MAX || strlen(slash + 1) > SPACE_NAME_MAX)
        return false;
    memcpy(owner, id, olen);
    owner[olen] = '\0';
    strcpy(name, slash + 1);
    return space_name_valid(owner) && space_name_valid(name);
}

bool space_sdk_valid(const char *sdk)
{
    return strcmp(sdk, "gradio") == 0 || strcmp(sdk, "streamlit") == 0 ||
           strcmp(sdk, "docker") == 0 || strcmp(sdk, "static") == 0;
}

void space_subdomain(const char *owner, const char *name, char out[SPACE_SUBDOMAIN_MAX + 1])
{
    char full[2 * SPACE_NAME_MAX + 2];
    snprintf(full, sizeof full, "%s-%s", owner, name);
    size_t len = strlen(full);
    for (size_t i = 0; i < len; i++) {
        char c = full[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        else if (c == '_' || c == '.' || c == '/')
            c = '-';
        full[i] = c;
    }
    /* A DNS label neither starts nor ends with '-': names may start or end
     * with '_' (found by fuzz_names). */
    size_t start = 0;
    while (start < len && full[start] == '-')
        start++;
    while (len > start && full[len - 1] == '-')
        len--;
    memmove(full, full + start, len - start);
    len -= start;
    full[len] = '\0';
    if (len == 0) /* "_/_": nothing of the name is left; the stored label stays unique */
        len = (size_t)snprintf(full, sizeof full, "space");
    if (len <= SPACE_SUBDOMAIN_MAX) {
        memcpy(out, full, len + 1);
        return;
    }
    /* Cut to leave room for "-" and 7 hex digits of a hash of the whole id,
     * so two long names that share a prefix still differ. */
    unsigned char digest[16];
    char hex[33];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)full, len, NULL, 0);
    util_hex(digest, sizeof digest, hex);
    size_t keep = SPACE_SUBDOMAIN_MAX - 8;
    while (keep > 0 && full[keep - 1] == '-')
        keep--;
    snprintf(out, SPACE_SUBDOMAIN_MAX + 1, "%.*s-%.7s", (int)keep, full, hex);
}

void space_repo_path(const char *data_dir, const char *owner, const char *name, char *out,
                     size_t size)
{
    snprintf(out, size, "%s/repos/%s/%s.git", data_dir, owner, name);
}
