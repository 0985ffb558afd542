"""The gateway's edge: who the client is behind trusted proxies
(OSTIARY_TRUSTED_PROXIES), Retry-After on every 503, and slow or abusive
clients (head timeout, OSTIARY_HTTP_MAX_CONN_PER_IP, enough HTTP threads).

Each test that needs other gateway settings restarts the stack's gateway
with them and puts the stack's own gateway back in a `finally:`. Where a
test needs several client addresses it binds its sockets to loopback
aliases (127.0.0.2, 127.0.0.3, ...), which Linux routes without set-up.
Slow clients are real sockets that send half a request head and then trickle
bytes; every wait is for a condition with a deadline."""

import contextlib
import json
import selectors
import socket
import subprocess
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from conftest import free_port

from lockout_util import clear_address_counters, psql, settings  # noqa: F401
from oidc import PASSWORD, Browser, auth_params, make_user, pkce, token_request
from test_token_ops import Client

# The trusted proxy of these tests: a loopback alias, so that the same
# gateway also has an untrusted peer (127.0.0.1).
PROXY = "127.0.0.2"
WRONG = "not-the-password"


@contextlib.contextmanager
def gateway_with(stack, env):
    """The stack's gateway restarted with env (None unsets a variable), then
    restored to the stack's own settings whatever happens."""
    stack.stop_all("gateway")
    try:
        stack.start("gateway", env)
        stack.wait_ready(30)
        yield
    finally:
        stack.stop_all("gateway")
        stack.start("gateway")
        stack.wait_ready(30)


def session_from(source=None, headers=None):
    """A requests.Session whose connections leave from address `source`."""
    s = requests.Session()
    s.trust_env = False
    if source:
        class SourceAdapter(HTTPAdapter):
            def init_poolmanager(self, *args, **kwargs):
                kwargs["source_address"] = (source, 0)
                super().init_poolmanager(*args, **kwargs)
        s.mount("http://", SourceAdapter())
    s.headers.update(headers or {})
    return s


def login(stack, client, username, password, source=None, headers=None):
    """One login through the pages from `source` with extra request headers;
    True when it signed the user in."""
    client_id, _, redirect_uri = client
    b = Browser(stack)
    b.http.close()
    b.http = session_from(source, headers)
    try:
        _, challenge = pkce()
        r = b.authorize(auth_params(client_id, redirect_uri, code_challenge=challenge,
                                    code_challenge_method="S256"))
        r = b.login(r, username, password)
        logged_in = b.session_cookie() is not None
        assert r.status_code in ((302, 303) if logged_in else (200,)), (r.status_code, r.text[:300])
        return logged_in
    finally:
        b.close()


def address_counters(stack):
    """flow.lockout_addresses as {address: failures}."""
    out = psql(stack, "SELECT address || ' ' || failures FROM flow.lockout_addresses")
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line}


# ------------------------------------------------------------ trusted proxies


@pytest.fixture(scope="class")
def proxied(stack):
    """The gateway trusting PROXY only."""
    with gateway_with(stack, {"OSTIARY_TRUSTED_PROXIES": f"{PROXY}/32, 2001:db8::/32"}):
        yield


