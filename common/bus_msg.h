/*  bus_msg - one message of the Ostiary bus (proto/bus.md) and its codec.
 *
 *  A message is one ZeroMQ frame (after any ROUTER routing id):
 *    "OSTB2", type (1 byte), then service, op and request id (each a length
 *    byte and that many bytes), deadline (8 bytes, big-endian ms since the
 *    epoch), trace (length byte and bytes), and the body (msgpack) as the rest.
 *  One frame, not one per field: CurveZMQ seals every frame on its own, so
 *  each field of its own would cost a box, a nonce and an allocation per hop.
 *  Decoding checks every length against its limit and against the bytes that
 *  remain, and every msgpack length and element count, before anything is
 *  allocated; a malformed message is dropped and logged, never trusted. */
#ifndef OST_BUS_MSG_H
#define OST_BUS_MSG_H

#include "ost.h"
#include "proto.h"
#include <czmq.h>
#include <jansson.h>
#include <stdint.h>

#define BUS_PROTOCOL "OSTB2"
#define BUS_MAX_SERVICE 32
#define BUS_MAX_OP 64
#define BUS_MAX_RID 64
#define BUS_MAX_TRACE 128
#define BUS_MAX_DEPTH 16
//  The most bytes a message holds besides its body: tag, type, the four
//  length-prefixed header fields at their limits and the deadline.
#define BUS_MAX_HEADER                                                                                       \
    (5 + 1 + 1 + BUS_MAX_SERVICE + 1 + BUS_MAX_OP + 1 + BUS_MAX_RID + 8 + 1 + BUS_MAX_TRACE)
//  The most requests one worker connection may hold at once (its credit,
//  announced in READY; proto/bus.md, "Credit").
#define BUS_CREDIT_MAX 1024
//  Default per-part size limit when the configuration gives none.
#define BUS_DEFAULT_MAX_MSG 262144

typedef enum {
    BUS_READY = 1,      //  worker → broker: service
    BUS_REQUEST = 2,    //  client → broker → worker: service, op, request id, deadline, trace, body
    BUS_REPLY = 3,      //  worker → broker → client: request id, body {"ok":…} or {"error":{…}}
    BUS_HEARTBEAT = 4,  //  both ways between broker and worker
    BUS_DISCONNECT = 5, //  both ways: the peer is going away
} bus_type_t;

typedef struct _bus_msg_t bus_msg_t;

OST_WUR bus_msg_t *bus_msg_new (bus_type_t type);
void bus_msg_destroy (bus_msg_t **self_p);

bus_type_t bus_msg_type (const bus_msg_t *self);
const char *bus_msg_service (const bus_msg_t *self);
const char *bus_msg_op (const bus_msg_t *self);
const char *bus_msg_request_id (const bus_msg_t *self);
int64_t bus_msg_deadline (const bus_msg_t *self);
const char *bus_msg_trace (const bus_msg_t *self);
const unsigned char *bus_msg_body (const bus_msg_t *self, size_t *len);

//  Setters copy their argument; strings are checked against the limits above
//  and must not contain NUL or control bytes. 0 ok, -1 refused.
OST_WUR int bus_msg_set_service (bus_msg_t *self, const char *service);
OST_WUR int bus_msg_set_op (bus_msg_t *self, const char *op);
OST_WUR int bus_msg_set_request_id (bus_msg_t *self, const char *rid);
void bus_msg_set_deadline (bus_msg_t *self, int64_t deadline_ms);
OST_WUR int bus_msg_set_trace (bus_msg_t *self, const char *trace);
OST_WUR int bus_msg_set_body (bus_msg_t *self, const void *data, size_t len);
//  Body from JSON (packed as msgpack). 0 ok, -1 on a value msgpack cannot carry.
OST_WUR int bus_msg_set_body_json (bus_msg_t *self, const json_t *body);
//  Reply bodies: {"ok": result} or {"error": {"code","description","http_status"[,"retry_after"]}}.
OST_WUR int bus_msg_set_result (bus_msg_t *self, const json_t *result);
OST_WUR int bus_msg_set_error (bus_msg_t *self, ost_err_t err, const char *description);

//  A copy of self (for resending a READ request); NULL on allocation failure.
OST_WUR bus_msg_t *bus_msg_dup (const bus_msg_t *self);

//  Wire form without routing envelope (one frame). NULL on allocation failure.
OST_WUR zmsg_t *bus_msg_encode (const bus_msg_t *self);
//  Parses and destroys *msg_p. max_body bounds the body. NULL on any
//  malformation (not exactly one frame, unknown protocol or type, a header
//  field too long or longer than the frame, a body too large or not valid
//  msgpack), with a warning logged.
OST_WUR bus_msg_t *bus_msg_decode (zmsg_t **msg_p, size_t max_body);
//  The largest wire frame of a message whose body is at most max_body bytes:
//  what a bus socket's ZMQ_MAXMSGSIZE is set to.
size_t bus_msg_wire_max (size_t max_body);

//  Sends *self_p (destroyed and NULLed) on sock; routing_id (not consumed) is
//  prepended when sock is a ROUTER. 0 ok, -1 on failure.
OST_WUR int bus_msg_send (bus_msg_t **self_p, zsock_t *sock, zframe_t *routing_id);
//  Receives one message, waiting at most timeout_ms (0: only what is
//  already queued) inside the receive itself: one wait on the socket's
//  mailbox, not a zmq_poll round before a blocking receive. For a
//  ROUTER socket pass routing_id_p to get the sender's id (caller destroys).
//  A message of more parts than the envelope and its one frame is read and
//  dropped. *arrived is 1 when a message was taken off the socket
//  (the result is NULL when it was malformed: consumed and dropped), 0 when
//  none came in time, -1 when a signal interrupted the wait, -2 when the
//  socket cannot receive (its context is ending). Sets ZMQ_RCVTIMEO.
OST_WUR bus_msg_t *bus_msg_recv_wait (zsock_t *sock, zframe_t **routing_id_p, size_t max_body, int timeout_ms,
                                      int *arrived);
//  The same, and the sender's ZAP user id (ZMQ "User-Id" of the message,
//  bus_curve.h) into peer (peer_len bytes, at least 1): "" only for an
//  in-process (inproc://) sender, "?" for a network sender without one
//  (CURVE off, or no ZAP handler answered).
OST_WUR bus_msg_t *bus_msg_recv_peer (zsock_t *sock, zframe_t **routing_id_p, size_t max_body, int timeout_ms,
                                      int *arrived, char *peer, size_t peer_len);

//  msgpack bodies. bus_body_validate walks data without allocating and returns
//  0 when it is exactly one msgpack value no deeper than max_depth whose every
//  string/bin length and array/map count fits in the bytes that remain, whose
//  map keys are strings, and which has no ext types; -1 otherwise.
OST_WUR int bus_body_validate (const void *data, size_t len, int max_depth);
//  msgpack → JSON; NULL when validation fails. Caller json_decref()s.
OST_WUR json_t *bus_body_to_json (const void *data, size_t len);
//  JSON → msgpack, newly allocated in *data (free()). 0 ok, -1 failure.
OST_WUR int bus_body_from_json (const json_t *value, char **data, size_t *len);

//  Milliseconds since the epoch (CLOCK_REALTIME), for deadlines.
int64_t bus_now_ms (void);

#endif
