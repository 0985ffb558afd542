"""POST /token with the authorization_code grant (RFC 6749 §3.2, §4.1.3,
§5; RFC 7636 §4.5): both client authentication methods, public clients with
PKCE, every refusal, code replay, and the ID token and access token checked
with jwcrypto (an independent implementation)."""

import base64
import time
from urllib.parse import quote

import pytest
import requests

from oidc import (Browser, b64url_sha256_half, code_flow, exchange, make_client, make_user, token_request,
                  userinfo, verify_jwt)


@pytest.fixture(scope="module")
def user(stack):
    return make_user(stack)


@pytest.fixture(scope="module")
def basic_client(stack):
    return make_client(stack)


@pytest.fixture
def browser(stack):
    b = Browser(stack)
    yield b
    b.close()


def fresh_code(stack, browser, client, user, **extra):
    client_id, _, redirect_uri = client
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, user[0], **extra)
    return params, p["code"]


def assert_token_error(r, status, code):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    # RFC 6749 §5.2 errors are never cached either.
    assert "no-store" in r.headers.get("Cache-Control", "")
    assert r.headers.get("Pragma") == "no-cache"
    assert r.json()["error"] == code


def assert_tokens(stack, r, client_id, sub, params):
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers["Cache-Control"] and r.headers["Pragma"] == "no-cache"
    t = r.json()
    assert t["token_type"].lower() == "bearer"
    assert isinstance(t["expires_in"], int) and t["expires_in"] > 0
    header, claims = verify_jwt(stack, t["id_token"])
    now = time.time()
    assert claims["iss"] == stack.base_url
    assert claims["sub"] == sub
    assert claims["aud"] == client_id or client_id in claims["aud"]
    assert claims["azp"] == client_id
    assert claims["exp"] > now and claims["iat"] <= now + 5
    assert claims["auth_time"] <= now + 5
    assert claims["nonce"] == params["nonce"]
    assert claims["sid"] and claims["amr"] == ["pwd"]
    assert header["alg"] == "RS256"
    # OpenID Connect Core §3.1.3.6: at_hash binds the access token.
    assert claims["at_hash"] == b64url_sha256_half(t["access_token"])
    # RFC 9068: the access token is a JWT of type at+jwt.
    at_header, at = verify_jwt(stack, t["access_token"], typ="at+jwt")
    assert at["sub"] == sub and at["client_id"] == client_id and at["iss"] == stack.base_url
    assert at["jti"] and at["exp"] > now and "openid" in at["scope"].split()
    return t


def test_code_exchange_with_client_secret_basic(stack, browser, basic_client, user):
    client_id, secret, _ = basic_client
    params, code = fresh_code(stack, browser, basic_client, user)
    assert_tokens(stack, exchange(stack, code, params, client_id, secret, "basic"), client_id, user[1], params)


def test_code_exchange_with_client_secret_post(stack, browser, user):
    client = make_client(stack, auth_method="client_secret_post")
    client_id, secret, _ = client
    params, code = fresh_code(stack, browser, client, user)
    assert_tokens(stack, exchange(stack, code, params, client_id, secret, "post"), client_id, user[1], params)


def test_public_client_with_pkce(stack, browser, user):
    client = make_client(stack, type="public")
    client_id, _, _ = client
    params, code = fresh_code(stack, browser, client, user)
    assert_tokens(stack, exchange(stack, code, params, client_id, None, "none"), client_id, user[1], params)


