/* throttle: failed credentials, counted per client address.
 *
 * Tokens are long random strings, but a guesser with a fast link would still
 * try many per second. Each client address gets a token bucket of failed
 * attempts (THROTTLE_BURST, refilled one every THROTTLE_REFILL_MS); while its
 * bucket is empty every request carrying credentials from that address is
 * answered 429 with Retry-After before any token is looked up, so a correct
 * guess is not recognised either. Valid credentials cost nothing. The table is
 * fixed-size (THROTTLE_SLOTS addresses): memory stays bounded whatever the
 * number of clients. */
#ifndef HANGAR_THROTTLE_H
#define HANGAR_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#define THROTTLE_BURST 20
#define THROTTLE_REFILL_MS 3000
#define THROTTLE_SLOTS 4096

/* Whether addr may present credentials now; when not, *retry_after_s says
 * when the next attempt would be let through (at least 1). */
bool throttle_allowed(const char *addr, uint64_t now_ms, unsigned *retry_after_s);
/* Counts a failed attempt from addr. */
void throttle_failure(const char *addr, uint64_t now_ms);
/* Forgets every address (tests). */
void throttle_reset(void);

#endif
