"""Metrics (docs/metrics.md): every process serves GET /metrics on a listener
of its own (OSTIARY_METRICS_LISTEN), never on the public port; what it serves
passes `promtool check metrics` and names only metrics of common/metrics.def;
a real Prometheus scraping every process reads back a login and a refresh as
the right counters; the rules and the dashboard of deploy/ load, pass their
unit tests and name only metrics that exist."""

import json
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

import oidc
from conftest import PROCESSES, REPO, free_port
from flowweb import FlowBrowser

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
RULES = REPO / "deploy" / "prometheus" / "ostiary.rules.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "ostiary.rules.test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "ostiary-dashboard.json"
SCRAPE_S = 1

pytestmark = pytest.mark.skipif(not PROMTOOL or not PROMETHEUS,
                                reason="Debian's prometheus package is missing (scripts/deps.sh)")


def registry():
    """name → type of every row of common/metrics.def."""
    text = (REPO / "common" / "metrics.def").read_text()
    return dict(re.findall(r'METRIC \(\w+, "([a-z_:0-9]+)", (COUNTER|GAUGE|HISTOGRAM)', text))


def sample_names(text):
    """The metric names of the samples in a Prometheus text page."""
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M)}


def family_of(name, metrics):
    """The metric a sample or query name belongs to (histograms add
    _bucket, _sum and _count), or None."""
    if name in metrics:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)] if name.endswith(suffix) else None
        if base and metrics.get(base) == "HISTOGRAM":
            return base
    return None


def value(text, name, **labels):
    """The sum of the samples of name whose labels include labels (0 if none)."""
    total = 0.0
    for m in re.finditer(r"^" + re.escape(name) + r"(\{[^}]*\})? (\S+)$", text, re.M):
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


# ---------------------------------------------------------------- each process


def test_every_process_has_a_metrics_listener_promtool_accepts(stack):
    metrics = registry()
    for name in PROCESSES:
        assert stack.metrics_targets(name), f"{name} has no metrics listener"
        text = stack.metrics(name)
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                               timeout=30)
        assert check.returncode == 0, f"{name}: {check.stdout}{check.stderr}"
        for basic in ("process_start_time_seconds", "process_resident_memory_bytes", "process_open_fds",
                      "process_cpu_seconds_total"):
            assert value(text, basic) > 0, f"{name}: {basic}"
        unknown = {n for n in sample_names(text) if not family_of(n, metrics)}
        assert not unknown, f"{name} serves metrics outside common/metrics.def: {sorted(unknown)}"


def test_each_process_shows_its_own_measurements(stack, http):
    # One op of each service: a client (token), a user (flow), the JWKS (keys).
    oidc.make_client(stack)
    oidc.make_user(stack)
    assert http.get(stack.base_url + "/jwks", timeout=5).status_code == 200
    # The gateway may answer /jwks from its cache (OSTIARY_JWKS_MAX_AGE) when
    # this keys-svc started after it was filled (a test before this one
    # restarted it): keys.jwks asked directly is an op of this keys-svc.
    r = stack.ctl("call", "keys.jwks", "{}")
    assert r.returncode == 0, r.stdout + r.stderr
    gateway = stack.metrics("gateway")
    assert "ostiary_broker_workers{" in gateway
    assert "ostiary_http_request_duration_seconds_bucket{route=\"jwks\",status_class=\"2xx\"" in gateway
    for name in ("token-svc", "flow-svc", "keys-svc"):
        text = oidc.wait_for(f"{name}'s ops and statements", lambda: (
            lambda t: t if "ostiary_bus_op_duration_seconds_bucket{" in t
            and "ostiary_db_statement_duration_seconds_bucket{" in t else None)(stack.metrics(name)),
            timeout=30, step=0.2)
        assert value(text, "ostiary_db_connections") >= 1, name
    # keys-svc's janitor publishes the age of each signing key.
    oidc.wait_for("the signing keys' age", lambda: "ostiary_signing_key_active_since_seconds{alg=" in
                  stack.metrics("keys-svc"), timeout=30, step=0.2)


