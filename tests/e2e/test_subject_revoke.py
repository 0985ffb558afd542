"""Disabling a user ends what they were issued, at once (token.subject_revoke,
migrations/token/005): their refresh families and every access token those and
their code exchanges issued are revoked in one transaction, and a code or
family authenticated before the revocation is refused. Refresh therefore asks
flow-svc nothing: it works while flow-svc is down (and a rotation costs no
bus hop to it)."""

import time

from lifecycle import (active, auth_params, call, exchange, family, fails, issue, ok, psql, refresh,
                       refresh_client, request_of, token_form, unique, user, userinfo_error)

import pytest

from oidc import wait_second_after


@pytest.fixture(scope="module")
def rc_client(stack):
    return refresh_client(stack)


def disable(stack, username, disabled=True):
    return ok(stack, "flow.user_disable", {"username": username, "disabled": disabled})


def test_disabling_a_user_revokes_their_refresh_and_access_tokens_at_once(stack, rc_client):
    u = user(stack)
    first, _ = family(stack, rc_client, sub=u["sub"])
    second, _ = family(stack, rc_client, sub=u["sub"])
    rc, rotated = refresh(stack, rc_client, first["refresh_token"])
    assert rc == 0, rotated
    other, _ = family(stack, rc_client)  # another user: untouched
    assert active(stack, rc_client, rotated["access_token"])

    out = disable(stack, u["username"])
    assert out["updated"] is True
    assert out["families"] == 2
    assert out["access_tokens"] == 3  # two exchanges and one rotation

    for at in (first["access_token"], second["access_token"], rotated["access_token"]):
        assert not active(stack, rc_client, at)
        assert userinfo_error(stack, at) == "invalid_token"
    for rt in (rotated["refresh_token"], second["refresh_token"]):
        rc, err = refresh(stack, rc_client, rt)
        assert rc == 1 and err["error"] == "invalid_grant"
    reasons = psql(stack, "SELECT string_agg(DISTINCT revoke_reason, ',') FROM token.refresh_families"
                          f" WHERE sub = '{u['sub']}'")
    assert reasons == "user_disabled"
    assert psql(stack, f"SELECT count(*) FROM token.audit_events WHERE subject = '{u['sub']}'"
                       " AND event = 'subject_revoked'") == "1"
    assert active(stack, rc_client, other["access_token"])
    rc, more = refresh(stack, rc_client, other["refresh_token"])
    assert rc == 0, more


def test_access_token_of_an_exchange_without_refresh_token_is_revoked(stack, rc_client):
    u = user(stack)
    out, _ = family(stack, rc_client, sub=u["sub"], scope="openid profile")
    assert "refresh_token" not in out
    assert active(stack, rc_client, out["access_token"])
    assert disable(stack, u["username"])["access_tokens"] == 1
    assert not active(stack, rc_client, out["access_token"])


def test_code_issued_before_the_user_was_disabled_is_refused(stack, rc_client):
    u = user(stack)
    params = auth_params(rc_client, scope="openid offline_access", prompt="consent")
    q = request_of(stack, params)
    sess = {"sub": u["sub"], "sid": unique("sid"), "auth_time": int(time.time()) - 5, "amr": ["pwd"]}
    code = issue(stack, q["request_id"], sess, consent={"granted": True, "remember": False})["params"]["code"]
    disable(stack, u["username"])
    rc, err = exchange(stack, rc_client, token_form(code, params))
    assert rc == 1 and err["error"] == "invalid_grant"


def test_family_authenticated_before_the_revocation_is_refused_even_if_it_escaped_it(stack, rc_client):
    """A code exchange racing the revocation starts a family the revocation's
    UPDATE did not see; its auth_time is before the marker, so it is refused."""
    u = user(stack)
    out, _ = family(stack, rc_client, sub=u["sub"])
    disable(stack, u["username"])
    # What a racing exchange would leave: a live family of the same login.
    psql(stack, "UPDATE token.refresh_families SET revoked_at = NULL, revoke_reason = NULL"
                f" WHERE sub = '{u['sub']}'")
    rc, err = refresh(stack, rc_client, out["refresh_token"])
    assert rc == 1 and err["error"] == "invalid_grant"


def test_user_enabled_again_logs_in_anew_and_refreshes(stack, rc_client):
    u = user(stack)
    old, _ = family(stack, rc_client, sub=u["sub"])
    disable(stack, u["username"])
    revoked_at = int(time.time())
    disable(stack, u["username"], disabled=False)
    # auth_time is whole seconds: a login in the second of the revocation
    # counts as before it (fail closed), so the new login is a second later.
    wait_second_after(revoked_at)
    new, _ = family(stack, rc_client, sub=u["sub"], auth_time=int(time.time()))
    rc, out = refresh(stack, rc_client, new["refresh_token"])
    assert rc == 0, out
    rc, err = refresh(stack, rc_client, old["refresh_token"])
    assert rc == 1 and err["error"] == "invalid_grant"


def test_enabling_a_user_revokes_nothing(stack, rc_client):
    u = user(stack)
    out, _ = family(stack, rc_client, sub=u["sub"])
    assert disable(stack, u["username"], disabled=False) == {"updated": True}
    rc, new = refresh(stack, rc_client, out["refresh_token"])
    assert rc == 0, new


def test_refresh_needs_no_flow_svc(stack, rc_client):
    out, _ = family(stack, rc_client)
    stack.stop_all("flow")
    try:
        rc, new = refresh(stack, rc_client, out["refresh_token"])
        assert rc == 0, new
        assert new["id_token"] and new["refresh_token"] != out["refresh_token"]
    finally:
        stack.ensure("flow")
        stack.wait_ready()


