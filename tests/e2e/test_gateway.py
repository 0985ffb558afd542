"""The gateway over HTTP: discovery, the cached JWKS, the probes, metrics, the
route table's 404/405, X-Request-Id on every answer, bus failures turned into
503 with Retry-After within the deadline (the same answer at every endpoint),
and oversized requests refused while the gateway keeps answering."""

import json
import os
import re
import signal
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

import oidc
from conftest import free_port

DISCOVERY = "/.well-known/openid-configuration"
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
DEFAULT_MAX_BODY = 65536
JWKS_TIMEOUT_S = 2.0  # keys.jwks in proto/ops.def
EXCHANGE_TIMEOUT_S = 5.0  # token.exchange in proto/ops.def


# ---------------------------------------------------------------- helpers


def max_age(response):
    m = re.search(r"(?:^|[,\s])max-age=(\d+)", response.headers.get("Cache-Control", ""))
    assert m, response.headers.get("Cache-Control")
    return int(m.group(1))


def assert_oauth_error(response, status, code):
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    assert "no-store" in response.headers.get("Cache-Control", "")
    assert response.json()["error"] == code
    assert REQUEST_ID.match(response.headers.get("X-Request-Id", "")), response.headers


def raw_request(base_url, data, timeout=10):
    """Sends bytes as they are and returns the whole answer (until close)."""
    parts = urlsplit(base_url)
    out = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may answer and close before reading it all
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return out


def parse_head(raw):
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def metric(text, name, **labels):
    """Value of one sample of the Prometheus text, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if labels else "") + r" (\S+)$"
    for line in text.splitlines():
        m = re.match(pattern, line)
        if m:
            return float(m.group(1))
    return None


def gateway_alive(stack, http):
    assert all(i.alive() for i in stack.instances("gateway")), stack.log_tails()
    assert stack.instances("gateway"), "the gateway exited"
    assert http.get(stack.base_url + "/healthz", timeout=5).status_code == 200


def wait_stopped(pid, timeout=2.0):
    """Waits until every thread of pid is in the stopped state: SIGSTOP is
    delivered to each thread asynchronously."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop")


@pytest.fixture
def lone_gateway(stack):
    """A second gateway with its own broker (its own bus endpoint), so no
    service is connected to it and its JWKS cache starts empty."""
    http_port, bus_port = free_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    inst = stack.start("gateway", extra_env={
        "OSTIARY_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "OSTIARY_ISSUER": base,
        "OSTIARY_BUS_ENDPOINT": f"tcp://127.0.0.1:{bus_port}",
    })
    deadline = time.monotonic() + 10
    while True:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert inst.alive() and time.monotonic() < deadline, stack.log_text("gateway")[-3000:]
        time.sleep(0.1)
    inst.base_url = base
    inst.bus_endpoint = f"tcp://127.0.0.1:{bus_port}"
    try:
        yield inst
    finally:
        if inst.alive():
            inst.terminate()
            inst.wait(10)


# ---------------------------------------------------------------- discovery


