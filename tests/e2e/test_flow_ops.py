"""flow-svc over the bus, where processes matter: the password login flow
(flows/login.json) under concurrent submissions, across a flow-svc restart,
with the Argon2id cost of a running deployment (the time an unknown user
costs, the upgrade of old parameters), and what its rows keep.

Each op's own answers and refusals (users, sessions, claims, flow.start,
flow.get, flow.submit) are tested in-process in tests/svc/test_flow_ops.c.
Every call here goes through `ostiaryctl call OP JSON`."""

import base64
import hashlib
import shutil
import statistics
import subprocess
import random
import threading
import time
import uuid

import pytest

from oidc import call, ok

PASSWORD = "correct horse battery staple"
LOGIN_FAILED_CODE = "login_failed"
# The client address of this module's logins (198.18.0.0/15, RFC 2544:
# benchmarking). The lockout (docs/flows.md) throttles an address after
# address_threshold (50) failed attempts in a fixed window of 300 s; others
# log in from 127.0.0.1, so sharing that address made logins here fail
# depending on what ran before them.
CLIENT_IP = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"


# ---------------------------------------------------------------- helpers


def new_user(stack, password=PASSWORD, **claims):
    username = "u" + uuid.uuid4().hex[:12]
    body = {"username": username, **claims}
    if password is not None:
        body["password"] = password
    user = ok(stack, "flow.user_add", body)["user"]
    return username, user


def start(stack, **extra):
    """flow.start of the login flow (OSTIARY_LOGIN_FLOW) for a new
    authorization request → (request_id, state with the flow handle)."""
    body = {"request_id": "req-" + uuid.uuid4().hex, "purpose": "login", "client_ip": CLIENT_IP}
    body.update(extra)
    return body["request_id"], ok(stack, "flow.start", body)


def submit(stack, flow, username, password, csrf=None, node="password"):
    """flow.submit of the password step → (exit code, state or error)."""
    body = {"flow": flow["flow"], "csrf": flow["csrf"] if csrf is None else csrf, "node": node,
            "input": {"username": username, "password": password}, "client_ip": CLIENT_IP}
    return call(stack, "flow.submit", body)


def login(stack, username, password=PASSWORD, **extra):
    """A login through the flow → (request_id, started state, result: the
    session the flow issued)."""
    request_id, flow = start(stack, **extra)
    rc, out = submit(stack, flow, username, password)
    assert rc == 0, out
    assert out["status"] == "succeeded" and "result" in out, out
    return request_id, flow, out["result"]


# ---------------------------------------------------------------- login flow


def test_unknown_user_costs_a_password_verification(stack):
    """An unknown user is checked against a dummy Argon2id hash, so the time
    taken does not tell whether the username exists."""
    username, _ = new_user(stack)

    def timed(user):
        _, flow = start(stack)
        t0 = time.monotonic()
        rc, out = submit(stack, flow, user, "not the password")
        assert rc == 0 and out["step"]["error"] == LOGIN_FAILED_CODE, out
        return time.monotonic() - t0

    known = statistics.median(timed(username) for _ in range(5))
    unknown = statistics.median(timed("ghost-" + uuid.uuid4().hex[:8]) for _ in range(5))
    assert unknown > 0.5 * known, (known, unknown)


def test_concurrent_submissions_complete_the_flow_once(stack):
    """Two submissions of one flow at the same moment: the guarded UPDATE
    lets exactly one of them create a session."""
    username, _ = new_user(stack)
    _, flow = start(stack)
    results = []

    def run():
        results.append(submit(stack, flow, username, PASSWORD))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 1], results
    won = next(out for rc, out in results if rc == 0)
    assert won["status"] == "succeeded" and "result" in won
    failed = next(out for rc, out in results if rc == 1)
    assert failed["error"] == "invalid_flow"


def test_flow_survives_a_flow_svc_restart(stack):
    username, user = new_user(stack)
    request_id, flow = start(stack)
    try:
        stack.stop_all("flow-svc")
        stack.ensure("flow-svc")
        stack.wait_ready()
        assert ok(stack, "flow.get", {"flow": flow["flow"]})["request_id"] == request_id
        # The worker may need a moment to register with the broker.
        deadline = time.monotonic() + 10
        while True:
            rc, out = submit(stack, flow, username, PASSWORD)
            if rc == 0 or out.get("error") != "temporarily_unavailable" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert rc == 0 and out["status"] == "succeeded", out
        assert out["result"]["sub"] == user["sub"]
    finally:
        stack.ensure("flow-svc")
        stack.wait_ready()


def test_old_argon2_parameters_are_upgraded_at_login(stack):
    username, _ = new_user(stack)
    try:
        stack.stop_all("flow-svc")
        inst = stack.start("flow-svc", {"OSTIARY_ARGON2_T_COST": "2"})
        stack.wait_ready()
        deadline = time.monotonic() + 10
        while ok(stack, "flow.health", {}).get("pid") != inst.pid and time.monotonic() < deadline:
            time.sleep(0.1)
        login(stack, username)
        assert "password hash upgraded" in inst.log_path.read_text()
        # The new hash still verifies.
        login(stack, username)
    finally:
        stack.stop_all("flow-svc")
        stack.ensure("flow-svc")
        stack.wait_ready()


# ---------------------------------------------------------------- storage


def psql(stack, sql):
    conninfo = stack.env.get("OSTIARY_DB_FLOW")
    if not conninfo or not shutil.which("psql"):
        pytest.skip("no conninfo of the flow database or no psql")
    cp = subprocess.run(["psql", conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def test_secrets_are_stored_only_as_hashes(stack):
    username, user = new_user(stack)
    _, flow, out = login(stack, username)
    raw = base64.urlsafe_b64decode(out["session"] + "=")
    stored = psql(stack, f"SELECT encode(handle_hash, 'hex') FROM flow.sessions WHERE sid = '{out['sid']}'")
    assert stored == hashlib.sha256(raw).hexdigest()
    raw_flow = base64.urlsafe_b64decode(flow["flow"] + "=")
    count = psql(stack, "SELECT count(*) FROM flow.executions"
                        f" WHERE handle_hash = '\\x{hashlib.sha256(raw_flow).hexdigest()}'::bytea")
    assert count == "1"
    for table in ("users", "sessions", "executions"):
        dump = psql(stack, f"SELECT string_agg(t::text, ' ') FROM flow.{table} t")
        assert out["session"] not in dump and flow["flow"] not in dump and PASSWORD not in dump
    # Argon2id with the configured parameters (OWASP: m=12 MiB, t=3, p=1).
    pw_hash = psql(stack, f"SELECT password_hash FROM flow.users WHERE sub = '{user['sub']}'")
    assert pw_hash.startswith("$argon2id$v=19$m=12288,t=3,p=1$")
