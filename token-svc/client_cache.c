/*  client_cache - short-lived copies of client registrations. See
 *  client_cache.h.
 *
 *  A direct-mapped table: a client id hashes to one slot, and a newer client
 *  that hashes there replaces the older one. A deployment has few clients
 *  that call the token endpoint often, so a small table holds them; a
 *  collision only costs the SQL statement the cache saves. Entries are deep
 *  copies (jansson values are not shared between threads), and a slot's
 *  secret hash is wiped when it is replaced or forgotten. */
#include "client_cache.h"

#include "secure.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS 128

typedef struct {
    int used;
    int64_t expires_ms;
    token_client_t client;
} s_slot_t;

struct _client_cache_t {
    long ttl_ms;
    pthread_mutex_t lock;
    s_slot_t slots[CACHE_SLOTS];
};

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  FNV-1a of the client id.
static size_t
s_slot_of (const char *client_id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)client_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % CACHE_SLOTS;
}

//  A deep copy of from into *to. 0 ok, -1 out of memory (*to cleared).
static int
s_copy (const token_client_t *from, token_client_t *to)
{
    *to = *from;
    to->name = from->name ? strdup (from->name) : NULL;
    to->redirect_uris = json_deep_copy (from->redirect_uris);
    to->grant_types = json_deep_copy (from->grant_types);
    to->response_types = json_deep_copy (from->response_types);
    to->scopes = json_deep_copy (from->scopes);
    to->web_origins = json_deep_copy (from->web_origins);
    to->post_logout_uris = json_deep_copy (from->post_logout_uris);
    to->backchannel_uri = from->backchannel_uri ? strdup (from->backchannel_uri) : NULL;
    to->frontchannel_uri = from->frontchannel_uri ? strdup (from->frontchannel_uri) : NULL;
    if ((from->name && !to->name) || !to->redirect_uris || !to->grant_types || !to->response_types ||
        !to->scopes || !to->web_origins || !to->post_logout_uris ||
        (from->backchannel_uri && !to->backchannel_uri) ||
        (from->frontchannel_uri && !to->frontchannel_uri)) {
        token_client_clear (to);
        return -1;
    }
    return 0;
}

client_cache_t *
client_cache_new (long ttl_ms)
{
    client_cache_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ttl_ms = ttl_ms > 0 ? ttl_ms : 0;
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
client_cache_destroy (client_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    client_cache_t *self = *self_p;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        token_client_clear (&self->slots[i].client);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
client_cache_get (client_cache_t *self, const char *client_id, token_client_t *client)
{
    memset (client, 0, sizeof *client);
    if (!self || self->ttl_ms == 0)
        return 0;
    int hit = 0;
    pthread_mutex_lock (&self->lock);
    s_slot_t *slot = &self->slots[s_slot_of (client_id)];
    if (slot->used && strcmp (slot->client.client_id, client_id) == 0) {
        if (slot->expires_ms > s_now_ms ())
            hit = s_copy (&slot->client, client) == 0;
        else {
            token_client_clear (&slot->client);
            slot->used = 0;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return hit;
}

void
client_cache_put (client_cache_t *self, const token_client_t *client)
{
    if (!self || self->ttl_ms == 0)
        return;
    token_client_t copy;
    if (s_copy (client, &copy))
        return;
    pthread_mutex_lock (&self->lock);
    s_slot_t *slot = &self->slots[s_slot_of (client->client_id)];
    token_client_clear (&slot->client);
    slot->client = copy;
    slot->used = 1;
    slot->expires_ms = s_now_ms () + self->ttl_ms;
    pthread_mutex_unlock (&self->lock);
    secure_wipe (&copy, sizeof copy);
}

void
client_cache_forget (client_cache_t *self, const char *client_id)
{
    if (!self || !client_id)
        return;
    pthread_mutex_lock (&self->lock);
    s_slot_t *slot = &self->slots[s_slot_of (client_id)];
    if (slot->used && strcmp (slot->client.client_id, client_id) == 0) {
        token_client_clear (&slot->client);
        slot->used = 0;
    }
    pthread_mutex_unlock (&self->lock);
}
