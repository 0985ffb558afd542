/*  conngate - the cap on open HTTP connections per client address
 *  (OSTIARY_HTTP_MAX_CONN_PER_IP), enforced as connections are accepted.
 *
 *  civetweb gives each connection to one worker thread, which first reads
 *  the request head; none of its callbacks can refuse a connection before
 *  that read, so a client over the cap would still hold a thread until the
 *  head timeout. The count is therefore taken where civetweb accepts: this
 *  module defines accept(2) for the gateway process, which the dynamic
 *  linker binds civetweb's call to (the executable's symbols come first).
 *  On civetweb's listening port a connection that would take its address
 *  above the cap is answered a fixed 503 with Retry-After and closed at
 *  once, and civetweb never sees it; every other accept(2) of the process
 *  (libzmq's) is passed through untouched. civetweb's connection_close
 *  callback gives the slot back (conngate_release).
 *
 *  Addresses inside OSTIARY_TRUSTED_PROXIES are not capped: a proxy
 *  carries many clients. One gate per process: the gateway has one HTTP
 *  server. */
#ifndef OST_GW_CONNGATE_H
#define OST_GW_CONNGATE_H

#include "cidr.h"
#include "ost.h"
#include <stddef.h>

//  Starts counting connections accepted on TCP port `port`, at most
//  max_per_addr per address (0 = count, never refuse); trusted (may be
//  NULL, not owned, must outlive the gate) is exempt. Call before civetweb
//  starts listening. 0, or -1 (no memory, or a gate is open already).
OST_WUR int conngate_open (unsigned port, size_t max_per_addr, const cidr_set_t *trusted);
//  Stops counting; call after civetweb has stopped.
void conngate_close (void);
//  A connection from remote_addr (civetweb's text of the peer address)
//  ended.
void conngate_release (const char *remote_addr);

#endif
