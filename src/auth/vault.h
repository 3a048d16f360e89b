/* vault: secret values encrypted at rest.
 *
 * One libsodium secretbox key lives in DATA/secret.key (mode 0600, made at
 * first start). Each value is sealed with a fresh random nonce; what is stored
 * is base64(nonce || ciphertext). Plain values exist only in memory, briefly,
 * when a space starts. */
#ifndef HANGAR_VAULT_H
#define HANGAR_VAULT_H

#include <stddef.h>

/* Loads DATA/secret.key, creating it when missing; 0 or -1 (logged). */
int vault_open(const char *data_dir);
void vault_close(void);
/* A new string (caller frees) holding the sealed value; NULL on error. */
char *vault_seal(const char *plain, size_t len);
/* The opened value as a new NUL-terminated string (caller frees with
 * vault_free_plain, which wipes it); NULL when the input was tampered with. */
char *vault_open_value(const char *sealed, size_t *len);
void vault_free_plain(char *plain);

#endif
