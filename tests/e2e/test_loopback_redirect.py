"""Loopback redirect URIs of native applications (RFC 8252 §7.3), over HTTP:
a client registered with http://127.0.0.1/… or http://[::1]/… may come
back on any port (the operating system's ephemeral one), the rest of the URI
exact; the code exchange names the URI the request used. localhost (§8.3)
and https loopback URIs are matched exactly."""

from urllib.parse import urlsplit

import pytest

from oidc import Browser, auth_params, code_flow, exchange, make_client, make_user


@pytest.fixture(scope="module")
def native(stack):
    client_id, _, _ = make_client(stack, type="public", redirect_uris=[
        "http://127.0.0.1/cb", "http://[::1]:8000/cb", "http://localhost/cb", "https://127.0.0.1/cb"])
    return client_id


@pytest.fixture(scope="module")
def user(stack):
    return make_user(stack)[0]


@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1:53211/cb", "http://127.0.0.1/cb",
                                          "http://[::1]:49152/cb", "http://[::1]/cb"])
def test_loopback_ip_redirect_uri_on_any_port_completes_the_flow(stack, native, user, redirect_uri):
    b = Browser(stack)
    try:
        params, r, p = code_flow(stack, b, native, redirect_uri, user)
    finally:
        b.close()
    # The code comes back to the very port the request named.
    assert urlsplit(r.headers["Location"]).netloc == urlsplit(redirect_uri).netloc
    t = exchange(stack, p["code"], params, native, method="none")
    assert t.status_code == 200, t.text
    assert "access_token" in t.json()


def test_code_exchange_names_the_port_the_request_used(stack, native, user):
    b = Browser(stack)
    try:
        params, _, p = code_flow(stack, b, native, "http://127.0.0.1:53211/cb", user)
    finally:
        b.close()
    params["redirect_uri"] = "http://127.0.0.1:53212/cb"
    t = exchange(stack, p["code"], params, native, method="none")
    assert t.status_code == 400 and t.json()["error"] == "invalid_grant", t.text


@pytest.mark.parametrize("redirect_uri", ["http://localhost:53211/cb", "https://127.0.0.1:53211/cb",
                                          "http://127.0.0.1:53211/cb/other", "http://127.0.0.1:53211/cb?x=1",
                                          "http://127.0.0.2:53211/cb", "http://127.0.0.1:0/cb"])
def test_other_redirect_uris_stay_exact(stack, native, redirect_uri):
    b = Browser(stack)
    try:
        r = b.authorize(auth_params(native, redirect_uri))
    finally:
        b.close()
    # RFC 6749 §4.1.2.1: an unregistered redirect URI is an error page, never a redirect.
    assert r.status_code == 400, (r.status_code, r.headers.get("Location"))
    assert "Location" not in r.headers
