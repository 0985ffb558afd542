"""Helpers of the authorization code flow tests: clients and users made over
the bus (ostiaryctl call), a browser-like session that walks /authorize,
the login, consent and account pages, and independent verification of ID
tokens with python3-jwcrypto (never with our own code)."""

import base64
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from jwcrypto import jwk, jwt

RP = "https://rp.example"
DEFAULT_SCOPES = ["openid", "profile", "email", "address", "phone"]
PASSWORD = "correct horse battery staple"
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def unique(prefix):
    return f"{prefix}-{secrets.token_hex(4)}"


def call(stack, op, body):
    """Runs `ostiaryctl call OP JSON`; returns (exit code, parsed stdout)."""
    cp = stack.ctl_for(op, "call", op, json.dumps(body))
    try:
        out = json.loads(cp.stdout) if cp.stdout.strip() else None
    except ValueError:
        out = None
    return cp.returncode, out


def ok(stack, op, body):
    rc, out = call(stack, op, body)
    assert rc == 0, (op, rc, out)
    return out


def refused(stack, op, body):
    """The error code of an op the service refuses (ostiaryctl exits 1)."""
    rc, out = call(stack, op, body)
    assert rc == 1, (op, rc, out)
    return out["error"]


def psql_flow(stack, sql):
    """One query as flow-svc's own role (schema flow), rows as text; skips the
    test when the stack has no flow conninfo or psql is missing."""
    conninfo = stack.env.get("OSTIARY_DB_FLOW")
    if not conninfo or not shutil.which("psql"):
        pytest.skip("no conninfo of the flow database or no psql")
    cp = subprocess.run(["psql", conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def ctl_json(stack, op, body):
    """Calls op over the bus; returns the result, or fails the test."""
    r = stack.ctl_for(op, "call", op, json.dumps(body))
    assert r.returncode == 0, (op, r.stdout, r.stderr)
    return json.loads(r.stdout)


def make_client(stack, *, type="confidential", redirect_uris=None, first_party=True,
                auth_method=None, scopes=None, require_pkce=None, name=None, **extra):
    """A new client; returns (client_id, secret or None, redirect_uri)."""
    client_id = unique("client")
    redirect_uris = redirect_uris or [f"{RP}/cb/{client_id}"]
    if auth_method is None:
        auth_method = "none" if type == "public" else "client_secret_basic"
    body = {
        "client_id": client_id,
        "name": name or f"Test {client_id}",
        "type": type,
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "scopes": scopes or DEFAULT_SCOPES,
        "token_endpoint_auth_method": auth_method,
        "id_token_signed_response_alg": "RS256",
        "first_party": first_party,
    }
    if require_pkce is not None:
        body["require_pkce"] = require_pkce
    body.update(extra)
    out = ctl_json(stack, "token.client_add", body)
    return client_id, out.get("client_secret"), redirect_uris[0]


def make_user(stack, username=None, password=PASSWORD, **fields):
    username = username or unique("user")
    body = {
        "username": username,
        "password": password,
        "email": f"{username}@example.org",
        "email_verified": True,
        "given_name": "Alice",
        "family_name": "Liddell",
        "name": "Alice Liddell",
        "phone_number": "+1 555 0100",
        "address": {"formatted": "1 Rabbit Hole, Wonderland", "country": "UK"},
    }
    body.update(fields)
    out = ctl_json(stack, "flow.user_add", body)
    return username, out["user"]["sub"]


def pkce():
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def response_params(location):
    """The parameters of an authorization response (query or fragment)."""
    parts = urlsplit(location)
    raw = parts.fragment or parts.query
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


class FormParser(HTMLParser):
    """Collects the forms of a page: action, method and their fields."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"), "fields": {},
                               "buttons": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["fields"][a.get("name")] = a.get("value", "")
        elif tag == "button" and self.forms:
            self.forms[-1]["buttons"].append((a.get("name"), a.get("value")))


def forms(text):
    p = FormParser()
    p.feed(text)
    return p.forms


def assert_page_headers(r):
    """Every HTML page: CSP, no framing, no sniffing, no referrer, no cache."""
    assert r.headers["Content-Type"].startswith("text/html"), r.headers
    for name, value in PAGE_HEADERS.items():
        assert r.headers.get(name) == value, (name, r.headers)
    assert "no-store" in r.headers.get("Cache-Control", "")
    csp = r.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp, csp
    assert "frame-ancestors 'none'" in csp, csp
    assert "form-action 'self'" in csp, csp


class Browser:
    """A requests.Session that walks the pages the way a browser would,
    without following redirects to the relying party."""

    def __init__(self, stack):
        self.stack = stack
        self.base = stack.base_url
        self.http = requests.Session()
        self.http.trust_env = False

    def close(self):
        self.http.close()

    # A page may wait for an HTTP thread behind logins queued for Argon2id
    # (tests run fifty at once, on a loaded machine): the same 30 s as a
    # login's POST, a limit on hangs, not a measure of speed.
    def authorize(self, params, method="GET"):
        if method == "GET":
            return self.http.get(self.base + "/authorize", params=params, allow_redirects=False,
                                 timeout=30)
        return self.http.post(self.base + "/authorize", data=params, allow_redirects=False,
                              timeout=30)

    def get(self, location):
        return self.http.get(location, allow_redirects=False, timeout=30)

    def login_page(self, r):
        """r is a 303 to /login: the page."""
        assert r.status_code == 303, (r.status_code, r.text[:500])
        assert r.headers["Location"] == self.base + "/login", r.headers
        page = self.get(r.headers["Location"])
        assert page.status_code == 200, page.text[:500]
        return page

    def submit(self, page, **fields):
        """Submits the first form of page with its hidden fields plus fields."""
        form = forms(page.text)[0]
        data = {k: v for k, v in form["fields"].items() if k}
        data.update(fields)
        return self.http.post(html.unescape(form["action"]), data=data, allow_redirects=False,
                              timeout=30)

    def login(self, r, username, password=PASSWORD):
        page = self.login_page(r)
        return self.submit(page, username=username, password=password)

    def consent(self, r, decision="allow"):
        assert r.status_code == 303, (r.status_code, r.text[:500])
        assert r.headers["Location"] == self.base + "/consent", r.headers
        page = self.get(r.headers["Location"])
        assert page.status_code == 200, page.text[:500]
        return self.submit(page, decision=decision)

    def session_cookie(self):
        return self.http.cookies.get("ostiary_session")


def auth_params(client_id, redirect_uri, **extra):
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile email",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        # PKCE by default (required for every client unless registered
        # otherwise); code_flow puts its own.
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    for k, v in extra.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = v
    return params


def code_flow(stack, browser, client_id, redirect_uri, username, *, verifier=None, consent=None,
              **extra):
    """Walks /authorize → login (when needed) → consent (when asked) → the
    redirect; returns (params sent, final response, response params)."""
    if verifier is None:
        verifier, challenge = pkce()
    else:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = auth_params(client_id, redirect_uri, code_challenge=challenge,
                         code_challenge_method="S256", **extra)
    r = browser.authorize(params)
    if r.status_code == 303 and r.headers.get("Location") == stack.base_url + "/login":
        r = browser.login(r, username)
    if r.status_code == 303 and r.headers.get("Location") == stack.base_url + "/consent":
        r = browser.consent(r, consent or "allow")
    assert r.status_code in (302, 303), (r.status_code, r.text[:800])
    assert r.headers["Location"].startswith(redirect_uri), r.headers["Location"]
    params["code_verifier"] = verifier
    return params, r, response_params(r.headers["Location"])


def token_request(stack, data, *, basic=None, headers=None):
    h = dict(headers or {})
    if basic:
        cid, secret = basic
        from urllib.parse import quote
        raw = f"{quote(cid, safe='')}:{quote(secret, safe='')}".encode()
        h["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    with requests.Session() as s:
        s.trust_env = False
        return s.post(stack.base_url + "/token", data=data, headers=h, timeout=10)


def exchange(stack, code, params, client_id, secret=None, method="basic"):
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": params["redirect_uri"], "code_verifier": params["code_verifier"]}
    if method == "basic":
        return token_request(stack, data, basic=(client_id, secret))
    data["client_id"] = client_id
    if method == "post":
        data["client_secret"] = secret
    return token_request(stack, data)


def jwks(stack):
    with requests.Session() as s:
        s.trust_env = False
        return jwk.JWKSet.from_json(s.get(stack.base_url + "/jwks", timeout=10).text)


def verify_jwt(stack, token, typ=None):
    """Signature checked by jwcrypto against /jwks; returns (header, claims)."""
    keys = jwks(stack)
    t = jwt.JWT(jwt=token, key=keys, algs=["RS256", "ES256", "EdDSA"], check_claims=False)
    header = json.loads(t.header)
    claims = json.loads(t.claims)
    if typ:
        assert header.get("typ") == typ, header
    return header, claims


def b64url_sha256_half(value):
    """OpenID Connect Core §3.1.3.6 at_hash for RS256/ES256."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def userinfo(stack, access_token, method="GET"):
    with requests.Session() as s:
        s.trust_env = False
        if method == "GET":
            return s.get(stack.base_url + "/userinfo",
                         headers={"Authorization": f"Bearer {access_token}"}, timeout=10)
        return s.post(stack.base_url + "/userinfo", data={"access_token": access_token}, timeout=10)


def bearer_challenge(r):
    """The attributes of a Bearer WWW-Authenticate challenge."""
    value = r.headers.get("WWW-Authenticate", "")
    assert value.startswith("Bearer "), value
    return dict(re.findall(r'(\w+)="([^"]*)"', value))


def wait_for(what, predicate, timeout=15.0, step=0.05):
    """Polls predicate until it returns something true, and returns that;
    fails the test naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


def wait_second_after(t):
    """Waits until the wall clock's whole second is past t (epoch seconds):
    for what is stored in whole seconds (auth_time, iat, a revocation time)
    and must be seen as later than t. At most a second and a bit."""
    wait_for(f"the clock to pass second {t}", lambda: int(time.time()) > t, timeout=3)


def wait_mail_sent(stack, timeout=15.0):
    """Waits until flow-svc's outbox holds no email waiting for delivery:
    every message queued so far is in the SMTP sink, and none can still come."""
    wait_for("the outbox to deliver its email", lambda: psql_flow(
        stack, "SELECT count(*) FROM flow.outbox WHERE kind = 'email' AND status = 'pending'") == "0",
        timeout=timeout, step=0.1)


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def unfinished_form_post(base_url, path, headers, *, drip, timeout=90.0):
    """POST path over a raw socket with a form body the client never
    finishes (64000 bytes declared): with drip, one byte every 6 s until the
    gateway answers: each of its reads returns what came once nothing more
    arrives for OSTIARY_HTTP_HEADER_TIMEOUT_MS (5 s), and between reads the
    body's deadline (OSTIARY_HTTP_BODY_TIMEOUT_MS, 10 s) passes: 408.
    Without drip, three bytes and the end of the client's half (an
    incomplete body: 400). Returns the answer as a requests-like object
    (status_code, headers, text, url, request.method)."""
    import http.client
    import select
    import socket
    from types import SimpleNamespace

    from requests.structures import CaseInsensitiveDict

    parts = urlsplit(base_url)
    head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}",
            "Content-Type: application/x-www-form-urlencoded", "Content-Length: 64000"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\na=b").encode())
        if drip:
            deadline = time.monotonic() + timeout
            while not select.select([s], [], [], 6.0)[0]:
                assert time.monotonic() < deadline, "no answer to a body that never ends"
                s.sendall(b"x")
        else:
            s.shutdown(socket.SHUT_WR)
        resp = http.client.HTTPResponse(s)
        resp.begin()
        text = resp.read().decode("utf-8", "replace")
        return SimpleNamespace(status_code=resp.status, headers=CaseInsensitiveDict(resp.getheaders()),
                               text=text, url=base_url + path, request=SimpleNamespace(method="POST"),
                               json=lambda: json.loads(text))
