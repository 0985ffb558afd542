"""`ostiaryctl users add|list|show|passwd|disable`: the operator's side of
flow-svc's users. Exit codes: 0 done, 1 an error reply (no such user), 2 bad
usage or input, with a message on stderr. No output ever holds a password or
its hash.
"""

import json
import uuid

import pytest

PASSWORD = "a long enough password"
EXIT_OK, EXIT_REPLY, EXIT_USAGE = 0, 1, 2


def name():
    return "cli" + uuid.uuid4().hex[:12]


def users(stack, *args, input=None):
    return stack.ctl("users", *args, input=input)


def no_secret(cp, *secrets):
    """Nothing a command printed holds a hash or one of the secrets."""
    for text in (cp.stdout, cp.stderr):
        assert "$argon2" not in text and "password_hash" not in text
        for secret in secrets:
            assert secret not in text


def add(stack, username, *extra, password=PASSWORD):
    cp = users(stack, "add", username, *extra, "--password-stdin", input=password + "\n")
    assert cp.returncode == EXIT_OK, cp.stderr
    no_secret(cp, password)
    return json.loads(cp.stdout)


def can_log_in(stack, username, password):
    """A password login through the login flow (flow.start, flow.submit)
    issues a session."""
    cp = stack.ctl_for("flow.start", "call", "flow.start", json.dumps({"request_id": "r" + uuid.uuid4().hex}))
    assert cp.returncode == EXIT_OK, (cp.stdout, cp.stderr)
    flow = json.loads(cp.stdout)
    cp = stack.ctl_for("flow.submit", "call", "flow.submit", json.dumps(
        {"flow": flow["flow"], "csrf": flow["csrf"], "node": "password",
         "input": {"username": username, "password": password}}))
    assert cp.returncode == EXIT_OK, (cp.stdout, cp.stderr)
    state = json.loads(cp.stdout)
    # A refused password leaves the flow at its password step with login_failed.
    assert state["status"] == "succeeded" or state["step"]["error"] == "login_failed", state
    return state["status"] == "succeeded" and "result" in state


def test_add_prints_the_user_with_a_random_sub(stack):
    username = name()
    user = add(stack, username, "--email", "Bob@Example.org", "--email-verified", "--given-name", "Bob",
               "--family-name", "Builder", "--name", "Bob Builder", "--phone", "+1 555 0100",
               "--locality", "Springfield", "--country", "US")
    assert user["username"] == username
    assert user["sub"] and username not in user["sub"]
    assert user["email"] == "Bob@Example.org" and user["email_verified"] is True
    assert user["phone_number"] == "+1 555 0100" and user["phone_number_verified"] is False
    assert user["address"] == {"locality": "Springfield", "country": "US"}
    assert user["disabled"] is False
    assert can_log_in(stack, username, PASSWORD)


def test_add_with_password_argument(stack):
    username = name()
    cp = users(stack, "add", username, "--password", PASSWORD)
    assert cp.returncode == EXIT_OK, cp.stderr
    no_secret(cp, PASSWORD)
    assert can_log_in(stack, username, PASSWORD)


def test_usernames_are_stored_in_lowercase(stack):
    username = name()
    user = add(stack, username.upper())
    assert user["username"] == username
    cp = users(stack, "show", username.upper())
    assert cp.returncode == EXIT_OK and json.loads(cp.stdout)["sub"] == user["sub"]


def test_duplicate_username_is_refused(stack):
    username = name()
    add(stack, username)
    cp = users(stack, "add", username.upper(), "--password-stdin", input=PASSWORD + "\n")
    assert cp.returncode == EXIT_REPLY
    assert "already exists" in cp.stderr


