"""oidcc-backchannel-rp-initiated-logout-certification-test-plan (OpenID
Connect Back-Channel Logout 1.0). The client's backchannel_logout_uri is
scripts/webhook_receiver.py, run in this process."""

import importlib.util
import json
import secrets
import time
from urllib.parse import parse_qs

import pytest
from jwcrypto import jws

from conftest import REPO
from modules import BC_LOGOUT_DISCOVERY, BC_LOGOUT_VARIANTS
from rp import LogoutRP, jwt_parts

EVENT = "http://schemas.openid.net/event/backchannel-logout"

_spec = importlib.util.spec_from_file_location("webhook_receiver", REPO / "scripts" / "webhook_receiver.py")
webhook_receiver = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(webhook_receiver)


@pytest.fixture(scope="module")
def receiver():
    r = webhook_receiver.Receiver("unused-secret-0123456789").start()
    yield r
    r.stop()


@pytest.fixture(params=BC_LOGOUT_VARIANTS, ids=str)
def variant(request):
    return request.param


def test_oidcc_backchannel_rp_initiated_logout_discovery_endpoint_verification(stack, http):
    doc = http.get(stack.base_url + "/.well-known/openid-configuration", timeout=10).json()
    assert doc.get("backchannel_logout_supported") is True, "backchannel_logout_supported is not true"
    if "backchannel_logout_session_supported" in doc:
        assert isinstance(doc["backchannel_logout_session_supported"], bool)
    assert doc.get("end_session_endpoint"), "end_session_endpoint is missing"


test_oidcc_backchannel_rp_initiated_logout_discovery_endpoint_verification.variant = BC_LOGOUT_DISCOVERY


def check_logout_token(rp, token, id_claims):
    header, claims = jwt_parts(token)
    assert header.get("alg") and header["alg"] != "none", header
    key = rp.fetch_jwks().get_key(header.get("kid"))
    assert key is not None, f"no key {header.get('kid')} in the JWKS"
    sig = jws.JWS()
    sig.deserialize(token)
    try:
        sig.verify(key, alg=header["alg"])
    except jws.InvalidJWSSignature:
        raise AssertionError("the logout token's signature does not verify")
    now = time.time()
    assert claims.get("iss") == rp.issuer, ("iss", claims.get("iss"))
    aud = claims.get("aud")
    assert rp.client_id in (aud if isinstance(aud, list) else [aud]), ("aud", aud)
    assert isinstance(claims.get("iat"), int) and abs(claims["iat"] - now) < 300, ("iat", claims.get("iat"))
    if "exp" in claims:
        assert claims["exp"] > now - 300, "the logout token has expired"
    assert isinstance(claims.get("jti"), str) and claims["jti"], "no jti"
    events = claims.get("events")
    assert isinstance(events, dict) and events.get(EVENT) == {}, ("events", events)
    assert "nonce" not in claims, "a logout token must not carry nonce"
    assert "sub" in claims or "sid" in claims, "neither sub nor sid"
    if "sub" in claims:
        assert claims["sub"] == id_claims["sub"], "sub differs from the ID token's"
    if "sid" in claims:
        assert claims["sid"] == id_claims.get("sid"), "sid differs from the ID token's"


def test_oidcc_backchannel_rp_initiated_logout(stack, receiver, variant):
    path = f"/backchannel_logout/{secrets.token_hex(4)}"
    rp = LogoutRP(stack, variant, backchannel_uri=receiver.url(path))
    try:
        _, _, tokens, id_claims = rp.login_flow()
        state = rp.long_state()
        r = rp.logout({"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": rp.post_logout_uri,
                       "state": state})
        rp.check_post_logout_redirect(r, state)
        hits = receiver.wait_for(path, timeout=30)
        assert len(hits) == 1, f"{len(hits)} back-channel requests"
        hit = hits[0]
        assert hit["method"] == "POST"
        assert hit["headers"].get("Content-Type", "").startswith("application/x-www-form-urlencoded")
        form = parse_qs(hit["body"], strict_parsing=True)
        assert list(form) == ["logout_token"] and len(form["logout_token"]) == 1, \
            f"unexpected parameters in the back-channel request: {list(form)}"
        check_logout_token(rp, form["logout_token"][0], id_claims)
        rp.check_logged_out()
    finally:
        rp.close()
