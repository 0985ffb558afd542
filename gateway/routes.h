/*  routes - the gateway's HTTP routes: one static table of method + exact
 *  path → handler (routes.c), and the handlers it points to, each defined in
 *  the file of its concern. A handler answers through the helpers of http.h
 *  and returns the status it sent. */
#ifndef OST_GW_ROUTES_H
#define OST_GW_ROUTES_H

#include "http.h"

typedef int (*route_fn) (gw_req_t *req);

//  Answers req: refuses oversized requests, finds the route for method and
//  exact path (unknown path → 404, known path but other method → 405 with
//  Allow) and calls its handler. Returns the status sent.
int routes_dispatch (gw_req_t *req);
//  Number of routes, and the metrics/log name of route i ("none" for -1 or
//  out of range).
size_t routes_count (void);
const char *routes_name (int route);
//  1 when route i is a probe (health, metrics) whose successes are logged at
//  debug level only.
int routes_quiet (int route);

//  discovery.c: GET /.well-known/openid-configuration
int discovery_get (gw_req_t *req);
//  jwks.c: GET /jwks
int jwks_get (gw_req_t *req);
//  health.c: GET /healthz (the process answers) and GET /readyz (every
//  service has a live worker)
int health_live (gw_req_t *req);
int health_ready (gw_req_t *req);
//  metrics.c: GET /metrics
int metrics_get (gw_req_t *req);

#endif
