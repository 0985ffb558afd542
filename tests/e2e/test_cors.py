"""CORS (the Fetch standard) for browser applications, over HTTP to the
gateway: a client's allowed_web_origins may call /token, /revoke,
/introspect and /userinfo cross-origin (preflight and the request itself);
any other origin gets no CORS headers and the request is answered as
without an Origin; discovery and /jwks are readable by any origin (*);
credentials are never allowed."""

import json

import pytest
import requests

from oidc import Browser, code_flow, exchange, make_client, make_user, unique, wait_for

SPA_ORIGIN = "https://spa.cors.example"
CONF_ORIGIN = "http://127.0.0.1:5173"
OTHER_ORIGIN = "https://evil.cors.example"


@pytest.fixture(scope="module")
def spa(stack):
    """A public client registering SPA_ORIGIN: (client_id, None, redirect_uri)."""
    return make_client(stack, type="public", allowed_web_origins=[SPA_ORIGIN])


@pytest.fixture(scope="module")
def conf(stack):
    """A confidential client registering CONF_ORIGIN."""
    return make_client(stack, allowed_web_origins=[CONF_ORIGIN])


@pytest.fixture(scope="module")
def plain(stack):
    """A confidential client without any web origin."""
    return make_client(stack)


@pytest.fixture(scope="module")
def user(stack):
    return make_user(stack)[0]


@pytest.fixture
def http():
    with requests.Session() as s:
        s.trust_env = False
        yield s


def preflight(stack, http, path, origin, method="POST", headers="authorization, content-type"):
    return http.options(stack.base_url + path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers}, timeout=10)


def allowed(r):
    return r.headers.get("Access-Control-Allow-Origin")


def vary_origin(r):
    return "origin" in [v.strip().lower() for v in r.headers.get("Vary", "").split(",")]


@pytest.fixture(scope="module")
def origins_known(stack, spa, conf):
    """The gateway caches the registered origins (OSTIARY_CORS_CACHE_TTL):
    waits until it has seen the ones of this module."""
    with requests.Session() as s:
        s.trust_env = False
        for origin in (SPA_ORIGIN, CONF_ORIGIN):
            wait_for(f"the gateway to know {origin}",
                     lambda: allowed(preflight(stack, s, "/token", origin)) == origin, timeout=20, step=0.2)


def tokens(stack, client, user, origin=None):
    """A code flow for client; the code exchange sent from origin."""
    client_id, secret, redirect_uri = client
    b = Browser(stack)
    try:
        params, _, p = code_flow(stack, b, client_id, redirect_uri, user, scope="openid profile")
    finally:
        b.close()
    data = {"grant_type": "authorization_code", "code": p["code"], "redirect_uri": redirect_uri,
            "code_verifier": params["code_verifier"]}
    headers = {"Origin": origin} if origin else {}
    with requests.Session() as s:
        s.trust_env = False
        if secret:
            return s.post(stack.base_url + "/token", data=data, auth=(client_id, secret), headers=headers,
                          timeout=10)
        data["client_id"] = client_id
        return s.post(stack.base_url + "/token", data=data, headers=headers, timeout=10)


# ------------------------------------------------------------ preflight


@pytest.mark.parametrize("path,method", [("/token", "POST"), ("/revoke", "POST"), ("/introspect", "POST"),
                                         ("/userinfo", "GET"), ("/userinfo", "POST")])
