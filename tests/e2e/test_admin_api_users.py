"""The admin API's hold on a user's sign-in (docs/admin/openapi.json): the
second factor (POST /users/{u}/totp/reset), the live SSO sessions (GET,
DELETE one or all: back-channel logout of the clients they served) and the
grants (GET, DELETE one client's: its refresh families, their access tokens
and the consent). Each: 401 without a token, 403 for a non-admin's, 404 for
an unknown user, 400 with the field for bad input, and what the databases
hold afterwards. Every response is validated against the OpenAPI
document (test_admin_api.check)."""

import importlib.util
import secrets

import pytest

from conftest import REPO
from oidc import Browser, code_flow, exchange, make_client, make_user, psql_flow, token_request
from test_admin_api import Api, admin, admin_client, non_admin  # noqa: F401

_spec = importlib.util.spec_from_file_location("webhook_receiver", REPO / "scripts" / "webhook_receiver.py")
webhook_receiver = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(webhook_receiver)


@pytest.fixture(scope="module")
def receiver():
    r = webhook_receiver.Receiver("unused-secret-0123456789").start()
    yield r
    r.stop()


def psql_token(stack, sql):
    import subprocess
    cp = subprocess.run(["psql", stack.env["OSTIARY_DB_TOKEN"], "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def sign_in(stack, client, username, **extra):
    """A code flow in a browser of its own (a session of its own); the token
    response."""
    client_id, secret, redirect_uri = client
    b = Browser(stack)
    try:
        params, _, p = code_flow(stack, b, client_id, redirect_uri, username, **extra)
    finally:
        b.close()
    r = exchange(stack, p["code"], params, client_id, secret)
    assert r.status_code == 200, r.text
    return r.json()


def audit_events(admin, service, event, subject):  # noqa: F811
    r = admin("GET", "/audit", params={"service": service, "event": event, "subject": subject, "since": 0})
    assert r.status_code == 200
    return r.json()["items"]


ENDPOINTS = [("POST", "/users/{u}/totp/reset"), ("GET", "/users/{u}/sessions"),
             ("DELETE", "/users/{u}/sessions"), ("DELETE", "/users/{u}/sessions/abc"),
             ("GET", "/users/{u}/grants"), ("DELETE", "/users/{u}/grants/some-client")]


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_without_a_token_is_401_and_a_non_admin_is_403(stack, non_admin, method, path):  # noqa: F811
    username, _ = make_user(stack)
    r = Api(stack, None)(method, path.format(u=username))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    r = non_admin(method, path.format(u=username))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_an_unknown_user_is_404_and_a_bad_username_400(admin, method, path):  # noqa: F811
    r = admin(method, path.format(u="no-such-user-" + secrets.token_hex(3)))
    assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
    r = admin(method, path.format(u="Not%20A%20Name!"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    assert r.json()["field"] == "username"


def test_totp_reset_removes_the_second_factor_and_is_audited(stack, admin):  # noqa: F811
    username, sub = make_user(stack)
    psql_flow(stack, f"INSERT INTO flow.user_totp (sub, secret_sealed) VALUES ('{sub}', 'sealed-test-value');"
                     f"INSERT INTO flow.recovery_codes (sub, code_hash) SELECT '{sub}', sha256(g::text::bytea)"
                     " FROM generate_series(1, 3) g")
    r = admin("POST", f"/users/{username}/totp/reset")
    assert r.status_code == 200, r.text
    assert r.json() == {"sub": sub, "totp_removed": True, "recovery_codes_removed": 3}
    assert psql_flow(stack, f"SELECT count(*) FROM flow.user_totp WHERE sub = '{sub}'") == "0"
    assert psql_flow(stack, f"SELECT count(*) FROM flow.recovery_codes WHERE sub = '{sub}'") == "0"
    events = audit_events(admin, "flow", "user_totp_reset", sub)
    assert len(events) == 1 and events[0]["actor"].startswith("admin:")
    assert events[0]["details"]["totp_removed"] is True and events[0]["details"]["recovery_codes_removed"] == 3
    # Again: nothing left to remove, no error.
    r = admin("POST", f"/users/{username}/totp/reset")
    assert r.status_code == 200 and r.json()["totp_removed"] is False


def test_sessions_list_pages_and_revoke_one_then_all_with_backchannel_logout(stack, admin, receiver):  # noqa: F811
    path = f"/bc/{secrets.token_hex(4)}"
    client = make_client(stack, backchannel_logout_uri=receiver.url(path))
    username, sub = make_user(stack)
    sids = set()
    for _ in range(3):
        sign_in(stack, client, username)
    r = admin("GET", f"/users/{username}/sessions", params={"limit": 2})
    assert r.status_code == 200 and len(r.json()["items"]) == 2 and r.json()["next_cursor"]
    sids |= {s["sid"] for s in r.json()["items"]}
    assert all(s["clients"][0]["client_id"] == client[0] and s["current"] is False for s in r.json()["items"])
    r = admin("GET", f"/users/{username}/sessions", params={"limit": 2, "cursor": r.json()["next_cursor"]})
    assert r.status_code == 200 and len(r.json()["items"]) == 1 and "next_cursor" not in r.json()
    sids |= {s["sid"] for s in r.json()["items"]}
    assert len(sids) == 3
    assert admin("GET", f"/users/{username}/sessions", params={"limit": 0}).json()["field"] == "limit"
    assert admin("GET", f"/users/{username}/sessions", params={"cursor": "x"}).json()["field"] == "cursor"

    one = sorted(sids)[0]
    r = admin("DELETE", f"/users/{username}/sessions/{one}")
    assert r.status_code == 200 and r.json() == {"sub": sub, "ended": [one], "backchannel": 1}
    assert psql_flow(stack, f"SELECT revoked_at IS NOT NULL FROM flow.sessions WHERE sid = '{one}'") == "t"
    hits = receiver.wait_for(path, count=1)
    assert len(hits) == 1
    # The same session again: it is no longer live.
    assert admin("DELETE", f"/users/{username}/sessions/{one}").status_code == 404

    r = admin("DELETE", f"/users/{username}/sessions")
    assert r.status_code == 200 and sorted(r.json()["ended"]) == sorted(sids - {one})
    assert r.json()["backchannel"] == 2
    live = psql_flow(stack, f"SELECT count(*) FROM flow.sessions WHERE sub = '{sub}' AND revoked_at IS NULL")
    assert live == "0"
    receiver.wait_for(path, count=3)
    assert admin("GET", f"/users/{username}/sessions").json()["items"] == []
    events = audit_events(admin, "flow", "session_revoked", sub)
    assert [len(e["details"]["sids"]) for e in events] == [1, 2]
    assert all(e["actor"].startswith("admin:") for e in events)


def test_grants_list_and_revoke_ends_the_refresh_families_and_the_consent(stack, admin):  # noqa: F811
    third = make_client(stack, first_party=False, grant_types=["authorization_code", "refresh_token"],
                        always_refresh=True)
    other = make_client(stack, grant_types=["authorization_code", "refresh_token"], always_refresh=True)
    username, sub = make_user(stack)
    tokens = sign_in(stack, third, username)
    sign_in(stack, other, username)
    assert tokens.get("refresh_token")
    # The consent page's answer is kept when the user asks it to be: keep
    # one either way, so that its withdrawal shows.
    psql_token(stack, "INSERT INTO token.consents (sub, client_id, scopes)"
                      f" VALUES ('{sub}', '{third[0]}', '[\"openid\"]') ON CONFLICT DO NOTHING")
    r = admin("GET", f"/users/{username}/grants")
    assert r.status_code == 200, r.text
    grants = {g["client_id"]: g for g in r.json()["items"]}
    assert set(grants) == {third[0], other[0]}
    assert grants[third[0]]["families"] == 1 and "consented_at" in grants[third[0]]
    assert "openid" in grants[third[0]]["scopes"]
    # The first-party client keeps no consent; its families' scopes show.
    assert "consented_at" not in grants[other[0]] and grants[other[0]]["families"] == 1
    r = admin("GET", f"/users/{username}/grants", params={"limit": 1})
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"]
    r2 = admin("GET", f"/users/{username}/grants", params={"limit": 1, "cursor": r.json()["next_cursor"]})
    assert {r.json()["items"][0]["client_id"], r2.json()["items"][0]["client_id"]} == {third[0], other[0]}

    r = admin("DELETE", f"/users/{username}/grants/{third[0]}")
    assert r.status_code == 200, r.text
    assert r.json()["families"] == 1 and r.json()["consent"] is True and r.json()["access_tokens"] >= 0
    assert psql_token(stack, f"SELECT count(*) FROM token.refresh_families WHERE sub = '{sub}'"
                             f" AND client_id = '{third[0]}' AND revoked_at IS NULL") == "0"
    assert psql_token(stack, f"SELECT count(*) FROM token.consents WHERE sub = '{sub}'"
                             f" AND client_id = '{third[0]}'") == "0"
    # The other client's grant is untouched.
    assert psql_token(stack, f"SELECT count(*) FROM token.refresh_families WHERE sub = '{sub}'"
                             f" AND client_id = '{other[0]}' AND revoked_at IS NULL") == "1"
    # The revoked family's refresh token no longer works.
    r = token_request(stack, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                      basic=(third[0], third[1]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert [g["client_id"] for g in admin("GET", f"/users/{username}/grants").json()["items"]] == [other[0]]
    # Nothing left to revoke for that client.
    assert admin("DELETE", f"/users/{username}/grants/{third[0]}").status_code == 404
    events = audit_events(admin, "token", "grant_revoked", sub)
    assert len(events) == 1 and events[0]["client_id"] == third[0]
    assert events[0]["actor"].startswith("admin:") and events[0]["details"]["consent"] is True
