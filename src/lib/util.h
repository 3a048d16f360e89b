/* util: small helpers for time, strings and randomness. */
#ifndef HANGAR_UTIL_H
#define HANGAR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* "2026-01-02T03:04:05.678Z" for now / for a unix time in milliseconds. */
void util_iso8601_now(char *out, size_t size);
void util_iso8601_ms(int64_t unix_ms, char *out, size_t size);
int64_t util_now_ms(void);
/* Monotonic clock in milliseconds, for durations. */
uint64_t util_mono_ms(void);

/* Case-insensitive ASCII comparisons. */
bool util_streq_nocase(const char *a, const char *b);
bool util_strneq_nocase(const char *a, size_t alen, const char *b);
bool util_has_prefix(const char *s, const char *prefix);

/* Lower-case hex encoding of n bytes into out (2n+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);
/* Decodes %XX escapes (and nothing else) in place; -1 on a bad escape or NUL. */
/* Whether s[0..len) is UTF-8 as RFC 3629 defines it: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
bool util_utf8_valid(const char *s, size_t len);
int util_percent_decode(char *s);

/* Makes a directory and its parents (like mkdir -p); 0 or -1 with errno. */
int util_mkdir_p(const char *path, unsigned mode);
/* Appends to env (NULL-terminated, room for max entries with the NULL) the
 * "NAME=value" strings of this process's environment whose NAME is one of
 * names[0..count): what a child may inherit, nothing else. The strings are
 * environ's own (they live as long as the process). */
void util_env_pass(const char **env, size_t max, const char *const *names, size_t count);

/* Parses a decimal integer in [min,max]; 0 on success, -1 otherwise. */
int util_parse_int(const char *s, long long min, long long max, long long *out);

#endif
