/*  bus_worker - worker threads of a bus service. See bus_worker.h and
 *  proto/bus.md ("Credit"). The threads serving one broker share one DEALER
 *  socket (a group): READY announces their number and the credit, the
 *  requests received wait in the group's queue, oldest first, and an idle
 *  thread takes the oldest. The socket is used under the group's lock only.
 *  Every idle thread waits, without the lock, in an epoll of its own on the
 *  socket's ZMQ_FD and on the group's work eventfd, both EPOLLEXCLUSIVE: a
 *  message wakes one idle thread, not all, and no thread has to be woken to
 *  watch the socket when another takes a request. The thread that drains a
 *  burst takes one request and signals the work eventfd once per request
 *  left, so the burst is shared among the idle threads; a thread that
 *  finishes sends its reply and drains the socket itself, without sleeping.
 *  Whoever uses the socket drains it before letting go of the lock: ZMQ_FD
 *  signals only a socket found empty, so a message left in it would wake
 *  nobody. When the broker has been silent for `liveness` intervals (or told
 *  the group to go) the socket is closed and connected again. So it is when
 *  the connection under the socket dropped, which a monitor of the socket
 *  tells (libzmq would connect it again by itself, to a broker that never
 *  handed us what we hold): what the group holds and has not started is
 *  then dropped, never run (proto/bus.md, "Credit"). */
#include "bus_worker.h"
#include "bus_msg.h"
#include "log.h"
#include "metrics.h"
#include "otlp.h"
#include "proto.h"
#include "trace.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

//  Request ids of WRITE ops seen recently, shared by the threads of a process,
//  so that a duplicate never applies a change twice.
#define SEEN_SLOTS 4096

//  How often at most a group reads its socket's connection events.
#define LOST_CHECK_MS 1

typedef struct _bus_worker_t bus_worker_t;

//  The threads serving one broker and their socket. Every member below
//  `lock` is guarded by it (the socket too: ZeroMQ sockets are not
//  thread-safe, the lock is the memory barrier it asks for).
typedef struct {
    bus_worker_t *owner;
    char endpoint[BUS_ENDPOINT_MAX + 1]; //  the one broker this group serves
    pthread_mutex_t lock;
    int work_fd;             //  eventfd (semaphore): one count per idle thread wanted for the queue
    zsock_t *sock;           //  NULL while not connected
    zsock_t *monitor;        //  PAIR receiving sock's connection events (s_group_lost)
    int failed_handshakes;   //  handshake failures whose DISCONNECTED event is still to come
    uint64_t generation;     //  connections made; a reply goes only to the one its request came on
    zlist_t *queue;          //  bus_msg_t REQUESTs received and not started, oldest first
    int waiting;             //  idle threads in epoll_wait
    int running;             //  threads running a request
    int able;                //  threads whose thread_check said yes
    int set_up;              //  threads past their setup (connection, prepared statements)
    int liveness;            //  heartbeats left before the broker counts as gone
    int64_t next_heartbeat;  //  when to send the next HEARTBEAT
    int64_t next_lost_check; //  when to read the monitor next (s_group_lost)
    int64_t reconnect_at;    //  no connection before then
    int unreachable;         //  the last connection attempt failed (logged once)
    int cannot_serve_logged; //  "no thread can serve" logged for this outage
    int acked;               //  the broker acknowledged the credit
    int old_broker_logged;   //  an older broker (no acknowledgement) was logged
} s_group_t;

typedef struct {
    bus_worker_t *owner;
    s_group_t *group; //  NULL for the direct endpoint's thread
    pthread_t thread;
    int started;
    atomic_int ended; //  the thread function returned (bus_worker_drain)
    atomic_int busy;  //  running a request now
} s_thread_t;

struct _bus_worker_t {
    bus_worker_cfg_t cfg;
    s_group_t *groups; //  one per broker endpoint
    int ngroups;
    s_thread_t *threads;
    int nthreads;         //  cfg.threads for each broker endpoint
    s_thread_t direct;    //  the thread serving direct_endpoint, if any
    zsock_t *direct_sock; //  its ROUTER (bound in bus_worker_new)
    int direct_serving;   //  bus_curve_serve was called for it
    atomic_int stop;
    atomic_int failed;
    pthread_mutex_t seen_lock;
    char (*seen)[BUS_MAX_RID + 1];
    uint64_t *seen_hash; //  FNV-1a of each slot's id, compared first
    size_t seen_next;
};

void
bus_req_fail (bus_req_t *req, ost_err_t err, const char *description)
{
    req->err = err;
    req->err_description = description;
}

const void *
bus_req_in (const bus_req_t *req, const schema_t *schema)
{
    const op_def_t *def = proto_op (req->op);
    if (!def || def->in != schema || !req->in) {
        log_error ("bus worker: a handler read the request of %s as another op's", req->op);
        abort ();
    }
    return req->in;
}

int
bus_req_expired (const bus_req_t *req)
{
    return bus_now_ms () >= req->deadline_ms;
}

int
bus_req_time_left_ms (const bus_req_t *req, int margin_ms)
{
    int64_t left = req->deadline_ms - bus_now_ms () - margin_ms;
    if (left <= 0)
        return 0;
    return left > 600000 ? 600000 : (int)left;
}

static uint64_t
s_rid_hash (const char *rid)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)rid; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

