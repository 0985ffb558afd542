"""PKCE enforcement as a runtime setting (common/settings.def pkce_required,
RFC 9700 §2.1.1): `ostiaryctl settings set pkce_required 0|1` changes what
/authorize asks of a client without a PKCE choice of its own, on every
token-svc replica, without a restart; a client with its own choice keeps
it."""

import json

from lockout_util import settings  # noqa: F401
from oidc import Browser, auth_params, make_client, wait_for

ROUNDS = 24


def without_pkce(stack, client_id, redirect):
    """/authorize without a code_challenge: True when it was accepted (303 to
    the login page), False when refused with an error redirect."""
    browser = Browser(stack)
    try:
        r = browser.authorize(auth_params(client_id, redirect, code_challenge=None,
                                          code_challenge_method=None))
    finally:
        browser.close()
    assert r.status_code in (302, 303), (r.status_code, r.text[:300])
    if r.status_code == 302:
        assert "error=invalid_request" in r.headers["Location"], r.headers["Location"]
    return r.status_code == 303


def every_round(stack, client_id, redirect, accepted):
    """ROUNDS requests in a row all answered so: the broker hands them to the
    idle workers of every replica in turn."""
    return all(without_pkce(stack, client_id, redirect) is accepted for _ in range(ROUNDS))


def serving_pids(stack, want):
    pids = set()

    def both():
        r = stack.ctl("call", "token.health", "{}")
        if r.returncode == 0:
            pids.add(json.loads(r.stdout)["pid"])
        return want <= pids
    wait_for("every token-svc replica serving", both, timeout=20)


def test_pkce_required_setting_reaches_every_replica_without_restart(stack, settings):
    extra = stack.start("token-svc")
    try:
        serving_pids(stack, {extra.pid, *(i.pid for i in stack.instances("token-svc"))})
        plain, _, plain_redirect = make_client(stack)
        own, _, own_redirect = make_client(stack, require_pkce=True)
        # Both replicas have read the default (required) into their copies.
        assert every_round(stack, plain, plain_redirect, False)
        settings.set("pkce_required", 0)
        wait_for("every replica accepts a request without PKCE",
                 lambda: every_round(stack, plain, plain_redirect, True), timeout=20)
        assert every_round(stack, own, own_redirect, False)
        settings.set("pkce_required", 1)
        wait_for("every replica requires PKCE again",
                 lambda: every_round(stack, plain, plain_redirect, False), timeout=20)
    finally:
        extra.terminate()
        extra.wait(10)


def test_pkce_required_is_listed_with_its_bounds_and_refuses_others(stack):
    r = stack.ctl("settings", "list", "--json")
    assert r.returncode == 0, r.stderr
    listed = {s["name"]: s for s in json.loads(r.stdout)}
    assert listed["pkce_required"]["min"] == 0 and listed["pkce_required"]["max"] == 1
    assert listed["pkce_required"]["service"] == "token"
    #  token-svc refuses it: exit 1 in the CLI's exit code table.
    r = stack.ctl("settings", "set", "pkce_required", "2")
    assert r.returncode == 1 and "invalid_request" in r.stderr, (r.stdout, r.stderr)
    assert stack.ctl("settings", "get", "pkce_required").stdout.strip() == "1"
