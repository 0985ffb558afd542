"""Faults of the database and stops of the services, against the real
processes and the real PostgreSQL cluster of the stack:

- PostgreSQL stopped (`-m fast`, and `-m immediate`: a crash as the services
  see it) under a light stream of /authorize: /readyz turns 503 within a few
  seconds while it is down (/healthz stays 200), requests meanwhile get a 503
  at once (with Retry-After at the token endpoint), and once it is back and
  /readyz is 200 again no request fails: 16 sequential /authorize all 303.
  What the database holds afterwards: one authorization request per 303.
- A quick restart (stop and start at once, as `pg_ctl restart` does): the
  first requests afterwards do not fail (each worker thread reconnects before
  its first statement instead of failing it).
- SIGTERM of a token-svc while its requests wait on the database: they are
  answered 303, the requests queued meanwhile go to the second token-svc, no
  request fails, and the process exits 0.
- SIGTERM of the gateway while requests are in flight: no new connection is
  accepted, the requests in flight are answered, and it exits 0.

Every wait is for a condition with a deadline. Each test puts PostgreSQL and
the services back in a `finally:` (and the autouse fixture of conftest starts
any service that is missing)."""

import shutil
import subprocess
import threading
import time

import pytest
import requests

import oidc
from lifecycle import Client

READY_FLIP_MAX = 5.0    # seconds for /readyz to say not ready after PostgreSQL stopped
BACK_MAX = 10.0         # seconds for /readyz to be 200 after PostgreSQL started


def _session():
    s = requests.Session()
    s.trust_env = False
    return s


def _wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def _admin_conninfo(stack):
    admin = stack.pg_admin
    if not admin:
        pytest.skip("the cluster came without a superuser conninfo")
    return admin.replace("dbname=postgres", "dbname=ostiary")


