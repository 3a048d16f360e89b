#include "auth/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"

static unsigned char vault_key[crypto_secretbox_KEYBYTES];
static int vault_ready;

static int read_key(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
        log_warn("vault", "%s is readable by others (mode %o): fixing to 0600", path,
                 st.st_mode & 0777);
    if (fchmod(fd, 0600) == 0 || errno == EROFS)
        n = read(fd, vault_key, sizeof vault_key);
    close(fd);
    if (n != (ssize_t)sizeof vault_key) {
        log_error("vault", "%s is not a valid key (%zd bytes)", path, n);
        return -1;
    }
    return 0;
}

static int write_key(const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    crypto_secretbox_keygen(vault_key);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int ok = write(fd, vault_key, sizeof vault_key) == (ssize_t)sizeof vault_key && fsync(fd) == 0;
    close(fd);
    /* rename makes the key appear whole or not at all. */
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    log_info("vault", "created a new secret key in %s", path);
    return 0;
}

int vault_open(const char *data_dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/secret.key", data_dir);
    int rc = read_key(path);
    if (rc == 1)
        rc = write_key(path);
    if (rc < 0) {
        log_error("vault", "cannot use the secret key %s: %s", path, strerror(errno));
        return -1;
    }
    sodium_mlock(vault_key, sizeof vault_key);
    vault_ready = 1;
    return 0;
}

void vault_close(void)
{
    sodium_munlock(vault_key, sizeof vault_key);
    vault_ready = 0;
}

char *vault_seal(const char *plain, size_t len)
{
    if (!vault_ready)
        return NULL;
    size_t raw_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
    unsigned char *raw = malloc(raw_len);
    if (!raw)
        return NULL;
    randombytes_buf(raw, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(raw + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, len, raw,
                          vault_key);
    size_t b64_len = sodium_base64_ENCODED_LEN(raw_len, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(b64_len);
    if (out)
        sodium_bin2base64(out, b64_len, raw, raw_len, sodium_base64_VARIANT_ORIGINAL);
    free(raw);
    return out;
}

char *vault_open_value(const char *sealed, size_t *len)
{
    if (!vault_ready || !sealed)
        return NULL;
    size_t slen = strlen(sealed);
    unsigned char *raw = malloc(slen + 1);
    size_t raw_len = 0;
    char *plain = NULL;
    if (!raw ||
        sodium_base642bin(raw, slen, sealed, slen, NULL, &raw_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        raw_len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        goto done;
    size_t plain_len = raw_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    plain = malloc(plain_len + 1);
    if (!plain)
        goto done;
    if (crypto_secretbox_open_easy((unsigned char *)plain, raw + crypto_secretbox_NONCEBYTES,
                                   raw_len - crypto_secretbox_NONCEBYTES, raw, vault_key) != 0) {
        free(plain);
        plain = NULL;
        log_error("vault", "a stored secret failed authentication (tampered or wrong key)");
        goto done;
    }
    plain[plain_len] = '\0';
    if (len)
        *len = plain_len;
done:
    free(raw);
    return plain;
}

void vault_free_plain(char *plain)
{
    if (!plain)
        return;
    sodium_memzero(plain, strlen(plain));
    free(plain);
}
