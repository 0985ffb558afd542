/*  admin_call - what the services' admin envelopes (token.admin_call,
 *  flow.admin_call, keys.admin_call; proto/bus.md, "Acting for an admin")
 *  share: which inner op an envelope may run, and running it for an admin
 *  as the worker runs a request of the admin role. Each service verifies
 *  the admin's token its own way between the two calls. */
#ifndef OST_ADMIN_CALL_H
#define OST_ADMIN_CALL_H

#include "bus_worker.h"
#include "ost.h"
#include "proto.h"

#include <jansson.h>

//  The description of an envelope asked for an op it may not run.
#define ADMIN_CALL_DESC_FORBIDDEN "the admin role may not call this op"

//  The op an envelope of service may run: op is an op of service in
//  proto/ops.def, proto/access.def allows the admin role to call it, and
//  the service's table (routes) has its handler, stored in *handler. NULL
//  otherwise (the envelope answers forbidden before it looks at the
//  token).
OST_WUR const op_def_t *admin_call_op (const bus_route_t *routes, size_t nroutes, const char *service,
                                       const char *op, bus_handler_fn *handler);

//  Runs def's handler for the admin sub (the actor admin:<sub> of its audit
//  events) with body (NULL: {}) checked against def's request schema, as
//  the worker checks every request. 0 with *result {"result": the op's
//  result}; -1 after failing req with invalid_request naming the member at
//  fault, or with the inner op's own error.
OST_WUR int admin_call_run (bus_req_t *req, const op_def_t *def, bus_handler_fn handler, const char *sub,
                            const json_t *body, json_t **result);

#endif
