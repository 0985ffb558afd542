"""Brute-force protection of password logins ("Lockout" of
docs/flows.md): per-account lockout after lockout_threshold failures, counted
atomically under parallel attempts; a per-address throttle; a locked account,
a wrong password and an unknown user answered alike and in the same time;
`ostiaryctl users unlock`; lockouts and unlocks as audit events."""

import re
import statistics
from concurrent.futures import ThreadPoolExecutor

import pytest

from lockout_util import DEFAULTS, attempt, audit, clear_address_counters, psql, settings  # noqa: F401
from oidc import PASSWORD, make_user, psql_flow, wait_for

WRONG = "not the password"


@pytest.fixture
def no_throttle(stack, settings):
    """The tests about accounts must not meet the address throttle that
    the failures of the whole session (all from 127.0.0.1) could trigger."""
    clear_address_counters(stack)
    settings.set("address_threshold", 1000000)
    return settings


def failures(stack, sub):
    out = psql(stack, f"SELECT failures FROM flow.lockout_accounts WHERE sub = '{sub}'")
    return int(out) if out else 0


def lockout_events(stack, sub):
    return audit(stack, event="lockout", subject=sub)


REFUSED_LOCKED = "attempt on a locked account refused"


def refused_for_the_account(stack):
    """How many attempts flow-svc has refused for their account, unchecked
    (lockout.c logs each one)."""
    return stack.log_text("flow-svc").count(REFUSED_LOCKED)


def test_fifty_parallel_wrong_passwords_check_exactly_the_threshold_and_lock_once(stack, client,
                                                                                  no_throttle):
    username, sub = make_user(stack)
    threshold = DEFAULTS["lockout_threshold"]
    refused_before = refused_for_the_account(stack)
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: attempt(stack, client, username, WRONG), range(50)))
    assert not any(ok for ok, _, _ in results)
    # Every one of the 50 was counted: no increment was lost to a race...
    assert failures(stack, sub) == 50
    # ... and each was judged by the count it found: exactly `threshold` of
    # them were checked, the rest refused unchecked.
    assert refused_for_the_account(stack) - refused_before == 50 - threshold
    events = lockout_events(stack, sub)
    assert len(events) == 1, events
    assert events[0]["details"]["failures"] >= threshold
    assert events[0]["details"]["threshold"] == threshold
    assert events[0]["address"] == "127.0.0.1"
    # Locked: the right password is refused too, and still counted.
    ok, _, _ = attempt(stack, client, username, PASSWORD)
    assert not ok
    assert failures(stack, sub) == 51
    assert len(lockout_events(stack, sub)) == 1


def test_the_right_password_at_the_threshold_attempt_logs_in(stack, client, no_throttle):
    # The fifth failed attempt locks the account (lockout_threshold 5), so 4 mistakes
    # and then the right password is a login.
    username, sub = make_user(stack)
    for _ in range(DEFAULTS["lockout_threshold"] - 1):
        assert not attempt(stack, client, username, WRONG)[0]
    assert attempt(stack, client, username, PASSWORD)[0]
    assert failures(stack, sub) == 0
    assert not lockout_events(stack, sub)


def test_threshold_failures_lock_the_account_with_one_lockout_event(stack, client, no_throttle):
    username, sub = make_user(stack)
    threshold = DEFAULTS["lockout_threshold"]
    for _ in range(threshold - 1):
        assert not attempt(stack, client, username, WRONG)[0]
    assert not lockout_events(stack, sub)
    # The failure that reaches the threshold locks.
    assert not attempt(stack, client, username, WRONG)[0]
    events = lockout_events(stack, sub)
    assert len(events) == 1, events
    assert events[0]["details"]["failures"] == threshold
    assert events[0]["details"]["lockout_seconds"] == DEFAULTS["lockout_seconds"]
    # Locked: the right password is refused, and no second event is written.
    assert not attempt(stack, client, username, PASSWORD)[0]
    assert not attempt(stack, client, username, WRONG)[0]
    assert len(lockout_events(stack, sub)) == 1


def test_a_successful_login_resets_the_failure_count(stack, client, no_throttle):
    username, sub = make_user(stack)
    # threshold - 1 failures and a success, twice: without the reset the
    # second round would reach the threshold and lock.
    for _ in range(2):
        for _ in range(DEFAULTS["lockout_threshold"] - 1):
            assert not attempt(stack, client, username, WRONG)[0]
        assert attempt(stack, client, username, PASSWORD)[0]
        assert failures(stack, sub) == 0
    assert not lockout_events(stack, sub)


def test_the_lock_expires_after_lockout_seconds_and_the_count_starts_again(stack, client, no_throttle):
    no_throttle.set("lockout_seconds", 1)
    no_throttle.set("lockout_threshold", 3)
    username, sub = make_user(stack)
    for _ in range(3):
        assert not attempt(stack, client, username, WRONG)[0]
    assert not attempt(stack, client, username, PASSWORD)[0]
    assert len(lockout_events(stack, sub)) == 1
    # Locked for lockout_seconds (1): wait until the stored lock has ended.
    wait_for("the lock to end", lambda: psql_flow(
        stack, f"SELECT count(*) FROM flow.lockout_accounts WHERE sub = '{sub}'"
               " AND locked_until IS NOT NULL AND locked_until <= now()") == "1", timeout=5)
    # The first failure after the lock starts a new count at 1: not locked.
    assert not attempt(stack, client, username, WRONG)[0]
    assert failures(stack, sub) == 1
    assert attempt(stack, client, username, PASSWORD)[0]
    assert len(lockout_events(stack, sub)) == 1


