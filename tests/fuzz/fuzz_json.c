/* libFuzzer target for JSON API bodies: jansson loads them as api_parse_body
 * does (src/api/api.c), then the pure checks the handlers apply to their
 * fields run on whatever strings came: space ids, names and SDKs (create,
 * move, duplicate; src/space/space.c), secret values through the vault and
 * back (src/auth/vault.c), and the credential scanner (src/git/scan.c) that
 * commits go through, with the body's strings as the space's secrets. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/vault.h"
#include "git/scan.h"
#include "space/space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[] = "/tmp/hangar-fuzz-json-XXXXXX";
    if (!mkdtemp(dir) || vault_open(dir) < 0)
        abort();
    /* the key is in memory now; the directory is not needed */
    char key[64];
    snprintf(key, sizeof key, "%s/secret.key", dir);
    unlink(key);
    rmdir(dir);
    return 0;
}

static void check_id(const char *id)
{
    char owner[SPACE_NAME_MAX + 1], name[SPACE_NAME_MAX + 1], label[SPACE_SUBDOMAIN_MAX + 1];
    if (space_id_split(id, owner, name))
        space_subdomain(owner, name, label);
}

static void check_secret(const char *value, size_t len)
{
    char *sealed = vault_seal(value, len);
    size_t back_len = 0;
    char *back = sealed ? vault_open_value(sealed, &back_len) : NULL;
    if (!back || back_len != len || memcmp(back, value, len) != 0)
        abort();
    vault_free_plain(back);
    free(sealed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *body = json_loadb((const char *)data, size, 0, &err);
    scan_secret secrets[8];
    size_t nsecrets = 0;
    const char *key;
    json_t *value;
    if (!body)
        return 0;
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    json_object_foreach(body, key, value)
    {
        space_name_valid(key);
        if (!json_is_string(value))
            continue;
        const char *s = json_string_value(value);
        size_t len = json_string_length(value);
        check_id(s);
        space_name_valid(s);
        space_sdk_valid(s);
        check_secret(s, len);
        if (nsecrets < 8)
            secrets[nsecrets++] = (scan_secret){.name = key, .value = s, .len = len};
    }
    scan_report r;
    scan_report_init(&r);
    scan_file(&r, "body.json", data, size, secrets, nsecrets);
    /* a finding never quotes the value, only where and what it is */
    for (size_t i = 0; i < nsecrets; i++)
        if (secrets[i].len >= 40 && r.text.data &&
            memmem(r.text.data, r.text.len, secrets[i].value, secrets[i].len))
            abort();
    scan_report_free(&r);
    json_decref(body);
    return 0;
}
