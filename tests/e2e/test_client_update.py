"""Editing a registered client (`ostiaryctl clients update`, token.client_update)
and rotating its secret with an overlap (`clients rotate-secret --overlap`):
a change takes effect at /authorize and /token, a change based on a stale
version is refused and changes nothing in the database, and during an
overlap both secrets work at /token."""

import json
import subprocess
import time

import requests

from lifecycle import Client, family, refresh_client, refresh_http
from oidc import (Browser, auth_params, make_client, token_request, unique, userinfo, wait_for,
                  wait_second_after)

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
RP = "https://rp.example"


def clients(stack, *args):
    return stack.ctl("clients", *args)


def show(stack, client_id):
    cp = clients(stack, "show", client_id)
    assert cp.returncode == EXIT_OK, cp.stderr
    return json.loads(cp.stdout)["client"]


def update_ok(stack, client_id, *args):
    version = show(stack, client_id)["version"]
    cp = clients(stack, "update", client_id, "--version", str(version), *args)
    assert cp.returncode == EXIT_OK, (cp.stdout, cp.stderr)
    client = json.loads(cp.stdout)["client"]
    assert client["version"] == version + 1
    return client


def psql(stack, sql):
    cp = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", stack.env["OSTIARY_DB_TOKEN"],
                         "-c", sql], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def authorize_status(stack, client_id, redirect_uri, **extra):
    """The status of /authorize: 303 to the login page when the request is
    valid, 400 (an HTML page, no redirect) when the redirect URI is not
    registered, 302 to the client with an error."""
    browser = Browser(stack)
    try:
        return browser.authorize(auth_params(client_id, redirect_uri, **extra)).status_code
    finally:
        browser.close()


def cc(stack, client_id, secret):
    """client_credentials at /token with client_secret_basic: the status."""
    return token_request(stack, {"grant_type": "client_credentials"}, basic=(client_id, secret)).status_code


def cc_client(stack):
    client_id, secret, redirect = make_client(
        stack, grant_types=["authorization_code", "client_credentials"])
    return client_id, secret, redirect


def test_update_redirect_uri_takes_effect_at_authorize(stack):
    client_id, _, redirect = make_client(stack)
    assert authorize_status(stack, client_id, redirect) == 303
    new = f"{RP}/new/{client_id}"
    client = update_ok(stack, client_id, "--redirect-uri", new)
    assert client["redirect_uris"] == [new]
    assert authorize_status(stack, client_id, new) == 303
    assert authorize_status(stack, client_id, redirect) == 400


def test_update_auth_method_and_disable_take_effect_at_token(stack):
    client_id, secret, _ = cc_client(stack)
    assert cc(stack, client_id, secret) == 200
    update_ok(stack, client_id, "--auth-method", "client_secret_post")
    # Other token-svc replicas follow within OSTIARY_CLIENT_CACHE_MS.
    wait_for("basic refused", lambda: cc(stack, client_id, secret) == 401)
    r = token_request(stack, {"grant_type": "client_credentials", "client_id": client_id,
                              "client_secret": secret})
    assert r.status_code == 200, r.text
    update_ok(stack, client_id, "--disable")
    wait_for("disabled client refused", lambda: token_request(
        stack, {"grant_type": "client_credentials", "client_id": client_id,
                "client_secret": secret}).status_code == 401)
    assert authorize_status(stack, client_id, f"{RP}/cb/{client_id}") == 400


def test_update_pkce_choice_takes_effect_at_authorize(stack):
    client_id, _, redirect = make_client(stack)
    # The server's default requires PKCE: without a challenge, an error redirect.
    assert authorize_status(stack, client_id, redirect, code_challenge=None,
                            code_challenge_method=None) == 302
    update_ok(stack, client_id, "--no-pkce")
    assert authorize_status(stack, client_id, redirect, code_challenge=None,
                            code_challenge_method=None) == 303
    client = update_ok(stack, client_id, "--unset", "require_pkce")
    assert "require_pkce_own" not in client and client["require_pkce"] is True
    assert authorize_status(stack, client_id, redirect, code_challenge=None,
                            code_challenge_method=None) == 302


