"""Trace context end to end (W3C Trace Context; docs/observability.md).

The module restarts the gateway, token-svc and keys-svc with
OSTIARY_OTLP_ENDPOINT pointing at a small OTLP/HTTP receiver of its own
(http.server on a free loopback port), OSTIARY_LOG_FORMAT=json and debug
logs, and puts them back as they were at its end. One /token request
(client_credentials) with a traceparent must then be found under the caller's
trace id in the log lines of all three processes and in the exported spans,
linked parent to child: caller → gateway HTTP span → token.exchange op span →
its SQL statements and the keys.sign op span → the signature.

Every batch received is also kept in the log folder (otlp-trace.json), so the
session's secrets check (leaks.py) reads the exported spans too.
"""

import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

import oidc
from test_token_ops import Client

TRACED = ("keys-svc", "token-svc", "gateway")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


class Collector:
    """An OTLP/HTTP traces receiver (JSON encoding) that keeps every span."""

    def __init__(self, keep_path):
        self.spans = []  # (service.name, span)
        self.lock = threading.Lock()
        self.keep_path = keep_path
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                ok = self.path == "/v1/traces" and "json" in self.headers.get("Content-Type", "")
                if ok:
                    collector.take(body)
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.handler = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def pause(self):
        """Closes the port: exports are refused until resume()."""
        self.stop()

    def resume(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self, body):
        doc = json.loads(body)
        with self.lock:
            with open(self.keep_path, "ab") as f:
                f.write(body + b"\n")
            for rs in doc["resourceSpans"]:
                attrs = {a["key"]: a["value"].get("stringValue") for a in rs["resource"]["attributes"]}
                for ss in rs["scopeSpans"]:
                    for span in ss["spans"]:
                        self.spans.append((attrs.get("service.name"), span))

    def of_trace(self, trace_id):
        with self.lock:
            return [(svc, s) for svc, s in self.spans if s["traceId"] == trace_id]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def traced(stack):
    collector = Collector(stack.log_dir / "otlp-trace.json")
    env = {"OSTIARY_OTLP_ENDPOINT": collector.url, "OSTIARY_OTLP_INTERVAL_MS": "50",
           "OSTIARY_LOG_FORMAT": "json", "OSTIARY_LOG_LEVEL": "debug"}
    for name in TRACED:
        stack.stop_all(name)
    instances = {name: stack.start(name, extra_env=env) for name in TRACED}
    try:
        stack.wait_ready()
        yield collector, instances
    finally:
        for name in TRACED:
            stack.stop_all(name)
        for name in TRACED:
            stack.start(name)
        stack.wait_ready()
        collector.stop()


def cc_client(stack):
    return Client(stack, grant_types=["client_credentials"], redirect_uris=[], scopes=["profile"],
                  access_token_alg="ES256")


def post_token(stack, client, headers):
    with requests.Session() as s:
        s.trust_env = False
        return s.post(stack.base_url + "/token", data={"grant_type": "client_credentials"},
                      auth=(client.id, client.secret), headers=headers, timeout=10)


def json_lines(inst):
    """Every line of an instance's log, parsed (each must be a JSON object)."""
    out = []
    for line in inst.log_path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        assert isinstance(rec, dict), line
        out.append(rec)
    return out


def by_name(spans, name):
    found = [s for _, s in spans if s["name"] == name]
    assert found, (name, [s["name"] for _, s in spans])
    return found


def test_token_request_is_one_trace_in_logs_and_spans_linked_parent_to_child(stack, traced):
    collector, instances = traced
    client = cc_client(stack)
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    r = post_token(stack, client, {"traceparent": f"00-{trace_id}-{caller_span}-01"})
    assert r.status_code == 200, r.text

    # traceresponse (Trace Context Level 2): our trace id, our span, flags.
    version, tid, http_span_id, flags = r.headers["traceresponse"].split("-")
    assert (version, tid, flags) == ("00", trace_id, "01")
    assert HEX16.match(http_span_id) and http_span_id != caller_span

    spans = oidc.wait_for("the spans of the request", lambda: (
        lambda got: got if {"jws.sign", "keys.sign", "token.exchange"} <= {s["name"] for _, s in got}
        and any(s["name"].startswith("POST ") for _, s in got) else None)(collector.of_trace(trace_id)))

    http_span = [s for _, s in spans if s["name"].startswith("POST ")][0]
    assert http_span["spanId"] == http_span_id
    assert http_span["parentSpanId"] == caller_span
    assert http_span["kind"] == 2
    op = by_name(spans, "token.exchange")[0]
    assert op["parentSpanId"] == http_span_id
    sign_op = by_name(spans, "keys.sign")[0]
    assert sign_op["parentSpanId"] == op["spanId"]
    signature = by_name(spans, "jws.sign")[0]
    assert signature["parentSpanId"] == sign_op["spanId"]
    statements = [s for svc, s in spans
                  if any(a["key"] == "db.system" for a in s["attributes"]) and svc == "token-svc"]
    assert statements, [s["name"] for _, s in spans]
    assert all(s["parentSpanId"] == op["spanId"] for s in statements)
    services = {svc for svc, _ in spans}
    assert {"gateway", "token-svc", "keys-svc"} <= services, services
    for _, s in spans:
        assert HEX16.match(s["spanId"]) and s["traceId"] == trace_id

    # The same trace id in the log lines of all three processes, each line
    # with the span it was written in.
    def lines_of(name):
        return [rec for rec in json_lines(instances[name]) if rec.get("trace_id") == trace_id]

    for name, span_id in (("gateway", http_span_id), ("token-svc", op["spanId"]),
                          ("keys-svc", sign_op["spanId"])):
        lines = oidc.wait_for(f"{name}'s lines of the trace", lambda: lines_of(name))
        assert any(rec["span_id"] == span_id for rec in lines), (name, span_id, lines)