def test_listener_refuses_other_methods_and_paths(stack, http):
    for target in stack.metrics_targets():
        for method in ("POST", "PUT", "DELETE", "HEAD"):
            r = http.request(method, f"http://{target}/metrics", timeout=5)
            assert r.status_code == 405, (target, method, r.status_code)
            assert r.headers["Allow"] == "GET"
        assert http.get(f"http://{target}/", timeout=5).status_code == 404
        assert http.get(f"http://{target}/healthz", timeout=5).status_code == 404


def test_public_port_does_not_serve_metrics(stack, http):
    r = http.get(stack.base_url + "/metrics", timeout=5)
    assert r.status_code == 404, r.status_code
    assert "ostiary_" not in r.text and "process_" not in r.text


def test_listener_is_off_when_asked(stack):
    inst = stack.start("flow-svc", {"OSTIARY_METRICS_LISTEN": "off"})
    try:
        oidc.wait_for("flow-svc started", lambda: "no metrics listener" in inst.log_path.read_text()
                      or not inst.alive(), timeout=20)
        assert inst.alive(), inst.log_path.read_text()
        assert inst.metrics is None
    finally:
        inst.stop()


def test_a_taken_metrics_port_stops_the_process(stack):
    taken = stack.metrics_targets("token-svc")[0]
    inst = stack.start("token-svc", {"OSTIARY_METRICS_LISTEN": taken})
    assert inst.wait(20) == 2
    assert "OSTIARY_METRICS_LISTEN" in inst.log_path.read_text()


# ---------------------------------------------------------------- Prometheus


