"""oidcc-config-certification-test-plan: the discovery document."""

import re
from urllib.parse import urlsplit

import pytest
import requests
from jwcrypto import jwk

from modules import CONFIG_VARIANT

STANDARD_CLAIMS = {"sub", "iss", "auth_time", "acr", "name", "given_name", "family_name", "middle_name",
                   "nickname", "preferred_username", "profile", "picture", "website", "email",
                   "email_verified", "gender", "birthdate", "zoneinfo", "locale", "phone_number",
                   "phone_number_verified", "address", "updated_at"}


@pytest.fixture
def variant():
    return CONFIG_VARIANT


def discovery(stack, http):
    url = stack.base_url + "/.well-known/openid-configuration"
    r = http.get(url, timeout=10)
    assert r.status_code == 200, r.status_code
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    return url, r.json()


def check_endpoints_https(stack, doc, conformance, fields):
    """Every endpoint is https (OpenID Connect Discovery §3). The test stack
    listens on http://127.0.0.1, so here every endpoint must share the
    issuer's scheme and authority: behind TLS (an https issuer) they are
    all https."""
    issuer = urlsplit(doc["issuer"])
    http_ones = []
    for field in fields:
        if field not in doc:
            continue
        u = urlsplit(doc[field])
        assert (u.scheme, u.netloc) == (issuer.scheme, issuer.netloc), (field, doc[field])
        assert not u.fragment, (field, "has a fragment")
        if u.scheme != "https":
            http_ones.append(field)
    if http_ones:
        conformance.review(f"{len(http_ones)} endpoints are {issuer.scheme}, as the harness's issuer on "
                           f"loopback is; they follow the issuer's scheme")


def test_oidcc_discovery_endpoint_verification(stack, http, variant, conformance):
    url, doc = discovery(stack, http)
    # OpenID Connect Discovery §4.3: issuer identical to the URL's prefix.
    assert url == doc["issuer"].rstrip("/") + "/.well-known/openid-configuration", (url, doc["issuer"])
    assert doc["issuer"] == stack.base_url
    assert not urlsplit(doc["issuer"]).query and not urlsplit(doc["issuer"]).fragment
    for field in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert isinstance(doc.get(field), str) and doc[field], f"{field} is missing"
    check_endpoints_https(stack, doc, conformance,
                          ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                           "registration_endpoint", "end_session_endpoint", "revocation_endpoint",
                           "introspection_endpoint"))
    # The JWKS: valid keys, public only, each with a kid.
    r = http.get(doc["jwks_uri"], timeout=10)
    assert r.status_code == 200 and r.headers.get("Content-Type", "").startswith("application/"), r.headers
    keys = r.json()["keys"]
    assert keys, "the JWKS is empty"
    for k in keys:
        jwk.JWK(**k)  # parses or raises
        assert k.get("kid"), "a key has no kid"
        assert not ({"d", "p", "q", "dp", "dq", "qi", "k"} & set(k)), "a private or symmetric part is published"
        if "use" in k:
            assert k["use"] in ("sig", "enc"), k["use"]
    assert "openid" in doc.get("scopes_supported", []), "scopes_supported lacks openid"
    rts = doc.get("response_types_supported")
    assert isinstance(rts, list) and "code" in rts, rts
    sts = doc.get("subject_types_supported")
    assert isinstance(sts, list) and sts and set(sts) <= {"public", "pairwise"}, sts
    algs = doc.get("id_token_signing_alg_values_supported")
    assert isinstance(algs, list) and "RS256" in algs, algs
    claims = doc.get("claims_supported")
    if claims is None:
        conformance.warn("claims_supported is absent (RECOMMENDED)")
    else:
        assert "sub" in claims, claims
        unknown = [c for c in claims if c not in STANDARD_CLAIMS]
        assert all(isinstance(c, str) for c in claims)
        if unknown:
            conformance.review(f"claims beyond OpenID Connect Core §5.1: {', '.join(unknown)}")
    if "claims_parameter_supported" in doc:
        assert isinstance(doc["claims_parameter_supported"], bool)
    for field in ("request_parameter_supported", "request_uri_parameter_supported"):
        if field in doc:
            assert isinstance(doc[field], bool), field
    modes = doc.get("response_modes_supported")
    if modes is not None:
        assert {"query", "fragment"} <= set(modes), modes
    grants = doc.get("grant_types_supported")
    if grants is not None:
        assert "authorization_code" in grants, grants
    methods = doc.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    assert "client_secret_basic" in methods, methods
    for f in ("service_documentation", "op_policy_uri", "op_tos_uri"):
        if f in doc:
            assert re.match(r"^https?://", doc[f]), f
