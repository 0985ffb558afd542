/*  metrics - the gateway's counters, rendered for Prometheus at GET /metrics
 *  (text exposition format 0.0.4). Counting is lock-free (atomics) so that it
 *  costs the request path nothing; the broker's own counters are copied in
 *  by the main thread, which owns the broker actor. */
#ifndef OST_GW_METRICS_H
#define OST_GW_METRICS_H

#include "ost.h"
#include "proto.h"
#include <stddef.h>

typedef struct _metrics_t metrics_t;

//  Counters for route_count routes (plus the unrouted requests), labelled
//  with route_name (route) (-1: the unrouted). NULL on allocation failure.
metrics_t *metrics_new (size_t route_count, const char *(*route_name) (int route));
void metrics_destroy (metrics_t **self_p);

//  One answered request: route index (-1 unrouted), status sent, duration.
void metrics_request (metrics_t *self, int route, int status, double seconds);
//  One bus call that ended in an error.
void metrics_bus_error (metrics_t *self, ost_err_t err);
//  One refresh of the JWKS cache from keys-svc.
void metrics_jwks_refresh (metrics_t *self, int ok);
//  The broker's latest STATS answer (JSON text, copied); NULL forgets it.
void metrics_set_broker_stats (metrics_t *self, const char *json);
//  Every counter in Prometheus' text exposition format 0.0.4: a new string
//  of *len bytes (caller frees), NULL when out of memory.
OST_WUR char *metrics_render (metrics_t *self, size_t *len);

#endif
