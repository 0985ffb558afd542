"""The admin role (`ostiaryctl users grant-admin|revoke-admin`, flow-svc) and
the admin scope: registered only by the admin client (OSTIARY_ADMIN_CLIENT_ID),
issued through /authorize and /token only to a user who holds the role, and
accepted by token.admin_check (the admin API's check) only while the user
still holds it."""

import json

import pytest

from conftest import ADMIN_CLIENT_ID
from oidc import Browser, code_flow, exchange, make_user, refused

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


@pytest.fixture(scope="module")
def admin_client(stack):
    if stack.ctl("clients", "show", ADMIN_CLIENT_ID).returncode == EXIT_OK:
        stack.ctl("clients", "remove", ADMIN_CLIENT_ID)
    body = {"client_id": ADMIN_CLIENT_ID, "redirect_uris": ["https://admin.example/cb"],
            "scopes": ["openid", "profile", "admin"], "first_party": True}
    r = stack.ctl_for("token.client_add", "call", "token.client_add", json.dumps(body))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    return ADMIN_CLIENT_ID, out["client_secret"], "https://admin.example/cb"


def users(stack, *args):
    return stack.ctl("users", *args)


def admin_token(stack, client, username):
    client_id, secret, redirect = client
    browser = Browser(stack)
    try:
        params, _, resp = code_flow(stack, browser, client_id, redirect, username, scope="openid admin")
    finally:
        browser.close()
    r = exchange(stack, resp["code"], params, client_id, secret)
    assert r.status_code == 200, r.text
    return r.json()


def admin_check(stack, access_token):
    r = stack.ctl_for("token.admin_check", "call", "token.admin_check",
                      json.dumps({"access_token": access_token}))
    out = json.loads(r.stdout) if r.stdout.strip() else None
    return r.returncode, out


def test_grant_and_revoke_admin_show_in_the_user_and_the_audit_trail(stack):
    username, sub = make_user(stack)
    cp = users(stack, "grant-admin", username)
    assert cp.returncode == EXIT_OK, cp.stderr
    assert json.loads(users(stack, "show", username).stdout)["admin"] is True
    cp = users(stack, "revoke-admin", username)
    assert cp.returncode == EXIT_OK, cp.stderr
    assert json.loads(users(stack, "show", username).stdout)["admin"] is False
    assert users(stack, "grant-admin", "no-such-user-x").returncode == EXIT_REFUSED
    assert users(stack, "grant-admin").returncode == EXIT_USAGE
    r = stack.ctl("audit", "list", "--event", "user_admin", "--subject", sub, "--json")
    assert r.returncode == EXIT_OK
    assert sorted(e["details"]["admin"] for e in json.loads(r.stdout)) == [False, True]


def test_another_client_cannot_register_the_admin_scope(stack):
    assert refused(stack, "token.client_add", {
        "client_id": "not-the-admin", "redirect_uris": ["https://x.example/cb"],
        "scopes": ["openid", "admin"]}) == "invalid_request"


def test_admin_scope_only_for_a_user_with_the_role_and_only_while_they_hold_it(stack, admin_client):
    admin, _ = make_user(stack)
    plain, _ = make_user(stack)
    assert users(stack, "grant-admin", admin).returncode == EXIT_OK
    tokens = admin_token(stack, admin_client, admin)
    assert tokens["scope"].split() == ["openid", "admin"]
    rc, out = admin_check(stack, tokens["access_token"])
    assert rc == 0, out
    # Without the role the token is issued without the scope.
    other = admin_token(stack, admin_client, plain)
    assert other["scope"].split() == ["openid"]
    rc, out = admin_check(stack, other["access_token"])
    assert rc == 1 and out["error"] == "insufficient_scope"
    # Revoking the role ends the admin token at once.
    assert users(stack, "revoke-admin", admin).returncode == EXIT_OK
    rc, out = admin_check(stack, tokens["access_token"])
    assert rc == 1 and out["error"] == "forbidden"
