"""The login, consent and account pages: forms with CSRF tokens bound to the
flow cookie, one message for every failed login, the SSO session cookie's
attributes, consent remembered per user and client, escaping and the
security headers of every page."""

import html
import re

import pytest

from oidc import (PASSWORD, Browser, assert_page_headers, auth_params, code_flow, ctl_json, forms,
                  make_client, make_user, pkce, response_params)


@pytest.fixture
def browser(stack):
    b = Browser(stack)
    yield b
    b.close()


@pytest.fixture(scope="module")
def client(stack):
    return make_client(stack)


def start(stack, browser, client_id, redirect_uri, **extra):
    _, challenge = pkce()
    return browser.authorize(auth_params(client_id, redirect_uri, code_challenge=challenge,
                                         code_challenge_method="S256", **extra))


def message_of(page):
    m = re.search(r'<p class="error" role="alert">(.*?)</p>', page.text, re.S)
    return m and html.unescape(m.group(1))


def set_cookie(r, name):
    for value in r.raw.headers.getlist("Set-Cookie"):
        if value.startswith(name + "="):
            return value
    return None


def test_login_page_has_username_password_and_csrf_fields(stack, browser, client):
    client_id, _, redirect_uri = client
    r = start(stack, browser, client_id, redirect_uri)
    flow_cookie = set_cookie(r, "ostiary_flow")
    assert flow_cookie and "HttpOnly" in flow_cookie and "SameSite=Lax" in flow_cookie
    assert "Path=/" in flow_cookie and "Secure" not in flow_cookie  # the issuer is http here
    page = browser.login_page(r)
    assert_page_headers(page)
    form = forms(page.text)[0]
    assert form["method"] == "post" and form["action"] == stack.base_url + "/login"
    assert {"csrf", "username", "password"} <= set(form["fields"])
    assert len(form["fields"]["csrf"]) >= 16
    # The stylesheet the page links is served, and CSP allows it ('self').
    css = browser.get(stack.base_url + "/static/ostiary.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert "style-src 'self'" in page.headers["Content-Security-Policy"]


def test_login_hint_prefills_the_username(stack, browser, client):
    client_id, _, redirect_uri = client
    page = browser.login_page(start(stack, browser, client_id, redirect_uri, login_hint='bob"<x>'))
    assert forms(page.text)[0]["fields"]["username"] == 'bob"<x>'
    assert 'bob"<x>' not in page.text


def test_wrong_password_unknown_and_disabled_user_show_one_message(stack, browser, client):
    client_id, _, redirect_uri = client
    disabled, _ = make_user(stack)
    ctl_json(stack, "flow.user_disable", {"username": disabled, "disabled": True})
    known, _ = make_user(stack)
    answers = []
    for username, password in ((known, "wrong password!"), ("nobody-" + known, PASSWORD), (disabled, PASSWORD)):
        b = Browser(stack)
        try:
            r = b.login(start(stack, b, client_id, redirect_uri), username, password)
            answers.append((r.status_code, message_of(r)))
            assert_page_headers(r)
            assert "ostiary_session" not in b.http.cookies
        finally:
            b.close()
    assert answers[0] == answers[1] == answers[2], answers
    assert answers[0] == (200, "Incorrect username or password")


def test_failed_login_can_be_retried_on_the_same_page(stack, browser, client):
    client_id, _, redirect_uri = client
    user, _ = make_user(stack)
    r = browser.login(start(stack, browser, client_id, redirect_uri), user, "wrong password!")
    assert message_of(r)
    r = browser.submit(r, username=user, password=PASSWORD)
    assert r.status_code == 303 and r.headers["Location"].startswith(redirect_uri)


def test_successful_login_sets_the_session_cookie(stack, browser, client):
    client_id, _, redirect_uri = client
    user, _ = make_user(stack)
    r = browser.login(start(stack, browser, client_id, redirect_uri), user)
    assert r.status_code == 303, r.text[:500]
    cookie = set_cookie(r, "ostiary_session")
    assert cookie, r.headers
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))
    assert 0 < max_age <= 28800
    # The flow is over: its cookie is dropped.
    assert re.search(r"Max-Age=0", set_cookie(r, "ostiary_flow") or "")


def test_login_post_with_a_wrong_csrf_token_is_an_error_page(stack, browser, client):
    client_id, _, redirect_uri = client
    user, _ = make_user(stack)
    page = browser.login_page(start(stack, browser, client_id, redirect_uri))
    r = browser.submit(page, username=user, password=PASSWORD, csrf="forged")
    assert r.status_code == 400 and "Location" not in r.headers
    assert_page_headers(r)
    assert "ostiary_session" not in browser.http.cookies


