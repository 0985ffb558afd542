"""Webhooks of flow-svc (docs/flows.md, node type `webhook`): hooks come from
OSTIARY_WEBHOOKS_FILE only; every POST carries `Ostiary-Signature:
t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` that the receiver can
verify; redirects are never followed; loopback and private targets are
refused unless OSTIARY_WEBHOOK_ALLOW_PRIVATE=1. Asynchronous hooks go through
the outbox and resume the flow with a callback action token.

The receiver is scripts/webhook_receiver.py, run in this process. flow-svc is
restarted for this module with the shipped flows plus the test flows below
(written to a temporary folder) and a webhooks file naming the receiver."""

import hashlib
import hmac
import importlib.util
import json
import shutil
import time

import pytest

from conftest import REPO
from oidc import ctl_json, psql_flow, wait_for

SECRET = "test-hook-secret-0123456789"

_spec = importlib.util.spec_from_file_location("webhook_receiver", REPO / "scripts" / "webhook_receiver.py")
webhook_receiver = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(webhook_receiver)


def hook_flow(name, hook):
    """A flow whose start node calls one hook: success and failure end it."""
    return {"name": name, "version": 1, "kind": "registration", "start": "hook",
            "nodes": {"hook": {"type": "webhook", "hook": hook,
                               "on": {"success": "done", "failure": "failed"}},
                      "done": {"type": "success"}, "failed": {"type": "failure"}}}


@pytest.fixture(scope="module")
def receiver():
    r = webhook_receiver.Receiver(SECRET).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def hooks_env(stack, receiver, tmp_path_factory):
    """The environment of a flow-svc that knows the test hooks and flows. The
    URLs name "localhost", so the file also loads with allow_private=0 and the
    refusal happens where it matters: when the host is resolved."""
    folder = tmp_path_factory.mktemp("hook-flows")
    for path in (REPO / "flows").glob("*.json"):
        shutil.copy(path, folder / path.name)
    base = f"http://localhost:{receiver.port}"
    hooks = {
        "checker": {"url": f"{base}/answer/success", "secret": SECRET, "timeout_ms": 3000, "retries": 0},
        "refuser": {"url": f"{base}/answer/failure", "secret": SECRET, "retries": 0},
        "mover": {"url": f"{base}/redirect", "secret": SECRET, "retries": 0},
        "notifier": {"url": f"{base}/notify", "secret": SECRET, "mode": "async", "retries": 1},
    }
    # Beside the flows folder, not in it: every *.json there is a flow.
    hooks_file = tmp_path_factory.mktemp("hooks") / "webhooks.json"
    hooks_file.write_text(json.dumps({"hooks": hooks}))
    flows = {"hook-sync": "checker", "hook-refused": "refuser", "hook-redirect": "mover",
             "hook-async": "notifier"}
    for name, hook in flows.items():
        (folder / f"{name}.json").write_text(json.dumps(hook_flow(name, hook), indent=2))
    return {"OSTIARY_FLOWS_DIR": str(folder), "OSTIARY_WEBHOOKS_FILE": str(hooks_file),
            "OSTIARY_OUTBOX_POLL_MS": "100"}


def restart_flow(stack, env):
    stack.stop_all("flow")
    stack.start("flow", env)
    stack.wait_ready()


@pytest.fixture(scope="module")
def hooked(stack, hooks_env):
    restart_flow(stack, dict(hooks_env, OSTIARY_WEBHOOK_ALLOW_PRIVATE="1"))
    yield
    stack.stop_all("flow")
    stack.ensure("flow")
    stack.wait_ready()


def start(stack, flow):
    return ctl_json(stack, "flow.start", {"flow": flow})


