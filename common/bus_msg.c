/*  bus_msg - one message of the Ostiary bus and its codec. See bus_msg.h and
 *  proto/bus.md. Nothing received from a socket is trusted: every frame is
 *  checked for size and content, and a msgpack body is walked by
 *  bus_body_validate (no allocation, explicit limits) before msgpack-c is
 *  allowed to unpack it, so a declared count of 2^32 elements in a 5-byte
 *  frame is refused instead of becoming a 100 GB allocation. */
#include "bus_msg.h"
#include "log.h"

#include <errno.h>
#include <msgpack.h>
#include <string.h>
#include <time.h>

struct _bus_msg_t {
    bus_type_t type;
    char service[BUS_MAX_SERVICE + 1];
    char op[BUS_MAX_OP + 1];
    char rid[BUS_MAX_RID + 1];
    int64_t deadline;
    char trace[BUS_MAX_TRACE + 1];
    unsigned char *body;
    size_t body_len;
};

int64_t
bus_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bus_msg_t *
bus_msg_new (bus_type_t type)
{
    bus_msg_t *self = calloc (1, sizeof *self);
    if (self)
        self->type = type;
    return self;
}

void
bus_msg_destroy (bus_msg_t **self_p)
{
    if (self_p && *self_p) {
        bus_msg_t *self = *self_p;
        free (self->body);
        free (self);
        *self_p = NULL;
    }
}

bus_type_t
bus_msg_type (const bus_msg_t *self)
{
    return self->type;
}

const char *
bus_msg_service (const bus_msg_t *self)
{
    return self->service;
}

const char *
bus_msg_op (const bus_msg_t *self)
{
    return self->op;
}

const char *
bus_msg_request_id (const bus_msg_t *self)
{
    return self->rid;
}

int64_t
bus_msg_deadline (const bus_msg_t *self)
{
    return self->deadline;
}

const char *
bus_msg_trace (const bus_msg_t *self)
{
    return self->trace;
}

const unsigned char *
bus_msg_body (const bus_msg_t *self, size_t *len)
{
    if (len)
        *len = self->body_len;
    return self->body;
}

//  Header strings are short printable ASCII; the trace may hold spaces.
static int
s_valid_text (const char *data, size_t len, size_t max, int allow_space)
{
    if (len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c < 0x20 || c > 0x7e || (c == 0x20 && !allow_space))
            return 0;
    }
    return 1;
}

static int
s_set_text (char *dest, const char *src, size_t max, int allow_space)
{
    if (!src)
        src = "";
    size_t len = strlen (src);
    if (!s_valid_text (src, len, max, allow_space))
        return -1;
    memcpy (dest, src, len + 1);
    return 0;
}

int
bus_msg_set_service (bus_msg_t *self, const char *service)
{
    return s_set_text (self->service, service, BUS_MAX_SERVICE, 0);
}

int
bus_msg_set_op (bus_msg_t *self, const char *op)
{
    return s_set_text (self->op, op, BUS_MAX_OP, 0);
}

int
bus_msg_set_request_id (bus_msg_t *self, const char *rid)
{
    return s_set_text (self->rid, rid, BUS_MAX_RID, 0);
}

void
bus_msg_set_deadline (bus_msg_t *self, int64_t deadline_ms)
{
    self->deadline = deadline_ms;
}

int
bus_msg_set_trace (bus_msg_t *self, const char *trace)
{
    return s_set_text (self->trace, trace, BUS_MAX_TRACE, 1);
}

int
bus_msg_set_body (bus_msg_t *self, const void *data, size_t len)
{
    unsigned char *copy = NULL;
    if (len) {
        copy = malloc (len);
        if (!copy)
            return -1;
        memcpy (copy, data, len);
    }
    free (self->body);
    self->body = copy;
    self->body_len = len;
    return 0;
}

static int
s_take_body (bus_msg_t *self, char *data, size_t len)
{
    free (self->body);
    self->body = (unsigned char *)data;
    self->body_len = len;
    return 0;
}

int
bus_msg_set_body_json (bus_msg_t *self, const json_t *body)
{
    char *data;
    size_t len;
    if (bus_body_from_json (body, &data, &len))
        return -1;
    return s_take_body (self, data, len);
}

