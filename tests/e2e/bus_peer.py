"""A bus peer that speaks proto/bus.md's wire format by hand (python3-zmq,
python3-msgpack), with or without a CURVE key: what an attacker on the
network, or a test that must act as one role, can send."""

import collections
import secrets
import struct
import time

import msgpack
import zmq
import zmq.auth

PROTO = b"OSTB2"
READY, REQUEST, REPLY, HEARTBEAT, DISCONNECT = 1, 2, 3, 4, 5

Message = collections.namedtuple("Message", "type service op rid deadline trace body")


def field(value):
    return bytes([len(value)]) + value


def pack(kind, service=b"", op=b"", rid=b"", deadline=0, trace=b"", body=b""):
    """One message as its one wire frame (proto/bus.md, Frames)."""
    return (PROTO + bytes([kind]) + field(service) + field(op) + field(rid) + struct.pack(">Q", deadline)
            + field(trace) + body)


def unpack(frame):
    """The fields of a wire frame; raises ValueError on a malformed one."""
    if frame[:5] != PROTO or len(frame) < 6:
        raise ValueError(f"not a bus message: {frame[:16]!r}")
    pos, values = 6, []
    for _ in range(3):
        n = frame[pos]
        values.append(frame[pos + 1:pos + 1 + n])
        pos += 1 + n
    deadline = struct.unpack(">Q", frame[pos:pos + 8])[0]
    pos += 8
    n = frame[pos]
    trace = frame[pos + 1:pos + 1 + n]
    pos += 1 + n
    body = frame[pos:]
    return Message(frame[5], *values, deadline, trace, msgpack.unpackb(body) if body else None)


def public_key(path):
    return zmq.auth.load_certificate(str(path))[0]


class Peer:
    """A bus peer speaking the wire format of proto/bus.md by hand."""

    def __init__(self, endpoint, server_pub=None, cert=None, curve=True):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        # A DEALER whose handshakes fail has no pipe to send on: a send then
        # waits this long and counts as "nothing got through".
        self.sock.sndtimeo = 1000
        if curve:
            if cert is None:
                pub, sec = zmq.curve_keypair()  # a key nobody allowed
            else:
                pub, sec = zmq.auth.load_certificate(str(cert))
            self.sock.curve_publickey = pub
            self.sock.curve_secretkey = sec
            self.sock.curve_serverkey = server_pub
        self.sock.connect(endpoint)

    def send(self, kind, service=b"", op=b"", body=None, rid=None):
        rid = rid or secrets.token_hex(16).encode()
        deadline = int(time.time() * 1000) + 5000
        packed = msgpack.packb(body) if body is not None else b""
        try:
            self.sock.send(pack(kind, service, op, rid, deadline, b"", packed))
        except zmq.Again:
            pass
        return rid

    def call(self, op, body, timeout=3.0):
        """The reply body of op, or None when nothing answers in time."""
        rid = self.send(REQUEST, op.split(".")[0].encode(), op.encode(), body)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                return None
            frames = self.sock.recv_multipart()
            if len(frames) == 1:
                m = unpack(frames[0])
                if m.type == REPLY and m.rid == rid:
                    return m.body

    def recv(self, timeout=3.0):
        """The next message (Message), or None when none comes in time."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        frames = self.sock.recv_multipart()
        assert len(frames) == 1, f"{len(frames)} parts where a bus message has one"
        return unpack(frames[0])

    def close(self):
        self.sock.close(0)