//  1 when rid was already seen (and records it otherwise). The
//  slots' hashes are scanned first (a tight loop over 32 KB), the strings
//  compared only where a hash matches, which keeps this lock short.
static int
s_seen_before (bus_worker_t *self, const char *rid)
{
    int seen = 0;
    uint64_t h = s_rid_hash (rid);
    pthread_mutex_lock (&self->seen_lock);
    for (size_t i = 0; i < SEEN_SLOTS; i++)
        if (self->seen_hash[i] == h && self->seen[i][0] && strcmp (self->seen[i], rid) == 0) {
            seen = 1;
            break;
        }
    if (!seen) {
        snprintf (self->seen[self->seen_next], BUS_MAX_RID + 1, "%s", rid);
        self->seen_hash[self->seen_next] = s_rid_hash (self->seen[self->seen_next]);
        self->seen_next = (self->seen_next + 1) % SEEN_SLOTS;
    }
    pthread_mutex_unlock (&self->seen_lock);
    return seen;
}

const bus_route_t *
bus_route_find (const bus_route_t *routes, size_t nroutes, const char *op)
{
    for (size_t i = 0; routes && op && i < nroutes; i++)
        if (strcmp (routes[i].op, op) == 0)
            return &routes[i];
    return NULL;
}

static const bus_route_t *
s_route (bus_worker_t *self, const char *op)
{
    return bus_route_find (self->cfg.routes, self->cfg.nroutes, op);
}

static zsock_t *
s_connect (bus_worker_t *self, const char *endpoint, zsock_t **monitor_p)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    //  The connection events, watched before the first connection is made.
    static atomic_uint_fast64_t monitors;
    char monitor_endpoint[64];
    snprintf (monitor_endpoint, sizeof monitor_endpoint, "inproc://bus-worker-monitor-%llu",
              (unsigned long long)atomic_fetch_add (&monitors, 1));
    if (zmq_socket_monitor (zsock_resolve (sock), monitor_endpoint,
                            ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
        !(*monitor_p = zsock_new (ZMQ_PAIR))) {
        zsock_destroy (&sock);
        return NULL;
    }
    //  libzmq's I/O thread sends the events blocking: no bound on what
    //  waits for us (a few events per connection made or lost).
    zsock_set_rcvhwm (*monitor_p, 0);
    if (zsock_connect (*monitor_p, "%s", monitor_endpoint) != 0) {
        zsock_destroy (monitor_p);
        zsock_destroy (&sock);
        return NULL;
    }
    zsock_set_maxmsgsize (sock, (int)bus_msg_wire_max (self->cfg.max_msg));
    zsock_set_linger (sock, 0);
    //  A send never blocks the thread for good: a DEALER with no usable
    //  pipe (an inproc endpoint being released and bound again, say) waits
    //  at most a heartbeat, then the connection is made again.
    zsock_set_sndtimeo (sock, self->cfg.heartbeat_ms);
    //  With more than one broker key (one being replaced), the connections
    //  to keys the broker does not hold never complete: IMMEDIATE keeps
    //  READY and every later message off them.
    zsock_set_immediate (sock, 1);
    if (bus_curve_connect (self->cfg.curve, sock, endpoint, BUS_ROLE_GATEWAY) < 0) {
        zmq_socket_monitor (zsock_resolve (sock), NULL, 0);
        zsock_destroy (&sock);
        zsock_destroy (monitor_p);
        return NULL;
    }
    //  What this connection holds (proto/bus.md, "Credit").
    bus_msg_t *ready = bus_msg_new (BUS_READY);
    json_t *credit = json_pack ("{s:i,s:i}", "credit", (int)self->cfg.credit, "threads", self->cfg.threads);
    if (!ready || !credit || bus_msg_set_service (ready, self->cfg.service) ||
        bus_msg_set_body_json (ready, credit) || bus_msg_send (&ready, sock, NULL)) {
        bus_msg_destroy (&ready);
        json_decref (credit);
        zmq_socket_monitor (zsock_resolve (sock), NULL, 0);
        zsock_destroy (&sock);
        zsock_destroy (monitor_p);
        return NULL;
    }
    json_decref (credit);
    return sock;
}

static void
s_send_control (zsock_t *sock, bus_type_t type)
{
    bus_msg_t *msg = bus_msg_new (type);
    if (!msg || bus_msg_send (&msg, sock, NULL))
        log_warn ("bus worker: could not send control message");
    bus_msg_destroy (&msg);
}

//  How long a closing socket keeps trying to deliver its DISCONNECT.
#define LEAVE_LINGER_MS 500

//  Tells the broker this thread leaves, then closes the socket. Sent only
//  between requests (proto/bus.md): the broker hands a request it gave us
//  meanwhile to another worker, as nothing we receive from now on runs. The
//  linger lets the DISCONNECT out before the close (linger is 0 otherwise).
static void
s_leave (zsock_t **sock_p)
{
    if (!*sock_p)
        return;
    s_send_control (*sock_p, BUS_DISCONNECT);
    zsock_set_linger (*sock_p, LEAVE_LINGER_MS);
    zsock_destroy (sock_p);
}

//  1 when the thread can serve now (thread_check, or no check at all).
static int
s_can_serve (bus_worker_t *self, void *state)
{
    return !self->cfg.thread_check || self->cfg.thread_check (self->cfg.thread_arg, state);
}

//  Answers request rid with an error (to routing_id on a ROUTER).
static void
s_send_error (zsock_t *sock, zframe_t *routing_id, const char *rid, ost_err_t err, const char *description)
{
    bus_msg_t *reply = bus_msg_new (BUS_REPLY);
    if (!reply || bus_msg_set_request_id (reply, rid) || bus_msg_set_error (reply, err, description) ||
        bus_msg_send (&reply, sock, routing_id))
        log_warn ("bus worker: could not send a reply");
    bus_msg_destroy (&reply);
}