int
bus_msg_set_result (bus_msg_t *self, const json_t *result)
{
    json_t *wrap = json_object ();
    if (!wrap || json_object_set (wrap, "ok", result ? (json_t *)result : json_null ())) {
        json_decref (wrap);
        return -1;
    }
    int rc = bus_msg_set_body_json (self, wrap);
    json_decref (wrap);
    return rc;
}

int
bus_msg_set_error (bus_msg_t *self, ost_err_t err, const char *description)
{
    const err_def_t *def = proto_err (err);
    json_t *wrap = json_pack ("{s:{s:s,s:s,s:i,s:i}}", "error", "code", def->code, "description",
                              description ? description : "", "http_status", def->http_status, "retry_after",
                              def->retry_after);
    if (!wrap)
        return -1;
    int rc = bus_msg_set_body_json (self, wrap);
    json_decref (wrap);
    return rc;
}

bus_msg_t *
bus_msg_dup (const bus_msg_t *self)
{
    bus_msg_t *copy = bus_msg_new (self->type);
    if (!copy)
        return NULL;
    memcpy (copy, self, sizeof *copy);
    copy->body = NULL;
    copy->body_len = 0;
    if (bus_msg_set_body (copy, self->body, self->body_len)) {
        bus_msg_destroy (&copy);
        return NULL;
    }
    return copy;
}

//  Appends one length-prefixed header field (at most 255 bytes: every
//  header limit is far below that).
static unsigned char *
s_put_field (unsigned char *p, const char *text)
{
    size_t len = strlen (text);
    *p++ = (unsigned char)len;
    memcpy (p, text, len);
    return p + len;
}

//  The wire form (one frame) in a new buffer of *len bytes; NULL on failure.
static unsigned char *
s_encode_bytes (const bus_msg_t *self, size_t *len)
{
    size_t size = strlen (BUS_PROTOCOL) + 1 + 1 + strlen (self->service) + 1 + strlen (self->op) + 1 +
                  strlen (self->rid) + 8 + 1 + strlen (self->trace) + self->body_len;
    unsigned char *buf = malloc (size);
    if (!buf)
        return NULL;
    unsigned char *p = buf;
    memcpy (p, BUS_PROTOCOL, strlen (BUS_PROTOCOL));
    p += strlen (BUS_PROTOCOL);
    *p++ = (unsigned char)self->type;
    p = s_put_field (p, self->service);
    p = s_put_field (p, self->op);
    p = s_put_field (p, self->rid);
    uint64_t d = (uint64_t)self->deadline;
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(d & 0xff);
        d >>= 8;
    }
    p += 8;
    p = s_put_field (p, self->trace);
    if (self->body_len)
        memcpy (p, self->body, self->body_len);
    *len = size;
    return buf;
}

zmsg_t *
bus_msg_encode (const bus_msg_t *self)
{
    size_t len;
    unsigned char *buf = s_encode_bytes (self, &len);
    zmsg_t *msg = buf ? zmsg_new () : NULL;
    if (msg && zmsg_addmem (msg, buf, len))
        zmsg_destroy (&msg);
    free (buf);
    return msg;
}

size_t
bus_msg_wire_max (size_t max_body)
{
    return max_body > SIZE_MAX - BUS_MAX_HEADER ? SIZE_MAX : max_body + BUS_MAX_HEADER;
}

//  Reads one length-prefixed header field into dest (NUL-terminated).
static int
s_get_field (const unsigned char **p, size_t *left, char *dest, size_t max, int allow_space)
{
    if (*left < 1)
        return -1;
    size_t len = **p;
    if (len > *left - 1 || !s_valid_text ((const char *)*p + 1, len, max, allow_space))
        return -1;
    memcpy (dest, *p + 1, len);
    dest[len] = 0;
    *p += 1 + len;
    *left -= 1 + len;
    return 0;
}