def test_disable_while_token_svc_is_down_says_so_and_can_be_repeated(stack, rc_client):
    u = user(stack)
    out, _ = family(stack, rc_client, sub=u["sub"])
    stack.stop_all("token")
    try:
        rc, err = call(stack, "flow.user_disable", {"username": u["username"], "disabled": True})
        # temporarily_unavailable exits 3, whoever could not be reached
        # (the exit code table of ctl/ctl.h): here token-svc, behind flow-svc.
        assert rc == 3 and err["error"] == "temporarily_unavailable", err
        assert "disable them again" in err["error_description"]
        # The user is disabled all the same: no login, no claims.
        rc, _ = call(stack, "flow.user_claims", {"sub": u["sub"], "scopes": ["openid"]})
        assert rc == 1
    finally:
        stack.ensure("token")
        stack.wait_ready()
    # Not only in a log: an audit event an operator can list.
    events = ok(stack, "flow.audit_list", {"event": "token_revoke_failed", "subject": u["sub"]})["events"]
    assert len(events) == 1 and events[0]["details"]["error"], events
    assert disable(stack, u["username"])["families"] == 1
    rc, err = refresh(stack, rc_client, out["refresh_token"])
    assert rc == 1 and err["error"] == "invalid_grant"


@pytest.mark.parametrize("body, word", [
    ({}, "sub"),
    ({"sub": ""}, "sub"),
    ({"sub": "x" * 256}, "sub"),
    ({"sub": 7}, "sub"),
    ({"sub": "someone", "reason": "Bad Reason"}, "reason"),
    ({"sub": "someone", "reason": "x" * 33}, "reason"),
])
def test_subject_revoke_refuses_malformed_arguments(stack, body, word):
    code, description = fails(stack, "token.subject_revoke", body)
    assert code == "invalid_request" and word in description


@pytest.mark.parametrize("body, description", [
    ({"sub": "someone", "families": 1}, "families: unknown member"),
    ({"sub": "some\u0085one"}, "sub: must not contain control characters"),
    ({"sub": "someone", "reason": True}, "reason: must be a string"),
])
def test_subject_revoke_outside_its_schema_is_refused(stack, body, description):
    assert fails(stack, "token.subject_revoke", body) == ("invalid_request", "invalid request: " + description)


def test_subject_revoke_of_an_unknown_subject_revokes_nothing(stack):
    out = ok(stack, "token.subject_revoke", {"sub": unique("nobody")})
    assert out == {"families": 0, "access_tokens": 0}


def test_ostiaryctl_users_disable_says_what_it_revoked(stack, rc_client):
    u = user(stack)
    out, _ = family(stack, rc_client, sub=u["sub"])
    cp = stack.ctl("users", "disable", u["username"])
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == (f"{u['username']} disabled; their sessions, 1 refresh-token families"
                                 " and 1 access tokens were revoked")
    assert not active(stack, rc_client, out["access_token"])
    cp = stack.ctl("users", "disable", u["username"], "--enable")
    assert cp.returncode == 0 and cp.stdout.strip() == f"{u['username']} enabled"


def test_login_finished_after_the_user_was_disabled_gets_no_session(stack, browser):
    """A review finding: a login past its password when the user is disabled
    must not finish at its next step (here TOTP) with a session and a code."""
    from flowweb import h1, totp
    from oidc import make_client, make_user, psql_flow
    from test_totp_login import authorize, code_field, enroll
    cid, csecret, redirect_uri = make_client(
        stack, grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "email", "offline_access"], always_refresh=True)
    client = (cid, csecret, redirect_uri)
    username, sub = make_user(stack)
    secret, _ = enroll(stack, browser, client, username)
    _, r = authorize(browser, client, prompt="login", scope="openid")
    r = browser.login(r, username)
    assert h1(r) == "Two-step verification", r.text[:300]
    disable(stack, username)
    revoked_at = int(time.time())
    wait_second_after(revoked_at)  # past the second of the revocation: only the disable may refuse it
    r = browser.fill(r, **{code_field(r): totp(secret, at=time.time() + 30)})
    assert r.status_code == 200 and "code=" not in r.headers.get("Location", ""), r.text[:300]
    assert h1(r) == "This did not work"
    assert psql_flow(stack, "SELECT count(*) FROM flow.sessions"
                            f" WHERE sub = '{sub}' AND revoked_at IS NULL") == "0"


def test_code_exchange_racing_the_revocation_leaves_no_active_access_token(stack, rc_client):
    """A review finding: an exchange that read its code before the revocation
    and redeems it after must not hand out a live access token. The
    revocation burns the subject's unused codes: the exchange is refused."""
    import os
    import signal
    import threading
    u = user(stack)
    params = auth_params(rc_client, scope="openid profile offline_access", prompt="consent")
    q = request_of(stack, params)
    sess = {"sub": u["sub"], "sid": unique("sid"), "auth_time": int(time.time()) - 5, "amr": ["pwd"]}
    code = issue(stack, q["request_id"], sess, consent={"granted": True, "remember": False})["params"]["code"]
    result = {}
    keys = stack.instances("keys")
    for k in keys:
        os.kill(k.pid, signal.SIGSTOP)  # the exchange waits for its signature
    try:
        th = threading.Thread(target=lambda: result.update(x=exchange(stack, rc_client, token_form(code, params))))
        th.start()
        time.sleep(0.6)
        disable(stack, u["username"])
    finally:
        for k in keys:
            os.kill(k.pid, signal.SIGCONT)
    th.join()
    rc, out = result["x"]
    # The exchange cannot redeem before keys-svc answers, which is after the
    # revocation burnt the code: refused, whatever it had read before.
    assert rc == 1 and out["error"] == "invalid_grant", out
