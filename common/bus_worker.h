/*  bus_worker - the worker side of the bus: N threads per broker sharing one
 *  DEALER socket to it (each with whatever per-thread state the service sets
 *  up, such as its database connection), announcing READY with a credit of
 *  requests, taking the requests it holds in bursts, heartbeating,
 *  reconnecting when the broker goes silent, and dispatching requests
 *  through a static table of op → handler. A request whose deadline passed is not run (it is answered
 *  deadline_exceeded so the broker sees the worker idle again; the client got
 *  that answer from the broker already); WRITE ops whose request id was
 *  already seen are refused with duplicate_request. */
#ifndef OST_BUS_WORKER_H
#define OST_BUS_WORKER_H

#include "bus_curve.h"
#include "ops.h"
#include "ost.h"
#include "proto.h"
#include <jansson.h>
#include <stdint.h>

typedef struct {
    const char *request_id;
    const char *op;
    const char *trace;
    int64_t deadline_ms;
    void *app;          //  process-wide state given in the config
    void *thread_state; //  what thread_init returned for this thread
    const void *in;     //  the typed request (read it with BUS_IN)
    //  Who acts, for audit records: NULL for an operator on the bus (the
    //  admin role: "admin"), "admin:<sub>" when a service runs an admin op
    //  for an admin authenticated by an access token (token.admin_call).
    const char *actor;
    //  set by bus_req_fail
    ost_err_t err;
    const char *err_description;
} bus_req_t;

//  A handler returns 0 with *result set (an object it owns, handed over), or
//  -1 after calling bus_req_fail. body is never NULL (an object).
typedef int (*bus_handler_fn) (bus_req_t *req, const json_t *body, json_t **result);

typedef struct {
    const char *op;
    bus_handler_fn handler;
} bus_route_t;

//  The route of op in a service's table of nroutes routes; NULL when the
//  table has none.
const bus_route_t *bus_route_find (const bus_route_t *routes, size_t nroutes, const char *op);

//  The typed request of op sym (token_client_get for "token.client_get"),
//  checked against proto/ops.def before the handler runs: strings are
//  bounded and free of control characters, required members present.
//  Aborts when the request is of another op (a handler wired to the wrong
//  route), which the first test of that route shows.
#define BUS_IN(req, sym) ((const sym##_in_t *)bus_req_in ((req), &schema_##sym##_in))
const void *bus_req_in (const bus_req_t *req, const schema_t *schema);

//  Records the error of a failing handler; description must be a fixed
//  string (it crosses the bus: never SQL or OpenSSL text, never secrets).
void bus_req_fail (bus_req_t *req, ost_err_t err, const char *description);
//  1 when the request's deadline has passed: check it before committing.
OST_WUR int bus_req_expired (const bus_req_t *req);
//  Milliseconds left before the request's deadline, less margin_ms (time
//  kept to send the reply), for a call the handler makes to another
//  service: 0 when none is left, at most 600,000.
OST_WUR int bus_req_time_left_ms (const bus_req_t *req, int margin_ms);

typedef struct {
    const char *service;  //  e.g. "token"
    const char *endpoint; //  broker endpoint, or a comma-separated list (cfg.threads per broker)
    int threads;          //  worker threads per broker (default 1), sharing one connection to it
    //  The most requests the connection to each broker holds at once (its
    //  credit, proto/bus.md): 0 means 2 × threads; at least threads, at
    //  most BUS_CREDIT_MAX.
    size_t credit;
    int heartbeat_ms;          //  default 1000
    int liveness;              //  default 3
    size_t max_msg;            //  default BUS_DEFAULT_MAX_MSG
    const bus_route_t *routes; //  op table; every op must be in proto/ops.def for this service
    size_t nroutes;
    void *app; //  what handlers find in req->app
    //  Per-thread state: called in each worker thread before it connects, with
    //  thread_arg (app when thread_arg is NULL); a NULL return stops that
    //  thread (and bus_worker_wait reports failure).
    void *thread_arg;
    void *(*thread_init) (void *thread_arg);
    void (*thread_fini) (void *thread_arg, void *thread_state);
    //  Optional: 1 when this thread can serve now (its database reachable),
    //  0 when not. Asked before the thread announces READY and, while it is
    //  idle, every BUS_WORKER_CHECK_MS. A thread that cannot serve leaves the
    //  broker (DISCONNECT) and announces READY again once it can, so the
    //  broker counts only threads that can serve (mmi.service, /readyz) and
    //  answers at once while none can. Called in the worker thread; must not
    //  block for long.
    int (*thread_check) (void *thread_arg, void *thread_state);
    //  When set, a ROUTER bound here, served by one more thread
    //  (with its own thread_init state), answers READ ops sent straight to
    //  this process by other services (bus_client_direct), one hop instead
    //  of two through the broker. WRITE ops are refused there (unknown_op).
    const char *direct_endpoint;
    //  CURVE (NULL or disabled: plain). Outlives the worker. The threads
    //  connect to the broker as CURVE clients (its key in
    //  OSTIARY_BUS_PEERS/gateway/); the direct endpoint is a CURVE server
    //  that admits the keys of OSTIARY_BUS_PEERS and runs only what
    //  proto/access.def allows the caller's role.
    bus_curve_t *curve;
} bus_worker_cfg_t;

typedef struct _bus_worker_t bus_worker_t;

//  How often an idle thread asks thread_check, and a thread that could not
//  serve asks again, in milliseconds.
#define BUS_WORKER_CHECK_MS 250

//  Validates the table, binds direct_endpoint and starts the threads. NULL
//  on a bad table or an endpoint that cannot be bound.
OST_WUR bus_worker_t *bus_worker_new (const bus_worker_cfg_t *cfg);
//  Blocks until SIGINT/SIGTERM (zsys_interrupted) or bus_worker_stop; returns
//  0 on a clean stop, -1 when a thread failed to start.
OST_WUR int bus_worker_wait (bus_worker_t *self);
void bus_worker_stop (bus_worker_t *self);
//  The drain: stops taking requests (each idle thread sends DISCONNECT at
//  once; a busy one after the reply to its request) and waits up to
//  timeout_ms for the requests in flight to finish. 0 when every thread has
//  ended (bus_worker_destroy then returns at once), -1 when some are still
//  running a request at the deadline (the caller exits without destroying).
OST_WUR int bus_worker_drain (bus_worker_t *self, int timeout_ms);
//  Stops (sending DISCONNECT), joins the threads and frees. Idempotent.
void bus_worker_destroy (bus_worker_t **self_p);

#endif
