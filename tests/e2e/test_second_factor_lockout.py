"""Brute-force protection of second factors across flow executions
(docs/flows.md, "Lockout"; NIST SP 800-63B §5.2.2): wrong TOTP, recovery and
email codes of one account are counted across logins and recoveries, never
reset by a password, reset by a code that verifies; at code_lockout_threshold
the second factor is locked (every code refused, the right one too, one
second_factor_lockout audit event) until `ostiaryctl users unlock`; wrong
codes count for the client address like wrong passwords; code emails per
account are capped per window without the page telling."""

import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from flowweb import FlowBrowser, alert, code_in, h1, inputs, messages_to, totp, wait_message
from lockout_util import audit, clear_address_counters, psql, settings  # noqa: F401
from oidc import make_user, wait_mail_sent
from test_recovery import identify
from test_totp_login import authorize, code_field, enroll

LOCKED = "Too many wrong codes. Wait a while and try again."
WRONG_CODE = "That code is not correct. Check it and try again."
FAILED = "Too many failed attempts, or the attempt was refused. Please start again."
THROTTLED = "Too many failed attempts from your network. Wait a few minutes and try again."
FAILED_TITLE = "This did not work"
#  What flow-svc logs for each code refused unchecked (lockout.c).
REFUSED_LOCKED = "a code for a locked second factor refused"


@pytest.fixture
def codes(stack, settings):
    """Settings of these tests; every test starts with a clean address
    counter and no address throttle."""
    clear_address_counters(stack)
    settings.set("address_threshold", 1000000)
    return settings


def sf_failures(stack, key):
    out = psql(stack, f"SELECT failures FROM flow.lockout_codes WHERE key = '{key}'")
    return int(out) if out else 0


def address_failures(stack):
    out = psql(stack, "SELECT failures FROM flow.lockout_addresses WHERE address = '127.0.0.1'")
    return int(out) if out else 0


def wrong(secret):
    """A 6-digit code that is none of the verifier's window (RFC 6238 §5.2)."""
    valid = {totp(secret, at=time.time() + d) for d in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{n:06d}" for n in range(1000000)) if c not in valid)


def code_page(browser, client, username):
    """A new authorization with prompt=login past the right password: the
    TOTP page."""
    _, r = authorize(browser, client, prompt="login")
    r = browser.login(r, username)
    assert r.status_code == 200 and h1(r) == "Two-step verification", (r.status_code, r.text[:500])
    return r


def send(browser, page, code):
    return browser.fill(page, **{code_field(page): code})


def enrolled_user(stack, client):
    username, sub = make_user(stack)
    b = FlowBrowser(stack)
    try:
        secret, recovery = enroll(stack, b, client, username)
    finally:
        b.close()
    return username, sub, secret, recovery


def test_wrong_totp_codes_across_logins_lock_the_second_factor_at_the_threshold(stack, browser, client, codes):
    codes.set("code_lockout_threshold", 7)
    username, sub, secret, _ = enrolled_user(stack, client)
    # First login: five wrong codes end the execution (the per-execution
    # limit), not yet the second factor.
    r = code_page(browser, client, username)
    for i in range(5):
        r = send(browser, r, wrong(secret))
        assert r.status_code == 200
        if i < 4:
            assert alert(r) == WRONG_CODE
    assert h1(r) == FAILED_TITLE and alert(r) == FAILED
    assert sf_failures(stack, sub) == 5
    # Second login: the right password does not reset the count; the wrong
    # code that reaches the threshold locks, and says so.
    r = code_page(browser, client, username)
    assert sf_failures(stack, sub) == 5
    r = send(browser, r, wrong(secret))
    assert alert(r) == WRONG_CODE
    assert not audit(stack, event="second_factor_lockout", subject=sub)
    r = send(browser, r, wrong(secret))
    assert r.status_code == 200 and h1(r) == FAILED_TITLE and alert(r) == LOCKED
    events = audit(stack, event="second_factor_lockout", subject=sub)
    assert len(events) == 1, events
    assert events[0]["details"]["failures"] == 7 and events[0]["details"]["threshold"] == 7
    assert events[0]["details"]["known_account"] is True
    assert events[0]["address"] == "127.0.0.1"
    # Third login: the right code is refused too, and no second event.
    right = totp(secret, at=time.time() + 30)
    r = code_page(browser, client, username)
    r = send(browser, r, right)
    assert r.status_code == 200 and h1(r) == FAILED_TITLE and alert(r) == LOCKED
    assert "Location" not in r.headers
    assert len(audit(stack, event="second_factor_lockout", subject=sub)) == 1
    # `ostiaryctl users unlock` lifts it (audited), and the same code, never
    # checked while locked, now signs in.
    out = stack.ctl("users", "unlock", username)
    assert out.returncode == 0, out.stderr
    assert "unlocked (second factor)" in out.stdout
    unlock = audit(stack, event="unlock", subject=sub)
    assert len(unlock) == 1
    assert unlock[0]["details"] == {"was_locked": False, "second_factor_was_locked": True}
    assert sf_failures(stack, sub) == 0
    r = code_page(browser, client, username)
    r = send(browser, r, right)
    assert r.status_code == 303 and r.headers["Location"].startswith(client[2]), r.text[:500]
    assert len(audit(stack, event="second_factor_lockout", subject=sub)) == 1


def test_parallel_wrong_codes_in_many_logins_check_exactly_the_threshold_and_lock_once(stack, client, codes):
    codes.set("code_lockout_threshold", 3)
    username, sub, secret, _ = enrolled_user(stack, client)
    browsers = [FlowBrowser(stack) for _ in range(10)]
    try:
        pages = [code_page(b, client, username) for b in browsers]
        refused_before = stack.log_text("flow-svc").count(REFUSED_LOCKED)
        code = wrong(secret)
        # civetweb closes a keep-alive connection idle for half a second; a
        # POST that races that close is lost (RemoteDisconnected, seen under
        # the sanitizers, where preparing ten logins is slow). Each browser
        # sends on a fresh connection (its cookies stay).
        for b in browsers:
            b.http.close()
        with ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(lambda bp: send(bp[0], bp[1], code), zip(browsers, pages)))
    finally:
        for b in browsers:
            b.close()
    # Every submission was counted, and each judged by the count it found:
    # the threshold's worth were checked (the last of them locked), the
    # others refused unchecked.
    assert sf_failures(stack, sub) == 10
    assert stack.log_text("flow-svc").count(REFUSED_LOCKED) - refused_before == 10 - 3
    assert sorted(alert(r) for r in results) == sorted([WRONG_CODE] * 2 + [LOCKED] * 8)
    assert len(audit(stack, event="second_factor_lockout", subject=sub)) == 1


