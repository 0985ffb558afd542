#!/usr/bin/python3
"""webhook_receiver - a small HTTP endpoint that plays the outside system of
flow-svc's webhook nodes, for development and the end-to-end tests.

Every POST is recorded (path, headers, body, and whether its
Ostiary-Signature verifies: t=<unix>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>, t within --tolerance seconds) and answered by path:

    /status/NNN        status NNN, body {}
    /redirect          302 to /landing (a webhook must never follow it)
    /answer/OUTCOME    200 {"outcome": OUTCOME}
    /sleep/MS          waits MS milliseconds, then 200 {"outcome": "success"}
    anything else      200 with --answer (default {"outcome": "success"})

Run alone, it prints one JSON line per request on stdout:

    scripts/webhook_receiver.py --port 8099 --secret 0123456789abcdef

Tests import it (Receiver(secret).start() ... .requests, .stop()).
"""

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1024 * 1024


def verify(secret, header, body, tolerance=300, now=None):
    """True when header is a valid Ostiary-Signature of body under secret."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or abs((now or time.time()) - int(t)) > tolerance:
        return False
    expect = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expect, v1)


class Receiver:
    def __init__(self, secret, host="127.0.0.1", port=0, answer=None, tolerance=300, on_request=None):
        self.secret = secret
        self.answer = answer if answer is not None else {"outcome": "success"}
        self.tolerance = tolerance
        self.on_request = on_request
        self.requests = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self.thread = None

    def url(self, path="/"):
        return f"http://{self.host}:{self.port}{path}"

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def hits(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def wait_for(self, path, count=1, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.hits(path)) >= count:
                return self.hits(path)
            time.sleep(0.05)
        return self.hits(path)

    def _record(self, entry):
        with self.lock:
            self.requests.append(entry)
        if self.on_request:
            self.on_request(entry)

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, body=b"{}", headers=()):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in headers:
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller gave up (its timeout): nothing to answer

            def do_GET(self):
                receiver._record({"method": "GET", "path": self.path, "headers": dict(self.headers),
                                  "body": "", "signature_ok": False})
                self._reply(200)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._reply(413)
                    return
                body = self.rfile.read(length)
                sig = self.headers.get("Ostiary-Signature")
                entry = {"method": "POST", "path": self.path, "headers": dict(self.headers),
                         "body": body.decode("utf-8", "replace"),
                         "signature_ok": verify(receiver.secret, sig, body, receiver.tolerance)}
                try:
                    entry["json"] = json.loads(body)
                except ValueError:
                    entry["json"] = None
                receiver._record(entry)
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                if parts[0] == "status" and len(parts) == 2 and parts[1].isdigit():
                    self._reply(int(parts[1]))
                elif parts[0] == "redirect":
                    self._reply(302, headers=[("Location", "/landing")])
                elif parts[0] == "answer" and len(parts) == 2:
                    self._reply(200, json.dumps({"outcome": parts[1]}).encode())
                elif parts[0] == "sleep" and len(parts) == 2 and parts[1].isdigit():
                    time.sleep(int(parts[1]) / 1000)
                    self._reply(200, json.dumps({"outcome": "success"}).encode())
                else:
                    self._reply(200, json.dumps(receiver.answer).encode())

        return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--secret", required=True, help="the hook's secret (OSTIARY_WEBHOOKS_FILE)")
    parser.add_argument("--answer", default='{"outcome": "success"}', help="JSON answer of other paths")
    args = parser.parse_args()
    receiver = Receiver(args.secret, args.host, args.port, json.loads(args.answer),
                        on_request=lambda e: print(json.dumps(
                            {k: e[k] for k in ("method", "path", "signature_ok", "body")}), flush=True))
    print(f"webhook_receiver: listening on {receiver.url()}", flush=True)
    try:
        receiver.server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
