/*  bus_pool - bus clients shared by many threads, made only when needed.
 *  A thread takes a client for a call and gives it back after; a client is
 *  made when every one is in use, so the pool holds about as many as are in
 *  use at once, not one per thread. The last one given back is the first
 *  taken again (its socket and buffers are the ones still warm), so after a
 *  burst the extra clients sit unused at the bottom: one idle longer than
 *  idle_ms is destroyed at the next give. A client is used by one thread at
 *  a time: the pool's lock hands it over. */
#ifndef OST_BUS_POOL_H
#define OST_BUS_POOL_H

#include "bus_client.h"
#include "ost.h"

typedef struct _bus_pool_t bus_pool_t;

//  Clients to endpoint (bus_client_new's arguments; curve must outlive the
//  pool), at most max_clients of them (> 0); one given back more than
//  idle_ms (>= 0) before another is given back is destroyed then (the one
//  given back last always stays). NULL on a bad argument or no memory; a
//  client that cannot be made shows at bus_pool_take.
OST_WUR bus_pool_t *bus_pool_new (const char *endpoint, size_t max_msg, const bus_curve_t *curve,
                                  size_t max_clients, long idle_ms);
//  Destroys the clients given back; every client must have been given back.
void bus_pool_destroy (bus_pool_t **self_p);

//  A client of the pool, for this thread until bus_pool_give: the one given
//  back last, else a new one. NULL when none can be made (logged) or
//  max_clients are in use.
OST_WUR bus_client_t *bus_pool_take (bus_pool_t *self);
//  Gives client back: exactly one taken from self, once (NULL is ignored).
void bus_pool_give (bus_pool_t *self, bus_client_t *client);

//  Clients made so far and not destroyed (in use and idle).
size_t bus_pool_size (bus_pool_t *self);

#endif