def test_stale_version_is_refused_and_changes_nothing(stack):
    client_id, _, redirect = make_client(stack)
    update_ok(stack, client_id, "--name", "First")
    row = psql(stack, f"SELECT row_to_json(c)::text FROM token.clients c WHERE client_id = '{client_id}'")
    events = psql(stack, "SELECT count(*) FROM token.audit_events WHERE event = 'client_update'"
                         f" AND subject = '{client_id}'")
    cp = clients(stack, "update", client_id, "--version", "1", "--redirect-uri", f"{RP}/other")
    assert cp.returncode == EXIT_REFUSED
    assert json.loads(cp.stdout)["error"] == "conflict"
    assert psql(stack, f"SELECT row_to_json(c)::text FROM token.clients c WHERE client_id = '{client_id}'") == row
    assert psql(stack, "SELECT count(*) FROM token.audit_events WHERE event = 'client_update'"
                       f" AND subject = '{client_id}'") == events
    assert authorize_status(stack, client_id, redirect) == 303


def test_update_refuses_bad_input(stack):
    client_id, _, _ = make_client(stack)
    version = str(show(stack, client_id)["version"])
    #  token-svc refuses these (invalid_request): the CLI's exit code table
    #  says 1; what the CLI itself refuses (no --version, --type) exits 2.
    for args in (["--redirect-uri", f"{RP}/cb#fragment"], ["--redirect-uri", "not-a-uri"],
                 ["--scope", "everything"], ["--unset", "name"]):
        cp = clients(stack, "update", client_id, "--version", version, *args)
        assert cp.returncode == EXIT_REFUSED, (args, cp.stdout, cp.stderr)
        assert "invalid_request" in cp.stdout + cp.stderr, (args, cp.stdout, cp.stderr)
    assert clients(stack, "update", client_id, "--name", "x").returncode == EXIT_USAGE
    assert clients(stack, "update", client_id, "--version", version, "--type", "public").returncode == EXIT_USAGE
    assert str(show(stack, client_id)["version"]) == version


def test_update_is_audited_with_before_and_after(stack):
    client_id, secret, _ = make_client(stack)
    update_ok(stack, client_id, "--name", "Audited")
    cp = stack.ctl("audit", "list", "--event", "client_update", "--subject", client_id, "--json")
    assert cp.returncode == EXIT_OK, cp.stderr
    assert secret not in cp.stdout
    details = psql(stack, "SELECT details::text FROM token.audit_events WHERE event = 'client_update'"
                          f" AND subject = '{client_id}' ORDER BY id DESC LIMIT 1")
    details = json.loads(details)
    assert details["before"]["name"] != "Audited" and details["after"]["name"] == "Audited"
    assert details["changed"] == ["name"]
    assert secret not in json.dumps(details)


def test_rotate_secret_with_overlap_keeps_both_secrets_working(stack):
    client_id, old, _ = cc_client(stack)
    cp = clients(stack, "rotate-secret", client_id, "--overlap", "600")
    assert cp.returncode == EXIT_OK, cp.stderr
    out = json.loads(cp.stdout)
    new = out["client_secret"]
    assert out["previous_secret_expires_at"] > 0
    assert cc(stack, client_id, new) == 200
    assert cc(stack, client_id, old) == 200
    assert cc(stack, client_id, old + "x") == 401
    # The overlap ends: the old secret stops working, the new one goes on.
    psql(stack, "UPDATE token.clients SET previous_secret_expires_at = now() - interval '1 second'"
                f" WHERE client_id = '{client_id}'")
    wait_for("old secret refused", lambda: cc(stack, client_id, old) == 401)
    assert cc(stack, client_id, new) == 200
    # A rotation without overlap ends the old secret at once.
    cp = clients(stack, "rotate-secret", client_id)
    newest = json.loads(cp.stdout)["client_secret"]
    wait_for("rotated secret refused", lambda: cc(stack, client_id, new) == 401)
    assert cc(stack, client_id, newest) == 200
    assert clients(stack, "rotate-secret", client_id, "--overlap", "604801").returncode == EXIT_USAGE


