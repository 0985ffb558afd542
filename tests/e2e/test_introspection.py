"""POST /introspect (RFC 7662): an authenticated client learns whether a
token is active and, when it is, its claims; revoked, expired, foreign and
garbage tokens are {"active": false} and nothing else; the token's own
client and resource servers may introspect, nobody else."""

import time

import pytest
from jwcrypto import jwk, jwt

from http_lifecycle import (assert_oauth_error, client_credentials, introspect, lifecycle_client, login_tokens,
                       post_form, refresh, revoke)
from oidc import Browser, make_client, make_user, verify_jwt, wait_for

INACTIVE = {"active": False}


@pytest.fixture(scope="module")
def user(stack):
    return make_user(stack)


@pytest.fixture(scope="module")
def client(stack):
    return lifecycle_client(stack)


@pytest.fixture(scope="module")
def other_client(stack):
    return lifecycle_client(stack)


@pytest.fixture(scope="module")
def resource_server(stack):
    return lifecycle_client(stack, resource_server=True)


@pytest.fixture
def browser(stack):
    b = Browser(stack)
    yield b
    b.close()


def assert_introspection(r):
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    # RFC 7662 §4: introspection answers must not be cached.
    assert "no-store" in r.headers.get("Cache-Control", "")
    return r.json()


# ------------------------------------------------------------ active tokens


def test_active_access_token_has_its_claims(stack, browser, client, user):
    t = login_tokens(stack, browser, client, user)
    _, at = verify_jwt(stack, t["access_token"], typ="at+jwt")
    info = assert_introspection(introspect(stack, t["access_token"], client, hint="access_token"))
    assert info["active"] is True
    assert info["sub"] == user[1]
    assert info["client_id"] == client[0]
    assert info["iss"] == stack.base_url
    assert set(info["scope"].split()) == set(at["scope"].split())
    assert info["exp"] == at["exp"] and info["iat"] == at["iat"]
    assert info["token_type"].lower() in ("bearer", "access_token")
    assert info["aud"] == at["aud"]
    assert info["exp"] > time.time()


def test_active_refresh_token_is_active_for_its_client(stack, browser, client, user):
    t = login_tokens(stack, browser, client, user)
    info = assert_introspection(introspect(stack, t["refresh_token"], client, hint="refresh_token"))
    assert info["active"] is True
    assert info["client_id"] == client[0] and info["sub"] == user[1]
    assert "offline_access" in info["scope"].split()
    # Introspection does not consume it.
    assert refresh(stack, client, t["refresh_token"]).status_code == 200


def test_wrong_hint_still_finds_the_token(stack, browser, client, user):
    t = login_tokens(stack, browser, client, user)
    assert assert_introspection(introspect(stack, t["access_token"], client, hint="refresh_token"))["active"]
    assert assert_introspection(introspect(stack, t["refresh_token"], client, hint="access_token"))["active"]


def test_client_credentials_token_is_active(stack, client):
    r = client_credentials(stack, client, scope="profile")
    assert r.status_code == 200, r.text
    info = assert_introspection(introspect(stack, r.json()["access_token"], client))
    assert info["active"] is True and info["client_id"] == client[0] and info["scope"] == "profile"


def test_resource_server_may_introspect_other_clients_tokens(stack, browser, client, resource_server, user):
    t = login_tokens(stack, browser, client, user)
    info = assert_introspection(introspect(stack, t["access_token"], resource_server))
    assert info["active"] is True and info["client_id"] == client[0] and info["sub"] == user[1]


# ------------------------------------------------------------ inactive tokens


def test_foreign_token_is_inactive_for_another_client(stack, browser, client, other_client, user):
    t = login_tokens(stack, browser, client, user)
    for token in (t["access_token"], t["refresh_token"]):
        assert assert_introspection(introspect(stack, token, other_client)) == INACTIVE