class TestTrustedProxy:
    """Behind the gateway restarted to trust PROXY."""

    def test_forwarding_headers_of_an_untrusted_peer_are_ignored(self, stack, client, proxied):
        clear_address_counters(stack)
        username, _ = make_user(stack)
        spoof = {"X-Forwarded-For": "203.0.113.50", "Forwarded": "for=203.0.113.50"}
        assert not login(stack, client, username, WRONG, headers=spoof)
        assert address_counters(stack) == {"127.0.0.1": 1}
        clear_address_counters(stack)

    def test_a_trusted_proxy_names_the_right_most_untrusted_hop(self, stack, client, proxied):
        clear_address_counters(stack)
        username, _ = make_user(stack)
        # The client wrote the left entry itself; the proxy appended the right.
        assert not login(stack, client, username, WRONG, source=PROXY,
                         headers={"X-Forwarded-For": "198.51.100.66, 203.0.113.77"})
        assert address_counters(stack) == {"203.0.113.77": 1}
        # A hop that is itself a trusted proxy is skipped.
        assert not login(stack, client, username, WRONG, source=PROXY,
                         headers={"X-Forwarded-For": f"203.0.113.78, {PROXY}"})
        # RFC 7239.
        assert not login(stack, client, username, WRONG, source=PROXY,
                         headers={"Forwarded": 'for="198.51.100.1", for=203.0.113.79;proto=https'})
        # Garbage where the client must be, or two headers that disagree: the peer.
        assert not login(stack, client, username, WRONG, source=PROXY,
                         headers={"X-Forwarded-For": "203.0.113.80, not-an-address"})
        assert not login(stack, client, username, WRONG, source=PROXY,
                         headers={"X-Forwarded-For": "203.0.113.81", "Forwarded": "for=203.0.113.82"})
        assert address_counters(stack) == {"203.0.113.77": 1, "203.0.113.78": 1, "203.0.113.79": 1,
                                           PROXY: 2}
        # The request log names the client too.
        assert "client=203.0.113.79" in stack.log_text("gateway")
        clear_address_counters(stack)

    def test_clients_behind_one_proxy_are_throttled_separately(self, stack, client, proxied, settings):  # noqa: F811
        clear_address_counters(stack)
        settings.set("address_threshold", 2)
        username, _ = make_user(stack)
        a = {"X-Forwarded-For": "203.0.113.10"}
        b = {"X-Forwarded-For": "203.0.113.11"}
        for _ in range(3):
            assert not login(stack, client, username, WRONG, source=PROXY, headers=a)
        # Client a is throttled, even with the right password ...
        assert not login(stack, client, username, PASSWORD, source=PROXY, headers=a)
        # ... while client b, behind the same proxy, is not.
        assert login(stack, client, username, PASSWORD, source=PROXY, headers=b)
        assert address_counters(stack).get("203.0.113.11", 0) == 0