def test_webhook_signature_verifies_on_the_receiver(stack, hooked, receiver):
    before = len(receiver.hits("/answer/success"))
    state = start(stack, "hook-sync")
    assert state["status"] == "succeeded", state
    hits = receiver.hits("/answer/success")[before:]
    assert len(hits) == 1
    hit = hits[0]
    assert hit["signature_ok"], hit["headers"]
    assert hit["headers"]["Content-Type"] == "application/json"
    # Verified here too, from the raw header: t=<unix>,v1=<hex>.
    fields = dict(p.split("=", 1) for p in hit["headers"]["Ostiary-Signature"].split(","))
    assert abs(int(fields["t"]) - time.time()) < 60
    expect = hmac.new(SECRET.encode(), f"{fields['t']}.{hit['body']}".encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expect)
    # Under another secret, the same signature does not verify.
    assert not webhook_receiver.verify("another-secret-0123456789", hit["headers"]["Ostiary-Signature"],
                                       hit["body"].encode())
    assert hit["json"]["event"] == "flow.webhook" and hit["json"]["flow_name"] == "hook-sync"


def test_webhook_answering_failure_fails_the_node(stack, hooked, receiver):
    state = start(stack, "hook-refused")
    assert state["status"] == "failed", state
    assert receiver.hits("/answer/failure")


def test_redirecting_webhook_is_not_followed(stack, hooked, receiver):
    before = len(receiver.hits("/redirect"))
    state = start(stack, "hook-redirect")
    assert state["status"] == "failed", state
    assert len(receiver.hits("/redirect")) == before + 1
    # The 302 named /landing: nothing ever went there (a sync hook is done
    # when flow.start answers, so a followed redirect would have come first).
    assert receiver.hits("/landing") == []


def test_async_webhook_is_delivered_signed_by_the_outbox_and_its_callback_resumes(stack, hooked, receiver):
    started = int(time.time()) - 1
    before = len(receiver.hits("/notify"))
    state = start(stack, "hook-async")
    assert state["status"] == "waiting" and state["step"]["type"] == "webhook_wait", state
    hits = receiver.wait_for("/notify", before + 1)[before:]
    assert len(hits) == 1, "the outbox did not deliver the webhook"
    hit = hits[0]
    assert hit["signature_ok"], hit["headers"]
    callback = hit["json"]["callback"]
    assert callback["purpose"] == "webhook_callback"
    out = ctl_json(stack, "flow.action", {"token": callback["token"], "purpose": "webhook_callback",
                                          "outcome": "success", "data": {}})
    assert out["status"] == "succeeded", out
    # Delivered once: the outbox marked it sent, so it never goes out again.
    wait_for("the outbox to mark the webhook sent", lambda: psql_flow(
        stack, "SELECT count(*) FROM flow.outbox WHERE kind = 'webhook' AND status = 'pending'"
               f" AND created_at >= to_timestamp({started})") == "0", timeout=10, step=0.1)
    assert len(receiver.hits("/notify")) == before + 1


def test_private_webhook_target_is_refused_when_not_allowed(stack, hooked, hooks_env, receiver):
    restart_flow(stack, dict(hooks_env, OSTIARY_WEBHOOK_ALLOW_PRIVATE="0"))
    try:
        before = len(receiver.requests)
        state = start(stack, "hook-sync")
        assert state["status"] == "failed", state
        # "localhost" resolves to loopback: refused before any connection
        # (a sync hook is done when flow.start answers).
        assert len(receiver.requests) == before
        assert "webhook checker: refused" in stack.log_text("flow")
    finally:
        restart_flow(stack, dict(hooks_env, OSTIARY_WEBHOOK_ALLOW_PRIVATE="1"))


def test_webhooks_file_naming_a_private_address_stops_the_start(stack, hooked, hooks_env, tmp_path):
    hooks_file = tmp_path / "webhooks.json"
    hooks_file.write_text(json.dumps({"hooks": {"checker": {
        "url": "http://169.254.169.254/latest/meta-data", "secret": SECRET}}}))
    inst = stack.start("flow", dict(hooks_env, OSTIARY_WEBHOOKS_FILE=str(hooks_file),
                                    OSTIARY_WEBHOOK_ALLOW_PRIVATE="0"))
    assert inst.wait(30) != 0
    log = inst.log_path.read_text()
    assert "OSTIARY_WEBHOOKS_FILE" in log and "link-local" in log, log[-2000:]
