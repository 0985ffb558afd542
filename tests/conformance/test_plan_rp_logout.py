"""oidcc-rp-initiated-logout-certification-test-plan (OpenID Connect
RP-Initiated Logout 1.0)."""

import base64
import json

import pytest

from modules import RP_LOGOUT_DISCOVERY, RP_LOGOUT_VARIANTS
from rp import LogoutRP, jwt_parts


@pytest.fixture(params=RP_LOGOUT_VARIANTS, ids=str)
def variant(request):
    return request.param


@pytest.fixture
def rp(stack, variant):
    r = LogoutRP(stack, variant)
    yield r
    r.close()


def signed_in(rp):
    _, _, tokens, claims = rp.login_flow()
    return tokens["id_token"], claims


def test_oidcc_rp_initiated_logout_discovery_endpoint_verification(stack, http):
    doc = http.get(stack.base_url + "/.well-known/openid-configuration", timeout=10).json()
    end = doc.get("end_session_endpoint")
    assert isinstance(end, str) and end, "end_session_endpoint is missing"
    assert end.startswith(doc["issuer"].split("://")[0] + "://"), end


test_oidcc_rp_initiated_logout_discovery_endpoint_verification.variant = RP_LOGOUT_DISCOVERY


def test_oidcc_rp_initiated_logout(rp):
    hint, _ = signed_in(rp)
    state = rp.long_state()
    r = rp.logout({"id_token_hint": hint, "post_logout_redirect_uri": rp.post_logout_uri, "state": state})
    rp.check_post_logout_redirect(r, state)
    rp.check_logged_out()


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(rp, conformance):
    hint, _ = signed_in(rp)
    bad = rp.post_logout_uri + "/not-registered"
    r = rp.logout({"id_token_hint": hint, "post_logout_redirect_uri": bad, "state": rp.long_state()})
    assert not r.headers.get("Location", "").startswith(bad), "redirected to an unregistered URI"
    rp.check_not_redirected(r)
    assert r.status_code in (200, 400), r.status_code
    conformance.review("the error page for the unregistered post_logout_redirect_uri")


def test_oidcc_rp_initiated_logout_modified_id_token_hint(rp, conformance):
    hint, _ = signed_in(rp)
    header, claims = jwt_parts(hint)
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    header["alg"] = "none"
    forged = f"{enc(header)}.{enc(claims)}."
    r = rp.logout({"id_token_hint": forged, "post_logout_redirect_uri": rp.post_logout_uri,
                   "state": rp.long_state()})
    rp.check_not_redirected(r)
    assert r.status_code in (200, 400), r.status_code
    conformance.review("the error page for the alg none id_token_hint")


def test_oidcc_rp_initiated_logout_no_id_token_hint(rp, conformance):
    signed_in(rp)
    r = rp.logout({"post_logout_redirect_uri": rp.post_logout_uri, "state": rp.long_state()})
    rp.check_not_redirected(r)
    assert r.status_code in (200, 400), r.status_code
    conformance.review("the error page (or confirmation) for a logout without id_token_hint")


def logged_out_after_confirmation(rp, params, conformance):
    signed_in(rp)
    r = rp.logout(params)
    rp.check_not_redirected(r)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    if "<form" in r.text:
        r = rp.confirm(r)
        if r.status_code in (302, 303) and r.headers["Location"].startswith(rp.issuer):
            r = rp.browser.get(r.headers["Location"])
        rp.check_not_redirected(r)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    conformance.review("the logged-out page")
    rp.check_logged_out()


def test_oidcc_rp_initiated_logout_no_params(rp, conformance):
    logged_out_after_confirmation(rp, {}, conformance)


def test_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(rp, conformance):
    hint, _ = signed_in(rp)
    r = rp.logout({"id_token_hint": hint, "state": rp.long_state()})
    rp.check_not_redirected(r)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    conformance.review("the logged-out page")
    rp.check_logged_out()


def test_oidcc_rp_initiated_logout_no_state(rp):
    hint, _ = signed_in(rp)
    r = rp.logout({"id_token_hint": hint, "post_logout_redirect_uri": rp.post_logout_uri})
    rp.check_post_logout_redirect(r, None)
    rp.check_logged_out()


def test_oidcc_rp_initiated_logout_only_state(rp, conformance):
    logged_out_after_confirmation(rp, {"state": rp.long_state()}, conformance)
