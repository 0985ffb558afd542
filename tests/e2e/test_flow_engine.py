"""The flow engine of flow-svc over the bus (docs/flows.md; proto/ops.md,
"flow — the flow engine"): every node type through flow.start,
flow.get, flow.submit, flow.action_get and flow.action; action tokens
(replayed, expired, wrong purpose, wrong node, racing); resume after a
restart of flow-svc at each pause point (email code, magic link, webhook).

The module runs its own flow-svc: the shipped flows/ plus the test flows of
tests/flows/engine/, and hooks that point at a local receiver
(scripts/webhook_receiver.py). Emails are read from the stack's SMTP sink."""

import base64
import hashlib
import hmac
import json
import shutil
import struct
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import mail
from oidc import call, ok, refused
from oidc import psql_flow as psql

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from webhook_receiver import Receiver  # noqa: E402

PASSWORD = "correct horse battery staple"
HOOK_SECRET = "test-hook-secret-0123456789"
CODE_ATTEMPTS = 5


# ---------------------------------------------------------------- bus helpers


def new_user(stack, password=PASSWORD, email=True, **claims):
    username = "e" + uuid.uuid4().hex[:12]
    body = {"username": username, **claims}
    if email:
        body["email"] = f"{username}@example.org"
    if password is not None:
        body["password"] = password
    return username, ok(stack, "flow.user_add", body)["user"]


def start(stack, flow, **extra):
    body = {"flow": flow, "client_ip": "127.0.0.1", **extra}
    return ok(stack, "flow.start", body)


def start_login(stack, flow="login", **extra):
    return start(stack, flow, request_id="req-" + uuid.uuid4().hex, purpose="login", **extra)


def submit(stack, state, handle=None, **inputs):
    body = {"flow": handle or state["flow"], "csrf": state["csrf"], "node": state["node"],
            "input": inputs, "client_ip": "127.0.0.1"}
    return call(stack, "flow.submit", body)


def step(stack, state, handle=None, **inputs):
    """A submission that must be answered with a state; the handle carries on."""
    rc, out = submit(stack, state, handle, **inputs)
    assert rc == 0, out
    out["flow"] = handle or state["flow"]
    return out


def signed_in(stack, username):
    """A live SSO session handle of username (through the login flow)."""
    state = start_login(stack)
    out = step(stack, state, username=username, password=PASSWORD)
    assert out["status"] == "succeeded", out
    return out["result"]["session"]