//  A message of another version of this bus (its first part starts with
//  "OSTB" and another version) is named as such: that is a deployment that
//  mixes builds, not an attack. 1 when it was logged.
static int
s_log_other_version (const unsigned char *data, size_t size)
{
    const size_t tag = strlen (BUS_PROTOCOL);
    if (size < tag || memcmp (data, "OSTB", 4) != 0 || memcmp (data, BUS_PROTOCOL, tag) == 0)
        return 0;
    log_warn (
        "bus: dropped a message of bus protocol %.*s: this build speaks %s (every process of a deployment "
        "must run the same bus version)",
        (int)tag, (const char *)data, BUS_PROTOCOL);
    return 1;
}

//  Decodes one wire frame; NULL (and a warning) on any malformation.
static bus_msg_t *
s_decode_bytes (const unsigned char *data, size_t size, size_t max_body)
{
    bus_msg_t *self = NULL;
    const char *why = NULL;
    const size_t tag = strlen (BUS_PROTOCOL);
    if (size < tag + 1 || memcmp (data, BUS_PROTOCOL, tag) != 0) {
        why = "unknown protocol";
        goto drop;
    }
    if (data[tag] < BUS_READY || data[tag] > BUS_DISCONNECT) {
        why = "unknown message type";
        goto drop;
    }
    self = bus_msg_new ((bus_type_t)data[tag]);
    if (!self) {
        why = "out of memory";
        goto drop;
    }
    const unsigned char *p = data + tag + 1;
    size_t left = size - tag - 1;
    if (s_get_field (&p, &left, self->service, BUS_MAX_SERVICE, 0) ||
        s_get_field (&p, &left, self->op, BUS_MAX_OP, 0) ||
        s_get_field (&p, &left, self->rid, BUS_MAX_RID, 0)) {
        why = "malformed header";
        goto drop;
    }
    if (left < 8) {
        why = "malformed deadline";
        goto drop;
    }
    uint64_t d = 0;
    for (int i = 0; i < 8; i++)
        d = (d << 8) | p[i];
    p += 8;
    left -= 8;
    if (d > (uint64_t)INT64_MAX) {
        why = "malformed deadline";
        goto drop;
    }
    self->deadline = (int64_t)d;
    if (s_get_field (&p, &left, self->trace, BUS_MAX_TRACE, 1)) {
        why = "malformed header";
        goto drop;
    }
    //  The body is what remains of the frame.
    size_t body_len = left;
    if (body_len > max_body) {
        why = "body too large";
        goto drop;
    }
    //  Each type carries what it needs, and bodies travel only where they mean something.
    switch (self->type) {
    case BUS_READY:
        if (!proto_valid_service (self->service))
            why = "READY without a valid service";
        break;
    case BUS_REQUEST:
        if (!*self->service || !*self->op || !*self->rid || !self->deadline)
            why = "REQUEST missing service, op, request id or deadline";
        else if (bus_body_validate (p, body_len, BUS_MAX_DEPTH))
            why = "REQUEST body is not valid msgpack";
        break;
    case BUS_REPLY:
        if (!*self->rid)
            why = "REPLY without request id";
        else if (bus_body_validate (p, body_len, BUS_MAX_DEPTH))
            why = "REPLY body is not valid msgpack";
        break;
    case BUS_HEARTBEAT:
    case BUS_DISCONNECT:
        break;
    }
    if (why)
        goto drop;
    if (bus_msg_set_body (self, p, body_len)) {
        why = "out of memory";
        goto drop;
    }
    return self;
drop:
    if (!s_log_other_version (data, size))
        log_warn ("bus: dropped malformed message: %s", why);
    bus_msg_destroy (&self);
    return NULL;
}

bus_msg_t *
bus_msg_decode (zmsg_t **msg_p, size_t max_body)
{
    if (!msg_p || !*msg_p)
        return NULL;
    bus_msg_t *self = NULL;
    zframe_t *frame = zmsg_first (*msg_p);
    if (zmsg_size (*msg_p) != 1 || !frame)
        log_warn ("bus: dropped malformed message: %zu parts where one is expected", zmsg_size (*msg_p));
    else
        self = s_decode_bytes (zframe_data (frame), zframe_size (frame), max_body);
    zmsg_destroy (msg_p);
    return self;
}

static void
s_free_wire (void *data, void *hint)
{
    (void)hint;
    free (data);
}

