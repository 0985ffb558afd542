"""The audit trail (docs/audit.md): every security event, produced by its
action over real HTTP through the gateway (or the operator's ostiaryctl)
against the real services, read back with `ostiaryctl audit list --json`
and checked member by member: event, actor, subject, client, address,
trace id, outcome, details without secrets. Also: a role other than admin
is refused the audit ops, `audit tail --follow` streams a new event, the
broker's refused calls reach the trail, and each service's janitor deletes
events past OSTIARY_AUDIT_RETENTION_DAYS (checked in the database)."""

import json
import subprocess
import threading
import time

import pytest
import requests

from lockout_util import clear_address_counters, settings  # noqa: F401
from flowweb import inputs
from oidc import (PASSWORD, Browser, auth_params, code_flow, ctl_json, exchange, make_client, make_user, pkce,
                  token_request, unique, wait_until)

ADDRESS = "127.0.0.1"


def audit(stack, *args):
    """`ostiaryctl audit list --json ARGS` as admin: the merged events."""
    r = stack.ctl("audit", "list", "--json", *args)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout)


def of(stack, subject, event=None):
    """The events about subject (of one event when given), oldest first."""
    args = ["--subject", subject] + (["--event", event] if event else [])
    return audit(stack, *args)


def one(stack, subject, event):
    events = of(stack, subject, event)
    assert len(events) == 1, events
    return events[0]


def wait_event(stack, subject, event, timeout=20):
    assert wait_until(lambda: of(stack, subject, event), timeout), f"no {event} event about {subject}"
    return of(stack, subject, event)


