"""Helpers of the lockout and settings tests (docs/flows.md, "Lockout"): runtime
settings changed through `ostiaryctl settings` and always restored, SQL on the
flow database for what only it can show (counters), and one login attempt
over HTTP, /authorize → /login → POST."""

import json
import time

import pytest

from oidc import Browser, auth_params, pkce
from oidc import psql_flow as psql

DEFAULTS = {"lockout_threshold": 5, "lockout_seconds": 900, "address_threshold": 50,
            "address_window_seconds": 300, "code_lockout_threshold": 10, "code_lockout_seconds": 900,
            "code_mail_cap": 5, "code_mail_window_seconds": 900,
            # token-svc's (common/settings.def)
            "pkce_required": 1, "clock_skew": 30}


def clear_address_counters(stack):
    """Every test logs in from 127.0.0.1: the address counter must not carry
    one test's failures into the next."""
    psql(stack, "DELETE FROM flow.lockout_addresses")


class Settings:
    """Changes settings for one test; restore() puts every one back as it
    was before the test (the session runs with its own address_threshold:
    conftest.Stack.boot)."""

    def __init__(self, stack):
        self.stack = stack
        self.before = {}

    def get(self, name):
        r = self.stack.ctl("settings", "get", name)
        assert r.returncode == 0, (r.stdout, r.stderr)
        return int(r.stdout)

    def set(self, name, value):
        if name not in self.before:
            self.before[name] = self.get(name)
        r = self.stack.ctl("settings", "set", name, value)
        assert r.returncode == 0, (r.stdout, r.stderr)

    def restore(self):
        # A test that failed midway may have left flow-svc stopped: the
        # settings go back all the same.
        if self.before:
            self.stack.ensure("flow-svc")
            self.stack.wait_ready(30)
        for name, value in sorted(self.before.items()):
            r = self.stack.ctl("settings", "set", name, value)
            assert r.returncode == 0, (r.stdout, r.stderr)
        self.before.clear()


@pytest.fixture
def settings(stack):
    s = Settings(stack)
    try:
        yield s
    finally:
        s.restore()
        clear_address_counters(stack)


def audit(stack, **filters):
    """flow-svc's newest audit events (docs/audit.md) matching filters
    (event, subject, ...), newest first."""
    r = stack.ctl("call", "flow.audit_list", json.dumps({"limit": 1000, "last": True, **filters}))
    assert r.returncode == 0, (r.stdout, r.stderr)
    return list(reversed(json.loads(r.stdout)["events"]))


def attempt(stack, client, username, password):
    """One login over HTTP in a fresh browser: (logged in?, seconds the POST
    took, the response)."""
    client_id, _, redirect_uri = client
    b = Browser(stack)
    try:
        _, challenge = pkce()
        r = b.authorize(auth_params(client_id, redirect_uri, code_challenge=challenge,
                                    code_challenge_method="S256"))
        page = b.login_page(r)
        t0 = time.perf_counter()
        r = b.submit(page, username=username, password=password)
        elapsed = time.perf_counter() - t0
        logged_in = b.session_cookie() is not None
        if logged_in:
            assert r.status_code in (302, 303), r.status_code
        else:
            assert r.status_code == 200, (r.status_code, r.text[:500])
        return logged_in, elapsed, r
    finally:
        b.close()
