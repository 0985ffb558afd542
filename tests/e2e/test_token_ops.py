"""token-svc's authorization code flow over the bus (`ostiaryctl call`),
where more than token-svc matters: issued ID and access tokens verified with
jwcrypto against the gateway's /jwks (never with our own code), for each of
the three signing algorithms, and an ID token hint or access token signed with
our keys for another issuer (a second keys-svc on the same key store).

Each op's own cases are tested in-process: the authorization request (page
errors, the error redirects, response modes, state, the stored request, the
id_token_hint), authorize_error, consent_check, issue_code, and
token.exchange's and token.userinfo's refusals in tests/svc/test_token_ops.c
and tests/svc/test_token_grants.c (with bodies outside proto/ops/token.def),
short lifetimes in tests/svc/test_token_lifetimes.c."""

import base64
import hashlib
import json
import os
import secrets
import time

import pytest
from jwcrypto import jwk, jwt

from bus_peer import Peer, public_key
from conftest import free_port

RP = "https://rp.example"


# ------------------------------------------------------------ helpers


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unique(prefix):
    return f"{prefix}-{secrets.token_hex(4)}"


def call(stack, op, body):
    cp = stack.ctl_for(op, "call", op, json.dumps(body))
    out = json.loads(cp.stdout) if cp.stdout.strip() else None
    return cp.returncode, out


def ok(stack, op, body):
    rc, out = call(stack, op, body)
    assert rc == 0, (op, body, out)
    return out


def fails(stack, op, body):
    """The error (code, description) of a refused op."""
    rc, out = call(stack, op, body)
    assert rc == 1, (op, body, out)
    return out["error"], out["error_description"]


def pkce():
    verifier = b64url(os.urandom(32))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


class Client:
    def __init__(self, stack, **fields):
        body = {
            "client_id": unique("tok"),
            "type": "confidential",
            "scopes": ["openid", "profile", "email", "offline_access"],
            "first_party": False,
        }
        body.update(fields)
        body.setdefault("redirect_uris", [f"{RP}/cb/{body['client_id']}"])
        out = ok(stack, "token.client_add", body)
        self.id = out["client"]["client_id"]
        self.secret = out.get("client_secret")
        self.info = out["client"]
        self.redirect_uris = out["client"]["redirect_uris"]
        self.redirect_uri = self.redirect_uris[0] if self.redirect_uris else None

    def basic(self):
        return {"client_id": self.id, "client_secret": self.secret}


