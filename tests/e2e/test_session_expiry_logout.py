"""Back-channel logout of sessions that end on their own (OpenID Connect
Back-Channel Logout 1.0 §2.5): when an SSO session's lifetime
(OSTIARY_SESSION_TTL) runs out, flow-svc's janitor queues the logout of every
client it served, once, in the transaction that marks the session told; the
outbox has token-svc sign each logout token when it delivers it and POSTs
it, with the retries and the dead-letter state of every back-channel logout.

flow-svc runs here with 60-second sessions (the setting's minimum), a janitor
round every second and two retries; every scenario's session starts in the
module fixture, so the module waits for one expiry only. The relying party
is scripts/webhook_receiver.py; its logout tokens are checked with jwcrypto
against /jwks."""

import importlib.util
import json
import secrets
import time
from urllib.parse import parse_qs

import pytest
from jwcrypto import jwt

from conftest import REPO, free_port
from oidc import Browser, code_flow, exchange, jwks, make_client, make_user, psql_flow, verify_jwt, wait_for

EVENT = "http://schemas.openid.net/event/backchannel-logout"
SESSION_TTL = 60

_spec = importlib.util.spec_from_file_location("webhook_receiver", REPO / "scripts" / "webhook_receiver.py")
webhook_receiver = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(webhook_receiver)


def restart_flow(stack, env):
    stack.stop_all("flow")
    stack.start("flow", env)
    stack.wait_ready()


def sign_in(stack, browser, client, username):
    """A code flow in browser's session; the ID token's verified claims."""
    client_id, secret, redirect_uri = client
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, username)
    r = exchange(stack, p["code"], params, client_id, secret)
    assert r.status_code == 200, r.text
    return verify_jwt(stack, r.json()["id_token"])[1]


def rows_since(stack, first_id):
    """status|attempts|last_error of the back-channel rows from first_id on."""
    out = psql_flow(stack, "SELECT status || '|' || attempts || '|' || COALESCE(last_error, '') "
                           f"FROM flow.outbox WHERE kind = 'backchannel' AND id >= {first_id} ORDER BY id")
    return out.splitlines() if out else []


@pytest.fixture(scope="module")
def expiring(stack):
    """Three clients (one listening, one whose RP is down, one without a
    backchannel_logout_uri) and two sessions that expire SESSION_TTL
    seconds after they start: `told` served the listening client and the
    client without a URI, `down` the client whose RP is down."""
    receiver = webhook_receiver.Receiver("unused-secret-0123456789").start()
    restart_flow(stack, {"OSTIARY_SESSION_TTL": str(SESSION_TTL), "OSTIARY_JANITOR_INTERVAL": "1",
                         "OSTIARY_OUTBOX_POLL_MS": "100", "OSTIARY_OUTBOX_RETRIES": "2"})
    try:
        first_id = int(psql_flow(stack, "SELECT COALESCE(max(id), 0) + 1 FROM flow.outbox"))
        path = f"/bc/{secrets.token_hex(4)}"
        listening = make_client(stack, backchannel_logout_uri=receiver.url(path))
        down = make_client(stack, backchannel_logout_uri=f"http://127.0.0.1:{free_port()}/bc/down")
        plain = make_client(stack)
        told_user, told_sub = make_user(stack)
        down_user, _ = make_user(stack)
        one, two = Browser(stack), Browser(stack)
        try:
            told = sign_in(stack, one, listening, told_user)
            assert sign_in(stack, one, plain, told_user)["sid"] == told["sid"]
            down_claims = sign_in(stack, two, down, down_user)
        finally:
            one.close()
            two.close()
        yield {"receiver": receiver, "path": path, "listening": listening, "down": down, "told": told,
               "told_sub": told_sub, "down_claims": down_claims, "first_id": first_id}
    finally:
        receiver.stop()
        stack.stop_all("flow")
        stack.ensure("flow")
        stack.wait_ready()


def _wait_expiry(what, predicate):
    # The session's lifetime, a janitor round, an outbox poll and a delivery.
    return wait_for(what, predicate, timeout=SESSION_TTL + 90, step=0.2)


def test_expired_session_sends_its_clients_a_logout_token(stack, expiring):
    receiver, path, told = expiring["receiver"], expiring["path"], expiring["told"]
    hits = _wait_expiry("the logout token of the expired session", lambda: receiver.hits(path))
    assert len(hits) == 1, hits
    entry = hits[0]
    assert entry["method"] == "POST"
    assert entry["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(entry["body"], strict_parsing=True)
    assert list(form) == ["logout_token"] and len(form["logout_token"]) == 1
    token = form["logout_token"][0]
    client_id = expiring["listening"][0]
    # Checked by jwcrypto against the published keys, never by our code.
    t = jwt.JWT(jwt=token, key=jwks(stack), algs=["RS256"],
                check_claims={"iss": stack.base_url, "aud": client_id, "exp": None})
    header, claims = json.loads(t.header), json.loads(t.claims)
    assert header["typ"] == "logout+jwt"
    assert claims["iss"] == stack.base_url and claims["aud"] == client_id
    assert claims["sub"] == expiring["told_sub"] == told["sub"]
    assert claims["sid"] == told["sid"]
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    # Signed when it was delivered, after the session's end: not when the
    # session began.
    assert claims["iat"] >= told["auth_time"] + SESSION_TTL
    assert claims["exp"] - claims["iat"] == 120 and claims["exp"] > time.time()
    queued = psql_flow(stack, "SELECT logout_queued_at IS NOT NULL AND revoked_at IS NULL FROM flow.sessions"
                              f" WHERE sid = '{told['sid']}'")
    assert queued == "t"
    # Its row, and that of the client without a URI (nothing to deliver),
    # end sent after one attempt.
    _wait_expiry("the rows of the told session sent",
                 lambda: sorted(rows_since(stack, expiring["first_id"])).count("sent|1|") == 2)


def test_relying_party_that_is_down_gets_retries_then_a_dead_letter(stack, expiring):
    rows = _wait_expiry("the dead letter", lambda: [r for r in rows_since(stack, expiring["first_id"])
                                                    if r.startswith("dead|")])
    # One attempt and the two retries OSTIARY_OUTBOX_RETRIES allows here.
    assert rows == ["dead|3|the client's backchannel_logout_uri failed"], rows


def test_an_expired_session_is_told_once(stack, expiring):
    receiver, path = expiring["receiver"], expiring["path"]
    # By the dead letter the janitor has run a round every second for a
    # while since the first delivery: none queued the sessions again.
    _wait_expiry("the dead letter", lambda: any(r.startswith("dead|")
                                                for r in rows_since(stack, expiring["first_id"])))
    _wait_expiry("the first delivery", lambda: receiver.hits(path))
    rows = rows_since(stack, expiring["first_id"])
    assert sorted(r.split("|")[0] for r in rows) == ["dead", "sent", "sent"], rows
    assert len(receiver.hits(path)) == 1
    for sid in (expiring["told"]["sid"], expiring["down_claims"]["sid"]):
        assert psql_flow(stack, "SELECT count(*) FROM flow.sessions WHERE sid = '" + sid + "'"
                                " AND logout_queued_at IS NOT NULL") == "1"
