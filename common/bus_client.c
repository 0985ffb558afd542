/*  bus_client - synchronous bus client used by one thread at a time. See bus_client.h. */
#include "bus_client.h"
#include "bus_msg.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "secure.h"
#include "trace.h"

#include <stdio.h>
#include <string.h>

//  READ ops are resent at most this many times, and only while the deadline
//  leaves room; WRITE ops never are.
#define READ_RETRIES 2
#define RETRY_PAUSE_MS 50

//  Services whose READ ops may go straight to a worker process.
#define DIRECT_MAX 4

//  A direct answer later than this goes through the broker instead,
//  and the service's direct endpoints then rest this long.
#define DIRECT_BUDGET_MS 250
#define DIRECT_REST_MS 5000

typedef struct {
    char service[BUS_MAX_SERVICE + 1];
    zsock_t *sock;      //  DEALER connected to every direct endpoint of service
    int64_t rest_until; //  no direct calls before this (bus_now_ms)
} s_direct_t;

//  How often a client looks whether the servers' keys changed (a rotation
//  of the broker's or keys-svc's key): then it connects again.
#define SERVER_KEYS_CHECK_MS 1000

struct _bus_client_t {
    const bus_curve_t *curve;
    char endpoint[4096];  //  the broker's, or a comma-separated list of brokers
    char *direct_spec;    //  what bus_client_direct was given, to connect again
    uint64_t server_keys; //  bus_curve_server_keys of every server role used
    int64_t next_keys_check;
    zsock_t *sock;
    s_direct_t direct[DIRECT_MAX];
    size_t ndirect;
    size_t max_msg;
    char trace[BUS_MAX_TRACE + 1];
};

//  (Re)makes the DEALER to the broker. 0 ok.
static int
s_connect_broker (bus_client_t *self)
{
    zsock_destroy (&self->sock);
    self->sock = zsock_new (ZMQ_DEALER);
    if (!self->sock)
        return -1;
    zsock_set_maxmsgsize (self->sock, (int)bus_msg_wire_max (self->max_msg));
    zsock_set_linger (self->sock, 0);
    //  A request never sits in our queue while the broker is unreachable:
    //  it fails at its deadline instead of being delivered late.
    zsock_set_immediate (self->sock, 1);
    //  The broker is the gateway's: its key is in OSTIARY_BUS_PEERS/gateway/.
    return bus_curve_connect (self->curve, self->sock, self->endpoint, BUS_ROLE_GATEWAY);
}

bus_client_t *
bus_client_new (const char *endpoint, size_t max_msg, const bus_curve_t *curve)
{
    if (!endpoint)
        return NULL;
    bus_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint);
    self->max_msg = max_msg ? max_msg : BUS_DEFAULT_MAX_MSG;
    self->curve = curve;
    if (strlen (endpoint) >= sizeof self->endpoint || s_connect_broker (self) < 0) {
        log_error ("bus client: cannot connect to %s", endpoint);
        bus_client_destroy (&self);
        return NULL;
    }
    self->server_keys = bus_curve_server_keys (curve, BUS_ROLE_GATEWAY);
    self->next_keys_check = bus_now_ms () + SERVER_KEYS_CHECK_MS;
    return self;
}

void
bus_client_destroy (bus_client_t **self_p)
{
    if (self_p && *self_p) {
        bus_client_t *self = *self_p;
        zsock_destroy (&self->sock);
        for (size_t i = 0; i < self->ndirect; i++)
            zsock_destroy (&self->direct[i].sock);
        free (self->direct_spec);
        free (self);
        *self_p = NULL;
    }
}

void
bus_client_set_trace (bus_client_t *self, const char *trace)
{
    self->trace[0] = 0;
    if (trace && strlen (trace) <= BUS_MAX_TRACE) {
        for (const char *p = trace; *p; p++)
            if (*p < 0x20 || *p > 0x7e)
                return;
        strcpy (self->trace, trace);
    }
}

