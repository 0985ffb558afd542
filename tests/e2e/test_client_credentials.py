"""grant_type=client_credentials (RFC 6749 §4.4): a confidential
client allowed the grant gets a JWT access token (RFC 9068) with the granted
scopes, no refresh token and no ID token; a scope outside its allowed set is
invalid_scope; a client without the grant is unauthorized_client."""

import pytest

import oidc
from lifecycle import Client, call, exchange, introspect, revoke


@pytest.fixture(scope="module")
def cc(stack):
    return Client(stack, grant_types=["client_credentials"], redirect_uris=[],
                  scopes=["openid", "profile", "email", "offline_access"])


def cc_form(**extra):
    form = {"grant_type": "client_credentials"}
    form.update(extra)
    return form


def test_client_credentials_issues_access_token_only(stack, cc):
    rc, out = exchange(stack, cc, cc_form())
    assert rc == 0, out
    assert set(out) == {"access_token", "token_type", "expires_in", "scope"}
    assert out["token_type"] == "Bearer"
    # Default: the allowed scopes minus those that need a user.
    assert set(out["scope"].split()) == {"profile", "email"}
    header, claims = oidc.verify_jwt(stack, out["access_token"], typ="at+jwt")
    assert claims["sub"] == cc.id and claims["client_id"] == cc.id
    assert claims["iss"] == stack.base_url and "auth_time" not in claims


def test_client_credentials_scope_within_allowed_set(stack, cc):
    rc, out = exchange(stack, cc, cc_form(scope="email"))
    assert rc == 0 and out["scope"] == "email"


@pytest.mark.parametrize("scope", ["phone", "email phone", "openid", "offline_access", "bad\"scope"])
def test_client_credentials_scope_outside_allowed_set_is_invalid_scope(stack, cc, scope):
    rc, err = exchange(stack, cc, cc_form(scope=scope))
    assert rc == 1 and err["error"] == "invalid_scope"


def test_client_credentials_not_allowed_is_unauthorized_client(stack):
    c = Client(stack, require_pkce=False)
    rc, err = exchange(stack, c, cc_form())
    assert rc == 1 and err["error"] == "unauthorized_client"


def test_public_client_cannot_register_client_credentials(stack):
    rc, out = call(stack, "token.client_add", {"client_id": "pub-cc-x", "type": "public",
                                               "grant_types": ["client_credentials"]})
    assert rc == 1 and out["error"] == "invalid_request"


def test_unknown_grant_type_is_unsupported_grant_type(stack, cc):
    rc, err = exchange(stack, cc, cc_form(grant_type="password"))
    assert rc == 1 and err["error"] == "unsupported_grant_type"


def test_client_credentials_token_introspects_and_revokes(stack, cc):
    rc, out = exchange(stack, cc, cc_form())
    assert rc == 0
    rc, res = introspect(stack, cc, out["access_token"])
    assert rc == 0 and res["active"] is True and res["sub"] == cc.id
    assert revoke(stack, cc, out["access_token"])[1]["revoked"] is True
    assert introspect(stack, cc, out["access_token"])[1] == {"active": False}


def test_client_credentials_over_http(stack, cc):
    r = oidc.token_request(stack, {"grant_type": "client_credentials", "scope": "profile"},
                           basic=(cc.id, cc.secret))
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert body["scope"] == "profile" and "refresh_token" not in body and "id_token" not in body
    r = oidc.token_request(stack, {"grant_type": "client_credentials", "scope": "phone"},
                           basic=(cc.id, cc.secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
