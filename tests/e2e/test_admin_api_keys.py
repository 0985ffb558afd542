"""The admin API's keys (docs/admin/openapi.json): GET /keys, GET
/keys/status, POST /keys/rotate, POST /keys/{kid}/retire. The gateway
reaches keys-svc's admin commands only through keys.admin_call with the
admin's token, which keys-svc has token-svc verify; the commands are the
admin socket's own (ostiaryctl keys), audited alike with the actor
admin:<sub>. 401 without a token, 403 for a non-admin's, 400 with the
field for bad input, 404 for an unknown kid, and what keys-svc's database
holds afterwards. Every response is validated against the OpenAPI
document (test_admin_api.check).

A planned rotation on the shared stack makes a next key that would sign
only after the publish delay (2 × 60 s + 2 s here); each test that makes
one retires it before it ends."""

import subprocess

import pytest

from test_admin_api import Api, admin, admin_client, non_admin  # noqa: F401

ENDPOINTS = [("GET", "/keys", None), ("GET", "/keys/status", None), ("POST", "/keys/rotate", {"alg": "ES256"}),
             ("POST", "/keys/some-kid/retire", None)]


def psql_keys(stack, sql):
    cp = subprocess.run(["psql", stack.env["OSTIARY_DB_KEYS"], "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def keys_audit(admin, event, subject=None):  # noqa: F811
    params = {"service": "keys", "event": event, "since": 0, "limit": 200}
    if subject:
        params["subject"] = subject
    r = admin("GET", "/audit", params=params)
    assert r.status_code == 200
    return r.json()["items"]


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
def test_without_a_token_is_401_and_a_non_admin_is_403(stack, non_admin, method, path, body):  # noqa: F811
    keys = "SELECT count(*) || '/' || count(*) FILTER (WHERE state = 'next') FROM keys.signing_keys"
    before = psql_keys(stack, keys)
    r = Api(stack, None)(method, path, json=body)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    r = non_admin(method, path, json=body)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    # Nothing was rotated or retired for a refused caller.
    assert psql_keys(stack, keys) == before


def test_list_and_status_show_the_keys_and_are_audited(stack, admin):  # noqa: F811
    r = admin("GET", "/keys")
    assert r.status_code == 200
    keys = r.json()["items"]
    active = {k["alg"] for k in keys if k["state"] == "active"}
    assert {"RS256", "ES256", "EdDSA"} <= active
    stored = psql_keys(stack, "SELECT count(*) FROM keys.signing_keys")
    assert len(keys) == int(stored)
    r = admin("GET", "/keys", params={"limit": 1})
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"] == "1"
    assert admin("GET", "/keys", params={"limit": 500}).json()["field"] == "limit"
    r = admin("GET", "/keys/status")
    assert r.status_code == 200 and r.json()["admin"] == "bus"
    assert set(r.json()["signing_algs"]) >= {"RS256", "ES256", "EdDSA"}
    events = keys_audit(admin, "key_admin")
    assert {e["details"]["command"] for e in events if e["actor"].startswith("admin:")} >= {"list", "status"}


def retire_pending(stack, alg):
    """Retires the next keys of alg that other tests left (ostiaryctl keys
    rotate rotates every algorithm), so that a rotation makes a new one."""
    for kid in psql_keys(stack, f"SELECT kid FROM keys.signing_keys WHERE state = 'next' AND alg = '{alg}'").split():
        r = stack.ctl("keys", "retire", kid)
        assert r.returncode == 0, r.stderr


def test_planned_rotation_then_retire_the_next_key_audited(stack, admin):  # noqa: F811
    retire_pending(stack, "ES256")
    r = admin("POST", "/keys/rotate", json={"alg": "ES256"})
    assert r.status_code == 200, r.text
    [made] = r.json()["keys"]
    assert made["alg"] == "ES256" and made["state"] == "next" and made["created"] is True
    assert r.json()["emergency"] is False
    kid = made["kid"]
    try:
        assert psql_keys(stack, f"SELECT state FROM keys.signing_keys WHERE kid = '{kid}'") == "next"
        # Asking again reports the pending key instead of making another.
        r = admin("POST", "/keys/rotate", json={"alg": "ES256"})
        assert r.status_code == 200 and r.json()["keys"][0]["kid"] == kid
        assert r.json()["keys"][0]["created"] is False
        assert kid in {k["kid"] for k in admin("GET", "/keys", params={"limit": 200}).json()["items"]}
    finally:
        r = admin("POST", f"/keys/{kid}/retire")
    assert r.status_code == 200, r.text
    assert r.json()["kid"] == kid and r.json()["from"] == "next" and r.json()["state"] == "retired"
    assert psql_keys(stack, f"SELECT state FROM keys.signing_keys WHERE kid = '{kid}'") == "retired"
    # A rotation of one algorithm names its key: made, then found pending.
    rotated = [e for e in keys_audit(admin, "key_rotate") if e["details"]["args"] == {"alg": "ES256"}]
    assert len(rotated) >= 2 and all(e["actor"].startswith("admin:") for e in rotated[-2:])
    assert [e["outcome"] for e in rotated[-2:]] == ["success", "success"]
    assert [e.get("subject") for e in rotated[-2:]] == [kid, kid]
    [retired] = keys_audit(admin, "key_retire", kid)
    assert retired["actor"].startswith("admin:") and retired["outcome"] == "success"


@pytest.mark.parametrize("body, field", [({"alg": "XY999"}, "alg"), ({"alg": "none"}, "alg"),
                                          ({"colour": "blue"}, "colour"), ({"now": "yes"}, "now")])
def test_bad_rotation_input_is_400_with_the_field(stack, admin, body, field):  # noqa: F811
    before = psql_keys(stack, "SELECT count(*) FROM keys.signing_keys")
    r = admin("POST", "/keys/rotate", json=body)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    assert r.json()["field"] == field
    assert psql_keys(stack, "SELECT count(*) FROM keys.signing_keys") == before


def test_retire_an_unknown_kid_is_404_and_the_active_key_is_refused(stack, admin):  # noqa: F811
    r = admin("POST", "/keys/no-such-kid-at-all/retire")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    active = psql_keys(stack, "SELECT kid FROM keys.signing_keys WHERE state = 'active' AND alg = 'RS256'")
    r = admin("POST", f"/keys/{active}/retire")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    assert psql_keys(stack, f"SELECT state FROM keys.signing_keys WHERE kid = '{active}'") == "active"
    [refused] = keys_audit(admin, "key_retire", active)
    assert refused["outcome"] == "failure" and refused["actor"].startswith("admin:")