def test_a_code_that_verifies_resets_the_second_factor_count(stack, browser, client, codes):
    codes.set("code_lockout_threshold", 7)
    username, sub, secret, recovery = enrolled_user(stack, client)
    r = code_page(browser, client, username)
    for _ in range(4):
        r = send(browser, r, wrong(secret))
    assert sf_failures(stack, sub) == 4
    # A recovery code verifies: the count goes back to 0.
    r = send(browser, r, recovery[0])
    assert r.status_code == 303, r.text[:500]
    assert sf_failures(stack, sub) == 0
    # Five more wrong ones stay below the threshold (4 + 5 would not).
    r = code_page(browser, client, username)
    for _ in range(5):
        r = send(browser, r, wrong(secret))
    assert h1(r) == FAILED_TITLE and alert(r) == FAILED
    assert sf_failures(stack, sub) == 5
    assert not audit(stack, event="second_factor_lockout", subject=sub)


def test_wrong_totp_codes_count_in_the_address_counter(stack, browser, client, codes):
    username, _, secret, _ = enrolled_user(stack, client)
    other, _ = make_user(stack)
    clear_address_counters(stack)
    codes.set("address_threshold", 3)
    r = code_page(browser, client, username)
    # The right password was forgiven; each wrong code counts.
    assert address_failures(stack) == 0
    for n in range(1, 4):
        r = send(browser, r, wrong(secret))
        assert alert(r) == WRONG_CODE
        assert address_failures(stack) == n
    # Above the threshold the address is throttled: the right code is
    # refused, and so is another account's right password.
    r = send(browser, r, totp(secret, at=time.time() + 30))
    assert r.status_code == 200 and alert(r) == THROTTLED
    b = FlowBrowser(stack)
    try:
        _, r = authorize(b, client)
        r = b.login(r, other)
        assert r.status_code == 200 and alert(r) == THROTTLED
    finally:
        b.close()


def wrong_email_code(browser, page, count):
    for _ in range(count):
        name = [n for n, a in inputs(page).items() if a.get("type") != "hidden"][0]
        page = browser.fill(page, **{name: "000000"})
        assert page.status_code == 200
    return page


def test_wrong_recovery_codes_across_recoveries_lock_a_known_and_an_unknown_identifier_alike(stack, codes):
    codes.set("code_lockout_threshold", 3)
    known, sub = make_user(stack)
    unknown = f"nobody{secrets.token_hex(4)}"
    finals = {}
    for name in (known, unknown):
        # Two wrong codes in one recovery, then one in the next: locked.
        b = FlowBrowser(stack)
        try:
            r = wrong_email_code(b, identify(b, name), 2)
            assert alert(r) == WRONG_CODE
        finally:
            b.close()
        b = FlowBrowser(stack)
        try:
            r = wrong_email_code(b, identify(b, name), 1)
            assert h1(r) == FAILED_TITLE and alert(r) == LOCKED, r.text[:800]
            finals[name] = re.sub(r'name="(csrf|node)" value="[^"]*"', "", r.text)
        finally:
            b.close()
    # The lock tells nothing about whether the account exists.
    assert finals[known] == finals[unknown]
    events = audit(stack, event="second_factor_lockout")
    assert len([e for e in events if e["subject"] == sub]) == 1
    # While locked, the code that was mailed is refused too.
    b = FlowBrowser(stack)
    try:
        r = identify(b, known)
        # The third recovery of the account, so its third message.
        msg = wait_message(stack, f"{known}@example.org", count=3)
        name = [n for n, a in inputs(r).items() if a.get("type") != "hidden"][0]
        r = b.fill(r, **{name: code_in(msg)})
        assert h1(r) == FAILED_TITLE and alert(r) == LOCKED
    finally:
        b.close()


