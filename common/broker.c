/*  broker - Majordomo-style broker of the Ostiary bus (7/MDP, adapted; see
 *  proto/bus.md). Differences from MDP that matter:
 *  - a worker connection holds up to its credit of requests (READY says how
 *    many, and how many threads serve them); the broker remembers which
 *    client asked each, so requests and replies carry no client envelope;
 *  - the broker never resends a request a worker may have started: when a
 *    worker dies or a deadline passes, the broker answers the client with an
 *    error instead (code exchange and refresh rotation must not run twice);
 *    a WRITE request of a worker that died is answered at its deadline;
 *    A request that never reached a worker (its connection was gone) or
 *    that a worker left without starting (DISCONNECT) goes to the next one;
 *  - queues are bounded: a full queue answers temporarily_unavailable at once. */
#include "broker.h"

#include "bus_curve.h"
#include "bus_msg.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "trace.h"

#include <errno.h>
#include <string.h>

#define MMI_SERVICE "mmi.service"

typedef struct _service_t service_t;

//  A request waiting for, or being served by, a worker.
typedef struct {
    zframe_t *client; //  routing id of the client
    bus_msg_t *msg;   //  the request, forwarded as is
    int64_t deadline;
    int answered;     //  the client got an error already (deadline passed)
    double queued_at; //  metrics_now () when it arrived, for the queue wait
} pending_t;

typedef struct {
    char *key; //  hex of the routing id, key in workers hash
    zframe_t *identity;
    service_t *service;
    int64_t expiry;              //  dropped when nothing was heard from it by then
    zlist_t *flight;             //  pending_t handed to it and not answered, oldest first
    size_t credit;               //  the most requests it holds at once
    size_t threads;              //  the threads serving them
    uint64_t last_sent;          //  the broker's send count when it last got a request
    char peer[BUS_PEER_MAX + 1]; //  its ZAP user id ("" with CURVE off)
} worker_t;

struct _service_t {
    char *name;
    zlist_t *list;  //  registered workers (connections)
    zlist_t *queue; //  pending_t waiting for a worker
    size_t workers; //  threads behind the registered workers
};

typedef struct {
    broker_cfg_t cfg;
    zsock_t *pipe;
    zsock_t *router;
    zhash_t *services; //  name → service_t
    zhash_t *workers;  //  hex id → worker_t
    int64_t next_heartbeat;
    bus_peers_t *peers;  //  the allowed keys and their roles (CURVE on)
    uint64_t peers_seen; //  its generation the workers were checked against
    uint64_t sends;      //  requests handed to workers, ever (worker_t.last_sent)
    //  counters for STATS
    uint64_t served, rejected, expired, malformed, lost, forbidden;
    //  The calls refused since the owner last asked (REFUSALS), one entry
    //  per caller key and op, at most BROKER_REFUSALS_MAX; the rest are
    //  only counted in refusals_dropped.
    zhash_t *refusals; //  "role key op" → s_refusal_t
    uint64_t refusals_dropped;
} broker_t;

typedef struct {
    char role[17];
    char key[BUS_FINGERPRINT_LEN + 1];
    char op[BUS_MAX_OP + 1];
    int64_t count, first, last;
} s_refusal_t;

//  Role of a trusted peer while CURVE is off (development): every check passes.
#define TRUSTED ((unsigned)-1)