void
bus_error_set (bus_error_t *error, ost_err_t err, const char *description)
{
    if (!error)
        return;
    const err_def_t *def = proto_err (err);
    memset (error, 0, sizeof *error);
    error->err = def->id;
    snprintf (error->code, sizeof error->code, "%s", def->code);
    snprintf (error->description, sizeof error->description, "%s", description ? description : "");
    error->http_status = def->http_status;
    error->retry_after = def->retry_after;
}

static uint64_t s_server_keys (const bus_client_t *self);

//  The direct endpoints of service, or NULL.
static s_direct_t *
s_direct_of (bus_client_t *self, const char *service)
{
    for (size_t i = 0; i < self->ndirect; i++)
        if (strcmp (self->direct[i].service, service) == 0)
            return &self->direct[i];
    return NULL;
}

//  1 when some op of proto/ops.def belongs to service.
static int
s_service_known (const char *service)
{
    for (size_t i = 0; i < proto_op_count (); i++)
        if (strcmp (proto_op_at (i)->service, service) == 0)
            return 1;
    return 0;
}

//  One "service=endpoint" of a direct spec: checks it and, with self,
//  connects. 0 ok, -1 malformed or not connectable.
static int
s_direct_one (bus_client_t *self, const char *item, size_t len)
{
    const char *eq = memchr (item, '=', len);
    size_t slen = eq ? (size_t)(eq - item) : 0;
    size_t elen = eq ? len - slen - 1 : 0;
    char service[BUS_MAX_SERVICE + 1];
    char endpoint[256];
    if (!eq || slen == 0 || slen > BUS_MAX_SERVICE || elen == 0 || elen >= sizeof endpoint)
        return -1;
    memcpy (service, item, slen);
    service[slen] = 0;
    memcpy (endpoint, eq + 1, elen);
    endpoint[elen] = 0;
    //  Only a service that has operations can be reached directly.
    if (!s_service_known (service) ||
        (strncmp (endpoint, "tcp://", 6) != 0 && strncmp (endpoint, "ipc://", 6) != 0 &&
         strncmp (endpoint, "inproc://", 9) != 0))
        return -1;
    if (!self)
        return 0;
    s_direct_t *found = s_direct_of (self, service);
    zsock_t *sock = found ? found->sock : NULL;
    if (!sock) {
        if (self->ndirect == DIRECT_MAX)
            return -1;
        sock = zsock_new (ZMQ_DEALER);
        if (!sock)
            return -1;
        zsock_set_maxmsgsize (sock, (int)bus_msg_wire_max (self->max_msg));
        zsock_set_linger (sock, 0);
        zsock_set_immediate (sock, 1);
        //  A direct call never waits to be sent: no connected endpoint means
        //  the broker's path at once.
        zsock_set_sndtimeo (sock, 0);
        //  ZMTP heartbeats end a connection whose peer went away without a
        //  word (a host gone, a half-open connection): IMMEDIATE then stops
        //  using it. A process that hangs with its connection open is caught
        //  by DIRECT_BUDGET_MS.
        zsock_set_heartbeat_ivl (sock, 1000);
        zsock_set_heartbeat_timeout (sock, 3000);
        s_direct_t *d = &self->direct[self->ndirect++];
        snprintf (d->service, sizeof d->service, "%s", service);
        d->sock = sock;
    }
    //  A direct endpoint is a server of the role that serves the service.
    if (bus_curve_connect (self->curve, sock, endpoint, proto_worker_roles (service)) < 0) {
        log_error ("bus client: cannot connect to %s", endpoint);
        return -1;
    }
    return 0;
}

int
bus_client_direct (bus_client_t *self, const char *spec)
{
    if (!spec || !*spec)
        return 0;
    if (self && spec != self->direct_spec) {
        free (self->direct_spec);
        self->direct_spec = strdup (spec);
        if (!self->direct_spec)
            return -1;
    }
    for (const char *p = spec;; p++) {
        size_t len = strcspn (p, ",");
        if (len == 0 || s_direct_one (self, p, len))
            return -1;
        p += len;
        if (!*p) {
            if (self)
                self->server_keys = s_server_keys (self);
            return 0;
        }
    }
}

