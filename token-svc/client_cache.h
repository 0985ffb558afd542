/*  client_cache - the registrations of the clients that authenticate
 *  at the token, revocation and introspection endpoints, kept in memory for a
 *  short time (OSTIARY_CLIENT_CACHE_MS) so that a busy client costs no SQL
 *  statement per request. Shared by the worker threads of one token-svc
 *  process (it locks itself).
 *
 *  Staleness, bounded: this process forgets a client at once when it removes
 *  it, changes it or rotates its secret (token.client_remove, token.client_update,
 *  token.client_rotate_secret);
 *  another replica sees such a change after at most the time to live. A
 *  removed client or a replaced secret therefore works for at most that long
 *  on other replicas; 0 turns the cache off. */
#ifndef TOKEN_CLIENT_CACHE_H
#define TOKEN_CLIENT_CACHE_H

#include "ost.h"
#include "token_store.h"

typedef struct _client_cache_t client_cache_t;

//  A cache whose entries live ttl_ms milliseconds (0: it never keeps one).
//  NULL when out of memory.
client_cache_t *client_cache_new (long ttl_ms);
void client_cache_destroy (client_cache_t **self_p);
//  1 with *client a copy of the cached registration (token_client_clear it),
//  0 when there is none younger than the time to live (*client zeroed).
int client_cache_get (client_cache_t *self, const char *client_id, token_client_t *client);
//  Keeps a copy of client (best effort: nothing happens when out of memory).
void client_cache_put (client_cache_t *self, const token_client_t *client);
//  Forgets client_id now.
void client_cache_forget (client_cache_t *self, const char *client_id);

#endif
