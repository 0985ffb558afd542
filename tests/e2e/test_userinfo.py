"""/userinfo (OpenID Connect Core §5.3) and its RFC 6750 errors: the token in
the Authorization header or (POST) the form body, never the query; the
WWW-Authenticate challenges; claims released by scope."""

import secrets

import pytest
import requests

from oidc import (Browser, bearer_challenge, code_flow, ctl_json, exchange, make_client, make_user, userinfo,
                  verify_jwt, wait_for)


@pytest.fixture(scope="module")
def tokens(stack):
    """(access token, sub) for scopes openid profile email."""
    client_id, secret, redirect_uri = make_client(stack)
    username, sub = make_user(stack)
    b = Browser(stack)
    try:
        params, _, p = code_flow(stack, b, client_id, redirect_uri, username)
        r = exchange(stack, p["code"], params, client_id, secret)
        assert r.status_code == 200, r.text
        return r.json()["access_token"], sub
    finally:
        b.close()


@pytest.fixture
def http():
    with requests.Session() as s:
        s.trust_env = False
        yield s


def assert_no_store(r):
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers


def test_get_with_bearer_header_returns_claims_of_the_scopes(stack, tokens):
    access_token, sub = tokens
    r = userinfo(stack, access_token)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert_no_store(r)
    claims = r.json()
    assert claims["sub"] == sub
    # profile and email were asked for; address and phone were not.
    assert claims["name"] == "Alice Liddell" and claims["email"].endswith("@example.org")
    assert claims["email_verified"] is True
    assert "address" not in claims and "phone_number" not in claims


def test_post_with_the_token_in_the_form_body(stack, tokens):
    access_token, sub = tokens
    r = userinfo(stack, access_token, method="POST")
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == sub


def test_post_with_bearer_header(stack, tokens, http):
    access_token, sub = tokens
    r = http.post(stack.base_url + "/userinfo", headers={"Authorization": "Bearer " + access_token},
                  timeout=10)
    assert r.status_code == 200 and r.json()["sub"] == sub


def test_no_token_is_401_with_a_bare_bearer_challenge(stack, http):
    for r in (http.get(stack.base_url + "/userinfo", timeout=10),
              http.post(stack.base_url + "/userinfo", timeout=10)):
        assert r.status_code == 401
        assert_no_store(r)
        # RFC 6750 §3.1: no error attribute when no credentials were sent.
        assert r.headers["WWW-Authenticate"] == f'Bearer realm="{stack.base_url}"'


def test_garbage_token_is_401_invalid_token(stack):
    r = userinfo(stack, "not-a-jwt")
    assert r.status_code == 401
    assert_no_store(r)
    attrs = bearer_challenge(r)
    assert attrs["realm"] == stack.base_url and attrs["error"] == "invalid_token"


def test_badly_signed_token_is_401_invalid_token(stack, tokens):
    access_token, _ = tokens
    head, payload, sig = access_token.split(".")
    forged = f"{head}.{payload}.{sig[:-4]}AAAA"
    r = userinfo(stack, forged)
    assert r.status_code == 401 and bearer_challenge(r)["error"] == "invalid_token"


def test_token_in_the_query_string_is_invalid_request(stack, tokens, http):
    access_token, _ = tokens
    r = http.get(stack.base_url + "/userinfo", params={"access_token": access_token}, timeout=10)
    assert r.status_code == 400
    assert bearer_challenge(r)["error"] == "invalid_request"
    assert_no_store(r)


def test_token_in_header_and_body_is_invalid_request(stack, tokens, http):
    access_token, _ = tokens
    r = http.post(stack.base_url + "/userinfo", data={"access_token": access_token},
                  headers={"Authorization": "Bearer " + access_token}, timeout=10)
    assert r.status_code == 400 and bearer_challenge(r)["error"] == "invalid_request"


def test_error_description_in_the_challenge_uses_only_allowed_characters(stack):
    r = userinfo(stack, "x")
    value = r.headers["WWW-Authenticate"]
    inner = value[len("Bearer "):]
    for ch in inner:
        assert 0x20 <= ord(ch) <= 0x7E, value


def test_expired_token_says_it_expired(stack):
    """A token-svc issuing 1-second access tokens with no leeway, then the
    usual one again."""
    stack.stop_all("token")
    try:
        stack.start("token", {"OSTIARY_ACCESS_TOKEN_TTL": "1", "OSTIARY_CLOCK_SKEW": "0"})
        stack.wait_ready()
        client_id, secret, redirect_uri = make_client(stack)
        username, _ = make_user(stack)
        b = Browser(stack)
        try:
            params, _, p = code_flow(stack, b, client_id, redirect_uri, username)
            access_token = exchange(stack, p["code"], params, client_id, secret).json()["access_token"]
        finally:
            b.close()
        # Good until its one-second lifetime has passed (no clock skew), then refused.
        answers = []

        def refused():
            answers.append(userinfo(stack, access_token))
            return answers[-1].status_code != 200

        wait_for("the access token to expire", refused, timeout=5, step=0.2)
        r = answers[-1]
        assert r.status_code == 401
        attrs = bearer_challenge(r)
        assert attrs["error"] == "invalid_token"
        assert attrs["error_description"] == "The access token expired"
    finally:
        stack.stop_all("token")
        stack.ensure("token")
        stack.wait_ready()


def test_token_without_openid_scope_is_403_insufficient_scope(stack, tokens):
    """token-svc issues no such token (it refuses authorization requests
    without openid), so one is signed by keys-svc over the bus: the claims
    of a real access token with the scope narrowed to profile."""
    access_token, _ = tokens
    _, claims = verify_jwt(stack, access_token, typ="at+jwt")
    claims.update(scope="profile", jti=secrets.token_urlsafe(16))
    signed = ctl_json(stack, "keys.sign", {"claims": claims, "alg": "RS256", "typ": "at+jwt"})["jws"]
    r = userinfo(stack, signed)
    assert r.status_code == 403, r.text
    attrs = bearer_challenge(r)
    assert attrs["error"] == "insufficient_scope" and attrs["scope"] == "openid"
    assert "no-store" in r.headers["Cache-Control"]
