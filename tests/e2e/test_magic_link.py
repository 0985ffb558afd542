"""Magic links through the pages, on the verify-email flow: the
waiting page reloads itself; the link's GET shows a confirm page and
consumes nothing (mail scanners open links), however often; its POST
consumes the token once; a replayed or expired token gets a clear 400 page
and changes nothing."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from lockout_util import settings  # noqa: F401
from flowweb import CustomLoginFlow, FlowBrowser, expire_action_token, h1, inputs, link_in, password_login, \
    text_of, wait_message
from oidc import assert_page_headers, auth_params, ctl_json, make_user, pkce, response_params, wait_mail_sent

REFRESH = '<meta http-equiv="refresh" content="3">'


@pytest.fixture
def signed_in(stack, client):
    """A browser signed in as a new user whose address is not verified yet."""
    username, _ = make_user(stack, email_verified=False)
    b = FlowBrowser(stack)
    r = password_login(stack, b, client[0], client[2], username)
    assert r.status_code == 303 and b.session_cookie(), r.text[:500]
    yield b, username
    b.close()


def start_verification(stack, browser, username, count=1):
    page = browser.start("/account/verify-email")
    assert h1(page) == "Check your email"
    assert REFRESH in page.text
    assert text_of(page, "email-hint")
    assert_page_headers(page)
    link = link_in(wait_message(stack, f"{username}@example.org", count), stack.base_url)
    return page, link


def verified(stack, username):
    return ctl_json(stack, "flow.user_get", {"username": username})["user"]["email_verified"]


def test_magic_link_get_does_not_consume_and_post_does_once(stack, signed_in):
    browser, username = signed_in
    page, link = start_verification(stack, browser, username)
    token = parse_qs(urlsplit(link).query)["token"][0]

    # Another browser (the mail client) opens the link, twice: a confirm
    # page each time, and nothing changes.
    other = FlowBrowser(stack)
    try:
        for _ in range(2):
            confirm = other.get(link)
            assert confirm.status_code == 200, confirm.text[:500]
            assert_page_headers(confirm)
            assert h1(confirm) == "Confirm your email address"
            assert inputs(confirm)["token"]["value"] == token
        assert verified(stack, username) is False
        waiting = browser.get(stack.base_url + "/flow")
        assert waiting.status_code == 200 and REFRESH in waiting.text

        r = other.fill(confirm)
        assert r.status_code == 200, r.text[:500]
        assert text_of(r, "result") == "Your email address is verified."
        assert verified(stack, username) is True

        # The waiting page now shows the end of the flow.
        done = browser.get(stack.base_url + "/flow")
        assert done.status_code == 200
        assert text_of(done, "done") == "Your email address is verified."
        assert REFRESH not in done.text

        # The same token again: refused, with a clear page.
        again = other.fill(confirm)
        assert again.status_code == 400 and "Location" not in again.headers
        assert h1(again) == "This link is no longer valid"
        assert other.get(link).status_code == 400
    finally:
        other.close()
    assert token not in stack.log_text("gateway")


def test_expired_magic_link_is_refused_and_changes_nothing(stack, signed_in):
    browser, username = signed_in
    _, link = start_verification(stack, browser, username)
    token = parse_qs(urlsplit(link).query)["token"][0]
    expire_action_token(stack, token)
    r = browser.get(link)
    assert r.status_code == 400 and h1(r) == "This link is no longer valid"
    r = browser.http.post(stack.base_url + "/action", data={"token": token}, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and h1(r) == "This link is no longer valid"
    assert verified(stack, username) is False
    waiting = browser.get(stack.base_url + "/flow")
    assert waiting.status_code == 200 and REFRESH in waiting.text


def test_magic_link_token_cannot_be_used_as_a_webhook_callback(stack, signed_in, http):
    browser, username = signed_in
    _, link = start_verification(stack, browser, username)
    token = parse_qs(urlsplit(link).query)["token"][0]
    r = http.post(stack.base_url + "/flows/callback", json={"outcome": "success", "data": {}},
                  headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_action"
    assert verified(stack, username) is False
    # The wrong-purpose attempt did not burn the link.
    confirm = browser.get(link)
    assert confirm.status_code == 200
    assert browser.fill(confirm).status_code == 200
    assert verified(stack, username) is True


def test_action_ops_refuse_what_proto_ops_def_forbids_and_keep_the_token(stack, signed_in):
    """flow.action_get and flow.action check their request against
    proto/ops.def before the handler: the token is neither peeked at nor
    consumed, and the link still works."""
    browser, username = signed_in
    _, link = start_verification(stack, browser, username)
    token = parse_qs(urlsplit(link).query)["token"][0]
    for op, body, why in (
            ("flow.action_get", {"token": token, "purpose": "magic_link", "node": "x"}, "node: unknown member"),
            ("flow.action", {"token": token, "purpose": "magic_link", "client_ip": "a\u001bb"},
             "client_ip: must not contain control characters"),
            ("flow.action", {"token": token, "purpose": "magic_link", "data": []}, "data: must be an object"),
            ("flow.action", {"token": token, "purpose": "p" * 33}, "purpose: too long (at most 32 bytes)")):
        r = stack.ctl_for(op, "call", op, json.dumps(body))
        assert r.returncode == 1, (op, body, r.stdout)
        out = json.loads(r.stdout)
        assert (out["error"], out["error_description"]) == ("invalid_request", "invalid request: " + why), body
    assert verified(stack, username) is False
    confirm = browser.get(link)
    assert confirm.status_code == 200
    assert browser.fill(confirm).status_code == 200
    assert verified(stack, username) is True


@pytest.fixture
def magic_login(stack, tmp_path):
    flow = CustomLoginFlow(stack, tmp_path, "magic-link-login")
    yield
    flow.close()


def test_magic_link_login_signs_in_the_browser_that_asked(stack, client, magic_login):
    username, sub = make_user(stack)
    browser = FlowBrowser(stack)
    other = FlowBrowser(stack)
    try:
        _, challenge = pkce()
        r = browser.authorize(auth_params(client[0], client[2], code_challenge=challenge))
        page = browser.login_page(r)
        assert h1(page) == "Sign in"
        r = browser.fill(page, identifier=username)
        assert r.status_code == 200 and h1(r) == "Check your email" and REFRESH in r.text
        link = link_in(wait_message(stack, f"{username}@example.org"), stack.base_url)

        confirm = other.get(link)
        assert confirm.status_code == 200 and h1(confirm) == "Confirm sign-in"
        done = other.fill(confirm)
        assert done.status_code == 200 and "ostiary_session" not in other.http.cookies
        # The link opened elsewhere; the session goes to the browser that
        # holds the flow, with its next POST.
        page = browser.get(stack.base_url + "/login")
        assert page.status_code == 200 and text_of(page, "done") == "You are signed in."
        assert REFRESH not in page.text
        r = browser.fill(page)
        assert r.status_code == 303 and r.headers["Location"].startswith(client[2]), r.text[:500]
        assert "code" in response_params(r.headers["Location"])
        assert browser.session_cookie()
        session = ctl_json(stack, "flow.session_get", {"session": browser.session_cookie()})["session"]
        assert session["sub"] == sub
    finally:
        browser.close()
        other.close()


def test_sign_in_links_above_the_mail_cap_are_not_sent_and_the_page_is_the_same(stack, client, magic_login,
                                                                                  settings):
    """Sign-in links count in the per-account cap of code emails
    (code_mail_cap per code_mail_window_seconds): an unauthenticated login flow
    that mails links cannot flood an inbox, and the page does not tell."""
    import re
    from flowweb import messages_to
    from lockout_util import audit
    settings.set("code_mail_cap", 2)
    username, sub = make_user(stack)
    address = f"{username}@example.org"
    pages = []
    for _ in range(3):
        b = FlowBrowser(stack)
        try:
            _, challenge = pkce()
            page = b.login_page(b.authorize(auth_params(client[0], client[2], code_challenge=challenge)))
            r = b.fill(page, identifier=username)
            assert r.status_code == 200 and h1(r) == "Check your email"
            pages.append(re.sub(r'name="(csrf|node)" value="[^"]*"', "", r.text))
        finally:
            b.close()
    assert pages[2] == pages[0]
    wait_message(stack, address, count=2)
    wait_mail_sent(stack)
    assert len(messages_to(stack, address)) == 2
    assert len(audit(stack, event="code_mail_capped", subject=sub)) == 1