def psql(stack, service, sql):
    """One statement as the service's own role; rows as text."""
    conninfo = stack.env.get(f"OSTIARY_DB_{service.upper()}")
    if not conninfo:
        pytest.skip("no conninfo of the service databases")
    cp = subprocess.run(["psql", conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def assert_shape(ev, service, event, outcome, actor=None, subject=None, client_id=None, address=None):
    assert ev["service"] == service and ev["event"] == event and ev["outcome"] == outcome, ev
    assert isinstance(ev["id"], int) and isinstance(ev["details"], dict), ev
    assert len(ev["time"]) == 27 and ev["time"].endswith("Z"), ev
    for name, want in (("actor", actor), ("subject", subject), ("client_id", client_id), ("address", address)):
        if want is not None:
            assert ev[name] == want, (name, ev)


@pytest.fixture
def no_throttle(stack, settings):  # noqa: F811
    clear_address_counters(stack)
    settings.set("address_threshold", 1000000)
    return settings


def login(stack, client, username, password):
    """One login attempt over HTTP: the POST's response."""
    client_id, _, redirect_uri = client
    b = Browser(stack)
    try:
        _, challenge = pkce()
        page = b.login_page(b.authorize(auth_params(client_id, redirect_uri, code_challenge=challenge)))
        return b.submit(page, username=username, password=password)
    finally:
        b.close()


# ---------------------------------------------------------------- sign-in, lockout


def test_logins_succeeded_and_failed_with_reason_address_and_trace(stack, no_throttle):
    client = make_client(stack)
    username, sub = make_user(stack)
    failed = login(stack, client, username, "not the password")
    assert failed.status_code == 200
    succeeded = login(stack, client, username, PASSWORD)
    assert succeeded.status_code in (302, 303)
    ev = one(stack, sub, "login_failed")
    assert_shape(ev, "flow", "login_failed", "failure", actor="user", subject=sub, address=ADDRESS)
    assert ev["details"] == {"method": "password", "reason": "wrong_password"}
    assert ev["trace_id"]
    ev = one(stack, sub, "login_succeeded")
    assert_shape(ev, "flow", "login_succeeded", "success", actor="user", subject=sub, address=ADDRESS)
    assert "not the password" not in json.dumps(audit(stack, "--event", "login_failed"))
    # An unknown user: no subject, and nothing of what was typed.
    typed = unique("nobody")
    login(stack, client, typed, "typed secret")
    last = audit(stack, "--event", "login_failed")[-1]
    assert last["details"]["reason"] == "unknown_user" and last["subject"] is None
    assert typed not in json.dumps(last) and "typed secret" not in json.dumps(last)


def test_a_wrong_second_factor_code_is_a_failed_login(stack, browser, client, no_throttle):
    from flowweb import h1, totp
    from test_totp_login import authorize, code_field, enroll
    username, sub = make_user(stack)
    secret, _ = enroll(stack, browser, client, username)
    _, r = authorize(browser, client, prompt="login")
    r = browser.login(r, username)
    assert h1(r) == "Two-step verification"
    wrong = f"{(int(totp(secret, at=time.time() + 30)) + 7) % 1000000:06d}"
    r = browser.fill(r, **{code_field(r): wrong})
    assert r.status_code == 200
    ev = of(stack, sub, "login_failed")[-1]
    assert_shape(ev, "flow", "login_failed", "failure", actor="user", subject=sub, address=ADDRESS)
    assert ev["details"] == {"method": "code", "reason": "wrong_code"}
    assert wrong not in json.dumps(of(stack, sub))


# ---------------------------------------------------------------- self-service changes, completed logins


def methods_of(stack, sub):
    """The methods of each login_succeeded about sub, oldest first."""
    return [e["details"]["methods"] for e in of(stack, sub, "login_succeeded")]


def test_a_password_login_is_one_login_succeeded_with_its_method(stack, no_throttle):
    client = make_client(stack)
    username, sub = make_user(stack)
    assert login(stack, client, username, PASSWORD).status_code in (302, 303)
    ev = one(stack, sub, "login_succeeded")
    assert_shape(ev, "flow", "login_succeeded", "success", actor="user", subject=sub, address=ADDRESS)
    assert ev["details"] == {"methods": ["password"], "flow": "login"}


def test_totp_enrolment_and_second_factor_logins_are_audited(stack, browser, client, no_throttle):
    from flowweb import h1, totp
    from test_totp_login import authorize, code_field, enroll
    username, sub = make_user(stack)
    secret, codes = enroll(stack, browser, client, username)
    ev = one(stack, sub, "totp_enrolled")
    assert_shape(ev, "flow", "totp_enrolled", "success", actor="user", subject=sub, address=ADDRESS)
    assert ev["details"] == {"flow": "enrollment", "replaced": False}
    assert secret not in json.dumps(ev) and codes[0] not in json.dumps(of(stack, sub))
    # The enrolment's own sign-in was a password.
    assert methods_of(stack, sub) == [["password"]]
    # A login that passes the password and then the code: one event, both.
    _, r = authorize(browser, client, prompt="login")
    r = browser.login(r, username)
    assert h1(r) == "Two-step verification"
    r = browser.fill(r, **{code_field(r): totp(secret, at=time.time() + 30)})
    assert r.status_code == 303, r.text[:500]
    assert methods_of(stack, sub) == [["password"], ["password", "totp"]]
    # A recovery code instead of the code.
    _, r = authorize(browser, client, prompt="login")
    r = browser.login(r, username)
    fields = [n for n, a in inputs(r).items() if a.get("type") != "hidden"]
    r = browser.fill(r, **{"recovery_code" if "recovery_code" in fields else fields[0]: codes[0]})
    assert r.status_code == 303, r.text[:500]
    assert methods_of(stack, sub)[-1] == ["password", "recovery_code"]


def test_registration_and_its_email_code_are_audited(stack, browser):
    from flowweb import code_in, wait_message
    from test_registration import PASSWORD as REG_PASSWORD
    username = unique("reg")
    address = f"{username}@example.org"
    r = browser.fill(browser.start("/register"), username=username, email=address, password=REG_PASSWORD)
    code = code_in(wait_message(stack, address))
    code_name = [n for n, a in inputs(r).items() if a.get("type") != "hidden"][0]
    r = browser.fill(r, **{code_name: code})
    assert r.status_code == 200, r.text[:500]
    sub = ctl_json(stack, "flow.user_get", {"username": username})["user"]["sub"]
    ev = one(stack, sub, "user_registered")
    assert_shape(ev, "flow", "user_registered", "success", actor="user", subject=sub, address=ADDRESS)
    assert ev["details"] == {"username": username, "flow": "registration"}
    ev = one(stack, sub, "email_verified")
    assert ev["details"] == {"method": "code", "flow": "registration"}
    text = json.dumps(of(stack, sub))
    assert REG_PASSWORD not in text and code not in text


def test_a_password_set_by_recovery_is_audited(stack, browser):
    from flowweb import NEW_PASSWORD, code_in, h1, wait_message
    from test_recovery import identify
    username, sub = make_user(stack)
    address = f"{username}@example.org"
    r = identify(browser, address)
    code_name = [n for n, a in inputs(r).items() if a.get("type") != "hidden"][0]
    r = browser.fill(r, **{code_name: code_in(wait_message(stack, address))})
    assert h1(r) == "Choose a new password", r.text[:500]
    assert of(stack, sub, "password_set") == []
    r = browser.fill(r, password=NEW_PASSWORD)
    assert r.status_code == 200
    ev = one(stack, sub, "password_set")
    assert_shape(ev, "flow", "password_set", "success", actor="user", subject=sub, address=ADDRESS)
    assert ev["details"] == {"flow": "recovery"}
    assert NEW_PASSWORD not in json.dumps(of(stack, sub))


def test_an_email_verified_by_its_link_is_audited(stack, client):
    from flowweb import FlowBrowser, password_login
    from test_magic_link import start_verification
    username, sub = make_user(stack, email_verified=False)
    browser, other = FlowBrowser(stack), FlowBrowser(stack)
    try:
        assert password_login(stack, browser, client[0], client[2], username).status_code == 303
        _, link = start_verification(stack, browser, username)
        r = other.fill(other.get(link))
        assert r.status_code == 200, r.text[:500]
    finally:
        browser.close()
        other.close()
    ev = one(stack, sub, "email_verified")
    assert_shape(ev, "flow", "email_verified", "success", subject=sub)
    assert ev["details"] == {"method": "link", "flow": "verify_email"}


@pytest.mark.parametrize("name", ["magic-link-login", "email-code-login"])
def test_a_login_by_link_or_emailed_code_is_one_login_succeeded(stack, client, tmp_path, name):
    from flowweb import CustomLoginFlow, FlowBrowser, code_in, h1, link_in, wait_message
    flow = CustomLoginFlow(stack, tmp_path, name)
    username, sub = make_user(stack)
    browser, other = FlowBrowser(stack), FlowBrowser(stack)
    try:
        _, challenge = pkce()
        page = browser.login_page(browser.authorize(auth_params(client[0], client[2], code_challenge=challenge)))
        r = browser.fill(page, identifier=username)
        assert r.status_code == 200 and h1(r) == "Check your email", r.text[:500]
        mail = wait_message(stack, f"{username}@example.org")
        if name == "magic-link-login":
            assert other.fill(other.get(link_in(mail, stack.base_url))).status_code == 200
            r = browser.fill(browser.get(stack.base_url + "/login"))
        else:
            code_name = [n for n, a in inputs(r).items() if a.get("type") != "hidden"][0]
            r = browser.fill(r, **{code_name: code_in(mail)})
        assert r.status_code == 303 and r.headers["Location"].startswith(client[2]), r.text[:500]
    finally:
        browser.close()
        other.close()
        flow.close()
    ev = one(stack, sub, "login_succeeded")
    assert_shape(ev, "flow", "login_succeeded", "success", actor="user", subject=sub)
    want = "magic_link" if name == "magic-link-login" else "code"
    assert ev["details"] == {"methods": [want], "flow": "login"}


def test_the_trace_id_is_the_trace_of_the_request(stack, no_throttle):
    """The event's trace id is the W3C trace id of the request that caused
    it (docs/observability.md): its traceresponse, and its X-Request-Id when
    the client sent none."""
    client = make_client(stack)
    username, sub = make_user(stack)
    r = login(stack, client, username, PASSWORD)
    trace_id = r.headers["traceresponse"].split("-")[1]
    ev = one(stack, sub, "login_succeeded")
    assert ev["trace_id"] == trace_id == r.headers["X-Request-Id"]


def test_lockout_unlock_and_settings_changes(stack, no_throttle):
    no_throttle.set("lockout_threshold", 2)
    client = make_client(stack)
    username, sub = make_user(stack)
    for _ in range(2):
        login(stack, client, username, "wrong")
    ev = one(stack, sub, "lockout")
    assert_shape(ev, "flow", "lockout", "refused", actor="system", subject=sub, address=ADDRESS)
    assert ev["details"]["threshold"] == 2
    # While locked, even the right password is a failure: reason locked.
    login(stack, client, username, PASSWORD)
    assert of(stack, sub, "login_failed")[-1]["details"]["reason"] == "locked"
    r = stack.ctl("users", "unlock", username)
    assert r.returncode == 0, r.stderr
    ev = one(stack, sub, "unlock")
    assert_shape(ev, "flow", "unlock", "success", actor="admin", subject=sub)
    assert ev["details"]["was_locked"] is True
    changes = audit(stack, "--event", "settings_set", "--subject", "lockout_threshold")
    assert changes and changes[-1]["details"]["value"] == 2 and changes[-1]["actor"] == "admin"


# ---------------------------------------------------------------- consent, codes, refresh, revocation


def test_consent_granted_and_denied(stack, no_throttle):
    client_id, secret, redirect_uri = make_client(stack, first_party=False)
    username, sub = make_user(stack)
    b = Browser(stack)
    try:
        code_flow(stack, b, client_id, redirect_uri, username, consent="allow")
        _, r, params = code_flow(stack, b, client_id, redirect_uri, username, consent="deny", prompt="consent")
        assert params["error"] == "access_denied"
    finally:
        b.close()
    ev = one(stack, sub, "consent_granted")
    assert_shape(ev, "token", "consent_granted", "success", actor="user", subject=sub, client_id=client_id,
                 address=ADDRESS)
    assert "openid" in ev["details"]["scopes"]
    ev = one(stack, sub, "consent_denied")
    assert_shape(ev, "token", "consent_denied", "refused", actor="user", subject=sub, client_id=client_id,
                 address=ADDRESS)
    assert ev["trace_id"]


def test_code_replay_refresh_reuse_and_revocation(stack, no_throttle):
    client_id, secret, redirect_uri = make_client(
        stack, grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "offline_access"])
    username, sub = make_user(stack)
    b = Browser(stack)
    try:
        params, _, got = code_flow(stack, b, client_id, redirect_uri, username,
                                   scope="openid offline_access", prompt="consent")
    finally:
        b.close()
    first = exchange(stack, got["code"], params, client_id, secret)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert exchange(stack, got["code"], params, client_id, secret).json()["error"] == "invalid_grant"
    ev = one(stack, sub, "code_replay")
    assert_shape(ev, "token", "code_replay", "refused", actor="client", subject=sub, client_id=client_id,
                 address=ADDRESS)
    assert got["code"] not in json.dumps(ev)

    # A second family: rotate twice, then present the first token again.
    b = Browser(stack)
    try:
        params, _, got = code_flow(stack, b, client_id, redirect_uri, username,
                                   scope="openid offline_access", prompt="consent")
    finally:
        b.close()
    tokens = exchange(stack, got["code"], params, client_id, secret).json()
    rt = tokens["refresh_token"]
    data = {"grant_type": "refresh_token", "refresh_token": rt}
    rotated = token_request(stack, data, basic=(client_id, secret))
    assert rotated.status_code == 200, rotated.text
    # The successor used: a presentation of rt now is reuse, not a retry
    # within OSTIARY_REFRESH_GRACE.
    again = token_request(stack, {"grant_type": "refresh_token", "refresh_token": rotated.json()["refresh_token"]},
                          basic=(client_id, secret))
    assert again.status_code == 200, again.text
    reused = token_request(stack, data, basic=(client_id, secret))
    assert reused.json()["error"] == "invalid_grant"
    ev = one(stack, sub, "refresh_token_reuse")
    assert_shape(ev, "token", "refresh_token_reuse", "refused", actor="client", subject=sub,
                 client_id=client_id, address=ADDRESS)
    assert isinstance(ev["details"]["family_id"], int) and rt not in json.dumps(ev)

    # RFC 7009 at /revoke, over HTTP.
    b = Browser(stack)
    try:
        params, _, got = code_flow(stack, b, client_id, redirect_uri, username,
                                   scope="openid offline_access", prompt="consent")
    finally:
        b.close()
    tokens = exchange(stack, got["code"], params, client_id, secret).json()
    with requests.Session() as s:
        s.trust_env = False
        r = s.post(stack.base_url + "/revoke", data={"token": tokens["refresh_token"]},
                   auth=(client_id, secret), timeout=10)
    assert r.status_code == 200
    ev = one(stack, sub, "token_revoked")
    assert_shape(ev, "token", "token_revoked", "success", actor="client", subject=sub, client_id=client_id,
                 address=ADDRESS)
    assert ev["details"]["kind"] == "refresh_token"
    assert tokens["refresh_token"] not in json.dumps(audit(stack, "--subject", sub))


# ---------------------------------------------------------------- operators: clients, users, keys


def test_client_user_and_key_changes(stack):
    client_id, secret, _ = make_client(stack)
    assert stack.ctl("clients", "rotate-secret", client_id).returncode == 0
    assert stack.ctl("clients", "remove", client_id).returncode == 0
    events = of(stack, client_id)
    assert [e["event"] for e in events] == ["client_add", "client_rotate_secret", "client_remove"]
    for e in events:
        assert_shape(e, "token", e["event"], "success", actor="admin", subject=client_id, client_id=client_id)
    assert secret not in json.dumps(events)

    username, sub = make_user(stack)
    r = stack.ctl("users", "passwd", username, "--password-stdin", input="a brand new password 42\n")
    assert r.returncode == 0, r.stderr
    assert stack.ctl("users", "disable", username).returncode == 0
    events = of(stack, sub)
    assert [e["event"] for e in events][:3] == ["user_add", "user_passwd", "user_disable"]
    assert events[2]["details"] == {"username": username, "disabled": True}
    assert "a brand new password" not in json.dumps(events)

    before = {e["id"] for e in audit(stack, "--service", "keys")}
    r = stack.ctl("keys", "rotate")
    assert r.returncode == 0, (r.stdout, r.stderr)
    new = [e for e in audit(stack, "--service", "keys") if e["id"] not in before]
    names = [e["event"] for e in new]
    assert "key_rotate" in names and "key_generate" in names, names
    rotate = next(e for e in new if e["event"] == "key_rotate")
    assert rotate["outcome"] == "success" and rotate["actor"] == "local"
    generated = next(e for e in new if e["event"] == "key_generate")
    assert psql(stack, "keys", f"SELECT state FROM keys.signing_keys WHERE kid = '{generated['subject']}'") == "next"



def test_subject_revoked_retry_replayed_and_key_admin_are_read_back(stack):
    """Events otherwise checked in the database, read back here with
    `ostiaryctl audit list --json` like the others."""
    from lifecycle import family, refresh, refresh_client, user
    rc_client = refresh_client(stack)
    # A refresh retried after a lost answer.
    out, sess = family(stack, rc_client)
    assert refresh(stack, rc_client, out["refresh_token"])[0] == 0
    assert refresh(stack, rc_client, out["refresh_token"])[0] == 0
    ev = one(stack, sess["sub"], "refresh_retry_replayed")
    assert_shape(ev, "token", "refresh_retry_replayed", "success", subject=sess["sub"], client_id=rc_client.id)
    assert isinstance(ev["details"]["family_id"], int) and out["refresh_token"] not in json.dumps(ev)
    # A disabled user: every token of theirs revoked.
    u = user(stack)
    family(stack, rc_client, sub=u["sub"])
    assert stack.ctl("users", "disable", u["username"]).returncode == 0
    ev = one(stack, u["sub"], "subject_revoked")
    assert_shape(ev, "token", "subject_revoked", "success", subject=u["sub"])
    assert ev["details"]["families"] == 1 and ev["details"]["tokens"] >= 1, ev
    # An admin socket command that changes nothing.
    before = {e["id"] for e in audit(stack, "--event", "key_admin")}
    r = stack.ctl("keys", "list")
    assert r.returncode == 0, (r.stdout, r.stderr)
    new = [e for e in audit(stack, "--event", "key_admin") if e["id"] not in before]
    assert [e["details"]["command"] for e in new] == ["list"], new
    assert_shape(new[0], "keys", "key_admin", "success", actor="local")
    assert new[0]["details"]["replica"]

# ---------------------------------------------------------------- the bus: refusals and who may read


def test_a_refused_bus_call_is_audited(stack):
    r = stack.ctl_as("flow", "call", "token.client_list", "{}")
    assert r.returncode == 1 and "forbidden" in r.stdout + r.stderr
    ev = wait_event(stack, "token.client_list", "bus_refused")[-1]
    assert_shape(ev, "token", "bus_refused", "refused", subject="token.client_list")
    assert ev["actor"].startswith("flow:") and len(ev["actor"]) == len("flow:") + 16
    assert ev["details"]["count"] >= 1 and ev["details"]["broker"]



def test_refusals_since_the_last_report_are_reported_when_the_gateway_stops(stack):
    """A gateway that stops reports what its broker refused since its last
    report (here: no periodic report in the test's time), after its drain."""
    op = "token.audit_list"
    refused = lambda: [e for e in audit(stack, "--event", "bus_refused", "--subject", op)  # noqa: E731
                       if e["actor"].startswith("keys:")]
    before = sum(e["details"]["count"] for e in refused())
    stack.stop_all("gateway")
    try:
        stack.start("gateway", {"OSTIARY_AUDIT_REFUSALS_INTERVAL": "3600"})
        stack.wait_ready(30)
        for _ in range(2):
            r = stack.ctl_as("keys", "call", op, "{}")
            assert r.returncode == 1 and "forbidden" in r.stdout + r.stderr
        gateway = stack.instances("gateway")[0]
        assert gateway.stop() == 0
    finally:
        stack.ensure("gateway")
        stack.wait_ready(30)
    assert sum(e["details"]["count"] for e in refused()) == before + 2

@pytest.mark.parametrize("role", ["gateway", "flow", "token", "keys"])
def test_only_admin_may_read_the_trail(stack, role):
    r = stack.ctl_as(role, "audit", "list", "--json")
    assert r.returncode == 1 and "forbidden" in r.stderr, (r.stdout, r.stderr)
    for svc in ("flow", "token", "keys"):
        r = stack.ctl_as(role, "call", f"{svc}.audit_list", "{}")
        assert r.returncode == 1 and "forbidden" in r.stdout, (svc, r.stdout, r.stderr)


# ---------------------------------------------------------------- reading: merge, filters, follow


def test_list_merges_every_service_in_time_order_and_filters(stack):
    make_client(stack)
    make_user(stack)
    events = audit(stack)
    assert {"flow", "token", "keys"} <= {e["service"] for e in events}
    keys = [(e["time"], e["service"], e["id"]) for e in events]
    assert keys == sorted(keys)
    assert all(e["event"] == "client_add" for e in audit(stack, "--event", "client_add"))
    assert all(e["service"] == "keys" for e in audit(stack, "--service", "keys"))
    assert audit(stack, "--since", str(int(time.time()) + 3600)) == []
    assert audit(stack, "--until", "2000-01-01T00:00:00Z") == []
    tail = stack.ctl("audit", "tail", "-n", "2", "--json")
    assert tail.returncode == 0 and len(json.loads(tail.stdout)) == 2
    table = stack.ctl("audit", "list", "--event", "client_add")
    assert table.returncode == 0 and table.stdout.startswith("TIME") and "client_add" in table.stdout
    assert stack.ctl("audit", "list", "--event", "no_such_event").returncode == 1  # refused by the services
    assert stack.ctl("audit", "list", "--since", "yesterday").returncode == 2
    assert stack.ctl("audit", "nope").returncode == 2


def test_tail_follow_streams_a_new_event_as_a_json_line(stack):
    proc = subprocess.Popen([stack.bin("ostiaryctl"), "audit", "tail", "-n", "1", "--follow"], env=stack.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        # The newest event comes first, then what happens next.
        assert wait_until(lambda: len(lines) >= 1, 15), proc.stderr
        client_id, _, _ = make_client(stack)
        assert wait_until(lambda: any(client_id in line for line in lines), 15), lines
        ev = json.loads(next(line for line in lines if client_id in line))
        assert_shape(ev, "token", "client_add", "success", subject=client_id)
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


# ---------------------------------------------------------------- retention


def test_janitors_delete_events_past_the_retention(stack):
    old = "now() - interval '40 days'"
    marker = unique("retention")
    for svc in ("flow", "token", "keys"):
        psql(stack, svc, f"INSERT INTO {svc}.audit_events (at, event, subject, outcome, details) VALUES"
                         f" ({old}, 'settings_set', '{marker}', 'success', '{{}}'),"
                         f" ({old}, 'settings_set', '{marker}', 'success', '{{}}'),"
                         f" ({old}, 'settings_set', '{marker}', 'success', '{{}}'),"
                         f" (now(), 'settings_set', '{marker}-recent', 'success', '{{}}')")
    env = {"OSTIARY_JANITOR_INTERVAL": "1", "OSTIARY_JANITOR_BATCH": "2", "OSTIARY_AUDIT_RETENTION_DAYS": "30"}
    replicas = [stack.start(name, env) for name in ("token-svc", "flow-svc", "keys-svc")]
    try:
        for svc in ("flow", "token", "keys"):
            assert wait_until(lambda: psql(stack, svc, f"SELECT count(*) FROM {svc}.audit_events"
                                                       f" WHERE subject = '{marker}'") == "0", 20), svc
            assert psql(stack, svc, f"SELECT count(*) FROM {svc}.audit_events"
                                    f" WHERE subject = '{marker}-recent'") == "1"
    finally:
        for r in replicas:
            r.stop()


# ---------------------------------------------------------------- the migrations keep what was written


OLD_ROWS = """
INSERT INTO flow.audit_events (kind, sub, client_ip, detail) VALUES
  ('lockout', 'u1', '10.0.0.1', '{"failures": 5}'),
  ('settings_set', NULL, NULL, '{"name": "lockout_seconds", "value": 60}');
INSERT INTO token.audit_events (event, client_id, sub, family_id, client_ip) VALUES
  ('refresh_token_reuse', 'rp', 'u1', 42, '10.0.0.2');
INSERT INTO keys.audit (replica, peer, command, args, outcome, code, detail) VALUES
  ('h:1', 'local', 'rewrap', '{"kek": "(given)"}', 'ok', NULL, ''),
  ('h:1', 'local', 'retire', '{"kid": "k1"}', 'error', 'not_found', 'no such key');
"""


def test_the_migrations_keep_the_events_of_the_three_old_tables(stack):
    """Each service's audit migration turns its old table into the one shape
    with its rows: applied in a scratch database after the migrations before
    it and rows in the old shapes."""
    import os
    import shutil
    from conftest import REPO
    admin = getattr(stack, "pg_admin", None) or os.environ.get("OSTIARY_PG_ADMIN")
    if not admin or not shutil.which("psql"):
        pytest.skip("no superuser conninfo of the cluster")
    name = "audit_mig_" + unique("db").split("-")[1]

    def sql(conninfo, text):
        cp = subprocess.run(["psql", conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1"], input=text,
                            capture_output=True, text=True, timeout=60)
        assert cp.returncode == 0, cp.stderr
        return cp.stdout.strip()

    sql(admin, f"CREATE DATABASE {name}")
    db = " ".join(f"dbname={name}" if p.startswith("dbname=") else p for p in admin.split())
    new = {"flow": "008_audit_shape.sql", "token": "008_audit_shape.sql", "keys": "003_audit_shape.sql"}
    try:
        for svc in ("flow", "token", "keys"):
            sql(db, f"CREATE SCHEMA {svc}")
            for f in sorted((REPO / "migrations" / svc).glob("*.sql")):
                if f.name < new[svc]:
                    sql(db, f"SET search_path TO {svc};\n" + f.read_text())
        sql(db, OLD_ROWS)
        for svc in ("flow", "token", "keys"):
            sql(db, f"SET search_path TO {svc};\n" + (REPO / "migrations" / svc / new[svc]).read_text())
        rows = {svc: sql(db, "SELECT json_agg(json_build_object('event', event, 'actor', actor, 'subject', subject,"
                             " 'client_id', client_id, 'address', address, 'outcome', outcome, 'details', details)"
                             f" ORDER BY id) FROM {svc}.audit_events") for svc in ("flow", "token", "keys")}
    finally:
        sql(admin, f"DROP DATABASE IF EXISTS {name}")
    flow, token, keys = (json.loads(rows[s]) for s in ("flow", "token", "keys"))
    assert flow == [
        {"event": "lockout", "actor": "system", "subject": "u1", "client_id": None, "address": "10.0.0.1",
         "outcome": "refused", "details": {"failures": 5}},
        {"event": "settings_set", "actor": "admin", "subject": "lockout_seconds", "client_id": None,
         "address": None, "outcome": "success", "details": {"name": "lockout_seconds", "value": 60}}]
    assert token == [
        {"event": "refresh_token_reuse", "actor": "client", "subject": "u1", "client_id": "rp",
         "address": "10.0.0.2", "outcome": "refused", "details": {"family_id": 42}}]
    assert keys == [
        {"event": "key_rewrap", "actor": "local", "subject": None, "client_id": None, "address": None,
         "outcome": "success", "details": {"command": "rewrap", "args": {}, "replica": "h:1"}},
        {"event": "key_retire", "actor": "local", "subject": "k1", "client_id": None, "address": None,
         "outcome": "failure", "details": {"command": "retire", "args": {"kid": "k1"}, "replica": "h:1",
                                           "error": "not_found", "description": "no such key"}}]
