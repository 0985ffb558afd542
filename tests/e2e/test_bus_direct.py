"""token-svc signs through keys-svc's direct endpoint (proto/bus.md, "Direct
reads"): with one up, a signed token costs the broker one request,
not two; with none up, signing goes through the broker and nothing fails; a
bad OSTIARY_BUS_DIRECT or a taken OSTIARY_BUS_DIRECT_BIND stops a service at
start with a clear message."""

import subprocess
import time

import oidc
from test_gateway import metric
from test_token_ops import Client

# The broker counts as it goes (common/metrics.h); a scrape sees it at once.
STATS_MS = 1.0
TOKENS = 30


def _served(stack, http):
    text = stack.metrics("gateway")
    value = metric(text, "ostiary_broker_served_total")
    assert value is not None, text
    return value


def _issue(stack, http, client, n):
    """n client_credentials tokens over HTTP; each verifies against the JWKS."""
    for _ in range(n):
        r = http.post(stack.base_url + "/token", data={"grant_type": "client_credentials"},
                      auth=(client.id, client.secret), timeout=10)
        assert r.status_code == 200, r.text
        oidc.verify_jwt(stack, r.json()["access_token"], typ="at+jwt")


def _fresh_served(stack, http):
    """The broker's served counter from a copy the gateway made after this
    call began (it copies the broker's counters every STATS_MS). One call
    the broker refuses (keys-svc's key may not list clients) moves its
    refusals counter; a copy showing more than the one read first is a
    newer copy, so it counts every request made before."""
    def metrics():
        return stack.metrics("gateway")

    refused = {"component": "broker", "reason": "role"}
    seen = metric(metrics(), "ostiary_bus_refusals_total", **refused) or 0
    r = stack.ctl_as("keys", "call", "token.client_list", "{}")
    assert r.returncode != 0, r.stdout
    text = oidc.wait_for("a new copy of the broker's counters", lambda: (
        lambda t: t if (metric(t, "ostiary_bus_refusals_total", **refused) or 0) > seen else None)(metrics()),
        timeout=3 * STATS_MS + 5, step=0.1)
    value = metric(text, "ostiary_broker_served_total")
    assert value is not None, text
    return value


def _broker_requests_per_token(stack, http, client):
    before = _fresh_served(stack, http)
    _issue(stack, http, client, TOKENS)
    # The marking call itself went through the broker (refused, not served).
    return (_fresh_served(stack, http) - before) / TOKENS


def _cc_client(stack):
    return Client(stack, grant_types=["client_credentials"], redirect_uris=[], scopes=["profile"])


def _wait_workers(stack, service, timeout=20):
    """Waits until the broker has a live worker of service."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if stack.ctl("ready", service).returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"{service} never became ready")


def test_signing_goes_straight_to_keys_svc(stack, http):
    client = _cc_client(stack)
    _issue(stack, http, client, 2)  # connections are up
    per_token = _broker_requests_per_token(stack, http, client)
    # token.exchange through the broker; keys.sign not (a little slack for
    # the gateway's own background reads, such as its JWKS refresh).
    assert per_token < 1.5, per_token


def test_signing_falls_back_to_the_broker_and_comes_back(stack, http):
    client = _cc_client(stack)
    holders = stack.instances("keys-svc")
    assert holders
    # A second keys-svc that does not bind the direct endpoint (it is taken)
    # serves through the broker once the first one is gone.
    joined = stack.log_text("gateway").count(" of keys joined")
    spare = stack.start("keys-svc")
    try:
        oidc.wait_for("the spare keys-svc to serve",
                      lambda: "serving on" in spare.log_path.read_text(errors="replace"), timeout=20)
        # Its READY reached the broker (the broker logs each worker that joins).
        oidc.wait_for("the spare's workers at the broker",
                      lambda: stack.log_text("gateway").count(" of keys joined") > joined, timeout=20)
        for inst in holders:
            inst.terminate()
            inst.wait(15)
        assert spare.alive()
        _wait_workers(stack, "keys")
        per_token = _broker_requests_per_token(stack, http, client)
        assert per_token >= 2.0, per_token
    finally:
        stack.stop_all("keys-svc")
        stack.ensure("keys-svc")
        stack.wait_ready()
    _wait_workers(stack, "keys")
    # The new keys-svc binds the direct endpoint again and token-svc's
    # connection to it comes back by itself.
    deadline = time.time() + 20
    per_token = None
    while time.time() < deadline:
        per_token = _broker_requests_per_token(stack, http, client)
        if per_token < 1.5:
            break
    assert per_token is not None and per_token < 1.5, per_token


def _start_fails(stack, name, env, timeout=20):
    inst = stack.start(name, extra_env=env)
    try:
        code = inst.wait(timeout)
    except subprocess.TimeoutExpired:
        inst.kill()
        inst.wait(10)
        raise AssertionError(f"{name} kept running with {env}")
    return code


def test_a_taken_direct_endpoint_stops_keys_svc_at_start(stack):
    code = _start_fails(stack, "keys-svc", {"OSTIARY_BUS_DIRECT_BIND": stack.keys_direct})
    assert code != 0
    assert f"cannot bind the direct endpoint {stack.keys_direct}" in stack.log_text("keys-svc")
    # The one that holds it still signs.
    assert stack.ctl("call", "keys.health").returncode == 0


def test_a_malformed_direct_spec_stops_token_svc_with_exit_2(stack):
    for spec in ("keys", "keys=http://127.0.0.1:1", "nosuch=tcp://127.0.0.1:1", "keys=tcp://127.0.0.1:1,"):
        code = _start_fails(stack, "token-svc", {"OSTIARY_BUS_DIRECT": spec})
        assert code == 2, spec
    assert "OSTIARY_BUS_DIRECT must be service=endpoint" in stack.log_text("token-svc")