//  The request body as the op's typed request (proto/ops.def's IN lines),
//  zeroed and filled; NULL after failing req with invalid_request and a
//  description (in why) that names the member at fault.
static void *
s_unpack (const op_def_t *def, const json_t *body, bus_req_t *req, char *why, size_t why_size)
{
    void *in = calloc (1, def->in->size);
    if (!in) {
        bus_req_fail (req, OST_ERR_SERVER_ERROR, "out of memory");
        return NULL;
    }
    char what[SCHEMA_WHY_MAX];
    if (schema_unpack (def->in, body, in, what, sizeof what) != 0) {
        snprintf (why, why_size, "invalid request: %s", what);
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, why);
        free (in);
        return NULL;
    }
    return in;
}

#ifndef NDEBUG
//  Errors every op may answer without listing them (proto/bus.md).
static int
s_common_error (ost_err_t err)
{
    return err == OST_ERR_INVALID_REQUEST || err == OST_ERR_SERVER_ERROR ||
           err == OST_ERR_TEMPORARILY_UNAVAILABLE || err == OST_ERR_DEADLINE_EXCEEDED ||
           err == OST_ERR_DUPLICATE_REQUEST || err == OST_ERR_UNKNOWN_OP || err == OST_ERR_FORBIDDEN;
}

//  Builds with assertions hold every handler to proto/ops.def: a result
//  that does not fit the op's OUT lines is logged and replaced by
//  server_error, and an error the op does not list is logged, so that the
//  tests catch both. Returns the handler's rc, -1 after such a replacement.
static int
s_check_reply (const op_def_t *def, bus_req_t *req, int rc, json_t **result, char *why, size_t why_size)
{
    if (rc == 0) {
        char what[SCHEMA_WHY_MAX];
        if (schema_unpack (def->out, *result, NULL, what, sizeof what) != 0) {
            log_error ("bus worker: the result of %s does not match proto/ops.def: %s", def->name, what);
            snprintf (why, why_size, "the result does not match proto/ops.def: %s", what);
            json_decref (*result);
            *result = NULL;
            bus_req_fail (req, OST_ERR_SERVER_ERROR, why);
            return -1;
        }
        return 0;
    }
    if (s_common_error (req->err))
        return rc;
    for (const op_err_doc_t *e = def->errs; e->err != OST_ERR__COUNT; e++)
        if (e->err == req->err)
            return rc;
    log_error ("bus worker: %s answered %s, which proto/ops.def does not list for it", def->name,
               proto_err (req->err)->code);
    return rc;
}
#endif

//  Runs one request (direct: it came to the direct endpoint) and returns
//  its reply, NULL when none could be made. A request past its deadline is
//  not run: its reply is deadline_exceeded.
static bus_msg_t *
s_serve (bus_worker_t *self, int direct, bus_msg_t *msg, void *thread_state)
{
    double started = metrics_now ();
    bus_req_t req = {
        .request_id = bus_msg_request_id (msg),
        .op = bus_msg_op (msg),
        .trace = bus_msg_trace (msg),
        .deadline_ms = bus_msg_deadline (msg),
        .app = self->cfg.app,
        .thread_state = thread_state,
        .err = OST_ERR_SERVER_ERROR,
        .err_description = NULL,
    };
    //  The op's span is a child of the caller's (the trace field holds its
    //  traceparent, proto/bus.md); a request without a valid one starts a
    //  trace. The thread's trace context is this span while the op runs:
    //  its log lines, its statements and the calls it makes carry it.
    trace_ctx_t caller, ctx;
    int has_caller = trace_parse (bus_msg_trace (msg), &caller) == 0;
    if (trace_child (has_caller ? &caller : NULL, &ctx) != 0)
        memset (&ctx, 0, sizeof ctx);
    trace_set_current (&ctx);
    log_set_context (req.request_id, req.op);
    otlp_span_t span;
    int traced = otlp_enabled ();
    if (traced) {
        otlp_span_begin (&span, req.op, OTLP_SERVER, &ctx);
        otlp_span_str (&span, "rpc.system", "ostiary.bus");
        otlp_span_str (&span, "rpc.service", self->cfg.service);
        otlp_span_str (&span, "rpc.method", req.op);
        otlp_span_str (&span, "ostiary.bus.request_id", req.request_id);
        otlp_span_int (&span, "ostiary.bus.direct", direct);
    }
    //  The broker answers a request whose deadline passed; working on it
    //  would only spend resources on an answer nobody reads.
    if (bus_req_expired (&req)) {
        log_info ("bus worker: dropped a request past its deadline");
        //  The broker still waits for the reply, which returns the credit.
        bus_msg_t *late_reply = bus_msg_new (BUS_REPLY);
        if (late_reply && (bus_msg_set_request_id (late_reply, req.request_id) ||
                           bus_msg_set_error (late_reply, OST_ERR_DEADLINE_EXCEEDED,
                                              "the request arrived after its deadline")))
            bus_msg_destroy (&late_reply);
        if (traced) {
            otlp_span_error (&span, proto_err (OST_ERR_DEADLINE_EXCEEDED)->code);
            otlp_span_end (&span);
        }
        const op_def_t *late = proto_op (req.op);
        metrics_observe (
            METRIC_BUS_OP,
            METRICS_L (late ? late->name : "unknown", proto_err (OST_ERR_DEADLINE_EXCEEDED)->code),
            metrics_now () - started);
        log_set_context (NULL, NULL);
        trace_set_current (NULL);
        return late_reply;
    }
    json_t *result = NULL;
    int rc = -1;
    void *in = NULL;
    char why[SCHEMA_WHY_MAX + 64];
    const op_def_t *def = proto_op (req.op);
    const bus_route_t *route =
        def && strcmp (def->service, self->cfg.service) == 0 ? s_route (self, req.op) : NULL;
    if (!route)
        bus_req_fail (&req, OST_ERR_UNKNOWN_OP, "the service does not serve this operation");
    else if (direct && def->kind != OP_READ)
        //  Reads only: a caller resends a direct call through the broker when
        //  the answer is late (proto/bus.md), which a WRITE op must never be.
        bus_req_fail (&req, OST_ERR_UNKNOWN_OP, "only read operations are served directly");
    else if (def->kind == OP_WRITE && s_seen_before (self, req.request_id))
        bus_req_fail (&req, OST_ERR_DUPLICATE_REQUEST, "this request id was seen already");
    else {
        size_t len;
        const unsigned char *data = bus_msg_body (msg, &len);
        json_t *body = len <= def->max_body ? bus_body_to_json (data, len) : NULL;
        if (len > def->max_body)
            bus_req_fail (&req, OST_ERR_INVALID_REQUEST, "the request body is too large for the operation");
        else if (!json_is_object (body))
            bus_req_fail (&req, OST_ERR_INVALID_REQUEST, "the request body must be a map");
        else if (!(in = s_unpack (def, body, &req, why, sizeof why)))
            ;
        else {
            req.in = in;
            rc = route->handler (&req, body, &result);
            if (rc == 0 && !result)
                result = json_object ();
#ifndef NDEBUG
            rc = s_check_reply (def, &req, rc, &result, why, sizeof why);
#endif
        }
        json_decref (body);
        free (in);
    }
    bus_msg_t *reply = bus_msg_new (BUS_REPLY);
    int ok = reply && bus_msg_set_request_id (reply, req.request_id) == 0;
    if (ok && rc == 0)
        ok = bus_msg_set_result (reply, result) == 0;
    else if (ok) {
        if (req.err == OST_ERR_SERVER_ERROR || req.err == OST_ERR_TEMPORARILY_UNAVAILABLE)
            log_warn ("bus worker: %s: %s", proto_err (req.err)->code,
                      req.err_description ? req.err_description : "");
        ok = bus_msg_set_error (reply, req.err, req.err_description) == 0;
    }
    //  A reply that does not fit the bus is replaced by an error the client can read.
    size_t reply_len = 0;
    if (ok)
        bus_msg_body (reply, &reply_len);
    if (ok && reply_len > self->cfg.max_msg) {
        log_error ("bus worker: reply of %zu bytes exceeds the bus limit", reply_len);
        ok = bus_msg_set_error (reply, OST_ERR_SERVER_ERROR, "the reply is too large") == 0;
    }
    if (!ok) {
        log_error ("bus worker: could not make a reply");
        bus_msg_destroy (&reply);
    }
    //  The op's name from proto/ops.def, never the one received: the label
    //  stays within the table's ops.
    metrics_observe (METRIC_BUS_OP,
                     METRICS_L (def ? def->name : "unknown", rc == 0 ? "ok" : proto_err (req.err)->code),
                     metrics_now () - started);
    json_decref (result);
    if (traced) {
        //  The error code is a fixed table entry; its description is not
        //  taken (a handler's text stays in the log).
        if (rc != 0)
            otlp_span_error (&span, proto_err (req.err)->code);
        otlp_span_end (&span);
    }
    log_set_context (NULL, NULL);
    trace_set_current (NULL);
    return reply;
}

