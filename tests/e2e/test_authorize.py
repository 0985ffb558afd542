"""/authorize (OpenID Connect Core §3.1.2, RFC 6749 §4.1, RFC 7636, RFC 9207):
error pages that never redirect, errors that redirect with state and iss,
PKCE, response modes, and the prompt / max_age / id_token_hint matrix."""

import base64
import hashlib
import json
import re
import time
from urllib.parse import urlsplit

import pytest

from oidc import (RP, Browser, assert_page_headers, auth_params, code_flow, exchange, forms,
                  make_client, make_user, pkce, response_params, verify_jwt, wait_second_after)


@pytest.fixture(scope="module")
def client(stack):
    return make_client(stack)


@pytest.fixture(scope="module")
def user(stack):
    return make_user(stack)


@pytest.fixture
def browser(stack):
    b = Browser(stack)
    yield b
    b.close()


def assert_error_page(r, status=400):
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert "Location" not in r.headers
    assert_page_headers(r)


def assert_error_redirect(stack, r, redirect_uri, error, state):
    assert r.status_code == 302, (r.status_code, r.text[:500])
    location = r.headers["Location"]
    assert location.startswith(redirect_uri + "?"), location
    p = response_params(location)
    assert p["error"] == error, p
    assert p["state"] == state
    # RFC 9207 §2: iss on every authorization response, errors included.
    assert p["iss"] == stack.base_url
    return p


# ------------------------------------------------------------ before the redirect URI is known


def test_unknown_client_is_error_page_not_redirect(stack, browser):
    r = browser.authorize(auth_params("no-such-client", RP + "/cb"))
    assert_error_page(r)


def test_unregistered_redirect_uri_is_error_page(stack, browser, client):
    client_id, _, redirect_uri = client
    for other in (redirect_uri + "/x", redirect_uri + "?a=1", redirect_uri.upper(), "https://evil.example/cb"):
        r = browser.authorize(auth_params(client_id, other))
        assert_error_page(r)


def test_missing_redirect_uri_with_several_registered_is_error_page(stack, browser):
    client_id, _, _ = make_client(stack, redirect_uris=[RP + "/one", RP + "/two"])
    params = auth_params(client_id, "x")
    del params["redirect_uri"]
    r = browser.authorize(params)
    assert_error_page(r)


def test_missing_redirect_uri_with_one_registered_is_accepted(stack, browser, client):
    client_id, _, _ = client
    params = auth_params(client_id, "x")
    del params["redirect_uri"]
    verifier, challenge = pkce()
    params.update(code_challenge=challenge, code_challenge_method="S256")
    r = browser.authorize(params)
    assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/login"


def test_error_page_escapes_what_it_echoes(stack, browser):
    r = browser.authorize(auth_params("<script>alert(1)</script>", RP + "/cb"))
    assert_error_page(r)
    assert "<script>alert" not in r.text


def test_malformed_query_is_error_page(stack, browser):
    r = browser.get(stack.base_url + "/authorize?client_id=%zz")
    assert_error_page(r)


# ------------------------------------------------------------ errors sent to the client


def test_unsupported_response_type_redirects_with_state_and_iss(stack, browser, client):
    client_id, _, redirect_uri = client
    params = auth_params(client_id, redirect_uri, response_type="token")
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "unsupported_response_type",
                          params["state"])


def test_unknown_scope_is_invalid_scope(stack, browser, client):
    client_id, _, redirect_uri = client
    params = auth_params(client_id, redirect_uri, scope="openid superpowers")
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "invalid_scope", params["state"])


def test_missing_openid_scope_is_invalid_scope(stack, browser, client):
    client_id, _, redirect_uri = client
    params = auth_params(client_id, redirect_uri, scope="profile email")
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "invalid_scope", params["state"])


def unsigned_object(claims, header=None):
    """A request object: base64url(JSON) parts, an empty signature."""
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc(header or {'alg': 'none'})}.{enc(claims)}."


def test_signed_request_object_is_invalid_request_object(stack, browser, client):
    client_id, _, redirect_uri = client
    signed = unsigned_object({"scope": "openid"}, {"alg": "RS256"}) + "c2ln"
    params = auth_params(client_id, redirect_uri, request=signed)
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "invalid_request_object",
                          params["state"])


