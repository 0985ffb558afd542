"""keys-svc's key lifecycle end to end (docs/keys.md): next keys are
published and never sign; rotation under load never breaks a token; retiring
keys stay published until their last token expired, retired keys are gone;
replicas never rotate twice; emergency rotation; rewrap; the admin socket
(ipc by default, CURVE on tcp) and the CLI's errors and exit codes.

Tests that change keys run on a database of their own (`lab` below): their
keys-svc instances, a gateway with a 1 s JWKS cache and a broker of their own,
and settings short enough for a test (publish delay 3 s, token lifetime 3 s).
The shared stack's keys stay as they are for every other test. Tokens are
checked with an independent library (jwcrypto) against the gateway's /jwks.
"""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest
import requests
import zmq
import zmq.auth
from conftest import free_port
from jwcrypto import jwk, jws

ALGS = ["RS256", "ES256", "EdDSA"]
DISCOVERY = "/.well-known/openid-configuration"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
MSG_WRONG_KEK = "OSTIARY_KEK does not decrypt the stored keys: wrong key-encryption key"
# The lab's timing: the gateway caches the JWKS for 1 s, so a key may sign
# 3 s after it was published (max-age + 2 s of slack, the floor keys-svc
# accepts); tokens live 3 s, so a retiring key stays 3 + 2 s.
MAX_AGE = 1
PUBLISH_DELAY = 3
LIFETIME = 3
SLACK = 2


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_kek():
    return b64url(os.urandom(32))