def test_login_without_flow_cookie_is_an_error_page(stack, browser):
    r = browser.get(stack.base_url + "/login")
    assert r.status_code == 400 and "Location" not in r.headers
    assert_page_headers(r)
    r = browser.http.post(stack.base_url + "/login", data={"username": "a", "password": "b", "csrf": "c"},
                          allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "Location" not in r.headers


def test_login_post_must_be_a_form(stack, browser, client):
    client_id, _, redirect_uri = client
    browser.login_page(start(stack, browser, client_id, redirect_uri))
    r = browser.http.post(stack.base_url + "/login", json={"username": "a"}, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "Location" not in r.headers


def test_consent_page_lists_scopes_and_deny_is_access_denied(stack, browser):
    client_id, _, redirect_uri = make_client(stack, first_party=False, name="Third <Party> & Co")
    user, _ = make_user(stack)
    params = auth_params(client_id, redirect_uri, scope="openid email")
    _, challenge = pkce()
    params.update(code_challenge=challenge, code_challenge_method="S256")
    r = browser.login(browser.authorize(params), user)
    assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/consent"
    page = browser.get(r.headers["Location"])
    assert page.status_code == 200
    assert_page_headers(page)
    # The client's name is escaped; every requested scope is listed.
    assert "Third &lt;Party&gt; &amp; Co" in page.text and "<Party>" not in page.text
    assert "<code>openid</code>" in page.text and "<code>email</code>" in page.text
    # Browsers apply form-action to the redirect after the post: the
    # client's origin is allowed too.
    assert "https://rp.example" in page.headers["Content-Security-Policy"]
    r = browser.submit(page, decision="deny")
    assert r.status_code == 303
    p = response_params(r.headers["Location"])
    assert p["error"] == "access_denied" and p["state"] == params["state"] and p["iss"] == stack.base_url


def test_consent_allow_is_remembered_per_user_and_client(stack, browser):
    client_id, _, redirect_uri = make_client(stack, first_party=False)
    user, _ = make_user(stack)
    _, r, p = code_flow(stack, browser, client_id, redirect_uri, user, consent="allow")
    assert p.get("code")
    # Second time: no consent page.
    r = start(stack, browser, client_id, redirect_uri)
    assert r.status_code == 302 and response_params(r.headers["Location"]).get("code")
    # prompt=consent asks again.
    r = start(stack, browser, client_id, redirect_uri, prompt="consent")
    assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/consent"
    # Another user of the same browser has not consented.
    other, _ = make_user(stack)
    r = browser.login(start(stack, browser, client_id, redirect_uri, prompt="login"), other)
    assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/consent"


def test_consent_post_with_a_wrong_csrf_token_is_an_error_page(stack, browser):
    client_id, _, redirect_uri = make_client(stack, first_party=False)
    user, _ = make_user(stack)
    r = browser.login(start(stack, browser, client_id, redirect_uri), user)
    page = browser.get(r.headers["Location"])
    r = browser.submit(page, decision="allow", csrf="forged")
    assert r.status_code == 400 and "Location" not in r.headers


def test_first_party_client_skips_consent(stack, browser, client):
    client_id, _, redirect_uri = client
    user, _ = make_user(stack)
    r = browser.login(start(stack, browser, client_id, redirect_uri), user)
    assert r.status_code == 303 and r.headers["Location"].startswith(redirect_uri)


def test_cookies_are_secure_when_the_issuer_is_https(stack, client):
    """A gateway whose issuer is https (behind a TLS proxy) marks every
    cookie Secure; the listener itself stays plain http here."""
    client_id, _, redirect_uri = client
    stack.stop_all("gateway")
    try:
        stack.start("gateway", {"OSTIARY_ISSUER": "https://" + stack.base_url.split("://", 1)[1]})
        stack.wait_ready(30)
        b = Browser(stack)
        try:
            r = start(stack, b, client_id, redirect_uri)
            assert r.status_code == 303, r.text[:500]
            cookie = set_cookie(r, "ostiary_flow")
            assert cookie and "; Secure" in cookie and "HttpOnly" in cookie
            assert r.headers["Location"].startswith("https://")
        finally:
            b.close()
    finally:
        stack.stop_all("gateway")
        stack.ensure("gateway")
        stack.wait_ready(30)
