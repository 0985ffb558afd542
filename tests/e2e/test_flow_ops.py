"""flow-svc over the bus, where processes matter: a login flow started before
a flow-svc restart completes after it (the execution is persisted, the new
worker registers with the broker).

Each op's own answers and refusals (users, sessions, claims, flow.start,
flow.get, flow.submit, bodies outside proto/ops.def), what the rows keep, two
submissions of one execution at once, the time an unknown user costs and the
upgrade of old Argon2id parameters are tested in-process in
tests/svc/test_flow_ops.c and tests/svc/test_flow_exec.c. Every call here goes
through `ostiaryctl call OP JSON`."""

import random
import time
import uuid

from oidc import call, ok

PASSWORD = "correct horse battery staple"
# The client address of this module's logins (198.18.0.0/15, RFC 2544:
# benchmarking), away from the lockout counters of the others' 127.0.0.1.
CLIENT_IP = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"


def new_user(stack, password=PASSWORD):
    username = "u" + uuid.uuid4().hex[:12]
    user = ok(stack, "flow.user_add", {"username": username, "password": password})["user"]
    return username, user


def start(stack):
    """flow.start of the login flow (OSTIARY_LOGIN_FLOW) for a new
    authorization request → (request_id, state with the flow handle)."""
    body = {"request_id": "req-" + uuid.uuid4().hex, "purpose": "login", "client_ip": CLIENT_IP}
    return body["request_id"], ok(stack, "flow.start", body)


def submit(stack, flow, username, password):
    """flow.submit of the password step → (exit code, state or error)."""
    body = {"flow": flow["flow"], "csrf": flow["csrf"], "node": "password",
            "input": {"username": username, "password": password}, "client_ip": CLIENT_IP}
    return call(stack, "flow.submit", body)


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
