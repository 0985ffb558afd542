"""The HTTP client of scripts/deploy-test.sh: an OpenID Connect relying party
and a browser in one, speaking to the published ports of the compose stack.

The stack runs in production mode, so its issuer is an https URL; a real
deployment has a TLS proxy in front of the two gateways. Here the requests
for the issuer go to the gateways' published plain-HTTP ports instead,
alternately, and to the other gateway when one refuses the connection (as a
load balancer would); cookies and redirects still see the issuer's URL.

    client.py login STATE      code flow with PKCE, code exchange, ID token
                               checked against /jwks, refresh, revocation;
                               writes STATE (the client and a live refresh token)
    client.py serve STATE STOPFILE SECONDS_MAX
                               refreshes, then calls /userinfo, in a loop until
                               STOPFILE exists; exit 1 on any failed request
    client.py burst STATE N    N refreshes in a row; exit 1 on any failure

Environment: DEPLOY_ISSUER, DEPLOY_PORTS (comma-separated published ports),
DEPLOY_DRAIN_FILE (ports out of rotation, one a line, read at every request),
DEPLOY_CLIENT_ID, DEPLOY_CLIENT_SECRET, DEPLOY_REDIRECT_URI, DEPLOY_USERNAME,
DEPLOY_PASSWORD (login only)."""

import base64
import hashlib
import html
import json
import os
import secrets
import sys
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

ISSUER = os.environ["DEPLOY_ISSUER"].rstrip("/")
PORTS = [int(p) for p in os.environ["DEPLOY_PORTS"].split(",")]


def draining():
    """The ports taken out of rotation (DEPLOY_DRAIN_FILE, one per line): a
    gateway about to restart, as a load balancer is told before one stops."""
    path = os.environ.get("DEPLOY_DRAIN_FILE")
    try:
        with open(path) as f:
            return {int(line) for line in f if line.strip()}
    except (TypeError, OSError, ValueError):
        return set()


class Gateways(HTTPAdapter):
    """Sends the issuer's https requests to the gateways' plain ports in turn;
    a connection that could not be made (nothing sent) goes to the next."""

    def __init__(self):
        super().__init__(max_retries=0)
        self.turn = 0
        self.failovers = 0

    def send(self, request, **kw):
        rest = request.url[len(ISSUER):]
        last = None
        ports = [p for p in PORTS if p not in draining()] or PORTS
        for i in range(2 * len(ports)):
            port = ports[(self.turn + i) % len(ports)]
            request.url = f"http://127.0.0.1:{port}{rest}"
            try:
                r = super().send(request, **kw)
                self.turn = (self.turn + i + 1) % len(ports)
                return r
            except requests.ConnectionError as e:
                reason = e.args[0].reason if e.args and hasattr(e.args[0], "reason") else None
                if not isinstance(reason, (NewConnectionError, ConnectTimeoutError)):
                    raise
                last = e
                self.failovers += 1
                time.sleep(0.2)
            finally:
                request.url = ISSUER + rest
        raise last


def session():
    s = requests.Session()
    s.trust_env = False
    # A new connection for every request, as a load balancer that health-checks
    # its backends would make them: a gateway that drains closes its listening
    # socket (connections are then refused, and go to the other gateway) and
    # answers what it holds, but a kept-alive idle connection it closes can
    # race with a request the client is just sending on it.
    s.headers["Connection"] = "close"
    adapter = Gateways()
    s.mount(ISSUER + "/", adapter)
    s.gateways = adapter
    return s


class Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def submit(s, page, **fields):
    p = Forms()
    p.feed(page.text)
    form = p.forms[0]
    data = dict(form["fields"])
    data.update(fields)
    return s.post(html.unescape(form["action"]), data=data, allow_redirects=False, timeout=(3, 30))


def check(cond, what, r=None):
    if not cond:
        detail = f" (HTTP {r.status_code}: {r.text[:300]})" if r is not None else ""
        raise SystemExit(f"client: {what}{detail}")


def client_auth():
    return (os.environ["DEPLOY_CLIENT_ID"], os.environ["DEPLOY_CLIENT_SECRET"])


def token(s, data):
    return s.post(ISSUER + "/token", data=data, auth=client_auth(), timeout=(3, 30))