class Prometheus:
    """A Prometheus server of the test's own: a temporary configuration and
    data folder, a free port, every process's metrics listener as a target,
    scraped every SCRAPE_S second, with the rules of deploy/prometheus."""

    def __init__(self, stack):
        self.dir = Path(tempfile.mkdtemp(prefix="prom-", dir=str(stack.workdir)))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        jobs = []
        for name in PROCESSES:
            targets = ", ".join(f'"{t}"' for t in stack.metrics_targets(name))
            jobs.append(f"  - job_name: ostiary-{name}\n    static_configs:\n      - targets: [{targets}]\n")
        shutil.copy(RULES, self.dir / "ostiary.rules.yml")
        (self.dir / "prometheus.yml").write_text(
            f"global:\n  scrape_interval: {SCRAPE_S}s\n  scrape_timeout: {SCRAPE_S}s\n"
            f"  evaluation_interval: {SCRAPE_S}s\n"
            "rule_files:\n  - ostiary.rules.yml\nscrape_configs:\n" + "".join(jobs))
        self.log = open(self.dir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        # A record for scripts/test.sh, which ends what a killed pytest left.
        with open(stack.workdir / "pids", "a") as f:
            f.write(f"{self.proc.pid} prometheus\n")
        self.http = requests.Session()
        self.http.trust_env = False
        self.expected = len(stack.metrics_targets())
        try:
            oidc.wait_for("Prometheus ready", self._ready, timeout=60, step=0.2)
            oidc.wait_for("every target scraped and up", self._all_up, timeout=60, step=0.2)
        except BaseException:
            # The fixture never yields: nothing else would stop it (its
            # folder stays, with prometheus.log).
            self.proc.kill()
            self.proc.wait(20)
            self.log.close()
            raise

    def _ready(self):
        assert self.proc.poll() is None, (self.dir / "prometheus.log").read_text()
        try:
            return self.http.get(self.url + "/-/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _all_up(self):
        up = self.query("up")
        return len(up) == self.expected and all(float(s["value"][1]) == 1 for s in up)

    def api(self, path, **params):
        r = self.http.get(self.url + path, params=params, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        data = self.api("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", data
        return data["result"]

    def scalar(self, expr):
        """The value of a query that gives at most one sample (0 for none)."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else 0.0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(20)
        self.log.close()
        self.http.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def prometheus(stack):
    prom = Prometheus(stack)
    yield prom
    prom.stop()


def test_prometheus_scrapes_every_process(prometheus, stack):
    jobs = {s["metric"]["job"] for s in prometheus.query("up == 1")}
    assert jobs == {f"ostiary-{name}" for name in PROCESSES}
    # Every process's basics, as Prometheus stored them.
    for name in PROCESSES:
        assert prometheus.scalar(f'max(process_resident_memory_bytes{{job="ostiary-{name}"}})') > 0


def test_prometheus_loads_the_rules(prometheus):
    groups = prometheus.api("/api/v1/rules")["groups"]
    assert {g["name"] for g in groups} == {"ostiary.recording", "ostiary.alerts"}
    for group in groups:
        for rule in group["rules"]:
            assert rule["health"] in ("ok", "unknown"), rule


# What a browser login and one refresh move, as (process, metric, labels):
# the counters by exactly one, the two /token requests (the code exchange
# and the refresh, op token.exchange) by two.
MOVES = [
    ("flow-svc", "ostiary_logins_succeeded_total", {}),
    ("token-svc", "ostiary_tokens_issued_total", {"grant_type": "authorization_code"}),
    ("token-svc", "ostiary_tokens_issued_total", {"grant_type": "refresh_token"}),
    ("token-svc", "ostiary_refresh_rotations_total", {}),
    ("gateway", "ostiary_http_request_duration_seconds_count", {"route": "token", "status_class": "2xx"}),
    ("gateway", "ostiary_bus_call_duration_seconds_count", {"op": "token.exchange", "status": "ok"}),
    ("token-svc", "ostiary_bus_op_duration_seconds_count", {"op": "token.exchange", "status": "ok"}),
]
EXPECTED = [1, 1, 1, 1, 2, 2, 2]


def _promql(process, metric, labels):
    matchers = ",".join([f'job="ostiary-{process}"'] + [f'{k}="{v}"' for k, v in labels.items()])
    return f"sum({metric}{{{matchers}}})"


def _direct(stack, process, metric, labels):
    return sum(value(requests.get(f"http://{t}/metrics", timeout=5).text, metric, **labels)
               for t in stack.metrics_targets(process))


def _scraped(stack, prometheus, moves, want=None):
    """Waits until the processes serve want (when given: the gateway counts a
    request just after its answer) and Prometheus holds what they serve, for
    each move; returns those values."""
    now = [_direct(stack, *m) for m in moves]
    if want is not None:
        oidc.wait_for(f"the processes to count {want} (they show {now})",
                      lambda: [_direct(stack, *m) for m in moves] == want, timeout=10, step=0.05)
        now = want
    oidc.wait_for("Prometheus to scrape the current values",
                  lambda: [prometheus.scalar(_promql(*m)) for m in moves] == now,
                  timeout=30, step=0.2)
    return now


def test_prometheus_reads_back_a_login_and_a_refresh(prometheus, stack):
    client_id, secret, redirect_uri = oidc.make_client(
        stack, grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "offline_access"])
    username, _ = oidc.make_user(stack)
    before = _scraped(stack, prometheus, MOVES)
    # A browser login (the flow's password page) and the code exchange.
    browser = FlowBrowser(stack)
    try:
        params, _, got = oidc.code_flow(stack, browser, client_id, redirect_uri, username,
                                        scope="openid offline_access", prompt="consent")
    finally:
        browser.close()
    r = oidc.exchange(stack, got["code"], params, client_id, secret)
    assert r.status_code == 200, r.text
    refresh_token = r.json()["refresh_token"]
    r = oidc.token_request(stack, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                           basic=(client_id, secret))
    assert r.status_code == 200, r.text
    _scraped(stack, prometheus, MOVES, want=[b + e for b, e in zip(before, EXPECTED)])


def test_security_counters_move_by_one(stack, http):
    """A wrong password, a replayed refresh token and a revocation, each read
    back from the process that saw it."""
    client_id, secret, redirect_uri = oidc.make_client(
        stack, grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "offline_access"])
    username, _ = oidc.make_user(stack)
    failed = lambda: _direct(stack, "flow-svc", "ostiary_logins_failed_total", {"reason": "login_failed"})
    reuse = lambda: _direct(stack, "token-svc", "ostiary_refresh_reuse_detected_total", {})
    revoked = lambda: _direct(stack, "token-svc", "ostiary_revocations_total", {"kind": "access_token"})
    before = (failed(), reuse(), revoked())
    browser = FlowBrowser(stack)
    try:
        r = browser.authorize(oidc.auth_params(client_id, redirect_uri, scope="openid offline_access",
                                               prompt="consent"))
        page = browser.login(r, username, password="not the password")
        assert page.status_code == 200, page.status_code
        params, _, got = oidc.code_flow(stack, browser, client_id, redirect_uri, username,
                                        scope="openid offline_access", prompt="consent")
    finally:
        browser.close()
    r = oidc.exchange(stack, got["code"], params, client_id, secret)
    assert r.status_code == 200, r.text
    first = r.json()["refresh_token"]
    refresh = {"grant_type": "refresh_token"}
    r = oidc.token_request(stack, dict(refresh, refresh_token=first), basic=(client_id, secret))
    assert r.status_code == 200, r.text
    second = r.json()["refresh_token"]
    # OSTIARY_REFRESH_GRACE: within the retry window a replay is a retry, not
    # reuse, while its successor is unused; using the successor ends that.
    r = oidc.token_request(stack, dict(refresh, refresh_token=second), basic=(client_id, secret))
    assert r.status_code == 200, r.text
    # The access token, revoked before the reuse below revokes what the
    # family issued.
    r = http.post(stack.base_url + "/revoke", data={"token": r.json()["access_token"],
                                                    "token_type_hint": "access_token"},
                  auth=(client_id, secret), timeout=10)
    assert r.status_code == 200, r.text
    r = oidc.token_request(stack, dict(refresh, refresh_token=first), basic=(client_id, secret))
    assert r.status_code == 400, r.text
    after = (failed(), reuse(), revoked())
    assert [a - b for a, b in zip(after, before)] == [1, 1, 1], (before, after)


# ---------------------------------------------------------------- rules and dashboard


def test_rules_pass_promtool_check_and_their_unit_tests():
    check = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run([PROMTOOL, "test", "rules", RULE_TESTS.name], cwd=str(RULE_TESTS.parent),
                          capture_output=True, text=True, timeout=300)
    assert test.returncode == 0, test.stdout + test.stderr


def _names_in(expr):
    """Metric names an expression reads: words that are not functions,
    keywords, label names or recording rules (those hold a colon)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)    # label values
    expr = re.sub(r"\{[^}]*\}", "{}", expr)              # matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {w for w in words if w.startswith(("ostiary_", "process_"))}


def test_rules_and_dashboard_name_only_registered_metrics():
    import yaml
    metrics = registry()
    exprs = []
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        exprs += [rule["expr"] for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        exprs += [t["expr"] for t in panel["targets"]]
    named = set()
    for expr in exprs:
        named |= _names_in(expr)
    unknown = {n for n in named if not family_of(n, metrics)}
    assert not unknown, f"not in common/metrics.def: {sorted(unknown)}"
    # What the checks rest on: the alerts of docs/metrics.md are all there.
    assert {"ostiary_http_request_duration_seconds_count", "ostiary_broker_workers",
            "ostiary_refresh_reuse_detected_total", "ostiary_outbox_dead_letters_total",
            "ostiary_signing_key_active_since_seconds"} <= named
