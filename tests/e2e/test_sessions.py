"""The account's sessions page (/account/sessions): each SSO session of the
signed-in user with its sid, the applications it served, when it began and
was last used, its address and browser; ending one from the page is a
logout of that session (audited), guarded by a CSRF token bound to this
browser's session cookie."""

import html
import re
import secrets

import pytest
import requests

from oidc import (Browser, assert_page_headers, auth_params, code_flow, ctl_json, exchange, forms, make_client,
                  make_user, verify_jwt)


@pytest.fixture(scope="module")
def clients(stack):
    return [make_client(stack, name=f"App {n} {secrets.token_hex(2)}") for n in ("one", "two")]


def browser_as(stack, agent):
    b = Browser(stack)
    b.http.headers["User-Agent"] = agent
    return b


def sign_in(stack, browser, client, username):
    client_id, secret, redirect_uri = client
    params, _, p = code_flow(stack, browser, client_id, redirect_uri, username)
    r = exchange(stack, p["code"], params, client_id, secret)
    assert r.status_code == 200, r.text
    return verify_jwt(stack, r.json()["id_token"])[1]


def sessions_page(browser):
    return browser.http.get(browser.base + "/account/sessions", allow_redirects=False, timeout=10)


def sections(page):
    """sid -> (is current, client ids, section html)."""
    out = {}
    for m in re.finditer(r'<section class="account" data-sid="([^"]+)"( data-current="true")?>(.*?)</section>',
                         page.text, re.S):
        out[m.group(1)] = (bool(m.group(2)), re.findall(r'data-client-id="([^"]+)"', m.group(3)), m.group(3))
    return out


def end_form(page, sid):
    for f in forms(page.text):
        if f["fields"].get("sid") == sid:
            return f
    raise AssertionError(f"no form for {sid}")


def shows_login(stack, browser, client):
    client_id, _, redirect_uri = client
    r = browser.authorize(auth_params(client_id, redirect_uri))
    return r.status_code == 303 and r.headers["Location"] == stack.base_url + "/login"


def test_page_lists_each_session_with_its_clients_address_and_browser(stack, clients):
    user, _ = make_user(stack)
    a, b = browser_as(stack, "Agent-A/1.0"), browser_as(stack, "Agent-B/2.0 (test)")
    try:
        ca = sign_in(stack, a, clients[0], user)
        sign_in(stack, a, clients[1], user)
        cb = sign_in(stack, b, clients[1], user)
        page = sessions_page(a)
        assert page.status_code == 200, page.text[:500]
        assert_page_headers(page)
        listed = sections(page)
        assert set(listed) == {ca["sid"], cb["sid"]}
        current, ids, text = listed[ca["sid"]]
        assert current and ids == [clients[0][0], clients[1][0]]
        assert "Agent-A/1.0" in html.unescape(text) and "127.0.0.1" in text
        current, ids, text = listed[cb["sid"]]
        assert not current and ids == [clients[1][0]]
        assert "Agent-B/2.0 (test)" in html.unescape(text)
        # Newest first.
        assert list(listed) == [cb["sid"], ca["sid"]]
    finally:
        a.close()
        b.close()


def test_ending_another_session_signs_it_out_and_is_audited(stack, clients):
    user, sub = make_user(stack)
    a, b = Browser(stack), Browser(stack)
    try:
        sign_in(stack, a, clients[0], user)
        cb = sign_in(stack, b, clients[1], user)
        form = end_form(sessions_page(a), cb["sid"])
        r = a.http.post(html.unescape(form["action"]), data=form["fields"], allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["Location"] == stack.base_url + "/account/sessions"
        assert shows_login(stack, b, clients[1])
        assert not shows_login(stack, a, clients[0])
        assert cb["sid"] not in sections(sessions_page(a))
        events = ctl_json(stack, "flow.audit_list", {"event": "logout", "subject": sub})["events"]
        assert [e["details"]["reason"] for e in events if e["details"]["sid"] == cb["sid"]] == ["account"]
    finally:
        a.close()
        b.close()


def test_ending_this_browsers_session_signs_out_here(stack, clients):
    user, _ = make_user(stack)
    a = Browser(stack)
    try:
        ca = sign_in(stack, a, clients[0], user)
        page = sessions_page(a)
        form = end_form(page, ca["sid"])
        r = a.http.post(html.unescape(form["action"]), data=form["fields"], allow_redirects=False, timeout=10)
        assert r.status_code == 200 and "signed out" in r.text
        cookies = [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("ostiary_session=")]
        assert cookies and "Max-Age=0" in cookies[0]
        assert shows_login(stack, a, clients[0])
    finally:
        a.close()


def test_forged_csrf_and_other_users_sessions_are_refused(stack, clients):
    alice, _ = make_user(stack)
    bob, _ = make_user(stack)
    a, b = Browser(stack), Browser(stack)
    try:
        ca = sign_in(stack, a, clients[0], alice)
        cb = sign_in(stack, b, clients[0], bob)
        page = sessions_page(a)
        form = end_form(page, ca["sid"])
        # A token that is not this session's.
        r = a.http.post(stack.base_url + "/account/sessions", data=dict(form["fields"], csrf="x" * 43),
                        allow_redirects=False, timeout=10)
        assert r.status_code == 400 and "Location" not in r.headers
        # Bob's form token in Alice's browser.
        bob_form = end_form(sessions_page(b), cb["sid"])
        r = a.http.post(stack.base_url + "/account/sessions", data=bob_form["fields"], allow_redirects=False,
                        timeout=10)
        assert r.status_code == 400
        # Alice's valid token naming Bob's session ends nothing.
        r = a.http.post(stack.base_url + "/account/sessions", data=dict(form["fields"], sid=cb["sid"]),
                        allow_redirects=False, timeout=10)
        assert r.status_code == 400
        assert not shows_login(stack, a, clients[0]) and not shows_login(stack, b, clients[0])
    finally:
        a.close()
        b.close()


def test_without_session_the_page_asks_to_sign_in(stack):
    with requests.Session() as s:
        s.trust_env = False
        r = s.get(stack.base_url + "/account/sessions", allow_redirects=False, timeout=10)
        assert r.status_code == 400 and "Sign in first" in r.text
        s.cookies.set("ostiary_session", "A" * 43)
        r = s.get(stack.base_url + "/account/sessions", allow_redirects=False, timeout=10)
        assert r.status_code == 400
        r = s.post(stack.base_url + "/account/sessions", data={"csrf": "x", "sid": "y"}, allow_redirects=False,
                   timeout=10)
        assert r.status_code == 400