def test_preflight_from_a_registered_origin_is_allowed(stack, origins_known, http, path, method):
    r = preflight(stack, http, path, SPA_ORIGIN, method)
    assert r.status_code == 204, (r.status_code, r.text)
    assert allowed(r) == SPA_ORIGIN
    assert vary_origin(r), r.headers
    assert method in r.headers["Access-Control-Allow-Methods"]
    allow_headers = [h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")]
    assert sorted(allow_headers) == ["authorization", "content-type"]
    assert int(r.headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in r.headers


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect", "/userinfo"])
def test_preflight_from_an_unregistered_origin_has_no_allow_headers(stack, origins_known, http, path):
    for origin in (OTHER_ORIGIN, SPA_ORIGIN + "/", "null", SPA_ORIGIN.upper()):
        r = preflight(stack, http, path, origin)
        assert r.status_code == 204, (r.status_code, r.text)
        assert not [h for h in r.headers if h.lower().startswith("access-control-")], (origin, r.headers)
        assert vary_origin(r)


def test_options_without_origin_lists_the_methods(stack, http):
    r = http.options(stack.base_url + "/token", timeout=10)
    assert r.status_code == 204
    assert "POST" in r.headers["Allow"]
    assert "Access-Control-Allow-Origin" not in r.headers


# ------------------------------------------------------------ the requests


def test_code_exchange_and_userinfo_from_the_clients_origin(stack, origins_known, spa, user):
    r = tokens(stack, spa, user, origin=SPA_ORIGIN)
    assert r.status_code == 200, r.text
    assert allowed(r) == SPA_ORIGIN and vary_origin(r)
    assert "Access-Control-Allow-Credentials" not in r.headers
    at = r.json()["access_token"]
    with requests.Session() as s:
        s.trust_env = False
        u = s.get(stack.base_url + "/userinfo", headers={"Authorization": f"Bearer {at}", "Origin": SPA_ORIGIN},
                  timeout=10)
        assert u.status_code == 200, u.text
        assert allowed(u) == SPA_ORIGIN and vary_origin(u)
        # The claims are not for an origin of another client.
        u = s.get(stack.base_url + "/userinfo", headers={"Authorization": f"Bearer {at}", "Origin": CONF_ORIGIN},
                  timeout=10)
        assert u.status_code == 200 and allowed(u) is None


def test_refresh_revoke_introspect_from_the_clients_origin(stack, origins_known, conf, user):
    client_id, secret, _ = conf
    r = tokens(stack, conf, user, origin=CONF_ORIGIN)
    assert r.status_code == 200 and allowed(r) == CONF_ORIGIN, (r.status_code, r.headers)
    at = r.json()["access_token"]
    with requests.Session() as s:
        s.trust_env = False
        i = s.post(stack.base_url + "/introspect", data={"token": at}, auth=(client_id, secret),
                   headers={"Origin": CONF_ORIGIN}, timeout=10)
        assert i.status_code == 200 and i.json()["active"] is True
        assert allowed(i) == CONF_ORIGIN and vary_origin(i)
        v = s.post(stack.base_url + "/revoke", data={"token": at}, auth=(client_id, secret),
                   headers={"Origin": CONF_ORIGIN}, timeout=10)
        assert v.status_code == 200 and allowed(v) == CONF_ORIGIN
        # An error is readable too: the application learns why.
        e = s.post(stack.base_url + "/token", data={"grant_type": "authorization_code", "code": "nope",
                                                    "redirect_uri": conf[2]},
                   auth=(client_id, secret), headers={"Origin": CONF_ORIGIN}, timeout=10)
        assert e.status_code == 400 and e.json()["error"] == "invalid_grant"
        assert allowed(e) == CONF_ORIGIN


def test_unregistered_origin_is_answered_without_cors_headers(stack, origins_known, conf, user):
    r = tokens(stack, conf, user, origin=OTHER_ORIGIN)
    # Answered as today: the browser, not the server, withholds the answer.
    assert r.status_code == 200, r.text
    assert not [h for h in r.headers if h.lower().startswith("access-control-")], r.headers
    assert vary_origin(r)


def test_origin_of_another_client_gets_no_cors_headers(stack, origins_known, conf, plain, user):
    # plain registered no origin; CONF_ORIGIN is conf's, not plain's.
    r = tokens(stack, plain, user, origin=CONF_ORIGIN)
    assert r.status_code == 200, r.text
    assert allowed(r) is None
    at = r.json()["access_token"]
    with requests.Session() as s:
        s.trust_env = False
        i = s.post(stack.base_url + "/introspect", data={"token": at}, auth=(plain[0], plain[1]),
                   headers={"Origin": CONF_ORIGIN}, timeout=10)
        assert i.status_code == 200 and allowed(i) is None


def test_userinfo_refusal_is_readable_by_a_registered_origin(stack, origins_known, http):
    r = http.get(stack.base_url + "/userinfo", headers={"Authorization": "Bearer x.y.z", "Origin": SPA_ORIGIN},
                 timeout=10)
    assert r.status_code == 401 and allowed(r) == SPA_ORIGIN
    r = http.get(stack.base_url + "/userinfo", headers={"Authorization": "Bearer x.y.z", "Origin": OTHER_ORIGIN},
                 timeout=10)
    assert r.status_code == 401 and allowed(r) is None


# ------------------------------------------------------------ public documents


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
                                  "/jwks"])
def test_discovery_and_jwks_are_readable_by_any_origin(stack, http, path):
    for origin in (OTHER_ORIGIN, SPA_ORIGIN, None):
        r = http.get(stack.base_url + path, headers={"Origin": origin} if origin else {}, timeout=10)
        assert r.status_code == 200, r.text
        assert allowed(r) == "*"
        assert "Access-Control-Allow-Credentials" not in r.headers
    p = preflight(stack, http, path, OTHER_ORIGIN, method="GET", headers="")
    assert p.status_code == 204 and allowed(p) == "*"


# ------------------------------------------------------------ registration


@pytest.mark.parametrize("origin", ["https://a.example/", "https://a.example/app", "https://*.example", "*",
                                    "null", "https://A.example", "https://a.example:443", "a.example"])
def test_registration_refuses_what_is_not_an_exact_origin(stack, origin):
    cp = stack.ctl("clients", "add", "--id", unique("badorigin"), "--type", "public", "--redirect-uri",
                   "https://a.example/cb", "--web-origin", origin)
    assert cp.returncode != 0, cp.stdout
    assert "invalid_request" in cp.stdout + cp.stderr


def test_ctl_registers_and_shows_web_origins(stack):
    client_id = unique("webapp")
    cp = stack.ctl("clients", "add", "--id", client_id, "--type", "public", "--redirect-uri",
                   "https://app.example/cb", "--web-origin", "https://app.example", "--web-origin",
                   "https://app.example:8443")
    assert cp.returncode == 0, (cp.stdout, cp.stderr)
    assert json.loads(cp.stdout)["client"]["allowed_web_origins"] == ["https://app.example",
                                                                      "https://app.example:8443"]
    cp = stack.ctl("clients", "show", client_id)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["client"]["allowed_web_origins"] == ["https://app.example",
                                                                      "https://app.example:8443"]
    cp = stack.ctl("clients", "list", "--json")
    listed = [c for c in json.loads(cp.stdout)["clients"] if c["client_id"] == client_id]
    assert listed and listed[0]["allowed_web_origins"] == ["https://app.example", "https://app.example:8443"]


def test_removed_clients_origin_stops_being_allowed(stack, http):
    origin = "https://gone.cors.example"
    client_id, _, _ = make_client(stack, type="public", allowed_web_origins=[origin])
    wait_for("the gateway to know the origin",
             lambda: allowed(preflight(stack, http, "/token", origin)) == origin, timeout=20, step=0.2)
    cp = stack.ctl("clients", "remove", client_id)
    assert cp.returncode == 0, cp.stderr
    # Within OSTIARY_CORS_CACHE_TTL (10 s) the gateway has forgotten it.
    wait_for("the gateway to forget the origin",
             lambda: allowed(preflight(stack, http, "/token", origin)) is None, timeout=20, step=0.2)