def iso_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_for(what, predicate, timeout=15, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


# ---------------------------------------------------------------- the lab


class Lab:
    """A keys database of its own, with keys-svc replicas, a broker and a
    gateway (1 s JWKS cache) that only this test uses."""

    def __init__(self, stack):
        self.stack = stack
        admin = getattr(stack, "pg_admin", None) or os.environ.get("OSTIARY_PG_ADMIN")
        keys_db = stack.env.get("OSTIARY_DB_KEYS")
        if not admin or not keys_db or not shutil.which("psql"):
            pytest.skip("no superuser conninfo for a database of the test's own")
        self.admin = admin
        self.dbname = "ostiary_lab_" + uuid.uuid4().hex[:12]
        self.conninfo = re.sub(r"dbname=\S+", "dbname=" + self.dbname, keys_db)
        self.role = re.search(r"user=(\S+)", keys_db).group(1)
        self._psql(self.admin, f"CREATE DATABASE {self.dbname}")
        admin_lab = re.sub(r"dbname=\S+", "dbname=" + self.dbname, self.admin)
        self._psql(admin_lab, f"""
            REVOKE ALL ON DATABASE {self.dbname} FROM PUBLIC;
            GRANT CONNECT ON DATABASE {self.dbname} TO {self.role};
            REVOKE CREATE ON SCHEMA public FROM PUBLIC;
            CREATE SCHEMA keys AUTHORIZATION {self.role};
            ALTER ROLE {self.role} IN DATABASE {self.dbname} SET search_path = keys;""")
        # Short paths: an ipc:// path must fit in sockaddr_un.
        self.dir = tempfile.mkdtemp(prefix="ost-lab-", dir="/tmp")
        self.kek = new_kek()
        self.bus = f"tcp://127.0.0.1:{free_port()}"
        self.instances = []
        self.gateway = None
        self.base_url = None
        self._sockets = 0

    # -------------------------------------------------------- database

    @staticmethod
    def _psql(conninfo, sql):
        cp = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo,
                             "-c", sql], capture_output=True, text=True, timeout=30)
        assert cp.returncode == 0, cp.stderr
        return [line.split("|") for line in cp.stdout.splitlines() if line]

    def sql(self, sql):
        """SQL as keys-svc's own role, in the lab's database."""
        return self._psql(self.conninfo, sql)

    # -------------------------------------------------------- processes

    def admin_endpoint(self):
        self._sockets += 1
        return f"ipc://{self.dir}/admin-{self._sockets}.sock"

    def keys_env(self, **extra):
        env = {
            "OSTIARY_DB": self.conninfo,
            "OSTIARY_BUS_ENDPOINT": self.bus,
            "OSTIARY_KEK": self.kek,
            "OSTIARY_JWKS_MAX_AGE": str(MAX_AGE),
            "OSTIARY_KEYS_PUBLISH_DELAY": str(PUBLISH_DELAY),
            "OSTIARY_KEYS_TOKEN_LIFETIME_MAX": str(LIFETIME),
            "OSTIARY_RUN_DIR": self.dir,
        }
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start_keys(self, wait=True, **extra):
        """A keys-svc on the lab's database with its own admin socket (unless
        extra names one); waits until its admin socket answers."""
        env = self.keys_env(**extra)
        env.setdefault("OSTIARY_KEYS_ADMIN", self.admin_endpoint())
        inst = self.stack.start("keys-svc", extra_env=env)
        inst.admin = env["OSTIARY_KEYS_ADMIN"]
        self.instances.append(inst)
        if wait:
            wait_for("keys-svc's admin socket",
                     lambda: not inst.alive() or self.keys(inst, "status").returncode == 0, timeout=30)
            assert inst.alive(), self.stack.log_text("keys-svc")[-3000:]
        return inst

    def run_keys_until_exit(self, timeout=30, **extra):
        env = self.keys_env(**extra)
        env.setdefault("OSTIARY_KEYS_ADMIN", self.admin_endpoint())
        inst = self.stack.start("keys-svc", extra_env=env)
        self.instances.append(inst)
        try:
            rc = inst.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            inst.kill()
            inst.wait(10)
            pytest.fail("keys-svc kept running with %r" % (extra,))
        return rc, inst.log_path.read_text(errors="replace")

    def start_gateway(self):
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.gateway = self.stack.start("gateway", extra_env={
            "OSTIARY_HTTP_LISTEN": f"127.0.0.1:{port}",
            "OSTIARY_ISSUER": self.base_url,
            "OSTIARY_BUS_ENDPOINT": self.bus,
            "OSTIARY_JWKS_MAX_AGE": str(MAX_AGE),
        })
        self.instances.append(self.gateway)
        wait_for("the lab gateway's /jwks", lambda: self._jwks_or_none() is not None, timeout=30)

    def _jwks_or_none(self):
        try:
            r = requests.get(self.base_url + "/jwks", timeout=2)
            return r.json()["keys"] if r.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None

    def stop(self, inst):
        inst.terminate()
        assert inst.wait(15) == 0, inst.log_path.read_text(errors="replace")[-3000:]

    def close(self):
        for inst in self.instances:
            if inst.alive():
                inst.terminate()
        for inst in self.instances:
            try:
                inst.wait(15)
            except subprocess.TimeoutExpired:
                inst.kill()
                inst.wait(10)
        try:
            self._psql(self.admin, f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -------------------------------------------------------- clients

    def ctl(self, *args, env=None, input=None, timeout=30):
        full = dict(self.stack.env, OSTIARY_BUS_ENDPOINT=self.bus)
        full.update(env or {})
        return subprocess.run([self.stack.bin("ostiaryctl"), *map(str, args)], env=full, input=input,
                              text=True, capture_output=True, timeout=timeout)

    def keys(self, inst, *args, env=None, input=None):
        """`ostiaryctl keys --admin <inst's socket> ARGS`."""
        return self.ctl("keys", "--admin", inst.admin, *args, env=env, input=input)

    def keys_json(self, inst, *args, **kw):
        cp = self.keys(inst, "--json", *args, **kw)
        assert cp.returncode == 0, (args, cp.returncode, cp.stderr)
        return json.loads(cp.stdout)

    def listing(self, inst):
        return self.keys_json(inst, "list")["keys"]

    def by_state(self, inst, alg, state):
        return [k for k in self.listing(inst) if k["alg"] == alg and k["state"] == state]

    def call(self, op, body):
        """op as its real caller (proto/access.def: keys.sign is token-svc's);
        keys.sign's claims get what keys-svc requires of every token (our
        iss, iat, exp within the lifetime) unless the test gives them."""
        if op == "keys.sign" and isinstance(body.get("claims"), dict):
            now = int(time.time())
            body["claims"].setdefault("iss", self.stack.base_url)
            body["claims"].setdefault("iat", now)
            body["claims"].setdefault("exp", now + min(60, LIFETIME))
        roles = self.stack.op_roles(op)
        role = "admin" if "admin" in roles or not roles else roles[0]
        cp = self.ctl("call", op, json.dumps(body),
                      env={"OSTIARY_BUS_CERT": str(self.stack.bus_keys / f"{role}.key")})
        out = json.loads(cp.stdout) if cp.stdout.strip() else None
        return cp.returncode, out

    def jwks_op(self):
        rc, out = self.call("keys.jwks", {})
        assert rc == 0, out
        return out

    def sign(self, alg, claims):
        rc, out = self.call("keys.sign", {"alg": alg, "claims": claims})
        assert rc == 0, out
        return out

    def jwks(self):
        r = requests.get(self.base_url + "/jwks", timeout=5)
        assert r.status_code == 200, r.text
        return r.json()["keys"]


@pytest.fixture
def lab(stack):
    lab = Lab(stack)
    try:
        yield lab
    finally:
        lab.close()


def verify(token, key_json, alg):
    """jwcrypto's verdict on a compact JWS with one public JWK."""
    key = jwk.JWK.from_json(json.dumps(key_json))
    parsed = jws.JWS()
    parsed.deserialize(token)
    parsed.verify(key, alg=alg)
    return json.loads(parsed.payload)


def kids(keys):
    return {k["kid"] for k in keys}


# ---------------------------------------------------------------- next keys


def test_next_key_is_published_and_never_signs(lab):
    keys = lab.start_keys(OSTIARY_KEYS_PUBLISH_DELAY=60)
    lab.start_gateway()
    active = lab.by_state(keys, "ES256", "active")[0]["kid"]
    asked = time.time()
    rotated = lab.keys_json(keys, "rotate", "--alg", "ES256")
    [item] = rotated["keys"]
    assert item["alg"] == "ES256" and item["state"] == "next" and item["created"] is True
    nxt = item["kid"]
    assert 55 <= item["activate_in"] <= 60
    # keys-svc publishes it at once, the gateway within its cache time ...
    assert nxt in kids(lab.jwks_op()["keys"])
    wait_for("the next key on /jwks", lambda: nxt in kids(lab.jwks()), timeout=MAX_AGE + 5)
    # ... but it signs nothing: every ES256 token comes from the active key.
    for i in range(10):
        assert lab.sign("ES256", {"sub": "next-test", "n": i})["kid"] == active
    listed = {k["kid"]: k for k in lab.listing(keys)}
    assert listed[nxt]["state"] == "next" and listed[nxt]["activated"] is None
    assert iso_time(listed[nxt]["activate_after"]) >= asked + 60 - 0.5
    # Asking again does not make a second key: the pending one is reported.
    again = lab.keys_json(keys, "rotate", "--alg", "ES256")["keys"][0]
    assert again["kid"] == nxt and again["created"] is False
    assert len(lab.by_state(keys, "ES256", "next")) == 1
    # A pending key that never signed can be discarded at once.
    out = lab.keys_json(keys, "retire", nxt)
    assert out["from"] == "next" and out["state"] == "retired"
    assert nxt not in kids(lab.jwks_op()["keys"])
    assert lab.sql(f"SELECT private_enc IS NULL FROM keys.signing_keys WHERE kid = '{nxt}'") == [["t"]]


# ---------------------------------------------------------------- rotation under load


def test_rotation_under_load_every_token_verifies_until_it_expires(lab):
    keys = lab.start_keys()
    lab.start_gateway()
    tokens = []   # (issued: monotonic after the answer, expires: monotonic, alg, answer)
    fetches = []  # (started, ended, {kid: jwk})
    stop = threading.Event()
    errors = []

    def signer(alg):
        n = 0
        while not stop.is_set():
            start = time.monotonic()
            now = int(time.time())
            rc, out = lab.call("keys.sign", {"alg": alg, "claims": {
                "sub": "load", "n": n, "iat": now, "exp": now + LIFETIME}})
            if rc != 0:
                errors.append((alg, out))
                continue
            tokens.append((time.monotonic(), start + LIFETIME, alg, out))
            n += 1

    def fetcher():
        with requests.Session() as http:
            http.trust_env = False
            while not stop.is_set():
                start = time.monotonic()
                try:
                    r = http.get(lab.base_url + "/jwks", timeout=5)
                    keys_now = {k["kid"]: k for k in r.json()["keys"]}
                except (requests.RequestException, ValueError) as e:
                    errors.append(("jwks", repr(e)))
                    continue
                fetches.append((start, time.monotonic(), keys_now))
                time.sleep(0.05)

    threads = [threading.Thread(target=signer, args=(alg,)) for alg in ("RS256", "ES256")]
    threads.append(threading.Thread(target=fetcher))
    for t in threads:
        t.start()
    first_kid = {alg: lab.by_state(keys, alg, "active")[0]["kid"] for alg in ("RS256", "ES256")}
    try:
        # Both algorithms sign and /jwks answers before the first rotation.
        wait_for("tokens of both algorithms and a JWKS fetch", lambda: fetches and all(
            any(a == alg for _, _, a, _ in tokens) for alg in ("RS256", "ES256")))
        # Two planned rotations in a row, while tokens keep coming.
        for round_ in range(2):
            out = lab.keys_json(keys, "rotate")
            pending = {k["alg"]: k["kid"] for k in out["keys"]}
            wait_for(f"rotation {round_ + 1}", lambda: all(
                k["state"] == "active" for k in lab.listing(keys) if k["kid"] in pending.values()),
                timeout=PUBLISH_DELAY + 10)
            # The new keys sign before the next rotation.
            wait_for(f"tokens signed after rotation {round_ + 1}", lambda: all(
                any(o["kid"] == pending[alg] for _, _, _, o in list(tokens)) for alg in ("RS256", "ES256")))
        # Until the first keys have left the JWKS: their last tokens expired.
        wait_for("the first keys to retire", lambda: all(
            k["state"] == "retired" for k in lab.listing(keys) if k["kid"] in first_kid.values()),
            timeout=LIFETIME + SLACK + 10)
        time.sleep(LIFETIME + 0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:5]
    # Every algorithm went through three keys, each signing in its turn.
    for alg in ("RS256", "ES256"):
        used = []
        for _, _, a, out in tokens:
            if a == alg and (not used or used[-1] != out["kid"]):
                used.append(out["kid"])
        assert len(used) == 3 and len(set(used)) == 3, (alg, used)
        assert used[0] == first_kid[alg]
    # Every token verifies against every JWKS fetched after it was issued
    # and before it expired (fetch window inside the token's lifetime).
    checked = 0
    verified = set()
    for issued, expires, alg, out in tokens:
        for started, ended, keys_now in fetches:
            if started < issued or ended > expires:
                continue
            assert out["kid"] in keys_now, (
                f"{alg} token of {out['kid']} issued at {issued:.2f}, expiring {expires:.2f}: "
                f"missing from /jwks fetched {started:.2f}-{ended:.2f}")
            if (out["jws"], out["kid"]) not in verified:
                verify(out["jws"], keys_now[out["kid"]], alg)
                verified.add((out["jws"], out["kid"]))
            checked += 1
    # (Each token costs an ostiaryctl process: a sanitizer build signs fewer.)
    assert len(tokens) >= 20 and checked > len(tokens), (len(tokens), checked)


# ---------------------------------------------------------------- retiring, retired


def test_retiring_key_stays_published_until_retire_after_then_is_gone(lab):
    keys = lab.start_keys()
    lab.start_gateway()
    old = lab.by_state(keys, "EdDSA", "active")[0]["kid"]
    token = lab.sign("EdDSA", {"sub": "before-rotation"})
    assert token["kid"] == old
    new = lab.keys_json(keys, "rotate", "--alg", "EdDSA")["keys"][0]["kid"]
    wait_for("the promotion", lambda: lab.by_state(keys, "EdDSA", "active")[0]["kid"] == new,
             timeout=PUBLISH_DELAY + 10)
    [retiring] = lab.by_state(keys, "EdDSA", "retiring")
    assert retiring["kid"] == old
    deactivated, retire_after = iso_time(retiring["deactivated"]), iso_time(retiring["retire_after"])
    # The last token it signed expires within the lifetime; slack covers a
    # replica that signed with it one tick late.
    assert abs(retire_after - deactivated - (LIFETIME + SLACK)) < 0.1
    # Published (and verifying) until then ...
    while time.time() < retire_after - 0.7:
        assert old in kids(lab.jwks_op()["keys"])
        verify(token["jws"], {k["kid"]: k for k in lab.jwks()}[old], "EdDSA")
        time.sleep(0.2)
    # ... gone afterwards, with its private part.
    wait_for("the retirement", lambda: not lab.by_state(keys, "EdDSA", "retiring"), timeout=SLACK + 5)
    assert old not in kids(lab.jwks_op()["keys"])
    wait_for("the retired key off /jwks", lambda: old not in kids(lab.jwks()), timeout=MAX_AGE + 5)
    assert lab.sql(f"SELECT state, private_enc IS NULL FROM keys.signing_keys WHERE kid = '{old}'") == [
        ["retired", "t"]]
    assert lab.sign("EdDSA", {"sub": "after"})["kid"] == new


# ---------------------------------------------------------------- replicas


def test_two_replicas_asked_to_rotate_at_once_create_one_key(lab):
    delay = PUBLISH_DELAY + 2
    a = lab.start_keys(OSTIARY_KEYS_PUBLISH_DELAY=delay)
    b = lab.start_keys(OSTIARY_KEYS_PUBLISH_DELAY=delay)
    # Both asked at the same moment to rotate every algorithm.
    procs = [subprocess.Popen([lab.stack.bin("ostiaryctl"), "keys", "--json", "--admin", inst.admin, "rotate"],
                              env=dict(lab.stack.env), text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for inst in (a, b)]
    answers = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        answers.append({k["alg"]: k for k in json.loads(out)["keys"]})
    for alg in ALGS:
        # One created it, the other found it: the same key.
        assert answers[0][alg]["kid"] == answers[1][alg]["kid"]
        assert sorted(answer[alg]["created"] for answer in answers) == [False, True]
        assert len(lab.by_state(a, alg, "next")) == 1
    # Each replica serves the other's changes (it reloads when the
    # generation moves) ...
    pending = {k["kid"] for k in lab.listing(a) if k["state"] == "next"}
    assert len(pending) == 3
    for inst in (a, b):
        wait_for("the replica's reload", lambda: pending <= {
            k["kid"] for k in lab.keys_json(inst, "status")["keys"]}, timeout=5)
    # ... and both janitors race to promote: each key moves exactly once.
    wait_for("the promotions", lambda: all(
        k["state"] == "active" for k in lab.listing(a) if k["kid"] in pending), timeout=delay + 10)
    logs = a.log_path.read_text() + b.log_path.read_text()
    for kid in pending:
        assert logs.count(f"{kid}: next -> active") == 1, kid
    for alg in ALGS:
        assert len(lab.by_state(a, alg, "active")) == 1
        assert len(lab.by_state(a, alg, "retiring")) == 1
    for inst in (a, b):
        status = wait_for("both replicas on one generation", lambda: (
            lambda s: s if s["generation"] == s["stored_generation"] else None)(
                lab.keys_json(inst, "status")), timeout=5)
        assert {k["kid"] for k in status["keys"] if k["state"] == "active"} == pending


def test_second_replica_on_one_host_keeps_the_first_ones_admin_socket(lab):
    shared = lab.admin_endpoint()
    first = lab.start_keys(OSTIARY_KEYS_ADMIN=shared)
    second = lab.start_keys(OSTIARY_KEYS_ADMIN=shared, wait=False)
    wait_for("the second replica's warning", lambda: "served by another live keys-svc" in
             second.log_path.read_text(errors="replace"), timeout=30)
    assert second.alive()
    # The socket still leads to the first replica.
    status = lab.keys_json(first, "status")
    assert status["replica"].endswith(f":{first.pid}")


# ---------------------------------------------------------------- emergency


def test_emergency_rotate_now_removes_the_old_key_from_the_jwks_at_once(lab):
    keys = lab.start_keys()
    lab.start_gateway()
    old = lab.by_state(keys, "ES256", "active")[0]["kid"]
    token = lab.sign("ES256", {"sub": "signed-before-the-compromise"})
    cp = lab.keys(keys, "--json", "rotate", "--alg", "ES256", "--now")
    assert cp.returncode == EXIT_OK, cp.stderr
    # It says what it costs.
    assert "warning" in cp.stderr and "no longer verify" in cp.stderr
    item = json.loads(cp.stdout)["keys"][0]
    new = item["kid"]
    assert item["state"] == "active" and item["retired"] == old
    # At once: keys-svc reloaded before it answered.
    published = kids(lab.jwks_op()["keys"])
    assert old not in published and new in published
    assert lab.sign("ES256", {"sub": "after"})["kid"] == new
    assert lab.sql(f"SELECT state, private_enc IS NULL FROM keys.signing_keys WHERE kid = '{old}'") == [
        ["retired", "t"]]
    # The gateway follows within its cache time; then the old token fails.
    wait_for("the old key off /jwks", lambda: old not in kids(lab.jwks()), timeout=MAX_AGE + 5)
    with pytest.raises(Exception):
        verify(token["jws"], lab.jwks()[0], "ES256")
    audit = lab.sql("SELECT event, details->'args'->>'now', outcome FROM keys.audit_events ORDER BY id")
    assert ["key_rotate", "true", "success"] in audit


# ---------------------------------------------------------------- discovery


def test_discovery_advertises_exactly_the_algorithms_that_can_sign(lab):
    keys = lab.start_keys()
    eddsa = lab.by_state(keys, "EdDSA", "active")[0]["kid"]
    lab.stop(keys)
    # EdDSA withdrawn: its key stops signing but stays published while its
    # tokens may be valid.
    keys = lab.start_keys(OSTIARY_KEYS_ALGS="RS256,ES256")
    lab.start_gateway()
    wait_for("the withdrawal", lambda: lab.by_state(keys, "EdDSA", "retiring"), timeout=10)
    out = lab.jwks_op()
    assert out["signing_algs"] == ["RS256", "ES256"]
    assert eddsa in kids(out["keys"])

    def advertised():
        r = requests.get(lab.base_url + DISCOVERY, timeout=5)
        algs = r.json()["id_token_signing_alg_values_supported"]
        return algs if set(algs) == {"RS256", "ES256"} else None

    wait_for("discovery to follow", advertised, timeout=MAX_AGE + 5)
    assert eddsa in kids(lab.jwks())
    rc, err = lab.call("keys.sign", {"alg": "EdDSA", "claims": {"sub": "x"}})
    assert rc == EXIT_ERROR and err["error"] == "server_error"
    cp = lab.keys(keys, "rotate", "--alg", "EdDSA")
    assert cp.returncode == EXIT_ERROR and "OSTIARY_KEYS_ALGS" in cp.stderr  # refused by keys-svc
    # The served set is {"keys": [...]} only (RFC 7517 §5).
    assert set(requests.get(lab.base_url + "/jwks", timeout=5).json()) == {"keys"}


# ---------------------------------------------------------------- schedule


def test_automatic_rotation_when_the_active_key_is_older_than_the_period(lab):
    keys = lab.start_keys(OSTIARY_KEYS_ROTATE_DAYS=1)
    old = lab.by_state(keys, "RS256", "active")[0]["kid"]
    others = {alg: lab.by_state(keys, alg, "active")[0]["kid"] for alg in ("ES256", "EdDSA")}
    # The RS256 key has signed for a day (minus less than the publish delay).
    lab.sql("UPDATE keys.signing_keys SET activated_at = now() - interval '1 day' + interval '1 second'"
            f" WHERE kid = '{old}'")
    [nxt] = wait_for("the scheduled successor", lambda: lab.by_state(keys, "RS256", "next"), timeout=10)
    wait_for("the takeover", lambda: lab.by_state(keys, "RS256", "active")[0]["kid"] == nxt["kid"],
             timeout=PUBLISH_DELAY + 10)
    assert lab.by_state(keys, "RS256", "retiring")[0]["kid"] == old
    for alg, kid in others.items():
        assert lab.by_state(keys, alg, "active")[0]["kid"] == kid
        assert not lab.by_state(keys, alg, "next")


# ---------------------------------------------------------------- rewrap


def test_rewrap_then_restart_with_the_new_kek_and_the_old_kek_is_refused(lab):
    keys = lab.start_keys()
    stale = lab.start_keys()  # a second replica still on the old KEK
    lab.start_gateway()
    before = kids(lab.jwks_op()["keys"])
    new = new_kek()
    cp = lab.keys(keys, "--json", "rewrap", env={"OSTIARY_KEK_NEW": new})
    assert cp.returncode == EXIT_OK, cp.stderr
    assert json.loads(cp.stdout)["rewrapped"] == len(before)
    assert new not in cp.stdout + cp.stderr
    # The replica that re-wrapped goes on with the new KEK ...
    assert lab.keys_json(keys, "status")["kek_current"] is True
    # The new KEK is never recorded, not even as a mark.
    assert lab.sql("SELECT details->'args' ? 'kek' FROM keys.audit_events WHERE event = 'key_rewrap'") == [["f"]]
    # ... the other one still signs but knows it must be restarted.
    assert lab.keys_json(stale, "status")["kek_current"] is False
    cp = lab.keys(stale, "rotate", "--alg", "ES256")
    assert cp.returncode == EXIT_ERROR and "restart" in cp.stderr
    for inst in (keys, stale):
        lab.stop(inst)
    rc, log = lab.run_keys_until_exit()  # the old KEK
    assert rc == EXIT_USAGE and MSG_WRONG_KEK in log
    lab.kek = new
    keys = lab.start_keys()
    assert kids(lab.jwks_op()["keys"]) == before
    published = {k["kid"]: k for k in lab.jwks()}
    for alg in ALGS:
        out = lab.sign(alg, {"sub": "after-rewrap"})
        assert verify(out["jws"], published[out["kid"]], alg)["sub"] == "after-rewrap"
    # A malformed new KEK is refused before anything is sent, and not echoed.
    cp = lab.keys(keys, "rewrap", env={"OSTIARY_KEK_NEW": "not-a-key"})
    assert cp.returncode == EXIT_USAGE and "not-a-key" not in cp.stderr


# ---------------------------------------------------------------- admin socket


def zmtp_null_client(port):
    """Talks ZeroMQ (ZMTP 3.0) with the NULL mechanism, i.e. without CURVE,
    and sends a status request. Returns the bytes received after the
    server's greeting, or None when the server closed the connection."""
    greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([3, 0]) + b"NULL".ljust(20, b"\x00") + b"\x00" * 32
    ready = b"\x05READY" + b"\x0bSocket-Type" + (3).to_bytes(4, "big") + b"REQ"
    request = b'{"command":"rotate","args":{"now":true}}'
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        received = b""
        try:
            s.sendall(greeting)
            s.sendall(bytes([0x04, len(ready)]) + ready)
            s.sendall(bytes([0x01, 0]) + bytes([0x00, len(request)]) + request)
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                received += chunk
        except (BrokenPipeError, ConnectionResetError):
            return None
        except socket.timeout:
            return received[64:]


def test_admin_tcp_socket_refuses_unauthenticated_clients(lab):
    certs = os.path.join(lab.dir, "certs")
    allowed = os.path.join(lab.dir, "allowed")
    os.makedirs(certs)
    os.makedirs(allowed)
    for name in ("server", "client", "stranger"):
        cp = lab.ctl("keys", "cert", os.path.join(certs, name))
        assert cp.returncode == 0, cp.stderr
    assert oct(os.stat(os.path.join(certs, "client_secret")).st_mode & 0o777) == "0o600"
    shutil.copy(os.path.join(certs, "client"), allowed)
    # A certificate is never overwritten.
    assert lab.ctl("keys", "cert", os.path.join(certs, "client")).returncode == EXIT_USAGE
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    # TCP without CURVE is refused at start.
    rc, log = lab.run_keys_until_exit(OSTIARY_KEYS_ADMIN=endpoint)
    assert rc == EXIT_USAGE and "OSTIARY_KEYS_ADMIN_CURVE_CERT" in log
    keys = lab.start_keys(wait=False, OSTIARY_KEYS_ADMIN=endpoint,
                          OSTIARY_KEYS_ADMIN_CURVE_CERT=os.path.join(certs, "server"),
                          OSTIARY_KEYS_ADMIN_CURVE_CLIENTS=allowed)
    wait_for("the tcp admin socket", lambda: "admin socket on tcp://" in keys.log_path.read_text(), timeout=30)
    good = ["--curve-cert", os.path.join(certs, "client"), "--server-key", os.path.join(certs, "server")]
    cp = lab.keys(keys, *good, "--json", "status")
    assert cp.returncode == EXIT_OK, cp.stderr
    # A raw ZeroMQ client without CURVE: the connection ends, nothing answers.
    assert not zmtp_null_client(port)
    # ostiaryctl without CURVE settings does not even try.
    cp = lab.keys(keys, "status")
    assert cp.returncode == EXIT_USAGE and "CURVE" in cp.stderr
    # A CURVE client whose key is not allow-listed is refused by the ZAP handler.
    cp = lab.ctl("--timeout", "3000", "keys", "--admin", endpoint, "--curve-cert",
                 os.path.join(certs, "stranger"), "--server-key", os.path.join(certs, "server"), "rotate", "--now")
    assert cp.returncode == EXIT_ERROR and "refused" in cp.stderr
    assert "refused CURVE client" in keys.log_path.read_text()
    # Nothing but the allowed client's command reached keys-svc.
    audit = lab.sql("SELECT actor, details->>'command', outcome FROM keys.audit_events"
                    " WHERE event <> 'key_generate' ORDER BY id")
    public = open(os.path.join(certs, "client")).read()
    assert len(audit) == 1 and audit[0][1:] == ["status", "success"]
    assert f'public-key = "{audit[0][0]}"' in public
    assert lab.sql("SELECT count(*) FROM keys.signing_keys WHERE state <> 'active'") == [["0"]]
    # A client whose key is removed from the allow-list loses its open
    # connection's rights too: the allow-list is read for every command.
    req = zmq.Context.instance().socket(zmq.REQ)
    req.linger = 0
    req.curve_publickey, req.curve_secretkey = zmq.auth.load_certificate(os.path.join(certs, "client_secret"))
    req.curve_serverkey = zmq.auth.load_certificate(os.path.join(certs, "server"))[0]
    req.connect(endpoint)
    try:
        req.send(json.dumps({"command": "status", "args": {}}).encode())
        assert req.poll(10000), "the admin socket did not answer"
        assert "ok" in json.loads(req.recv())
        os.unlink(os.path.join(allowed, "client"))
        req.send(json.dumps({"command": "rotate", "args": {"now": True}}).encode())
        assert req.poll(10000), "the admin socket did not answer"
        reply = json.loads(req.recv())
        assert reply["error"]["code"] == "forbidden", reply
    finally:
        req.close(0)
    assert lab.sql("SELECT count(*) FROM keys.signing_keys WHERE state <> 'active'") == [["0"]]


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("setting, value, message", [
    ("OSTIARY_KEYS_PUBLISH_DELAY", "2", "OSTIARY_KEYS_PUBLISH_DELAY"),
    ("OSTIARY_KEYS_ALGS", "ES256,EdDSA", "RS256"),
    ("OSTIARY_KEYS_ALGS", "RS256,HS256", "OSTIARY_KEYS_ALGS"),
    ("OSTIARY_KEYS_ADMIN", "http://127.0.0.1:1", "OSTIARY_KEYS_ADMIN"),
    ("OSTIARY_KEYS_ADMIN", "ipc://relative.sock", "absolute"),
], ids=["publish-delay-below-cache-time", "no-rs256", "unknown-alg", "bad-admin-scheme", "relative-ipc"])
def test_keys_svc_refuses_unsafe_lifecycle_settings(lab, setting, value, message):
    rc, log = lab.run_keys_until_exit(**{setting: value})
    assert rc == EXIT_USAGE
    assert message in log


def test_admin_socket_folder_writable_by_others_is_refused(lab):
    loose = os.path.join(lab.dir, "loose")
    os.makedirs(loose)
    os.chmod(loose, 0o777)
    rc, log = lab.run_keys_until_exit(OSTIARY_KEYS_ADMIN=f"ipc://{loose}/admin.sock")
    assert rc == EXIT_USAGE and "writable by nobody else" in log


# ---------------------------------------------------------------- the CLI (shared stack)


def keys_ctl(stack, *args, **kw):
    return stack.ctl("keys", *args, **kw)


def test_admin_socket_is_local_and_private_by_default(stack):
    path = os.path.join(stack.env["OSTIARY_RUN_DIR"], "keys-admin.sock")
    st = os.stat(path)
    assert oct(st.st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
    cp = keys_ctl(stack, "--json", "status")
    assert cp.returncode == EXIT_OK, cp.stderr
    status = json.loads(cp.stdout)
    assert status["admin"] == "ipc://" + path
    assert status["signing_algs"] == ALGS


def test_cli_list_shows_every_published_key(stack):
    cp = keys_ctl(stack, "--json", "list")
    assert cp.returncode == EXIT_OK, cp.stderr
    listed = json.loads(cp.stdout)["keys"]
    for k in listed:
        assert {"kid", "alg", "state", "created", "activated", "retire_after"} <= set(k)
    published = {k["kid"] for k in listed if k["state"] in ("next", "active", "retiring")}
    jwks = json.loads(stack.ctl("call", "keys.jwks").stdout)
    assert published == {k["kid"] for k in jwks["keys"]}
    human = keys_ctl(stack, "list")
    assert human.returncode == EXIT_OK and "RETIRE-AFTER" in human.stdout


@pytest.mark.parametrize("args, message", [
    (["frobnicate"], "unknown command"),
    ([], "usage"),
    (["--bogus", "list"], "unknown option"),
    (["rotate", "--alg", "HS256"], "unknown algorithm"),
    (["rotate", "--alg", "rs256"], "unknown algorithm"),
    (["rotate", "--alg", "none"], "unknown algorithm"),
    (["rotate", "--sideways"], "rotate takes"),
    (["retire"], "retire takes"),
    (["retire", "not a kid!"], "unknown kid"),
    (["retire", "A" * 43], "no key has kid"),
    (["status", "extra"], "takes no arguments"),
], ids=["unknown-command", "no-command", "unknown-option", "alg-hs256", "alg-lowercase", "alg-none",
        "rotate-bad-option", "retire-no-kid", "retire-malformed-kid", "retire-unknown-kid",
        "status-extra-argument"])
def test_cli_errors_exit_2_with_a_clear_message(stack, args, message):
    """Refused by ostiaryctl itself: 2; refused by keys-svc (its error code on
    stderr, as an unknown kid): 1, as every command (ctl/ctl.h)."""
    cp = keys_ctl(stack, *args)
    expected = EXIT_ERROR if "(invalid_request)" in cp.stderr or "(not_found)" in cp.stderr else EXIT_USAGE
    assert cp.returncode == expected, (cp.returncode, cp.stderr)
    assert message in cp.stderr
    assert cp.stdout == ""


def test_cli_retire_of_the_active_key_is_refused(stack):
    listed = json.loads(keys_ctl(stack, "--json", "list").stdout)["keys"]
    active = [k for k in listed if k["state"] == "active" and k["alg"] == "RS256"][0]["kid"]
    cp = keys_ctl(stack, "retire", active)
    assert cp.returncode == EXIT_ERROR  # refused by keys-svc
    assert "rotate --alg RS256 --now" in cp.stderr
    after = json.loads(keys_ctl(stack, "--json", "list").stdout)["keys"]
    assert [k["state"] for k in after if k["kid"] == active] == ["active"]


def test_cli_without_a_keys_svc_says_so_and_exits_3(stack, tmp_path):
    cp = keys_ctl(stack, "--admin", f"ipc://{tmp_path}/nothing.sock", "status")
    assert cp.returncode == EXIT_UNREACHABLE
    assert "no keys-svc admin socket" in cp.stderr


class FakeAdmin:
    """A REP socket that answers every request with the given reply, in
    place of keys-svc's admin socket: what ostiaryctl does with an answer
    outside its command's shape."""

    def __init__(self, path, reply):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.REP)
        self.sock.linger = 0
        self.sock.bind(f"ipc://{path}")
        self.reply = reply
        self.requests = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not getattr(self, "stopped", False):
            if poller.poll(100):
                self.requests.append(json.loads(self.sock.recv()))
                self.sock.send(json.dumps(self.reply).encode())

    def close(self):
        self.stopped = True
        self.thread.join(5)
        self.sock.close()
        self.ctx.term()


GOOD_KEY = {"kid": "k1", "alg": "ES256", "state": "active", "created": "2026-12-07 10:00:00+00",
            "activated": "2026-12-07 10:00:00+00"}


@pytest.mark.parametrize("args, reply", [
    (["list"], {"ok": {"keys": [dict(GOOD_KEY, kid=5)]}}),
    (["list"], {"ok": {"keys": [dict(GOOD_KEY, surprise="x")]}}),
    (["list"], {"ok": {"keys": "k1"}}),
    (["status"], {"ok": {"keys": []}}),
    (["retire", "k1"], {"ok": {"kid": "k1", "alg": "ES256", "from": "next", "state": "retired"}}),
    (["list"], {"ok": {"keys": []}, "error": {"code": "server_error", "description": "x"}}),
    (["list"], {"error": {"code": "server_error"}}),
    (["list"], ["ok"]),
], ids=["kid-not-a-string", "unknown-member", "keys-not-an-array", "status-missing-members",
        "retire-without-changed", "ok-and-error", "error-without-description", "not-an-object"])
def test_cli_refuses_an_answer_outside_its_commands_shape(stack, tmp_path, args, reply):
    fake = FakeAdmin(tmp_path / "admin.sock", reply)
    try:
        cp = keys_ctl(stack, "--admin", f"ipc://{tmp_path}/admin.sock", *args)
    finally:
        fake.close()
    assert [r["command"] for r in fake.requests] == [args[0]]
    assert cp.returncode == EXIT_ERROR, (cp.returncode, cp.stdout, cp.stderr)
    assert "malformed answer" in cp.stderr
    assert cp.stdout == ""


def test_cli_prints_an_answer_that_fits_its_shape(stack, tmp_path):
    fake = FakeAdmin(tmp_path / "admin.sock", {"ok": {"keys": [GOOD_KEY]}})
    try:
        cp = keys_ctl(stack, "--admin", f"ipc://{tmp_path}/admin.sock", "list")
    finally:
        fake.close()
    assert cp.returncode == EXIT_OK, cp.stderr
    assert re.search(r"^k1\s+ES256\s+active\s+2026-12-07 10:00:00\+00\s+2026-12-07 10:00:00\+00\s+-$",
                     cp.stdout, re.M), cp.stdout


def test_every_admin_command_is_audited_without_secrets(stack):
    keys_db = stack.env.get("OSTIARY_DB_KEYS")
    if not keys_db or not shutil.which("psql"):
        pytest.skip("no keys-role conninfo")
    marker = "A" * 40 + uuid.uuid4().hex[:3]
    assert keys_ctl(stack, "retire", marker).returncode == EXIT_ERROR  # refused by keys-svc
    assert keys_ctl(stack, "status").returncode == EXIT_OK
    # A malformed new KEK is refused by ostiaryctl itself: nothing is sent,
    # nothing is echoed. (rewrap's audit line, "(given)" in place of the
    # key, is checked in the lab: it changes the keys.)
    cp = keys_ctl(stack, "rewrap", input="short-secret\n")
    assert cp.returncode == EXIT_USAGE and "short-secret" not in cp.stderr
    cp = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-d", keys_db, "-c",
                         "SELECT details->>'command', details->'args', outcome, coalesce(details->>'error', '')"
                         " FROM keys.audit_events WHERE event <> 'key_generate' ORDER BY id DESC LIMIT 2"],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    rows = [line.split("|") for line in cp.stdout.splitlines()]
    assert rows[0][0] == "status" and rows[0][2] == "success"
    assert rows[1][0] == "retire" and marker in rows[1][1] and rows[1][2:] == ["failure", "not_found"]
