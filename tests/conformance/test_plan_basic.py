"""oidcc-basic-certification-test-plan and, with response_mode=form_post,
oidcc-formpost-basic-certification-test-plan: one test per module, named
after it, run with client_secret_basic and client_secret_post
(tests/conformance/modules.py says what each module checks)."""

import base64
import json
import secrets
import time

import pytest

from modules import BASIC_VARIANTS
from oidc import psql_flow, wait_second_after
from rp import RP, UI_ERRORS, jwt_parts


@pytest.fixture(params=BASIC_VARIANTS, ids=str)
def variant(request):
    return request.param


@pytest.fixture
def rp(stack, variant):
    r = RP(stack, variant)
    yield r
    r.close()


def psql_token(stack, sql):
    """One statement as token-svc's own role (schema token)."""
    import shutil
    import subprocess
    conninfo = stack.env.get("OSTIARY_DB_TOKEN")
    if not conninfo or not shutil.which("psql"):
        pytest.skip("no conninfo of the token database or no psql")
    cp = subprocess.run(["psql", conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def server_test(rp):
    params, cb, tokens, claims = rp.login_flow()
    info = rp.check_userinfo(rp.userinfo(tokens["access_token"]), claims)
    return params, tokens, claims, info


def test_oidcc_server(rp):
    server_test(rp)


def test_oidcc_response_type_missing(rp, conformance):
    params = rp.auth_params(response_type=None)
    cb = rp.authorize(params)
    if cb is None:
        # The suite accepts an error page too, on a screenshot.
        assert rp.last.status_code >= 400 and "Location" not in rp.last.headers, rp.last.status_code
        conformance.review("an error page instead of a redirect")
        return
    rp.check_error(cb, params, allowed=("invalid_request", "unsupported_response_type"))


def test_oidcc_idtoken_signature(rp):
    _, _, tokens, _ = rp.login_flow()
    header, _ = jwt_parts(tokens["id_token"])
    assert header["alg"] != "none" and header.get("kid")
    # check_id_token verified the signature with the JWKS key of that kid.


def test_oidcc_idtoken_unsigned(rp):
    algs = rp.discovery.get("id_token_signing_alg_values_supported", [])
    if "none" not in algs:
        pytest.skip("The discovery endpoint 'id_token_signing_alg_values_supported' doesn't support "
                    "'none' algorithm; this cannot be tested (which is acceptable for certification, "
                    "servers are not required to support 'none')")
    pytest.fail("the provider lists alg none for ID tokens: this harness has no unsigned flow")


def test_oidcc_userinfo_get(rp):
    _, tokens, claims, _ = server_test(rp)


def test_oidcc_userinfo_post_header(rp):
    _, _, tokens, claims = rp.login_flow()
    rp.check_userinfo(rp.userinfo(tokens["access_token"], "post-header"), claims)


def test_oidcc_userinfo_post_body(rp):
    _, _, tokens, claims = rp.login_flow()
    rp.check_userinfo(rp.userinfo(tokens["access_token"], "post-body"), claims)


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(rp):
    params, cb, tokens, claims = rp.login_flow(nonce=False)
    assert "nonce" not in params and "nonce" not in claims


def scope_test(rp, conformance, scope, wanted):
    supported = rp.discovery.get("scopes_supported", [])
    missing = [s for s in scope.split() if s not in supported]
    if missing:
        pytest.skip("scopes_supported from the discovery endpoint indicates the server doesn't support "
                    "the scopes required for this test; so the test has been skipped")
    _, _, tokens, claims = rp.login_flow(scope=scope)
    info = rp.check_userinfo(rp.userinfo(tokens["access_token"]), claims)
    absent = [c for c in wanted if c not in info]
    if absent:
        conformance.warn(f"/userinfo returned none of {', '.join(absent)} for scope '{scope}'")
    return info


def test_oidcc_scope_profile(rp, conformance):
    scope_test(rp, conformance, "openid profile", ["name", "given_name", "family_name"])


def test_oidcc_scope_email(rp, conformance):
    scope_test(rp, conformance, "openid email", ["email", "email_verified"])


def test_oidcc_scope_address(rp, conformance):
    scope_test(rp, conformance, "openid address", ["address"])


def test_oidcc_scope_phone(rp, conformance):
    scope_test(rp, conformance, "openid phone", ["phone_number", "phone_number_verified"])


def test_oidcc_scope_all(rp, conformance):
    scope_test(rp, conformance, "openid profile email address phone",
               ["name", "email", "email_verified", "address", "phone_number", "phone_number_verified"])


def test_oidcc_ensure_other_scope_order_succeeds(rp):
    rp.login_flow(scope="email openid")


def display_test(rp, conformance, display):
    params = rp.auth_params(display=display)
    cb = rp.authorize(params)
    assert cb is not None and cb.saw_login, "no login page for a browser without a session"
    conformance.review(f"the login page shown for display={display}")
    code = rp.check_success(cb, params)
    tokens = rp.exchange(code, params)
    rp.check_id_token(tokens["id_token"], params, access_token=tokens["access_token"])


def test_oidcc_display_page(rp, conformance):
    display_test(rp, conformance, "page")


def test_oidcc_display_popup(rp, conformance):
    display_test(rp, conformance, "popup")


def test_oidcc_prompt_login(rp, conformance):
    _, _, _, first = rp.login_flow()
    wait_second_after(first.get("auth_time", int(time.time())))
    params = rp.auth_params(prompt="login")
    cb = rp.authorize(params)
    assert cb is not None and cb.saw_login, "prompt=login did not show the login page again"
    conformance.review("the second login page, asked by prompt=login")
    tokens = rp.exchange(rp.check_success(cb, params), params)
    second = rp.check_id_token(tokens["id_token"], params, access_token=tokens["access_token"])
    if "auth_time" in first and "auth_time" in second:
        assert second["auth_time"] != first["auth_time"], "auth_time is the same after prompt=login"


def test_oidcc_prompt_none_not_logged_in(rp):
    params = rp.auth_params(prompt="none")
    cb = rp.authorize(params, login=False)
    assert cb is not None and not cb.saw_login, "prompt=none showed a page"
    rp.check_error(cb, params, allowed=UI_ERRORS)


def same_auth_twice(rp, **second_extra):
    """A login, then a second authorization that must succeed without a page."""
    _, _, tokens1, first = rp.login_flow()
    params = rp.auth_params(**{k: (v(tokens1) if callable(v) else v) for k, v in second_extra.items()})
    cb = rp.authorize(params, login=False)
    assert cb is not None and not cb.saw_login, "the second authorization showed the login page"
    tokens = rp.exchange(rp.check_success(cb, params), params)
    second = rp.check_id_token(tokens["id_token"], params, access_token=tokens["access_token"])
    assert second["sub"] == first["sub"], "sub differs between the two ID tokens"
    if "auth_time" in first or "auth_time" in second:
        assert first.get("auth_time") == second.get("auth_time"), "auth_time differs without a new login"
    return first, second


def test_oidcc_prompt_none_logged_in(rp):
    same_auth_twice(rp, prompt="none")


def test_oidcc_max_age_1(rp, conformance):
    _, _, _, first = rp.login_flow()
    # The suite waits so that the login is older than max_age; here until
    # the clock is two whole seconds past it.
    t = first.get("auth_time", int(time.time()))
    wait_second_after(t + 1)
    params = rp.auth_params(max_age="1")
    cb = rp.authorize(params)
    assert cb is not None and cb.saw_login, "max_age=1 did not ask for a new login"
    conformance.review("the second login page, asked by max_age=1")
    tokens = rp.exchange(rp.check_success(cb, params), params)
    second = rp.check_id_token(tokens["id_token"], params, access_token=tokens["access_token"])
    assert "auth_time" in second, "no auth_time in the ID token though max_age was sent (Core §2)"
    if "auth_time" in first:
        assert second["auth_time"] > first["auth_time"], "the second auth_time is not later"
    assert abs(second["auth_time"] - time.time()) < 60, "auth_time is not recent"


def test_oidcc_max_age_10000(rp):
    first, second = same_auth_twice(rp, max_age="10000")
    assert "auth_time" in second, "no auth_time in the ID token though max_age was sent (Core §2)"


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(rp):
    rp.login_flow(extra_parameter_for_conformance=secrets.token_hex(4))


def test_oidcc_id_token_hint(rp):
    same_auth_twice(rp, prompt="none", id_token_hint=lambda t: t["id_token"])


def test_oidcc_login_hint(rp, conformance):
    params = rp.auth_params(login_hint=rp.username)
    cb = rp.authorize(params, login=False)
    assert cb.saw_login, "no login page for a browser without a session"
    if rp.username not in rp.login_page.text:
        conformance.warn("the login page does not offer the login_hint")
    cb = rp.authorize(params)
    tokens = rp.exchange(rp.check_success(cb, params), params)
    rp.check_id_token(tokens["id_token"], params, access_token=tokens["access_token"])


def test_oidcc_ui_locales(rp, conformance):
    _, _, tokens, claims = rp.login_flow(ui_locales="se")
    conformance.review("the login page for ui_locales=se (the pages are in English only)")


def test_oidcc_claims_locales(rp):
    _, _, tokens, claims = rp.login_flow(claims_locales="se", scope="openid profile")
    rp.check_userinfo(rp.userinfo(tokens["access_token"]), claims)


def test_oidcc_ensure_request_with_acr_values_succeeds(rp, conformance):
    values = rp.discovery.get("acr_values_supported") or ["1", "2"]
    _, _, _, claims = rp.login_flow(acr_values=" ".join(values))
    if claims.get("acr") not in values:
        conformance.warn(f"the ID token's acr ({claims.get('acr')!r}) is none of the values asked "
                         f"({' '.join(values)}), which the specification only recommends")


def reuse(rp):
    params = rp.auth_params()
    cb = rp.authorize(params)
    code = rp.check_success(cb, params)
    tokens = rp.exchange(code, params)
    rp.check_id_token(tokens["id_token"], params, access_token=tokens["access_token"])
    return params, code, tokens


def test_oidcc_codereuse(rp):
    params, code, _ = reuse(rp)
    r = rp.token_request({"grant_type": "authorization_code", "code": code,
                          "redirect_uri": params["redirect_uri"]})
    rp.check_token_error(r, "invalid_grant")


def test_oidcc_codereuse_30seconds(stack, rp, conformance):
    params, code, tokens = reuse(rp)
    # The suite waits 30 s: the code (valid for OSTIARY_CODE_TTL, 60 s by
    # default) is still within its lifetime, and its first use is 30 s in
    # the past. token-svc compares those stored times with the database's
    # clock, so moving them 30 s back is the same as waiting.
    n = psql_token(stack, "WITH aged AS (UPDATE token.codes SET created_at = created_at - interval '30 s', "
                          "expires_at = expires_at - interval '30 s', "
                          "consumed_at = consumed_at - interval '30 s' "
                          f"WHERE code_hash = sha256(convert_to('{code}', 'UTF8')) AND consumed_at IS NOT NULL "
                          "AND expires_at - interval '30 s' > now() RETURNING 1) SELECT count(*) FROM aged")
    assert n == "1", f"{n} codes aged (the code's lifetime must outlast 30 s)"
    r = rp.token_request({"grant_type": "authorization_code", "code": code,
                          "redirect_uri": params["redirect_uri"]})
    rp.check_token_error(r, "invalid_grant")
    # RFC 6749 §4.1.2: the tokens of the code SHOULD be revoked.
    u = rp.userinfo(tokens["access_token"])
    if u.status_code == 200:
        conformance.warn("the access token of the reused code still works at /userinfo")
    else:
        assert u.status_code == 401, u.status_code


def test_oidcc_ensure_registered_redirect_uri(rp, conformance):
    bad = rp.redirect_uri + "/not-registered-" + secrets.token_hex(3)
    params = rp.auth_params(redirect_uri=bad)
    r = rp.browser.authorize(params)
    loc = r.headers.get("Location", "")
    assert not loc.startswith(bad), "the provider redirected to an unregistered redirect_uri"
    assert r.status_code == 400, (r.status_code, loc)
    assert r.headers.get("Content-Type", "").startswith("text/html")
    conformance.review("the error page for the unregistered redirect_uri")


def test_oidcc_ensure_post_request_succeeds(rp):
    params = rp.auth_params()
    cb = rp.authorize(params, method="POST")
    tokens = rp.exchange(rp.check_success(cb, params), params)
    rp.check_id_token(tokens["id_token"], params, access_token=tokens["access_token"])


def test_oidcc_server_client_secret_post(stack, variant):
    from modules import Variant
    r = RP(stack, Variant(variant.plan, "client_secret_post", variant.response_mode))
    try:
        server_test(r)
    finally:
        r.close()


def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(rp):
    if "none" not in rp.discovery.get("request_object_signing_alg_values_supported", []):
        pytest.skip("none is not listed in the discovery document's "
                    "request_object_signing_alg_values_supported")
    # The suite runs this module with dynamic clients only; its request
    # object sits at a URL of the suite. Here the object's URL is one the
    # provider cannot fetch: a provider without request_uri support answers
    # request_uri_not_supported before fetching anything.
    inner = rp.auth_params()
    params = {"client_id": rp.client_id, "response_type": "code", "scope": "openid",
              "redirect_uri": rp.redirect_uri,
              "request_uri": f"https://rp.example/request/{secrets.token_hex(8)}.jwt"}
    if rp.variant.response_mode != "default":
        params["response_mode"] = rp.variant.response_mode
    cb = rp.authorize(params)
    if cb is not None and cb.params.get("error") == "request_uri_not_supported":
        pytest.skip("The 'request_uri_not_supported' error from the authorization endpoint indicates that "
                    "it does not support request_uri (which is permitted behaviour), so request_uri "
                    "cannot be tested.")
    pytest.fail(f"neither processed nor request_uri_not_supported: {cb and cb.params} {inner}")


def unsigned_request_object(rp, params):
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    body = dict(params, iss=rp.client_id, aud=rp.issuer)
    return f"{enc({'alg': 'none'})}.{enc(body)}."


def request_object_flow(rp, outer_extra=None):
    """The suite's request object modules: the request moved into an
    unsigned object (with iss and aud), the query keeping client_id,
    response_type and scope (OpenID Connect Core §6.1)."""
    if "none" not in rp.discovery.get("request_object_signing_alg_values_supported", []):
        pytest.skip("The server discovery document does not indicate support for unsigned request "
                    "objects (alg none in request_object_signing_alg_values_supported)")
    inner = rp.auth_params()
    outer = {"client_id": rp.client_id, "response_type": "code", "scope": "openid",
             "request": unsigned_request_object(rp, inner)}
    outer.update(outer_extra or {})
    cb = rp.authorize(outer, redirect_uri=inner["redirect_uri"])
    if cb is not None and cb.params.get("error") == "request_not_supported":
        pytest.skip("The response from the authorization endpoint indicates that it does not support "
                    "request objects, so request objects cannot be tested.")
    # The object was processed: its state and nonce are the ones used.
    tokens = rp.exchange(rp.check_success(cb, inner), inner)
    rp.check_id_token(tokens["id_token"], inner, access_token=tokens["access_token"])


def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(rp):
    request_object_flow(rp)


def test_oidcc_claims_essential(rp, conformance):
    claims_param = json.dumps({"userinfo": {"name": {"essential": True}}})
    _, _, tokens, claims = rp.login_flow(claims=claims_param)
    info = rp.check_userinfo(rp.userinfo(tokens["access_token"]), claims)
    if "name" not in info:
        conformance.warn("/userinfo has no name though the claims parameter asked for it as essential"
                         + ("" if rp.discovery.get("claims_parameter_supported") else
                            " (claims_parameter_supported is false)"))
    if "name" in claims:
        conformance.warn("the ID token has name, which was asked for userinfo only")


def test_oidcc_ensure_request_object_with_redirect_uri(rp):
    # A redirect_uri in the query that is not registered: the object's one
    # must be the one used.
    request_object_flow(rp, {"redirect_uri": rp.redirect_uri + "/invalid-" + secrets.token_hex(3)})


def test_oidcc_refresh_token(stack, rp, variant, conformance):
    def with_refresh(r):
        params, cb, tokens, claims = r.login_flow(scope="openid offline_access", prompt="consent")
        return params, tokens, claims

    params, tokens, first = with_refresh(rp)
    if not tokens.get("refresh_token"):
        pytest.skip("Refresh tokens cannot be tested. No refresh token was issued.")
    if "refresh_token" not in rp.discovery.get("grant_types_supported", []):
        conformance.warn("a refresh token was issued but grant_types_supported does not list refresh_token")
    assert all(0x20 <= ord(c) <= 0x7e for c in tokens["refresh_token"]), "refresh_token has characters "\
        "outside VSCHAR (RFC 6749 A.17)"
    r = rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, (r.status_code, r.text[:300])
    body = r.json()
    assert body.get("access_token") and str(body.get("token_type", "")).lower() == "bearer", body
    if "id_token" in body:
        # OpenID Connect Core §12.2: same iss, sub, aud (and auth_time);
        # no nonce is required.
        second = rp.check_id_token(body["id_token"], {}, access_token=body["access_token"], expect_nonce=False)
        for c in ("iss", "sub", "aud"):
            assert second[c] == first[c], (c, second[c], first[c])
        if "auth_time" in first:
            assert second.get("auth_time") == first["auth_time"], "auth_time changed on refresh"
    rp.check_userinfo(rp.userinfo(body["access_token"]), first)
    # A second client: its refresh token is refused to the first.
    other = RP(stack, variant, fresh=True)
    try:
        _, tokens2, _ = with_refresh(other)
        assert tokens2.get("refresh_token"), "the second client got no refresh token"
        r = rp.token_request({"grant_type": "refresh_token", "refresh_token": tokens2["refresh_token"]})
        rp.check_token_error(r, "invalid_grant")
    finally:
        other.close()


def test_oidcc_ensure_request_with_valid_pkce_succeeds(rp):
    import base64
    import hashlib
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = rp.auth_params(code_challenge=challenge, code_challenge_method="S256")
    cb = rp.authorize(params)
    tokens = rp.exchange(rp.check_success(cb, params), params, extra={"code_verifier": verifier})
    rp.check_id_token(tokens["id_token"], params, access_token=tokens["access_token"])
