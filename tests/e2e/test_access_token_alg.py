"""A client's own access-token algorithm, the client cache of client
authentication, and the ID token bound to its access token in one keys.sign
call. RFC 9068 §2.1 (any asymmetric JWS algorithm, typ at+jwt); OpenID
Connect Core §3.1.3.6 (at_hash)."""

import pytest

import oidc
from lifecycle import Client, call, exchange, family, refresh, refresh_client


def cc_client(stack, **fields):
    return Client(stack, grant_types=["client_credentials"], redirect_uris=[], scopes=["profile"], **fields)


CC = {"grant_type": "client_credentials"}


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_client_access_token_alg_signs_its_access_tokens(stack, alg):
    c = cc_client(stack, access_token_alg=alg)
    assert c.info["access_token_alg"] == alg
    rc, out = exchange(stack, c, CC)
    assert rc == 0, out
    header, claims = oidc.verify_jwt(stack, out["access_token"], typ="at+jwt")
    assert header["alg"] == alg and claims["client_id"] == c.id


def test_client_without_access_token_alg_follows_the_server_default(stack):
    c = cc_client(stack)
    assert "access_token_alg" not in c.info
    rc, out = exchange(stack, c, CC)
    assert rc == 0, out
    header, _ = oidc.verify_jwt(stack, out["access_token"], typ="at+jwt")
    assert header["alg"] == stack.env.get("OSTIARY_ACCESS_TOKEN_ALG", "RS256")


@pytest.mark.parametrize("alg", ["none", "HS256", "es256", 7])
def test_access_token_alg_outside_the_signing_algorithms_is_invalid_request(stack, alg):
    rc, out = call(stack, "token.client_add", {"type": "confidential", "grant_types": ["client_credentials"],
                                               "scopes": ["profile"], "access_token_alg": alg})
    assert rc == 1 and out["error"] == "invalid_request"


def test_rotated_secret_is_refused_at_once_despite_the_client_cache(stack):
    c = cc_client(stack)
    rc, _ = exchange(stack, c, CC)  # the client is now cached
    assert rc == 0
    old = c.secret
    rc, out = call(stack, "token.client_rotate_secret", {"client_id": c.id})
    assert rc == 0
    c.secret = old
    rc, err = exchange(stack, c, CC)
    assert rc == 1 and err["error"] == "invalid_client"
    c.secret = out["client_secret"]
    rc, _ = exchange(stack, c, CC)
    assert rc == 0


def test_removed_client_is_refused_at_once_despite_the_client_cache(stack):
    c = cc_client(stack)
    rc, _ = exchange(stack, c, CC)
    assert rc == 0
    rc, _ = call(stack, "token.client_remove", {"client_id": c.id})
    assert rc == 0
    rc, err = exchange(stack, c, CC)
    assert rc == 1 and err["error"] == "invalid_client"


def test_refresh_signs_es256_access_token_and_rs256_id_token_bound_by_at_hash(stack):
    c = refresh_client(stack, access_token_alg="ES256", id_token_signed_response_alg="RS256")
    out, _ = family(stack, c)
    rc, new = refresh(stack, c, out["refresh_token"])
    assert rc == 0, new
    at_header, _ = oidc.verify_jwt(stack, new["access_token"], typ="at+jwt")
    id_header, id_claims = oidc.verify_jwt(stack, new["id_token"])
    assert at_header["alg"] == "ES256" and id_header["alg"] == "RS256"
    assert id_claims["at_hash"] == oidc.b64url_sha256_half(new["access_token"])


def test_keys_sign_refuses_a_malformed_id_token_member(stack):
    rc, out = call(stack, "keys.sign", {"claims": {"sub": "x"}, "alg": "ES256", "typ": "at+jwt",
                                        "id_token": {"claims": "not an object", "alg": "RS256"}})
    assert rc == 1 and out["error"] == "invalid_request"
