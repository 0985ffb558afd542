"""Registration through the pages: /register asks for a username,
an email address and a new password, sends a code to the address (read
from the session's SMTP sink), and the code typed back creates a verified
account that can sign in. Taken names and mismatched passwords are field
errors with fixed sentences."""

import secrets

import pytest

from flowweb import FlowBrowser, alert, code_in, h1, inputs, password_login, text_of, wait_message
from oidc import assert_page_headers, ctl_json, make_user

PASSWORD = "a long enough registration passphrase"


def test_registration_with_the_email_code(stack, browser, client):
    username = "reg-" + secrets.token_hex(4)
    address = f"{username}@example.org"
    page = browser.start("/register")
    assert h1(page) == "Create an account"
    r = browser.fill(page, username=username, email=address, password=PASSWORD)
    assert r.status_code == 200, r.text[:500]
    assert h1(r) == "Check your email"
    assert_page_headers(r)
    hint = text_of(r, "email-hint")
    assert hint and "@example.org" in hint
    code_name = [n for n, a in inputs(r).items() if a.get("type") != "hidden"][0]
    assert inputs(r)[code_name]["autocomplete"] == "one-time-code"

    code = code_in(wait_message(stack, address))
    r = browser.fill(r, **{code_name: code})
    assert r.status_code == 200, r.text[:500]
    assert text_of(r, "done") == "Your account is ready. You can now sign in with it."
    assert h1(r) == "Done"

    user = ctl_json(stack, "flow.user_get", {"username": username})["user"]
    assert user["email"] == address and user["email_verified"] is True

    b = FlowBrowser(stack)
    try:
        r = password_login(stack, b, client[0], client[2], username, PASSWORD)
        assert r.status_code == 303 and r.headers["Location"].startswith(client[2]), r.text[:500]
    finally:
        b.close()


def test_registration_with_a_wrong_code_keeps_the_step(stack, browser):
    username = "reg-" + secrets.token_hex(4)
    address = f"{username}@example.org"
    r = browser.fill(browser.start("/register"), username=username, email=address, password=PASSWORD)
    assert h1(r) == "Check your email"
    code = code_in(wait_message(stack, address))
    wrong = f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"
    code_name = [n for n, a in inputs(r).items() if a.get("type") != "hidden"][0]
    r = browser.fill(r, **{code_name: wrong})
    assert r.status_code == 200 and h1(r) == "Check your email"
    assert alert(r) == "That code is not correct. Check it and try again."


def test_registration_of_a_taken_username_is_a_field_error(stack, browser):
    taken, _ = make_user(stack)
    page = browser.start("/register")
    r = browser.fill(page, username=taken, email=f"other-{taken}@example.org", password=PASSWORD)
    assert r.status_code == 200 and h1(r) == "Create an account"
    assert "That name or address is already in use." in r.text
    # What was typed stays, passwords excepted.
    fields = inputs(r)
    assert fields["username"].get("value") == taken
    assert all("value" not in a for a in fields.values() if a.get("type") == "password")


def test_registration_with_mismatched_passwords_is_refused(stack, browser):
    username = "reg-" + secrets.token_hex(4)
    page = browser.start("/register")
    passwords = [n for n, a in inputs(page).items() if a.get("type") == "password"]
    if len(passwords) < 2:
        pytest.skip("the registration step has no confirmation field")
    data = {passwords[0]: PASSWORD, passwords[1]: PASSWORD + "!"}
    r = browser.fill(page, username=username, email=f"{username}@example.org", **data)
    assert r.status_code == 200 and h1(r) == "Create an account"
    assert "The two passwords do not match." in r.text


def test_fifth_wrong_code_ends_the_flow_with_a_start_again_page(stack, browser):
    username = "reg-" + secrets.token_hex(4)
    address = f"{username}@example.org"
    r = browser.fill(browser.start("/register"), username=username, email=address, password=PASSWORD)
    code = code_in(wait_message(stack, address))
    wrong = f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"
    for _ in range(5):
        assert h1(r) == "Check your email", r.text[:500]
        code_name = [n for n, a in inputs(r).items() if a.get("type") != "hidden"][0]
        r = browser.fill(r, **{code_name: wrong})
        assert r.status_code == 200
    assert h1(r) == "This did not work"
    assert alert(r)
    assert f'href="{stack.base_url}/register"' in r.text
    assert "<form" not in r.text
    # The flow is over: its cookie is dropped, and the page says so.
    assert "ostiary_flow" not in browser.http.cookies
    assert browser.get(stack.base_url + "/flow").status_code == 400


def test_address_the_outbox_cannot_mail_is_a_field_error(stack, browser):
    """No SMTPUTF8: an address with a non-ASCII local part could never get its
    code, so registration refuses it (a field error, not a server error)."""
    page = browser.start("/register")
    r = browser.fill(page, username="reg-" + secrets.token_hex(4),
                     email="\u00e9lodie-" + secrets.token_hex(3) + "@example.org",
                     password="a long enough registration passphrase")
    assert r.status_code == 200, r.text[:500]
    assert h1(r) == "Create an account"
    assert 'id="email-error"' in r.text