//  Runs one request of the direct endpoint and sends its reply to routing_id.
static void
s_handle_direct (bus_worker_t *self, zsock_t *sock, zframe_t *routing_id, bus_msg_t *msg, void *thread_state)
{
    bus_msg_t *reply = s_serve (self, 1, msg, thread_state);
    if (!reply || bus_msg_send (&reply, sock, routing_id))
        log_error ("bus worker: could not send a reply");
    bus_msg_destroy (&reply);
}

//  The thread's own state (thread_init). -1 when it could not be set up:
//  the whole worker stops and bus_worker_wait reports the failure.
static int
s_thread_setup (bus_worker_t *self, void **state)
{
    *state = NULL;
    if (!self->cfg.thread_init)
        return 0;
    *state = self->cfg.thread_init (self->cfg.thread_arg);
    if (*state)
        return 0;
    log_error ("bus worker: thread set-up failed");
    atomic_store (&self->failed, 1);
    atomic_store (&self->stop, 1);
    return -1;
}

//  Closes the group's socket: with a DISCONNECT first when leave is set
//  (between requests only, proto/bus.md), without one when the broker is
//  gone or a reply could not be sent (the broker then finds the worker gone
//  and answers at the deadline: a DISCONNECT would tell it that requests
//  already run never started). The requests held and not started are
//  dropped: the broker hands them on (DISCONNECT) or answers them.
static void
s_group_close (s_group_t *g, int leave)
{
    //  The monitor stops before either end closes: libzmq's I/O thread
    //  sends events blocking, and one sent while the socket closes (its
    //  connection dropping) to a monitor with nobody at the other end would
    //  block that thread, and every socket of the process, for good.
    if (g->sock)
        zmq_socket_monitor (zsock_resolve (g->sock), NULL, 0);
    if (leave)
        s_leave (&g->sock);
    else
        zsock_destroy (&g->sock);
    zsock_destroy (&g->monitor);
    bus_msg_t *msg;
    while ((msg = zlist_pop (g->queue)))
        bus_msg_destroy (&msg);
}

