"""Helpers of the token-lifecycle tests: clients, users, code
exchanges and refreshes over the bus (`ostiaryctl call`) and over HTTP /token."""

import json
import secrets
import subprocess
import time

from test_token_ops import (Client, auth_params, call, exchange, fails, issue, ok, pkce,  # noqa: F401
                            request_of, token_form, unique)

import oidc


def psql(stack, sql):
    cp = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", stack.env["OSTIARY_DB_TOKEN"],
                         "-c", sql], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def refresh_client(stack, **fields):
    fields.setdefault("grant_types", ["authorization_code", "refresh_token"])
    fields.setdefault("require_pkce", False)
    fields.setdefault("first_party", True)
    return Client(stack, **fields)


def user(stack):
    out = ok(stack, "flow.user_add", {"username": unique("u").lower(), "password": secrets.token_urlsafe(16)})
    return out["user"]


def family(stack, client, sub=None, scope="openid profile offline_access", auth_time=None):
    """A code exchange with offline_access: (token response, sub)."""
    sub = sub or user(stack)["sub"]
    params = auth_params(client, scope=scope, prompt="consent")
    q = request_of(stack, params)
    auth_time = int(time.time()) - 5 if auth_time is None else auth_time
    sess = {"sub": sub, "sid": unique("sid"), "auth_time": auth_time, "amr": ["pwd"]}
    r = issue(stack, q["request_id"], sess, consent={"granted": True, "remember": False})
    rc, out = exchange(stack, client, token_form(r["params"]["code"], params))
    assert rc == 0, out
    return out, sess


def refresh(stack, client, token, **extra):
    form = {"grant_type": "refresh_token", "refresh_token": token}
    form.update(extra)
    return exchange(stack, client, form)


def refresh_http(stack, client, token, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": token}
    data.update(extra)
    return oidc.token_request(stack, data, basic=(client.id, client.secret))


def revoke(stack, client, token, hint=None):
    form = {"token": token}
    if hint:
        form["token_type_hint"] = hint
    return call(stack, "token.revoke", {"form": form, "basic": client.basic(), "client_ip": "127.0.0.1"})


def introspect(stack, client, token, hint=None):
    form = {"token": token}
    if hint:
        form["token_type_hint"] = hint
    return call(stack, "token.introspect", {"form": form, "basic": client.basic()})


def active(stack, client, token):
    rc, out = introspect(stack, client, token)
    assert rc == 0, out
    return out["active"]


def userinfo_error(stack, token):
    rc, out = call(stack, "token.userinfo", {"access_token": token})
    return None if rc == 0 else out["error"]


def dumps(o):
    return json.dumps(o)