def test_unsigned_request_object_is_the_request(stack, browser, client, user):
    """OpenID Connect Core §6.1, §6.3.3: the object's parameters win over the
    query's (here a redirect_uri that is not even registered, and another
    state and nonce), and the whole flow runs with them."""
    client_id, secret, redirect_uri = client
    verifier, challenge = pkce()
    inner = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
             "scope": "openid email", "state": "state-of-the-object", "nonce": "nonce-of-the-object",
             "code_challenge": challenge, "code_challenge_method": "S256", "iss": client_id,
             "aud": stack.base_url, "max_age": 3600}
    outer = {"client_id": client_id, "response_type": "code", "scope": "openid",
             "redirect_uri": RP + "/not-registered", "state": "state-of-the-query",
             "request": unsigned_object(inner)}
    r = browser.authorize(outer)
    assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/login", r.headers
    r = browser.login(r, user[0])
    if r.headers.get("Location") == stack.base_url + "/consent":
        r = browser.consent(r)
    assert r.status_code in (302, 303), r.text[:300]
    assert r.headers["Location"].startswith(redirect_uri + "?"), r.headers["Location"]
    p = response_params(r.headers["Location"])
    assert p["state"] == "state-of-the-object"
    t = exchange(stack, p["code"], {"redirect_uri": redirect_uri, "code_verifier": verifier}, client_id, secret)
    assert t.status_code == 200, t.text
    _, claims = verify_jwt(stack, t.json()["id_token"])
    assert claims["nonce"] == "nonce-of-the-object"
    assert "auth_time" in claims  # max_age, from the object as a number
    _, at = verify_jwt(stack, t.json()["access_token"])
    assert at["scope"].split() == ["openid", "email"]


def test_request_object_for_another_client_is_refused(stack, browser, client):
    client_id, _, redirect_uri = client
    params = auth_params(client_id, redirect_uri, request=unsigned_object({"client_id": "another-client"}))
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "invalid_request_object",
                          params["state"])


def test_request_uri_is_request_uri_not_supported(stack, browser, client):
    client_id, _, redirect_uri = client
    params = auth_params(client_id, redirect_uri, request_uri="https://rp.example/req.jwt")
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "request_uri_not_supported",
                          params["state"])


def test_repeated_parameter_is_invalid_request(stack, browser, client):
    client_id, _, redirect_uri = client
    params = auth_params(client_id, redirect_uri)
    query = "&".join(f"{k}={v}" for k, v in params.items()) + "&scope=openid"
    r = browser.get(stack.base_url + "/authorize?" + query.replace(" ", "+"))
    assert_error_redirect(stack, r, redirect_uri, "invalid_request", params["state"])


def test_public_client_without_code_challenge_is_invalid_request(stack, browser):
    client_id, _, redirect_uri = make_client(stack, type="public")
    params = auth_params(client_id, redirect_uri, code_challenge=None, code_challenge_method=None)
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "invalid_request", params["state"])


def test_plain_code_challenge_method_is_invalid_request(stack, browser, client):
    client_id, _, redirect_uri = client
    params = auth_params(client_id, redirect_uri, code_challenge="a" * 43, code_challenge_method="plain")
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "invalid_request", params["state"])


def test_prompt_none_combined_with_login_is_invalid_request(stack, browser, client):
    client_id, _, redirect_uri = client
    params = auth_params(client_id, redirect_uri, prompt="none login")
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "invalid_request", params["state"])


def test_error_redirect_keeps_the_query_of_the_redirect_uri(stack, browser):
    redirect_uri = RP + "/cb?tenant=a%20b&x=1"
    client_id, _, _ = make_client(stack, redirect_uris=[redirect_uri])
    params = auth_params(client_id, redirect_uri, response_type="token")
    r = browser.authorize(params)
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith(redirect_uri + "&"), location
    p = response_params(location)
    assert p["tenant"] == "a b" and p["x"] == "1" and p["error"] == "unsupported_response_type"


# ------------------------------------------------------------ successful responses


def test_state_of_128_characters_is_echoed_byte_for_byte(stack, browser, client, user):
    client_id, _, redirect_uri = client
    state = ("aZ09-._~!$'()*,;:@/?" * 8)[:128] + "é &=+%"
    params, r, p = code_flow(stack, browser, client_id, redirect_uri, user[0], state=state)
    assert p["state"] == state
    assert p["iss"] == stack.base_url
    assert p["code"]


