"""The zero-trust bus (proto/bus.md, "Security"): CurveZMQ on the broker and
on keys-svc's direct endpoint, a ZAP allow-list of role keys, the op table of
proto/access.def, and what keys-svc agrees to sign.

Every attack is tried as an attacker on the deployment's network would: a
python3-zmq socket on the bus port or the direct port, (a) with no key or a
key nobody allowed, (b) with a valid key of the wrong role. Each is refused,
runs nothing (the database is looked at afterwards) and leaves a log line."""

import json
import os
import secrets
import shutil
import subprocess
import time

import pytest

from bus_peer import DISCONNECT, READY, REQUEST, Peer, pack, public_key
from oidc import psql_flow, unique
from test_clients import psql as psql_token

def wait_for(what, predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def error_code(reply):
    return reply and reply.get("error", {}).get("code")


@pytest.fixture
def peers(stack):
    made = []

    def make(endpoint=None, role=None, curve=True, server="gateway"):
        cert = stack.bus_keys / f"{role}.key" if role else None
        server_pub = public_key(stack.bus_keys / "peers" / server / f"{server}.pub")
        p = Peer(endpoint or stack.bus_endpoint, server_pub, cert, curve)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def client_exists(stack, client_id):
    return psql_token(stack, f"SELECT count(*) FROM clients WHERE client_id = '{client_id}'") == "1"


def user_exists(stack, username):
    return psql_flow(stack, f"SELECT count(*) FROM users WHERE username = '{username}'") == "1"


def lockout_threshold(stack):
    return psql_flow(stack, "SELECT coalesce((SELECT value::text FROM settings WHERE name = 'lockout_threshold'), "
                            "'default')")


def broker_workers(stack, service, endpoint=None):
    """Live workers of service as the broker counts them (mmi.service): the
    stack's broker, or the one at endpoint."""
    p = Peer(endpoint or stack.bus_endpoint, public_key(stack.bus_keys / "peers" / "gateway" / "gateway.pub"),
             stack.bus_keys / "admin.key")
    try:
        rid = p.send(REQUEST, b"mmi.service", b"mmi.service", {"service": service})
        while True:
            m = p.recv(5)
            assert m is not None, "mmi.service did not answer"
            if m.rid == rid:
                return m.body["ok"]["workers"]
    finally:
        p.close()


def client_add_body(client_id):
    return {"client_id": client_id, "name": "evil", "type": "confidential", "first_party": True,
            "redirect_uris": ["https://evil.example/cb"]}


def now():
    return int(time.time())


def access_claims(stack, **over):
    claims = {"iss": stack.base_url, "sub": "victim", "aud": stack.base_url, "client_id": "x",
              "jti": secrets.token_hex(8), "iat": now(), "exp": now() + 60, "scope": "openid"}
    claims.update(over)
    return claims


# ------------------------------------------------------------------ (a) no key


def test_a_peer_without_curve_gets_nothing_and_changes_nothing(stack, peers):
    cid = unique("evil")
    p = peers(curve=False)
    assert p.call("token.client_add", client_add_body(cid), timeout=2) is None
    assert p.call("flow.user_add", {"username": cid.lower(), "password": "x" * 16}, timeout=1) is None
    assert p.call("flow.settings_set", {"name": "lockout_threshold", "value": 100}, timeout=1) is None
    assert not client_exists(stack, cid)
    assert not user_exists(stack, cid.lower())
    assert lockout_threshold(stack) != "100"


def test_a_key_nobody_allowed_is_refused_by_the_zap_handler(stack, peers):
    cid = unique("evil")
    p = peers(role=None)  # a fresh key pair that is in no role folder
    assert p.call("token.client_add", client_add_body(cid), timeout=2) is None
    assert not client_exists(stack, cid)
    wait_for("the ZAP refusal in the gateway's log",
             lambda: "refused a CURVE peer" in stack.log_text("gateway"))


def test_a_peer_without_a_key_cannot_sign_through_the_broker_or_directly(stack, peers):
    for endpoint in (stack.bus_endpoint, stack.keys_direct):
        p = peers(endpoint=endpoint, role=None, server="keys" if endpoint == stack.keys_direct else "gateway")
        assert p.call("keys.sign", {"alg": "ES256", "typ": "at+jwt", "claims": access_claims(stack)},
                      timeout=2) is None
        q = peers(endpoint=endpoint, curve=False)
        assert q.call("keys.sign", {"alg": "ES256", "typ": "at+jwt", "claims": access_claims(stack)},
                      timeout=1) is None


def test_a_rogue_ready_without_a_key_gets_no_requests(stack, peers):
    before = broker_workers(stack, "token")
    p = peers(role=None)
    p.send(READY, b"token")
    # requests keep going to the real workers, and none reaches the rogue
    for _ in range(5):
        assert stack.ctl("call", "token.client_list").returncode == 0
    assert broker_workers(stack, "token") == before
    assert p.recv(0) is None


# ------------------------------------------------------------------ (b) wrong role


def test_the_gateway_key_may_not_sign_through_the_broker_or_directly(stack, peers):
    for endpoint, server in ((stack.bus_endpoint, "gateway"), (stack.keys_direct, "keys")):
        p = peers(endpoint=endpoint, role="gateway", server=server)
        reply = p.call("keys.sign", {"alg": "ES256", "typ": "at+jwt", "claims": access_claims(stack)})
        assert error_code(reply) == "forbidden", (endpoint, reply)
        assert "jws" not in json.dumps(reply)
    wait_for("the broker's refusal line", lambda: "forbidden: role gateway" in stack.log_text("gateway")
             and "may not call keys.sign" in stack.log_text("gateway"))
    wait_for("the direct endpoint's refusal line",
             lambda: "forbidden: role gateway" in stack.log_text("keys-svc"))


def test_the_token_key_may_not_add_a_client(stack, peers):
    cid = unique("evil")
    p = peers(role="token")
    reply = p.call("token.client_add", client_add_body(cid))
    assert error_code(reply) == "forbidden", reply
    assert not client_exists(stack, cid)
    # the same through ostiaryctl: a clear message and exit 1
    r = stack.ctl_as("token", "call", "token.client_add", json.dumps(client_add_body(cid)))
    assert r.returncode == 1, r
    assert "forbidden" in r.stderr and "ostiaryctl ops" in r.stderr
    assert not client_exists(stack, cid)
    r = stack.ctl_as("token", "clients", "list")
    assert r.returncode == 1 and "forbidden" in r.stderr and "admin key" in r.stderr, r
    wait_for("the refusal line", lambda: "may not call token.client_add" in stack.log_text("gateway"))


def test_gateway_and_token_keys_may_not_touch_users_or_settings(stack, peers):
    name = unique("evil").lower()
    before = lockout_threshold(stack)
    for role in ("gateway", "token", "keys"):
        p = peers(role=role)
        assert error_code(p.call("flow.user_add", {"username": name, "password": "x" * 16})) == "forbidden"
        assert error_code(p.call("flow.user_get", {"username": "alice"})) == "forbidden"
        assert error_code(p.call("flow.settings_set", {"name": "lockout_threshold", "value": 100})) == "forbidden"
    assert not user_exists(stack, name)
    assert lockout_threshold(stack) == before


def test_the_flow_key_may_not_register_as_a_token_worker(stack, peers):
    before = broker_workers(stack, "token")
    p = peers(role="flow")
    p.send(READY, b"token")
    m = p.recv(3)
    assert m is not None and m.type == DISCONNECT, m
    assert broker_workers(stack, "token") == before
    wait_for("the refusal line", lambda: "forbidden: role flow" in stack.log_text("gateway")
             and "may not serve token" in stack.log_text("gateway"))


def test_an_op_sent_to_another_service_is_not_routed(stack, peers):
    p = peers(role="token")
    # keys.sign is the token role's, but not on the token service
    rid = p.send(REQUEST, b"token", b"keys.sign", {"alg": "ES256", "claims": access_claims(stack)})
    m = p.recv(3)
    assert m and m.rid == rid
    assert error_code(m.body) == "unknown_op"


def test_malformed_and_other_version_messages_from_an_allowed_peer_are_dropped(stack, peers):
    """A valid key does not make its bytes trusted: a message of the previous
    bus version (eight parts), a frame whose header length runs past its end,
    and two parts where one is expected are each dropped with a log line, and
    the broker answers the same peer's next good request."""
    p = peers(role="admin")
    old = [b"OSTB1", bytes([REQUEST]), b"token", b"token.client_list", secrets.token_hex(16).encode(),
           (int(time.time() * 1000) + 5000).to_bytes(8, "big"), b"", b"\x80"]
    p.sock.send_multipart(old)
    p.sock.send(b"OSTB2" + bytes([REQUEST, 200]) + b"token")
    p.sock.send_multipart([pack(REQUEST, b"token", b"token.client_list", b"r" * 32,
                                int(time.time() * 1000) + 5000, b"", b"\x80"), b"extra"])
    assert p.recv(1) is None
    wait_for("the version line", lambda: "bus protocol OSTB1: this build speaks OSTB2" in stack.log_text("gateway"))
    wait_for("the malformed lines", lambda: "malformed header" in stack.log_text("gateway")
             and "more parts than one" in stack.log_text("gateway"))
    reply = p.call("token.client_list", {})
    assert reply is not None and "ok" in reply, reply


# ------------------------------------------------------------------ what keys-svc signs


@pytest.mark.parametrize("case", ["exp-beyond-max", "foreign-iss", "unknown-typ", "iat-in-future",
                                  "no-exp", "id-token-beyond-max"])
def test_keys_svc_refuses_to_sign_what_it_may_not(stack, peers, case):
    body = {"alg": "ES256", "typ": "at+jwt", "claims": access_claims(stack)}
    if case == "exp-beyond-max":
        body["claims"]["exp"] = now() + 10 * 365 * 86400
    elif case == "foreign-iss":
        body["claims"]["iss"] = "https://evil.example"
    elif case == "unknown-typ":
        body["typ"] = "logout+jwt-not-yet"
    elif case == "iat-in-future":
        body["claims"]["iat"] = now() + 3600
        body["claims"]["exp"] = now() + 3700
    elif case == "no-exp":
        del body["claims"]["exp"]
    else:
        body["id_token"] = {"alg": "ES256", "claims": access_claims(stack, exp=now() + 10 * 365 * 86400)}
    for endpoint, server in ((stack.bus_endpoint, "gateway"), (stack.keys_direct, "keys")):
        p = peers(endpoint=endpoint, role="token", server=server)
        reply = p.call("keys.sign", body)
        assert error_code(reply) == "forbidden", (case, endpoint, reply)
    assert "keys.sign: refused to sign" in stack.log_text("keys-svc")


def test_keys_svc_signs_what_token_svc_asks_for(stack, peers):
    p = peers(endpoint=stack.keys_direct, role="token", server="keys")
    reply = p.call("keys.sign", {"alg": "ES256", "typ": "at+jwt", "claims": access_claims(stack)})
    assert "jws" in reply.get("ok", {}), reply


# ------------------------------------------------------------------ key rotation


def test_a_role_key_joins_when_added_and_is_refused_when_removed(stack, peers):
    """Rotation of the token role's key: a replica with a new key joins once
    its public key is added; after the old one is removed, a peer holding it
    is refused (and the broker drops its workers)."""
    name = unique("token-next")
    kg = stack.ctl("bus", "keygen", str(stack.bus_keys / "staging"), "token", "--name", name)
    assert kg.returncode == 0, kg.stderr
    staged_pub = stack.bus_keys / "staging" / "peers" / "token" / f"{name}.pub"
    live_pub = stack.bus_keys / "peers" / "token" / f"{name}.pub"
    new_key = stack.bus_keys / "staging" / f"{name}.key"
    inst = None
    try:
        before = broker_workers(stack, "token")
        inst = stack.start("token-svc", extra_env={"OSTIARY_BUS_CERT": str(new_key)})
        wait_for("the refusal of the new key", lambda: "refused a CURVE peer" in inst.log_path.read_text()
                 or "refused a CURVE peer" in stack.log_text("gateway"))
        assert broker_workers(stack, "token") == before
        shutil.copy(staged_pub, live_pub)
        wait_for("the new replica's workers", lambda: broker_workers(stack, "token") > before, timeout=20)
        # a peer holding the new key may act as token
        p = Peer(stack.bus_endpoint, public_key(stack.bus_keys / "peers" / "gateway" / "gateway.pub"), new_key)
        try:
            assert "ok" in p.call("token.health", {})
            os.unlink(live_pub)
            # the broker drops the workers of a removed key within a second
            wait_for("the removed key's workers to go",
                     lambda: broker_workers(stack, "token") == before, timeout=20)
            assert error_code(p.call("token.health", {})) == "forbidden"
        finally:
            p.close()
        # a new connection with the removed key is refused at the handshake
        q = Peer(stack.bus_endpoint, public_key(stack.bus_keys / "peers" / "gateway" / "gateway.pub"), new_key)
        try:
            assert q.call("token.health", {}, timeout=2) is None
        finally:
            q.close()
    finally:
        if live_pub.exists():
            os.unlink(live_pub)
        if inst:
            inst.stop()
        shutil.rmtree(stack.bus_keys / "staging", ignore_errors=True)
        stack.wait_ready()


# ------------------------------------------------------------------ start-up


def run_until_exit(stack, name, env_over, timeout=30):
    env = dict(stack.env)
    for k, v in env_over.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    if name == "token-svc":
        env["OSTIARY_DB"] = env["OSTIARY_DB_TOKEN"]
    return subprocess.run([stack.bin(name)], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", ["gateway", "token-svc"])
def test_production_mode_without_bus_keys_exits_2_naming_the_setting(stack, name):
    base = {"OSTIARY_MODE": "production", "OSTIARY_ISSUER": "https://id.example.org"}
    r = run_until_exit(stack, name, dict(base, OSTIARY_BUS_CERT=None))
    assert r.returncode == 2, r
    assert "OSTIARY_BUS_CERT" in r.stderr
    r = run_until_exit(stack, name, dict(base, OSTIARY_BUS_PEERS=None))
    assert r.returncode == 2 and "OSTIARY_BUS_PEERS" in r.stderr, r
    r = run_until_exit(stack, name, dict(base, OSTIARY_BUS_CURVE="0"))
    assert r.returncode == 2 and "OSTIARY_BUS_CURVE=0 is refused in production" in r.stderr, r
    r = run_until_exit(stack, name, dict(base, OSTIARY_BUS_CERT=str(stack.bus_keys / "peers")))
    assert r.returncode == 2 and "OSTIARY_BUS_CERT must name a CURVE certificate" in r.stderr, r


def test_curve_off_in_development_is_a_warning_at_start(stack):
    inst = stack.start("flow-svc", extra_env={"OSTIARY_BUS_CURVE": "0"})
    try:
        wait_for("the warning", lambda: "CURVE is off on the bus" in inst.log_path.read_text())
    finally:
        inst.stop()


def test_the_broker_key_rotates_without_losing_the_services(stack):
    """Rotation of a server's key (the gateway's): with the new public key
    beside the old one, services reach a gateway holding either; once the old
    one is removed they connect again with the new one only, and calls that
    go through the broker (flow-svc → token.subject_revoke) keep working."""
    staging = stack.bus_keys / "staging-gw"
    kg = stack.ctl("bus", "keygen", str(staging), "gateway", "--name", "gateway-next")
    assert kg.returncode == 0, kg.stderr
    old_pub = stack.bus_keys / "peers" / "gateway" / "gateway.pub"
    saved_old = staging / "gateway.pub.saved"
    new_pub = stack.bus_keys / "peers" / "gateway" / "gateway-next.pub"
    shutil.copy(old_pub, saved_old)
    try:
        shutil.copy(staging / "peers" / "gateway" / "gateway-next.pub", new_pub)
        stack.stop_all("gateway")
        gw = stack.start("gateway", {"OSTIARY_BUS_CERT": str(staging / "gateway-next.key")})
        stack.wait_ready(timeout=30)
        os.unlink(old_pub)
        # every client connects again with the new key only; a flow-svc
        # call through the broker proves its client did
        name = unique("rot").lower()
        assert stack.ctl("users", "add", name, "--password-stdin", input="x" * 20 + "\n").returncode == 0
        wait_for("flow-svc's call through the broker",
                 lambda: stack.ctl("users", "disable", name).returncode == 0, timeout=20)
        assert "the servers' keys changed" in stack.log_text("flow-svc")
        assert gw.alive()
    finally:
        shutil.copy(saved_old, old_pub)
        if new_pub.exists():
            os.unlink(new_pub)
        stack.stop_all("gateway")
        stack.start("gateway")
        shutil.rmtree(staging, ignore_errors=True)
        stack.wait_ready(timeout=30)


def test_only_an_admin_token_rotates_keys_whatever_key_the_caller_holds(stack, peers):
    """keys-svc's admin commands are the admin role's ops (keys.key_*): a
    gateway, token or flow key is refused them outright, and the gateway's
    envelope (keys.admin_call) runs them only for a token that token-svc
    verified as an admin's: the gateway's own word is worth nothing."""
    keys_count = subprocess.run(["psql", stack.env["OSTIARY_DB_KEYS"], "-XAtq", "-c",
                                 "SELECT count(*) FROM keys.signing_keys"],
                                capture_output=True, text=True, timeout=30).stdout.strip()
    for role in ("gateway", "token", "flow"):
        p = peers(role=role)
        assert error_code(p.call("keys.key_rotate", {"alg": "ES256"})) == "forbidden", role
        assert error_code(p.call("keys.key_list", {})) == "forbidden", role
    p = peers(role="gateway")
    # A token the gateway made up itself (unsigned, with the admin scope).
    import base64

    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    forged = b64({"alg": "none", "typ": "at+jwt"}) + "." + \
        b64(access_claims(stack, scope="openid admin", sub="whoever")) + "."
    reply = p.call("keys.admin_call", {"admin_token": forged, "op": "keys.key_rotate",
                                       "body": {"alg": "ES256"}})
    assert error_code(reply) == "invalid_token", reply
    # The admin role's key may not use the envelope (it is the gateway's).
    assert error_code(peers(role="admin").call("keys.admin_call", {"admin_token": "x", "op": "keys.key_list"})) \
        == "forbidden"
    after = subprocess.run(["psql", stack.env["OSTIARY_DB_KEYS"], "-XAtq", "-c",
                            "SELECT count(*) FROM keys.signing_keys"],
                           capture_output=True, text=True, timeout=30).stdout.strip()
    assert after == keys_count