def test_a_malformed_trusted_proxy_list_stops_the_gateway_with_2(stack):
    for value in ("192.0.2.0/33", "192.0.2.1/24", "192.0.2.0/24,", "proxy.example"):
        env = dict(stack.env, OSTIARY_TRUSTED_PROXIES=value,
                   OSTIARY_BUS_CERT=str(stack.bus_keys / "gateway.key"),
                   OSTIARY_HTTP_LISTEN=f"127.0.0.1:{free_port()}",
                   OSTIARY_BUS_ENDPOINT=f"tcp://127.0.0.1:{free_port()}")
        r = subprocess.run([stack.bin("gateway")], env=env, capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (value, r.returncode, r.stderr[-500:])
        assert "OSTIARY_TRUSTED_PROXIES" in r.stderr, r.stderr
        # The message names the setting, not the value.
        assert value not in r.stderr


# ------------------------------------------------------------ Retry-After


def test_every_503_carries_retry_after_pages_included(stack, client):
    client_id, secret, redirect_uri = client
    stack.stop_all("flow-svc")
    try:
        # /authorize's page when flow-svc cannot start the login.
        with session_from() as s:
            r = s.get(stack.base_url + "/authorize", params=auth_params(client_id, redirect_uri),
                      allow_redirects=False, timeout=30)
        assert r.status_code == 503, (r.status_code, r.text[:300])
        assert r.headers["Content-Type"].startswith("text/html"), r.headers
        assert int(r.headers["Retry-After"]) >= 1
        # /readyz says why.
        with session_from() as s:
            r = s.get(stack.base_url + "/readyz", timeout=10)
        assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
    finally:
        stack.ensure("flow-svc")
        stack.wait_ready(30)
    stack.stop_all("token-svc")
    try:
        # The token endpoint's JSON 503.
        r = token_request(stack, {"grant_type": "client_credentials"}, basic=(client_id, secret))
        assert r.status_code == 503, (r.status_code, r.text[:300])
        assert r.json()["error"] == "temporarily_unavailable"
        assert int(r.headers["Retry-After"]) >= 1
    finally:
        stack.ensure("token-svc")
        stack.wait_ready(30)


# ------------------------------------------------------------ slow clients


class SlowLoris:
    """`count` connections that each send half a request head, then one
    header line now and then, and are opened again as soon as the gateway
    closes them; sources are the loopback addresses to spread them over."""

    HEAD = b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"

    def __init__(self, base_url, count, sources):
        u = urlsplit(base_url)
        self.target = (u.hostname, u.port)
        self.count = count
        self.sources = sources
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.opened = 0
        self.closed_by_server = 0
        self.refused = 0
        self.live = 0
        self.pending = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, i):
        s = socket.socket()
        s.setblocking(False)
        s.bind((self.sources[i % len(self.sources)], 0))
        with contextlib.suppress(BlockingIOError):
            s.connect(self.target)
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, [i, 0])
        self.opened += 1
        self.live += 1

    def _drop(self, s):
        self.sel.unregister(s)
        s.close()
        self.live -= 1

    def _run(self):
        for i in range(self.count):
            self._open(i)
        while not self.stop.is_set():
            for key, events in self.sel.select(timeout=0.2):
                s, (i, sent) = key.fileobj, key.data
                if events & selectors.EVENT_READ:
                    try:
                        data = s.recv(4096)
                    except OSError:
                        data = b""
                    self.closed_by_server += 1
                    self._drop(s)
                    if data.startswith(b"HTTP/1.1 503"):
                        # Refused at once: come again a little later rather
                        # than in a loop as fast as the CPU goes.
                        self.refused += 1
                        self.pending.append((time.monotonic() + 0.2, i))
                    else:
                        self._open(i)
                    continue
                if events & selectors.EVENT_WRITE:
                    try:
                        s.send(self.HEAD if sent == 0 else b"X-Slow: 1\r\n")
                    except OSError:
                        self.closed_by_server += 1
                        self._drop(s)
                        self._open(i)
                        continue
                    # From now on only wait to read; a line every 0.5 s.
                    key.data[1] = time.monotonic()
                    self.sel.modify(s, selectors.EVENT_READ, key.data)
            now = time.monotonic()
            due = [i for t, i in self.pending if t <= now]
            self.pending = [(t, i) for t, i in self.pending if t > now]
            for i in due:
                self._open(i)
            for key in list(self.sel.get_map().values()):
                if key.data[1] and now - key.data[1] > 0.5:
                    key.data[1] = now
                    with contextlib.suppress(OSError):
                        key.fileobj.send(b"X-Slow: 1\r\n")
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


@pytest.fixture(scope="module")
def cc_client(stack):
    return Client(stack, grant_types=["client_credentials"], redirect_uris=[],
                  scopes=["profile", "email"])


def probe_during_attack(stack, cc_client, sources, seconds):
    """Under 200 slow connections from `sources`, /healthz and a
    client_credentials token request, again and again for `seconds` (longer
    than the head timeout, so slots are freed and taken again): the slowest
    answer of each."""
    worst = {"healthz": 0.0, "token": 0.0}
    with SlowLoris(stack.base_url, 200, sources) as attack:
        # The attack is on once every connection has been opened.
        deadline = time.monotonic() + 10
        while attack.opened < 200:
            assert time.monotonic() < deadline, "the slow connections could not be opened"
            time.sleep(0.05)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with session_from() as s:
                t0 = time.monotonic()
                r = s.get(stack.base_url + "/healthz", timeout=10)
                worst["healthz"] = max(worst["healthz"], time.monotonic() - t0)
                assert r.status_code == 200
                t0 = time.monotonic()
                r = s.post(stack.base_url + "/token", data={"grant_type": "client_credentials"},
                           auth=(cc_client.id, cc_client.secret), timeout=10)
                worst["token"] = max(worst["token"], time.monotonic() - t0)
                assert r.status_code == 200, r.text
        stats = (attack.opened, attack.closed_by_server, attack.refused)
    print(f"slow-loris from {len(sources)} address(es): worst healthz {worst['healthz'] * 1000:.0f} ms, "
          f"token {worst['token'] * 1000:.0f} ms; opened/closed/refused {stats}")
    return worst, stats