def test_discovery_fields_and_content_type(stack, http):
    r = http.get(stack.base_url + DISCOVERY, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json"
    assert "public" in r.headers["Cache-Control"]
    assert 0 <= max_age(r) <= int(stack.env["OSTIARY_JWKS_MAX_AGE"])
    doc = r.json()
    base = stack.base_url
    assert doc["issuer"] == base
    assert doc["authorization_endpoint"] == base + "/authorize"
    assert doc["token_endpoint"] == base + "/token"
    assert doc["userinfo_endpoint"] == base + "/userinfo"
    assert doc["jwks_uri"] == base + "/jwks"
    assert doc["response_types_supported"] == ["code"]
    assert set(doc["response_modes_supported"]) == {"query", "fragment", "form_post"}
    # Exactly what the code does (tests/e2e/test_discovery.py checks each against behaviour).
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert doc["revocation_endpoint"] == base + "/revoke"
    assert doc["introspection_endpoint"] == base + "/introspect"
    assert set(doc["revocation_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "none"}
    assert set(doc["introspection_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post"}
    assert doc["subject_types_supported"] == ["public"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "none"}
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["scopes_supported"]) == {"openid", "profile", "email", "address", "phone", "offline_access"}
    assert {"sub", "iss", "aud", "exp", "iat", "email", "name"} <= set(doc["claims_supported"])
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["request_parameter_supported"] is True
    assert doc["request_uri_parameter_supported"] is False
    # Discovery §3: RS256 MUST be there; exactly the algorithms the JWKS holds.
    algs = doc["id_token_signing_alg_values_supported"]
    assert "RS256" in algs and len(algs) == len(set(algs))
    jwks = http.get(base + "/jwks", timeout=10).json()
    assert set(algs) == {k["alg"] for k in jwks["keys"] if k.get("use", "sig") == "sig"}


def test_discovery_issuer_ignores_host_and_forwarded_headers(stack, http):
    r = http.get(stack.base_url + DISCOVERY, timeout=10, headers={
        "Host": "evil.example:666",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "666",
        "X-Forwarded-Prefix": "/evil",
        "Forwarded": "host=evil.example;proto=https",
    })
    assert r.status_code == 200, r.text
    assert "evil" not in r.text
    doc = r.json()
    assert doc["issuer"] == stack.base_url
    for name, value in doc.items():
        if name.endswith("_endpoint") or name == "jwks_uri":
            assert value.startswith(stack.base_url + "/"), (name, value)


# ---------------------------------------------------------------- jwks


def test_jwks_cache_control_max_age(stack, http):
    configured = int(stack.env["OSTIARY_JWKS_MAX_AGE"])
    r1 = http.get(stack.base_url + "/jwks", timeout=10)
    assert r1.status_code == 200, r1.text
    assert r1.headers["Content-Type"] == "application/jwk-set+json"
    cache = [d.strip() for d in r1.headers["Cache-Control"].split(",")]
    assert "public" in cache
    # Clients keep it no longer than the gateway keeps its own copy, so a new
    # key is never hidden for longer than OSTIARY_JWKS_MAX_AGE in all.
    assert 0 < max_age(r1) <= configured
    keys = r1.json()["keys"]
    assert keys
    for key in keys:
        assert {"kid", "kty", "alg", "use"} <= set(key), key
        assert not PRIVATE_MEMBERS & set(key), key
    # Served from the cache: the very same bytes, a max-age that only counts down.
    r2 = http.get(stack.base_url + "/jwks", timeout=10)
    assert r2.content == r1.content
    assert max_age(r2) <= max_age(r1)


def test_jwks_served_from_cache_while_keys_svc_is_down(stack, http):
    first = http.get(stack.base_url + "/jwks", timeout=10)
    assert first.status_code == 200
    stack.stop_all("keys-svc")
    try:
        for _ in range(3):
            r = http.get(stack.base_url + "/jwks", timeout=10)
            assert r.status_code == 200
            assert r.content == first.content
    finally:
        stack.ensure("keys-svc")
        stack.wait_ready()


# ---------------------------------------------------------------- probes


def test_healthz_ok(stack, http):
    r = http.get(stack.base_url + "/healthz", timeout=5)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["Content-Type"].startswith("application/json")


def test_healthz_ok_without_any_service(lone_gateway, http):
    r = http.get(lone_gateway.base_url + "/healthz", timeout=5)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_503_when_a_service_is_stopped_then_200(stack, http):
    r = http.get(stack.base_url + "/readyz", timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"
    assert r.json()["services"] == {"token": "up", "flow": "up", "keys": "up"}
    stack.stop_all("flow-svc")
    try:
        deadline = time.monotonic() + 5
        while True:
            r = http.get(stack.base_url + "/readyz", timeout=5)
            if r.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] == "not_ready"
        assert body["services"]["flow"] == "down"
        assert body["services"]["token"] == "up"
        assert int(r.headers["Retry-After"]) > 0
        assert "no-store" in r.headers["Cache-Control"]
    finally:
        stack.ensure("flow-svc")
        stack.wait_ready()
    assert http.get(stack.base_url + "/readyz", timeout=5).status_code == 200


# ---------------------------------------------------------------- bus failures


def test_no_worker_answers_503_within_deadline(stack, lone_gateway, http):
    # On the bus: no token-svc at all → temporarily_unavailable at once.
    stack.stop_all("token-svc")
    try:
        start = time.monotonic()
        r = stack.ctl("--timeout", "2000", "call", "token.health")
        assert r.returncode == 3, r.stdout + r.stderr  # unreachable: no worker
        assert json.loads(r.stdout)["error"] == "temporarily_unavailable"
        assert time.monotonic() - start < 2.0
    finally:
        stack.ensure("token-svc")
        stack.wait_ready()
    # Over HTTP: a gateway whose broker has no keys-svc and whose JWKS cache
    # is empty answers 503 with Retry-After well inside keys.jwks' deadline.
    for path in ("/jwks", DISCOVERY):
        start = time.monotonic()
        r = http.get(lone_gateway.base_url + path, timeout=10)
        took = time.monotonic() - start
        assert_oauth_error(r, 503, "temporarily_unavailable")
        assert int(r.headers["Retry-After"]) > 0
        assert took < JWKS_TIMEOUT_S, took
    r = http.get(lone_gateway.base_url + "/readyz", timeout=5)
    assert r.status_code == 503
    assert set(r.json()["services"].values()) == {"down"}


def frozen_on(stack, gateway, http, program, service):
    """Starts program on gateway's own broker, waits until the broker counts
    it as live, and stops it (SIGSTOP): requests for service then wait for
    their deadline. Returns the instance; the caller resumes and ends it."""
    inst = stack.start(program, extra_env={"OSTIARY_BUS_ENDPOINT": gateway.bus_endpoint})
    try:
        deadline = time.monotonic() + 20
        while True:
            r = http.get(gateway.base_url + "/readyz", timeout=5)
            if r.json()["services"][service] == "up":
                break
            assert inst.alive() and time.monotonic() < deadline, stack.log_text(program)[-2000:]
            time.sleep(0.1)
        inst.proc.send_signal(signal.SIGSTOP)
        wait_stopped(inst.pid)
    except BaseException:
        inst.terminate()
        inst.wait(10)
        raise
    return inst


def resume_and_end(inst):
    inst.proc.send_signal(signal.SIGCONT)
    inst.terminate()
    inst.wait(10)


def assert_deadline_answer(r):
    # proto/errors.def: a passed deadline is temporarily_unavailable, 503
    # with Retry-After, at every endpoint (one mapping in the gateway).
    assert_oauth_error(r, 503, "temporarily_unavailable")
    assert int(r.headers["Retry-After"]) >= 1, r.headers


def test_deadline_passed_answers_503_with_retry_after(stack, lone_gateway, http):
    # A keys-svc that joins the lone gateway's broker and then freezes: the
    # broker still counts it as live, the request waits, the deadline passes.
    keys = frozen_on(stack, lone_gateway, http, "keys-svc", "keys")
    try:
        start = time.monotonic()
        r = http.get(lone_gateway.base_url + "/jwks", timeout=10)
        took = time.monotonic() - start
        assert_deadline_answer(r)
        assert took < JWKS_TIMEOUT_S + 1.0, took
    finally:
        resume_and_end(keys)


def test_deadline_passed_on_token_is_the_same_answer(stack, lone_gateway, http):
    # RFC 6749 §5.2's JSON error shape, the token endpoint's no-cache headers,
    # and the code, status and Retry-After of every other endpoint. A frozen
    # token-svc holds the WRITE token.exchange until its deadline.
    token = frozen_on(stack, lone_gateway, http, "token-svc", "token")
    try:
        start = time.monotonic()
        r = http.post(lone_gateway.base_url + "/token", data={"grant_type": "client_credentials"},
                      auth=("deadline-client", "not-a-secret"), timeout=EXCHANGE_TIMEOUT_S + 10)
        took = time.monotonic() - start
        assert_deadline_answer(r)
        assert r.headers.get("Pragma") == "no-cache", r.headers
        assert set(r.json()) <= {"error", "error_description"}, r.text
        # The deadline, not an early refusal, produced this answer.
        assert EXCHANGE_TIMEOUT_S - 0.5 <= took < EXCHANGE_TIMEOUT_S + 1.5, took
    finally:
        resume_and_end(token)


def test_gateway_stops_cleanly_on_sigterm(lone_gateway):
    lone_gateway.terminate()
    assert lone_gateway.wait(10) == 0


# ---------------------------------------------------------------- routing


def test_unknown_path_404_json(stack, http):
    # The gateway runs in the repository: no file of it is ever served.
    for path in ("/nope", "/jwks/", "/JWKS", "/.well-known/", "/Makefile", "/README.md",
                 "/gateway/", "/"):
        r = http.get(stack.base_url + path, timeout=5)
        assert_oauth_error(r, 404, "not_found")
    # Paths match byte for byte, as sent (requests would normalize this one).
    status, headers = parse_head(raw_request(
        stack.base_url, b"GET /%6Awks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert status == 404
    assert REQUEST_ID.match(headers.get("x-request-id", ""))


def test_a_password_file_on_disk_never_guards_the_routes(stack, http):
    # civetweb, left to itself, looks for a per-directory password file on
    # every request ("/.htpasswd", as there is no document root) and puts
    # digest authentication in front of every route once one exists. Every
    # route authenticates by itself: such a file changes nothing.
    path = "/.htpasswd"
    if os.path.lexists(path) or not os.access("/", os.W_OK):
        pytest.skip("needs to create /.htpasswd (root, and no such file yet)")
    with open(path, "x") as f:
        f.write("someone:mydomain.com:0123456789abcdef0123456789abcdef\n")
    try:
        r = http.get(stack.base_url + "/.well-known/openid-configuration", timeout=5)
        assert r.status_code == 200, (r.status_code, r.headers)
        assert "www-authenticate" not in {k.lower() for k in r.headers}
        r = http.post(stack.base_url + "/token", data={"grant_type": "client_credentials"},
                      auth=("no-such-client", "x"), timeout=5)
        # The token endpoint's own client authentication answers (RFC 6749
        # §5.2), with its Basic challenge, not civetweb's digest one.
        assert_oauth_error(r, 401, "invalid_client")
        assert "digest" not in r.headers.get("WWW-Authenticate", "").lower()
    finally:
        os.unlink(path)


def test_wrong_method_405(stack, http):
    # OPTIONS is served where browsers may preflight (CORS, gateway/cors.c).
    for method, path, methods in (("POST", "/jwks", {"GET", "HEAD", "OPTIONS"}),
                                  ("DELETE", DISCOVERY, {"GET", "HEAD", "OPTIONS"}),
                                  ("PUT", "/healthz", {"GET", "HEAD"}),
                                  ("OPTIONS", "/healthz", {"GET", "HEAD"})):
        r = http.request(method, stack.base_url + path, timeout=5)
        assert_oauth_error(r, 405, "invalid_request")
        allow = {m.strip() for m in r.headers["Allow"].split(",")}
        assert allow == methods, (method, path, allow)
    # HEAD is answered like GET, without a body.
    r = http.head(stack.base_url + "/jwks", timeout=5)
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["Content-Length"]) > 0


def test_every_response_has_x_request_id(stack, http):
    seen = set()
    answers = [
        http.get(stack.base_url + "/healthz", timeout=5),
        http.get(stack.base_url + "/readyz", timeout=5),
        http.get(stack.base_url + "/jwks", timeout=5),
        http.get(stack.base_url + DISCOVERY, timeout=5),
        http.get(stack.base_url + "/nope", timeout=5),
        http.post(stack.base_url + "/jwks", timeout=5),
        http.head(stack.base_url + "/healthz", timeout=5),
        http.post(stack.base_url + "/token", timeout=10,
                  data=b"x" * (2 * int(stack.env.get("OSTIARY_HTTP_MAX_BODY", DEFAULT_MAX_BODY)))),
    ]
    for r in answers:
        rid = r.headers.get("X-Request-Id", "")
        assert REQUEST_ID.match(rid), (r.request.method, r.url, r.status_code, r.headers)
        seen.add(rid)
    assert len(seen) == len(answers), "request ids repeat"
    # civetweb's own refusals (malformed request, bad HTTP version, a negative
    # Content-Length, a WebSocket upgrade, which we never accept) carry one too.
    for data in (b"\x01garbage\r\n\r\n", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
                 b"GET healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"):
        status, headers = parse_head(raw_request(stack.base_url, data))
        assert 400 <= status < 600
        assert REQUEST_ID.match(headers.get("x-request-id", "")), headers
        assert headers["content-type"].startswith("application/json")


# ---------------------------------------------------------------- oversized


def test_64kb_uri_is_4xx_and_gateway_survives(stack, http):
    r = http.get(stack.base_url + "/" + "a" * 65536, timeout=10)
    assert 400 <= r.status_code < 500
    assert REQUEST_ID.match(r.headers.get("X-Request-Id", ""))
    raw = raw_request(stack.base_url, b"GET /" + b"b" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers = parse_head(raw)
    assert 400 <= status < 500
    assert REQUEST_ID.match(headers.get("x-request-id", ""))
    gateway_alive(stack, http)


def test_4000_slashes_uri_is_4xx_and_gateway_survives(stack, http):
    r = http.get(stack.base_url + "/" * 4000, timeout=10)
    assert 400 <= r.status_code < 500
    assert REQUEST_ID.match(r.headers.get("X-Request-Id", ""))
    r = http.get(stack.base_url + "/" * 4000 + "jwks", timeout=10)
    assert 400 <= r.status_code < 500
    gateway_alive(stack, http)


def test_oversized_headers_4xx(stack, http):
    r = http.get(stack.base_url + "/healthz", headers={"X-Big": "b" * 20000}, timeout=10)
    assert 400 <= r.status_code < 500
    assert REQUEST_ID.match(r.headers.get("X-Request-Id", ""))
    # More headers than civetweb keeps: refused, not half read.
    many = {f"X-H{i}": "v" for i in range(70)}
    r = http.get(stack.base_url + "/healthz", headers=many, timeout=10)
    assert_oauth_error(r, 431, "invalid_request")
    gateway_alive(stack, http)


def test_oversized_body_413(stack, http):
    limit = int(stack.env.get("OSTIARY_HTTP_MAX_BODY", DEFAULT_MAX_BODY))
    r = http.post(stack.base_url + "/token", data=b"x" * (limit + 1), timeout=10)
    assert_oauth_error(r, 413, "invalid_request")
    assert r.headers.get("Connection", "").lower() == "close"
    # Far larger than the limit: still a clean 413, and the gateway goes on.
    r = http.post(stack.base_url + "/token", data=b"x" * (8 * 1024 * 1024), timeout=20)
    assert r.status_code == 413
    # Within the limit the body is no reason to refuse: the route decides
    # (/token wants a form, RFC 6749 §3.2).
    r = http.post(stack.base_url + "/token", data=b"x" * limit, timeout=10)
    assert_oauth_error(r, 400, "invalid_request")
    gateway_alive(stack, http)


# ---------------------------------------------------------------- metrics


def test_metrics_exposes_counters(stack, http):
    """The gateway's counters, on its metrics listener (tests/e2e/test_metrics.py
    holds the rest: every process, promtool, a real Prometheus)."""
    def count(text, route, status_class):
        return metric(text, "ostiary_http_request_duration_seconds_count", route=route,
                      status_class=status_class) or 0

    before = stack.metrics("gateway")
    ok_before = count(before, "healthz", "2xx")
    for _ in range(3):
        http.get(stack.base_url + "/healthz", timeout=5)
    http.get(stack.base_url + "/nope", timeout=5)
    after = oidc.wait_for("the requests counted", lambda: (
        lambda t: t if count(t, "healthz", "2xx") >= ok_before + 3 else None)(stack.metrics("gateway")),
        timeout=5, step=0.05)
    assert count(after, "none", "4xx") >= 1
    assert "# TYPE ostiary_http_request_duration_seconds histogram" in after
    # The broker's own view, published at every heartbeat.
    after = oidc.wait_for("the broker's gauges", lambda: (
        lambda t: t if (metric(t, "ostiary_broker_workers", service="token") or 0) >= 1 else None)(
            stack.metrics("gateway")), timeout=10, step=0.1)
    assert metric(after, "ostiary_broker_served_total") >= 1


def test_public_port_has_no_metrics(stack, http):
    """The metrics are on the metrics listener only, never the public port."""
    r = http.get(stack.base_url + "/metrics", timeout=5)
    assert r.status_code == 404, r.text
    assert "ostiary_" not in r.text