//  A signature of the keys of every server this client connects to: the
//  broker's and the direct endpoints' roles.
static uint64_t
s_server_keys (const bus_client_t *self)
{
    uint64_t sig = bus_curve_server_keys (self->curve, BUS_ROLE_GATEWAY);
    for (size_t i = 0; i < self->ndirect; i++)
        sig = sig * 31 + bus_curve_server_keys (self->curve, proto_worker_roles (self->direct[i].service));
    return sig;
}

//  Once a second: when a server's key was added or removed (a rotation),
//  every connection is made again with the keys there now, so that a
//  client started before the new key still reaches the server that holds
//  it, and none keeps talking to a removed key.
static void
s_check_server_keys (bus_client_t *self)
{
    int64_t now = bus_now_ms ();
    if (!bus_curve_enabled (self->curve) || now < self->next_keys_check)
        return;
    self->next_keys_check = now + SERVER_KEYS_CHECK_MS;
    uint64_t sig = s_server_keys (self);
    if (sig == self->server_keys)
        return;
    log_info ("bus client: the servers' keys changed; connecting again");
    if (s_connect_broker (self) < 0)
        log_error ("bus client: cannot connect to %s", self->endpoint);
    for (size_t i = 0; i < self->ndirect; i++)
        zsock_destroy (&self->direct[i].sock);
    self->ndirect = 0;
    if (self->direct_spec && bus_client_direct (self, self->direct_spec))
        log_error ("bus client: cannot connect to OSTIARY_BUS_DIRECT");
    self->server_keys = sig;
}

//  Reads a reply body: {"ok": result} or {"error": {...}}. 0 result, -1 error.
static int
s_parse_reply (bus_msg_t *reply, json_t **result, bus_error_t *error)
{
    size_t len;
    const unsigned char *body = bus_msg_body (reply, &len);
    json_t *json = bus_body_to_json (body, len);
    json_t *ok = json ? json_object_get (json, "ok") : NULL;
    json_t *err = json ? json_object_get (json, "error") : NULL;
    if (ok && !err) {
        *result = json_incref (ok);
        json_decref (json);
        return 0;
    }
    if (err && json_is_object (err)) {
        const char *code = json_string_value (json_object_get (err, "code"));
        const char *description = json_string_value (json_object_get (err, "description"));
        const err_def_t *def = proto_err_by_code (code);
        //  An unknown code is a bug on the other side; never pass it on as is.
        bus_error_set (error, def ? def->id : OST_ERR_SERVER_ERROR,
                       def ? description : "unexpected error reply");
        json_decref (json);
        return -1;
    }
    json_decref (json);
    bus_error_set (error, OST_ERR_SERVER_ERROR, "malformed reply");
    return -1;
}

//  Waits on sock until `until` for the reply to rid. 1 with *rc set (0
//  result, -1 error in *error), 0 when none came in time, -1 interrupted.
static int
s_wait_reply (bus_client_t *self, zsock_t *sock, const char *rid, int64_t until, int *rc, json_t **result,
              bus_error_t *error)
{
    while (true) {
        int64_t left = until - bus_now_ms ();
        if (left <= 0)
            return 0;
        //  The wait is the receive itself (one poll of the socket's
        //  mailbox), not a zmq_poll round before a blocking receive.
        int arrived = 0;
        bus_msg_t *reply = bus_msg_recv_wait (sock, NULL, self->max_msg, (int)left, &arrived);
        if (arrived < 0) {
            if (arrived == -2 || zsys_interrupted) {
                bus_error_set (error, OST_ERR_TEMPORARILY_UNAVAILABLE, "interrupted");
                return -1;
            }
            continue;
        }
        if (!reply)
            continue;
        //  A late reply to an earlier call that timed out: drop it.
        if (bus_msg_type (reply) != BUS_REPLY || strcmp (bus_msg_request_id (reply), rid) != 0) {
            bus_msg_destroy (&reply);
            continue;
        }
        *rc = s_parse_reply (reply, result, error);
        bus_msg_destroy (&reply);
        return 1;
    }
}

