"""keys-svc end to end: the JWKS, keys.sign for every algorithm verified by an
independent library (jwcrypto), the protected header framed by keys-svc, the
key-encryption key checks at start-up and persistence across restarts.

Tokens come from `ostiaryctl call keys.sign`; the keys they are checked against
come from the gateway's public /jwks, so a test passes only when what keys-svc
signs and what Ostiary publishes agree.
"""

import base64
import json
import os
import shutil
import subprocess
import time

import pytest
from jwcrypto import jwk, jws

from oidc import call, ok

ALGS = ["RS256", "ES256", "EdDSA"]
KTY = {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}
# RFC 7517 §9.2, RFC 7518 §6.2.2, §6.3.2, §6.4, RFC 8037 §2: private members.
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
MSG_WRONG_KEK = "OSTIARY_KEK does not decrypt the stored keys: wrong key-encryption key"
EXIT_CONFIG = 2


# ---------------------------------------------------------------- helpers


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def error_code(out):
    """The error code of an error reply, whichever envelope ostiaryctl prints."""
    assert isinstance(out, dict), out
    for member in ("code", "error"):
        value = out.get(member)
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and isinstance(value.get("code"), str):
            return value["code"]
    raise AssertionError("no error code in %r" % (out,))


def assert_invalid_request(stack, body):
    rc, out = call(stack, "keys.sign", body)
    assert rc == 1, (rc, out)
    assert error_code(out) == "invalid_request"


def published_jwks(stack, http):
    r = http.get(stack.base_url + "/jwks", timeout=10)
    assert r.status_code == 200
    return r.json()["keys"]


def signable(stack, claims):
    """claims with what keys-svc requires of every token it signs (our iss,
    integer iat and exp, a lifetime within OSTIARY_KEYS_TOKEN_LIFETIME_MAX),
    added in place so that a test compares the payload with claims as is."""
    now = int(time.time())
    claims.setdefault("iss", stack.base_url)
    claims.setdefault("iat", now)
    claims.setdefault("exp", now + 600)
    return claims


def sign(stack, alg, claims, **extra):
    body = {"claims": signable(stack, claims), "alg": alg}
    body.update(extra)
    return ok(stack, "keys.sign", body)


def verify(stack, http, result, alg):
    """Verifies a keys.sign result against the published JWKS with jwcrypto;
    returns (protected header, claims)."""
    keys = {k["kid"]: k for k in published_jwks(stack, http)}
    assert result["kid"] in keys, "signing key is not in /jwks"
    key = jwk.JWK.from_json(json.dumps(keys[result["kid"]]))
    token = jws.JWS()
    token.deserialize(result["jws"])
    token.verify(key, alg=alg)  # raises on a bad signature or another alg
    header_b64 = result["jws"].split(".")[0]
    return json.loads(b64url_decode(header_b64)), json.loads(token.payload)


def keys_kids(stack):
    """Kids straight from keys-svc (the gateway caches /jwks)."""
    return {k["kid"] for k in ok(stack, "keys.jwks", {})["keys"]}


def other_kek():
    return b64url(os.urandom(32))


def run_keys_until_exit(stack, extra_env, timeout=60):
    """Starts one more keys-svc with extra_env, waits for it to exit; returns
    (exit code, its log text). Kills it if it is still running."""
    handle = stack.start("keys", extra_env=extra_env)
    try:
        rc = handle.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        handle.kill()
        handle.proc.wait(timeout=10)
        pytest.fail("keys-svc kept running with OSTIARY_KEK=%r" % (extra_env.get("OSTIARY_KEK"),))
    return rc, instance_log(stack, handle)


def instance_log(stack, handle):
    """The log of one started instance when the harness keeps it apart,
    otherwise the log of every keys-svc."""
    path = getattr(handle, "log_path", None) or getattr(handle, "log", None)
    if isinstance(path, (str, os.PathLike)) and os.path.exists(path):
        with open(path, errors="replace") as f:
            return f.read()
    return stack.log_text("keys")