def _psql(stack, sql):
    if not shutil.which("psql"):
        pytest.skip("no psql")
    cp = subprocess.run(["psql", _admin_conninfo(stack), "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


@pytest.fixture
def pg(stack):
    """The stack's cluster, started again (and the stack ready) after the test."""
    if not stack.pg_dir:
        pytest.skip("no cluster folder (OSTIARY_PG_DIR) to stop and start")
    try:
        yield stack
    finally:
        stack.pg_start()
        stack.wait_ready(30)


@pytest.fixture(scope="module")
def web_client(stack):
    return oidc.make_client(stack)


def _authorize(session, stack, client):
    client_id, _, redirect_uri = client
    return session.get(stack.base_url + "/authorize", params=oidc.auth_params(client_id, redirect_uri),
                       allow_redirects=False, timeout=10)


class Stream(threading.Thread):
    """Sequential /authorize requests until stopped; records (start, end, status)."""

    def __init__(self, stack, client):
        super().__init__(daemon=True)
        self.stack, self.client = stack, client
        self.results = []
        self.halt = threading.Event()

    def run(self):
        with _session() as s:
            while not self.halt.is_set():
                t0 = time.monotonic()
                try:
                    status = _authorize(s, self.stack, self.client).status_code
                except requests.RequestException:
                    status = 0
                self.results.append((t0, time.monotonic(), status))
                time.sleep(0.02)

    def stop(self):
        self.halt.set()
        self.join(15)

    def ok_count(self):
        return sum(1 for _, _, st in self.results if st == 303)


def _both_down(http, stack):
    r = http.get(stack.base_url + "/readyz", timeout=5)
    body = r.json()
    services = body.get("services", {})
    return body if services.get("token") == "down" and services.get("flow") == "down" else None


def _requests_of(stack, client_id):
    return int(_psql(stack, f"SELECT count(*) FROM token.authz_requests WHERE client_id = '{client_id}'"))


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_database_outage_readiness_and_recovery(pg, stack, web_client, mode):
    cc = Client(stack, grant_types=["client_credentials"], redirect_uris=[], scopes=["profile"])
    seq_client = oidc.make_client(stack)
    http = _session()
    before = _requests_of(stack, web_client[0])
    stream = Stream(stack, web_client)
    stream.start()
    try:
        _wait(lambda: stream.ok_count() >= 5, 10, "the stream is served")
        t_stop = time.monotonic()
        stack.pg_stop(mode)
        t_down = time.monotonic()
        _wait(lambda: stack.readyz() == 503, READY_FLIP_MAX, f"/readyz not ready after a {mode} stop")
        flip = time.monotonic() - t_down
        # Both services whose requests need the database go down. (keys-svc
        # serves from the keys it holds in memory: its worker threads run no
        # SQL, so it stays up.)
        body = _wait(lambda: _both_down(http, stack), READY_FLIP_MAX, "token and flow down")
        both = time.monotonic() - t_down
        assert body["status"] == "not_ready", body
        # Meanwhile: liveness stays, requests are refused at once, not hung.
        assert http.get(stack.base_url + "/healthz", timeout=5).status_code == 200
        t0 = time.monotonic()
        r = oidc.token_request(stack, {"grant_type": "client_credentials"}, basic=(cc.id, cc.secret))
        assert r.status_code == 503, r.text
        assert r.headers.get("Retry-After") == "1"
        assert r.json()["error"] == "temporarily_unavailable"
        assert time.monotonic() - t0 < 2
        t0 = time.monotonic()
        assert _authorize(http, stack, web_client).status_code == 503
        assert time.monotonic() - t0 < 2

        t_start = time.monotonic()
        stack.pg_start()
        t_accepting = time.monotonic()
        _wait(lambda: stack.readyz() == 200, BACK_MAX, "/readyz ready after PostgreSQL started")
        t_ready = time.monotonic()
        # The measure: 16 sequential requests once it is back, each
        # recorded once in the database.
        statuses = [_authorize(http, stack, seq_client).status_code for _ in range(16)]
        assert statuses == [303] * 16, statuses
        assert _requests_of(stack, seq_client[0]) == 16
        r = oidc.token_request(stack, {"grant_type": "client_credentials"}, basic=(cc.id, cc.secret))
        assert r.status_code == 200, r.text
        _wait(lambda: sum(1 for t, _, _ in stream.results if t > t_ready) >= 5, 10, "the stream goes on")
    finally:
        stream.stop()
        http.close()
    print(f"\n[{mode}] /readyz not ready {flip:.2f} s (token and flow both down {both:.2f} s) after PostgreSQL stopped "
          f"(stop took {t_down - t_stop:.2f} s); ready {t_ready - t_accepting:.2f} s after it accepted "
          f"connections (start took {t_accepting - t_start:.2f} s); stream: {len(stream.results)} requests, "
          f"{stream.ok_count()} answered 303")
    # Every request that failed overlapped the outage: none ended before the
    # stop began, none started after /readyz was 200 again.
    failed = [(t0 - t_stop, t1 - t_stop, st) for t0, t1, st in stream.results if st != 303]
    assert all(st == 503 for _, _, st in failed), failed
    assert not [f for f in failed if f[1] < 0 or f[0] > t_ready - t_stop], failed
    # The stream's requests in the database: never more rows than attempts (the
    # stream's and the one during the outage; a 503 may have left one, when
    # the outage came after its insert). After a fast stop every 303 is there;
    # the test cluster runs synchronous_commit=off (scripts/pg.sh,
    # OSTIARY_PG_FAST), so an immediate stop may lose the last commits before it.
    rows = _requests_of(stack, web_client[0]) - before
    assert rows <= len(stream.results) + 1, (rows, len(stream.results))
    if mode == "fast":
        assert rows >= stream.ok_count(), (rows, stream.ok_count())


def test_quick_restart_costs_no_request(pg, stack, web_client):
    http = _session()
    assert _authorize(http, stack, web_client).status_code == 303
    before = _requests_of(stack, web_client[0])
    stack.pg_stop("fast")
    stack.pg_start()
    # Every worker thread's connection was ended by the restart; none of them
    # may fail a request for that. Readiness first (a thread that looked
    # while PostgreSQL was down is out of the broker until its next look).
    stack.wait_ready(BACK_MAX)
    statuses = [_authorize(http, stack, web_client).status_code for _ in range(16)]
    assert statuses == [303] * 16, statuses
    assert _requests_of(stack, web_client[0]) == before + 16
    http.close()


class TableLock:
    """Holds EXCLUSIVE on token.authz_requests in a psql session: every
    /authorize waits in its INSERT until release()."""

    def __init__(self, stack):
        if not shutil.which("psql"):
            pytest.skip("no psql")
        self.proc = subprocess.Popen(["psql", _admin_conninfo(stack), "-XAtq", "-v", "ON_ERROR_STOP=1"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write("BEGIN; LOCK TABLE token.authz_requests IN EXCLUSIVE MODE; SELECT 'locked';\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("COMMIT;\n\\q\n")
            self.proc.stdin.flush()
            self.proc.wait(10)


def _waiting_on_lock(stack):
    return int(_psql(stack, "SELECT count(*) FROM pg_locks WHERE NOT granted"
                            " AND relation = 'token.authz_requests'::regclass"))


def _authorize_in_threads(stack, client, n, results):
    def one():
        with _session() as s:
            try:
                results.append(_authorize(s, stack, client).status_code)
            except requests.RequestException as e:
                results.append(repr(e))
    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


def test_sigterm_drains_a_token_svc_while_a_second_one_serves(stack, web_client):
    first = stack.instances("token-svc")[0]
    # The live gateway's own log (other tests' gateways, stopped, are listed
    # beside it in the stack: an offset into all of them would not point
    # at its new lines).
    [gateway] = stack.instances("gateway")
    seen = len(gateway.log_path.read_text(errors="replace"))
    second = stack.start("token-svc")
    lock = None
    results, threads = [], []
    try:
        # In the broker, with both of its threads set up (the lock below would
        # hold up a thread's start: preparing an INSERT takes a lock on its
        # table). The process joins once for all its threads, as soon as the
        # first can serve.
        _wait(lambda: "of token joined" in gateway.log_path.read_text(errors="replace")[seen:], 10,
              "the second token-svc joined")
        _wait(lambda: "threads set up for the broker" in second.log_path.read_text(errors="replace"), 10,
              "the second token-svc's threads set up")
        before = _requests_of(stack, web_client[0])
        lock = TableLock(stack)
        # Every token worker thread (2 per process) waits on the lock.
        threads += _authorize_in_threads(stack, web_client, 4, results)
        _wait(lambda: _waiting_on_lock(stack) == 4 or results, 10, "four requests wait on the lock")
        assert not results, results
        first.terminate()
        _wait(lambda: "finishing the requests in flight" in first.log_path.read_text(errors="replace"), 5,
              "the first token-svc begins its drain")
        # More requests queue in the broker meanwhile: none may go to the
        # leaving process, and none may fail.
        threads += _authorize_in_threads(stack, web_client, 6, results)
        time.sleep(0.2)  # (lets them reach the broker's queue; not a condition of the outcome)
        assert first.alive(), "the drain must wait for the requests in flight"
        lock.release()
        for t in threads:
            t.join(15)
        assert first.wait(10) == 0
    finally:
        if lock:
            lock.release()
        if second.alive() and len(stack.instances("token-svc")) > 1:
            second.stop()
    assert sorted(map(str, results)) == ["303"] * 10, results
    assert _requests_of(stack, web_client[0]) == before + 10
    log = first.log_path.read_text(errors="replace")
    assert "drain deadline passed" not in log


def test_sigterm_drains_the_gateway(stack, web_client):
    gateway = stack.instances("gateway")[0]
    lock = TableLock(stack)
    results = []
    try:
        # As many as token-svc has worker threads (the stack runs 2), so
        # that none waits in the broker's queue.
        threads = _authorize_in_threads(stack, web_client, 2, results)
        _wait(lambda: _waiting_on_lock(stack) == 2 or results, 10, "two requests wait on the lock")
        assert not results, results
        gateway.terminate()
        _wait(lambda: "finishing the requests in flight" in gateway.log_path.read_text(errors="replace"), 5,
              "the gateway begins its drain")
        # No new connection is accepted while it drains.
        with pytest.raises(requests.ConnectionError):
            with _session() as s:
                s.get(stack.base_url + "/healthz", timeout=2)
        assert gateway.alive(), "the drain must wait for the requests in flight"
        lock.release()
        for t in threads:
            t.join(15)
        try:
            status = gateway.wait(15)  # the drain's own deadline is 10 s
        except subprocess.TimeoutExpired:
            status = "still running"
        assert status == 0, f"the drained gateway exited {status}\n" + stack.log_tails()
    finally:
        lock.release()
        # A gateway still draining here (the test failed above) is ended, so
        # that a new one takes its port and the failure stays this test's.
        if gateway.alive():
            gateway.kill()
            gateway.wait(10)
        stack.ensure("gateway")
        stack.wait_ready(30)
    assert results == [303] * 2, results