def cmd_login(state_path):
    s = session()
    client_id, _ = client_auth()
    redirect_uri = os.environ["DEPLOY_REDIRECT_URI"]
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    r = s.get(ISSUER + "/authorize", allow_redirects=False, timeout=(3, 30), params={
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": "openid profile offline_access", "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "consent"})
    check(r.status_code == 303 and r.headers.get("Location") == ISSUER + "/login", "authorize did not ask for a login", r)
    page = s.get(ISSUER + "/login", allow_redirects=False, timeout=(3, 30))
    check(page.status_code == 200, "no login page", page)
    r = submit(s, page, username=os.environ["DEPLOY_USERNAME"], password=os.environ["DEPLOY_PASSWORD"])
    if r.status_code == 303 and r.headers.get("Location") == ISSUER + "/consent":
        page = s.get(ISSUER + "/consent", allow_redirects=False, timeout=(3, 30))
        check(page.status_code == 200, "no consent page", page)
        r = submit(s, page, decision="allow")
    check(r.status_code in (302, 303) and r.headers.get("Location", "").startswith(redirect_uri),
          "the login did not end at the redirect URI", r)
    params = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}
    check(params.get("state") == state and "code" in params, f"authorization response {params}")
    print("client: logged in through /authorize, /login and /consent; code received")

    r = token(s, {"grant_type": "authorization_code", "code": params["code"],
                  "redirect_uri": redirect_uri, "code_verifier": verifier})
    check(r.status_code == 200, "code exchange failed", r)
    tokens = r.json()
    check({"access_token", "id_token", "refresh_token"} <= tokens.keys(), f"token response {sorted(tokens)}")
    from jwcrypto import jwk, jwt
    keys = jwk.JWKSet.from_json(s.get(ISSUER + "/jwks", timeout=(3, 30)).text)
    claims = json.loads(jwt.JWT(jwt=tokens["id_token"], key=keys, algs=["RS256", "ES256", "EdDSA"]).claims)
    check(claims["iss"] == ISSUER and claims["aud"] in (client_id, [client_id]) and claims["nonce"] == nonce,
          f"ID token claims {claims}")
    print(f"client: code exchanged; ID token verified against /jwks (iss {claims['iss']}, sub {claims['sub']})")

    r = s.get(ISSUER + "/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}, timeout=(3, 30))
    check(r.status_code == 200 and r.json().get("sub") == claims["sub"], "userinfo failed", r)
    r = token(s, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    check(r.status_code == 200, "refresh failed", r)
    refreshed = r.json()
    check(refreshed["refresh_token"] != tokens["refresh_token"], "the refresh token was not rotated")
    print("client: refreshed (a new access token and a rotated refresh token); userinfo answered")

    r = s.post(ISSUER + "/revoke", data={"token": refreshed["refresh_token"], "token_type_hint": "refresh_token"},
               auth=client_auth(), timeout=(3, 30))
    check(r.status_code == 200, "revocation failed", r)
    r = token(s, {"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]})
    check(r.status_code == 400 and r.json().get("error") == "invalid_grant",
          "a revoked refresh token was accepted", r)
    print("client: revoked the refresh token; using it again gives invalid_grant")

    # A second login from the same browser (the session cookie skips the
    # password) leaves a live refresh token for the next steps.
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    r = s.get(ISSUER + "/authorize", allow_redirects=False, timeout=(3, 30), params={
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": "openid profile offline_access", "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "consent"})
    if r.status_code == 303 and r.headers.get("Location") == ISSUER + "/login":
        page = s.get(ISSUER + "/login", allow_redirects=False, timeout=(3, 30))
        r = submit(s, page, username=os.environ["DEPLOY_USERNAME"], password=os.environ["DEPLOY_PASSWORD"])
    if r.status_code == 303 and r.headers.get("Location") == ISSUER + "/consent":
        page = s.get(ISSUER + "/consent", allow_redirects=False, timeout=(3, 30))
        r = submit(s, page, decision="allow")
    check(r.status_code in (302, 303) and r.headers.get("Location", "").startswith(redirect_uri),
          "the second login failed", r)
    params = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}
    r = token(s, {"grant_type": "authorization_code", "code": params["code"],
                  "redirect_uri": redirect_uri, "code_verifier": verifier})
    check(r.status_code == 200, "the second code exchange failed", r)
    with open(state_path, "w") as f:
        json.dump({"refresh_token": r.json()["refresh_token"]}, f)


def refresh_once(s, st, counts):
    """One refresh and one /userinfo; the failure's description, or None."""
    try:
        r = token(s, {"grant_type": "refresh_token", "refresh_token": st["refresh_token"]})
    except requests.RequestException as e:
        return f"refresh: {type(e).__name__}: {e}"
    if r.status_code != 200:
        return f"refresh: HTTP {r.status_code} {r.text[:200]}"
    body = r.json()
    st["refresh_token"] = body["refresh_token"]
    counts["refresh"] += 1
    try:
        r = s.get(ISSUER + "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}, timeout=(3, 30))
    except requests.RequestException as e:
        return f"userinfo: {type(e).__name__}: {e}"
    if r.status_code != 200:
        return f"userinfo: HTTP {r.status_code} {r.text[:200]}"
    counts["userinfo"] += 1
    return None


def run_loop(state_path, until):
    with open(state_path) as f:
        st = json.load(f)
    s = session()
    counts = {"refresh": 0, "userinfo": 0}
    failures = []
    start = time.monotonic()
    slowest = 0.0
    while not until(counts):
        t0 = time.monotonic()
        why = refresh_once(s, st, counts)
        slowest = max(slowest, time.monotonic() - t0)
        if why:
            failures.append(f"{time.monotonic() - start:.1f}s {why}")
            print("client: FAILED " + failures[-1], flush=True)
            # The refresh token may have been rotated by a request whose
            # answer was lost: nothing more to refresh with.
            if "refresh:" in why:
                break
    with open(state_path, "w") as f:
        json.dump(st, f)
    print(f"client: {counts['refresh']} refreshes and {counts['userinfo']} userinfo calls in "
          f"{time.monotonic() - start:.1f} s, {len(failures)} failed, slowest pair {slowest:.2f} s, "
          f"{s.gateways.failovers} connection(s) moved to the other gateway", flush=True)
    return 1 if failures else 0


def cmd_serve(state_path, stopfile, seconds_max):
    deadline = time.monotonic() + float(seconds_max)
    return run_loop(state_path, lambda c: os.path.exists(stopfile) or time.monotonic() > deadline)


def cmd_burst(state_path, n):
    return run_loop(state_path, lambda c: c["refresh"] >= int(n))


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "login":
        cmd_login(*args)
        sys.exit(0)
    sys.exit({"serve": cmd_serve, "burst": cmd_burst}[cmd](*args))