def keys_psql(stack):
    """A psql runner with the keys role's conninfo, or None when the harness
    does not expose one."""
    env = getattr(stack, "env", None) or {}
    conninfo = None
    for attr in ("db_conninfo", "conninfo"):
        fn = getattr(stack, attr, None)
        if callable(fn):
            try:
                conninfo = fn("keys")
            except Exception:
                conninfo = None
        if conninfo:
            break
    if not conninfo:
        # scripts/pg.sh env exports OSTIARY_DB_KEYS (the keys role's conninfo).
        for source in (env, os.environ):
            if source.get("OSTIARY_DB_KEYS"):
                conninfo = source["OSTIARY_DB_KEYS"]
                break
    psql = shutil.which("psql")
    if not conninfo or not psql:
        return None

    def run(sql):
        cp = subprocess.run(
            [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert cp.returncode == 0, cp.stderr
        return [line.split("|") for line in cp.stdout.splitlines() if line]

    return run


# ---------------------------------------------------------------- JWKS


def test_jwks_has_kid_kty_alg_use_and_no_private_members(stack, http):
    keys = published_jwks(stack, http)
    assert keys
    for k in keys:
        assert isinstance(k.get("kid"), str) and k["kid"]
        assert k.get("alg") in ALGS
        assert k.get("kty") == KTY[k["alg"]]
        assert k.get("use") == "sig"
        assert not PRIVATE_MEMBERS & set(k), k
        # jwcrypto agrees that it is a public key.
        assert not jwk.JWK.from_json(json.dumps(k)).has_private
    assert len({k["kid"] for k in keys}) == len(keys)


def test_jwks_publishes_a_key_of_every_algorithm(stack, http):
    assert {k["alg"] for k in published_jwks(stack, http)} >= set(ALGS)


def test_jwks_op_matches_gateway_jwks(stack, http):
    assert keys_kids(stack) == {k["kid"] for k in published_jwks(stack, http)}


def test_kid_is_rfc7638_thumbprint(stack, http):
    for k in published_jwks(stack, http):
        assert jwk.JWK.from_json(json.dumps(k)).thumbprint() == k["kid"]


def test_jwks_key_sizes_fit_their_algorithms(stack, http):
    for k in published_jwks(stack, http):
        if k["alg"] == "RS256":
            # RFC 7518 §3.3: 2048 bits or more.
            assert len(b64url_decode(k["n"])) * 8 >= 2048
        elif k["alg"] == "ES256":
            assert k["crv"] == "P-256"
        else:
            assert k["crv"] == "Ed25519"


def test_keys_health_counts_published_keys(stack):
    out = ok(stack, "keys.health", {})
    assert out["status"] == "ok"
    assert out["keys"] == len(keys_kids(stack)) >= 3


# ---------------------------------------------------------------- keys.sign


def test_sign_rs256_verifies_against_published_jwks(stack, http):
    alg = "RS256"
    claims = {"sub": "alice", "aud": "client-1", "n": [1, 2, {"x": "é"}]}
    result = sign(stack, alg, claims)
    assert result["alg"] == alg
    header, payload = verify(stack, http, result, alg)
    assert payload == claims
    assert header["alg"] == alg


def test_sign_es256_verifies_against_published_jwks(stack, http):
    claims = {"sub": "bob"}
    result = sign(stack, "ES256", claims)
    header, payload = verify(stack, http, result, "ES256")
    assert payload == claims
    # RFC 7518 §3.4: r || s, 64 bytes, not DER.
    assert len(b64url_decode(result["jws"].split(".")[2])) == 64


def test_sign_eddsa_verifies_against_published_jwks(stack, http):
    claims = {"sub": "carol"}
    result = sign(stack, "EdDSA", claims)
    header, payload = verify(stack, http, result, "EdDSA")
    assert payload == claims
    assert len(b64url_decode(result["jws"].split(".")[2])) == 64


def test_sign_uses_a_key_of_the_requested_algorithm(stack, http):
    keys = {k["kid"]: k for k in published_jwks(stack, http)}
    for alg in ALGS:
        result = sign(stack, alg, {"sub": "x"})
        assert keys[result["kid"]]["alg"] == alg


def test_sign_header_is_framed_by_keys_svc(stack, http):
    # The protected header is exactly {"alg", "kid", "typ"} built by
    # keys-svc, so keys-svc is no raw signing oracle: a caller that tries to
    # shape it (a header, a kid, a jku, a crit) is refused before anything is
    # signed, and an "alg" among the claims stays a claim.
    for extra in ({"header": {"alg": "none", "jku": "https://evil.example/jwks", "kid": "evil"}},
                  {"kid": "evil"}, {"jku": "https://evil.example/jwks"}, {"crit": ["exp"]}):
        body = {"claims": signable(stack, {"sub": "mallory"}), "alg": "ES256", "typ": "at+jwt", **extra}
        rc, out = call(stack, "keys.sign", body)
        name = next(iter(extra))
        assert rc == 1 and out == {"error": "invalid_request",
                                   "error_description": f"invalid request: {name}: unknown member"}, out
    result = sign(stack, "ES256", {"sub": "mallory", "alg": "none"}, typ="at+jwt")
    header, payload = verify(stack, http, result, "ES256")
    assert header == {"alg": "ES256", "kid": result["kid"], "typ": "at+jwt"}
    assert payload == signable(stack, {"sub": "mallory", "alg": "none", "iat": payload["iat"],
                                       "exp": payload["exp"]})


def test_sign_typ_defaults_to_jwt(stack, http):
    header, _ = verify(stack, http, sign(stack, "RS256", {"sub": "x"}), "RS256")
    assert header["typ"] == "JWT"


def test_sign_rejects_alg_none(stack):
    assert_invalid_request(stack, {"claims": {"sub": "x"}, "alg": "none"})


@pytest.mark.parametrize("alg", ["HS256", "rs256", "PS256", "ES512", "", "None", 256, None])
def test_sign_rejects_unknown_alg(stack, alg):
    assert_invalid_request(stack, {"claims": {"sub": "x"}, "alg": alg})


def test_sign_rejects_missing_alg(stack):
    assert_invalid_request(stack, {"claims": {"sub": "x"}})


@pytest.mark.parametrize("claims", [[], "sub", 1, True, None, [{"sub": "x"}]])
def test_sign_rejects_non_object_claims(stack, claims):
    assert_invalid_request(stack, {"claims": claims, "alg": "RS256"})


def test_sign_rejects_missing_claims(stack):
    assert_invalid_request(stack, {"alg": "RS256"})


@pytest.mark.parametrize("typ", ["", "x" * 33, "at jwt", "a\tb", "jwt\n", "é", 1, ["JWT"]])
def test_sign_rejects_bad_typ(stack, typ):
    assert_invalid_request(stack, {"claims": {"sub": "x"}, "alg": "RS256", "typ": typ})


def test_sign_null_typ_is_the_default(stack, http):
    # proto/ops.def: null counts as absent, so typ null means the default JWT.
    body = {"claims": signable(stack, {"sub": "x"}), "alg": "RS256", "typ": None}
    header, _ = verify(stack, http, ok(stack, "keys.sign", body), "RS256")
    assert header["typ"] == "JWT"


def test_sign_refuses_a_well_formed_typ_it_does_not_issue(stack):
    # Only the typs of the tokens Ostiary issues (JWT: ID tokens, at+jwt:
    # access tokens) are signed, whoever asks.
    typ = "application/" + "x" * 20
    rc, out = call(stack, "keys.sign", {"claims": signable(stack, {"sub": "x"}), "alg": "EdDSA", "typ": typ})
    assert rc == 1 and error_code(out) == "forbidden", out


def test_sign_accepts_at_jwt(stack, http):
    header, _ = verify(stack, http, sign(stack, "EdDSA", {"sub": "x"}, typ="at+jwt"), "EdDSA")
    assert header["typ"] == "at+jwt"


def test_sign_rejects_oversized_claims(stack):
    # Fits the op's 16 KB body but not what keys-svc signs (8 KB of claims),
    # so every token stays parseable by the JWS size limit.
    assert_invalid_request(stack, {"claims": signable(stack, {"blob": "a" * 12000}), "alg": "RS256"})


# ---------------------------------------------------------------- start-up


def test_keys_svc_refuses_wrong_kek(stack):
    wrong = other_kek()
    rc, log = run_keys_until_exit(stack, {"OSTIARY_KEK": wrong})
    assert rc == EXIT_CONFIG
    assert MSG_WRONG_KEK in log
    # No key material in what it printed: neither key-encryption key, no PEM.
    assert wrong not in log
    real = (getattr(stack, "env", None) or {}).get("OSTIARY_KEK")
    if real:
        assert real not in log
    assert "PRIVATE KEY" not in log
    # The running keys-svc is untouched.
    assert ok(stack, "keys.health", {})["status"] == "ok"


@pytest.mark.parametrize(
    "kek",
    [
        "not-a-key",
        b64url(os.urandom(16)),  # 16 bytes: too short
        b64url(os.urandom(48)),  # 48 bytes: too long
        b64url(os.urandom(32)) + "=",  # padded
        base64.b64encode(b"\xfb" * 32).decode().rstrip("="),  # base64 with + and /, not base64url
        "A" * 42 + "!",
    ],
    ids=["not-base64url", "16-bytes", "48-bytes", "padded", "base64-not-url", "bad-character"],
)
def test_keys_svc_refuses_malformed_kek(stack, kek):
    rc, log = run_keys_until_exit(stack, {"OSTIARY_KEK": kek})
    assert rc == EXIT_CONFIG
    # config.c or keys-svc, whichever sees it first, names the variable and
    # the expected form.
    assert "OSTIARY_KEK" in log and "base64url" in log
    assert kek not in log
    assert ok(stack, "keys.health", {})["status"] == "ok"


def test_keys_svc_refuses_missing_kek(stack):
    rc, log = run_keys_until_exit(stack, {"OSTIARY_KEK": ""})
    assert rc == EXIT_CONFIG
    assert "OSTIARY_KEK" in log


def test_keys_persist_across_restart(stack, http):
    before = keys_kids(stack)
    assert len(before) >= 3
    stack.stop_all("keys")
    stack.ensure("keys")
    stack.wait_ready()
    assert keys_kids(stack) == before
    # And they still sign what the published JWKS verifies.
    for alg in ALGS:
        verify(stack, http, sign(stack, alg, {"sub": "after-restart"}), alg)


def test_keys_svc_workers_hold_no_database_connection(stack):
    # keys-svc's ops answer from the keyring in memory: one connection per
    # process (the control thread's, which reloads it), none per worker or
    # for the direct endpoint, so replicas do not eat max_connections.
    psql = keys_psql(stack)
    if psql is None:
        pytest.skip("no keys-role conninfo from the harness")
    count_sql = "SELECT count(*) FROM pg_stat_activity WHERE usename = current_user"
    before = int(psql(count_sql)[0][0])
    spare = stack.start("keys", extra_env={"OSTIARY_WORKERS": "4"})
    try:
        deadline = time.time() + 30
        while time.time() < deadline and "serving on" not in instance_log(stack, spare):
            assert spare.alive(), instance_log(stack, spare)
            time.sleep(0.1)
        assert "serving on" in instance_log(stack, spare)
        # The start-up connection (migrations) closes once the app is set up.
        counts = []
        deadline = time.time() + 10
        while time.time() < deadline:
            counts.append(int(psql(count_sql)[0][0]) - before)
            if counts[-3:] == [1, 1, 1]:
                break
            time.sleep(0.2)
        assert counts[-3:] == [1, 1, 1], counts
        # And it serves: its workers sign without a connection of their own.
        assert ok(stack, "keys.health", {})["status"] == "ok"
    finally:
        spare.stop()
    deadline = time.time() + 10
    while time.time() < deadline and int(psql(count_sql)[0][0]) != before:
        time.sleep(0.2)
    assert int(psql(count_sql)[0][0]) == before


# ---------------------------------------------------------------- at rest


def test_private_keys_are_encrypted_at_rest(stack, http):
    psql = keys_psql(stack)
    if psql is None:
        pytest.skip("no keys-role conninfo from the harness")
    rows = psql(
        "SELECT kid, alg, state, encode(private_enc, 'hex'), public_jwk::text"
        " FROM keys.signing_keys WHERE state IN ('next', 'active', 'retiring')"
    )
    assert {r[0] for r in rows} == keys_kids(stack)
    for kid, alg, state, enc_hex, jwk_text in rows:
        enc = bytes.fromhex(enc_hex)
        public = json.loads(jwk_text)
        assert not PRIVATE_MEMBERS & set(public)
        assert public["kid"] == kid and public["alg"] == alg
        # nonce (12) || ciphertext || tag (16) around a PKCS#8 DER.
        assert len(enc) > 28 + 40
        # Public values that a plaintext PKCS#8 would contain do not appear.
        for member in ("n", "x"):
            if member in public and alg != "EdDSA":
                assert b64url_decode(public[member])[:32] not in enc
    kek_rows = psql("SELECT octet_length(check_enc) FROM keys.kek_check")
    assert len(kek_rows) == 1 and int(kek_rows[0][0]) > 28


def test_stored_key_moved_to_another_row_does_not_load(stack):
    # The AAD binds each blob to its kid and algorithm: swapping two rows'
    # private_enc makes start-up fail, it never signs with the wrong key.
    psql = keys_psql(stack)
    if psql is None:
        pytest.skip("no keys-role conninfo from the harness")
    rows = psql("SELECT kid, alg FROM keys.signing_keys WHERE state = 'active' ORDER BY alg")
    by_alg = {alg: kid for kid, alg in rows}
    a, b = by_alg["ES256"], by_alg["EdDSA"]
    swap = (
        "UPDATE keys.signing_keys s SET private_enc = o.private_enc FROM keys.signing_keys o"
        " WHERE (s.kid, o.kid) IN (('%s', '%s'), ('%s', '%s'))" % (a, b, b, a)
    )
    psql(swap)
    try:
        handle = stack.start("keys")
        try:
            rc = handle.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            handle.kill()
            pytest.fail("keys-svc started with swapped private keys")
        assert rc != 0
        assert "tampered" in instance_log(stack, handle)
    finally:
        psql(swap)
    assert ok(stack, "keys.health", {})["status"] == "ok"


# ---------------------------------------------------------------- admin arguments


@pytest.mark.parametrize("command, args, why", [
    ("status", {"verbose": True}, "invalid arguments: verbose: unknown member"),
    ("rotate", {"alg": "RS256", "force": True}, "invalid arguments: force: unknown member"),
    ("rotate", {"now": "yes"}, "invalid arguments: now: must be true or false"),
    ("rotate", {"alg": "RS\n256"}, "invalid arguments: alg: must not contain control characters"),
    ("retire", {}, "invalid arguments: kid: required"),
    ("retire", {"kid": 7}, "invalid arguments: kid: must be a string"),
    ("rewrap", {"kek": "x" * 300}, "invalid arguments: kek: too long (at most 256 bytes)"),
])
def test_admin_arguments_are_checked_against_their_shape(stack, command, args, why):
    # keys-svc's admin socket checks a command's arguments against its shape
    # in proto/ops/keys.def before running it; nothing changes.
    import zmq
    before = stack.ctl("keys", "list").stdout
    endpoint = "ipc://" + os.path.join(stack.env["OSTIARY_RUN_DIR"], "keys-admin.sock")
    req = zmq.Context.instance().socket(zmq.REQ)
    req.linger = 0
    req.connect(endpoint)
    try:
        req.send(json.dumps({"command": command, "args": args}).encode())
        assert req.poll(10000), "the admin socket did not answer"
        reply = json.loads(req.recv())
    finally:
        req.close(0)
    assert reply == {"error": {"code": "invalid_request", "description": why}}, reply
    assert "x" * 20 not in json.dumps(reply)
    assert stack.ctl("keys", "list").stdout == before