static void
s_pending_destroy (pending_t **self_p)
{
    if (*self_p) {
        zframe_destroy (&(*self_p)->client);
        bus_msg_destroy (&(*self_p)->msg);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_service_free (void *data)
{
    service_t *self = data;
    pending_t *p;
    while ((p = zlist_pop (self->queue)))
        s_pending_destroy (&p);
    zlist_destroy (&self->queue);
    zlist_destroy (&self->list);
    free (self->name);
    free (self);
}

static service_t *
s_service_require (broker_t *self, const char *name)
{
    service_t *service = zhash_lookup (self->services, name);
    if (!service) {
        service = calloc (1, sizeof *service);
        assert (service);
        service->name = strdup (name);
        service->list = zlist_new ();
        service->queue = zlist_new ();
        assert (service->name && service->list && service->queue);
        zhash_insert (self->services, name, service);
        zhash_freefn (self->services, name, s_service_free);
    }
    return service;
}

//  Answers a client with an error reply for request id rid.
static void
s_answer_error (broker_t *self, zframe_t *client, const char *rid, ost_err_t err, const char *description)
{
    bus_msg_t *reply = bus_msg_new (BUS_REPLY);
    if (!reply || bus_msg_set_request_id (reply, rid) || bus_msg_set_error (reply, err, description) ||
        bus_msg_send (&reply, self->router, client))
        log_error ("broker: could not answer a client");
    bus_msg_destroy (&reply);
}

//  -1 with errno EHOSTUNREACH when the worker's connection is gone: the
//  router is ZMQ_ROUTER_MANDATORY, so a worker killed without a goodbye is
//  known at the first send instead of after its missed heartbeats.
static int
s_send_control (broker_t *self, worker_t *worker, bus_type_t type)
{
    bus_msg_t *msg = bus_msg_new (type);
    if (!msg || bus_msg_send (&msg, self->router, worker->identity)) {
        int gone = msg == NULL && errno == EHOSTUNREACH;
        bus_msg_destroy (&msg);
        if (!gone)
            log_error ("broker: could not send to a worker");
        errno = gone ? EHOSTUNREACH : EIO;
        return -1;
    }
    return 0;
}

static void s_dispatch (broker_t *self, service_t *service);

//  Forgets a worker. Its requests in flight, if any, fail: they are never resent.
static void
s_worker_delete (broker_t *self, worker_t *worker, int send_disconnect)
{
    if (send_disconnect)
        s_send_control (self, worker, BUS_DISCONNECT);
    pending_t *p;
    while ((p = zlist_pop (worker->flight))) {
        if (!p->answered) {
            //  A READ op is answered at once: its client sends it again. A
            //  WRITE op may still take effect (a frozen worker resumes, a
            //  statement was in the database already), and an early answer
            //  would invite a retry while it can: its client gets its answer
            //  at the deadline, after which the worker no longer writes for it.
            const op_def_t *op = proto_op (bus_msg_op (p->msg));
            if (op && op->kind == OP_READ)
                s_answer_error (self, p->client, bus_msg_request_id (p->msg), OST_ERR_TEMPORARILY_UNAVAILABLE,
                                "the worker serving the request went away");
            else
                log_warn ("broker: worker %s went away during %s: its outcome is unknown, the client is "
                          "answered at the deadline",
                          worker->key, bus_msg_op (p->msg));
            self->lost++;
            metrics_inc (METRIC_BROKER_LOST, NULL);
        }
        s_pending_destroy (&p);
    }
    if (worker->service) {
        zlist_remove (worker->service->list, worker);
        worker->service->workers -= worker->threads;
        log_info ("broker: worker %s of %s left (%zu threads remain)", worker->key, worker->service->name,
                  worker->service->workers);
        //  Requests queued for a service that has no worker left cannot be served.
        if (zlist_size (worker->service->list) == 0) {
            while ((p = zlist_pop (worker->service->queue))) {
                s_answer_error (self, p->client, bus_msg_request_id (p->msg), OST_ERR_TEMPORARILY_UNAVAILABLE,
                                "no worker available for the service");
                self->rejected++;
                metrics_inc (METRIC_BROKER_REJECTED, NULL);
                s_pending_destroy (&p);
            }
        }
    }
    zhash_delete (self->workers, worker->key);
}

static void
s_worker_free (void *data)
{
    worker_t *worker = data;
    pending_t *p;
    while ((p = zlist_pop (worker->flight)))
        s_pending_destroy (&p);
    zlist_destroy (&worker->flight);
    zframe_destroy (&worker->identity);
    free (worker->key);
    free (worker);
}

//  The worker the next request goes to (proto/bus.md, "Credit"): the one
//  with the most idle threads, then the fewest requests in flight, then the
//  one that waited longest; NULL when none has credit left.
static worker_t *
s_pick (service_t *service)
{
    worker_t *best = NULL;
    size_t best_idle = 0, best_flight = 0;
    for (worker_t *w = zlist_first (service->list); w; w = zlist_next (service->list)) {
        size_t flight = zlist_size (w->flight);
        if (flight >= w->credit)
            continue;
        size_t idle = flight < w->threads ? w->threads - flight : 0;
        if (!best || idle > best_idle || (idle == best_idle && flight < best_flight) ||
            (idle == best_idle && flight == best_flight && w->last_sent < best->last_sent)) {
            best = w;
            best_idle = idle;
            best_flight = flight;
        }
    }
    return best;
}

//  Hands queued requests to workers with credit left (s_pick), until the
//  queue is empty or every worker holds its credit.
static void
s_dispatch (broker_t *self, service_t *service)
{
    worker_t *worker;
    while (zlist_size (service->queue) && (worker = s_pick (service))) {
        pending_t *p = zlist_pop (service->queue);
        if (p->deadline <= bus_now_ms ()) {
            s_answer_error (self, p->client, bus_msg_request_id (p->msg), OST_ERR_DEADLINE_EXCEEDED,
                            "the request's deadline passed while it was queued");
            self->expired++;
            metrics_inc (METRIC_BROKER_EXPIRED, NULL);
            s_pending_destroy (&p);
            continue;
        }
        bus_msg_t *copy = bus_msg_dup (p->msg);
        int sent = 0, gone = 0;
        if (copy) {
            sent = bus_msg_send (&copy, self->router, worker->identity) == 0;
            gone = !sent && errno == EHOSTUNREACH;
        }
        if (gone) {
            //  The worker's connection is gone (killed, no goodbye): the
            //  request never left, so it goes to the next worker, WRITE or not.
            log_info ("broker: worker %s of %s is gone; request handed to the next one", worker->key,
                      service->name);
            zlist_push (service->queue, p);
            s_worker_delete (self, worker, 0);
            continue;
        }
        if (!sent) {
            bus_msg_destroy (&copy);
            s_answer_error (self, p->client, bus_msg_request_id (p->msg), OST_ERR_SERVER_ERROR,
                            "the broker could not forward the request");
            s_pending_destroy (&p);
            continue;
        }
        metrics_observe (METRIC_BROKER_QUEUE_WAIT, METRICS_L (service->name), metrics_now () - p->queued_at);
        zlist_append (worker->flight, p);
        worker->last_sent = ++self->sends;
    }
}

//  The role of the peer that sent a message: from its ZAP user id, and only
//  while its key is still in that role's folder. An inproc:// peer (no user
//  id) is the gateway's own HTTP thread. 0: not allowed at all.
static unsigned
s_peer_role (broker_t *self, const char *peer)
{
    if (!bus_curve_enabled (self->cfg.curve))
        return TRUSTED;
    if (!*peer)
        return BUS_ROLE_GATEWAY;
    return bus_peers_peer_role (self->peers, peer);
}

//  Counts a refused message and logs it (rate-limited per peer), and adds
//  it to the summary the gateway has audited (REFUSALS).
static void
s_log_refused (broker_t *self, const char *peer, const char *what, const char *name)
{
    //  The metric is bus_log_forbidden's: ostiary_bus_refusals_total{component="broker",reason="role"}.
    self->forbidden++;
    bus_log_forbidden ("broker", peer, what, name);
    s_refusal_t r = {.role = "", .key = "none", .count = 1};
    unsigned role = 0;
    char key[BUS_KEY_TXT + 1];
    if (bus_peer_parse (peer, &role, key) == 0) {
        snprintf (r.role, sizeof r.role, "%s", proto_role_name (role));
        bus_key_fingerprint (key, r.key);
    }
    //  A call names its op; a refused worker (READY or later) the service
    //  it would serve, after what it was refused.
    if (strcmp (what, "call") == 0)
        snprintf (r.op, sizeof r.op, "%s", name && *name ? name : "(none)");
    else
        snprintf (r.op, sizeof r.op, "%s %s", what, name && *name ? name : "(none)");
    char id[sizeof r.role + sizeof r.key + sizeof r.op + 2];
    snprintf (id, sizeof id, "%s %s %s", r.role, r.key, r.op);
    int64_t now = bus_now_ms ();
    s_refusal_t *seen = self->refusals ? zhash_lookup (self->refusals, id) : NULL;
    if (seen) {
        seen->count++;
        seen->last = now;
        return;
    }
    if (!self->refusals || zhash_size (self->refusals) >= BROKER_REFUSALS_MAX) {
        self->refusals_dropped++;
        return;
    }
    s_refusal_t *entry = malloc (sizeof *entry);
    if (!entry) {
        self->refusals_dropped++;
        return;
    }
    *entry = r;
    entry->first = entry->last = now;
    if (zhash_insert (self->refusals, id, entry) != 0) {
        free (entry);
        self->refusals_dropped++;
        return;
    }
    zhash_freefn (self->refusals, id, free);
}

//  Answers REFUSALS on the pipe with two frames, "REFUSALS" and a JSON
//  object {"refusals": [{role?, key, op, count, first, last}], "dropped": n}
//  (the members of token.audit_refusals), and starts a new summary.
static void
s_refusals (broker_t *self)
{
    json_t *list = json_array ();
    for (s_refusal_t *r = self->refusals ? zhash_first (self->refusals) : NULL; r && list;
         r = zhash_next (self->refusals)) {
        json_t *item =
            json_pack ("{s:s, s:s, s:I, s:I, s:I}", "key", r->key, "op", r->op, "count", (json_int_t)r->count,
                       "first", (json_int_t)r->first, "last", (json_int_t)r->last);
        if (item && *r->role)
            json_object_set_new (item, "role", json_string (r->role));
        if (!item || json_array_append_new (list, item) != 0) {
            json_decref (list);
            list = NULL;
        }
    }
    json_t *answer =
        list ? json_pack ("{s:o, s:I}", "refusals", list, "dropped", (json_int_t)self->refusals_dropped)
             : NULL;
    char *text = answer ? json_dumps (answer, JSON_COMPACT) : NULL;
    zstr_sendm (self->pipe, "REFUSALS");
    zstr_send (self->pipe, text ? text : "{\"refusals\": [], \"dropped\": 0}");
    free (text);
    json_decref (answer);
    zhash_destroy (&self->refusals);
    self->refusals = zhash_new ();
    self->refusals_dropped = 0;
}

//  The credit and threads a READY announces (proto/bus.md, "Credit"): an
//  empty body is an older worker's, {"credit": 1, "threads": 1}. -1 when
//  the body is not such a map.
static int
s_ready_credit (bus_msg_t *msg, size_t *credit, size_t *threads)
{
    size_t len;
    const unsigned char *data = bus_msg_body (msg, &len);
    if (len == 0) {
        *credit = *threads = 1;
        return 0;
    }
    json_t *body = bus_body_to_json (data, len);
    json_t *c = json_object_get (body, "credit");
    json_t *t = json_object_get (body, "threads");
    int ok = json_is_integer (c) && json_is_integer (t) && json_integer_value (t) >= 1 &&
             json_integer_value (t) <= json_integer_value (c) && json_integer_value (c) <= BUS_CREDIT_MAX;
    if (ok) {
        *credit = (size_t)json_integer_value (c);
        *threads = (size_t)json_integer_value (t);
    }
    json_decref (body);
    return ok ? 0 : -1;
}

//  Tells a worker the credit it announced was taken: a HEARTBEAT whose body
//  is {"credit": n}.
static void
s_send_credit_ack (broker_t *self, worker_t *worker)
{
    bus_msg_t *ack = bus_msg_new (BUS_HEARTBEAT);
    json_t *body = json_pack ("{s:I}", "credit", (json_int_t)worker->credit);
    if (!ack || !body || bus_msg_set_body_json (ack, body) ||
        bus_msg_send (&ack, self->router, worker->identity))
        log_warn ("broker: could not acknowledge the credit of worker %s", worker->key);
    bus_msg_destroy (&ack);
    json_decref (body);
}

static void
s_client_request (broker_t *self, zframe_t *client, bus_msg_t *msg, const char *peer)
{
    const char *rid = bus_msg_request_id (msg);
    const char *name = bus_msg_service (msg);
    const char *op = bus_msg_op (msg);
    unsigned role = s_peer_role (self, peer);

    //  proto/access.def: the caller's role must be allowed the op, and the
    //  op must belong to the service named (no detour to another worker).
    //  mmi.service is open to every authenticated role.
    if (role != TRUSTED && strcmp (name, MMI_SERVICE) != 0) {
        const op_def_t *def = proto_op (op);
        if (!def || strcmp (def->service, name) != 0) {
            s_answer_error (self, client, rid, OST_ERR_UNKNOWN_OP,
                            "the service does not serve this operation");
            return;
        }
        if (!role || !proto_may_call (role, op)) {
            s_log_refused (self, peer, "call", op);
            s_answer_error (self, client, rid, OST_ERR_FORBIDDEN, "this caller may not call this operation");
            return;
        }
    } else if (!role) {
        s_log_refused (self, peer, "call", name);
        s_answer_error (self, client, rid, OST_ERR_FORBIDDEN, "this caller may not use the bus");
        return;
    }

    //  mmi.service: does this service have a live worker? (readiness probes)
    if (strcmp (name, MMI_SERVICE) == 0) {
        size_t len;
        const unsigned char *body = bus_msg_body (msg, &len);
        json_t *req = bus_body_to_json (body, len);
        json_t *svc = req ? json_object_get (req, "service") : NULL;
        if (!json_is_string (svc))
            s_answer_error (self, client, rid, OST_ERR_INVALID_REQUEST,
                            "mmi.service needs {\"service\": name}");
        else {
            service_t *service = zhash_lookup (self->services, json_string_value (svc));
            size_t workers = service ? service->workers : 0;
            json_t *result = json_pack ("{s:b,s:I}", "ready", workers > 0, "workers", (json_int_t)workers);
            bus_msg_t *reply = bus_msg_new (BUS_REPLY);
            if (!result || !reply || bus_msg_set_request_id (reply, rid) ||
                bus_msg_set_result (reply, result) || bus_msg_send (&reply, self->router, client))
                log_error ("broker: could not answer mmi.service");
            bus_msg_destroy (&reply);
            json_decref (result);
        }
        json_decref (req);
        return;
    }
    if (bus_msg_deadline (msg) <= bus_now_ms ()) {
        s_answer_error (self, client, rid, OST_ERR_DEADLINE_EXCEEDED,
                        "the request arrived after its deadline");
        self->expired++;
        metrics_inc (METRIC_BROKER_EXPIRED, NULL);
        return;
    }
    service_t *service = proto_valid_service (name) ? zhash_lookup (self->services, name) : NULL;
    if (!service || zlist_size (service->list) == 0) {
        s_answer_error (self, client, rid, OST_ERR_TEMPORARILY_UNAVAILABLE,
                        "no worker available for the service");
        self->rejected++;
        metrics_inc (METRIC_BROKER_REJECTED, NULL);
        return;
    }
    if (zlist_size (service->queue) >= self->cfg.queue_max) {
        s_answer_error (self, client, rid, OST_ERR_TEMPORARILY_UNAVAILABLE, "the service's queue is full");
        self->rejected++;
        metrics_inc (METRIC_BROKER_REJECTED, NULL);
        return;
    }
    pending_t *p = calloc (1, sizeof *p);
    bus_msg_t *copy = bus_msg_dup (msg);
    zframe_t *client_copy = zframe_dup (client);
    if (!p || !copy || !client_copy) {
        free (p);
        bus_msg_destroy (&copy);
        zframe_destroy (&client_copy);
        s_answer_error (self, client, rid, OST_ERR_SERVER_ERROR, "the broker is out of memory");
        return;
    }
    p->client = client_copy;
    p->msg = copy;
    p->deadline = bus_msg_deadline (msg);
    p->queued_at = metrics_now ();
    zlist_append (service->queue, p);
    s_dispatch (self, service);
}

static void
s_worker_message (broker_t *self, zframe_t *identity, bus_msg_t *msg, const char *peer)
{
    char *key = zframe_strhex (identity);
    assert (key);
    worker_t *worker = zhash_lookup (self->workers, key);
    bus_type_t type = bus_msg_type (msg);

    //  A worker's messages come from the key it registered with, and only
    //  while that key keeps its role.
    if (worker && (strcmp (worker->peer, peer) != 0 || !s_peer_role (self, peer))) {
        free (key);
        s_log_refused (self, peer, "speak for a worker of", worker->service->name);
        s_worker_delete (self, worker, 1);
        return;
    }
    if (type == BUS_READY && !worker) {
        unsigned role = s_peer_role (self, peer);
        const char *service = bus_msg_service (msg);
        if (!role || (role != TRUSTED && !proto_may_serve (role, service))) {
            free (key);
            s_log_refused (self, peer, "serve", service);
            bus_msg_t *bye = bus_msg_new (BUS_DISCONNECT);
            if (!bye || bus_msg_send (&bye, self->router, identity))
                log_error ("broker: could not send to a worker");
            bus_msg_destroy (&bye);
            return;
        }
    }

    if (type == BUS_READY) {
        size_t credit = 0, threads = 0;
        if (worker) {
            //  A second READY is a protocol error: start that worker over.
            s_worker_delete (self, worker, 1);
        } else if (s_ready_credit (msg, &credit, &threads) != 0) {
            self->malformed++;
            metrics_inc (METRIC_BROKER_MALFORMED, NULL);
            log_warn ("broker: READY of %s with a credit outside the protocol (proto/bus.md); refused",
                      bus_msg_service (msg));
            bus_msg_t *bye = bus_msg_new (BUS_DISCONNECT);
            if (!bye || bus_msg_send (&bye, self->router, identity))
                log_error ("broker: could not send to a worker");
            bus_msg_destroy (&bye);
        } else {
            worker = calloc (1, sizeof *worker);
            assert (worker);
            worker->key = key;
            key = NULL;
            worker->identity = zframe_dup (identity);
            worker->flight = zlist_new ();
            assert (worker->identity && worker->flight);
            worker->credit = credit;
            worker->threads = threads;
            snprintf (worker->peer, sizeof worker->peer, "%s", peer);
            worker->service = s_service_require (self, bus_msg_service (msg));
            worker->service->workers += threads;
            worker->expiry = bus_now_ms () + (int64_t)self->cfg.heartbeat_ms * self->cfg.liveness;
            zhash_insert (self->workers, worker->key, worker);
            zhash_freefn (self->workers, worker->key, s_worker_free);
            zlist_append (worker->service->list, worker);
            log_info ("broker: worker %s of %s joined: %zu threads, credit %zu (%zu threads now)",
                      worker->key, worker->service->name, threads, credit, worker->service->workers);
            //  A worker that announced a credit learns that it was taken
            //  (an older broker never says so).
            size_t len;
            bus_msg_body (msg, &len);
            if (len > 0)
                s_send_credit_ack (self, worker);
            s_dispatch (self, worker->service);
        }
        free (key);
        return;
    }
    free (key);
    if (!worker) {
        //  Unknown worker (e.g. the broker restarted): tell it to start over.
        if (type != BUS_DISCONNECT) {
            bus_msg_t *bye = bus_msg_new (BUS_DISCONNECT);
            if (!bye || bus_msg_send (&bye, self->router, identity))
                log_error ("broker: could not send to a worker");
            bus_msg_destroy (&bye);
        }
        return;
    }
    worker->expiry = bus_now_ms () + (int64_t)self->cfg.heartbeat_ms * self->cfg.liveness;
    if (type == BUS_HEARTBEAT)
        return;
    if (type == BUS_DISCONNECT) {
        //  A worker says DISCONNECT only after the REPLY to every request it
        //  started, and starts nothing afterwards (proto/bus.md): what it
        //  holds unanswered never ran, so it goes back to the front of the
        //  queue, in the order it was handed, for the next worker, WRITE or
        //  not (as one that could not be sent). With no worker left it is
        //  answered temporarily_unavailable.
        service_t *service = worker->service;
        size_t handed = 0;
        pending_t *p;
        while ((p = zlist_tail (worker->flight))) {
            zlist_remove (worker->flight, p);
            if (p->answered)
                s_pending_destroy (&p);
            else {
                zlist_push (service->queue, p);
                handed++;
            }
        }
        if (handed)
            log_info ("broker: worker %s of %s left before starting %zu requests; handed to the next one",
                      worker->key, service->name, handed);
        s_worker_delete (self, worker, 0);
        s_dispatch (self, service);
        return;
    }
    if (type == BUS_REPLY) {
        const char *rid = bus_msg_request_id (msg);
        pending_t *p = zlist_first (worker->flight);
        while (p && strcmp (bus_msg_request_id (p->msg), rid) != 0)
            p = zlist_next (worker->flight);
        if (!p) {
            log_warn ("broker: reply for a request the worker was not given, or answered already; dropped");
            return;
        }
        zlist_remove (worker->flight, p);
        if (!p->answered) {
            bus_msg_t *copy = bus_msg_dup (msg);
            if (!copy || bus_msg_send (&copy, self->router, p->client))
                log_error ("broker: could not forward a reply");
            bus_msg_destroy (&copy);
            self->served++;
            metrics_inc (METRIC_BROKER_SERVED, NULL);
        }
        s_pending_destroy (&p);
        s_dispatch (self, worker->service);
        return;
    }
    //  REQUEST from a worker identity: not part of the protocol.
    log_warn ("broker: unexpected message type %d from a worker; dropped", (int)type);
}

//  Threads of a service's workers without a request, and requests in flight.
static void
s_service_load (service_t *service, size_t *idle, size_t *flight)
{
    *idle = *flight = 0;
    for (worker_t *w = zlist_first (service->list); w; w = zlist_next (service->list)) {
        size_t n = zlist_size (w->flight);
        *flight += n;
        *idle += n < w->threads ? w->threads - n : 0;
    }
}

//  The gauges of every service: worker threads, idle ones, requests in
//  flight and queued.
static void
s_publish_gauges (broker_t *self)
{
    for (service_t *service = zhash_first (self->services); service; service = zhash_next (self->services)) {
        const char *const *labels = METRICS_L (service->name);
        size_t idle, flight;
        s_service_load (service, &idle, &flight);
        metrics_set (METRIC_BROKER_WORKERS, labels, (double)service->workers);
        metrics_set (METRIC_BROKER_IDLE, labels, (double)idle);
        metrics_set (METRIC_BROKER_IN_FLIGHT, labels, (double)flight);
        metrics_set (METRIC_BROKER_QUEUED, labels, (double)zlist_size (service->queue));
    }
}

//  Heartbeats, dead workers and deadlines.
static void
s_tick (broker_t *self)
{
    int64_t now = bus_now_ms ();
    int heartbeat = now >= self->next_heartbeat;
    if (heartbeat) {
        self->next_heartbeat = now + self->cfg.heartbeat_ms;
        s_publish_gauges (self);
    }

    //  A key removed from its role folder loses its workers at once and its
    //  requests from now on (s_peer_role).
    bus_peers_tick (self->peers);
    int recheck = bus_peers_generation (self->peers) != self->peers_seen;
    self->peers_seen = bus_peers_generation (self->peers);
    zlist_t *keys = zhash_keys (self->workers);
    for (char *key = zlist_first (keys); key; key = zlist_next (keys)) {
        worker_t *worker = zhash_lookup (self->workers, key);
        if (!worker)
            continue;
        if (recheck && !s_peer_role (self, worker->peer)) {
            s_log_refused (self, worker->peer, "keep serving", worker->service->name);
            s_worker_delete (self, worker, 1);
            continue;
        }
        if (worker->expiry < now) {
            log_warn ("broker: worker %s of %s missed %d heartbeats; dropped", worker->key,
                      worker->service->name, self->cfg.liveness);
            s_worker_delete (self, worker, 1);
            continue;
        }
        for (pending_t *p = zlist_first (worker->flight); p; p = zlist_next (worker->flight))
            if (!p->answered && p->deadline <= now) {
                s_answer_error (self, p->client, bus_msg_request_id (p->msg), OST_ERR_DEADLINE_EXCEEDED,
                                "the service did not answer before the deadline");
                p->answered = 1;
                self->expired++;
                metrics_inc (METRIC_BROKER_EXPIRED, NULL);
            }
        if (heartbeat && s_send_control (self, worker, BUS_HEARTBEAT) != 0 && errno == EHOSTUNREACH) {
            log_info ("broker: worker %s of %s is gone; dropped", worker->key, worker->service->name);
            s_worker_delete (self, worker, 0);
        }
    }
    zlist_destroy (&keys);

    for (service_t *service = zhash_first (self->services); service; service = zhash_next (self->services)) {
        //  Queues are FIFO with mostly equal timeouts, but not strictly ordered by
        //  deadline: walk them all.
        pending_t *p = zlist_first (service->queue);
        while (p) {
            pending_t *next = zlist_next (service->queue);
            if (p->deadline <= now) {
                zlist_remove (service->queue, p);
                s_answer_error (self, p->client, bus_msg_request_id (p->msg), OST_ERR_DEADLINE_EXCEEDED,
                                "the request's deadline passed while it was queued");
                self->expired++;
                metrics_inc (METRIC_BROKER_EXPIRED, NULL);
                s_pending_destroy (&p);
            }
            p = next;
        }
    }
}

static void
s_stats (broker_t *self)
{
    json_t *services = json_object ();
    for (service_t *service = zhash_first (self->services); service; service = zhash_next (self->services)) {
        size_t idle, flight;
        s_service_load (service, &idle, &flight);
        json_object_set_new (services, service->name,
                             json_pack ("{s:I,s:I,s:I,s:I}", "workers", (json_int_t)service->workers, "idle",
                                        (json_int_t)idle, "in_flight", (json_int_t)flight, "queued",
                                        (json_int_t)zlist_size (service->queue)));
    }
    json_t *stats = json_pack ("{s:o,s:I,s:I,s:I,s:I,s:I,s:I}", "services", services, "served",
                               (json_int_t)self->served, "rejected", (json_int_t)self->rejected, "expired",
                               (json_int_t)self->expired, "lost", (json_int_t)self->lost, "malformed",
                               (json_int_t)self->malformed, "forbidden", (json_int_t)self->forbidden);
    char *text = stats ? json_dumps (stats, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    zstr_send (self->pipe, text ? text : "{}");
    free (text);
    json_decref (stats);
}

//  Answers what the owner sent on the actor pipe, without waiting. 1 when
//  told to stop ($TERM, or the pipe is gone).
static int
s_pipe_commands (broker_t *self)
{
    while (zsock_events (self->pipe) & ZMQ_POLLIN) {
        char *command = zstr_recv (self->pipe);
        int stop = !command || streq (command, "$TERM");
        if (command && streq (command, "STATS"))
            s_stats (self);
        else if (command && streq (command, "REFUSALS"))
            s_refusals (self);
        zstr_free (&command);
        if (stop)
            return 1;
    }
    return 0;
}

typedef struct {
    broker_cfg_t cfg;
    zsock_t *router;
} s_actor_args_t;

static void
s_broker_actor (zsock_t *pipe, void *args)
{
    broker_t self = {0};
    s_actor_args_t *a = args;
    self.cfg = a->cfg;
    //  The socket was bound by broker_new in the caller's thread and is handed
    //  over here; thread creation is the memory barrier ZeroMQ asks for.
    self.router = a->router;
    free (a);
    self.pipe = pipe;
    self.services = zhash_new ();
    self.workers = zhash_new ();
    self.refusals = zhash_new ();
    //  Every service of the ops table exists from the start, so its gauges
    //  read 0 workers (not nothing) until a worker of it connects.
    for (size_t i = 0; i < proto_op_count (); i++)
        s_service_require (&self, proto_op_at (i)->service);
    s_publish_gauges (&self);
    self.next_heartbeat = bus_now_ms () + self.cfg.heartbeat_ms;
    if (bus_curve_enabled (self.cfg.curve)) {
        self.peers = bus_peers_new (bus_curve_peers_dir (self.cfg.curve));
        if (!self.peers)
            log_error ("broker: cannot read OSTIARY_BUS_PEERS: every peer is refused");
        self.peers_seen = bus_peers_generation (self.peers);
    }
    zsock_signal (pipe, 0);

    //  The broker waits in a receive on the ROUTER itself, not in
    //  zmq_poll: a message already queued is taken without a system call,
    //  and an idle broker sleeps in one poll of the socket's mailbox, where
    //  a zmq_poll round over the ROUTER and the pipe costs five or more. The
    //  pipe (STATS, $TERM) is read at every tick, within ~100 ms.
    int64_t next_tick = bus_now_ms () + 100;
    bool stop = false;
    while (!stop) {
        int64_t now = bus_now_ms ();
        int timeout = next_tick > now ? (int)(next_tick - now) : 0;
        zframe_t *identity = NULL;
        int arrived = 0;
        char peer[BUS_PEER_MAX + 1];
        bus_msg_t *msg = bus_msg_recv_peer (self.router, &identity, self.cfg.max_msg, timeout, &arrived, peer,
                                            sizeof peer);
        if (arrived == -2)
            break;
        if (arrived > 0) {
            if (!msg) {
                self.malformed++;
                metrics_inc (METRIC_BROKER_MALFORMED, NULL);
            } else if (bus_msg_type (msg) == BUS_REQUEST) {
                //  What is logged about a request as it arrives carries its
                //  trace: the caller's span (its trace field, proto/bus.md).
                trace_ctx_t caller;
                if (trace_parse (bus_msg_trace (msg), &caller) == 0)
                    trace_set_current (&caller);
                s_client_request (&self, identity, msg, peer);
                trace_set_current (NULL);
            } else
                s_worker_message (&self, identity, msg, peer);
        }
        bus_msg_destroy (&msg);
        zframe_destroy (&identity);
        now = bus_now_ms ();
        if (now >= next_tick) {
            s_tick (&self);
            stop = s_pipe_commands (&self);
            //  Ten checks a heartbeat keeps deadlines answered within ~100 ms.
            next_tick = now + (self.cfg.heartbeat_ms < 1000 ? self.cfg.heartbeat_ms / 10 + 1 : 100);
        }
    }
    //  Tell workers we are going so they reconnect to the next broker at once.
    zlist_t *keys = zhash_keys (self.workers);
    for (char *key = zlist_first (keys); key; key = zlist_next (keys)) {
        worker_t *worker = zhash_lookup (self.workers, key);
        if (worker)
            s_worker_delete (&self, worker, 1);
    }
    zlist_destroy (&keys);
    zhash_destroy (&self.workers);
    zhash_destroy (&self.services);
    zhash_destroy (&self.refusals);
    zsock_destroy (&self.router);
    bus_curve_unserve (self.cfg.curve);
    bus_peers_destroy (&self.peers);
}

zactor_t *
broker_new (const broker_cfg_t *cfg)
{
    if (!cfg || !cfg->endpoint)
        return NULL;
    s_actor_args_t *args = calloc (1, sizeof *args);
    if (!args)
        return NULL;
    args->cfg = *cfg;
    if (args->cfg.heartbeat_ms <= 0)
        args->cfg.heartbeat_ms = 1000;
    if (args->cfg.liveness <= 0)
        args->cfg.liveness = 3;
    if (args->cfg.queue_max == 0)
        args->cfg.queue_max = 1024;
    if (args->cfg.max_msg == 0)
        args->cfg.max_msg = BUS_DEFAULT_MAX_MSG;
    //  Bind here, so that a busy or bad endpoint is an error of the caller
    //  rather than a silent actor.
    args->router = zsock_new (ZMQ_ROUTER);
    if (args->router) {
        zsock_set_maxmsgsize (args->router, (int)bus_msg_wire_max (args->cfg.max_msg));
        zsock_set_linger (args->router, 0);
        zsock_set_sndhwm (args->router, 100000);
        zsock_set_rcvhwm (args->router, 100000);
        //  No ROUTER_HANDOVER: a peer that names the routing id of another
        //  connection gets an id of its own, never that connection's
        //  requests.
        //  Sending to a peer whose connection is gone fails (EHOSTUNREACH)
        //  instead of dropping silently; a full peer fails at once (EAGAIN)
        //  instead of blocking the broker.
        zsock_set_router_mandatory (args->router, 1);
        zsock_set_sndtimeo (args->router, 0);
    }
    //  CURVE server before the bind: every tcp:// or ipc:// handshake is
    //  checked by the ZAP handler; the inproc:// endpoint is the gateway's own.
    if (args->router && bus_curve_serve (args->cfg.curve, args->router) != 0) {
        log_error ("broker: cannot install the bus's authentication handler");
        zsock_destroy (&args->router);
    }
    int bound = args->router && zsock_bind (args->router, "%s", args->cfg.endpoint) >= 0;
    if (bound && args->cfg.local_endpoint && strcmp (args->cfg.local_endpoint, args->cfg.endpoint) != 0 &&
        zsock_bind (args->router, "%s", args->cfg.local_endpoint) < 0) {
        log_error ("broker: cannot bind %s", args->cfg.local_endpoint);
        bound = 0;
    }
    if (!bound) {
        log_error ("broker: cannot bind %s", args->cfg.endpoint);
        zsock_destroy (&args->router);
        bus_curve_unserve (args->cfg.curve);
        free (args);
        return NULL;
    }
    log_info ("broker: listening on %s%s", args->cfg.endpoint,
              bus_curve_enabled (args->cfg.curve) ? " (CURVE, keys of OSTIARY_BUS_PEERS only)" : "");
    zactor_t *actor = zactor_new (s_broker_actor, args);
    if (!actor) {
        zsock_destroy (&args->router);
        bus_curve_unserve (args->cfg.curve);
        free (args);
    }
    return actor;
}
