"""A rolling restart under load loses nothing: two gateways (each with its
broker) behind a load balancer, two replicas of every service registered with
both brokers, and every process restarted one at a time (SIGTERM: drain, then
a new process) while clients keep sending client_credentials and refresh
requests. Zero failed requests, and every refresh family intact afterwards.

The load balancer is played by the test as Kubernetes does it: a gateway
leaves the rotation before its SIGTERM (the endpoints update that preStop
waits for) and comes back once its /readyz is 200; a connection refused is
tried on the other gateway (nothing was sent)."""

import base64
import concurrent.futures
import itertools
import threading

import requests

import oidc
from conftest import free_port
from lifecycle import Client, family, psql, refresh_client
from test_bus_security import broker_workers


class Balancer:
    def __init__(self, urls):
        self.urls = list(urls)
        self.out = set()
        self.inflight = {u: 0 for u in self.urls}
        self.lock = threading.Lock()
        self.turn = itertools.count()

    def drain(self, url):
        """Takes url out of the rotation and waits until nothing is sent to
        it any more (what preStop's pause gives a Kubernetes endpoint)."""
        with self.lock:
            self.out.add(url)
        assert oidc.wait_until(lambda: self.inflight[url] == 0, 30)

    def restore(self, url):
        with self.lock:
            self.out.discard(url)

    def post(self, path, data, basic):
        raw = f"{basic[0]}:{basic[1]}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        k = next(self.turn)
        last = None
        for url in self.urls[k % 2:] + self.urls[:k % 2]:
            with self.lock:
                if url in self.out:
                    continue
                self.inflight[url] += 1
            try:
                with requests.Session() as s:
                    s.trust_env = False
                    r = s.post(url + path, data=data, headers=headers, timeout=15)
                return r.status_code, r
            except requests.ConnectionError as e:
                # Refused: the request never reached that gateway.
                if "Connection refused" not in str(e):
                    return 0, e
                last = e
            finally:
                with self.lock:
                    self.inflight[url] -= 1
        return 0, last


def ready(url):
    try:
        return requests.get(url + "/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_rolling_restart_of_every_process_under_load_fails_no_request(stack):
    http2, bus2 = free_port(), free_port()
    url1, url2 = stack.base_url, f"http://127.0.0.1:{http2}"
    bus1 = stack.bus_endpoint
    env2 = {"OSTIARY_HTTP_LISTEN": f"127.0.0.1:{http2}", "OSTIARY_BUS_ENDPOINT": f"tcp://127.0.0.1:{bus2}"}
    both = {"OSTIARY_BUS_ENDPOINT": f"{bus1},tcp://127.0.0.1:{bus2}"}
    started = [stack.start("gateway", extra_env=env2)]
    services = ("token-svc", "flow-svc", "keys-svc")
    try:
        # Two replicas of each service, both on both brokers: the stack's own
        # (on the first broker only) are replaced by ones with the list.
        for name in services:
            started += [stack.start(name, extra_env=both), stack.start(name, extra_env=both)]
            for old in [i for i in stack.instances(name) if i not in started]:
                old.terminate()
                assert old.wait(20) == 0
        assert oidc.wait_until(lambda: ready(url1) and ready(url2), 30)
        brokers = (bus1, f"tcp://127.0.0.1:{bus2}")

        def counts_now():
            return {(b, n): broker_workers(stack, n.split("-")[0], b) for b in brokers for n in services}

        # Every thread of the two replicas on both brokers: the count each
        # restart must come back to before the next process goes.
        assert oidc.wait_until(lambda: len(set(counts_now().values())) == 1, 30), counts_now()
        full = counts_now()

        def back_to_full(timeout=30):
            assert oidc.wait_until(lambda: counts_now() == full, timeout), (counts_now(), full)

        lb = Balancer([url1, url2])
        cc = Client(stack, grant_types=["client_credentials"], redirect_uris=[], scopes=["profile"])
        rc = refresh_client(stack)
        tokens = [family(stack, rc)[0]["refresh_token"] for _ in range(4)]
        failures, counts, done = [], [0, 0], threading.Event()

        def cc_loop():
            while not done.is_set():
                status, r = lb.post("/token", {"grant_type": "client_credentials"}, (cc.id, cc.secret))
                counts[0] += 1
                if status != 200:
                    failures.append(("client_credentials", status, getattr(r, "text", str(r))[:200]))

        def refresh_loop(i):
            while not done.is_set():
                status, r = lb.post("/token", {"grant_type": "refresh_token", "refresh_token": tokens[i]},
                                    (rc.id, rc.secret))
                counts[1] += 1
                if status != 200:
                    failures.append(("refresh", status, getattr(r, "text", str(r))[:200]))
                    return
                tokens[i] = r.json()["refresh_token"]

        def progressed(n=20):
            target = sum(counts) + n
            assert oidc.wait_until(lambda: sum(counts) >= target or failures, 60), "no progress"

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(cc_loop) for _ in range(4)] + [pool.submit(refresh_loop, i) for i in range(4)]
            try:
                progressed()
                # Every service replica, one at a time.
                for name in services:
                    for old in list(stack.instances(name)):
                        old.terminate()
                        assert old.wait(20) == 0, f"{name} did not drain cleanly"
                        started.append(stack.start(name, extra_env=both))
                        back_to_full()
                        progressed()
                # Each gateway, one at a time, out of the rotation first.
                for url, extra in ((url1, None), (url2, env2)):
                    gw = next(g for g in stack.instances("gateway")
                              if (url == url1) == (g not in started[:1]))
                    lb.drain(url)
                    gw.terminate()
                    assert gw.wait(30) == 0, "the gateway did not drain cleanly"
                    started.append(stack.start("gateway", extra_env=extra))
                    assert oidc.wait_until(lambda: ready(url), 30)
                    back_to_full()
                    lb.restore(url)
                    progressed()
            finally:
                done.set()
                for f in futures:
                    f.result()
        assert not failures, failures[:5]
        assert counts[0] > 100 and counts[1] > 100, counts
        # Every family: not revoked, one live token, the one the client holds.
        for token in tokens:
            row = psql(stack, "SELECT f.revoked_at IS NULL, count(*) FILTER (WHERE t.consumed_at IS NULL"
                              " AND t.replaced_at IS NULL) FROM token.refresh_families f"
                              " JOIN token.refresh_tokens t ON t.family_id = f.id WHERE f.id ="
                              f" (SELECT family_id FROM token.refresh_tokens WHERE token_hash = sha256('{token}'::bytea)"
                              "  AND consumed_at IS NULL) GROUP BY f.revoked_at")
            assert row == "t|1", row
    finally:
        # Back to the stack's own shape: one of each on the first broker.
        for inst in started:
            if inst.alive():
                inst.terminate()
        for inst in started:
            try:
                inst.wait(20)
            except Exception:
                inst.kill()
        for name in (*services, "gateway"):
            stack.ensure(name)
        stack.wait_ready(30)