def test_disabling_a_client_revokes_its_tokens_for_good(stack):
    """Disabling a client revokes what it was issued (docs/token-lifecycle.md):
    /introspect inactive (RFC 7662 §2.2), /userinfo 401 (RFC 6750 §3.1), a
    refresh invalid_client while disabled (RFC 6749 §5.2) and invalid_grant
    once enabled again: enabling it brings no token back."""
    client = refresh_client(stack, grant_types=["authorization_code", "refresh_token", "client_credentials"])
    rs = Client(stack, grant_types=["client_credentials"], redirect_uris=[], scopes=["openid"],
                resource_server=True)
    out, _ = family(stack, client)
    at, rt = out["access_token"], out["refresh_token"]
    r = token_request(stack, {"grant_type": "client_credentials"}, basic=(client.id, client.secret))
    assert r.status_code == 200, r.text
    cc_at = r.json()["access_token"]

    def active(token):
        r = requests.post(stack.base_url + "/introspect", data={"token": token}, auth=(rs.id, rs.secret),
                          timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["active"]

    def refresh_error():
        r = refresh_http(stack, client, rt)
        return r.status_code, r.json().get("error")

    assert active(at) and active(rt) and active(cc_at)
    assert userinfo(stack, at).status_code == 200

    update_ok(stack, client.id, "--disable")
    disabled_at = int(time.time())
    assert not active(at) and not active(rt) and not active(cc_at)
    assert userinfo(stack, at).status_code == 401
    # Other token-svc replicas see the change within OSTIARY_CLIENT_CACHE_MS.
    wait_for("refresh refused as invalid_client", lambda: refresh_error() == (401, "invalid_client"))
    # In the database: every family of the client revoked as client_disabled,
    # and the second its access tokens ended.
    assert psql(stack, f"SELECT count(*), count(*) FILTER (WHERE revoke_reason = 'client_disabled')"
                       f" FROM token.refresh_families WHERE client_id = '{client.id}'") == "1|1"
    assert psql(stack, f"SELECT tokens_revoked_at IS NOT NULL FROM token.clients"
                       f" WHERE client_id = '{client.id}'") == "t"

    update_ok(stack, client.id, "--enable")
    wait_for("refresh refused as invalid_grant", lambda: refresh_error() == (400, "invalid_grant"))
    assert not active(at) and not active(rt) and not active(cc_at)
    assert userinfo(stack, at).status_code == 401
    # What it gets afterwards works (iat is whole seconds: a token of the
    # second of the disable counts as before it).
    wait_second_after(disabled_at)
    r = token_request(stack, {"grant_type": "client_credentials"}, basic=(client.id, client.secret))
    assert r.status_code == 200, r.text
    assert active(r.json()["access_token"])


def test_lifetime_beyond_what_keys_svc_signs_is_refused_at_update(stack):
    """keys-svc signs no token living longer than OSTIARY_KEYS_TOKEN_LIFETIME_MAX:
    a client lifetime beyond it is refused by the update (invalid_request
    naming the member, exit 1), not by every /token request after (it was
    server_error there); one within it is stored and issued."""
    client_id, secret, _ = cc_client(stack)
    stack.stop_all("token")
    inst = stack.start("token", {"OSTIARY_KEYS_TOKEN_LIFETIME_MAX": "600"})
    try:
        wait_for("token-svc", lambda: inst.alive() and stack.ctl("call", "token.health").returncode == 0,
                 timeout=20)
        version = show(stack, client_id)["version"]
        for option in ("--access-token-lifetime", "--id-token-lifetime"):
            cp = clients(stack, "update", client_id, "--version", str(version), option, "601")
            assert cp.returncode == EXIT_REFUSED, (cp.stdout, cp.stderr)
            member = option[2:].replace("-", "_")
            assert f"invalid_request: {member} must be at most" in cp.stderr, cp.stderr
        assert show(stack, client_id)["version"] == version
        update_ok(stack, client_id, "--access-token-lifetime", "600")
        r = token_request(stack, {"grant_type": "client_credentials"}, basic=(client_id, secret))
        assert r.status_code == 200 and r.json()["expires_in"] == 600, r.text
    finally:
        stack.stop_all("token")
        stack.ensure("token")
        stack.wait_ready()
