#include "auth/throttle.h"

#include <pthread.h>
#include <string.h>

#define WAYS 4 /* an address may sit in any of 4 slots of its set */
#define ADDR_MAX 64

typedef struct slot {
    char addr[ADDR_MAX]; /* "" when free */
    double tokens;       /* failures still allowed */
    uint64_t last_ms;    /* when tokens was last brought up to date */
} slot;

static slot slots[THROTTLE_SLOTS];
/* The http module may run one loop per thread: the table is shared. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void refill(slot *e, uint64_t now_ms)
{
    if (now_ms > e->last_ms) {
        e->tokens += (double)(now_ms - e->last_ms) / THROTTLE_REFILL_MS;
        if (e->tokens > THROTTLE_BURST)
            e->tokens = THROTTLE_BURST;
    }
    e->last_ms = now_ms;
}

/* The slot of addr, or NULL when it has none (it has failed nothing lately). */
static slot *find(const char *addr)
{
    slot *set = &slots[(hash(addr) % (THROTTLE_SLOTS / WAYS)) * WAYS];
    for (int i = 0; i < WAYS; i++)
        if (strcmp(set[i].addr, addr) == 0)
            return &set[i];
    return NULL;
}

/* A slot for addr: a free one, else the one with the most tokens (the least
 * suspicious address loses its count first, never one that is locked out). */
static slot *claim(const char *addr, uint64_t now_ms)
{
    slot *set = &slots[(hash(addr) % (THROTTLE_SLOTS / WAYS)) * WAYS], *best = &set[0];
    for (int i = 0; i < WAYS; i++) {
        if (!set[i].addr[0]) {
            best = &set[i];
            break;
        }
        refill(&set[i], now_ms);
        if (set[i].tokens > best->tokens)
            best = &set[i];
    }
    strncpy(best->addr, addr, ADDR_MAX - 1);
    best->addr[ADDR_MAX - 1] = '\0';
    best->tokens = THROTTLE_BURST;
    best->last_ms = now_ms;
    return best;
}

bool throttle_allowed(const char *addr, uint64_t now_ms, unsigned *retry_after_s)
{
    pthread_mutex_lock(&lock);
    slot *e = find(addr);
    bool ok = true;
    if (e) {
        refill(e, now_ms);
        ok = e->tokens >= 1.0;
        if (!ok && retry_after_s) {
            uint64_t ms = (uint64_t)((1.0 - e->tokens) * THROTTLE_REFILL_MS);
            *retry_after_s = ms >= 1000 ? (unsigned)((ms + 999) / 1000) : 1;
        }
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

void throttle_failure(const char *addr, uint64_t now_ms)
{
    pthread_mutex_lock(&lock);
    slot *e = find(addr);
    if (!e)
        e = claim(addr, now_ms);
    refill(e, now_ms);
    e->tokens = e->tokens >= 1.0 ? e->tokens - 1.0 : 0.0;
    pthread_mutex_unlock(&lock);
}

void throttle_reset(void)
{
    pthread_mutex_lock(&lock);
    memset(slots, 0, sizeof slots);
    pthread_mutex_unlock(&lock);
}
