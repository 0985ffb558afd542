/*  bus_client - a synchronous client of the bus, used by one thread at a
 *  time (it may pass to another thread under a lock, as bus_pool hands it).
 *  Each call gets a fresh request id and an absolute deadline; replies that do
 *  not match the pending request (late answers to an earlier call) are
 *  dropped. Only READ ops (proto/ops.def) are resent, and only while the
 *  deadline allows; WRITE ops are sent once. */
#ifndef OST_BUS_CLIENT_H
#define OST_BUS_CLIENT_H

#include "bus_curve.h"
#include "ost.h"
#include "proto.h"
#include <jansson.h>

typedef struct _bus_client_t bus_client_t;

typedef struct {
    ost_err_t err;         //  table entry of the code (SERVER_ERROR for an unknown code)
    char code[48];         //  wire code as received
    char description[256]; //  fixed text written by the answering side
    int http_status;
    int retry_after; //  seconds, 0 = none
} bus_error_t;

//  Connects a DEALER to the broker at endpoint. max_msg bounds every part.
//  curve (NULL: plain) makes it a CURVE client with the process's key, of
//  the broker's key in OSTIARY_BUS_PEERS/gateway/ (direct endpoints: of the
//  serving role's keys); it must outlive the client.
OST_WUR bus_client_t *bus_client_new (const char *endpoint, size_t max_msg, const bus_curve_t *curve);
void bus_client_destroy (bus_client_t **self_p);

//  spec is "service=endpoint[,service=endpoint...]" (a service's
//  OSTIARY_BUS_DIRECT_BIND; the same service may be named more than once,
//  its processes then take turns). READ ops of those services are sent
//  straight to one of their connected endpoints, one hop instead of two
//  through the broker; while none is connected they go through the broker.
//  WRITE ops always go through the broker. With self NULL the spec is only
//  checked. 0 ok (an empty spec too), -1 malformed (an unknown service, an
//  endpoint that is not tcp://, ipc:// or inproc://) or not connectable.
//  A call that finds no direct endpoint connected, gets no direct answer
//  within 250 ms (or half the time left), or gets temporarily_unavailable
//  from it goes through the broker under the same request id; after the last
//  two the service's direct endpoints rest for 5 s (proto/bus.md).
OST_WUR int bus_client_direct (bus_client_t *self, const char *spec);

//  Trace field sent with the next calls instead of the calling thread's
//  trace context (trace_current, as a traceparent: what is sent while none is
//  set here); NULL clears. It stays with the client, whichever thread calls
//  next: a pooled client (bus_pool) is never given one.
void bus_client_set_trace (bus_client_t *self, const char *trace);

//  Calls op (its service comes from proto/ops.def) with body (an object; not
//  consumed; NULL = {}). timeout_ms <= 0 uses the op's default. On success
//  returns 0 and *result (caller json_decref()s); otherwise -1 and *error.
OST_WUR int bus_client_call (bus_client_t *self, const char *op, const json_t *body, int timeout_ms,
                             json_t **result, bus_error_t *error);
//  Fills *error from the table entry of err with a description.
void bus_error_set (bus_error_t *error, ost_err_t err, const char *description);

//  Asks the broker (mmi.service) whether service has at least one live worker:
//  1 yes, 0 no, -1 no answer within timeout_ms.
OST_WUR int bus_client_service_ready (bus_client_t *self, const char *service, int timeout_ms);

#endif