int
bus_msg_send (bus_msg_t **self_p, zsock_t *sock, zframe_t *routing_id)
{
    size_t len;
    unsigned char *buf = s_encode_bytes (*self_p, &len);
    bus_msg_destroy (self_p);
    if (!buf)
        return -1;
    void *handle = zsock_resolve (sock);
    if (routing_id &&
        zmq_send (handle, zframe_data (routing_id), zframe_size (routing_id), ZMQ_SNDMORE) < 0) {
        free (buf);
        return -1;
    }
    //  The one frame goes out without another copy: libzmq frees it once sent.
    zmq_msg_t part;
    if (zmq_msg_init_data (&part, buf, len, s_free_wire, NULL)) {
        free (buf);
        return -1;
    }
    if (zmq_msg_send (&part, handle, 0) < 0) {
        zmq_msg_close (&part);
        return -1;
    }
    return 0;
}

//  Discards what is left of a message whose first parts were read.
static void
s_drain_rest (zsock_t *sock, int more)
{
    while (more) {
        zframe_t *part = zframe_recv (sock);
        if (!part)
            return;
        more = zframe_more (part);
        zframe_destroy (&part);
    }
}

bus_msg_t *
bus_msg_recv_wait (zsock_t *sock, zframe_t **routing_id_p, size_t max_body, int timeout_ms, int *arrived)
{
    return bus_msg_recv_peer (sock, routing_id_p, max_body, timeout_ms, arrived, NULL, 0);
}

bus_msg_t *
bus_msg_recv_peer (zsock_t *sock, zframe_t **routing_id_p, size_t max_body, int timeout_ms, int *arrived,
                   char *peer, size_t peer_len)
{
    if (peer && peer_len)
        peer[0] = 0;
    if (routing_id_p)
        *routing_id_p = NULL;
    void *handle = zsock_resolve (sock);
    zsock_set_rcvtimeo (sock, timeout_ms > 0 ? timeout_ms : 0);
    //  The first part decides: none means no message (EAGAIN) or an
    //  interrupt; once it is in, the rest of the message is already queued
    //  (ZeroMQ delivers whole messages atomically).
    zmq_msg_t part;
    zmq_msg_init (&part);
    if (zmq_msg_recv (&part, handle, 0) < 0) {
        int e = zmq_errno ();
        zmq_msg_close (&part);
        *arrived = e == EAGAIN ? 0 : e == EINTR ? -1 : -2;
        return NULL;
    }
    *arrived = 1;
    if (peer && peer_len) {
        //  Set by the ZAP handler of the connection, never by the sender.
        const char *user = zmq_msg_gets (&part, "User-Id");
        if (user && *user && strlen (user) < peer_len)
            memcpy (peer, user, strlen (user) + 1);
        else if ((user && *user) || zmq_msg_gets (&part, "Socket-Type"))
            //  Too long to be one of ours, or a peer of a network connection
            //  (ZMTP metadata: tcp://, ipc://) that no ZAP handler named:
            //  never read as "" (an in-process peer, which carries none).
            snprintf (peer, peer_len, "?");
    }
    //  A ROUTER's first part is the sender's routing id; the message itself
    //  is exactly one more part. Anything longer is read and dropped, so
    //  nothing of it is left behind for the next receive. (libzmq has
    //  buffered the whole message by then; ZMQ_MAXMSGSIZE bounds each part
    //  and the high-water mark the number of messages.)
    int more = zmq_msg_more (&part);
    if (routing_id_p) {
        zframe_t *id = more ? zframe_new (zmq_msg_data (&part), zmq_msg_size (&part)) : NULL;
        zmq_msg_close (&part);
        zmq_msg_init (&part);
        if (!id || zmq_msg_recv (&part, handle, 0) < 0) {
            if (more)
                log_warn ("bus: dropped malformed message: %s",
                          id ? "lost its second part" : "out of memory");
            else
                log_warn ("bus: dropped malformed message: a routing id and no message");
            zframe_destroy (&id);
            zmq_msg_close (&part);
            s_drain_rest (sock, more && !id);
            return NULL;
        }
        *routing_id_p = id;
        more = zmq_msg_more (&part);
    }
    bus_msg_t *self = NULL;
    if (more) {
        if (!s_log_other_version (zmq_msg_data (&part), zmq_msg_size (&part)))
            log_warn ("bus: dropped malformed message: more parts than one");
        s_drain_rest (sock, more);
    } else
        self = s_decode_bytes (zmq_msg_data (&part), zmq_msg_size (&part), max_body);
    zmq_msg_close (&part);
    if (!self && routing_id_p)
        zframe_destroy (routing_id_p);
    return self;
}

