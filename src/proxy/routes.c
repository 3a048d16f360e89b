#include "proxy/routes.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

#define ROUTE_BUCKETS 256

/* Starts at 1 so that a zeroed route is never valid. */
static _Atomic uint64_t version = 1;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static route *table[ROUTE_BUCKETS];

static size_t bucket_of(const char *label)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = label; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % ROUTE_BUCKETS;
}

static void route_free(route *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    if (r->netns_fd >= 0)
        close(r->netns_fd);
    free(r);
}

void routes_ref(route *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void routes_unref(route *r)
{
    if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        route_free(r);
}

/* Takes every route out of the table (the caller unrefs them, unlocked). */
static route *table_take_all(void)
{
    route *all = NULL;
    for (size_t i = 0; i < ROUTE_BUCKETS; i++) {
        while (table[i]) {
            route *r = table[i];
            table[i] = r->next;
            r->next = all;
            all = r;
        }
    }
    return all;
}

static void unref_list(route *r)
{
    while (r) {
        route *next = r->next;
        routes_unref(r);
        r = next;
    }
}

/* The routes go too: a stale one would keep its instance's network
 * namespace open through its descriptor. */
void routes_invalidate(void)
{
    pthread_mutex_lock(&table_lock);
    atomic_fetch_add_explicit(&version, 1, memory_order_release);
    route *all = table_take_all();
    pthread_mutex_unlock(&table_lock);
    unref_list(all);
}

uint64_t routes_version(void)
{
    return atomic_load_explicit(&version, memory_order_acquire);
}

bool routes_valid(const route *r)
{
    return r->version == routes_version();
}

static int copy_headers(route *r, const http_header *h, size_t n)
{
    if (!n)
        return 0;
    if (!(r->headers = calloc(n, sizeof *r->headers)))
        return -1;
    for (; r->nheaders < n; r->nheaders++) {
        http_header *d = &r->headers[r->nheaders];
        d->name = strdup(h[r->nheaders].name);
        d->value = strdup(h[r->nheaders].value);
        if (!d->name || !d->value) {
            r->nheaders++; /* route_free frees what was copied */
            return -1;
        }
    }
    return 0;
}

static route *route_new(const route_spec *spec)
{
    route *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->netns_fd = -1;
    atomic_init(&r->refs, 1); /* the table's */
    if (strlen(spec->label) >= sizeof r->label ||
        copy_headers(r, spec->headers, spec->nheaders) < 0)
        goto fail;
    if (spec->netns_fd >= 0 && (r->netns_fd = dup(spec->netns_fd)) < 0) {
        log_warn("routes", "%s: cannot copy the network namespace descriptor", spec->label);
        goto fail;
    }
    strcpy(r->label, spec->label);
    r->space_id = spec->space_id;
    r->port = spec->port;
    r->generation = spec->generation;
    r->metrics = spec->metrics;
    return r;
fail:
    route_free(r);
    return NULL;
}

/* The label's entry in its bucket (the link that points at it). */
static route **find_link(const char *label)
{
    route **link = &table[bucket_of(label)];
    while (*link && strcmp((*link)->label, label) != 0)
        link = &(*link)->next;
    return link;
}

int routes_publish(const route_spec *spec)
{
    route *r = route_new(spec);
    if (!r)
        return -1;
    pthread_mutex_lock(&table_lock);
    /* read under the lock: an invalidation after this makes r stale at once */
    r->version = routes_version();
    route **link = find_link(spec->label);
    route *old = *link;
    r->next = old ? old->next : NULL;
    *link = r;
    pthread_mutex_unlock(&table_lock);
    routes_unref(old);
    return 0;
}

bool routes_has(const char *label, uint64_t generation)
{
    pthread_mutex_lock(&table_lock);
    route *r = *find_link(label);
    bool has = r && r->generation == generation && routes_valid(r);
    pthread_mutex_unlock(&table_lock);
    return has;
}

route *routes_get(const char *label)
{
    pthread_mutex_lock(&table_lock);
    route *r = *find_link(label);
    if (r && routes_valid(r))
        routes_ref(r);
    else
        r = NULL;
    pthread_mutex_unlock(&table_lock);
    return r;
}

void routes_clear(void)
{
    pthread_mutex_lock(&table_lock);
    route *all = table_take_all();
    pthread_mutex_unlock(&table_lock);
    unref_list(all);
}
