"""A bus peer that speaks proto/bus.md's wire format by hand (python3-zmq,
python3-msgpack), with or without a CURVE key: what an attacker on the
network, or a test that must act as one role, can send."""

import secrets
import struct
import time

import msgpack
import zmq
import zmq.auth

PROTO = b"OSTB1"
READY, REQUEST, REPLY, HEARTBEAT, DISCONNECT = 1, 2, 3, 4, 5


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
        deadline = struct.pack(">Q", int(time.time() * 1000) + 5000)
        packed = msgpack.packb(body) if body is not None else b""
        try:
            self.sock.send_multipart([PROTO, bytes([kind]), service, op, rid, deadline, b"", packed])
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
            if len(frames) == 8 and frames[1] == bytes([REPLY]) and frames[4] == rid:
                return msgpack.unpackb(frames[7])

    def recv(self, timeout=3.0):
        if not self.sock.poll(int(timeout * 1000)):
            return None
        return self.sock.recv_multipart()

    def close(self):
        self.sock.close(0)
