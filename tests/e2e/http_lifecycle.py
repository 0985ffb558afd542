"""HTTP helpers of the /revoke and /introspect tests: POST /revoke
(RFC 7009), POST /introspect (RFC 7662), refresh and client_credentials
grants over /token, and a login that yields a refresh token."""

import base64
from urllib.parse import quote

import requests

from oidc import code_flow, exchange, make_client, token_request

LIFECYCLE_GRANTS = ["authorization_code", "refresh_token", "client_credentials"]
SCOPES = ["openid", "profile", "email", "offline_access"]


def basic_header(client_id, secret):
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def post_form(stack, path, data, *, basic=None, headers=None):
    """POSTs data (a dict, or a list of pairs for repeated names) to path."""
    h = dict(headers or {})
    if basic:
        h["Authorization"] = basic_header(*basic)
    with requests.Session() as s:
        s.trust_env = False
        return s.post(stack.base_url + path, data=data, headers=h, timeout=15)


def revoke(stack, token, client, hint=None, **extra):
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    data.update(extra)
    return post_form(stack, "/revoke", data, basic=client[:2] if client else None)


def introspect(stack, token, client, hint=None):
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    return post_form(stack, "/introspect", data, basic=client[:2] if client else None)


def is_active(stack, token, client):
    r = introspect(stack, token, client)
    assert r.status_code == 200, r.text
    return r.json().get("active") is True


def lifecycle_client(stack, **extra):
    """A confidential client allowed every grant; (client_id, secret, redirect_uri)."""
    extra.setdefault("grant_types", LIFECYCLE_GRANTS)
    extra.setdefault("scopes", SCOPES)
    return make_client(stack, **extra)


def login_tokens(stack, browser, client, user, scope="openid profile offline_access"):
    """Walks the code flow and exchanges the code; the token response."""
    client_id, secret, redirect_uri = client
    # OpenID Connect Core §11: offline_access is granted only with prompt=consent.
    extra = {"prompt": "consent"} if "offline_access" in scope.split() else {}
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, user[0], scope=scope, **extra)
    r = exchange(stack, p["code"], params, client_id, secret)
    assert r.status_code == 200, r.text
    return r.json()


def refresh(stack, client, refresh_token, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    data.update(extra)
    return token_request(stack, data, basic=client[:2])


def client_credentials(stack, client, **extra):
    data = {"grant_type": "client_credentials"}
    data.update(extra)
    return token_request(stack, data, basic=client[:2])


def assert_oauth_error(r, status, code):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert "no-store" in r.headers.get("Cache-Control", "")
    assert r.json()["error"] == code, r.text
    if status == 401:
        # RFC 6749 §5.2 / RFC 9110 §15.5.2: the Basic challenge.
        assert r.headers.get("WWW-Authenticate", "").startswith("Basic "), r.headers