//  A READ op sent to a direct endpoint. 1 with *rc set when it was
//  answered; 0 when the caller should send it through the broker: no
//  endpoint connected (ZMQ_IMMEDIATE: the send fails at once), no answer
//  within DIRECT_BUDGET_MS (a hung, stopped or overloaded process), or
//  temporarily_unavailable (a process stopping). After the last two the
//  endpoints of that service rest for DIRECT_REST_MS: calls go through the
//  broker, whose workers are dispatched only when idle and dropped when
//  silent. -1 interrupted.
static int
s_direct_call (bus_client_t *self, s_direct_t *d, const bus_msg_t *msg, const char *rid, int64_t deadline,
               int *rc, json_t **result, bus_error_t *error)
{
    int64_t now = bus_now_ms ();
    if (now < d->rest_until)
        return 0;
    bus_msg_t *copy = bus_msg_dup (msg);
    if (!copy || bus_msg_send (&copy, d->sock, NULL)) {
        bus_msg_destroy (&copy);
        return 0;
    }
    int64_t budget = (deadline - now) / 2;
    if (budget > DIRECT_BUDGET_MS)
        budget = DIRECT_BUDGET_MS;
    int got = s_wait_reply (self, d->sock, rid, now + budget, rc, result, error);
    if (got < 0)
        return -1;
    //  (An error reply leaves *result NULL.)
    if (got == 1 && !(*rc && error->err == OST_ERR_TEMPORARILY_UNAVAILABLE))
        return 1;
    d->rest_until = bus_now_ms () + DIRECT_REST_MS;
    log_warn ("bus client: the direct endpoint of %s %s; through the broker for %d s", d->service,
              got ? "is not available" : "did not answer in time", DIRECT_REST_MS / 1000);
    return 0;
}

//  One exchange: send msg under a fresh request id, wait for the reply with
//  that id until deadline. Returns 0 result, -1 error.
static int
s_exchange (bus_client_t *self, const char *service, const char *op, const char *body, size_t body_len,
            int64_t deadline, int direct, json_t **result, bus_error_t *error)
{
    char rid[33];
    //  The trace field (proto/bus.md): the trace set on this client, else
    //  the calling thread's trace context as a traceparent, so that the
    //  service's span is a child of the span that called it.
    char traceparent[TRACE_PARENT_LEN + 1];
    const char *trace = self->trace;
    if (!trace[0] && trace_format (trace_current (), traceparent, sizeof traceparent) == 0)
        trace = traceparent;
    bus_msg_t *msg = bus_msg_new (BUS_REQUEST);
    if (!msg || secure_request_id (rid) || bus_msg_set_service (msg, service) || bus_msg_set_op (msg, op) ||
        bus_msg_set_request_id (msg, rid) || bus_msg_set_trace (msg, trace) ||
        bus_msg_set_body (msg, body, body_len)) {
        bus_msg_destroy (&msg);
        bus_error_set (error, OST_ERR_SERVER_ERROR, "could not build the request");
        return -1;
    }
    bus_msg_set_deadline (msg, deadline);
    int rc = -1;
    s_direct_t *d = direct ? s_direct_of (self, service) : NULL;
    if (d) {
        //  READ ops only: resending one through the broker under the same
        //  request id is safe, and a late direct answer is dropped by id.
        int got = s_direct_call (self, d, msg, rid, deadline, &rc, result, error);
        if (got != 0) {
            bus_msg_destroy (&msg);
            return got > 0 ? rc : -1;
        }
        if (deadline - bus_now_ms () <= 0) {
            bus_msg_destroy (&msg);
            bus_error_set (error, OST_ERR_DEADLINE_EXCEEDED, "no answer before the deadline");
            return -1;
        }
    }
    //  With ZMQ_IMMEDIATE a send waits for a connected broker: at most until the deadline.
    int64_t wait = deadline - bus_now_ms ();
    zsock_set_sndtimeo (self->sock, wait > 0 ? (int)wait : 0);
    if (bus_msg_send (&msg, self->sock, NULL)) {
        bus_error_set (error, OST_ERR_TEMPORARILY_UNAVAILABLE, "the bus is not reachable");
        return -1;
    }
    int got = s_wait_reply (self, self->sock, rid, deadline, &rc, result, error);
    if (got == 1)
        return rc;
    if (got == 0)
        bus_error_set (error, OST_ERR_DEADLINE_EXCEEDED, "no answer before the deadline");
    return -1;
}