def totp(secret_b32, at=None, digits=6):
    """RFC 6238 TOTP (HMAC-SHA-1, 30 s) of a base32 secret."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((at or time.time()) // 30)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10 ** digits
    return str(value).zfill(digits)


def email_code(stack, address, count=1):
    msgs = mail.wait_for(stack.mail_dir, to=address, count=count)
    assert len(msgs) >= count, f"no email to {address}"
    return mail.code(msgs[count - 1])


def email_token(stack, address, count=1):
    msgs = mail.wait_for(stack.mail_dir, to=address, count=count)
    assert len(msgs) >= count, f"no email to {address}"
    links = [u for u in mail.links(msgs[count - 1]) if "token=" in u]
    assert links, mail.text(msgs[count - 1])
    return links[0].split("token=", 1)[1]


# ---------------------------------------------------------------- the module's flow-svc


class Engine:
    def __init__(self, stack, folder, receiver):
        self.stack = stack
        self.receiver = receiver
        self.env = {"OSTIARY_FLOWS_DIR": str(folder / "flows"),
                    "OSTIARY_WEBHOOKS_FILE": str(folder / "webhooks.json"),
                    "OSTIARY_OUTBOX_POLL_MS": "50"}

    def restart(self, kill=True):
        """Ends every flow-svc (SIGKILL: a crash) and starts one again."""
        for inst in self.stack.instances("flow"):
            inst.kill() if kill else inst.terminate()
            inst.wait(10)
        self.stack.start("flow", self.env)
        deadline = time.monotonic() + 15
        while call(self.stack, "flow.health", {})[0] != 0:
            assert time.monotonic() < deadline, self.stack.log_tails()
            time.sleep(0.1)


@pytest.fixture(scope="module")
def engine(stack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine")
    (folder / "flows").mkdir()
    for src in (REPO / "flows").glob("*.json"):
        shutil.copy(src, folder / "flows")
    for src in (REPO / "tests" / "flows" / "engine").glob("*.json"):
        shutil.copy(src, folder / "flows")
    receiver = Receiver(HOOK_SECRET).start()
    hooks = {"hooks": {
        "sync_answer": {"url": receiver.url("/sync"), "secret": HOOK_SECRET, "mode": "sync",
                        "timeout_ms": 2000, "retries": 0},
        "sync_down": {"url": receiver.url("/status/500"), "secret": HOOK_SECRET, "mode": "sync",
                      "timeout_ms": 2000, "retries": 0},
        "async_approve": {"url": receiver.url("/async"), "secret": HOOK_SECRET, "mode": "async",
                          "timeout_ms": 2000, "retries": 2},
    }}
    (folder / "webhooks.json").write_text(json.dumps(hooks))
    eng = Engine(stack, folder, receiver)
    eng.restart(kill=False)
    yield eng
    receiver.stop()
    stack.stop_all("flow")
    stack.ensure("flow")
    stack.wait_ready()


@pytest.fixture(autouse=True)
def _engine_alive(engine):
    # The autouse fixture of conftest restarts a default flow-svc after a
    # test that stopped ours; make sure the module's own one is the one.
    if not engine.stack.instances("flow"):
        engine.restart()
    yield


# ---------------------------------------------------------------- start, get, submit


def test_start_returns_state_with_flow_handle_and_first_step(engine):
    stack = engine.stack
    state = start_login(stack, login_hint="alice")
    assert len(state["flow"]) == 43 and len(state["csrf"]) == 43
    assert state["flow_name"] == "login" and state["kind"] == "login" and state["version"] == 1
    assert state["status"] == "running" and state["node"] == "password"
    assert state["step"]["type"] == "password"
    assert state["step"]["fields"] == ["username", "password"]
    assert state["step"]["error"] is None and state["step"]["attempts_left"] == 5
    assert state["login_hint"] == "alice" and state["purpose"] == "login"
    assert state["session"] is None and "result" not in state
    again = ok(stack, "flow.get", {"flow": state["flow"]})
    assert again["step"] == state["step"] and "flow" not in again


def test_start_refuses_unknown_flow_and_misplaced_request_id(engine):
    stack = engine.stack
    assert refused(stack, "flow.start", {"flow": "no-such-flow"}) == "invalid_request"
    assert refused(stack, "flow.start", {"flow": "login"}) == "invalid_request"
    assert refused(stack, "flow.start", {"flow": "recovery", "request_id": "r1"}) == "invalid_request"
    assert refused(stack, "flow.start", {"flow": "verify-email"}) == "login_required"
    assert refused(stack, "flow.start", {"flow": "totp-enrollment", "session": "x" * 43}) == "login_required"


def test_password_node_success_issues_session_with_pwd(engine):
    stack = engine.stack
    username, user = new_user(stack)
    state = start_login(stack)
    out = step(stack, state, username=username.upper(), password=PASSWORD)
    assert out["status"] == "succeeded" and out["step"]["type"] == "done"
    result = out["result"]
    assert result["sub"] == user["sub"] and result["amr"] == ["pwd"]
    session = ok(stack, "flow.session_get", {"session": result["session"]})["session"]
    assert session["sid"] == result["sid"]
    # The handle is returned once: a reload shows the session, not the handle.
    again = ok(stack, "flow.get", {"flow": state["flow"]})
    assert "result" not in again and again["session"]["sid"] == result["sid"]
    # A finished execution takes no more submissions.
    assert submit(stack, state, username=username, password=PASSWORD)[1]["error"] == "invalid_flow"


def test_password_node_wrong_is_login_failed_then_failure(engine):
    stack = engine.stack
    username, _ = new_user(stack)
    state = start_login(stack)
    for i in range(4):
        out = step(stack, state, username=username, password="wrong password")
        assert out["status"] == "running" and out["step"]["error"] == "login_failed"
        assert out["step"]["attempts_left"] == 5 - (i + 1)
    out = step(stack, state, username=username, password="wrong password")
    assert out["status"] == "failed" and out["node"] == "failed" and out["step"]["type"] == "failed"


def test_submit_refuses_stale_node_wrong_csrf_and_unknown_flow(engine):
    stack = engine.stack
    state = start_login(stack)
    stale = dict(state, node="totp")
    assert submit(stack, stale, username="x", password="y")[1]["error"] == "invalid_flow"
    assert submit(stack, dict(state, csrf="y" * 43), username="x", password="y")[1]["error"] == "invalid_flow"
    assert submit(stack, state, handle="z" * 43, username="x", password="y")[1]["error"] == "invalid_flow"
    assert refused(stack, "flow.get", {"flow": "z" * 43}) == "invalid_flow"
    rc, out = call(stack, "flow.submit", {"flow": state["flow"], "csrf": state["csrf"], "node": "password",
                                          "input": {"username": 5}})
    assert out["error"] == "invalid_request"


# ---------------------------------------------------------------- totp


def enroll_totp(stack, username):
    """Enrolls TOTP for username; returns (secret, recovery codes)."""
    session = signed_in(stack, username)
    state = start(stack, "totp-enrollment", session=session)
    assert state["kind"] == "enrollment" and state["step"]["type"] == "totp_enroll"
    data = state["step"]["data"]
    assert data["otpauth_uri"].startswith("otpauth://totp/") and f"secret={data['secret']}" in data["otpauth_uri"]
    # A reload shows the same secret (re-derived from the sealed context).
    again = ok(stack, "flow.get", {"flow": state["flow"]})
    assert again["step"]["data"]["secret"] == data["secret"]
    wrong = step(stack, state, code="000000" if totp(data["secret"]) != "000000" else "111111")
    assert wrong["step"]["error"] == "invalid_code" and wrong["step"]["data"]["secret"] == data["secret"]
    shown = step(stack, state, code=totp(data["secret"]))
    assert shown["status"] == "running" and shown["step"]["type"] == "recovery_codes"
    codes = shown["step"]["data"]["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    # The codes are shown once: a reload says they were shown.
    reload = ok(stack, "flow.get", {"flow": state["flow"]})
    assert reload["step"]["data"] == {"shown": True}
    done = step(stack, reload, handle=state["flow"])
    assert done["status"] == "succeeded"
    stored = psql(stack, f"SELECT secret_sealed FROM flow.user_totp t JOIN flow.users u USING (sub)"
                         f" WHERE u.username = '{username}'")
    assert stored and data["secret"] not in stored
    return data["secret"], codes


def test_totp_enrollment_then_login_asks_totp_and_amr_is_mfa(engine):
    stack = engine.stack
    username, _ = new_user(stack)
    secret, codes = enroll_totp(stack, username)
    # The enrollment used the current step's code: the next step's is
    # still within the window of RFC 6238 §5.2 (one step of drift).
    code = totp(secret, at=time.time() + 30)
    state = start_login(stack)
    out = step(stack, state, username=username, password=PASSWORD)
    assert out["status"] == "running" and out["node"] == "totp" and out["step"]["type"] == "totp"
    out = step(stack, out, handle=state["flow"], code=code)
    assert out["status"] == "succeeded"
    assert out["result"]["amr"] == ["pwd", "otp", "mfa"]
    # RFC 6238 §5.2: the same code is not accepted twice.
    state = start_login(stack)
    out = step(stack, state, username=username, password=PASSWORD)
    out = step(stack, out, handle=state["flow"], code=code)
    assert out["step"]["error"] == "invalid_code"
    # A recovery code works once.
    out = step(stack, out, handle=state["flow"], code=codes[0].upper())
    assert out["status"] == "succeeded"
    state = start_login(stack)
    out = step(stack, state, username=username, password=PASSWORD)
    out = step(stack, out, handle=state["flow"], code=codes[0])
    assert out["step"]["error"] == "invalid_code"


def test_totp_fifth_wrong_code_fails_the_execution(engine):
    stack = engine.stack
    username, _ = new_user(stack)
    secret, _ = enroll_totp(stack, username)
    state = start_login(stack)
    out = step(stack, state, username=username, password=PASSWORD)
    bad = "123456" if totp(secret) != "123456" else "654321"
    for i in range(CODE_ATTEMPTS - 1):
        out = step(stack, out, handle=state["flow"], code=bad)
        assert out["step"]["error"] == "invalid_code" and out["step"]["attempts_left"] == CODE_ATTEMPTS - 1 - i
    out = step(stack, out, handle=state["flow"], code=bad)
    assert out["status"] == "failed"


# ---------------------------------------------------------------- register + email_code


def register(stack, username=None):
    username = username or "r" + uuid.uuid4().hex[:12]
    address = f"{username}@example.org"
    state = start(stack, "registration")
    assert state["step"]["type"] == "register"
    out = step(stack, state, username=username, email=address, password=PASSWORD, password_confirm=PASSWORD)
    assert out["node"] == "verify" and out["step"]["type"] == "email_code", out
    assert out["step"]["data"]["email_hint"] == f"{username[0]}***@example.org"
    return username, address, state, out


def test_register_refuses_bad_fields_with_field_errors(engine):
    stack = engine.stack
    taken, _ = new_user(stack)
    state = start(stack, "registration")
    out = step(stack, state, username="-bad", email="nope", password="short", password_confirm="short")
    assert out["step"]["field_errors"] == {"username": "invalid", "email": "invalid", "password": "weak_password"}
    out = step(stack, state, username="fine" + uuid.uuid4().hex[:6], email="a@example.org", password=PASSWORD,
               password_confirm=PASSWORD + "x")
    assert out["step"]["field_errors"] == {"password_confirm": "mismatch"}
    out = step(stack, state, username=taken, email="a@example.org", password=PASSWORD, password_confirm=PASSWORD)
    assert out["step"]["field_errors"] == {"username": "taken"} and out["node"] == "register"


def test_registration_verifies_the_address_with_an_email_code(engine):
    stack = engine.stack
    username, address, state, out = register(stack)
    user = ok(stack, "flow.user_get", {"username": username})["user"]
    assert user["email_verified"] is False
    code = email_code(stack, address)
    assert code and len(code) == 6
    wrong = "000000" if code != "000000" else "111111"
    out = step(stack, out, handle=state["flow"], code=wrong)
    assert out["step"]["error"] == "invalid_code" and out["step"]["attempts_left"] == CODE_ATTEMPTS - 1
    out = step(stack, out, handle=state["flow"], code=code)
    assert out["status"] == "succeeded" and "result" not in out
    assert ok(stack, "flow.user_get", {"username": username})["user"]["email_verified"] is True
    # The code is stored only as a keyed hash, and not after use.
    dump = psql(stack, "SELECT string_agg(context::text, ' ') FROM flow.executions")
    assert code not in dump


def test_email_code_fifth_wrong_code_fails_the_execution(engine):
    stack = engine.stack
    _, address, state, out = register(stack)
    code = email_code(stack, address)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(CODE_ATTEMPTS - 1):
        out = step(stack, out, handle=state["flow"], code=wrong)
        assert out["status"] == "running"
    out = step(stack, out, handle=state["flow"], code=wrong)
    assert out["status"] == "failed"
    # The right code is too late now.
    assert submit(stack, dict(out, node="verify"), handle=state["flow"], code=code)[1]["error"] == "invalid_flow"


def test_email_code_step_resumes_after_flow_svc_restart(engine):
    stack = engine.stack
    _, address, state, out = register(stack)
    code = email_code(stack, address)
    engine.restart()
    out = step(stack, ok(stack, "flow.get", {"flow": state["flow"]}), handle=state["flow"], code=code)
    assert out["status"] == "succeeded"


# ---------------------------------------------------------------- recovery: identify, set_password


def test_recovery_sets_a_new_password_and_revokes_sessions(engine):
    stack = engine.stack
    username, user = new_user(stack)
    session = signed_in(stack, username)
    state = start(stack, "recovery")
    assert state["step"]["type"] == "identify"
    out = step(stack, state, identifier=f"{username}@EXAMPLE.org")
    assert out["step"]["type"] == "email_code"
    code = email_code(stack, f"{username}@example.org")
    out = step(stack, out, handle=state["flow"], code=code)
    assert out["step"]["type"] == "set_password" and out["step"]["fields"] == ["password", "password_confirm"]
    out = step(stack, out, handle=state["flow"], password="short", password_confirm="short")
    assert out["step"]["error"] == "weak_password"
    new = "a brand new passphrase"
    out = step(stack, out, handle=state["flow"], password=new, password_confirm=new)
    assert out["status"] == "succeeded"
    assert ok(stack, "flow.session_get", {"session": session})["session"] is None
    state = start_login(stack)
    assert step(stack, state, username=username, password=new)["status"] == "succeeded"


def test_recovery_of_an_unknown_address_looks_like_a_known_one(engine):
    stack = engine.stack
    username, _ = new_user(stack)
    known = start(stack, "recovery")
    unknown = start(stack, "recovery")
    a = step(stack, known, identifier=f"{username}@example.org")
    b = step(stack, unknown, identifier="nobody-" + uuid.uuid4().hex[:8] + "@example.org")
    strip = lambda s: {k: v for k, v in s.items() if k not in ("csrf", "expires_at", "flow", "session")}
    sa, sb = strip(a), strip(b)
    sa["step"]["data"].pop("email_hint")
    sb["step"]["data"].pop("email_hint")
    assert sa == sb
    # Its code never matches, whatever is typed.
    for _ in range(CODE_ATTEMPTS - 1):
        out = step(stack, b, handle=unknown["flow"], code="123456")
        assert out["step"]["error"] == "invalid_code"


# ---------------------------------------------------------------- magic link (verify-email)


def test_magic_link_get_does_not_consume_and_post_verifies_the_address(engine):
    stack = engine.stack
    username, _ = new_user(stack)
    address = f"{username}@example.org"
    state = start(stack, "verify-email", session=signed_in(stack, username))
    assert state["status"] == "waiting" and state["step"]["type"] == "magic_link_sent"
    assert state["step"]["data"]["email_hint"] == f"{username[0]}***@example.org"
    token = email_token(stack, address)
    for _ in range(2):  # a mail scanner's GET, then the user's
        info = ok(stack, "flow.action_get", {"token": token, "purpose": "magic_link"})
        assert info["flow_name"] == "verify-email" and info["kind"] == "verify_email"
    out = ok(stack, "flow.action", {"token": token, "purpose": "magic_link", "client_ip": "127.0.0.1"})
    assert out == {"flow_name": "verify-email", "kind": "verify_email", "status": "succeeded", "node": "done"}
    assert ok(stack, "flow.user_get", {"username": username})["user"]["email_verified"] is True
    # Used: replay, GET and wrong purpose are all invalid_action.
    assert refused(stack, "flow.action", {"token": token, "purpose": "magic_link"}) == "invalid_action"
    assert refused(stack, "flow.action_get", {"token": token, "purpose": "magic_link"}) == "invalid_action"


def test_action_token_wrong_purpose_unknown_and_malformed_are_refused(engine):
    stack = engine.stack
    username, _ = new_user(stack)
    start(stack, "verify-email", session=signed_in(stack, username))
    token = email_token(stack, f"{username}@example.org")
    assert refused(stack, "flow.action", {"token": token, "purpose": "webhook_callback",
                                          "outcome": "success"}) == "invalid_action"
    assert refused(stack, "flow.action", {"token": "A" * 43, "purpose": "magic_link"}) == "invalid_action"
    assert refused(stack, "flow.action", {"token": "short", "purpose": "magic_link"}) == "invalid_action"
    assert refused(stack, "flow.action", {"token": token, "purpose": "other"}) == "invalid_request"
    # The refusals changed nothing: the link still works.
    assert ok(stack, "flow.action", {"token": token, "purpose": "magic_link"})["status"] == "succeeded"


def test_expired_action_token_is_refused(engine):
    stack = engine.stack
    username, _ = new_user(stack)
    state = start(stack, "verify-email", session=signed_in(stack, username))
    token = email_token(stack, f"{username}@example.org")
    psql(stack, "UPDATE flow.action_tokens SET expires_at = now() - interval '1 second'"
                " WHERE used_at IS NULL AND execution_id = (SELECT max(id) FROM flow.executions"
                f" WHERE flow_name = 'verify-email' AND context->>'username' = '{username}')")
    assert refused(stack, "flow.action_get", {"token": token, "purpose": "magic_link"}) == "invalid_action"
    assert refused(stack, "flow.action", {"token": token, "purpose": "magic_link"}) == "invalid_action"
    assert ok(stack, "flow.get", {"flow": state["flow"]})["status"] == "waiting"


def test_action_token_of_an_execution_that_moved_on_is_refused_and_not_consumed(engine):
    stack = engine.stack
    username, _ = new_user(stack)
    state = start(stack, "verify-email", session=signed_in(stack, username))
    token = email_token(stack, f"{username}@example.org")
    exec_id = psql(stack, "SELECT max(id) FROM flow.executions WHERE flow_name = 'verify-email'"
                          f" AND context->>'username' = '{username}'")
    psql(stack, f"UPDATE flow.executions SET node = 'has_email' WHERE id = {exec_id}")
    assert refused(stack, "flow.action", {"token": token, "purpose": "magic_link"}) == "invalid_action"
    assert psql(stack, f"SELECT count(*) FROM flow.action_tokens WHERE execution_id = {exec_id}"
                       " AND used_at IS NULL") == "1"
    psql(stack, f"UPDATE flow.executions SET node = 'link' WHERE id = {exec_id}")
    assert ok(stack, "flow.action", {"token": token, "purpose": "magic_link"})["status"] == "succeeded"
    assert ok(stack, "flow.get", {"flow": state["flow"]})["status"] == "succeeded"


def test_two_racing_action_calls_succeed_exactly_once(engine):
    stack = engine.stack
    username, _ = new_user(stack)
    start(stack, "verify-email", session=signed_in(stack, username))
    token = email_token(stack, f"{username}@example.org")
    results = []
    barrier = threading.Barrier(4)

    def run():
        barrier.wait()
        results.append(call(stack, "flow.action", {"token": token, "purpose": "magic_link"}))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 1, 1, 1], results
    assert all(out["error"] == "invalid_action" for rc, out in results if rc == 1)


def test_magic_link_resumes_after_flow_svc_restart(engine):
    stack = engine.stack
    username, _ = new_user(stack)
    state = start(stack, "verify-email", session=signed_in(stack, username))
    token = email_token(stack, f"{username}@example.org")
    engine.restart()
    assert ok(stack, "flow.action_get", {"token": token, "purpose": "magic_link"})["kind"] == "verify_email"
    assert ok(stack, "flow.action", {"token": token, "purpose": "magic_link"})["status"] == "succeeded"
    assert ok(stack, "flow.get", {"flow": state["flow"]})["status"] == "succeeded"


def test_magic_link_login_gives_the_session_to_the_flow_handle_holder_once(engine):
    stack = engine.stack
    username, user = new_user(stack)
    state = start_login(stack, flow="magic-link-login")
    out = step(stack, state, identifier=username)
    assert out["status"] == "waiting" and out["step"]["type"] == "magic_link_sent"
    token = email_token(stack, f"{username}@example.org")
    done = ok(stack, "flow.action", {"token": token, "purpose": "magic_link"})
    assert done["status"] == "succeeded" and "session" not in done and "csrf" not in done
    # The browser that holds the flow handle collects the session, once.
    got = ok(stack, "flow.get", {"flow": state["flow"]})
    assert got["status"] == "succeeded" and "result" not in got
    out = step(stack, got, handle=state["flow"])
    assert out["result"]["sub"] == user["sub"] and out["result"]["amr"] == ["otp"]
    assert submit(stack, got, handle=state["flow"])[1]["error"] == "invalid_flow"


# ---------------------------------------------------------------- webhooks, condition


def test_sync_webhook_answer_picks_the_outcome(engine):
    stack = engine.stack
    engine.receiver.answer = {"outcome": "success", "data": {"tier": "gold"}}
    state = start(stack, "webhook-sync")
    assert state["status"] == "succeeded"
    hit = engine.receiver.hits("/sync")[-1]
    assert hit["signature_ok"] and hit["json"]["flow_name"] == "webhook-sync"
    assert "csrf" not in hit["body"] and state["csrf"] not in hit["body"]
    engine.receiver.answer = {"outcome": "failure"}
    assert start(stack, "webhook-sync")["status"] == "failed"
    engine.receiver.answer = {"outcome": "success"}


def test_sync_webhook_that_fails_takes_the_failure_edge(engine):
    assert start(engine.stack, "webhook-sync-down")["status"] == "failed"


def async_until_wait(engine):
    stack = engine.stack
    username, _ = new_user(stack)
    state = start_login(stack, flow="webhook-async")
    before = len(engine.receiver.hits("/async"))
    out = step(stack, state, username=username, password=PASSWORD)
    assert out["status"] == "waiting" and out["step"]["type"] == "webhook_wait"
    hits = engine.receiver.wait_for("/async", before + 1)
    assert len(hits) > before
    hit = hits[-1]
    assert hit["signature_ok"] and hit["json"]["username"] == username
    return state, out, hit["json"]["callback"]["token"]


def test_async_webhook_waits_for_the_callback_outcome(engine):
    stack = engine.stack
    state, out, token = async_until_wait(engine)
    # Only webhook_callback tokens resume it; magic_link is the wrong purpose.
    assert refused(stack, "flow.action", {"token": token, "purpose": "magic_link"}) == "invalid_action"
    assert refused(stack, "flow.action", {"token": token, "purpose": "webhook_callback"}) == "invalid_request"
    out = ok(stack, "flow.action", {"token": token, "purpose": "webhook_callback", "outcome": "success",
                                    "data": {"approved_by": "ops"}})
    assert out["status"] == "succeeded" and out["node"] == "done"
    got = ok(stack, "flow.get", {"flow": state["flow"]})
    result = step(stack, got, handle=state["flow"])["result"]
    assert result["amr"] == ["pwd"]
    assert refused(stack, "flow.action", {"token": token, "purpose": "webhook_callback",
                                          "outcome": "success"}) == "invalid_action"


def test_async_webhook_callback_failure_fails_the_execution(engine):
    state, _, token = async_until_wait(engine)
    out = ok(engine.stack, "flow.action", {"token": token, "purpose": "webhook_callback", "outcome": "failure"})
    assert out["status"] == "failed"


def test_async_webhook_wait_resumes_after_flow_svc_restart(engine):
    stack = engine.stack
    state, _, token = async_until_wait(engine)
    engine.restart()
    out = ok(stack, "flow.action", {"token": token, "purpose": "webhook_callback", "outcome": "success"})
    assert out["status"] == "succeeded"
    got = ok(stack, "flow.get", {"flow": state["flow"]})
    assert "session" in step(stack, got, handle=state["flow"])["result"]


def test_condition_node_branches_on_user_attributes(engine):
    stack = engine.stack
    # login's has_totp condition: no TOTP → straight to done.
    username, _ = new_user(stack)
    state = start_login(stack)
    assert step(stack, state, username=username, password=PASSWORD)["node"] == "done"
    # verify-email's has_email condition: no address → failed at once.
    other, _ = new_user(stack, email=False)
    assert start(stack, "verify-email", session=signed_in(stack, other))["status"] == "failed"


def test_async_webhook_callback_through_the_gateway_resumes_the_execution(engine):
    import requests
    stack = engine.stack
    state, _, token = async_until_wait(engine)
    hit = engine.receiver.hits("/async")[-1]
    url = hit["json"]["callback"]["url"]
    assert url == stack.base_url + "/flows/callback"
    with requests.Session() as http:
        http.trust_env = False
        r = http.post(url, json={"outcome": "success"}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "succeeded"
        again = http.post(url, json={"outcome": "success"}, headers={"Authorization": f"Bearer {token}"},
                          timeout=10)
        assert again.status_code == 400 and again.json()["error"] == "invalid_action"
    assert ok(stack, "flow.get", {"flow": state["flow"]})["status"] == "succeeded"
