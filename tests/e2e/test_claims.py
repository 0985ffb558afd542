"""The claims request parameter (OpenID Connect Core §5.5) and acr (§2,
§3.1.2.1 acr_values, §5.5.1.1) over HTTP: discovery advertises both; a
malformed claims parameter is an invalid_request at the redirect URI (an
HTML page when the redirect URI is not registered); the claims asked for are
released at /userinfo and in the ID token whatever the scopes, only those
the user has; the ID token carries the acr the password login meets."""

import html
import json
import re
from pathlib import Path

from oidc import (Browser, auth_params, code_flow, exchange, make_client, make_user, pkce, response_params,
                  userinfo, verify_jwt)
import requests

PWD = "urn:ostiary:acr:pwd"
MFA = "urn:ostiary:acr:mfa"


def test_discovery_advertises_the_claims_parameter_and_the_acr_values(stack):
    with requests.Session() as s:
        s.trust_env = False
        doc = s.get(stack.base_url + "/.well-known/openid-configuration", timeout=10).json()
    assert doc["claims_parameter_supported"] is True
    assert doc["acr_values_supported"] == [PWD, MFA]


def test_malformed_claims_is_invalid_request_and_never_sent_to_an_unregistered_uri(stack):
    client_id, _, redirect_uri = make_client(stack)
    b = Browser(stack)
    try:
        base = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                "scope": "openid", "state": "s1", "code_challenge": pkce()[1], "code_challenge_method": "S256"}
        for bad in ["{", "[]", '{"userinfo": {"email": 5}}', '{"id_token": {"acr": {"essential": 1}}}',
                    '{"userinfo": {"email": null, "email": null}}']:
            r = b.authorize(dict(base, claims=bad))
            assert r.status_code in (302, 303), (bad, r.status_code, r.text[:300])
            assert r.headers["Location"].startswith(redirect_uri)
            p = response_params(r.headers["Location"])
            assert p["error"] == "invalid_request" and p["state"] == "s1", (bad, p)
            assert "claims" in p["error_description"], p
        # Beyond the gateway's bound on a parameter: refused on a page.
        r = b.authorize(dict(base, claims="{" + " " * 5000 + "}"))
        assert r.status_code == 400 and "Location" not in r.headers
        r = b.authorize(dict(base, claims="{", redirect_uri="https://evil.example/cb"))
        assert r.status_code == 400 and "Location" not in r.headers
    finally:
        b.close()


def test_claims_asked_are_released_whatever_the_scopes(stack):
    client_id, secret, redirect_uri = make_client(stack)
    username, sub = make_user(stack)
    claims = {"userinfo": {"name": {"essential": True}, "email": None, "nickname": None},
              "id_token": {"given_name": None, "x-unknown": None}}
    b = Browser(stack)
    try:
        params, _, p = code_flow(stack, b, client_id, redirect_uri, username, scope="openid",
                                 claims=json.dumps(claims))
        r = exchange(stack, p["code"], params, client_id, secret)
        assert r.status_code == 200, r.text
        _, id_claims = verify_jwt(stack, r.json()["id_token"])
        assert id_claims["given_name"] == "Alice"
        assert "x-unknown" not in id_claims and "name" not in id_claims and "email" not in id_claims
        u = userinfo(stack, r.json()["access_token"])
        assert u.status_code == 200, u.text
        got = u.json()
        assert got["sub"] == sub and got["name"] == "Alice Liddell" and got["email"].endswith("@example.org")
        assert "nickname" not in got and "given_name" not in got and "phone_number" not in got
    finally:
        b.close()


def test_id_token_acr_is_the_first_acr_value_the_login_meets(stack):
    client_id, secret, redirect_uri = make_client(stack)
    username, _ = make_user(stack)
    b = Browser(stack)
    try:
        params, _, p = code_flow(stack, b, client_id, redirect_uri, username, scope="openid",
                                 acr_values=f"urn:x:unknown {MFA} {PWD}")
        r = exchange(stack, p["code"], params, client_id, secret)
        assert r.status_code == 200, r.text
        _, id_claims = verify_jwt(stack, r.json()["id_token"])
        # A password login does not meet mfa: the next value it meets.
        assert id_claims["acr"] == PWD
        assert id_claims["amr"] == ["pwd"]
    finally:
        b.close()


def test_essential_acr_a_password_login_cannot_meet_is_refused(stack):
    client_id, _, redirect_uri = make_client(stack)
    username, _ = make_user(stack)
    b = Browser(stack)
    try:
        claims = {"id_token": {"acr": {"essential": True, "values": [MFA]}}}
        _, _, p = code_flow(stack, b, client_id, redirect_uri, username, scope="openid",
                            claims=json.dumps(claims))
        assert p["error"] == "unmet_authentication_requirements", p
        assert "code" not in p
    finally:
        b.close()


def test_consent_page_shows_the_claims_asked_one_by_one(stack):
    """OpenID Connect Core §5.5: what the claims parameter asks beyond the
    scopes is released too, so the consent page lists it (labels of the
    catalogue, each claim once, those the scopes cover and the ID token's own
    left out); in French as in English."""
    client_id, _, redirect_uri = make_client(stack, first_party=False)
    username, _ = make_user(stack)
    claims = {"userinfo": {"phone_number": None, "email": None, "x-unknown": None},
              "id_token": {"phone_number": {"essential": True}, "birthdate": None, "acr": None}}
    catalogue = {lang: json.loads((Path(__file__).resolve().parents[2] / f"locales/{lang}.json").read_text())
                 for lang in ("en", "fr")}
    for lang in ("en", "fr"):
        b = Browser(stack)
        try:
            params = auth_params(client_id, redirect_uri, scope="openid email", claims=json.dumps(claims),
                                 ui_locales=lang, prompt="consent")
            r = b.login(b.authorize(params), username)
            assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/consent", r.headers
            page = b.get(r.headers["Location"])
            assert page.status_code == 200, page.text[:500]
            text = html.unescape(page.text)
            assert catalogue[lang]["consent.claims"] in text, text
            shown = re.findall(r'<ul class="claims">(.*?)</ul>', page.text, re.S)
            assert len(shown) == 1, page.text
            # In common/claims.def's order; email is the email scope's.
            assert re.findall(r"<code>([a-z_-]+)</code>", shown[0]) == ["birthdate", "phone_number"]
            for name in ("birthdate", "phone_number"):
                assert catalogue[lang][f"claim.{name}"] in html.unescape(shown[0]), shown[0]
            r = b.submit(page, decision="allow")
            assert r.status_code in (302, 303) and r.headers["Location"].startswith(redirect_uri)
        finally:
            b.close()
    # Without the parameter the page lists scopes only.
    b = Browser(stack)
    try:
        r = b.login(b.authorize(auth_params(client_id, redirect_uri, scope="openid", prompt="consent")), username)
        page = b.get(r.headers["Location"])
        assert page.status_code == 200 and 'class="claims"' not in page.text
    finally:
        b.close()
    log = stack.log_text("gateway")
    assert "i18n: no message" not in log
