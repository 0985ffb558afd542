"""Runtime settings of flow-svc (docs/flows.md, "Lockout"): `ostiaryctl settings
list|get|set|reset` over flow.settings_list and flow.settings_set, bounds
checked, every change a settings_set audit event, and a change reaching every
flow-svc replica within SETTINGS_REFRESH_SECONDS. The ops' own refusals and
flow.audit_list are tested in-process in tests/svc/test_flow_ops.c."""

import json
import time

from conftest import SESSION_ADDRESS_THRESHOLD
from lockout_util import DEFAULTS, attempt, audit, clear_address_counters, settings  # noqa: F401
from oidc import PASSWORD, make_client, make_user

REFRESH_SECONDS = 5


def listed(stack):
    r = stack.ctl("settings", "list", "--json")
    assert r.returncode == 0, r.stderr
    return {s["name"]: s for s in json.loads(r.stdout)}


def get(stack, name):
    r = stack.ctl("settings", "get", name)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def test_list_shows_every_setting_with_default_bounds_and_description(stack):
    out = listed(stack)
    assert set(out) == set(DEFAULTS)
    for name, default in DEFAULTS.items():
        s = out[name]
        assert s["default"] == default, s
        # The test session raises address_threshold (conftest.Stack.boot).
        expected = SESSION_ADDRESS_THRESHOLD if name == "address_threshold" else default
        assert s["value"] == expected, s
        assert 0 <= s["min"] <= default <= s["max"], s
        assert s["description"]
    table = stack.ctl("settings", "list")
    assert table.returncode == 0 and "lockout_threshold" in table.stdout


def test_set_get_and_reset_round_trip_and_are_audited(stack, settings):
    before = audit(stack, event="settings_set")
    settings.set("lockout_seconds", 60)
    assert get(stack, "lockout_seconds") == 60
    assert listed(stack)["lockout_seconds"]["value"] == 60
    r = stack.ctl("settings", "reset", "lockout_seconds")
    assert r.returncode == 0, r.stderr
    assert get(stack, "lockout_seconds") == DEFAULTS["lockout_seconds"]
    events = audit(stack, event="settings_set")
    new = events[:len(events) - len(before)]
    # Newest first: the reset, then the set; previous is the value in force
    # before each (common/audit.def).
    assert [e["details"] for e in new] == [
        {"name": "lockout_seconds", "value": None, "effective": DEFAULTS["lockout_seconds"],
         "previous": 60},
        {"name": "lockout_seconds", "value": 60, "effective": 60,
         "previous": DEFAULTS["lockout_seconds"]},
    ]


def test_bad_names_and_values_are_refused_and_change_nothing(stack):
    for args in (("set", "no_such_setting", "3"), ("set", "lockout_threshold", "0"),
                 ("set", "lockout_threshold", "1001"), ("set", "lockout_threshold", "3x"),
                 ("set", "lockout_threshold", ""), ("get", "no_such_setting"),
                 ("reset", "no_such_setting"), ("set", "lockout_threshold"), ("frobnicate",)):
        r = stack.ctl("settings", *args)
        # Refused by flow-svc (its code on stderr): 1; by ostiaryctl itself: 2.
        assert r.returncode == (1 if "(invalid_request)" in r.stderr else 2), (args, r.stdout, r.stderr)
        assert r.stderr, args
    assert get(stack, "lockout_threshold") == DEFAULTS["lockout_threshold"]


def test_settings_and_audit_ops_refuse_what_proto_ops_def_forbids(stack, settings):
    """The request is checked against proto/ops.def before anything runs:
    the description names the member."""
    # Put back even if a broken check lets a value through.
    settings.before.setdefault("lockout_threshold", settings.get("lockout_threshold"))
    for op, body, why in (
            ("flow.settings_set", {"name": "lockout_threshold", "value": 3, "force": True},
             "force: unknown member"),
            ("flow.settings_set", {"name": "lockout_threshold", "value": "3"}, "value: must be an integer"),
            ("flow.settings_set", {"name": "x" * 65, "value": 3}, "name: too long (at most 64 bytes)"),
            ("flow.settings_list", {"all": True}, "all: unknown member"),
            ("flow.audit_list", {"event": "lock\tout"}, "event: must not contain control characters"),
            ("flow.audit_list", {"limit": 1001}, "limit: must be between 1 and 1000")):
        r = stack.ctl("call", op, json.dumps(body))
        assert r.returncode == 1, (op, body, r.stdout)
        out = json.loads(r.stdout)
        assert (out["error"], out["error_description"]) == ("invalid_request", "invalid request: " + why), body
    assert get(stack, "lockout_threshold") == DEFAULTS["lockout_threshold"]


def test_a_change_reaches_every_replica_within_the_refresh_period(stack, settings):
    client = make_client(stack)
    clear_address_counters(stack)
    settings.set("address_threshold", 1000000)
    extra = stack.start("flow")
    try:
        deadline = time.monotonic() + 15
        while len(stack.instances("flow")) < 2 or stack.ctl("ready", "flow").returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # Both replicas serve logins (their threads read the settings).
        for _ in range(4):
            username, _ = make_user(stack)
            assert attempt(stack, client, username, PASSWORD)[0]
        settings.set("lockout_threshold", 2)
        time.sleep(REFRESH_SECONDS + 0.5)
        # Whichever replica answers, the new threshold is in force: the
        # second failure locks, and the right password is refused after it.
        for _ in range(3):
            username, sub = make_user(stack)
            assert not attempt(stack, client, username, "wrong password")[0]
            assert not attempt(stack, client, username, "wrong password")[0]
            assert not attempt(stack, client, username, PASSWORD)[0]
            events = audit(stack, event="lockout", subject=sub)
            assert len(events) == 1 and events[0]["details"]["threshold"] == 2
    finally:
        extra.stop()