//  Takes every message queued on the group's socket without waiting:
//  requests go to the queue, a DISCONNECT or a broken socket closes it.
//  Called under the lock after every use of the socket, before letting go
//  of it (see the top of this file).
static void
s_group_drain (s_group_t *g)
{
    bus_worker_t *self = g->owner;
    while (g->sock) {
        int arrived = 0;
        bus_msg_t *msg = bus_msg_recv_wait (g->sock, NULL, self->cfg.max_msg, 0, &arrived);
        if (arrived == -1)
            continue;
        if (arrived == -2) {
            log_warn ("bus worker: the socket cannot receive any more (context ending); stopping");
            atomic_store (&self->stop, 1);
            s_group_close (g, 0);
            return;
        }
        if (arrived == 0)
            return;
        g->liveness = self->cfg.liveness;
        if (!msg)
            continue;
        switch (bus_msg_type (msg)) {
        case BUS_REQUEST:
            if (zlist_append (g->queue, msg) == 0)
                msg = NULL;
            break;
        case BUS_HEARTBEAT: {
            size_t len;
            bus_msg_body (msg, &len);
            if (len > 0)
                g->acked = 1;
            else if (!g->acked && !g->old_broker_logged) {
                //  proto/bus.md, "Mixed versions": it sends one request at a time.
                log_warn (
                    "bus worker: the broker at %s does not take credit (an older gateway): this process "
                    "gets one request at a time from it; upgrade the gateways first",
                    g->endpoint);
                g->old_broker_logged = 1;
            }
            break;
        }
        case BUS_DISCONNECT:
            //  The broker forgot us (it restarted, or dropped us as dead).
            s_group_close (g, 0);
            g->reconnect_at = bus_now_ms () + self->cfg.heartbeat_ms / 2;
            break;
        default:
            log_warn ("bus worker: unexpected message type %d; dropped", (int)bus_msg_type (msg));
        }
        bus_msg_destroy (&msg);
    }
}

//  1 when a connection of the group's socket that had completed its
//  handshake has dropped since the last look (the broker was killed, or
//  the network cut it): the broker that handed us what we hold is gone,
//  and whatever the socket connects to next never handed it. A connection
//  whose handshake failed (a broker key being replaced that this broker
//  does not hold) is no loss: libzmq reports its failure just before its
//  DISCONNECTED event. Reads the monitor's events without waiting; under
//  the lock.
static int
s_group_lost (s_group_t *g)
{
    int lost = 0;
    void *monitor = zsock_resolve (g->monitor);
    while (true) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&part);
            return lost;
        }
        //  An event is two parts: a 16-bit event and a 32-bit value, then
        //  the endpoint.
        uint16_t event = 0;
        if (zmq_msg_size (&part) == 6)
            memcpy (&event, zmq_msg_data (&part), sizeof event);
        int more = zmq_msg_more (&part);
        zmq_msg_close (&part);
        while (more) {
            zmq_msg_init (&part);
            more = zmq_msg_recv (&part, monitor, ZMQ_DONTWAIT) >= 0 && zmq_msg_more (&part);
            zmq_msg_close (&part);
        }
        if (event == ZMQ_EVENT_DISCONNECTED) {
            if (g->failed_handshakes > 0)
                g->failed_handshakes--;
            else
                lost = 1;
        } else if (event != 0)
            g->failed_handshakes++;
    }
}

//  Heartbeats and the broker's liveness, under the lock.
static void
s_group_heartbeat (s_group_t *g, int64_t now)
{
    bus_worker_t *self = g->owner;
    if (!g->sock || now < g->next_heartbeat)
        return;
    g->next_heartbeat = now + self->cfg.heartbeat_ms;
    if (--g->liveness <= 0) {
        log_warn ("bus worker: broker silent for %d heartbeats; reconnecting", self->cfg.liveness);
        s_group_close (g, 0);
        g->reconnect_at = now + self->cfg.heartbeat_ms / 2;
        return;
    }
    s_send_control (g->sock, BUS_HEARTBEAT);
    s_group_drain (g);
}

//  Connects the group when it is not, may serve and its wait is over; under the lock.
static void
s_group_connect (s_group_t *g, int64_t now)
{
    bus_worker_t *self = g->owner;
    if (g->sock || g->able == 0 || now < g->reconnect_at || atomic_load (&self->stop))
        return;
    g->sock = s_connect (self, g->endpoint, &g->monitor);
    if (!g->sock) {
        //  Once per outage, not once a heartbeat.
        if (!g->unreachable)
            log_warn ("bus worker: cannot reach the broker at %s; retrying", g->endpoint);
        g->unreachable = 1;
        g->reconnect_at = now + self->cfg.heartbeat_ms;
        return;
    }
    g->generation++;
    g->failed_handshakes = 0;
    g->unreachable = 0;
    g->acked = 0;
    g->liveness = self->cfg.liveness;
    g->next_heartbeat = now + self->cfg.heartbeat_ms;
    s_group_drain (g);
}

//  Wakes one idle thread per request waiting in the queue. Under the lock.
static void
s_group_wake (s_group_t *g)
{
    size_t want = zlist_size (g->queue);
    if (want > (size_t)g->waiting)
        want = (size_t)g->waiting;
    for (size_t i = 0; i < want; i++) {
        uint64_t one = 1;
        if (write (g->work_fd, &one, sizeof one) != sizeof one)
            break;
    }
}