//  ---------------------------------------------------------------------------
//  msgpack bodies

typedef struct {
    const unsigned char *p;
    size_t left;
} s_cursor_t;

static int
s_take (s_cursor_t *c, size_t n, const unsigned char **out)
{
    if (n > c->left)
        return -1;
    if (out)
        *out = c->p;
    c->p += n;
    c->left -= n;
    return 0;
}

static int
s_read_be (s_cursor_t *c, size_t width, uint64_t *value)
{
    const unsigned char *b;
    if (s_take (c, width, &b))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++)
        v = (v << 8) | b[i];
    *value = v;
    return 0;
}

//  Walks one value. A count is accepted only when even the smallest possible
//  elements (one byte each) could fit in what remains, so the walk is linear in
//  the input and no size taken from the input is ever used to allocate.
static int
s_walk (s_cursor_t *c, int depth, int as_key)
{
    const unsigned char *b;
    if (depth < 0 || s_take (c, 1, &b))
        return -1;
    unsigned char t = *b;
    uint64_t n = 0;
    enum { K_SCALAR, K_STR, K_ARRAY, K_MAP } kind = K_SCALAR;

    if (t <= 0x7f || t >= 0xe0)
        kind = K_SCALAR;
    else if (t >= 0x80 && t <= 0x8f) {
        kind = K_MAP;
        n = t & 0x0f;
    } else if (t >= 0x90 && t <= 0x9f) {
        kind = K_ARRAY;
        n = t & 0x0f;
    } else if (t >= 0xa0 && t <= 0xbf) {
        kind = K_STR;
        n = t & 0x1f;
    } else
        switch (t) {
        case 0xc0: //  nil
        case 0xc2: //  false
        case 0xc3: //  true
            break;
        case 0xca: //  float 32
            if (s_take (c, 4, NULL))
                return -1;
            break;
        case 0xcb: //  float 64
        case 0xcf: //  uint 64
        case 0xd3: //  int 64
            if (s_take (c, 8, NULL))
                return -1;
            break;
        case 0xcc:
        case 0xd0:
            if (s_take (c, 1, NULL))
                return -1;
            break;
        case 0xcd:
        case 0xd1:
            if (s_take (c, 2, NULL))
                return -1;
            break;
        case 0xce:
        case 0xd2:
            if (s_take (c, 4, NULL))
                return -1;
            break;
        case 0xd9:
            kind = K_STR;
            if (s_read_be (c, 1, &n))
                return -1;
            break;
        case 0xda:
            kind = K_STR;
            if (s_read_be (c, 2, &n))
                return -1;
            break;
        case 0xdb:
            kind = K_STR;
            if (s_read_be (c, 4, &n))
                return -1;
            break;
        case 0xdc:
            kind = K_ARRAY;
            if (s_read_be (c, 2, &n))
                return -1;
            break;
        case 0xdd:
            kind = K_ARRAY;
            if (s_read_be (c, 4, &n))
                return -1;
            break;
        case 0xde:
            kind = K_MAP;
            if (s_read_be (c, 2, &n))
                return -1;
            break;
        case 0xdf:
            kind = K_MAP;
            if (s_read_be (c, 4, &n))
                return -1;
            break;
        default:
            //  0xc1 (never used), bin 8/16/32 and every ext type: JSON cannot
            //  carry them, so no Ostiary body contains them.
            return -1;
        }

    if (as_key && kind != K_STR)
        return -1;
    switch (kind) {
    case K_SCALAR:
        return 0;
    case K_STR:
        return s_take (c, (size_t)n, NULL);
    case K_ARRAY:
        if (n > c->left)
            return -1;
        for (uint64_t i = 0; i < n; i++)
            if (s_walk (c, depth - 1, 0))
                return -1;
        return 0;
    case K_MAP:
        if (n > c->left / 2)
            return -1;
        for (uint64_t i = 0; i < n; i++)
            if (s_walk (c, depth - 1, 1) || s_walk (c, depth - 1, 0))
                return -1;
        return 0;
    }
    return -1;
}