@pytest.mark.parametrize("traceparent", [
    "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",  # uppercase
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # all-zero parent id
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",   # short flags
    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # forbidden version
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",  # version 00 with more
])
def test_invalid_traceparent_is_ignored_and_a_trace_starts(stack, traced, traceparent):
    collector, _ = traced
    r = post_token(stack, cc_client(stack), {"traceparent": traceparent})
    assert r.status_code == 200, r.text
    _, tid, span_id, _ = r.headers["traceresponse"].split("-")
    assert HEX32.match(tid) and tid.lower() not in traceparent.lower()
    spans = oidc.wait_for("the request's HTTP span", lambda: [
        s for _, s in collector.of_trace(tid) if s["spanId"] == span_id])
    assert "parentSpanId" not in spans[0]


def test_sane_x_request_id_is_echoed(stack, traced):
    rid = "req-" + secrets.token_hex(6) + ":a_b.c"
    r = post_token(stack, cc_client(stack), {"X-Request-Id": rid})
    assert r.status_code == 200 and r.headers["X-Request-Id"] == rid


@pytest.mark.parametrize("rid", ["has space", 'quote"d', "x" * 65, "caf\u00e9", "a=b"])
def test_insane_x_request_id_is_replaced_by_the_trace_id(stack, traced, rid):
    headers = {"X-Request-Id": rid.encode("utf-8")}
    r = post_token(stack, cc_client(stack), headers)
    assert r.status_code == 200
    _, tid, _, _ = r.headers["traceresponse"].split("-")
    assert r.headers["X-Request-Id"] == tid


def test_no_trace_headers_start_a_trace_and_echo_its_id(stack, traced):
    with requests.Session() as s:
        s.trust_env = False
        r = s.get(stack.base_url + "/jwks", timeout=10)
    assert r.status_code == 200
    version, tid, span_id, flags = r.headers["traceresponse"].split("-")
    assert version == "00" and HEX32.match(tid) and HEX16.match(span_id) and flags == "01"
    assert r.headers["X-Request-Id"] == tid


def test_json_log_lines_parse_with_their_fields(stack, traced):
    _, instances = traced
    post_token(stack, cc_client(stack), {})
    for name, inst in instances.items():
        lines = json_lines(inst)
        assert lines, name
        svc = {"gateway": "gateway", "token-svc": "token", "keys-svc": "keys"}[name]
        for rec in lines:
            assert {"ts", "level", "svc", "msg"} <= set(rec), rec
            assert rec["svc"] == svc and rec["level"] in ("debug", "info", "warn", "error")
            if "trace_id" in rec:
                assert HEX32.match(rec["trace_id"]) and HEX16.match(rec["span_id"]), rec
        assert any("trace_id" in rec for rec in lines), name


def raw_get(stack, head_lines):
    """GET /jwks with exactly these header lines (bytes as written)."""
    from test_gateway import parse_head, raw_request
    data = b"GET /jwks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + b"".join(
        line + b"\r\n" for line in head_lines) + b"\r\n"
    status, headers = parse_head(raw_request(stack.base_url, data))
    assert status == 200
    return headers["traceresponse"].split("-")


def test_two_traceparent_headers_are_ignored(stack, traced):
    # W3C Trace Context: more than one traceparent is invalid; a trace starts.
    a, b = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01", f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    _, tid, _, _ = raw_get(stack, [b"traceparent: " + a.encode(), b"traceparent: " + b.encode()])
    assert tid not in a and tid not in b


def test_whitespace_around_traceparent_is_not_part_of_it(stack, traced):
    tid = secrets.token_hex(16)
    value = f"00-{tid}-{secrets.token_hex(8)}-01"
    _, got, _, _ = raw_get(stack, [b"traceparent:   " + value.encode() + b"  "])
    assert got == tid


def test_an_unreachable_collector_neither_fails_nor_slows_requests(stack, traced):
    collector, instances = traced
    client = cc_client(stack)
    collector.pause()
    try:
        for _ in range(5):
            with requests.Session() as s:
                s.trust_env = False
                r = s.post(stack.base_url + "/token", data={"grant_type": "client_credentials"},
                           auth=(client.id, client.secret), timeout=10)
            assert r.status_code == 200, r.text
            # The exporter's connect time-out is 1 s; a request never waits for it.
            assert r.elapsed.total_seconds() < 1.0, r.elapsed
        # The lost batches are counted and said, rate-limited, in the log.
        oidc.wait_for("the gateway to report undelivered spans", lambda: any(
            "batches not delivered" in rec["msg"] for rec in json_lines(instances["gateway"])))
    finally:
        collector.resume()