//  An idle thread's wait, at most ms milliseconds, in its epoll ep on the
//  work eventfd and the socket (added again for each new connection, which
//  *watched tracks); then it drains what came in. Under the lock.
static void
s_group_idle (s_group_t *g, int ep, uint64_t *watched, int ms)
{
    if (g->sock && *watched != g->generation) {
        int fd = zsock_fd (g->sock);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.u32 = 1};
        //  A descriptor number of an earlier connection may still be
        //  registered (its socket closes asynchronously): register it anew.
        epoll_ctl (ep, EPOLL_CTL_DEL, fd, NULL);
        if (epoll_ctl (ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            log_warn ("bus worker: cannot watch the broker socket (%s)", strerror (errno));
        *watched = g->generation;
    }
    struct epoll_event events[2];
    g->waiting++;
    pthread_mutex_unlock (&g->lock);
    int n = epoll_wait (ep, events, 2, ms);
    pthread_mutex_lock (&g->lock);
    g->waiting--;
    int sock_event = 0;
    for (int i = 0; i < n; i++)
        if (events[i].data.u32 == 0) {
            uint64_t count;
            //  Another thread may have taken the count already (EAGAIN).
            if (read (g->work_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                log_warn ("bus worker: cannot read the work eventfd (%s)", strerror (errno));
        } else
            sock_event = 1;
    if (sock_event)
        s_group_drain (g);
}

static void *
s_thread_main (void *arg)
{
    s_thread_t *me = arg;
    bus_worker_t *self = me->owner;
    s_group_t *g = me->group;
    void *state = NULL;
    if (s_thread_setup (self, &state)) {
        atomic_store (&me->ended, 1);
        return NULL;
    }
    int can = s_can_serve (self, state);
    int64_t next_check = bus_now_ms () + BUS_WORKER_CHECK_MS;
    //  The thread's wait (s_group_idle): the work eventfd now, the socket
    //  once connected.
    uint64_t watched = 0;
    int ep = epoll_create1 (EPOLL_CLOEXEC);
    struct epoll_event work = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.u32 = 0};
    if (ep < 0 || epoll_ctl (ep, EPOLL_CTL_ADD, g->work_fd, &work) != 0) {
        log_error ("bus worker: cannot set up the thread's wait (%s)", strerror (errno));
        if (ep >= 0)
            close (ep);
        atomic_store (&self->failed, 1);
        atomic_store (&self->stop, 1);
        if (self->cfg.thread_fini)
            self->cfg.thread_fini (self->cfg.thread_arg, state);
        atomic_store (&me->ended, 1);
        return NULL;
    }
    pthread_mutex_lock (&g->lock);
    g->able += can;
    //  The group may join the broker as soon as one thread can serve; this
    //  line says when every one of them is there.
    if (++g->set_up == self->cfg.threads)
        log_info ("bus worker: all %d threads set up for the broker at %s", g->set_up, g->endpoint);
    while (!atomic_load (&self->stop) && !zsys_interrupted) {
        int64_t now = bus_now_ms ();
        //  Readiness, asked while idle: a thread that cannot serve takes no
        //  request, and a group none of whose threads can leaves the broker,
        //  whose readiness (mmi.service) counts only threads that can.
        if (now >= next_check) {
            next_check = now + BUS_WORKER_CHECK_MS;
            pthread_mutex_unlock (&g->lock);
            int now_can = s_can_serve (self, state);
            pthread_mutex_lock (&g->lock);
            g->able += now_can - can;
            can = now_can;
        }
        if (g->able == 0 && g->sock && g->running == 0) {
            log_warn (
                "bus worker: no thread can serve (the database is unreachable); leaving the broker at %s "
                "until one can",
                g->endpoint);
            g->cannot_serve_logged = 1;
            s_group_close (g, 1);
            g->reconnect_at = now + BUS_WORKER_CHECK_MS;
        }
        if (!can) {
            pthread_mutex_unlock (&g->lock);
            int64_t left = next_check - bus_now_ms ();
            zclock_sleep (left > 100 ? 100 : left > 0 ? (int)left : 1);
            pthread_mutex_lock (&g->lock);
            continue;
        }
        if (!g->sock) {
            int was_out = g->cannot_serve_logged;
            s_group_connect (g, now);
            if (g->sock && was_out) {
                log_info ("bus worker: a thread can serve again; back in the broker at %s", g->endpoint);
                g->cannot_serve_logged = 0;
            }
        }
        //  The monitor is read at most once per LOST_CHECK_MS (each read is a
        //  system call, and this loop turns twice per request): a request
        //  popped meanwhile from a connection that just dropped is one that
        //  could as well have been popped just before the drop.
        int check_lost = g->sock && now >= g->next_lost_check;
        if (check_lost)
            g->next_lost_check = now + LOST_CHECK_MS;
        if (check_lost && s_group_lost (g)) {
            //  No DISCONNECT: the broker there now does not know us.
            log_warn ("bus worker: the connection to the broker at %s dropped; %zu requests held and not "
                      "started are dropped, connecting again",
                      g->endpoint, zlist_size (g->queue));
            s_group_close (g, 0);
            g->reconnect_at = now;
            continue;
        }
        s_group_heartbeat (g, now);
        bus_msg_t *msg = g->sock ? zlist_pop (g->queue) : NULL;
        if (msg) {
            uint64_t generation = g->generation;
            g->running++;
            atomic_store (&me->busy, 1);
            s_group_wake (g);
            pthread_mutex_unlock (&g->lock);
            bus_msg_t *reply = s_serve (self, 0, msg, state);
            bus_msg_destroy (&msg);
            pthread_mutex_lock (&g->lock);
            if (g->sock && g->generation == generation) {
                //  A reply that could not be sent leaves the request done
                //  but unanswered: this connection goes without a
                //  DISCONNECT, which would tell the broker the request never
                //  started and have another worker run it again. The broker
                //  finds the worker gone and answers at the deadline.
                if (!reply || bus_msg_send (&reply, g->sock, NULL)) {
                    log_error ("bus worker: could not send a reply; reconnecting");
                    s_group_close (g, 0);
                    g->reconnect_at = bus_now_ms () + self->cfg.heartbeat_ms / 2;
                } else
                    s_group_drain (g);
            } else
                log_warn ("bus worker: the connection a request came on is gone; its reply is dropped");
            bus_msg_destroy (&reply);
            g->running--;
            atomic_store (&me->busy, 0);
            continue;
        }
        //  Idle: wait for the socket or for work.
        now = bus_now_ms ();
        int64_t until = next_check;
        if (g->sock && g->next_heartbeat < until)
            until = g->next_heartbeat;
        if (!g->sock && g->reconnect_at > now && g->reconnect_at < until)
            until = g->reconnect_at;
        //  Wake at least every 100 ms to notice a stop request.
        int ms = until - now > 100 ? 100 : until > now ? (int)(until - now) : 0;
        if (ms > 0)
            s_group_idle (g, ep, &watched, ms);
    }
    //  Stopping (the drain): nothing more is started; the last thread to
    //  finish its request says DISCONNECT, and the broker gives what the
    //  group held unstarted to another worker.
    g->able -= can;
    if (g->running == 0 && g->sock)
        s_group_close (g, 1);
    pthread_mutex_unlock (&g->lock);
    close (ep);
    if (self->cfg.thread_fini)
        self->cfg.thread_fini (self->cfg.thread_arg, state);
    atomic_store (&me->ended, 1);
    return NULL;
}

//  The direct endpoint. One thread answers READ requests that a
//  client sent straight to this process (bus_client_direct), without the
//  broker: no READY, no heartbeats (a client's DEALER sends only while
//  the connection is up, and falls back to the broker otherwise).
static void *
s_direct_main (void *arg)
{
    s_thread_t *me = arg;
    bus_worker_t *self = me->owner;
    zsock_t *sock = self->direct_sock;
    void *state = NULL;
    if (s_thread_setup (self, &state)) {
        atomic_store (&me->ended, 1);
        return NULL;
    }
    //  The keys allowed to call, as the broker holds them (bus_peers_tick).
    int curve = bus_curve_enabled (self->cfg.curve);
    bus_peers_t *peers = curve ? bus_peers_new (bus_curve_peers_dir (self->cfg.curve)) : NULL;
    while (!atomic_load (&self->stop) && !zsys_interrupted) {
        zframe_t *identity = NULL;
        int arrived = 0;
        char peer[BUS_PEER_MAX + 1];
        //  At most 100 ms asleep, to notice a stop request.
        bus_msg_t *msg =
            bus_msg_recv_peer (sock, &identity, self->cfg.max_msg, 100, &arrived, peer, sizeof peer);
        if (arrived == -2) {
            log_warn ("bus worker: the direct socket cannot receive any more (context ending); stopping");
            break;
        }
        bus_peers_tick (peers);
        //  proto/access.def, as on the broker: a refused call runs nothing.
        int allowed = !curve || (msg && proto_may_call (bus_peers_peer_role (peers, peer), bus_msg_op (msg)));
        if (msg && bus_msg_type (msg) == BUS_REQUEST && !allowed) {
            bus_log_forbidden ("direct endpoint", peer, "call", bus_msg_op (msg));
            s_send_error (sock, identity, bus_msg_request_id (msg), OST_ERR_FORBIDDEN,
                          "this caller may not call this operation");
        } else if (msg && bus_msg_type (msg) == BUS_REQUEST)
            s_handle_direct (self, sock, identity, msg, state);
        else if (msg)
            log_warn ("bus worker: unexpected message type %d on the direct endpoint; dropped",
                      (int)bus_msg_type (msg));
        bus_msg_destroy (&msg);
        zframe_destroy (&identity);
    }
    //  Stopping: no new connections, and what is already queued is answered
    //  temporarily_unavailable, which sends those callers to the broker at
    //  once instead of at their deadline.
    zsock_unbind (sock, "%s", self->cfg.direct_endpoint);
    while (true) {
        zframe_t *identity = NULL;
        int arrived = 0;
        bus_msg_t *msg = bus_msg_recv_wait (sock, &identity, self->cfg.max_msg, 0, &arrived);
        if (arrived <= 0)
            break;
        if (msg && bus_msg_type (msg) == BUS_REQUEST)
            s_send_error (sock, identity, bus_msg_request_id (msg), OST_ERR_TEMPORARILY_UNAVAILABLE,
                          "the service is stopping");
        bus_msg_destroy (&msg);
        zframe_destroy (&identity);
    }
    bus_peers_destroy (&peers);
    if (self->cfg.thread_fini)
        self->cfg.thread_fini (self->cfg.thread_arg, state);
    atomic_store (&me->ended, 1);
    return NULL;
}

bus_worker_t *
bus_worker_new (const bus_worker_cfg_t *cfg)
{
    if (!cfg || !cfg->service || !cfg->endpoint || !proto_valid_service (cfg->service))
        return NULL;
    //  Every route must be an op of this service in proto/ops.def, so that the
    //  table and the wire spec cannot drift apart.
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const op_def_t *def = proto_op (cfg->routes[i].op);
        if (!def || strcmp (def->service, cfg->service) != 0 || !cfg->routes[i].handler) {
            log_error ("bus worker: route %s is not an op of service %s in proto/ops.def", cfg->routes[i].op,
                       cfg->service);
            return NULL;
        }
    }
    bus_worker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.threads <= 0)
        self->cfg.threads = 1;
    if (self->cfg.heartbeat_ms <= 0)
        self->cfg.heartbeat_ms = 1000;
    if (self->cfg.liveness <= 0)
        self->cfg.liveness = 3;
    if (self->cfg.max_msg == 0)
        self->cfg.max_msg = BUS_DEFAULT_MAX_MSG;
    if (!self->cfg.thread_arg)
        self->cfg.thread_arg = self->cfg.app;
    //  A connection holds at least one request per thread.
    if (self->cfg.credit == 0)
        self->cfg.credit = 2 * (size_t)self->cfg.threads;
    if (self->cfg.credit < (size_t)self->cfg.threads)
        self->cfg.credit = (size_t)self->cfg.threads;
    if (self->cfg.credit > BUS_CREDIT_MAX)
        self->cfg.credit = BUS_CREDIT_MAX;
    pthread_mutex_init (&self->seen_lock, NULL);
    self->seen = calloc (SEEN_SLOTS, sizeof *self->seen);
    self->seen_hash = calloc (SEEN_SLOTS, sizeof *self->seen_hash);
    //  One set of threads per broker (one broker per gateway replica): a
    //  DEALER connected to two brokers would send its READY to one of them.
    int brokers = bus_endpoint_count (self->cfg.endpoint);
    if (brokers < 1) {
        log_error ("bus worker: malformed broker endpoint list \"%s\"", self->cfg.endpoint);
        bus_worker_destroy (&self);
        return NULL;
    }
    self->threads = calloc ((size_t)self->cfg.threads * (size_t)brokers, sizeof *self->threads);
    self->groups = calloc ((size_t)brokers, sizeof *self->groups);
    if (!self->seen || !self->seen_hash || !self->threads || !self->groups) {
        bus_worker_destroy (&self);
        return NULL;
    }
    for (int i = 0; i < brokers; i++) {
        s_group_t *g = &self->groups[i];
        g->owner = self;
        pthread_mutex_init (&g->lock, NULL);
        g->work_fd = eventfd (0, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
        g->queue = zlist_new ();
        self->ngroups++;
        if (!g->queue || g->work_fd < 0 ||
            bus_endpoint_nth (self->cfg.endpoint, i, g->endpoint, sizeof g->endpoint)) {
            bus_worker_destroy (&self);
            return NULL;
        }
    }
    self->nthreads = self->cfg.threads * brokers;
    for (int i = 0; i < self->nthreads; i++)
        self->threads[i].group = &self->groups[i / self->cfg.threads];
    if (self->cfg.direct_endpoint && *self->cfg.direct_endpoint) {
        //  Bound here, in the caller's thread, so that a bad or taken
        //  endpoint fails the start; thread creation hands it over.
        self->direct_sock = zsock_new (ZMQ_ROUTER);
        if (self->direct_sock) {
            zsock_set_maxmsgsize (self->direct_sock, (int)bus_msg_wire_max (self->cfg.max_msg));
            zsock_set_linger (self->direct_sock, 0);
            if (bus_curve_serve (self->cfg.curve, self->direct_sock) != 0) {
                log_error ("bus worker: cannot install the direct endpoint's authentication handler");
                zsock_destroy (&self->direct_sock);
            } else
                self->direct_serving = 1;
        }
        if (!self->direct_sock || zsock_bind (self->direct_sock, "%s", self->cfg.direct_endpoint) < 0) {
            log_error ("bus worker: cannot bind the direct endpoint %s", self->cfg.direct_endpoint);
            bus_worker_destroy (&self);
            return NULL;
        }
        self->direct.owner = self;
        if (pthread_create (&self->direct.thread, NULL, s_direct_main, &self->direct) == 0)
            self->direct.started = 1;
        else {
            log_error ("bus worker: cannot start a thread");
            bus_worker_destroy (&self);
            return NULL;
        }
    }
    for (int i = 0; i < self->nthreads; i++) {
        self->threads[i].owner = self;
        if (pthread_create (&self->threads[i].thread, NULL, s_thread_main, &self->threads[i]) == 0)
            self->threads[i].started = 1;
        else {
            log_error ("bus worker: cannot start a thread");
            bus_worker_destroy (&self);
            return NULL;
        }
    }
    return self;
}

int
bus_worker_wait (bus_worker_t *self)
{
    while (!atomic_load (&self->stop) && !zsys_interrupted)
        zclock_sleep (100);
    return atomic_load (&self->failed) ? -1 : 0;
}

void
bus_worker_stop (bus_worker_t *self)
{
    if (self)
        atomic_store (&self->stop, 1);
}

int
bus_worker_drain (bus_worker_t *self, int timeout_ms)
{
    if (!self)
        return 0;
    atomic_store (&self->stop, 1);
    int64_t deadline = bus_now_ms () + (timeout_ms > 0 ? timeout_ms : 0);
    while (true) {
        int running = 0, busy = 0;
        for (int i = 0; self->threads && i < self->nthreads; i++)
            if (self->threads[i].started && !atomic_load (&self->threads[i].ended)) {
                running++;
                busy += atomic_load (&self->threads[i].busy);
            }
        if (self->direct.started && !atomic_load (&self->direct.ended))
            running++;
        if (running == 0)
            return 0;
        if (bus_now_ms () >= deadline) {
            log_error ("bus worker: %d requests still running at the drain deadline (%d ms)", busy,
                       timeout_ms);
            return -1;
        }
        zclock_sleep (20);
    }
}

void
bus_worker_destroy (bus_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bus_worker_t *self = *self_p;
    atomic_store (&self->stop, 1);
    for (int i = 0; self->threads && i < self->nthreads; i++)
        if (self->threads[i].started)
            pthread_join (self->threads[i].thread, NULL);
    if (self->direct.started)
        pthread_join (self->direct.thread, NULL);
    zsock_destroy (&self->direct_sock);
    if (self->direct_serving)
        bus_curve_unserve (self->cfg.curve);
    for (int i = 0; i < self->ngroups; i++) {
        s_group_t *g = &self->groups[i];
        if (g->queue)
            s_group_close (g, 0);
        zlist_destroy (&g->queue);
        if (g->work_fd >= 0)
            close (g->work_fd);
        pthread_mutex_destroy (&g->lock);
    }
    free (self->groups);
    free (self->threads);
    free (self->seen);
    free (self->seen_hash);
    pthread_mutex_destroy (&self->seen_lock);
    free (self);
    *self_p = NULL;
}