# The default head timeout (config.def) plus a margin: the attack outlives it.
ATTACK_SECONDS = 7


@pytest.fixture(scope="class")
def default_gateway(stack):
    """The gateway with config.def's own thread count and limits (the stack
    runs a small one)."""
    with gateway_with(stack, {"OSTIARY_HTTP_THREADS": None}):
        yield


class TestSlowLoris:
    """The gateway with config.def's defaults under 200 slow connections."""

    def test_slow_loris_from_one_address(self, stack, cc_client, default_gateway):
        worst, (opened, closed, refused) = probe_during_attack(stack, cc_client, ["127.0.0.5"], ATTACK_SECONDS)
        assert worst["healthz"] < 1.0 and worst["token"] < 1.0, worst
        # Past the per-address cap, connections were refused as they came.
        assert refused > 0

    def test_slow_loris_from_many_addresses(self, stack, cc_client, default_gateway):
        sources = [f"127.0.1.{i}" for i in range(1, 201)]
        worst, (opened, closed, refused) = probe_during_attack(stack, cc_client, sources, ATTACK_SECONDS)
        assert worst["healthz"] < 1.0 and worst["token"] < 1.0, worst
        # The head timeout closed the slow connections, and they came again.
        assert closed >= 100 and opened >= 300, (opened, closed)


def read_all(sock, timeout):
    """Everything sock receives until the peer closes it (or timeout)."""
    sock.settimeout(timeout)
    chunks = []
    with contextlib.suppress(socket.timeout, ConnectionResetError):
        while True:
            data = sock.recv(4096)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def healthz_from(stack, source):
    """Raw GET /healthz from `source` on a new connection: the answer."""
    u = urlsplit(stack.base_url)
    with socket.create_connection((u.hostname, u.port), timeout=5, source_address=(source, 0)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return read_all(s, 5)


def test_connection_cap_refuses_the_next_one_and_frees_a_slot_on_close(stack):
    cap = 4
    held = []
    # Idle connections wait long enough here that only the test closes them.
    with gateway_with(stack, {"OSTIARY_HTTP_MAX_CONN_PER_IP": cap, "OSTIARY_HTTP_HEADER_TIMEOUT_MS": 30000}):
        u = urlsplit(stack.base_url)
        try:
            for _ in range(cap):
                s = socket.create_connection((u.hostname, u.port), timeout=5, source_address=("127.0.0.3", 0))
                s.sendall(b"GET /healthz HTTP/1.1\r\n")
                held.append(s)
            # The next one from that address: 503 with Retry-After, then closed.
            answer = healthz_from(stack, "127.0.0.3")
            assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
            head = answer.split(b"\r\n\r\n", 1)[0].lower()
            assert b"\r\nretry-after: 1" in head
            assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "temporarily_unavailable"
            # Another address is not concerned.
            assert healthz_from(stack, "127.0.0.4").startswith(b"HTTP/1.1 200")
            # One closes: its slot is free again (once the gateway saw it go).
            held.pop().close()
            deadline = time.monotonic() + 10
            while not (answer := healthz_from(stack, "127.0.0.3")).startswith(b"HTTP/1.1 200"):
                assert time.monotonic() < deadline, answer[:200]
                time.sleep(0.05)
            # The held ones still count: the cap is reached again.
            s = socket.create_connection((u.hostname, u.port), timeout=5, source_address=("127.0.0.3", 0))
            held.append(s)
            assert healthz_from(stack, "127.0.0.3").startswith(b"HTTP/1.1 503")
        finally:
            for s in held:
                s.close()
