/*  broker - the Majordomo-style broker of the Ostiary bus, run as a czmq actor
 *  inside the gateway. One ROUTER socket; per service its workers, each
 *  holding up to its credit of requests (READY), and a bounded queue of
 *  waiting requests; heartbeats both ways;
 *  `mmi.service` answered by the broker itself; requests past their deadline or
 *  whose worker died answered by the broker. See proto/bus.md. */
#ifndef OST_BROKER_H
#define OST_BROKER_H

#include "bus_curve.h"
#include "ost.h"
#include <czmq.h>
#include <stddef.h>

//  The endpoint the gateway's own bus clients use. The broker lives
//  in the gateway, so its HTTP threads reach it in-process: no TCP, no
//  ZeroMQ I/O thread, on the two hops of every HTTP request that needs a
//  service. Services still connect to `endpoint`.
#define BROKER_LOCAL_ENDPOINT "inproc://ostiary-broker"

typedef struct {
    const char *endpoint;       //  bind endpoint, e.g. tcp://127.0.0.1:5555 or inproc://bus
    const char *local_endpoint; //  a second inproc:// endpoint bound too, or NULL
    int heartbeat_ms;           //  heartbeat interval (default 1000)
    int liveness;               //  missed heartbeats before a worker is dropped (default 3)
    size_t queue_max;           //  waiting requests per service (default 1024)
    size_t max_msg;             //  ZMQ_MAXMSGSIZE of the socket (default BUS_DEFAULT_MAX_MSG)
    //  CURVE (NULL or disabled: plain, every peer trusted). Outlives the
    //  broker. Peers are admitted by their key in OSTIARY_BUS_PEERS/<role>/,
    //  and each message is checked against proto/access.def.
    bus_curve_t *curve;
} broker_cfg_t;

//  Distinct (caller key, op) pairs of refused calls a summary itemises.
#define BROKER_REFUSALS_MAX 64

//  Binds and starts the broker. NULL when the endpoint cannot be bound.
//  Stop it with zactor_destroy. The actor answers the command "STATS" with
//  one string frame of JSON counters (per service worker threads, idle
//  ones, requests in flight and queued; served,
//  expired, rejected), and "REFUSALS" with two frames: "REFUSALS" and the
//  JSON summary of the calls it refused (proto/access.def) since the last
//  REFUSALS, {"refusals": [{"role", "key", "op", "count", "first", "last"}],
//  "dropped": n}, which the gateway sends to token.audit_refusals.
OST_WUR zactor_t *broker_new (const broker_cfg_t *cfg);

#endif
