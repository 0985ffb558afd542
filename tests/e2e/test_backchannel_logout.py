"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when an SSO
session ends (RP-initiated logout, the account's sessions page), every client
it served that registered a backchannel_logout_uri gets a logout token
(typ logout+jwt, signed by keys-svc: iss, aud, iat, a short exp, jti, sub,
sid, events, no nonce) POSTed as logout_token=... by flow-svc's outbox, with
retries, a dead-letter state, and the webhooks' address rules; a slow or
failing client never holds the logout up.

The relying party is scripts/webhook_receiver.py, run in this process; its
logout tokens are checked with jwcrypto against /jwks."""

import html
import importlib.util
import json
import re
import secrets
import time
from urllib.parse import parse_qs

import pytest
from jwcrypto import jwt

from conftest import REPO, free_port
from oidc import (RP, Browser, code_flow, ctl_json, exchange, forms, jwks, make_client, make_user, psql_flow,
                  refused, verify_jwt, wait_for)

EVENT = "http://schemas.openid.net/event/backchannel-logout"

_spec = importlib.util.spec_from_file_location("webhook_receiver", REPO / "scripts" / "webhook_receiver.py")
webhook_receiver = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(webhook_receiver)


@pytest.fixture(scope="module")
def receiver():
    r = webhook_receiver.Receiver("unused-secret-0123456789").start()
    yield r
    r.stop()


@pytest.fixture(scope="module", autouse=True)
def fast_outbox(stack):
    """flow-svc polls its outbox every 100 ms in this module (loopback
    receivers allowed, as in every e2e test)."""
    restart_flow(stack, {"OSTIARY_OUTBOX_POLL_MS": "100"})
    yield
    stack.stop_all("flow")
    stack.ensure("flow")
    stack.wait_ready()


def restart_flow(stack, env):
    stack.stop_all("flow")
    stack.start("flow", env)
    stack.wait_ready()


def bc_client(stack, uri, **extra):
    """A client whose backchannel_logout_uri is uri; (id, secret, redirect_uri)."""
    return make_client(stack, backchannel_logout_uri=uri, **extra)


def sign_in(stack, browser, client, username):
    client_id, secret, redirect_uri = client
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, username)
    r = exchange(stack, p["code"], params, client_id, secret)
    assert r.status_code == 200, r.text
    return r.json()["id_token"]


def logout(stack, browser, hint):
    """RP-initiated logout tied to the session (the hint's sid): it ends at once."""
    started = time.monotonic()
    r = browser.http.get(stack.base_url + "/logout", params={"id_token_hint": hint}, allow_redirects=False,
                         timeout=30)
    assert r.status_code == 200 and "signed out" in r.text, (r.status_code, r.text[:400])
    return time.monotonic() - started


def outbox_rows(stack):
    """status|attempts|last_error of the back-channel rows, oldest first. The
    payload is sealed, so rows are told apart by their order only."""
    out = psql_flow(stack, "SELECT status || '|' || attempts || '|' || COALESCE(last_error, '') "
                           "FROM flow.outbox WHERE kind = 'backchannel' ORDER BY id")
    return out.splitlines() if out else []


def logout_token_of(entry):
    assert entry["method"] == "POST"
    assert entry["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(entry["body"], strict_parsing=True)
    assert list(form) == ["logout_token"] and len(form["logout_token"]) == 1
    return form["logout_token"][0]


def test_discovery_advertises_backchannel_logout(stack, http):
    doc = http.get(stack.base_url + "/.well-known/openid-configuration", timeout=10).json()
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True


def test_logout_token_is_delivered_with_the_claims_of_the_spec(stack, receiver):
    path = f"/bc/{secrets.token_hex(4)}"
    client = bc_client(stack, receiver.url(path), backchannel_logout_session_required=True)
    user, sub = make_user(stack)
    b = Browser(stack)
    try:
        hint = sign_in(stack, b, client, user)
        _, id_claims = verify_jwt(stack, hint)
        logout(stack, b, hint)
    finally:
        b.close()
    hits = receiver.wait_for(path)
    assert len(hits) == 1, hits
    token = logout_token_of(hits[0])
    # Checked by jwcrypto against the published keys, never by our code.
    t = jwt.JWT(jwt=token, key=jwks(stack), algs=["RS256"], check_claims=False)
    header = json.loads(t.header)
    claims = json.loads(t.claims)
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == stack.base_url
    assert claims["aud"] == client[0]
    assert claims["sub"] == sub == id_claims["sub"]
    assert claims["sid"] == id_claims["sid"]
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert isinstance(claims["iat"], int) and abs(claims["iat"] - time.time()) < 60
    assert claims["exp"] - claims["iat"] == 120
    # jwcrypto's own claim checks (exp, iss, aud) pass as well.
    jwt.JWT(jwt=token, key=jwks(stack), algs=["RS256"],
            check_claims={"iss": stack.base_url, "aud": client[0], "exp": None})
    wait_for("the row marked sent", lambda: outbox_rows(stack)[-1].startswith("sent|1|"))


def test_every_client_with_a_uri_is_told_and_others_are_not(stack, receiver):
    pa, pb = f"/bc/{secrets.token_hex(4)}", f"/bc/{secrets.token_hex(4)}"
    a = bc_client(stack, receiver.url(pa))
    b_client = bc_client(stack, receiver.url(pb))
    plain = make_client(stack)
    user, _ = make_user(stack)
    b = Browser(stack)
    try:
        sign_in(stack, b, a, user)
        sign_in(stack, b, plain, user)
        hint = sign_in(stack, b, b_client, user)
        logout(stack, b, hint)
    finally:
        b.close()
    ta, tb = logout_token_of(receiver.wait_for(pa)[0]), logout_token_of(receiver.wait_for(pb)[0])
    ca = json.loads(jwt.JWT(jwt=ta, key=jwks(stack), check_claims=False).claims)
    cb = json.loads(jwt.JWT(jwt=tb, key=jwks(stack), check_claims=False).claims)
    assert (ca["aud"], cb["aud"]) == (a[0], b_client[0])
    assert ca["sid"] == cb["sid"] and ca["jti"] != cb["jti"]
    # The client without a URI gets nothing (its row has nothing to deliver).
    assert len(receiver.hits(pa)) == 1 and len(receiver.hits(pb)) == 1


def test_retry_after_the_relying_party_was_down(stack):
    port = free_port()
    path = "/bc/retry"
    client = bc_client(stack, f"http://127.0.0.1:{port}{path}")
    user, _ = make_user(stack)
    b = Browser(stack)

    def rows_after(first):
        """id|status|attempts of the back-channel rows queued since first."""
        out = psql_flow(stack, "SELECT id || '|' || status || '|' || attempts FROM flow.outbox "
                               f"WHERE kind = 'backchannel' AND id > {first} ORDER BY id")
        return [r.split("|") for r in out.splitlines()] if out else []

    try:
        hint = sign_in(stack, b, client, user)
        last = psql_flow(stack, "SELECT coalesce(max(id), 0) FROM flow.outbox")
        logout(stack, b, hint)
        # Nobody listens: the first attempt fails and is scheduled again. The
        # session served one client, so one row was queued by this logout (the
        # janitor may queue other sessions' rows meanwhile: a later id); on a
        # slow machine more attempts may fail before the next look.
        row = wait_for("a failed first attempt",
                       lambda: next((r for r in rows_after(last)[:1] if r[1] == "pending" and int(r[2]) >= 1),
                                    None), timeout=30)
        late = webhook_receiver.Receiver("unused-secret-0123456789", port=port).start()
        try:
            hits = late.wait_for(path, timeout=20)
            assert len(hits) == 1
            claims = json.loads(jwt.JWT(jwt=logout_token_of(hits[0]), key=jwks(stack),
                                        check_claims={"aud": client[0], "exp": None}).claims)
            assert claims["events"] == {EVENT: {}}
            wait_for("the row marked sent after a failed attempt",
                     lambda: psql_flow(stack, f"SELECT status || '|' || (attempts >= 2) FROM flow.outbox "
                                              f"WHERE id = {row[0]}") == "sent|true")
        finally:
            late.stop()
    finally:
        b.close()


def test_refusing_relying_party_is_a_dead_letter(stack, receiver):
    path = "/status/400"
    client = bc_client(stack, receiver.url(path))
    user, _ = make_user(stack)
    b = Browser(stack)
    try:
        hint = sign_in(stack, b, client, user)
        before = len(outbox_rows(stack))
        logout(stack, b, hint)
    finally:
        b.close()
    wait_for("the dead letter", lambda: len(outbox_rows(stack)) > before and
             outbox_rows(stack)[before].startswith("dead|1|"))
    assert "backchannel_logout_uri failed" in outbox_rows(stack)[before]


def test_slow_relying_party_does_not_hold_the_logout_up(stack, receiver):
    path = "/sleep/4000"
    client = bc_client(stack, receiver.url(path))
    user, _ = make_user(stack)
    b = Browser(stack)
    try:
        hint = sign_in(stack, b, client, user)
        count = len(receiver.hits(path))
        took = logout(stack, b, hint)
        assert took < 2.0, took
        assert len(receiver.wait_for(path, count + 1, timeout=15)) == count + 1
    finally:
        b.close()


def test_no_delivery_to_a_private_address_unless_allowed(stack, receiver):
    path = f"/bc/{secrets.token_hex(4)}"
    client = bc_client(stack, receiver.url(path))
    user, _ = make_user(stack)
    restart_flow(stack, {"OSTIARY_OUTBOX_POLL_MS": "100", "OSTIARY_WEBHOOK_ALLOW_PRIVATE": "0"})
    try:
        b = Browser(stack)
        try:
            hint = sign_in(stack, b, client, user)
            before = len(outbox_rows(stack))
            logout(stack, b, hint)
        finally:
            b.close()
        wait_for("the refused delivery", lambda: len(outbox_rows(stack)) > before and
                 outbox_rows(stack)[before].startswith("dead|1|"))
        assert receiver.hits(path) == []
    finally:
        restart_flow(stack, {"OSTIARY_OUTBOX_POLL_MS": "100"})


def test_ending_a_session_from_the_account_page_tells_its_clients(stack, receiver):
    path = f"/bc/{secrets.token_hex(4)}"
    client = bc_client(stack, receiver.url(path))
    user, _ = make_user(stack)
    a, other = Browser(stack), Browser(stack)
    try:
        sign_in(stack, a, client, user)
        _, claims = verify_jwt(stack, sign_in(stack, other, client, user))
        page = a.http.get(stack.base_url + "/account/sessions", timeout=10)
        form = next(f for f in forms(page.text) if f["fields"].get("sid") == claims["sid"])
        r = a.http.post(html.unescape(form["action"]), data=form["fields"], allow_redirects=False, timeout=10)
        assert r.status_code == 303
        token = logout_token_of(receiver.wait_for(path)[0])
        got = json.loads(jwt.JWT(jwt=token, key=jwks(stack), check_claims=False).claims)
        assert got["sid"] == claims["sid"] and re.fullmatch(r"[A-Za-z0-9_-]+", got["jti"])
    finally:
        a.close()
        other.close()


def test_registration_of_backchannel_logout(stack):
    for uri in ("https://rp.example/bc#x", "ftp://rp.example/bc", "com.example.app:/bc", "relative"):
        assert refused(stack, "token.client_add", {"redirect_uris": [f"{RP}/cb"],
                                                   "backchannel_logout_uri": uri}) == "invalid_request"
    assert refused(stack, "token.client_add", {"redirect_uris": [f"{RP}/cb"],
                                               "backchannel_logout_session_required": True}) == "invalid_request"
    client_id = "ctl-bc-" + secrets.token_hex(3)
    r = stack.ctl("clients", "add", "--id", client_id, "--redirect-uri", f"{RP}/cb",
                  "--backchannel-logout-uri", f"{RP}/bc", "--backchannel-logout-session-required")
    assert r.returncode == 0, r.stderr
    shown = ctl_json(stack, "token.client_get", {"client_id": client_id})["client"]
    assert shown["backchannel_logout_uri"] == f"{RP}/bc"
    assert shown["backchannel_logout_session_required"] is True


def _claims_of(stack, hits, client_id):
    assert len(hits) == 1, hits
    return json.loads(jwt.JWT(jwt=logout_token_of(hits[0]), key=jwks(stack), algs=["RS256"],
                              check_claims={"iss": stack.base_url, "aud": client_id, "exp": None}).claims)


def test_a_password_change_ends_the_sessions_and_tells_their_clients(stack, receiver):
    pa, pb = f"/bc/{secrets.token_hex(4)}", f"/bc/{secrets.token_hex(4)}"
    a, b_client = bc_client(stack, receiver.url(pa)), bc_client(stack, receiver.url(pb))
    user, sub = make_user(stack)
    one, two = Browser(stack), Browser(stack)
    try:
        _, ca = verify_jwt(stack, sign_in(stack, one, a, user))
        _, cb = verify_jwt(stack, sign_in(stack, two, b_client, user))
        assert ca["sid"] != cb["sid"]
        before = len(outbox_rows(stack))
        r = stack.ctl("users", "passwd", user, "--password-stdin", input="a brand new password 42\n")
        assert r.returncode == 0, r.stderr
        # Both sessions ended, each told to the client it served, with its sid.
        got_a, got_b = _claims_of(stack, receiver.wait_for(pa), a[0]), _claims_of(stack, receiver.wait_for(pb),
                                                                                  b_client[0])
        assert (got_a["sub"], got_a["sid"], got_a["events"]) == (sub, ca["sid"], {EVENT: {}})
        assert (got_b["sub"], got_b["sid"]) == (sub, cb["sid"])
        assert "nonce" not in got_a and "nonce" not in got_b
        wait_for("two rows sent", lambda: [r.split("|")[0] for r in outbox_rows(stack)[before:]] == ["sent"] * 2)
        live = psql_flow(stack, f"SELECT count(*) FROM flow.sessions WHERE sub = '{sub}' AND revoked_at IS NULL")
        assert live == "0"
    finally:
        one.close()
        two.close()


def test_disabling_a_user_tells_the_clients_of_their_sessions(stack, receiver):
    path = f"/bc/{secrets.token_hex(4)}"
    client = bc_client(stack, receiver.url(path))
    user, sub = make_user(stack)
    b = Browser(stack)
    try:
        _, idc = verify_jwt(stack, sign_in(stack, b, client, user))
        assert stack.ctl("users", "disable", user).returncode == 0
    finally:
        b.close()
    got = _claims_of(stack, receiver.wait_for(path), client[0])
    assert (got["sub"], got["sid"]) == (sub, idc["sid"])


def _token_psql(stack, sql):
    from lifecycle import psql
    return psql(stack, sql)


def _refresh(stack, client, token):
    from oidc import token_request
    return token_request(stack, {"grant_type": "refresh_token", "refresh_token": token},
                         basic=(client[0], client[1]))


def test_session_bound_refresh_ends_with_the_session_but_offline_access_does_not(stack, receiver):
    path = f"/bc/{secrets.token_hex(4)}"
    client = bc_client(stack, receiver.url(path), grant_types=["authorization_code", "refresh_token"],
                       scopes=["openid", "offline_access"], always_refresh=True, refresh_bound_to_session=True)
    info = ctl_json(stack, "token.client_get", {"client_id": client[0]})
    assert info["client"]["refresh_bound_to_session"] is True
    user, _ = make_user(stack)
    b = Browser(stack)
    try:
        params, _, p = code_flow(stack, b, client[0], client[2], user, scope="openid")
        bound = exchange(stack, p["code"], params, client[0], client[1]).json()
        params, _, p = code_flow(stack, b, client[0], client[2], user, scope="openid offline_access",
                                 prompt="consent")
        offline = exchange(stack, p["code"], params, client[0], client[1]).json()
        assert "offline_access" in offline["scope"].split() and "offline_access" not in bound["scope"].split()
        # Both work while the session lives (and rotate).
        r = _refresh(stack, client, bound["refresh_token"])
        assert r.status_code == 200, r.json().get("error")
        bound_rt = r.json()["refresh_token"]
        before = len(outbox_rows(stack))
        logout(stack, b, bound["id_token"])
    finally:
        b.close()
    _, idc = verify_jwt(stack, bound["id_token"])
    # The outbox's first attempt at the session's logout revokes its bound
    # families (docs/logout.md): shortly after the logout, not within it.
    wait_for("the bound family revoked", lambda: _token_psql(
        stack, "SELECT count(*) FROM token.refresh_families"
               f" WHERE sid = '{idc['sid']}' AND revoked_at IS NOT NULL") == "1")
    r = _refresh(stack, client, bound_rt)
    assert r.status_code == 400 and r.json().get("error") == "invalid_grant", (r.status_code, r.json().get("error"))
    r = _refresh(stack, client, offline["refresh_token"])
    assert r.status_code == 200, r.json().get("error")
    rows = _token_psql(stack, "SELECT session_bound || '|' || (revoked_at IS NOT NULL) || '|' ||"
                              " coalesce(revoke_reason, '') FROM token.refresh_families"
                              f" WHERE sid = '{idc['sid']}' ORDER BY id").splitlines()
    assert rows == ["true|true|session_ended", "false|false|"], rows
    # The one logout token of the session was queued and delivered.
    got = _claims_of(stack, receiver.wait_for(path), client[0])
    assert got["sid"] == idc["sid"]
    wait_for("the row sent", lambda: [x.split("|")[0] for x in outbox_rows(stack)[before:]] == ["sent"])


def test_a_new_sign_in_in_the_same_browser_tells_the_clients_of_the_session_it_replaces(stack, receiver):
    path = f"/bc/{secrets.token_hex(4)}"
    client = bc_client(stack, receiver.url(path))
    user, sub = make_user(stack)
    b = Browser(stack)
    try:
        _, first = verify_jwt(stack, sign_in(stack, b, client, user))
        assert receiver.hits(path) == []
        client_id, secret, redirect_uri = client
        params, _, p = code_flow(stack, b, client_id, redirect_uri, user, prompt="login")
        r = exchange(stack, p["code"], params, client_id, secret)
        assert r.status_code == 200, r.text
        _, second = verify_jwt(stack, r.json()["id_token"])
    finally:
        b.close()
    assert first["sid"] != second["sid"]
    # The replaced session is revoked and its client told, with its own sid;
    # the new one stays live.
    got = _claims_of(stack, receiver.wait_for(path), client_id)
    assert (got["sub"], got["sid"], got["events"]) == (sub, first["sid"], {EVENT: {}})
    live = psql_flow(stack, f"SELECT string_agg(sid, ',') FROM flow.sessions WHERE sub = '{sub}' "
                            "AND revoked_at IS NULL")
    assert live == second["sid"]
