"""Account recovery through the pages: /recover asks for an email
address or username, sends a code to a known address, and the code typed
back lets the user set a new password that then signs in (the old one no
longer does). An unknown address walks the same pages and gets no email."""

import re
import secrets

from flowweb import NEW_PASSWORD, FlowBrowser, alert, code_in, h1, inputs, messages_to, password_login, \
    text_of, wait_message
from oidc import PASSWORD, make_user, wait_mail_sent


def identify(browser, identifier):
    page = browser.start("/recover")
    assert h1(page) == "Recover your account"
    name = [n for n, a in inputs(page).items() if a.get("type") != "hidden"][0]
    assert inputs(page)[name]["autocomplete"] in ("username", "email")
    r = browser.fill(page, **{name: identifier})
    assert r.status_code == 200, r.text[:500]
    return r


def shape(page):
    """What an observer of the page sees, minus the per-flow values."""
    text = re.sub(r'name="(csrf|node)" value="[^"]*"', "", page.text)
    text = re.sub(r'<strong id="email-hint">[^<]*</strong>', "", text)
    return h1(page), sorted(inputs(page)), text.count("<input")


def test_recovery_of_a_known_address_sets_a_new_password(stack, browser, client):
    username, _ = make_user(stack)
    address = f"{username}@example.org"
    r = identify(browser, address)
    assert h1(r) == "Check your email"
    assert text_of(r, "email-hint")
    code_name = [n for n, a in inputs(r).items() if a.get("type") != "hidden"][0]
    r = browser.fill(r, **{code_name: code_in(wait_message(stack, address))})
    assert r.status_code == 200 and h1(r) == "Choose a new password", r.text[:500]
    assert all(a["autocomplete"] == "new-password" for a in inputs(r).values() if a.get("type") == "password")
    r = browser.fill(r, password=NEW_PASSWORD)
    assert r.status_code == 200
    assert text_of(r, "done") == "Your password has been changed. You can now sign in with it."

    for password, expected in ((PASSWORD, 200), (NEW_PASSWORD, 303)):
        b = FlowBrowser(stack)
        try:
            r = password_login(stack, b, client[0], client[2], username, password)
            assert r.status_code == expected, (password, r.status_code)
            if expected == 200:
                assert alert(r) == "Incorrect username or password"
        finally:
            b.close()


def test_recovery_of_an_unknown_address_looks_the_same_and_sends_nothing(stack, client):
    known, _ = make_user(stack)
    unknown = f"nobody-{secrets.token_hex(4)}@example.org"
    pages = []
    for address in (f"{known}@example.org", unknown):
        b = FlowBrowser(stack)
        try:
            pages.append(identify(b, address))
        finally:
            b.close()
    assert shape(pages[0]) == shape(pages[1])
    assert h1(pages[1]) == "Check your email"
    # The hint is made of what was typed only, never of the account.
    for address, page in zip((f"{known}@example.org", unknown), pages):
        assert text_of(page, "email-hint") == address[0] + "***@example.org"
    # The known address gets its message; by then the unknown one's would
    # have gone out through the same outbox too.
    wait_message(stack, f"{known}@example.org")
    wait_mail_sent(stack)
    assert messages_to(stack, unknown) == []


def test_recovery_code_of_an_unknown_address_never_matches(stack, browser):
    unknown = f"nobody-{secrets.token_hex(4)}@example.org"
    r = identify(browser, unknown)
    code_name = [n for n, a in inputs(r).items() if a.get("type") != "hidden"][0]
    r = browser.fill(r, **{code_name: "123456"})
    assert r.status_code == 200 and h1(r) == "Check your email"
    assert alert(r) == "That code is not correct. Check it and try again."


def test_recovery_by_username_shows_the_same_page_for_a_known_and_an_unknown_one(stack, client):
    """A username names an account without showing its address: both pages
    say "your email address", hint included, and only the known one mails."""
    known, _ = make_user(stack)
    unknown = f"nobody{secrets.token_hex(4)}"
    pages = []
    for name in (known, unknown):
        b = FlowBrowser(stack)
        try:
            pages.append(identify(b, name))
        finally:
            b.close()
    for page in pages:
        assert h1(page) == "Check your email"
        assert text_of(page, "email-hint") == "your email address"
    strip = lambda page: re.sub(r'name="(csrf|node)" value="[^"]*"', "", page.text)  # noqa: E731
    assert strip(pages[0]) == strip(pages[1])
    wait_message(stack, f"{known}@example.org")


def test_recovery_hint_keeps_a_whole_non_ascii_first_letter(stack, browser):
    """The typed address is masked to its first character, all of its UTF-8
    bytes, and its domain."""
    r = identify(browser, "\u00e9nobody-" + secrets.token_hex(3) + "@example.org")
    assert h1(r) == "Check your email"
    assert text_of(r, "email-hint") == "\u00e9***@example.org"