int
bus_client_call (bus_client_t *self, const char *op, const json_t *body, int timeout_ms, json_t **result,
                 bus_error_t *error)
{
    bus_error_t scratch;
    if (!error)
        error = &scratch;
    *result = NULL;
    s_check_server_keys (self);
    const op_def_t *def = proto_op (op);
    if (!def) {
        bus_error_set (error, OST_ERR_UNKNOWN_OP, "unknown operation");
        return -1;
    }
    json_t *empty = NULL;
    if (!body)
        body = empty = json_object ();
    //  A body that does not fit the op's table is refused here, before it
    //  travels, with the answer the worker would give (the same words).
    char what[SCHEMA_WHY_MAX], why[SCHEMA_WHY_MAX + 32];
    if (schema_unpack (def->in, body, NULL, what, sizeof what) != 0) {
        log_info ("bus client: refused a request of %s outside proto/ops.def: %s", op, what);
        json_decref (empty);
        snprintf (why, sizeof why, "invalid request: %s", what);
        bus_error_set (error, OST_ERR_INVALID_REQUEST, why);
        return -1;
    }
    char *packed = NULL;
    size_t packed_len = 0;
    int rc = bus_body_from_json (body, &packed, &packed_len);
    json_decref (empty);
    if (rc) {
        bus_error_set (error, OST_ERR_INVALID_REQUEST, "the request body cannot be encoded");
        return -1;
    }
    if (packed_len > def->max_body) {
        free (packed);
        bus_error_set (error, OST_ERR_INVALID_REQUEST, "the request body is too large for the operation");
        return -1;
    }
    double started = metrics_now ();
    int64_t deadline = bus_now_ms () + (timeout_ms > 0 ? timeout_ms : def->timeout_ms);
    int attempts = def->kind == OP_READ ? 1 + READ_RETRIES : 1;
    rc = -1;
    for (int i = 0; i < attempts; i++) {
        rc = s_exchange (self, def->service, op, packed, packed_len, deadline, def->kind == OP_READ, result,
                         error);
        //  Only "nobody could take it" is worth another try, and only for READ ops.
        if (rc == 0 || error->err != OST_ERR_TEMPORARILY_UNAVAILABLE ||
            deadline - bus_now_ms () <= RETRY_PAUSE_MS * 2)
            break;
        zclock_sleep (RETRY_PAUSE_MS);
    }
    free (packed);
    //  A result is read by the caller as the op's typed result: one that
    //  does not fit the table is not trusted.
    if (rc == 0 && schema_unpack (def->out, *result, NULL, what, sizeof what) != 0) {
        log_error ("bus client: the result of %s does not match proto/ops.def: %s", op, what);
        json_decref (*result);
        *result = NULL;
        bus_error_set (error, OST_ERR_SERVER_ERROR, "the result does not match proto/ops.def");
        rc = -1;
    }
    metrics_observe (METRIC_BUS_CALL, METRICS_L (def->name, rc == 0 ? "ok" : proto_err (error->err)->code),
                     metrics_now () - started);
    return rc;
}

int
bus_client_service_ready (bus_client_t *self, const char *service, int timeout_ms)
{
    json_t *body = json_pack ("{s:s}", "service", service ? service : "");
    char *packed = NULL;
    size_t len = 0;
    if (!body || bus_body_from_json (body, &packed, &len)) {
        json_decref (body);
        return -1;
    }
    json_decref (body);
    json_t *result = NULL;
    bus_error_t error;
    int rc = s_exchange (self, "mmi.service", "mmi.service", packed, len, bus_now_ms () + timeout_ms, 0,
                         &result, &error);
    free (packed);
    if (rc)
        return -1;
    int ready = json_is_true (json_object_get (result, "ready"));
    json_decref (result);
    return ready;
}