def test_basic_credentials_are_form_urlencoded(stack, browser, basic_client, user):
    # RFC 6749 §2.3.1: id and secret are form-encoded before base64; an
    # encoded character must decode to the same secret.
    client_id, secret, _ = basic_client
    params, code = fresh_code(stack, browser, basic_client, user)
    encoded = "".join(f"%{ord(c):02X}" for c in secret)
    raw = f"{client_id}:{encoded}".encode()
    r = token_request(stack, {"grant_type": "authorization_code", "code": code,
                              "redirect_uri": params["redirect_uri"], "code_verifier": params["code_verifier"]},
                      headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
    assert r.status_code == 200, r.text


def test_both_client_auth_methods_is_invalid_request(stack, browser, basic_client, user):
    client_id, secret, _ = basic_client
    params, code = fresh_code(stack, browser, basic_client, user)
    r = token_request(stack, {"grant_type": "authorization_code", "code": code,
                              "redirect_uri": params["redirect_uri"], "code_verifier": params["code_verifier"],
                              "client_id": client_id, "client_secret": secret}, basic=(client_id, secret))
    assert_token_error(r, 400, "invalid_request")


def test_wrong_secret_with_basic_is_401_with_basic_challenge(stack, browser, basic_client, user):
    client_id, secret, _ = basic_client
    params, code = fresh_code(stack, browser, basic_client, user)
    r = exchange(stack, code, params, client_id, secret + "x", "basic")
    assert_token_error(r, 401, "invalid_client")
    assert r.headers["WWW-Authenticate"] == f'Basic realm="{stack.base_url}"'


def test_wrong_secret_with_post_is_401_invalid_client(stack, browser, user):
    client = make_client(stack, auth_method="client_secret_post")
    client_id, secret, _ = client
    params, code = fresh_code(stack, browser, client, user)
    r = exchange(stack, code, params, client_id, secret + "x", "post")
    assert_token_error(r, 401, "invalid_client")


def test_malformed_basic_header_is_invalid_client(stack):
    for value in ("Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(),
                  "Basic " + base64.b64encode(b"bad%zz:secret").decode(), "Basic", "Digest abc"):
        r = token_request(stack, {"grant_type": "authorization_code", "code": "x"},
                          headers={"Authorization": value})
        assert_token_error(r, 401, "invalid_client")
        assert r.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_non_form_content_type_is_invalid_request(stack):
    with requests.Session() as s:
        s.trust_env = False
        r = s.post(stack.base_url + "/token", json={"grant_type": "authorization_code"}, timeout=10)
    assert_token_error(r, 400, "invalid_request")


def test_repeated_parameter_is_invalid_request(stack, browser, basic_client, user):
    client_id, secret, _ = basic_client
    params, code = fresh_code(stack, browser, basic_client, user)
    body = (f"grant_type=authorization_code&code={code}&code={code}&redirect_uri="
            f"{quote(params['redirect_uri'], safe='')}"
            f"&code_verifier={params['code_verifier']}")
    r = token_request(stack, body, basic=(client_id, secret),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_token_error(r, 400, "invalid_request")


def test_unsupported_grant_type(stack, basic_client):
    client_id, secret, _ = basic_client
    r = token_request(stack, {"grant_type": "password", "username": "a", "password": "b"},
                      basic=(client_id, secret))
    assert_token_error(r, 400, "unsupported_grant_type")


def test_redirect_uri_mismatch_is_invalid_grant(stack, browser, basic_client, user):
    client_id, secret, _ = basic_client
    params, code = fresh_code(stack, browser, basic_client, user)
    params["redirect_uri"] += "/other"
    assert_token_error(exchange(stack, code, params, client_id, secret), 400, "invalid_grant")


def test_wrong_code_verifier_is_invalid_grant(stack, browser, basic_client, user):
    client_id, secret, _ = basic_client
    params, code = fresh_code(stack, browser, basic_client, user)
    params["code_verifier"] = "x" * 43
    assert_token_error(exchange(stack, code, params, client_id, secret), 400, "invalid_grant")


def test_missing_code_verifier_after_pkce_is_invalid_grant(stack, browser, basic_client, user):
    client_id, secret, _ = basic_client
    params, code = fresh_code(stack, browser, basic_client, user)
    r = token_request(stack, {"grant_type": "authorization_code", "code": code,
                              "redirect_uri": params["redirect_uri"]}, basic=(client_id, secret))
    assert r.status_code == 400 and r.json()["error"] in ("invalid_grant", "invalid_request")


def test_code_of_another_client_is_invalid_grant(stack, browser, basic_client, user):
    params, code = fresh_code(stack, browser, basic_client, user)
    other_id, other_secret, _ = make_client(stack, redirect_uris=[params["redirect_uri"]])
    assert_token_error(exchange(stack, code, params, other_id, other_secret), 400, "invalid_grant")


def test_unknown_code_is_invalid_grant(stack, browser, basic_client, user):
    client_id, secret, _ = basic_client
    params, _ = fresh_code(stack, browser, basic_client, user)
    assert_token_error(exchange(stack, "A" * 43, params, client_id, secret), 400, "invalid_grant")


def test_code_replay_is_invalid_grant_and_revokes_the_first_tokens(stack, browser, basic_client, user):
    client_id, secret, _ = basic_client
    params, code = fresh_code(stack, browser, basic_client, user)
    first = exchange(stack, code, params, client_id, secret)
    assert first.status_code == 200, first.text
    access_token = first.json()["access_token"]
    assert userinfo(stack, access_token).status_code == 200
    # RFC 6749 §4.1.2: a second use is refused and what the first issued is revoked.
    assert_token_error(exchange(stack, code, params, client_id, secret), 400, "invalid_grant")
    r = userinfo(stack, access_token)
    assert r.status_code == 401, r.text
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