def test_post_authorize_works_like_get(stack, client, user):
    client_id, _, redirect_uri = client
    b = Browser(stack)
    try:
        verifier, challenge = pkce()
        params = auth_params(client_id, redirect_uri, code_challenge=challenge, code_challenge_method="S256")
        r = b.authorize(params, method="POST")
        r = b.login(r, user[0])
        assert r.status_code == 303
        assert response_params(r.headers["Location"])["state"] == params["state"]
    finally:
        b.close()


def test_response_mode_fragment_puts_params_in_fragment(stack, browser, client, user):
    client_id, _, redirect_uri = client
    _, r, _ = code_flow(stack, browser, client_id, redirect_uri, user[0], response_mode="fragment")
    parts = urlsplit(r.headers["Location"])
    assert parts.query == ""
    assert "code=" in parts.fragment and "iss=" in parts.fragment


def test_response_mode_form_post_is_auto_submitting_form(stack, browser, client, user):
    client_id, secret, redirect_uri = client
    verifier, challenge = pkce()
    params = auth_params(client_id, redirect_uri, code_challenge=challenge, code_challenge_method="S256",
                         response_mode="form_post")
    r = browser.login(browser.authorize(params), user[0])
    assert r.status_code == 200, r.text[:500]
    assert_page_headers(r)
    form = forms(r.text)[0]
    assert form["method"] == "post" and form["action"] == redirect_uri
    assert set(form["fields"]) >= {"code", "state", "iss"}
    assert form["fields"]["state"] == params["state"]
    # A button for browsers without JavaScript; the script allowed by its hash.
    assert "<button" in r.text
    csp = r.headers["Content-Security-Policy"]
    assert "form-action 'self' https://rp.example" in csp, csp
    script = re.search(r"<script>(.*?)</script>", r.text, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    params["code_verifier"] = verifier
    t = exchange(stack, form["fields"]["code"], params, client_id, secret)
    assert t.status_code == 200, t.text


# ------------------------------------------------------------ prompt, max_age, id_token_hint


def test_prompt_none_without_session_is_login_required(stack, browser, client):
    client_id, _, redirect_uri = client
    params = auth_params(client_id, redirect_uri, prompt="none")
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "login_required", params["state"])


def test_prompt_none_with_session_issues_a_code(stack, browser, client, user):
    client_id, _, redirect_uri = client
    code_flow(stack, browser, client_id, redirect_uri, user[0])
    _, challenge = pkce()
    params = auth_params(client_id, redirect_uri, prompt="none", code_challenge=challenge,
                         code_challenge_method="S256")
    r = browser.authorize(params)
    assert r.status_code == 302, r.text[:500]
    p = response_params(r.headers["Location"])
    assert p.get("code") and p["state"] == params["state"]


def test_prompt_none_without_consent_is_consent_required(stack, browser, user):
    client_id, _, redirect_uri = make_client(stack, first_party=False)
    # A session from a first-party client; no consent for the third-party one.
    own_id, _, own_uri = make_client(stack)
    code_flow(stack, browser, own_id, own_uri, user[0])
    params = auth_params(client_id, redirect_uri, prompt="none")
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "consent_required", params["state"])


def test_prompt_login_forces_new_authentication_and_auth_time_increases(stack, browser, client, user):
    client_id, secret, redirect_uri = client
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, user[0])
    t1 = exchange(stack, p["code"], params, client_id, secret).json()
    auth_time_1 = verify_jwt(stack, t1["id_token"])[1]["auth_time"]
    wait_second_after(auth_time_1)
    verifier, challenge = pkce()
    params = auth_params(client_id, redirect_uri, prompt="login", code_challenge=challenge,
                         code_challenge_method="S256")
    r = browser.authorize(params)
    # A session exists, yet the login page comes back.
    assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/login"
    r = browser.login(r, user[0])
    p = response_params(r.headers["Location"])
    params["code_verifier"] = verifier
    t2 = exchange(stack, p["code"], params, client_id, secret).json()
    auth_time_2 = verify_jwt(stack, t2["id_token"])[1]["auth_time"]
    assert auth_time_2 > auth_time_1