def test_code_emails_above_the_cap_are_not_sent_and_the_page_is_the_same(stack, codes):
    codes.set("code_mail_cap", 2)
    known, sub = make_user(stack)
    other, _ = make_user(stack)
    address = f"{known}@example.org"
    strip = lambda page: re.sub(r'name="(csrf|node)" value="[^"]*"', "", page.text)  # noqa: E731
    pages = []
    for _ in range(4):
        b = FlowBrowser(stack)
        try:
            pages.append(identify(b, known))
        finally:
            b.close()
    b = FlowBrowser(stack)
    try:
        unknown_page = identify(b, f"nobody{secrets.token_hex(4)}")
    finally:
        b.close()
    # The capped recoveries (the 3rd and 4th) look exactly like the ones that
    # mailed and like an unknown name.
    assert h1(pages[0]) == "Check your email"
    assert all(strip(page) == strip(unknown_page) for page in pages)
    # A later message to someone else has gone out through the same outbox:
    # the known address got exactly the cap.
    b = FlowBrowser(stack)
    try:
        identify(b, other)
    finally:
        b.close()
    wait_message(stack, f"{other}@example.org")
    wait_message(stack, address, count=2)
    wait_mail_sent(stack)
    assert len(messages_to(stack, address)) == 2
    # One audit event for the window, however many were refused.
    events = audit(stack, event="code_mail_capped", subject=sub)
    assert len(events) == 1, events
    assert events[0]["details"]["cap"] == 2


def recover_with(stack, name, wrong_codes):
    b = FlowBrowser(stack)
    try:
        return wrong_email_code(b, identify(b, name), wrong_codes)
    finally:
        b.close()


def test_another_name_of_a_locked_identifier_tells_nothing_about_the_account(stack, codes):
    """A review finding: the lock shown in a recovery is that of what was
    typed. Locking a username, then trying its account's address, answers
    the same for an account that exists and for one that does not."""
    codes.set("code_lockout_threshold", 3)
    known, _ = make_user(stack)  # address f"{known}@example.org"
    ghost = f"ghost{secrets.token_hex(4)}"
    seen = {}
    for name in (known, ghost):
        recover_with(stack, name, 2)
        assert alert(recover_with(stack, name, 1)) == LOCKED
        seen[name] = alert(recover_with(stack, f"{name}@example.org", 1))
    assert seen[known] == seen[ghost] == WRONG_CODE


def test_the_names_of_one_account_share_a_silent_cap_on_recovery_codes(stack, codes):
    """Each name has its own visible count; the account's own counter adds
    them up and, once at the threshold, refuses even the mailed code as a
    plain wrong code (audited, never shown)."""
    codes.set("code_lockout_threshold", 3)
    known, sub = make_user(stack)
    address = f"{known}@example.org"
    recover_with(stack, known, 2)
    assert alert(recover_with(stack, address, 1)) == WRONG_CODE
    assert sf_failures(stack, "r:" + sub) == 3
    events = audit(stack, event="second_factor_lockout", subject=sub)
    assert len(events) == 1 and events[0]["details"]["known_account"] is True
    b = FlowBrowser(stack)
    try:
        r = identify(b, address.upper())
        msg = wait_message(stack, address, count=3)
        name = [n for n, a in inputs(r).items() if a.get("type") != "hidden"][0]
        r = b.fill(r, **{name: code_in(msg)})
        assert r.status_code == 200 and alert(r) == WRONG_CODE, r.text[:500]
    finally:
        b.close()
    # `ostiaryctl users unlock` clears the recovery counter too.
    assert stack.ctl("users", "unlock", known).returncode == 0
    assert sf_failures(stack, "r:" + sub) == 0


def test_guessing_recovery_codes_never_locks_the_login_second_factor(stack, browser, client, codes):
    """A review finding: anyone who knows a username could lock its TOTP with
    wrong recovery codes. Recovery counts apart from the login's factor."""
    codes.set("code_lockout_threshold", 3)
    username, sub, secret, _ = enrolled_user(stack, client)
    recover_with(stack, username, 2)
    assert alert(recover_with(stack, username, 1)) == LOCKED
    assert sf_failures(stack, sub) == 0
    r = code_page(browser, client, username)
    r = send(browser, r, totp(secret, at=time.time() + 30))
    assert r.status_code == 303 and r.headers["Location"].startswith(client[2]), r.text[:500]