def auth_params(client, **extra):
    params = {"response_type": "code", "client_id": client.id, "redirect_uri": client.redirect_uri,
              "scope": "openid profile", "state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16)}
    for k, v in extra.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = v
    return params


def authorize(stack, params, repeated=None, method="GET"):
    return ok(stack, "token.authorize", {"params": params, "repeated": repeated or [], "method": method})


def request_of(stack, params, **kw):
    out = authorize(stack, params, **kw)
    assert set(out) == {"request"}, out
    return out["request"]


def error_redirect(stack, params, error, **kw):
    """Asserts that the request gets an error response at the redirect URI."""
    out = authorize(stack, params, **kw)
    assert set(out) == {"redirect"}, out
    r = out["redirect"]
    assert r["params"]["error"] == error, r
    assert r["params"]["error_description"]
    assert r["params"]["iss"] == stack.base_url
    return r


def session(sub=None, **extra):
    body = {"sub": sub or unique("sub"), "sid": unique("sid"), "auth_time": int(time.time()) - 5,
            "amr": ["pwd"]}
    body.update(extra)
    return body


def issue(stack, request_id, sess, consent=None):
    body = dict(sess, request_id=request_id)
    if consent is not None:
        body["consent"] = consent
    return ok(stack, "token.issue_code", body)["redirect"]


def code_for(stack, client, sess=None, **extra):
    """A code for client (PKCE S256 unless code_challenge=None is given);
    returns (code, verifier, params, session)."""
    verifier, challenge = pkce()
    extra.setdefault("code_challenge", challenge)
    extra.setdefault("code_challenge_method", "S256" if extra["code_challenge"] else None)
    params = auth_params(client, **extra)
    q = request_of(stack, params)
    sess = sess or session()
    r = issue(stack, q["request_id"], sess, consent={"granted": True, "remember": False})
    assert set(r["params"]) == {"code", "state", "iss"}, r
    return r["params"]["code"], (verifier if extra["code_challenge"] == challenge else None), params, sess


def token_form(code, params, verifier=None, **extra):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"]}
    if verifier:
        form["code_verifier"] = verifier
    for k, v in extra.items():
        if v is None:
            form.pop(k, None)
        else:
            form[k] = v
    return form


def exchange(stack, client, form, method=None):
    method = method or client.info["token_endpoint_auth_method"]
    body = {"form": dict(form), "basic": None, "client_ip": "127.0.0.1"}
    if method == "client_secret_basic":
        body["basic"] = client.basic()
    elif method == "client_secret_post":
        body["form"].update(client.basic())
    else:
        body["form"]["client_id"] = client.id
    return call(stack, "token.exchange", body)


def tokens_for(stack, client, **extra):
    code, verifier, params, sess = code_for(stack, client, **extra)
    rc, out = exchange(stack, client, token_form(code, params, verifier))
    assert rc == 0, out
    return out, params, sess


def jwks(stack, http):
    r = http.get(stack.base_url + "/jwks", timeout=10)
    assert r.status_code == 200
    return jwk.JWKSet.from_json(r.text)


def verify(stack, http, token):
    """Signature checked by jwcrypto against /jwks; (header, claims)."""
    t = jwt.JWT(jwt=token, key=jwks(stack, http), algs=["RS256", "ES256", "EdDSA"], check_claims=False)
    return json.loads(t.header), json.loads(t.claims)


FOREIGN_ISSUER = "https://evil.example"


@pytest.fixture(scope="module")
def foreign_sign(stack):
    """Signs with OUR keys for ANOTHER issuer: a second keys-svc on the same
    key store (database and KEK) configured with https://evil.example, as a
    deployment sharing keys would be. It never joins our broker (its bus
    endpoint is a port nobody serves); token-svc's key asks it through its
    own direct endpoint. keys-svc signs only its own issuer's tokens, so
    this is the one way to get such a token to check that token-svc
    refuses it."""
    direct = f"tcp://127.0.0.1:{free_port()}"
    inst = stack.start("keys-svc", extra_env={
        "OSTIARY_ISSUER": FOREIGN_ISSUER, "OSTIARY_BUS_ENDPOINT": f"tcp://127.0.0.1:{free_port()}",
        "OSTIARY_BUS_DIRECT_BIND": direct, "OSTIARY_KEYS_ADMIN": "none"})
    peer = Peer(direct, public_key(stack.bus_keys / "peers" / "keys" / "keys.pub"),
                stack.bus_keys / "token.key")

    def sign_foreign(claims, alg="RS256", typ="JWT"):
        deadline = time.monotonic() + 30
        while True:
            assert inst.alive(), stack.log_text("keys-svc")[-2000:]
            reply = peer.call("keys.sign", {"claims": dict(claims, iss=FOREIGN_ISSUER), "alg": alg, "typ": typ})
            if reply is not None:
                assert "ok" in reply, reply
                return reply["ok"]["jws"]
            assert time.monotonic() < deadline, "the foreign keys-svc did not answer"

    yield sign_foreign
    peer.close()
    inst.stop()


def access_claims(stack, **extra):
    now = int(time.time())
    claims = {"iss": stack.base_url, "sub": unique("sub"), "aud": stack.base_url + "/userinfo",
              "exp": now + 300, "iat": now, "jti": secrets.token_urlsafe(16), "client_id": "crafted",
              "scope": "openid profile"}
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


def userinfo(stack, token):
    return call(stack, "token.userinfo", {"access_token": token})


def half_hash(value, alg):
    digest = (hashlib.sha512 if alg == "EdDSA" else hashlib.sha256)(value.encode()).digest()
    return b64url(digest[: len(digest) // 2])


# ------------------------------------------------------------ clients


@pytest.fixture(scope="module")
def conf(stack):
    """Confidential, client_secret_basic, PKCE optional, two redirect URIs, third-party."""
    cid = unique("conf")
    return Client(stack, client_id=cid, redirect_uris=[f"{RP}/cb/{cid}", f"{RP}/cb/{cid}/second"],
                  require_pkce=False)


@pytest.fixture(scope="module")
def post(stack):
    """Confidential, client_secret_post, PKCE by the global default, ES256 ID tokens, first-party."""
    return Client(stack, token_endpoint_auth_method="client_secret_post", id_token_signed_response_alg="ES256",
                  first_party=True)


@pytest.fixture(scope="module")
def pub(stack):
    """Public (PKCE, no secret), EdDSA ID tokens, first-party."""
    return Client(stack, type="public", id_token_signed_response_alg="EdDSA", first_party=True)


# ------------------------------------------------------------ authorize: id_token_hint


def hint_claims(stack, client, **extra):
    now = int(time.time())
    claims = {"iss": stack.base_url, "sub": unique("sub"), "aud": client.id, "iat": now, "exp": now + 300}
    claims.update(extra)
    return claims


def test_id_token_hint_of_another_issuer_is_invalid_request(stack, conf, foreign_sign):
    token = foreign_sign(hint_claims(stack, conf))
    error_redirect(stack, auth_params(conf, id_token_hint=token), "invalid_request")


# ------------------------------------------------------------ exchange: success


def test_code_exchange_with_client_secret_basic_issues_verified_tokens(stack, http, conf):
    code, verifier, params, sess = code_for(stack, conf, scope="openid profile email")
    rc, out = exchange(stack, conf, token_form(code, params, verifier))
    assert rc == 0, out
    assert set(out) == {"access_token", "token_type", "expires_in", "id_token", "scope"}
    assert out["token_type"] == "Bearer" and out["expires_in"] == 600
    assert out["scope"] == "openid profile email"
    header, idt = verify(stack, http, out["id_token"])
    assert header["alg"] == "RS256" and header["typ"] == "JWT" and header["kid"]
    assert idt["iss"] == stack.base_url
    assert idt["aud"] == conf.id and idt["azp"] == conf.id
    assert idt["sub"] == sess["sub"] and idt["sid"] == sess["sid"]
    assert idt["auth_time"] == sess["auth_time"] and idt["amr"] == ["pwd"]
    assert idt["nonce"] == params["nonce"]
    assert idt["exp"] - idt["iat"] == 3600 and abs(idt["iat"] - time.time()) < 30
    assert idt["at_hash"] == half_hash(out["access_token"], "RS256")


def test_access_token_is_an_rfc9068_jwt(stack, http, conf):
    out, params, sess = tokens_for(stack, conf)
    header, at = verify(stack, http, out["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    assert at["iss"] == stack.base_url and at["aud"] == stack.base_url + "/userinfo"
    assert at["sub"] == sess["sub"] and at["client_id"] == conf.id
    assert at["scope"] == "openid profile" and at["auth_time"] == sess["auth_time"]
    assert at["exp"] - at["iat"] == 600 and len(at["jti"]) >= 16


def test_code_exchange_with_client_secret_post_and_pkce_signs_es256(stack, http, post):
    code, verifier, params, _ = code_for(stack, post)
    rc, out = exchange(stack, post, token_form(code, params, verifier))
    assert rc == 0, out
    header, idt = verify(stack, http, out["id_token"])
    assert header["alg"] == "ES256"
    assert idt["at_hash"] == half_hash(out["access_token"], "ES256")


def test_public_client_with_pkce_gets_eddsa_id_token_with_sha512_at_hash(stack, http, pub):
    code, verifier, params, _ = code_for(stack, pub)
    rc, out = exchange(stack, pub, token_form(code, params, verifier), method="none")
    assert rc == 0, out
    header, idt = verify(stack, http, out["id_token"])
    assert header["alg"] == "EdDSA"
    assert idt["at_hash"] == half_hash(out["access_token"], "EdDSA")


# ------------------------------------------------------------ userinfo


def test_access_token_of_another_issuer_is_invalid_token(stack, foreign_sign):
    token = foreign_sign(access_claims(stack), typ="at+jwt")
    rc, out = userinfo(stack, token)
    assert rc == 1 and out["error"] == "invalid_token"
