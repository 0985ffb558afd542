/*  connlimit - open connections per address. See connlimit.h. */
#include "connlimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_BUCKETS 1024

typedef struct s_entry {
    struct s_entry *next;
    cidr_addr_t addr;
    size_t count;
} s_entry_t;

struct _connlimit_t {
    pthread_mutex_t lock;
    size_t max_per_addr;
    size_t addresses;
    s_entry_t *buckets[S_BUCKETS];
};

connlimit_t *
connlimit_new (size_t max_per_addr)
{
    connlimit_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (pthread_mutex_init (&self->lock, NULL) != 0) {
        free (self);
        return NULL;
    }
    self->max_per_addr = max_per_addr;
    return self;
}

void
connlimit_destroy (connlimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    connlimit_t *self = *self_p;
    for (size_t i = 0; i < S_BUCKETS; i++)
        for (s_entry_t *e = self->buckets[i], *next; e; e = next) {
            next = e->next;
            free (e);
        }
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  FNV-1a of the address.
static size_t
s_bucket (const cidr_addr_t *addr)
{
    uint32_t h = 2166136261u ^ (uint32_t)addr->v6;
    for (size_t i = 0; i < (addr->v6 ? 16u : 4u); i++) {
        h ^= addr->bytes[i];
        h *= 16777619u;
    }
    return h % S_BUCKETS;
}

//  The entry of addr and the link that points to it; lock held.
static s_entry_t **
s_find (connlimit_t *self, const cidr_addr_t *addr)
{
    s_entry_t **link = &self->buckets[s_bucket (addr)];
    while (*link && !cidr_addr_equal (&(*link)->addr, addr))
        link = &(*link)->next;
    return link;
}

int
connlimit_acquire (connlimit_t *self, const cidr_addr_t *addr)
{
    if (!self || !addr)
        return -1;
    int rc = 0;
    pthread_mutex_lock (&self->lock);
    s_entry_t **link = s_find (self, addr);
    if (*link) {
        if (self->max_per_addr && (*link)->count >= self->max_per_addr)
            rc = -1;
        else
            (*link)->count++;
    } else {
        s_entry_t *e = calloc (1, sizeof *e);
        if (!e)
            rc = -1;
        else {
            e->addr = *addr;
            e->count = 1;
            *link = e;
            self->addresses++;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

void
connlimit_release (connlimit_t *self, const cidr_addr_t *addr)
{
    if (!self || !addr)
        return;
    pthread_mutex_lock (&self->lock);
    s_entry_t **link = s_find (self, addr);
    s_entry_t *e = *link;
    if (e && --e->count == 0) {
        *link = e->next;
        free (e);
        self->addresses--;
    }
    pthread_mutex_unlock (&self->lock);
}

size_t
connlimit_count (connlimit_t *self, const cidr_addr_t *addr)
{
    if (!self || !addr)
        return 0;
    pthread_mutex_lock (&self->lock);
    s_entry_t *e = *s_find (self, addr);
    size_t n = e ? e->count : 0;
    pthread_mutex_unlock (&self->lock);
    return n;
}

size_t
connlimit_addresses (connlimit_t *self)
{
    if (!self)
        return 0;
    pthread_mutex_lock (&self->lock);
    size_t n = self->addresses;
    pthread_mutex_unlock (&self->lock);
    return n;
}
