"""Discovery (OpenID Connect Discovery 1.0 §3, RFC 8414 §2) consistent with
behaviour: both documents are the same, every advertised endpoint answers,
every advertised value works and what is not advertised is refused."""

import pytest
import requests

from oidc import (Browser, auth_params, code_flow, exchange, make_client, make_user, pkce, response_params,
                  token_request, userinfo, verify_jwt)

OIDC = "/.well-known/openid-configuration"
OAUTH = "/.well-known/oauth-authorization-server"


@pytest.fixture(scope="module")
def doc(stack):
    with requests.Session() as s:
        s.trust_env = False
        return s.get(stack.base_url + OIDC, timeout=10).json()


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


def test_oauth_and_openid_documents_are_the_same(stack, doc):
    with requests.Session() as s:
        s.trust_env = False
        r = s.get(stack.base_url + OAUTH, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == doc
    assert doc["issuer"] == stack.base_url


def test_every_advertised_endpoint_answers(stack, doc):
    with requests.Session() as s:
        s.trust_env = False
        assert s.get(doc["jwks_uri"], timeout=10).status_code == 200
        assert s.get(doc["authorization_endpoint"], allow_redirects=False, timeout=10).status_code == 400
        assert s.post(doc["token_endpoint"], data={}, timeout=10).status_code in (400, 401)
        assert s.get(doc["userinfo_endpoint"], timeout=10).status_code == 401
        # RFC 7009 §2.1 / RFC 7662 §2.1: both need a client; no token is a 400.
        for key in ("revocation_endpoint", "introspection_endpoint"):
            r = s.post(doc[key], data={}, timeout=10)
            assert r.status_code == 400 and r.json()["error"] == "invalid_request", (key, r.text)
        # RP-Initiated Logout 1.0: without a session there is nothing to end.
        r = s.get(doc["end_session_endpoint"], allow_redirects=False, timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    # Nothing is advertised that has no route.
    for key in ("registration_endpoint", "pushed_authorization_request_endpoint"):
        assert key not in doc


def test_advertised_values(doc):
    assert doc["response_types_supported"] == ["code"]
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert set(doc["revocation_endpoint_auth_methods_supported"]) <= set(doc["token_endpoint_auth_methods_supported"])
    assert "none" not in doc["introspection_endpoint_auth_methods_supported"]
    assert "offline_access" in doc["scopes_supported"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["prompt_values_supported"]) == {"none", "login", "consent", "select_account"}
    assert doc["claims_parameter_supported"] is True
    assert doc["acr_values_supported"] == ["urn:ostiary:acr:pwd", "urn:ostiary:acr:mfa"]
    assert doc["request_parameter_supported"] is True
    assert doc["request_object_signing_alg_values_supported"] == ["none"]
    assert doc["request_uri_parameter_supported"] is False
    assert doc["authorization_response_iss_parameter_supported"] is True


@pytest.mark.parametrize("mode", ["query", "fragment", "form_post"])
def test_every_response_mode_works(stack, doc, browser, client, user, mode):
    assert mode in doc["response_modes_supported"]
    client_id, _, redirect_uri = client
    verifier, challenge = pkce()
    params = auth_params(client_id, redirect_uri, response_mode=mode, code_challenge=challenge,
                         code_challenge_method="S256")
    r = browser.authorize(params)
    r = browser.login(r, user[0]) if r.status_code == 303 else r
    if mode == "form_post":
        assert r.status_code == 200 and 'name="code"' in r.text
    else:
        assert r.status_code in (302, 303)
        assert response_params(r.headers["Location"]).get("code")


def test_every_token_endpoint_auth_method_works(stack, doc, browser, user):
    methods = {"client_secret_basic": ("confidential", "basic"), "client_secret_post": ("confidential", "post"),
               "none": ("public", "none")}
    assert set(doc["token_endpoint_auth_methods_supported"]) == set(methods)
    for method, (kind, how) in methods.items():
        client_id, secret, redirect_uri = make_client(stack, type=kind, auth_method=method)
        params, _, p = code_flow(stack, browser, client_id, redirect_uri, user[0])
        r = exchange(stack, p["code"], params, client_id, secret, how)
        assert r.status_code == 200, (method, r.text)


def test_unadvertised_grant_type_is_refused(stack, client):
    client_id, secret, _ = client
    r = token_request(stack, {"grant_type": "password", "username": "u", "password": "p"},
                      basic=(client_id, secret))
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


def test_advertised_grant_types_are_served(stack, doc):
    """Each advertised grant reaches its handler: a client allowed it gets a
    token (client_credentials) or an invalid_grant for a bad value
    (refresh_token), never unsupported_grant_type."""
    client_id, secret, _ = make_client(stack, grant_types=["authorization_code", "refresh_token",
                                                           "client_credentials"])
    r = token_request(stack, {"grant_type": "client_credentials", "scope": "profile"},
                      basic=(client_id, secret))
    assert r.status_code == 200, r.text
    r = token_request(stack, {"grant_type": "refresh_token", "refresh_token": "not-a-token"},
                      basic=(client_id, secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


def test_plain_pkce_is_refused_as_advertised(stack, browser, client):
    client_id, _, redirect_uri = client
    params = auth_params(client_id, redirect_uri, code_challenge="a" * 43, code_challenge_method="plain")
    r = browser.authorize(params)
    assert response_params(r.headers["Location"])["error"] == "invalid_request"


def test_advertised_scopes_are_accepted_and_claims_are_listed(stack, doc, browser, user):
    client_id, secret, redirect_uri = make_client(stack, scopes=doc["scopes_supported"],
                                                  grant_types=["authorization_code", "refresh_token"])
    # OpenID Connect Core §11: offline_access is granted only with prompt=consent.
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, user[0],
                             scope=" ".join(doc["scopes_supported"]), prompt="consent")
    t = exchange(stack, p["code"], params, client_id, secret).json()
    # offline_access (OpenID Connect Core §11) is what brings a refresh token.
    assert t.get("refresh_token"), t
    _, id_claims = verify_jwt(stack, t["id_token"])
    info = userinfo(stack, t["access_token"]).json()
    released = set(id_claims) | set(info)
    assert released <= set(doc["claims_supported"]), released - set(doc["claims_supported"])


def test_signing_algorithms_are_those_of_the_jwks(stack, doc):
    with requests.Session() as s:
        s.trust_env = False
        keys = s.get(doc["jwks_uri"], timeout=10).json()["keys"]
    assert set(doc["id_token_signing_alg_values_supported"]) <= {k["alg"] for k in keys}
    assert "RS256" in doc["id_token_signing_alg_values_supported"]