def test_a_count_left_at_the_threshold_without_a_lock_restarts_after_lockout_seconds(stack, client,
                                                                                     no_throttle):
    # A crash between the check of the threshold failure and its lock leaves
    # the count there with no lock: refused, but only for lockout_seconds.
    no_throttle.set("lockout_seconds", 60)
    username, sub = make_user(stack)
    threshold = DEFAULTS["lockout_threshold"]
    psql(stack, f"INSERT INTO flow.lockout_accounts (sub, failures, updated_at)"
                f" VALUES ('{sub}', {threshold}, now())")
    assert not attempt(stack, client, username, PASSWORD)[0]
    assert failures(stack, sub) == threshold + 1
    psql(stack, f"UPDATE flow.lockout_accounts SET updated_at = now() - interval '61 seconds'"
                f" WHERE sub = '{sub}'")
    assert attempt(stack, client, username, PASSWORD)[0]
    assert failures(stack, sub) == 0
    assert not lockout_events(stack, sub)


def test_unlock_lifts_the_lock_and_is_audited(stack, client, no_throttle):
    no_throttle.set("lockout_threshold", 2)
    username, sub = make_user(stack)
    for _ in range(2):
        attempt(stack, client, username, WRONG)
    assert not attempt(stack, client, username, PASSWORD)[0]
    r = stack.ctl("users", "unlock", username.upper())
    assert r.returncode == 0, r.stderr
    assert "unlocked" in r.stdout
    assert attempt(stack, client, username, PASSWORD)[0]
    events = audit(stack, event="unlock", subject=sub)
    assert len(events) == 1 and events[0]["details"] == {"was_locked": True, "second_factor_was_locked": False}
    # Unlocking an account that is not locked is fine, and audited as such.
    r = stack.ctl("users", "unlock", username)
    assert r.returncode == 0, r.stderr
    assert audit(stack, event="unlock", subject=sub)[0]["details"] == {"was_locked": False,
                                                                 "second_factor_was_locked": False}


def test_unlock_of_an_unknown_user_exits_1_and_bad_usage_exits_2(stack):
    r = stack.ctl("users", "unlock", "nobody-at-all")
    assert r.returncode == 1 and "not_found" in r.stderr, (r.stdout, r.stderr)
    assert stack.ctl("users", "unlock").returncode == 2
    assert stack.ctl("users", "unlock", "a", "b").returncode == 2
    r = stack.ctl("call", "flow.user_unlock", '{"username": "Not Valid!"}')
    assert r.returncode == 1 and "invalid_request" in r.stdout


def test_a_throttled_address_is_refused_even_with_the_right_password(stack, client, settings):
    clear_address_counters(stack)
    settings.set("address_threshold", 2)
    username, _ = make_user(stack)
    other, _ = make_user(stack)
    # Failures of unknown users count for the address too.
    for _ in range(3):
        assert not attempt(stack, client, "nobody-" + username, WRONG)[0]
    assert not attempt(stack, client, username, PASSWORD)[0]
    # The address is throttled, not the account: with the throttle lifted,
    # the same user logs in.
    settings.set("address_threshold", 1000000)
    assert attempt(stack, client, username, PASSWORD)[0]
    assert attempt(stack, client, other, PASSWORD)[0]


def test_successful_logins_do_not_count_against_the_address(stack, client, settings):
    clear_address_counters(stack)
    settings.set("address_threshold", 2)
    username, _ = make_user(stack)
    for _ in range(5):
        assert attempt(stack, client, username, PASSWORD)[0]


def test_locked_wrong_and_unknown_take_the_same_answer_and_time(stack, client, no_throttle):
    locked, _ = make_user(stack)
    for _ in range(DEFAULTS["lockout_threshold"]):
        attempt(stack, client, locked, WRONG)
    # A high threshold from now on: the known user's wrong passwords below
    # must not lock it (the lock already set stays).
    no_throttle.set("lockout_threshold", 1000)
    known, _ = make_user(stack)
    unknown = "nobody-" + known
    times = {"locked": [], "wrong": [], "unknown": []}
    pages = {}
    for _ in range(10):
        for kind, user, password in (("locked", locked, PASSWORD), ("wrong", known, WRONG),
                                     ("unknown", unknown, PASSWORD)):
            ok, elapsed, r = attempt(stack, client, user, password)
            assert not ok
            times[kind].append(elapsed)
            pages[kind] = (r.status_code, r.text.replace(user, "USER"))
    medians = {k: statistics.median(v) for k, v in times.items()}
    print("login POST medians (s):", {k: round(v, 4) for k, v in medians.items()})
    # The same page (the username echoed aside) for the three.
    # The CSRF token and the authorization request's id (in the link to
    # register) differ per request.
    strip = lambda t: re.sub(r'request=[A-Za-z0-9._~-]*', "", re.sub(r'name="csrf" value="[^"]*"', "", t[1]))  # noqa: E731
    assert strip(pages["locked"]) == strip(pages["wrong"]) == strip(pages["unknown"])
    # Measured, asserted loosely: each Argon2id verification dominates.
    lo, hi = min(medians.values()), max(medians.values())
    assert hi <= lo * 1.5, medians