@pytest.mark.parametrize("args, stdin", [
    (["add"], None),
    (["add", "{u}"], None),                                  # no password option
    (["add", "{u}", "--password-stdin"], ""),                # empty standard input
    (["add", "{u}", "--password-stdin"], "x" * 1100 + "\n"),  # too long
    (["add", "{u}", "--password", "short"], None),           # below the minimum length
    (["add", "{u}", "--password", "p1", "--password-stdin"], PASSWORD),
    (["add", "{u}", "--nosuch", "--password", PASSWORD], None),
    (["add", "{u}", "--email"], None),
    (["add", "{u}", "--email", "nope", "--password", PASSWORD], None),
    (["add", "{u}", "--birthdate", "1990-02-30x", "--password", PASSWORD], None),
    (["add", "{u}", "--website", "ftp://example.org", "--password", PASSWORD], None),
    (["add", "bad name", "--password", PASSWORD], None),
    (["passwd", "{u}"], None),
    (["disable", "{u}", "--later"], None),
    (["show"], None),
    (["frobnicate"], None),
    ([], None),
])
def test_bad_input_exits_2_with_a_message(stack, args, stdin):
    """Refused by ostiaryctl itself: 2; refused by flow-svc (its error code
    on stderr): 1, as every command (ctl/ctl.h's exit code table)."""
    username = name()
    args = [a.replace("{u}", username) for a in args]
    cp = users(stack, *args, input=stdin)
    expected = EXIT_REPLY if "invalid_request" in cp.stderr else EXIT_USAGE
    assert cp.returncode == expected, (cp.stdout, cp.stderr)
    assert cp.stderr.strip()
    no_secret(cp, PASSWORD)
    if len(args) > 1 and args[0] == "add":
        assert users(stack, "show", username).returncode == EXIT_REPLY


def test_list_shows_users_without_secrets(stack):
    username = name()
    user = add(stack, username, "--email", "list@example.org")
    cp = users(stack, "list")
    assert cp.returncode == EXIT_OK
    line = next(l for l in cp.stdout.splitlines() if l.startswith(username + " "))
    assert user["sub"] in line and "list@example.org" in line and "active" in line
    no_secret(cp, PASSWORD)
    cp = users(stack, "list", "--json")
    assert cp.returncode == EXIT_OK
    listed = {u["username"]: u for u in json.loads(cp.stdout)}
    assert listed[username]["sub"] == user["sub"]
    no_secret(cp, PASSWORD)


def test_show_by_username_and_by_sub(stack):
    username = name()
    user = add(stack, username)
    by_name = users(stack, "show", username)
    by_sub = users(stack, "show", "--sub", user["sub"])
    assert by_name.returncode == by_sub.returncode == EXIT_OK
    assert json.loads(by_name.stdout) == json.loads(by_sub.stdout) == user
    assert json.loads(by_name.stdout)["has_password"] is True
    no_secret(by_name, PASSWORD)


def test_show_unknown_user_exits_1(stack):
    cp = users(stack, "show", name())
    assert cp.returncode == EXIT_REPLY
    assert "not_found" in cp.stderr


def test_passwd_changes_the_password(stack):
    username = name()
    add(stack, username)
    new = "a brand new password"
    cp = users(stack, "passwd", username, "--password-stdin", input=new + "\n")
    assert cp.returncode == EXIT_OK, cp.stderr
    no_secret(cp, new, PASSWORD)
    assert can_log_in(stack, username, new)
    assert not can_log_in(stack, username, PASSWORD)


def test_passwd_refuses_a_weak_password_and_unknown_user(stack):
    username = name()
    add(stack, username)
    assert users(stack, "passwd", username, "--password", "1234").returncode == EXIT_REPLY
    assert can_log_in(stack, username, PASSWORD)
    assert users(stack, "passwd", name(), "--password", PASSWORD).returncode == EXIT_REPLY


def test_disable_and_enable(stack):
    username = name()
    add(stack, username)
    assert users(stack, "disable", username).returncode == EXIT_OK
    shown = json.loads(users(stack, "show", username).stdout)
    assert shown["disabled"] is True
    assert not can_log_in(stack, username, PASSWORD)
    assert users(stack, "disable", username, "--enable").returncode == EXIT_OK
    assert json.loads(users(stack, "show", username).stdout)["disabled"] is False
    assert can_log_in(stack, username, PASSWORD)
    assert users(stack, "disable", name()).returncode == EXIT_REPLY


def test_user_without_password_cannot_log_in(stack):
    username = name()
    cp = users(stack, "add", username, "--no-password")
    assert cp.returncode == EXIT_OK, cp.stderr
    assert json.loads(cp.stdout)["has_password"] is False
    assert not can_log_in(stack, username, "")
    assert not can_log_in(stack, username, PASSWORD)


def test_help_lists_the_commands(stack):
    cp = users(stack, "--help")
    assert cp.returncode == EXIT_OK
    for word in ("add", "list", "show", "passwd", "disable", "--password-stdin"):
        assert word in cp.stdout