int
bus_body_validate (const void *data, size_t len, int max_depth)
{
    if (!data || !len)
        return -1;
    s_cursor_t c = {data, len};
    if (s_walk (&c, max_depth, 0))
        return -1;
    return c.left == 0 ? 0 : -1;
}

static json_t *
s_object_to_json (const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null ();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean (o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return NULL;
        return json_integer ((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer ((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real (o->via.f64);
    case MSGPACK_OBJECT_STR:
        //  json_stringn refuses invalid UTF-8: such a body is malformed. An
        //  empty string comes from msgpack-c as a NULL pointer, which
        //  json_stringn refuses too.
        return json_stringn (o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *arr = json_array ();
        for (uint32_t i = 0; arr && i < o->via.array.size; i++) {
            json_t *item = s_object_to_json (&o->via.array.ptr[i]);
            if (!item || json_array_append_new (arr, item)) {
                json_decref (arr);
                return NULL;
            }
        }
        return arr;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *obj = json_object ();
        for (uint32_t i = 0; obj && i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR) {
                json_decref (obj);
                return NULL;
            }
            //  Keys with NUL bytes cannot be JSON object keys here; a key given
            //  twice is a malformed body rather than "last one wins".
            uint32_t klen = kv->key.via.str.size;
            const char *k = klen ? kv->key.via.str.ptr : "";
            if (memchr (k, 0, klen) || json_object_getn (obj, k, klen)) {
                json_decref (obj);
                return NULL;
            }
            json_t *val = s_object_to_json (&kv->val);
            //  json_object_setn_new consumes val even when it fails.
            if (!val || json_object_setn_new (obj, k, klen, val)) {
                json_decref (obj);
                return NULL;
            }
        }
        return obj;
    }
    default:
        return NULL;
    }
}

json_t *
bus_body_to_json (const void *data, size_t len)
{
    if (bus_body_validate (data, len, BUS_MAX_DEPTH))
        return NULL;
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    size_t off = 0;
    json_t *json = NULL;
    if (msgpack_unpack_next (&result, data, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len)
        json = s_object_to_json (&result.data);
    msgpack_unpacked_destroy (&result);
    return json;
}

static int
s_pack (msgpack_packer *pk, const json_t *v, int depth)
{
    if (depth > BUS_MAX_DEPTH)
        return -1;
    switch (json_typeof (v)) {
    case JSON_NULL:
        return msgpack_pack_nil (pk);
    case JSON_TRUE:
        return msgpack_pack_true (pk);
    case JSON_FALSE:
        return msgpack_pack_false (pk);
    case JSON_INTEGER:
        return msgpack_pack_int64 (pk, json_integer_value (v));
    case JSON_REAL:
        return msgpack_pack_double (pk, json_real_value (v));
    case JSON_STRING: {
        size_t len = json_string_length (v);
        if (len > UINT32_MAX)
            return -1;
        return msgpack_pack_str (pk, len) || msgpack_pack_str_body (pk, json_string_value (v), len);
    }
    case JSON_ARRAY: {
        size_t n = json_array_size (v);
        if (n > UINT32_MAX || msgpack_pack_array (pk, n))
            return -1;
        for (size_t i = 0; i < n; i++)
            if (s_pack (pk, json_array_get (v, i), depth + 1))
                return -1;
        return 0;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size (v);
        if (n > UINT32_MAX || msgpack_pack_map (pk, n))
            return -1;
        const char *key;
        json_t *val;
        json_object_foreach ((json_t *)v, key, val)
        {
            size_t klen = strlen (key);
            if (msgpack_pack_str (pk, klen) || msgpack_pack_str_body (pk, key, klen) ||
                s_pack (pk, val, depth + 1))
                return -1;
        }
        return 0;
    }
    }
    return -1;
}

int
bus_body_from_json (const json_t *value, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!value)
        return -1;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    if (s_pack (&pk, value, 1)) {
        msgpack_sbuffer_destroy (&sbuf);
        return -1;
    }
    *data = sbuf.data;
    *len = sbuf.size;
    return 0;
}