def test_revoked_tokens_are_inactive(stack, browser, client, user):
    t = login_tokens(stack, browser, client, user)
    assert revoke(stack, t["refresh_token"], client).status_code == 200
    for token in (t["access_token"], t["refresh_token"]):
        assert assert_introspection(introspect(stack, token, client)) == INACTIVE


def test_consumed_refresh_token_is_inactive(stack, browser, client, user):
    t = login_tokens(stack, browser, client, user)
    r = refresh(stack, client, t["refresh_token"])
    assert r.status_code == 200, r.text
    assert assert_introspection(introspect(stack, t["refresh_token"], client)) == INACTIVE
    assert assert_introspection(introspect(stack, r.json()["refresh_token"], client))["active"] is True


@pytest.mark.parametrize("token", ["garbage", "x" * 3000, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
                                   "a.b.c", "\u00e9t\u00e9"], ids=["word", "long", "alg-none", "dots", "non-ascii"])
def test_garbage_is_inactive(stack, client, token):
    assert assert_introspection(introspect(stack, token, client)) == INACTIVE


def test_token_signed_by_another_key_is_inactive(stack, browser, client, user):
    t = login_tokens(stack, browser, client, user)
    header, claims = verify_jwt(stack, t["access_token"], typ="at+jwt")
    key = jwk.JWK.generate(kty="RSA", size=2048)
    forged = jwt.JWT(header={"alg": "RS256", "typ": "at+jwt", "kid": header.get("kid", "x")},
                     claims=claims)
    forged.make_signed_token(key)
    assert assert_introspection(introspect(stack, forged.serialize(), client)) == INACTIVE


def test_expired_access_token_is_inactive(stack, browser, client, user):
    stack.stop_all("token-svc")
    try:
        stack.start("token-svc", {"OSTIARY_ACCESS_TOKEN_TTL": "1"})
        stack.wait_ready()
        t = login_tokens(stack, browser, client, user)
        # Active until its one-second lifetime has passed, inactive after.
        wait_for("the access token to expire", lambda: assert_introspection(
            introspect(stack, t["access_token"], client)) == INACTIVE, timeout=5, step=0.2)
    finally:
        stack.stop_all("token-svc")
        stack.ensure("token-svc")
        stack.wait_ready()


# ------------------------------------------------------------ refusals


def test_client_authentication_is_required(stack, browser, client, user):
    r = post_form(stack, "/introspect", {"token": "x"})
    assert_oauth_error(r, 401, "invalid_client")
    r = post_form(stack, "/introspect", {"token": "x", "client_id": client[0]})
    assert_oauth_error(r, 401, "invalid_client")


def test_public_client_cannot_introspect(stack):
    client_id, _, _ = make_client(stack, type="public")
    r = post_form(stack, "/introspect", {"token": "x", "client_id": client_id})
    assert_oauth_error(r, 401, "invalid_client")


def test_wrong_secret_is_401_with_challenge(stack, client):
    assert_oauth_error(introspect(stack, "x", (client[0], "wrong")), 401, "invalid_client")
    r = post_form(stack, "/introspect", {"token": "x"}, headers={"Authorization": "Basic %%%"})
    assert_oauth_error(r, 401, "invalid_client")


def test_missing_or_repeated_token_is_invalid_request(stack, client):
    assert_oauth_error(post_form(stack, "/introspect", {}, basic=client[:2]), 400, "invalid_request")
    r = post_form(stack, "/introspect", [("token", "a"), ("token", "a")], basic=client[:2])
    assert_oauth_error(r, 400, "invalid_request")


def test_only_form_bodies_are_accepted(stack, client):
    r = post_form(stack, "/introspect", '{"token": "a"}', basic=client[:2],
                  headers={"Content-Type": "application/json"})
    assert_oauth_error(r, 400, "invalid_request")


def test_get_is_405(stack, http):
    r = http.get(stack.base_url + "/introspect", timeout=10)
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