def test_session_is_reused_without_login_page(stack, browser, client, user):
    client_id, _, redirect_uri = client
    code_flow(stack, browser, client_id, redirect_uri, user[0])
    _, challenge = pkce()
    r = browser.authorize(auth_params(client_id, redirect_uri, code_challenge=challenge,
                                      code_challenge_method="S256"))
    assert r.status_code == 302 and response_params(r.headers["Location"]).get("code")


def test_max_age_exceeded_forces_login(stack, browser, client, user):
    client_id, _, redirect_uri = client
    code_flow(stack, browser, client_id, redirect_uri, user[0])
    # The login's auth_time is at most this second; max_age=0 needs a later one.
    wait_second_after(int(time.time()))
    _, challenge = pkce()
    r = browser.authorize(auth_params(client_id, redirect_uri, max_age="0", code_challenge=challenge,
                                      code_challenge_method="S256"))
    assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/login"


def test_max_age_not_exceeded_reuses_session(stack, browser, client, user):
    client_id, _, redirect_uri = client
    code_flow(stack, browser, client_id, redirect_uri, user[0])
    _, challenge = pkce()
    r = browser.authorize(auth_params(client_id, redirect_uri, max_age="3600", code_challenge=challenge,
                                      code_challenge_method="S256"))
    assert r.status_code == 302 and response_params(r.headers["Location"]).get("code")


def test_max_age_exceeded_with_prompt_none_is_login_required(stack, browser, client, user):
    client_id, _, redirect_uri = client
    code_flow(stack, browser, client_id, redirect_uri, user[0])
    # max_age=1: more than a second after the login's auth_time (at most now).
    wait_second_after(int(time.time()) + 1)
    params = auth_params(client_id, redirect_uri, prompt="none", max_age="1")
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "login_required", params["state"])


def test_id_token_hint_of_another_user_with_prompt_none_is_login_required(stack, browser, client, user):
    client_id, secret, redirect_uri = client
    other, _ = make_user(stack)
    # An ID token of `other`, from another browser.
    b2 = Browser(stack)
    try:
        params, _, p = code_flow(stack, b2, client_id, redirect_uri, other)
        hint = exchange(stack, p["code"], params, client_id, secret).json()["id_token"]
    finally:
        b2.close()
    code_flow(stack, browser, client_id, redirect_uri, user[0])
    params = auth_params(client_id, redirect_uri, prompt="none", id_token_hint=hint)
    assert_error_redirect(stack, browser.authorize(params), redirect_uri, "login_required", params["state"])


def test_id_token_hint_of_the_session_user_with_prompt_none_issues_a_code(stack, browser, client, user):
    client_id, secret, redirect_uri = client
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, user[0])
    hint = exchange(stack, p["code"], params, client_id, secret).json()["id_token"]
    _, challenge = pkce()
    params = auth_params(client_id, redirect_uri, prompt="none", id_token_hint=hint, code_challenge=challenge,
                         code_challenge_method="S256")
    r = browser.authorize(params)
    assert r.status_code == 302 and response_params(r.headers["Location"]).get("code")


def test_prompt_select_account_shows_the_account_and_continues(stack, browser, client, user):
    client_id, _, redirect_uri = client
    code_flow(stack, browser, client_id, redirect_uri, user[0])
    _, challenge = pkce()
    params = auth_params(client_id, redirect_uri, prompt="select_account", code_challenge=challenge,
                         code_challenge_method="S256")
    r = browser.authorize(params)
    assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/select-account"
    page = browser.get(r.headers["Location"])
    assert page.status_code == 200
    assert_page_headers(page)
    assert user[0] in page.text
    r = browser.submit(page, choice="continue")
    assert r.status_code == 303, r.text[:500]
    assert response_params(r.headers["Location"])["state"] == params["state"]


def test_prompt_select_account_use_another_account_goes_to_login(stack, browser, client, user):
    client_id, _, redirect_uri = client
    code_flow(stack, browser, client_id, redirect_uri, user[0])
    _, challenge = pkce()
    r = browser.authorize(auth_params(client_id, redirect_uri, prompt="select_account",
                                      code_challenge=challenge, code_challenge_method="S256"))
    page = browser.get(r.headers["Location"])
    r = browser.submit(page, choice="switch")
    assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/login"
    other, _ = make_user(stack)
    r = browser.submit(browser.get(r.headers["Location"]), username=other, password="correct horse battery staple")
    assert r.status_code == 303 and r.headers["Location"].startswith(redirect_uri)
