/*  connlimit - counts of open connections per client address, with a cap:
 *  the gateway refuses a connection that would take an address above it.
 *  Thread-safe (one mutex); an address is forgotten when its count returns
 *  to 0, so memory follows the connections open now. */
#ifndef OST_CONNLIMIT_H
#define OST_CONNLIMIT_H

#include "cidr.h"
#include "ost.h"
#include <stddef.h>

typedef struct _connlimit_t connlimit_t;

//  A table allowing max_per_addr connections per address (0 = no cap,
//  counts kept all the same). NULL on allocation failure.
OST_WUR connlimit_t *connlimit_new (size_t max_per_addr);
void connlimit_destroy (connlimit_t **self_p);
//  Counts one more connection of addr. 0 counted; -1 not counted: the
//  address is at the cap, or no memory for a new address.
OST_WUR int connlimit_acquire (connlimit_t *self, const cidr_addr_t *addr);
//  One connection of addr ended. An address without connections is left
//  as it is (a release never takes a count below 0).
void connlimit_release (connlimit_t *self, const cidr_addr_t *addr);
//  Open connections of addr now.
size_t connlimit_count (connlimit_t *self, const cidr_addr_t *addr);
//  Addresses with at least one open connection.
size_t connlimit_addresses (connlimit_t *self);

#endif
