"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at /logout:
discovery's end_session_endpoint, id_token_hint (signature and issuer
checked, expired ones accepted, another client's refused), client_id,
logout_hint, post_logout_redirect_uri only when registered (exactly), state
returned, a CSRF-safe confirmation page when the request cannot be tied to
the browser's session, GET and POST, error pages (never a redirect) for
what is refused, and the session really gone afterwards."""

import base64
import html
import json
import re
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from jwcrypto import jwk, jwt

from oidc import (RP, Browser, assert_page_headers, auth_params, code_flow, ctl_json, exchange, forms,
                  make_client, make_user, refused, verify_jwt, wait_for)


@pytest.fixture
def browser(stack):
    b = Browser(stack)
    yield b
    b.close()


def logout_client(stack, **extra):
    """A client that registered a post-logout redirect URI; (id, secret,
    redirect_uri, post_logout_uri)."""
    post_logout = f"{RP}/logged-out/{secrets.token_hex(4)}"
    client_id, secret, redirect_uri = make_client(stack, post_logout_redirect_uris=[post_logout], **extra)
    return client_id, secret, redirect_uri, post_logout


@pytest.fixture(scope="module")
def client(stack):
    return logout_client(stack)


@pytest.fixture(scope="module")
def other_client(stack):
    return logout_client(stack)


@pytest.fixture(scope="module")
def user(stack):
    return make_user(stack)[0]


def sign_in(stack, browser, client, username):
    """A code flow in browser, then the code exchange: the ID token."""
    client_id, secret, redirect_uri, _ = client
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, username)
    r = exchange(stack, p["code"], params, client_id, secret)
    assert r.status_code == 200, r.text
    return r.json()["id_token"]


def logout(browser, method="GET", **params):
    url = browser.base + "/logout"
    if method == "GET":
        return browser.http.get(url, params=params, allow_redirects=False, timeout=10)
    return browser.http.post(url, data=params, allow_redirects=False, timeout=10)


def still_signed_in(stack, browser, client):
    """/authorize answers with a code without any page: the SSO session lives."""
    client_id, _, redirect_uri, _ = client
    r = browser.authorize(auth_params(client_id, redirect_uri))
    return r.status_code in (302, 303) and r.headers["Location"].startswith(redirect_uri)


def shows_login(stack, browser, client):
    client_id, _, redirect_uri, _ = client
    r = browser.authorize(auth_params(client_id, redirect_uri))
    return r.status_code == 303 and r.headers["Location"] == stack.base_url + "/login"


def assert_error_page(r):
    assert r.status_code == 400, (r.status_code, r.text[:500])
    assert "Location" not in r.headers
    assert r.headers["Content-Type"].startswith("text/html")
    assert_page_headers(r)
    return html.unescape(re.search(r'<p class="error" role="alert">(.*?)</p>', r.text, re.S).group(1))


def refused_for(r):
    """The reason code of an error page for a refused request
    (proto/page_errors.def), which the page shows beside its sentence."""
    assert_error_page(r)
    return html.unescape(re.search(r'<code id="error-code">(.*?)</code>', r.text, re.S).group(1))


def test_discovery_advertises_end_session_endpoint(stack, http):
    doc = http.get(stack.base_url + "/.well-known/openid-configuration", timeout=10).json()
    assert doc["end_session_endpoint"] == stack.base_url + "/logout"


def test_registered_uri_with_hint_redirects_with_state_and_ends_session(stack, browser, client, user):
    _, _, _, post_logout = client
    hint = sign_in(stack, browser, client, user)
    assert still_signed_in(stack, browser, client)
    state = "st " + secrets.token_urlsafe(8)
    r = logout(browser, id_token_hint=hint, post_logout_redirect_uri=post_logout, state=state)
    assert r.status_code == 302, (r.status_code, r.text[:500])
    location = urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == post_logout
    assert parse_qs(location.query) == {"state": [state]}
    # The session cookie is dropped, and the session is gone at the server:
    # the next /authorize asks for the login again, even with the old cookie.
    cookies = [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("ostiary_session=")]
    assert cookies and "Max-Age=0" in cookies[0]
    assert shows_login(stack, browser, client)


def test_old_cookie_no_longer_opens_the_session(stack, browser, client, user):
    _, _, _, post_logout = client
    hint = sign_in(stack, browser, client, user)
    cookie = browser.session_cookie()
    r = logout(browser, id_token_hint=hint, post_logout_redirect_uri=post_logout)
    assert r.status_code == 302
    replay = Browser(stack)
    try:
        replay.http.cookies.set("ostiary_session", cookie)
        assert shows_login(stack, replay, client)
    finally:
        replay.close()


def test_logout_is_audited(stack, browser, client, user):
    _, _, _, post_logout = client
    hint = sign_in(stack, browser, client, user)
    _, claims = verify_jwt(stack, hint)
    r = logout(browser, id_token_hint=hint, post_logout_redirect_uri=post_logout)
    assert r.status_code == 302
    events = ctl_json(stack, "flow.audit_list", {"event": "logout", "subject": claims["sub"]})["events"]
    mine = [e for e in events if e["details"]["sid"] == claims["sid"]]
    assert mine, events
    assert mine[-1]["client_id"] == client[0] and mine[-1]["details"]["reason"] == "rp_initiated"
    assert client[0] in mine[-1]["details"]["clients"]


def test_unregistered_post_logout_uri_is_an_error_page(stack, browser, client, user):
    hint = sign_in(stack, browser, client, user)
    for uri in (client[3] + "/x", client[3] + "?a=1", "https://evil.example/", client[2]):
        r = logout(browser, id_token_hint=hint, post_logout_redirect_uri=uri, state="s")
        assert refused_for(r) == "post_logout_redirect_uri_unregistered"
    assert still_signed_in(stack, browser, client)


def test_post_logout_uri_of_another_client_is_refused(stack, browser, client, other_client, user):
    hint = sign_in(stack, browser, client, user)
    r = logout(browser, id_token_hint=hint, post_logout_redirect_uri=other_client[3])
    assert refused_for(r) == "post_logout_redirect_uri_unregistered"
    r = logout(browser, client_id=client[0], post_logout_redirect_uri=other_client[3])
    assert refused_for(r) == "post_logout_redirect_uri_unregistered"
    assert still_signed_in(stack, browser, client)


def test_post_logout_uri_without_client_is_refused(stack, browser, client, user):
    sign_in(stack, browser, client, user)
    r = logout(browser, post_logout_redirect_uri=client[3])
    assert refused_for(r) == "post_logout_redirect_uri_needs_client"
    assert still_signed_in(stack, browser, client)


def test_bad_hint_is_an_error_page(stack, browser, client, user):
    hint = sign_in(stack, browser, client, user)
    head, body, sig = hint.split(".")
    # A hint whose claims were changed: the signature no longer matches.
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "someone-else"
    forged = ".".join([head, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(), sig])
    for bad in ("not-a-jwt", "a.b.c", forged):
        r = logout(browser, id_token_hint=bad, post_logout_redirect_uri=client[3])
        assert refused_for(r) == "id_token_hint_invalid"
    assert still_signed_in(stack, browser, client)


def test_hint_of_another_issuer_is_refused(stack, browser, client, user):
    """An ID token signed by a key of another issuer (not in our JWKS), and one
    that claims another iss, are both refused."""
    hint = sign_in(stack, browser, client, user)
    _, claims = verify_jwt(stack, hint)
    key = jwk.JWK.generate(kty="RSA", size=2048, kid="other-issuer-key")
    for iss in (claims["iss"], "https://other-issuer.example"):
        c = dict(claims, iss=iss)
        t = jwt.JWT(header={"alg": "RS256", "kid": "other-issuer-key", "typ": "JWT"}, claims=c)
        t.make_signed_token(key)
        r = logout(browser, id_token_hint=t.serialize(), post_logout_redirect_uri=client[3])
        assert refused_for(r) == "id_token_hint_invalid"
    assert still_signed_in(stack, browser, client)


def test_access_token_is_no_hint(stack, browser, client, user):
    client_id, secret, redirect_uri, post_logout = client
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, user)
    at = exchange(stack, p["code"], params, client_id, secret).json()["access_token"]
    r = logout(browser, id_token_hint=at, post_logout_redirect_uri=post_logout)
    assert refused_for(r) == "id_token_hint_invalid"


def test_other_clients_hint_with_client_id_is_refused(stack, browser, client, other_client, user):
    hint = sign_in(stack, browser, other_client, user)
    r = logout(browser, id_token_hint=hint, client_id=client[0], post_logout_redirect_uri=client[3])
    assert refused_for(r) == "client_id_not_audience"
    assert still_signed_in(stack, browser, client)


def test_client_id_matching_hint_is_accepted(stack, browser, client, user):
    hint = sign_in(stack, browser, client, user)
    r = logout(browser, id_token_hint=hint, client_id=client[0], post_logout_redirect_uri=client[3],
               ui_locales="fr-CA en")
    assert r.status_code == 302 and r.headers["Location"] == client[3]
    assert shows_login(stack, browser, client)


def test_unknown_client_id_is_refused(stack, browser, client, user):
    sign_in(stack, browser, client, user)
    r = logout(browser, client_id="no-such-client-" + secrets.token_hex(3))
    assert refused_for(r) == "unknown_client"
    assert still_signed_in(stack, browser, client)


def test_repeated_parameter_is_refused(stack, browser, client, user):
    sign_in(stack, browser, client, user)
    r = browser.http.get(browser.base + "/logout?client_id=" + client[0] + "&client_id=" + client[0],
                         allow_redirects=False, timeout=10)
    assert refused_for(r) == "parameter_repeated"


def test_missing_hint_asks_for_confirmation_then_post_ends_the_session(stack, browser, client, user):
    sign_in(stack, browser, client, user)
    state = secrets.token_urlsafe(6)
    r = logout(browser, client_id=client[0], post_logout_redirect_uri=client[3], state=state)
    assert r.status_code == 200, r.text[:500]
    assert_page_headers(r)
    form = forms(r.text)[0]
    assert form["method"] == "post" and html.unescape(form["action"]) == stack.base_url + "/logout"
    assert len(form["fields"]["csrf"]) == 43
    assert form["fields"]["client_id"] == client[0]
    # Showing the page ended nothing.
    assert still_signed_in(stack, browser, client)
    r = browser.submit(r, confirm="yes")
    assert r.status_code == 303, (r.status_code, r.text[:500])
    assert parse_qs(urlsplit(r.headers["Location"]).query) == {"state": [state]}
    assert r.headers["Location"].startswith(client[3] + "?")
    assert shows_login(stack, browser, client)


def test_confirmation_without_redirect_lists_the_applications_signed_out(stack, browser, client,
                                                                         other_client, user):
    sign_in(stack, browser, client, user)
    sign_in(stack, browser, other_client, user)
    r = logout(browser)
    assert r.status_code == 200
    r = browser.submit(r, confirm="yes")
    assert r.status_code == 200, r.text[:500]
    listed = re.findall(r'<li data-client-id="([^"]+)">', r.text)
    assert listed == [client[0], other_client[0]]
    assert f"Test {client[0]}" in r.text
    assert shows_login(stack, browser, client)


def test_confirmation_refuses_a_forged_csrf_token(stack, browser, client, user):
    sign_in(stack, browser, client, user)
    r = logout(browser, client_id=client[0])
    form = forms(r.text)[0]
    for csrf in ("x" * 43, ""):
        data = dict(form["fields"], csrf=csrf, confirm="yes")
        p = browser.http.post(stack.base_url + "/logout", data=data, allow_redirects=False, timeout=10)
        assert "no longer valid" in assert_error_page(p)
    assert still_signed_in(stack, browser, client)


def test_confirmation_token_of_another_session_is_refused(stack, client, user):
    a, b = Browser(stack), Browser(stack)
    try:
        sign_in(stack, a, client, user)
        sign_in(stack, b, client, user)
        page = logout(a, client_id=client[0])
        form = forms(page.text)[0]
        data = dict(form["fields"], confirm="yes")
        r = b.http.post(stack.base_url + "/logout", data=data, allow_redirects=False, timeout=10)
        assert_error_page(r)
        assert still_signed_in(stack, a, client) and still_signed_in(stack, b, client)
    finally:
        a.close()
        b.close()


def test_declining_keeps_the_session(stack, browser, client, user):
    sign_in(stack, browser, client, user)
    r = browser.submit(logout(browser, client_id=client[0]), confirm="no")
    assert r.status_code == 200 and "Location" not in r.headers
    assert still_signed_in(stack, browser, client)


def test_hint_of_another_session_asks_for_confirmation(stack, client, user):
    a, b = Browser(stack), Browser(stack)
    try:
        hint_a = sign_in(stack, a, client, user)
        sign_in(stack, b, client, user)
        r = logout(b, id_token_hint=hint_a, post_logout_redirect_uri=client[3])
        assert r.status_code == 200 and forms(r.text)[0]["fields"]["csrf"]
        assert still_signed_in(stack, b, client)
        r = b.submit(r, confirm="yes")
        assert r.status_code == 303 and r.headers["Location"] == client[3]
        assert shows_login(stack, b, client)
        # The other browser's session was not the one ended.
        assert still_signed_in(stack, a, client)
    finally:
        a.close()
        b.close()


def test_logout_hint_of_another_user_asks_for_confirmation(stack, browser, client, user):
    hint = sign_in(stack, browser, client, user)
    r = logout(browser, id_token_hint=hint, logout_hint="somebody-else")
    assert r.status_code == 200 and forms(r.text)[0]["fields"]["csrf"]
    assert still_signed_in(stack, browser, client)
    r = logout(browser, id_token_hint=hint, logout_hint=user, post_logout_redirect_uri=client[3])
    assert r.status_code == 302


def test_post_with_hint_ends_the_session(stack, browser, client, user):
    hint = sign_in(stack, browser, client, user)
    r = logout(browser, "POST", id_token_hint=hint, post_logout_redirect_uri=client[3], state="xyz")
    assert r.status_code == 303, (r.status_code, r.text[:500])
    assert r.headers["Location"] == client[3] + "?state=xyz"
    assert shows_login(stack, browser, client)


def test_cross_site_post_without_cookie_goes_to_get(stack, client):
    """A SameSite=Lax cookie does not come with a cross-site POST: the POST
    is turned into a GET of the same parameters, which carries it."""
    with requests.Session() as s:
        s.trust_env = False
        r = s.post(stack.base_url + "/logout", data={"client_id": client[0], "state": "a b"},
                   allow_redirects=False, timeout=10)
    assert r.status_code == 303
    location = urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == stack.base_url + "/logout"
    assert parse_qs(location.query) == {"client_id": [client[0]], "state": ["a b"]}


def test_without_session_goes_back_to_the_registered_uri(stack, client):
    with requests.Session() as s:
        s.trust_env = False
        r = s.get(stack.base_url + "/logout", params={"client_id": client[0],
                  "post_logout_redirect_uri": client[3], "state": "q"}, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == client[3] + "?state=q"
    with requests.Session() as s:
        s.trust_env = False
        r = s.get(stack.base_url + "/logout", allow_redirects=False, timeout=10)
    assert r.status_code == 200 and "signed out" in r.text


def test_expired_hint_is_accepted(stack, client, user):
    stack.stop_all("token-svc")
    try:
        stack.start("token-svc", {"OSTIARY_ID_TOKEN_TTL": "1"})
        stack.wait_ready()
        b = Browser(stack)
        try:
            hint = sign_in(stack, b, client, user)
            _, claims = verify_jwt(stack, hint)
            assert claims["exp"] - claims["iat"] == 1
            wait_for("the hint's exp", lambda: time.time() > claims["exp"] + 1, timeout=10, step=0.1)
            r = logout(b, id_token_hint=hint, post_logout_redirect_uri=client[3], state="late")
            assert r.status_code == 302, (r.status_code, r.text[:500])
            assert r.headers["Location"] == client[3] + "?state=late"
            assert shows_login(stack, b, client)
        finally:
            b.close()
    finally:
        stack.stop_all("token-svc")
        stack.ensure("token-svc")
        stack.wait_ready()


def test_registration_refuses_a_bad_post_logout_uri(stack):
    # The same URIs, well-formed, are accepted (private-use schemes for public clients only).
    ok = ctl_json(stack, "token.client_add", {"redirect_uris": [f"{RP}/cb"],
                                               "post_logout_redirect_uris": [f"{RP}/bye", "http://127.0.0.1/bye"]})
    assert ok["client"]["post_logout_redirect_uris"] == [f"{RP}/bye", "http://127.0.0.1/bye"]
    for uri in ("https://rp.example/cb#frag", "not a uri", "/relative"):
        err = refused(stack, "token.client_add", {"redirect_uris": [f"{RP}/cb"],
                                                  "post_logout_redirect_uris": [uri]})
        assert err == "invalid_request"
    err = refused(stack, "token.client_add", {"redirect_uris": [f"{RP}/cb"],
                                              "post_logout_redirect_uris": [f"{RP}/a", f"{RP}/a"]})
    assert err == "invalid_request"


def test_ostiaryctl_registers_post_logout_uris(stack):
    client_id = "ctl-logout-" + secrets.token_hex(3)
    r = stack.ctl("clients", "add", "--id", client_id, "--redirect-uri", f"{RP}/cb",
                  "--post-logout-redirect-uri", f"{RP}/bye", "--post-logout-redirect-uri", f"{RP}/bye2")
    assert r.returncode == 0, r.stderr
    shown = ctl_json(stack, "token.client_get", {"client_id": client_id})["client"]
    assert shown["post_logout_redirect_uris"] == [f"{RP}/bye", f"{RP}/bye2"]


def test_head_ends_nothing(stack, browser, client, user):
    hint = sign_in(stack, browser, client, user)
    r = browser.http.head(browser.base + "/logout", params={"id_token_hint": hint}, allow_redirects=False,
                          timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert still_signed_in(stack, browser, client)
